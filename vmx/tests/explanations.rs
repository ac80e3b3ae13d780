//! VM-entry failure explanations name the check, the field(s) and value(s) involved, what the
//! value should be, and the SDM section (issue 4). The values expected here are the ones the
//! test put in the VMCS and the SDM's rule for them (A.7: CR0 bits PE, NE, PG fixed to 1 in
//! VMX operation, CR4.VMXE fixed to 1; A.3.1: pin-based bits 1, 2, 4 default to 1).

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

fn why_contains(r: &Run, parts: &[&str]) {
    let why = r.why();
    for p in parts {
        assert!(why.contains(p), "explanation `{why}` should contain `{p}`");
    }
}

#[test]
fn guest_cr0_fixed_names_the_value_and_the_missing_bit() {
    // CR0 with NE (bit 5) clear.
    let r = run(|f| set(f, enc::GUEST_CR0, 0x8001_0011), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "guest CR0 must respect");
    why_contains(&r, &["guest CR0 = 0x80010011", "bits 0x20 must be 1", "27.3.1.1"]);
}

#[test]
fn host_cr4_fixed_names_the_value_and_the_missing_bit() {
    // Host CR4 without VMXE (bit 13).
    let r = run(|f| set(f, enc::HOST_CR4, 0x620), hlt);
    vmfail_valid(&r, 8);
    why_contains(&r, &["host CR4 = 0x620", "bits 0x2000 must be 1", "27.2.2"]);
}

#[test]
fn pin_controls_name_the_bits_that_must_be_1() {
    // Pin-based controls 0: the default1 bits 1, 2 and 4 (16H) are missing.
    let r = run(|f| set(f, enc::PIN_BASED_CONTROLS, 0), hlt);
    vmfail_valid(&r, 7);
    why_contains(&r, &["pin-based VM-execution controls = 0x00000000", "bits 0x16 must be 1", "27.2.1.1"]);
}

#[test]
fn guest_rflags_reserved_names_the_value() {
    // RFLAGS bit 1 clear.
    let r = run(|f| set(f, enc::GUEST_RFLAGS, 0), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "guest RFLAGS bits 63:22");
    why_contains(&r, &["guest RFLAGS = 0x0:", "27.3.1.4"]);
}

#[test]
fn injection_type_names_the_field() {
    // Interruption type 1 (reserved).
    let r = run(|f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0100), hlt);
    vmfail_valid(&r, 7);
    why_contains(&r, &["VM-entry interruption information = 0x80000100: type 1", "27.2.1.3"]);
}

#[test]
fn guest_cs_l_and_d_names_the_access_rights() {
    let r = run(|f| set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xe09b), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "guest CS.L=1 requires CS.D=0");
    why_contains(&r, &["guest CS access rights = 0xe09b: L = 1, D = 1", "27.3.1.2"]);
}
