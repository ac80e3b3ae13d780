//! SSE/SSE2/SSSE3/SSE4.1 instruction tests in 64-bit mode. Expected values are worked out
//! from the SDM's operation sections and IEEE-754 arithmetic by hand (noted beside each).

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use iced_x86::code_asm::*;

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// Runs `code` with XMM0/XMM1 preset and MXCSR `mxcsr`.
fn run(code: &[u8], x0: u128, x1: u128, mxcsr: u32) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, code);
    s.cpu.state.xmm[0] = x0;
    s.cpu.state.xmm[1] = x1;
    s.cpu.state.mxcsr = mxcsr;
    s.cpu.state.gpr[3] = DATA_BASE;
    s.run(100);
    s
}

fn ok(s: &Sandbox) {
    assert_eq!(s.exception_vector(), None, "unexpected exception");
    assert_eq!(s.cpu.state.activity, Activity::Halted);
}

fn f32x4(v: [f32; 4]) -> u128 {
    v.iter().enumerate().fold(0, |r, (k, f)| r | (f.to_bits() as u128) << (32 * k))
}

const MX: u32 = 0x1f80;

#[test]
fn paddb_wraps_and_paddusb_saturates() {
    let s = run(&asm(|a| a.paddb(xmm0, xmm1)), 0xff_7f_01, 0x01_01_01, MX);
    ok(&s);
    assert_eq!(s.cpu.state.xmm[0], 0x00_80_02);
    let s = run(&asm(|a| a.paddusb(xmm0, xmm1)), 0xff_7f_01, 0x01_01_01, MX);
    assert_eq!(s.cpu.state.xmm[0], 0xff_80_02);
    // PADDSB: 0x7F + 1 saturates to 0x7F; 0xFF(-1) + 1 = 0.
    let s = run(&asm(|a| a.paddsb(xmm0, xmm1)), 0xff_7f_01, 0x01_01_01, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x00_7f_02);
}

#[test]
fn pmaddwd_pshufd_punpck_pack() {
    // words a = [1, 2, -3, 4], b = [5, 6, 7, 8]: dwords [1*5+2*6, -3*7+4*8] = [17, 11].
    let a = 0x0004_fffd_0002_0001u128;
    let b = 0x0008_0007_0006_0005u128;
    let s = run(&asm(|a| a.pmaddwd(xmm0, xmm1)), a, b, MX);
    assert_eq!(s.cpu.state.xmm[0], 11 << 32 | 17);
    // PSHUFD 0x1B reverses dwords.
    let s = run(&asm(|a| a.pshufd(xmm0, xmm1, 0x1b)), 0, 0x4444_4444_3333_3333_2222_2222_1111_1111, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x1111_1111_2222_2222_3333_3333_4444_4444);
    // PUNPCKLBW interleaves low bytes: dest bytes first.
    let s = run(&asm(|a| a.punpcklbw(xmm0, xmm1)), 0x0302_01, 0x0c0b_0a, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x0c03_0b02_0a01);
    // PACKSSWB: words 300 -> 127, -300 -> -128 (0x80), 5 -> 5.
    let s = run(&asm(|a| a.packsswb(xmm0, xmm1)), 0x0005_fed4_012c, 0, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x05_80_7f);
}

#[test]
fn shifts_and_byte_shifts() {
    let s = run(&asm(|a| a.psrlw(xmm0, 4)), 0x8000_1234, 0, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x0800_0123);
    let s = run(&asm(|a| a.psraw(xmm0, xmm1)), 0x8000_1234, 40, MX);
    assert_eq!(s.cpu.state.xmm[0], 0xffff_0000, "count above 15 fills with the sign");
    let s = run(&asm(|a| a.pslldq(xmm0, 2)), 0xabcd, 0, MX);
    assert_eq!(s.cpu.state.xmm[0], 0xabcd_0000);
}

#[test]
fn ssse3_and_sse41_integer() {
    // PSHUFB: index 0x80 zeroes, index 1 picks byte 1, index 0 (byte 2) picks byte 0.
    let s = run(&asm(|a| a.pshufb(xmm0, xmm1)), 0x44_33_22_11, 0x8080_8080_8080_8080_8080_8080_8000_8001, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x11_00_22);
    // PALIGNR 4: (dest:src) >> 32 bits.
    let s = run(&asm(|a| a.palignr(xmm0, xmm1, 4)), 0xaa, 0x1111_1111_2222_2222, MX);
    assert_eq!(s.cpu.state.xmm[0], 0xaa << 96 | 0x1111_1111);
    // PMOVSXBW: bytes [-1, 2] -> words [0xFFFF, 2].
    let s = run(&asm(|a| a.pmovsxbw(xmm0, xmm1)), 0, 0x02_ff, MX);
    assert_eq!(s.cpu.state.xmm[0], 0x0002_ffff);
    // PTEST: ZF when (a & b) == 0, CF when (!a & b) == 0.
    let s = run(&asm(|a| a.ptest(xmm0, xmm1)), 0xf0, 0x0f, MX);
    assert_eq!(s.cpu.state.rflags & 0x41, 0x40);
    // PHMINPOSUW: minimum 2 at index 3.
    let s = run(&asm(|a| a.phminposuw(xmm0, xmm1)), 0, 0xffff_ffff_ffff_0009_0002_0005_0007_0008, MX);
    assert_eq!(s.cpu.state.xmm[0], 3 << 16 | 2);
}

#[test]
fn divss_rounding_modes_and_precision_flag() {
    // 1/3 in binary32: 0x3EAAAAAB (nearest, up), 0x3EAAAAAA (down, toward zero).
    let one_third = |mx| run(&asm(|a| a.divss(xmm0, xmm1)), 1.0f32.to_bits() as u128, 3.0f32.to_bits() as u128, mx);
    for (rc, want) in [(0u32, 0x3eaa_aaab), (1, 0x3eaa_aaaa), (2, 0x3eaa_aaab), (3, 0x3eaa_aaaa)] {
        let s = one_third(MX | rc << 13);
        ok(&s);
        assert_eq!(s.cpu.state.xmm[0] as u32, want, "RC={rc}");
        assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x20, "PE only");
    }
    // -1/3 rounded down is larger in magnitude: 0xBEAAAAAB.
    let s = run(&asm(|a| a.divss(xmm0, xmm1)), (-1.0f32).to_bits() as u128, 3.0f32.to_bits() as u128, MX | 1 << 13);
    assert_eq!(s.cpu.state.xmm[0] as u32, 0xbeaa_aaab);
}

#[test]
fn divide_by_zero_masked_and_unmasked() {
    let code = asm(|a| a.divps(xmm0, xmm1));
    let s = run(&code, f32x4([1.0, -2.0, 0.0, 4.0]), f32x4([0.0, 0.0, 0.0, 2.0]), MX);
    ok(&s);
    assert_eq!(s.cpu.state.xmm[0], f32x4([f32::INFINITY, f32::NEG_INFINITY, 0.0, 2.0]) & !(0xffff_ffffu128 << 64) | 0xffc0_0000u128 << 64);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x05, "ZE and IE (0/0)");
    // ZM cleared: #XM, destination unchanged, ZE recorded.
    let s = run(&code, f32x4([1.0, 1.0, 1.0, 1.0]), f32x4([0.0, 1.0, 1.0, 1.0]), MX & !(1 << 9));
    assert_eq!(s.exception_vector(), Some(19));
    assert_eq!(s.cpu.state.xmm[0], f32x4([1.0, 1.0, 1.0, 1.0]));
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x04);
    // With CR4.OSXMMEXCPT=0 the same is #UD.
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.cr4 &= !(1 << 10);
    s.cpu.state.xmm[1] = 0;
    s.cpu.state.xmm[0] = f32x4([1.0; 4]);
    s.cpu.state.mxcsr = MX & !(1 << 9);
    s.run(10);
    assert_eq!(s.exception_vector(), Some(6));
}

#[test]
fn sqrt_of_negative_gives_default_nan() {
    let s = run(&asm(|a| a.sqrtsd(xmm0, xmm1)), 0x1234 << 64, (-4.0f64).to_bits() as u128, MX);
    ok(&s);
    assert_eq!(s.cpu.state.xmm[0], 0x1234 << 64 | 0xfff8_0000_0000_0000);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x01);
    let s = run(&asm(|a| a.sqrtsd(xmm0, xmm1)), 0, 2.25f64.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.xmm[0], 1.5f64.to_bits() as u128);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0);
}

#[test]
fn flush_to_zero_and_denormals_are_zero() {
    // 2^-100 * 2^-30 = 2^-130: a binary32 denormal (exact: 0x00080000), no flags.
    let (a, b) = ((2.0f32).powi(-100).to_bits() as u128, (2.0f32).powi(-30).to_bits() as u128);
    let s = run(&asm(|a| a.mulss(xmm0, xmm1)), a, b, MX);
    assert_eq!(s.cpu.state.xmm[0] as u32, 0x0008_0000);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0, "exact tiny result with UE masked: no UE");
    // FTZ: flushed to +0 with UE and PE.
    let s = run(&asm(|a| a.mulss(xmm0, xmm1)), a, b, MX | 1 << 15);
    assert_eq!(s.cpu.state.xmm[0] as u32, 0);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x30);
    // A denormal operand sets DE; with DAZ it is a zero and DE stays clear.
    let s = run(&asm(|a| a.addss(xmm0, xmm1)), 0x0008_0000, 1.0f32.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x22, "DE and PE");
    let s = run(&asm(|a| a.addss(xmm0, xmm1)), 0x0008_0000, 1.0f32.to_bits() as u128, MX | 1 << 6);
    assert_eq!(s.cpu.state.xmm[0] as u32, 1.0f32.to_bits());
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0);
}

#[test]
fn min_max_nan_and_zero_rules() {
    let nan = 0x7fc0_0001u128;
    // MAXSS with a NaN first operand returns the second operand and sets IE (QNaN too).
    let s = run(&asm(|a| a.maxss(xmm0, xmm1)), nan, 2.0f32.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.xmm[0] as u32, 2.0f32.to_bits());
    assert_eq!(s.cpu.state.mxcsr & 1, 1);
    // MINSS(+0, -0) returns the second operand, -0.
    let s = run(&asm(|a| a.minss(xmm0, xmm1)), 0, 0x8000_0000, MX);
    assert_eq!(s.cpu.state.xmm[0] as u32, 0x8000_0000);
    // ADDSS with a QNaN first operand returns it, no flags; an SNaN is quietened with IE.
    let s = run(&asm(|a| a.addss(xmm0, xmm1)), 0x7f80_0001, nan, MX);
    assert_eq!(s.cpu.state.xmm[0] as u32, 0x7fc0_0001);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 1);
}

#[test]
fn compares_and_comis_flags() {
    // CMPPS predicate 1 (LT): [1<2, 3<3 false, NaN unordered false, -1<0]
    let s = run(&asm(|a| a.cmpps(xmm0, xmm1, 1)), f32x4([1.0, 3.0, f32::NAN, -1.0]), f32x4([2.0, 3.0, 1.0, 0.0]), MX);
    assert_eq!(s.cpu.state.xmm[0], 0xffff_ffff_0000_0000_0000_0000_ffff_ffff);
    assert_eq!(s.cpu.state.mxcsr & 1, 1, "LT signals on QNaN");
    // UCOMISD: less -> CF=1; unordered -> ZF=PF=CF=1, no IE for a QNaN.
    let s = run(&asm(|a| a.ucomisd(xmm0, xmm1)), 1.0f64.to_bits() as u128, 2.0f64.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.rflags & 0x8d5, 0x01);
    let s = run(&asm(|a| a.ucomisd(xmm0, xmm1)), f64::NAN.to_bits() as u128, 2.0f64.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.rflags & 0x8d5, 0x45);
    assert_eq!(s.cpu.state.mxcsr & 1, 0);
    let s = run(&asm(|a| a.comisd(xmm0, xmm1)), f64::NAN.to_bits() as u128, 2.0f64.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.mxcsr & 1, 1, "COMISD signals on QNaN");
}

#[test]
fn conversions() {
    // CVTSD2SI: 2.5 -> 2 (ties to even), PE.
    let s = run(&asm(|a| a.cvtsd2si(eax, xmm0)), 2.5f64.to_bits() as u128, 0, MX);
    assert_eq!(s.cpu.state.gpr[0], 2);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x20);
    // CVTTSS2SI: 3e9 is out of range -> 0x80000000 and IE.
    let s = run(&asm(|a| a.cvttss2si(eax, xmm0)), 3.0e9f32.to_bits() as u128, 0, MX);
    assert_eq!(s.cpu.state.gpr[0], 0x8000_0000);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x01);
    // CVTTSD2SI r64: -7.9 -> -7.
    let s = run(&asm(|a| a.cvttsd2si(rax, xmm0)), (-7.9f64).to_bits() as u128, 0, MX);
    assert_eq!(s.cpu.state.gpr[0], -7i64 as u64);
    // CVTSI2SS: 16777217 rounds to 16777216 (nearest even), PE; upper elements kept.
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.cvtsi2ss(xmm0, eax)));
    s.cpu.state.gpr[0] = 16_777_217;
    s.cpu.state.xmm[0] = 0xdead << 32;
    s.run(10);
    assert_eq!(s.cpu.state.xmm[0], 0xdead << 32 | 16_777_216f32.to_bits() as u128);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x20);
    // CVTPD2PS: [1.0, 1e300] -> [1.0f, +inf with OE|PE], upper half zero.
    let s = run(&asm(|a| a.cvtpd2ps(xmm0, xmm1)), u128::MAX, (1e300f64.to_bits() as u128) << 64 | 1.0f64.to_bits() as u128, MX);
    assert_eq!(s.cpu.state.xmm[0], (0x7f80_0000u128 << 32) | 1.0f32.to_bits() as u128);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x28);
    // CVTDQ2PD: [-1, 3] -> [-1.0, 3.0].
    let s = run(&asm(|a| a.cvtdq2pd(xmm0, xmm1)), 0, 0x3_ffff_ffff, MX);
    assert_eq!(s.cpu.state.xmm[0], (3.0f64.to_bits() as u128) << 64 | (-1.0f64).to_bits() as u128);
}

#[test]
fn roundsd_and_haddps() {
    // ROUNDSD imm 1 (down): -1.5 -> -2.0, PE; imm 9 suppresses PE.
    let s = run(&asm(|a| a.roundsd(xmm0, xmm1, 1)), 0, (-1.5f64).to_bits() as u128, MX);
    assert_eq!(s.cpu.state.xmm[0], (-2.0f64).to_bits() as u128);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0x20);
    let s = run(&asm(|a| a.roundsd(xmm0, xmm1, 9)), 0, (-1.5f64).to_bits() as u128, MX);
    assert_eq!(s.cpu.state.mxcsr & 0x3f, 0);
    let s = run(&asm(|a| a.haddps(xmm0, xmm1)), f32x4([1.0, 2.0, 3.0, 4.0]), f32x4([5.0, 6.0, 7.0, 8.0]), MX);
    assert_eq!(s.cpu.state.xmm[0], f32x4([3.0, 7.0, 11.0, 15.0]));
}

#[test]
fn availability_and_alignment_faults() {
    let load = asm(|a| a.movaps(xmm0, xmmword_ptr(rbx + 8)));
    let s = run(&load, 0, 0, MX);
    assert_eq!(s.exception_vector(), Some(13), "MOVAPS misaligned: #GP(0)");
    let s = run(&asm(|a| a.movups(xmm0, xmmword_ptr(rbx + 8))), 0, 0, MX);
    ok(&s);
    let s = run(&asm(|a| a.paddd(xmm0, xmmword_ptr(rbx + 4))), 0, 0, MX);
    assert_eq!(s.exception_vector(), Some(13), "packed op m128 misaligned: #GP(0)");
    let s = run(&asm(|a| a.addss(xmm0, dword_ptr(rbx + 4))), 0, 0, MX);
    ok(&s);
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.pxor(xmm0, xmm0)));
    s.cpu.state.cr0 |= 1 << 3;
    s.run(10);
    assert_eq!(s.exception_vector(), Some(7), "CR0.TS: #NM");
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.pxor(xmm0, xmm0)));
    s.cpu.state.cr4 &= !(1 << 9);
    s.cpu.state.cr0 |= 1 << 3;
    s.run(10);
    assert_eq!(s.exception_vector(), Some(6), "CR4.OSFXSR=0: #UD before #NM");
}

#[test]
fn ldmxcsr_and_stmxcsr() {
    let code = asm(|a| {
        a.ldmxcsr(dword_ptr(rbx))?;
        a.stmxcsr(dword_ptr(rbx + 4))
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.gpr[3] = DATA_BASE;
    s.mem.write_le(hvbench_mmu::PhysAddr(DATA_BASE), 4, 0x7f80);
    s.run(10);
    ok(&s);
    assert_eq!(s.read(DATA_BASE + 4, 4), 0x7f80);
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.gpr[3] = DATA_BASE;
    s.mem.write_le(hvbench_mmu::PhysAddr(DATA_BASE), 4, 0x1_1f80);
    s.run(10);
    assert_eq!(s.exception_vector(), Some(13), "reserved MXCSR bit: #GP(0)");
}

#[test]
fn fxsave_fxrstor_round_trip_and_mxcsr_check() {
    let code = asm(|a| {
        a.fxsave64(zmmword_ptr(rbx))?;
        a.pxor(xmm5, xmm5)?;
        a.fxrstor64(zmmword_ptr(rbx))
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.gpr[3] = DATA_BASE;
    s.cpu.state.xmm[5] = 0x1122_3344_5566_7788_99aa_bbcc_ddee_ff00;
    s.cpu.state.mxcsr = 0x1f80 | 0x20;
    s.run(10);
    ok(&s);
    assert_eq!(s.cpu.state.xmm[5], 0x1122_3344_5566_7788_99aa_bbcc_ddee_ff00);
    assert_eq!(s.read(DATA_BASE, 2), 0x40, "FCW at offset 0 (reset value)");
    assert_eq!(s.read(DATA_BASE + 24, 4), 0x1fa0, "MXCSR at 24");
    assert_eq!(s.read(DATA_BASE + 28, 4), 0xffff, "MXCSR_MASK at 28");
    assert_eq!(s.read(DATA_BASE + 160 + 5 * 16, 8), 0x99aa_bbcc_ddee_ff00, "XMM5 at 240");
    // Misaligned: #GP(0).
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.fxsave64(zmmword_ptr(rbx + 8))));
    s.cpu.state.gpr[3] = DATA_BASE;
    s.run(10);
    assert_eq!(s.exception_vector(), Some(13));
    // FXRSTOR with a reserved MXCSR bit: #GP(0).
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.fxrstor64(zmmword_ptr(rbx))));
    s.cpu.state.gpr[3] = DATA_BASE;
    s.mem.write_le(hvbench_mmu::PhysAddr(DATA_BASE + 24), 4, 0x8000_1f80);
    s.run(10);
    assert_eq!(s.exception_vector(), Some(13));
}

#[test]
fn xsave_xgetbv_xsetbv_and_cpuid_osxsave() {
    // Without CR4.OSXSAVE: XGETBV is #UD and CPUID.1:ECX.OSXSAVE is clear.
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.xgetbv()));
    s.run(10);
    assert_eq!(s.exception_vector(), Some(6));
    let code = asm(|a| {
        a.mov(rax, cr4)?;
        a.or(eax, 1 << 18)?;
        a.mov(cr4, rax)?;
        a.mov(eax, 1)?;
        a.cpuid()?;
        a.mov(r8d, ecx)?;
        a.xor(ecx, ecx)?;
        a.mov(eax, 3)?;
        a.xor(edx, edx)?;
        a.xsetbv()?;
        a.xgetbv()?;
        a.mov(r9d, eax)?;
        a.mov(eax, 3)?;
        a.xor(edx, edx)?;
        a.mov(rbx, DATA_BASE)?;
        a.xsave64(zmmword_ptr(rbx))?;
        a.mov(eax, 0xd)?;
        a.xor(ecx, ecx)?;
        a.cpuid()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.xmm[2] = 0xabcdef;
    s.run(100);
    ok(&s);
    assert_ne!(s.cpu.state.gpr[8] & (1 << 27), 0, "OSXSAVE mirrors CR4");
    assert_ne!(s.cpu.state.gpr[8] & (1 << 26), 0, "XSAVE");
    assert_eq!(s.cpu.state.gpr[9], 3, "XCR0 = x87|SSE");
    assert_eq!(s.read(DATA_BASE + 512, 8), 3, "XSTATE_BV");
    assert_eq!(s.read(DATA_BASE + 160 + 32, 8), 0xabcdef);
    assert_eq!(s.cpu.state.gpr[0], 3, "CPUID.0xD.0:EAX");
    assert_eq!(s.cpu.state.gpr[1], 576, "CPUID.0xD.0:ECX");
    // XSETBV with XCR0.x87=0 or an unsupported bit: #GP(0).
    for v in [2u64, 7] {
        let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.xsetbv()));
        s.cpu.state.cr4 |= 1 << 18;
        s.cpu.state.gpr[0] = v;
        s.run(10);
        assert_eq!(s.exception_vector(), Some(13), "XCR0={v}");
    }
}

#[test]
fn mmx_form_sets_x87_tags() {
    let mut s = Sandbox::new(SandboxMode::Long64, &asm(|a| a.paddw(mm0, mm1)));
    s.cpu.state.fpu.st[0] = 0x0001_0002;
    s.cpu.state.fpu.st[1] = 0x0003_0004;
    s.run(10);
    ok(&s);
    assert_eq!(s.cpu.state.fpu.st[0], 0xffff << 64 | 0x0004_0006);
    assert_eq!(s.cpu.state.fpu.ftw, 0xff);
}
