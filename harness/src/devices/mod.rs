//! PC devices behind the port-I/O/MMIO bus.
