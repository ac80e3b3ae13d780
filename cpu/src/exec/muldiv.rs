//! Multiply and divide: MUL, IMUL (one-, two- and three-operand forms), DIV, IDIV (SDM Vol. 2A
//! "DIV", "IDIV", "IMUL", Vol. 2B "MUL"; Vol. 1 7.3.2).
//!
//! Flags:
//! - MUL/IMUL: CF = OF = 1 when the high half is significant (MUL: not zero; IMUL: not the
//!   sign extension of the low half; two- and three-operand IMUL: the truncated result differs
//!   from the full product). SF, ZF, AF and PF are undefined; this core sets SF, ZF and PF from
//!   the low half of the product (AL/AX/EAX/RAX, or the destination) and clears AF, as Bochs
//!   and QEMU model Intel cores (not verified on Intel silicon here).
//! - DIV/IDIV: all six status flags are undefined; this core leaves them unchanged.
//!
//! #DE (SDM Vol. 3A 6.15 "Interrupt 0"): divisor 0, or a quotient that does not fit the
//! destination (for IDIV the signed range, which covers the most negative dividend / -1).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{mask, sign_extend, szp, CF, OF, STATUS};
use iced_x86::{Instruction, Mnemonic, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match (i.mnemonic(), i.op_count()) {
        (Mnemonic::Mul, _) => mul,
        (Mnemonic::Imul, 1) => imul1,
        (Mnemonic::Imul, 2) => imul2,
        (Mnemonic::Imul, 3) => imul3,
        (Mnemonic::Div, _) => div,
        (Mnemonic::Idiv, _) => idiv,
        _ => return None,
    })
}

/// The implicit double-width operand: AX, DX:AX, EDX:EAX or RDX:RAX.
fn acc_read(x: &Exec<'_>, size: u32) -> u128 {
    let (lo, hi) = halves(size);
    if size == 1 { x.reg(Register::AX) as u128 } else { (x.reg(hi) as u128) << (size * 8) | x.reg(lo) as u128 }
}

/// Writes the low half into AL/AX/EAX/RAX and the high half into AH/DX/EDX/RDX.
fn acc_write(x: &mut Exec<'_>, size: u32, lo: u64, hi: u64) {
    let (l, h) = halves(size);
    x.set_reg(l, lo);
    x.set_reg(h, hi);
}

fn halves(size: u32) -> (Register, Register) {
    match size {
        1 => (Register::AL, Register::AH),
        2 => (Register::AX, Register::DX),
        4 => (Register::EAX, Register::EDX),
        _ => (Register::RAX, Register::RDX),
    }
}

/// Flags of a product whose low half is `lo` and whose high part is significant if `wide`.
fn mul_flags(lo: u64, size: u32, wide: bool) -> u64 {
    szp(lo & mask(size), size) | if wide { CF | OF } else { 0 }
}

fn mul(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let src = x.read_op(i, 0)? & mask(size);
    let a = x.reg(halves(size).0) & mask(size);
    let p = a as u128 * src as u128;
    let (lo, hi) = (p as u64 & mask(size), (p >> (size * 8)) as u64 & mask(size));
    acc_write(x, size, lo, hi);
    x.set_flags(STATUS, mul_flags(lo, size, hi != 0));
    Ok(())
}

/// The signed value of the low `size` bytes of `v`.
#[inline(always)]
fn signed(v: u64, size: u32) -> i128 {
    sign_extend(v, size) as i64 as i128
}

/// Signed product, truncated low half, and whether truncation lost information.
#[inline(always)]
fn smul(a: u64, b: u64, size: u32) -> (i128, u64, bool) {
    let p = signed(a, size) * signed(b, size);
    let lo = p as u64 & mask(size);
    (p, lo, signed(lo, size) != p)
}

fn imul1(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let src = x.read_op(i, 0)?;
    let a = x.reg(halves(size).0);
    let (p, lo, wide) = smul(a, src, size);
    let hi = (p >> (size * 8)) as u64 & mask(size);
    acc_write(x, size, lo, hi);
    x.set_flags(STATUS, mul_flags(lo, size, wide));
    Ok(())
}

fn imul2(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 0)?;
    let b = x.read_op(i, 1)?;
    let (_, lo, wide) = smul(a, b, size);
    x.write_op(i, 0, lo)?;
    x.set_flags(STATUS, mul_flags(lo, size, wide));
    Ok(())
}

/// IMUL r, r/m, imm: iced reports the immediate already sign-extended to the operand size.
fn imul3(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 1)?;
    let b = x.read_op(i, 2)?;
    let (_, lo, wide) = smul(a, b, size);
    x.write_op(i, 0, lo)?;
    x.set_flags(STATUS, mul_flags(lo, size, wide));
    Ok(())
}

fn div(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let src = x.read_op(i, 0)? & mask(size);
    if src == 0 {
        return Err(Exception::de().into());
    }
    let n = acc_read(x, size);
    let q = n / src as u128;
    let r = n % src as u128;
    if q > mask(size) as u128 {
        return Err(Exception::de().into());
    }
    acc_write(x, size, q as u64, r as u64);
    Ok(())
}

fn idiv(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let src = signed(x.read_op(i, 0)?, size);
    if src == 0 {
        return Err(Exception::de().into());
    }
    let raw = acc_read(x, size);
    // Sign-extend the 2*size-byte dividend to 128 bits.
    let shift = 128 - 16 * size;
    let n = ((raw << shift) as i128) >> shift;
    // RDX:RAX = -2^127 divided by -1 would overflow i128: wrapping gives i128::MIN back, which
    // the range check below turns into #DE like every other quotient overflow.
    let q = n.wrapping_div(src);
    let r = n.wrapping_rem(src);
    let bits = size * 8;
    let (min, max) = (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    if q < min || q > max {
        return Err(Exception::de().into());
    }
    acc_write(x, size, q as u64 & mask(size), r as u64 & mask(size));
    Ok(())
}
