//! Multiboot2 loads, checked against mb2 §3.2 (machine state) and §3.6 (information).

use hvbench_mmu::{PhysAddr, PhysMem};

use super::*;
use crate::loader::{BootConfig, Protocol, load};

/// Where the tests put an RSDP (the BIOS area, where the ACPI spec says to look).
const RSDP_AT: u64 = 0xF_0000;

/// A revision-2 RSDP (ACPI 6.4 §5.2.5.3): signature, checksum, OEM ID, revision, RSDT,
/// length, XSDT, extended checksum, reserved. The checksums are not what is tested here.
fn rsdp_v2() -> Vec<u8> {
    let mut r = b"RSD PTR ".to_vec();
    r.push(0);
    r.extend_from_slice(b"HVBNCH");
    r.push(2);
    r.extend_from_slice(&0x000E_1000u32.to_le_bytes());
    r.extend_from_slice(&36u32.to_le_bytes());
    r.extend_from_slice(&0x000E_2000u64.to_le_bytes());
    r.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(r.len(), 36);
    r
}

/// All info tags as (type, payload), checking the framing rules of mb2 §3.6.1-§3.6.2.
fn info_tags(mem: &PhysMem, info: u64) -> Vec<(u32, Vec<u8>)> {
    assert_eq!(info % 8, 0, "the information structure is 8-byte aligned");
    let total = u64::from(rd32(mem, info));
    assert_eq!(rd32(mem, info + 4), 0, "reserved");
    let mut tags = Vec::new();
    let mut a = info + 8;
    loop {
        let (ty, size) = (rd32(mem, a), u64::from(rd32(mem, a + 4)));
        assert!(size >= 8);
        tags.push((ty, bytes(mem, a + 8, (size - 8) as usize)));
        a = (a + size).next_multiple_of(8);
        if ty == 0 {
            assert_eq!(size, 8, "end tag size");
            break;
        }
    }
    assert_eq!(a - info, total, "total_size covers every tag up to the end tag");
    tags
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn c_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).expect("NUL-terminated");
    String::from_utf8(b[..end].to_vec()).unwrap()
}

#[test]
fn elf64_kernel_gets_every_information_tag() {
    let tags = [
        Tag::words(1, 0, &[1, 2, 3, 4, 6, 14, 15]), // information request, required
        Tag::words(5, 0, &[1024, 768, 32]),         // framebuffer: a preference, ignored
        Tag::words(6, 0, &[]),                      // module alignment
        Tag::words(4, 1, &[1]),                     // console flags, optional
        Tag::words(7, 1, &[]),                      // EFI boot services, optional
    ];
    let mut text = mb2_header(&tags);
    let text_len = text.len();
    text.resize(text_len + 0x40, 0x90);
    let image = elf(Class::Elf64, 0x10_0000, &[Seg::at(0x10_0000, text.clone(), 0x2000)]);
    let mut mem = ram();
    assert!(mem.write_bytes(PhysAddr(RSDP_AT), &rsdp_v2()));
    let modules = two_modules();
    let cfg = BootConfig { acpi_rsdp: Some(RSDP_AT), ..config(&modules) };
    let st = load(&mut mem, &image, &cfg).unwrap();
    assert_eq!(st.protocol, Protocol::Multiboot2);
    assert_eq!(st.eax, 0x36D7_6289);
    assert_eq!(st.entry, 0x10_0000);
    assert_eq!(bytes(&mem, 0x10_0000, text.len()), text);
    assert!(u64::from(st.ebx) >= 0x10_2000);

    let tags = info_tags(&mem, st.ebx.into());
    let of = |ty: u32| tags.iter().filter(move |t| t.0 == ty).map(|t| t.1.clone());
    assert_eq!(c_str(&of(1).next().unwrap()), "/boot/kernel.elf console=ttyS0");
    assert_eq!(c_str(&of(2).next().unwrap()), "hvbench");
    let mods: Vec<_> = of(3).collect();
    assert_eq!(mods.len(), 2);
    for (m, want) in mods.iter().zip(&modules) {
        let (start, end) = (u64::from(u32_at(m, 0)), u64::from(u32_at(m, 4)));
        assert_eq!(start % 4096, 0);
        assert!(start >= 0x10_2000);
        assert_eq!(end - start, want.data.len() as u64);
        assert_eq!(bytes(&mem, start, want.data.len()), want.data);
        assert_eq!(c_str(&m[8..]), want.cmdline);
    }
    let meminfo = of(4).next().unwrap();
    assert_eq!(u32_at(&meminfo, 0), 639);
    assert_eq!(u32_at(&meminfo, 4), ((RAM - 0x10_0000) / 1024) as u32);
    let mmap = of(6).next().unwrap();
    assert_eq!(u32_at(&mmap, 0), 24, "entry_size");
    assert_eq!(u32_at(&mmap, 4), 0, "entry_version");
    let entries: Vec<_> = mmap[8..]
        .chunks(24)
        .map(|e| {
            assert_eq!(u32_at(e, 20), 0, "reserved");
            (u64_at(e, 0), u64_at(e, 8), u32_at(e, 16))
        })
        .collect();
    assert_eq!(entries, expected_map_16m());
    assert_eq!(of(14).count(), 0, "no old-RSDP tag for a revision-2 RSDP (as GRUB on a BIOS PC)");
    assert_eq!(of(15).next().unwrap(), rsdp_v2());
    assert_eq!(tags.last().unwrap().0, 0, "end tag last");
}

#[test]
fn elf32_kernel_without_rsdp_gets_no_acpi_tags() {
    let mut text = mb2_header(&[Tag::words(1, 1, &[14, 15])]); // optional request
    text.resize(0x40, 0x90);
    let image = elf(Class::Elf32, 0x10_0020, &[Seg::at(0x10_0000, text, 0x40)]);
    let mut mem = ram();
    let st = load(&mut mem, &image, &config(&[])).unwrap();
    assert_eq!(st.entry, 0x10_0020);
    let types: Vec<u32> = info_tags(&mem, st.ebx.into()).iter().map(|t| t.0).collect();
    assert_eq!(types, vec![1, 2, 4, 6, 0]);
}

#[test]
fn address_and_entry_tags_load_a_flat_image() {
    // mb2 §3.1.5: header at file offset 8, loaded from the file's start (load_addr -1).
    let base = 0x40_0000u32;
    let header = mb2_header(&[
        Tag::words(2, 0, &[base + 8, 0xFFFF_FFFF, 0, base + 0x5000]),
        Tag::words(3, 0, &[base + 4]),
    ]);
    let mut image = vec![0xEB, 0xFE, 0x90, 0x90, 0xF4, 0x90, 0x90, 0x90];
    image.extend(header);
    image.extend_from_slice(&[0x77; 50]);
    let mut mem = ram();
    assert!(mem.write_bytes(PhysAddr(u64::from(base) + image.len() as u64), &[0xAA; 16]));
    let st = load(&mut mem, &image, &config(&[])).unwrap();
    assert_eq!(st.entry, base + 4);
    assert_eq!(bytes(&mem, base.into(), image.len()), image);
    assert_eq!(bytes(&mem, u64::from(base) + image.len() as u64, 16), vec![0; 16]);
    assert!(u64::from(st.ebx) >= u64::from(base) + 0x5000);
}

#[test]
fn entry_tag_overrides_the_elf_entry() {
    let mut text = mb2_header(&[Tag::words(3, 0, &[0x10_0030])]);
    text.resize(0x40, 0x90);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    let st = load(&mut ram(), &image, &config(&[])).unwrap();
    assert_eq!(st.entry, 0x10_0030);
}

/// Loads a kernel that requires tags 14 and 15 with the RSDP at `rsdp_at`; its info tags.
fn acpi_boot(mem: &mut PhysMem, rsdp_at: u64) -> Vec<(u32, Vec<u8>)> {
    let mut text = mb2_header(&[Tag::words(1, 0, &[14, 15])]); // required ACPI tags
    text.resize(0x40, 0x90);
    let image = elf(Class::Elf32, 0x10_0000, &[Seg::at(0x10_0000, text, 0x40)]);
    let cfg = BootConfig { acpi_rsdp: Some(rsdp_at), ..config(&[]) };
    let st = load(mem, &image, &cfg).expect("a required request for 14 and 15 is accepted, as GRUB does");
    info_tags(mem, st.ebx.into())
}

#[test]
fn the_machines_acpi_2_rsdp_comes_in_tag_15_only() {
    let mut mem = ram();
    let tables = crate::devices::acpi::install(&mut mem, 2).unwrap();
    let tags = acpi_boot(&mut mem, tables.rsdp);
    let rsdp = bytes(&mem, tables.rsdp, 36);
    assert_eq!(rsdp[15], 2, "hvbench's tables are ACPI 2.0+");
    let acpi: Vec<_> = tags.iter().filter(|t| t.0 == 14 || t.0 == 15).collect();
    assert_eq!(acpi.len(), 1, "one ACPI tag, as GRUB gives on a BIOS PC");
    assert_eq!(acpi[0].0, 15);
    assert_eq!(acpi[0].1, rsdp, "tag 15: the RSDP's Length (36) bytes");
}

#[test]
fn a_revision_0_rsdp_comes_in_tag_14_only() {
    let mut mem = ram();
    let mut v1 = rsdp_v2()[..20].to_vec();
    v1[15] = 0;
    assert!(mem.write_bytes(PhysAddr(RSDP_AT), &v1));
    // What follows the 20 bytes is not part of an ACPI 1.0 RSDP.
    assert!(mem.write_bytes(PhysAddr(RSDP_AT + 20), &[0xEE; 16]));
    let tags = acpi_boot(&mut mem, RSDP_AT);
    let acpi: Vec<_> = tags.iter().filter(|t| t.0 == 14 || t.0 == 15).collect();
    assert_eq!(acpi.len(), 1, "{acpi:?}");
    assert_eq!((acpi[0].0, &acpi[0].1), (14, &v1), "tag 14: the 20-byte ACPI 1.0 RSDP");
}

#[test]
fn tag_15_carries_the_rsdps_length_and_an_implausible_length_gives_no_tag() {
    let mut mem = ram();
    let mut long = rsdp_v2();
    long[20..24].copy_from_slice(&40u32.to_le_bytes());
    long.extend_from_slice(&[1, 2, 3, 4]);
    assert!(mem.write_bytes(PhysAddr(RSDP_AT), &long));
    let tags = acpi_boot(&mut mem, RSDP_AT);
    assert_eq!(tags.iter().find(|t| t.0 == 15).map(|t| &t.1), Some(&long));
    let mut bad = rsdp_v2();
    bad[20..24].copy_from_slice(&4096u32.to_le_bytes());
    let mut mem = ram();
    assert!(mem.write_bytes(PhysAddr(RSDP_AT), &bad));
    let tags = acpi_boot(&mut mem, RSDP_AT);
    assert!(tags.iter().all(|t| t.0 != 14 && t.0 != 15), "GRUB takes no RSDP with Length >= 1024");
}
