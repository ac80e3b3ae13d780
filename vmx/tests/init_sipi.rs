//! INIT and SIPI in VMX operation (SDM Vol. 3C 24.8 "Restrictions on VMX Operation": INIT is
//! blocked in VMX root operation; 26.2 "Other Causes of VM Exits": INIT exits with reason 3
//! in non-root operation except in the wait-for-SIPI state, where it is blocked; a SIPI exits
//! with reason 4 in the wait-for-SIPI state, qualification bits 7:0 = its vector (28.2.1
//! table "Exit Qualification for ... SIPI"), and is discarded in other states; Appendix C).
//! The signals are offered as the machine offers them when a local APIC receives them.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::ext::StartupSignal;
use hvbench_cpu::state::Activity;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

fn spin(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut top = a.create_label();
    a.set_label(&mut top)?;
    a.nop()?;
    a.jmp(top)
}

/// A bus with nothing on it.
struct NoBus;

impl hvbench_mmu::Bus for NoBus {
    fn io_read(&mut self, _: usize, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: usize, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8, _: u64) {}
}

fn signal(r: &mut Run, s: StartupSignal) -> bool {
    let sb = &mut r.s;
    let mut bus = NoBus;
    sb.cpu.startup_signal(&mut sb.mem, &mut bus, s)
}

fn more(r: &mut Run) {
    let n = r.s.cpu.steps + 1000;
    r.s.run(n);
}

/// A guest entered with `edit`, running `guest` for the run's budget.
fn guest_run(edit: impl FnOnce(&mut Vec<(u32, u64)>), guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_prepared(p, &f, &asm(GUEST_RIP, guest), |_| {})
}

#[test]
fn init_in_non_root_exits_without_reset() {
    // 26.2: reason 3, qualification 0; the guest state saved is the running guest's (RIP in
    // the loop, not the reset vector).
    let mut r = guest_run(nothing, spin);
    assert_eq!(r.kind(), 0, "the guest spins");
    assert!(signal(&mut r, StartupSignal::Init), "VMX takes the INIT");
    more(&mut r);
    exited(&r, reason::INIT);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0);
    let rip = r.field(enc::GUEST_RIP);
    assert!(rip == GUEST_RIP || rip == GUEST_RIP + 1, "rip {rip:#x}");
    assert_eq!(r.field(enc::GUEST_ACTIVITY_STATE), 0);
}

#[test]
fn sipi_in_wait_for_sipi_exits_with_the_vector() {
    // Guest activity state 3 (wait-for-SIPI): INIT is blocked (no exit), a SIPI exits with
    // reason 4 and its vector in the qualification; the saved activity state is 3.
    let mut r = guest_run(|f| set(f, enc::GUEST_ACTIVITY_STATE, 3), spin);
    assert_eq!(r.kind(), 0);
    assert_eq!(r.s.cpu.state.activity, Activity::WaitForSipi);
    assert!(signal(&mut r, StartupSignal::Init), "blocked, latched");
    more(&mut r);
    assert_eq!(r.kind(), 0, "INIT does not exit in wait-for-SIPI");
    assert!(signal(&mut r, StartupSignal::Sipi(0x12)));
    more(&mut r);
    exited(&r, reason::SIPI);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0x12);
    assert_eq!(r.field(enc::GUEST_ACTIVITY_STATE), 3);
}

#[test]
fn sipi_to_an_active_guest_is_discarded() {
    let mut r = guest_run(nothing, spin);
    assert!(signal(&mut r, StartupSignal::Sipi(0x12)), "taken (discarded), not carried out");
    more(&mut r);
    assert_eq!(r.kind(), 0, "no exit");
}

#[test]
fn init_latched_in_root_exits_after_vm_entry() {
    // 24.8: INIT is blocked in VMX root operation. The host halts after VMXON; the INIT is
    // latched (taken, no reset); once VMLAUNCH enters an active guest the INIT is no longer
    // blocked: reason 3 before the first guest instruction.
    let p = Profile::default_profile();
    let f = valid_vmcs(&p, GuestKind::Flat64);
    let host = asm(hvbench_cpu::sandbox::CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.hlt()?;
        a.vmlaunch()?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &asm(GUEST_RIP, spin));
    s.run(20_000);
    let mut r = Run { s, profile: p };
    assert_eq!(r.s.cpu.state.activity, Activity::Halted);
    assert!(signal(&mut r, StartupSignal::Init));
    assert!(!r.s.cpu.take_released_init(), "still blocked in VMX operation");
    r.s.cpu.state.activity = Activity::Active; // wake the host (as an interrupt would)
    more(&mut r);
    exited(&r, reason::INIT);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
}

#[test]
fn vmxoff_releases_a_latched_init() {
    // 24.8: leaving VMX operation unblocks INIT: the machine then carries it out.
    let r0 = run_host(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        a.hlt()?;
        a.vmxoff()
    });
    let mut r = r0;
    assert!(signal(&mut r, StartupSignal::Init));
    assert!(!r.s.cpu.take_released_init());
    r.s.cpu.state.activity = Activity::Active;
    more(&mut r);
    assert!(r.s.cpu.take_released_init(), "released by VMXOFF");
    assert!(!r.s.cpu.take_released_init(), "once");
}

#[test]
fn outside_vmx_the_machine_handles_init() {
    let mut r = run_host(Profile::default_profile(), |a| a.nop());
    assert!(!signal(&mut r, StartupSignal::Init));
    assert!(!signal(&mut r, StartupSignal::Sipi(1)));
}
