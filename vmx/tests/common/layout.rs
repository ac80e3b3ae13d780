//! The sandbox-independent part of the conformance harness: the memory map, a complete
//! valid VMCS, and the host-program pieces. Shared (by `#[path]`) with the kernels of
//! `harness/tests/vmx_oracle.rs`, which place everything at the same addresses.
//!
//! Memory map (beside the sandbox's own, see `hvbench_cpu::sandbox`): VMXON region 0x300000,
//! VMCS 0x301000, I/O bitmaps 0x310000/0x311000, MSR bitmap 0x312000, EPT PML4 0x500000 (PDPT
//! 0x501000, four 1-GByte identity pages, WB, RWX), pointers and results at DATA_BASE, guest
//! code at GUEST_RIP, host resume code at HOST_RIP.

#![allow(dead_code)]

use hvbench_cpu::sandbox::{CODE_BASE, DATA_BASE};
use hvbench_vmx::caps::Profile;
use hvbench_vmx::fields::enc;
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

/// Sets `bits` in the 32-bit control `field`.
pub fn or(f: &mut Vec<(u32, u64)>, field: u32, bits: u64) {
    let v = get(f, field);
    set(f, field, v | bits);
}

