//! VMX aborts (SDM Vol. 3C 28.7 "VMX Aborts") and the part of host-state loading that can
//! cause one for a host outside IA-32e mode (28.5.4 "Checking and Loading Host
//! Page-Directory-Pointer-Table Entries").
//!
//! A problem met during a VM exit is a VMX abort: the logical processor writes a non-zero
//! VMX-abort indicator at byte offset 4 of the current VMCS region and enters the shutdown
//! state (it is not in SMX operation; the machine then reports the vCPU as shut down, as for
//! a triple fault: `hvbench run` exit status 6). hvbench reaches indicators 1, 2, 4 and 6;
//! 3 (a VMCS corrupted so that the exit cannot complete) cannot happen because hvbench reads
//! every field from the region as it stands, and 5 (machine check) is not modelled.

use hvbench_cpu::regs::{cr0, cr4, efer};
use hvbench_cpu::Exec;

/// VMX-abort indicators (SDM 28.7).
pub mod indicator {
    /// A failure in saving guest MSRs (28.4 "Saving MSRs").
    pub const SAVE_GUEST_MSRS: u32 = 1;
    /// Host checking of the PDPTEs failed (28.5.4).
    pub const HOST_PDPTES: u32 = 2;
    /// The current VMCS was corrupted so that the VM exit cannot complete.
    pub const VMCS_CORRUPTED: u32 = 3;
    /// A failure on loading host MSRs (28.6 "Loading MSRs").
    pub const LOAD_HOST_MSRS: u32 = 4;
    /// A machine check during the VM exit.
    pub const MACHINE_CHECK: u32 = 5;
    /// The logical processor was in IA-32e mode before the VM exit and "host address-space
    /// size" was 0 (28.5).
    pub const IA32E_TO_32BIT_HOST: u32 = 6;
}

/// A VMX abort: the indicator and what caused it, with the values involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Abort {
    /// The VMX-abort indicator.
    pub indicator: u32,
    /// The cause, with values.
    pub why: String,
}

impl Abort {
    /// The explanation the trace carries: "VMX abort, indicator N: cause; SDM 28.7 VMX
    /// Aborts (the processor enters the shutdown state)".
    pub fn explain(&self) -> String {
        format!("{PREFIX}, indicator {}: {}; SDM 28.7 VMX Aborts (the VMX-abort indicator is written at offset 4 of the VMCS region and the processor enters the shutdown state)", self.indicator, self.why)
    }
}

/// How every VMX-abort explanation (the `why` of the VM-exit event, and the VMX state's last
/// failure) begins.
pub const PREFIX: &str = "VMX abort";

/// Whether `detail` (a VM-exit event's explanation) explains a VMX abort (`hvbench run` prints
/// those on stderr, as it does VMfail and failed VM entries).
pub fn is_explanation(detail: &str) -> bool {
    detail.starts_with(PREFIX)
}

/// 28.5 (and 28.7, indicator 6): a VM exit from a guest in IA-32e mode to a host with "host
/// address-space size" = 0 aborts. `guest_efer` is IA32_EFER before the VM exit.
pub(crate) fn check_address_space(guest_efer: u64, host64: bool) -> Result<(), Abort> {
    if guest_efer & efer::LMA != 0 && !host64 {
        return Err(Abort {
            indicator: indicator::IA32E_TO_32BIT_HOST,
            why: format!("the guest was in IA-32e mode (IA32_EFER = {guest_efer:#x}, LMA = 1) and \"host address-space size\" = 0"),
        });
    }
    Ok(())
}

/// 28.5.4 "Checking and Loading Host Page-Directory-Pointer-Table Entries": after the host
/// state is loaded, if the processor uses PAE paging (CR0.PG = 1, CR4.PAE = 1, IA32_EFER.LMA
/// = 0), the four PDPTEs are loaded from the 32-byte-aligned table at host CR3; a present
/// PDPTE with a reserved bit set is a VMX abort (indicator 2).
pub(crate) fn load_host_pdptes(x: &mut Exec<'_>) -> Result<(), Abort> {
    let s = &x.cpu.state;
    if s.cr0 & cr0::PG == 0 || s.cr4 & cr4::PAE == 0 || s.efer & efer::LMA != 0 {
        return Ok(());
    }
    let cr3 = s.cr3;
    let maxphy = x.cpu.config.maxphyaddr;
    match hvbench_mmu::paging::load_pdptes(x.mem, cr3, maxphy) {
        Some(p) => {
            x.cpu.set_pdptes(p);
            x.cpu.state_replaced();
            Ok(())
        }
        None => {
            let base = cr3 & 0xffff_ffe0;
            let bad = (0..4u64)
                .map(|i| (i, x.read_phys(hvbench_mmu::PhysAddr(base + 8 * i), 8)))
                .find(|(_, e)| hvbench_mmu::paging::pdpte_reserved(*e, maxphy))
                .map(|(i, e)| format!("PDPTE{i} at {:#x} = {e:#018x} is present with reserved bits set", base + 8 * i))
                .unwrap_or_default();
            Err(Abort { indicator: indicator::HOST_PDPTES, why: format!("host CR3 = {cr3:#x} (PAE paging after the VM exit): {bad} (MAXPHYADDR = {maxphy}); SDM 28.5.4 Checking and Loading Host Page-Directory-Pointer-Table Entries") })
        }
    }
}
