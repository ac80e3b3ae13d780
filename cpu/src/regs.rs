//! Control-register and EFER bits (SDM Vol. 3A 2.5 "Control Registers", 2.2.1 "Extended
//! Feature Enable Register").

/// CR0 bits (SDM Vol. 3A Figure 2-7).
pub mod cr0 {
    /// Protection enable.
    pub const PE: u64 = 1 << 0;
    /// Monitor coprocessor.
    pub const MP: u64 = 1 << 1;
    /// x87 emulation.
    pub const EM: u64 = 1 << 2;
    /// Task switched.
    pub const TS: u64 = 1 << 3;
    /// Extension type (hardwired 1).
    pub const ET: u64 = 1 << 4;
    /// Numeric error reporting.
    pub const NE: u64 = 1 << 5;
    /// Supervisor write protect.
    pub const WP: u64 = 1 << 16;
    /// Alignment mask.
    pub const AM: u64 = 1 << 18;
    /// Not write-through.
    pub const NW: u64 = 1 << 29;
    /// Cache disable.
    pub const CD: u64 = 1 << 30;
    /// Paging.
    pub const PG: u64 = 1 << 31;
    /// Bits that may be 1.
    pub const DEFINED: u64 = PE | MP | EM | TS | ET | NE | WP | AM | NW | CD | PG;
}

/// CR4 bits (SDM Vol. 3A Figure 2-8).
pub mod cr4 {
    /// Virtual-8086 mode extensions.
    pub const VME: u64 = 1 << 0;
    /// Protected-mode virtual interrupts.
    pub const PVI: u64 = 1 << 1;
    /// Time stamp disable (RDTSC privileged).
    pub const TSD: u64 = 1 << 2;
    /// Debugging extensions (DR4/DR5 are reserved, I/O breakpoints).
    pub const DE: u64 = 1 << 3;
    /// Page size extensions.
    pub const PSE: u64 = 1 << 4;
    /// Physical address extension.
    pub const PAE: u64 = 1 << 5;
    /// Machine-check enable.
    pub const MCE: u64 = 1 << 6;
    /// Page global enable.
    pub const PGE: u64 = 1 << 7;
    /// Performance-monitoring counter enable.
    pub const PCE: u64 = 1 << 8;
    /// OS FXSAVE/FXRSTOR support.
    pub const OSFXSR: u64 = 1 << 9;
    /// OS unmasked SIMD exception support.
    pub const OSXMMEXCPT: u64 = 1 << 10;
    /// User-mode instruction prevention.
    pub const UMIP: u64 = 1 << 11;
    /// 57-bit linear addresses (5-level paging).
    pub const LA57: u64 = 1 << 12;
    /// VMX enable.
    pub const VMXE: u64 = 1 << 13;
    /// SMX enable.
    pub const SMXE: u64 = 1 << 14;
    /// RDFSBASE family enable.
    pub const FSGSBASE: u64 = 1 << 16;
    /// PCID enable.
    pub const PCIDE: u64 = 1 << 17;
    /// XSAVE and processor extended states enable.
    pub const OSXSAVE: u64 = 1 << 18;
    /// Supervisor-mode execution prevention.
    pub const SMEP: u64 = 1 << 20;
    /// Supervisor-mode access prevention.
    pub const SMAP: u64 = 1 << 21;
    /// Protection keys for user pages.
    pub const PKE: u64 = 1 << 22;
}

/// IA32_EFER bits (SDM Vol. 3A 2.2.1, Table 2-1).
pub mod efer {
    /// SYSCALL enable.
    pub const SCE: u64 = 1 << 0;
    /// IA-32e mode enable.
    pub const LME: u64 = 1 << 8;
    /// IA-32e mode active.
    pub const LMA: u64 = 1 << 10;
    /// Execute-disable bit enable.
    pub const NXE: u64 = 1 << 11;
}

/// XCR0 bits (SDM Vol. 1 13.3).
pub mod xcr0 {
    /// x87 state (must be 1).
    pub const X87: u64 = 1 << 0;
    /// SSE state.
    pub const SSE: u64 = 1 << 1;
}
