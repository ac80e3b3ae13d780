//! SDM 27.2.1 "Checks on VMX Controls": 27.2.1.1 "VM-Execution Control Fields", 27.2.1.2
//! "VM-Exit Control Fields", 27.2.1.3 "VM-Entry Control Fields". Failures: VMfailValid(7).

use super::{fail, fits, Area::Controls, Check, EntryFields};
use crate::caps::Profile;
use crate::controls::{intr, EntryCtls, PinCtls, ProcCtls, ProcCtls2};
use crate::fields::enc;
use crate::vmcs::Vmcs;
use hvbench_cpu::Exec;

/// 27.2.1.1 "Checks on VM-Execution Control Fields".
pub(crate) fn execution(x: &mut Exec<'_>, v: Vmcs, p: &Profile, f: &EntryFields) -> Check {
    if !p.pin.permits(f.pin) {
        return Err(fail(Controls, "ctl.pin.allowed", "pin-based VM-execution controls violate IA32_VMX_TRUE_PINBASED_CTLS allowed-0/allowed-1 settings; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(super::allowed_values("pin-based VM-execution controls", f.pin, p.pin.must1, p.pin.may1)));
    }
    if !p.proc.permits(f.proc) {
        return Err(fail(Controls, "ctl.proc.allowed", "primary processor-based VM-execution controls violate IA32_VMX_TRUE_PROCBASED_CTLS; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(super::allowed_values("primary processor-based VM-execution controls", f.proc, p.proc.must1, p.proc.may1)));
    }
    if !p.proc2.permits(f.proc2) {
        return Err(fail(Controls, "ctl.proc2.allowed", "secondary processor-based VM-execution controls violate IA32_VMX_PROCBASED_CTLS2; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(super::allowed_values("secondary processor-based VM-execution controls", f.proc2, p.proc2.must1, p.proc2.may1)));
    }
    let count = v.read(x, enc::CR3_TARGET_COUNT);
    if count > p.cr3_targets() as u64 {
        return Err(fail(Controls, "ctl.cr3_target_count", "CR3-target count > IA32_VMX_MISC bits 24:16; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("CR3-target count = {count}, at most {} allowed", p.cr3_targets())));
    }
    let maxphy = x.cpu.config.maxphyaddr;
    let proc = ProcCtls::from_bits_retain(f.proc);
    if proc.contains(ProcCtls::USE_IO_BITMAPS) {
        for e in [enc::IO_BITMAP_A, enc::IO_BITMAP_B] {
            let a = v.read(x, e);
            if a & 0xfff != 0 || !fits(a, maxphy) {
                return Err(fail(Controls, "ctl.io_bitmap", "\"use I/O bitmaps\"=1 requires I/O-bitmap addresses 4-KByte aligned and within MAXPHYADDR; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("I/O-bitmap {} address = {a:#x} (MAXPHYADDR = {maxphy})", if e == enc::IO_BITMAP_A { "A" } else { "B" })));
            }
        }
    }
    if proc.contains(ProcCtls::USE_MSR_BITMAPS) {
        let a = v.read(x, enc::MSR_BITMAP);
        if a & 0xfff != 0 || !fits(a, maxphy) {
            return Err(fail(Controls, "ctl.msr_bitmap", "\"use MSR bitmaps\"=1 requires the MSR-bitmap address 4-KByte aligned and within MAXPHYADDR; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("MSR-bitmap address = {a:#x} (MAXPHYADDR = {maxphy})")));
        }
    }
    if proc.contains(ProcCtls::USE_TPR_SHADOW) {
        tpr_shadow(x, v, maxphy)?;
    }
    let pin = PinCtls::from_bits_retain(f.pin);
    if !pin.contains(PinCtls::NMI_EXITING) && pin.contains(PinCtls::VIRTUAL_NMIS) {
        return Err(fail(Controls, "ctl.virtual_nmis", "\"NMI exiting\"=0 requires \"virtual NMIs\"=0; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("pin-based controls = {:#010x}: \"NMI exiting\" (bit 3) = 0, \"virtual NMIs\" (bit 5) = 1", f.pin)));
    }
    if !pin.contains(PinCtls::VIRTUAL_NMIS) && proc.contains(ProcCtls::NMI_WINDOW_EXITING) {
        return Err(fail(Controls, "ctl.nmi_window", "\"virtual NMIs\"=0 requires \"NMI-window exiting\"=0; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("pin-based controls = {:#010x} (\"virtual NMIs\" = 0), primary processor-based controls = {:#010x} (\"NMI-window exiting\", bit 22, = 1)", f.pin, f.proc)));
    }
    let proc2 = ProcCtls2::from_bits_retain(f.proc2);
    if proc2.contains(ProcCtls2::ENABLE_VPID) && v.read(x, enc::VPID) == 0 {
        return Err(fail(Controls, "ctl.vpid_zero", "\"enable VPID\"=1 requires VPID != 0000H; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with("VPID = 0000H".to_string()));
    }
    if proc2.contains(ProcCtls2::ENABLE_EPT) {
        let eptp = hvbench_mmu::ept::EptPointer(v.read(x, enc::EPT_POINTER));
        if eptp.validate(&p.ept_caps(), maxphy).is_err() {
            return Err(fail(Controls, "ctl.eptp", "\"enable EPT\"=1 requires a valid EPTP (memory type, page-walk length, A/D bit, reserved bits 11:7 and 63:MAXPHYADDR); SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("EPT pointer = {:#x}: {}", eptp.0, eptp.validate(&p.ept_caps(), maxphy).err().map(|e| e.to_string()).unwrap_or_default())));
        }
    }
    if proc2.contains(ProcCtls2::ENABLE_VMFUNC) {
        let ctl = v.read(x, enc::VMFUNC_CONTROLS);
        if ctl & !p.read(crate::caps::msr::VMFUNC).unwrap_or(0) != 0 {
            return Err(fail(Controls, "ctl.vmfunc.allowed", "VM-function controls may set only the bits IA32_VMX_VMFUNC allows; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("VM-function controls = {ctl:#x}, IA32_VMX_VMFUNC = {:#x}: bits {:#x} not allowed", p.read(crate::caps::msr::VMFUNC).unwrap_or(0), ctl & !p.read(crate::caps::msr::VMFUNC).unwrap_or(0))));
        }
        if ctl & crate::caps::VMFUNC_EPTP_SWITCHING != 0 {
            if !proc2.contains(ProcCtls2::ENABLE_EPT) {
                return Err(fail(Controls, "ctl.vmfunc.eptp_switching_without_ept", "\"EPTP switching\" VM-function control=1 requires \"enable EPT\"=1; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("VM-function controls = {ctl:#x}, secondary processor-based controls = {:#010x} (\"enable EPT\" = 0)", f.proc2)));
            }
            let a = v.read(x, enc::EPTP_LIST_ADDRESS);
            if a & 0xfff != 0 || !fits(a, maxphy) {
                return Err(fail(Controls, "ctl.vmfunc.eptp_list", "\"EPTP switching\" requires the EPTP-list address 4-KByte aligned and within MAXPHYADDR; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("EPTP-list address = {a:#x} (MAXPHYADDR = {maxphy})")));
            }
        }
    }
    if proc2.contains(ProcCtls2::UNRESTRICTED_GUEST) && !proc2.contains(ProcCtls2::ENABLE_EPT) {
        return Err(fail(Controls, "ctl.unrestricted_without_ept", "\"unrestricted guest\"=1 requires \"enable EPT\"=1; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("secondary processor-based controls = {:#010x}: \"unrestricted guest\" (bit 7) = 1, \"enable EPT\" (bit 1) = 0", f.proc2)));
    }
    Ok(())
}

/// The checks of 27.2.1.1 with "use TPR shadow" = 1: the virtual-APIC address 4-KByte aligned
/// and within MAXPHYADDR; with "virtual-interrupt delivery" = 0 (never offered), TPR threshold
/// bits 31:4 zero; with "virtualize APIC accesses" = 0 as well (never offered), TPR threshold
/// bits 3:0 not above VTPR bits 7:4 (VTPR: byte 80H of the virtual-APIC page, read by
/// physical address, 30.1.1).
fn tpr_shadow(x: &mut Exec<'_>, v: Vmcs, maxphy: u8) -> Check {
    let a = v.read(x, enc::VIRTUAL_APIC_ADDRESS);
    if a & 0xfff != 0 || !fits(a, maxphy) {
        return Err(fail(Controls, "ctl.virtual_apic_address", "\"use TPR shadow\"=1 requires the virtual-APIC address 4-KByte aligned and within MAXPHYADDR; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("virtual-APIC address = {a:#x} (MAXPHYADDR = {maxphy})")));
    }
    let t = v.read(x, enc::TPR_THRESHOLD) as u32;
    if t >> 4 != 0 {
        return Err(fail(Controls, "ctl.tpr_threshold_reserved", "\"use TPR shadow\"=1 and \"virtual-interrupt delivery\"=0 require TPR threshold bits 31:4 = 0; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("TPR threshold = {t:#x}")));
    }
    let vtpr = x.read_phys(hvbench_mmu::PhysAddr(a + 0x80), 1) as u32;
    if t & 0xf > vtpr >> 4 {
        return Err(fail(Controls, "ctl.tpr_threshold_vtpr", "\"use TPR shadow\"=1 with \"virtualize APIC accesses\"=0 and \"virtual-interrupt delivery\"=0 requires TPR threshold bits 3:0 <= VTPR bits 7:4; SDM 27.2.1.1 Checks on VM-Execution Control Fields").with(format!("TPR threshold = {t:#x}, VTPR (virtual-APIC page {a:#x} + 80H) = {vtpr:#04x}")));
    }
    Ok(())
}

/// 27.2.1.2 "Checks on VM-Exit Control Fields".
pub(crate) fn exit(x: &mut Exec<'_>, v: Vmcs, p: &Profile, f: &EntryFields) -> Check {
    if !p.exit.permits(f.exit) {
        return Err(fail(Controls, "ctl.exit.allowed", "VM-exit controls violate IA32_VMX_TRUE_EXIT_CTLS; SDM 27.2.1.2 Checks on VM-Exit Control Fields").with(super::allowed_values("VM-exit controls", f.exit, p.exit.must1, p.exit.may1)));
    }
    if f.exit & crate::controls::ExitCtls::SAVE_PREEMPTION_TIMER.bits() != 0 && !PinCtls::from_bits_retain(f.pin).contains(PinCtls::PREEMPTION_TIMER) {
        return Err(fail(Controls, "ctl.exit.save_timer", "\"activate VMX-preemption timer\"=0 requires \"save VMX-preemption timer value\"=0; SDM 27.2.1.2 Checks on VM-Exit Control Fields").with(format!("VM-exit controls = {:#010x} (\"save VMX-preemption timer value\", bit 22, = 1), pin-based controls = {:#010x} (\"activate VMX-preemption timer\", bit 6, = 0)", f.exit, f.pin)));
    }
    let maxphy = x.cpu.config.maxphyaddr;
    for (count, addr) in [(enc::EXIT_MSR_STORE_COUNT, enc::EXIT_MSR_STORE_ADDR), (enc::EXIT_MSR_LOAD_COUNT, enc::EXIT_MSR_LOAD_ADDR)] {
        let n = v.read(x, count);
        let a = v.read(x, addr);
        if n != 0 && (a & 0xf != 0 || !fits(a, maxphy) || !fits(a.wrapping_add(n * 16 - 1), maxphy)) {
            return Err(fail(Controls, "ctl.exit.msr_area", "a non-zero VM-exit MSR-store/load count requires the area address 16-byte aligned with the whole area within MAXPHYADDR; SDM 27.2.1.2 Checks on VM-Exit Control Fields").with(format!("{} count = {n}, address = {a:#x} (MAXPHYADDR = {maxphy})", if count == enc::EXIT_MSR_STORE_COUNT { "VM-exit MSR-store" } else { "VM-exit MSR-load" })));
        }
    }
    Ok(())
}

/// 27.2.1.3 "Checks on VM-Entry Control Fields" (with the event-injection rules).
pub(crate) fn entry(x: &mut Exec<'_>, v: Vmcs, p: &Profile, f: &EntryFields) -> Check {
    if !p.entry.permits(f.entry) {
        return Err(fail(Controls, "ctl.entry.allowed", "VM-entry controls violate IA32_VMX_TRUE_ENTRY_CTLS; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(super::allowed_values("VM-entry controls", f.entry, p.entry.must1, p.entry.may1)));
    }
    let info = v.read(x, enc::ENTRY_INTERRUPTION_INFO) as u32;
    if info & intr::VALID != 0 {
        let kind = (info >> intr::TYPE_SHIFT) & 7;
        let vector = info & intr::VECTOR;
        let mtf = p.proc.may1 & ProcCtls::MONITOR_TRAP_FLAG.bits() != 0;
        if kind == 1 || (kind == intr::OTHER && !mtf) {
            return Err(fail(Controls, "ctl.entry.intr_type", "VM-entry interruption type 1 is reserved, and 7 (other event) needs \"monitor trap flag\" support; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry interruption information = {info:#010x}: type {kind}")));
        }
        if kind == intr::OTHER && vector != 0 {
            return Err(fail(Controls, "ctl.entry.other_vector", "interruption type other event requires vector 0 (pending MTF VM exit); SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry interruption information = {info:#010x}: type 7 (other event) with vector {vector}")));
        }
        if kind == intr::NMI && vector != 2 {
            return Err(fail(Controls, "ctl.entry.nmi_vector", "interruption type NMI requires vector 2; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry interruption information = {info:#010x}: type 2 (NMI) with vector {vector}")));
        }
        if kind == intr::HARDWARE_EXCEPTION && vector > 31 {
            return Err(fail(Controls, "ctl.entry.exception_vector", "interruption type hardware exception requires vector <= 31; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry interruption information = {info:#010x}: type 3 (hardware exception) with vector {vector}")));
        }
        let guest_pe = v.read(x, enc::GUEST_CR0) & 1 != 0;
        let unrestricted = ProcCtls2::from_bits_retain(f.proc2).contains(ProcCtls2::UNRESTRICTED_GUEST);
        let wants_code = kind == intr::HARDWARE_EXCEPTION && matches!(vector, 8 | 10 | 11 | 12 | 13 | 14 | 17) && (guest_pe || !unrestricted);
        if (info & intr::ERROR_CODE != 0) != wants_code {
            return Err(fail(Controls, "ctl.entry.deliver_error_code", "deliver-error-code (bit 11) must be 1 iff the type is hardware exception with vector 8, 10-14 or 17 (and guest CR0.PE=1 with unrestricted guest); SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry interruption information = {info:#010x}: type {kind}, vector {vector}, deliver-error-code = {} (guest CR0.PE = {}, \"unrestricted guest\" = {}), should be {}", (info >> 11) & 1, guest_pe as u8, unrestricted as u8, wants_code as u8)));
        }
        if info & 0x7fff_f000 != 0 {
            return Err(fail(Controls, "ctl.entry.intr_reserved", "VM-entry interruption-information bits 30:12 must be 0; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry interruption information = {info:#010x}: bits 30:12 = {:#x}", (info >> 12) & 0x7_ffff)));
        }
        if info & intr::ERROR_CODE != 0 && v.read(x, enc::ENTRY_EXCEPTION_ERROR_CODE) >> 16 != 0 {
            return Err(fail(Controls, "ctl.entry.error_code", "VM-entry exception error code bits 31:16 must be 0; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry exception error code = {:#x}", v.read(x, enc::ENTRY_EXCEPTION_ERROR_CODE))));
        }
        if matches!(kind, intr::SOFTWARE_INTERRUPT | intr::PRIVILEGED_SOFTWARE_EXCEPTION | intr::SOFTWARE_EXCEPTION) {
            let len = v.read(x, enc::ENTRY_INSTRUCTION_LENGTH);
            if !(1..=15).contains(&len) {
                return Err(fail(Controls, "ctl.entry.instruction_length", "software interrupt/exception injection requires a VM-entry instruction length of 1-15; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry instruction length = {len} (interruption type {kind})")));
            }
        }
    }
    let n = v.read(x, enc::ENTRY_MSR_LOAD_COUNT);
    let a = v.read(x, enc::ENTRY_MSR_LOAD_ADDR);
    let maxphy = x.cpu.config.maxphyaddr;
    if n != 0 && (a & 0xf != 0 || !fits(a, maxphy) || !fits(a.wrapping_add(n * 16 - 1), maxphy)) {
        return Err(fail(Controls, "ctl.entry.msr_area", "a non-zero VM-entry MSR-load count requires the area 16-byte aligned and within MAXPHYADDR; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry MSR-load count = {n}, address = {a:#x} (MAXPHYADDR = {maxphy})")));
    }
    if EntryCtls::from_bits_retain(f.entry).contains(EntryCtls::ENTRY_TO_SMM) {
        return Err(fail(Controls, "ctl.entry.smm", "\"entry to SMM\" must be 0 outside SMM; SDM 27.2.1.3 Checks on VM-Entry Control Fields").with(format!("VM-entry controls = {:#010x}: \"entry to SMM\" (bit 10) = 1", f.entry)));
    }
    Ok(())
}
