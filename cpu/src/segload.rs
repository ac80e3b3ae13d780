//! Loading segment registers: MOV/POP to DS, ES, FS, GS, SS (SDM Vol. 2B "MOV", "POP"
//! pseudocode; Vol. 3A 5.5-5.8 privilege checks) and CS for far JMP (SDM Vol. 2A "JMP").

use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::segment::{attr, SegReg, Segment};
use crate::state::Mode;

impl Exec<'_> {
    /// Reads the descriptor for `selector`, turning an out-of-table selector into `err`.
    pub(crate) fn descriptor_or(&mut self, selector: u16, err: Exception) -> Result<crate::segment::Descriptor> {
        match self.read_descriptor(selector) {
            Ok(r) => r,
            Err(()) => Err(err.into()),
        }
    }

    /// Sets the accessed bit of the descriptor for `selector` if it is clear.
    fn set_accessed(&mut self, selector: u16, raw: u64) -> Result<()> {
        if raw & (1 << 40) != 0 {
            return Ok(());
        }
        let base = if selector & 4 != 0 { self.cpu.state.ldtr.base } else { self.cpu.state.gdtr.base };
        let la = self.wrap_linear(base.wrapping_add((selector & !7) as u64));
        self.write_system(la.wrapping_add(5), 1, (raw >> 40) | 1)
    }

    /// MOV/POP to a data segment register or SS, with the protected-mode checks.
    pub fn load_data_segment(&mut self, seg: SegReg, selector: u16) -> Result<()> {
        let mode = self.cpu.state.mode();
        if mode == Mode::Real || mode == Mode::Virtual8086 {
            let s = &mut self.cpu.state.seg[seg as usize];
            s.selector = selector;
            s.base = (selector as u64) << 4;
            if mode == Mode::Virtual8086 {
                *s = Segment::real_mode(selector, crate::state::RESET_DATA_ATTR | (3 << 5));
            }
            if seg == SegReg::Ss {
                self.cpu.state.shadow |= 2;
            }
            return Ok(());
        }
        let cpl = self.cpu.state.cpl;
        let rpl = (selector & 3) as u8;
        let sel_err = Exception::gp(selector as u32 & 0xfffc);
        if selector & 0xfffc == 0 {
            if seg == SegReg::Ss {
                // A null SS is allowed only in 64-bit mode at CPL < 3 with RPL = CPL.
                if !(mode == Mode::Long64 && cpl < 3 && rpl == cpl) {
                    return Err(Exception::gp0().into());
                }
            }
            let s = &mut self.cpu.state.seg[seg as usize];
            s.selector = selector;
            s.attr = attr::UNUSABLE | if seg == SegReg::Ss { (cpl as u32) << 5 } else { 0 };
            if mode != Mode::Long64 || !matches!(seg, SegReg::Fs | SegReg::Gs) {
                s.base = 0;
            }
            if seg == SegReg::Ss {
                self.cpu.state.shadow |= 2;
            }
            return Ok(());
        }
        let d = self.descriptor_or(selector, sel_err)?;
        let typ = d.typ();
        let code = typ & 8 != 0;
        if seg == SegReg::Ss {
            let writable_data = d.is_code_or_data() && !code && typ & 2 != 0;
            if rpl != cpl || d.dpl() != cpl || !writable_data {
                return Err(sel_err.into());
            }
            if !d.present() {
                return Err(Exception::ss(selector as u32 & 0xfffc).into());
            }
        } else {
            let readable = d.is_code_or_data() && (!code || typ & 2 != 0);
            if !readable {
                return Err(sel_err.into());
            }
            let conforming_code = code && typ & 4 != 0;
            if !conforming_code && (rpl > d.dpl() || cpl > d.dpl()) {
                return Err(sel_err.into());
            }
            if !d.present() {
                return Err(Exception::np(selector as u32 & 0xfffc).into());
            }
        }
        self.set_accessed(selector, d.raw)?;
        let mut s = d.to_segment(selector);
        s.attr |= attr::ACCESSED;
        if mode == Mode::Long64 && matches!(seg, SegReg::Fs | SegReg::Gs) {
            // The 32-bit base from the descriptor replaces the whole base (SDM 3.4.4.1).
            s.base &= 0xffff_ffff;
        }
        self.cpu.state.seg[seg as usize] = s;
        if seg == SegReg::Ss {
            self.cpu.state.shadow |= 2;
        }
        Ok(())
    }

    /// Far JMP to `selector:offset` through a code-segment descriptor (not a gate).
    /// Returns with CS and RIP loaded; call gates, task gates and TSS targets are refused.
    pub fn far_jump(&mut self, selector: u16, offset: u64) -> Result<()> {
        let mode = self.cpu.state.mode();
        let before = mode;
        if mode == Mode::Real || mode == Mode::Virtual8086 {
            if offset > self.cpu.state.seg(SegReg::Cs).limit as u64 {
                return Err(Exception::gp0().into());
            }
            let cs = &mut self.cpu.state.seg[SegReg::Cs as usize];
            cs.selector = selector;
            cs.base = (selector as u64) << 4;
            self.branch(offset);
            return Ok(());
        }
        let sel_err = Exception::gp(selector as u32 & 0xfffc);
        if selector & 0xfffc == 0 {
            return Err(Exception::gp0().into());
        }
        let d = self.descriptor_or(selector, sel_err)?;
        if !d.is_code_or_data() {
            // Call gates (task gates and TSSs are refused there): exec/far.rs.
            return self.far_jump_system(selector, d);
        }
        let cpl = self.cpu.state.cpl;
        let typ = d.typ();
        if typ & 8 == 0 {
            return Err(sel_err.into());
        }
        let conforming = typ & 4 != 0;
        let rpl = (selector & 3) as u8;
        let privilege_ok = if conforming { d.dpl() <= cpl } else { rpl <= cpl && d.dpl() == cpl };
        if !privilege_ok {
            return Err(sel_err.into());
        }
        if !d.present() {
            return Err(Exception::np(selector as u32 & 0xfffc).into());
        }
        let mut cs = d.to_segment((selector & 0xfffc) | cpl as u16);
        let long = self.cpu.state.efer & crate::regs::efer::LMA != 0 && cs.long();
        if long && cs.db() {
            return Err(sel_err.into());
        }
        let target = if long { offset } else if cs.db() { offset & 0xffff_ffff } else { offset & 0xffff };
        if !long && target > cs.limit as u64 {
            return Err(Exception::gp0().into());
        }
        if long && !self.is_canonical(target) {
            return Err(Exception::gp0().into());
        }
        self.set_accessed(selector, d.raw)?;
        cs.attr |= attr::ACCESSED;
        self.cpu.state.seg[SegReg::Cs as usize] = cs;
        self.branch(target);
        self.note_mode_change(before);
        Ok(())
    }

    /// Records a mode change event if the mode differs from `before`.
    pub fn note_mode_change(&mut self, before: Mode) {
        let to = self.cpu.state.mode();
        if to != before {
            let rip = self.cpu.state.rip;
            self.cpu.emit(|| crate::events::Event::ModeChange { from: before, to, rip });
        }
    }
}
