//! The three ways a PC guest asks for a reset (port 0xCF9, port 0x92 bit 0, 8042 command
//! 0xFE), end to end: tests/kernels/reset.S takes the way from its command line. Under
//! `hvbench run` each ends the run with status 18 ("guest requested a reset"); with
//! --reboot the machine powers on again and boots the kernel again, until the budget runs
//! out. QEMU (`-no-reboot`: a guest reset ends QEMU with status 0) shows that each write is a
//! reset there too, and that the kernel's fallback (status 15) is what runs when nothing
//! resets.

mod common;

use std::path::Path;
use std::process::Command;

const WAYS: [&str; 4] = ["cf9-06", "cf9-0e", "p92", "kbc"];

fn hvbench(elf: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_hvbench")).arg("run").arg(elf).args(extra).output().expect("hvbench runs");
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn each_reset_path_ends_the_run_with_status_18() {
    let Some(elf) = common::assemble("kernels/reset.S", "0x100000") else { return };
    for (way, source) in WAYS.iter().zip(["port 0xCF9", "port 0xCF9", "port 0x92", "8042"]) {
        let (status, out, err) = hvbench(&elf, &["--append", way]);
        assert_eq!(status, Some(hvbench::exit_status::GUEST_RESET), "{way}: {out}{err}");
        assert_eq!(out, format!("reset: {way}\n"), "{way}: nothing runs after the reset");
        assert!(err.contains("guest requested a reset") && err.contains(source), "{way}: {err}");
    }
    // Without a reset request the kernel's fallback runs.
    let (status, out, _) = hvbench(&elf, &["--append", "none"]);
    assert_eq!((status, out.as_str()), (Some(15), "reset: none\nreset ignored\n"));
}

#[test]
fn reboot_boots_the_kernel_again() {
    let Some(elf) = common::assemble("kernels/reset.S", "0x100000") else { return };
    let trace = std::env::temp_dir().join(format!("hvbench-reset-{}.trace", std::process::id()));
    for way in WAYS {
        let (status, out, err) = hvbench(&elf, &["--append", way, "--reboot", "--max-instructions", "300000", "--trace", trace.to_str().unwrap()]);
        assert_eq!(status, Some(hvbench::exit_status::BUDGET_EXHAUSTED), "{way}: {err}");
        let boots = out.matches(&format!("reset: {way}\n")).count();
        assert!(boots >= 3, "{way}: the kernel booted {boots} times in 300,000 steps:\n{out}");
        assert!(!out.contains("ignored"), "{way}");
        let t = std::fs::read_to_string(&trace).unwrap();
        assert!(t.lines().filter(|l| l.starts_with("reboot: guest requested a reset")).count() >= boots - 1, "{way}: {t}");
    }
    std::fs::remove_file(&trace).ok();
}

#[test]
fn qemu_resets_on_the_same_writes() {
    let qemu = "qemu-system-x86_64";
    if Command::new(qemu).arg("--version").output().is_err() {
        eprintln!("SKIPPED: {qemu} is not installed (apt-get install qemu-system-x86)");
        return;
    }
    let Some(elf) = common::assemble("kernels/reset.S", "0x100000") else { return };
    for (way, want) in WAYS.iter().map(|w| (*w, 0)).chain([("none", 15)]) {
        let o = Command::new("timeout")
            .args(["60", qemu, "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio", "-m", "128"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-kernel"])
            .arg(&elf)
            .args(["-append", way])
            .output()
            .expect("qemu runs");
        let out = String::from_utf8_lossy(&o.stdout).replace('\r', "");
        assert_eq!(o.status.code(), Some(want), "{way}: QEMU printed {out}");
        assert!(out.contains(&format!("reset: {way}\n")), "{way}: {out}");
    }
}
