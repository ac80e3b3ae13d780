//! The jump cache: which decoded block runs at a linear RIP, so that a loop's branch back to
//! its top does not segment, translate and look the block up again on every iteration.
//!
//! An entry remembers, for one RIP in 64-bit mode, the block [`crate::cpu::Exec`]'s full
//! fetch found there and everything that fetch depended on:
//! - the translation of RIP's page: the TLB's invalidation generation
//!   ([`hvbench_mmu::tlb::Tlb::generation`]), the TLB tag (PCID, VPID, EPTP index) and CR3,
//!   the CPL (user/supervisor and SMEP rights) and the paging context (refreshed with CR0, CR4
//!   and EFER: this cache's generation is bumped then, and at the start of every run);
//! - the block's validity: the memory's code epoch ([`hvbench_mmu::PhysMem::code_epoch`]),
//!   bumped by any write to a page holding cached code.
//!
//! An entry can outlive the TLB entry it was made through (a later walk may evict it from
//! the direct-mapped TLB). That is a translation kept until invalidated, which the SDM
//! allows for any cached translation (Vol. 3A 4.10.4.2 "Recommended Invalidation": after a
//! paging-structure change without invalidation the old or the new translation may be
//! used); every invalidation drops it, as it drops TLB entries.

use crate::icache::Block;
use hvbench_mmu::tlb::Tag;
use std::rc::Rc;

const ENTRIES: usize = 512;

/// What an entry's block was fetched under.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct FetchContext {
    /// RIP (equal to the linear address in 64-bit mode).
    pub rip: u64,
    /// CR3 at the fetch.
    pub cr3: u64,
    /// TLB generation at the fetch.
    pub tlb_generation: u64,
    /// Code epoch of memory at the fetch.
    pub code_epoch: u64,
    /// TLB tag at the fetch.
    pub tag: Tag,
    /// CPL at the fetch.
    pub cpl: u8,
}

struct Entry {
    ctx: FetchContext,
    /// The cache generation the entry was made in.
    generation: u64,
    block: Rc<Block>,
}

/// The cache: direct-mapped by RIP.
pub(crate) struct JumpCache {
    entries: Box<[Option<Entry>]>,
    generation: u64,
}

impl JumpCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self { entries: (0..ENTRIES).map(|_| None).collect(), generation: 1 }
    }

    #[inline(always)]
    fn slot(rip: u64) -> usize {
        ((rip ^ (rip >> 9)) as usize) & (ENTRIES - 1)
    }

    /// Forgets every entry (paging context changed, a new run, snapshot restore).
    #[inline]
    pub fn invalidate(&mut self) {
        self.generation = self.generation.wrapping_add(1);
    }

    /// Drops every block held (the decoded-instruction cache was cleared).
    pub fn clear(&mut self) {
        self.entries.iter_mut().for_each(|e| *e = None);
        self.invalidate();
    }

    /// The block fetched at `ctx.rip` under exactly `ctx`, if any.
    #[inline(always)]
    pub fn lookup(&self, ctx: &FetchContext) -> Option<Rc<Block>> {
        match &self.entries[Self::slot(ctx.rip)] {
            Some(e) if e.generation == self.generation && e.ctx == *ctx => Some(e.block.clone()),
            _ => None,
        }
    }

    /// Remembers that a full fetch under `ctx` found `block`.
    #[inline]
    pub fn insert(&mut self, ctx: FetchContext, block: &Rc<Block>) {
        self.entries[Self::slot(ctx.rip)] = Some(Entry { ctx, generation: self.generation, block: block.clone() });
    }
}
