//! Every VMCS field of SDM Vol. 3D Appendix B "Field Encoding in VMCS" as a typed table.
//!
//! An encoding (SDM 25.11.2 "VMREAD, VMWRITE, and Encodings of VMCS Fields", table "Structure
//! of VMCS Component Encoding") holds: bit 0 access type (0 full, 1 high: the upper 32 bits of
//! a 64-bit field), bits 9:1 index, bits 11:10 type (0 control, 1 VM-exit information, 2 guest
//! state, 3 host state), bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural width);
//! bits 12 and 31:15 are 0. Each row below declares its width and type; a unit test checks them
//! against the encoding. [`Feature`] says which processor feature a field belongs to: a field
//! whose feature the profile lacks is unsupported (VMREAD/VMWRITE fail with error 12).

/// A field's width (encoding bits 14:13).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// 16-bit.
    W16,
    /// 64-bit (with a HIGH access form).
    W64,
    /// 32-bit.
    W32,
    /// Natural width (64 bits on hvbench, which supports Intel 64).
    Natural,
}

impl Width {
    /// The width's value mask.
    pub const fn mask(self) -> u64 {
        match self {
            Width::W16 => 0xffff,
            Width::W32 => 0xffff_ffff,
            Width::W64 | Width::Natural => u64::MAX,
        }
    }
}

/// A field's type (encoding bits 11:10); SDM Appendix B groups fields by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Control fields (VM-execution, VM-exit, VM-entry controls).
    Control,
    /// VM-exit information fields (read-only unless IA32_VMX_MISC bit 29).
    ReadOnly,
    /// Guest-state fields.
    Guest,
    /// Host-state fields.
    Host,
}

/// Which processor feature a field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Every VMX processor has it.
    Base,
    /// Exists when "enable EPT" may be 1.
    Ept,
    /// Exists when "enable VPID" may be 1.
    Vpid,
    /// Exists when "enable VM functions" may be 1.
    Vmfunc,
    /// Exists when "use TPR shadow" may be 1 (virtual-APIC address, TPR threshold).
    TprShadow,
    /// Exists when "PAUSE-loop exiting" may be 1 (PLE_Gap, PLE_Window).
    PauseLoop,
    /// Belongs to a feature hvbench does not offer (the field is unsupported).
    NotOffered,
}

/// One VMCS field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The name, as Appendix B writes it (upper case, underscores).
    pub name: &'static str,
    /// The encoding of the full field.
    pub enc: u32,
    /// Declared width.
    pub width: Width,
    /// Declared type.
    pub kind: Kind,
    /// The feature it belongs to.
    pub feature: Feature,
}

impl Field {
    /// Whether the profile supports this field.
    pub fn supported(&self, p: &crate::caps::Profile) -> bool {
        use crate::controls::ProcCtls2;
        match self.feature {
            Feature::Base => true,
            Feature::Ept => p.has2(ProcCtls2::ENABLE_EPT),
            Feature::Vpid => p.has2(ProcCtls2::ENABLE_VPID),
            Feature::Vmfunc => p.has2(ProcCtls2::ENABLE_VMFUNC),
            Feature::TprShadow => p.proc.may1 & crate::controls::ProcCtls::USE_TPR_SHADOW.bits() != 0,
            Feature::PauseLoop => p.has2(ProcCtls2::PAUSE_LOOP_EXITING),
            Feature::NotOffered => false,
        }
    }
}

/// The width an encoding names (bits 14:13).
pub const fn width_of(enc: u32) -> Width {
    match (enc >> 13) & 3 {
        0 => Width::W16,
        1 => Width::W64,
        2 => Width::W32,
        _ => Width::Natural,
    }
}

/// The type an encoding names (bits 11:10).
pub const fn kind_of(enc: u32) -> Kind {
    match (enc >> 10) & 3 {
        0 => Kind::Control,
        1 => Kind::ReadOnly,
        2 => Kind::Guest,
        _ => Kind::Host,
    }
}

macro_rules! fields {
    ($($name:ident = $enc:expr, $w:ident, $k:ident, $f:ident;)*) => {
        /// Field encodings by name (SDM Appendix B).
        pub mod enc {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                pub const $name: u32 = $enc;
            )*
        }
        /// Every field, in Appendix B order; a field's slot in the VMCS region is its index here.
        pub const FIELDS: &[Field] = &[
            $(Field { name: stringify!($name), enc: $enc, width: Width::$w, kind: Kind::$k, feature: Feature::$f },)*
        ];
    };
}

fields! {
    VPID = 0x0000, W16, Control, Vpid;
    POSTED_INTR_NOTIFICATION_VECTOR = 0x0002, W16, Control, NotOffered;
    EPTP_INDEX = 0x0004, W16, Control, NotOffered;
    GUEST_ES_SELECTOR = 0x0800, W16, Guest, Base;
    GUEST_CS_SELECTOR = 0x0802, W16, Guest, Base;
    GUEST_SS_SELECTOR = 0x0804, W16, Guest, Base;
    GUEST_DS_SELECTOR = 0x0806, W16, Guest, Base;
    GUEST_FS_SELECTOR = 0x0808, W16, Guest, Base;
    GUEST_GS_SELECTOR = 0x080a, W16, Guest, Base;
    GUEST_LDTR_SELECTOR = 0x080c, W16, Guest, Base;
    GUEST_TR_SELECTOR = 0x080e, W16, Guest, Base;
    GUEST_INTERRUPT_STATUS = 0x0810, W16, Guest, NotOffered;
    PML_INDEX = 0x0812, W16, Guest, NotOffered;
    HOST_ES_SELECTOR = 0x0c00, W16, Host, Base;
    HOST_CS_SELECTOR = 0x0c02, W16, Host, Base;
    HOST_SS_SELECTOR = 0x0c04, W16, Host, Base;
    HOST_DS_SELECTOR = 0x0c06, W16, Host, Base;
    HOST_FS_SELECTOR = 0x0c08, W16, Host, Base;
    HOST_GS_SELECTOR = 0x0c0a, W16, Host, Base;
    HOST_TR_SELECTOR = 0x0c0c, W16, Host, Base;
    IO_BITMAP_A = 0x2000, W64, Control, Base;
    IO_BITMAP_B = 0x2002, W64, Control, Base;
    MSR_BITMAP = 0x2004, W64, Control, Base;
    EXIT_MSR_STORE_ADDR = 0x2006, W64, Control, Base;
    EXIT_MSR_LOAD_ADDR = 0x2008, W64, Control, Base;
    ENTRY_MSR_LOAD_ADDR = 0x200a, W64, Control, Base;
    EXECUTIVE_VMCS_POINTER = 0x200c, W64, Control, Base;
    PML_ADDRESS = 0x200e, W64, Control, NotOffered;
    TSC_OFFSET = 0x2010, W64, Control, Base;
    VIRTUAL_APIC_ADDRESS = 0x2012, W64, Control, TprShadow;
    APIC_ACCESS_ADDRESS = 0x2014, W64, Control, NotOffered;
    POSTED_INTERRUPT_DESCRIPTOR = 0x2016, W64, Control, NotOffered;
    VMFUNC_CONTROLS = 0x2018, W64, Control, Vmfunc;
    EPT_POINTER = 0x201a, W64, Control, Ept;
    EOI_EXIT_BITMAP0 = 0x201c, W64, Control, NotOffered;
    EOI_EXIT_BITMAP1 = 0x201e, W64, Control, NotOffered;
    EOI_EXIT_BITMAP2 = 0x2020, W64, Control, NotOffered;
    EOI_EXIT_BITMAP3 = 0x2022, W64, Control, NotOffered;
    EPTP_LIST_ADDRESS = 0x2024, W64, Control, Vmfunc;
    VMREAD_BITMAP = 0x2026, W64, Control, NotOffered;
    VMWRITE_BITMAP = 0x2028, W64, Control, NotOffered;
    VE_INFORMATION_ADDRESS = 0x202a, W64, Control, NotOffered;
    XSS_EXITING_BITMAP = 0x202c, W64, Control, NotOffered;
    ENCLS_EXITING_BITMAP = 0x202e, W64, Control, NotOffered;
    SPP_TABLE_POINTER = 0x2030, W64, Control, NotOffered;
    TSC_MULTIPLIER = 0x2032, W64, Control, NotOffered;
    TERTIARY_CONTROLS = 0x2034, W64, Control, NotOffered;
    GUEST_PHYSICAL_ADDRESS = 0x2400, W64, ReadOnly, Ept;
    VMCS_LINK_POINTER = 0x2800, W64, Guest, Base;
    GUEST_DEBUGCTL = 0x2802, W64, Guest, Base;
    GUEST_PAT = 0x2804, W64, Guest, Base;
    GUEST_EFER = 0x2806, W64, Guest, Base;
    GUEST_PERF_GLOBAL_CTRL = 0x2808, W64, Guest, NotOffered;
    GUEST_PDPTE0 = 0x280a, W64, Guest, Ept;
    GUEST_PDPTE1 = 0x280c, W64, Guest, Ept;
    GUEST_PDPTE2 = 0x280e, W64, Guest, Ept;
    GUEST_PDPTE3 = 0x2810, W64, Guest, Ept;
    GUEST_BNDCFGS = 0x2812, W64, Guest, NotOffered;
    GUEST_RTIT_CTL = 0x2814, W64, Guest, NotOffered;
    HOST_PAT = 0x2c00, W64, Host, Base;
    HOST_EFER = 0x2c02, W64, Host, Base;
    HOST_PERF_GLOBAL_CTRL = 0x2c04, W64, Host, NotOffered;
    PIN_BASED_CONTROLS = 0x4000, W32, Control, Base;
    PROC_BASED_CONTROLS = 0x4002, W32, Control, Base;
    EXCEPTION_BITMAP = 0x4004, W32, Control, Base;
    PAGE_FAULT_ERROR_CODE_MASK = 0x4006, W32, Control, Base;
    PAGE_FAULT_ERROR_CODE_MATCH = 0x4008, W32, Control, Base;
    CR3_TARGET_COUNT = 0x400a, W32, Control, Base;
    EXIT_CONTROLS = 0x400c, W32, Control, Base;
    EXIT_MSR_STORE_COUNT = 0x400e, W32, Control, Base;
    EXIT_MSR_LOAD_COUNT = 0x4010, W32, Control, Base;
    ENTRY_CONTROLS = 0x4012, W32, Control, Base;
    ENTRY_MSR_LOAD_COUNT = 0x4014, W32, Control, Base;
    ENTRY_INTERRUPTION_INFO = 0x4016, W32, Control, Base;
    ENTRY_EXCEPTION_ERROR_CODE = 0x4018, W32, Control, Base;
    ENTRY_INSTRUCTION_LENGTH = 0x401a, W32, Control, Base;
    TPR_THRESHOLD = 0x401c, W32, Control, TprShadow;
    SECONDARY_PROC_BASED_CONTROLS = 0x401e, W32, Control, Base;
    PLE_GAP = 0x4020, W32, Control, PauseLoop;
    PLE_WINDOW = 0x4022, W32, Control, PauseLoop;
    VM_INSTRUCTION_ERROR = 0x4400, W32, ReadOnly, Base;
    EXIT_REASON = 0x4402, W32, ReadOnly, Base;
    EXIT_INTERRUPTION_INFO = 0x4404, W32, ReadOnly, Base;
    EXIT_INTERRUPTION_ERROR_CODE = 0x4406, W32, ReadOnly, Base;
    IDT_VECTORING_INFO = 0x4408, W32, ReadOnly, Base;
    IDT_VECTORING_ERROR_CODE = 0x440a, W32, ReadOnly, Base;
    EXIT_INSTRUCTION_LENGTH = 0x440c, W32, ReadOnly, Base;
    EXIT_INSTRUCTION_INFO = 0x440e, W32, ReadOnly, Base;
    GUEST_ES_LIMIT = 0x4800, W32, Guest, Base;
    GUEST_CS_LIMIT = 0x4802, W32, Guest, Base;
    GUEST_SS_LIMIT = 0x4804, W32, Guest, Base;
    GUEST_DS_LIMIT = 0x4806, W32, Guest, Base;
    GUEST_FS_LIMIT = 0x4808, W32, Guest, Base;
    GUEST_GS_LIMIT = 0x480a, W32, Guest, Base;
    GUEST_LDTR_LIMIT = 0x480c, W32, Guest, Base;
    GUEST_TR_LIMIT = 0x480e, W32, Guest, Base;
    GUEST_GDTR_LIMIT = 0x4810, W32, Guest, Base;
    GUEST_IDTR_LIMIT = 0x4812, W32, Guest, Base;
    GUEST_ES_ACCESS_RIGHTS = 0x4814, W32, Guest, Base;
    GUEST_CS_ACCESS_RIGHTS = 0x4816, W32, Guest, Base;
    GUEST_SS_ACCESS_RIGHTS = 0x4818, W32, Guest, Base;
    GUEST_DS_ACCESS_RIGHTS = 0x481a, W32, Guest, Base;
    GUEST_FS_ACCESS_RIGHTS = 0x481c, W32, Guest, Base;
    GUEST_GS_ACCESS_RIGHTS = 0x481e, W32, Guest, Base;
    GUEST_LDTR_ACCESS_RIGHTS = 0x4820, W32, Guest, Base;
    GUEST_TR_ACCESS_RIGHTS = 0x4822, W32, Guest, Base;
    GUEST_INTERRUPTIBILITY = 0x4824, W32, Guest, Base;
    GUEST_ACTIVITY_STATE = 0x4826, W32, Guest, Base;
    GUEST_SMBASE = 0x4828, W32, Guest, Base;
    GUEST_SYSENTER_CS = 0x482a, W32, Guest, Base;
    PREEMPTION_TIMER_VALUE = 0x482e, W32, Guest, Base;
    HOST_SYSENTER_CS = 0x4c00, W32, Host, Base;
    CR0_GUEST_HOST_MASK = 0x6000, Natural, Control, Base;
    CR4_GUEST_HOST_MASK = 0x6002, Natural, Control, Base;
    CR0_READ_SHADOW = 0x6004, Natural, Control, Base;
    CR4_READ_SHADOW = 0x6006, Natural, Control, Base;
    CR3_TARGET_VALUE0 = 0x6008, Natural, Control, Base;
    CR3_TARGET_VALUE1 = 0x600a, Natural, Control, Base;
    CR3_TARGET_VALUE2 = 0x600c, Natural, Control, Base;
    CR3_TARGET_VALUE3 = 0x600e, Natural, Control, Base;
    EXIT_QUALIFICATION = 0x6400, Natural, ReadOnly, Base;
    IO_RCX = 0x6402, Natural, ReadOnly, Base;
    IO_RSI = 0x6404, Natural, ReadOnly, Base;
    IO_RDI = 0x6406, Natural, ReadOnly, Base;
    IO_RIP = 0x6408, Natural, ReadOnly, Base;
    GUEST_LINEAR_ADDRESS = 0x640a, Natural, ReadOnly, Base;
    GUEST_CR0 = 0x6800, Natural, Guest, Base;
    GUEST_CR3 = 0x6802, Natural, Guest, Base;
    GUEST_CR4 = 0x6804, Natural, Guest, Base;
    GUEST_ES_BASE = 0x6806, Natural, Guest, Base;
    GUEST_CS_BASE = 0x6808, Natural, Guest, Base;
    GUEST_SS_BASE = 0x680a, Natural, Guest, Base;
    GUEST_DS_BASE = 0x680c, Natural, Guest, Base;
    GUEST_FS_BASE = 0x680e, Natural, Guest, Base;
    GUEST_GS_BASE = 0x6810, Natural, Guest, Base;
    GUEST_LDTR_BASE = 0x6812, Natural, Guest, Base;
    GUEST_TR_BASE = 0x6814, Natural, Guest, Base;
    GUEST_GDTR_BASE = 0x6816, Natural, Guest, Base;
    GUEST_IDTR_BASE = 0x6818, Natural, Guest, Base;
    GUEST_DR7 = 0x681a, Natural, Guest, Base;
    GUEST_RSP = 0x681c, Natural, Guest, Base;
    GUEST_RIP = 0x681e, Natural, Guest, Base;
    GUEST_RFLAGS = 0x6820, Natural, Guest, Base;
    GUEST_PENDING_DEBUG_EXCEPTIONS = 0x6822, Natural, Guest, Base;
    GUEST_SYSENTER_ESP = 0x6824, Natural, Guest, Base;
    GUEST_SYSENTER_EIP = 0x6826, Natural, Guest, Base;
    GUEST_S_CET = 0x6828, Natural, Guest, NotOffered;
    GUEST_SSP = 0x682a, Natural, Guest, NotOffered;
    GUEST_INTERRUPT_SSP_TABLE_ADDR = 0x682c, Natural, Guest, NotOffered;
    HOST_CR0 = 0x6c00, Natural, Host, Base;
    HOST_CR3 = 0x6c02, Natural, Host, Base;
    HOST_CR4 = 0x6c04, Natural, Host, Base;
    HOST_FS_BASE = 0x6c06, Natural, Host, Base;
    HOST_GS_BASE = 0x6c08, Natural, Host, Base;
    HOST_TR_BASE = 0x6c0a, Natural, Host, Base;
    HOST_GDTR_BASE = 0x6c0c, Natural, Host, Base;
    HOST_IDTR_BASE = 0x6c0e, Natural, Host, Base;
    HOST_SYSENTER_ESP = 0x6c10, Natural, Host, Base;
    HOST_SYSENTER_EIP = 0x6c12, Natural, Host, Base;
    HOST_RSP = 0x6c14, Natural, Host, Base;
    HOST_RIP = 0x6c16, Natural, Host, Base;
    HOST_S_CET = 0x6c18, Natural, Host, NotOffered;
    HOST_SSP = 0x6c1a, Natural, Host, NotOffered;
    HOST_INTERRUPT_SSP_TABLE_ADDR = 0x6c1c, Natural, Host, NotOffered;
}

/// A field access: the field and whether it is the HIGH half of a 64-bit field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// The field's slot in [`FIELDS`].
    pub slot: usize,
    /// The field.
    pub field: &'static Field,
    /// The access is to bits 63:32 of a 64-bit field.
    pub high: bool,
}

/// Looks up an encoding as VMREAD/VMWRITE see it (bits 63:32 of the register operand already
/// dropped): `None` for a reserved bit, an unknown index, or HIGH access to a field that is not
/// 64-bit.
pub fn lookup(encoding: u64) -> Option<Access> {
    if encoding >> 32 != 0 {
        return None;
    }
    let e = encoding as u32;
    if e & 0xffff_9000 != 0 {
        return None;
    }
    let high = e & 1 != 0;
    let full = e & !1;
    let slot = FIELDS.iter().position(|f| f.enc == full)?;
    let field = &FIELDS[slot];
    if high && field.width != Width::W64 {
        return None;
    }
    Some(Access { slot, field, high })
}

/// The field with full encoding `enc` (a table constant).
pub fn slot_of(enc: u32) -> usize {
    FIELDS.iter().position(|f| f.enc == enc).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_declared_width_and_type_matches_its_encoding() {
        for f in FIELDS {
            assert_eq!(width_of(f.enc), f.width, "{} {:#x}", f.name, f.enc);
            assert_eq!(kind_of(f.enc), f.kind, "{} {:#x}", f.name, f.enc);
            assert_eq!(f.enc & 1, 0, "{}: the table holds full encodings", f.name);
            assert_eq!(f.enc & 0xffff_9000, 0, "{}: reserved encoding bits", f.name);
        }
    }

    #[test]
    fn encodings_are_unique_and_high_access_is_64_bit_only() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(FIELDS[i + 1..].iter().all(|g| g.enc != f.enc), "{} twice", f.name);
        }
        assert_eq!(lookup(enc::EPT_POINTER as u64 | 1).map(|a| a.high), Some(true));
        assert_eq!(lookup(enc::GUEST_RIP as u64 | 1), None, "natural-width fields have no HIGH form");
        assert_eq!(lookup(enc::GUEST_CS_SELECTOR as u64 | 1 << 12), None, "bit 12 is reserved");
        assert_eq!(lookup(1 << 32), None);
    }

    #[test]
    fn spot_checks_against_appendix_b() {
        // Values quoted from SDM Appendix B tables B-1 .. B-14.
        assert_eq!(enc::VPID, 0x0000);
        assert_eq!(enc::GUEST_TR_SELECTOR, 0x080e);
        assert_eq!(enc::HOST_TR_SELECTOR, 0x0c0c);
        assert_eq!(enc::EPT_POINTER, 0x201a);
        assert_eq!(enc::GUEST_PHYSICAL_ADDRESS, 0x2400);
        assert_eq!(enc::VMCS_LINK_POINTER, 0x2800);
        assert_eq!(enc::GUEST_PDPTE3, 0x2810);
        assert_eq!(enc::SECONDARY_PROC_BASED_CONTROLS, 0x401e);
        assert_eq!(enc::EXIT_INSTRUCTION_INFO, 0x440e);
        assert_eq!(enc::GUEST_SYSENTER_CS, 0x482a);
        assert_eq!(enc::PREEMPTION_TIMER_VALUE, 0x482e);
        assert_eq!(enc::GUEST_LINEAR_ADDRESS, 0x640a);
        assert_eq!(enc::GUEST_RFLAGS, 0x6820);
        assert_eq!(enc::HOST_RIP, 0x6c16);
        // The VMCS region holds every slot.
        assert!(crate::vmcs::FIELD_BASE + 8 * FIELDS.len() as u64 <= 4096);
    }
}
