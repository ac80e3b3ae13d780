//! Helpers shared by the integration tests: assembling test kernels with GNU as and ld, and
//! running them in a machine with COM1 captured.
#![allow(dead_code)]

use hvbench::devices::sink::SerialSink;
use hvbench::{Machine, MachineConfig};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Assembles `tests/<src>` (32-bit GNU as, with its own folder and tests/kernels, where
/// lib.inc is, on the include path) and links it at `ttext`; `None` (with a message) when GNU
/// as is missing.
pub fn assemble(src: &str, ttext: &str) -> Option<PathBuf> {
    let name = Path::new(src).file_stem().and_then(|s| s.to_str()).unwrap_or("kernel").to_string();
    // One directory per call: tests of one binary run in parallel threads.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("hvbench-{name}-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(src);
    let (obj, elf) = (dir.join(format!("{name}.o")), dir.join(format!("{name}.elf")));
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernels");
    let folder = src.parent().unwrap_or(Path::new("."));
    let Ok(out) = Command::new("as").arg("--32").arg("-I").arg(folder).arg("-I").arg(&kernels).arg("-o").arg(&obj).arg(&src).output() else {
        eprintln!("SKIPPED: GNU as is not installed; cannot build {}", src.display());
        return None;
    };
    assert!(out.status.success(), "as failed on {}: {}", src.display(), String::from_utf8_lossy(&out.stderr));
    let linked = Command::new("ld")
        .args(["-m", "elf_i386", "-N", &format!("-Ttext={ttext}"), "-e", "_start", "-o"])
        .arg(&elf)
        .arg(&obj)
        .output()
        .expect("ld runs");
    assert!(linked.status.success(), "ld failed: {}", String::from_utf8_lossy(&linked.stderr));
    Some(elf)
}

/// A machine with `cpus` vCPUs, COM1 into memory, `kernel` loaded with `cmdline`.
pub fn machine(kernel: &Path, cpus: usize, max_instructions: Option<u64>, trace: bool) -> Machine {
    let image = std::fs::read(kernel).unwrap();
    let cfg = MachineConfig { cpus, serial: SerialSink::buffer(), max_instructions, trace, ..MachineConfig::default() };
    let mut m = Machine::new(cfg).unwrap();
    m.load_multiboot("kernel.elf", &image, "", &[]).expect("the test kernel loads");
    m
}

/// Everything COM1 has sent so far.
pub fn serial(m: &Machine) -> Vec<u8> {
    m.bus.uart().output().sink().contents().map(<[u8]>::to_vec).unwrap_or_default()
}
