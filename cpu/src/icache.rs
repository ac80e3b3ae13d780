//! The decoded-instruction cache: iced-x86 decodes an instruction once per (physical address,
//! code size); later executions reuse the decoded form and the handler chosen for it.
//!
//! Direct-mapped. An entry is valid while its page's code generation in [`PhysMem`] is the one
//! it was decoded under: any write to the page (by any vCPU, a device or the loader) bumps the
//! generation, so self-modifying and DMA-loaded code is re-decoded. Instructions that straddle
//! a page boundary are not cached.
//!
//! Instructions are decoded with IP = 0, so cached branch targets and RIP-relative
//! displacements are relative to the instruction's own start and stay right when one physical
//! page is mapped at several linear addresses.

use crate::exec::Handler;
use hvbench_mmu::{PhysAddr, PhysMem};
use iced_x86::Instruction;

const ENTRIES: usize = 1 << 15;

/// One decoded instruction with what execution needs.
#[derive(Clone, Copy)]
pub struct Decoded {
    /// The decoded instruction (decoded at IP 0).
    pub insn: Instruction,
    /// Its semantics.
    pub handler: Handler,
    /// Length in bytes.
    pub len: u8,
    /// Cycles it costs, from the cost model.
    pub cost: u8,
}

#[derive(Clone, Copy)]
struct Entry {
    /// Physical address << 2 | code-size index, +1 (0 = empty).
    key: u64,
    generation: u32,
    d: Decoded,
}

/// The cache.
pub struct ICache {
    entries: Box<[Option<Entry>]>,
}

impl Default for ICache {
    fn default() -> Self {
        Self::new()
    }
}

/// The cache key of code at `pa` decoded with `bitness`.
#[inline(always)]
pub fn key(pa: PhysAddr, bitness: u32) -> u64 {
    ((pa.0 << 2) | (bitness as u64 >> 5)) + 1
}

impl ICache {
    /// An empty cache.
    pub fn new() -> Self {
        Self { entries: vec![None; ENTRIES].into_boxed_slice() }
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        ((key >> 2) ^ (key >> 17)) as usize & (ENTRIES - 1)
    }

    /// The cached instruction at `pa`, if still valid.
    #[inline(always)]
    pub fn lookup(&self, mem: &PhysMem, pa: PhysAddr, key: u64) -> Option<&Decoded> {
        let e = self.entries[Self::slot(key)].as_ref()?;
        if e.key == key && mem.code_generation(pa) == Some(e.generation) { Some(&e.d) } else { None }
    }

    /// Caches `d`, decoded from RAM at `pa` (which must be RAM: the page is marked as code).
    pub fn insert(&mut self, mem: &mut PhysMem, pa: PhysAddr, key: u64, d: Decoded) {
        if let Some(generation) = mem.mark_code(pa) {
            self.entries[Self::slot(key)] = Some(Entry { key, generation, d });
        }
    }

    /// Drops everything (snapshot restore).
    pub fn clear(&mut self) {
        self.entries.fill(None);
    }
}
