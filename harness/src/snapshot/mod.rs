//! Machine snapshots: the whole machine, bit for bit, in memory ([`Snapshot`]) and in a
//! versioned file ([`Snapshot::write_to`], [`Snapshot::read_from`]).
//!
//! A snapshot holds:
//! - RAM: every 4-KiB page of the backing store that is not all zeros (RAM that the guest
//!   never touched costs nothing);
//! - each vCPU's [`CpuState`], its cycle, retired-instruction and step counters and its
//!   RDRAND/RDSEED generator state;
//! - each vCPU's state outside `CpuState` ([`HiddenState`]: VMX non-root operation, the EPT
//!   context and TLB tags, the boundary hook of the monitor trap flag and VMX-preemption
//!   timer, IRET's treatment of NMI blocking, debug traps held back by MOV SS, the PAE
//!   PDPTE registers) and its processor extension's state (VMX: in VMX operation, VMXON and
//!   current-VMCS pointers, the controls of non-root operation, MTF base and preemption-timer
//!   deadline, EPTP tags, a latched INIT, failure diagnostics; see `hvbench_vmx::snapshot`),
//!   as the extension's own bytes;
//! - every device's state ([`PcBusState`]): PIC, PIT, RTC and CMOS, COM1's registers with its
//!   unread input, local APICs (timers, IRR/ISR/TMR, queued INIT/SIPI), IOAPIC, fw_cfg
//!   (selector, offset, items), the PCI address register and configuration spaces, ACPI PM,
//!   the debug ports, a pending exit request and the devices' clock;
//! - the machine's own schedule: the quantum, whose turn it is and what is left of a turn
//!   that a budget interrupted (so a run stopped by `max_instructions` and continued goes on
//!   exactly where it stopped), and the CPU profile's name (a restoring machine must have
//!   the same, as it must have the same RAM size and vCPU count).
//!
//! Version history: 1, the first; 2 adds the CPU profile and the reset ports' state
//! (`devices::reset`); 3 adds each vCPU's hidden state and extension (VMX) state. Files of
//! older versions are refused ([`SnapshotError::Version`]): they cannot describe a machine in
//! VMX operation.
//!
//! Not in a snapshot, by design: output sinks (COM1 and 0xE9 output keep going to wherever
//! the restoring machine sends them), MMIO devices an embedder added with
//! [`crate::devices::PcBus::add_mmio`], trace records not yet taken, each vCPU's ring of
//! recent exceptions and its set of already-reported unimplemented instructions (diagnostics
//! only: they never change what the guest sees), the `max_instructions` budget (it counts
//! the machine's total steps, which the snapshot restores) and the trace switch. TLBs and
//! decoded-instruction caches are dropped on restore and refill from the restored state.
//!
//! File format (version [`FORMAT_VERSION`]), all integers little-endian:
//! `"HVBSNAP\0"`, u32 version, u64 length N, N bytes of UTF-8 JSON (everything but RAM),
//! u64 page count P, P times (u64 page index in the RAM backing store, 4096 bytes), and
//! finally the u64 FNV-1a hash of every byte before it. A reader refuses other versions.

mod cpu_repr;
pub mod byte_array;

use crate::devices::pc_bus::PcBusState;
use crate::machine::Machine;
use cpu_repr::{CpuStateRepr, HiddenRepr};
use hvbench_cpu::{CpuState, HiddenState};
use hvbench_mmu::PhysAddr;
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};

/// The snapshot file format's version; bumped whenever the layout or the JSON part changes.
pub const FORMAT_VERSION: u32 = 4;
/// The first bytes of a snapshot file.
pub const MAGIC: &[u8; 8] = b"HVBSNAP\0";
/// RAM page size in a snapshot.
pub const PAGE_SIZE: usize = 4096;

/// One vCPU in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcpuSnapshot {
    /// Architectural state.
    pub state: CpuState,
    /// Cycles elapsed (virtual time).
    pub cycles: u64,
    /// Instructions retired.
    pub retired: u64,
    /// Instructions retired plus events delivered.
    pub steps: u64,
    /// RDRAND/RDSEED generator state.
    pub rng_state: u64,
    /// State outside `state` (VMX in the core, PDPTEs, held-back debug traps).
    pub hidden: HiddenState,
    /// The processor extension's state (`Extension::save`), `None` without an extension.
    pub ext: Option<Vec<u8>>,
    /// The armed MONITOR range (physical address, length), `None` when disarmed.
    pub monitor: Option<(u64, u64)>,
}

/// The machine's own fields in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleSnapshot {
    /// Instructions a vCPU runs per turn.
    pub quantum: u64,
    /// The vCPU whose turn it is.
    pub cursor: usize,
    /// What is left of that vCPU's turn, when a budget interrupted it.
    pub cursor_left: Option<u64>,
    /// Where the ACPI RSDP is (the loader passes it to multiboot2 kernels).
    pub acpi_rsdp: u64,
    /// The CPU profile (its VMX capabilities), which the restoring machine must have.
    pub cpu_profile: String,
}

/// A whole machine at one instant (see the module documentation for what it holds).
#[derive(Clone)]
pub struct Snapshot {
    /// RAM size in bytes.
    pub memory: u64,
    /// The vCPUs, index 0 first.
    pub cpus: Vec<VcpuSnapshot>,
    /// Every device.
    pub bus: PcBusState,
    /// The machine's schedule.
    pub schedule: ScheduleSnapshot,
    /// Non-zero RAM pages: (index of the page in the RAM backing store, its bytes), in
    /// ascending index order.
    pub pages: Vec<(u64, Box<[u8]>)>,
}

/// Why a snapshot cannot be restored, read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The machine's RAM size differs from the snapshot's.
    #[error("snapshot has {snapshot} bytes of RAM, the machine {machine}")]
    MemorySize {
        /// The snapshot's.
        snapshot: u64,
        /// The machine's.
        machine: u64,
    },
    /// The machine's vCPU count differs from the snapshot's.
    #[error("snapshot has {snapshot} vCPUs, the machine {machine}")]
    CpuCount {
        /// The snapshot's.
        snapshot: usize,
        /// The machine's.
        machine: usize,
    },
    /// The machine's CPU profile differs from the snapshot's.
    #[error("snapshot was taken with CPU profile '{snapshot}', the machine has '{machine}'")]
    CpuProfile {
        /// The snapshot's.
        snapshot: String,
        /// The machine's.
        machine: String,
    },
    /// Not a snapshot file, or a damaged one.
    #[error("not a valid hvbench snapshot: {0}")]
    Format(String),
    /// A snapshot file of another format version.
    #[error("snapshot format version {found}; this hvbench reads version {FORMAT_VERSION} only (version 3 added the VMX state, version 4 the armed MONITOR range; take the snapshot again with this hvbench)")]
    Version {
        /// The file's version.
        found: u32,
    },
    /// The machine's vCPU has a processor extension and the snapshot's none, or the other
    /// way round, or the extension refused the saved state.
    #[error("vCPU {cpu}: {why}")]
    Extension {
        /// Which vCPU.
        cpu: usize,
        /// Why.
        why: String,
    },
    /// A host I/O error.
    #[error("snapshot I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The JSON part of a snapshot file.
#[derive(Serialize, Deserialize)]
struct Header {
    memory: u64,
    cpus: Vec<VcpuRepr>,
    bus: PcBusState,
    schedule: ScheduleSnapshot,
}

#[derive(Serialize, Deserialize)]
struct VcpuRepr {
    state: CpuStateRepr,
    cycles: u64,
    retired: u64,
    steps: u64,
    rng_state: u64,
    hidden: HiddenRepr,
    /// The extension's bytes, hex.
    ext: Option<String>,
    /// The armed MONITOR range: physical address, length.
    monitor: Option<[u64; 2]>,
}

impl Machine {
    /// Takes a snapshot of the whole machine (between runs: [`Machine::run`] has returned).
    pub fn snapshot(&self) -> Snapshot {
        let pages = self
            .mem
            .as_bytes()
            .chunks_exact(PAGE_SIZE)
            .enumerate()
            .filter(|(_, p)| !is_zero(p))
            .map(|(i, p)| (i as u64, Box::from(p)))
            .collect();
        let cpus = self
            .cpus
            .iter()
            .map(|c| VcpuSnapshot {
                state: c.state.clone(),
                cycles: c.cycles,
                retired: c.retired,
                steps: c.steps,
                rng_state: c.rng_state(),
                hidden: c.hidden_state(),
                ext: c.ext.as_deref().map(|e| e.save()),
                monitor: self.mem.armed_watch(c.config.index).map(|(a, l)| (a.0, l)),
            })
            .collect();
        Snapshot { memory: self.mem.size(), cpus, bus: self.bus.state(), schedule: self.schedule(), pages }
    }

    /// Puts the whole machine back in the state of `snap`, which must come from a machine with
    /// the same RAM size and vCPU count. Output sinks, the budget and the trace switch stay;
    /// trace records not yet taken are dropped.
    pub fn restore(&mut self, snap: &Snapshot) -> Result<(), SnapshotError> {
        if snap.memory != self.mem.size() {
            return Err(SnapshotError::MemorySize { snapshot: snap.memory, machine: self.mem.size() });
        }
        if snap.cpus.len() != self.cpus.len() || snap.bus.cpus() != self.cpus.len() {
            return Err(SnapshotError::CpuCount { snapshot: snap.cpus.len(), machine: self.cpus.len() });
        }
        if snap.schedule.cpu_profile != self.cpu_profile() {
            return Err(SnapshotError::CpuProfile { snapshot: snap.schedule.cpu_profile.clone(), machine: self.cpu_profile().to_string() });
        }
        for (i, (c, s)) in self.cpus.iter().zip(&snap.cpus).enumerate() {
            if c.ext.is_some() != s.ext.is_some() {
                let why = if s.ext.is_some() { "the snapshot has processor-extension (VMX) state, the machine no extension" } else { "the machine has a processor extension (VMX), the snapshot no state for it" };
                return Err(SnapshotError::Extension { cpu: i, why: why.into() });
            }
        }
        self.restore_ram(&snap.pages)?;
        // After the RAM, whose writes would trigger monitors: the snapshot's armed ranges only.
        self.mem.unwatch_all();
        for (c, s) in self.cpus.iter().zip(&snap.cpus) {
            if let Some((addr, len)) = s.monitor {
                self.mem.watch(c.config.index, PhysAddr(addr), len);
            }
        }
        for (i, (c, s)) in self.cpus.iter_mut().zip(&snap.cpus).enumerate() {
            if let (Some(e), Some(bytes)) = (c.ext.as_deref_mut(), &s.ext) {
                e.restore(bytes).map_err(|why| SnapshotError::Extension { cpu: i, why })?;
            }
            c.set_state(s.state.clone());
            c.set_hidden_state(s.hidden);
            c.cycles = s.cycles;
            c.retired = s.retired;
            c.steps = s.steps;
            c.set_rng_state(s.rng_state);
            c.drain_events();
        }
        self.bus.set_state(&snap.bus);
        self.set_schedule(&snap.schedule);
        self.take_records();
        Ok(())
    }

    /// Writes every page whose content differs from the snapshot's (zero for pages the
    /// snapshot does not list). Writes go through [`hvbench_mmu::PhysMem::write_bytes`], so
    /// code pages get new generations and no stale decoded instruction survives.
    fn restore_ram(&mut self, pages: &[(u64, Box<[u8]>)]) -> Result<(), SnapshotError> {
        let total = (self.mem.size() as usize) / PAGE_SIZE;
        if pages.iter().any(|(i, p)| *i as usize >= total || p.len() != PAGE_SIZE) || !pages.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(SnapshotError::Format("RAM pages out of range, unsorted or of the wrong size".into()));
        }
        let zero = [0u8; PAGE_SIZE];
        let mut next = pages.iter().peekable();
        let bases = backing_bases(&self.mem);
        for index in 0..total {
            let want: &[u8] = match next.peek() {
                Some((i, p)) if *i as usize == index => {
                    next.next();
                    p
                }
                _ => &zero,
            };
            let start = index * PAGE_SIZE;
            if self.mem.as_bytes()[start..start + PAGE_SIZE] != *want {
                let addr = phys_of(&bases, start as u64);
                self.mem.write_bytes(addr, want);
            }
        }
        Ok(())
    }
}

/// (backing-store offset, physical address, length) of each RAM region, low RAM first.
fn backing_bases(mem: &hvbench_mmu::PhysMem) -> Vec<(u64, PhysAddr, u64)> {
    let mut off = 0;
    mem.regions()
        .map(|(addr, len)| {
            let r = (off, addr, len);
            off += len;
            r
        })
        .collect()
}

/// The physical address of backing-store offset `off`.
fn phys_of(bases: &[(u64, PhysAddr, u64)], off: u64) -> PhysAddr {
    bases
        .iter()
        .find(|(o, _, len)| off >= *o && off - o < *len)
        .map_or(PhysAddr(off), |(o, addr, _)| PhysAddr(addr.0 + (off - o)))
}

fn is_zero(page: &[u8]) -> bool {
    page.chunks_exact(8).all(|w| w == [0; 8])
}

/// FNV-1a, 64 bits: the file's integrity check (and a cheap RAM fingerprint for tests).
pub fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// FNV-1a's starting value.
pub const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// A writer that hashes what it writes.
struct Hashing<W> {
    inner: W,
    hash: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash = fnv1a(self.hash, &buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl Snapshot {
    /// Writes the snapshot in the file format described in the module documentation.
    pub fn write_to(&self, out: impl Write) -> Result<(), SnapshotError> {
        let header = Header {
            memory: self.memory,
            cpus: self
                .cpus
                .iter()
                .map(|c| VcpuRepr {
                    state: (&c.state).into(),
                    cycles: c.cycles,
                    retired: c.retired,
                    steps: c.steps,
                    rng_state: c.rng_state,
                    hidden: c.hidden.into(),
                    ext: c.ext.as_deref().map(hex),
                    monitor: c.monitor.map(|(a, l)| [a, l]),
                })
                .collect(),
            bus: self.bus.clone(),
            schedule: self.schedule.clone(),
        };
        let json = serde_json::to_vec(&header).map_err(|e| SnapshotError::Format(e.to_string()))?;
        let mut w = Hashing { inner: std::io::BufWriter::new(out), hash: FNV_OFFSET };
        w.write_all(MAGIC)?;
        w.write_all(&FORMAT_VERSION.to_le_bytes())?;
        w.write_all(&(json.len() as u64).to_le_bytes())?;
        w.write_all(&json)?;
        w.write_all(&(self.pages.len() as u64).to_le_bytes())?;
        for (i, p) in &self.pages {
            w.write_all(&i.to_le_bytes())?;
            w.write_all(p)?;
        }
        let hash = w.hash;
        w.inner.write_all(&hash.to_le_bytes())?;
        w.inner.flush()?;
        Ok(())
    }

    /// Reads a snapshot written by [`Snapshot::write_to`], checking magic, version, sizes and
    /// the hash.
    pub fn read_from(mut input: impl Read) -> Result<Self, SnapshotError> {
        let mut data = Vec::new();
        input.read_to_end(&mut data)?;
        Self::from_bytes(&data)
    }

    /// [`Snapshot::read_from`] on bytes in memory.
    pub fn from_bytes(data: &[u8]) -> Result<Self, SnapshotError> {
        let bad = |what: &str| SnapshotError::Format(what.to_string());
        if data.len() < MAGIC.len() + 4 || &data[..MAGIC.len()] != MAGIC {
            return Err(bad("no HVBSNAP magic"));
        }
        let version = u32::from_le_bytes(data[8..12].try_into().map_err(|_| bad("short header"))?);
        if version != FORMAT_VERSION {
            return Err(SnapshotError::Version { found: version });
        }
        let body_len = data.len().checked_sub(8).ok_or_else(|| bad("truncated"))?;
        let (body, tail) = data.split_at(body_len);
        let stored = u64::from_le_bytes(tail.try_into().map_err(|_| bad("truncated"))?);
        if fnv1a(FNV_OFFSET, body) != stored {
            return Err(bad("hash mismatch (file damaged or truncated)"));
        }
        let mut r = Cursor { data: body, pos: 12 };
        let json_len = r.u64()? as usize;
        let header: Header = serde_json::from_slice(r.take(json_len)?).map_err(|e| SnapshotError::Format(e.to_string()))?;
        let count = r.u64()?;
        let mut pages = Vec::new();
        for _ in 0..count {
            let index = r.u64()?;
            pages.push((index, Box::from(r.take(PAGE_SIZE)?)));
        }
        if r.pos != body.len() {
            return Err(bad("trailing bytes"));
        }
        let cpus = header
            .cpus
            .into_iter()
            .map(|c| {
                let ext = match c.ext.as_deref() {
                    Some(h) => Some(unhex(h).ok_or_else(|| bad("extension state is not hex"))?),
                    None => None,
                };
                Ok(VcpuSnapshot { state: c.state.into(), cycles: c.cycles, retired: c.retired, steps: c.steps, rng_state: c.rng_state, hidden: c.hidden.into(), ext, monitor: c.monitor.map(|[a, l]| (a, l)) })
            })
            .collect::<Result<_, SnapshotError>>()?;
        Ok(Self { memory: header.memory, cpus, bus: header.bus, schedule: header.schedule, pages })
    }

    /// Writes the snapshot to a file.
    pub fn save(&self, path: &std::path::Path) -> Result<(), SnapshotError> {
        self.write_to(std::fs::File::create(path)?)
    }

    /// Reads a snapshot file.
    pub fn load(path: &std::path::Path) -> Result<Self, SnapshotError> {
        Self::read_from(std::fs::File::open(path)?)
    }

    /// FNV-1a over the whole RAM the snapshot describes (zero pages included), to compare
    /// with [`ram_hash`] of a machine.
    pub fn ram_hash(&self) -> u64 {
        let zero = [0u8; PAGE_SIZE];
        let total = self.memory as usize / PAGE_SIZE;
        let mut next = self.pages.iter().peekable();
        let mut h = FNV_OFFSET;
        for index in 0..total {
            match next.peek() {
                Some((i, p)) if *i as usize == index => {
                    h = fnv1a(h, p);
                    next.next();
                }
                _ => h = fnv1a(h, &zero),
            }
        }
        h
    }
}

/// FNV-1a over a machine's whole RAM backing store.
pub fn ram_hash(m: &Machine) -> u64 {
    fnv1a(FNV_OFFSET, m.mem.as_bytes())
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| SnapshotError::Format("truncated".into()))?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap_or([0; 8])))
    }
}

/// Bytes as lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex back to bytes; `None` for an odd length or a non-hex digit.
fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| s.get(i..i + 2).and_then(|d| u8::from_str_radix(d, 16).ok())).collect()
}
