//! Boot loaders: multiboot v1 and multiboot2, as GRUB and QEMU `-kernel` load kernels.
//!
//! Specifications:
//! - "Multiboot Specification version 0.6.96" (GNU, 2009), cited as "mb1 §n".
//! - "Multiboot2 Specification version 2.0" (GNU, 2016), cited as "mb2 §n".
//! - "Tool Interface Standard (TIS) Executable and Linking Format (ELF) Specification,
//!   version 1.2" and the "ELF-64 Object File Format, version 1.5", for program headers.
//!
//! [`load`] finds the header (mb2 §3.1.1: 8-byte aligned in the first 32768 bytes; mb1 §3.1.1:
//! 4-byte aligned in the first 8192 bytes; multiboot2 wins when both are present, as GRUB's
//! `multiboot2` command does), copies the kernel's segments into RAM (zeroing BSS), places
//! modules and the boot information above the kernel, and returns the machine state that the
//! specification defines at entry (mb1 §3.2, mb2 §3.2).
//!
//! Where the kernel may be loaded: in RAM below 4 GiB, and not over the real-mode interrupt
//! table and BIOS data area `[0, 0x500)`, nor the EBDA/VGA/BIOS window `[0x9FC00, 0x100000)`
//! that the memory map reports as reserved or absent (the machine keeps its ACPI tables
//! there). Everything else the memory map calls available is allowed, below 1 MiB included.
//! Modules and boot information go at or above 1 MiB, above the kernel's highest byte.

mod aout;
mod arena;
mod detect;
mod elf;
mod error;
mod image;
mod memmap;
mod multiboot1;
mod multiboot2;

#[cfg(test)]
mod tests;

use hvbench_mmu::PhysMem;

pub use error::LoadError;
pub use memmap::{MemoryKind, MemoryRange, memory_map};

/// A module (initrd, guest image, ...) handed to the kernel with the boot information.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootModule {
    /// The module's bytes.
    pub data: Vec<u8>,
    /// The module's string (by convention its path and arguments).
    pub cmdline: String,
}

/// What the loader needs besides the image.
#[derive(Debug, Clone, Copy)]
pub struct BootConfig<'a> {
    /// The kernel's path: the first word of the command line and the name in error messages.
    pub kernel_path: &'a str,
    /// The arguments after the path; the kernel sees "PATH ARGS" (just "PATH" if empty),
    /// as QEMU's `-kernel PATH -append ARGS` gives it.
    pub cmdline: &'a str,
    /// Modules, in the order the kernel sees them.
    pub modules: &'a [BootModule],
    /// The boot loader name the kernel sees ("hvbench").
    pub boot_loader_name: &'a str,
    /// Physical address of an ACPI RSDP to copy into the multiboot2 ACPI tags (14, 15).
    pub acpi_rsdp: Option<u64>,
}

/// Which boot protocol the kernel was loaded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Multiboot Specification 0.6.96.
    Multiboot1,
    /// Multiboot2 Specification 2.0.
    Multiboot2,
}

impl core::fmt::Display for Protocol {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Multiboot1 => "multiboot",
            Self::Multiboot2 => "multiboot2",
        })
    }
}

/// The state the specification defines at entry (mb1 §3.2, mb2 §3.2): 32-bit protected
/// mode, flat 4-GiB code and data segments, paging off, A20 on, EFLAGS.VM=0 and IF=0,
/// EAX = the boot loader magic, EBX = the physical address of the boot information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryState {
    /// The protocol the kernel was loaded with.
    pub protocol: Protocol,
    /// Physical address to jump to.
    pub entry: u32,
    /// EAX at entry: 0x2BADB002 (mb1) or 0x36D76289 (mb2).
    pub eax: u32,
    /// EBX at entry: the boot information's physical address.
    pub ebx: u32,
}

/// EAX at entry for multiboot v1 (mb1 §3.2).
pub const MULTIBOOT1_BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// EAX at entry for multiboot2 (mb2 §3.2).
pub const MULTIBOOT2_BOOTLOADER_MAGIC: u32 = 0x36D7_6289;

/// Loads a multiboot v1 or multiboot2 kernel into `mem` with its modules and boot information.
pub fn load(mem: &mut PhysMem, image: &[u8], cfg: &BootConfig) -> Result<EntryState, LoadError> {
    let file = cfg.kernel_path.to_string();
    if image.is_empty() {
        return Err(LoadError::EmptyFile { file });
    }
    if image.len() as u64 > mem.size() {
        return Err(LoadError::LargerThanRam { file, len: image.len() as u64, ram: mem.size() });
    }
    match detect::find_header(image, cfg.kernel_path)? {
        detect::Found::Multiboot2(offset) => multiboot2::load(mem, image, offset, cfg),
        detect::Found::Multiboot1(offset) => multiboot1::load(mem, image, offset, cfg),
    }
}

/// The command line the kernel sees: "PATH ARGS", or "PATH" when there are no arguments.
fn kernel_cmdline(cfg: &BootConfig) -> String {
    if cfg.cmdline.is_empty() {
        cfg.kernel_path.to_string()
    } else {
        format!("{} {}", cfg.kernel_path, cfg.cmdline)
    }
}

/// Reads a little-endian u32 at `offset`, if the bytes exist.
fn le32(bytes: &[u8], offset: usize) -> Option<u32> {
    let b = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
