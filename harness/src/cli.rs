//! The `hvbench` command line.

use crate::devices::sink::SerialSink;
use crate::dump;
use crate::exit_status::{self, Outcome};
use crate::loader::BootModule;
use crate::machine::{Machine, MachineConfig, MAX_CPUS};
use crate::trace;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;

/// hvbench: a deterministic, cycle-level x86-64 emulator with Intel VT-x, and a test bench
/// for hypervisors.
#[derive(Debug, Parser)]
#[command(name = "hvbench", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Boot a multiboot or multiboot2 kernel (like `qemu-system-x86_64 -kernel`) and run it.
    ///
    /// Exit status: the guest's isa-debug-exit status as QEMU gives it ((v << 1) | 1), 0 for a
    /// power-off, 4 for an image that cannot be loaded, 6 for a triple fault, 8 when
    /// --max-instructions (or --at) runs out, 10 for a deadlock, 12 when the guest used
    /// something hvbench does not model, 18 when the guest asked for a reset (without
    /// --reboot), 2 for a bad option, 14 for an internal error.
    ///
    /// Example: hvbench run examples/hello/hello.elf --append "verbose" --max-instructions 1000000
    Run(RunArgs),
    /// Restore a snapshot file written by `hvbench run --save-snapshot` and run on from there.
    ///
    /// The machine (RAM size, vCPUs, CPU profile) is the snapshot's; COM1 output goes on from
    /// where the snapshot was taken. Exit statuses as for `run`; 4 for a file that is missing,
    /// damaged or of another format version.
    ///
    /// Example: hvbench resume boot.hvsnap --max-instructions 1000000
    Resume(ResumeArgs),
    /// Measure guest instructions per second on three workloads, against Bochs in the same
    /// run when it is installed. Build with --release. Example: hvbench bench --scale 0.2
    Bench(crate::bench::BenchArgs),
}

/// Options of `hvbench run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The kernel: an ELF32 or ELF64 file with a multiboot or multiboot2 header (or a
    /// multiboot a.out-kludge image). Example: examples/hello/hello.elf
    pub kernel: PathBuf,
    /// Text after the kernel's path on the multiboot command line (as QEMU's -append).
    /// Example: --append "console=ttyS0 debug"
    #[arg(long, value_name = "ARGS", default_value = "")]
    pub append: String,
    /// A boot module, optionally with its string after '='. Repeat for several, in order.
    /// Example: --module guest.elf="guest.elf mode=test"
    #[arg(long = "module", value_name = "FILE[=CMDLINE]")]
    pub modules: Vec<String>,
    /// Number of vCPUs, 1 to 64. APs wait for INIT-SIPI-SIPI. Example: --smp 4
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub smp: usize,
    /// RAM size: bytes, or with a K, M or G suffix (KiB, MiB, GiB). Example: --memory 512M
    #[arg(long, default_value = "128M", value_name = "SIZE", value_parser = parse_size)]
    pub memory: u64,
    /// CPU profile: "default" (VMX with EPT, VPID, unrestricted guest) or "no-ept" (VMX with
    /// VPID, without EPT and unrestricted guest). Example: --cpu no-ept
    #[arg(long, default_value = "default", value_name = "PROFILE")]
    pub cpu: String,
    /// Where COM1 output goes: stdio, none, or a file path. Example: --serial out.txt
    #[arg(long, default_value = "stdio", value_name = "stdio|none|FILE")]
    pub serial: String,
    /// What COM1 receives: the bytes of FILE, or of standard input for "-" (read to its end
    /// before the guest starts, so a run stays reproducible). The guest finds them in the
    /// receive buffer one after the other, as fast as it reads them. Example: --serial-input
    /// commands.txt, or: echo "run" | hvbench run kernel.elf --serial-input -
    #[arg(long, value_name = "FILE|-")]
    pub serial_input: Option<PathBuf>,
    /// Stop after this many instructions (all vCPUs together). Example: --max-instructions 50000000
    #[arg(long, value_name = "N")]
    pub max_instructions: Option<u64>,
    /// Write a trace of architectural events (exceptions, interrupts, mode changes, ...) to
    /// FILE, one line each. Example: --trace run.trace
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// At the end of the run, print each vCPU's current VMCS to standard error: every field
    /// with its name, encoding and value, controls decoded into bit names, exit reason and
    /// event information decoded; before it, the VMCS as each failed VM entry (VMfailValid or
    /// VM-entry failure) left it, up to 8 per vCPU. Example: --dump-vmcs
    #[arg(long)]
    pub dump_vmcs: bool,
    /// Carry out the resets the guest asks for (port 0xCF9, port 0x92, 8042 command 0xFE):
    /// the machine powers on again and loads the kernel again, output going on. Without it a
    /// reset ends the run with status 18. Example: --reboot
    #[arg(long)]
    pub reboot: bool,
    /// Snapshot options.
    #[command(flatten)]
    pub snapshot: SaveArgs,
}

/// Where and when to write a snapshot (`run` and `resume`).
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// When the run stops (at its end, or at --at), write a snapshot of the whole machine to
    /// FILE (hvbench's versioned snapshot format; `hvbench resume FILE` goes on from it).
    /// Example: --save-snapshot boot.hvsnap
    #[arg(long, value_name = "FILE")]
    pub save_snapshot: Option<PathBuf>,
    /// Stop after N steps (instructions and event deliveries, all vCPUs together; for
    /// `resume`, N more) and write the snapshot there. Ends with status 8, as
    /// --max-instructions N would. Example: --save-snapshot boot.hvsnap --at 5000000
    #[arg(long, value_name = "N", requires = "save_snapshot", conflicts_with = "max_instructions")]
    pub at: Option<u64>,
}

/// Options of `hvbench resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// A snapshot file written by --save-snapshot. Example: boot.hvsnap
    pub snapshot_file: PathBuf,
    /// Stop after this many more steps. Example: --max-instructions 50000000
    #[arg(long, value_name = "N")]
    pub max_instructions: Option<u64>,
    /// Where COM1 output goes: stdio, none, or a file path. Example: --serial out.txt
    #[arg(long, default_value = "stdio", value_name = "stdio|none|FILE")]
    pub serial: String,
    /// Write a trace of architectural events to FILE. Example: --trace rest.trace
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Snapshot options.
    #[command(flatten)]
    pub snapshot: SaveArgs,
}

/// Parses "4096", "64K", "128M", "2G" (binary units; an optional trailing "iB"/"B").
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t.strip_suffix("iB").or_else(|| t.strip_suffix('B')).unwrap_or(t);
    let (num, shift) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 10),
        Some('M' | 'm') => (&t[..t.len() - 1], 20),
        Some('G' | 'g') => (&t[..t.len() - 1], 30),
        _ => (t, 0),
    };
    let n: u64 = num.trim().parse().map_err(|_| format!("'{s}' is not a size: use bytes or a number with K, M or G (e.g. 512M)"))?;
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("'{s}' is too large"))
}

/// A user error: message and exit status.
struct UserError(String, i32);

/// Runs the command line and returns the process exit status.
pub fn main_with(cli: Cli) -> i32 {
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Resume(args) => resume(args),
        Command::Bench(args) => return crate::bench::main(args),
    };
    match result {
        Ok(status) => status,
        Err(UserError(msg, status)) => {
            eprintln!("hvbench: {msg}");
            status
        }
    }
}

fn read_file(path: &std::path::Path, what: &str) -> Result<Vec<u8>, UserError> {
    std::fs::read(path).map_err(|e| UserError(format!("cannot read {what} '{}': {e}", path.display()), exit_status::BAD_IMAGE))
}

fn open_serial(serial: &str) -> Result<SerialSink, UserError> {
    Ok(match serial {
        "stdio" => SerialSink::Stdout,
        "none" => SerialSink::None,
        path => {
            let f = std::fs::File::create(path)
                .map_err(|e| UserError(format!("--serial: cannot create '{path}': {e}"), exit_status::BAD_OPTION))?;
            SerialSink::File(std::io::BufWriter::new(f))
        }
    })
}

type TraceOut = Option<std::io::BufWriter<std::fs::File>>;

fn open_trace(path: &Option<PathBuf>) -> Result<TraceOut, UserError> {
    path.as_ref()
        .map(|p| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|e| UserError(format!("--trace: cannot create '{}': {e}", p.display()), exit_status::BAD_OPTION))
        })
        .transpose()
}

/// The kernel and modules of `run`, read once (a reboot loads them again).
struct Boot {
    path: String,
    image: Vec<u8>,
    append: String,
    modules: Vec<BootModule>,
}

impl Boot {
    fn load(&self, m: &mut Machine) -> Result<(), UserError> {
        m.load_multiboot(&self.path, &self.image, &self.append, &self.modules).map(|_| ()).map_err(|e| UserError(e.to_string(), exit_status::BAD_IMAGE))
    }
}

fn run(args: RunArgs) -> Result<i32, UserError> {
    if hvbench_vmx::caps::Profile::by_name(&args.cpu).is_none() {
        let names = hvbench_vmx::caps::Profile::NAMES.join(", ");
        return Err(UserError(format!("--cpu '{}': unknown CPU profile (available: {names})", args.cpu), exit_status::BAD_OPTION));
    }
    if args.smp == 0 || args.smp > MAX_CPUS {
        return Err(UserError(format!("--smp {}: hvbench supports 1 to {MAX_CPUS} vCPUs", args.smp), exit_status::BAD_OPTION));
    }
    let serial = open_serial(&args.serial)?;
    let mut trace_out = open_trace(&args.trace)?;
    let serial_input = match &args.serial_input {
        None => Vec::new(),
        Some(p) if p.as_os_str() == "-" => {
            let mut v = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut v)
                .map_err(|e| UserError(format!("--serial-input: cannot read standard input: {e}"), exit_status::BAD_OPTION))?;
            v
        }
        Some(p) => std::fs::read(p).map_err(|e| UserError(format!("--serial-input: cannot read '{}': {e}", p.display()), exit_status::BAD_OPTION))?,
    };
    let mut boot = Boot { path: args.kernel.display().to_string(), image: read_file(&args.kernel, "kernel")?, append: args.append.clone(), modules: Vec::new() };
    for m in &args.modules {
        let (file, cmdline) = match m.split_once('=') {
            Some((f, c)) => (f.to_string(), c.to_string()),
            None => (m.clone(), m.clone()),
        };
        let data = read_file(std::path::Path::new(&file), "module")?;
        boot.modules.push(BootModule { data, cmdline });
    }
    let budget = args.snapshot.at.or(args.max_instructions);
    let cfg = MachineConfig {
        memory: args.memory,
        cpus: args.smp,
        serial,
        serial_input,
        max_instructions: budget,
        trace: trace_out.is_some(),
        cpu_profile: args.cpu.clone(),
        ..MachineConfig::default()
    };
    let mut m = Machine::new(cfg).map_err(|e| UserError(e.to_string(), exit_status::BAD_OPTION))?;
    if args.dump_vmcs {
        record_failed_entries(&mut m);
    }
    boot.load(&mut m)?;
    // Steps of the boots before the current one (the budget covers them all).
    let mut earlier = 0u64;
    let outcome = loop {
        let outcome = m.run();
        report_records(&mut m, &mut trace_out);
        match outcome {
            Outcome::Reset(source) if args.reboot => {
                if let Some(out) = &mut trace_out {
                    let _ = writeln!(out, "reboot: guest requested a reset ({})", source.describe());
                }
                earlier += m.steps();
                m.reset().map_err(|e| UserError(e.to_string(), exit_status::INTERNAL))?;
                m.set_max_instructions(budget.map(|b| b.saturating_sub(earlier)));
                if args.dump_vmcs {
                    record_failed_entries(&mut m);
                }
                boot.load(&mut m)?;
            }
            o => break o,
        }
    };
    finish(&m, &outcome, trace_out, &args.snapshot, args.dump_vmcs)
}

fn resume(args: ResumeArgs) -> Result<i32, UserError> {
    let file = &args.snapshot_file;
    let snap = crate::snapshot::Snapshot::load(file)
        .map_err(|e| UserError(format!("cannot resume from '{}': {e}", file.display()), exit_status::BAD_IMAGE))?;
    let serial = open_serial(&args.serial)?;
    let mut trace_out = open_trace(&args.trace)?;
    let cfg = MachineConfig {
        memory: snap.memory,
        cpus: snap.cpus.len(),
        serial,
        trace: trace_out.is_some(),
        cpu_profile: snap.schedule.cpu_profile.clone(),
        ..MachineConfig::default()
    };
    let bad = |e: String| UserError(format!("cannot resume from '{}': {e}", file.display()), exit_status::BAD_IMAGE);
    let mut m = Machine::new(cfg).map_err(|e| bad(e.to_string()))?;
    m.restore(&snap).map_err(|e| bad(e.to_string()))?;
    let start = m.steps();
    m.set_max_instructions(args.snapshot.at.or(args.max_instructions).map(|n| start.saturating_add(n)));
    let outcome = m.run();
    report_records(&mut m, &mut trace_out);
    finish(&m, &outcome, trace_out, &args.snapshot, false)
}

/// Reports unimplemented instructions, failed VMX operations and VMX aborts on stderr, and writes the
/// trace records, once per boot.
fn report_records(m: &mut Machine, trace_out: &mut TraceOut) {
    let mut reported = std::collections::BTreeSet::new();
    for r in m.take_records() {
        if let hvbench_cpu::Event::Unimplemented { rip, text } = &r.event
            && reported.insert((*rip, text.clone()))
        {
            eprintln!("hvbench: vCPU {} at rip={rip:#x}: unimplemented instruction `{text}` (the guest got #UD)", r.cpu);
        }
        // VMfail and failed VM entries are always recorded; say why on stderr.
        match &r.event {
            hvbench_cpu::Event::VmInstruction { outcome, .. } if *outcome != hvbench_cpu::VmOutcome::Succeed => {
                eprintln!("hvbench: {}", trace::line(&r));
            }
            hvbench_cpu::Event::VmExit { reason, .. } if reason & (1 << 31) != 0 => eprintln!("hvbench: {}", trace::line(&r)),
            // A VMX abort (SDM 28.7) ends in the shutdown state: say why before "triple-faulted".
            hvbench_cpu::Event::VmExit { detail, .. } if hvbench_vmx::abort::is_explanation(detail) => eprintln!("hvbench: {}", trace::line(&r)),
            _ => {}
        }
        if let Some(out) = trace_out {
            let _ = writeln!(out, "{}", trace::line(&r));
        }
    }
}

/// Ends a run: the trace's last line, the snapshot, what went wrong on stderr; returns the
/// exit status.
fn finish(m: &Machine, outcome: &Outcome, trace_out: TraceOut, save: &SaveArgs, dump_vmcs: bool) -> Result<i32, UserError> {
    if let Some(mut out) = trace_out {
        let _ = writeln!(out, "end {}", outcome.describe());
        out.flush().map_err(|e| UserError(format!("--trace: write failed: {e}"), exit_status::INTERNAL))?;
    }
    if let Some(path) = &save.save_snapshot {
        m.snapshot()
            .save(path)
            .map_err(|e| UserError(format!("--save-snapshot: cannot write '{}': {e}", path.display()), exit_status::BAD_OPTION))?;
    }
    match outcome {
        Outcome::BudgetExhausted if save.at.is_some() => {
            eprintln!("hvbench: stopped at step {} (--at); snapshot written", m.steps());
        }
        Outcome::TripleFault { .. } | Outcome::Deadlock | Outcome::Unsupported { .. } | Outcome::BudgetExhausted | Outcome::Reset(_) => {
            eprintln!("hvbench: {}", outcome.describe());
            if matches!(outcome, Outcome::TripleFault { .. } | Outcome::Deadlock | Outcome::Unsupported { .. }) {
                for (i, c) in m.cpus.iter().enumerate() {
                    eprint!("{}", dump::cpu_state(i, c));
                }
            }
        }
        _ => {}
    }
    if dump_vmcs {
        eprint!("{}", vmcs_dumps(m));
    }
    Ok(outcome.exit_status())
}

/// `--dump-vmcs`: makes every vCPU keep a VMCS dump of each failed VM entry.
fn record_failed_entries(m: &mut Machine) {
    for c in m.cpus.iter_mut() {
        if let Some(v) = hvbench_vmx::state_mut(c) {
            v.dump_failures = true;
        }
    }
}

/// `--dump-vmcs`: the failed-entry dumps and the current VMCS of each vCPU.
fn vmcs_dumps(m: &Machine) -> String {
    let mut out = String::new();
    for (i, c) in m.cpus.iter().enumerate() {
        let Some(v) = hvbench_vmx::state(c) else { continue };
        for d in &v.failure_dumps {
            out.push_str(&format!("vCPU {i}: {d}"));
        }
        match (v.in_vmx, v.current) {
            (false, _) => out.push_str(&format!("vCPU {i}: not in VMX operation\n")),
            (true, None) => out.push_str(&format!("vCPU {i}: in VMX operation, no current VMCS\n")),
            (true, Some(a)) => {
                let read = |pa: u64| m.mem.read_le(hvbench_mmu::PhysAddr(pa), 8).unwrap_or(0);
                out.push_str(&format!("vCPU {i}: current {}", hvbench_vmx::dump::vmcs(a, &v.profile, read)));
            }
        }
    }
    out
}
