//! One type per address space, so that the compiler refuses to mix them.
//!
//! Arithmetic is explicit (`checked_add`, `wrapping_add`): an address plus an offset is a
//! decision about overflow, not an accident. Validity (canonical width, MAXPHYADDR) depends on
//! the modelled CPU and is checked by the code that knows the model, not baked in here.

macro_rules! address_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub u64);

        impl $name {
            /// Wraps a raw address.
            #[inline]
            pub const fn new(raw: u64) -> Self {
                Self(raw)
            }
            /// The raw address.
            #[inline]
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// The address `offset` bytes further, or `None` on overflow.
            #[inline]
            pub const fn checked_add(self, offset: u64) -> Option<Self> {
                match self.0.checked_add(offset) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
            /// The address `offset` bytes further, wrapping at 2^64.
            #[inline]
            pub const fn wrapping_add(self, offset: u64) -> Self {
                Self(self.0.wrapping_add(offset))
            }
            /// The 4-KiByte page number (address >> 12).
            #[inline]
            pub const fn page_number(self) -> u64 {
                self.0 >> 12
            }
            /// The offset within the 4-KiByte page.
            #[inline]
            pub const fn page_offset(self) -> u64 {
                self.0 & 0xfff
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({:#x})"), self.0)
            }
        }

        impl core::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address_type!(
    /// A physical address of the emulated machine (what the CPU puts on the bus after paging,
    /// and after EPT when in VMX non-root operation).
    PhysAddr
);
address_type!(
    /// A linear address: segment base plus offset, before paging (SDM Vol. 3A 3.1).
    LinearAddr
);
address_type!(
    /// A guest-physical address of a VMX guest: the output of guest paging, the input of EPT
    /// (SDM Vol. 3C 29.3).
    GuestPhysAddr
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_add_reports_overflow() {
        assert_eq!(PhysAddr::new(u64::MAX - 1).checked_add(1), Some(PhysAddr(u64::MAX)));
        assert_eq!(PhysAddr::new(u64::MAX).checked_add(1), None);
        assert_eq!(LinearAddr::new(u64::MAX).wrapping_add(2), LinearAddr(1));
    }

    #[test]
    fn page_split() {
        let a = LinearAddr::new(0x1234_5678);
        assert_eq!(a.page_number(), 0x12345);
        assert_eq!(a.page_offset(), 0x678);
        assert_eq!(format!("{a:?}"), "LinearAddr(0x12345678)");
    }
}
