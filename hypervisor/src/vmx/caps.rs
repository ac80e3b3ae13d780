//! VMX capability reporting (SDM Vol. 3D Appendix A): which control settings the processor
//! allows, and the fixed bits of CR0/CR4 in VMX operation.
//!
//! A.3-A.5: each control MSR reports allowed-0 settings in bits 31:0 (bit X = 1: the control
//! must be 1) and allowed-1 settings in bits 63:32 (bit X = 0: the control must be 0). When
//! IA32_VMX_BASIC bit 55 is 1, the TRUE_ MSRs (48DH-490H) give the same for the pin-based,
//! primary processor-based, exit and entry controls with the default1 bits that may in fact
//! be 0 (A.2); software that knows these bits may use the TRUE forms. The secondary controls
//! (48BH) exist only when the primary allowed-1 bit 31 is 1 (A.3.3). A.7/A.8: a CR0/CR4 bit
//! that is 1 in FIXED0 must be 1, one that is 0 in FIXED1 must be 0.

use crate::platform::cpu::rdmsr;

/// IA32_VMX_BASIC.
pub const IA32_VMX_BASIC: u32 = 0x480;
/// IA32_VMX_PINBASED_CTLS.
pub const IA32_VMX_PINBASED_CTLS: u32 = 0x481;
/// IA32_VMX_PROCBASED_CTLS.
pub const IA32_VMX_PROCBASED_CTLS: u32 = 0x482;
/// IA32_VMX_EXIT_CTLS.
pub const IA32_VMX_EXIT_CTLS: u32 = 0x483;
/// IA32_VMX_ENTRY_CTLS.
pub const IA32_VMX_ENTRY_CTLS: u32 = 0x484;
/// IA32_VMX_CR0_FIXED0.
pub const IA32_VMX_CR0_FIXED0: u32 = 0x486;
/// IA32_VMX_CR0_FIXED1.
pub const IA32_VMX_CR0_FIXED1: u32 = 0x487;
/// IA32_VMX_CR4_FIXED0.
pub const IA32_VMX_CR4_FIXED0: u32 = 0x488;
/// IA32_VMX_CR4_FIXED1.
pub const IA32_VMX_CR4_FIXED1: u32 = 0x489;
/// IA32_VMX_PROCBASED_CTLS2.
pub const IA32_VMX_PROCBASED_CTLS2: u32 = 0x48B;
/// IA32_VMX_EPT_VPID_CAP.
pub const IA32_VMX_EPT_VPID_CAP: u32 = 0x48C;
/// IA32_VMX_TRUE_PINBASED_CTLS.
pub const IA32_VMX_TRUE_PINBASED_CTLS: u32 = 0x48D;
/// IA32_VMX_TRUE_PROCBASED_CTLS.
pub const IA32_VMX_TRUE_PROCBASED_CTLS: u32 = 0x48E;
/// IA32_VMX_TRUE_EXIT_CTLS.
pub const IA32_VMX_TRUE_EXIT_CTLS: u32 = 0x48F;
/// IA32_VMX_TRUE_ENTRY_CTLS.
pub const IA32_VMX_TRUE_ENTRY_CTLS: u32 = 0x490;

/// IA32_VMX_BASIC bit 55: the TRUE_ control MSRs exist.
const BASIC_TRUE_CTLS: u64 = 1 << 55;

/// EPT_VPID_CAP bits this hypervisor needs (A.10): 4-level walk (6), WB paging structures
/// (14), 2-MByte pages (16), INVEPT (20) single-context (25).
pub const EPT_NEEDED: u64 = (1 << 6) | (1 << 14) | (1 << 16) | (1 << 20) | (1 << 25);

/// A set of controls the processor does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported {
    /// Which control field.
    pub field: &'static str,
    /// Bits wanted but not allowed to be 1.
    pub bits: u32,
}

/// One control field's capability MSR, split into its two halves.
#[derive(Debug, Clone, Copy)]
pub struct Allowed {
    /// Allowed-0 settings: bits that must be 1.
    pub must1: u32,
    /// Allowed-1 settings: bits that may be 1.
    pub may1: u32,
}

impl Allowed {
    /// From the MSR value.
    pub fn from_msr(v: u64) -> Self {
        Self { must1: v as u32, may1: (v >> 32) as u32 }
    }
    /// The control value: `wanted` plus every must-be-1 bit; an error naming the wanted bits
    /// that may not be 1 (A.3: "software should consult the capability MSR... and set the
    /// others to their default").
    pub fn adjust(self, field: &'static str, wanted: u32) -> Result<u32, Unsupported> {
        let refused = wanted & !self.may1;
        if refused != 0 {
            return Err(Unsupported { field, bits: refused });
        }
        Ok(wanted | self.must1)
    }
}

/// The control capabilities this hypervisor consults.
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    /// VMCS revision identifier (BASIC bits 30:0).
    pub revision: u32,
    /// Pin-based controls.
    pub pin: Allowed,
    /// Primary processor-based controls.
    pub proc: Allowed,
    /// Secondary processor-based controls (all zero when there are none).
    pub proc2: Allowed,
    /// VM-exit controls.
    pub exit: Allowed,
    /// VM-entry controls.
    pub entry: Allowed,
    /// IA32_VMX_EPT_VPID_CAP (0 without secondary controls).
    pub ept_vpid: u64,
}

impl Caps {
    /// Reads the capability MSRs, preferring the TRUE_ forms when BASIC bit 55 says they exist.
    pub fn read() -> Self {
        let basic = rdmsr(IA32_VMX_BASIC);
        let t = basic & BASIC_TRUE_CTLS != 0;
        let pick = |plain, tru| Allowed::from_msr(rdmsr(if t { tru } else { plain }));
        let proc = pick(IA32_VMX_PROCBASED_CTLS, IA32_VMX_TRUE_PROCBASED_CTLS);
        let secondary = Allowed::from_msr(rdmsr(IA32_VMX_PROCBASED_CTLS)).may1 & crate::vmx::controls::PROC_SECONDARY != 0;
        Self {
            revision: (basic & 0x7FFF_FFFF) as u32,
            pin: pick(IA32_VMX_PINBASED_CTLS, IA32_VMX_TRUE_PINBASED_CTLS),
            proc,
            proc2: if secondary { Allowed::from_msr(rdmsr(IA32_VMX_PROCBASED_CTLS2)) } else { Allowed { must1: 0, may1: 0 } },
            exit: pick(IA32_VMX_EXIT_CTLS, IA32_VMX_TRUE_EXIT_CTLS),
            entry: pick(IA32_VMX_ENTRY_CTLS, IA32_VMX_TRUE_ENTRY_CTLS),
            ept_vpid: if secondary { rdmsr(IA32_VMX_EPT_VPID_CAP) } else { 0 },
        }
    }
}

/// `v` with CR0's VMX fixed bits applied (A.7).
pub fn fix_cr0(v: u64) -> u64 {
    (v | rdmsr(IA32_VMX_CR0_FIXED0)) & rdmsr(IA32_VMX_CR0_FIXED1)
}

/// `v` with CR4's VMX fixed bits applied (A.8).
pub fn fix_cr4(v: u64) -> u64 {
    (v | rdmsr(IA32_VMX_CR4_FIXED0)) & rdmsr(IA32_VMX_CR4_FIXED1)
}
