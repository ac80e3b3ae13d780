//! `hvbench bench`: guest instructions per second of hvbench on three workloads, and the
//! ratio against Bochs measured in the same run on the same kernels.
//!
//! For each workload of [`workloads::Kind`] two kernels are built ([`kernel::build`]): one
//! that runs the workload `N` times and a baseline with `N = 0` (the same boot, paging set-up
//! and power-off without the workload). Each emulator's rate is
//! `(instructions(N) - instructions(0)) / (time(N) - time(0))`, which takes out fixed costs
//! (for Bochs: building the GRUB image, BIOS, GRUB; for hvbench: the boot code). The
//! instruction counts are hvbench's retired counts, checked against the workload's own
//! formula; they are the same under Bochs because the workloads are deterministic.
//!
//! Time is host wall-clock time (`std::time::Instant`): a measurement of the host, never
//! visible to a guest.

mod bochs;
pub mod boot;
pub mod elf;
pub mod kernel;
pub mod workloads;

use crate::devices::sink::SerialSink;
use crate::exit_status::{self, Outcome};
use crate::machine::{Machine, MachineConfig};
use clap::Args;
use elf::Header;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;
use workloads::Kind;

/// Options of `hvbench bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Also run every kernel under Bochs and report the ratio hvbench/Bochs (the default when
    /// `bochs` is on PATH).
    #[arg(long, conflicts_with = "no_bochs")]
    pub bochs: bool,
    /// Measure hvbench only.
    #[arg(long)]
    pub no_bochs: bool,
    /// Multiply every workload's iteration count by F (1 = about 3 s per workload in Bochs).
    /// Example: --scale 0.1
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub scale: f64,
    /// Also write the results as JSON to FILE. Example: --json bench.json
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The Bochs oracle script (default: ../shared/oracles/bochs/run-iso.sh from the
    /// repository root). Example: --oracle /work/shared/oracles/bochs/run-iso.sh
    #[arg(long, value_name = "PATH")]
    pub oracle: Option<PathBuf>,
    /// Give the kernels a multiboot v1 header (and boot Bochs's GRUB with `multiboot`)
    /// instead of multiboot2.
    #[arg(long)]
    pub mb1: bool,
}

/// The iteration count of `kind` at scale 1: a few seconds in Bochs, which ran (on an AMD
/// EPYC shared with other jobs) about 90-130 million instructions per second on (a), 45 on
/// (b) and 10 on (c): 400, 197 and 49 million instructions.
pub fn base_count(kind: Kind) -> u32 {
    match kind {
        Kind::RegisterLoop => 100_000_000,
        Kind::ArrayLoop => 250,
        Kind::PageStride => 1_000,
    }
}

/// The iteration count of `kind` at `scale` (at least 1).
pub fn scaled_count(kind: Kind, scale: f64) -> u32 {
    let n = (base_count(kind) as f64 * scale).round();
    if n.is_nan() || n < 1.0 { 1 } else if n > u32::MAX as f64 { u32::MAX } else { n as u32 }
}

/// One kernel run under hvbench.
#[derive(Debug, Clone, Copy)]
pub struct HvRun {
    /// Instructions retired from entry to power-off.
    pub retired: u64,
    /// Wall-clock seconds of `Machine::run`.
    pub seconds: f64,
}

/// Boots `image` under hvbench (128 MiB, one vCPU, COM1 to memory) and checks that it
/// printed [`kernel::DONE`] and powered off.
pub fn run_hvbench(image: &[u8], max_instructions: u64) -> Result<HvRun, String> {
    let cfg = MachineConfig { serial: SerialSink::buffer(), max_instructions: Some(max_instructions), ..MachineConfig::default() };
    let mut m = Machine::new(cfg).map_err(|e| e.to_string())?;
    m.load_multiboot("bench.elf", image, "", &[]).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let outcome = m.run();
    let seconds = t.elapsed().as_secs_f64();
    let serial = m.bus.uart().output().sink().contents().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    if outcome != Outcome::PowerOff || serial != kernel::DONE {
        return Err(format!("hvbench: {}, serial output {serial:?} (expected {:?})", outcome.describe(), kernel::DONE));
    }
    Ok(HvRun { retired: m.retired(), seconds })
}

/// The figures of one workload.
#[derive(Debug, Clone)]
pub struct Row {
    /// The workload.
    pub kind: Kind,
    /// Its iteration count.
    pub count: u32,
    /// Instructions of the workload alone.
    pub instructions: u64,
    /// hvbench seconds for them.
    pub hv_seconds: f64,
    /// Bochs seconds for them, when Bochs ran.
    pub bochs_seconds: Option<f64>,
}

impl Row {
    /// hvbench's million instructions per second.
    pub fn hv_mips(&self) -> f64 {
        self.instructions as f64 / self.hv_seconds / 1e6
    }
    /// Bochs's million instructions per second.
    pub fn bochs_mips(&self) -> Option<f64> {
        self.bochs_seconds.map(|s| self.instructions as f64 / s / 1e6)
    }
    /// hvbench's rate over Bochs's.
    pub fn ratio(&self) -> Option<f64> {
        self.bochs_mips().map(|b| self.hv_mips() / b)
    }
}

/// Where Bochs runs from, when it does.
struct BochsSetup {
    script: PathBuf,
    dir: PathBuf,
}

impl Drop for BochsSetup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `hvbench bench` and returns the process exit status.
pub fn main(args: BenchArgs) -> i32 {
    match bench(&args) {
        Ok(()) => exit_status::POWER_OFF,
        Err((msg, status)) => {
            eprintln!("hvbench bench: {msg}");
            status
        }
    }
}

fn bench(args: &BenchArgs) -> Result<(), (String, i32)> {
    let bad = |m: String| (m, exit_status::BAD_OPTION);
    let internal = |m: String| (m, exit_status::INTERNAL);
    if !(args.scale > 0.0 && args.scale.is_finite()) {
        return Err(bad(format!("--scale {}: must be a positive number", args.scale)));
    }
    let header = if args.mb1 { Header::Multiboot1 } else { Header::Multiboot2 };
    let bochs = if args.no_bochs {
        None
    } else if !bochs::on_path() {
        if args.bochs {
            return Err(bad(bochs::NOT_FOUND.to_string()));
        }
        eprintln!("{}; measuring hvbench only", bochs::NOT_FOUND);
        None
    } else {
        let script = bochs::locate_script(args.oracle.as_deref()).map_err(bad)?;
        let dir = std::env::temp_dir().join(format!("hvbench-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| internal(format!("cannot create {}: {e}", dir.display())))?;
        Some(BochsSetup { script, dir })
    };
    let mut rows = Vec::new();
    for kind in Kind::ALL {
        let count = scaled_count(kind, args.scale);
        eprintln!("{}: {count} iterations ...", kind.name());
        rows.push(measure(kind, count, header, bochs.as_ref()).map_err(internal)?);
    }
    let info = MachineInfo::collect();
    print!("{}", table(&rows, &info));
    if let Some(path) = &args.json {
        std::fs::write(path, json(&rows, &info, args.scale))
            .map_err(|e| bad(format!("--json: cannot write '{}': {e}", path.display())))?;
    }
    Ok(())
}

fn measure(kind: Kind, count: u32, header: Header, bochs: Option<&BochsSetup>) -> Result<Row, String> {
    let full = kernel::build(kind, count, header).map_err(|e| e.to_string())?;
    let base = kernel::build(kind, 0, header).map_err(|e| e.to_string())?;
    let instructions = kind.instructions(count);
    // The boot code and the epilogue take well under a million instructions.
    let hv_base = run_hvbench(&base, 10_000_000)?;
    let hv_full = run_hvbench(&full, instructions.saturating_add(10_000_000))?;
    let retired = hv_full.retired.wrapping_sub(hv_base.retired);
    if retired != instructions {
        return Err(format!("{}: hvbench retired {retired} workload instructions, the workload has {instructions}", kind.name()));
    }
    let hv_seconds = (hv_full.seconds - hv_base.seconds).max(1e-9);
    let bochs_seconds = match bochs {
        None => None,
        Some(b) => {
            // The baseline's start-up time varies by a few tenths of a second: take the
            // fastest of two runs.
            let file = b.dir.join(format!("{}-base.elf", kind.name()));
            let base_s = (0..2).map(|_| bochs_seconds(b, &file, &base, header, 120)).try_fold(f64::INFINITY, |m, s| s.map(|s| m.min(s)))?;
            let file = b.dir.join(format!("{}-full.elf", kind.name()));
            // Bochs manages 100 million instructions per second or so on simple loops, but
            // far fewer when every access misses its TLB: allow 2 M/s.
            let full_s = bochs_seconds(b, &file, &full, header, 120 + instructions / 2_000_000)?;
            let delta = full_s - base_s;
            eprintln!("  Bochs: {full_s:.2} s with the workload, {base_s:.2} s without (boot)");
            if delta < 0.1 * full_s {
                eprintln!(
                    "{}: Bochs took {full_s:.2} s with the workload and {base_s:.2} s without: too close to measure; raise --scale",
                    kind.name()
                );
                None
            } else {
                Some(delta)
            }
        }
    };
    Ok(Row { kind, count, instructions, hv_seconds, bochs_seconds })
}

/// Wall-clock seconds of one Bochs boot of `image` (written to `file`), checking that it
/// printed "done".
fn bochs_seconds(b: &BochsSetup, file: &Path, image: &[u8], header: Header, timeout: u64) -> Result<f64, String> {
    std::fs::write(file, image).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
    let r = bochs::run(&b.script, file, header, timeout)?;
    if !r.serial.contains("done") {
        return Err(format!("Bochs: {} printed {:?}, not \"done\" (timed out after {timeout} s?)", file.display(), r.serial));
    }
    Ok(r.seconds)
}

/// Facts about the host for the report.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    /// UTC date, YYYY-MM-DD.
    pub date: String,
    /// Logical CPUs.
    pub nproc: usize,
    /// /proc/cpuinfo's first "model name".
    pub cpu: String,
    /// `git describe --always --dirty` of the source tree.
    pub commit: String,
}

impl MachineInfo {
    /// Reads the host's facts.
    pub fn collect() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string()))
            .unwrap_or_else(|| "unknown".into());
        let commit = std::process::Command::new("git")
            .arg("-C")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")))
            .args(["describe", "--always", "--dirty", "--abbrev=12"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
        Self { date: civil_date(days as i64), nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1), cpu, commit }
    }
}

/// YYYY-MM-DD of a day number since 1970-01-01 (proleptic Gregorian calendar).
fn civil_date(days: i64) -> String {
    // Shift to an era-based calendar that starts on 0000-03-01 (400-year eras).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The results as a Markdown table with a heading line.
pub fn table(rows: &[Row], info: &MachineInfo) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}, {} x {}, hvbench {}", info.date, info.nproc, info.cpu, info.commit);
    let _ = writeln!(s);
    let _ = writeln!(s, "| workload | N | instructions | hvbench M instr/s | Bochs M instr/s | hvbench/Bochs |");
    let _ = writeln!(s, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        let (b, q) = match (r.bochs_mips(), r.ratio()) {
            (Some(b), Some(q)) => (format!("{b:.1}"), format!("{q:.2}")),
            _ => ("-".into(), "-".into()),
        };
        let _ = writeln!(s, "| {} | {} | {} | {:.1} | {b} | {q} |", r.kind.name(), r.count, r.instructions, r.hv_mips());
    }
    s
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: Option<f64>) -> String {
    v.filter(|x| x.is_finite()).map_or_else(|| "null".into(), |x| format!("{x:.6}"))
}

/// The results as JSON.
pub fn json(rows: &[Row], info: &MachineInfo, scale: f64) -> String {
    let mut s = String::from("{\n");
    let _ = writeln!(s, "  \"date\": {},", json_str(&info.date));
    let _ = writeln!(s, "  \"machine\": {{ \"nproc\": {}, \"cpu\": {} }},", info.nproc, json_str(&info.cpu));
    let _ = writeln!(s, "  \"commit\": {},", json_str(&info.commit));
    let _ = writeln!(s, "  \"scale\": {},", json_num(Some(scale)));
    s.push_str("  \"workloads\": [\n");
    for (i, r) in rows.iter().enumerate() {
        let _ = write!(
            s,
            "    {{ \"name\": {}, \"count\": {}, \"instructions\": {}, \"hvbench_seconds\": {}, \"hvbench_mips\": {}, \"bochs_seconds\": {}, \"bochs_mips\": {}, \"ratio\": {} }}",
            json_str(r.kind.name()),
            r.count,
            r.instructions,
            json_num(Some(r.hv_seconds)),
            json_num(Some(r.hv_mips())),
            json_num(r.bochs_seconds),
            json_num(r.bochs_mips()),
            json_num(r.ratio())
        );
        s.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    s.push_str("  ]\n}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        // Known dates: the epoch, 2000-02-29 (day 11016), 2024-12-31 (day 20088).
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(civil_date(20_088), "2024-12-31");
    }

    #[test]
    fn scaled_counts_stay_positive() {
        assert_eq!(scaled_count(Kind::ArrayLoop, 1e-9), 1);
        assert_eq!(scaled_count(Kind::RegisterLoop, 0.5), 50_000_000);
        assert_eq!(scaled_count(Kind::RegisterLoop, 1e12), u32::MAX);
    }
}
