//! Fast system calls: SYSCALL/SYSRET and SYSENTER/SYSEXIT (SDM Vol. 2B "SYSCALL—Fast System
//! Call", "SYSRET—Return From Fast System Call", "SYSENTER—Fast System Call", "SYSEXIT—Fast
//! Return from Fast System Call"; Vol. 3A 5.8.7 "Performing Fast Calls to System Procedures
//! With the SYSENTER and SYSEXIT Instructions" and 5.8.8 "Fast System Calls in 64-Bit Mode").
//!
//! These instructions load CS and SS with fixed flat descriptors without reading the GDT.
//! Intel processors: SYSCALL/SYSRET are 64-bit-mode only (#UD elsewhere, IA32_CSTAR is never
//! used), and SYSRET to a non-canonical RCX raises #GP(0) at CPL 0.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags;
use crate::regs::{cr0, efer};
use crate::segment::{attr, SegReg, Segment};
use crate::state::Mode;
use iced_x86::{Code, Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Syscall => syscall,
        Mnemonic::Sysret | Mnemonic::Sysretq => sysret,
        Mnemonic::Sysenter => sysenter,
        Mnemonic::Sysexit | Mnemonic::Sysexitq => sysexit,
        _ => return None,
    })
}

/// A flat code segment (base 0, 4-GByte limit, execute/read, accessed) at `dpl`.
fn flat_code(selector: u16, dpl: u8, long: bool) -> Segment {
    let mode = if long { attr::L } else { attr::DB };
    let a = 0xb | attr::S | attr::P | ((dpl as u32) << 5) | attr::G | mode;
    Segment { selector, base: 0, limit: 0xffff_ffff, attr: a }
}

/// A flat stack segment (base 0, 4-GByte limit, read/write, accessed, B=1) at `dpl`.
fn flat_stack(selector: u16, dpl: u8) -> Segment {
    let a = 0x3 | attr::S | attr::P | ((dpl as u32) << 5) | attr::G | attr::DB;
    Segment { selector, base: 0, limit: 0xffff_ffff, attr: a }
}

/// #UD unless in 64-bit mode with EFER.SCE=1.
fn syscall_enabled(x: &Exec<'_>) -> Result<()> {
    let s = &x.cpu.state;
    if s.mode() != Mode::Long64 || s.efer & efer::SCE == 0 {
        return Err(Exception::ud().into());
    }
    Ok(())
}

/// SYSCALL: RCX = next RIP, R11 = RFLAGS, RFLAGS &= !IA32_FMASK, CS/SS from IA32_STAR[47:32].
fn syscall(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    syscall_enabled(x)?;
    let s = &mut x.cpu.state;
    let sel = ((s.msr.star >> 32) & 0xfffc) as u16;
    s.gpr[1] = x.cpu.next_rip;
    // R11 gets RFLAGS with RF cleared, as RF is cleared by SYSCALL itself.
    s.gpr[11] = s.rflags & !flags::RF;
    s.rflags = (s.rflags & !s.msr.sfmask & !flags::RF) | flags::FIXED1;
    s.seg[SegReg::Cs as usize] = flat_code(sel, 0, true);
    s.seg[SegReg::Ss as usize] = flat_stack(sel.wrapping_add(8), 0);
    s.cpl = 0;
    let target = s.msr.lstar;
    x.branch(target);
    Ok(())
}

/// SYSRET (to compatibility mode) / SYSRETQ (REX.W, to 64-bit mode).
fn sysret(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    syscall_enabled(x)?;
    x.require_cpl0()?;
    let long = i.code() == Code::Sysretq;
    let rcx = x.cpu.state.gpr[1];
    if long && !x.is_canonical(rcx) {
        return Err(Exception::gp0().into());
    }
    let before = x.cpu.state.mode();
    let s = &mut x.cpu.state;
    let base = ((s.msr.star >> 48) & 0xffff) as u16;
    let cs_sel = if long { base.wrapping_add(16) } else { base } | 3;
    s.rflags = (s.gpr[11] & 0x3c_7fd7) | flags::FIXED1;
    s.seg[SegReg::Cs as usize] = flat_code(cs_sel, 3, long);
    s.seg[SegReg::Ss as usize] = flat_stack(base.wrapping_add(8) | 3, 3);
    s.cpl = 3;
    x.cpu.poll_events = true;
    x.branch(if long { rcx } else { rcx & 0xffff_ffff });
    x.note_mode_change(before);
    Ok(())
}

/// SYSENTER: to CPL 0 at IA32_SYSENTER_CS:EIP with stack IA32_SYSENTER_CS+8:ESP; IF, VM and
/// RF cleared. 64-bit code when IA-32e mode is active.
fn sysenter(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let s = &x.cpu.state;
    if s.cr0 & cr0::PE == 0 || s.msr.sysenter_cs & 0xfffc == 0 {
        return Err(Exception::gp0().into());
    }
    let before = s.mode();
    let ia32e = s.efer & efer::LMA != 0;
    let s = &mut x.cpu.state;
    let sel = (s.msr.sysenter_cs & 0xfffc) as u16;
    s.rflags &= !(flags::VM | flags::IF | flags::RF);
    let (sp, ip) = if ia32e { (s.msr.sysenter_esp, s.msr.sysenter_eip) } else { (s.msr.sysenter_esp & 0xffff_ffff, s.msr.sysenter_eip & 0xffff_ffff) };
    s.gpr[4] = sp;
    s.seg[SegReg::Cs as usize] = flat_code(sel, 0, ia32e);
    s.seg[SegReg::Ss as usize] = flat_stack(sel.wrapping_add(8), 0);
    s.cpl = 0;
    x.branch(ip);
    x.note_mode_change(before);
    Ok(())
}

/// SYSEXIT (to 32-bit code: CS = IA32_SYSENTER_CS+16) / SYSEXITQ (REX.W, to 64-bit code:
/// CS = IA32_SYSENTER_CS+32); RSP = RCX, RIP = RDX.
fn sysexit(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let s = &x.cpu.state;
    if s.msr.sysenter_cs & 0xfffc == 0 || s.cr0 & cr0::PE == 0 || s.cpl != 0 {
        return Err(Exception::gp0().into());
    }
    let long = i.code() == Code::Sysexitq;
    let (rcx, rdx) = (s.gpr[1], s.gpr[2]);
    if long && (!x.is_canonical(rcx) || !x.is_canonical(rdx)) {
        return Err(Exception::gp0().into());
    }
    let before = s.mode();
    let s = &mut x.cpu.state;
    let base = (s.msr.sysenter_cs & 0xffff) as u16;
    let cs_sel = base.wrapping_add(if long { 32 } else { 16 }) | 3;
    s.seg[SegReg::Cs as usize] = flat_code(cs_sel, 3, long);
    s.seg[SegReg::Ss as usize] = flat_stack(cs_sel.wrapping_add(8) | 3, 3);
    s.cpl = 3;
    let (sp, ip) = if long { (rcx, rdx) } else { (rcx & 0xffff_ffff, rdx & 0xffff_ffff) };
    s.gpr[4] = sp;
    x.branch(ip);
    x.note_mode_change(before);
    Ok(())
}
