//! "NMI unblocking due to IRET" (SDM Vol. 3C 28.2.2 "Information for VM Exits Due to Vectored
//! Events", bit 12 of the VM-exit interruption information; 28.2.1 table "Exit Qualification
//! for EPT Violations", bit 12): IRET removes blocking by NMI (virtual-NMI blocking with
//! "virtual NMIs") even when it faults; the VM exit for the fault says so, and the saved
//! interruptibility state (28.3.4) no longer has blocking by NMI, so that a VMM that
//! re-executes the IRET sets it again (the re-blocking is the VMM's: VM entry loads the
//! interruptibility state as given, 27.3.2.5). Undefined (hvbench: 0) with "NMI exiting" = 1
//! and "virtual NMIs" = 0, where IRET leaves NMI blocking alone (26.3).
//!
//! The guest executes IRETQ on a zeroed stack: the frame's CS selector is null, #GP(0)
//! (IRET, Vol. 2A), which bit 13 of the exception bitmap turns into a VM exit.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const NMI_EXITING: u64 = 1 << 3;
const VIRTUAL_NMIS: u64 = 1 << 5;
/// Interruptibility state bit 3: blocking by NMI.
const BLOCK_NMI: u64 = 1 << 3;
/// #GP, hardware exception, error code valid, valid.
const GP_INFO: u64 = 0x8000_0b0d;
const NMI_UNBLOCKING: u64 = 1 << 12;

fn iret_faults(f: &mut Vec<(u32, u64)>, pin: u64, blocked: bool) {
    or(f, enc::PIN_BASED_CONTROLS, pin);
    set(f, enc::EXCEPTION_BITMAP, 1 << 13);
    set(f, enc::GUEST_INTERRUPTIBILITY, if blocked { BLOCK_NMI } else { 0 });
}

fn iretq(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.iretq()
}

vmx_test!(
    /// Virtual NMIs with virtual-NMI blocking: the #GP exit has bit 12 set, the saved
    /// interruptibility state has no blocking by NMI, RIP is the IRET's.
    iret_fault_with_virtual_nmi_blocking_reports_unblocking,
    fields: |f| iret_faults(f, NMI_EXITING | VIRTUAL_NMIS, true),
    guest: iretq,
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), GP_INFO | NMI_UNBLOCKING);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_ERROR_CODE), 0);
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, 0, "the IRET unblocked");
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
    }
);

vmx_test!(
    /// "NMI exiting" = 0 with blocking by NMI: bit 12 set, blocking gone.
    iret_fault_with_nmi_blocking_reports_unblocking,
    fields: |f| iret_faults(f, 0, true),
    guest: iretq,
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), GP_INFO | NMI_UNBLOCKING);
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, 0);
    }
);

vmx_test!(
    /// No blocking before the IRET: bit 12 clear (28.2.2 "for all other relevant VM exits").
    iret_fault_without_blocking_has_bit_12_clear,
    fields: |f| iret_faults(f, NMI_EXITING | VIRTUAL_NMIS, false),
    guest: iretq,
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), GP_INFO);
    }
);

vmx_test!(
    /// "NMI exiting" = 1, "virtual NMIs" = 0: IRET does not touch NMI blocking (26.3), which
    /// is saved as it was; bit 12 (undefined here) is 0 in hvbench.
    iret_fault_with_nmi_exiting_keeps_blocking,
    fields: |f| iret_faults(f, NMI_EXITING, true),
    guest: iretq,
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), GP_INFO);
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, BLOCK_NMI);
    }
);

vmx_test!(
    /// A fault of another instruction (UD2) under virtual-NMI blocking: bit 12 clear, the
    /// blocking saved as it was.
    other_faults_have_bit_12_clear,
    fields: |f| { iret_faults(f, NMI_EXITING | VIRTUAL_NMIS, true); set(f, enc::EXCEPTION_BITMAP, 1 << 6) },
    guest: |a| a.ud2(),
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0306);
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & BLOCK_NMI, BLOCK_NMI);
    }
);
