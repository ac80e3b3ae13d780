//! RDMSR/WRMSR targets (SDM Vol. 4 chapter 2, "Model-Specific Registers"; architectural MSRs
//! in Table 2-2). An MSR the model does not have raises #GP(0), as does a write that sets
//! reserved bits.

use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::regs::efer;
use crate::segment::SegReg;
use hvbench_mmu::MsrAccess;

/// MSR indices (SDM Vol. 4 Table 2-2).
pub mod index {
    /// IA32_TIME_STAMP_COUNTER.
    pub const TSC: u32 = 0x10;
    /// IA32_PLATFORM_ID.
    pub const PLATFORM_ID: u32 = 0x17;
    /// IA32_APIC_BASE.
    pub const APIC_BASE: u32 = 0x1b;
    /// IA32_FEATURE_CONTROL.
    pub const FEATURE_CONTROL: u32 = 0x3a;
    /// IA32_TSC_ADJUST.
    pub const TSC_ADJUST: u32 = 0x3b;
    /// IA32_SPEC_CTRL.
    pub const SPEC_CTRL: u32 = 0x48;
    /// IA32_BIOS_SIGN_ID.
    pub const BIOS_SIGN_ID: u32 = 0x8b;
    /// IA32_MTRRCAP.
    pub const MTRRCAP: u32 = 0xfe;
    /// IA32_SYSENTER_CS.
    pub const SYSENTER_CS: u32 = 0x174;
    /// IA32_SYSENTER_ESP.
    pub const SYSENTER_ESP: u32 = 0x175;
    /// IA32_SYSENTER_EIP.
    pub const SYSENTER_EIP: u32 = 0x176;
    /// IA32_MCG_CAP.
    pub const MCG_CAP: u32 = 0x179;
    /// IA32_MCG_STATUS.
    pub const MCG_STATUS: u32 = 0x17a;
    /// IA32_MISC_ENABLE.
    pub const MISC_ENABLE: u32 = 0x1a0;
    /// IA32_DEBUGCTL.
    pub const DEBUGCTL: u32 = 0x1d9;
    /// First variable-range MTRR (IA32_MTRR_PHYSBASE0).
    pub const MTRR_PHYSBASE0: u32 = 0x200;
    /// IA32_MTRR_FIX64K_00000.
    pub const MTRR_FIX64K: u32 = 0x250;
    /// IA32_MTRR_FIX16K_80000.
    pub const MTRR_FIX16K_80000: u32 = 0x258;
    /// IA32_MTRR_FIX16K_A0000.
    pub const MTRR_FIX16K_A0000: u32 = 0x259;
    /// IA32_MTRR_FIX4K_C0000 (through 0x26F).
    pub const MTRR_FIX4K_C0000: u32 = 0x268;
    /// IA32_PAT.
    pub const PAT: u32 = 0x277;
    /// IA32_MTRR_DEF_TYPE.
    pub const MTRR_DEF_TYPE: u32 = 0x2ff;
    /// IA32_TSC_DEADLINE.
    pub const TSC_DEADLINE: u32 = 0x6e0;
    /// IA32_EFER.
    pub const EFER: u32 = 0xc000_0080;
    /// IA32_STAR.
    pub const STAR: u32 = 0xc000_0081;
    /// IA32_LSTAR.
    pub const LSTAR: u32 = 0xc000_0082;
    /// IA32_CSTAR.
    pub const CSTAR: u32 = 0xc000_0083;
    /// IA32_FMASK.
    pub const FMASK: u32 = 0xc000_0084;
    /// IA32_FS_BASE.
    pub const FS_BASE: u32 = 0xc000_0100;
    /// IA32_GS_BASE.
    pub const GS_BASE: u32 = 0xc000_0101;
    /// IA32_KERNEL_GS_BASE.
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    /// IA32_TSC_AUX.
    pub const TSC_AUX: u32 = 0xc000_0103;
}

/// MSRs the bus may implement: IA32_TSC_DEADLINE and the x2APIC range 0x800-0x8FF
/// (SDM Vol. 3A 11.12.1.2 "x2APIC Register Address Space").
fn bus_msr(msr: u32) -> bool {
    msr == index::TSC_DEADLINE || (0x800..=0x8ff).contains(&msr)
}

/// Variable-range MTRR pairs the model has (IA32_MTRRCAP.VCNT).
const MTRR_VCNT: u64 = 8;

impl Exec<'_> {
    /// The time-stamp counter: cycles plus the offset IA32_TSC and IA32_TSC_ADJUST set.
    pub fn tsc(&self) -> u64 {
        self.cpu.cycles.wrapping_add(self.cpu.state.tsc_offset)
    }

    /// The TSC moved (IA32_TSC, IA32_TSC_ADJUST): the local APIC's TSC-deadline timer, which
    /// counts in TSC units, learns it now and the machine takes the new deadline before the
    /// next instruction.
    fn tsc_changed(&mut self) {
        self.sync_bus_clock();
        self.after_device_write();
    }

    /// Reads MSR `msr`, or #GP(0) if the model does not have it.
    pub fn read_msr(&mut self, msr: u32) -> Result<u64> {
        use index::*;
        if self.cpu.ext.is_some()
            && let Some(Some(r)) = self.with_ext(|e, x| e.read_msr(x, msr))
        {
            return r;
        }
        if bus_msr(msr) {
            self.sync_bus_clock();
            match self.bus.msr_read(self.cpu.config.index, msr) {
                MsrAccess::NotClaimed => {}
                MsrAccess::Done(v) => return Ok(v),
                MsrAccess::Fault => return Err(Exception::gp0().into()),
            }
        }
        let s = &self.cpu.state;
        let m = &s.msr;
        Ok(match msr {
            TSC => self.tsc(),
            PLATFORM_ID => 0,
            APIC_BASE => m.apic_base,
            FEATURE_CONTROL => m.feature_control,
            TSC_ADJUST => m.tsc_adjust,
            SPEC_CTRL => m.spec_ctrl,
            BIOS_SIGN_ID => m.bios_sign_id,
            // Fixed-range MTRRs supported, write-combining supported, VCNT variable ranges.
            MTRRCAP => (1 << 8) | (1 << 10) | MTRR_VCNT,
            SYSENTER_CS => m.sysenter_cs,
            SYSENTER_ESP => m.sysenter_esp,
            SYSENTER_EIP => m.sysenter_eip,
            MCG_CAP | MCG_STATUS => 0,
            MISC_ENABLE => m.misc_enable,
            DEBUGCTL => m.debugctl,
            _ if (MTRR_PHYSBASE0..MTRR_PHYSBASE0 + 2 * MTRR_VCNT as u32).contains(&msr) => {
                m.mtrr_var[(msr - MTRR_PHYSBASE0) as usize]
            }
            MTRR_FIX64K => m.mtrr_fixed[0],
            MTRR_FIX16K_80000 => m.mtrr_fixed[1],
            MTRR_FIX16K_A0000 => m.mtrr_fixed[2],
            _ if (MTRR_FIX4K_C0000..=MTRR_FIX4K_C0000 + 7).contains(&msr) => m.mtrr_fixed[3 + (msr - MTRR_FIX4K_C0000) as usize],
            PAT => m.pat,
            MTRR_DEF_TYPE => m.mtrr_def_type,
            TSC_DEADLINE => m.tsc_deadline,
            EFER => s.efer,
            STAR => m.star,
            LSTAR => m.lstar,
            CSTAR => m.cstar,
            FMASK => m.sfmask,
            FS_BASE => s.seg(SegReg::Fs).base,
            GS_BASE => s.seg(SegReg::Gs).base,
            KERNEL_GS_BASE => m.kernel_gs_base,
            TSC_AUX => m.tsc_aux,
            _ => return Err(Exception::gp0().into()),
        })
    }

    /// Writes MSR `msr` with the reserved-bit and canonical checks of SDM Vol. 4.
    pub fn write_msr(&mut self, msr: u32, v: u64) -> Result<()> {
        use index::*;
        if self.cpu.ext.is_some()
            && let Some(Some(r)) = self.with_ext(|e, x| e.write_msr(x, msr, v))
        {
            return r;
        }
        let gp = || Err(Exception::gp0().into());
        let canonical = |x: &Self, a: u64| x.is_canonical_max(a);
        let maxphy_mask = !((1u64 << self.cpu.config.maxphyaddr) - 1);
        if bus_msr(msr) {
            self.sync_bus_clock();
            match self.bus.msr_write(self.cpu.config.index, msr, v) {
                MsrAccess::NotClaimed => {}
                MsrAccess::Done(_) => {
                    // A local APIC write (timer, TSC deadline, ICR, EOI) may move a device
                    // deadline or send INIT/SIPI: the machine looks before the next
                    // instruction, as after an MMIO write.
                    self.after_device_write();
                    return Ok(());
                }
                MsrAccess::Fault => return gp(),
            }
        }
        match msr {
            TSC => {
                self.cpu.state.tsc_offset = v.wrapping_sub(self.cpu.cycles);
                self.tsc_changed();
            }
            APIC_BASE => {
                // Bits 7:0, 9 and above MAXPHYADDR are reserved; bit 8 (BSP) is read-only.
                if v & (0xff | (1 << 9) | maxphy_mask) != 0 {
                    return gp();
                }
                let old = self.cpu.state.msr.apic_base;
                let new = (v & !(1 << 8)) | (old & (1 << 8));
                if !self.bus.apic_base_write(self.cpu.config.index, old, new) {
                    return gp();
                }
                self.cpu.state.msr.apic_base = new;
                self.cpu.poll_events = true;
            }
            FEATURE_CONTROL => {
                // Once locked (bit 0), writes fault until reset (SDM Vol. 3C 24.7).
                if self.cpu.state.msr.feature_control & 1 != 0 {
                    return gp();
                }
                self.cpu.state.msr.feature_control = v;
            }
            TSC_ADJUST => {
                let delta = v.wrapping_sub(self.cpu.state.msr.tsc_adjust);
                self.cpu.state.tsc_offset = self.cpu.state.tsc_offset.wrapping_add(delta);
                self.cpu.state.msr.tsc_adjust = v;
                self.tsc_changed();
            }
            SPEC_CTRL => self.cpu.state.msr.spec_ctrl = v & 0x7,
            BIOS_SIGN_ID => self.cpu.state.msr.bios_sign_id = v,
            SYSENTER_CS => self.cpu.state.msr.sysenter_cs = v & 0xffff,
            SYSENTER_ESP | SYSENTER_EIP => {
                if !canonical(self, v) {
                    return gp();
                }
                if msr == SYSENTER_ESP {
                    self.cpu.state.msr.sysenter_esp = v;
                } else {
                    self.cpu.state.msr.sysenter_eip = v;
                }
            }
            MCG_STATUS => {
                if v != 0 {
                    return gp();
                }
            }
            MISC_ENABLE => self.cpu.state.msr.misc_enable = v,
            DEBUGCTL => {
                // LBR (0), BTF (1) kept as storage; the rest reserved in this model.
                if v & !0x3 != 0 {
                    return gp();
                }
                self.cpu.state.msr.debugctl = v;
            }
            _ if (MTRR_PHYSBASE0..MTRR_PHYSBASE0 + 2 * MTRR_VCNT as u32).contains(&msr) => {
                self.cpu.state.msr.mtrr_var[(msr - MTRR_PHYSBASE0) as usize] = v;
            }
            MTRR_FIX64K => self.cpu.state.msr.mtrr_fixed[0] = v,
            MTRR_FIX16K_80000 => self.cpu.state.msr.mtrr_fixed[1] = v,
            MTRR_FIX16K_A0000 => self.cpu.state.msr.mtrr_fixed[2] = v,
            _ if (MTRR_FIX4K_C0000..=MTRR_FIX4K_C0000 + 7).contains(&msr) => {
                self.cpu.state.msr.mtrr_fixed[3 + (msr - MTRR_FIX4K_C0000) as usize] = v;
            }
            PAT => {
                // Each entry must be a valid memory type: 0, 1, 4, 5, 6 or 7 (SDM 13.12.2).
                if (0..8).any(|i| matches!((v >> (i * 8)) & 0xff, 2 | 3 | 8..=0xff)) {
                    return gp();
                }
                self.cpu.state.msr.pat = v;
            }
            MTRR_DEF_TYPE => {
                if v & !0xcff != 0 {
                    return gp();
                }
                self.cpu.state.msr.mtrr_def_type = v;
            }
            TSC_DEADLINE => self.cpu.state.msr.tsc_deadline = v,
            EFER => self.write_efer(v)?,
            STAR => self.cpu.state.msr.star = v,
            LSTAR | CSTAR => {
                if !canonical(self, v) {
                    return gp();
                }
                if msr == LSTAR {
                    self.cpu.state.msr.lstar = v;
                } else {
                    self.cpu.state.msr.cstar = v;
                }
            }
            FMASK => self.cpu.state.msr.sfmask = v & 0xffff_ffff,
            FS_BASE | GS_BASE | KERNEL_GS_BASE => {
                if !canonical(self, v) {
                    return gp();
                }
                match msr {
                    FS_BASE => self.cpu.state.seg[SegReg::Fs as usize].base = v,
                    GS_BASE => self.cpu.state.seg[SegReg::Gs as usize].base = v,
                    _ => self.cpu.state.msr.kernel_gs_base = v,
                }
            }
            TSC_AUX => {
                if v >> 32 != 0 {
                    return gp();
                }
                self.cpu.state.msr.tsc_aux = v;
            }
            _ => return gp(),
        }
        Ok(())
    }

    /// IA32_EFER: SCE, LME, NXE writable; LMA read-only; LME cannot change while paging is on
    /// (SDM Vol. 3A 10.8.5 "Initializing IA-32e Mode").
    fn write_efer(&mut self, v: u64) -> Result<()> {
        let s = &self.cpu.state;
        let writable = efer::SCE | efer::LME | efer::NXE;
        if v & !(writable | efer::LMA) != 0 {
            return Err(Exception::gp0().into());
        }
        let paging = s.cr0 & crate::regs::cr0::PG != 0;
        if paging && (v ^ s.efer) & efer::LME != 0 {
            return Err(Exception::gp0().into());
        }
        self.cpu.state.efer = (v & writable) | (s.efer & efer::LMA);
        self.cpu.refresh_paging();
        self.cpu.tlb.invalidate_all();
        Ok(())
    }
}
