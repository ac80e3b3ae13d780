//! VMX instructions in compatibility mode, in VMX root operation (SDM Vol. 3C 31.1 "Overview":
//! "Only VMCALL can be executed in compatibility mode (causing a VM exit). The other VMX
//! instructions generate invalid-opcode exceptions if executed in compatibility mode"; 31.3,
//! each instruction's Operation: "(IA32_EFER.LMA = 1 and CS.L = 0) THEN #UD", for VMXON before
//! the "in VMX root operation" VMfail, for VMCALL after "in VMX non-root operation THEN VM
//! exit"). The 64-bit host far-returns to a 32-bit code segment (selector 18H: D = 1, L = 0)
//! whose first instruction is the VMX instruction; #UD reaches the sandbox's IDT stub before
//! the code after it runs. Compatibility-mode guests (VM exit for VMCALL, #UD for the others)
//! are shared cases in `common/cases_vmxgaps.rs`.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::CODE_BASE;
use hvbench_cpu::segment::SegReg;
use hvbench_vmx::caps::Profile;
use iced_x86::code_asm::*;

/// Where the compatibility-mode code runs.
const COMPAT: u64 = CODE_BASE + 0x2000;
/// What the compatibility-mode code writes at RESULT_KIND after the instruction.
const REACHED: u64 = 0x55;

type Insn = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// Runs `insn` in compatibility mode, after VMXON, VMCLEAR and VMPTRLD if `in_vmx`; EBX
/// points at SCRATCH (zero: a memory operand VMPTRST would write), EAX holds 2 (a supported INVEPT /
/// INVVPID type: all contexts), ECX 4400H (the VM-instruction error field).
fn run_compat(in_vmx: bool, insn: Insn) -> Run {
    let host = asm(CODE_BASE, |a| {
        enable_vmxe(a)?;
        if in_vmx {
            vmxon_and_load(a)?;
        }
        a.mov(ebx, SCRATCH as u32)?;
        a.mov(eax, 2)?;
        a.mov(ecx, 0x4400)?;
        a.push(0x18)?;
        a.mov(rdx, COMPAT)?;
        a.push(rdx)?;
        a.db(&[0x48, 0xcb]) // RETFQ
    });
    let mut c = CodeAssembler::new(32).expect("32-bit assembler");
    insn(&mut c).expect("assembles");
    c.mov(dword_ptr(RESULT_KIND as u32), REACHED as u32).expect("assembles");
    c.hlt().expect("assembles");
    let code = c.assemble(COMPAT).expect("assembles");
    let p = Profile::default_profile();
    let mut s = sandbox(&p, &host, &[0xf4]);
    poke(&mut s, COMPAT, 1, 0);
    s.mem.write_bytes(hvbench_mmu::PhysAddr(COMPAT), &code);
    s.run(20_000);
    Run { s, profile: p }
}

fn nop(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.nop()
}

#[test]
fn the_code_segment_is_compatibility_mode() {
    // Without a VMX instruction the code after it runs, at CS = 18H with CS.L = 0.
    let r = run_compat(true, nop);
    assert_eq!(r.s.exception_vector(), None);
    assert_eq!(r.kind(), REACHED);
    let code = r.s.cpu.state.seg(SegReg::Cs);
    assert_eq!((code.selector, code.long()), (0x18, false), "compatibility mode");
}

/// Every VMX instruction but VMCALL (and VMFUNC, #UD in root operation anyway).
const INSNS: &[(&str, Insn)] = &[
    ("VMXON", |a| a.vmxon(qword_ptr(ebx))),
    ("VMXOFF", |a| a.vmxoff()),
    ("VMCLEAR", |a| a.vmclear(qword_ptr(ebx))),
    ("VMPTRLD", |a| a.vmptrld(qword_ptr(ebx))),
    ("VMPTRST", |a| a.vmptrst(qword_ptr(ebx))),
    ("VMREAD", |a| a.vmread(edx, ecx)),
    ("VMWRITE", |a| a.vmwrite(ecx, eax)),
    ("VMLAUNCH", |a| a.vmlaunch()),
    ("VMRESUME", |a| a.vmresume()),
    ("INVEPT", |a| a.invept(eax, xmmword_ptr(ebx))),
    ("INVVPID", |a| a.invvpid(eax, xmmword_ptr(ebx))),
    ("VMCALL", |a| a.vmcall()),
    ("VMFUNC", |a| a.vmfunc()),
];

#[test]
fn every_vmx_instruction_is_ud_in_compatibility_mode_in_root_operation() {
    for (name, insn) in INSNS {
        let r = run_compat(true, *insn);
        assert_eq!(r.s.exception_vector(), Some(6), "{name} in compatibility mode: #UD (SDM 31.1, 31.3)");
        assert_ne!(r.kind(), REACHED, "{name}: the next instruction must not run");
        let v = hvbench_vmx::state(&r.s.cpu).expect("VMX installed");
        // Nothing changed: still in VMX operation with the VMCS current (VMXOFF, VMCLEAR), the
        // error field untouched (VMXON would otherwise be VMfailValid(15)).
        assert!(v.in_vmx, "{name}: still in VMX operation");
        assert_eq!(v.current, Some(VMCS_REGION), "{name}: current VMCS unchanged");
        assert_eq!(r.error(), 0, "{name}: no VM-instruction error");
        assert_eq!(r.s.read(SCRATCH, 8), 0, "{name}: no memory written (VMPTRST)");
    }
}

#[test]
fn vmxon_and_vmcall_outside_vmx_operation_in_compatibility_mode_are_ud() {
    // VMXON with CR4.VMXE = 1 outside VMX operation would enter it; compatibility mode is #UD
    // first. The others are #UD outside VMX operation in any mode.
    for (name, insn) in INSNS {
        let r = run_compat(false, *insn);
        assert_eq!(r.s.exception_vector(), Some(6), "{name} outside VMX operation in compatibility mode");
        assert!(!hvbench_vmx::state(&r.s.cpu).expect("VMX installed").in_vmx, "{name}: not in VMX operation");
    }
}
