//! The cycle cost model hook: every retired instruction advances the vCPU's cycle counter by
//! the cost the model gives it. Virtual time (TSC, timers) derives from the cycle count.
//!
//! The cost is computed once at decode and kept in the decoded-instruction cache, so the model
//! costs nothing per execution.

use iced_x86::Instruction;

/// A cycle cost model.
pub trait CostModel: Send + Sync {
    /// Cycles that `insn` takes to retire (at least 1).
    fn cost(&self, insn: &Instruction) -> u8;
}

/// Every instruction costs one cycle.
#[derive(Debug, Default, Clone, Copy)]
pub struct FlatCost;

impl CostModel for FlatCost {
    fn cost(&self, _: &Instruction) -> u8 {
        1
    }
}
