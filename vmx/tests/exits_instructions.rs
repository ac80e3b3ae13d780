//! VM exits for instructions added to the suite after `conformance.rs`: INVD and XSETBV
//! (unconditional, SDM 26.1.2), INS/OUTS (26.1.3; qualification and instruction information
//! 28.2.1, 28.2.5), CLTS and LMSW (26.1.3, 26.3; control-register qualification access types 2
//! and 3), MOV DR (26.1.3), and RDMSR of IA32_TIME_STAMP_COUNTER with TSC offsetting (26.3).
//! Expected values are the SDM's (revision in `hvbench_vmx::SDM_REVISION`).

#[macro_use]
mod common;

use common::*;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

const UNCONDITIONAL_IO: u64 = 1 << 24;
const USE_IO_BITMAPS: u64 = 1 << 25;
const MOV_DR_EXITING: u64 = 1 << 23;
const TS: u64 = 1 << 3;

/// Runs a default-profile 64-bit guest given as raw bytes, with `edit` applied to the VMCS.
fn run_bytes(edit: impl FnOnce(&mut Vec<(u32, u64)>), guest: &[u8]) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_prepared(p, &f, guest, |_| {})
}

vmx_test!(
    /// INVD exits unconditionally (SDM 26.1.2): reason 13, qualification 0, length 2 (0F 08),
    /// RIP saved = the INVD.
    invd_exits, fields: nothing, guest: |a| { a.nop()?; a.invd() }, expect: |r| {
        exited(r, reason::INVD);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 1);
    }
);

vmx_test!(
    /// XSETBV exits unconditionally (SDM 26.1.2) once CR4.OSXSAVE = 1 (else #UD, which has
    /// priority, 26.1.1): reason 55, length 3 (0F 01 D1). The exit precedes the ECX/value
    /// checks: ECX = 5 would be #GP(0) outside VMX.
    xsetbv_exits,
    fields: |f| set(f, enc::GUEST_CR4, 0x2620 | 1 << 18),
    guest: |a| { a.mov(ecx, 5)?; a.xsetbv() },
    expect: |r| {
        exited(r, reason::XSETBV);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 5);
    }
);

vmx_test!(
    /// XSETBV with CR4.OSXSAVE = 0 is #UD before any VM exit (SDM 26.1.1); with exception-
    /// bitmap bit 6 the #UD itself exits (reason 0, vector 6).
    xsetbv_without_osxsave_is_ud,
    fields: |f| set(f, enc::EXCEPTION_BITMAP, 1 << 6),
    guest: |a| a.xsetbv(),
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0306);
    }
);

/// REP INSW with "unconditional I/O exiting": reason 30; qualification (table "Exit
/// Qualification for I/O Instructions"): bits 2:0 = 1 (2 bytes), bit 3 = 1 (IN), bit 4 = 1
/// (string), bit 5 = 1 (REP), bit 6 = 0 (DX), bits 31:16 port; instruction information (28.2.5,
/// IA32_VMX_BASIC[54] = 1): bits 9:7 address size 2 (64-bit), bits 17:15 segment ES (0);
/// guest-linear address = ES:RDI (28.2.1); length 3 (F3 66 6D). Nothing was transferred.
#[test]
fn rep_insw_exits_with_full_information() {
    assert_ne!(Profile::default_profile().basic() & 1 << 54, 0, "INS/OUTS information advertised");
    // mov edx, 0x1f0 ; mov rdi, SCRATCH ; mov ecx, 3 ; rep insw
    let guest = asm(GUEST_RIP, |a| {
        a.mov(edx, 0x1f0)?;
        a.mov(rdi, SCRATCH)?;
        a.mov(ecx, 3)?;
        a.rep().insw()
    });
    let r = run_bytes(|f| or(f, enc::PROC_BASED_CONTROLS, UNCONDITIONAL_IO), &guest);
    exited(&r, reason::IO);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 | 1 << 3 | 1 << 4 | 1 << 5 | 0x1f0 << 16);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_INFO), 2 << 7);
    assert_eq!(r.field(enc::GUEST_LINEAR_ADDRESS), SCRATCH);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
    assert_eq!(r.s.cpu.state.gpr[1], 3, "RCX untouched: the exit is fault-like");
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 5 + 10 + 5);
}

/// FS: with a 32-bit address size, OUTSB (64 67 6E): qualification size 0, OUT, string, no
/// REP; instruction information address size 1 (32-bit), segment FS (4); the guest-linear
/// address is FS.base + ESI (SDM 28.2.1, 28.2.5).
#[test]
fn outsb_fs_addr32_exits() {
    // mov edx, 0x3f8 ; mov esi, 0x2000 ; fs addr32 outsb
    let mut guest = asm(GUEST_RIP, |a| {
        a.mov(edx, 0x3f8)?;
        a.mov(esi, 0x2000)
    });
    let len = guest.len() as u64;
    guest.extend([0x64, 0x67, 0x6e]);
    let r = run_bytes(
        |f| {
            or(f, enc::PROC_BASED_CONTROLS, UNCONDITIONAL_IO);
            set(f, enc::GUEST_FS_BASE, 0x10_0000);
        },
        &guest,
    );
    exited(&r, reason::IO);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 << 4 | 0x3f8 << 16);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_INFO), 1 << 7 | 4 << 15);
    assert_eq!(r.field(enc::GUEST_LINEAR_ADDRESS), 0x10_2000);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + len);
}

/// With I/O bitmaps (SDM 25.6.4, 26.1.3): an OUTSW to port 7FFFH touches 7FFFH (bitmap A, clear)
/// and 8000H (bitmap B bit 0, set): it exits. An OUTSW to FFFFH wraps to 0000H: it exits
/// whatever the bitmaps say. An OUTSB to a clear port does not exit.
#[test]
fn string_io_bitmaps_and_wrap() {
    for (port, want_exit) in [(0x7fffu64, true), (0xffff, true), (0x70, false)] {
        let guest = asm(GUEST_RIP, |a| {
            a.mov(rdx, port)?;
            a.mov(rsi, SCRATCH)?;
            if port == 0x70 { a.outsb()? } else { a.outsw()? }
            a.hlt()
        });
        let p = Profile::default_profile();
        let mut f = valid_vmcs(&p, GuestKind::Flat64);
        or(&mut f, enc::PROC_BASED_CONTROLS, USE_IO_BITMAPS);
        set(&mut f, enc::IO_BITMAP_A, IO_BITMAP_A);
        set(&mut f, enc::IO_BITMAP_B, IO_BITMAP_B);
        let r = run_prepared(p, &f, &guest, |s| poke(s, IO_BITMAP_B, 1, 1));
        if want_exit {
            exited(&r, reason::IO);
            assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 | 1 << 4 | port << 16, "port {port:#x}");
        } else {
            exited(&r, reason::HLT);
            assert_eq!(r.s.cpu.state.gpr[6], SCRATCH + 1, "OUTSB ran in the guest");
        }
    }
}

vmx_test!(
    /// CLTS with CR0.TS set in both the guest/host mask and the read shadow exits (SDM
    /// 26.1.3): reason 28, qualification CR 0, access type 2 (bits 5:4), no GPR; length 2.
    clts_exits_when_owned_and_shadowed,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, TS); set(f, enc::CR0_READ_SHADOW, TS); },
    guest: |a| a.clts(),
    expect: |r| {
        exited(r, reason::CR_ACCESS);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 2 << 4);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);
    }
);

vmx_test!(
    /// TS owned (mask 1) but shadow 0: no exit, and CLTS leaves CR0.TS = 1 (SDM 26.3).
    clts_owned_unshadowed_keeps_ts,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, TS); set(f, enc::CR0_READ_SHADOW, 0); set(f, enc::GUEST_CR0, 0x8001_0031 | TS); },
    guest: |a| { a.clts()?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(r.field(enc::GUEST_CR0) & TS, TS);
    }
);

vmx_test!(
    /// TS not owned: CLTS clears CR0.TS normally (SDM 26.3).
    clts_unowned_clears_ts,
    fields: |f| set(f, enc::GUEST_CR0, 0x8001_0031 | TS),
    guest: |a| { a.clts()?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(r.field(enc::GUEST_CR0) & TS, 0);
    }
);

vmx_test!(
    /// LMSW AX changing host-owned MP (mask bits 3:1, shadow 0): reason 28, qualification
    /// access type 3, operand type 0 (register), bits 31:16 = the whole source word (SDM
    /// 26.1.3, table "Exit Qualification for Control-Register Accesses"); length 4 (iced
    /// encodes `lmsw ax` as 66 0F 01 F0).
    lmsw_register_exits,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, 0xe); set(f, enc::CR0_READ_SHADOW, 0); },
    guest: |a| { a.mov(eax, 0xabc3)?; a.lmsw(ax) },
    expect: |r| {
        exited(r, reason::CR_ACCESS);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 << 4 | 0xabc3 << 16);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 4);
    }
);

/// LMSW with a memory operand: qualification bit 6 = 1, source data from memory, and the
/// guest-linear address of the operand (SDM 28.2.1).
#[test]
fn lmsw_memory_exits_with_linear_address() {
    let guest = asm(GUEST_RIP, |a| {
        a.mov(rbx, SCRATCH)?;
        a.lmsw(word_ptr(rbx + 8))
    });
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    set(&mut f, enc::CR0_GUEST_HOST_MASK, TS);
    set(&mut f, enc::CR0_READ_SHADOW, 0);
    let r = run_prepared(p, &f, &guest, |s| poke(s, SCRATCH + 8, 2, 0x0009));
    exited(&r, reason::CR_ACCESS);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 << 4 | 1 << 6 | 0x0009 << 16);
    assert_eq!(r.field(enc::GUEST_LINEAR_ADDRESS), SCRATCH + 8);
}

vmx_test!(
    /// PE owned with shadow PE = 0: an LMSW that sets PE exits even though the guest's PE is
    /// already 1 (SDM 26.1.3, LMSW rule for bit 0).
    lmsw_pe_rule_exits,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, 1); set(f, enc::CR0_READ_SHADOW, 0); },
    guest: |a| { a.mov(eax, 1)?; a.lmsw(ax) },
    expect: |r| {
        exited(r, reason::CR_ACCESS);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 << 4 | 1 << 16);
    }
);

vmx_test!(
    /// An LMSW that matches the shadow in every owned bit does not exit; owned bits keep
    /// their CR0 value (SDM 26.3): TS owned, shadow TS = 1, guest TS = 0: LMSW 0x000A sets MP
    /// and leaves TS = 0.
    lmsw_matching_shadow_keeps_owned_bits,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, TS); set(f, enc::CR0_READ_SHADOW, TS); },
    guest: |a| { a.mov(eax, 0xa)?; a.lmsw(ax)?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        let guest_cr0 = r.field(enc::GUEST_CR0);
        assert_eq!(guest_cr0 & 0xf, 0x3, "PE, MP; TS kept at 0");
    }
);

vmx_test!(
    /// MOV RAX, DR7 with "MOV-DR exiting": reason 29, qualification DR 7, direction 1 (from
    /// DR), GPR 0 (table "Exit Qualification for MOV DR"); length 3.
    mov_from_dr_exits,
    fields: |f| or(f, enc::PROC_BASED_CONTROLS, MOV_DR_EXITING),
    guest: |a| a.mov(rax, dr7),
    expect: |r| {
        exited(r, reason::MOV_DR);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 7 | 1 << 4);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
    }
);

vmx_test!(
    /// MOV DR3, RCX: qualification DR 3, direction 0, GPR 1. DR7.GD = 1 would raise #DB, but
    /// the VM exit has priority over the general-detect fault (SDM 26.1.1).
    mov_to_dr_exits_before_general_detect,
    fields: |f| { or(f, enc::PROC_BASED_CONTROLS, MOV_DR_EXITING); set(f, enc::GUEST_DR7, 0x400 | 1 << 13); },
    guest: |a| a.mov(dr3, rcx),
    expect: |r| {
        exited(r, reason::MOV_DR);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 | 1 << 8);
        assert_eq!(r.field(enc::GUEST_DR7) & (1 << 13), 1 << 13, "GD still set: no #DB happened");
    }
);

vmx_test!(
    /// Without "MOV-DR exiting" MOV DR runs in the guest.
    mov_dr_without_exiting_runs,
    fields: nothing,
    guest: |a| { a.mov(rax, 0x1234u64)?; a.mov(dr0, rax)?; a.hlt() },
    expect: |r| { exited(r, reason::HLT); assert_eq!(r.s.cpu.state.dr[0], 0x1234); }
);

vmx_test!(
    /// RDMSR of IA32_TIME_STAMP_COUNTER (10H) with "use TSC offsetting" and an MSR bitmap that
    /// lets it through returns TSC + offset (SDM 26.3), like RDTSC.
    rdmsr_tsc_is_offset,
    fields: |f| {
        or(f, enc::PROC_BASED_CONTROLS, 1 << 3 | 1 << 28);
        set(f, enc::MSR_BITMAP, MSR_BITMAP);
        set(f, enc::TSC_OFFSET, 1 << 44);
    },
    guest: |a| { a.mov(ecx, 0x10)?; a.rdmsr()?; a.shl(rdx, 32)?; a.or(rax, rdx)?; a.mov(rcx, SCRATCH)?; a.mov(qword_ptr(rcx), rax)?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        let t = r.s.read(SCRATCH, 8);
        assert!((1 << 44..(1 << 44) + 1_000_000).contains(&t), "IA32_TSC {t:#x} should be offset by 2^44");
    }
);
