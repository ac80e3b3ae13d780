//! The "a.out kludge": load addresses given by the multiboot header itself (mb1 §3.1.3
//! flags bit 16 and offsets 12-28; mb2 §3.1.5 address tag and §3.1.6 entry address tag).
//!
//! The file offset to load from is the header's offset minus (`header_addr` - `load_addr`);
//! `load_end_addr` 0 means "to the end of the file"; `bss_end_addr` 0 means no BSS. In
//! multiboot2, `load_addr` = 0xFFFFFFFF means "load from the beginning of the file".

use super::image::{KernelLayout, Segment, Source};
use super::{LoadError, Protocol};

/// mb2 §3.1.5: `load_addr` value meaning "from the start of the file".
const LOAD_FROM_FILE_START: u32 = 0xFFFF_FFFF;

/// The header's address fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AddressFields {
    /// Physical address of the header's magic.
    pub header_addr: u32,
    /// Physical address of the first byte to load.
    pub load_addr: u32,
    /// One past the last byte loaded from the file, or 0 for "end of file".
    pub load_end_addr: u32,
    /// One past the last BSS byte, or 0 for none.
    pub bss_end_addr: u32,
}

/// The one-segment layout the address fields describe, entering at `entry`.
pub(super) fn layout(
    image: &[u8],
    header_offset: usize,
    fields: AddressFields,
    entry: u32,
    protocol: Protocol,
    file: &str,
) -> Result<KernelLayout, LoadError> {
    let bad = |field, value: u32, problem| LoadError::BadHeaderField {
        file: file.to_string(),
        protocol,
        field,
        value: value.into(),
        problem,
    };
    let header_offset = header_offset as u64;
    let header_addr = u64::from(fields.header_addr);
    let (load_addr, offset) = if protocol == Protocol::Multiboot2 && fields.load_addr == LOAD_FROM_FILE_START
    {
        let Some(load) = header_addr.checked_sub(header_offset) else {
            return Err(bad(
                "header_addr",
                fields.header_addr,
                "smaller than the header's file offset, so the file's start would be below address 0",
            ));
        };
        (load, 0)
    } else {
        let load = u64::from(fields.load_addr);
        if load > header_addr {
            return Err(bad("load_addr", fields.load_addr, "greater than header_addr"));
        }
        let Some(offset) = header_offset.checked_sub(header_addr - load) else {
            return Err(bad(
                "load_addr",
                fields.load_addr,
                "header_addr - load_addr is larger than the header's file offset",
            ));
        };
        (load, offset)
    };
    let file_len = image.len() as u64;
    let filesz = match fields.load_end_addr {
        0 => file_len - offset,
        end if u64::from(end) < load_addr => {
            return Err(bad("load_end_addr", end, "smaller than load_addr"));
        }
        end => u64::from(end) - load_addr,
    };
    let memsz = match fields.bss_end_addr {
        0 => filesz,
        end if u64::from(end) < load_addr + filesz => {
            return Err(bad("bss_end_addr", end, "smaller than the end of the loaded image"));
        }
        end => u64::from(end) - load_addr,
    };
    let segment = Segment { source: Source::Aout, paddr: load_addr, offset, filesz, memsz };
    Ok(KernelLayout { segments: vec![segment], entry: entry.into() })
}
