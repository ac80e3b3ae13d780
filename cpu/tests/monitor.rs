//! Address-range monitoring outside VMX operation (SDM Vol. 2B "MONITOR—Set Up Monitor
//! Address", "MWAIT—Monitor Wait"; Vol. 3A 9.10.4): MONITOR arms the monitoring hardware on the
//! line (CPUID.05H: 64 bytes) holding the address; a store to that line, by any write path of
//! the core or by a device, triggers it; stores elsewhere do not; MWAIT returns (the SDM lets the
//! wait end at any time) and leaves it disarmed.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

/// The monitored address: inside the line [LINE, LINE+64).
const LINE: u64 = DATA_BASE + 0x1040;
const MON: u64 = LINE + 0x18;

/// Runs `body` after `MONITOR MON` (ECX = EDX = 0) in 64-bit mode, then HLT; RBX = LINE.
fn run(before: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Sandbox {
    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(rbx, LINE).unwrap();
    before(&mut a).unwrap();
    a.mov(rax, MON).unwrap();
    a.xor(ecx, ecx).unwrap();
    a.xor(edx, edx).unwrap();
    a.monitor().unwrap();
    body(&mut a).unwrap();
    a.mov(r15d, 0x600d).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE_BASE).unwrap();
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(1000);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.exception_vector(), None);
    assert_eq!(s.cpu.state.gpr[15], 0x600d, "ran to the end");
    s
}

fn nothing(_: &mut CodeAssembler) -> Result<(), IcedError> {
    Ok(())
}

#[test]
fn cpuid_5_reports_the_64_byte_line() {
    let code = {
        let mut a = CodeAssembler::new(64).unwrap();
        a.mov(eax, 5).unwrap();
        a.cpuid().unwrap();
        a.hlt().unwrap();
        a.assemble(CODE_BASE).unwrap()
    };
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(10);
    assert_eq!(s.cpu.state.gpr[0] & 0xffff, 64, "smallest monitor-line size");
    assert_eq!(s.cpu.state.gpr[3] & 0xffff, 64, "largest monitor-line size");
}

#[test]
fn monitor_arms() {
    let s = run(nothing, nothing);
    assert!(s.mem.watch_armed(0));
}

#[test]
fn stores_outside_the_line_leave_it_armed() {
    let s = run(nothing, |a| {
        a.mov(qword_ptr(rbx - 8), rax)?; // the 8 bytes just below the line
        a.mov(byte_ptr(rbx + 64), 1)?; // the byte just above it
        a.mov(qword_ptr(rbx + 0x800), rax) // same page
    });
    assert!(s.mem.watch_armed(0));
}

#[test]
fn a_store_to_the_line_disarms() {
    // A byte store to the line's last byte (not the MONITOR address itself).
    let s = run(nothing, |a| a.mov(byte_ptr(rbx + 63), 1));
    assert!(!s.mem.watch_armed(0));
}

#[test]
fn a_store_overlapping_the_line_from_below_disarms() {
    let s = run(nothing, |a| a.mov(qword_ptr(rbx - 4), rax));
    assert!(!s.mem.watch_armed(0));
}

#[test]
fn a_store_on_the_data_fast_path_disarms() {
    // Stores to the page before MONITOR teach the data fast path the page; the store after it
    // goes through that path.
    let s = run(
        |a| {
            a.mov(qword_ptr(rbx + 0x100), rax)?;
            a.mov(qword_ptr(rbx + 0x108), rax)
        },
        |a| {
            a.mov(qword_ptr(rbx + 0x110), rax)?;
            a.mov(dword_ptr(rbx + 0x20), eax)
        },
    );
    assert!(!s.mem.watch_armed(0));
}

#[test]
fn string_and_sse_stores_disarm() {
    let s = run(nothing, |a| {
        a.lea(rdi, qword_ptr(rbx + 0x30))?;
        a.mov(ecx, 4)?;
        a.rep().stosb()
    });
    assert!(!s.mem.watch_armed(0));
    let s = run(nothing, |a| a.movdqu(xmmword_ptr(rbx + 0x38), xmm0));
    assert!(!s.mem.watch_armed(0));
}

#[test]
fn a_device_write_disarms() {
    // DMA (any write to RAM that is not the vCPU's own) also triggers the monitor.
    let mut s = run(nothing, nothing);
    assert!(s.mem.write_bytes(PhysAddr(LINE + 0x3f), &[7]));
    assert!(!s.mem.watch_armed(0));
}

#[test]
fn mwait_returns_and_disarms() {
    // MWAIT with the monitor armed may end the wait at once (Vol. 2B "MWAIT"); the code after it
    // runs, and the monitor must be armed again.
    let s = run(nothing, |a| a.mwait());
    assert!(!s.mem.watch_armed(0));
}

#[test]
fn mwait_unarmed_falls_through() {
    let code = {
        let mut a = CodeAssembler::new(64).unwrap();
        a.xor(ecx, ecx).unwrap();
        a.mwait().unwrap();
        a.mov(r15d, 0x600d).unwrap();
        a.hlt().unwrap();
        a.assemble(CODE_BASE).unwrap()
    };
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(10);
    assert_eq!(s.cpu.state.gpr[15], 0x600d);
    assert!(!s.mem.watch_armed(0));
}
