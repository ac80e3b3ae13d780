//! End-to-end smoke tests of the core in each mode, with code assembled by iced-x86.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use iced_x86::code_asm::*;

fn asm(bits: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(CODE_BASE).unwrap()
}

#[test]
fn long_mode_loop_sums_and_halts() {
    // sum 1..=100 with a loop, store to memory, halt.
    let code = asm(64, |a| {
        let mut top = a.create_label();
        a.xor(eax, eax)?;
        a.mov(ecx, 100)?;
        a.set_label(&mut top)?;
        a.add(rax, rcx)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rax)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(10_000);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.read(DATA_BASE, 8), 5050);
    assert_eq!(s.cpu.state.gpr[0], 5050);
}

#[test]
fn call_ret_push_pop_in_32_bit_mode() {
    let code = asm(32, |a| {
        let mut f = a.create_label();
        a.mov(eax, 7)?;
        a.call(f)?;
        a.hlt()?;
        a.set_label(&mut f)?;
        a.push(eax)?;
        a.pop(ebx)?;
        a.add(ebx, ebx)?;
        a.ret()
    });
    let mut s = Sandbox::new(SandboxMode::Protected32, &code);
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.cpu.state.gpr[0], 7);
    assert_eq!(s.cpu.state.gpr[4], hvbench_cpu::sandbox::STACK_TOP, "stack balanced");
}

#[test]
fn undefined_opcode_reaches_the_ud_handler() {
    let code = asm(64, |a| a.ud2());
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(6));
}

#[test]
fn page_fault_sets_cr2_and_error_code() {
    // Read from a non-canonical-free but unmapped address: above 4 GiB is not mapped.
    let code = asm(64, |a| {
        a.mov(rbx, 0x1_2345_6000u64)?;
        a.mov(rax, qword_ptr(rbx))?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(14));
    assert_eq!(s.cpu.state.cr2, 0x1_2345_6000);
    // Error code pushed: not present (P=0), read (W=0), supervisor (U=0) => 0.
    let top = s.cpu.state.gpr[4];
    assert_eq!(s.read(top, 8), 0);
    // Return RIP is the faulting instruction (the mov after the 10-byte mov rbx, imm64).
    assert_eq!(s.read(top + 8, 8), CODE_BASE + 10);
}

#[test]
fn real_mode_interrupt_through_the_ivt() {
    let code = asm(16, |a| {
        a.mov(ax, 0x1234)?;
        a.int3()
    });
    let mut s = Sandbox::new(SandboxMode::Real, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(3));
    // FLAGS, CS, IP were pushed on the 16-bit stack; IP is the instruction after INT3.
    let top = s.cpu.state.gpr[4] & 0xffff;
    assert_eq!(top, 0x7000 - 6);
    assert_eq!(s.read(top, 2), CODE_BASE - 0xffff0 + 4);
    assert_eq!(s.read(top + 2, 2), 0xffff);
}
