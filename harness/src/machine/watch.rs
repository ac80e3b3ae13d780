//! [`Machine::run_until`]: run until one of several conditions holds, deterministically.
//!
//! The machine checks the conditions after every piece of a vCPU's turn. A piece ends at
//! every device write (port, MMIO, local APIC MSR), at HLT, at the next device deadline (the
//! vCPU's APIC timer, the PIT, the RTC) and at the end of the quantum (see the
//! [machine's documentation](super)). So the stop for [`Until::Serial`] (the OUT that sent the
//! text's last byte), [`Until::PortWrite`] and [`Until::Halt`] comes right after the write or
//! HLT, before any vCPU runs another instruction; for [`Until::Exception`] and
//! [`Until::Interrupt`] it comes at the end of the piece in which the event was delivered (the
//! handler has run up to its first device write or HLT, the next device deadline or the end
//! of the quantum); [`Until::Steps`] stops at exactly that step count. Where the machine stops
//! depends only on the guest and the schedule, never on the host.
//!
//! A stopped machine keeps its place in the schedule, as a budget stop does, and where it
//! stopped changes nothing that follows: interrupts arrive at instruction boundaries that
//! depend only on virtual time and the guest, so a later `run` or `run_until` (or a snapshot
//! taken at the stop and restored) goes on exactly as the uninterrupted run would.

use super::{Machine, Record};
use crate::devices::pc_bus::PcBus;
use crate::exit_status::Outcome;
use hvbench_cpu::Event;

/// A condition for [`Machine::run_until`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// COM1 has sent these bytes (consecutively) since `run_until` was called.
    Serial(Vec<u8>),
    /// A vCPU wrote to I/O port `port` (with exactly `value`, when given; an access wider
    /// than a byte is one write at its first port).
    PortWrite {
        /// The port.
        port: u16,
        /// The value written, if it matters.
        value: Option<u32>,
    },
    /// vCPU `n` (any vCPU for `None`) went from running to the halted state (HLT).
    Halt(Option<usize>),
    /// An exception with this vector was delivered on any vCPU (or, in VMX non-root
    /// operation, raised).
    Exception(u8),
    /// An external interrupt or NMI with this vector was delivered on any vCPU.
    Interrupt(u8),
    /// The machine's steps ([`Machine::steps`]: all vCPUs together) reached this number.
    Steps(u64),
}

impl Until {
    /// [`Until::Serial`] for a text.
    pub fn serial(text: &str) -> Self {
        Self::Serial(text.as_bytes().to_vec())
    }

    /// Whether the condition needs the CPU's event records.
    fn needs_events(&self) -> bool {
        matches!(self, Self::Exception(_) | Self::Interrupt(_))
    }
}

/// Why [`Machine::run_until`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// `conditions[index]` was met (the first in the list, when several were met at once),
    /// by vCPU `cpu` when one vCPU met it ([`Until::Steps`] has none).
    Met {
        /// Index into the conditions.
        index: usize,
        /// The vCPU.
        cpu: Option<usize>,
    },
    /// The run ended before any condition was met (any [`Outcome`]: an exit the guest
    /// requested, a triple fault, the `max_instructions` budget, a deadlock, ...).
    Ended(Outcome),
}

/// The state of one `run_until` call.
#[derive(Debug)]
pub(super) struct Watch {
    conditions: Vec<Until>,
    /// How far the tap has been searched for each `Serial` condition.
    scanned: usize,
    met: Option<Stop>,
}

impl Watch {
    /// The first condition met, if any.
    pub(super) fn met(&self) -> Option<Stop> {
        self.met.clone()
    }

    fn hit(&mut self, index: usize, cpu: Option<usize>) {
        let earlier = match self.met {
            Some(Stop::Met { index: i, .. }) => i <= index,
            _ => false,
        };
        if !earlier {
            self.met = Some(Stop::Met { index, cpu });
        }
    }

    /// The steps the next piece may run (`allowed` before the watch), given the machine's
    /// steps so far; records a [`Until::Steps`] that is already reached.
    pub(super) fn limit(&mut self, allowed: u64, steps: u64) -> u64 {
        let mut allowed = allowed;
        for index in 0..self.conditions.len() {
            if let Until::Steps(target) = self.conditions[index] {
                if steps >= target {
                    self.hit(index, None);
                } else {
                    allowed = allowed.min(target - steps);
                }
            }
        }
        allowed
    }

    /// Looks at what vCPU `cpu`'s last piece did: whether it halted, the port writes the bus
    /// recorded, COM1's output and the events it recorded.
    pub(super) fn observe(&mut self, cpu: usize, halted: bool, bus: &mut PcBus, records: &[Record]) {
        let writes = bus.take_io_writes();
        let tapped = bus.uart().output().tapped();
        for index in 0..self.conditions.len() {
            let met = match &self.conditions[index] {
                Until::Serial(text) => {
                    let from = self.scanned.saturating_sub(text.len().saturating_sub(1));
                    !text.is_empty() && tapped.get(from..).is_some_and(|t| t.windows(text.len()).any(|w| w == text.as_slice()))
                }
                Until::PortWrite { port, value } => {
                    writes.iter().any(|w| w.port == *port && value.is_none_or(|v| v == w.value))
                }
                Until::Halt(which) => halted && which.is_none_or(|n| n == cpu),
                Until::Exception(v) => records.iter().any(|r| matches!(r.event, Event::Exception { vector, .. } if vector == *v)),
                Until::Interrupt(v) => records.iter().any(|r| matches!(r.event, Event::Interrupt { vector, .. } if vector == *v)),
                Until::Steps(_) => false,
            };
            if met {
                self.hit(index, Some(cpu));
            }
        }
        self.scanned = tapped.len();
    }
}

impl Machine {
    /// Runs until one of `conditions` is met or the run ends, and says which.
    ///
    /// The stop is deterministic (see the [module documentation](self) for exactly where it
    /// comes): the same machine and conditions stop at the same step, with the same state,
    /// every time. The machine keeps its place: calling [`Machine::run`] or `run_until`
    /// again goes on exactly as an uninterrupted run would. The `max_instructions` budget
    /// still applies ([`Stop::Ended`] with [`Outcome::BudgetExhausted`]). Conditions about
    /// exceptions and interrupts turn the CPU's event records on for the call; records the
    /// machine's own `trace` setting would not have kept are dropped.
    ///
    /// ```
    /// use hvbench::machine::{Stop, Until};
    /// use hvbench::{Machine, MachineConfig};
    /// use hvbench_cpu::segment::SegReg;
    /// use hvbench_mmu::PhysAddr;
    ///
    /// let mut m = Machine::new(MachineConfig { serial: hvbench::devices::SerialSink::buffer(), ..Default::default() })?;
    /// // Real mode at 0000:7C00: mov dx, 0x3F8; mov al, 'A'; out dx, al;
    /// // mov al, 'B'; out dx, al; hlt
    /// let code = [0xBA, 0xF8, 0x03, 0xB0, b'A', 0xEE, 0xB0, b'B', 0xEE, 0xF4];
    /// m.mem.write_bytes(PhysAddr(0x7C00), &code);
    /// let mut s = m.cpus[0].state.clone();
    /// s.seg[SegReg::Cs as usize].selector = 0;
    /// s.seg[SegReg::Cs as usize].base = 0;
    /// s.rip = 0x7C00;
    /// m.cpus[0].set_state(s);
    ///
    /// assert_eq!(m.run_until(&[Until::Halt(None), Until::serial("A")]), Stop::Met { index: 1, cpu: Some(0) });
    /// assert_eq!(m.run_until(&[Until::Halt(None)]), Stop::Met { index: 0, cpu: Some(0) });
    /// assert_eq!(m.bus.uart().output().sink().contents(), Some(&b"AB"[..]));
    /// # Ok::<(), hvbench::MachineError>(())
    /// ```
    pub fn run_until(&mut self, conditions: &[Until]) -> Stop {
        let needs_events = conditions.iter().any(Until::needs_events);
        let watches_io = conditions.iter().any(|c| matches!(c, Until::PortWrite { .. }));
        self.watch = Some(Box::new(Watch { conditions: conditions.to_vec(), scanned: 0, met: None }));
        self.bus.uart_mut().output_mut().set_tap(true);
        self.bus.watch_io(watches_io);
        let first_record = self.records.len();
        if needs_events {
            for c in &mut self.cpus {
                c.trace = true;
            }
        }
        let stop = loop {
            if let Some(stop) = self.round() {
                break stop;
            }
        };
        if needs_events {
            for c in &mut self.cpus {
                c.trace = self.cfg.trace;
            }
            if !self.cfg.trace {
                self.records.truncate(first_record);
            }
        }
        self.bus.watch_io(false);
        self.bus.uart_mut().output_mut().set_tap(false);
        self.watch = None;
        self.bus.flush();
        stop
    }
}
