//! Shared conformance cases for fixes found by an audit (SDM 325462-084US):
//! - IDT-vectoring information (Vol. 3C 28.2.4 "Information for VM Exits During Event
//!   Delivery"): the type of the event being delivered (0 external interrupt, 3 hardware
//!   exception, 4 software interrupt, 5 privileged software exception, 6 software exception),
//!   the error-code bit and the IDT-vectoring error code, for EPT violations on the guest IDT
//!   and for exception-bitmap exits during delivery;
//! - #DB exception exits: the exit qualification in DR6 format (28.2.1, table "Exit
//!   Qualification for Debug Exceptions");
//! - the VMCS link pointer checks (27.3.1.5).
//!
//! The guest IDT of the EPT cases is at guest-physical 4000_0000H, which the guest's identity
//! paging maps and whose EPT PDPT entry (1 GByte, entry 1) the case clears: reading a gate is
//! an EPT violation (a read of a not-present guest-physical page, of a linear address: 28.2.1
//! qualification bits 0, 7 and 8).

#![allow(dead_code)]

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

/// The page the VMCS-link-pointer cases point to.
pub const LINK_VMCS: u64 = 0x30_3000;
/// The guest IDT of the EPT cases (a GByte the EPT does not map).
pub const FAR_IDT: u64 = 0x4000_0000;
/// Clearing EPT PDPT entry 1 (guest-physical 4000_0000H-7FFF_FFFFH not present).
pub const UNMAP_GB1: &[Poke] = &[poke(EPT_PML4 + 0x1000 + 8, 8, 0)];
/// EPT-violation qualification of a read of a not-present page by a linear access (28.2.1).
const EPT_READ_LINEAR: u64 = 1 | 1 << 7 | 1 << 8;

fn far_idt(f: &mut Vec<(u32, u64)>) {
    set(f, enc::GUEST_IDTR_BASE, FAR_IDT);
    set(f, enc::GUEST_IDTR_LIMIT, 0xfff);
}

/// An EPT-violation case: the guest IDT is at [`FAR_IDT`], unmapped by the EPT.
const fn ept_idt(name: &'static str, doc: &'static str, fields: fn(&mut Vec<(u32, u64)>), guest: AsmFn, checks: &'static [FieldCheck]) -> Case {
    Case { pokes: UNMAP_GB1, ..case(name, doc, launch(fields, guest), exit(reason::EPT_VIOLATION), checks) }
}

pub static CASES: &[Case] = &[
    // ---- IDT-vectoring information (28.2.4) ----
    ept_idt(
        "idtv_int_n_ept_violation_on_idt",
        "INT 21H (CD 21) reads its gate from an IDT page the EPT does not map: EPT violation (reason 48) during the delivery of a software interrupt: IDT-vectoring information vector 21H, type 4, valid (28.2.4); guest-physical address = the gate (4000_0210H); RIP at the INT",
        far_idt,
        |a| a.db(&[0xcd, 0x21]),
        &[
            fld(enc::IDT_VECTORING_INFO, 0x8000_0421),
            fld(enc::GUEST_PHYSICAL_ADDRESS, FAR_IDT + 0x210),
            masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, EPT_READ_LINEAR),
            fld(enc::GUEST_RIP, GUEST_RIP),
        ],
    ),
    ept_idt(
        "idtv_int3_ept_violation_on_idt",
        "INT3 (CC) with exception-bitmap bit 3 clear reads its gate from an EPT-unmapped IDT page: EPT violation during the delivery of a software exception: IDT-vectoring information vector 3, type 6, valid (28.2.4)",
        far_idt,
        |a| a.int3(),
        &[fld(enc::IDT_VECTORING_INFO, 0x8000_0603), fld(enc::GUEST_PHYSICAL_ADDRESS, FAR_IDT + 0x30), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    ept_idt(
        "idtv_ud_ept_violation_on_idt",
        "UD2: the #UD's gate is on an EPT-unmapped IDT page: EPT violation during the delivery of a hardware exception: IDT-vectoring information vector 6, type 3, no error code, valid (28.2.4)",
        far_idt,
        |a| a.ud2(),
        &[fld(enc::IDT_VECTORING_INFO, 0x8000_0306), fld(enc::GUEST_PHYSICAL_ADDRESS, FAR_IDT + 0x60), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    ept_idt(
        "idtv_gp_ept_violation_on_idt_has_error_code",
        "A load from the non-canonical address 8000_0000_0000_0000H is #GP(0), whose gate is on an EPT-unmapped IDT page: IDT-vectoring information vector 13, type 3, bit 11 (error code) set, valid; IDT-vectoring error code 0 (28.2.4)",
        far_idt,
        |a| {
            a.mov(rax, 0x8000_0000_0000_0000u64)?;
            a.mov(rax, qword_ptr(rax))
        },
        &[fld(enc::IDT_VECTORING_INFO, 0x8000_0b0d), fld(enc::IDT_VECTORING_ERROR_CODE, 0), fld(enc::GUEST_PHYSICAL_ADDRESS, FAR_IDT + 0xd0), fld(enc::GUEST_RIP, GUEST_RIP + 10)],
    ),
    Case {
        pokes: UNMAP_GB1,
        ..case(
            "idtv_injected_external_interrupt_ept_violation",
            "VM entry injects external interrupt 30H (27.6) whose gate is on an EPT-unmapped IDT page: the EPT violation reports the injected event as IDT-vectoring information, type 0 (external interrupt), vector 30H, valid (28.2.4, which applies to events injected by VM entry); RIP = GUEST_RIP",
            launch(
                |f| {
                    far_idt(f);
                    set(f, enc::GUEST_RFLAGS, 0x202);
                    set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0030);
                },
                hlt,
            ),
            exit(reason::EPT_VIOLATION),
            &[fld(enc::IDT_VECTORING_INFO, 0x8000_0030), fld(enc::GUEST_PHYSICAL_ADDRESS, FAR_IDT + 0x300), fld(enc::GUEST_RIP, GUEST_RIP)],
        )
    },
    case(
        "idtv_int_n_gp_beyond_idt_limit_exits",
        "INT 21H with IDT limit 1FFH (32 gates): #GP(21H*8+2 = 10AH) during the delivery; exception-bitmap bit 13 makes it a VM exit (reason 0, interruption information 8000_0B0DH, error code 10AH) with the INT n as IDT-vectoring information: vector 21H, type 4, no error code, valid (28.2.2, 28.2.4)",
        launch(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 13), |a| a.db(&[0xcd, 0x21])),
        exit(reason::EXCEPTION_NMI),
        &[
            fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d),
            fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x10a),
            fld(enc::IDT_VECTORING_INFO, 0x8000_0421),
            fld(enc::GUEST_RIP, GUEST_RIP),
        ],
    ),
    // ---- #DB exits: the exit qualification in DR6 format (28.2.1) ----
    Case {
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: 0 }],
        ..case(
            "db_single_step_exit_qualification_bs",
            "The guest clears DR6, sets RFLAGS.TF with POPFQ; exception-bitmap bit 1: the single-step trap after the NOP that follows the POPFQ exits (reason 0, #DB type 3: 8000_0301H) with qualification BS (bit 14, 28.2.1 table \"Exit Qualification for Debug Exceptions\"); RIP at the HLT after the NOP (GUEST_RIP + 16); the #DB does not update DR6 (28.1), so the host reads DR6 B3-B0/BD/BS clear",
            launch_then(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 1), |a| {
                a.xor(eax, eax)?; // 2 bytes
                a.mov(dr6, rax)?; // 3
                a.pushfq()?; // 1
                a.or(qword_ptr(rsp), 0x100)?; // 8
                a.popfq()?; // 1
                a.nop()?; // 1
                a.hlt()
            }, dr6_to_scratch),
            exit(reason::EXCEPTION_NMI),
            &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0301), fld(enc::EXIT_QUALIFICATION, 1 << 14), fld(enc::GUEST_RIP, GUEST_RIP + 16)],
        )
    },
    case(
        "db_code_breakpoint_exit_qualification_b0",
        "DR7.L0 = 1 with an instruction breakpoint (DR0) on the guest's third instruction, exception-bitmap bit 1: the fault-class #DB exits with qualification B0 (bit 0, 28.2.1); RIP at the breakpoint",
        launch(|f| {
            or(f, enc::ENTRY_CONTROLS, 1 << 2);
            set(f, enc::GUEST_DR7, 0x401);
            set(f, enc::EXCEPTION_BITMAP, 1 << 1);
        }, |a| {
            a.mov(rax, GUEST_RIP + 13)?;
            a.mov(dr0, rax)?;
            a.nop()?;
            a.hlt()
        }),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0301), fld(enc::EXIT_QUALIFICATION, 1), fld(enc::GUEST_RIP, GUEST_RIP + 13)],
    ),
    case(
        "db_general_detect_exit_qualification_bd",
        "DR7.GD = 1, exception-bitmap bit 1: MOV RAX, DR0 is a fault-class #DB that exits with qualification BD (bit 13, 28.2.1); the #DB does not clear DR7.GD (28.1), so the saved guest DR7 (\"save debug controls\") still has it; RIP at the MOV",
        launch(|f| {
            or(f, enc::ENTRY_CONTROLS, 1 << 2);
            or(f, enc::EXIT_CONTROLS, 1 << 2);
            set(f, enc::GUEST_DR7, 0x2400);
            set(f, enc::EXCEPTION_BITMAP, 1 << 1);
        }, |a| {
            a.mov(rax, dr0)?;
            a.hlt()
        }),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0301), fld(enc::EXIT_QUALIFICATION, 1 << 13), fld(enc::GUEST_RIP, GUEST_RIP), fld(enc::GUEST_DR7, 0x2400)],
    ),
    // ---- VMCS link pointer (27.3.1.5; failures: reason 33, qualification 4, 27.8) ----
    Case {
        pokes: &[Poke { addr: LINK_VMCS, size: 4, value: 0, rev: true }],
        ..case(
            "link_pointer_to_a_vmcs_passes",
            "VMCS link pointer = a 4-KByte aligned page whose first 4 bytes are the VMCS revision identifier with bit 31 (shadow-VMCS indicator) = 0 = \"VMCS shadowing\": the checks of 27.3.1.5 pass; the guest's HLT exits",
            launch(|f| set(f, enc::VMCS_LINK_POINTER, LINK_VMCS), hlt),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[Poke { addr: LINK_VMCS, size: 4, value: 0, rev: true }],
        why: "4-KByte aligned",
        ..case(
            "link_pointer_misaligned_fails",
            "VMCS link pointer with bits 11:0 != 0 (27.3.1.5): reason 33, qualification 4",
            launch(|f| set(f, enc::VMCS_LINK_POINTER, LINK_VMCS + 8), hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 4)],
        )
    },
    Case {
        why: "MAXPHYADDR",
        ..case(
            "link_pointer_beyond_maxphyaddr_fails",
            "VMCS link pointer 2^52 (beyond any MAXPHYADDR, 27.3.1.5): reason 33, qualification 4",
            launch(|f| set(f, enc::VMCS_LINK_POINTER, 1 << 52), hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 4)],
        )
    },
    Case {
        pokes: &[Poke { addr: LINK_VMCS, size: 4, value: 0x8000_0000, rev: true }],
        why: "shadow-VMCS indicator = 1",
        ..case(
            "link_pointer_shadow_indicator_fails",
            "The referenced VMCS has the revision identifier but bit 31 (shadow-VMCS indicator) = 1 while \"VMCS shadowing\" = 0 (27.3.1.5): reason 33, qualification 4",
            launch(|f| set(f, enc::VMCS_LINK_POINTER, LINK_VMCS), hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 4)],
        )
    },
    Case {
        why: "current-VMCS pointer",
        bochs: Some("Bochs 2.7 does not check the VMCS link pointer against the current-VMCS pointer"),
        ..case(
            "link_pointer_to_the_current_vmcs_fails",
            "VMCS link pointer = the current-VMCS pointer, outside SMM (27.3.1.5): reason 33, qualification 4",
            launch(|f| set(f, enc::VMCS_LINK_POINTER, VMCS_REGION), hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 4)],
        )
    },
];

/// At HOST_RIP: SCRATCH = DR6 & (B3-B0 | BD | BS).
fn dr6_to_scratch(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, dr6)?;
    a.and(eax, 0x600f)?;
    a.mov(rbx, SCRATCH)?;
    a.mov(qword_ptr(rbx), rax)
}
