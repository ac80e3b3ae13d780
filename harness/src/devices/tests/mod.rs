//! Device tests: each device programmed through the `Bus` as a driver would, checked
//! against its data sheet or specification.

mod acpi;
mod apic;
mod bus;
mod debug_exit;
mod fw_cfg;
mod pci;
mod pic;
mod pit;
mod reset;
mod robustness;
mod rtc;
mod uart;

use hvbench_mmu::Bus;

use super::{ExitRequest, PcBus, PcBusConfig, SerialSink};

/// A bus whose COM1 writes to memory and receives `input`.
pub fn bus_with_input(input: &[u8]) -> PcBus {
    PcBus::new(PcBusConfig {
        serial_sink: SerialSink::buffer(),
        serial_input: input.to_vec(),
        ..Default::default()
    })
}

/// A bus whose COM1 writes to memory.
pub fn bus() -> PcBus {
    bus_with_input(&[])
}

/// OUT of a byte.
pub fn outb(bus: &mut PcBus, port: u16, value: u8) {
    bus.io_write(0, port, 1, value.into());
}

/// IN of a byte.
pub fn inb(bus: &mut PcBus, port: u16) -> u8 {
    bus.io_read(0, port, 1) as u8
}

/// What COM1 has sent.
pub fn serial_output(bus: &PcBus) -> Vec<u8> {
    bus.uart().output().sink().contents().unwrap().to_vec()
}
