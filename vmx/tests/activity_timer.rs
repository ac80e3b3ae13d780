//! The VMX-preemption timer in the inactive activity states that IA32_VMX_MISC bits 7 and 8
//! offer (SDM Vol. 3C 26.5.1 "VMX-Preemption Timer": the timer also counts down in the
//! shutdown and wait-for-SIPI states; reaching zero causes a VM exit in any state other than
//! wait-for-SIPI). Sandbox-only: a guest that never leaves its inactive state would stop the
//! shared kernel.
//!
//! The shutdown state blocks external interrupts and SIPIs only (SDM Vol. 3C 27.6.2): NMIs in
//! it are in `nmi.rs` (`nmi_exits_from_the_shutdown_state`); INIT exits from any activity
//! state but is latched in VMX root operation (`init_sipi.rs`). `hvbench run` ends the machine
//! at a shutdown only outside VMX non-root operation. SMIs do not exist in hvbench.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const ACTIVATE_TIMER: u64 = 1 << 6;

fn timer_zero_in(state: u64) -> Run {
    run(
        |f| {
            or(f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER);
            set(f, enc::PREEMPTION_TIMER_VALUE, 0);
            set(f, enc::GUEST_ACTIVITY_STATE, state);
        },
        hlt,
    )
}

#[test]
fn timer_at_zero_does_not_exit_in_wait_for_sipi() {
    // 26.5.1: "the timer does not cause a VM exit if it counts down to zero in the
    // wait-for-SIPI state": the guest stays waiting, the host never resumes.
    let r = timer_zero_in(3);
    assert_eq!(r.kind(), 0, "no VM exit; why: {}", r.why());
    assert_eq!(r.s.cpu.state.activity, hvbench_cpu::state::Activity::WaitForSipi);
}

#[test]
fn timer_at_zero_exits_from_shutdown() {
    // 26.5.1: the timer counts in the shutdown state and its expiry is a VM exit (reason 52);
    // the exit saves activity state 2 (28.3.4) and RIP = the guest's RIP field.
    let r = timer_zero_in(2);
    exited(&r, reason::PREEMPTION_TIMER);
    assert_eq!(r.field(enc::GUEST_ACTIVITY_STATE), 2);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
}
