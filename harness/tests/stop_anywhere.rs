//! Stopping a run anywhere and going on gives exactly the uninterrupted run: the same serial
//! output, the same final vCPU states and counters, the same final snapshot bytes.
//!
//! Device interrupts arrive at a virtual time, and a vCPU must see them at an instruction
//! boundary that depends only on virtual time and the guest, never on where a run was cut
//! (a budget, `run_until(Steps(n))`, a snapshot at step n restored into a fresh machine).
//! The kernels: tests/kernels/ticks.S (PIT, RTC, COM1 and APIC timer interrupts during a
//! busy loop with time-dependent port reads; it prints where and when each interrupt came),
//! pcdevices.S and race.S (4 vCPUs: APIC timer, IPIs, the interleaving shows in the output).
//! Stop points: every prime up to a few thousand and pseudo-random ones from a fixed seed
//! over the whole run.

mod common;

use hvbench::devices::SerialSink;
use hvbench::machine::{Stop, Until};
use hvbench::{Machine, MachineConfig, Outcome};
use hvbench_cpu::CpuState;
use std::path::Path;

/// RAM of the test machines (small: every stop point snapshots and restores it).
const MEMORY: u64 = 16 << 20;
/// A budget no test kernel reaches.
const LIMIT: u64 = 50_000_000;

/// Everything a run leaves behind that must not depend on where it was cut.
#[derive(Debug, PartialEq, Eq)]
struct End {
    outcome: Outcome,
    serial: String,
    states: Vec<CpuState>,
    /// (cycles, retired, steps) per vCPU.
    counters: Vec<(u64, u64, u64)>,
    /// The final snapshot, serialised.
    snapshot: Vec<u8>,
}

fn config(cpus: usize) -> MachineConfig {
    MachineConfig { memory: MEMORY, cpus, serial: SerialSink::buffer(), max_instructions: Some(LIMIT), ..MachineConfig::default() }
}

fn boot(elf: &Path, cpus: usize) -> Machine {
    let image = std::fs::read(elf).unwrap();
    let mut m = Machine::new(config(cpus)).unwrap();
    m.load_multiboot("kernel.elf", &image, "", &[]).expect("the test kernel loads");
    m
}

fn snapshot_bytes(m: &Machine) -> Vec<u8> {
    let mut bytes = Vec::new();
    m.snapshot().write_to(&mut bytes).unwrap();
    bytes
}

/// The end of a run whose earlier parts printed `serial` before `m` took over.
fn end(m: &Machine, outcome: Outcome, mut serial: Vec<u8>) -> End {
    serial.extend(common::serial(m));
    End {
        outcome,
        serial: String::from_utf8_lossy(&serial).into_owned(),
        states: m.cpus.iter().map(|c| c.state.clone()).collect(),
        counters: m.cpus.iter().map(|c| (c.cycles, c.retired, c.steps)).collect(),
        snapshot: snapshot_bytes(m),
    }
}

/// The uninterrupted run and its total step count.
fn uninterrupted(elf: &Path, cpus: usize) -> (End, u64) {
    let mut m = boot(elf, cpus);
    let outcome = m.run();
    assert_ne!(outcome, Outcome::BudgetExhausted, "the kernel ends");
    let steps = m.steps();
    (end(&m, outcome, Vec::new()), steps)
}

/// Runs `m` until its steps reach `n` (by the budget) and moves it into a fresh machine
/// through a serialised snapshot; the serial output so far goes to `serial`.
fn cut(m: Machine, n: u64, cpus: usize, serial: &mut Vec<u8>) -> Machine {
    let mut m = m;
    m.set_max_instructions(Some(n));
    let o = m.run();
    assert_eq!(o, Outcome::BudgetExhausted, "stop at step {n}");
    assert_eq!(m.steps(), n);
    serial.extend(common::serial(&m));
    let bytes = snapshot_bytes(&m);
    let snap = hvbench::snapshot::Snapshot::from_bytes(&bytes).unwrap();
    let mut fresh = Machine::new(config(cpus)).unwrap();
    fresh.restore(&snap).unwrap();
    fresh
}

/// Stops at each of `stops` (increasing), each time snapshotting and restoring into a fresh
/// machine, then runs to the end.
fn chain_of_snapshots(elf: &Path, cpus: usize, stops: &[u64]) -> End {
    let mut serial = Vec::new();
    let mut m = boot(elf, cpus);
    for &n in stops {
        m = cut(m, n, cpus, &mut serial);
    }
    m.set_max_instructions(Some(LIMIT));
    let o = m.run();
    end(&m, o, serial)
}

/// Stops at each of `stops` with `run_until(Steps(n))` in one machine, then runs to the end.
fn chain_of_run_until(elf: &Path, cpus: usize, stops: &[u64]) -> End {
    let mut m = boot(elf, cpus);
    for &n in stops {
        assert_eq!(m.run_until(&[Until::Steps(n)]), Stop::Met { index: 0, cpu: None }, "stop at step {n}");
        assert_eq!(m.steps(), n);
    }
    let o = m.run();
    end(&m, o, Vec::new())
}

/// One stop at `n`, a snapshot restored into a fresh machine, then the rest.
fn one_snapshot(elf: &Path, cpus: usize, n: u64) -> End {
    chain_of_snapshots(elf, cpus, &[n])
}

fn primes_below(n: u64) -> Vec<u64> {
    (2..n).filter(|&p| (2..).take_while(|d| d * d <= p).all(|d| p % d != 0)).collect()
}

/// `count` pseudo-random stop points in `1..total` (xorshift64 from a fixed seed), sorted.
fn random_stops(seed: u64, count: usize, total: u64) -> Vec<u64> {
    let mut x = seed;
    let mut v: Vec<u64> = (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % (total - 1)
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Compares two ends, naming the first thing that differs (the whole `End` is large).
fn assert_same(got: &End, want: &End, what: &str) {
    assert_eq!(got.outcome, want.outcome, "{what}: outcome");
    if got.serial != want.serial {
        let line = got.serial.lines().zip(want.serial.lines()).position(|(a, b)| a != b);
        panic!("{what}: serial output differs (first at line {line:?}):\n--- got\n{}\n--- uninterrupted\n{}", got.serial, want.serial);
    }
    assert_eq!(got.counters, want.counters, "{what}: cycles, retired, steps");
    assert_eq!(got.states, want.states, "{what}: vCPU states");
    if got.snapshot != want.snapshot {
        panic!("{what}: the final snapshots differ: {}", snapshot_difference(&got.snapshot, &want.snapshot));
    }
}

/// Where two serialised snapshots differ: the first differing line of their debug forms.
fn snapshot_difference(a: &[u8], b: &[u8]) -> String {
    let show = |bytes: &[u8]| {
        let s = hvbench::snapshot::Snapshot::from_bytes(bytes).unwrap();
        format!("{:#?}\n{:#?}\n{:#?}", s.cpus, s.bus, s.schedule)
    };
    let (a, b) = (show(a), show(b));
    match a.lines().zip(b.lines()).enumerate().find(|(_, (x, y))| x != y) {
        Some((i, (x, y))) => format!("line {i}: {x:?} (cut) vs {y:?} (uninterrupted)"),
        None => "in RAM".to_string(),
    }
}

fn ticks() -> Option<std::path::PathBuf> {
    common::assemble("kernels/ticks.S", "0x100000")
}

#[test]
fn ticks_kernel_sees_every_source() {
    let Some(elf) = ticks() else { return };
    let (whole, total) = uninterrupted(&elf, 1);
    assert_eq!(whole.outcome, Outcome::PowerOff);
    let log: Vec<&str> = whole.serial.lines().skip_while(|l| !l.starts_with("log ")).skip(1).take_while(|l| !l.starts_with("loops=")).collect();
    for vector in ["20", "24", "28", "40"] {
        assert!(log.iter().any(|l| l.starts_with(vector)), "vector {vector} in the log:\n{}", whole.serial);
    }
    assert_eq!(log.iter().filter(|l| l.starts_with("20")).count(), 32, "{}", whole.serial);
    assert!(whole.serial.contains("[thre]"), "{}", whole.serial);
    assert!(total > 200_000, "{total} steps");
}

#[test]
fn ticks_snapshot_at_primes_and_random_points() {
    let Some(elf) = ticks() else { return };
    let (whole, total) = uninterrupted(&elf, 1);
    // Every prime up to 2000 in one chain of snapshots (interrupts come on at step ~660),
    // then pseudo-random points over the whole run in another, then some of those one at a
    // time.
    let primes = primes_below(2000);
    assert_same(&chain_of_snapshots(&elf, 1, &primes), &whole, "snapshots at every prime below 2000");
    let random = random_stops(0x5eed_0001, 200, total);
    assert_same(&chain_of_snapshots(&elf, 1, &random), &whole, "snapshots at 200 random points");
    for &n in random.iter().step_by(10) {
        assert_same(&one_snapshot(&elf, 1, n), &whole, &format!("one snapshot at step {n}"));
    }
}

#[test]
fn ticks_run_until_steps_anywhere() {
    let Some(elf) = ticks() else { return };
    let (whole, total) = uninterrupted(&elf, 1);
    let primes = primes_below(5000);
    assert_same(&chain_of_run_until(&elf, 1, &primes), &whole, "run_until at every prime below 5000");
    // Stops every 37 steps through the whole run, and at pseudo-random points.
    let dense: Vec<u64> = (1..total / 37).map(|k| k * 37).collect();
    assert_same(&chain_of_run_until(&elf, 1, &dense), &whole, "run_until every 37 steps");
    let random = random_stops(0x5eed_0002, 400, total);
    assert_same(&chain_of_run_until(&elf, 1, &random), &whole, "run_until at 400 random points");
    for &n in random.iter().step_by(20) {
        assert_same(&chain_of_run_until(&elf, 1, &[n]), &whole, &format!("run_until at step {n}"));
    }
}

#[test]
fn smp_kernels_stop_anywhere() {
    for (src, cpus) in [("kernels/race.S", 4), ("kernels/pcdevices.S", 2)] {
        let Some(elf) = common::assemble(src, "0x100000") else { return };
        let (whole, total) = uninterrupted(&elf, cpus);
        let random = random_stops(0x5eed_0003, 150, total);
        assert_same(&chain_of_snapshots(&elf, cpus, &random), &whole, &format!("{src}: snapshots at 150 random points"));
        let dense: Vec<u64> = (1..total / 101).map(|k| k * 101).collect();
        assert_same(&chain_of_run_until(&elf, cpus, &dense), &whole, &format!("{src}: run_until every 101 steps"));
        for &n in random.iter().step_by(30) {
            assert_same(&one_snapshot(&elf, cpus, n), &whole, &format!("{src}: one snapshot at step {n}"));
        }
    }
}

