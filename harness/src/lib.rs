//! hvbench: the machine, its loaders and devices, traces, and the `hvbench` command.

pub mod devices;
pub mod loader;
