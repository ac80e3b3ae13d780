//! RDPMC (SDM Vol. 2B "RDPMC—Read Performance-Monitoring Counters") on a CPU model without
//! performance-monitoring counters: CPUID leaf 0AH is all zero (Vol. 3B 21.2 "Architectural
//! Performance Monitoring": version ID 0, no general-purpose or fixed-function counters), so
//! no ECX names a supported counter and RDPMC raises #GP(0) in every mode and at every CPL,
//! with CR4.PCE set or clear; EDX:EAX are not written. (The VMX side, where the two #GP
//! causes differ in priority against "RDPMC exiting", is in `vmx/tests/common/
//! cases_vmxexits.rs`.)
//!
//! QEMU TCG is no oracle here: QEMU 7.2 (`-cpu max`, a multiboot kernel at CPL 0 running
//! RDPMC with ECX = 0 and with ECX = 12345678H) raises #UD and logs "x86: unimplemented
//! rdpmc" (`-d unimp`), where the SDM has a counter read or #GP(0).

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

const GP: u8 = 13;
const USER_CODE: u64 = CODE_BASE + 0x3000;
const USER_STACK: u64 = DATA_BASE + 0x8000;

fn asm_at(bits: u32, ip: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

/// Loads sentinels into EAX/EDX, ECX = `ecx`, RDPMC.
fn rdpmc_with(a: &mut CodeAssembler, ecx_value: u32) -> Result<(), IcedError> {
    a.mov(eax, 0x1111_1111u32)?;
    a.mov(edx, 0x2222_2222u32)?;
    a.mov(ecx, ecx_value)?;
    a.rdpmc()?;
    a.hlt()
}

fn assert_gp_untouched(s: &Sandbox, what: &str) {
    assert_eq!(s.exception_vector(), Some(GP), "{what}: #GP(0)");
    assert_eq!(s.cpu.state.gpr[0] & 0xffff_ffff, 0x1111_1111, "{what}: EAX not written");
    assert_eq!(s.cpu.state.gpr[2] & 0xffff_ffff, 0x2222_2222, "{what}: EDX not written");
}

/// ECX values that name counters on processors that have them (general-purpose 0 and 1,
/// fixed-function 0 and 1 with bit 30, the "fast read" bit 31 of older processors) and one
/// that names none anywhere.
const ECX_VALUES: [u32; 6] = [0, 1, 0x4000_0000, 0x4000_0001, 0x8000_0000, 0x1234_5678];

#[test]
fn cpuid_leaf_0ah_reports_no_performance_monitoring() {
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(eax, 0xa)?;
        a.xor(ecx, ecx)?;
        a.mov(ebx, 0x5555_5555)?;
        a.mov(edx, 0x5555_5555)?;
        a.cpuid()?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!([0, 3, 1, 2].map(|r| s.cpu.state.gpr[r]), [0; 4], "CPUID.0AH: EAX, EBX, ECX, EDX all 0");
    // CPUID.0 reports 0AH as within the basic leaves (maximum 0DH), so leaf 0AH is its own.
    let max = asm_at(64, CODE_BASE, |a| {
        a.xor(eax, eax)?;
        a.cpuid()?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &max);
    s.run(100);
    assert!(s.cpu.state.gpr[0] >= 0xa);
}

#[test]
fn rdpmc_faults_at_cpl0_in_64_bit_mode() {
    for n in ECX_VALUES {
        let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| rdpmc_with(a, n)));
        s.run(100);
        assert_gp_untouched(&s, &format!("64-bit, CPL 0, ECX {n:#x}"));
        assert_eq!(s.cpu.state.gpr[1] & 0xffff_ffff, n as u64);
    }
}

#[test]
fn rdpmc_faults_with_cr4_pce_set() {
    for n in ECX_VALUES {
        let code = asm_at(64, CODE_BASE, |a| {
            a.mov(rax, cr4)?;
            a.or(eax, 1 << 8)?;
            a.mov(cr4, rax)?;
            rdpmc_with(a, n)
        });
        let mut s = Sandbox::new(SandboxMode::Long64, &code);
        s.run(100);
        assert_gp_untouched(&s, &format!("64-bit, CR4.PCE = 1, ECX {n:#x}"));
    }
}

#[test]
fn rdpmc_faults_in_protected_and_real_mode() {
    for (mode, bits) in [(SandboxMode::Protected32, 32), (SandboxMode::Real, 16)] {
        for n in ECX_VALUES {
            let mut s = Sandbox::new(mode, &asm_at(bits, CODE_BASE, |a| rdpmc_with(a, n)));
            s.run(100);
            assert_gp_untouched(&s, &format!("{mode:?}, ECX {n:#x}"));
        }
    }
}

/// Drops to ring 3 at USER_CODE (IRETQ to CS 0x33, SS 0x2B), with CR4.PCE = `pce` first.
fn user_rdpmc(pce: bool, ecx_value: u32) -> Sandbox {
    let code = asm_at(64, CODE_BASE, |a| {
        if pce {
            a.mov(rax, cr4)?;
            a.or(eax, 1 << 8)?;
            a.mov(cr4, rax)?;
        }
        a.push(0x2b)?;
        a.mov(rax, USER_STACK)?;
        a.push(rax)?;
        a.push(0x2)?;
        a.push(0x33)?;
        a.mov(rax, USER_CODE)?;
        a.push(rax)?;
        a.iretq()
    });
    let user = asm_at(64, USER_CODE, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), 3)?;
        a.mov(eax, 0x1111_1111u32)?;
        a.mov(edx, 0x2222_2222u32)?;
        a.mov(ecx, ecx_value)?;
        a.rdpmc()?;
        a.mov(qword_ptr(rbx), 4)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    assert!(s.mem.write_bytes(PhysAddr(USER_CODE), &user));
    s.run(200);
    s
}

#[test]
fn rdpmc_faults_at_cpl3_with_and_without_cr4_pce() {
    // CR4.PCE = 0 at CPL 3: #GP(0) for the privilege check; CR4.PCE = 1: #GP(0) for the
    // counter, which does not exist.
    for pce in [false, true] {
        for n in ECX_VALUES {
            let s = user_rdpmc(pce, n);
            let what = format!("CPL 3, CR4.PCE = {}, ECX {n:#x}", pce as u8);
            assert_eq!(s.read(DATA_BASE, 8), 3, "{what}: ring 3 reached, RDPMC did not complete");
            assert_gp_untouched(&s, &what);
        }
    }
}
