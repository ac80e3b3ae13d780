//! x87 subset tests in 64-bit mode; expected values from the SDM (FNINIT state, condition
//! codes, stack faults) and exact binary arithmetic worked out by hand.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

fn run(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>, data: &[(u64, u8, u64)]) -> Sandbox {
    let mut a = CodeAssembler::new(64).unwrap();
    a.mov(rbx, DATA_BASE).unwrap();
    a.fninit().unwrap();
    f(&mut a).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE_BASE).unwrap();
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    for &(off, size, v) in data {
        s.mem.write_le(PhysAddr(DATA_BASE + off), size, v);
    }
    s.run(100);
    s
}

fn ok(s: &Sandbox) {
    assert_eq!(s.exception_vector(), None, "unexpected exception");
    assert_eq!(s.cpu.state.activity, Activity::Halted);
}

#[test]
fn fninit_control_and_status_words() {
    let s = run(|a| {
        a.fnstcw(word_ptr(rbx))?;
        a.fld1()?;
        a.fnstsw(ax)
    }, &[]);
    ok(&s);
    assert_eq!(s.read(DATA_BASE, 2), 0x037f);
    // One push: TOP = 7 (bits 13:11).
    assert_eq!(s.cpu.state.gpr[0] & 0xffff, 7 << 11);
}

#[test]
fn one_plus_one_and_integer_division() {
    let s = run(|a| {
        a.fld1()?;
        a.fld1()?;
        a.faddp(st1, st0)?;
        a.fstp(qword_ptr(rbx))?;
        a.fild(dword_ptr(rbx + 16))?;
        a.fild(dword_ptr(rbx + 20))?;
        a.fdivp(st1, st0)?;
        a.fst(qword_ptr(rbx + 8))?;
        a.fistp(dword_ptr(rbx + 24))
    }, &[(16, 4, 7), (20, 4, 2)]);
    ok(&s);
    assert_eq!(s.read(DATA_BASE, 8), 2.0f64.to_bits());
    assert_eq!(s.read(DATA_BASE + 8, 8), 3.5f64.to_bits(), "7 / 2");
    assert_eq!(s.read(DATA_BASE + 24, 4), 4, "3.5 rounds to even 4");
    assert_eq!(s.cpu.state.fpu.ftw, 0, "stack empty again");
    assert_eq!(s.cpu.state.fpu.fsw & 0x3f, 0x20, "only FISTP of 3.5 is inexact");
}

#[test]
fn extended_precision_is_kept() {
    // 1 + 2^-63 is exact in the 64-bit significand; stored as m80 it keeps the last bit.
    let s = run(|a| {
        a.fld(tword_ptr(rbx))?;
        a.fld1()?;
        a.faddp(st1, st0)?;
        a.fstp(tword_ptr(rbx + 16))?;
        a.fld(tword_ptr(rbx))?;
        a.fld1()?;
        a.faddp(st1, st0)?;
        a.fstp(qword_ptr(rbx + 32))
    }, &[(0, 8, 1 << 63), (8, 2, 0x3fff - 63)]);
    ok(&s);
    assert_eq!(s.read(DATA_BASE + 16, 8), (1 << 63) | 1);
    assert_eq!(s.read(DATA_BASE + 24, 2), 0x3fff);
    // As binary64 it rounds to 1.0 with PE.
    assert_eq!(s.read(DATA_BASE + 32, 8), 1.0f64.to_bits());
    assert_ne!(s.cpu.state.fpu.fsw & 0x20, 0);
}

#[test]
fn stack_underflow_stores_indefinite() {
    let s = run(|a| a.fstp(qword_ptr(rbx)), &[]);
    ok(&s);
    assert_eq!(s.read(DATA_BASE, 8), 0xfff8_0000_0000_0000);
    // IE and SF, C1=0 (underflow).
    assert_eq!(s.cpu.state.fpu.fsw & 0x2ff, 0x41);
}

#[test]
fn unmasked_zero_divide_raises_mf_at_next_waiting_instruction() {
    let s = run(|a| {
        a.fldcw(word_ptr(rbx))?;
        a.fld1()?;
        a.fldz()?;
        a.fdivp(st1, st0)?;
        a.mov(eax, 0x1234)?;
        a.wait()?;
        a.mov(eax, 0x5678)
    }, &[(0, 2, 0x037b)]);
    assert_eq!(s.exception_vector(), Some(16));
    assert_eq!(s.cpu.state.gpr[0] & 0xffff, 0x1234);
    // ZE and ES set; the destination and the stack are left alone (2 values remain).
    assert_eq!(s.cpu.state.fpu.fsw & 0x84, 0x84);
    assert_eq!(s.cpu.state.fpu.ftw.count_ones(), 2);
}

#[test]
fn fcomi_and_fcom_condition_codes() {
    let s = run(|a| {
        a.fld1()?;
        a.fldz()?;
        a.fcomi(st0, st1)?; // 0 < 1: CF=1
        a.fcom_2(st0, st1)
    }, &[]);
    ok(&s);
    assert_eq!(s.cpu.state.rflags & 0x45, 0x01);
    // FCOM: ST0 < source: C0=1, C2=C3=0.
    assert_eq!(s.cpu.state.fpu.fsw & 0x4500, 0x0100);
}

#[test]
fn fchs_fabs_fxch_ffree() {
    let s = run(|a| {
        a.fld1()?;
        a.fchs()?;
        a.fldz()?;
        a.fxch(st0, st1)?;
        a.fst(qword_ptr(rbx))?;
        a.fabs()?;
        a.fst(qword_ptr(rbx + 8))?;
        a.ffree(st1)
    }, &[]);
    ok(&s);
    assert_eq!(s.read(DATA_BASE, 8), (-1.0f64).to_bits());
    assert_eq!(s.read(DATA_BASE + 8, 8), 1.0f64.to_bits());
    assert_eq!(s.cpu.state.fpu.ftw.count_ones(), 1);
}

#[test]
fn cr0_em_and_ts_give_nm() {
    let mut a = CodeAssembler::new(64).unwrap();
    a.fld1().unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE_BASE).unwrap();
    for bit in [2, 3] {
        let mut s = Sandbox::new(SandboxMode::Long64, &code);
        s.cpu.state.cr0 |= 1 << bit;
        s.run(10);
        assert_eq!(s.exception_vector(), Some(7));
    }
    // WAIT: #NM only with both MP and TS.
    let mut a = CodeAssembler::new(64).unwrap();
    a.wait().unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE_BASE).unwrap();
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.cr0 |= 1 << 3;
    s.run(10);
    assert_eq!(s.exception_vector(), None);
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.cr0 |= (1 << 3) | (1 << 1);
    s.run(10);
    assert_eq!(s.exception_vector(), Some(7));
}
