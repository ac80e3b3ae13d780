//! VMCS fields with their width in the type (SDM Vol. 3D Appendix B "Field Encoding in
//! VMCS"). An encoding's bits 14:13 give its width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural
//! width), bits 11:10 its type (0 control, 1 VM-exit information = read-only data, 2 guest
//! state, 3 host state; B.1-B.4), bit 0 the access type (0 full). Every constant below is
//! built by a `const fn` that checks width, type and access against the encoding, so a wrong
//! encoding does not compile. Grouped as Appendix B groups them.

use super::insn::{VmFail, vmread, vmwrite};

const fn width(enc: u32) -> u32 {
    (enc >> 13) & 3
}
const fn kind(enc: u32) -> u32 {
    (enc >> 10) & 3
}
const fn check(enc: u32, w: u32, read_only: bool) -> u32 {
    assert!(width(enc) == w, "field width bits 14:13 disagree with the field's type");
    assert!(enc & 1 == 0, "the full field, not the high half");
    assert!((kind(enc) == 1) == read_only, "read-only data fields are exactly the type-1 fields");
    enc
}

macro_rules! field_type {
    ($name:ident, $t:ty, $w:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(u32);
        impl $name {
            /// The field with this encoding (checked at compile time).
            pub const fn new(enc: u32) -> Self {
                Self(check(enc, $w, false))
            }
            /// The encoding.
            pub const fn encoding(self) -> u32 {
                self.0
            }
            /// VMREAD.
            pub fn read(self) -> Result<$t, VmFail> {
                vmread(self.0).map(|v| v as $t)
            }
            /// VMWRITE.
            pub fn write(self, v: $t) -> Result<(), VmFail> {
                vmwrite(self.0, v as u64)
            }
        }
    };
}

macro_rules! ro_field_type {
    ($name:ident, $t:ty, $w:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(u32);
        impl $name {
            /// The field with this encoding (checked at compile time).
            pub const fn new(enc: u32) -> Self {
                Self(check(enc, $w, true))
            }
            /// The encoding.
            pub const fn encoding(self) -> u32 {
                self.0
            }
            /// VMREAD.
            pub fn read(self) -> Result<$t, VmFail> {
                vmread(self.0).map(|v| v as $t)
            }
        }
    };
}

field_type!(F16, u16, 0, "A writable 16-bit field.");
field_type!(F64, u64, 1, "A writable 64-bit field.");
field_type!(F32, u32, 2, "A writable 32-bit field.");
field_type!(FNat, u64, 3, "A writable natural-width field.");
ro_field_type!(Ro64, u64, 1, "A read-only 64-bit VM-exit information field.");
ro_field_type!(Ro32, u32, 2, "A read-only 32-bit VM-exit information field.");
ro_field_type!(RoNat, u64, 3, "A read-only natural-width VM-exit information field.");

/// Control fields (B.1.1, B.2.1, B.3.1, B.4.1).
pub mod control {
    use super::*;
    /// Virtual-processor identifier.
    pub const VPID: F16 = F16::new(0x0000);
    /// Address of I/O bitmap A (ports 0000H-7FFFH).
    pub const IO_BITMAP_A: F64 = F64::new(0x2000);
    /// Address of I/O bitmap B (ports 8000H-FFFFH).
    pub const IO_BITMAP_B: F64 = F64::new(0x2002);
    /// Address of the MSR bitmaps.
    pub const MSR_BITMAP: F64 = F64::new(0x2004);
    /// EPT pointer.
    pub const EPTP: F64 = F64::new(0x201A);
    /// Pin-based VM-execution controls.
    pub const PIN_BASED: F32 = F32::new(0x4000);
    /// Primary processor-based VM-execution controls.
    pub const PROC_BASED: F32 = F32::new(0x4002);
    /// Exception bitmap.
    pub const EXCEPTION_BITMAP: F32 = F32::new(0x4004);
    /// Page-fault error-code mask.
    pub const PF_ERROR_MASK: F32 = F32::new(0x4006);
    /// Page-fault error-code match.
    pub const PF_ERROR_MATCH: F32 = F32::new(0x4008);
    /// CR3-target count.
    pub const CR3_TARGET_COUNT: F32 = F32::new(0x400A);
    /// VM-exit controls.
    pub const EXIT_CONTROLS: F32 = F32::new(0x400C);
    /// VM-exit MSR-store count.
    pub const EXIT_MSR_STORE_COUNT: F32 = F32::new(0x400E);
    /// VM-exit MSR-load count.
    pub const EXIT_MSR_LOAD_COUNT: F32 = F32::new(0x4010);
    /// VM-entry controls.
    pub const ENTRY_CONTROLS: F32 = F32::new(0x4012);
    /// VM-entry MSR-load count.
    pub const ENTRY_MSR_LOAD_COUNT: F32 = F32::new(0x4014);
    /// VM-entry interruption-information field.
    pub const ENTRY_INTERRUPTION_INFO: F32 = F32::new(0x4016);
    /// VM-entry exception error code.
    pub const ENTRY_EXCEPTION_ERROR: F32 = F32::new(0x4018);
    /// VM-entry instruction length.
    pub const ENTRY_INSTRUCTION_LEN: F32 = F32::new(0x401A);
    /// Secondary processor-based VM-execution controls.
    pub const PROC_BASED2: F32 = F32::new(0x401E);
    /// CR0 guest/host mask.
    pub const CR0_MASK: FNat = FNat::new(0x6000);
    /// CR4 guest/host mask.
    pub const CR4_MASK: FNat = FNat::new(0x6002);
    /// CR0 read shadow.
    pub const CR0_SHADOW: FNat = FNat::new(0x6004);
    /// CR4 read shadow.
    pub const CR4_SHADOW: FNat = FNat::new(0x6006);
}

/// Read-only data fields (B.2.2, B.3.2, B.4.2).
pub mod exit {
    use super::*;
    /// Guest-physical address (EPT violations and misconfigurations).
    pub const GUEST_PHYSICAL: Ro64 = Ro64::new(0x2400);
    /// VM-instruction error.
    pub const INSTRUCTION_ERROR: Ro32 = Ro32::new(0x4400);
    /// Exit reason.
    pub const REASON: Ro32 = Ro32::new(0x4402);
    /// VM-exit interruption information.
    pub const INTERRUPTION_INFO: Ro32 = Ro32::new(0x4404);
    /// VM-exit interruption error code.
    pub const INTERRUPTION_ERROR: Ro32 = Ro32::new(0x4406);
    /// IDT-vectoring information.
    pub const IDT_VECTORING_INFO: Ro32 = Ro32::new(0x4408);
    /// VM-exit instruction length.
    pub const INSTRUCTION_LEN: Ro32 = Ro32::new(0x440C);
    /// Exit qualification.
    pub const QUALIFICATION: RoNat = RoNat::new(0x6400);
    /// Guest-linear address.
    pub const GUEST_LINEAR: RoNat = RoNat::new(0x640A);
}

/// Guest-state fields (B.1.2, B.2.3, B.3.3, B.4.3).
pub mod guest {
    use super::*;
    /// ES, CS, SS, DS, FS, GS, LDTR, TR selectors.
    pub const SELECTORS: [F16; 8] = [
        F16::new(0x0800), F16::new(0x0802), F16::new(0x0804), F16::new(0x0806),
        F16::new(0x0808), F16::new(0x080A), F16::new(0x080C), F16::new(0x080E),
    ];
    /// VMCS link pointer.
    pub const VMCS_LINK: F64 = F64::new(0x2800);
    /// IA32_DEBUGCTL.
    pub const DEBUGCTL: F64 = F64::new(0x2802);
    /// ES ... TR limits (same order as [`SELECTORS`]).
    pub const LIMITS: [F32; 8] = [
        F32::new(0x4800), F32::new(0x4802), F32::new(0x4804), F32::new(0x4806),
        F32::new(0x4808), F32::new(0x480A), F32::new(0x480C), F32::new(0x480E),
    ];
    /// GDTR limit.
    pub const GDTR_LIMIT: F32 = F32::new(0x4810);
    /// IDTR limit.
    pub const IDTR_LIMIT: F32 = F32::new(0x4812);
    /// ES ... TR access rights (same order as [`SELECTORS`]).
    pub const ACCESS: [F32; 8] = [
        F32::new(0x4814), F32::new(0x4816), F32::new(0x4818), F32::new(0x481A),
        F32::new(0x481C), F32::new(0x481E), F32::new(0x4820), F32::new(0x4822),
    ];
    /// Interruptibility state.
    pub const INTERRUPTIBILITY: F32 = F32::new(0x4824);
    /// Activity state.
    pub const ACTIVITY: F32 = F32::new(0x4826);
    /// IA32_SYSENTER_CS.
    pub const SYSENTER_CS: F32 = F32::new(0x482A);
    /// CR0.
    pub const CR0: FNat = FNat::new(0x6800);
    /// CR3.
    pub const CR3: FNat = FNat::new(0x6802);
    /// CR4.
    pub const CR4: FNat = FNat::new(0x6804);
    /// ES ... TR bases (same order as [`SELECTORS`]).
    pub const BASES: [FNat; 8] = [
        FNat::new(0x6806), FNat::new(0x6808), FNat::new(0x680A), FNat::new(0x680C),
        FNat::new(0x680E), FNat::new(0x6810), FNat::new(0x6812), FNat::new(0x6814),
    ];
    /// GDTR base.
    pub const GDTR_BASE: FNat = FNat::new(0x6816);
    /// IDTR base.
    pub const IDTR_BASE: FNat = FNat::new(0x6818);
    /// DR7.
    pub const DR7: FNat = FNat::new(0x681A);
    /// RSP.
    pub const RSP: FNat = FNat::new(0x681C);
    /// RIP.
    pub const RIP: FNat = FNat::new(0x681E);
    /// RFLAGS.
    pub const RFLAGS: FNat = FNat::new(0x6820);
    /// Pending debug exceptions.
    pub const PENDING_DEBUG: FNat = FNat::new(0x6822);
    /// IA32_SYSENTER_ESP.
    pub const SYSENTER_ESP: FNat = FNat::new(0x6824);
    /// IA32_SYSENTER_EIP.
    pub const SYSENTER_EIP: FNat = FNat::new(0x6826);
}

/// Host-state fields (B.1.3, B.3.4, B.4.4).
pub mod host {
    use super::*;
    /// ES selector.
    pub const ES: F16 = F16::new(0x0C00);
    /// CS selector.
    pub const CS: F16 = F16::new(0x0C02);
    /// SS selector.
    pub const SS: F16 = F16::new(0x0C04);
    /// DS selector.
    pub const DS: F16 = F16::new(0x0C06);
    /// FS selector.
    pub const FS: F16 = F16::new(0x0C08);
    /// GS selector.
    pub const GS: F16 = F16::new(0x0C0A);
    /// TR selector.
    pub const TR: F16 = F16::new(0x0C0C);
    /// IA32_SYSENTER_CS.
    pub const SYSENTER_CS: F32 = F32::new(0x4C00);
    /// CR0.
    pub const CR0: FNat = FNat::new(0x6C00);
    /// CR3.
    pub const CR3: FNat = FNat::new(0x6C02);
    /// CR4.
    pub const CR4: FNat = FNat::new(0x6C04);
    /// FS base.
    pub const FS_BASE: FNat = FNat::new(0x6C06);
    /// GS base.
    pub const GS_BASE: FNat = FNat::new(0x6C08);
    /// TR base.
    pub const TR_BASE: FNat = FNat::new(0x6C0A);
    /// GDTR base.
    pub const GDTR_BASE: FNat = FNat::new(0x6C0C);
    /// IDTR base.
    pub const IDTR_BASE: FNat = FNat::new(0x6C0E);
    /// IA32_SYSENTER_ESP.
    pub const SYSENTER_ESP: FNat = FNat::new(0x6C10);
    /// IA32_SYSENTER_EIP.
    pub const SYSENTER_EIP: FNat = FNat::new(0x6C12);
    /// RSP (written by the world switch, [`crate::vmx::run`]).
    pub const RSP: FNat = FNat::new(0x6C14);
    /// RIP.
    pub const RIP: FNat = FNat::new(0x6C16);
}
