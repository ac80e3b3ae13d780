//! The extended-page-table (EPT) walker: guest-physical to physical translation for a VMX guest.
//!
//! SDM Vol. 3C chapter 29 "VMX Support for Address Translation" (revision in
//! [`crate::SDM_REVISION`]): 29.3 "The Extended Page Table Mechanism (EPT)", 29.3.2 "EPT
//! Translation Mechanism" (entry formats, Tables 29-1 ff), 29.3.3 "EPT-Induced VM Exits" with
//! 29.3.3.1 "EPT Misconfigurations", 29.3.3.2 "EPT Violations" and 29.3.3.3 "Prioritization of
//! EPT Misconfigurations and EPT Violations", 29.3.4 "Accessed and Dirty Flags for EPT". The EPTP
//! format is Vol. 3C 25.6.11 "Extended-Page-Table Pointer (EPTP)", its VM-entry
//! checks 27.2.1.1, the exit qualification 28.2.1 Table 28-7 "Exit Qualification for EPT
//! Violations". Section numbers follow the chapter numbering of the 2023-2024 editions (VM
//! exits = chapter 28, address translation = chapter 29).
//!
//! The walker knows nothing of VM exits: it returns an [`EptFault`] whose violation variant
//! carries every bit of the exit qualification that the MMU can know; the vmx crate adds bit 12
//! (NMI unblocking due to IRET) and turns the fault into an exit.
//!
//! Choices where the SDM leaves the value open are documented at the point of use:
//! - undefined qualification bits (6 without mode-based execute control, 9-11 without the
//!   "advanced VM-exit information" capability or when bit 8 is 0, 14) are reported as 0;
//! - accessed flags are set only by a walk that produces a translation (the SDM allows a
//!   processor to set them on the way; hvbench sets none on a faulting walk);
//! - memory that is not RAM reads as all ones, so an EPT table in MMIO space misconfigures.

use crate::addr::{GuestPhysAddr, PhysAddr};
use crate::paging::{AccessKind, MemRefs, PageTableMemory, Rights};

/// EPT paging-structure entry bits (SDM 29.3.2, Tables 29-1 to 29-7).
pub mod entry {
    /// Read access.
    pub const R: u64 = 1 << 0;
    /// Write access.
    pub const W: u64 = 1 << 1;
    /// Execute access (for supervisor-mode linear addresses when mode-based execute control
    /// for EPT is 1).
    pub const X: u64 = 1 << 2;
    /// Bits 2:0, whose value decides presence and misconfiguration.
    pub const RWX: u64 = R | W | X;
    /// EPT memory type, bits 5:3 of an entry that maps a page (29.3.7 "EPT and Memory Typing").
    pub const MEMORY_TYPE: u64 = 0b111 << 3;
    /// Ignore PAT memory type (entries that map a page).
    pub const IGNORE_PAT: u64 = 1 << 6;
    /// Bit 7 of an EPT PDPTE or PDE: the entry maps a 1-GByte / 2-MByte page.
    pub const PAGE_SIZE: u64 = 1 << 7;
    /// Accessed flag (when EPTP bit 6 is 1).
    pub const ACCESSED: u64 = 1 << 8;
    /// Dirty flag, in entries that map a page (when EPTP bit 6 is 1).
    pub const DIRTY: u64 = 1 << 9;
    /// Execute access for user-mode linear addresses (when mode-based execute control for EPT
    /// is 1; ignored otherwise).
    pub const USER_X: u64 = 1 << 10;
    /// Physical-address bits 51:12.
    pub const ADDR: u64 = 0x000f_ffff_ffff_f000;
}

/// Memory-type encodings (SDM Vol. 3A 12.3 / Table 12-8; EPTP and EPT leaf entries).
pub mod memory_type {
    /// Uncacheable.
    pub const UC: u8 = 0;
    /// Write combining.
    pub const WC: u8 = 1;
    /// Write through.
    pub const WT: u8 = 4;
    /// Write protected.
    pub const WP: u8 = 5;
    /// Write back.
    pub const WB: u8 = 6;
}

/// What the modelled CPU's EPT supports: the bits of IA32_VMX_EPT_VPID_CAP (SDM Vol. 3D
/// Appendix A.10) and of the secondary processor-based controls that the walker depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EptCaps {
    /// Bit 0: execute-only translations (bits 2:0 = 100b) are supported.
    pub execute_only: bool,
    /// Bit 6: a page-walk length of 4 (4-level EPT) is supported.
    pub walk4: bool,
    /// Bit 7: a page-walk length of 5 (5-level EPT) is supported.
    pub walk5: bool,
    /// Bit 8: the EPTP may select the uncacheable memory type.
    pub uc: bool,
    /// Bit 14: the EPTP may select the write-back memory type.
    pub wb: bool,
    /// Bit 16: EPT PDEs may map 2-MByte pages.
    pub page_2m: bool,
    /// Bit 17: EPT PDPTEs may map 1-GByte pages.
    pub page_1g: bool,
    /// Bit 21: accessed and dirty flags for EPT (EPTP bit 6 may be 1).
    pub accessed_dirty: bool,
    /// Bit 22: advanced VM-exit information for EPT violations (qualification bits 9-11).
    pub advanced_exit_info: bool,
    /// The "mode-based execute control for EPT" VM-execution control (bit 22 of the
    /// secondary processor-based controls) may be 1.
    pub mbec: bool,
}

impl EptCaps {
    /// Everything hvbench's EPT walker implements.
    pub const ALL: Self = Self {
        execute_only: true,
        walk4: true,
        walk5: true,
        uc: true,
        wb: true,
        page_2m: true,
        page_1g: true,
        accessed_dirty: true,
        advanced_exit_info: true,
        mbec: true,
    };
}

/// Why an EPTP value may not be used by VM entry or INVEPT (SDM 27.2.1.1, and INVEPT in
/// chapter 31: "VMfailValid(invalid operand to INVEPT/INVVPID)" for an invalid EPTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EptpError {
    /// Bits 2:0 select a memory type the CPU does not allow (only UC and WB can be allowed).
    #[error("EPTP bits 2:0 (memory type) = {0}: only UC (0) and WB (6) can be valid, and only when IA32_VMX_EPT_VPID_CAP allows them")]
    MemoryType(u8),
    /// Bits 5:3 (page-walk length - 1) are neither 3 (4-level) nor 4 (5-level), or select a
    /// length the CPU does not support.
    #[error("EPTP bits 5:3 (page-walk length - 1) = {0}: must be 3 (4-level EPT) or 4 (5-level EPT) as IA32_VMX_EPT_VPID_CAP allows")]
    WalkLength(u8),
    /// Bit 6 (enable accessed/dirty flags) is 1 but the CPU lacks the capability.
    #[error("EPTP bit 6 (accessed and dirty flags) is 1 but IA32_VMX_EPT_VPID_CAP bit 21 is 0")]
    AccessedDirty,
    /// Bit 7 (supervisor shadow-stack control) is 1: hvbench does not support it.
    #[error("EPTP bit 7 (supervisor shadow-stack control) is 1, which this CPU does not support")]
    SupervisorShadowStack,
    /// A reserved bit (11:8 or 63:MAXPHYADDR) is 1; the value holds the offending bits.
    #[error("EPTP reserved bits {0:#x} are set (bits 11:8 and 63:MAXPHYADDR must be 0)")]
    Reserved(u64),
}

/// The extended-page-table pointer, a VM-execution control field (SDM 25.6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EptPointer(pub u64);

impl EptPointer {
    /// Bits 2:0: the memory type used for accesses to the EPT paging structures.
    pub const fn memory_type(self) -> u8 {
        (self.0 & 7) as u8
    }
    /// Bits 5:3 plus one: the page-walk length (4 or 5 in a valid EPTP).
    pub const fn walk_length(self) -> u8 {
        ((self.0 >> 3) & 7) as u8 + 1
    }
    /// Bit 6: accessed and dirty flags for EPT are enabled.
    pub const fn accessed_dirty(self) -> bool {
        self.0 & (1 << 6) != 0
    }
    /// Bit 7: supervisor shadow-stack control.
    pub const fn supervisor_shadow_stack(self) -> bool {
        self.0 & (1 << 7) != 0
    }
    /// Bits N-1:12: the physical address of the EPT PML4 table (or PML5 table with a
    /// page-walk length of 5), N = MAXPHYADDR.
    pub const fn root(self, maxphyaddr: u8) -> PhysAddr {
        PhysAddr(self.0 & entry::ADDR & phys_mask(maxphyaddr))
    }
    /// Whether this EPTP is valid for VM entry (SDM 27.2.1.1) and for single-context INVEPT,
    /// given the CPU's capabilities, checked in the order of the SDM's list.
    pub fn validate(self, caps: &EptCaps, maxphyaddr: u8) -> Result<(), EptpError> {
        let mt = self.memory_type();
        let mt_ok = (mt == memory_type::UC && caps.uc) || (mt == memory_type::WB && caps.wb);
        if !mt_ok {
            return Err(EptpError::MemoryType(mt));
        }
        let pwl = self.walk_length();
        if !((pwl == 4 && caps.walk4) || (pwl == 5 && caps.walk5)) {
            return Err(EptpError::WalkLength(pwl - 1));
        }
        if self.accessed_dirty() && !caps.accessed_dirty {
            return Err(EptpError::AccessedDirty);
        }
        if self.supervisor_shadow_stack() {
            return Err(EptpError::SupervisorShadowStack);
        }
        let reserved = self.0 & (0xf00 | !phys_mask(maxphyaddr));
        if reserved != 0 {
            return Err(EptpError::Reserved(reserved));
        }
        Ok(())
    }
}

/// Everything an EPT translation depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EptContext {
    /// The EPTP (validated by VM entry; the walker does not panic on an invalid one: a
    /// page-walk length other than 5 walks 4 levels).
    pub eptp: EptPointer,
    /// The CPU's EPT capabilities.
    pub caps: EptCaps,
    /// The "mode-based execute control for EPT" VM-execution control.
    pub mbec: bool,
    /// The modelled CPU's MAXPHYADDR.
    pub maxphyaddr: u8,
}

/// What kind of access uses the guest-physical address: it decides how the access is checked
/// and what bits 7-11 of the exit qualification say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EptOrigin {
    /// An access with no guest-linear address: PDPTE loads by MOV to CR or VM entry (which
    /// "are treated as reads", SDM 29.3.3.2), structures the VMCS points to. Qualification
    /// bit 7 = 0.
    NoLinear,
    /// A read of a guest paging-structure entry, or its accessed/dirty update, while
    /// translating a linear address. Qualification bit 7 = 1, bit 8 = 0. With EPTP bit 6 = 1
    /// every such access is treated as a write (SDM 29.3.3.2).
    GuestPagingStructure,
    /// The access to the translation of a guest-linear address. Qualification bits 7 and 8 =
    /// 1; `paging` gives the guest translation's rights for bits 9-11 and for mode-based
    /// execute control (a user-mode linear address has U/S = 1 at every level; with CR0.PG = 0
    /// every linear address is a user-mode, read/write, executable address).
    GuestLinear {
        /// The combined guest paging rights of the linear address.
        paging: Rights,
    },
}

/// One access to translate through EPT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EptAccess {
    /// Read, write or fetch.
    pub kind: AccessKind,
    /// What the access is for.
    pub origin: EptOrigin,
}

/// The permissions that the EPT entries used for a translation grant (the logical AND over
/// the entries of bits 0, 1, 2 and, with mode-based execute control, 10). Kept as a byte so
/// that a TLB entry can hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct EptPerms(pub u8);

impl EptPerms {
    /// Reads allowed.
    pub const READ: u8 = 1 << 0;
    /// Writes allowed.
    pub const WRITE: u8 = 1 << 1;
    /// Fetches allowed (from supervisor-mode linear addresses with mode-based execute control).
    pub const EXEC: u8 = 1 << 2;
    /// Fetches from user-mode linear addresses allowed (mode-based execute control only).
    pub const USER_EXEC: u8 = 1 << 3;
    /// Every permission: what a translation without EPT allows.
    pub const ALL: Self = Self(Self::READ | Self::WRITE | Self::EXEC | Self::USER_EXEC);

    /// Reads allowed.
    pub const fn read(self) -> bool {
        self.0 & Self::READ != 0
    }
    /// Writes allowed.
    pub const fn write(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    /// Fetches allowed (supervisor-mode linear addresses under mode-based execute control).
    pub const fn exec(self) -> bool {
        self.0 & Self::EXEC != 0
    }
    /// Fetches from user-mode linear addresses allowed under mode-based execute control.
    pub const fn user_exec(self) -> bool {
        self.0 & Self::USER_EXEC != 0
    }

    /// Whether these permissions allow `kind` (SDM 29.3.3.2). `user_address` says the linear
    /// address is a user-mode address; it matters only for fetches with `mbec`. A TLB hit is
    /// checked with this, a walk at its end.
    pub const fn allows(self, kind: AccessKind, user_address: bool, mbec: bool) -> bool {
        match kind {
            AccessKind::Read => self.read(),
            AccessKind::Write => self.write(),
            AccessKind::Execute => {
                if mbec && user_address {
                    self.user_exec()
                } else {
                    self.exec()
                }
            }
        }
    }

    fn from_entry(e: u64, mbec: bool) -> Self {
        let mut p = (e & entry::RWX) as u8;
        if mbec && e & entry::USER_X != 0 {
            p |= Self::USER_EXEC;
        }
        Self(p)
    }
}

/// A successful EPT translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EptTranslation {
    /// The physical address of the accessed byte.
    pub phys: PhysAddr,
    /// log2 of the page size: 12, 21 or 30.
    pub page_shift: u8,
    /// The permissions of the translation (AND over all entries used).
    pub perms: EptPerms,
    /// The leaf's EPT memory type (bits 5:3; 0, 1, 4, 5 or 6).
    pub memory_type: u8,
    /// The leaf's "ignore PAT" bit (bit 6).
    pub ignore_pat: bool,
    /// The leaf's dirty flag after this access (always `true` with EPTP bit 6 = 0, since
    /// nothing then needs to see a first write).
    pub dirty: bool,
}

/// Bits of the exit qualification for EPT violations (SDM 28.2.1, Table 28-7).
pub mod qual {
    /// Bit 0: the access was a data read.
    pub const READ: u64 = 1 << 0;
    /// Bit 1: the access was a data write.
    pub const WRITE: u64 = 1 << 1;
    /// Bit 2: the access was an instruction fetch.
    pub const FETCH: u64 = 1 << 2;
    /// Bit 3: AND of bit 0 (read) over the EPT entries used.
    pub const READABLE: u64 = 1 << 3;
    /// Bit 4: AND of bit 1 (write) over the EPT entries used.
    pub const WRITABLE: u64 = 1 << 4;
    /// Bit 5: AND of bit 2 (execute; supervisor-mode execute with MBEC) over the entries used.
    pub const EXECUTABLE: u64 = 1 << 5;
    /// Bit 6: AND of bit 10 (user-mode execute) over the entries used (MBEC only).
    pub const USER_EXECUTABLE: u64 = 1 << 6;
    /// Bit 7: the guest linear-address field is valid.
    pub const GLA_VALID: u64 = 1 << 7;
    /// Bit 8 (bit 7 = 1): the access was to the translation of a linear address (0: to a guest
    /// paging-structure entry during a walk or an accessed/dirty update).
    pub const GLA_TRANSLATION: u64 = 1 << 8;
    /// Bit 9 (advanced information): the linear address is a user-mode address.
    pub const USER_LINEAR: u64 = 1 << 9;
    /// Bit 10 (advanced information): paging maps the linear address read/write.
    pub const WRITABLE_LINEAR: u64 = 1 << 10;
    /// Bit 11 (advanced information): paging maps the linear address execute-disable.
    pub const NX_LINEAR: u64 = 1 << 11;
    /// Bit 12: NMI unblocking due to IRET (filled by the vmx layer).
    pub const NMI_UNBLOCKING: u64 = 1 << 12;
    /// Bit 13: the access was a shadow-stack access (never, in hvbench).
    pub const SHADOW_STACK: u64 = 1 << 13;
}

/// The exit qualification of an EPT violation, one field per bit of SDM Table 28-7. Undefined
/// bits are `false`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EptViolationInfo {
    /// Bit 0: a data read (also set, with bit 1, for a guest paging-structure access when EPT
    /// accessed/dirty flags are enabled: Table 28-7's note on bit 1).
    pub read: bool,
    /// Bit 1: a data write (including guest accessed/dirty updates, and every guest
    /// paging-structure access when EPTP bit 6 = 1).
    pub write: bool,
    /// Bit 2: an instruction fetch.
    pub fetch: bool,
    /// Bit 3: the guest-physical address was readable (AND of bit 0 over the entries used;
    /// 0 when an entry was not present).
    pub readable: bool,
    /// Bit 4: writable (AND of bit 1).
    pub writable: bool,
    /// Bit 5: executable (AND of bit 2; for supervisor-mode linear addresses with MBEC).
    pub executable: bool,
    /// Bit 6: executable for user-mode linear addresses (AND of bit 10; MBEC only).
    pub user_executable: bool,
    /// Bit 7: the guest linear-address field is valid.
    pub gla_valid: bool,
    /// Bit 8: the access was to the translation of the linear address (bit 7 = 1 only).
    pub gla_translation: bool,
    /// Bit 9: the linear address is a user-mode address (advanced information, bit 8 = 1).
    pub user_linear: bool,
    /// Bit 10: paging maps the linear address read/write (advanced information, bit 8 = 1).
    pub writable_linear: bool,
    /// Bit 11: paging maps the linear address execute-disable (advanced information, bit 8 = 1).
    pub nx_linear: bool,
    /// Bit 12: NMI unblocking due to IRET (the vmx layer sets it).
    pub nmi_unblocking: bool,
}

impl EptViolationInfo {
    /// The exit-qualification value (bits 63:13 are 0).
    pub const fn to_qualification(self) -> u64 {
        let bits = [
            (self.read, qual::READ),
            (self.write, qual::WRITE),
            (self.fetch, qual::FETCH),
            (self.readable, qual::READABLE),
            (self.writable, qual::WRITABLE),
            (self.executable, qual::EXECUTABLE),
            (self.user_executable, qual::USER_EXECUTABLE),
            (self.gla_valid, qual::GLA_VALID),
            (self.gla_translation, qual::GLA_TRANSLATION),
            (self.user_linear, qual::USER_LINEAR),
            (self.writable_linear, qual::WRITABLE_LINEAR),
            (self.nx_linear, qual::NX_LINEAR),
            (self.nmi_unblocking, qual::NMI_UNBLOCKING),
        ];
        let mut q = 0;
        let mut i = 0;
        while i < bits.len() {
            if bits[i].0 {
                q |= bits[i].1;
            }
            i += 1;
        }
        q
    }
}

/// Why an EPT translation failed (SDM 29.3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EptFault {
    /// The EPT entries do not allow the access, or one is not present (29.3.3.2).
    Violation {
        /// The guest-physical address of the access.
        gpa: GuestPhysAddr,
        /// The exit qualification.
        qualification: EptViolationInfo,
    },
    /// An entry holds a reserved setting (29.3.3.1). The exit qualification is 0.
    Misconfig {
        /// The guest-physical address of the access.
        gpa: GuestPhysAddr,
    },
}

impl EptFault {
    /// The guest-physical address whose translation failed.
    pub const fn gpa(&self) -> GuestPhysAddr {
        match *self {
            EptFault::Violation { gpa, .. } | EptFault::Misconfig { gpa } => gpa,
        }
    }
}

/// Bits 51..MAXPHYADDR (bits that must be 0 in an address field); all of 63:N as a mask of
/// the address bits that exist.
const fn phys_mask(maxphyaddr: u8) -> u64 {
    let n = if maxphyaddr > 52 { 52 } else { maxphyaddr as u32 };
    if n == 0 { 0 } else { u64::MAX >> (64 - n) }
}

/// Bits 51:MAXPHYADDR, reserved in every present EPT entry.
const fn high_reserved(maxphyaddr: u8) -> u64 {
    entry::ADDR & !phys_mask(maxphyaddr)
}

/// Whether a present entry at level `level` (1 = PTE .. 5 = PML5E) holds a reserved setting
/// (SDM 29.3.3.1), and whether it maps a page.
fn misconfigured(e: u64, level: u32, ctx: &EptContext) -> (bool, bool) {
    let rwx = e & entry::RWX;
    // "The value of bits 2:0 is either 010b (write-only) or 110b (write/execute)."
    if rwx == entry::W || rwx == entry::W | entry::X {
        return (true, false);
    }
    // "The value of bits 2:0 is 100b (execute-only) and this value is not supported."
    if rwx == entry::X && !ctx.caps.execute_only {
        return (true, false);
    }
    // "A reserved bit is set", bits 51:N included (29.3.2, Tables 29-1 ff).
    let mut rsvd = high_reserved(ctx.maxphyaddr);
    let ps = e & entry::PAGE_SIZE != 0;
    let leaf = match level {
        1 => true,
        2 | 3 if ps => {
            let supported = if level == 2 { ctx.caps.page_2m } else { ctx.caps.page_1g };
            if !supported {
                // Bit 7 is reserved in a PDE/PDPTE when the page size is not supported.
                return (true, false);
            }
            // Bits 20:12 of a 2-MByte PDE, 29:12 of a 1-GByte PDPTE.
            rsvd |= ((1u64 << (12 + 9 * (level - 1))) - 1) & !0xfff;
            true
        }
        // Non-leaf PDPTE/PDE: bits 6:3 (bit 7 is the page-size bit, 0 here).
        2 | 3 => {
            rsvd |= 0x78;
            false
        }
        // PML4E/PML5E: bits 7:3.
        _ => {
            rsvd |= 0xf8;
            false
        }
    };
    if e & rsvd != 0 {
        return (true, leaf);
    }
    // "The entry is the last one used ... and the value of bits 5:3 (EPT memory type) is 2,
    // 3, or 7 (these values are reserved)."
    if leaf && matches!((e & entry::MEMORY_TYPE) >> 3, 2 | 3 | 7) {
        return (true, leaf);
    }
    (false, leaf)
}

/// Whether the access is checked as a write, and the qualification's access bits 0-2.
fn access_bits(ctx: &EptContext, access: EptAccess) -> (AccessKind, bool, bool, bool) {
    // SDM 29.3.3.2: "If bit 6 of EPTP is 1, processor accesses to guest paging-structure
    // entries are treated as writes with regard to EPT violations" (PDPTE loads excepted, they
    // are NoLinear). Table 28-7, bit 1: such an access that causes an EPT violation sets both
    // bit 0 and bit 1.
    let ps_as_write = ctx.eptp.accessed_dirty() && access.origin == EptOrigin::GuestPagingStructure;
    let kind = if ps_as_write { AccessKind::Write } else { access.kind };
    let read = access.kind == AccessKind::Read || ps_as_write;
    let write = kind == AccessKind::Write;
    let fetch = access.kind == AccessKind::Execute;
    (kind, read, write, fetch)
}

/// The violation for `access` given the permissions of the entries used (0 when the walk met
/// a not-present entry or an address beyond the EPT's reach).
pub(crate) fn violation(ctx: &EptContext, gpa: GuestPhysAddr, access: EptAccess, perms: EptPerms) -> EptFault {
    let (_, read, write, fetch) = access_bits(ctx, access);
    let mut q = EptViolationInfo {
        read,
        write,
        fetch,
        readable: perms.read(),
        writable: perms.write(),
        executable: perms.exec(),
        // Undefined without mode-based execute control: reported as 0.
        user_executable: ctx.mbec && perms.user_exec(),
        ..Default::default()
    };
    match access.origin {
        EptOrigin::NoLinear => {}
        EptOrigin::GuestPagingStructure => q.gla_valid = true,
        EptOrigin::GuestLinear { paging } => {
            q.gla_valid = true;
            q.gla_translation = true;
            if ctx.caps.advanced_exit_info {
                q.user_linear = paging.user;
                q.writable_linear = paging.writable;
                q.nx_linear = paging.no_execute;
            }
        }
    }
    EptFault::Violation { gpa, qualification: q }
}

/// Checks `perms` against `access` (SDM 29.3.3.2); the walk calls this at its end, the
/// two-dimensional walk for a guest accessed/dirty update through an earlier translation.
pub(crate) fn check(ctx: &EptContext, gpa: GuestPhysAddr, access: EptAccess, perms: EptPerms) -> Result<(), EptFault> {
    let (kind, ..) = access_bits(ctx, access);
    // With CR0.PG = 0 or for a guest paging-structure access the "linear address" is treated
    // as user-mode only in the GuestLinear case; paging-structure accesses are never fetches.
    let user_address = matches!(access.origin, EptOrigin::GuestLinear { paging } if paging.user);
    if perms.allows(kind, user_address, ctx.mbec) { Ok(()) } else { Err(violation(ctx, gpa, access, perms)) }
}

/// Translates `gpa` through EPT for `access` (SDM 29.3.2, 29.3.3, 29.3.4).
///
/// Order (29.3.3.3): the walk stops at the first entry that is not present (bits 2:0 = 000,
/// and bit 10 = 0 or mode-based execute control off: a violation) or misconfigured (a
/// misconfiguration); only a walk that reaches a valid leaf checks the permissions, ANDed over
/// every entry, against the access (a violation). So a misconfiguration anywhere on the path
/// wins over a permission violation. With EPTP bit 6 = 1 a successful walk sets the accessed
/// flag (bit 8) in every entry used and, for a write (including any guest paging-structure
/// access, treated as a write), the dirty flag (bit 9) in the leaf.
pub fn ept_walk(
    mem: &mut impl PageTableMemory,
    ctx: &EptContext,
    gpa: GuestPhysAddr,
    access: EptAccess,
) -> (Result<EptTranslation, EptFault>, MemRefs) {
    let mut refs = MemRefs::default();
    let r = walk(mem, ctx, gpa, access, &mut refs);
    (r, refs)
}

pub(crate) fn walk(
    mem: &mut impl PageTableMemory,
    ctx: &EptContext,
    gpa: GuestPhysAddr,
    access: EptAccess,
    refs: &mut MemRefs,
) -> Result<EptTranslation, EptFault> {
    let levels: u32 = if ctx.eptp.walk_length() == 5 { 5 } else { 4 };
    // 29.3.3.2: an EPT violation occurs when "4-level EPT is in use and the guest-physical
    // address sets any bits in the range 51:48"; 5-level EPT translates bits 56:0. Bits 3-6
    // of the qualification are then 0.
    if gpa.0 >> (12 + 9 * levels) != 0 {
        return Err(violation(ctx, gpa, access, EptPerms(0)));
    }
    let mut table = ctx.eptp.root(ctx.maxphyaddr).0;
    let mut perms = EptPerms::ALL;
    let mut used = [(PhysAddr(0), 0u64); 5];
    let mut level = levels;
    loop {
        let shift = 12 + 9 * (level - 1);
        let addr = PhysAddr(table | (((gpa.0 >> shift) & 0x1ff) << 3));
        refs.push(addr);
        let e = mem.read_entry(addr, 8).unwrap_or(u64::MAX);
        let p = EptPerms::from_entry(e, ctx.mbec);
        // 29.3.2: an entry is present if any of bits 2:0 is 1, or bit 10 with mode-based
        // execute control; a not-present entry's other bits are ignored.
        if p.0 == 0 {
            return Err(violation(ctx, gpa, access, EptPerms(0)));
        }
        let (bad, leaf) = misconfigured(e, level, ctx);
        if bad {
            return Err(EptFault::Misconfig { gpa });
        }
        perms.0 &= p.0;
        used[(levels - level) as usize] = (addr, e);
        if leaf {
            check(ctx, gpa, access, perms)?;
            let n = (levels - level + 1) as usize;
            let (kind, ..) = access_bits(ctx, access);
            let dirty = set_flags(mem, ctx, &used[..n], kind == AccessKind::Write);
            let offset = (1u64 << shift) - 1;
            return Ok(EptTranslation {
                phys: PhysAddr((e & entry::ADDR & phys_mask(ctx.maxphyaddr) & !offset) | (gpa.0 & offset)),
                page_shift: shift as u8,
                perms,
                memory_type: ((e & entry::MEMORY_TYPE) >> 3) as u8,
                ignore_pat: e & entry::IGNORE_PAT != 0,
                dirty,
            });
        }
        table = e & entry::ADDR & phys_mask(ctx.maxphyaddr);
        level -= 1;
    }
}

/// SDM 29.3.4: with EPTP bit 6 = 1, sets the accessed flag in every entry used and the dirty
/// flag in the leaf for a write. Returns the leaf's dirty flag.
fn set_flags(mem: &mut impl PageTableMemory, ctx: &EptContext, used: &[(PhysAddr, u64)], write: bool) -> bool {
    if !ctx.eptp.accessed_dirty() {
        return true;
    }
    let last = used.len().saturating_sub(1);
    let mut dirty = false;
    for (i, &(addr, e)) in used.iter().enumerate() {
        let mut new = e | entry::ACCESSED;
        if i == last {
            if write {
                new |= entry::DIRTY;
            }
            dirty = new & entry::DIRTY != 0;
        }
        if new != e {
            mem.write_entry(addr, 8, new);
        }
    }
    dirty
}
