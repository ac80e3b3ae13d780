//! Far control transfers: far CALL (direct and indirect), far RET (RETF, RETF imm16), call
//! gates for far CALL and far JMP, and LDS/LES/LFS/LGS/LSS.
//!
//! SDM Vol. 2A "CALL—Call Procedure", Vol. 2B "RET—Return From Procedure" and "LDS/LES/LFS/
//! LGS/LSS—Load Far Pointer" (the pseudocode gives the order of the checks followed here);
//! Vol. 3A 5.8 "Privilege Level Checking When Transferring Program Control Between Code
//! Segments", 5.8.3 "Call Gates", 5.8.3.1 "IA-32e Mode Call Gates", 5.8.5 "Stack Switching",
//! 5.8.6 "Returning from a Called Procedure".
//!
//! Task gates and TSS targets stop the machine with [`Fault::Unsupported`] (task switching is
//! not modelled). Far transfers are all-or-nothing: every check and every stack slot is
//! verified (segmentation and paging) before anything is written, and registers change last.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Fault, Result};
use crate::regs::efer;
use crate::segment::{attr, systype, Descriptor, SegReg, Segment};
use crate::state::Mode;
use hvbench_mmu::paging::{Access, AccessKind};
use iced_x86::{Code, Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Call if i.is_call_far() || i.is_call_far_indirect() => call_far,
        Mnemonic::Retf => retf,
        Mnemonic::Lds | Mnemonic::Les | Mnemonic::Lfs | Mnemonic::Lgs | Mnemonic::Lss => load_far_pointer,
        _ => return None,
    })
}

/// A stack that is described by a segment which need not be loaded in SS yet.
#[derive(Debug, Clone, Copy)]
struct Stack {
    seg: Segment,
    /// Current stack pointer (full RSP; only the masked part is used outside 64-bit mode).
    sp: u64,
    /// 64-bit addressing (no segmentation, canonical checks).
    long: bool,
    /// Privilege of the accesses.
    cpl: u8,
    /// Error code of the #SS raised for a slot outside the segment.
    err: u32,
}

impl Stack {
    fn mask(&self) -> u64 {
        if self.long {
            u64::MAX
        } else if self.seg.db() {
            0xffff_ffff
        } else {
            0xffff
        }
    }
}

/// A decoded call gate (SDM Vol. 3A 5.8.3, Figures 5-8 and 5-9).
#[derive(Debug, Clone, Copy)]
struct CallGate {
    selector: u16,
    offset: u64,
    /// Parameter count (legacy gates only; 5 bits).
    params: u32,
    /// Gate size in bytes: 2 (16-bit gate), 4 (32-bit gate), 8 (IA-32e 64-bit gate).
    width: u32,
}

impl Exec<'_> {
    /// The linear address of the `size`-byte stack slot at `sp`, checked against the
    /// stack segment's limit (expand-down aware) or for canonicality (#SS(err)).
    fn stack_slot(&self, st: &Stack, sp: u64, size: u32) -> Result<u64> {
        let fault = || -> Fault { Exception::ss(st.err).into() };
        if st.long {
            if !self.is_canonical(sp) || !self.is_canonical(sp.wrapping_add(size as u64 - 1)) {
                return Err(fault());
            }
            return Ok(sp);
        }
        let mask = st.mask();
        let off = sp & mask;
        let last = off + size as u64 - 1;
        let s = &st.seg;
        if s.unusable() {
            return Err(fault());
        }
        let ok = if s.attr & (attr::CODE | attr::DC) == attr::DC {
            off > s.limit as u64 && last <= mask
        } else {
            last <= s.limit as u64
        };
        if !ok {
            return Err(fault());
        }
        Ok(s.base.wrapping_add(off) & 0xffff_ffff)
    }

    /// Pushes `values` (in order, each `width` bytes) on `st`: all slots are checked for
    /// limits first (#SS), then for paging, then written. Returns the new stack pointer
    /// (bits above the stack's address size kept).
    fn push_frame(&mut self, st: &Stack, width: u32, values: &[u64]) -> Result<u64> {
        let mask = st.mask();
        let mut las = [0u64; 40];
        let mut sp = st.sp;
        for la in las.iter_mut().take(values.len()) {
            sp = (sp & !mask) | (sp.wrapping_sub(width as u64) & mask);
            *la = self.stack_slot(st, sp, width)?;
        }
        let access = Access::new(AccessKind::Write, st.cpl, false);
        for &la in &las[..values.len()] {
            self.translate_as(la, access)?;
            if (la & 0xfff) + width as u64 > 0x1000 {
                self.translate_as(self.wrap_linear((la | 0xfff).wrapping_add(1)), access)?;
            }
        }
        for (&la, &v) in las.iter().zip(values) {
            self.write_linear_as(la, width, v, access)?;
        }
        Ok(sp)
    }


    /// Decodes the call gate `d` named by `selector` (reading the upper half of a 16-byte
    /// IA-32e gate), with the gate's own DPL/RPL and presence checks.
    fn call_gate(&mut self, selector: u16, d: Descriptor) -> Result<CallGate> {
        let gate_err = Exception::gp(selector as u32 & 0xfffc);
        let cpl = self.cpu.state.cpl;
        let rpl = (selector & 3) as u8;
        if d.dpl() < cpl || rpl > d.dpl() {
            return Err(gate_err.into());
        }
        if !d.present() {
            return Err(Exception::np(selector as u32 & 0xfffc).into());
        }
        let lo = d.raw;
        let ia32e = self.cpu.state.efer & efer::LMA != 0;
        let mut offset = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000);
        let width = if ia32e {
            // The upper 8 bytes are the next descriptor slot; their type field must be 0.
            let hi_sel = (selector & 0xfff8).checked_add(8).map(|s| s | (selector & 4));
            let hi = match hi_sel {
                Some(s) => self.descriptor_or(s, gate_err)?,
                None => return Err(gate_err.into()),
            };
            if (hi.raw >> 40) & 0x1f != 0 {
                return Err(gate_err.into());
            }
            offset |= (hi.raw & 0xffff_ffff) << 32;
            8
        } else if d.typ() == systype::CALL_GATE16 {
            offset &= 0xffff;
            2
        } else {
            4
        };
        Ok(CallGate { selector: (lo >> 16) as u16, offset, params: ((lo >> 32) & 0x1f) as u32, width })
    }

    /// The code segment a call gate names, with the checks of the CALL/JMP pseudocode
    /// ("CALL-GATE"): null → #GP(0), outside the table or not code → #GP(sel), IA-32e gates
    /// need a 64-bit segment, not present → #NP(sel). `jump` applies JMP's DPL rule.
    fn gate_target_segment(&mut self, sel: u16, jump: bool) -> Result<Descriptor> {
        let err = Exception::gp(sel as u32 & 0xfffc);
        if sel & 0xfffc == 0 {
            return Err(Exception::gp0().into());
        }
        let d = self.descriptor_or(sel, err)?;
        let cpl = self.cpu.state.cpl;
        let is_code = d.is_code_or_data() && d.typ() & 8 != 0;
        if !is_code {
            return Err(err.into());
        }
        let conforming = d.typ() & 4 != 0;
        let dpl_bad = if jump { (conforming && d.dpl() > cpl) || (!conforming && d.dpl() != cpl) } else { d.dpl() > cpl };
        if dpl_bad {
            return Err(err.into());
        }
        let long_ok = d.raw & (1 << 53) != 0 && d.raw & (1 << 54) == 0;
        if self.cpu.state.efer & efer::LMA != 0 && !long_ok {
            return Err(err.into());
        }
        if !d.present() {
            return Err(Exception::np(sel as u32 & 0xfffc).into());
        }
        Ok(d)
    }

    /// Checks a far-transfer target offset against the new CS (#GP(0)) and returns it sized.
    fn far_target(&self, cs: &Segment, offset: u64) -> Result<u64> {
        let long = self.cpu.state.efer & efer::LMA != 0 && cs.long();
        if long {
            if !self.is_canonical(offset) {
                return Err(Exception::gp0().into());
            }
            return Ok(offset);
        }
        if offset > cs.limit as u64 {
            return Err(Exception::gp0().into());
        }
        Ok(offset)
    }

    /// Rejects the system-descriptor types a far CALL/JMP cannot use: task gates and TSSs
    /// stop the machine (task switching is not modelled) after the checks that precede a task
    /// switch, or exit in VMX non-root operation; anything else that is not a call gate valid
    /// in the current mode is #GP(selector). `source`: 0 CALL, 2 JMP (the VM-exit encoding).
    fn check_far_system_type(&mut self, selector: u16, d: &Descriptor, source: u8) -> Result<()> {
        let ia32e = self.cpu.state.efer & efer::LMA != 0;
        let typ = d.typ();
        let err = Exception::gp(selector as u32 & 0xfffc);
        match typ {
            systype::CALL_GATE => Ok(()),
            systype::CALL_GATE16 if !ia32e => Ok(()),
            systype::TASK_GATE | systype::TSS16_AVAIL | systype::TSS_AVAIL if !ia32e => self.far_task_switch(selector, d, source),
            _ => Err(err.into()),
        }
    }

    /// A far CALL/JMP to a task gate or an available TSS outside IA-32e mode: the privilege,
    /// presence and (TSS) limit checks of the CALL/JMP pseudocode, then (SDM Vol. 3C 26.4.2
    /// "Treatment of Task Switches") a VM exit in VMX non-root operation, else the machine
    /// stops: task switching is not modelled.
    fn far_task_switch(&mut self, selector: u16, d: &Descriptor, source: u8) -> Result<()> {
        let (cpl, rpl) = (self.cpu.state.cpl, (selector & 3) as u8);
        let code = selector as u32 & 0xfffc;
        if d.dpl() < cpl || d.dpl() < rpl {
            return Err(Exception::gp(code).into());
        }
        if !d.present() {
            return Err(Exception::np(code).into());
        }
        let target = if d.typ() == systype::TASK_GATE {
            let tss = (d.raw >> 16) as u16;
            self.check_new_tss(tss, crate::task::TaskSwitchCause::CallOrJmp)?;
            tss
        } else {
            let min = if d.typ() == systype::TSS16_AVAIL { 0x2b } else { 0x67 };
            if d.limit() < min {
                return Err(Exception::ts(code).into());
            }
            selector
        };
        if self.cpu.vmx_non_root {
            let len = (self.cpu.next_rip.wrapping_sub(self.cpu.state.rip) & 0xf) as u8;
            self.intercept(crate::ext::Intercept::TaskSwitch { len, selector: target, source, software_vector: None }, 0)?;
        }
        Err(Fault::Unsupported(&"far CALL/JMP to a task gate or TSS (task switching is not implemented yet)"))
    }

    /// Far JMP through a call gate (SDM "JMP" pseudocode, "CALL-GATE"): no stack change, the
    /// target must be reachable at the current privilege level.
    pub(crate) fn far_jump_system(&mut self, selector: u16, d: Descriptor) -> Result<()> {
        self.check_far_system_type(selector, &d, 2)?;
        let before = self.cpu.state.mode();
        let gate = self.call_gate(selector, d)?;
        let cd = self.gate_target_segment(gate.selector, true)?;
        let cpl = self.cpu.state.cpl;
        let cs = cd.to_segment((gate.selector & 0xfffc) | cpl as u16);
        let target = self.far_target(&cs, gate.offset)?;
        self.load_code_segment(gate.selector, cd, cs)?;
        self.branch(target);
        self.note_mode_change(before);
        Ok(())
    }

    /// Sets the accessed bit of a code descriptor and loads CS.
    fn load_code_segment(&mut self, selector: u16, d: Descriptor, mut cs: Segment) -> Result<()> {
        if d.raw & (1 << 40) == 0 {
            let base = if selector & 4 != 0 { self.cpu.state.ldtr.base } else { self.cpu.state.gdtr.base };
            let la = self.wrap_linear(base.wrapping_add((selector & !7) as u64));
            self.write_system(la.wrapping_add(5), 1, (d.raw >> 40) | 1)?;
        }
        cs.attr |= attr::ACCESSED;
        self.cpu.state.seg[SegReg::Cs as usize] = cs;
        Ok(())
    }

    /// The current stack as a [`Stack`].
    fn current_stack(&self) -> Stack {
        let s = &self.cpu.state;
        Stack { seg: *s.seg(SegReg::Ss), sp: s.gpr[4], long: s.mode() == Mode::Long64, cpl: s.cpl, err: 0 }
    }

    /// Far CALL to `selector:offset` with return-address size `size` (2, 4 or 8).
    pub(crate) fn far_call(&mut self, selector: u16, offset: u64, size: u32) -> Result<()> {
        let mode = self.cpu.state.mode();
        let ret_cs = self.cpu.state.seg(SegReg::Cs).selector as u64;
        let ret_ip = self.cpu.next_rip;
        if mode == Mode::Real || mode == Mode::Virtual8086 {
            // SDM "CALL": the target must lie within the current CS limit.
            if offset > self.cpu.state.seg(SegReg::Cs).limit as u64 {
                return Err(Exception::gp0().into());
            }
            let st = self.current_stack();
            let sp = self.push_frame(&st, size, &[ret_cs, ret_ip])?;
            self.cpu.state.gpr[4] = sp;
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
        let cpl = self.cpu.state.cpl;
        if !d.is_code_or_data() {
            self.check_far_system_type(selector, &d, 0)?;
            return self.call_through_gate(selector, d, size);
        }
        if d.typ() & 8 == 0 {
            return Err(sel_err.into());
        }
        let conforming = d.typ() & 4 != 0;
        let rpl = (selector & 3) as u8;
        let ok = if conforming { d.dpl() <= cpl } else { rpl <= cpl && d.dpl() == cpl };
        if !ok {
            return Err(sel_err.into());
        }
        let ia32e = self.cpu.state.efer & efer::LMA != 0;
        if ia32e && d.raw & (1 << 53) != 0 && d.raw & (1 << 54) != 0 {
            return Err(sel_err.into());
        }
        if !d.present() {
            return Err(Exception::np(selector as u32 & 0xfffc).into());
        }
        let cs = d.to_segment((selector & 0xfffc) | cpl as u16);
        let offset = match size {
            2 => offset & 0xffff,
            4 => offset & 0xffff_ffff,
            _ => offset,
        };
        // Stack room (#SS(0)) is checked before the target (#GP(0)).
        let st = self.current_stack();
        let mask = st.mask();
        for k in 1..=2u64 {
            self.stack_slot(&st, st.sp.wrapping_sub(k * size as u64) & mask, size)?;
        }
        let target = self.far_target(&cs, offset)?;
        let sp = self.push_frame(&st, size, &[ret_cs, ret_ip])?;
        self.load_code_segment(selector, d, cs)?;
        self.cpu.state.gpr[4] = sp;
        self.branch(target);
        self.note_mode_change(mode);
        Ok(())
    }

    /// The inner stack for `new_cpl` from a 64-bit TSS (SDM "CALL", MORE-PRIVILEGE: the
    /// new SS is a null selector with RPL = new CPL).
    fn tss64_stack(&mut self, new_cpl: u8) -> Result<u64> {
        let tr = self.cpu.state.tr;
        let off = 4 + 8 * new_cpl as u64;
        if off + 7 > tr.limit as u64 {
            return Err(Exception::ts(tr.selector as u32 & 0xfffc).into());
        }
        self.read_system(tr.base.wrapping_add(off), 8)
    }

    /// CALL through a call gate (SDM "CALL" pseudocode, CALL-GATE, MORE-PRIVILEGE and
    /// SAME-PRIVILEGE). `_size` is the instruction's operand size; the gate's size decides
    /// what is pushed.
    fn call_through_gate(&mut self, selector: u16, d: Descriptor, _size: u32) -> Result<()> {
        let before = self.cpu.state.mode();
        let gate = self.call_gate(selector, d)?;
        let cd = self.gate_target_segment(gate.selector, false)?;
        let cpl = self.cpu.state.cpl;
        let conforming = cd.typ() & 4 != 0;
        let w = gate.width;
        let old_cs = self.cpu.state.seg(SegReg::Cs).selector as u64;
        let ret_ip = self.cpu.next_rip;
        let old_ss = *self.cpu.state.seg(SegReg::Ss);
        let old_sp = self.cpu.state.gpr[4];
        let target = if !conforming && cd.dpl() < cpl {
            // MORE-PRIVILEGE: switch to the inner stack named by the TSS (5.8.5).
            let new_cpl = cd.dpl();
            let new_cs = cd.to_segment((gate.selector & 0xfffc) | new_cpl as u16);
            let (new_ss, st) = if w == 8 {
                let rsp = self.tss64_stack(new_cpl)?;
                let ss = Segment { selector: new_cpl as u16, base: 0, limit: 0, attr: attr::UNUSABLE | ((new_cpl as u32) << 5) };
                (ss, Stack { seg: ss, sp: rsp, long: true, cpl: new_cpl, err: 0 })
            } else {
                let (ss, sp) = self.tss_stack(new_cpl, 0)?;
                (ss, Stack { seg: ss, sp, long: false, cpl: new_cpl, err: ss.selector as u32 & 0xfffc })
            };
            // Room for SS:ESP, the parameters and CS:EIP (#SS(SS selector)) before the
            // target check (#GP(0)).
            let params = if w == 8 { 0 } else { gate.params };
            let slots = 4 + params as u64;
            let mask = st.mask();
            for k in 1..=slots {
                self.stack_slot(&st, st.sp.wrapping_sub(k * w as u64) & mask, w)?;
            }
            let target = self.far_target(&new_cs, gate.offset)?;
            let mut frame = [0u64; 36];
            frame[0] = old_ss.selector as u64;
            frame[1] = old_sp;
            // Parameters keep their order: the one at the old stack top ends up at the new top.
            let old_mask = self.stack_mask();
            for k in 0..params as usize {
                let idx = params as usize - 1 - k;
                let off = old_sp.wrapping_add(idx as u64 * w as u64) & old_mask;
                frame[2 + k] = self.read_mem(SegReg::Ss, off, w)?;
            }
            let n = 2 + params as usize;
            frame[n] = old_cs;
            frame[n + 1] = ret_ip;
            let sp = self.push_frame(&st, w, &frame[..n + 2])?;
            self.load_code_segment(gate.selector, cd, new_cs)?;
            let s = &mut self.cpu.state;
            s.seg[SegReg::Ss as usize] = new_ss;
            s.gpr[4] = sp;
            s.cpl = new_cpl;
            target
        } else {
            // SAME-PRIVILEGE: push CS:EIP at the gate's size on the current stack.
            let new_cs = cd.to_segment((gate.selector & 0xfffc) | cpl as u16);
            let mut st = self.current_stack();
            st.long |= w == 8;
            let mask = st.mask();
            for k in 1..=2u64 {
                self.stack_slot(&st, st.sp.wrapping_sub(k * w as u64) & mask, w)?;
            }
            let target = self.far_target(&new_cs, gate.offset)?;
            let sp = self.push_frame(&st, w, &[old_cs, ret_ip])?;
            self.load_code_segment(gate.selector, cd, new_cs)?;
            self.cpu.state.gpr[4] = sp;
            target
        };
        self.branch(target);
        self.note_mode_change(before);
        Ok(())
    }

    /// After a return to an outer privilege level (RETF, IRET): ES, DS, FS and GS that hold
    /// data or non-conforming code segments with DPL < the new CPL become null (SDM "RET",
    /// RETURN-TO-OUTER-PRIVILEGE-LEVEL).
    pub(crate) fn null_inaccessible_segments(&mut self, new_cpl: u8) {
        for seg in [SegReg::Es, SegReg::Ds, SegReg::Fs, SegReg::Gs] {
            let s = self.cpu.state.seg[seg as usize];
            let data_or_nc = s.attr & attr::CODE == 0 || s.attr & attr::DC == 0;
            if !s.unusable() && data_or_nc && s.dpl() < new_cpl {
                let r = &mut self.cpu.state.seg[seg as usize];
                r.selector = 0;
                r.attr |= attr::UNUSABLE;
            }
        }
    }
}

/// CALL ptr16:16/32 and CALL m16:16/32/64.
fn call_far(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = match i.code() {
        Code::Call_ptr1616 | Code::Call_m1616 => 2,
        Code::Call_ptr1632 | Code::Call_m1632 => 4,
        _ => 8,
    };
    let (sel, off) = super::system::far_pointer(x, i)?;
    x.far_call(sel, off, size)
}

/// RETF / RETF imm16 (SDM "RET": real mode, same privilege, outer privilege).
fn retf(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size: u32 = match i.code() {
        Code::Retfw | Code::Retfw_imm16 => 2,
        Code::Retfd | Code::Retfd_imm16 => 4,
        _ => 8,
    };
    let imm = if i.op_count() > 0 { i.immediate16() as u64 } else { 0 };
    let mode = x.cpu.state.mode();
    let w = size as u64;
    // The return CS:EIP must be within the stack limits (#SS(0)).
    let ip = x.peek(0, size)?;
    let cs_sel = x.peek(w, size)? as u16;
    if mode == Mode::Real || mode == Mode::Virtual8086 {
        if ip > x.cpu.state.seg(SegReg::Cs).limit as u64 {
            return Err(Exception::gp0().into());
        }
        x.cpu.state.gpr[4] = x.stack_pointer_after((2 * w + imm) as i64);
        let cs = &mut x.cpu.state.seg[SegReg::Cs as usize];
        cs.selector = cs_sel;
        cs.base = (cs_sel as u64) << 4;
        x.branch(ip);
        return Ok(());
    }
    let cpl = x.cpu.state.cpl;
    let rpl = (cs_sel & 3) as u8;
    let err = Exception::gp(cs_sel as u32 & 0xfffc);
    if cs_sel & 0xfffc == 0 {
        return Err(Exception::gp0().into());
    }
    let d = x.descriptor_or(cs_sel, err)?;
    if !d.is_code_or_data() || d.typ() & 8 == 0 || rpl < cpl {
        return Err(err.into());
    }
    let conforming = d.typ() & 4 != 0;
    if (conforming && d.dpl() > rpl) || (!conforming && d.dpl() != rpl) {
        return Err(err.into());
    }
    if !d.present() {
        return Err(Exception::np(cs_sel as u32 & 0xfffc).into());
    }
    let ia32e = x.cpu.state.efer & efer::LMA != 0;
    if ia32e && d.raw & (1 << 53) != 0 && d.raw & (1 << 54) != 0 {
        return Err(err.into());
    }
    let cs = d.to_segment(cs_sel);
    let target_long = ia32e && cs.long();
    let ip = if target_long { ip } else if size == 2 { ip & 0xffff } else { ip & 0xffff_ffff };
    if rpl == cpl {
        let target = x.far_target(&cs, ip)?;
        x.load_code_segment(cs_sel, d, cs)?;
        x.cpu.state.gpr[4] = x.stack_pointer_after((2 * w + imm) as i64);
        x.branch(target);
        x.note_mode_change(mode);
        return Ok(());
    }
    // RETURN-TO-OUTER-PRIVILEGE-LEVEL: SS:ESP follow the parameters.
    let sp = x.peek(2 * w + imm, size)?;
    let ss_sel = x.peek(3 * w + imm, size)? as u16;
    let ss_err = Exception::gp(ss_sel as u32 & 0xfffc);
    let ss = if ss_sel & 0xfffc == 0 {
        // A null SS is allowed only for a return to 64-bit code at CPL < 3 (IA-32e mode).
        if !(target_long && rpl != 3) {
            return Err(Exception::gp0().into());
        }
        Segment { selector: ss_sel, base: 0, limit: 0, attr: attr::UNUSABLE | ((rpl as u32) << 5) }
    } else {
        let sd = x.descriptor_or(ss_sel, ss_err)?;
        let writable = sd.is_code_or_data() && sd.typ() & 8 == 0 && sd.typ() & 2 != 0;
        if (ss_sel & 3) as u8 != rpl || !writable || sd.dpl() != rpl {
            return Err(ss_err.into());
        }
        if !sd.present() {
            return Err(Exception::ss(ss_sel as u32 & 0xfffc).into());
        }
        sd.to_segment(ss_sel)
    };
    let target = x.far_target(&cs, ip)?;
    x.load_code_segment(cs_sel, d, cs)?;
    if !ss.unusable() && ss.attr & attr::ACCESSED == 0 {
        // Set the accessed bit of the new stack segment's descriptor.
        let base = if ss_sel & 4 != 0 { x.cpu.state.ldtr.base } else { x.cpu.state.gdtr.base };
        let la = x.wrap_linear(base.wrapping_add((ss_sel & !7) as u64));
        let b = x.read_system(la.wrapping_add(5), 1)?;
        x.write_system(la.wrapping_add(5), 1, b | 1)?;
    }
    let mut ss = ss;
    if !ss.unusable() {
        ss.attr |= attr::ACCESSED;
    }
    let s = &mut x.cpu.state;
    s.cpl = rpl;
    s.seg[SegReg::Ss as usize] = ss;
    // The new stack pointer, then the parameters are released from it as well.
    let m = if target_long { u64::MAX } else if ss.db() { 0xffff_ffff } else { 0xffff };
    let old = s.gpr[4];
    s.gpr[4] = if target_long { sp.wrapping_add(imm) } else { (old & !m) | (sp.wrapping_add(imm) & m) };
    x.null_inaccessible_segments(rpl);
    x.branch(target);
    x.note_mode_change(mode);
    Ok(())
}

/// LDS/LES/LFS/LGS/LSS r, m16:16/32/64: the selector loads with MOV-to-Sreg's checks
/// (LSS blocks interrupts for one instruction like MOV SS), then the offset register.
fn load_far_pointer(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let seg = match i.mnemonic() {
        Mnemonic::Lds => SegReg::Ds,
        Mnemonic::Les => SegReg::Es,
        Mnemonic::Lfs => SegReg::Fs,
        Mnemonic::Lgs => SegReg::Gs,
        _ => SegReg::Ss,
    };
    let dst = i.op0_register();
    let size = dst.size() as u32;
    let (mseg, off) = x.mem_operand(i);
    let offset = x.read_mem(mseg, off, size)?;
    let sel = x.read_mem(mseg, off.wrapping_add(size as u64), 2)? as u16;
    x.load_data_segment(seg, sel)?;
    x.set_reg(dst, offset);
    Ok(())
}
