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
    for opt in ["--append", "--module", "--smp", "--memory", "--cpu", "--serial", "--max-instructions", "--trace", "--serial-input", "--reboot", "--save-snapshot", "--at"] {
        assert!(text.contains(opt), "--help lacks {opt}");
    }
    assert!(text.matches("Example").count() >= 11, "every option should show an example:\n{text}");
    let o = hvbench(&["resume", "--help"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for opt in ["--max-instructions", "--serial", "--trace", "--save-snapshot", "--at"] {
        assert!(text.contains(opt), "resume --help lacks {opt}");
    }
    assert!(text.matches("Example").count() >= 6, "every option should show an example:\n{text}");
}

mod common;

#[test]
fn serial_input_comes_from_a_file_or_stdin() {
    let Some(elf) = common::assemble("kernels/echo.S", "0x100000") else { return };
    let input = std::env::temp_dir().join(format!("hvbench-serial-in-{}.txt", std::process::id()));
    std::fs::write(&input, b"hello from a file.ignored").unwrap();
    let o = hvbench(&["run", elf.to_str().unwrap(), "--serial-input", input.to_str().unwrap()]);
    std::fs::remove_file(&input).ok();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "got: hello from a file\n");

    let mut child = Command::new(env!("CARGO_BIN_EXE_hvbench"))
        .args(["run", elf.to_str().unwrap(), "--serial-input", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"typed on stdin.").unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "got: typed on stdin\n");

    // Without input the guest waits for ever: the budget ends it.
    let o = hvbench(&["run", elf.to_str().unwrap(), "--max-instructions", "100000"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    let o = hvbench(&["run", elf.to_str().unwrap(), "--serial-input", "/nonexistent/input.txt"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--serial-input: cannot read '/nonexistent/input.txt'"), "{}", stderr(&o));
}

/// Runs `hvbench run FILE` on bytes; returns the output.
fn run_image(name: &str, bytes: &[u8], extra: &[&str]) -> Output {
    let p = std::env::temp_dir().join(format!("hvbench-bad-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    let mut args = vec!["run", p.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = hvbench(&args);
    std::fs::remove_file(&p).ok();
    o
}

fn assert_bad_image(o: &Output, needle: &str) {
    assert_eq!(o.status.code(), Some(4), "{}", stderr(o));
    let e = stderr(o);
    assert!(e.starts_with("hvbench: ") && e.contains(needle), "expected {needle:?} in: {e}");
    assert!(!e.contains("panicked") && !e.contains("RUST_BACKTRACE"), "{e}");
}

#[test]
fn bad_kernel_images_have_their_own_messages() {
    let hello = std::fs::read(hello()).unwrap();
    // Truncated: the multiboot header survives, the segment it lies in does not.
    let header = hello.windows(4).position(|w| w == 0x1BAD_B002u32.to_le_bytes()).expect("hello.elf has a multiboot header");
    let o = run_image("truncated.elf", &hello[..header + 64], &[]);
    assert_bad_image(&o, "truncated image");
    let truncated = stderr(&o);
    // Cut inside the ELF header itself.
    assert_bad_image(&run_image("stub.elf", &hello[..40], &[]), "no multiboot header found");
    // An ELF without a multiboot header: hello.elf with every copy of the header magic
    // destroyed (the symbol table holds MB_MAGIC's value too).
    let mut no_header = hello.clone();
    let mut found = 0;
    while let Some(at) = no_header.windows(4).position(|w| w == 0x1BAD_B002u32.to_le_bytes()) {
        no_header[at..at + 4].copy_from_slice(b"XXXX");
        found += 1;
    }
    assert!(found >= 1, "hello.elf has a multiboot header");
    assert_bad_image(&run_image("noheader.elf", &no_header, &[]), "no multiboot header found");
    // Larger than RAM.
    let mut big = hello.clone();
    big.resize(3 << 20, 0);
    assert_bad_image(&run_image("big.elf", &big, &["--memory", "2M"]), "larger than the machine's RAM");
    // Zero bytes.
    assert_bad_image(&run_image("empty.elf", b"", &[]), "empty");
    // Messages differ from each other.
    assert!(!truncated.contains("no multiboot header found") && !truncated.contains("empty"), "{truncated}");
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

#[test]
fn dump_vmcs_prints_the_failed_entry_and_the_current_vmcs() {
    // The vmfail kernel enters VMX operation and VMLAUNCHes an empty VMCS: VMfailValid(7)
    // (SDM Vol. 3C 27.2.1.1, pin-based default1 bits 0). --dump-vmcs shows the VMCS as the
    // failure left it, then the current VMCS at the end, with names and decoded fields.
    let Some(elf) = common::assemble("kernels/vmfail.S", "0x100000") else { return };
    let o = hvbench(&["run", elf.to_str().unwrap(), "--dump-vmcs", "--max-instructions", "1000000"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "vm-instruction error=00000007\n", "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("vCPU 0: VMLAUNCH failed: VMfailValid(7): pin-based VM-execution controls"), "{e}");
    assert!(e.contains("vCPU 0: current VMCS at "), "{e}");
    assert_eq!(e.matches("VM_INSTRUCTION_ERROR").count(), 2, "one failure dump and the final dump: {e}");
    assert!(e.contains("    VM_INSTRUCTION_ERROR               0x4400 = 0x7"), "{e}");
    assert!(e.contains("PIN_BASED_CONTROLS                 0x4000 = 0x0  [none]"), "{e}");
    assert!(e.contains("  guest-state fields:") && e.contains("GUEST_RIP") && e.contains("HOST_RIP"), "{e}");
    assert!(e.contains("launch state clear"), "{e}");
    // Without the flag: no dump.
    let o = hvbench(&["run", elf.to_str().unwrap(), "--max-instructions", "1000000"]);
    assert!(!stderr(&o).contains("VM_INSTRUCTION_ERROR"), "{}", stderr(&o));
}
