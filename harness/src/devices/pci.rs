//! PCI configuration mechanism #1 (PCI Local Bus Specification 3.0, §3.2.2.3.2 "Software
//! Generation of Configuration Transactions"; §6.1 "Configuration Space Organization") at
//! 0xCF8 (CONFIG_ADDRESS, dword accesses only) and 0xCFC-0xCFF (CONFIG_DATA, byte, word or
//! dword at the byte offset the port selects), with an Intel 440FX host bridge at 00:00.0
//! (Intel 82441FX PMC data sheet §3.2: vendor 0x8086, device 0x1237, revision 0x02, class
//! 0x060000, header type 0, PCICMD 0x0006, PCISTS 0x0280).
//!
//! Absent functions (any other device, function or bus) read all ones and ignore writes.
//! Fields the specification makes read-only ignore writes; in the host bridge only the
//! latency timer (0x0D) and the chipset registers 0x40-0xFF (PAM, SMRAM, DRAM rows: stored,
//! with no effect on the memory map) are writable. CONFIG_ADDRESS keeps bits 31 and 23-2;
//! byte and word accesses to 0xCF8-0xCFB are not configuration cycles (unclaimed).
//!
//! Reset state: CONFIG_ADDRESS 0.

use std::collections::BTreeMap;

/// CONFIG_ADDRESS.
pub const CONFIG_ADDRESS: u16 = 0xCF8;
/// CONFIG_DATA.
pub const CONFIG_DATA: u16 = 0xCFC;

/// CONFIG_ADDRESS bit 31: enable configuration cycles.
const ENABLE: u32 = 1 << 31;
/// CONFIG_ADDRESS bits that hold state (31, bus, device, function, register).
const ADDRESS_MASK: u32 = 0x80FF_FFFC;
/// Bytes in a conventional configuration space.
const CONFIG_SPACE: usize = 256;

/// A PCI function's configuration space.
pub trait PciFunction {
    /// Reads byte `offset` (0-255).
    fn config_read(&self, offset: u8) -> u8;
    /// Writes byte `offset` (0-255); read-only bits keep their value.
    fn config_write(&mut self, offset: u8, value: u8);
}

/// A configuration space with a per-byte mask of writable bits.
#[derive(Debug, Clone)]
pub struct ConfigSpace {
    data: [u8; CONFIG_SPACE],
    writable: [u8; CONFIG_SPACE],
}

impl ConfigSpace {
    /// A type-0 header with the given identity and every byte read-only.
    pub fn new(vendor: u16, device: u16, revision: u8, class: u32, header_type: u8) -> Self {
        let mut s = Self { data: [0; CONFIG_SPACE], writable: [0; CONFIG_SPACE] };
        s.data[0x00..0x02].copy_from_slice(&vendor.to_le_bytes());
        s.data[0x02..0x04].copy_from_slice(&device.to_le_bytes());
        s.data[0x08] = revision;
        s.data[0x09..0x0C].copy_from_slice(&class.to_le_bytes()[..3]);
        s.data[0x0E] = header_type;
        s
    }

    /// Sets a little-endian field's reset value.
    pub fn set(&mut self, offset: usize, bytes: &[u8]) {
        self.data[offset..offset + bytes.len()].copy_from_slice(bytes);
    }

    /// Makes `[start, end)` fully writable.
    pub fn make_writable(&mut self, start: usize, end: usize) {
        self.writable[start..end].fill(0xFF);
    }
}

impl PciFunction for ConfigSpace {
    fn config_read(&self, offset: u8) -> u8 {
        self.data[usize::from(offset)]
    }

    fn config_write(&mut self, offset: u8, value: u8) {
        let i = usize::from(offset);
        self.data[i] = (self.data[i] & !self.writable[i]) | (value & self.writable[i]);
    }
}

/// The Intel 440FX host bridge's configuration space.
pub fn i440fx_host_bridge() -> ConfigSpace {
    let mut s = ConfigSpace::new(0x8086, 0x1237, 0x02, 0x06_0000, 0x00);
    s.set(0x04, &0x0006u16.to_le_bytes()); // PCICMD: memory space, bus master
    s.set(0x06, &0x0280u16.to_le_bytes()); // PCISTS: fast back-to-back, medium DEVSEL
    s.make_writable(0x0D, 0x0E); // MLT
    s.make_writable(0x40, CONFIG_SPACE);
    s
}

/// Bus 0's functions and the configuration mechanism.
pub struct PciBus {
    address: u32,
    functions: BTreeMap<(u8, u8), Box<dyn PciFunction>>,
}

impl Default for PciBus {
    fn default() -> Self {
        Self::new()
    }
}

impl PciBus {
    /// Bus 0 with the host bridge at 00:00.0.
    pub fn new() -> Self {
        let mut functions: BTreeMap<(u8, u8), Box<dyn PciFunction>> = BTreeMap::new();
        functions.insert((0, 0), Box::new(i440fx_host_bridge()));
        Self { address: 0, functions }
    }

    /// CONFIG_ADDRESS.
    pub fn address(&self) -> u32 {
        self.address
    }

    /// Sets CONFIG_ADDRESS (snapshot restore; the bits that hold no state are dropped).
    pub fn set_address(&mut self, value: u32) {
        self.address = value & ADDRESS_MASK;
    }

    /// Every present function's 256 configuration bytes, by (device, function).
    pub fn config_spaces(&self) -> Vec<((u8, u8), Vec<u8>)> {
        self.functions.iter().map(|(&at, f)| (at, (0..=255u8).map(|o| f.config_read(o)).collect())).collect()
    }

    /// Writes saved configuration bytes back (snapshot restore) through the functions' own
    /// write masks: read-only bytes cannot have changed since the snapshot, writable bits take
    /// the saved value. Functions not present on this bus are skipped.
    pub fn set_config_spaces(&mut self, spaces: &[((u8, u8), Vec<u8>)]) {
        for (at, bytes) in spaces {
            if let Some(f) = self.functions.get_mut(at) {
                for (o, &b) in bytes.iter().enumerate().take(CONFIG_SPACE) {
                    f.config_write(o as u8, b);
                }
            }
        }
    }

    /// Adds a function at bus 0, `device` (0-31), `function` (0-7); replaces what was there.
    pub fn add(&mut self, device: u8, function: u8, f: Box<dyn PciFunction>) {
        self.functions.insert((device & 31, function & 7), f);
    }

    /// Whether this bus decodes an access of `size` bytes at `port`.
    pub fn claims(&self, port: u16, size: u8) -> bool {
        (port == CONFIG_ADDRESS && size == 4)
            || ((CONFIG_DATA..CONFIG_DATA + 4).contains(&port) && self.address & ENABLE != 0)
    }

    /// The selected function and register offset, if the address selects a present one.
    fn target(&mut self, port: u16) -> Option<(&mut Box<dyn PciFunction>, u8)> {
        let bus = (self.address >> 16) as u8;
        let device = ((self.address >> 11) & 31) as u8;
        let function = ((self.address >> 8) & 7) as u8;
        let offset = (self.address & 0xFC) as u8 | (port - CONFIG_DATA) as u8;
        if bus != 0 {
            return None;
        }
        self.functions.get_mut(&(device, function)).map(|f| (f, offset))
    }

    /// A read of `size` bytes (only called when [`Self::claims`]).
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        if port == CONFIG_ADDRESS {
            return self.address;
        }
        let Some((f, offset)) = self.target(port) else { return super::debug_exit::ones(size) };
        (0..size).fold(0, |v, i| {
            let byte = offset.checked_add(i).map_or(0xFF, |o| f.config_read(o));
            v | u32::from(byte) << (8 * i)
        })
    }

    /// A write of `size` bytes (only called when [`Self::claims`]).
    pub fn write(&mut self, port: u16, size: u8, value: u32) {
        if port == CONFIG_ADDRESS {
            self.address = value & ADDRESS_MASK;
            return;
        }
        let Some((f, offset)) = self.target(port) else { return };
        for i in 0..size {
            if let Some(o) = offset.checked_add(i) {
                f.config_write(o, (value >> (8 * i)) as u8);
            }
        }
    }
}
