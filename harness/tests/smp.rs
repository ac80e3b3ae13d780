//! SMP bring-up end to end: tests/smp/smp.S (assembled here with GNU as) starts three APs
//! with INIT-SIPI-SIPI, each prints its local APIC ID under a spin lock, the BSP then halts
//! until its local APIC timer fires and powers off. Checked under hvbench --smp 4 and, when
//! QEMU is installed, against `qemu-system-x86_64 -smp 4` (sorted lines: the order in which
//! QEMU's APs take the lock differs from run to run; hvbench's is fixed).

mod common;

use hvbench::devices::sink::SerialSink;
use hvbench::{Machine, MachineConfig, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What smp.S prints, from its strings: the BSP's lines around one line per AP (APIC IDs 1-3).
const BSP_FIRST: &str = "BSP: starting APs";
const BSP_LAST: [&str; 2] = ["BSP: all APs up", "BSP: APIC timer fired"];
const AP_LINES: [&str; 3] = ["AP 1 up", "AP 2 up", "AP 3 up"];

/// Builds smp.elf, or `None` (with a message) when GNU as is missing.
fn build() -> Option<PathBuf> {
    common::assemble("smp/smp.S", "0x100000")
}

fn run_hvbench(elf: &Path) -> (Outcome, String, Machine) {
    let image = std::fs::read(elf).unwrap();
    let cfg = MachineConfig { cpus: 4, serial: SerialSink::buffer(), max_instructions: Some(20_000_000), ..MachineConfig::default() };
    let mut m = Machine::new(cfg).unwrap();
    m.load_multiboot("smp.elf", &image, "", &[]).expect("smp.elf loads");
    let outcome = m.run();
    let out = m.bus.uart().output().sink().contents().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    (outcome, out, m)
}

fn sorted_lines(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_string).collect();
    v.sort();
    v
}

#[test]
fn three_aps_start_and_report_their_apic_ids() {
    let Some(elf) = build() else { return };
    let (outcome, out, m) = run_hvbench(&elf);
    assert_eq!(outcome, Outcome::PowerOff, "output so far:\n{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 6, "{out}");
    assert_eq!(lines[0], BSP_FIRST);
    assert_eq!(lines[4..], BSP_LAST);
    let mut aps = lines[1..4].to_vec();
    aps.sort();
    assert_eq!(aps, AP_LINES);
    // The BSP slept through most of the 1 ms timer: time jumped there, it did not spin.
    assert!(m.now() >= 1_000_000, "the timer fires 1,000,000 ticks after it is armed: now = {}", m.now());
    assert!(m.now() < 2_000_000, "now = {}", m.now());
    assert!(m.retired() < 1_000_000, "retired = {}", m.retired());
    // Deterministic: the same run twice gives the same bytes and the same time.
    let (_, again, m2) = run_hvbench(&elf);
    assert_eq!(again, out);
    assert_eq!(m2.now(), m.now());
}

#[test]
fn same_lines_as_qemu() {
    let qemu = "qemu-system-x86_64";
    if Command::new(qemu).arg("--version").output().is_err() {
        eprintln!("SKIPPED: {qemu} is not installed (apt-get install qemu-system-x86)");
        return;
    }
    let Some(elf) = build() else { return };
    let out = Command::new("timeout")
        .args(["300", qemu, "-smp", "4", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-m", "128"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-kernel"])
        .arg(&elf)
        .output()
        .expect("qemu runs");
    // No 0x8900 port in QEMU: the kernel then writes 0 to isa-debug-exit, status 1.
    assert_eq!(out.status.code(), Some(1), "QEMU stderr: {}", String::from_utf8_lossy(&out.stderr));
    let raw = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    let marker = "Booting from ROM..";
    let qemu_serial = raw.rfind(marker).map(|i| raw[i + marker.len()..].to_string()).unwrap_or(raw);
    let (_, ours, _) = run_hvbench(&elf);
    assert_eq!(sorted_lines(&ours), sorted_lines(&qemu_serial), "hvbench:\n{ours}\nQEMU:\n{qemu_serial}");
}

#[test]
fn cli_runs_with_smp_4() {
    let Some(elf) = build() else { return };
    let out = Command::new(env!("CARGO_BIN_EXE_hvbench")).args(["run", "--smp", "4"]).arg(&elf).output().expect("hvbench runs");
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(sorted_lines(&stdout).len(), 6, "{stdout}");
    assert!(stdout.contains("AP 3 up"));
}
