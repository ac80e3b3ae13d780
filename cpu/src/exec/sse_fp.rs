//! SSE/SSE2/SSE3/SSE4.1 floating-point arithmetic (SDM Vol. 1 10.4.2, 11.4.1, 11.5 "SSE,
//! SSE2, and SSE3 Exceptions"; Vol. 2 pages ADDPS ... XORPD, CMPPS, COMISS, UCOMISS, MINPS,
//! MAXPS, RCPPS, RSQRTPS, ADDSUBPS, HADDPS, HSUBPS, ROUNDPS, DPPS and their PD/SS/SD forms).
//!
//! Results come from [`super::softfloat`] under MXCSR's rounding control, DAZ and FTZ.
//! Exceptions follow SDM Vol. 1 11.5.2: flags of all elements are gathered; if a
//! pre-computation exception (IE, DE, ZE) is unmasked, only those flags are set and the
//! instruction faults; otherwise all flags are set and any unmasked one faults. A fault is
//! #XM with CR4.OSXMMEXCPT=1 and #UD otherwise, and the destination is left unchanged.
//!
//! RCPPS/RSQRTPS: hvbench returns the exact reciprocal (square root reciprocal), rounded to
//! nearest, then rounded to 11 fraction bits (relative error below 2^-12, inside the SDM's
//! bound of 1.5 * 2^-12). Intel's table-driven results differ in the last bits, so tests
//! compare these with a tolerance. Denormal inputs count as zero and tiny results are
//! flushed to zero, as the SDM pages say; no MXCSR flags change.

use super::simd::{lane, set_lane};
use super::softfloat::{self as sf, flag, Env, Fmt, Rc, F32, F64};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{AF, CF, OF, PF, SF, ZF};
use crate::regs::cr4;
use core::cmp::Ordering;
use iced_x86::{Instruction, Mnemonic};

/// MXCSR.DAZ.
const DAZ: u32 = 1 << 6;
/// MXCSR.UM.
const UM: u32 = 1 << 11;
/// MXCSR.FZ.
const FZ: u32 = 1 << 15;

/// An element operation: (env, format, dest element, source element, imm8) -> (value, flags).
type ElemOp = fn(&Env, Fmt, u128, u128, u8) -> (u128, u32);

impl Exec<'_> {
    /// The softfloat environment MXCSR describes for elements of `f`.
    pub(crate) fn sse_env(&self, f: Fmt) -> Env {
        let m = self.cpu.state.mxcsr;
        Env { rc: Rc::from_bits(m >> 13), prec: f.prec(), daz: m & DAZ != 0, ftz: m & FZ != 0, ue_masked: m & UM != 0, x87: false }
    }

    /// Records SIMD floating-point exception flags and raises #XM/#UD for unmasked ones
    /// (SDM Vol. 1 11.5.2; Vol. 3A 6.15 "Interrupt 19").
    pub(crate) fn sse_commit(&mut self, flags: u32) -> Result<()> {
        let flags = flags & 0x3f;
        let masks = (self.cpu.state.mxcsr >> 7) & 0x3f;
        let pre = flags & (flag::IE | flag::DE | flag::ZE);
        let raise = if pre & !masks != 0 {
            self.cpu.state.mxcsr |= pre;
            true
        } else {
            self.cpu.state.mxcsr |= flags;
            flags & !masks != 0
        };
        if raise {
            let e = if self.cpu.state.cr4 & cr4::OSXMMEXCPT != 0 { Exception::xm() } else { Exception::ud() };
            return Err(e.into());
        }
        Ok(())
    }
}

/// Element width of a format.
pub(super) const fn bits(f: Fmt) -> u32 {
    if f.exp_bits == 8 { 32 } else { 64 }
}

/// `dst[k] = op(dst[k], src[k])` for all elements (`packed`) or element 0.
fn fp(x: &mut Exec<'_>, i: &Instruction, f: Fmt, packed: bool, op: ElemOp) -> Result<()> {
    x.sse_available()?;
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let imm = if i.op_count() > 2 { i.immediate8() } else { 0 };
    let env = x.sse_env(f);
    let w = bits(f);
    let n = if packed { 128 / w } else { 1 };
    let (mut r, mut flags) = (a, 0);
    for k in 0..n {
        let (v, fl) = op(&env, f, lane(a, w, k) as u128, lane(b, w, k) as u128, imm);
        r = set_lane(r, w, k, v as u64);
        flags |= fl;
    }
    x.sse_commit(flags)?;
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

fn add(e: &Env, f: Fmt, a: u128, b: u128, _: u8) -> (u128, u32) {
    sf::add(f, e, a, b, false)
}
fn sub(e: &Env, f: Fmt, a: u128, b: u128, _: u8) -> (u128, u32) {
    sf::add(f, e, a, b, true)
}
fn mul(e: &Env, f: Fmt, a: u128, b: u128, _: u8) -> (u128, u32) {
    sf::mul(f, e, a, b)
}
fn div(e: &Env, f: Fmt, a: u128, b: u128, _: u8) -> (u128, u32) {
    sf::div(f, e, a, b)
}
fn sqrt(e: &Env, f: Fmt, _: u128, b: u128, _: u8) -> (u128, u32) {
    sf::sqrt(f, e, b)
}

/// A denormal made zero under DAZ.
fn daz(e: &Env, f: Fmt, v: u128) -> u128 {
    if e.daz && f.class(v) == sf::Class::Denormal { f.zero(f.neg(v)) } else { v }
}

/// MIN/MAX: the second operand when either is a NaN (IE even for QNaN) or both are zeros
/// or equal (SDM MINPS/MAXPS "Operation").
fn minmax(e: &Env, f: Fmt, a: u128, b: u128, max: bool) -> (u128, u32) {
    let (o, flags) = sf::compare(f, e, a, b, true);
    let want = if max { Ordering::Greater } else { Ordering::Less };
    (if o == Some(want) { daz(e, f, a) } else { daz(e, f, b) }, flags)
}
fn min(e: &Env, f: Fmt, a: u128, b: u128, _: u8) -> (u128, u32) {
    minmax(e, f, a, b, false)
}
fn max(e: &Env, f: Fmt, a: u128, b: u128, _: u8) -> (u128, u32) {
    minmax(e, f, a, b, true)
}

/// CMPPS/CMPPD/CMPSS/CMPSD predicates 0-7 (SDM Table 3-7 of CMPPS): LT, LE, NLT, NLE
/// signal IE on QNaNs too.
fn cmp(e: &Env, f: Fmt, a: u128, b: u128, imm: u8) -> (u128, u32) {
    let p = imm & 7;
    let (o, flags) = sf::compare(f, e, a, b, matches!(p, 1 | 2 | 5 | 6));
    let r = match p {
        0 => o == Some(Ordering::Equal),
        1 => o == Some(Ordering::Less),
        2 => matches!(o, Some(Ordering::Less | Ordering::Equal)),
        3 => o.is_none(),
        4 => o != Some(Ordering::Equal),
        5 => o != Some(Ordering::Less),
        6 => !matches!(o, Some(Ordering::Less | Ordering::Equal)),
        _ => o.is_some(),
    };
    (if r { (1u128 << bits(f)) - 1 } else { 0 }, flags)
}

/// RCPxS / RSQRTxS approximations (see the module doc).
fn approx(_: &Env, f: Fmt, _: u128, b: u128, imm: u8) -> (u128, u32) {
    let rsqrt = imm == 1;
    let v = b as u32;
    let neg = v >> 31 != 0;
    let r = match f.class(b) {
        sf::Class::QNaN | sf::Class::SNaN => v | 0x0040_0000,
        sf::Class::Zero | sf::Class::Denormal => (v & 0x8000_0000) | 0x7f80_0000,
        _ if rsqrt && neg => 0xffc0_0000,
        sf::Class::Inf => v & 0x8000_0000,
        _ => {
            let x = f32::from_bits(v) as f64;
            let exact = if rsqrt { 1.0 / x.sqrt() } else { 1.0 / x };
            let y = (exact as f32).to_bits();
            let y = y.wrapping_add(0x400) & !0x7ff;
            if y & 0x7f80_0000 == 0 { y & 0x8000_0000 } else { y }
        }
    };
    (r as u128, 0)
}

/// ROUNDPS/PD/SS/SD: imm[1:0] rounding, imm[2] use MXCSR.RC, imm[3] suppress PE.
fn round(e: &Env, f: Fmt, _: u128, b: u128, imm: u8) -> (u128, u32) {
    let rc = if imm & 4 != 0 { e.rc } else { Rc::from_bits(imm as u32) };
    let b = daz(e, f, b);
    match f.class(b) {
        sf::Class::SNaN => return (f.quiet(b), flag::IE),
        sf::Class::QNaN | sf::Class::Inf | sf::Class::Zero => return (b, 0),
        _ => {}
    }
    let (neg, ex, s) = f.unpack(b);
    if ex >= 0 {
        return (b, 0);
    }
    let re = Env { rc, ..*e };
    let (m, inexact) = {
        // Round to an integer: the value with all bits below 2^0 rounded off.
        let (v, fl) = sf::to_int(f, &Env { daz: false, ..re }, b, 64, false);
        if fl & flag::IE != 0 || s == 0 { (0, false) } else { (v.unsigned_abs(), fl & flag::PE != 0) }
    };
    let v = if m == 0 { f.zero(neg) } else { sf::round_pack(f, &re, neg, 0, m as u128).0 };
    (v, if inexact && imm & 8 == 0 { flag::PE } else { 0 })
}

/// ADDSUBPS/PD: subtract in even elements, add in odd ones.
fn addsub(x: &mut Exec<'_>, i: &Instruction, f: Fmt) -> Result<()> {
    x.sse_available()?;
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let env = x.sse_env(f);
    let w = bits(f);
    let (mut r, mut flags) = (0, 0);
    for k in 0..128 / w {
        let (v, fl) = sf::add(f, &env, lane(a, w, k) as u128, lane(b, w, k) as u128, k % 2 == 0);
        r = set_lane(r, w, k, v as u64);
        flags |= fl;
    }
    x.sse_commit(flags)?;
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

/// HADDPS/PD, HSUBPS/PD: pairs of the destination, then pairs of the source.
fn horizontal(x: &mut Exec<'_>, i: &Instruction, f: Fmt, subtract: bool) -> Result<()> {
    x.sse_available()?;
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let env = x.sse_env(f);
    let w = bits(f);
    let half = 64 / w;
    let (mut r, mut flags) = (0, 0);
    for k in 0..128 / w {
        let (src, j) = if k < half { (a, 2 * k) } else { (b, 2 * (k - half)) };
        let (v, fl) = sf::add(f, &env, lane(src, w, j) as u128, lane(src, w, j + 1) as u128, subtract);
        r = set_lane(r, w, k, v as u64);
        flags |= fl;
    }
    x.sse_commit(flags)?;
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

/// DPPS/DPPD: masked products summed pairwise, each step rounded (SDM DPPS "Operation").
fn dp(x: &mut Exec<'_>, i: &Instruction, f: Fmt) -> Result<()> {
    x.sse_available()?;
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let imm = i.immediate8() as u32;
    let env = x.sse_env(f);
    let w = bits(f);
    let n = 128 / w;
    let mut flags = 0;
    let mut p = [0u128; 4];
    for k in 0..n {
        if imm & (1 << (4 + k)) != 0 {
            let (v, fl) = sf::mul(f, &env, lane(a, w, k) as u128, lane(b, w, k) as u128);
            p[k as usize] = v;
            flags |= fl;
        }
    }
    let mut sum = |u: u128, v: u128| {
        let (r, fl) = sf::add(f, &env, u, v, false);
        flags |= fl;
        r
    };
    let total = if n == 4 {
        let lo = sum(p[0], p[1]);
        let hi = sum(p[2], p[3]);
        sum(lo, hi)
    } else {
        sum(p[0], p[1])
    };
    let mut r = 0;
    for k in 0..n {
        if imm & (1 << k) != 0 {
            r = set_lane(r, w, k, total as u64);
        }
    }
    x.sse_commit(flags)?;
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

/// COMISS/COMISD (IE on any NaN) and UCOMISS/UCOMISD (IE on SNaN): ZF, PF, CF from the
/// comparison, OF, SF, AF cleared.
fn comis(x: &mut Exec<'_>, i: &Instruction, f: Fmt, signalling: bool) -> Result<()> {
    x.sse_available()?;
    let w = bits(f);
    let b = lane(x.vread(i, 1)?, w, 0) as u128;
    let a = lane(x.vreg(i.op0_register()), w, 0) as u128;
    let env = x.sse_env(f);
    let (o, flags) = sf::compare(f, &env, a, b, signalling);
    x.sse_commit(flags)?;
    let v = match o {
        None => ZF | PF | CF,
        Some(Ordering::Greater) => 0,
        Some(Ordering::Less) => CF,
        Some(Ordering::Equal) => ZF,
    };
    x.set_flags(ZF | PF | CF | OF | SF | AF, v);
    Ok(())
}

macro_rules! fp4 {
    ($i:expr, $( $ps:ident $pd:ident $ss:ident $sd:ident => $op:expr ),* $(,)?) => {
        match $i.mnemonic() {
            $(
                Mnemonic::$ps => |x, i| fp(x, i, F32, true, $op),
                Mnemonic::$pd => |x, i| fp(x, i, F64, true, $op),
                Mnemonic::$ss => |x, i| fp(x, i, F32, false, $op),
                Mnemonic::$sd => |x, i| fp(x, i, F64, false, $op),
            )*
            _ => return None,
        }
    };
}

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    let xmm = |i: &Instruction| i.op_count() >= 2 && i.op0_kind() == iced_x86::OpKind::Register && i.op0_register().is_xmm();
    Some(match i.mnemonic() {
        M::Comiss => |x, i| comis(x, i, F32, true),
        M::Comisd => |x, i| comis(x, i, F64, true),
        M::Ucomiss => |x, i| comis(x, i, F32, false),
        M::Ucomisd => |x, i| comis(x, i, F64, false),
        M::Rcpps => |x, i| fp(x, i, F32, true, |e, f, a, b, _| approx(e, f, a, b, 0)),
        M::Rcpss => |x, i| fp(x, i, F32, false, |e, f, a, b, _| approx(e, f, a, b, 0)),
        M::Rsqrtps => |x, i| fp(x, i, F32, true, |e, f, a, b, _| approx(e, f, a, b, 1)),
        M::Rsqrtss => |x, i| fp(x, i, F32, false, |e, f, a, b, _| approx(e, f, a, b, 1)),
        M::Addsubps => |x, i| addsub(x, i, F32),
        M::Addsubpd => |x, i| addsub(x, i, F64),
        M::Haddps => |x, i| horizontal(x, i, F32, false),
        M::Haddpd => |x, i| horizontal(x, i, F64, false),
        M::Hsubps => |x, i| horizontal(x, i, F32, true),
        M::Hsubpd => |x, i| horizontal(x, i, F64, true),
        M::Dpps => |x, i| dp(x, i, F32),
        M::Dppd => |x, i| dp(x, i, F64),
        // CMPSD and MOVSD share mnemonics with the string instructions: XMM forms only.
        M::Cmpsd | M::Cmpss | M::Cmpps | M::Cmppd if !xmm(i) => return None,
        _ => fp4!(i,
            Addps Addpd Addss Addsd => add,
            Subps Subpd Subss Subsd => sub,
            Mulps Mulpd Mulss Mulsd => mul,
            Divps Divpd Divss Divsd => div,
            Sqrtps Sqrtpd Sqrtss Sqrtsd => sqrt,
            Minps Minpd Minss Minsd => min,
            Maxps Maxpd Maxss Maxsd => max,
            Cmpps Cmppd Cmpss Cmpsd => cmp,
            Roundps Roundpd Roundss Roundsd => round,
        ),
    })
}
