//! hvbench's VT-x: VMX operation, the VMCS, the VMX instructions, VM-entry checks, VM exits,
//! EPT and VPID configuration, and the CPU model's VMX capabilities.
//!
//! Section numbers cite the Intel SDM revision in [`SDM_REVISION`] (Vol. 3C: chapter 24
//! "Introduction to Virtual Machine Extensions", 25 "Virtual Machine Control Structures", 26
//! "VMX Non-Root Operation", 27 "VM Entries", 28 "VM Exits", 29 "VMX Support for Address
//! Translation", 31 "VMX Instruction Reference"; Vol. 3D Appendix A "VMX Capability
//! Reporting Facility", B "Field Encoding in VMCS", C "VMX Basic Exit Reasons").
//!
//! [`Vmx`] implements the CPU core's [`hvbench_cpu::ext::Extension`]; [`install`] puts one
//! into a vCPU. Modules:
//! - `caps`: capability MSRs per profile; `controls`: control bits;
//! - `fields`: the VMCS field table; `vmcs`: the VMCS region and field access; `dump`: the
//!   readable VMCS dump;
//! - `instr`: VMXON ... VMCALL and the VM-instruction error numbers; `entry`: VM-entry checks and loading; `exit`: VM exits;
//! - `intercept`: what in VMX non-root operation causes which exit; `msr_list`: the VM-entry
//!   and VM-exit MSR lists; `vmfunc`: VMFUNC and EPTP switching; `snapshot`: the state as
//!   data for machine snapshots.
//!
//! IA32_FEATURE_CONTROL: [`install`] sets it to 5 (lock bit and "enable VMX outside SMX"),
//! as firmware leaves it on a machine with VT-x enabled (and as Bochs starts): a kernel booted
//! by multiboot cannot write it any more, and VMXON works at once. A test that wants the
//! firmware's job can reset it to 0 (unlocked) before running.

pub use hvbench_mmu::SDM_REVISION;

pub mod abort;
pub mod caps;
pub mod controls;
pub mod dump;
pub mod entry;
pub mod exit;
pub mod fields;
pub mod instr;
mod insn_exit;
mod intercept;
mod msr_list;
pub mod snapshot;
mod vmfunc;
pub mod vmcs;

use caps::Profile;
use controls::{EntryCtls, ExitCtls, PinCtls, ProcCtls, ProcCtls2};
use hvbench_cpu::ext::{Extension, Intercept};
use hvbench_cpu::{Cpu, Exec};
use iced_x86::Instruction;

/// The IA32_FEATURE_CONTROL value [`install`] leaves: locked (bit 0), VMX outside SMX (bit 2).
pub const FEATURE_CONTROL_LOCKED_VMX: u64 = 0x5;

/// The VMX state of one logical processor.
pub struct Vmx {
    /// The capability profile.
    pub profile: Profile,
    /// In VMX operation (after VMXON, before VMXOFF).
    pub in_vmx: bool,
    /// The VMXON pointer.
    pub vmxon_ptr: u64,
    /// The current-VMCS pointer (`None` = FFFFFFFF_FFFFFFFFH, invalid).
    pub current: Option<u64>,
    /// The controls of the VMCS the guest runs under (typed, read once at VM entry).
    pub(crate) ctx: Option<Ctx>,
    /// EPTP values seen, for TLB tags (index + 1 is the tag).
    ept_ids: Vec<u64>,
    /// The last VMfail or failed entry, explained (for tests and the CLI).
    pub last_failure: Option<String>,
    /// Record a VMCS dump at each failed VM entry (`hvbench run --dump-vmcs`).
    pub dump_failures: bool,
    /// The dumps recorded (the first [`MAX_FAILURE_DUMPS`]), each with the explanation first.
    pub failure_dumps: Vec<String>,
    /// An INIT arrived while blocked (VMX root operation, or a guest in wait-for-SIPI) and is
    /// held pending (SDM 24.8 "Restrictions on VMX Operation").
    pub init_latched: bool,
}

/// The VM-execution, -exit and -entry controls in effect in VMX non-root operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ctx {
    pub vmcs: vmcs::Vmcs,
    pub pin: PinCtls,
    pub proc: ProcCtls,
    pub proc2: ProcCtls2,
    pub exit: ExitCtls,
    pub entry: EntryCtls,
    pub exception_bitmap: u32,
    pub pf_mask: u32,
    pub pf_match: u32,
    pub cr0_mask: u64,
    pub cr4_mask: u64,
    pub cr0_shadow: u64,
    pub cr4_shadow: u64,
    pub cr3_count: u32,
    pub cr3_targets: [u64; 4],
    pub io_bitmap: [u64; 2],
    pub msr_bitmap: u64,
    pub tsc_offset: u64,
    pub vpid: u16,
    /// Monitor trap flag: `Cpu::steps` right after VM entry; a boundary with more steps done
    /// ends with an MTF VM exit (SDM 26.5.2 "Monitor Trap Flag").
    pub mtf_base: u64,
    /// VM-function controls (0 unless "enable VM functions", SDM 25.6.14).
    pub vmfunc: u64,
    /// The EPTP-list address (SDM 25.6.14).
    pub eptp_list: u64,
    /// VMX-preemption timer: the value of `Cpu::cycles >> rate` at which it reaches zero (SDM
    /// 26.5.1 "VMX-Preemption Timer").
    pub timer_deadline: Option<u64>,
    /// A guest MONITOR armed the address-range monitoring hardware (cleared by VM entry, VM
    /// exits, SDM 28.5.6, and a guest MWAIT); the MWAIT exit qualification reports it.
    pub monitor_armed: bool,
    /// The virtual-APIC address (a physical address, SDM 25.6.8), with "use TPR shadow".
    pub virtual_apic: u64,
    /// The TPR threshold (SDM 25.6.8).
    pub tpr_threshold: u32,
    /// PLE_Gap and PLE_Window (SDM 25.6.13), with "PAUSE-loop exiting".
    pub ple_gap: u32,
    /// PLE_Window.
    pub ple_window: u32,
    /// PAUSE-loop exiting: `Cpu::cycles` at the last PAUSE at CPL 0 since VM entry and at the
    /// first PAUSE of the current loop (`None`: no PAUSE yet; 26.1.3).
    pub ple_loop: Option<(u64, u64)>,
}

impl Vmx {
    /// VMX in the RESET state (outside VMX operation) with `profile`.
    pub fn new(profile: Profile) -> Self {
        Self { profile, in_vmx: false, vmxon_ptr: 0, current: None, ctx: None, ept_ids: Vec::new(), last_failure: None, dump_failures: false, failure_dumps: Vec::new(), init_latched: false }
    }

    /// The TLB tag for `eptp` (1-based; the table restarts, with a full flush, past 4095).
    pub(crate) fn ept_tag(&mut self, x: &mut Exec<'_>, eptp: u64) -> u16 {
        let key = eptp & !0xfff | (eptp & 0x7f);
        if let Some(i) = self.ept_ids.iter().position(|&e| e == key) {
            return i as u16 + 1;
        }
        if self.ept_ids.len() >= 4095 {
            self.ept_ids.clear();
            x.cpu.flush_tlb(None);
        }
        self.ept_ids.push(key);
        self.ept_ids.len() as u16
    }

    /// The tag of `eptp` if it was seen.
    pub(crate) fn known_ept_tag(&self, eptp: u64) -> Option<u16> {
        let key = eptp & !0xfff | (eptp & 0x7f);
        self.ept_ids.iter().position(|&e| e == key).map(|i| i as u16 + 1)
    }
}

/// Installs VMX with `profile` into `cpu` and leaves IA32_FEATURE_CONTROL locked with VMX
/// enabled ([`FEATURE_CONTROL_LOCKED_VMX`]).
pub fn install(cpu: &mut Cpu, profile: Profile) {
    cpu.ext = Some(Box::new(Vmx::new(profile)));
    cpu.state.msr.feature_control = FEATURE_CONTROL_LOCKED_VMX;
}

/// The VMX state installed in `cpu`, if any.
pub fn state(cpu: &Cpu) -> Option<&Vmx> {
    let e: &dyn Extension = cpu.ext.as_deref()?;
    e.as_any().downcast_ref::<Vmx>()
}

/// The VMX state installed in `cpu`, mutable (to set [`Vmx::dump_failures`]).
pub fn state_mut(cpu: &mut Cpu) -> Option<&mut Vmx> {
    let e: &mut dyn Extension = cpu.ext.as_deref_mut()?;
    e.as_any_mut().downcast_mut::<Vmx>()
}

/// The most VMCS dumps [`Vmx::failure_dumps`] keeps (the first ones).
pub const MAX_FAILURE_DUMPS: usize = 8;

impl Extension for Vmx {
    fn execute(&mut self, x: &mut Exec<'_>, insn: &Instruction) -> hvbench_cpu::exception::Result<()> {
        instr::execute(self, x, insn)
    }

    fn read_msr(&mut self, _x: &mut Exec<'_>, msr: u32) -> Option<hvbench_cpu::exception::Result<u64>> {
        self.profile.read(msr).map(Ok)
    }

    fn write_msr(&mut self, _x: &mut Exec<'_>, msr: u32, _v: u64) -> Option<hvbench_cpu::exception::Result<()>> {
        // The capability MSRs are read-only (SDM Appendix A): WRMSR raises #GP(0).
        self.profile.read(msr).map(|_| Err(hvbench_cpu::Exception::gp0().into()))
    }

    fn cr4_vmxe_allowed(&self) -> bool {
        true
    }

    fn cr_write_allowed(&self, x: &Exec<'_>, cr: u8, v: u64) -> bool {
        if !self.in_vmx {
            return true;
        }
        // SDM 24.8 "Restrictions on VMX Operation": in VMX operation the fixed bits hold; in
        // non-root operation only guest-owned bits change (host-owned ones were kept by the
        // intercept), and unrestricted guest frees CR0.PE and CR0.PG (SDM 26.3).
        let (mut f0, f1) = if cr == 0 { (Profile::CR0_FIXED0, Profile::CR0_FIXED1) } else { (Profile::CR4_FIXED0, Profile::CR4_FIXED1) };
        if x.cpu.vmx_non_root
            && let Some(c) = &self.ctx
        {
            if cr == 0 && c.proc2.contains(ProcCtls2::UNRESTRICTED_GUEST) {
                f0 &= !(hvbench_cpu::regs::cr0::PE | hvbench_cpu::regs::cr0::PG);
            }
            let owned = if cr == 0 { c.cr0_mask } else { c.cr4_mask };
            f0 &= !owned;
            return v & f0 == f0 && v & !(f1 | owned) == 0;
        }
        v & f0 == f0 && v & !f1 == 0
    }

    fn cpuid(&self, leaf: u32, _subleaf: u32, regs: &mut [u32; 4]) {
        if leaf == 1 {
            regs[2] |= hvbench_cpu::cpuid::ecx1::VMX;
        }
    }

    fn startup(&mut self, x: &mut Exec<'_>, signal: hvbench_cpu::ext::StartupSignal) -> bool {
        intercept::startup(self, x, signal)
    }

    fn take_released_init(&mut self) -> bool {
        // 24.8: VMXOFF unblocks INIT; a latched one is now carried out.
        if self.in_vmx || !self.init_latched {
            return false;
        }
        self.init_latched = false;
        true
    }

    fn deadline(&self) -> Option<u64> {
        // The VMX-preemption timer's zero, in cycles (26.5.1: it counts cycles >> rate).
        let d = self.ctx.as_ref()?.timer_deadline?;
        Some(d.checked_shl(self.profile.preemption_timer_rate()).filter(|c| c >> self.profile.preemption_timer_rate() == d).unwrap_or(u64::MAX))
    }

    fn intercept(&mut self, x: &mut Exec<'_>, what: Intercept) -> hvbench_cpu::exception::Result<u64> {
        intercept::intercept(self, x, what)
    }

    fn save(&self) -> Vec<u8> {
        self.save_bytes()
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.restore_bytes(bytes).map_err(|e| e.to_string())
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}
