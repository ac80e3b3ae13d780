//! VMFUNC and EPTP switching (SDM Vol. 3C 25.6.14 "VM-Function Controls", 26.5.6 "VM
//! Functions", 26.5.6.3 "EPTP Switching", the VMFUNC instruction page in chapter 31, exit
//! reason 59 in Appendix C, the 27.2.1.1 checks, IA32_VMX_VMFUNC in A.11).

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::STUBS;
use hvbench_vmx::caps::{msr, Profile};
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const ENABLE_VMFUNC: u64 = 1 << 13;
/// Where the tests put the EPTP list (one page).
const EPTP_LIST: u64 = 0x52_0000;
/// A second EPT: PML4 at 0x530000, PDPT at 0x531000, the same 1-GByte identity pages but
/// not executable (bit 2 = 0).
const EPT2_PML4: u64 = 0x53_0000;
const EPTP2: u64 = EPT2_PML4 | 6 | 3 << 3;

fn enable(f: &mut Vec<(u32, u64)>) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, ENABLE_VMFUNC);
    set(f, enc::VMFUNC_CONTROLS, 1);
    set(f, enc::EPTP_LIST_ADDRESS, EPTP_LIST);
}

/// VMFUNC with EAX = `function`, ECX = `index`, then CPUID (exits).
fn call(function: u32, index: u32) -> impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError> {
    move |a| {
        a.mov(eax, function)?;
        a.mov(ecx, index)?;
        a.vmfunc()?;
        a.cpuid()
    }
}

/// Runs with the EPTP list holding EPTP (entry 0), EPTP2 (entry 1) and 0 (entry 2).
fn run_vmfunc(edit: impl FnOnce(&mut Vec<(u32, u64)>), guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_prepared(p, &f, &asm(GUEST_RIP, guest), |s| {
        poke(s, EPTP_LIST, 8, EPTP);
        poke(s, EPTP_LIST + 8, 8, EPTP2);
        poke(s, EPT2_PML4, 8, (EPT2_PML4 + 0x1000) | 7);
        for i in 0..4u64 {
            poke(s, EPT2_PML4 + 0x1000 + 8 * i, 8, (i << 30) | 0x80 | 6 << 3 | 3);
        }
    })
}

/// VMFUNC is 0F 01 D4: 3 bytes; it follows MOV EAX, imm32 and MOV ECX, imm32 (5 bytes each).
const VMFUNC_RIP: u64 = GUEST_RIP + 10;

#[test]
fn capability_msr() {
    // A.11: IA32_VMX_VMFUNC bit 0 (EPTP switching) in the default profile; the MSR exists only
    // where "enable VM functions" may be 1 (not in no-ept, which has no EPT to switch).
    assert_eq!(Profile::default_profile().read(msr::VMFUNC), Some(1));
    assert_eq!(Profile::no_ept().read(msr::VMFUNC), None);
    assert_ne!(Profile::default_profile().proc2.may1 as u64 & ENABLE_VMFUNC, 0);
}

vmx_test!(
    /// "enable VM functions" = 0: VMFUNC is #UD in the guest (the VMFUNC page), delivered
    /// through the guest IDT to the sandbox's #UD stub, which halts (HLT exit).
    vmfunc_ud_without_the_control,
    fields: nothing,
    guest: call(0, 0),
    expect: |r| { exited(r, reason::HLT); assert!((STUBS + 16 * 6..STUBS + 16 * 7).contains(&r.field(enc::GUEST_RIP))); }
);

#[test]
fn vmfunc_ud_in_root_operation() {
    let r = run_host(Profile::default_profile(), |a| {
        vmxon_and_load(a)?;
        a.xor(eax, eax)?;
        a.xor(ecx, ecx)?;
        a.vmfunc()
    });
    assert_eq!(r.s.exception_vector(), Some(6));
}

vmx_test!(
    /// A function whose VM-function control bit is 0 (EAX = 1): exit reason 59 with the
    /// instruction length (3), RIP = the VMFUNC.
    vmfunc_disabled_function_exits,
    fields: enable,
    guest: call(1, 0),
    expect: |r| {
        exited(r, reason::VMFUNC);
        assert_eq!(r.field(enc::GUEST_RIP), VMFUNC_RIP);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
    }
);

vmx_test!(
    /// EAX >= 64: exit reason 59.
    vmfunc_function_64_exits,
    fields: enable,
    guest: call(64, 0),
    expect: |r| { exited(r, reason::VMFUNC); assert_eq!(r.field(enc::GUEST_RIP), VMFUNC_RIP); }
);

#[test]
fn eptp_switching_bad_index_or_entry_exits() {
    // 26.5.6.3: ECX >= 512, or a list entry that fails the EPTP checks (entry 2 = 0: page-walk
    // length 1), exit with reason 59; the EPT pointer is unchanged.
    for index in [512u32, 2] {
        let r = run_vmfunc(enable, call(0, index));
        exited(&r, reason::VMFUNC);
        assert_eq!(r.field(enc::GUEST_RIP), VMFUNC_RIP, "index {index}");
        assert_eq!(r.field(enc::EPT_POINTER), EPTP);
    }
}

#[test]
fn eptp_switching_to_the_same_eptp_goes_on() {
    // Entry 0 is the current EPTP: VMFUNC completes and the CPUID after it exits.
    let r = run_vmfunc(enable, call(0, 0));
    exited(&r, reason::CPUID);
    assert_eq!(r.field(enc::GUEST_RIP), VMFUNC_RIP + 3);
    assert_eq!(r.field(enc::EPT_POINTER), EPTP);
}

#[test]
fn eptp_switching_changes_the_translation() {
    // Entry 1 maps everything non-executable: VMFUNC succeeds, the EPT-pointer field holds the
    // new EPTP, and fetching the next instruction is an EPT violation (29.3.3: reason 48,
    // qualification bit 2 = instruction fetch) at the instruction after VMFUNC.
    let r = run_vmfunc(enable, call(0, 1));
    exited(&r, reason::EPT_VIOLATION);
    assert_eq!(r.field(enc::EPT_POINTER), EPTP2);
    assert_eq!(r.field(enc::GUEST_RIP), VMFUNC_RIP + 3);
    assert_ne!(r.field(enc::EXIT_QUALIFICATION) & 4, 0, "instruction fetch");
    assert_eq!(r.field(enc::GUEST_PHYSICAL_ADDRESS), VMFUNC_RIP + 3);
}

vmx_test!(
    /// 27.2.1.1: VM-function control bits IA32_VMX_VMFUNC does not allow: VMfailValid(7).
    vmfunc_controls_reserved_bit_fails,
    fields: |f| { enable(f); set(f, enc::VMFUNC_CONTROLS, 3) },
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("IA32_VMX_VMFUNC")); }
);

vmx_test!(
    /// 27.2.1.1: EPTP switching requires "enable EPT" = 1.
    eptp_switching_requires_ept,
    fields: |f| { enable(f); let v = get(f, enc::SECONDARY_PROC_BASED_CONTROLS); set(f, enc::SECONDARY_PROC_BASED_CONTROLS, v & !2) },
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("enable EPT")); }
);

vmx_test!(
    /// 27.2.1.1: the EPTP-list address must be 4-KByte aligned.
    eptp_list_must_be_aligned,
    fields: |f| { enable(f); set(f, enc::EPTP_LIST_ADDRESS, EPTP_LIST | 8) },
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("EPTP-list")); }
);

vmx_test!(
    /// 27.2.1.1: ... and within MAXPHYADDR (39 in the sandbox).
    eptp_list_beyond_maxphyaddr_fails,
    fields: |f| { enable(f); set(f, enc::EPTP_LIST_ADDRESS, 1 << 39) },
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("EPTP-list")); }
);
