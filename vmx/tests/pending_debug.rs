//! The guest pending-debug-exceptions field (SDM Vol. 3C 25.4.2 "Guest Non-Register State",
//! table "Format of Pending-Debug-Exceptions": bits 3:0 B3-B0, bit 12 enabled breakpoint, bit
//! 14 BS): loaded at VM entry and delivered as 27.7.3 "Delivery of Pending Debug Exceptions
//! after VM Entry" says, saved at VM exits (28.3.4 "Saving Non-Register State"), with the
//! monitor trap flag's priority over debug traps (26.5.2 "Monitor Trap Flag").
//!
//! The sandbox's exception stubs write the vector to VECTOR_SLOT and halt; "HLT exiting" is
//! on, so a delivered #DB shows as a HLT exit with VECTOR_SLOT = 1.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::VECTOR_SLOT;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const MTF: u64 = 1 << 27;
const TF: u64 = 1 << 8;
const BS: u64 = 1 << 14;
const ENABLED_BP: u64 = 1 << 12;
const DR6_BS: u64 = 1 << 14;
/// Interruptibility state: blocking by MOV SS (table "Format of Interruptibility State").
const BLOCK_MOV_SS: u64 = 2;
/// The RIP the stub's interrupt frame holds (64-bit frame: RIP at the lowest address).
const FRAME_RIP: u64 = GUEST_RSP - 40;

fn vector(r: &Run) -> u64 {
    r.s.read(VECTOR_SLOT, 1)
}

vmx_test!(
    /// 27.7.3: an entry that injects nothing, without blocking by MOV SS, with BS pending
    /// delivers #DB before the first guest instruction: the frame's RIP is GUEST_RIP, DR6.BS
    /// is set.
    pending_bs_is_delivered_before_the_first_instruction,
    fields: |f| set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, BS),
    guest: |a| { a.mov(eax, 0x1234)?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(vector(r), 1, "#DB delivered");
        assert_eq!(r.s.read(FRAME_RIP, 8), GUEST_RIP, "a trap before the first instruction");
        assert_ne!(r.s.cpu.state.dr[6] & DR6_BS, 0, "DR6.BS from the field");
        assert_ne!(r.s.cpu.state.gpr[0] & 0xffff, 0x1234, "the first instruction did not run");
    }
);

vmx_test!(
    /// 27.7.3 with 26.2 / 28.2.1: the pending #DB is an ordinary exception in non-root
    /// operation: with bit 1 of the exception bitmap it exits (reason 0, interruption
    /// information 80000301H: vector 1, hardware exception), the qualification holds B3-B0
    /// and BS in DR6 format, and DR6 is not changed.
    pending_breakpoint_exits_through_the_exception_bitmap,
    fields: |f| {
        set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 0b0100 | ENABLED_BP);
        set(f, enc::EXCEPTION_BITMAP, 1 << 1);
    },
    guest: |a| a.hlt(),
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0301);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0b0100, "B2 in DR6 format");
        assert_eq!(r.s.cpu.state.dr[6] & 0xf, 0, "DR6 unchanged by a #DB VM exit");
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
    }
);

vmx_test!(
    /// 27.7.3 with Vol. 3A 6.8.3: with blocking by MOV SS the pending #DB waits until the first
    /// guest instruction completes (TF = 0 here, so only the field can raise it; 27.3.1.5
    /// requires BS = 0 then): the instruction runs, the frame's RIP is after it, DR6.B0 set.
    pending_breakpoint_waits_for_mov_ss_blocking,
    fields: |f| {
        set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 1 | ENABLED_BP);
        set(f, enc::GUEST_INTERRUPTIBILITY, BLOCK_MOV_SS);
    },
    guest: |a| { a.mov(eax, 0x1234)?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(vector(r), 1, "#DB delivered");
        assert_eq!(r.s.cpu.state.gpr[0] & 0xffff_ffff, 0x1234, "the first instruction ran");
        assert_eq!(r.s.read(FRAME_RIP, 8), GUEST_RIP + 5, "after MOV EAX, imm32");
        assert_eq!(r.s.cpu.state.dr[6] & 0xf, 1, "DR6.B0 from the field");
        assert_eq!(r.s.cpu.state.dr[6] & DR6_BS, 0);
    }
);

vmx_test!(
    /// 27.7.3: a vectoring entry (here #UD injected) does not deliver the pending debug
    /// exceptions: the #UD stub runs and halts, no #DB, DR6.BS stays clear.
    vectoring_entry_does_not_deliver_pending_debug_exceptions,
    fields: |f| {
        set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, BS);
        set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306);
    },
    guest: |a| a.hlt(),
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(vector(r), 6, "only the injected #UD");
        assert_eq!(r.s.cpu.state.dr[6] & DR6_BS, 0);
    }
);

vmx_test!(
    /// 26.5.2 / 28.3.4: after an instruction with RFLAGS.TF = 1, the MTF VM exit comes before
    /// the single-step trap, which is saved as pending (BS, bit 14); no #DB was delivered.
    mtf_exit_saves_a_pending_single_step,
    fields: |f| {
        set(f, enc::GUEST_RFLAGS, 2 | TF);
        or(f, enc::PROC_BASED_CONTROLS, MTF);
    },
    guest: |a| { a.nop()?; a.hlt() },
    expect: |r| {
        exited(r, reason::MONITOR_TRAP_FLAG);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 1);
        assert_eq!(r.field(enc::GUEST_PENDING_DEBUG_EXCEPTIONS), BS);
        assert_eq!(vector(r), 0, "no #DB delivered");
        assert_eq!(r.s.cpu.state.dr[6] & DR6_BS, 0);
    }
);

vmx_test!(
    /// 28.3.4 with Vol. 3A 6.8.3: a single-step trap held back by MOV SS is still pending when
    /// the next instruction (CPUID) exits: the field has BS; the host gets no #DB.
    exit_in_the_mov_ss_shadow_saves_the_held_trap,
    fields: |f| set(f, enc::GUEST_RFLAGS, 2 | TF),
    guest: |a| {
        // MOV SS from memory (the selector 10H after the code): no instruction before it,
        // whose single-step trap would come first.
        let mut sel = a.create_label();
        a.mov(ss, word_ptr(sel))?;
        a.cpuid()?;
        a.hlt()?;
        a.set_label(&mut sel)?;
        a.dw(&[0x10])
    },
    expect: |r| {
        exited(r, reason::CPUID);
        assert_eq!(r.field(enc::GUEST_PENDING_DEBUG_EXCEPTIONS), BS);
        assert_eq!(r.s.cpu.state.dr[6] & DR6_BS, 0, "the host's DR6 does not see the guest's trap");
        assert_eq!(r.s.cpu.pending_debug(), 0, "nothing left pending in the host");
    }
);

vmx_test!(
    /// 28.3.4: an exit with no debug trap pending saves 0.
    exit_without_pending_traps_saves_zero,
    fields: |f| set(f, enc::GUEST_PENDING_DEBUG_EXCEPTIONS, 0),
    guest: |a| a.cpuid(),
    expect: |r| {
        exited(r, reason::CPUID);
        assert_eq!(r.field(enc::GUEST_PENDING_DEBUG_EXCEPTIONS), 0);
    }
);
