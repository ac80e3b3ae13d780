//! The TPR shadow where a boot kernel cannot look (SDM Vol. 3C 30.3 "Virtualizing CR8-Based
//! TPR Accesses", 30.1.2 "TPR Virtualization"): with "use TPR shadow", MOV to CR8 writes VTPR
//! on the virtual-APIC page and leaves the processor's own TPR (CR8) alone; the trap-like
//! "TPR below threshold" exit has priority over a single-step trap of the MOV, which stays
//! pending and is saved in the pending-debug-exceptions field (28.3.4). The cases that a
//! kernel can check (values read and written, exits, entry checks) are shared cases in
//! `common/cases_vmxexits.rs`.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::Sandbox;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const USE_TPR_SHADOW: u64 = 1 << 21;
const VAPIC: u64 = 0x31_3000;

fn tpr_shadow(f: &mut Vec<(u32, u64)>, threshold: u64) {
    or(f, enc::PROC_BASED_CONTROLS, USE_TPR_SHADOW);
    set(f, enc::VIRTUAL_APIC_ADDRESS, VAPIC);
    set(f, enc::TPR_THRESHOLD, threshold);
}

/// Runs `guest` with the VMCS edited by `edit`, VTPR = `vtpr` and the real CR8 = 2.
fn run_with(edit: impl FnOnce(&mut Vec<(u32, u64)>), vtpr: u64, guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_prepared(p, &f, &asm(GUEST_RIP, guest), |s: &mut Sandbox| {
        poke(s, VAPIC + 0x80, 4, vtpr);
        s.cpu.state.cr8 = 2;
        s.cpu.state.gpr[1] = 0;
    })
}

fn mov_cr8_9(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(ecx, 9)?;
    a.mov(cr8, rcx)?;
    a.mov(rax, cr8)?;
    a.hlt()
}

#[test]
fn mov_to_cr8_with_the_shadow_leaves_the_real_tpr() {
    let r = run_with(|f| tpr_shadow(f, 0), 0, mov_cr8_9);
    exited(&r, reason::HLT);
    assert_eq!(r.s.read(VAPIC + 0x80, 4), 0x90, "VTPR[7:4] = 9");
    assert_eq!(r.s.cpu.state.cr8, 2, "the processor's TPR is not written (30.3)");
    assert_eq!(r.s.cpu.state.gpr[0], 9, "MOV from CR8 reads VTPR[7:4]");
}

#[test]
fn mov_to_cr8_without_the_shadow_writes_the_real_tpr() {
    // The converse: without "use TPR shadow" (and without CR8-load exiting) the guest's MOV to
    // CR8 is the processor's own (26.3 lists no change for it), and the page is not touched.
    let r = run_with(|_| {}, 0x20, mov_cr8_9);
    exited(&r, reason::HLT);
    assert_eq!(r.s.cpu.state.cr8, 9);
    assert_eq!(r.s.cpu.state.gpr[0], 9);
    assert_eq!(r.s.read(VAPIC + 0x80, 4), 0x20);
}

#[test]
fn tpr_below_threshold_keeps_a_single_step_trap_pending() {
    // RFLAGS.TF = 1 at entry; the first guest instruction is MOV CR8, RCX (RCX = 0) with
    // threshold 5 and VTPR 50H: the TPR-below-threshold exit comes after the MOV and before
    // its single-step #DB, which is saved as pending (BS, bit 14, 25.4.2 / 28.3.4).
    let r = run_with(
        |f| {
            tpr_shadow(f, 5);
            set(f, enc::GUEST_RFLAGS, 0x102);
        },
        0x50,
        |a| {
            a.mov(cr8, rcx)?;
            a.hlt()
        },
    );
    exited(&r, reason::TPR_BELOW_THRESHOLD);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 4, "trap-like: RIP of the next instruction");
    assert_eq!(r.field(enc::GUEST_PENDING_DEBUG_EXCEPTIONS) & (1 << 14), 1 << 14, "BS pending");
    assert_eq!(r.s.read(VAPIC + 0x80, 4), 0);
}

#[test]
fn tpr_below_threshold_ends_blocking_by_sti() {
    // STI; MOV CR8 (trap-like exit after the MOV): blocking by STI covered only the boundary
    // after STI, so the saved interruptibility state has it clear (25.4.2).
    let r = run_with(
        |f| tpr_shadow(f, 5),
        0x50,
        |a| {
            a.sti()?;
            a.mov(cr8, rcx)?;
            a.hlt()
        },
    );
    exited(&r, reason::TPR_BELOW_THRESHOLD);
    assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY) & 3, 0);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 5);
}

#[test]
fn the_entry_check_explains_the_values() {
    let r = run_with(|f| tpr_shadow(f, 6), 0x5f, |a| a.hlt());
    vmfail_valid(&r, 7);
    assert!(r.why().contains("TPR threshold = 0x6") && r.why().contains("0x5f"), "{}", r.why());
}

#[test]
fn the_virtual_apic_page_is_not_translated_by_ept() {
    // The virtual-APIC address is a physical address (25.6.8), not a guest-physical one: with
    // EPT mapping guest-physical VAPIC to another page (ALIAS), MOV to CR8 still writes VTPR
    // at physical VAPIC + 80H, and the guest reading its own VAPIC + 80H (through EPT) sees
    // ALIAS's bytes.
    const PD: u64 = EPT_PML4 + 0x2000;
    const PT: u64 = EPT_PML4 + 0x3000;
    const ALIAS: u64 = 0x3f_0000;
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    tpr_shadow(&mut f, 0);
    let guest = asm(GUEST_RIP, |a| {
        a.mov(ecx, 6)?;
        a.mov(cr8, rcx)?;
        a.mov(rbx, VAPIC + 0x80)?;
        a.mov(eax, dword_ptr(rbx))?;
        a.hlt()
    });
    let r = run_prepared(p, &f, &guest, |s: &mut Sandbox| {
        // PDPT[0] -> PD: 2-MByte identity pages except the one holding VAPIC, which goes to a
        // page table of 4-KByte identity pages except VAPIC -> ALIAS (WB, RWX).
        poke(s, EPT_PML4 + 0x1000, 8, PD | 7);
        for i in 0..512u64 {
            poke(s, PD + 8 * i, 8, (i << 21) | 0x80 | 6 << 3 | 7);
            let pa = (VAPIC & !0x1f_ffff) + (i << 12);
            poke(s, PT + 8 * i, 8, if pa == VAPIC { ALIAS } else { pa } | 6 << 3 | 7);
        }
        poke(s, PD + 8 * (VAPIC >> 21), 8, PT | 7);
        poke(s, VAPIC + 0x80, 4, 0x11);
        poke(s, ALIAS + 0x80, 4, 0xabcd);
    });
    exited(&r, reason::HLT);
    assert_eq!(r.s.read(VAPIC + 0x80, 4), 0x60, "VTPR written at the physical address");
    assert_eq!(r.s.read(ALIAS + 0x80, 4), 0xabcd, "the page EPT maps there is untouched");
    assert_eq!(r.s.cpu.state.gpr[0], 0xabcd, "the guest's own view goes through EPT");
}
