//! The MSR lists: VM-entry MSR-load (SDM 27.4 "Loading MSRs"), VM-exit MSR-store (28.4
//! "Saving MSRs") and VM-exit MSR-load (28.6 "Loading MSRs"). Each entry is 16 bytes: bits 31:0
//! MSR index, 63:32 reserved (0), 127:64 data (SDM 25.7.2, table "Format of an MSR Entry").
//! Entries are processed in order through the core's RDMSR/WRMSR (so a value WRMSR would
//! refuse with #GP fails the entry).

use hvbench_cpu::Exec;
use hvbench_mmu::PhysAddr;

/// IA32_FS_BASE and IA32_GS_BASE may not be loaded from a list (27.4).
const FS_BASE: u32 = 0xc000_0100;
const GS_BASE: u32 = 0xc000_0101;
/// IA32_SMM_MONITOR_CTL: writable only in SMM (27.4).
const SMM_MONITOR_CTL: u32 = 0x9b;
/// IA32_SMBASE: may not be stored (28.4).
const SMBASE: u32 = 0x9e;

fn x2apic(msr: u32) -> bool {
    msr >> 8 == 0x8
}

/// Loads `count` entries at `addr`. `Err(i)`: entry `i` (1-based) failed.
pub(crate) fn load(x: &mut Exec<'_>, addr: u64, count: u64) -> Result<(), u64> {
    for i in 0..count {
        let e = addr.wrapping_add(16 * i);
        let head = x.read_phys(PhysAddr(e), 8);
        let data = x.read_phys(PhysAddr(e.wrapping_add(8)), 8);
        let msr = head as u32;
        let bad = msr == FS_BASE || msr == GS_BASE || msr == SMM_MONITOR_CTL || x2apic(msr) || head >> 32 != 0;
        if bad || x.write_msr(msr, data).is_err() {
            return Err(i + 1);
        }
    }
    Ok(())
}

/// Stores `count` entries' MSR values at `addr` (the data half of each entry). `Err(i)`: entry
/// `i` (1-based) failed.
pub(crate) fn store(x: &mut Exec<'_>, addr: u64, count: u64) -> Result<(), u64> {
    for i in 0..count {
        let e = addr.wrapping_add(16 * i);
        let head = x.read_phys(PhysAddr(e), 8);
        let msr = head as u32;
        if msr == SMBASE || x2apic(msr) || head >> 32 != 0 {
            return Err(i + 1);
        }
        match x.read_msr(msr) {
            Ok(v) => x.write_phys(PhysAddr(e.wrapping_add(8)), 8, v),
            Err(_) => return Err(i + 1),
        }
    }
    Ok(())
}
