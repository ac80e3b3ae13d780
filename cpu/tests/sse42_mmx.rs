//! SSE4.2 and MMX instruction tests: the SDM's rules for the string compares' outputs
//! (ECX, XMM0, flags), CRC32 of every source width, and the MMX/x87 interaction (aliasing,
//! TOP and tag word, EMMS, #UD/#NM/#MF). Bit-exact results against the host CPU are in
//! `differential.rs`; these pin the architectural rules with hand-worked values.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

const CF: u64 = 1;
const PF: u64 = 1 << 2;
const AF: u64 = 1 << 4;
const ZF: u64 = 1 << 6;
const SF: u64 = 1 << 7;
const OF: u64 = 1 << 11;

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE_BASE).unwrap()
}

fn sandbox(code: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, code);
    s.cpu.state.gpr[3] = DATA_BASE;
    s
}

fn ok(s: &Sandbox) {
    assert_eq!(s.exception_vector(), None, "unexpected exception");
    assert_eq!(s.cpu.state.activity, Activity::Halted);
}

fn text(s: &[u8]) -> u128 {
    s.iter().enumerate().fold(0, |r, (k, &b)| r | (b as u128) << (8 * k))
}

#[test]
fn pcmpistri_finds_the_first_match_and_sets_flags() {
    // Equal any (imm 0): the first of "aeiou" in "hello" is 'e' at index 1. Both strings
    // are NUL-terminated within 16 bytes: ZF=1 (xmm2 shorter) and SF=1 (xmm1 shorter);
    // CF=1 (a match); OF = IntRes2[0] = 0 ('h' is no vowel); AF=PF=0.
    let mut s = sandbox(&asm(|a| a.pcmpistri(xmm1, xmm2, 0x00)));
    s.cpu.state.xmm[1] = text(b"aeiou");
    s.cpu.state.xmm[2] = text(b"hello");
    s.cpu.state.gpr[1] = u64::MAX;
    s.cpu.state.rflags |= AF | PF | OF;
    s.run(10);
    ok(&s);
    assert_eq!(s.cpu.state.gpr[1], 1, "ECX = 1, RCX's upper half cleared");
    assert_eq!(s.cpu.state.rflags & (CF | ZF | SF | OF | AF | PF), CF | ZF | SF);
    // imm8[6]=1: the most significant match, 'o' at index 4.
    let mut s = sandbox(&asm(|a| a.pcmpistri(xmm1, xmm2, 0x40)));
    s.cpu.state.xmm[1] = text(b"aeiou");
    s.cpu.state.xmm[2] = text(b"hello");
    s.run(10);
    assert_eq!(s.cpu.state.gpr[1], 4);
    // No match: ECX = 16 (bytes), CF=0.
    let mut s = sandbox(&asm(|a| a.pcmpistri(xmm1, xmm2, 0x00)));
    s.cpu.state.xmm[1] = text(b"xyz");
    s.cpu.state.xmm[2] = text(b"hello");
    s.run(10);
    assert_eq!(s.cpu.state.gpr[1], 16);
    assert_eq!(s.cpu.state.rflags & CF, 0);
}

#[test]
fn pcmpestrm_lengths_saturate_and_mask_expands() {
    // Equal each on unsigned words (imm 0x09), lengths from EAX/EDX: -3 means 3; 100
    // saturates to 8. Elements 0..2 compare (equal), 3..7: xmm1 invalid, xmm2 valid -> false.
    let code = asm(|a| a.pcmpestrm(xmm1, xmm2, 0x49));
    let mut s = sandbox(&code);
    s.cpu.state.xmm[1] = 0x0003_0002_0001;
    s.cpu.state.xmm[2] = 0x0003_0002_0001;
    s.cpu.state.gpr[0] = (-3i64) as u64;
    s.cpu.state.gpr[2] = 100;
    s.run(10);
    ok(&s);
    // imm8[6]=1: IntRes2 expanded to word masks in XMM0.
    assert_eq!(s.cpu.state.xmm[0], 0xffff_ffff_ffff);
    // ZF: |EDX| >= 8 -> 0; SF: |EAX| < 8 -> 1; CF=1; OF = bit 0 = 1.
    assert_eq!(s.cpu.state.rflags & (CF | ZF | SF | OF), CF | SF | OF);
    // The REX.W form reads RAX/RDX: RDX = 2^32 + 1 saturates to 8 (the 32-bit form sees 1).
    let mut s = sandbox(&asm(|a| a.pcmpestrm64(xmm1, xmm2, 0x09)));
    s.cpu.state.xmm[1] = 0;
    s.cpu.state.xmm[2] = 0;
    s.cpu.state.gpr[0] = 8;
    s.cpu.state.gpr[2] = (1 << 32) | 1;
    s.run(10);
    assert_eq!(s.cpu.state.xmm[0], 0xff, "all eight word pairs equal: bit mask, zero-extended");
    assert_eq!(s.cpu.state.rflags & ZF, 0);
    let mut s = sandbox(&asm(|a| a.pcmpestrm(xmm1, xmm2, 0x09)));
    s.cpu.state.gpr[0] = 8;
    s.cpu.state.gpr[2] = (1 << 32) | 1;
    s.run(10);
    assert_eq!(s.cpu.state.xmm[0], 0x01, "EDX = 1: only element 0 valid in xmm2");
    assert_ne!(s.cpu.state.rflags & ZF, 0);
}

#[test]
fn pcmpistri_memory_operand_needs_no_alignment() {
    let mut s = sandbox(&asm(|a| a.pcmpistri(xmm1, xmmword_ptr(rbx + 3), 0x0c)));
    s.mem.write_bytes(PhysAddr(DATA_BASE + 3), b"find the needle\0");
    s.cpu.state.xmm[1] = text(b"needle");
    s.run(10);
    ok(&s);
    assert_eq!(s.cpu.state.gpr[1], 9, "equal ordered: \"needle\" starts at byte 9");
}

/// CRC32 accumulates the bit-reflected CRC-32C; with the conventional initial value
/// FFFFFFFFH and final inversion, "123456789" gives the catalogue check value E3069283H.
#[test]
fn crc32_of_every_source_width() {
    let code = asm(|a| {
        a.mov(eax, -1i32)?;
        a.crc32(eax, byte_ptr(rbx))?;
        a.crc32(eax, word_ptr(rbx + 1))?;
        a.crc32(eax, dword_ptr(rbx + 3))?;
        a.mov(cl, byte_ptr(rbx + 7))?;
        a.crc32(eax, cl)?;
        a.mov(dx, word_ptr(rbx + 8))?;
        a.crc32(eax, dl)?;
        a.not(eax)?;
        // The same through the 64-bit forms: r64, r/m64 then r64, r/m8.
        a.mov(r8, -1i64)?;
        a.mov(r9, 0xffff_ffff_0000_0000u64)?;
        a.or(r8, r9)?;
        a.crc32(r8, qword_ptr(rbx))?;
        a.crc32(r8, byte_ptr(rbx + 8))?;
        a.not(r8d)
    });
    let mut s = sandbox(&code);
    s.mem.write_bytes(PhysAddr(DATA_BASE), b"123456789");
    s.run(50);
    ok(&s);
    assert_eq!(s.cpu.state.gpr[0], 0xe306_9283);
    assert_eq!(s.cpu.state.gpr[8], 0xe306_9283, "the 64-bit forms use and write only 32 bits");
    // A 16-bit register source: CRC of the two bytes "12" equals two 8-bit steps.
    let mut s = sandbox(&asm(|a| {
        a.mov(eax, 0)?;
        a.mov(cx, 0x3231)?;
        a.crc32(eax, cx)?;
        a.mov(edx, 0)?;
        a.crc32(edx, cl)?;
        a.crc32(edx, ch)
    }));
    s.cpu.state.rflags |= CF | ZF;
    s.run(20);
    ok(&s);
    assert_eq!(s.cpu.state.gpr[0], s.cpu.state.gpr[2]);
    assert_eq!(s.cpu.state.rflags & (CF | ZF), CF | ZF, "CRC32 leaves the flags alone");
    // LOCK CRC32 is #UD: F0 F2 0F 38 F1 C1 = lock crc32 eax, ecx.
    let mut s = sandbox(&[0xf0, 0xf2, 0x0f, 0x38, 0xf1, 0xc1, 0xf4]);
    s.run(10);
    assert_eq!(s.exception_vector(), Some(6));
}

#[test]
fn mmx_registers_alias_the_x87_mantissas() {
    // MM3 is physical register 3; FXSAVE stores ST(i) = R[(TOP+i) mod 8]. After MOVQ MM3,
    // the exponent field reads all ones, TOP=0 and every tag is valid (SDM Vol. 1 9.5.1).
    let code = asm(|a| {
        a.movq(mm3, rax)?;
        a.fxsave(ptr(rbx))
    });
    let mut s = sandbox(&code);
    s.cpu.state.fpu.fsw = 5 << 11;
    s.cpu.state.fpu.ftw = 0;
    s.cpu.state.gpr[0] = 0x1122_3344_5566_7788;
    s.run(10);
    ok(&s);
    let rd = |s: &Sandbox, off: u64, n: u8| s.read(DATA_BASE + off, n);
    assert_eq!(rd(&s, 2, 2) >> 11 & 7, 0, "TOP = 0");
    assert_eq!(rd(&s, 4, 1), 0xff, "abridged tags all valid");
    assert_eq!(rd(&s, 32 + 16 * 3, 8), 0x1122_3344_5566_7788, "ST(3) = MM3 with TOP 0");
    assert_eq!(rd(&s, 32 + 16 * 3 + 8, 2), 0xffff);
    // EMMS empties the tags and leaves TOP 0.
    let mut s = sandbox(&asm(|a| a.emms()));
    s.cpu.state.fpu.fsw = 6 << 11;
    s.cpu.state.fpu.ftw = 0x5a;
    s.run(10);
    ok(&s);
    assert_eq!(s.cpu.state.fpu.ftw, 0);
    assert_eq!(s.cpu.state.fpu.fsw >> 11 & 7, 0);
}

#[test]
fn mmx_exceptions_in_sdm_order() {
    let code = asm(|a| a.paddb(mm0, qword_ptr(rbx)));
    let run = |cr0_set: u64, fsw: u16| {
        let mut s = sandbox(&code);
        s.cpu.state.cr0 |= cr0_set;
        s.cpu.state.fpu.fsw = fsw;
        s.cpu.state.fpu.fcw = 0x0340; // all x87 exceptions unmasked
        s.run(10);
        s
    };
    const EM: u64 = 1 << 2;
    const TS: u64 = 1 << 3;
    const ES_IE: u16 = 0x81; // FSW.ES with IE: an unmasked exception pending
    assert_eq!(run(EM | TS, ES_IE).exception_vector(), Some(6), "CR0.EM: #UD first");
    assert_eq!(run(TS, ES_IE).exception_vector(), Some(7), "CR0.TS: #NM next");
    let s = run(0, ES_IE);
    assert_eq!(s.exception_vector(), Some(16), "pending x87 exception: #MF");
    assert_eq!(s.cpu.state.fpu.ftw, 0, "the faulting MMX instruction changes no x87 state");
    ok(&run(0, 0));
    // EMMS follows the same rules.
    let mut s = sandbox(&asm(|a| a.emms()));
    s.cpu.state.cr0 |= EM;
    s.run(10);
    assert_eq!(s.exception_vector(), Some(6));
}

#[test]
fn mmx_forms_work_on_64_bits() {
    // PSHUFB mm: index bits 2:0 only (8 bytes); PALIGNR mm: (dest:src) >> 8*imm, 64 bits kept;
    // PADDQ mm and PMULUDQ mm: one 64-bit lane.
    let mut s = sandbox(&asm(|a| {
        a.pshufb(mm0, mm1)?;
        a.palignr(mm2, mm3, 3)?;
        a.paddq(mm4, mm5)?;
        a.pmuludq(mm6, mm7)
    }));
    let st = &mut s.cpu.state.fpu.st;
    st[0] = 0x8877_6655_4433_2211;
    st[1] = 0x0f80_0800_0102_0307; // byte 7 -> index 7; 0x80 -> 0; 0x08 -> index 0; 0x0f -> 7
    st[2] = 0x1111_1111_1111_1111;
    st[3] = 0x2222_2222_2222_2222;
    st[4] = u64::MAX as u128;
    st[5] = 2;
    st[6] = 0xdead_beef_ffff_ffff;
    st[7] = 0x1234_5678_ffff_ffff;
    s.run(20);
    ok(&s);
    let mm = |k: usize| s.cpu.state.fpu.st[k] as u64;
    assert_eq!(mm(0), 0x8800_1111_2233_4488);
    assert_eq!(mm(2), 0x1111_1122_2222_2222);
    assert_eq!(mm(4), 1);
    assert_eq!(mm(6), 0xffff_fffe_0000_0001);
}
