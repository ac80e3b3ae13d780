//! hvbench's memory management unit: physical memory (RAM regions with code-page
//! tracking), one newtype per address space, the page walkers (guest paging, EPT and the
//! two-dimensional walk of a VMX guest) and the TLB.
//!
//! The walkers are pure: given memory, a translation context and an access, they return a
//! translation or a fault description, plus the list of memory references they made. They
//! do not know what an exception vector is; the CPU turns a [`paging::WalkFault`] into #PF,
//! and the vmx crate turns an [`ept::EptFault`] into an EPT-violation or -misconfiguration exit.
//!
//! References are to the Intel SDM, revision pinned in [`SDM_REVISION`].

/// The Intel SDM revision that every section number in this crate refers to.
pub const SDM_REVISION: &str = "Intel 64 and IA-32 Architectures SDM, Order 325462-084US (June 2024)";

pub mod addr;
pub mod bus;
pub mod ept;
pub mod nested;
pub mod paging;
pub mod phys;
pub mod tlb;

pub use addr::{GuestPhysAddr, LinearAddr, PhysAddr};
pub use bus::{Bus, CpuIndex, EmptyBus, MsrAccess};
pub use phys::{PhysMem, RamLayoutError};
