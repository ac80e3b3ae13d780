//! Shared cases (see [`super::cases`]) for RDPMC exiting, the TPR shadow with CR8-load/store
//! exiting, and PAUSE-loop exiting:
//! - RDPMC (SDM Vol. 3C 26.1.3 "RDPMC"; 26.1.1 "Relative Priority of Faults and VM Exits":
//!   the #GP(0) for CPL > 0 with CR4.PCE = 0 is based on privilege level and comes first, the
//!   #GP(0) for an unsupported counter in ECX does not, so the exit wins over it; reason 15,
//!   qualification 0 (28.2.1), length 2 (28.2.4));
//! - CR8 (26.1.3 "MOV to CR8"/"MOV from CR8"; 28.2.1 table "Exit Qualification for
//!   Control-Register Accesses"; 30.3 "Virtualizing CR8-Based TPR Accesses"; 30.1.2 "TPR
//!   Virtualization": reason 43, trap-like, qualification 0; 27.2.1.1 checks on the
//!   virtual-APIC address and the TPR threshold, VMfailValid(7));
//! - PAUSE (26.1.3 "PAUSE": "PAUSE exiting" at any CPL, and then "PAUSE-loop exiting" is
//!   ignored; PAUSE-loop exiting at CPL 0 only, PLE_Gap/PLE_Window per 25.6.13). The cases
//!   here depend on no particular clock rate: PLE_Window = 0 (the second PAUSE of a loop is
//!   later than the first), PLE_Gap = 0 (every PAUSE starts a loop), PLE_Window = FFFFFFFFH
//!   (no loop this short reaches it). Timing-dependent checks are in `vmx/tests/pause_loop.rs`.
//!
//! Guests at CPL 3 get CS 0x33 / SS 0x2B with DPL 3 in the VMCS (27.3.1.2: CS.DPL = SS.DPL for
//! a non-conforming code segment, SS.RPL = CS.RPL); their pages are user pages.

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

// Primary processor-based controls (25.6.2).
const RDPMC_EXITING: u64 = 1 << 11;
const CR8_LOAD_EXITING: u64 = 1 << 19;
const CR8_STORE_EXITING: u64 = 1 << 20;
const USE_TPR_SHADOW: u64 = 1 << 21;
const PAUSE_EXITING: u64 = 1 << 30;
// Secondary processor-based controls (25.6.2).
const PAUSE_LOOP_EXITING: u64 = 1 << 10;
/// CR4.PCE.
const PCE: u64 = 1 << 8;

/// The virtual-APIC page (4-KByte aligned, after the MSR bitmap); VTPR is at offset 80H.
const VAPIC: u64 = 0x31_3000;
const VTPR: u64 = VAPIC + 0x80;
/// Where `at_exit` code stores a guest register.
const SEEN: u64 = SCRATCH + 0x48;

/// #GP(0) as VM-exit interruption information: vector 13, hardware exception, error code
/// valid, valid (25.9.2).
const GP_INFO: u64 = 0x8000_0b0d;
/// #UD: vector 6, hardware exception, valid.
const UD_INFO: u64 = 0x8000_0306;

const fn mem(addr: u64, size: u8, value: u64) -> MemCheck {
    MemCheck { addr, size, value }
}

fn sec_or(f: &mut Vec<(u32, u64)>, bits: u64) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, bits);
}

/// A CPL 3 guest (CS 0x33, SS 0x2B, DPL 3).
fn user(f: &mut Vec<(u32, u64)>) {
    set(f, enc::GUEST_CS_SELECTOR, 0x33);
    set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xa0fb);
    set(f, enc::GUEST_SS_SELECTOR, 0x2b);
    set(f, enc::GUEST_SS_ACCESS_RIGHTS, 0xc0f3);
}

/// #GP and #UD exit through the exception bitmap (25.6.3).
fn gp_ud_exit(f: &mut Vec<(u32, u64)>) {
    set(f, enc::EXCEPTION_BITMAP, 1 << 13 | 1 << 6);
}

/// "use TPR shadow" with the virtual-APIC page at VAPIC and TPR threshold `t`.
fn tpr_shadow(f: &mut Vec<(u32, u64)>, t: u64) {
    proc_or(f, USE_TPR_SHADOW);
    set(f, enc::VIRTUAL_APIC_ADDRESS, VAPIC);
    set(f, enc::TPR_THRESHOLD, t);
}

/// "PAUSE-loop exiting" with PLE_Gap `gap` and PLE_Window `window`.
fn ple(f: &mut Vec<(u32, u64)>, gap: u64, window: u64) {
    sec_or(f, PAUSE_LOOP_EXITING);
    set(f, enc::PLE_GAP, gap);
    set(f, enc::PLE_WINDOW, window);
}

/// At the exit: stores guest RAX at SEEN.
fn store_rax(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rbx, SEEN)?;
    a.mov(qword_ptr(rbx), rax)
}

/// At the exit: stores guest RCX at SEEN.
fn store_rcx(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rbx, SEEN)?;
    a.mov(qword_ptr(rbx), rcx)
}

/// The cases of this file.
pub static CASES: &[Case] = &[
    // ---- RDPMC (26.1.3, 26.1.1) ----
    case(
        "rdpmc_exits",
        "RDPMC at CPL 0 with \"RDPMC exiting\" (primary bit 11): reason 15, qualification 0 (28.2.1), length 2 (0F 33; 28.2.4), RIP of the RDPMC",
        launch(|f| proc_or(f, RDPMC_EXITING), |a| {
            a.xor(ecx, ecx)?;
            a.rdpmc()
        }),
        exit(reason::RDPMC),
        &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP + 2)],
    ),
    case(
        "rdpmc_unsupported_counter_exits",
        "RDPMC with an ECX that names no counter on any processor (12345678H) and \"RDPMC exiting\": the #GP(0) for an invalid counter is not based on privilege level, so the VM exit has priority (26.1.1): reason 15",
        launch(|f| proc_or(f, RDPMC_EXITING), |a| {
            a.mov(ecx, 0x1234_5678)?;
            a.rdpmc()
        }),
        exit(reason::RDPMC),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 2)],
    ),
    case(
        "rdpmc_unsupported_counter_faults_without_exiting",
        "RDPMC at CPL 0 with ECX = 12345678H (no such counter) and \"RDPMC exiting\" = 0: #GP(0) (RDPMC instruction page), exiting through the exception bitmap: reason 0, interruption information 80000B0DH, error code 0, RIP of the RDPMC",
        launch(gp_ud_exit, |a| {
            a.mov(ecx, 0x1234_5678)?;
            a.rdpmc()
        }),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, GP_INFO), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), fld(enc::GUEST_RIP, GUEST_RIP + 5)],
    ),
    case(
        "rdpmc_cpl3_without_pce_faults_before_exiting",
        "RDPMC at CPL 3 with CR4.PCE = 0 and \"RDPMC exiting\": the #GP(0) is based on privilege level and has priority over the VM exit (26.1.1): reason 0 with #GP(0)",
        launch(
            |f| {
                proc_or(f, RDPMC_EXITING);
                gp_ud_exit(f);
                user(f);
            },
            |a| {
                a.xor(ecx, ecx)?;
                a.rdpmc()
            },
        ),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, GP_INFO), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), fld(enc::GUEST_RIP, GUEST_RIP + 2)],
    ),
    case(
        "rdpmc_cpl3_with_pce_exits",
        "RDPMC at CPL 3 with CR4.PCE = 1 and \"RDPMC exiting\": no privilege fault, so it exits: reason 15, length 2",
        launch(
            |f| {
                proc_or(f, RDPMC_EXITING);
                gp_ud_exit(f);
                user(f);
                or(f, enc::GUEST_CR4, PCE);
            },
            |a| {
                a.xor(ecx, ecx)?;
                a.rdpmc()
            },
        ),
        exit(reason::RDPMC),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP + 2)],
    ),
    // ---- CR8 exiting (26.1.3, 28.2.1) ----
    case(
        "mov_from_cr8_exits",
        "MOV RDX, CR8 with \"CR8-store exiting\" (primary bit 20): reason 28; qualification CR 8 (3:0), access type 1 MOV from CR (5:4), register 2 (11:8); length 4 (44 0F 20 C2)",
        launch(|f| proc_or(f, CR8_STORE_EXITING), |a| a.mov(rdx, cr8)),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 8 | 1 << 4 | 2 << 8), fld(enc::EXIT_INSTRUCTION_LENGTH, 4)],
    ),
    case(
        "mov_to_cr8_r9_exits",
        "MOV CR8, R9 with \"CR8-load exiting\" (primary bit 19): reason 28; qualification CR 8, access type 0 MOV to CR, register 9; length 4 (45 0F 22 C1)",
        launch(|f| proc_or(f, CR8_LOAD_EXITING), |a| {
            a.mov(r9d, 3)?;
            a.mov(cr8, r9)
        }),
        exit(reason::CR_ACCESS),
        &[fld(enc::EXIT_QUALIFICATION, 8 | 9 << 8), fld(enc::EXIT_INSTRUCTION_LENGTH, 4)],
    ),
    // ---- TPR shadow (30.3, 30.1.2) ----
    Case {
        pokes: &[poke(VTPR, 8, 0x1111_1111_0000_005a)],
        mem: &[mem(SEEN, 8, 5)],
        ..case(
            "tpr_shadow_mov_from_cr8_reads_vtpr",
            "MOV RAX, CR8 with \"use TPR shadow\" and \"CR8-store exiting\" = 0 (30.3): RAX = VTPR bits 7:4 (VTPR = 5AH: 5), bits 63:4 cleared; the HLT after it exits",
            launch_then(
                |f| tpr_shadow(f, 0),
                |a| {
                    a.mov(rax, -1i64)?;
                    a.mov(rax, cr8)?;
                    a.hlt()
                },
                store_rax,
            ),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[poke(VTPR, 8, 0x1111_1111_ffff_ffff)],
        mem: &[mem(VTPR, 8, 0x1111_1111_0000_0070)],
        ..case(
            "tpr_shadow_mov_to_cr8_writes_vtpr",
            "MOV CR8, RCX (7) with \"use TPR shadow\", \"CR8-load exiting\" = 0, TPR threshold 0 (30.3): VTPR bits 7:4 = 7, bits 3:0 and bytes 81H-83H cleared, bytes from 84H untouched; no exit (threshold 0 is not above 7); the HLT exits",
            launch(|f| tpr_shadow(f, 0), |a| {
                a.mov(ecx, 7)?;
                a.mov(cr8, rcx)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[fld(enc::GUEST_RIP, GUEST_RIP + 9)],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x50)],
        mem: &[mem(VTPR, 4, 0x30)],
        ..case(
            "tpr_below_threshold_exits_after_mov_to_cr8",
            "MOV CR8, RCX (3) with \"use TPR shadow\" and TPR threshold 5 (VTPR 50H at entry, so the entry check passes): VTPR = 30H, then TPR virtualization (30.1.2): threshold 5 > VTPR bits 7:4 = 3: trap-like VM exit reason 43, qualification 0 (28.2.1), RIP of the next instruction",
            launch(|f| tpr_shadow(f, 5), |a| {
                a.mov(ecx, 3)?;
                a.mov(cr8, rcx)?;
                a.hlt()
            }),
            exit(reason::TPR_BELOW_THRESHOLD),
            &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::GUEST_RIP, GUEST_RIP + 9)],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x50)],
        mem: &[mem(VTPR, 4, 0x50)],
        ..case(
            "tpr_shadow_mov_to_cr8_equal_threshold_no_exit",
            "MOV CR8, RCX (5) with TPR threshold 5: VTPR bits 7:4 = 5 is not below the threshold (30.1.2: exit only if threshold bits 3:0 > VTPR bits 7:4): no exit; the HLT exits",
            launch(|f| tpr_shadow(f, 5), |a| {
                a.mov(ecx, 5)?;
                a.mov(cr8, rcx)?;
                a.hlt()
            }),
            exit(reason::HLT),
            &[],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x50)],
        mem: &[mem(VTPR, 4, 0x50)],
        ..case(
            "cr8_load_exiting_wins_over_tpr_shadow",
            "MOV CR8, RCX (1) with \"CR8-load exiting\" and \"use TPR shadow\" (26.1.3: MOV to CR8 exits if \"CR8-load exiting\" is 1, whatever the TPR shadow): reason 28, qualification CR 8, MOV to CR, RCX; VTPR unchanged",
            launch(
                |f| {
                    tpr_shadow(f, 5);
                    proc_or(f, CR8_LOAD_EXITING);
                },
                |a| {
                    a.mov(ecx, 1)?;
                    a.mov(cr8, rcx)
                },
            ),
            exit(reason::CR_ACCESS),
            &[fld(enc::EXIT_QUALIFICATION, 8 | 1 << 8)],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x90)],
        mem: &[mem(VTPR, 4, 0x90)],
        ..case(
            "tpr_shadow_mov_to_cr8_reserved_bits_fault",
            "MOV CR8, RCX with RCX bit 4 set and \"use TPR shadow\": #GP(0) (MOV to CR page: a 1 in CR8 bits 63:4), through the exception bitmap: reason 0, #GP(0); VTPR unchanged",
            launch(
                |f| {
                    tpr_shadow(f, 0);
                    gp_ud_exit(f);
                },
                |a| {
                    a.mov(ecx, 0x13)?;
                    a.mov(cr8, rcx)
                },
            ),
            exit(reason::EXCEPTION_NMI),
            &[fld(enc::EXIT_INTERRUPTION_INFO, GP_INFO), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), fld(enc::GUEST_RIP, GUEST_RIP + 5)],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x40)],
        ..case(
            "cr8_store_exiting_wins_over_tpr_shadow",
            "MOV RCX, CR8 with \"CR8-store exiting\" and \"use TPR shadow\": reason 28, qualification CR 8, MOV from CR, RCX (26.1.3)",
            launch(
                |f| {
                    tpr_shadow(f, 0);
                    proc_or(f, CR8_STORE_EXITING);
                },
                |a| a.mov(rcx, cr8),
            ),
            exit(reason::CR_ACCESS),
            &[fld(enc::EXIT_QUALIFICATION, 8 | 1 << 4 | 1 << 8)],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x30)],
        mem: &[mem(SEEN, 8, 0x3)],
        ..case(
            "tpr_shadow_round_trip",
            "MOV CR8, RCX (0x0C), then MOV RCX, CR8 with \"use TPR shadow\": reads back C (30.3); the HLT exits",
            launch_then(
                |f| tpr_shadow(f, 0),
                |a| {
                    a.mov(ecx, 0xc)?;
                    a.mov(cr8, rcx)?;
                    a.mov(rcx, cr8)?;
                    a.shr(rcx, 2)?;
                    a.hlt()
                },
                store_rcx,
            ),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- TPR-shadow entry checks (27.2.1.1) ----
    Case {
        why: "virtual-APIC address 4-KByte aligned",
        ..case(
            "entry_ctl_virtual_apic_unaligned",
            "\"use TPR shadow\" = 1 requires the virtual-APIC address 4-KByte aligned (27.2.1.1): VMfailValid(7)",
            launch(
                |f| {
                    tpr_shadow(f, 0);
                    set(f, enc::VIRTUAL_APIC_ADDRESS, VAPIC + 0x10);
                },
                hlt,
            ),
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        why: "virtual-APIC address 4-KByte aligned",
        ..case(
            "entry_ctl_virtual_apic_beyond_maxphyaddr",
            "\"use TPR shadow\" = 1 requires the virtual-APIC address within the physical-address width (27.2.1.1): bit 52 set: VMfailValid(7)",
            launch(
                |f| {
                    tpr_shadow(f, 0);
                    set(f, enc::VIRTUAL_APIC_ADDRESS, 1 << 52 | VAPIC);
                },
                hlt,
            ),
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        why: "TPR threshold bits 31:4 = 0",
        pokes: &[poke(VTPR, 4, 0xf0)],
        ..case(
            "entry_ctl_tpr_threshold_bits_31_4",
            "\"use TPR shadow\" = 1 with \"virtual-interrupt delivery\" = 0 requires TPR threshold bits 31:4 = 0 (27.2.1.1): threshold 10H: VMfailValid(7)",
            launch(|f| tpr_shadow(f, 0x10), hlt),
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        why: "TPR threshold bits 3:0 <= VTPR bits 7:4",
        pokes: &[poke(VTPR, 4, 0x3f)],
        ..case(
            "entry_ctl_tpr_threshold_above_vtpr",
            "\"use TPR shadow\" = 1 with \"virtualize APIC accesses\" = 0 and \"virtual-interrupt delivery\" = 0: TPR threshold bits 3:0 must not exceed VTPR bits 7:4 (27.2.1.1): threshold 4, VTPR 3FH: VMfailValid(7)",
            launch(|f| tpr_shadow(f, 4), hlt),
            Outcome::VmFailValid(7),
            &[],
        )
    },
    Case {
        pokes: &[poke(VTPR, 4, 0x40)],
        ..case(
            "entry_tpr_threshold_equal_vtpr_enters",
            "Converse of entry_ctl_tpr_threshold_above_vtpr: threshold 4 = VTPR bits 7:4 (VTPR 40H) passes (27.2.1.1), and no TPR-threshold exit follows entry without \"virtualize APIC accesses\" (27.7.x VM exits induced by the TPR threshold need it): the HLT exits",
            launch(|f| tpr_shadow(f, 4), hlt),
            exit(reason::HLT),
            &[],
        )
    },
    // ---- PAUSE exiting and PAUSE-loop exiting (26.1.3) ----
    Case {
        mem: &[mem(SEEN, 8, 1)],
        ..case(
            "pause_exiting_wins_over_pause_loop_exiting",
            "PAUSE at CPL 0 with \"PAUSE exiting\" and \"PAUSE-loop exiting\" (PLE_Window FFFFFFFFH): PAUSE-loop exiting is ignored and the first PAUSE exits (26.1.3): reason 40, qualification 0, length 2; RCX = 1 PAUSE reached",
            launch_then(
                |f| {
                    proc_or(f, PAUSE_EXITING);
                    ple(f, u32::MAX as u64, u32::MAX as u64);
                },
                |a| {
                    a.mov(ecx, 1)?;
                    a.pause()?;
                    a.inc(ecx)?;
                    a.pause()?;
                    a.hlt()
                },
                store_rcx,
            ),
            exit(reason::PAUSE),
            &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP + 5)],
        )
    },
    Case {
        mem: &[mem(SEEN, 8, 2)],
        ..case(
            "pause_loop_window_0_exits_at_second_pause",
            "\"PAUSE-loop exiting\" with PLE_Gap FFFFFFFFH and PLE_Window 0 at CPL 0 (26.1.3): the first PAUSE after entry starts a loop and does not exit; the second is within the gap and more than 0 ticks after the first: reason 40, length 2, RIP of the second PAUSE; RCX = 2",
            launch_then(
                |f| ple(f, u32::MAX as u64, 0),
                |a| {
                    a.mov(ecx, 1)?;
                    a.pause()?;
                    a.inc(ecx)?;
                    a.pause()?;
                    a.hlt()
                },
                store_rcx,
            ),
            exit(reason::PAUSE),
            &[fld(enc::EXIT_QUALIFICATION, 0), fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP + 9)],
        )
    },
    case(
        "pause_loop_gap_0_never_exits",
        "\"PAUSE-loop exiting\" with PLE_Gap 0 and PLE_Window 0 (26.1.3): each PAUSE comes more than 0 ticks after the previous one, so each starts a new loop and none exits; the HLT after 8 PAUSEs exits",
        launch(|f| ple(f, 0, 0), |a| {
            for _ in 0..8 {
                a.pause()?;
            }
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 16)],
    ),
    case(
        "pause_loop_long_window_no_exit",
        "\"PAUSE-loop exiting\" with PLE_Gap and PLE_Window FFFFFFFFH: 8 back-to-back PAUSEs stay within the window (26.1.3): no exit; the HLT exits",
        launch(|f| ple(f, u32::MAX as u64, u32::MAX as u64), |a| {
            for _ in 0..8 {
                a.pause()?;
            }
            a.hlt()
        }),
        exit(reason::HLT),
        &[fld(enc::GUEST_RIP, GUEST_RIP + 16)],
    ),
    case(
        "pause_loop_ignored_at_cpl3",
        "\"PAUSE-loop exiting\" (PLE_Window 0) is ignored at CPL 3 (26.1.3): 4 PAUSEs run, then UD2 raises #UD, which exits through the exception bitmap: reason 0, #UD",
        launch(
            |f| {
                ple(f, u32::MAX as u64, 0);
                gp_ud_exit(f);
                user(f);
            },
            |a| {
                for _ in 0..4 {
                    a.pause()?;
                }
                a.ud2()
            },
        ),
        exit(reason::EXCEPTION_NMI),
        &[fld(enc::EXIT_INTERRUPTION_INFO, UD_INFO), fld(enc::GUEST_RIP, GUEST_RIP + 8)],
    ),
    case(
        "pause_exiting_at_cpl3",
        "\"PAUSE exiting\" applies at CPL 3 too (26.1.3): reason 40, length 2",
        launch(
            |f| {
                proc_or(f, PAUSE_EXITING);
                user(f);
            },
            |a| a.pause(),
        ),
        exit(reason::PAUSE),
        &[fld(enc::EXIT_INSTRUCTION_LENGTH, 2), fld(enc::GUEST_RIP, GUEST_RIP)],
    ),
];
