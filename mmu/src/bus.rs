//! The device side of the machine: port I/O and MMIO, behind one interface.
//!
//! The CPU sends every access that is not RAM here (physical memory beyond RAM, the APIC
//! page, the IOAPIC, firmware ranges) and every IN/OUT. A device never reaches into a vCPU:
//! what it has to say to a CPU (an interrupt) it says through [`Bus::pending_interrupt`] and
//! [`Bus::acknowledge_interrupt`], which the CPU polls at instruction boundaries.

use crate::addr::PhysAddr;

/// Which vCPU makes an access (the local APIC and IPIs depend on it).
pub type CpuIndex = usize;

/// Port I/O and MMIO dispatch, implemented by the machine.
pub trait Bus {
    /// IN of `size` bytes (1, 2 or 4) from `port`. Unclaimed ports read all ones.
    fn io_read(&mut self, cpu: CpuIndex, port: u16, size: u8) -> u32;
    /// OUT of `size` bytes (1, 2 or 4) to `port`. Unclaimed ports ignore the write.
    fn io_write(&mut self, cpu: CpuIndex, port: u16, size: u8, value: u32);
    /// A read of `size` bytes (1, 2, 4 or 8) from a physical address that is not RAM.
    /// Unclaimed addresses read all ones.
    fn mmio_read(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8) -> u64;
    /// A write of `size` bytes to a physical address that is not RAM.
    fn mmio_write(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8, value: u64);
    /// Whether a maskable external interrupt is pending for `cpu` (INTR line asserted).
    fn pending_interrupt(&mut self, _cpu: CpuIndex) -> bool {
        false
    }
    /// Acknowledges the pending maskable interrupt for `cpu` and returns its vector
    /// (the INTA cycle). Only called after `pending_interrupt` returned true.
    fn acknowledge_interrupt(&mut self, _cpu: CpuIndex) -> u8 {
        0xff
    }
    /// Whether an NMI is pending for `cpu`.
    fn pending_nmi(&mut self, _cpu: CpuIndex) -> bool {
        false
    }
    /// Consumes the pending NMI for `cpu` (the CPU is delivering it).
    fn acknowledge_nmi(&mut self, _cpu: CpuIndex) {}
    /// Tells the bus where `cpu`'s clock stands: `cycles` of virtual time and the
    /// time-stamp counter `tsc`. The CPU calls it before every access it forwards (port I/O,
    /// MMIO, MSRs, CR8), so that timers (the local APIC's, TSC deadline) see the vCPU's own
    /// time. Never goes backwards for one `cpu`.
    fn set_clock(&mut self, _cpu: CpuIndex, _cycles: u64, _tsc: u64) {}
    /// RDMSR of an MSR the bus may implement (the local APIC's x2APIC registers
    /// 0x800-0x8FF, IA32_TSC_DEADLINE). `NotClaimed` leaves it to the CPU.
    fn msr_read(&mut self, _cpu: CpuIndex, _msr: u32) -> MsrAccess {
        MsrAccess::NotClaimed
    }
    /// WRMSR of an MSR the bus may implement; `Done(_)` when taken, `Fault` for #GP(0).
    fn msr_write(&mut self, _cpu: CpuIndex, _msr: u32, _value: u64) -> MsrAccess {
        MsrAccess::NotClaimed
    }
    /// A WRMSR to IA32_APIC_BASE that passed the CPU's reserved-bit checks; `false` refuses
    /// it with #GP(0) (an invalid xAPIC/x2APIC mode transition). The CPU keeps the value.
    fn apic_base_write(&mut self, _cpu: CpuIndex, _old: u64, _new: u64) -> bool {
        true
    }
    /// CR8 for `cpu`: the task-priority class TPR[7:4] of its local APIC, or `None` when the
    /// bus has no APIC (the CPU then keeps CR8 itself).
    fn cr8_read(&mut self, _cpu: CpuIndex) -> Option<u64> {
        None
    }
    /// MOV to CR8 (already checked to be 0-15): sets TPR[7:4] = `value`, TPR[3:0] = 0.
    fn cr8_write(&mut self, _cpu: CpuIndex, _value: u64) {}
}

/// The bus's answer to an MSR access the CPU forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsrAccess {
    /// Not a bus MSR: the CPU handles it (or raises #GP if it has no such MSR).
    NotClaimed,
    /// Done: the value read (0 for a write).
    Done(u64),
    /// The access raises #GP(0).
    Fault,
}

/// A bus with nothing on it: ports and MMIO read all ones, writes vanish. For tests.
#[derive(Debug, Default, Clone, Copy)]
pub struct EmptyBus;

impl Bus for EmptyBus {
    fn io_read(&mut self, _: CpuIndex, _: u16, size: u8) -> u32 {
        ones(size) as u32
    }
    fn io_write(&mut self, _: CpuIndex, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: CpuIndex, _: PhysAddr, size: u8) -> u64 {
        ones(size)
    }
    fn mmio_write(&mut self, _: CpuIndex, _: PhysAddr, _: u8, _: u64) {}
}

/// All ones in the low `size` bytes.
pub const fn ones(size: u8) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (size as u32 * 8)) - 1 }
}
