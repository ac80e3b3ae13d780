//! ELF32 and ELF64 kernels: load `PT_LOAD` program headers at their physical addresses.
//!
//! TIS ELF 1.2 Book I §1 "ELF Header", §2 "Program Header"; ELF-64 1.5 §3, §6. A multiboot
//! loader needs only the ELF header and the program header table: class, data encoding
//! (little-endian), machine (EM_386 for ELF32, EM_X86_64 for ELF64), type (ET_EXEC or
//! ET_DYN, as GRUB accepts), then each `PT_LOAD` with a non-zero memory size (at least one). The entry
//! address, when it falls inside a segment's virtual range, is translated to that segment's
//! physical address (what GRUB does for higher-half kernels); otherwise it is used as is.

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{EM_386, EM_X86_64, ET_DYN, ET_EXEC, Header};
use goblin::elf::program_header::{PT_LOAD, ProgramHeader};

use super::LoadError;
use super::image::{KernelLayout, Segment, Source};

/// ELF identification: 0x7F 'E' 'L' 'F'.
const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
/// Size of the ELF32 header.
const EHDR32_SIZE: u64 = 52;
/// Size of the ELF64 header.
const EHDR64_SIZE: u64 = 64;

/// Whether `image` starts with the ELF magic.
pub(super) fn is_elf(image: &[u8]) -> bool {
    image.starts_with(ELF_MAGIC)
}

/// The kernel layout from an ELF image (which starts with the ELF magic).
pub(super) fn layout(image: &[u8], file: &str) -> Result<KernelLayout, LoadError> {
    let bad =
        |field, value: u64, problem| LoadError::BadElf { file: file.to_string(), field, value, problem };
    let file_len = image.len() as u64;
    let truncated = |what: &str, offset: u64, len: u64| LoadError::Truncated {
        file: file.to_string(),
        what: what.to_string(),
        offset,
        len,
        file_len,
    };
    let class = image.get(4).copied().unwrap_or(0);
    let (container, ehdr_size, machine) = match class {
        1 => (Container::Little, EHDR32_SIZE, EM_386),
        2 => (Container::Big, EHDR64_SIZE, EM_X86_64),
        _ => return Err(bad("e_ident[EI_CLASS]", class.into(), "neither 1 (ELFCLASS32) nor 2 (ELFCLASS64)")),
    };
    if file_len < ehdr_size {
        return Err(truncated("ELF header", 0, ehdr_size));
    }
    let data = image[5];
    if data != 1 {
        return Err(bad("e_ident[EI_DATA]", data.into(), "x86 kernels are little-endian (1, ELFDATA2LSB)"));
    }
    let header: Header =
        goblin::elf::Elf::parse_header(image).map_err(|_| truncated("ELF header", 0, ehdr_size))?;
    if header.e_machine != machine {
        let problem = if container.is_big() {
            "an ELF64 multiboot kernel must be EM_X86_64 (62)"
        } else {
            "an ELF32 multiboot kernel must be EM_386 (3)"
        };
        return Err(bad("e_machine", header.e_machine.into(), problem));
    }
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return Err(bad("e_type", header.e_type.into(), "not an executable (ET_EXEC 2 or ET_DYN 3)"));
    }
    let ctx = Ctx::new(container, Endian::Little);
    let phent = ProgramHeader::size(ctx) as u64;
    let phnum = u64::from(header.e_phnum);
    if phnum > 0 && u64::from(header.e_phentsize) != phent {
        return Err(bad(
            "e_phentsize",
            header.e_phentsize.into(),
            "not the size of a program header of this class",
        ));
    }
    let table_len = phent * phnum;
    if header.e_phoff.checked_add(table_len).is_none_or(|end| end > file_len) {
        return Err(truncated("ELF program header table", header.e_phoff, table_len));
    }
    let phdrs = ProgramHeader::parse(image, header.e_phoff as usize, phnum as usize, ctx)
        .map_err(|_| truncated("ELF program header table", header.e_phoff, table_len))?;
    let segments = phdrs
        .iter()
        .enumerate()
        .filter(|(_, ph)| ph.p_type == PT_LOAD && ph.p_memsz > 0)
        .map(|(i, ph)| Segment {
            source: Source::ElfSegment(i),
            paddr: ph.p_paddr,
            offset: ph.p_offset,
            filesz: ph.p_filesz,
            memsz: ph.p_memsz,
        })
        .collect::<Vec<_>>();
    if segments.is_empty() {
        return Err(bad("e_phnum", phnum, "no PT_LOAD program header with a non-zero memory size"));
    }
    let entry = phdrs
        .iter()
        .find(|ph| {
            ph.p_type == PT_LOAD && ph.p_vaddr <= header.e_entry && header.e_entry - ph.p_vaddr < ph.p_memsz
        })
        .map_or(header.e_entry, |ph| (header.e_entry - ph.p_vaddr).saturating_add(ph.p_paddr));
    Ok(KernelLayout { segments, entry })
}
