//! System instructions: flag control, HLT, descriptor tables, control and debug registers,
//! segment loads, INVLPG, CPUID, MSRs, TSC, INT n/INT3/INTO/INT1, IRET and far JMP
//! (SDM Vol. 2 instruction pages; Vol. 3A 2.5-2.8 for the system registers).

use super::Handler;
use crate::cpu::Exec;
use crate::deliver::EventKind;
use crate::exception::{Exception, Fault, Result};
use crate::ext::Intercept;
use crate::flags;
use crate::operand::seg_of;
use crate::regs::{cr0, cr4, efer};
use crate::segment::{attr, systype, DescTable, SegReg};
use crate::state::{Activity, Mode};
use crate::v8086::IfTarget;
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Mov if super::mov::special_mov(i) => mov_special,
        Mnemonic::Cli => cli,
        Mnemonic::Sti => sti,
        Mnemonic::Cld => |x, _| flag_op(x, flags::DF, false),
        Mnemonic::Std => |x, _| flag_op(x, flags::DF, true),
        Mnemonic::Clc => |x, _| flag_op(x, flags::CF, false),
        Mnemonic::Stc => |x, _| flag_op(x, flags::CF, true),
        Mnemonic::Cmc => cmc,
        Mnemonic::Lahf => lahf,
        Mnemonic::Sahf => sahf,
        Mnemonic::Hlt => hlt,
        Mnemonic::Lgdt | Mnemonic::Lidt => lgdt,
        Mnemonic::Sgdt | Mnemonic::Sidt => sgdt,
        Mnemonic::Lldt => lldt,
        Mnemonic::Ltr => ltr,
        Mnemonic::Sldt | Mnemonic::Str => sldt,
        Mnemonic::Lmsw => lmsw,
        Mnemonic::Smsw => smsw,
        Mnemonic::Clts => clts,
        Mnemonic::Invlpg => invlpg,
        Mnemonic::Cpuid => cpuid,
        Mnemonic::Rdmsr => rdmsr,
        Mnemonic::Wrmsr => wrmsr,
        Mnemonic::Rdtsc => rdtsc,
        Mnemonic::Rdtscp => rdtscp,
        Mnemonic::Wbinvd => wbinvd,
        Mnemonic::Invd => invd,
        Mnemonic::Lfence | Mnemonic::Sfence | Mnemonic::Mfence => |_, _| Ok(()),
        Mnemonic::Pause => pause,
        Mnemonic::Int => int_n,
        Mnemonic::Int3 => int3,
        Mnemonic::Into => into,
        Mnemonic::Int1 => int1,
        Mnemonic::Iret | Mnemonic::Iretd | Mnemonic::Iretq => iret,
        Mnemonic::Jmp if i.is_jmp_far() || i.is_jmp_far_indirect() => jmp_far,
        Mnemonic::Ud0 | Mnemonic::Ud1 | Mnemonic::Ud2 => |_, _| Err(Exception::ud().into()),
        Mnemonic::Swapgs => swapgs,
        _ => return None,
    })
}

impl Exec<'_> {
    /// #GP(0) unless CPL is 0 (real mode counts as CPL 0).
    #[inline]
    pub fn require_cpl0(&self) -> Result<()> {
        if self.cpu.state.cpl != 0 { Err(Exception::gp0().into()) } else { Ok(()) }
    }

    /// The current IOPL.
    #[inline]
    pub fn iopl(&self) -> u8 {
        ((self.cpu.state.rflags & flags::IOPL) >> 12) as u8
    }
}

fn flag_op(x: &mut Exec<'_>, bit: u64, set: bool) -> Result<()> {
    x.set_flags(bit, if set { bit } else { 0 });
    Ok(())
}

fn cmc(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    x.cpu.state.rflags ^= flags::CF;
    Ok(())
}

/// CLI/STI in protected mode need CPL <= IOPL, or change VIF under CR4.VME/PVI (SDM "CLI",
/// "STI"; crate::v8086).
fn cli(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if x.cli_sti_target(false)? == IfTarget::Real {
        x.cpu.state.rflags &= !flags::IF;
    }
    Ok(())
}

/// STI: interrupts stay blocked until after the next instruction (SDM "STI").
fn sti(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if x.cli_sti_target(true)? == IfTarget::Virtual {
        return Ok(());
    }
    if x.cpu.state.rflags & flags::IF == 0 {
        x.cpu.state.rflags |= flags::IF;
        x.cpu.state.shadow |= 1;
    }
    Ok(())
}

/// LAHF/SAHF: SF, ZF, AF, PF, CF through AH.
fn lahf(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let f = x.cpu.state.rflags & 0xd7 | 2;
    x.set_reg(Register::AH, f);
    Ok(())
}
fn sahf(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let ah = x.reg(Register::AH);
    x.set_flags(0xd5, ah);
    Ok(())
}

fn hlt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    if x.cpu.vmx_non_root {
        x.intercept(Intercept::Hlt { len: i.len() as u8 }, 0)?;
    }
    let rip = x.cpu.state.rip;
    x.cpu.emit(|| crate::events::Event::Halt { rip });
    x.cpu.state.activity = Activity::Halted;
    Ok(())
}

/// WBINVD: no caches to write back; in VMX non-root operation "WBINVD exiting" may turn it into
/// a VM exit after the CPL check (SDM Vol. 3C 26.1.1, 26.1.3).
fn wbinvd(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    vmx_insn(x, i)
}

/// PAUSE: a hint; "PAUSE exiting" may turn it into a VM exit (SDM Vol. 3C 26.1.3).
fn pause(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    vmx_insn(x, i)
}

/// In VMX non-root operation, offers `i` to the extension ([`Intercept::Insn`]).
pub(super) fn vmx_insn(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.cpu.vmx_non_root {
        x.intercept(Intercept::Insn { insn: *i }, 0)?;
    }
    Ok(())
}

/// INVD: no caches to invalidate; exits unconditionally in VMX non-root operation (SDM Vol. 3C
/// 26.1.2), after the CPL check (26.1.1).
fn invd(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    if x.cpu.vmx_non_root {
        x.intercept(Intercept::Invd { len: i.len() as u8 }, 0)?;
    }
    Ok(())
}

/// LGDT/LIDT m16&32 / m16&64: a 24-bit base with a 16-bit operand size outside 64-bit mode.
fn lgdt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    vmx_insn(x, i)?;
    let (seg, off) = x.mem_operand(i);
    let limit = x.read_mem(seg, off, 2)? as u16;
    let long = x.cpu.state.mode() == Mode::Long64;
    let mut base = x.read_mem(seg, off.wrapping_add(2), if long { 8 } else { 4 })?;
    if !long && matches!(i.code(), Code::Lgdt_m1632_16 | Code::Lidt_m1632_16) {
        base &= 0x00ff_ffff;
    }
    if long && !x.is_canonical_max(base) {
        return Err(Exception::gp0().into());
    }
    let t = DescTable { base, limit };
    if i.mnemonic() == Mnemonic::Lgdt {
        x.cpu.state.gdtr = t;
    } else {
        x.cpu.state.idtr = t;
    }
    Ok(())
}

fn sgdt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    umip_check(x)?;
    vmx_insn(x, i)?;
    let t = if i.mnemonic() == Mnemonic::Sgdt { x.cpu.state.gdtr } else { x.cpu.state.idtr };
    let (seg, off) = x.mem_operand(i);
    let long = x.cpu.state.mode() == Mode::Long64;
    x.probe_write(seg, off, if long { 10 } else { 6 })?;
    x.write_mem(seg, off, 2, t.limit as u64)?;
    x.write_mem(seg, off.wrapping_add(2), if long { 8 } else { 4 }, t.base)
}

/// CR4.UMIP makes SGDT, SIDT, SLDT, SMSW and STR privileged (SDM 2.5).
fn umip_check(x: &Exec<'_>) -> Result<()> {
    if x.cpu.state.cr4 & cr4::UMIP != 0 && x.cpu.state.cpl > 0 {
        return Err(Exception::gp0().into());
    }
    Ok(())
}

fn protected_only(x: &Exec<'_>) -> Result<()> {
    if matches!(x.cpu.state.mode(), Mode::Real | Mode::Virtual8086) {
        return Err(Exception::ud().into());
    }
    Ok(())
}

/// Reads a system-segment descriptor (LDT or TSS) for LLDT/LTR, 16 bytes in IA-32e mode.
fn system_descriptor(x: &mut Exec<'_>, sel: u16, want: &[u32]) -> Result<(crate::segment::Segment, u64)> {
    let err = Exception::gp(sel as u32 & 0xfffc);
    if sel & 4 != 0 {
        return Err(err.into());
    }
    let long = x.cpu.state.efer & efer::LMA != 0;
    let size = if long { 15 } else { 7 };
    if (sel & !7) as u64 + size > x.cpu.state.gdtr.limit as u64 {
        return Err(err.into());
    }
    let d = x.descriptor_or(sel, err)?;
    if d.is_code_or_data() || !want.contains(&d.typ()) {
        return Err(err.into());
    }
    if !d.present() {
        return Err(Exception::np(sel as u32 & 0xfffc).into());
    }
    let mut s = d.to_segment(sel);
    if long {
        let la = x.wrap_linear(x.cpu.state.gdtr.base.wrapping_add((sel & !7) as u64 + 8));
        let hi = x.read_system(la, 8)?;
        if (hi >> 40) & 0x1f != 0 {
            return Err(err.into());
        }
        s.base |= (hi & 0xffff_ffff) << 32;
        if !x.is_canonical_max(s.base) {
            return Err(err.into());
        }
    }
    Ok((s, d.raw))
}

fn lldt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    protected_only(x)?;
    x.require_cpl0()?;
    vmx_insn(x, i)?;
    let sel = x.read_op(i, 0)? as u16;
    if sel & 0xfffc == 0 {
        x.cpu.state.ldtr = crate::segment::Segment { selector: sel, base: 0, limit: 0, attr: attr::UNUSABLE };
        return Ok(());
    }
    let (s, _) = system_descriptor(x, sel, &[systype::LDT])?;
    x.cpu.state.ldtr = s;
    Ok(())
}

/// LTR: loads TR and marks the TSS descriptor busy (SDM "LTR").
fn ltr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    protected_only(x)?;
    x.require_cpl0()?;
    vmx_insn(x, i)?;
    let sel = x.read_op(i, 0)? as u16;
    if sel & 0xfffc == 0 {
        return Err(Exception::gp0().into());
    }
    let long = x.cpu.state.efer & efer::LMA != 0;
    let types: &[u32] = if long { &[systype::TSS_AVAIL] } else { &[systype::TSS_AVAIL, systype::TSS16_AVAIL] };
    let (mut s, raw) = system_descriptor(x, sel, types)?;
    let la = x.wrap_linear(x.cpu.state.gdtr.base.wrapping_add((sel & !7) as u64 + 5));
    x.write_system(la, 1, (raw >> 40) as u8 as u64 | 2)?;
    s.attr |= 2;
    x.cpu.state.tr = s;
    Ok(())
}

fn sldt(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    protected_only(x)?;
    umip_check(x)?;
    vmx_insn(x, i)?;
    let sel = if i.mnemonic() == Mnemonic::Sldt { x.cpu.state.ldtr.selector } else { x.cpu.state.tr.selector };
    // A register destination gets the zero-extended selector at the operand size.
    x.write_op(i, 0, sel as u64)
}

/// LMSW: loads CR0[3:0] but cannot clear PE (SDM "LMSW"). In VMX non-root operation the
/// source may exit or lose the bits the hypervisor owns (SDM Vol. 3C 26.1.3, 26.3).
fn lmsw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    let mut v = x.read_op(i, 0)? & 0xffff;
    if x.cpu.vmx_non_root {
        let la = if i.op0_kind() == OpKind::Memory {
            let (seg, off) = x.mem_operand(i);
            let base = if x.cpu.state.mode() == Mode::Long64 && !matches!(seg, SegReg::Fs | SegReg::Gs) { 0 } else { x.cpu.state.seg(seg).base };
            Some(x.wrap_linear(base.wrapping_add(off)))
        } else {
            None
        };
        v = x.intercept(Intercept::Lmsw { len: i.len() as u8, value: v as u16, la }, v)?;
    }
    let v = v & 0xf;
    let old = x.cpu.state.cr0;
    let new = (old & !0xe) | (v & 0xe) | (old & cr0::PE) | (v & cr0::PE);
    x.write_cr0(new)
}

fn smsw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    umip_check(x)?;
    let v = x.cpu.state.cr0;
    let v = if i.op0_kind() == OpKind::Memory { v & 0xffff } else { v };
    x.write_op(i, 0, v)
}

/// CLTS; in VMX non-root operation it may exit or leave a host-owned TS alone (SDM Vol. 3C
/// 26.1.3, 26.3).
fn clts(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    if x.cpu.vmx_non_root && x.intercept(Intercept::Clts { len: i.len() as u8 }, 1)? == 0 {
        return Ok(());
    }
    x.cpu.state.cr0 &= !cr0::TS;
    Ok(())
}

fn invlpg(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    let (seg, off) = x.mem_operand(i);
    let base = if x.cpu.state.mode() == Mode::Long64 && !matches!(seg, SegReg::Fs | SegReg::Gs) { 0 } else { x.cpu.state.seg(seg).base };
    let la = x.wrap_linear(base.wrapping_add(off));
    if x.cpu.vmx_non_root {
        x.intercept(Intercept::Invlpg { len: i.len() as u8, la }, 0)?;
    }
    let pcid = if x.cpu.state.cr4 & cr4::PCIDE != 0 { (x.cpu.state.cr3 & 0xfff) as u16 } else { 0 };
    x.cpu.tlb.invalidate_page(la >> 12, hvbench_mmu::tlb::Tag { pcid, vpid: x.cpu.tlb_vpid, ept: x.cpu.tlb_ept });
    x.cpu.break_block = true;
    Ok(())
}

fn cpuid(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.cpu.vmx_non_root {
        x.intercept(Intercept::Cpuid { len: i.len() as u8 }, 0)?;
    }
    let r = x.cpuid(x.cpu.state.gpr[0] as u32, x.cpu.state.gpr[1] as u32);
    let g = &mut x.cpu.state.gpr;
    g[0] = r[0] as u64;
    g[3] = r[1] as u64;
    g[1] = r[2] as u64;
    g[2] = r[3] as u64;
    Ok(())
}

fn rdmsr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    let msr = x.cpu.state.gpr[1] as u32;
    let add = if x.cpu.vmx_non_root { x.intercept(Intercept::Rdmsr { len: i.len() as u8, msr }, 0)? } else { 0 };
    let mut v = x.read_msr(msr)?;
    if msr == crate::msr::index::TSC {
        v = v.wrapping_add(add);
    }
    x.cpu.state.gpr[0] = v & 0xffff_ffff;
    x.cpu.state.gpr[2] = v >> 32;
    Ok(())
}

fn wrmsr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.require_cpl0()?;
    if x.cpu.vmx_non_root {
        x.intercept(Intercept::Wrmsr { len: i.len() as u8, msr: x.cpu.state.gpr[1] as u32 }, 0)?;
    }
    let v = (x.cpu.state.gpr[0] & 0xffff_ffff) | (x.cpu.state.gpr[2] << 32);
    let before = x.cpu.state.mode();
    x.write_msr(x.cpu.state.gpr[1] as u32, v)?;
    x.note_mode_change(before);
    Ok(())
}

/// RDTSC: #GP(0) when CR4.TSD=1 and CPL > 0.
fn rdtsc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.cpu.state.cr4 & cr4::TSD != 0 && x.cpu.state.cpl > 0 && x.cpu.state.mode() != Mode::Real {
        return Err(Exception::gp0().into());
    }
    let mut t = x.tsc();
    if x.cpu.vmx_non_root {
        let len = i.len() as u8;
        let what = if i.mnemonic() == Mnemonic::Rdtscp { Intercept::Rdtscp { len, tsc: t } } else { Intercept::Rdtsc { len, tsc: t } };
        t = x.intercept(what, t)?;
    }
    x.cpu.state.gpr[0] = t & 0xffff_ffff;
    x.cpu.state.gpr[2] = t >> 32;
    Ok(())
}

fn rdtscp(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    rdtsc(x, i)?;
    x.cpu.state.gpr[1] = x.cpu.state.msr.tsc_aux & 0xffff_ffff;
    Ok(())
}

/// SWAPGS: 64-bit mode only, CPL 0 (SDM "SWAPGS").
fn swapgs(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if x.cpu.state.mode() != Mode::Long64 {
        return Err(Exception::ud().into());
    }
    x.require_cpl0()?;
    let s = &mut x.cpu.state;
    std::mem::swap(&mut s.seg[SegReg::Gs as usize].base, &mut s.msr.kernel_gs_base);
    Ok(())
}

fn int_n(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if crate::v8086::in_v8086(x.cpu.state.rflags) {
        return x.v8086_int_n(i.immediate8());
    }
    x.software_interrupt(i.immediate8(), EventKind::SoftwareInterrupt)
}
fn int3(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    x.software_interrupt(crate::exception::vector::BP, EventKind::SoftwareException)
}
fn int1(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    x.software_interrupt(crate::exception::vector::DB, EventKind::PrivilegedSoftwareException)
}
/// INTO: #OF trap if OF=1; invalid in 64-bit mode (iced-x86 decodes it as invalid there).
fn into(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if x.cpu.state.rflags & flags::OF != 0 {
        return x.software_interrupt(crate::exception::vector::OF, EventKind::SoftwareException);
    }
    Ok(())
}

/// MOV to/from CRn, DRn and segment registers.
fn mov_special(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let dst = if i.op0_kind() == OpKind::Register { i.op0_register() } else { Register::None };
    let src = if i.op1_kind() == OpKind::Register { i.op1_register() } else { Register::None };
    if dst.is_segment_register() {
        if dst == Register::CS {
            return Err(Exception::ud().into());
        }
        let sel = x.read_op(i, 1)? as u16;
        return x.load_data_segment(seg_of(dst), sel);
    }
    if src.is_segment_register() {
        let sel = x.reg(src);
        // To memory: always 16 bits; to a register: zero-extended to the operand size.
        return x.write_op(i, 0, sel);
    }
    if dst.is_cr() || src.is_cr() {
        x.require_cpl0()?;
        let num = |r: Register| (r as u32 - Register::CR0 as u32) as u8;
        let gpr = |r: Register| (r.full_register() as u32).wrapping_sub(Register::RAX as u32) as u8;
        if dst.is_cr() {
            let mut v = x.reg(src);
            if x.cpu.vmx_non_root && matches!(dst, Register::CR0 | Register::CR3 | Register::CR4 | Register::CR8) {
                v = x.intercept(Intercept::MovToCr { len: i.len() as u8, cr: num(dst), gpr: gpr(src), value: v }, v)?;
                // The extension virtualized the CR8 write (TPR shadow, SDM Vol. 3C 30.3).
                if dst == Register::CR8 && v == crate::ext::CR8_VIRTUALIZED {
                    return Ok(());
                }
            }
            return x.write_cr(dst, v);
        }
        if x.cpu.vmx_non_root && matches!(src, Register::CR0 | Register::CR3 | Register::CR4 | Register::CR8) {
            // The answer is what the guest reads (read shadows, or the TPR shadow for CR8).
            let actual = x.read_cr(src)?;
            let v = x.intercept(Intercept::MovFromCr { len: i.len() as u8, cr: num(src), gpr: gpr(dst), value: actual }, actual)?;
            x.set_reg(dst, v);
            return Ok(());
        }
        let v = x.read_cr(src)?;
        x.set_reg(dst, v);
        return Ok(());
    }
    if dst.is_dr() || src.is_dr() {
        x.require_cpl0()?;
        if x.cpu.vmx_non_root {
            // "MOV-DR exiting" (SDM Vol. 3C 26.1.3): after #UD and the CPL check, before the
            // general-detect #DB (26.1.1).
            let to_dr = dst.is_dr();
            let (d, g) = if to_dr { (dst, src) } else { (src, dst) };
            let dr = (d as u32 - Register::DR0 as u32) as u8;
            if dr > 7 || (matches!(dr, 4 | 5) && x.cpu.state.cr4 & cr4::DE != 0) {
                return Err(Exception::ud().into());
            }
            let gpr = (g.full_register() as u32).wrapping_sub(Register::RAX as u32) as u8;
            x.intercept(Intercept::MovDr { len: i.len() as u8, dr, gpr, to_dr }, 0)?;
        }
        return x.mov_dr(dst, src);
    }
    Err(Exception::ud().into())
}

impl Exec<'_> {
    /// MOV from CRn.
    pub fn read_cr(&mut self, r: Register) -> Result<u64> {
        Ok(match r {
            Register::CR0 => self.cpu.state.cr0,
            Register::CR2 => self.cpu.state.cr2,
            Register::CR3 => self.cpu.state.cr3,
            Register::CR4 => self.cpu.state.cr4,
            Register::CR8 => {
                // CR8[3:0] = TPR[7:4] of the local APIC (SDM Vol. 3A 11.8.6.1).
                self.sync_bus_clock();
                if let Some(v) = self.bus.cr8_read(self.cpu.config.index) {
                    self.cpu.state.cr8 = v & 0xf;
                }
                self.cpu.state.cr8
            }
            _ => return Err(Exception::ud().into()),
        })
    }

    /// MOV to CRn (SDM "MOV—Move to/from Control Registers").
    pub fn write_cr(&mut self, r: Register, v: u64) -> Result<()> {
        match r {
            Register::CR0 => self.write_cr0(v),
            Register::CR2 => {
                self.cpu.state.cr2 = v;
                Ok(())
            }
            Register::CR3 => self.write_cr3(v),
            Register::CR4 => self.write_cr4(v),
            Register::CR8 => {
                if v & !0xf != 0 {
                    return Err(Exception::gp0().into());
                }
                self.cpu.state.cr8 = v;
                self.sync_bus_clock();
                self.bus.cr8_write(self.cpu.config.index, v);
                self.cpu.poll_events = true;
                Ok(())
            }
            _ => Err(Exception::ud().into()),
        }
    }

    /// CR0 with the checks of SDM Vol. 3A 2.5 and 10.8.5 (IA-32e activation).
    pub fn write_cr0(&mut self, v: u64) -> Result<()> {
        let gp = || Err(Exception::gp0().into());
        let s = &self.cpu.state;
        let before = s.mode();
        if v >> 32 != 0 {
            return gp();
        }
        let v = (v & cr0::DEFINED) | cr0::ET;
        if v & cr0::PG != 0 && v & cr0::PE == 0 {
            return gp();
        }
        if let Some(e) = self.cpu.ext.as_deref()
            && !e.cr_write_allowed(self, 0, v)
        {
            return gp();
        }
        if v & cr0::NW != 0 && v & cr0::CD == 0 {
            return gp();
        }
        let old = s.cr0;
        let enabling_pg = v & cr0::PG != 0 && old & cr0::PG == 0;
        let disabling_pg = v & cr0::PG == 0 && old & cr0::PG != 0;
        let mut new_efer = s.efer;
        if enabling_pg && s.efer & efer::LME != 0 {
            if s.cr4 & cr4::PAE == 0 || s.seg(SegReg::Cs).long() {
                return gp();
            }
            new_efer |= efer::LMA;
        }
        if disabling_pg && s.cr4 & cr4::PCIDE != 0 {
            // CR0.PG cannot be cleared while CR4.PCIDE=1 (SDM "MOV—Move to/from Control
            // Registers", #GP(0) list).
            return gp();
        }
        if disabling_pg && s.efer & efer::LMA != 0 {
            if before == Mode::Long64 {
                return gp();
            }
            new_efer &= !efer::LMA;
        }
        if v & cr0::PG != 0 && s.cr4 & cr4::PAE != 0 && new_efer & efer::LMA == 0 && (enabling_pg || (v ^ old) & (cr0::CD | cr0::NW) != 0) {
            self.load_pdptes(s.cr3)?;
        }
        self.cpu.state.cr0 = v;
        self.cpu.state.efer = new_efer;
        if (v ^ old) & (cr0::PG | cr0::WP | cr0::PE) != 0 {
            self.cpu.tlb.invalidate_all();
        }
        self.cpu.refresh_paging();
        self.note_mode_change(before);
        Ok(())
    }

    /// Loads PAE PDPTEs from `cr3` (#GP(0) on reserved bits, SDM 4.4.1). In VMX non-root
    /// operation with EPT the table's address is guest-physical and is translated through EPT
    /// (Vol. 3C 29.3.3.2, Vol. 3A 4.4.1): an EPT violation or misconfiguration there is a VM
    /// exit without a guest-linear address (qualification bit 7 = 0), before the instruction
    /// changes anything.
    fn load_pdptes(&mut self, cr3: u64) -> Result<()> {
        let maxphy = self.cpu.config.maxphyaddr;
        let loaded = match self.cpu.ept {
            None => hvbench_mmu::paging::load_pdptes(self.mem, cr3, maxphy),
            Some(ept) => match hvbench_mmu::nested::load_pdptes(self.mem, &ept, cr3, maxphy).0 {
                Ok(p) => p,
                Err(fault) => {
                    self.intercept(Intercept::Ept { fault, gla: None, during_delivery: false }, 0)?;
                    return Err(Fault::Diverted);
                }
            },
        };
        match loaded {
            Some(p) => {
                self.cpu.paging.pdptes = p;
                Ok(())
            }
            None => Err(Exception::gp0().into()),
        }
    }

    /// CR3: reserved bits above MAXPHYADDR fault in IA-32e mode; with PCIDE, bit 63 asks to
    /// keep the PCID's TLB entries (SDM 4.10.4.1).
    pub fn write_cr3(&mut self, v: u64) -> Result<()> {
        let s = &self.cpu.state;
        let pcide = s.cr4 & cr4::PCIDE != 0;
        let no_flush = pcide && v & (1 << 63) != 0;
        let v = if pcide { v & !(1 << 63) } else { v };
        if s.efer & efer::LMA != 0 && v >> self.cpu.config.maxphyaddr != 0 {
            return Err(Exception::gp0().into());
        }
        let pae_legacy = s.cr0 & cr0::PG != 0 && s.cr4 & cr4::PAE != 0 && s.efer & efer::LMA == 0;
        if pae_legacy {
            self.load_pdptes(v)?;
        }
        self.cpu.state.cr3 = v;
        if !no_flush {
            let pcid = if pcide { (v & 0xfff) as u16 } else { 0 };
            let vpid = self.cpu.tlb_vpid;
            if pcide {
                self.cpu.tlb.invalidate_pcid(hvbench_mmu::tlb::Tag { pcid, vpid, ept: self.cpu.tlb_ept });
            } else {
                self.cpu.tlb.invalidate_non_global(vpid);
            }
        }
        self.cpu.refresh_paging();
        Ok(())
    }

    /// CR4 with its reserved bits and the IA-32e rules (SDM 2.5, "MOV to CR4" #GP list).
    pub fn write_cr4(&mut self, v: u64) -> Result<()> {
        let gp = || Err(Exception::gp0().into());
        let s = &self.cpu.state;
        let supported = cr4::VME | cr4::PVI | cr4::TSD | cr4::DE | cr4::PSE | cr4::PAE | cr4::MCE | cr4::PGE | cr4::PCE
            | cr4::OSFXSR | cr4::OSXMMEXCPT | cr4::UMIP | cr4::FSGSBASE | cr4::PCIDE | cr4::SMEP | cr4::SMAP | cr4::LA57 | cr4::OSXSAVE;
        let vmxe_ok = v & cr4::VMXE == 0 || self.cpu.ext.as_deref().is_some_and(|e| e.cr4_vmxe_allowed());
        if v & !(supported | cr4::VMXE) != 0 || !vmxe_ok {
            return gp();
        }
        if let Some(e) = self.cpu.ext.as_deref()
            && !e.cr_write_allowed(self, 4, v)
        {
            return gp();
        }
        let old = s.cr4;
        let long = s.efer & efer::LMA != 0;
        if long && v & cr4::PAE == 0 {
            return gp();
        }
        if long && (v ^ old) & cr4::LA57 != 0 {
            return gp();
        }
        if v & cr4::PCIDE != 0 && old & cr4::PCIDE == 0 && (!long || s.cr3 & 0xfff != 0) {
            return gp();
        }
        let pae_legacy = s.cr0 & cr0::PG != 0 && v & cr4::PAE != 0 && !long;
        if pae_legacy && (v ^ old) & (cr4::PAE | cr4::PGE | cr4::PSE | cr4::SMEP) != 0 {
            self.load_pdptes(s.cr3)?;
        }
        self.cpu.state.cr4 = v;
        let flush = cr4::PGE | cr4::PAE | cr4::PSE | cr4::PCIDE | cr4::SMEP | cr4::SMAP | cr4::LA57;
        if (v ^ old) & flush != 0 {
            self.cpu.tlb.invalidate_all();
        }
        self.cpu.refresh_paging();
        Ok(())
    }

    /// MOV to/from DRn (SDM 18.2): DR4/DR5 alias DR6/DR7 unless CR4.DE=1 (#UD then).
    fn mov_dr(&mut self, dst: Register, src: Register) -> Result<()> {
        let n = |r: Register| (r as u32 - Register::DR0 as u32) as usize;
        if self.cpu.state.dr[7] & DR7_GD != 0 {
            // General detect (SDM 18.2.4): a fault-class #DB with DR6.BD; its delivery sets
            // BD and clears GD (deliver.rs).
            return Err(Exception::db_with(1 << 13).into());
        }
        let to_dr = dst.is_dr();
        let mut idx = if to_dr { n(dst) } else { n(src) };
        if idx == 4 || idx == 5 {
            if self.cpu.state.cr4 & cr4::DE != 0 {
                return Err(Exception::ud().into());
            }
            idx += 2;
        }
        if idx > 7 {
            return Err(Exception::ud().into());
        }
        if to_dr {
            let v = self.reg(src);
            let long = self.cpu.state.mode() == Mode::Long64;
            if (idx == 6 || idx == 7) && long && v >> 32 != 0 {
                return Err(Exception::gp0().into());
            }
            self.cpu.state.dr[idx] = match idx {
                6 => (v & 0x0000_e00f) | 0xffff_0ff0,
                7 => (v & 0xffff_2bff) | 0x400,
                _ => v,
            };
            self.cpu.refresh_debug();
        } else {
            let v = self.cpu.state.dr[idx];
            self.set_reg(dst, v);
        }
        Ok(())
    }
}

/// IRETD/IRETQ load RF from the image (unlike POPF), so a #DB handler can resume past an
/// instruction breakpoint (SDM "IRET" pseudocode: the EFLAGS mask includes bit 16).
fn restore_rf(x: &mut Exec<'_>, image: u64, size: u32) {
    if size >= 4 {
        x.cpu.state.rflags = (x.cpu.state.rflags & !flags::RF) | (image & flags::RF);
    }
}

/// DR7.GD: general-detect enable.
const DR7_GD: u64 = 1 << 13;

/// JMP ptr16:16/32 or m16:16/32/64.
fn jmp_far(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (sel, off) = far_pointer(x, i)?;
    x.far_jump(sel, off)
}

/// The selector:offset of a far JMP/CALL operand.
pub(super) fn far_pointer(x: &mut Exec<'_>, i: &Instruction) -> Result<(u16, u64)> {
    match i.op0_kind() {
        OpKind::FarBranch16 => Ok((i.far_branch_selector(), i.far_branch16() as u64)),
        OpKind::FarBranch32 => Ok((i.far_branch_selector(), i.far_branch32() as u64)),
        OpKind::Memory => {
            let (seg, off) = x.mem_operand(i);
            let size = i.memory_size().size() as u32 - 2;
            let o = x.read_mem(seg, off, size)?;
            let s = x.read_mem(seg, off.wrapping_add(size as u64), 2)? as u16;
            Ok((s, o))
        }
        _ => Err(Exception::ud().into()),
    }
}

/// In VMX non-root operation IRET removes blocking by NMI (virtual-NMI blocking with
/// "virtual NMIs") before anything can fault, as the processor does: a fault during the IRET
/// leaves NMIs unblocked and its VM exit says so (SDM Vol. 3C 28.2.2 "Information for VM
/// Exits Due to Vectored Events", bit 12 "NMI unblocking due to IRET"; 28.2.1 for EPT
/// violations). Not with "NMI exiting" = 1 and "virtual NMIs" = 0, where IRET leaves NMI
/// blocking alone (26.3).
fn iret_unblocks_nmi_early(x: &mut Exec<'_>) {
    if x.cpu.vmx_non_root && x.cpu.state.nmi_blocked && !x.cpu.iret_keeps_nmi_blocking {
        x.cpu.state.nmi_blocked = false;
        x.cpu.iret_unblocked_nmi = true;
    }
}

/// The RSP and SS items of an IRET frame (read, not yet popped).
fn iret_pop_stack(x: &mut Exec<'_>, size: u32) -> Result<(u64, u16)> {
    let sp = x.peek(3 * size as u64, size)?;
    let ss_sel = x.peek(4 * size as u64, size)? as u16;
    Ok((sp, ss_sel))
}

/// IRET/IRETD/IRETQ (SDM Vol. 2A "IRET/IRETD/IRETQ"): real mode, protected mode to the same
/// or an outer level, IA-32e mode, and to and within virtual-8086 mode (crate::v8086). Task
/// returns (NT=1) are refused visibly. IRET ends NMI blocking.
fn iret(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size: u32 = match i.code() {
        Code::Iretw => 2,
        Code::Iretd => 4,
        _ => 8,
    };
    let mode = x.cpu.state.mode();
    if mode == Mode::Virtual8086 && x.iopl() < 3 {
        iret_unblocks_nmi_early(x);
        x.v8086_iret_vme(size)?;
        if !x.cpu.iret_keeps_nmi_blocking {
            x.cpu.state.nmi_blocked = false;
        }
        x.cpu.iret_unblocked_nmi = false;
        x.cpu.poll_events = true;
        return Ok(());
    }
    if mode == Mode::Real || mode == Mode::Virtual8086 {
        // Real mode, and virtual-8086 mode at IOPL 3: CS keeps its v8086 rights (0xF3) and
        // POPF's rules leave IOPL, VM, VIF and VIP alone (SDM "IRET").
        iret_unblocks_nmi_early(x);
        let ip = x.peek(0, size)?;
        let cs = x.peek(size as u64, size)? as u16;
        let fl = x.peek(2 * size as u64, size)?;
        if ip > x.cpu.state.seg(SegReg::Cs).limit as u64 {
            return Err(Exception::gp0().into());
        }
        x.cpu.state.gpr[4] = x.stack_pointer_after(3 * size as i64);
        let c = &mut x.cpu.state.seg[SegReg::Cs as usize];
        c.selector = cs;
        c.base = (cs as u64) << 4;
        x.write_flags(fl, size);
        restore_rf(x, fl, size);
        x.branch(ip);
        if !x.cpu.iret_keeps_nmi_blocking {
            x.cpu.state.nmi_blocked = false;
        }
        x.cpu.iret_unblocked_nmi = false;
        return Ok(());
    }
    if x.cpu.state.rflags & flags::NT != 0 {
        if x.cpu.state.efer & efer::LMA != 0 {
            return Err(Exception::gp0().into());
        }
        if x.cpu.vmx_non_root {
            // SDM Vol. 3C 26.4.2: IRET with NT = 1 outside IA-32e mode exits (reason 9, source
            // 1) once the new TSS (the current TSS's previous-task link) passes the checks of
            // steps 2-4 (IRET pseudocode: #TS for a bad link selector or a TSS not busy).
            let link = x.read_system(x.cpu.state.tr.base, 2)? as u16;
            x.check_new_tss(link, crate::task::TaskSwitchCause::Iret)?;
            x.intercept(Intercept::TaskSwitch { len: i.len() as u8, selector: link, source: 1, software_vector: None }, 0)?;
        }
        return Err(Fault::Unsupported(&"IRET with NT=1 (task return) is not implemented yet"));
    }
    iret_unblocks_nmi_early(x);
    let ip = x.peek(0, size)?;
    let cs_sel = x.peek(size as u64, size)? as u16;
    let fl = x.peek(2 * size as u64, size)?;
    if fl & flags::VM != 0 && x.cpu.state.cpl == 0 && x.cpu.state.efer & efer::LMA == 0 && size == 4 {
        x.iret_to_v8086()?;
        if !x.cpu.iret_keeps_nmi_blocking {
            x.cpu.state.nmi_blocked = false;
        }
        x.cpu.iret_unblocked_nmi = false;
        return Ok(());
    }
    let cpl = x.cpu.state.cpl;
    let rpl = (cs_sel & 3) as u8;
    let long_mode = x.cpu.state.efer & efer::LMA != 0;
    // 64-bit mode always pops SS:RSP; otherwise only on a return to an outer level.
    let pops_stack = mode == Mode::Long64 || rpl > cpl;
    // In IA-32e mode the whole frame (RIP, CS, RFLAGS, RSP, SS) is popped before
    // IA-32e-MODE-RETURN checks anything (SDM Vol. 2A IRET Operation, "IA-32e-MODE"), so a fault
    // reading RSP or SS comes before a #GP/#NP for the code segment. Outside IA-32e mode
    // RETURN-TO-OUTER-PRIVILEGE-LEVEL reads ESP and SS only after the code-segment checks.
    let early_stack = if long_mode && pops_stack { Some(iret_pop_stack(x, size)?) } else { None };
    let cs_err = Exception::gp(cs_sel as u32 & 0xfffc);
    if cs_sel & 0xfffc == 0 {
        return Err(Exception::gp0().into());
    }
    let d = x.descriptor_or(cs_sel, cs_err)?;
    if !d.is_code_or_data() || d.typ() & 8 == 0 || rpl < cpl {
        return Err(cs_err.into());
    }
    let conforming = d.typ() & 4 != 0;
    if (conforming && d.dpl() > rpl) || (!conforming && d.dpl() != rpl) {
        return Err(cs_err.into());
    }
    if !d.present() {
        return Err(Exception::np(cs_sel as u32 & 0xfffc).into());
    }
    let cs = d.to_segment(cs_sel);
    let target_long = long_mode && cs.long();
    if long_mode && cs.long() && cs.db() {
        return Err(cs_err.into());
    }
    let mut new_ss = None;
    if pops_stack {
        let (sp, ss_sel) = match early_stack {
            Some(v) => v,
            None => iret_pop_stack(x, size)?,
        };
        let ss_err = Exception::gp(ss_sel as u32 & 0xfffc);
        let ss = if ss_sel & 0xfffc == 0 {
            // A null SS is allowed only when returning to 64-bit code at CPL < 3.
            if !(target_long && rpl != 3) {
                return Err(Exception::gp(ss_sel as u32 & 0xfffc).into());
            }
            crate::segment::Segment { selector: ss_sel, base: 0, limit: 0, attr: attr::UNUSABLE | ((rpl as u32) << 5) }
        } else {
            let sd = x.descriptor_or(ss_sel, ss_err)?;
            let writable = sd.is_code_or_data() && sd.typ() & 8 == 0 && sd.typ() & 2 != 0;
            if (ss_sel & 3) as u8 != rpl || sd.dpl() != rpl || !writable {
                return Err(ss_err.into());
            }
            if !sd.present() {
                return Err(Exception::ss(ss_sel as u32 & 0xfffc).into());
            }
            sd.to_segment(ss_sel)
        };
        new_ss = Some((ss, sp));
    }
    let target = if target_long { ip } else if cs.db() { ip & 0xffff_ffff } else { ip & 0xffff };
    if target_long {
        if !x.is_canonical(target) {
            return Err(Exception::gp0().into());
        }
    } else if target > cs.limit as u64 {
        return Err(Exception::gp0().into());
    }
    // Commit. Flags are written with the old CPL's rights (SDM IRET pseudocode).
    let before = mode;
    x.write_flags(fl, size);
    restore_rf(x, fl, size);
    if size >= 4 && cpl == 0 {
        // CPL 0 may also restore VIF/VIP (VM was refused above).
        let m = flags::VIF | flags::VIP;
        x.cpu.state.rflags = (x.cpu.state.rflags & !m) | (fl & m);
    }
    x.cpu.state.seg[SegReg::Cs as usize] = cs;
    x.cpu.state.cpl = rpl;
    match new_ss {
        Some((ss, sp)) => {
            x.cpu.state.seg[SegReg::Ss as usize] = ss;
            let m = if target_long { u64::MAX } else if ss.db() { 0xffff_ffff } else { 0xffff };
            let old = x.cpu.state.gpr[4];
            x.cpu.state.gpr[4] = (old & !m) | (sp & m);
            if target_long {
                x.cpu.state.gpr[4] = sp;
            }
        }
        None => x.cpu.state.gpr[4] = x.stack_pointer_after(3 * size as i64),
    }
    if rpl > cpl {
        // Segment registers the new level may not use become null (SDM IRET "RETURN-TO-OUTER").
        for seg in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let s = x.cpu.state.seg[seg as usize];
            let data_or_nc = s.attr & attr::CODE == 0 || s.attr & attr::DC == 0;
            if !s.unusable() && data_or_nc && s.dpl() < rpl {
                let r = &mut x.cpu.state.seg[seg as usize];
                r.selector = 0;
                r.attr |= attr::UNUSABLE;
            }
        }
    }
    if !x.cpu.iret_keeps_nmi_blocking {
        x.cpu.state.nmi_blocked = false;
    }
    x.cpu.iret_unblocked_nmi = false;
    x.cpu.poll_events = true;
    x.branch(target);
    x.note_mode_change(before);
    Ok(())
}
