//! The VM-entry canonical checks with 5-level paging: an address is canonical relative to 57
//! bits when CR4.LA57 = 1 in the CR4 field of the area checked (host CR4 field for the host
//! checks, SDM 27.2.2-27.2.4; guest CR4 field for the guest checks, 27.3.1.1-27.3.1.4), else
//! relative to 48 bits. 0080_0000_0000_0000H is canonical for 57 bits (bits 63:56 = 0) but not
//! for 48 (bit 55 set, bits 63:47 not identical).

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const LA57: u64 = 1 << 12;
const ADDR57: u64 = 0x0080_0000_0000_0000;

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
fn host_fs_base_beyond_48_bits_fails_without_host_la57() {
    let r = run(|f| set(f, enc::HOST_FS_BASE, ADDR57), hlt);
    vmfail_valid(&r, 8);
    assert!(r.why().contains("host.base") || r.why().contains("host FS base"), "{}", r.why());
}

#[test]
fn host_fs_base_beyond_48_bits_passes_with_host_la57() {
    // (After the guest's HLT the host comes back with 5-level paging over 4-level tables; only
    // the entry matters here: the guest ran.)
    let r = run(|f| {
        host_cr4_la57(f);
        set(f, enc::HOST_FS_BASE, ADDR57);
    }, mark);
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
fn guest_gdtr_base_beyond_48_bits_depends_on_guest_la57() {
    let r = run(|f| set(f, enc::GUEST_GDTR_BASE, ADDR57), hlt);
    entry_failure(&r, reason::INVALID_GUEST_STATE, 0, "GDTR and IDTR bases must be canonical");
    // With guest CR4.LA57 = 1 the guest runs with 5-level paging; the sandbox's tables seen one
    // level higher map the first GByte identically (the PD entries become 1-GByte PDPTEs), so
    // the guest's code runs and its HLT exits.
    let r = run(|f| {
        guest_cr4_la57(f);
        set(f, enc::GUEST_GDTR_BASE, ADDR57);
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
