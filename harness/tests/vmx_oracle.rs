//! The VMX conformance cases (`vmx/tests/common/cases.rs`) booted as multiboot2 kernels
//! (`vmx_oracle/kernel.rs`): under `hvbench run`, each case's transcript must equal the SDM's
//! values the sandbox test (`vmx/tests/conformance.rs`) expects; under Bochs 2.7 with VT-x
//! (`corei7_icelake_u`, through `shared/oracles/bochs/run-iso.sh`), line by line the same as
//! hvbench's, except the cases in [`BOCHS_DISAGREES`] (Bochs contradicts the SDM; the SDM's
//! value is kept) and those whose [`cases::Case::bochs`] says why Bochs cannot run them.
//! Without Bochs or GRUB the second test prints "SKIPPED: ..." and passes.
//!
//! All cases run in one kernel (VMCLEAR and VMXOFF between them), so Bochs starts once.

#[path = "../../vmx/tests/common/layout.rs"]
mod layout;

#[path = "../../vmx/tests/common/cases.rs"]
mod cases;

#[path = "../../vmx/tests/common/cases_exits.rs"]
mod cases_exits;

#[path = "../../vmx/tests/common/cases_events.rs"]
mod cases_events;

#[path = "vmx_oracle/kernel.rs"]
mod kernel;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Cases where Bochs contradicts the SDM: (case, SDM section and what it says, Bochs's line).
/// The comparison accepts exactly Bochs's line there; hvbench must give the SDM's.
const BOCHS_DISAGREES: &[(&str, &str, &str)] = &[];

/// The line that ends a complete transcript.
const END: &str = "vmx_oracle end=0000000000000000";

/// Writes the kernel of the cases `keep` selects to a temporary file called `name`.
fn kernel_file(name: &str, keep: impl Fn(&cases::Case) -> bool) -> PathBuf {
    let list: Vec<&cases::Case> = cases::all().filter(|c| keep(c)).collect();
    let image = kernel::build(&list);
    let dir = std::env::temp_dir().join(format!("hvbench-vmx-oracle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let p = dir.join(name);
    std::fs::write(&p, image).expect("kernel written");
    p
}

/// Lines grouped by case name (the first word).
fn by_case(out: &str) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for l in out.lines() {
        let l = l.trim_end_matches('\r');
        if let Some((name, _)) = l.split_once(' ') {
            m.entry(name.to_string()).or_default().push(l.to_string());
        }
    }
    m
}

fn hvbench(kernel: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", "--max-instructions", "50000000"])
        .arg(kernel)
        .output()
        .expect("hvbench runs");
    assert_eq!(o.status.code(), Some(0), "hvbench: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_kernel_under_hvbench_prints_the_sdm_values() {
    let k = kernel_file("vmx-cases.elf", |_| true);
    let out = hvbench(&k);
    assert!(out.contains(END), "the transcript is incomplete:\n{out}");
    let got = by_case(&out);
    let mut diffs = Vec::new();
    for c in cases::all() {
        let want = cases::expected_lines(c);
        let have = got.get(c.name).cloned().unwrap_or_default();
        if !cases::hvbench_matches(c, &have) {
            let known = c.hvbench_differs.map(|l| format!("\n  known deviation expected: {l}")).unwrap_or_default();
            diffs.push(format!("{} ({}):\n  SDM:     {want:?}\n  hvbench: {have:?}{known}", c.name, c.doc));
        }
    }
    assert!(diffs.is_empty(), "{} of {} cases differ from the SDM when booted:\n{}", diffs.len(), cases::all().count(), diffs.join("\n"));
}

fn bochs_script() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oracles/bochs/run-iso.sh");
    if !p.exists() {
        eprintln!("SKIPPED: {} is absent (the repository is not beside shared/)", p.display());
        return None;
    }
    if Command::new("bochs").arg("--help").output().is_err() || Command::new("grub-mkrescue").arg("--version").output().is_err() {
        eprintln!("SKIPPED: bochs or grub-mkrescue is not installed");
        return None;
    }
    Some(p)
}

#[test]
fn bochs_agrees_with_hvbench_line_by_line() {
    let Some(script) = bochs_script() else { return };
    let k = kernel_file("vmx-cases-bochs.elf", |c| c.bochs.is_none());
    let ours = by_case(&hvbench(&k));
    let o = Command::new(&script).args(["--timeout", "60"]).arg(&k).output().expect("run-iso.sh runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(out.contains(END), "Bochs's transcript is incomplete:\n{out}");
    let theirs = by_case(&out);
    let mut diffs = Vec::new();
    let mut compared = 0;
    for c in cases::all() {
        let (a, b) = (ours.get(c.name).cloned().unwrap_or_default(), theirs.get(c.name).cloned().unwrap_or_default());
        if let Some(why) = c.bochs {
            eprintln!("not run under Bochs: {} ({why})", c.name);
            continue;
        }
        compared += 1;
        if let Some((_, sdm, line)) = BOCHS_DISAGREES.iter().find(|d| d.0 == c.name) {
            assert!(b.iter().any(|l| l == line), "{}: the allow-list expects Bochs's `{line}` ({sdm}); Bochs printed {b:?}", c.name);
            continue;
        }
        // Where hvbench is known to deviate, Bochs is compared with the SDM's lines.
        let a = if c.hvbench_differs.is_some() { cases::expected_lines(c) } else { a };
        if a.len() != b.len() {
            diffs.push(format!("{}: hvbench printed {} lines, Bochs {}\n  hvbench: {a:?}\n  Bochs:   {b:?}", c.name, a.len(), b.len()));
            continue;
        }
        for (x, y) in a.iter().zip(&b) {
            if x != y {
                let ours = if c.hvbench_differs.is_some() { "SDM" } else { "hvbench" };
                diffs.push(format!("{}:\n  {ours}: {x}\n  Bochs:   {y}", c.name));
            }
        }
    }
    assert!(diffs.is_empty(), "{} differences between hvbench and Bochs ({compared} cases compared):\n{}", diffs.len(), diffs.join("\n"));
    eprintln!("{compared} cases compared with Bochs, {} on the allow-list", BOCHS_DISAGREES.len());
}
