//! What VMX non-root operation turns into VM exits (SDM Vol. 3C 26.1 "Instructions That Cause
//! VM Exits", 26.1.2 "Instructions That Cause VM Exits Unconditionally", 26.1.3 "Instructions
//! That Cause VM Exits Conditionally", 26.2 "Other Causes of VM Exits", 26.3 "Changes to
//! Instruction Behavior in VMX Non-Root Operation", 26.4.2 "Treatment of Task Switches",
//! 26.5.1 "VMX-Preemption Timer", 26.5.2 "Monitor Trap Flag"), with each exit's qualification
//! (28.2.1 "Basic VM-Exit Information": tables "Exit Qualification for Control-Register
//! Accesses", "Exit Qualification for MOV DR", "Exit Qualification for Task Switches" and "Exit
//! Qualification for I/O Instructions"; 28.2.5 for the INS/OUTS instruction information;
//! 29.3.3 for EPT). The instructions with an exiting control of their own (WBINVD, RDRAND,
//! MONITOR, descriptor-table instructions, ...) are in `insn_exit.rs`.

use crate::controls::{intr, ExitCtls, PinCtls, ProcCtls, ProcCtls2};
use crate::exit::{idt_vectoring_of, reason, ExitInfo};
use crate::Vmx;
use bitvec::prelude::*;
use hvbench_cpu::exception::{Fault, Result};
use hvbench_cpu::ext::Intercept;
use hvbench_cpu::{Exception, Exec};
use hvbench_mmu::ept::EptFault;
use hvbench_mmu::PhysAddr;

/// Handles `what` in VMX non-root operation.
pub(crate) fn intercept(vmx: &mut Vmx, x: &mut Exec<'_>, what: Intercept) -> Result<u64> {
    let Some(c) = vmx.ctx else { return Ok(0) };
    let exit = |vmx: &mut Vmx, x: &mut Exec<'_>, info: ExitInfo| -> Result<u64> {
        vmx.vm_exit(x, info);
        Err(Fault::Diverted)
    };
    let insn = |r: u32, q: u64, len: u8| ExitInfo { instruction_len: len as u32, ..ExitInfo::new(r, q) };
    match what {
        Intercept::Cpuid { len } => exit(vmx, x, insn(reason::CPUID, 0, len)),
        Intercept::Hlt { len } if c.proc.contains(ProcCtls::HLT_EXITING) => exit(vmx, x, insn(reason::HLT, 0, len)),
        Intercept::Invlpg { len, la } if c.proc.contains(ProcCtls::INVLPG_EXITING) => exit(vmx, x, insn(reason::INVLPG, la, len)),
        Intercept::Rdtsc { len, tsc } | Intercept::Rdtscp { len, tsc } => {
            let rdtscp = matches!(what, Intercept::Rdtscp { .. });
            // SDM 26.3: RDTSCP is #UD unless "enable RDTSCP" is 1.
            if rdtscp && !c.proc2.contains(ProcCtls2::ENABLE_RDTSCP) {
                return Err(Exception::ud().into());
            }
            if c.proc.contains(ProcCtls::RDTSC_EXITING) {
                return exit(vmx, x, insn(if rdtscp { reason::RDTSCP } else { reason::RDTSC }, 0, len));
            }
            // 26.3 / 25.6.5: "use TSC offsetting" adds the TSC-offset field.
            Ok(if c.proc.contains(ProcCtls::USE_TSC_OFFSETTING) { tsc.wrapping_add(c.tsc_offset) } else { tsc })
        }
        Intercept::Rdmsr { len, msr } | Intercept::Wrmsr { len, msr } => {
            let write = matches!(what, Intercept::Wrmsr { .. });
            if msr_exits(x, &c, msr, write) {
                return exit(vmx, x, insn(if write { reason::WRMSR } else { reason::RDMSR }, 0, len));
            }
            // 26.3: with "use TSC offsetting", RDMSR of IA32_TIME_STAMP_COUNTER adds the offset.
            Ok(if !write && msr == 0x10 && c.proc.contains(ProcCtls::USE_TSC_OFFSETTING) { c.tsc_offset } else { 0 })
        }
        Intercept::Io { len, port, size, input, immediate } => {
            if io_exits(x, &c, port, size) {
                // Table "Exit Qualification for I/O Instructions": bits 2:0 size - 1, bit 3
                // direction (1 = IN), bit 4 string, bit 5 REP, bit 6 operand encoding
                // (1 = immediate), bits 31:16 port.
                let q = (size as u64 - 1) | (input as u64) << 3 | (immediate as u64) << 6 | (port as u64) << 16;
                return exit(vmx, x, insn(reason::IO, q, len));
            }
            Ok(0)
        }
        Intercept::StringIo { len, port, size, input, rep, addr_size, seg, la } => {
            if io_exits(x, &c, port, size) {
                // The I/O qualification with bit 4 (string) and bit 5 (REP); operand encoding 0
                // (DX). Instruction information (IA32_VMX_BASIC bit 54; table "Format of the
                // VM-Exit Instruction-Information Field as Used for INS and OUTS"): bits 9:7
                // address size, bits 17:15 segment (defined for OUTS; ES for INS). The
                // guest-linear address is that of the memory operand (28.2.1).
                let q = (size as u64 - 1) | (input as u64) << 3 | 1 << 4 | (rep as u64) << 5 | (port as u64) << 16;
                let info = (addr_size as u32) << 7 | (seg as u32) << 15;
                return exit(vmx, x, ExitInfo { instruction_info: info, guest_linear: Some(la), ..insn(reason::IO, q, len) });
            }
            Ok(0)
        }
        Intercept::Insn { insn } => crate::insn_exit::intercept(vmx, x, &insn),
        Intercept::MonitorArmed => {
            crate::insn_exit::monitor_armed(vmx);
            Ok(0)
        }
        Intercept::Invd { len } => exit(vmx, x, insn(reason::INVD, 0, len)),
        Intercept::Xsetbv { len } => exit(vmx, x, insn(reason::XSETBV, 0, len)),
        Intercept::Clts { len } => {
            // 26.1.3: CLTS exits when CR0.TS is 1 in both the guest/host mask and the read
            // shadow; 26.3: with TS owned (mask 1) and shadow 0 it leaves CR0.TS alone.
            // Qualification: CR 0, access type 2 (CLTS).
            let ts = hvbench_cpu::regs::cr0::TS;
            if c.cr0_mask & ts != 0 && c.cr0_shadow & ts != 0 {
                return exit(vmx, x, insn(reason::CR_ACCESS, 2 << 4, len));
            }
            Ok(if c.cr0_mask & ts != 0 { 0 } else { 1 })
        }
        Intercept::Lmsw { len, value, la } => {
            // 26.1.3: LMSW exits if a host-owned bit among CR0[3:1] would differ from the read
            // shadow, or if PE is host-owned, the shadow's PE is 0 and the source's PE is 1
            // (LMSW cannot clear PE). Qualification: access type 3, bit 6 memory operand,
            // bits 31:16 the source data; the guest-linear address for a memory operand.
            let (m, sh, v) = (c.cr0_mask & 0xf, c.cr0_shadow & 0xf, value as u64 & 0xf);
            let pe = m & 1 != 0 && sh & 1 == 0 && v & 1 != 0;
            if pe || (v ^ sh) & m & 0xe != 0 {
                let q = 3 << 4 | (la.is_some() as u64) << 6 | (value as u64) << 16;
                return exit(vmx, x, ExitInfo { guest_linear: la, ..insn(reason::CR_ACCESS, q, len) });
            }
            // 26.3: host-owned bits of CR0[3:0] keep their value.
            Ok((value as u64 & !m) | (x.cpu.state.cr0 & m))
        }
        Intercept::MovDr { len, dr, gpr, to_dr } if c.proc.contains(ProcCtls::MOV_DR_EXITING) => {
            // Table "Exit Qualification for MOV DR": bits 2:0 DR, bit 4 direction (1 = MOV
            // from DR), bits 11:8 the general register.
            let q = dr as u64 | (!to_dr as u64) << 4 | (gpr as u64) << 8;
            exit(vmx, x, insn(reason::MOV_DR, q, len))
        }
        Intercept::TaskSwitch { len, selector, source, software_vector } => {
            // 26.4.2: every task switch exits. Table "Exit Qualification for Task Switches":
            // bits 15:0 the new TSS selector, bits 31:30 the source (0 CALL, 1 IRET, 2 JMP, 3
            // task gate in the IDT). A switch through the IDT reports the event as
            // IDT-vectoring information (28.2.4). 28.2.5: the instruction length is recorded
            // for CALL, IRET, JMP, and for a task gate in the IDT met while delivering a
            // software interrupt, privileged software exception or software exception.
            let q = selector as u64 | (source as u64 & 3) << 30;
            let idt = match (source, software_vector) {
                (3, Some((v, kind))) => Some((v as u32 | (kind as u32 & 7) << intr::TYPE_SHIFT | intr::VALID, None)),
                (3, None) => idt_vectoring_of(x),
                _ => None,
            };
            let len = if source == 3 && software_vector.is_none() { 0 } else { len };
            exit(vmx, x, ExitInfo { idt_vectoring: idt, ..insn(reason::TASK_SWITCH, q, len) })
        }
        Intercept::Boundary => {
            // Before the next instruction: a pending MTF VM exit (SDM 26.5.2 "Monitor Trap
            // Flag": after an instruction or an event delivery) comes before an expired
            // VMX-preemption timer (26.5.1, which counts down from VM entry).
            if c.proc.contains(ProcCtls::MONITOR_TRAP_FLAG) && x.cpu.steps > c.mtf_base {
                return exit(vmx, x, ExitInfo::new(reason::MONITOR_TRAP_FLAG, 0));
            }
            if let Some(d) = c.timer_deadline
                && x.cpu.cycles >> vmx.profile.preemption_timer_rate() >= d
            {
                return exit(vmx, x, ExitInfo::new(reason::PREEMPTION_TIMER, 0));
            }
            Ok(0)
        }
        // 26.5.2: an MTF VM exit after an instruction has priority over the debug traps that
        // instruction raised; they stay pending and the exit saves them (28.3.4).
        Intercept::DebugTrap if c.proc.contains(ProcCtls::MONITOR_TRAP_FLAG) && x.cpu.steps > c.mtf_base => exit(vmx, x, ExitInfo::new(reason::MONITOR_TRAP_FLAG, 0)),
        Intercept::MovToCr { len, cr, gpr, value } => mov_to_cr(vmx, x, &c, len, cr, gpr, value),
        Intercept::MovFromCr { len, cr, gpr, value } => {
            let q = cr as u64 | 1 << 4 | (gpr as u64) << 8;
            match cr {
                3 if c.proc.contains(ProcCtls::CR3_STORE_EXITING) => exit(vmx, x, insn(reason::CR_ACCESS, q, len)),
                8 if c.proc.contains(ProcCtls::CR8_STORE_EXITING) => exit(vmx, x, insn(reason::CR_ACCESS, q, len)),
                // 30.3: with "use TPR shadow", MOV from CR8 reads VTPR bits 7:4 (bits 63:4 of
                // the destination cleared).
                8 if c.proc.contains(ProcCtls::USE_TPR_SHADOW) => Ok((x.read_phys(PhysAddr(c.virtual_apic.wrapping_add(VTPR)), 1) >> 4) & 0xf),
                // 26.3: bits owned by the host read from the read shadow.
                0 => Ok((value & !c.cr0_mask) | (c.cr0_shadow & c.cr0_mask)),
                4 => Ok((value & !c.cr4_mask) | (c.cr4_shadow & c.cr4_mask)),
                _ => Ok(value),
            }
        }
        Intercept::Exception { e, software, len } => {
            if !exception_exits(&c, e) {
                return Ok(0);
            }
            let ei = exception_exit_info(x, e, software, len);
            exit(vmx, x, ei)
        }
        Intercept::Nmi if c.pin.contains(PinCtls::NMI_EXITING) => {
            // 26.2: NMIs exit with "NMI exiting"; without "virtual NMIs" blocking by NMI still
            // holds them off; with it, the blocking bit tracks virtual NMIs only (26.7.1
            // "Virtual NMIs") and real NMIs always exit.
            if x.cpu.state.nmi_blocked && !c.pin.contains(PinCtls::VIRTUAL_NMIS) {
                return Ok(0);
            }
            let idx = x.cpu.config.index;
            x.bus.acknowledge_nmi(idx);
            let info = 2 | intr::NMI << intr::TYPE_SHIFT | intr::VALID;
            exit(vmx, x, ExitInfo { interruption: Some((info, None)), ..ExitInfo::new(reason::EXCEPTION_NMI, 0) })
        }
        Intercept::ExternalInterrupt if c.pin.contains(PinCtls::EXTERNAL_INTERRUPT_EXITING) => {
            // 28.2.2: with "acknowledge interrupt on exit" the vector is read from the
            // interrupt controller and reported; without, the interrupt stays pending.
            let interruption = if c.exit.contains(ExitCtls::ACK_INTERRUPT_ON_EXIT) {
                let idx = x.cpu.config.index;
                let v = x.bus.acknowledge_interrupt(idx);
                Some((v as u32 | intr::EXTERNAL << intr::TYPE_SHIFT | intr::VALID, None))
            } else {
                None
            };
            exit(vmx, x, ExitInfo { interruption, ..ExitInfo::new(reason::EXTERNAL_INTERRUPT, 0) })
        }
        // 26.7.6 "NMI-Window Exiting": reason 8 at the first boundary without virtual-NMI
        // blocking and without blocking by STI or MOV SS (the core asks only then), also from
        // the HLT state; qualification 0.
        Intercept::NmiWindow if c.proc.contains(ProcCtls::NMI_WINDOW_EXITING) => exit(vmx, x, ExitInfo::new(reason::NMI_WINDOW, 0)),
        // 26.7.5 "Interrupt-Window Exiting and Virtual-Interrupt Delivery": reason 7 at the
        // first boundary where RFLAGS.IF = 1 and nothing blocks interrupts.
        Intercept::InterruptWindow if c.proc.contains(ProcCtls::INTERRUPT_WINDOW_EXITING) => exit(vmx, x, ExitInfo::new(reason::INTERRUPT_WINDOW, 0)),
        Intercept::TripleFault => exit(vmx, x, ExitInfo::new(reason::TRIPLE_FAULT, 0)),
        Intercept::Ept { fault, gla, during_delivery } => {
            let idt = if during_delivery { idt_vectoring_of(x) } else { None };
            let mut e = ept_exit(fault, gla, idt);
            if idt.is_some() {
                e.instruction_len = crate::exit::idt_vectoring_len(x);
            }
            // 28.2.1, table "Exit Qualification for EPT Violations": bit 12 "NMI unblocking
            // due to IRET" (an access of an IRET that removed NMI blocking, not during event
            // delivery).
            if x.cpu.iret_unblocked_nmi && idt.is_none() && e.reason == reason::EPT_VIOLATION {
                e.qualification |= 1 << 12;
            }
            exit(vmx, x, e)
        }
        _ => Ok(match what {
            Intercept::MovToCr { value, .. } => value,
            _ => 0,
        }),
    }
}

/// INIT and SIPI in VMX operation (SDM 24.8 "Restrictions on VMX Operation": INIT is blocked
/// in VMX root operation; 26.2 "Other Causes of VM Exits": in non-root operation INIT exits
/// (reason 3) without changing register state, except in the wait-for-SIPI state where it is
/// blocked; a SIPI exits (reason 4, the vector in qualification bits 7:0) only in the
/// wait-for-SIPI state and is discarded otherwise). A blocked INIT stays latched until VMXOFF
/// or until a VM entry into a state where it exits ([`crate::entry::load`]).
pub(crate) fn startup(vmx: &mut Vmx, x: &mut Exec<'_>, signal: hvbench_cpu::ext::StartupSignal) -> bool {
    use hvbench_cpu::ext::StartupSignal;
    use hvbench_cpu::state::Activity;
    if !vmx.in_vmx {
        return false;
    }
    let non_root = x.cpu.vmx_non_root && vmx.ctx.is_some();
    let waiting = x.cpu.state.activity == Activity::WaitForSipi;
    match signal {
        StartupSignal::Init if non_root && !waiting => vmx.vm_exit(x, ExitInfo::new(reason::INIT, 0)),
        StartupSignal::Init => vmx.init_latched = true,
        StartupSignal::Sipi(v) if non_root && waiting => vmx.vm_exit(x, ExitInfo::new(reason::SIPI, v as u64)),
        StartupSignal::Sipi(_) if non_root => {}
        // Root operation: a SIPI is treated as outside VMX (ignored unless waiting).
        StartupSignal::Sipi(_) => return false,
    }
    true
}

/// The exit for an EPT fault (SDM 29.3.3: reason 48 with the qualification of table "Exit
/// Qualification for EPT Violations", or 49 with qualification 0; guest-physical address;
/// guest-linear address when qualification bit 7 is 1).
pub(crate) fn ept_exit(fault: EptFault, gla: Option<u64>, idt: Option<(u32, Option<u32>)>) -> ExitInfo {
    match fault {
        EptFault::Violation { gpa, qualification } => {
            let q = qualification.to_qualification();
            let gla = if q & hvbench_mmu::ept::qual::GLA_VALID != 0 { gla } else { None };
            ExitInfo { guest_physical: Some(gpa.0), guest_linear: gla, idt_vectoring: idt, ..ExitInfo::new(reason::EPT_VIOLATION, q) }
        }
        EptFault::Misconfig { gpa } => ExitInfo { guest_physical: Some(gpa.0), idt_vectoring: idt, ..ExitInfo::new(reason::EPT_MISCONFIG, 0) },
    }
}

/// The exit for exception `e` that the exception bitmap turned into a VM exit (reason 0): the
/// VM-exit interruption information and error code (28.2.2), the exit qualification (28.2.1),
/// and when it arose during the delivery of another event that event as IDT-vectoring
/// information (28.2.4; not for a #DF, which "the original event results in" and which
/// "causes the VM exit directly", so is not an exit during event delivery), with the
/// instruction length of a software event (28.2.5).
pub(crate) fn exception_exit_info(x: &Exec<'_>, e: Exception, software: bool, len: u8) -> ExitInfo {
    let kind = if software { intr::SOFTWARE_EXCEPTION } else { intr::HARDWARE_EXCEPTION };
    let mut info = e.vector as u32 | kind << intr::TYPE_SHIFT | intr::VALID;
    if e.error_code().is_some() {
        info |= intr::ERROR_CODE;
    }
    // 28.2.2: bit 12 "NMI unblocking due to IRET" for a fault of an IRET that removed
    // (virtual-)NMI blocking, unless the exit also has valid IDT-vectoring information.
    let idt = if e.vector == hvbench_cpu::exception::vector::DF { None } else { idt_vectoring_of(x) };
    if x.cpu.iret_unblocked_nmi && idt.is_none() {
        info |= intr::NMI_UNBLOCKING;
    }
    // 28.2.1: #PF: the faulting linear address; #DB: table "Exit Qualification for Debug
    // Exceptions", B3-B0 (3:0), BD (13), BS (14) in DR6 format.
    let q = e.cr2().or(e.dr6().map(|b| b & (0xf | 1 << 13 | 1 << 14))).unwrap_or(0);
    let instruction_len = if software { len as u32 } else if idt.is_some() { crate::exit::idt_vectoring_len(x) } else { 0 };
    ExitInfo { interruption: Some((info, e.error_code())), idt_vectoring: idt, instruction_len, ..ExitInfo::new(reason::EXCEPTION_NMI, q) }
}

/// SDM 25.6.3 "Exception Bitmap": bit v of the bitmap; for #PF, the bit is inverted when the
/// error code does not match (PFEC & mask != match).
pub(crate) fn exception_exits(c: &crate::Ctx, e: Exception) -> bool {
    let bit = c.exception_bitmap & (1 << (e.vector & 31)) != 0;
    if e.vector == hvbench_cpu::exception::vector::PF {
        let code = e.error_code().unwrap_or(0);
        return if code & c.pf_mask == c.pf_match { bit } else { !bit };
    }
    bit
}

/// SDM 25.6.9 "MSR-Bitmap Address" and 26.1.3: without MSR bitmaps every RDMSR/WRMSR exits;
/// with them, MSRs 0-1FFFH and C0000000H-C0001FFFH exit when their bit is 1 (read-low at byte
/// 0, read-high at 1024, write-low at 2048, write-high at 3072), any other MSR always exits.
fn msr_exits(x: &mut Exec<'_>, c: &crate::Ctx, msr: u32, write: bool) -> bool {
    if !c.proc.contains(ProcCtls::USE_MSR_BITMAPS) {
        return true;
    }
    let (half, n) = match msr {
        0..=0x1fff => (0u64, msr),
        0xc000_0000..=0xc000_1fff => (1024u64, msr - 0xc000_0000),
        _ => return true,
    };
    let base = c.msr_bitmap + half + if write { 2048 } else { 0 };
    let byte = x.read_phys(PhysAddr(base + (n / 8) as u64), 1) as u8;
    byte.view_bits::<Lsb0>()[(n % 8) as usize]
}

/// SDM 25.6.4 "I/O-Bitmap Addresses" and 26.1.3: with I/O bitmaps, an access exits if the bit
/// of any port it touches is 1, or if it wraps past FFFFH; without them, "unconditional I/O
/// exiting" decides.
fn io_exits(x: &mut Exec<'_>, c: &crate::Ctx, port: u16, size: u8) -> bool {
    if !c.proc.contains(ProcCtls::USE_IO_BITMAPS) {
        return c.proc.contains(ProcCtls::UNCONDITIONAL_IO_EXITING);
    }
    (0..size as u32).any(|i| {
        let p = port as u32 + i;
        if p > 0xffff {
            return true;
        }
        let map = c.io_bitmap[(p >> 15) as usize];
        let byte = x.read_phys(PhysAddr(map + ((p & 0x7fff) / 8) as u64), 1) as u8;
        byte.view_bits::<Lsb0>()[(p % 8) as usize]
    })
}

/// MOV to CR0/CR3/CR4/CR8 (SDM 26.1.3 and 26.3): CR0/CR4 exit when a host-owned bit (mask 1)
/// would differ from the read shadow, else host-owned bits keep their value; CR3 exits with
/// "CR3-load exiting" unless the value is one of the first CR3-target-count target values;
/// CR8 exits with "CR8-load exiting".
fn mov_to_cr(vmx: &mut Vmx, x: &mut Exec<'_>, c: &crate::Ctx, len: u8, cr: u8, gpr: u8, value: u64) -> Result<u64> {
    let q = cr as u64 | (gpr as u64) << 8;
    let exits = match cr {
        0 => (value ^ c.cr0_shadow) & c.cr0_mask != 0,
        4 => (value ^ c.cr4_shadow) & c.cr4_mask != 0,
        3 => c.proc.contains(ProcCtls::CR3_LOAD_EXITING) && !c.cr3_targets[..c.cr3_count.min(4) as usize].contains(&value),
        8 => c.proc.contains(ProcCtls::CR8_LOAD_EXITING),
        _ => false,
    };
    if exits {
        vmx.vm_exit(x, ExitInfo { instruction_len: len as u32, ..ExitInfo::new(reason::CR_ACCESS, q) });
        return Err(Fault::Diverted);
    }
    if cr == 8 {
        // The write's own check (SDM "MOV—Move to/from Control Registers": #GP(0) for a 1 in
        // CR8 bits 63:4) comes after the VM-exit decision.
        if value & !0xf != 0 {
            return Err(hvbench_cpu::Exception::gp0().into());
        }
        if c.proc.contains(ProcCtls::USE_TPR_SHADOW) {
            return cr8_tpr_shadow(vmx, x, c, len, value);
        }
    }
    Ok(match cr {
        0 => (value & !c.cr0_mask) | (x.cpu.state.cr0 & c.cr0_mask),
        4 => (value & !c.cr4_mask) | (x.cpu.state.cr4 & c.cr4_mask),
        _ => value,
    })
}

/// Offset of VTPR on the virtual-APIC page (SDM 30.1.1 "Virtualized APIC Registers").
const VTPR: u64 = 0x80;

/// MOV to CR8 with "use TPR shadow" and "CR8-load exiting" = 0 (SDM 30.3 "Virtualizing
/// CR8-Based TPR Accesses"): VTPR bits 7:4 = source bits 3:0, VTPR bits 3:0 and bytes 81H-83H
/// cleared (the page is accessed by physical address, not through EPT: the virtual-APIC
/// address is a physical address, 25.6.8), then TPR virtualization (30.1.2; with
/// "virtual-interrupt delivery" = 0, never offered): if TPR threshold bits 3:0 > VTPR bits
/// 7:4, a trap-like VM exit "TPR below threshold" (reason 43, qualification 0) after the
/// instruction, with RIP of the next instruction and blocking by STI/MOV SS of the previous
/// instruction over. The exit has priority over a debug trap of the MOV (30.1.2: TPR
/// virtualization comes before debug exceptions the operation triggers): a single-step trap
/// (RFLAGS.TF) stays pending and the exit saves BS in the pending-debug-exceptions field.
fn cr8_tpr_shadow(vmx: &mut Vmx, x: &mut Exec<'_>, c: &crate::Ctx, len: u8, value: u64) -> Result<u64> {
    let v = (value & 0xf) << 4;
    x.write_phys(PhysAddr(c.virtual_apic.wrapping_add(VTPR)), 4, v);
    if c.tpr_threshold & 0xf > (value & 0xf) as u32 {
        // CR8 exists in 64-bit mode only: the next instruction is at RIP + length.
        x.cpu.state.rip = x.cpu.state.rip.wrapping_add(len as u64);
        x.cpu.state.shadow = 0;
        if x.cpu.state.rflags & hvbench_cpu::flags::TF != 0 {
            let p = x.cpu.pending_debug();
            x.cpu.set_pending_debug(p | 1 << 14);
        }
        vmx.vm_exit(x, ExitInfo::new(reason::TPR_BELOW_THRESHOLD, 0));
        return Err(Fault::Diverted);
    }
    Ok(hvbench_cpu::ext::CR8_VIRTUALIZED)
}
