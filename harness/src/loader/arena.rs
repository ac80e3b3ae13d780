//! Placing modules and boot information in RAM: a bump allocator that starts on the page
//! above the kernel (and at 1 MiB or higher) and ends at the end of low RAM, so that nothing
//! overlaps the kernel and every address fits the specifications' 32-bit fields.

use hvbench_mmu::{PhysAddr, PhysMem};

use super::LoadError;
use super::memmap::{HIGH_MEMORY, low_ram_end};

/// The 4-KiByte page size that modules are aligned to (mb1 §3.1.2 flags bit 0, mb2 §3.1.11).
pub(super) const PAGE: u64 = 4096;

/// A bump allocator over `[next, limit)`.
pub(super) struct Arena {
    next: u64,
    limit: u64,
    file: String,
}

impl Arena {
    /// An arena starting on the page above `kernel_end` (at 1 MiB at the lowest).
    pub(super) fn above_kernel(mem: &PhysMem, kernel_end: u64, file: &str) -> Self {
        let start = align_up(kernel_end, PAGE).max(HIGH_MEMORY);
        Self { next: start, limit: low_ram_end(mem), file: file.to_string() }
    }

    /// Reserves `len` bytes aligned to `align` (a power of two) and returns their address.
    pub(super) fn alloc(&mut self, len: u64, align: u64) -> Result<u32, LoadError> {
        let start = align_up(self.next, align);
        let end = start.checked_add(len).filter(|&e| e <= self.limit);
        let Some(end) = end else {
            return Err(LoadError::BootDataDoesNotFit {
                file: self.file.clone(),
                start: self.next,
                needed: (start - self.next).saturating_add(len),
                ram_end: self.limit,
            });
        };
        self.next = end;
        // limit is low RAM's end, below 4 GiB.
        Ok(start as u32)
    }

    /// Copies `bytes` into RAM at a fresh allocation and returns its address.
    pub(super) fn put(&mut self, mem: &mut PhysMem, bytes: &[u8], align: u64) -> Result<u32, LoadError> {
        let addr = self.alloc(bytes.len() as u64, align)?;
        mem.write_bytes(PhysAddr(u64::from(addr)), bytes);
        Ok(addr)
    }

    /// Copies `s` and a terminating NUL into RAM and returns its address.
    pub(super) fn put_cstr(&mut self, mem: &mut PhysMem, s: &str) -> Result<u32, LoadError> {
        let mut bytes = Vec::with_capacity(s.len() + 1);
        bytes.extend_from_slice(s.as_bytes());
        bytes.push(0);
        self.put(mem, &bytes, 1)
    }
}

/// `v` rounded up to a multiple of `align` (a power of two), saturating.
pub(super) fn align_up(v: u64, align: u64) -> u64 {
    v.checked_add(align - 1).map_or(!(align - 1), |x| x & !(align - 1))
}
