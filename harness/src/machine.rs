//! The machine: RAM, the PC device bus, 1 to 64 vCPUs and one virtual clock, run in a fixed,
//! deterministic interleaving.
//!
//! vCPUs take turns in index order, each running up to a quantum of instructions (or less,
//! when a device write ends its turn early so the machine can look at the bus). Virtual time
//! is the cycle count of the vCPUs (1 cycle = 1 ns at the model's nominal 1 GHz); when every
//! vCPU is halted, time jumps to the next device deadline, and with none the machine reports
//! a deadlock instead of waiting forever.

use crate::devices::debug_exit::ExitRequest;
use crate::devices::pc_bus::{PcBus, PcBusConfig};
use crate::devices::sink::SerialSink;
use crate::exit_status::Outcome;
use crate::loader::{self, BootConfig, BootModule, EntryState, LoadError};
use hvbench_cpu::segment::{DescTable, Descriptor, SegReg};
use hvbench_cpu::state::Activity;
use hvbench_cpu::{Cpu, CpuConfig, Event, StopReason};
use hvbench_mmu::{PhysAddr, PhysMem, RamLayoutError};

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
        let cpus = (0..cfg.cpus)
            .map(|index| {
                let mut c = Cpu::new(CpuConfig { index, rng_seed: cfg.rng_seed.wrapping_add(index as u64), ..CpuConfig::default() });
                c.trace = cfg.trace;
                if index > 0 {
                    // Application processors wait for INIT-SIPI-SIPI (SDM Vol. 3A 9.4.4).
                    c.state.activity = Activity::WaitForSipi;
                }
                c
            })
            .collect();
        Ok(Self { mem, bus, cpus, cfg, records: Vec::new(), acpi_rsdp: acpi.rsdp })
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
            if let Some(r) = self.round() {
                self.bus.flush();
                return r;
            }
        }
    }

    /// One turn of every vCPU; `Some` when the run is over.
    fn round(&mut self) -> Option<Outcome> {
        let mut any_active = false;
        for i in 0..self.cpus.len() {
            if let Some(o) = self.exit_requested() {
                return Some(o);
            }
            let budget = match self.cfg.max_instructions {
                Some(max) => {
                    let done = self.retired();
                    if done >= max {
                        return Some(Outcome::BudgetExhausted);
                    }
                    self.cfg.quantum.min(max - done)
                }
                None => self.cfg.quantum,
            };
            let now = self.now();
            self.bus.set_time(now);
            let cpu = &mut self.cpus[i];
            if cpu.state.activity != Activity::Active && cpu.cycles < now {
                // A sleeping vCPU's clock follows the machine's.
                cpu.cycles = now;
            }
            let stop = cpu.run(&mut self.mem, &mut self.bus, budget);
            self.collect_events(i);
            let cpu = &self.cpus[i];
            match stop {
                StopReason::Unsupported(what) => return Some(Outcome::Unsupported { cpu: i, what }),
                _ if cpu.state.activity == Activity::Shutdown => return Some(Outcome::TripleFault { cpu: i }),
                _ => {}
            }
            any_active |= cpu.state.activity == Activity::Active;
        }
        if let Some(o) = self.exit_requested() {
            return Some(o);
        }
        if !any_active {
            match self.bus.next_deadline() {
                Some(t) if t > self.now() => {
                    for c in &mut self.cpus {
                        c.cycles = c.cycles.max(t);
                    }
                    self.bus.set_time(t);
                }
                Some(_) => {}
                None if self.cpus.iter().any(|c| c.state.activity == Activity::Active) => {}
                None => return Some(Outcome::Deadlock),
            }
        }
        None
    }

    fn exit_requested(&self) -> Option<Outcome> {
        self.bus.exit_request().map(|r| match r {
            // The bus reports QEMU's status (v << 1) | 1; the outcome keeps the value written.
            ExitRequest::DebugExit(status) => Outcome::DebugExit(status >> 1),
            ExitRequest::PowerOff => Outcome::PowerOff,
        })
    }
}
