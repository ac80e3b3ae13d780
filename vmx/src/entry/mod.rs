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

/// A failed VM-entry check: what, in SDM notation, with the section, and the values involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    /// The area (decides VMfailValid(7)/(8) or exit reason 33/34).
    pub area: Area,
    /// A stable identifier of the check (e.g. "guest.cs.l_and_d").
    pub check: &'static str,
    /// The rule: what the value(s) should be, SDM notation, section and title.
    pub message: &'static str,
    /// The field(s) and value(s) that broke the rule (e.g. "guest CR0 = 0x80000011: bit 5
    /// (NE) must be 1").
    pub values: String,
}

impl core::fmt::Display for EntryError {
    /// "values: rule; SDM section" (the rule alone when no values were recorded).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.values.is_empty() {
            f.write_str(self.message)
        } else {
            write!(f, "{}: {}", self.values, self.message)
        }
    }
}

impl EntryError {
    /// The same failure with the field(s) and value(s) involved.
    pub(crate) fn with(mut self, values: String) -> Self {
        self.values = values;
        self
    }
}

/// Builds an [`EntryError`] (add the values with [`EntryError::with`]).
pub(crate) const fn fail(area: Area, check: &'static str, message: &'static str) -> EntryError {
    EntryError { area, check, message, values: String::new() }
}

/// "`name` = value: bits ... must be 1, bits ... must be 0" for a register checked against
/// IA32_VMX_CRn_FIXED0 (bits that must be 1) and FIXED1 (bits that may be 1).
pub(crate) fn fixed_values(name: &str, v: u64, fixed0: u64, fixed1: u64) -> String {
    let mut s = format!("{name} = {v:#x}");
    let missing = fixed0 & !v;
    let extra = v & !fixed1;
    if missing != 0 {
        s += &format!(": bits {missing:#x} must be 1 (FIXED0 = {fixed0:#x})");
    }
    if extra != 0 {
        s += &format!("{} bits {extra:#x} must be 0 (FIXED1 = {fixed1:#x})", if missing != 0 { ";" } else { ":" });
    }
    s
}

/// "`name` = value, allowed-0 ... allowed-1 ...: bits ... must be 1, bits ... must be 0" for a
/// control field checked against its capability MSR.
pub(crate) fn allowed_values(name: &str, v: u32, must1: u32, may1: u32) -> String {
    format!("{name} = {v:#010x}: bits {:#x} must be 1 (allowed-0 settings = {must1:#010x}), bits {:#x} must be 0 (allowed-1 settings = {may1:#010x})", must1 & !v, v & !may1)
}

/// The check result type.
pub type Check = Result<(), EntryError>;

/// Whether `v` is canonical: bits 63:47 identical (4-level paging), or with `la57` bits 63:56
/// identical (5-level paging). The model supports 5-level paging, so (Intel's "5-Level Paging
/// and 5-Level EPT" white paper, 3.1 "Linear-Address Expansion and VM Entries") the checks on
/// base-address and MSR fields (host and guest FS/GS/GDTR/IDTR/TR/LDTR bases, IA32_SYSENTER_ESP/
/// EIP) are relative to the maximum width, 57 bits, whatever CR4.LA57 is ([`canonical_max`]),
/// while the host RIP (27.2.4) and guest RIP (27.3.1.4) checks take the width from CR4.LA57 in
/// the CR4 field of their area.
pub(crate) fn canonical(v: u64, la57: bool) -> bool {
    let shift = if la57 { 7 } else { 16 };
    ((v << shift) as i64 >> shift) as u64 == v
}

/// Whether `v` is canonical relative to the processor's maximum linear-address width (57
/// bits), as the base-address and MSR-field checks require (see [`canonical`]).
pub(crate) fn canonical_max(v: u64) -> bool {
    canonical(v, true)
}

/// Whether every byte of a PAT value is a valid memory type (0, 1, 4, 5, 6, 7).
pub(crate) fn pat_valid(v: u64) -> bool {
    (0..8).all(|i| matches!((v >> (8 * i)) & 0xff, 0 | 1 | 4 | 5 | 6 | 7))
}

/// Whether a physical address fits MAXPHYADDR.
pub(crate) fn fits(addr: u64, maxphyaddr: u8) -> bool {
    addr >> maxphyaddr == 0
}
