//! The example kernel in examples/hello: its committed ELF matches its source, it runs to a
//! power-off under hvbench with the output its source defines, and (when QEMU is installed)
//! QEMU prints the same serial output for the same ELF.

use hvbench::devices::sink::SerialSink;
use hvbench::{Machine, MachineConfig, Outcome};
use std::path::{Path, PathBuf};
use std::process::Command;

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello")
}

/// What hello.S prints, written from its source's strings.
fn expected_serial(cmdline: &str) -> String {
    format!("Hello from a multiboot kernel!\ncommand line: {cmdline}\nNow in 64-bit long mode. Bye.\n")
}

fn run_in_hvbench(path: &str, append: &str) -> (Outcome, String) {
    let image = std::fs::read(example_dir().join("hello.elf")).expect("examples/hello/hello.elf is committed");
    let cfg = MachineConfig { serial: SerialSink::buffer(), max_instructions: Some(10_000_000), ..MachineConfig::default() };
    let mut m = Machine::new(cfg).expect("default machine");
    m.load_multiboot(path, &image, append, &[]).expect("hello.elf loads");
    let outcome = m.run();
    let out = m.bus.uart().output().sink().contents().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    (outcome, out)
}

#[test]
fn committed_elf_is_built_from_its_source() {
    let dir = tempdir();
    let obj = dir.join("hello.o");
    let elf = dir.join("hello.elf");
    let assembled = Command::new("as").args(["--32", "-o"]).arg(&obj).arg(example_dir().join("hello.S")).status();
    let Ok(s) = assembled else {
        eprintln!("SKIPPED: GNU as is not installed; cannot check examples/hello/hello.elf against its source");
        return;
    };
    assert!(s.success(), "as failed on hello.S");
    let linked = Command::new("ld")
        .args(["-m", "elf_i386", "-N", "-Ttext=0x100000", "-e", "_start", "-o"])
        .arg(&elf)
        .arg(&obj)
        .output()
        .expect("ld runs");
    assert!(linked.status.success(), "ld failed: {}", String::from_utf8_lossy(&linked.stderr));
    let built = std::fs::read(&elf).unwrap();
    let committed = std::fs::read(example_dir().join("hello.elf")).unwrap();
    assert!(built == committed, "examples/hello/hello.elf is stale: rebuild it with the command in hello.S");
}

#[test]
fn hello_runs_to_power_off_with_its_output() {
    let (outcome, out) = run_in_hvbench("hello.elf", "verbose=1");
    assert_eq!(out, expected_serial("hello.elf verbose=1"));
    assert_eq!(outcome, Outcome::PowerOff);
}

#[test]
fn hello_output_matches_qemu() {
    let qemu = "qemu-system-x86_64";
    if Command::new(qemu).arg("--version").output().is_err() {
        eprintln!("SKIPPED: {qemu} is not installed (apt-get install qemu-system-x86)");
        return;
    }
    let elf = example_dir().join("hello.elf");
    let out = Command::new("timeout")
        .args(["300", qemu, "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-cpu", "max", "-m", "128"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-kernel"])
        .arg(&elf)
        .args(["-append", "verbose=1"])
        .output()
        .expect("qemu runs");
    // QEMU has no 0x8900 shutdown port: hello then writes 0 to isa-debug-exit, status 1.
    assert_eq!(out.status.code(), Some(1), "QEMU stderr: {}", String::from_utf8_lossy(&out.stderr));
    let raw = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    // SeaBIOS prints its banner on the same port before the option ROM boots the kernel.
    let marker = "Booting from ROM..";
    let qemu_serial = raw.rfind(marker).map(|i| raw[i + marker.len()..].to_string()).unwrap_or(raw);
    // QEMU passes the kernel path as given on its command line.
    let (_, ours) = run_in_hvbench(&elf.display().to_string(), "verbose=1");
    assert_eq!(ours, qemu_serial, "hvbench and QEMU serial output differ");
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("hvbench-example-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}
