//! The order in which IRET reads its frame and checks the popped code segment (SDM Vol. 2A
//! "IRET/IRETD/IRETQ" Operation). In IA-32e mode ("IA-32e-MODE") all five items — RIP, CS,
//! RFLAGS, RSP, SS — are popped before IA-32e-MODE-RETURN checks the code-segment selector, so
//! a fault reading RSP or SS comes before the #GP for a bad CS. In protected mode a return to an
//! outer level pops EIP, CS and EFLAGS, checks the code segment (PROTECTED-MODE-RETURN), and
//! only then reads ESP and SS (RETURN-TO-OUTER-PRIVILEGE-LEVEL).

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_cpu::segment::SegReg;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

fn asm(bits: u32, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// The sandbox's first page directory (2-MiB pages, identity map of the first GiB).
const PD0: u64 = 0x12000;
/// A 2-MiB page made not present for the test.
const HOLE: u64 = 0x40_0000;

/// A 64-bit sandbox whose stack frame of `n` items of `size` bytes ends exactly at [`HOLE`]
/// (not present), so the item after them faults; the frame's CS is null.
fn frame_before_hole(size: u32, iret: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Sandbox {
    let sz = size as i32;
    let base = HOLE - 4 * size as u64;
    let code = asm(64, |a| {
        a.mov(rsp, base)?;
        if size == 8 {
            a.mov(qword_ptr(rsp), CODE_BASE as i32)?;
            a.mov(qword_ptr(rsp + sz), 0)?; // null CS
            a.mov(qword_ptr(rsp + 2 * sz), 2)?;
            a.mov(qword_ptr(rsp + 3 * sz), 0x3f_f000)?;
        } else {
            a.mov(dword_ptr(rsp), CODE_BASE as i32)?;
            a.mov(dword_ptr(rsp + sz), 0)?;
            a.mov(dword_ptr(rsp + 2 * sz), 2)?;
            a.mov(dword_ptr(rsp + 3 * sz), 0x3f_f000)?;
        }
        iret(a)
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    assert!(s.mem.write_le(PhysAddr(PD0 + 8 * (HOLE >> 21)), 8, 0));
    s
}

#[test]
fn iretq_reads_ss_before_checking_a_null_cs() {
    // RIP, CS (null), RFLAGS and RSP are readable; SS at HOLE is not: #PF with CR2 = HOLE, not
    // the #GP(0) of IA-32e-MODE-RETURN's null-selector check.
    let mut s = frame_before_hole(8, |a| a.iretq());
    s.run(100);
    assert_eq!(s.exception_vector(), Some(14), "the SS read faults first");
    assert_eq!(s.cpu.state.cr2, HOLE);
}

#[test]
fn iretd_in_64bit_mode_reads_ss_before_checking_a_null_cs() {
    // IRETD (operand size 32) in 64-bit mode also pops SS:ESP, before the checks.
    let mut s = frame_before_hole(4, |a| a.iretd());
    s.run(100);
    assert_eq!(s.exception_vector(), Some(14), "the SS read faults first");
    assert_eq!(s.cpu.state.cr2, HOLE);
}

#[test]
fn iretq_with_a_readable_frame_still_checks_cs() {
    // The same null CS with the whole frame readable: #GP(0).
    let mut s = frame_before_hole(8, |a| a.iretq());
    assert!(s.mem.write_le(PhysAddr(PD0 + 8 * (HOLE >> 21)), 8, HOLE | 0x87));
    s.run(100);
    assert_eq!(s.exception_vector(), Some(13));
}

#[test]
fn protected_mode_outer_return_checks_cs_before_reading_ss() {
    // 32-bit protected mode, CPL 0: the frame's CS selector 0003H (null, RPL 3) asks for a return
    // to an outer level; the 12 bytes of EIP/CS/EFLAGS are within SS's limit but ESP and SS are
    // not. PROTECTED-MODE-RETURN's null-selector #GP(0) comes first; the #SS(0) of
    // RETURN-TO-OUTER-PRIVILEGE-LEVEL ("top 8 bytes on stack are not within limits") would come
    // only after it.
    let code = asm(32, |a| {
        a.mov(esp, 0x7000u32)?;
        a.mov(dword_ptr(esp), CODE_BASE as u32)?;
        a.mov(dword_ptr(esp + 4), 3)?;
        a.mov(dword_ptr(esp + 8), 2)?;
        a.iretd()
    });
    let mut s = Sandbox::new(SandboxMode::Protected32, &code);
    // The frame writes (through SS) stay within the limit; the #GP is delivered below ESP.
    s.cpu.state.seg[SegReg::Ss as usize].limit = 0x7000 + 11;
    s.run(100);
    assert_eq!(s.exception_vector(), Some(13), "#GP(0) for the null CS, not #SS");
}
