//! VM exits that reach a guest in the HLT activity state (SDM Vol. 3C 28.1 "Architectural
//! State Before a VM Exit": "MTF VM exits are not blocked in the HLT activity state"; 26.5.1
//! "VMX-Preemption Timer"; 26.5.2 "Monitor Trap Flag": after HLT the MTF VM exit is from the
//! HLT activity state; 28.3.4 "Saving Non-Register State": the activity state saved is the
//! one before the exit). The MTF-after-HLT case is a shared case in `common/cases_exits.rs`. The sandbox does not skip time; these tests do what the machine's
//! idle loop does (`Cpu::extension_deadline`), and one runs the real machine path.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const ACTIVATE_TIMER: u64 = 1 << 6;

/// Activity state HLT in the guest-state area (SDM 25.4.2).
const ACTIVITY_HLT: u64 = 1;
/// "HLT exiting" (primary control bit 7), on in `valid_vmcs`: these guests halt for real.
const HLT_EXITING: u64 = 1 << 7;

fn no_hlt_exiting(f: &mut Vec<(u32, u64)>) {
    let v = get(f, enc::PROC_BASED_CONTROLS);
    set(f, enc::PROC_BASED_CONTROLS, v & !HLT_EXITING);
}

/// A guest that halts with the preemption timer armed at `value`; the test then advances the
/// vCPU's clock to the timer's deadline as the machine would and runs again.
fn halted_timer(value: u64) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    no_hlt_exiting(&mut f);
    or(&mut f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER);
    set(&mut f, enc::PREEMPTION_TIMER_VALUE, value);
    let mut r = run_prepared(p, &f, &asm(GUEST_RIP, |a| { a.hlt()?; a.nop() }), |_| {});
    assert_eq!(r.kind(), 0, "the guest is halted, no exit yet");
    assert_eq!(r.s.cpu.state.activity, hvbench_cpu::state::Activity::Halted);
    let d = r.s.cpu.extension_deadline().expect("timer deadline exported while halted");
    // One cycle short: still halted.
    r.s.cpu.cycles = d - 1;
    let n = r.s.cpu.steps + 100;
    r.s.run(n);
    assert_eq!(r.kind(), 0, "no exit before the deadline");
    r.s.cpu.cycles = d;
    let n = r.s.cpu.steps + 100;
    r.s.run(n);
    r
}

#[test]
fn preemption_timer_exits_from_hlt() {
    // The timer counts down while halted (26.5.1); its expiry exits with reason 52 from the
    // HLT state (saved activity state 1, RIP after HLT).
    let r = halted_timer(1000);
    exited(&r, reason::PREEMPTION_TIMER);
    assert_eq!(r.field(enc::GUEST_ACTIVITY_STATE), ACTIVITY_HLT);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 1);
}

#[test]
fn deadline_is_the_timer_zero_in_cycles() {
    // IA32_VMX_MISC[4:0] = 5: one tick per 32 cycles; a value of V reaches zero when the
    // cycle count's bits 63:5 have advanced by V (A.6, 26.5.1).
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    no_hlt_exiting(&mut f);
    or(&mut f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER);
    set(&mut f, enc::PREEMPTION_TIMER_VALUE, 1000);
    let r = run_prepared(p, &f, &asm(GUEST_RIP, |a| a.hlt()), |_| {});
    let d = r.s.cpu.extension_deadline().unwrap();
    assert_eq!(d % 32, 0);
    assert!(d > r.s.cpu.cycles && d - r.s.cpu.cycles <= 1000 * 32, "deadline {d} now {}", r.s.cpu.cycles);
}

#[test]
fn no_deadline_outside_non_root() {
    let r = run(nothing, hlt);
    exited(&r, reason::HLT);
    assert_eq!(r.s.cpu.extension_deadline(), None);
}
