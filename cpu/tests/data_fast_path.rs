//! The data fast path (`cpu/src/dtlb.rs`: linear page to RAM page for explicit data accesses
//! in 64-bit mode) must give exactly the results of the full path. Each test first makes the
//! fast path learn a page (two accesses: the first fills it, the second hits), then changes
//! something the access depends on, and checks what the SDM requires:
//! - INVLPG and MOV to CR3 invalidate the translation (Vol. 3A 4.10.4.1): a store then goes to
//!   the newly mapped frame, a load reads it;
//! - a write to a page holding decoded code is seen by the next fetch (Vol. 3A 11.6);
//! - an enabled data breakpoint fires (#DB after the write, Vol. 3A 18.2.4, 18.3.1.2);
//! - a write to a read-only page faults (Vol. 3A 4.6, CR0.WP=1) even after reads of it;
//! - at CPL 3 a supervisor page faults (4.6) even though CPL 0 used it;
//! - at CPL 3 with CR0.AM and RFLAGS.AC a misaligned access raises #AC (6.15 "Interrupt 17")
//!   even after aligned accesses to the page with AC clear.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE, STACK_TOP};
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

/// Linear address of a remappable 2-MiB region (1 GiB: PDPT entry 1, PD at 0x13000, entry 0).
const REMAPPED: u64 = 0x4000_0000;
/// The PD entry that maps it (see the sandbox's memory map).
const PD_ENTRY: u64 = 0x13000;
/// Physical 2-MiB frames it is mapped to.
const FRAME_A: u64 = 0x60_0000;
const FRAME_B: u64 = 0x80_0000;
/// PD entry flags: present, writable, user, 2-MiB page.
const P_RW_US_PS: u64 = 0x87;

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// A 64-bit sandbox running `code` with [`REMAPPED`] mapped to `frame` with `flags`.
fn sandbox(code: &[u8], frame: u64, flags: u64) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, code);
    s.mem.write_le(PhysAddr(PD_ENTRY), 8, frame | flags);
    s
}

fn run_to_hlt(s: &mut Sandbox) {
    s.run(10_000);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
}

/// Stores 1 to [`REMAPPED`] twice through `store` (a MOV from a register: the specialised
/// handler; or from an immediate: the generic one), remaps it to [`FRAME_B`], runs `flush`,
/// stores 7 and loads the value back into RBX.
fn remap_store(flush: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>, from_register: bool) -> Sandbox {
    let code = asm(|a| {
        a.mov(rdi, REMAPPED)?;
        a.mov(ecx, 1)?;
        for _ in 0..2 {
            if from_register {
                a.mov(qword_ptr(rdi), rcx)?;
            } else {
                a.mov(qword_ptr(rdi), 1)?;
            }
            a.mov(rbx, qword_ptr(rdi))?;
        }
        a.mov(rsi, PD_ENTRY)?;
        a.mov(qword_ptr(rsi), r13)?;
        flush(a)?;
        a.mov(ecx, 7)?;
        if from_register {
            a.mov(qword_ptr(rdi), rcx)?;
        } else {
            a.mov(qword_ptr(rdi), 7)?;
        }
        a.mov(rbx, qword_ptr(rdi))?;
        a.hlt()
    });
    let mut s = sandbox(&code, FRAME_A, P_RW_US_PS);
    s.cpu.state.gpr[13] = FRAME_B | P_RW_US_PS;
    run_to_hlt(&mut s);
    s
}

#[test]
fn store_after_invlpg_goes_to_the_new_frame() {
    for from_register in [true, false] {
        let s = remap_store(|a| a.invlpg(qword_ptr(rdi)), from_register);
        assert_eq!(s.read(FRAME_A, 8), 1, "old frame keeps the first stores");
        assert_eq!(s.read(FRAME_B, 8), 7, "the store after INVLPG reaches the new frame");
        assert_eq!(s.cpu.state.gpr[3], 7, "the load after INVLPG reads the new frame");
    }
}

#[test]
fn store_after_cr3_reload_goes_to_the_new_frame() {
    let s = remap_store(
        |a| {
            a.mov(rax, cr3)?;
            a.mov(cr3, rax)
        },
        true,
    );
    assert_eq!(s.read(FRAME_A, 8), 1);
    assert_eq!(s.read(FRAME_B, 8), 7);
    assert_eq!(s.cpu.state.gpr[3], 7);
}

#[test]
fn load_after_invlpg_reads_the_new_frame() {
    let code = asm(|a| {
        a.mov(rdi, REMAPPED)?;
        a.mov(rbx, qword_ptr(rdi))?;
        a.add(rbx, qword_ptr(rdi))?;
        a.mov(rsi, PD_ENTRY)?;
        a.mov(qword_ptr(rsi), r13)?;
        a.invlpg(qword_ptr(rdi))?;
        a.mov(rdx, qword_ptr(rdi))?;
        a.add(rdx, qword_ptr(rdi))?;
        a.hlt()
    });
    let mut s = sandbox(&code, FRAME_A, P_RW_US_PS);
    s.mem.write_le(PhysAddr(FRAME_A), 8, 10);
    s.mem.write_le(PhysAddr(FRAME_B), 8, 100);
    s.cpu.state.gpr[13] = FRAME_B | P_RW_US_PS;
    run_to_hlt(&mut s);
    assert_eq!(s.cpu.state.gpr[3], 20);
    assert_eq!(s.cpu.state.gpr[2], 200);
}

#[test]
fn stores_to_a_page_holding_decoded_code_are_seen_by_the_next_fetch() {
    // The function at FUNC: mov eax, imm32 ; ret. Its page is written (learning the page for
    // writes) before it is first run, then its immediate is rewritten through the fast path.
    const FUNC: u64 = DATA_BASE + 0x1000;
    for from_register in [true, false] {
        let code = asm(|a| {
            a.mov(rdi, FUNC)?;
            a.xor(ebx, ebx)?;
            a.mov(dword_ptr(rdi + 0x100), ecx)?;
            a.mov(dword_ptr(rdi + 0x100), ecx)?;
            a.call(rdi)?;
            a.add(rbx, rax)?;
            a.mov(ecx, 2)?;
            if from_register {
                a.mov(dword_ptr(rdi + 1), ecx)?;
            } else {
                a.mov(dword_ptr(rdi + 1), 2)?;
            }
            a.call(rdi)?;
            a.add(rbx, rax)?;
            a.hlt()
        });
        let mut s = Sandbox::new(SandboxMode::Long64, &code);
        s.mem.write_bytes(PhysAddr(FUNC), &[0xb8, 1, 0, 0, 0, 0xc3]);
        run_to_hlt(&mut s);
        assert_eq!(s.cpu.state.gpr[3], 1 + 2, "the second call runs the rewritten code");
    }
}

#[test]
fn data_breakpoint_enabled_after_the_page_was_learned_fires() {
    const WATCHED: u64 = DATA_BASE + 0x2000;
    let code = asm(|a| {
        a.mov(rdi, WATCHED)?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.mov(dr0, rdi)?;
        // DR7: L0, R/W0 = 01 (data writes), LEN0 = 11 (8 bytes).
        a.mov(eax, 0x000d_0001)?;
        a.mov(dr7, rax)?;
        a.mov(ebx, 1)?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.mov(ebx, 2)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(1), "#DB after the watched write");
    assert_eq!(s.cpu.state.gpr[3], 1, "the trap is taken right after the write");
    assert_eq!(s.cpu.state.dr[6] & 1, 1, "DR6.B0 reports breakpoint 0");
}

#[test]
fn write_to_a_read_only_page_faults_after_reads_of_it() {
    let code = asm(|a| {
        a.mov(rdi, REMAPPED)?;
        a.mov(rbx, qword_ptr(rdi))?;
        a.mov(rbx, qword_ptr(rdi))?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.hlt()
    });
    // Present, user, 2-MiB page, not writable (CR0.WP=1 in the sandbox).
    let mut s = sandbox(&code, FRAME_A, P_RW_US_PS & !2);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(14));
    assert_eq!(s.cpu.state.cr2, REMAPPED);
}

#[test]
fn write_after_the_page_became_read_only_and_invlpg_faults() {
    let code = asm(|a| {
        a.mov(rdi, REMAPPED)?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.mov(rsi, PD_ENTRY)?;
        a.and(qword_ptr(rsi), -3)?;
        a.invlpg(qword_ptr(rdi))?;
        a.mov(qword_ptr(rdi), rcx)?;
        a.hlt()
    });
    let mut s = sandbox(&code, FRAME_A, P_RW_US_PS);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(14));
}

/// Runs `supervisor` at CPL 0, then IRETQ to CPL 3 (RFLAGS = `user_rflags`) and runs `user`.
fn to_user(
    supervisor: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
    user_rflags: u64,
    user: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>,
) -> Vec<u8> {
    asm(|a| {
        let mut ring3 = a.create_label();
        supervisor(a)?;
        a.push(0x2b)?; // SS: ring-3 data
        a.mov(rax, STACK_TOP - 0x2000)?;
        a.push(rax)?;
        a.mov(rax, user_rflags)?;
        a.push(rax)?;
        a.push(0x33)?; // CS: ring-3 64-bit code
        a.lea(rax, ptr(ring3))?;
        a.push(rax)?;
        a.iretq()?;
        a.set_label(&mut ring3)?;
        user(a)?;
        a.hlt()
    })
}

#[test]
fn supervisor_page_learned_at_cpl0_faults_at_cpl3() {
    let code = to_user(
        |a| {
            a.mov(rdi, REMAPPED)?;
            a.mov(rbx, qword_ptr(rdi))?;
            a.mov(rbx, qword_ptr(rdi))?;
            a.mov(qword_ptr(rdi), rbx)?;
            a.mov(qword_ptr(rdi), rbx)
        },
        0x2,
        |a| {
            a.mov(rbx, qword_ptr(rdi))?;
            a.mov(ecx, 1)
        },
    );
    // Present, writable, supervisor-only, 2-MiB page.
    let mut s = sandbox(&code, FRAME_A, P_RW_US_PS & !4);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(14), "user read of a supervisor page");
    assert_eq!(s.cpu.state.cr2, REMAPPED);
    assert_eq!(s.cpu.state.gpr[1], 0, "the instruction after the faulting load did not run");
}

#[test]
fn alignment_check_applies_after_aligned_accesses_with_ac_clear() {
    const DATA: u64 = DATA_BASE + 0x3000;
    let code = to_user(
        |a| {
            a.mov(rax, cr0)?;
            a.bts(rax, 18)?; // CR0.AM
            a.mov(cr0, rax)?;
            a.mov(rdi, DATA)
        },
        0x2,
        |a| {
            a.mov(rbx, qword_ptr(rdi))?;
            a.mov(rbx, qword_ptr(rdi + 1))?;
            a.mov(qword_ptr(rdi + 1), rbx)?;
            a.mov(qword_ptr(rdi + 1), rbx)?;
            a.pushfq()?;
            a.or(qword_ptr(rsp), 1 << 18)?; // RFLAGS.AC
            a.popfq()?;
            a.mov(ecx, 1)?;
            a.mov(rbx, qword_ptr(rdi + 1))?;
            a.mov(ecx, 2)
        },
    );
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(17), "#AC for the misaligned load with AC set");
    assert_eq!(s.cpu.state.gpr[1], 1);
}

#[test]
fn misaligned_store_with_ac_set_faults_after_the_page_was_learned_for_writes() {
    const DATA: u64 = DATA_BASE + 0x3000;
    let code = to_user(
        |a| {
            a.mov(rax, cr0)?;
            a.bts(rax, 18)?;
            a.mov(cr0, rax)?;
            a.mov(rdi, DATA)
        },
        0x2,
        |a| {
            a.mov(qword_ptr(rdi + 1), rbx)?;
            a.mov(qword_ptr(rdi + 1), rbx)?;
            a.pushfq()?;
            a.or(qword_ptr(rsp), 1 << 18)?;
            a.popfq()?;
            a.mov(ecx, 1)?;
            a.mov(qword_ptr(rdi + 1), rbx)?;
            a.mov(ecx, 2)
        },
    );
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(17));
    assert_eq!(s.cpu.state.gpr[1], 1);
}

#[test]
fn read_modify_write_of_a_read_only_page_faults_and_changes_nothing() {
    let code = asm(|a| {
        a.mov(rdi, REMAPPED)?;
        a.mov(rbx, qword_ptr(rdi))?;
        a.add(rbx, qword_ptr(rdi))?;
        a.mov(ecx, 1)?;
        a.xor(eax, eax)?; // ZF=1; the ADD below would clear it
        a.add(qword_ptr(rdi), rcx)?;
        a.hlt()
    });
    let mut s = sandbox(&code, FRAME_A, P_RW_US_PS & !2);
    s.mem.write_le(PhysAddr(FRAME_A), 8, 40);
    s.run(10_000);
    assert_eq!(s.exception_vector(), Some(14));
    assert_eq!(s.read(FRAME_A, 8), 40, "memory unchanged");
    assert_ne!(s.cpu.state.rflags & 0x40, 0, "ZF from the XOR: the faulting ADD changed no flags");
    assert_eq!(s.cpu.state.gpr[3], 80);
}

#[test]
fn memory_alu_forms_through_the_fast_path() {
    const DATA: u64 = DATA_BASE + 0x4000;
    let code = asm(|a| {
        a.mov(rdi, DATA)?;
        a.mov(ecx, 5)?;
        a.mov(edx, 3)?;
        let mut top = a.create_label();
        a.set_label(&mut top)?;
        a.add(qword_ptr(rdi), rcx)?; // 3 x 5
        a.sub(dword_ptr(rdi + 8), 1)?; // 0 - 3, 32-bit
        a.xor(qword_ptr(rdi + 16), -1)?; // flips three times
        a.add(rbx, qword_ptr(rdi))?; // 5 + 10 + 15
        a.dec(edx)?;
        a.jnz(top)?;
        a.cmp(qword_ptr(rdi), 15)?;
        a.sete(al)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    run_to_hlt(&mut s);
    assert_eq!(s.read(DATA, 8), 15);
    assert_eq!(s.read(DATA + 8, 8), 0xffff_fffd, "32-bit SUB leaves the upper dword");
    assert_eq!(s.read(DATA + 16, 8), u64::MAX);
    assert_eq!(s.cpu.state.gpr[3], 30);
    assert_eq!(s.cpu.state.gpr[0] & 0xff, 1, "CMP [mem], imm sets ZF");
}
