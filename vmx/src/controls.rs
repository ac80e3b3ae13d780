//! VM-execution, VM-exit and VM-entry control bits (SDM Vol. 3C 25.6.1 "Pin-Based
//! VM-Execution Controls", 25.6.2 "Processor-Based VM-Execution Controls", 25.7.1 "VM-Exit
//! Controls", 25.8.1 "VM-Entry Controls"), and the interruption-information format (25.8.3).
//! Only bits that some profile may set, or that hvbench's checks name, are listed.

use bitflags::bitflags;

bitflags! {
    /// Pin-based VM-execution controls (SDM 25.6.1, table "Definitions of Pin-Based
    /// VM-Execution Controls").
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PinCtls: u32 {
        /// Bit 0: external interrupts cause VM exits.
        const EXTERNAL_INTERRUPT_EXITING = 1 << 0;
        /// Bit 3: NMIs cause VM exits.
        const NMI_EXITING = 1 << 3;
        /// Bit 5: virtual NMIs (blocking by NMI tracks virtual NMIs; requires "NMI exiting").
        const VIRTUAL_NMIS = 1 << 5;
        /// Bit 6: activate the VMX-preemption timer (counts down in non-root operation at the
        /// rate of IA32_VMX_MISC bits 4:0; exit reason 52 at zero).
        const PREEMPTION_TIMER = 1 << 6;
        /// Bit 7: process posted interrupts (not offered).
        const POSTED_INTERRUPTS = 1 << 7;
    }
}

bitflags! {
    /// Primary processor-based VM-execution controls (SDM 25.6.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ProcCtls: u32 {
        /// Bit 2: interrupt-window exiting.
        const INTERRUPT_WINDOW_EXITING = 1 << 2;
        /// Bit 3: RDTSC/RDTSCP return TSC + the TSC-offset field.
        const USE_TSC_OFFSETTING = 1 << 3;
        /// Bit 7: HLT exits.
        const HLT_EXITING = 1 << 7;
        /// Bit 9: INVLPG exits.
        const INVLPG_EXITING = 1 << 9;
        /// Bit 10: MWAIT exits (exit reason 36; qualification bit 0 = monitor armed).
        const MWAIT_EXITING = 1 << 10;
        /// Bit 11: RDPMC exits (exit reason 15), after the CPL/CR4.PCE #GP (26.1.1).
        const RDPMC_EXITING = 1 << 11;
        /// Bit 12: RDTSC/RDTSCP exit.
        const RDTSC_EXITING = 1 << 12;
        /// Bit 15: MOV to CR3 exits unless the value is a CR3-target value.
        const CR3_LOAD_EXITING = 1 << 15;
        /// Bit 16: MOV from CR3 exits.
        const CR3_STORE_EXITING = 1 << 16;
        /// Bit 19: MOV to CR8 exits.
        const CR8_LOAD_EXITING = 1 << 19;
        /// Bit 20: MOV from CR8 exits.
        const CR8_STORE_EXITING = 1 << 20;
        /// Bit 21: use TPR shadow (MOV to/from CR8 use VTPR on the virtual-APIC page, TPR
        /// virtualization with exit reason 43; SDM 30.1.1, 30.1.2, 30.3).
        const USE_TPR_SHADOW = 1 << 21;
        /// Bit 22: NMI-window exiting (exit reason 8 when there is no virtual-NMI blocking;
        /// requires "virtual NMIs").
        const NMI_WINDOW_EXITING = 1 << 22;
        /// Bit 23: MOV DR exits.
        const MOV_DR_EXITING = 1 << 23;
        /// Bit 24: every I/O instruction exits (ignored with "use I/O bitmaps").
        const UNCONDITIONAL_IO_EXITING = 1 << 24;
        /// Bit 25: the I/O bitmaps decide which ports exit.
        const USE_IO_BITMAPS = 1 << 25;
        /// Bit 27: monitor trap flag (exit reason 37 at the boundary after each instruction or
        /// event delivery).
        const MONITOR_TRAP_FLAG = 1 << 27;
        /// Bit 28: the MSR bitmaps decide which RDMSR/WRMSR exit.
        const USE_MSR_BITMAPS = 1 << 28;
        /// Bit 29: MONITOR exits (exit reason 39).
        const MONITOR_EXITING = 1 << 29;
        /// Bit 30: PAUSE exits (exit reason 40).
        const PAUSE_EXITING = 1 << 30;
        /// Bit 31: the secondary controls are used.
        const ACTIVATE_SECONDARY_CONTROLS = 1 << 31;
    }
}

bitflags! {
    /// Secondary processor-based VM-execution controls (SDM 25.6.2).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ProcCtls2: u32 {
        /// Bit 0: virtualize APIC accesses (not offered).
        const VIRTUALIZE_APIC_ACCESSES = 1 << 0;
        /// Bit 1: enable EPT.
        const ENABLE_EPT = 1 << 1;
        /// Bit 2: descriptor-table exiting (LGDT/LIDT/SGDT/SIDT exit with reason 46,
        /// LLDT/LTR/SLDT/STR with reason 47).
        const DESCRIPTOR_TABLE_EXITING = 1 << 2;
        /// Bit 3: enable RDTSCP (else RDTSCP and RDPID are #UD in the guest).
        const ENABLE_RDTSCP = 1 << 3;
        /// Bit 5: enable VPID.
        const ENABLE_VPID = 1 << 5;
        /// Bit 6: WBINVD exits (exit reason 54).
        const WBINVD_EXITING = 1 << 6;
        /// Bit 7: unrestricted guest (CR0.PE/PG may be 0; requires EPT).
        const UNRESTRICTED_GUEST = 1 << 7;
        /// Bit 10: PAUSE-loop exiting (at CPL 0, a PAUSE more than PLE_Window TSC ticks after
        /// the first PAUSE of a loop exits with reason 40; 26.1.3).
        const PAUSE_LOOP_EXITING = 1 << 10;
        /// Bit 11: RDRAND exits (exit reason 57).
        const RDRAND_EXITING = 1 << 11;
        /// Bit 12: enable INVPCID (else INVPCID is #UD in the guest; with "INVLPG exiting" it
        /// exits with reason 58).
        const ENABLE_INVPCID = 1 << 12;
        /// Bit 13: enable VM functions (VMFUNC; else #UD).
        const ENABLE_VMFUNC = 1 << 13;
        /// Bit 16: RDSEED exits (exit reason 61).
        const RDSEED_EXITING = 1 << 16;
    }
}

bitflags! {
    /// Primary VM-exit controls (SDM 25.7.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ExitCtls: u32 {
        /// Bit 2: save DR7 and IA32_DEBUGCTL.
        const SAVE_DEBUG_CONTROLS = 1 << 2;
        /// Bit 9: the host is in 64-bit mode after the exit.
        const HOST_ADDRESS_SPACE_SIZE = 1 << 9;
        /// Bit 15: acknowledge the interrupt controller on an external-interrupt exit.
        const ACK_INTERRUPT_ON_EXIT = 1 << 15;
        /// Bit 18: save IA32_PAT.
        const SAVE_PAT = 1 << 18;
        /// Bit 19: load IA32_PAT.
        const LOAD_PAT = 1 << 19;
        /// Bit 20: save IA32_EFER.
        const SAVE_EFER = 1 << 20;
        /// Bit 21: load IA32_EFER.
        const LOAD_EFER = 1 << 21;
        /// Bit 22: save the VMX-preemption timer value.
        const SAVE_PREEMPTION_TIMER = 1 << 22;
    }
}

bitflags! {
    /// VM-entry controls (SDM 25.8.1).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EntryCtls: u32 {
        /// Bit 2: load DR7 and IA32_DEBUGCTL.
        const LOAD_DEBUG_CONTROLS = 1 << 2;
        /// Bit 9: the guest is in IA-32e mode after entry.
        const IA32E_MODE_GUEST = 1 << 9;
        /// Bit 10: entry to SMM (not offered).
        const ENTRY_TO_SMM = 1 << 10;
        /// Bit 14: load IA32_PAT.
        const LOAD_PAT = 1 << 14;
        /// Bit 15: load IA32_EFER.
        const LOAD_EFER = 1 << 15;
    }
}

/// VM-entry interruption-information / VM-exit interruption-information / IDT-vectoring
/// information format (SDM 25.8.3 and 25.9.2).
pub mod intr {
    /// Bits 7:0: vector.
    pub const VECTOR: u32 = 0xff;
    /// Bits 10:8: interruption type.
    pub const TYPE_SHIFT: u32 = 8;
    /// Bit 11: deliver (or delivered) an error code.
    pub const ERROR_CODE: u32 = 1 << 11;
    /// Bit 12 (exit information): NMI unblocking due to IRET.
    pub const NMI_UNBLOCKING: u32 = 1 << 12;
    /// Bit 31: valid.
    pub const VALID: u32 = 1 << 31;
    /// Type 0: external interrupt.
    pub const EXTERNAL: u32 = 0;
    /// Type 2: NMI.
    pub const NMI: u32 = 2;
    /// Type 3: hardware exception.
    pub const HARDWARE_EXCEPTION: u32 = 3;
    /// Type 4: software interrupt.
    pub const SOFTWARE_INTERRUPT: u32 = 4;
    /// Type 5: privileged software exception.
    pub const PRIVILEGED_SOFTWARE_EXCEPTION: u32 = 5;
    /// Type 6: software exception.
    pub const SOFTWARE_EXCEPTION: u32 = 6;
    /// Type 7: other event.
    pub const OTHER: u32 = 7;
}

/// Guest interruptibility-state bits (SDM 25.4.2, table "Format of Interruptibility State").
pub mod interruptibility {
    /// Bit 0: blocking by STI.
    pub const STI: u32 = 1 << 0;
    /// Bit 1: blocking by MOV SS.
    pub const MOV_SS: u32 = 1 << 1;
    /// Bit 2: blocking by SMI.
    pub const SMI: u32 = 1 << 2;
    /// Bit 3: blocking by NMI.
    pub const NMI: u32 = 1 << 3;
    /// Bit 4: enclave interruption.
    pub const ENCLAVE: u32 = 1 << 4;
}
