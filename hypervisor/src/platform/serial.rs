//! COM1, a 16550 UART at I/O port 3F8H (PC16550D data sheet: registers THR/DLL at +0,
//! IER/DLM at +1, FCR at +2, LCR at +3, MCR at +4, LSR at +5).
//!
//! Programmed as the data sheet says: divisor latch (LCR.DLAB = 1, DLL/DLM), then LCR = 03H
//! (8 data bits, no parity, 1 stop bit, DLAB off), FIFOs on, DTR and RTS. Each byte waits for
//! LSR.THRE (bit 5); [`flush`] waits for LSR.TEMT (bit 6), after which every byte has left.

use super::cpu::{inb, outb};

/// COM1's base port.
pub const COM1: u16 = 0x3F8;
const THR: u16 = 0;
const IER: u16 = 1;
const FCR: u16 = 2;
const LCR: u16 = 3;
const MCR: u16 = 4;
const LSR: u16 = 5;
const LCR_DLAB: u8 = 0x80;
const LCR_8N1: u8 = 0x03;
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;
/// Divisor 1: 115200 baud.
const DIVISOR: u16 = 1;

/// Programs COM1: no interrupts, 115200 8N1, FIFOs enabled and cleared, DTR and RTS.
pub fn init() {
    outb(COM1 + IER, 0);
    outb(COM1 + LCR, LCR_DLAB);
    outb(COM1, DIVISOR as u8);
    outb(COM1 + 1, (DIVISOR >> 8) as u8);
    outb(COM1 + LCR, LCR_8N1);
    outb(COM1 + FCR, 0xC7);
    outb(COM1 + MCR, 0x03);
}

/// Sends one byte (waits for the transmit holding register to empty).
pub fn write_byte(b: u8) {
    while inb(COM1 + LSR) & LSR_THRE == 0 {}
    outb(COM1 + THR, b);
}

/// Waits until the transmitter is empty (every byte sent).
pub fn flush() {
    while inb(COM1 + LSR) & LSR_TEMT == 0 {}
}

/// `core::fmt` onto COM1 ("\n" becomes "\n": the transcript uses bare line feeds).
pub struct Serial;

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        s.bytes().for_each(write_byte);
        Ok(())
    }
}

/// Prints to COM1 with `format_args!` syntax.
#[macro_export]
macro_rules! println {
    ($($t:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::platform::serial::Serial, $($t)*);
    }};
}
