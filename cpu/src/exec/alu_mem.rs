//! ADD, ADC, SUB, SBB, CMP, AND, OR, XOR and TEST with a memory operand, specialised at decode
//! time for 64-bit code (SDM Vol. 2 instruction pages; flags per Vol. 1 Appendix A): `op reg,
//! [mem]` and `op [mem], reg/imm` on 4- or 8-byte operands, addressed by a 64-bit base (and
//! index) through any segment but FS and GS. They try the data fast path (`dtlb.rs`) and fall
//! back to the full memory path; the semantics are those of the generic handlers in `alu.rs`:
//! the memory operand is read, then (for all but CMP and TEST) written, and only then are the
//! flags (and a register destination) changed, so a fault leaves the state as it was.

use super::alu::{compute, op_of, writes, SRC_IMM32, SRC_IMM8, SRC_REG};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::STATUS;
use crate::operand::seg_of;
use iced_x86::{Instruction, OpKind};

// `handler` instantiates the operations by number.
const _: () = {
    use super::alu::{OP_ADC, OP_ADD, OP_AND, OP_CMP, OP_OR, OP_SBB, OP_SUB, OP_TEST, OP_XOR};
    assert!(OP_ADD == 0 && OP_ADC == 1 && OP_SUB == 2 && OP_SBB == 3 && OP_CMP == 4);
    assert!(OP_AND == 5 && OP_OR == 6 && OP_XOR == 7 && OP_TEST == 8);
};

/// A specialised handler for `i`, if it has one of the forms above.
pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    if i.code_size() != iced_x86::CodeSize::Code64 || i.op_count() != 2 || i.has_lock_prefix() || !super::mov::flat(i) {
        return None;
    }
    let op = op_of(i.mnemonic())?;
    let index = crate::operand::ea64_form(i)?;
    let gpr = |n: u32| i.op_kind(n) == OpKind::Register && i.op_register(n).is_gpr();
    macro_rules! by_op {
        ($f:ident, $size:expr $(, $c:expr)*) => {
            match op {
                0 => $f::<0, $size $(, $c)*>,
                1 => $f::<1, $size $(, $c)*>,
                2 => $f::<2, $size $(, $c)*>,
                3 => $f::<3, $size $(, $c)*>,
                4 => $f::<4, $size $(, $c)*>,
                5 => $f::<5, $size $(, $c)*>,
                6 => $f::<6, $size $(, $c)*>,
                7 => $f::<7, $size $(, $c)*>,
                _ => $f::<8, $size $(, $c)*>,
            }
        };
    }
    macro_rules! sized {
        ($size:expr, $f:ident $(, $c:expr)*) => {
            match $size {
                8 => by_op!($f, 8 $(, $c)*),
                4 => by_op!($f, 4 $(, $c)*),
                _ => return None,
            }
        };
    }
    macro_rules! indexed {
        ($size:expr, $f:ident $(, $c:expr)*) => {
            if index { sized!($size, $f $(, $c)*, true) } else { sized!($size, $f $(, $c)*, false) }
        };
    }
    Some(match (i.op0_kind(), i.op1_kind()) {
        (OpKind::Register, OpKind::Memory) if gpr(0) => indexed!(i.op0_register().size(), alu_rm),
        (OpKind::Memory, OpKind::Register) if gpr(1) => indexed!(i.op1_register().size(), alu_mr, SRC_REG),
        (OpKind::Memory, OpKind::Immediate8to32 | OpKind::Immediate8to64) => {
            indexed!(i.memory_size().size(), alu_mr, SRC_IMM8)
        }
        (OpKind::Memory, OpKind::Immediate32 | OpKind::Immediate32to64) => {
            indexed!(i.memory_size().size(), alu_mr, SRC_IMM32)
        }
        _ => return None,
    })
}

/// Reads the `SIZE`-byte memory operand at `off`: fast path, else the full path.
#[inline(always)]
fn load<const SIZE: u32>(x: &mut Exec<'_>, i: &Instruction, off: u64) -> Result<u64> {
    match x.fast_read_flat::<true>(off, SIZE) {
        Some(v) => Ok(v),
        None => x.read_mem_full(seg_of(i.memory_segment()), off, SIZE),
    }
}

/// `op reg, [mem]`.
fn alu_rm<const OP: u8, const SIZE: u32, const INDEX: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let b = load::<SIZE>(x, i, x.ea64::<INDEX>(i))?;
    let d = i.op0_register();
    let a = x.reg_sized::<SIZE>(d);
    let (r, f) = compute::<OP, SIZE>(a, b, x.cpu.state.rflags);
    if writes(OP) {
        x.set_reg_sized::<SIZE>(d, r);
    }
    x.set_flags(STATUS, f);
    Ok(())
}

/// `op [mem], reg/imm` (`SRC` as in `alu.rs`; immediates sign-extended, then truncated to
/// `SIZE` by the operation).
fn alu_mr<const OP: u8, const SIZE: u32, const SRC: u8, const INDEX: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let off = x.ea64::<INDEX>(i);
    let a = load::<SIZE>(x, i, off)?;
    let b = match SRC {
        SRC_REG => x.reg_sized::<SIZE>(i.op1_register()),
        SRC_IMM8 => i.immediate8() as i8 as i64 as u64,
        _ => i.immediate32() as i32 as i64 as u64,
    };
    let (r, f) = compute::<OP, SIZE>(a, b, x.cpu.state.rflags);
    if writes(OP) && !x.fast_write_flat::<true>(off, SIZE, r) {
        x.write_mem_full(seg_of(i.memory_segment()), off, SIZE, r)?;
    }
    x.set_flags(STATUS, f);
    Ok(())
}
