//! A tiny ELF32 writer for the benchmark kernels: one `PT_LOAD` segment that starts with a
//! multiboot (v1) or multiboot2 header, no sections.
//!
//! References: "Tool Interface Standard (TIS) Executable and Linking Format (ELF)
//! Specification, version 1.2", Book I, 1-3 (ELF header) and 2-2 (program header);
//! "Multiboot Specification version 0.6.96" §3.1.1-3.1.2 (header magic, flags, checksum;
//! within the first 8192 bytes, 4-byte aligned); "Multiboot2 Specification version 2.0"
//! §3.1.1-3.1.3 (magic, architecture, header_length, checksum, tags ending with type 0;
//! within the first 32768 bytes, 8-byte aligned).

/// Which multiboot header the kernel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// Multiboot v1 (GRUB `multiboot`, QEMU `-kernel`, `run-iso.sh --mb1`).
    Multiboot1,
    /// Multiboot2 (GRUB `multiboot2`, `run-iso.sh`'s default).
    Multiboot2,
}

/// Multiboot v1 header magic (mb1 §3.1.2).
const MB1_MAGIC: u32 = 0x1bad_b002;
/// Multiboot2 header magic (mb2 §3.1.1).
const MB2_MAGIC: u32 = 0xe852_50d6;
/// Multiboot2 architecture 0: 32-bit protected-mode i386.
const MB2_ARCH_I386: u32 = 0;

/// Size of the ELF32 file header.
const EHDR_SIZE: u16 = 52;
/// Size of one ELF32 program header.
const PHDR_SIZE: u16 = 32;
/// File offset of the segment (congruent to its address modulo the 4-KiB alignment).
const SEGMENT_OFFSET: u32 = 0x1000;

impl Header {
    /// The header's bytes, padded to a multiple of 8.
    pub fn bytes(self) -> Vec<u8> {
        let mut v = Vec::new();
        match self {
            Header::Multiboot1 => {
                // Flags 0: no requirements (an ELF kernel needs no address fields).
                let flags = 0u32;
                for w in [MB1_MAGIC, flags, 0u32.wrapping_sub(MB1_MAGIC.wrapping_add(flags))] {
                    v.extend_from_slice(&w.to_le_bytes());
                }
                v.extend_from_slice(&[0; 4]);
            }
            Header::Multiboot2 => {
                let len = 16 + 8;
                let sum = MB2_MAGIC.wrapping_add(MB2_ARCH_I386).wrapping_add(len);
                for w in [MB2_MAGIC, MB2_ARCH_I386, len, 0u32.wrapping_sub(sum)] {
                    v.extend_from_slice(&w.to_le_bytes());
                }
                // End tag: type 0, flags 0, size 8.
                v.extend_from_slice(&[0, 0, 0, 0, 8, 0, 0, 0]);
            }
        }
        v
    }
}

/// An ELF32 executable for i386 whose only segment holds `contents` at `base` (which must
/// be 4-KiB aligned), followed by zeroed memory up to `mem_size` bytes, entered at `entry`.
pub fn write(base: u32, contents: &[u8], mem_size: u32, entry: u32) -> Vec<u8> {
    let file_size = contents.len() as u32;
    let mut f = Vec::with_capacity(SEGMENT_OFFSET as usize + contents.len());
    // e_ident: magic, ELFCLASS32, ELFDATA2LSB, EV_CURRENT, System V ABI, padding.
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let u16s = |f: &mut Vec<u8>, xs: &[u16]| xs.iter().for_each(|x| f.extend_from_slice(&x.to_le_bytes()));
    let u32s = |f: &mut Vec<u8>, xs: &[u32]| xs.iter().for_each(|x| f.extend_from_slice(&x.to_le_bytes()));
    // e_type ET_EXEC, e_machine EM_386; e_version, e_entry, e_phoff, e_shoff, e_flags.
    u16s(&mut f, &[2, 3]);
    u32s(&mut f, &[1, entry, EHDR_SIZE as u32, 0, 0]);
    // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx.
    u16s(&mut f, &[EHDR_SIZE, PHDR_SIZE, 1, 0, 0, 0]);
    // PT_LOAD, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags RWX, p_align.
    u32s(&mut f, &[1, SEGMENT_OFFSET, base, base, file_size, mem_size.max(file_size), 7, 0x1000]);
    f.resize(SEGMENT_OFFSET as usize, 0);
    f.extend_from_slice(contents);
    f
}
