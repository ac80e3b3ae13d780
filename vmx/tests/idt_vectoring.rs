//! IDT-vectoring information and the VM-exit instruction length for VM exits during event
//! delivery (SDM Vol. 3C 28.2.4 "Information for VM Exits During Event Delivery", 28.2.5
//! "VM-exit instruction length": recorded for EPT violations met during the delivery of a
//! software interrupt, privileged software exception or software exception; for an injected
//! one, the VM-entry instruction length), with what a boot kernel cannot give: interrupts and
//! NMIs from a bus. The cases without a bus are shared cases in `common/cases_fixes.rs`.

#[macro_use]
mod common;

use common::cases_fixes::FAR_IDT;
use common::*;
use hvbench_cpu::sandbox::CODE_BASE;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

/// A bus with one pending external interrupt and/or NMI.
struct EventBus {
    irq: Option<u8>,
    nmi: bool,
}

impl hvbench_mmu::Bus for EventBus {
    fn io_read(&mut self, _: usize, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: usize, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8, _: u64) {}
    fn pending_interrupt(&mut self, _: usize) -> bool {
        self.irq.is_some()
    }
    fn acknowledge_interrupt(&mut self, _: usize) -> u8 {
        self.irq.take().unwrap_or(0xff)
    }
    fn pending_nmi(&mut self, _: usize) -> bool {
        self.nmi
    }
    fn acknowledge_nmi(&mut self, _: usize) {
        self.nmi = false;
    }
}

/// A guest at GUEST_RIP (`guest` bytes) with its IDT at FAR_IDT, which the EPT does not map,
/// entered with `edit`; the host holds bus events off (IF = 0, NMI blocking) until VM entry.
fn run_far_idt(edit: impl FnOnce(&mut Vec<(u32, u64)>), guest: &[u8], mut bus: EventBus) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    set(&mut f, enc::GUEST_IDTR_BASE, FAR_IDT);
    set(&mut f, enc::GUEST_IDTR_LIMIT, 0xfff);
    edit(&mut f);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, guest);
    poke(&mut s, EPT_PML4 + 0x1000 + 8, 8, 0);
    s.cpu.state.nmi_blocked = true;
    s.run_with(&mut bus, 20_000);
    Run { s, profile: p }
}

const NO_EVENTS: EventBus = EventBus { irq: None, nmi: false };

#[test]
fn int_n_ept_violation_records_the_int_length() {
    // 3E CD 21 = DS-prefixed INT 21H: three bytes.
    let r = run_far_idt(|_| {}, &[0x3e, 0xcd, 0x21], NO_EVENTS);
    exited(&r, reason::EPT_VIOLATION);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0421);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
}

#[test]
fn int1_ept_violation_is_a_privileged_software_exception() {
    // F1 = INT1 (ICEBP): type 5, length 1.
    let r = run_far_idt(|_| {}, &[0xf1], NO_EVENTS);
    exited(&r, reason::EPT_VIOLATION);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0501);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 1);
}

#[test]
fn injected_software_interrupt_ept_violation_records_the_entry_length() {
    let r = run_far_idt(
        |f| {
            set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0421);
            set(f, enc::ENTRY_INSTRUCTION_LENGTH, 5);
        },
        &[0xf4],
        NO_EVENTS,
    );
    exited(&r, reason::EPT_VIOLATION);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0421);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 5);
}

#[test]
fn external_interrupt_ept_violation_is_type_0() {
    // IF = 1 in the guest, no external-interrupt exiting: the bus's interrupt 41H is
    // delivered through the guest IDT and its gate read is the EPT violation.
    let r = run_far_idt(|f| set(f, enc::GUEST_RFLAGS, 0x202), &[0x90, 0xf4], EventBus { irq: Some(0x41), nmi: false });
    exited(&r, reason::EPT_VIOLATION);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0041);
    assert_eq!(r.field(enc::GUEST_PHYSICAL_ADDRESS), FAR_IDT + 0x410);
}

#[test]
fn nmi_ept_violation_is_type_2() {
    // No NMI exiting and no blocking by NMI in the guest: the bus's NMI is delivered through
    // the guest IDT.
    let r = run_far_idt(|_| {}, &[0x90, 0xf4], EventBus { irq: None, nmi: true });
    exited(&r, reason::EPT_VIOLATION);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0202);
    assert_eq!(r.field(enc::GUEST_PHYSICAL_ADDRESS), FAR_IDT + 0x20);
}

#[test]
fn int_n_into_a_double_fault_vector_is_not_a_double_fault() {
    // INT 0DH beyond the IDT limit (limit 0CFH covers gates 0-12 only): #GP(6AH), not
    // #DF: a software interrupt is not a first exception of SDM Vol. 3A Table 6-5.
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    set(&mut f, enc::GUEST_IDTR_LIMIT, 0xcf);
    set(&mut f, enc::EXCEPTION_BITMAP, 1 << 13 | 1 << 8);
    let r = run_fields(p, &f, |a| a.db(&[0xcd, 0x0d]));
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0b0d);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_ERROR_CODE), 0x6a);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_040d);
}
