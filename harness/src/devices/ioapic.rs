//! The I/O APIC (Intel 82093AA I/O Advanced Programmable Interrupt Controller datasheet,
//! 290566-001, sections 3.0-3.2; version 0x20 adds the directed-EOI register at offset 0x40
//! as in the ICH/PCH IOAPICs). One IOAPIC at 0xFEC00000 with 24 pins, ID = the CPU count
//! (what the MADT says).
//!
//! Registers: IOREGSEL (offset 0x00) selects, IOWIN (0x10) reads and writes the selected
//! register; EOI (0x40) takes a vector. Indirect registers: 0x00 ID (bits 27:24), 0x01
//! version 0x0017_0020 (24 entries, version 0x20), 0x02 arbitration ID (= ID), 0x10 + 2n /
//! 0x11 + 2n redirection entry n low/high. Entries reset masked.
//!
//! Pins see the ISA lines as levels (high = asserted); an entry with polarity active-low
//! (bit 13) sees the inverted level. Edge-triggered entries send a message on each
//! deasserted-to-asserted transition while unmasked (an edge while masked is lost);
//! level-triggered entries send while the pin is asserted and Remote IRR is clear, and set
//! Remote IRR, which the EOI of the vector (from a local APIC's EOI broadcast or the EOI
//! register) clears, sending again if the pin is still asserted. Delivery status always
//! reads idle. Messages go out through [`IoApic::take_messages`] to the APIC bus.

use super::lapic::{ApicMessage, DeliveryMode, Destination};

/// The IOAPIC's physical base.
pub const IOAPIC_BASE: u64 = 0xFEC0_0000;
/// The decoded window (the 82093AA decodes 0xFEC0xy00-0xFEC0xy3F; a page is mapped).
pub const IOAPIC_SIZE: u64 = 0x1000;
/// Redirection entries (pins).
pub const IOAPIC_PINS: usize = 24;
/// The version register: max redirection entry 23, version 0x20.
pub const IOAPIC_VERSION: u32 = 0x0017_0020;

/// Redirection entry bits (82093AA 3.2.4).
mod rte {
    pub const POLARITY_LOW: u64 = 1 << 13;
    pub const REMOTE_IRR: u64 = 1 << 14;
    pub const LEVEL: u64 = 1 << 15;
    pub const MASKED: u64 = 1 << 16;
    pub const DEST_LOGICAL: u64 = 1 << 11;
    /// Writable: vector, delivery mode, destination mode, polarity, trigger, mask, destination.
    pub const WRITABLE: u64 = 0xFF00_0000_0001_AFFF;
}

/// The I/O APIC.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct IoApic {
    id: u32,
    select: u8,
    redir: [u64; IOAPIC_PINS],
    lines: [bool; IOAPIC_PINS],
    outbox: Vec<ApicMessage>,
}

impl IoApic {
    /// An IOAPIC with ID `id` in its reset state (every entry masked).
    pub fn new(id: u32) -> Self {
        Self { id: id & 0xF, select: 0, redir: [rte::MASKED; IOAPIC_PINS], lines: [false; IOAPIC_PINS], outbox: Vec::new() }
    }

    /// Redirection entry `pin` (for tests and dumps).
    pub fn entry(&self, pin: usize) -> u64 {
        self.redir.get(pin).copied().unwrap_or(0)
    }

    fn asserted(&self, pin: usize) -> bool {
        self.lines[pin] ^ (self.redir[pin] & rte::POLARITY_LOW != 0)
    }

    /// Sets the input level of `pin` (high = the device asserts its line).
    pub fn set_line(&mut self, pin: usize, level: bool) {
        if pin >= IOAPIC_PINS {
            return;
        }
        let was = self.asserted(pin);
        self.lines[pin] = level;
        let now = self.asserted(pin);
        let e = self.redir[pin];
        if e & rte::LEVEL != 0 {
            self.service_level(pin);
        } else if now && !was && e & rte::MASKED == 0 {
            self.send(pin);
        }
    }

    /// A pulse on `pin` (the PIT's OUT0 edge).
    pub fn pulse(&mut self, pin: usize) {
        self.set_line(pin, true);
        self.set_line(pin, false);
    }

    /// Whether an unmasked entry delivers NMIs (so the machine knows NMIs may still come).
    pub fn routes_nmi(&self) -> bool {
        self.redir.iter().any(|&e| e & rte::MASKED == 0 && DeliveryMode::from_bits(e) == DeliveryMode::Nmi)
    }

    fn service_level(&mut self, pin: usize) {
        let e = self.redir[pin];
        if e & rte::LEVEL != 0 && e & (rte::MASKED | rte::REMOTE_IRR) == 0 && self.asserted(pin) {
            if matches!(DeliveryMode::from_bits(e), DeliveryMode::Fixed | DeliveryMode::LowestPriority) {
                self.redir[pin] |= rte::REMOTE_IRR;
            }
            self.send(pin);
        }
    }

    fn send(&mut self, pin: usize) {
        let e = self.redir[pin];
        let d = (e >> 56) as u32;
        let mode = DeliveryMode::from_bits(e);
        self.outbox.push(ApicMessage {
            vector: e as u8,
            mode,
            dest: if e & rte::DEST_LOGICAL != 0 { Destination::Logical(d) } else { Destination::Physical(d) },
            level_triggered: e & rte::LEVEL != 0 && matches!(mode, DeliveryMode::Fixed | DeliveryMode::LowestPriority),
            assert: true,
            x2apic_format: false,
        });
    }

    /// The EOI of `vector` (broadcast by a local APIC, or written to the EOI register):
    /// clears Remote IRR of the level-triggered entries with that vector.
    pub fn eoi(&mut self, vector: u8) {
        for pin in 0..IOAPIC_PINS {
            let e = self.redir[pin];
            if e & rte::REMOTE_IRR != 0 && e as u8 == vector {
                self.redir[pin] &= !rte::REMOTE_IRR;
                self.service_level(pin);
            }
        }
    }

    /// Messages sent since the last call, in order.
    pub fn take_messages(&mut self) -> Vec<ApicMessage> {
        std::mem::take(&mut self.outbox)
    }

    fn read_indirect(&self) -> u32 {
        match self.select {
            0x00 | 0x02 => self.id << 24,
            0x01 => IOAPIC_VERSION,
            s @ 0x10..=0x3F => {
                let e = self.redir[((s - 0x10) >> 1) as usize];
                if s & 1 == 0 { e as u32 } else { (e >> 32) as u32 }
            }
            _ => 0,
        }
    }

    fn write_indirect(&mut self, v: u32) {
        match self.select {
            0x00 => self.id = (v >> 24) & 0xF,
            s @ 0x10..=0x3F => {
                let pin = ((s - 0x10) >> 1) as usize;
                let old = self.redir[pin];
                let new = if s & 1 == 0 { (old & !0xFFFF_FFFF) | u64::from(v) } else { (old & 0xFFFF_FFFF) | (u64::from(v) << 32) };
                self.redir[pin] = (new & rte::WRITABLE) | (old & rte::REMOTE_IRR);
                if self.redir[pin] & rte::LEVEL == 0 {
                    self.redir[pin] &= !rte::REMOTE_IRR;
                }
                self.service_level(pin);
            }
            _ => {}
        }
    }

    /// An MMIO read at `offset` from the base.
    pub fn mmio_read(&mut self, offset: u64, size: u8) -> u64 {
        let v = match offset & !3 {
            0x00 => u32::from(self.select),
            0x10 => self.read_indirect(),
            _ => 0,
        };
        let v = u64::from(v >> (8 * (offset & 3)));
        if size >= 8 { v } else { v & ((1u64 << (8 * size)) - 1) }
    }

    /// An MMIO write at `offset`; 32-bit accesses to IOWIN and EOI, any size to IOREGSEL.
    pub fn mmio_write(&mut self, offset: u64, size: u8, value: u64) {
        match offset {
            0x00 => self.select = value as u8,
            0x10 if size >= 4 => self.write_indirect(value as u32),
            0x40 => self.eoi(value as u8),
            _ => {}
        }
    }
}
