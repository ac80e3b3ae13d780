//! The three ways a PC guest asks for a reset, as one device:
//! - Port 0xCF9, the Reset Control Register (Intel 82371AB PIIX4 datasheet, "RC—Reset
//!   Control Register (I/O)"; the same register in the ICH family): bit 1 System Reset
//!   (hard reset) is kept, bit 2 Reset CPU starts the reset when written as 1; the register
//!   reads back bit 1 (as QEMU's PIIX3 does: reads 0 after a BIOS boot). Byte accesses only:
//!   a 32-bit access to 0xCF8 is the PCI configuration address.
//! - Port 0x92, System Control Port A (IBM PS/2 "System Control Port A", "fast reset"): bit
//!   0 going from 0 to 1 resets the processor, bit 1 is the A20 gate. hvbench never masks
//!   A20 (the address line is always enabled), so bit 1 is only stored; it reads 0x02 after
//!   reset, A20 enabled, as QEMU's does after SeaBIOS.
//! - The 8042 keyboard controller's command port 0x64 (IBM PC AT Technical Reference,
//!   "Keyboard Controller", command 0xFE "pulse output port bit 0"; commands 0xF0-0xFF pulse
//!   output bits 3-0 for each 0 in the command's low nibble, and output bit 0 is the reset
//!   line, so every even command from 0xF0 to 0xFE resets, as in QEMU). Only as much of the
//!   8042 as a reset needs is modelled: status reads 0x1C (system flag: self-test passed,
//!   keyboard not inhibited, bit 3 set when the last write went to 0x64 rather than 0x60),
//!   never an output or input buffer full, so a guest that waits for an empty input buffer
//!   before its command goes on. Data port 0x60 reads 0x00; other commands are ignored.
//!
//! A reset request ends the run ([`crate::exit_status::Outcome::Reset`]) unless the machine
//! carries it out (`hvbench run --reboot`, [`crate::Machine::reset`]).
//!
//! Reset state: RC 0x00, port 0x92 0x02, the 8042's last write a command.

/// The Reset Control Register's port.
pub const RESET_CONTROL_PORT: u16 = 0xCF9;
/// System Control Port A.
pub const PORT_92: u16 = 0x92;
/// The 8042's data port.
pub const KBC_DATA: u16 = 0x60;
/// The 8042's status (read) and command (write) port.
pub const KBC_COMMAND: u16 = 0x64;

/// RC bit 1: System Reset (hard reset when a reset starts).
const RC_SYS_RST: u8 = 0x02;
/// RC bit 2: Reset CPU.
const RC_RST_CPU: u8 = 0x04;
/// Port 0x92 bit 0: fast reset.
const FAST_RESET: u8 = 0x01;
/// Port 0x92 bit 1: A20 enabled.
const A20: u8 = 0x02;
/// 8042 status: system flag (bit 2) and keyboard not inhibited (bit 4).
const KBC_STATUS: u8 = 0x14;
/// 8042 status bit 3: the last write was a command.
const KBC_LAST_COMMAND: u8 = 0x08;
/// 8042 command: pulse output port bit 0 (the reset line).
const KBC_PULSE_RESET: u8 = 0xFE;
/// 8042 commands 0xF0-0xFF pulse output port bits 3-0.
const KBC_PULSE_FIRST: u8 = 0xF0;

/// Which port asked for the reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ResetSource {
    /// Port 0xCF9, Reset CPU.
    ResetControl,
    /// Port 0x92, fast reset.
    Port92,
    /// The 8042's reset line (command 0xFE or another even pulse command).
    Keyboard,
}

impl ResetSource {
    /// How the user reads it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ResetControl => "port 0xCF9 reset control",
            Self::Port92 => "port 0x92 fast reset",
            Self::Keyboard => "8042 reset line (port 0x64 command)",
        }
    }
}

/// The reset control register, port 0x92 and the reset part of the 8042.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResetPorts {
    rc: u8,
    port92: u8,
    kbc_last_command: bool,
}

impl Default for ResetPorts {
    fn default() -> Self {
        Self { rc: 0, port92: A20, kbc_last_command: true }
    }
}

impl ResetPorts {
    /// The ports in their reset state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a byte access to `port` belongs to this device.
    pub fn claims(port: u16) -> bool {
        matches!(port, RESET_CONTROL_PORT | PORT_92 | KBC_DATA | KBC_COMMAND)
    }

    /// A byte read.
    pub fn read(&self, port: u16) -> u8 {
        match port {
            RESET_CONTROL_PORT => self.rc,
            PORT_92 => self.port92,
            KBC_COMMAND => KBC_STATUS | if self.kbc_last_command { KBC_LAST_COMMAND } else { 0 },
            _ => 0x00,
        }
    }

    /// A byte write; `Some` when it asks for a reset.
    pub fn write(&mut self, port: u16, value: u8) -> Option<ResetSource> {
        match port {
            RESET_CONTROL_PORT => {
                self.rc = value & RC_SYS_RST;
                (value & RC_RST_CPU != 0).then_some(ResetSource::ResetControl)
            }
            PORT_92 => {
                let rising = value & FAST_RESET != 0 && self.port92 & FAST_RESET == 0;
                self.port92 = value;
                rising.then_some(ResetSource::Port92)
            }
            KBC_COMMAND => {
                self.kbc_last_command = true;
                let pulses_reset = value == KBC_PULSE_RESET || (value >= KBC_PULSE_FIRST && value & 1 == 0);
                pulses_reset.then_some(ResetSource::Keyboard)
            }
            _ => {
                self.kbc_last_command = false;
                None
            }
        }
    }
}
