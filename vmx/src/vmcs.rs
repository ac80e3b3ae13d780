//! The VMCS region in memory and field access (SDM Vol. 3C 25.2 "Format of the VMCS Region",
//! 25.11.1 "Software Use of Virtual-Machine Control Structures", 25.11.3 "Initializing a
//! VMCS").
//!
//! hvbench's VMCS layout (revision identifier [`crate::caps::VMCS_REVISION`]): the region is a
//! 4-KiByte page of physical memory (IA32_VMX_BASIC bits 44:32), read and written in place
//! (hvbench keeps no hidden copy, so VMCLEAR has nothing to flush):
//!
//! | offset | size | content |
//! | --- | --- | --- |
//! | 0 | 4 | bits 30:0 VMCS revision identifier, bit 31 shadow-VMCS indicator |
//! | 4 | 4 | VMX-abort indicator |
//! | 8 | 4 | launch state: 0 clear, 1 launched (hvbench's choice of place) |
//! | 12 | 4 | reserved (0) |
//! | 16 + 8*i | 8 | field `FIELDS[i]` (see `fields.rs`), little-endian, zero-extended |
//!
//! Software must use VMREAD/VMWRITE (SDM 25.11.1): the layout is documented for debugging and
//! for the VMCS dump, not as an interface.

use crate::fields::{self, Access, Width, FIELDS};
use hvbench_cpu::Exec;
use hvbench_mmu::PhysAddr;

/// Offset of the revision identifier.
pub const REVISION_OFFSET: u64 = 0;
/// Offset of the VMX-abort indicator.
pub const ABORT_OFFSET: u64 = 4;
/// Offset of the launch state.
pub const LAUNCH_STATE_OFFSET: u64 = 8;
/// Offset of field slot 0.
pub const FIELD_BASE: u64 = 16;

/// A VMCS region at a physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vmcs(pub u64);

impl Vmcs {
    fn slot_addr(self, slot: usize) -> PhysAddr {
        PhysAddr(self.0.wrapping_add(FIELD_BASE + 8 * slot as u64))
    }

    /// Reads field slot `slot` (full value).
    pub fn read_slot(self, x: &mut Exec<'_>, slot: usize) -> u64 {
        if slot >= FIELDS.len() {
            return 0;
        }
        x.read_phys(self.slot_addr(slot), 8) & FIELDS[slot].width.mask()
    }

    /// Writes field slot `slot` (truncated to the field's width).
    pub fn write_slot(self, x: &mut Exec<'_>, slot: usize, v: u64) {
        if slot >= FIELDS.len() {
            return;
        }
        x.write_phys(self.slot_addr(slot), 8, v & FIELDS[slot].width.mask());
    }

    /// Reads the field with full encoding `enc` (a [`fields::enc`] constant).
    pub fn read(self, x: &mut Exec<'_>, enc: u32) -> u64 {
        self.read_slot(x, fields::slot_of(enc))
    }

    /// Writes the field with full encoding `enc`.
    pub fn write(self, x: &mut Exec<'_>, enc: u32, v: u64) {
        self.write_slot(x, fields::slot_of(enc), v)
    }

    /// VMREAD semantics for an access: the HIGH form reads bits 63:32.
    pub fn read_access(self, x: &mut Exec<'_>, a: Access) -> u64 {
        let v = self.read_slot(x, a.slot);
        if a.high { v >> 32 } else { v }
    }

    /// VMWRITE semantics: the HIGH form replaces bits 63:32 only; the full form of a 64-bit
    /// field with a 32-bit operand clears bits 63:32 (the operand is zero-extended).
    pub fn write_access(self, x: &mut Exec<'_>, a: Access, v: u64) {
        if a.high {
            let old = self.read_slot(x, a.slot);
            self.write_slot(x, a.slot, (old & 0xffff_ffff) | (v & 0xffff_ffff) << 32);
        } else {
            let v = if a.field.width == Width::W64 || a.field.width == Width::Natural { v } else { v & a.field.width.mask() };
            self.write_slot(x, a.slot, v);
        }
    }

    /// The revision identifier dword (bit 31: shadow-VMCS indicator).
    pub fn revision(self, x: &mut Exec<'_>) -> u32 {
        x.read_phys(PhysAddr(self.0.wrapping_add(REVISION_OFFSET)), 4) as u32
    }

    /// Whether the launch state is "launched".
    pub fn launched(self, x: &mut Exec<'_>) -> bool {
        x.read_phys(PhysAddr(self.0.wrapping_add(LAUNCH_STATE_OFFSET)), 4) == 1
    }

    /// Sets the launch state.
    pub fn set_launched(self, x: &mut Exec<'_>, launched: bool) {
        x.write_phys(PhysAddr(self.0.wrapping_add(LAUNCH_STATE_OFFSET)), 4, launched as u64);
    }

    /// Writes the VMX-abort indicator (SDM 28.7 "VMX Aborts").
    pub fn set_abort(self, x: &mut Exec<'_>, code: u32) {
        x.write_phys(PhysAddr(self.0.wrapping_add(ABORT_OFFSET)), 4, code as u64);
    }

    /// Every supported field with its value, for a readable dump after a failed entry or an
    /// unhandled exit (see [`crate::dump`]).
    pub fn dump(self, x: &mut Exec<'_>, profile: &crate::caps::Profile) -> String {
        crate::dump::vmcs(self.0, profile, |a| x.read_phys(PhysAddr(a), 8))
    }
}
