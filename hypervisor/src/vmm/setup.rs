//! Building the VMCS for the guest (SDM Vol. 3C chapter 25 for the fields; chapter 27 "VM
//! Entries" for the rules they must satisfy: 27.2 controls and host state, 27.3 guest state).
//!
//! Host state is this kernel's own (27.2.3: CS and TR selectors nonzero, RPL/TI of every
//! selector 0; bases canonical). The guest is a 64-bit guest at CPL 0 on the same page tables
//! and GDT, with EPT translating guest-physical addresses 1:1 (except the probe page), VPID 1,
//! HLT exiting, I/O bitmaps that trap one port, MSR bitmaps that trap a read of one MSR and a
//! write of another, an exception bitmap that traps #UD and #BP, and CR4.VMXE owned by the
//! host (guest/host mask).

use super::{CONSOLE_PORT, GUEST_VPID, MSR_READ_TRAPPED, MSR_WRITE_TRAPPED, TRAPPED_VECTORS};
use crate::boot::{CODE_SELECTOR, DATA_SELECTOR, TSS_SELECTOR};
use crate::platform::addr::{GuestPhys, HostPhys};
use crate::platform::cpu;
use crate::platform::frames::{self, OutOfFrames};
use crate::platform::gdt::{TSS_SIZE, tss_base};
use crate::vmx::caps::{Caps, Unsupported, fix_cr0, fix_cr4};
use crate::vmx::controls::*;
use crate::vmx::ept::{Ept, EptError, RW, RWX, SIZE_2M};
use crate::vmx::fields::{control, guest, host};
use crate::vmx::insn::VmFail;
use crate::vmx::run;

/// What can go wrong while building the VMCS.
#[derive(Debug, Clone, Copy)]
pub enum SetupError {
    /// A control the hypervisor needs is not allowed (Appendix A).
    Unsupported(Unsupported),
    /// An EPT capability the hypervisor needs is missing (A.10): the missing bits.
    EptCaps(u64),
    /// The EPT could not be built.
    Ept(EptError),
    /// VMWRITE failed: the field encoding and the failure.
    Write(u32, VmFail),
}

impl From<Unsupported> for SetupError {
    fn from(u: Unsupported) -> Self {
        Self::Unsupported(u)
    }
}
impl From<EptError> for SetupError {
    fn from(e: EptError) -> Self {
        Self::Ept(e)
    }
}
impl From<OutOfFrames> for SetupError {
    fn from(_: OutOfFrames) -> Self {
        Self::Ept(EptError::OutOfFrames)
    }
}

/// Where the guest starts and what it may touch.
#[derive(Debug, Clone, Copy)]
pub struct GuestSpec {
    /// First instruction.
    pub rip: u64,
    /// Initial stack pointer.
    pub rsp: u64,
    /// The page left out of the EPT (the first access to it exits).
    pub probe: GuestPhys,
    /// A page mapped read/write but not executable (the first fetch from it exits).
    pub exec_probe: GuestPhys,
    /// Guest-physical memory identity-mapped by EPT: [0, ram).
    pub ram: u64,
}

/// What setup produced and the exit handlers need.
#[derive(Debug)]
pub struct Built {
    /// The EPT (to map the probe page later).
    pub ept: Ept,
}

macro_rules! w {
    ($field:expr, $v:expr) => {
        $field.write($v).map_err(|e| SetupError::Write($field.encoding(), e))?
    };
}

/// Access rights (25.4.1 Table 25-2 format, the descriptor's bits 47:40 and 55:52): 64-bit
/// code, accessed, present, G, L.
const AR_CODE64: u32 = 0xA09B;
/// Read/write data, accessed, present, G, D/B.
const AR_DATA: u32 = 0xC093;
/// Busy 64-bit TSS, present.
const AR_TSS_BUSY: u32 = 0x8B;
/// "Segment unusable" (bit 16).
const AR_UNUSABLE: u32 = 1 << 16;
/// RFLAGS bit 1 is always 1.
const RFLAGS_FIXED: u64 = 1 << 1;
/// DR7's value after reset.
const DR7_INIT: u64 = 0x400;
/// CR4.VMXE.
const CR4_VMXE: u64 = 1 << 13;

/// Writes every control, host-state and guest-state field the guest needs into the current
/// VMCS and builds the EPT and the bitmaps.
pub fn build(caps: &Caps, spec: &GuestSpec) -> Result<Built, SetupError> {
    controls(caps)?;
    let ept = ept(caps, spec)?;
    w!(control::EPTP, ept.eptp());
    w!(control::VPID, GUEST_VPID);
    bitmaps()?;
    host_state()?;
    guest_state(spec)?;
    Ok(Built { ept })
}

/// 25.6 / 25.7 / 25.8: the control fields, each adjusted by its capability MSR.
fn controls(caps: &Caps) -> Result<(), SetupError> {
    w!(control::PIN_BASED, caps.pin.adjust("pin-based", 0)?);
    w!(control::PROC_BASED, caps.proc.adjust("primary processor-based", PROC_HLT_EXITING | PROC_USE_IO_BITMAPS | PROC_USE_MSR_BITMAPS | PROC_SECONDARY)?);
    w!(control::PROC_BASED2, caps.proc2.adjust("secondary processor-based", PROC2_ENABLE_EPT | PROC2_ENABLE_VPID)?);
    w!(control::EXIT_CONTROLS, caps.exit.adjust("VM-exit", EXIT_HOST_64)?);
    w!(control::ENTRY_CONTROLS, caps.entry.adjust("VM-entry", ENTRY_IA32E_GUEST)?);
    w!(control::EXCEPTION_BITMAP, TRAPPED_VECTORS.iter().fold(0u32, |m, v| m | 1 << v));
    w!(control::PF_ERROR_MASK, 0);
    w!(control::PF_ERROR_MATCH, 0);
    w!(control::CR3_TARGET_COUNT, 0);
    w!(control::EXIT_MSR_STORE_COUNT, 0);
    w!(control::EXIT_MSR_LOAD_COUNT, 0);
    w!(control::ENTRY_MSR_LOAD_COUNT, 0);
    w!(control::ENTRY_INTERRUPTION_INFO, 0);
    // CR4.VMXE belongs to the host: the guest sees it clear (25.6.6 guest/host masks).
    w!(control::CR0_MASK, 0);
    w!(control::CR4_MASK, CR4_VMXE);
    w!(control::CR4_SHADOW, cpu::cr4() & !CR4_VMXE);
    Ok(())
}

/// The EPT: [0, ram) identity-mapped read/write/execute, 2-MiB pages except the 2 MiB around
/// the probe pages, which has 4-KiB pages, leaves the probe page out and maps the execute
/// probe page without execute permission. Both probes must lie in that 2 MiB.
fn ept(caps: &Caps, spec: &GuestSpec) -> Result<Ept, SetupError> {
    let missing = crate::vmx::caps::EPT_NEEDED & !caps.ept_vpid;
    if missing != 0 {
        return Err(SetupError::EptCaps(missing));
    }
    let mut ept = Ept::new()?;
    let hole_2m = spec.probe.0 & !(SIZE_2M - 1);
    let mut gpa = 0;
    while gpa < spec.ram {
        if gpa == hole_2m {
            let mut page = gpa;
            while page < gpa + SIZE_2M {
                if page != spec.probe.0 {
                    let perms = if page == spec.exec_probe.0 { RW } else { RWX };
                    ept.map_4k(GuestPhys(page), HostPhys(page), perms)?;
                }
                page += 4096;
            }
        } else {
            ept.map_2m(GuestPhys(gpa), HostPhys(gpa), RWX)?;
        }
        gpa += SIZE_2M;
    }
    Ok(ept)
}

/// 25.6.4 I/O bitmaps (A: ports 0-7FFFH, B: 8000H-FFFFH, one bit per port) and 25.6.9 MSR
/// bitmaps (one 4-KiB page: read low 0-1FFFH at 0, read high C0000000H-C0001FFFH at 1024,
/// write low at 2048, write high at 3072).
fn bitmaps() -> Result<(), SetupError> {
    let (io_a, io_b, msr) = (frames::alloc()?, frames::alloc()?, frames::alloc()?);
    set_bit(io_a, CONSOLE_PORT as u32);
    set_bit(msr, msr_bit(MSR_READ_TRAPPED, 0));
    set_bit(msr, msr_bit(MSR_WRITE_TRAPPED, 2048));
    w!(control::IO_BITMAP_A, io_a.0);
    w!(control::IO_BITMAP_B, io_b.0);
    w!(control::MSR_BITMAP, msr.0);
    Ok(())
}

/// The bit for `msr` in the MSR bitmap, counting from the area at byte `area` (0 = reads,
/// 2048 = writes); the high range lives 1024 bytes further.
fn msr_bit(msr: u32, area: u32) -> u32 {
    let (base, index) = if msr >= 0xC000_0000 { (area + 1024, msr - 0xC000_0000) } else { (area, msr) };
    base * 8 + (index & 0x1FFF)
}

fn set_bit(page: HostPhys, bit: u32) {
    let byte = (bit / 8) as usize % 4096;
    // SAFETY: `page` is a 4-KiB pool frame owned by the VMCS; `byte` < 4096.
    unsafe { *page.as_mut_ptr::<u8>().add(byte) |= 1 << (bit % 8) };
}

/// 25.5 host-state area: this kernel as it runs now.
fn host_state() -> Result<(), SetupError> {
    w!(host::CR0, cpu::cr0());
    w!(host::CR3, cpu::cr3());
    w!(host::CR4, cpu::cr4());
    w!(host::CS, CODE_SELECTOR);
    for f in [host::SS, host::DS, host::ES] {
        w!(f, DATA_SELECTOR);
    }
    w!(host::FS, 0);
    w!(host::GS, 0);
    w!(host::TR, TSS_SELECTOR);
    w!(host::FS_BASE, 0);
    w!(host::GS_BASE, 0);
    w!(host::TR_BASE, tss_base());
    w!(host::GDTR_BASE, cpu::sgdt().base);
    w!(host::IDTR_BASE, cpu::sidt().base);
    w!(host::SYSENTER_CS, 0);
    w!(host::SYSENTER_ESP, 0);
    w!(host::SYSENTER_EIP, 0);
    w!(host::RIP, run::exit_entry());
    Ok(())
}

/// 25.4 guest-state area: 64-bit mode, CPL 0, flat segments from the kernel's GDT, interrupts
/// disabled, active, nothing blocking.
fn guest_state(spec: &GuestSpec) -> Result<(), SetupError> {
    w!(guest::CR0, fix_cr0(cpu::cr0()));
    w!(guest::CR3, cpu::cr3());
    w!(guest::CR4, fix_cr4(cpu::cr4()));
    w!(guest::DR7, DR7_INIT);
    // ES, CS, SS, DS, FS, GS, LDTR, TR.
    let segs: [(u16, u32, u32, u64); 8] = [
        (DATA_SELECTOR, 0xFFFF_FFFF, AR_DATA, 0),
        (CODE_SELECTOR, 0xFFFF_FFFF, AR_CODE64, 0),
        (DATA_SELECTOR, 0xFFFF_FFFF, AR_DATA, 0),
        (DATA_SELECTOR, 0xFFFF_FFFF, AR_DATA, 0),
        (DATA_SELECTOR, 0xFFFF_FFFF, AR_DATA, 0),
        (DATA_SELECTOR, 0xFFFF_FFFF, AR_DATA, 0),
        (0, 0, AR_UNUSABLE, 0),
        (TSS_SELECTOR, (TSS_SIZE - 1) as u32, AR_TSS_BUSY, tss_base()),
    ];
    for (i, (sel, limit, ar, base)) in segs.into_iter().enumerate() {
        w!(guest::SELECTORS[i], sel);
        w!(guest::LIMITS[i], limit);
        w!(guest::ACCESS[i], ar);
        w!(guest::BASES[i], base);
    }
    let gdt = cpu::sgdt();
    w!(guest::GDTR_BASE, gdt.base);
    w!(guest::GDTR_LIMIT, gdt.limit as u32);
    // The guest loads its own IDT first thing.
    w!(guest::IDTR_BASE, 0);
    w!(guest::IDTR_LIMIT, 0);
    w!(guest::RSP, spec.rsp);
    w!(guest::RIP, spec.rip);
    w!(guest::RFLAGS, RFLAGS_FIXED);
    w!(guest::DEBUGCTL, 0);
    w!(guest::SYSENTER_CS, 0);
    w!(guest::SYSENTER_ESP, 0);
    w!(guest::SYSENTER_EIP, 0);
    w!(guest::INTERRUPTIBILITY, 0);
    w!(guest::ACTIVITY, 0);
    w!(guest::PENDING_DEBUG, 0);
    // 25.4.2: FFFFFFFF_FFFFFFFFH when VMCS shadowing is not used.
    w!(guest::VMCS_LINK, u64::MAX);
    Ok(())
}
