//! Privileged instructions as functions: port I/O, MSRs, control registers, descriptor
//! tables (Intel SDM Vol. 2: IN, OUT, RDMSR, WRMSR, MOV CR, SGDT, SIDT, STR, LTR).

use core::arch::asm;

/// IA32_FEATURE_CONTROL (SDM Vol. 4, Table 2-2).
pub const IA32_FEATURE_CONTROL: u32 = 0x3A;
/// IA32_EFER.
pub const IA32_EFER: u32 = 0xC000_0080;

/// Writes a byte to an I/O port.
pub fn outb(port: u16, v: u8) {
    // SAFETY: port output has no memory effects; the ports written are the platform's.
    unsafe { asm!("out dx, al", in("dx") port, in("al") v, options(nomem, nostack, preserves_flags)) }
}

/// Writes a doubleword to an I/O port.
pub fn outl(port: u16, v: u32) {
    // SAFETY: as for `outb`.
    unsafe { asm!("out dx, eax", in("dx") port, in("eax") v, options(nomem, nostack, preserves_flags)) }
}

/// Reads a byte from an I/O port.
pub fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: port input has no memory effects.
    unsafe { asm!("in al, dx", in("dx") port, out("al") v, options(nomem, nostack, preserves_flags)) }
    v
}

/// RDMSR. The caller names an MSR that exists (else #GP, which the kernel does not handle).
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading an architectural MSR has no memory effects.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) }
    (hi as u64) << 32 | lo as u64
}

/// WRMSR.
///
/// # Safety
/// The value must be valid for the MSR and not break the kernel's own execution.
pub unsafe fn wrmsr(msr: u32, v: u64) {
    // SAFETY: the caller's contract.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nostack, preserves_flags)) }
}

/// Reads CR0.
pub fn cr0() -> u64 {
    let v: u64;
    // SAFETY: reading CR0 has no side effects.
    unsafe { asm!("mov {}, cr0", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Writes CR0.
///
/// # Safety
/// The value must keep the kernel running (PE, PG, paging structures unchanged).
pub unsafe fn set_cr0(v: u64) {
    // SAFETY: the caller's contract.
    unsafe { asm!("mov cr0, {}", in(reg) v, options(nostack, preserves_flags)) }
}

/// Reads CR3.
pub fn cr3() -> u64 {
    let v: u64;
    // SAFETY: reading CR3 has no side effects.
    unsafe { asm!("mov {}, cr3", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Reads CR4.
pub fn cr4() -> u64 {
    let v: u64;
    // SAFETY: reading CR4 has no side effects.
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) }
    v
}

/// Writes CR4.
///
/// # Safety
/// The value must keep the kernel running (PAE stays set in IA-32e mode).
pub unsafe fn set_cr4(v: u64) {
    // SAFETY: the caller's contract.
    unsafe { asm!("mov cr4, {}", in(reg) v, options(nostack, preserves_flags)) }
}

/// A descriptor-table register image (SGDT/SIDT layout).
#[derive(Debug, Clone, Copy)]
pub struct TableReg {
    /// Limit.
    pub limit: u16,
    /// Linear base address.
    pub base: u64,
}

#[repr(C, packed)]
struct RawTableReg {
    limit: u16,
    base: u64,
}

/// SGDT.
pub fn sgdt() -> TableReg {
    let mut r = RawTableReg { limit: 0, base: 0 };
    // SAFETY: SGDT writes 10 bytes into `r`.
    unsafe { asm!("sgdt [{}]", in(reg) &raw mut r, options(nostack, preserves_flags)) }
    TableReg { limit: r.limit, base: r.base }
}

/// SIDT.
pub fn sidt() -> TableReg {
    let mut r = RawTableReg { limit: 0, base: 0 };
    // SAFETY: SIDT writes 10 bytes into `r`.
    unsafe { asm!("sidt [{}]", in(reg) &raw mut r, options(nostack, preserves_flags)) }
    TableReg { limit: r.limit, base: r.base }
}

/// LIDT.
///
/// # Safety
/// `base` must point to an IDT of `limit + 1` bytes that stays valid while loaded.
pub unsafe fn lidt(base: u64, limit: u16) {
    let r = RawTableReg { limit, base };
    // SAFETY: the caller's contract.
    unsafe { asm!("lidt [{}]", in(reg) &raw const r, options(readonly, nostack, preserves_flags)) }
}

/// CPUID (leaf, subleaf) -> (EAX, EBX, ECX, EDX).
pub fn cpuid(leaf: u32, sub: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid_count(leaf, sub);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// Halts forever with interrupts disabled.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: CLI; HLT only stops this processor.
        unsafe { asm!("cli; hlt", options(nomem, nostack)) }
    }
}
