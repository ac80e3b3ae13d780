//! MMX/SSE/SSE2 integer and bitwise instructions on XMM and MMX registers (SDM Vol. 1 9.4,
//! 10.4.4, 11.4.3; Vol. 2 pages PADDB ... PUNPCKHQDQ, ANDPS ... XORPD, SHUFPS/PD, UNPCKxPS/PD).
//!
//! MMX forms compute on the low 64 bits; [`Exec::set_vreg`] truncates to 64 bits for MMX
//! registers, so lane-wise operations are written once for 128 bits. Operations whose lanes
//! move across halves (unpack, pack, shuffles) take the vector width `w` (64 or 128).

use super::simd::{lane, map2, sat_s, sat_u, set_lane, slane, smap2, uses_mmx};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use iced_x86::{Instruction, Mnemonic, OpKind};

/// A binary vector operation: (destination, source, width in bits) -> result.
pub(super) type VecOp = fn(u128, u128, u32) -> u128;
/// A binary vector operation with an 8-bit immediate.
pub(super) type VecOpImm = fn(u128, u128, u32, u8) -> u128;

/// `dst = f(dst, src)` for `op xmm/mm, xmm/mm/mem`.
pub(super) fn bin(x: &mut Exec<'_>, i: &Instruction, f: VecOp) -> Result<()> {
    x.vector_available(i)?;
    let w = if uses_mmx(i) { 64 } else { 128 };
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), f(a, b, w));
    Ok(())
}

/// `dst = f(dst, src, imm8)`.
pub(super) fn bin_imm(x: &mut Exec<'_>, i: &Instruction, f: VecOpImm) -> Result<()> {
    x.vector_available(i)?;
    let w = if uses_mmx(i) { 64 } else { 128 };
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), f(a, b, w, i.immediate8()));
    Ok(())
}

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    Some(match i.mnemonic() {
        M::Pand | M::Andps | M::Andpd => |x, i| bin(x, i, |a, b, _| a & b),
        M::Pandn | M::Andnps | M::Andnpd => |x, i| bin(x, i, |a, b, _| !a & b),
        M::Por | M::Orps | M::Orpd => |x, i| bin(x, i, |a, b, _| a | b),
        M::Pxor | M::Xorps | M::Xorpd => |x, i| bin(x, i, |a, b, _| a ^ b),
        M::Paddb => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, u64::wrapping_add)),
        M::Paddw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, u64::wrapping_add)),
        M::Paddd => |x, i| bin(x, i, |a, b, _| map2(a, b, 32, u64::wrapping_add)),
        M::Paddq => |x, i| bin(x, i, |a, b, _| map2(a, b, 64, u64::wrapping_add)),
        M::Psubb => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, u64::wrapping_sub)),
        M::Psubw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, u64::wrapping_sub)),
        M::Psubd => |x, i| bin(x, i, |a, b, _| map2(a, b, 32, u64::wrapping_sub)),
        M::Psubq => |x, i| bin(x, i, |a, b, _| map2(a, b, 64, u64::wrapping_sub)),
        M::Paddsb => |x, i| bin(x, i, |a, b, _| smap2(a, b, 8, |p, q| sat_s(p + q, 8))),
        M::Paddsw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| sat_s(p + q, 16))),
        M::Psubsb => |x, i| bin(x, i, |a, b, _| smap2(a, b, 8, |p, q| sat_s(p - q, 8))),
        M::Psubsw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| sat_s(p - q, 16))),
        M::Paddusb => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, |p, q| (p + q).min(0xff))),
        M::Paddusw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, |p, q| (p + q).min(0xffff))),
        M::Psubusb => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, u64::saturating_sub)),
        M::Psubusw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, u64::saturating_sub)),
        M::Pcmpeqb => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, |p, q| if p == q { u64::MAX } else { 0 })),
        M::Pcmpeqw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, |p, q| if p == q { u64::MAX } else { 0 })),
        M::Pcmpeqd => |x, i| bin(x, i, |a, b, _| map2(a, b, 32, |p, q| if p == q { u64::MAX } else { 0 })),
        M::Pcmpeqq => |x, i| bin(x, i, |a, b, _| map2(a, b, 64, |p, q| if p == q { u64::MAX } else { 0 })),
        M::Pcmpgtb => |x, i| bin(x, i, |a, b, _| smap2(a, b, 8, |p, q| -((p > q) as i64))),
        M::Pcmpgtw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| -((p > q) as i64))),
        M::Pcmpgtd => |x, i| bin(x, i, |a, b, _| smap2(a, b, 32, |p, q| -((p > q) as i64))),
        M::Pcmpgtq => |x, i| bin(x, i, |a, b, _| smap2(a, b, 64, |p, q| -((p > q) as i64))),
        M::Pmullw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| p * q)),
        M::Pmulhw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| (p * q) >> 16)),
        M::Pmulhuw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, |p, q| (p * q) >> 16)),
        M::Pmuludq => |x, i| bin(x, i, |a, b, _| map2(a, b, 64, |p, q| (p & 0xffff_ffff) * (q & 0xffff_ffff))),
        M::Pmaddwd => |x, i| bin(x, i, pmaddwd),
        M::Pavgb => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, |p, q| (p + q + 1) >> 1)),
        M::Pavgw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, |p, q| (p + q + 1) >> 1)),
        M::Pminub => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, u64::min)),
        M::Pmaxub => |x, i| bin(x, i, |a, b, _| map2(a, b, 8, u64::max)),
        M::Pminsw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, i64::min)),
        M::Pmaxsw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, i64::max)),
        M::Psadbw => |x, i| bin(x, i, psadbw),
        M::Psllw | M::Pslld | M::Psllq | M::Psrlw | M::Psrld | M::Psrlq | M::Psraw | M::Psrad => shift,
        M::Pslldq => |x, i| bin_imm(x, i, |a, _, _, n| if n > 15 { 0 } else { a << (8 * n as u32) }),
        M::Psrldq => |x, i| bin_imm(x, i, |a, _, _, n| if n > 15 { 0 } else { a >> (8 * n as u32) }),
        M::Punpcklbw => |x, i| bin(x, i, |a, b, w| unpack(a, b, 8, w, false)),
        M::Punpcklwd => |x, i| bin(x, i, |a, b, w| unpack(a, b, 16, w, false)),
        M::Punpckldq | M::Unpcklps => |x, i| bin(x, i, |a, b, w| unpack(a, b, 32, w, false)),
        M::Punpcklqdq | M::Unpcklpd => |x, i| bin(x, i, |a, b, w| unpack(a, b, 64, w, false)),
        M::Punpckhbw => |x, i| bin(x, i, |a, b, w| unpack(a, b, 8, w, true)),
        M::Punpckhwd => |x, i| bin(x, i, |a, b, w| unpack(a, b, 16, w, true)),
        M::Punpckhdq | M::Unpckhps => |x, i| bin(x, i, |a, b, w| unpack(a, b, 32, w, true)),
        M::Punpckhqdq | M::Unpckhpd => |x, i| bin(x, i, |a, b, w| unpack(a, b, 64, w, true)),
        M::Packsswb => |x, i| bin(x, i, |a, b, w| pack(a, b, 16, w, true)),
        M::Packssdw => |x, i| bin(x, i, |a, b, w| pack(a, b, 32, w, true)),
        M::Packuswb => |x, i| bin(x, i, |a, b, w| pack(a, b, 16, w, false)),
        M::Packusdw => |x, i| bin(x, i, |a, b, w| pack(a, b, 32, w, false)),
        M::Pshufd => |x, i| bin_imm(x, i, |_, b, _, n| shuffle(b, 32, 0, 4, n, 0)),
        M::Pshufw => |x, i| bin_imm(x, i, |_, b, _, n| shuffle(b, 16, 0, 4, n, 0)),
        M::Pshuflw => |x, i| bin_imm(x, i, |_, b, _, n| shuffle(b, 16, 0, 4, n, b)),
        M::Pshufhw => |x, i| bin_imm(x, i, |_, b, _, n| shuffle(b, 16, 4, 4, n, b)),
        M::Shufps => |x, i| bin_imm(x, i, shufps),
        M::Shufpd => |x, i| bin_imm(x, i, |a, b, _, n| (lane(a, 64, n as u32 & 1) as u128) | (lane(b, 64, (n as u32 >> 1) & 1) as u128) << 64),
        _ => return None,
    })
}

fn pmaddwd(a: u128, b: u128, _: u32) -> u128 {
    let mut r = 0;
    for k in 0..4 {
        let s = slane(a, 16, 2 * k) * slane(b, 16, 2 * k) + slane(a, 16, 2 * k + 1) * slane(b, 16, 2 * k + 1);
        r = set_lane(r, 32, k, s as u64);
    }
    r
}

fn psadbw(a: u128, b: u128, _: u32) -> u128 {
    let mut r = 0;
    for j in 0..2 {
        let s: u64 = (0..8).map(|k| lane(a, 8, 8 * j + k).abs_diff(lane(b, 8, 8 * j + k))).sum();
        r = set_lane(r, 64, j, s);
    }
    r
}

/// Interleaves the low (or high) halves' elements of `a` and `b`.
pub(super) fn unpack(a: u128, b: u128, bits: u32, w: u32, high: bool) -> u128 {
    let half = w / bits / 2;
    let base = if high { half } else { 0 };
    let mut r = 0;
    for k in 0..half {
        r = set_lane(r, bits, 2 * k, lane(a, bits, base + k));
        r = set_lane(r, bits, 2 * k + 1, lane(b, bits, base + k));
    }
    r
}

/// Packs signed `bits` elements of `a` then `b` into `bits/2` with signed or unsigned saturation.
pub(super) fn pack(a: u128, b: u128, bits: u32, w: u32, signed: bool) -> u128 {
    let n = w / bits;
    let half = bits / 2;
    let sat = |v: i64| if signed { sat_s(v, half) } else { sat_u(v, half) } as u64;
    let mut r = 0;
    for k in 0..n {
        r = set_lane(r, half, k, sat(slane(a, bits, k)));
        r = set_lane(r, half, n + k, sat(slane(b, bits, k)));
    }
    r
}

/// Shuffles `count` elements of `bits` starting at element `first` of `b` by the 2-bit
/// selectors of `imm`; other elements come from `keep`.
fn shuffle(b: u128, bits: u32, first: u32, count: u32, imm: u8, keep: u128) -> u128 {
    let mut r = keep;
    for k in 0..count {
        let sel = (imm as u32 >> (2 * k)) & 3;
        r = set_lane(r, bits, first + k, lane(b, bits, first + sel));
    }
    r
}

fn shufps(a: u128, b: u128, _: u32, n: u8) -> u128 {
    let s = |k: u32| (n as u32 >> (2 * k)) & 3;
    let mut r = 0;
    r = set_lane(r, 32, 0, lane(a, 32, s(0)));
    r = set_lane(r, 32, 1, lane(a, 32, s(1)));
    r = set_lane(r, 32, 2, lane(b, 32, s(2)));
    set_lane(r, 32, 3, lane(b, 32, s(3)))
}

/// PSLLx/PSRLx/PSRAx by an immediate or by the low 64 bits of a register/memory operand:
/// counts above the element width give 0 (logical) or the sign fill (arithmetic).
fn shift(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.vector_available(i)?;
    let count = match i.op_kind(1) {
        OpKind::Immediate8 => i.immediate8() as u64,
        _ => x.vread(i, 1)? as u64,
    };
    let (bits, kind) = match i.mnemonic() {
        Mnemonic::Psllw => (16, 0),
        Mnemonic::Pslld => (32, 0),
        Mnemonic::Psllq => (64, 0),
        Mnemonic::Psrlw => (16, 1),
        Mnemonic::Psrld => (32, 1),
        Mnemonic::Psrlq => (64, 1),
        Mnemonic::Psraw => (16, 2),
        _ => (32, 2),
    };
    let a = x.vreg(i.op0_register());
    let r = if kind == 2 {
        let c = count.min(bits as u64 - 1) as u32;
        smap2(a, 0, bits, |p, _| p >> c)
    } else if count >= bits as u64 {
        0
    } else if kind == 0 {
        map2(a, 0, bits, |p, _| p << count)
    } else {
        map2(a, 0, bits, |p, _| p >> count)
    };
    x.set_vreg(i.op0_register(), r);
    Ok(())
}
