//! VMX conformance suite: each VMX instruction's success and failure paths, VM-entry checks
//! per area, and each implemented VM-exit reason with its exit-information fields. Expected
//! values are the SDM's (section cited per test; revision pinned in `hvbench_vmx::SDM_REVISION`).

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_vmx::caps::Profile;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

// ---- VM exits for instructions (SDM 26.1.2 unconditional, 26.1.3 conditional; 28.2.1) ----

vmx_test!(
    /// CPUID exits unconditionally (SDM 26.1.2); reason 10, instruction length 2 (0F A2).
    cpuid_exits, fields: nothing, guest: |a| a.cpuid(), expect: |r| {
        exited(r, reason::CPUID);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP, "RIP saved = the CPUID (SDM 28.3.3)");
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0);
    }
);

vmx_test!(
    /// HLT with "HLT exiting" (SDM 26.1.3): reason 12, length 1.
    hlt_exits, fields: nothing, guest: hlt, expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 1);
    }
);

vmx_test!(
    /// HLT without "HLT exiting": the guest halts in non-root operation (SDM 26.1.3).
    hlt_without_exiting_halts_the_guest,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p & !(1 << 7)); },
    guest: hlt,
    expect: |r| {
        assert_eq!(r.kind(), 0);
        assert!(r.s.cpu.vmx_non_root);
        assert_eq!(r.s.cpu.state.activity, hvbench_cpu::Activity::Halted);
    }
);

vmx_test!(
    /// INVLPG with "INVLPG exiting": reason 14, qualification = the linear address (SDM
    /// 28.2.1, "INVLPG": "the linear-address operand").
    invlpg_exits,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p | 1 << 9); },
    guest: |a| { a.mov(rax, 0x1234_5678u64)?; a.invlpg(byte_ptr(rax + 0x10)) },
    expect: |r| {
        exited(r, reason::INVLPG);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0x1234_5688);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 4);
    }
);

vmx_test!(
    /// RDTSC with "RDTSC exiting": reason 16 (SDM 26.1.3).
    rdtsc_exits,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p | 1 << 12); },
    guest: |a| a.rdtsc(),
    expect: |r| { exited(r, reason::RDTSC); assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2); }
);

vmx_test!(
    /// "Use TSC offsetting" adds the TSC-offset field to RDTSC (SDM 26.3, 25.6.5).
    rdtsc_offset,
    fields: |f| {
        let p = get(f, enc::PROC_BASED_CONTROLS);
        set(f, enc::PROC_BASED_CONTROLS, p | 1 << 3);
        set(f, enc::TSC_OFFSET, 1 << 40);
    },
    guest: |a| { a.rdtsc()?; a.shl(rdx, 32)?; a.or(rax, rdx)?; a.mov(rcx, SCRATCH)?; a.mov(qword_ptr(rcx), rax)?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        let t = r.s.read(SCRATCH, 8);
        assert!((1 << 40..(1 << 40) + 1_000_000).contains(&t), "TSC {t:#x} should be offset by 2^40");
    }
);

vmx_test!(
    /// VMCALL exits unconditionally in non-root operation: reason 18, length 3 (SDM 26.1.2).
    vmcall_exits, fields: nothing, guest: |a| a.vmcall(), expect: |r| {
        exited(r, reason::VMCALL);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 3);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_INFO), 0);
    }
);

vmx_test!(
    /// VMREAD in non-root operation: reason 23; instruction information for VMREAD/VMWRITE
    /// (SDM 28.2.5): Reg1 (bits 6:3) = destination, bit 10 = 1 (register), address size 64-bit
    /// (bits 9:7 = 2), Reg2 (bits 31:28) = the encoding register.
    vmread_in_guest_exits, fields: nothing, guest: |a| a.vmread(rbx, rcx), expect: |r| {
        exited(r, reason::VMREAD);
        let info = r.field(enc::EXIT_INSTRUCTION_INFO) as u32;
        assert_eq!((info >> 3) & 0xf, 3, "Reg1 = RBX");
        assert_eq!(info & (1 << 10), 1 << 10, "register operand");
        assert_eq!(info >> 28, 1, "Reg2 = RCX");
    }
);

vmx_test!(
    /// VMPTRLD in non-root operation: reason 21, qualification = displacement, instruction
    /// information with base RAX, no index, segment DS (SDM 28.2.1, 28.2.5).
    vmptrld_in_guest_exits, fields: nothing, guest: |a| a.vmptrld(qword_ptr(rax + 0x40)), expect: |r| {
        exited(r, reason::VMPTRLD);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0x40);
        let info = r.field(enc::EXIT_INSTRUCTION_INFO) as u32;
        assert_eq!((info >> 7) & 7, 2, "64-bit address size");
        assert_eq!((info >> 15) & 7, 3, "segment DS");
        assert_ne!(info & (1 << 22), 0, "index invalid");
        assert_eq!((info >> 23) & 0xf, 0, "base RAX");
        assert_eq!(info & (1 << 27), 0, "base valid");
    }
);

vmx_test!(
    /// MOV to CR0 changing a host-owned bit (mask bit 1, value != read shadow) exits with
    /// reason 28; qualification: CR number 0, access type 0, GPR in bits 11:8 (SDM table "Exit
    /// Qualification for Control-Register Accesses").
    mov_to_cr0_owned_bit_exits,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, 1 << 16); set(f, enc::CR0_READ_SHADOW, 0x8001_0031); },
    guest: |a| { a.mov(rcx, cr0)?; a.and(rcx, !(1i32 << 16))?; a.mov(cr0, rcx) },
    expect: |r| {
        exited(r, reason::CR_ACCESS);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 << 8, "CR0, MOV to CR, RCX");
    }
);

vmx_test!(
    /// MOV from CR0 returns the read shadow for host-owned bits (SDM 26.3); no exit.
    mov_from_cr0_reads_the_shadow,
    fields: |f| { set(f, enc::CR0_GUEST_HOST_MASK, 1 << 18); set(f, enc::CR0_READ_SHADOW, 1 << 18); },
    guest: |a| { a.mov(rax, cr0)?; a.mov(rcx, SCRATCH)?; a.mov(qword_ptr(rcx), rax)?; a.hlt() },
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(r.s.read(SCRATCH, 8), 0x8001_0031 | 1 << 18, "AM read from the shadow");
    }
);

vmx_test!(
    /// MOV from CR3 with "CR3-store exiting": reason 28, access type 1, GPR RDX (SDM 26.1.3).
    mov_from_cr3_exits,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p | 1 << 16); },
    guest: |a| a.mov(rdx, cr3),
    expect: |r| {
        exited(r, reason::CR_ACCESS);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 | 1 << 4 | 2 << 8);
    }
);

vmx_test!(
    /// MOV to CR3 with "CR3-load exiting" does not exit for a CR3-target value (SDM 26.1.3).
    mov_to_cr3_target_value_does_not_exit,
    fields: |f| {
        let p = get(f, enc::PROC_BASED_CONTROLS);
        set(f, enc::PROC_BASED_CONTROLS, p | 1 << 15);
        set(f, enc::CR3_TARGET_COUNT, 1);
        set(f, enc::CR3_TARGET_VALUE0, 0x10000);
    },
    guest: |a| { a.mov(rax, 0x10000u64)?; a.mov(cr3, rax)?; a.hlt() },
    expect: |r| exited(r, reason::HLT)
);

vmx_test!(
    /// MOV to CR8 with "CR8-load exiting" (TPR shadow off): reason 28, CR 8 (SDM 26.1.3).
    mov_to_cr8_exits,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p | 1 << 19); },
    guest: |a| { a.xor(eax, eax)?; a.mov(cr8, rax) },
    expect: |r| { exited(r, reason::CR_ACCESS); assert_eq!(r.field(enc::EXIT_QUALIFICATION), 8); }
);

vmx_test!(
    /// OUT imm8, AL with "unconditional I/O exiting": reason 30; qualification size 0
    /// (1 byte), direction 0 (OUT), operand encoding 1 (immediate), port in 31:16 (SDM table
    /// "Exit Qualification for I/O Instructions").
    out_imm_exits,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p | 1 << 24); },
    guest: |a| a.out(0x80, al),
    expect: |r| {
        exited(r, reason::IO);
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 << 6 | 0x80 << 16);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);
    }
);

#[test]
fn io_bitmaps_decide_per_port() {
    // SDM 25.6.4: bitmap A covers ports 0-7FFFH, B 8000H-FFFFH; IN DX of a 4-byte access
    // exits if any of its ports' bits is 1. Port 0x8001 (bit 1 of B) set: IN EAX, DX at
    // 0x8000 touches it.
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    let pc = get(&f, enc::PROC_BASED_CONTROLS);
    set(&mut f, enc::PROC_BASED_CONTROLS, pc | 1 << 25);
    set(&mut f, enc::IO_BITMAP_A, IO_BITMAP_A);
    set(&mut f, enc::IO_BITMAP_B, IO_BITMAP_B);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let guest = asm(GUEST_RIP, |a| {
        a.mov(edx, 0x70)?;
        a.in_(al, dx)?; // bit clear: no exit
        a.mov(edx, 0x8000)?;
        a.in_(eax, dx) // touches 0x8001
    });
    let mut s = sandbox(&p, &host, &guest);
    s.mem.write_le(hvbench_mmu::PhysAddr(IO_BITMAP_B), 1, 0b10);
    s.run(20_000);
    let r = Run { s, profile: p };
    exited(&r, reason::IO);
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 3 | 1 << 3 | 0x8000 << 16, "4 bytes, IN, DX, port 0x8000");
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 5 + 1 + 5, "the first IN completed");
}

#[test]
fn msr_bitmaps() {
    // SDM 25.6.9: read-low bitmap bit for MSR 0x10 (TSC) set -> RDMSR 0x10 exits (31); MSR
    // 0x3A's bit clear -> no exit; WRMSR of an MSR outside both ranges always exits (32).
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    let pc = get(&f, enc::PROC_BASED_CONTROLS);
    set(&mut f, enc::PROC_BASED_CONTROLS, pc | 1 << 28);
    set(&mut f, enc::MSR_BITMAP, MSR_BITMAP);
    let guest = |a: &mut CodeAssembler| {
        a.mov(ecx, 0x3a)?;
        a.rdmsr()?;
        a.mov(ecx, 0x10)?;
        a.rdmsr()
    };
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &asm(GUEST_RIP, guest));
    s.mem.write_le(hvbench_mmu::PhysAddr(MSR_BITMAP + 2), 1, 1); // MSR 0x10: byte 2, bit 0
    s.run(20_000);
    let r = Run { s, profile: p.clone() };
    exited(&r, reason::RDMSR);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 5 + 2 + 5);
    assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 2);

    let r = run(
        |f| {
            let pc = get(f, enc::PROC_BASED_CONTROLS);
            set(f, enc::PROC_BASED_CONTROLS, pc | 1 << 28);
            set(f, enc::MSR_BITMAP, MSR_BITMAP);
        },
        |a| {
            a.mov(ecx, 0x4000_0000)?;
            a.wrmsr()
        },
    );
    exited(&r, reason::WRMSR);
}

vmx_test!(
    /// Without "use MSR bitmaps" every RDMSR exits (SDM 26.1.3).
    rdmsr_exits_without_bitmaps, fields: nothing, guest: |a| { a.mov(ecx, 0x3a)?; a.rdmsr() },
    expect: |r| exited(r, reason::RDMSR)
);

vmx_test!(
    /// #UD with exception-bitmap bit 6: reason 0, interruption information vector 6, type 3
    /// (hardware exception), valid (SDM 28.2.2).
    ud_exception_bitmap,
    fields: |f| set(f, enc::EXCEPTION_BITMAP, 1 << 6),
    guest: |a| a.ud2(),
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0306);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP);
    }
);

vmx_test!(
    /// INT3 with bitmap bit 3: type 6 (software exception), instruction length 1 (SDM 28.2.2,
    /// 28.2.4).
    int3_exception_bitmap,
    fields: |f| set(f, enc::EXCEPTION_BITMAP, 1 << 3),
    guest: |a| a.int3(),
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0603);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_LENGTH), 1);
    }
);

vmx_test!(
    /// #PF with bitmap bit 14 and PFEC & mask == match: exit with the error code and the
    /// faulting linear address as qualification; CR2 is not written (SDM 25.6.3, 28.2.1).
    page_fault_exit,
    fields: |f| {
        set(f, enc::EXCEPTION_BITMAP, 1 << 14);
        set(f, enc::PAGE_FAULT_ERROR_CODE_MASK, 0);
        set(f, enc::PAGE_FAULT_ERROR_CODE_MATCH, 0);
    },
    guest: |a| { a.mov(rax, 0x1_0000_0000u64 * 8)?; a.mov(rbx, qword_ptr(rax)) },
    expect: |r| {
        exited(r, reason::EXCEPTION_NMI);
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0b0e, "#PF, type 3, error code valid");
        assert_eq!(r.field(enc::EXIT_INTERRUPTION_ERROR_CODE), 0, "not-present read");
        assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0x8_0000_0000);
        assert_ne!(r.s.cpu.state.cr2, 0x8_0000_0000, "CR2 unchanged by a #PF VM exit");
    }
);

vmx_test!(
    /// #PF with bitmap bit 14 = 0 but PFEC & mask != match: the bit is inverted, so it exits
    /// (SDM 25.6.3).
    page_fault_mask_mismatch_inverts,
    fields: |f| {
        set(f, enc::EXCEPTION_BITMAP, 0);
        set(f, enc::PAGE_FAULT_ERROR_CODE_MASK, 1);
        set(f, enc::PAGE_FAULT_ERROR_CODE_MATCH, 1);
    },
    guest: |a| { a.mov(rax, 0x1_0000_0000u64 * 8)?; a.mov(rbx, qword_ptr(rax)) },
    expect: |r| exited(r, reason::EXCEPTION_NMI)
);

vmx_test!(
    /// A triple fault in the guest (IDT limit 0: #UD -> #GP -> #DF -> shutdown) exits with
    /// reason 2 (SDM 26.2).
    triple_fault_exits,
    fields: |f| set(f, enc::GUEST_IDTR_LIMIT, 0),
    guest: |a| a.ud2(),
    expect: |r| exited(r, reason::TRIPLE_FAULT)
);

/// EPT violation: guest-physical 0xC0000010 maps through a not-present EPT PDPTE: reason 48
/// with qualification bit 0 (read), bits 5:3 = 0 (not present), bit 7 (guest-linear address
/// valid), bit 8 (access to the translation) and, with the advanced-information capability
/// (IA32_VMX_EPT_VPID_CAP bit 22), bits 9 (user-mode linear address: the sandbox's paging sets
/// U/S) and 10 (writable), bit 11 = 0 (not execute-disable); guest-physical and guest-linear
/// address fields (SDM 29.3.3.2, 28.2.1 table "Exit Qualification for EPT Violations"). EPT
/// misconfiguration: an entry with bits 2:0 = 010b (write without read): reason 49,
/// qualification 0 (SDM 29.3.3.1).
#[test]
fn ept_violation_and_misconfiguration() {
    for (entry, want_reason) in [(0u64, reason::EPT_VIOLATION), ((3u64 << 30) | 0x80 | 6 << 3 | 2, reason::EPT_MISCONFIG)] {
        let p = Profile::default_profile();
        let f = valid_vmcs(&p, GuestKind::Flat64);
        let host = asm(CODE_BASE, |a| {
            vmxon_and_load(a)?;
            for (fl, v) in &f {
                vmwrite(a, *fl, *v)?;
            }
            a.vmlaunch()?;
            a.hlt()
        });
        let guest = asm(GUEST_RIP, |a| {
            a.mov(rax, 0xc000_0010u64)?;
            a.mov(rbx, qword_ptr(rax))
        });
        let mut s = sandbox(&p, &host, &guest);
        s.mem.write_le(hvbench_mmu::PhysAddr(EPT_PML4 + 0x1000 + 24), 8, entry);
        s.run(20_000);
        let r = Run { s, profile: p };
        exited(&r, want_reason);
        assert_eq!(r.field(enc::GUEST_PHYSICAL_ADDRESS), 0xc000_0010);
        if want_reason == reason::EPT_VIOLATION {
            assert_eq!(r.field(enc::EXIT_QUALIFICATION), 1 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10);
            assert_eq!(r.field(enc::GUEST_LINEAR_ADDRESS), 0xc000_0010);
        } else {
            assert_eq!(r.field(enc::EXIT_QUALIFICATION), 0, "misconfiguration: qualification 0 (SDM 29.3.3.1)");
        }
    }
}

vmx_test!(
    /// A guest that writes and reads through EPT (identity, 1-GByte pages) sees its data.
    ept_identity_data_access,
    fields: |f| set(f, enc::EPT_POINTER, EPTP),
    guest: |a| { a.mov(rcx, SCRATCH)?; a.mov(qword_ptr(rcx), 0x5a)?; a.hlt() },
    expect: |r| { exited(r, reason::HLT); assert_eq!(r.s.read(SCRATCH, 8), 0x5a); }
);

#[test]
fn unrestricted_real_mode_guest() {
    // Unrestricted guest (SDM 26.3 / 27.3.1.1): CR0.PE = PG = 0; the guest runs 16-bit code
    // and CPUID exits with the real-mode CS:IP saved.
    let p = Profile::default_profile();
    let f = valid_vmcs(&p, GuestKind::Real);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        save_flags(a, RESULT_FLAGS)?;
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &[]);
    // mov ax, 0x1234 ; cpuid
    s.mem.write_bytes(hvbench_mmu::PhysAddr(REAL_GUEST), &[0xb8, 0x34, 0x12, 0x0f, 0xa2]);
    s.run(20_000);
    let r = Run { s, profile: p };
    exited(&r, reason::CPUID);
    assert_eq!(r.field(enc::GUEST_RIP), 3);
    assert_eq!(r.field(enc::GUEST_CS_SELECTOR), REAL_GUEST >> 4);
    assert_eq!(r.field(enc::GUEST_CR0) & 1, 0);
}

// ---- VM-entry checks (SDM 27.2 controls/host: VMfailValid 7/8; 27.3.1 guest: reason 33) ----

vmx_test!(
    /// "enable VPID" = 1 with VPID 0 (SDM 27.2.1.1): VMfailValid(7).
    entry_vpid_zero_fails,
    fields: |f| { let c = get(f, enc::SECONDARY_PROC_BASED_CONTROLS); set(f, enc::SECONDARY_PROC_BASED_CONTROLS, c | 1 << 5); set(f, enc::VPID, 0); },
    guest: hlt,
    expect: |r| { vmfail_valid(r, 7); assert!(r.why().contains("VPID")); }
);

vmx_test!(
    /// A pin-based control the profile does not allow ("process posted interrupts", bit 7)
    /// (SDM 27.2.1.1 via IA32_VMX_TRUE_PINBASED_CTLS): VMfailValid(7).
    entry_disallowed_pin_control_fails,
    fields: |f| { let c = get(f, enc::PIN_BASED_CONTROLS); set(f, enc::PIN_BASED_CONTROLS, c | 1 << 7); },
    guest: hlt,
    expect: |r| vmfail_valid(r, 7)
);

vmx_test!(
    /// Injection of a hardware exception with vector 32 (SDM 27.2.1.3): VMfailValid(7).
    entry_bad_injection_vector_fails,
    fields: |f| set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0320),
    guest: hlt,
    expect: |r| vmfail_valid(r, 7)
);

vmx_test!(
    /// Host CS selector 0 (SDM 27.2.3): VMfailValid(8).
    entry_host_cs_null_fails,
    fields: |f| set(f, enc::HOST_CS_SELECTOR, 0),
    guest: hlt,
    expect: |r| { vmfail_valid(r, 8); assert!(r.why().contains("27.2.3")); }
);

vmx_test!(
    /// Host CR4.VMXE = 0 violates IA32_VMX_CR4_FIXED0 (SDM 27.2.2): VMfailValid(8).
    entry_host_cr4_fixed_fails,
    fields: |f| set(f, enc::HOST_CR4, 0x620),
    guest: hlt,
    expect: |r| vmfail_valid(r, 8)
);

vmx_test!(
    /// Guest CS.L = 1 with "IA-32e mode guest" = 0 (SDM 27.3.1.2): VM-entry failure, reason 33,
    /// qualification 0. (The guest is otherwise valid: CR0/CR4 stay as for a 64-bit guest, which
    /// the CR checks accept without IA-32e mode... except CR4.PCIDE, which is 0 here.)
    entry_guest_cs_l_without_ia32e,
    fields: |f| {
        let e = get(f, enc::ENTRY_CONTROLS);
        set(f, enc::ENTRY_CONTROLS, e & !(1 << 9));
    },
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "CS.L=1 with \"IA-32e mode guest\" entry control 0")
);

vmx_test!(
    /// VMCS link pointer != FFFFFFFF_FFFFFFFFH without VMCS shadowing (SDM 27.3.1.5): reason 33
    /// with exit qualification 4 (SDM 27.8).
    entry_vmcs_link_pointer,
    fields: |f| set(f, enc::VMCS_LINK_POINTER, 0x1000),
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 4, "VMCS link pointer")
);

vmx_test!(
    /// Guest RFLAGS bit 1 = 0 (SDM 27.3.1.4): reason 33.
    entry_guest_rflags_reserved,
    fields: |f| set(f, enc::GUEST_RFLAGS, 0),
    guest: hlt,
    expect: |r| entry_failure(r, reason::INVALID_GUEST_STATE, 0, "RFLAGS")
);

#[test]
fn msr_lists() {
    // SDM 27.4: entry 1 loads IA32_SYSENTER_ESP (fine), entry 2 names IA32_FS_BASE, which a
    // list may not load: VM-entry failure, reason 34, qualification 2 (the 1-based index).
    let p = Profile::default_profile();
    let list = SCRATCH + 0x100;
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    set(&mut f, enc::ENTRY_MSR_LOAD_COUNT, 2);
    set(&mut f, enc::ENTRY_MSR_LOAD_ADDR, list);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &asm(GUEST_RIP, hlt));
    let w = |s: &mut hvbench_cpu::sandbox::Sandbox, a: u64, v: u64| s.mem.write_le(hvbench_mmu::PhysAddr(a), 8, v);
    w(&mut s, list, 0x175);
    w(&mut s, list + 8, 0x1234);
    w(&mut s, list + 16, 0xc000_0100);
    s.run(20_000);
    let r = Run { s, profile: p.clone() };
    entry_failure(&r, reason::MSR_LOADING, 2, "27.4");

    // A good list: the guest gets IA32_SYSENTER_ESP from it; the VM-exit MSR-store list
    // saves the guest's value (28.4) and the exit MSR-load list restores the host's (28.6).
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    for (c, a) in [(enc::ENTRY_MSR_LOAD_COUNT, enc::ENTRY_MSR_LOAD_ADDR), (enc::EXIT_MSR_STORE_COUNT, enc::EXIT_MSR_STORE_ADDR)] {
        set(&mut f, c, 1);
        set(&mut f, a, list);
    }
    set(&mut f, enc::EXIT_MSR_LOAD_COUNT, 1);
    set(&mut f, enc::EXIT_MSR_LOAD_ADDR, list + 0x40);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let guest = asm(GUEST_RIP, |a| {
        a.mov(ecx, 0x175)?;
        a.mov(eax, 0x5555)?;
        a.xor(edx, edx)?;
        a.wrmsr()?; // exits (no MSR bitmaps): the store list saves 0x1234
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &guest);
    w(&mut s, list, 0x175);
    w(&mut s, list + 8, 0x1234);
    w(&mut s, list + 0x40, 0x175);
    w(&mut s, list + 0x48, 0x7777);
    s.run(20_000);
    let r = Run { s, profile: p };
    exited(&r, reason::WRMSR);
    assert_eq!(r.s.read(list + 8, 8), 0x1234, "guest value stored at the exit");
    assert_eq!(r.s.cpu.state.msr.sysenter_esp, 0x7777, "host value loaded at the exit");
}

vmx_test!(
    /// Event injection: a hardware exception #UD (vector 6) with exception-bitmap bit 6 is
    /// delivered through the guest IDT, not turned into an exit (SDM 27.6): the guest ends in
    /// the sandbox's #UD stub, which halts (HLT exiting is on: exit 12 at the stub).
    inject_ud_goes_through_guest_idt,
    fields: |f| { set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0306); set(f, enc::EXCEPTION_BITMAP, 1 << 6); },
    guest: hlt,
    expect: |r| {
        exited(r, reason::HLT);
        assert_eq!(r.s.read(hvbench_cpu::sandbox::VECTOR_SLOT, 1), 6);
        assert_eq!(r.field(enc::ENTRY_INTERRUPTION_INFO) >> 31, 0, "VM exits clear the valid bit (SDM 28.2)");
    }
);

// ---- VMX instructions: each failure path (SDM 31.3, Table 31-1) ----

#[test]
fn vmxon_needs_cr4_vmxe() {
    // SDM 31.3 VMXON: CR4.VMXE = 0 -> #UD.
    let code = asm(CODE_BASE, |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))
    });
    let mut s = sandbox(&Profile::default_profile(), &code, &[]);
    s.run(1000);
    assert_eq!(s.exception_vector(), Some(6));
}

#[test]
fn without_vmx_the_instructions_are_ud() {
    let code = asm(CODE_BASE, |a| a.vmcall());
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(1000);
    assert_eq!(s.exception_vector(), Some(6));
    // And CPUID.1:ECX.VMX is clear without the extension, set with it.
    let code = asm(CODE_BASE, |a| {
        a.mov(eax, 1)?;
        a.cpuid()?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.cpu.state.gpr[1] & 0x20, 0);
    let mut s = sandbox(&Profile::default_profile(), &code, &[]);
    s.run(100);
    assert_eq!(s.cpu.state.gpr[1] & 0x20, 0x20);
}

#[test]
fn vmxon_feature_control_unlocked_is_gp() {
    // SDM 31.3 VMXON: IA32_FEATURE_CONTROL lock bit clear -> #GP(0).
    let code = asm(CODE_BASE, |a| {
        enable_vmxe(a)?;
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))
    });
    let mut s = sandbox(&Profile::default_profile(), &code, &[]);
    s.cpu.state.msr.feature_control = 0;
    s.run(1000);
    assert_eq!(s.exception_vector(), Some(13));
}

#[test]
fn vmxon_pointer_checks_are_vmfail_invalid() {
    // SDM 31.3 VMXON: a misaligned pointer or one beyond MAXPHYADDR -> VMfailInvalid (CF = 1).
    for ptr in [VMXON_REGION + 8, 1u64 << 40] {
        let r = run_host(Profile::default_profile(), |a| {
            a.mov(rbx, SCRATCH)?;
            a.mov(rax, ptr)?;
            a.mov(qword_ptr(rbx), rax)?;
            a.vmxon(qword_ptr(rbx))?;
            save_flags(a, RESULT_FLAGS)
        });
        assert_eq!(r.fail_flags() & (CF | ZF), CF, "ptr {ptr:#x}");
    }
    let r = run_host(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        save_flags(a, RESULT_FLAGS)
    });
    assert_eq!(r.fail_flags() & (CF | ZF), 0, "VMsucceed");
}

#[test]
fn vmxon_bad_revision_is_vmfail_invalid() {
    let code = asm(CODE_BASE, |a| {
        enable_vmxe(a)?;
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        save_flags(a, RESULT_FLAGS)?;
        a.hlt()
    });
    let mut s = sandbox(&Profile::default_profile(), &code, &[]);
    s.mem.write_le(hvbench_mmu::PhysAddr(VMXON_REGION), 4, 0x8000_0000 | hvbench_vmx::caps::VMCS_REVISION as u64);
    s.run(1000);
    assert_eq!(s.read(RESULT_FLAGS, 8) & (CF | ZF), CF);
}

/// Runs VMXON + VMPTRLD of the valid VMCS, then `then`, saving RFLAGS after it.
fn after_load(profile: Profile, then: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    run_host(profile, |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        a.mov(rbx, PTR_VMCS)?;
        a.vmptrld(qword_ptr(rbx))?;
        then(a)?;
        save_flags(a, RESULT_FLAGS)
    })
}

fn valid_error(r: &Run, n: u64) {
    assert_eq!(r.fail_flags() & (CF | ZF), ZF, "VMfailValid; why: {}", r.why());
    assert_eq!(r.error(), n, "why: {}", r.why());
}

#[test]
fn vmxon_in_root_is_error_15() {
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))
    });
    valid_error(&r, 15);
}

#[test]
fn vmclear_errors_2_and_3() {
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmclear(qword_ptr(rbx))
    });
    valid_error(&r, 3);
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, SCRATCH)?;
        a.mov(rax, VMCS_REGION + 0x10)?;
        a.mov(qword_ptr(rbx), rax)?;
        a.vmclear(qword_ptr(rbx))
    });
    valid_error(&r, 2);
}

#[test]
fn vmclear_of_current_makes_it_invalid() {
    // SDM 31.3 VMCLEAR: clearing the current VMCS sets the current-VMCS pointer to FFFF...;
    // VMPTRST then stores all ones.
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMCS)?;
        a.vmclear(qword_ptr(rbx))?;
        a.mov(rbx, SCRATCH)?;
        a.vmptrst(qword_ptr(rbx))
    });
    assert_eq!(r.s.read(SCRATCH, 8), u64::MAX);
    assert_eq!(r.fail_flags() & (CF | ZF), 0);
}

#[test]
fn vmptrld_errors_9_10_11() {
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmptrld(qword_ptr(rbx))
    });
    valid_error(&r, 10);
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, SCRATCH)?;
        a.mov(rax, 1u64 << 45)?;
        a.mov(qword_ptr(rbx), rax)?;
        a.vmptrld(qword_ptr(rbx))
    });
    valid_error(&r, 9);
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, SCRATCH)?;
        a.mov(rax, 0x30_2000u64)?; // revision id 0 there
        a.mov(qword_ptr(rbx), rax)?;
        a.vmptrld(qword_ptr(rbx))
    });
    valid_error(&r, 11);
}

#[test]
fn vmptrst_stores_the_current_pointer() {
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(rbx, SCRATCH)?;
        a.vmptrst(qword_ptr(rbx))
    });
    assert_eq!(r.s.read(SCRATCH, 8), VMCS_REGION);
}

#[test]
fn vmread_without_current_vmcs_is_vmfail_invalid() {
    let r = run_host(Profile::default_profile(), |a| {
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        a.mov(rcx, enc::GUEST_RIP as u64)?;
        a.vmread(rax, rcx)?;
        save_flags(a, RESULT_FLAGS)
    });
    assert_eq!(r.fail_flags() & (CF | ZF), CF);
}

#[test]
fn vmread_vmwrite_unsupported_is_12() {
    // A posted-interrupt field (not offered) and a reserved encoding bit.
    for e in [enc::POSTED_INTERRUPT_DESCRIPTOR as u64, 0x1000] {
        let r = after_load(Profile::default_profile(), |a| {
            a.mov(rcx, e)?;
            a.vmread(rax, rcx)
        });
        valid_error(&r, 12);
        let r = after_load(Profile::default_profile(), |a| {
            a.mov(rcx, e)?;
            a.vmwrite(rcx, rax)
        });
        valid_error(&r, 12);
    }
    // EPT fields do not exist on the no-ept profile.
    let r = after_load(Profile::no_ept(), |a| {
        a.mov(rcx, enc::EPT_POINTER as u64)?;
        a.vmread(rax, rcx)
    });
    valid_error(&r, 12);
}

#[test]
fn vmwrite_read_only_is_13_without_misc_bit_29() {
    let w = |a: &mut CodeAssembler| {
        a.mov(rcx, enc::EXIT_QUALIFICATION as u64)?;
        a.mov(rax, 7u64)?;
        a.vmwrite(rcx, rax)
    };
    valid_error(&after_load(Profile::no_ept(), w), 13);
    let r = after_load(Profile::default_profile(), w);
    assert_eq!(r.fail_flags() & (CF | ZF), 0, "IA32_VMX_MISC bit 29 = 1: writable");
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), 7);
}

#[test]
fn vmwrite_vmread_widths_and_high_halves() {
    // SDM 25.11.2: a 16-bit field keeps 16 bits; HIGH access reads/writes bits 63:32 of a
    // 64-bit field; VMREAD to memory stores 64 bits in 64-bit mode.
    let r = after_load(Profile::default_profile(), |a| {
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
    });
    assert_eq!(r.field(enc::TSC_OFFSET), 0xaaaa_bbbb_3333_4444);
    assert_eq!(r.s.read(SCRATCH, 8), 0xaaaa_bbbb);
    assert_eq!(r.s.read(SCRATCH + 8, 8), 0x5678);
}

vmx_test!(
    /// VMLAUNCH of a launched VMCS: the guest VMCALLs, the host VMLAUNCHes again: error 4
    /// (SDM 31.3 VMLAUNCH/VMRESUME). Checked in `vmlaunch_twice_is_4` below; here: the first
    /// launch set the launch state.
    launch_state_set, fields: nothing, guest: |a| a.vmcall(), expect: |r| {
        exited(r, reason::VMCALL);
        assert_eq!(r.s.read(VMCS_REGION + hvbench_vmx::vmcs::LAUNCH_STATE_OFFSET, 4), 1);
    }
);

#[test]
fn vmlaunch_twice_is_4_and_vmresume_clear_is_5() {
    let p = Profile::default_profile();
    let f = valid_vmcs(&p, GuestKind::Flat64);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    // The exit stub is replaced: at HOST_RIP, VMLAUNCH again and record the flags.
    let again = asm(HOST_RIP, |a| {
        a.vmlaunch()?;
        save_flags(a, RESULT_FLAGS)?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &asm(GUEST_RIP, |a| a.vmcall()));
    s.mem.write_bytes(hvbench_mmu::PhysAddr(HOST_RIP), &again);
    s.run(20_000);
    let r = Run { s, profile: p };
    valid_error(&r, 4);

    let r = after_load(Profile::default_profile(), |a| a.vmresume());
    valid_error(&r, 5);
}

#[test]
fn vmlaunch_after_mov_ss_is_26() {
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(ax, ss)?;
        a.mov(ss, ax)?;
        a.vmlaunch()
    });
    valid_error(&r, 26);
}

#[test]
fn invept_invvpid_bad_operands_are_28() {
    // INVEPT type 0 is not defined (SDM 31.3 INVEPT): error 28.
    let r = after_load(Profile::default_profile(), |a| {
        a.xor(eax, eax)?;
        a.mov(rbx, SCRATCH)?;
        a.invept(rax, xmmword_ptr(rbx))
    });
    valid_error(&r, 28);
    // Single-context INVVPID with VPID 0 (SDM 31.3 INVVPID): error 28.
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(eax, 1)?;
        a.mov(rbx, SCRATCH)?;
        a.invvpid(rax, xmmword_ptr(rbx))
    });
    valid_error(&r, 28);
    // All-context INVEPT succeeds.
    let r = after_load(Profile::default_profile(), |a| {
        a.mov(eax, 2)?;
        a.mov(rbx, SCRATCH)?;
        a.invept(rax, xmmword_ptr(rbx))
    });
    assert_eq!(r.fail_flags() & (CF | ZF), 0);
    // No EPT in the profile: INVEPT is #UD.
    let r = after_load(Profile::no_ept(), |a| {
        a.mov(eax, 2)?;
        a.mov(rbx, SCRATCH)?;
        a.invept(rax, xmmword_ptr(rbx))
    });
    assert_eq!(r.s.exception_vector(), Some(6));
}

#[test]
fn vmcall_in_root_is_error_1() {
    let r = after_load(Profile::default_profile(), |a| a.vmcall());
    valid_error(&r, 1);
}

#[test]
fn vmxoff_leaves_vmx_operation() {
    let r = after_load(Profile::default_profile(), |a| {
        a.vmxoff()?;
        save_flags(a, RESULT_FLAGS)?;
        a.vmcall()
    });
    assert_eq!(r.s.exception_vector(), Some(6), "VMCALL outside VMX operation is #UD");
}

#[test]
fn capability_msrs_read_and_refuse_writes() {
    let r = run_host(Profile::default_profile(), |a| {
        a.mov(ecx, 0x480)?;
        a.rdmsr()?;
        a.mov(rbx, SCRATCH)?;
        a.mov(dword_ptr(rbx), eax)?;
        a.mov(dword_ptr(rbx + 4), edx)?;
        a.wrmsr()
    });
    assert_eq!(r.s.read(SCRATCH, 8), Profile::default_profile().basic());
    assert_eq!(r.s.exception_vector(), Some(13));
}

/// A bus with one pending external interrupt (vector 0x41) and, optionally, a pending NMI.
struct IrqBus {
    irq: bool,
    nmi: bool,
    acked: u32,
}

impl hvbench_mmu::Bus for IrqBus {
    fn io_read(&mut self, _: usize, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: usize, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: usize, _: hvbench_mmu::PhysAddr, _: u8, _: u64) {}
    fn pending_interrupt(&mut self, _: usize) -> bool {
        self.irq
    }
    fn acknowledge_interrupt(&mut self, _: usize) -> u8 {
        self.irq = false;
        self.acked += 1;
        0x41
    }
    fn pending_nmi(&mut self, _: usize) -> bool {
        self.nmi
    }
    fn acknowledge_nmi(&mut self, _: usize) {
        self.nmi = false;
    }
}

/// Runs a default-profile guest (a HLT loop with interrupts disabled) with `bus`.
fn run_with_bus(edit: impl FnOnce(&mut Vec<(u32, u64)>), bus: &mut IrqBus) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    let pc = get(&f, enc::PROC_BASED_CONTROLS);
    set(&mut f, enc::PROC_BASED_CONTROLS, pc & !(1 << 7)); // the guest may halt
    edit(&mut f);
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (fl, v) in &f {
            vmwrite(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.hlt()
    });
    let guest = asm(GUEST_RIP, |a| {
        a.nop()?;
        a.hlt()
    });
    let mut s = sandbox(&p, &host, &guest);
    // The host runs with IF = 0 and NMIs blocked (as inside an NMI handler), so the events
    // stay pending until VMLAUNCH loads the guest's interruptibility state (no blocking).
    s.cpu.state.nmi_blocked = true;
    s.run_with(bus, 20_000);
    Run { s, profile: p }
}

#[test]
fn external_interrupt_exits_with_and_without_acknowledge() {
    // SDM 26.2: with "external-interrupt exiting" an interrupt exits (reason 1) whatever the
    // guest's RFLAGS.IF; 28.2.2: with "acknowledge interrupt on exit" the vector is in the
    // VM-exit interruption information (type 0, valid), else that field is invalid and the
    // interrupt is still pending.
    let mut bus = IrqBus { irq: true, nmi: false, acked: 0 };
    let r = run_with_bus(
        |f| {
            let pin = get(f, enc::PIN_BASED_CONTROLS);
            set(f, enc::PIN_BASED_CONTROLS, pin | 1);
            let e = get(f, enc::EXIT_CONTROLS);
            set(f, enc::EXIT_CONTROLS, e | 1 << 15);
        },
        &mut bus,
    );
    exited(&r, reason::EXTERNAL_INTERRUPT);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0041);
    assert_eq!(bus.acked, 1);
    assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP, "exit at the first instruction boundary");

    let mut bus = IrqBus { irq: true, nmi: false, acked: 0 };
    let r = run_with_bus(
        |f| {
            let pin = get(f, enc::PIN_BASED_CONTROLS);
            set(f, enc::PIN_BASED_CONTROLS, pin | 1);
        },
        &mut bus,
    );
    exited(&r, reason::EXTERNAL_INTERRUPT);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0);
    assert_eq!(bus.acked, 0);
    assert!(bus.irq, "not acknowledged: still pending");
}

#[test]
fn nmi_exiting() {
    // SDM 26.2: with "NMI exiting" an NMI exits with reason 0, interruption type 2, vector 2.
    let mut bus = IrqBus { irq: false, nmi: true, acked: 0 };
    let r = run_with_bus(
        |f| {
            let pin = get(f, enc::PIN_BASED_CONTROLS);
            set(f, enc::PIN_BASED_CONTROLS, pin | 1 << 3);
        },
        &mut bus,
    );
    exited(&r, reason::EXCEPTION_NMI);
    assert_eq!(r.field(enc::EXIT_INTERRUPTION_INFO), 0x8000_0202);
    assert!(!bus.nmi);
}

vmx_test!(
    /// INVEPT in non-root operation exits unconditionally: reason 50, instruction information
    /// Reg2 (bits 31:28) = the type register (SDM 26.1.2, 28.2.5).
    invept_in_guest_exits, fields: nothing, guest: |a| a.invept(rdx, xmmword_ptr(rbx)), expect: |r| {
        exited(r, reason::INVEPT);
        assert_eq!(r.field(enc::EXIT_INSTRUCTION_INFO) >> 28, 2);
    }
);

vmx_test!(
    /// "Interrupt-window exiting" (SDM 26.7.5): with RFLAGS.IF = 0 at entry no exit; STI, then
    /// after the STI shadow (one instruction) the window is open: reason 7 with RIP after the
    /// instruction that followed STI.
    interrupt_window_exit,
    fields: |f| { let p = get(f, enc::PROC_BASED_CONTROLS); set(f, enc::PROC_BASED_CONTROLS, p | 1 << 2); },
    guest: |a| { a.nop()?; a.sti()?; a.nop()?; a.nop()?; a.hlt() },
    expect: |r| {
        exited(r, reason::INTERRUPT_WINDOW);
        assert_eq!(r.field(enc::GUEST_RIP), GUEST_RIP + 3, "after NOP; STI; NOP");
        assert_eq!(r.field(enc::GUEST_INTERRUPTIBILITY), 0);
    }
);
