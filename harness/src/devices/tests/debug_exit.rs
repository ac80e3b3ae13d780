//! The debug and power ports, against QEMU's isa-debug-exit and Bochs's port conventions.

use super::*;

#[test]
fn isa_debug_exit_status_is_value_shifted_left_or_one() {
    let mut b = bus();
    assert_eq!(b.exit_request(), None);
    b.io_write(0, 0xF4, 4, 0x31);
    assert_eq!(b.exit_request(), Some(ExitRequest::DebugExit((0x31 << 1) | 1)));
    assert_eq!(b.exit_request().unwrap().status(), 0x63);
    // The first request wins.
    b.io_write(0, 0xF4, 1, 0);
    assert_eq!(b.exit_request(), Some(ExitRequest::DebugExit(0x63)));
}

#[test]
fn byte_write_to_debug_exit_uses_the_byte() {
    let mut b = bus();
    b.io_write(0, 0xF4, 1, 0x1FF);
    assert_eq!(b.exit_request(), Some(ExitRequest::DebugExit(0x1FF)));
}

#[test]
fn shutdown_port_needs_the_whole_word_in_sequence() {
    let mut b = bus();
    for &c in b"ShutXdownShut" {
        outb(&mut b, 0x8900, c);
    }
    assert_eq!(b.exit_request(), None, "an interrupted sequence does nothing");
    for &c in b"down" {
        outb(&mut b, 0x8900, c);
    }
    assert_eq!(b.exit_request(), Some(ExitRequest::PowerOff));
    assert_eq!(b.exit_request().unwrap().status(), 0);
}

#[test]
fn shutdown_sequence_restarts_on_a_repeated_s() {
    let mut b = bus();
    for &c in b"SShutdown" {
        outb(&mut b, 0x8900, c);
    }
    assert_eq!(b.exit_request(), Some(ExitRequest::PowerOff));
}

#[test]
fn post_code_is_remembered() {
    let mut b = bus();
    outb(&mut b, 0x80, 0x42);
    outb(&mut b, 0x80, 0x55);
    assert_eq!(b.debug_ports().post_code(), 0x55);
    assert_eq!(inb(&mut b, 0x80), 0xFF);
}

#[test]
fn port_e9_shares_the_serial_sink_or_has_its_own() {
    let mut b = bus();
    assert_eq!(inb(&mut b, 0xE9), 0xE9, "presence signature");
    outb(&mut b, 0xE9, b'A');
    outb(&mut b, 0x3F8, b'B');
    assert_eq!(serial_output(&b), b"AB");

    let mut b = PcBus::new(PcBusConfig {
        serial_sink: SerialSink::buffer(),
        e9_sink: Some(SerialSink::buffer()),
        ..Default::default()
    });
    outb(&mut b, 0xE9, b'A');
    outb(&mut b, 0x3F8, b'B');
    assert_eq!(serial_output(&b), b"B");
    assert_eq!(b.e9_output().unwrap().sink().contents(), Some(&b"A"[..]));
}
