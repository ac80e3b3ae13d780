//! Shared cases (see [`super::cases`]) that close coverage gaps:
//! - every VMX instruction in VMX non-root operation (SDM Vol. 3C 26.1.2): exit reason, exit
//!   qualification (28.2.1: the displacement, sign-extended, for a memory operand; 0 for a
//!   register operand and for the instructions without one), instruction length (28.2.4) and
//!   instruction information (28.2.5 tables for VMCLEAR/VMPTRLD/VMPTRST/VMXON, for VMREAD/VMWRITE
//!   and for INVEPT/INVPCID/INVVPID; undefined bits masked);
//! - INVEPT and INVVPID in VMX root operation (31.3 INVEPT, INVVPID): every type the default
//!   profile offers succeeds, VMfailValid(28) for unsupported types, reserved descriptor bits,
//!   VPID 0 and a non-canonical address; the type is checked before the descriptor is read
//!   (the pseudocode reads the memory operand only for a supported type); and after a change
//!   of the EPT or of the guest's page tables, INVEPT/INVVPID make the new translation the one
//!   the guest uses;
//! - EPT as the guest sees it (29.3): a violation for each R/W/X leaf setting and access kind
//!   with the full qualification (28.2.1 table "Exit Qualification for EPT Violations": bits
//!   2:0 access, 5:3 the permissions ANDed over the walk, 7 linear address valid, 8 access to
//!   the translated address (1) or to a guest paging-structure entry (0), 12 NMI unblocking due
//!   to IRET), the guest-linear and guest-physical address fields; execute-only pages
//!   (IA32_VMX_EPT_VPID_CAP bit 0); 2-MByte and 1-GByte pages; accessed and dirty flags with
//!   EPTP bit 6 (29.3.4, guest paging-structure accesses treated as writes, 29.3.3.2);
//!   misconfigurations (29.3.3.1); 4- and 5-level walks.
//!
//! Memory of these cases (beside [`super::layout`]'s): an EPT page directory for
//! guest-physical 4000_0000H-7FFF_FFFFH at [`EPT_PD`] (EPT PDPT entry 1 points there) whose
//! entry 0 points to the EPT page table [`EPT_PT`]; its entry 0 maps guest-physical 4000_0000H
//! (which the guest's identity paging maps at linear 4000_0000H) to [`DATA_PAGE`]. Every case
//! pokes each entry it uses (the kernel under Bochs does not clear these pages between cases).

#![allow(dead_code)]

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

/// EPT page directory for guest-physical GByte 1.
pub const EPT_PD: u64 = 0x54_0000;
/// EPT page table for guest-physical 4000_0000H-401F_FFFFH.
pub const EPT_PT: u64 = 0x54_1000;
/// The guest's own PML4 (cases with a guest CR3 of their own).
pub const G_PML4: u64 = 0x54_2000;
/// The guest's own PDPT.
pub const G_PDPT: u64 = 0x54_3000;
/// An EPT PML5 table (5-level EPT).
pub const EPT_PML5: u64 = 0x54_4000;
/// The guest's own page directory for linear GByte 1 (in guest-physical GByte 0).
pub const G_PD: u64 = 0x54_5000;
/// What EPT_PT entry 0 maps (host-physical).
pub const DATA_PAGE: u64 = 0x55_0000;
/// What EPT_PT entry 1 maps (host-physical): the guest page directory of the A/D cases.
pub const DATA_PAGE2: u64 = 0x55_1000;
/// A second data page (INVEPT case).
pub const DATA_PAGE3: u64 = 0x55_2000;
/// 2-MByte aligned host-physical areas (2-MByte EPT page, INVVPID case).
pub const BIG_A: u64 = 0x100_0000;
pub const BIG_B: u64 = 0x120_0000;
/// Guest-physical (and linear) address of the test page.
pub const GPA: u64 = 0x4000_0000;
/// The value poked at DATA_PAGE + 8.
pub const V1: u64 = 0x1122_3344_5566_7788;
/// The value poked at DATA_PAGE3 + 8 and BIG_B + 8.
pub const V2: u64 = 0x99aa_bbcc_ddee_ff00;

/// Why the 5-level EPT cases do not run under Bochs.
const BOCHS_NO_5_LEVEL_EPT: &str = "Bochs 2.7's corei7_icelake_u does not offer 5-level EPT (IA32_VMX_EPT_VPID_CAP bit 7 = 0): VM entry fails its EPTP check";

/// EPT memory type WB in a leaf (bits 5:3).
const WB: u64 = 6 << 3;
/// EPT accessed (bit 8) and dirty (bit 9) flags.
const A: u64 = 1 << 8;
const D: u64 = 1 << 9;

/// EPT-violation qualification bits (28.2.1).
const Q_READ: u64 = 1;
const Q_WRITE: u64 = 2;
const Q_FETCH: u64 = 4;
const Q_GLA: u64 = 1 << 7;
const Q_TRANSLATION: u64 = 1 << 8;
const Q_NMI_UNBLOCK: u64 = 1 << 12;
/// Permission bits 5:3 of the qualification for leaf bits 2:0 = `rwx` (the upper levels are
/// RWX).
const fn q_perm(rwx: u64) -> u64 {
    (rwx & 7) << 3
}

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

/// Instruction information for VMCLEAR, VMPTRLD, VMPTRST and VMXON with base and index (28.2.5):
/// scaling 1:0, address size 9:7, bit 10 (cleared), segment 17:15, index 21:18, index invalid
/// 22, base 26:23, base invalid 27.
const MEM_FULL: u64 = 3 | 7 << 7 | 1 << 10 | 7 << 15 | 0xf << 18 | 1 << 22 | 0xf << 23 | 1 << 27;
/// The same without an index (scaling and index undefined).
const MEM_NO_INDEX: u64 = 7 << 7 | 1 << 10 | 7 << 15 | 1 << 22 | 0xf << 23 | 1 << 27;
/// VMREAD/VMWRITE with a memory operand, base and index (28.2.5): the memory bits, mem/reg
/// (bit 10 = 0) and Reg2 31:28 (Reg1 6:3 is undefined).
const VMRW_MEM_FULL: u64 = 3 | 7 << 7 | 1 << 10 | 7 << 15 | 0xf << 18 | 1 << 22 | 0xf << 23 | 1 << 27 | 0xf << 28;
/// VMREAD/VMWRITE with a memory operand without index.
const VMRW_MEM_NO_INDEX: u64 = 7 << 7 | 1 << 10 | 7 << 15 | 1 << 22 | 0xf << 23 | 1 << 27 | 0xf << 28;
/// VMREAD/VMWRITE with a register operand: Reg1 6:3, mem/reg 10, Reg2 31:28.
const VMRW_REG: u64 = 0xf << 3 | 1 << 10 | 0xf << 28;
/// INVEPT/INVVPID with base and index: scaling, address size, segment, index, index invalid,
/// base, base invalid, Reg2 (bit 10 is undefined in this table).
const INV_FULL: u64 = 3 | 7 << 7 | 7 << 15 | 0xf << 18 | 1 << 22 | 0xf << 23 | 1 << 27 | 0xf << 28;

const DS: u64 = 3 << 15;
const SS: u64 = 2 << 15;
const FS: u64 = 4 << 15;
const A64: u64 = 2 << 7;
const A32: u64 = 1 << 7;
const NO_INDEX: u64 = 1 << 22;
const fn base(r: u64) -> u64 {
    r << 23
}
const fn index(r: u64) -> u64 {
    r << 18
}
const fn reg2(r: u64) -> u64 {
    r << 28
}

/// A VMX-instruction exit case: reason, qualification, length and masked information.
const fn vmx_exit(name: &'static str, doc: &'static str, guest: AsmFn, r: u32, checks: &'static [FieldCheck]) -> Case {
    case(name, doc, launch(nothing, guest), exit(r), checks)
}

/// An INVEPT/INVVPID case in VMX root operation: descriptor at SCRATCH (two quadwords).
fn inv(a: &mut CodeAssembler, invept: bool, ty: u64) -> Result<(), IcedError> {
    a.mov(rax, ty)?;
    a.mov(rbx, SCRATCH)?;
    if invept { a.invept(rax, xmmword_ptr(rbx)) } else { a.invvpid(rax, xmmword_ptr(rbx)) }
}

/// Reads the qword at linear GPA + 8 into RBX (the EPT read cases; RAX = GPA + 8).
fn read_gpa(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, GPA + 8)?;
    a.mov(rbx, qword_ptr(rax))
}
/// [`read_gpa`], then HLT (so that a processor that does not fault stops at a known place).
fn read_gpa_hlt(a: &mut CodeAssembler) -> Result<(), IcedError> {
    read_gpa(a)?;
    a.hlt()
}
/// Writes RBX to linear GPA + 8.
fn write_gpa(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, GPA + 8)?;
    a.mov(qword_ptr(rax), rbx)
}
/// Jumps to linear GPA (a HLT is there).
fn fetch_gpa(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, GPA)?;
    a.jmp(rax)
}
/// Reads the qword at linear GPA + 8, stores it at SCRATCH, HLT.
fn read_gpa_to_scratch(a: &mut CodeAssembler) -> Result<(), IcedError> {
    read_gpa(a)?;
    a.mov(rcx, SCRATCH)?;
    a.mov(qword_ptr(rcx), rbx)?;
    a.hlt()
}

/// A 32-bit protected-mode guest without paging (unrestricted guest, 27.3.1.1): CR0 = PE|ET|NE,
/// "IA-32e mode guest" = 0, CS = 18H (32-bit code), the data segments flat 32-bit. Its code
/// (raw bytes) is at GUEST_RIP.
fn guest32(f: &mut Vec<(u32, u64)>) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, 1 << 7);
    let entry = get(f, enc::ENTRY_CONTROLS) & !(1 << 9);
    set(f, enc::ENTRY_CONTROLS, entry);
    set(f, enc::GUEST_CR0, 0x31);
    set(f, enc::GUEST_CR4, 0x2000);
    set(f, enc::GUEST_CS_SELECTOR, 0x18);
    set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b);
}

fn eptp_ad(f: &mut Vec<(u32, u64)>) {
    set(f, enc::EPT_POINTER, EPTP | 1 << 6);
}

/// The pokes of an EPT leaf case: EPT PDPT entry 1 -> EPT_PD, EPT_PD[0] -> EPT_PT, EPT_PT[0]
/// = DATA_PAGE with `rwx`, V1 at DATA_PAGE + 8 and a HLT (F4) at DATA_PAGE.
macro_rules! leaf_pokes {
    ($rwx:expr) => {
        &[
            poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7),
            poke(EPT_PD, 8, EPT_PT | 7),
            poke(EPT_PT, 8, DATA_PAGE | WB | $rwx),
            poke(DATA_PAGE, 8, 0xf4),
            poke(DATA_PAGE + 8, 8, V1),
        ]
    };
}

/// An EPT-violation case for leaf setting `rwx` and the access `guest` makes at linear =
/// guest-physical `addr`, expecting qualification `q` (bits 6 and 11:9 masked).
macro_rules! leaf_violation {
    ($name:expr, $doc:expr, $rwx:expr, $guest:expr, $addr:expr, $q:expr) => {
        Case {
            pokes: leaf_pokes!($rwx),
            ..case(
                $name,
                $doc,
                launch(nothing, $guest),
                exit(reason::EPT_VIOLATION),
                &[
                    masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, $q),
                    fld(enc::GUEST_PHYSICAL_ADDRESS, $addr),
                    fld(enc::GUEST_LINEAR_ADDRESS, $addr),
                ],
            )
        }
    };
}

/// The cases of this file.
pub static CASES: &[Case] = &[
    // ---- VMX instructions in VMX non-root operation (26.1.2, 28.2.1, 28.2.4, 28.2.5) ----
    vmx_exit(
        "vmclear_in_guest_exits",
        "VMCLEAR [RBX+RSI*8-20H] (66 0F C7 74 F3 E0) in non-root operation: reason 19, qualification = the displacement sign-extended (FFFF_FFFF_FFFF_FFE0H), length 6; information: scaling 3, 64-bit address, bit 10 = 0, DS, index RSI (6), base RBX (3)",
        |a| a.vmclear(qword_ptr(rbx + rsi * 8 - 0x20)),
        reason::VMCLEAR,
        &[
            fld(enc::EXIT_QUALIFICATION, 0xffff_ffff_ffff_ffe0),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 6),
            masked(enc::EXIT_INSTRUCTION_INFO, MEM_FULL, 3 | A64 | DS | index(6) | base(3)),
        ],
    ),
    vmx_exit(
        "vmlaunch_in_guest_exits",
        "VMLAUNCH (0F 01 C2) in non-root operation: reason 20, qualification 0 (28.2.1, no operand), length 3, RIP of the VMLAUNCH",
        |a| {
            a.nop()?;
            a.vmlaunch()
        },
        reason::VMLAUNCH,
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, GUEST_RIP + 1)],
    ),
    vmx_exit(
        "vmptrld_in_guest_sib_exits",
        "VMPTRLD [R13+R14*2+1234H] (43 0F C7 B4 75 34 12 00 00) in non-root operation: reason 21, qualification 1234H, length 9; information: scaling 1, 64-bit address, DS, index R14, base R13",
        |a| a.vmptrld(qword_ptr(r13 + r14 * 2 + 0x1234)),
        reason::VMPTRLD,
        &[fld(enc::EXIT_QUALIFICATION, 0x1234), fld(enc::EXIT_INSTRUCTION_LENGTH, 9), masked(enc::EXIT_INSTRUCTION_INFO, MEM_FULL, 1 | A64 | DS | index(14) | base(13))],
    ),
    vmx_exit(
        "vmptrst_in_guest_exits",
        "VMPTRST FS:[R12+100H] (64 41 0F C7 BC 24 00 01 00 00) in non-root operation: reason 22, qualification 100H, length 10; information: 64-bit address, FS (4), no index, base R12",
        |a| a.vmptrst(qword_ptr(r12 + 0x100).fs()),
        reason::VMPTRST,
        &[fld(enc::EXIT_QUALIFICATION, 0x100), fld(enc::EXIT_INSTRUCTION_LENGTH, 10), masked(enc::EXIT_INSTRUCTION_INFO, MEM_NO_INDEX, A64 | FS | NO_INDEX | base(12))],
    ),
    vmx_exit(
        "vmread_to_memory_in_guest_exits",
        "VMREAD [RSP+8], RAX (0F 78 44 24 08) in non-root operation: reason 23, qualification 8, length 5; information (VMREAD/VMWRITE table): 64-bit address, memory (bit 10 = 0), SS (the default with base RSP), no index, base RSP (4), Reg2 RAX (0)",
        |a| a.vmread(qword_ptr(rsp + 8), rax),
        reason::VMREAD,
        &[fld(enc::EXIT_QUALIFICATION, 8), fld(enc::EXIT_INSTRUCTION_LENGTH, 5), masked(enc::EXIT_INSTRUCTION_INFO, VMRW_MEM_NO_INDEX, A64 | SS | NO_INDEX | base(4) | reg2(0))],
    ),
    vmx_exit(
        "vmresume_in_guest_exits",
        "VMRESUME (0F 01 C3) in non-root operation: reason 24, qualification 0, length 3",
        |a| a.vmresume(),
        reason::VMRESUME,
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3)],
    ),
    vmx_exit(
        "vmwrite_register_in_guest_exits",
        "VMWRITE R10, R11 (4D 0F 79 D3) in non-root operation: reason 25, qualification 0 (register operand, 28.2.1), length 4; information: Reg1 R11 (the source, bits 6:3), register (bit 10), Reg2 R10 (the field encoding)",
        |a| a.vmwrite(r10, r11),
        reason::VMWRITE,
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 4), masked(enc::EXIT_INSTRUCTION_INFO, VMRW_REG, 11 << 3 | 1 << 10 | reg2(10))],
    ),
    vmx_exit(
        "vmwrite_memory_addr32_in_guest_exits",
        "VMWRITE RDX, [EAX+ECX*2-10H] (67 0F 79 54 48 F0) in non-root operation: reason 25, qualification = the displacement sign-extended to 64 bits (FFFF_FFFF_FFFF_FFF0H, 28.2.1), length 6; information: scaling 1, 32-bit address (1), memory, DS, index ECX, base EAX, Reg2 RDX",
        |a| a.vmwrite(rdx, qword_ptr(eax + ecx * 2 - 0x10)),
        reason::VMWRITE,
        &[
            fld(enc::EXIT_QUALIFICATION, 0xffff_ffff_ffff_fff0),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 6),
            masked(enc::EXIT_INSTRUCTION_INFO, VMRW_MEM_FULL, 1 | A32 | DS | index(1) | base(0) | reg2(2)),
        ],
    ),
    vmx_exit(
        "vmxoff_in_guest_exits",
        "VMXOFF (0F 01 C4) in non-root operation: reason 26, qualification 0, length 3",
        |a| a.vmxoff(),
        reason::VMXOFF,
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3)],
    ),
    vmx_exit(
        "vmxon_in_guest_exits",
        "VMXON [RBP-8] (F3 0F C7 75 F8) in non-root operation: reason 27 (VMXON exits in non-root operation before any other check, 26.1.2), qualification FFFF_FFFF_FFFF_FFF8H, length 5; information: 64-bit address, SS (the default with base RBP), no index, base RBP (5)",
        |a| a.vmxon(qword_ptr(rbp - 8)),
        reason::VMXON,
        &[fld(enc::EXIT_QUALIFICATION, 0xffff_ffff_ffff_fff8), fld(enc::EXIT_INSTRUCTION_LENGTH, 5), masked(enc::EXIT_INSTRUCTION_INFO, MEM_NO_INDEX, A64 | SS | NO_INDEX | base(5))],
    ),
    vmx_exit(
        "invept_in_guest_full_information",
        "INVEPT RAX, [RBX+RCX+10H] (66 0F 38 80 44 0B 10) in non-root operation: reason 50, qualification 10H, length 7; information (INVEPT/INVPCID/INVVPID table): scaling 0, 64-bit address, DS, index RCX, base RBX, Reg2 RAX",
        |a| a.invept(rax, xmmword_ptr(rbx + rcx + 0x10)),
        reason::INVEPT,
        &[fld(enc::EXIT_QUALIFICATION, 0x10), fld(enc::EXIT_INSTRUCTION_LENGTH, 7), masked(enc::EXIT_INSTRUCTION_INFO, INV_FULL, A64 | DS | index(1) | base(3) | reg2(0))],
    ),
    vmx_exit(
        "invvpid_in_guest_exits",
        "INVVPID RCX, [RDI+R9*4+40H] (66 42 0F 38 81 4C 8F 40) in non-root operation: reason 53, qualification 40H, length 8; information: scaling 2, 64-bit address, DS, index R9, base RDI, Reg2 RCX",
        |a| a.invvpid(rcx, xmmword_ptr(rdi + r9 * 4 + 0x40)),
        reason::INVVPID,
        &[fld(enc::EXIT_QUALIFICATION, 0x40), fld(enc::EXIT_INSTRUCTION_LENGTH, 8), masked(enc::EXIT_INSTRUCTION_INFO, INV_FULL, 2 | A64 | DS | index(9) | base(7) | reg2(1))],
    ),
    vmx_exit(
        "vmcall_in_guest_qualification_0",
        "VMCALL (0F 01 C1) in non-root operation: reason 18, qualification 0 (28.2.1, \"all other VM exits\"), length 3, RIP of the VMCALL",
        |a| {
            a.nop()?;
            a.vmcall()
        },
        reason::VMCALL,
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, GUEST_RIP + 1)],
    ),
    case(
        "vmptrld_16bit_addressing_in_32bit_guest_exits",
        "A 32-bit protected-mode guest (unrestricted guest, CR0.PG = 0, CS 18H: 32-bit code) executes VMPTRLD [BX+SI-10H] (67 0F C7 70 F0, 16-bit addressing): reason 21, qualification = the 8-bit displacement sign-extended to 64 bits (FFFF_FFFF_FFFF_FFF0H, 28.2.1), length 5; information: 16-bit address size (0), DS, index SI (6), base BX (3) (28.2.5)",
        launch(guest32, |a| a.db(&[0x67, 0x0f, 0xc7, 0x70, 0xf0])),
        exit(reason::VMPTRLD),
        &[
            fld(enc::EXIT_QUALIFICATION, 0xffff_ffff_ffff_fff0),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 5),
            masked(enc::EXIT_INSTRUCTION_INFO, MEM_FULL & !3, DS | index(6) | base(3)),
        ],
    ),
    case(
        "vmptrld_disp16_only_in_32bit_guest_exits",
        "A 32-bit guest executes VMPTRLD [FFF0H] (67 0F C7 36 F0 FF: 16-bit addressing, displacement only): reason 21, qualification = the 16-bit displacement sign-extended (FFFF_FFFF_FFFF_FFF0H, 28.2.1), length 6; information: 16-bit address size (0), DS, no index, no base (bits 22 and 27) (28.2.5)",
        launch(guest32, |a| a.db(&[0x67, 0x0f, 0xc7, 0x36, 0xf0, 0xff])),
        exit(reason::VMPTRLD),
        &[
            fld(enc::EXIT_QUALIFICATION, 0xffff_ffff_ffff_fff0),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 6),
            masked(enc::EXIT_INSTRUCTION_INFO, 7 << 7 | 1 << 10 | 7 << 15 | 1 << 22 | 1 << 27, DS | NO_INDEX | 1 << 27),
        ],
    ),
    case(
        "vmclear_absolute_disp32_in_guest_exits",
        "VMCLEAR [1000H] in 64-bit mode (66 0F C7 34 25 00 10 00 00: SIB without base or index, 64-bit addressing): reason 19, qualification 1000H, length 9; information: 64-bit address size (2), DS, no index, no base (28.2.5)",
        launch(nothing, |a| a.db(&[0x66, 0x0f, 0xc7, 0x34, 0x25, 0x00, 0x10, 0x00, 0x00])),
        exit(reason::VMCLEAR),
        &[
            fld(enc::EXIT_QUALIFICATION, 0x1000),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 9),
            masked(enc::EXIT_INSTRUCTION_INFO, 7 << 7 | 1 << 10 | 7 << 15 | 1 << 22 | 1 << 27, A64 | DS | NO_INDEX | 1 << 27),
        ],
    ),
    case(
        "vmread_register_in_32bit_guest_exits",
        "A 32-bit protected-mode guest executes VMREAD ECX, EDX (0F 78 D1): reason 23, qualification 0, length 3; information: Reg1 ECX (1, the destination), register operand, Reg2 EDX (2, the encoding) (28.2.5)",
        launch(guest32, |a| a.db(&[0x0f, 0x78, 0xd1])),
        exit(reason::VMREAD),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), masked(enc::EXIT_INSTRUCTION_INFO, VMRW_REG, 1 << 3 | 1 << 10 | reg2(2))],
    ),
    // ---- Controls no other case sets (caps_consistency.rs every_offered_control_has_a_case) ----
    case(
        "mov_rsi_from_cr8_exits",
        "MOV RSI, CR8 (44 0F 20 C6) with \"CR8-store exiting\" (primary bit 20, 26.1.3): reason 28, qualification CR 8, access type 1 (MOV from CR, bits 5:4), register RSI (6, bits 11:8) (28.2.1), length 4",
        launch(|f| proc_or(f, 1 << 20), |a| a.mov(rsi, cr8)),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 8 | 1 << 4 | 6 << 8), fld(enc::EXIT_INSTRUCTION_LENGTH, 4)],
    ),
    case(
        "exit_saves_pat",
        "\"Save IA32_PAT\" (VM-exit control 18, 28.3.1): the guest writes IA32_PAT = 0001_0506_0407_0006H (MSR bitmaps all 0, no exit) and HLTs; the exit stores it in the guest IA32_PAT field",
        launch(
            |f| {
                proc_or(f, 1 << 28);
                set(f, enc::MSR_BITMAP, MSR_BITMAP);
                or(f, enc::EXIT_CONTROLS, 1 << 18);
            },
            |a| {
                a.mov(ecx, 0x277)?;
                a.mov(eax, 0x0407_0006)?;
                a.mov(edx, 0x0001_0506)?;
                a.wrmsr()?;
                a.hlt()
            },
        ),
        exit(reason::HLT),
        &[fld(enc::GUEST_PAT, 0x0001_0506_0407_0006)],
    ),
    case(
        "exit_saves_efer",
        "\"Save IA32_EFER\" (VM-exit control 20, 28.3.1): the guest clears IA32_EFER.SCE (bit 0) with WRMSR (MSR bitmaps all 0) and HLTs; the guest IA32_EFER field holds LME, LMA and NXE (0xD00)",
        launch(
            |f| {
                proc_or(f, 1 << 28);
                set(f, enc::MSR_BITMAP, MSR_BITMAP);
                or(f, enc::EXIT_CONTROLS, 1 << 20);
            },
            |a| {
                a.mov(ecx, 0xc000_0080u32)?;
                a.rdmsr()?;
                a.and(eax, !1)?;
                a.wrmsr()?;
                a.hlt()
            },
        ),
        exit(reason::HLT),
        &[fld(enc::GUEST_EFER, 0xd00)],
    ),
    // INVVPID at guest CPL 3: the VM exit comes before the CPL check (#GP(0) at CPL > 0 is only
    // for VMX root operation, 31.3 INVVPID "Operation"; 26.1.2).
    case(
        "invvpid_at_cpl3_in_guest_exits",
        "INVVPID RAX, [RBX] (66 0F 38 81 03) by a guest at CPL 3 (CS 33H, SS 2BH): reason 53 (the exit precedes the CPL check, 31.3 INVVPID Operation, 26.1.2), qualification 0, length 5",
        launch(
            |f| {
                set(f, enc::GUEST_CS_SELECTOR, 0x33);
                set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa0fb);
                set(f, enc::GUEST_SS_SELECTOR, 0x2b);
                set(f, enc::GUEST_SS_ACCESS_RIGHTS, 0xc0f3);
            },
            |a| a.invvpid(rax, xmmword_ptr(rbx)),
        ),
        exit(reason::INVVPID),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 5)],
    ),
    // ---- Monitor tracking (MONITOR, MWAIT in Vol. 2B; 28.2.1) ----
    case(
        "mwait_after_store_to_monitored_range",
        "MONITOR SCRATCH (not exiting) arms the monitoring hardware; a store to SCRATCH triggers it (MONITOR: \"a store to the address range triggers the monitoring hardware\"), so it is no longer armed when MWAIT (with \"MWAIT exiting\") exits: qualification bit 0 = 0 (28.2.1: set only if the monitoring hardware is armed), reason 36",
        launch(|f| proc_or(f, 1 << 10), |a| {
            a.mov(rax, SCRATCH)?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)?;
            a.monitor()?;
            a.mov(qword_ptr(rax), 1)?;
            a.mwait()
        }),
        exit(reason::MWAIT),
        &[fld(enc::EXIT_QUALIFICATION, 0)],
    ),
    // ---- INVEPT / INVVPID in VMX root operation (31.3) ----
    Case {
        pokes: &[poke(SCRATCH, 8, EPTP)],
        ..case(
            "invept_single_context_succeeds",
            "Single-context INVEPT (type 1, IA32_VMX_EPT_VPID_CAP bit 25) with a valid EPTP: VMsucceed (31.3 INVEPT)",
            Program::AfterLoad(|a| inv(a, true, 1)),
            Outcome::Succeed,
            &[],
        )
    },
    Case {
        pokes: &[poke(SCRATCH, 8, EPT_PML4 | 6)],
        ..case(
            "invept_single_context_bad_eptp_is_28",
            "Single-context INVEPT with an EPTP that VM entry would refuse (page-walk length 1, bits 5:3 = 0, 27.2.1.1): VMfailValid(28) (31.3 INVEPT)",
            Program::AfterLoad(|a| inv(a, true, 1)),
            Outcome::VmFailValid(28),
            &[],
        )
    },
    case("invept_type_3_is_28", "INVEPT type 3 (not defined): VMfailValid(28) (31.3 INVEPT)", Program::AfterLoad(|a| inv(a, true, 3)), Outcome::VmFailValid(28), &[]),
    case(
        "invept_type_uses_64_bits_is_28",
        "INVEPT with type register 1_0000_0002H: in 64-bit mode the type is all 64 bits of the register (31.3 INVEPT, \"the register operand is always 64 bits\"), not type 2: VMfailValid(28)",
        Program::AfterLoad(|a| inv(a, true, 1 << 32 | 2)),
        Outcome::VmFailValid(28),
        &[],
    ),
    case(
        "invept_unsupported_type_before_the_descriptor",
        "INVEPT type 0 with a non-canonical memory operand: the pseudocode checks the type against IA32_VMX_EPT_VPID_CAP before it reads the descriptor (31.3 INVEPT Operation), so VMfailValid(28), not #GP",
        Program::AfterLoad(|a| {
            a.xor(eax, eax)?;
            a.mov(rbx, 0x8000_0000_0000_0000u64)?;
            a.invept(rax, xmmword_ptr(rbx))
        }),
        Outcome::VmFailValid(28),
        &[],
    ),
    case(
        "invept_outside_vmx_operation_is_ud",
        "INVEPT with CR4.VMXE = 1 but outside VMX operation: #UD (31.3 INVEPT, the first check)",
        Program::Host(|a| inv(a, true, 2)),
        Outcome::Exception(6),
        &[],
    ),
    case(
        "invept_bad_descriptor_address_is_gp",
        "All-context INVEPT (supported) with a non-canonical memory operand: #GP(0) when it reads the descriptor (31.3 INVEPT, 64-Bit Mode Exceptions)",
        Program::AfterLoad(|a| {
            a.mov(eax, 2)?;
            a.mov(rbx, 0x8000_0000_0000_0000u64)?;
            a.invept(rax, xmmword_ptr(rbx))
        }),
        Outcome::Exception(13),
        &[],
    ),
    Case {
        pokes: &[poke(SCRATCH, 8, 1), poke(SCRATCH + 8, 8, 0x7fff_ffff_f000)],
        ..case("invvpid_individual_address_succeeds", "Individual-address INVVPID (type 0, CAP bit 40), VPID 1, canonical address: VMsucceed (31.3 INVVPID)", Program::AfterLoad(|a| inv(a, false, 0)), Outcome::Succeed, &[])
    },
    Case {
        pokes: &[poke(SCRATCH, 8, 1)],
        ..case("invvpid_single_context_succeeds", "Single-context INVVPID (type 1, CAP bit 41), VPID 1: VMsucceed (31.3 INVVPID)", Program::AfterLoad(|a| inv(a, false, 1)), Outcome::Succeed, &[])
    },
    case("invvpid_all_context_succeeds", "All-context INVVPID (type 2, CAP bit 42) with VPID 0 in the descriptor (not checked for this type): VMsucceed (31.3 INVVPID)", Program::AfterLoad(|a| inv(a, false, 2)), Outcome::Succeed, &[]),
    Case {
        pokes: &[poke(SCRATCH, 8, 0xffff)],
        ..case(
            "invvpid_single_context_retaining_globals_succeeds",
            "Single-context-retaining-globals INVVPID (type 3, CAP bit 43), VPID FFFFH: VMsucceed (31.3 INVVPID)",
            Program::AfterLoad(|a| inv(a, false, 3)),
            Outcome::Succeed,
            &[],
        )
    },
    Case {
        pokes: &[poke(SCRATCH + 8, 8, 0x1000)],
        ..case("invvpid_individual_address_vpid_0_is_28", "Individual-address INVVPID with VPID 0: VMfailValid(28) (31.3 INVVPID)", Program::AfterLoad(|a| inv(a, false, 0)), Outcome::VmFailValid(28), &[])
    },
    case(
        "invvpid_retaining_globals_vpid_0_is_28",
        "Single-context-retaining-globals INVVPID with VPID 0: VMfailValid(28) (31.3 INVVPID)",
        Program::AfterLoad(|a| inv(a, false, 3)),
        Outcome::VmFailValid(28),
        &[],
    ),
    Case {
        pokes: &[poke(SCRATCH, 8, 1), poke(SCRATCH + 8, 8, 0x8000_0000_0000_0000)],
        ..case(
            "invvpid_individual_address_noncanonical_is_28",
            "Individual-address INVVPID, VPID 1, linear address 8000_0000_0000_0000H (not canonical): VMfailValid(28) (31.3 INVVPID)",
            Program::AfterLoad(|a| inv(a, false, 0)),
            Outcome::VmFailValid(28),
            &[],
        )
    },
    Case {
        pokes: &[poke(SCRATCH, 8, 1 << 16 | 1)],
        ..case(
            "invvpid_descriptor_reserved_bits_is_28",
            "All-context INVVPID with descriptor bits 63:16 = 1: VMfailValid(28) (31.3 INVVPID: checked for every type)",
            Program::AfterLoad(|a| inv(a, false, 2)),
            Outcome::VmFailValid(28),
            &[],
        )
    },
    case("invvpid_type_4_is_28", "INVVPID type 4 (not defined): VMfailValid(28) (31.3 INVVPID)", Program::AfterLoad(|a| inv(a, false, 4)), Outcome::VmFailValid(28), &[]),
    case(
        "invvpid_unsupported_type_before_the_descriptor",
        "INVVPID type 4 with a non-canonical memory operand: the type is checked before the descriptor is read (31.3 INVVPID Operation): VMfailValid(28), not #GP",
        Program::AfterLoad(|a| {
            a.mov(eax, 4)?;
            a.mov(rbx, 0x8000_0000_0000_0000u64)?;
            a.invvpid(rax, xmmword_ptr(rbx))
        }),
        Outcome::VmFailValid(28),
        &[],
    ),
    case(
        "invvpid_outside_vmx_operation_is_ud",
        "INVVPID with CR4.VMXE = 1 but outside VMX operation: #UD (31.3 INVVPID)",
        Program::Host(|a| inv(a, false, 2)),
        Outcome::Exception(6),
        &[],
    ),
    case(
        "invept_register_operand_is_ud",
        "INVEPT with a register second operand (66 0F 38 80 C1: ModRM mod = 11b) in VMX root operation: #UD (31.3 INVEPT: the second operand is m128 only; an encoding without a memory operand is invalid)",
        Program::AfterLoad(|a| a.db(&[0x66, 0x0f, 0x38, 0x80, 0xc1])),
        Outcome::Exception(6),
        &[],
    ),
    case(
        "invvpid_register_operand_in_guest_is_ud_not_exit",
        "INVVPID with a register second operand (66 0F 38 81 C1) in non-root operation: #UD, which has priority over the VM exit for INVVPID (26.1.1: invalid-opcode exceptions come before instruction VM exits); exception-bitmap bit 6 makes it exit with reason 0, interruption information 8000_0306H",
        launch(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 6), |a| a.db(&[0x66, 0x0f, 0x38, 0x81, 0xc1])),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0306), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    // ---- INVEPT / INVVPID make a changed translation the one used ----
    Case {
        pokes: &[
            poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7),
            poke(EPT_PD, 8, EPT_PT | 7),
            poke(EPT_PT, 8, DATA_PAGE | WB | 7),
            poke(DATA_PAGE + 8, 8, V1),
            poke(DATA_PAGE3 + 8, 8, V2),
            poke(SCRATCH + 0x50, 8, EPTP),
            poke(SCRATCH + 0x58, 8, 0),
            poke(SCRATCH + 0x40, 8, 0),
        ],
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V1 }, MemCheck { addr: SCRATCH + 8, size: 8, value: V2 }],
        ..case(
            "invept_makes_the_new_ept_entry_used",
            "The guest reads guest-physical 4000_0008H (EPT page-table entry -> DATA_PAGE) and VMCALLs; the host points the EPT entry at DATA_PAGE3, executes single-context INVEPT for the EPTP (31.3 INVEPT; 29.4.3.1: stale mappings may remain until then) and VMRESUMEs past the VMCALL; the guest's second read returns DATA_PAGE3's value; the HLT exits (reason 12)",
            launch_then(nothing, reread_guest, change_ept_and_resume),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[
            poke(G_PML4, 8, G_PDPT | 7),
            poke(G_PDPT, 8, 0x1_2000 | 7),
            poke(G_PDPT + 8, 8, G_PD | 7),
            poke(G_PD, 8, BIG_A | 0xe7),
            poke(BIG_A + 8, 8, V1),
            poke(BIG_B + 8, 8, V2),
            poke(SCRATCH + 0x50, 8, 1),
            poke(SCRATCH + 0x58, 8, 0),
            poke(SCRATCH + 0x40, 8, 0),
        ],
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V1 }, MemCheck { addr: SCRATCH + 8, size: 8, value: V2 }],
        ..case(
            "invvpid_makes_the_new_guest_pde_used",
            "With VPID 1 and the guest's own page tables, the guest reads linear 4000_0008H (a 2-MByte page at BIG_A) and VMCALLs; the host points the guest's PDE at BIG_B, executes single-context INVVPID for VPID 1 (31.3 INVVPID; 29.4.3.1) and VMRESUMEs past the VMCALL; the guest's second read returns BIG_B's value; the HLT exits",
            launch_then(
                |f| {
                    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, 1 << 5);
                    set(f, enc::VPID, 1);
                    set(f, enc::GUEST_CR3, G_PML4);
                },
                reread_guest,
                change_pde_and_resume,
            ),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- EPT violations: each leaf R/W/X setting and access (29.3.3.2, 28.2.1) ----
    leaf_violation!("ept_read_not_present", "Read of a guest-physical page whose EPT PTE has bits 2:0 = 000b: reason 48, qualification read (bit 0), permissions 0 (bits 5:3), linear address valid (7), translation (8); guest-linear and guest-physical address 4000_0008H", 0, read_gpa, GPA + 8, Q_READ | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_read_execute_only", "Read of an execute-only page (bits 2:0 = 100b, allowed by IA32_VMX_EPT_VPID_CAP bit 0): EPT violation, read, permission bits 5:3 = 100b (executable)", 4, read_gpa, GPA + 8, Q_READ | q_perm(4) | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_write_not_present", "Write to a not-present page: EPT violation, write (bit 1), permissions 0", 0, write_gpa, GPA + 8, Q_WRITE | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_write_read_only", "Write to a read-only page (001b): EPT violation, write, permissions readable (bit 3)", 1, write_gpa, GPA + 8, Q_WRITE | q_perm(1) | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_write_execute_only", "Write to an execute-only page (100b): EPT violation, write, permissions executable (bit 5)", 4, write_gpa, GPA + 8, Q_WRITE | q_perm(4) | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_write_read_execute", "Write to a read/execute page (101b): EPT violation, write, permissions readable and executable", 5, write_gpa, GPA + 8, Q_WRITE | q_perm(5) | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_fetch_not_present", "Instruction fetch from a not-present page: EPT violation, fetch (bit 2), permissions 0, guest-linear and guest-physical address 4000_0000H", 0, fetch_gpa, GPA, Q_FETCH | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_fetch_read_only", "Instruction fetch from a read-only page (001b): EPT violation, fetch, permissions readable", 1, fetch_gpa, GPA, Q_FETCH | q_perm(1) | Q_GLA | Q_TRANSLATION),
    leaf_violation!("ept_fetch_read_write", "Instruction fetch from a read/write page (011b): EPT violation, fetch, permissions readable and writable", 3, fetch_gpa, GPA, Q_FETCH | q_perm(3) | Q_GLA | Q_TRANSLATION),
    Case {
        pokes: leaf_pokes!(1),
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V1 }],
        ..case("ept_read_read_only_succeeds", "Read of a read-only 4-KByte EPT page (001b) mapping guest-physical 4000_0000H to DATA_PAGE returns DATA_PAGE's data; the HLT exits", launch(nothing, read_gpa_to_scratch), exit(reason::HLT), &[])
    },
    Case {
        pokes: leaf_pokes!(4),
        ..case(
            "ept_fetch_execute_only_succeeds",
            "Instruction fetch from an execute-only page (100b, IA32_VMX_EPT_VPID_CAP bit 0): the HLT there is fetched and exits (reason 12) with the RIP of the HLT, 4000_0000H (28.3.3)",
            launch(nothing, fetch_gpa),
            exit(reason::HLT),
            &[fld(enc::GUEST_RIP, GPA)],
        )
    },
    Case {
        pokes: leaf_pokes!(3),
        mem: &[MemCheck { addr: DATA_PAGE + 8, size: 8, value: 0x77 }],
        ..case(
            "ept_write_read_write_succeeds",
            "A write to a read/write page (011b) lands in DATA_PAGE",
            launch(nothing, |a| {
                a.mov(ebx, 0x77)?;
                write_gpa(a)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[
            poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7),
            poke(EPT_PD, 8, EPT_PT | 7),
            poke(EPT_PT, 8, DATA_PAGE | WB | 7),
            poke(EPT_PT + 8, 8, 0),
            poke(DATA_PAGE + 0xfe0, 8, GUEST_RIP),
            poke(DATA_PAGE + 0xfe8, 8, 0x08),
            poke(DATA_PAGE + 0xff0, 8, 2),
            poke(DATA_PAGE + 0xff8, 8, GUEST_RSP),
        ],
        ..case(
            "ept_violation_on_iret_sets_nmi_unblocking",
            "With \"NMI exiting\" and \"virtual NMIs\" and virtual-NMI blocking (interruptibility bit 3), an IRETQ with RSP = 4000_0FE0H: RIP, CS (08H), RFLAGS and RSP are valid and on a mapped page, SS (RSP + 32) on a not-present EPT page (EPT PTE 1 is 0), so whatever order the processor reads and checks the frame in, the access to 4000_1000H faults: EPT violation, read, linear, translation and bit 12 \"NMI unblocking due to IRET\" (28.2.1); the saved interruptibility state no longer has blocking by NMI: the IRET removed it, and re-establishing it for a re-executed IRET is the VMM's job (28.2.3)",
            launch(
                |f| {
                    or(f, enc::PIN_BASED_CONTROLS, 1 << 3 | 1 << 5);
                    set(f, enc::GUEST_INTERRUPTIBILITY, 1 << 3);
                },
                |a| {
                    a.mov(rsp, GPA + 0x1000 - 0x20)?;
                    a.iretq()
                },
            ),
            exit(reason::EPT_VIOLATION),
            &[
                masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, Q_READ | Q_GLA | Q_TRANSLATION | Q_NMI_UNBLOCK),
                fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 0x1000),
                masked(enc::GUEST_INTERRUPTIBILITY, 1 << 3, 0),
            ],
        )
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7), poke(EPT_PD, 8, EPT_PT | 7), poke(EPT_PT, 8, DATA_PAGE | WB | 7), poke(EPT_PT + 8, 8, 0), poke(DATA_PAGE + 0xfe8, 8, 0)],
        ..case(
            "iret64_pops_the_whole_frame_before_checking_cs",
            "IRETQ in 64-bit mode with a null CS in its frame and SS (RSP + 32) on a not-present EPT page: the IA-32e-mode IRET pseudocode (Vol. 2A IRET: with a 64-bit operand size tempRIP, tempCS, tempEFLAGS, tempRSP and tempSS are popped, then IA-32e-MODE-RETURN checks) pops the whole frame before any check, so the SS access is an EPT violation (reason 48, guest-physical 4000_1000H) before the null-CS #GP (which would be delivered to the guest's IDT stub, whose HLT exits with reason 12)",
            launch(nothing, |a| {
                a.mov(rsp, GPA + 0x1000 - 0x20)?;
                a.iretq()
            }),
            exit(reason::EPT_VIOLATION),
            &[fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 0x1000)],
        )
    },
    Case {
        pokes: leaf_pokes!(5),
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V1 }],
        ..case("ept_read_read_execute_succeeds", "Read of a read/execute page (101b) returns DATA_PAGE's data; the HLT exits", launch(nothing, read_gpa_to_scratch), exit(reason::HLT), &[])
    },
    Case {
        pokes: leaf_pokes!(5),
        ..case("ept_fetch_read_execute_succeeds", "Instruction fetch from a read/execute page (101b): the HLT there exits with its RIP 4000_0000H", launch(nothing, fetch_gpa), exit(reason::HLT), &[fld(enc::GUEST_RIP, GPA)])
    },
    Case {
        pokes: leaf_pokes!(7),
        mem: &[MemCheck { addr: DATA_PAGE + 8, size: 8, value: 0x66 }],
        ..case(
            "ept_write_read_write_execute_succeeds",
            "A write to a read/write/execute page (111b) lands in DATA_PAGE",
            launch(nothing, |a| {
                a.mov(ebx, 0x66)?;
                write_gpa(a)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[poke(SCRATCH + 8, 8, V2)],
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V2 }],
        ..case(
            "ept_eptp_memory_type_uc",
            "EPTP memory type UC (bits 2:0 = 0, offered by IA32_VMX_EPT_VPID_CAP bit 8; 27.2.1.1 allows it): the entry succeeds and the guest reads through the EPT",
            launch(
                |f| set(f, enc::EPT_POINTER, EPTP & !7),
                |a| {
                    a.mov(rax, SCRATCH + 8)?;
                    a.mov(rbx, qword_ptr(rax))?;
                    a.mov(qword_ptr(rax - 8), rbx)?;
                    a.hlt()
                },
            ),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- EPT misconfigurations (29.3.3.1) ----
    Case {
        pokes: leaf_pokes!(6),
        ..case("ept_misconfig_write_execute_leaf", "An EPT PTE with bits 2:0 = 110b (write/execute without read): reason 49, qualification 0, guest-physical address 4000_0008H", launch(nothing, read_gpa_hlt), exit(reason::EPT_MISCONFIG), &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 8)])
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7), poke(EPT_PD, 8, EPT_PT | 7), poke(EPT_PT, 8, DATA_PAGE | 2 << 3 | 7)],
        ..case("ept_misconfig_memory_type_2", "An EPT PTE with memory type 2 (reserved, bits 5:3): reason 49, guest-physical address 4000_0008H", launch(nothing, read_gpa_hlt), exit(reason::EPT_MISCONFIG), &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 8)])
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7), poke(EPT_PD, 8, EPT_PT | 1 << 3 | 7), poke(EPT_PT, 8, DATA_PAGE | WB | 7)],
        ..case("ept_misconfig_pde_reserved_bit_3", "A non-leaf EPT PDE with bit 3 set (reserved, bits 6:3 of an entry referencing a page table): reason 49", launch(nothing, read_gpa_hlt), exit(reason::EPT_MISCONFIG), &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 8)])
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, 1 << 30 | 1 << 12 | 0x80 | WB | 7)],
        ..case("ept_misconfig_1g_page_reserved_bits", "A 1-GByte EPT PDPTE with bit 12 set (bits 29:12 are reserved): reason 49", launch(nothing, read_gpa_hlt), exit(reason::EPT_MISCONFIG), &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 8)])
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7), poke(EPT_PD, 8, EPT_PT | 7), poke(EPT_PT, 8, 0)],
        ..case("ept_not_present_beats_nothing", "A not-present EPT PTE (bits 2:0 = 000b) with the other bits 0 is not a misconfiguration: the read is an EPT violation (reason 48)", launch(nothing, read_gpa), exit(reason::EPT_VIOLATION), &[fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 8)])
    },
    // ---- Large EPT pages (29.3.2) ----
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7), poke(EPT_PD, 8, BIG_A | 0x80 | WB | 7), poke(BIG_A + 0x1_2348, 8, V1)],
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V1 }],
        ..case(
            "ept_2m_page_maps_its_offset",
            "An EPT PDE with bit 7 maps a 2-MByte page: guest-physical 4001_2348H reads BIG_A + 12348H",
            launch(nothing, |a| {
                a.mov(rax, GPA + 0x1_2348)?;
                a.mov(rbx, qword_ptr(rax))?;
                a.mov(rcx, SCRATCH)?;
                a.mov(qword_ptr(rcx), rbx)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7), poke(EPT_PD, 8, BIG_A | 0x80 | WB | 5)],
        ..case(
            "ept_2m_page_write_violation",
            "A write to a read/execute 2-MByte EPT page at guest-physical 4001_2348H: EPT violation, write, permissions readable and executable, address 4001_2348H",
            launch(nothing, |a| {
                a.mov(rax, GPA + 0x1_2348)?;
                a.mov(qword_ptr(rax), rbx)
            }),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, Q_WRITE | q_perm(5) | Q_GLA | Q_TRANSLATION), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 0x1_2348)],
        )
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 8, 8, 0x80 | WB | 7), poke(SCRATCH + 8, 8, V2)],
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V2 }],
        ..case(
            "ept_1g_page_maps_its_offset",
            "An EPT PDPTE with bit 7 maps a 1-GByte page: guest-physical GByte 1 onto host-physical 0, so linear 4000_0000H + SCRATCH + 8 reads SCRATCH + 8",
            launch(nothing, |a| {
                a.mov(rax, GPA + SCRATCH + 8)?;
                a.mov(rbx, qword_ptr(rax))?;
                a.mov(rcx, SCRATCH)?;
                a.mov(qword_ptr(rcx), rbx)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- Accessed and dirty flags (29.3.4) ----
    Case {
        pokes: leaf_pokes!(7),
        mem: &[MemCheck { addr: EPT_PT, size: 8, value: DATA_PAGE | WB | 7 | A }, MemCheck { addr: EPT_PD, size: 8, value: EPT_PT | 7 | A }],
        ..case(
            "ept_ad_read_sets_accessed",
            "EPTP bit 6 = 1: a read through EPT_PD[0] and EPT_PT[0] sets the accessed flag (bit 8) in both, and not the dirty flag (bit 9) of the leaf (29.3.4)",
            launch(eptp_ad, read_gpa_to_scratch),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: leaf_pokes!(3),
        mem: &[MemCheck { addr: EPT_PT, size: 8, value: DATA_PAGE | WB | 3 | A | D }],
        ..case(
            "ept_ad_write_sets_dirty",
            "EPTP bit 6 = 1: a write through the EPT PTE sets its accessed and dirty flags (29.3.4)",
            launch(eptp_ad, |a| {
                write_gpa(a)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[
            poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7),
            poke(EPT_PD, 8, EPT_PT | 7),
            poke(EPT_PT, 8, DATA_PAGE | WB | 7),
            poke(EPT_PT + 8, 8, DATA_PAGE2 | WB | 7),
            poke(DATA_PAGE + 8, 8, V1),
            poke(DATA_PAGE2, 8, GPA | 0xa7),
            poke(G_PML4, 8, G_PDPT | 7),
            poke(G_PDPT, 8, 0x1_2000 | 7),
            poke(G_PDPT + 8, 8, (GPA + 0x1000) | 0x27),
        ],
        mem: &[MemCheck { addr: EPT_PT + 8, size: 8, value: DATA_PAGE2 | WB | 7 | A | D }, MemCheck { addr: EPT_PT, size: 8, value: DATA_PAGE | WB | 7 | A }, MemCheck { addr: SCRATCH, size: 8, value: V1 }],
        ..case(
            "ept_ad_guest_paging_structure_is_a_write",
            "EPTP bit 6 = 1 and a guest page directory at guest-physical 4000_1000H (EPT_PT[1]): a read of linear 4000_0008H reads the guest PDE, which counts as a write for EPT (29.3.4: accessed and dirty set in EPT_PT[1]); the data read sets only the accessed flag of EPT_PT[0]",
            launch(
                |f| {
                    eptp_ad(f);
                    set(f, enc::GUEST_CR3, G_PML4);
                },
                read_gpa_to_scratch,
            ),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[
            poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7),
            poke(EPT_PD, 8, EPT_PT | 7),
            poke(EPT_PT, 8, DATA_PAGE | WB | 7),
            poke(EPT_PT + 8, 8, DATA_PAGE2 | WB | 1),
            poke(DATA_PAGE2, 8, GPA | 0xa7),
            poke(G_PML4, 8, G_PDPT | 7),
            poke(G_PDPT, 8, 0x1_2000 | 7),
            poke(G_PDPT + 8, 8, (GPA + 0x1000) | 0x27),
        ],
        ..case(
            "ept_ad_read_only_guest_pd_is_a_write_violation",
            "EPTP bit 6 = 1 and the guest page directory on a read-only EPT page: the guest's read of its PDE is treated as a write (29.3.3.2), so an EPT violation with qualification bits 0 and 1 both set (28.2.1), permissions readable, linear address valid, bit 8 = 0 (an access to a guest paging-structure entry); guest-physical address = the PDE (4000_1000H), guest-linear 4000_0008H",
            launch(
                |f| {
                    eptp_ad(f);
                    set(f, enc::GUEST_CR3, G_PML4);
                },
                read_gpa,
            ),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, Q_READ | Q_WRITE | q_perm(1) | Q_GLA), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 0x1000), fld(enc::GUEST_LINEAR_ADDRESS, GPA + 8)],
        )
    },
    Case {
        pokes: &[
            poke(EPT_PML4 + 0x1000 + 8, 8, EPT_PD | 7),
            poke(EPT_PD, 8, EPT_PT | 7),
            poke(EPT_PT + 8, 8, 0),
            poke(G_PML4, 8, G_PDPT | 7),
            poke(G_PDPT, 8, 0x1_2000 | 7),
            poke(G_PDPT + 8, 8, (GPA + 0x1000) | 0x27),
        ],
        ..case(
            "ept_violation_on_guest_pde",
            "A guest page directory on a not-present EPT page (EPTP bit 6 = 0): the walk's read of the PDE is an EPT violation, read, linear address valid, bit 8 = 0 (guest paging-structure access, 28.2.1); guest-physical address 4000_1000H, guest-linear 4000_0008H",
            launch(|f| set(f, enc::GUEST_CR3, G_PML4), read_gpa),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, Q_READ | Q_GLA), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 0x1000), fld(enc::GUEST_LINEAR_ADDRESS, GPA + 8)],
        )
    },
    // ---- 5-level EPT (25.6.11, IA32_VMX_EPT_VPID_CAP bit 7) ----
    Case {
        bochs: Some(BOCHS_NO_5_LEVEL_EPT),
        pokes: &[poke(EPT_PML5, 8, EPT_PML4 | 7), poke(SCRATCH + 8, 8, V2)],
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: V2 }],
        ..case(
            "ept_5_level_walk",
            "EPTP with page-walk length 5 (bits 5:3 = 4, offered by IA32_VMX_EPT_VPID_CAP bit 7) whose PML5 entry 0 points to the 4-level tables: the guest reads SCRATCH + 8 and stores it at SCRATCH; the HLT exits",
            launch(
                |f| set(f, enc::EPT_POINTER, EPT_PML5 | 6 | 4 << 3),
                |a| {
                    a.mov(rax, SCRATCH + 8)?;
                    a.mov(rbx, qword_ptr(rax))?;
                    a.mov(qword_ptr(rax - 8), rbx)?;
                    a.hlt()
                },
            ),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        bochs: Some(BOCHS_NO_5_LEVEL_EPT),
        pokes: &[poke(EPT_PML5, 8, EPT_PML4 | 7), poke(EPT_PML4 + 0x1000 + 8, 8, 0)],
        ..case(
            "ept_5_level_violation",
            "5-level EPT with the EPT PDPT entry for GByte 1 cleared: a read of guest-physical 4000_0008H is an EPT violation (read, linear, translation) with guest-physical address 4000_0008H",
            launch(|f| set(f, enc::EPT_POINTER, EPT_PML5 | 6 | 4 << 3), read_gpa),
            exit(reason::EPT_VIOLATION),
            &[masked(enc::EXIT_QUALIFICATION, EPT_QUAL_COMMON, Q_READ | Q_GLA | Q_TRANSLATION), fld(enc::GUEST_PHYSICAL_ADDRESS, GPA + 8)],
        )
    },
];

/// The guest of the INVEPT/INVVPID cases: reads linear 4000_0008H into SCRATCH, VMCALL, reads
/// it again into SCRATCH + 8, HLT (the host clobbers the registers in between).
fn reread_guest(a: &mut CodeAssembler) -> Result<(), IcedError> {
    for slot in [SCRATCH, SCRATCH + 8] {
        read_gpa(a)?;
        a.mov(rcx, slot)?;
        a.mov(qword_ptr(rcx), rbx)?;
        if slot == SCRATCH {
            a.vmcall()?;
        }
    }
    a.hlt()
}

/// At HOST_RIP, first exit only (counter at SCRATCH + 40H): `change`, then RIP += the exit's
/// instruction length, VMRESUME. Later exits fall through.
fn once_then_resume(a: &mut CodeAssembler, change: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Result<(), IcedError> {
    let mut done = a.create_label();
    a.mov(rbx, SCRATCH + 0x40)?;
    a.inc(qword_ptr(rbx))?;
    a.cmp(qword_ptr(rbx), 1)?;
    a.jne(done)?;
    change(a)?;
    a.mov(eax, enc::GUEST_RIP)?;
    a.vmread(rcx, rax)?;
    a.mov(edx, enc::EXIT_INSTRUCTION_LENGTH)?;
    a.vmread(rdx, rdx)?;
    a.add(rcx, rdx)?;
    a.vmwrite(rax, rcx)?;
    a.vmresume()?;
    a.set_label(&mut done)?;
    a.nop()
}

fn change_ept_and_resume(a: &mut CodeAssembler) -> Result<(), IcedError> {
    once_then_resume(a, &|a| {
        a.mov(rbx, EPT_PT)?;
        a.mov(rax, DATA_PAGE3 | WB | 7)?;
        a.mov(qword_ptr(rbx), rax)?;
        a.mov(eax, 1)?;
        a.mov(rbx, SCRATCH + 0x50)?;
        a.invept(rax, xmmword_ptr(rbx))
    })
}

fn change_pde_and_resume(a: &mut CodeAssembler) -> Result<(), IcedError> {
    once_then_resume(a, &|a| {
        a.mov(rbx, G_PD)?;
        a.mov(rax, BIG_B | 0xe7)?;
        a.mov(qword_ptr(rbx), rax)?;
        a.mov(eax, 1)?;
        a.mov(rbx, SCRATCH + 0x50)?;
        a.invvpid(rax, xmmword_ptr(rbx))
    })
}
