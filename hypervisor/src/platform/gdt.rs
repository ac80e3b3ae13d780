//! The TSS and its GDT descriptor (Intel SDM Vol. 3A 9.7 "Task Management in 64-bit Mode",
//! Figure 9-11 "64-Bit TSS Format", 9.2.3 "TSS Descriptor in 64-bit mode"). VMX needs a
//! usable TR: VM exits load TR from the host-state area, and the host TR selector may not be
//! 0 (SDM Vol. 3C 27.2.3). The GDT itself is the boot code's.

use crate::boot::TSS_SELECTOR;
use core::cell::UnsafeCell;

/// The 64-bit TSS (104 bytes; no I/O permission bitmap: its offset points past the limit).
#[repr(C, align(16))]
pub struct Tss(UnsafeCell<[u8; TSS_SIZE]>);

// SAFETY: only the processor reads it after `load_tss`.
unsafe impl Sync for Tss {}

/// Size of a 64-bit TSS.
pub const TSS_SIZE: usize = 104;
/// Access rights of an available/busy 64-bit TSS (type 9 / 11), present, DPL 0.
pub const TSS_AVAILABLE: u8 = 0x89;

static TSS: Tss = Tss(UnsafeCell::new([0; TSS_SIZE]));

unsafe extern "C" {
    static mut GDT: [u64; 5];
}

/// The TSS's linear address.
pub fn tss_base() -> u64 {
    TSS.0.get() as usize as u64
}

/// Fills the GDT's TSS descriptor and loads TR.
pub fn load_tss() {
    let base = tss_base();
    // I/O map base (offset 102) = size: no I/O permission bitmap.
    // SAFETY: the TSS is ours; nobody else uses it yet.
    unsafe { (&mut *TSS.0.get())[102..104].copy_from_slice(&(TSS_SIZE as u16).to_le_bytes()) };
    let limit = (TSS_SIZE - 1) as u64;
    let low = (limit & 0xFFFF) | (base & 0xFF_FFFF) << 16 | (TSS_AVAILABLE as u64) << 40 | ((limit >> 16) & 0xF) << 48 | ((base >> 24) & 0xFF) << 56;
    let high = base >> 32;
    let slot = (TSS_SELECTOR / 8) as usize;
    // SAFETY: GDT is the boot code's 5-entry table in .data; slots 3-4 are the TSS descriptor.
    unsafe {
        let gdt = &raw mut GDT;
        (*gdt)[slot] = low;
        (*gdt)[slot + 1] = high;
        core::arch::asm!("ltr {0:x}", in(reg) TSS_SELECTOR, options(nostack, preserves_flags));
    }
}
