//! Task-switch VM exits (reason 9). hvbench's CPU does not switch tasks, but in VMX non-root
//! operation every attempt exits unconditionally after the checks that precede the switch
//! (SDM 26.4.2 "Treatment of Task Switches"), with the qualification of table "Exit
//! Qualification for Task Switches" (28.2.1): bits 15:0 the new TSS selector, bits 31:30 the
//! source (0 CALL, 1 IRET, 2 JMP, 3 task gate in the IDT).
//!
//! The guest is 32-bit protected mode without paging (unrestricted guest, EPT identity), with
//! its own GDT at 0x6000: 08H code, 10H data, 18H available 32-bit TSS (base 7000H), 20H task
//! gate to 18H, 28H busy TSS (base 7100H, the guest's TR); its IDT at 6800H.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const GDT: u64 = 0x6000;
const IDT: u64 = 0x6800;
const TSS_BUSY: u64 = 0x7100;

/// The 32-bit guest's VMCS (a valid Flat64 VMCS edited to a protected-mode guest).
fn prot32_vmcs(p: &Profile) -> Vec<(u32, u64)> {
    let mut f = valid_vmcs(p, GuestKind::Flat64);
    or(&mut f, enc::SECONDARY_PROC_BASED_CONTROLS, 1 << 7);
    let entry = get(&f, enc::ENTRY_CONTROLS);
    set(&mut f, enc::ENTRY_CONTROLS, entry & !(1 << 9));
    for (e, v) in [
        (enc::GUEST_CR0, 0x31),
        (enc::GUEST_CR3, 0),
        (enc::GUEST_CR4, 0x2000),
        (enc::GUEST_CS_SELECTOR, 0x08),
        (enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b),
        (enc::GUEST_TR_SELECTOR, 0x28),
        (enc::GUEST_TR_BASE, TSS_BUSY),
        (enc::GUEST_GDTR_BASE, GDT),
        (enc::GUEST_GDTR_LIMIT, 0x2f),
        (enc::GUEST_IDTR_BASE, IDT),
        (enc::GUEST_IDTR_LIMIT, 0x7f),
    ] {
        set(&mut f, e, v);
    }
    f
}

/// Runs `code` (32-bit) as the guest with `edit` applied.
fn run32(edit: impl FnOnce(&mut Vec<(u32, u64)>), code: &[u8]) -> Run {
    let p = Profile::default_profile();
    let mut f = prot32_vmcs(&p);
    edit(&mut f);
    run_prepared(p, &f, code, |s| {
        for (i, d) in [0u64, 0x00cf_9b00_0000_ffff, 0x00cf_9300_0000_ffff, 0x0000_8900_7000_0067, 0x0000_8500_0018_0000, 0x0000_8b00_7100_0067].iter().enumerate() {
            poke(s, GDT + 8 * i as u64, 8, *d);
        }
        // IDT vector 6 (#UD): a task gate to 18H.
        poke(s, IDT + 8 * 6, 8, 0x0000_8500_0018_0000);
        // The busy TSS's previous-task link.
        poke(s, TSS_BUSY, 2, 0x1234);
    })
}

#[test]
fn jmp_far_to_tss_exits() {
    // jmp 0018:00000000 (EA imm32 imm16): source 2 (JMP), selector 18H, length 7.
    let r = run32(|_| {}, &[0xea, 0, 0, 0, 0, 0x18, 0]);
    exited(&r, reason::TASK_SWITCH);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 2 << 30 | 0x18);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 7);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP, "nothing happened: RIP at the JMP");
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0);
}

#[test]
fn call_far_through_task_gate_exits_with_the_tss_selector() {
    // call 0020:00000000 (9A): through the task gate at 20H to TSS 18H; source 0 (CALL).
    let r = run32(|_| {}, &[0x9a, 0, 0, 0, 0, 0x20, 0]);
    exited(&r, reason::TASK_SWITCH);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0x18);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 7);
}

#[test]
fn iret_with_nt_exits_with_the_previous_task_link() {
    // iretd (CF) with RFLAGS.NT = 1: source 1 (IRET), selector = the current TSS's link field.
    let r = run32(|f| set(f, enc::GUEST_RFLAGS, 2 | 1 << 14), &[0xcf]);
    exited(&r, reason::TASK_SWITCH);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 << 30 | 0x1234);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 1);
}

#[test]
fn exception_through_idt_task_gate_exits() {
    // ud2: #UD finds a task gate in the IDT: source 3, selector 18H; the IDT-vectoring
    // information describes the #UD being delivered (vector 6, type 3, valid; SDM 28.2.4).
    let r = run32(|_| {}, &[0x0f, 0x0b]);
    exited(&r, reason::TASK_SWITCH);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 << 30 | 0x18);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0306);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
}

#[test]
fn jmp_far_to_busy_tss_faults_before_any_exit() {
    // A busy TSS is not a valid JMP target: #GP(28H) comes first (SDM 26.4.2, JMP pseudocode);
    // exception-bitmap bit 13 turns the #GP into exit reason 0 with that error code.
    let r = run32(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 13), &[0xea, 0, 0, 0, 0, 0x28, 0]);
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0b0d);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_ERROR_CODE), 0x28);
}

#[test]
fn int_n_through_idt_task_gate_records_its_length() {
    // int 6 (CD 06) meets the task gate at IDT vector 6: source 3, selector 18H. SDM 28.2.5:
    // the VM-exit instruction length is recorded for a task gate in the IDT met during
    // delivery of a software interrupt (2 here); 28.2.4: the IDT-vectoring information names
    // it (vector 6, type 4 software interrupt, valid, no error code). RIP stays at the INT.
    let r = run32(|_| {}, &[0xcd, 0x06]);
    exited(&r, reason::TASK_SWITCH);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 << 30 | 0x18);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);
    assert_eq!(r.field(enc::IDT_VECTORING_INFO), 0x8000_0406);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
}

#[test]
fn hardware_exception_through_idt_task_gate_has_no_length() {
    // A #UD (hardware exception) is not an instruction-initiated switch: length 0 (28.2.5).
    let r = run32(|_| {}, &[0x0f, 0x0b]);
    exited(&r, reason::TASK_SWITCH);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 0);
}
