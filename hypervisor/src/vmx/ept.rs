//! EPT builder (SDM Vol. 3C 29.3 "The Extended Page Table Mechanism (EPT)"): 4-level tables
//! from the frame pool, 2-MiB and 4-KiB leaves, and the EPT pointer (25.6.11 "Extended-Page-
//! Table Pointer (EPTP)", Table 25-9: memory type in bits 2:0, page-walk length - 1 in bits
//! 5:3, accessed/dirty flags in bit 6 (left 0), the PML4's address in bits N-1:12).
//!
//! Entry format (29.3.2, Tables 29-1..29-6): bit 0 read, 1 write, 2 execute (supervisor);
//! leaves: bits 5:3 EPT memory type, bit 6 ignore PAT, bit 7 "maps a page" in a PDE/PDPTE.

use crate::platform::addr::{GuestPhys, HostPhys};
use crate::platform::frames::{self, OutOfFrames};

/// Read, write and execute.
pub const RWX: u64 = 0b111;
/// Read and write, no execute.
pub const RW: u64 = 0b011;
/// Memory type write-back (29.3.7).
const MEMTYPE_WB: u64 = 6;
/// A PDE that maps a 2-MiB page.
const LEAF_2M: u64 = 1 << 7;
/// Bits 51:12 of an entry: the next table or the page.
const ADDR_MASK: u64 = 0x000F_FFFF_FFFF_F000;
/// 2 MiB.
pub const SIZE_2M: u64 = 2 << 20;

/// Why a mapping could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EptError {
    /// The frame pool is empty.
    OutOfFrames,
    /// Something is already mapped there (a 2-MiB leaf where a table is needed, or the reverse).
    Conflict(GuestPhys),
    /// The address is not aligned to the page size.
    Misaligned(GuestPhys),
}

impl From<OutOfFrames> for EptError {
    fn from(_: OutOfFrames) -> Self {
        Self::OutOfFrames
    }
}

/// A 4-level EPT paging structure.
#[derive(Debug)]
pub struct Ept {
    pml4: HostPhys,
}

fn index(gpa: GuestPhys, level: u32) -> usize {
    ((gpa.0 >> (12 + 9 * (level - 1))) & 0x1FF) as usize
}

fn entry(table: HostPhys, i: usize) -> *mut u64 {
    // SAFETY: i < 512 and `table` is a 4-KiB frame from the pool (identity-mapped).
    unsafe { table.as_mut_ptr::<u64>().add(i) }
}

impl Ept {
    /// An empty EPT (nothing mapped).
    pub fn new() -> Result<Self, EptError> {
        Ok(Self { pml4: frames::alloc()? })
    }

    /// The EPTP value: write-back paging structures, 4-level walk, no accessed/dirty flags.
    pub fn eptp(&self) -> u64 {
        self.pml4.0 | (3 << 3) | MEMTYPE_WB
    }

    /// The table at `level` - 1 for `gpa`, created if absent (level 4 = PML4).
    fn table(&mut self, gpa: GuestPhys, down_to: u32) -> Result<HostPhys, EptError> {
        let mut table = self.pml4;
        let mut level = 4;
        while level > down_to {
            let e = entry(table, index(gpa, level));
            // SAFETY: `e` points into a pool frame this structure owns.
            let v = unsafe { e.read_volatile() };
            table = if v & RWX == 0 {
                let t = frames::alloc()?;
                // SAFETY: as above.
                unsafe { e.write_volatile(t.0 | RWX) };
                t
            } else if v & LEAF_2M != 0 {
                return Err(EptError::Conflict(gpa));
            } else {
                HostPhys(v & ADDR_MASK)
            };
            level -= 1;
        }
        Ok(table)
    }

    fn set_leaf(&mut self, gpa: GuestPhys, level: u32, value: u64) -> Result<(), EptError> {
        let table = self.table(gpa, level)?;
        let e = entry(table, index(gpa, level));
        // SAFETY: `e` points into a pool frame this structure owns.
        unsafe {
            if e.read_volatile() & RWX != 0 && value & RWX != 0 {
                return Err(EptError::Conflict(gpa));
            }
            e.write_volatile(value);
        }
        Ok(())
    }

    /// Maps the 2-MiB page at `gpa` to `hpa`, write-back, with permissions `perms`.
    pub fn map_2m(&mut self, gpa: GuestPhys, hpa: HostPhys, perms: u64) -> Result<(), EptError> {
        if !gpa.0.is_multiple_of(SIZE_2M) || !hpa.0.is_multiple_of(SIZE_2M) {
            return Err(EptError::Misaligned(gpa));
        }
        self.set_leaf(gpa, 2, hpa.0 | (perms & RWX) | MEMTYPE_WB << 3 | LEAF_2M)
    }

    /// Sets the permissions of the 4-KiB mapping at `gpa` (which must exist) to `perms`.
    pub fn protect_4k(&mut self, gpa: GuestPhys, perms: u64) -> Result<(), EptError> {
        let table = self.table(gpa, 1)?;
        let e = entry(table, index(gpa, 1));
        // SAFETY: `e` points into a pool frame this structure owns.
        unsafe {
            let v = e.read_volatile();
            if v & RWX == 0 {
                return Err(EptError::Conflict(gpa));
            }
            e.write_volatile((v & !RWX) | (perms & RWX));
        }
        Ok(())
    }

    /// Maps the 4-KiB page at `gpa` to `hpa`, write-back, with permissions `perms`.
    pub fn map_4k(&mut self, gpa: GuestPhys, hpa: HostPhys, perms: u64) -> Result<(), EptError> {
        if !gpa.0.is_multiple_of(4096) || !hpa.0.is_multiple_of(4096) {
            return Err(EptError::Misaligned(gpa));
        }
        self.set_leaf(gpa, 1, hpa.0 | (perms & RWX) | MEMTYPE_WB << 3)
    }
}
