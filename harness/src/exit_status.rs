//! How a run ends, and the process exit status `hvbench run` gives for it.
//!
//! Odd statuses belong to the guest: QEMU's isa-debug-exit turns a write of `v` into
//! `(v << 1) | 1`, and hvbench gives the same. Even statuses are hvbench's own and never
//! collide with a guest's: 0 is a clean power-off, the rest name what went wrong.

/// Why a machine stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The guest wrote `value` to isa-debug-exit (port 0xF4).
    DebugExit(u32),
    /// The guest powered the machine off (port 0x8900 "Shutdown", or ACPI S5).
    PowerOff,
    /// The guest asked for a reset (port 0xCF9, port 0x92 bit 0, 8042 command 0xFE) and the
    /// machine was not told to carry it out (`hvbench run --reboot`).
    Reset(crate::devices::reset::ResetSource),
    /// A vCPU triple-faulted (entered the shutdown state).
    TripleFault {
        /// Which vCPU.
        cpu: usize,
    },
    /// The `--max-instructions` budget ran out.
    BudgetExhausted,
    /// Every vCPU is halted or waiting and no timer is armed: nothing can ever happen.
    Deadlock,
    /// The guest used something hvbench does not model and cannot refuse architecturally.
    Unsupported {
        /// Which vCPU.
        cpu: usize,
        /// What it was.
        what: &'static str,
    },
}

/// Exit status for a clean power-off.
pub const POWER_OFF: i32 = 0;
/// Exit status for a bad command line (clap's own convention).
pub const BAD_OPTION: i32 = 2;
/// Exit status for a kernel or module that cannot be loaded.
pub const BAD_IMAGE: i32 = 4;
/// Exit status for a triple fault.
pub const TRIPLE_FAULT: i32 = 6;
/// Exit status for an exhausted instruction budget.
pub const BUDGET_EXHAUSTED: i32 = 8;
/// Exit status for a deadlock (all vCPUs halted, no timer armed).
pub const DEADLOCK: i32 = 10;
/// Exit status for a guest that used an unmodelled feature.
pub const UNSUPPORTED: i32 = 12;
/// Exit status for an internal error of hvbench (a bug: please report it).
pub const INTERNAL: i32 = 14;
/// Reserved for a trace that differs from its golden file (`hvbench trace diff`).
pub const TRACE_MISMATCH: i32 = 16;
/// Exit status for a guest that asked for a reset (without `--reboot`).
pub const GUEST_RESET: i32 = 18;

impl Outcome {
    /// The process exit status for this outcome.
    pub fn exit_status(&self) -> i32 {
        match self {
            // As QEMU: the low 8 bits of (v << 1) | 1 reach the parent.
            Outcome::DebugExit(v) => ((v << 1) | 1) as i32 & 0xff,
            Outcome::PowerOff => POWER_OFF,
            Outcome::Reset(_) => GUEST_RESET,
            Outcome::TripleFault { .. } => TRIPLE_FAULT,
            Outcome::BudgetExhausted => BUDGET_EXHAUSTED,
            Outcome::Deadlock => DEADLOCK,
            Outcome::Unsupported { .. } => UNSUPPORTED,
        }
    }

    /// One line for the user.
    pub fn describe(&self) -> String {
        match self {
            Outcome::DebugExit(v) => format!("guest wrote {v:#x} to isa-debug-exit (status {})", self.exit_status()),
            Outcome::PowerOff => "guest powered off".into(),
            Outcome::Reset(source) => format!("guest requested a reset ({}); run with --reboot to carry it out", source.describe()),
            Outcome::TripleFault { cpu } => format!("vCPU {cpu} triple-faulted (shutdown state)"),
            Outcome::BudgetExhausted => "instruction budget exhausted (--max-instructions)".into(),
            Outcome::Deadlock => "deadlock: every vCPU is halted or waiting and no timer is armed".into(),
            Outcome::Unsupported { cpu, what } => format!("vCPU {cpu} used something hvbench does not model: {what}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_exit_status_matches_qemu() {
        // QEMU: outl(v, 0xf4) exits with (v << 1) | 1.
        assert_eq!(Outcome::DebugExit(0x31).exit_status(), 0x63);
        assert_eq!(Outcome::DebugExit(0).exit_status(), 1);
        assert_eq!(Outcome::DebugExit(0xff).exit_status(), 0xff);
    }

    #[test]
    fn hvbench_statuses_are_even_and_distinct() {
        let all = [POWER_OFF, BAD_OPTION, BAD_IMAGE, TRIPLE_FAULT, BUDGET_EXHAUSTED, DEADLOCK, UNSUPPORTED, INTERNAL, TRACE_MISMATCH, GUEST_RESET];
        for (i, a) in all.iter().enumerate() {
            assert_eq!(a % 2, 0, "status {a} would collide with a guest's odd status");
            assert!(all[i + 1..].iter().all(|b| b != a), "status {a} used twice");
        }
    }
}
