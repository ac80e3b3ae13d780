//! The DSDT (ACPI §5.2.11.1): a definition block whose AML (ACPI §20 "ACPI Machine Language
//! Specification") holds one object, `Name (_S5_, Package (0x04) { 0x05, 0x05, Zero, Zero })`:
//! the SLP_TYP values for PM1a and PM1b control that enter S5, soft-off (ACPI §7.4.2 "\_Sx").

use super::table;

/// The SLP_TYP value that `\_S5_` gives and the PM1a control register powers off on.
pub const SLP_TYP_S5: u16 = 5;

/// DSDT revision 2: integers are 64 bits wide (§5.2.11.1).
const DSDT_REVISION: u8 = 2;

/// AML opcodes (§20.2).
const NAME_OP: u8 = 0x08;
const PACKAGE_OP: u8 = 0x12;
const BYTE_PREFIX: u8 = 0x0A;
const ZERO_OP: u8 = 0x00;

/// The AML for `Name (_S5_, Package (4) { 5, 5, 0, 0 })`.
pub(crate) fn s5_aml() -> Vec<u8> {
    let elements = [BYTE_PREFIX, SLP_TYP_S5 as u8, BYTE_PREFIX, SLP_TYP_S5 as u8, ZERO_OP, ZERO_OP];
    // PkgLength (one byte, < 64, counts itself) + NumElements + the elements.
    let pkg_length = 1 + 1 + elements.len();
    let mut aml = vec![NAME_OP];
    aml.extend_from_slice(b"_S5_");
    aml.extend_from_slice(&[PACKAGE_OP, pkg_length as u8, 4]);
    aml.extend_from_slice(&elements);
    aml
}

/// The DSDT.
pub(crate) fn dsdt() -> Vec<u8> {
    table(b"DSDT", DSDT_REVISION, &s5_aml())
}
