//! Helpers shared by the freestanding mode tests (`pmode16.rs`, `compat.rs`,
//! `pmode16_qemu.rs`): assembling at an address in a chosen bitness, writing guest memory and
//! building segment descriptors.

#![allow(dead_code)]

use hvbench_cpu::sandbox::Sandbox;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

/// Assembles `bits`-bit code at `ip`.
pub fn asm_at(bits: u32, ip: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

/// Writes `bytes` to guest RAM at `addr`.
pub fn put(s: &mut Sandbox, addr: u64, bytes: &[u8]) {
    assert!(s.mem.write_bytes(PhysAddr(addr), bytes));
}

/// Writes the `size`-byte little-endian `v` to guest RAM at `addr`.
pub fn put_le(s: &mut Sandbox, addr: u64, size: u8, v: u64) {
    assert!(s.mem.write_le(PhysAddr(addr), size, v));
}

/// A code/data descriptor (SDM Vol. 3A Figure 3-8): `access` is byte 5 (P, DPL, S, type),
/// `flags` the nibble G, D/B, L, AVL.
pub fn desc(base: u64, limit: u32, access: u8, flags: u8) -> u64 {
    (limit as u64 & 0xffff)
        | (base & 0xff_ffff) << 16
        | (access as u64) << 40
        | ((limit as u64 >> 16) & 0xf) << 48
        | (flags as u64) << 52
        | ((base >> 24) & 0xff) << 56
}
