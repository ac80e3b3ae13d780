//! Extension points: how a processor extension (VMX, in the `hvbench-vmx` crate) plugs into the
//! core without the core naming it.
//!
//! A [`Cpu`](crate::Cpu) may hold one [`Extension`] (`Cpu::ext`). The core calls it:
//! - for the VMX instructions (VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE,
//!   VMLAUNCH, VMRESUME, INVEPT, INVVPID, VMCALL, VMFUNC): [`Extension::execute`]; with no
//!   extension they raise #UD, as on a processor without VMX;
//! - for RDMSR/WRMSR before the core's own MSRs ([`Extension::read_msr`], `None` = not mine);
//! - on MOV to CR0/CR4 ([`Extension::cr4_vmxe_allowed`], [`Extension::cr_write_allowed`]: the
//!   fixed bits of VMX operation, SDM Vol. 3C 24.8 "Restrictions on VMX Operation");
//! - for CPUID ([`Extension::cpuid`], e.g. CPUID.1:ECX.VMX);
//! - only while `Cpu::vmx_non_root` is set: [`Extension::intercept`] for the events VMX
//!   non-root operation may turn into VM exits ([`Intercept`]).
//!
//! Cost when no hypervisor runs: the hot paths (address translation, exception delivery,
//! instruction handlers of CPUID/HLT/IN/OUT/MOV CR/...) test the plain bool
//! `Cpu::vmx_non_root` and nothing else; MSR and CR writes (rare) test `Cpu::ext`.
//!
//! Calling convention: the extension is taken out of the `Cpu` for the call and put back after
//! it (`Exec::with_ext`), so it gets `&mut Exec` and the whole machine. While it runs, a nested
//! intercept finds no extension: an EPT fault or triple fault that must become a VM exit is then
//! kept in `Cpu::deferred` for the extension to act on when it regains control.

use crate::cpu::Exec;
use crate::exception::{Exception, Fault, Result};
use hvbench_mmu::ept::EptFault;
use iced_x86::Instruction;

/// Something that VMX non-root operation may turn into a VM exit. The core asks before it acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intercept {
    /// CPUID (after its own checks). `len` = instruction length.
    Cpuid {
        /// Instruction length.
        len: u8,
    },
    /// HLT (after the CPL check).
    Hlt {
        /// Instruction length.
        len: u8,
    },
    /// INVLPG of linear address `la` (after the CPL check).
    Invlpg {
        /// Instruction length.
        len: u8,
        /// The linear address operand.
        la: u64,
    },
    /// RDTSC (after the CR4.TSD check). A non-exiting answer is the TSC value to return.
    Rdtsc {
        /// Instruction length.
        len: u8,
        /// The TSC value the core computed.
        tsc: u64,
    },
    /// RDTSCP (before anything: "enable RDTSCP" = 0 makes it #UD). Answer: the TSC to return.
    Rdtscp {
        /// Instruction length.
        len: u8,
        /// The TSC value the core computed.
        tsc: u64,
    },
    /// RDMSR of ECX (after the CPL check). A non-exiting answer is added to the value read
    /// when ECX is IA32_TIME_STAMP_COUNTER (10H): the TSC offset of VMX non-root operation.
    Rdmsr {
        /// Instruction length.
        len: u8,
        /// ECX.
        msr: u32,
    },
    /// WRMSR of ECX (after the CPL check).
    Wrmsr {
        /// Instruction length.
        len: u8,
        /// ECX.
        msr: u32,
    },
    /// IN or OUT (after the IOPL / TSS-bitmap check).
    Io {
        /// Instruction length.
        len: u8,
        /// Port.
        port: u16,
        /// Access size in bytes (1, 2, 4).
        size: u8,
        /// IN (true) or OUT.
        input: bool,
        /// The port came from an immediate (true) or DX.
        immediate: bool,
    },
    /// MOV to CRn from general register `gpr` (after the CPL check). A non-exiting answer is
    /// the value to write (bits the hypervisor owns keep their current value); for CR8,
    /// [`CR8_VIRTUALIZED`] means the extension carried the write out itself (the TPR shadow)
    /// and the core writes nothing.
    MovToCr {
        /// Instruction length.
        len: u8,
        /// Control register number (0, 3, 4, 8).
        cr: u8,
        /// General register number (RAX = 0 ... R15 = 15).
        gpr: u8,
        /// The value being written.
        value: u64,
    },
    /// MOV from CRn to general register `gpr`. A non-exiting answer is the value to read
    /// (with read shadows applied).
    MovFromCr {
        /// Instruction length.
        len: u8,
        /// Control register number.
        cr: u8,
        /// General register number.
        gpr: u8,
        /// The register's actual value.
        value: u64,
    },
    /// INVD (after the CPL check): exits unconditionally.
    Invd {
        /// Instruction length.
        len: u8,
    },
    /// XSETBV (after the CR4.OSXSAVE and CPL checks): exits unconditionally.
    Xsetbv {
        /// Instruction length.
        len: u8,
    },
    /// An instruction that a VM-execution control of its own may turn into a VM exit or #UD
    /// (SDM Vol. 3C 26.1.3, 26.3): WBINVD, RDRAND, RDSEED, PAUSE, MONITOR, MWAIT, INVPCID,
    /// RDPID, RDPMC, LGDT/LIDT/SGDT/SIDT, LLDT/LTR/SLDT/STR. Asked after the checks that have
    /// priority over VM exits (#UD, CPL, CR4.UMIP, mode; 26.1.1) and before any operand is
    /// read; the extension takes what it reports from the decoded instruction. (INVPCID is
    /// asked before its CPL check: "enable INVPCID" = 0 makes it #UD, which comes first.)
    Insn {
        /// The decoded instruction (decoded at IP 0).
        insn: Instruction,
    },
    /// MONITOR completed without a VM exit: the address-range monitoring hardware is armed
    /// (the MWAIT exit qualification reports it, SDM 28.2.1).
    MonitorArmed,
    /// INS or OUTS (after the IOPL / TSS-bitmap check, before any memory access).
    StringIo {
        /// Instruction length.
        len: u8,
        /// Port (DX).
        port: u16,
        /// Access size in bytes (1, 2, 4).
        size: u8,
        /// INS (true) or OUTS.
        input: bool,
        /// A REP prefix is present.
        rep: bool,
        /// Address size: 0 16-bit, 1 32-bit, 2 64-bit.
        addr_size: u8,
        /// The memory operand's segment (ES for INS; DS or the override for OUTS), as
        /// `SegReg as u8`.
        seg: u8,
        /// The linear address of the memory operand (segment base + rSI/rDI).
        la: u64,
    },
    /// CLTS (after the CPL check). A non-exiting answer: 1 = clear CR0.TS, 0 = leave it.
    Clts {
        /// Instruction length.
        len: u8,
    },
    /// LMSW (after the CPL check and the operand read). A non-exiting answer is the source
    /// value to apply (bits the hypervisor owns replaced by their current CR0 value).
    Lmsw {
        /// Instruction length.
        len: u8,
        /// The 16-bit source operand.
        value: u16,
        /// The linear address of a memory operand (None: register operand).
        la: Option<u64>,
    },
    /// MOV to/from DRn (after the #UD and CPL checks, before the general-detect check).
    MovDr {
        /// Instruction length.
        len: u8,
        /// Debug register number as encoded (0-7).
        dr: u8,
        /// General register number.
        gpr: u8,
        /// MOV to DR (true) or from DR.
        to_dr: bool,
    },
    /// An attempt to switch tasks (after the checks that precede the switch: gate or TSS
    /// descriptor privilege, type, presence, limit). `source`: 0 CALL, 1 IRET, 2 JMP, 3 task
    /// gate in the IDT.
    TaskSwitch {
        /// Instruction length (CALL/JMP/IRET, or INT n/INT3/INTO/INT1 through an IDT task gate;
        /// 0 for a hardware exception or an interrupt).
        len: u8,
        /// The selector of the new task's TSS (or of the task gate's TSS).
        selector: u16,
        /// The source of the switch.
        source: u8,
        /// Source 3 during delivery of INT n, INT3/INTO or INT1: the vector and the VMX
        /// interruption type (4 software interrupt, 5 privileged software exception, 6
        /// software exception), for the IDT-vectoring information; `len` is then the
        /// instruction's length.
        software_vector: Option<(u8, u8)>,
    },
    /// An instruction boundary on the slow path, before the next instruction, asked for with
    /// `Cpu::set_boundary_hook` (monitor trap flag, VMX-preemption timer); also each time the
    /// run loop finds the vCPU halted (HLT activity state) while the hook is on.
    Boundary,
    /// A debug trap (single-step or data breakpoint; its DR6 bits in `Cpu::pending_debug`) is
    /// about to be delivered after an instruction while the boundary hook is on: a pending
    /// monitor-trap-flag VM exit has priority over debug-trap exceptions (SDM Vol. 3C 26.5.2
    /// "Monitor Trap Flag"); when it exits the trap stays pending (the VM exit saves it, 28.3.4).
    DebugTrap,
    /// An exception about to be delivered through the guest IDT (after the double-fault
    /// rules). `software` marks #BP/#OF raised by INT3/INTO (`len` then matters).
    Exception {
        /// The exception.
        e: Exception,
        /// Raised by INT3 or INTO.
        software: bool,
        /// Instruction length (INT3/INTO only; 0 otherwise).
        len: u8,
    },
    /// An NMI is pending (asked whether or not `CpuState::nmi_blocked` is set: with "virtual
    /// NMIs" that bit is virtual-NMI blocking, which does not block real NMIs). Answer `Ok`
    /// to let the core deliver it (if not blocked).
    Nmi,
    /// An instruction boundary (an event poll) with no blocking by STI or MOV SS and no NMI
    /// blocking (`CpuState::nmi_blocked`, virtual-NMI blocking under "virtual NMIs"):
    /// "NMI-window exiting" may exit here.
    NmiWindow,
    /// A maskable interrupt is pending at the bus (checked before RFLAGS.IF: with
    /// "external-interrupt exiting" the guest's IF does not matter).
    ExternalInterrupt,
    /// An instruction boundary (an event poll) with RFLAGS.IF = 1 and no blocking by STI or
    /// MOV SS: "interrupt-window exiting" may exit here.
    InterruptWindow,
    /// The guest would enter the shutdown state (triple fault).
    TripleFault,
    /// An EPT violation or misconfiguration while translating guest-linear `gla` (None: the
    /// access had no linear address).
    Ept {
        /// The fault.
        fault: EptFault,
        /// The guest-linear address.
        gla: Option<u64>,
        /// Whether the access was part of delivering an event.
        during_delivery: bool,
    },
}

/// The answer to [`Intercept::MovToCr`] for CR8 that says the write was virtualized (no value
/// with bits 63:4 set can be written to CR8, so it is never a value to write).
pub const CR8_VIRTUALIZED: u64 = u64::MAX;

/// INIT or SIPI arriving at the vCPU (from its local APIC), offered to the extension before
/// the machine carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartupSignal {
    /// INIT.
    Init,
    /// Start-up IPI with this vector.
    Sipi(u8),
}

/// A processor extension (VMX). Object safe; see the module documentation for when each
/// method is called.
pub trait Extension {
    /// Executes a VMX instruction. `Err(Fault::Diverted)` once the instruction changed the
    /// whole context (VM entry, VM exit); `Ok` to go on at the next instruction.
    fn execute(&mut self, x: &mut Exec<'_>, insn: &Instruction) -> Result<()>;

    /// RDMSR: `Some` for an MSR the extension owns.
    fn read_msr(&mut self, _x: &mut Exec<'_>, _msr: u32) -> Option<Result<u64>> {
        None
    }

    /// WRMSR: `Some` for an MSR the extension owns.
    fn write_msr(&mut self, _x: &mut Exec<'_>, _msr: u32, _value: u64) -> Option<Result<()>> {
        None
    }

    /// Whether CR4.VMXE may be set (the processor has VMX).
    fn cr4_vmxe_allowed(&self) -> bool {
        false
    }

    /// Whether writing `value` to CR`cr` (0 or 4) respects the fixed bits of VMX operation
    /// (IA32_VMX_CR0/CR4_FIXED0/1); `false` makes the MOV raise #GP(0).
    fn cr_write_allowed(&self, _x: &Exec<'_>, _cr: u8, _value: u64) -> bool {
        true
    }

    /// INIT or SIPI: `true` when the extension took it (blocked and latched, or turned into a
    /// VM exit), `false` for the machine to carry it out as usual.
    fn startup(&mut self, _x: &mut Exec<'_>, _signal: StartupSignal) -> bool {
        false
    }

    /// Whether an INIT the extension latched is now unblocked (after VMXOFF): the machine
    /// then carries it out. Clears the latch.
    fn take_released_init(&mut self) -> bool {
        false
    }

    /// Adjusts a CPUID answer (`[eax, ebx, ecx, edx]`).
    fn cpuid(&self, _leaf: u32, _subleaf: u32, _regs: &mut [u32; 4]) {}

    /// The cycle count at which the extension next needs an instruction boundary (an
    /// [`Intercept::Boundary`] call) even if the vCPU is halted: the VMX-preemption timer's
    /// expiry. Asked through `Cpu::extension_deadline` (non-root operation only).
    fn deadline(&self) -> Option<u64> {
        None
    }

    /// Called only in VMX non-root operation. `Ok(v)`: no VM exit, go on (`v` as documented
    /// per [`Intercept`] variant, else ignored); `Err(Fault::Diverted)`: a VM exit happened
    /// (the host runs now); `Err(Fault::Exception(e))`: raise `e` in the guest.
    fn intercept(&mut self, x: &mut Exec<'_>, what: Intercept) -> Result<u64>;

    /// The extension's whole state as bytes, for a machine snapshot (the format is the
    /// extension's own; [`Extension::restore`] reads it back). The default: no state.
    fn save(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Replaces the extension's state with what [`Extension::save`] wrote; `Err` explains
    /// why the bytes do not describe a state of this extension (nothing changed then).
    fn restore(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        if bytes.is_empty() { Ok(()) } else { Err("this extension keeps no state".into()) }
    }

    /// The extension as `Any`, so its owner can inspect its state.
    fn as_any(&self) -> &dyn std::any::Any;

    /// The extension as mutable `Any`, so its owner can configure it.
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

impl Exec<'_> {
    /// Calls `f` with the extension taken out of the vCPU, putting it back afterwards.
    /// `None` when there is no extension (or it is already running).
    pub fn with_ext<R>(&mut self, f: impl FnOnce(&mut dyn Extension, &mut Exec<'_>) -> R) -> Option<R> {
        let mut ext = self.cpu.ext.take()?;
        let r = f(ext.as_mut(), self);
        if self.cpu.ext.is_none() {
            self.cpu.ext = Some(ext);
        }
        Some(r)
    }

    /// Asks the extension about `what` (VMX non-root operation only). With no extension
    /// running: `Ok(default)`; an EPT fault, a triple fault, or a hardware exception that
    /// `Cpu::exit_filter` says exits, is kept in `Cpu::deferred` and ends the access with
    /// `Fault::Diverted`.
    #[cold]
    #[inline(never)]
    pub fn intercept(&mut self, what: Intercept, default: u64) -> Result<u64> {
        match self.with_ext(|ext, x| ext.intercept(x, what)) {
            Some(r) => r,
            None => match what {
                Intercept::Ept { .. } | Intercept::TripleFault => {
                    self.cpu.deferred = Some(what);
                    Err(Fault::Diverted)
                }
                Intercept::Exception { e, software: false, .. } if self.cpu.exit_filter.as_ref().is_some_and(|f| f(e)) => {
                    self.cpu.deferred = Some(what);
                    Err(Fault::Diverted)
                }
                _ => Ok(default),
            },
        }
    }
}
