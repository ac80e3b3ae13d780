//! Shared cases (see [`super::cases`]): one program per VM-entry check of SDM Vol. 3C 27.2
//! and 27.3.1, each breaking exactly that check in the valid VMCS of
//! [`super::layout::valid_vmcs`] (64-bit guest, EPT, "host address-space size" = 1).
//!
//! Outcomes (SDM): a control-field check (27.2.1.1 execution, 27.2.1.2 exit, 27.2.1.3 entry
//! controls) fails with VMfailValid(7) "VM entry with invalid control field(s)", a host-state
//! check (27.2.2 control registers and MSRs, 27.2.3 segment and descriptor-table registers,
//! 27.2.4 address-space size) with VMfailValid(8) "VM entry with invalid host-state
//! field(s)" (31.4 VM-instruction error numbers); a guest-state check (27.3.1.1 control
//! registers/MSRs, 27.3.1.2 segments, 27.3.1.3 descriptor tables, 27.3.1.4 RIP/RFLAGS,
//! 27.3.1.5 non-register state, 27.3.1.6 PDPTEs) is a VM-entry failure: exit reason 33 with
//! bit 31, qualification 0, or 2 for the PDPTEs (27.8 "VM-Entry Failures During or After
//! Loading Guest State").
//!
//! Each case's `why` is a piece of the explanation of the hvbench check it aims at (whose
//! stable identifier its name and doc give), so a case failing a different check than the one
//! it breaks shows up in the sandbox run.
//!
//! Checks hvbench has that no program here can reach: `host.addr_size.outside_ia32e`,
//! `host.addr_size.guest`, `host.cr4.pcide`, `host.rip.high` (all need a host outside IA-32e
//! mode or "host address-space size" = 0, which the 64-bit host cannot have: 27.2.4; the
//! sandbox-only `host32.rs` reaches the first, third and fourth from a 32-bit host, and shows
//! that `host.addr_size.guest` is never the first to fail: outside IA-32e mode the
//! `outside_ia32e` check rejects "IA-32e mode guest" = 1 before it, inside it "host
//! address-space size" must be 1),
//! `ctl.entry.smm` (the default profile does not allow "entry to SMM", so the allowed-1 check
//! rejects it first; the outcome is the same VMfailValid(7)), and the EPTP A/D check without
//! the A/D capability (the default profile has it).

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

/// Non-canonical for 48- and 57-bit linear addresses.
const NONCANON: u64 = 1 << 62;
/// Beyond any MAXPHYADDR (at most 52).
const BEYOND: u64 = 1 << 52;

/// Secondary controls.
const ENABLE_EPT: u64 = 1 << 1;
const UNRESTRICTED: u64 = 1 << 7;
/// Exit controls.
const HOST_64: u64 = 1 << 9;
const EXIT_LOAD_PAT: u64 = 1 << 19;
const EXIT_LOAD_EFER: u64 = 1 << 21;
/// Entry controls.
const LOAD_DEBUG: u64 = 1 << 2;
const IA32E_GUEST: u64 = 1 << 9;
const ENTRY_LOAD_PAT: u64 = 1 << 14;
const ENTRY_LOAD_EFER: u64 = 1 << 15;
/// IA32_EFER: SCE, LME, LMA, NXE.
const EFER_64: u64 = 0xd01;
/// A PAT with entry 0 = 2 (reserved memory type).
const BAD_PAT: u64 = 0x0007_0406_0007_0402;

fn clear(f: &mut Vec<(u32, u64)>, field: u32, bits: u64) {
    let v = get(f, field);
    set(f, field, v & !bits);
}

/// A 32-bit PAE guest (not IA-32e mode): CS 32-bit code, CR0.PG = CR4.PAE = 1.
fn pae_guest(f: &mut Vec<(u32, u64)>) {
    clear(f, enc::ENTRY_CONTROLS, IA32E_GUEST);
    set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b);
}

/// The cases of this file.
pub static CASES: &[Case] = &[
    // ---- 27.2.1.1 VM-execution control fields: VMfailValid(7) ----
    ctl("entry_ctl_proc_allowed0", "IA32_VMX_TRUE_PROCBASED_CTLS", "ctl.proc.allowed: primary processor-based control bit 1 (reserved, allowed-0 setting 1) cleared (27.2.1.1, A.3.2): VMfailValid(7)", |f| clear(f, enc::PROC_BASED_CONTROLS, 1 << 1)),
    ctl("entry_ctl_pin_allowed0", "IA32_VMX_TRUE_PINBASED_CTLS", "ctl.pin.allowed: pin-based control bit 1 (reserved, allowed-0 setting 1) cleared (27.2.1.1, A.3.1): VMfailValid(7)", |f| clear(f, enc::PIN_BASED_CONTROLS, 1 << 1)),
    ctl("entry_ctl_proc2_allowed1", "IA32_VMX_PROCBASED_CTLS2", "ctl.proc2.allowed: secondary control bit 27 (\"enable PCONFIG\", allowed-1 setting 0 in both models) set (27.2.1.1, A.3.3): VMfailValid(7)", |f| or(f, enc::SECONDARY_PROC_BASED_CONTROLS, 1 << 27)),
    ctl("entry_ctl_cr3_target_count", "CR3-target count", "ctl.cr3_target_count: CR3-target count 5 > 4 (IA32_VMX_MISC bits 24:16 = 4 in both models) (27.2.1.1): VMfailValid(7)", |f| set(f, enc::CR3_TARGET_COUNT, 5)),
    ctl("entry_ctl_io_bitmap_unaligned", "I/O-bitmap addresses", "ctl.io_bitmap: \"use I/O bitmaps\" with I/O-bitmap A not 4-KByte aligned (27.2.1.1): VMfailValid(7)", |f| {
        proc_or(f, 1 << 25);
        set(f, enc::IO_BITMAP_A, IO_BITMAP_A + 0x800);
        set(f, enc::IO_BITMAP_B, IO_BITMAP_B);
    }),
    ctl("entry_ctl_io_bitmap_beyond_maxphyaddr", "I/O-bitmap addresses", "ctl.io_bitmap: \"use I/O bitmaps\" with I/O-bitmap B beyond MAXPHYADDR (27.2.1.1): VMfailValid(7)", |f| {
        proc_or(f, 1 << 25);
        set(f, enc::IO_BITMAP_A, IO_BITMAP_A);
        set(f, enc::IO_BITMAP_B, IO_BITMAP_B | BEYOND);
    }),
    ctl("entry_ctl_msr_bitmap_unaligned", "MSR-bitmap address", "ctl.msr_bitmap: \"use MSR bitmaps\" with the MSR-bitmap address not 4-KByte aligned (27.2.1.1): VMfailValid(7)", |f| {
        proc_or(f, 1 << 28);
        set(f, enc::MSR_BITMAP, MSR_BITMAP + 8);
    }),
    ctl("entry_ctl_msr_bitmap_beyond_maxphyaddr", "MSR-bitmap address", "ctl.msr_bitmap: \"use MSR bitmaps\" with the MSR-bitmap address beyond MAXPHYADDR (27.2.1.1): VMfailValid(7)", |f| {
        proc_or(f, 1 << 28);
        set(f, enc::MSR_BITMAP, MSR_BITMAP | BEYOND);
    }),
    ctl("entry_ctl_eptp_memory_type", "valid EPTP", "ctl.eptp: EPTP memory type 1 (WC; only UC and WB are allowed, IA32_VMX_EPT_VPID_CAP bits 8/14) (27.2.1.1): VMfailValid(7)", |f| set(f, enc::EPT_POINTER, EPTP & !7 | 1)),
    ctl("entry_ctl_eptp_walk_length", "valid EPTP", "ctl.eptp: EPTP page-walk length 2 (bits 5:3 = 1; only 4, or 5 with bit 7 of the capability) (27.2.1.1): VMfailValid(7)", |f| set(f, enc::EPT_POINTER, EPTP & !0x38 | 1 << 3)),
    ctl("entry_ctl_eptp_reserved_11_8", "valid EPTP", "ctl.eptp: EPTP reserved bit 11 set (bits 11:8 reserved) (27.2.1.1): VMfailValid(7)", |f| set(f, enc::EPT_POINTER, EPTP | 1 << 11)),
    ctl("entry_ctl_eptp_beyond_maxphyaddr", "valid EPTP", "ctl.eptp: EPTP bit 52 (beyond MAXPHYADDR) set (27.2.1.1): VMfailValid(7)", |f| set(f, enc::EPT_POINTER, EPTP | BEYOND)),
    ctl("entry_ctl_unrestricted_without_ept", "\"unrestricted guest\"=1 requires \"enable EPT\"=1", "ctl.unrestricted_without_ept: \"unrestricted guest\" = 1 with \"enable EPT\" = 0 (27.2.1.1): VMfailValid(7)", |f| set(f, enc::SECONDARY_PROC_BASED_CONTROLS, UNRESTRICTED)),
    // ---- 27.2.1.2 VM-exit control fields ----
    ctl("entry_ctl_exit_allowed0", "IA32_VMX_TRUE_EXIT_CTLS", "ctl.exit.allowed: VM-exit control bit 0 (reserved, allowed-0 setting 1) cleared (27.2.1.2, A.4): VMfailValid(7)", |f| clear(f, enc::EXIT_CONTROLS, 1)),
    ctl("entry_ctl_exit_msr_store_unaligned", "MSR-store/load count", "ctl.exit.msr_area: VM-exit MSR-store count 1 with the address not 16-byte aligned (27.2.1.2): VMfailValid(7)", |f| {
        set(f, enc::EXIT_MSR_STORE_COUNT, 1);
        set(f, enc::EXIT_MSR_STORE_ADDR, SCRATCH + 0x108);
    }),
    ctl("entry_ctl_exit_msr_load_beyond_maxphyaddr", "MSR-store/load count", "ctl.exit.msr_area: VM-exit MSR-load count 1 with the address beyond MAXPHYADDR (27.2.1.2): VMfailValid(7)", |f| {
        set(f, enc::EXIT_MSR_LOAD_COUNT, 1);
        set(f, enc::EXIT_MSR_LOAD_ADDR, SCRATCH + 0x100 | BEYOND);
    }),
    // ---- 27.2.1.3 VM-entry control fields ----
    ctl("entry_ctl_entry_allowed0", "IA32_VMX_TRUE_ENTRY_CTLS", "ctl.entry.allowed: VM-entry control bit 0 (reserved, allowed-0 setting 1) cleared (27.2.1.3, A.5): VMfailValid(7)", |f| clear(f, enc::ENTRY_CONTROLS, 1)),
    ctl("entry_ctl_entry_to_smm", "IA32_VMX_TRUE_ENTRY_CTLS", "ctl.entry.smm (and allowed-1): \"entry to SMM\" = 1 outside SMM (27.2.1.3): VMfailValid(7)", |f| or(f, enc::ENTRY_CONTROLS, 1 << 10)),
    ctl("entry_ctl_intr_type_1", "type 1 is reserved", "ctl.entry.intr_type: injection with interruption type 1 (reserved) (27.2.1.3): VMfailValid(7)", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0100 | 0x20)),
    ctl("entry_ctl_intr_other_event_vector", "other event requires vector 0", "ctl.entry.other_vector: injection of type 7 (other event) with vector 1: the vector must be 0 (27.2.1.3): VMfailValid(7)", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0701)),
    ctl("entry_ctl_nmi_vector", "NMI requires vector 2", "ctl.entry.nmi_vector: injection of type 2 (NMI) with vector 3 (27.2.1.3): VMfailValid(7)", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0203)),
    ctl("entry_ctl_error_code_for_ud", "deliver-error-code", "ctl.entry.deliver_error_code: injection of #UD (vector 6) with deliver-error-code = 1 (27.2.1.3): VMfailValid(7)", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b06)),
    ctl("entry_ctl_no_error_code_for_gp", "deliver-error-code", "ctl.entry.deliver_error_code: injection of #GP (vector 13) into a protected-mode guest with deliver-error-code = 0 (27.2.1.3): VMfailValid(7)", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_030d)),
    ctl("entry_ctl_error_code_for_external", "deliver-error-code", "ctl.entry.deliver_error_code: injection of an external interrupt with deliver-error-code = 1 (27.2.1.3): VMfailValid(7)", |f| {
        set(f, enc::GUEST_RFLAGS, 0x202);
        set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0820);
    }),
    ctl("entry_ctl_intr_info_reserved", "bits 30:12", "ctl.entry.intr_reserved: injection of #UD with interruption-information bit 12 set (bits 30:12 reserved) (27.2.1.3): VMfailValid(7)", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_1306)),
    ctl("entry_ctl_error_code_high_bits", "error code bits 31:16", "ctl.entry.error_code: injection of #GP with error code 0x10000 (bits 31:16 must be 0) (27.2.1.3): VMfailValid(7)", |f| {
        set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b0d);
        set(f, enc::ENTRY_EXCEPTION_ERROR_CODE, 0x1_0000);
    }),
    ctl("entry_ctl_instruction_length_16", "instruction length", "ctl.entry.instruction_length: injection of INT 0x80 (type 4) with VM-entry instruction length 16 (must be 0-15) (27.2.1.3): VMfailValid(7)", |f| {
        set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0480);
        set(f, enc::ENTRY_INSTRUCTION_LENGTH, 16);
    }),
    Case {
        bochs: Some("the outcome depends on IA32_VMX_MISC bit 30 (injection with instruction length 0 allowed), which hvbench's profile leaves 0; Bochs 2.7 enters, as its model would with bit 30 = 1"),
        ..ctl("entry_ctl_instruction_length_0", "instruction length", "ctl.entry.instruction_length: injection of INT3 (type 6) with VM-entry instruction length 0, allowed only if IA32_VMX_MISC bit 30 is 1 (hvbench's default profile leaves it 0) (27.2.1.3, A.6): VMfailValid(7)", |f| {
            set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0603);
            set(f, enc::ENTRY_INSTRUCTION_LENGTH, 0);
        })
    },
    ctl("entry_ctl_entry_msr_load_unaligned", "VM-entry MSR-load count", "ctl.entry.msr_area: VM-entry MSR-load count 1 with the address not 16-byte aligned (27.2.1.3): VMfailValid(7)", |f| {
        set(f, enc::ENTRY_MSR_LOAD_COUNT, 1);
        set(f, enc::ENTRY_MSR_LOAD_ADDR, SCRATCH + 0x104);
    }),
    ctl("entry_ctl_entry_msr_load_beyond_maxphyaddr", "VM-entry MSR-load count", "ctl.entry.msr_area: VM-entry MSR-load count 1 with the address beyond MAXPHYADDR (27.2.1.3): VMfailValid(7)", |f| {
        set(f, enc::ENTRY_MSR_LOAD_COUNT, 1);
        set(f, enc::ENTRY_MSR_LOAD_ADDR, SCRATCH + 0x100 | BEYOND);
    }),
    Case {
        ..case(
            "entry_inject_mtf_pending",
            "Injection of type 7 (other event) vector 0 where \"monitor trap flag\" is supported (both models offer it): not reserved (27.2.1.3: type 7 is reserved only without MTF support), so VM entry succeeds with an MTF VM exit pending before the first guest instruction (27.7.2 / 26.5.2): reason 37, RIP = the guest's first instruction",
            launch(|f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0700), hlt),
            exit(reason::MONITOR_TRAP_FLAG),
            &[fld(enc::GUEST_RIP, GUEST_RIP)],
        )
    },
    // ---- 27.2.2 host control registers and MSRs: VMfailValid(8) ----
    host("entry_host_cr0_ne", "host CR0", "host.cr0.fixed: host CR0.NE = 0 (IA32_VMX_CR0_FIXED0) (27.2.2): VMfailValid(8)", |f| set(f, enc::HOST_CR0, 0x8001_0011)),
    host("entry_host_cr0_pg", "host CR0", "host.cr0.fixed: host CR0.PG = 0 (IA32_VMX_CR0_FIXED0) (27.2.2): VMfailValid(8)", |f| set(f, enc::HOST_CR0, 0x0001_0031)),
    host("entry_host_cr3_beyond_maxphyaddr", "host CR3", "host.cr3.width: host CR3 bit 52 set (beyond MAXPHYADDR) (27.2.2): VMfailValid(8)", |f| set(f, enc::HOST_CR3, 0x10000 | BEYOND)),
    host("entry_host_sysenter_esp", "SYSENTER", "host.sysenter.canonical: host IA32_SYSENTER_ESP non-canonical (27.2.2): VMfailValid(8)", |f| set(f, enc::HOST_SYSENTER_ESP, NONCANON)),
    host("entry_host_sysenter_eip", "SYSENTER", "host.sysenter.canonical: host IA32_SYSENTER_EIP non-canonical (27.2.2): VMfailValid(8)", |f| set(f, enc::HOST_SYSENTER_EIP, NONCANON)),
    host("entry_host_pat", "host PAT entry", "host.pat: \"load IA32_PAT\" with host PAT entry 0 = 2 (reserved type) (27.2.2): VMfailValid(8)", |f| {
        or(f, enc::EXIT_CONTROLS, EXIT_LOAD_PAT);
        set(f, enc::HOST_PAT, BAD_PAT);
    }),
    host("entry_host_efer_reserved", "host IA32_EFER reserved", "host.efer.reserved: \"load IA32_EFER\" with host IA32_EFER bit 1 (reserved) set (27.2.2): VMfailValid(8)", |f| {
        or(f, enc::EXIT_CONTROLS, EXIT_LOAD_EFER);
        set(f, enc::HOST_EFER, EFER_64 | 2);
    }),
    host("entry_host_efer_lma", "host IA32_EFER.LMA", "host.efer.lma: \"load IA32_EFER\" with host IA32_EFER.LMA = 0 and \"host address-space size\" = 1 (27.2.2): VMfailValid(8)", |f| {
        or(f, enc::EXIT_CONTROLS, EXIT_LOAD_EFER);
        set(f, enc::HOST_EFER, EFER_64 & !0x400);
    }),
    host("entry_host_efer_lme", "host IA32_EFER.LMA", "host.efer.lma: \"load IA32_EFER\" with host IA32_EFER.LME = 0 and \"host address-space size\" = 1 (27.2.2): VMfailValid(8)", |f| {
        or(f, enc::EXIT_CONTROLS, EXIT_LOAD_EFER);
        set(f, enc::HOST_EFER, EFER_64 & !0x100);
    }),
    // ---- 27.2.3 host segment and descriptor-table registers ----
    host("entry_host_selector_rpl", "RPL = 0 and TI = 0", "host.selector.rpl_ti: host DS selector with RPL 3 (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_DS_SELECTOR, 0x13)),
    host("entry_host_selector_ti", "RPL = 0 and TI = 0", "host.selector.rpl_ti: host TR selector with TI = 1 (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_TR_SELECTOR, 0x44)),
    host("entry_host_tr_null", "host TR selector must not be 0000H", "host.tr.null: host TR selector 0 (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_TR_SELECTOR, 0)),
    host("entry_host_ss_null_32bit_host", "SS selector", "host.ss.null / host.addr_size.ia32e: host SS selector 0 with \"host address-space size\" = 0 (27.2.3; in IA-32e mode that control must also be 1, 27.2.4): VMfailValid(8)", |f| {
        set(f, enc::HOST_SS_SELECTOR, 0);
        clear(f, enc::EXIT_CONTROLS, HOST_64);
        clear(f, enc::ENTRY_CONTROLS, IA32E_GUEST);
    }),
    case("entry_host_ss_null_64bit_host", "host.ss.null does not apply with \"host address-space size\" = 1: host SS selector 0 is allowed (27.2.3); the guest's HLT exits (reason 12)", launch(|f| set(f, enc::HOST_SS_SELECTOR, 0), hlt), exit(reason::HLT), &[]),
    host("entry_host_fs_base", "base addresses must be canonical", "host.base.canonical: host FS base non-canonical (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_FS_BASE, NONCANON)),
    host("entry_host_gs_base", "base addresses must be canonical", "host.base.canonical: host GS base non-canonical (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_GS_BASE, NONCANON)),
    host("entry_host_gdtr_base", "base addresses must be canonical", "host.base.canonical: host GDTR base non-canonical (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_GDTR_BASE, NONCANON)),
    host("entry_host_idtr_base", "base addresses must be canonical", "host.base.canonical: host IDTR base non-canonical (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_IDTR_BASE, NONCANON)),
    host("entry_host_tr_base", "base addresses must be canonical", "host.base.canonical: host TR base non-canonical (27.2.3): VMfailValid(8)", |f| set(f, enc::HOST_TR_BASE, NONCANON)),
    // ---- 27.2.4 address-space size ----
    host("entry_host_address_space_size_0", "in IA-32e mode", "host.addr_size.ia32e: \"host address-space size\" = 0 while in IA-32e mode (guest not IA-32e either) (27.2.4): VMfailValid(8)", |f| {
        clear(f, enc::EXIT_CONTROLS, HOST_64);
        clear(f, enc::ENTRY_CONTROLS, IA32E_GUEST);
    }),
    host("entry_host_cr4_pae", "host CR4.PAE", "host.cr4.pae: \"host address-space size\" = 1 with host CR4.PAE = 0 (27.2.4): VMfailValid(8)", |f| set(f, enc::HOST_CR4, 0x2600)),
    host("entry_host_rip_canonical", "canonical host RIP", "host.rip.canonical: \"host address-space size\" = 1 with a non-canonical host RIP (27.2.4): VMfailValid(8)", |f| set(f, enc::HOST_RIP, NONCANON)),
    // ---- 27.3.1.1 guest control registers, debug registers, MSRs: reason 33 ----
    guest("entry_guest_cr0_ne", "guest CR0 must respect", "guest.cr0.fixed: guest CR0.NE = 0 (27.3.1.1): reason 33, qualification 0", |f| set(f, enc::GUEST_CR0, 0x8001_0011)),
    guest("entry_guest_cr0_pe_without_unrestricted", "guest CR0 must respect", "guest.cr0.fixed: guest CR0.PE = 0 without \"unrestricted guest\" (27.3.1.1): reason 33", |f| set(f, enc::GUEST_CR0, 0x8001_0030)),
    guest("entry_guest_cr0_pg_without_pe", "CR0.PG=1 requires CR0.PE=1", "guest.cr0.pg_without_pe: guest CR0.PG = 1, PE = 0 with \"unrestricted guest\" (27.3.1.1): reason 33", |f| {
        or(f, enc::SECONDARY_PROC_BASED_CONTROLS, UNRESTRICTED);
        set(f, enc::GUEST_CR0, 0x8001_0030);
    }),
    guest("entry_guest_cr4_vmxe", "guest CR4 must respect", "guest.cr4.fixed: guest CR4.VMXE = 0 (27.3.1.1): reason 33", |f| set(f, enc::GUEST_CR4, 0x620)),
    guest("entry_guest_debugctl_reserved", "IA32_DEBUGCTL", "guest.debugctl: \"load debug controls\" with guest IA32_DEBUGCTL bit 2 (reserved) set (27.3.1.1): reason 33", |f| {
        or(f, enc::ENTRY_CONTROLS, LOAD_DEBUG);
        set(f, enc::GUEST_DEBUGCTL, 1 << 2);
    }),
    guest("entry_guest_dr7_high", "DR7 bits 63:32", "guest.dr7: \"load debug controls\" with guest DR7 bit 32 set (27.3.1.1): reason 33", |f| {
        or(f, enc::ENTRY_CONTROLS, LOAD_DEBUG);
        set(f, enc::GUEST_DR7, 0x400 | 1 << 32);
    }),
    guest("entry_guest_ia32e_without_pae", "CR0.PG=1 and CR4.PAE=1", "guest.ia32e.paging: \"IA-32e mode guest\" with guest CR4.PAE = 0 (27.3.1.1): reason 33", |f| set(f, enc::GUEST_CR4, 0x2600)),
    guest("entry_guest_ia32e_without_pg", "CR0.PG=1 and CR4.PAE=1", "guest.ia32e.paging: \"IA-32e mode guest\" with guest CR0.PG = 0 (\"unrestricted guest\", so the fixed bits allow it) (27.3.1.1): reason 33", |f| {
        or(f, enc::SECONDARY_PROC_BASED_CONTROLS, UNRESTRICTED);
        set(f, enc::GUEST_CR0, 0x0001_0031);
    }),
    guest("entry_guest_pcide_outside_ia32e", "PCIDE", "guest.cr4.pcide: guest CR4.PCIDE = 1 with \"IA-32e mode guest\" = 0 (27.3.1.1): reason 33", |f| {
        pae_guest(f);
        set(f, enc::GUEST_CR4, 0x2620 | 1 << 17);
    }),
    guest("entry_guest_cr3_beyond_maxphyaddr", "guest CR3", "guest.cr3.width: guest CR3 bit 52 set (27.3.1.1): reason 33", |f| set(f, enc::GUEST_CR3, 0x10000 | BEYOND)),
    guest("entry_guest_sysenter_esp", "SYSENTER", "guest.sysenter.canonical: guest IA32_SYSENTER_ESP non-canonical (27.3.1.1): reason 33", |f| set(f, enc::GUEST_SYSENTER_ESP, NONCANON)),
    guest("entry_guest_sysenter_eip", "SYSENTER", "guest.sysenter.canonical: guest IA32_SYSENTER_EIP non-canonical (27.3.1.1): reason 33", |f| set(f, enc::GUEST_SYSENTER_EIP, NONCANON)),
    guest("entry_guest_pat", "guest PAT entry", "guest.pat: \"load IA32_PAT\" with guest PAT entry 0 = 2 (27.3.1.1): reason 33", |f| {
        or(f, enc::ENTRY_CONTROLS, ENTRY_LOAD_PAT);
        set(f, enc::GUEST_PAT, BAD_PAT);
    }),
    guest("entry_guest_efer_reserved", "guest IA32_EFER reserved", "guest.efer.reserved: \"load IA32_EFER\" with guest IA32_EFER bit 1 set (27.3.1.1): reason 33", |f| {
        or(f, enc::ENTRY_CONTROLS, ENTRY_LOAD_EFER);
        set(f, enc::GUEST_EFER, EFER_64 | 2);
    }),
    guest("entry_guest_efer_lma", "guest IA32_EFER.LMA", "guest.efer.lma: \"load IA32_EFER\" with guest IA32_EFER.LMA = 0 and \"IA-32e mode guest\" = 1 (27.3.1.1): reason 33", |f| {
        or(f, enc::ENTRY_CONTROLS, ENTRY_LOAD_EFER);
        set(f, enc::GUEST_EFER, EFER_64 & !0x400);
    }),
    guest("entry_guest_efer_lme", "guest IA32_EFER.LMA", "guest.efer.lma: \"load IA32_EFER\" with guest CR0.PG = 1 and IA32_EFER.LME = 0 while \"IA-32e mode guest\" = 1 (27.3.1.1): reason 33", |f| {
        or(f, enc::ENTRY_CONTROLS, ENTRY_LOAD_EFER);
        set(f, enc::GUEST_EFER, EFER_64 & !0x100);
    }),
    // ---- 27.3.1.2 guest segment registers ----
    guest("entry_guest_tr_ti", "TR selector TI", "guest.tr.ti: guest TR selector TI = 1 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_SELECTOR, 0x44)),
    guest("entry_guest_ldtr_ti", "LDTR needs selector TI", "guest.ldtr.ti: usable guest LDTR (present LDT) with selector TI = 1 (27.3.1.2): reason 33", |f| {
        set(f, enc::GUEST_LDTR_SELECTOR, 0x54);
        set(f, enc::GUEST_LDTR_LIMIT, 0xffff);
        set(f, enc::GUEST_LDTR_ACCESS_RIGHTS, 0x82);
    }),
    guest("entry_guest_ss_rpl", "SS.RPL must equal CS.RPL", "guest.ss.rpl: guest SS selector RPL 3, CS RPL 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_SS_SELECTOR, 0x13)),
    guest("entry_guest_tr_base", "base addresses must be canonical", "guest.base.canonical: guest TR base non-canonical (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_BASE, NONCANON)),
    guest("entry_guest_fs_base", "base addresses must be canonical", "guest.base.canonical: guest FS base non-canonical (27.3.1.2): reason 33", |f| set(f, enc::GUEST_FS_BASE, NONCANON)),
    guest("entry_guest_gs_base", "base addresses must be canonical", "guest.base.canonical: guest GS base non-canonical (27.3.1.2): reason 33", |f| set(f, enc::GUEST_GS_BASE, NONCANON)),
    guest("entry_guest_ldtr_base", "base addresses must be canonical", "guest.base.canonical: usable guest LDTR with a non-canonical base (27.3.1.2): reason 33", |f| {
        set(f, enc::GUEST_LDTR_SELECTOR, 0x50);
        set(f, enc::GUEST_LDTR_LIMIT, 0xffff);
        set(f, enc::GUEST_LDTR_ACCESS_RIGHTS, 0x82);
        set(f, enc::GUEST_LDTR_BASE, NONCANON);
    }),
    guest("entry_guest_cs_base_high", "base bits 63:32", "guest.base.high: guest CS base bit 32 set (27.3.1.2): reason 33", |f| set(f, enc::GUEST_CS_BASE, 1 << 32)),
    guest("entry_guest_ds_base_high", "base bits 63:32", "guest.base.high: usable guest DS base bit 32 set (27.3.1.2): reason 33", |f| set(f, enc::GUEST_DS_BASE, 1 << 32)),
    guest("entry_guest_ar_reserved_11_8", "bits 11:8 and 31:17", "guest.ar.reserved: guest DS access rights bit 8 set (27.3.1.2): reason 33", |f| set(f, enc::GUEST_DS_ACCESS_RIGHTS, 0xc193)),
    guest("entry_guest_ar_reserved_31_17", "bits 11:8 and 31:17", "guest.ar.reserved: guest ES access rights bit 17 set (27.3.1.2): reason 33", |f| set(f, enc::GUEST_ES_ACCESS_RIGHTS, 0x2_c093)),
    guest("entry_guest_limit_g1", "G flag", "guest.ar.granularity: guest DS limit FFFFF000H (bits 11:0 not all 1) with G = 1 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_DS_LIMIT, 0xffff_f000)),
    guest("entry_guest_limit_g0", "G flag", "guest.ar.granularity: guest SS limit 100000H (bit 20 set) with G = 0 (27.3.1.2): reason 33", |f| {
        set(f, enc::GUEST_SS_LIMIT, 0x10_0000);
        set(f, enc::GUEST_SS_ACCESS_RIGHTS, 0x4093);
    }),
    guest("entry_guest_tr_limit_g", "G flag", "guest.ar.granularity: guest TR limit 100067H (bit 20 set) with G = 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_LIMIT, 0x10_0067)),
    guest("entry_guest_ds_s0", "S=1 and P=1", "guest.ar.s_p: usable guest DS with S = 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_DS_ACCESS_RIGHTS, 0xc083)),
    guest("entry_guest_fs_not_present", "S=1 and P=1", "guest.ar.s_p: usable guest FS with P = 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_FS_ACCESS_RIGHTS, 0xc013)),
    guest("entry_guest_cs_type", "guest CS type must be", "guest.cs.type: guest CS type 10 (code, not accessed) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa09a)),
    guest("entry_guest_cs_type3_dpl", "CS type 3 requires DPL 0", "guest.cs.dpl3: \"unrestricted guest\", guest CS type 3 with DPL 3 (27.3.1.2): reason 33", |f| {
        or(f, enc::SECONDARY_PROC_BASED_CONTROLS, UNRESTRICTED);
        set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa0f3);
    }),
    guest("entry_guest_cs_dpl_nonconforming", "DPL = SS.DPL", "guest.cs.dpl: non-conforming guest CS (type 11) DPL 1, SS.DPL 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa0bb)),
    guest("entry_guest_cs_dpl_conforming", "DPL <= SS.DPL", "guest.cs.dpl_conforming: conforming guest CS (type 15) DPL 1 > SS.DPL 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa0bf)),
    guest("entry_guest_ss_type", "SS must have type 3 or 7", "guest.ss.type: usable guest SS of type 1 (read-only data) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_SS_ACCESS_RIGHTS, 0xc091)),
    guest("entry_guest_ss_dpl_rpl", "SS.DPL must equal SS.RPL", "guest.ss.dpl_rpl: guest SS and CS selectors with RPL 3, SS.DPL = CS.DPL = 0 (27.3.1.2): reason 33", |f| {
        set(f, enc::GUEST_SS_SELECTOR, 0x13);
        set(f, enc::GUEST_CS_SELECTOR, 0x0b);
    }),
    guest("entry_guest_ss_dpl0_cs_type3", "SS.DPL must be 0", "guest.ss.dpl0: \"unrestricted guest\", guest CS type 3 (DPL 0) with SS.DPL 3 (27.3.1.2): reason 33", |f| {
        or(f, enc::SECONDARY_PROC_BASED_CONTROLS, UNRESTRICTED);
        set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa093);
        set(f, enc::GUEST_SS_SELECTOR, 0x13);
        set(f, enc::GUEST_SS_ACCESS_RIGHTS, 0xc0f3);
    }),
    guest("entry_guest_ds_not_accessed", "must be accessed", "guest.data.type: usable guest DS of type 2 (not accessed) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_DS_ACCESS_RIGHTS, 0xc092)),
    guest("entry_guest_gs_execute_only", "must be accessed", "guest.data.type: usable guest GS of type 9 (execute-only code) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_GS_ACCESS_RIGHTS, 0xc099)),
    guest("entry_guest_ds_dpl_below_rpl", "DPL >= RPL", "guest.data.dpl: usable guest DS with RPL 3 and DPL 0 (data) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_DS_SELECTOR, 0x13)),
    guest("entry_guest_tr_available", "busy TSS", "guest.tr.type: guest TR type 9 (available TSS, not busy) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_ACCESS_RIGHTS, 0x89)),
    guest("entry_guest_tr_16bit_in_ia32e", "busy TSS", "guest.tr.type: guest TR type 3 (16-bit busy TSS) with \"IA-32e mode guest\" (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_ACCESS_RIGHTS, 0x83)),
    guest("entry_guest_tr_s1", "busy TSS", "guest.tr.type: guest TR with S = 1 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_ACCESS_RIGHTS, 0x9b)),
    guest("entry_guest_tr_not_present", "busy TSS", "guest.tr.type: guest TR with P = 0 (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_ACCESS_RIGHTS, 0x0b)),
    guest("entry_guest_tr_unusable", "busy TSS", "guest.tr.type: guest TR unusable (access rights bit 16) (27.3.1.2): reason 33", |f| set(f, enc::GUEST_TR_ACCESS_RIGHTS, 0x1_008b)),
    guest("entry_guest_ldtr_type", "present LDT (type 2)", "guest.ldtr.type: usable guest LDTR of type 3 (27.3.1.2): reason 33", |f| {
        set(f, enc::GUEST_LDTR_SELECTOR, 0x50);
        set(f, enc::GUEST_LDTR_LIMIT, 0xffff);
        set(f, enc::GUEST_LDTR_ACCESS_RIGHTS, 0x83);
    }),
    guest("entry_guest_ldtr_not_present", "present LDT (type 2)", "guest.ldtr.type: usable guest LDTR with P = 0 (27.3.1.2): reason 33", |f| {
        set(f, enc::GUEST_LDTR_SELECTOR, 0x50);
        set(f, enc::GUEST_LDTR_LIMIT, 0xffff);
        set(f, enc::GUEST_LDTR_ACCESS_RIGHTS, 0x02);
    }),
    // ---- 27.3.1.3 descriptor-table registers ----
    guest("entry_guest_gdtr_base", "GDTR and IDTR bases", "guest.gdtr_idtr.base: guest GDTR base non-canonical (27.3.1.3): reason 33", |f| set(f, enc::GUEST_GDTR_BASE, NONCANON)),
    guest("entry_guest_idtr_base", "GDTR and IDTR bases", "guest.gdtr_idtr.base: guest IDTR base non-canonical (27.3.1.3): reason 33", |f| set(f, enc::GUEST_IDTR_BASE, NONCANON)),
    guest("entry_guest_gdtr_limit", "limit bits 31:16", "guest.gdtr_idtr.limit: guest GDTR limit 10000H (27.3.1.3): reason 33", |f| set(f, enc::GUEST_GDTR_LIMIT, 0x1_0000)),
    guest("entry_guest_idtr_limit", "limit bits 31:16", "guest.gdtr_idtr.limit: guest IDTR limit 10000H (27.3.1.3): reason 33", |f| set(f, enc::GUEST_IDTR_LIMIT, 0x1_0000)),
    // ---- 27.3.1.4 RIP and RFLAGS ----
    guest("entry_guest_rip_high_compat", "RIP bits 63:32", "guest.rip.high: \"IA-32e mode guest\" with CS.L = 0 (compatibility mode) and RIP bit 32 set (27.3.1.4): reason 33", |f| {
        set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b);
        set(f, enc::GUEST_RIP, GUEST_RIP | 1 << 32);
    }),
    guest("entry_guest_rip_noncanonical", "canonical in 64-bit mode", "guest.rip.canonical: 64-bit guest with RIP bit 62 set (non-canonical for 48- and 57-bit linear addresses) (27.3.1.4): reason 33", |f| set(f, enc::GUEST_RIP, NONCANON)),
    guest("entry_guest_rflags_bit3", "RFLAGS", "guest.rflags.reserved: guest RFLAGS bit 3 set (27.3.1.4): reason 33", |f| set(f, enc::GUEST_RFLAGS, 0xa)),
    guest("entry_guest_rflags_bit22", "RFLAGS", "guest.rflags.reserved: guest RFLAGS bit 22 set (27.3.1.4): reason 33", |f| set(f, enc::GUEST_RFLAGS, 2 | 1 << 22)),
    guest("entry_guest_rflags_vm_ia32e", "RFLAGS.VM", "guest.rflags.vm: guest RFLAGS.VM = 1 with \"IA-32e mode guest\" (27.3.1.4): reason 33", |f| set(f, enc::GUEST_RFLAGS, 0x2_0002)),
    guest("entry_guest_rflags_if_injection", "RFLAGS.IF=1", "guest.rflags.if: injecting external interrupt 0x20 with guest RFLAGS.IF = 0 (27.3.1.4): reason 33", |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0020)),
    case(
        "entry_guest_virtual_8086_enters",
        "guest.rflags.vm (its converse): a virtual-8086 guest (CR0.PE = 1, \"IA-32e mode guest\" = 0, RFLAGS.VM = 1; \"unrestricted guest\" so CR0.PG may be 0) whose segments follow the virtual-8086 rules (base = selector << 4, limit FFFFH, access rights F3H) passes every check (27.3.1.2, 27.3.1.4 forbid VM = 1 only with IA-32e mode or CR0.PE = 0); its CPUID exits: reason 10, RIP 0, RFLAGS.VM = 1 and CS rights F3H saved (28.3)",
        Program::Launch { kind: GuestKind::Real, fields: virtual_8086, guest: Guest::Real(&[0x0f, 0xa2]), at_exit: None },
        exit(reason::CPUID),
        &[fld(enc::GUEST_RIP, 0), fld(enc::GUEST_RFLAGS, 0x2_0002), fld(enc::GUEST_CS_ACCESS_RIGHTS, 0xf3)],
    ),
    // ---- 27.3.1.5 non-register state ----
    guest("entry_guest_activity_4", "activity state must be 0-3", "guest.activity.supported: guest activity state 4 (27.3.1.5): reason 33", |f| set(f, enc::GUEST_ACTIVITY_STATE, 4)),
    guest("entry_guest_hlt_ss_dpl3", "HLT requires SS.DPL=0", "guest.activity.hlt_dpl: activity state HLT with SS.DPL = 3 (CS and SS at RPL/DPL 3) (27.3.1.5): reason 33", |f| {
        set(f, enc::GUEST_ACTIVITY_STATE, 1);
        set(f, enc::GUEST_CS_SELECTOR, 0x0b);
        set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa0fb);
        set(f, enc::GUEST_SS_SELECTOR, 0x13);
        set(f, enc::GUEST_SS_ACCESS_RIGHTS, 0xc0f3);
    }),
    guest("entry_guest_interruptibility_reserved", "bits 31:5", "guest.interruptibility.reserved: guest interruptibility bit 5 set (27.3.1.5): reason 33", |f| set(f, enc::GUEST_INTERRUPTIBILITY, 1 << 5)),
    guest("entry_guest_sti_and_mov_ss", "cannot both be 1", "guest.interruptibility.sti_movss: blocking by STI and by MOV SS (RFLAGS.IF = 1) (27.3.1.5): reason 33", |f| {
        set(f, enc::GUEST_RFLAGS, 0x202);
        set(f, enc::GUEST_INTERRUPTIBILITY, 3);
    }),
    guest("entry_guest_sti_with_if0", "RFLAGS.IF=0", "guest.interruptibility.sti_if0: blocking by STI with RFLAGS.IF = 0 (27.3.1.5): reason 33", |f| set(f, enc::GUEST_INTERRUPTIBILITY, 1)),
    guest("entry_guest_external_with_mov_ss", "blocking by STI and MOV SS to be 0", "guest.interruptibility.injection: injecting external interrupt 0x20 (IF = 1) with blocking by MOV SS (27.3.1.5): reason 33", |f| {
        set(f, enc::GUEST_RFLAGS, 0x202);
        set(f, enc::GUEST_INTERRUPTIBILITY, 2);
        set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0020);
    }),
    guest("entry_guest_nmi_with_mov_ss", "blocking by STI and MOV SS to be 0", "guest.interruptibility.injection: injecting an NMI with blocking by MOV SS (27.3.1.5): reason 33", |f| {
        set(f, enc::GUEST_INTERRUPTIBILITY, 2);
        set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202);
    }),
    guest("entry_guest_smi_blocking", "SMI must be 0", "guest.interruptibility.smi: blocking by SMI (bit 2) outside SMM (27.3.1.5): reason 33", |f| set(f, enc::GUEST_INTERRUPTIBILITY, 1 << 2)),
    guest("entry_guest_pending_debug_reserved", "pending debug exceptions bits", "guest.pending_debug.reserved: guest pending debug exceptions bit 4 set (27.3.1.5): reason 33", |f| set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 1 << 4)),
    guest("entry_guest_pending_debug_bs_without_tf", "BS (bit 14)", "guest.pending_debug.bs: blocking by MOV SS, RFLAGS.TF = 0 and pending BS = 1 (27.3.1.5): reason 33", |f| {
        set(f, enc::GUEST_INTERRUPTIBILITY, 2);
        set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 1 << 14);
    }),
    // ---- 27.3.1.6 PDPTEs: qualification 2 (27.8) ----
    Case {
        why: "PDPTE",
        ..case(
            "entry_guest_pdpte_reserved_ept",
            "guest.pdpte.reserved: PAE guest outside IA-32e mode with EPT, guest PDPTE0 field = 3 (present, reserved bit 1) (27.3.1.6: with \"enable EPT\" the PDPTE fields are checked as MOV to CR3 would): reason 33, qualification 2 \"problem loading the PDPTEs (see 27.3.1.6)\" (27.8)",
            launch(pae_guest_bad_pdpte_field, hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 2)],
        )
    },
    Case {
        why: "PDPTE",
        pokes: &[poke(PDPT, 8, 0x3), poke(PDPT + 8, 8, 0), poke(PDPT + 16, 8, 0), poke(PDPT + 24, 8, 0)],
        ..case(
            "entry_guest_pdpte_reserved_no_ept",
            "guest.pdpte.load: PAE guest outside IA-32e mode without EPT; guest CR3 points at PDPTEs whose PDPTE0 = 3 (present, reserved bit 1) (27.3.1.6): reason 33, qualification 2 (27.8)",
            launch(pae_guest_bad_pdpt_in_memory, hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 2)],
        )
    },
];

/// A 32-byte-aligned PDPT for the no-EPT PDPTE case (in the scratch area).
const PDPT: u64 = SCRATCH + 0x1e0;

fn pae_guest_bad_pdpte_field(f: &mut Vec<(u32, u64)>) {
    pae_guest(f);
    set(f, enc::GUEST_PDPTE0, 3);
}

fn pae_guest_bad_pdpt_in_memory(f: &mut Vec<(u32, u64)>) {
    pae_guest(f);
    clear(f, enc::SECONDARY_PROC_BASED_CONTROLS, ENABLE_EPT);
    set(f, enc::GUEST_CR3, PDPT);
}

/// The real-mode guest of [`GuestKind::Real`] turned into a virtual-8086 guest (27.3.1.2,
/// "If the guest will be virtual-8086").
fn virtual_8086(f: &mut Vec<(u32, u64)>) {
    set(f, enc::GUEST_CR0, 0x31);
    set(f, enc::GUEST_RFLAGS, 0x2_0002);
    for ar in [enc::GUEST_CS_ACCESS_RIGHTS, enc::GUEST_SS_ACCESS_RIGHTS, enc::GUEST_DS_ACCESS_RIGHTS, enc::GUEST_ES_ACCESS_RIGHTS, enc::GUEST_FS_ACCESS_RIGHTS, enc::GUEST_GS_ACCESS_RIGHTS] {
        set(f, ar, 0xf3);
    }
}
