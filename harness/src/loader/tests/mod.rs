//! Loader tests: images built byte by byte, boot information decoded back per the specs.

mod elf_writer;
mod errors;
mod memory_map;
mod multiboot1;
mod multiboot2;
mod robustness;

use hvbench_mmu::{PhysAddr, PhysMem};

use super::{BootConfig, BootModule};

pub use elf_writer::{Class, Seg, elf};

/// 16 MiB of RAM.
pub const RAM: u64 = 16 << 20;
/// The kernel path used in the tests.
pub const PATH: &str = "/boot/kernel.elf";

/// Fresh RAM.
pub fn ram() -> PhysMem {
    PhysMem::new(RAM).unwrap()
}

/// A configuration with `modules` and "console=ttyS0" arguments.
pub fn config(modules: &[BootModule]) -> BootConfig<'_> {
    BootConfig {
        kernel_path: PATH,
        cmdline: "console=ttyS0",
        modules,
        boot_loader_name: "hvbench",
        acpi_rsdp: None,
    }
}

/// Two modules with distinct contents and strings.
pub fn two_modules() -> Vec<BootModule> {
    vec![
        BootModule { data: vec![0x11; 5000], cmdline: "/boot/initrd.img".into() },
        BootModule { data: b"guest image".to_vec(), cmdline: "/boot/guest.bin arg=1".into() },
    ]
}

/// mb1 §3.1.1: magic, flags, checksum, then optional address fields.
pub fn mb1_header(flags: u32, addresses: Option<[u32; 5]>) -> Vec<u8> {
    let magic = 0x1BAD_B002u32;
    let checksum = 0u32.wrapping_sub(magic).wrapping_sub(flags);
    let mut h: Vec<u8> = [magic, flags, checksum].iter().flat_map(|v| v.to_le_bytes()).collect();
    for v in addresses.iter().flatten() {
        h.extend_from_slice(&v.to_le_bytes());
    }
    h
}

/// A multiboot2 header tag: type, flags, body (size computed).
pub struct Tag {
    pub ty: u16,
    pub flags: u16,
    pub body: Vec<u8>,
}

impl Tag {
    /// A tag whose body is the little-endian u32s `words`.
    pub fn words(ty: u16, flags: u16, words: &[u32]) -> Self {
        Self { ty, flags, body: words.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }
}

/// mb2 §3.1.2: magic, architecture 0, header_length, checksum, tags, end tag.
pub fn mb2_header(tags: &[Tag]) -> Vec<u8> {
    let mut body = Vec::new();
    for t in tags.iter().chain([&Tag { ty: 0, flags: 0, body: vec![] }]) {
        body.extend_from_slice(&t.ty.to_le_bytes());
        body.extend_from_slice(&t.flags.to_le_bytes());
        body.extend_from_slice(&(8 + t.body.len() as u32).to_le_bytes());
        body.extend_from_slice(&t.body);
        body.resize(body.len().next_multiple_of(8), 0);
    }
    let magic = 0xE852_50D6u32;
    let length = 16 + body.len() as u32;
    let checksum = 0u32.wrapping_sub(magic).wrapping_sub(length);
    let mut h: Vec<u8> = [magic, 0, length, checksum].iter().flat_map(|v| v.to_le_bytes()).collect();
    h.extend_from_slice(&body);
    h
}

/// Reads a u32 the kernel would read.
pub fn rd32(mem: &PhysMem, addr: u64) -> u32 {
    mem.read_u32(PhysAddr(addr)).unwrap()
}

/// Reads a u64 the kernel would read.
pub fn rd64(mem: &PhysMem, addr: u64) -> u64 {
    mem.read_u64(PhysAddr(addr)).unwrap()
}

/// Reads `len` bytes.
pub fn bytes(mem: &PhysMem, addr: u64, len: usize) -> Vec<u8> {
    mem.slice(PhysAddr(addr), len).unwrap().to_vec()
}

/// Reads a NUL-terminated string.
pub fn cstring(mem: &PhysMem, addr: u64) -> String {
    let mut s = Vec::new();
    let mut a = addr;
    loop {
        let b = mem.read::<1>(PhysAddr(a)).unwrap()[0];
        if b == 0 {
            return String::from_utf8(s).unwrap();
        }
        s.push(b);
        a += 1;
    }
}

/// The memory map the SeaBIOS layout gives 16 MiB of RAM: (base, length, type).
pub fn expected_map_16m() -> Vec<(u64, u64, u32)> {
    vec![(0, 0x9_FC00, 1), (0x9_FC00, 0x400, 2), (0xF_0000, 0x1_0000, 2), (0x10_0000, RAM - 0x10_0000, 1)]
}
