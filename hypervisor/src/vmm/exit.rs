//! VM exits as a Rust enum (SDM Vol. 3D Appendix C "VMX Basic Exit Reasons"), decoded from
//! the exit-reason field (25.9.1 Table 25-18: bits 15:0 basic reason, bit 31 VM-entry
//! failure) and the exit qualification where the handler needs it (28.2.1 "Basic VM-Exit
//! Information", Tables 28-3 for control-register accesses, 28-5 for I/O instructions and 28-7 for EPT violations).

/// An I/O instruction exit's qualification (Table 28-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoQual {
    /// Size of access in bytes (bits 2:0 + 1).
    pub size: u8,
    /// IN (bit 3 = 1) or OUT.
    pub input: bool,
    /// String instruction (bit 4).
    pub string: bool,
    /// REP prefix (bit 5).
    pub rep: bool,
    /// Port number in an immediate (bit 6 = 1) or in DX.
    pub immediate: bool,
    /// Port number (bits 31:16).
    pub port: u16,
}

impl IoQual {
    /// Decodes the exit qualification.
    pub fn decode(q: u64) -> Self {
        Self {
            size: (q & 7) as u8 + 1,
            input: q & (1 << 3) != 0,
            string: q & (1 << 4) != 0,
            rep: q & (1 << 5) != 0,
            immediate: q & (1 << 6) != 0,
            port: (q >> 16) as u16,
        }
    }
}

/// Why the guest stopped running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: an exception in the exception bitmap (or an NMI), with the exit interruption
    /// information.
    Exception {
        /// VM-exit interruption information (25.9.2 Table 25-19).
        info: u32,
    },
    /// 2: the guest triple-faulted.
    TripleFault,
    /// 7: interrupt window (the guest can take an interrupt now).
    InterruptWindow,
    /// 28: control-register access, with the qualification (Table 28-3).
    CrAccess {
        /// Exit qualification.
        qual: u64,
    },
    /// 10: CPUID.
    Cpuid,
    /// 12: HLT.
    Hlt,
    /// 18: VMCALL.
    Vmcall,
    /// 30: I/O instruction.
    Io(IoQual),
    /// 31: RDMSR.
    Rdmsr,
    /// 32: WRMSR.
    Wrmsr,
    /// 48: EPT violation, with the qualification and the guest-physical address.
    EptViolation {
        /// Exit qualification (Table 28-7).
        qual: u64,
        /// Guest-physical address.
        gpa: u64,
    },
    /// Any other basic exit reason, or a failed VM entry (bit 31).
    Other {
        /// The whole exit-reason field.
        reason: u32,
        /// The exit qualification.
        qual: u64,
    },
}

/// Basic exit reasons (Appendix C).
pub mod reason {
    /// Exception or non-maskable interrupt.
    pub const EXCEPTION_NMI: u16 = 0;
    /// Triple fault.
    pub const TRIPLE_FAULT: u16 = 2;
    /// Interrupt window.
    pub const INTERRUPT_WINDOW: u16 = 7;
    /// Control-register access.
    pub const CR_ACCESS: u16 = 28;
    /// CPUID.
    pub const CPUID: u16 = 10;
    /// HLT.
    pub const HLT: u16 = 12;
    /// VMCALL.
    pub const VMCALL: u16 = 18;
    /// I/O instruction.
    pub const IO: u16 = 30;
    /// RDMSR.
    pub const RDMSR: u16 = 31;
    /// WRMSR.
    pub const WRMSR: u16 = 32;
    /// EPT violation.
    pub const EPT_VIOLATION: u16 = 48;
}

/// Exit-reason bit 31: VM-entry failure.
pub const ENTRY_FAILURE: u32 = 1 << 31;

impl Exit {
    /// Decodes an exit from the exit-reason field and the fields its reason needs
    /// (qualification, VM-exit interruption information, guest-physical address).
    pub fn decode(reason: u32, qual: u64, info: u32, gpa: u64) -> Self {
        if reason & ENTRY_FAILURE != 0 {
            return Self::Other { reason, qual };
        }
        match reason as u16 {
            reason::EXCEPTION_NMI => Self::Exception { info },
            reason::TRIPLE_FAULT => Self::TripleFault,
            reason::INTERRUPT_WINDOW => Self::InterruptWindow,
            reason::CR_ACCESS => Self::CrAccess { qual },
            reason::CPUID => Self::Cpuid,
            reason::HLT => Self::Hlt,
            reason::VMCALL => Self::Vmcall,
            reason::IO => Self::Io(IoQual::decode(qual)),
            reason::RDMSR => Self::Rdmsr,
            reason::WRMSR => Self::Wrmsr,
            reason::EPT_VIOLATION => Self::EptViolation { qual, gpa },
            _ => Self::Other { reason, qual },
        }
    }

    /// The basic exit reason number and its Appendix C name.
    pub fn name(&self) -> (u16, &'static str) {
        match self {
            Self::Exception { .. } => (reason::EXCEPTION_NMI, "exception"),
            Self::TripleFault => (reason::TRIPLE_FAULT, "triple fault"),
            Self::InterruptWindow => (reason::INTERRUPT_WINDOW, "interrupt window"),
            Self::CrAccess { .. } => (reason::CR_ACCESS, "control-register access"),
            Self::Cpuid => (reason::CPUID, "CPUID"),
            Self::Hlt => (reason::HLT, "HLT"),
            Self::Vmcall => (reason::VMCALL, "VMCALL"),
            Self::Io(_) => (reason::IO, "I/O instruction"),
            Self::Rdmsr => (reason::RDMSR, "RDMSR"),
            Self::Wrmsr => (reason::WRMSR, "WRMSR"),
            Self::EptViolation { .. } => (reason::EPT_VIOLATION, "EPT violation"),
            Self::Other { reason, .. } => (*reason as u16, "unhandled"),
        }
    }
}
