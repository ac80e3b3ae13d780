//! PC devices behind the port-I/O/MMIO bus.
//!
//! Every device is a plain struct with its register handlers and a documented reset state.
//! Devices never read host time: time-driven devices are moved forward by the machine with a
//! virtual time in nanoseconds, and tell it their next deadline. Devices never know about
//! CPUs: interrupt lines are levels that [`PcBus`] wires to the PIC and the IOAPIC; the local
//! APICs are the one per-CPU part, and they too only queue what a CPU must do (interrupts,
//! NMI, INIT, SIPI) for the CPU or the machine to take.

pub mod acpi;
pub mod apic_bus;
pub mod calendar;
pub mod debug_exit;
pub mod fw_cfg;
pub mod ioapic;
pub mod lapic;
pub mod mmio;
pub mod pc_bus;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod reset;
pub mod rtc;
pub mod sink;
pub mod uart;

#[cfg(test)]
mod tests;

pub use debug_exit::ExitRequest;
pub use mmio::{MmioDevice, MmioOverlap};
pub use pc_bus::{PcBus, PcBusConfig};
pub use pic::Pic;
pub use pit::Pit;
pub use rtc::{Rtc, RtcConfig};
pub use sink::SerialSink;
