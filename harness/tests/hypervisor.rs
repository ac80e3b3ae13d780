//! The hypervisor core (hypervisor/, README "The hypervisor core") runs unchanged on hvbench
//! and on Bochs's VT-x, and prints the same transcript on both.
//!
//! The test builds the multiboot2 image with cargo in hypervisor/ (its own workspace, its own
//! flags; target directory under this test's CARGO_TARGET_TMPDIR), boots it with `hvbench
//! run` and compares COM1 with traces/hypervisor-first-slice.txt. That golden file was
//! checked by booting the same image through GRUB in Bochs 2.7 (`corei7_icelake_u`, the
//! oracle in shared/oracles/bochs) and comparing byte for byte; the second test repeats that
//! comparison whenever Bochs, GRUB's tools and the oracle script are there, and is skipped
//! with a message (not passed silently) otherwise. Bochs needs ~5 s for it.
//!
//! The transcript prints only what every correct VMX implementation must agree on (exit
//! reasons, qualifications, addresses, instruction lengths, guest-visible results), so a
//! difference is a bug on one side; the SDM decides which.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn golden() -> String {
    let p = repo().join("traces/hypervisor-first-slice.txt");
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Builds hypervisor/ once per test process and returns the image's path.
fn image() -> &'static Path {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hypervisor");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut c = Command::new(cargo);
        // hypervisor/.cargo/config.toml applies only when cargo runs in hypervisor/.
        c.current_dir(repo().join("hypervisor")).args(["build", "--release", "--locked"]).env("CARGO_TARGET_DIR", &target);
        // Flags meant for the emulator's workspace must not reach the freestanding image.
        for v in ["RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS", "CARGO_BUILD_TARGET", "CARGO_MAKEFLAGS", "MAKEFLAGS", "MFLAGS"] {
            c.env_remove(v);
        }
        let out = c.output().expect("cargo runs");
        assert!(out.status.success(), "building hypervisor/ failed:\n{}", String::from_utf8_lossy(&out.stderr));
        target.join("release/hvcore")
    })
}

/// Line-by-line difference, for a readable failure.
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<_>, Vec<_>) = (want.lines().collect(), got.lines().collect());
    let mut s = String::new();
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i).copied(), g.get(i).copied());
        if a != b {
            s += &format!("line {}:\n  golden: {}\n  got:    {}\n", i + 1, a.unwrap_or("<none>"), b.unwrap_or("<none>"));
        }
    }
    s
}

#[test]
fn hypervisor_core_runs_on_hvbench_with_the_golden_transcript() {
    let out = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .arg("run")
        .arg(image())
        .args(["--max-instructions", "200000000"])
        .output()
        .expect("hvbench runs");
    let got = String::from_utf8_lossy(&out.stdout);
    let want = golden();
    assert!(got == want, "hvbench's transcript differs from the golden file:\n{}\nstderr:\n{}", diff(&want, &got), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "the hypervisor powers off cleanly; stderr:\n{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn hypervisor_core_runs_on_bochs_with_the_golden_transcript() {
    let script = repo().join("../shared/oracles/bochs/run-iso.sh");
    if !script.exists() {
        eprintln!("SKIPPED: {} is absent (the repository is not beside shared/)", script.display());
        return;
    }
    if Command::new("bochs").arg("--help").output().is_err() || Command::new("grub-mkrescue").arg("--version").output().is_err() {
        eprintln!("SKIPPED: bochs or grub-mkrescue is not installed (apt-get install -y bochs bochsbios vgabios grub-pc-bin grub-common xorriso mtools)");
        return;
    }
    let out = Command::new(&script).args(["--timeout", "120"]).arg(image()).output().expect("run-iso.sh runs");
    let got = String::from_utf8_lossy(&out.stdout);
    let want = golden();
    assert!(got == want, "Bochs's transcript differs from the golden file:\n{}", diff(&want, &got));
}
