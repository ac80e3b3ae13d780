//! The reset ports (devices/reset.rs), against the PIIX4 Reset Control Register, PS/2 System
//! Control Port A and the 8042's pulse-output commands; read-back values as QEMU gives them
//! after SeaBIOS (seen with tests/kernels/pcdevices.S: 0xCF9 reads 0x00, 0x92 0x02, 0x64
//! status 0x1C).

use super::*;
use crate::devices::reset::ResetSource;

#[test]
fn reset_ports_read_as_after_a_bios_boot() {
    let mut b = bus();
    assert_eq!(inb(&mut b, 0xCF9), 0x00);
    assert_eq!(inb(&mut b, 0x92), 0x02, "A20 enabled");
    assert_eq!(inb(&mut b, 0x64), 0x1C, "system flag, command last, not inhibited; both buffers empty");
    assert_eq!(inb(&mut b, 0x60), 0x00);
}

#[test]
fn cf9_resets_when_reset_cpu_is_written() {
    for value in [0x06, 0x0E, 0x04] {
        let mut b = bus();
        outb(&mut b, 0xCF9, value);
        assert_eq!(b.exit_request(), Some(ExitRequest::Reset(ResetSource::ResetControl)), "{value:#x}");
        assert_eq!(b.exit_request().unwrap().status(), 18);
    }
    // System Reset alone only selects the kind of reset; it reads back.
    let mut b = bus();
    outb(&mut b, 0xCF9, 0x02);
    assert_eq!(b.exit_request(), None);
    assert_eq!(inb(&mut b, 0xCF9), 0x02);
    // A 32-bit access at 0xCF8 is the PCI configuration address, not the RC.
    b.io_write(0, 0xCF8, 4, 0x8000_0004);
    assert_eq!(b.exit_request(), None);
}

#[test]
fn port_92_resets_on_a_rising_bit_0() {
    let mut b = bus();
    outb(&mut b, 0x92, 0x02);
    assert_eq!(b.exit_request(), None);
    outb(&mut b, 0x92, 0x03);
    assert_eq!(b.exit_request(), Some(ExitRequest::Reset(ResetSource::Port92)));
    // Only a 0 -> 1 change of bit 0 resets.
    let mut p = crate::devices::reset::ResetPorts::new();
    assert_eq!(p.write(0x92, 0x03), Some(ResetSource::Port92));
    assert_eq!(p.write(0x92, 0x03), None, "bit 0 already 1: no edge");
    assert_eq!(p.read(0x92), 0x03);
    assert_eq!(p.write(0x92, 0x02), None);
    assert_eq!(p.write(0x92, 0x01), Some(ResetSource::Port92));
}

#[test]
fn kbc_pulse_commands_with_bit_0_clear_reset() {
    for cmd in [0xFE, 0xF0, 0xFC] {
        let mut b = bus();
        outb(&mut b, 0x64, cmd);
        assert_eq!(b.exit_request(), Some(ExitRequest::Reset(ResetSource::Keyboard)), "{cmd:#x}");
    }
    for cmd in [0xFF, 0xF1, 0xAA, 0xD1] {
        let mut b = bus();
        outb(&mut b, 0x64, cmd);
        assert_eq!(b.exit_request(), None, "{cmd:#x}");
    }
    let mut b = bus();
    outb(&mut b, 0x60, 0xDF);
    assert_eq!(inb(&mut b, 0x64) & 0x08, 0, "last write went to the data port");
}
