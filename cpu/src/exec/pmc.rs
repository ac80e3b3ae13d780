//! RDPMC (SDM Vol. 2B "RDPMC—Read Performance-Monitoring Counters"; Vol. 3B 21.2
//! "Architectural Performance Monitoring" for which counters exist).
//!
//! The CPU model has no performance-monitoring counters: CPUID leaf 0AH reports version 0
//! (no architectural performance monitoring, no general-purpose or fixed-function counters;
//! see `cpuid.rs`), so no value of ECX names a supported counter and RDPMC always ends in
//! #GP(0). The order of the checks follows the instruction page's Operation section and VMX
//! (Vol. 3C 26.1.1 "Relative Priority of Faults and VM Exits"):
//! 1. CPL > 0 with CR4.PCE = 0 (outside real-address mode, which runs at CPL 0): #GP(0), a
//!    fault based on privilege level, so it comes before the "RDPMC exiting" VM exit;
//! 2. in VMX non-root operation, "RDPMC exiting" (26.1.3) exits (`Intercept::Insn`);
//! 3. the counter in ECX is not supported: #GP(0) (every ECX here).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::regs::cr4;
use crate::state::Mode;
use iced_x86::{Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    match i.mnemonic() {
        Mnemonic::Rdpmc => Some(rdpmc),
        _ => None,
    }
}

/// Whether ECX names a counter the model has (none: CPUID.0AH:EAX = 0).
fn counter_supported(_ecx: u32) -> bool {
    false
}

fn rdpmc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let s = &x.cpu.state;
    if s.cpl > 0 && s.mode() != Mode::Real && s.cr4 & cr4::PCE == 0 {
        return Err(Exception::gp0().into());
    }
    super::system::vmx_insn(x, i)?;
    let ecx = x.cpu.state.gpr[1] as u32;
    if !counter_supported(ecx) {
        return Err(Exception::gp0().into());
    }
    // Unreachable with no counters; a counter would load EDX:EAX here.
    Ok(())
}
