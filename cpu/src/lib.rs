//! hvbench's x86-64 CPU core.
