//! SSE/SSE2 conversions between integers, binary32 and binary64 (SDM Vol. 1 11.4.1.5
//! "SSE2 Conversion Instructions", Figure 11-8; Vol. 2 pages CVTDQ2PD ... CVTTSS2SI).
//!
//! Float-to-integer conversions of NaN, infinity or out-of-range values give IE and the
//! integer indefinite (0x80000000 / 0x8000000000000000). Conversions with an MMX operand
//! (CVTPI2PS, CVTPS2PI, CVTTPS2PI, CVTPI2PD, CVTPD2PI, CVTTPD2PI) make the x87-to-MMX
//! transition when the MMX operand is a register (SDM Vol. 2 CVTPI2PS "Operation" notes).

use super::simd::{lane, set_lane, uses_mmx};
use super::softfloat::{self as sf, Fmt, F32, F64};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use iced_x86::{Instruction, Mnemonic, OpKind};

/// An element type of a conversion.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// Signed integer of the source/destination general register or 32-bit lanes.
    Int,
    /// A floating-point format.
    Fp(Fmt),
}

/// How the destination XMM register is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dest {
    /// Replace element(s), keep the rest (scalar forms, CVTPI2PS).
    Merge,
    /// Write the results, zero the rest.
    Zero,
}

/// Converts `count` elements from `from` to `to` (integers are 32-bit lanes, or the general
/// register's width when operand 0 or 1 is one).
fn cvt(x: &mut Exec<'_>, i: &Instruction, from: Ty, to: Ty, count: u32, truncate: bool, dest: Dest) -> Result<()> {
    x.sse_available()?;
    if uses_mmx(i) {
        x.mmx_available()?;
    }
    let src = x.vread(i, 1)?;
    let d = i.op0_register();
    let gpr_src = i.op1_kind() != OpKind::Register || !(i.op1_register().is_xmm() || i.op1_register().is_mm());
    let int_bits = if d.is_gpr() {
        d.size() as u32 * 8
    } else if from == Ty::Int && gpr_src && i.op1_kind() == OpKind::Register {
        i.op1_register().size() as u32 * 8
    } else if from == Ty::Int && i.op1_kind() == OpKind::Memory && count == 1 {
        i.memory_size().size() as u32 * 8
    } else {
        32
    };
    let wf = |t: Ty| match t {
        Ty::Int => int_bits,
        Ty::Fp(f) => super::sse_fp::bits(f),
    };
    let (win, wout) = (wf(from), wf(to));
    let env_fmt = match (from, to) {
        (_, Ty::Fp(f)) => f,
        (Ty::Fp(f), _) => f,
        _ => F64,
    };
    let env = x.sse_env(env_fmt);
    let mut out = 0u128;
    let mut flags = 0;
    for k in 0..count {
        let v = lane(src, win, k) as u128;
        let (r, fl) = match (from, to) {
            (Ty::Int, Ty::Fp(f)) => sf::from_int(f, &env, super::simd::slane(src, win, k)),
            (Ty::Fp(f), Ty::Int) => {
                let (r, fl) = sf::to_int(f, &env, v, wout, truncate);
                (r as u64 as u128, fl)
            }
            (Ty::Fp(a), Ty::Fp(b)) => sf::convert(a, b, &env, v),
            (Ty::Int, Ty::Int) => (v, 0),
        };
        out = set_lane(out, wout, k, r as u64);
        flags |= fl;
    }
    x.sse_commit(flags)?;
    if uses_mmx(i) {
        x.mmx_transition();
    }
    if d.is_xmm() && dest == Dest::Merge {
        let mut r = x.vreg(d);
        for k in 0..count {
            r = set_lane(r, wout, k, lane(out, wout, k));
        }
        x.set_vreg(d, r);
    } else {
        x.set_vreg(d, out);
    }
    Ok(())
}

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Dest::*;
    use Mnemonic as M;
    use Ty::*;
    const S: Ty = Fp(F32);
    const D: Ty = Fp(F64);
    Some(match i.mnemonic() {
        M::Cvtsi2ss => |x, i| cvt(x, i, Int, S, 1, false, Merge),
        M::Cvtsi2sd => |x, i| cvt(x, i, Int, D, 1, false, Merge),
        M::Cvtss2si => |x, i| cvt(x, i, S, Int, 1, false, Zero),
        M::Cvttss2si => |x, i| cvt(x, i, S, Int, 1, true, Zero),
        M::Cvtsd2si => |x, i| cvt(x, i, D, Int, 1, false, Zero),
        M::Cvttsd2si => |x, i| cvt(x, i, D, Int, 1, true, Zero),
        M::Cvtss2sd => |x, i| cvt(x, i, S, D, 1, false, Merge),
        M::Cvtsd2ss => |x, i| cvt(x, i, D, S, 1, false, Merge),
        M::Cvtps2pd => |x, i| cvt(x, i, S, D, 2, false, Zero),
        M::Cvtpd2ps => |x, i| cvt(x, i, D, S, 2, false, Zero),
        M::Cvtdq2ps => |x, i| cvt(x, i, Int, S, 4, false, Zero),
        M::Cvtps2dq => |x, i| cvt(x, i, S, Int, 4, false, Zero),
        M::Cvttps2dq => |x, i| cvt(x, i, S, Int, 4, true, Zero),
        M::Cvtdq2pd => |x, i| cvt(x, i, Int, D, 2, false, Zero),
        M::Cvtpd2dq => |x, i| cvt(x, i, D, Int, 2, false, Zero),
        M::Cvttpd2dq => |x, i| cvt(x, i, D, Int, 2, true, Zero),
        M::Cvtpi2ps => |x, i| cvt(x, i, Int, S, 2, false, Merge),
        M::Cvtps2pi => |x, i| cvt(x, i, S, Int, 2, false, Zero),
        M::Cvttps2pi => |x, i| cvt(x, i, S, Int, 2, true, Zero),
        M::Cvtpi2pd => |x, i| cvt(x, i, Int, D, 2, false, Zero),
        M::Cvtpd2pi => |x, i| cvt(x, i, D, Int, 2, false, Zero),
        M::Cvttpd2pi => |x, i| cvt(x, i, D, Int, 2, true, Zero),
        _ => return None,
    })
}
