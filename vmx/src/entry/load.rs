//! The VM-entry sequence (SDM 27.1 "Basic VM-Entry Checks" come from the instruction, then
//! 27.2, 27.3.1 checks), 27.3.2 "Loading Guest State", 27.4 "Loading MSRs" (only an empty
//! list is accepted yet), 27.6 "Event Injection", and the switch to VMX non-root operation.

use super::{controls, guest, host, Area, EntryError, EntryFields};
use crate::controls::{interruptibility as ib, intr, EntryCtls, ProcCtls, ProcCtls2};
use crate::exit::{read_segment, reason, ExitInfo};
use crate::fields::enc;
use crate::vmcs::Vmcs;
use crate::{Ctx, Vmx};
use hvbench_cpu::deliver::EventKind;
use hvbench_cpu::events::Event;
use hvbench_cpu::regs::{cr0, cr4, efer};
use hvbench_cpu::segment::{DescTable, SegReg};
use hvbench_cpu::state::Activity;
use hvbench_cpu::Exec;
use hvbench_mmu::ept::EptContext;

/// What a VM entry attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryOutcome {
    /// The guest runs.
    Entered,
    /// VMfailValid with this error (7 or 8) and the failed check.
    FailValid(u32, EntryError),
    /// A VM-entry failure (exit reason 33 or 34): the host runs again.
    Failed(EntryError),
}

/// Performs VM entry with the current VMCS `v` (the instruction already did the checks of
/// SDM 27.1 and the launch-state check).
pub fn vm_entry(vmx: &mut Vmx, x: &mut Exec<'_>, v: Vmcs, launch: bool) -> EntryOutcome {
    let proc = v.read(x, enc::PROC_BASED_CONTROLS) as u32;
    let f = EntryFields {
        pin: v.read(x, enc::PIN_BASED_CONTROLS) as u32,
        proc,
        proc2: if proc & ProcCtls::ACTIVATE_SECONDARY_CONTROLS.bits() != 0 { v.read(x, enc::SECONDARY_PROC_BASED_CONTROLS) as u32 } else { 0 },
        exit: v.read(x, enc::EXIT_CONTROLS) as u32,
        entry: v.read(x, enc::ENTRY_CONTROLS) as u32,
    };
    let p = vmx.profile.clone();
    // 27.2: controls (VMfailValid 7), then the host-state area (VMfailValid 8).
    let checks = controls::execution(x, v, &p, &f)
        .and_then(|_| controls::exit(x, v, &p, &f))
        .and_then(|_| controls::entry(x, v, &p, &f))
        .and_then(|_| host::control_registers(x, v, &f))
        .and_then(|_| host::segments(x, v, &f))
        .and_then(|_| host::address_space(x, v, &f));
    if let Err(e) = checks {
        return EntryOutcome::FailValid(if e.area == Area::Controls { 7 } else { 8 }, e);
    }
    // 27.3.1: the guest-state area.
    let g = guest::GuestState::read(x, v, &f);
    let checks = guest::control_registers(x, v, &f, &g)
        .and_then(|_| guest::segments(&g))
        .and_then(|_| guest::descriptor_tables(x, v))
        .and_then(|_| guest::rip_rflags(x, v, &g))
        .and_then(|_| guest::non_register(x, v, &p, &g))
        .and_then(|_| guest::pdptes(x, v, &f, &g));
    let ctx = make_ctx(x, v, &f);
    if let Err(e) = checks {
        entry_failure(vmx, x, ctx, e.clone());
        return EntryOutcome::Failed(e);
    }
    load_guest(vmx, x, v, &f, &g);
    if let Err(e) = guest_pdptes(x, v, &f, &g) {
        // The PDPTEs are loaded with the guest state; a failure is a VM-entry failure with
        // qualification 2 (27.8), the host state comes back.
        entry_failure(vmx, x, ctx, e.clone());
        return EntryOutcome::Failed(e);
    }
    // 27.4: the VM-entry MSR-load list, after the guest state is loaded.
    if let Err(e) = msr_load(x, v) {
        entry_failure(vmx, x, ctx, e.clone());
        return EntryOutcome::Failed(e);
    }
    let mut ctx = ctx;
    arm_boundary(vmx, x, &mut ctx);
    vmx.ctx = Some(ctx);
    enter_non_root(vmx, x, &ctx, &f);
    let vpid = ctx.vpid;
    let rip = x.cpu.state.rip;
    x.cpu.emit(|| Event::VmEntry { launch, rip, vpid });
    // 27.7: an entry is vectoring if it injects an event of types 0 and 2-6; type 7 (other
    // event, vector 0) injects a pending MTF VM exit instead (27.6.2).
    let info = v.read(x, enc::ENTRY_INTERRUPTION_INFO) as u32;
    let pending_mtf = info & intr::VALID != 0 && (info >> intr::TYPE_SHIFT) & 7 == intr::OTHER;
    let vectoring = info & intr::VALID != 0 && !pending_mtf;
    inject(vmx, x, v);
    if pending_mtf {
        // The MTF VM exit has priority over debug traps (26.5.2): debug exceptions pending
        // from the guest-state field stay pending and the exit saves them (28.3.4).
        let field = v.read(x, enc::GUEST_PENDING_DEBUG_EXCEPTIONS);
        if field & (0xf | 1 << 12 | 1 << 14) != 0 {
            x.cpu.set_pending_debug(field & (0xf | 1 << 14));
        }
    } else if !vectoring && vmx.ctx.is_some() {
        pending_debug(vmx, x, v);
    }
    // An INIT latched in VMX root operation is no longer blocked in a guest that is not
    // waiting for SIPI (SDM 24.8, 26.2): it exits at the first boundary.
    if vmx.init_latched && vmx.ctx.is_some() && x.cpu.state.activity != Activity::WaitForSipi {
        vmx.init_latched = false;
        vmx.vm_exit(x, ExitInfo::new(reason::INIT, 0));
    }
    // 27.6.2: the pending MTF VM exit happens on the boundary after VM entry, before the first
    // guest instruction, whatever the "monitor trap flag" control; below INIT in priority and
    // above the VMX-preemption timer and external events (26.5.2).
    if pending_mtf && vmx.ctx.is_some() {
        vmx.vm_exit(x, ExitInfo::new(reason::MONITOR_TRAP_FLAG, 0));
    }
    EntryOutcome::Entered
}

/// The boundary hook for the monitor trap flag and the VMX-preemption timer (SDM 26.5.1
/// "VMX-Preemption Timer": the timer starts from the VMCS value at VM entry; 26.5.2 "Monitor
/// Trap Flag"). `mtf_base` counts the VMLAUNCH/VMRESUME step that is still to be counted, so
/// that an event injected by this entry (a delivery is a step) makes an MTF VM exit pending
/// before the first guest instruction.
fn arm_boundary(vmx: &Vmx, x: &mut Exec<'_>, c: &mut Ctx) {
    c.mtf_base = x.cpu.steps.wrapping_add(1);
    if c.pin.contains(crate::controls::PinCtls::PREEMPTION_TIMER) {
        let v = c.vmcs.read(x, enc::PREEMPTION_TIMER_VALUE);
        c.timer_deadline = Some((x.cpu.cycles >> vmx.profile.preemption_timer_rate()).wrapping_add(v));
    }
    x.cpu.set_boundary_hook(c.proc.contains(ProcCtls::MONITOR_TRAP_FLAG) || c.timer_deadline.is_some());
}

/// 27.4 "Loading MSRs": a failing entry ends VM entry with exit reason 34 and the entry's
/// 1-based index as qualification.
fn msr_load(x: &mut Exec<'_>, v: Vmcs) -> Result<(), EntryError> {
    let count = v.read(x, enc::ENTRY_MSR_LOAD_COUNT);
    let addr = v.read(x, enc::ENTRY_MSR_LOAD_ADDR);
    crate::msr_list::load(x, addr, count).map_err(|i| {
        super::fail(Area::MsrLoad(i), "msr_load.entry", "a VM-entry MSR-load entry names FS_BASE, GS_BASE, IA32_SMM_MONITOR_CTL or an x2APIC MSR, has bits 63:32 set, or holds a value WRMSR would refuse; SDM 27.4 Loading MSRs").with(format!("VM-entry MSR-load entry {i} (1-based) of the list at {addr:#x} (count {count})"))
    })
}

fn make_ctx(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields) -> Ctx {
    use crate::controls::*;
    Ctx {
        vmcs: v,
        pin: PinCtls::from_bits_retain(f.pin),
        proc: ProcCtls::from_bits_retain(f.proc),
        proc2: ProcCtls2::from_bits_retain(f.proc2),
        exit: ExitCtls::from_bits_retain(f.exit),
        entry: EntryCtls::from_bits_retain(f.entry),
        exception_bitmap: v.read(x, enc::EXCEPTION_BITMAP) as u32,
        pf_mask: v.read(x, enc::PAGE_FAULT_ERROR_CODE_MASK) as u32,
        pf_match: v.read(x, enc::PAGE_FAULT_ERROR_CODE_MATCH) as u32,
        cr0_mask: v.read(x, enc::CR0_GUEST_HOST_MASK),
        cr4_mask: v.read(x, enc::CR4_GUEST_HOST_MASK),
        cr0_shadow: v.read(x, enc::CR0_READ_SHADOW),
        cr4_shadow: v.read(x, enc::CR4_READ_SHADOW),
        cr3_count: v.read(x, enc::CR3_TARGET_COUNT) as u32,
        cr3_targets: [0, 1, 2, 3].map(|i| v.read(x, enc::CR3_TARGET_VALUE0 + 2 * i)),
        io_bitmap: [v.read(x, enc::IO_BITMAP_A), v.read(x, enc::IO_BITMAP_B)],
        msr_bitmap: v.read(x, enc::MSR_BITMAP),
        tsc_offset: v.read(x, enc::TSC_OFFSET),
        vpid: v.read(x, enc::VPID) as u16,
        vmfunc: if ProcCtls2::from_bits_retain(f.proc2).contains(ProcCtls2::ENABLE_VMFUNC) { v.read(x, enc::VMFUNC_CONTROLS) } else { 0 },
        eptp_list: v.read(x, enc::EPTP_LIST_ADDRESS),
        mtf_base: 0,
        timer_deadline: None,
        monitor_armed: false,
        virtual_apic: v.read(x, enc::VIRTUAL_APIC_ADDRESS),
        tpr_threshold: v.read(x, enc::TPR_THRESHOLD) as u32,
        ple_gap: v.read(x, enc::PLE_GAP) as u32,
        ple_window: v.read(x, enc::PLE_WINDOW) as u32,
        ple_loop: None,
    }
}

/// 27.8: a VM-entry failure during or after loading guest state: exit reason 33 or 34 with
/// bit 31 set, then host state as for a VM exit.
fn entry_failure(vmx: &mut Vmx, x: &mut Exec<'_>, ctx: Ctx, e: EntryError) {
    let (r, q) = match e.area {
        Area::MsrLoad(i) => (reason::MSR_LOADING, i),
        Area::Guest(q) => (reason::INVALID_GUEST_STATE, q),
        _ => (reason::INVALID_GUEST_STATE, 0),
    };
    vmx.ctx = Some(ctx);
    // The exit's event carries the explanation with its values (vm_exit reads last_failure).
    vmx.last_failure = Some(e.to_string());
    vmx.vm_exit(x, ExitInfo { detail: e.message, ..ExitInfo::new(r | reason::ENTRY_FAILURE, q) });
}

/// 27.3.2 "Loading Guest State".
fn load_guest(vmx: &mut Vmx, x: &mut Exec<'_>, v: Vmcs, f: &EntryFields, g: &guest::GuestState) {
    let _ = vmx;
    let entry = EntryCtls::from_bits_retain(f.entry);
    let before = x.cpu.state.mode();
    let dr7 = v.read(x, enc::GUEST_DR7);
    let debugctl = v.read(x, enc::GUEST_DEBUGCTL);
    let rsp = v.read(x, enc::GUEST_RSP);
    let sysenter = (v.read(x, enc::GUEST_SYSENTER_CS), v.read(x, enc::GUEST_SYSENTER_ESP), v.read(x, enc::GUEST_SYSENTER_EIP));
    let pat = v.read(x, enc::GUEST_PAT);
    let gefer = v.read(x, enc::GUEST_EFER);
    let gdtr = DescTable { base: v.read(x, enc::GUEST_GDTR_BASE), limit: v.read(x, enc::GUEST_GDTR_LIMIT) as u16 };
    let idtr = DescTable { base: v.read(x, enc::GUEST_IDTR_BASE), limit: v.read(x, enc::GUEST_IDTR_LIMIT) as u16 };
    let activity = v.read(x, enc::GUEST_ACTIVITY_STATE);
    let intr_state = v.read(x, enc::GUEST_INTERRUPTIBILITY) as u32;
    let ldtr = read_segment(x, v, 6);
    let s = &mut x.cpu.state;
    // 27.3.2.1 control registers, debug registers, MSRs.
    s.cr0 = g.cr0;
    s.cr3 = g.cr3;
    s.cr4 = g.cr4;
    if entry.contains(EntryCtls::LOAD_DEBUG_CONTROLS) {
        s.dr[7] = dr7;
        s.msr.debugctl = debugctl;
    }
    s.msr.sysenter_cs = sysenter.0;
    s.msr.sysenter_esp = sysenter.1;
    s.msr.sysenter_eip = sysenter.2;
    if entry.contains(EntryCtls::LOAD_EFER) {
        s.efer = gefer;
    } else {
        // LMA = "IA-32e mode guest"; LME too when CR0.PG = 1.
        s.efer = (s.efer & !efer::LMA) | if g.ia32e { efer::LMA } else { 0 };
        if g.cr0 & cr0::PG != 0 {
            s.efer = (s.efer & !efer::LME) | if g.ia32e { efer::LME } else { 0 };
        }
    }
    if entry.contains(EntryCtls::LOAD_PAT) {
        s.msr.pat = pat;
    }
    // 27.3.2.2 segment and descriptor-table registers.
    for (i, r) in SegReg::ALL.iter().enumerate() {
        s.seg[*r as usize] = g.seg[i];
    }
    s.ldtr = ldtr;
    s.tr = g.seg[7];
    s.gdtr = gdtr;
    s.idtr = idtr;
    // 27.3.2.3 RIP, RSP, RFLAGS; CPL is SS.DPL.
    s.rip = g.rip;
    s.gpr[4] = rsp;
    s.rflags = g.rflags;
    s.cpl = ((g.seg[2].attr >> 5) & 3) as u8;
    // 27.3.2.5 non-register state.
    s.activity = match activity {
        1 => Activity::Halted,
        2 => Activity::Shutdown,
        3 => Activity::WaitForSipi,
        _ => Activity::Active,
    };
    s.shadow = (intr_state & (ib::STI | ib::MOV_SS)) as u8;
    s.nmi_blocked = intr_state & ib::NMI != 0;
    let _ = cr4::PAE;
    x.cpu.state_replaced();
    x.note_mode_change(before);
}

/// 27.3.2.4 "Loading Page-Directory-Pointer-Table Entries": with PAE paging outside IA-32e
/// mode, from the VMCS with EPT, else from guest CR3 (reserved bits: qualification 2).
fn guest_pdptes(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields, g: &guest::GuestState) -> Result<(), EntryError> {
    let pae = g.cr0 & cr0::PG != 0 && g.cr4 & cr4::PAE != 0 && !g.ia32e;
    if !pae {
        return Ok(());
    }
    if ProcCtls2::from_bits_retain(f.proc2).contains(ProcCtls2::ENABLE_EPT) {
        let p = [0u32, 1, 2, 3].map(|i| v.read(x, enc::GUEST_PDPTE0 + 2 * i));
        x.cpu.set_pdptes(p);
        return Ok(());
    }
    match hvbench_mmu::paging::load_pdptes(x.mem, g.cr3, x.cpu.config.maxphyaddr) {
        Some(p) => {
            x.cpu.set_pdptes(p);
            Ok(())
        }
        None => Err(super::fail(Area::Guest(2), "guest.pdpte.load", "a PDPTE loaded from guest CR3 has a reserved bit set; SDM 27.3.2.4 Loading Page-Directory-Pointer-Table Entries").with(format!("guest CR3 = {:#x}: the PDPTEs there have reserved bits set (MAXPHYADDR = {})", g.cr3, x.cpu.config.maxphyaddr))),
    }
}

/// The switch into VMX non-root operation: VPID and EPT tags for the TLB, the EPT context.
fn enter_non_root(vmx: &mut Vmx, x: &mut Exec<'_>, c: &Ctx, f: &EntryFields) {
    let proc2 = ProcCtls2::from_bits_retain(f.proc2);
    let vpid = if proc2.contains(ProcCtls2::ENABLE_VPID) { c.vpid } else { 0 };
    if vpid == 0 {
        // Without VPID, VM entries invalidate VPID-0 linear mappings (SDM 29.4.3.3).
        x.cpu.flush_tlb(Some(0));
    }
    x.cpu.tlb_vpid = vpid;
    if proc2.contains(ProcCtls2::ENABLE_EPT) {
        let eptp = c.vmcs.read(x, enc::EPT_POINTER);
        x.cpu.tlb_ept = vmx.ept_tag(x, eptp);
        x.cpu.ept = Some(EptContext { eptp: hvbench_mmu::ept::EptPointer(eptp), caps: vmx.profile.ept_caps(), mbec: false, maxphyaddr: x.cpu.config.maxphyaddr });
    } else {
        x.cpu.tlb_ept = 0;
        x.cpu.ept = None;
    }
    x.cpu.vmx_non_root = true;
    // SDM 26.3: with "NMI exiting" = 1 IRET does not affect blocking of NMIs, unless
    // "virtual NMIs" = 1 (then IRET removes virtual-NMI blocking, 26.7.1).
    x.cpu.iret_keeps_nmi_blocking = c.pin.contains(crate::controls::PinCtls::NMI_EXITING) && !c.pin.contains(crate::controls::PinCtls::VIRTUAL_NMIS);
    x.cpu.state_replaced();
}

/// 27.7.3 "Delivery of Pending Debug Exceptions after VM Entry", for an entry that injects no
/// event (a vectoring entry discards them: the injected event's delivery comes first and, as
/// any event delivery, clears pending debug traps). A debug exception is pending when the
/// field has B3-B0 (bits 3:0), "enabled breakpoint" (bit 12) or BS (bit 14) set:
/// - with blocking by MOV SS (interruptibility bit 1) it waits, like a trap held back by
///   MOV SS, until the first guest instruction completes (SDM Vol. 3A 6.8.3);
/// - otherwise it is delivered at once, before the first guest instruction, as a #DB trap
///   with DR6.B3-B0 and DR6.BS from the field (a #DB VM exit instead, qualification in DR6
///   format, if bit 1 of the exception bitmap is set, 26.2 / 28.2.1);
/// - in the shutdown and wait-for-SIPI activity states it is not delivered (hvbench's reading:
///   those states take no exceptions); from HLT, the delivery wakes the guest as any event.
fn pending_debug(vmx: &mut Vmx, x: &mut Exec<'_>, v: Vmcs) {
    let field = v.read(x, enc::GUEST_PENDING_DEBUG_EXCEPTIONS);
    if field & (0xf | 1 << 12 | 1 << 14) == 0 || matches!(x.cpu.state.activity, Activity::Shutdown | Activity::WaitForSipi) {
        return;
    }
    let bits = field & (0xf | 1 << 14);
    if x.cpu.state.shadow & ib::MOV_SS as u8 != 0 {
        x.cpu.set_pending_debug(bits);
        return;
    }
    let Some(c) = vmx.ctx else { return };
    if c.exception_bitmap & (1 << 1) != 0 {
        let info = 1 | intr::HARDWARE_EXCEPTION << intr::TYPE_SHIFT | intr::VALID;
        vmx.vm_exit(x, ExitInfo { interruption: Some((info, None)), ..ExitInfo::new(reason::EXCEPTION_NMI, bits) });
        return;
    }
    x.cpu.state.activity = Activity::Active;
    with_exit_filter(&c, x, |x| x.deliver_exception(hvbench_cpu::Exception::db_with(bits)));
    deferred_exit(vmx, x, Some((1 | intr::HARDWARE_EXCEPTION << intr::TYPE_SHIFT | intr::VALID, None)), 0);
}

/// Runs `f` (an event delivery VM entry makes while the VMX extension itself runs) with the
/// core told which hardware exceptions the exception bitmap turns into VM exits (SDM 25.6.3,
/// 26.2), so that an exception met during the delivery is kept for [`deferred_exit`].
fn with_exit_filter(c: &Ctx, x: &mut Exec<'_>, f: impl FnOnce(&mut Exec<'_>)) {
    let c = *c;
    x.cpu.exit_filter = Some(Box::new(move |e| crate::intercept::exception_exits(&c, e)));
    f(x);
    x.cpu.exit_filter = None;
}

/// An EPT fault, triple fault or exception-bitmap exception met while VM entry delivered an
/// event could not exit while VMX was running: it exits now (28.2.4 "Information for VM
/// Exits During Event Delivery": with `event`, the event VM entry delivered, as IDT-vectoring
/// information, and for an injected software interrupt or (privileged) software exception
/// `len`, its VM-entry instruction length, as VM-exit instruction length (28.2.5)). An
/// exception met while delivering an exception that delivery raised in turn reports that
/// exception instead; a #DF exit and a triple-fault exit are not "during event delivery" and
/// have none.
fn deferred_exit(vmx: &mut Vmx, x: &mut Exec<'_>, event: Option<(u32, Option<u32>)>, len: u32) {
    let software = |e: Option<(u32, Option<u32>)>| e.is_some_and(|(i, _)| matches!((i >> intr::TYPE_SHIFT) & 7, intr::SOFTWARE_INTERRUPT | intr::PRIVILEGED_SOFTWARE_EXCEPTION | intr::SOFTWARE_EXCEPTION));
    match x.cpu.deferred.take() {
        Some(hvbench_cpu::ext::Intercept::Ept { fault, gla, .. }) => {
            // The core kept the delivery under way: the event VM entry delivered, or an
            // exception its delivery raised that the exception bitmap let through.
            let during = crate::exit::idt_vectoring_of(x).map(|(i, c)| (i & !intr::NMI_UNBLOCKING, c)).or(event);
            let mut e = crate::intercept::ept_exit(fault, gla, during);
            e.idt_vectoring = during;
            if software(during) {
                e.instruction_len = len;
            }
            x.cpu.end_delivery();
            vmx.vm_exit(x, e);
        }
        Some(hvbench_cpu::ext::Intercept::TripleFault) => vmx.vm_exit(x, ExitInfo::new(reason::TRIPLE_FAULT, 0)),
        Some(hvbench_cpu::ext::Intercept::Exception { e, .. }) => {
            // The core kept the delivery under way (the injected event, or an exception its
            // delivery raised and the exception bitmap let through) for the IDT-vectoring
            // information and instruction length.
            let info = crate::intercept::exception_exit_info(x, e, false, 0);
            x.cpu.end_delivery();
            vmx.vm_exit(x, info);
        }
        _ => {}
    }
}

/// 27.6 "Event Injection": delivers the event of the VM-entry interruption-information field
/// through the guest IDT (or IVT for a real-mode unrestricted guest), not subject to the
/// exception bitmap. Software interrupts and exceptions push RIP + VM-entry instruction length.
fn inject(vmx: &mut Vmx, x: &mut Exec<'_>, v: Vmcs) {
    let info = v.read(x, enc::ENTRY_INTERRUPTION_INFO) as u32;
    if info & intr::VALID == 0 {
        return;
    }
    let vector = (info & intr::VECTOR) as u8;
    let kind = (info >> intr::TYPE_SHIFT) & 7;
    let code = (info & intr::ERROR_CODE != 0).then(|| v.read(x, enc::ENTRY_EXCEPTION_ERROR_CODE) as u32);
    let len = v.read(x, enc::ENTRY_INSTRUCTION_LENGTH);
    if kind == intr::OTHER {
        // A pending MTF VM exit: nothing is delivered (see `load`).
        return;
    }
    let rip = x.cpu.state.rip;
    x.cpu.state.activity = Activity::Active;
    let (ek, ret) = match kind {
        intr::EXTERNAL => (EventKind::External, rip),
        intr::NMI => (EventKind::External, rip),
        intr::HARDWARE_EXCEPTION => (EventKind::Exception, rip),
        intr::SOFTWARE_INTERRUPT => (EventKind::SoftwareInterrupt, rip.wrapping_add(len)),
        intr::PRIVILEGED_SOFTWARE_EXCEPTION => (EventKind::PrivilegedSoftwareException, rip.wrapping_add(len)),
        _ => (EventKind::SoftwareException, rip.wrapping_add(len)),
    };
    let Some(c) = vmx.ctx else { return };
    with_exit_filter(&c, x, |x| x.inject_event(vector, ek, code, ret));
    if kind == intr::NMI {
        x.cpu.state.nmi_blocked = true;
    }
    // An EPT fault, triple fault or exiting exception during delivery could not exit while
    // VMX was running: do it now, with the injected event as IDT-vectoring information (SDM
    // 28.2.4) and, for an injected software interrupt or (privileged) software exception, the
    // VM-entry instruction length as VM-exit instruction length (28.2.5).
    deferred_exit(vmx, x, Some((info & !intr::NMI_UNBLOCKING, code)), len as u32);
}
