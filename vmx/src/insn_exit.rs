//! VM exits (and #UD) for instructions governed by a VM-execution control of their own (SDM
//! Vol. 3C 26.1.3 "Instructions That Cause VM Exits Conditionally": LGDT, LIDT, LLDT, LTR,
//! SGDT, SIDT, SLDT, STR with "descriptor-table exiting"; INVPCID with "enable INVPCID" and
//! "INVLPG exiting"; MONITOR, MWAIT, PAUSE, RDRAND, RDSEED, WBINVD with their exiting controls;
//! 26.3 "Changes to Instruction Behavior in VMX Non-Root Operation": INVPCID is #UD unless
//! "enable INVPCID", RDPID is #UD unless "enable RDTSCP").
//!
//! Exit information: qualification per 28.2.1 (MWAIT: bit 0 = the monitoring hardware was
//! armed; WBINVD 0, WBNOINVD 1; INVPCID and the descriptor-table instructions: the memory
//! operand's displacement, 0 for a register operand; all others 0); instruction length
//! (28.2.4); instruction information per 28.2.5 (tables "Format of the VM-Exit Instruction-Information Field as Used
//! for INVEPT, INVPCID, and INVVPID", "... for LIDT, LGDT, SIDT, or SGDT", "... for LLDT, LTR,
//! SLDT, and STR", "... for RDRAND, RDSEED, TPAUSE, and UMWAIT").
//!
//! RDPMC exits with "RDPMC exiting" (26.1.3; reason 15, qualification 0), asked after the
//! core's CPL/CR4.PCE #GP (a fault based on privilege level, 26.1.1) and before its
//! invalid-counter #GP.
//!
//! PAUSE (26.1.3 "PAUSE"): "PAUSE exiting" exits at any CPL (and then "PAUSE-loop exiting" is
//! ignored); otherwise, at CPL 0 only, "PAUSE-loop exiting" measures the time since the
//! previous PAUSE at CPL 0 and since the first PAUSE of the loop, on a counter at the TSC's
//! rate (hvbench: `Cpu::cycles`, the virtual clock the TSC is derived from, read after the
//! PAUSE's own cost is charged). A PAUSE is the first of a loop if it is the first at CPL 0
//! since VM entry or if more than PLE_Gap ticks passed since the previous one; any other PAUSE
//! exits (reason 40, qualification 0) if more than PLE_Window ticks passed since the first of
//! its loop.

use crate::controls::{ProcCtls, ProcCtls2};
use crate::exit::{reason, ExitInfo};
use crate::instr::{displacement, gpr_num, mem_info};
use crate::Vmx;
use hvbench_cpu::exception::{Fault, Result};
use hvbench_cpu::{Exception, Exec};
use iced_x86::{Code, Instruction, Mnemonic, OpKind};

/// Handles [`hvbench_cpu::ext::Intercept::Insn`] for `i` in VMX non-root operation.
pub(crate) fn intercept(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<u64> {
    let Some(c) = vmx.ctx else { return Ok(0) };
    let (p, p2) = (c.proc, c.proc2);
    let len = i.len() as u32;
    let info = match i.mnemonic() {
        // Qualification 0 for WBINVD, 1 for WBNOINVD (28.2.1).
        Mnemonic::Wbinvd | Mnemonic::Wbnoinvd if p2.contains(ProcCtls2::WBINVD_EXITING) => ExitInfo::new(reason::WBINVD, (i.mnemonic() == Mnemonic::Wbnoinvd) as u64),
        Mnemonic::Rdrand if p2.contains(ProcCtls2::RDRAND_EXITING) => ExitInfo { instruction_info: rdrand_info(i), ..ExitInfo::new(reason::RDRAND, 0) },
        Mnemonic::Rdseed if p2.contains(ProcCtls2::RDSEED_EXITING) => ExitInfo { instruction_info: rdrand_info(i), ..ExitInfo::new(reason::RDSEED, 0) },
        Mnemonic::Pause if p.contains(ProcCtls::PAUSE_EXITING) => ExitInfo::new(reason::PAUSE, 0),
        Mnemonic::Pause if p2.contains(ProcCtls2::PAUSE_LOOP_EXITING) && x.cpu.state.cpl == 0 => {
            if !pause_loop_exits(vmx, x) {
                return Ok(0);
            }
            ExitInfo::new(reason::PAUSE, 0)
        }
        Mnemonic::Rdpmc if p.contains(ProcCtls::RDPMC_EXITING) => ExitInfo::new(reason::RDPMC, 0),
        Mnemonic::Monitor if p.contains(ProcCtls::MONITOR_EXITING) => ExitInfo::new(reason::MONITOR, 0),
        Mnemonic::Mwait if p.contains(ProcCtls::MWAIT_EXITING) => ExitInfo::new(reason::MWAIT, (c.monitor_armed && x.monitor_armed()) as u64),
        Mnemonic::Mwait => {
            // MWAIT completes at once (the core never waits): the monitor is disarmed unless
            // the ECX check is about to fault.
            if x.cpu.state.gpr[1] & 0xffff_fffe == 0
                && let Some(ctx) = vmx.ctx.as_mut()
            {
                ctx.monitor_armed = false;
            }
            return Ok(0);
        }
        Mnemonic::Rdpid if !p2.contains(ProcCtls2::ENABLE_RDTSCP) => return Err(Exception::ud().into()),
        Mnemonic::Invpcid => {
            if !p2.contains(ProcCtls2::ENABLE_INVPCID) {
                return Err(Exception::ud().into());
            }
            // #GP(0) at CPL > 0 has priority over the exit (26.1.1); the core raises it.
            if x.cpu.state.cpl > 0 || !p.contains(ProcCtls::INVLPG_EXITING) {
                return Ok(0);
            }
            let info = mem_info(x, i) | gpr_num(i.op0_register()) << 28;
            ExitInfo { instruction_info: info, ..ExitInfo::new(reason::INVPCID, displacement(x, i)) }
        }
        Mnemonic::Lgdt | Mnemonic::Lidt | Mnemonic::Sgdt | Mnemonic::Sidt if p2.contains(ProcCtls2::DESCRIPTOR_TABLE_EXITING) => {
            let identity = match i.mnemonic() {
                Mnemonic::Sgdt => 0,
                Mnemonic::Sidt => 1,
                Mnemonic::Lgdt => 2,
                _ => 3,
            };
            // Bit 11: operand size (0 16-bit, 1 32-bit; undefined in 64-bit mode).
            let o16 = matches!(i.code(), Code::Lgdt_m1632_16 | Code::Lidt_m1632_16 | Code::Sgdt_m1632_16 | Code::Sidt_m1632_16);
            let info = mem_info(x, i) | (!o16 as u32) << 11 | identity << 28;
            ExitInfo { instruction_info: info, ..ExitInfo::new(reason::GDTR_IDTR, displacement(x, i)) }
        }
        Mnemonic::Lldt | Mnemonic::Ltr | Mnemonic::Sldt | Mnemonic::Str if p2.contains(ProcCtls2::DESCRIPTOR_TABLE_EXITING) => {
            let identity = match i.mnemonic() {
                Mnemonic::Sldt => 0,
                Mnemonic::Str => 1,
                Mnemonic::Lldt => 2,
                _ => 3,
            };
            // Register operand: Reg1 (bits 6:3) and bit 10 = 1, the memory bits undefined, no
            // displacement (qualification 0).
            let (info, q) = if i.op0_kind() == OpKind::Register { (gpr_num(i.op0_register()) << 3 | 1 << 10, 0) } else { (mem_info(x, i), displacement(x, i)) };
            ExitInfo { instruction_info: info | identity << 28, ..ExitInfo::new(reason::LDTR_TR, q) }
        }
        _ => return Ok(0),
    };
    vmx.vm_exit(x, ExitInfo { instruction_len: len, ..info });
    Err(Fault::Diverted)
}

/// PAUSE-loop exiting for a PAUSE at CPL 0 (see the module documentation): updates the loop
/// tracking and says whether this PAUSE exits.
fn pause_loop_exits(vmx: &mut Vmx, x: &mut Exec<'_>) -> bool {
    let Some(c) = vmx.ctx.as_mut() else { return false };
    let now = x.cpu.cycles;
    let (first, exits) = match c.ple_loop {
        Some((last, first)) if now.wrapping_sub(last) <= c.ple_gap as u64 => (first, now.wrapping_sub(first) > c.ple_window as u64),
        _ => (now, false),
    };
    c.ple_loop = Some((now, first));
    exits
}

/// MONITOR completed in the guest without a VM exit: the monitoring hardware is armed.
pub(crate) fn monitor_armed(vmx: &mut Vmx) {
    if let Some(c) = vmx.ctx.as_mut() {
        c.monitor_armed = true;
    }
}

/// RDRAND/RDSEED instruction information: bits 6:3 the destination register, bits 12:11 the
/// operand size (0 16-bit, 1 32-bit, 2 64-bit).
fn rdrand_info(i: &Instruction) -> u32 {
    let r = i.op0_register();
    let size = match r.size() {
        2 => 0,
        4 => 1,
        _ => 2,
    };
    gpr_num(r) << 3 | size << 11
}
