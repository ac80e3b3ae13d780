//! INVEPT and INVVPID fault order at CPL 3 (SDM Vol. 3C 31.3 INVEPT, INVVPID, "Operation"):
//! #UD when not in VMX operation comes before the CPL check; in VMX root operation at CPL > 0
//! both are #GP(0), before the type is looked at (an unsupported type at CPL 3 is #GP, not
//! VMfailValid). In VMX non-root operation the VM exit comes before the CPL check (26.1.2):
//! the shared case `invvpid_at_cpl3_in_guest_exits`. Sandbox-only: the host program drops to
//! ring 3 with IRETQ (the sandbox's TSS has RSP0 for the exception's return to ring 0).

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::CODE_BASE;
use hvbench_vmx::caps::Profile;
use iced_x86::code_asm::*;

/// IRETQ to 64-bit ring-3 code (CS 0x33, SS 0x2b) that runs `then`.
fn at_cpl3(a: &mut CodeAssembler, then: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Result<(), IcedError> {
    let mut user = a.create_label();
    a.push(0x2b)?;
    a.push(0x7_0000)?;
    a.push(2)?;
    a.push(0x33)?;
    a.lea(rax, qword_ptr(user))?;
    a.push(rax)?;
    a.iretq()?;
    a.set_label(&mut user)?;
    then(a)
}

fn invept(a: &mut CodeAssembler, ty: u32) -> Result<(), IcedError> {
    a.mov(eax, ty)?;
    a.mov(rbx, SCRATCH)?;
    a.invept(rax, xmmword_ptr(rbx))
}

fn invvpid(a: &mut CodeAssembler, ty: u32) -> Result<(), IcedError> {
    a.mov(eax, ty)?;
    a.mov(rbx, SCRATCH)?;
    a.invvpid(rax, xmmword_ptr(rbx))
}

/// Runs `body` after VMXON (when `vmxon`) and the drop to ring 3; returns the vector the IDT
/// stubs recorded.
fn vector(vmxon: bool, body: fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Option<u8> {
    let r = run_host(Profile::default_profile(), |a| {
        if vmxon {
            a.mov(rbx, PTR_VMXON)?;
            a.vmxon(qword_ptr(rbx))?;
        }
        at_cpl3(a, body)
    });
    r.s.exception_vector()
}

#[test]
fn outside_vmx_operation_ud_comes_before_the_cpl_check() {
    assert_eq!(vector(false, |a| invept(a, 2)), Some(6));
    assert_eq!(vector(false, |a| invvpid(a, 2)), Some(6));
}

#[test]
fn root_operation_at_cpl3_is_gp_before_the_type_check() {
    // Supported and unsupported types alike.
    for body in [|a: &mut CodeAssembler| invept(a, 2), |a: &mut CodeAssembler| invept(a, 0), |a: &mut CodeAssembler| invvpid(a, 2), |a: &mut CodeAssembler| invvpid(a, 7)] {
        assert_eq!(vector(true, body), Some(13));
    }
}

#[test]
fn ring3_reaches_user_code() {
    // The harness itself: ring-3 code runs (a HLT there is #GP(0), SDM HLT).
    assert_eq!(vector(false, |a| a.hlt()), Some(13));
    let _ = CODE_BASE;
}
