//! Shared cases: exceptions met while VM entry delivers an injected event (SDM Vol. 3C 27.6.1
//! "Vectored-Event Injection": the event is delivered as if it had arisen in the guest, through
//! the guest IDT, without the exception bitmap applying to it; an exception that delivery
//! raises is handled as in the guest, "as if it had occurred in VMX non-root operation").
//!
//! - An exception whose exception-bitmap bit is set exits (reason 0) with the injected event as
//!   IDT-vectoring information and its error code as IDT-vectoring error code (28.2.4 "a fault
//!   occurs during event delivery and causes a VM exit"; the footnote of 25.9.3 includes events
//!   injected by VM entry), the VM-exit interruption information and error code of the exception
//!   (28.2.2), and for an injected software interrupt the VM-entry instruction length as VM-exit
//!   instruction length (28.2.5).
//! - The nested exception is checked against the exception bitmap first; only when it does not
//!   exit does the double-fault rule (Vol. 3A 6.15, Table 6-5) convert it. A #DF that exits is
//!   not an exit "during event delivery" (28.2.4: "the original event results in a
//!   double-fault exception that causes the VM exit directly"): IDT-vectoring information
//!   invalid.
//! - A fault while delivering the #DF is a triple fault: exit reason 2 (26.2), also not during
//!   event delivery.
//! - An exception that does not exit is delivered in the guest; a VM exit met delivering it
//!   (here an EPT violation on its gate) reports that exception, the event being delivered
//!   when the exit occurred, as IDT-vectoring information (28.2.4).
//!
//! Error codes of the nested #GP/#NP: the IDT entry's index * 8 with IDT = 1 (bit 1) and EXT
//! (bit 0) set for an external interrupt, NMI or hardware exception, clear for a software
//! interrupt (Vol. 3A 6.13 "Error Code"). The guest IDT is the valid VMCS's (base 2000H) with
//! its limit cut to leave the gate out; 64-bit gates are 16 bytes.

#![allow(dead_code)]

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

/// Exception-bitmap bits.
const GP: u64 = 1 << 13;
const DF: u64 = 1 << 8;

/// IDT-vectoring information valid bit only (the rest is undefined when it is clear).
const IDTV_INVALID: FieldCheck = masked(enc::IDT_VECTORING_INFO, 1 << 31, 0);

/// The guest IDT of `inj_nmi_np_then_ept_violation_on_np_gate`: gates 0-7 on the last 128
/// bytes of a 2-MByte guest page that [`NMI_NP_POKES`] maps to guest-physical 0 (so at
/// guest-physical 1F_FF80H), gates 8 and up at linear 4000_0000H, identity-mapped by the
/// guest paging to guest-physical 4000_0000H, which the EPT does not map.
const STRADDLING_IDT: u64 = 0x3fff_ff80;
/// Guest PD entry 511 of the first GByte (sandbox page tables at 10000H: PD at 12000H) -> a
/// 2-MByte page at 0 (P, R/W, U/S, PS); EPT PDPT entry 1 cleared; gate 2 (NMI) a 64-bit
/// interrupt gate (type 14, selector 8) with P = 0 (a zero gate would have an invalid type,
/// #GP before the present check: Vol. 3A 6.12.1, INT n pseudo-code).
const NMI_NP_POKES: &[Poke] = &[
    poke(0x12000 + 8 * 511, 8, 0x87),
    poke(EPT_PML4 + 0x1000 + 8, 8, 0),
    poke(0x1f_ff80 + 0x20, 8, 0x0000_0e00_0008_0000),
    poke(0x1f_ff80 + 0x28, 8, 0),
];

pub static CASES: &[Case] = &[
    Case {
        pokes: NMI_NP_POKES,
        ..case(
            "inj_nmi_np_then_ept_violation_on_np_gate",
            "VM entry injects an NMI whose gate (2) is an interrupt gate with P = 0: #NP(2*8+2+1 = 13H), not in the exception bitmap, is delivered after the NMI (an NMI is not a first event of Vol. 3A Table 6-5), and reading its gate (11, at guest-physical 4000_0030H) is an EPT violation: reason 48 with the #NP, the event being delivered, as IDT-vectoring information 8000_0B0BH and error code 13H (28.2.4); guest-physical address 4000_0030H",
            launch(
                |f| {
                    set(f, enc::GUEST_IDTR_BASE, STRADDLING_IDT);
                    set(f, enc::GUEST_IDTR_LIMIT, 0xfff);
                    set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202);
                },
                hlt,
            ),
            exit(reason::EPT_VIOLATION),
            &[
                fld(enc::IDT_VECTORING_INFO, 0x8000_0b0b),
                fld(enc::IDT_VECTORING_ERROR_CODE, 0x13),
                fld(enc::GUEST_PHYSICAL_ADDRESS, 0x4000_0030),
                fld(enc::GUEST_LINEAR_ADDRESS, 0x4000_0030),
                fld(enc::GUEST_RIP, GUEST_RIP),
            ],
        )
    },
    case(
        "inj_ext_int_beyond_idt_limit_gp_exits",
        "VM entry injects external interrupt 30H (guest RFLAGS.IF = 1) with the guest IDT limit 1FFH (gates 0-31): #GP(30H*8+2+1 = 183H, IDT and EXT set) during its delivery; exception-bitmap bit 13: VM exit reason 0, interruption information 8000_0B0DH, error code 183H, IDT-vectoring information 8000_0030H (type 0) (27.6.1, 28.2.2, 28.2.4); RIP = GUEST_RIP",
        launch(
            |f| {
                set(f, enc::GUEST_RFLAGS, 0x202);
                set(f, enc::EXCEPTION_BITMAP, GP);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0030);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[
            fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d),
            fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x183),
            fld(enc::IDT_VECTORING_INFO, 0x8000_0030),
            fld(enc::GUEST_RIP, GUEST_RIP),
        ],
    ),
    case(
        "inj_nmi_beyond_idt_limit_gp_exits",
        "VM entry injects an NMI (8000_0202H) with the guest IDT limit 1FH (gates 0-1): #GP(2*8+2+1 = 13H) during its delivery exits (bitmap bit 13): interruption information 8000_0B0DH, error code 13H, IDT-vectoring information 8000_0202H (type 2) (27.6.1, 28.2.4)",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x1f);
                set(f, enc::EXCEPTION_BITMAP, GP);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0202);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x13), fld(enc::IDT_VECTORING_INFO, 0x8000_0202), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "inj_pf_beyond_idt_limit_gp_exits_before_df",
        "VM entry injects #PF with error code 2 (8000_0B0EH) with the guest IDT limit 7FH (gates 0-7): the #GP(14*8+2+1 = 73H) met during its delivery is checked against the exception bitmap (bit 13 set) before the double-fault rule: VM exit with interruption information 8000_0B0DH, error code 73H, IDT-vectoring information 8000_0B0EH (bit 11: error code) and IDT-vectoring error code 2 (27.6.1, 28.2.4)",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x7f);
                set(f, enc::EXCEPTION_BITMAP, GP | DF);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b0e);
                set(f, enc::ENTRY_EXCEPTION_ERROR_CODE, 2);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[
            fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d),
            fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x73),
            fld(enc::IDT_VECTORING_INFO, 0x8000_0b0e),
            fld(enc::IDT_VECTORING_ERROR_CODE, 2),
            fld(enc::GUEST_RIP, GUEST_RIP),
        ],
    ),
    case(
        "inj_pf_beyond_idt_limit_df_exits_without_idtv",
        "As inj_pf_beyond_idt_limit_gp_exits_before_df with only #DF (bit 8) in the exception bitmap: the #GP does not exit, #PF then #GP is a double fault (Vol. 3A Table 6-5) and the #DF exits: interruption information 8000_0B08H, error code 0; IDT-vectoring information invalid (28.2.4: a #DF the original event results in causes the exit directly)",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x7f);
                set(f, enc::EXCEPTION_BITMAP, DF);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b0e);
                set(f, enc::ENTRY_EXCEPTION_ERROR_CODE, 2);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b08), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), IDTV_INVALID, fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "inj_pf_beyond_idt_limit_triple_fault",
        "As inj_pf_beyond_idt_limit_gp_exits_before_df with an empty exception bitmap: #PF, #GP -> #DF, whose gate 8 is beyond the limit too: #GP during #DF delivery is a triple fault: VM exit reason 2 (26.2), no IDT-vectoring information (28.2.4), RIP = GUEST_RIP",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x7f);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b0e);
                set(f, enc::ENTRY_EXCEPTION_ERROR_CODE, 2);
            },
            hlt,
        ),
        exit(reason::TRIPLE_FAULT),
        &[IDTV_INVALID, fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "inj_df_beyond_idt_limit_gp_exits_with_df_idtv",
        "VM entry injects #DF with error code 0 (8000_0B08H) with the guest IDT limit 3FH (gates 0-3): the #GP(8*8+2+1 = 43H) met delivering it exits (bitmap bit 13) with IDT-vectoring information 8000_0B08H and IDT-vectoring error code 0 (28.2.4; the EXT bit is set for an exception during #DF delivery)",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x3f);
                set(f, enc::EXCEPTION_BITMAP, GP);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b08);
                set(f, enc::ENTRY_EXCEPTION_ERROR_CODE, 0);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[
            fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d),
            fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x43),
            fld(enc::IDT_VECTORING_INFO, 0x8000_0b08),
            fld(enc::IDT_VECTORING_ERROR_CODE, 0),
        ],
    ),
    case(
        "inj_df_beyond_idt_limit_triple_fault",
        "VM entry injects #DF (error code 0) with the guest IDT limit 3FH and an empty exception bitmap: the #GP met delivering it is a triple fault (Vol. 3A Table 6-5): VM exit reason 2 (26.2), no IDT-vectoring information (28.2.4)",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x3f);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0b08);
                set(f, enc::ENTRY_EXCEPTION_ERROR_CODE, 0);
            },
            hlt,
        ),
        exit(reason::TRIPLE_FAULT),
        &[IDTV_INVALID, fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "inj_soft_int_beyond_idt_limit_gp_exits_with_length",
        "VM entry injects software interrupt 21H (8000_0421H) with VM-entry instruction length 2 and the guest IDT limit 1FFH: #GP(21H*8+2 = 10AH, EXT clear for a software interrupt) during its delivery exits (bitmap bit 13): IDT-vectoring information 8000_0421H, VM-exit instruction length 2 (28.2.5: faults during delivery of a software interrupt record its length, the VM-entry instruction length for an injected one)",
        launch(
            |f| {
                set(f, enc::EXCEPTION_BITMAP, GP);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0421);
                set(f, enc::ENTRY_INSTRUCTION_LENGTH, 2);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[
            fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0d),
            fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0x10a),
            fld(enc::IDT_VECTORING_INFO, 0x8000_0421),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 2),
            fld(enc::GUEST_RIP, GUEST_RIP),
        ],
    ),
    case(
        "inj_ud_beyond_idt_limit_gp_gp_df_exits",
        "VM entry injects #UD (8000_0306H) with the guest IDT limit 5FH (gates 0-5) and only #DF in the exception bitmap: the #GP(6*8+2+1 = 33H) does not exit and #UD (benign) then #GP is delivered serially (Vol. 3A Table 6-5), but gate 13 is beyond the limit too: #GP then #GP is a double fault, whose exit (interruption information 8000_0B08H, error code 0) has no IDT-vectoring information (28.2.4)",
        launch(
            |f| {
                set(f, enc::GUEST_IDTR_LIMIT, 0x5f);
                set(f, enc::EXCEPTION_BITMAP, DF);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306);
            },
            hlt,
        ),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b08), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), IDTV_INVALID, fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
];
