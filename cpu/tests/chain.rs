//! The jump cache (blocks reached by RIP without a full fetch) must follow every change of
//! what a fetch at that RIP finds: a remapped code page after INVLPG or MOV CR3 (SDM Vol. 3A
//! 4.10.4.1: both invalidate the TLB entries for the page), and code rewritten in memory
//! (SDM Vol. 3A 11.6 "Self-Modifying Code").

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::Activity;
use iced_x86::code_asm::*;

/// Linear address of the remapped 2-MiB region (1 GiB: PDPT entry 1, PD at 0x13000, entry 0).
const REMAPPED: u64 = 0x4000_0000;
/// The PD entry that maps it (see the sandbox's memory map).
const PD_ENTRY: u64 = 0x13000;
/// Physical 2-MiB regions holding the two versions of the called function.
const FUNC_A: u64 = 0x60_0000;
const FUNC_B: u64 = 0x80_0000;

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// Calls the function at [`REMAPPED`] twice, remaps the region to the other function, flushes
/// with `flush`, calls twice more: RBX sums the four results.
fn remap_test(flush: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> u64 {
    let code = asm(|a| {
        a.xor(ebx, ebx)?;
        a.mov(r12, REMAPPED)?;
        for _ in 0..2 {
            a.call(r12)?;
            a.add(rbx, rax)?;
        }
        a.mov(rdi, PD_ENTRY)?;
        a.mov(qword_ptr(rdi), r13)?;
        flush(a)?;
        for _ in 0..2 {
            a.call(r12)?;
            a.add(rbx, rax)?;
        }
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    // mov eax, 1 / mov eax, 2; ret
    s.mem.write_bytes(hvbench_mmu::PhysAddr(FUNC_A), &[0xb8, 1, 0, 0, 0, 0xc3]);
    s.mem.write_bytes(hvbench_mmu::PhysAddr(FUNC_B), &[0xb8, 2, 0, 0, 0, 0xc3]);
    let flags = s.read(PD_ENTRY, 8) & 0x1fff;
    s.mem.write_le(hvbench_mmu::PhysAddr(PD_ENTRY), 8, FUNC_A | flags);
    s.cpu.state.gpr[13] = FUNC_B | flags;
    s.run(1000);
    assert_eq!(s.cpu.state.activity, Activity::Halted, "exception {:?}", s.exception_vector());
    s.cpu.state.gpr[3]
}

#[test]
fn invlpg_of_a_remapped_code_page_is_seen_by_the_next_call() {
    assert_eq!(remap_test(|a| a.invlpg(qword_ptr(r12))), 1 + 1 + 2 + 2);
}

#[test]
fn cr3_reload_after_remapping_a_code_page_is_seen_by_the_next_call() {
    assert_eq!(
        remap_test(|a| {
            a.mov(rax, cr3)?;
            a.mov(cr3, rax)
        }),
        1 + 1 + 2 + 2
    );
}

#[test]
fn a_loop_sees_the_function_it_rewrites() {
    const FUNC: u64 = DATA_BASE + 0x1000;
    let code = asm(|a| {
        let mut top = a.create_label();
        a.xor(ebx, ebx)?;
        a.mov(ecx, 3)?;
        a.mov(r12, FUNC)?;
        a.set_label(&mut top)?;
        a.call(r12)?;
        a.add(rbx, rax)?;
        // Rewrite the immediate of the function's MOV EAX.
        a.mov(byte_ptr(r12 + 1), 5)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.mem.write_bytes(hvbench_mmu::PhysAddr(FUNC), &[0xb8, 1, 0, 0, 0, 0xc3]);
    s.run(1000);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.cpu.state.gpr[3], 1 + 5 + 5);
}

#[test]
fn budgets_stay_exact_inside_chained_blocks() {
    // A register loop of 4-instruction iterations: every budget ends exactly where it says.
    let code = asm(|a| {
        let mut top = a.create_label();
        a.mov(ecx, 1000)?;
        a.set_label(&mut top)?;
        a.add(rax, rdx)?;
        a.add(rdx, 3)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    for budget in [1u64, 2, 3, 5, 7, 11, 13, 100] {
        let before = s.cpu.retired;
        s.cpu.run(&mut s.mem, &mut hvbench_mmu::EmptyBus, budget);
        assert_eq!(s.cpu.retired - before, budget);
    }
    // 142 instructions retired: MOV, then 35 iterations and the first ADD of the 36th.
    assert_eq!(s.cpu.retired, 142);
    assert_eq!(s.cpu.state.gpr[1], 1000 - 35);
}
