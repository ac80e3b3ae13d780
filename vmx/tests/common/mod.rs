//! The conformance-suite harness: a 64-bit sandbox with VMX installed, a host program that
//! does VMXON / VMCLEAR / VMPTRLD / VMWRITE of a complete valid VMCS / VMLAUNCH, and a guest.
//!
//! Memory map (beside the sandbox's own, see `hvbench_cpu::sandbox`): VMXON region 0x300000,
//! VMCS 0x301000, I/O bitmaps 0x310000/0x311000, MSR bitmap 0x312000, EPT PML4 0x500000 (PDPT
//! 0x501000, four 1-GByte identity pages, WB, RWX), pointers and results at DATA_BASE, guest
//! code at GUEST_RIP, host resume code at HOST_RIP.

#![allow(dead_code)]

/// A conformance case: a default-profile run with a valid 64-bit guest; `fields` edits the
/// VMCS, `guest` is the guest program, `expect` checks the result against the SDM.
#[allow(unused_macros)]
macro_rules! vmx_test {
    ($(#[$m:meta])* $name:ident, fields: $fields:expr, guest: $guest:expr, expect: $expect:expr) => {
        $(#[$m])*
        #[test]
        fn $name() {
            let r = run($fields, $guest);
            let check: &dyn Fn(&Run) = &$expect;
            check(&r);
        }
    };
}

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_vmx::caps::{Profile, VMCS_REVISION};
use hvbench_vmx::fields::enc;
use hvbench_vmx::vmcs::FIELD_BASE;
use iced_x86::code_asm::*;

pub const VMXON_REGION: u64 = 0x30_0000;
pub const VMCS_REGION: u64 = 0x30_1000;
pub const IO_BITMAP_A: u64 = 0x31_0000;
pub const IO_BITMAP_B: u64 = 0x31_1000;
pub const MSR_BITMAP: u64 = 0x31_2000;
pub const EPT_PML4: u64 = 0x50_0000;
/// EPTP: WB (6), page-walk length 4 (bits 5:3 = 3).
pub const EPTP: u64 = EPT_PML4 | 6 | 3 << 3;
pub const GUEST_RIP: u64 = CODE_BASE + 0x4000;
pub const HOST_RIP: u64 = CODE_BASE + 0x8000;
/// Where a real-mode guest's code goes (CS = 0x0900, IP = 0).
pub const REAL_GUEST: u64 = 0x9000;
pub const HOST_RSP: u64 = 0x7_f000;
pub const GUEST_RSP: u64 = 0x7_8000;
/// DATA_BASE slots: +0 VMXON pointer, +8 VMCS pointer, +0x10 result kind, +0x18 RFLAGS after
/// the last VMX instruction of the host program, +0x20.. scratch for tests.
pub const PTR_VMXON: u64 = DATA_BASE;
pub const PTR_VMCS: u64 = DATA_BASE + 8;
pub const RESULT_KIND: u64 = DATA_BASE + 0x10;
pub const RESULT_FLAGS: u64 = DATA_BASE + 0x18;
pub const SCRATCH: u64 = DATA_BASE + 0x20;

/// The host fell through VMLAUNCH (VMfail).
pub const KIND_VMFAIL: u64 = 1;
/// The host resumed at HOST_RIP (VM exit or VM-entry failure).
pub const KIND_EXIT: u64 = 2;

pub const CF: u64 = 1;
pub const ZF: u64 = 1 << 6;

/// Assembles 64-bit code at `ip`.
pub fn asm(ip: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

/// Stores RFLAGS at `slot` (clobbers RAX).
pub fn save_flags(a: &mut CodeAssembler, slot: u64) -> Result<(), IcedError> {
    a.pushfq()?;
    a.pop(rax)?;
    a.mov(rbx, slot)?;
    a.mov(qword_ptr(rbx), rax)
}

/// Sets CR4.VMXE (clobbers RAX).
pub fn enable_vmxe(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(rax, cr4)?;
    a.or(rax, 0x2000)?;
    a.mov(cr4, rax)
}

/// VMXON [PTR_VMXON]; VMCLEAR [PTR_VMCS]; VMPTRLD [PTR_VMCS].
pub fn vmxon_and_load(a: &mut CodeAssembler) -> Result<(), IcedError> {
    enable_vmxe(a)?;
    a.mov(rbx, PTR_VMXON)?;
    a.vmxon(qword_ptr(rbx))?;
    a.mov(rbx, PTR_VMCS)?;
    a.vmclear(qword_ptr(rbx))?;
    a.vmptrld(qword_ptr(rbx))
}

/// VMWRITE `value` to `field` (clobbers RAX, RDX).
pub fn vmwrite(a: &mut CodeAssembler, field: u32, value: u64) -> Result<(), IcedError> {
    a.mov(rax, field as u64)?;
    a.mov(rdx, value)?;
    a.vmwrite(rax, rdx)
}

/// The guest's flavour.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum GuestKind {
    /// 64-bit, same paging and GDT as the host.
    Flat64,
    /// Unrestricted guest in real mode (CR0.PE = PG = 0), with EPT.
    Real,
}

/// A complete valid VMCS for host = the sandbox's state and a `kind` guest (SDM 27.2, 27.3).
pub fn valid_vmcs(p: &Profile, kind: GuestKind) -> Vec<(u32, u64)> {
    let cr0_v = 0x8001_0031u64; // PE, ET, NE, WP, PG (the sandbox's CR0)
    let cr4_v = 0x2620u64; // PAE, OSFXSR, OSXMMEXCPT, VMXE
    let mut proc2 = 0u64;
    let has_ept = p.proc2.may1 & 2 != 0;
    if has_ept {
        proc2 |= 1 << 1; // enable EPT
    }
    if kind == GuestKind::Real {
        proc2 |= 1 << 7; // unrestricted guest
    }
    let mut f = vec![
        (enc::PIN_BASED_CONTROLS, p.pin.must1 as u64),
        (enc::PROC_BASED_CONTROLS, p.proc.must1 as u64 | 1 << 31 | 1 << 7),
        (enc::SECONDARY_PROC_BASED_CONTROLS, proc2),
        (enc::EXIT_CONTROLS, p.exit.must1 as u64 | 1 << 9),
        (enc::ENTRY_CONTROLS, p.entry.must1 as u64 | if kind == GuestKind::Flat64 { 1 << 9 } else { 0 }),
        (enc::EXCEPTION_BITMAP, 0),
        (enc::CR3_TARGET_COUNT, 0),
        (enc::VMCS_LINK_POINTER, u64::MAX),
        (enc::HOST_CR0, cr0_v),
        (enc::HOST_CR3, 0x10000),
        (enc::HOST_CR4, cr4_v),
        (enc::HOST_CS_SELECTOR, 0x08),
        (enc::HOST_SS_SELECTOR, 0x10),
        (enc::HOST_DS_SELECTOR, 0x10),
        (enc::HOST_ES_SELECTOR, 0x10),
        (enc::HOST_FS_SELECTOR, 0x10),
        (enc::HOST_GS_SELECTOR, 0x10),
        (enc::HOST_TR_SELECTOR, 0x40),
        (enc::HOST_TR_BASE, 0x3000),
        (enc::HOST_GDTR_BASE, 0x1000),
        (enc::HOST_IDTR_BASE, 0x2000),
        (enc::HOST_RSP, HOST_RSP),
        (enc::HOST_RIP, HOST_RIP),
        (enc::GUEST_DR7, 0x400),
        (enc::GUEST_RSP, GUEST_RSP),
        (enc::GUEST_RFLAGS, 2),
        (enc::GUEST_LDTR_SELECTOR, 0),
        (enc::GUEST_LDTR_ACCESS_RIGHTS, 0x10000),
        (enc::GUEST_TR_SELECTOR, 0x40),
        (enc::GUEST_TR_BASE, 0x3000),
        (enc::GUEST_TR_LIMIT, 0x67),
        (enc::GUEST_TR_ACCESS_RIGHTS, 0x8b),
        (enc::GUEST_GDTR_BASE, 0x1000),
        (enc::GUEST_GDTR_LIMIT, 0x4f),
        (enc::GUEST_IDTR_BASE, 0x2000),
        (enc::GUEST_IDTR_LIMIT, 0x1ff),
        (enc::GUEST_ACTIVITY_STATE, 0),
        (enc::GUEST_INTERRUPTIBILITY, 0),
    ];
    if has_ept {
        f.push((enc::EPT_POINTER, EPTP));
    }
    match kind {
        GuestKind::Flat64 => {
            f.extend([
                (enc::GUEST_CR0, cr0_v),
                (enc::GUEST_CR3, 0x10000),
                (enc::GUEST_CR4, cr4_v),
                (enc::GUEST_RIP, GUEST_RIP),
                (enc::GUEST_CS_SELECTOR, 0x08),
                (enc::GUEST_CS_LIMIT, 0xffff_ffff),
                (enc::GUEST_CS_ACCESS_RIGHTS, 0xa09b),
            ]);
            for (sel, lim, ar) in [
                (enc::GUEST_SS_SELECTOR, enc::GUEST_SS_LIMIT, enc::GUEST_SS_ACCESS_RIGHTS),
                (enc::GUEST_DS_SELECTOR, enc::GUEST_DS_LIMIT, enc::GUEST_DS_ACCESS_RIGHTS),
                (enc::GUEST_ES_SELECTOR, enc::GUEST_ES_LIMIT, enc::GUEST_ES_ACCESS_RIGHTS),
                (enc::GUEST_FS_SELECTOR, enc::GUEST_FS_LIMIT, enc::GUEST_FS_ACCESS_RIGHTS),
                (enc::GUEST_GS_SELECTOR, enc::GUEST_GS_LIMIT, enc::GUEST_GS_ACCESS_RIGHTS),
            ] {
                f.extend([(sel, 0x10), (lim, 0xffff_ffff), (ar, 0xc093)]);
            }
        }
        GuestKind::Real => {
            f.extend([
                (enc::GUEST_CR0, 0x30),
                (enc::GUEST_CR3, 0),
                (enc::GUEST_CR4, 0x2000),
                (enc::GUEST_CS_SELECTOR, REAL_GUEST >> 4),
                (enc::GUEST_CS_BASE, REAL_GUEST),
                (enc::GUEST_CS_LIMIT, 0xffff),
                (enc::GUEST_CS_ACCESS_RIGHTS, 0x9b),
                (enc::GUEST_RIP, 0),
                (enc::GUEST_RSP, 0x7000),
                (enc::GUEST_IDTR_BASE, 0),
                (enc::GUEST_IDTR_LIMIT, 0x3ff),
            ]);
            for (sel, lim, ar) in [
                (enc::GUEST_SS_SELECTOR, enc::GUEST_SS_LIMIT, enc::GUEST_SS_ACCESS_RIGHTS),
                (enc::GUEST_DS_SELECTOR, enc::GUEST_DS_LIMIT, enc::GUEST_DS_ACCESS_RIGHTS),
                (enc::GUEST_ES_SELECTOR, enc::GUEST_ES_LIMIT, enc::GUEST_ES_ACCESS_RIGHTS),
                (enc::GUEST_FS_SELECTOR, enc::GUEST_FS_LIMIT, enc::GUEST_FS_ACCESS_RIGHTS),
                (enc::GUEST_GS_SELECTOR, enc::GUEST_GS_LIMIT, enc::GUEST_GS_ACCESS_RIGHTS),
            ] {
                f.extend([(sel, 0), (lim, 0xffff), (ar, 0x93)]);
            }
        }
    }
    f
}

/// Replaces (or adds) `field`'s value.
pub fn set(f: &mut Vec<(u32, u64)>, field: u32, v: u64) {
    match f.iter_mut().find(|e| e.0 == field) {
        Some(e) => e.1 = v,
        None => f.push((field, v)),
    }
}

/// The value `field` was given.
pub fn get(f: &[(u32, u64)], field: u32) -> u64 {
    f.iter().find(|e| e.0 == field).map(|e| e.1).unwrap_or(0)
}

/// A finished run.
pub struct Run {
    pub s: Sandbox,
    pub profile: Profile,
}

impl Run {
    /// How the host program ended: KIND_VMFAIL or KIND_EXIT (0: neither).
    pub fn kind(&self) -> u64 {
        self.s.read(RESULT_KIND, 8)
    }
    /// RFLAGS the host saved after a failed VMLAUNCH.
    pub fn fail_flags(&self) -> u64 {
        self.s.read(RESULT_FLAGS, 8)
    }
    /// A VMCS field, read from the region by hvbench's documented layout.
    pub fn field(&self, e: u32) -> u64 {
        let slot = hvbench_vmx::fields::slot_of(e) as u64;
        self.s.read(VMCS_REGION + FIELD_BASE + 8 * slot, 8)
    }
    /// The basic exit reason with bit 31.
    pub fn exit_reason(&self) -> u64 {
        self.field(enc::EXIT_REASON)
    }
    /// The VM-instruction error field.
    pub fn error(&self) -> u64 {
        self.field(enc::VM_INSTRUCTION_ERROR)
    }
    /// hvbench's explanation of the last failure.
    pub fn why(&self) -> String {
        hvbench_vmx::state(&self.s.cpu).and_then(|v| v.last_failure.clone()).unwrap_or_default()
    }
}

/// A sandbox with VMX (`profile`), the VMXON/VMCS regions initialised, EPT identity tables,
/// `host` at CODE_BASE, `guest` at GUEST_RIP and the exit stub at HOST_RIP.
pub fn sandbox(profile: &Profile, host: &[u8], guest: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, host);
    hvbench_vmx::install(&mut s.cpu, profile.clone());
    let w = |s: &mut Sandbox, a: u64, size: u8, v: u64| {
        s.mem.write_le(hvbench_mmu::PhysAddr(a), size, v);
    };
    w(&mut s, VMXON_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, VMCS_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, PTR_VMXON, 8, VMXON_REGION);
    w(&mut s, PTR_VMCS, 8, VMCS_REGION);
    w(&mut s, EPT_PML4, 8, (EPT_PML4 + 0x1000) | 7);
    for i in 0..4u64 {
        w(&mut s, EPT_PML4 + 0x1000 + 8 * i, 8, (i << 30) | 0x80 | 6 << 3 | 7);
    }
    s.mem.write_bytes(hvbench_mmu::PhysAddr(GUEST_RIP), guest);
    let stub = asm(HOST_RIP, |a| {
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_EXIT as i32)?;
        a.hlt()
    });
    s.mem.write_bytes(hvbench_mmu::PhysAddr(HOST_RIP), &stub);
    s.cpu.trace = true;
    s
}

/// Runs: VMXON, VMCLEAR, VMPTRLD, a VMWRITE per field, VMLAUNCH; on VMfail the host records
/// RFLAGS and KIND_VMFAIL.
pub fn run_fields(profile: Profile, fields: &[(u32, u64)], guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (f, v) in fields {
            vmwrite(a, *f, *v)?;
        }
        a.vmlaunch()?;
        save_flags(a, RESULT_FLAGS)?;
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
        a.hlt()
    });
    let g = asm(GUEST_RIP, guest);
    let mut s = sandbox(&profile, &host, &g);
    s.run(20_000);
    Run { s, profile }
}

/// The default profile, a valid 64-bit guest edited by `edit`, and `guest`.
pub fn run(edit: impl FnOnce(&mut Vec<(u32, u64)>), guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_fields(p, &f, guest)
}

/// Runs a host program (after CR4.VMXE is set) with nothing else around it.
pub fn run_host(profile: Profile, host: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let code = asm(CODE_BASE, |a| {
        enable_vmxe(a)?;
        host(a)?;
        a.hlt()
    });
    let mut s = sandbox(&profile, &code, &[0xf4]);
    s.run(20_000);
    Run { s, profile }
}

// ---- Shared checks ----

pub fn hlt(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.hlt()
}
pub fn nothing(_: &mut Vec<(u32, u64)>) {}

pub fn exited(r: &Run, basic: u32) {
    assert_eq!(r.kind(), KIND_EXIT, "host should resume at HOST_RIP; why: {}", r.why());
    assert_eq!(r.exit_reason(), basic as u64, "exit reason");
}

pub fn vmfail_valid(r: &Run, n: u64) {
    assert_eq!(r.kind(), KIND_VMFAIL, "VMLAUNCH should fall through");
    assert_eq!(r.fail_flags() & (CF | ZF), ZF, "VMfailValid sets ZF, clears CF (SDM 31.2)");
    assert_eq!(r.error(), n, "VM-instruction error; why: {}", r.why());
}

pub fn entry_failure(r: &Run, basic: u32, qual: u64, check_text: &str) {
    assert_eq!(r.kind(), KIND_EXIT, "a VM-entry failure resumes the host at HOST_RIP (SDM 27.8)");
    assert_eq!(r.exit_reason(), (1u64 << 31) | basic as u64, "reason with bit 31 (SDM 27.8)");
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), qual);
    assert!(r.why().contains(check_text), "explanation `{}` should name `{check_text}`", r.why());
}

/// Sets `bits` in the 32-bit control `field`.
pub fn or(f: &mut Vec<(u32, u64)>, field: u32, bits: u64) {
    let v = get(f, field);
    set(f, field, v | bits);
}

/// Like [`run_fields`] with guest code given as bytes at GUEST_RIP and `prep` to set up memory
/// before the run.
pub fn run_prepared(profile: Profile, fields: &[(u32, u64)], guest: &[u8], prep: impl FnOnce(&mut Sandbox)) -> Run {
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (f, v) in fields {
            vmwrite(a, *f, *v)?;
        }
        a.vmlaunch()?;
        save_flags(a, RESULT_FLAGS)?;
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
        a.hlt()
    });
    let mut s = sandbox(&profile, &host, guest);
    prep(&mut s);
    s.run(20_000);
    Run { s, profile }
}

/// Writes `v` (`size` bytes) at physical `a`.
pub fn poke(s: &mut Sandbox, a: u64, size: u8, v: u64) {
    s.mem.write_le(hvbench_mmu::PhysAddr(a), size, v);
}
