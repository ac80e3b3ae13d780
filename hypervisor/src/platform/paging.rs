//! The kernel's page tables: an identity map of the low 4 GiB with 2-MiB pages (Intel SDM
//! Vol. 3A 5.5 "4-Level Paging and 5-Level Paging", Table 5-15 for a PDE that maps a 2-MByte
//! page). The 32-bit entry in [`crate::boot`] fills them before paging is enabled; the guest
//! runs on the same tables (its guest-physical addresses are host-physical through EPT's
//! identity map).

use core::cell::UnsafeCell;

/// One 4-KiB paging-structure table.
#[repr(C, align(4096))]
pub struct Table(UnsafeCell<[u64; 512]>);

// SAFETY: written only by the boot code before any Rust runs; read-only afterwards.
unsafe impl Sync for Table {}

/// Four consecutive page directories (the boot code fills them as one 16-KiB array).
#[repr(C, align(4096))]
pub struct Directories(UnsafeCell<[[u64; 512]; 4]>);

// SAFETY: as for `Table`.
unsafe impl Sync for Directories {}

/// PML4: entry 0 points at [`BOOT_PDPT`].
#[unsafe(no_mangle)]
pub static BOOT_PML4: Table = Table(UnsafeCell::new([0; 512]));
/// PDPT: entries 0-3 point at the four page directories.
#[unsafe(no_mangle)]
pub static BOOT_PDPT: Table = Table(UnsafeCell::new([0; 512]));
/// Page directories: 2048 2-MiB pages, identity, present and writable.
#[unsafe(no_mangle)]
pub static BOOT_PD: Directories = Directories(UnsafeCell::new([[0; 512]; 4]));

/// How much the identity map covers.
pub const IDENTITY_MAPPED: u64 = 4 << 30;
