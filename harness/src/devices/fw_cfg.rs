//! QEMU's firmware configuration device, traditional (non-DMA) interface (QEMU
//! `docs/specs/fw_cfg.rst`: "Selector (Control) Register", "Data Register", "Firmware
//! Configuration Items"), at x86 ports 0x510 (selector, 16-bit) and 0x511 (data, 8-bit).
//!
//! Writing the selector picks an item and rewinds its read offset; each data read returns the
//! item's next byte, and 0 past its end or for a key with no item. Data writes are ignored
//! (QEMU 2.4 and later). Items: 0x0000 signature "QEMU", 0x0001 ID (1: traditional interface,
//! no DMA), 0x0003 RAM size (u64 LE), 0x0005 CPU count (u16 LE), 0x000F maximum CPU count (u16
//! LE), 0x0019 file directory (big-endian: u32 count, then per file u32 size, u16 select, u16
//! reserved, 56-byte NUL-padded name), with files at keys 0x0020 and up, sorted by name.
//!
//! Reset state: selector 0 (the signature), offset 0.

use std::collections::BTreeMap;

/// Selector port.
pub const FW_CFG_SELECTOR: u16 = 0x510;
/// Data port.
pub const FW_CFG_DATA: u16 = 0x511;

/// Item keys.
pub mod key {
    /// "QEMU".
    pub const SIGNATURE: u16 = 0x0000;
    /// Interface feature bits.
    pub const ID: u16 = 0x0001;
    /// RAM size in bytes.
    pub const RAM_SIZE: u16 = 0x0003;
    /// CPUs at boot.
    pub const NB_CPUS: u16 = 0x0005;
    /// Maximum CPUs.
    pub const MAX_CPUS: u16 = 0x000F;
    /// The file directory.
    pub const FILE_DIR: u16 = 0x0019;
    /// The first file's key.
    pub const FILE_FIRST: u16 = 0x0020;
}

/// ID bit 0: the traditional interface.
const ID_TRADITIONAL: u32 = 1;
/// Bytes of a file name in a directory entry.
const FILE_NAME_LEN: usize = 56;

/// A file name that does not fit a directory entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FwCfgError {
    /// Longer than 55 bytes (the entry holds 56 with the NUL).
    #[error("fw_cfg file name {0:?} is longer than 55 bytes")]
    NameTooLong(String),
    /// Already present.
    #[error("fw_cfg file {0:?} is already present")]
    Duplicate(String),
}

/// The fw_cfg device.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FwCfg {
    items: BTreeMap<u16, Vec<u8>>,
    files: BTreeMap<String, Vec<u8>>,
    selected: u16,
    offset: usize,
}

impl FwCfg {
    /// The device describing a machine with `ram_size` bytes and `cpus` CPUs.
    pub fn new(ram_size: u64, cpus: u16) -> Self {
        let mut items = BTreeMap::new();
        items.insert(key::SIGNATURE, b"QEMU".to_vec());
        items.insert(key::ID, ID_TRADITIONAL.to_le_bytes().to_vec());
        items.insert(key::RAM_SIZE, ram_size.to_le_bytes().to_vec());
        items.insert(key::NB_CPUS, cpus.to_le_bytes().to_vec());
        items.insert(key::MAX_CPUS, cpus.to_le_bytes().to_vec());
        let mut cfg = Self { items, files: BTreeMap::new(), selected: 0, offset: 0 };
        cfg.rebuild_files();
        cfg
    }

    /// Adds a named file (e.g. "etc/hvbench/scenario").
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), FwCfgError> {
        if name.len() >= FILE_NAME_LEN {
            return Err(FwCfgError::NameTooLong(name.to_string()));
        }
        if self.files.contains_key(name) {
            return Err(FwCfgError::Duplicate(name.to_string()));
        }
        self.files.insert(name.to_string(), data);
        self.rebuild_files();
        Ok(())
    }

    /// Rebuilds the directory and the file items, in name order.
    fn rebuild_files(&mut self) {
        self.items.retain(|&k, _| k < key::FILE_FIRST);
        let mut dir = (self.files.len() as u32).to_be_bytes().to_vec();
        for (i, (name, data)) in self.files.iter().enumerate() {
            let select = key::FILE_FIRST + i as u16;
            dir.extend_from_slice(&(data.len() as u32).to_be_bytes());
            dir.extend_from_slice(&select.to_be_bytes());
            dir.extend_from_slice(&0u16.to_be_bytes());
            let mut entry_name = [0u8; FILE_NAME_LEN];
            entry_name[..name.len()].copy_from_slice(name.as_bytes());
            dir.extend_from_slice(&entry_name);
            self.items.insert(select, data.clone());
        }
        self.items.insert(key::FILE_DIR, dir);
    }

    /// Selects the item `selector` (bits 14-15, write and arch-local, are part of the key).
    pub fn select(&mut self, selector: u16) {
        self.selected = selector;
        self.offset = 0;
    }

    /// The next byte of the selected item.
    pub fn read_data(&mut self) -> u8 {
        let byte =
            self.items.get(&self.selected).and_then(|item| item.get(self.offset)).copied().unwrap_or(0);
        self.offset = self.offset.saturating_add(1);
        byte
    }
}
