//! Segment registers and their hidden descriptor caches (SDM Vol. 3A 3.4 "Logical and Linear
//! Addresses", 3.5 "System Descriptor Types").
//!
//! Attributes are kept in the VMX access-rights layout (SDM Vol. 3C 25.4.1, Table 25-2) so
//! VM entries and exits move them without translation.

/// Index of a segment register in [`crate::state::CpuState::seg`] (the SDM's encoding order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum SegReg {
    /// ES.
    Es = 0,
    /// CS.
    Cs = 1,
    /// SS.
    Ss = 2,
    /// DS.
    Ds = 3,
    /// FS.
    Fs = 4,
    /// GS.
    Gs = 5,
}

impl SegReg {
    /// All six in encoding order.
    pub const ALL: [SegReg; 6] = [SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs];
    /// The name, as the SDM writes it.
    pub const fn name(self) -> &'static str {
        ["ES", "CS", "SS", "DS", "FS", "GS"][self as usize]
    }
}

/// Access-rights bits (VMX layout, SDM Vol. 3C Table 25-2).
pub mod attr {
    /// Segment type (4 bits).
    pub const TYPE: u32 = 0xf;
    /// Accessed (data/code types).
    pub const ACCESSED: u32 = 1 << 0;
    /// Writable (data) / readable (code).
    pub const RW: u32 = 1 << 1;
    /// Expand-down (data) / conforming (code).
    pub const DC: u32 = 1 << 2;
    /// Code segment (with S=1).
    pub const CODE: u32 = 1 << 3;
    /// Descriptor type: 1 = code or data, 0 = system.
    pub const S: u32 = 1 << 4;
    /// Descriptor privilege level (2 bits).
    pub const DPL: u32 = 3 << 5;
    /// Present.
    pub const P: u32 = 1 << 7;
    /// Available for software.
    pub const AVL: u32 = 1 << 12;
    /// 64-bit code segment.
    pub const L: u32 = 1 << 13;
    /// Default operation size (D) / big (B).
    pub const DB: u32 = 1 << 14;
    /// Granularity (limit in 4-KiByte units).
    pub const G: u32 = 1 << 15;
    /// Segment unusable (null selector loaded); VMX only.
    pub const UNUSABLE: u32 = 1 << 16;
}

/// System-descriptor types (S=0), SDM Vol. 3A Table 3-2.
pub mod systype {
    /// 16-bit TSS, available.
    pub const TSS16_AVAIL: u32 = 1;
    /// LDT.
    pub const LDT: u32 = 2;
    /// 16-bit TSS, busy.
    pub const TSS16_BUSY: u32 = 3;
    /// 16-bit call gate.
    pub const CALL_GATE16: u32 = 4;
    /// Task gate.
    pub const TASK_GATE: u32 = 5;
    /// 16-bit interrupt gate.
    pub const INT_GATE16: u32 = 6;
    /// 16-bit trap gate.
    pub const TRAP_GATE16: u32 = 7;
    /// 32/64-bit TSS, available.
    pub const TSS_AVAIL: u32 = 9;
    /// 32/64-bit TSS, busy.
    pub const TSS_BUSY: u32 = 11;
    /// 32/64-bit call gate.
    pub const CALL_GATE: u32 = 12;
    /// 32/64-bit interrupt gate.
    pub const INT_GATE: u32 = 14;
    /// 32/64-bit trap gate.
    pub const TRAP_GATE: u32 = 15;
}

/// A segment register: the visible selector and the hidden descriptor cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Segment {
    /// Visible selector.
    pub selector: u16,
    /// Base address (64 bits for FS, GS, LDTR, TR in IA-32e mode).
    pub base: u64,
    /// Limit in bytes, already scaled by G.
    pub limit: u32,
    /// Access rights, VMX layout ([`attr`]).
    pub attr: u32,
}

impl Segment {
    /// A real-mode segment for `selector` (base = selector << 4, 64-KiB limit, data RW).
    pub const fn real_mode(selector: u16, attr: u32) -> Self {
        Self { selector, base: (selector as u64) << 4, limit: 0xffff, attr }
    }
    /// The DPL field.
    #[inline]
    pub const fn dpl(&self) -> u8 {
        ((self.attr & attr::DPL) >> 5) as u8
    }
    /// The type field.
    #[inline]
    pub const fn typ(&self) -> u32 {
        self.attr & attr::TYPE
    }
    /// Whether it is unusable (a null selector was loaded in protected mode).
    #[inline]
    pub const fn unusable(&self) -> bool {
        self.attr & attr::UNUSABLE != 0
    }
    /// D/B flag.
    #[inline]
    pub const fn db(&self) -> bool {
        self.attr & attr::DB != 0
    }
    /// L flag.
    #[inline]
    pub const fn long(&self) -> bool {
        self.attr & attr::L != 0
    }
}

/// GDTR or IDTR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DescTable {
    /// Linear base address.
    pub base: u64,
    /// Limit (bytes - 1).
    pub limit: u16,
}

/// A decoded 8-byte segment descriptor (SDM Vol. 3A 3.4.5, Figure 3-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// The raw 8 bytes.
    pub raw: u64,
}

impl Descriptor {
    /// Base address bits 31:0.
    pub const fn base(&self) -> u64 {
        let r = self.raw;
        ((r >> 16) & 0xff_ffff) | (((r >> 56) & 0xff) << 24)
    }
    /// Limit in bytes, scaled by G.
    pub const fn limit(&self) -> u32 {
        let r = self.raw;
        let raw = ((r & 0xffff) | (((r >> 48) & 0xf) << 16)) as u32;
        if r & (1 << 55) != 0 { (raw << 12) | 0xfff } else { raw }
    }
    /// Access rights in the VMX layout (bits 40..47 and 52..55 of the descriptor).
    pub const fn attr(&self) -> u32 {
        (((self.raw >> 40) & 0xff) | (((self.raw >> 52) & 0xf) << 12)) as u32
    }
    /// The segment-cache entry this descriptor loads for `selector`.
    pub const fn to_segment(&self, selector: u16) -> Segment {
        Segment { selector, base: self.base(), limit: self.limit(), attr: self.attr() }
    }
    /// Present flag.
    pub const fn present(&self) -> bool {
        self.raw & (1 << 47) != 0
    }
    /// DPL.
    pub const fn dpl(&self) -> u8 {
        ((self.raw >> 45) & 3) as u8
    }
    /// S flag (code/data when set).
    pub const fn is_code_or_data(&self) -> bool {
        self.raw & (1 << 44) != 0
    }
    /// Type field.
    pub const fn typ(&self) -> u32 {
        ((self.raw >> 40) & 0xf) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_code_descriptor_decodes() {
        // The classic flat 32-bit ring-0 code descriptor 0x00cf9a000000ffff.
        let d = Descriptor { raw: 0x00cf_9a00_0000_ffff };
        assert_eq!(d.base(), 0);
        assert_eq!(d.limit(), 0xffff_ffff);
        assert!(d.present() && d.is_code_or_data());
        assert_eq!(d.typ(), 0xa);
        let s = d.to_segment(8);
        assert!(s.db() && !s.long());
        assert_eq!(s.attr, 0xc09a);
        // 64-bit code 0x00af9a000000ffff: L=1, D=0.
        let l = Descriptor { raw: 0x00af_9a00_0000_ffff }.to_segment(8);
        assert!(l.long() && !l.db());
    }

    #[test]
    fn base_bits_are_gathered() {
        let d = Descriptor { raw: 0x1200_9234_5678_0000 };
        assert_eq!(d.base(), 0x1234_5678);
        assert_eq!(d.limit(), 0);
    }
}
