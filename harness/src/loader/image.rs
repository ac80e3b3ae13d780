//! Copying the kernel's segments into RAM, after checking where they go.
//!
//! A segment is `filesz` bytes from the file followed by `memsz - filesz` zero bytes (BSS),
//! as both ELF program headers (`PT_LOAD`) and the a.out kludge fields describe it
//! (mb1 §3.1.3, mb2 §3.1.5). The loading policy is in the module docs of [`super`].

use hvbench_mmu::{PhysAddr, PhysMem};

use super::LoadError;
use super::memmap::{BIOS_AREA_START, HIGH_MEMORY, IVT_BDA_END, low_ram_end};

/// Where a segment comes from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// The ELF program header with this index.
    ElfSegment(usize),
    /// The image described by the header's address fields.
    Aout,
}

impl core::fmt::Display for Source {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::ElfSegment(i) => write!(f, "ELF program header {i} (PT_LOAD)"),
            Self::Aout => f.write_str("the image loaded per the header's address fields"),
        }
    }
}

/// One piece of the kernel to copy into RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    /// Where it comes from.
    pub source: Source,
    /// Physical load address.
    pub paddr: u64,
    /// File offset of its bytes.
    pub offset: u64,
    /// Bytes taken from the file.
    pub filesz: u64,
    /// Bytes in memory (the rest are zeroed).
    pub memsz: u64,
}

impl Segment {
    /// One past the last byte in memory (no overflow: checked by [`check`]).
    fn end(&self) -> u64 {
        self.paddr.saturating_add(self.memsz)
    }
}

/// What the kernel needs from the loader, whichever format it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct KernelLayout {
    /// The pieces to load.
    pub segments: Vec<Segment>,
    /// The physical entry address.
    pub entry: u64,
}

/// Areas of low memory the kernel may not occupy: (name, start, end).
const RESERVED: [(&str, u64, u64); 2] = [
    ("the real-mode interrupt vector table and BIOS data area", 0, IVT_BDA_END),
    ("the EBDA, VGA and BIOS area", BIOS_AREA_START, HIGH_MEMORY),
];

/// Checks the layout against RAM and itself, copies it into `mem`, zeroes the BSS and
/// returns one past the kernel's highest byte.
pub(super) fn place(
    mem: &mut PhysMem,
    image: &[u8],
    layout: &KernelLayout,
    file: &str,
) -> Result<u64, LoadError> {
    let file_s = || file.to_string();
    if layout.entry > u64::from(u32::MAX) {
        return Err(LoadError::EntryAbove4GiB { file: file_s(), entry: layout.entry });
    }
    for seg in &layout.segments {
        check(mem, image, seg, file)?;
    }
    // Pairwise overlap, in index order so that the message is deterministic.
    for (i, a) in layout.segments.iter().enumerate() {
        for b in &layout.segments[i + 1..] {
            if a.paddr < b.end() && b.paddr < a.end() {
                return Err(LoadError::SegmentsOverlap {
                    file: file_s(),
                    first: a.source.to_string(),
                    first_start: a.paddr,
                    first_end: a.end(),
                    second: b.source.to_string(),
                    second_start: b.paddr,
                    second_end: b.end(),
                });
            }
        }
    }
    let mut top = 0;
    for seg in &layout.segments {
        // Ranges were checked above: in RAM and in the file.
        let bytes = &image[seg.offset as usize..(seg.offset + seg.filesz) as usize];
        mem.write_bytes(PhysAddr(seg.paddr), bytes);
        mem.zero(PhysAddr(seg.paddr + seg.filesz), seg.memsz - seg.filesz);
        top = top.max(seg.end());
    }
    Ok(top)
}

/// Checks one segment: sizes, file range, RAM range, reserved areas.
fn check(mem: &PhysMem, image: &[u8], seg: &Segment, file: &str) -> Result<(), LoadError> {
    let what = || seg.source.to_string();
    let file_s = || file.to_string();
    if seg.filesz > seg.memsz {
        return Err(LoadError::SegmentFileLargerThanMemory {
            file: file_s(),
            what: what(),
            filesz: seg.filesz,
            memsz: seg.memsz,
        });
    }
    let file_len = image.len() as u64;
    if seg.offset.checked_add(seg.filesz).is_none_or(|e| e > file_len) {
        return Err(LoadError::Truncated {
            file: file_s(),
            what: what(),
            offset: seg.offset,
            len: seg.filesz,
            file_len,
        });
    }
    let ram_end = low_ram_end(mem);
    let end = seg.paddr.checked_add(seg.memsz);
    if end.is_none_or(|e| e > ram_end) {
        return Err(LoadError::SegmentOutsideRam {
            file: file_s(),
            what: what(),
            start: seg.paddr,
            end: end.unwrap_or(u64::MAX),
            ram_end,
        });
    }
    for (area, area_start, area_end) in RESERVED {
        if seg.memsz > 0 && seg.paddr < area_end && area_start < seg.end() {
            return Err(LoadError::SegmentInReservedArea {
                file: file_s(),
                what: what(),
                start: seg.paddr,
                end: seg.end(),
                area,
                area_start,
                area_end,
            });
        }
    }
    Ok(())
}
