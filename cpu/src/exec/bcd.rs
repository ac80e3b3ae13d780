//! Decimal arithmetic and other legacy-only integer instructions: DAA, DAS, AAA, AAS, AAM,
//! AAD, BOUND, ARPL, SALC (SDM Vol. 2A "AAA", "AAD", "AAM", "AAS", "ARPL", "BOUND", "DAA",
//! "DAS"; Vol. 1 7.3.2.3 "Decimal Arithmetic Instructions").
//!
//! All of them are invalid in 64-bit mode, where iced-x86 decodes them as invalid (#UD);
//! ARPL is additionally #UD in real-address and virtual-8086 mode (SDM "ARPL").
//! SALC (D6) is undocumented by Intel; iced-x86 decodes it in 16/32-bit code and this core
//! implements what Intel processors do: AL = CF ? FFH : 00H, flags unchanged.
//!
//! Flags the SDM leaves undefined, and what this core produces (not verified on silicon):
//! DAA/DAS: OF = 0; AAA/AAS: SF, ZF, PF from the final AL, OF = 0; AAM/AAD: OF = AF = CF = 0.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{sign_extend, szp, AF, CF, STATUS, ZF};
use crate::state::Mode;
use iced_x86::{Instruction, Mnemonic, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Daa => daa,
        Mnemonic::Das => das,
        Mnemonic::Aaa => aaa,
        Mnemonic::Aas => aas,
        Mnemonic::Aam => aam,
        Mnemonic::Aad => aad,
        Mnemonic::Bound => bound,
        Mnemonic::Arpl => arpl,
        Mnemonic::Salc => salc,
        _ => return None,
    })
}

fn flag(set: bool, f: u64) -> u64 {
    if set { f } else { 0 }
}

/// DAA (SDM "DAA" Operation, verbatim order).
fn daa(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let old_al = x.reg(Register::AL);
    let old_cf = x.cpu.state.rflags & CF != 0;
    let af = x.cpu.state.rflags & AF != 0;
    let mut al = old_al;
    let mut new_af = false;
    if (al & 0xf) > 9 || af {
        // CF <- old_CF OR carry: overwritten by the second step either way.
        al = (al + 6) & 0xff;
        new_af = true;
    }
    let cf = old_al > 0x99 || old_cf;
    if cf {
        al = (al + 0x60) & 0xff;
    }
    x.set_reg(Register::AL, al);
    x.set_flags(STATUS, szp(al, 1) | flag(cf, CF) | flag(new_af, AF));
    Ok(())
}

/// DAS (SDM "DAS" Operation): unlike DAA, the second step has no ELSE clearing CF.
fn das(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let old_al = x.reg(Register::AL);
    let old_cf = x.cpu.state.rflags & CF != 0;
    let af = x.cpu.state.rflags & AF != 0;
    let mut al = old_al;
    let mut cf = false;
    let mut new_af = false;
    if (al & 0xf) > 9 || af {
        cf = old_cf || al < 6;
        al = al.wrapping_sub(6) & 0xff;
        new_af = true;
    }
    if old_al > 0x99 || old_cf {
        al = al.wrapping_sub(0x60) & 0xff;
        cf = true;
    }
    x.set_reg(Register::AL, al);
    x.set_flags(STATUS, szp(al, 1) | flag(cf, CF) | flag(new_af, AF));
    Ok(())
}

/// AAA: AX += 106H when AL's low digit exceeds 9 or AF, then AL &= 0FH.
fn aaa(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let mut ax = x.reg(Register::AX);
    let adjust = (ax & 0xf) > 9 || x.cpu.state.rflags & AF != 0;
    if adjust {
        ax = ax.wrapping_add(0x106) & 0xffff;
    }
    ax &= 0xff0f;
    x.set_reg(Register::AX, ax);
    x.set_flags(STATUS, szp(ax & 0xff, 1) | flag(adjust, AF | CF));
    Ok(())
}

/// AAS: AX -= 6 and AH -= 1 when AL's low digit exceeds 9 or AF, then AL &= 0FH.
fn aas(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let mut ax = x.reg(Register::AX);
    let adjust = (ax & 0xf) > 9 || x.cpu.state.rflags & AF != 0;
    if adjust {
        ax = ax.wrapping_sub(6) & 0xffff;
        ax = ax.wrapping_sub(0x100) & 0xffff;
    }
    ax &= 0xff0f;
    x.set_reg(Register::AX, ax);
    x.set_flags(STATUS, szp(ax & 0xff, 1) | flag(adjust, AF | CF));
    Ok(())
}

/// AAM imm8: AH = AL / imm8, AL = AL mod imm8; imm8 = 0 raises #DE.
fn aam(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let base = i.immediate8() as u64;
    if base == 0 {
        return Err(Exception::de().into());
    }
    let al = x.reg(Register::AL);
    let (ah, al) = (al / base, al % base);
    x.set_reg(Register::AX, ah << 8 | al);
    x.set_flags(STATUS, szp(al, 1));
    Ok(())
}

/// AAD imm8: AL = (AL + AH * imm8) AND FFH, AH = 0.
fn aad(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let base = i.immediate8() as u64;
    let ax = x.reg(Register::AX);
    let al = ((ax & 0xff) + (ax >> 8) * base) & 0xff;
    x.set_reg(Register::AX, al);
    x.set_flags(STATUS, szp(al, 1));
    Ok(())
}

/// BOUND r, m16&16 / m32&32: #BR unless lower <= index <= upper (signed).
fn bound(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = x.op_size(i, 0);
    let index = sign_extend(x.reg(i.op0_register()), size) as i64;
    let (seg, off) = x.mem_operand(i);
    let off_mask = super::bits::address_mask(i);
    let lower = sign_extend(x.read_mem(seg, off, size)?, size) as i64;
    let upper = sign_extend(x.read_mem(seg, off.wrapping_add(size as u64) & off_mask, size)?, size) as i64;
    if index < lower || index > upper {
        return Err(Exception::br().into());
    }
    Ok(())
}

/// ARPL r/m16, r16: raise the destination's RPL to the source's, ZF says whether it did.
/// A memory destination is checked for writability even when it is left unchanged (it is a
/// read-modify-write).
fn arpl(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if matches!(x.cpu.state.mode(), Mode::Real | Mode::Virtual8086) {
        return Err(Exception::ud().into());
    }
    let d = x.read_op(i, 0)?;
    if i.op_kind(0) == iced_x86::OpKind::Memory {
        let (seg, off) = x.mem_operand(i);
        x.probe_write(seg, off, 2)?;
    }
    let s = x.reg(i.op1_register());
    if d & 3 < s & 3 {
        x.write_op(i, 0, (d & !3) | (s & 3))?;
        x.set_flags(ZF, ZF);
    } else {
        x.set_flags(ZF, 0);
    }
    Ok(())
}

/// SALC: AL = FFH if CF else 00H (undocumented; flags unchanged).
fn salc(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let v = if x.cpu.state.rflags & CF != 0 { 0xff } else { 0 };
    x.set_reg(Register::AL, v);
    Ok(())
}
