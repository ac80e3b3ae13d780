//! VM entries (SDM Vol. 3C chapter 27 "VM Entries"): the checks of 27.2 "Checks on VMX
//! Controls and Host-State Area" and 27.3.1 "Checks on the Guest State Area", one small
//! function per subsection in SDM order (`controls.rs`, `host.rs`, `guest.rs`), then 27.3.2
//! "Loading Guest State" and 27.6 "Event Injection" (`load.rs`).
//!
//! A failed check is an [`EntryError`]: control-field checks end the instruction with
//! VMfailValid(7), host-state checks with VMfailValid(8) (27.2), guest-state checks with a
//! VM-entry failure exit, reason 33 (27.8 "VM-Entry Failures During or After Loading Guest
//! State").

mod controls;
mod guest;
mod host;
pub mod load;

pub use load::vm_entry;

/// The VMCS values VM entry checks, read once.
#[derive(Debug, Clone, Copy, Default)]
pub struct EntryFields {
    /// Pin-based controls.
    pub pin: u32,
    /// Primary processor-based controls.
    pub proc: u32,
    /// Secondary processor-based controls (0 unless activated).
    pub proc2: u32,
    /// VM-exit controls.
    pub exit: u32,
    /// VM-entry controls.
    pub entry: u32,
}

/// Which area a failed check belongs to, deciding the outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// VM-execution, VM-exit or VM-entry control fields: VMfailValid(7).
    Controls,
    /// Host-state area: VMfailValid(8).
    Host,
    /// Guest-state area: VM-entry failure, exit reason 33, with this exit qualification.
    Guest(u64),
    /// MSR loading: VM-entry failure, exit reason 34, qualification = entry index (1-based).
    MsrLoad(u64),
}

/// A failed VM-entry check: what, in SDM notation, with the section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryError {
    /// The area (decides VMfailValid(7)/(8) or exit reason 33/34).
    pub area: Area,
    /// A stable identifier of the check (e.g. "guest.cs.l_and_d").
    pub check: &'static str,
    /// The message, SDM notation, section and title.
    pub message: &'static str,
}

impl core::fmt::Display for EntryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.message)
    }
}

/// Builds an [`EntryError`].
pub(crate) const fn fail(area: Area, check: &'static str, message: &'static str) -> EntryError {
    EntryError { area, check, message }
}

/// The check result type.
pub type Check = Result<(), EntryError>;

/// Whether `v` is canonical for 48-bit linear addresses (hvbench checks VM-entry addresses
/// against the 4-level width; with LA57 the guest's width is larger).
pub(crate) fn canonical(v: u64) -> bool {
    ((v << 16) as i64 >> 16) as u64 == v
}

/// Whether every byte of a PAT value is a valid memory type (0, 1, 4, 5, 6, 7).
pub(crate) fn pat_valid(v: u64) -> bool {
    (0..8).all(|i| matches!((v >> (8 * i)) & 0xff, 0 | 1 | 4 | 5 | 6 | 7))
}

/// Whether a physical address fits MAXPHYADDR.
pub(crate) fn fits(addr: u64, maxphyaddr: u8) -> bool {
    addr >> maxphyaddr == 0
}
