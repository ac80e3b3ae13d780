//! ACPI tables, parsed back as an OS does (ACPI 6.4 §5.2.5.1: scan 0xE0000-0xFFFFF on
//! 16-byte boundaries for the RSDP), with every checksum verified, and the PM1a control
//! register's S5 power-off.

use hvbench_mmu::{PhysAddr, PhysMem};

use super::*;
use crate::devices::acpi::{AcpiError, install};

fn u32_at(mem: &PhysMem, a: u64) -> u32 {
    mem.read_u32(PhysAddr(a)).unwrap()
}

fn bytes(mem: &PhysMem, a: u64, len: usize) -> Vec<u8> {
    mem.slice(PhysAddr(a), len).unwrap().to_vec()
}

fn sums_to_zero(b: &[u8]) -> bool {
    b.iter().fold(0u8, |a, &x| a.wrapping_add(x)) == 0
}

/// The RSDP an OS finds.
fn find_rsdp(mem: &PhysMem) -> u64 {
    (0xE_0000..0x10_0000u64)
        .step_by(16)
        .find(|&a| bytes(mem, a, 8) == b"RSD PTR " && sums_to_zero(&bytes(mem, a, 20)))
        .expect("an RSDP in the BIOS area")
}

/// A table checked for signature, length and checksum; returns its bytes.
fn sdt(mem: &PhysMem, addr: u64, signature: &[u8; 4]) -> Vec<u8> {
    assert_eq!(&bytes(mem, addr, 4), signature);
    let len = u32_at(mem, addr + 4) as usize;
    let t = bytes(mem, addr, len);
    assert!(sums_to_zero(&t), "{} checksum", String::from_utf8_lossy(signature));
    t
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

#[test]
fn tables_parse_back_with_valid_checksums() {
    let mut mem = PhysMem::new(16 << 20).unwrap();
    let placed = install(&mut mem, 4).unwrap();
    let rsdp_at = find_rsdp(&mem);
    assert_eq!(rsdp_at, placed.rsdp);
    let rsdp = bytes(&mem, rsdp_at, 36);
    assert_eq!(rsdp[15], 2, "revision 2");
    assert_eq!(le32(&rsdp, 20), 36, "length");
    assert!(sums_to_zero(&rsdp), "extended checksum over 36 bytes");

    let rsdt = sdt(&mem, le32(&rsdp, 16).into(), b"RSDT");
    let xsdt = sdt(&mem, le64(&rsdp, 24), b"XSDT");
    let from_rsdt: Vec<u64> = rsdt[36..].chunks(4).map(|c| le32(c, 0).into()).collect();
    let from_xsdt: Vec<u64> = xsdt[36..].chunks(8).map(|c| le64(c, 0)).collect();
    assert_eq!(from_rsdt, from_xsdt);
    let signatures: Vec<Vec<u8>> = from_xsdt.iter().map(|&a| bytes(&mem, a, 4)).collect();
    assert_eq!(signatures, vec![b"FACP".to_vec(), b"APIC".to_vec()]);

    let fadt = sdt(&mem, from_xsdt[0], b"FACP");
    assert_eq!(fadt.len(), 244);
    assert!(fadt[8] >= 3, "FADT revision");
    assert_eq!(le64(&fadt, 140), u64::from(le32(&fadt, 40)), "X_DSDT = DSDT");
    assert_eq!(le64(&fadt, 132), u64::from(le32(&fadt, 36)), "X_FIRMWARE_CTRL = FIRMWARE_CTRL");
    assert_eq!(le32(&fadt, 64), 0x604, "PM1a_CNT_BLK");
    assert_eq!(fadt[89], 2, "PM1_CNT_LEN");
    assert_eq!((fadt[172], fadt[173], le64(&fadt, 176)), (1, 16, 0x604), "X_PM1a_CNT_BLK: I/O, 16 bits");
    assert_eq!(le32(&fadt, 76), 0x608, "PM_TMR_BLK");
    assert_eq!(fadt[91], 4, "PM_TMR_LEN");
    let facs = u64::from(le32(&fadt, 36));
    assert_eq!(facs % 64, 0, "FACS 64-byte aligned");
    assert_eq!((bytes(&mem, facs, 4), u32_at(&mem, facs + 4)), (b"FACS".to_vec(), 64));

    let dsdt = sdt(&mem, le64(&fadt, 140), b"DSDT");
    let aml = &dsdt[36..];
    // NameOp "_S5_" PackageOp PkgLength NumElements BytePrefix SLP_TYPa BytePrefix SLP_TYPb ...
    assert_eq!(aml[..6], [0x08, b'_', b'S', b'5', b'_', 0x12]);
    assert_eq!(usize::from(aml[6]), aml.len() - 6, "PkgLength covers the rest of the AML");
    assert_eq!((aml[7], aml[8], aml[10]), (4, 0x0A, 0x0A));
    assert_eq!(aml[9], aml[11], "the same SLP_TYP for PM1a and PM1b");
}

#[test]
fn madt_describes_every_cpu_the_ioapic_and_irq0_override() {
    let mut mem = PhysMem::new(16 << 20).unwrap();
    let placed = install(&mut mem, 3).unwrap();
    let madt = sdt(&mem, placed.madt, b"APIC");
    assert_eq!(le32(&madt, 36), 0xFEE0_0000, "local APIC address");
    assert_eq!(le32(&madt, 40) & 1, 1, "PCAT_COMPAT");
    let mut entries = Vec::new();
    let mut o = 44;
    while o < madt.len() {
        let len = usize::from(madt[o + 1]);
        entries.push(madt[o..o + len].to_vec());
        o += len;
    }
    assert_eq!(o, madt.len(), "entries tile the table");
    let of = |ty: u8| entries.iter().filter(move |e| e[0] == ty);
    let cpus: Vec<(u8, u8, u32)> = of(0).map(|e| (e[2], e[3], le32(e, 4))).collect();
    assert_eq!(cpus, vec![(0, 0, 1), (1, 1, 1), (2, 2, 1)], "UID, APIC ID, enabled");
    let ioapics: Vec<(u8, u32, u32)> = of(1).map(|e| (e[2], le32(e, 4), le32(e, 8))).collect();
    assert_eq!(ioapics, vec![(3, 0xFEC0_0000, 0)], "IOAPIC id N, address, GSI base 0");
    let irq0 = of(2).find(|e| e[3] == 0).expect("an override for IRQ0");
    assert_eq!((irq0[2], le32(irq0, 4)), (0, 2), "ISA IRQ0 -> GSI 2");
}

#[test]
fn bad_cpu_counts_are_refused() {
    let mut mem = PhysMem::new(16 << 20).unwrap();
    assert_eq!(install(&mut mem, 0), Err(AcpiError::BadCpuCount(0)));
    assert_eq!(install(&mut mem, 255), Err(AcpiError::BadCpuCount(255)));
    assert!(install(&mut mem, 254).is_ok());
}

#[test]
fn writing_s5_to_pm1a_control_powers_off() {
    let mut mem = PhysMem::new(16 << 20).unwrap();
    let placed = install(&mut mem, 1).unwrap();
    let slp_typ = u16::from(bytes(&mem, placed.dsdt + 36 + 9, 1)[0]); // from \_S5_, as an OS reads it
    let mut b = bus();
    assert_eq!(b.io_read(0, 0x604, 2) & 1, 1, "SCI_EN: already in ACPI mode");
    b.io_write(0, 0x604, 2, u32::from(slp_typ) << 10); // SLP_TYP without SLP_EN
    assert_eq!(b.exit_request(), None);
    b.io_write(0, 0x604, 2, u32::from((slp_typ + 1) & 7) << 10 | 1 << 13); // another state
    assert_eq!(b.exit_request(), None);
    b.io_write(0, 0x604, 2, u32::from(slp_typ) << 10 | 1 << 13);
    assert_eq!(b.exit_request(), Some(ExitRequest::PowerOff));
}

#[test]
fn pm_timer_counts_at_3_579545_mhz() {
    let mut b = bus();
    b.set_time(1_000_000_000);
    assert_eq!(b.io_read(0, 0x608, 4), 3_579_545);
    b.set_time(5_000_000_000); // 17897725 ticks wrap at 24 bits
    assert_eq!(b.io_read(0, 0x608, 4), 17_897_725 & 0xFF_FFFF);
}
