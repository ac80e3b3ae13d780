//! A kernel written for `qemu-system-x86_64 -kernel` runs unchanged under `hvbench run` and
//! reports the same: tests/kernels/pcdevices.S (multiboot v1) reads fw_cfg, programs the PIC
//! and the PIT and waits for IRQ0, reads the RTC and CMOS, the local APIC and the IOAPIC,
//! starts every AP with INIT-SIPI-SIPI (each prints its APIC ID, in ID order) and ends with
//! isa-debug-exit. Its COM1 transcript under `hvbench run --smp 4` is checked against the
//! values the hardware documents give, then against QEMU (TCG, `-smp 4`, the RTC started at
//! hvbench's fixed date): the transcripts must be identical line by line and the exit
//! statuses equal. The kernel prints only what does not depend on timing or on which
//! emulator runs it (see the comment at its top for the choices).

mod common;

use std::path::Path;
use std::process::Command;

/// The kernel's isa-debug-exit value 0x21, as QEMU reports it: (0x21 << 1) | 1.
const EXIT_STATUS: i32 = 0x43;
/// hvbench's RTC start (`devices::rtc::DEFAULT_START_UNIX_SECONDS`), for QEMU's -rtc base.
const RTC_BASE: &str = "2026-01-01T00:00:00";

fn hvbench(elf: &Path) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_hvbench")).args(["run", "--smp", "4", "--memory", "128M"]).arg(elf).output().expect("hvbench runs");
    (o.status.code(), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// What the kernel must print on a PC with 4 CPUs and 128 MiB, from the documents:
/// fw_cfg.rst (items), the 8254 read-back status (OUT=1 after mode 0's terminal count,
/// lobyte/hibyte, mode 0: 0xB0), the MC146818A (BCD, 24-hour: B=0x02; D=0x80 valid RAM and
/// time; 2026-01-01 is a Thursday, day 5 counting Sunday as 1), the PC CMOS layout (640 KiB
/// base memory = 0x280; extended memory capped at 0xFFFF KiB; (128 - 16) MiB / 64 KiB =
/// 0x700; CPUs - 1), the xAPIC version register (0x14, max LVT 5) and the IOAPIC's (0x20,
/// 24 redirection entries); the reset ports as a BIOS leaves them (A20 on; the 8042's
/// system flag set, command written last, keyboard not inhibited, no buffer full; RC 0).
const EXPECTED: &[&str] = &[
    "pcdevices",
    "fw_cfg signature=QEMU",
    "fw_cfg id.traditional=00000001",
    "fw_cfg ram_size=0000000008000000",
    "fw_cfg nb_cpus=00000004",
    "fw_cfg max_cpus=00000004",
    "pit irq0 seen=yes count=00000001",
    "pit ch0 status=B0",
    "rtc date=2026-01-01 time=00:00 weekday=05 b=02 d=80",
    "cmos 15=80 16=02 17=FF 18=FF 30=FF 31=FF 34=00 35=07 5F=03",
    "lapic id=00000000 version=00050014",
    "ioapic version=00170020",
    "port92=02 kbc_status=1C cf9=00",
    "ap apic_id=00000001",
    "ap apic_id=00000002",
    "ap apic_id=00000003",
    "aps up=00000003",
];

#[test]
fn pc_devices_report_what_the_documents_say() {
    let Some(elf) = common::assemble("kernels/pcdevices.S", "0x100000") else { return };
    let (status, out) = hvbench(&elf);
    assert_eq!(out.lines().collect::<Vec<_>>(), EXPECTED, "hvbench printed:\n{out}");
    assert_eq!(status, Some(EXIT_STATUS));
}

#[test]
fn same_transcript_and_status_as_qemu() {
    let qemu = "qemu-system-x86_64";
    if Command::new(qemu).arg("--version").output().is_err() {
        eprintln!("SKIPPED: {qemu} is not installed (apt-get install qemu-system-x86)");
        return;
    }
    let Some(elf) = common::assemble("kernels/pcdevices.S", "0x100000") else { return };
    let q = Command::new("timeout")
        .args(["120", qemu, "-nodefaults", "-display", "none", "-no-reboot", "-serial", "stdio", "-smp", "4", "-m", "128"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-rtc", &format!("base={RTC_BASE}"), "-kernel"])
        .arg(&elf)
        .output()
        .expect("qemu runs");
    // SeaBIOS prints its banner on COM1 before the kernel starts: the kernel's transcript
    // begins at its first line.
    let raw = String::from_utf8_lossy(&q.stdout).replace('\r', "");
    let theirs = raw.find("pcdevices\n").map_or(raw.as_str(), |i| &raw[i..]);
    let (status, ours) = hvbench(&elf);
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), theirs.lines().collect());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "line {} differs\nhvbench:\n{ours}\nQEMU:\n{theirs}", i + 1);
    }
    assert_eq!(a.len(), b.len(), "hvbench:\n{ours}\nQEMU:\n{theirs}");
    assert_eq!(status, q.status.code(), "exit status: hvbench against QEMU (stderr: {})", String::from_utf8_lossy(&q.stderr));
    assert_eq!(status, Some(EXIT_STATUS));
}
