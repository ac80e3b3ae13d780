//! Guest programs for the CPU benchmarks, shared by the criterion suite (`benches/cpu.rs`) and
//! `hvbench bench`-style measurements: each builds a [`Sandbox`] in 64-bit mode and says how
//! many guest instructions one run retires.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use iced_x86::code_asm::*;

/// A prepared guest program.
pub struct Workload {
    /// The machine, ready at the program's first instruction.
    pub sandbox: Sandbox,
    /// Instructions one run retires up to and including the final HLT.
    pub instructions: u64,
}

fn build(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).expect("64-bit assembler");
    f(&mut a).expect("benchmark program assembles");
    a.assemble(CODE_BASE).expect("benchmark program assembles")
}

/// (a) A tight register loop: `add rax, rdx; add rdx, 3; dec rcx; jnz` for `iterations`.
pub fn register_loop(iterations: u32) -> Workload {
    let code = build(|a| {
        let mut top = a.create_label();
        a.mov(ecx, iterations)?;
        a.set_label(&mut top)?;
        a.add(rax, rdx)?;
        a.add(rdx, 3)?;
        a.dec(rcx)?;
        a.jnz(top)?;
        a.hlt()
    });
    Workload { sandbox: Sandbox::new(SandboxMode::Long64, &code), instructions: 2 + 4 * iterations as u64 }
}

/// (b) Load, add, store over a 1-MiB array of u64 with paging on, `passes` times.
pub fn array_loop(passes: u32) -> Workload {
    const WORDS: u32 = (1 << 20) / 8;
    let code = build(|a| {
        let mut pass = a.create_label();
        let mut top = a.create_label();
        a.mov(r8d, passes)?;
        a.set_label(&mut pass)?;
        a.mov(rsi, DATA_BASE)?;
        a.mov(ecx, WORDS)?;
        a.set_label(&mut top)?;
        a.mov(rax, qword_ptr(rsi))?;
        a.add(rax, rcx)?;
        a.mov(qword_ptr(rsi), rax)?;
        a.add(rsi, 8)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.dec(r8d)?;
        a.jnz(pass)?;
        a.hlt()
    });
    let per_pass = 2 + 6 * WORDS as u64 + 2;
    Workload { sandbox: Sandbox::new(SandboxMode::Long64, &code), instructions: 1 + per_pass * passes as u64 + 1 }
}

/// (c) A load from a new 4-KiB page every four instructions across 48 MiB (12,288 pages,
/// far more than the TLB holds), so most accesses miss the TLB and walk.
pub fn page_stride_loop(passes: u32) -> Workload {
    const PAGES: u32 = 48 << 8;
    let code = build(|a| {
        let mut pass = a.create_label();
        let mut top = a.create_label();
        a.mov(r8d, passes)?;
        a.set_label(&mut pass)?;
        a.mov(rsi, DATA_BASE)?;
        a.mov(ecx, PAGES)?;
        a.set_label(&mut top)?;
        a.add(rax, qword_ptr(rsi))?;
        a.add(rsi, 4096)?;
        a.dec(ecx)?;
        a.jnz(top)?;
        a.dec(r8d)?;
        a.jnz(pass)?;
        a.hlt()
    });
    let per_pass = 2 + 4 * PAGES as u64 + 2;
    Workload { sandbox: Sandbox::new(SandboxMode::Long64, &code), instructions: 1 + per_pass * passes as u64 + 1 }
}

impl Workload {
    /// Runs to the final HLT and returns the instructions retired.
    pub fn run(&mut self) -> u64 {
        let before = self.sandbox.cpu.retired;
        self.sandbox.run(u64::MAX);
        self.sandbox.cpu.retired - before
    }
}
