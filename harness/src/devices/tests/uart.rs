//! 16550A, against the PC16550D data sheet (Tables II, IV, V) and the init sequence that
//! Linux's 8250 driver and most hobby kernels use.

use super::*;
use crate::devices::uart::Uart;

const COM1: u16 = 0x3F8;
const IER: u16 = COM1 + 1;
const IIR: u16 = COM1 + 2;
const LCR: u16 = COM1 + 3;
const MCR: u16 = COM1 + 4;
const LSR: u16 = COM1 + 5;
const MSR: u16 = COM1 + 6;
const SCR: u16 = COM1 + 7;

#[test]
fn reset_state_matches_table_iv() {
    let mut b = bus();
    assert_eq!(inb(&mut b, IER), 0x00);
    assert_eq!(inb(&mut b, IIR), 0x01, "no interrupt pending");
    assert_eq!(inb(&mut b, LCR), 0x00);
    assert_eq!(inb(&mut b, MCR), 0x00);
    assert_eq!(inb(&mut b, LSR), 0x60, "THRE and TEMT");
    assert_eq!(inb(&mut b, MSR), 0xB0, "CTS, DSR, DCD from the peer");
}

#[test]
fn init_sequence_divisor_round_trip_loopback_and_output() {
    let mut b = bus();
    outb(&mut b, IER, 0x00);
    outb(&mut b, LCR, 0x80); // DLAB
    outb(&mut b, COM1, 0x03); // DLL: 38400 baud
    outb(&mut b, IER, 0x00); // DLM
    outb(&mut b, LCR, 0x03); // 8N1, DLAB off
    outb(&mut b, IIR, 0xC7); // FCR: enable and clear FIFOs, 14-byte trigger
    outb(&mut b, MCR, 0x0B); // DTR, RTS, OUT2
    assert_eq!(inb(&mut b, LCR), 0x03);
    outb(&mut b, LCR, 0x83);
    assert_eq!((inb(&mut b, COM1), inb(&mut b, IER)), (0x03, 0x00), "divisor latch reads back");
    outb(&mut b, LCR, 0x03);
    assert_eq!(inb(&mut b, IER), 0x00, "with DLAB off offset 1 is IER again");
    assert_eq!(inb(&mut b, IIR), 0xC1, "FIFOs enabled (bits 6-7), no interrupt");
    // Loopback self-test: the byte comes back on RBR and is not sent.
    outb(&mut b, MCR, 0x1E);
    outb(&mut b, COM1, 0xAE);
    assert_eq!(inb(&mut b, LSR) & 0x01, 0x01, "DR");
    assert_eq!(inb(&mut b, COM1), 0xAE);
    assert_eq!(inb(&mut b, LSR), 0x60);
    outb(&mut b, MCR, 0x0F);
    for &c in b"hello\n" {
        assert_ne!(inb(&mut b, LSR) & 0x20, 0, "always ready to send");
        outb(&mut b, COM1, c);
    }
    assert_eq!(serial_output(&b), b"hello\n");
    assert_eq!(inb(&mut b, SCR), 0);
    outb(&mut b, SCR, 0x5A);
    assert_eq!(inb(&mut b, SCR), 0x5A);
}

#[test]
fn input_bytes_are_received_one_at_a_time() {
    let mut b = bus_with_input(b"ok");
    assert_eq!(inb(&mut b, LSR), 0x61);
    assert_eq!(inb(&mut b, COM1), b'o');
    assert_eq!(inb(&mut b, COM1), b'k');
    assert_eq!(inb(&mut b, LSR), 0x60, "DR clear when the input is exhausted");
}

#[test]
fn interrupt_priorities_and_clearing_per_table_v() {
    let mut u = Uart::new(SerialSink::None, b"x".to_vec());
    u.write(4, 0x08); // OUT2: the PC routes INTR to IRQ4
    u.write(1, 0x03); // received data + THR empty
    assert!(u.irq_level());
    assert_eq!(u.read(2), 0x04, "received data outranks THR empty");
    assert_eq!(u.read(0), b'x');
    assert_eq!(u.read(2), 0x02, "then THR empty");
    assert_eq!(u.read(2), 0x01, "reading IIR cleared the THRE interrupt");
    assert!(!u.irq_level());
    u.write(0, b'!');
    assert_eq!(u.read(2), 0x02, "a THR write re-arms it (the byte leaves at once)");
    u.write(0, b'!');
    u.write(4, 0x00); // OUT2 off: INTR still set in IIR but IRQ4 is low
    assert!(!u.irq_level());
    assert_eq!(u.read(2), 0x02);
}

#[test]
fn modem_status_in_loopback_follows_mcr() {
    let mut u = Uart::new(SerialSink::None, Vec::new());
    u.write(4, 0x10 | 0x01 | 0x02); // loop, DTR, RTS
    // CTS=RTS, DSR=DTR, RI=OUT1=0, DCD=OUT2=0: DCD dropped (delta bit 3).
    assert_eq!(u.read(6), 0x30 | 0x08);
    assert_eq!(u.read(6), 0x30, "reading MSR clears the deltas");
    u.write(1, 0x08); // modem status interrupt enabled
    u.write(4, 0x10 | 0x04); // loop, OUT1 only: CTS and DSR fall, RI rises
    assert_eq!(u.read(2), 0x00, "a delta bit is set: modem status interrupt (IIR 0x00)");
    assert_eq!(u.read(6), 0x40 | 0x03, "RI set, DCTS and DDSR; TERI is for RI's trailing edge only");
    assert_eq!(u.read(2), 0x01, "reading MSR cleared the interrupt");
    u.write(4, 0x10); // RI falls
    assert_eq!(u.read(6), 0x04, "TERI");
}
