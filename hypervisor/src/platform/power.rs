//! Powering off: Bochs's (and hvbench's) shutdown port 8900H takes the bytes "Shutdown"
//! (Bochs's "I/O port 0x8900" power-off hack); QEMU's isa-debug-exit at F4H is the fallback.
//! COM1 is drained first (LSR.TEMT), or Bochs drops the last bytes. A failure goes to
//! isa-debug-exit first, so that hvbench (and QEMU) exit with status (v << 1) | 1 instead of
//! a clean power-off; Bochs has nothing at F4H and takes the "Shutdown" after it.

use super::cpu::{halt_forever, outb, outl};
use super::serial;

/// Bochs/hvbench shutdown port.
pub const SHUTDOWN_PORT: u16 = 0x8900;
/// QEMU isa-debug-exit port.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;

/// Drains COM1 and powers the machine off; `status` goes to isa-debug-exit if that is all
/// there is.
pub fn power_off(status: u32) -> ! {
    serial::flush();
    if status != 0 {
        outl(DEBUG_EXIT_PORT, status);
    }
    b"Shutdown".iter().for_each(|&b| outb(SHUTDOWN_PORT, b));
    outl(DEBUG_EXIT_PORT, status);
    halt_forever()
}
