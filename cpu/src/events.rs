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
}
