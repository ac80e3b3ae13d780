//! Instruction semantics, one file per instruction family, each citing its SDM chapter.
//!
//! [`handler_for`] picks a handler once per decoded instruction (the decoded-instruction
//! cache keeps it), so execution is one indirect call. A family offers
//! `fn handler(&Instruction) -> Option<Handler>` (most match on the mnemonic, some on the
//! operands too); the first family that claims an instruction wins.
//! Anything unclaimed raises #UD and is reported once (see [`Exec::unimplemented`]).

use crate::cpu::Exec;
use crate::exception::Result;
use iced_x86::{ConditionCode, Instruction};

mod alu;
mod alu_mem;
mod atomic;
mod bcd;
mod bits;
mod bmi;
mod control;
mod far;
mod fxsave;
mod io;
mod misc;
mod mov;
mod muldiv;
mod pmc;
mod segment_ops;
mod shift;
mod simd;
mod softfloat;
mod sse4;
mod sse42;
mod sse_convert;
mod sse_fp;
mod sse_int;
mod sse_move;
mod stack;
mod string;
mod syscall;
mod system;
mod virt;
mod x87;
mod x87_env;
mod x87_ops;

/// The semantics of one instruction.
pub type Handler = fn(&mut Exec<'_>, &Instruction) -> Result<()>;

/// The families, in lookup order.
const FAMILIES: &[fn(&Instruction) -> Option<Handler>] = &[
    alu::handler,
    mov::handler,
    control::handler,
    stack::handler,
    string::handler,
    system::handler,
    io::handler,
    shift::handler,
    muldiv::handler,
    bits::handler,
    bmi::handler,
    bcd::handler,
    atomic::handler,
    far::handler,
    syscall::handler,
    segment_ops::handler,
    misc::handler,
    sse_move::handler,
    sse_int::handler,
    sse_fp::handler,
    sse_convert::handler,
    sse4::handler,
    sse42::handler,
    fxsave::handler,
    x87::handler,
    x87_env::handler,
    x87_ops::handler,
    virt::handler,
    pmc::handler,
];

/// The handler for a decoded instruction.
pub fn handler_for(insn: &Instruction) -> Handler {
    FAMILIES.iter().find_map(|f| f(insn)).unwrap_or(unimplemented)
}

fn unimplemented(x: &mut Exec<'_>, insn: &Instruction) -> Result<()> {
    x.unimplemented(insn)
}

impl Exec<'_> {
    /// Evaluates a condition code against RFLAGS (SDM Vol. 1 Appendix B, Table B-1).
    #[inline(always)]
    pub fn condition(&self, cc: ConditionCode) -> bool {
        use crate::flags::{CF, OF, PF, SF, ZF};
        let f = self.cpu.state.rflags;
        let set = |b: u64| f & b != 0;
        match cc {
            ConditionCode::None => true,
            ConditionCode::o => set(OF),
            ConditionCode::no => !set(OF),
            ConditionCode::b => set(CF),
            ConditionCode::ae => !set(CF),
            ConditionCode::e => set(ZF),
            ConditionCode::ne => !set(ZF),
            ConditionCode::be => set(CF) || set(ZF),
            ConditionCode::a => !set(CF) && !set(ZF),
            ConditionCode::s => set(SF),
            ConditionCode::ns => !set(SF),
            ConditionCode::p => set(PF),
            ConditionCode::np => !set(PF),
            ConditionCode::l => set(SF) != set(OF),
            ConditionCode::ge => set(SF) == set(OF),
            ConditionCode::le => set(ZF) || set(SF) != set(OF),
            ConditionCode::g => !set(ZF) && set(SF) == set(OF),
        }
    }

    /// Replaces the status flags selected by `mask` with those in `value`.
    #[inline(always)]
    pub fn set_flags(&mut self, mask: u64, value: u64) {
        let f = &mut self.cpu.state.rflags;
        *f = (*f & !mask) | (value & mask);
    }

    /// Sets RIP for after this instruction (branches).
    #[inline(always)]
    pub fn branch(&mut self, target: u64) {
        self.cpu.next_rip = target;
    }
}
