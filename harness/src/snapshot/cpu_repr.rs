//! Serializable mirrors of the CPU crate's state types (`CpuState` and what it holds), so
//! that snapshot files need no serde support in `hvbench-cpu`. The conversions destructure
//! every struct without `..`: a field added to a CPU type stops this file from compiling
//! until the snapshot format carries it too.

use hvbench_cpu::segment::{DescTable, Segment};
use hvbench_cpu::state::{Activity, CpuState, FpuState, MsrState};
use hvbench_cpu::HiddenState;
use hvbench_mmu::ept::{EptCaps, EptContext, EptPointer};
use serde::{Deserialize, Serialize};

/// [`Segment`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SegmentRepr {
    selector: u16,
    base: u64,
    limit: u32,
    attr: u32,
}

impl From<Segment> for SegmentRepr {
    fn from(s: Segment) -> Self {
        let Segment { selector, base, limit, attr } = s;
        Self { selector, base, limit, attr }
    }
}

impl From<SegmentRepr> for Segment {
    fn from(s: SegmentRepr) -> Self {
        Segment { selector: s.selector, base: s.base, limit: s.limit, attr: s.attr }
    }
}

/// [`DescTable`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct DescTableRepr {
    base: u64,
    limit: u16,
}

impl From<DescTable> for DescTableRepr {
    fn from(t: DescTable) -> Self {
        let DescTable { base, limit } = t;
        Self { base, limit }
    }
}

impl From<DescTableRepr> for DescTable {
    fn from(t: DescTableRepr) -> Self {
        DescTable { base: t.base, limit: t.limit }
    }
}

/// A 128-bit register as (low, high) 64-bit halves (JSON numbers stay within u64).
type U128Repr = [u64; 2];

fn split(v: u128) -> U128Repr {
    [v as u64, (v >> 64) as u64]
}

fn join(v: U128Repr) -> u128 {
    u128::from(v[0]) | (u128::from(v[1]) << 64)
}

/// [`FpuState`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FpuRepr {
    fcw: u16,
    fsw: u16,
    ftw: u8,
    fop: u16,
    fip: u64,
    fdp: u64,
    st: [U128Repr; 8],
}

impl From<FpuState> for FpuRepr {
    fn from(f: FpuState) -> Self {
        let FpuState { fcw, fsw, ftw, fop, fip, fdp, st } = f;
        Self { fcw, fsw, ftw, fop, fip, fdp, st: st.map(split) }
    }
}

impl From<FpuRepr> for FpuState {
    fn from(f: FpuRepr) -> Self {
        FpuState { fcw: f.fcw, fsw: f.fsw, ftw: f.ftw, fop: f.fop, fip: f.fip, fdp: f.fdp, st: f.st.map(join) }
    }
}

/// [`MsrState`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MsrRepr {
    kernel_gs_base: u64,
    star: u64,
    lstar: u64,
    cstar: u64,
    sfmask: u64,
    sysenter_cs: u64,
    sysenter_esp: u64,
    sysenter_eip: u64,
    pat: u64,
    apic_base: u64,
    tsc_aux: u64,
    tsc_adjust: u64,
    misc_enable: u64,
    feature_control: u64,
    mtrr_def_type: u64,
    mtrr_fixed: [u64; 11],
    mtrr_var: [u64; 16],
    debugctl: u64,
    spec_ctrl: u64,
    tsc_deadline: u64,
    bios_sign_id: u64,
}

impl From<MsrState> for MsrRepr {
    fn from(m: MsrState) -> Self {
        let MsrState {
            kernel_gs_base,
            star,
            lstar,
            cstar,
            sfmask,
            sysenter_cs,
            sysenter_esp,
            sysenter_eip,
            pat,
            apic_base,
            tsc_aux,
            tsc_adjust,
            misc_enable,
            feature_control,
            mtrr_def_type,
            mtrr_fixed,
            mtrr_var,
            debugctl,
            spec_ctrl,
            tsc_deadline,
            bios_sign_id,
        } = m;
        Self {
            kernel_gs_base,
            star,
            lstar,
            cstar,
            sfmask,
            sysenter_cs,
            sysenter_esp,
            sysenter_eip,
            pat,
            apic_base,
            tsc_aux,
            tsc_adjust,
            misc_enable,
            feature_control,
            mtrr_def_type,
            mtrr_fixed,
            mtrr_var,
            debugctl,
            spec_ctrl,
            tsc_deadline,
            bios_sign_id,
        }
    }
}

impl From<MsrRepr> for MsrState {
    fn from(m: MsrRepr) -> Self {
        MsrState {
            kernel_gs_base: m.kernel_gs_base,
            star: m.star,
            lstar: m.lstar,
            cstar: m.cstar,
            sfmask: m.sfmask,
            sysenter_cs: m.sysenter_cs,
            sysenter_esp: m.sysenter_esp,
            sysenter_eip: m.sysenter_eip,
            pat: m.pat,
            apic_base: m.apic_base,
            tsc_aux: m.tsc_aux,
            tsc_adjust: m.tsc_adjust,
            misc_enable: m.misc_enable,
            feature_control: m.feature_control,
            mtrr_def_type: m.mtrr_def_type,
            mtrr_fixed: m.mtrr_fixed,
            mtrr_var: m.mtrr_var,
            debugctl: m.debugctl,
            spec_ctrl: m.spec_ctrl,
            tsc_deadline: m.tsc_deadline,
            bios_sign_id: m.bios_sign_id,
        }
    }
}

/// [`Activity`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum ActivityRepr {
    /// Executing.
    Active,
    /// HLT.
    Halted,
    /// Shutdown.
    Shutdown,
    /// Wait-for-SIPI.
    WaitForSipi,
}

impl From<Activity> for ActivityRepr {
    fn from(a: Activity) -> Self {
        match a {
            Activity::Active => Self::Active,
            Activity::Halted => Self::Halted,
            Activity::Shutdown => Self::Shutdown,
            Activity::WaitForSipi => Self::WaitForSipi,
        }
    }
}

impl From<ActivityRepr> for Activity {
    fn from(a: ActivityRepr) -> Self {
        match a {
            ActivityRepr::Active => Self::Active,
            ActivityRepr::Halted => Self::Halted,
            ActivityRepr::Shutdown => Self::Shutdown,
            ActivityRepr::WaitForSipi => Self::WaitForSipi,
        }
    }
}

/// [`CpuState`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuStateRepr {
    gpr: [u64; 16],
    rip: u64,
    rflags: u64,
    seg: [SegmentRepr; 6],
    ldtr: SegmentRepr,
    tr: SegmentRepr,
    gdtr: DescTableRepr,
    idtr: DescTableRepr,
    cr0: u64,
    cr2: u64,
    cr3: u64,
    cr4: u64,
    cr8: u64,
    xcr0: u64,
    dr: [u64; 8],
    efer: u64,
    msr: MsrRepr,
    xmm: [U128Repr; 16],
    mxcsr: u32,
    fpu: FpuRepr,
    cpl: u8,
    activity: ActivityRepr,
    shadow: u8,
    nmi_blocked: bool,
    tsc_offset: u64,
}

impl From<&CpuState> for CpuStateRepr {
    fn from(s: &CpuState) -> Self {
        let CpuState {
            gpr,
            rip,
            rflags,
            seg,
            ldtr,
            tr,
            gdtr,
            idtr,
            cr0,
            cr2,
            cr3,
            cr4,
            cr8,
            xcr0,
            dr,
            efer,
            msr,
            xmm,
            mxcsr,
            fpu,
            cpl,
            activity,
            shadow,
            nmi_blocked,
            tsc_offset,
        } = s.clone();
        Self {
            gpr,
            rip,
            rflags,
            seg: seg.map(Into::into),
            ldtr: ldtr.into(),
            tr: tr.into(),
            gdtr: gdtr.into(),
            idtr: idtr.into(),
            cr0,
            cr2,
            cr3,
            cr4,
            cr8,
            xcr0,
            dr,
            efer,
            msr: msr.into(),
            xmm: xmm.map(split),
            mxcsr,
            fpu: fpu.into(),
            cpl,
            activity: activity.into(),
            shadow,
            nmi_blocked,
            tsc_offset,
        }
    }
}

impl From<CpuStateRepr> for CpuState {
    fn from(s: CpuStateRepr) -> Self {
        CpuState {
            gpr: s.gpr,
            rip: s.rip,
            rflags: s.rflags,
            seg: s.seg.map(Into::into),
            ldtr: s.ldtr.into(),
            tr: s.tr.into(),
            gdtr: s.gdtr.into(),
            idtr: s.idtr.into(),
            cr0: s.cr0,
            cr2: s.cr2,
            cr3: s.cr3,
            cr4: s.cr4,
            cr8: s.cr8,
            xcr0: s.xcr0,
            dr: s.dr,
            efer: s.efer,
            msr: s.msr.into(),
            xmm: s.xmm.map(join),
            mxcsr: s.mxcsr,
            fpu: s.fpu.into(),
            cpl: s.cpl,
            activity: s.activity.into(),
            shadow: s.shadow,
            nmi_blocked: s.nmi_blocked,
            tsc_offset: s.tsc_offset,
        }
    }
}

/// [`EptCaps`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EptCapsRepr {
    execute_only: bool,
    walk4: bool,
    walk5: bool,
    uc: bool,
    wb: bool,
    page_2m: bool,
    page_1g: bool,
    accessed_dirty: bool,
    advanced_exit_info: bool,
    mbec: bool,
}

/// [`EptContext`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EptContextRepr {
    eptp: u64,
    caps: EptCapsRepr,
    mbec: bool,
    maxphyaddr: u8,
}

impl From<EptContext> for EptContextRepr {
    fn from(e: EptContext) -> Self {
        let EptContext { eptp, caps, mbec, maxphyaddr } = e;
        let EptCaps { execute_only, walk4, walk5, uc, wb, page_2m, page_1g, accessed_dirty, advanced_exit_info, mbec: caps_mbec } = caps;
        Self {
            eptp: eptp.0,
            caps: EptCapsRepr { execute_only, walk4, walk5, uc, wb, page_2m, page_1g, accessed_dirty, advanced_exit_info, mbec: caps_mbec },
            mbec,
            maxphyaddr,
        }
    }
}

impl From<EptContextRepr> for EptContext {
    fn from(e: EptContextRepr) -> Self {
        let c = e.caps;
        EptContext {
            eptp: EptPointer(e.eptp),
            caps: EptCaps {
                execute_only: c.execute_only,
                walk4: c.walk4,
                walk5: c.walk5,
                uc: c.uc,
                wb: c.wb,
                page_2m: c.page_2m,
                page_1g: c.page_1g,
                accessed_dirty: c.accessed_dirty,
                advanced_exit_info: c.advanced_exit_info,
                mbec: c.mbec,
            },
            mbec: e.mbec,
            maxphyaddr: e.maxphyaddr,
        }
    }
}

/// [`HiddenState`].
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct HiddenRepr {
    vmx_non_root: bool,
    ept: Option<EptContextRepr>,
    tlb_vpid: u16,
    tlb_ept: u16,
    iret_keeps_nmi_blocking: bool,
    boundary_hook: bool,
    pending_debug: u64,
    pdptes: [u64; 4],
}

impl From<HiddenState> for HiddenRepr {
    fn from(h: HiddenState) -> Self {
        let HiddenState { vmx_non_root, ept, tlb_vpid, tlb_ept, iret_keeps_nmi_blocking, boundary_hook, pending_debug, pdptes } = h;
        Self { vmx_non_root, ept: ept.map(Into::into), tlb_vpid, tlb_ept, iret_keeps_nmi_blocking, boundary_hook, pending_debug, pdptes }
    }
}

impl From<HiddenRepr> for HiddenState {
    fn from(h: HiddenRepr) -> Self {
        HiddenState {
            vmx_non_root: h.vmx_non_root,
            ept: h.ept.map(Into::into),
            tlb_vpid: h.tlb_vpid,
            tlb_ept: h.tlb_ept,
            iret_keeps_nmi_blocking: h.iret_keeps_nmi_blocking,
            boundary_hook: h.boundary_hook,
            pending_debug: h.pending_debug,
            pdptes: h.pdptes,
        }
    }
}
