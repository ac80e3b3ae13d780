//! SSSE3 and SSE4.1 integer instructions (SDM Vol. 1 12.9 "SSSE3 Instructions", 12.10
//! "SSE4.1 Instructions"; Vol. 2 pages PSHUFB, PHADDW ... PALIGNR, PBLENDW ... PHMINPOSUW).
//! SSE4.1 floating-point instructions (ROUNDxx, DPPx) live in `sse_fp.rs`, PACKUSDW and
//! PCMPEQQ in `sse_int.rs`, MOVNTDQA in `sse_move.rs`.

use super::simd::{lane, map2, sat_s, set_lane, slane, smap2};
use super::sse_int::{bin, bin_imm};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::{AF, CF, OF, PF, SF, ZF};
use iced_x86::{Instruction, Mnemonic, OpKind};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    Some(match i.mnemonic() {
        M::Pshufb => |x, i| bin(x, i, pshufb),
        M::Phaddw => |x, i| bin(x, i, |a, b, w| hop(a, b, w, 16, |p, q| p + q)),
        M::Phaddd => |x, i| bin(x, i, |a, b, w| hop(a, b, w, 32, |p, q| p + q)),
        M::Phaddsw => |x, i| bin(x, i, |a, b, w| hop(a, b, w, 16, |p, q| sat_s(p + q, 16))),
        M::Phsubw => |x, i| bin(x, i, |a, b, w| hop(a, b, w, 16, |p, q| p - q)),
        M::Phsubd => |x, i| bin(x, i, |a, b, w| hop(a, b, w, 32, |p, q| p - q)),
        M::Phsubsw => |x, i| bin(x, i, |a, b, w| hop(a, b, w, 16, |p, q| sat_s(p - q, 16))),
        M::Pmaddubsw => |x, i| bin(x, i, pmaddubsw),
        M::Pmulhrsw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| (((p * q) >> 14) + 1) >> 1)),
        M::Psignb => |x, i| bin(x, i, |a, b, _| smap2(a, b, 8, |p, q| p * q.signum())),
        M::Psignw => |x, i| bin(x, i, |a, b, _| smap2(a, b, 16, |p, q| p * q.signum())),
        M::Psignd => |x, i| bin(x, i, |a, b, _| smap2(a, b, 32, |p, q| p * q.signum())),
        M::Pabsb => |x, i| bin(x, i, |_, b, _| smap2(b, 0, 8, |p, _| p.abs())),
        M::Pabsw => |x, i| bin(x, i, |_, b, _| smap2(b, 0, 16, |p, _| p.abs())),
        M::Pabsd => |x, i| bin(x, i, |_, b, _| smap2(b, 0, 32, |p, _| p.abs())),
        M::Palignr => |x, i| bin_imm(x, i, palignr),
        M::Pblendw => |x, i| bin_imm(x, i, |a, b, _, n| blend(a, b, 16, n as u32)),
        M::Blendps => |x, i| bin_imm(x, i, |a, b, _, n| blend(a, b, 32, n as u32)),
        M::Blendpd => |x, i| bin_imm(x, i, |a, b, _, n| blend(a, b, 64, n as u32)),
        M::Blendvps => |x, i| blendv(x, i, 32),
        M::Blendvpd => |x, i| blendv(x, i, 64),
        M::Pblendvb => |x, i| blendv(x, i, 8),
        M::Pminsb => |x, i| bin(x, i, |a, b, _| smap2(a, b, 8, i64::min)),
        M::Pminsd => |x, i| bin(x, i, |a, b, _| smap2(a, b, 32, i64::min)),
        M::Pmaxsb => |x, i| bin(x, i, |a, b, _| smap2(a, b, 8, i64::max)),
        M::Pmaxsd => |x, i| bin(x, i, |a, b, _| smap2(a, b, 32, i64::max)),
        M::Pminuw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, u64::min)),
        M::Pminud => |x, i| bin(x, i, |a, b, _| map2(a, b, 32, u64::min)),
        M::Pmaxuw => |x, i| bin(x, i, |a, b, _| map2(a, b, 16, u64::max)),
        M::Pmaxud => |x, i| bin(x, i, |a, b, _| map2(a, b, 32, u64::max)),
        M::Pmulld => |x, i| bin(x, i, |a, b, _| map2(a, b, 32, u64::wrapping_mul)),
        M::Pmuldq => |x, i| bin(x, i, |a, b, _| smap2(a, b, 64, |p, q| (p as i32 as i64).wrapping_mul(q as i32 as i64))),
        M::Pmovsxbw => |x, i| bin(x, i, |_, b, _| extend(b, 8, 16, true)),
        M::Pmovsxbd => |x, i| bin(x, i, |_, b, _| extend(b, 8, 32, true)),
        M::Pmovsxbq => |x, i| bin(x, i, |_, b, _| extend(b, 8, 64, true)),
        M::Pmovsxwd => |x, i| bin(x, i, |_, b, _| extend(b, 16, 32, true)),
        M::Pmovsxwq => |x, i| bin(x, i, |_, b, _| extend(b, 16, 64, true)),
        M::Pmovsxdq => |x, i| bin(x, i, |_, b, _| extend(b, 32, 64, true)),
        M::Pmovzxbw => |x, i| bin(x, i, |_, b, _| extend(b, 8, 16, false)),
        M::Pmovzxbd => |x, i| bin(x, i, |_, b, _| extend(b, 8, 32, false)),
        M::Pmovzxbq => |x, i| bin(x, i, |_, b, _| extend(b, 8, 64, false)),
        M::Pmovzxwd => |x, i| bin(x, i, |_, b, _| extend(b, 16, 32, false)),
        M::Pmovzxwq => |x, i| bin(x, i, |_, b, _| extend(b, 16, 64, false)),
        M::Pmovzxdq => |x, i| bin(x, i, |_, b, _| extend(b, 32, 64, false)),
        M::Pinsrb => |x, i| pinsr(x, i, 8),
        M::Pinsrd => |x, i| pinsr(x, i, 32),
        M::Pinsrq => |x, i| pinsr(x, i, 64),
        M::Pextrb => |x, i| pextr(x, i, 8),
        M::Pextrd | M::Extractps => |x, i| pextr(x, i, 32),
        M::Pextrq => |x, i| pextr(x, i, 64),
        M::Insertps => insertps,
        M::Ptest => ptest,
        M::Phminposuw => |x, i| bin(x, i, phminposuw),
        M::Mpsadbw => |x, i| bin_imm(x, i, mpsadbw),
        _ => return None,
    })
}

fn pshufb(a: u128, b: u128, w: u32) -> u128 {
    let n = w / 8;
    let mut r = 0;
    for k in 0..n {
        let s = lane(b, 8, k);
        if s & 0x80 == 0 {
            r = set_lane(r, 8, k, lane(a, 8, s as u32 % n));
        }
    }
    r
}

/// Horizontal pairs: destination pairs fill the low half, source pairs the high half.
fn hop(a: u128, b: u128, w: u32, bits: u32, f: fn(i64, i64) -> i64) -> u128 {
    let half = w / bits / 2;
    let mut r = 0;
    for k in 0..half {
        r = set_lane(r, bits, k, f(slane(a, bits, 2 * k), slane(a, bits, 2 * k + 1)) as u64);
        r = set_lane(r, bits, half + k, f(slane(b, bits, 2 * k), slane(b, bits, 2 * k + 1)) as u64);
    }
    r
}

fn pmaddubsw(a: u128, b: u128, _: u32) -> u128 {
    let mut r = 0;
    for k in 0..8 {
        let s = lane(a, 8, 2 * k) as i64 * slane(b, 8, 2 * k) + lane(a, 8, 2 * k + 1) as i64 * slane(b, 8, 2 * k + 1);
        r = set_lane(r, 16, k, sat_s(s, 16) as u64);
    }
    r
}

/// PALIGNR: (dest:src) shifted right by imm bytes, the low `w` bits kept.
fn palignr(a: u128, b: u128, w: u32, n: u8) -> u128 {
    let bytes = w / 8;
    let mut r = 0;
    for k in 0..bytes {
        let j = k + n as u32;
        let v = if j < bytes {
            lane(b, 8, j)
        } else if j < 2 * bytes {
            lane(a, 8, j - bytes)
        } else {
            0
        };
        r = set_lane(r, 8, k, v);
    }
    r
}

fn blend(a: u128, b: u128, bits: u32, mask: u32) -> u128 {
    let mut r = a;
    for k in 0..128 / bits {
        if mask & (1 << (k % 8)) != 0 {
            r = set_lane(r, bits, k, lane(b, bits, k));
        }
    }
    r
}

/// BLENDVPS/PD, PBLENDVB: the implicit mask is XMM0's element sign bits.
fn blendv(x: &mut Exec<'_>, i: &Instruction, bits: u32) -> Result<()> {
    x.sse_available()?;
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let m = x.cpu.state.xmm[0];
    let mut r = a;
    for k in 0..128 / bits {
        if lane(m, bits, k) >> (bits - 1) != 0 {
            r = set_lane(r, bits, k, lane(b, bits, k));
        }
    }
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

fn extend(b: u128, from: u32, to: u32, signed: bool) -> u128 {
    let mut r = 0;
    for k in 0..128 / to {
        let v = if signed { slane(b, from, k) as u64 } else { lane(b, from, k) };
        r = set_lane(r, to, k, v);
    }
    r
}

/// PINSRB/D/Q: an element from a general register or memory at index imm.
fn pinsr(x: &mut Exec<'_>, i: &Instruction, bits: u32) -> Result<()> {
    x.sse_available()?;
    let v = match i.op1_kind() {
        OpKind::Register => x.reg(i.op1_register()),
        _ => {
            let (seg, off) = x.mem_operand(i);
            x.read_mem(seg, off, bits / 8)?
        }
    };
    let k = i.immediate8() as u32 % (128 / bits);
    let d = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), set_lane(d, bits, k, v));
    Ok(())
}

/// PEXTRB/D/Q, EXTRACTPS: an element to a general register (zero-extended) or memory.
fn pextr(x: &mut Exec<'_>, i: &Instruction, bits: u32) -> Result<()> {
    x.sse_available()?;
    let k = i.immediate8() as u32 % (128 / bits);
    let v = lane(x.vreg(i.op1_register()), bits, k);
    match i.op0_kind() {
        OpKind::Register => {
            let r = i.op0_register();
            // A 32-bit destination zero-extends into the 64-bit register.
            x.set_reg(if r.size() < 4 { r.full_register32() } else { r }, v);
            Ok(())
        }
        _ => {
            let (seg, off) = x.mem_operand(i);
            x.write_mem(seg, off, bits / 8, v)
        }
    }
}

/// INSERTPS: source element imm[7:6] (register) or m32 into element imm[5:4], then zero
/// the elements in imm[3:0].
fn insertps(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let imm = i.immediate8() as u32;
    let v = match i.op1_kind() {
        OpKind::Register => lane(x.vreg(i.op1_register()), 32, (imm >> 6) & 3),
        _ => x.vread(i, 1)? as u64,
    };
    let mut r = set_lane(x.vreg(i.op0_register()), 32, (imm >> 4) & 3, v);
    for k in 0..4 {
        if imm & (1 << k) != 0 {
            r = set_lane(r, 32, k, 0);
        }
    }
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

/// PTEST: ZF = (dest AND src) == 0, CF = (NOT dest AND src) == 0; AF, OF, PF, SF cleared.
fn ptest(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let v = if a & b == 0 { ZF } else { 0 } | if !a & b == 0 { CF } else { 0 };
    x.set_flags(ZF | CF | AF | OF | PF | SF, v);
    Ok(())
}

fn phminposuw(_: u128, b: u128, _: u32) -> u128 {
    let (mut best, mut idx) = (lane(b, 16, 0), 0);
    for k in 1..8 {
        if lane(b, 16, k) < best {
            best = lane(b, 16, k);
            idx = k;
        }
    }
    best as u128 | (idx as u128) << 16
}

/// MPSADBW: eight sums of absolute differences of 4-byte groups (SDM MPSADBW "Operation").
fn mpsadbw(a: u128, b: u128, _: u32, n: u8) -> u128 {
    let d0 = 4 * ((n as u32 >> 2) & 1);
    let s0 = 4 * (n as u32 & 3);
    let mut r = 0;
    for j in 0..8 {
        let s: u64 = (0..4).map(|k| lane(a, 8, d0 + j + k).abs_diff(lane(b, 8, s0 + k))).sum();
        r = set_lane(r, 16, j, s);
    }
    r
}
