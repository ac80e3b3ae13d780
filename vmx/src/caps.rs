//! The VMX capability MSRs of a CPU profile (SDM Vol. 3D Appendix A "VMX Capability Reporting
//! Facility"; MSR indices in Vol. 4 Table 2-2). A profile advertises exactly what hvbench
//! implements: every allowed-1 control bit below is honoured by VM entry, non-root operation or
//! VM exit (see `controls.rs` for the meaning of each bit).
//!
//! Profiles:
//! - `default`: a recent Intel core's shape (Ice Lake-like layout, as Bochs reports it; see
//!   /work/shared/oracles/README.md) reduced to what hvbench implements: EPT (4- and 5-level,
//!   2M/1G pages, A/D flags, execute-only), VPID with all INVVPID types, unrestricted guest,
//!   RDTSCP, "VMWRITE to any field" (MISC bit 29), VM functions with EPTP switching only
//!   (IA32_VMX_VMFUNC = 1).
//! - `no-ept`: an older core without EPT, unrestricted guest or VMWRITE to exit-information
//!   fields (VMWRITE to a read-only field is VMfailValid(13) there).
//!
//! Both profiles also offer: virtual NMIs and NMI-window exiting, the VMX-preemption timer (rate: TSC >> 5, MISC bits 4:0) with
//! "save VMX-preemption timer value", the monitor trap flag, MOV-DR exiting, MWAIT, MONITOR,
//! PAUSE and PAUSE-loop exiting, RDPMC exiting, "use TPR shadow" (CR8 virtualization and TPR
//! virtualization; no APIC-access page), descriptor-table, WBINVD, RDRAND and RDSEED exiting,
//! "enable INVPCID", and INS/OUTS exit information (IA32_VMX_BASIC bit 54).
//!
//! Not advertised (not implemented): "virtualize APIC accesses", x2APIC virtualization,
//! APIC-register virtualization, virtual-interrupt delivery, posted interrupts, VMCS
//! shadowing, PML, #VE (so no EPTP-index field), VM functions other than EPTP switching (and
//! none in `no-ept`), TSC scaling, SMM dual-monitor treatment, Intel PT in VMX.

use crate::controls::{EntryCtls, ExitCtls, PinCtls, ProcCtls, ProcCtls2};
use hvbench_mmu::ept::EptCaps;

/// Capability MSR indices (SDM Vol. 4 Table 2-2).
pub mod msr {
    /// IA32_VMX_BASIC.
    pub const BASIC: u32 = 0x480;
    /// IA32_VMX_PINBASED_CTLS.
    pub const PINBASED: u32 = 0x481;
    /// IA32_VMX_PROCBASED_CTLS.
    pub const PROCBASED: u32 = 0x482;
    /// IA32_VMX_EXIT_CTLS.
    pub const EXIT: u32 = 0x483;
    /// IA32_VMX_ENTRY_CTLS.
    pub const ENTRY: u32 = 0x484;
    /// IA32_VMX_MISC.
    pub const MISC: u32 = 0x485;
    /// IA32_VMX_CR0_FIXED0.
    pub const CR0_FIXED0: u32 = 0x486;
    /// IA32_VMX_CR0_FIXED1.
    pub const CR0_FIXED1: u32 = 0x487;
    /// IA32_VMX_CR4_FIXED0.
    pub const CR4_FIXED0: u32 = 0x488;
    /// IA32_VMX_CR4_FIXED1.
    pub const CR4_FIXED1: u32 = 0x489;
    /// IA32_VMX_VMCS_ENUM.
    pub const VMCS_ENUM: u32 = 0x48a;
    /// IA32_VMX_PROCBASED_CTLS2.
    pub const PROCBASED2: u32 = 0x48b;
    /// IA32_VMX_EPT_VPID_CAP.
    pub const EPT_VPID_CAP: u32 = 0x48c;
    /// IA32_VMX_TRUE_PINBASED_CTLS.
    pub const TRUE_PINBASED: u32 = 0x48d;
    /// IA32_VMX_TRUE_PROCBASED_CTLS.
    pub const TRUE_PROCBASED: u32 = 0x48e;
    /// IA32_VMX_TRUE_EXIT_CTLS.
    pub const TRUE_EXIT: u32 = 0x48f;
    /// IA32_VMX_TRUE_ENTRY_CTLS.
    pub const TRUE_ENTRY: u32 = 0x490;
    /// IA32_VMX_VMFUNC.
    pub const VMFUNC: u32 = 0x491;
}

/// The VMCS revision identifier of hvbench's VMCS layout (IA32_VMX_BASIC bits 30:0).
pub const VMCS_REVISION: u32 = 0x0000_4856;

/// A pair of allowed-0 / allowed-1 settings (SDM A.3-A.5: bit X of the low half = 1 means the
/// control must be 1; bit X of the high half = 0 means it must be 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    /// Bits that must be 1.
    pub must1: u32,
    /// Bits that may be 1.
    pub may1: u32,
}

impl Allowed {
    /// The MSR value: allowed-0 settings in bits 31:0, allowed-1 in 63:32.
    pub const fn msr(self) -> u64 {
        self.must1 as u64 | (self.may1 as u64) << 32
    }
    /// Whether `v` respects both halves.
    pub const fn permits(self, v: u32) -> bool {
        v & self.must1 == self.must1 && v & !self.may1 == 0
    }
}

/// One CPU profile's VMX capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile's name (`hvbench run --cpu NAME`).
    pub name: &'static str,
    /// Pin-based controls (TRUE form; the non-TRUE form adds the default1 bits).
    pub pin: Allowed,
    /// Primary processor-based controls (TRUE form).
    pub proc: Allowed,
    /// Secondary processor-based controls.
    pub proc2: Allowed,
    /// VM-exit controls (TRUE form).
    pub exit: Allowed,
    /// VM-entry controls (TRUE form).
    pub entry: Allowed,
    /// IA32_VMX_MISC.
    pub misc: u64,
    /// IA32_VMX_EPT_VPID_CAP.
    pub ept_vpid_cap: u64,
}

/// Default1 classes (SDM A.2 "Reserved Controls and Default Settings"): bits that the
/// non-TRUE MSRs report as must-be-1.
pub mod default1 {
    /// Pin-based: bits 1, 2, 4.
    pub const PIN: u32 = 0x16;
    /// Primary processor-based: bits 1, 4-6, 8, 13-16, 26.
    pub const PROC: u32 = 0x0401_e172;
    /// VM-exit: bits 0-8, 10, 11, 13, 14, 16, 17.
    pub const EXIT: u32 = 0x0003_6dff;
    /// VM-entry: bits 0-8, 12.
    pub const ENTRY: u32 = 0x0000_11ff;
}

impl Profile {
    /// The `default` profile: EPT, VPID, unrestricted guest.
    pub fn default_profile() -> Self {
        let proc2 = ProcCtls2::ENABLE_EPT | ProcCtls2::ENABLE_RDTSCP | ProcCtls2::ENABLE_VPID | ProcCtls2::UNRESTRICTED_GUEST | ProcCtls2::ENABLE_VMFUNC | COMMON2;
        // EPT_VPID_CAP bits: 0 execute-only, 6 4-level, 7 5-level, 8 UC, 14 WB, 16 2-MByte,
        // 17 1-GByte, 20 INVEPT, 21 A/D, 22 advanced EPT-violation information, 25/26
        // single-/all-context INVEPT, 32 INVVPID, 40-43 the four INVVPID types (SDM A.10).
        let ept = (1 << 0) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 14) | (1 << 16) | (1 << 17) | (1 << 20) | (1 << 21) | (1 << 22) | (1 << 25) | (1 << 26);
        Self::build("default", proc2, ept | VPID_CAPS, true)
    }

    /// The `no-ept` profile: VPID but no EPT, no unrestricted guest, no VMWRITE to read-only
    /// fields.
    pub fn no_ept() -> Self {
        Self::build("no-ept", ProcCtls2::ENABLE_RDTSCP | ProcCtls2::ENABLE_VPID | COMMON2, VPID_CAPS, false)
    }

    /// The profile called `name`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name {
            "default" => Some(Self::default_profile()),
            "no-ept" => Some(Self::no_ept()),
            _ => None,
        }
    }

    /// The names `by_name` knows.
    pub const NAMES: [&'static str; 2] = ["default", "no-ept"];

    fn build(name: &'static str, proc2: ProcCtls2, ept_vpid_cap: u64, vmwrite_any: bool) -> Self {
        let pin = PinCtls::EXTERNAL_INTERRUPT_EXITING | PinCtls::NMI_EXITING | PinCtls::VIRTUAL_NMIS | PinCtls::PREEMPTION_TIMER;
        let proc = ProcCtls::INTERRUPT_WINDOW_EXITING
            | ProcCtls::NMI_WINDOW_EXITING
            | ProcCtls::USE_TSC_OFFSETTING
            | ProcCtls::HLT_EXITING
            | ProcCtls::INVLPG_EXITING
            | ProcCtls::RDPMC_EXITING
            | ProcCtls::RDTSC_EXITING
            | ProcCtls::CR3_LOAD_EXITING
            | ProcCtls::CR3_STORE_EXITING
            | ProcCtls::CR8_LOAD_EXITING
            | ProcCtls::CR8_STORE_EXITING
            | ProcCtls::USE_TPR_SHADOW
            | ProcCtls::MOV_DR_EXITING
            | ProcCtls::UNCONDITIONAL_IO_EXITING
            | ProcCtls::USE_IO_BITMAPS
            | ProcCtls::MONITOR_TRAP_FLAG
            | ProcCtls::USE_MSR_BITMAPS
            | ProcCtls::MWAIT_EXITING
            | ProcCtls::MONITOR_EXITING
            | ProcCtls::PAUSE_EXITING
            | ProcCtls::ACTIVATE_SECONDARY_CONTROLS;
        let exit = ExitCtls::SAVE_DEBUG_CONTROLS
            | ExitCtls::HOST_ADDRESS_SPACE_SIZE
            | ExitCtls::ACK_INTERRUPT_ON_EXIT
            | ExitCtls::SAVE_PAT
            | ExitCtls::LOAD_PAT
            | ExitCtls::SAVE_EFER
            | ExitCtls::LOAD_EFER
            | ExitCtls::SAVE_PREEMPTION_TIMER;
        let entry = EntryCtls::LOAD_DEBUG_CONTROLS | EntryCtls::IA32E_MODE_GUEST | EntryCtls::LOAD_PAT | EntryCtls::LOAD_EFER;
        // MISC (SDM A.6): bit 5 (VM exits store EFER.LMA into "IA-32e mode guest", required
        // with unrestricted guest), bits 8:6 activity states HLT, shutdown, wait-for-SIPI,
        // bits 24:16 = 4 CR3-target values, bits 27:25 = 0 (512 MSRs per list), bit 29
        // VMWRITE to any supported field. Bits 4:0: the VMX-preemption timer counts down by 1
        // each time TSC bit 5 changes (every 32 TSC ticks, SDM 26.5.1).
        let misc = PREEMPTION_TIMER_RATE as u64 | (1 << 5) | (0b111 << 6) | (4 << 16) | if vmwrite_any { 1 << 29 } else { 0 };
        Self {
            name,
            pin: Allowed { must1: default1::PIN, may1: default1::PIN | pin.bits() },
            // TRUE form: CR3-load/store exiting (bits 15, 16) may be 0 (SDM A.3.2).
            proc: Allowed { must1: default1::PROC & !(ProcCtls::CR3_LOAD_EXITING | ProcCtls::CR3_STORE_EXITING).bits(), may1: default1::PROC | proc.bits() },
            proc2: Allowed { must1: 0, may1: proc2.bits() },
            // TRUE form: "save debug controls" (bit 2) may be 0 (SDM A.4).
            exit: Allowed { must1: default1::EXIT & !ExitCtls::SAVE_DEBUG_CONTROLS.bits(), may1: default1::EXIT | exit.bits() },
            // TRUE form: "load debug controls" (bit 2) may be 0 (SDM A.5).
            entry: Allowed { must1: default1::ENTRY & !EntryCtls::LOAD_DEBUG_CONTROLS.bits(), may1: default1::ENTRY | entry.bits() },
            misc,
            ept_vpid_cap,
        }
    }

    /// IA32_VMX_BASIC (SDM A.1): revision id, region size 4096 (bits 44:32), WB memory type
    /// (bits 53:50 = 6), INS/OUTS exit information (bit 54), TRUE controls available (bit 55).
    pub fn basic(&self) -> u64 {
        VMCS_REVISION as u64 | (4096u64 << 32) | (6u64 << 50) | (1u64 << 54) | (1u64 << 55)
    }

    /// IA32_VMX_MISC bits 4:0: the preemption timer ticks when TSC bit (this value) changes.
    pub fn preemption_timer_rate(&self) -> u32 {
        (self.misc & 0x1f) as u32
    }

    /// Whether a secondary control may be 1.
    pub fn has2(&self, c: ProcCtls2) -> bool {
        self.proc2.may1 & c.bits() == c.bits()
    }

    /// CR0 bits fixed to 1 in VMX operation (SDM A.7): PE, NE, PG.
    pub const CR0_FIXED0: u64 = 0x8000_0021;
    /// CR0 bits that may be 1.
    pub const CR0_FIXED1: u64 = 0xffff_ffff;
    /// CR4 bits fixed to 1 (SDM A.8): VMXE.
    pub const CR4_FIXED0: u64 = 0x2000;
    /// CR4 bits that may be 1: exactly those MOV to CR4 accepts (VME..LA57, VMXE, FSGSBASE,
    /// PCIDE, OSXSAVE, SMEP, SMAP; VME and PVI are modelled by hvbench_cpu::v8086).
    pub const CR4_FIXED1: u64 = 0x1fff | (1 << 13) | (1 << 16) | (1 << 17) | (1 << 18) | (1 << 20) | (1 << 21);

    /// IA32_VMX_VMCS_ENUM (SDM A.9): the highest index (bits 9:1) of any supported field.
    pub fn vmcs_enum(&self) -> u64 {
        let max = crate::fields::FIELDS.iter().filter(|f| f.supported(self)).map(|f| (f.enc >> 1) & 0x1ff).max().unwrap_or(0);
        (max as u64) << 1
    }

    /// The value of capability MSR `index`, if it is one.
    pub fn read(&self, index: u32) -> Option<u64> {
        use msr::*;
        let with_default1 = |a: Allowed, d: u32| Allowed { must1: a.must1 | d, may1: a.may1 }.msr();
        Some(match index {
            BASIC => self.basic(),
            PINBASED => with_default1(self.pin, default1::PIN),
            PROCBASED => with_default1(self.proc, default1::PROC),
            EXIT => with_default1(self.exit, default1::EXIT),
            ENTRY => with_default1(self.entry, default1::ENTRY),
            MISC => self.misc,
            CR0_FIXED0 => Self::CR0_FIXED0,
            CR0_FIXED1 => Self::CR0_FIXED1,
            CR4_FIXED0 => Self::CR4_FIXED0,
            CR4_FIXED1 => Self::CR4_FIXED1,
            VMCS_ENUM => self.vmcs_enum(),
            // Only when PROCBASED allowed-1 bit 31 is 1 (it is in every profile).
            PROCBASED2 => self.proc2.msr(),
            EPT_VPID_CAP => self.ept_vpid_cap,
            TRUE_PINBASED => self.pin.msr(),
            TRUE_PROCBASED => self.proc.msr(),
            TRUE_EXIT => self.exit.msr(),
            TRUE_ENTRY => self.entry.msr(),
            // A.11: only with "enable VM functions" allowed-1; bit 0 = EPTP switching.
            VMFUNC if self.has2(ProcCtls2::ENABLE_VMFUNC) => VMFUNC_EPTP_SWITCHING,
            _ => return None,
        })
    }

    /// The EPT capabilities for the MMU's walker and EPTP checks.
    pub fn ept_caps(&self) -> EptCaps {
        let c = self.ept_vpid_cap;
        let b = |n: u32| c & (1 << n) != 0;
        EptCaps {
            execute_only: b(0),
            walk4: b(6),
            walk5: b(7),
            uc: b(8),
            wb: b(14),
            page_2m: b(16),
            page_1g: b(17),
            accessed_dirty: b(21),
            advanced_exit_info: b(22),
            mbec: false,
        }
    }

    /// IA32_VMX_MISC bit 29: VMWRITE may write exit-information fields.
    pub fn vmwrite_any(&self) -> bool {
        self.misc & (1 << 29) != 0
    }

    /// The number of CR3-target values (MISC bits 24:16).
    pub fn cr3_targets(&self) -> u32 {
        ((self.misc >> 16) & 0x1ff) as u32
    }

    /// The recommended maximum MSR-list length: 512 * (N + 1), N = MISC bits 27:25.
    pub fn max_msr_list(&self) -> u32 {
        512 * (((self.misc >> 25) & 7) as u32 + 1)
    }
}

/// Secondary controls of every profile: descriptor-table, WBINVD, PAUSE-loop, RDRAND and
/// RDSEED exiting, enable INVPCID.
const COMMON2: ProcCtls2 = ProcCtls2::DESCRIPTOR_TABLE_EXITING.union(ProcCtls2::WBINVD_EXITING).union(ProcCtls2::PAUSE_LOOP_EXITING).union(ProcCtls2::RDRAND_EXITING).union(ProcCtls2::RDSEED_EXITING).union(ProcCtls2::ENABLE_INVPCID);

/// IA32_VMX_VMFUNC (SDM A.11): bit 0, EPTP switching (VM function 0), the only one offered.
pub const VMFUNC_EPTP_SWITCHING: u64 = 1;

/// IA32_VMX_MISC bits 4:0 of every profile.
pub const PREEMPTION_TIMER_RATE: u32 = 5;

/// INVVPID supported (bit 32) with individual-address, single-context, all-context and
/// single-context-retaining-globals types (bits 40-43).
const VPID_CAPS: u64 = (1 << 32) | (0xf << 40);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_self_consistent() {
        for p in Profile::NAMES.iter().filter_map(|n| Profile::by_name(n)) {
            // Every must-be-1 bit may be 1 (SDM A.3: allowed-0 = 1 implies allowed-1 = 1).
            for a in [p.pin, p.proc, p.proc2, p.exit, p.entry] {
                assert_eq!(a.must1 & !a.may1, 0, "{}", p.name);
            }
            // TRUE MSRs report a subset of the default1 bits as must-be-1 (SDM A.2).
            assert_eq!(p.read(msr::TRUE_PROCBASED).unwrap() as u32 & !default1::PROC, 0);
            // Unrestricted guest requires EPT (SDM 27.2.1.1); MISC bit 5 with unrestricted guest (A.6).
            if p.has2(ProcCtls2::UNRESTRICTED_GUEST) {
                assert!(p.has2(ProcCtls2::ENABLE_EPT));
                assert_ne!(p.misc & (1 << 5), 0);
            }
            // EPT capability bits only with EPT; INVEPT types only with INVEPT.
            assert_eq!(p.has2(ProcCtls2::ENABLE_EPT), p.ept_vpid_cap & 0xffff_ffff != 0, "{}", p.name);
            assert_eq!(p.has2(ProcCtls2::ENABLE_VPID), p.ept_vpid_cap & (1 << 32) != 0);
            // IA32_VMX_VMFUNC exists iff "enable VM functions" may be 1 (A.11); EPTP switching
            // needs EPT (27.2.1.1).
            assert_eq!(p.read(msr::VMFUNC).is_some(), p.has2(ProcCtls2::ENABLE_VMFUNC));
            if p.has2(ProcCtls2::ENABLE_VMFUNC) {
                assert!(p.has2(ProcCtls2::ENABLE_EPT));
            }
            // The instruction-exiting controls, PAUSE-loop exiting (secondary bit 10) and
            // "enable INVPCID" in every profile; none of the APIC-virtualization controls
            // (secondary bits 0, 4, 8, 9; pin bit 7) that need more than the TPR shadow.
            let p2 = ProcCtls2::DESCRIPTOR_TABLE_EXITING | ProcCtls2::WBINVD_EXITING | ProcCtls2::PAUSE_LOOP_EXITING | ProcCtls2::RDRAND_EXITING | ProcCtls2::RDSEED_EXITING | ProcCtls2::ENABLE_INVPCID;
            assert!(p.has2(p2), "{}", p.name);
            assert_eq!(p.proc2.may1 & (1 << 0 | 1 << 4 | 1 << 8 | 1 << 9), 0);
            assert_eq!(p.pin.may1 & (1 << 7), 0);
            // RDPMC exiting (bit 11) and "use TPR shadow" (bit 21) with CR8-load/store exiting.
            let p1 = (ProcCtls::MWAIT_EXITING | ProcCtls::MONITOR_EXITING | ProcCtls::PAUSE_EXITING | ProcCtls::RDPMC_EXITING | ProcCtls::USE_TPR_SHADOW | ProcCtls::CR8_LOAD_EXITING | ProcCtls::CR8_STORE_EXITING).bits();
            assert_eq!(p.read(msr::TRUE_PROCBASED).unwrap() >> 32 & p1 as u64, p1 as u64);
            let basic = p.basic();
            assert_eq!(basic & (1 << 31), 0, "revision id bit 31 is 0");
            assert_eq!((basic >> 32) & 0x1fff, 4096);
            assert_eq!((basic >> 50) & 0xf, 6);
        }
        let d = Profile::default_profile();
        assert_eq!(d.read(msr::PROCBASED).unwrap() as u32, default1::PROC);
        assert_eq!(d.read(msr::TRUE_PROCBASED).unwrap() as u32, 0x0400_6172);
        assert_eq!(d.read(msr::TRUE_EXIT).unwrap() as u32, 0x0003_6dfb);
        assert_eq!(d.read(msr::TRUE_ENTRY).unwrap() as u32, 0x0000_11fb);
    }
}
