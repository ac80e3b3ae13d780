//! ACPI tables for the machine, built into RAM where firmware leaves them, and the PM1
//! registers they describe.
//!
//! Specification: "Advanced Configuration and Power Interface (ACPI) Specification,
//! version 6.4" (UEFI Forum, 2021), cited as "ACPI §n". Tables: RSDP (§5.2.5, revision 2,
//! 16-byte aligned in 0xE0000-0xFFFFF where an OS looks, §5.2.5.1), RSDT (§5.2.7) and XSDT
//! (§5.2.8) listing the FADT and the MADT, FADT (§5.2.9, revision 3: the ACPI 2.0 layout of
//! 244 bytes) pointing at the FACS (§5.2.10) and a DSDT (§5.2.11.1) whose AML defines only
//! `\_S5_`, and the MADT (§5.2.12). Every table's bytes sum to zero (§5.2.6), the RSDP's first
//! 20 bytes and all 36 bytes too (§5.2.5.3).
//!
//! Layout: everything in the BIOS area at 0xF0000-0xFFFFF, which the boot memory map reports
//! as reserved and kernels may not be loaded over.

mod dsdt;
mod fadt;
mod madt;
pub mod pm;

use hvbench_mmu::{PhysAddr, PhysMem};

pub use dsdt::SLP_TYP_S5;
pub use madt::{IOAPIC_ADDRESS, LOCAL_APIC_ADDRESS};

/// Where the tables start: the RSDP first.
pub const ACPI_BASE: u64 = 0xF_0000;
/// One past the area the tables may use.
const ACPI_END: u64 = 0x10_0000;
/// Size of a system description table header (§5.2.6).
pub(crate) const HEADER_LEN: usize = 36;
/// OEM identification in every header (6 bytes).
const OEM_ID: &[u8; 6] = b"HVBNCH";
/// OEM table ID (8 bytes).
const OEM_TABLE_ID: &[u8; 8] = b"HVBENCH ";
/// Creator ID (4 bytes) and revision.
const CREATOR_ID: &[u8; 4] = b"HVBN";
const CREATOR_REVISION: u32 = 1;
/// RSDP fields (§5.2.5.3).
const RSDP_SIGNATURE: &[u8; 8] = b"RSD PTR ";
const RSDP_REVISION: u8 = 2;
const RSDP_LEN: usize = 36;
const RSDP_V1_LEN: usize = 20;
/// The most CPUs whose xAPIC IDs (0..N-1) leave an ID for the IOAPIC below the broadcast ID.
pub const MAX_CPUS: u16 = 254;

/// Tables that cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcpiError {
    /// The CPU count cannot be described with 8-bit xAPIC IDs.
    #[error(
        "{0} CPUs cannot be described in the MADT: hvbench supports 1 to 254 (8-bit xAPIC IDs, one left for the IOAPIC)"
    )]
    BadCpuCount(u16),
    /// The tables do not fit the BIOS area (cannot happen below [`MAX_CPUS`]).
    #[error("the ACPI tables need {0:#x} bytes, more than the 64 KiB BIOS area")]
    TooLarge(u64),
}

/// Where the tables went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcpiTables {
    /// The RSDP (for the multiboot2 ACPI tags).
    pub rsdp: u64,
    /// The RSDT.
    pub rsdt: u64,
    /// The XSDT.
    pub xsdt: u64,
    /// The FADT.
    pub fadt: u64,
    /// The DSDT.
    pub dsdt: u64,
    /// The FACS.
    pub facs: u64,
    /// The MADT.
    pub madt: u64,
}

/// A system description table header (§5.2.6) for `signature` and a body, checksummed.
pub(crate) fn table(signature: &[u8; 4], revision: u8, body: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(HEADER_LEN + body.len());
    t.extend_from_slice(signature);
    t.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_le_bytes());
    t.push(revision);
    t.push(0); // checksum, below
    t.extend_from_slice(OEM_ID);
    t.extend_from_slice(OEM_TABLE_ID);
    t.extend_from_slice(&1u32.to_le_bytes()); // OEM revision
    t.extend_from_slice(CREATOR_ID);
    t.extend_from_slice(&CREATOR_REVISION.to_le_bytes());
    t.extend_from_slice(body);
    t[9] = checksum(&t);
    t
}

/// The byte that makes `bytes` sum to zero (with itself counted as 0 in `bytes`).
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b)))
}

/// The RSDP (§5.2.5.3).
fn rsdp(rsdt: u64, xsdt: u64) -> Vec<u8> {
    let mut r = Vec::with_capacity(RSDP_LEN);
    r.extend_from_slice(RSDP_SIGNATURE);
    r.push(0);
    r.extend_from_slice(OEM_ID);
    r.push(RSDP_REVISION);
    r.extend_from_slice(&(rsdt as u32).to_le_bytes());
    r.extend_from_slice(&(RSDP_LEN as u32).to_le_bytes());
    r.extend_from_slice(&xsdt.to_le_bytes());
    r.extend_from_slice(&[0; 4]); // extended checksum, reserved
    r[8] = checksum(&r[..RSDP_V1_LEN]);
    r[32] = checksum(&r);
    r
}

/// Places tables one after the other, each aligned.
struct Placer {
    next: u64,
    out: Vec<(u64, Vec<u8>)>,
}

impl Placer {
    fn put(&mut self, bytes: Vec<u8>, align: u64) -> u64 {
        let at = self.next.next_multiple_of(align);
        self.next = at + bytes.len() as u64;
        self.out.push((at, bytes));
        at
    }
}

/// Builds the tables for `cpus` CPUs and writes them into `mem` at [`ACPI_BASE`].
pub fn install(mem: &mut PhysMem, cpus: u16) -> Result<AcpiTables, AcpiError> {
    if cpus == 0 || cpus > MAX_CPUS {
        return Err(AcpiError::BadCpuCount(cpus));
    }
    let rsdp_at = ACPI_BASE;
    let mut p = Placer { next: rsdp_at + RSDP_LEN as u64, out: Vec::new() };
    let facs = p.put(fadt::facs(), 64);
    let dsdt = p.put(dsdt::dsdt(), 16);
    let fadt = p.put(fadt::fadt(facs, dsdt), 16);
    let madt = p.put(madt::madt(cpus), 16);
    let entries = [fadt, madt];
    let rsdt_body: Vec<u8> = entries.iter().flat_map(|&a| (a as u32).to_le_bytes()).collect();
    let rsdt = p.put(table(b"RSDT", 1, &rsdt_body), 16);
    let xsdt_body: Vec<u8> = entries.iter().flat_map(|&a| a.to_le_bytes()).collect();
    let xsdt = p.put(table(b"XSDT", 1, &xsdt_body), 16);
    p.out.push((rsdp_at, rsdp(rsdt, xsdt)));
    if p.next > ACPI_END {
        return Err(AcpiError::TooLarge(p.next - ACPI_BASE));
    }
    mem.zero(PhysAddr(ACPI_BASE), ACPI_END - ACPI_BASE);
    for (at, bytes) in &p.out {
        mem.write_bytes(PhysAddr(*at), bytes);
    }
    Ok(AcpiTables { rsdp: rsdp_at, rsdt, xsdt, fadt, dsdt, facs, madt })
}
