//! The machine: RAM, the PC device bus, 1 to 64 vCPUs and one virtual clock, run in a fixed,
//! deterministic interleaving.
//!
//! vCPUs take turns in index order, each running a quantum of steps (instructions and
//! delivered events). A turn is cut into pieces: a piece ends after every device write (port,
//! MMIO, local APIC MSR, TSC; the machine then carries out INIT and SIPI that the write sent,
//! and sees exit requests), at HLT, and at the first instruction boundary at which the vCPU's
//! clock has reached the next device deadline: its local APIC timer's, or the PIT's or RTC's
//! next interrupt ([`PcBus::device_deadline`]). Then the turn goes on until the quantum is used
//! up or the vCPU halts. Everything happens in this one fixed order on one host thread, so a
//! run is reproducible bit for bit.
//!
//! Interrupts are sampled at the start of every piece and at the instruction boundary after
//! anything that may make one deliverable (IF set, end of an interrupt shadow, a device read
//! or write, a delivery, IRET, VM entry and exit). Since every device's interrupt line changes
//! either with a guest access or at a deadline where a piece ends, a vCPU takes each
//! interrupt at an instruction boundary that depends only on virtual time and the guest. So a
//! run may stop anywhere, at the `max_instructions` budget, at a [`Until`] condition of
//! [`Machine::run_until`] or for a snapshot, and go on (or be restored into a fresh machine)
//! exactly as if it had not stopped: the machine keeps its place in the schedule (the vCPU
//! whose turn it is and what is left of its quantum are part of a snapshot), the extra piece
//! that starts there samples nothing new, and at the end of every piece the devices and the
//! vCPU's APIC clock are brought to the vCPU's time, so their state does not depend on
//! where pieces were cut either (harness/tests/stop_anywhere.rs).
//!
//! Virtual time is the cycle count of the vCPUs (1 cycle = 1 ns at the model's nominal
//! 1 GHz); the machine's time is the largest. Each vCPU's TSC and local APIC timer run on its
//! own cycle count, which never goes backwards: a running vCPU lags the others by at most
//! about one quantum; a sleeping (halted, waiting-for-SIPI) vCPU's clock follows the
//! machine's at each of its turns, stopping at its own APIC timer deadline if that comes
//! first, so the timer interrupt arrives exactly on time. PIT, RTC and ACPI PM timer see the
//! machine's time. When every vCPU sleeps, time jumps to the next deadline (PIT, RTC or an
//! APIC timer); the machine reports a deadlock when no vCPU can ever wake: each waits for a
//! SIPI, is shut down, or halted with IF=0, and no NMI is pending or routable.
//!
//! SMP: vCPU 0 is the BSP; the APs start in wait-for-SIPI. INIT (SDM Vol. 3A 10.1.1,
//! Table 10-1, INIT column) resets a vCPU's state but keeps x87/SSE state, XCR0, the MSRs
//! (MTRRs, PAT, IA32_APIC_BASE, ...), the TSC and CR0.CD/NW; the BSP then runs from the reset
//! vector, an AP waits for a SIPI. A SIPI with vector VV starts a waiting AP in real mode
//! at CS = VV00h (base VV000h), IP = 0; a SIPI to a vCPU that is not waiting is ignored.

use crate::devices::debug_exit::ExitRequest;
use crate::devices::pc_bus::{PcBus, PcBusConfig};
use crate::devices::sink::SerialSink;
use crate::exit_status::Outcome;
use crate::loader::{self, BootConfig, BootModule, EntryState, LoadError};
use hvbench_cpu::segment::{DescTable, Descriptor, SegReg};
use hvbench_cpu::state::{Activity, CpuState, RESET_CODE_ATTR};
use hvbench_cpu::segment::Segment;
use crate::devices::lapic::{APIC_BASE_BSP, Startup};
use hvbench_mmu::Bus;
use hvbench_cpu::{Cpu, CpuConfig, Event, StopReason};
use hvbench_mmu::{PhysAddr, PhysMem, RamLayoutError};

mod watch;
pub use watch::{Stop, Until};

/// The most vCPUs a machine may have.
pub const MAX_CPUS: usize = 64;
/// Where the loader's entry GDT lives (in the EBDA, which the memory map reports reserved).
const ENTRY_GDT: u64 = 0x9_fc00;
/// Entry code selector (as QEMU's multiboot loader uses).
const ENTRY_CS: u16 = 0x10;
/// Entry data selector.
const ENTRY_DS: u16 = 0x18;

/// How to build a machine.
#[derive(Debug)]
pub struct MachineConfig {
    /// RAM in bytes.
    pub memory: u64,
    /// Number of vCPUs (1..=64).
    pub cpus: usize,
    /// Where COM1 output goes.
    pub serial: SerialSink,
    /// What COM1 receives.
    pub serial_input: Vec<u8>,
    /// Stop after this many instructions (all vCPUs together).
    pub max_instructions: Option<u64>,
    /// Instructions a vCPU runs per turn.
    pub quantum: u64,
    /// Record architectural events for the trace.
    pub trace: bool,
    /// Seed of RDRAND/RDSEED.
    pub rng_seed: u64,
    /// The CPU profile: its VMX capabilities (`hvbench_vmx::caps::Profile::by_name`).
    pub cpu_profile: String,
}

impl Default for MachineConfig {
    fn default() -> Self {
        Self {
            memory: 128 << 20,
            cpus: 1,
            serial: SerialSink::Stdout,
            serial_input: Vec::new(),
            max_instructions: None,
            quantum: 10_000,
            trace: false,
            rng_seed: 0x6876_6265_6e63_6821,
            cpu_profile: "default".to_string(),
        }
    }
}

/// A machine that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// The RAM size does not work.
    #[error("--memory: {0}")]
    Ram(#[from] RamLayoutError),
    /// Too few or too many vCPUs.
    #[error("--smp {0}: hvbench supports 1 to {MAX_CPUS} vCPUs")]
    CpuCount(usize),
    /// The ACPI tables cannot describe the machine.
    #[error("ACPI tables: {0}")]
    Acpi(#[from] crate::devices::acpi::AcpiError),
    /// No CPU profile has that name.
    #[error("--cpu '{0}': unknown CPU profile (available: default, no-ept)")]
    UnknownCpu(String),
}

/// One architectural event, with where and when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// vCPU index.
    pub cpu: usize,
    /// Instructions that vCPU had retired.
    pub retired: u64,
    /// The event.
    pub event: Event,
}

/// The machine.
pub struct Machine {
    /// RAM.
    pub mem: PhysMem,
    /// The device bus.
    pub bus: PcBus,
    /// The vCPUs; index 0 is the bootstrap processor.
    pub cpus: Vec<Cpu>,
    cfg: MachineConfig,
    records: Vec<Record>,
    acpi_rsdp: u64,
    /// The vCPU whose turn it is (a run stopped by the budget resumes there).
    cursor: usize,
    /// What is left of that turn's quantum when the budget interrupted it.
    cursor_left: Option<u64>,
    /// What [`Machine::run_until`] watches for, during that call.
    watch: Option<Box<watch::Watch>>,
}

impl Machine {
    /// A machine in its reset state.
    pub fn new(mut cfg: MachineConfig) -> Result<Self, MachineError> {
        if cfg.cpus == 0 || cfg.cpus > MAX_CPUS {
            return Err(MachineError::CpuCount(cfg.cpus));
        }
        let mem = PhysMem::new(cfg.memory)?;
        let mut mem = mem;
        let acpi = crate::devices::acpi::install(&mut mem, cfg.cpus as u16)?;
        let bus = PcBus::new(PcBusConfig {
            serial_sink: std::mem::take(&mut cfg.serial),
            serial_input: std::mem::take(&mut cfg.serial_input),
            e9_sink: None,
            ram_size: cfg.memory,
            cpus: cfg.cpus as u16,
            rtc: crate::devices::rtc::RtcConfig::default(),
        });
        let profile = hvbench_vmx::caps::Profile::by_name(&cfg.cpu_profile).ok_or_else(|| MachineError::UnknownCpu(cfg.cpu_profile.clone()))?;
        let cpus = (0..cfg.cpus)
            .map(|index| {
                let mut c = Cpu::new(CpuConfig { index, rng_seed: cfg.rng_seed.wrapping_add(index as u64), ..CpuConfig::default() });
                // VMX as the profile describes it; IA32_FEATURE_CONTROL left locked with VMX
                // enabled, as firmware would (see hvbench_vmx::install).
                hvbench_vmx::install(&mut c, profile.clone());
                c.trace = cfg.trace;
                if index > 0 {
                    // Application processors wait for INIT-SIPI-SIPI (SDM Vol. 3A 9.4.4).
                    c.state.activity = Activity::WaitForSipi;
                }
                c
            })
            .collect();
        Ok(Self { mem, bus, cpus, cfg, records: Vec::new(), acpi_rsdp: acpi.rsdp, cursor: 0, cursor_left: None, watch: None })
    }

    /// Resets the machine as a power cycle does (what `hvbench run --reboot` does when the
    /// guest asks for a reset, see [`Outcome::Reset`]): vCPUs, devices and RAM go back to
    /// their power-on state and virtual time and the step counters to 0, with the same
    /// configuration; COM1 output keeps going to the same sink and the COM1 input the guest
    /// has not read stays. Trace records not yet taken stay. The caller loads the kernel again
    /// ([`Machine::load_multiboot`]), as QEMU's `-kernel` boot does on every reset.
    pub fn reset(&mut self) -> Result<(), MachineError> {
        // The machine never gives the bus a separate 0xE9 sink: the second output is None.
        let (serial, _e9, serial_input) = self.bus.take_outputs();
        let cfg = MachineConfig {
            memory: self.cfg.memory,
            cpus: self.cfg.cpus,
            serial,
            serial_input,
            max_instructions: self.cfg.max_instructions,
            quantum: self.cfg.quantum,
            trace: self.cfg.trace,
            rng_seed: self.cfg.rng_seed,
            cpu_profile: self.cfg.cpu_profile.clone(),
        };
        let records = std::mem::take(&mut self.records);
        *self = Machine::new(cfg)?;
        self.records = records;
        Ok(())
    }

    /// The CPU profile's name (`MachineConfig::cpu_profile`).
    pub fn cpu_profile(&self) -> &str {
        &self.cfg.cpu_profile
    }

    /// Loads a multiboot or multiboot2 kernel and puts the BSP in the entry state the
    /// specification defines (mb1 §3.2, mb2 §3.2): 32-bit protected mode, flat 4-GiB
    /// segments, paging off, IF=0, EAX = magic, EBX = boot information.
    pub fn load_multiboot(&mut self, path: &str, image: &[u8], cmdline: &str, modules: &[BootModule]) -> Result<EntryState, LoadError> {
        let cfg = BootConfig { kernel_path: path, cmdline, modules, boot_loader_name: "hvbench", acpi_rsdp: Some(self.acpi_rsdp) };
        let entry = loader::load(&mut self.mem, image, &cfg)?;
        self.enter_protected_mode(&entry);
        Ok(entry)
    }

    fn enter_protected_mode(&mut self, e: &EntryState) {
        use hvbench_cpu::regs::cr0;
        // A GDT with the two flat descriptors the selectors name, so a kernel that reloads
        // segment registers before its own LGDT still works (QEMU does the same).
        let code = 0x00cf_9a00_0000_ffffu64;
        let data = 0x00cf_9300_0000_ffffu64;
        self.mem.write_le(PhysAddr(ENTRY_GDT), 8, 0);
        self.mem.write_le(PhysAddr(ENTRY_GDT + 8), 8, 0);
        self.mem.write_le(PhysAddr(ENTRY_GDT + ENTRY_CS as u64), 8, code);
        self.mem.write_le(PhysAddr(ENTRY_GDT + ENTRY_DS as u64), 8, data);
        let bsp = &mut self.cpus[0];
        let mut s = bsp.state.clone();
        s.cr0 = cr0::PE | cr0::ET;
        s.gdtr = DescTable { base: ENTRY_GDT, limit: 0x1f };
        s.seg[SegReg::Cs as usize] = Descriptor { raw: code }.to_segment(ENTRY_CS);
        for seg in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
            s.seg[seg as usize] = Descriptor { raw: data }.to_segment(ENTRY_DS);
        }
        s.rflags = 2;
        s.rip = e.entry as u64;
        s.gpr = [0; 16];
        s.gpr[0] = e.eax as u64;
        s.gpr[3] = e.ebx as u64;
        s.cpl = 0;
        bsp.set_state(s);
    }

    /// Virtual time in nanoseconds (1 GHz nominal: one cycle is one nanosecond).
    pub fn now(&self) -> u64 {
        self.cpus.iter().map(|c| c.cycles).max().unwrap_or(0)
    }

    /// Instructions retired by all vCPUs.
    pub fn retired(&self) -> u64 {
        self.cpus.iter().map(|c| c.retired).sum()
    }

    /// Steps (instructions retired plus events delivered) of all vCPUs: what
    /// `max_instructions` bounds.
    pub fn steps(&self) -> u64 {
        self.cpus.iter().map(|c| c.steps).sum()
    }

    /// Sets the instruction budget (all vCPUs' steps together; `None`: unlimited), e.g. to
    /// continue a run that stopped with [`Outcome::BudgetExhausted`].
    pub fn set_max_instructions(&mut self, max: Option<u64>) {
        self.cfg.max_instructions = max;
    }

    /// Takes the events recorded since the last call.
    pub fn take_records(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.records)
    }

    fn collect_events(&mut self, i: usize) {
        let cpu = &mut self.cpus[i];
        let retired = cpu.retired;
        for event in cpu.drain_events() {
            self.records.push(Record { cpu: i, retired, event });
        }
    }

    /// Runs until the guest ends the run, a vCPU triple-faults, the budget runs out or
    /// nothing can happen any more.
    pub fn run(&mut self) -> Outcome {
        loop {
            // Without a watch nothing is ever met: only an end stops the loop.
            if let Some(Stop::Ended(r)) = self.round() {
                self.bus.flush();
                return r;
            }
        }
    }

    /// What stops the run at the top of a turn's loop: a condition of
    /// [`Machine::run_until`] that was met, then an exit the guest requested.
    fn pending_stop(&self) -> Option<Stop> {
        if let Some(met) = self.watch.as_ref().and_then(|w| w.met()) {
            return Some(met);
        }
        self.exit_requested().map(Stop::Ended)
    }

    /// The machine's own part of a snapshot.
    pub(crate) fn schedule(&self) -> crate::snapshot::ScheduleSnapshot {
        crate::snapshot::ScheduleSnapshot {
            quantum: self.cfg.quantum,
            cursor: self.cursor,
            cursor_left: self.cursor_left,
            acpi_rsdp: self.acpi_rsdp,
            cpu_profile: self.cfg.cpu_profile.clone(),
        }
    }

    /// Restores the machine's own part of a snapshot.
    pub(crate) fn set_schedule(&mut self, s: &crate::snapshot::ScheduleSnapshot) {
        self.cfg.quantum = s.quantum;
        self.cursor = s.cursor.min(self.cpus.len());
        self.cursor_left = s.cursor_left;
        self.acpi_rsdp = s.acpi_rsdp;
    }

    /// One turn of every vCPU (from the one whose turn it is); `Some` when the run is over
    /// or a watched condition was met.
    fn round(&mut self) -> Option<Stop> {
        while self.cursor < self.cpus.len() {
            let i = self.cursor;
            let resume = self.cursor_left.take();
            if let Some(o) = self.turn(i, resume) {
                return Some(o);
            }
            self.cursor += 1;
        }
        self.cursor = 0;
        if let Some(stop) = self.pending_stop() {
            return Some(stop);
        }
        if self.cpus.iter().all(|c| c.state.activity != Activity::Active) {
            return self.idle().map(Stop::Ended);
        }
        None
    }

    /// vCPU `i`'s turn: up to a quantum of instructions, or what is left of a turn that
    /// the budget interrupted (`resume`). A turn the budget interrupts keeps its place, so a
    /// run continued with a larger budget goes on as if it had not stopped.
    fn turn(&mut self, i: usize, resume: Option<u64>) -> Option<Stop> {
        let mut left = match resume {
            Some(l) => l.max(1),
            None => {
                self.catch_up(i);
                self.cfg.quantum.max(1)
            }
        };
        loop {
            if let Some(stop) = self.pending_stop() {
                // A met condition keeps the turn's place, as the budget does.
                if matches!(stop, Stop::Met { .. }) {
                    self.cursor_left = Some(left);
                }
                return Some(stop);
            }
            let mut allowed = left;
            if let Some(max) = self.cfg.max_instructions {
                let done = self.steps();
                if done >= max {
                    self.cursor_left = Some(left);
                    return Some(Stop::Ended(Outcome::BudgetExhausted));
                }
                allowed = allowed.min(max - done);
            }
            if let Some(w) = &mut self.watch {
                allowed = w.limit(allowed, self.cpus.iter().map(|c| c.steps).sum());
                if w.met().is_some() {
                    continue;
                }
            }
            let now = self.now();
            self.bus.set_time(now);
            let cpu = &mut self.cpus[i];
            self.bus.set_clock(i, cpu.cycles, tsc(cpu));
            // The piece ends at the first instruction boundary at or after the next time a
            // device may raise an interrupt line, where the next piece samples it: the
            // vCPU's APIC timer, on its own clock; PIT and RTC, on the machine's, whose next
            // deadline is after the machine's time, so only this vCPU's clock can reach it
            // while the piece runs.
            let deadline = [self.bus.lapic_deadline(i), self.bus.device_deadline()]
                .into_iter()
                .flatten()
                .filter(|&d| d > cpu.cycles)
                .min()
                .unwrap_or(u64::MAX);
            let before = cpu.steps;
            let was_active = cpu.state.activity == Activity::Active;
            let stop = cpu.run_to(&mut self.mem, &mut self.bus, allowed, deadline);
            // The devices (and this vCPU's APIC clock) follow the vCPU to the end of every
            // piece, so their state never depends on where an earlier piece was cut.
            let cpu = &self.cpus[i];
            self.bus.set_clock(i, cpu.cycles, tsc(cpu));
            let ran = self.cpus[i].steps - before;
            if let Some(a) = self.bus.lapic(i) {
                self.cpus[i].state.cr8 = u64::from(a.tpr() >> 4);
            }
            let first_record = self.records.len();
            self.collect_events(i);
            if let Some(w) = &mut self.watch {
                // It ran (a halted vCPU that woke up runs at least the delivery) and halted.
                let halted = (was_active || ran > 0) && self.cpus[i].state.activity == Activity::Halted;
                w.observe(i, halted, &mut self.bus, &self.records[first_record..]);
            }
            if let StopReason::Unsupported(what) = stop {
                return Some(Stop::Ended(Outcome::Unsupported { cpu: i, what }));
            }
            // A guest in VMX non-root operation may be in the shutdown activity state (entered
            // so, SDM Vol. 3C 27.6.2); its VMM wakes it (NMI, INIT, VMX-preemption timer).
            if self.cpus[i].state.activity == Activity::Shutdown && !self.cpus[i].vmx_non_root {
                return Some(Stop::Ended(Outcome::TripleFault { cpu: i }));
            }
            self.apply_startups();
            left = left.saturating_sub(ran);
            if left == 0 || ran == 0 || self.cpus[i].state.activity != Activity::Active {
                return None;
            }
        }
    }

    /// A sleeping vCPU's clock follows the machine's, stopping at its APIC timer deadline.
    fn catch_up(&mut self, i: usize) {
        let now = self.now();
        let cpu = &mut self.cpus[i];
        if cpu.state.activity == Activity::Active || cpu.cycles >= now {
            return;
        }
        // The earlier of its APIC timer and, in VMX non-root operation, its
        // VMX-preemption timer (a halted guest still gets its timer VM exit on time).
        let wake = [self.bus.lapic_deadline(i), cpu.extension_deadline()].into_iter().flatten().filter(|&d| d > cpu.cycles).min();
        cpu.cycles = match wake {
            Some(d) if d < now => d,
            _ => now,
        };
    }

    /// Every vCPU sleeps: jump to the next deadline, or report a deadlock.
    fn idle(&mut self) -> Option<Outcome> {
        let halted_deadline = |c: &Cpu| if c.state.activity == Activity::Halted { c.extension_deadline() } else { None };
        let wakeable = self.cpus.iter().any(|c| c.state.activity == Activity::Halted && (c.state.rflags & hvbench_cpu::flags::IF != 0 || halted_deadline(c).is_some()));
        if !wakeable && !self.bus.nmi_possible() {
            return Some(Outcome::Deadlock);
        }
        let next = self.cpus.iter().filter_map(halted_deadline).chain(self.bus.next_deadline()).min();
        match next {
            Some(t) if t > self.now() => {
                for (i, c) in self.cpus.iter_mut().enumerate() {
                    c.cycles = c.cycles.max(t);
                    self.bus.set_clock(i, c.cycles, tsc(c));
                }
                self.bus.set_time(t);
                None
            }
            // Due already: the sleeping vCPUs' next turns catch up to it.
            Some(_) => None,
            None if self.bus.nmi_possible() && self.cpus.iter().any(|c| c.state.activity == Activity::Halted) => None,
            None => Some(Outcome::Deadlock),
        }
    }

    /// Carries out the INITs and SIPIs the local APICs received.
    fn apply_startups(&mut self) {
        for j in 0..self.cpus.len() {
            while let Some(s) = self.bus.take_startup(j) {
                // VMX may block (latch) INIT or turn INIT/SIPI into a VM exit (SDM Vol. 3C
                // 24.8, 26.2).
                let signal = match s {
                    Startup::Init => hvbench_cpu::ext::StartupSignal::Init,
                    Startup::Sipi(v) => hvbench_cpu::ext::StartupSignal::Sipi(v),
                };
                if self.cpus[j].startup_signal(&mut self.mem, &mut self.bus, signal) {
                    continue;
                }
                match s {
                    Startup::Init => self.init_cpu(j),
                    Startup::Sipi(v) => self.start_cpu(j, v),
                }
            }
            if self.cpus[j].take_released_init() {
                self.init_cpu(j);
            }
        }
    }

    /// INIT (SDM Vol. 3A 10.1.1, Table 10-1): what INIT keeps is listed in the module docs.
    fn init_cpu(&mut self, j: usize) {
        use hvbench_cpu::regs::cr0;
        let cpu = &mut self.cpus[j];
        let old = &cpu.state;
        let mut s = CpuState::reset(hvbench_cpu::cpuid::SIGNATURE);
        s.cr0 = (old.cr0 & (cr0::CD | cr0::NW)) | cr0::ET;
        s.fpu = old.fpu;
        s.xmm = old.xmm;
        s.mxcsr = old.mxcsr;
        s.xcr0 = old.xcr0;
        s.msr = old.msr.clone();
        s.msr.tsc_deadline = 0;
        s.tsc_offset = old.tsc_offset;
        s.activity = if old.msr.apic_base & APIC_BASE_BSP != 0 { Activity::Active } else { Activity::WaitForSipi };
        cpu.set_state(s);
        if let Some(a) = self.bus.lapic_mut(j) {
            a.init_reset();
        }
    }

    /// SIPI with vector `v`: a vCPU waiting for it starts at VV00:0000 in real mode.
    fn start_cpu(&mut self, j: usize, v: u8) {
        let cpu = &mut self.cpus[j];
        if cpu.state.activity != Activity::WaitForSipi {
            return;
        }
        let mut s = cpu.state.clone();
        s.seg[SegReg::Cs as usize] = Segment { selector: u16::from(v) << 8, base: u64::from(v) << 12, limit: 0xffff, attr: RESET_CODE_ATTR };
        s.rip = 0;
        s.activity = Activity::Active;
        cpu.set_state(s);
    }

    fn exit_requested(&self) -> Option<Outcome> {
        self.bus.exit_request().map(|r| match r {
            // The bus reports QEMU's status (v << 1) | 1; the outcome keeps the value written.
            ExitRequest::DebugExit(status) => Outcome::DebugExit(status >> 1),
            ExitRequest::PowerOff => Outcome::PowerOff,
            ExitRequest::Reset(source) => Outcome::Reset(source),
        })
    }
}

/// A vCPU's time-stamp counter (what RDTSC reads).
fn tsc(c: &Cpu) -> u64 {
    c.cycles.wrapping_add(c.state.tsc_offset)
}
