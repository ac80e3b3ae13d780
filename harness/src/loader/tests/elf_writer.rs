//! A small ELF writer for tests: an ELF header, a program header table and the segments'
//! bytes, laid out per TIS ELF 1.2 (ELF32) and ELF-64 1.5 (ELF64).

/// One `PT_LOAD` segment.
#[derive(Debug, Clone)]
pub struct Seg {
    pub paddr: u64,
    pub vaddr: u64,
    pub data: Vec<u8>,
    pub memsz: u64,
}

impl Seg {
    /// A segment with identical virtual and physical address.
    pub fn at(paddr: u64, data: Vec<u8>, memsz: u64) -> Self {
        Self { paddr, vaddr: paddr, data, memsz }
    }
}

/// ELF class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

const PT_LOAD: u32 = 1;
const PF_RWX: u32 = 7;
/// Segment data starts at multiples of this in the file.
const DATA_ALIGN: usize = 0x40;

/// An ELF executable for x86 (EM_386 for ELF32, EM_X86_64 for ELF64).
pub fn elf(class: Class, entry: u64, segs: &[Seg]) -> Vec<u8> {
    let (ehsize, phentsize, machine, class_byte) = match class {
        Class::Elf32 => (52usize, 32usize, 3u16, 1u8),
        Class::Elf64 => (64, 56, 62, 2),
    };
    let mut offsets = Vec::new();
    let mut next = (ehsize + phentsize * segs.len()).next_multiple_of(DATA_ALIGN);
    for s in segs {
        offsets.push(next);
        next = (next + s.data.len()).next_multiple_of(DATA_ALIGN);
    }
    let mut out = Vec::new();
    // e_ident: magic, class, data (1 = little-endian), version 1, OS ABI 0, padding.
    out.extend_from_slice(b"\x7fELF");
    out.extend_from_slice(&[class_byte, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&2u16.to_le_bytes()); // e_type = ET_EXEC
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    let word = |out: &mut Vec<u8>, v: u64| match class {
        Class::Elf32 => out.extend_from_slice(&(v as u32).to_le_bytes()),
        Class::Elf64 => out.extend_from_slice(&v.to_le_bytes()),
    };
    word(&mut out, entry);
    word(&mut out, ehsize as u64); // e_phoff
    word(&mut out, 0); // e_shoff
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [ehsize as u16, phentsize as u16, segs.len() as u16, 0, 0, 0] {
        out.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, sh*
    }
    assert_eq!(out.len(), ehsize);
    for (s, &off) in segs.iter().zip(&offsets) {
        out.extend_from_slice(&PT_LOAD.to_le_bytes());
        if class == Class::Elf64 {
            out.extend_from_slice(&PF_RWX.to_le_bytes());
        }
        for v in [off as u64, s.vaddr, s.paddr, s.data.len() as u64, s.memsz] {
            word(&mut out, v);
        }
        if class == Class::Elf32 {
            out.extend_from_slice(&PF_RWX.to_le_bytes());
        }
        word(&mut out, 0x1000); // p_align
    }
    for (s, &off) in segs.iter().zip(&offsets) {
        out.resize(off, 0);
        out.extend_from_slice(&s.data);
    }
    out
}
