//! Data movement: MOV, MOVZX, MOVSX, MOVSXD, LEA, XCHG, CMOVcc, SETcc, BSWAP, MOVBE,
//! CBW/CWDE/CDQE, CWD/CDQ/CQO, NOP, XLAT (SDM Vol. 1 7.3.1, Vol. 2 instruction pages).
//! MOV to or from segment, control and debug registers lives in `system.rs`.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::sign_extend;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    if i.mnemonic() == Mnemonic::Mov
        && let Some(h) = mov_fast(i)
    {
        return Some(h);
    }
    Some(match i.mnemonic() {
        Mnemonic::Mov if !special_mov(i) => mov,
        Mnemonic::Movzx => movzx,
        Mnemonic::Movsx | Mnemonic::Movsxd => movsx,
        Mnemonic::Lea => lea,
        Mnemonic::Xchg => xchg,
        Mnemonic::Cmovo
        | Mnemonic::Cmovno
        | Mnemonic::Cmovb
        | Mnemonic::Cmovae
        | Mnemonic::Cmove
        | Mnemonic::Cmovne
        | Mnemonic::Cmovbe
        | Mnemonic::Cmova
        | Mnemonic::Cmovs
        | Mnemonic::Cmovns
        | Mnemonic::Cmovp
        | Mnemonic::Cmovnp
        | Mnemonic::Cmovl
        | Mnemonic::Cmovge
        | Mnemonic::Cmovle
        | Mnemonic::Cmovg => cmov,
        Mnemonic::Seto
        | Mnemonic::Setno
        | Mnemonic::Setb
        | Mnemonic::Setae
        | Mnemonic::Sete
        | Mnemonic::Setne
        | Mnemonic::Setbe
        | Mnemonic::Seta
        | Mnemonic::Sets
        | Mnemonic::Setns
        | Mnemonic::Setp
        | Mnemonic::Setnp
        | Mnemonic::Setl
        | Mnemonic::Setge
        | Mnemonic::Setle
        | Mnemonic::Setg => setcc,
        Mnemonic::Bswap => bswap,
        Mnemonic::Movbe => movbe,
        Mnemonic::Cbw | Mnemonic::Cwde | Mnemonic::Cdqe => cbw,
        Mnemonic::Cwd | Mnemonic::Cdq | Mnemonic::Cqo => cwd,
        Mnemonic::Nop => nop,
        Mnemonic::Xlatb => xlat,
        _ => return None,
    })
}

/// MOV forms with a segment, control or debug register operand.
pub(super) fn special_mov(i: &Instruction) -> bool {
    (0..2).any(|n| {
        i.op_kind(n) == OpKind::Register && {
            let r = i.op_register(n);
            r.is_segment_register() || r.is_cr() || r.is_dr() || r.is_tr()
        }
    })
}

// MOV forms of 64-bit code chosen at decode time: 4- and 8-byte general registers,
// immediates and memory operands with a 64-bit base (and index). Same semantics as `mov`.

/// A specialised MOV handler for `i`, if it has one of those forms.
fn mov_fast(i: &Instruction) -> Option<Handler> {
    if i.code_size() != iced_x86::CodeSize::Code64 || i.op_count() != 2 || special_mov(i) {
        return None;
    }
    let gpr = |n: u32| i.op_kind(n) == OpKind::Register && i.op_register(n).is_gpr();
    let size = |n: u32| i.op_register(n).size();
    macro_rules! sized {
        ($n:expr, $f:ident $(, $c:expr)*) => {
            match size($n) {
                8 => $f::<8 $(, $c)*>,
                4 => $f::<4 $(, $c)*>,
                _ => return None,
            }
        };
    }
    Some(match (i.op0_kind(), i.op1_kind()) {
        (OpKind::Register, OpKind::Register) if gpr(0) && gpr(1) && size(0) == size(1) => sized!(0, mov_rr),
        (OpKind::Register, OpKind::Immediate64) if gpr(0) => sized!(0, mov_ri, true),
        (OpKind::Register, OpKind::Immediate32 | OpKind::Immediate32to64) if gpr(0) => sized!(0, mov_ri, false),
        (OpKind::Register, OpKind::Memory) if gpr(0) => match (crate::operand::ea64_form(i)?, flat(i)) {
            (true, true) => sized!(0, mov_load, true, true),
            (true, false) => sized!(0, mov_load, true, false),
            (false, true) => sized!(0, mov_load, false, true),
            (false, false) => sized!(0, mov_load, false, false),
        },
        (OpKind::Memory, OpKind::Register) if gpr(1) => match (crate::operand::ea64_form(i)?, flat(i)) {
            (true, true) => sized!(1, mov_store, true, true),
            (true, false) => sized!(1, mov_store, true, false),
            (false, true) => sized!(1, mov_store, false, true),
            (false, false) => sized!(1, mov_store, false, false),
        },
        _ => return None,
    })
}

fn mov_rr<const SIZE: u32>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.reg_sized::<SIZE>(i.op1_register());
    x.set_reg_sized::<SIZE>(i.op0_register(), v);
    Ok(())
}

fn mov_ri<const SIZE: u32, const IMM64: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = if IMM64 { i.immediate64() } else { i.immediate32() as i32 as i64 as u64 };
    x.set_reg_sized::<SIZE>(i.op0_register(), v);
    Ok(())
}

/// Whether the memory operand's segment is neither FS nor GS (in 64-bit mode: base 0).
pub(super) fn flat(i: &Instruction) -> bool {
    !matches!(i.memory_segment(), Register::FS | Register::GS)
}

/// `FLAT`: see [`flat`]; such loads and stores try the data fast path (`dtlb.rs`) first and
/// leave misses to a separate function, so that the hit path needs no stack frame.
fn mov_load<const SIZE: u32, const INDEX: bool, const FLAT: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if FLAT {
        match x.fast_read_flat::<true>(x.ea64::<INDEX>(i), SIZE) {
            Some(v) => x.set_reg_sized::<SIZE>(i.op0_register(), v),
            None => return mov_load_full::<SIZE, INDEX>(x, i),
        }
        return Ok(());
    }
    mov_load_full::<SIZE, INDEX>(x, i)
}

#[inline(never)]
fn mov_load_full<const SIZE: u32, const INDEX: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let off = x.ea64::<INDEX>(i);
    let v = x.read_mem_full(crate::operand::seg_of(i.memory_segment()), off, SIZE)?;
    x.set_reg_sized::<SIZE>(i.op0_register(), v);
    Ok(())
}

fn mov_store<const SIZE: u32, const INDEX: bool, const FLAT: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if FLAT {
        let v = x.reg_sized::<SIZE>(i.op1_register());
        if x.fast_write_flat::<true>(x.ea64::<INDEX>(i), SIZE, v) {
            return Ok(());
        }
    }
    mov_store_full::<SIZE, INDEX>(x, i)
}

#[inline(never)]
fn mov_store_full<const SIZE: u32, const INDEX: bool>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let off = x.ea64::<INDEX>(i);
    let v = x.reg_sized::<SIZE>(i.op1_register());
    x.write_mem_full(crate::operand::seg_of(i.memory_segment()), off, SIZE, v)
}

fn mov(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.read_op(i, 1)?;
    x.write_op(i, 0, v)
}

fn movzx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.read_op(i, 1)?;
    x.write_op(i, 0, v)
}

fn movsx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 1);
    let v = x.read_op(i, 1)?;
    x.write_op(i, 0, sign_extend(v, size))
}

fn lea(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let ea = x.effective_address(i);
    x.write_op(i, 0, ea)
}

/// XCHG with memory is implicitly locked; both operands are read before either is written.
fn xchg(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let a = x.read_op(i, 0)?;
    let b = x.read_op(i, 1)?;
    // Write the memory operand (if any) first: a fault there must leave registers unchanged.
    if i.op_kind(0) == OpKind::Memory {
        x.write_op(i, 0, b)?;
        x.write_op(i, 1, a)
    } else {
        x.write_op(i, 1, a)?;
        x.write_op(i, 0, b)
    }
}

/// CMOVcc reads its source even when the condition is false (a memory source can fault),
/// and a 32-bit destination is zero-extended either way (SDM Vol. 2A "CMOVcc").
fn cmov(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.read_op(i, 1)?;
    if x.condition(i.condition_code()) {
        x.write_op(i, 0, v)
    } else {
        let cur = x.read_op(i, 0)?;
        x.write_op(i, 0, cur)
    }
}

fn setcc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.condition(i.condition_code()) as u64;
    x.write_op(i, 0, v)
}

/// BSWAP of a 16-bit register is undefined by the SDM; like Intel silicon, it clears it.
fn bswap(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let r = i.op0_register();
    let v = x.reg(r);
    let out = match r.size() {
        8 => v.swap_bytes(),
        4 => (v as u32).swap_bytes() as u64,
        _ => 0,
    };
    x.set_reg(r, out);
    Ok(())
}

fn movbe(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let v = x.read_op(i, 1)?;
    let out = match size {
        2 => (v as u16).swap_bytes() as u64,
        4 => (v as u32).swap_bytes() as u64,
        _ => v.swap_bytes(),
    };
    x.write_op(i, 0, out)
}

/// CBW/CWDE/CDQE: sign-extend the lower half of the accumulator.
fn cbw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (dst, half) = match i.mnemonic() {
        Mnemonic::Cbw => (Register::AX, 1),
        Mnemonic::Cwde => (Register::EAX, 2),
        _ => (Register::RAX, 4),
    };
    let v = x.reg(Register::RAX);
    x.set_reg(dst, sign_extend(v, half));
    Ok(())
}

/// CWD/CDQ/CQO: the accumulator's sign into DX/EDX/RDX.
fn cwd(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (src, dst, size) = match i.mnemonic() {
        Mnemonic::Cwd => (Register::AX, Register::DX, 2),
        Mnemonic::Cdq => (Register::EAX, Register::EDX, 4),
        _ => (Register::RAX, Register::RDX, 8),
    };
    let neg = x.reg(src) & crate::flags::sign_bit(size) != 0;
    x.set_reg(dst, if neg { u64::MAX } else { 0 });
    Ok(())
}

/// NOP, including the multi-byte 0F 1F forms (no memory access is made).
fn nop(_: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    Ok(())
}

/// XLAT: AL = [seg:rBX + AL].
fn xlat(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let base = i.memory_base();
    let off = x.reg(base).wrapping_add(x.reg(Register::AL));
    let off = match base.size() {
        2 => off & 0xffff,
        4 => off & 0xffff_ffff,
        _ => off,
    };
    let seg = crate::operand::seg_of(i.memory_segment());
    let v = x.read_mem(seg, off, 1)?;
    x.set_reg(Register::AL, v);
    Ok(())
}
