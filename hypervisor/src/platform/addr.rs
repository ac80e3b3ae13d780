//! Address types: host-physical and guest-physical addresses are different types, so that a
//! guest-physical address cannot be handed where a host one is meant (EPT maps one to the
//! other). The kernel is identity-mapped: a host-physical address is also a pointer.

/// Size of a 4-KiB page.
pub const PAGE_SIZE: u64 = 4096;

/// A host-physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HostPhys(pub u64);

/// A guest-physical address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct GuestPhys(pub u64);

impl HostPhys {
    /// The address as a pointer (identity map).
    pub fn as_mut_ptr<T>(self) -> *mut T {
        self.0 as usize as *mut T
    }
    /// The host-physical address of a kernel object (identity map).
    pub fn of<T: ?Sized>(p: *const T) -> Self {
        Self(p as *const u8 as usize as u64)
    }
}

impl GuestPhys {
    /// The 4-KiB page containing this address.
    pub fn page(self) -> Self {
        Self(self.0 & !(PAGE_SIZE - 1))
    }
    /// `self + off`, `None` on overflow.
    pub fn checked_add(self, off: u64) -> Option<Self> {
        self.0.checked_add(off).map(Self)
    }
}
