//! The one vocabulary of architectural events that the CPU (and, later, VMX) reports.
//!
//! The CPU appends events to a buffer only when tracing is on (one predictable branch when it
//! is off); the machine drains the buffer into its trace writer and live consumers.
//! Unimplemented-instruction reports are always recorded: they are rare and the user must see
//! them.

use crate::state::Mode;

/// An architectural event on one vCPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// An exception was delivered (or, for a VMM, raised) at `rip`.
    Exception {
        /// The vector.
        vector: u8,
        /// The error code pushed, if any.
        error_code: Option<u32>,
        /// RIP of the faulting (or, for traps, next) instruction.
        rip: u64,
        /// CR2 for #PF.
        cr2: Option<u64>,
    },
    /// An external (maskable) interrupt or NMI was delivered.
    Interrupt {
        /// The vector.
        vector: u8,
        /// RIP where the guest was interrupted.
        rip: u64,
    },
    /// A software interrupt (INT n, INT3, INTO, INT1) was delivered.
    SoftwareInterrupt {
        /// The vector.
        vector: u8,
        /// RIP of the INT instruction.
        rip: u64,
    },
    /// An exception while delivering another turned into #DF.
    DoubleFault {
        /// The first exception's vector.
        first: u8,
        /// The second exception's vector.
        second: u8,
    },
    /// A fault during #DF delivery: the processor entered the shutdown state.
    TripleFault {
        /// RIP at the time.
        rip: u64,
        /// The exception that could not be delivered.
        vector: u8,
    },
    /// The operating mode changed.
    ModeChange {
        /// Before.
        from: Mode,
        /// After.
        to: Mode,
        /// RIP of the instruction that changed it.
        rip: u64,
    },
    /// HLT entered the halted state.
    Halt {
        /// RIP of the HLT.
        rip: u64,
    },
    /// The guest ran an instruction hvbench does not implement; it got #UD.
    Unimplemented {
        /// RIP of the instruction.
        rip: u64,
        /// Its mnemonic and operands in Intel syntax.
        text: String,
    },
    /// A VMX instruction completed (SDM Vol. 3C 31.2 "Conventions": VMsucceed, VMfailInvalid,
    /// VMfailValid). VM exits caused by it in non-root operation are [`Event::VmExit`].
    VmInstruction {
        /// RIP of the instruction.
        rip: u64,
        /// The mnemonic, e.g. "VMPTRLD".
        mnemonic: &'static str,
        /// What happened.
        outcome: VmOutcome,
        /// For a failure: which check, with the values and the SDM section (empty on success).
        detail: String,
    },
    /// VM entry succeeded: the guest runs from `rip`.
    VmEntry {
        /// VMLAUNCH (true) or VMRESUME.
        launch: bool,
        /// Guest RIP.
        rip: u64,
        /// The VPID in use (0 if none).
        vpid: u16,
    },
    /// A VM exit (or a VM-entry failure, with bit 31 of `reason` set).
    VmExit {
        /// The exit reason field (basic reason in bits 15:0).
        reason: u32,
        /// The exit qualification.
        qualification: u64,
        /// Guest RIP at the exit.
        guest_rip: u64,
        /// The VM-exit instruction length (0 when not meaningful).
        instruction_len: u32,
        /// The guest-physical address field (EPT exits; 0 otherwise).
        guest_physical: u64,
        /// For a failed entry: the check that failed, in SDM notation (empty otherwise).
        detail: String,
    },
}

/// The outcome of a VMX instruction (SDM Vol. 3C 31.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmOutcome {
    /// VMsucceed: CF = ZF = 0.
    Succeed,
    /// VMfailInvalid: CF = 1 (no current VMCS to hold an error number).
    FailInvalid,
    /// VMfailValid(n): ZF = 1, VM-instruction error field = n (SDM Table 31-1).
    FailValid(u32),
}
