//! A translation lookaside buffer, tagged by PCID now and by VPID/EPTP later.
//!
//! Direct-mapped by linear page number; a large page is cached as the 4-KiByte pieces that
//! were used. Entries keep the combined rights, so a hit is checked with
//! [`crate::paging::check_rights`] without walking. Invalidation follows SDM Vol. 3A 4.10.4:
//! INVLPG, MOV to CR3 (all non-global entries of the current PCID, unless bit 63 says keep),
//! CR4.PGE/PCIDE changes (everything), INVPCID's four types.
//!
//! Over-invalidating is always allowed by the SDM; under-invalidating never is. Where a
//! precise flush would cost a scan, this TLB flushes more.

use crate::paging::Rights;

const ENTRIES: usize = 1024;

/// The address-space tag of an entry: PCID, and room for VPID and the EPTP index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tag {
    /// Process-context identifier (0 when CR4.PCIDE=0).
    pub pcid: u16,
    /// Virtual-processor identifier (0 outside VMX non-root operation).
    pub vpid: u16,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    /// Linear page number + 1 (0 = empty).
    vpn1: u64,
    tag: Tag,
    ppn: u64,
    rights: Rights,
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
    /// Whether the dirty flag is known to be set (a write to a clean page must walk).
    pub dirty: bool,
}

/// The TLB.
pub struct Tlb {
    entries: Box<[Entry; ENTRIES]>,
    /// Whether any entry came from a large page (INVLPG then flushes more).
    has_large: bool,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

impl Tlb {
    /// An empty TLB.
    pub fn new() -> Self {
        Self { entries: Box::new([Entry::default(); ENTRIES]), has_large: false }
    }

    #[inline(always)]
    fn slot(vpn: u64) -> usize {
        (vpn as usize) & (ENTRIES - 1)
    }

    /// Looks up the linear page `vpn` for address space `tag`. Global entries match any PCID
    /// (but only their own VPID).
    #[inline(always)]
    pub fn lookup(&self, vpn: u64, tag: Tag) -> Option<TlbHit> {
        let e = &self.entries[Self::slot(vpn)];
        if e.vpn1 == vpn + 1 && e.tag.vpid == tag.vpid && (e.global || e.tag.pcid == tag.pcid) {
            Some(TlbHit { ppn: e.ppn, rights: e.rights, dirty: e.dirty })
        } else {
            None
        }
    }

    /// Caches a translation of linear page `vpn` to physical page `ppn`.
    #[allow(clippy::too_many_arguments)]
    pub fn insert(&mut self, vpn: u64, tag: Tag, ppn: u64, rights: Rights, global: bool, dirty: bool, large: bool) {
        self.has_large |= large;
        self.entries[Self::slot(vpn)] = Entry { vpn1: vpn + 1, tag, ppn, rights, global, dirty, large };
    }

    /// INVLPG / INVPCID type 0: the page `vpn` for `tag`, including global entries
    /// (SDM 4.10.4.1). Large-page pieces elsewhere in the page are flushed too.
    pub fn invalidate_page(&mut self, vpn: u64, tag: Tag) {
        if self.has_large {
            self.invalidate_where(|e| e.tag.vpid == tag.vpid);
            return;
        }
        let e = &mut self.entries[Self::slot(vpn)];
        if e.vpn1 == vpn + 1 && e.tag.vpid == tag.vpid {
            *e = Entry::default();
        }
    }

    /// MOV to CR3 / INVPCID type 1: the non-global entries of `tag` (SDM 4.10.4.1).
    pub fn invalidate_pcid(&mut self, tag: Tag) {
        self.invalidate_where(|e| !e.global && e.tag == tag);
    }

    /// INVPCID type 3 (or CR3 load with PCIDE=0): every non-global entry of `vpid`.
    pub fn invalidate_non_global(&mut self, vpid: u16) {
        self.invalidate_where(|e| !e.global && e.tag.vpid == vpid);
    }

    /// INVPCID type 2, CR4.PGE/PCIDE/PAE/PSE/SMEP changes: every entry of `vpid`.
    pub fn invalidate_vpid(&mut self, vpid: u16) {
        self.invalidate_where(|e| e.tag.vpid == vpid);
    }

    /// Everything (INVEPT all-context, VMXON...).
    pub fn invalidate_all(&mut self) {
        self.entries.fill(Entry::default());
        self.has_large = false;
    }

    fn invalidate_where(&mut self, mut pred: impl FnMut(&Entry) -> bool) {
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
        let a = Tag { pcid: 1, vpid: 0 };
        let b = Tag { pcid: 2, vpid: 0 };
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
        t.insert(5, Tag { pcid: 0, vpid: 1 }, 7, RW, true, true, false);
        assert!(t.lookup(5, Tag { pcid: 0, vpid: 0 }).is_none());
        t.invalidate_vpid(1);
        assert!(t.lookup(5, Tag { pcid: 0, vpid: 1 }).is_none());
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
}
