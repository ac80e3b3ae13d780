//! Multiboot2 (Multiboot2 Specification 2.0): header tags (mb2 §3.1) and the boot
//! information tags (mb2 §3.6).
//!
//! Header tags: information request (1: a required request for a tag hvbench does not know
//! fails the load), address (2) and entry address (3) (the a.out kludge), console flags (4: a
//! required tag that requires a console fails, hvbench has no EGA text console), framebuffer
//! (5: a preference, ignored; no framebuffer tag is given), module alignment (6: modules are
//! always page-aligned), EFI boot services (7) and EFI entry addresses (8, 9): refused unless
//! optional, relocatable (10: ignored, the kernel loads at its preferred address). Unknown
//! tags are refused unless optional (mb2 §3.1.3).
//!
//! Information tags given: command line (1), boot loader name (2), modules (3), basic memory
//! information (4), memory map (6: entry_size 24, entry_version 0), and with an RSDP one
//! ACPI tag, as GRUB 2 gives it on a BIOS PC (grub-core/loader/multiboot_mbi2.c with
//! kern/i386/pc/acpi.c: the "old" lookup accepts only a revision-0 RSDP, the "new" one only
//! a revision other than 0, whose Length is below 1024): ACPI old RSDP (14: the 20-byte ACPI
//! 1.0 RSDP) for a revision-0 RSDP, ACPI new RSDP (15: the RSDP's Length bytes, 36 for
//! ACPI 2.0+) otherwise. So a kernel sees tag 15 exactly when the platform's tables are
//! ACPI 2.0 or later (hvbench's are), and never a tag 14 whose RSDP claims a later
//! revision. A required information request for 14 or 15 is understood and accepted, as
//! GRUB accepts it, whichever of the two the RSDP gives (mb2 §3.1.4: a boot loader fails
//! only a request it does not understand). Tags are 8-byte aligned, the structure starts
//! with `total_size` and `reserved`, and ends with an end tag (type 0, size 8).

use hvbench_mmu::{PhysAddr, PhysMem};

use super::aout::{self, AddressFields};
use super::arena::{Arena, PAGE, align_up};
use super::image::{self, KernelLayout};
use super::memmap::{mem_lower_kib, mem_upper_kib, memory_map};
use super::{
    BootConfig, EntryState, LoadError, MULTIBOOT2_BOOTLOADER_MAGIC, Protocol, elf, kernel_cmdline, le32,
};

/// mb2 §3.1.2: architecture 0 is 32-bit protected-mode i386.
const ARCH_I386: u32 = 0;
/// mb2 §3.1.2: size of the fixed header fields.
const HEADER_FIXED: usize = 16;
/// mb2 §3.1.1: the header lies within the first 32768 bytes.
const SEARCH_WINDOW: usize = 32768;
/// mb2 §3.1.3: header tag flags bit 0: the tag is optional.
const TAG_OPTIONAL: u16 = 1;
/// mb2 §3.1.4 console flags bit 0: a console is required.
const CONSOLE_REQUIRED: u32 = 1;

/// mb2 §3.6.x: information tag types hvbench writes.
mod info_tag {
    pub const END: u32 = 0;
    pub const CMDLINE: u32 = 1;
    pub const BOOT_LOADER_NAME: u32 = 2;
    pub const MODULE: u32 = 3;
    pub const BASIC_MEMINFO: u32 = 4;
    pub const MMAP: u32 = 6;
    pub const ACPI_OLD: u32 = 14;
    pub const ACPI_NEW: u32 = 15;
}

/// mb2 §3.6.8: size of one memory map entry.
const MMAP_ENTRY_SIZE: u32 = 24;
/// mb2 §3.6.8: the entry format version.
const MMAP_ENTRY_VERSION: u32 = 0;
/// ACPI 6.4 §5.2.5.3: the ACPI 1.0 part of the RSDP.
const RSDP_V1_LEN: usize = 20;
/// ACPI 6.4 §5.2.5.3: offset of the RSDP revision byte.
const RSDP_REVISION: usize = 15;
/// ACPI 6.4 §5.2.5.3: offset of the Length field (revision 2 and later).
const RSDP_LENGTH: usize = 20;
/// GRUB's bound on an RSDP's Length: a larger one is not taken for an RSDP.
const RSDP_MAX_LEN: usize = 1024;

/// What the header asks for.
#[derive(Debug, Default)]
struct Header {
    address: Option<AddressFields>,
    entry: Option<u32>,
}

/// The RSDP, and which tag carries it.
struct Rsdp {
    /// 14 or 15.
    tag: u32,
    /// The bytes the tag carries.
    bytes: Vec<u8>,
}

/// Loads a multiboot2 kernel whose header is at `offset`.
pub(super) fn load(
    mem: &mut PhysMem,
    image: &[u8],
    offset: usize,
    cfg: &BootConfig,
) -> Result<EntryState, LoadError> {
    let file = cfg.kernel_path;
    let rsdp = read_rsdp(mem, cfg)?;
    let header = parse_header(image, offset, file)?;
    let layout = kernel_layout(image, offset, &header, file)?;
    let kernel_end = image::place(mem, image, &layout, file)?;
    let mut arena = Arena::above_kernel(mem, kernel_end, file);
    let info = write_info(mem, &mut arena, cfg, rsdp.as_ref())?;
    Ok(EntryState {
        protocol: Protocol::Multiboot2,
        entry: layout.entry as u32,
        eax: MULTIBOOT2_BOOTLOADER_MAGIC,
        ebx: info,
    })
}

/// Copies the configured RSDP out of RAM.
fn read_rsdp(mem: &PhysMem, cfg: &BootConfig) -> Result<Option<Rsdp>, LoadError> {
    let Some(addr) = cfg.acpi_rsdp else { return Ok(None) };
    let not_in_ram = || LoadError::AcpiRsdpNotInRam { file: cfg.kernel_path.to_string(), addr };
    let v1: [u8; RSDP_V1_LEN] = mem.read(PhysAddr(addr)).ok_or_else(not_in_ram)?;
    if v1[RSDP_REVISION] == 0 {
        return Ok(Some(Rsdp { tag: info_tag::ACPI_OLD, bytes: v1.to_vec() }));
    }
    let length = mem.read::<4>(PhysAddr(addr + RSDP_LENGTH as u64)).ok_or_else(not_in_ram)?;
    let length = u32::from_le_bytes(length) as usize;
    if !(RSDP_V1_LEN..RSDP_MAX_LEN).contains(&length) {
        // Not an RSDP GRUB would find: no ACPI tag.
        return Ok(None);
    }
    let mut bytes = vec![0; length];
    if !mem.read_bytes(PhysAddr(addr), &mut bytes) {
        return Err(not_in_ram());
    }
    Ok(Some(Rsdp { tag: info_tag::ACPI_NEW, bytes }))
}

/// The spec's name for a header tag type.
fn header_tag_name(tag: u16) -> &'static str {
    match tag {
        1 => "information request",
        2 => "address",
        3 => "entry address",
        4 => "console flags",
        5 => "framebuffer",
        6 => "module alignment",
        7 => "EFI boot services",
        8 => "EFI i386 entry address",
        9 => "EFI amd64 entry address",
        10 => "relocatable header",
        _ => "unknown",
    }
}

/// The spec's name for an information tag type.
fn info_tag_name(tag: u32) -> &'static str {
    match tag {
        5 => "BIOS boot device",
        7 => "VBE info",
        8 => "framebuffer info",
        9 => "ELF symbols",
        10 => "APM table",
        11 => "EFI 32-bit system table pointer",
        12 => "EFI 64-bit system table pointer",
        13 => "SMBIOS tables",
        14 => "ACPI old RSDP",
        15 => "ACPI new RSDP",
        16 => "networking information",
        17 => "EFI memory map",
        18 => "EFI boot services not terminated",
        19 => "EFI 32-bit image handle pointer",
        20 => "EFI 64-bit image handle pointer",
        21 => "image load base physical address",
        _ => "unknown",
    }
}

/// Whether hvbench writes information tag `tag`.
fn provides(tag: u32) -> bool {
    use info_tag::*;
    match tag {
        END | CMDLINE | BOOT_LOADER_NAME | MODULE | BASIC_MEMINFO | MMAP => true,
        // Understood (GRUB accepts the request); the RSDP decides which of the two is given.
        ACPI_OLD | ACPI_NEW => true,
        _ => false,
    }
}

/// Walks the header's tags (mb2 §3.1.3) and collects what the kernel asks for.
fn parse_header(image: &[u8], offset: usize, file: &str) -> Result<Header, LoadError> {
    let bad = |field, value: u64, problem| LoadError::BadHeaderField {
        file: file.to_string(),
        protocol: Protocol::Multiboot2,
        field,
        value,
        problem,
    };
    let arch = le32(image, offset + 4).unwrap_or(0);
    if arch != ARCH_I386 {
        return Err(bad("architecture", arch.into(), "hvbench boots only 0 (32-bit protected-mode i386)"));
    }
    let length = le32(image, offset + 8).unwrap_or(0) as usize;
    if length < HEADER_FIXED {
        return Err(bad("header_length", length as u64, "smaller than the 16 bytes of fixed fields"));
    }
    let end = offset + length;
    if end > image.len().min(SEARCH_WINDOW) {
        return Err(bad(
            "header_length",
            length as u64,
            "the header runs past the end of the file or the first 32768 bytes",
        ));
    }
    let mut header = Header::default();
    let mut pos = offset + HEADER_FIXED;
    loop {
        if pos + 8 > end {
            return Err(bad(
                "header_length",
                length as u64,
                "no end tag (type 0, size 8) within header_length",
            ));
        }
        let word = le32(image, pos).unwrap_or(0);
        let (tag, flags) = (word as u16, (word >> 16) as u16);
        let size = le32(image, pos + 4).unwrap_or(0) as usize;
        if size < 8 || pos + size > end {
            return Err(bad(
                "size",
                size as u64,
                "a header tag's size must be at least 8 and stay within header_length",
            ));
        }
        let optional = flags & TAG_OPTIONAL != 0;
        let body = &image[pos + 8..pos + size];
        let field = |i: usize| le32(body, 4 * i);
        let unsupported = || LoadError::UnsupportedTag {
            file: file.to_string(),
            tag_type: tag,
            name: header_tag_name(tag),
            offset: pos,
        };
        let too_short = || bad("size", size as u64, "too small for its header tag type");
        match tag {
            0 => return Ok(header),
            1 if !optional => {
                let mut requested = (0..body.len() / 4).filter_map(field);
                if let Some(missing) = requested.find(|&t| !provides(t)) {
                    return Err(LoadError::UnsupportedInfoRequest {
                        file: file.to_string(),
                        info_type: missing,
                        name: info_tag_name(missing),
                    });
                }
            }
            2 => {
                let (Some(header_addr), Some(load_addr), Some(load_end_addr), Some(bss_end_addr)) =
                    (field(0), field(1), field(2), field(3))
                else {
                    return Err(too_short());
                };
                header.address = Some(AddressFields { header_addr, load_addr, load_end_addr, bss_end_addr });
            }
            3 => header.entry = Some(field(0).ok_or_else(too_short)?),
            4 if !optional && field(0).ok_or_else(too_short)? & CONSOLE_REQUIRED != 0 => {
                return Err(unsupported());
            }
            1 | 4 | 5 | 6 | 10 => {}
            _ if optional => {}
            _ => return Err(unsupported()),
        }
        pos += align_up(size as u64, 8) as usize;
    }
}

/// Finds where the kernel goes: address tag, else ELF.
fn kernel_layout(
    image: &[u8],
    offset: usize,
    header: &Header,
    file: &str,
) -> Result<KernelLayout, LoadError> {
    if let Some(fields) = header.address {
        let Some(entry) = header.entry else {
            return Err(LoadError::NoEntryAddress { file: file.to_string() });
        };
        return aout::layout(image, offset, fields, entry, Protocol::Multiboot2, file);
    }
    if elf::is_elf(image) {
        let mut layout = elf::layout(image, file)?;
        if let Some(entry) = header.entry {
            layout.entry = entry.into();
        }
        return Ok(layout);
    }
    Err(LoadError::NotElfNoKludge { file: file.to_string() })
}

/// Appends one information tag (type, size, payload, padding to 8 bytes).
fn push_tag(buf: &mut Vec<u8>, tag: u32, payload: &[u8]) {
    buf.extend_from_slice(&tag.to_le_bytes());
    buf.extend_from_slice(&(8 + payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align_up(buf.len() as u64, 8) as usize, 0);
}

/// A NUL-terminated copy of `s`.
fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Writes modules and the information structure; returns its address.
fn write_info(
    mem: &mut PhysMem,
    arena: &mut Arena,
    cfg: &BootConfig,
    rsdp: Option<&Rsdp>,
) -> Result<u32, LoadError> {
    let mut buf = vec![0u8; 8]; // total_size and reserved, filled in below
    push_tag(&mut buf, info_tag::CMDLINE, &cstr(&kernel_cmdline(cfg)));
    push_tag(&mut buf, info_tag::BOOT_LOADER_NAME, &cstr(cfg.boot_loader_name));
    for module in cfg.modules {
        let start = arena.put(mem, &module.data, PAGE)?;
        let end = start + module.data.len() as u32; // the arena keeps it below 4 GiB
        let mut payload = Vec::with_capacity(8 + module.cmdline.len() + 1);
        payload.extend_from_slice(&start.to_le_bytes());
        payload.extend_from_slice(&end.to_le_bytes());
        payload.extend_from_slice(&cstr(&module.cmdline));
        push_tag(&mut buf, info_tag::MODULE, &payload);
    }
    let mut meminfo = mem_lower_kib().to_le_bytes().to_vec();
    meminfo.extend_from_slice(&mem_upper_kib(mem).to_le_bytes());
    push_tag(&mut buf, info_tag::BASIC_MEMINFO, &meminfo);
    let mut mmap = MMAP_ENTRY_SIZE.to_le_bytes().to_vec();
    mmap.extend_from_slice(&MMAP_ENTRY_VERSION.to_le_bytes());
    for r in memory_map(mem) {
        mmap.extend_from_slice(&r.base.to_le_bytes());
        mmap.extend_from_slice(&r.length.to_le_bytes());
        mmap.extend_from_slice(&(r.kind as u32).to_le_bytes());
        mmap.extend_from_slice(&0u32.to_le_bytes());
    }
    push_tag(&mut buf, info_tag::MMAP, &mmap);
    if let Some(rsdp) = rsdp {
        push_tag(&mut buf, rsdp.tag, &rsdp.bytes);
    }
    push_tag(&mut buf, info_tag::END, &[]);
    let total = buf.len() as u32;
    buf[0..4].copy_from_slice(&total.to_le_bytes());
    arena.put(mem, &buf, 8)
}
