//! hvbench: the machine, its loaders and devices, traces, and the `hvbench` command.

pub mod bench;
pub mod cli;
pub mod devices;
pub mod dump;
pub mod exit_status;
pub mod loader;
pub mod machine;
pub mod snapshot;
pub mod trace;

pub use exit_status::Outcome;
pub use machine::{Machine, MachineConfig, MachineError};
pub use snapshot::{Snapshot, SnapshotError};
