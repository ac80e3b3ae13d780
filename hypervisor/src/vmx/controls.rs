//! VMX control bits the hypervisor uses (SDM Vol. 3C 25.6 "VM-Execution Control Fields",
//! Tables 25-5 pin-based, 25-6 primary and 25-7 secondary processor-based; 25.7.1 Table 25-13
//! VM-exit controls; 25.8.1 Table 25-15 VM-entry controls), and the interruption-information
//! format (25.8.3 Table 25-17).

/// Primary processor-based: interrupt-window exiting (bit 2).
pub const PROC_INTERRUPT_WINDOW: u32 = 1 << 2;
/// Primary processor-based: HLT exiting (bit 7).
pub const PROC_HLT_EXITING: u32 = 1 << 7;
/// Primary processor-based: use I/O bitmaps (bit 25).
pub const PROC_USE_IO_BITMAPS: u32 = 1 << 25;
/// Primary processor-based: use MSR bitmaps (bit 28).
pub const PROC_USE_MSR_BITMAPS: u32 = 1 << 28;
/// Primary processor-based: activate secondary controls (bit 31).
pub const PROC_SECONDARY: u32 = 1 << 31;
/// Secondary: enable EPT (bit 1).
pub const PROC2_ENABLE_EPT: u32 = 1 << 1;
/// Secondary: enable VPID (bit 5).
pub const PROC2_ENABLE_VPID: u32 = 1 << 5;
/// VM-exit: host address-space size (bit 9): the host runs in 64-bit mode after exits.
pub const EXIT_HOST_64: u32 = 1 << 9;
/// VM-entry: IA-32e mode guest (bit 9).
pub const ENTRY_IA32E_GUEST: u32 = 1 << 9;

/// Interruption information: valid (bit 31).
pub const INTR_VALID: u32 = 1 << 31;
/// Interruption information: deliver error code (bit 11).
pub const INTR_ERROR_CODE: u32 = 1 << 11;
/// Interruption type (bits 10:8): external interrupt.
pub const INTR_TYPE_EXTERNAL: u32 = 0 << 8;
/// Interruption type: hardware exception.
pub const INTR_TYPE_HW_EXCEPTION: u32 = 3 << 8;
/// Interruption type: software interrupt (INT n).
pub const INTR_TYPE_SW_INTERRUPT: u32 = 4 << 8;
/// Interruption type: privileged software exception (INT1).
pub const INTR_TYPE_PRIV_SW_EXCEPTION: u32 = 5 << 8;
/// Interruption type: software exception (INT3, INTO).
pub const INTR_TYPE_SW_EXCEPTION: u32 = 6 << 8;
