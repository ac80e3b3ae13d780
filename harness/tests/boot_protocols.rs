//! Boot protocols against the specifications and two other boot loaders.
//!
//! tests/kernels/mbinfo1.S (multiboot v1) and mbinfo2.S (multiboot2) print what they were
//! handed over COM1, one item a line. hvbench's reports are checked field by field against
//! the Multiboot Specification 0.6.96 (section 3.3) and Multiboot2 2.0 (section 3.6); then
//! the same kernels boot under QEMU 7.2 (`-kernel`, multiboot v1 only) and under GRUB 2.06 in
//! Bochs 2.7 (`shared/oracles/bochs/run-iso.sh`, one boot per protocol: each takes ~10 s),
//! and the fields that must agree are compared.
//!
//! Fields that legitimately differ, and are not compared across loaders:
//! - boot_loader_name: "hvbench", "qemu", "GRUB 2.06-...".
//! - The command line's first word: hvbench and QEMU start it with the kernel's path (as
//!   QEMU's -kernel does), GRUB gives only the arguments. The arguments are compared.
//! - Module strings: QEMU's -initrd takes "FILE ARGS" as the whole string; GRUB gives the
//!   arguments after the file; hvbench gives what follows '=' in --module. Each oracle run
//!   gets the hvbench spelling that means the same, and the strings are compared.
//! - Module start addresses (each loader places modules itself; all page-aligned, flags
//!   bit 0) and mem_upper / memory map contents (every firmware reserves different areas:
//!   SeaBIOS the top 128 KiB of RAM, Bochs's BIOS ACPI data): compared by structure (sorted,
//!   no overlap, available RAM inside the machine's RAM, mem_lower/mem_upper consistent with
//!   the map).
//! - Multiboot v1 flags: QEMU also sets bit 1 (boot_device), GRUB bits 1, 5, 11, 12 (boot
//!   device, ELF sections, APM, framebuffer): optional information hvbench does not give.
//!   Every bit hvbench sets must be set by the others too.
//! - Multiboot2 tags beyond the ones hvbench gives (GRUB adds load base address, ELF
//!   sections, framebuffer, VBE, BIOS boot device, APM...), and tag order (not specified).
//! - The ACPI RSDP's revision: Bochs's BIOS has an ACPI 1.0 RSDP (revision 0), hvbench's
//!   tables are ACPI 2.0 (revision 2). The signatures are compared, and the rule that picks
//!   the tag: GRUB gives tag 14 alone for its revision-0 RSDP, hvbench tag 15 alone for its
//!   revision-2 one (GRUB's rule on a BIOS PC, see loader/multiboot2.rs).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

const CMDLINE_ARGS: &str = "alpha beta=2 gamma";
/// RAM of every machine here, MiB (Bochs's run-iso.sh default, QEMU's -m).
const RAM_MIB: u64 = 256;

/// Two module files with known contents, in a fresh directory.
fn modules() -> (PathBuf, PathBuf) {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("hvbench-bootmods-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("first.bin"), dir.join("second.bin"));
    std::fs::write(&a, b"ABCDmodule-one-data").unwrap();
    std::fs::write(&b, (0..5000u32).map(|i| (i * 7 + 3) as u8).collect::<Vec<u8>>()).unwrap();
    (a, b)
}

/// A module as the report prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Module {
    start: u64,
    size: u64,
    first: u32,
    string: String,
}

/// A memory map entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Region {
    base: u64,
    len: u64,
    kind: u32,
}

/// What a test kernel printed, parsed.
#[derive(Debug, Default)]
struct Report {
    magic: u32,
    flags: Option<u32>,
    total_size: Option<u32>,
    tags: Vec<(u32, u32)>,
    mem_lower: Option<u32>,
    mem_upper: Option<u32>,
    cmdline: Option<String>,
    modules: Vec<Module>,
    mmap: Vec<Region>,
    entry: Option<(u32, u32)>,
    loader: Option<String>,
    rsdp_signatures: Vec<String>,
    ended: bool,
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s, 16).unwrap_or_else(|_| panic!("not hex: {s:?}"))
}

/// `key=value` pairs of a line; the last key (string=, cmdline=, ...) takes the rest.
fn value<'a>(line: &'a str, key: &str) -> &'a str {
    let at = line.find(&format!("{key}=")).unwrap_or_else(|| panic!("{key}= missing in {line:?}")) + key.len() + 1;
    let rest = &line[at..];
    if matches!(key, "string" | "cmdline" | "boot_loader_name" | "signature") { rest } else { rest.split(' ').next().unwrap_or("") }
}

fn parse(out: &str) -> Report {
    let mut r = Report::default();
    for line in out.lines().map(|l| l.trim_end_matches('\r')) {
        if let Some(v) = line.strip_prefix("magic=") {
            r.magic = hex(v) as u32;
        } else if let Some(v) = line.strip_prefix("flags=") {
            r.flags = Some(hex(v) as u32);
        } else if let Some(v) = line.strip_prefix("total_size=") {
            r.total_size = Some(hex(v) as u32);
        } else if line.starts_with("tag type=") {
            r.tags.push((hex(value(line, "type")) as u32, hex(value(line, "size")) as u32));
        } else if line.starts_with("mem_lower=") {
            r.mem_lower = Some(hex(value(line, "mem_lower")) as u32);
            r.mem_upper = Some(hex(value(line, "mem_upper")) as u32);
        } else if let Some(v) = line.strip_prefix("cmdline=") {
            r.cmdline = Some(v.to_string());
        } else if line.starts_with("module ") {
            r.modules.push(Module {
                start: hex(value(line, "start")),
                size: hex(value(line, "size")),
                first: hex(value(line, "first")) as u32,
                string: value(line, "string").to_string(),
            });
        } else if line.starts_with("mmap ") {
            r.mmap.push(Region { base: hex(value(line, "base")), len: hex(value(line, "len")), kind: hex(value(line, "type")) as u32 });
        } else if line.starts_with("entry_size=") {
            r.entry = Some((hex(value(line, "entry_size")) as u32, hex(value(line, "entry_version")) as u32));
        } else if let Some(v) = line.strip_prefix("boot_loader_name=") {
            r.loader = Some(v.to_string());
        } else if line.starts_with("rsdp ") {
            r.rsdp_signatures.push(value(line, "signature").chars().take(8).collect());
        } else if line == "end" {
            r.ended = true;
        }
    }
    r
}

/// The command line without its first word when that is the kernel's path.
fn args_of(cmdline: &str) -> &str {
    match cmdline.split_once(' ') {
        Some((first, rest)) if first.contains('/') => rest,
        _ if cmdline.contains('/') && !cmdline.contains(' ') => "",
        _ => cmdline,
    }
}

/// The memory map's structure, as both specifications require: entries sorted by base
/// (what every loader here gives, not required), no overlap, available RAM inside the
/// machine's RAM, the low available region covering mem_lower and the one at 1 MiB covering
/// mem_upper (mb1 3.3: mem_upper is the amount up to the first hole above 1 MiB).
fn check_memory(r: &Report, ram: u64, who: &str) {
    assert!(!r.mmap.is_empty(), "{who}: no memory map");
    for w in r.mmap.windows(2) {
        assert!(w[0].base + w[0].len <= w[1].base, "{who}: memory map entries overlap or are unsorted: {:?}", r.mmap);
    }
    let available: u64 = r.mmap.iter().filter(|e| e.kind == 1).map(|e| e.len).sum();
    assert!(available <= ram && available > ram - (2 << 20), "{who}: available RAM {available:#x} for {ram:#x} of RAM");
    for e in r.mmap.iter().filter(|e| e.kind == 1) {
        assert!(e.base + e.len <= ram.max(4 << 30), "{who}: {e:?} outside RAM");
    }
    let (lower, upper) = (u64::from(r.mem_lower.expect("mem_lower")), u64::from(r.mem_upper.expect("mem_upper")));
    assert!(lower <= 640, "{who}: mem_lower {lower} KiB; the specification's maximum is 640");
    let low = r.mmap.iter().find(|e| e.kind == 1 && e.base == 0).expect("available RAM at 0");
    assert!(low.len >= lower * 1024, "{who}: mem_lower {lower} KiB beyond the map's {low:?}");
    let high = r.mmap.iter().find(|e| e.kind == 1 && e.base == 1 << 20).expect("available RAM at 1 MiB");
    assert_eq!(high.len, upper * 1024, "{who}: mem_upper {upper} KiB against the map's {high:?}");
}

/// Modules: page-aligned (mb1 flags bit 0; mb2 modules are page-aligned too, 3.6.6), not
/// overlapping, in available RAM, with the size and first bytes of their files.
fn check_modules(r: &Report, files: &[&Path], strings: &[&str], who: &str) {
    assert_eq!(r.modules.len(), files.len(), "{who}: {:?}", r.modules);
    for ((m, f), s) in r.modules.iter().zip(files).zip(strings) {
        let data = std::fs::read(f).unwrap();
        assert_eq!(m.size, data.len() as u64, "{who}: module size");
        assert_eq!(m.first, u32::from_le_bytes(data[..4].try_into().unwrap()), "{who}: module's first bytes");
        assert_eq!(&m.string, s, "{who}: module string");
        assert_eq!(m.start % 4096, 0, "{who}: module at {:#x} is not page-aligned", m.start);
        assert!(r.mmap.iter().any(|e| e.kind == 1 && e.base <= m.start && m.start + m.size <= e.base + e.len), "{who}: module outside available RAM");
    }
    for w in r.modules.windows(2) {
        assert!(w[0].start + w[0].size <= w[1].start, "{who}: modules overlap");
    }
}

fn hvbench(kernel: &Path, modules: &[String]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hvbench"));
    c.args(["run", "--memory", &format!("{RAM_MIB}M"), "--append", CMDLINE_ARGS]).arg(kernel);
    for m in modules {
        c.args(["--module", m]);
    }
    let o = c.output().expect("hvbench runs");
    assert_eq!(o.status.code(), Some(0), "hvbench: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
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

fn bochs(script: &Path, mb1: bool, kernel: &Path, modules: &[&Path]) -> String {
    let mut c = Command::new(script);
    if mb1 {
        c.arg("--mb1");
    }
    c.args(["--timeout", "50"]).arg(kernel).args(["--cmdline", CMDLINE_ARGS]).args(modules);
    let o = c.output().expect("run-iso.sh runs");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn multiboot1_information_as_the_specification_and_qemu_and_grub_give_it() {
    let Some(kernel) = common::assemble("kernels/mbinfo1.S", "0x100000") else { return };
    let (a, b) = modules();
    let (an, bn) = (name(&a), name(&b));
    // --- hvbench, against the specification (section 3.3).
    let out = hvbench(&kernel, &[format!("{}={an} first", a.display()), b.display().to_string()]);
    let ours = parse(&out);
    assert!(ours.ended, "{out}");
    assert_eq!(ours.magic, 0x2BAD_B002, "EAX magic (3.2)");
    let flags = ours.flags.unwrap();
    for (bit, what) in [(0, "mem_*"), (2, "cmdline"), (3, "mods"), (6, "mmap"), (9, "boot_loader_name")] {
        assert!(flags & (1 << bit) != 0, "flags bit {bit} ({what}) missing: {flags:#x}");
    }
    assert_eq!(ours.cmdline.as_deref(), Some(format!("{} {CMDLINE_ARGS}", kernel.display()).as_str()));
    assert_eq!(ours.loader.as_deref(), Some("hvbench"));
    assert_eq!((ours.mem_lower, ours.mem_upper), (Some(639), Some((RAM_MIB as u32 - 1) * 1024)));
    check_memory(&ours, RAM_MIB << 20, "hvbench");
    check_modules(&ours, &[&a, &b], &[&format!("{an} first"), &b.display().to_string()], "hvbench");

    // --- QEMU -kernel: -initrd "FILE ARGS" gives the string "FILE ARGS".
    if Command::new("qemu-system-x86_64").arg("--version").output().is_err() {
        eprintln!("SKIPPED (QEMU part): qemu-system-x86_64 is not installed");
    } else {
        let q = Command::new("timeout")
            .args(["30", "qemu-system-x86_64", "-nodefaults", "-nographic", "-no-reboot", "-serial", "stdio", "-m", &RAM_MIB.to_string()])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-kernel"])
            .arg(&kernel)
            .args(["-append", CMDLINE_ARGS, "-initrd", &format!("{} {an} first,{}", a.display(), b.display())])
            .output()
            .expect("qemu runs");
        let raw = String::from_utf8_lossy(&q.stdout).replace('\r', "");
        let text = raw.find("magic=").map_or(raw.as_str(), |i| &raw[i..]);
        let qemu = parse(text);
        assert!(qemu.ended, "QEMU:\n{raw}");
        // Same hvbench invocation but with QEMU's module strings.
        let ours_q = parse(&hvbench(&kernel, &[format!("{0}={0} {an} first", a.display()), b.display().to_string()]));
        assert_eq!(qemu.magic, ours_q.magic);
        assert_eq!(qemu.cmdline, ours_q.cmdline, "QEMU also puts the kernel's path first");
        assert_eq!(qemu.flags.unwrap() & flags, flags, "every flag hvbench sets, QEMU sets");
        assert_eq!(qemu.mem_lower, ours_q.mem_lower);
        let strip = |m: &[Module]| m.iter().map(|m| (m.size, m.first, m.string.clone())).collect::<Vec<_>>();
        assert_eq!(strip(&qemu.modules), strip(&ours_q.modules));
        check_memory(&qemu, RAM_MIB << 20, "QEMU");
        assert_eq!(qemu.loader.as_deref(), Some("qemu"));
    }

    // --- GRUB in Bochs: module strings are the words after the file.
    let Some(script) = bochs_script() else { return };
    let text = bochs(&script, true, &kernel, &[&a, &b]);
    let grub = parse(&text);
    assert!(grub.ended, "Bochs/GRUB:\n{text}");
    let ours_g = parse(&hvbench(&kernel, &[format!("{}={an}", a.display()), format!("{}={bn}", b.display())]));
    assert_eq!(grub.magic, ours_g.magic);
    assert_eq!(grub.cmdline.as_deref().map(args_of), Some(CMDLINE_ARGS));
    assert_eq!(ours_g.cmdline.as_deref().map(args_of), Some(CMDLINE_ARGS));
    assert_eq!(grub.flags.unwrap() & flags, flags, "every flag hvbench sets, GRUB sets");
    let strip = |m: &[Module]| m.iter().map(|m| (m.size, m.first, m.string.clone())).collect::<Vec<_>>();
    assert_eq!(strip(&grub.modules), strip(&ours_g.modules));
    check_modules(&grub, &[&a, &b], &[&an, &bn], "GRUB");
    assert!(grub.loader.as_deref().is_some_and(|l| l.starts_with("GRUB")), "{text}");
    assert!(grub.mem_lower.is_some() && grub.mem_upper.is_some());
}

/// mb2 3.6: total_size covers the fixed part, every tag padded to 8 bytes and the end tag.
fn check_tag_sizes(r: &Report, who: &str) {
    let sum: u32 = 8 + r.tags.iter().map(|(_, s)| (s + 7) & !7).sum::<u32>() + 8;
    assert_eq!(r.total_size, Some(sum), "{who}: total_size against the tags {:?}", r.tags);
}

#[test]
fn multiboot2_information_as_the_specification_and_grub_give_it() {
    let Some(kernel) = common::assemble("kernels/mbinfo2.S", "0x100000") else { return };
    let (a, b) = modules();
    let (an, bn) = (name(&a), name(&b));
    let out = hvbench(&kernel, &[format!("{}={an}", a.display()), format!("{}={bn}", b.display())]);
    let ours = parse(&out);
    assert!(ours.ended, "{out}");
    assert_eq!(ours.magic, 0x36D7_6289, "EAX magic (3.3)");
    check_tag_sizes(&ours, "hvbench");
    let types: Vec<u32> = ours.tags.iter().map(|t| t.0).collect();
    for (t, what) in [(1, "cmdline"), (2, "boot loader name"), (3, "module"), (4, "basic meminfo"), (6, "memory map")] {
        assert!(types.contains(&t), "tag {t} ({what}) missing: {types:?}");
    }
    // One ACPI tag, chosen by the RSDP's revision as GRUB does on a BIOS PC: hvbench's
    // tables are ACPI 2.0 (revision 2), so tag 15 with the whole 36-byte RSDP.
    let acpi: Vec<(u32, u32)> = ours.tags.iter().copied().filter(|t| t.0 == 14 || t.0 == 15).collect();
    assert_eq!(acpi, [(15, 8 + 36)], "ACPI tags (type, size): {:?}", ours.tags);
    assert!(ours.rsdp_signatures.iter().all(|s| s == "RSD PTR "), "{:?}", ours.rsdp_signatures);
    assert_eq!(ours.cmdline.as_deref(), Some(format!("{} {CMDLINE_ARGS}", kernel.display()).as_str()));
    assert_eq!(ours.loader.as_deref(), Some("hvbench"));
    assert_eq!(ours.entry, Some((24, 0)), "mmap entry_size 24, entry_version 0 (3.6.8)");
    check_memory(&ours, RAM_MIB << 20, "hvbench");
    check_modules(&ours, &[&a, &b], &[&an, &bn], "hvbench");

    let Some(script) = bochs_script() else { return };
    let text = bochs(&script, false, &kernel, &[&a, &b]);
    let grub = parse(&text);
    assert!(grub.ended, "Bochs/GRUB:\n{text}");
    assert_eq!(grub.magic, ours.magic);
    check_tag_sizes(&grub, "GRUB");
    assert_eq!(grub.cmdline.as_deref().map(args_of), ours.cmdline.as_deref().map(args_of));
    assert_eq!(grub.entry, ours.entry);
    let strip = |m: &[Module]| m.iter().map(|m| (m.size, m.first, m.string.clone())).collect::<Vec<_>>();
    assert_eq!(strip(&grub.modules), strip(&ours.modules));
    check_modules(&grub, &[&a, &b], &[&an, &bn], "GRUB");
    assert!(grub.mem_lower.is_some());
    assert!(!grub.rsdp_signatures.is_empty() && grub.rsdp_signatures.iter().all(|s| s == "RSD PTR "), "{text}");
    // The same rule on GRUB's side: Bochs's BIOS has a revision-0 RSDP, and GRUB passes it in
    // tag 14 (20 bytes) and gives no tag 15.
    let grub_acpi: Vec<(u32, u32)> = grub.tags.iter().copied().filter(|t| t.0 == 14 || t.0 == 15).collect();
    assert_eq!(grub_acpi, [(14, 8 + 20)], "GRUB's ACPI tags: {:?}", grub.tags);
    assert!(grub.loader.as_deref().is_some_and(|l| l.starts_with("GRUB")), "{text}");
}
