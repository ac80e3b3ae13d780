//! Guest programs for the CPU benchmarks, shared by the criterion suite (`benches/cpu.rs`) and
//! the `ips` printer: each builds a [`Sandbox`] in 64-bit mode (identity paging with 2-MiB
//! pages) and says how many guest instructions one run retires.
//!
//! The instruction sequences themselves live in `hvbench::bench::workloads`, which the
//! `hvbench bench` kernels also use, so the criterion figures and the hvbench/Bochs ratios
//! measure the same guest code.

use hvbench::bench::workloads::Kind;
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use iced_x86::code_asm::*;

/// A prepared guest program.
pub struct Workload {
    /// The machine, ready at the program's first instruction.
    pub sandbox: Sandbox,
    /// Instructions one run retires up to and including the final HLT.
    pub instructions: u64,
}

/// `kind` run `count` times, then HLT.
fn build(kind: Kind, count: u32) -> Workload {
    let mut a = CodeAssembler::new(64).expect("64-bit assembler");
    kind.emit(&mut a, count, DATA_BASE).expect("benchmark program assembles");
    a.hlt().expect("benchmark program assembles");
    let code = a.assemble(CODE_BASE).expect("benchmark program assembles");
    Workload { sandbox: Sandbox::new(SandboxMode::Long64, &code), instructions: kind.instructions(count) + 1 }
}

/// (a) A tight register loop: `add rax, rdx; add rdx, 3; dec rcx; jnz` for `iterations`.
pub fn register_loop(iterations: u32) -> Workload {
    build(Kind::RegisterLoop, iterations)
}

/// (b) Load, add, store over a 1-MiB array of u64 with paging on, `passes` times.
pub fn array_loop(passes: u32) -> Workload {
    build(Kind::ArrayLoop, passes)
}

/// (c) A load from a new 4-KiB page every four instructions across 48 MiB (12,288 pages,
/// far more than the TLB holds), so most accesses miss the TLB and walk (the Sandbox maps
/// 2-MiB pages, which the TLB caches as 4-KiB pieces).
pub fn page_stride_loop(passes: u32) -> Workload {
    build(Kind::PageStride, passes)
}

impl Workload {
    /// Runs to the final HLT and returns the instructions retired.
    pub fn run(&mut self) -> u64 {
        let before = self.sandbox.cpu.retired;
        self.sandbox.run(u64::MAX);
        self.sandbox.cpu.retired - before
    }
}
