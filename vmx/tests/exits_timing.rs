//! The VMX-preemption timer as it counts (reason 52, SDM 26.5.1 "VMX-Preemption Timer"; rate
//! IA32_VMX_MISC[4:0], A.6; "save VMX-preemption timer value", 25.7.1 and 28.3.4), driven by
//! the vCPU's cycle count. The monitor trap flag and the timer started at 0 do not depend on
//! timing: they are shared cases in `common/cases_exits.rs`.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::caps::{msr, Profile};
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const ACTIVATE_TIMER: u64 = 1 << 6;
const SAVE_TIMER: u64 = 1 << 22;

fn spin(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut top = a.create_label();
    a.xor(eax, eax)?;
    a.set_label(&mut top)?;
    a.inc(rax)?;
    a.jmp(top)
}

#[test]
fn preemption_timer_counts_at_the_misc_rate() {
    // IA32_VMX_MISC[4:0] = X: the timer decrements each time TSC bit X changes (A.6). The
    // sandbox's cost model charges one cycle per instruction, so a spinning guest (XOR, then
    // INC/JMP pairs) started with value 4 runs G guest cycles, G = 4 * 2^X - (entry cycles mod
    // 2^X), i.e. 3 * 2^X < G <= 4 * 2^X, and G is 2 * iterations (+1 if the exit falls
    // between INC and JMP).
    let p = Profile::default_profile();
    let rate = p.read(msr::MISC).unwrap() & 0x1f;
    assert_eq!(rate, 5);
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    or(&mut f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER);
    or(&mut f, enc::EXIT_CONTROLS, SAVE_TIMER);
    set(&mut f, enc::PREEMPTION_TIMER_VALUE, 4);
    let r = run_prepared(p, &f, &asm(GUEST_RIP, spin), |_| {});
    exited(&r, reason::PREEMPTION_TIMER);
    assert_eq!(r.field(enc::PREEMPTION_TIMER_VALUE), 0, "saved value after expiry");
    let iterations = r.s.cpu.state.gpr[0];
    let tick = 1u64 << rate;
    assert!((3 * tick..=4 * tick + 1).contains(&(2 * iterations)), "{iterations} iterations for 4 ticks of {tick} cycles");
}

vmx_test!(
    /// "Save VMX-preemption timer value" on an unrelated exit stores what is left (SDM 28.3.4):
    /// a large value minus the few ticks the guest used.
    preemption_timer_value_saved_on_other_exits,
    fields: |f| {
        or(f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER);
        or(f, enc::EXIT_CONTROLS, SAVE_TIMER);
        set(f, enc::PREEMPTION_TIMER_VALUE, 1_000_000);
    },
    guest: |a| { a.nop()?; a.cpuid() },
    expect: |r| {
        exited(r, reason::CPUID);
        let left = r.field(enc::PREEMPTION_TIMER_VALUE);
        assert!((999_990..=1_000_000).contains(&left), "left {left}");
    }
);

vmx_test!(
    /// Without "save VMX-preemption timer value" the field keeps the value VM entry used.
    preemption_timer_value_not_saved_without_the_control,
    fields: |f| { or(f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER); set(f, enc::PREEMPTION_TIMER_VALUE, 1_000_000); },
    guest: |a| a.cpuid(),
    expect: |r| { exited(r, reason::CPUID); assert_eq!(r.field(enc::PREEMPTION_TIMER_VALUE), 1_000_000); }
);
