//! The ACPI fixed-hardware PM registers the FADT describes (ACPI §4.8.3 "PM1 Event Grouping",
//! §4.8.3.2 "PM1 Control Registers", §4.8.3.3 "Power Management Timer"):
//! PM1a_STS at 0x600, PM1a_EN at 0x602, PM1a_CNT at 0x604, PM_TMR at 0x608.
//!
//! Writing PM1a_CNT with SLP_EN (bit 13) set and SLP_TYP (bits 10-12) equal to `\_S5_`'s value
//! requests power-off; other sleep types are not supported and the write does nothing. SCI_EN
//! (bit 0) reads 1: there is no SMI command port, the platform is always in ACPI mode. The PM
//! timer counts at 3.579545 MHz of virtual time, 24 bits wide. No fixed event ever sets a
//! status bit, so there is never an SCI; PM1a_STS bits are write-one-to-clear storage.
//!
//! Reset state: PM1a_STS 0, PM1a_EN 0, PM1a_CNT 0x0001 (SCI_EN).

use super::SLP_TYP_S5;
use crate::devices::debug_exit::ExitRequest;

/// PM1a event block (status, enable).
pub const PM1A_EVT: u16 = 0x600;
/// PM1a control block.
pub const PM1A_CNT: u16 = 0x604;
/// PM timer.
pub const PM_TMR: u16 = 0x608;
/// The PM timer's frequency.
pub const PM_TIMER_HZ: u64 = 3_579_545;

/// PM1 control bits.
const SCI_EN: u16 = 1 << 0;
const SLP_TYP_SHIFT: u16 = 10;
const SLP_TYP_MASK: u16 = 7 << SLP_TYP_SHIFT;
const SLP_EN: u16 = 1 << 13;
/// Bits of PM1 control that hold state (SCI_EN is fixed; SLP_EN is write-only).
const CNT_STORED: u16 = SLP_TYP_MASK | 0b110; // BM_RLD, GBL_RLS
/// The timer's width.
const TIMER_MASK: u64 = 0xFF_FFFF;

/// The PM1a registers and the PM timer.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct AcpiPm {
    status: u16,
    enable: u16,
    control: u16,
}

impl AcpiPm {
    /// The registers in their reset state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `port` belongs to the PM block.
    pub fn claims(port: u16) -> bool {
        (PM1A_EVT..PM_TMR + 4).contains(&port)
    }

    /// The PM timer's value at virtual time `now` (ns).
    pub fn timer(now: u64) -> u32 {
        let ticks = u128::from(now) * u128::from(PM_TIMER_HZ) / 1_000_000_000;
        (ticks as u64 & TIMER_MASK) as u32
    }

    /// A byte read at virtual time `now`.
    pub fn read(&self, port: u16, now: u64) -> u8 {
        let word = |w: u16, hi: bool| if hi { (w >> 8) as u8 } else { w as u8 };
        match port {
            0x600 | 0x601 => word(self.status, port & 1 != 0),
            0x602 | 0x603 => word(self.enable, port & 1 != 0),
            0x604 | 0x605 => word(self.control | SCI_EN, port & 1 != 0),
            p if (PM_TMR..PM_TMR + 4).contains(&p) => (Self::timer(now) >> (8 * (p - PM_TMR))) as u8,
            _ => 0xFF,
        }
    }

    /// A byte write; may request power-off.
    pub fn write(&mut self, port: u16, value: u8) -> Option<ExitRequest> {
        let set = |w: u16, hi: bool, v: u8| {
            if hi { (w & 0x00FF) | (u16::from(v) << 8) } else { (w & 0xFF00) | u16::from(v) }
        };
        let hi = port & 1 != 0;
        match port {
            0x600 | 0x601 => self.status &= !set(0, hi, value), // write one to clear
            0x602 | 0x603 => self.enable = set(self.enable, hi, value),
            0x604 | 0x605 => {
                let written = set(self.control, hi, value);
                self.control = written & CNT_STORED;
                let slp_typ = (written & SLP_TYP_MASK) >> SLP_TYP_SHIFT;
                if written & SLP_EN != 0 && slp_typ == SLP_TYP_S5 {
                    return Some(ExitRequest::PowerOff);
                }
            }
            _ => {} // the timer is read-only
        }
        None
    }
}
