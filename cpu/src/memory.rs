//! Memory references: segmentation (SDM Vol. 3A 3.4, 5.3 "Limit Checking", 5.4 "Type
//! Checking"), linear-address translation through the TLB and the page walker (chapter 4),
//! and physical accesses to RAM or the device bus.

use crate::cpu::Exec;
use crate::exception::{Exception, Fault, Result};
use crate::flags;
use crate::regs::{cr0, cr4};
use crate::segment::{attr, SegReg};
use crate::state::Mode;
use hvbench_mmu::paging::{self, Access, AccessKind, PagingMode};
use hvbench_mmu::tlb::Tag;
use hvbench_mmu::PhysAddr;

impl Exec<'_> {
    /// Whether `la` is canonical for the model's linear-address width (48, or 57 with LA57).
    #[inline(always)]
    pub fn is_canonical(&self, la: u64) -> bool {
        let bits = if self.cpu.state.cr4 & cr4::LA57 != 0 { 57 } else { 48 };
        let shift = 64 - bits;
        (((la << shift) as i64) >> shift) as u64 == la
    }

    /// Whether `la` is canonical for the processor's maximum linear-address width, 57 bits (the
    /// model supports 5-level paging, CPUID.(EAX=07H,ECX=0):ECX[16]). Loads of linear addresses
    /// other than RIP and RSP (FS/GS base and IA32_KERNEL_GS_BASE, IA32_SYSENTER_EIP/ESP,
    /// IA32_LSTAR/CSTAR, the GDTR/IDTR/LDTR/TR bases, WRFSBASE/WRGSBASE, the address operand
    /// of INVPCID) are checked against this width whether or not CR4.LA57 is 1 (Intel's
    /// "5-Level Paging and 5-Level EPT" white paper, 2.5.2 "Canonicality Checking on Other
    /// Loads"; SDM Vol. 3A 4.5.1). Instruction fetches, stack and data accesses use
    /// [`Self::is_canonical`].
    #[inline(always)]
    pub fn is_canonical_max(&self, la: u64) -> bool {
        (((la << 7) as i64) >> 7) as u64 == la
    }

    /// Truncates a linear address to 32 bits outside 64-bit mode.
    #[inline(always)]
    pub fn wrap_linear(&self, la: u64) -> u64 {
        if self.cpu.state.mode() == Mode::Long64 { la } else { la & 0xffff_ffff }
    }

    /// The linear address of code at `rip` (CS limit checked separately once the length is known).
    #[inline(always)]
    pub(crate) fn code_linear(&self, rip: u64) -> Result<u64> {
        let s = &self.cpu.state;
        if s.mode() == Mode::Long64 {
            if !self.is_canonical(rip) {
                return Err(Exception::gp0().into());
            }
            return Ok(rip);
        }
        Ok((s.seg(SegReg::Cs).base.wrapping_add(rip)) & 0xffff_ffff)
    }

    /// Checks that the instruction at `rip` of length `len` lies within the CS limit.
    #[inline(always)]
    pub(crate) fn code_limit_check(&self, rip: u64, len: u8) -> Result<()> {
        let cs = self.cpu.state.seg(SegReg::Cs);
        if rip.wrapping_add(len as u64 - 1) > cs.limit as u64 || rip > cs.limit as u64 {
            return Err(Exception::gp0().into());
        }
        Ok(())
    }

    /// Segmentation for a data reference of `size` bytes at `seg:offset` (SDM 5.3, 5.4):
    /// the linear address, or #GP/#SS with the error code the SDM gives.
    #[inline(always)]
    pub fn linear(&self, seg: SegReg, offset: u64, size: u32, write: bool) -> Result<u64> {
        let s = &self.cpu.state;
        let sr = &s.seg[seg as usize];
        let fault = || -> Fault {
            if seg == SegReg::Ss { Exception::ss(0).into() } else { Exception::gp0().into() }
        };
        if s.mode() == Mode::Long64 {
            let base = if matches!(seg, SegReg::Fs | SegReg::Gs) { sr.base } else { 0 };
            let la = base.wrapping_add(offset);
            // Both the first and the last byte must be canonical (SDM 3.3.7.1).
            if !self.is_canonical(la) || !self.is_canonical(la.wrapping_add(size as u64 - 1)) {
                return Err(fault());
            }
            return Ok(la);
        }
        if s.mode() != Mode::Real {
            if sr.unusable() {
                return Err(fault());
            }
            let a = sr.attr;
            // Type checks: writes need a writable data segment; reads of execute-only code fault.
            if write && (a & attr::CODE != 0 || a & attr::RW == 0) {
                return Err(fault());
            }
            if !write && a & attr::CODE != 0 && a & attr::RW == 0 {
                return Err(fault());
            }
        }
        let last = offset.wrapping_add(size as u64 - 1);
        let limit = sr.limit as u64;
        let expand_down = sr.attr & (attr::CODE | attr::DC) == attr::DC && s.mode() != Mode::Real;
        let ok = if expand_down {
            let upper = if sr.db() { 0xffff_ffff } else { 0xffff };
            offset > limit && last <= upper && last >= offset
        } else {
            last <= limit && last >= offset
        };
        if !ok {
            return Err(fault());
        }
        Ok(sr.base.wrapping_add(offset) & 0xffff_ffff)
    }

    /// The TLB tag of the current address space.
    #[inline(always)]
    pub(crate) fn tlb_tag(&self) -> Tag {
        let pcid = if self.cpu.state.cr4 & cr4::PCIDE != 0 { (self.cpu.state.cr3 & 0xfff) as u16 } else { 0 };
        Tag { pcid, vpid: self.cpu.tlb_vpid, ept: self.cpu.tlb_ept }
    }

    /// Translates `la` for an explicit access by the current privilege level.
    #[inline(always)]
    pub fn translate(&mut self, la: u64, kind: AccessKind) -> Result<PhysAddr> {
        let access = Access::new(kind, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        self.translate_as(la, access)
    }

    /// Translates `la` for `access` through the TLB, walking on a miss (SDM 4.10.2).
    #[inline(always)]
    pub fn translate_as(&mut self, la: u64, access: Access) -> Result<PhysAddr> {
        if self.cpu.vmx_non_root && self.cpu.ept.is_some() {
            return self.translate_ept(la, access);
        }
        if self.cpu.paging.mode == PagingMode::Disabled {
            return Ok(PhysAddr(la));
        }
        let vpn = la >> 12;
        let tag = self.tlb_tag();
        if let Some(hit) = self.cpu.tlb.lookup(vpn, tag) {
            let clean_write = access.kind == AccessKind::Write && !hit.dirty;
            if !clean_write && paging::check_rights(hit.rights, access, &self.cpu.paging).is_ok() {
                return Ok(PhysAddr((hit.ppn << 12) | (la & 0xfff)));
            }
        }
        self.walk(la, access, tag)
    }

    /// VMX non-root operation with EPT: guest paging, then EPT (SDM Vol. 3C 29.3 "The
    /// Extended Page Table Mechanism"), through the TLB's combined mappings. An EPT violation
    /// or misconfiguration becomes a VM exit through the extension.
    #[inline(never)]
    fn translate_ept(&mut self, la: u64, access: Access) -> Result<PhysAddr> {
        let Some(ept) = self.cpu.ept else { return Ok(PhysAddr(la)) };
        let tag = self.tlb_tag();
        let vpn = la >> 12;
        let paging_on = self.cpu.paging.mode != PagingMode::Disabled;
        if let Some(hit) = self.cpu.tlb.lookup(vpn, tag) {
            let clean_write = access.kind == AccessKind::Write && !hit.dirty;
            let rights_ok = !paging_on || paging::check_rights(hit.rights, access, &self.cpu.paging).is_ok();
            if !clean_write && rights_ok && hit.ept.allows(access.kind, hit.rights.user, ept.mbec) {
                return Ok(PhysAddr((hit.ppn << 12) | (la & 0xfff)));
            }
        }
        let ctx = self.cpu.paging;
        let (r, _refs) = hvbench_mmu::nested::nested_walk(self.mem, &ctx, &ept, hvbench_mmu::LinearAddr(la), access);
        match r {
            Ok(t) => {
                let global = paging_on && t.guest.global && self.cpu.state.cr4 & cr4::PGE != 0;
                let rights = if paging_on { t.guest.rights } else { paging::Rights { writable: true, user: true, no_execute: false } };
                self.cpu.tlb.insert_nested(vpn, tag, t.phys.0 >> 12, rights, t.ept.perms, global, t.dirty(), t.page_shift() > 12);
                Ok(t.phys)
            }
            Err(hvbench_mmu::nested::NestedFault::GuestPageFault(f)) => Err(Exception::pf(la, f.error_code).into()),
            Err(hvbench_mmu::nested::NestedFault::Ept { fault, gla }) => {
                let during_delivery = self.cpu.delivering.is_some();
                self.intercept(crate::ext::Intercept::Ept { fault, gla: Some(gla.0), during_delivery }, 0)?;
                Err(Fault::Diverted)
            }
        }
    }

    #[cold]
    fn walk(&mut self, la: u64, access: Access, tag: Tag) -> Result<PhysAddr> {
        let ctx = self.cpu.paging;
        match paging::walk_unrecorded(self.mem, &ctx, hvbench_mmu::LinearAddr(la), access) {
            Ok(t) => {
                let ppn = t.phys.0 >> 12;
                let global = t.global && self.cpu.state.cr4 & cr4::PGE != 0;
                self.cpu.tlb.insert(la >> 12, tag, ppn, t.rights, global, t.dirty, t.page_shift > 12);
                Ok(t.phys)
            }
            Err(f) => Err(Exception::pf(la, f.error_code).into()),
        }
    }

    /// Reads `size` (1, 2, 4, 8) bytes at physical `pa`: RAM, else the bus.
    #[inline(always)]
    pub fn read_phys(&mut self, pa: PhysAddr, size: u8) -> u64 {
        match self.mem.read_le(pa, size) {
            Some(v) => v,
            None => {
                self.sync_bus_clock();
                let v = self.bus.mmio_read(self.cpu.config.index, pa, size);
                self.after_device_read();
                v
            }
        }
    }

    /// Writes `size` bytes at physical `pa`: RAM, else the bus.
    #[inline(always)]
    pub fn write_phys(&mut self, pa: PhysAddr, size: u8, value: u64) {
        if !self.mem.write_le(pa, size, value) {
            self.sync_bus_clock();
            self.bus.mmio_write(self.cpu.config.index, pa, size, value);
            self.after_device_write();
        }
    }

    /// Tells the bus this vCPU's clock before an access it forwards (timers read it).
    #[cold]
    pub(crate) fn sync_bus_clock(&mut self) {
        let tsc = self.tsc();
        self.bus.set_clock(self.cpu.config.index, self.cpu.cycles, tsc);
    }

    /// A device read may have changed an interrupt line (e.g. a UART status read, or a timer
    /// that expired at the clock the access brought): interrupts are sampled at the next
    /// instruction boundary, so when they are seen depends on the guest alone, not on where
    /// the machine happens to cut its runs.
    #[inline]
    pub(crate) fn after_device_read(&mut self) {
        self.cpu.poll_events = true;
    }

    /// Lets the machine look at devices before the next instruction.
    #[inline]
    pub(crate) fn after_device_write(&mut self) {
        self.cpu.poll_events = true;
        if self.cpu.stop.is_none() {
            self.cpu.stop = Some(crate::cpu::StopReason::DeviceWrite);
        }
    }

    /// #AC check (SDM 6.15 "Interrupt 17"): CR0.AM, RFLAGS.AC, CPL 3 and a misaligned access.
    #[inline(always)]
    fn alignment_check(&self, la: u64, size: u32) -> Result<()> {
        let s = &self.cpu.state;
        if s.cpl == 3 && s.cr0 & cr0::AM != 0 && s.rflags & flags::AC != 0 && la & (size as u64 - 1) != 0 {
            return Err(Exception::ac().into());
        }
        Ok(())
    }

    /// Reads `size` bytes at linear `la` with the given access (split at page boundaries;
    /// both pages are translated before anything is read).
    #[inline(always)]
    pub fn read_linear_as(&mut self, la: u64, size: u32, access: Access) -> Result<u64> {
        if self.cpu.debug.data && !access.implicit_supervisor {
            self.watch_data(la, size, false);
        }
        if (la & 0xfff) + size as u64 <= 0x1000 {
            let pa = self.translate_as(la, access)?;
            return Ok(self.read_phys(pa, size as u8));
        }
        let first = 0x1000 - (la & 0xfff) as u32;
        let pa1 = self.translate_as(la, access)?;
        let pa2 = self.translate_as(self.wrap_linear(la.wrapping_add(first as u64)), access)?;
        let mut v = 0u64;
        for i in 0..size {
            let pa = if i < first { PhysAddr(pa1.0 + i as u64) } else { PhysAddr(pa2.0 + (i - first) as u64) };
            v |= self.read_phys(pa, 1) << (8 * i);
        }
        Ok(v)
    }

    /// Writes `size` bytes at linear `la` (both pages translated before anything is written).
    #[inline(always)]
    pub fn write_linear_as(&mut self, la: u64, size: u32, value: u64, access: Access) -> Result<()> {
        if self.cpu.debug.data && !access.implicit_supervisor {
            self.watch_data(la, size, true);
        }
        if (la & 0xfff) + size as u64 <= 0x1000 {
            let pa = self.translate_as(la, access)?;
            self.write_phys(pa, size as u8, value);
            return Ok(());
        }
        let first = 0x1000 - (la & 0xfff) as u32;
        let pa1 = self.translate_as(la, access)?;
        let pa2 = self.translate_as(self.wrap_linear(la.wrapping_add(first as u64)), access)?;
        for i in 0..size {
            let pa = if i < first { PhysAddr(pa1.0 + i as u64) } else { PhysAddr(pa2.0 + (i - first) as u64) };
            self.write_phys(pa, 1, value >> (8 * i));
        }
        Ok(())
    }

    /// Reads `size` bytes at linear `la` as an explicit data read at the current CPL.
    #[inline(always)]
    pub fn read_linear(&mut self, la: u64, size: u32) -> Result<u64> {
        self.alignment_check(la, size)?;
        let access = Access::new(AccessKind::Read, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        self.read_linear_as(la, size, access)
    }

    /// Writes `size` bytes at linear `la` as an explicit data write at the current CPL.
    #[inline(always)]
    pub fn write_linear(&mut self, la: u64, size: u32, value: u64) -> Result<()> {
        self.alignment_check(la, size)?;
        let access = Access::new(AccessKind::Write, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        self.write_linear_as(la, size, value, access)
    }

    /// Reads `size` bytes at `seg:offset` (through the data fast path of `dtlb.rs` when it
    /// knows the page).
    #[inline(always)]
    pub fn read_mem(&mut self, seg: SegReg, offset: u64, size: u32) -> Result<u64> {
        match self.fast_read(seg, offset, size) {
            Some(v) => Ok(v),
            None => self.read_mem_full(seg, offset, size),
        }
    }

    /// [`Exec::read_mem`] through segmentation, the TLB and the bus; teaches the fast path.
    #[inline(never)]
    pub(crate) fn read_mem_full(&mut self, seg: SegReg, offset: u64, size: u32) -> Result<u64> {
        let la = self.linear(seg, offset, size, false)?;
        if (la & 0xfff) + size as u64 > 0x1000 || self.cpu.debug.data {
            return self.read_linear(la, size);
        }
        self.alignment_check(la, size)?;
        let access = Access::new(AccessKind::Read, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        let pa = self.translate_as(la, access)?;
        let v = self.read_phys(pa, size as u8);
        // The translation just granted this read: a later one under the same key may skip it.
        self.fast_fill(seg, la, pa, false);
        Ok(v)
    }

    /// Writes `size` bytes at `seg:offset` (through the data fast path of `dtlb.rs` when it
    /// knows the page).
    #[inline(always)]
    pub fn write_mem(&mut self, seg: SegReg, offset: u64, size: u32, value: u64) -> Result<()> {
        if self.fast_write(seg, offset, size, value) {
            return Ok(());
        }
        self.write_mem_full(seg, offset, size, value)
    }

    /// [`Exec::write_mem`] through segmentation, the TLB and the bus; teaches the fast path.
    #[inline(never)]
    pub(crate) fn write_mem_full(&mut self, seg: SegReg, offset: u64, size: u32, value: u64) -> Result<()> {
        let la = self.linear(seg, offset, size, true)?;
        self.write_linear(la, size, value)?;
        if (la & 0xfff) + size as u64 <= 0x1000 {
            // Made only if the TLB now grants writes without a walk (dirty flags set).
            if let Some(pa) = self.tlb_grants(la, self.data_access(AccessKind::Write)) {
                self.fast_fill(seg, la, pa, true);
            }
        }
        Ok(())
    }

    /// An explicit data access of `kind` at the current CPL and RFLAGS.AC.
    #[inline(always)]
    pub(crate) fn data_access(&self, kind: AccessKind) -> Access {
        Access::new(kind, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0)
    }

    /// The TLB's translation of `la` if the TLB alone grants `access` (no walk needed: the
    /// rights allow it, and for a write the dirty flags are set).
    pub(crate) fn tlb_grants(&self, la: u64, access: Access) -> Option<PhysAddr> {
        let paging_on = self.cpu.paging.mode != PagingMode::Disabled;
        let ept = if self.cpu.vmx_non_root { self.cpu.ept } else { None };
        if !paging_on && ept.is_none() {
            return Some(PhysAddr(la));
        }
        let hit = self.cpu.tlb.lookup(la >> 12, self.tlb_tag())?;
        if access.kind == AccessKind::Write && !hit.dirty {
            return None;
        }
        if paging_on && paging::check_rights(hit.rights, access, &self.cpu.paging).is_err() {
            return None;
        }
        if let Some(ept) = ept
            && !hit.ept.allows(access.kind, hit.rights.user, ept.mbec)
        {
            return None;
        }
        Some(PhysAddr((hit.ppn << 12) | (la & 0xfff)))
    }

    /// Checks that `size` bytes at `seg:offset` could be written (segmentation and paging),
    /// without writing: for instructions that must fault before changing any state.
    pub fn probe_write(&mut self, seg: SegReg, offset: u64, size: u32) -> Result<u64> {
        let la = self.linear(seg, offset, size, true)?;
        self.alignment_check(la, size)?;
        let access = Access::new(AccessKind::Write, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        self.translate_as(la, access)?;
        if (la & 0xfff) + size as u64 > 0x1000 {
            self.translate_as(self.wrap_linear((la | 0xfff).wrapping_add(1)), access)?;
        }
        Ok(la)
    }

    /// Reads a 16-byte value at `seg:offset` (SSE, CMPXCHG16B, FXSAVE pieces).
    pub fn read_mem128(&mut self, seg: SegReg, offset: u64) -> Result<u128> {
        let la = self.linear(seg, offset, 16, false)?;
        let access = Access::new(AccessKind::Read, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        // Translate both halves before reading either.
        self.translate_as(la, access)?;
        self.translate_as(self.wrap_linear(la.wrapping_add(15)), access)?;
        let lo = self.read_linear_as(la, 8, access)?;
        let hi = self.read_linear_as(self.wrap_linear(la.wrapping_add(8)), 8, access)?;
        Ok(lo as u128 | (hi as u128) << 64)
    }

    /// Writes a 16-byte value at `seg:offset`.
    pub fn write_mem128(&mut self, seg: SegReg, offset: u64, value: u128) -> Result<()> {
        let la = self.linear(seg, offset, 16, true)?;
        let access = Access::new(AccessKind::Write, self.cpu.state.cpl, self.cpu.state.rflags & flags::AC != 0);
        self.translate_as(la, access)?;
        self.translate_as(self.wrap_linear(la.wrapping_add(15)), access)?;
        self.write_linear_as(la, 8, value as u64, access)?;
        self.write_linear_as(self.wrap_linear(la.wrapping_add(8)), 8, (value >> 64) as u64, access)
    }

    /// Reads `size` bytes of a system structure (GDT, LDT, IDT, TSS) at linear `la`:
    /// an implicit supervisor access (SDM 4.6).
    pub fn read_system(&mut self, la: u64, size: u32) -> Result<u64> {
        self.read_linear_as(la, size, Access::implicit(AccessKind::Read))
    }

    /// Writes a system structure (accessed/busy bits) at linear `la`.
    pub fn write_system(&mut self, la: u64, size: u32, value: u64) -> Result<()> {
        self.write_linear_as(la, size, value, Access::implicit(AccessKind::Write))
    }
}
