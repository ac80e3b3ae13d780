//! The vCPU's state outside [`crate::CpuState`] that survives between runs and that a machine
//! snapshot must carry: what VMX operation keeps in the core (SDM Vol. 3C 24.8 "Restrictions
//! on VMX Operation", 26.3 on IRET and NMI blocking, 29.4 on TLB tags), the PAE PDPTE
//! registers (Vol. 3A 4.4.1 "PDPTE Registers": loaded by MOV to CR3/CR0/CR4 or VM entry, not
//! re-read from memory) and the debug traps held back by a MOV SS/POP SS shadow (Vol. 3A
//! 6.8.3).
//!
//! Caches (TLB, decoded instructions) are not part of it: they refill from the state.

use crate::cpu::Cpu;
use hvbench_mmu::ept::EptContext;

/// See the module documentation. Taken with [`Cpu::hidden_state`] and put back with
/// [`Cpu::set_hidden_state`] (after [`Cpu::set_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HiddenState {
    /// `Cpu::vmx_non_root`.
    pub vmx_non_root: bool,
    /// `Cpu::ept`.
    pub ept: Option<EptContext>,
    /// `Cpu::tlb_vpid`.
    pub tlb_vpid: u16,
    /// `Cpu::tlb_ept`.
    pub tlb_ept: u16,
    /// `Cpu::iret_keeps_nmi_blocking`.
    pub iret_keeps_nmi_blocking: bool,
    /// The extension's boundary hook (`Cpu::set_boundary_hook`).
    pub boundary_hook: bool,
    /// DR6 bits of debug traps held back by a MOV SS/POP SS shadow (see `debug.rs`).
    pub pending_debug: u64,
    /// The PAE PDPTE registers.
    pub pdptes: [u64; 4],
}

impl Cpu {
    /// The state outside `CpuState` (see [`HiddenState`]).
    pub fn hidden_state(&self) -> HiddenState {
        HiddenState {
            vmx_non_root: self.vmx_non_root,
            ept: self.ept,
            tlb_vpid: self.tlb_vpid,
            tlb_ept: self.tlb_ept,
            iret_keeps_nmi_blocking: self.iret_keeps_nmi_blocking,
            boundary_hook: self.debug.boundary,
            pending_debug: self.debug.pending,
            pdptes: self.paging.pdptes,
        }
    }

    /// DR6 bits (B0-B3, BS) of debug traps pending at the next instruction boundary (held
    /// back by MOV SS, or by a VM exit that came first): what a VM exit saves in the guest
    /// pending-debug-exceptions field (SDM Vol. 3C 28.3.4).
    pub fn pending_debug(&self) -> u64 {
        self.debug.pending
    }

    /// Sets the pending debug traps (VM entry loads them, SDM Vol. 3C 27.7.3; a VM exit clears
    /// them). They are delivered after the next instruction completes.
    pub fn set_pending_debug(&mut self, bits: u64) {
        self.debug.pending = bits;
        self.refresh_debug();
    }

    /// Puts back what [`Cpu::hidden_state`] took (snapshot restore; call after
    /// [`Cpu::set_state`]). Drops cached translations and decoded instructions.
    pub fn set_hidden_state(&mut self, h: HiddenState) {
        let HiddenState { vmx_non_root, ept, tlb_vpid, tlb_ept, iret_keeps_nmi_blocking, boundary_hook, pending_debug, pdptes } = h;
        self.vmx_non_root = vmx_non_root;
        self.ept = ept;
        self.tlb_vpid = tlb_vpid;
        self.tlb_ept = tlb_ept;
        self.iret_keeps_nmi_blocking = iret_keeps_nmi_blocking;
        self.debug.boundary = boundary_hook;
        self.debug.pending = pending_debug;
        self.paging.pdptes = pdptes;
        self.deferred = None;
        self.flush_all();
    }
}
