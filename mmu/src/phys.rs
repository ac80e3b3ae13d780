//! Physical memory: the machine's RAM, laid out like a PC's, with code-page tracking.
//!
//! RAM up to [`LOW_RAM_LIMIT`] sits at physical address 0; the rest is placed above 4 GiB, as
//! firmware does, leaving the 32-bit MMIO hole (IOAPIC, local APIC, firmware) free. Any address
//! that is not RAM belongs to the device bus: these functions return `None`/`false` for it and
//! the CPU sends the access to MMIO.
//!
//! Every 4-KiByte page carries a generation counter whose low bit says "decoded instructions
//! are cached from this page". A write to such a page bumps the generation, so every vCPU's
//! decoded-instruction cache sees its entries for the page go stale, whoever wrote (a vCPU, a
//! device's DMA, the loader). That keeps self-modifying code correct for one load per write.
//!
//! The same bookkeeping serves address-range monitoring (MONITOR/MWAIT, SDM Vol. 2B "MONITOR",
//! "MWAIT"; Vol. 3A 9.10.4 "MONITOR/MWAIT Instruction"): [`PhysMem::watch`] marks the pages of
//! the monitored line like code pages, so a write to them, whoever makes it, already takes the
//! slow branch of the write bookkeeping; only there is it compared with the exact watched range.
//! Writes to other pages pay nothing more than before.

use crate::addr::PhysAddr;

/// RAM below this address is placed at physical 0; the rest above 4 GiB (PC "PCI hole").
pub const LOW_RAM_LIMIT: u64 = 0xC000_0000;
/// Where RAM beyond [`LOW_RAM_LIMIT`] is placed.
pub const HIGH_RAM_BASE: u64 = 0x1_0000_0000;
/// Smallest RAM size hvbench accepts (real-mode IVT, BIOS data area and boot structures).
pub const MIN_RAM: u64 = 2 << 20;
/// Largest RAM size hvbench accepts.
pub const MAX_RAM: u64 = 64 << 30;

const PAGE_SHIFT: u32 = 12;

/// A RAM size that cannot be laid out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RamLayoutError {
    /// Below [`MIN_RAM`].
    #[error("RAM size {0:#x} is too small: hvbench needs at least 2 MiB")]
    TooSmall(u64),
    /// Above [`MAX_RAM`].
    #[error("RAM size {0:#x} is too large: hvbench allows at most 64 GiB")]
    TooLarge(u64),
    /// Not a whole number of 4-KiByte pages.
    #[error("RAM size {0:#x} is not a multiple of 4 KiB")]
    Unaligned(u64),
    /// The host refused the memory.
    #[error("cannot reserve {size:#x} bytes of host memory for guest RAM: {reason}")]
    Host {
        /// Requested size.
        size: u64,
        /// The host's error.
        reason: String,
    },
}

/// The machine's RAM.
pub struct PhysMem {
    /// An anonymous private mapping: zero-filled by the host kernel on first touch, so RAM
    /// that the guest never uses costs nothing, and building a machine costs no memset.
    ram: memmap2::MmapMut,
    low_size: u64,
    high_size: u64,
    /// Per page: generation, low bit set while decoded code is cached from the page.
    code_gen: Vec<u32>,
    /// Bumped whenever any code page is written (see [`Self::code_epoch`]).
    code_epoch: u64,
    /// Per owner (a vCPU's index): the monitored range, see [`Self::watch`].
    watches: Vec<Option<Watch>>,
    /// Some watch has not been hit yet (so code-page writes must look at them).
    watching: bool,
}

/// One owner's monitored range of the backing store.
#[derive(Debug, Clone, Copy)]
struct Watch {
    /// First backing-store index (inclusive).
    start: usize,
    /// Last backing-store index (exclusive); `start == end` for a range outside RAM.
    end: usize,
    /// A write overlapped the range since [`PhysMem::watch`].
    hit: bool,
    /// The range as armed (physical address, length), for [`PhysMem::armed_watch`].
    addr: u64,
    /// Its length in bytes.
    len: u64,
}

/// The most owners [`PhysMem::watch`] keeps (vCPU indices beyond it cannot arm a monitor).
pub const MAX_WATCH_OWNERS: usize = 1024;

impl PhysMem {
    /// Zero-filled RAM of `size` bytes.
    pub fn new(size: u64) -> Result<Self, RamLayoutError> {
        if size < MIN_RAM {
            return Err(RamLayoutError::TooSmall(size));
        }
        if size > MAX_RAM {
            return Err(RamLayoutError::TooLarge(size));
        }
        if size & 0xfff != 0 {
            return Err(RamLayoutError::Unaligned(size));
        }
        let low_size = size.min(LOW_RAM_LIMIT);
        let ram = memmap2::MmapOptions::new()
            .len(size as usize)
            .map_anon()
            .map_err(|e| RamLayoutError::Host { size, reason: e.to_string() })?;
        Ok(Self {
            ram,
            low_size,
            high_size: size - low_size,
            code_gen: vec![0; (size >> PAGE_SHIFT) as usize],
            code_epoch: 0,
            watches: Vec::new(),
            watching: false,
        })
    }

    /// Total RAM in bytes.
    pub fn size(&self) -> u64 {
        self.low_size + self.high_size
    }

    /// The RAM regions as (base, length), in ascending address order.
    pub fn regions(&self) -> impl Iterator<Item = (PhysAddr, u64)> + '_ {
        let low = core::iter::once((PhysAddr(0), self.low_size));
        let high = (self.high_size > 0).then_some((PhysAddr(HIGH_RAM_BASE), self.high_size));
        low.chain(high)
    }

    /// The index into the backing store of `[addr, addr+len)`, if that range is wholly RAM.
    #[inline(always)]
    fn index(&self, addr: PhysAddr, len: u64) -> Option<usize> {
        let a = addr.0;
        if a < self.low_size {
            return (len <= self.low_size - a).then_some(a as usize);
        }
        let off = a.checked_sub(HIGH_RAM_BASE)?;
        (off < self.high_size && len <= self.high_size - off).then(|| (self.low_size + off) as usize)
    }

    /// Whether `[addr, addr+len)` is wholly RAM.
    #[inline]
    pub fn is_ram(&self, addr: PhysAddr, len: u64) -> bool {
        self.index(addr, len).is_some()
    }

    /// Reads `N` bytes, or `None` when the range is not wholly RAM.
    #[inline(always)]
    pub fn read<const N: usize>(&self, addr: PhysAddr) -> Option<[u8; N]> {
        let i = self.index(addr, N as u64)?;
        self.ram[i..i + N].try_into().ok()
    }

    /// Writes `N` bytes; `false` when the range is not wholly RAM.
    #[inline(always)]
    pub fn write<const N: usize>(&mut self, addr: PhysAddr, bytes: [u8; N]) -> bool {
        let Some(i) = self.index(addr, N as u64) else { return false };
        self.note_write(i, N);
        self.ram[i..i + N].copy_from_slice(&bytes);
        true
    }

    /// Reads a little-endian value of `size` bytes (1, 2, 4 or 8).
    #[inline]
    pub fn read_le(&self, addr: PhysAddr, size: u8) -> Option<u64> {
        Some(match size {
            1 => self.read::<1>(addr)?[0] as u64,
            2 => u16::from_le_bytes(self.read(addr)?) as u64,
            4 => u32::from_le_bytes(self.read(addr)?) as u64,
            _ => u64::from_le_bytes(self.read(addr)?),
        })
    }

    /// Writes a little-endian value of `size` bytes (1, 2, 4 or 8).
    #[inline]
    pub fn write_le(&mut self, addr: PhysAddr, size: u8, value: u64) -> bool {
        match size {
            1 => self.write(addr, [value as u8]),
            2 => self.write(addr, (value as u16).to_le_bytes()),
            4 => self.write(addr, (value as u32).to_le_bytes()),
            _ => self.write(addr, value.to_le_bytes()),
        }
    }

    /// Reads a little-endian u64 (page-table entries).
    #[inline]
    pub fn read_u64(&self, addr: PhysAddr) -> Option<u64> {
        self.read(addr).map(u64::from_le_bytes)
    }

    /// Reads a little-endian u32 (32-bit page-table entries).
    #[inline]
    pub fn read_u32(&self, addr: PhysAddr) -> Option<u32> {
        self.read(addr).map(u32::from_le_bytes)
    }

    /// Copies RAM into `buf`; `false` (and nothing copied) when the range is not wholly RAM.
    pub fn read_bytes(&self, addr: PhysAddr, buf: &mut [u8]) -> bool {
        let Some(i) = self.index(addr, buf.len() as u64) else { return false };
        buf.copy_from_slice(&self.ram[i..i + buf.len()]);
        true
    }

    /// Copies `bytes` into RAM (loader, DMA); `false` when the range is not wholly RAM.
    pub fn write_bytes(&mut self, addr: PhysAddr, bytes: &[u8]) -> bool {
        let Some(i) = self.index(addr, bytes.len() as u64) else { return false };
        self.note_write(i, bytes.len());
        self.ram[i..i + bytes.len()].copy_from_slice(bytes);
        true
    }

    /// Fills `[addr, addr+len)` with zeros (BSS); `false` when the range is not wholly RAM.
    pub fn zero(&mut self, addr: PhysAddr, len: u64) -> bool {
        let Some(i) = self.index(addr, len) else { return false };
        self.note_write(i, len as usize);
        self.ram[i..i + len as usize].fill(0);
        true
    }

    /// A view of `[addr, addr+len)` if it is wholly RAM (instruction fetch, snapshots).
    #[inline]
    pub fn slice(&self, addr: PhysAddr, len: usize) -> Option<&[u8]> {
        let i = self.index(addr, len as u64)?;
        Some(&self.ram[i..i + len])
    }

    /// The backing-store index of the 4-KiByte RAM page holding `addr` (its first byte), if
    /// the page is RAM: a handle for [`Self::read_at`] and [`Self::write_at`], which a CPU's
    /// data fast path keeps per linear page. Stays valid while this `PhysMem` lives.
    #[inline]
    pub fn ram_page(&self, addr: PhysAddr) -> Option<usize> {
        let page = PhysAddr(addr.0 & !0xfff);
        self.index(page, 0x1000)
    }

    /// Reads `N` bytes at backing-store index `i` (see [`Self::ram_page`]); `None` out of range.
    #[inline(always)]
    pub fn read_at<const N: usize>(&self, i: usize) -> Option<[u8; N]> {
        self.ram.get(i..i.wrapping_add(N))?.try_into().ok()
    }

    /// Writes `N` bytes at backing-store index `i` (see [`Self::ram_page`]), with the same
    /// code-page bookkeeping as every other write; `false` (nothing written) out of range.
    #[inline(always)]
    pub fn write_at<const N: usize>(&mut self, i: usize, bytes: [u8; N]) -> bool {
        let Some(dst) = self.ram.get_mut(i..i.wrapping_add(N)) else { return false };
        dst.copy_from_slice(&bytes);
        if (i & 0xfff) + N <= 0x1000 {
            // Within one page: the one generation to look at (as `note_write` would).
            if self.code_gen.get(i >> PAGE_SHIFT).is_some_and(|g| g & 1 != 0) {
                self.code_page_written(i, N);
            }
        } else {
            self.note_write(i, N);
        }
        true
    }

    /// Records that decoded code is cached from the page holding `addr` and returns the
    /// page's generation, which a cache entry keeps and compares with [`Self::code_generation`].
    #[inline]
    pub fn mark_code(&mut self, addr: PhysAddr) -> Option<u32> {
        let i = self.index(addr, 1)? >> PAGE_SHIFT;
        let g = &mut self.code_gen[i];
        *g |= 1;
        Some(*g)
    }

    /// The generation of the page holding `addr` (see [`Self::mark_code`]).
    #[inline(always)]
    pub fn code_generation(&self, addr: PhysAddr) -> Option<u32> {
        let i = self.index(addr, 1)? >> PAGE_SHIFT;
        Some(self.code_gen[i])
    }

    /// Bumps the generation of every code page in `[index, index+len)` of the backing store.
    #[inline(always)]
    fn note_write(&mut self, index: usize, len: usize) {
        let first = index >> PAGE_SHIFT;
        let last = (index + len.max(1) - 1) >> PAGE_SHIFT;
        let mut code = false;
        for g in &mut self.code_gen[first..=last] {
            if *g & 1 != 0 {
                *g = g.wrapping_add(1);
                self.code_epoch += 1;
                code = true;
            }
        }
        if code && self.watching {
            self.hit_watches(index, len);
        }
    }

    /// A write within one marked page at `[index, index+len)` (see [`Self::write_at`]): bumps
    /// its generation and looks at the watches. Out of line: the data fast path inlines
    /// `write_at`, and stores to pages without code or a watch never come here.
    #[cold]
    #[inline(never)]
    fn code_page_written(&mut self, index: usize, len: usize) {
        if let Some(g) = self.code_gen.get_mut(index >> PAGE_SHIFT) {
            *g = g.wrapping_add(1);
            self.code_epoch += 1;
        }
        if self.watching {
            self.hit_watches(index, len);
        }
    }

    /// A write to `[index, index+len)` of a marked page: marks every watch it overlaps as hit.
    #[cold]
    #[inline(never)]
    fn hit_watches(&mut self, index: usize, len: usize) {
        let end = index.saturating_add(len.max(1));
        for w in self.watches.iter_mut().flatten() {
            if index < w.end && w.start < end {
                w.hit = true;
            }
        }
        // The write cleared the mark of the page(s) it bumped (a generation's low bit); the
        // pages of the watches still armed must stay marked.
        for w in self.watches.iter().flatten().filter(|w| !w.hit && w.start < w.end) {
            for g in &mut self.code_gen[w.start >> PAGE_SHIFT..=(w.end - 1) >> PAGE_SHIFT] {
                *g |= 1;
            }
        }
        self.watching = self.watches.iter().flatten().any(|w| !w.hit);
    }

    /// Arms `owner`'s address-range monitor on `[addr, addr+len)` (replacing its previous one):
    /// from now on a write to the range by anyone (any vCPU, DMA, the loader) triggers it
    /// ([`Self::watch_armed`] becomes `false`). A range that is not wholly RAM is armed but never
    /// triggered (only write-back RAM is monitored, SDM Vol. 2B "MONITOR"). `false` (nothing
    /// armed) when `owner` is not below [`MAX_WATCH_OWNERS`].
    pub fn watch(&mut self, owner: usize, addr: PhysAddr, len: u64) -> bool {
        if owner >= MAX_WATCH_OWNERS {
            return false;
        }
        let w = match self.index(addr, len) {
            Some(i) => {
                let n = len as usize;
                let (first, last) = (i >> PAGE_SHIFT, (i + n.max(1) - 1) >> PAGE_SHIFT);
                for g in &mut self.code_gen[first..=last] {
                    *g |= 1;
                }
                Watch { start: i, end: i + n, hit: false, addr: addr.0, len }
            }
            None => Watch { start: 0, end: 0, hit: false, addr: addr.0, len },
        };
        if self.watches.len() <= owner {
            self.watches.resize(owner + 1, None);
        }
        self.watches[owner] = Some(w);
        self.watching = true;
        true
    }

    /// `owner`'s monitor is armed: [`Self::watch`] was called and no write has hit the range
    /// since, nor [`Self::unwatch`].
    pub fn watch_armed(&self, owner: usize) -> bool {
        self.watches.get(owner).copied().flatten().is_some_and(|w| !w.hit)
    }

    /// `owner`'s armed monitor range as [`Self::watch`] got it (physical address, length), or
    /// `None` when disarmed (machine snapshots keep it).
    pub fn armed_watch(&self, owner: usize) -> Option<(PhysAddr, u64)> {
        self.watches.get(owner).copied().flatten().filter(|w| !w.hit).map(|w| (PhysAddr(w.addr), w.len))
    }

    /// Disarms every owner's monitor.
    pub fn unwatch_all(&mut self) {
        self.watches.clear();
        self.watching = false;
    }

    /// Disarms `owner`'s monitor.
    pub fn unwatch(&mut self, owner: usize) {
        if let Some(w) = self.watches.get_mut(owner) {
            *w = None;
        }
        self.watching = self.watches.iter().flatten().any(|w| !w.hit);
    }

    /// A counter bumped by every write to a page that holds cached code. A CPU running a
    /// decoded block compares it before and after each instruction: a change means the block
    /// (or another) may now be stale.
    #[inline(always)]
    pub fn code_epoch(&self) -> u64 {
        self.code_epoch
    }

    /// The whole backing store, low RAM first (snapshots and hashing).
    pub fn as_bytes(&self) -> &[u8] {
        &self.ram
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_is_hit_by_writes_to_its_range_only() {
        let mut m = PhysMem::new(MIN_RAM).unwrap();
        assert!(!m.watch_armed(0));
        assert!(m.watch(1, PhysAddr(0x3040), 64));
        assert!(m.watch_armed(1) && !m.watch_armed(0));
        // The same page, outside the line: still armed.
        assert!(m.write_le(PhysAddr(0x3038), 8, 1));
        assert!(m.write_le(PhysAddr(0x3080), 1, 1));
        assert!(m.write_at::<8>(m.ram_page(PhysAddr(0x3000)).unwrap() + 0x30, [0; 8]));
        assert!(m.write_at::<8>(m.ram_page(PhysAddr(0x3000)).unwrap() + 0x90, [0; 8]));
        assert!(m.watch_armed(1));
        // Still watched after those writes (each bumped the page's generation).
        assert!(m.write_at::<1>(m.ram_page(PhysAddr(0x3000)).unwrap() + 0x40, [0]));
        assert!(!m.watch_armed(1));
        assert!(m.watch(1, PhysAddr(0x3040), 64));
        assert!(m.write_le(PhysAddr(0x3000), 8, 1));
        // A write overlapping the line's first byte from below, by each write path.
        assert!(m.write_le(PhysAddr(0x303c), 8, 0));
        assert!(!m.watch_armed(1));
        assert!(m.watch(1, PhysAddr(0x3040), 64));
        assert!(m.write_at::<1>(m.ram_page(PhysAddr(0x3000)).unwrap() + 0x7f, [0]));
        assert!(!m.watch_armed(1));
        assert!(m.watch(1, PhysAddr(0x3040), 64));
        assert!(m.write_bytes(PhysAddr(0x3050), &[1, 2]));
        assert!(!m.watch_armed(1));
        assert!(m.watch(1, PhysAddr(0x3040), 64));
        m.unwatch(1);
        assert!(!m.watch_armed(1));
        assert!(!m.watch(MAX_WATCH_OWNERS, PhysAddr(0x3040), 64));
    }

    #[test]
    fn layout_splits_at_3gib() {
        let m = PhysMem::new(LOW_RAM_LIMIT + (1 << 20)).unwrap();
        let r: Vec<_> = m.regions().collect();
        assert_eq!(r, vec![(PhysAddr(0), LOW_RAM_LIMIT), (PhysAddr(HIGH_RAM_BASE), 1 << 20)]);
        assert!(!m.is_ram(PhysAddr(0xFEE0_0000), 4));
        assert!(m.is_ram(PhysAddr(HIGH_RAM_BASE + 0xff000), 0x1000));
        assert!(!m.is_ram(PhysAddr(HIGH_RAM_BASE + 0xfffff), 2));
    }

    #[test]
    fn rejects_bad_sizes() {
        assert_eq!(PhysMem::new(4096).err(), Some(RamLayoutError::TooSmall(4096)));
        assert_eq!(PhysMem::new(MIN_RAM + 1).err(), Some(RamLayoutError::Unaligned(MIN_RAM + 1)));
        assert!(matches!(PhysMem::new(MAX_RAM + 4096), Err(RamLayoutError::TooLarge(_))));
    }

    #[test]
    fn little_endian_round_trip_and_bounds() {
        let mut m = PhysMem::new(MIN_RAM).unwrap();
        assert!(m.write_le(PhysAddr(0x1000), 8, 0x1122_3344_5566_7788));
        assert_eq!(m.read_le(PhysAddr(0x1000), 1), Some(0x88));
        assert_eq!(m.read_le(PhysAddr(0x1002), 2), Some(0x5566));
        assert_eq!(m.read_le(PhysAddr(MIN_RAM - 4), 8), None);
        assert!(!m.write_le(PhysAddr(MIN_RAM - 1), 2, 0));
    }

    #[test]
    fn writes_to_code_pages_bump_the_generation() {
        let mut m = PhysMem::new(MIN_RAM).unwrap();
        let code = PhysAddr(0x2000);
        let g0 = m.mark_code(code).unwrap();
        assert_eq!(m.code_generation(code), Some(g0));
        m.write_le(PhysAddr(0x3000), 4, 1); // another page: no change
        assert_eq!(m.code_generation(code), Some(g0));
        // a write that straddles into the code page from the page below
        m.write_le(PhysAddr(0x1ffe), 4, 0xdead_beef);
        assert_ne!(m.code_generation(code), Some(g0));
        let g1 = m.mark_code(code).unwrap();
        assert_ne!(g1, g0);
        assert!(m.write_bytes(code, &[0x90]));
        assert_ne!(m.code_generation(code), Some(g1));
    }
}
