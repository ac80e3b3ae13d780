//! VM exits (SDM Vol. 3C chapter 28 "VM Exits"): recording exit information (28.2 "Recording
//! VM-Exit Information and Updating VM-Entry Control Fields"), saving guest state (28.3
//! "Saving Guest State"), loading host state (28.5 "Loading Host State"). Exit reasons are SDM
//! Appendix C "VMX Basic Exit Reasons".

use crate::controls::{intr, ExitCtls};
use crate::fields::enc;
use crate::vmcs::Vmcs;
use crate::Vmx;
use hvbench_cpu::events::Event;
use hvbench_cpu::regs::{cr0, efer};
use hvbench_cpu::segment::{attr, DescTable, SegReg, Segment};
use hvbench_cpu::state::Activity;
use hvbench_cpu::Exec;

/// Basic exit reasons (SDM Appendix C).
pub mod reason {
    /// Exception or non-maskable interrupt.
    pub const EXCEPTION_NMI: u32 = 0;
    /// External interrupt.
    pub const EXTERNAL_INTERRUPT: u32 = 1;
    /// Triple fault.
    pub const TRIPLE_FAULT: u32 = 2;
    /// Interrupt window.
    pub const INTERRUPT_WINDOW: u32 = 7;
    /// Task switch.
    pub const TASK_SWITCH: u32 = 9;
    /// INIT signal.
    pub const INIT: u32 = 3;
    /// Start-up IPI (SIPI).
    pub const SIPI: u32 = 4;
    /// NMI window.
    pub const NMI_WINDOW: u32 = 8;
    /// CPUID.
    pub const CPUID: u32 = 10;
    /// HLT.
    pub const HLT: u32 = 12;
    /// INVD.
    pub const INVD: u32 = 13;
    /// INVLPG.
    pub const INVLPG: u32 = 14;
    /// RDPMC.
    pub const RDPMC: u32 = 15;
    /// RDTSC.
    pub const RDTSC: u32 = 16;
    /// VMCALL.
    pub const VMCALL: u32 = 18;
    /// VMCLEAR.
    pub const VMCLEAR: u32 = 19;
    /// VMLAUNCH.
    pub const VMLAUNCH: u32 = 20;
    /// VMPTRLD.
    pub const VMPTRLD: u32 = 21;
    /// VMPTRST.
    pub const VMPTRST: u32 = 22;
    /// VMREAD.
    pub const VMREAD: u32 = 23;
    /// VMRESUME.
    pub const VMRESUME: u32 = 24;
    /// VMWRITE.
    pub const VMWRITE: u32 = 25;
    /// VMXOFF.
    pub const VMXOFF: u32 = 26;
    /// VMXON.
    pub const VMXON: u32 = 27;
    /// Control-register accesses.
    pub const CR_ACCESS: u32 = 28;
    /// MOV DR.
    pub const MOV_DR: u32 = 29;
    /// I/O instruction.
    pub const IO: u32 = 30;
    /// RDMSR.
    pub const RDMSR: u32 = 31;
    /// WRMSR.
    pub const WRMSR: u32 = 32;
    /// VM-entry failure due to invalid guest state.
    pub const INVALID_GUEST_STATE: u32 = 33;
    /// VM-entry failure due to MSR loading.
    pub const MSR_LOADING: u32 = 34;
    /// MWAIT.
    pub const MWAIT: u32 = 36;
    /// Monitor trap flag.
    pub const MONITOR_TRAP_FLAG: u32 = 37;
    /// MONITOR.
    pub const MONITOR: u32 = 39;
    /// PAUSE.
    pub const PAUSE: u32 = 40;
    /// TPR below threshold (trap-like, after MOV to CR8 with "use TPR shadow", SDM 30.1.2).
    pub const TPR_BELOW_THRESHOLD: u32 = 43;
    /// Access to GDTR or IDTR (LGDT, LIDT, SGDT, SIDT).
    pub const GDTR_IDTR: u32 = 46;
    /// Access to LDTR or TR (LLDT, LTR, SLDT, STR).
    pub const LDTR_TR: u32 = 47;
    /// EPT violation.
    pub const EPT_VIOLATION: u32 = 48;
    /// EPT misconfiguration.
    pub const EPT_MISCONFIG: u32 = 49;
    /// INVEPT.
    pub const INVEPT: u32 = 50;
    /// RDTSCP.
    pub const RDTSCP: u32 = 51;
    /// VMX-preemption timer expired.
    pub const PREEMPTION_TIMER: u32 = 52;
    /// INVVPID.
    pub const INVVPID: u32 = 53;
    /// WBINVD (or WBNOINVD).
    pub const WBINVD: u32 = 54;
    /// XSETBV.
    pub const XSETBV: u32 = 55;
    /// RDRAND.
    pub const RDRAND: u32 = 57;
    /// INVPCID.
    pub const INVPCID: u32 = 58;
    /// VMFUNC.
    pub const VMFUNC: u32 = 59;
    /// RDSEED.
    pub const RDSEED: u32 = 61;
    /// Bit 31 of the exit-reason field: VM-entry failure.
    pub const ENTRY_FAILURE: u32 = 1 << 31;
}

/// The exit-information fields of one VM exit (SDM 25.9 "VM-Exit Information Fields").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExitInfo {
    /// Exit reason (bit 31 set for a VM-entry failure).
    pub reason: u32,
    /// Exit qualification.
    pub qualification: u64,
    /// Guest-linear address (EPT violations with qualification bit 7, and some instructions).
    pub guest_linear: Option<u64>,
    /// Guest-physical address (EPT violations and misconfigurations).
    pub guest_physical: Option<u64>,
    /// VM-exit instruction length (exits due to instructions and software exceptions).
    pub instruction_len: u32,
    /// VM-exit instruction information.
    pub instruction_info: u32,
    /// VM-exit interruption information and error code (exception/NMI and external-interrupt
    /// exits).
    pub interruption: Option<(u32, Option<u32>)>,
    /// IDT-vectoring information and error code (the exit happened while delivering an event).
    pub idt_vectoring: Option<(u32, Option<u32>)>,
    /// The failed check of a VM-entry failure, in SDM notation.
    pub detail: &'static str,
}

impl ExitInfo {
    /// An exit for `reason` with `qualification` and nothing else.
    pub fn new(reason: u32, qualification: u64) -> Self {
        Self { reason, qualification, ..Self::default() }
    }
}

/// IDT-vectoring information for the event being delivered (SDM 28.2.4 "Information for VM
/// Exits During Event Delivery"): bits 7:0 the vector, bits 10:8 the type of the event being
/// delivered (0 external interrupt, 2 NMI, 3 hardware exception, 4 software interrupt, 5
/// privileged software exception, 6 software exception), bit 11 set for a hardware exception
/// that delivers an error code (which is returned with it), bit 31 valid.
pub(crate) fn idt_vectoring_of(x: &Exec<'_>) -> Option<(u32, Option<u32>)> {
    use hvbench_cpu::deliver::EventKind;
    let e = x.cpu.delivering()?;
    let (kind, _) = x.cpu.delivering_kind();
    let typ = match kind {
        EventKind::External if e.vector == 2 => intr::NMI,
        EventKind::External => intr::EXTERNAL,
        EventKind::Exception => intr::HARDWARE_EXCEPTION,
        EventKind::SoftwareInterrupt => intr::SOFTWARE_INTERRUPT,
        EventKind::PrivilegedSoftwareException => intr::PRIVILEGED_SOFTWARE_EXCEPTION,
        EventKind::SoftwareException => intr::SOFTWARE_EXCEPTION,
    };
    let mut info = e.vector as u32 | typ << intr::TYPE_SHIFT | intr::VALID;
    let code = if kind == EventKind::Exception { e.error_code() } else { None };
    if code.is_some() {
        info |= intr::ERROR_CODE;
    }
    Some((info, code))
}

/// The instruction length recorded for a VM exit during the delivery of a software interrupt,
/// privileged software exception or software exception (SDM 28.2.5, "VM-exit instruction
/// length": APIC-access exits, EPT violations and misconfigurations met during such a
/// delivery; for an injected event, the VM-entry instruction length). 0 otherwise.
pub(crate) fn idt_vectoring_len(x: &Exec<'_>) -> u32 {
    use hvbench_cpu::deliver::EventKind;
    match x.cpu.delivering().map(|_| x.cpu.delivering_kind()) {
        Some((EventKind::SoftwareInterrupt | EventKind::PrivilegedSoftwareException | EventKind::SoftwareException, len)) => len as u32,
        _ => 0,
    }
}

impl Vmx {
    /// Performs a VM exit: records `info`, saves the guest state, loads the host state and
    /// leaves VMX non-root operation (SDM 28.2, 28.3, 28.4 MSR store, 28.5, 28.6 MSR load; a
    /// list failure is a VMX abort, 28.7).
    pub fn vm_exit(&mut self, x: &mut Exec<'_>, info: ExitInfo) {
        let Some(ctx) = self.ctx.take() else { return };
        let v = ctx.vmcs;
        let guest_rip = x.cpu.state.rip;
        x.cpu.set_boundary_hook(false);
        // 28.5.6: VM exits clear any address-range monitoring in effect.
        x.mem.unwatch(x.cpu.config.index);
        // 28.2: exit information.
        v.write(x, enc::EXIT_REASON, info.reason as u64);
        v.write(x, enc::EXIT_QUALIFICATION, info.qualification);
        if let Some(gla) = info.guest_linear {
            v.write(x, enc::GUEST_LINEAR_ADDRESS, gla);
        }
        if let Some(gpa) = info.guest_physical
            && self.profile.has2(crate::controls::ProcCtls2::ENABLE_EPT)
        {
            v.write(x, enc::GUEST_PHYSICAL_ADDRESS, gpa);
        }
        let (ii, ie) = info.interruption.unwrap_or((0, None));
        v.write(x, enc::EXIT_INTERRUPTION_INFO, ii as u64);
        if let Some(c) = ie {
            v.write(x, enc::EXIT_INTERRUPTION_ERROR_CODE, c as u64);
        }
        let (vi, ve) = info.idt_vectoring.unwrap_or((0, None));
        v.write(x, enc::IDT_VECTORING_INFO, vi as u64);
        if let Some(c) = ve {
            v.write(x, enc::IDT_VECTORING_ERROR_CODE, c as u64);
        }
        v.write(x, enc::EXIT_INSTRUCTION_LENGTH, info.instruction_len as u64);
        v.write(x, enc::EXIT_INSTRUCTION_INFO, info.instruction_info as u64);
        // 28.2.x: VM exits clear the valid bit of the VM-entry interruption-information field.
        let entry_info = v.read(x, enc::ENTRY_INTERRUPTION_INFO);
        v.write(x, enc::ENTRY_INTERRUPTION_INFO, entry_info & !(intr::VALID as u64));
        let mut abort: Option<crate::abort::Abort> = None;
        let guest_efer = x.cpu.state.efer;
        if info.reason & reason::ENTRY_FAILURE == 0 {
            self.save_guest(x, &ctx);
            // 28.4 "Saving MSRs" (a failure is a VMX abort with indicator 1).
            let (n, a) = (v.read(x, enc::EXIT_MSR_STORE_COUNT), v.read(x, enc::EXIT_MSR_STORE_ADDR));
            if let Err(i) = crate::msr_list::store(x, a, n) {
                abort = Some(crate::abort::Abort { indicator: crate::abort::indicator::SAVE_GUEST_MSRS, why: format!("entry {i} of the VM-exit MSR-store area ({n} entries at {a:#x}) cannot be stored; SDM 28.4 Saving MSRs") });
            }
        }
        let host64 = ctx.exit.contains(ExitCtls::HOST_ADDRESS_SPACE_SIZE);
        if abort.is_none() {
            abort = crate::abort::check_address_space(guest_efer, host64).err();
        }
        self.load_host(x, v, ctx.exit, info.reason == reason::EXTERNAL_INTERRUPT || (info.reason == reason::EXCEPTION_NMI && (ii >> intr::TYPE_SHIFT) & 7 == intr::NMI));
        // 28.5.4: the host PDPTEs (a failure is a VMX abort with indicator 2).
        if abort.is_none() {
            abort = crate::abort::load_host_pdptes(x).err();
        }
        // 28.6 "Loading MSRs" (a failure is a VMX abort with indicator 4).
        let (n, a) = (v.read(x, enc::EXIT_MSR_LOAD_COUNT), v.read(x, enc::EXIT_MSR_LOAD_ADDR));
        if abort.is_none()
            && let Err(i) = crate::msr_list::load(x, a, n)
        {
            abort = Some(crate::abort::Abort { indicator: crate::abort::indicator::LOAD_HOST_MSRS, why: format!("entry {i} of the VM-exit MSR-load area ({n} entries at {a:#x}) cannot be loaded; SDM 28.6 Loading MSRs") });
        }
        if let Some(a) = &abort {
            // 28.7 "VMX Aborts": the indicator is written and the processor shuts down.
            v.set_abort(x, a.indicator);
            x.cpu.state.activity = Activity::Shutdown;
            self.last_failure = Some(a.explain());
        }
        if !ctx.proc2.contains(crate::controls::ProcCtls2::ENABLE_VPID) {
            // Without VPID, VM entries and exits invalidate VPID-0 linear mappings (SDM 29.4.3.3).
            x.cpu.flush_tlb(Some(0));
        }
        // A VM-entry failure's explanation with its values is in last_failure (entry/load.rs).
        let detail = match (&self.last_failure, &abort) {
            (_, Some(a)) => a.explain(),
            (Some(s), _) if info.reason & reason::ENTRY_FAILURE != 0 => s.clone(),
            _ => info.detail.to_string(),
        };
        let reason_v = info.reason;
        let q = info.qualification;
        let len = info.instruction_len;
        let gpa = info.guest_physical.unwrap_or(0);
        if info.reason & reason::ENTRY_FAILURE != 0 || abort.is_some() {
            x.cpu.record(Event::VmExit { reason: reason_v, qualification: q, guest_rip, instruction_len: len, guest_physical: gpa, detail });
        } else {
            x.cpu.emit(|| Event::VmExit { reason: reason_v, qualification: q, guest_rip, instruction_len: len, guest_physical: gpa, detail });
        }
    }

    /// 28.3 "Saving Guest State".
    fn save_guest(&mut self, x: &mut Exec<'_>, ctx: &crate::Ctx) {
        let v = ctx.vmcs;
        let s = x.cpu.state.clone();
        v.write(x, enc::GUEST_CR0, s.cr0);
        v.write(x, enc::GUEST_CR3, s.cr3);
        v.write(x, enc::GUEST_CR4, s.cr4);
        if ctx.exit.contains(ExitCtls::SAVE_DEBUG_CONTROLS) {
            v.write(x, enc::GUEST_DR7, s.dr[7]);
            v.write(x, enc::GUEST_DEBUGCTL, s.msr.debugctl);
        }
        v.write(x, enc::GUEST_RSP, s.gpr[4]);
        v.write(x, enc::GUEST_RIP, s.rip);
        v.write(x, enc::GUEST_RFLAGS, s.rflags);
        for (i, r) in SegReg::ALL.iter().enumerate() {
            write_segment(x, v, i as u32, s.seg[*r as usize]);
        }
        write_segment(x, v, 6, s.ldtr);
        write_segment(x, v, 7, s.tr);
        v.write(x, enc::GUEST_GDTR_BASE, s.gdtr.base);
        v.write(x, enc::GUEST_GDTR_LIMIT, s.gdtr.limit as u64);
        v.write(x, enc::GUEST_IDTR_BASE, s.idtr.base);
        v.write(x, enc::GUEST_IDTR_LIMIT, s.idtr.limit as u64);
        v.write(x, enc::GUEST_SYSENTER_CS, s.msr.sysenter_cs);
        v.write(x, enc::GUEST_SYSENTER_ESP, s.msr.sysenter_esp);
        v.write(x, enc::GUEST_SYSENTER_EIP, s.msr.sysenter_eip);
        if ctx.exit.contains(ExitCtls::SAVE_PAT) {
            v.write(x, enc::GUEST_PAT, s.msr.pat);
        }
        if ctx.exit.contains(ExitCtls::SAVE_EFER) {
            v.write(x, enc::GUEST_EFER, s.efer);
        }
        // IA32_VMX_MISC bit 5: the "IA-32e mode guest" entry control receives EFER.LMA.
        let entry = v.read(x, enc::ENTRY_CONTROLS);
        let ia32e = crate::controls::EntryCtls::IA32E_MODE_GUEST.bits() as u64;
        v.write(x, enc::ENTRY_CONTROLS, if s.efer & efer::LMA != 0 { entry | ia32e } else { entry & !ia32e });
        let activity = match s.activity {
            Activity::Active => 0,
            Activity::Halted => 1,
            Activity::Shutdown => 2,
            Activity::WaitForSipi => 3,
        };
        v.write(x, enc::GUEST_ACTIVITY_STATE, activity);
        let mut intr_state = (s.shadow & 3) as u64;
        if s.nmi_blocked {
            intr_state |= crate::controls::interruptibility::NMI as u64;
        }
        v.write(x, enc::GUEST_INTERRUPTIBILITY, intr_state);
        // 28.3.4: debug traps pending at the exit (held back by MOV SS, or recognised after
        // an instruction whose MTF VM exit came first): B3-B0 in bits 3:0, bit 12 "enabled
        // breakpoint" when one of them is set (hvbench records only enabled breakpoints), BS
        // in bit 14.
        let p = x.cpu.pending_debug();
        let enabled = if p & 0xf != 0 { 1 << 12 } else { 0 };
        v.write(x, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, (p & (0xf | 1 << 14)) | enabled);
        // 28.3.4 "Saving Non-Register State": the timer's remaining value (0 when it expired).
        if let Some(deadline) = ctx.timer_deadline
            && ctx.exit.contains(ExitCtls::SAVE_PREEMPTION_TIMER)
        {
            let now = x.cpu.cycles >> self.profile.preemption_timer_rate();
            v.write(x, enc::PREEMPTION_TIMER_VALUE, deadline.saturating_sub(now) & 0xffff_ffff);
        }
        if self.profile.has2(crate::controls::ProcCtls2::ENABLE_EPT) {
            let p = x.cpu.state.cr4 & hvbench_cpu::regs::cr4::PAE != 0 && s.cr0 & cr0::PG != 0 && s.efer & efer::LMA == 0;
            if p && ctx.proc2.contains(crate::controls::ProcCtls2::ENABLE_EPT) {
                let pdptes = x.cpu.pdptes();
                for (i, e) in pdptes.iter().enumerate() {
                    v.write(x, enc::GUEST_PDPTE0 + 2 * i as u32, *e);
                }
            }
        }
    }

    /// 28.5 "Loading Host State": 28.5.1 control registers, debug registers and MSRs, 28.5.2
    /// segment and descriptor-table registers, 28.5.3 RIP, RSP and RFLAGS (the full fields:
    /// for a host outside IA-32e mode, entry checked host RIP bits 63:32 = 0). The PDPTEs of a
    /// PAE-paging host (28.5.4) are loaded after it by `abort::load_host_pdptes`.
    fn load_host(&mut self, x: &mut Exec<'_>, v: Vmcs, exit: ExitCtls, nmi_exit: bool) {
        let host64 = exit.contains(ExitCtls::HOST_ADDRESS_SPACE_SIZE);
        let before = x.cpu.state.mode();
        let cr0_v = v.read(x, enc::HOST_CR0);
        let cr3 = v.read(x, enc::HOST_CR3);
        let cr4_v = v.read(x, enc::HOST_CR4);
        let rsp = v.read(x, enc::HOST_RSP);
        let rip = v.read(x, enc::HOST_RIP);
        let sel = |x: &mut Exec<'_>, e: u32| v.read(x, e) as u16;
        let (es, cs, ss, ds, fs, gs, tr) = (
            sel(x, enc::HOST_ES_SELECTOR),
            sel(x, enc::HOST_CS_SELECTOR),
            sel(x, enc::HOST_SS_SELECTOR),
            sel(x, enc::HOST_DS_SELECTOR),
            sel(x, enc::HOST_FS_SELECTOR),
            sel(x, enc::HOST_GS_SELECTOR),
            sel(x, enc::HOST_TR_SELECTOR),
        );
        let fs_base = v.read(x, enc::HOST_FS_BASE);
        let gs_base = v.read(x, enc::HOST_GS_BASE);
        let tr_base = v.read(x, enc::HOST_TR_BASE);
        let gdtr = v.read(x, enc::HOST_GDTR_BASE);
        let idtr = v.read(x, enc::HOST_IDTR_BASE);
        let sysenter = (v.read(x, enc::HOST_SYSENTER_CS), v.read(x, enc::HOST_SYSENTER_ESP), v.read(x, enc::HOST_SYSENTER_EIP));
        let pat = v.read(x, enc::HOST_PAT);
        let host_efer = v.read(x, enc::HOST_EFER);
        let maxphy = x.cpu.config.maxphyaddr;
        let s = &mut x.cpu.state;
        // 28.5.1: CR0 ET, CD, NW and reserved bits keep their value; CR3 loaded (bits 63:52
        // and those beyond MAXPHYADDR cleared); CR4 loaded, with PAE set when "host
        // address-space size" = 1 and PCIDE cleared when it is 0.
        let keep = cr0::ET | cr0::CD | cr0::NW;
        s.cr0 = (s.cr0 & keep) | (cr0_v & !keep & 0xffff_ffff);
        s.cr3 = cr3 & !(u64::MAX << maxphy.min(52));
        s.cr4 = if host64 { cr4_v | hvbench_cpu::regs::cr4::PAE } else { cr4_v & !hvbench_cpu::regs::cr4::PCIDE };
        s.dr[7] = 0x400;
        s.msr.debugctl = 0;
        s.msr.sysenter_cs = sysenter.0 & 0xffff_ffff;
        s.msr.sysenter_esp = sysenter.1;
        s.msr.sysenter_eip = sysenter.2;
        if exit.contains(ExitCtls::LOAD_PAT) {
            s.msr.pat = pat;
        }
        if exit.contains(ExitCtls::LOAD_EFER) {
            s.efer = host_efer;
        } else if host64 {
            s.efer |= efer::LMA | efer::LME;
        } else {
            s.efer &= !(efer::LMA | efer::LME);
        }
        // 28.5.2: segments.
        let code_attr = attr::P | attr::S | 11 | attr::G | if host64 { attr::L } else { attr::DB };
        s.seg[SegReg::Cs as usize] = Segment { selector: cs, base: 0, limit: 0xffff_ffff, attr: code_attr };
        let data_attr = attr::P | attr::S | 3 | attr::G | attr::DB;
        for (r, sl, base) in [(SegReg::Ss, ss, 0), (SegReg::Ds, ds, 0), (SegReg::Es, es, 0), (SegReg::Fs, fs, fs_base), (SegReg::Gs, gs, gs_base)] {
            let unusable = if sl == 0 { attr::UNUSABLE } else { 0 };
            s.seg[r as usize] = Segment { selector: sl, base, limit: 0xffff_ffff, attr: data_attr | unusable };
        }
        s.tr = Segment { selector: tr, base: tr_base, limit: 0x67, attr: attr::P | 11 };
        s.ldtr = Segment { selector: 0, base: 0, limit: 0, attr: attr::UNUSABLE };
        s.gdtr = DescTable { base: gdtr, limit: 0xffff };
        s.idtr = DescTable { base: idtr, limit: 0xffff };
        s.gpr[4] = rsp;
        s.rip = rip;
        s.rflags = 2;
        s.cpl = 0;
        s.activity = Activity::Active;
        s.shadow = 0;
        if nmi_exit {
            s.nmi_blocked = true;
        }
        x.cpu.vmx_non_root = false;
        x.cpu.iret_keeps_nmi_blocking = false;
        x.cpu.iret_unblocked_nmi = false;
        // The guest's pending debug traps are in the VMCS now, not the host's.
        x.cpu.set_pending_debug(0);
        x.cpu.ept = None;
        // Nothing is being delivered in the host.
        x.cpu.end_delivery();
        x.cpu.tlb_vpid = 0;
        x.cpu.tlb_ept = 0;
        x.cpu.state_replaced();
        x.note_mode_change(before);
    }
}

/// Saves one segment register into guest fields (index 0-5 ES..GS, 6 LDTR, 7 TR).
fn write_segment(x: &mut Exec<'_>, v: Vmcs, i: u32, s: Segment) {
    v.write(x, enc::GUEST_ES_SELECTOR + 2 * i, s.selector as u64);
    v.write(x, enc::GUEST_ES_BASE + 2 * i, s.base);
    v.write(x, enc::GUEST_ES_LIMIT + 2 * i, s.limit as u64);
    v.write(x, enc::GUEST_ES_ACCESS_RIGHTS + 2 * i, s.attr as u64 & 0x1f0ff);
}

/// Reads one segment register from guest fields.
pub(crate) fn read_segment(x: &mut Exec<'_>, v: Vmcs, i: u32) -> Segment {
    Segment {
        selector: v.read(x, enc::GUEST_ES_SELECTOR + 2 * i) as u16,
        base: v.read(x, enc::GUEST_ES_BASE + 2 * i),
        limit: v.read(x, enc::GUEST_ES_LIMIT + 2 * i) as u32,
        attr: v.read(x, enc::GUEST_ES_ACCESS_RIGHTS + 2 * i) as u32,
    }
}
