//! Debug and power ports that test kernels use to talk to the emulator:
//! - QEMU `isa-debug-exit` at 0xF4, iosize 4 (QEMU docs, "hw/misc/debugexit.c"): writing `v`
//!   ends the run with exit status `(v << 1) | 1`.
//! - The Bochs/QEMU shutdown port 0x8900 (Bochs "I/O port 0x8900" APM/shutdown hack): the
//!   bytes "Shutdown" written in sequence power the machine off (status 0).
//! - Port 0x80, the POST diagnostic port: the last byte written is remembered. Reads return
//!   0xFF, as on QEMU (the port is only used for I/O delays and POST codes).
//! - Port 0xE9, the Bochs "port E9 hack" debug console: written bytes are console output; a
//!   read returns 0xE9, the presence signature.
//!
//! Reset state: no exit requested, shutdown sequence at its start, POST code 0.

/// QEMU isa-debug-exit port.
pub const DEBUG_EXIT_PORT: u16 = 0xF4;
/// Bytes the isa-debug-exit device decodes (iosize 4).
pub const DEBUG_EXIT_SIZE: u16 = 4;
/// Bochs/QEMU shutdown port.
pub const SHUTDOWN_PORT: u16 = 0x8900;
/// POST diagnostic port.
pub const POST_PORT: u16 = 0x80;
/// Bochs debug console port.
pub const E9_PORT: u16 = 0xE9;

/// The string that, written byte by byte to the shutdown port, powers off.
const SHUTDOWN_MAGIC: &[u8] = b"Shutdown";

/// Why the guest asks the run to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExitRequest {
    /// isa-debug-exit: the process exit status `(value << 1) | 1`.
    DebugExit(u32),
    /// ACPI S5 or the shutdown port: power off, status 0.
    PowerOff,
    /// A reset (port 0xCF9, port 0x92 or the 8042, see [`super::reset`]).
    Reset(super::reset::ResetSource),
}

impl ExitRequest {
    /// The exit status the run reports (QEMU's convention for isa-debug-exit and power-off;
    /// hvbench's [`crate::exit_status::GUEST_RESET`] for a reset).
    pub fn status(self) -> u32 {
        match self {
            Self::DebugExit(s) => s,
            Self::PowerOff => 0,
            Self::Reset(_) => crate::exit_status::GUEST_RESET as u32,
        }
    }
}

/// What a write to one of these ports asks of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DebugAction {
    /// Nothing beyond the device's own state.
    None,
    /// End the run.
    Exit(ExitRequest),
    /// A byte for the debug console.
    Console(u8),
}

/// The debug-exit, shutdown, POST and 0xE9 ports.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct DebugPorts {
    shutdown_matched: usize,
    post_code: u8,
}

impl DebugPorts {
    /// The ports in their reset state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last POST code written to port 0x80.
    pub fn post_code(&self) -> u8 {
        self.post_code
    }

    /// Whether `port` belongs to this device.
    pub fn claims(port: u16) -> bool {
        matches!(port, POST_PORT | E9_PORT | SHUTDOWN_PORT)
            || (DEBUG_EXIT_PORT..DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE).contains(&port)
    }

    /// An IN from `port`.
    pub fn read(&self, port: u16, size: u8) -> u32 {
        match port {
            E9_PORT => u32::from(E9_PORT as u8),
            _ => ones(size),
        }
    }

    /// An OUT of `size` bytes to `port`.
    pub fn write(&mut self, port: u16, size: u8, value: u32) -> DebugAction {
        let value = value & ones(size);
        match port {
            p if (DEBUG_EXIT_PORT..DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE).contains(&p) => {
                DebugAction::Exit(ExitRequest::DebugExit((value << 1) | 1))
            }
            POST_PORT => {
                self.post_code = value as u8;
                DebugAction::None
            }
            E9_PORT => DebugAction::Console(value as u8),
            SHUTDOWN_PORT => self.shutdown_byte(value as u8),
            _ => DebugAction::None,
        }
    }

    fn shutdown_byte(&mut self, byte: u8) -> DebugAction {
        if SHUTDOWN_MAGIC[self.shutdown_matched] == byte {
            self.shutdown_matched += 1;
        } else {
            self.shutdown_matched = usize::from(byte == SHUTDOWN_MAGIC[0]);
        }
        if self.shutdown_matched == SHUTDOWN_MAGIC.len() {
            self.shutdown_matched = 0;
            return DebugAction::Exit(ExitRequest::PowerOff);
        }
        DebugAction::None
    }
}

/// All ones in the low `size` bytes of a port value.
pub(crate) fn ones(size: u8) -> u32 {
    hvbench_mmu::bus::ones(size) as u32
}
