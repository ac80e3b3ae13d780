//! Binary arithmetic and logic: ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST, INC, DEC, NEG,
//! NOT (SDM Vol. 2 instruction pages; flags per Vol. 1 Appendix A).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::{self, CF, STATUS};
use iced_x86::{Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Add => add,
        Mnemonic::Adc => adc,
        Mnemonic::Sub => sub,
        Mnemonic::Sbb => sbb,
        Mnemonic::Cmp => cmp,
        Mnemonic::And => and,
        Mnemonic::Or => or,
        Mnemonic::Xor => xor,
        Mnemonic::Test => test,
        Mnemonic::Inc => inc,
        Mnemonic::Dec => dec,
        Mnemonic::Neg => neg,
        Mnemonic::Not => not,
        _ => return None,
    })
}

/// dst = f(dst, src), flags from f; `write` false for CMP/TEST.
#[inline(always)]
fn binop(x: &mut Exec<'_>, insn: &Instruction, write: bool, f: impl Fn(u64, u64, u64, u32) -> (u64, u64)) -> Result<()> {
    let size = x.op_size(insn, 0);
    let a = x.read_op(insn, 0)?;
    let b = x.read_op(insn, 1)?;
    let (r, fl) = f(a, b, x.cpu.state.rflags, size);
    if write {
        x.write_op(insn, 0, r)?;
    }
    x.set_flags(STATUS, fl);
    Ok(())
}

fn add(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, _, s| flags::add(a, b, 0, s))
}
fn adc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, f, s| flags::add(a, b, f & CF, s))
}
fn sub(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, _, s| flags::sub(a, b, 0, s))
}
fn sbb(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, f, s| flags::sub(a, b, f & CF, s))
}
fn cmp(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, false, |a, b, _, s| flags::sub(a, b, 0, s))
}
fn and(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, _, s| (a & b & flags::mask(s), flags::logic(a & b, s)))
}
fn or(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, _, s| ((a | b) & flags::mask(s), flags::logic(a | b, s)))
}
fn xor(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, true, |a, b, _, s| ((a ^ b) & flags::mask(s), flags::logic(a ^ b, s)))
}
fn test(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    binop(x, i, false, |a, b, _, s| (0, flags::logic(a & b, s)))
}

/// INC/DEC leave CF alone (SDM Vol. 2A "INC").
fn inc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 0)?;
    let (r, f) = flags::add(a, 1, 0, size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS & !CF, f);
    Ok(())
}
fn dec(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 0)?;
    let (r, f) = flags::sub(a, 1, 0, size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS & !CF, f);
    Ok(())
}
/// NEG: CF = (source != 0), other flags as 0 - source.
fn neg(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 0)?;
    let (r, f) = flags::sub(0, a, 0, size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, f);
    Ok(())
}
/// NOT changes no flags.
fn not(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let a = x.read_op(i, 0)?;
    x.write_op(i, 0, !a)?;
    Ok(())
}
