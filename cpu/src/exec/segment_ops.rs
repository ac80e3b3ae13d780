//! Segment inspection: LAR, LSL, VERR, VERW (SDM Vol. 2A "LAR—Load Access Rights Byte",
//! "LSL—Load Segment Limit", Vol. 2B "VERR/VERW—Verify a Segment for Reading or Writing";
//! Vol. 3A 5.10.1 "Checking Access Rights (LAR Instruction)", 5.10.2 "Checking Read/Write
//! Rights (VERR and VERW Instructions)", 5.10.3 "Checking That the Pointer Offset Is Within
//! Limits (LSL Instruction)").
//!
//! Each sets ZF=1 when the selector names a descriptor the instruction accepts at the current
//! CPL and the selector's RPL, ZF=0 otherwise (no fault for a bad selector); the other flags
//! are unchanged. In IA-32e mode only the first 8 bytes of a 16-byte system descriptor are
//! examined (the upper half's type field is not checked).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags;
use crate::regs::efer;
use crate::segment::{systype, Descriptor};
use crate::state::Mode;
use iced_x86::{Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Lar => lar,
        Mnemonic::Lsl => lsl,
        Mnemonic::Verr => verr,
        Mnemonic::Verw => verw,
        _ => return None,
    })
}

/// Which system-descriptor types an instruction accepts (SDM "LAR" and "LSL" tables).
fn system_type_ok(typ: u32, ia32e: bool, lar: bool) -> bool {
    use systype::*;
    if ia32e {
        // IA-32e mode: LDT, 64-bit TSS (available, busy); LAR also the 64-bit call gate.
        matches!(typ, LDT | TSS_AVAIL | TSS_BUSY) || (lar && typ == CALL_GATE)
    } else {
        matches!(typ, TSS16_AVAIL | LDT | TSS16_BUSY | TSS_AVAIL | TSS_BUSY)
            || (lar && matches!(typ, CALL_GATE16 | TASK_GATE | CALL_GATE))
    }
}

impl Exec<'_> {
    /// The descriptor for `selector` if it exists (not null, inside its table), or `None`.
    /// Faults only on the memory access itself.
    fn inspect_descriptor(&mut self, selector: u16) -> Result<Option<Descriptor>> {
        if selector & 0xfffc == 0 {
            return Ok(None);
        }
        match self.read_descriptor(selector) {
            Ok(r) => r.map(Some),
            Err(()) => Ok(None),
        }
    }

    /// The privilege rule common to all four: a descriptor that is not a conforming code
    /// segment needs DPL >= CPL and DPL >= RPL.
    fn visible_at(&self, selector: u16, d: &Descriptor) -> bool {
        let conforming_code = d.is_code_or_data() && d.typ() & 0xc == 0xc;
        conforming_code || (d.dpl() >= self.cpu.state.cpl && d.dpl() >= (selector & 3) as u8)
    }

    fn set_zf(&mut self, on: bool) {
        self.set_flags(flags::ZF, if on { flags::ZF } else { 0 });
    }
}

/// #UD in real-address and virtual-8086 mode.
fn protected_only(x: &Exec<'_>) -> Result<()> {
    if matches!(x.cpu.state.mode(), Mode::Real | Mode::Virtual8086) {
        return Err(Exception::ud().into());
    }
    Ok(())
}

/// Reads the selector operand and the descriptor it names, if valid for LAR/LSL.
fn lar_lsl_descriptor(x: &mut Exec<'_>, i: &Instruction, lar: bool) -> Result<Option<Descriptor>> {
    protected_only(x)?;
    let sel = (x.read_op(i, 1)? & 0xffff) as u16;
    let Some(d) = x.inspect_descriptor(sel)? else { return Ok(None) };
    let ia32e = x.cpu.state.efer & efer::LMA != 0;
    let type_ok = d.is_code_or_data() || system_type_ok(d.typ(), ia32e, lar);
    Ok((type_ok && x.visible_at(sel, &d)).then_some(d))
}

/// LAR: the access-rights bytes (descriptor bits 63:32 masked with 00FFFF00H, or FF00H for
/// a 16-bit operand; bits 19:16 are the limit bits, which the SDM leaves undefined and Intel
/// hardware returns as they are in the descriptor).
fn lar(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    match lar_lsl_descriptor(x, i, true)? {
        Some(d) => {
            let hi = d.raw >> 32;
            let dst = i.op0_register();
            let v = if dst.size() == 2 { hi & 0xff00 } else { hi & 0x00ff_ff00 };
            x.set_reg(dst, v);
            x.set_zf(true);
        }
        None => x.set_zf(false),
    }
    Ok(())
}

/// LSL: the byte-granular segment limit (scaled by G), truncated to a 16-bit operand.
fn lsl(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    match lar_lsl_descriptor(x, i, false)? {
        Some(d) => {
            let dst = i.op0_register();
            x.set_reg(dst, d.limit() as u64);
            x.set_zf(true);
        }
        None => x.set_zf(false),
    }
    Ok(())
}

/// VERR/VERW: code or data segments only; VERR needs a readable segment (data, or code with
/// R=1), VERW a writable data segment.
fn verify(x: &mut Exec<'_>, i: &Instruction, write: bool) -> Result<()> {
    protected_only(x)?;
    let sel = (x.read_op(i, 0)? & 0xffff) as u16;
    let ok = match x.inspect_descriptor(sel)? {
        Some(d) if d.is_code_or_data() => {
            let code = d.typ() & 8 != 0;
            let rw = d.typ() & 2 != 0;
            let type_ok = if write { !code && rw } else { !code || rw };
            type_ok && x.visible_at(sel, &d)
        }
        _ => false,
    };
    x.set_zf(ok);
    Ok(())
}

fn verr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    verify(x, i, false)
}

fn verw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    verify(x, i, true)
}
