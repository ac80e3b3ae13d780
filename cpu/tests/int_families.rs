//! Instruction tests for the integer families: shifts and rotates, multiply and divide, bit
//! test/scan/count, BMI1/BMI2/ADX, decimal and legacy-only instructions, XADD/CMPXCHG.
//!
//! Expected values are hand-computed from the SDM's Operation sections (or copied from the
//! SDM's own examples, cited where used); code is assembled with iced-x86's `CodeAssembler`
//! or given as raw bytes with the assembly beside them.

use hvbench_cpu::flags::{AF, CF, OF, PF, SF, STATUS, ZF};
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use iced_x86::code_asm::*;

const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RBX: usize = 3;

fn asm(bits: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// Runs `code` in `mode` after `setup`; returns the sandbox (halted, or in an exception stub).
fn run(mode: SandboxMode, code: &[u8], setup: impl FnOnce(&mut Sandbox)) -> Sandbox {
    let mut s = Sandbox::new(mode, code);
    setup(&mut s);
    s.run(1000);
    s
}

fn run64(code: &[u8], setup: impl FnOnce(&mut Sandbox)) -> Sandbox {
    let s = run(SandboxMode::Long64, code, setup);
    assert_eq!(s.exception_vector(), None, "unexpected exception");
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    s
}

fn run32(code: &[u8], setup: impl FnOnce(&mut Sandbox)) -> Sandbox {
    let s = run(SandboxMode::Protected32, code, setup);
    assert_eq!(s.exception_vector(), None, "unexpected exception");
    s
}

fn vector(mode: SandboxMode, code: &[u8], setup: impl FnOnce(&mut Sandbox)) -> Option<u8> {
    run(mode, code, setup).exception_vector()
}

fn regs(s: &mut Sandbox, v: &[(usize, u64)]) {
    for &(r, x) in v {
        s.cpu.state.gpr[r] = x;
    }
}

fn flags_in(s: &mut Sandbox, f: u64) {
    s.cpu.state.rflags = 2 | f;
}

/// The status flags named in `m`.
fn st(s: &Sandbox, m: u64) -> u64 {
    s.cpu.state.rflags & m
}

fn g(s: &Sandbox, r: usize) -> u64 {
    s.cpu.state.gpr[r]
}

fn poke(s: &mut Sandbox, addr: u64, size: u8, v: u64) {
    s.mem.write_le(hvbench_mmu::PhysAddr(addr), size, v);
}

// ---------------------------------------------------------------- shifts and rotates

#[test]
fn shl_by_one_sets_cf_and_of() {
    // SHL AL,1 of 81H: 02H, CF = old MSB = 1, OF = MSB(result) XOR CF = 1, PF (one bit) = 0.
    let s = run64(&asm(64, |a| a.shl(al, 1)), |s| regs(s, &[(RAX, 0x81)]));
    assert_eq!(g(&s, RAX) & 0xff, 0x02);
    assert_eq!(st(&s, CF | OF | SF | ZF | PF), CF | OF);
}

#[test]
fn sal_encoding_d0_f0_is_shl() {
    // D0 F0 = SAL AL,1 (the /6 alias of /4).
    let s = run64(&[0xd0, 0xf0, 0xf4], |s| regs(s, &[(RAX, 0x40)]));
    assert_eq!(g(&s, RAX) & 0xff, 0x80);
    assert_eq!(st(&s, CF | OF | SF), OF | SF);
}

#[test]
fn shift_count_zero_changes_no_flags() {
    let all = CF | PF | AF | ZF | SF | OF;
    let code = asm(64, |a| {
        a.shl(eax, cl)?;
        a.sar(ebx, cl)?;
        a.rcl(edx, cl)
    });
    // CL = 32: masked to 0 for 32-bit operands.
    let s = run64(&code, |s| {
        regs(s, &[(RAX, 0x8000_0001), (RCX, 32), (RBX, 5), (RDX, 7)]);
        flags_in(s, all);
    });
    assert_eq!(st(&s, STATUS), all);
    assert_eq!(g(&s, RAX) & 0xffff_ffff, 0x8000_0001);
    assert_eq!(g(&s, RDX) & 0xffff_ffff, 7);
}

#[test]
fn shift_count_is_masked_to_5_or_6_bits() {
    let code = asm(64, |a| {
        a.shl(eax, cl)?; // 33 & 31 = 1
        a.shl(rbx, cl) // 33 & 63 = 33
    });
    let s = run64(&code, |s| regs(s, &[(RAX, 1), (RBX, 1), (RCX, 33)]));
    assert_eq!(g(&s, RAX), 2);
    assert_eq!(g(&s, RBX), 1 << 33);
}

#[test]
fn shr_and_sar() {
    let code = asm(64, |a| {
        a.shr(al, 1)?; // 81H -> 40H, CF=1, OF = old MSB = 1
        a.pushfq()?;
        a.sar(bl, 2)?; // 81H (-127) -> E0H (-32, rounds toward -inf), CF = bit 1 = 0
        a.pushfq()?;
        a.shr(ecx, 31) // 80000000H -> 1, CF = bit 30 = 0, ZF = 0
    });
    let s = run64(&code, |s| regs(s, &[(RAX, 0x81), (RBX, 0x81), (RCX, 0x8000_0000)]));
    assert_eq!(g(&s, RAX) & 0xff, 0x40);
    assert_eq!(g(&s, RBX) & 0xff, 0xe0);
    assert_eq!(g(&s, RCX), 1);
    let top = g(&s, 4);
    let f_shr = s.read(top + 8, 8);
    let f_sar = s.read(top, 8);
    assert_eq!(f_shr & (CF | OF | SF | ZF), CF | OF);
    // SAR by 2: CF = 0, SF = 1, OF = 0 (SAR by 1 would define OF = 0 too).
    assert_eq!(f_sar & (CF | SF | ZF), SF);
    assert_eq!(st(&s, CF | ZF | SF), 0);
}

#[test]
fn shl_of_a_byte_by_its_width_moves_bit0_into_cf() {
    // SHL AL,8: the last bit shifted out is the original bit 0.
    let s = run64(&asm(64, |a| a.shl(al, 8)), |s| regs(s, &[(RAX, 0x01)]));
    assert_eq!(g(&s, RAX) & 0xff, 0);
    assert_eq!(st(&s, CF | ZF), CF | ZF);
}

#[test]
fn rol_and_ror() {
    let code = asm(64, |a| {
        a.rol(al, 1)?; // 81H -> 03H, CF = LSB(result) = 1, OF = MSB XOR CF = 1
        a.ror(bl, 1)?; // 01H -> 80H, CF = MSB(result) = 1, OF = MSB XOR MSB-1 = 1
        a.rol(dl, 8) // count 8: rotates nothing, but CF = LSB(DEST) = 0 (DL = 2)
    });
    let s = run64(&code, |s| {
        regs(s, &[(RAX, 0x81), (RBX, 1), (RDX, 2)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RAX) & 0xff, 0x03);
    assert_eq!(g(&s, RBX) & 0xff, 0x80);
    assert_eq!(g(&s, RDX) & 0xff, 0x02);
    assert_eq!(st(&s, CF), 0);
}

#[test]
fn ror_by_one_flags() {
    let s = run64(&asm(64, |a| a.ror(bl, 1)), |s| regs(s, &[(RBX, 1)]));
    assert_eq!(st(&s, CF | OF), CF | OF);
    let s = run64(&asm(64, |a| a.rol(al, 1)), |s| regs(s, &[(RAX, 0x81)]));
    assert_eq!(st(&s, CF | OF), CF | OF);
}

#[test]
fn rcl_rotates_through_carry() {
    let code = asm(64, |a| {
        a.rcl(al, 1)?; // 80H, CF=0 -> 00H, CF=1
        a.rcl(al, 1) // 00H, CF=1 -> 01H, CF=0
    });
    let s = run64(&code, |s| regs(s, &[(RAX, 0x80)]));
    assert_eq!(g(&s, RAX) & 0xff, 0x01);
    assert_eq!(st(&s, CF), 0);
    // A single RCL AL,1 of 80H: CF=1, OF = MSB(result) XOR CF = 1.
    let s = run64(&asm(64, |a| a.rcl(al, 1)), |s| regs(s, &[(RAX, 0x80)]));
    assert_eq!(st(&s, CF | OF), CF | OF);
}

#[test]
fn rcl_rcr_count_modulo_9_and_17() {
    let code = asm(64, |a| {
        a.rcl(al, cl)?; // CL = 9: 9 mod 9 = 0, AL and CF unchanged
        a.rcl(bx, 17) // 17 mod 17 = 0
    });
    let s = run64(&code, |s| {
        regs(s, &[(RAX, 0x55), (RCX, 9), (RBX, 0x1234)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RAX) & 0xff, 0x55);
    assert_eq!(g(&s, RBX) & 0xffff, 0x1234);
    assert_eq!(st(&s, CF), CF);
    // RCL AL,10 = RCL AL,1 (10 mod 9): 55H with CF=1 -> ABH, CF=0.
    let s = run64(&asm(64, |a| a.rcl(al, 10)), |s| {
        regs(s, &[(RAX, 0x55)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RAX) & 0xff, 0xab);
    assert_eq!(st(&s, CF), 0);
}

#[test]
fn rcr_and_64_bit_rcl() {
    // RCR AL,1 of 01H with CF=1: 80H, CF=1, OF = MSB(DEST) XOR CF before = 0 XOR 1 = 1.
    let s = run64(&asm(64, |a| a.rcr(al, 1)), |s| {
        regs(s, &[(RAX, 1)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RAX) & 0xff, 0x80);
    assert_eq!(st(&s, CF | OF), CF | OF);
    // RCL RAX,1 of 2^63 with CF=1: 1, CF=1.
    let s = run64(&asm(64, |a| a.rcl(rax, 1)), |s| {
        regs(s, &[(RAX, 1 << 63)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RAX), 1);
    assert_eq!(st(&s, CF), CF);
    // RCR RBX,CL=3 of 0 with CF=1: the carry lands at bit 61.
    let s = run64(&asm(64, |a| a.rcr(rbx, cl)), |s| {
        regs(s, &[(RBX, 0), (RCX, 3)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RBX), 1 << 61);
    assert_eq!(st(&s, CF), 0);
}

#[test]
fn shld_and_shrd() {
    let code = asm(64, |a| {
        a.shld(eax, ebx, 4)?; // 12345678H:9ABCDEF0H << 4 -> 23456789H, CF = bit 28 = 1
        a.pushfq()?;
        a.shrd(edx, ebx, 4)?; // 9ABCDEF0H:12345678H >> 4 -> 01234567H, CF = bit 3 = 1
        a.pushfq()?;
        a.shld(rcx, rsi, cl) // CL = 8 (RCX itself): see below
    });
    let s = run64(&code, |s| {
        regs(s, &[(RAX, 0x1234_5678), (RBX, 0x9abc_def0), (RDX, 0x1234_5678)]);
        s.cpu.state.gpr[RCX] = 0x0123_4567_89ab_cd08;
        s.cpu.state.gpr[6] = 0xfedc_ba98_7654_3210;
    });
    assert_eq!(g(&s, RAX), 0x2345_6789);
    assert_eq!(g(&s, RDX), 0x0123_4567);
    let top = g(&s, 4);
    assert_eq!(s.read(top + 8, 8) & CF, CF);
    assert_eq!(s.read(top, 8) & CF, CF);
    // 0123456789ABCD08H << 8 with FEH from RSI: 23456789ABCD08FEH, CF = bit 56 = 1.
    assert_eq!(g(&s, RCX), 0x2345_6789_abcd_08fe);
    assert_eq!(st(&s, CF | ZF | SF), CF);
}

#[test]
fn shld_by_one_of_is_sign_change_and_count_zero_keeps_flags() {
    // SHLD AX,BX,1: 4000H -> 8000H (BX MSB 0): sign changed, OF = 1, CF = 0.
    let s = run64(&asm(64, |a| a.shld(ax, bx, 1)), |s| regs(s, &[(RAX, 0x4000), (RBX, 0)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x8000);
    assert_eq!(st(&s, CF | OF | SF), OF | SF);
    let s = run64(&asm(64, |a| a.shrd(eax, ebx, cl)), |s| {
        regs(s, &[(RAX, 5), (RBX, 7), (RCX, 32)]);
        flags_in(s, ZF | PF);
    });
    assert_eq!(g(&s, RAX), 5);
    assert_eq!(st(&s, STATUS), ZF | PF);
}

#[test]
fn shift_memory_destination() {
    let code = asm(64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.shr(dword_ptr(rbx), 4)?;
        a.rol(word_ptr(rbx + 8), 4)
    });
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 4, 0x1234_5678);
        poke(s, DATA_BASE + 8, 2, 0x1234);
    });
    assert_eq!(s.read(DATA_BASE, 4), 0x0123_4567);
    assert_eq!(s.read(DATA_BASE + 8, 2), 0x2341);
}

// ---------------------------------------------------------------- multiply and divide

#[test]
fn mul_forms() {
    // MUL ECX: 80000000H * 4 = 2_00000000H: EDX=2, EAX=0, CF=OF=1; RAX/RDX upper halves clear.
    let s = run64(&asm(64, |a| a.mul(ecx)), |s| regs(s, &[(RAX, 0xffff_ffff_8000_0000), (RCX, 4), (RDX, u64::MAX)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (0, 2));
    assert_eq!(st(&s, CF | OF), CF | OF);
    // MUL BL: 10H * 10H = 100H in AX; CF=OF=1; the rest of RAX kept.
    let s = run64(&asm(64, |a| a.mul(bl)), |s| regs(s, &[(RAX, 0xaaaa_0010), (RBX, 0x10)]));
    assert_eq!(g(&s, RAX), 0xaaaa_0100);
    assert_eq!(st(&s, CF | OF), CF | OF);
    // MUL RBX: 2^63 * 4 = 2^65: RDX=2, RAX=0.
    let s = run64(&asm(64, |a| a.mul(rbx)), |s| regs(s, &[(RAX, 1 << 63), (RBX, 4)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (0, 2));
    // MUL CX: 3 * 5 = 15 fits in AX: CF=OF=0, DX=0.
    let s = run64(&asm(64, |a| a.mul(cx)), |s| {
        regs(s, &[(RAX, 3), (RCX, 5), (RDX, 0xffff)]);
        flags_in(s, CF | OF);
    });
    assert_eq!((g(&s, RAX), g(&s, RDX)), (15, 0));
    assert_eq!(st(&s, CF | OF), 0);
}

#[test]
fn imul_forms() {
    // IMUL CL (one operand): -2 * 3 = -6 = FFFAH in AX, fits in AL: CF=OF=0.
    let s = run64(&asm(64, |a| a.imul(cl)), |s| {
        regs(s, &[(RAX, 0xfe), (RCX, 3)]);
        flags_in(s, CF | OF);
    });
    assert_eq!(g(&s, RAX) & 0xffff, 0xfffa);
    assert_eq!(st(&s, CF | OF), 0);
    // IMUL EAX,ECX,40000000H: 2 * 2^30 = 2^31 does not fit a signed dword: CF=OF=1.
    let s = run64(&asm(64, |a| a.imul_3(eax, ecx, 0x4000_0000)), |s| regs(s, &[(RCX, 2)]));
    assert_eq!(g(&s, RAX), 0x8000_0000);
    assert_eq!(st(&s, CF | OF), CF | OF);
    // IMUL RAX,RCX: -3 * 5 = -15.
    let s = run64(&asm(64, |a| a.imul_2(rax, rcx)), |s| regs(s, &[(RAX, (-3i64) as u64), (RCX, 5)]));
    assert_eq!(g(&s, RAX), (-15i64) as u64);
    assert_eq!(st(&s, CF | OF), 0);
    // IMUL RBX (one operand): -1 * 2^62 = -2^62: RDX:RAX = FFFF..:C000..; fits: CF=OF=0.
    let s = run64(&asm(64, |a| a.imul(rbx)), |s| regs(s, &[(RAX, u64::MAX), (RBX, 1 << 62)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (0xc000_0000_0000_0000, u64::MAX));
    assert_eq!(st(&s, CF | OF), 0);
    // IMUL AX,CX,-2 (imm8 sign-extended): 4000H * -2 = -8000H fits exactly in 16 bits.
    let s = run64(&asm(64, |a| a.imul_3(ax, cx, -2)), |s| regs(s, &[(RCX, 0x4000)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x8000);
    assert_eq!(st(&s, CF | OF), 0);
}

#[test]
fn div_and_idiv_results() {
    // DIV ECX: 1_00000005H / 2 = 80000002H rem 1.
    let s = run64(&asm(64, |a| a.div(ecx)), |s| regs(s, &[(RAX, 5), (RDX, 1), (RCX, 2)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (0x8000_0002, 1));
    // IDIV ECX: -7 / 2 = -3 rem -1 (truncation toward zero).
    let s = run64(&asm(64, |a| a.idiv(ecx)), |s| regs(s, &[(RAX, 0xffff_fff9), (RDX, 0xffff_ffff), (RCX, 2)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (0xffff_fffd, 0xffff_ffff));
    // IDIV CL: AX = -256 / 2 = -128, the most negative byte quotient is allowed.
    let s = run64(&asm(64, |a| a.idiv(cl)), |s| regs(s, &[(RAX, 0xff00), (RCX, 2)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x0080);
    // DIV BX: DX:AX = 0001_0000H / 3 = 5555H rem 1.
    let s = run64(&asm(64, |a| a.div(bx)), |s| regs(s, &[(RAX, 0), (RDX, 1), (RBX, 3)]));
    assert_eq!((g(&s, RAX) & 0xffff, g(&s, RDX) & 0xffff), (0x5555, 1));
    // DIV RBX with a 128-bit dividend: (2^64 + 10) / 2^32.
    let s = run64(&asm(64, |a| a.div(rbx)), |s| regs(s, &[(RAX, 10), (RDX, 1), (RBX, 1 << 32)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (1 << 32, 10));
}

#[test]
fn divide_errors_raise_de_and_change_nothing() {
    // DIV by zero.
    let mut s = run(SandboxMode::Long64, &asm(64, |a| a.div(ecx)), |s| regs(s, &[(RAX, 7), (RDX, 0), (RCX, 0)]));
    assert_eq!(s.exception_vector(), Some(0));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (7, 0));
    // Quotient overflow: 2_00000000H / 2 = 2^32 does not fit EAX.
    s = run(SandboxMode::Long64, &asm(64, |a| a.div(ecx)), |s| regs(s, &[(RAX, 0), (RDX, 2), (RCX, 2)]));
    assert_eq!(s.exception_vector(), Some(0));
    // IDIV most negative / -1, for each width.
    let cases: [(Vec<u8>, u64, u64); 4] = [
        (asm(64, |a| a.idiv(cl)), 0xff80, 0),               // AX = -128 / -1 = 128
        (asm(64, |a| a.idiv(cx)), 0x8000, 0xffff),          // DX:AX = -32768
        (asm(64, |a| a.idiv(ecx)), 0x8000_0000, 0xffff_ffff), // EDX:EAX = -2^31
        (asm(64, |a| a.idiv(rcx)), 0, 1 << 63),             // RDX:RAX = -2^127
    ];
    for (code, a_in, d_in) in cases {
        let s = run(SandboxMode::Long64, &code, |s| regs(s, &[(RAX, a_in), (RDX, d_in), (RCX, u64::MAX)]));
        assert_eq!(s.exception_vector(), Some(0), "rax={a_in:#x} rdx={d_in:#x}");
    }
    // IDIV by zero with a memory operand, in 32-bit mode.
    let code = asm(32, |a| a.idiv(dword_ptr(0x0020_0000)));
    assert_eq!(vector(SandboxMode::Protected32, &code, |_| {}), Some(0));
}

// ---------------------------------------------------------------- bit test / scan / count

#[test]
fn bt_family_with_register_and_immediate_offsets() {
    let code = asm(64, |a| {
        a.bt(eax, 33)?; // 33 mod 32 = bit 1 of 2: CF=1
        a.setc(r8b)?;
        a.bts(ebx, ecx)?; // ECX = 36: bit 4
        a.btr(dx, 15)?; // DX = 8001H -> 0001H, CF=1
        a.setc(r9b)?;
        a.btc(rsi, 63) // bit 63 toggled, CF = old bit = 0
    });
    let s = run64(&code, |s| regs(s, &[(RAX, 2), (RBX, 0), (RCX, 36), (RDX, 0x8001), (6, 1)]));
    assert_eq!(g(&s, 8) & 0xff, 1);
    assert_eq!(g(&s, RBX), 0x10);
    assert_eq!(g(&s, RDX) & 0xffff, 1);
    assert_eq!(g(&s, 9) & 0xff, 1);
    assert_eq!(g(&s, 6), (1 << 63) | 1);
    assert_eq!(st(&s, CF), 0);
}

#[test]
fn bt_memory_with_register_offset_reaches_beyond_the_operand() {
    let code = asm(64, |a| {
        a.mov(rbx, DATA_BASE + 0x100)?;
        a.bts(dword_ptr(rbx), ecx)?; // ECX = -1: dword at EA-4, bit 31
        a.bt(dword_ptr(rbx), edx)?; // EDX = 35: dword at EA+4, bit 3
        a.setc(r8b)?;
        a.btc(word_ptr(rbx), si)?; // SI = 17: word at EA+2, bit 1
        a.btr(qword_ptr(rbx), rdi) // RDI = -64: qword at EA-8, bit 0
    });
    let s = run64(&code, |s| {
        regs(s, &[(RCX, 0xffff_ffff), (RDX, 35), (6, 17), (7, (-64i64) as u64)]);
        poke(s, DATA_BASE + 0x104, 4, 0x8);
        poke(s, DATA_BASE + 0xf8, 4, 0xffff_ffff);
    });
    assert_eq!(s.read(DATA_BASE + 0xfc, 4), 0x8000_0000);
    assert_eq!(g(&s, 8) & 0xff, 1);
    assert_eq!(s.read(DATA_BASE + 0x102, 2), 0x2);
    assert_eq!(s.read(DATA_BASE + 0xf8, 4), 0xffff_fffe);
}

#[test]
fn bt_memory_with_immediate_offset_stays_in_the_operand() {
    let code = asm(64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.bts(dword_ptr(rbx), 35) // 35 mod 32 = bit 3 of the dword itself
    });
    let s = run64(&code, |_| {});
    assert_eq!(s.read(DATA_BASE, 4), 0x8);
    assert_eq!(s.read(DATA_BASE + 4, 4), 0);
}

#[test]
fn bt_leaves_zf_alone() {
    let s = run64(&asm(64, |a| a.bt(eax, 0)), |s| {
        regs(s, &[(RAX, 1)]);
        flags_in(s, ZF);
    });
    assert_eq!(st(&s, CF | ZF), CF | ZF);
}

#[test]
fn bsf_bsr() {
    let code = asm(64, |a| {
        a.bsf(eax, ecx)?; // 80H -> 7
        a.bsr(ebx, edx) // 80000001H -> 31
    });
    let s = run64(&code, |s| {
        regs(s, &[(RCX, 0x80), (RDX, 0x8000_0001)]);
        flags_in(s, ZF);
    });
    assert_eq!((g(&s, RAX), g(&s, RBX)), (7, 31));
    assert_eq!(st(&s, ZF), 0);
    // Zero source: ZF=1, destination unchanged.
    let s = run64(&asm(64, |a| a.bsf(ax, cx)), |s| regs(s, &[(RAX, 0x1234_5678), (RCX, 0)]));
    assert_eq!(g(&s, RAX), 0x1234_5678);
    assert_eq!(st(&s, ZF), ZF);
    let s = run64(&asm(64, |a| a.bsr(rax, rcx)), |s| regs(s, &[(RAX, 0xdead_beef_0000_0001), (RCX, 0)]));
    assert_eq!(g(&s, RAX), 0xdead_beef_0000_0001);
    assert_eq!(st(&s, ZF), ZF);
}

#[test]
fn popcnt_lzcnt_tzcnt() {
    let code = asm(64, |a| {
        a.popcnt(eax, ecx)?; // F0F0H -> 8
        a.lzcnt(bx, dx)?; // 0001H -> 15
        a.tzcnt(rsi, rdi) // 8 -> 3
    });
    let s = run64(&code, |s| {
        regs(s, &[(RCX, 0xf0f0), (RDX, 1), (7, 8)]);
        flags_in(s, CF | ZF | OF | SF | AF | PF);
    });
    assert_eq!((g(&s, RAX), g(&s, RBX) & 0xffff, g(&s, 6)), (8, 15, 3));
    assert_eq!(st(&s, CF | ZF), 0);
    // POPCNT of 0: ZF=1, all other status flags clear.
    let s = run64(&asm(64, |a| a.popcnt(rax, rcx)), |s| {
        regs(s, &[(RAX, 5), (RCX, 0)]);
        flags_in(s, STATUS);
    });
    assert_eq!((g(&s, RAX), st(&s, STATUS)), (0, ZF));
    // LZCNT/TZCNT of 0: the operand width, CF=1, ZF=0.
    for (code, want) in [
        (asm(64, |a| a.lzcnt(eax, ecx)), 32),
        (asm(64, |a| a.tzcnt(rax, rcx)), 64),
        (asm(64, |a| a.tzcnt(ax, cx)), 16),
    ] {
        let s = run64(&code, |s| regs(s, &[(RCX, 0)]));
        assert_eq!(g(&s, RAX), want);
        assert_eq!(st(&s, CF | ZF), CF);
    }
    // LZCNT of 80000000H = 0: ZF=1, CF=0.
    let s = run64(&asm(64, |a| a.lzcnt(eax, ecx)), |s| regs(s, &[(RAX, 9), (RCX, 0x8000_0000)]));
    assert_eq!((g(&s, RAX), st(&s, CF | ZF)), (0, ZF));
}

// ---------------------------------------------------------------- BMI1, BMI2, ADX

#[test]
fn pdep_pext() {
    let code = asm(64, |a| {
        a.pdep(eax, ebx, ecx)?; // deposit 101b at the set bits of F0F0H: bits 4 and 6 -> 50H
        a.pext(edx, esi, edi)?; // gather 12345678H under FF00FF00H -> 1256H
        a.pext(r8, r9, r10) // gather ABCDH under 0F0FH -> BDH
    });
    let s = run64(&code, |s| {
        regs(s, &[(RBX, 5), (RCX, 0xf0f0), (6, 0x1234_5678), (7, 0xff00_ff00), (9, 0xabcd), (10, 0x0f0f)]);
        flags_in(s, CF | ZF);
    });
    assert_eq!(g(&s, RAX), 0x50);
    assert_eq!(g(&s, RDX), 0x1256);
    assert_eq!(g(&s, 8), 0xbd);
    assert_eq!(st(&s, STATUS), CF | ZF, "BMI2 changes no flags");
    // PDEP with an all-ones 64-bit mask is the identity; PEXT with a zero mask is 0.
    let s = run64(&asm(64, |a| {
        a.pdep(rax, rbx, rcx)?;
        a.pext(rdx, rbx, rsi)
    }), |s| regs(s, &[(RBX, 0x8123_4567_89ab_cdef), (RCX, u64::MAX), (RDX, 7), (6, 0)]));
    assert_eq!((g(&s, RAX), g(&s, RDX)), (0x8123_4567_89ab_cdef, 0));
}

#[test]
fn andn_bextr_bzhi() {
    let s = run64(&asm(64, |a| a.andn(eax, ebx, ecx)), |s| {
        regs(s, &[(RBX, 0xf0f0_f0f0), (RCX, 0xffff_0000)]);
        flags_in(s, CF | OF);
    });
    assert_eq!(g(&s, RAX), 0x0f0f_0000);
    assert_eq!(st(&s, CF | OF | ZF | SF), 0);
    // BEXTR: start 8, length 12 of 12345678H -> 456H; start >= 32 -> 0 with ZF=1.
    let s = run64(&asm(64, |a| a.bextr(eax, ebx, ecx)), |s| regs(s, &[(RBX, 0x1234_5678), (RCX, 0x0c08)]));
    assert_eq!((g(&s, RAX), st(&s, ZF | CF | OF)), (0x456, 0));
    let s = run64(&asm(64, |a| a.bextr(rax, rbx, rcx)), |s| regs(s, &[(RAX, 1), (RBX, u64::MAX), (RCX, 0x1040)]));
    assert_eq!((g(&s, RAX), st(&s, ZF)), (0, ZF));
    // BEXTR with length > remaining bits: 64-bit, start 60, length 255 -> top nibble.
    let s = run64(&asm(64, |a| a.bextr(rax, rbx, rcx)), |s| regs(s, &[(RBX, 0xa000_0000_0000_0000), (RCX, 0xff3c)]));
    assert_eq!(g(&s, RAX), 0xa);
    // BZHI: index 8 -> FFH, CF=0; index 40 on 32 bits -> unchanged, CF=1.
    let s = run64(&asm(64, |a| a.bzhi(eax, ebx, ecx)), |s| regs(s, &[(RBX, 0xffff_ffff), (RCX, 8)]));
    assert_eq!((g(&s, RAX), st(&s, CF | SF | ZF)), (0xff, 0));
    let s = run64(&asm(64, |a| a.bzhi(eax, ebx, ecx)), |s| regs(s, &[(RBX, 0xffff_ffff), (RCX, 0x128)]));
    assert_eq!((g(&s, RAX), st(&s, CF | SF | ZF)), (0xffff_ffff, CF | SF));
}

#[test]
fn blsi_blsmsk_blsr() {
    for (src, blsi, blsmsk, blsr) in [(0b101_1000u64, 0b1000u64, 0b1111u64, 0b101_0000u64), (0, 0, 0xffff_ffff, 0)] {
        let code = asm(64, |a| {
            a.blsi(eax, edx)?;
            a.pushfq()?;
            a.blsmsk(ebx, edx)?;
            a.pushfq()?;
            a.blsr(ecx, edx)
        });
        let s = run64(&code, |s| regs(s, &[(RDX, src)]));
        assert_eq!((g(&s, RAX), g(&s, RBX), g(&s, RCX)), (blsi, blsmsk, blsr));
        let top = g(&s, 4);
        let (f_blsi, f_blsmsk) = (s.read(top + 8, 8), s.read(top, 8));
        let zero = src == 0;
        // BLSI: CF = (src != 0); BLSMSK: CF = (src = 0), ZF = 0; BLSR: CF = (src = 0).
        assert_eq!(f_blsi & (CF | ZF | OF), if zero { ZF } else { CF });
        assert_eq!(f_blsmsk & (CF | ZF | OF), if zero { CF } else { 0 });
        assert_eq!(st(&s, CF | ZF | OF), if zero { CF | ZF } else { 0 });
    }
}

#[test]
fn mulx_rorx_shifts_x() {
    // MULX EAX, ECX, EBX: EDX * EBX = 80000000H * 4: high 2 into EAX, low 0 into ECX.
    let s = run64(&asm(64, |a| a.mulx(eax, ecx, ebx)), |s| {
        regs(s, &[(RDX, 0x8000_0000), (RBX, 4), (RCX, 9)]);
        flags_in(s, ZF);
    });
    assert_eq!((g(&s, RAX), g(&s, RCX)), (2, 0));
    assert_eq!(st(&s, STATUS), ZF);
    // MULX with both destinations the same register keeps the high half.
    let s = run64(&asm(64, |a| a.mulx(rax, rax, rbx)), |s| regs(s, &[(RDX, u64::MAX), (RBX, u64::MAX)]));
    assert_eq!(g(&s, RAX), u64::MAX - 1);
    let code = asm(64, |a| {
        a.rorx(eax, ebx, 4)?; // 12345678H -> 81234567H
        a.sarx(ecx, edx, esi)?; // 80000000H >> (36 mod 32 = 4) -> F8000000H
        a.shlx(rdi, rbx, rsi)?; // 12345678H << 36 (64-bit: count 36)
        a.shrx(r8, rdx, rsi) // 80000000H >> 36 = 0
    });
    let s = run64(&code, |s| {
        regs(s, &[(RBX, 0x1234_5678), (RDX, 0x8000_0000), (6, 36)]);
        flags_in(s, CF);
    });
    assert_eq!(g(&s, RAX), 0x8123_4567);
    assert_eq!(g(&s, RCX), 0xf800_0000);
    assert_eq!(g(&s, 7), 0x1234_5678u64 << 36);
    assert_eq!(g(&s, 8), 0);
    assert_eq!(st(&s, STATUS), CF);
}

#[test]
fn adcx_adox_use_one_flag_each() {
    let code = asm(64, |a| {
        a.adcx(eax, ecx)?; // FFFFFFFFH + 0 + CF(1) = 0, CF=1
        a.adox(rbx, rdx) // 1 + 2 + OF(0) = 3, OF=0
    });
    let s = run64(&code, |s| {
        regs(s, &[(RAX, 0xffff_ffff), (RCX, 0), (RBX, 1), (RDX, 2)]);
        flags_in(s, CF | SF);
    });
    assert_eq!((g(&s, RAX), g(&s, RBX)), (0, 3));
    assert_eq!(st(&s, STATUS), CF | SF, "ZF untouched by ADCX, SF untouched by both");
    let s = run64(&asm(64, |a| a.adox(rax, rcx)), |s| {
        regs(s, &[(RAX, u64::MAX), (RCX, 0)]);
        flags_in(s, OF);
    });
    assert_eq!((g(&s, RAX), st(&s, STATUS)), (0, OF));
}

#[test]
fn vex_gpr_instructions_ud_in_real_mode_only() {
    // C4 E2 60 F2 C1 = ANDN EAX, EBX, ECX (in 16-bit code as well).
    let code = [0xc4, 0xe2, 0x60, 0xf2, 0xc1, 0xf4];
    assert_eq!(vector(SandboxMode::Real, &code, |_| {}), Some(6));
    let s = run32(&code, |s| regs(s, &[(RBX, 0xf0), (RCX, 0xff)]));
    assert_eq!(g(&s, RAX), 0x0f);
    // VEX.L = 1 (C4 E2 64 F2 C1) is #UD.
    assert_eq!(vector(SandboxMode::Long64, &[0xc4, 0xe2, 0x64, 0xf2, 0xc1], |_| {}), Some(6));
}

// ---------------------------------------------------------------- decimal and legacy

#[test]
fn daa_sdm_example() {
    // SDM "DAA" example: ADD AL,BL with AL=79H, BL=35H gives AEH; DAA gives 14H with
    // SF=0 ZF=0 AF=1 PF=1 CF=1.
    let code = asm(32, |a| {
        a.add(al, bl)?;
        a.daa()
    });
    let s = run32(&code, |s| regs(s, &[(RAX, 0x79), (RBX, 0x35)]));
    assert_eq!(g(&s, RAX) & 0xff, 0x14);
    assert_eq!(st(&s, SF | ZF | AF | PF | CF), AF | PF | CF);
}

#[test]
fn das_sdm_example() {
    // SDM "DAS" example: SUB AL,BL with AL=35H, BL=47H gives EEH; DAS gives 88H with
    // SF=1 ZF=0 AF=1 PF=1 CF=1.
    let code = asm(32, |a| {
        a.sub(al, bl)?;
        a.das()
    });
    let s = run32(&code, |s| regs(s, &[(RAX, 0x35), (RBX, 0x47)]));
    assert_eq!(g(&s, RAX) & 0xff, 0x88);
    assert_eq!(st(&s, SF | ZF | AF | PF | CF), SF | AF | PF | CF);
}

#[test]
fn aaa_aas_aam_aad() {
    // 5 + 6 = 0BH; AAA: AX += 106H -> 0111H; AL &= 0FH -> AH=1, AL=1; CF=AF=1.
    let code = asm(32, |a| {
        a.add(al, 6)?;
        a.aaa()
    });
    let s = run32(&code, |s| regs(s, &[(RAX, 5)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x0101);
    assert_eq!(st(&s, CF | AF), CF | AF);
    // Unpacked 23 - 5: AX=0203H, SUB AL,5 -> FEH (AF=1); AAS -> AH=1, AL=8; CF=AF=1.
    let code = asm(32, |a| {
        a.sub(al, 5)?;
        a.aas()
    });
    let s = run32(&code, |s| regs(s, &[(RAX, 0x0203)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x0108);
    assert_eq!(st(&s, CF | AF), CF | AF);
    // AAA without adjustment clears CF and AF and masks AL.
    let s = run32(&asm(32, |a| a.aaa()), |s| {
        regs(s, &[(RAX, 0x0235)]);
        flags_in(s, CF);
    });
    assert_eq!((g(&s, RAX) & 0xffff, st(&s, CF | AF)), (0x0205, 0));
    // AAM: 63 -> AH=6, AL=3; AAD back: AL=63, AH=0. AAM 16 (D4 10): 3FH -> AH=3, AL=0FH.
    let s = run32(&asm(32, |a| a.aam(10)), |s| regs(s, &[(RAX, 63)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x0603);
    let s = run32(&asm(32, |a| a.aad(10)), |s| regs(s, &[(RAX, 0x0603)]));
    assert_eq!(g(&s, RAX) & 0xffff, 63);
    let s = run32(&[0xd4, 0x10, 0xf4], |s| regs(s, &[(RAX, 0x3f)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x030f);
    // AAM 0 (D4 00): #DE.
    assert_eq!(vector(SandboxMode::Protected32, &[0xd4, 0x00], |s| regs(s, &[(RAX, 5)])), Some(0));
}

#[test]
fn legacy_only_instructions_ud_in_64_bit_mode() {
    for code in [&[0x27u8][..], &[0x2f], &[0x37], &[0x3f], &[0xd4, 0x0a], &[0xd5, 0x0a], &[0xd6]] {
        assert_eq!(vector(SandboxMode::Long64, code, |_| {}), Some(6), "{code:02x?}");
    }
}

#[test]
fn bound_raises_br_outside_the_signed_range() {
    let code = asm(32, |a| a.bound(eax, qword_ptr(0x0020_0000)));
    let setup = |v: u64| {
        move |s: &mut Sandbox| {
            poke(s, DATA_BASE, 4, (-5i32) as u32 as u64);
            poke(s, DATA_BASE + 4, 4, 10);
            regs(s, &[(RAX, v)]);
        }
    };
    assert_eq!(vector(SandboxMode::Protected32, &code, setup(10)), None);
    assert_eq!(vector(SandboxMode::Protected32, &code, setup((-5i32) as u32 as u64)), None);
    assert_eq!(vector(SandboxMode::Protected32, &code, setup(11)), Some(5));
    assert_eq!(vector(SandboxMode::Protected32, &code, setup((-6i32) as u32 as u64)), Some(5));
    // 16-bit form in real mode: BOUND AX,[6000H] with words -1 .. 1: AX = 1 passes, 2 raises #BR.
    let code16 = asm(16, |a| a.bound(ax, dword_ptr(0x6000)));
    let setup16 = |v: u64| {
        move |s: &mut Sandbox| {
            poke(s, 0x6000, 2, 0xffff);
            poke(s, 0x6002, 2, 1);
            regs(s, &[(RAX, v)]);
        }
    };
    assert_eq!(vector(SandboxMode::Real, &code16, setup16(1)), None);
    let s = run(SandboxMode::Real, &code16, setup16(2));
    assert_eq!(s.exception_vector(), Some(5));
}

#[test]
fn arpl_and_salc() {
    // ARPL AX,CX: RPL 0 < RPL 3 -> AX = 000BH, ZF=1; then ARPL AX,DX (RPL 1 < 3): ZF=0.
    let code = asm(32, |a| {
        a.arpl(ax, cx)?;
        a.pushfd()?;
        a.arpl(ax, dx)
    });
    let s = run32(&code, |s| regs(s, &[(RAX, 0x0008), (RCX, 0x0003), (RDX, 0x0001)]));
    assert_eq!(g(&s, RAX) & 0xffff, 0x000b);
    assert_eq!(s.read(g(&s, 4), 4) & ZF, ZF);
    assert_eq!(st(&s, ZF), 0);
    // 63 C8 = ARPL AX,CX in real mode: #UD.
    assert_eq!(vector(SandboxMode::Real, &[0x63, 0xc8], |_| {}), Some(6));
    // D6 = SALC: AL = FFH with CF=1, 00H with CF=0; flags unchanged.
    let s = run32(&[0xd6, 0xf4], |s| flags_in(s, CF));
    assert_eq!((g(&s, RAX) & 0xff, st(&s, STATUS)), (0xff, CF));
    let s = run32(&[0xd6, 0xf4], |s| regs(s, &[(RAX, 0x1234)]));
    assert_eq!(g(&s, RAX), 0x1200);
}

// ---------------------------------------------------------------- XADD, CMPXCHG, LOCK

#[test]
fn xadd_memory_and_register() {
    let code = asm(64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.lock().xadd(dword_ptr(rbx), eax)?; // [m] = 5 + 3, EAX = 5
        a.xadd(ecx, ecx) // ECX = 2 * ECX
    });
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 4, 5);
        regs(s, &[(RAX, 3), (RCX, 0x8000_0000)]);
    });
    assert_eq!(s.read(DATA_BASE, 4), 8);
    assert_eq!(g(&s, RAX), 5);
    // 80000000H + 80000000H = 0: CF=1, ZF=1, OF=1.
    assert_eq!(g(&s, RCX), 0);
    assert_eq!(st(&s, CF | ZF | OF | SF), CF | ZF | OF);
}

#[test]
fn cmpxchg_success_and_failure() {
    let code = asm(64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.lock().cmpxchg(dword_ptr(rbx), ecx)
    });
    // Success: EAX = [m] = 5 -> [m] = ECX, ZF=1.
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 4, 5);
        regs(s, &[(RAX, 5), (RCX, 9)]);
    });
    assert_eq!((s.read(DATA_BASE, 4), g(&s, RAX), st(&s, ZF | CF)), (9, 5, ZF));
    // Failure: EAX = 4, [m] = 5 -> EAX = 5, [m] unchanged; flags of 4 - 5: CF=1, SF=1.
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 4, 5);
        regs(s, &[(RAX, 4), (RCX, 9)]);
    });
    assert_eq!((s.read(DATA_BASE, 4), g(&s, RAX), st(&s, ZF | CF | SF)), (5, 5, CF | SF));
    // Failure with a 32-bit register destination: the register is not written (its upper half
    // survives, as on silicon; the AMD host agrees), EAX gets the old value zero-extended.
    let s = run64(&asm(64, |a| a.cmpxchg(edx, ecx)), |s| regs(s, &[(RAX, 0xaaaa_0000_0000_0004), (RDX, 0xffff_ffff_0000_0005)]));
    assert_eq!((g(&s, RDX), g(&s, RAX)), (0xffff_ffff_0000_0005, 5));
    // Success with a 32-bit register destination: the accumulator is not written.
    let s = run64(&asm(64, |a| a.cmpxchg(edx, ecx)), |s| regs(s, &[(RAX, 0xaaaa_0000_0000_0005), (RDX, 5), (RCX, 9)]));
    assert_eq!((g(&s, RDX), g(&s, RAX)), (9, 0xaaaa_0000_0000_0005));
    // Byte form: AL = 7 = [m] -> [m] = CL.
    let s = run64(&asm(64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.cmpxchg(byte_ptr(rbx), cl)
    }), |s| {
        poke(s, DATA_BASE, 1, 7);
        regs(s, &[(RAX, 0x1107), (RCX, 0x42)]);
    });
    assert_eq!((s.read(DATA_BASE, 1), st(&s, ZF)), (0x42, ZF));
}

#[test]
fn cmpxchg8b_and_16b() {
    let code = asm(64, |a| {
        a.mov(rsi, DATA_BASE)?;
        a.lock().cmpxchg8b(qword_ptr(rsi))
    });
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 8, 0x1111_1111_2222_2222);
        regs(s, &[(RDX, 0x1111_1111), (RAX, 0x2222_2222), (RCX, 0x3333_3333), (RBX, 0x4444_4444)]);
    });
    assert_eq!((s.read(DATA_BASE, 8), st(&s, ZF)), (0x3333_3333_4444_4444, ZF));
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 8, 0x1111_1111_2222_2222);
        regs(s, &[(RDX, 0xdead_0000_0000_0000), (RAX, 0xdead_0000_0000_0000), (RCX, 3), (RBX, 4)]);
        flags_in(s, ZF);
    });
    assert_eq!(s.read(DATA_BASE, 8), 0x1111_1111_2222_2222);
    assert_eq!((g(&s, RDX), g(&s, RAX), st(&s, ZF)), (0x1111_1111, 0x2222_2222, 0));

    let code = asm(64, |a| {
        a.mov(rsi, DATA_BASE)?;
        a.lock().cmpxchg16b(xmmword_ptr(rsi))
    });
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 8, 1);
        poke(s, DATA_BASE + 8, 8, 2);
        regs(s, &[(RAX, 1), (RDX, 2), (RBX, 3), (RCX, 4)]);
    });
    assert_eq!((s.read(DATA_BASE, 8), s.read(DATA_BASE + 8, 8), st(&s, ZF)), (3, 4, ZF));
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 8, 1);
        poke(s, DATA_BASE + 8, 8, 2);
        regs(s, &[(RAX, 9), (RDX, 2), (RBX, 3), (RCX, 4)]);
    });
    assert_eq!((g(&s, RAX), g(&s, RDX), st(&s, ZF)), (1, 2, 0));
    assert_eq!(s.read(DATA_BASE, 8), 1);
    // Misaligned operand: #GP(0) before anything changes.
    let code = asm(64, |a| {
        a.mov(rsi, DATA_BASE + 8)?;
        a.cmpxchg16b(xmmword_ptr(rsi))
    });
    assert_eq!(vector(SandboxMode::Long64, &code, |s| regs(s, &[(RAX, 0), (RDX, 0)])), Some(13));
}

#[test]
fn lock_with_a_register_destination_is_ud() {
    // F0 01 C0 = LOCK ADD EAX,EAX; F0 0F C1 C0 = LOCK XADD EAX,EAX; F0 0F A3 03 = LOCK BT.
    for code in [&[0xf0u8, 0x01, 0xc0][..], &[0xf0, 0x0f, 0xc1, 0xc0], &[0xf0, 0x0f, 0xa3, 0x03]] {
        assert_eq!(vector(SandboxMode::Long64, code, |_| {}), Some(6), "{code:02x?}");
    }
    // LOCK BTS [RBX],EAX (F0 0F AB 03) is fine.
    let s = run64(&[0xf0, 0x0f, 0xab, 0x03, 0xf4], |s| regs(s, &[(RBX, DATA_BASE), (RAX, 9)]));
    assert_eq!(s.read(DATA_BASE, 4), 0x200);
}

#[test]
fn movbe_swaps_bytes() {
    let code = asm(64, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.movbe(eax, dword_ptr(rbx))?;
        a.movbe(word_ptr(rbx + 8), cx)?;
        a.movbe(rdx, qword_ptr(rbx + 16))
    });
    let s = run64(&code, |s| {
        poke(s, DATA_BASE, 4, 0x1234_5678);
        poke(s, DATA_BASE + 16, 8, 0x0102_0304_0506_0708);
        regs(s, &[(RCX, 0xaabb), (RAX, u64::MAX)]);
    });
    assert_eq!(g(&s, RAX), 0x7856_3412);
    assert_eq!(s.read(DATA_BASE + 8, 2), 0xbbaa);
    assert_eq!(g(&s, RDX), 0x0807_0605_0403_0201);
}

#[test]
fn cpuid_advertises_the_implemented_features() {
    use hvbench_cpu::cpuid::{cpuid, FEATURES};
    let l1 = cpuid(1, 0, 0, 39, &FEATURES);
    assert_ne!(l1[3] & (1 << 8), 0, "CX8");
    assert_ne!(l1[2] & (1 << 13), 0, "CX16");
    assert_ne!(l1[2] & (1 << 22), 0, "MOVBE");
    assert_ne!(l1[2] & (1 << 23), 0, "POPCNT");
    let l7 = cpuid(7, 0, 0, 39, &FEATURES);
    assert_ne!(l7[1] & (1 << 3), 0, "BMI1");
    assert_ne!(l7[1] & (1 << 8), 0, "BMI2");
    assert_ne!(l7[1] & (1 << 19), 0, "ADX");
    assert_ne!(cpuid(0x8000_0001, 0, 0, 39, &FEATURES)[2] & (1 << 5), 0, "LZCNT");
}
