//! Multiboot v1 loads, checked against mb1 §3.2 (machine state) and §3.3 (information).

use hvbench_mmu::PhysAddr;

use super::*;
use crate::loader::{EntryState, Protocol, load};

/// mb1 §3.3 info flag bits hvbench must set: 0 mem, 2 cmdline, 3 mods, 6 mmap, 9 name.
const EXPECTED_FLAGS: u32 = (1 << 0) | (1 << 2) | (1 << 3) | (1 << 6) | (1 << 9);

/// An ELF kernel: text at 1 MiB holding the header, 0x3000 bytes of BSS after 0x100 bytes
/// of text, and a data segment at 2 MiB.
fn kernel(class: Class, flags: u32) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut text = mb1_header(flags, None);
    text.extend((0..0x100 - text.len()).map(|i| i as u8));
    let data = b"data segment".to_vec();
    let image = elf(
        class,
        0x10_0010,
        &[Seg::at(0x10_0000, text.clone(), 0x3100), Seg::at(0x20_0000, data.clone(), data.len() as u64)],
    );
    (image, text, data)
}

/// Checks the information structure field by field (mb1 §3.3).
fn check_info(
    mem: &hvbench_mmu::PhysMem,
    st: &EntryState,
    kernel_end: u64,
    modules: &[crate::loader::BootModule],
) {
    let info = u64::from(st.ebx);
    assert!(info >= kernel_end, "info {info:#x} must lie above the kernel");
    assert_eq!(rd32(mem, info), EXPECTED_FLAGS);
    assert_eq!(rd32(mem, info + 4), 639, "mem_lower: 639 KiB below the EBDA");
    assert_eq!(rd32(mem, info + 8), ((RAM - 0x10_0000) / 1024) as u32, "mem_upper");
    assert_eq!(cstring(mem, rd32(mem, info + 16).into()), "/boot/kernel.elf console=ttyS0");
    assert_eq!(rd32(mem, info + 20), modules.len() as u32, "mods_count");
    let mods_addr = u64::from(rd32(mem, info + 24));
    let mut prev_end = kernel_end;
    for (i, m) in modules.iter().enumerate() {
        let e = mods_addr + 16 * i as u64;
        let (start, end) = (u64::from(rd32(mem, e)), u64::from(rd32(mem, e + 4)));
        assert_eq!(start % 4096, 0, "module {i} page-aligned");
        assert!(start >= prev_end, "module {i} overlaps what precedes it");
        assert_eq!(end - start, m.data.len() as u64);
        assert_eq!(bytes(mem, start, m.data.len()), m.data);
        assert_eq!(cstring(mem, rd32(mem, e + 8).into()), m.cmdline);
        assert_eq!(rd32(mem, e + 12), 0, "reserved");
        prev_end = end;
    }
    // mmap: entries of size field 20 + 4, mmap_length bytes in all.
    let (len, addr) = (u64::from(rd32(mem, info + 44)), u64::from(rd32(mem, info + 48)));
    let mut entries = Vec::new();
    let mut a = addr;
    while a < addr + len {
        let size = rd32(mem, a);
        assert_eq!(size, 20);
        entries.push((rd64(mem, a + 4), rd64(mem, a + 12), rd32(mem, a + 20)));
        a += u64::from(size) + 4;
    }
    assert_eq!(a, addr + len);
    assert_eq!(entries, expected_map_16m());
    assert_eq!(cstring(mem, rd32(mem, info + 64).into()), "hvbench");
}

#[test]
fn elf32_kernel_is_loaded_with_info_modules_and_map() {
    let (image, text, data) = kernel(Class::Elf32, 0b11);
    let mut mem = ram();
    // Garbage where the BSS goes, to see it zeroed.
    assert!(mem.write_bytes(PhysAddr(0x10_0100), &[0xAA; 0x3000]));
    let modules = two_modules();
    let st = load(&mut mem, &image, &config(&modules)).unwrap();
    assert_eq!(st.protocol, Protocol::Multiboot1);
    assert_eq!(st.eax, 0x2BAD_B002);
    assert_eq!(st.entry, 0x10_0010);
    assert_eq!(bytes(&mem, 0x10_0000, text.len()), text);
    assert!(bytes(&mem, 0x10_0100, 0x3000).iter().all(|&b| b == 0), "BSS zeroed");
    assert_eq!(bytes(&mem, 0x20_0000, data.len()), data);
    check_info(&mem, &st, 0x20_0000 + data.len() as u64, &modules);
}

#[test]
fn elf64_kernel_higher_half_entry_is_translated_to_physical() {
    let mut text = mb1_header(0, None);
    text.resize(0x80, 0x90);
    let vbase = 0xFFFF_FFFF_8010_0000;
    let seg = Seg { paddr: 0x10_0000, vaddr: vbase, data: text.clone(), memsz: 0x80 };
    let image = elf(Class::Elf64, vbase + 0x40, &[seg]);
    let mut mem = ram();
    let st = load(&mut mem, &image, &config(&[])).unwrap();
    assert_eq!(st.entry, 0x10_0040);
    assert_eq!(bytes(&mem, 0x10_0000, 0x80), text);
    check_info(&mem, &st, 0x10_0080, &[]);
}

#[test]
fn aout_kludge_loads_flat_binary_with_bss() {
    // A flat image: 16 bytes of code, the header at file offset 16, more bytes after.
    let (load_addr, header_addr) = (0x20_0000u32, 0x20_0010u32);
    let mut image = vec![0xF4; 16];
    image.extend(mb1_header(1 << 16, Some([header_addr, load_addr, 0, 0x20_3000, 0x20_0000])));
    image.extend_from_slice(&[0x5A; 100]);
    let mut mem = ram();
    assert!(mem.write_bytes(PhysAddr(0x20_0000 + image.len() as u64), &[0xAA; 64]));
    let st = load(&mut mem, &image, &config(&[])).unwrap();
    assert_eq!(st.entry, 0x20_0000);
    assert_eq!(bytes(&mem, 0x20_0000, image.len()), image, "load_end_addr 0: the whole file");
    let bss_len = 0x3000 - image.len();
    assert!(bytes(&mem, 0x20_0000 + image.len() as u64, bss_len).iter().all(|&b| b == 0));
    assert!(u64::from(st.ebx) >= 0x20_3000, "info above bss_end_addr");
}

#[test]
fn aout_fields_win_over_elf_when_flag_16_is_set() {
    // mb1 §3.1.3: with bit 16 the address fields are used even for an ELF file. Load only
    // the 32-byte header itself (load_end = header_addr + 32) at 3 MiB.
    let header_probe =
        |image: &[u8]| image.windows(4).position(|w| w == 0x1BAD_B002u32.to_le_bytes()).unwrap();
    let a = 0x30_0000u32;
    let mut text = mb1_header(1 << 16, Some([a, a, a + 32, 0, a]));
    text.resize(64, 0xCC);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 64)]);
    let off = header_probe(&image);
    let mut mem = ram();
    let st = load(&mut mem, &image, &config(&[])).unwrap();
    assert_eq!(st.entry, a);
    assert_eq!(bytes(&mem, a.into(), 32), image[off..off + 32].to_vec());
    assert_eq!(rd32(&mem, 0x10_0000), 0, "the ELF segment was not loaded");
}

#[test]
fn command_line_is_just_the_path_without_arguments() {
    let (image, _, _) = kernel(Class::Elf32, 0);
    let mut mem = ram();
    let cfg = crate::loader::BootConfig { cmdline: "", ..config(&[]) };
    let st = load(&mut mem, &image, &cfg).unwrap();
    assert_eq!(cstring(&mem, rd32(&mem, u64::from(st.ebx) + 16).into()), PATH);
}

#[test]
fn kernel_below_1mib_is_allowed_and_info_goes_above_1mib() {
    let mut text = mb1_header(0, None);
    text.resize(0x40, 0x90);
    let image = elf(Class::Elf32, 0x8000, &[Seg::at(0x8000, text.clone(), 0x1000)]);
    let mut mem = ram();
    let st = load(&mut mem, &image, &config(&[])).unwrap();
    assert_eq!(bytes(&mem, 0x8000, 0x40), text);
    assert!(st.ebx >= 0x10_0000);
}

#[test]
fn multiboot2_header_is_preferred_over_multiboot1() {
    let mut text = mb2_header(&[]);
    text.extend(mb1_header(0, None));
    text.resize(0x40, 0x90);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    let st = load(&mut ram(), &image, &config(&[])).unwrap();
    assert_eq!(st.protocol, Protocol::Multiboot2);
    assert_eq!(st.eax, 0x36D7_6289);
}
