//! Shared cases (see [`super::cases`]) for the address-range monitoring hardware's line
//! granularity (SDM Vol. 2B "MONITOR—Set Up Monitor Address": the monitored range is the line
//! CPUID.05H reports, 64 bytes in the default profile; "a store to the address range triggers the
//! monitoring hardware"; Vol. 3C 28.2.1: MWAIT exit qualification bit 0 is set if the monitoring
//! hardware is armed).

#![allow(dead_code)]

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

/// "MWAIT exiting" (primary processor-based control bit 10).
const MWAIT_EXITING: u64 = 1 << 10;

pub static CASES: &[Case] = &[
    case(
        "mwait_after_stores_outside_the_monitored_line_is_armed",
        "MONITOR SCRATCH (DATA_BASE + 20H: the monitored line is DATA_BASE + 0..3FH) arms the monitoring hardware; stores to DATA_BASE + 60H (the next line) and DATA_BASE + 800H (same 4-KByte page) are outside the range, so it is still armed when MWAIT exits: qualification 1 (28.2.1), reason 36",
        launch(|f| proc_or(f, MWAIT_EXITING), |a| {
            a.mov(rax, SCRATCH)?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)?;
            a.monitor()?;
            a.mov(qword_ptr(rax + 0x40), 1)?;
            a.mov(qword_ptr(rax + 0x7e0), 1)?;
            a.mwait()
        }),
        exit(reason::MWAIT),
        &[fld(enc::EXIT_QUALIFICATION, 1)],
    ),
    case(
        "mwait_after_rep_stos_into_the_monitored_line",
        "MONITOR SCRATCH arms the monitoring hardware; REP STOSB of 4 bytes at DATA_BASE + 3EH (its last two bytes are in the next line, its first two in the monitored one) triggers it, so it is no longer armed when MWAIT exits: qualification 0 (28.2.1), reason 36",
        launch(|f| proc_or(f, MWAIT_EXITING), |a| {
            a.mov(rax, SCRATCH)?;
            a.xor(ecx, ecx)?;
            a.xor(edx, edx)?;
            a.monitor()?;
            a.lea(rdi, qword_ptr(rax + 0x1e))?;
            a.mov(ecx, 4)?;
            a.rep().stosb()?;
            a.xor(ecx, ecx)?;
            a.mwait()
        }),
        exit(reason::MWAIT),
        &[fld(enc::EXIT_QUALIFICATION, 0)],
    ),
];
