//! Shared cases: EPT violations without a guest-linear address, and VMX instructions in
//! compatibility, real-address and virtual-8086 mode guests.
//!
//! - PAE paging's PDPTE loads by MOV to CR0 and MOV to CR3 (Vol. 3A 4.4.1) use the
//!   guest-physical address in CR3 and, under EPT, are translated through EPT (Vol. 3C
//!   29.3.3.2); they "are treated as reads". An EPT violation there is reason 48 with the
//!   qualification of 28.2.1 Table "Exit Qualification for EPT Violations": bit 0 (read), bits
//!   5:3 the EPT permissions of the address (ANDed over the entries; 0 when not present), bit 7
//!   = 0 ("the guest linear-address field is valid for all EPT violations except those
//!   resulting from an attempt to load the guest PDPTEs as part of the execution of the MOV CR
//!   instruction"), bit 12 (NMI unblocking) 0. Bits 6 and 8-11 are reserved or undefined when
//!   bit 7 is 0 and are masked; the guest-linear-address field is undefined and not shown
//!   (28.2.1). The instruction does not complete: guest CR0 / CR3 keep their old values.
//! - VM entry with EPT and a PAE guest loads the PDPTEs from the guest PDPTE fields, not from
//!   memory (27.3.2.4), so a guest CR3 that EPT does not map is no EPT violation at entry.
//! - VMCALL in VMX non-root operation exits in every mode (31.3 VMCALL Operation: the VM exit
//!   comes before the RFLAGS.VM and "IA32_EFER.LMA = 1 and CS.L = 0" #UD checks; 31.1 "Only
//!   VMCALL can be executed in compatibility mode (causing a VM exit)"). The other VMX
//!   instructions are #UD in compatibility mode and with CR0.PE = 0 before the non-root VM
//!   exit (their Operation sections; #UD has priority over the VM exit, 26.1.1): with
//!   exception-bitmap bit 6 set, an exit with reason 0 and interruption information 8000_0306H
//!   (valid, hardware exception, vector 6; 28.2.2) at the instruction (GUEST_RIP).

#![allow(dead_code)]

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

/// The qualification bits defined for an EPT violation without a guest-linear address: 5:0,
/// 7 and 12 (28.2.1).
const Q_NO_GLA: u64 = 0x10bf;
/// EPT PDPT entry 1 (guest-physical 4000_0000H-7FFF_FFFFH) of the layout's identity EPT.
const EPT_PDPTE1: u64 = EPT_PML4 + 0x1000 + 8;
/// The guest's PAE page-directory-pointer table and page directory (32-byte and 4-KByte
/// aligned, in low memory the cases leave alone), and the address EPT leaves unmapped.
const PDPT: u64 = 0xa000;
const PD: u64 = 0xb000;
const UNMAPPED: u64 = 0x4000_0000;
/// PDPTE0 -> PD; PD entry 0 a 2-MByte page at 0 (P, R/W, PS); EPT PDPT entry 1 not present.
static PAE_POKES: &[Poke] = &[
    poke(PDPT, 8, PD | 1),
    poke(PDPT + 8, 8, 0),
    poke(PDPT + 16, 8, 0),
    poke(PDPT + 24, 8, 0),
    poke(PD, 8, 0x83),
    poke(EPT_PDPTE1, 8, 0),
];
/// As [`PAE_POKES`] with EPT PDPT entry 1 a 1-GByte execute-only page (bits 2:0 = 100B,
/// IA32_VMX_EPT_VPID_CAP bit 0; memory type WB).
static PAE_XONLY_POKES: &[Poke] = &[
    poke(PDPT, 8, PD | 1),
    poke(PDPT + 8, 8, 0),
    poke(PDPT + 16, 8, 0),
    poke(PDPT + 24, 8, 0),
    poke(PD, 8, 0x83),
    poke(EPT_PDPTE1, 8, UNMAPPED | 0x80 | 6 << 3 | 4),
];

/// The real-mode guest with CR4.PAE = 1 (and VMXE) and CR3 = `UNMAPPED`.
fn real_pae_cr3_unmapped(f: &mut Vec<(u32, u64)>) {
    real_pae(f);
    set(f, enc::GUEST_CR3, UNMAPPED);
}
/// The real-mode guest with CR4.PAE = 1 (and VMXE) and IA32_EFER = 0 ("load IA32_EFER":
/// without it VM entry with CR0.PG = 0 leaves the host's LME = 1 in place, 27.3.2.1, and
/// setting CR0.PG would activate IA-32e mode instead of PAE paging).
fn real_pae(f: &mut Vec<(u32, u64)>) {
    set(f, enc::GUEST_CR4, 0x2020);
    or(f, enc::ENTRY_CONTROLS, 1 << 15);
    set(f, enc::GUEST_EFER, 0);
}

/// mov eax, 8000_0031H ; mov cr0, eax (PE, ET, NE, PG: PAE paging, the PDPTEs load from CR3;
/// NE stays 1, IA32_VMX_CR0_FIXED0).
static MOV_CR0_PG: &[u8] = &[0x66, 0xb8, 0x31, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0];
/// mov eax, A000H ; mov cr3, eax ; mov eax, 8000_0031H ; mov cr0, eax (PAE paging with the
/// mapped tables) ; mov eax, 4000_0000H ; mov cr3, eax (at IP 18H: PDPTEs from the unmapped
/// address).
static MOV_CR3_UNMAPPED: &[u8] = &[
    0x66, 0xb8, 0x00, 0xa0, 0x00, 0x00, 0x0f, 0x22, 0xd8, //
    0x66, 0xb8, 0x31, 0x00, 0x00, 0x80, 0x0f, 0x22, 0xc0, //
    0x66, 0xb8, 0x00, 0x00, 0x00, 0x40, 0x0f, 0x22, 0xd8,
];

/// A 32-bit protected-mode guest with PAE paging (not IA-32e mode): CS = 18H (the GDT's
/// 32-bit code segment), CR3 = `UNMAPPED`, the PDPTE fields pointing at [`PD`].
fn pae32_pdptes_from_fields(f: &mut Vec<(u32, u64)>) {
    let e = get(f, enc::ENTRY_CONTROLS);
    set(f, enc::ENTRY_CONTROLS, e & !(1 << 9));
    set(f, enc::GUEST_CS_SELECTOR, 0x18);
    set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b);
    set(f, enc::GUEST_CR3, UNMAPPED);
    set(f, enc::GUEST_PDPTE0, PD | 1);
    set(f, enc::GUEST_PDPTE1, 0);
    set(f, enc::GUEST_PDPTE2, 0);
    set(f, enc::GUEST_PDPTE3, 0);
}

/// The 64-bit guest started in compatibility mode ("IA-32e mode guest" with CS.L = 0, CS.D =
/// 1: 27.3.1.2 allows it; CS = 18H, the GDT's 32-bit code segment).
fn compat(f: &mut Vec<(u32, u64)>) {
    set(f, enc::GUEST_CS_SELECTOR, 0x18);
    set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b);
}
/// As [`compat`] with exception-bitmap bit 6 (#UD).
fn compat_ud_exits(f: &mut Vec<(u32, u64)>) {
    compat(f);
    set(f, enc::EXCEPTION_BITMAP, 1 << 6);
}
/// The real-mode guest with exception-bitmap bit 6 (#UD).
fn real_ud_exits(f: &mut Vec<(u32, u64)>) {
    set(f, enc::EXCEPTION_BITMAP, 1 << 6);
}
/// The real-mode guest as a virtual-8086 guest (27.3.1.2: CR0.PE = 1, RFLAGS.VM = 1, segment
/// bases selector << 4, limits FFFFH, access rights F3H).
fn v86(f: &mut Vec<(u32, u64)>) {
    set(f, enc::GUEST_CR0, 0x31);
    set(f, enc::GUEST_RFLAGS, 1 << 17 | 2);
    for ar in [enc::GUEST_CS_ACCESS_RIGHTS, enc::GUEST_SS_ACCESS_RIGHTS, enc::GUEST_DS_ACCESS_RIGHTS, enc::GUEST_ES_ACCESS_RIGHTS, enc::GUEST_FS_ACCESS_RIGHTS, enc::GUEST_GS_ACCESS_RIGHTS] {
        set(f, ar, 0xf3);
    }
}

/// vmcall
fn vmcall(a: &mut iced_x86::code_asm::CodeAssembler) -> Result<(), iced_x86::code_asm::IcedError> {
    a.db(&[0x0f, 0x01, 0xc1])
}
/// vmread eax, ecx (0F 78 C8: the same bytes in compatibility mode).
fn vmread_compat(a: &mut iced_x86::code_asm::CodeAssembler) -> Result<(), iced_x86::code_asm::IcedError> {
    a.db(&[0x0f, 0x78, 0xc8])
}
/// invept eax, [ebx] (66 0F 38 80 03 in compatibility mode).
fn invept_compat(a: &mut iced_x86::code_asm::CodeAssembler) -> Result<(), iced_x86::code_asm::IcedError> {
    a.db(&[0x66, 0x0f, 0x38, 0x80, 0x03])
}

/// #UD at the guest's first instruction, exiting through the exception bitmap.
static UD_AT_GUEST_RIP: &[FieldCheck] = &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0306), fld(enc::GUEST_RIP, GUEST_RIP)];
static UD_AT_REAL_IP_0: &[FieldCheck] = &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0306), fld(enc::GUEST_RIP, 0)];

const fn real(fields: fn(&mut Vec<(u32, u64)>), bytes: &'static [u8]) -> Program {
    Program::Launch { kind: GuestKind::Real, fields, guest: Guest::Real(bytes), at_exit: None }
}

pub static CASES: &[Case] = &[
    Case {
        pokes: PAE_POKES,
        ..case(
            "ept_violation_loading_pdptes_mov_cr0",
            "An unrestricted real-mode guest with CR4.PAE = 1 and CR3 = 4000_0000H sets CR0.PE and PG: the PDPTE loads (Vol. 3A 4.4.1) read guest-physical 4000_0000H, which EPT does not map: reason 48, qualification 1 (a read, permissions 0, bit 7 = 0: no guest-linear address; 28.2.1, 29.3.3.2), guest-physical address 4000_0000H, the MOV at IP 6, CR0.PE and PG still 0",
            real(real_pae_cr3_unmapped, MOV_CR0_PG),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, Q_NO_GLA, 1), fld(enc::GUEST_PHYSICAL_ADDRESS, UNMAPPED), fld(enc::GUEST_RIP, 6), masked(enc::GUEST_CR0, 0x8000_0001, 0)],
        )
    },
    Case {
        pokes: PAE_POKES,
        ..case(
            "ept_violation_loading_pdptes_mov_cr3",
            "A guest with PAE paging (not IA-32e mode) loads CR3 = 4000_0000H: the PDPTE loads (Vol. 3A 4.4.1) read guest-physical 4000_0000H, which EPT does not map: reason 48, qualification 1 (bit 7 = 0: no guest-linear address; 28.2.1, 29.3.3.2), guest-physical address 4000_0000H, the MOV at IP 18H, guest CR3 still A000H",
            real(real_pae, MOV_CR3_UNMAPPED),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, Q_NO_GLA, 1), fld(enc::GUEST_PHYSICAL_ADDRESS, UNMAPPED), fld(enc::GUEST_RIP, 0x18), fld(enc::GUEST_CR3, PDPT)],
        )
    },
    Case {
        pokes: PAE_XONLY_POKES,
        ..case(
            "ept_violation_loading_pdptes_execute_only",
            "As ept_violation_loading_pdptes_mov_cr3 with guest-physical 4000_0000H in an execute-only EPT page: the PDPTE loads are reads (29.3.3.2): reason 48, qualification 21H (read; bits 5:3 = the EPT permissions, execute only; bit 7 = 0; 28.2.1)",
            real(real_pae, MOV_CR3_UNMAPPED),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, Q_NO_GLA, 0x21), fld(enc::GUEST_PHYSICAL_ADDRESS, UNMAPPED), fld(enc::GUEST_RIP, 0x18)],
        )
    },
    Case {
        pokes: PAE_POKES,
        ..case(
            "entry_pae_guest_pdptes_from_fields_under_ept",
            "VM entry of a 32-bit PAE guest with EPT takes the PDPTEs from the guest PDPTE fields (27.3.2.4), not from guest CR3 = 4000_0000H, which EPT does not map: the guest's CPUID exits (reason 10)",
            launch(pae32_pdptes_from_fields, |a| a.cpuid()),
            exit(reason::CPUID),
            &[fld(enc::GUEST_RIP, GUEST_RIP)],
        )
    },
    case(
        "vmcall_in_compat_guest_exits",
        "VMCALL in a compatibility-mode guest (IA-32e mode, CS.L = 0) exits with reason 18 (31.1: only VMCALL can be executed in compatibility mode; 31.3 VMCALL Operation), instruction length 3 (28.2.5)",
        launch(compat, vmcall),
        exit(reason::VMCALL),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "vmcall_in_real_mode_guest_exits",
        "VMCALL in an unrestricted real-address-mode guest exits with reason 18 (31.3 VMCALL Operation: in VMX non-root operation a VM exit, before any mode check), instruction length 3",
        real(nothing, &[0x0f, 0x01, 0xc1]),
        exit(reason::VMCALL),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, 0)],
    ),
    case(
        "vmcall_in_v86_guest_exits",
        "VMCALL in a virtual-8086-mode guest exits with reason 18 (31.3 VMCALL Operation: the VM exit comes before the RFLAGS.VM = 1 #UD), instruction length 3",
        real(v86, &[0x0f, 0x01, 0xc1]),
        exit(reason::VMCALL),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, 0)],
    ),
    case(
        "vmread_in_compat_guest_is_ud",
        "VMREAD in a compatibility-mode guest is #UD, not a VM exit (31.3 VMREAD Operation: IA32_EFER.LMA = 1 and CS.L = 0 is #UD before \"in VMX non-root operation THEN VM exit\"); exception-bitmap bit 6: reason 0, interruption information 8000_0306H, at GUEST_RIP",
        launch(compat_ud_exits, vmread_compat),
        exit(reason::EXCEPTION_NMI),
        UD_AT_GUEST_RIP,
    ),
    case(
        "invept_in_compat_guest_is_ud",
        "INVEPT in a compatibility-mode guest is #UD, not a VM exit (31.3 INVEPT Operation); exception-bitmap bit 6: reason 0, interruption information 8000_0306H",
        launch(compat_ud_exits, invept_compat),
        exit(reason::EXCEPTION_NMI),
        UD_AT_GUEST_RIP,
    ),
    case(
        "vmxon_in_real_mode_guest_is_ud",
        "VMXON in an unrestricted real-address-mode guest (CR0.PE = 0) is #UD, not a VM exit (31.3 VMXON Operation); exception-bitmap bit 6: reason 0, interruption information 8000_0306H",
        real(real_ud_exits, &[0xf3, 0x0f, 0xc7, 0x36, 0x00, 0x00]),
        exit(reason::EXCEPTION_NMI),
        UD_AT_REAL_IP_0,
    ),
];
