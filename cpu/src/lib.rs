//! hvbench's x86-64 CPU core: architectural state, the decoded-instruction cache, instruction
//! semantics, modes, exceptions and interrupts, MSRs and CPUID.
//!
//! The core decodes with iced-x86 once per (physical address, code size) and keeps the
//! decoded instruction with its handler in a cache that writes to code pages invalidate
//! (see [`hvbench_mmu::PhysMem::mark_code`]). Faults travel as `Result<_, Fault>` with `?`;
//! nothing the guest does panics the emulator.
//!
//! Section numbers cite the Intel SDM revision in [`SDM_REVISION`].

pub use hvbench_mmu::SDM_REVISION;

pub mod cost;
pub mod cpu;
pub mod cpuid;
mod debug;
mod dtlb;
pub mod deliver;
pub mod events;
pub mod exception;
pub mod exec;
pub mod ext;
pub mod flags;
pub mod hidden;
pub mod icache;
mod jumpcache;
pub mod memory;
pub mod msr;
pub mod operand;
pub mod regs;
pub mod segload;
pub mod sandbox;
pub mod segment;
pub mod state;
pub mod v8086;
mod task;

pub use cpu::{Cpu, CpuConfig, Exec, RecentExceptions, StopReason};
pub use events::{Event, VmOutcome};
pub use hidden::HiddenState;
pub use exception::{Exception, Fault};
pub use state::{Activity, CpuState, Mode};
