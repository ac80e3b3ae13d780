//! Exchange-and-compare instructions: XADD, CMPXCHG, CMPXCHG8B, CMPXCHG16B (SDM Vol. 2A
//! "CMPXCHG", "CMPXCHG8B/CMPXCHG16B", Vol. 2B "XADD"; Vol. 3A 9.1 "Locked Atomic Operations").
//!
//! LOCK: a vCPU executes one instruction at a time and vCPUs interleave only between
//! instructions, so every read-modify-write here is atomic with or without LOCK. LOCK with a
//! register destination, or on an instruction that does not allow it, is #UD (SDM Vol. 2A
//! "LOCK"); iced-x86 already decodes those as invalid, so they never reach these handlers.
//!
//! A memory destination is always written: on a failed comparison CMPXCHG, CMPXCHG8B and
//! CMPXCHG16B write back the value they read (SDM "CMPXCHG": "the destination operand is
//! written back if the comparison fails"), so a read-only destination faults either way. A
//! register destination of CMPXCHG is left alone when the comparison fails (upper half of a
//! 32-bit register included), as processors do despite the Operation section's "DEST <- TEMP";
//! the accumulator (EAX, EDX:EAX) is written, zero-extended, only on failure. Memory is
//! written before any register.
//! All flags are defined: XADD sets them as ADD, CMPXCHG as CMP of the accumulator with the
//! destination; CMPXCHG8B/16B write only ZF.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{self, mask, STATUS, ZF};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Xadd => xadd,
        Mnemonic::Cmpxchg => cmpxchg,
        Mnemonic::Cmpxchg8b => cmpxchg8b,
        Mnemonic::Cmpxchg16b => cmpxchg16b,
        _ => return None,
    })
}

/// XADD dest, src: TEMP = SRC + DEST; SRC = DEST; DEST = TEMP (so XADD r, r with one register
/// leaves the sum).
fn xadd(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let d = x.read_op(i, 0)?;
    let s = x.read_op(i, 1)?;
    let (sum, f) = flags::add(d, s, 0, size);
    if i.op_kind(0) == OpKind::Memory {
        x.write_op(i, 0, sum)?;
        x.write_op(i, 1, d)?;
    } else {
        x.write_op(i, 1, d)?;
        x.write_op(i, 0, sum)?;
    }
    x.set_flags(STATUS, f);
    Ok(())
}

fn accumulator(size: u32) -> Register {
    match size {
        1 => Register::AL,
        2 => Register::AX,
        4 => Register::EAX,
        _ => Register::RAX,
    }
}

/// CMPXCHG dest, src: compare the accumulator with dest; equal: dest = src; else the
/// accumulator = dest and dest is written back.
fn cmpxchg(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let d = x.read_op(i, 0)? & mask(size);
    let s = x.read_op(i, 1)?;
    let acc = accumulator(size);
    let a = x.reg(acc);
    let (_, f) = flags::sub(a, d, 0, size);
    if a == d {
        x.write_op(i, 0, s)?;
    } else {
        // Only a memory destination is written back; a register destination keeps all 64
        // bits (silicon, Intel and AMD alike: FEX-Emu PR #439, angr/vex PR #63).
        if i.op_kind(0) == OpKind::Memory {
            x.write_op(i, 0, d)?;
        }
        x.set_reg(acc, d);
    }
    x.set_flags(STATUS, f);
    Ok(())
}

/// CMPXCHG8B m64: compare EDX:EAX with m64; equal: m64 = ECX:EBX, else EDX:EAX = m64.
fn cmpxchg8b(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (seg, off) = x.mem_operand(i);
    let m = x.read_mem(seg, off, 8)?;
    let expected = x.reg(Register::EDX) << 32 | x.reg(Register::EAX);
    if m == expected {
        let new = x.reg(Register::ECX) << 32 | x.reg(Register::EBX);
        x.write_mem(seg, off, 8, new)?;
        x.set_flags(ZF, ZF);
    } else {
        x.write_mem(seg, off, 8, m)?;
        x.set_reg(Register::EAX, m & 0xffff_ffff);
        x.set_reg(Register::EDX, m >> 32);
        x.set_flags(ZF, 0);
    }
    Ok(())
}

/// CMPXCHG16B m128: as CMPXCHG8B with RDX:RAX and RCX:RBX; the operand must be 16-byte
/// aligned, else #GP(0) (SDM "CMPXCHG8B/CMPXCHG16B" 64-Bit Mode Exceptions).
fn cmpxchg16b(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (seg, off) = x.mem_operand(i);
    let la = x.linear(seg, off, 16, true)?;
    if la & 0xf != 0 {
        return Err(Exception::gp0().into());
    }
    let m = x.read_mem128(seg, off)?;
    let expected = (x.reg(Register::RDX) as u128) << 64 | x.reg(Register::RAX) as u128;
    if m == expected {
        let new = (x.reg(Register::RCX) as u128) << 64 | x.reg(Register::RBX) as u128;
        x.write_mem128(seg, off, new)?;
        x.set_flags(ZF, ZF);
    } else {
        x.write_mem128(seg, off, m)?;
        x.set_reg(Register::RAX, m as u64);
        x.set_reg(Register::RDX, (m >> 64) as u64);
        x.set_flags(ZF, 0);
    }
    Ok(())
}
