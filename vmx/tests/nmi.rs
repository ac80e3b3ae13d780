//! NMIs from a bus in VMX non-root operation (SDM Vol. 3C 26.2 "Other Causes of VM Exits",
//! 26.7.1 "Virtual NMIs": virtual-NMI blocking does not block real NMIs) and the capability
//! bits for virtual NMIs and NMI-window exiting (A.3.1, A.3.2). The cases without a bus NMI
//! (NMI-window exits, IRET and blocking, injection checks) are shared cases in
//! `common/cases_events.rs`, also booted under hvbench and Bochs.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::CODE_BASE;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const NMI_EXITING: u64 = 1 << 3;
const VIRTUAL_NMIS: u64 = 1 << 5;
const NMI_WINDOW: u64 = 1 << 22;
/// Interruptibility state bit 3: blocking by NMI (25.4.2).
const BLOCK_NMI: u64 = 1 << 3;

fn vnmi(f: &mut Vec<(u32, u64)>) {
    or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING | VIRTUAL_NMIS);
}

#[test]
fn capabilities_offer_virtual_nmis_and_the_nmi_window() {
    // A.3.1 / A.3.2: allowed-1 bits of the TRUE pin-based (bit 5) and primary (bit 22) MSRs.
    for p in Profile::NAMES.iter().filter_map(|n| Profile::by_name(n)) {
        assert_ne!(p.pin.may1 & VIRTUAL_NMIS as u32, 0, "{}", p.name);
        assert_ne!(p.proc.may1 & NMI_WINDOW as u32, 0, "{}", p.name);
    }
}

/// A bus with a pending NMI.
struct NmiBus {
    nmi: bool,
}

impl hvbench_mmu::Bus for NmiBus {
    fn io_read(&mut self, _: usize, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: usize, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8, _: u64) {}
    fn pending_nmi(&mut self, _: usize) -> bool {
        self.nmi
    }
    fn acknowledge_nmi(&mut self, _: usize) {
        self.nmi = false;
    }
}

/// A guest (NOP, HLT; HLT exits) entered with `edit` while an NMI is pending. The host holds
/// the NMI off with its own NMI blocking until VM entry.
fn with_pending_nmi(edit: impl FnOnce(&mut Vec<(u32, u64)>)) -> (Run, NmiBus) {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let guest = asm(GUEST_RIP, |a| { a.nop()?; a.hlt() });
    let mut s = sandbox(&p, &host, &guest);
    s.cpu.state.nmi_blocked = true;
    let mut bus = NmiBus { nmi: true };
    s.run_with(&mut bus, 20_000);
    (Run { s, profile: p }, bus)
}

#[test]
fn real_nmi_exits_despite_virtual_nmi_blocking() {
    // 26.7.1: under "virtual NMIs" bit 3 is virtual-NMI blocking, which does not block NMIs;
    // the NMI exits (reason 0, interruption information: vector 2, type 2, valid).
    let (r, bus) = with_pending_nmi(|f| { vnmi(f); set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI) });
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0202);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
    assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, BLOCK_NMI, "virtual-NMI blocking saved");
    assert!(!bus.nmi, "acknowledged");
}

#[test]
fn nmi_blocking_holds_off_the_nmi_exit_without_virtual_nmis() {
    // "NMI exiting" = 1, "virtual NMIs" = 0: blocking by NMI blocks NMIs (26.2); the guest
    // runs to its HLT exit and the NMI stays pending.
    let (r, bus) = with_pending_nmi(|f| { or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING); set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI) });
    exited(&r, reason::HLT);
    assert!(bus.nmi, "still pending");
}

#[test]
fn nmi_exits_from_the_shutdown_state() {
    // The shutdown activity state blocks external interrupts and SIPIs only (27.6.2): with
    // "NMI exiting" the pending NMI is a VM exit (reason 0, vector 2, type 2) that saves
    // activity state 2 (28.3.4) and the guest's RIP field.
    let (r, bus) = with_pending_nmi(|f| { or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING); set(f, enc::GUEST_ACTIVITY_STATE, 2) });
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0202);
    assert_eq!(r.field(enc::GUEST_ACTIVITY_STATE), 2);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
    assert!(!bus.nmi, "acknowledged");
}

#[test]
fn nmi_blocking_keeps_the_shutdown_state_without_nmi_exiting() {
    // Without "NMI exiting" an NMI would be delivered and end the shutdown state; blocking by
    // NMI holds it pending: no exit, the vCPU stays in shutdown.
    let (r, bus) = with_pending_nmi(|f| { set(f, enc::GUEST_ACTIVITY_STATE, 2); set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI) });
    assert_eq!(r.kind(), 0, "no VM exit; why: {}", r.why());
    assert_eq!(r.s.cpu.state.activity, hvbench_cpu::state::Activity::Shutdown);
    assert!(bus.nmi, "still pending");
}
