//! Linear-address translation: 32-bit, PAE, 4-level and 5-level paging.
//!
//! SDM Vol. 3A chapter 4 "Paging" (revision in [`crate::SDM_REVISION`]): 4.3 32-bit paging,
//! 4.4 PAE paging, 4.5 4-level and 5-level paging, 4.6 access rights, 4.7 page-fault
//! exceptions, 4.8 accessed and dirty flags.
//!
//! [`walk`] is pure in the sense of ARCHITECTURE.md: it reads (and, for accessed/dirty flags,
//! writes) paging structures through [`PageTableMemory`], returns a [`Translation`] or a
//! [`WalkFault`] with the #PF error code, and lists the memory references it made.
//!
//! The walker itself ([`walk_through`]) reaches the paging structures through [`TableAccess`],
//! so that the same code serves the two-dimensional walk of a VMX guest under EPT
//! ([`crate::nested`]), where every paging-structure address is guest-physical and is
//! translated through EPT before it is read, and where that translation can abort the walk.

use crate::addr::{LinearAddr, PhysAddr};
use crate::phys::PhysMem;

/// #PF error-code bits (SDM 4.7, Figure 4-12).
pub mod pf {
    /// The fault was a protection violation (0: a not-present page).
    pub const P: u32 = 1 << 0;
    /// The access was a write.
    pub const W: u32 = 1 << 1;
    /// The access was a user-mode access.
    pub const U: u32 = 1 << 2;
    /// A reserved bit was set in some paging-structure entry.
    pub const RSVD: u32 = 1 << 3;
    /// The access was an instruction fetch.
    pub const I: u32 = 1 << 4;
    /// Protection-key violation.
    pub const PK: u32 = 1 << 5;
}

/// Paging-structure entry bits shared by all modes (SDM Tables 4-5 ff).
mod pte {
    pub const P: u64 = 1 << 0;
    pub const RW: u64 = 1 << 1;
    pub const US: u64 = 1 << 2;
    pub const A: u64 = 1 << 5;
    pub const D: u64 = 1 << 6;
    pub const PS: u64 = 1 << 7;
    pub const G: u64 = 1 << 8;
    pub const XD: u64 = 1 << 63;
}

/// Which paging mode translates linear addresses (SDM 4.1.1, Table 4-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PagingMode {
    /// CR0.PG=0: linear = physical.
    Disabled,
    /// CR0.PG=1, CR4.PAE=0.
    Bits32,
    /// CR0.PG=1, CR4.PAE=1, EFER.LME=0.
    Pae,
    /// CR0.PG=1, CR4.PAE=1, EFER.LME=1, CR4.LA57=0.
    Level4,
    /// CR0.PG=1, CR4.PAE=1, EFER.LME=1, CR4.LA57=1.
    Level5,
}

/// Everything from the CPU's control registers that a translation depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagingContext {
    /// The paging mode.
    pub mode: PagingMode,
    /// CR3 (the PCID bits, if any, are ignored here).
    pub cr3: u64,
    /// CR4.PSE: 4-MByte pages in 32-bit paging.
    pub pse: bool,
    /// CR0.WP: supervisor writes honour read-only pages.
    pub wp: bool,
    /// IA32_EFER.NXE: the XD bit is valid.
    pub nxe: bool,
    /// CR4.SMEP.
    pub smep: bool,
    /// CR4.SMAP.
    pub smap: bool,
    /// The modelled CPU's MAXPHYADDR.
    pub maxphyaddr: u8,
    /// PAE paging's four PDPTEs, loaded when CR3 was loaded (SDM 4.4.1).
    pub pdptes: [u64; 4],
}

/// The kind of a memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessKind {
    /// A data read.
    Read,
    /// A data write.
    Write,
    /// An instruction fetch.
    Execute,
}

/// One access to translate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Read, write or fetch.
    pub kind: AccessKind,
    /// A user-mode access: CPL=3 and not an implicit supervisor access (SDM 4.6).
    pub user: bool,
    /// An implicit supervisor access (descriptor tables, TSS...), which SMAP always checks.
    pub implicit_supervisor: bool,
    /// RFLAGS.AC, which lets explicit supervisor accesses to user pages pass SMAP.
    pub ac: bool,
}

impl Access {
    /// An explicit access at privilege `cpl` with RFLAGS.AC = `ac`.
    pub const fn new(kind: AccessKind, cpl: u8, ac: bool) -> Self {
        Self { kind, user: cpl == 3, implicit_supervisor: false, ac }
    }
    /// An implicit supervisor access (SDM 4.6: GDT/LDT/IDT/TSS references).
    pub const fn implicit(kind: AccessKind) -> Self {
        Self { kind, user: false, implicit_supervisor: true, ac: false }
    }
}

/// The access rights of a translation, combined over every level (SDM 4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rights {
    /// R/W=1 at every level.
    pub writable: bool,
    /// U/S=1 at every level.
    pub user: bool,
    /// XD=1 at some level (and EFER.NXE=1).
    pub no_execute: bool,
}

/// A successful translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// The physical address of the accessed byte.
    pub phys: PhysAddr,
    /// log2 of the page size: 12, 21, 22 or 30.
    pub page_shift: u8,
    /// Combined access rights.
    pub rights: Rights,
    /// The final entry's G flag (with CR4.PGE, the TLB keeps it across CR3 loads).
    pub global: bool,
    /// The final entry's dirty flag after this access.
    pub dirty: bool,
}

/// A translation that faults: the #PF error code (SDM 4.7). CR2 is the linear address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkFault {
    /// The page-fault error code.
    pub error_code: u32,
}

/// Room for the longest walk: a two-dimensional walk with 5-level guest paging and 5-level
/// EPT reads 5 guest entries, each after a 5-entry EPT walk, then walks EPT once more for the
/// final guest-physical address: 5 * (5 + 1) + 5 = 35 references.
pub const MAX_MEM_REFS: usize = 35;

/// The paging-structure references one walk made, in order (for the cycle model and traces).
/// These are physical addresses of the entries read; for a walk under EPT they include the
/// EPT entries, each group before the guest entry it translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemRefs {
    refs: [PhysAddr; MAX_MEM_REFS],
    len: u8,
}

impl Default for MemRefs {
    fn default() -> Self {
        Self { refs: [PhysAddr(0); MAX_MEM_REFS], len: 0 }
    }
}

impl MemRefs {
    pub(crate) fn push(&mut self, a: PhysAddr) {
        if (self.len as usize) < self.refs.len() {
            self.refs[self.len as usize] = a;
            self.len += 1;
        }
    }
    /// The addresses of the entries read, outermost first.
    pub fn as_slice(&self) -> &[PhysAddr] {
        &self.refs[..self.len as usize]
    }
}

/// What a walk needs from memory: entry reads and the atomic setting of A/D flags.
pub trait PageTableMemory {
    /// Reads a 4- or 8-byte paging-structure entry; `None` if the address is not RAM.
    fn read_entry(&mut self, addr: PhysAddr, size: u8) -> Option<u64>;
    /// Writes back an entry with accessed/dirty flags set.
    fn write_entry(&mut self, addr: PhysAddr, size: u8, value: u64);
}

impl PageTableMemory for PhysMem {
    fn read_entry(&mut self, addr: PhysAddr, size: u8) -> Option<u64> {
        self.read_le(addr, size)
    }
    fn write_entry(&mut self, addr: PhysAddr, size: u8, value: u64) {
        self.write_le(addr, size, value);
    }
}

/// How the walker reaches the paging structures. `table_addr` is an address in the space that
/// CR3 and the entries' address fields name: physical without EPT, guest-physical under EPT
/// (SDM Vol. 3C 29.3.2: "the addresses in CR3 and in paging-structure entries are
/// guest-physical addresses"). An implementation may abort the walk (an EPT violation or
/// misconfiguration on the way to an entry); the walker then stops at once.
pub trait TableAccess {
    /// Why a walk was aborted ([`core::convert::Infallible`] when it cannot be).
    type Abort;
    /// Reads a 4- or 8-byte entry (a data read, SDM 29.3.3.2: "reads by the logical processor
    /// of guest paging structures ... are considered to be data reads"). Memory that is not RAM
    /// reads as all ones.
    fn read_entry(&mut self, table_addr: u64, size: u8) -> Result<u64, Self::Abort>;
    /// Writes back an entry with accessed/dirty flags set (a data write). The walker only
    /// writes an entry it has read during the same walk.
    fn write_entry(&mut self, table_addr: u64, size: u8, value: u64) -> Result<(), Self::Abort>;
}

/// Why [`walk_through`] stopped without a translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkStop<A> {
    /// The guest paging structures do not allow the access: #PF.
    Fault(WalkFault),
    /// The [`TableAccess`] aborted the walk.
    Abort(A),
}

impl<A> From<WalkFault> for WalkStop<A> {
    fn from(f: WalkFault) -> Self {
        WalkStop::Fault(f)
    }
}

/// [`TableAccess`] for paging without EPT: table addresses are physical; every entry read is
/// listed in `refs`.
struct Direct<'a, M> {
    mem: &'a mut M,
    refs: &'a mut MemRefs,
}

impl<M: PageTableMemory> TableAccess for Direct<'_, M> {
    type Abort = core::convert::Infallible;
    fn read_entry(&mut self, table_addr: u64, size: u8) -> Result<u64, Self::Abort> {
        let addr = PhysAddr(table_addr);
        self.refs.push(addr);
        Ok(self.mem.read_entry(addr, size).unwrap_or(all_ones(size)))
    }
    fn write_entry(&mut self, table_addr: u64, size: u8, value: u64) -> Result<(), Self::Abort> {
        self.mem.write_entry(PhysAddr(table_addr), size, value);
        Ok(())
    }
}

/// [`TableAccess`] for paging without EPT that lists nothing (see [`walk_unrecorded`]).
struct Unrecorded<'a, M> {
    mem: &'a mut M,
}

impl<M: PageTableMemory> TableAccess for Unrecorded<'_, M> {
    type Abort = core::convert::Infallible;
    #[inline]
    fn read_entry(&mut self, table_addr: u64, size: u8) -> Result<u64, Self::Abort> {
        Ok(self.mem.read_entry(PhysAddr(table_addr), size).unwrap_or(all_ones(size)))
    }
    #[inline]
    fn write_entry(&mut self, table_addr: u64, size: u8, value: u64) -> Result<(), Self::Abort> {
        self.mem.write_entry(PhysAddr(table_addr), size, value);
        Ok(())
    }
}

/// What a read from outside RAM returns: all ones of `size` bytes.
pub(crate) fn all_ones(size: u8) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (8 * size as u32)) - 1 }
}

/// Checks combined rights against an access (SDM 4.6). Returns the #PF error code on failure.
/// The TLB calls this on a hit, the walker at the end of a walk.
pub fn check_rights(rights: Rights, access: Access, ctx: &PagingContext) -> Result<(), u32> {
    let supervisor = !access.user;
    let ok = match access.kind {
        AccessKind::Execute => {
            !rights.no_execute && !(supervisor && rights.user && ctx.smep) && !(access.user && !rights.user)
        }
        AccessKind::Read | AccessKind::Write => {
            let write = access.kind == AccessKind::Write;
            if access.user {
                rights.user && (!write || rights.writable)
            } else {
                let smap_blocks = rights.user && ctx.smap && (access.implicit_supervisor || !access.ac);
                !smap_blocks && (!write || rights.writable || !ctx.wp)
            }
        }
    };
    if ok { Ok(()) } else { Err(error_code(access) | pf::P) }
}

/// The error-code bits that describe the access itself (W, U, I).
pub fn error_code(access: Access) -> u32 {
    let mut code = 0;
    if access.kind == AccessKind::Write {
        code |= pf::W;
    }
    if access.user {
        code |= pf::U;
    }
    if access.kind == AccessKind::Execute {
        code |= pf::I;
    }
    code
}

/// Bits 51..MAXPHYADDR of an entry, which must be zero.
fn high_reserved(maxphyaddr: u8) -> u64 {
    let top = 52u32;
    let lo = maxphyaddr as u32;
    if lo >= top { 0 } else { ((1u64 << (top - lo)) - 1) << lo }
}

/// Physical-address bits 51:12 of an entry.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Translates `la` for `access` (SDM 4.3-4.5). The I/D error-code bit is reported only when
/// the fault is for a fetch and NX or SMEP could apply (PAE/4-level/5-level with EFER.NXE=1
/// or CR4.SMEP=1), as SDM 4.7 says.
pub fn walk(
    mem: &mut impl PageTableMemory,
    ctx: &PagingContext,
    la: LinearAddr,
    access: Access,
) -> (Result<Translation, WalkFault>, MemRefs) {
    let mut refs = MemRefs::default();
    let r = walk_through(&mut Direct { mem, refs: &mut refs }, ctx, la, access);
    let r = r.map_err(|stop| match stop {
        WalkStop::Fault(f) => f,
        WalkStop::Abort(never) => match never {},
    });
    (r, refs)
}

/// [`walk`] without the list of memory references, for callers that do not use it (the
/// CPU's TLB miss path): the same walker, the same result.
pub fn walk_unrecorded(
    mem: &mut impl PageTableMemory,
    ctx: &PagingContext,
    la: LinearAddr,
    access: Access,
) -> Result<Translation, WalkFault> {
    walk_through(&mut Unrecorded { mem }, ctx, la, access).map_err(|stop| match stop {
        WalkStop::Fault(f) => f,
        WalkStop::Abort(never) => match never {},
    })
}

/// [`walk`] over any [`TableAccess`]: the one guest page walker, used directly and under EPT.
/// With paging disabled the translation is the identity, with every right (SDM 4.1.1; and
/// Table 28-7: "if CR0.PG = 0, the translation of every linear address is a user-mode linear
/// address", read/write and executable).
pub fn walk_through<T: TableAccess>(
    t: &mut T,
    ctx: &PagingContext,
    la: LinearAddr,
    access: Access,
) -> Result<Translation, WalkStop<T::Abort>> {
    let r = match ctx.mode {
        PagingMode::Disabled => Ok(Translation {
            phys: PhysAddr(la.0),
            page_shift: 12,
            rights: Rights { writable: true, user: true, no_execute: false },
            global: false,
            dirty: true,
        }),
        PagingMode::Bits32 => walk32(t, ctx, la, access),
        PagingMode::Pae | PagingMode::Level4 | PagingMode::Level5 => walk64(t, ctx, la, access),
    };
    r.map_err(|stop| match stop {
        WalkStop::Fault(mut f) => {
            let fetch_bit_defined = ctx.mode != PagingMode::Bits32 && (ctx.nxe || ctx.smep);
            if access.kind == AccessKind::Execute && !fetch_bit_defined {
                f.error_code &= !pf::I;
            }
            WalkStop::Fault(f)
        }
        abort => abort,
    })
}

fn not_present(access: Access) -> WalkFault {
    WalkFault { error_code: error_code(access) }
}

fn reserved(access: Access) -> WalkFault {
    WalkFault { error_code: error_code(access) | pf::P | pf::RSVD }
}

/// Sets A on every used entry and D on the leaf for a write (SDM 4.8), after rights passed.
/// Returns the leaf's dirty flag.
fn set_flags<T: TableAccess>(t: &mut T, used: &[(u64, u64)], size: u8, write: bool) -> Result<bool, WalkStop<T::Abort>> {
    let last = used.len().saturating_sub(1);
    let mut dirty = false;
    for (i, &(addr, entry)) in used.iter().enumerate() {
        let mut new = entry | pte::A;
        if i == last {
            if write {
                new |= pte::D;
            }
            dirty = new & pte::D != 0;
        }
        if new != entry {
            t.write_entry(addr, size, new).map_err(WalkStop::Abort)?;
        }
    }
    Ok(dirty)
}

/// SDM 4.3: 32-bit paging, with 4-MByte pages when CR4.PSE=1 (PSE-36 address bits).
fn walk32<T: TableAccess>(
    t: &mut T,
    ctx: &PagingContext,
    la: LinearAddr,
    access: Access,
) -> Result<Translation, WalkStop<T::Abort>> {
    let la32 = la.0 as u32 as u64;
    let pde_addr = (ctx.cr3 & 0xffff_f000) | ((la32 >> 22) << 2);
    let pde = t.read_entry(pde_addr, 4).map_err(WalkStop::Abort)?;
    if pde & pte::P == 0 {
        return Err(not_present(access).into());
    }
    let mut rights = Rights { writable: pde & pte::RW != 0, user: pde & pte::US != 0, no_execute: false };
    if ctx.pse && pde & pte::PS != 0 {
        // 4-MByte page: bits 20:13 hold PA bits 39:32 (PSE-36), up to MAXPHYADDR; bit 21 and
        // the bits above MAXPHYADDR-32 are reserved (SDM Table 4-4).
        let pa_hi_bits = (ctx.maxphyaddr.min(40) as u32).saturating_sub(32);
        let rsvd = (((1u64 << 9) - 1) << 13) & !(((1u64 << pa_hi_bits) - 1) << 13);
        if pde & rsvd != 0 {
            return Err(reserved(access).into());
        }
        check_rights(rights, access, ctx).map_err(|error_code| WalkFault { error_code })?;
        let base = (pde & 0xffc0_0000) | (((pde >> 13) & 0xff) << 32);
        let dirty = set_flags(t, &[(pde_addr, pde)], 4, access.kind == AccessKind::Write)?;
        return Ok(Translation {
            phys: PhysAddr(base | (la32 & 0x3f_ffff)),
            page_shift: 22,
            rights,
            global: pde & pte::G != 0,
            dirty,
        });
    }
    let pte_addr = (pde & 0xffff_f000) | (((la32 >> 12) & 0x3ff) << 2);
    let pte = t.read_entry(pte_addr, 4).map_err(WalkStop::Abort)?;
    if pte & pte::P == 0 {
        return Err(not_present(access).into());
    }
    rights.writable &= pte & pte::RW != 0;
    rights.user &= pte & pte::US != 0;
    check_rights(rights, access, ctx).map_err(|error_code| WalkFault { error_code })?;
    let dirty = set_flags(t, &[(pde_addr, pde), (pte_addr, pte)], 4, access.kind == AccessKind::Write)?;
    Ok(Translation {
        phys: PhysAddr((pte & 0xffff_f000) | (la32 & 0xfff)),
        page_shift: 12,
        rights,
        global: pte & pte::G != 0,
        dirty,
    })
}

/// Whether a PAE PDPTE has reserved bits set (SDM 4.4.1, Table 4-8): bits 2:1, 8:5 and
/// 63:MAXPHYADDR. MOV to CR3 (and the like) raises #GP when a present PDPTE fails this.
pub fn pdpte_reserved(pdpte: u64, maxphyaddr: u8) -> bool {
    pdpte & pte::P != 0 && pdpte & (0x6 | 0x1e0 | pte::XD | high_reserved(maxphyaddr) | (0xfffu64 << 52)) != 0
}

/// Loads PAE paging's four PDPTEs from the 32-byte-aligned table at CR3 (SDM 4.4.1).
/// `None` if a present PDPTE has a reserved bit set (the caller raises #GP(0)).
pub fn load_pdptes(mem: &mut impl PageTableMemory, cr3: u64, maxphyaddr: u8) -> Option<[u64; 4]> {
    let mut refs = MemRefs::default();
    match load_pdptes_through(&mut Direct { mem, refs: &mut refs }, cr3, maxphyaddr) {
        Ok(p) => p,
        Err(never) => match never {},
    }
}

/// [`load_pdptes`] over any [`TableAccess`] (under EPT: [`crate::nested::load_pdptes`]).
pub fn load_pdptes_through<T: TableAccess>(t: &mut T, cr3: u64, maxphyaddr: u8) -> Result<Option<[u64; 4]>, T::Abort> {
    let base = cr3 & 0xffff_ffe0;
    let mut out = [0u64; 4];
    for (i, e) in out.iter_mut().enumerate() {
        *e = t.read_entry(base + 8 * i as u64, 8)?;
        if pdpte_reserved(*e, maxphyaddr) {
            return Ok(None);
        }
    }
    Ok(Some(out))
}

/// SDM 4.4 (PAE) and 4.5 (4-level and 5-level): 64-bit entries, 9 address bits a level.
fn walk64<T: TableAccess>(
    t: &mut T,
    ctx: &PagingContext,
    la: LinearAddr,
    access: Access,
) -> Result<Translation, WalkStop<T::Abort>> {
    let xd_rsvd = if ctx.nxe { 0 } else { pte::XD };
    let hi_rsvd = high_reserved(ctx.maxphyaddr) | xd_rsvd;
    let mut rights = Rights { writable: true, user: true, no_execute: false };
    let mut used: [(u64, u64); 5] = [(0, 0); 5];
    let mut n = 0usize;

    // (level shift, table base) for the first level walked from memory.
    let (mut shift, mut table) = match ctx.mode {
        PagingMode::Level5 => (48u32, ctx.cr3 & ADDR_MASK),
        PagingMode::Level4 => (39u32, ctx.cr3 & ADDR_MASK),
        _ => {
            // PAE: the PDPTE comes from the PDPTE registers, not memory (SDM 4.4.1).
            let pdpte = ctx.pdptes[((la.0 as u32) >> 30) as usize];
            if pdpte & pte::P == 0 {
                return Err(not_present(access).into());
            }
            (21u32, pdpte & ADDR_MASK)
        }
    };
    let la_bits = if ctx.mode == PagingMode::Pae { la.0 & 0xffff_ffff } else { la.0 };
    loop {
        let index = (la_bits >> shift) & 0x1ff;
        let addr = table | (index << 3);
        let entry = t.read_entry(addr, 8).map_err(WalkStop::Abort)?;
        if entry & pte::P == 0 {
            return Err(not_present(access).into());
        }
        let large = entry & pte::PS != 0;
        let mut rsvd = hi_rsvd;
        if large && shift >= 39 {
            // PS is reserved in PML5Es and PML4Es (SDM Tables 4-14, 4-15).
            rsvd |= pte::PS;
        } else if large && shift > 12 {
            // Bits (shift-1):13 of a large-page entry are reserved (PAT is bit 12).
            rsvd |= ((1u64 << shift) - 1) & !((1u64 << 13) - 1);
        }
        if entry & rsvd != 0 {
            return Err(reserved(access).into());
        }
        rights.writable &= entry & pte::RW != 0;
        rights.user &= entry & pte::US != 0;
        rights.no_execute |= ctx.nxe && entry & pte::XD != 0;
        if let Some(slot) = used.get_mut(n) {
            *slot = (addr, entry);
            n += 1;
        }
        if shift == 12 || large {
            check_rights(rights, access, ctx).map_err(|error_code| WalkFault { error_code })?;
            let dirty = set_flags(t, &used[..n], 8, access.kind == AccessKind::Write)?;
            let base = entry & ADDR_MASK & !((1u64 << shift) - 1);
            return Ok(Translation {
                phys: PhysAddr(base | (la_bits & ((1u64 << shift) - 1))),
                page_shift: shift as u8,
                rights,
                global: entry & pte::G != 0,
                dirty,
            });
        }
        table = entry & ADDR_MASK;
        shift -= 9;
    }
}
