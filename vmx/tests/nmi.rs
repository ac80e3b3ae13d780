//! Virtual NMIs and NMI-window exiting (SDM Vol. 3C 25.6.1 "Pin-Based VM-Execution Controls",
//! 25.6.2 table "Definitions of Primary Processor-Based VM-Execution Controls" bit 22, 26.2
//! "Other Causes of VM Exits", 26.3 "Changes to Instruction Behavior in VMX Non-Root
//! Operation" (IRET), 26.7.1 "Virtual NMIs", 26.7.6 "NMI-Window Exiting", 27.2.1.1 and
//! 27.3.1.5 VM-entry checks, 27.6.1 "Vectored-Event Injection", 28.3.4 saving the
//! interruptibility state (bit 3 is virtual-NMI blocking under "virtual NMIs").

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::{CODE_BASE, STUBS};
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const NMI_EXITING: u64 = 1 << 3;
const VIRTUAL_NMIS: u64 = 1 << 5;
const NMI_WINDOW: u64 = 1 << 22;
/// Interruptibility state bit 3: blocking by NMI (25.4.2).
const BLOCK_NMI: u64 = 1 << 3;

fn vnmi(f: &mut Vec<(u32, u64)>) {
    or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING | VIRTUAL_NMIS);
}

/// IRETQ to the next instruction (a same-privilege 64-bit return frame), then HLT.
fn iret_then_hlt(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut next = a.create_label();
    a.mov(rax, rsp)?;
    a.push(0x10)?;
    a.push(rax)?;
    a.pushfq()?;
    a.push(0x08)?;
    a.lea(rax, ptr(next))?;
    a.push(rax)?;
    a.iretq()?;
    a.set_label(&mut next)?;
    a.hlt()
}

vmx_test!(
    /// 27.2.1.1: "NMI-window exiting" = 1 requires "virtual NMIs" = 1: VMfailValid(7).
    nmi_window_requires_virtual_nmis,
    fields: |f| { or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING); or(f, enc::PROC_BASED_CONTROLS, NMI_WINDOW) },
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("NMI-window")); }
);

vmx_test!(
    /// 27.2.1.1: "virtual NMIs" = 1 requires "NMI exiting" = 1: VMfailValid(7).
    virtual_nmis_require_nmi_exiting,
    fields: |f| or(f, enc::PIN_BASED_CONTROLS, VIRTUAL_NMIS),
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("virtual NMIs")); }
);

#[test]
fn capabilities_offer_virtual_nmis_and_the_nmi_window() {
    // A.3.1 / A.3.2: allowed-1 bits of the TRUE pin-based (bit 5) and primary (bit 22) MSRs.
    for p in Profile::NAMES.iter().filter_map(|n| Profile::by_name(n)) {
        assert_ne!(p.pin.may1 & VIRTUAL_NMIS as u32, 0, "{}", p.name);
        assert_ne!(p.proc.may1 & NMI_WINDOW as u32, 0, "{}", p.name);
    }
}

vmx_test!(
    /// 26.7.6: with no virtual-NMI blocking the NMI-window exit happens before the first guest
    /// instruction: reason 8, qualification 0, RIP = the first instruction.
    nmi_window_exits_at_once,
    fields: |f| { vnmi(f); or(f, enc::PROC_BASED_CONTROLS, NMI_WINDOW) },
    guest: |a| { a.nop()?; a.hlt() },
    expect: |r| {
        exited(r, reason::NMI_WINDOW);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 0);
    }
);

vmx_test!(
    /// 26.7.1 / 26.3: IRET removes virtual-NMI blocking; the NMI-window exit follows the IRET
    /// (RIP = its target, the HLT) and the saved interruptibility has bit 3 clear.
    nmi_window_opens_at_iret,
    fields: |f| { vnmi(f); or(f, enc::PROC_BASED_CONTROLS, NMI_WINDOW); set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI) },
    guest: iret_then_hlt,
    expect: |r| {
        exited(r, reason::NMI_WINDOW);
        let rip = r.field(enc::GUEST_RIP);
        assert_eq!(r.s.read(rip, 1), 0xf4, "RIP is the HLT after the IRETQ");
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, 0);
    }
);

vmx_test!(
    /// 27.6.1 with 26.7.1: injecting an NMI under "virtual NMIs" sets virtual-NMI blocking, so
    /// the NMI window stays closed; the NMI handler (the sandbox stub for vector 2) halts and
    /// the HLT exit saves bit 3 = 1.
    injected_virtual_nmi_blocks_the_window,
    fields: |f| { vnmi(f); or(f, enc::PROC_BASED_CONTROLS, NMI_WINDOW); set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202) },
    guest: hlt,
    expect: |r| {
        exited(r, reason::HLT);
        assert!((STUBS + 32..STUBS + 48).contains(&r.field(enc::GUEST_RIP)), "in the vector-2 stub");
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, BLOCK_NMI);
    }
);

vmx_test!(
    /// 26.3: with "NMI exiting" = 1 and "virtual NMIs" = 0, IRET does not affect blocking of
    /// NMIs: bit 3 is still saved as 1 at the HLT exit after the IRET.
    iret_keeps_nmi_blocking_with_nmi_exiting,
    fields: |f| { or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING); set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI) },
    guest: iret_then_hlt,
    expect: |r| { exited(r, reason::HLT); assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, BLOCK_NMI); }
);

vmx_test!(
    /// Without "NMI exiting", IRET unblocks NMIs as outside VMX (SDM Vol. 3A 6.7.1).
    iret_unblocks_nmis_without_nmi_exiting,
    fields: |f| set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI),
    guest: iret_then_hlt,
    expect: |r| { exited(r, reason::HLT); assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, 0); }
);

vmx_test!(
    /// 27.3.1.5: with "virtual NMIs" = 1, injecting an NMI requires blocking by NMI = 0: a
    /// VM-entry failure, reason 33 (27.8).
    nmi_injection_with_virtual_nmi_blocking_fails,
    fields: |f| { vnmi(f); set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI); set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202) },
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "virtual NMIs")
);

vmx_test!(
    /// 27.3.1.5 footnote: with "virtual NMIs" = 0 there is no such requirement; the NMI is
    /// delivered to the guest (its stub halts: HLT exit).
    nmi_injection_with_nmi_blocking_allowed_without_virtual_nmis,
    fields: |f| { set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI); set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202) },
    guest: hlt,
    expect: |r| { exited(r, reason::HLT); assert!((STUBS + 32..STUBS + 48).contains(&r.field(enc::GUEST_RIP))); }
);

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
