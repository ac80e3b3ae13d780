//! The guest's console: bytes written with `OUT DX, AL` to the port the hypervisor traps.

use crate::vmm::CONSOLE_PORT;

/// `core::fmt` onto the console port.
pub struct Console;

impl core::fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            // SAFETY: an OUT to the console port (trapped: the hypervisor consumes it).
            unsafe { core::arch::asm!("out dx, al", in("dx") CONSOLE_PORT, in("al") b, options(nomem, nostack, preserves_flags)) };
        }
        Ok(())
    }
}

/// Prints a line on the guest console.
#[macro_export]
macro_rules! gprintln {
    ($($t:tt)*) => {{
        use core::fmt::Write as _;
        let _ = writeln!($crate::guest::console::Console, $($t)*);
    }};
}
