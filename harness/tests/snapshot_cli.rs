//! Snapshots from the command line: `hvbench run ... --save-snapshot FILE --at N` stops after
//! N steps and writes the file; `hvbench resume FILE` goes on from there, and its serial
//! output is exactly the tail of an uninterrupted run's. The kernel is tests/kernels/race.S
//! on 4 vCPUs (its output depends on the interleaving, so a snapshot that missed any state
//! shows). A missing, foreign, damaged or other-version file is refused with status 4 and a
//! message that says which.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hvbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hvbench")).args(args).output().expect("hvbench runs")
}

fn temp(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("hvbench-snapcli-{}-{n}-{name}", std::process::id()))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn resume_prints_the_tail_of_the_uninterrupted_run() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let mut m = common::machine(&elf, 4, Some(100_000_000), false);
    m.run();
    let total = m.steps();
    let whole = hvbench(&["run", "--smp", "4", s(&elf)]);
    assert_eq!(whole.status.code(), Some(0), "{}", String::from_utf8_lossy(&whole.stderr));
    let file = temp("half.hvsnap");
    let at = (total / 2).to_string();
    let first = hvbench(&["run", "--smp", "4", s(&elf), "--save-snapshot", s(&file), "--at", &at]);
    assert_eq!(first.status.code(), Some(hvbench::exit_status::BUDGET_EXHAUSTED));
    assert!(String::from_utf8_lossy(&first.stderr).contains(&format!("stopped at step {at}")), "{}", String::from_utf8_lossy(&first.stderr));
    let rest = hvbench(&["resume", s(&file)]);
    assert_eq!(rest.status.code(), Some(0), "{}", String::from_utf8_lossy(&rest.stderr));
    assert!(!rest.stdout.is_empty(), "the second half prints the results");
    assert!(whole.stdout.starts_with(&first.stdout), "the first half is the head of the whole run");
    assert_eq!(rest.stdout, whole.stdout[first.stdout.len()..], "resume:\n{}\nwhole:\n{}", String::from_utf8_lossy(&rest.stdout), String::from_utf8_lossy(&whole.stdout));

    // --max-instructions counts from the snapshot; --serial works as for run.
    let out = temp("rest.txt");
    let short = hvbench(&["resume", s(&file), "--max-instructions", "10", "--serial", s(&out)]);
    assert_eq!(short.status.code(), Some(hvbench::exit_status::BUDGET_EXHAUSTED));
    // A snapshot taken at the end resumes to the same end at once.
    let end = temp("end.hvsnap");
    let ended = hvbench(&["run", "--smp", "4", s(&elf), "--serial", "none", "--save-snapshot", s(&end)]);
    assert_eq!(ended.status.code(), Some(0));
    let again = hvbench(&["resume", s(&end)]);
    assert_eq!((again.status.code(), again.stdout.len()), (Some(0), 0), "{}", String::from_utf8_lossy(&again.stderr));
    for f in [file, out, end] {
        std::fs::remove_file(f).ok();
    }
}

#[test]
fn resume_refuses_bad_files_with_status_4() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    let good = temp("good.hvsnap");
    let o = hvbench(&["run", "--smp", "4", s(&elf), "--serial", "none", "--save-snapshot", s(&good), "--at", "20000"]);
    assert_eq!(o.status.code(), Some(hvbench::exit_status::BUDGET_EXHAUSTED));
    let bytes = std::fs::read(&good).unwrap();
    let write = |name: &str, data: &[u8]| {
        let p = temp(name);
        std::fs::write(&p, data).unwrap();
        p
    };
    let mut flipped = bytes.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let mut other_version = bytes.clone();
    other_version[8..12].copy_from_slice(&99u32.to_le_bytes());
    let cases = [
        (temp("missing.hvsnap"), "No such file"),
        (write("elf.hvsnap", &std::fs::read(&elf).unwrap()), "no HVBSNAP magic"),
        (write("flipped.hvsnap", &flipped), "hash mismatch"),
        (write("short.hvsnap", &bytes[..bytes.len() / 3]), "hash mismatch"),
        (write("v99.hvsnap", &other_version), "format version 99; this hvbench reads version 4"),
    ];
    for (path, why) in &cases {
        let o = hvbench(&["resume", s(path)]);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(hvbench::exit_status::BAD_IMAGE), "{}: {err}", path.display());
        assert!(err.contains("cannot resume from") && err.contains(s(path)) && err.contains(why), "{}: {err}", path.display());
        assert!(o.stdout.is_empty());
    }
    for (path, _) in cases {
        std::fs::remove_file(path).ok();
    }
    // The good file still resumes.
    assert_eq!(hvbench(&["resume", s(&good), "--serial", "none"]).status.code(), Some(0));
    std::fs::remove_file(&good).ok();
}

#[test]
fn at_needs_save_snapshot_and_excludes_max_instructions() {
    let Some(elf) = common::assemble("kernels/race.S", "0x100000") else { return };
    assert_eq!(hvbench(&["run", s(&elf), "--at", "100"]).status.code(), Some(2));
    assert_eq!(hvbench(&["run", s(&elf), "--save-snapshot", "x", "--at", "100", "--max-instructions", "5"]).status.code(), Some(2));
    let o = hvbench(&["run", s(&elf), "--serial", "none", "--max-instructions", "1000", "--save-snapshot", "/nonexistent-dir/x.hvsnap"]);
    assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--save-snapshot: cannot write"));
}
