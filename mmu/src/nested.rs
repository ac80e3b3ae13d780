//! The two-dimensional walk: guest paging whose every reference goes through EPT.
//!
//! SDM Vol. 3C 29.3.2 "EPT Translation Mechanism" (revision in [`crate::SDM_REVISION`]): with
//! EPT, "the addresses in CR3 and in paging-structure entries are guest-physical addresses";
//! each is translated through EPT before the entry is read, then the final guest-physical
//! address is translated. With CR0.PG = 0 the linear address is the guest-physical address and
//! only the EPT walk happens. Guest PAE PDPTEs are loaded when CR3 is loaded, through EPT, by
//! [`load_pdptes`].
//!
//! Fault order follows from the walk order: an EPT fault on a guest paging-structure access
//! (qualification bit 8 = 0) stops the guest walk where it happens; a guest #PF is found from
//! the guest entries before the final access, so it wins over any EPT fault of the final
//! guest-physical address (bit 8 = 1). Guest accessed/dirty updates are data writes to the
//! guest paging structures (SDM 29.3.3.2) and are checked against the EPT permissions of the
//! entry's translation.

use crate::addr::{GuestPhysAddr, LinearAddr, PhysAddr};
use crate::ept::{self, EptAccess, EptContext, EptFault, EptOrigin, EptTranslation};
use crate::paging::{
    self, Access, AccessKind, MemRefs, PageTableMemory, PagingContext, TableAccess, Translation, WalkFault, WalkStop,
};

/// A guest-linear address translated through guest paging and EPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NestedTranslation {
    /// The physical address of the accessed byte.
    pub phys: PhysAddr,
    /// The guest-physical address (guest paging's output).
    pub gpa: GuestPhysAddr,
    /// The guest paging translation (its `phys` is the guest-physical address).
    pub guest: Translation,
    /// The EPT translation of `gpa`.
    pub ept: EptTranslation,
}

impl NestedTranslation {
    /// log2 of the size of the region that this combined translation covers: the smaller of
    /// the guest page and the EPT page (what a TLB may cache as one entry).
    pub fn page_shift(&self) -> u8 {
        self.guest.page_shift.min(self.ept.page_shift)
    }
    /// Whether a write through this translation needs no further flag update: the guest
    /// dirty flag is set and, with EPT accessed/dirty flags, so is the EPT dirty flag.
    pub fn dirty(&self) -> bool {
        self.guest.dirty && self.ept.dirty
    }
}

/// Why a two-dimensional walk failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NestedFault {
    /// Guest paging faults: #PF in the guest (no EPT fault occurred).
    GuestPageFault(WalkFault),
    /// An EPT violation or misconfiguration; `gla` is the linear address being translated (the
    /// guest-linear-address field of the VM exit).
    Ept {
        /// The EPT fault.
        fault: EptFault,
        /// The guest-linear address.
        gla: LinearAddr,
    },
}

/// Guest-physical page of a guest paging-structure entry, with its EPT translation.
#[derive(Clone, Copy)]
struct Cached {
    gpa_page: u64,
    t: EptTranslation,
}

/// [`TableAccess`] for guest paging under EPT: each entry's guest-physical address is
/// translated through EPT (origin [`EptOrigin::GuestPagingStructure`], or `NoLinear` for
/// PDPTE loads) before the entry is read.
struct ThroughEpt<'a, M> {
    mem: &'a mut M,
    ept: &'a EptContext,
    refs: &'a mut MemRefs,
    origin: EptOrigin,
    /// Translations of the entries read in this walk (at most 5), for their A/D updates.
    cache: [Option<Cached>; 5],
    next: usize,
}

impl<'a, M: PageTableMemory> ThroughEpt<'a, M> {
    fn new(mem: &'a mut M, ept: &'a EptContext, refs: &'a mut MemRefs, origin: EptOrigin) -> Self {
        Self { mem, ept, refs, origin, cache: [None; 5], next: 0 }
    }

    fn translate(&mut self, gpa: GuestPhysAddr, kind: AccessKind) -> Result<EptTranslation, EptFault> {
        ept::walk(self.mem, self.ept, gpa, EptAccess { kind, origin: self.origin }, self.refs)
    }
}

impl<M: PageTableMemory> TableAccess for ThroughEpt<'_, M> {
    type Abort = EptFault;

    fn read_entry(&mut self, table_addr: u64, size: u8) -> Result<u64, EptFault> {
        let gpa = GuestPhysAddr(table_addr);
        let t = self.translate(gpa, AccessKind::Read)?;
        self.cache[self.next % self.cache.len()] = Some(Cached { gpa_page: gpa.page_number(), t });
        self.next = self.next.wrapping_add(1);
        self.refs.push(t.phys);
        Ok(self.mem.read_entry(t.phys, size).unwrap_or(paging::all_ones(size)))
    }

    fn write_entry(&mut self, table_addr: u64, size: u8, value: u64) -> Result<(), EptFault> {
        let gpa = GuestPhysAddr(table_addr);
        let access = EptAccess { kind: AccessKind::Write, origin: self.origin };
        let cached = self.cache.iter().flatten().find(|c| c.gpa_page == gpa.page_number()).copied();
        let phys = match cached {
            // The entry was read through this translation a moment ago: check its
            // permissions for the write. (With EPT A/D flags on, the read was already treated
            // as a write, so the EPT dirty flag is set.)
            Some(c) => {
                ept::check(self.ept, gpa, access, c.t.perms)?;
                PhysAddr((c.t.phys.0 & !0xfff) | gpa.page_offset())
            }
            None => self.translate(gpa, AccessKind::Write)?.phys,
        };
        self.mem.write_entry(phys, size, value);
        Ok(())
    }
}

/// Translates the guest-linear address `la` for `access` through guest paging (`guest`) and
/// EPT (`ept`). Every guest paging-structure entry is read through EPT; an EPT fault there has
/// qualification bit 7 = 1 and bit 8 = 0; an EPT fault of the final guest-physical address has
/// bits 7 and 8 = 1 and, with the advanced-information capability, bits 9-11 from the guest
/// translation.
pub fn nested_walk(
    mem: &mut impl PageTableMemory,
    guest: &PagingContext,
    ept: &EptContext,
    la: LinearAddr,
    access: Access,
) -> (Result<NestedTranslation, NestedFault>, MemRefs) {
    let mut refs = MemRefs::default();
    let r = nested(mem, guest, ept, la, access, &mut refs);
    (r, refs)
}

fn nested(
    mem: &mut impl PageTableMemory,
    guest: &PagingContext,
    ept: &EptContext,
    la: LinearAddr,
    access: Access,
    refs: &mut MemRefs,
) -> Result<NestedTranslation, NestedFault> {
    let t = {
        let mut tables = ThroughEpt::new(mem, ept, refs, EptOrigin::GuestPagingStructure);
        paging::walk_through(&mut tables, guest, la, access).map_err(|stop| match stop {
            WalkStop::Fault(f) => NestedFault::GuestPageFault(f),
            WalkStop::Abort(fault) => NestedFault::Ept { fault, gla: la },
        })?
    };
    // Guest paging's output is a guest-physical address (the walker names it `phys`).
    let gpa = GuestPhysAddr(t.phys.0);
    let final_access = EptAccess { kind: access.kind, origin: EptOrigin::GuestLinear { paging: t.rights } };
    let e = ept::walk(mem, ept, gpa, final_access, refs).map_err(|fault| NestedFault::Ept { fault, gla: la })?;
    Ok(NestedTranslation { phys: e.phys, gpa, guest: t, ept: e })
}

/// Loads PAE paging's four PDPTEs from guest-physical `cr3` through EPT (SDM 4.4.1 and
/// 29.3.3.2: these loads "are treated as reads" even with EPT accessed/dirty flags, and have no
/// guest-linear address: qualification bit 7 = 0). `Ok(None)`: a present PDPTE has a reserved
/// bit (the caller raises #GP(0), or fails VM entry).
pub fn load_pdptes(
    mem: &mut impl PageTableMemory,
    ept: &EptContext,
    cr3: u64,
    maxphyaddr: u8,
) -> (Result<Option<[u64; 4]>, EptFault>, MemRefs) {
    let mut refs = MemRefs::default();
    let r = paging::load_pdptes_through(&mut ThroughEpt::new(mem, ept, &mut refs, EptOrigin::NoLinear), cr3, maxphyaddr);
    (r, refs)
}
