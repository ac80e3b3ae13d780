//! The FADT (ACPI §5.2.9, Table 5.9, revision 3 / 244 bytes) and the FACS (ACPI §5.2.10).
//!
//! Fixed hardware: PM1a event block at 0x600 (4 bytes), PM1a control at 0x604 (2 bytes), PM
//! timer at 0x608 (4 bytes, 24-bit); no PM1b, PM2 or GPE blocks; SCI on IRQ 9; no SMI command
//! port (SMI_CMD = 0: the platform is always in ACPI mode, §4.8.2.1, so SCI_EN reads 1); C2 and
//! C3 latencies above their limits (not supported); RTC century index 0x32.

use super::pm::{PM_TMR, PM1A_CNT, PM1A_EVT};
use super::table;

/// FADT revision.
const FADT_REVISION: u8 = 3;
/// FADT length for revision 3.
const FADT_LEN: usize = 244;
/// FACS length.
const FACS_LEN: usize = 64;
/// The SCI's ISA IRQ.
pub const SCI_IRQ: u16 = 9;
/// Generic address structure (§5.2.3.2): address space ID for system I/O.
const GAS_SYSTEM_IO: u8 = 1;
/// Flags (Table 5.10): WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (no fixed buttons).
const FLAGS: u32 = (1 << 0) | (1 << 2) | (1 << 4) | (1 << 5);
/// IAPC_BOOT_ARCH (Table 5.11): LEGACY_DEVICES (ISA RTC, PIC, PIT, UART); no 8042.
const IAPC_BOOT_ARCH: u16 = 1 << 0;
/// Latencies that mean "C2/C3 not supported".
const P_LVL2_LAT_NONE: u16 = 101;
const P_LVL3_LAT_NONE: u16 = 1001;
/// CMOS index of the century.
const CENTURY_INDEX: u8 = 0x32;

/// Writes a generic address structure for an I/O register block at `offset`.
fn gas_io(f: &mut [u8], offset: usize, bits: u8, address: u16) {
    f[offset] = GAS_SYSTEM_IO;
    f[offset + 1] = bits;
    f[offset + 2] = 0; // bit offset
    f[offset + 3] = 0; // access size: legacy
    f[offset + 4..offset + 12].copy_from_slice(&u64::from(address).to_le_bytes());
}

/// The FADT pointing at `facs` and `dsdt`.
pub(crate) fn fadt(facs: u64, dsdt: u64) -> Vec<u8> {
    // Offsets below are into the whole table, header included (Table 5.9).
    let mut f = vec![0u8; FADT_LEN];
    let mut put = |off: usize, bytes: &[u8]| f[off..off + bytes.len()].copy_from_slice(bytes);
    put(36, &(facs as u32).to_le_bytes()); // FIRMWARE_CTRL
    put(40, &(dsdt as u32).to_le_bytes()); // DSDT
    put(46, &SCI_IRQ.to_le_bytes()); // SCI_INT
    put(56, &u32::from(PM1A_EVT).to_le_bytes()); // PM1a_EVT_BLK
    put(64, &u32::from(PM1A_CNT).to_le_bytes()); // PM1a_CNT_BLK
    put(76, &u32::from(PM_TMR).to_le_bytes()); // PM_TMR_BLK
    put(88, &[4, 2, 0, 4]); // PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN
    put(96, &P_LVL2_LAT_NONE.to_le_bytes());
    put(98, &P_LVL3_LAT_NONE.to_le_bytes());
    put(108, &[CENTURY_INDEX]);
    put(109, &IAPC_BOOT_ARCH.to_le_bytes());
    put(112, &FLAGS.to_le_bytes());
    put(132, &facs.to_le_bytes()); // X_FIRMWARE_CTRL
    put(140, &dsdt.to_le_bytes()); // X_DSDT
    gas_io(&mut f, 148, 32, PM1A_EVT); // X_PM1a_EVT_BLK
    gas_io(&mut f, 172, 16, PM1A_CNT); // X_PM1a_CNT_BLK
    gas_io(&mut f, 208, 32, PM_TMR); // X_PM_TMR_BLK
    table(b"FACP", FADT_REVISION, &f[super::HEADER_LEN..])
}

/// The FACS (no checksum; 64-byte aligned by the caller).
pub(crate) fn facs() -> Vec<u8> {
    let mut f = vec![0u8; FACS_LEN];
    f[0..4].copy_from_slice(b"FACS");
    f[4..8].copy_from_slice(&(FACS_LEN as u32).to_le_bytes());
    f[32] = 1; // version (ACPI 2.0 layout)
    f
}
