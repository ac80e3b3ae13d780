//! `hvbench run` from the outside: exit statuses and messages for good and bad input.

use std::path::Path;
use std::process::{Command, Output};

fn hvbench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hvbench")).args(args).output().expect("hvbench runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn hello() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello/hello.elf").display().to_string()
}

#[test]
fn missing_kernel_file_is_a_bad_image() {
    let o = hvbench(&["run", "/nonexistent/kernel.elf"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("cannot read kernel '/nonexistent/kernel.elf'"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"));
}

#[test]
fn empty_kernel_file_has_its_own_message() {
    let p = std::env::temp_dir().join(format!("hvbench-empty-{}.elf", std::process::id()));
    std::fs::write(&p, b"").unwrap();
    let o = hvbench(&["run", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).to_lowercase().contains("empty"), "{}", stderr(&o));
}

#[test]
fn missing_module_file_is_named() {
    let o = hvbench(&["run", &hello(), "--module", "/nonexistent/mod.bin=mod args"]);
    assert_eq!(o.status.code(), Some(4));
    assert!(stderr(&o).contains("cannot read module '/nonexistent/mod.bin'"), "{}", stderr(&o));
}

#[test]
fn bad_options_exit_with_status_2() {
    for args in [
        vec!["run", "k.elf", "--memory", "lots"],
        vec!["run", "k.elf", "--smp", "0"],
        vec!["run", "k.elf", "--smp", "65"],
        vec!["run", "k.elf", "--cpu", "pentium"],
        vec!["run", "k.elf", "--memory", "1K"],
    ] {
        let mut args = args;
        let h = hello();
        args[1] = &h;
        let o = hvbench(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("hvbench: ") || stderr(&o).contains("error:"), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{args:?}");
    }
}

#[test]
fn budget_exhaustion_has_its_own_status() {
    let o = hvbench(&["run", &hello(), "--serial", "none", "--max-instructions", "5"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("instruction budget exhausted"));
}

#[test]
fn help_documents_every_run_option_with_an_example() {
    let o = hvbench(&["run", "--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for opt in ["--append", "--module", "--smp", "--memory", "--cpu", "--serial", "--max-instructions", "--trace"] {
        assert!(text.contains(opt), "--help lacks {opt}");
    }
    assert!(text.matches("Example").count() >= 8, "every option should show an example:\n{text}");
}

#[test]
fn cpu_profiles_are_selectable() {
    // Both VMX profiles run the example kernel; an unknown one names the available profiles.
    for p in ["default", "no-ept"] {
        let o = hvbench(&["run", &hello(), "--serial", "none", "--cpu", p]);
        assert_ne!(o.status.code(), Some(2), "--cpu {p}: {}", stderr(&o));
    }
    let o = hvbench(&["run", &hello(), "--cpu", "pentium"]);
    assert!(stderr(&o).contains("available: default, no-ept"), "{}", stderr(&o));
}
