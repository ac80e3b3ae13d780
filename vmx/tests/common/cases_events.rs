//! Shared cases (see [`super::cases`]): VM-entry checks on guest non-register state (SDM
//! Vol. 3C 27.3.1.5), virtual NMIs and NMI-window exiting without a bus NMI (25.6.1, 26.3
//! IRET, 26.7.1, 26.7.6, 27.2.1.1, 27.6.1, 28.3.4), task-switch exits (26.4.2, 28.2.1 table
//! "Exit Qualification for Task Switches", 28.2.4 instruction length, 28.2.3 IDT-vectoring
//! information), VMFUNC and EPTP switching (25.6.14, 26.5.6.3, the VMFUNC page in chapter 31,
//! 27.2.1.1, exit reason 59), and VMXON beyond any MAXPHYADDR (31.3 VMXON).
//!
//! A guest exception delivered through the IDT reaches the runner's stub for that vector,
//! which records the vector at VECTOR_SLOT and halts (HLT exits): the cases show the vector
//! from memory, not the stub's RIP (the oracle kernel's stubs halt elsewhere).

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const NMI_EXITING: u64 = 1 << 3;
const VIRTUAL_NMIS: u64 = 1 << 5;
const NMI_WINDOW: u64 = 1 << 22;
/// Interruptibility state bit 3: blocking by NMI (25.4.2).
const BLOCK_NMI: u64 = 1 << 3;
/// hvbench_cpu::sandbox::VECTOR_SLOT (the oracle kernel uses the same address).
const VECTOR_SLOT: u64 = 0x5000;

const fn vector(v: u64) -> MemCheck {
    MemCheck { addr: VECTOR_SLOT, size: 1, value: v }
}

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

fn vnmi(f: &mut Vec<(u32, u64)>) {
    or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING | VIRTUAL_NMIS);
}

/// IRETQ to the next instruction (a same-privilege 64-bit frame), then HLT. The HLT is at
/// GUEST_RIP + 19: MOV RAX, RSP (3), PUSH 10H (2), PUSH RAX (1), PUSHFQ (1), PUSH 08H (2),
/// LEA RAX, [RIP + d32] (7), PUSH RAX (1), IRETQ (2).
fn iret_then_hlt(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut next = a.create_label();
    a.mov(rax, rsp)?;
    a.push(0x10)?;
    a.push(rax)?;
    a.pushfq()?;
    a.push(0x08)?;
    a.lea(rax, ptr(next))?;
    a.push(rax)?;
    a.iretq()?;
    a.set_label(&mut next)?;
    a.hlt()
}

// ---- Task switches: a 32-bit protected-mode guest without paging (unrestricted guest, EPT
// identity) with its own GDT at 0x6000: 08H code, 10H data, 18H available 32-bit TSS (base
// 7000H), 20H task gate to 18H, 28H busy TSS (base 7100H, the guest's TR), 30H busy TSS (base
// 7200H, the task an IRET returns to); IDT at 6800H with a task gate to 18H at vector 6; the
// busy TSS's previous-task link is 30H (or 1234H, an LDT selector). ----

const TS_GDT: u64 = 0x6000;
const TS_IDT: u64 = 0x6800;
const TSS_BUSY: u64 = 0x7100;

const TASK_POKES: &[Poke] = &[
    poke(TS_GDT, 8, 0),
    poke(TS_GDT + 8, 8, 0x00cf_9b00_0000_ffff),
    poke(TS_GDT + 0x10, 8, 0x00cf_9300_0000_ffff),
    poke(TS_GDT + 0x18, 8, 0x0000_8900_7000_0067),
    poke(TS_GDT + 0x20, 8, 0x0000_8500_0018_0000),
    poke(TS_GDT + 0x28, 8, 0x0000_8b00_7100_0067),
    poke(TS_GDT + 0x30, 8, 0x0000_8b00_7200_0067),
    poke(TS_IDT + 8 * 6, 8, 0x0000_8500_0018_0000),
    poke(TSS_BUSY, 2, 0x30),
];

/// The same, with previous-task link 1234H (TI = 1: the LDT).
const TASK_POKES_LDT_LINK: &[Poke] = &[
    poke(TS_GDT, 8, 0),
    poke(TS_GDT + 8, 8, 0x00cf_9b00_0000_ffff),
    poke(TS_GDT + 0x10, 8, 0x00cf_9300_0000_ffff),
    poke(TS_GDT + 0x18, 8, 0x0000_8900_7000_0067),
    poke(TS_GDT + 0x20, 8, 0x0000_8500_0018_0000),
    poke(TS_GDT + 0x28, 8, 0x0000_8b00_7100_0067),
    poke(TS_GDT + 0x30, 8, 0x0000_8b00_7200_0067),
    poke(TS_IDT + 8 * 6, 8, 0x0000_8500_0018_0000),
    poke(TSS_BUSY, 2, 0x1234),
];

fn prot32(f: &mut Vec<(u32, u64)>) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, 1 << 7);
    let entry = get(f, enc::ENTRY_CONTROLS);
    set(f, enc::ENTRY_CONTROLS, entry & !(1 << 9));
    for (e, v) in [
        (enc::GUEST_CR0, 0x31),
        (enc::GUEST_CR3, 0),
        (enc::GUEST_CR4, 0x2000),
        (enc::GUEST_CS_SELECTOR, 0x08),
        (enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b),
        (enc::GUEST_TR_SELECTOR, 0x28),
        (enc::GUEST_TR_BASE, TSS_BUSY),
        (enc::GUEST_GDTR_BASE, TS_GDT),
        (enc::GUEST_GDTR_LIMIT, 0x37),
        (enc::GUEST_IDTR_BASE, TS_IDT),
        (enc::GUEST_IDTR_LIMIT, 0x7f),
    ] {
        set(f, e, v);
    }
}

/// A task-switch case: the 32-bit guest `code` (bytes), its VMCS edited by `prot32` then `edit`.
const fn task(name: &'static str, doc: &'static str, fields: fn(&mut Vec<(u32, u64)>), code: AsmFn, outcome: Outcome, checks: &'static [FieldCheck]) -> Case {
    Case { pokes: TASK_POKES, ..case(name, doc, launch(fields, code), outcome, checks) }
}

// ---- VMFUNC: the EPTP list at 0x520000 holds EPTP (entry 0), EPTP2 (entry 1) and 0 (entry
// 2); EPTP2 maps the same 1-GByte identity pages without execute permission. ----

const ENABLE_VMFUNC: u64 = 1 << 13;
const EPTP_LIST: u64 = 0x52_0000;
const EPT2_PML4: u64 = 0x53_0000;
const EPTP2: u64 = EPT2_PML4 | 6 | 3 << 3;
/// VMFUNC (0F 01 D4) follows MOV EAX, imm32 and MOV ECX, imm32.
const VMFUNC_RIP: u64 = GUEST_RIP + 10;

const VMFUNC_POKES: &[Poke] = &[
    poke(EPTP_LIST, 8, EPTP),
    poke(EPTP_LIST + 8, 8, EPTP2),
    poke(EPTP_LIST + 16, 8, 0),
    poke(EPT2_PML4, 8, (EPT2_PML4 + 0x1000) | 7),
    poke(EPT2_PML4 + 0x1000, 8, 0x80 | 6 << 3 | 3),
    poke(EPT2_PML4 + 0x1008, 8, 1 << 30 | 0x80 | 6 << 3 | 3),
    poke(EPT2_PML4 + 0x1010, 8, 2 << 30 | 0x80 | 6 << 3 | 3),
    poke(EPT2_PML4 + 0x1018, 8, 3 << 30 | 0x80 | 6 << 3 | 3),
];

fn enable_vmfunc(f: &mut Vec<(u32, u64)>) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, ENABLE_VMFUNC);
    set(f, enc::VMFUNC_CONTROLS, 1);
    set(f, enc::EPTP_LIST_ADDRESS, EPTP_LIST);
}

/// VMFUNC with EAX = `F`, ECX = `I`, then CPUID (exits).
fn vmfunc<const F: u32, const I: u32>(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(eax, F)?;
    a.mov(ecx, I)?;
    a.vmfunc()?;
    a.cpuid()
}

const fn vmfunc_case(name: &'static str, doc: &'static str, fields: fn(&mut Vec<(u32, u64)>), guest: AsmFn, outcome: Outcome, checks: &'static [FieldCheck]) -> Case {
    Case { pokes: VMFUNC_POKES, ..case(name, doc, launch(fields, guest), outcome, checks) }
}

/// The cases of this file.
pub static CASES: &[Case] = &[
    // ---- Guest non-register state (27.3.1.5): reason 33, qualification 0 ----
    guest(
        "entry_hlt_with_sti_blocking",
        "HLT is not allowed with blocking by STI",
        "Activity state HLT with blocking by STI (27.3.1.5): VM-entry failure, reason 33, qualification 0",
        |f| {
            set(f, enc::GUEST_ACTIVITY_STATE, 1);
            set(f, enc::GUEST_RFLAGS, 0x202);
            set(f, enc::GUEST_INTERRUPTIBILITY, 1);
        },
    ),
    guest(
        "entry_wait_for_sipi_refuses_injection",
        "inactive guest",
        "Wait-for-SIPI accepts no injected event (27.3.1.5): injecting #UD fails, reason 33",
        |f| {
            set(f, enc::GUEST_ACTIVITY_STATE, 3);
            set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306);
        },
    ),
    guest(
        "entry_hlt_refuses_ud_injection",
        "inactive guest",
        "Activity state HLT accepts an injected NMI but not a #UD (27.3.1.5): reason 33",
        |f| {
            set(f, enc::GUEST_ACTIVITY_STATE, 1);
            set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306);
        },
    ),
    guest(
        "entry_bs_must_follow_tf",
        "BS (bit 14)",
        "Blocking by MOV SS with RFLAGS.TF = 1 requires pending-debug BS = 1 (27.3.1.5): reason 33",
        |f| {
            set(f, enc::GUEST_RFLAGS, 0x102);
            set(f, enc::GUEST_INTERRUPTIBILITY, 2);
        },
    ),
    case(
        "entry_bs_with_tf_enters",
        "The same state with BS = 1 enters; the guest's first instruction (HLT) exits (27.3.1.5)",
        launch(|f| {
            set(f, enc::GUEST_RFLAGS, 0x102);
            set(f, enc::GUEST_INTERRUPTIBILITY, 2);
            set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 1 << 14);
        }, hlt),
        exit(reason::HLT),
        &[],
    ),
    // ---- Virtual NMIs and the NMI window ----
    ctl(
        "nmi_window_requires_virtual_nmis",
        "NMI-window",
        "\"NMI-window exiting\" = 1 requires \"virtual NMIs\" = 1 (27.2.1.1): VMfailValid(7)",
        |f| {
            or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING);
            proc_or(f, NMI_WINDOW);
        },
    ),
    ctl(
        "virtual_nmis_require_nmi_exiting",
        "virtual NMIs",
        "\"virtual NMIs\" = 1 requires \"NMI exiting\" = 1 (27.2.1.1): VMfailValid(7)",
        |f| or(f, enc::PIN_BASED_CONTROLS, VIRTUAL_NMIS),
    ),
    case(
        "nmi_window_exits_at_once",
        "With no virtual-NMI blocking the NMI-window exit happens before the first guest instruction (26.7.6): reason 8, qualification 0, RIP = the first instruction",
        launch(|f| {
            vnmi(f);
            proc_or(f, NMI_WINDOW);
        }, |a| {
            a.nop()?;
            a.hlt()
        }),
        exit(reason::NMI_WINDOW),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "nmi_window_opens_at_iret",
        "IRET removes virtual-NMI blocking (26.3, 26.7.1): the NMI-window exit follows the IRETQ (RIP = its target, the HLT) and the saved interruptibility has bit 3 clear (28.3.4)",
        launch(|f| {
            vnmi(f);
            proc_or(f, NMI_WINDOW);
            set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI);
        }, iret_then_hlt),
        exit(reason::NMI_WINDOW),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 19), masked(enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI, 0)],
    ),
    Case {
        mem: &[vector(2)],
        ..case(
            "injected_virtual_nmi_blocks_the_window",
            "Injecting an NMI under \"virtual NMIs\" sets virtual-NMI blocking (27.6.1, 26.7.1), so the NMI window stays closed: the NMI reaches the guest's vector-2 handler, whose HLT exits with bit 3 saved as 1",
            launch(|f| {
                vnmi(f);
                proc_or(f, NMI_WINDOW);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202);
            }, hlt),
            exit(reason::HLT),
            &[masked(enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI, BLOCK_NMI)],
        )
    },
    case(
        "iret_keeps_nmi_blocking_with_nmi_exiting",
        "With \"NMI exiting\" = 1 and \"virtual NMIs\" = 0, IRET does not affect blocking of NMIs (26.3): bit 3 is still saved as 1 at the HLT exit after the IRETQ",
        launch(|f| {
            or(f, enc::PIN_BASED_CONTROLS, NMI_EXITING);
            set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI);
        }, iret_then_hlt),
        exit(reason::HLT),
        &[masked(enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI, BLOCK_NMI)],
    ),
    case(
        "iret_unblocks_nmis_without_nmi_exiting",
        "Without \"NMI exiting\", IRET unblocks NMIs as outside VMX (Vol. 3A 6.7.1): bit 3 saved as 0",
        launch(|f| set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI), iret_then_hlt),
        exit(reason::HLT),
        &[masked(enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI, 0)],
    ),
    guest(
        "nmi_injection_with_virtual_nmi_blocking_fails",
        "virtual NMIs",
        "With \"virtual NMIs\" = 1, injecting an NMI requires blocking by NMI = 0 (27.3.1.5): VM-entry failure, reason 33, qualification 0",
        |f| {
            vnmi(f);
            set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI);
            set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202);
        },
    ),
    Case {
        mem: &[vector(2)],
        ..case(
            "nmi_injection_with_nmi_blocking_allowed_without_virtual_nmis",
            "With \"virtual NMIs\" = 0 there is no such requirement (27.3.1.5 footnote): the NMI is delivered to the guest's vector-2 handler, whose HLT exits",
            launch(|f| {
                set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_NMI);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202);
            }, hlt),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- Task switches (26.4.2): reason 9, qualification bits 15:0 the new TSS selector,
    // 31:30 the source (0 CALL, 1 IRET, 2 JMP, 3 task gate in the IDT) ----
    task(
        "task_jmp_far_to_tss_exits",
        "JMP 0018:0 to an available TSS exits unconditionally (26.4.2): source 2 (JMP), selector 18H, length 7, RIP at the JMP, IDT-vectoring information not valid",
        prot32,
        |a| a.db(&[0xea, 0, 0, 0, 0, 0x18, 0]),
        exit(reason::TASK_SWITCH),
        &[fld(enc::EXIT_QUALIFICATION, 2 << 30 | 0x18), fld(enc::EXIT_INSTRUCTION_LENGTH, 7), fld(enc::GUEST_RIP, GUEST_RIP), masked(enc::IDT_VECTORING_INFO, 1 << 31, 0)],
    ),
    task(
        "task_call_far_through_task_gate_exits",
        "CALL 0020:0 through the task gate at 20H: source 0 (CALL), selector = the gate's TSS 18H, length 7",
        prot32,
        |a| a.db(&[0x9a, 0, 0, 0, 0, 0x20, 0]),
        exit(reason::TASK_SWITCH),
        &[fld(enc::EXIT_QUALIFICATION, 0x18), fld(enc::EXIT_INSTRUCTION_LENGTH, 7)],
    ),
    task(
        "task_iret_with_nt_exits_with_the_previous_task_link",
        "IRETD with RFLAGS.NT = 1, previous-task link 30H (a busy TSS in the GDT, so the checks on the new TSS selector and descriptor that 26.4.2 performs before any exit pass): source 1 (IRET), selector 30H, length 1",
        |f| {
            prot32(f);
            set(f, enc::GUEST_RFLAGS, 2 | 1 << 14);
        },
        |a| a.db(&[0xcf]),
        exit(reason::TASK_SWITCH),
        &[fld(enc::EXIT_QUALIFICATION, 1 << 30 | 0x30), fld(enc::EXIT_INSTRUCTION_LENGTH, 1)],
    ),
    Case {
        pokes: TASK_POKES_LDT_LINK,
        ..case(
            "task_iret_link_in_ldt_faults",
            "IRETD with NT = 1 and previous-task link 1234H (TI = 1): 26.4.2 checks the new TSS selector (step 3, \"checks are made on the new TSS selector\") before any task-switch exit, and an IRET task switch to an LDT selector is #TS(selector) (Vol. 3A Table 6-6); exception-bitmap bit 10 makes it exit reason 0, #TS, error code 1234H",
            launch(|f| {
                prot32(f);
                set(f, enc::GUEST_RFLAGS, 2 | 1 << 14);
                set(f, enc::EXCEPTION_BITMAP, 1 << 10);
            }, |a| a.db(&[0xcf])),
            exit(reason::EXCEPTION_NMI),
            &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0a), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x1234)],
        )
    },
    task(
        "task_exception_through_idt_task_gate_exits",
        "UD2: #UD finds a task gate in the IDT: source 3, selector 18H; IDT-vectoring information = the #UD being delivered (vector 6, type 3, valid; 28.2.3); RIP at the UD2. (The instruction length is undefined for a hardware exception, 28.2.4.)",
        prot32,
        |a| a.db(&[0x0f, 0x0b]),
        exit(reason::TASK_SWITCH),
        &[fld(enc::EXIT_QUALIFICATION, 3 << 30 | 0x18), fld(enc::IDT_VECTORING_INFO, 0x8000_0306), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    task(
        "task_jmp_far_to_busy_tss_faults_before_any_exit",
        "JMP to a busy TSS: #GP(28H) comes before any task-switch exit (26.4.2, JMP pseudocode); exception-bitmap bit 13 turns it into reason 0 with that error code",
        |f| {
            prot32(f);
            set(f, enc::EXCEPTION_BITMAP, 1 << 13);
        },
        |a| a.db(&[0xea, 0, 0, 0, 0, 0x28, 0]),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x28)],
    ),
    task(
        "task_int_n_through_idt_task_gate_records_its_length",
        "INT 6 (CD 06) meets the task gate at IDT vector 6: source 3, selector 18H; the length is recorded for a task gate met during delivery of a software interrupt (28.2.4): 2; IDT-vectoring information vector 6, type 4, valid; RIP at the INT",
        prot32,
        |a| a.db(&[0xcd, 0x06]),
        exit(reason::TASK_SWITCH),
        &[fld(enc::EXIT_QUALIFICATION, 3 << 30 | 0x18), fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::IDT_VECTORING_INFO, 0x8000_0406), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    // ---- VMFUNC ----
    Case {
        mem: &[vector(6)],
        ..case(
            "vmfunc_ud_without_the_control",
            "\"enable VM functions\" = 0: VMFUNC is #UD in the guest (VMFUNC page), delivered through the guest IDT; the handler's HLT exits",
            launch(nothing, vmfunc::<0, 0>),
            exit(reason::HLT),
            &[],
        )
    },
    case(
        "vmfunc_ud_in_root_operation",
        "VMFUNC in VMX root operation: #UD (VMFUNC page)",
        Program::AfterLoad(|a| {
            a.xor(eax, eax)?;
            a.xor(ecx, ecx)?;
            a.vmfunc()
        }),
        Outcome::Exception(6),
        &[],
    ),
    vmfunc_case(
        "vmfunc_disabled_function_exits",
        "VMFUNC of a function whose VM-function control bit is 0 (EAX = 1): exit reason 59, length 3, RIP = the VMFUNC (26.5.6)",
        enable_vmfunc,
        vmfunc::<1, 0>,
        exit(reason::VMFUNC),
        &[fld(enc::GUEST_RIP, VMFUNC_RIP), fld(enc::EXIT_INSTRUCTION_LENGTH, 3)],
    ),
    Case {
        mem: &[vector(6)],
        ..vmfunc_case(
            "vmfunc_function_64_is_ud",
            "VMFUNC with EAX >= 64 is #UD, not a VM exit (VMFUNC page, Protected Mode Exceptions: \"#UD ... If EAX >= 64\"; 26.5.6): delivered through the guest IDT, the handler's HLT exits",
            enable_vmfunc,
            vmfunc::<64, 0>,
            exit(reason::HLT),
            &[],
        )
    },
    vmfunc_case(
        "eptp_switching_index_512_exits",
        "EPTP switching with ECX >= 512 (26.5.6.3): exit reason 59, EPT pointer unchanged",
        enable_vmfunc,
        vmfunc::<0, 512>,
        exit(reason::VMFUNC),
        &[fld(enc::GUEST_RIP, VMFUNC_RIP), fld(enc::EPT_POINTER, EPTP)],
    ),
    vmfunc_case(
        "eptp_switching_bad_entry_exits",
        "EPTP switching to list entry 2 = 0, which fails the EPTP checks (page-walk length 1) (26.5.6.3): exit reason 59, EPT pointer unchanged",
        enable_vmfunc,
        vmfunc::<0, 2>,
        exit(reason::VMFUNC),
        &[fld(enc::GUEST_RIP, VMFUNC_RIP), fld(enc::EPT_POINTER, EPTP)],
    ),
    vmfunc_case(
        "eptp_switching_to_the_same_eptp_goes_on",
        "EPTP switching to entry 0, the current EPTP: VMFUNC completes and the CPUID after it exits (26.5.6.3)",
        enable_vmfunc,
        vmfunc::<0, 0>,
        exit(reason::CPUID),
        &[fld(enc::GUEST_RIP, VMFUNC_RIP + 3), fld(enc::EPT_POINTER, EPTP)],
    ),
    vmfunc_case(
        "eptp_switching_changes_the_translation",
        "EPTP switching to entry 1 (no execute permission): the EPT-pointer field holds the new EPTP, and fetching the next instruction is an EPT violation (26.5.6.3, 29.3.3: reason 48, qualification bit 2 = instruction fetch, guest-physical address = that RIP)",
        enable_vmfunc,
        vmfunc::<0, 1>,
        exit(reason::EPT_VIOLATION),
        &[fld(enc::EPT_POINTER, EPTP2), fld(enc::GUEST_RIP, VMFUNC_RIP + 3), masked(enc::EXIT_QUALIFICATION, 4, 4), fld(enc::GUEST_PHYSICAL_ADDRESS, VMFUNC_RIP + 3)],
    ),
    Case {
        why: "IA32_VMX_VMFUNC",
        ..vmfunc_case(
            "vmfunc_controls_reserved_bit_fails",
            "VM-function control bits IA32_VMX_VMFUNC does not allow (bit 1) (27.2.1.1): VMfailValid(7)",
            |f| {
                enable_vmfunc(f);
                set(f, enc::VMFUNC_CONTROLS, 3);
            },
            hlt,
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        why: "enable EPT",
        ..vmfunc_case(
            "eptp_switching_requires_ept",
            "EPTP switching requires \"enable EPT\" = 1 (27.2.1.1): VMfailValid(7)",
            |f| {
                enable_vmfunc(f);
                let v = get(f, enc::SECONDARY_PROC_BASED_CONTROLS);
                set(f, enc::SECONDARY_PROC_BASED_CONTROLS, v & !2);
            },
            hlt,
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        why: "EPTP-list",
        ..vmfunc_case(
            "eptp_list_must_be_aligned",
            "The EPTP-list address must be 4-KByte aligned (27.2.1.1): VMfailValid(7)",
            |f| {
                enable_vmfunc(f);
                set(f, enc::EPTP_LIST_ADDRESS, EPTP_LIST | 8);
            },
            hlt,
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        why: "EPTP-list",
        ..vmfunc_case(
            "eptp_list_beyond_maxphyaddr_fails",
            "The EPTP-list address must be within the physical-address width (27.2.1.1); 2^52 is beyond any MAXPHYADDR: VMfailValid(7)",
            |f| {
                enable_vmfunc(f);
                set(f, enc::EPTP_LIST_ADDRESS, 1 << 52);
            },
            hlt,
            Outcome::VmFailValid(7),
            &[],
        )
    },
    // ---- VMXON ----
    case(
        "vmxon_beyond_maxphyaddr_is_vmfail_invalid",
        "VMXON with a pointer beyond the physical-address width (2^52, beyond any MAXPHYADDR): VMfailInvalid (31.3 VMXON)",
        Program::Host(|a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(rax, 1u64 << 52)?;
            a.mov(qword_ptr(rbx), rax)?;
            a.vmxon(qword_ptr(rbx))
        }),
        Outcome::VmFailInvalid,
        &[],
    ),
];
