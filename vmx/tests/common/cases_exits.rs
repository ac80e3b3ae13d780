//! Shared cases (see [`super::cases`]): VM exits for instructions (SDM Vol. 3C 26.1.2
//! unconditional: INVD, XSETBV; 26.1.3 conditional: INS/OUTS, CLTS, LMSW, MOV DR; 26.3 changes
//! of behaviour: CLTS/LMSW with owned CR0 bits, TSC offsetting), the monitor trap flag
//! (26.5.2) and the VMX-preemption timer started at 0 (26.5.1). Exit qualifications are those
//! of 28.2.1 (I/O table, control-register table, MOV DR table; "for all other VM exits" the
//! field is cleared), instruction information 28.2.5, instruction length 28.2.4 (defined only
//! for the instruction-caused exits listed there, so never printed for MTF, timer or
//! NMI-window exits).
//!
//! Registers a guest leaves are shown by `at_exit` code (a VM exit loads only RSP and RIP of
//! the general registers, 28.5.1), storing them at SCRATCH + 0x40.

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const UNCONDITIONAL_IO: u64 = 1 << 24;
const USE_IO_BITMAPS: u64 = 1 << 25;
const MOV_DR_EXITING: u64 = 1 << 23;
const MTF: u64 = 1 << 27;
const HLT_EXITING: u64 = 1 << 7;
const ACTIVATE_TIMER: u64 = 1 << 6;
const SAVE_TIMER: u64 = 1 << 22;
const TS: u64 = 1 << 3;
/// Where `at_exit` code stores a guest register.
const SEEN: u64 = SCRATCH + 0x40;
/// The sandbox's and the oracle kernel's IDT stub for #UD (16 bytes a vector from 0x4000).
const UD_STUB: u64 = 0x4000 + 16 * 6;
/// INS/OUTS instruction information (28.2.5, table for INS and OUTS): address size 9:7; the
/// segment (17:15) is defined for OUTS only ("undefined for INS").
const INS_INFO: u64 = 7 << 7;
const OUTS_INFO: u64 = 7 << 7 | 7 << 15;

fn io_bitmaps(f: &mut Vec<(u32, u64)>) {
    proc_or(f, USE_IO_BITMAPS);
    set(f, enc::IO_BITMAP_A, IO_BITMAP_A);
    set(f, enc::IO_BITMAP_B, IO_BITMAP_B);
}

fn store_rsi(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, SEEN)?;
    a.mov(qword_ptr(rax), rsi)
}

fn no_hlt_exiting(f: &mut Vec<(u32, u64)>) {
    let v = get(f, enc::PROC_BASED_CONTROLS);
    set(f, enc::PROC_BASED_CONTROLS, v & !HLT_EXITING);
}

const fn mem(addr: u64, size: u8, value: u64) -> MemCheck {
    MemCheck { addr, size, value }
}

const fn masked(field: u32, mask: u64, value: u64) -> FieldCheck {
    FieldCheck { field, mask, value }
}

/// The cases of this file.
pub static CASES: &[Case] = &[
    // ---- Unconditional exits (26.1.2) ----
    case(
        "invd_exits",
        "INVD exits unconditionally (26.1.2): reason 13, qualification 0, length 2 (0F 08), RIP saved = the INVD",
        launch(nothing, |a| {
            a.nop()?;
            a.invd()
        }),
        exit(reason::INVD),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP + 1)],
    ),
    case(
        "xsetbv_exits",
        "XSETBV with CR4.OSXSAVE = 1 exits unconditionally (26.1.2), before the ECX check (ECX = 5 would be #GP(0)): reason 55, length 3 (0F 01 D1)",
        launch(|f| set(f, enc::GUEST_CR4, 0x2620 | 1 << 18), |a| {
            a.mov(ecx, 5)?;
            a.xsetbv()
        }),
        exit(reason::XSETBV),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 3), fld(enc::GUEST_RIP, GUEST_RIP + 5)],
    ),
    case(
        "xsetbv_without_osxsave_is_ud",
        "XSETBV with CR4.OSXSAVE = 0 is #UD, which has priority over the exit (26.1.1); exception-bitmap bit 6 turns it into reason 0, vector 6, type 3",
        launch(|f| set(f, enc::EXCEPTION_BITMAP, 1 << 6), |a| a.xsetbv()),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, 0x8000_0306)],
    ),
    // ---- String I/O (26.1.3, 28.2.1 I/O table, 28.2.5 INS/OUTS table) ----
    Case {
        mem: &[mem(SEEN, 8, 3)],
        ..case(
            "rep_insw_exits_with_full_information",
            "REP INSW with \"unconditional I/O exiting\": reason 30; qualification 2 bytes, IN, string, REP, DX, port 0x1F0; information address size 64-bit (IA32_VMX_BASIC[54] = 1 in both models); guest-linear address ES:RDI; length 3 (F3 66 6D); RCX untouched (the exit is fault-like)",
            launch_then(
                |f| proc_or(f, UNCONDITIONAL_IO),
                |a| {
                    a.mov(edx, 0x1f0)?;
                    a.mov(rdi, SCRATCH)?;
                    a.mov(ecx, 3)?;
                    a.rep().insw()
                },
                |a| {
                    a.mov(rax, SEEN)?;
                    a.mov(qword_ptr(rax), rcx)
                },
            ),
            exit(reason::IO),
            &[
                fld(enc::EXIT_QUALIFICATION, 1 | 1 << 3 | 1 << 4 | 1 << 5 | 0x1f0 << 16),
                masked(enc::EXIT_INSTRUCTION_INFO, INS_INFO, 2 << 7),
                fld(enc::GUEST_LINEAR_ADDRESS, SCRATCH),
                fld(enc::EXIT_INSTRUCTION_LENGTH, 3),
                fld(enc::GUEST_RIP, GUEST_RIP + 5 + 10 + 5),
            ],
        )
    },
    case(
        "outsb_fs_addr32_exits",
        "FS: OUTSB with a 32-bit address size (64 67 6E): qualification 1 byte, OUT, string, no REP, port 0x3F8; information address size 32-bit, segment FS; guest-linear address FS.base + ESI (28.2.1, 28.2.5)",
        launch(
            |f| {
                proc_or(f, UNCONDITIONAL_IO);
                set(f, enc::GUEST_FS_BASE, 0x10_0000);
            },
            |a| {
                a.mov(edx, 0x3f8)?;
                a.mov(esi, 0x2000)?;
                a.db(&[0x64, 0x67, 0x6e])
            },
        ),
        exit(reason::IO),
        &[
            fld(enc::EXIT_QUALIFICATION, 1 << 4 | 0x3f8 << 16),
            masked(enc::EXIT_INSTRUCTION_INFO, OUTS_INFO, 1 << 7 | 4 << 15),
            fld(enc::GUEST_LINEAR_ADDRESS, 0x10_2000),
            fld(enc::EXIT_INSTRUCTION_LENGTH, 3),
            fld(enc::GUEST_RIP, GUEST_RIP + 10),
        ],
    ),
    Case {
        pokes: &[poke(IO_BITMAP_B, 1, 1)],
        ..case(
            "outsw_bitmap_b_second_port_exits",
            "I/O bitmaps (25.6.4, 26.1.3): OUTSW to port 0x7FFF touches 0x7FFF (bitmap A, clear) and 0x8000 (bitmap B bit 0, set): exit, 2 bytes, OUT, string",
            launch(io_bitmaps, |a| {
                a.mov(edx, 0x7fff)?;
                a.mov(rsi, SCRATCH)?;
                a.outsw()?;
                a.hlt()
            }),
            exit(reason::IO),
            &[fld(enc::EXIT_QUALIFICATION, 1 | 1 << 4 | 0x7fff << 16)],
        )
    },
    case(
        "outsw_port_wrap_exits",
        "I/O bitmaps (26.1.3): an access that wraps around to port 0 (OUTSW to 0xFFFF) exits whatever the bitmaps say",
        launch(io_bitmaps, |a| {
            a.mov(edx, 0xffff)?;
            a.mov(rsi, SCRATCH)?;
            a.outsw()?;
            a.hlt()
        }),
        exit(reason::IO),
        &[fld(enc::EXIT_QUALIFICATION, 1 | 1 << 4 | 0xffff << 16)],
    ),
    Case {
        mem: &[mem(SEEN, 8, SCRATCH + 1)],
        ..case(
            "outsb_clear_port_runs",
            "I/O bitmaps (25.6.4): OUTSB to port 0x70, whose bit is clear, runs in the guest (RSI advances by 1); the HLT after it exits",
            launch_then(
                io_bitmaps,
                |a| {
                    a.mov(edx, 0x70)?;
                    a.mov(rsi, SCRATCH)?;
                    a.outsb()?;
                    a.hlt()
                },
                store_rsi,
            ),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- CLTS and LMSW (26.1.3, 26.3; qualification access types 2 and 3) ----
    case(
        "clts_exits_when_owned_and_shadowed",
        "CLTS with CR0.TS set in both the guest/host mask and the read shadow (26.1.3): reason 28, CR 0, access type 2 (CLTS), length 2",
        launch(
            |f| {
                set(f, enc::CR0_GUEST_HOST_MASK, TS);
                set(f, enc::CR0_READ_SHADOW, TS);
            },
            |a| a.clts(),
        ),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 2 << 4), fld(enc::EXIT_INSTRUCTION_LENGTH, 2)],
    ),
    case(
        "clts_owned_unshadowed_keeps_ts",
        "CLTS with TS owned (mask 1) and shadow 0: no exit, and CR0.TS stays 1 (26.3)",
        launch(
            |f| {
                set(f, enc::CR0_GUEST_HOST_MASK, TS);
                set(f, enc::CR0_READ_SHADOW, 0);
                set(f, enc::GUEST_CR0, 0x8001_0031 | TS);
            },
            |a| {
                a.clts()?;
                a.hlt()
            },
        ),
        exit(reason::HLT),
        &[masked(enc::GUEST_CR0, TS, TS)],
    ),
    case(
        "clts_unowned_clears_ts",
        "CLTS with TS not owned clears CR0.TS as outside VMX (26.3)",
        launch(|f| set(f, enc::GUEST_CR0, 0x8001_0031 | TS), |a| {
            a.clts()?;
            a.hlt()
        }),
        exit(reason::HLT),
        &[masked(enc::GUEST_CR0, TS, 0)],
    ),
    case(
        "lmsw_register_exits",
        "LMSW AX changing host-owned MP (mask bits 3:1, shadow 0): reason 28, access type 3 (LMSW), register operand, bits 31:16 the source word (26.1.3, 28.2.1); length 4 (66 0F 01 F0)",
        launch(
            |f| {
                set(f, enc::CR0_GUEST_HOST_MASK, 0xe);
                set(f, enc::CR0_READ_SHADOW, 0);
            },
            |a| {
                a.mov(eax, 0xabc3)?;
                a.lmsw(ax)
            },
        ),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 3 << 4 | 0xabc3 << 16), fld(enc::EXIT_INSTRUCTION_LENGTH, 4)],
    ),
    Case {
        pokes: &[poke(SCRATCH + 8, 2, 0x0009)],
        ..case(
            "lmsw_memory_exits_with_linear_address",
            "LMSW with a memory operand (source 9: PE, TS; TS owned, shadow 0): qualification bit 6 (memory), the source data, and the operand's guest-linear address (28.2.1)",
            launch(
                |f| {
                    set(f, enc::CR0_GUEST_HOST_MASK, TS);
                    set(f, enc::CR0_READ_SHADOW, 0);
                },
                |a| {
                    a.mov(rbx, SCRATCH)?;
                    a.lmsw(word_ptr(rbx + 8))
                },
            ),
            exit(reason::CR_ACCESS),
            &[fld(enc::EXIT_QUALIFICATION, 3 << 4 | 1 << 6 | 0x0009 << 16), fld(enc::GUEST_LINEAR_ADDRESS, SCRATCH + 8)],
        )
    },
    case(
        "lmsw_pe_rule_exits",
        "PE owned with shadow PE = 0: an LMSW that sets PE exits although the guest's PE is already 1 (26.1.3, LMSW rule for bit 0)",
        launch(
            |f| {
                set(f, enc::CR0_GUEST_HOST_MASK, 1);
                set(f, enc::CR0_READ_SHADOW, 0);
            },
            |a| {
                a.mov(eax, 1)?;
                a.lmsw(ax)
            },
        ),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 3 << 4 | 1 << 16)],
    ),
    case(
        "lmsw_matching_shadow_keeps_owned_bits",
        "An LMSW that matches the shadow in every owned bit does not exit, and owned bits keep their CR0 value (26.3): TS owned, shadow TS = 1, guest TS = 0; LMSW 0x000A sets MP and leaves TS = 0",
        launch(
            |f| {
                set(f, enc::CR0_GUEST_HOST_MASK, TS);
                set(f, enc::CR0_READ_SHADOW, TS);
            },
            |a| {
                a.mov(eax, 0xa)?;
                a.lmsw(ax)?;
                a.hlt()
            },
        ),
        exit(reason::HLT),
        &[masked(enc::GUEST_CR0, 0xf, 0x3)],
    ),
    // ---- MOV DR (26.1.3; 28.2.1 table for MOV DR) ----
    case(
        "mov_from_dr_exits",
        "MOV RAX, DR7 with \"MOV-DR exiting\": reason 29, DR 7, direction 1 (from DR), GPR RAX; length 3",
        launch(|f| proc_or(f, MOV_DR_EXITING), |a| a.mov(rax, dr7)),
        exit(reason::MOV_DR),
        &[fld(enc::EXIT_QUALIFICATION, 7 | 1 << 4), fld(enc::EXIT_INSTRUCTION_LENGTH, 3)],
    ),
    case(
        "mov_to_dr_exits_before_general_detect",
        "MOV DR3, RCX with DR7.GD = 1: the VM exit has priority over the general-detect #DB (26.1.1): DR 3, direction 0, GPR RCX; GD still set",
        launch(
            |f| {
                proc_or(f, MOV_DR_EXITING);
                set(f, enc::GUEST_DR7, 0x400 | 1 << 13);
            },
            |a| a.mov(dr3, rcx),
        ),
        exit(reason::MOV_DR),
        &[fld(enc::EXIT_QUALIFICATION, 3 | 1 << 8), masked(enc::GUEST_DR7, 1 << 13, 1 << 13)],
    ),
    Case {
        mem: &[mem(SEEN, 8, 0x1234)],
        ..case(
            "mov_dr_without_exiting_runs",
            "Without \"MOV-DR exiting\" MOV DR0 runs in the guest; DR0 is not switched by the exit (28.3), so the host reads the guest's value",
            launch_then(
                nothing,
                |a| {
                    a.mov(rax, 0x1234u64)?;
                    a.mov(dr0, rax)?;
                    a.hlt()
                },
                |a| {
                    a.mov(rcx, dr0)?;
                    a.mov(rax, SEEN)?;
                    a.mov(qword_ptr(rax), rcx)
                },
            ),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- TSC offsetting (26.3, 25.6.5) ----
    Case {
        mem: &[mem(SCRATCH, 8, 1)],
        ..case(
            "rdtsc_offset",
            "\"Use TSC offsetting\" adds the TSC-offset field (2^40) to RDTSC (26.3); the guest stores the result shifted right by 40, which is 1 while the TSC itself is below 2^40 (here it is a few 10^9 at most)",
            launch(
                |f| {
                    proc_or(f, 1 << 3);
                    set(f, enc::TSC_OFFSET, 1 << 40);
                },
                |a| {
                    a.rdtsc()?;
                    a.shl(rdx, 32)?;
                    a.or(rax, rdx)?;
                    a.shr(rax, 40)?;
                    a.mov(rcx, SCRATCH)?;
                    a.mov(qword_ptr(rcx), rax)?;
                    a.hlt()
                },
            ),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        mem: &[mem(SCRATCH, 8, 1)],
        ..case(
            "rdmsr_tsc_is_offset",
            "RDMSR of IA32_TIME_STAMP_COUNTER (10H) with \"use TSC offsetting\" and an MSR bitmap that lets it through returns TSC + offset, like RDTSC (26.3); offset 2^44, result shifted right by 44 = 1",
            launch(
                |f| {
                    proc_or(f, 1 << 3 | 1 << 28);
                    set(f, enc::MSR_BITMAP, MSR_BITMAP);
                    set(f, enc::TSC_OFFSET, 1 << 44);
                },
                |a| {
                    a.mov(ecx, 0x10)?;
                    a.rdmsr()?;
                    a.shl(rdx, 32)?;
                    a.or(rax, rdx)?;
                    a.shr(rax, 44)?;
                    a.mov(rcx, SCRATCH)?;
                    a.mov(qword_ptr(rcx), rax)?;
                    a.hlt()
                },
            ),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- Monitor trap flag (26.5.2) and the preemption timer at 0 (26.5.1) ----
    case(
        "mtf_exits_after_one_instruction",
        "MTF: an MTF VM exit follows the first guest instruction (26.5.2): reason 37, qualification 0, RIP = the next instruction",
        launch(|f| proc_or(f, MTF), |a| {
            a.nop()?;
            a.nop()?;
            a.hlt()
        }),
        exit(reason::MONITOR_TRAP_FLAG),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_RIP, GUEST_RIP + 1)],
    ),
    case(
        "mtf_after_a_delivered_fault",
        "MTF with an instruction that faults (UD2): the MTF VM exit comes after the exception's delivery, at the first instruction of the #UD handler (26.5.2)",
        launch(|f| proc_or(f, MTF), |a| a.ud2()),
        exit(reason::MONITOR_TRAP_FLAG),
        &[fld(enc::GUEST_RIP, UD_STUB)],
    ),
    case(
        "mtf_after_injection",
        "MTF with VM entry injecting #UD: the MTF VM exit is pending before the first guest instruction, after the delivery (26.5.2): RIP = the #UD handler",
        launch(
            |f| {
                proc_or(f, MTF);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306);
            },
            |a| {
                a.nop()?;
                a.hlt()
            },
        ),
        exit(reason::MONITOR_TRAP_FLAG),
        &[fld(enc::GUEST_RIP, UD_STUB)],
    ),
    Case {
        bochs: Some("Bochs 2.7 makes no MTF VM exit (see BOCHS_DISAGREES for the MTF cases); this guest then halts with IF = 0 for good and the Bochs run never ends"),
        ..case(
        "mtf_after_hlt_exits_from_the_hlt_state",
        "HLT (not exiting) with the monitor trap flag: the MTF VM exit follows, from the HLT activity state (26.5.2; 28.1: MTF VM exits are not blocked in the HLT state): reason 37, saved activity state 1 (28.3.4), RIP after the HLT",
        launch(
            |f| {
                no_hlt_exiting(f);
                proc_or(f, MTF);
            },
            |a| {
                a.hlt()?;
                a.nop()
            },
        ),
        exit(reason::MONITOR_TRAP_FLAG),
        &[fld(enc::GUEST_ACTIVITY_STATE, 1), fld(enc::GUEST_RIP, GUEST_RIP + 1)],
    )
    },
    case(
        "preemption_timer_zero_exits_at_once",
        "VMX-preemption timer 0 at VM entry: the exit happens before any guest instruction (26.5.1): reason 52, qualification 0, RIP = the first instruction, saved value 0 (28.3.4)",
        launch(
            |f| {
                or(f, enc::PIN_BASED_CONTROLS, ACTIVATE_TIMER);
                or(f, enc::EXIT_CONTROLS, SAVE_TIMER);
                set(f, enc::PREEMPTION_TIMER_VALUE, 0);
            },
            |a| {
                a.nop()?;
                a.hlt()
            },
        ),
        exit(reason::PREEMPTION_TIMER),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_RIP, GUEST_RIP), fld(enc::PREEMPTION_TIMER_VALUE, 0)],
    ),
    ctl(
        "save_timer_without_timer_fails",
        "preemption timer",
        "\"save VMX-preemption timer value\" = 1 with \"activate VMX-preemption timer\" = 0 (27.2.1.2): VMfailValid(7)",
        |f| or(f, enc::EXIT_CONTROLS, SAVE_TIMER),
    ),
];
