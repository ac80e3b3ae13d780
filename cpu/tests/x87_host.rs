//! x87 tests against the host CPU (an x86-64 running this test; the reference machine is an
//! AMD Zen 4): the same instruction sequence runs on the host through inline assembly and in
//! hvbench's Long64 sandbox, and the FNSAVE images (SDM Vol. 1 8.1.10, Figure 8-10: the
//! 32-bit protected-mode layout, 108 bytes) must agree byte for byte, except FIP, FOP, the
//! FPU CS selector, FDP and the FPU DS selector (bytes 12..28), which hvbench does not track
//! (see `exec/x87.rs`). The images carry FCW, FSW (TOP, condition codes, flags), the full
//! tag word (valid/zero/special/empty, computed from the registers) and all eight registers.

#![cfg(target_arch = "x86_64")]

use core::arch::asm;
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

type Image = [u8; 108];

/// The bytes compared: all but the instruction/data pointers, opcode and selectors, and the
/// contents of empty registers (FNINIT and pops leave stale values there on the host).
fn differs(h: &Image, e: &Image) -> Option<String> {
    let tags = u16::from_le_bytes([h[8], h[9]]);
    let top = (u16::from_le_bytes([h[4], h[5]]) >> 11) & 7;
    let empty = |k: usize| k >= 28 && (tags >> (2 * ((top as usize + (k - 28) / 10) & 7))) & 3 == 3;
    let bad: Vec<usize> = (0..108).filter(|&k| !(12..28).contains(&k) && !empty(k) && h[k] != e[k]).collect();
    (!bad.is_empty()).then(|| format!("bytes {bad:?}\n  host    {h:02x?}\n  hvbench {e:02x?}"))
}

/// Runs `body` in the sandbox after placing `data` at DATA_BASE (RBX); returns the 108
/// bytes at DATA_BASE + 0x100.
fn emu(body: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>, data: &[u8]) -> Image {
    let mut a = CodeAssembler::new(64).unwrap();
    body(&mut a).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE_BASE).unwrap();
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.gpr[3] = DATA_BASE;
    s.mem.write_bytes(PhysAddr(DATA_BASE), data);
    s.run(100);
    assert_eq!(s.exception_vector(), None);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    let mut out = [0u8; 108];
    s.mem.read_bytes(PhysAddr(DATA_BASE + 0x100), &mut out);
    out
}

/// splitmix64.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// An 80-bit value of a random class: normal (often near 1.0 or near another value's
    /// exponent), zero, denormal, pseudo-denormal, infinity, QNaN, SNaN, unnormal, integer.
    fn f80(&mut self) -> u128 {
        let sign = ((self.next() & 1) as u128) << 79;
        let m = self.next() | 1 << 63;
        let e: u128 = match self.next() % 16 {
            0 => 0x3fff + (self.next() % 3) as u128,
            1 => 0x3fff - (self.next() % 3) as u128,
            2 => 0x3fff + (self.next() % 140) as u128,
            3 => 0x3fff - (self.next() % 140) as u128,
            4 => return sign,
            5 => return sign | (self.next() >> 1) as u128,
            6 => return sign | (m as u128),
            7 => return sign | 0x7fff << 64 | 1 << 63,
            8 => return sign | 0x7fff << 64 | 3 << 62 | (self.next() >> 2) as u128,
            9 => return sign | 0x7fff << 64 | 1 << 63 | (self.next() >> 3 | 1) as u128,
            10 => return sign | 0x4005 << 64 | (self.next() >> 1) as u128,
            11 => {
                // A small integer.
                let v = self.next() % 64;
                if v == 0 {
                    return sign;
                }
                let lz = v.leading_zeros();
                return sign | ((0x3fff + 63 - lz) as u128) << 64 | ((v << lz) as u128);
            }
            _ => 1 + self.next() as u128 % 0x7ffe,
        };
        sign | e << 64 | m as u128
    }
}

macro_rules! host_op {
    ($name:ident, $($insn:literal),+) => {
        /// Runs `fninit; fldcw cw; fld b; fld a; <op>; fnsave out` on the host.
        fn $name(cw: u16, a: u128, b: u128) -> Image {
            let (a, b) = (a.to_le_bytes(), b.to_le_bytes());
            let mut out = [0u8; 108];
            // SAFETY: x87 instructions on the caller's buffers only; FNSAVE leaves the FPU
            // initialised (as the Rust ABI expects it) and all exceptions are masked in `cw`.
            unsafe {
                asm!(
                    "fninit",
                    "fldcw word ptr [{cw}]",
                    "fld tbyte ptr [{b}]",
                    "fld tbyte ptr [{a}]",
                    $($insn,)+
                    "fnsave [{out}]",
                    cw = in(reg) &cw,
                    a = in(reg) a.as_ptr(),
                    b = in(reg) b.as_ptr(),
                    out = in(reg) out.as_mut_ptr(),
                );
            }
            out
        }
    };
}

host_op!(h_fsqrt, "fsqrt");
host_op!(h_frndint, "frndint");
host_op!(h_fscale, "fscale");
host_op!(h_fxtract, "fxtract");
host_op!(h_fxam, "fxam");
host_op!(h_ftst, "ftst");
host_op!(h_fprem, "fprem");
host_op!(h_fprem1, "fprem1");
host_op!(h_fadd, "fadd st, st(1)");
host_op!(h_fsub, "fsub st, st(1)");
host_op!(h_fmul, "fmul st, st(1)");
host_op!(h_fdiv, "fdiv st, st(1)");
host_op!(h_fcom, "fcom st(1)");
host_op!(h_fucompp, "fucompp");
host_op!(h_fchs_fabs, "fchs", "fabs");
host_op!(h_fxch, "fxch st(1)");
host_op!(h_fcmov, "fcmovb st, st(1)", "fcmovnbe st, st(1)");

type EmuOp = fn(&mut CodeAssembler) -> Result<(), IcedError>;
type HostOp = fn(u16, u128, u128) -> Image;

const OPS: &[(&str, HostOp, EmuOp)] = &[
    ("fsqrt", h_fsqrt, |a| a.fsqrt()),
    ("frndint", h_frndint, |a| a.frndint()),
    ("fscale", h_fscale, |a| a.fscale()),
    ("fxtract", h_fxtract, |a| a.fxtract()),
    ("fxam", h_fxam, |a| a.fxam()),
    ("ftst", h_ftst, |a| a.ftst()),
    ("fprem", h_fprem, |a| a.fprem()),
    ("fprem1", h_fprem1, |a| a.fprem1()),
    ("fadd", h_fadd, |a| a.fadd_2(st0, st1)),
    ("fsub", h_fsub, |a| a.fsub_2(st0, st1)),
    ("fmul", h_fmul, |a| a.fmul_2(st0, st1)),
    ("fdiv", h_fdiv, |a| a.fdiv_2(st0, st1)),
    ("fcom", h_fcom, |a| a.fcom_2(st0, st1)),
    ("fucompp", h_fucompp, |a| a.fucompp()),
    ("fchs; fabs", h_fchs_fabs, |a| {
        a.fchs()?;
        a.fabs()
    }),
    ("fxch", h_fxch, |a| a.fxch(st0, st1)),
    ("fcmovb; fcmovnbe", h_fcmov, |a| {
        a.fcmovb(st0, st1)?;
        a.fcmovnbe(st0, st1)
    }),
];

/// Random operands of every class, random rounding and precision control, all exceptions
/// masked: the FNSAVE image after each operation must match the host's.
#[test]
fn x87_operations_match_the_host() {
    let mut rng = Rng(0x8708_7087);
    let mut failures = Vec::new();
    let (mut cases, mut bad) = (0, 0);
    for round in 0..600 {
        for &(name, host, op) in OPS {
            let (a, b) = (rng.f80(), rng.f80());
            // Sometimes operands of nearby exponents (FPREM's complete reductions).
            let b = if round % 3 == 0 { (b & !(0x7fffu128 << 64)) | (a & (0x7fffu128 << 64)) } else { b };
            let cw = 0x037f & !0xf00 | ((rng.next() % 4) as u16) << 10 | [0, 2, 3][(rng.next() % 3) as usize] << 8;
            let h = host(cw, a, b);
            let mut data = vec![0u8; 64];
            data[..16].copy_from_slice(&a.to_le_bytes());
            data[16..32].copy_from_slice(&b.to_le_bytes());
            data[32..34].copy_from_slice(&cw.to_le_bytes());
            let e = emu(
                |c| {
                    c.fninit()?;
                    c.fldcw(word_ptr(rbx + 32))?;
                    c.fld(tword_ptr(rbx + 16))?;
                    c.fld(tword_ptr(rbx))?;
                    op(c)?;
                    c.fnsave(ptr(rbx + 0x100))
                },
                &data,
            );
            cases += 1;
            if let Some(d) = differs(&h, &e) {
                bad += 1;
                if failures.len() < 12 {
                    failures.push(format!("{name} a={a:#022x} b={b:#022x} cw={cw:#06x}: {d}"));
                }
            }
        }
    }
    assert_eq!(bad, 0, "{bad} of {cases} cases differ (first 12):\n{}", failures.join("\n"));
}

/// FLDPI, FLDL2E, FLDL2T, FLDLG2, FLDLN2, FLD1, FLDZ under each rounding control.
#[test]
fn constants_round_like_the_host() {
    for rc in 0..4u16 {
        let cw = 0x037f | rc << 10;
        let mut h = [0u8; 108];
        // SAFETY: x87 loads of constants and an FNSAVE into `h`; FNSAVE reinitialises the FPU.
        unsafe {
            asm!(
                "fninit", "fldcw word ptr [{cw}]", "fldpi", "fldl2e", "fldl2t", "fldlg2", "fldln2", "fld1", "fldz",
                "fnsave [{out}]", cw = in(reg) &cw, out = in(reg) h.as_mut_ptr(),
            );
        }
        let e = emu(
            |c| {
                c.fninit()?;
                c.fldcw(word_ptr(rbx))?;
                c.fldpi()?;
                c.fldl2e()?;
                c.fldl2t()?;
                c.fldlg2()?;
                c.fldln2()?;
                c.fld1()?;
                c.fldz()?;
                c.fnsave(ptr(rbx + 0x100))
            },
            &cw.to_le_bytes(),
        );
        assert_eq!(differs(&h, &e), None, "RC={rc}");
    }
}

/// An FRSTOR of a crafted image (TOP=3, registers of every class, some tagged empty, flags
/// and condition codes set) then FNSAVE, FNSTENV and FLDENV: the tag word is recomputed from
/// the registers, the image layout matches, FNSAVE reinitialises, FNSTENV masks exceptions.
#[test]
fn frstor_fnsave_fnstenv_fldenv_match_the_host() {
    let mut rng = Rng(0x5a5a);
    for round in 0..200 {
        let mut img = [0u8; 108];
        let fcw: u16 = 0x0360 | (rng.next() as u16 & 0x0c1f);
        let fsw: u16 = (rng.next() as u16 & 0x473f) | ((round % 8) as u16) << 11;
        let fsw = if fsw & 0x3f & !fcw != 0 { fsw | 0x8080 } else { fsw };
        let ftw: u16 = rng.next() as u16;
        img[0..2].copy_from_slice(&fcw.to_le_bytes());
        img[4..6].copy_from_slice(&fsw.to_le_bytes());
        img[8..10].copy_from_slice(&ftw.to_le_bytes());
        for k in 0..8 {
            img[28 + 10 * k..38 + 10 * k].copy_from_slice(&rng.f80().to_le_bytes()[..10]);
        }
        let mut h = [0u8; 108 + 28 + 4];
        // SAFETY: FRSTOR from `img`, then stores into `h`; FNSAVE ends with the FPU initialised,
        // and the FLDENV of the stored environment is followed by FNINIT.
        unsafe {
            asm!(
                "frstor [{img}]",
                "fnstenv [{out} + 108]",
                "fnstcw [{out} + 136]",
                "fldenv [{out} + 108]",
                "fnsave [{out}]",
                img = in(reg) img.as_ptr(),
                out = in(reg) h.as_mut_ptr(),
            );
        }
        let mut data = vec![0u8; 0x200];
        data[..108].copy_from_slice(&img);
        let mut s = Sandbox::new(
            SandboxMode::Long64,
            &{
                let mut a = CodeAssembler::new(64).unwrap();
                a.frstor(ptr(rbx)).unwrap();
                a.fnstenv(ptr(rbx + 0x100 + 108)).unwrap();
                a.fnstcw(word_ptr(rbx + 0x100 + 136)).unwrap();
                a.fldenv(ptr(rbx + 0x100 + 108)).unwrap();
                a.fnsave(ptr(rbx + 0x100)).unwrap();
                a.hlt().unwrap();
                a.assemble(CODE_BASE).unwrap()
            },
        );
        s.cpu.state.gpr[3] = DATA_BASE;
        s.mem.write_bytes(PhysAddr(DATA_BASE), &data);
        s.run(20);
        assert_eq!(s.exception_vector(), None);
        let mut e = [0u8; 140];
        s.mem.read_bytes(PhysAddr(DATA_BASE + 0x100), &mut e);
        let (he, ee): (Image, Image) = (h[..108].try_into().unwrap(), e[..108].try_into().unwrap());
        assert_eq!(differs(&he, &ee), None, "FNSAVE after FRSTOR+FLDENV, round {round}");
        let env = |v: &[u8]| [&v[108..120], &v[136..138]].concat();
        assert_eq!(env(&h), env(&e), "FNSTENV's FCW/FSW/FTW and FCW after it, round {round}");
    }
}

/// The 16-bit protected-mode formats (operand-size prefix): FRSTOR m94 and FNSAVE m94,
/// FNSTENV m14 (SDM Figure 8-11 and the 16-bit environment of 8.1.10).
#[test]
fn sixteen_bit_formats_match_the_host() {
    let mut rng = Rng(0x1616);
    for _ in 0..50 {
        let mut img = [0u8; 94];
        img[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        img[2..4].copy_from_slice(&((rng.next() as u16 & 0x4700) | 0x2800).to_le_bytes());
        img[4..6].copy_from_slice(&(rng.next() as u16).to_le_bytes());
        for k in 0..8 {
            img[14 + 10 * k..24 + 10 * k].copy_from_slice(&rng.f80().to_le_bytes()[..10]);
        }
        let mut h = [0u8; 94 + 14];
        // SAFETY: 66 DD /4 = FRSTOR m94 from [rax]; 66 D9 /6 = FNSTENV m14 to [rcx+94];
        // 66 DD /6 = FNSAVE m94 to [rcx], which reinitialises the FPU.
        unsafe {
            asm!(
                ".byte 0x66, 0xdd, 0x20",
                ".byte 0x66, 0xd9, 0x71, 94",
                ".byte 0x66, 0xdd, 0x31",
                in("rax") img.as_ptr(),
                in("rcx") h.as_mut_ptr(),
            );
        }
        let code = [0x66, 0xdd, 0x23, 0x66, 0xd9, 0xb3, 0x5e, 0x01, 0x00, 0x00, 0x66, 0xdd, 0xb3, 0x00, 0x01, 0x00, 0x00, 0xf4];
        // frstor m94 [rbx]; fnstenv m14 [rbx+15Eh]; fnsave m94 [rbx+100h]; hlt
        let mut s = Sandbox::new(SandboxMode::Long64, &code);
        s.cpu.state.gpr[3] = DATA_BASE;
        s.mem.write_bytes(PhysAddr(DATA_BASE), &img);
        s.run(20);
        assert_eq!(s.exception_vector(), None);
        let mut e = [0u8; 108];
        s.mem.read_bytes(PhysAddr(DATA_BASE + 0x100), &mut e);
        // Compare all but the 16-bit FIP, FCS, FDP, FDS words (bytes 6..14) of each image.
        let keep = |v: &[u8]| [&v[0..6], &v[14..94], &v[94..100]].concat();
        let (kh, ke) = (keep(&h), keep(&e));
        let bad: Vec<usize> = (0..kh.len()).filter(|&k| kh[k] != ke[k]).collect();
        assert!(bad.is_empty(), "16-bit images differ at {bad:?} (of the compared bytes)\n  host    {h:02x?}\n  hvbench {e:02x?}");
    }
}
