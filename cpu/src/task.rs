//! The checks on the new TSS that come before any task switch (SDM Vol. 3C 26.4.2 "Treatment
//! of Task Switches", steps 2-4: the new TSS selector, reading its descriptor, its type, P bit
//! and limit; the faults are those of the JMP, CALL, IRET and INT n pseudocode in Vol. 2 and of
//! Vol. 3A 8.3 "Task Switching", Table 8-1).
//!
//! hvbench does not switch tasks yet; in VMX non-root operation a task switch that passes these
//! checks becomes a VM exit (reason 9), and outside VMX the machine reports it as unsupported.

use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::segment::systype;

/// What asks for the task switch (it decides which faults the checks raise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskSwitchCause {
    /// Far CALL or JMP through a task gate: the TSS must be available, a bad selector or type
    /// is #GP(selector).
    CallOrJmp,
    /// IRET with NT = 1: the previous-task link must name a busy TSS; a bad selector or type
    /// is #TS(selector).
    Iret,
    /// A task gate in the IDT: as CALL, with the EXT bit (`1` for an event not caused by
    /// software) in the error code.
    Interrupt {
        /// The EXT bit of the error code.
        ext: u32,
    },
}

impl Exec<'_> {
    /// Checks the new TSS named by `selector` (a task gate's TSS selector or IRET's
    /// previous-task link) before a task switch can happen or cause a VM exit.
    pub(crate) fn check_new_tss(&mut self, selector: u16, cause: TaskSwitchCause) -> Result<()> {
        let ext = match cause {
            TaskSwitchCause::Interrupt { ext } => ext,
            _ => 0,
        };
        let code = (selector as u32 & 0xfffc) | ext;
        let bad = match cause {
            TaskSwitchCause::Iret => Exception::ts(code),
            _ => Exception::gp(code),
        };
        // Step 2: the selector must name the GDT (TI = 0) within its limit.
        if selector & 4 != 0 {
            return Err(bad.into());
        }
        // Step 3: read the descriptor (a #PF on the GDT page comes from here).
        let d = self.descriptor_or(selector, bad)?;
        // Step 4: type, P and limit.
        let want_busy = cause == TaskSwitchCause::Iret;
        let typ = d.typ();
        let type_ok = !d.is_code_or_data()
            && if want_busy {
                matches!(typ, systype::TSS16_BUSY | systype::TSS_BUSY)
            } else {
                matches!(typ, systype::TSS16_AVAIL | systype::TSS_AVAIL)
            };
        if !type_ok {
            return Err(bad.into());
        }
        if !d.present() {
            return Err(Exception::np(code).into());
        }
        let min = if matches!(typ, systype::TSS16_AVAIL | systype::TSS16_BUSY) { 0x2b } else { 0x67 };
        if d.limit() < min {
            return Err(Exception::ts(code).into());
        }
        Ok(())
    }
}
