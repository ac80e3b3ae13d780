//! Fuzz smoke test: random instruction bytes executed from random register state in every
//! mode must never panic the emulator, and must leave the architectural invariants intact.
//! (Run more cases with PROPTEST_CASES=100000.)

use hvbench_cpu::sandbox::{Sandbox, SandboxMode};
use proptest::prelude::*;

fn mode_strategy() -> impl Strategy<Value = SandboxMode> {
    prop_oneof![Just(SandboxMode::Real), Just(SandboxMode::Protected32), Just(SandboxMode::Long64)]
}

proptest! {
    #![proptest_config(hvbench_testkit::deterministic_config(6000))]

    #[test]
    fn random_code_never_panics(
        mode in mode_strategy(),
        code in proptest::collection::vec(any::<u8>(), 1..64),
        regs in proptest::array::uniform16(any::<u64>()),
        flags in any::<u64>(),
    ) {
        let mut s = Sandbox::new(mode, &code);
        let keep_rsp = s.cpu.state.gpr[4];
        s.cpu.state.gpr = regs;
        // Keep a usable stack half the time so execution gets past the first push.
        if regs[0] & 1 == 0 {
            s.cpu.state.gpr[4] = keep_rsp;
        }
        // Short REP counts: a random RCX would spend the whole test in one string loop.
        s.cpu.state.gpr[1] &= 0xff;
        s.cpu.state.rflags = (flags & hvbench_cpu::flags::DEFINED & !hvbench_cpu::flags::VM) | 2;
        s.run(200);
        let st = &s.cpu.state;
        prop_assert_eq!(st.rflags & 2, 2, "RFLAGS bit 1 must stay set");
        prop_assert!(st.cpl <= 3);
        if st.mode() != hvbench_cpu::Mode::Long64 {
            prop_assert!(st.rip <= 0xffff_ffff, "RIP beyond 32 bits outside 64-bit mode: {:#x}", st.rip);
        }
    }
}
