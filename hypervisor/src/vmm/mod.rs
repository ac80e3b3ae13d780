//! The core layer: bring the processor into VMX operation, build one guest, run it and
//! dispatch its VM exits, then leave VMX operation.
//!
//! Order of operations (SDM Vol. 3C 24.7 "Enabling and Entering VMX Operation", 24.8
//! "Restrictions on VMX Operation", 25.11.3 "Initializing a VMCS"): CPUID.1:ECX.VMX = 1;
//! IA32_FEATURE_CONTROL locked with "enable VMX outside SMX" (locking it ourselves when
//! firmware left it unlocked); CR0 and CR4 adjusted to the VMX fixed bits with CR4.VMXE = 1;
//! VMXON with a region that carries the VMCS revision identifier; VMCLEAR and VMPTRLD of the
//! guest's VMCS; VMWRITEs of every field ([`setup`]); VMLAUNCH, then VMRESUME after each
//! handled exit ([`handlers`]); VMXOFF.

pub mod exit;
pub mod handlers;
pub mod setup;

use crate::platform::addr::HostPhys;
use crate::platform::cpu::{self, IA32_FEATURE_CONTROL};
use crate::platform::frames::{self, OutOfFrames};
use crate::println;
use crate::vmx::caps::{Caps, fix_cr0, fix_cr4};
use crate::vmx::fields::exit as exit_fields;
use crate::vmx::insn::{self, VmFail};
use crate::vmx::run::{self, GuestRegs};
use exit::Exit;
use handlers::{Action, Vm};
use setup::{GuestSpec, SetupError};

/// The port the guest's console writes to (trapped through I/O bitmap A, forwarded to COM1).
pub const CONSOLE_PORT: u16 = 0xE9;
/// The guest's VPID (25.6.12: nonzero).
pub const GUEST_VPID: u16 = 1;
/// An MSR whose reads are trapped (MSR bitmap, low read area): IA32_APIC_BASE.
pub const MSR_READ_TRAPPED: u32 = 0x1B;
/// An MSR whose writes are trapped (MSR bitmap, high write area): IA32_STAR.
pub const MSR_WRITE_TRAPPED: u32 = 0xC000_0081;
/// #BP.
pub const VECTOR_BP: u32 = 3;
/// #UD.
pub const VECTOR_UD: u32 = 6;
/// The exception vectors in the exception bitmap.
pub const TRAPPED_VECTORS: [u32; 2] = [VECTOR_BP, VECTOR_UD];

/// CPUID.1:ECX bit 5: VMX.
const CPUID1_ECX_VMX: u32 = 1 << 5;
/// IA32_FEATURE_CONTROL bit 0: lock.
const FC_LOCK: u64 = 1 << 0;
/// IA32_FEATURE_CONTROL bit 2: enable VMX outside SMX.
const FC_VMX_OUTSIDE_SMX: u64 = 1 << 2;
/// CR4.VMXE.
const CR4_VMXE: u64 = 1 << 13;

/// Why the hypervisor could not run its guest.
#[derive(Debug, Clone, Copy)]
pub enum HvError {
    /// CPUID.1:ECX.VMX = 0.
    NoVmx,
    /// IA32_FEATURE_CONTROL is locked with VMX outside SMX disabled (firmware turned VT-x off).
    VmxDisabledByFirmware,
    /// No frames left.
    OutOfFrames,
    /// A VMX instruction failed: which, and how.
    Instruction(&'static str, VmFail),
    /// Building the VMCS failed.
    Setup(SetupError),
}

impl From<OutOfFrames> for HvError {
    fn from(_: OutOfFrames) -> Self {
        Self::OutOfFrames
    }
}
impl From<SetupError> for HvError {
    fn from(e: SetupError) -> Self {
        Self::Setup(e)
    }
}

/// A 4-KiB VMXON or VMCS region with the revision identifier in its first 31 bits (25.2).
fn vmx_region(revision: u32) -> Result<HostPhys, OutOfFrames> {
    let f = frames::alloc()?;
    // SAFETY: a fresh pool frame.
    unsafe { f.as_mut_ptr::<u32>().write_volatile(revision & 0x7FFF_FFFF) };
    Ok(f)
}

/// Enters VMX operation, runs the guest to its end and leaves VMX operation. Returns the
/// exit counts.
pub fn run(spec: GuestSpec) -> Result<Vm, HvError> {
    if cpu::cpuid(1, 0).2 & CPUID1_ECX_VMX == 0 {
        return Err(HvError::NoVmx);
    }
    println!("vmx: CPUID.1:ECX.VMX[bit 5] = 1");
    let fc = cpu::rdmsr(IA32_FEATURE_CONTROL);
    if fc & FC_LOCK == 0 {
        // SAFETY: setting the lock and VMX-enable bits of an unlocked IA32_FEATURE_CONTROL.
        unsafe { cpu::wrmsr(IA32_FEATURE_CONTROL, fc | FC_LOCK | FC_VMX_OUTSIDE_SMX) };
    } else if fc & FC_VMX_OUTSIDE_SMX == 0 {
        return Err(HvError::VmxDisabledByFirmware);
    }
    println!("vmx: IA32_FEATURE_CONTROL: locked, VMX outside SMX enabled");
    // SAFETY: only bits VMX requires change (PE, PG, NE already set in long mode) plus VMXE.
    unsafe {
        cpu::set_cr0(fix_cr0(cpu::cr0()));
        cpu::set_cr4(fix_cr4(cpu::cr4() | CR4_VMXE));
    }
    let caps = Caps::read();
    let vmxon_region = vmx_region(caps.revision)?;
    insn::vmxon(vmxon_region).map_err(|e| HvError::Instruction("VMXON", e))?;
    println!("vmx: VMXON done");
    let ran = run_guest(&caps, spec);
    let off = insn::vmxoff();
    let vm = ran?;
    off.map_err(|e| HvError::Instruction("VMXOFF", e))?;
    println!("vmx: VMXOFF done");
    Ok(vm)
}

/// In VMX operation: builds the VMCS, runs the guest until it stops, clears the VMCS.
fn run_guest(caps: &Caps, spec: GuestSpec) -> Result<Vm, HvError> {
    let vmcs = vmx_region(caps.revision)?;
    insn::vmclear(vmcs).map_err(|e| HvError::Instruction("VMCLEAR", e))?;
    insn::vmptrld(vmcs).map_err(|e| HvError::Instruction("VMPTRLD", e))?;
    let built = setup::build(caps, &spec)?;
    println!("vmx: VMCS ready: 64-bit guest, EPT (4-level, WB) with gpa {:#x} left out and gpa {:#x} not executable, VPID {}", spec.probe.0, spec.exec_probe.0, GUEST_VPID);
    println!("vmx: traps: I/O port {CONSOLE_PORT:#x}, RDMSR {MSR_READ_TRAPPED:#x}, WRMSR {MSR_WRITE_TRAPPED:#x}, exception vectors {TRAPPED_VECTORS:?}, HLT, MOV to CR4.VMXE");

    let mut vm = Vm::new(built.ept, spec.probe, spec.exec_probe);
    let mut regs = GuestRegs::default();
    let mut launched = false;
    println!("vmx: VMLAUNCH");
    loop {
        // SAFETY: the VMCS is complete and its host state is this kernel.
        let entered = unsafe { run::enter(&mut regs, launched) };
        if let Err(e) = entered {
            println!("vmx: {} failed: {:?}", if launched { "VMRESUME" } else { "VMLAUNCH" }, e);
            vm.failed = true;
            break;
        }
        launched = true;
        let reason = exit_fields::REASON.read().unwrap_or(u32::MAX);
        let qual = exit_fields::QUALIFICATION.read().unwrap_or(0);
        let info = exit_fields::INTERRUPTION_INFO.read().unwrap_or(0);
        let gpa = exit_fields::GUEST_PHYSICAL.read().unwrap_or(0);
        let exit = Exit::decode(reason, qual, info, gpa);
        vm.exits += 1;
        if handlers::dispatch(&mut vm, &mut regs, exit) == Action::Stop {
            break;
        }
    }
    insn::vmclear(vmcs).map_err(|e| HvError::Instruction("VMCLEAR", e))?;
    Ok(vm)
}
