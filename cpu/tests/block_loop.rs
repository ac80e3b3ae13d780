//! The block loop's shortcuts (simple instructions counted per block, simple stores checked
//! only for device writes and code writes, blocks that branch to their own start rerun
//! without a lookup) must keep the exact semantics: a budget of N steps stops after exactly N
//! instructions, and a store into the running loop's own code is seen by the next iteration
//! (SDM Vol. 3A 11.6 "Self-Modifying Code").

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::{Activity, StopReason};
use iced_x86::code_asm::*;

/// `mov ecx, 1000; top: add rax, 1; mov [rdi], rax; add rbx, 2; dec rcx; jnz top; hlt`.
fn counting_loop() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    a.mov(ecx, 1000).unwrap();
    a.mov(rdi, DATA_BASE).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(rax, 1).unwrap();
    a.mov(qword_ptr(rdi), rax).unwrap();
    a.add(rbx, 2).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// The addresses of the instructions of `code` (at [`CODE_BASE`]).
fn starts(code: &[u8]) -> Vec<u64> {
    let mut d = iced_x86::Decoder::with_ip(64, code, CODE_BASE, iced_x86::DecoderOptions::NONE);
    let mut v = Vec::new();
    while d.can_decode() {
        v.push(d.decode().ip());
    }
    v
}

#[test]
fn budgets_stop_after_exactly_n_instructions_in_self_looping_blocks() {
    for budget in [1u64, 2, 3, 4, 7, 8, 12, 13, 101, 502, 1999] {
        let mut s = Sandbox::new(SandboxMode::Long64, &counting_loop());
        assert_eq!(s.run(budget), StopReason::Budget, "budget {budget}");
        assert_eq!(s.cpu.steps, budget);
        assert_eq!(s.cpu.retired, budget);
        // Instruction k (0-based) of the run: 0 and 1 set up, then 5 per iteration.
        let body = budget.saturating_sub(2);
        let (iters, within) = (body / 5, body % 5);
        let adds_rax = iters + (within >= 1) as u64;
        let adds_rbx = iters + (within >= 3) as u64;
        assert_eq!(s.cpu.state.gpr[0], adds_rax, "RAX after {budget}");
        assert_eq!(s.cpu.state.gpr[3], 2 * adds_rbx, "RBX after {budget}");
        let stored = iters + (within >= 2) as u64;
        assert_eq!(s.read(DATA_BASE, 8), stored, "[DATA] after {budget}");
        let starts = starts(&counting_loop());
        let next = if budget < 2 { budget } else { 2 + within };
        assert_eq!(s.cpu.state.rip, starts[next as usize], "RIP after {budget}");
    }
}

#[test]
fn budget_split_over_many_runs_gives_the_same_result() {
    let mut whole = Sandbox::new(SandboxMode::Long64, &counting_loop());
    whole.run(1_000_000);
    assert_eq!(whole.cpu.state.activity, Activity::Halted);
    let mut split = Sandbox::new(SandboxMode::Long64, &counting_loop());
    while split.cpu.state.activity == Activity::Active {
        let at = split.cpu.steps;
        split.run(at + 7);
    }
    assert_eq!(split.cpu.retired, whole.cpu.retired);
    assert_eq!(split.cpu.state.gpr, whole.cpu.state.gpr);
    assert_eq!(whole.cpu.state.gpr[0], 1000);
}

#[test]
fn a_store_into_the_running_loop_is_seen_by_the_next_iteration() {
    // top: add rbx, imm8 (1 at first) ; mov byte [imm8], cl ; dec rcx ; jnz top ; hlt
    // with RCX = 3, 2, 1: the additions are 1, 3, 2. The block at `top` branches to its own
    // start, so the last iteration tests that the rerun notices the store of the one before.
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    a.mov(ecx, 3).unwrap();
    a.set_label(&mut top).unwrap();
    a.add(rbx, 1).unwrap(); // 48 83 C3 01: the immediate is the 4th byte
    a.mov(byte_ptr(CODE_BASE + 5 + 3), cl).unwrap();
    a.dec(rcx).unwrap();
    a.jnz(top).unwrap();
    a.hlt().unwrap();
    let code = a.assemble(CODE_BASE).unwrap();
    assert_eq!(&code[5..9], &[0x48, 0x83, 0xc3, 0x01]);
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(1000);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.cpu.state.gpr[3], 1 + 3 + 2, "each iteration adds the immediate the one before stored");
}
