//! Determinism: the same run gives byte-identical serial output, vCPU states and counters,
//! RAM and trace, run after run, and whatever rayon thread pool runs machines in parallel.
//! The kernel is tests/kernels/race.S on 4 vCPUs with the periodic APIC timer: its output
//! (a counter with lost updates, the timer count, the order of the APs' log entries) depends
//! on exactly how the vCPUs interleave.

mod common;

use hvbench::{Machine, Outcome, snapshot, trace};
use hvbench_cpu::CpuState;
use rayon::prelude::*;
use std::path::Path;
use std::process::Command;

/// Everything a run produces.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    outcome: Outcome,
    serial: Vec<u8>,
    states: Vec<CpuState>,
    counters: Vec<(u64, u64, u64)>,
    ram: u64,
    trace: Vec<String>,
}

fn run(elf: &Path) -> Run {
    let mut m: Machine = common::machine(elf, 4, Some(100_000_000), true);
    let outcome = m.run();
    let trace = m.take_records().iter().map(trace::line).collect();
    Run {
        outcome,
        serial: common::serial(&m),
        states: m.cpus.iter().map(|c| c.state.clone()).collect(),
        counters: m.cpus.iter().map(|c| (c.cycles, c.retired, c.steps)).collect(),
        ram: snapshot::ram_hash(&m),
        trace,
    }
}

#[test]
fn the_same_run_twice_is_identical() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let a = run(&elf);
    assert_eq!(a.outcome, Outcome::PowerOff, "{}", String::from_utf8_lossy(&a.serial));
    let text = String::from_utf8_lossy(&a.serial);
    assert!(text.contains("counter=") && text.contains("log="), "{text}");
    // 3 APs x 20 log entries.
    let log = text.lines().find_map(|l| l.strip_prefix("log=")).unwrap();
    assert_eq!(log.len(), 60, "{text}");
    assert!(!a.trace.is_empty(), "the run traces interrupts and mode changes");
    let b = run(&elf);
    assert_eq!(a, b);
}

#[test]
fn parallel_machines_match_the_sequential_run_for_any_thread_count() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let reference = run(&elf);
    for threads in [1, 2, 4] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let runs: Vec<Run> = pool.install(|| (0..4).into_par_iter().map(|_| run(&elf)).collect());
        for (i, r) in runs.iter().enumerate() {
            assert!(*r == reference, "{threads} threads, machine {i} differs from the sequential run");
        }
    }
}

#[test]
fn the_cli_writes_identical_trace_files() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let dir = std::env::temp_dir();
    let mut outputs = Vec::new();
    for n in 0..2 {
        let (trace, serial) = (dir.join(format!("hvbench-det-{}-{n}.trace", std::process::id())), dir.join(format!("hvbench-det-{}-{n}.out", std::process::id())));
        let o = Command::new(env!("CARGO_BIN_EXE_hvbench"))
            .args(["run", "--smp", "4", "--trace"])
            .arg(&trace)
            .arg("--serial")
            .arg(&serial)
            .arg(&elf)
            .output()
            .expect("hvbench runs");
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        outputs.push((std::fs::read(&trace).unwrap(), std::fs::read(&serial).unwrap()));
        std::fs::remove_file(&trace).ok();
        std::fs::remove_file(&serial).ok();
    }
    assert!(!outputs[0].0.is_empty());
    assert_eq!(outputs[0], outputs[1]);
}
