//! The conformance cases that run in two places: in hvbench's sandbox
//! (`vmx/tests/conformance.rs`, [`super::run_case`]) and as multiboot2 kernels under
//! `hvbench run` and under Bochs with VT-x (`harness/tests/vmx_oracle.rs`). Each case is data:
//! a host program, the fields it edits in the valid VMCS of [`super::layout::valid_vmcs`], its
//! guest code, memory it sets up, and what the SDM says it ends with. Both runners turn the
//! outcome into the same transcript ([`expected_lines`] gives the SDM's), one line per value:
//!
//! ```text
//! cpuid_exits kind=0000000000000002
//! cpuid_exits exit_reason=000000000000000a
//! ```
//!
//! Only values the SDM defines for the outcome are printed: an exit's reason, the fields the
//! SDM saves for that exit (Vol. 3C 28.2.1 exit qualification, 28.2.4 instruction length,
//! 28.2.5 instruction information, with undefined bits masked), RFLAGS.CF/ZF after a VMX
//! instruction (31.2), the VM-instruction error (31.4); never revision identifiers or
//! capability MSRs. Cases that depend on timing, on a bus with interrupts, on hvbench's VMCS
//! memory layout or on a non-default profile stay sandbox-only (`conformance.rs` and the other
//! test files); cases that boot under hvbench but that Bochs cannot run have [`Case::bochs`]
//! set to the reason. [`all`] gives every case: [`CASES`] here, then those of `cases_exits.rs`
//! (instruction exits, MTF, timer, TSC offsetting) and `cases_events.rs` (guest-state entry
//! checks, virtual NMIs, task switches, VMFUNC).

#![allow(dead_code)]

use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

/// Emits code.
pub type AsmFn = fn(&mut CodeAssembler) -> Result<(), IcedError>;

/// How the case's host program runs. Every program ends with an epilogue that saves RFLAGS
/// at RESULT_FLAGS, sets RESULT_KIND to [`KIND_VMFAIL`] ("fell through") and stops; the code
/// at HOST_RIP sets RESULT_KIND to [`KIND_EXIT`], runs `at_exit`, saves RFLAGS and stops.
#[derive(Clone, Copy)]
pub enum Program {
    /// VMXON, VMCLEAR, VMPTRLD, a VMWRITE per field of the valid VMCS (`guest` kind) edited
    /// by `fields`, VMLAUNCH.
    Launch {
        /// The guest's flavour.
        kind: GuestKind,
        /// Edits the VMCS.
        fields: fn(&mut Vec<(u32, u64)>),
        /// The guest.
        guest: Guest,
        /// Extra code at HOST_RIP after the exit.
        at_exit: Option<AsmFn>,
    },
    /// VMXON, VMCLEAR, VMPTRLD, then the code.
    AfterLoad(AsmFn),
    /// CR4.VMXE = 1, then the code.
    Host(AsmFn),
    /// The code, with CR4.VMXE = 0.
    Bare(AsmFn),
}

/// Guest code.
#[derive(Clone, Copy)]
pub enum Guest {
    /// 64-bit code assembled at GUEST_RIP.
    Asm(AsmFn),
    /// Bytes at REAL_GUEST (a real-mode guest).
    Real(&'static [u8]),
}

/// How the host program ends, per the SDM.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// The host resumed at HOST_RIP with this exit reason (bit 31 for a failed VM entry).
    Exit(u64),
    /// VMfailValid with this VM-instruction error (ZF = 1, CF = 0).
    VmFailValid(u64),
    /// VMfailInvalid (CF = 1, ZF = 0).
    VmFailInvalid,
    /// VMsucceed (CF = ZF = 0).
    Succeed,
    /// The host took this exception.
    Exception(u8),
}

/// RESULT_KIND after an exception in the host (the runners set it).
pub const KIND_EXCEPTION: u64 = 3;

impl Outcome {
    /// The RESULT_KIND this outcome leaves.
    pub fn kind(self) -> u64 {
        match self {
            Outcome::Exit(_) => KIND_EXIT,
            Outcome::Exception(_) => KIND_EXCEPTION,
            _ => KIND_VMFAIL,
        }
    }
}

/// A quadword (or smaller) the runner writes before the host program runs.
#[derive(Clone, Copy)]
pub struct Poke {
    /// Physical address.
    pub addr: u64,
    /// Bytes (1, 2, 4 or 8).
    pub size: u8,
    /// The value (ORed with the VMCS revision identifier if `rev`).
    pub value: u64,
    /// Add IA32_VMX_BASIC[30:0] (model-specific, so read at run time).
    pub rev: bool,
}

pub const fn poke(addr: u64, size: u8, value: u64) -> Poke {
    Poke { addr, size, value, rev: false }
}

/// A value the transcript shows: a VMCS field (VMREAD, ANDed with `mask`).
#[derive(Clone, Copy)]
pub struct FieldCheck {
    /// Field encoding.
    pub field: u32,
    /// Bits the SDM defines for this exit.
    pub mask: u64,
    /// The SDM's value (already masked).
    pub value: u64,
}

pub const fn fld(field: u32, value: u64) -> FieldCheck {
    FieldCheck { field, mask: u64::MAX, value }
}

/// A value the transcript shows: memory (`size` bytes).
#[derive(Clone, Copy)]
pub struct MemCheck {
    /// Physical address.
    pub addr: u64,
    /// Bytes.
    pub size: u8,
    /// The expected contents.
    pub value: u64,
}

/// One conformance case.
#[derive(Clone, Copy)]
pub struct Case {
    /// Name (the transcript's line prefix).
    pub name: &'static str,
    /// What it checks, with the SDM section.
    pub doc: &'static str,
    /// The host program.
    pub program: Program,
    /// Memory set up before the run.
    pub pokes: &'static [Poke],
    /// How it ends.
    pub outcome: Outcome,
    /// Fields shown after the outcome.
    pub fields: &'static [FieldCheck],
    /// Memory shown after the outcome.
    pub mem: &'static [MemCheck],
    /// A text hvbench's failure explanation must contain (sandbox only; "" for none).
    pub why: &'static str,
    /// A known hvbench deviation from the SDM: the line hvbench prints instead of the SDM's
    /// (the tests require exactly it, so that fixing hvbench shows up; the fix belongs in
    /// vmx/src, and then this is removed).
    pub hvbench_differs: Option<&'static str>,
    /// Why the case is left out of the Bochs kernel (None: booted under Bochs and compared
    /// line by line).
    pub bochs: Option<&'static str>,
}

/// Whether hvbench's transcript `got` is acceptable for `c`: the SDM's lines, or for a
/// known deviation ([`Case::hvbench_differs`]) anything else that contains the recorded line.
pub fn hvbench_matches(c: &Case, got: &[String]) -> bool {
    let want = expected_lines(c);
    match c.hvbench_differs {
        None => got == want.as_slice(),
        Some(l) => got != want.as_slice() && got.iter().any(|g| g == l),
    }
}

/// The transcript label of a field.
pub fn field_name(e: u32) -> String {
    let known: &[(u32, &str)] = &[
        (enc::EXIT_REASON, "exit_reason"),
        (enc::VM_INSTRUCTION_ERROR, "vm_instruction_error"),
        (enc::EXIT_QUALIFICATION, "exit_qualification"),
        (enc::EXIT_INSTRUCTION_LENGTH, "exit_instruction_length"),
        (enc::EXIT_INSTRUCTION_INFO, "exit_instruction_info"),
        (enc::EXIT_INTERRUPTION_INFO, "exit_interruption_info"),
        (enc::EXIT_INTERRUPTION_ERROR_CODE, "exit_interruption_error_code"),
        (enc::GUEST_LINEAR_ADDRESS, "guest_linear_address"),
        (enc::GUEST_PHYSICAL_ADDRESS, "guest_physical_address"),
        (enc::GUEST_RIP, "guest_rip"),
        (enc::GUEST_CS_SELECTOR, "guest_cs_selector"),
        (enc::GUEST_CR0, "guest_cr0"),
        (enc::GUEST_INTERRUPTIBILITY, "guest_interruptibility"),
        (enc::ENTRY_INTERRUPTION_INFO, "entry_interruption_info"),
        (enc::TSC_OFFSET, "tsc_offset"),
        (enc::IDT_VECTORING_INFO, "idt_vectoring_info"),
        (enc::EPT_POINTER, "ept_pointer"),
        (enc::GUEST_ACTIVITY_STATE, "guest_activity_state"),
        (enc::PREEMPTION_TIMER_VALUE, "preemption_timer_value"),
        (enc::GUEST_DR7, "guest_dr7"),
    ];
    known.iter().find(|k| k.0 == e).map(|k| k.1.to_string()).unwrap_or_else(|| format!("field_{e:04x}"))
}

/// One transcript line.
pub fn line(case: &str, label: &str, value: u64) -> String {
    format!("{case} {label}={value:016x}")
}

/// The labelled values a case shows, in order, with the SDM's values: `kind`, then (if the
/// kind is the expected one) the outcome's own values, the fields and the memory.
pub fn expected_lines(c: &Case) -> Vec<String> {
    let mut v = vec![line(c.name, "kind", c.outcome.kind())];
    for (label, value) in outcome_values(c.outcome) {
        v.push(line(c.name, label, value));
    }
    for f in c.fields {
        v.push(line(c.name, &field_name(f.field), f.value & f.mask));
    }
    for m in c.mem {
        v.push(line(c.name, &mem_label(m.addr), m.value));
    }
    v
}

/// The label of a memory check.
pub fn mem_label(addr: u64) -> String {
    format!("mem_{addr:x}")
}

/// The values an outcome shows after `kind`: ("exit_reason", VMREAD), ("rflags_cf_zf",
/// RFLAGS & (CF|ZF)) and ("vm_instruction_error", VMREAD), or ("vector", the recorded vector).
pub fn outcome_values(o: Outcome) -> Vec<(&'static str, u64)> {
    match o {
        Outcome::Exit(r) => vec![("exit_reason", r)],
        Outcome::VmFailValid(n) => vec![("rflags_cf_zf", ZF), ("vm_instruction_error", n)],
        Outcome::VmFailInvalid => vec![("rflags_cf_zf", CF)],
        Outcome::Succeed => vec![("rflags_cf_zf", 0)],
        Outcome::Exception(v) => vec![("vector", v as u64)],
    }
}

/// The host program of `c` (at `ip`), ending with `finish` (the sandbox: HLT; a kernel: a
/// jump to its report). `fields` is the VMCS the program writes (for Launch).
pub fn host_program(c: &Case, ip: u64, fields: &[(u32, u64)], finish: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    asm(ip, |a| {
        match c.program {
            Program::Launch { .. } => {
                vmxon_and_load(a)?;
                for (f, v) in fields {
                    vmwrite(a, *f, *v)?;
                }
                a.vmlaunch()?;
            }
            Program::AfterLoad(then) => {
                vmxon_and_load(a)?;
                then(a)?;
            }
            Program::Host(then) => {
                enable_vmxe(a)?;
                then(a)?;
            }
            Program::Bare(then) => then(a)?,
        }
        save_flags(a, RESULT_FLAGS)?;
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
        finish(a)
    })
}

/// The code at HOST_RIP for `c`.
pub fn exit_program(c: &Case, finish: &dyn Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    asm(HOST_RIP, |a| {
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_EXIT as i32)?;
        if let Program::Launch { at_exit: Some(f), .. } = c.program {
            f(a)?;
        }
        save_flags(a, RESULT_FLAGS)?;
        finish(a)
    })
}

/// The VMCS fields a Launch case writes (empty for the others).
pub fn case_fields(c: &Case) -> Vec<(u32, u64)> {
    match c.program {
        Program::Launch { kind, fields, .. } => {
            let mut f = valid_vmcs(&hvbench_vmx::caps::Profile::default_profile(), kind);
            fields(&mut f);
            f
        }
        _ => Vec::new(),
    }
}

/// The guest's bytes and where they go.
pub fn guest_bytes(c: &Case) -> Option<(u64, Vec<u8>)> {
    match c.program {
        Program::Launch { guest: Guest::Asm(g), .. } => Some((GUEST_RIP, asm(GUEST_RIP, g))),
        Program::Launch { guest: Guest::Real(b), .. } => Some((REAL_GUEST, b.to_vec())),
        _ => None,
    }
}

// ---- The cases ----

pub fn nothing(_: &mut Vec<(u32, u64)>) {}
pub fn hlt(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.hlt()
}
pub fn proc_or(f: &mut Vec<(u32, u64)>, bits: u64) {
    or(f, enc::PROC_BASED_CONTROLS, bits);
}

/// A Launch of a 64-bit guest.
pub const fn launch(fields: fn(&mut Vec<(u32, u64)>), guest: AsmFn) -> Program {
    Program::Launch { kind: GuestKind::Flat64, fields, guest: Guest::Asm(guest), at_exit: None }
}

/// A case with no pokes, memory checks or explanation text, compared with Bochs.
pub const fn case(name: &'static str, doc: &'static str, program: Program, outcome: Outcome, fields: &'static [FieldCheck]) -> Case {
    Case { name, doc, program, pokes: &[], outcome, fields, mem: &[], why: "", hvbench_differs: None, bochs: None }
}

pub const fn exit(r: u32) -> Outcome {
    Outcome::Exit(r as u64)
}
pub const fn entry_fail(r: u32) -> Outcome {
    Outcome::Exit(1 << 31 | r as u64)
}

/// VMREAD/VMWRITE instruction information bits defined for register operands (SDM 28.2.5,
/// table for VMREAD and VMWRITE): Reg1 6:3, mem/reg 10, Reg2 31:28.
const VMRW_REG_INFO: u64 = 0xf000_0478;
/// Instruction information bits defined for a memory operand without index (SDM 28.2.5,
/// table for VMCLEAR/VMPTRLD/VMPTRST/VMXON): address size 9:7, segment 17:15, index invalid
/// 22, base 26:23, base invalid 27.
const MEM_INFO_NO_INDEX: u64 = 7 << 7 | 7 << 15 | 1 << 22 | 0xf << 23 | 1 << 27;
/// EPT-violation qualification bits every processor defines (SDM 28.2.1 table "Exit
/// Qualification for EPT Violations"): 2:0 access, 5:3 permissions, 7 linear address valid,
/// 8 translation, 12 NMI unblocking. Bit 6 (mode-based execute) and 11:9 (advanced
/// information, IA32_VMX_EPT_VPID_CAP bit 22, absent in Bochs's model) are masked.
pub const EPT_QUAL_COMMON: u64 = 0x3f | 1 << 7 | 1 << 8 | 1 << 12;

/// A Launch of a 64-bit guest with code at HOST_RIP after the exit (which sees the guest's
/// general registers: a VM exit loads only RSP and RIP of them, SDM 28.5.1).
pub const fn launch_then(fields: fn(&mut Vec<(u32, u64)>), guest: AsmFn, at_exit: AsmFn) -> Program {
    Program::Launch { kind: GuestKind::Flat64, fields, guest: Guest::Asm(guest), at_exit: Some(at_exit) }
}

/// Qualification 0 of a VM-entry failure (27.8).
pub const ENTRY_Q0: &[FieldCheck] = &[fld(enc::EXIT_QUALIFICATION, 0)];

/// A control-field check: VMfailValid(7) (27.2.1, 31.4).
pub const fn ctl(name: &'static str, why: &'static str, doc: &'static str, fields: fn(&mut Vec<(u32, u64)>)) -> Case {
    Case { why, ..case(name, doc, launch(fields, hlt), Outcome::VmFailValid(7), &[]) }
}

/// A host-state check: VMfailValid(8) (27.2.2-27.2.4, 31.4).
pub const fn host(name: &'static str, why: &'static str, doc: &'static str, fields: fn(&mut Vec<(u32, u64)>)) -> Case {
    Case { why, ..case(name, doc, launch(fields, hlt), Outcome::VmFailValid(8), &[]) }
}

/// A guest-state check: reason 33, qualification 0 (27.3.1, 27.8).
pub const fn guest(name: &'static str, why: &'static str, doc: &'static str, fields: fn(&mut Vec<(u32, u64)>)) -> Case {
    Case { why, ..case(name, doc, launch(fields, hlt), entry_fail(reason::INVALID_GUEST_STATE), ENTRY_Q0) }
}

/// Every shared case: [`CASES`], then the groups in `cases_exits.rs`, `cases_events.rs`,
/// `cases_exits2.rs`, `cases_fixes.rs`, `cases_entry.rs` (one program per VM-entry check),
/// `cases_vmxexits.rs` (RDPMC, TPR shadow, PAUSE-loop exiting), `cases_v86.rs` (virtual-8086
/// guests), `cases_vmxcover.rs` (VMX-instruction exits, INVEPT/INVVPID, EPT as guest
/// programs), `cases_vmxabort.rs` (exceptions met while delivering an injected event),
/// `cases_vmxgaps.rs` (EPT violations loading PDPTEs, VMX instructions in compatibility mode)
/// and `cases_corefix.rs` (the monitored line of MONITOR/MWAIT).
pub fn all() -> impl Iterator<Item = &'static Case> {
    CASES.iter()
        .chain(super::cases_exits::CASES)
        .chain(super::cases_events::CASES)
        .chain(super::cases_exits2::CASES)
        .chain(super::cases_fixes::CASES)
        .chain(super::cases_entry::CASES)
        .chain(super::cases_vmxexits::CASES)
        .chain(super::cases_v86::CASES)
        .chain(super::cases_vmxcover::CASES)
        .chain(super::cases_vmxabort::CASES)
        .chain(super::cases_vmxgaps::CASES)
        .chain(super::cases_corefix::CASES)
}

/// The cases of VMX instructions, entry checks and the first exits (see the module
/// documentation).
pub static CASES: &[Case] = &[
    // ---- VM exits for instructions (SDM 26.1.2 unconditional, 26.1.3 conditional) ----
    case(
        "cpuid_exits",
        "CPUID exits unconditionally (26.1.2): reason 10, length 2, RIP of the CPUID (28.3.3), qualification cleared (28.2.1)",
        launch(nothing, |a| a.cpuid()),
        exit(reason::CPUID),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP), fld(enc::EXIT_QUALIFICATION, 0)],
    ),
    case("hlt_exits", "HLT with \"HLT exiting\" (26.1.3): reason 12, length 1", launch(nothing, hlt), exit(reason::HLT), &[fld(enc::EXIT_INSTRUCTION_LENGTH, 1)]),
    case(
        "invlpg_exits",
        "INVLPG with \"INVLPG exiting\": reason 14, qualification = the linear address (28.2.1)",
        launch(|f| proc_or(f, 1 << 9), |a| {
            a.mov(rax, 0x1234_5678u64)?;
            a.invlpg(byte_ptr(rax + 0x10))
        }),
        exit(reason::INVLPG),
        &[fld(enc::EXIT_QUALIFICATION, 0x1234_5688), fld(enc::EXIT_INSTRUCTION_LENGTH, 4)],
    ),
    case("rdtsc_exits", "RDTSC with \"RDTSC exiting\": reason 16 (26.1.3)", launch(|f| proc_or(f, 1 << 12), |a| a.rdtsc()), exit(reason::RDTSC), &[fld(enc::EXIT_INSTRUCTION_LENGTH, 2)]),
    case("vmcall_exits", "VMCALL exits in non-root operation: reason 18, length 3 (26.1.2)", launch(nothing, |a| a.vmcall()), exit(reason::VMCALL), &[fld(enc::EXIT_INSTRUCTION_LENGTH, 3)]),
    case(
        "vmread_in_guest_exits",
        "VMREAD in non-root operation: reason 23; instruction information Reg1 = RBX, register operand, Reg2 = RCX (28.2.5; the other bits are undefined for register operands)",
        launch(nothing, |a| a.vmread(rbx, rcx)),
        exit(reason::VMREAD),
        &[FieldCheck { field: enc::EXIT_INSTRUCTION_INFO, mask: VMRW_REG_INFO, value: 3 << 3 | 1 << 10 | 1 << 28 }],
    ),
    case(
        "vmptrld_in_guest_exits",
        "VMPTRLD in non-root operation: reason 21, qualification = displacement, information: 64-bit address, DS, no index, base RAX (28.2.1, 28.2.5)",
        launch(nothing, |a| a.vmptrld(qword_ptr(rax + 0x40))),
        exit(reason::VMPTRLD),
        &[fld(enc::EXIT_QUALIFICATION, 0x40), FieldCheck { field: enc::EXIT_INSTRUCTION_INFO, mask: MEM_INFO_NO_INDEX, value: 2 << 7 | 3 << 15 | 1 << 22 }],
    ),
    case(
        "invept_in_guest_exits",
        "INVEPT in non-root operation exits unconditionally: reason 50, Reg2 = the type register RDX (26.1.2, 28.2.5)",
        launch(nothing, |a| a.invept(rdx, xmmword_ptr(rbx))),
        exit(reason::INVEPT),
        &[FieldCheck { field: enc::EXIT_INSTRUCTION_INFO, mask: 0xf000_0000, value: 2 << 28 }],
    ),
    case(
        "mov_to_cr0_owned_bit_exits",
        "MOV to CR0 changing a host-owned bit: reason 28, qualification CR0, MOV to CR, RCX (28.2.1 control-register table)",
        launch(
            |f| {
                set(f, enc::CR0_GUEST_HOST_MASK, 1 << 16);
                set(f, enc::CR0_READ_SHADOW, 0x8001_0031);
            },
            |a| {
                a.mov(rcx, cr0)?;
                a.and(rcx, !(1i32 << 16))?;
                a.mov(cr0, rcx)
            },
        ),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 1 << 8)],
    ),
    Case {
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: 0x8001_0031 | 1 << 18 }],
        ..case(
            "mov_from_cr0_reads_the_shadow",
            "MOV from CR0 returns the read shadow for host-owned bits (26.3); no exit",
            launch(
                |f| {
                    set(f, enc::CR0_GUEST_HOST_MASK, 1 << 18);
                    set(f, enc::CR0_READ_SHADOW, 1 << 18);
                },
                |a| {
                    a.mov(rax, cr0)?;
                    a.mov(rcx, SCRATCH)?;
                    a.mov(qword_ptr(rcx), rax)?;
                    a.hlt()
                },
            ),
            exit(reason::HLT),
            &[],
        )
    },
    case(
        "mov_from_cr3_exits",
        "MOV from CR3 with \"CR3-store exiting\": reason 28, access type 1, GPR RDX (26.1.3)",
        launch(|f| proc_or(f, 1 << 16), |a| a.mov(rdx, cr3)),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 3 | 1 << 4 | 2 << 8)],
    ),
    case(
        "mov_to_cr3_target_value_does_not_exit",
        "MOV to CR3 with \"CR3-load exiting\" does not exit for a CR3-target value (26.1.3)",
        launch(
            |f| {
                proc_or(f, 1 << 15);
                set(f, enc::CR3_TARGET_COUNT, 1);
                set(f, enc::CR3_TARGET_VALUE0, 0x10000);
            },
            |a| {
                a.mov(rax, 0x10000u64)?;
                a.mov(cr3, rax)?;
                a.hlt()
            },
        ),
        exit(reason::HLT),
        &[],
    ),
    case(
        "mov_to_cr8_exits",
        "MOV to CR8 with \"CR8-load exiting\": reason 28, CR 8 (26.1.3)",
        launch(|f| proc_or(f, 1 << 19), |a| {
            a.xor(eax, eax)?;
            a.mov(cr8, rax)
        }),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 8)],
    ),
    case(
        "out_imm_exits",
        "OUT imm8, AL with \"unconditional I/O exiting\": reason 30, 1 byte, OUT, immediate, port 0x80 (28.2.1 I/O table)",
        launch(|f| proc_or(f, 1 << 24), |a| a.out(0x80, al)),
        exit(reason::IO),
        &[fld(enc::EXIT_QUALIFICATION, 1 << 6 | 0x80 << 16), fld(enc::EXIT_INSTRUCTION_LENGTH, 2)],
    ),
    Case {
        pokes: &[poke(IO_BITMAP_B, 1, 0b10)],
        ..case(
            "io_bitmaps_decide_per_port",
            "I/O bitmaps (25.6.4): port 0x70 clear, no exit; IN EAX, DX at 0x8000 touches 0x8001 (bit 1 of B): exit, 4 bytes, IN, DX",
            launch(
                |f| {
                    proc_or(f, 1 << 25);
                    set(f, enc::IO_BITMAP_A, IO_BITMAP_A);
                    set(f, enc::IO_BITMAP_B, IO_BITMAP_B);
                },
                |a| {
                    a.mov(edx, 0x70)?;
                    a.in_(al, dx)?;
                    a.mov(edx, 0x8000)?;
                    a.in_(eax, dx)
                },
            ),
            exit(reason::IO),
            &[fld(enc::EXIT_QUALIFICATION, 3 | 1 << 3 | 0x8000 << 16), fld(enc::GUEST_RIP, GUEST_RIP + 5 + 1 + 5)],
        )
    },
    Case {
        pokes: &[poke(MSR_BITMAP + 2, 1, 1)],
        ..case(
            "msr_bitmap_read_low",
            "MSR bitmaps (25.6.9): read-low bit of MSR 0x10 set: RDMSR 0x10 exits (31); MSR 0x3A's bit clear: no exit",
            launch(
                |f| {
                    proc_or(f, 1 << 28);
                    set(f, enc::MSR_BITMAP, MSR_BITMAP);
                },
                |a| {
                    a.mov(ecx, 0x3a)?;
                    a.rdmsr()?;
                    a.mov(ecx, 0x10)?;
                    a.rdmsr()
                },
            ),
            exit(reason::RDMSR),
            &[fld(enc::GUEST_RIP, GUEST_RIP + 5 + 2 + 5), fld(enc::EXIT_INSTRUCTION_LENGTH, 2)],
        )
    },
    case(
        "msr_bitmap_outside_ranges",
        "WRMSR of an MSR outside both bitmap ranges always exits (25.6.9): reason 32",
        launch(
            |f| {
                proc_or(f, 1 << 28);
                set(f, enc::MSR_BITMAP, MSR_BITMAP);
            },
            |a| {
                a.mov(ecx, 0x4000_0000)?;
                a.wrmsr()
            },
        ),
        exit(reason::WRMSR),
        &[],
    ),
    case(
        "rdmsr_exits_without_bitmaps",
        "Without \"use MSR bitmaps\" every RDMSR exits (26.1.3)",
        launch(nothing, |a| {
            a.mov(ecx, 0x3a)?;
            a.rdmsr()
        }),
        exit(reason::RDMSR),
        &[],
    ),
    // ---- Exceptions and events (26.2, 28.2.2) ----
    case(
        "ud_exception_bitmap",
        "#UD with exception-bitmap bit 6: reason 0, vector 6, type 3, valid (28.2.2)",
        launch(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 6), |a| a.ud2()),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0306), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
    case(
        "int3_exception_bitmap",
        "INT3 with bitmap bit 3: type 6 (software exception), length 1 (28.2.2, 28.2.4)",
        launch(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 3), |a| a.int3()),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0603), fld(enc::EXIT_INSTRUCTION_LENGTH, 1)],
    ),
    case(
        "page_fault_exit",
        "#PF with bitmap bit 14, PFEC & mask == match: error code, qualification = linear address (25.6.3, 28.2.1)",
        launch(
            |f| {
                set(f, enc::EXCEPTION_BITMAP, 1 << 14);
                set(f, enc::PAGE_FAULT_ERROR_CODE_MASK, 0);
                set(f, enc::PAGE_FAULT_ERROR_CODE_MATCH, 0);
            },
            |a| {
                a.mov(rax, 0x8_0000_0000u64)?;
                a.mov(rbx, qword_ptr(rax))
            },
        ),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0e), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), fld(enc::EXIT_QUALIFICATION, 0x8_0000_0000)],
    ),
    case(
        "page_fault_mask_mismatch_inverts",
        "#PF with bitmap bit 14 = 0 but PFEC & mask != match: exits (25.6.3)",
        launch(
            |f| {
                set(f, enc::EXCEPTION_BITMAP, 0);
                set(f, enc::PAGE_FAULT_ERROR_CODE_MASK, 1);
                set(f, enc::PAGE_FAULT_ERROR_CODE_MATCH, 1);
            },
            |a| {
                a.mov(rax, 0x8_0000_0000u64)?;
                a.mov(rbx, qword_ptr(rax))
            },
        ),
        exit(reason::EXCEPTION_NMI),
        &[],
    ),
    case("triple_fault_exits", "Guest IDT limit 0: #UD -> #GP -> #DF -> shutdown: reason 2 (26.2)", launch(|f| set(f, enc::GUEST_IDTR_LIMIT, 0), |a| a.ud2()), exit(reason::TRIPLE_FAULT), &[]),
    case(
        "interrupt_window_exit",
        "\"Interrupt-window exiting\" (26.7.5): IF = 0 at entry, STI, one instruction in the STI shadow, then exit 7 with RIP after it",
        launch(|f| proc_or(f, 1 << 2), |a| {
            a.nop()?;
            a.sti()?;
            a.nop()?;
            a.nop()?;
            a.hlt()
        }),
        exit(reason::INTERRUPT_WINDOW),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 3), fld(enc::GUEST_INTERRUPTIBILITY, 0)],
    ),
    Case {
        mem: &[MemCheck { addr: hvbench_cpu::sandbox::VECTOR_SLOT, size: 1, value: 6 }],
        ..case(
            "inject_ud_goes_through_guest_idt",
            "Injected #UD is delivered through the guest IDT even with bitmap bit 6 (27.6); its handler records 6 and HLT exits; the exit clears the valid bit (28.2)",
            launch(
                |f| {
                    set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306);
                    set(f, enc::EXCEPTION_BITMAP, 1 << 6);
                },
                hlt,
            ),
            exit(reason::HLT),
            &[FieldCheck { field: enc::ENTRY_INTERRUPTION_INFO, mask: 1 << 31, value: 0 }],
        )
    },
    // ---- EPT (29.3.3) and the unrestricted guest ----
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 24, 8, 0)],
        ..case(
            "ept_violation",
            "Guest-physical 0xC0000010 through a not-present EPT PDPTE: reason 48, read, not present, linear address valid, translation (28.2.1 EPT-violation table; bits 6 and 11:9 masked)",
            launch(nothing, |a| {
                a.mov(rax, 0xc000_0010u64)?;
                a.mov(rbx, qword_ptr(rax))
            }),
            exit(reason::EPT_VIOLATION),
            &[
                FieldCheck { field: enc::EXIT_QUALIFICATION, mask: EPT_QUAL_COMMON, value: 1 | 1 << 7 | 1 << 8 },
                fld(enc::GUEST_PHYSICAL_ADDRESS, 0xc000_0010),
                fld(enc::GUEST_LINEAR_ADDRESS, 0xc000_0010),
            ],
        )
    },
    Case {
        pokes: &[poke(EPT_PML4 + 0x1000 + 24, 8, 3 << 30 | 0x80 | 6 << 3 | 2)],
        ..case(
            "ept_misconfiguration",
            "An EPT PDPTE with bits 2:0 = 010b (write without read): reason 49, qualification cleared (29.3.3.1, 28.2.1)",
            launch(nothing, |a| {
                a.mov(rax, 0xc000_0010u64)?;
                a.mov(rbx, qword_ptr(rax))
            }),
            exit(reason::EPT_MISCONFIG),
            &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_PHYSICAL_ADDRESS, 0xc000_0010)],
        )
    },
    Case {
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: 0x5a }],
        ..case(
            "ept_identity_data_access",
            "A guest writes through EPT (identity, 1-GByte pages) and sees its data",
            launch(nothing, |a| {
                a.mov(rcx, SCRATCH)?;
                a.mov(qword_ptr(rcx), 0x5a)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    case(
        "unrestricted_real_mode_guest",
        "Unrestricted guest (26.3, 27.3.1.1): CR0.PE = PG = 0; 16-bit code; CPUID exits with the real-mode CS:IP saved",
        Program::Launch { kind: GuestKind::Real, fields: nothing, guest: Guest::Real(&[0xb8, 0x34, 0x12, 0x0f, 0xa2]), at_exit: None },
        exit(reason::CPUID),
        &[fld(enc::GUEST_RIP, 3), fld(enc::GUEST_CS_SELECTOR, REAL_GUEST >> 4), FieldCheck { field: enc::GUEST_CR0, mask: 1, value: 0 }],
    ),
    // ---- VM-entry checks (27.2: VMfailValid 7/8; 27.3: reason 33; 27.4: reason 34) ----
    ctl(
        "entry_vpid_zero_fails",
        "VPID",
        "\"enable VPID\" = 1 with VPID 0 (27.2.1.1): VMfailValid(7)",
        |f| {
            or(f, enc::SECONDARY_PROC_BASED_CONTROLS, 1 << 5);
            set(f, enc::VPID, 0);
        },
    ),
    case(
        "entry_disallowed_pin_control_fails",
        "\"process posted interrupts\" (pin bit 7) where IA32_VMX_TRUE_PINBASED_CTLS forbids it (27.2.1.1): VMfailValid(7)",
        launch(|f| or(f, enc::PIN_BASED_CONTROLS, 1 << 7), hlt),
        Outcome::VmFailValid(7),
        &[],
    ),
    case(
        "entry_bad_injection_vector_fails",
        "Injection of a hardware exception with vector 32 (27.2.1.3): VMfailValid(7)",
        launch(|f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0320), hlt),
        Outcome::VmFailValid(7),
        &[],
    ),
    Case { why: "27.2.3", ..case("entry_host_cs_null_fails", "Host CS selector 0 (27.2.3): VMfailValid(8)", launch(|f| set(f, enc::HOST_CS_SELECTOR, 0), hlt), Outcome::VmFailValid(8), &[]) },
    case(
        "entry_host_cr4_fixed_fails",
        "Host CR4.VMXE = 0 violates IA32_VMX_CR4_FIXED0 (27.2.2): VMfailValid(8)",
        launch(|f| set(f, enc::HOST_CR4, 0x620), hlt),
        Outcome::VmFailValid(8),
        &[],
    ),
    guest(
        "entry_guest_cs_l_and_d",
        "CS.D=0",
        "Guest CS.L = 1 and CS.D/B = 1 with \"IA-32e mode guest\" = 1 (27.3.1.2, CS access rights bit 14): VM-entry failure, reason 33, qualification 0 (27.8)",
        |f| set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xe09b),
    ),
    case(
        "entry_guest_cs_l_without_ia32e",
        "Guest CS.L = 1 with \"IA-32e mode guest\" = 0: no VM-entry check forbids it (27.3.1.2 checks CS.L only with D/B in IA-32e mode), so the entry succeeds into 32-bit PAE paging; with EPT the PDPTEs come from the VMCS's PDPTE fields (27.3.2.4), all 0 (not present), so the first fetch faults, and the 64-bit IDT read as a 32-bit one turns that into a triple fault: reason 2 (26.2)",
        launch(|f| {
            let e = get(f, enc::ENTRY_CONTROLS);
            set(f, enc::ENTRY_CONTROLS, e & !(1 << 9));
        }, hlt),
        exit(reason::TRIPLE_FAULT),
        &[],
    ),
    Case {
        why: "VMCS link pointer",
        ..case(
            "entry_vmcs_link_pointer",
            "VMCS link pointer 1000H: the 4 bytes there (the GDT's null descriptor, 0) are not the VMCS revision identifier (27.3.1.5): reason 33, qualification 4 (27.8)",
            launch(|f| set(f, enc::VMCS_LINK_POINTER, 0x1000), hlt),
            entry_fail(reason::INVALID_GUEST_STATE),
            &[fld(enc::EXIT_QUALIFICATION, 4)],
        )
    },
    guest(
        "entry_guest_rflags_reserved",
        "RFLAGS",
        "Guest RFLAGS bit 1 = 0 (27.3.1.4): reason 33, qualification 0",
        |f| set(f, enc::GUEST_RFLAGS, 0),
    ),
    Case {
        pokes: &[poke(SCRATCH + 0x100, 8, 0x175), poke(SCRATCH + 0x108, 8, 0x1234), poke(SCRATCH + 0x110, 8, 0xc000_0100), poke(SCRATCH + 0x118, 8, 0)],
        why: "27.4",
        ..case(
            "entry_msr_load_fs_base_fails",
            "VM-entry MSR-load list whose entry 2 names IA32_FS_BASE (27.4): VM-entry failure, reason 34, qualification 2 (the entry's 1-based index)",
            launch(|f| {
                set(f, enc::ENTRY_MSR_LOAD_COUNT, 2);
                set(f, enc::ENTRY_MSR_LOAD_ADDR, SCRATCH + 0x100);
            }, hlt),
            entry_fail(reason::MSR_LOADING),
            &[fld(enc::EXIT_QUALIFICATION, 2)],
        )
    },
    Case {
        pokes: &[poke(SCRATCH + 0x100, 8, 0x175), poke(SCRATCH + 0x108, 8, 0x1234), poke(SCRATCH + 0x140, 8, 0x175), poke(SCRATCH + 0x148, 8, 0x7777)],
        mem: &[MemCheck { addr: SCRATCH + 0x108, size: 8, value: 0x1234 }, MemCheck { addr: SCRATCH + 0x80, size: 8, value: 0x7777 }],
        ..case(
            "msr_load_and_store_lists",
            "Entry MSR-load list gives the guest IA32_SYSENTER_ESP (27.4); the exit MSR-store list saves the guest's value (28.4), the exit MSR-load list restores the host's (28.6), which RDMSR at HOST_RIP sees",
            Program::Launch {
                kind: GuestKind::Flat64,
                fields: |f| {
                    for (c, a) in [(enc::ENTRY_MSR_LOAD_COUNT, enc::ENTRY_MSR_LOAD_ADDR), (enc::EXIT_MSR_STORE_COUNT, enc::EXIT_MSR_STORE_ADDR)] {
                        set(f, c, 1);
                        set(f, a, SCRATCH + 0x100);
                    }
                    set(f, enc::EXIT_MSR_LOAD_COUNT, 1);
                    set(f, enc::EXIT_MSR_LOAD_ADDR, SCRATCH + 0x140);
                },
                guest: Guest::Asm(|a| {
                    a.mov(ecx, 0x175)?;
                    a.mov(eax, 0x5555)?;
                    a.xor(edx, edx)?;
                    a.wrmsr()?;
                    a.hlt()
                }),
                at_exit: Some(|a| {
                    a.mov(ecx, 0x175)?;
                    a.rdmsr()?;
                    a.mov(rbx, SCRATCH + 0x80)?;
                    a.mov(dword_ptr(rbx), eax)?;
                    a.mov(dword_ptr(rbx + 4), edx)
                }),
            },
            exit(reason::WRMSR),
            &[],
        )
    },
    // ---- VMX instructions: each failure path (SDM 31.3, 31.4) ----
    case(
        "vmxon_needs_cr4_vmxe",
        "VMXON with CR4.VMXE = 0: #UD (31.3 VMXON)",
        Program::Bare(|a| {
            a.mov(rbx, PTR_VMXON)?;
            a.vmxon(qword_ptr(rbx))
        }),
        Outcome::Exception(6),
        &[],
    ),
    case(
        "vmxon_misaligned_pointer",
        "VMXON with a pointer not 4-KByte aligned: VMfailInvalid (31.3 VMXON)",
        Program::Host(|a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(rax, VMXON_REGION + 8)?;
            a.mov(qword_ptr(rbx), rax)?;
            a.vmxon(qword_ptr(rbx))
        }),
        Outcome::VmFailInvalid,
        &[],
    ),
    case(
        "vmxon_succeeds",
        "VMXON of a good region: VMsucceed (31.3 VMXON)",
        Program::Host(|a| {
            a.mov(rbx, PTR_VMXON)?;
            a.vmxon(qword_ptr(rbx))
        }),
        Outcome::Succeed,
        &[],
    ),
    Case {
        pokes: &[Poke { addr: VMXON_REGION, size: 4, value: 0x8000_0000, rev: true }],
        ..case(
            "vmxon_bad_revision",
            "VMXON of a region whose bit 31 (shadow-VMCS indicator) is set: VMfailInvalid (31.3 VMXON)",
            Program::Host(|a| {
                a.mov(rbx, PTR_VMXON)?;
                a.vmxon(qword_ptr(rbx))
            }),
            Outcome::VmFailInvalid,
            &[],
        )
    },
    case(
        "vmxon_in_root_is_error_15",
        "VMXON in VMX root operation: VMfailValid(15) (31.3 VMXON)",
        Program::AfterLoad(|a| {
            a.mov(rbx, PTR_VMXON)?;
            a.vmxon(qword_ptr(rbx))
        }),
        Outcome::VmFailValid(15),
        &[],
    ),
    case(
        "vmclear_vmxon_pointer_is_3",
        "VMCLEAR of the VMXON pointer: VMfailValid(3) (31.3 VMCLEAR)",
        Program::AfterLoad(|a| {
            a.mov(rbx, PTR_VMXON)?;
            a.vmclear(qword_ptr(rbx))
        }),
        Outcome::VmFailValid(3),
        &[],
    ),
    case(
        "vmclear_misaligned_is_2",
        "VMCLEAR of a pointer not 4-KByte aligned: VMfailValid(2) (31.3 VMCLEAR)",
        Program::AfterLoad(|a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(rax, VMCS_REGION + 0x10)?;
            a.mov(qword_ptr(rbx), rax)?;
            a.vmclear(qword_ptr(rbx))
        }),
        Outcome::VmFailValid(2),
        &[],
    ),
    Case {
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: u64::MAX }],
        ..case(
            "vmclear_of_current_makes_it_invalid",
            "VMCLEAR of the current VMCS makes the current-VMCS pointer FFFFFFFF_FFFFFFFFH; VMPTRST stores it (31.3 VMCLEAR, VMPTRST)",
            Program::AfterLoad(|a| {
                a.mov(rbx, PTR_VMCS)?;
                a.vmclear(qword_ptr(rbx))?;
                a.mov(rbx, SCRATCH)?;
                a.vmptrst(qword_ptr(rbx))
            }),
            Outcome::Succeed,
            &[],
        )
    },
    case(
        "vmptrld_vmxon_pointer_is_10",
        "VMPTRLD of the VMXON pointer: VMfailValid(10) (31.3 VMPTRLD)",
        Program::AfterLoad(|a| {
            a.mov(rbx, PTR_VMXON)?;
            a.vmptrld(qword_ptr(rbx))
        }),
        Outcome::VmFailValid(10),
        &[],
    ),
    case(
        "vmptrld_beyond_maxphyaddr_is_9",
        "VMPTRLD of 2^45 (beyond MAXPHYADDR): VMfailValid(9) (31.3 VMPTRLD)",
        Program::AfterLoad(|a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(rax, 1u64 << 45)?;
            a.mov(qword_ptr(rbx), rax)?;
            a.vmptrld(qword_ptr(rbx))
        }),
        Outcome::VmFailValid(9),
        &[],
    ),
    Case {
        pokes: &[poke(0x30_2000, 4, 0)],
        ..case(
            "vmptrld_wrong_revision_is_11",
            "VMPTRLD of a region with revision identifier 0: VMfailValid(11) (31.3 VMPTRLD)",
            Program::AfterLoad(|a| {
                a.mov(rbx, SCRATCH)?;
                a.mov(rax, 0x30_2000u64)?;
                a.mov(qword_ptr(rbx), rax)?;
                a.vmptrld(qword_ptr(rbx))
            }),
            Outcome::VmFailValid(11),
            &[],
        )
    },
    Case {
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: VMCS_REGION }],
        ..case(
            "vmptrst_stores_the_current_pointer",
            "VMPTRST stores the current-VMCS pointer (31.3 VMPTRST)",
            Program::AfterLoad(|a| {
                a.mov(rbx, SCRATCH)?;
                a.vmptrst(qword_ptr(rbx))
            }),
            Outcome::Succeed,
            &[],
        )
    },
    case(
        "vmread_without_current_vmcs",
        "VMREAD without a current VMCS: VMfailInvalid (31.3 VMREAD)",
        Program::Host(|a| {
            a.mov(rbx, PTR_VMXON)?;
            a.vmxon(qword_ptr(rbx))?;
            a.mov(rcx, enc::GUEST_RIP as u64)?;
            a.vmread(rax, rcx)
        }),
        Outcome::VmFailInvalid,
        &[],
    ),
    case(
        "vmread_reserved_encoding_is_12",
        "VMREAD of encoding 0x1000 (reserved bit 12): VMfailValid(12) (31.3 VMREAD, Appendix B)",
        Program::AfterLoad(|a| {
            a.mov(rcx, 0x1000u64)?;
            a.vmread(rax, rcx)
        }),
        Outcome::VmFailValid(12),
        &[],
    ),
    case(
        "vmwrite_reserved_encoding_is_12",
        "VMWRITE of encoding 0x1000 (reserved bit 12): VMfailValid(12) (31.3 VMWRITE)",
        Program::AfterLoad(|a| {
            a.mov(rcx, 0x1000u64)?;
            a.vmwrite(rcx, rax)
        }),
        Outcome::VmFailValid(12),
        &[],
    ),
    case(
        "vmwrite_exit_qualification_with_misc_bit_29",
        "VMWRITE of a VM-exit information field succeeds when IA32_VMX_MISC bit 29 is 1 (hvbench's default profile and Bochs's model both set it) (31.3 VMWRITE, A.6)",
        Program::AfterLoad(|a| {
            a.mov(rcx, enc::EXIT_QUALIFICATION as u64)?;
            a.mov(rax, 7u64)?;
            a.vmwrite(rcx, rax)
        }),
        Outcome::Succeed,
        &[fld(enc::EXIT_QUALIFICATION, 7)],
    ),
    Case {
        mem: &[MemCheck { addr: SCRATCH, size: 8, value: 0xaaaa_bbbb }, MemCheck { addr: SCRATCH + 8, size: 8, value: 0x5678 }],
        ..case(
            "vmwrite_vmread_widths_and_high_halves",
            "A 16-bit field keeps 16 bits; a HIGH access reads/writes bits 63:32 of a 64-bit field; VMREAD to memory stores 64 bits in 64-bit mode (25.11.2)",
            Program::AfterLoad(|a| {
                a.mov(rcx, enc::GUEST_CS_SELECTOR as u64)?;
                a.mov(rax, 0x1234_5678u64)?;
                a.vmwrite(rcx, rax)?;
                a.mov(rcx, enc::TSC_OFFSET as u64)?;
                a.mov(rax, 0x1111_2222_3333_4444u64)?;
                a.vmwrite(rcx, rax)?;
                a.mov(rcx, enc::TSC_OFFSET as u64 | 1)?;
                a.mov(rax, 0xaaaa_bbbbu64)?;
                a.vmwrite(rcx, rax)?;
                a.mov(rbx, SCRATCH)?;
                a.vmread(qword_ptr(rbx), rcx)?;
                a.mov(rcx, enc::GUEST_CS_SELECTOR as u64)?;
                a.vmread(qword_ptr(rbx + 8), rcx)
            }),
            Outcome::Succeed,
            &[fld(enc::TSC_OFFSET, 0xaaaa_bbbb_3333_4444)],
        )
    },
    case(
        "vmlaunch_twice_is_4",
        "VMLAUNCH of a launched VMCS (the guest VMCALLs, the host VMLAUNCHes again): VMfailValid(4) (31.3 VMLAUNCH)",
        Program::Launch {
            kind: GuestKind::Flat64,
            fields: nothing,
            guest: Guest::Asm(|a| a.vmcall()),
            at_exit: Some(|a| {
                a.vmlaunch()?;
                a.mov(rbx, RESULT_KIND)?;
                a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)
            }),
        },
        Outcome::VmFailValid(4),
        &[],
    ),
    case("vmresume_clear_is_5", "VMRESUME of a clear VMCS: VMfailValid(5) (31.3 VMRESUME)", Program::AfterLoad(|a| a.vmresume()), Outcome::VmFailValid(5), &[]),
    case(
        "vmlaunch_after_mov_ss_is_26",
        "VMLAUNCH blocked by MOV SS: VMfailValid(26) (31.3 VMLAUNCH)",
        Program::AfterLoad(|a| {
            a.mov(ax, ss)?;
            a.mov(ss, ax)?;
            a.vmlaunch()
        }),
        Outcome::VmFailValid(26),
        &[],
    ),
    case(
        "invept_type_0_is_28",
        "INVEPT type 0 (not defined): VMfailValid(28) (31.3 INVEPT)",
        Program::AfterLoad(|a| {
            a.xor(eax, eax)?;
            a.mov(rbx, SCRATCH)?;
            a.invept(rax, xmmword_ptr(rbx))
        }),
        Outcome::VmFailValid(28),
        &[],
    ),
    case(
        "invvpid_single_context_vpid_0_is_28",
        "Single-context INVVPID with VPID 0: VMfailValid(28) (31.3 INVVPID)",
        Program::AfterLoad(|a| {
            a.mov(eax, 1)?;
            a.mov(rbx, SCRATCH)?;
            a.invvpid(rax, xmmword_ptr(rbx))
        }),
        Outcome::VmFailValid(28),
        &[],
    ),
    case(
        "invept_all_context_succeeds",
        "All-context INVEPT: VMsucceed (31.3 INVEPT)",
        Program::AfterLoad(|a| {
            a.mov(eax, 2)?;
            a.mov(rbx, SCRATCH)?;
            a.invept(rax, xmmword_ptr(rbx))
        }),
        Outcome::Succeed,
        &[],
    ),
    Case {
        bochs: Some("Bochs 2.7 stops with \">>PANIC<< VMCALL: not implemented yet\" for VMCALL in VMX root operation"),
        ..case("vmcall_in_root_is_error_1", "VMCALL in VMX root operation (no dual-monitor treatment): VMfailValid(1) (31.3 VMCALL)", Program::AfterLoad(|a| a.vmcall()), Outcome::VmFailValid(1), &[])
    },
    case(
        "vmxoff_leaves_vmx_operation",
        "After VMXOFF, VMCALL is #UD (31.3 VMXOFF, VMCALL)",
        Program::AfterLoad(|a| {
            a.vmxoff()?;
            a.vmcall()
        }),
        Outcome::Exception(6),
        &[],
    ),
];
