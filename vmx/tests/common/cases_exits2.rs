//! Shared cases (see [`super::cases`]): the VM exits of instructions with a VM-execution
//! control of their own (SDM Vol. 3C 25.6.2 controls; 26.1.3 "Instructions That Cause VM Exits
//! Conditionally": WBINVD, RDRAND, RDSEED, PAUSE, MONITOR, MWAIT, INVPCID, LGDT/LIDT/SGDT/SIDT,
//! LLDT/LTR/SLDT/STR), the #UD of 26.3 (INVPCID without "enable INVPCID", RDPID without
//! "enable RDTSCP"), and the injection of a pending MTF VM exit (VM-entry interruption type 7,
//! 27.2.1.3 and 27.6.2). Exit qualifications per 28.2.1 (MWAIT: bit 0 = monitoring hardware
//! armed; INVPCID and descriptor-table instructions: the displacement; "for all other VM
//! exits" cleared), instruction lengths per 28.2.4, instruction information per 28.2.5 with
//! undefined bits masked.

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

// Primary processor-based controls (25.6.2).
const INVLPG_EXITING: u64 = 1 << 9;
const MWAIT_EXITING: u64 = 1 << 10;
const MONITOR_EXITING: u64 = 1 << 29;
const PAUSE_EXITING: u64 = 1 << 30;
// Secondary processor-based controls (25.6.2).
const DESCRIPTOR_TABLE_EXITING: u64 = 1 << 2;
const ENABLE_RDTSCP: u64 = 1 << 3;
const WBINVD_EXITING: u64 = 1 << 6;
const RDRAND_EXITING: u64 = 1 << 11;
const ENABLE_INVPCID: u64 = 1 << 12;
const RDSEED_EXITING: u64 = 1 << 16;

/// #UD as VM-exit interruption information: vector 6, type 3 (hardware exception), valid.
const UD_INFO: u64 = 0x8000_0306;
/// RDRAND/RDSEED information bits (28.2.5): destination 6:3, operand size 12:11.
const RDRAND_MASK: u64 = 0xf << 3 | 3 << 11;
/// LGDT/LIDT/SGDT/SIDT information bits defined in 64-bit mode with base and index (28.2.5):
/// scaling 1:0, address size 9:7, segment 17:15, index 21:18, index invalid 22, base 26:23,
/// base invalid 27, identity 29:28 (bit 11, the operand size, is undefined in 64-bit mode).
const DT_MASK: u64 = 3 | 7 << 7 | 7 << 15 | 0xf << 18 | 1 << 22 | 0xf << 23 | 1 << 27 | 3 << 28;
/// LLDT/LTR/SLDT/STR with a register operand (28.2.5): Reg1 6:3, mem/reg 10, identity 29:28.
const LT_REG_MASK: u64 = 0xf << 3 | 1 << 10 | 3 << 28;
/// LLDT/LTR/SLDT/STR with a base but no index: address size, mem/reg, segment, index invalid,
/// base, base invalid, identity (scaling and index are undefined without an index).
const LT_MEM_NO_INDEX_MASK: u64 = 7 << 7 | 1 << 10 | 7 << 15 | 1 << 22 | 0xf << 23 | 1 << 27 | 3 << 28;
/// INVPCID information bits (28.2.5, the INVEPT/INVPCID/INVVPID table) with base and index:
/// scaling, address size, segment, index, index invalid, base, base invalid, Reg2 31:28.
const INVPCID_MASK: u64 = 3 | 7 << 7 | 7 << 15 | 0xf << 18 | 1 << 22 | 0xf << 23 | 1 << 27 | 0xf << 28;
/// Segment DS (3) in bits 17:15, 64-bit address size (2) in bits 9:7.
const DS_A64: u64 = 3 << 15 | 2 << 7;

fn sec_or(f: &mut Vec<(u32, u64)>, bits: u64) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, bits);
}

fn ud_exits(f: &mut Vec<(u32, u64)>) {
    set(f, enc::EXCEPTION_BITMAP, 1 << 6);
}

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

/// The cases of this file.
pub static CASES: &[Case] = &[
    // ---- WBINVD (26.1.3) ----
    case(
        "wbinvd_exits",
        "WBINVD with \"WBINVD exiting\" (secondary bit 6): reason 54, qualification 0 (WBINVD, not WBNOINVD; 28.2.1), length 2 (0F 09), RIP saved = the WBINVD",
        launch(|f| sec_or(f, WBINVD_EXITING), |a| {
            a.nop()?;
            a.wbinvd()
        }),
        exit(reason::WBINVD),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP + 1)],
    ),
    case(
        "wbinvd_runs_without_exiting",
        "WBINVD with \"WBINVD exiting\" = 0 runs in the guest; the HLT after it exits (reason 12)",
        launch(nothing, |a| {
            a.wbinvd()?;
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 2)],
    ),
    // ---- RDRAND / RDSEED (26.1.3, 28.2.5) ----
    case(
        "rdrand_r9_exits",
        "RDRAND R9 with \"RDRAND exiting\" (secondary bit 11): reason 57, qualification 0, length 4 (49 0F C7 F1); information: destination 9 (bits 6:3), operand size 64-bit (2 in bits 12:11)",
        launch(|f| sec_or(f, RDRAND_EXITING), |a| a.rdrand(r9)),
        exit(reason::RDRAND),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 4), masked(enc::EXIT_INSTRUCTION_INFO, RDRAND_MASK, 9 << 3 | 2 << 11)],
    ),
    case(
        "rdrand_ax_exits",
        "RDRAND AX with \"RDRAND exiting\": reason 57, length 4 (66 0F C7 F0); information: destination 0, operand size 16-bit (0)",
        launch(|f| sec_or(f, RDRAND_EXITING), |a| a.rdrand(ax)),
        exit(reason::RDRAND),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 4), masked(enc::EXIT_INSTRUCTION_INFO, RDRAND_MASK, 0)],
    ),
    case(
        "rdseed_edx_exits",
        "RDSEED EDX with \"RDSEED exiting\" (secondary bit 16): reason 61, qualification 0, length 3 (0F C7 FA); information: destination 2, operand size 32-bit (1)",
        launch(|f| sec_or(f, RDSEED_EXITING), |a| a.rdseed(edx)),
        exit(reason::RDSEED),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), masked(enc::EXIT_INSTRUCTION_INFO, RDRAND_MASK, 2 << 3 | 1 << 11)],
    ),
    case(
        "rdrand_runs_with_only_rdseed_exiting",
        "RDRAND is not governed by \"RDSEED exiting\": it runs, and the HLT after it exits",
        launch(|f| sec_or(f, RDSEED_EXITING), |a| {
            a.rdrand(eax)?;
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 3)],
    ),
    // ---- PAUSE, MONITOR, MWAIT (26.1.3, 28.2.1) ----
    case(
        "pause_exits",
        "PAUSE with \"PAUSE exiting\" (primary bit 30): reason 40, qualification 0, length 2 (F3 90)",
        launch(|f| proc_or(f, PAUSE_EXITING), |a| a.pause()),
        exit(reason::PAUSE),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 2)],
    ),
    case(
        "monitor_exits_before_the_ecx_check",
        "MONITOR with \"MONITOR exiting\" (primary bit 29) exits even with ECX = 5 (which would be #GP(0): only #UD and privilege faults come before the exit, 26.1.1): reason 39, qualification 0, length 3 (0F 01 C8)",
        launch(|f| proc_or(f, MONITOR_EXITING), |a| {
            a.mov(rax, SCRATCH)?;
            a.mov(ecx, 5)?;
            a.monitor()
        }),
        exit(reason::MONITOR),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, GUEST_RIP + 10 + 5)],
    ),
    case(
        "mwait_exits_unarmed",
        "MWAIT with \"MWAIT exiting\" (primary bit 10) and no MONITOR before it: reason 36, qualification 0 (monitoring hardware not armed, 28.2.1), length 3 (0F 01 C9)",
        launch(|f| proc_or(f, MWAIT_EXITING), |a| {
            a.xor(ecx, ecx)?;
            a.mwait()
        }),
        exit(reason::MWAIT),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3)],
    ),
    case(
        "mwait_exits_armed",
        "MONITOR (not exiting) arms the monitoring hardware; MWAIT with \"MWAIT exiting\" then exits with qualification 1 (armed, 28.2.1), reason 36",
        launch(|f| proc_or(f, MWAIT_EXITING), |a| {
            a.mov(rax, SCRATCH)?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)?;
            a.monitor()?;
            a.mwait()
        }),
        exit(reason::MWAIT),
        &[fld(enc::EXIT_QUALIFICATION, 1), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, GUEST_RIP + 10 + 2 + 2 + 3)],
    ),
    // ---- Descriptor-table exiting (26.1.3, 28.2.1 displacement, 28.2.5 tables) ----
    case(
        "lgdt_exits_with_information",
        "LGDT [RBX+RSI*4+18H] with \"descriptor-table exiting\" (secondary bit 2): reason 46, qualification = the displacement 18H, length 5 (0F 01 54 B3 18); information: scaling 2 (x4), address size 64-bit, DS, index RSI, base RBX, identity 2 (LGDT)",
        launch(|f| sec_or(f, DESCRIPTOR_TABLE_EXITING), |a| a.lgdt(ptr(rbx + rsi * 4 + 0x18))),
        exit(reason::GDTR_IDTR),
        &[fld(enc::EXIT_QUALIFICATION, 0x18), fld(enc::EXIT_INSTRUCTION_LENGTH, 5), masked(enc::EXIT_INSTRUCTION_INFO, DT_MASK, 2 | DS_A64 | 6 << 18 | 3 << 23 | 2 << 28)],
    ),
    case(
        "sidt_exits_with_negative_displacement",
        "SIDT [RDI+R8*8-20H] with \"descriptor-table exiting\": reason 46, qualification = the displacement sign-extended (FFFFFFFFFFFFFFE0H), length 6 (42 0F 01 4C C7 E0); information: scaling 3, index R8, base RDI, identity 1 (SIDT)",
        launch(|f| sec_or(f, DESCRIPTOR_TABLE_EXITING), |a| a.sidt(ptr(rdi + r8 * 8 - 0x20))),
        exit(reason::GDTR_IDTR),
        &[fld(enc::EXIT_QUALIFICATION, 0xffff_ffff_ffff_ffe0), fld(enc::EXIT_INSTRUCTION_LENGTH, 6), masked(enc::EXIT_INSTRUCTION_INFO, DT_MASK, 3 | DS_A64 | 8 << 18 | 7 << 23 | 1 << 28)],
    ),
    case(
        "ltr_register_exits",
        "LTR ECX with \"descriptor-table exiting\": reason 47, qualification 0 (no displacement), length 3 (0F 00 D9); information: Reg1 = RCX, register operand (bit 10), identity 3 (LTR)",
        launch(|f| sec_or(f, DESCRIPTOR_TABLE_EXITING), |a| a.ltr(ecx)),
        exit(reason::LDTR_TR),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), masked(enc::EXIT_INSTRUCTION_INFO, LT_REG_MASK, 1 << 3 | 1 << 10 | 3 << 28)],
    ),
    case(
        "sldt_memory_exits",
        "SLDT [RBX+40H] with \"descriptor-table exiting\": reason 47, qualification 40H, length 4 (0F 00 43 40); information: memory operand (bit 10 = 0), address size 64-bit, DS, no index (bit 22), base RBX, identity 0 (SLDT)",
        launch(|f| sec_or(f, DESCRIPTOR_TABLE_EXITING), |a| a.sldt(word_ptr(rbx + 0x40))),
        exit(reason::LDTR_TR),
        &[fld(enc::EXIT_QUALIFICATION, 0x40), fld(enc::EXIT_INSTRUCTION_LENGTH, 4), masked(enc::EXIT_INSTRUCTION_INFO, LT_MEM_NO_INDEX_MASK, DS_A64 | 1 << 22 | 3 << 23)],
    ),
    case(
        "sgdt_rip_relative_qualification_is_the_address",
        "SGDT [RIP+0] with \"descriptor-table exiting\": for RIP-relative addressing the qualification is the displacement plus the RIP of the next instruction (28.2.1), here GUEST_RIP + 7; length 7 (0F 01 05 00 00 00 00); information: address size 64-bit, DS, no index, no base (bits 22 and 27), identity 0 (SGDT)",
        launch(|f| sec_or(f, DESCRIPTOR_TABLE_EXITING), |a| {
            let mut next = a.create_label();
            a.sgdt(ptr(next))?;
            a.set_label(&mut next)?;
            a.hlt()
        }),
        exit(reason::GDTR_IDTR),
        &[fld(enc::EXIT_QUALIFICATION, GUEST_RIP + 7), fld(enc::EXIT_INSTRUCTION_LENGTH, 7), masked(enc::EXIT_INSTRUCTION_INFO, 7 << 7 | 7 << 15 | 1 << 22 | 1 << 27 | 3 << 28, DS_A64 | 1 << 22 | 1 << 27)],
    ),
    case(
        "sgdt_runs_without_exiting",
        "SGDT with \"descriptor-table exiting\" = 0 runs in the guest; the HLT after it exits",
        launch(nothing, |a| {
            a.mov(rbx, SCRATCH)?;
            a.sgdt(ptr(rbx))?;
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 10 + 3)],
    ),
    // ---- INVPCID (26.1.3, 26.3) ----
    case(
        "invpcid_without_enable_is_ud",
        "INVPCID with \"enable INVPCID\" = 0 is #UD (26.3); exception-bitmap bit 6 turns it into reason 0, vector 6, type 3",
        launch(ud_exits, |a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(ecx, 2)?;
            a.invpcid(rcx, ptr(rbx))
        }),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, UD_INFO), fld(enc::GUEST_RIP, GUEST_RIP + 10 + 5)],
    ),
    case(
        "invpcid_exits_with_invlpg_exiting",
        "INVPCID RCX, [RBX+RDX*8+100H] with \"enable INVPCID\" and \"INVLPG exiting\": reason 58, qualification = the displacement 100H, length 10 (66 0F 38 82 8C D3 00 01 00 00); information: scaling 3, address size 64-bit, DS, index RDX, base RBX, Reg2 = RCX",
        launch(|f| {
            sec_or(f, ENABLE_INVPCID);
            proc_or(f, INVLPG_EXITING);
        }, |a| a.invpcid(rcx, ptr(rbx + rdx * 8 + 0x100))),
        exit(reason::INVPCID),
        &[fld(enc::EXIT_QUALIFICATION, 0x100), fld(enc::EXIT_INSTRUCTION_LENGTH, 10), masked(enc::EXIT_INSTRUCTION_INFO, INVPCID_MASK, 3 | DS_A64 | 2 << 18 | 3 << 23 | 1 << 28)],
    ),
    case(
        "invpcid_runs_when_enabled",
        "INVPCID (type 2) with \"enable INVPCID\" and \"INVLPG exiting\" = 0 runs in the guest; the HLT after it exits",
        launch(|f| sec_or(f, ENABLE_INVPCID), |a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(ecx, 2)?;
            a.invpcid(rcx, ptr(rbx))?;
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 10 + 5 + 5)],
    ),
    // ---- RDPID (26.3) ----
    case(
        "rdpid_without_enable_rdtscp_is_ud",
        "RDPID with \"enable RDTSCP\" = 0 is #UD (26.3); exception-bitmap bit 6 turns it into reason 0, vector 6, type 3",
        launch(ud_exits, |a| a.rdpid(rax)),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, UD_INFO), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "rdpid_runs_with_enable_rdtscp",
        "RDPID with \"enable RDTSCP\" = 1 runs in the guest; the HLT after it exits",
        launch(|f| sec_or(f, ENABLE_RDTSCP), |a| {
            a.rdpid(rax)?;
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 4)],
    ),
    // ---- Pending MTF VM exit injected by VM entry (27.2.1.3, 27.6.2) ----
    case(
        "pending_mtf_injection_exits_at_once",
        "VM-entry interruption information 80000700H (type 7 other event, vector 0: a pending MTF VM exit) with \"monitor trap flag\" = 0: VM entry succeeds and an MTF VM exit (reason 37) follows before the first guest instruction (RIP saved = the guest entry point); the exit clears the valid bit of the VM-entry interruption information (28.2) and records no IDT-vectoring information",
        launch(|f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0700), |a| {
            a.nop()?;
            a.hlt()
        }),
        exit(reason::MONITOR_TRAP_FLAG),
        &[fld(enc::GUEST_RIP, GUEST_RIP), fld(enc::EXIT_QUALIFICATION, 0), masked(enc::ENTRY_INTERRUPTION_INFO, 1 << 31, 0), masked(enc::IDT_VECTORING_INFO, 1 << 31, 0)],
    ),
    case(
        "pending_mtf_injection_keeps_pending_debug_exceptions",
        "A pending MTF VM exit injected with a pending single-step trap (pending debug exceptions BS, guest RFLAGS.TF = 1): the entry is not vectoring (27.7), the MTF VM exit has priority over debug traps (26.5.2), so it comes first (reason 37) and saves the trap as still pending (BS in the pending-debug-exceptions field, 28.3.4)",
        launch(|f| {
            set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0700);
            set(f, enc::GUEST_RFLAGS, 2 | 1 << 8);
            set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 1 << 14);
        }, hlt),
        exit(reason::MONITOR_TRAP_FLAG),
        &[fld(enc::GUEST_RIP, GUEST_RIP), masked(enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 0xf | 1 << 12 | 1 << 14, 1 << 14)],
    ),
    case(
        "other_event_with_vector_1_fails",
        "VM-entry interruption type 7 (other event) requires vector 0 (27.2.1.3): 80000701H makes VMLAUNCH fail with VMfailValid(7)",
        launch(|f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0701), hlt),
        Outcome::VmFailValid(7),
        &[],
    ),
];
