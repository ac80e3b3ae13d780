//! The memory map against the layout the module documents.

use hvbench_mmu::PhysMem;
use hvbench_mmu::phys::{HIGH_RAM_BASE, LOW_RAM_LIMIT};

use super::super::{MemoryKind, MemoryRange, memory_map};

#[test]
fn ram_above_3gib_continues_at_4gib() {
    let mem = PhysMem::new(LOW_RAM_LIMIT + (64 << 20)).unwrap();
    let map = memory_map(&mem);
    let avail = MemoryKind::Available;
    let reserved = MemoryKind::Reserved;
    assert_eq!(
        map,
        vec![
            MemoryRange { base: 0, length: 0x9_FC00, kind: avail },
            MemoryRange { base: 0x9_FC00, length: 0x400, kind: reserved },
            MemoryRange { base: 0xF_0000, length: 0x1_0000, kind: reserved },
            MemoryRange { base: 0x10_0000, length: LOW_RAM_LIMIT - 0x10_0000, kind: avail },
            MemoryRange { base: HIGH_RAM_BASE, length: 64 << 20, kind: avail },
        ]
    );
    // Available RAM plus the reserved/absent low window adds up to the RAM size.
    let available: u64 = map.iter().filter(|r| r.kind == avail).map(|r| r.length).sum();
    assert_eq!(available + (0x10_0000 - 0x9_FC00), mem.size());
}
