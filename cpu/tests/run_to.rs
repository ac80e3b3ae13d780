//! `Cpu::run_to`: a run stops at the first instruction boundary at which the cycle count has
//! reached the deadline (the flat cost model: one cycle per instruction), whether the
//! boundary is inside a cached block or at its end, and cutting a run into pieces anywhere
//! gives the state of the uncut run.

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_cpu::{Activity, StopReason};
use iced_x86::code_asm::*;

/// A loop of 8 simple instructions plus DEC/JNZ (a 10-instruction block), 500 times, then HLT.
fn busy_loop() -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut top = a.create_label();
    a.mov(ecx, 500).unwrap();
    a.set_label(&mut top).unwrap();
    for _ in 0..4 {
        a.add(rax, rcx).unwrap();
        a.xor(rbx, rax).unwrap();
    }
    a.dec(ecx).unwrap();
    a.jnz(top).unwrap();
    a.hlt().unwrap();
    a.assemble(CODE_BASE).unwrap()
}

#[test]
fn stops_at_the_first_boundary_at_the_deadline() {
    let code = busy_loop();
    for deadline in [1u64, 2, 3, 9, 10, 11, 12, 37, 100, 1001, 4999] {
        let mut s = Sandbox::new(SandboxMode::Long64, &code);
        let start = s.cpu.cycles;
        let r = s.cpu.run_to(&mut s.mem, &mut s.bus, u64::MAX, start + deadline);
        assert_eq!(r, StopReason::Deadline, "deadline {deadline}");
        // One cycle per instruction: exactly `deadline` instructions ran.
        assert_eq!(s.cpu.cycles - start, deadline, "deadline {deadline}");
        assert_eq!(s.cpu.retired, deadline, "deadline {deadline}");
    }
}

#[test]
fn a_run_cut_anywhere_is_the_uncut_run() {
    let code = busy_loop();
    let mut whole = Sandbox::new(SandboxMode::Long64, &code);
    whole.run(1_000_000);
    assert_eq!(whole.cpu.state.activity, Activity::Halted);
    for cut in [1u64, 7, 10, 11, 333, 2500, 5000] {
        let mut s = Sandbox::new(SandboxMode::Long64, &code);
        let r = s.cpu.run_to(&mut s.mem, &mut s.bus, cut, u64::MAX);
        assert_eq!(r, StopReason::Budget);
        assert_eq!(s.cpu.steps, cut);
        // Then by deadlines every 13 cycles to the end.
        while s.cpu.state.activity == Activity::Active {
            let d = s.cpu.cycles + 13;
            s.cpu.run_to(&mut s.mem, &mut s.bus, u64::MAX, d);
        }
        assert_eq!(s.cpu.state, whole.cpu.state, "cut at {cut}");
        assert_eq!((s.cpu.cycles, s.cpu.retired, s.cpu.steps), (whole.cpu.cycles, whole.cpu.retired, whole.cpu.steps), "cut at {cut}");
    }
}
