//! Delivery of exceptions and interrupts through the IVT (real mode) or the IDT (protected
//! and IA-32e mode): SDM Vol. 3A chapter 6 "Interrupt and Exception Handling", 6.12
//! "Exception and Interrupt Handling", 6.14 "Exception and Interrupt Handling in 64-bit
//! Mode", 6.15 (double fault rules, Tables 6-4 and 6-5); Vol. 3A 21.1.4 for real mode.
//!
//! Delivery is all-or-nothing: the new stack frame is written before any register changes, so
//! a fault during delivery leaves the interrupted state intact for the #DF or triple fault.

use crate::cpu::{Exec, StopReason};
use crate::events::Event;
use crate::exception::{vector, Class, Exception, Fault, Result};
use crate::flags;
use crate::segment::{attr, systype, DescTable, Descriptor, SegReg, Segment};
use crate::state::{Activity, Mode};
use hvbench_mmu::paging::{Access, AccessKind};

/// What is being delivered, which decides the privilege check and the EXT bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A hardware exception (EXT=1 in error codes).
    Exception,
    /// An external interrupt or NMI (EXT=1).
    External,
    /// INT n (gate DPL checked, EXT=0).
    SoftwareInterrupt,
    /// INT3 or INTO (gate DPL checked, EXT=0).
    SoftwareException,
    /// INT1/ICEBP (no DPL check, EXT=1... treated as a hardware #DB for delivery).
    PrivilegedSoftwareException,
}

impl EventKind {
    pub(crate) fn ext(self) -> u32 {
        match self {
            EventKind::Exception | EventKind::External | EventKind::PrivilegedSoftwareException => 1,
            _ => 0,
        }
    }
    fn software(self) -> bool {
        matches!(self, EventKind::SoftwareInterrupt | EventKind::SoftwareException)
    }
}

impl Exec<'_> {
    /// Delivers exception `e` raised by the instruction at RIP, applying the double-fault
    /// rules of SDM Table 6-5 when it arises while delivering another exception.
    pub fn deliver_exception(&mut self, mut e: Exception) {
        // VMX non-root: the exception bitmap may turn the exception into a VM exit (before
        // CR2 or anything else changes; SDM Vol. 3C 26.2 "Other Causes of VM Exits"). An
        // exception met while delivering another is checked as itself first (28.2.4 lists
        // "a fault occurs during event delivery and causes a VM exit" with the first event as
        // IDT-vectoring information); only when it does not exit does Table 6-5 apply.
        if self.cpu.vmx_non_root && self.exception_exits(e) {
            self.cpu.iret_unblocked_nmi = false;
            return;
        }
        // Only a hardware exception counts as the first event of Table 6-5: a fault while
        // delivering INT n, INT3, INTO, INT1 or an external interrupt is delivered as itself.
        if let Some(first) = self.cpu.delivering
            && self.cpu.delivering_kind.0 == EventKind::Exception
        {
            let df = match (first.class(), e.class()) {
                (Class::DoubleFault, _) => {
                    self.triple_fault(e.vector);
                    return;
                }
                (Class::Contributory, Class::Contributory) => true,
                (Class::PageFault, Class::Contributory | Class::PageFault) => true,
                _ => false,
            };
            if df {
                self.cpu.emit(|| Event::DoubleFault { first: first.vector, second: e.vector });
                e = Exception::df();
                // The #DF is checked against the exception bitmap in its turn (a #DF VM exit
                // is not one "during event delivery": 28.2.4).
                if self.cpu.vmx_non_root && self.exception_exits(e) {
                    self.cpu.iret_unblocked_nmi = false;
                    return;
                }
            }
        }
        self.cpu.iret_unblocked_nmi = false;
        self.cpu.delivering = Some(e);
        self.cpu.delivering_kind = (EventKind::Exception, 0);
        self.count_delivery();
        if let Some(cr2) = e.cr2() {
            self.cpu.state.cr2 = cr2;
        }
        if let Some(bits) = e.dr6()
            && bits != 0
        {
            // #DB: DR6 receives its causes; general detect (BD) clears DR7.GD on entering the
            // handler (SDM Vol. 3A 18.2.3, 18.2.4). Not done when the #DB exits (above).
            self.cpu.state.dr[6] |= bits;
            if bits & 1 << 13 != 0 {
                self.cpu.state.dr[7] &= !(1 << 13);
                self.cpu.refresh_debug();
            }
        }
        let rip = self.cpu.state.rip;
        let retired = self.cpu.retired;
        self.cpu.recent_exceptions.push(e.vector, e.error_code(), rip, retired);
        self.cpu.emit(|| Event::Exception { vector: e.vector, error_code: e.error_code(), rip, cr2: e.cr2() });
        let r = self.deliver(e.vector, EventKind::Exception, e.error_code(), rip);
        self.finish_delivery(r);
    }

    #[cold]
    fn exception_exits(&mut self, e: Exception) -> bool {
        match self.intercept(crate::ext::Intercept::Exception { e, software: false, len: 0 }, 0) {
            Ok(_) => false,
            Err(Fault::Exception(e2)) => {
                self.deliver_exception(e2);
                true
            }
            // Deferred (the extension is running, see `Cpu::exit_filter`): the delivery under
            // way stays recorded, for the extension's IDT-vectoring information.
            Err(Fault::Diverted) if matches!(self.cpu.deferred, Some(crate::ext::Intercept::Exception { .. })) => true,
            Err(_) => {
                self.cpu.delivering = None;
                true
            }
        }
    }

    /// Delivers an event that an extension injects (VM entry, SDM Vol. 3C 27.6 "Event
    /// Injection") at the current RIP, returning to `return_rip`. A fault during delivery is
    /// handled as for any other event (it becomes #DF or a triple fault as the rules say).
    pub fn inject_event(&mut self, vec: u8, kind: EventKind, error_code: Option<u32>, return_rip: u64) {
        let rip = self.cpu.state.rip;
        match kind {
            EventKind::External => self.cpu.emit(|| Event::Interrupt { vector: vec, rip }),
            EventKind::Exception | EventKind::PrivilegedSoftwareException => {
                self.cpu.emit(|| Event::Exception { vector: vec, error_code, rip, cr2: None })
            }
            _ => self.cpu.emit(|| Event::SoftwareInterrupt { vector: vec, rip }),
        }
        self.cpu.delivering = Some(match error_code {
            Some(c) => Exception::with_code(vec, c),
            None => Exception::plain(vec),
        });
        let len = if kind == EventKind::Exception || kind == EventKind::External { 0 } else { return_rip.wrapping_sub(rip).min(15) as u8 };
        self.cpu.delivering_kind = (kind, len);
        self.count_delivery();
        let r = if kind == EventKind::SoftwareInterrupt && self.cpu.state.mode() == Mode::Virtual8086 {
            self.inject_v8086_software_interrupt(vec, return_rip)
        } else {
            self.deliver(vec, kind, error_code, return_rip)
        };
        self.finish_delivery(r);
    }

    /// Delivers an external interrupt or NMI at the current instruction boundary.
    pub fn deliver_external(&mut self, vec: u8) {
        let rip = self.cpu.state.rip;
        self.cpu.emit(|| Event::Interrupt { vector: vec, rip });
        self.cpu.delivering = Some(Exception::plain(vec));
        self.cpu.delivering_kind = (EventKind::External, 0);
        self.count_delivery();
        let r = self.deliver(vec, EventKind::External, None, rip);
        self.finish_delivery(r);
        // The acknowledge changed the controllers' state and a trap gate leaves IF set:
        // sample again at the next boundary (the handler's first instruction).
        self.cpu.poll_events = true;
    }

    /// Delivers a software interrupt from an INT-family instruction; the return address is
    /// the next instruction. Returns `Fault::Diverted` once delivered so the caller's RIP
    /// update is skipped, or the exception that delivery raised (reported against the INT).
    ///
    /// While it is delivered the event is marked as being delivered (with its kind and
    /// instruction length), so that a VM exit during the delivery, or during the delivery of
    /// an exception the delivery raised, reports it as IDT-vectoring information (SDM Vol. 3C
    /// 28.2.4); the mark stays when an exception is returned, since the caller delivers that
    /// exception next.
    pub fn software_interrupt(&mut self, vec: u8, kind: EventKind) -> Result<()> {
        let rip = self.cpu.state.rip;
        let len = self.cpu.next_rip.wrapping_sub(rip).min(15) as u8;
        if self.cpu.vmx_non_root && kind == EventKind::SoftwareException {
            // INT3/INTO: the exception bitmap applies (SDM Vol. 3C 26.2).
            self.intercept(crate::ext::Intercept::Exception { e: Exception::plain(vec), software: true, len }, 0)?;
        }
        self.cpu.emit(|| Event::SoftwareInterrupt { vector: vec, rip });
        let next = self.cpu.next_rip;
        self.cpu.delivering = Some(Exception::plain(vec));
        self.cpu.delivering_kind = (kind, len);
        let r = self.deliver(vec, kind, None, next);
        if !matches!(r, Err(Fault::Exception(_))) {
            self.cpu.delivering = None;
        }
        r?;
        Err(Fault::Diverted)
    }

    /// An event delivery is a step of its own and takes time (one cycle in the flat model).
    #[inline]
    fn count_delivery(&mut self) {
        self.cpu.steps += 1;
        self.cpu.cycles += 1;
    }

    fn finish_delivery(&mut self, r: Result<()>) {
        match r {
            Ok(()) => self.cpu.delivering = None,
            Err(Fault::Exception(e2)) => self.deliver_exception(e2),
            Err(Fault::Unsupported(what)) => {
                self.cpu.delivering = None;
                self.request_stop(StopReason::Unsupported(what));
            }
            // An EPT fault kept for the running extension (see `ext.rs`): the delivery under
            // way stays recorded for its IDT-vectoring information until `Cpu::end_delivery`.
            Err(Fault::Diverted) if matches!(self.cpu.deferred, Some(crate::ext::Intercept::Ept { .. })) => {}
            Err(Fault::Diverted) => self.cpu.delivering = None,
        }
    }

    /// The processor enters the shutdown state (SDM 6.15, Interrupt 8: "triple fault").
    fn triple_fault(&mut self, vector: u8) {
        if self.cpu.vmx_non_root && self.intercept(crate::ext::Intercept::TripleFault, 0).is_err() {
            // A VM exit (reason 2) took the guest's place (SDM Vol. 3C 26.2).
            self.cpu.delivering = None;
            return;
        }
        let rip = self.cpu.state.rip;
        self.cpu.events.push(Event::TripleFault { rip, vector });
        self.cpu.delivering = None;
        self.cpu.state.activity = Activity::Shutdown;
    }

    /// Checks for pending NMIs and interrupts at an instruction boundary (SDM 6.9 priorities:
    /// NMI before maskable interrupts; both held off by STI/MOV SS shadows).
    pub(crate) fn service_events(&mut self) {
        let s = &self.cpu.state;
        if s.shadow != 0 || s.activity == Activity::WaitForSipi {
            return;
        }
        let idx = self.cpu.config.index;
        if s.activity == Activity::Shutdown {
            // The shutdown state blocks external interrupts and SIPIs only (SDM Vol. 3C 27.6.2,
            // activity state 2; Vol. 3A 6.15: an NMI ends shutdown). Outside VMX non-root
            // operation the machine ends at a shutdown, so only a guest sees this.
            if self.cpu.vmx_non_root {
                self.shutdown_nmi(idx);
            }
            return;
        }
        if self.cpu.vmx_non_root && self.vmx_events(idx) {
            return;
        }
        if !self.cpu.state.nmi_blocked && self.bus.pending_nmi(idx) {
            self.bus.acknowledge_nmi(idx);
            self.cpu.state.activity = Activity::Active;
            self.deliver_external(vector::NMI);
            self.cpu.state.nmi_blocked = true;
            return;
        }
        if self.cpu.state.rflags & flags::IF != 0 && self.bus.pending_interrupt(idx) {
            let v = self.bus.acknowledge_interrupt(idx);
            self.cpu.state.activity = Activity::Active;
            self.deliver_external(v);
        }
    }

    /// VMX non-root, shutdown state: a pending NMI exits ("NMI exiting") or, unless NMIs are
    /// blocked, is delivered and the vCPU leaves the shutdown state.
    #[cold]
    fn shutdown_nmi(&mut self, idx: hvbench_mmu::CpuIndex) {
        if !self.bus.pending_nmi(idx) || self.intercept(crate::ext::Intercept::Nmi, 0).is_err() || self.cpu.state.nmi_blocked {
            return;
        }
        self.bus.acknowledge_nmi(idx);
        self.cpu.state.activity = Activity::Active;
        self.deliver_external(vector::NMI);
        self.cpu.state.nmi_blocked = true;
    }

    /// VMX non-root: NMIs and external interrupts may exit instead of being delivered.
    /// Returns whether a VM exit happened.
    #[cold]
    fn vmx_events(&mut self, idx: hvbench_mmu::CpuIndex) -> bool {
        if self.bus.pending_nmi(idx) && self.intercept(crate::ext::Intercept::Nmi, 0).is_err() {
            return true;
        }
        // (service_events returned early under STI / MOV SS blocking.)
        if !self.cpu.state.nmi_blocked && self.intercept(crate::ext::Intercept::NmiWindow, 0).is_err() {
            return true;
        }
        if self.cpu.state.rflags & flags::IF != 0 && self.intercept(crate::ext::Intercept::InterruptWindow, 0).is_err() {
            return true;
        }
        if self.bus.pending_interrupt(idx) {
            return self.intercept(crate::ext::Intercept::ExternalInterrupt, 0).is_err();
        }
        false
    }

    /// Delivers vector `vec` with `error_code`, returning to `return_rip`.
    fn deliver(&mut self, vec: u8, kind: EventKind, error_code: Option<u32>, return_rip: u64) -> Result<()> {
        match self.cpu.state.mode() {
            Mode::Real => self.deliver_real(vec, return_rip),
            Mode::Virtual8086 => self.deliver_from_v8086(vec, kind, error_code, return_rip),
            Mode::Long64 | Mode::Compat16 | Mode::Compat32 => self.deliver_long(vec, kind, error_code, return_rip),
            Mode::Protected16 | Mode::Protected32 => self.deliver_protected(vec, kind, error_code, return_rip),
        }
    }

    /// Real-address mode: the IVT (SDM Vol. 3A 21.1.4 "Interrupt and Exception Handling").
    fn deliver_real(&mut self, vec: u8, return_rip: u64) -> Result<()> {
        let idt = self.cpu.state.idtr;
        let off = vec as u64 * 4;
        if off + 3 > idt.limit as u64 {
            return Err(Exception::gp(vec as u32 * 8 + 2).into());
        }
        let entry = self.read_system(idt.base.wrapping_add(off) & 0xffff_ffff, 4)?;
        let ss = *self.cpu.state.seg(SegReg::Ss);
        let mut sp = self.cpu.state.gpr[4];
        let smask: u64 = if ss.db() { 0xffff_ffff } else { 0xffff };
        let frame = [self.cpu.state.rflags & 0xffff, self.cpu.state.seg(SegReg::Cs).selector as u64, return_rip & 0xffff];
        for v in frame {
            sp = (sp & !smask) | (sp.wrapping_sub(2) & smask);
            let off = sp & smask;
            let la = ss.base.wrapping_add(off) & 0xffff_ffff;
            if off + 1 > ss.limit as u64 {
                return Err(Exception::ss(0).into());
            }
            self.write_linear_as(la, 2, v, Access::new(AccessKind::Write, 0, false))?;
        }
        let s = &mut self.cpu.state;
        s.gpr[4] = sp;
        s.rflags &= !(flags::IF | flags::TF | flags::AC | flags::RF);
        let sel = (entry >> 16) as u16;
        let cs = &mut s.seg[SegReg::Cs as usize];
        cs.selector = sel;
        cs.base = (sel as u64) << 4;
        s.rip = entry & 0xffff;
        Ok(())
    }

    /// Reads the 8-byte descriptor for `selector` from the GDT or LDT.
    /// `Err` carries the #GP error code base (the selector with TI, RPL cleared to the index).
    pub fn read_descriptor(&mut self, selector: u16) -> core::result::Result<Result<Descriptor>, ()> {
        let table: DescTable = if selector & 4 != 0 {
            let l = self.cpu.state.ldtr;
            if l.unusable() {
                return Err(());
            }
            DescTable { base: l.base, limit: l.limit.min(0xffff_ffff) as u16 }
        } else {
            self.cpu.state.gdtr
        };
        let ldt_limit = if selector & 4 != 0 { self.cpu.state.ldtr.limit as u64 } else { table.limit as u64 };
        let off = (selector & !7) as u64;
        if off + 7 > ldt_limit {
            return Err(());
        }
        let base = if selector & 4 != 0 { self.cpu.state.ldtr.base } else { table.base };
        Ok(self.read_system(self.wrap_linear(base.wrapping_add(off)), 8).map(|raw| Descriptor { raw }))
    }

    /// Reads IDT gate `vec` and checks the parts common to protected and IA-32e mode.
    /// Returns (low 8 bytes, high 8 bytes in IA-32e mode).
    pub(crate) fn read_gate(&mut self, vec: u8, kind: EventKind, long: bool) -> Result<(u64, u64)> {
        let ext = kind.ext();
        let size = if long { 16 } else { 8 };
        let idt = self.cpu.state.idtr;
        let gate_err = Exception::gp(vec as u32 * 8 + 2 + ext);
        if vec as u64 * size + size - 1 > idt.limit as u64 {
            return Err(gate_err.into());
        }
        let la = self.wrap_linear(idt.base.wrapping_add(vec as u64 * size));
        let lo = self.read_system(la, 8)?;
        let hi = if long { self.read_system(self.wrap_linear(la.wrapping_add(8)), 8)? } else { 0 };
        let d = Descriptor { raw: lo };
        let typ = d.typ();
        let valid = if long {
            !d.is_code_or_data() && (typ == systype::INT_GATE || typ == systype::TRAP_GATE)
        } else {
            !d.is_code_or_data()
                && matches!(typ, systype::TASK_GATE | systype::INT_GATE16 | systype::TRAP_GATE16 | systype::INT_GATE | systype::TRAP_GATE)
        };
        if !valid {
            return Err(gate_err.into());
        }
        if kind.software() && d.dpl() < self.cpu.state.cpl {
            return Err(Exception::gp(vec as u32 * 8 + 2).into());
        }
        if !d.present() {
            return Err(Exception::np(vec as u32 * 8 + 2 + ext).into());
        }
        if typ == systype::TASK_GATE {
            // SDM Vol. 3C 26.4.2 steps 2-4 (INT n pseudocode, TASK-GATE): the gate's TSS.
            self.check_new_tss((lo >> 16) as u16, crate::task::TaskSwitchCause::Interrupt { ext: kind.ext() })?;
            if self.cpu.vmx_non_root {
                // SDM Vol. 3C 26.4.2: a task gate in the IDT exits (reason 9, source 3).
                // A software interrupt/exception reports its instruction's length (next_rip is
                // the address after INT n/INT3/INTO/INT1 while it executes).
                let software = match kind {
                    EventKind::SoftwareInterrupt => Some((vec, 4)),
                    EventKind::PrivilegedSoftwareException => Some((vec, 5)),
                    EventKind::SoftwareException => Some((vec, 6)),
                    _ => None,
                };
                let len = if software.is_some() { self.cpu.next_rip.wrapping_sub(self.cpu.state.rip).min(15) as u8 } else { 0 };
                self.intercept(crate::ext::Intercept::TaskSwitch { len, selector: (lo >> 16) as u16, source: 3, software_vector: software }, 0)?;
            }
            return Err(Fault::Unsupported(&"task gate in the IDT (task switching is not implemented yet)"));
        }
        Ok((lo, hi))
    }

    /// Loads and checks the handler's code segment (SDM 6.12.1.1 and the INT n pseudocode).
    pub(crate) fn gate_code_segment(&mut self, selector: u16, ext: u32, long: bool) -> Result<Descriptor> {
        let code = (selector as u32 & 0xfffc) + ext;
        if selector & 0xfffc == 0 {
            return Err(Exception::gp(ext).into());
        }
        let d = self.descriptor_or(selector, Exception::gp(code))?;
        let is_code = d.is_code_or_data() && d.typ() & 8 != 0;
        if !is_code || d.dpl() > self.cpu.state.cpl {
            return Err(Exception::gp(code).into());
        }
        if !d.present() {
            return Err(Exception::np(code).into());
        }
        if long && (d.raw & (1 << 53) == 0 || d.raw & (1 << 54) != 0) {
            // IA-32e mode handlers must be 64-bit code (L=1, D=0).
            return Err(Exception::gp(code).into());
        }
        Ok(d)
    }

    /// IA-32e mode delivery (SDM 6.14): 16-byte gates, IST, 8-byte pushes, aligned stack.
    fn deliver_long(&mut self, vec: u8, kind: EventKind, error_code: Option<u32>, return_rip: u64) -> Result<()> {
        let ext = kind.ext();
        let (lo, hi) = self.read_gate(vec, kind, true)?;
        let target = (lo & 0xffff) | ((lo >> 32) & 0xffff_0000) | (hi << 32);
        let sel = (lo >> 16) as u16;
        let ist = ((lo >> 32) & 7) as u64;
        let cs_desc = self.gate_code_segment(sel, ext, true)?;
        let old_cpl = self.cpu.state.cpl;
        let conforming = cs_desc.typ() & 4 != 0;
        let new_cpl = if conforming { old_cpl } else { cs_desc.dpl() };
        if !self.is_canonical(target) {
            return Err(Exception::gp(ext).into());
        }
        let tss = self.cpu.state.tr;
        let mut rsp = self.cpu.state.gpr[4];
        let mut new_ss = *self.cpu.state.seg(SegReg::Ss);
        if ist != 0 || new_cpl < old_cpl {
            let off = if ist != 0 { 0x24 + 8 * (ist - 1) } else { 4 + 8 * new_cpl as u64 };
            if off + 7 > tss.limit as u64 {
                return Err(Exception::ts(tss.selector as u32 & 0xfffc).into());
            }
            rsp = self.read_system(tss.base.wrapping_add(off), 8)?;
            if !self.is_canonical(rsp) {
                return Err(Exception::ss(ext).into());
            }
        }
        if new_cpl < old_cpl {
            // A null SS with RPL = new CPL (SDM 6.14.4).
            new_ss = Segment { selector: new_cpl as u16, base: 0, limit: 0, attr: attr::UNUSABLE | ((new_cpl as u32) << 5) };
        }
        let old_ss = self.cpu.state.seg(SegReg::Ss).selector as u64;
        let old_rsp = self.cpu.state.gpr[4];
        let old_cs = self.cpu.state.seg(SegReg::Cs).selector as u64;
        let rflags = self.cpu.state.rflags;
        rsp &= !0xf;
        let mut frame = [old_ss, old_rsp, rflags, old_cs, return_rip, 0];
        let n = if let Some(code) = error_code {
            frame[5] = code as u64;
            6
        } else {
            5
        };
        let access = Access::new(AccessKind::Write, new_cpl, false);
        for v in &frame[..n] {
            rsp = rsp.wrapping_sub(8);
            if !self.is_canonical(rsp) {
                return Err(Exception::ss(ext).into());
            }
            self.write_linear_as(rsp, 8, *v, access)?;
        }
        let s = &mut self.cpu.state;
        s.gpr[4] = rsp;
        s.seg[SegReg::Ss as usize] = new_ss;
        s.seg[SegReg::Cs as usize] = cs_desc.to_segment((sel & 0xfffc) | new_cpl as u16);
        s.cpl = new_cpl;
        s.rip = target;
        let gate_type = ((lo >> 40) & 0xf) as u32;
        s.rflags &= !(flags::TF | flags::NT | flags::RF | flags::VM);
        if gate_type == systype::INT_GATE {
            s.rflags &= !flags::IF;
        }
        Ok(())
    }

    /// Protected-mode delivery (SDM 6.12.1): 8-byte gates, stack switch from the TSS on a
    /// privilege change, 16- or 32-bit frames by gate size.
    fn deliver_protected(&mut self, vec: u8, kind: EventKind, error_code: Option<u32>, return_rip: u64) -> Result<()> {
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
        let old_cpl = self.cpu.state.cpl;
        let conforming = cs_desc.typ() & 4 != 0;
        let new_cpl = if conforming { old_cpl } else { cs_desc.dpl() };
        let new_cs = cs_desc.to_segment((sel & 0xfffc) | new_cpl as u16);
        if target > new_cs.limit as u64 {
            return Err(Exception::gp(ext).into());
        }
        let old_ss = *self.cpu.state.seg(SegReg::Ss);
        let old_esp = self.cpu.state.gpr[4];
        let (mut ss, mut esp) = (old_ss, old_esp);
        let privilege_change = new_cpl < old_cpl;
        if privilege_change {
            (ss, esp) = self.tss_stack(new_cpl, ext)?;
        }
        let w: u64 = if gate32 { 4 } else { 2 };
        let mut frame = [0u64; 6];
        let mut n = 0;
        if privilege_change {
            frame[0] = old_ss.selector as u64;
            frame[1] = old_esp;
            n = 2;
        }
        for v in [self.cpu.state.rflags, self.cpu.state.seg(SegReg::Cs).selector as u64, return_rip] {
            frame[n] = v;
            n += 1;
        }
        if let Some(code) = error_code {
            frame[n] = code as u64;
            n += 1;
        }
        let smask: u64 = if ss.db() { 0xffff_ffff } else { 0xffff };
        let access = Access::new(AccessKind::Write, new_cpl, false);
        let mut sp = esp;
        for v in &frame[..n] {
            sp = (sp & !smask) | (sp.wrapping_sub(w) & smask);
            let off = sp & smask;
            let in_limit = if ss.attr & attr::DC != 0 {
                off > ss.limit as u64 && off + w - 1 <= smask
            } else {
                off + w - 1 <= ss.limit as u64
            };
            if !in_limit {
                let code = if privilege_change { (ss.selector as u32 & 0xfffc) + ext } else { ext };
                return Err(Exception::ss(code).into());
            }
            self.write_linear_as(ss.base.wrapping_add(off) & 0xffff_ffff, w as u32, *v, access)?;
        }
        esp = sp;
        let s = &mut self.cpu.state;
        s.gpr[4] = esp;
        s.seg[SegReg::Ss as usize] = ss;
        s.seg[SegReg::Cs as usize] = new_cs;
        s.cpl = new_cpl;
        s.rip = target;
        s.rflags &= !(flags::TF | flags::NT | flags::RF | flags::VM);
        if gate_type & 1 == 0 {
            s.rflags &= !flags::IF;
        }
        Ok(())
    }

    /// The inner stack for `cpl` from a 32- or 16-bit TSS, with the SS checks of the
    /// INT n pseudocode (#TS on failure).
    pub(crate) fn tss_stack(&mut self, cpl: u8, ext: u32) -> Result<(Segment, u64)> {
        let tr = self.cpu.state.tr;
        let tss32 = tr.typ() & 8 != 0;
        let (ss_off, sp_off, w) = if tss32 { (8 + 8 * cpl as u64, 4 + 8 * cpl as u64, 4) } else { (4 + 4 * cpl as u64, 2 + 4 * cpl as u64, 2) };
        let ts = Exception::ts((tr.selector as u32 & 0xfffc) + ext);
        if ss_off + 1 > tr.limit as u64 || sp_off + w - 1 > tr.limit as u64 {
            return Err(ts.into());
        }
        let sel = self.read_system(tr.base.wrapping_add(ss_off) & 0xffff_ffff, 2)? as u16;
        let sp = self.read_system(tr.base.wrapping_add(sp_off) & 0xffff_ffff, w as u32)?;
        let sel_err = Exception::ts((sel as u32 & 0xfffc) + ext);
        if sel & 0xfffc == 0 || sel & 3 != cpl as u16 {
            return Err(sel_err.into());
        }
        let d = self.descriptor_or(sel, sel_err)?;
        let writable_data = d.is_code_or_data() && d.typ() & 8 == 0 && d.typ() & 2 != 0;
        if !writable_data || d.dpl() != cpl {
            return Err(sel_err.into());
        }
        if !d.present() {
            return Err(Exception::ss((sel as u32 & 0xfffc) + ext).into());
        }
        Ok((d.to_segment(sel), sp))
    }
}
