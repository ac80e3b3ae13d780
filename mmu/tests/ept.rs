//! EPT walker, two-dimensional walk and EPTP checks, against hand-built tables.
//!
//! Expected values come from the SDM's definitions (Vol. 3C 29.3.2 entry formats, 29.3.3.1
//! misconfigurations, 29.3.3.2 violations, 29.3.4 A/D flags, Table 28-7 exit qualification),
//! computed by hand from the permissions each test sets.

use hvbench_mmu::ept::{
    EptAccess, EptCaps, EptContext, EptFault, EptOrigin, EptPerms, EptPointer, EptpError, ept_walk, qual,
};
use hvbench_mmu::nested::{NestedFault, load_pdptes, nested_walk};
use hvbench_mmu::paging::{Access, AccessKind, PagingContext, PagingMode, Rights};
use hvbench_mmu::{GuestPhysAddr, LinearAddr, PhysAddr, PhysMem};

const R: u64 = 1;
const W: u64 = 2;
const X: u64 = 4;
const RWX: u64 = 7;
const UX: u64 = 1 << 10;
const PS: u64 = 1 << 7;
const A: u64 = 1 << 8;
const D: u64 = 1 << 9;
const WB: u64 = 6 << 3;

// EPT tables (host-physical).
const PML5: u64 = 0x10_0000;
const PML4: u64 = 0x10_1000;
const PDPT: u64 = 0x10_2000;
const PD: u64 = 0x10_3000;
const PT: u64 = 0x10_4000;
/// EPTP: WB (6), page-walk length 4 (bits 5:3 = 3).
const EPTP4: u64 = PML4 | 6 | (3 << 3);
const EPTP5: u64 = PML5 | 6 | (4 << 3);
const AD: u64 = 1 << 6;

fn mem() -> PhysMem {
    PhysMem::new(16 << 20).unwrap()
}
fn set(m: &mut PhysMem, a: u64, v: u64) {
    assert!(m.write_le(PhysAddr(a), 8, v));
}
fn get(m: &PhysMem, a: u64) -> u64 {
    m.read_le(PhysAddr(a), 8).unwrap()
}
fn ctx(eptp: u64) -> EptContext {
    EptContext { eptp: EptPointer(eptp), caps: EptCaps::ALL, mbec: false, maxphyaddr: 39 }
}
fn idx(gpa: u64, shift: u32) -> u64 {
    ((gpa >> shift) & 0x1ff) * 8
}
/// Entry addresses of the 4-level chain for `gpa`: PML4E, PDPTE, PDE, PTE.
fn slots(gpa: u64) -> [u64; 4] {
    [PML4 + idx(gpa, 39), PDPT + idx(gpa, 30), PD + idx(gpa, 21), PT + idx(gpa, 12)]
}
/// Writes a 4-level chain for `gpa`: the upper entries with `upper` permission bits, the PTE.
fn chain4(m: &mut PhysMem, gpa: u64, upper: [u64; 3], pte: u64) {
    let s = slots(gpa);
    set(m, s[0], PDPT | upper[0]);
    set(m, s[1], PD | upper[1]);
    set(m, s[2], PT | upper[2]);
    set(m, s[3], pte);
}
fn plain(kind: AccessKind) -> EptAccess {
    EptAccess { kind, origin: EptOrigin::NoLinear }
}
fn linear(kind: AccessKind, user: bool, writable: bool, no_execute: bool) -> EptAccess {
    EptAccess { kind, origin: EptOrigin::GuestLinear { paging: Rights { writable, user, no_execute } } }
}
fn violation(r: Result<hvbench_mmu::ept::EptTranslation, EptFault>) -> (u64, u64) {
    match r {
        Err(EptFault::Violation { gpa, qualification }) => (gpa.0, qualification.to_qualification()),
        other => panic!("expected an EPT violation, got {other:?}"),
    }
}
fn is_misconfig(r: &Result<hvbench_mmu::ept::EptTranslation, EptFault>) -> bool {
    matches!(r, Err(EptFault::Misconfig { .. }))
}

#[test]
fn four_level_translation_and_refs() {
    let mut m = mem();
    let gpa = 0x4000_5678u64; // PML4 0, PDPT 1, PD 0, PT 5
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | RWX | WB);
    let (r, refs) = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read));
    let t = r.unwrap();
    assert_eq!(t.phys, PhysAddr(0x80_0678));
    assert_eq!(t.page_shift, 12);
    assert_eq!(t.memory_type, 6);
    assert_eq!(t.perms, EptPerms(7));
    let want: Vec<PhysAddr> = slots(gpa).iter().map(|&a| PhysAddr(a)).collect();
    assert_eq!(refs.as_slice(), &want[..]);
    // EPTP bit 6 = 0: no flag is written.
    for s in slots(gpa) {
        assert_eq!(get(&m, s) & (A | D), 0);
    }
}

#[test]
fn five_level_translation_and_gpa_beyond_4_level_reach() {
    let mut m = mem();
    let gpa = (1u64 << 48) | 0x4000_5678;
    set(&mut m, PML5 + idx(gpa, 48), PML4 | RWX);
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | RWX | WB);
    let (r, refs) = ept_walk(&mut m, &ctx(EPTP5), GuestPhysAddr(gpa), plain(AccessKind::Write));
    assert_eq!(r.unwrap().phys, PhysAddr(0x80_0678));
    assert_eq!(refs.as_slice().len(), 5);
    assert_eq!(refs.as_slice()[0], PhysAddr(PML5 + 8));
    // 4-level EPT and GPA bits 51:48 set: violation, bits 3-6 = 0, nothing read.
    let (r, refs) = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Write));
    assert_eq!(violation(r), (gpa, qual::WRITE));
    assert!(refs.as_slice().is_empty());
}

#[test]
fn large_pages_2m_and_1g() {
    let mut m = mem();
    let gpa = 0x4000_0000u64 | 0x12_3456; // PDPT 1, PD 0 -> 2M page
    let s = slots(gpa);
    set(&mut m, s[0], PDPT | RWX);
    set(&mut m, s[1], PD | RWX);
    set(&mut m, s[2], 0x60_0000 | PS | RWX | WB | (1 << 6));
    let t = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0.unwrap();
    assert_eq!((t.phys, t.page_shift, t.ignore_pat), (PhysAddr(0x72_3456), 21, true));
    let mut c = ctx(EPTP4);
    c.caps.page_2m = false;
    assert!(is_misconfig(&ept_walk(&mut m, &c, GuestPhysAddr(gpa), plain(AccessKind::Read)).0));

    // 1-GByte page at PDPTE index 1, mapping host 3 GiB (beyond RAM: the walk only computes it).
    set(&mut m, s[1], 0xC000_0000 | PS | RW_ | WB);
    let t = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Write)).0.unwrap();
    assert_eq!((t.phys, t.page_shift), (PhysAddr(0xC012_3456), 30));
    let mut c = ctx(EPTP4);
    c.caps.page_1g = false;
    assert!(is_misconfig(&ept_walk(&mut m, &c, GuestPhysAddr(gpa), plain(AccessKind::Read)).0));
}
const RW_: u64 = R | W;

#[test]
fn every_misconfiguration_condition() {
    let gpa = 0x4000_5000u64;
    let pte_ok = 0x80_0000 | RWX | WB;
    // (description, upper entries, pte, caps tweak)
    let cases: Vec<(&str, [u64; 3], u64)> = vec![
        ("PTE write-only 010b", [RWX; 3], 0x80_0000 | W | WB),
        ("PTE write/execute 110b", [RWX; 3], 0x80_0000 | W | X | WB),
        ("PML4E write-only", [W, RWX, RWX], pte_ok),
        ("PDE write/execute", [RWX, RWX, W | X], pte_ok),
        ("PTE bit 39 (>= MAXPHYADDR 39)", [RWX; 3], pte_ok | (1 << 39)),
        ("PTE bit 51", [RWX; 3], pte_ok | (1 << 51)),
        ("PML4E bit 3", [RWX | (1 << 3), RWX, RWX], pte_ok),
        ("PML4E bit 7", [RWX | PS, RWX, RWX], pte_ok),
        ("PDPTE (table) bit 6", [RWX, RWX | (1 << 6), RWX], pte_ok),
        ("PDE (table) bit 5", [RWX, RWX, RWX | (1 << 5)], pte_ok),
        ("PDE (table) bit 3", [RWX, RWX, RWX | (1 << 3)], pte_ok),
        ("PDPTE (table) bit 4", [RWX, RWX | (1 << 4), RWX], pte_ok),
        ("PML4E bit 6", [RWX | (1 << 6), RWX, RWX], pte_ok),
        ("PDE (table) bit 45", [RWX, RWX, RWX | (1 << 45)], pte_ok),
        ("PTE memory type 2", [RWX; 3], 0x80_0000 | RWX | (2 << 3)),
        ("PTE memory type 3", [RWX; 3], 0x80_0000 | RWX | (3 << 3)),
        ("PTE memory type 7", [RWX; 3], 0x80_0000 | RWX | (7 << 3)),
    ];
    for (what, upper, pte) in cases {
        let mut m = mem();
        chain4(&mut m, gpa, upper, pte);
        let r = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0;
        assert_eq!(r, Err(EptFault::Misconfig { gpa: GuestPhysAddr(gpa) }), "{what}");
    }
    // Valid memory types 0, 1, 4, 5, 6 translate; bit 7 of a PTE and bits 11:10 are ignored.
    for mt in [0u64, 1, 4, 5, 6] {
        let mut m = mem();
        chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | RWX | (mt << 3) | PS | (3 << 10));
        let t = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0.unwrap();
        assert_eq!(t.memory_type as u64, mt);
    }
    // Large-page reserved address bits: 2M PDE bit 12, 1G PDPTE bit 29.
    let mut m = mem();
    let s = slots(gpa);
    set(&mut m, s[0], PDPT | RWX);
    set(&mut m, s[1], PD | RWX);
    set(&mut m, s[2], 0x60_0000 | PS | RWX | WB | (1 << 12));
    assert!(is_misconfig(&ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0));
    set(&mut m, s[1], 0x4000_0000 | PS | RWX | WB | (1 << 29));
    assert!(is_misconfig(&ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0));
    // The memory type of a large leaf is checked too.
    set(&mut m, s[1], 0x4000_0000 | PS | RWX | (7 << 3));
    assert!(is_misconfig(&ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0));
}

#[test]
fn misconfiguration_wins_over_violation_and_not_present_ignores_reserved_bits() {
    let gpa = 0x4000_5000u64;
    let mut m = mem();
    // PML4E read-only: a write would violate, but the PTE below is misconfigured.
    chain4(&mut m, gpa, [R, RWX, RWX], 0x80_0000 | RWX | (2 << 3));
    let r = ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Write)).0;
    assert!(is_misconfig(&r));
    // A not-present PTE (bits 2:0 = 000) with reserved bits and a bad memory type: violation.
    chain4(&mut m, gpa, [RWX; 3], (1 << 45) | (7 << 3) | PS);
    assert_eq!(violation(ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), plain(AccessKind::Read)).0), (gpa, qual::READ));
}

#[test]
fn execute_only_with_and_without_the_capability() {
    let gpa = 0x4000_5123u64;
    let mut m = mem();
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | X | WB);
    let mut c = ctx(EPTP4);
    c.caps.execute_only = false;
    assert!(is_misconfig(&ept_walk(&mut m, &c, GuestPhysAddr(gpa), plain(AccessKind::Execute)).0));
    c.caps.execute_only = true;
    assert_eq!(ept_walk(&mut m, &c, GuestPhysAddr(gpa), plain(AccessKind::Execute)).0.unwrap().phys, PhysAddr(0x80_0123));
    // A read of an execute-only page: bit 0 (read), bit 5 (executable); not readable.
    let (g, q) = violation(ept_walk(&mut m, &c, GuestPhysAddr(gpa), plain(AccessKind::Read)).0);
    assert_eq!((g, q), (gpa, 0b10_0001));
    // An execute-only upper entry is checked the same way.
    chain4(&mut m, gpa, [X, RWX, RWX], 0x80_0000 | RWX | WB);
    c.caps.execute_only = false;
    assert!(is_misconfig(&ept_walk(&mut m, &c, GuestPhysAddr(gpa), plain(AccessKind::Execute)).0));
}

#[test]
fn violation_qualifications() {
    let gpa = 0x4000_5000u64;
    let pte = |p: u64| 0x80_0000 | p | WB;
    // (upper, pte perms, access, expected qualification)
    let cases: Vec<([u64; 3], u64, EptAccess, u64)> = vec![
        // Not present PTE, read without linear address: only bit 0; bits 3-6 = 0.
        ([RWX; 3], 0, plain(AccessKind::Read), qual::READ),
        // The same for the translation of a linear address with advanced information:
        // bits 0, 7, 8 and bit 10 (paging maps it read/write); supervisor address, executable.
        ([RWX; 3], 0, linear(AccessKind::Read, false, true, false), 0x1 | 0x80 | 0x100 | 0x400),
        // Write to R+X: bit 1 | readable (3) | executable (5).
        ([RWX; 3], R | X, plain(AccessKind::Write), 0x2 | 0x8 | 0x20),
        // Fetch from R+W: bit 2 | readable | writable.
        ([RWX; 3], R | W, plain(AccessKind::Execute), 0x4 | 0x8 | 0x10),
        // Read-only PML4E ANDs into bits 3-5: write -> bit 1 | readable.
        ([R, RWX, RWX], RWX, plain(AccessKind::Write), 0x2 | 0x8),
        // Fetch with the linear address user, read-only and execute-disable (bits 9, 11).
        ([RWX; 3], R, linear(AccessKind::Execute, true, false, true), 0x4 | 0x8 | 0x80 | 0x100 | 0x200 | 0x800),
        // Not-present upper entry: bits 3-6 = 0.
        ([RWX, 0, RWX], RWX, linear(AccessKind::Write, true, true, false), 0x2 | 0x80 | 0x100 | 0x200 | 0x400),
    ];
    for (i, (upper, p, access, want)) in cases.into_iter().enumerate() {
        let mut m = mem();
        chain4(&mut m, gpa, upper, pte(p));
        let got = violation(ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), access).0);
        assert_eq!(got, (gpa, want), "case {i}: {got:x?}");
    }
    // Without advanced VM-exit information bits 9-11 stay 0.
    let mut m = mem();
    chain4(&mut m, gpa, [RWX; 3], pte(R));
    let mut c = ctx(EPTP4);
    c.caps.advanced_exit_info = false;
    let got = violation(ept_walk(&mut m, &c, GuestPhysAddr(gpa), linear(AccessKind::Write, true, true, true)).0);
    assert_eq!(got.1, 0x2 | 0x8 | 0x80 | 0x100);
}

#[test]
fn accessed_and_dirty_flags() {
    let gpa = 0x4000_5000u64;
    let mut m = mem();
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | RWX | WB);
    let s = slots(gpa);
    // EPTP bit 6 = 1: a read sets A everywhere, D nowhere.
    let t = ept_walk(&mut m, &ctx(EPTP4 | AD), GuestPhysAddr(gpa), plain(AccessKind::Read)).0.unwrap();
    assert!(!t.dirty);
    for a in s {
        assert_eq!(get(&m, a) & (A | D), A, "{a:#x}");
    }
    // A write sets D in the leaf only.
    let t = ept_walk(&mut m, &ctx(EPTP4 | AD), GuestPhysAddr(gpa), plain(AccessKind::Write)).0.unwrap();
    assert!(t.dirty);
    for a in &s[..3] {
        assert_eq!(get(&m, *a) & (A | D), A);
    }
    assert_eq!(get(&m, s[3]) & (A | D), A | D);
    // A guest paging-structure read is treated as a write: D set on its leaf.
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | RWX | WB);
    let ps = EptAccess { kind: AccessKind::Read, origin: EptOrigin::GuestPagingStructure };
    ept_walk(&mut m, &ctx(EPTP4 | AD), GuestPhysAddr(gpa), ps).0.unwrap();
    assert_eq!(get(&m, s[3]) & (A | D), A | D);
    // ... and needs write permission: read-only leaf -> violation with bits 0 and 1 (Table
    // 28-7 note), readable, executable, guest-linear address valid, bit 8 = 0.
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | R | X | WB);
    assert_eq!(violation(ept_walk(&mut m, &ctx(EPTP4 | AD), GuestPhysAddr(gpa), ps).0).1, 0x1 | 0x2 | 0x8 | 0x20 | 0x80);
    // Without EPT A/D the same read passes and nothing is written.
    assert!(ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), ps).0.is_ok());
    assert_eq!(get(&m, s[3]) & (A | D), 0);
    // A faulting walk sets no flag.
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | R | WB);
    assert!(ept_walk(&mut m, &ctx(EPTP4 | AD), GuestPhysAddr(gpa), plain(AccessKind::Write)).0.is_err());
    assert_eq!(get(&m, s[0]) & A, 0);
    // 2-MByte leaf: D goes on the PDE.
    set(&mut m, s[2], 0x60_0000 | PS | RWX | WB);
    ept_walk(&mut m, &ctx(EPTP4 | AD), GuestPhysAddr(gpa), plain(AccessKind::Write)).0.unwrap();
    assert_eq!(get(&m, s[2]) & (A | D), A | D);
}

#[test]
fn mode_based_execute_control() {
    let gpa = 0x4000_5000u64;
    let mut c = ctx(EPTP4);
    c.mbec = true;
    let fetch = |user: bool| linear(AccessKind::Execute, user, true, false);
    let mut m = mem();
    // Supervisor-execute only (bit 2), readable.
    chain4(&mut m, gpa, [RWX | UX; 3], 0x80_0000 | R | X | WB);
    assert!(ept_walk(&mut m, &c, GuestPhysAddr(gpa), fetch(false)).0.is_ok());
    // User-mode address: needs bit 10. Qualification: fetch, readable, executable (bit 5),
    // bit 6 = 0, gla valid, translation, user (9), writable (10).
    let q = violation(ept_walk(&mut m, &c, GuestPhysAddr(gpa), fetch(true)).0).1;
    assert_eq!(q, 0x4 | 0x8 | 0x20 | 0x80 | 0x100 | 0x200 | 0x400);
    // User-execute only (bit 10).
    chain4(&mut m, gpa, [RWX | UX; 3], 0x80_0000 | R | UX | WB);
    assert!(ept_walk(&mut m, &c, GuestPhysAddr(gpa), fetch(true)).0.is_ok());
    let q = violation(ept_walk(&mut m, &c, GuestPhysAddr(gpa), fetch(false)).0).1;
    assert_eq!(q, 0x4 | 0x8 | 0x40 | 0x80 | 0x100 | 0x400);
    // Bits 2:0 = 000 with bit 10: present under MBEC, not present without.
    chain4(&mut m, gpa, [RWX | UX; 3], 0x80_0000 | UX | WB);
    assert!(ept_walk(&mut m, &c, GuestPhysAddr(gpa), fetch(true)).0.is_ok());
    let q = violation(ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), fetch(true)).0).1;
    assert_eq!(q, 0x4 | 0x80 | 0x100 | 0x200 | 0x400, "no MBEC: not present, bits 3-6 = 0");
    // Without MBEC bit 10 is ignored and bit 2 governs every fetch.
    chain4(&mut m, gpa, [RWX; 3], 0x80_0000 | R | X | WB);
    assert!(ept_walk(&mut m, &ctx(EPTP4), GuestPhysAddr(gpa), fetch(true)).0.is_ok());
}

#[test]
fn eptp_validation() {
    let caps = EptCaps::ALL;
    let ok = |v: u64| EptPointer(v).validate(&caps, 39);
    assert_eq!(ok(EPTP4), Ok(()));
    assert_eq!(ok(EPTP5 | AD), Ok(()));
    assert_eq!(ok(PML4 | (3 << 3)), Ok(()), "UC");
    assert_eq!(ok(PML4 | 1 | (3 << 3)), Err(EptpError::MemoryType(1)));
    assert_eq!(ok(PML4 | 6 | (2 << 3)), Err(EptpError::WalkLength(2)));
    assert_eq!(ok(EPTP4 | (1 << 7)), Err(EptpError::SupervisorShadowStack));
    assert_eq!(ok(EPTP4 | (1 << 8)), Err(EptpError::Reserved(1 << 8)));
    assert_eq!(ok(EPTP4 | (1 << 39)), Err(EptpError::Reserved(1 << 39)));
    let mut small = caps;
    small.walk5 = false;
    small.accessed_dirty = false;
    small.uc = false;
    assert_eq!(EptPointer(EPTP5).validate(&small, 39), Err(EptpError::WalkLength(4)));
    assert_eq!(EptPointer(EPTP4 | AD).validate(&small, 39), Err(EptpError::AccessedDirty));
    assert_eq!(EptPointer(PML4 | (3 << 3)).validate(&small, 39), Err(EptpError::MemoryType(0)));
    assert_eq!(EptPointer(EPTP5).walk_length(), 5);
    assert_eq!(EptPointer(EPTP4 | (1 << 45)).root(39), PhysAddr(PML4));
}

// ---- Two-dimensional walk -------------------------------------------------------------

/// Host offset of guest-physical memory: GPA g is at HPA g + HOST.
const HOST: u64 = 0x40_0000;
// Guest tables (guest-physical).
const G_PML4: u64 = 0x1000;
const G_PDPT: u64 = 0x2000;
const G_PD: u64 = 0x3000;
const G_PT: u64 = 0x4000;
const G_PAGE: u64 = 0x8000;
const LA: u64 = 0x7000_1234; // PML4 0, PDPT 1, PD 0x180, PT 1
const P: u64 = 1;
const GRW: u64 = 2;
const GUS: u64 = 4;
const GA: u64 = 1 << 5;

/// EPT mapping GPA pages 0..512 to HOST + page, each RWX, via a 4-KByte EPT page table.
fn ept_identity(m: &mut PhysMem) {
    set(m, PML4, PDPT | RWX);
    set(m, PDPT, PD | RWX);
    set(m, PD, PT | RWX);
    for i in 0..512u64 {
        set(m, PT + 8 * i, (HOST + (i << 12)) | RWX | WB);
    }
}
fn ept_pte(gpa: u64) -> u64 {
    PT + 8 * (gpa >> 12)
}
fn gset(m: &mut PhysMem, gpa: u64, v: u64) {
    set(m, HOST + gpa, v);
}
fn guest_tables(m: &mut PhysMem, flags: u64) {
    gset(m, G_PML4 + idx(LA, 39), G_PDPT | flags);
    gset(m, G_PDPT + idx(LA, 30), G_PD | flags);
    gset(m, G_PD + idx(LA, 21), G_PT | flags);
    gset(m, G_PT + idx(LA, 12), G_PAGE | flags);
}
fn guest4() -> PagingContext {
    PagingContext {
        mode: PagingMode::Level4,
        cr3: G_PML4,
        pse: false,
        wp: true,
        nxe: true,
        smep: false,
        smap: false,
        maxphyaddr: 39,
        pdptes: [0; 4],
    }
}
fn sup(kind: AccessKind) -> Access {
    Access::new(kind, 0, false)
}
fn ept_fault(r: Result<hvbench_mmu::nested::NestedTranslation, NestedFault>) -> (EptFault, LinearAddr) {
    match r {
        Err(NestedFault::Ept { fault, gla }) => (fault, gla),
        other => panic!("expected an EPT fault, got {other:?}"),
    }
}

#[test]
fn nested_translation_reads_every_guest_entry_through_ept() {
    let mut m = mem();
    ept_identity(&mut m);
    guest_tables(&mut m, P | GRW | GUS | GA);
    let (r, refs) = nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), sup(AccessKind::Read));
    let t = r.unwrap();
    assert_eq!(t.gpa, GuestPhysAddr(G_PAGE | 0x234));
    assert_eq!(t.phys, PhysAddr(HOST + G_PAGE + 0x234));
    assert_eq!(t.page_shift(), 12);
    // 4 guest entries, each after a 4-entry EPT walk, then 4 EPT entries for the page.
    let refs = refs.as_slice();
    assert_eq!(refs.len(), 24);
    assert_eq!(refs[0], PhysAddr(PML4));
    assert_eq!(refs[3], PhysAddr(ept_pte(G_PML4)));
    assert_eq!(refs[4], PhysAddr(HOST + G_PML4 + idx(LA, 39)));
    assert_eq!(refs[23], PhysAddr(ept_pte(G_PAGE)));
    // Guest paging disabled: the linear address is the GPA; one EPT walk.
    let mut off = guest4();
    off.mode = PagingMode::Disabled;
    let (r, refs) = nested_walk(&mut m, &off, &ctx(EPTP4), LinearAddr(G_PAGE + 8), sup(AccessKind::Write));
    assert_eq!(r.unwrap().phys, PhysAddr(HOST + G_PAGE + 8));
    assert_eq!(refs.as_slice().len(), 4);
}

#[test]
fn ept_violation_on_the_guest_pml4_read() {
    let mut m = mem();
    ept_identity(&mut m);
    guest_tables(&mut m, P | GRW | GA);
    set(&mut m, ept_pte(G_PML4), 0); // guest PML4 page not present in EPT
    let (f, gla) = ept_fault(nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), sup(AccessKind::Write)).0);
    assert_eq!(gla, LinearAddr(LA));
    // A data read of a paging structure: bit 0, gla valid (7), bit 8 = 0; not present: 3-6 = 0.
    assert_eq!(
        f,
        EptFault::Violation {
            gpa: GuestPhysAddr(G_PML4 + idx(LA, 39)),
            qualification: hvbench_mmu::ept::EptViolationInfo { read: true, gla_valid: true, ..Default::default() },
        }
    );
    // With EPT A/D on, the read is treated as a write: a read-only mapping faults with bits
    // 0 and 1, readable, executable, gla valid.
    set(&mut m, ept_pte(G_PML4), (HOST + G_PML4) | R | X | WB);
    let (f, _) = ept_fault(nested_walk(&mut m, &guest4(), &ctx(EPTP4 | AD), LinearAddr(LA), sup(AccessKind::Read)).0);
    match f {
        EptFault::Violation { qualification, .. } => assert_eq!(qualification.to_qualification(), 0x1 | 0x2 | 0x8 | 0x20 | 0x80),
        other => panic!("{other:?}"),
    }
    // Without EPT A/D a read-only mapping is enough (guest A already set: no write).
    assert!(nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), sup(AccessKind::Read)).0.is_ok());
}

#[test]
fn guest_accessed_flag_update_is_a_write_through_ept() {
    let mut m = mem();
    ept_identity(&mut m);
    guest_tables(&mut m, P | GRW); // A clear: the walk will set it
    set(&mut m, ept_pte(G_PT), (HOST + G_PT) | R | X | WB); // guest PT read-only in EPT
    let (f, _) = ept_fault(nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), sup(AccessKind::Read)).0);
    match f {
        EptFault::Violation { gpa, qualification } => {
            assert_eq!(gpa, GuestPhysAddr(G_PT + idx(LA, 12)));
            // write, readable, executable, gla valid, bit 8 = 0.
            assert_eq!(qualification.to_qualification(), 0x2 | 0x8 | 0x20 | 0x80);
        }
        other => panic!("{other:?}"),
    }
    // Writable again: the walk succeeds and the guest A flags are set in host memory.
    set(&mut m, ept_pte(G_PT), (HOST + G_PT) | RWX | WB);
    let t = nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), sup(AccessKind::Write)).0.unwrap();
    assert!(t.guest.dirty);
    assert_eq!(get(&m, HOST + G_PT + idx(LA, 12)) & 0x60, 0x60, "guest A and D set");
    assert_eq!(get(&m, HOST + G_PML4 + idx(LA, 39)) & GA, GA);
}

#[test]
fn ept_violation_on_the_final_access() {
    let mut m = mem();
    ept_identity(&mut m);
    guest_tables(&mut m, P | GRW | GUS | GA | (1 << 6));
    set(&mut m, ept_pte(G_PAGE), (HOST + G_PAGE) | R | WB); // read-only data page
    let access = Access::new(AccessKind::Write, 3, false);
    let (f, gla) = ept_fault(nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), access).0);
    assert_eq!(gla, LinearAddr(LA));
    match f {
        EptFault::Violation { gpa, qualification } => {
            assert_eq!(gpa, GuestPhysAddr(G_PAGE | 0x234));
            // write, readable, gla valid, translation (8), user (9), read/write (10).
            assert_eq!(qualification.to_qualification(), 0x2 | 0x8 | 0x80 | 0x100 | 0x200 | 0x400);
        }
        other => panic!("{other:?}"),
    }
    // A misconfigured final entry is reported as such.
    set(&mut m, ept_pte(G_PAGE), (HOST + G_PAGE) | W | WB);
    let (f, _) = ept_fault(nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), access).0);
    assert_eq!(f, EptFault::Misconfig { gpa: GuestPhysAddr(G_PAGE | 0x234) });
}

#[test]
fn guest_page_fault_under_ept_is_not_an_ept_fault() {
    let mut m = mem();
    ept_identity(&mut m);
    guest_tables(&mut m, P | GRW | GA);
    gset(&mut m, G_PT + idx(LA, 12), 0); // guest PTE not present
    set(&mut m, ept_pte(G_PAGE), 0); // and the page not mapped by EPT either
    let r = nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), sup(AccessKind::Write)).0;
    // #PF error code: not present (P=0), write (W=2), supervisor.
    assert_eq!(r.unwrap_err(), NestedFault::GuestPageFault(hvbench_mmu::paging::WalkFault { error_code: 2 }));
    // A user access to a supervisor page: protection #PF (P=1, W=0, U=4).
    guest_tables(&mut m, P | GRW | GA);
    let r = nested_walk(&mut m, &guest4(), &ctx(EPTP4), LinearAddr(LA), Access::new(AccessKind::Read, 3, false)).0;
    assert_eq!(r.unwrap_err(), NestedFault::GuestPageFault(hvbench_mmu::paging::WalkFault { error_code: 5 }));
}

#[test]
fn pae_pdpte_load_through_ept() {
    let mut m = mem();
    ept_identity(&mut m);
    let cr3 = 0x5020u64;
    for i in 0..4u64 {
        gset(&mut m, cr3 + 8 * i, (0x6000 + (i << 12)) | 1);
    }
    let (r, refs) = load_pdptes(&mut m, &ctx(EPTP4 | AD), cr3, 39);
    assert_eq!(r, Ok(Some([0x6001, 0x7001, 0x8001, 0x9001])));
    assert_eq!(refs.as_slice().len(), 4 * 5);
    // Treated as reads even with EPT A/D: A set, D not.
    assert_eq!(get(&m, ept_pte(cr3)) & (A | D), A);
    // Not present: violation with bit 0 only (no guest-linear address).
    set(&mut m, ept_pte(cr3), 0);
    match load_pdptes(&mut m, &ctx(EPTP4 | AD), cr3, 39).0 {
        Err(EptFault::Violation { gpa, qualification }) => {
            assert_eq!((gpa, qualification.to_qualification()), (GuestPhysAddr(cr3), qual::READ));
        }
        other => panic!("{other:?}"),
    }
    // A reserved PDPTE bit: Ok(None) (the caller's #GP).
    set(&mut m, ept_pte(cr3), (HOST + 0x5000) | RWX | WB);
    gset(&mut m, cr3 + 8, 0x7001 | (1 << 5));
    assert_eq!(load_pdptes(&mut m, &ctx(EPTP4), cr3, 39).0, Ok(None));
}

// ---- Property tests -------------------------------------------------------------------

mod props {
    use super::*;
    use proptest::prelude::*;

    /// The outcome a walk should have, restated from the SDM lists entry by entry.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Translation(u64),
        Misconfig,
        Violation(u64),
    }

    #[derive(Debug)]
    struct Case {
        levels: u32,
        entries: [u64; 5],
        caps: EptCaps,
        mbec: bool,
        ad: bool,
        kind: AccessKind,
        origin: EptOrigin,
        gpa: u64,
    }

    /// How many cases of each outcome the property saw (translation, misconfig, violation).
    static SEEN: [core::sync::atomic::AtomicU32; 3] =
        [core::sync::atomic::AtomicU32::new(0), core::sync::atomic::AtomicU32::new(0), core::sync::atomic::AtomicU32::new(0)];

    #[test]
    fn the_property_sees_every_outcome() {
        random_entries_match_the_sdm_lists();
        let seen: Vec<u32> = SEEN.iter().map(|c| c.load(core::sync::atomic::Ordering::Relaxed)).collect();
        assert!(seen.iter().all(|&n| n >= 50), "outcomes seen (translation, misconfig, violation): {seen:?}");
    }

    const TABLES: [u64; 5] = [0x20_0000, 0x20_1000, 0x20_2000, 0x20_3000, 0x20_4000];

    fn oracle(c: &Case) -> Outcome {
        let max = 39u32;
        let mut and = 0xfu64; // R W X UX
        let ps_write = c.ad && c.origin == EptOrigin::GuestPagingStructure;
        let as_write = c.kind == AccessKind::Write || ps_write;
        let quals = |and: u64| {
            let mut q = 0;
            if c.kind == AccessKind::Read || ps_write {
                q |= 1;
            }
            if as_write {
                q |= 2;
            }
            if c.kind == AccessKind::Execute {
                q |= 4;
            }
            q |= (and & 7) << 3;
            if c.mbec && and & 8 != 0 {
                q |= 1 << 6;
            }
            match c.origin {
                EptOrigin::NoLinear => {}
                EptOrigin::GuestPagingStructure => q |= 1 << 7,
                EptOrigin::GuestLinear { paging } => {
                    q |= 3 << 7;
                    if c.caps.advanced_exit_info {
                        q |= (paging.user as u64) << 9 | (paging.writable as u64) << 10 | (paging.no_execute as u64) << 11;
                    }
                }
            }
            q
        };
        for i in 0..c.levels as usize {
            let level = c.levels - i as u32;
            let e = c.entries[i];
            let p = (e & 7) | if c.mbec && e & UX != 0 { 8 } else { 0 };
            if p == 0 {
                return Outcome::Violation(quals(0));
            }
            let rwx = e & 7;
            if rwx == 2 || rwx == 6 || (rwx == 4 && !c.caps.execute_only) {
                return Outcome::Misconfig;
            }
            let large = (level == 2 || level == 3) && e & PS != 0;
            if large && !(if level == 2 { c.caps.page_2m } else { c.caps.page_1g }) {
                return Outcome::Misconfig;
            }
            let mut rsvd = ((1u64 << 52) - 1) & !((1u64 << max) - 1);
            if level >= 4 {
                rsvd |= 0b1111_1000;
            } else if (level == 2 || level == 3) && !large {
                rsvd |= 0b0111_1000;
            } else if large {
                rsvd |= ((1u64 << (12 + 9 * (level - 1))) - 1) & !0xfff;
            }
            if e & rsvd != 0 {
                return Outcome::Misconfig;
            }
            let leaf = level == 1 || large;
            if leaf && [2, 3, 7].contains(&((e >> 3) & 7)) {
                return Outcome::Misconfig;
            }
            and &= p;
            if leaf {
                let user = matches!(c.origin, EptOrigin::GuestLinear { paging } if paging.user);
                let ok = if as_write {
                    and & 2 != 0
                } else if c.kind == AccessKind::Read {
                    and & 1 != 0
                } else if c.mbec && user {
                    and & 8 != 0
                } else {
                    and & 4 != 0
                };
                if !ok {
                    return Outcome::Violation(quals(and));
                }
                let off = (1u64 << (12 + 9 * (level - 1))) - 1;
                return Outcome::Translation((e & 0x000f_ffff_ffff_f000 & !off) | (c.gpa & off));
            }
        }
        unreachable!("level 1 is always a leaf")
    }

    fn case() -> impl Strategy<Value = Case> {
        // Mostly entries valid at any level (memory type 0 = UC is valid in a leaf, and the
        // memory-type bits must be 0 in a non-leaf entry), so that walks also translate; then
        // single defects; then anything.
        let valid = vec![RWX, RWX, R | X, R | W, RWX | UX, R];
        let odd = vec![X, UX, W, W | X, 0, RWX | WB, R | WB, X | WB, RWX | PS, RWX | PS | WB, RWX | (2 << 3), RWX | (7 << 3), RWX | (1 << 3), RWX | (1 << 6)];
        let low = prop_oneof![
            10 => prop::sample::select(valid),
            4 => prop::sample::select(odd),
            1 => any::<u16>().prop_map(|v| v as u64),
        ];
        let high = prop_oneof![12 => Just(0u64), 1 => prop::sample::select(vec![1u64 << 39, 1 << 45, 1 << 51, 1 << 63, 1 << 60])];
        let entry = (low, high);
        (
            any::<bool>(),
            prop::array::uniform5(entry),
            prop::array::uniform6(any::<bool>()),
            any::<bool>(),
            0u8..3,
            0u8..3,
            (any::<bool>(), any::<bool>(), any::<bool>()),
            any::<u64>(),
        )
            .prop_map(|(five, raw, cb, ad, kind, origin, (u, w, nx), gpa_bits)| {
                let levels = if five { 5 } else { 4 };
                let first = 5 - levels as usize;
                let mut entries = [0u64; 5];
                for (i, (low, high)) in raw.iter().enumerate() {
                    // Each entry points to the next table used (the last to some page); the
                    // low 12 bits and one high bit are random.
                    let next = TABLES.get(first + i + 1).copied().unwrap_or(0x30_0000);
                    entries[i] = next | (*low & 0xfff) | high;
                }
                let caps = EptCaps {
                    execute_only: cb[0],
                    page_2m: cb[1],
                    page_1g: cb[2],
                    advanced_exit_info: cb[3],
                    ..EptCaps::ALL
                };
                let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Execute][kind as usize];
                let paging = Rights { user: u, writable: w, no_execute: nx };
                let origin =
                    [EptOrigin::NoLinear, EptOrigin::GuestPagingStructure, EptOrigin::GuestLinear { paging }][origin as usize];
                // Index 0 at every level (the tables hold one entry), random page offset bits.
                let gpa = gpa_bits & 0x3fff_ffff & !(0x1ff << 21) & !(0x1ff << 12);
                Case { levels, entries, caps, mbec: cb[4] || (cb[5] && cb[0]), ad, kind, origin, gpa }
            })
    }

    proptest! {
        #![proptest_config(hvbench_testkit::deterministic_config(2000))]

        #[test]
        fn random_entries_match_the_sdm_lists(c in case()) {
            let mut m = PhysMem::new(4 << 20).unwrap();
            let first = 5 - c.levels as usize;
            for i in 0..c.levels as usize {
                set(&mut m, TABLES[first + i], c.entries[i]);
            }
            let eptp = TABLES[first] | 6 | ((c.levels as u64 - 1) << 3) | if c.ad { AD } else { 0 };
            let ctx = EptContext { eptp: EptPointer(eptp), caps: c.caps, mbec: c.mbec, maxphyaddr: 39 };
            let (r, refs) = ept_walk(&mut m, &ctx, GuestPhysAddr(c.gpa), EptAccess { kind: c.kind, origin: c.origin });
            prop_assert!(!refs.as_slice().is_empty() && refs.as_slice().len() <= c.levels as usize);
            let got = match r {
                Ok(t) => Outcome::Translation(t.phys.0),
                Err(EptFault::Misconfig { gpa }) => { prop_assert_eq!(gpa.0, c.gpa); Outcome::Misconfig }
                Err(EptFault::Violation { gpa, qualification }) => { prop_assert_eq!(gpa.0, c.gpa); Outcome::Violation(qualification.to_qualification()) }
            };
            let want = oracle(&c);
            let k = match want { Outcome::Translation(_) => 0, Outcome::Misconfig => 1, Outcome::Violation(_) => 2 };
            SEEN[k].fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            prop_assert_eq!(got, want);
        }

        #[test]
        fn random_guest_tables_under_random_ept_never_panic(
            guest in prop::array::uniform4(any::<u64>()),
            ept in prop::array::uniform4(any::<u64>()),
            mode in 0u8..5,
            la in any::<u64>(),
            kind in 0u8..3,
            ad in any::<bool>(),
        ) {
            let mut m = mem();
            ept_identity(&mut m);
            // Random EPT entries for the guest tables' pages and the first pages of RAM.
            for (i, e) in ept.iter().enumerate() {
                set(&mut m, ept_pte(G_PML4 + ((i as u64) << 12)), *e);
            }
            for (i, e) in guest.iter().enumerate() {
                gset(&mut m, [G_PML4, G_PDPT, G_PD, G_PT][i] + idx(la, [39, 30, 21, 12][i]), *e);
            }
            let mut g = guest4();
            g.mode = [PagingMode::Disabled, PagingMode::Bits32, PagingMode::Pae, PagingMode::Level4, PagingMode::Level5][mode as usize];
            g.pdptes = [G_PD | 1; 4];
            let kind = [AccessKind::Read, AccessKind::Write, AccessKind::Execute][kind as usize];
            let c = ctx(EPTP4 | if ad { AD } else { 0 });
            let (r, refs) = nested_walk(&mut m, &g, &c, LinearAddr(la), Access::new(kind, 3, false));
            prop_assert!(refs.as_slice().len() <= hvbench_mmu::paging::MAX_MEM_REFS);
            if let Ok(t) = r {
                prop_assert_eq!(t.phys.0 & 0xfff, la & 0xfff);
            }
        }
    }
}
