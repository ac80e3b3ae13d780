//! The VMX instructions (SDM Vol. 3C chapter 31 "VMX Instruction Reference"; 31.2
//! "Conventions" for VMsucceed / VMfailInvalid / VMfailValid; 31.4 "VM Instruction Error
//! Numbers", Table 31-1). Each instruction follows its "Operation" pseudocode in order:
//! #UD checks, the VM exit in non-root operation, #GP(0) for CPL > 0, memory operand faults,
//! then the VMfail cases.

use crate::controls::ProcCtls2;
use crate::entry::load::EntryOutcome;
use crate::exit::{reason, ExitInfo};
use crate::fields;
use crate::vmcs::Vmcs;
use crate::Vmx;
use hvbench_cpu::events::{Event, VmOutcome};
use hvbench_cpu::exception::{Fault, Result};
use hvbench_cpu::operand::seg_of;
use hvbench_cpu::regs::{cr0, cr4, efer};
use hvbench_cpu::segment::SegReg;
use hvbench_cpu::{flags, Exception, Exec};
use hvbench_mmu::tlb::{InveptType, InvvpidType};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// VM-instruction error numbers (SDM Table 31-1).
pub mod error {
    /// VMCALL executed in VMX root operation.
    pub const VMCALL_IN_ROOT: u32 = 1;
    /// VMCLEAR with invalid physical address.
    pub const VMCLEAR_INVALID_ADDRESS: u32 = 2;
    /// VMCLEAR with VMXON pointer.
    pub const VMCLEAR_VMXON_POINTER: u32 = 3;
    /// VMLAUNCH with non-clear VMCS.
    pub const VMLAUNCH_NON_CLEAR: u32 = 4;
    /// VMRESUME with non-launched VMCS.
    pub const VMRESUME_NON_LAUNCHED: u32 = 5;
    /// VMRESUME after VMXOFF.
    pub const VMRESUME_AFTER_VMXOFF: u32 = 6;
    /// VM entry with invalid control field(s).
    pub const ENTRY_INVALID_CONTROLS: u32 = 7;
    /// VM entry with invalid host-state field(s).
    pub const ENTRY_INVALID_HOST_STATE: u32 = 8;
    /// VMPTRLD with invalid physical address.
    pub const VMPTRLD_INVALID_ADDRESS: u32 = 9;
    /// VMPTRLD with VMXON pointer.
    pub const VMPTRLD_VMXON_POINTER: u32 = 10;
    /// VMPTRLD with incorrect VMCS revision identifier.
    pub const VMPTRLD_BAD_REVISION: u32 = 11;
    /// VMREAD/VMWRITE from/to unsupported VMCS component.
    pub const UNSUPPORTED_COMPONENT: u32 = 12;
    /// VMWRITE to read-only VMCS component.
    pub const READ_ONLY_COMPONENT: u32 = 13;
    /// VMXON executed in VMX root operation.
    pub const VMXON_IN_ROOT: u32 = 15;
    /// VM entry with events blocked by MOV SS.
    pub const ENTRY_BLOCKED_BY_MOV_SS: u32 = 26;
    /// Invalid operand to INVEPT/INVVPID.
    pub const INVALID_INVEPT_INVVPID_OPERAND: u32 = 28;
    /// Every number of Table 31-1 (the fuzz test's reference).
    pub const ALL: [u32; 26] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28];
}

/// Runs one VMX instruction.
pub(crate) fn execute(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let m = i.mnemonic();
    if m == Mnemonic::Vmfunc {
        return crate::vmfunc::vmfunc(vmx, x, i);
    }
    // #UD: (CR0.PE = 0) or (RFLAGS.VM = 1) or (IA32_EFER.LMA = 1 and CS.L = 0), and for all but
    // VMXON: not in VMX operation; for VMXON: CR4.VMXE = 0. INVEPT/INVVPID: #UD if the
    // processor does not support them.
    let s = &x.cpu.state;
    let compat = s.efer & efer::LMA != 0 && !s.seg(SegReg::Cs).long();
    if m == Mnemonic::Vmcall {
        // 31.3 VMCALL Operation: #UD outside VMX operation; in VMX non-root operation a VM exit
        // in every mode ("Only VMCALL can be executed in compatibility mode (causing a VM
        // exit)", 31.1; real-address and virtual-8086 guests exit too); in root operation #UD
        // for RFLAGS.VM = 1 or compatibility mode, then #GP(0) for CPL > 0.
        let root_ud = s.rflags & flags::VM != 0 || compat;
        if !vmx.in_vmx {
            return Err(Exception::ud().into());
        }
        if x.cpu.vmx_non_root {
            return instruction_exit(vmx, x, i);
        }
        if root_ud {
            return Err(Exception::ud().into());
        }
    }
    let basic_ud = s.cr0 & cr0::PE == 0 || s.rflags & flags::VM != 0 || compat;
    let no_vmx = if m == Mnemonic::Vmxon { s.cr4 & cr4::VMXE == 0 } else { !vmx.in_vmx };
    let unsupported = match m {
        Mnemonic::Invept => !vmx.profile.has2(ProcCtls2::ENABLE_EPT),
        Mnemonic::Invvpid => !vmx.profile.has2(ProcCtls2::ENABLE_VPID),
        _ => false,
    };
    if basic_ud || no_vmx || unsupported {
        // VMCALL outside VMX operation is #UD as well (its "Operation": not in VMX operation).
        return Err(Exception::ud().into());
    }
    if x.cpu.vmx_non_root {
        // Every VMX instruction exits unconditionally in non-root operation (SDM 26.1.2),
        // before the CPL check.
        return instruction_exit(vmx, x, i);
    }
    if x.cpu.state.cpl > 0 {
        return Err(Exception::gp0().into());
    }
    match m {
        Mnemonic::Vmxon => vmxon(vmx, x, i),
        Mnemonic::Vmxoff => {
            vmx.in_vmx = false;
            vmx.current = None;
            succeed(x, "VMXOFF");
            if vmx.init_latched {
                // 24.8: INIT is unblocked; the machine carries out the latched one.
                x.request_stop(hvbench_cpu::StopReason::DeviceWrite);
            }
            Ok(())
        }
        Mnemonic::Vmclear => vmclear(vmx, x, i),
        Mnemonic::Vmptrld => vmptrld(vmx, x, i),
        Mnemonic::Vmptrst => {
            let (seg, off) = x.mem_operand(i);
            x.write_mem(seg, off, 8, vmx.current.unwrap_or(u64::MAX))?;
            succeed(x, "VMPTRST");
            Ok(())
        }
        Mnemonic::Vmread => vmread(vmx, x, i),
        Mnemonic::Vmwrite => vmwrite(vmx, x, i),
        Mnemonic::Vmlaunch | Mnemonic::Vmresume => vmlaunch(vmx, x, m == Mnemonic::Vmlaunch),
        Mnemonic::Invept => invept(vmx, x, i),
        Mnemonic::Invvpid => invvpid(vmx, x, i),
        // VMCALL in root operation without the dual-monitor treatment (never active here):
        // VMfail(VMCALL executed in VMX root operation).
        Mnemonic::Vmcall => {
            fail(vmx, x, "VMCALL", error::VMCALL_IN_ROOT, "VMCALL executed in VMX root operation without the dual-monitor treatment of SMIs and SMM; SDM 31.3 VMCALL");
            Ok(())
        }
        _ => Err(Exception::ud().into()),
    }
}

const STATUS: u64 = flags::CF | flags::PF | flags::AF | flags::ZF | flags::SF | flags::OF;

/// VMsucceed: CF, PF, AF, ZF, SF, OF = 0.
fn succeed(x: &mut Exec<'_>, mnemonic: &'static str) {
    x.cpu.state.rflags &= !STATUS;
    let rip = x.cpu.state.rip;
    x.cpu.emit(|| Event::VmInstruction { rip, mnemonic, outcome: VmOutcome::Succeed, detail: String::new() });
}

/// VMfailInvalid: CF = 1, the others 0.
fn fail_invalid(vmx: &mut Vmx, x: &mut Exec<'_>, mnemonic: &'static str, detail: &str) {
    x.cpu.state.rflags = (x.cpu.state.rflags & !STATUS) | flags::CF;
    let rip = x.cpu.state.rip;
    vmx.last_failure = Some(detail.to_string());
    x.cpu.record(Event::VmInstruction { rip, mnemonic, outcome: VmOutcome::FailInvalid, detail: detail.to_string() });
}

/// VMfail(n): VMfailValid(n) with a current VMCS (ZF = 1, error field = n), else
/// VMfailInvalid.
fn fail(vmx: &mut Vmx, x: &mut Exec<'_>, mnemonic: &'static str, n: u32, detail: &str) {
    let Some(cur) = vmx.current else {
        fail_invalid(vmx, x, mnemonic, detail);
        return;
    };
    x.cpu.state.rflags = (x.cpu.state.rflags & !STATUS) | flags::ZF;
    Vmcs(cur).write(x, fields::enc::VM_INSTRUCTION_ERROR, n as u64);
    let rip = x.cpu.state.rip;
    vmx.last_failure = Some(detail.to_string());
    x.cpu.record(Event::VmInstruction { rip, mnemonic, outcome: VmOutcome::FailValid(n), detail: detail.to_string() });
}

/// The 64-bit memory operand (a physical address for VMXON, VMCLEAR, VMPTRLD).
fn read_m64(x: &mut Exec<'_>, i: &Instruction) -> Result<u64> {
    if i.op0_kind() != OpKind::Memory {
        return Err(Exception::ud().into());
    }
    let (seg, off) = x.mem_operand(i);
    x.read_mem(seg, off, 8)
}

fn bad_address(x: &Exec<'_>, a: u64) -> bool {
    a & 0xfff != 0 || a >> x.cpu.config.maxphyaddr != 0
}

fn vmxon(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if vmx.in_vmx {
        // In VMX root operation (CPL already checked): VMfail(15).
        fail(vmx, x, "VMXON", error::VMXON_IN_ROOT, "VMXON executed in VMX root operation; SDM 31.3 VMXON");
        return Ok(());
    }
    // #GP(0): CR0/CR4 values not supported in VMX operation (IA32_VMX_CR0/CR4_FIXED0/1),
    // IA32_FEATURE_CONTROL lock bit clear or "VMX outside SMX" clear.
    let s = &x.cpu.state;
    let fixed = |v: u64, f0: u64, f1: u64| v & f0 == f0 && v & !f1 == 0;
    let fc = s.msr.feature_control;
    if !fixed(s.cr0, crate::caps::Profile::CR0_FIXED0, crate::caps::Profile::CR0_FIXED1)
        || !fixed(s.cr4, crate::caps::Profile::CR4_FIXED0, crate::caps::Profile::CR4_FIXED1)
        || fc & 1 == 0
        || fc & 4 == 0
    {
        return Err(Exception::gp0().into());
    }
    let addr = read_m64(x, i)?;
    if bad_address(x, addr) {
        fail_invalid(vmx, x, "VMXON", &format!("VMXON pointer {addr:#x} is not 4-KByte aligned or exceeds MAXPHYADDR ({}); SDM 31.3 VMXON", x.cpu.config.maxphyaddr));
        return Ok(());
    }
    let rev = Vmcs(addr).revision(x);
    if rev != crate::caps::VMCS_REVISION {
        fail_invalid(vmx, x, "VMXON", &format!("VMXON region revision identifier {rev:#x} != IA32_VMX_BASIC[30:0] {:#x} (or bit 31 set); SDM 31.3 VMXON", crate::caps::VMCS_REVISION));
        return Ok(());
    }
    vmx.in_vmx = true;
    vmx.vmxon_ptr = addr;
    vmx.current = None;
    succeed(x, "VMXON");
    Ok(())
}

fn vmclear(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let addr = read_m64(x, i)?;
    if bad_address(x, addr) {
        fail(vmx, x, "VMCLEAR", error::VMCLEAR_INVALID_ADDRESS, &format!("VMCLEAR operand {addr:#x} is not 4-KByte aligned or exceeds MAXPHYADDR; SDM 31.3 VMCLEAR"));
    } else if addr == vmx.vmxon_ptr {
        fail(vmx, x, "VMCLEAR", error::VMCLEAR_VMXON_POINTER, &format!("VMCLEAR operand {addr:#x} is the VMXON pointer; SDM 31.3 VMCLEAR"));
    } else {
        Vmcs(addr).set_launched(x, false);
        if vmx.current == Some(addr) {
            vmx.current = None;
        }
        succeed(x, "VMCLEAR");
    }
    Ok(())
}

fn vmptrld(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let addr = read_m64(x, i)?;
    if bad_address(x, addr) {
        fail(vmx, x, "VMPTRLD", error::VMPTRLD_INVALID_ADDRESS, &format!("VMPTRLD operand {addr:#x} is not 4-KByte aligned or exceeds MAXPHYADDR; SDM 31.3 VMPTRLD"));
        return Ok(());
    }
    if addr == vmx.vmxon_ptr {
        fail(vmx, x, "VMPTRLD", error::VMPTRLD_VMXON_POINTER, &format!("VMPTRLD operand {addr:#x} is the VMXON pointer; SDM 31.3 VMPTRLD"));
        return Ok(());
    }
    let rev = Vmcs(addr).revision(x);
    // Bit 31 (shadow VMCS) = 1 fails too: VMCS shadowing is not offered.
    if rev != crate::caps::VMCS_REVISION {
        fail(vmx, x, "VMPTRLD", error::VMPTRLD_BAD_REVISION, &format!("VMCS revision identifier {rev:#x} != {:#x} (bit 31 must be 0 without VMCS shadowing); SDM 31.3 VMPTRLD", crate::caps::VMCS_REVISION));
        return Ok(());
    }
    vmx.current = Some(addr);
    succeed(x, "VMPTRLD");
    Ok(())
}

pub(crate) fn gpr_num(r: Register) -> u32 {
    (r.full_register() as u32).wrapping_sub(Register::RAX as u32) & 0xf
}

/// The operand size of VMREAD/VMWRITE: 64 bits in 64-bit mode, 32 otherwise.
fn opsize(x: &Exec<'_>) -> u32 {
    if x.cpu.state.mode() == hvbench_cpu::Mode::Long64 { 8 } else { 4 }
}

fn vmread(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let Some(cur) = vmx.current else {
        fail_invalid(vmx, x, "VMREAD", "no current VMCS (current-VMCS pointer is FFFFFFFF_FFFFFFFFH); SDM 31.3 VMREAD");
        return Ok(());
    };
    let encoding = x.reg(i.op1_register());
    let Some(a) = fields::lookup(encoding).filter(|a| a.field.supported(&vmx.profile)) else {
        fail(vmx, x, "VMREAD", error::UNSUPPORTED_COMPONENT, &format!("VMREAD of unsupported VMCS component {encoding:#x}; SDM 31.3 VMREAD"));
        return Ok(());
    };
    let v = Vmcs(cur).read_access(x, a);
    let size = opsize(x);
    if i.op0_kind() == OpKind::Register {
        x.set_reg(i.op0_register(), v);
    } else {
        let (seg, off) = x.mem_operand(i);
        x.write_mem(seg, off, size, v)?;
    }
    succeed(x, "VMREAD");
    Ok(())
}

fn vmwrite(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = opsize(x);
    // The source is read before the checks (its memory faults come first).
    let value = if i.op1_kind() == OpKind::Register {
        x.reg(i.op1_register())
    } else {
        let (seg, off) = x.mem_operand(i);
        x.read_mem(seg, off, size)?
    };
    let Some(cur) = vmx.current else {
        fail_invalid(vmx, x, "VMWRITE", "no current VMCS (current-VMCS pointer is FFFFFFFF_FFFFFFFFH); SDM 31.3 VMWRITE");
        return Ok(());
    };
    let encoding = x.reg(i.op0_register());
    let Some(a) = fields::lookup(encoding).filter(|a| a.field.supported(&vmx.profile)) else {
        fail(vmx, x, "VMWRITE", error::UNSUPPORTED_COMPONENT, &format!("VMWRITE to unsupported VMCS component {encoding:#x}; SDM 31.3 VMWRITE"));
        return Ok(());
    };
    if a.field.kind == fields::Kind::ReadOnly && !vmx.profile.vmwrite_any() {
        fail(vmx, x, "VMWRITE", error::READ_ONLY_COMPONENT, &format!("VMWRITE to read-only VMCS component {} ({:#x}) and IA32_VMX_MISC bit 29 = 0; SDM 31.3 VMWRITE", a.field.name, a.field.enc));
        return Ok(());
    }
    Vmcs(cur).write_access(x, a, value);
    succeed(x, "VMWRITE");
    Ok(())
}

fn vmlaunch(vmx: &mut Vmx, x: &mut Exec<'_>, launch: bool) -> Result<()> {
    let mnemonic = if launch { "VMLAUNCH" } else { "VMRESUME" };
    let Some(cur) = vmx.current else {
        fail_invalid(vmx, x, mnemonic, &format!("no current VMCS; SDM 31.3 {mnemonic}"));
        return Ok(());
    };
    if x.cpu.state.shadow & 2 != 0 {
        fail(vmx, x, mnemonic, error::ENTRY_BLOCKED_BY_MOV_SS, &format!("{mnemonic} right after MOV SS/POP SS (events blocked by MOV SS); SDM 31.3 {mnemonic}"));
        return Ok(());
    }
    let v = Vmcs(cur);
    let launched = v.launched(x);
    if launch && launched {
        fail(vmx, x, mnemonic, error::VMLAUNCH_NON_CLEAR, "VMLAUNCH with a VMCS whose launch state is not clear; SDM 31.3 VMLAUNCH/VMRESUME");
        return Ok(());
    }
    if !launch && !launched {
        fail(vmx, x, mnemonic, error::VMRESUME_NON_LAUNCHED, "VMRESUME with a VMCS whose launch state is not launched; SDM 31.3 VMLAUNCH/VMRESUME");
        return Ok(());
    }
    match crate::entry::vm_entry(vmx, x, v, launch) {
        EntryOutcome::Entered => {
            if launch {
                v.set_launched(x, true);
            }
            Err(Fault::Diverted)
        }
        EntryOutcome::FailValid(n, e) => {
            fail(vmx, x, mnemonic, n, &e.to_string());
            record_dump(vmx, x, cur, &format!("{mnemonic} failed: VMfailValid({n}): {e}"));
            Ok(())
        }
        // The host resumes at host RIP: the instruction's work is done.
        EntryOutcome::Failed(e) => {
            record_dump(vmx, x, cur, &format!("{mnemonic} failed: VM-entry failure: {e}"));
            Err(Fault::Diverted)
        }
    }
}

/// With [`Vmx::dump_failures`], keeps a dump of the VMCS as the failed entry left it.
fn record_dump(vmx: &mut Vmx, x: &mut Exec<'_>, cur: u64, why: &str) {
    if vmx.dump_failures && vmx.failure_dumps.len() < crate::MAX_FAILURE_DUMPS {
        let d = Vmcs(cur).dump(x, &vmx.profile);
        vmx.failure_dumps.push(format!("{why}\n{d}"));
    }
}

/// The type register of INVEPT/INVVPID (64 bits in 64-bit mode, 32 bits outside).
fn inv_type(x: &mut Exec<'_>, i: &Instruction) -> u64 {
    let ty = x.reg(i.op0_register());
    if opsize(x) == 4 { ty & 0xffff_ffff } else { ty }
}

/// The 128-bit descriptor of INVEPT/INVVPID. The "Operation" sections (31.3 INVEPT, INVVPID)
/// read it only after the type has been found supported, so an unsupported type is
/// VMfailValid(28) even with a faulting memory operand.
fn inv_descriptor(x: &mut Exec<'_>, i: &Instruction) -> Result<u128> {
    let (seg, off) = x.mem_operand(i);
    x.read_mem128(seg, off)
}

fn invept(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let ty = inv_type(x, i);
    let cap = vmx.profile.ept_vpid_cap;
    let kind = match ty {
        1 if cap & (1 << 25) != 0 => InveptType::SingleContext,
        2 if cap & (1 << 26) != 0 => InveptType::AllContext,
        _ => {
            fail(vmx, x, "INVEPT", error::INVALID_INVEPT_INVVPID_OPERAND, &format!("INVEPT type {ty} is not supported (IA32_VMX_EPT_VPID_CAP bits 25/26); SDM 31.3 INVEPT"));
            return Ok(());
        }
    };
    let desc = inv_descriptor(x, i)?;
    let eptp = desc as u64;
    if kind == InveptType::SingleContext {
        if let Err(e) = hvbench_mmu::ept::EptPointer(eptp).validate(&vmx.profile.ept_caps(), x.cpu.config.maxphyaddr) {
            fail(vmx, x, "INVEPT", error::INVALID_INVEPT_INVVPID_OPERAND, &format!("single-context INVEPT with an invalid EPTP {eptp:#x}: {e}; SDM 31.3 INVEPT"));
            return Ok(());
        }
        if let Some(tag) = vmx.known_ept_tag(eptp) {
            x.cpu.tlb_mut().invept(kind, tag);
        }
    } else {
        x.cpu.tlb_mut().invept(kind, 0);
    }
    succeed(x, "INVEPT");
    Ok(())
}

fn invvpid(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let ty = inv_type(x, i);
    let cap = vmx.profile.ept_vpid_cap;
    let bad = |vmx: &mut Vmx, x: &mut Exec<'_>, why: String| {
        fail(vmx, x, "INVVPID", error::INVALID_INVEPT_INVVPID_OPERAND, &format!("{why}; SDM 31.3 INVVPID"));
        Ok(())
    };
    let kind = match ty {
        0 if cap & (1 << 40) != 0 => InvvpidType::IndividualAddress,
        1 if cap & (1 << 41) != 0 => InvvpidType::SingleContext,
        2 if cap & (1 << 42) != 0 => InvvpidType::AllContext,
        3 if cap & (1 << 43) != 0 => InvvpidType::SingleContextRetainingGlobals,
        _ => return bad(vmx, x, format!("INVVPID type {ty} is not supported (IA32_VMX_EPT_VPID_CAP bits 43:40)")),
    };
    let desc = inv_descriptor(x, i)?;
    if (desc as u64) >> 16 != 0 {
        return bad(vmx, x, format!("INVVPID descriptor bits 63:16 = {:#x} must be 0", (desc as u64) >> 16));
    }
    let vpid = desc as u16;
    let la = (desc >> 64) as u64;
    match kind {
        InvvpidType::IndividualAddress if vpid == 0 => return bad(vmx, x, "individual-address INVVPID with VPID 0".into()),
        InvvpidType::IndividualAddress if !crate::entry::canonical(la, false) => {
            return bad(vmx, x, format!("individual-address INVVPID with non-canonical address {la:#x}"));
        }
        InvvpidType::SingleContext | InvvpidType::SingleContextRetainingGlobals if vpid == 0 => {
            return bad(vmx, x, "single-context INVVPID with VPID 0".into());
        }
        _ => {}
    }
    x.cpu.tlb_mut().invvpid(kind, vpid, la);
    succeed(x, "INVVPID");
    Ok(())
}

/// A VMX instruction in VMX non-root operation exits unconditionally (SDM 26.1.2), with the
/// instruction-information field (28.2.5 tables for VMCLEAR/VMPTRLD/VMPTRST/VMXON, VMREAD/
/// VMWRITE, INVEPT/INVVPID) and, for memory operands, the displacement as qualification.
fn instruction_exit(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let r = match i.mnemonic() {
        Mnemonic::Vmcall => reason::VMCALL,
        Mnemonic::Vmclear => reason::VMCLEAR,
        Mnemonic::Vmlaunch => reason::VMLAUNCH,
        Mnemonic::Vmptrld => reason::VMPTRLD,
        Mnemonic::Vmptrst => reason::VMPTRST,
        Mnemonic::Vmread => reason::VMREAD,
        Mnemonic::Vmresume => reason::VMRESUME,
        Mnemonic::Vmwrite => reason::VMWRITE,
        Mnemonic::Vmxoff => reason::VMXOFF,
        Mnemonic::Vmxon => reason::VMXON,
        Mnemonic::Invept => reason::INVEPT,
        Mnemonic::Invvpid => reason::INVVPID,
        _ => reason::VMFUNC,
    };
    let has_mem = (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Memory);
    let mut info = 0u32;
    let mut q = 0u64;
    if has_mem {
        info |= mem_info(x, i);
        q = displacement(x, i);
    }
    match i.mnemonic() {
        Mnemonic::Vmread | Mnemonic::Vmwrite => {
            // Reg1 (bits 6:3) is the r/m register operand, bit 10 = 1 for a register operand;
            // Reg2 (bits 31:28) holds the field encoding.
            let (rm, enc_reg) = if i.mnemonic() == Mnemonic::Vmread { (0, 1) } else { (1, 0) };
            if i.op_kind(rm) == OpKind::Register {
                info |= gpr_num(i.op_register(rm)) << 3 | 1 << 10 | addr_size_bits(x, i);
            }
            info |= gpr_num(i.op_register(enc_reg)) << 28;
        }
        Mnemonic::Invept | Mnemonic::Invvpid => info |= gpr_num(i.op0_register()) << 28,
        _ => {}
    }
    vmx.vm_exit(x, ExitInfo { instruction_len: i.len() as u32, instruction_info: info, ..ExitInfo::new(r, q) });
    Err(Fault::Diverted)
}

/// Address size bits 9:7 (0 16-bit, 1 32-bit, 2 64-bit): the size of the base or index
/// register, or for a displacement-only operand the displacement's size, which iced reports
/// as the address size (2, 4 or 8 bytes).
pub(crate) fn addr_size_bits(x: &Exec<'_>, i: &Instruction) -> u32 {
    let by_mode = if x.cpu.state.mode() == hvbench_cpu::Mode::Long64 { 8 } else { 4 };
    let size = [i.memory_base(), i.memory_index()]
        .iter()
        .find(|r| **r != Register::None)
        .map(|r| if *r == Register::RIP { 8 } else if *r == Register::EIP { 4 } else { r.size() })
        .unwrap_or(match i.memory_displ_size() {
            n @ (2 | 4 | 8) => n as usize,
            _ => by_mode,
        });
    (match size {
        2 => 0,
        4 => 1,
        _ => 2,
    }) << 7
}

/// Scaling, address size, segment, index and base of a memory operand (bits 27:0 of the
/// instruction-information formats that have them).
pub(crate) fn mem_info(x: &Exec<'_>, i: &Instruction) -> u32 {
    let scale = match i.memory_index_scale() {
        2 => 1,
        4 => 2,
        8 => 3,
        _ => 0,
    };
    let seg = seg_of(i.memory_segment()) as u32;
    let index = i.memory_index();
    let base = i.memory_base();
    let idx = if index == Register::None { 1 << 22 } else { gpr_num(index) << 18 };
    let b = if base == Register::None || base == Register::RIP || base == Register::EIP { 1 << 27 } else { gpr_num(base) << 23 };
    scale | addr_size_bits(x, i) | seg << 15 | idx | b
}

/// The memory operand's displacement, sign-extended to 64 bits (the exit qualification of VMX
/// instructions, INVPCID and the descriptor-table instructions with a memory operand, SDM
/// 28.2.1: "sign-extended to 64 bits if necessary", also with a 16- or 32-bit address size,
/// where iced reports it zero-extended from the address size); for RIP-relative addressing
/// the sum of the displacement and the RIP of the next instruction (28.2.1), truncated to 32
/// bits with a 32-bit address size.
pub(crate) fn displacement(x: &Exec<'_>, i: &Instruction) -> u64 {
    let d = i.memory_displacement64();
    if i.is_ip_rel_memory_operand() {
        // Decoded at IP 0: iced reports next-instruction offset + displacement.
        let ea = x.cpu.state.rip.wrapping_add(d);
        return if i.memory_base() == Register::EIP { ea & 0xffff_ffff } else { ea };
    }
    match addr_size_bits(x, i) >> 7 {
        0 => d as u16 as i16 as i64 as u64,
        1 => d as u32 as i32 as i64 as u64,
        _ => d,
    }
}

impl Vmx {
    /// For tests: the physical address of the current VMCS.
    pub fn current_vmcs(&self) -> Option<u64> {
        self.current
    }

    /// For tests and tools: reads field `enc` of the current VMCS.
    pub fn read_field(&self, x: &mut Exec<'_>, enc: u32) -> Option<u64> {
        self.current.map(|c| Vmcs(c).read(x, enc))
    }

    /// The VMCS at `addr` as a readable table (see [`crate::dump`]).
    pub fn dump_vmcs(&self, x: &mut Exec<'_>, addr: u64) -> String {
        Vmcs(addr).dump(x, &self.profile)
    }
}
