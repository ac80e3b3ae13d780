//! fw_cfg, against QEMU's docs/specs/fw_cfg.rst, read the way SeaBIOS and Linux's
//! `qemu_fw_cfg` driver read it: select with a 16-bit OUT, then byte INs.

use super::*;

fn item(b: &mut PcBus, key: u16, len: usize) -> Vec<u8> {
    b.io_write(0, 0x510, 2, key.into());
    (0..len).map(|_| inb(b, 0x511)).collect()
}

fn cfg_bus() -> PcBus {
    PcBus::new(PcBusConfig { ram_size: 256 << 20, cpus: 3, ..Default::default() })
}

#[test]
fn signature_and_id() {
    let mut b = cfg_bus();
    assert_eq!(item(&mut b, 0x0000, 4), b"QEMU");
    assert_eq!(item(&mut b, 0x0001, 4), vec![1, 0, 0, 0], "traditional interface, no DMA");
}

#[test]
fn machine_description_items() {
    let mut b = cfg_bus();
    assert_eq!(item(&mut b, 0x0003, 8), (256u64 << 20).to_le_bytes());
    assert_eq!(item(&mut b, 0x0005, 2), vec![3, 0]);
    assert_eq!(item(&mut b, 0x000F, 2), vec![3, 0]);
}

#[test]
fn reading_past_the_end_or_an_absent_key_gives_zero() {
    let mut b = cfg_bus();
    assert_eq!(item(&mut b, 0x0000, 6), vec![b'Q', b'E', b'M', b'U', 0, 0]);
    assert_eq!(item(&mut b, 0x0123, 3), vec![0, 0, 0]);
    // Reselecting rewinds.
    assert_eq!(item(&mut b, 0x0000, 1), b"Q");
}

#[test]
fn empty_file_directory_has_a_big_endian_zero_count() {
    let mut b = cfg_bus();
    assert_eq!(item(&mut b, 0x0019, 4), vec![0, 0, 0, 0]);
}

#[test]
fn files_are_listed_by_name_in_big_endian_entries() {
    let mut b = cfg_bus();
    b.fw_cfg_mut().add_file("etc/zeta", vec![9; 3]).unwrap();
    b.fw_cfg_mut().add_file("etc/alpha", b"hello".to_vec()).unwrap();
    let dir = item(&mut b, 0x0019, 4 + 2 * 64);
    assert_eq!(dir[0..4], [0, 0, 0, 2]);
    let entry = |i: usize| &dir[4 + 64 * i..4 + 64 * (i + 1)];
    assert_eq!(entry(0)[0..4], [0, 0, 0, 5], "size");
    assert_eq!(entry(0)[4..6], [0x00, 0x20], "select");
    assert_eq!(&entry(0)[8..17], b"etc/alpha");
    assert!(entry(0)[17..].iter().all(|&c| c == 0));
    assert_eq!(entry(1)[4..6], [0x00, 0x21]);
    assert_eq!(item(&mut b, 0x0020, 5), b"hello");
    assert!(b.fw_cfg_mut().add_file(&"x".repeat(56), vec![]).is_err());
}
