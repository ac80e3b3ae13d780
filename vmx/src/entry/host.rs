//! SDM 27.2.2 "Checks on Host Control Registers, MSRs, and SSP", 27.2.3 "Checks on Host
//! Segment and Descriptor-Table Registers", 27.2.4 "Checks Related to Address-Space Size".
//! Failures: VMfailValid(8).

use super::{canonical, canonical_max, fail, fits, pat_valid, Area::Host, Check, EntryFields};
use crate::caps::Profile;
use crate::controls::{EntryCtls, ExitCtls};
use crate::fields::enc;
use crate::vmcs::Vmcs;
use hvbench_cpu::regs::{cr4, efer};
use hvbench_cpu::Exec;

/// 27.2.2 "Checks on Host Control Registers, MSRs, and SSP".
pub(crate) fn control_registers(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields) -> Check {
    let cr0 = v.read(x, enc::HOST_CR0);
    if cr0 & Profile::CR0_FIXED0 != Profile::CR0_FIXED0 || cr0 & !Profile::CR0_FIXED1 != 0 {
        return Err(fail(Host, "host.cr0.fixed", "host CR0 must respect IA32_VMX_CR0_FIXED0/FIXED1 (PE, NE, PG = 1); SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(super::fixed_values("host CR0", cr0, Profile::CR0_FIXED0, Profile::CR0_FIXED1)));
    }
    let cr4_v = v.read(x, enc::HOST_CR4);
    if cr4_v & Profile::CR4_FIXED0 != Profile::CR4_FIXED0 || cr4_v & !Profile::CR4_FIXED1 != 0 {
        return Err(fail(Host, "host.cr4.fixed", "host CR4 must respect IA32_VMX_CR4_FIXED0/FIXED1 (VMXE = 1); SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(super::fixed_values("host CR4", cr4_v, Profile::CR4_FIXED0, Profile::CR4_FIXED1)));
    }
    if !fits(v.read(x, enc::HOST_CR3), x.cpu.config.maxphyaddr) {
        return Err(fail(Host, "host.cr3.width", "host CR3 bits beyond MAXPHYADDR must be 0; SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(format!("host CR3 = {:#x} (MAXPHYADDR = {})", v.read(x, enc::HOST_CR3), x.cpu.config.maxphyaddr)));
    }
    if !canonical_max(v.read(x, enc::HOST_SYSENTER_ESP)) || !canonical_max(v.read(x, enc::HOST_SYSENTER_EIP)) {
        return Err(fail(Host, "host.sysenter.canonical", "host IA32_SYSENTER_ESP and IA32_SYSENTER_EIP must be canonical; SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(format!("host IA32_SYSENTER_ESP = {:#x}, IA32_SYSENTER_EIP = {:#x}", v.read(x, enc::HOST_SYSENTER_ESP), v.read(x, enc::HOST_SYSENTER_EIP))));
    }
    let exit = ExitCtls::from_bits_retain(f.exit);
    if exit.contains(ExitCtls::LOAD_PAT) && !pat_valid(v.read(x, enc::HOST_PAT)) {
        return Err(fail(Host, "host.pat", "\"load IA32_PAT\"=1 requires every host PAT entry to be 0, 1, 4, 5, 6 or 7; SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(format!("host IA32_PAT = {:#018x}", v.read(x, enc::HOST_PAT))));
    }
    if exit.contains(ExitCtls::LOAD_EFER) {
        let e = v.read(x, enc::HOST_EFER);
        let host64 = exit.contains(ExitCtls::HOST_ADDRESS_SPACE_SIZE);
        if e & !(efer::SCE | efer::LME | efer::LMA | efer::NXE) != 0 {
            return Err(fail(Host, "host.efer.reserved", "\"load IA32_EFER\"=1 requires host IA32_EFER reserved bits 0; SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(format!("host IA32_EFER = {e:#x}: reserved bits {:#x} set", e & !(efer::SCE | efer::LME | efer::LMA | efer::NXE))));
        }
        if (e & efer::LMA != 0) != host64 || (e & efer::LME != 0) != host64 {
            return Err(fail(Host, "host.efer.lma", "host IA32_EFER.LMA and .LME must equal \"host address-space size\"; SDM 27.2.2 Checks on Host Control Registers, MSRs, and SSP").with(format!("host IA32_EFER = {e:#x} (LMA = {}, LME = {}), \"host address-space size\" = {}", (e & efer::LMA != 0) as u8, (e & efer::LME != 0) as u8, host64 as u8)));
        }
    }
    Ok(())
}

/// 27.2.3 "Checks on Host Segment and Descriptor-Table Registers".
pub(crate) fn segments(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields) -> Check {
    let sels = [enc::HOST_ES_SELECTOR, enc::HOST_CS_SELECTOR, enc::HOST_SS_SELECTOR, enc::HOST_DS_SELECTOR, enc::HOST_FS_SELECTOR, enc::HOST_GS_SELECTOR, enc::HOST_TR_SELECTOR];
    for e in sels {
        if v.read(x, e) & 7 != 0 {
            return Err(fail(Host, "host.selector.rpl_ti", "host selector fields must have RPL = 0 and TI = 0; SDM 27.2.3 Checks on Host Segment and Descriptor-Table Registers").with(format!("{} = {:#06x}", host_selector_name(e), v.read(x, e))));
        }
    }
    if v.read(x, enc::HOST_CS_SELECTOR) == 0 {
        return Err(fail(Host, "host.cs.null", "host CS selector must not be 0000H; SDM 27.2.3 Checks on Host Segment and Descriptor-Table Registers").with("host CS selector = 0000H".to_string()));
    }
    if v.read(x, enc::HOST_TR_SELECTOR) == 0 {
        return Err(fail(Host, "host.tr.null", "host TR selector must not be 0000H; SDM 27.2.3 Checks on Host Segment and Descriptor-Table Registers").with("host TR selector = 0000H".to_string()));
    }
    let host64 = ExitCtls::from_bits_retain(f.exit).contains(ExitCtls::HOST_ADDRESS_SPACE_SIZE);
    if !host64 && v.read(x, enc::HOST_SS_SELECTOR) == 0 {
        return Err(fail(Host, "host.ss.null", "host SS selector must not be 0000H when \"host address-space size\"=0; SDM 27.2.3 Checks on Host Segment and Descriptor-Table Registers").with("host SS selector = 0000H, \"host address-space size\" = 0".to_string()));
    }
    for e in [enc::HOST_FS_BASE, enc::HOST_GS_BASE, enc::HOST_GDTR_BASE, enc::HOST_IDTR_BASE, enc::HOST_TR_BASE] {
        if !canonical_max(v.read(x, e)) {
            return Err(fail(Host, "host.base.canonical", "host FS, GS, GDTR, IDTR and TR base addresses must be canonical; SDM 27.2.3 Checks on Host Segment and Descriptor-Table Registers").with(format!("{} = {:#x}", host_base_name(e), v.read(x, e))));
        }
    }
    Ok(())
}

/// 27.2.4 "Checks Related to Address-Space Size".
pub(crate) fn address_space(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields) -> Check {
    let host64 = ExitCtls::from_bits_retain(f.exit).contains(ExitCtls::HOST_ADDRESS_SPACE_SIZE);
    let ia32e_guest = EntryCtls::from_bits_retain(f.entry).contains(EntryCtls::IA32E_MODE_GUEST);
    if x.cpu.state.efer & efer::LMA == 0 {
        if ia32e_guest || host64 {
            return Err(fail(Host, "host.addr_size.outside_ia32e", "outside IA-32e mode, \"IA-32e mode guest\" and \"host address-space size\" must be 0; SDM 27.2.4 Checks Related to Address-Space Size").with(format!("IA32_EFER.LMA = 0, \"IA-32e mode guest\" = {}, \"host address-space size\" = {}", ia32e_guest as u8, host64 as u8)));
        }
    } else if !host64 {
        return Err(fail(Host, "host.addr_size.ia32e", "in IA-32e mode, \"host address-space size\" must be 1; SDM 27.2.4 Checks Related to Address-Space Size").with("IA32_EFER.LMA = 1, \"host address-space size\" = 0".to_string()));
    }
    let hcr4 = v.read(x, enc::HOST_CR4);
    let rip = v.read(x, enc::HOST_RIP);
    if host64 {
        if hcr4 & cr4::PAE == 0 {
            return Err(fail(Host, "host.cr4.pae", "\"host address-space size\"=1 requires host CR4.PAE=1; SDM 27.2.4 Checks Related to Address-Space Size").with(format!("host CR4 = {hcr4:#x} (PAE = 0)")));
        }
        if !canonical(rip, hcr4 & cr4::LA57 != 0) {
            return Err(fail(Host, "host.rip.canonical", "\"host address-space size\"=1 requires a canonical host RIP; SDM 27.2.4 Checks Related to Address-Space Size").with(format!("host RIP = {rip:#x}")));
        }
    } else {
        if ia32e_guest {
            return Err(fail(Host, "host.addr_size.guest", "\"host address-space size\"=0 requires \"IA-32e mode guest\"=0; SDM 27.2.4 Checks Related to Address-Space Size").with("\"host address-space size\" = 0, \"IA-32e mode guest\" = 1".to_string()));
        }
        if hcr4 & cr4::PCIDE != 0 {
            return Err(fail(Host, "host.cr4.pcide", "\"host address-space size\"=0 requires host CR4.PCIDE=0; SDM 27.2.4 Checks Related to Address-Space Size").with(format!("host CR4 = {hcr4:#x} (PCIDE = 1)")));
        }
        if rip >> 32 != 0 {
            return Err(fail(Host, "host.rip.high", "\"host address-space size\"=0 requires host RIP bits 63:32 = 0; SDM 27.2.4 Checks Related to Address-Space Size").with(format!("host RIP = {rip:#x}")));
        }
    }
    Ok(())
}

/// The name of a host selector field, for explanations.
fn host_selector_name(e: u32) -> &'static str {
    match e {
        enc::HOST_ES_SELECTOR => "host ES selector",
        enc::HOST_CS_SELECTOR => "host CS selector",
        enc::HOST_SS_SELECTOR => "host SS selector",
        enc::HOST_DS_SELECTOR => "host DS selector",
        enc::HOST_FS_SELECTOR => "host FS selector",
        enc::HOST_GS_SELECTOR => "host GS selector",
        _ => "host TR selector",
    }
}

/// The name of a host base-address field, for explanations.
fn host_base_name(e: u32) -> &'static str {
    match e {
        enc::HOST_FS_BASE => "host FS base",
        enc::HOST_GS_BASE => "host GS base",
        enc::HOST_GDTR_BASE => "host GDTR base",
        enc::HOST_IDTR_BASE => "host IDTR base",
        _ => "host TR base",
    }
}
