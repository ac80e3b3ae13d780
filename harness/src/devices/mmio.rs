//! Memory-mapped devices keyed by the physical address ranges they decode.
//!
//! The map is a `BTreeMap` from base address, so lookups and iteration are in address order
//! (never hash order). Ranges may not overlap; an address that no device claims is left to
//! the bus (reads all ones, writes ignored).

use std::collections::BTreeMap;

use hvbench_mmu::{CpuIndex, PhysAddr};

/// A device decoding a range of physical addresses (local APIC, IOAPIC, HPET, ...).
pub trait MmioDevice {
    /// A read of `size` bytes at `offset` from the range's base.
    fn mmio_read(&mut self, cpu: CpuIndex, offset: u64, size: u8) -> u64;
    /// A write of `size` bytes at `offset` from the range's base.
    fn mmio_write(&mut self, cpu: CpuIndex, offset: u64, size: u8, value: u64);
}

/// A new range that overlaps one already mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "MMIO range [{base:#x}, {end:#x}) overlaps the device already mapped at [{other_base:#x}, {other_end:#x})"
)]
pub struct MmioOverlap {
    /// The new range's base.
    pub base: u64,
    /// One past its end.
    pub end: u64,
    /// The existing range's base.
    pub other_base: u64,
    /// One past its end.
    pub other_end: u64,
}

/// The MMIO devices of a machine.
#[derive(Default)]
pub struct MmioMap {
    devices: BTreeMap<u64, (u64, Box<dyn MmioDevice>)>,
}

impl MmioMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `device` at `[base, base + len)`.
    pub fn add(&mut self, base: u64, len: u64, device: Box<dyn MmioDevice>) -> Result<(), MmioOverlap> {
        let end = base.saturating_add(len);
        // Mapped ranges never overlap each other, so the one with the highest base below
        // `end` is the only one that can overlap the new range.
        if let Some((&other_base, (other_len, _))) = self.devices.range(..end).next_back() {
            let other_end = other_base + other_len;
            if other_end > base {
                return Err(MmioOverlap { base, end, other_base, other_end });
            }
        }
        self.devices.insert(base, (len, device));
        Ok(())
    }

    /// The device decoding `addr` and the offset into its range.
    fn find(&mut self, addr: PhysAddr) -> Option<(&mut Box<dyn MmioDevice>, u64)> {
        let (&base, (len, dev)) = self.devices.range_mut(..=addr.0).next_back()?;
        let offset = addr.0 - base;
        (offset < *len).then_some((dev, offset))
    }

    /// A read, or `None` when no device decodes `addr`.
    pub fn read(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8) -> Option<u64> {
        let (dev, offset) = self.find(addr)?;
        Some(dev.mmio_read(cpu, offset, size))
    }

    /// A write; `false` when no device decodes `addr`.
    pub fn write(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8, value: u64) -> bool {
        let Some((dev, offset)) = self.find(addr) else { return false };
        dev.mmio_write(cpu, offset, size, value);
        true
    }
}
