//! Exceptions and the ways an instruction can end early (SDM Vol. 3A 6.3, Table 6-1).

/// Exception vectors (SDM Vol. 3A Table 6-1).
pub mod vector {
    /// Divide error.
    pub const DE: u8 = 0;
    /// Debug.
    pub const DB: u8 = 1;
    /// Non-maskable interrupt.
    pub const NMI: u8 = 2;
    /// Breakpoint.
    pub const BP: u8 = 3;
    /// Overflow.
    pub const OF: u8 = 4;
    /// BOUND range exceeded.
    pub const BR: u8 = 5;
    /// Invalid opcode.
    pub const UD: u8 = 6;
    /// Device not available.
    pub const NM: u8 = 7;
    /// Double fault.
    pub const DF: u8 = 8;
    /// Invalid TSS.
    pub const TS: u8 = 10;
    /// Segment not present.
    pub const NP: u8 = 11;
    /// Stack-segment fault.
    pub const SS: u8 = 12;
    /// General protection.
    pub const GP: u8 = 13;
    /// Page fault.
    pub const PF: u8 = 14;
    /// x87 floating-point error.
    pub const MF: u8 = 16;
    /// Alignment check.
    pub const AC: u8 = 17;
    /// Machine check.
    pub const MC: u8 = 18;
    /// SIMD floating-point exception.
    pub const XM: u8 = 19;
    /// Virtualization exception.
    pub const VE: u8 = 20;
    /// Control-protection exception.
    pub const CP: u8 = 21;
}

/// An exception raised by an instruction or by event delivery.
///
/// Kept to 16 bytes so that a handler's `Result<(), Fault>` comes back in two registers
/// (every instruction returns one); use [`Exception::error_code`] and [`Exception::cr2`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exception {
    /// The faulting linear address for #PF (loaded into CR2 at delivery).
    addr: u64,
    /// The error code (valid when `has_code`).
    code: u32,
    /// The vector.
    pub vector: u8,
    has_code: bool,
}

impl Exception {
    /// An exception without an error code.
    pub const fn plain(vector: u8) -> Self {
        Self { vector, has_code: false, code: 0, addr: 0 }
    }
    /// An exception with an error code.
    pub const fn with_code(vector: u8, code: u32) -> Self {
        Self { vector, has_code: true, code, addr: 0 }
    }
    /// The error code, for the vectors that push one.
    #[inline]
    pub const fn error_code(&self) -> Option<u32> {
        if self.has_code { Some(self.code) } else { None }
    }
    /// The faulting linear address of a #PF (what CR2 receives).
    #[inline]
    pub const fn cr2(&self) -> Option<u64> {
        if self.vector == vector::PF { Some(self.addr) } else { None }
    }
    /// #DE.
    pub const fn de() -> Self {
        Self::plain(vector::DE)
    }
    /// #DB without new DR6 bits.
    pub const fn db() -> Self {
        Self::plain(vector::DB)
    }
    /// #DB with the DR6 bits of its causes (B3-B0, BD, BS), which its delivery sets in DR6
    /// and a VM exit instead reports as the exit qualification (SDM Vol. 3C 28.1: a #DB that
    /// causes a VM exit does not update DR6 or DR7.GD; 28.2.1 table "Exit Qualification for
    /// Debug Exceptions").
    pub const fn db_with(dr6: u64) -> Self {
        Self { vector: vector::DB, has_code: false, code: 0, addr: dr6 }
    }
    /// The DR6 bits of a #DB (see [`Self::db_with`]).
    #[inline]
    pub const fn dr6(&self) -> Option<u64> {
        if self.vector == vector::DB { Some(self.addr) } else { None }
    }
    /// #BP.
    pub const fn bp() -> Self {
        Self::plain(vector::BP)
    }
    /// #OF.
    pub const fn of() -> Self {
        Self::plain(vector::OF)
    }
    /// #BR.
    pub const fn br() -> Self {
        Self::plain(vector::BR)
    }
    /// #UD.
    pub const fn ud() -> Self {
        Self::plain(vector::UD)
    }
    /// #NM.
    pub const fn nm() -> Self {
        Self::plain(vector::NM)
    }
    /// #DF (error code 0).
    pub const fn df() -> Self {
        Self::with_code(vector::DF, 0)
    }
    /// #TS(selector).
    pub const fn ts(code: u32) -> Self {
        Self::with_code(vector::TS, code)
    }
    /// #NP(selector).
    pub const fn np(code: u32) -> Self {
        Self::with_code(vector::NP, code)
    }
    /// #SS(code).
    pub const fn ss(code: u32) -> Self {
        Self::with_code(vector::SS, code)
    }
    /// #GP(code).
    pub const fn gp(code: u32) -> Self {
        Self::with_code(vector::GP, code)
    }
    /// #GP(0).
    pub const fn gp0() -> Self {
        Self::gp(0)
    }
    /// #PF with its error code and faulting linear address.
    pub const fn pf(addr: u64, code: u32) -> Self {
        Self { vector: vector::PF, has_code: true, code, addr }
    }
    /// #MF.
    pub const fn mf() -> Self {
        Self::plain(vector::MF)
    }
    /// #AC(0).
    pub const fn ac() -> Self {
        Self::with_code(vector::AC, 0)
    }
    /// #XM.
    pub const fn xm() -> Self {
        Self::plain(vector::XM)
    }

    /// The exception's class for double-fault purposes (SDM Vol. 3A Table 6-4).
    pub const fn class(&self) -> Class {
        match self.vector {
            vector::DE | vector::TS | vector::NP | vector::SS | vector::GP => Class::Contributory,
            vector::PF => Class::PageFault,
            vector::DF => Class::DoubleFault,
            _ => Class::Benign,
        }
    }

    /// The SDM mnemonic, e.g. "#GP".
    pub const fn mnemonic(&self) -> &'static str {
        mnemonic(self.vector)
    }
}

/// The SDM mnemonic of an exception vector ("#GP"), or "INTn" style names for others.
pub const fn mnemonic(v: u8) -> &'static str {
    match v {
        vector::DE => "#DE",
        vector::DB => "#DB",
        vector::NMI => "NMI",
        vector::BP => "#BP",
        vector::OF => "#OF",
        vector::BR => "#BR",
        vector::UD => "#UD",
        vector::NM => "#NM",
        vector::DF => "#DF",
        9 => "coprocessor-segment-overrun",
        vector::TS => "#TS",
        vector::NP => "#NP",
        vector::SS => "#SS",
        vector::GP => "#GP",
        vector::PF => "#PF",
        vector::MF => "#MF",
        vector::AC => "#AC",
        vector::MC => "#MC",
        vector::XM => "#XM",
        vector::VE => "#VE",
        vector::CP => "#CP",
        _ => "interrupt",
    }
}

/// Classes that decide whether a second exception becomes #DF (SDM Vol. 3A Table 6-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Benign exceptions and interrupts.
    Benign,
    /// #DE, #TS, #NP, #SS, #GP.
    Contributory,
    /// #PF.
    PageFault,
    /// #DF itself.
    DoubleFault,
}

/// Why an instruction did not complete normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// An exception to deliver through the IDT (or to a VMM).
    Exception(Exception),
    /// The instruction's work was taken over by an extension (a VM exit happened, or an
    /// event was already delivered): the architectural state is already final.
    Diverted,
    /// The guest used something hvbench does not model and cannot refuse architecturally
    /// (e.g. a task switch through a task gate). The machine stops and says what.
    /// (A reference to the message keeps `Fault` at 16 bytes: write `Unsupported(&"...")`.)
    Unsupported(&'static &'static str),
}

impl From<Exception> for Fault {
    #[inline(always)]
    fn from(e: Exception) -> Self {
        Fault::Exception(e)
    }
}

/// The result of executing part of an instruction.
pub type Result<T> = core::result::Result<T, Fault>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handler_result_fits_in_two_registers() {
        assert!(core::mem::size_of::<Result<()>>() <= 16, "Result<(), Fault> grew: handlers return it on every instruction");
    }

    #[test]
    fn accessors() {
        assert_eq!(Exception::pf(0x1000, 2).cr2(), Some(0x1000));
        assert_eq!(Exception::pf(0x1000, 2).error_code(), Some(2));
        assert_eq!(Exception::gp(8).cr2(), None);
        assert_eq!(Exception::ud().error_code(), None);
    }

    #[test]
    fn classes_follow_sdm_table_6_4() {
        assert_eq!(Exception::gp0().class(), Class::Contributory);
        assert_eq!(Exception::de().class(), Class::Contributory);
        assert_eq!(Exception::pf(0, 0).class(), Class::PageFault);
        assert_eq!(Exception::ud().class(), Class::Benign);
        assert_eq!(Exception::db().class(), Class::Benign);
        assert_eq!(Exception::df().class(), Class::DoubleFault);
    }
}
