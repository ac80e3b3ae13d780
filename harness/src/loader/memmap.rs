//! The memory map the kernel is told about (mb1 §3.3 `mmap_*`, mb2 §3.6.8 tag 6), laid out
//! like SeaBIOS's E820 table on QEMU (ACPI 6.4 §15 "System Address Map Interfaces").
//!
//! Low RAM: `[0, 0x9FC00)` available, `[0x9FC00, 0xA0000)` reserved (EBDA),
//! `[0xA0000, 0xF0000)` absent (VGA window, option ROMs), `[0xF0000, 0x100000)` reserved
//! (BIOS: hvbench's ACPI tables live there), `[0x100000, end of low RAM)` available.
//! RAM above 4 GiB is one available range. No entries for the APIC/IOAPIC MMIO pages: an
//! absent range is not RAM either.

use hvbench_mmu::PhysMem;

/// End of the real-mode interrupt vector table and BIOS data area.
pub(super) const IVT_BDA_END: u64 = 0x500;
/// Start of the extended BIOS data area (639 KiB of conventional memory below it).
pub(super) const BIOS_AREA_START: u64 = 0x9_FC00;
/// Start of the VGA window (end of the EBDA).
const VGA_START: u64 = 0xA_0000;
/// Start of the system BIOS area.
const BIOS_ROM_START: u64 = 0xF_0000;
/// 1 MiB: where "upper memory" starts (mb1 §3.3 `mem_upper`).
pub(super) const HIGH_MEMORY: u64 = 0x10_0000;

/// The type of a memory-map range (the multiboot and E820 numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryKind {
    /// Type 1: RAM the OS may use.
    Available = 1,
    /// Type 2: reserved, do not use.
    Reserved = 2,
}

/// One range of the memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRange {
    /// First byte.
    pub base: u64,
    /// Length in bytes.
    pub length: u64,
    /// What the range is.
    pub kind: MemoryKind,
}

/// The memory map of `mem`, in ascending address order.
pub fn memory_map(mem: &PhysMem) -> Vec<MemoryRange> {
    let range = |base: u64, end: u64, kind| MemoryRange { base, length: end - base, kind };
    let mut map = Vec::new();
    for (base, len) in mem.regions() {
        if base.0 == 0 {
            // PhysMem guarantees at least 2 MiB of RAM at 0.
            map.push(range(0, BIOS_AREA_START, MemoryKind::Available));
            map.push(range(BIOS_AREA_START, VGA_START, MemoryKind::Reserved));
            map.push(range(BIOS_ROM_START, HIGH_MEMORY, MemoryKind::Reserved));
            map.push(range(HIGH_MEMORY, len, MemoryKind::Available));
        } else {
            map.push(MemoryRange { base: base.0, length: len, kind: MemoryKind::Available });
        }
    }
    map
}

/// One past the last byte of the RAM region at physical 0 (always below 4 GiB).
pub(super) fn low_ram_end(mem: &PhysMem) -> u64 {
    mem.regions().find(|(base, _)| base.0 == 0).map_or(0, |(_, len)| len)
}

/// mb1 §3.3 `mem_lower`: KiB of conventional memory from 0 (639).
pub(super) fn mem_lower_kib() -> u32 {
    (BIOS_AREA_START / 1024) as u32
}

/// mb1 §3.3 `mem_upper`: KiB of contiguous memory from 1 MiB to the first hole.
pub(super) fn mem_upper_kib(mem: &PhysMem) -> u32 {
    ((low_ram_end(mem) - HIGH_MEMORY) / 1024) as u32
}
