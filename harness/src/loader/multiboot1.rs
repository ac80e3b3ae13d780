//! Multiboot v1 (Multiboot Specification 0.6.96): the header (mb1 §3.1) and the boot
//! information structure (mb1 §3.3).
//!
//! Header flags honoured (mb1 §3.1.2): bit 0 (modules page-aligned: hvbench always aligns
//! them), bit 1 (memory information: hvbench always provides `mem_*` and `mmap_*`), bit 2
//! (video mode: no graphics, so ignored; the kernel gets no `vbe_*`/`framebuffer_*` fields,
//! which the specification allows), bit 16 (address fields: load per the a.out kludge even
//! when the file is ELF, as the specification says and GRUB does). Any other bit in 0-15
//! makes the load fail.
//!
//! Information provided: `flags` bits 0 (`mem_lower`/`mem_upper`), 2 (`cmdline`), 3
//! (`mods_*`), 6 (`mmap_*`), 9 (`boot_loader_name`). No `boot_device` (bit 1): there is no
//! BIOS disk.

use hvbench_mmu::{PhysAddr, PhysMem};

use super::aout::{self, AddressFields};
use super::arena::{Arena, PAGE};
use super::image::{self, KernelLayout};
use super::memmap::{mem_lower_kib, mem_upper_kib, memory_map};
use super::{
    BootConfig, EntryState, LoadError, MULTIBOOT1_BOOTLOADER_MAGIC, Protocol, elf, kernel_cmdline, le32,
};

/// mb1 §3.1.2 flags bit 0: align modules on 4-KiB pages.
const FLAG_PAGE_ALIGN: u32 = 1 << 0;
/// mb1 §3.1.2 flags bit 1: memory information required.
const FLAG_MEMORY_INFO: u32 = 1 << 1;
/// mb1 §3.1.2 flags bit 2: video mode table requested.
const FLAG_VIDEO_MODE: u32 = 1 << 2;
/// mb1 §3.1.2 flags bit 16: the address fields at offsets 12-28 are valid.
const FLAG_ADDRESS_FIELDS: u32 = 1 << 16;
/// mb1 §3.1.2: bits 0-15 are requirements a boot loader must understand.
const REQUIRED_MASK: u32 = 0xFFFF;
/// The required bits hvbench understands.
const KNOWN_REQUIRED: u32 = FLAG_PAGE_ALIGN | FLAG_MEMORY_INFO | FLAG_VIDEO_MODE;
/// Header length through `entry_addr` (mb1 §3.1.1).
const HEADER_WITH_ADDRESSES: usize = 32;

/// mb1 §3.3 info flags: `mem_lower` and `mem_upper` valid.
pub(super) const INFO_MEMORY: u32 = 1 << 0;
/// mb1 §3.3 info flags: `cmdline` valid.
pub(super) const INFO_CMDLINE: u32 = 1 << 2;
/// mb1 §3.3 info flags: `mods_count` and `mods_addr` valid.
pub(super) const INFO_MODS: u32 = 1 << 3;
/// mb1 §3.3 info flags: `mmap_length` and `mmap_addr` valid.
pub(super) const INFO_MEM_MAP: u32 = 1 << 6;
/// mb1 §3.3 info flags: `boot_loader_name` valid.
pub(super) const INFO_BOOT_LOADER_NAME: u32 = 1 << 9;
/// mb1 §3.3: size of the information structure through the framebuffer fields.
pub(super) const INFO_SIZE: usize = 116;
/// mb1 §3.3: one module entry (mod_start, mod_end, string, reserved).
const MODULE_ENTRY_SIZE: usize = 16;
/// mb1 §3.3: one memory map entry including its `size` field.
const MMAP_ENTRY_SIZE: usize = 24;
/// mb1 §3.3: the value of each entry's `size` field (the entry without it).
const MMAP_ENTRY_SIZE_FIELD: u32 = 20;

/// Loads a multiboot v1 kernel whose header is at `offset`.
pub(super) fn load(
    mem: &mut PhysMem,
    image: &[u8],
    offset: usize,
    cfg: &BootConfig,
) -> Result<EntryState, LoadError> {
    let file = cfg.kernel_path;
    let layout = kernel_layout(image, offset, file)?;
    let kernel_end = image::place(mem, image, &layout, file)?;
    let mut arena = Arena::above_kernel(mem, kernel_end, file);
    let info = write_info(mem, &mut arena, cfg)?;
    Ok(EntryState {
        protocol: Protocol::Multiboot1,
        entry: layout.entry as u32,
        eax: MULTIBOOT1_BOOTLOADER_MAGIC,
        ebx: info,
    })
}

/// Reads the header's flags and finds where the kernel goes.
fn kernel_layout(image: &[u8], offset: usize, file: &str) -> Result<KernelLayout, LoadError> {
    let field = |i: usize| le32(image, offset + 4 * i);
    let flags = field(1).unwrap_or(0); // find_header checked the first 12 bytes
    let unknown = flags & REQUIRED_MASK & !KNOWN_REQUIRED;
    if unknown != 0 {
        return Err(LoadError::UnsupportedFlags { file: file.to_string(), flags, unknown });
    }
    if flags & FLAG_ADDRESS_FIELDS != 0 {
        let (Some(header_addr), Some(load_addr), Some(load_end_addr), Some(bss_end_addr), Some(entry)) =
            (field(3), field(4), field(5), field(6), field(7))
        else {
            return Err(LoadError::Truncated {
                file: file.to_string(),
                what: "multiboot header address fields (flags bit 16)".to_string(),
                offset: offset as u64,
                len: HEADER_WITH_ADDRESSES as u64,
                file_len: image.len() as u64,
            });
        };
        let fields = AddressFields { header_addr, load_addr, load_end_addr, bss_end_addr };
        return aout::layout(image, offset, fields, entry, Protocol::Multiboot1, file);
    }
    if elf::is_elf(image) {
        return elf::layout(image, file);
    }
    Err(LoadError::NotElfNoKludge { file: file.to_string() })
}

/// Writes modules, strings, tables and the information structure; returns its address.
fn write_info(mem: &mut PhysMem, arena: &mut Arena, cfg: &BootConfig) -> Result<u32, LoadError> {
    let mut mods = Vec::with_capacity(cfg.modules.len() * MODULE_ENTRY_SIZE);
    for module in cfg.modules {
        let start = arena.put(mem, &module.data, PAGE)?;
        let string = arena.put_cstr(mem, &module.cmdline)?;
        let end = start + module.data.len() as u32; // the arena keeps it below 4 GiB
        for v in [start, end, string, 0] {
            mods.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mods_addr = arena.put(mem, &mods, 4)?;
    let cmdline = arena.put_cstr(mem, &kernel_cmdline(cfg))?;
    let loader_name = arena.put_cstr(mem, cfg.boot_loader_name)?;
    let mut mmap = Vec::new();
    for r in memory_map(mem) {
        mmap.extend_from_slice(&MMAP_ENTRY_SIZE_FIELD.to_le_bytes());
        mmap.extend_from_slice(&r.base.to_le_bytes());
        mmap.extend_from_slice(&r.length.to_le_bytes());
        mmap.extend_from_slice(&(r.kind as u32).to_le_bytes());
    }
    debug_assert_eq!(mmap.len() % MMAP_ENTRY_SIZE, 0);
    let mmap_addr = arena.put(mem, &mmap, 8)?;

    let mut info = [0u8; INFO_SIZE];
    let mut set = |offset: usize, v: u32| info[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
    set(0, INFO_MEMORY | INFO_CMDLINE | INFO_MODS | INFO_MEM_MAP | INFO_BOOT_LOADER_NAME);
    set(4, mem_lower_kib());
    set(8, mem_upper_kib(mem));
    set(16, cmdline);
    set(20, cfg.modules.len() as u32);
    set(24, mods_addr);
    set(44, mmap.len() as u32);
    set(48, mmap_addr);
    set(64, loader_name);
    let addr = arena.put(mem, &info, 8)?;
    debug_assert!(mem.is_ram(PhysAddr(addr.into()), INFO_SIZE as u64));
    Ok(addr)
}
