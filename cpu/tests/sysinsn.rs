//! Instruction-level tests of the system ISA: debug exceptions, LAR/LSL/VERR/VERW,
//! SYSENTER/SYSEXIT, INVPCID, RDRAND/RDSEED, RDPID, FSGSBASE, LSS, real-mode far CALL/RETF.
//! Expected values are from the SDM pages cited at each test.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE, STACK_TOP};
use hvbench_cpu::segment::SegReg;
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

fn asm_at(bits: u32, ip: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

fn put(s: &mut Sandbox, addr: u64, bytes: &[u8]) {
    assert!(s.mem.write_bytes(PhysAddr(addr), bytes));
}

fn put64(s: &mut Sandbox, addr: u64, v: u64) {
    assert!(s.mem.write_le(PhysAddr(addr), 8, v));
}

const KERNEL: u64 = CODE_BASE + 0x6000;

/// Code before `target`, assembled at CODE_BASE, and the code at `target`.
fn two_parts(bits: u32, first: impl FnOnce(&mut CodeAssembler, u64) -> Result<(), IcedError>, second: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> (Vec<u8>, u64) {
    // The first part is padded with NOPs up to the target (at CODE_BASE + 0x800).
    let mut a = CodeAssembler::new(bits).unwrap();
    let target = CODE_BASE + 0x800;
    first(&mut a, target).unwrap();
    let mut code = a.assemble(CODE_BASE).unwrap();
    code.resize(0x800, 0x90);
    code.extend(asm_at(bits, target, second));
    (code, target)
}

#[test]
fn instruction_breakpoint_is_a_fault_and_rf_lets_the_handler_resume() {
    // SDM Vol. 3A 18.3.1.1: instruction breakpoints are faults (RIP = the instruction);
    // RF=1 in the IRET image suppresses the breakpoint for one instruction, then RF clears.
    let (code, target) = two_parts(
        64,
        |a, t| {
            a.mov(rax, t)?;
            a.mov(dr0, rax)?;
            a.mov(eax, 1)?; // L0, R/W0=00, LEN0=00
            a.mov(dr7, rax)?;
            a.mov(rax, t)?;
            a.jmp(rax)
        },
        |a| {
            a.mov(ebx, 5)?;
            a.pushfq()?;
            a.pop(r14)?;
            a.hlt()
        },
    );
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    // #DB handler: count, set RF in the image, IRETQ.
    let handler = asm_at(64, KERNEL, |a| {
        a.inc(r15)?;
        a.mov(rax, dr6)?;
        a.mov(r13, rax)?;
        a.or(qword_ptr(rsp + 16), 0x10000)?;
        a.iretq()
    });
    put(&mut s, KERNEL, &handler);
    let lo = (KERNEL & 0xffff) | (0x08 << 16) | (0x8eu64 << 40) | ((KERNEL >> 16 & 0xffff) << 48);
    put64(&mut s, 0x2000 + 16, lo);
    put64(&mut s, 0x2000 + 24, 0);
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.cpu.state.rip, target + 5 + 1 + 2 + 1, "halted at the end of the target code");
    assert_eq!(s.cpu.state.gpr[15], 1, "exactly one #DB");
    assert_eq!(s.cpu.state.gpr[13] & 0xf, 1, "DR6.B0");
    assert_eq!(s.cpu.state.gpr[3], 5);
    assert_eq!(s.cpu.state.gpr[14] & 0x10000, 0, "RF cleared after the resumed instruction");
}

#[test]
fn data_write_breakpoint_traps_after_the_write_and_ignores_reads() {
    // SDM 18.2.4 (R/W=01: data writes only; LEN=11: 4 bytes), 18.3.1.2 (trap after).
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(rax, DATA_BASE + 4)?;
        a.mov(dr1, rax)?;
        a.mov(eax, (1 << 2) | (1 << 20) | (3 << 22))?;
        a.mov(dr7, rax)?;
        a.mov(rbx, DATA_BASE)?;
        a.mov(rcx, qword_ptr(rbx))?; // read: no #DB
        a.mov(qword_ptr(rbx), rax)?; // 8-byte write overlapping DR1's 4 bytes
        a.mov(edx, 7)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(1));
    assert_eq!(s.cpu.state.dr[6] & 0xf, 2, "DR6.B1");
    assert_ne!(s.cpu.state.gpr[2], 7);
    let top = s.cpu.state.gpr[4];
    let after_write = CODE_BASE + 10 + 3 + 5 + 3 + 10 + 3 + 3;
    assert_eq!(s.read(top, 8), after_write, "trap: RIP of the next instruction");
}

#[test]
fn single_step_uses_tf_from_before_the_instruction() {
    // SDM 18.3.1.4: POPF that sets TF does not trap after itself; the next instruction does.
    let code = asm_at(64, CODE_BASE, |a| {
        a.pushfq()?;
        a.or(qword_ptr(rsp), 0x100)?;
        a.popfq()?;
        a.mov(eax, 1)?;
        a.mov(ebx, 2)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(1));
    assert_ne!(s.cpu.state.dr[6] & (1 << 14), 0, "DR6.BS");
    assert_eq!(s.cpu.state.gpr[0], 1);
    assert_ne!(s.cpu.state.gpr[3], 2);
    let top = s.cpu.state.gpr[4];
    // pushfq (9C), or qword [rsp], 0x100 (48 81 0C 24 imm32), popfq (9D), mov eax, 1 (5).
    assert_eq!(s.read(top, 8), CODE_BASE + 1 + 8 + 1 + 5);
    assert_ne!(s.read(top + 16, 8) & 0x100, 0, "TF set in the pushed RFLAGS");
}

#[test]
fn mov_ss_delays_the_single_step_trap_by_one_instruction() {
    // SDM Vol. 3A 6.8.3: a #DB after MOV SS is held until after the next instruction.
    let (code, target) = two_parts(
        64,
        |a, t| {
            a.push(0x10)?;
            a.push(STACK_TOP as i32)?;
            a.push(0x102)?; // TF
            a.push(0x08)?;
            a.mov(rax, t)?;
            a.push(rax)?;
            a.mov(eax, 0x10)?;
            a.iretq()
        },
        |a| {
            a.mov(ss, ax)?;
            a.mov(ecx, 1)?;
            a.mov(edx, 2)?;
            a.hlt()
        },
    );
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(1));
    assert_eq!(s.cpu.state.gpr[1], 1);
    assert_ne!(s.cpu.state.gpr[2], 2);
    let top = s.cpu.state.gpr[4];
    let mov_ss_len = asm_at(64, 0, |a| a.mov(ss, ax)).len() as u64;
    assert_eq!(s.read(top, 8), target + mov_ss_len + 5);
}

#[test]
fn lar_lsl_verr_verw() {
    // SDM "LAR" (access rights = descriptor[63:32] AND 00FxFF00H), "LSL", "VERR/VERW",
    // valid types in IA-32e mode; RPL/DPL rule of 5.10.1.
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(ecx, 0x08)?;
        a.lar(eax, ecx)?;
        a.setz(r8b)?;
        a.mov(ecx, 0x10)?;
        a.lsl(edx, ecx)?;
        a.setz(r9b)?;
        a.mov(ecx, 0x13)?; // RPL 3 > DPL 0
        a.mov(ebx, 0x77)?;
        a.lar(ebx, ecx)?;
        a.setz(r10b)?;
        a.mov(ecx, 0x50)?; // interrupt gate: not valid for LAR
        a.lar(esi, ecx)?;
        a.setz(r11b)?;
        a.mov(ecx, 0x2b)?;
        a.verr(cx)?;
        a.setz(r12b)?;
        a.mov(ecx, 0x08)?;
        a.verw(cx)?;
        a.setz(r13b)?;
        a.mov(ecx, 0x08)?;
        a.verr(cx)?;
        a.setz(r14b)?;
        a.mov(ecx, 0x40)?; // 64-bit TSS
        a.lsl(edi, ecx)?;
        a.setz(r15b)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    put64(&mut s, 0x1050, 0x0000_8e00_0008_0000);
    s.cpu.state.gdtr.limit = 0x57;
    s.run(100);
    let g = s.cpu.state.gpr;
    assert_eq!(g[0], 0x00af_9a00, "LAR of the 64-bit code descriptor 0x00af9a000000ffff");
    assert_eq!(g[8] & 0xff, 1);
    assert_eq!(g[2], 0xffff_ffff, "LSL: G=1 limit");
    assert_eq!(g[9] & 0xff, 1);
    assert_eq!((g[3], g[10] & 0xff), (0x77, 0), "RPL > DPL: ZF=0, destination unchanged");
    assert_eq!(g[11] & 0xff, 0, "interrupt gate is not valid for LAR");
    assert_eq!(g[12] & 0xff, 1, "VERR ring-3 data");
    assert_eq!(g[13] & 0xff, 0, "VERW of code");
    assert_eq!(g[14] & 0xff, 1, "VERR of readable code");
    assert_eq!((g[7], g[15] & 0xff), (0x67, 1), "LSL of the TSS");
}

#[test]
fn sysenter_and_sysexit_in_protected_mode() {
    // SDM "SYSENTER"/"SYSEXIT": CS = SYSENTER_CS (SS +8) at CPL 0; SYSEXIT: CS =
    // SYSENTER_CS+16, SS = +24, RPL 3; ESP = ECX, EIP = EDX.
    let user = CODE_BASE + 0x4000;
    let code = asm_at(32, CODE_BASE, |a| {
        for (msr, v) in [(0x174u32, 0x18u32), (0x175, STACK_TOP as u32), (0x176, KERNEL as u32)] {
            a.mov(ecx, msr)?;
            a.mov(eax, v)?;
            a.xor(edx, edx)?;
            a.wrmsr()?;
        }
        a.mov(ecx, (DATA_BASE + 0x8000) as u32)?;
        a.mov(edx, user as u32)?;
        a.sysexit()
    });
    let mut s = Sandbox::new(SandboxMode::Protected32, &code);
    put(&mut s, user, &asm_at(32, user, |a| {
        a.mov(ax, cs)?;
        a.mov(word_ptr(DATA_BASE as u32), ax)?;
        a.mov(word_ptr(DATA_BASE as u32 + 2), ss)?;
        a.mov(dword_ptr(DATA_BASE as u32 + 4), esp)?;
        a.sysenter()
    }));
    put(&mut s, KERNEL, &asm_at(32, KERNEL, |a| a.hlt()));
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.read(DATA_BASE, 2), 0x2b);
    assert_eq!(s.read(DATA_BASE + 2, 2), 0x33);
    assert_eq!(s.read(DATA_BASE + 4, 4), DATA_BASE + 0x8000);
    let st = &s.cpu.state;
    assert_eq!((st.cpl, st.seg(SegReg::Cs).selector, st.seg(SegReg::Ss).selector), (0, 0x18, 0x20));
    assert_eq!((st.gpr[4], st.rip), (STACK_TOP, KERNEL + 1));
    // IA32_SYSENTER_CS = 0: #GP(0).
    let mut s = Sandbox::new(SandboxMode::Protected32, &asm_at(32, CODE_BASE, |a| a.sysenter()));
    s.run(10);
    assert_eq!(s.exception_vector(), Some(13));
}

#[test]
fn invpcid_flushes_and_checks_its_operands() {
    // SDM "INVPCID": type 0 invalidates one address; type > 3 and non-canonical addresses
    // are #GP(0).
    let va = 0x80_0000_0000u64;
    let run = |body: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>| {
        let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, body));
        put64(&mut s, 0x10008, 0x40000 | 7);
        put64(&mut s, 0x40000, 0x41000 | 7);
        put64(&mut s, 0x41000, 0x42000 | 7);
        put64(&mut s, 0x42000, 0x50_0000 | 3);
        put64(&mut s, 0x50_0000, 0xaaaa);
        put64(&mut s, 0x60_0000, 0xbbbb);
        put64(&mut s, DATA_BASE + 8, va);
        s.run(100);
        s
    };
    let s = run(&|a| {
        a.mov(rbx, va)?;
        a.mov(rax, qword_ptr(rbx))?;
        a.mov(rcx, 0x42000u64)?;
        a.mov(qword_ptr(rcx), 0x60_0003)?;
        a.xor(edx, edx)?;
        a.mov(rsi, DATA_BASE)?;
        a.invpcid(rdx, xmmword_ptr(rsi))?;
        a.mov(rdi, qword_ptr(rbx))?;
        a.hlt()
    });
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.cpu.state.gpr[0], 0xaaaa);
    assert_eq!(s.cpu.state.gpr[7], 0xbbbb, "the new mapping is used after INVPCID type 0");
    let s = run(&|a| {
        a.mov(edx, 4)?;
        a.mov(rsi, DATA_BASE)?;
        a.invpcid(rdx, xmmword_ptr(rsi))
    });
    assert_eq!(s.exception_vector(), Some(13), "type 4");
    let s = run(&|a| {
        a.mov(rax, 0x8000_0000_0000u64)?;
        a.mov(rsi, DATA_BASE)?;
        a.mov(qword_ptr(rsi + 8), rax)?;
        a.xor(edx, edx)?;
        a.invpcid(rdx, xmmword_ptr(rsi))
    });
    assert_eq!(s.exception_vector(), Some(13), "non-canonical address");
    let s = run(&|a| {
        a.mov(rsi, DATA_BASE)?;
        a.mov(qword_ptr(rsi), 1)?;
        a.mov(edx, 1)?;
        a.invpcid(rdx, xmmword_ptr(rsi))
    });
    assert_eq!(s.exception_vector(), Some(13), "PCID 1 with CR4.PCIDE=0");
}

#[test]
fn rdrand_rdseed_are_deterministic_and_set_cf() {
    // SDM "RDRAND": CF=1 with a valid value; OF, SF, ZF, AF, PF cleared.
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(eax, 0xffff_ffffu32)?;
        a.add(eax, 1)?; // ZF=1, CF=1 -> then cleared/set by RDRAND
        a.rdrand(rbx)?;
        a.pushfq()?;
        a.pop(r8)?;
        a.rdseed(rcx)?;
        a.mov(rdx, -1i64)?;
        a.rdrand(dx)?;
        a.hlt()
    });
    let mut s1 = Sandbox::new(SandboxMode::Long64, &code);
    let mut s2 = Sandbox::new(SandboxMode::Long64, &code);
    s1.run(100);
    s2.run(100);
    let (g1, g2) = (s1.cpu.state.gpr, s2.cpu.state.gpr);
    assert_eq!((g1[3], g1[1], g1[2]), (g2[3], g2[1], g2[2]), "same seed, same values");
    assert_ne!(g1[3], g1[1]);
    assert_eq!(g1[8] & 0x8d5, 1, "CF=1, OF/SF/ZF/AF/PF=0");
    assert_eq!(g1[2] >> 16, 0xffff_ffff_ffff, "16-bit RDRAND keeps bits 63:16");
}

#[test]
fn rdpid_and_fsgsbase() {
    // SDM "RDPID" (IA32_TSC_AUX), "WRFSBASE" (#UD when CR4.FSGSBASE=0; non-canonical for the 57-bit maximum width: #GP).
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(ecx, 0xc000_0103u32)?;
        a.mov(eax, 0x1234)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.rdpid(r8)?;
        a.mov(rax, cr4)?;
        a.or(eax, 1 << 16)?;
        a.mov(cr4, rax)?;
        a.mov(rax, 0x1234_5678_9000u64)?;
        a.wrgsbase(rax)?;
        a.rdgsbase(r9)?;
        a.mov(eax, 0xdead_b000u32)?;
        a.wrfsbase(eax)?;
        a.rdfsbase(r10)?;
        a.mov(rax, 0x0100_0000_0000_0000u64)?;
        a.wrfsbase(rax)
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(13), "non-canonical WRFSBASE");
    let g = s.cpu.state.gpr;
    assert_eq!(g[8], 0x1234);
    assert_eq!(g[9], 0x1234_5678_9000);
    assert_eq!(g[10], 0xdead_b000);
    assert_eq!(s.cpu.state.seg(SegReg::Fs).base, 0xdead_b000);
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| a.rdfsbase(rax)));
    s.run(10);
    assert_eq!(s.exception_vector(), Some(6), "CR4.FSGSBASE=0");
}

#[test]
fn lss_and_real_mode_far_call_and_retf() {
    // SDM "LDS/LES/LFS/LGS/LSS" and "CALL"/"RET" in real-address mode.
    let code = asm_at(16, 0x10, |a| {
        a.mov(ax, 0x2000)?;
        a.mov(ds, ax)?;
        a.lss(esp, ptr(0x0))?; // m16:32 at 2000:0000
        a.call_far(0x1000, 0x0)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Real, &code);
    put(&mut s, 0x20000, &[0x00, 0x60, 0, 0, 0x00, 0x00]); // ESP = 0x6000, SS = 0
    put(&mut s, 0x10000, &asm_at(16, 0, |a| {
        a.mov(bx, 0x4321)?;
        a.retf()
    }));
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.cpu.state.gpr[3] & 0xffff, 0x4321);
    assert_eq!(s.cpu.state.gpr[4], 0x6000, "stack balanced after RETF");
    assert_eq!(s.read(0x6000 - 2, 2), 0xffff, "CALL pushed CS");
    assert_eq!(s.cpu.state.seg(SegReg::Cs).selector, 0xffff);
}

#[test]
fn monitor_mwait_at_cpl0_and_ud_at_cpl3() {
    // SDM "MONITOR"/"MWAIT": ECX extensions other than MWAIT ECX[0] are #GP(0); CPL > 0 is
    // #UD. MWAIT returns at once here (a wake-up for an implementation-specific reason).
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(rax, DATA_BASE)?;
        a.xor(ecx, ecx)?;
        a.xor(edx, edx)?;
        a.monitor()?;
        a.mov(ecx, 1)?;
        a.mwait()?;
        a.mov(ebx, 9)?;
        a.mov(ecx, 2)?;
        a.mwait()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.cpu.state.gpr[3], 9, "MWAIT returned");
    assert_eq!(s.exception_vector(), Some(13), "MWAIT ECX bit 1");
    let user = CODE_BASE + 0x4000;
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| {
        a.push(0x2b)?;
        a.push((DATA_BASE + 0x8000) as i32)?;
        a.push(2)?;
        a.push(0x33)?;
        a.push(user as i32)?;
        a.iretq()
    }));
    put(&mut s, user, &asm_at(64, user, |a| a.mwait()));
    s.run(100);
    assert_eq!(s.exception_vector(), Some(6));
}
