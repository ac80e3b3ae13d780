//! The MADT (ACPI §5.2.12, Table 5.43) for the xAPIC machine: local APIC at 0xFEE00000,
//! PCAT_COMPAT (dual 8259s present), one Processor Local APIC structure per CPU (type 0,
//! §5.2.12.2: UID and APIC ID = CPU index, Enabled), one I/O APIC (type 1, §5.2.12.3: ID = the
//! CPU count, at 0xFEC00000, GSI base 0), Interrupt Source Overrides (type 2, §5.2.12.5) for
//! ISA IRQ0 -> GSI 2 (the PIT on the IOAPIC's pin 2, as on every PC) and for the SCI, IRQ9
//! -> GSI 9 level-triggered active-high, and a Local APIC NMI (type 4, §5.2.12.7) on LINT1
//! of every processor.

use super::fadt::SCI_IRQ;
use super::table;

/// The local APIC's physical address.
pub const LOCAL_APIC_ADDRESS: u32 = 0xFEE0_0000;
/// The IOAPIC's physical address.
pub const IOAPIC_ADDRESS: u32 = 0xFEC0_0000;
/// MADT revision.
const MADT_REVISION: u8 = 1;
/// Flags: PCAT_COMPAT.
const PCAT_COMPAT: u32 = 1;
/// Structure types.
const LOCAL_APIC: u8 = 0;
const IO_APIC: u8 = 1;
const SOURCE_OVERRIDE: u8 = 2;
const LOCAL_APIC_NMI: u8 = 4;
/// Local APIC flags: Enabled.
const ENABLED: u32 = 1;
/// MPS INTI flags (Table 5.50): polarity active high (01), trigger level (11).
const ACTIVE_HIGH_LEVEL: u16 = 0b11_01;
/// ACPI processor UID meaning "all processors".
const ALL_PROCESSORS: u8 = 0xFF;

/// The MADT for `cpus` CPUs (1-254, checked by the caller).
pub(crate) fn madt(cpus: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&LOCAL_APIC_ADDRESS.to_le_bytes());
    b.extend_from_slice(&PCAT_COMPAT.to_le_bytes());
    for cpu in 0..cpus as u8 {
        b.extend_from_slice(&[LOCAL_APIC, 8, cpu, cpu]);
        b.extend_from_slice(&ENABLED.to_le_bytes());
    }
    b.extend_from_slice(&[IO_APIC, 12, cpus as u8, 0]);
    b.extend_from_slice(&IOAPIC_ADDRESS.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // GSI base
    for (irq, gsi, flags) in [(0u8, 2u32, 0u16), (SCI_IRQ as u8, u32::from(SCI_IRQ), ACTIVE_HIGH_LEVEL)] {
        b.extend_from_slice(&[SOURCE_OVERRIDE, 10, 0, irq]); // bus 0: ISA
        b.extend_from_slice(&gsi.to_le_bytes());
        b.extend_from_slice(&flags.to_le_bytes());
    }
    b.extend_from_slice(&[LOCAL_APIC_NMI, 6, ALL_PROCESSORS, 0, 0, 1]); // flags 0, LINT1
    table(b"APIC", MADT_REVISION, &b)
}
