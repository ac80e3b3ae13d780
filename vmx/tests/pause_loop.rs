//! PAUSE-loop exiting as it measures time (SDM Vol. 3C 26.1.3 "PAUSE"; PLE_Gap and PLE_Window,
//! 25.6.13): at CPL 0, a PAUSE is the first of a loop if it is the first since VM entry or
//! comes more than PLE_Gap ticks after the previous PAUSE; any other PAUSE exits (reason 40)
//! if it comes more than PLE_Window ticks after the first PAUSE of its loop. Ticks run at the
//! TSC's rate; the sandbox's cost model charges one cycle (one TSC tick) per instruction, so a
//! loop `INC RAX; PAUSE; JMP` puts its PAUSEs 3 ticks apart, and the k-th PAUSE (RAX = k) is
//! 3(k - 1) ticks after the first: with a gap of at least 3 it exits at the first k with
//! 3(k - 1) > PLE_Window, i.e. k = PLE_Window / 3 + 2. The clock-free cases (window 0, gap 0,
//! "PAUSE exiting" precedence, CPL 3) are shared cases in `common/cases_vmxexits.rs`.

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const PAUSE_LOOP_EXITING: u64 = 1 << 10;
/// At most this many loop iterations before the guest gives up with HLT.
const LIMIT: u64 = 2000;

fn ple(f: &mut Vec<(u32, u64)>, gap: u64, window: u64) {
    or(f, enc::SECONDARY_PROC_BASED_CONTROLS, PAUSE_LOOP_EXITING);
    set(f, enc::PLE_GAP, gap);
    set(f, enc::PLE_WINDOW, window);
}

/// `INC RAX; PAUSE; JMP top` from RAX = 0, giving up with HLT after LIMIT iterations (the
/// check is a CMP/JE before the PAUSE, so the loop is 5 instructions: INC, CMP, JE, PAUSE,
/// JMP, and PAUSEs are 5 ticks apart).
fn pause_loop(a: &mut CodeAssembler) -> Result<(), IcedError> {
    let mut top = a.create_label();
    let mut out = a.create_label();
    a.xor(eax, eax)?;
    a.set_label(&mut top)?;
    a.inc(rax)?;
    a.cmp(rax, LIMIT as i32)?;
    a.je(out)?;
    a.pause()?;
    a.jmp(top)?;
    a.set_label(&mut out)?;
    a.hlt()
}

/// Runs the loop with PLE_Gap `gap` and PLE_Window `window`; the exit reason and RAX.
fn loop_with(gap: u64, window: u64) -> (u64, u64) {
    let r = run(|f| ple(f, gap, window), pause_loop);
    assert_eq!(r.kind(), KIND_EXIT, "why: {}", r.why());
    (r.exit_reason(), r.s.cpu.state.gpr[0])
}

/// The PAUSE (RAX = k) that exits for a window of `w` with PAUSEs 5 ticks apart: the first
/// k with 5(k - 1) > w.
fn expected_k(w: u64) -> u64 {
    w / 5 + 2
}

#[test]
fn the_exit_comes_with_the_first_pause_past_the_window() {
    for w in [0, 1, 4, 5, 6, 9, 10, 11, 100, 1001, 2500] {
        let (why, k) = loop_with(u32::MAX as u64, w);
        assert_eq!(why, reason::PAUSE as u64, "window {w}");
        assert_eq!(k, expected_k(w), "window {w}: the PAUSE more than {w} ticks after the first of the loop exits");
    }
}

#[test]
fn the_saved_rip_is_the_pause_and_the_length_2() {
    let r = run(|f| ple(f, 100, 50), pause_loop);
    exited(&r, reason::PAUSE);
    // The loop's only PAUSE (F3 90) in the assembled guest.
    let code = asm(GUEST_RIP, pause_loop);
    let pause_at = GUEST_RIP + code.windows(2).position(|w| w == [0xf3, 0x90]).expect("a PAUSE") as u64;
    assert_eq!(r.field(enc::GUEST_RIP), pause_at);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0);
}

#[test]
fn pauses_further_apart_than_the_gap_each_start_a_loop() {
    // PAUSEs 5 ticks apart: a gap of 4 makes every one the first of a loop (none exits, the
    // guest gives up at LIMIT); a gap of 5 keeps them in one loop (5 is not more than 5).
    assert_eq!(loop_with(4, 0), (reason::HLT as u64, LIMIT));
    assert_eq!(loop_with(5, 0), (reason::PAUSE as u64, 2));
    assert_eq!(loop_with(5, 30), (reason::PAUSE as u64, expected_k(30)));
}

#[test]
fn a_pause_after_a_long_break_starts_a_new_loop() {
    // Five PAUSEs 1 tick apart (ticks 0-4 of the first loop, window 20), then a 2 * 30-tick
    // DEC/JNZ break (more than the gap of 10), then PAUSEs 1 tick apart again: the first after
    // the break starts a new loop, so the exit is the one 21 ticks after it (the 22nd of the
    // second run, R9 = 22), not the first after the break (which is more than 20 ticks after
    // the first loop's start).
    let r = run(
        |f| ple(f, 10, 20),
        |a| {
            let mut wait = a.create_label();
            for _ in 0..5 {
                a.pause()?;
            }
            a.mov(ecx, 30)?;
            a.set_label(&mut wait)?;
            a.dec(ecx)?;
            a.jnz(wait)?;
            a.xor(r9d, r9d)?;
            for _ in 0..40 {
                a.inc(r9)?;
                a.pause()?;
            }
            a.hlt()
        },
    );
    exited(&r, reason::PAUSE);
    // PAUSEs of the second run are 2 ticks apart (INC, PAUSE): the j-th is 2(j - 1) after the
    // first; the first with 2(j - 1) > 20 is j = 12.
    assert_eq!(r.s.cpu.state.gpr[9], 12);
}

#[test]
fn tsc_offsetting_does_not_change_the_measure() {
    // The counter runs at the TSC's rate (26.1.3); the TSC offset (25.6.5) moves what RDTSC
    // returns, not the intervals.
    let r = run(
        |f| {
            ple(f, u32::MAX as u64, 40);
            or(f, enc::PROC_BASED_CONTROLS, 1 << 3);
            set(f, enc::TSC_OFFSET, u64::MAX - 7);
        },
        pause_loop,
    );
    exited(&r, reason::PAUSE);
    assert_eq!(r.s.cpu.state.gpr[0], expected_k(40));
}

#[test]
fn vm_entry_restarts_the_loop() {
    // "The first execution of PAUSE at CPL 0 after VM entry" starts a loop (26.1.3). Window 0:
    // the second PAUSE (RAX = 2) exits; the host VMRESUMEs at once (RIP = that PAUSE, RAX
    // kept: VM exits and entries load neither), so the same PAUSE runs again as the first
    // after entry and does not exit; the next one (RAX = 3) does.
    let count = SCRATCH + 0x100;
    let host_exit = asm(HOST_RIP, |a| {
        let mut done = a.create_label();
        a.mov(rbx, count)?;
        a.inc(qword_ptr(rbx))?;
        a.cmp(qword_ptr(rbx), 1)?;
        a.jne(done)?;
        a.vmresume()?;
        a.set_label(&mut done)?;
        a.hlt()
    });
    let p = hvbench_vmx::caps::Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    ple(&mut f, u32::MAX as u64, 0);
    let r = run_prepared(p, &f, &asm(GUEST_RIP, pause_loop), |s| {
        assert!(s.mem.write_bytes(hvbench_mmu::PhysAddr(HOST_RIP), &host_exit));
    });
    assert_eq!(r.s.read(count, 8), 2, "two exits, one VMRESUME; why: {}", r.why());
    assert_eq!(r.exit_reason(), reason::PAUSE as u64);
    assert_eq!(r.s.cpu.state.gpr[0], 3);
}
