//! The data fast path: explicit data reads and writes in 64-bit mode that hit a small
//! direct-mapped table from linear page to RAM page skip segmentation, the alignment check,
//! the TLB lookup with its rights check, and the RAM/MMIO decision.
//!
//! An entry says "an explicit access of this kind (read, or write) to linear page `vpn`, by
//! code at CPL 3 or not, with RFLAGS.AC as given, in 64-bit mode, reaches RAM page `page` and
//! needs no check". It is made by the slow path right after such an access succeeded, and
//! only when that success implies the same for every later access of the kind to the page
//! under the same conditions:
//! - 64-bit mode, a segment other than FS and GS: segmentation is the canonical check alone
//!   (SDM Vol. 3A 3.4.4, 5.3.1), which the page's linear address passed when the entry was
//!   made (canonicality is a property of the page for an access within it);
//! - the TLB holds a translation for the page that grants the access (rights per SDM Vol. 3A
//!   4.6 for this user/supervisor mode and RFLAGS.AC, EPT permissions in VMX non-root
//!   operation) and, for writes, whose dirty flags are already set (Vol. 3A 4.8; otherwise
//!   the write must walk and set them);
//! - the page is RAM (never MMIO);
//! - no alignment check can apply (not CPL 3 with CR0.AM and RFLAGS.AC both set, SDM Vol. 3A
//!   6.15 "Interrupt 17");
//! - no data breakpoint is enabled in DR7 (Vol. 3A 18.2.4: each access must be compared).
//!
//! What the entry depends on is either in its key, compared on every access (the linear
//! page, CPL 3 or not, RFLAGS.AC, CS.L), or covered by the TLB's generation, which the entry
//! records: every TLB invalidation (INVLPG, MOV to CR3, CR4 changes, INVPCID, INVEPT,
//! INVVPID, VM entries and exits that flush) bumps it, and the core also bumps it when the
//! paging context is recomputed (CR0/CR3/CR4/EFER writes, VM entry/exit: covers CR0.WP,
//! CR0.AM, CR4.SMAP, EFER.LMA, PCID/VPID/EPTP tag changes), when DR7 changes, and at the start
//! of every run (the memory may be another one). Like the jump cache, an entry may outlive
//! the TLB entry it was made from, which the SDM allows of any cached translation until it is
//! invalidated (Vol. 3A 4.10.4.2).
//!
//! Writes still go through [`PhysMem::write_at`], which bumps the code generation of a page
//! holding decoded code exactly as every other write does, so self-modifying code is
//! re-decoded whichever path stored to it.

use crate::cpu::Exec;
use crate::segment::{attr, SegReg};
use hvbench_mmu::{PhysAddr, PhysMem};

const ENTRIES: usize = 256;
/// Key bit: CPL 3.
const USER: u64 = 1 << 60;
/// Key bit: RFLAGS.AC.
const AC: u64 = 1 << 61;
/// Key bit: CS.L (entries are made in 64-bit mode only, so all have it).
const LONG: u64 = 1 << 62;
/// Key bit: the entry is in use (empty entries are 0).
const VALID: u64 = 1 << 63;

#[derive(Clone, Copy, Default)]
struct Entry {
    /// Linear page number and the key bits; 0 when empty.
    key: u64,
    /// The TLB generation the entry was made under.
    generation: u64,
    /// Backing-store index of the RAM page ([`PhysMem::ram_page`]).
    page: usize,
}

/// The table: one direct-mapped array for reads, one for writes.
pub(crate) struct DataTlb {
    read: Box<[Entry; ENTRIES]>,
    write: Box<[Entry; ENTRIES]>,
}

impl DataTlb {
    /// An empty table.
    pub fn new() -> Self {
        Self { read: Box::new([Entry::default(); ENTRIES]), write: Box::new([Entry::default(); ENTRIES]) }
    }

    #[inline(always)]
    fn slot(la: u64) -> usize {
        ((la >> 12) as usize) & (ENTRIES - 1)
    }
}

/// Reads `size` bytes at backing-store index `i`.
#[inline(always)]
fn read_sized(mem: &PhysMem, i: usize, size: u32) -> Option<u64> {
    Some(match size {
        1 => mem.read_at::<1>(i)?[0] as u64,
        2 => u16::from_le_bytes(mem.read_at(i)?) as u64,
        4 => u32::from_le_bytes(mem.read_at(i)?) as u64,
        _ => u64::from_le_bytes(mem.read_at(i)?),
    })
}

impl Exec<'_> {
    /// The key of an access to linear address `la` in the current state (see the module doc).
    #[inline(always)]
    fn fast_key(&self, la: u64) -> u64 {
        let long = if self.cpu.state.seg[SegReg::Cs as usize].attr & attr::L != 0 { LONG } else { 0 };
        self.fast_key64(la) & !LONG | long
    }

    /// [`Exec::fast_key`] for code known to run in 64-bit mode (handlers chosen for code
    /// decoded as 64-bit, which runs only there).
    #[inline(always)]
    fn fast_key64(&self, la: u64) -> u64 {
        let s = &self.cpu.state;
        // CPL is 0..=3, so (CPL + 1) has bit 2 set exactly at CPL 3.
        let user = ((s.cpl as u64 + 1) & 4) << (USER.trailing_zeros() - 2);
        let ac = (s.rflags & crate::flags::AC) << (AC.trailing_zeros() - crate::flags::AC.trailing_zeros());
        (la >> 12) | user | ac | LONG | VALID
    }

    /// The fast path of [`Exec::read_mem`]: the value, or `None` to take the full path.
    #[inline(always)]
    pub(crate) fn fast_read(&self, seg: SegReg, offset: u64, size: u32) -> Option<u64> {
        if matches!(seg, SegReg::Fs | SegReg::Gs) {
            return None;
        }
        self.fast_read_flat::<false>(offset, size)
    }

    /// [`Exec::fast_read`] for a segment other than FS and GS (`IN64`: in code decoded as
    /// 64-bit).
    #[inline(always)]
    pub(crate) fn fast_read_flat<const IN64: bool>(&self, offset: u64, size: u32) -> Option<u64> {
        if (offset & 0xfff) + size as u64 > 0x1000 {
            return None;
        }
        let e = &self.cpu.dtlb.read[DataTlb::slot(offset)];
        let key = if IN64 { self.fast_key64(offset) } else { self.fast_key(offset) };
        if e.key != key || e.generation != self.cpu.tlb.generation() {
            return None;
        }
        read_sized(self.mem, e.page + (offset & 0xfff) as usize, size)
    }

    /// The fast path of [`Exec::write_mem`]: whether the write was done (else take the full
    /// path).
    #[inline(always)]
    pub(crate) fn fast_write(&mut self, seg: SegReg, offset: u64, size: u32, value: u64) -> bool {
        !matches!(seg, SegReg::Fs | SegReg::Gs) && self.fast_write_flat::<false>(offset, size, value)
    }

    /// [`Exec::fast_write`] for a segment other than FS and GS (`IN64`: in code decoded as
    /// 64-bit).
    #[inline(always)]
    pub(crate) fn fast_write_flat<const IN64: bool>(&mut self, offset: u64, size: u32, value: u64) -> bool {
        if (offset & 0xfff) + size as u64 > 0x1000 {
            return false;
        }
        let e = &self.cpu.dtlb.write[DataTlb::slot(offset)];
        let key = if IN64 { self.fast_key64(offset) } else { self.fast_key(offset) };
        if e.key != key || e.generation != self.cpu.tlb.generation() {
            return false;
        }
        let i = e.page + (offset & 0xfff) as usize;
        match size {
            1 => self.mem.write_at(i, [value as u8]),
            2 => self.mem.write_at(i, (value as u16).to_le_bytes()),
            4 => self.mem.write_at(i, (value as u32).to_le_bytes()),
            _ => self.mem.write_at(i, value.to_le_bytes()),
        }
    }

    /// After an explicit data access within one page at `seg:offset` (linear `la`) was
    /// granted by a translation to `pa` (a read, or a write with the dirty flags already
    /// set): makes a fast-path entry for the page if the module doc's other conditions hold.
    #[inline]
    pub(crate) fn fast_fill(&mut self, seg: SegReg, la: u64, pa: PhysAddr, write: bool) {
        let s = &self.cpu.state;
        if matches!(seg, SegReg::Fs | SegReg::Gs)
            || s.mode() != crate::state::Mode::Long64
            || self.cpu.debug.data
            || (s.cpl == 3 && s.cr0 & crate::regs::cr0::AM != 0 && s.rflags & crate::flags::AC != 0)
        {
            return;
        }
        let Some(page) = self.mem.ram_page(pa) else { return };
        let e = Entry { key: self.fast_key(la), generation: self.cpu.tlb.generation(), page };
        let slot = DataTlb::slot(la);
        if write {
            self.cpu.dtlb.write[slot] = e;
        } else {
            self.cpu.dtlb.read[slot] = e;
        }
    }
}
