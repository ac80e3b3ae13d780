//! The VMX state of one logical processor as data ([`VmxState`]), for machine snapshots
//! ([`Vmx::save`], [`Vmx::restore`], and the `hvbench_cpu::ext::Extension` methods of the
//! same names, which use its JSON form).
//!
//! It holds everything [`Vmx`] keeps outside guest memory: whether the processor is in VMX
//! operation, the VMXON pointer, the current-VMCS pointer (SDM Vol. 3C 24.11.1 "Software Use
//! of Virtual-Machine Control Structures"), the controls VM entry loaded for VMX non-root
//! operation (with the monitor-trap-flag base and the VMX-preemption timer's deadline, 26.5.1,
//! 26.5.2), the EPTP-to-TLB-tag table, a latched INIT (24.8), and the diagnostics (last
//! failure, failure-dump settings and dumps). The VMCS itself (launch state included) lives in
//! guest memory (see `vmcs.rs`) and travels with RAM; what VMX keeps in the core
//! (`Cpu::vmx_non_root`, EPT context, TLB tags, the boundary hook, IRET and NMI blocking) is
//! `hvbench_cpu::HiddenState`.

use crate::controls::{EntryCtls, ExitCtls, PinCtls, ProcCtls, ProcCtls2};
use crate::{Ctx, Vmx};
use serde::{Deserialize, Serialize};

/// The VMX state of a logical processor (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VmxState {
    /// The capability profile's name; a restore refuses another profile.
    pub profile: String,
    /// In VMX operation.
    pub in_vmx: bool,
    /// The VMXON pointer.
    pub vmxon_ptr: u64,
    /// The current-VMCS pointer (`None`: FFFFFFFF_FFFFFFFFH).
    pub current: Option<u64>,
    /// The controls of VMX non-root operation (`None` outside it).
    pub ctx: Option<CtxState>,
    /// EPTP keys by TLB tag - 1.
    pub ept_ids: Vec<u64>,
    /// The last failure explained.
    pub last_failure: Option<String>,
    /// Whether failed entries record a VMCS dump.
    pub dump_failures: bool,
    /// The dumps recorded.
    pub failure_dumps: Vec<String>,
    /// A latched INIT.
    pub init_latched: bool,
}

/// The controls in effect in VMX non-root operation (`Ctx`), control words as raw bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CtxState {
    /// The VMCS address.
    pub vmcs: u64,
    /// Pin-based, primary and secondary processor-based, VM-exit and VM-entry controls.
    pub controls: [u32; 5],
    /// Exception bitmap, #PF error-code mask and match.
    pub exception_bitmap: [u32; 3],
    /// CR0 and CR4 guest/host masks, then their read shadows.
    pub cr_masks: [u64; 4],
    /// CR3-target count.
    pub cr3_count: u32,
    /// CR3-target values.
    pub cr3_targets: [u64; 4],
    /// I/O bitmap addresses A and B.
    pub io_bitmap: [u64; 2],
    /// MSR-bitmap address.
    pub msr_bitmap: u64,
    /// TSC offset.
    pub tsc_offset: u64,
    /// VPID.
    pub vpid: u16,
    /// Monitor trap flag base (`Cpu::steps` after VM entry).
    pub mtf_base: u64,
    /// VM-function controls.
    pub vmfunc: u64,
    /// EPTP-list address.
    pub eptp_list: u64,
    /// VMX-preemption timer deadline (`Cpu::cycles >> rate`).
    pub timer_deadline: Option<u64>,
    /// The guest armed the address-range monitoring hardware.
    #[serde(default)]
    pub monitor_armed: bool,
    /// Virtual-APIC address and TPR threshold.
    #[serde(default)]
    pub tpr_shadow: (u64, u32),
    /// PLE_Gap and PLE_Window.
    #[serde(default)]
    pub ple: (u32, u32),
    /// PAUSE-loop tracking: cycles at the last PAUSE and at the first of its loop.
    #[serde(default)]
    pub ple_loop: Option<(u64, u64)>,
}

impl From<&Ctx> for CtxState {
    fn from(c: &Ctx) -> Self {
        let Ctx {
            vmcs,
            pin,
            proc,
            proc2,
            exit,
            entry,
            exception_bitmap,
            pf_mask,
            pf_match,
            cr0_mask,
            cr4_mask,
            cr0_shadow,
            cr4_shadow,
            cr3_count,
            cr3_targets,
            io_bitmap,
            msr_bitmap,
            tsc_offset,
            vpid,
            mtf_base,
            vmfunc,
            eptp_list,
            timer_deadline,
            monitor_armed,
            virtual_apic,
            tpr_threshold,
            ple_gap,
            ple_window,
            ple_loop,
        } = *c;
        Self {
            vmcs: vmcs.0,
            controls: [pin.bits(), proc.bits(), proc2.bits(), exit.bits(), entry.bits()],
            exception_bitmap: [exception_bitmap, pf_mask, pf_match],
            cr_masks: [cr0_mask, cr4_mask, cr0_shadow, cr4_shadow],
            cr3_count,
            cr3_targets,
            io_bitmap,
            msr_bitmap,
            tsc_offset,
            vpid,
            mtf_base,
            vmfunc,
            eptp_list,
            timer_deadline,
            monitor_armed,
            tpr_shadow: (virtual_apic, tpr_threshold),
            ple: (ple_gap, ple_window),
            ple_loop,
        }
    }
}

impl From<&CtxState> for Ctx {
    fn from(c: &CtxState) -> Self {
        let [pin, proc, proc2, exit, entry] = c.controls;
        Ctx {
            vmcs: crate::vmcs::Vmcs(c.vmcs),
            pin: PinCtls::from_bits_retain(pin),
            proc: ProcCtls::from_bits_retain(proc),
            proc2: ProcCtls2::from_bits_retain(proc2),
            exit: ExitCtls::from_bits_retain(exit),
            entry: EntryCtls::from_bits_retain(entry),
            exception_bitmap: c.exception_bitmap[0],
            pf_mask: c.exception_bitmap[1],
            pf_match: c.exception_bitmap[2],
            cr0_mask: c.cr_masks[0],
            cr4_mask: c.cr_masks[1],
            cr0_shadow: c.cr_masks[2],
            cr4_shadow: c.cr_masks[3],
            cr3_count: c.cr3_count,
            cr3_targets: c.cr3_targets,
            io_bitmap: c.io_bitmap,
            msr_bitmap: c.msr_bitmap,
            tsc_offset: c.tsc_offset,
            vpid: c.vpid,
            mtf_base: c.mtf_base,
            vmfunc: c.vmfunc,
            eptp_list: c.eptp_list,
            timer_deadline: c.timer_deadline,
            monitor_armed: c.monitor_armed,
            virtual_apic: c.tpr_shadow.0,
            tpr_threshold: c.tpr_shadow.1,
            ple_gap: c.ple.0,
            ple_window: c.ple.1,
            ple_loop: c.ple_loop,
        }
    }
}

/// Why a [`VmxState`] cannot be restored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The state was saved with another capability profile.
    #[error("VMX state of CPU profile '{saved}', this vCPU has '{have}'")]
    Profile {
        /// The saved profile.
        saved: String,
        /// This vCPU's.
        have: String,
    },
    /// The bytes are not a VMX state.
    #[error("malformed VMX state: {0}")]
    Malformed(String),
}

impl Vmx {
    /// The whole VMX state (see [`VmxState`]).
    pub fn save(&self) -> VmxState {
        let Vmx { profile, in_vmx, vmxon_ptr, current, ctx, ept_ids, last_failure, dump_failures, failure_dumps, init_latched } = self;
        VmxState {
            profile: profile.name.to_string(),
            in_vmx: *in_vmx,
            vmxon_ptr: *vmxon_ptr,
            current: *current,
            ctx: ctx.as_ref().map(CtxState::from),
            ept_ids: ept_ids.clone(),
            last_failure: last_failure.clone(),
            dump_failures: *dump_failures,
            failure_dumps: failure_dumps.clone(),
            init_latched: *init_latched,
        }
    }

    /// Replaces the state with `s`, which must have this profile and a tag table of at most
    /// 4095 entries; on error nothing changes.
    pub fn restore(&mut self, s: &VmxState) -> Result<(), RestoreError> {
        if s.profile != self.profile.name {
            return Err(RestoreError::Profile { saved: s.profile.clone(), have: self.profile.name.to_string() });
        }
        if s.ept_ids.len() > 4095 {
            return Err(RestoreError::Malformed(format!("{} EPTP tags (at most 4095)", s.ept_ids.len())));
        }
        self.in_vmx = s.in_vmx;
        self.vmxon_ptr = s.vmxon_ptr;
        self.current = s.current;
        self.ctx = s.ctx.as_ref().map(Ctx::from);
        self.ept_ids = s.ept_ids.clone();
        self.last_failure = s.last_failure.clone();
        self.dump_failures = s.dump_failures;
        self.failure_dumps = s.failure_dumps.clone();
        self.init_latched = s.init_latched;
        Ok(())
    }

    /// [`Vmx::save`] as bytes (JSON).
    pub fn save_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.save()).unwrap_or_default()
    }

    /// [`Vmx::restore`] from [`Vmx::save_bytes`]'s bytes.
    pub fn restore_bytes(&mut self, bytes: &[u8]) -> Result<(), RestoreError> {
        let s: VmxState = serde_json::from_slice(bytes).map_err(|e| RestoreError::Malformed(e.to_string()))?;
        self.restore(&s)
    }

}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::Profile;

    fn busy() -> Vmx {
        let mut v = Vmx::new(Profile::default_profile());
        v.in_vmx = true;
        v.vmxon_ptr = 0x30_0000;
        v.current = Some(0x30_1000);
        v.ept_ids = vec![0x50_001e, 0x60_005e];
        v.last_failure = Some("guest CR0.PG=1 requires CR0.PE=1".into());
        v.dump_failures = true;
        v.failure_dumps = vec!["dump".into()];
        v.init_latched = true;
        v.ctx = Some(Ctx {
            vmcs: crate::vmcs::Vmcs(0x30_1000),
            pin: PinCtls::from_bits_retain(0x16 | 1 << 6),
            proc: ProcCtls::from_bits_retain(0x8400_6172 | 1 << 27),
            proc2: ProcCtls2::from_bits_retain(0x22),
            exit: ExitCtls::from_bits_retain(0x0003_6dff),
            entry: EntryCtls::from_bits_retain(0x13ff),
            exception_bitmap: 0x4_0048,
            pf_mask: 2,
            pf_match: 3,
            cr0_mask: 0x8000_0001,
            cr4_mask: 0x2000,
            cr0_shadow: 0x31,
            cr4_shadow: 0x20,
            cr3_count: 2,
            cr3_targets: [1, 2, 3, 4],
            io_bitmap: [0x31_0000, 0x31_1000],
            msr_bitmap: 0x31_2000,
            tsc_offset: u64::MAX - 5,
            vpid: 7,
            mtf_base: 123_456,
            vmfunc: 1,
            eptp_list: 0x40_0000,
            timer_deadline: Some(u64::MAX >> 5),
            monitor_armed: true,
            virtual_apic: 0x31_4000,
            tpr_threshold: 3,
            ple_gap: 128,
            ple_window: 4096,
            ple_loop: Some((1000, 900)),
        });
        v
    }

    #[test]
    fn state_round_trips_through_bytes() {
        let v = busy();
        let bytes = v.save_bytes();
        let mut w = Vmx::new(Profile::default_profile());
        w.restore_bytes(&bytes).unwrap();
        assert_eq!(w.save(), v.save());
        assert_eq!(w.ctx, v.ctx, "the typed controls come back bit for bit");
        assert_eq!((w.in_vmx, w.vmxon_ptr, w.current, w.init_latched), (true, 0x30_0000, Some(0x30_1000), true));
        assert_eq!(w.known_ept_tag(0x60_005e), Some(2), "TLB tags stay the same");
        // And back to the RESET state.
        let reset = Vmx::new(Profile::default_profile());
        w.restore_bytes(&reset.save_bytes()).unwrap();
        assert_eq!(w.save(), reset.save());
        assert!(w.ctx.is_none());
    }

    #[test]
    fn restore_refuses_another_profile_and_garbage() {
        let v = busy();
        let other = Profile::NAMES.iter().copied().find(|n| *n != v.profile.name).and_then(Profile::by_name).expect("two profiles");
        let mut w = Vmx::new(other);
        let before = w.save();
        assert!(matches!(w.restore_bytes(&v.save_bytes()), Err(RestoreError::Profile { .. })));
        assert!(matches!(w.restore_bytes(b"{\"in_vmx\": 1}"), Err(RestoreError::Malformed(_))));
        let mut s = v.save();
        s.profile = w.profile.name.to_string();
        s.ept_ids = vec![0; 4096];
        assert!(matches!(w.restore(&s), Err(RestoreError::Malformed(_))));
        assert_eq!(w.save(), before, "a refused restore changes nothing");
    }
}
