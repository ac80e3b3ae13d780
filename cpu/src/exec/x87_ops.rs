//! More x87 instructions (SDM Vol. 1 8.3 "x87 FPU Instruction Set"; Vol. 2 pages FLDL2E ...
//! FLDPI, FSQRT, FRNDINT, FSCALE, FXTRACT, FXAM, FTST, FPREM, FPREM1, FICOM/FICOMP (in
//! `x87.rs`' compare), FCMOVcc).
//!
//! Constants (8.3.8) are the 66-bit internal values rounded to 64 bits per FCW.RC; they set
//! no precision flag. FPREM/FPREM1 compute the exact remainder; when the exponents differ by
//! 64 or more they reduce partially (C2=1) with N = 32 + (difference mod 32), the choice
//! the SDM leaves to the implementation, and clear C0, C1, C3 then (as the reference host).
//! Not implemented (they raise #UD, reported once): FSIN, FCOS, FSINCOS, FPTAN, FPATAN,
//! F2XM1, FYL2X, FYL2XP1 (no bit-exact model of Intel's transcendental algorithms), FBLD,
//! FBSTP.

use super::softfloat::{self as sf, flag, Class, Env, Rc, F80};
use super::x87::{sti, waiting, C0, C1, C2, C3};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use iced_x86::{ConditionCode, Instruction, Mnemonic};

/// A constant: biased exponent, the significand truncated to 64 bits, and whether the
/// 66-bit internal value rounds up to nearest.
type Constant = (u16, u64, bool);
/// π = 4000 C90FDAA2 2168C234 C...
const PI: Constant = (0x4000, 0xc90f_daa2_2168_c234, true);
/// log2(e) = 3FFF B8AA3B29 5C17F0BB B...
const L2E: Constant = (0x3fff, 0xb8aa_3b29_5c17_f0bb, true);
/// log2(10) = 4000 D49A784B CD1B8AFE 4...
const L2T: Constant = (0x4000, 0xd49a_784b_cd1b_8afe, false);
/// log10(2) = 3FFD 9A209A84 FBCFF798 8...
const LG2: Constant = (0x3ffd, 0x9a20_9a84_fbcf_f798, true);
/// ln(2) = 3FFE B17217F7 D1CF79AB C...
const LN2: Constant = (0x3ffe, 0xb172_17f7_d1cf_79ab, true);

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    Some(match i.mnemonic() {
        M::Fldpi => |x, _| constant(x, PI),
        M::Fldl2e => |x, _| constant(x, L2E),
        M::Fldl2t => |x, _| constant(x, L2T),
        M::Fldlg2 => |x, _| constant(x, LG2),
        M::Fldln2 => |x, _| constant(x, LN2),
        M::Fsqrt => |x, _| unary(x, |e, v| sf::sqrt(F80, e, v)),
        M::Frndint => |x, _| unary(x, |e, v| sf::round_int(F80, &Env { prec: 64, ..*e }, v)),
        M::Fscale => fscale,
        M::Fxtract => fxtract,
        M::Fxam => fxam,
        M::Ftst => ftst,
        M::Fprem => |x, _| fprem(x, false),
        M::Fprem1 => |x, _| fprem(x, true),
        M::Fcmovb => |x, i| fcmov(x, i, ConditionCode::b),
        M::Fcmove => |x, i| fcmov(x, i, ConditionCode::e),
        M::Fcmovbe => |x, i| fcmov(x, i, ConditionCode::be),
        M::Fcmovu => |x, i| fcmov(x, i, ConditionCode::p),
        M::Fcmovnb => |x, i| fcmov(x, i, ConditionCode::ae),
        M::Fcmovne => |x, i| fcmov(x, i, ConditionCode::ne),
        M::Fcmovnbe => |x, i| fcmov(x, i, ConditionCode::a),
        M::Fcmovnu => |x, i| fcmov(x, i, ConditionCode::np),
        _ => return None,
    })
}

/// A pseudo-denormal (exponent 0, integer bit 1) written back with exponent 1, the same
/// value's canonical encoding, as the reference host does when an operand passes through.
fn canonical(v: u128) -> u128 {
    if (v >> 64) & 0x7fff == 0 && v & (1 << 63) != 0 { v | 1 << 64 } else { v }
}

/// Sets C3, C2, C1, C0 to `c` (the other status bits kept).
fn set_cc(x: &mut Exec<'_>, c: u16) {
    let f = &mut x.cpu.state.fpu;
    f.fsw = (f.fsw & !(C3 | C2 | C1 | C0)) | c;
}

/// FLDPI, FLDL2E, FLDL2T, FLDLG2, FLDLN2: the constant rounded per RC, pushed.
fn constant(x: &mut Exec<'_>, (exp, sig, nearest_up): Constant) -> Result<()> {
    waiting(x)?;
    let up = match Rc::from_bits(x.cpu.state.fpu.fcw as u32 >> 10) {
        Rc::Nearest => nearest_up,
        Rc::Up => true,
        Rc::Down | Rc::Zero => false,
    };
    x.cpu.state.fpu.fsw &= !C1;
    x.fpush((exp as u128) << 64 | sig.wrapping_add(up as u64) as u128);
    Ok(())
}

/// ST(0) = op(ST(0)) for FSQRT and FRNDINT; C1 cleared; unmasked IE/DE leave ST(0) alone.
fn unary(x: &mut Exec<'_>, op: fn(&Env, u128) -> (u128, u32)) -> Result<()> {
    waiting(x)?;
    let Some(v) = x.st(0) else {
        if x.stack_fault(false) {
            x.set_st(0, F80.default_nan());
        }
        return Ok(());
    };
    let (r, fl) = op(&x.x87_env(None), v);
    x.cpu.state.fpu.fsw &= !C1;
    if x.x87_flags(fl) {
        x.set_st(0, r);
    }
    Ok(())
}

/// ST(0) and ST(1), or a stack underflow (whose masked response writes a NaN to ST(0)).
fn two(x: &mut Exec<'_>) -> Option<(u128, u128)> {
    match (x.st(0), x.st(1)) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => {
            if x.stack_fault(false) {
                x.set_st(0, F80.default_nan());
            }
            None
        }
    }
}

/// FSCALE: ST(0) * 2^trunc(ST(1)) (SDM FSCALE Table 3-x for the special operands).
fn fscale(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    waiting(x)?;
    let Some((a, b)) = two(x) else { return Ok(()) };
    let env = Env { prec: 64, ..x.x87_env(None) };
    let (r, fl) = match sf::classify2(F80, &env, a, b) {
        Err(nan) => nan,
        Ok((ca, cb, fl)) => {
            let (na, nb) = (F80.neg(a), F80.neg(b));
            match (ca, cb) {
                (Class::Inf, Class::Inf) if nb => (F80.default_nan(), flag::IE),
                (Class::Zero, Class::Inf) if !nb => (F80.default_nan(), flag::IE),
                (Class::Zero | Class::Inf, _) => (a, fl),
                (_, Class::Inf) => (if nb { F80.zero(na) } else { F80.inf(na) }, fl),
                (_, Class::Zero) => (canonical(a), fl),
                _ => {
                    let (n, _) = sf::to_int(F80, &Env { rc: Rc::Zero, ..env }, b, 64, true);
                    // |ST(1)| >= 2^63 comes back as the indefinite integer: scale far enough.
                    let n = if n == i64::MIN && !nb { i64::MAX } else { n };
                    let (r, f2) = sf::scale(F80, &env, a, n);
                    (r, fl | f2)
                }
            }
        }
    };
    x.cpu.state.fpu.fsw &= !C1;
    if x.x87_flags(fl) {
        x.set_st(0, r);
    }
    Ok(())
}

/// FXTRACT: ST(0) becomes its exponent (unbiased, as a value) and the significand is pushed.
fn fxtract(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    waiting(x)?;
    let Some(v) = x.st(0) else {
        if x.stack_fault(false) {
            x.set_st(0, F80.default_nan());
            x.fpush(F80.default_nan());
        }
        return Ok(());
    };
    if x.st(7).is_some() {
        // The push would overflow: IE and SF with C1=1; masked, both become NaN.
        if x.stack_fault(true) {
            x.set_st(0, F80.default_nan());
            x.fpush(F80.default_nan());
        }
        return Ok(());
    }
    let neg = F80.neg(v);
    let (exp, sig, fl) = match F80.class(v) {
        Class::QNaN => (v, v, 0),
        Class::SNaN | Class::Unsupported => {
            let n = if F80.class(v) == Class::SNaN { F80.quiet(v) } else { F80.default_nan() };
            (n, n, flag::IE)
        }
        Class::Zero => (F80.inf(true), v, flag::ZE),
        Class::Inf => (F80.inf(false), v, 0),
        c => {
            let (_, e, s) = F80.unpack(v);
            let lz = s.leading_zeros() as i64 - 64;
            let true_exp = e + 63 - lz;
            let sig = F80.zero(neg) | 0x3fff << 64 | (s << lz);
            let (ev, _) = sf::from_int(F80, &Env { prec: 64, ..x.x87_env(None) }, true_exp);
            (ev, sig, if c == Class::Denormal { flag::DE } else { 0 })
        }
    };
    x.cpu.state.fpu.fsw &= !C1;
    if x.x87_flags(fl) {
        x.set_st(0, exp);
        x.fpush(sig);
    }
    Ok(())
}

/// FXAM: C1 = sign; C3, C2, C0 = class (unsupported 000, NaN 001, normal 010, infinity
/// 011, zero 100, empty 101, denormal 110). C1 is the register's sign even when empty.
fn fxam(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    waiting(x)?;
    let p = x.phys(0);
    let v = x.cpu.state.fpu.st[p];
    let class = if x.st(0).is_none() {
        C3 | C0
    } else {
        match F80.class(v) {
            Class::Unsupported => 0,
            Class::QNaN | Class::SNaN => C0,
            Class::Normal => C2,
            Class::Inf => C2 | C0,
            Class::Zero => C3,
            Class::Denormal => C3 | C2,
        }
    };
    set_cc(x, class | if F80.neg(v) { C1 } else { 0 });
    Ok(())
}

/// FTST: compares ST(0) with +0.0 (C3, C2, C0 as FCOM; IE for any NaN).
fn ftst(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    waiting(x)?;
    let Some(v) = x.st(0) else {
        if x.stack_fault(false) {
            set_cc(x, C3 | C2 | C0);
        }
        return Ok(());
    };
    let (ord, fl) = sf::compare(F80, &x.x87_env(None), v, 0, true);
    if !x.x87_flags(fl) {
        return Ok(());
    }
    let c = match ord {
        None => C3 | C2 | C0,
        Some(core::cmp::Ordering::Less) => C0,
        Some(core::cmp::Ordering::Equal) => C3,
        Some(core::cmp::Ordering::Greater) => 0,
    };
    set_cc(x, c);
    Ok(())
}

/// FPREM (quotient truncated) and FPREM1 (quotient rounded to nearest even): ST(0) becomes
/// ST(0) - ST(1) * Q, exactly; C0, C3, C1 = Q2, Q1, Q0; C2 = 1 for a partial reduction.
fn fprem(x: &mut Exec<'_>, ieee: bool) -> Result<()> {
    waiting(x)?;
    let Some((a, b)) = two(x) else { return Ok(()) };
    let env = Env { prec: 64, ..x.x87_env(None) };
    let (ca, cb, mut fl) = match sf::classify2(F80, &env, a, b) {
        Err((r, fl)) => {
            if x.x87_flags(fl) {
                x.set_st(0, r);
                set_cc(x, 0);
            }
            return Ok(());
        }
        Ok(c) => c,
    };
    let done = |x: &mut Exec<'_>, r: u128, fl: u32, cc: u16| {
        if x.x87_flags(fl) {
            x.set_st(0, r);
            set_cc(x, cc);
        }
    };
    match (ca, cb) {
        (Class::Inf, _) | (_, Class::Zero) => {
            done(x, F80.default_nan(), flag::IE, 0);
            return Ok(());
        }
        (Class::Zero, _) | (_, Class::Inf) => {
            done(x, canonical(a), fl, 0);
            return Ok(());
        }
        _ => {}
    }
    let neg = F80.neg(a);
    let (_, ea, sa) = F80.unpack(a);
    let (_, eb, sb) = F80.unpack(b);
    let (la, lb) = (sa.leading_zeros() as i64 - 64, sb.leading_zeros() as i64 - 64);
    let (ea, sa, eb, sb) = (ea - la, sa << la, eb - lb, sb << lb);
    let d = ea - eb;
    if d < -1 {
        done(x, canonical(a), fl, 0);
        return Ok(());
    }
    let q_bits = |q: u128| {
        (if q & 4 != 0 { C0 } else { 0 }) | (if q & 2 != 0 { C3 } else { 0 }) | (if q & 1 != 0 { C1 } else { 0 })
    };
    if d >= 64 {
        // Partial: QQ = trunc(ST(0) / ST(1) / 2^(d-N)); the remainder keeps ST(0)'s sign.
        let n = 32 + d % 32;
        let num = sa << n;
        let r = num % sb;
        let (res, f2) = if r == 0 { (F80.zero(neg), 0) } else { sf::round_pack(F80, &env, neg, ea - n, r) };
        fl |= f2;
        done(x, res, fl, C2);
        return Ok(());
    }
    // Units of 2^(eb-1): A = ST(0), B = ST(1), both exact in 128 bits.
    let (big_a, big_b) = (sa << (d + 1), sb << 1);
    let (mut q, mut r) = (big_a / big_b, big_a % big_b);
    let mut neg_r = neg;
    if ieee && (2 * r > big_b || (2 * r == big_b && q & 1 == 1)) {
        q += 1;
        r = big_b - r;
        neg_r = !neg;
    }
    let (res, f2) = if r == 0 { (F80.zero(neg), 0) } else { sf::round_pack(F80, &env, neg_r, eb - 1, r) };
    fl |= f2;
    done(x, res, fl, q_bits(q));
    Ok(())
}

/// FCMOVcc ST(0), ST(i): copies ST(i) when the EFLAGS condition holds.
fn fcmov(x: &mut Exec<'_>, i: &Instruction, cc: ConditionCode) -> Result<()> {
    waiting(x)?;
    let k = sti(i.op1_register());
    let (Some(_), Some(v)) = (x.st(0), x.st(k)) else {
        if x.stack_fault(false) {
            x.set_st(0, F80.default_nan());
        }
        return Ok(());
    };
    x.cpu.state.fpu.fsw &= !C1;
    if x.condition(cc) {
        x.set_st(0, v);
    }
    Ok(())
}
