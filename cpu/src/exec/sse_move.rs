//! SSE/SSE2/SSE3 data movement and state instructions (SDM Vol. 1 10.4.1, 11.4.1; Vol. 2
//! instruction pages MOVAPS ... MOVDDUP, LDMXCSR, STMXCSR, CLFLUSH, PREFETCHh, MASKMOVDQU,
//! MOVMSKPS/PD, PMOVMSKB, PINSRW, PEXTRW, EMMS) and the MMX forms of MOVD/MOVQ.

use super::simd::{lane, set_lane, uses_mmx, MXCSR_MASK};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use iced_x86::{Instruction, Mnemonic, OpKind};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    let xmm_form = (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Register && i.op_register(n).is_xmm());
    Some(match i.mnemonic() {
        Mnemonic::Movaps
        | Mnemonic::Movups
        | Mnemonic::Movapd
        | Mnemonic::Movupd
        | Mnemonic::Movdqa
        | Mnemonic::Movdqu
        | Mnemonic::Lddqu
        | Mnemonic::Movntps
        | Mnemonic::Movntpd
        | Mnemonic::Movntdq
        | Mnemonic::Movntdqa => mov128,
        Mnemonic::Movd | Mnemonic::Movq => movd,
        Mnemonic::Movq2dq | Mnemonic::Movdq2q | Mnemonic::Movntq => movd,
        Mnemonic::Movss if xmm_form => |x, i| movs(x, i, 32),
        Mnemonic::Movsd if xmm_form => |x, i| movs(x, i, 64),
        Mnemonic::Movlps | Mnemonic::Movlpd => |x, i| movhl(x, i, 0),
        Mnemonic::Movhps | Mnemonic::Movhpd => |x, i| movhl(x, i, 1),
        Mnemonic::Movhlps => movhlps,
        Mnemonic::Movlhps => movlhps,
        Mnemonic::Movmskps => |x, i| movmsk(x, i, 32),
        Mnemonic::Movmskpd => |x, i| movmsk(x, i, 64),
        Mnemonic::Pmovmskb => |x, i| movmsk(x, i, 8),
        Mnemonic::Movnti => movnti,
        Mnemonic::Maskmovdqu | Mnemonic::Maskmovq => maskmov,
        Mnemonic::Pinsrw => pinsrw,
        Mnemonic::Pextrw => pextrw,
        Mnemonic::Ldmxcsr => ldmxcsr,
        Mnemonic::Stmxcsr => stmxcsr,
        Mnemonic::Clflush | Mnemonic::Clflushopt => clflush,
        Mnemonic::Prefetchnta | Mnemonic::Prefetcht0 | Mnemonic::Prefetcht1 | Mnemonic::Prefetcht2 => |_, _| Ok(()),
        Mnemonic::Emms => emms,
        Mnemonic::Movshdup => |x, i| dup32(x, i, 1),
        Mnemonic::Movsldup => |x, i| dup32(x, i, 0),
        Mnemonic::Movddup => movddup,
        _ => return None,
    })
}

/// Full 128-bit moves; the memory forms' alignment follows the mnemonic.
fn mov128(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let v = x.vread(i, 1)?;
    x.vwrite(i, 0, v)
}

/// MOVD/MOVQ in all forms (XMM, MMX, general register, memory), MOVQ2DQ, MOVDQ2Q, MOVNTQ:
/// a write to an XMM register zero-extends to 128 bits; to an MMX register, to 64.
fn movd(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.vector_available(i)?;
    let v = x.vread(i, 1)?;
    let size = if i.mnemonic() == Mnemonic::Movd { 4 } else { 8 };
    let v = if size == 4 { v as u32 as u128 } else { v as u64 as u128 };
    x.vwrite(i, 0, v)
}

/// MOVSS/MOVSD: register to register merges the low element; a load zeroes the rest.
fn movs(x: &mut Exec<'_>, i: &Instruction, bits: u32) -> Result<()> {
    x.sse_available()?;
    let v = x.vread(i, 1)? & (super::simd::lmask(bits) as u128);
    match (i.op_kind(0), i.op_kind(1)) {
        (OpKind::Register, OpKind::Register) => {
            let d = x.vreg(i.op0_register());
            x.set_vreg(i.op0_register(), set_lane(d, bits, 0, v as u64));
            Ok(())
        }
        _ => x.vwrite(i, 0, v),
    }
}

/// MOVLPS/MOVLPD (`half` 0) and MOVHPS/MOVHPD (`half` 1): 64-bit load into one half or store.
fn movhl(x: &mut Exec<'_>, i: &Instruction, half: u32) -> Result<()> {
    x.sse_available()?;
    if i.op_kind(0) == OpKind::Memory {
        let v = lane(x.vreg(i.op1_register()), 64, half);
        return x.vwrite(i, 0, v as u128);
    }
    let v = x.vread(i, 1)? as u64;
    let d = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), set_lane(d, 64, half, v));
    Ok(())
}

fn movhlps(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let s = x.vreg(i.op1_register());
    let d = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), set_lane(d, 64, 0, lane(s, 64, 1)));
    Ok(())
}

fn movlhps(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let s = x.vreg(i.op1_register());
    let d = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), set_lane(d, 64, 1, lane(s, 64, 0)));
    Ok(())
}

/// MOVMSKPS/PD and PMOVMSKB: the sign bit of each element into a general register
/// (zero-extended to its full width).
fn movmsk(x: &mut Exec<'_>, i: &Instruction, bits: u32) -> Result<()> {
    x.vector_available(i)?;
    let s = x.vreg(i.op1_register());
    let n = if i.op1_register().is_mm() { 64 / bits } else { 128 / bits };
    let mut m = 0u64;
    for k in 0..n {
        m |= (lane(s, bits, k) >> (bits - 1)) << k;
    }
    let r = i.op0_register();
    x.set_reg(r.full_register(), m);
    Ok(())
}

/// MOVNTI: a general-register store (non-temporal hint ignored; no SSE state involved).
fn movnti(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.read_op(i, 1)?;
    x.write_op(i, 0, v)
}

/// MASKMOVDQU / MASKMOVQ: stores the bytes of operand 1 selected by the sign bits of
/// operand 2 at DS:rDI (segment overridable). The whole 16 (8) bytes are checked for
/// writability first, as implementations may fault on masked-off bytes (SDM page).
fn maskmov(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.vector_available(i)?;
    let mmx = uses_mmx(i);
    let n: u32 = if mmx { 8 } else { 16 };
    let src = x.vreg(i.op1_register());
    let mask = x.vreg(i.op2_register());
    let seg = crate::operand::seg_of(i.memory_segment());
    let di = match i.op_kind(0) {
        OpKind::MemorySegDI => x.gpr(7) & 0xffff,
        OpKind::MemorySegEDI => x.gpr(7) & 0xffff_ffff,
        _ => x.gpr(7),
    };
    if mask & ((1u128 << (n * 8)) - 1) == 0 {
        return Ok(());
    }
    x.probe_write(seg, di, n)?;
    for k in 0..n {
        if lane(mask, 8, k) & 0x80 != 0 {
            x.write_mem(seg, di.wrapping_add(k as u64), 1, lane(src, 8, k))?;
        }
    }
    Ok(())
}

/// PINSRW: inserts a word from a general register or m16 (SSE2 XMM form, SSE MMX form).
fn pinsrw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.vector_available(i)?;
    let words = if i.op0_register().is_mm() { 4 } else { 8 };
    let v = match i.op_kind(1) {
        OpKind::Register => x.reg(i.op1_register()),
        _ => {
            let (seg, off) = x.mem_operand(i);
            x.read_mem(seg, off, 2)?
        }
    };
    let k = i.immediate8() as u32 % words;
    let d = x.vreg(i.op0_register());
    x.set_vreg(i.op0_register(), set_lane(d, 16, k, v));
    Ok(())
}

/// PEXTRW: extracts a word, zero-extended, into a general register (or m16, SSE4.1 form).
fn pextrw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.vector_available(i)?;
    let src = i.op1_register();
    let words = if src.is_mm() { 4 } else { 8 };
    let v = lane(x.vreg(src), 16, i.immediate8() as u32 % words);
    match i.op_kind(0) {
        OpKind::Register => {
            x.set_reg(i.op0_register().full_register(), v);
            Ok(())
        }
        _ => {
            let (seg, off) = x.mem_operand(i);
            x.write_mem(seg, off, 2, v)
        }
    }
}

/// LDMXCSR: #GP(0) if a reserved bit (outside MXCSR_MASK) is set.
fn ldmxcsr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let (seg, off) = x.mem_operand(i);
    let v = x.read_mem(seg, off, 4)? as u32;
    if v & !MXCSR_MASK != 0 {
        return Err(Exception::gp0().into());
    }
    x.cpu.state.mxcsr = v;
    Ok(())
}

fn stmxcsr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let (seg, off) = x.mem_operand(i);
    x.write_mem(seg, off, 4, x.cpu.state.mxcsr as u64)
}

/// CLFLUSH/CLFLUSHOPT: caches are not modelled; the access is checked like a byte load.
fn clflush(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (seg, off) = x.mem_operand(i);
    let la = x.linear(seg, off, 1, false)?;
    let access = hvbench_mmu::paging::Access::new(
        hvbench_mmu::paging::AccessKind::Read,
        x.cpu.state.cpl,
        x.cpu.state.rflags & crate::flags::AC != 0,
    );
    x.translate_as(la, access)?;
    Ok(())
}

/// EMMS: marks all x87 registers empty and sets TOP to 0 (SDM Vol. 1 9.5.1, Table 9-2:
/// "EMMS: all tags 11B (empty), TOS 000B").
fn emms(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    x.mmx_available()?;
    x.mmx_transition();
    x.cpu.state.fpu.ftw = 0;
    Ok(())
}

/// MOVSHDUP (`odd` 1) / MOVSLDUP (`odd` 0).
fn dup32(x: &mut Exec<'_>, i: &Instruction, odd: u32) -> Result<()> {
    x.sse_available()?;
    let s = x.vread(i, 1)?;
    let mut r = 0u128;
    for k in 0..4 {
        r = set_lane(r, 32, k, lane(s, 32, (k & !1) | odd));
    }
    x.set_vreg(i.op0_register(), r);
    Ok(())
}

/// MOVDDUP: the low quadword into both halves (m64 source needs no alignment).
fn movddup(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.sse_available()?;
    let s = x.vread(i, 1)? as u64 as u128;
    x.set_vreg(i.op0_register(), s | s << 64);
    Ok(())
}
