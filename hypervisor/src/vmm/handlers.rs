//! Exit handlers: one plain function per exit reason, dispatched from [`dispatch`].
//!
//! What each handler prints is chosen to be the same on every correct VMX implementation:
//! exit reasons, qualifications, guest-physical and guest-linear addresses, instruction
//! lengths (only for the exits where SDM Vol. 3C 28.2.5 "Information for VM Exits During
//! Event Delivery"/28.2.4 "Information for VM Exits Due to Instruction Execution" defines
//! them), register values the guest chose. Never capability values, revision identifiers
//! or host CPUID values.

use super::exit::{Exit, IoQual};
use super::{CONSOLE_PORT, MSR_READ_TRAPPED, MSR_WRITE_TRAPPED};
use crate::platform::addr::{GuestPhys, HostPhys};
use crate::platform::cpu;
use crate::platform::serial::write_byte;
use crate::println;
use crate::vmx::controls::*;
use crate::vmx::ept::{Ept, RWX};
use crate::vmx::fields::{control, exit as exit_fields, guest};
use crate::vmx::insn;
use crate::vmx::run::{GuestRegs, reg};

/// VMCALL RAX = 1: inject external interrupt [`INJECTED_VECTOR`] after the VMCALL.
pub const HC_INJECT_INTERRUPT: u64 = 1;
/// VMCALL RAX = 2: RAX = RBX + RCX.
pub const HC_ADD: u64 = 2;
/// VMCALL's return value for an unknown function.
pub const HC_UNKNOWN: u64 = u64::MAX;
/// The vector [`HC_INJECT_INTERRUPT`] injects.
pub const INJECTED_VECTOR: u8 = 0x40;
/// A synthetic MSR (outside both MSR-bitmap ranges, so every access exits: 26.1.3): a
/// scratch register the hypervisor keeps for the guest.
pub const MSR_SCRATCH: u32 = 0x4000_0000;
/// The value the hypervisor gives for reads of IA32_APIC_BASE: FEE00000H, enabled (bit 11),
/// bootstrap processor (bit 8).
pub const EMULATED_APIC_BASE: u64 = 0xFEE0_0900;
/// The CPUID hypervisor leaves' signature (EBX, ECX, EDX of leaf 40000000H).
pub const SIGNATURE: &[u8; 12] = b"hvcore-slice";
/// CPUID.1:ECX bit 31: a hypervisor is present.
const CPUID1_ECX_HYPERVISOR: u32 = 1 << 31;
/// CPUID.1:ECX bit 5: VMX (hidden from the guest: no nested VMX here).
const CPUID1_ECX_VMX: u32 = 1 << 5;
/// Table 28-7 bits that this transcript does not print because the SDM leaves them undefined
/// here: bit 6 (undefined unless "mode-based execute control for EPT" is 1) and bits 11:9
/// (undefined unless the processor reports advanced VM-exit information for EPT violations,
/// IA32_VMX_EPT_VPID_CAP bit 22: hvbench's default profile does, Bochs's Ice Lake does not).
const EPT_QUAL_UNDEFINED: u64 = (1 << 6) | (0b111 << 9);
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;
/// Interruptibility state bits 1:0: blocking by STI, by MOV SS (25.4.2 Table 25-3).
const BLOCKING_STI_MOVSS: u32 = 0b11;
/// CR4.VMXE.
const CR4_VMXE: u64 = 1 << 13;
/// Exit interruption information bit 12: NMI unblocking due to IRET (reserved in the
/// VM-entry field, 27.2.1.3).
const INTR_NMI_UNBLOCKING: u32 = 1 << 12;

/// What to do after an exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// VMRESUME.
    Resume,
    /// Leave VMX operation.
    Stop,
}

/// The hypervisor's state for its guest.
#[derive(Debug)]
pub struct Vm {
    ept: Ept,
    probe: GuestPhys,
    exec_probe: GuestPhys,
    /// An interrupt waits for the guest's interrupt window.
    pending_irq: bool,
    line: [u8; 120],
    line_len: usize,
    scratch: u64,
    /// Number of VM exits.
    pub exits: u32,
    /// Number of console OUT exits.
    pub console_outs: u32,
    /// A VM entry failed or the guest did something unhandled.
    pub failed: bool,
}

impl Vm {
    /// State for a guest with this EPT and probe page.
    pub fn new(ept: Ept, probe: GuestPhys, exec_probe: GuestPhys) -> Self {
        Self { ept, probe, exec_probe, pending_irq: false, line: [0; 120], line_len: 0, scratch: 0, exits: 0, console_outs: 0, failed: false }
    }
}

/// Handles one exit.
pub fn dispatch(vm: &mut Vm, regs: &mut GuestRegs, exit: Exit) -> Action {
    match exit {
        Exit::Cpuid => cpuid(regs),
        Exit::Rdmsr => rdmsr(vm, regs),
        Exit::Wrmsr => wrmsr(vm, regs),
        Exit::Io(q) => io(vm, regs, q),
        Exit::EptViolation { qual, gpa } => ept_violation(vm, qual, gpa),
        Exit::Exception { info } => exception(info),
        Exit::Vmcall => vmcall(vm, regs),
        Exit::InterruptWindow => interrupt_window(vm),
        Exit::CrAccess { qual } => cr_access(vm, regs, qual),
        Exit::Hlt => {
            println!("exit 12 HLT len={}: the guest is done", len());
            Action::Stop
        }
        Exit::TripleFault | Exit::Other { .. } => {
            let (n, name) = exit.name();
            println!("exit {n} {name}: {exit:?}");
            dump();
            vm.failed = true;
            Action::Stop
        }
    }
}

/// VM-exit instruction length (28.2.4).
fn len() -> u64 {
    exit_fields::INSTRUCTION_LEN.read().unwrap_or(0) as u64
}

/// Guest RIP += instruction length: the exiting instruction is done.
fn skip() {
    let rip = guest::RIP.read().unwrap_or(0);
    let _ = guest::RIP.write(rip.wrapping_add(len()));
}

fn low32(v: u64) -> u64 {
    v & 0xFFFF_FFFF
}

/// Injects a hardware exception at the next VM entry (27.6 "Event Injection").
fn inject(info: u32, error: Option<u32>) {
    let mut info = (info & !INTR_NMI_UNBLOCKING) | INTR_VALID;
    if let Some(e) = error {
        info |= INTR_ERROR_CODE;
        let _ = control::ENTRY_EXCEPTION_ERROR.write(e);
    }
    let _ = control::ENTRY_INTERRUPTION_INFO.write(info);
}

/// #GP(0) for an MSR the hypervisor does not know.
fn inject_gp0() {
    inject(INTR_TYPE_HW_EXCEPTION | 13, Some(0));
}

fn cpuid(regs: &mut GuestRegs) -> Action {
    let (leaf, sub) = (regs.gpr[reg::RAX] as u32, regs.gpr[reg::RCX] as u32);
    let le = |i: usize| u32::from_le_bytes([SIGNATURE[i], SIGNATURE[i + 1], SIGNATURE[i + 2], SIGNATURE[i + 3]]);
    let (a, b, c, d) = match leaf {
        0x4000_0000 => (0x4000_0001, le(0), le(4), le(8)),
        0x4000_0001 => (1, 0, 0, 0),
        1 => {
            let (a, b, c, d) = cpu::cpuid(1, sub);
            (a, b, (c | CPUID1_ECX_HYPERVISOR) & !CPUID1_ECX_VMX, d)
        }
        _ => cpu::cpuid(leaf, sub),
    };
    println!("exit 10 CPUID len={} eax={leaf:#x} ecx={sub:#x}", len());
    regs.gpr[reg::RAX] = a as u64;
    regs.gpr[reg::RBX] = b as u64;
    regs.gpr[reg::RCX] = c as u64;
    regs.gpr[reg::RDX] = d as u64;
    skip();
    Action::Resume
}

fn rdmsr(vm: &mut Vm, regs: &mut GuestRegs) -> Action {
    let msr = regs.gpr[reg::RCX] as u32;
    let value = match msr {
        MSR_READ_TRAPPED => EMULATED_APIC_BASE,
        MSR_SCRATCH => vm.scratch,
        _ => {
            println!("exit 31 RDMSR len={} ecx={msr:#x}: unknown MSR, #GP(0) injected", len());
            inject_gp0();
            return Action::Resume;
        }
    };
    println!("exit 31 RDMSR len={} ecx={msr:#x} -> {value:#x}", len());
    regs.gpr[reg::RAX] = low32(value);
    regs.gpr[reg::RDX] = value >> 32;
    skip();
    Action::Resume
}

fn wrmsr(vm: &mut Vm, regs: &mut GuestRegs) -> Action {
    let msr = regs.gpr[reg::RCX] as u32;
    let value = low32(regs.gpr[reg::RDX]) << 32 | low32(regs.gpr[reg::RAX]);
    match msr {
        MSR_WRITE_TRAPPED => {
            println!("exit 32 WRMSR len={} ecx={msr:#x} value={value:#x}: written through", len());
            // SAFETY: IA32_STAR matters only to SYSCALL, which this kernel never executes.
            unsafe { cpu::wrmsr(msr, value) };
        }
        MSR_SCRATCH => {
            println!("exit 32 WRMSR len={} ecx={msr:#x} value={value:#x}: kept by the hypervisor", len());
            vm.scratch = value;
        }
        _ => {
            println!("exit 32 WRMSR len={} ecx={msr:#x}: unknown MSR, #GP(0) injected", len());
            inject_gp0();
            return Action::Resume;
        }
    }
    skip();
    Action::Resume
}

fn io(vm: &mut Vm, regs: &mut GuestRegs, q: IoQual) -> Action {
    let qual = exit_fields::QUALIFICATION.read().unwrap_or(0);
    if q.port != CONSOLE_PORT || q.string || q.rep || q.size != 1 {
        println!("exit 30 I/O len={} qual={qual:#x}: not the console", len());
        dump();
        vm.failed = true;
        return Action::Stop;
    }
    if q.input {
        // Reads of the console port give the port number back (as Bochs's port E9H does).
        println!("exit 30 I/O len={} qual={qual:#x}: IN from {:#x} ({}) -> {CONSOLE_PORT:#x}", len(), q.port, if q.immediate { "imm8" } else { "DX" });
        regs.gpr[reg::RAX] = (regs.gpr[reg::RAX] & !0xFF) | CONSOLE_PORT as u64;
    } else {
        if vm.console_outs == 0 {
            println!("exit 30 I/O len={} qual={qual:#x}: OUT to {:#x} ({}), the guest console (further console exits not shown)", len(), q.port, if q.immediate { "imm8" } else { "DX" });
        }
        vm.console_outs += 1;
        console_byte(vm, regs.gpr[reg::RAX] as u8);
    }
    skip();
    Action::Resume
}

/// Collects the guest's console output into lines printed as "guest: ...".
fn console_byte(vm: &mut Vm, b: u8) {
    if b != b'\n' && vm.line_len < vm.line.len() {
        vm.line[vm.line_len] = b;
        vm.line_len += 1;
        return;
    }
    b"guest: ".iter().copied().for_each(write_byte);
    vm.line[..vm.line_len].iter().copied().for_each(write_byte);
    write_byte(b'\n');
    vm.line_len = 0;
    if b != b'\n' {
        console_byte(vm, b);
    }
}

fn ept_violation(vm: &mut Vm, qual: u64, gpa: u64) -> Action {
    let gla = exit_fields::GUEST_LINEAR.read().unwrap_or(0);
    let shown = qual & !EPT_QUAL_UNDEFINED;
    let access = ["read", "write", "fetch"].iter().enumerate().filter(|(i, _)| qual & (1 << i) != 0).map(|(_, s)| *s).next().unwrap_or("?");
    println!("exit 48 EPT violation qual={shown:#x} ({access}, gla valid: {}) gpa={gpa:#x} gla={gla:#x}", qual & (1 << 7) != 0);
    let page = GuestPhys(gpa).page();
    let (done, what) = if page == vm.probe {
        (vm.ept.map_4k(page, HostPhys(page.0), RWX), "mapped")
    } else if page == vm.exec_probe {
        (vm.ept.protect_4k(page, RWX), "made executable")
    } else {
        println!("hv: EPT violation outside the probe pages");
        dump();
        vm.failed = true;
        return Action::Stop;
    };
    if let Err(e) = done {
        println!("hv: cannot change the EPT at {:#x}: {e:?}", page.0);
        vm.failed = true;
        return Action::Stop;
    }
    // 29.4.3.1: mappings derived from this EPTP may be cached; invalidate them.
    let _ = insn::invept_single(vm.ept.eptp());
    println!("hv: {what} gpa {:#x} (RWX, WB); the guest retries the access", page.0);
    Action::Resume
}

/// An exception in the exception bitmap, reflected into the guest. For software exceptions
/// (INT3, INTO) and privileged ones (INT1) the exit instruction length is defined (28.2.4)
/// and must go into the VM-entry instruction length so that the guest's handler sees the
/// return address after the instruction (27.6.1.1).
fn exception(info: u32) -> Action {
    let vector = info & 0xFF;
    let kind = info & (7 << 8);
    let software = kind == INTR_TYPE_SW_EXCEPTION || kind == INTR_TYPE_PRIV_SW_EXCEPTION || kind == INTR_TYPE_SW_INTERRUPT;
    if software {
        let l = len();
        println!("exit 0 exception info={info:#x} (vector {vector}, type {}) len={l}: reflected into the guest", kind >> 8);
        let _ = control::ENTRY_INSTRUCTION_LEN.write(l as u32);
    } else {
        println!("exit 0 exception info={info:#x} (vector {vector}, type {}): reflected into the guest", kind >> 8);
    }
    let error = if info & INTR_ERROR_CODE != 0 { exit_fields::INTERRUPTION_ERROR.read().ok() } else { None };
    inject(info, error);
    Action::Resume
}

/// The external interrupt [`INJECTED_VECTOR`] at the next VM entry.
fn inject_irq() {
    let _ = control::ENTRY_INTERRUPTION_INFO.write(INTR_VALID | INTR_TYPE_EXTERNAL | INJECTED_VECTOR as u32);
}

/// Sets or clears interrupt-window exiting (25.6.2).
fn interrupt_window_exiting(on: bool) {
    let c = control::PROC_BASED.read().unwrap_or(0);
    let _ = control::PROC_BASED.write(if on { c | PROC_INTERRUPT_WINDOW } else { c & !PROC_INTERRUPT_WINDOW });
}

/// The guest can take an interrupt now (26.7.5): inject the pending one.
fn interrupt_window(vm: &mut Vm) -> Action {
    interrupt_window_exiting(false);
    if vm.pending_irq {
        println!("exit 7 interrupt window: inject external interrupt {INJECTED_VECTOR:#x}");
        vm.pending_irq = false;
        inject_irq();
    } else {
        println!("exit 7 interrupt window: nothing pending");
    }
    Action::Resume
}

/// MOV to CR4 that would change a bit the host owns (26.1.3, Table 28-3): only CR4.VMXE is
/// owned, and the guest may not set it (no nested VMX): the write is dropped.
fn cr_access(vm: &mut Vm, regs: &GuestRegs, qual: u64) -> Action {
    let (cr, access, gpr) = (qual & 0xF, (qual >> 4) & 3, ((qual >> 8) & 0xF) as usize);
    if cr != 4 || access != 0 {
        println!("exit 28 control-register access qual={qual:#x}: not handled");
        dump();
        vm.failed = true;
        return Action::Stop;
    }
    let value = if gpr == 4 { guest::RSP.read().unwrap_or(0) } else { regs.gpr[gpr] };
    println!("exit 28 control-register access len={} qual={qual:#x} (MOV to CR4 from GPR {gpr}), VMXE={}: write dropped", len(), (value & CR4_VMXE) >> 13);
    skip();
    Action::Resume
}

/// VMCALL: RAX is the function. [`HC_INJECT_INTERRUPT`] injects at once when the guest can
/// take an interrupt (RFLAGS.IF = 1, no STI or MOV SS blocking: 27.2.1.3/27.3.1.5 require
/// that for injecting an external interrupt), else waits for the interrupt window.
fn vmcall(vm: &mut Vm, regs: &mut GuestRegs) -> Action {
    let f = regs.gpr[reg::RAX];
    let l = len();
    skip();
    match f {
        HC_INJECT_INTERRUPT => {
            let open = guest::RFLAGS.read().unwrap_or(0) & RFLAGS_IF != 0 && guest::INTERRUPTIBILITY.read().unwrap_or(0) & BLOCKING_STI_MOVSS == 0;
            if open {
                println!("exit 18 VMCALL len={l} rax={f}: guest IF=1, inject external interrupt {INJECTED_VECTOR:#x} now");
                inject_irq();
            } else {
                println!("exit 18 VMCALL len={l} rax={f}: guest IF=0, interrupt-window exiting on");
                vm.pending_irq = true;
                interrupt_window_exiting(true);
            }
            regs.gpr[reg::RAX] = 0;
        }
        HC_ADD => {
            let (b, c) = (regs.gpr[reg::RBX], regs.gpr[reg::RCX]);
            println!("exit 18 VMCALL len={l} rax={f}: add rbx={b:#x} rcx={c:#x}");
            regs.gpr[reg::RAX] = b.wrapping_add(c);
        }
        _ => {
            println!("exit 18 VMCALL len={l} rax={f:#x}: unknown function");
            regs.gpr[reg::RAX] = HC_UNKNOWN;
        }
    }
    Action::Resume
}

/// The fields that explain an unexpected exit or a failed entry.
fn dump() {
    let rows: [(&str, u64); 8] = [
        ("exit reason", exit_fields::REASON.read().unwrap_or(0) as u64),
        ("exit qualification", exit_fields::QUALIFICATION.read().unwrap_or(0)),
        ("interruption info", exit_fields::INTERRUPTION_INFO.read().unwrap_or(0) as u64),
        ("IDT-vectoring info", exit_fields::IDT_VECTORING_INFO.read().unwrap_or(0) as u64),
        ("instruction error", exit_fields::INSTRUCTION_ERROR.read().unwrap_or(0) as u64),
        ("guest RIP", guest::RIP.read().unwrap_or(0)),
        ("guest RSP", guest::RSP.read().unwrap_or(0)),
        ("guest RFLAGS", guest::RFLAGS.read().unwrap_or(0)),
    ];
    for (name, v) in rows {
        println!("  {name:<20} {v:#x}");
    }
}
