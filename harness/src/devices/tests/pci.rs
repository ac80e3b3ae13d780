//! PCI configuration mechanism #1 and the 440FX host bridge, against the PCI Local Bus
//! Specification 3.0 §3.2.2.3.2 and the 82441FX data sheet's register defaults.

use super::*;

fn cfg_addr(bus: u32, dev: u32, func: u32, reg: u32) -> u32 {
    0x8000_0000 | bus << 16 | dev << 11 | func << 8 | reg
}

fn read_cfg(b: &mut PcBus, addr: u32, port_off: u16, size: u8) -> u32 {
    b.io_write(0, 0xCF8, 4, addr);
    b.io_read(0, 0xCFC + port_off, size)
}

#[test]
fn host_bridge_identity() {
    let mut b = bus();
    let id = read_cfg(&mut b, cfg_addr(0, 0, 0, 0x00), 0, 4);
    assert_eq!(id, 0x1237_8086, "device 0x1237, vendor 0x8086");
    let class_rev = read_cfg(&mut b, cfg_addr(0, 0, 0, 0x08), 0, 4);
    assert_eq!(class_rev >> 8, 0x06_0000, "host bridge class");
    assert_eq!(class_rev & 0xFF, 0x02, "revision");
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 0, 0, 0x0C), 2, 1), 0x00, "header type 0");
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 0, 0, 0x04), 0, 4), 0x0280_0006, "status, command");
}

#[test]
fn byte_and_word_reads_at_data_port_offsets() {
    let mut b = bus();
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 0, 0, 0), 2, 2), 0x1237);
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 0, 0, 0), 1, 1), 0x80);
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 0, 0, 0), 3, 1), 0x12);
}

#[test]
fn absent_functions_read_all_ones() {
    let mut b = bus();
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 1, 0, 0), 0, 4), 0xFFFF_FFFF);
    assert_eq!(read_cfg(&mut b, cfg_addr(0, 0, 1, 0), 0, 2), 0xFFFF);
    assert_eq!(read_cfg(&mut b, cfg_addr(1, 0, 0, 0), 0, 4), 0xFFFF_FFFF);
    // Enable bit clear: no configuration cycle, the data port is unclaimed.
    b.io_write(0, 0xCF8, 4, 0);
    assert_eq!(b.io_read(0, 0xCFC, 4), 0xFFFF_FFFF);
}

#[test]
fn read_only_fields_ignore_writes() {
    let mut b = bus();
    b.io_write(0, 0xCF8, 4, cfg_addr(0, 0, 0, 0));
    b.io_write(0, 0xCFC, 4, 0xDEAD_BEEF);
    assert_eq!(b.io_read(0, 0xCFC, 4), 0x1237_8086);
    // PAM registers (0x59-0x5F) are writable chipset registers.
    b.io_write(0, 0xCF8, 4, cfg_addr(0, 0, 0, 0x58));
    b.io_write(0, 0xCFD, 1, 0x30);
    assert_eq!(b.io_read(0, 0xCFC, 4) >> 8 & 0xFF, 0x30);
}

#[test]
fn config_address_round_trips_its_defined_bits() {
    let mut b = bus();
    b.io_write(0, 0xCF8, 4, 0xFFFF_FFFF);
    assert_eq!(b.io_read(0, 0xCF8, 4), 0x80FF_FFFC, "reserved bits 30-24 and 1-0 read 0");
    assert_eq!(b.io_read(0, 0xCF8, 1), 0xFF, "byte access is not CONFIG_ADDRESS");
}
