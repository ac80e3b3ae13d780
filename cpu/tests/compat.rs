//! Compatibility mode (IA-32e mode with a code segment L=0): programs assembled here with
//! iced-x86's `code_asm` (bitness 32/16 for compatibility-mode code, 64 for 64-bit code) or
//! written as raw bytes with the assembly beside them, run in the [`Sandbox`] (long mode,
//! identity paging). Expected values come from the SDM, cited per assertion group:
//!
//! - Vol. 1 3.6.1 / Vol. 3A 5.2.1 "Code-Segment Descriptor in 64-bit Mode": L=0 D=1 ->
//!   32-bit defaults; 40-4F are INC/DEC outside 64-bit mode (Vol. 2A 2.2.1 "REX Prefixes");
//! - Vol. 3A 3.2.4/5.3 "Limit Checking": segmentation (limits, types) is active in
//!   compatibility mode; 64-bit mode does no limit checks;
//! - Vol. 2A "CALL" / Vol. 2B "RET": far frames by operand size (REX.W -> 8-byte slots);
//!   Vol. 3A 5.8.3.1 "IA-32e Mode Call Gates" (16-byte gates, 64-bit targets, 8-byte pushes);
//! - Vol. 3A 6.14 "Exception and Interrupt Handling in 64-bit Mode": 64-bit IDT, RSP
//!   aligned to 16, SS:RSP pushed unconditionally; "IRET": IRETQ back to compatibility mode;
//! - Vol. 2B "SYSCALL" (#UD outside 64-bit mode on Intel: IA32_CSTAR is never used) and
//!   "SYSRET" (operand size 32 -> compatibility mode);
//! - instruction pages for PUSH/POP Sreg, AAA/DAA, LDS/LES, ARPL, MOVSXD (#UD or
//!   reinterpretation in 64-bit mode).

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE, STACK_TOP};
use hvbench_cpu::segment::{Descriptor, SegReg};
use hvbench_cpu::{Activity, Mode};
use iced_x86::code_asm::*;

mod segment_support;

use segment_support::*;

const CODE64: u16 = 0x08;
const DATA: u16 = 0x10;
/// The sandbox's 32-bit code segment (L=0, D=1): compatibility mode under IA-32e.
const CODE32: u16 = 0x18;
/// 64-bit call gate (16 bytes at 0x50) to CODE64:GATE_TARGET, DPL 0.
const GATE64: u16 = 0x50;
/// Ring-3 32-bit code (SYSRET's CS = STAR[63:48] | 3) and ring-3 data (+8).
const UCODE32: u16 = 0x63;
const UDATA: u16 = 0x6b;
/// Data, base 0, limit 0xFFF.
const SMALL_DATA: u16 = 0x70;
/// 16-bit code (D=0, L=0), base CODE_BASE, limit 0xFFFF: 16-bit compatibility mode.
const CODE16: u16 = 0x78;
/// 32-bit code, base 0, limit 0x100FFF (G=1): CODE_BASE plus one page.
const SMALL_CODE32: u16 = 0x80;
/// 16-bit stack (B=0), base DATA_BASE, limit 0xFFFF.
const STACK16: u16 = 0x88;
/// 64-bit call gate (16 bytes at 0x90), DPL 3, to CODE64:GATE_TARGET (selector RPL 3).
const GATE64_R3: u16 = 0x93;

const GATE_TARGET: u64 = CODE_BASE + 0x3000;
const KERNEL: u64 = CODE_BASE + 0x6000;
const USER_CODE: u64 = CODE_BASE + 0x4000;
const USER_STACK: u64 = DATA_BASE + 0x8000;

/// A long-mode sandbox with the extra descriptors above, running `code` at CODE_BASE in
/// compatibility mode (CS = CODE32) when `compat`, else in 64-bit mode.
fn sandbox(compat: bool, code: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, code);
    let gate_lo = (GATE_TARGET & 0xffff) | (CODE64 as u64) << 16 | 0x8cu64 << 40 | ((GATE_TARGET >> 16) & 0xffff) << 48;
    put_le(&mut s, 0x1050, 8, gate_lo);
    put_le(&mut s, 0x1058, 8, GATE_TARGET >> 32);
    put_le(&mut s, 0x1060, 8, desc(0, 0xfffff, 0xfa, 0xc));
    put_le(&mut s, 0x1068, 8, desc(0, 0xfffff, 0xf2, 0xc));
    put_le(&mut s, 0x1070, 8, desc(0, 0xfff, 0x92, 0));
    put_le(&mut s, 0x1078, 8, desc(CODE_BASE, 0xffff, 0x9a, 0));
    put_le(&mut s, 0x1080, 8, desc(0, 0x100, 0x9a, 0xc));
    put_le(&mut s, 0x1088, 8, desc(DATA_BASE, 0xffff, 0x92, 0));
    put_le(&mut s, 0x1090, 8, gate_lo | 0x60u64 << 40);
    put_le(&mut s, 0x1098, 8, GATE_TARGET >> 32);
    s.cpu.state.gdtr.limit = 0x9f;
    s.cpu.state.idtr.limit = 0xfff;
    if compat {
        load(&mut s, SegReg::Cs, CODE32);
    }
    commit(&mut s);
    s
}

fn load(s: &mut Sandbox, seg: SegReg, sel: u16) {
    let raw = s.read(0x1000 + (sel as u64 & !7), 8);
    s.cpu.state.seg[seg as usize] = Descriptor { raw }.to_segment(sel);
}

fn commit(s: &mut Sandbox) {
    let st = s.cpu.state.clone();
    s.cpu.set_state(st);
}

/// A 16-byte IA-32e interrupt gate for `vector` to CODE64:`handler` (SDM Figure 6-8).
fn idt_gate64(s: &mut Sandbox, vector: u64, handler: u64, dpl: u64) {
    let lo = (handler & 0xffff) | (0x08 << 16) | ((0x8e | (dpl << 5)) << 40) | ((handler >> 16 & 0xffff) << 48);
    put_le(s, 0x2000 + 16 * vector, 8, lo);
    put_le(s, 0x2000 + 16 * vector + 8, 8, handler >> 32);
}

fn run_halted(s: &mut Sandbox, steps: u64) {
    s.run(steps);
    assert_eq!(s.cpu.state.activity, Activity::Halted, "rip {:#x}", s.cpu.state.rip);
    assert_eq!(s.exception_vector(), None, "unexpected exception at {:#x}", s.read(s.cpu.state.gpr[4] + 8, 8));
}

/// Runs until an exception stub halts: (vector, error code or 0, RIP, CS) of the 64-bit
/// frame (the vectors with an error code per SDM Vol. 3A Table 6-1).
fn run_fault(s: &mut Sandbox, steps: u64) -> (u8, u64, u64, u64) {
    s.run(steps);
    let v = s.exception_vector().unwrap_or_else(|| panic!("no exception; rip {:#x} {:?}", s.cpu.state.rip, s.cpu.state.activity));
    let top = s.cpu.state.gpr[4];
    if matches!(v, 8 | 10..=14 | 17 | 21) {
        (v, s.read(top, 8), s.read(top + 8, 8), s.read(top + 16, 8))
    } else {
        (v, 0, s.read(top, 8), s.read(top + 8, 8))
    }
}

const D: u32 = DATA_BASE as u32;

#[test]
fn compatibility_mode_uses_32_bit_defaults_and_legacy_one_byte_opcodes() {
    // Vol. 3A 5.2.1: L=0, D=1 under IA-32e -> compatibility mode, 32-bit operands/addresses.
    // Vol. 2A 2.2.1: 40-4F are REX only in 64-bit mode; here INC/DEC r32.
    let code = asm_at(32, CODE_BASE, |a| {
        a.xor(eax, eax)?;
        a.db(&[0x40, 0x40, 0x40, 0x48])?; // inc eax x3, dec eax
        a.mov(ecx, 0xffff_ffffu32)?;
        a.db(&[0x41])?; // inc ecx: wraps to 0
        a.mov(dword_ptr(D + 20), ecx)?;
        a.mov(ebx, esp)?;
        a.push(eax)?; // 4 bytes
        a.push(0x1234_5678)?; // 68 id: 4 bytes
        a.db(&[0x0e, 0x1e, 0x06, 0x16])?; // push cs, push ds, push es, push ss: 4 bytes each
        a.db(&[0x07])?; // pop es (SS selector 0x10)
        a.sub(ebx, esp)?;
        a.mov(ebp, dword_ptr(esp + 8))?; // the pushed CS slot (after POP ES: es, ds, cs)
        a.mov(dword_ptr(D), ebx)?;
        // DAA (Vol. 2A "DAA"): 0x09 + 0x08 = 0x11 with AF -> 0x17.
        a.mov(al, 0x09)?;
        a.add(al, 0x08)?;
        a.db(&[0x27])?; // daa
        a.mov(byte_ptr(D + 4), al)?;
        // AAA (Vol. 2A "AAA"): AX = 0x000F -> AL low nibble + 6 = 0x05, AH + 1.
        a.mov(ax, 0x000f)?;
        a.db(&[0x37])?; // aaa
        a.mov(word_ptr(D + 6), ax)?;
        // ARPL (Vol. 2A "ARPL"): DEST.RPL 0 < SRC.RPL 3 -> DEST.RPL = 3, ZF = 1.
        a.mov(ax, 0x0010)?;
        a.mov(dx, 0x0003)?;
        a.db(&[0x63, 0xd0])?; // arpl ax, dx
        a.setz(cl)?;
        a.mov(word_ptr(D + 8), ax)?;
        a.mov(byte_ptr(D + 10), cl)?;
        // LES (Vol. 2A "LDS/LES/..."): C4 with a memory operand is LES outside 64-bit mode.
        a.mov(ebx, D + 0x40)?;
        a.db(&[0xc4, 0x33])?; // les esi, [ebx]
        a.mov(dword_ptr(D + 12), esi)?;
        a.mov(ax, es)?;
        a.mov(word_ptr(D + 16), ax)?;
        a.db(&[0xc5, 0x3b])?; // lds edi, [ebx]
        a.hlt()
    });
    let mut s = sandbox(true, &code);
    put(&mut s, DATA_BASE + 0x40, &[0x78, 0x56, 0x34, 0x12, DATA as u8, 0]);
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
    run_halted(&mut s, 200);
    let g = &s.cpu.state.gpr;
    assert_eq!(s.read(DATA_BASE, 4), 4 * 6 - 4, "six 4-byte pushes, one 4-byte pop");
    assert_eq!(g[5] & 0xffff, CODE32 as u64, "PUSH CS pushed the compatibility-mode CS");
    assert_eq!(s.read(DATA_BASE + 20, 4), 0, "INC ECX (41) wrapped");
    assert_eq!(s.read(DATA_BASE + 4, 1), 0x17, "DAA");
    assert_eq!(s.read(DATA_BASE + 6, 2), 0x0105, "AAA");
    assert_eq!(s.read(DATA_BASE + 8, 2), 0x13, "ARPL raised the RPL");
    assert_eq!(s.read(DATA_BASE + 10, 1), 1, "ARPL set ZF");
    assert_eq!(s.read(DATA_BASE + 12, 4), 0x1234_5678, "LES offset");
    assert_eq!(s.read(DATA_BASE + 16, 2), DATA as u64, "LES selector");
    assert_eq!(g[7], 0x1234_5678, "LDS offset");
    assert_eq!(s.cpu.state.seg(SegReg::Ds).selector, DATA);
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
}

#[test]
fn legacy_opcodes_are_ud_or_reinterpreted_in_64_bit_mode() {
    // Vol. 2A/2B instruction pages, 64-bit mode column: PUSH ES/CS/SS/DS, POP ES/SS/DS,
    // DAA, DAS, AAA, AAS are #UD; 63 /r is MOVSXD; 40-4F are REX prefixes; C4/C5 are VEX.
    for op in [0x06u8, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xea] {
        let mut s = sandbox(false, &[op, 0x0a, 0xf4]);
        let (v, _, rip, code_sel) = run_fault(&mut s, 10);
        assert_eq!((v, rip, code_sel), (6, CODE_BASE, CODE64 as u64), "opcode {op:#04x} in 64-bit mode");
    }
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(ebx, 0x8000_0000u32)?;
        a.db(&[0x48, 0x63, 0xc3])?; // movsxd rax, ebx
        a.db(&[0x48, 0xff, 0xc1])?; // 48 is REX.W: inc rcx
        a.hlt()
    });
    let mut s = sandbox(false, &code);
    s.cpu.state.gpr[1] = 0xffff_ffff;
    commit(&mut s);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[0], 0xffff_ffff_8000_0000, "MOVSXD sign-extends");
    assert_eq!(s.cpu.state.gpr[1], 0x1_0000_0000, "REX.W INC is 64-bit");
}

#[test]
fn far_call_from_64_bit_to_compat_and_back_with_32_and_64_bit_frames() {
    // Vol. 2A "CALL": in 64-bit mode FF /3 defaults to m16:32 (EIP and CS pushed in 4-byte
    // slots); REX.W selects m16:64 (8-byte slots). Vol. 2B "RET": RETF pops by operand size
    // (32-bit in compatibility mode, REX.W RETF 8-byte slots).
    let compat_fn = CODE_BASE + 0x1000;
    let target64 = CODE_BASE + 0x2000;
    let part = asm_at(64, CODE_BASE, |a| {
        a.mov(rdx, rsp)?;
        a.mov(rbx, DATA_BASE + 0x100)?;
        a.call(fword_ptr(rbx)) // FF 1B: call far m16:32
    });
    let ret1 = CODE_BASE + part.len() as u64;
    let mut code = part;
    let part2 = asm_at(64, ret1, |a| {
        a.mov(rbx, DATA_BASE + 0x110)?;
        a.call(tbyte_ptr(rbx)) // 48 FF 1B: call far m16:64
    });
    let ret2 = ret1 + part2.len() as u64;
    code.extend(part2);
    code.extend(asm_at(64, ret2, |a| {
        a.sub(rdx, rsp)?;
        a.hlt()
    }));
    let compat = asm_at(32, compat_fn, |a| {
        a.mov(dword_ptr(D + 0x200), esp)?;
        a.mov(eax, dword_ptr(esp))?;
        a.mov(dword_ptr(D + 0x204), eax)?;
        a.mov(eax, dword_ptr(esp + 4))?;
        a.mov(dword_ptr(D + 0x208), eax)?;
        a.mov(ax, cs)?;
        a.mov(word_ptr(D + 0x20c), ax)?;
        a.retf() // CB: 32-bit
    });
    let long = asm_at(64, target64, |a| {
        a.mov(rbx, DATA_BASE + 0x300)?;
        a.mov(qword_ptr(rbx), rsp)?;
        a.mov(rax, qword_ptr(rsp))?;
        a.mov(qword_ptr(rbx + 8), rax)?;
        a.mov(rax, qword_ptr(rsp + 8))?;
        a.mov(qword_ptr(rbx + 16), rax)?;
        a.db(&[0x48, 0xcb]) // retfq
    });
    let mut s = sandbox(false, &code);
    put(&mut s, compat_fn, &compat);
    put(&mut s, target64, &long);
    put_le(&mut s, DATA_BASE + 0x100, 4, compat_fn);
    put_le(&mut s, DATA_BASE + 0x104, 2, CODE32 as u64);
    put_le(&mut s, DATA_BASE + 0x110, 8, target64);
    put_le(&mut s, DATA_BASE + 0x118, 2, CODE64 as u64);
    run_halted(&mut s, 200);
    assert_eq!(s.read(DATA_BASE + 0x200, 4), STACK_TOP - 8, "m16:32 pushes 2 x 4 bytes");
    assert_eq!(s.read(DATA_BASE + 0x204, 4), ret1);
    assert_eq!(s.read(DATA_BASE + 0x208, 2), CODE64 as u64);
    assert_eq!(s.read(DATA_BASE + 0x20c, 2), CODE32 as u64);
    assert_eq!(s.read(DATA_BASE + 0x300, 8), STACK_TOP - 16, "m16:64 pushes 2 x 8 bytes");
    assert_eq!(s.read(DATA_BASE + 0x308, 8), ret2);
    assert_eq!(s.read(DATA_BASE + 0x310, 2), CODE64 as u64);
    assert_eq!(s.cpu.state.gpr[2], 0, "both RETFs released their frames");
    assert_eq!(s.cpu.state.mode(), Mode::Long64);
}

#[test]
fn far_call_from_compat_into_64_bit_code_and_32_bit_retf_back() {
    // Vol. 2A "CALL" ptr16:32 from compatibility mode: 4-byte slots; the 64-bit callee's RETF
    // without REX.W has operand size 32 (Vol. 2B "RET") and returns to compatibility mode.
    let target64 = CODE_BASE + 0x2000;
    let part = asm_at(32, CODE_BASE, |a| a.call_far(CODE64, target64 as u32));
    let ret = CODE_BASE + part.len() as u64;
    let mut code = part;
    code.extend(asm_at(32, ret, |a| {
        a.mov(ecx, esp)?;
        a.mov(ax, cs)?;
        a.hlt()
    }));
    let long = asm_at(64, target64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rsp)?;
        a.mov(rax, qword_ptr(rsp))?; // EIP in the low half, CS in the high half
        a.mov(qword_ptr(rbx + 8), rax)?;
        a.db(&[0xcb]) // retf: operand size 32 in 64-bit mode
    });
    let mut s = sandbox(true, &code);
    put(&mut s, target64, &long);
    run_halted(&mut s, 100);
    let g = &s.cpu.state.gpr;
    assert_eq!(s.read(DATA_BASE, 8), STACK_TOP - 8, "two 4-byte slots");
    assert_eq!(s.read(DATA_BASE + 8, 4), ret);
    assert_eq!(s.read(DATA_BASE + 12, 2), CODE32 as u64);
    assert_eq!(g[1] & 0xffff_ffff, STACK_TOP);
    assert_eq!(g[0] & 0xffff, CODE32 as u64);
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
}

#[test]
fn far_jmp_and_call_through_a_64_bit_call_gate_from_compat() {
    // Vol. 3A 5.8.3.1: IA-32e call gates are 16 bytes and name a 64-bit code segment; a
    // CALL through one pushes CS and RIP as 8-byte values even from compatibility mode
    // (Vol. 2A "CALL" CALL-GATE-TO-SAME-PRIVILEGE in IA-32e mode).
    let code = asm_at(32, CODE_BASE, |a| a.jmp_far(GATE64, 0));
    let mut s = sandbox(true, &code);
    put(&mut s, GATE_TARGET, &asm_at(64, GATE_TARGET, |a| {
        a.mov(rax, 0x1234_5678_9abc_def0u64)?;
        a.hlt()
    }));
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[0], 0x1234_5678_9abc_def0, "64-bit code ran");
    assert_eq!(s.cpu.state.seg(SegReg::Cs).selector, CODE64);
    assert_eq!(s.cpu.state.mode(), Mode::Long64);

    let part = asm_at(32, CODE_BASE, |a| {
        a.mov(esp, (STACK_TOP - 4) as u32)?;
        a.call_far(GATE64, 0)
    });
    let ret = CODE_BASE + part.len() as u64;
    let mut code = part;
    code.extend(asm_at(32, ret, |a| {
        a.mov(ecx, esp)?;
        a.hlt()
    }));
    let mut s = sandbox(true, &code);
    put(&mut s, GATE_TARGET, &asm_at(64, GATE_TARGET, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rsp)?;
        a.mov(rax, qword_ptr(rsp))?;
        a.mov(qword_ptr(rbx + 8), rax)?;
        a.mov(rax, qword_ptr(rsp + 8))?;
        a.mov(qword_ptr(rbx + 16), rax)?;
        a.db(&[0x48, 0xcb]) // retfq
    }));
    run_halted(&mut s, 30);
    assert_eq!(s.read(DATA_BASE, 8), STACK_TOP - 4 - 16, "two 8-byte pushes, no alignment for call gates");
    assert_eq!(s.read(DATA_BASE + 8, 8), ret);
    assert_eq!(s.read(DATA_BASE + 16, 8), CODE32 as u64);
    // Vol. 1 3.4.1.1: GPR bits 63:32 are undefined after leaving 64-bit mode; compare ECX.
    assert_eq!(s.cpu.state.gpr[1] & 0xffff_ffff, STACK_TOP - 4, "RETFQ released 16 bytes");
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
}

#[test]
fn interrupt_from_compat_uses_the_64_bit_idt_frame_and_iretq_returns() {
    // Vol. 3A 6.14.2: RSP is aligned down to 16 bytes, then SS, RSP, RFLAGS, CS, RIP are
    // pushed (8 bytes each) even without a privilege change. IRETQ pops all five and
    // returns to the compatibility-mode CS.
    let part = asm_at(32, CODE_BASE, |a| {
        a.mov(esp, (STACK_TOP - 4) as u32)?;
        a.int(0x40)
    });
    let ret = CODE_BASE + part.len() as u64;
    let mut code = part;
    code.extend(asm_at(32, ret, |a| {
        a.mov(ecx, esp)?;
        a.mov(eax, 0x7777)?;
        a.hlt()
    }));
    let mut s = sandbox(true, &code);
    put(&mut s, KERNEL, &asm_at(64, KERNEL, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rsp)?;
        for k in 0..5 {
            a.mov(rax, qword_ptr(rsp + 8 * k))?;
            a.mov(qword_ptr(rbx + 8 + 8 * k), rax)?;
        }
        a.iretq()
    }));
    idt_gate64(&mut s, 0x40, KERNEL, 0);
    run_halted(&mut s, 100);
    assert_eq!(s.read(DATA_BASE, 8), STACK_TOP - 16 - 40, "aligned to 16, five 8-byte pushes");
    let frame: Vec<u64> = (0..5).map(|k| s.read(DATA_BASE + 8 + 8 * k, 8)).collect();
    assert_eq!(frame, [ret, CODE32 as u64, 0x2, STACK_TOP - 4, DATA as u64]);
    assert_eq!(s.cpu.state.gpr[1] & 0xffff_ffff, STACK_TOP - 4, "IRETQ restored ESP");
    assert_eq!(s.cpu.state.gpr[0] & 0xffff_ffff, 0x7777);
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
}

#[test]
fn exceptions_in_compat_carry_the_compat_cs_and_error_code() {
    // Vol. 3A 6.14.2 and 6.13: #GP(selector) from MOV DS with a selector beyond the GDT
    // limit, delivered through the 64-bit IDT.
    let code = asm_at(32, CODE_BASE, |a| {
        a.mov(ax, 0x400)?;
        a.mov(ds, ax)
    });
    let mut s = sandbox(true, &code);
    assert_eq!(run_fault(&mut s, 10), (13, 0x400, CODE_BASE + 4, CODE32 as u64));
}

#[test]
fn segment_limits_are_checked_in_compat_but_not_in_64_bit_mode() {
    // Vol. 3A 5.3 / 3.2.4: compatibility mode uses legacy segmentation (limit checks on
    // data, stack and code); 64-bit mode performs no limit checks.
    let ds_case = |compat: bool, off: u32| {
        let bits = if compat { 32 } else { 64 };
        let code = asm_at(bits, CODE_BASE, |a| {
            a.mov(ax, SMALL_DATA as u32)?;
            a.mov(ds, ax)?;
            a.mov(ebx, off)?;
            a.mov(eax, dword_ptr(rbx_or_ebx(bits)))?;
            a.hlt()
        });
        let mut s = sandbox(compat, &code);
        s.run(20);
        (s.exception_vector(), s.read(s.cpu.state.gpr[4], 8))
    };
    assert_eq!(ds_case(true, 0xffc), (None, 0), "last dword within the limit");
    assert_eq!(ds_case(true, 0xffd), (Some(13), 0), "crosses the limit: #GP(0)");
    assert_eq!(ds_case(false, 0x2000).0, None, "64-bit mode ignores the DS limit");

    // Stack: SS with limit 0xFFF, ESP 0x2000: PUSH -> #SS(0) in compatibility mode.
    let code = asm_at(32, CODE_BASE, |a| {
        a.mov(ax, SMALL_DATA as u32)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x2000)?;
        a.push(eax)
    });
    let mut s = sandbox(true, &code);
    let (v, err, rip, _) = run_fault(&mut s, 20);
    assert_eq!((v, err, rip), (12, 0, CODE_BASE + code.len() as u64 - 1));

    // Code: a near JMP beyond the CS limit (0x100FFF) -> #GP(0) at the JMP.
    let code = asm_at(32, CODE_BASE, |a| a.jmp(CODE_BASE + 0x1000));
    let mut s = sandbox(true, &code);
    load(&mut s, SegReg::Cs, SMALL_CODE32);
    commit(&mut s);
    assert_eq!(run_fault(&mut s, 10), (13, 0, CODE_BASE, SMALL_CODE32 as u64));
    // The same JMP to the last byte of the segment is fine.
    let code = asm_at(32, CODE_BASE, |a| a.jmp(CODE_BASE + 0xfff));
    let mut s = sandbox(true, &code);
    put(&mut s, CODE_BASE + 0xfff, &[0xf4]);
    load(&mut s, SegReg::Cs, SMALL_CODE32);
    commit(&mut s);
    run_halted(&mut s, 10);
}

/// `[rbx]` in 64-bit code, `[ebx]` in 32-bit code.
fn rbx_or_ebx(bits: u32) -> AsmMemoryOperand {
    if bits == 64 { ptr(rbx) } else { ptr(ebx) }
}

#[test]
fn syscall_is_ud_in_compat_mode_and_sysret_enters_it() {
    // Vol. 2B "SYSCALL" (Intel): #UD unless CS.L = 1 with IA32_EFER.LMA = 1 (IA32_CSTAR is
    // not used). "SYSRET" with operand size 32: CS = STAR[63:48] | 3 (L=0, D=1), SS =
    // STAR[63:48] + 8 | 3, EIP = ECX, RFLAGS = R11 with RF cleared.
    let star = (0x60u64 << 48) | (0x08 << 32);
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(ecx, 0xc000_0081u32)?;
        a.mov(eax, star as u32)?;
        a.mov(edx, (star >> 32) as u32)?;
        a.wrmsr()?;
        a.mov(ecx, 0xc000_0083u32)?; // IA32_CSTAR: set, but never used by SYSCALL on Intel
        a.mov(eax, KERNEL as u32)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.mov(rcx, USER_CODE)?;
        a.mov(r11, 0x10202u64)?;
        a.mov(rsp, USER_STACK)?;
        a.sysret()
    });
    let user = asm_at(32, USER_CODE, |a| {
        a.mov(ax, cs)?;
        a.mov(word_ptr(D), ax)?;
        a.mov(ax, ss)?;
        a.mov(word_ptr(D + 2), ax)?;
        a.pushfd()?;
        a.pop(eax)?;
        a.mov(dword_ptr(D + 4), eax)?;
        a.syscall()
    });
    let mut s = sandbox(false, &code);
    put(&mut s, USER_CODE, &user);
    put(&mut s, KERNEL, &[0xf4]);
    let (v, _, rip, code_sel) = run_fault(&mut s, 100);
    assert_eq!(s.read(DATA_BASE, 2), UCODE32 as u64);
    assert_eq!(s.read(DATA_BASE + 2, 2), UDATA as u64);
    assert_eq!(s.read(DATA_BASE + 4, 4), 0x202, "RFLAGS = R11 without RF");
    assert_eq!((v, rip, code_sel), (6, USER_CODE + user.len() as u64 - 2, UCODE32 as u64), "SYSCALL #UD in compat");
}

#[test]
fn sixteen_bit_compatibility_mode_push_sizes_and_interrupt_frame() {
    // Vol. 3A 5.2.1: L=0, D=0 under IA-32e -> 16-bit compatibility mode (16-bit defaults);
    // interrupts still use the 64-bit IDT and frame (6.14.2), IRETQ returns to it.
    let part = asm_at(16, 0, |a| {
        a.mov(ebx, esp)?;
        a.push(ax)?; // 2
        a.push(eax)?; // 66: 4
        a.sub(ebx, esp)?;
        a.int(0x40)
    });
    let ret = part.len() as u64;
    let mut code = part;
    code.extend(asm_at(16, ret, |a| {
        a.mov(dx, 0x1616)?;
        a.hlt()
    }));
    let mut s = sandbox(false, &[]);
    put(&mut s, CODE_BASE, &code);
    put(&mut s, KERNEL, &asm_at(64, KERNEL, |a| {
        a.mov(rsi, qword_ptr(rsp))?;
        a.mov(rdi, qword_ptr(rsp + 8))?;
        a.iretq()
    }));
    idt_gate64(&mut s, 0x40, KERNEL, 0);
    load(&mut s, SegReg::Cs, CODE16);
    s.cpu.state.rip = 0;
    commit(&mut s);
    assert_eq!(s.cpu.state.mode(), Mode::Compat16);
    run_halted(&mut s, 100);
    let g = &s.cpu.state.gpr;
    assert_eq!(g[3] & 0xffff_ffff, 6, "2-byte and 4-byte pushes");
    // RSI/RDI were loaded in 64-bit mode; only bits 31:0 are defined afterwards (Vol. 1 3.4.1.1).
    assert_eq!((g[6] & 0xffff_ffff, g[7] & 0xffff_ffff), (ret, CODE16 as u64), "64-bit frame: RIP = IP, CS");
    assert_eq!(g[2] & 0xffff, 0x1616);
    assert_eq!(s.cpu.state.mode(), Mode::Compat16);
}

#[test]
fn a_16_bit_stack_in_compat_mode_wraps_sp_and_interrupts_still_push_rsp_and_ss() {
    // Vol. 3A 3.2.4: compatibility mode keeps legacy stack semantics, so SS.B=0 means SP
    // (PUSH wraps at 64 KiB, ESP[31:16] kept). 6.14.2: the 64-bit delivery ignores SS.B and
    // SS.base, aligns RSP and pushes SS:RSP; IRETQ reloads the B=0 SS.
    let part = asm_at(32, CODE_BASE, |a| {
        a.mov(eax, 0x1122_3344)?;
        a.push(eax)?; // SP 0 -> 0xFFFC
        a.int(0x40)
    });
    let ret = CODE_BASE + part.len() as u64;
    let mut code = part;
    code.extend(asm_at(32, ret, |a| {
        a.pop(ebx)?;
        a.hlt()
    }));
    let mut s = sandbox(true, &code);
    put(&mut s, KERNEL, &asm_at(64, KERNEL, |a| {
        a.mov(rbx, DATA_BASE + 0x2_0000)?;
        a.mov(qword_ptr(rbx), rsp)?;
        for k in 0..5 {
            a.mov(rax, qword_ptr(rsp + 8 * k))?;
            a.mov(qword_ptr(rbx + 8 + 8 * k), rax)?;
        }
        a.iretq()
    }));
    idt_gate64(&mut s, 0x40, KERNEL, 0);
    load(&mut s, SegReg::Ss, STACK16);
    s.cpu.state.gpr[4] = 0x0001_0000;
    commit(&mut s);
    run_halted(&mut s, 100);
    assert_eq!(s.read(DATA_BASE + 0xfffc, 4), 0x1122_3344, "pushed at SS.base + 0xFFFC");
    let d = DATA_BASE + 0x2_0000;
    assert_eq!(s.read(d, 8), 0x1_fff0 - 40, "RSP (not SS.base + SP) aligned, five pushes");
    let frame: Vec<u64> = (0..5).map(|k| s.read(d + 8 + 8 * k, 8)).collect();
    assert_eq!(frame, [ret, CODE32 as u64, 0x2, 0x1_fffc, STACK16 as u64]);
    assert_eq!(s.cpu.state.gpr[3] & 0xffff_ffff, 0x1122_3344, "POP through the B=0 SS");
    assert_eq!(s.cpu.state.gpr[4] & 0xffff_ffff, 0x1_0000, "SP wrapped back to 0");
}

#[test]
fn iretd_in_64_bit_mode_pops_five_doublewords_and_returns_to_compat() {
    // Vol. 2A "IRET" IA-32e-MODE: operand size 32 pops EIP, CS, EFLAGS, and because the
    // instruction began in 64-bit mode also ESP and SS (4 bytes each).
    let frame = DATA_BASE + 0x100;
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(rsp, frame)?;
        a.iretd() // CF
    });
    let target = CODE_BASE + 0x1000;
    let mut s = sandbox(false, &code);
    put(&mut s, target, &asm_at(32, target, |a| {
        a.mov(ecx, esp)?;
        a.pushfd()?;
        a.pop(edx)?;
        a.hlt()
    }));
    for (k, v) in [target, CODE32 as u64, 0x846, 0x7000, DATA as u64].into_iter().enumerate() {
        put_le(&mut s, frame + 4 * k as u64, 4, v);
    }
    run_halted(&mut s, 20);
    assert_eq!(s.cpu.state.gpr[1] & 0xffff_ffff, 0x7000);
    assert_eq!(s.cpu.state.gpr[2] & 0xffff_ffff, 0x846);
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
}

#[test]
fn ring3_compat_calls_ring0_through_a_64_bit_call_gate_and_retfq_returns() {
    // Vol. 3A 5.8.5 / 5.8.3.1 and Vol. 2A "CALL" IA-32e call gate to more privilege: RSP from
    // TSS.RSP0, SS = NULL(RPL = new CPL), old SS, RSP, CS, RIP pushed as 8-byte values.
    // Vol. 2B "RET" (REX.W, outer privilege) pops them back into compatibility mode.
    let part = asm_at(32, USER_CODE, |a| a.call_far(GATE64_R3, 0));
    let ret = USER_CODE + part.len() as u64;
    let mut user = part;
    user.extend(asm_at(32, ret, |a| {
        a.mov(ax, ss)?;
        a.mov(word_ptr(D + 0x40), ax)?;
        a.mov(dword_ptr(D + 0x44), esp)?;
        a.ud2()
    }));
    let mut s = sandbox(false, &[]);
    put(&mut s, USER_CODE, &user);
    put(&mut s, GATE_TARGET, &asm_at(64, GATE_TARGET, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rsp)?;
        for k in 0..4 {
            a.mov(rax, qword_ptr(rsp + 8 * k))?;
            a.mov(qword_ptr(rbx + 8 + 8 * k), rax)?;
        }
        a.mov(ax, ss)?;
        a.mov(word_ptr(rbx + 0x30), ax)?;
        a.db(&[0x48, 0xcb]) // retfq
    }));
    load(&mut s, SegReg::Cs, UCODE32);
    load(&mut s, SegReg::Ss, UDATA);
    load(&mut s, SegReg::Ds, UDATA);
    s.cpu.state.rip = USER_CODE;
    s.cpu.state.gpr[4] = USER_STACK;
    s.cpu.state.cpl = 3;
    commit(&mut s);
    let (v, _, rip, code_sel) = run_fault(&mut s, 100);
    assert_eq!(s.read(DATA_BASE, 8), STACK_TOP - 32, "four 8-byte pushes on RSP0");
    let frame: Vec<u64> = (0..4).map(|k| s.read(DATA_BASE + 8 + 8 * k, 8)).collect();
    assert_eq!(frame, [ret, UCODE32 as u64, USER_STACK, UDATA as u64]);
    assert_eq!(s.read(DATA_BASE + 0x30, 2), 0, "SS = NULL with RPL 0");
    assert_eq!(s.read(DATA_BASE + 0x40, 2), UDATA as u64, "ring-3 SS restored");
    assert_eq!(s.read(DATA_BASE + 0x44, 4), USER_STACK);
    assert_eq!((v, rip, code_sel), (6, USER_CODE + user.len() as u64 - 2, UCODE32 as u64), "UD2 in ring-3 compat code");
}

#[test]
fn sysenter_from_compat_enters_64_bit_code_and_sysexit_returns_to_compat() {
    // Vol. 2B "SYSENTER" (Intel, IA-32e mode): CS = IA32_SYSENTER_CS (L=1), SS = CS + 8,
    // RIP/RSP from IA32_SYSENTER_EIP/ESP, CPL 0, IF cleared. "SYSEXIT" (operand size 32): CS =
    // IA32_SYSENTER_CS + 16 | 3 (32-bit), SS = + 24 | 3, EIP = EDX, ESP = ECX.
    let user = asm_at(32, USER_CODE, |a| a.sysenter());
    let back = USER_CODE + 0x100;
    let mut s = sandbox(false, &[]);
    put(&mut s, USER_CODE, &user);
    let back_code = asm_at(32, back, |a| {
        a.mov(ax, cs)?;
        a.mov(word_ptr(D + 0x10), ax)?;
        a.mov(ax, ss)?;
        a.mov(word_ptr(D + 0x12), ax)?;
        a.mov(dword_ptr(D + 0x14), esp)?;
        a.ud2()
    });
    put(&mut s, back, &back_code);
    put(&mut s, KERNEL, &asm_at(64, KERNEL, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rsp)?;
        a.mov(ax, cs)?;
        a.mov(word_ptr(rbx + 8), ax)?;
        a.mov(ax, ss)?;
        a.mov(word_ptr(rbx + 10), ax)?;
        a.mov(rax, 0x1_0000_0000u64)?; // only valid in 64-bit mode
        a.mov(qword_ptr(rbx + 0x20), rax)?;
        a.mov(edx, back as u32)?;
        a.mov(ecx, USER_STACK as u32)?;
        a.sysexit() // 0F 35: to 32-bit (compatibility) code
    }));
    let st = &mut s.cpu.state;
    st.msr.sysenter_cs = CODE64 as u64;
    st.msr.sysenter_esp = STACK_TOP - 0x100;
    st.msr.sysenter_eip = KERNEL;
    load(&mut s, SegReg::Cs, UCODE32);
    load(&mut s, SegReg::Ss, UDATA);
    load(&mut s, SegReg::Ds, UDATA);
    s.cpu.state.rip = USER_CODE;
    s.cpu.state.gpr[4] = USER_STACK - 0x40;
    s.cpu.state.cpl = 3;
    s.cpu.state.rflags = 0x202;
    commit(&mut s);
    let (v, _, rip, code_sel) = run_fault(&mut s, 100);
    assert_eq!(s.read(DATA_BASE, 8), STACK_TOP - 0x100);
    assert_eq!((s.read(DATA_BASE + 8, 2), s.read(DATA_BASE + 10, 2)), (CODE64 as u64, DATA as u64));
    assert_eq!(s.read(DATA_BASE + 0x20, 8), 0x1_0000_0000);
    assert_eq!((s.read(DATA_BASE + 0x10, 2), s.read(DATA_BASE + 0x12, 2)), (0x1b, 0x23), "SYSEXIT selectors");
    assert_eq!(s.read(DATA_BASE + 0x14, 4), USER_STACK);
    assert_eq!((v, code_sel), (6, 0x1b));
    assert_eq!(rip, back + back_code.len() as u64 - 2, "EIP = EDX");
}

#[test]
fn compat_linear_addresses_wrap_at_4_gib() {
    // Vol. 3A 3.4 / 5.1 (outside 64-bit mode linear addresses are 32 bits): DS.base 0x1000
    // plus offset 0xFFFFF010 is linear 0x10.
    let code = asm_at(32, CODE_BASE, |a| {
        a.mov(ax, 0x70)?;
        a.mov(ds, ax)?;
        a.mov(eax, dword_ptr(0xffff_f010u32))?;
        a.hlt()
    });
    let mut s = sandbox(true, &code);
    put_le(&mut s, 0x1070, 8, desc(0x1000, 0xfffff, 0x92, 0xc));
    put_le(&mut s, 0x10, 4, 0x5a5a_1234);
    run_halted(&mut s, 10);
    assert_eq!(s.cpu.state.gpr[0] & 0xffff_ffff, 0x5a5a_1234);
}
