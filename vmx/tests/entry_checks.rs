//! VM-entry checks added after `conformance.rs`: SDM 27.3.1.5 "Checks on Guest Non-Register
//! State" (activity state versus interruptibility and event injection; the pending-debug BS
//! bit versus RFLAGS.TF). Each failure is a VM-entry failure, reason 33, qualification 0.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

vmx_test!(
    /// Activity state HLT with blocking by STI (SDM 27.3.1.5): reason 33.
    entry_hlt_with_sti_blocking,
    fields: |f| { set(f, enc::GUEST_ACTIVITY_STATE, 1); set(f, enc::GUEST_RFLAGS, 0x202); set(f, enc::GUEST_INTERRUPTIBILITY, 1); },
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "HLT is not allowed with blocking by STI")
);

vmx_test!(
    /// Wait-for-SIPI accepts no injected event (SDM 27.3.1.5): injecting #UD fails.
    entry_wait_for_sipi_refuses_injection,
    fields: |f| { set(f, enc::GUEST_ACTIVITY_STATE, 3); set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306); },
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "inactive guest")
);

vmx_test!(
    /// HLT accepts an NMI but not a #UD (SDM 27.3.1.5).
    entry_hlt_refuses_ud_injection,
    fields: |f| { set(f, enc::GUEST_ACTIVITY_STATE, 1); set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306); },
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "inactive guest")
);

vmx_test!(
    /// Blocking by MOV SS with RFLAGS.TF = 1 requires pending-debug BS = 1 (SDM 27.3.1.5).
    entry_bs_must_follow_tf,
    fields: |f| { set(f, enc::GUEST_RFLAGS, 0x102); set(f, enc::GUEST_INTERRUPTIBILITY, 2); },
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "BS (bit 14)")
);

vmx_test!(
    /// The same state with BS = 1 enters; the guest's first instruction (HLT) exits.
    entry_bs_with_tf_enters,
    fields: |f| {
        set(f, enc::GUEST_RFLAGS, 0x102);
        set(f, enc::GUEST_INTERRUPTIBILITY, 2);
        set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 1 << 14);
    },
    guest: hlt,
    expect: |r| exited(r, reason::HLT)
);
