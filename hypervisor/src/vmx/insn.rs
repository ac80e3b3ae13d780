//! The VMX instructions (SDM Vol. 3C 31.3 "VMX Instructions"): VMXON, VMXOFF, VMCLEAR,
//! VMPTRLD, VMREAD, VMWRITE, INVEPT. Their outcome follows 31.2 "Conventions": VMsucceed
//! (CF = ZF = 0), VMfailInvalid (CF = 1: no current VMCS), VMfailValid (ZF = 1: the error
//! number is in the VM-instruction error field, Table 31-1).

use crate::platform::addr::HostPhys;
use core::arch::asm;

/// A VMX instruction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmFail {
    /// VMfailInvalid (CF = 1).
    Invalid,
    /// VMfailValid (ZF = 1) with the VM-instruction error number (SDM Table 31-1).
    Valid(u32),
}

/// The outcome of a VMX instruction from the CF and ZF it left.
fn outcome(cf: u8, zf: u8) -> Result<(), VmFail> {
    if cf != 0 {
        Err(VmFail::Invalid)
    } else if zf != 0 {
        // VM-instruction error field (B.3.2), read directly so this does not recurse.
        let mut err = 0u64;
        // SAFETY: VMREAD of a read-only field of the current VMCS into a register.
        unsafe { asm!("vmread {}, {}", out(reg) err, in(reg) 0x4400u64, options(nostack)) };
        Err(VmFail::Valid(err as u32))
    } else {
        Ok(())
    }
}

macro_rules! with_phys_operand {
    ($insn:literal, $addr:expr) => {{
        let a: u64 = $addr.0;
        let (cf, zf): (u8, u8);
        // SAFETY: the operand is a 64-bit physical address in memory; the instruction reads it.
        unsafe { asm!(concat!($insn, " qword ptr [{a}]"), "setc {cf}", "setz {zf}", a = in(reg) &raw const a, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack)) };
        outcome(cf, zf)
    }};
}

/// VMXON with the VMXON region at `region` (4-KiB aligned, revision identifier written).
pub fn vmxon(region: HostPhys) -> Result<(), VmFail> {
    with_phys_operand!("vmxon", region)
}

/// VMCLEAR.
pub fn vmclear(vmcs: HostPhys) -> Result<(), VmFail> {
    with_phys_operand!("vmclear", vmcs)
}

/// VMPTRLD.
pub fn vmptrld(vmcs: HostPhys) -> Result<(), VmFail> {
    with_phys_operand!("vmptrld", vmcs)
}

/// VMXOFF.
pub fn vmxoff() -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: leaves VMX operation; no memory operands.
    unsafe { asm!("vmxoff", "setc {cf}", "setz {zf}", cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack)) };
    outcome(cf, zf)
}

/// VMREAD of the field with encoding `enc`.
pub fn vmread(enc: u32) -> Result<u64, VmFail> {
    let v: u64;
    let (cf, zf): (u8, u8);
    // SAFETY: register operands only.
    unsafe { asm!("vmread {v}, {e}", "setc {cf}", "setz {zf}", v = out(reg) v, e = in(reg) enc as u64, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack)) };
    outcome(cf, zf).map(|()| v)
}

/// VMWRITE of `v` into the field with encoding `enc`.
pub fn vmwrite(enc: u32, v: u64) -> Result<(), VmFail> {
    let (cf, zf): (u8, u8);
    // SAFETY: register operands only; what the VMCS fields point to is the caller's design.
    unsafe { asm!("vmwrite {e}, {v}", "setc {cf}", "setz {zf}", v = in(reg) v, e = in(reg) enc as u64, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack)) };
    outcome(cf, zf)
}

/// INVEPT type 1 (single-context): invalidates mappings derived from `eptp` (31.3 INVEPT).
pub fn invept_single(eptp: u64) -> Result<(), VmFail> {
    let desc: [u64; 2] = [eptp, 0];
    let (cf, zf): (u8, u8);
    // SAFETY: the descriptor is a 128-bit memory operand; the type is in a register.
    unsafe { asm!("invept {t}, [{d}]", "setc {cf}", "setz {zf}", t = in(reg) 1u64, d = in(reg) &raw const desc, cf = out(reg_byte) cf, zf = out(reg_byte) zf, options(nostack)) };
    outcome(cf, zf)
}
