//! A translation lookaside buffer, tagged by PCID, VPID and EPTP.
//!
//! Direct-mapped by linear page number; a large page is cached as the 4-KiByte pieces that
//! were used. Entries keep the combined rights, so a hit is checked with
//! [`crate::paging::check_rights`] without walking. Invalidation follows SDM Vol. 3A 4.10.4:
//! INVLPG, MOV to CR3 (all non-global entries of the current PCID, unless bit 63 says keep),
//! CR4.PGE/PCIDE changes (everything), INVPCID's four types.
//!
//! In VMX non-root operation with EPT, entries are combined mappings (SDM Vol. 3C 29.4.1
//! "Information That May Be Cached"): linear page to physical page, tagged by VPID, PCID and
//! an EPTP index (the vmx crate numbers the EPTPs it sees, 0 meaning "EPT not in use"), with
//! the guest rights and the EPT permissions ([`crate::ept::EptPerms`]) both kept. With guest
//! paging off the linear address is the guest-physical address, so guest-physical mappings
//! are cached the same way. INVEPT and INVVPID (Vol. 3C chapter 31, and 29.4.3 "Invalidating
//! Cached Translation Information") are [`Tlb::invept`] and [`Tlb::invvpid`].
//!
//! Over-invalidating is always allowed by the SDM; under-invalidating never is. Where a
//! precise flush would cost a scan, this TLB flushes more.

use crate::ept::EptPerms;
use crate::paging::Rights;

const ENTRIES: usize = 1024;

/// The address-space tag of an entry: PCID, VPID and the EPTP index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tag {
    /// Process-context identifier (0 when CR4.PCIDE=0).
    pub pcid: u16,
    /// Virtual-processor identifier (0 outside VMX non-root operation).
    pub vpid: u16,
    /// Index of the EPTP in use, assigned by the vmx crate (0: EPT not in use).
    pub ept: u16,
}

/// INVEPT types (SDM Vol. 3C chapter 31, INVEPT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InveptType {
    /// Type 1: mappings associated with one EPTP (all VPIDs and PCIDs).
    SingleContext,
    /// Type 2: mappings associated with all EPTPs.
    AllContext,
}

/// INVVPID types (SDM Vol. 3C chapter 31, INVVPID).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvvpidType {
    /// Type 0: mappings of one linear address for one VPID (all PCIDs, global ones too).
    IndividualAddress,
    /// Type 1: all mappings of one VPID.
    SingleContext,
    /// Type 2: all mappings of every VPID except 0.
    AllContext,
    /// Type 3: all mappings of one VPID except global translations.
    SingleContextRetainingGlobals,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    /// Linear page number + 1 (0 = empty).
    vpn1: u64,
    tag: Tag,
    ppn: u64,
    rights: Rights,
    ept: EptPerms,
    global: bool,
    dirty: bool,
    large: bool,
}

/// What a hit returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlbHit {
    /// Physical page number.
    pub ppn: u64,
    /// Combined rights.
    pub rights: Rights,
    /// EPT permissions ([`EptPerms::ALL`] for an entry made without EPT); check a hit with
    /// [`EptPerms::allows`].
    pub ept: EptPerms,
    /// Whether the dirty flag is known to be set (a write to a clean page must walk).
    pub dirty: bool,
}

/// The TLB.
pub struct Tlb {
    entries: Box<[Entry; ENTRIES]>,
    /// Whether any entry came from a large page (INVLPG then flushes more).
    has_large: bool,
    /// Bumped by every invalidation (see [`Tlb::generation`]).
    generation: u64,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

impl Tlb {
    /// An empty TLB.
    pub fn new() -> Self {
        Self { entries: Box::new([Entry::default(); ENTRIES]), has_large: false, generation: 0 }
    }

    /// A counter bumped by every invalidation (never by inserts): a cache of translations
    /// made through this TLB (the CPU's jump cache) is current while this is unchanged.
    #[inline(always)]
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Bumps [`Tlb::generation`] without dropping entries: for when state outside the TLB
    /// that caches built on its translations depend on has changed (the CPU's paging context
    /// or debug registers), so that those caches start over.
    #[inline]
    pub fn bump_generation(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    #[inline(always)]
    fn slot(vpn: u64) -> usize {
        (vpn as usize) & (ENTRIES - 1)
    }

    /// Looks up the linear page `vpn` for address space `tag`. Global entries match any PCID
    /// (but only their own VPID and EPTP).
    #[inline(always)]
    pub fn lookup(&self, vpn: u64, tag: Tag) -> Option<TlbHit> {
        let e = &self.entries[Self::slot(vpn)];
        if e.vpn1 == vpn + 1 && e.tag.vpid == tag.vpid && e.tag.ept == tag.ept && (e.global || e.tag.pcid == tag.pcid)
        {
            Some(TlbHit { ppn: e.ppn, rights: e.rights, ept: e.ept, dirty: e.dirty })
        } else {
            None
        }
    }

    /// Caches a translation of linear page `vpn` to physical page `ppn` made without EPT.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(&mut self, vpn: u64, tag: Tag, ppn: u64, rights: Rights, global: bool, dirty: bool, large: bool) {
        self.insert_nested(vpn, tag, ppn, rights, EptPerms::ALL, global, dirty, large);
    }

    /// Caches a combined mapping (guest paging and EPT) of linear page `vpn` to physical page
    /// `ppn`. `large`: either translation used a page larger than 4 KiB. `dirty`: a write
    /// needs no flag update (see [`crate::nested::NestedTranslation::dirty`]).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_nested(
        &mut self,
        vpn: u64,
        tag: Tag,
        ppn: u64,
        rights: Rights,
        ept: EptPerms,
        global: bool,
        dirty: bool,
        large: bool,
    ) {
        self.has_large |= large;
        self.entries[Self::slot(vpn)] = Entry { vpn1: vpn + 1, tag, ppn, rights, ept, global, dirty, large };
    }

    /// INVLPG / INVPCID type 0: the page `vpn` for `tag.vpid`, any PCID and EPTP, including
    /// global entries (SDM 4.10.4.1). Large-page pieces elsewhere in the page are flushed too.
    pub fn invalidate_page(&mut self, vpn: u64, tag: Tag) {
        self.invalidate_vpid_address(tag.vpid, vpn);
    }

    /// INVVPID type 0 (individual address): the linear page `vpn` of `vpid`, for every PCID
    /// and EPTP, global entries included. Large-page pieces elsewhere are flushed too.
    pub fn invalidate_vpid_address(&mut self, vpid: u16, vpn: u64) {
        self.generation = self.generation.wrapping_add(1);
        if self.has_large {
            self.invalidate_where(|e| e.tag.vpid == vpid);
            return;
        }
        let e = &mut self.entries[Self::slot(vpn)];
        if e.vpn1 == vpn.wrapping_add(1) && e.tag.vpid == vpid {
            *e = Entry::default();
        }
    }

    /// MOV to CR3 / INVPCID type 1: the non-global entries of `tag`'s PCID and VPID, for
    /// every EPTP (SDM 4.10.4.1; more than the current EPTP's, which the SDM allows).
    pub fn invalidate_pcid(&mut self, tag: Tag) {
        self.invalidate_where(|e| !e.global && e.tag.pcid == tag.pcid && e.tag.vpid == tag.vpid);
    }

    /// INVPCID type 3 (or CR3 load with PCIDE=0), INVVPID type 3 (single context retaining
    /// globals): every non-global entry of `vpid`.
    pub fn invalidate_non_global(&mut self, vpid: u16) {
        self.invalidate_where(|e| !e.global && e.tag.vpid == vpid);
    }

    /// INVPCID type 2, CR4.PGE/PCIDE/PAE/PSE/SMEP changes, INVVPID type 1 (single context):
    /// every entry of `vpid`.
    pub fn invalidate_vpid(&mut self, vpid: u16) {
        self.invalidate_where(|e| e.tag.vpid == vpid);
    }

    /// INVEPT type 1 (single context): every combined mapping made with EPTP index `ept`, for
    /// every VPID and PCID (SDM 29.4.3.1).
    pub fn invalidate_eptp(&mut self, ept: u16) {
        self.invalidate_where(|e| e.tag.ept == ept);
    }

    /// INVEPT of `kind`: single context for EPTP index `ept`, or every EPTP (which, since
    /// every mapping made under EPT is tagged with one, flushes them all; entries made without
    /// EPT go too, which the SDM allows).
    pub fn invept(&mut self, kind: InveptType, ept: u16) {
        match kind {
            InveptType::SingleContext => self.invalidate_eptp(ept),
            InveptType::AllContext => self.invalidate_all(),
        }
    }

    /// INVVPID of `kind` for `vpid` and, for type 0, the linear address `la` (the vmx crate
    /// checks the operands: VPID 0 and non-canonical addresses fail the instruction).
    pub fn invvpid(&mut self, kind: InvvpidType, vpid: u16, la: u64) {
        match kind {
            InvvpidType::IndividualAddress => self.invalidate_vpid_address(vpid, la >> 12),
            InvvpidType::SingleContext => self.invalidate_vpid(vpid),
            InvvpidType::AllContext => self.invalidate_where(|e| e.tag.vpid != 0),
            InvvpidType::SingleContextRetainingGlobals => self.invalidate_non_global(vpid),
        }
    }

    /// Everything (INVEPT all-context, VMXON...).
    pub fn invalidate_all(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        self.entries.fill(Entry::default());
        self.has_large = false;
    }

    fn invalidate_where(&mut self, mut pred: impl FnMut(&Entry) -> bool) {
        self.generation = self.generation.wrapping_add(1);
        for e in self.entries.iter_mut() {
            if e.vpn1 != 0 && pred(e) {
                *e = Entry::default();
            }
        }
        self.has_large = self.entries.iter().any(|e| e.vpn1 != 0 && e.large);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: Rights = Rights { writable: true, user: false, no_execute: false };

    #[test]
    fn pcid_tagging_and_global_entries() {
        let mut t = Tlb::new();
        let a = Tag { pcid: 1, vpid: 0, ept: 0 };
        let b = Tag { pcid: 2, vpid: 0, ept: 0 };
        t.insert(0x10, a, 0x99, RW, false, true, false);
        t.insert(0x11, a, 0x98, RW, true, true, false);
        assert!(t.lookup(0x10, a).is_some());
        assert!(t.lookup(0x10, b).is_none(), "non-global entry must not match another PCID");
        assert_eq!(t.lookup(0x11, b).map(|h| h.ppn), Some(0x98), "global entries match any PCID");
        t.invalidate_pcid(a);
        assert!(t.lookup(0x10, a).is_none());
        assert!(t.lookup(0x11, a).is_some(), "CR3 load keeps global entries");
        t.invalidate_page(0x11, b);
        assert!(t.lookup(0x11, a).is_none(), "INVLPG removes global entries too");
    }

    #[test]
    fn vpid_separates_address_spaces_even_for_global_entries() {
        let mut t = Tlb::new();
        t.insert(5, Tag { pcid: 0, vpid: 1, ept: 0 }, 7, RW, true, true, false);
        assert!(t.lookup(5, Tag { pcid: 0, vpid: 0, ept: 0 }).is_none());
        t.invalidate_vpid(1);
        assert!(t.lookup(5, Tag { pcid: 0, vpid: 1, ept: 0 }).is_none());
    }

    #[test]
    fn invlpg_inside_a_large_page_flushes_its_pieces() {
        let mut t = Tlb::new();
        let tag = Tag::default();
        t.insert(0x200, tag, 0x400, RW, false, true, true);
        t.insert(0x201, tag, 0x401, RW, false, true, true);
        t.invalidate_page(0x2ff, tag);
        assert!(t.lookup(0x200, tag).is_none());
        assert!(t.lookup(0x201, tag).is_none());
    }

    #[test]
    fn eptp_tag_separates_combined_mappings_and_invept_single_context() {
        let mut t = Tlb::new();
        let e1 = Tag { pcid: 0, vpid: 1, ept: 1 };
        let e2 = Tag { pcid: 0, vpid: 1, ept: 2 };
        let ro = EptPerms(EptPerms::READ);
        t.insert_nested(0x10, e1, 0x50, RW, ro, true, true, false);
        t.insert_nested(0x11, e2, 0x51, RW, EptPerms::ALL, false, true, false);
        let hit = t.lookup(0x10, e1).expect("hit with the same EPTP index");
        assert_eq!(hit.ept, ro);
        assert!(t.lookup(0x10, e2).is_none(), "another EPTP must miss, even for a global entry");
        assert_eq!(t.lookup(0x11, e2).map(|h| h.ept), Some(EptPerms::ALL));
        // INVEPT single context for EPTP 1: every VPID and PCID of it goes, EPTP 2 stays.
        t.insert_nested(0x12, Tag { pcid: 3, vpid: 7, ept: 1 }, 0x52, RW, ro, false, true, false);
        t.invept(InveptType::SingleContext, 1);
        assert!(t.lookup(0x10, e1).is_none());
        assert!(t.lookup(0x12, Tag { pcid: 3, vpid: 7, ept: 1 }).is_none());
        assert!(t.lookup(0x11, e2).is_some());
        t.invept(InveptType::AllContext, 0);
        assert!(t.lookup(0x11, e2).is_none());
    }

    #[test]
    fn invvpid_types() {
        let mut t = Tlb::new();
        let v1 = Tag { pcid: 1, vpid: 1, ept: 1 };
        let v1b = Tag { pcid: 2, vpid: 1, ept: 1 };
        let v2 = Tag { pcid: 1, vpid: 2, ept: 1 };
        let host = Tag { pcid: 0, vpid: 0, ept: 0 };
        let fill = |t: &mut Tlb| {
            t.insert(0x20, v1, 1, RW, false, true, false);
            t.insert(0x21, v1b, 2, RW, true, true, false);
            t.insert(0x22, v2, 3, RW, false, true, false);
            t.insert(0x23, host, 4, RW, false, true, false);
        };
        fill(&mut t);
        // Type 0: one address of one VPID, global entries too; other pages stay.
        t.invvpid(InvvpidType::IndividualAddress, 1, 0x21_abc);
        assert!(t.lookup(0x21, v1b).is_none());
        assert!(t.lookup(0x20, v1).is_some());
        t.invvpid(InvvpidType::IndividualAddress, 2, 0x20_000);
        assert!(t.lookup(0x20, v1).is_some(), "another VPID's address is kept");
        // Type 3: non-global entries of VPID 1, any PCID.
        fill(&mut t);
        t.invvpid(InvvpidType::SingleContextRetainingGlobals, 1, 0);
        assert!(t.lookup(0x20, v1).is_none());
        assert!(t.lookup(0x21, v1b).is_some(), "global entry retained");
        assert!(t.lookup(0x22, v2).is_some());
        // Type 1: everything of VPID 1.
        t.invvpid(InvvpidType::SingleContext, 1, 0);
        assert!(t.lookup(0x21, v1b).is_none());
        assert!(t.lookup(0x22, v2).is_some());
        // Type 2: every VPID but 0.
        fill(&mut t);
        t.invvpid(InvvpidType::AllContext, 0, 0);
        assert!(t.lookup(0x20, v1).is_none() && t.lookup(0x21, v1b).is_none() && t.lookup(0x22, v2).is_none());
        assert!(t.lookup(0x23, host).is_some(), "VPID 0 is not affected");
    }
}
