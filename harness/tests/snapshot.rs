//! Snapshots: a machine stopped halfway by its budget, snapshotted, run to the end, restored
//! and run again gives the same serial output from the snapshot on, the same final vCPU
//! states and counters, the same RAM, also through a snapshot file and into a fresh machine.
//! The kernel is tests/kernels/race.S on 4 vCPUs with the APIC timer: its output depends on
//! the interleaving, so any state the snapshot missed shows.

mod common;

use hvbench::snapshot::{self, Snapshot, SnapshotError, FORMAT_VERSION, MAGIC};
use hvbench::{Machine, Outcome};
use hvbench_cpu::CpuState;

/// What the end of a run looks like.
#[derive(Debug, PartialEq, Eq)]
struct End {
    outcome: Outcome,
    states: Vec<CpuState>,
    counters: Vec<(u64, u64, u64)>,
    ram: u64,
}

fn end(m: &Machine, outcome: Outcome) -> End {
    End {
        outcome,
        states: m.cpus.iter().map(|c| c.state.clone()).collect(),
        counters: m.cpus.iter().map(|c| (c.cycles, c.retired, c.steps)).collect(),
        ram: snapshot::ram_hash(m),
    }
}

/// Runs to the end; returns the end and the serial bytes this run added.
fn finish(m: &mut Machine) -> (End, Vec<u8>) {
    let before = common::serial(m).len();
    m.set_max_instructions(Some(100_000_000));
    let o = m.run();
    (end(m, o), common::serial(m)[before..].to_vec())
}

#[test]
fn restore_replays_the_second_half_bit_for_bit() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    // The whole run, uninterrupted.
    let mut whole = common::machine(&elf, 4, Some(100_000_000), false);
    let outcome = whole.run();
    assert_eq!(outcome, Outcome::PowerOff);
    let full_out = common::serial(&whole);
    let full_end = end(&whole, Outcome::PowerOff);
    let total = whole.steps();
    assert!(total > 100_000, "race.elf runs {total} steps");

    // Halfway, then snapshot, then to the end.
    let mut m = common::machine(&elf, 4, Some(total / 2), false);
    assert_eq!(m.run(), Outcome::BudgetExhausted);
    let prefix = common::serial(&m);
    let snap = m.snapshot();
    let (end1, out1) = finish(&mut m);
    assert_eq!(end1.outcome, Outcome::PowerOff);
    assert!(!out1.is_empty(), "the second half prints the results");
    // A run stopped by the budget and continued is the uninterrupted run.
    assert_eq!([prefix.as_slice(), &out1].concat(), full_out, "split run:\n{}", String::from_utf8_lossy(&out1));
    assert_eq!(end1, full_end);

    // Restore into the same machine and run again.
    m.restore(&snap).unwrap();
    assert_eq!(m.steps(), snap.cpus.iter().map(|c| c.steps).sum::<u64>());
    let (end2, out2) = finish(&mut m);
    assert_eq!(out2, out1, "serial output after the restore");
    assert_eq!(end2, end1);

    // Through a file, into a fresh machine that never ran the kernel.
    let path = std::env::temp_dir().join(format!("hvbench-snap-{}.hvsnap", std::process::id()));
    snap.save(&path).unwrap();
    let loaded = Snapshot::load(&path).unwrap();
    std::fs::remove_file(&path).ok();
    let mut fresh = Machine::new(hvbench::MachineConfig { cpus: 4, serial: hvbench::devices::SerialSink::buffer(), ..Default::default() }).unwrap();
    fresh.restore(&loaded).unwrap();
    assert_eq!(snapshot::ram_hash(&fresh), snap.ram_hash());
    let (end3, out3) = finish(&mut fresh);
    assert_eq!(out3, out1, "serial output after restoring from the file");
    assert_eq!(end3, end1);
}

#[test]
fn snapshot_files_round_trip_and_refuse_damage() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let mut m = common::machine(&elf, 4, Some(150_000), false);
    assert_eq!(m.run(), Outcome::BudgetExhausted);
    let snap = m.snapshot();
    // Only touched pages are stored: far fewer than the 32768 pages of 128 MiB.
    assert!(!snap.pages.is_empty() && snap.pages.len() < 1024, "{} pages", snap.pages.len());
    let mut bytes = Vec::new();
    snap.write_to(&mut bytes).unwrap();
    assert_eq!(&bytes[..8], MAGIC);
    assert_eq!(u32::from_le_bytes(bytes[8..12].try_into().unwrap()), FORMAT_VERSION);
    let back = Snapshot::from_bytes(&bytes).unwrap();
    assert_eq!(back.cpus, snap.cpus);
    assert_eq!(back.pages, snap.pages);
    assert_eq!(back.schedule, snap.schedule);
    let mut again = Vec::new();
    back.write_to(&mut again).unwrap();
    assert_eq!(again, bytes, "writing a read snapshot gives the same file");

    let mut damaged = bytes.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 1;
    assert!(matches!(Snapshot::from_bytes(&damaged), Err(SnapshotError::Format(_))));
    assert!(matches!(Snapshot::from_bytes(&bytes[..bytes.len() - 100]), Err(SnapshotError::Format(_))));
    assert!(matches!(Snapshot::from_bytes(b"not a snapshot at all"), Err(SnapshotError::Format(_))));
    let mut other = bytes.clone();
    other[8] = other[8].wrapping_add(1);
    assert!(matches!(Snapshot::from_bytes(&other), Err(SnapshotError::Version { .. })));
}

#[test]
fn restore_refuses_a_different_machine() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let snap = common::machine(&elf, 4, Some(1000), false).snapshot();
    let mut two = Machine::new(hvbench::MachineConfig { cpus: 2, ..Default::default() }).unwrap();
    assert!(matches!(two.restore(&snap), Err(SnapshotError::CpuCount { snapshot: 4, machine: 2 })));
    let mut small = Machine::new(hvbench::MachineConfig { cpus: 4, memory: 64 << 20, ..Default::default() }).unwrap();
    assert!(matches!(small.restore(&snap), Err(SnapshotError::MemorySize { .. })));
    let mut other = Machine::new(hvbench::MachineConfig { cpus: 4, cpu_profile: "no-ept".into(), ..Default::default() }).unwrap();
    assert!(matches!(other.restore(&snap), Err(SnapshotError::CpuProfile { .. })));
    assert_eq!(snap.schedule.cpu_profile, "default");
}

#[test]
fn an_armed_monitor_survives_snapshot_file_and_restore() {
    // The MONITOR range is machine state (a store to it disarms it; an MWAIT VM exit reports
    // whether it is armed, SDM Vol. 3C 28.2.1): a snapshot keeps vCPU 1's armed range and
    // drops a range armed after it.
    use hvbench_mmu::PhysAddr;
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let mut m = common::machine(&elf, 2, Some(1000), false);
    assert_eq!(m.run(), Outcome::BudgetExhausted);
    assert!(m.mem.watch(1, PhysAddr(0x9_0040), 64));
    let snap = m.snapshot();
    let mut bytes = Vec::new();
    snap.write_to(&mut bytes).unwrap();
    let read = Snapshot::read_from(bytes.as_slice()).unwrap();
    assert_eq!(read.cpus, snap.cpus);
    assert_eq!(read.cpus[1].monitor, Some((0x9_0040, 64)));
    assert!(m.mem.watch(0, PhysAddr(0x9_1000), 64));
    m.mem.unwatch(1);
    m.restore(&read).unwrap();
    assert_eq!(m.mem.armed_watch(1), Some((PhysAddr(0x9_0040), 64)));
    assert_eq!(m.mem.armed_watch(0), None);
    // The restored range is armed for real: a store to it disarms it.
    assert!(m.mem.write_le(PhysAddr(0x9_0048), 8, 1));
    assert_eq!(m.mem.armed_watch(1), None);
}
