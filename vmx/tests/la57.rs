//! The VM-entry canonical checks with 5-level paging (Intel's "5-Level Paging and 5-Level EPT"
//! white paper, 3.1 "Linear-Address Expansion and VM Entries"; SDM 27.2.3, 27.2.4, 27.3.1.2-
//! 27.3.1.4). The model supports 5-level paging, so the base-address and MSR fields (FS, GS,
//! GDTR, IDTR, TR bases, IA32_SYSENTER_ESP/EIP) are checked relative to 57 bits whatever
//! CR4.LA57 is; host RIP relative to the host CR4 field's LA57 and guest RIP to the guest CR4
//! field's. 0080_0000_0000_0000H is canonical for 57 bits (bits 63:56 = 0) but not for 48 (bit
//! 55 set, bits 63:47 not identical); 0100_0000_0000_0000H is canonical for neither.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const LA57: u64 = 1 << 12;
const ADDR57: u64 = 0x0080_0000_0000_0000;
const NONCANON: u64 = 0x0100_0000_0000_0000;

fn host_cr4_la57(f: &mut Vec<(u32, u64)>) {
    let c = get(f, enc::HOST_CR4);
    set(f, enc::HOST_CR4, c | LA57);
}

fn guest_cr4_la57(f: &mut Vec<(u32, u64)>) {
    let c = get(f, enc::GUEST_CR4);
    set(f, enc::GUEST_CR4, c | LA57);
}

/// The guest stores 55H at SCRATCH, then HLT.
fn mark(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rbx, SCRATCH)?;
    a.mov(qword_ptr(rbx), 0x55)?;
    a.hlt()
}

#[test]
fn host_fs_base_needs_only_57_bit_canonicality_without_host_la57() {
    let r = run(|f| set(f, enc::HOST_FS_BASE, NONCANON), hlt);
    vmfail_valid(&r, 8);
    assert!(r.why().contains("host FS base = 0x100000000000000"), "{}", r.why());
    let r = run(|f| set(f, enc::HOST_FS_BASE, ADDR57), mark);
    assert_eq!(r.s.read(SCRATCH, 8), 0x55, "the guest should have run; why: {}", r.why());
}

#[test]
fn host_sysenter_eip_needs_only_57_bit_canonicality() {
    let r = run(|f| set(f, enc::HOST_SYSENTER_EIP, NONCANON), hlt);
    vmfail_valid(&r, 8);
    let r = run(|f| set(f, enc::HOST_SYSENTER_EIP, ADDR57), mark);
    assert_eq!(r.s.read(SCRATCH, 8), 0x55, "the guest should have run; why: {}", r.why());
}

#[test]
fn host_rip_beyond_48_bits_fails_without_host_la57_and_passes_with_it() {
    let r = run(|f| set(f, enc::HOST_RIP, ADDR57), hlt);
    vmfail_valid(&r, 8);
    assert!(r.why().contains("host RIP = 0x80000000000000"), "{}", r.why());
    let r = run(|f| {
        host_cr4_la57(f);
        set(f, enc::HOST_RIP, ADDR57);
    }, mark);
    assert_eq!(r.s.read(SCRATCH, 8), 0x55, "the guest should have run; why: {}", r.why());
}

#[test]
fn guest_gdtr_base_needs_only_57_bit_canonicality_without_guest_la57() {
    let r = run(|f| set(f, enc::GUEST_GDTR_BASE, NONCANON), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "GDTR and IDTR bases must be canonical");
    let r = run(|f| set(f, enc::GUEST_GDTR_BASE, ADDR57), hlt);
    exited(&r, reason::HLT);
}

#[test]
fn guest_fs_base_and_sysenter_esp_need_only_57_bit_canonicality() {
    let r = run(|f| set(f, enc::GUEST_FS_BASE, NONCANON), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "base addresses must be canonical");
    let r = run(|f| set(f, enc::GUEST_SYSENTER_ESP, NONCANON), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "SYSENTER_EIP must be canonical");
    let r = run(|f| {
        set(f, enc::GUEST_FS_BASE, ADDR57);
        set(f, enc::GUEST_SYSENTER_ESP, ADDR57);
    }, hlt);
    exited(&r, reason::HLT);
}

#[test]
fn guest_rip_beyond_48_bits_depends_on_guest_la57() {
    let r = run(|f| set(f, enc::GUEST_RIP, ADDR57), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "guest RIP must be canonical");
    // With guest CR4.LA57 = 1 the entry succeeds and fetching there is a #PF (PML5 entry 80H
    // is not present), which exception-bitmap bit 14 turns into an exit with CR2 = the RIP.
    let r = run(|f| {
        guest_cr4_la57(f);
        set(f, enc::GUEST_RIP, ADDR57);
        set(f, enc::EXCEPTION_BITMAP, 1 << 14);
    }, hlt);
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0b0e);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), ADDR57);
}
