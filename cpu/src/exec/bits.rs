//! Bit test and scan: BT, BTS, BTR, BTC, BSF, BSR, POPCNT, LZCNT, TZCNT (SDM Vol. 2A "BT",
//! "BTC", "BTR", "BTS", "BSF", "BSR", "LZCNT", Vol. 2B "POPCNT", "TZCNT"; Vol. 1 7.3.7).
//!
//! Bit offsets (SDM "BT", Table 3-2 "Range of Bit Positions Specified by Bit Offset Operands"):
//! an immediate offset, or any offset into a register, is taken modulo the operand width; a
//! register offset into a memory operand is a signed integer of the operand size that selects
//! the operand-sized word at EA + (offset SAR log2(width)) * size, so it reaches memory below
//! and above the operand.
//!
//! Flags the SDM leaves undefined, and what this core produces:
//! - BT/BTS/BTR/BTC: only CF is written; OF, SF, AF and PF (undefined) and ZF are unchanged.
//! - BSF/BSR: ZF = (source = 0); CF = OF = SF = AF = 0 and PF from the (possibly unchanged)
//!   destination's low byte, as Bochs models Intel cores (not verified on Intel silicon here).
//!   A zero source leaves the destination unchanged, except that a 32-bit destination register
//!   has its upper half cleared: Intel's architects describe the zero-source case as writing
//!   the old value back (quoted in Linux's `arch/x86/include/asm/bitops.h`).
//! - LZCNT/TZCNT: CF and ZF defined; OF, SF, AF and PF are cleared.
//! - POPCNT: all defined (OF, SF, AF, CF, PF cleared; ZF = (source = 0)).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::{mask, sign_extend, CF, PF, STATUS, ZF};
use crate::segment::SegReg;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// What a bit-test instruction does to the selected bit.
#[derive(Clone, Copy)]
enum BitOp {
    Test,
    Set,
    Reset,
    Complement,
}

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    let reg_into_mem = i.op_kind(0) == OpKind::Memory && i.op_kind(1) == OpKind::Register;
    Some(match (i.mnemonic(), reg_into_mem) {
        (Mnemonic::Bt, false) => bt,
        (Mnemonic::Bts, false) => bts,
        (Mnemonic::Btr, false) => btr,
        (Mnemonic::Btc, false) => btc,
        (Mnemonic::Bt, true) => bt_mem,
        (Mnemonic::Bts, true) => bts_mem,
        (Mnemonic::Btr, true) => btr_mem,
        (Mnemonic::Btc, true) => btc_mem,
        (Mnemonic::Bsf, _) => bsf,
        (Mnemonic::Bsr, _) => bsr,
        (Mnemonic::Popcnt, _) => popcnt,
        (Mnemonic::Lzcnt, _) => lzcnt,
        (Mnemonic::Tzcnt, _) => tzcnt,
        _ => return None,
    })
}

/// Applies `op` to bit `bit` of `v`; returns the new value and the old bit as CF.
#[inline(always)]
fn apply(op: BitOp, v: u64, bit: u32) -> (u64, u64) {
    let b = 1u64 << bit;
    let cf = if v & b != 0 { CF } else { 0 };
    let r = match op {
        BitOp::Test => v,
        BitOp::Set => v | b,
        BitOp::Reset => v & !b,
        BitOp::Complement => v ^ b,
    };
    (r, cf)
}

/// Register base, or memory base with an immediate offset: offset modulo the width.
#[inline(always)]
fn bit_in_operand(x: &mut Exec<'_>, i: &Instruction, op: BitOp) -> Result<()> {
    let size = x.op_size(i, 0);
    let bit = (x.read_op(i, 1)? % (size as u64 * 8)) as u32;
    let v = x.read_op(i, 0)?;
    let (r, cf) = apply(op, v, bit);
    if !matches!(op, BitOp::Test) {
        x.write_op(i, 0, r)?;
    }
    x.set_flags(CF, cf);
    Ok(())
}

/// The address-size mask of the memory operand (from the registers used, else from iced's
/// displacement size, which equals the address size for displacement-only forms).
pub(super) fn address_mask(i: &Instruction) -> u64 {
    let base = i.memory_base();
    let index = i.memory_index();
    let size = match base {
        Register::RIP => 8,
        Register::EIP => 4,
        Register::None if index != Register::None => index.size(),
        Register::None => match i.memory_displ_size() {
            2 => 2,
            4 => 4,
            8 => 8,
            _ => match i.code_size() {
                iced_x86::CodeSize::Code16 => 2,
                iced_x86::CodeSize::Code32 => 4,
                _ => 8,
            },
        },
        b => b.size(),
    };
    mask(size as u32)
}

/// Memory base with a register offset: the signed offset selects the word (SDM "BT").
#[inline(always)]
fn bit_in_memory(x: &mut Exec<'_>, i: &Instruction, op: BitOp) -> Result<()> {
    let size = x.op_size(i, 0);
    let bits = size as u64 * 8;
    let offset = sign_extend(x.reg(i.op1_register()), size) as i64;
    let word = offset >> bits.trailing_zeros();
    let bit = (offset as u64 % bits) as u32;
    let (seg, ea): (SegReg, u64) = x.mem_operand(i);
    let ea = ea.wrapping_add((word as u64).wrapping_mul(size as u64)) & address_mask(i);
    let v = x.read_mem(seg, ea, size)?;
    let (r, cf) = apply(op, v, bit);
    if !matches!(op, BitOp::Test) {
        x.write_mem(seg, ea, size, r)?;
    }
    x.set_flags(CF, cf);
    Ok(())
}

fn bt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_operand(x, i, BitOp::Test)
}
fn bts(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_operand(x, i, BitOp::Set)
}
fn btr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_operand(x, i, BitOp::Reset)
}
fn btc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_operand(x, i, BitOp::Complement)
}
fn bt_mem(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_memory(x, i, BitOp::Test)
}
fn bts_mem(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_memory(x, i, BitOp::Set)
}
fn btr_mem(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_memory(x, i, BitOp::Reset)
}
fn btc_mem(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_in_memory(x, i, BitOp::Complement)
}

/// PF of the low byte of `v`.
#[inline(always)]
fn parity(v: u64) -> u64 {
    if (v as u8).count_ones().is_multiple_of(2) { PF } else { 0 }
}

/// BSF/BSR: `scan` maps a non-zero source to the bit index.
#[inline(always)]
fn bit_scan(x: &mut Exec<'_>, i: &Instruction, scan: fn(u64, u32) -> u64) -> Result<()> {
    let size = x.op_size(i, 0);
    let src = x.read_op(i, 1)? & mask(size);
    let (r, zf) = if src == 0 { (x.read_op(i, 0)?, ZF) } else { (scan(src, size), 0) };
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, zf | parity(r));
    Ok(())
}

fn bsf(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_scan(x, i, |s, _| s.trailing_zeros() as u64)
}

fn bsr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    bit_scan(x, i, |s, _| 63 - s.leading_zeros() as u64)
}

/// POPCNT/LZCNT/TZCNT: `count` of the source, CF = `cf_if_zero_src` when the source is 0,
/// ZF from `zf_of_result` (POPCNT: ZF says the source was 0, which is the same thing).
#[inline(always)]
fn counter(x: &mut Exec<'_>, i: &Instruction, count: fn(u64, u32) -> u64, cf_if_zero_src: bool) -> Result<()> {
    let size = x.op_size(i, 0);
    let src = x.read_op(i, 1)? & mask(size);
    let r = count(src, size);
    x.write_op(i, 0, r)?;
    let cf = if cf_if_zero_src && src == 0 { CF } else { 0 };
    let zf = if r == 0 { ZF } else { 0 };
    x.set_flags(STATUS, cf | zf);
    Ok(())
}

fn popcnt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    counter(x, i, |s, _| s.count_ones() as u64, false)
}

fn lzcnt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    counter(x, i, |s, size| (s.leading_zeros() - (64 - size * 8)) as u64, true)
}

/// TZCNT (BMI1) of 0 is the operand width.
fn tzcnt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    counter(x, i, |s, size| if s == 0 { size as u64 * 8 } else { s.trailing_zeros() as u64 }, true)
}
