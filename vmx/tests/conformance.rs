//! VMX conformance suite: each VMX instruction's success and failure paths, VM-entry checks
//! per area, and each implemented VM-exit reason with its exit-information fields. Expected
//! values are the SDM's (section cited per case; revision pinned in `hvbench_vmx::SDM_REVISION`).
//!
//! Most cases are data in `common/cases.rs`, shared with `harness/tests/vmx_oracle.rs`, which
//! boots the same cases as kernels under `hvbench run` and under Bochs with VT-x; here
//! [`shared_cases_in_the_sandbox`] runs each of them in the sandbox and compares its
//! transcript with the SDM's. The tests below that list are the ones that need what a boot
//! kernel cannot give: hvbench's internals, another CPU profile, timing, or interrupts.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

#[test]
fn shared_cases_in_the_sandbox() {
    let mut failures = Vec::new();
    for c in cases::all() {
        let (r, got) = run_case(c);
        let want = cases::expected_lines(c);
        if !cases::hvbench_matches(c, &got) {
            let known = c.hvbench_differs.map(|l| format!("\n  known deviation expected: {l}")).unwrap_or_default();
            failures.push(format!("{} ({})\n  SDM:     {want:?}\n  hvbench: {got:?}{known}\n  why: {}", c.name, c.doc, r.why()));
        } else if c.hvbench_differs.is_none() && !r.why().contains(c.why) {
            failures.push(format!("{}: explanation `{}` should name `{}`", c.name, r.why(), c.why));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases::all().count(), failures.join("\n"));
}

#[test]
fn shared_case_names_are_unique() {
    let mut names: Vec<&str> = cases::all().map(|c| c.name).collect();
    names.sort_unstable();
    let n = names.len();
    names.dedup();
    assert_eq!(names.len(), n);
}

/// The shared case called `name`.
fn shared(name: &str) -> &'static cases::Case {
    cases::all().find(|c| c.name == name).expect("a shared case")
}

#[test]
fn page_fault_exit_leaves_cr2() {
    // SDM 28.1: a #PF that causes a VM exit does not write CR2.
    let (r, _) = run_case(shared("page_fault_exit"));
    assert_ne!(r.s.cpu.state.cr2, 0x8_0000_0000, "CR2 unchanged by a #PF VM exit");
}

#[test]
fn ept_violation_advanced_information() {
    // With the advanced-information capability (IA32_VMX_EPT_VPID_CAP bit 22, which hvbench's
    // default profile reports) bits 9 (user-mode linear address: the sandbox's paging sets U/S)
    // and 10 (writable) are set and bit 11 (execute-disable) is 0 (SDM 28.2.1 table "Exit
    // Qualification for EPT Violations"). The shared case masks them: Bochs lacks bit 22.
    let (r, _) = run_case(shared("ept_violation"));
    assert_eq!(r.field(enc::EXIT_QUALIFICATION) & 0xe00, 1 << 9 | 1 << 10);
}

vmx_test!(
    /// HLT without "HLT exiting": the guest halts in non-root operation (SDM 26.1.3).
    hlt_without_exiting_halts_the_guest,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p & !(1 << 7)); },
    guest: hlt,
    expect: |r| {
        assert_eq!(r.kind(), 0);
        assert!(r.s.cpu.vmx_non_root);
        assert_eq!(r.s.cpu.state.activity, hvbench_cpu::Activity::Halted);
    }
);

#[test]
fn without_vmx_the_instructions_are_ud() {
    let code = asm(CODE_BASE, |a| a.vmcall());
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(1000);
    assert_eq!(s.exception_vector(), Some(6));
    // And CPUID.1:ECX.VMX is clear without the extension, set with it.
    let code = asm(CODE_BASE, |a| {
        a.mov(eax, 1)?;
        a.cpuid()?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.cpu.state.gpr[1] & 0x20, 0);
    let mut s = sandbox(&Profile::default_profile(), &code, &[]);
    s.run(100);
    assert_eq!(s.cpu.state.gpr[1] & 0x20, 0x20);
}

#[test]
fn vmxon_feature_control_unlocked_is_gp() {
    // SDM 31.3 VMXON: IA32_FEATURE_CONTROL lock bit clear -> #GP(0).
    let code = asm(CODE_BASE, |a| {
        enable_vmxe(a)?;
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))
    });
    let mut s = sandbox(&Profile::default_profile(), &code, &[]);
    s.cpu.state.msr.feature_control = 0;
    s.run(1000);
    assert_eq!(s.exception_vector(), Some(13));
}

/// Runs VMXON + VMPTRLD of the valid VMCS, then `then`, saving RFLAGS after it.
fn after_load(profile: Profile, then: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    run_host(profile, |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        a.mov(rbx, PTR_VMCS)?;
        a.vmptrld(qword_ptr(rbx))?;
        then(a)?;
        save_flags(a, RESULT_FLAGS)
    })
}

fn valid_error(r: &Run, n: u64) {
    assert_eq!(r.fail_flags() & (CF | ZF), ZF, "VMfailValid; why: {}", r.why());
    assert_eq!(r.error(), n, "why: {}", r.why());
}

#[test]
fn vmread_vmwrite_of_fields_the_profile_lacks_are_12() {
    // A posted-interrupt field (not offered by the profile) and, on the no-ept profile, the
    // EPT pointer (SDM 31.3 VMREAD/VMWRITE; which fields exist is model-specific).
    for (p, e) in [(Profile::default_profile(), enc::POSTED_INTERRUPT_DESCRIPTOR), (Profile::no_ept(), enc::EPT_POINTER)] {
        let r = after_load(p.clone(), |a| {
            a.mov(rcx, e as u64)?;
            a.vmread(rax, rcx)
        });
        valid_error(&r, 12);
        let r = after_load(p, |a| {
            a.mov(rcx, e as u64)?;
            a.vmwrite(rcx, rax)
        });
        valid_error(&r, 12);
    }
}

#[test]
fn vmwrite_read_only_is_13_without_misc_bit_29() {
    // The no-ept profile clears IA32_VMX_MISC bit 29 (the default profile's case is shared).
    let r = after_load(Profile::no_ept(), |a| {
        a.mov(rcx, enc::EXIT_QUALIFICATION as u64)?;
        a.mov(rax, 7u64)?;
        a.vmwrite(rcx, rax)
    });
    valid_error(&r, 13);
}

#[test]
fn invept_without_ept_is_ud() {
    // No EPT in the profile: INVEPT is #UD (SDM 31.3 INVEPT).
    let r = after_load(Profile::no_ept(), |a| {
        a.mov(eax, 2)?;
        a.mov(rbx, SCRATCH)?;
        a.invept(rax, xmmword_ptr(rbx))
    });
    assert_eq!(r.s.exception_vector(), Some(6));
}

vmx_test!(
    /// VMLAUNCH of a launched VMCS: the guest VMCALLs, the host VMLAUNCHes again: error 4
    /// (SDM 31.3 VMLAUNCH/VMRESUME). Checked in `vmlaunch_twice_is_4` below; here: the first
    /// launch set the launch state.
    launch_state_set, fields: nothing, guest: |a| a.vmcall(), expect: |r| {
        exited(r, reason::VMCALL);
        assert_eq!(r.s.read(VMCS_REGION + hvbench_vmx::vmcs::LAUNCH_STATE_OFFSET, 4), 1);
    }
);

#[test]
fn capability_msrs_read_and_refuse_writes() {
    let r = run_host(Profile::default_profile(), |a| {
        a.mov(ecx, 0x480)?;
        a.rdmsr()?;
        a.mov(rbx, SCRATCH)?;
        a.mov(dword_ptr(rbx), eax)?;
        a.mov(dword_ptr(rbx + 4), edx)?;
        a.wrmsr()
    });
    assert_eq!(r.s.read(SCRATCH, 8), Profile::default_profile().basic());
    assert_eq!(r.s.exception_vector(), Some(13));
}

/// A bus with one pending external interrupt (vector 0x41) and, optionally, a pending NMI.
struct IrqBus {
    irq: bool,
    nmi: bool,
    acked: u32,
}

impl hvbench_mmu::Bus for IrqBus {
    fn io_read(&mut self, _: usize, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: usize, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8, _: u64) {}
    fn pending_interrupt(&mut self, _: usize) -> bool {
        self.irq
    }
    fn acknowledge_interrupt(&mut self, _: usize) -> u8 {
        self.irq = false;
        self.acked += 1;
        0x41
    }
    fn pending_nmi(&mut self, _: usize) -> bool {
        self.nmi
    }
    fn acknowledge_nmi(&mut self, _: usize) {
        self.nmi = false;
    }
}

/// Runs a default-profile guest (a HLT loop with interrupts disabled) with `bus`.
fn run_with_bus(edit: impl FnOnce(&mut Vec<(u32, u64)>), bus: &mut IrqBus) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    let pc = get(&f, enc::PROC_BASED_CONTROLS);
    set(&mut f, enc::PROC_BASED_CONTROLS, pc & !(1 << 7)); // the guest may halt
    edit(&mut f);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let guest = asm(GUEST_RIP, |a| {
        a.nop()?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &guest);
    // The host runs with IF = 0 and NMIs blocked (as inside an NMI handler), so the events
    // stay pending until VMLAUNCH loads the guest's interruptibility state (no blocking).
    s.cpu.state.nmi_blocked = true;
    s.run_with(bus, 20_000);
    Run { s, profile: p }
}

#[test]
fn external_interrupt_exits_with_and_without_acknowledge() {
    // SDM 26.2: with "external-interrupt exiting" an interrupt exits (reason 1) whatever the
    // guest's RFLAGS.IF; 28.2.2: with "acknowledge interrupt on exit" the vector is in the
    // VM-exit interruption information (type 0, valid), else that field is invalid and the
    // interrupt is still pending.
    let mut bus = IrqBus { irq: true, nmi: false, acked: 0 };
    let r = run_with_bus(
        |f| {
            let pin = get(f, enc::PIN_BASED_CONTROLS);
            set(f, enc::PIN_BASED_CONTROLS, pin | 1);
            let e = get(f, enc::EXIT_CONTROLS);
            set(f, enc::EXIT_CONTROLS, e | 1 << 15);
        },
        &mut bus,
    );
    exited(&r, reason::EXTERNAL_INTERRUPT);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0041);
    assert_eq!(bus.acked, 1);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP, "exit at the first instruction boundary");

    let mut bus = IrqBus { irq: true, nmi: false, acked: 0 };
    let r = run_with_bus(
        |f| {
            let pin = get(f, enc::PIN_BASED_CONTROLS);
            set(f, enc::PIN_BASED_CONTROLS, pin | 1);
        },
        &mut bus,
    );
    exited(&r, reason::EXTERNAL_INTERRUPT);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0);
    assert_eq!(bus.acked, 0);
    assert!(bus.irq, "not acknowledged: still pending");
}

#[test]
fn nmi_exiting() {
    // SDM 26.2: with "NMI exiting" an NMI exits with reason 0, interruption type 2, vector 2.
    let mut bus = IrqBus { irq: false, nmi: true, acked: 0 };
    let r = run_with_bus(
        |f| {
            let pin = get(f, enc::PIN_BASED_CONTROLS);
            set(f, enc::PIN_BASED_CONTROLS, pin | 1 << 3);
        },
        &mut bus,
    );
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0202);
    assert!(!bus.nmi);
}
