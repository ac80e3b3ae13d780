//! Running a benchmark kernel under Bochs through the shared oracle script
//! (`shared/oracles/bochs/run-iso.sh`: GRUB CD image, headless Bochs 2.7, COM1 to a file).

use super::elf::Header;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// What `hvbench bench` says when Bochs is missing.
pub const NOT_FOUND: &str = "Bochs not found: install bochs bochsbios vgabios grub-pc-bin grub-common xorriso mtools";

/// The oracle script's path inside the `shared/` tree that sits beside the repository.
const SCRIPT: &str = "shared/oracles/bochs/run-iso.sh";

/// Whether `bochs` is an executable file on `PATH`.
pub fn on_path() -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("bochs").is_file()))
}

/// Finds run-iso.sh: `explicit` if given, else `../shared/...` from the current directory
/// (the repository root), else beside the repository this binary was built from.
pub fn locate_script(explicit: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(p) = explicit {
        return if p.is_file() { Ok(p.to_path_buf()) } else { Err(format!("--oracle '{}': no such file", p.display())) };
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(SCRIPT);
    let candidates = [Path::new("..").join(SCRIPT), built_from];
    candidates.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        format!("cannot find the Bochs oracle script (tried {}); pass --oracle PATH/run-iso.sh", candidates.map(|p| p.display().to_string()).join(", "))
    })
}

/// One Bochs run: its wall time (GRUB image build, Bochs start-up and the guest) and COM1
/// output.
#[derive(Debug)]
pub struct BochsRun {
    /// Wall-clock seconds of the whole script.
    pub seconds: f64,
    /// What the guest wrote to COM1.
    pub serial: String,
}

/// Boots `kernel` (a file) under Bochs with `script`, giving up after `timeout_s` seconds.
pub fn run(script: &Path, kernel: &Path, header: Header, timeout_s: u64) -> Result<BochsRun, String> {
    let mut cmd = Command::new("bash");
    cmd.arg(script);
    if header == Header::Multiboot1 {
        cmd.arg("--mb1");
    }
    cmd.args(["--timeout", &timeout_s.to_string()]).arg(kernel);
    let t = Instant::now();
    let out = cmd.output().map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let seconds = t.elapsed().as_secs_f64();
    Ok(BochsRun { seconds, serial: String::from_utf8_lossy(&out.stdout).into_owned() })
}
