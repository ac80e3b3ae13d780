//! Virtual-8086 mode and the virtual interrupt extensions (SDM Vol. 3B chapter 20 "8086
//! Emulation": 20.2 "Virtual-8086 Mode", 20.3 "Interrupt and Exception Handling in
//! Virtual-8086 Mode", 20.4 "Protected-Mode Virtual Interrupts"; Vol. 3A 6.12.1 and the
//! INT n, IRET, CLI, STI, PUSHF and POPF pseudocode of Vol. 2).
//!
//! - Entering: IRETD at CPL 0 whose EFLAGS image has VM=1 ([`Exec::iret_to_v8086`]), or a VM
//!   entry whose guest RFLAGS has VM=1 (the vmx crate loads the state).
//! - In v8086 mode CPL is 3, code and data are 16-bit by default and every segment register
//!   holds base = selector << 4, limit 0xFFFF and access rights 0xF3 (present, DPL 3,
//!   read/write accessed data: the values SDM Vol. 3C 27.3.1.2 requires of a VM=1 guest).
//! - Leaving: an interrupt or exception through a 32- or 16-bit interrupt/trap gate to a
//!   non-conforming DPL-0 code segment ([`Exec::deliver_from_v8086`], INT n pseudocode
//!   "INTERRUPT-FROM-VIRTUAL-8086-MODE"). Task gates are refused as elsewhere in the core
//!   (no task switching).
//! - IOPL-sensitive instructions (CLI, STI, PUSHF, POPF, INT n, IRET) #GP(0) at IOPL < 3
//!   unless CR4.VME gives them their virtual-interrupt meaning (20.3.2, 20.3.3); CLI/STI at
//!   CPL 3 in protected mode get the same with CR4.PVI (20.4).

use crate::cpu::Exec;
use crate::deliver::EventKind;
use crate::exception::{Exception, Result};
use crate::flags;
use crate::regs::cr4;
use crate::segment::{attr, SegReg, Segment};
use crate::state::Mode;
use hvbench_mmu::paging::{Access, AccessKind};

/// Access rights of every segment register in virtual-8086 mode (0xF3).
pub const V86_ATTR: u32 = attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DPL;

/// A segment register as a virtual-8086 mode load leaves it (SDM 20.1.1: base = selector * 16).
pub const fn v86_segment(selector: u16) -> Segment {
    Segment::real_mode(selector, V86_ATTR)
}

/// What an IOPL-sensitive CLI/STI does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfTarget {
    /// Change RFLAGS.IF.
    Real,
    /// VIF was changed instead (VME in v8086 mode, PVI at CPL 3).
    Virtual,
}

impl Exec<'_> {
    /// The CLI/STI privilege rules (SDM "CLI", "STI" pseudocode). Returns which flag the
    /// instruction changes; for [`IfTarget::Virtual`] VIF has already been written.
    pub(crate) fn cli_sti_target(&mut self, set: bool) -> Result<IfTarget> {
        let s = &self.cpu.state;
        let mode = s.mode();
        if mode == Mode::Real {
            return Ok(IfTarget::Real);
        }
        let iopl = ((s.rflags & flags::IOPL) >> 12) as u8;
        let vip = s.rflags & flags::VIP != 0;
        let virtual_ok = if mode == Mode::Virtual8086 {
            if iopl == 3 {
                return Ok(IfTarget::Real);
            }
            s.cr4 & cr4::VME != 0
        } else {
            if s.cpl <= iopl {
                return Ok(IfTarget::Real);
            }
            s.cpl == 3 && s.cr4 & cr4::PVI != 0
        };
        // STI with a virtual interrupt pending traps to the monitor (20.3.2, 20.4).
        if !virtual_ok || (set && vip) {
            return Err(Exception::gp0().into());
        }
        let s = &mut self.cpu.state;
        s.rflags = if set { s.rflags | flags::VIF } else { s.rflags & !flags::VIF };
        Ok(IfTarget::Virtual)
    }

    /// PUSHF in virtual-8086 mode (SDM "PUSHF" pseudocode): as elsewhere at IOPL 3; with
    /// CR4.VME and a 16-bit operand, FLAGS with IF replaced by VIF and IOPL shown as 3; else
    /// #GP(0).
    pub(crate) fn v8086_pushf(&mut self, size: u32) -> Result<()> {
        let f = self.cpu.state.rflags;
        if f & flags::IOPL == flags::IOPL {
            return self.push(size, f & !(flags::VM | flags::RF));
        }
        if self.cpu.state.cr4 & cr4::VME == 0 || size != 2 {
            return Err(Exception::gp0().into());
        }
        let vif = if f & flags::VIF != 0 { flags::IF } else { 0 };
        self.push(2, (f & 0xffff & !flags::IF) | vif | flags::IOPL)
    }

    /// POPF in virtual-8086 mode (SDM "POPF" pseudocode): at IOPL 3 IOPL stays; with
    /// CR4.VME and a 16-bit operand the image's IF goes to VIF (#GP(0) if it sets TF, or sets
    /// IF while VIP=1); else #GP(0).
    pub(crate) fn v8086_popf(&mut self, size: u32) -> Result<()> {
        let f = self.cpu.state.rflags;
        if f & flags::IOPL == flags::IOPL {
            let v = self.pop(size)?;
            self.write_flags(v, size);
            return Ok(());
        }
        if self.cpu.state.cr4 & cr4::VME == 0 || size != 2 {
            return Err(Exception::gp0().into());
        }
        let t = self.peek(0, 2)?;
        self.vme_flags_image(t)?;
        self.cpu.state.gpr[4] = self.stack_pointer_after(2);
        self.load_vme_flags(t);
        Ok(())
    }

    /// #GP(0) for a VME FLAGS image that sets TF, or sets IF while VIP=1.
    fn vme_flags_image(&self, t: u64) -> Result<()> {
        if t & flags::TF != 0 || (t & flags::IF != 0 && self.cpu.state.rflags & flags::VIP != 0) {
            return Err(Exception::gp0().into());
        }
        Ok(())
    }

    /// Loads FLAGS[15:0] from a VME image except IF and IOPL; VIF takes the image's IF.
    fn load_vme_flags(&mut self, t: u64) {
        let keep = !0xffff | flags::IF | flags::IOPL;
        let m = flags::DEFINED & 0xffff & !(flags::IF | flags::IOPL);
        let s = &mut self.cpu.state;
        let vif = if t & flags::IF != 0 { flags::VIF } else { 0 };
        s.rflags = (s.rflags & keep & !flags::VIF) | (t & m) | vif | flags::FIXED1;
    }

    /// IRET in virtual-8086 mode at IOPL < 3 (IOPL 3 takes the real-mode path): with CR4.VME
    /// and a 16-bit operand, pops IP, CS and FLAGS with the POPF VME rules; else #GP(0)
    /// (SDM "IRET" pseudocode).
    pub(crate) fn v8086_iret_vme(&mut self, size: u32) -> Result<()> {
        if self.cpu.state.cr4 & cr4::VME == 0 || size != 2 {
            return Err(Exception::gp0().into());
        }
        let ip = self.peek(0, 2)?;
        let cs = self.peek(2, 2)? as u16;
        let t = self.peek(4, 2)?;
        if ip > self.cpu.state.seg(SegReg::Cs).limit as u64 {
            return Err(Exception::gp0().into());
        }
        self.vme_flags_image(t)?;
        self.cpu.state.gpr[4] = self.stack_pointer_after(6);
        self.load_vme_flags(t);
        self.cpu.state.seg[SegReg::Cs as usize] = v86_segment(cs);
        self.branch(ip);
        Ok(())
    }

    /// IRETD at CPL 0 to virtual-8086 mode (SDM "IRET" pseudocode,
    /// RETURN-TO-VIRTUAL-8086-MODE): pops EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS (32 bits
    /// each, selectors from the low 16), loads the segments real-mode style and sets CPL 3.
    pub(crate) fn iret_to_v8086(&mut self) -> Result<()> {
        let mut v = [0u64; 9];
        for (n, slot) in v.iter_mut().enumerate() {
            *slot = self.peek(4 * n as u64, 4)?;
        }
        // The return EIP must lie within the new CS limit (0xFFFF).
        if v[0] > 0xffff {
            return Err(Exception::gp0().into());
        }
        let before = self.cpu.state.mode();
        let s = &mut self.cpu.state;
        s.rflags = (v[2] & flags::DEFINED) | flags::FIXED1;
        s.gpr[4] = v[3] & 0xffff_ffff;
        s.seg[SegReg::Cs as usize] = v86_segment(v[1] as u16);
        s.seg[SegReg::Ss as usize] = v86_segment(v[4] as u16);
        for (seg, sel) in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs].into_iter().zip(&v[5..]) {
            s.seg[seg as usize] = v86_segment(*sel as u16);
        }
        s.cpl = 3;
        self.cpu.poll_events = true;
        self.branch(v[0]);
        self.note_mode_change(before);
        Ok(())
    }

    /// INT n in virtual-8086 mode (SDM "INT n" pseudocode; Vol. 3B 20.3.3 Table 20-2, the
    /// six methods): without CR4.VME, through the IDT at IOPL 3 and #GP(0) otherwise; with
    /// CR4.VME, bit n of the TSS's software interrupt redirection bitmap chooses the IDT (set;
    /// #GP(0) at IOPL < 3) or the 8086 program's IVT at linear 0 (clear).
    pub(crate) fn v8086_int_n(&mut self, vec: u8) -> Result<()> {
        let f = self.cpu.state.rflags;
        let iopl3 = f & flags::IOPL == flags::IOPL;
        let via_idt = if self.cpu.state.cr4 & cr4::VME == 0 { true } else { self.redirection_bit(vec)? };
        if via_idt {
            if !iopl3 {
                return Err(Exception::gp0().into());
            }
            return self.software_interrupt(vec, EventKind::SoftwareInterrupt);
        }
        let ip = self.redirect_to_ivt(vec, self.cpu.next_rip)?;
        self.branch(ip);
        Ok(())
    }

    /// Methods 5 and 6 of Table 20-2: an 8086-style frame (FLAGS, CS, `return_ip`) on the
    /// v8086 stack, IF (IOPL 3) or VIF (IOPL < 3) and TF cleared, CS from IVT[vec] at linear
    /// 0. At IOPL < 3 the pushed FLAGS show IF = VIF and IOPL = 3. The IVT read and the pushes
    /// are accesses by the v8086 program (CPL 3). Returns the handler's IP.
    fn redirect_to_ivt(&mut self, vec: u8, return_ip: u64) -> Result<u64> {
        let f = self.cpu.state.rflags;
        let iopl3 = f & flags::IOPL == flags::IOPL;
        let entry = self.read_linear_as(vec as u64 * 4, 4, Access::new(AccessKind::Read, 3, f & flags::AC != 0))?;
        let mut image = f & 0xffff;
        if !iopl3 {
            image = (image & !flags::IF) | if f & flags::VIF != 0 { flags::IF } else { 0 } | flags::IOPL;
        }
        let frame = [image, self.cpu.state.seg(SegReg::Cs).selector as u64, return_ip & 0xffff];
        let m = self.stack_mask();
        for (n, val) in frame.into_iter().enumerate() {
            let off = self.stack_pointer_after(-2 * (n as i64 + 1)) & m;
            self.write_mem(SegReg::Ss, off, 2, val)?;
        }
        let rip = self.cpu.state.rip;
        self.cpu.emit(|| crate::events::Event::SoftwareInterrupt { vector: vec, rip });
        let sp = self.stack_pointer_after(-6);
        let s = &mut self.cpu.state;
        s.gpr[4] = sp;
        s.rflags &= !(flags::TF | if iopl3 { flags::IF } else { flags::VIF });
        s.seg[SegReg::Cs as usize] = v86_segment((entry >> 16) as u16);
        Ok(entry & 0xffff)
    }

    /// A software interrupt injected by VM entry into a virtual-8086 guest (SDM Vol. 3C
    /// 27.6.1.1): no #GP for IOPL < 3; with CR4.VME a clear redirection-bitmap bit sends it
    /// through the 8086 IVT as INT n would, a set bit through the IDT.
    pub(crate) fn inject_v8086_software_interrupt(&mut self, vec: u8, return_rip: u64) -> Result<()> {
        if self.cpu.state.cr4 & cr4::VME != 0 && !self.redirection_bit(vec)? {
            let ip = self.redirect_to_ivt(vec, return_rip)?;
            self.cpu.state.rip = ip;
            return Ok(());
        }
        self.deliver_from_v8086(vec, EventKind::SoftwareInterrupt, None, return_rip)
    }

    /// Bit `vec` of the software interrupt redirection bitmap: the 32 bytes just below the
    /// I/O map base of the 32-bit TSS (SDM Vol. 3B 20.3.3, Figure 20-5). A map outside the
    /// TSS limit, or a 16-bit TSS, gives #GP(0).
    fn redirection_bit(&mut self, vec: u8) -> Result<bool> {
        let tr = self.cpu.state.tr;
        if tr.typ() & 8 == 0 || tr.limit < 0x67 {
            return Err(Exception::gp0().into());
        }
        let io_base = self.read_system(tr.base.wrapping_add(0x66) & 0xffff_ffff, 2)?;
        let off = (io_base + (vec as u64 >> 3)).wrapping_sub(32);
        if io_base < 32 || off > tr.limit as u64 {
            return Err(Exception::gp0().into());
        }
        let byte = self.read_system(tr.base.wrapping_add(off) & 0xffff_ffff, 1)?;
        Ok(byte >> (vec & 7) & 1 != 0)
    }

    /// Delivery of an interrupt or exception from virtual-8086 mode through the IDT (SDM
    /// Vol. 3A 6.12.1, Vol. 3B 20.3.1.1 and the INT n pseudocode
    /// "INTERRUPT-FROM-VIRTUAL-8086-MODE"): only a non-conforming DPL-0 handler is allowed
    /// (#GP(selector + EXT) otherwise); the level-0 stack comes from the TSS; the frame holds
    /// GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP [, error code], in the gate's size; VM, TF, RF,
    /// NT (and IF for an interrupt gate) are cleared and DS, ES, FS, GS become null.
    pub(crate) fn deliver_from_v8086(&mut self, vec: u8, kind: EventKind, error_code: Option<u32>, return_rip: u64) -> Result<()> {
        let ext = kind.ext();
        let (lo, _) = self.read_gate(vec, kind, false)?;
        let gate_type = ((lo >> 40) & 0xf) as u32;
        let gate32 = gate_type & 8 != 0;
        let mut target = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000);
        if !gate32 {
            target &= 0xffff;
        }
        let sel = (lo >> 16) as u16;
        let cs_desc = self.gate_code_segment(sel, ext, false)?;
        let conforming = cs_desc.typ() & 4 != 0;
        if conforming || cs_desc.dpl() != 0 {
            return Err(Exception::gp((sel as u32 & 0xfffc) + ext).into());
        }
        let (ss, esp) = self.tss_stack(0, ext)?;
        let w: u64 = if gate32 { 4 } else { 2 };
        let n = if error_code.is_some() { 10 } else { 9 };
        // Room for the whole frame (#SS(EXT), checked before anything is written).
        let smask: u64 = if ss.db() { 0xffff_ffff } else { 0xffff };
        let bytes = w * n;
        // ESP0 = 0 is the top of the stack's address space (the first push wraps).
        let top = match esp & smask {
            0 => smask + 1,
            t => t,
        };
        let ok = if ss.attr & attr::DC != 0 {
            top >= bytes && top - bytes > ss.limit as u64
        } else {
            top >= bytes && top - 1 <= ss.limit as u64
        };
        if !ok {
            return Err(Exception::ss(ext).into());
        }
        let new_cs = cs_desc.to_segment(sel & 0xfffc);
        if target > new_cs.limit as u64 {
            return Err(Exception::gp(ext).into());
        }
        let st = &self.cpu.state;
        let sel_of = |r: SegReg| st.seg(r).selector as u64;
        let frame = [
            sel_of(SegReg::Gs),
            sel_of(SegReg::Fs),
            sel_of(SegReg::Ds),
            sel_of(SegReg::Es),
            sel_of(SegReg::Ss),
            st.gpr[4] & 0xffff_ffff,
            st.rflags,
            sel_of(SegReg::Cs),
            return_rip,
            error_code.unwrap_or(0) as u64,
        ];
        let access = Access::new(AccessKind::Write, 0, false);
        let mut sp = esp;
        for v in &frame[..n as usize] {
            sp = (sp & !smask) | (sp.wrapping_sub(w) & smask);
            let la = ss.base.wrapping_add(sp & smask) & 0xffff_ffff;
            self.write_linear_as(la, w as u32, *v & crate::flags::mask(w as u32), access)?;
        }
        let before = Mode::Virtual8086;
        let s = &mut self.cpu.state;
        s.gpr[4] = sp;
        s.seg[SegReg::Ss as usize] = ss;
        s.seg[SegReg::Cs as usize] = new_cs;
        for r in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            s.seg[r as usize] = Segment { selector: 0, base: 0, limit: 0, attr: attr::UNUSABLE };
        }
        s.cpl = 0;
        s.rip = target;
        s.rflags &= !(flags::TF | flags::NT | flags::RF | flags::VM);
        if gate_type & 1 == 0 {
            s.rflags &= !flags::IF;
        }
        self.note_mode_change(before);
        Ok(())
    }
}

/// Whether RFLAGS.VM says virtual-8086 mode: VM can be 1 only in protected mode outside
/// IA-32e mode (POPF/IRET never set it elsewhere and VM entry refuses it).
#[inline(always)]
pub(crate) fn in_v8086(rflags: u64) -> bool {
    rflags & flags::VM != 0
}
