//! VMFUNC and VM function 0, EPTP switching (SDM Vol. 3C 25.6.14 "VM-Function Controls", 26.5.6
//! "VM Functions" with 26.5.6.3 "EPTP Switching"; the VMFUNC page of chapter 31 "VMX
//! Instruction Reference"; exit reason 59, Appendix C).
//!
//! VMFUNC is #UD outside VMX non-root operation, when "enable VM functions" is 0 and when
//! EAX >= 64 (the VMFUNC page's exceptions; 26.5.6). EAX selects the function: a function
//! whose VM-function control bit is 0 exits (reason 59). EPTP switching: ECX >= 512, or an EPTP-list entry that would fail the VM-entry EPTP
//! checks (27.2.1.1), exits; otherwise the entry becomes the EPT pointer (the VMCS field is
//! written) and translations continue under it. No #VE, so no EPTP-index field.

use crate::controls::ProcCtls2;
use crate::exit::{reason, ExitInfo};
use crate::fields::enc;
use crate::Vmx;
use hvbench_cpu::exception::{Fault, Result};
use hvbench_cpu::{Exception, Exec};
use hvbench_mmu::ept::{EptContext, EptPointer};
use hvbench_mmu::PhysAddr;
use iced_x86::Instruction;

/// VM function 0.
const EPTP_SWITCHING: u32 = 0;
/// Entries in the EPTP list (one 4-KByte page of 8-byte EPTPs).
const EPTP_LIST_ENTRIES: u64 = 512;

/// Executes VMFUNC.
pub(crate) fn vmfunc(vmx: &mut Vmx, x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let Some(c) = vmx.ctx.filter(|_| x.cpu.vmx_non_root) else {
        return Err(Exception::ud().into());
    };
    let function = x.cpu.state.gpr[0] as u32;
    if !c.proc2.contains(ProcCtls2::ENABLE_VMFUNC) || function >= 64 {
        return Err(Exception::ud().into());
    }
    let len = i.len() as u32;
    let fail = |vmx: &mut Vmx, x: &mut Exec<'_>| -> Result<()> {
        vmx.vm_exit(x, ExitInfo { instruction_len: len, ..ExitInfo::new(reason::VMFUNC, 0) });
        Err(Fault::Diverted)
    };
    // (VM entry let only the bits of IA32_VMX_VMFUNC through: EPTP switching.)
    if c.vmfunc & (1u64 << function) == 0 || function != EPTP_SWITCHING {
        return fail(vmx, x);
    }
    let index = x.cpu.state.gpr[1] as u32 as u64;
    if index >= EPTP_LIST_ENTRIES {
        return fail(vmx, x);
    }
    let eptp = x.read_phys(PhysAddr(c.eptp_list.wrapping_add(8 * index)), 8);
    let maxphy = x.cpu.config.maxphyaddr;
    if EptPointer(eptp).validate(&vmx.profile.ept_caps(), maxphy).is_err() {
        return fail(vmx, x);
    }
    // 26.5.6.3: the EPT-pointer field becomes the list entry; later accesses use it.
    c.vmcs.write(x, enc::EPT_POINTER, eptp);
    x.cpu.tlb_ept = vmx.ept_tag(x, eptp);
    x.cpu.ept = Some(EptContext { eptp: EptPointer(eptp), caps: vmx.profile.ept_caps(), mbec: false, maxphyaddr: maxphy });
    x.cpu.state_replaced();
    Ok(())
}
