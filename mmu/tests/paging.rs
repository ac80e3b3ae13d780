//! Guest page walker regression tests (SDM Vol. 3A 4.3-4.8), kept next to the EPT tests since
//! the walker now runs over a `TableAccess`.

use hvbench_mmu::paging::{Access, AccessKind, PagingContext, PagingMode, WalkFault, load_pdptes, walk};
use hvbench_mmu::{LinearAddr, PhysAddr, PhysMem};

fn ctx(mode: PagingMode, cr3: u64) -> PagingContext {
    PagingContext { mode, cr3, pse: true, wp: true, nxe: true, smep: false, smap: false, maxphyaddr: 39, pdptes: [0; 4] }
}
fn set(m: &mut PhysMem, a: u64, v: u64) {
    assert!(m.write_le(PhysAddr(a), 8, v));
}

#[test]
fn four_level_walk_sets_accessed_and_dirty_and_lists_refs() {
    let mut m = PhysMem::new(4 << 20).unwrap();
    let la = 0x7000_1234u64;
    let i = |s: u32| ((la >> s) & 0x1ff) * 8;
    set(&mut m, 0x1000 + i(39), 0x2000 | 3);
    set(&mut m, 0x2000 + i(30), 0x3000 | 3);
    set(&mut m, 0x3000 + i(21), 0x4000 | 3);
    set(&mut m, 0x4000 + i(12), 0x9000 | 3);
    let (r, refs) = walk(&mut m, &ctx(PagingMode::Level4, 0x1000), LinearAddr(la), Access::new(AccessKind::Write, 0, false));
    let t = r.unwrap();
    assert_eq!(t.phys, PhysAddr(0x9234));
    assert!(t.dirty);
    assert_eq!(refs.as_slice(), &[0x1000 + i(39), 0x2000 + i(30), 0x3000 + i(21), 0x4000 + i(12)].map(PhysAddr)[..]);
    assert_eq!(m.read_le(PhysAddr(0x1000 + i(39)), 8), Some(0x2000 | 3 | 0x20), "A, not D, on a non-leaf");
    assert_eq!(m.read_le(PhysAddr(0x4000 + i(12)), 8), Some(0x9000 | 3 | 0x60), "A and D on the leaf");
    // User read of a supervisor page: P | U.
    let (r, _) = walk(&mut m, &ctx(PagingMode::Level4, 0x1000), LinearAddr(la), Access::new(AccessKind::Read, 3, false));
    assert_eq!(r, Err(WalkFault { error_code: 5 }));
}

#[test]
fn bits32_4m_page_and_not_present() {
    let mut m = PhysMem::new(4 << 20).unwrap();
    let la = 0x0040_5678u64; // PDE 1
    assert!(m.write_le(PhysAddr(0x1000 + 4), 4, 0x0080_0000 | 0x80 | 3));
    let (r, refs) = walk(&mut m, &ctx(PagingMode::Bits32, 0x1000), LinearAddr(la), Access::new(AccessKind::Read, 0, false));
    assert_eq!(r.unwrap().phys, PhysAddr(0x0080_5678));
    assert_eq!(refs.as_slice().len(), 1);
    let (r, _) = walk(&mut m, &ctx(PagingMode::Bits32, 0x1000), LinearAddr(0x0080_0000), Access::new(AccessKind::Write, 0, false));
    assert_eq!(r, Err(WalkFault { error_code: 2 }));
}

#[test]
fn pae_pdptes_load_and_reject_reserved_bits() {
    let mut m = PhysMem::new(4 << 20).unwrap();
    for k in 0..4u64 {
        set(&mut m, 0x1020 + 8 * k, (0x2000 + (k << 12)) | 1);
    }
    assert_eq!(load_pdptes(&mut m, 0x1020, 39), Some([0x2001, 0x3001, 0x4001, 0x5001]));
    set(&mut m, 0x1028, 0x3001 | 2); // bit 1 reserved
    assert_eq!(load_pdptes(&mut m, 0x1020, 39), None);
}

#[test]
fn unrecorded_walk_gives_the_same_result_and_flag_updates() {
    use hvbench_mmu::paging::walk_unrecorded;
    // Two memories with the same tables: one walked with refs, one without.
    let build = || {
        let mut m = PhysMem::new(4 << 20).unwrap();
        let la = 0x7000_1234u64;
        let i = |s: u32| ((la >> s) & 0x1ff) * 8;
        set(&mut m, 0x1000 + i(39), 0x2000 | 7);
        set(&mut m, 0x2000 + i(30), 0x3000 | 7);
        set(&mut m, 0x3000 + i(21), 0x4000 | 7);
        set(&mut m, 0x4000 + i(12), 0x9000 | 5); // user, read-only
        m
    };
    let c = ctx(PagingMode::Level4, 0x1000);
    for (kind, cpl) in [(AccessKind::Read, 3), (AccessKind::Write, 3), (AccessKind::Write, 0), (AccessKind::Execute, 3)] {
        let (mut a, mut b) = (build(), build());
        let access = Access::new(kind, cpl, false);
        let (with_refs, _) = walk(&mut a, &c, LinearAddr(0x7000_1234), access);
        let without = walk_unrecorded(&mut b, &c, LinearAddr(0x7000_1234), access);
        assert_eq!(with_refs, without, "{kind:?} at CPL {cpl}");
        assert_eq!(a.as_bytes()[..0x10000], b.as_bytes()[..0x10000], "same A/D updates for {kind:?}");
    }
    // Not present.
    let mut m = build();
    assert_eq!(walk_unrecorded(&mut m, &c, LinearAddr(0x1234), Access::new(AccessKind::Read, 0, false)), Err(WalkFault { error_code: 0 }));
}
