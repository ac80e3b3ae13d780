//! Binary arithmetic and logic: ADD, ADC, SUB, SBB, CMP, AND, OR, XOR, TEST, INC, DEC, NEG,
//! NOT (SDM Vol. 2 instruction pages; flags per Vol. 1 Appendix A).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::{self, CF, STATUS};
use iced_x86::{Instruction, Mnemonic, OpKind};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    if let Some(h) = fast_handler(i).or_else(|| incdec_fast(i)).or_else(|| super::alu_mem::handler(i)) {
        return Some(h);
    }
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

// Register-destination forms, chosen at decode time: the operation and size are constants,
// so the hot loop does no operand-kind dispatch. Same semantics as the generic handlers.

pub(super) const OP_ADD: u8 = 0;
pub(super) const OP_ADC: u8 = 1;
pub(super) const OP_SUB: u8 = 2;
pub(super) const OP_SBB: u8 = 3;
pub(super) const OP_CMP: u8 = 4;
pub(super) const OP_AND: u8 = 5;
pub(super) const OP_OR: u8 = 6;
pub(super) const OP_XOR: u8 = 7;
pub(super) const OP_TEST: u8 = 8;

/// A specialised handler for `op reg, reg` / `op reg, imm`, if `i` is one.
fn fast_handler(i: &Instruction) -> Option<Handler> {
    if i.op_count() != 2 || i.op0_kind() != OpKind::Register || i.has_lock_prefix() {
        return None;
    }
    // The source: a register, an immediate sign-extended from 8 bits, or one stored as
    // 8, 16 or 32 bits (sign-extended from 32 bits, which the operation then truncates to
    // its size: the same value iced-x86 reports).
    let imm = match i.op1_kind() {
        OpKind::Register => SRC_REG,
        OpKind::Immediate8to16 | OpKind::Immediate8to32 | OpKind::Immediate8to64 => SRC_IMM8,
        OpKind::Immediate8 | OpKind::Immediate16 | OpKind::Immediate32 | OpKind::Immediate32to64 => SRC_IMM32,
        _ => return None,
    };
    let op = op_of(i.mnemonic())?;
    macro_rules! by_src {
        ($op:expr, $size:expr) => {
            match imm {
                SRC_REG => alu_reg::<{ $op }, $size, SRC_REG>,
                SRC_IMM8 => alu_reg::<{ $op }, $size, SRC_IMM8>,
                _ => alu_reg::<{ $op }, $size, SRC_IMM32>,
            }
        };
    }
    macro_rules! pick {
        ($op:expr, $size:expr) => {
            match $op {
                OP_ADD => by_src!(OP_ADD, $size),
                OP_ADC => by_src!(OP_ADC, $size),
                OP_SUB => by_src!(OP_SUB, $size),
                OP_SBB => by_src!(OP_SBB, $size),
                OP_CMP => by_src!(OP_CMP, $size),
                OP_AND => by_src!(OP_AND, $size),
                OP_OR => by_src!(OP_OR, $size),
                OP_XOR => by_src!(OP_XOR, $size),
                _ => by_src!(OP_TEST, $size),
            }
        };
    }
    Some(match i.op0_register().size() {
        1 => pick!(op, 1),
        2 => pick!(op, 2),
        4 => pick!(op, 4),
        _ => pick!(op, 8),
    })
}

pub(super) const SRC_REG: u8 = 0;
pub(super) const SRC_IMM8: u8 = 1;
pub(super) const SRC_IMM32: u8 = 2;

#[inline(always)]
fn alu_reg<const OP: u8, const SIZE: u32, const SRC: u8>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let d = i.op0_register();
    let a = x.reg_sized::<SIZE>(d);
    let b = match SRC {
        SRC_REG => x.reg_sized::<SIZE>(i.op1_register()),
        SRC_IMM8 => i.immediate8() as i8 as i64 as u64,
        _ => i.immediate32() as i32 as i64 as u64,
    };
    let (r, f) = compute::<OP, SIZE>(a, b, x.cpu.state.rflags);
    if writes(OP) {
        x.set_reg_sized::<SIZE>(d, r);
    }
    x.set_flags(STATUS, f);
    Ok(())
}

/// Whether operation `op` writes its destination (all but CMP and TEST).
pub(super) const fn writes(op: u8) -> bool {
    op != OP_CMP && op != OP_TEST
}

/// Result and status flags of operation `OP` on `SIZE`-byte operands (`rflags` supplies CF).
#[inline(always)]
pub(super) fn compute<const OP: u8, const SIZE: u32>(a: u64, b: u64, rflags: u64) -> (u64, u64) {
    let cf = rflags & CF;
    let m = flags::mask(SIZE);
    match OP {
        OP_ADD => flags::add(a, b, 0, SIZE),
        OP_ADC => flags::add(a, b, cf, SIZE),
        OP_SUB | OP_CMP => flags::sub(a, b, 0, SIZE),
        OP_SBB => flags::sub(a, b, cf, SIZE),
        OP_AND | OP_TEST => (a & b & m, flags::logic(a & b, SIZE)),
        OP_OR => ((a | b) & m, flags::logic(a | b, SIZE)),
        _ => ((a ^ b) & m, flags::logic(a ^ b, SIZE)),
    }
}

/// The operation number of `m` for the specialised handlers.
pub(super) fn op_of(m: Mnemonic) -> Option<u8> {
    Some(match m {
        Mnemonic::Add => OP_ADD,
        Mnemonic::Adc => OP_ADC,
        Mnemonic::Sub => OP_SUB,
        Mnemonic::Sbb => OP_SBB,
        Mnemonic::Cmp => OP_CMP,
        Mnemonic::And => OP_AND,
        Mnemonic::Or => OP_OR,
        Mnemonic::Xor => OP_XOR,
        Mnemonic::Test => OP_TEST,
        _ => return None,
    })
}

/// INC/DEC of a register, chosen at decode time.
pub(super) fn incdec_fast(i: &Instruction) -> Option<Handler> {
    if i.op0_kind() != OpKind::Register || i.has_lock_prefix() {
        return None;
    }
    let inc = match i.mnemonic() {
        Mnemonic::Inc => true,
        Mnemonic::Dec => false,
        _ => return None,
    };
    Some(match (inc, i.op0_register().size()) {
        (true, 1) => incdec_reg::<true, 1>,
        (true, 2) => incdec_reg::<true, 2>,
        (true, 4) => incdec_reg::<true, 4>,
        (true, _) => incdec_reg::<true, 8>,
        (false, 1) => incdec_reg::<false, 1>,
        (false, 2) => incdec_reg::<false, 2>,
        (false, 4) => incdec_reg::<false, 4>,
        (false, _) => incdec_reg::<false, 8>,
    })
}

#[inline(always)]
fn incdec_reg<const INC: bool, const SIZE: u32>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let d = i.op0_register();
    let a = x.reg_sized::<SIZE>(d);
    let (r, f) = if INC { flags::add(a, 1, 0, SIZE) } else { flags::sub(a, 1, 0, SIZE) };
    x.set_reg_sized::<SIZE>(d, r);
    x.set_flags(STATUS & !CF, f);
    Ok(())
}
