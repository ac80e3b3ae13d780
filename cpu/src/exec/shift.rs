//! Shifts and rotates: SAL/SHL, SHR, SAR, ROL, ROR, RCL, RCR, SHLD, SHRD (SDM Vol. 2B
//! "SAL/SAR/SHL/SHR", Vol. 2B "RCL/RCR/ROL/ROR", "SHLD", "SHRD"; Vol. 1 7.3.6).
//!
//! The count is masked to 5 bits, or 6 with a 64-bit operand. A masked count of 0 changes no
//! flags, but the destination is still written back (a 32-bit register is zero-extended, a
//! memory operand needs write access), like a read-modify-write on silicon.
//!
//! Flags the SDM leaves undefined, and what this core produces (the formulas Intel defines for
//! a count of 1, applied to every count, as Bochs and QEMU model Intel cores; not verified on
//! Intel silicon here):
//! - SHL/SAL: OF = MSB(result) XOR CF; SHR: OF = result[msb] XOR result[msb-1] (0 for counts
//!   above 1); SAR: OF = 0. AF = 0 for all three. CF for SHL/SHR of an 8/16-bit operand by
//!   more than its width = 0 (every bit was shifted out, the last one out of range is a 0).
//! - ROL/RCL: OF = MSB(result) XOR CF; ROR/RCR: OF = result[msb] XOR result[msb-1].
//! - SHLD: OF = MSB(result) XOR CF; SHRD: OF = result[msb] XOR result[msb-1]; AF = 0.
//! - 16-bit SHLD/SHRD with a count above 16 (result and flags undefined): the operation acts on
//!   the 48-bit string DEST:SRC:DEST (SHLD) or DEST:SRC:DEST with DEST lowest (SHRD), which is
//!   how P6-and-later Intel cores behave according to Bochs; CF is the last bit shifted out.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::{mask, sign_bit, sign_extend, szp, CF, OF, STATUS};
use iced_x86::{Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Shl | Mnemonic::Sal => shl,
        Mnemonic::Shr => shr,
        Mnemonic::Sar => sar,
        Mnemonic::Rol => rol,
        Mnemonic::Ror => ror,
        Mnemonic::Rcl => rcl,
        Mnemonic::Rcr => rcr,
        Mnemonic::Shld => shld,
        Mnemonic::Shrd => shrd,
        _ => return None,
    })
}

/// The count mask: 5 bits, 6 for a 64-bit operand (SDM "SAL/SAR/SHL/SHR" Operation).
#[inline(always)]
fn count_mask(size: u32) -> u64 {
    if size == 8 { 0x3f } else { 0x1f }
}

/// Reads the destination and the masked count of operand `count_op`; returns (size, dest, count).
#[inline(always)]
fn operands(x: &mut Exec<'_>, i: &Instruction, count_op: u32) -> Result<(u32, u64, u32)> {
    let size = x.op_size(i, 0);
    let d = x.read_op(i, 0)? & mask(size);
    let c = (x.read_op(i, count_op)? & count_mask(size)) as u32;
    Ok((size, d, c))
}

/// Writes the result, then the flags in `fmask` (none when the count was 0).
#[inline(always)]
fn finish(x: &mut Exec<'_>, i: &Instruction, r: u64, count: u32, fmask: u64, f: u64) -> Result<()> {
    x.write_op(i, 0, r)?;
    if count != 0 {
        x.set_flags(fmask, f);
    }
    Ok(())
}

#[inline(always)]
fn msb(v: u64, size: u32) -> u64 {
    (v & sign_bit(size) != 0) as u64
}

/// result[msb] XOR result[msb-1], as an OF bit.
#[inline(always)]
fn top_two_differ(r: u64, size: u32) -> u64 {
    if (msb(r, size) ^ (r >> (size * 8 - 2)) & 1) != 0 { OF } else { 0 }
}

fn shl(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 1)?;
    let bits = size * 8;
    let r = if c == 0 { d } else { (d << c) & mask(size) };
    let cf = if c != 0 && c <= bits { (d >> (bits - c)) & 1 } else { 0 };
    let of = if cf ^ msb(r, size) != 0 { OF } else { 0 };
    finish(x, i, r, c, STATUS, szp(r, size) | cf | of)
}

fn shr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 1)?;
    let r = d >> c;
    let cf = if c != 0 { (d >> (c - 1)) & 1 } else { 0 };
    finish(x, i, r, c, STATUS, szp(r, size) | cf | top_two_differ(r, size))
}

fn sar(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 1)?;
    let s = sign_extend(d, size) as i64;
    let r = (s >> c) as u64 & mask(size);
    let cf = if c != 0 { ((s >> (c - 1)) & 1) as u64 } else { 0 };
    finish(x, i, r, c, STATUS, szp(r, size) | cf)
}

/// Rotates the low `bits` bits of `v` left by `c` (< bits).
#[inline(always)]
fn rotl(v: u128, c: u32, bits: u32) -> u128 {
    let m = (1u128 << bits) - 1;
    if c == 0 { v & m } else { ((v << c) | (v >> (bits - c))) & m }
}

/// ROL: the rotate count is the masked count modulo the width; CF and OF are updated whenever
/// the masked count is not 0 (SDM "RCL/RCR/ROL/ROR" Operation).
fn rol(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 1)?;
    let bits = size * 8;
    let r = rotl(d as u128, c % bits, bits) as u64;
    let cf = r & 1;
    let of = if cf ^ msb(r, size) != 0 { OF } else { 0 };
    finish(x, i, r, c, CF | OF, cf | of)
}

fn ror(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 1)?;
    let bits = size * 8;
    let r = rotl(d as u128, (bits - c % bits) % bits, bits) as u64;
    let cf = msb(r, size);
    finish(x, i, r, c, CF | OF, cf | top_two_differ(r, size))
}

/// RCL/RCR rotate the (width+1)-bit string CF:DEST; the count is taken modulo 9 or 17 for 8-
/// and 16-bit operands (for 32/64-bit operands the masked count is already below width+1).
fn rc(x: &mut Exec<'_>, i: &Instruction, left: bool) -> Result<()> {
    let (size, d, c) = operands(x, i, 1)?;
    let bits = size * 8;
    let t = c % (bits + 1);
    let w = ((x.cpu.state.rflags & CF) as u128) << bits | d as u128;
    let rot = if left { rotl(w, t, bits + 1) } else { rotl(w, (bits + 1 - t) % (bits + 1), bits + 1) };
    let r = rot as u64 & mask(size);
    let cf = (rot >> bits) as u64 & 1;
    let of = if left {
        if cf ^ msb(r, size) != 0 { OF } else { 0 }
    } else {
        top_two_differ(r, size)
    };
    finish(x, i, r, c, CF | OF, cf | of)
}

fn rcl(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    rc(x, i, true)
}

fn rcr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    rc(x, i, false)
}

/// The bit string SHLD/SHRD shift and its width: DEST:SRC (SHLD) or SRC:DEST (SHRD) for 32-
/// and 64-bit operands, DEST:SRC:DEST for 16-bit ones (see the module doc).
#[inline(always)]
fn double(d: u64, s: u64, bits: u32, left: bool) -> (u128, u32) {
    let (d, s) = (d as u128, s as u128);
    if bits == 16 {
        (d << 32 | s << 16 | d, 48)
    } else if left {
        (d << bits | s, 2 * bits)
    } else {
        (s << bits | d, 2 * bits)
    }
}

fn shld(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 2)?;
    let s = x.read_op(i, 1)? & mask(size);
    if c == 0 {
        return finish(x, i, d, 0, 0, 0);
    }
    let bits = size * 8;
    let (w, total) = double(d, s, bits, true);
    let r = (w >> (total - bits - c)) as u64 & mask(size);
    let cf = (w >> (total - c)) as u64 & 1;
    let of = if cf ^ msb(r, size) != 0 { OF } else { 0 };
    finish(x, i, r, c, STATUS, szp(r, size) | cf | of)
}

fn shrd(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, d, c) = operands(x, i, 2)?;
    let s = x.read_op(i, 1)? & mask(size);
    if c == 0 {
        return finish(x, i, d, 0, 0, 0);
    }
    let bits = size * 8;
    let (w, _) = double(d, s, bits, false);
    let r = (w >> c) as u64 & mask(size);
    let cf = (w >> (c - 1)) as u64 & 1;
    finish(x, i, r, c, STATUS, szp(r, size) | cf | top_two_differ(r, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotl_wraps_within_width() {
        assert_eq!(rotl(0x81, 1, 8), 0x03);
        assert_eq!(rotl(0x1_0000_0000_0000_0001, 1, 65), 0x3);
    }
}
