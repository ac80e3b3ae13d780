//! Freestanding programs that walk the CPU through its modes and privilege levels, assembled
//! with iced-x86's `code_asm` and run in the [`Sandbox`]. Expected values come from the SDM
//! (sections cited beside each check), not from running hvbench.
//!
//! Sandbox GDT: 0x08 64-bit code, 0x10 data, 0x18 32-bit code, 0x20 16-bit code, 0x2b ring-3
//! data, 0x33 ring-3 64-bit code, 0x3b ring-3 32-bit code, 0x40 TSS (RSP0 = STACK_TOP).

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE, STACK_TOP};
use hvbench_cpu::segment::SegReg;
use hvbench_cpu::{Activity, Event, Mode};
use hvbench_mmu::{Bus, CpuIndex, PhysAddr};
use iced_x86::code_asm::*;

fn asm_at(bits: u32, ip: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(bits).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

fn put(s: &mut Sandbox, addr: u64, bytes: &[u8]) {
    assert!(s.mem.write_bytes(PhysAddr(addr), bytes));
}

fn put64(s: &mut Sandbox, addr: u64, v: u64) {
    assert!(s.mem.write_le(PhysAddr(addr), 8, v));
}

/// Where ring-3 code and its stack go (user pages in the sandbox's identity map).
const USER_CODE: u64 = CODE_BASE + 0x4000;
const USER_STACK: u64 = DATA_BASE + 0x8000;
/// A ring-0 handler/entry point.
const KERNEL: u64 = CODE_BASE + 0x6000;

/// 64-bit code that drops to ring 3 at USER_CODE with IRETQ (SDM Vol. 2A "IRET", return to
/// an outer privilege level pops SS:RSP).
fn iretq_to_user(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.push(0x2b)?;
    a.mov(rax, USER_STACK)?;
    a.push(rax)?;
    a.push(0x2)?;
    a.push(0x33)?;
    a.mov(rax, USER_CODE)?;
    a.push(rax)?;
    a.iretq()
}

/// Adds a 16-byte IA-32e interrupt/trap gate for `vector` to the sandbox IDT (at 0x2000).
fn idt_gate64(s: &mut Sandbox, vector: u64, handler: u64, dpl: u64) {
    let lo = (handler & 0xffff) | (0x08 << 16) | ((0x8e | (dpl << 5)) << 40) | ((handler >> 16 & 0xffff) << 48);
    put64(s, 0x2000 + 16 * vector, lo);
    put64(s, 0x2000 + 16 * vector + 8, handler >> 32);
    s.cpu.state.idtr.limit = 0xfff;
}

#[test]
fn real_to_protected_to_pae_to_long_and_back_to_compatibility_mode() {
    // SDM Vol. 3A 10.9 "Mode Switching" (10.9.1 protected mode, 10.8.5 IA-32e mode).
    let p32 = CODE_BASE + 0x1000;
    let p64 = CODE_BASE + 0x2000;
    let compat = CODE_BASE + 0x3000;
    let pae_pdpt = 0x30000u64;
    let pae_pd = 0x31000u64;
    // Real mode at CS=FFFF, IP=0x10 (linear CODE_BASE).
    let real = asm_at(16, 0x10, |a| {
        a.cli()?;
        a.lgdt(ptr(0x6000))?;
        a.mov(eax, cr0)?;
        a.or(eax, 1)?;
        a.mov(cr0, eax)?;
        // jmp dword far 0x18:p32 (o32 EA cd cw)
        let mut b = vec![0x66, 0xea];
        b.extend_from_slice(&(p32 as u32).to_le_bytes());
        b.extend_from_slice(&0x18u16.to_le_bytes());
        a.db(&b)
    });
    let prot = asm_at(32, p32, |a| {
        a.mov(ax, 0x10)?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, STACK_TOP as u32)?;
        // PAE paging (SDM 4.4): CR4.PAE, CR3 = PDPT, CR0.PG.
        a.mov(eax, cr4)?;
        a.or(eax, 1 << 5)?;
        a.mov(cr4, eax)?;
        a.mov(eax, pae_pdpt as u32)?;
        a.mov(cr3, eax)?;
        a.mov(eax, cr0)?;
        a.or(eax, 0x8000_0000u32 as i32)?;
        a.mov(cr0, eax)?;
        a.mov(dword_ptr(DATA_BASE as u32), 0x1111_1111)?;
        // IA-32e activation (10.8.5): paging off, CR3 = PML4, EFER.LME, paging on.
        a.mov(eax, cr0)?;
        a.and(eax, 0x7fff_ffff)?;
        a.mov(cr0, eax)?;
        a.mov(eax, 0x10000)?;
        a.mov(cr3, eax)?;
        a.mov(ecx, 0xc000_0080u32)?;
        a.rdmsr()?;
        a.or(eax, 1 << 8)?;
        a.wrmsr()?;
        a.mov(eax, cr0)?;
        a.or(eax, 0x8000_0000u32 as i32)?;
        a.mov(cr0, eax)?;
        a.jmp_far(0x08, p64 as u32)
    });
    let long = asm_at(64, p64, |a| {
        a.mov(rax, 0x2222u64)?;
        a.mov(rbx, DATA_BASE + 8)?;
        a.mov(qword_ptr(rbx), rax)?;
        // Back to compatibility mode with a far JMP m16:32 to the 32-bit code segment.
        a.mov(rbx, DATA_BASE + 0x100)?;
        a.jmp(fword_ptr(rbx))
    });
    let comp = asm_at(32, compat, |a| {
        a.mov(dword_ptr((DATA_BASE + 16) as u32), 0x3333)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Real, &real);
    put(&mut s, p32, &prot);
    put(&mut s, p64, &long);
    put(&mut s, compat, &comp);
    // GDTR image for LGDT: limit 0x4f, base 0x1000.
    put(&mut s, 0x6000, &[0x4f, 0, 0x00, 0x10, 0, 0]);
    s.cpu.state.gdtr = Default::default();
    // PAE PDPT (only P in PDPTEs, SDM 4.4.1) -> one PD of 2-MiB identity pages for 1 GiB.
    put64(&mut s, pae_pdpt, pae_pd | 1);
    for j in 0..512u64 {
        put64(&mut s, pae_pd + 8 * j, (j << 21) | 0x83);
    }
    // The long-mode tables the sandbox builds only for Long64: PML4 at 0x10000.
    put64(&mut s, 0x10000, 0x11000 | 7);
    put64(&mut s, 0x11000, 0x12000 | 7);
    for j in 0..512u64 {
        put64(&mut s, 0x12000 + 8 * j, (j << 21) | 0x87);
    }
    // Far pointer m16:32 for the 64-bit JMP.
    put(&mut s, DATA_BASE + 0x100, &(compat as u32).to_le_bytes());
    put(&mut s, DATA_BASE + 0x104, &0x18u16.to_le_bytes());
    s.cpu.trace = true;
    s.run(200);
    assert_eq!(s.cpu.state.activity, Activity::Halted, "rip {:#x}", s.cpu.state.rip);
    assert_eq!(s.read(DATA_BASE, 4), 0x1111_1111);
    assert_eq!(s.read(DATA_BASE + 8, 8), 0x2222);
    assert_eq!(s.read(DATA_BASE + 16, 4), 0x3333);
    assert_eq!(s.cpu.state.mode(), Mode::Compat32);
    assert_ne!(s.cpu.state.efer & (1 << 10), 0, "EFER.LMA set (10.8.5)");
    let modes: Vec<Mode> = s
        .cpu
        .drain_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::ModeChange { to, .. } => Some(to),
            _ => None,
        })
        .collect();
    // CR0.PE=1 with the real-mode CS (D=0) is 16-bit protected mode until the far JMP.
    assert_eq!(modes, [Mode::Protected16, Mode::Protected32, Mode::Compat32, Mode::Long64, Mode::Compat32]);
}

#[test]
fn ring3_via_iretq_and_back_through_an_interrupt_gate() {
    // SDM Vol. 3A 6.14.2-6.14.4: INT from CPL 3 switches to RSP0, pushes SS, RSP, RFLAGS,
    // CS, RIP (8 bytes each), aligns RSP to 16.
    let code = asm_at(64, CODE_BASE, iretq_to_user);
    let user = asm_at(64, USER_CODE, |a| {
        a.mov(ax, cs)?;
        a.mov(rbx, DATA_BASE)?;
        a.mov(word_ptr(rbx), ax)?;
        a.int(0x80)
    });
    let kernel = asm_at(64, KERNEL, |a| a.hlt());
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    put(&mut s, USER_CODE, &user);
    put(&mut s, KERNEL, &kernel);
    idt_gate64(&mut s, 0x80, KERNEL, 3);
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.read(DATA_BASE, 2), 0x33, "user code ran with CS=0x33");
    assert_eq!(s.cpu.state.cpl, 0);
    let top = s.cpu.state.gpr[4];
    assert_eq!(top, STACK_TOP - 40);
    let int_len = 2;
    assert_eq!(s.read(top, 8), USER_CODE + user.len() as u64, "return RIP after INT 0x80 ({int_len} bytes)");
    assert_eq!(s.read(top + 8, 8), 0x33);
    assert_eq!(s.read(top + 24, 8), USER_STACK);
    assert_eq!(s.read(top + 32, 8), 0x2b);
    assert_eq!(s.cpu.state.seg(SegReg::Ss).selector, 0, "null SS with RPL 0 (6.14.4)");
}

#[test]
fn syscall_sysret_round_trip() {
    // SDM Vol. 2B "SYSCALL"/"SYSRET": STAR[47:32] kernel CS (SS = +8), STAR[63:48] + 16 user
    // CS for SYSRETQ (SS = +8), both with RPL 3.
    let star = (0x20u64 << 48) | (0x08 << 32);
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(ecx, 0xc000_0081u32)?;
        a.mov(eax, star as u32)?;
        a.mov(edx, (star >> 32) as u32)?;
        a.wrmsr()?;
        a.mov(ecx, 0xc000_0082u32)?;
        a.mov(eax, KERNEL as u32)?;
        a.xor(edx, edx)?;
        a.wrmsr()?;
        a.mov(ecx, 0xc000_0084u32)?;
        a.mov(eax, 0x200 | 0x100)?; // FMASK: IF, TF
        a.wrmsr()?;
        a.mov(rcx, USER_CODE)?;
        a.mov(r11, 0x202u64)?;
        a.mov(rsp, USER_STACK)?;
        a.sysretq()
    });
    let user = asm_at(64, USER_CODE, |a| {
        a.mov(ax, cs)?;
        a.mov(rbx, DATA_BASE)?;
        a.mov(word_ptr(rbx), ax)?;
        a.mov(ax, ss)?;
        a.mov(word_ptr(rbx + 2), ax)?;
        a.syscall()
    });
    let kernel = asm_at(64, KERNEL, |a| a.hlt());
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    put(&mut s, USER_CODE, &user);
    put(&mut s, KERNEL, &kernel);
    s.run(100);
    assert_eq!(s.cpu.state.activity, Activity::Halted, "rip {:#x}", s.cpu.state.rip);
    assert_eq!(s.read(DATA_BASE, 2), 0x33);
    assert_eq!(s.read(DATA_BASE + 2, 2), 0x2b);
    let st = &s.cpu.state;
    assert_eq!(st.cpl, 0);
    assert_eq!(st.seg(SegReg::Cs).selector, 0x08);
    assert_eq!(st.seg(SegReg::Ss).selector, 0x10);
    assert_eq!(st.gpr[1], USER_CODE + user.len() as u64, "RCX = next RIP");
    assert_eq!(st.gpr[11], 0x202, "R11 = RFLAGS");
    assert_eq!(st.rflags & 0x200, 0, "IF masked by IA32_FMASK");
    assert_eq!(st.rip, KERNEL + 1);
}

#[test]
fn sysret_to_non_canonical_rcx_faults_at_cpl0() {
    // Intel: #GP(0) at CPL 0 before any state changes (SDM "SYSRET" Operation note).
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(rcx, 0x8000_0000_0000u64)?;
        a.sysretq()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.run(100);
    assert_eq!(s.exception_vector(), Some(13));
    assert_eq!(s.cpu.state.cpl, 0);
    assert_eq!(s.read(s.cpu.state.gpr[4] + 16, 8), 0x08, "interrupted CS is still ring 0");
}

#[test]
fn ring3_to_ring0_through_a_64_bit_call_gate_and_retf_back() {
    // SDM Vol. 3A 5.8.3.1 "IA-32e Mode Call Gates", 5.8.5: the CALL pushes old SS, RSP, CS,
    // RIP on the RSP0 stack (8 bytes each) with a null SS; RETFQ to CPL 3 pops them and
    // nulls DS (DPL 0 data) per "RET" RETURN-TO-OUTER-PRIVILEGE-LEVEL.
    let code = asm_at(64, CODE_BASE, iretq_to_user);
    let user = asm_at(64, USER_CODE, |a| {
        a.mov(rbx, DATA_BASE + 0x100)?;
        a.call(tbyte_ptr(rbx))?; // call far m16:64
        a.mov(rbx, DATA_BASE)?;
        a.mov(dword_ptr(rbx + 8), 0x5555)?;
        a.ud2()
    });
    let kernel = asm_at(64, KERNEL, |a| {
        a.mov(rbx, DATA_BASE)?;
        a.mov(qword_ptr(rbx), rsp)?;
        for k in 0..4 {
            a.mov(rax, qword_ptr(rsp + 8 * k))?;
            a.mov(qword_ptr(rbx + 0x20 + 8 * k), rax)?;
        }
        a.mov(ax, ss)?;
        a.mov(word_ptr(rbx + 16), ax)?;
        a.db(&[0x48, 0xcb]) // retfq
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    put(&mut s, USER_CODE, &user);
    put(&mut s, KERNEL, &kernel);
    // 64-bit call gate at 0x50: type 0xC, DPL 3, target 0x08:KERNEL.
    let lo = (KERNEL & 0xffff) | (0x08 << 16) | (0xecu64 << 40) | ((KERNEL >> 16 & 0xffff) << 48);
    put64(&mut s, 0x1050, lo);
    put64(&mut s, 0x1058, KERNEL >> 32);
    s.cpu.state.gdtr.limit = 0x5f;
    put(&mut s, DATA_BASE + 0x100, &[0; 8]);
    put(&mut s, DATA_BASE + 0x108, &0x53u16.to_le_bytes()); // gate selector, RPL 3
    s.run(200);
    assert_eq!(s.exception_vector(), Some(6), "ud2 after the return");
    let frame = s.read(DATA_BASE, 8);
    assert_eq!(frame, STACK_TOP - 32, "four 8-byte pushes on RSP0");
    // The frame as the callee saw it (copied to DATA_BASE+0x20; the later #UD reuses RSP0).
    let f = DATA_BASE + 0x20;
    assert_eq!(s.read(f, 8), USER_CODE + 10 + 3, "return RIP after the 3-byte CALL");
    assert_eq!(s.read(f + 8, 8), 0x33);
    assert_eq!(s.read(f + 16, 8), USER_STACK);
    assert_eq!(s.read(f + 24, 8), 0x2b);
    assert_eq!(s.read(DATA_BASE + 16, 2), 0, "SS is a null selector with RPL 0 in the callee");
    assert_eq!(s.read(DATA_BASE + 8, 4), 0x5555, "ring 3 resumed");
    assert_eq!(s.cpu.state.seg(SegReg::Ds).selector, 0, "DS (DPL 0) nulled on the return to CPL 3");
}

#[test]
fn legacy_32_bit_call_gate_copies_parameters_and_retf_imm_releases_them() {
    // SDM Vol. 3A 5.8.5 Figure 5-13: the new stack holds old SS, old ESP, the parameters (in
    // the same order), old CS, old EIP; RETF 8 releases 8 bytes on both stacks ("RET").
    let user_code = CODE_BASE + 0x4000;
    let user_stack = DATA_BASE + 0x8000;
    let code = asm_at(32, CODE_BASE, |a| {
        a.push(0x2b)?;
        a.push(user_stack as u32)?;
        a.push(0x2)?;
        a.push(0x3b)?;
        a.push(user_code as u32)?;
        a.iretd()
    });
    // IRETD to CPL 3 nulled DS/ES (DPL 0); load the ring-3 data segment, which CPL 0 may
    // use as well.
    let call = asm_at(32, user_code, |a| {
        a.mov(ax, 0x2b)?;
        a.mov(ds, ax)?;
        a.push(0x1111)?;
        a.push(0x2222)?;
        a.call_far(0x53, 0)
    });
    let ret_eip = user_code + call.len() as u64;
    let mut user = call;
    user.extend(asm_at(32, ret_eip, |a| {
        a.mov(dword_ptr((DATA_BASE + 8) as u32), esp)?;
        a.ud2()
    }));
    let kernel = asm_at(32, KERNEL, |a| {
        a.mov(dword_ptr(DATA_BASE as u32), esp)?;
        for k in 0..6 {
            a.mov(eax, dword_ptr(esp + 4 * k))?;
            a.mov(dword_ptr(DATA_BASE as u32 + 0x20 + 4 * k as u32), eax)?;
        }
        a.retf_1(8)
    });
    let mut s = Sandbox::new(SandboxMode::Protected32, &code);
    put(&mut s, user_code, &user);
    put(&mut s, KERNEL, &kernel);
    // 32-bit TSS: ESP0 = STACK_TOP (sandbox), SS0 = 0x10.
    put64(&mut s, 0x3008, 0x10);
    // 32-bit call gate at 0x50: type 0xC, DPL 3, 2 parameters, target 0x18:KERNEL.
    let lo = (KERNEL & 0xffff) | (0x18 << 16) | (2u64 << 32) | (0xecu64 << 40) | ((KERNEL >> 16 & 0xffff) << 48);
    put64(&mut s, 0x1050, lo);
    s.cpu.state.gdtr.limit = 0x57;
    // The sandbox TSS descriptor is type 9 (32-bit TSS in legacy mode).
    s.run(200);
    assert_eq!(s.exception_vector(), Some(6), "rip {:#x} {:?}", s.cpu.state.rip, s.cpu.state.activity);
    assert_eq!(s.read(DATA_BASE, 4), STACK_TOP - 24);
    let kesp = DATA_BASE + 0x20;
    assert_eq!(s.read(kesp, 4), ret_eip, "return EIP after the CALL");
    assert_eq!(s.read(kesp + 4, 4), 0x3b);
    assert_eq!(s.read(kesp + 8, 4), 0x2222, "parameter at the old top stays at the top");
    assert_eq!(s.read(kesp + 12, 4), 0x1111);
    assert_eq!(s.read(kesp + 16, 4), user_stack - 8);
    assert_eq!(s.read(kesp + 20, 4), 0x2b);
    assert_eq!(s.read(DATA_BASE + 8, 4), user_stack, "RETF 8 released the parameters");
}

/// Builds 4-KiB mappings at 0x80_0000_0000 (PML4 slot 1) with the given PTEs.
fn map_4k(s: &mut Sandbox, ptes: &[u64]) -> u64 {
    let (pdpt, pd, pt) = (0x40000u64, 0x41000u64, 0x42000u64);
    put64(s, 0x10008, pdpt | 7);
    put64(s, pdpt, pd | 7);
    put64(s, pd, pt | 7);
    for (i, p) in ptes.iter().enumerate() {
        put64(s, pt + 8 * i as u64, *p);
    }
    0x80_0000_0000
}

/// Runs `body` (64-bit code assembled for `at`) at CPL 3 (`user`, placed at USER_CODE) or
/// CPL 0 (at CODE_BASE) against the 4-KiB mappings; returns (vector, error code, CR2).
fn page_fault_case(ptes: &[u64], user: bool, cr4_extra: u64, body: impl Fn(&mut CodeAssembler) -> Result<(), IcedError>) -> (Option<u8>, u64, u64) {
    let mut s = if user {
        let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, iretq_to_user));
        let b = asm_at(64, USER_CODE, body);
        put(&mut s, USER_CODE, &b);
        s
    } else {
        Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, body))
    };
    s.cpu.state.cr4 |= cr4_extra;
    let st = s.cpu.state.clone();
    s.cpu.set_state(st);
    map_4k(&mut s, ptes);
    if cr4_extra != 0 {
        // SMEP/SMAP cases run at CPL 0 with the identity map (code, stack, IDT stubs) made
        // supervisor-only: U/S=0 in PML4[0] (SDM 4.6.1, the U/S bits of all levels combine).
        put64(&mut s, 0x10000, 0x11000 | 3);
    }
    s.run(100);
    let top = s.cpu.state.gpr[4];
    (s.exception_vector(), s.read(top, 8), s.cpu.state.cr2)
}

const VA: u64 = 0x80_0000_0000;
/// PTE bits (SDM Vol. 3A Table 4-19).
const P: u64 = 1;
const RW: u64 = 2;
const US: u64 = 4;
const XD: u64 = 1 << 63;

#[test]
fn page_fault_error_codes() {
    // SDM Vol. 3A 4.7 "Page-Fault Exceptions", Figure 4-12: P=bit 0, W/R=bit 1, U/S=bit 2,
    // RSVD=bit 3, I/D=bit 4.
    let frame = 0x50_0000u64;
    let read = |a: &mut CodeAssembler| {
        a.mov(rbx, VA)?;
        a.mov(rax, qword_ptr(rbx))
    };
    let write = |a: &mut CodeAssembler| {
        a.mov(rbx, VA)?;
        a.mov(qword_ptr(rbx), rax)
    };
    let fetch = |a: &mut CodeAssembler| {
        a.mov(rbx, VA)?;
        a.jmp(rbx)
    };
    // User read of a supervisor page: P | U.
    assert_eq!(page_fault_case(&[frame | P | RW], true, 0, read), (Some(14), 0x5, VA));
    // User write of a read-only user page: P | W | U.
    assert_eq!(page_fault_case(&[frame | P | US], true, 0, write), (Some(14), 0x7, VA));
    // Supervisor write of a read-only page with CR0.WP=1 (the sandbox sets WP): P | W.
    assert_eq!(page_fault_case(&[frame | P | US], false, 0, write), (Some(14), 0x3, VA));
    // Supervisor write to a not-present page: W.
    assert_eq!(page_fault_case(&[frame], false, 0, write), (Some(14), 0x2, VA));
    // Instruction fetch from an XD page (EFER.NXE=1): P | I/D.
    assert_eq!(page_fault_case(&[frame | P | RW | XD], false, 0, fetch), (Some(14), 0x11, VA));
    // Reserved bit (bit 45 > MAXPHYADDR 39) in a present PTE: P | RSVD.
    assert_eq!(page_fault_case(&[frame | P | RW | (1 << 45)], false, 0, read), (Some(14), 0x9, VA));
    // SMEP (SDM 4.6.1): supervisor fetch from a user page: P | I/D.
    assert_eq!(page_fault_case(&[frame | P | RW | US], false, 1 << 20, fetch), (Some(14), 0x11, VA));
    // SMAP (SDM 4.6.1): supervisor read of a user page with AC=0: P.
    assert_eq!(page_fault_case(&[frame | P | RW | US], false, 1 << 21, read), (Some(14), 0x1, VA));
}

#[test]
fn smap_allows_supervisor_data_access_with_ac_set_and_stac_clac_toggle_it() {
    // SDM 4.6.1: explicit supervisor accesses to user pages are allowed when RFLAGS.AC=1.
    let (v, _, _) = page_fault_case(&[0x50_0000 | P | RW | US], false, 1 << 21, |a| {
        a.stac()?;
        a.mov(rbx, VA)?;
        a.mov(rax, qword_ptr(rbx))?;
        a.clac()?;
        a.mov(rax, qword_ptr(rbx))
    });
    assert_eq!(v, Some(14), "the access after CLAC faults");
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| {
        a.stac()?;
        a.hlt()
    }));
    s.cpu.state.cr4 |= 1 << 21;
    s.run(10);
    assert_ne!(s.cpu.state.rflags & (1 << 18), 0, "STAC sets AC");
    // STAC at CPL 3 is #UD (SDM "STAC").
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, iretq_to_user));
    put(&mut s, USER_CODE, &asm_at(64, USER_CODE, |a| a.stac()));
    s.run(20);
    assert_eq!(s.exception_vector(), Some(6));
}

#[test]
fn smep_allows_supervisor_fetch_from_supervisor_pages() {
    let (v, _, _) = page_fault_case(&[0x50_0000 | P | RW], false, 1 << 20, |a| {
        a.mov(rbx, VA)?;
        a.jmp(rbx)
    });
    // The page holds zeros: `add [rax], al` with RAX = 0 is a harmless write to page 0; the
    // fetch itself succeeded, so no #PF.
    assert_ne!(v, Some(14));
}

#[test]
fn non_canonical_data_access_is_gp0() {
    // SDM Vol. 3A 3.3.7.1: a non-canonical reference (not via SS) raises #GP(0).
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| {
        a.mov(rax, 0x8000_0000_0000u64)?;
        a.mov(rbx, qword_ptr(rax))
    }));
    s.run(10);
    assert_eq!(s.exception_vector(), Some(13));
    assert_eq!(s.read(s.cpu.state.gpr[4], 8), 0, "error code 0");
}

#[test]
fn page_fault_with_absent_idt_entry_becomes_double_fault() {
    // SDM Vol. 3A 6.15 Table 6-5: #PF then a contributory #NP while delivering it -> #DF(0).
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| {
        a.mov(rbx, 0x1_0000_0000u64 * 8)?;
        a.mov(rax, qword_ptr(rbx))
    }));
    let b = s.read(0x2000 + 16 * 14 + 5, 1) as u8;
    put(&mut s, 0x2000 + 16 * 14 + 5, &[b & 0x7f]);
    s.run(10);
    assert_eq!(s.exception_vector(), Some(8));
    assert_eq!(s.read(s.cpu.state.gpr[4], 8), 0, "#DF pushes error code 0");
}

#[test]
fn triple_fault_shuts_down() {
    // SDM 6.15 "Interrupt 8": a fault while delivering #DF -> shutdown.
    let mut s = Sandbox::new(SandboxMode::Long64, &asm_at(64, CODE_BASE, |a| {
        a.mov(rbx, 0x1_0000_0000u64 * 8)?;
        a.mov(rax, qword_ptr(rbx))
    }));
    for v in [8u64, 11, 13, 14] {
        let b = s.read(0x2000 + 16 * v + 5, 1) as u8;
        put(&mut s, 0x2000 + 16 * v + 5, &[b & 0x7f]);
    }
    s.run(10);
    assert_eq!(s.cpu.state.activity, Activity::Shutdown);
    assert!(s.cpu.drain_events().iter().any(|e| matches!(e, Event::TripleFault { .. })));
}

/// A bus with a maskable interrupt pending (vector 31) once `armed`.
struct IrqBus {
    armed: bool,
}

impl Bus for IrqBus {
    fn io_read(&mut self, _: CpuIndex, _: u16, _: u8) -> u32 {
        0
    }
    fn io_write(&mut self, _: CpuIndex, _: u16, _: u8, _: u32) {}
    fn mmio_read(&mut self, _: CpuIndex, _: PhysAddr, _: u8) -> u64 {
        0
    }
    fn mmio_write(&mut self, _: CpuIndex, _: PhysAddr, _: u8, _: u64) {}
    fn pending_interrupt(&mut self, _: CpuIndex) -> bool {
        self.armed
    }
    fn acknowledge_interrupt(&mut self, _: CpuIndex) -> u8 {
        self.armed = false;
        31
    }
}

#[test]
fn sti_shadow_holds_an_interrupt_for_one_instruction() {
    // SDM Vol. 2B "STI" and Vol. 3A 6.8.3: after STI sets IF, interrupts are recognized only
    // after the next instruction.
    let code = asm_at(64, CODE_BASE, |a| {
        a.sti()?;
        a.mov(eax, 1)?;
        a.mov(ebx, 2)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    let mut bus = IrqBus { armed: true };
    s.cpu.run(&mut s.mem, &mut bus, 1);
    s.cpu.run(&mut s.mem, &mut bus, 10);
    assert_eq!(s.exception_vector(), Some(31));
    assert_eq!(s.cpu.state.gpr[0], 1);
    assert_eq!(s.cpu.state.gpr[3], 0, "interrupted before `mov ebx, 2`");
    assert_eq!(s.read(s.cpu.state.gpr[4], 8), CODE_BASE + 1 + 5);
}

#[test]
fn mov_ss_shadow_holds_an_interrupt_for_one_instruction() {
    // SDM Vol. 3A 6.8.3: MOV SS blocks interrupts until after the next instruction.
    let code = asm_at(64, CODE_BASE, |a| {
        a.mov(ax, ss)?;
        a.mov(ss, ax)?;
        a.mov(ecx, 1)?;
        a.mov(edx, 2)?;
        a.hlt()
    });
    let mut s = Sandbox::new(SandboxMode::Long64, &code);
    s.cpu.state.rflags |= 0x200;
    let mut bus = IrqBus { armed: false };
    s.cpu.run(&mut s.mem, &mut bus, 2);
    bus.armed = true;
    s.cpu.run(&mut s.mem, &mut bus, 10);
    assert_eq!(s.exception_vector(), Some(31));
    assert_eq!(s.cpu.state.gpr[1], 1);
    assert_ne!(s.cpu.state.gpr[2], 2, "interrupted before `mov edx, 2`");
    assert_eq!(s.read(s.cpu.state.gpr[4], 8), CODE_BASE + 3 + 3 + 5, "return RIP (66 8C D0, 66 8E D0, B9 imm32)");
}

