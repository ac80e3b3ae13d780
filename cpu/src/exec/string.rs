//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS and their REP/REPE/REPNE
//! forms (SDM Vol. 1 7.3.9 "String Operations"; Vol. 2 instruction pages, in particular
//! Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ" and "INS/INSB/INSW/INSD", "OUTS/OUTSB/OUTSW/OUTSD").
//!
//! Rules followed here:
//! - The address size (16/32/64, from iced's op kinds `MemorySegSI/ESI/RSI`,
//!   `MemoryESDI/ESEDI/ESRDI`) selects SI/ESI/RSI, DI/EDI/RDI and the count CX/ECX/RCX; the
//!   registers are updated with the ordinary width rules (a 32-bit update in 64-bit mode
//!   zero-extends, a 16-bit one keeps the rest).
//! - A segment override applies to the source (DS:rSI) only; ES:rDI cannot be overridden.
//! - RFLAGS.DF selects decrement (1) or increment (0) by the element size.
//! - REP: a count of 0 executes nothing. Each iteration commits its register updates, so a
//!   fault in iteration k leaves rCX/rSI/rDI describing the remaining work and RIP at the
//!   instruction (the step loop restores it), and the instruction restarts where it stopped.
//!   REPE/REPNE (CMPS, SCAS) also stop when ZF becomes 0/1. For the other instructions
//!   F2 (REPNE) repeats like F3, as the hardware does.
//! - At most [`MAX_ITERATIONS_PER_STEP`] iterations run per step; when iterations remain RIP
//!   stays at the instruction and the next step continues. Each step counts once in
//!   [`crate::Cpu::retired`] (which therefore counts steps, so an instruction budget always
//!   makes progress, even through a REP with an enormous count). This keeps
//!   interrupts deliverable between groups of iterations (SDM: "interrupts are recognized
//!   between iterations") and the retired-instruction count deterministic. With RFLAGS.TF set
//!   one iteration runs per step (a single-step trap after each iteration, SDM Vol. 2B "REP").
//!   A device write (OUTS, or a MOVS/STOS store to MMIO) also ends the group so the machine
//!   sees it before the next iteration.
//! - INS probes the destination before reading the port, so a page fault does not lose the
//!   port's data. The I/O permission check (SDM Vol. 1 19.5) runs once per step (same port).
//! - Fast path: REP MOVSB/STOSB with DF=0 copy/fill whole runs within one page of RAM
//!   (no page crossing, no overlap that would make byte-wise copying differ from a block copy).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags::{self, DF, STATUS, TF, ZF};
use crate::operand::seg_of;
use crate::segment::SegReg;
use hvbench_mmu::paging::{Access, AccessKind};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// Most iterations of a repeated string instruction that one step executes.
pub const MAX_ITERATIONS_PER_STEP: u64 = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Movs,
    Cmps,
    Scas,
    Lods,
    Stos,
    Ins,
    Outs,
}

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        // MOVSD/CMPSD with XMM operands are SSE instructions, not string ones.
        Mnemonic::Movsb | Mnemonic::Movsw | Mnemonic::Movsq => movs,
        Mnemonic::Movsd if is_string(i) => movs,
        Mnemonic::Cmpsb | Mnemonic::Cmpsw | Mnemonic::Cmpsq => cmps,
        Mnemonic::Cmpsd if is_string(i) => cmps,
        Mnemonic::Scasb | Mnemonic::Scasw | Mnemonic::Scasd | Mnemonic::Scasq => scas,
        Mnemonic::Lodsb | Mnemonic::Lodsw | Mnemonic::Lodsd | Mnemonic::Lodsq => lods,
        Mnemonic::Stosb | Mnemonic::Stosw | Mnemonic::Stosd | Mnemonic::Stosq => stos,
        Mnemonic::Insb | Mnemonic::Insw | Mnemonic::Insd => ins,
        Mnemonic::Outsb | Mnemonic::Outsw | Mnemonic::Outsd => outs,
        _ => return None,
    })
}

fn is_string(i: &Instruction) -> bool {
    (0..i.op_count()).any(|n| addr_size_of(i.op_kind(n)).is_some())
}

fn addr_size_of(k: OpKind) -> Option<u32> {
    match k {
        OpKind::MemorySegSI | OpKind::MemoryESDI => Some(2),
        OpKind::MemorySegESI | OpKind::MemoryESEDI => Some(4),
        OpKind::MemorySegRSI | OpKind::MemoryESRDI => Some(8),
        _ => None,
    }
}

fn movs(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Movs)
}
fn cmps(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Cmps)
}
fn scas(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Scas)
}
fn lods(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Lods)
}
fn stos(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Stos)
}
fn ins(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Ins)
}
fn outs(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    string(x, i, Op::Outs)
}

/// What one execution needs to know about the instruction.
struct Form {
    op: Op,
    /// Element size in bytes.
    size: u32,
    /// Source segment (DS or the override).
    src_seg: SegReg,
    si: Register,
    di: Register,
    count: Register,
    acc: Register,
}

impl Form {
    fn of(i: &Instruction, op: Op) -> Self {
        let addr = (0..i.op_count()).find_map(|n| addr_size_of(i.op_kind(n))).unwrap_or(8);
        let (si, di, count) = match addr {
            2 => (Register::SI, Register::DI, Register::CX),
            4 => (Register::ESI, Register::EDI, Register::ECX),
            _ => (Register::RSI, Register::RDI, Register::RCX),
        };
        let size = (i.memory_size().size() as u32).clamp(1, 8);
        let acc = match size {
            1 => Register::AL,
            2 => Register::AX,
            4 => Register::EAX,
            _ => Register::RAX,
        };
        Self { op, size, src_seg: seg_of(i.memory_segment()), si, di, count, acc }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rep {
    /// No prefix: one element.
    Once,
    /// REP: until the count runs out.
    Count,
    /// REPE/REPZ: also stop when ZF = 0.
    WhileEqual,
    /// REPNE/REPNZ: also stop when ZF = 1.
    WhileNotEqual,
}

#[inline(always)]
fn string(x: &mut Exec<'_>, i: &Instruction, op: Op) -> Result<()> {
    let f = Form::of(i, op);
    let compares = matches!(op, Op::Cmps | Op::Scas);
    let rep = if i.has_repe_prefix() {
        if compares { Rep::WhileEqual } else { Rep::Count }
    } else if i.has_repne_prefix() {
        if compares { Rep::WhileNotEqual } else { Rep::Count }
    } else {
        Rep::Once
    };
    let delta = if x.cpu.state.rflags & DF != 0 { (f.size as u64).wrapping_neg() } else { f.size as u64 };
    if rep == Rep::Once {
        check_port(x, i, &f, false)?;
        return iteration(x, &f, delta);
    }
    let mut count = x.reg(f.count);
    if count == 0 {
        return Ok(());
    }
    check_port(x, i, &f, true)?;
    let budget = if x.cpu.state.rflags & TF != 0 { 1 } else { MAX_ITERATIONS_PER_STEP };
    let fast = f.size == 1 && delta == 1 && matches!(op, Op::Movs | Op::Stos);
    let mut done = 0u64;
    loop {
        let n = if fast { fast_chunk(x, &f, count.min(budget - done)) } else { 0 };
        if n == 0 {
            iteration(x, &f, delta)?;
            count = count.wrapping_sub(1);
            done += 1;
        } else {
            count = count.wrapping_sub(n);
            done += n;
        }
        x.set_reg(f.count, count);
        count = x.reg(f.count);
        if count == 0 {
            return Ok(());
        }
        let zf = x.cpu.state.rflags & ZF != 0;
        if (rep == Rep::WhileEqual && !zf) || (rep == Rep::WhileNotEqual && zf) {
            return Ok(());
        }
        if done >= budget || x.cpu.stop.is_some() {
            // Not finished: run this instruction again at the next step.
            x.branch(x.cpu.state.rip);
            return Ok(());
        }
    }
}

/// The I/O permission check of INS/OUTS (port DX), then, in VMX non-root operation, the
/// I/O-exiting controls (SDM Vol. 3C 26.1.1: the TSS-bitmap #GP has priority over the exit).
/// A REP form with a zero count executes nothing (REP pseudocode) and neither checks nor exits.
fn check_port(x: &mut Exec<'_>, i: &Instruction, f: &Form, rep: bool) -> Result<()> {
    if matches!(f.op, Op::Ins | Op::Outs) {
        let port = x.reg(Register::DX) as u16;
        x.check_io(port, f.size)?;
        if x.cpu.vmx_non_root {
            string_io_intercept(x, i, f, port, rep)?;
        }
    }
    Ok(())
}

/// Describes INS/OUTS to the extension: the memory operand's segment and linear address (ES:rDI
/// for INS, seg:rSI for OUTS; 64-bit mode ignores the ES/DS/SS/CS bases; outside it the address
/// is 32 bits wide).
#[cold]
fn string_io_intercept(x: &mut Exec<'_>, i: &Instruction, f: &Form, port: u16, rep: bool) -> Result<()> {
    let input = f.op == Op::Ins;
    let (seg, off) = if input { (SegReg::Es, x.reg(f.di)) } else { (f.src_seg, x.reg(f.si)) };
    let long = x.cpu.state.mode() == crate::state::Mode::Long64;
    let base = if long && !matches!(seg, SegReg::Fs | SegReg::Gs) { 0 } else { x.cpu.state.seg(seg).base };
    let la = base.wrapping_add(off);
    let la = if long { la } else { la & 0xffff_ffff };
    let addr_size = match f.si.size() {
        2 => 0,
        4 => 1,
        _ => 2,
    };
    let what = crate::ext::Intercept::StringIo { len: i.len() as u8, port, size: f.size as u8, input, rep, addr_size, seg: seg as u8, la };
    x.intercept(what, 0)?;
    Ok(())
}

fn advance(x: &mut Exec<'_>, r: Register, delta: u64) {
    let v = x.reg(r).wrapping_add(delta);
    x.set_reg(r, v);
}

/// One element: every access that can fault happens before any register changes.
#[inline(always)]
fn iteration(x: &mut Exec<'_>, f: &Form, delta: u64) -> Result<()> {
    let si = x.reg(f.si);
    let di = x.reg(f.di);
    let size = f.size;
    match f.op {
        Op::Movs => {
            let v = x.read_mem(f.src_seg, si, size)?;
            x.write_mem(SegReg::Es, di, size, v)?;
            advance(x, f.si, delta);
            advance(x, f.di, delta);
        }
        Op::Cmps => {
            let a = x.read_mem(f.src_seg, si, size)?;
            let b = x.read_mem(SegReg::Es, di, size)?;
            let (_, fl) = flags::sub(a, b, 0, size);
            x.set_flags(STATUS, fl);
            advance(x, f.si, delta);
            advance(x, f.di, delta);
        }
        Op::Scas => {
            let b = x.read_mem(SegReg::Es, di, size)?;
            let (_, fl) = flags::sub(x.reg(f.acc), b, 0, size);
            x.set_flags(STATUS, fl);
            advance(x, f.di, delta);
        }
        Op::Lods => {
            let v = x.read_mem(f.src_seg, si, size)?;
            x.set_reg(f.acc, v);
            advance(x, f.si, delta);
        }
        Op::Stos => {
            let v = x.reg(f.acc);
            x.write_mem(SegReg::Es, di, size, v)?;
            advance(x, f.di, delta);
        }
        Op::Ins => {
            x.probe_write(SegReg::Es, di, size)?;
            let port = x.reg(Register::DX) as u16;
            x.sync_bus_clock();
            let v = x.bus.io_read(x.cpu.config.index, port, size as u8);
            x.after_device_read();
            x.write_mem(SegReg::Es, di, size, v as u64)?;
            advance(x, f.di, delta);
        }
        Op::Outs => {
            let v = x.read_mem(f.src_seg, si, size)?;
            let port = x.reg(Register::DX) as u16;
            x.sync_bus_clock();
            x.bus.io_write(x.cpu.config.index, port, size as u8, v as u32);
            x.after_device_write();
            advance(x, f.si, delta);
        }
    }
    Ok(())
}

/// REP MOVSB/STOSB with DF=0: up to `max` bytes in one block when source and destination
/// each stay within one page of RAM and the index registers do not wrap. Returns the bytes
/// done (registers updated except the count), or 0 when the element-wise path must run
/// (which then raises any fault exactly as the SDM orders it).
fn fast_chunk(x: &mut Exec<'_>, f: &Form, max: u64) -> u64 {
    let amask = flags::mask(f.si.size() as u32);
    let di = x.reg(f.di);
    let si = x.reg(f.si);
    // Bytes before the index wraps within the address size.
    let room = |v: u64| (amask - (v & amask)).saturating_add(1);
    let mut n = max.min(room(di)).min(4096);
    if f.op == Op::Movs {
        n = n.min(room(si));
    }
    let cpl = x.cpu.state.cpl;
    let ac = x.cpu.state.rflags & flags::AC != 0;
    let Ok(dla) = x.linear(SegReg::Es, di, 1, true) else { return 0 };
    n = n.min(0x1000 - (dla & 0xfff));
    let mut src = None;
    if f.op == Op::Movs {
        let Ok(sla) = x.linear(f.src_seg, si, 1, false) else { return 0 };
        n = n.min(0x1000 - (sla & 0xfff));
        src = Some(sla);
    }
    if n < 2 {
        return 0;
    }
    let len = n as usize;
    // The whole run must pass segmentation as well (limits, canonical form).
    if x.linear(SegReg::Es, di, n as u32, true).is_err() {
        return 0;
    }
    let Ok(dpa) = x.translate_as(dla, Access::new(AccessKind::Write, cpl, ac)) else { return 0 };
    if !x.mem.is_ram(dpa, n) {
        return 0;
    }
    let mut buf = [0u8; 4096];
    match src {
        Some(sla) => {
            if x.linear(f.src_seg, si, n as u32, false).is_err() {
                return 0;
            }
            let Ok(spa) = x.translate_as(sla, Access::new(AccessKind::Read, cpl, ac)) else { return 0 };
            // Byte-wise forward copying differs from a block copy only when the destination
            // starts inside the source run, after its start.
            if dpa.0 > spa.0 && dpa.0 < spa.0.wrapping_add(n) {
                return 0;
            }
            if !x.mem.read_bytes(spa, &mut buf[..len]) {
                return 0;
            }
        }
        None => buf[..len].fill(x.reg(Register::AL) as u8),
    }
    x.mem.write_bytes(dpa, &buf[..len]);
    x.set_reg(f.di, di.wrapping_add(n));
    if f.op == Op::Movs {
        x.set_reg(f.si, si.wrapping_add(n));
    }
    n
}
