//! One test per `LoadError`: the variant, and a message that names the file.

use hvbench_mmu::PhysMem;

use super::*;
use crate::loader::{BootConfig, LoadError, Protocol, load};

/// Loads `image` into fresh RAM and returns the error, checking that it names the file.
fn fail_with(image: &[u8], cfg: &BootConfig) -> LoadError {
    let err = load(&mut ram(), image, cfg).expect_err("the load must fail");
    assert!(err.to_string().contains(PATH), "message names the file: {err}");
    err
}

fn fail(image: &[u8]) -> LoadError {
    fail_with(image, &config(&[]))
}

/// An ELF32 multiboot v1 kernel at `paddr` with `memsz` bytes.
fn mb1_elf(paddr: u64, memsz: u64) -> Vec<u8> {
    let mut text = mb1_header(0, None);
    text.resize(0x20, 0x90);
    elf(Class::Elf32, paddr, &[Seg::at(paddr, text, memsz)])
}

#[test]
fn empty_file() {
    assert_eq!(fail(&[]), LoadError::EmptyFile { file: PATH.into() });
    assert!(fail(&[]).to_string().contains("empty"));
}

#[test]
fn file_larger_than_ram() {
    let mut mem = PhysMem::new(2 << 20).unwrap();
    let image = vec![0u8; (2 << 20) + 1];
    let err = load(&mut mem, &image, &config(&[])).unwrap_err();
    assert!(
        matches!(err, LoadError::LargerThanRam { len, ram, .. } if len == (2 << 20) + 1 && ram == 2 << 20)
    );
}

#[test]
fn no_header_says_where_it_searched() {
    let err = fail(&[0x90; 40000]);
    assert_eq!(err, LoadError::NoHeader { file: PATH.into() });
    let msg = err.to_string();
    assert!(msg.contains("8192") && msg.contains("32768"), "{msg}");
}

#[test]
fn header_beyond_the_search_window_is_not_found() {
    let mut image = vec![0u8; 8192];
    image.extend(mb1_header(0, None));
    assert_eq!(fail(&image), LoadError::NoHeader { file: PATH.into() });
}

#[test]
fn bad_checksum() {
    let mut image = vec![0u8; 64];
    let mut h = mb1_header(0, None);
    h[8] ^= 1;
    image[16..28].copy_from_slice(&h);
    let err = fail(&image);
    assert!(
        matches!(err, LoadError::BadChecksum { protocol: Protocol::Multiboot1, offset: 16, sum: 1, .. }),
        "{err:?}"
    );
}

#[test]
fn unknown_required_flag() {
    let mut text = mb1_header(1 << 3, None);
    text.resize(0x20, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x20)]);
    assert!(matches!(fail(&image), LoadError::UnsupportedFlags { unknown: 8, .. }));
    // An unknown optional bit (16-31, other than 16) is fine.
    let mut text = mb1_header(1 << 20, None);
    text.resize(0x20, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x20)]);
    assert!(load(&mut ram(), &image, &config(&[])).is_ok());
}

#[test]
fn required_efi_tag_is_refused() {
    let mut text = mb2_header(&[Tag::words(7, 0, &[])]);
    text.resize(0x40, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    let err = fail(&image);
    assert!(
        matches!(err, LoadError::UnsupportedTag { tag_type: 7, name: "EFI boot services", .. }),
        "{err:?}"
    );
}

#[test]
fn required_console_is_refused() {
    let mut text = mb2_header(&[Tag::words(4, 0, &[0b11])]);
    text.resize(0x40, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    assert!(matches!(fail(&image), LoadError::UnsupportedTag { tag_type: 4, .. }));
}

#[test]
fn required_information_request_we_cannot_fulfil() {
    let mut text = mb2_header(&[Tag::words(1, 0, &[1, 8])]);
    text.resize(0x40, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    let err = fail(&image);
    assert!(matches!(err, LoadError::UnsupportedInfoRequest { info_type: 8, name: "framebuffer info", .. }));
}

#[test]
fn multiboot2_architecture_must_be_i386() {
    let mut h = mb2_header(&[]);
    // architecture 4 (MIPS), checksum adjusted to stay valid
    h[4] = 4;
    let sum = u32::from_le_bytes(h[12..16].try_into().unwrap()).wrapping_sub(4);
    h[12..16].copy_from_slice(&sum.to_le_bytes());
    let err = fail(&h);
    assert!(matches!(err, LoadError::BadHeaderField { field: "architecture", value: 4, .. }), "{err:?}");
}

#[test]
fn not_elf_and_no_address_fields() {
    let mut image = mb1_header(0, None);
    image.resize(256, 0x90);
    assert_eq!(fail(&image), LoadError::NotElfNoKludge { file: PATH.into() });
}

#[test]
fn elf_for_another_machine() {
    let mut image = mb1_elf(0x10_0000, 0x20);
    image[18] = 40; // e_machine = EM_ARM
    assert!(matches!(fail(&image), LoadError::BadElf { field: "e_machine", value: 40, .. }));
}

#[test]
fn elf_without_loadable_segments() {
    let mut text = mb1_header(0, None);
    text.resize(0x20, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0)]);
    assert!(matches!(fail(&image), LoadError::BadElf { field: "e_phnum", value: 1, .. }));
}

#[test]
fn truncated_program_header_table() {
    let mut image = mb1_elf(0x10_0000, 0x20);
    image[44] = 200; // e_phnum: 200 entries of 32 bytes run past the end of the file
    let err = fail(&image);
    assert!(
        matches!(&err, LoadError::Truncated { what, offset: 52, len: 6400, .. } if what == "ELF program header table"),
        "{err:?}"
    );
}

#[test]
fn truncated_segment() {
    let image = mb1_elf(0x10_0000, 0x20);
    let short = &image[..image.len() - 4];
    let err = fail(short);
    assert!(
        matches!(&err, LoadError::Truncated { what, len: 0x20, .. } if what.contains("program header 0")),
        "{err:?}"
    );
}

#[test]
fn segment_file_size_larger_than_memory_size() {
    let mut text = mb1_header(0, None);
    text.resize(0x20, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x10)]);
    assert!(matches!(fail(&image), LoadError::SegmentFileLargerThanMemory { filesz: 0x20, memsz: 0x10, .. }));
}

#[test]
fn segment_outside_ram() {
    let err = fail(&mb1_elf(RAM - 0x10, 0x20));
    assert!(
        matches!(err, LoadError::SegmentOutsideRam { start, end, ram_end: RAM, .. } if start == RAM - 0x10 && end == RAM + 0x10),
        "{err:?}"
    );
}

#[test]
fn segment_above_4gib_in_elf64() {
    let mut text = mb1_header(0, None);
    text.resize(0x20, 0);
    let image = elf(Class::Elf64, 0x10_0000, &[Seg::at(0x1_0010_0000, text, 0x20)]);
    assert!(matches!(fail(&image), LoadError::SegmentOutsideRam { start: 0x1_0010_0000, .. }));
}

#[test]
fn segment_in_the_bios_area() {
    let err = fail(&mb1_elf(0xA_0000, 0x20));
    assert!(
        matches!(err, LoadError::SegmentInReservedArea { area_start: 0x9_FC00, area_end: 0x10_0000, .. }),
        "{err:?}"
    );
}

#[test]
fn segment_over_the_interrupt_vector_table() {
    let err = fail(&mb1_elf(0x400, 0x200));
    assert!(
        matches!(err, LoadError::SegmentInReservedArea { area_start: 0, area_end: 0x500, .. }),
        "{err:?}"
    );
}

#[test]
fn overlapping_segments() {
    let mut text = mb1_header(0, None);
    text.resize(0x20, 0);
    let segs = [Seg::at(0x10_0000, text, 0x2000), Seg::at(0x10_1000, vec![1; 16], 16)];
    let err = fail(&elf(Class::Elf32, 0x10_0000, &segs));
    assert!(
        matches!(
            err,
            LoadError::SegmentsOverlap {
                first_start: 0x10_0000,
                first_end: 0x10_2000,
                second_start: 0x10_1000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn entry_above_4gib() {
    let mut text = mb1_header(0, None);
    text.resize(0x20, 0);
    let image = elf(Class::Elf64, 0x1_0000_0000, &[Seg::at(0x10_0000, text, 0x20)]);
    assert!(matches!(fail(&image), LoadError::EntryAbove4GiB { entry: 0x1_0000_0000, .. }));
}

#[test]
fn address_tag_without_entry_tag() {
    let mut image = mb2_header(&[Tag::words(2, 0, &[0x10_0000, 0x10_0000, 0, 0])]);
    image.resize(0x100, 0);
    assert_eq!(fail(&image), LoadError::NoEntryAddress { file: PATH.into() });
}

#[test]
fn aout_load_addr_above_header_addr() {
    let mut image = mb1_header(1 << 16, Some([0x10_0000, 0x10_1000, 0, 0, 0x10_0000]));
    image.resize(0x100, 0);
    assert!(matches!(fail(&image), LoadError::BadHeaderField { field: "load_addr", .. }));
}

#[test]
fn modules_that_do_not_fit() {
    let modules = vec![BootModule { data: vec![0; (RAM - 0x20_0000) as usize], cmdline: "big".into() }];
    let image = mb1_elf(0x10_0000, 0x10_1000);
    let err = fail_with(&image, &config(&modules));
    assert!(matches!(err, LoadError::BootDataDoesNotFit { start: 0x20_1000, ram_end: RAM, .. }), "{err:?}");
}

#[test]
fn rsdp_outside_ram() {
    let mut text = mb2_header(&[]);
    text.resize(0x40, 0);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    let cfg = BootConfig { acpi_rsdp: Some(0xFFFF_FFF0), ..config(&[]) };
    assert!(matches!(fail_with(&image, &cfg), LoadError::AcpiRsdpNotInRam { addr: 0xFFFF_FFF0, .. }));
}
