//! 16-bit protected mode: programs running in a code segment with D=0 while CR0.PE=1,
//! assembled here with iced-x86's `code_asm` (bitness 16/32 per code segment) or written as
//! raw bytes with the assembly beside them, and run in the [`Sandbox`]. Expected values come
//! from the SDM (section or instruction page cited beside each assertion group):
//!
//! - Vol. 1 3.6 "Operand-size and Address-size Attributes" and Vol. 3A 3.4.5 "Segment
//!   Descriptors" (D/B flag: code D, stack B, expand-down upper bound B);
//! - Vol. 3A 5.3 "Limit Checking" (code fetch, data, expand-down and stack limits);
//! - Vol. 3A 6.12.1 "Exception- or Interrupt-Handler Procedures" (16-bit gates push 16-bit
//!   frames), Vol. 2A "IRET" (operand size 16 pops words);
//! - Vol. 3A 5.8.4-5.8.6 "Call gates" (16-bit gates copy parameters as words), Vol. 2A
//!   "CALL" / Vol. 2B "RET" (far frames by operand size);
//! - Vol. 2B "PUSHA/PUSHAD", "POPA/POPAD", "LOOP/LOOPcc", "Jcc" (JCXZ/JECXZ), "MOVS",
//!   "REP" (count and index registers by address size), "JMP" (EIP truncated to 16 bits).
//!
//! The sandbox starts in 32-bit protected mode; each test adds its own descriptors (below)
//! and loads CS/SS/DS/ES from them before the first instruction, exactly as a far JMP or a
//! MOV to the segment register would. Exceptions not handled by the program go through the
//! sandbox's 32-bit interrupt gates to stubs that record the vector and halt.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE, STACK_TOP};
use hvbench_cpu::segment::{Descriptor, SegReg};
use hvbench_cpu::{Activity, Mode};
use iced_x86::code_asm::*;

mod segment_support;

use segment_support::*;

/// A 16-bit call gate (type 4) or 16-bit interrupt/trap gate (types 6/7) (SDM Vol. 3A
/// Figures 5-8 and 6-2): `typ` with P and DPL, target selector:offset, parameter count.
fn gate(typ: u8, dpl: u8, sel: u16, off: u32, params: u8) -> u64 {
    (off as u64 & 0xffff)
        | (sel as u64) << 16
        | (params as u64 & 0x1f) << 32
        | ((0x80 | dpl << 5 | typ) as u64) << 40
        | ((off as u64) >> 16) << 48
}

const FLAT_DATA: u16 = 0x10;
/// 16-bit code, base CODE_BASE, limit 0xFFFF, DPL 0 (D=0).
const CODE16: u16 = 0x50;
/// 16-bit data, base DATA_BASE, limit 0xFFFF.
const DATA16: u16 = 0x58;
/// 16-bit stack (B=0), base STK16_BASE, limit 0xFFFF.
const STACK16: u16 = 0x60;
/// 32-bit code (D=1), base CODE_BASE, 4-GiB limit.
const CODE32: u16 = 0x68;
/// Expand-down data, B=0, limit 0xFFF: valid offsets 0x1000..=0xFFFF.
const EDOWN16: u16 = 0x70;
/// Expand-down data, B=1, limit 0xFFF: valid offsets 0x1000..=0xFFFF_FFFF.
const EDOWN32: u16 = 0x78;
/// Ring-3 16-bit code, base CODE_BASE, limit 0xFFFF.
const CODE16_R3: u16 = 0x83;
/// Ring-3 16-bit stack (B=0), base USTK_BASE.
const STACK16_R3: u16 = 0x8b;
/// 16-bit call gate, DPL 3, two word parameters, to CODE16:GATE_TARGET (selector with RPL 3).
const GATE16: u16 = 0x93;
/// 32-bit data, base DATA_BASE, 4-GiB limit (B=1).
const DATA32: u16 = 0x98;
/// 16-bit code, base CODE_BASE, limit 0xFFF.
const CODE16_SMALL: u16 = 0xa0;
/// Ring-3 16-bit data, base DATA_BASE, limit 0xFFFF.
const DATA16_R3: u16 = 0xb3;
/// Ring-3 expand-down stack, B=0, limit 0x7FFF: valid offsets 0x8000..=0xFFFF.
const EDSTACK_R3: u16 = 0xbb;

const STK16_BASE: u64 = 0x6_0000;
const USTK_BASE: u64 = 0x5_0000;
const GATE_TARGET: u64 = 0x3000;

fn gdt_entries() -> Vec<(u16, u64)> {
    vec![
        (CODE16, desc(CODE_BASE, 0xffff, 0x9a, 0)),
        (DATA16, desc(DATA_BASE, 0xffff, 0x92, 0)),
        (STACK16, desc(STK16_BASE, 0xffff, 0x92, 0)),
        (CODE32, desc(CODE_BASE, 0xfffff, 0x9a, 0xc)),
        (EDOWN16, desc(DATA_BASE, 0xfff, 0x96, 0)),
        (EDOWN32, desc(DATA_BASE, 0xfff, 0x96, 0x4)),
        (CODE16_R3, desc(CODE_BASE, 0xffff, 0xfa, 0)),
        (STACK16_R3, desc(USTK_BASE, 0xffff, 0xf2, 0)),
        (GATE16, gate(4, 3, CODE16, GATE_TARGET as u32, 2)),
        (DATA32, desc(DATA_BASE, 0xfffff, 0x92, 0xc)),
        (CODE16_SMALL, desc(CODE_BASE, 0xfff, 0x9a, 0)),
        (DATA16_R3, desc(DATA_BASE, 0xffff, 0xf2, 0)),
        (EDSTACK_R3, desc(STK16_BASE, 0x7fff, 0xf6, 0)),
    ]
}

/// Loads `seg` from the sandbox GDT (the descriptor cache a MOV/far JMP would fill).
fn load(s: &mut Sandbox, seg: SegReg, sel: u16) {
    let raw = s.read(0x1000 + (sel as u64 & !7), 8);
    s.cpu.state.seg[seg as usize] = Descriptor { raw }.to_segment(sel);
}

/// A sandbox in 16-bit protected mode at CODE16:0 with `code` there: CPL 0, DS flat
/// (the exception stubs use it), ES = DATA16, SS flat with ESP = STACK_TOP, IDT limit for
/// 256 gates, TSS SS0:ESP0 = FLAT_DATA:STACK_TOP.
fn pm16(code: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Protected32, &[0xf4]);
    for (sel, d) in gdt_entries() {
        put_le(&mut s, 0x1000 + (sel as u64 & !7), 8, d);
    }
    put(&mut s, CODE_BASE, code);
    s.cpu.state.gdtr.limit = 0xbf;
    s.cpu.state.idtr.limit = 0x7ff;
    put_le(&mut s, 0x3004, 4, STACK_TOP);
    put_le(&mut s, 0x3008, 4, FLAT_DATA as u64);
    load(&mut s, SegReg::Cs, CODE16);
    load(&mut s, SegReg::Es, DATA16);
    s.cpu.state.rip = 0;
    s
}

/// Commits direct state edits (segment caches, CPL) the way the sandbox does.
fn commit(s: &mut Sandbox) {
    let st = s.cpu.state.clone();
    s.cpu.set_state(st);
}

/// Writes IDT entry `v` (8-byte protected-mode gate).
fn idt(s: &mut Sandbox, v: u8, g: u64) {
    put_le(s, 0x2000 + 8 * v as u64, 8, g);
}

/// Linear address of SS:ESP (ESP masked by SS.B).
fn stack_top(s: &Sandbox) -> u64 {
    let stack = s.cpu.state.seg(SegReg::Ss);
    let m = if stack.db() { 0xffff_ffff } else { 0xffff };
    stack.base + (s.cpu.state.gpr[4] & m)
}

fn run_halted(s: &mut Sandbox, steps: u64) {
    s.run(steps);
    assert_eq!(s.cpu.state.activity, Activity::Halted, "rip {:#x}", s.cpu.state.rip);
    assert_eq!(s.exception_vector(), None, "unexpected exception, frame EIP {:#x}", s.read(stack_top(s) + 4, 4));
}

/// Runs until the stub of an exception halts; returns (vector, error code, faulting EIP)
/// from the 32-bit frame the sandbox gate pushed on the flat stack.
fn run_fault(s: &mut Sandbox, steps: u64) -> (u8, u64, u64) {
    s.run(steps);
    let v = s.exception_vector().unwrap_or_else(|| panic!("no exception; rip {:#x} {:?}", s.cpu.state.rip, s.cpu.state.activity));
    let top = stack_top(s);
    (v, s.read(top, 4), s.read(top + 4, 4))
}

#[test]
fn the_mode_is_protected_16_with_a_d0_code_segment() {
    // SDM Vol. 3A 3.4.5: D=0 in an executable segment -> 16-bit default sizes.
    let mut s = pm16(&[0xf4]);
    commit(&mut s);
    assert_eq!(s.cpu.state.mode(), Mode::Protected16);
}

#[test]
fn operand_and_address_size_defaults_and_prefixes() {
    // SDM Vol. 1 3.6 Table 3-4: with D=0 the defaults are 16-bit; 66 selects 32-bit operands
    // and 67 32-bit addressing. Vol. 1 3.7.5: 16-bit effective addresses wrap at 64 KiB.
    let code = asm_at(16, 0, |a| {
        a.mov(ax, 0x1234)?; // B8 iw
        a.mov(ebx, 0x89ab_cdefu32)?; // 66 BB id
        a.mov(ecx, 0xffff_0000u32)?;
        a.mov(cx, 5)?; // a 16-bit write keeps ECX[31:16]
        a.mov(si, 0x10)?;
        a.mov(word_ptr(si + 2).es(), ax)?; // 26 89 44 02
        a.mov(dword_ptr(si + 4).es(), ebx)?; // 26 66 89 5C 04
        a.mov(edi, 0x20)?;
        a.mov(dword_ptr(edi * 2 + 0x10).es(), ebx)?; // 26 66 67 89 1C 7D 10000000
        a.mov(bx, 0xfff0)?;
        a.mov(si, 0x40)?;
        a.mov(dl, 0x77)?;
        a.mov(byte_ptr(bx + si).es(), dl)?; // 0xfff0 + 0x40 wraps to 0x30
        a.lea(bp, word_ptr(bx + si + 0x10))?; // 16-bit LEA wraps too: 0x40
        a.mov(edx, esp)?;
        a.push(ax)?; // 2 bytes
        a.push(ebx)?; // 66 53: 4 bytes
        a.push(0x55)?; // 6A ib: operand size 16 -> 2 bytes
        a.sub(edx, esp)?;
        a.hlt()
    });
    let mut s = pm16(&code);
    commit(&mut s);
    run_halted(&mut s, 100);
    let g = &s.cpu.state.gpr;
    assert_eq!(g[0] & 0xffff, 0x1234);
    assert_eq!(g[1], 0xffff_0005, "MOV CX keeps ECX[31:16]");
    assert_eq!(g[5] & 0xffff, 0x40, "LEA with 16-bit addressing wraps");
    assert_eq!(g[2], 8, "PUSH r16, PUSH r32 (66), PUSH imm8 (16-bit) = 2 + 4 + 2 bytes");
    assert_eq!(s.read(DATA_BASE + 0x12, 2), 0x1234);
    assert_eq!(s.read(DATA_BASE + 0x14, 4), 0x89ab_cdef);
    assert_eq!(s.read(DATA_BASE + 0x50, 4), 0x89ab_cdef, "67: [EDI*2+0x10]");
    assert_eq!(s.read(DATA_BASE + 0x30, 1), 0x77, "[BX+SI] wraps modulo 64 KiB");
    assert_eq!(s.read(STACK_TOP - 2, 2), 0x1234);
    assert_eq!(s.read(STACK_TOP - 6, 4), 0x89ab_fff0, "EBX after MOV BX, 0xFFF0");
    assert_eq!(s.read(STACK_TOP - 8, 2), 0x55);
}

#[test]
fn stack_pointer_is_sp_with_b0_and_esp_with_b1() {
    // SDM Vol. 3A 3.4.5 (D/B flag, stack segment): B=0 -> the 16-bit SP, so pushes wrap at
    // 64 KiB and ESP[31:16] is unchanged; B=1 -> the 32-bit ESP.
    let code = asm_at(16, 0, |a| {
        a.mov(ax, 0xbeef)?;
        a.mov(ebx, 0x1122_3344)?;
        a.push(ax)?; // SP 0 -> 0xFFFE
        a.push(ebx)?; // -> 0xFFFA
        a.pop(cx)?; // -> 0xFFFC, CX = 0x3344
        a.mov(sp, 0xfffe)?;
        a.pop(dx)?; // SP 0xFFFE -> 0x0000 (wraps)
        a.mov(esi, esp)?;
        a.hlt()
    });
    let mut s = pm16(&code);
    load(&mut s, SegReg::Ss, STACK16);
    s.cpu.state.gpr[4] = 0x0001_0000;
    commit(&mut s);
    run_halted(&mut s, 100);
    let g = &s.cpu.state.gpr;
    assert_eq!(s.read(STK16_BASE + 0xfffe, 2), 0xbeef, "first push at SS:FFFE");
    assert_eq!(s.read(STK16_BASE + 0xfffa, 4), 0x1122_3344);
    assert_eq!(g[1] & 0xffff, 0x3344);
    assert_eq!(g[2] & 0xffff, 0xbeef);
    assert_eq!(g[6], 0x0001_0000, "SP wrapped to 0, ESP[31:16] kept");

    // The same pushes with a B=1 stack (DATA32, base DATA_BASE) use ESP: 0x10000 -> 0xFFFE.
    let code = asm_at(16, 0, |a| {
        a.mov(ax, 0xbeef)?;
        a.push(ax)?;
        a.hlt()
    });
    let mut s = pm16(&code);
    load(&mut s, SegReg::Ss, DATA32);
    s.cpu.state.gpr[4] = 0x0001_0000;
    commit(&mut s);
    run_halted(&mut s, 100);
    assert_eq!(s.cpu.state.gpr[4], 0xfffe);
    assert_eq!(s.read(DATA_BASE + 0xfffe, 2), 0xbeef);
}

#[test]
fn near_jumps_truncate_eip_to_16_bits_and_check_the_cs_limit() {
    // SDM Vol. 2A "JMP": IF OperandSize = 16 THEN EIP <- tempEIP AND 0000FFFFH; the target
    // must lie within the CS limit, else #GP(0).
    // At 0xFFF0: EB 20 (jmp short) -> 0xFFF0 + 2 + 0x20 = 0x10012 -> 0x0012.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0xfff0, &[0xeb, 0x20]);
    put(&mut s, CODE_BASE + 0x12, &asm_at(16, 0x12, |a| {
        a.mov(ax, 0x4242)?;
        a.hlt()
    }));
    s.cpu.state.rip = 0xfff0;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[0] & 0xffff, 0x4242);
    assert_eq!(s.cpu.state.rip, 0x12 + 4);

    // Jcc rel8 (Vol. 2A "Jcc": the same truncation for operand size 16): 74 20 (jz) at 0xFFF0
    // with ZF=1.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0xfff0, &[0x74, 0x20]);
    put(&mut s, CODE_BASE + 0x12, &[0xf4]);
    s.cpu.state.rip = 0xfff0;
    s.cpu.state.rflags |= 0x40;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.rip, 0x13);

    // 66 E9 rel32 at 0xFFF0: operand size 32, no truncation: 0x10012 > limit 0xFFFF -> #GP(0)
    // with EIP still at the JMP.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0xfff0, &[0x66, 0xe9, 0x1c, 0, 0, 0]);
    s.cpu.state.rip = 0xfff0;
    commit(&mut s);
    assert_eq!(run_fault(&mut s, 10), (13, 0, 0xfff0));
}

#[test]
fn instruction_fetch_beyond_the_cs_limit_is_gp0() {
    // SDM Vol. 3A 5.3: every byte of an instruction must lie within the CS limit.
    // CODE16_SMALL has limit 0xFFF. NOPs at 0xFFD..0xFFF, then the next fetch at 0x1000.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0xffd, &[0x90, 0x90, 0x90]);
    load(&mut s, SegReg::Cs, CODE16_SMALL);
    s.cpu.state.rip = 0xffd;
    commit(&mut s);
    assert_eq!(run_fault(&mut s, 10), (13, 0, 0x1000));

    // B8 34 12 (mov ax, 0x1234) at 0xFFE straddles the limit: #GP(0) before it executes.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0xffe, &[0xb8, 0x34, 0x12]);
    load(&mut s, SegReg::Cs, CODE16_SMALL);
    s.cpu.state.rip = 0xffe;
    s.cpu.state.gpr[0] = 0x7777;
    commit(&mut s);
    assert_eq!(run_fault(&mut s, 10), (13, 0, 0xffe));
    assert_eq!(s.cpu.state.gpr[0], 0x7777);
}

/// A 16-bit handler that records SP, the three frame words above it (IP, CS, FLAGS, or with
/// `err` four: error code, IP, CS, FLAGS) and its own FLAGS at ES:`at`, then IRETs (or HLTs
/// when `err`).
fn recorder16(ip: u64, at: u32, err: bool) -> Vec<u8> {
    asm_at(16, ip, |a| {
        a.mov(word_ptr(at).es(), sp)?;
        a.mov(bp, sp)?;
        let n = if err { 4 } else { 3 };
        for k in 0..n {
            a.mov(ax, word_ptr(bp + 2 * k))?;
            a.mov(word_ptr(at + 2 + 2 * k as u32).es(), ax)?;
        }
        a.pushf()?;
        a.pop(ax)?;
        a.mov(word_ptr(at + 10).es(), ax)?;
        a.mov(ebx, esp)?;
        a.mov(dword_ptr(at + 12).es(), ebx)?;
        if err { a.hlt() } else { a.iret() }
    })
}

#[test]
fn sixteen_bit_interrupt_and_trap_gates_push_word_frames_and_iret_pops_them() {
    // SDM Vol. 3A 6.12.1 (Figure 6-4 with 16-bit gates): FLAGS, CS, IP (and an error code)
    // are pushed as words; an interrupt gate clears IF, a trap gate does not (6.12.1.3).
    // Vol. 2A "IRET": operand size 16 pops IP, CS, FLAGS (words).
    let main_part1 = asm_at(16, 0, |a| {
        a.sti()?;
        a.int(0x40)
    });
    let after40 = main_part1.len() as u64;
    let mut main = main_part1;
    main.extend(asm_at(16, after40, |a| a.int(0x41)));
    let after41 = main.len() as u64;
    main.extend(asm_at(16, after41, |a| {
        a.mov(ax, 0x400)?;
        a.mov(ds, ax) // selector beyond the GDT limit: #GP(0x400)
    }));
    let faulting = after41 + 3;
    let mut s = pm16(&main);
    put(&mut s, CODE_BASE + 0x1000, &recorder16(0x1000, 0x100, false));
    put(&mut s, CODE_BASE + 0x1100, &recorder16(0x1100, 0x120, false));
    put(&mut s, CODE_BASE + 0x1200, &recorder16(0x1200, 0x140, true));
    idt(&mut s, 0x40, gate(6, 0, CODE16, 0x1000, 0));
    idt(&mut s, 0x41, gate(7, 0, CODE16, 0x1100, 0));
    idt(&mut s, 13, gate(6, 0, CODE16, 0x1200, 0));
    load(&mut s, SegReg::Ss, STACK16);
    s.cpu.state.gpr[4] = 0x0003_8000;
    commit(&mut s);
    s.run(200);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    let w = |off: u64| s.read(DATA_BASE + off, 2);
    // INT 0x40 through the 16-bit interrupt gate.
    assert_eq!(w(0x100), 0x7ffa, "three words pushed");
    assert_eq!((w(0x102), w(0x104), w(0x106)), (after40, CODE16 as u64, 0x202));
    assert_eq!(w(0x10a), 0x002, "interrupt gate cleared IF");
    assert_eq!(s.read(DATA_BASE + 0x10c, 4), 0x0003_7ffa, "ESP[31:16] untouched with a B=0 stack");
    // INT 0x41 through the 16-bit trap gate, after the IRET restored SP and FLAGS.
    assert_eq!(w(0x120), 0x7ffa, "IRET popped three words");
    assert_eq!((w(0x122), w(0x124), w(0x126)), (after41, CODE16 as u64, 0x202));
    assert_eq!(w(0x12a), 0x202, "trap gate keeps IF");
    // #GP(0x400) through a 16-bit interrupt gate: a word error code.
    assert_eq!(w(0x140), 0x7ff8);
    assert_eq!((w(0x142), w(0x144), w(0x146), w(0x148)), (0x400, faulting, CODE16 as u64, 0x202));
}

#[test]
fn sixteen_bit_interrupt_gate_from_ring_3_switches_to_the_tss_stack_and_iret_returns() {
    // SDM Vol. 3A 6.12.1 Figure 6-4 (privilege change): SS, SP, FLAGS, CS, IP as words on
    // the SS0:ESP0 stack of the (32-bit) TSS. Vol. 2A "IRET" RETURN-TO-OUTER-PRIVILEGE-LEVEL
    // pops SP and SS too and nulls DS/ES/FS/GS holding DPL < CPL data segments.
    let user_part = asm_at(16, 0, |a| {
        a.mov(ax, 0x1111)?;
        a.int(0x42)
    });
    let ret_ip = user_part.len() as u64;
    let mut user = user_part;
    user.extend(asm_at(16, ret_ip, |a| {
        a.mov(word_ptr(0x20).es(), ax)?;
        a.mov(ebx, esp)?;
        a.mov(dword_ptr(0x24).es(), ebx)?;
        a.mov(ax, ss)?;
        a.mov(word_ptr(0x28).es(), ax)?;
        a.mov(ax, cs)?;
        a.mov(word_ptr(0x2a).es(), ax)?;
        a.mov(ax, ds)?;
        a.mov(word_ptr(0x2c).es(), ax)?;
        a.int(0x43)
    }));
    let kernel = asm_at(16, 0x2000, |a| {
        a.mov(word_ptr(0x100).es(), sp)?;
        a.mov(bp, sp)?;
        for k in 0..5 {
            a.mov(bx, word_ptr(bp + 2 * k))?; // SS is the new stack
            a.mov(word_ptr(0x102 + 2 * k as u32).es(), bx)?;
        }
        a.mov(bx, ss)?;
        a.mov(word_ptr(0x10c).es(), bx)?;
        a.mov(ax, 0x2222)?;
        a.iret()
    });
    let mut s = pm16(&user);
    put(&mut s, CODE_BASE + 0x2000, &kernel);
    put(&mut s, CODE_BASE + 0x2100, &[0xf4]);
    idt(&mut s, 0x42, gate(6, 3, CODE16, 0x2000, 0));
    idt(&mut s, 0x43, gate(6, 3, CODE16, 0x2100, 0));
    put_le(&mut s, 0x3004, 4, 0x9000);
    put_le(&mut s, 0x3008, 4, STACK16 as u64);
    load(&mut s, SegReg::Cs, CODE16_R3);
    load(&mut s, SegReg::Ss, STACK16_R3);
    load(&mut s, SegReg::Es, DATA16_R3);
    s.cpu.state.gpr[4] = 0x1000;
    s.cpu.state.cpl = 3;
    s.cpu.state.rflags = 0x202;
    commit(&mut s);
    s.run(200);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.linear_rip(), CODE_BASE + 0x2101, "INT 0x43 reached the kernel");
    let w = |off: u64| s.read(DATA_BASE + off, 2);
    assert_eq!(w(0x100), 0x9000 - 10, "five words on the ring-0 stack");
    assert_eq!(
        (w(0x102), w(0x104), w(0x106), w(0x108), w(0x10a)),
        (ret_ip, CODE16_R3 as u64, 0x202, 0x1000, STACK16_R3 as u64),
        "IP, CS, FLAGS, SP, SS"
    );
    assert_eq!(w(0x10c), STACK16 as u64, "SS from TSS.SS0");
    assert_eq!(w(0x20), 0x2222, "ring 3 resumed after the IRET");
    assert_eq!(s.read(DATA_BASE + 0x24, 4), 0x1000);
    assert_eq!((w(0x28), w(0x2a)), (STACK16_R3 as u64, CODE16_R3 as u64));
    assert_eq!(w(0x2c), 0, "DS (DPL 0 data) nulled by the IRET to CPL 3");
    assert_eq!(s.cpu.state.seg(SegReg::Es).selector, DATA16_R3, "ES (DPL 3) kept");
}

#[test]
fn far_call_and_return_between_16_and_32_bit_code_segments() {
    // SDM Vol. 2A "CALL" (far, same privilege): operand size 16 pushes CS and IP as words,
    // operand size 32 (66 in 16-bit code) pushes CS (in a doubleword slot) and EIP. Vol. 2B
    // "RET": RETF pops by its own operand size, so a 32-bit callee of a 16-bit CALL returns
    // with o16 RETF (66 CB) and a 32-bit CALL is undone by a plain RETF in 32-bit code.
    let mut main = asm_at(16, 0, |a| {
        a.mov(edx, esp)?;
        a.call_far(CODE32, 0x800) // 9A iw iw: ptr16:16
    });
    let ret1 = main.len() as u64;
    main.extend([0x66, 0x9a, 0x00, 0x09, 0, 0, CODE32 as u8, 0]); // call dword far CODE32:0x900
    let ret2 = main.len() as u64;
    main.extend(asm_at(16, ret2, |a| {
        a.sub(edx, esp)?;
        a.mov(ax, cs)?;
        a.hlt()
    }));
    let callee16 = asm_at(32, 0x800, |a| {
        a.mov(dword_ptr(0x200).es(), esp)?;
        a.mov(eax, dword_ptr(esp))?;
        a.mov(dword_ptr(0x204).es(), eax)?;
        a.db(&[0x66, 0xcb]) // o16 retf
    });
    let callee32 = asm_at(32, 0x900, |a| {
        a.mov(dword_ptr(0x210).es(), esp)?;
        a.mov(eax, dword_ptr(esp))?;
        a.mov(dword_ptr(0x214).es(), eax)?;
        a.mov(eax, dword_ptr(esp + 4))?;
        a.mov(dword_ptr(0x218).es(), eax)?;
        a.retf()
    });
    let mut s = pm16(&main);
    put(&mut s, CODE_BASE + 0x800, &callee16);
    put(&mut s, CODE_BASE + 0x900, &callee32);
    commit(&mut s);
    run_halted(&mut s, 100);
    assert_eq!(s.read(DATA_BASE + 0x200, 4), STACK_TOP - 4, "ptr16:16 pushes two words");
    assert_eq!(s.read(DATA_BASE + 0x204, 4), (CODE16 as u64) << 16 | ret1, "IP below CS");
    assert_eq!(s.read(DATA_BASE + 0x210, 4), STACK_TOP - 8, "ptr16:32 pushes two doublewords");
    assert_eq!(s.read(DATA_BASE + 0x214, 4), ret2, "EIP");
    assert_eq!(s.read(DATA_BASE + 0x218, 2), CODE16 as u64, "CS (low word of its slot)");
    assert_eq!(s.cpu.state.gpr[2], 0, "both returns released their frames");
    assert_eq!(s.cpu.state.gpr[0] & 0xffff, CODE16 as u64);
    assert_eq!(s.cpu.state.mode(), Mode::Protected16);
}

#[test]
fn far_call_from_32_bit_code_into_16_bit_code_and_o16_retf_back() {
    // SDM Vol. 2A "CALL" ptr16:32 from 32-bit code pushes doublewords; the 16-bit callee's
    // o32 RETF (66 CB) pops EIP and CS as doublewords (Vol. 2B "RET").
    let main = asm_at(32, 0x400, |a| {
        a.call_far(CODE16, 0x500)?;
        a.mov(ebx, 0x5151)?;
        a.hlt()
    });
    let callee = asm_at(16, 0x500, |a| {
        a.mov(ecx, esp)?;
        a.db(&[0x66, 0xcb]) // o32 retf
    });
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0x400, &main);
    put(&mut s, CODE_BASE + 0x500, &callee);
    load(&mut s, SegReg::Cs, CODE32);
    s.cpu.state.rip = 0x400;
    commit(&mut s);
    run_halted(&mut s, 100);
    assert_eq!(s.cpu.state.gpr[1], STACK_TOP - 8);
    assert_eq!(s.cpu.state.gpr[3], 0x5151);
    assert_eq!(s.cpu.state.gpr[4], STACK_TOP);
    assert_eq!(s.cpu.state.mode(), Mode::Protected32);
}

#[test]
fn sixteen_bit_call_gate_copies_word_parameters_and_retf_imm_releases_them() {
    // SDM Vol. 3A 5.8.5 Figure 5-13 with a 16-bit gate (5.8.6: "a 16-bit call gate ... the
    // parameters are copied as words"): the new stack holds, from the top, IP, CS, the
    // parameters (same order as on the caller's stack), SP, SS. Vol. 2B "RET" RETF imm16
    // releases imm16 bytes on both stacks.
    let part = asm_at(16, 0, |a| {
        a.push(0xaaaa)?;
        a.push(0xbbbb)?;
        a.call_far(GATE16, 0)
    });
    let ret_ip = part.len() as u64;
    let mut user = part;
    user.extend(asm_at(16, ret_ip, |a| {
        a.mov(ebx, esp)?;
        a.mov(dword_ptr(0x40).es(), ebx)?;
        a.mov(ax, cs)?;
        a.mov(word_ptr(0x44).es(), ax)?;
        a.int(0x43)
    }));
    let kernel = asm_at(16, GATE_TARGET, |a| {
        a.mov(word_ptr(0x100).es(), sp)?;
        a.mov(bp, sp)?;
        for k in 0..6 {
            a.mov(bx, word_ptr(bp + 2 * k))?;
            a.mov(word_ptr(0x102 + 2 * k as u32).es(), bx)?;
        }
        a.retf_1(4)
    });
    let mut s = pm16(&user);
    put(&mut s, CODE_BASE + GATE_TARGET, &kernel);
    put(&mut s, CODE_BASE + 0x2100, &[0xf4]);
    idt(&mut s, 0x43, gate(6, 3, CODE16, 0x2100, 0));
    put_le(&mut s, 0x3004, 4, 0x9000);
    put_le(&mut s, 0x3008, 4, STACK16 as u64);
    load(&mut s, SegReg::Cs, CODE16_R3);
    load(&mut s, SegReg::Ss, STACK16_R3);
    load(&mut s, SegReg::Es, DATA16_R3);
    s.cpu.state.gpr[4] = 0x1000;
    s.cpu.state.cpl = 3;
    commit(&mut s);
    s.run(200);
    assert_eq!(s.linear_rip(), CODE_BASE + 0x2101, "rip {:#x} vector {:?}", s.cpu.state.rip, s.exception_vector());
    let w = |off: u64| s.read(DATA_BASE + off, 2);
    assert_eq!(w(0x100), 0x9000 - 12, "six words on the ring-0 stack");
    assert_eq!(
        (w(0x102), w(0x104), w(0x106), w(0x108), w(0x10a), w(0x10c)),
        (ret_ip, CODE16_R3 as u64, 0xbbbb, 0xaaaa, 0xffc, STACK16_R3 as u64)
    );
    assert_eq!(s.read(DATA_BASE + 0x40, 4), 0x1000, "RETF 4 released the parameters");
    assert_eq!(w(0x44), CODE16_R3 as u64);
}

#[test]
fn pusha_popa_with_16_and_32_bit_operand_size() {
    // SDM Vol. 2B "PUSHA/PUSHAD": AX, CX, DX, BX, original SP, BP, SI, DI (DI lowest);
    // "POPA/POPAD": the same order back, the SP/ESP slot is skipped.
    let code = asm_at(16, 0, |a| {
        for (k, r) in [eax, ecx, edx, ebx, ebp, esi, edi].into_iter().enumerate() {
            a.mov(r, 0x1000_0001u32 * (k as u32 + 1))?;
        }
        a.pusha()?;
        a.pushad()?;
        for r in [eax, ecx, edx, ebx, ebp, esi, edi] {
            a.xor(r, r)?;
        }
        a.popad()?;
        a.mov(ebx, 0x5555_5555)?;
        a.popa()?;
        a.hlt()
    });
    let mut s = pm16(&code);
    commit(&mut s);
    run_halted(&mut s, 100);
    let v = |k: u64| 0x1000_0001u64 * (k + 1);
    // PUSHA (words) at STACK_TOP-16 .. STACK_TOP.
    let words: Vec<u64> = (0..8).map(|k| s.read(STACK_TOP - 2 - 2 * k, 2)).collect();
    assert_eq!(words, [v(0) & 0xffff, v(1) & 0xffff, v(2) & 0xffff, v(3) & 0xffff, STACK_TOP & 0xffff, v(4) & 0xffff, v(5) & 0xffff, v(6) & 0xffff]);
    // PUSHAD (doublewords) below that.
    let base = STACK_TOP - 16;
    let dwords: Vec<u64> = (0..8).map(|k| s.read(base - 4 - 4 * k, 4)).collect();
    assert_eq!(dwords, [v(0), v(1), v(2), v(3), base, v(4), v(5), v(6)]);
    let g = &s.cpu.state.gpr;
    assert_eq!(g[4], STACK_TOP, "POPAD + POPA released 48 bytes");
    assert_eq!(g[3], 0x5555_0000 | (v(3) & 0xffff), "POPA writes BX only");
    assert_eq!([g[0], g[1], g[2], g[5], g[6], g[7]], [v(0), v(1), v(2), v(4), v(5), v(6)]);
}

#[test]
fn loop_and_jcxz_count_with_cx_or_ecx_by_address_size() {
    // SDM Vol. 2B "LOOP/LOOPcc": AddressSize 16 -> Count is CX, 32 -> ECX; Vol. 2A "Jcc":
    // JCXZ (address size 16) tests CX, JECXZ (67 in 16-bit code) tests ECX.
    let code: &[u8] = &[
        0x66, 0xb9, 0x00, 0x00, 0x01, 0x00, // mov ecx, 0x10000
        0xe3, 0x02, //                          jcxz +2      ; CX = 0: taken
        0xb0, 0x01, //                          mov al, 1    ; skipped
        0x67, 0xe3, 0x02, //                    jecxz +2     ; ECX != 0: not taken
        0xb3, 0x01, //                          mov bl, 1
        0x66, 0xb9, 0x01, 0x00, 0x01, 0x00, // mov ecx, 0x10001
        0xe2, 0x02, //                          loop +2      ; CX 1 -> 0: not taken
        0xb2, 0x01, //                          mov dl, 1
        0x66, 0x89, 0xce, //                    mov esi, ecx ; 0x10000
        0x66, 0xb9, 0x01, 0x00, 0x01, 0x00, // mov ecx, 0x10001
        0x67, 0xe2, 0x02, //                    loop +2 (ECX); 0x10001 -> 0x10000: taken
        0xb4, 0x01, //                          mov ah, 1    ; skipped
        0x66, 0x89, 0xcf, //                    mov edi, ecx
        0xb9, 0x05, 0x00, //                    mov cx, 5
        0x31, 0xed, //                          xor bp, bp
        0x45, //                                inc bp       ; <- loop target
        0xe2, 0xfd, //                          loop -3
        0xf4, //                                hlt
    ];
    let mut s = pm16(code);
    commit(&mut s);
    run_halted(&mut s, 100);
    let g = &s.cpu.state.gpr;
    assert_eq!(g[0] & 0xffff, 0, "JCXZ taken, the LOOP (ECX) taken");
    assert_eq!(g[3] & 0xff, 1, "JECXZ not taken");
    assert_eq!(g[2] & 0xff, 1, "LOOP (CX) fell through");
    assert_eq!(g[6], 0x1_0000, "LOOP (CX) decremented CX only");
    assert_eq!(g[7], 0x1_0000);
    assert_eq!(g[5] & 0xffff, 5, "five iterations");
    assert_eq!(g[1], 0x1_0000, "CX counted to zero, ECX[31:16] kept");
}

#[test]
fn string_instructions_use_si_di_cx_or_esi_edi_ecx_by_address_size() {
    // SDM Vol. 2B "MOVS", "REP": address size 16 -> SI, DI, CX (wrapping at 64 KiB, the
    // upper halves of ESI/EDI/ECX unchanged); 67 -> ESI, EDI, ECX. "LODS" with DF=1 counts down.
    let code = asm_at(16, 0, |a| {
        a.mov(esi, 0x0005_fffeu32)?;
        a.mov(edi, 0x0007_0100u32)?;
        a.mov(ecx, 0x0003_0004u32)?;
        a.rep().movsb()?; // F3 A4
        a.mov(ebp, esi)?;
        a.mov(edx, edi)?;
        a.mov(ebx, ecx)?;
        a.mov(esi, 0x1_0000)?;
        a.mov(edi, 0x2_0000)?;
        a.mov(ecx, 3)?;
        a.db(&[0x67, 0xf3, 0xa4])?; // rep movsb with ESI/EDI/ECX
        a.mov(dword_ptr(0x300).es(), esi)?;
        a.mov(dword_ptr(0x304).es(), edi)?;
        a.mov(dword_ptr(0x308).es(), ecx)?;
        a.std()?;
        a.mov(esi, 0x0009_0000u32)?;
        a.lodsb()?; // SI 0 -> 0xFFFF, AL = [DS:0]
        a.cld()?;
        a.hlt()
    });
    let mut s = pm16(&code);
    load(&mut s, SegReg::Ds, DATA32);
    load(&mut s, SegReg::Es, DATA32);
    put(&mut s, DATA_BASE + 0xfffe, &[0xa1, 0xa2]);
    put(&mut s, DATA_BASE, &[0xa3, 0xa4]);
    put(&mut s, DATA_BASE + 0x1_0000, &[0xb1, 0xb2, 0xb3]);
    commit(&mut s);
    s.run(100);
    // The stubs would record an exception through the flat DS; this test loads DATA32 into
    // DS, so check for a plain halt at the end of the program instead.
    assert_eq!(s.linear_rip(), CODE_BASE + code.len() as u64, "halted at the end");
    let g = &s.cpu.state.gpr;
    assert_eq!(s.read(DATA_BASE + 0x100, 4), 0xa4a3_a2a1, "SI wrapped from 0xFFFF to 0");
    assert_eq!(g[5], 0x0005_0002, "ESI[31:16] kept");
    assert_eq!(g[2], 0x0007_0104);
    assert_eq!(g[3], 0x0003_0000, "CX counted, ECX[31:16] kept");
    assert_eq!(s.read(DATA_BASE + 0x2_0000, 3), 0xb3_b2b1);
    assert_eq!(s.read(DATA_BASE + 0x300, 4), 0x1_0003);
    assert_eq!(s.read(DATA_BASE + 0x304, 4), 0x2_0003);
    assert_eq!(s.read(DATA_BASE + 0x308, 4), 0);
    assert_eq!(g[6], 0x0009_ffff, "LODSB with DF=1: SI 0 -> 0xFFFF");
    assert_eq!(g[0] & 0xff, 0xa3);
}

/// Runs `body` (16-bit) with ES = `es` and returns None on a clean halt or the exception
/// (vector, error code).
fn es_access(es_sel: u16, body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Option<(u8, u64)> {
    let code = asm_at(16, 0, |a| {
        body(a)?;
        a.hlt()
    });
    let mut s = pm16(&code);
    load(&mut s, SegReg::Es, es_sel);
    commit(&mut s);
    s.run(20);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    s.exception_vector().map(|v| (v, s.read(stack_top(&s), 4)))
}

#[test]
fn expand_down_data_segments_bound_offsets_by_the_limit_and_the_b_flag() {
    // SDM Vol. 3A 5.3: for expand-down segments the valid offsets are limit+1 .. 0xFFFF
    // (B=0) or .. 0xFFFFFFFF (B=1); every byte of the operand must be in range, else #GP(0).
    let gp = Some((13, 0));
    assert_eq!(es_access(EDOWN16, |a| a.mov(al, byte_ptr(0x0fff).es())), gp, "offset = limit");
    assert_eq!(es_access(EDOWN16, |a| a.mov(al, byte_ptr(0x0000).es())), gp);
    assert_eq!(es_access(EDOWN16, |a| a.mov(al, byte_ptr(0x1000).es())), None, "limit + 1");
    assert_eq!(es_access(EDOWN16, |a| a.mov(ax, word_ptr(0xfffe).es())), None, "last word");
    assert_eq!(es_access(EDOWN16, |a| a.mov(ax, word_ptr(0xffff).es())), gp, "crosses 0xFFFF with B=0");
    assert_eq!(es_access(EDOWN32, |a| a.mov(ax, word_ptr(0xffff).es())), None, "B=1: upper bound 4 GiB");
    assert_eq!(
        es_access(EDOWN32, |a| {
            a.mov(ebx, 0x12345)?;
            a.mov(eax, dword_ptr(ebx).es())
        }),
        None
    );
    assert_eq!(es_access(EDOWN32, |a| a.mov(al, byte_ptr(0x800).es())), gp);
    // A write to an expand-down segment follows the same rule.
    assert_eq!(es_access(EDOWN16, |a| a.mov(word_ptr(0x0ffe).es(), ax)), gp);
    assert_eq!(es_access(EDOWN16, |a| a.mov(word_ptr(0x1000).es(), ax)), None);
}

#[test]
fn expand_down_stack_overflow_below_the_limit_is_ss0() {
    // SDM Vol. 3A 5.3 and 6.15 "Interrupt 12": a push below an expand-down stack's limit is
    // #SS(0). Run at CPL 3 so the #SS frame goes on the TSS stack (ring 0, flat).
    let code = asm_at(16, 0, |a| {
        a.push(ax)?; // SP 0x8002 -> 0x8000: allowed
        a.mov(bx, 1)?;
        a.push(ax) // -> 0x7FFE: below limit + 1
    });
    let mut s = pm16(&code);
    load(&mut s, SegReg::Cs, CODE16_R3);
    load(&mut s, SegReg::Ss, EDSTACK_R3);
    s.cpu.state.gpr[4] = 0x8002;
    s.cpu.state.cpl = 3;
    commit(&mut s);
    let (v, err, eip) = run_fault(&mut s, 20);
    assert_eq!((v, err, eip), (12, 0, code.len() as u64 - 1));
    assert_eq!(s.cpu.state.gpr[3] & 0xffff, 1);
    let top = stack_top(&s);
    assert_eq!(s.read(top + 16, 4), 0x8000, "SP of the faulting PUSH, unchanged");
    assert_eq!(s.read(top + 20, 2), EDSTACK_R3 as u64);
}

#[test]
fn near_call_and_ret_push_ip_or_eip_by_operand_size() {
    // SDM Vol. 2A "CALL" (near, relative): operand size 16 pushes IP (2 bytes) and truncates
    // the target to 16 bits; 66 pushes EIP (4 bytes). Vol. 2B "RET": C3 pops by operand size.
    let mut code = asm_at(16, 0, |a| {
        a.mov(edx, esp)?;
        a.call(0x100u64) // E8 rel16
    });
    let ret1 = code.len() as u64;
    // 66 E8 rel32: call 0x200 with a 32-bit operand size.
    let rel = 0x200i64 - (ret1 as i64 + 6);
    code.extend([0x66, 0xe8]);
    code.extend((rel as i32).to_le_bytes());
    let ret2 = code.len() as u64;
    code.extend(asm_at(16, ret2, |a| {
        a.sub(edx, esp)?;
        a.hlt()
    }));
    let mut s = pm16(&code);
    put(&mut s, CODE_BASE + 0x100, &asm_at(16, 0x100, |a| {
        a.mov(ebx, esp)?;
        a.mov(ax, word_ptr(esp))?; // 67 8B 04 24
        a.ret()
    }));
    put(&mut s, CODE_BASE + 0x200, &asm_at(16, 0x200, |a| {
        a.mov(ecx, esp)?;
        a.mov(esi, dword_ptr(esp))?;
        a.db(&[0x66, 0xc3]) // o32 ret
    }));
    // CALL at 0xFFFD (3 bytes): the return IP is 0x10000 AND 0xFFFF = 0, the target
    // 0x10000 + 0x100 -> 0x0100 (SDM "CALL": IF OperandSize = 16 THEN tempEIP AND 0000FFFFH).
    commit(&mut s);
    run_halted(&mut s, 100);
    let g = &s.cpu.state.gpr;
    assert_eq!((g[3], g[0] & 0xffff), (STACK_TOP - 2, ret1), "CALL rel16 pushed IP");
    assert_eq!((g[1], g[6]), (STACK_TOP - 4, ret2), "66 CALL rel32 pushed EIP");
    assert_eq!(g[2], 0, "RET and o32 RET popped 2 and 4 bytes");

    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0xfffd, &[0xe8, 0x00, 0x01]); // call (0x10000 + 0x100) & 0xFFFF
    put(&mut s, CODE_BASE + 0x100, &asm_at(16, 0x100, |a| {
        a.mov(bx, word_ptr(esp))?;
        a.hlt()
    }));
    s.cpu.state.rip = 0xfffd;
    s.cpu.state.gpr[3] = 0x5555;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[3] & 0xffff, 0, "return IP wrapped to 0");
    assert_eq!(s.cpu.state.rip, 0x100 + 5);
}

#[test]
fn leave_uses_sp_or_esp_by_stack_size_and_pops_by_operand_size() {
    // SDM Vol. 2A "LEAVE": IF StackAddressSize = 32 THEN ESP <- EBP ELSE SP <- BP; then
    // EBP <- Pop() (operand size 32) or BP <- Pop() (16).
    // 32-bit code on a B=0 stack: SP <- BP keeps ESP[31:16]; POP EBP reads SS:BP.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0x400, &asm_at(32, 0x400, |a| {
        a.leave()?;
        a.hlt()
    }));
    put_le(&mut s, STK16_BASE + 0x80, 4, 0xcafe_f00d);
    load(&mut s, SegReg::Cs, CODE32);
    load(&mut s, SegReg::Ss, STACK16);
    s.cpu.state.rip = 0x400;
    s.cpu.state.gpr[5] = 0x1234_0080;
    s.cpu.state.gpr[4] = 0x5678_0100;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[4], 0x5678_0084);
    assert_eq!(s.cpu.state.gpr[5], 0xcafe_f00d);
    // 16-bit code on a B=1 stack: ESP <- EBP (all 32 bits), BP <- Pop() (EBP[31:16] kept).
    let mut s = pm16(&asm_at(16, 0, |a| {
        a.leave()?;
        a.hlt()
    }));
    put_le(&mut s, DATA_BASE + 0x1_0080, 2, 0xbeef);
    load(&mut s, SegReg::Ss, DATA32);
    s.cpu.state.gpr[5] = 0x0001_0080;
    s.cpu.state.gpr[4] = 0x20;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[4], 0x0001_0082);
    assert_eq!(s.cpu.state.gpr[5], 0x0001_beef);
}

#[test]
fn word_push_at_sp_1_crosses_the_16_bit_stack_limit_and_is_ss0() {
    // SDM Vol. 3A 5.3: SP 1 - 2 wraps to 0xFFFF (B=0); the word at 0xFFFF..0x10000 exceeds
    // the 0xFFFF limit -> #SS(0), SP unchanged. At CPL 3 so #SS goes to the ring-0 stack.
    let code = asm_at(16, 0, |a| a.push(ax));
    let mut s = pm16(&code);
    load(&mut s, SegReg::Cs, CODE16_R3);
    load(&mut s, SegReg::Ss, STACK16_R3);
    s.cpu.state.gpr[4] = 1;
    s.cpu.state.cpl = 3;
    commit(&mut s);
    assert_eq!(run_fault(&mut s, 10), (12, 0, 0));
    assert_eq!(s.read(stack_top(&s) + 16, 4), 1, "faulting SP");
}

#[test]
fn iret_with_16_bit_operand_size_from_32_bit_code_enters_16_bit_code() {
    // SDM Vol. 2A "IRET": operand size 16 (66 CF in 32-bit code) pops IP, CS, FLAGS as words;
    // EIP = IP zero-extended; the new CS (D=0) makes the mode 16-bit.
    let mut s = pm16(&[]);
    put(&mut s, CODE_BASE + 0x400, &asm_at(32, 0x400, |a| {
        a.mov(ax, 0x0046)?; // FLAGS image: ZF PF + reserved bit 1 (bit 1 always reads 1)
        a.push(ax)?;
        a.mov(ax, CODE16 as u32)?;
        a.push(ax)?;
        a.mov(ax, 0x600)?;
        a.push(ax)?;
        a.db(&[0x66, 0xcf]) // iretw
    }));
    put(&mut s, CODE_BASE + 0x600, &asm_at(16, 0x600, |a| {
        a.mov(ecx, esp)?;
        a.pushfd()?;
        a.pop(edx)?;
        a.hlt()
    }));
    load(&mut s, SegReg::Cs, CODE32);
    s.cpu.state.rip = 0x400;
    commit(&mut s);
    run_halted(&mut s, 20);
    assert_eq!(s.cpu.state.gpr[1], STACK_TOP, "three words popped");
    assert_eq!(s.cpu.state.gpr[2], 0x46);
    assert_eq!(s.cpu.state.mode(), Mode::Protected16);
}

#[test]
fn popf_with_16_bit_operand_size_keeps_eflags_31_16() {
    // SDM Vol. 2B "POPF": operand size 16 loads FLAGS[15:0] only (at CPL 0 IOPL and IF may
    // change); bits 1 (1), 3, 5, 15 (0) are fixed; AC (bit 18) is untouched.
    let code = asm_at(16, 0, |a| {
        a.push(0xfeffu32 as i32)?; // every bit but TF
        a.popf()?;
        a.hlt()
    });
    let mut s = pm16(&code);
    s.cpu.state.rflags = 0x4_0002;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.rflags, 0x4_0000 | 0x7ed7);
}

#[test]
fn ring_switch_through_a_16_bit_tss_reads_sp0_and_ss0_as_words() {
    // SDM Vol. 3A 8.6 Figure 8-11 (16-bit TSS: SP0 at offset 2, SS0 at 4) and 6.12.1: an
    // interrupt from CPL 3 through a 16-bit gate takes its stack from the 16-bit TSS.
    let user = asm_at(16, 0, |a| {
        a.mov(ax, 0x1111)?;
        a.int(0x43)
    });
    let mut s = pm16(&user);
    put(&mut s, CODE_BASE + 0x2100, &asm_at(16, 0x2100, |a| {
        a.mov(bp, sp)?;
        a.hlt()
    }));
    idt(&mut s, 0x43, gate(6, 3, CODE16, 0x2100, 0));
    let tss16 = 0x3800u64;
    put_le(&mut s, tss16 + 2, 2, 0x7000);
    put_le(&mut s, tss16 + 4, 2, STACK16 as u64);
    // 16-bit TSS, busy (type 3), limit 0x2B, in TR.
    s.cpu.state.tr = hvbench_cpu::segment::Segment { selector: 0x40, base: tss16, limit: 0x2b, attr: 0x83 };
    load(&mut s, SegReg::Cs, CODE16_R3);
    load(&mut s, SegReg::Ss, STACK16_R3);
    s.cpu.state.gpr[4] = 0x1000;
    s.cpu.state.cpl = 3;
    commit(&mut s);
    s.run(20);
    assert_eq!(s.linear_rip(), CODE_BASE + 0x2103, "rip {:#x} vector {:?}", s.cpu.state.rip, s.exception_vector());
    assert_eq!(s.cpu.state.seg(SegReg::Ss).selector, STACK16);
    assert_eq!(s.cpu.state.gpr[5] & 0xffff, 0x7000 - 10);
    let top = STK16_BASE + 0x7000 - 10;
    let words: Vec<u64> = (0..5).map(|k| s.read(top + 2 * k, 2)).collect();
    assert_eq!(words, [user.len() as u64, CODE16_R3 as u64, 0x2, 0x1000, STACK16_R3 as u64]);
}
