//! Helpers shared by the freestanding mode tests (`pmode16.rs`, `compat.rs`,
//! `pmode16_qemu.rs`, `v8086.rs`, `v8086_qemu.rs`): assembling at an address in a chosen
//! bitness, writing guest memory, building segment descriptors, and running one multiboot
//! image in the sandbox and under QEMU to compare their serial output.

#![allow(dead_code)]

use hvbench_cpu::sandbox::{Sandbox, SandboxMode};
use hvbench_mmu::{Bus, CpuIndex, PhysAddr};
use std::process::Command;
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

/// The 8-hex-digit lines of a serial transcript, as numbers.
pub fn lines(out: &str) -> Vec<u32> {
    out.lines().filter(|l| l.len() == 8).filter_map(|l| u32::from_str_radix(l, 16).ok()).collect()
}

/// COM1 output capture.
pub struct Serial(pub String);

impl Bus for Serial {
    fn io_read(&mut self, _: CpuIndex, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: CpuIndex, port: u16, _: u8, value: u32) {
        if port == 0x3f8 {
            self.0.push(value as u8 as char);
        }
    }
    fn mmio_read(&mut self, _: CpuIndex, _: PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: CpuIndex, _: PhysAddr, _: u8, _: u64) {}
}

/// Runs a multiboot image (loaded at the sandbox's code base) from `entry` in flat 32-bit
/// protected mode, as a multiboot loader leaves it; returns its COM1 output.
pub fn run_in_sandbox(img: &[u8], entry: u64) -> String {
    let mut s = Sandbox::new(SandboxMode::Protected32, img);
    s.cpu.state.rip = entry;
    let st = s.cpu.state.clone();
    s.cpu.set_state(st);
    let mut bus = Serial(String::new());
    s.run_with(&mut bus, 100_000);
    bus.0
}

/// Boots the image with `qemu-system-x86_64 -kernel` (TCG, isa-debug-exit) and returns its
/// serial output and stderr, or `None` (with a SKIPPED line) when QEMU is not installed.
pub fn run_in_qemu(img: &[u8], name: &str) -> Option<(String, String)> {
    if Command::new("qemu-system-x86_64").arg("--version").output().is_err() {
        eprintln!("SKIPPED (QEMU part): qemu-system-x86_64 is not installed");
        return None;
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, img).unwrap();
    let q = Command::new("timeout")
        .args(["20", "qemu-system-x86_64", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-m", "64"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-kernel"])
        .arg(&path)
        .output()
        .expect("qemu runs");
    Some((String::from_utf8_lossy(&q.stdout).replace('\r', ""), String::from_utf8_lossy(&q.stderr).into_owned()))
}
