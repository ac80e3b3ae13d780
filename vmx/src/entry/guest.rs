//! SDM 27.3.1 "Checks on the Guest State Area": 27.3.1.1 "Checks on Guest Control Registers,
//! Debug Registers, and MSRs", 27.3.1.2 "Checks on Guest Segment Registers", 27.3.1.3 "Checks
//! on Guest Descriptor-Table Registers", 27.3.1.4 "Checks on Guest RIP, RFLAGS, and SSP",
//! 27.3.1.5 "Checks on Guest Non-Register State", 27.3.1.6 "Checks on Guest
//! Page-Directory-Pointer-Table Entries". A failure is a VM-entry failure with exit reason 33
//! and the qualification of 27.8 (0 unless noted).

use super::{canonical, canonical_max, fail, fits, pat_valid, Area::Guest, Check, EntryFields};
use crate::caps::Profile;
use crate::controls::{interruptibility as ib, intr, EntryCtls, ProcCtls2};
use crate::exit::read_segment;
use crate::fields::enc;
use crate::vmcs::Vmcs;
use hvbench_cpu::regs::{cr0, cr4, efer};
use hvbench_cpu::segment::{attr, Segment};
use hvbench_cpu::Exec;

/// The guest-state values the checks look at, read once.
pub(crate) struct GuestState {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub seg: [Segment; 8],
    pub rip: u64,
    pub rflags: u64,
    pub ia32e: bool,
    pub unrestricted: bool,
}

impl GuestState {
    pub(crate) fn read(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields) -> Self {
        let mut seg = [Segment { selector: 0, base: 0, limit: 0, attr: 0 }; 8];
        for (i, s) in seg.iter_mut().enumerate() {
            *s = read_segment(x, v, i as u32);
        }
        Self {
            cr0: v.read(x, enc::GUEST_CR0),
            cr3: v.read(x, enc::GUEST_CR3),
            cr4: v.read(x, enc::GUEST_CR4),
            seg,
            rip: v.read(x, enc::GUEST_RIP),
            rflags: v.read(x, enc::GUEST_RFLAGS),
            ia32e: EntryCtls::from_bits_retain(f.entry).contains(EntryCtls::IA32E_MODE_GUEST),
            unrestricted: ProcCtls2::from_bits_retain(f.proc2).contains(ProcCtls2::UNRESTRICTED_GUEST),
        }
    }
}

const ES: usize = 0;
const CS: usize = 1;
const SS: usize = 2;
const LDTR: usize = 6;
const TR: usize = 7;
/// Segment-register names by index (ES, CS, SS, DS, FS, GS, LDTR, TR), for explanations.
const SEG_NAMES: [&str; 8] = ["ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"];

/// 27.3.1.1 "Checks on Guest Control Registers, Debug Registers, and MSRs".
pub(crate) fn control_registers(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields, g: &GuestState) -> Check {
    let mut fixed0 = Profile::CR0_FIXED0;
    if g.unrestricted {
        fixed0 &= !(cr0::PE | cr0::PG);
    }
    if g.cr0 & fixed0 != fixed0 || g.cr0 & !Profile::CR0_FIXED1 != 0 {
        return Err(fail(Guest(0), "guest.cr0.fixed", "guest CR0 must respect IA32_VMX_CR0_FIXED0/FIXED1 (PE and PG exempt with \"unrestricted guest\"); SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(super::fixed_values("guest CR0", g.cr0, fixed0, Profile::CR0_FIXED1)));
    }
    if g.cr0 & cr0::PG != 0 && g.cr0 & cr0::PE == 0 {
        return Err(fail(Guest(0), "guest.cr0.pg_without_pe", "guest CR0.PG=1 requires CR0.PE=1; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest CR0 = {:#x}: PG = 1, PE = 0", g.cr0)));
    }
    if g.cr4 & Profile::CR4_FIXED0 != Profile::CR4_FIXED0 || g.cr4 & !Profile::CR4_FIXED1 != 0 {
        return Err(fail(Guest(0), "guest.cr4.fixed", "guest CR4 must respect IA32_VMX_CR4_FIXED0/FIXED1 (VMXE = 1); SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(super::fixed_values("guest CR4", g.cr4, Profile::CR4_FIXED0, Profile::CR4_FIXED1)));
    }
    let entry = EntryCtls::from_bits_retain(f.entry);
    if entry.contains(EntryCtls::LOAD_DEBUG_CONTROLS) {
        if v.read(x, enc::GUEST_DEBUGCTL) & !0x3 != 0 {
            return Err(fail(Guest(0), "guest.debugctl", "\"load debug controls\"=1 requires guest IA32_DEBUGCTL reserved bits 0 (hvbench: bits 63:2); SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest IA32_DEBUGCTL = {:#x}", v.read(x, enc::GUEST_DEBUGCTL))));
        }
        if v.read(x, enc::GUEST_DR7) >> 32 != 0 {
            return Err(fail(Guest(0), "guest.dr7", "\"load debug controls\"=1 requires guest DR7 bits 63:32 = 0; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest DR7 = {:#x}", v.read(x, enc::GUEST_DR7))));
        }
    }
    if g.ia32e && (g.cr0 & cr0::PG == 0 || g.cr4 & cr4::PAE == 0) {
        return Err(fail(Guest(0), "guest.ia32e.paging", "\"IA-32e mode guest\"=1 requires guest CR0.PG=1 and CR4.PAE=1; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest CR0 = {:#x} (PG = {}), guest CR4 = {:#x} (PAE = {}), \"IA-32e mode guest\" = 1", g.cr0, (g.cr0 & cr0::PG != 0) as u8, g.cr4, (g.cr4 & cr4::PAE != 0) as u8)));
    }
    if !g.ia32e && g.cr4 & cr4::PCIDE != 0 {
        return Err(fail(Guest(0), "guest.cr4.pcide", "\"IA-32e mode guest\"=0 requires guest CR4.PCIDE=0; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest CR4 = {:#x} (PCIDE = 1), \"IA-32e mode guest\" = 0", g.cr4)));
    }
    if !fits(g.cr3, x.cpu.config.maxphyaddr) {
        return Err(fail(Guest(0), "guest.cr3.width", "guest CR3 bits beyond MAXPHYADDR must be 0; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest CR3 = {:#x} (MAXPHYADDR = {})", g.cr3, x.cpu.config.maxphyaddr)));
    }
    if !canonical_max(v.read(x, enc::GUEST_SYSENTER_ESP)) || !canonical_max(v.read(x, enc::GUEST_SYSENTER_EIP)) {
        return Err(fail(Guest(0), "guest.sysenter.canonical", "guest IA32_SYSENTER_ESP and IA32_SYSENTER_EIP must be canonical; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest IA32_SYSENTER_ESP = {:#x}, IA32_SYSENTER_EIP = {:#x}", v.read(x, enc::GUEST_SYSENTER_ESP), v.read(x, enc::GUEST_SYSENTER_EIP))));
    }
    if entry.contains(EntryCtls::LOAD_PAT) && !pat_valid(v.read(x, enc::GUEST_PAT)) {
        return Err(fail(Guest(0), "guest.pat", "\"load IA32_PAT\"=1 requires every guest PAT entry to be 0, 1, 4, 5, 6 or 7; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest IA32_PAT = {:#018x}", v.read(x, enc::GUEST_PAT))));
    }
    if entry.contains(EntryCtls::LOAD_EFER) {
        let e = v.read(x, enc::GUEST_EFER);
        if e & !(efer::SCE | efer::LME | efer::LMA | efer::NXE) != 0 {
            return Err(fail(Guest(0), "guest.efer.reserved", "\"load IA32_EFER\"=1 requires guest IA32_EFER reserved bits 0; SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest IA32_EFER = {e:#x}: reserved bits {:#x} set", e & !(efer::SCE | efer::LME | efer::LMA | efer::NXE))));
        }
        if (e & efer::LMA != 0) != g.ia32e || (g.cr0 & cr0::PG != 0 && (e & efer::LME != 0) != g.ia32e) {
            return Err(fail(Guest(0), "guest.efer.lma", "guest IA32_EFER.LMA must equal \"IA-32e mode guest\" (and LME too when CR0.PG=1); SDM 27.3.1.1 Checks on Guest Control Registers, Debug Registers, and MSRs").with(format!("guest IA32_EFER = {e:#x} (LMA = {}, LME = {}), \"IA-32e mode guest\" = {}, guest CR0.PG = {}", (e & efer::LMA != 0) as u8, (e & efer::LME != 0) as u8, g.ia32e as u8, (g.cr0 & cr0::PG != 0) as u8)));
        }
    }
    Ok(())
}

/// 27.3.1.2 "Checks on Guest Segment Registers". "The guest will be virtual-8086" when guest
/// RFLAGS.VM=1; with "IA-32e mode guest"=1 or CR0.PE=0 such a VM=1 fails the RFLAGS check of
/// 27.3.1.4 anyway, so the virtual-8086 rules are applied only where VM=1 is allowed.
pub(crate) fn segments(g: &GuestState) -> Check {
    if v8086_guest(g) {
        return v8086_segments(g);
    }
    let s = &g.seg;
    let usable = |i: usize| s[i].attr & attr::UNUSABLE == 0;
    let typ = |i: usize| s[i].attr & attr::TYPE;
    let dpl = |i: usize| (s[i].attr >> 5) & 3;
    // Selectors.
    if s[TR].selector & 4 != 0 {
        return Err(fail(Guest(0), "guest.tr.ti", "guest TR selector TI flag must be 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest TR selector = {:#06x}", s[TR].selector)));
    }
    if usable(LDTR) && s[LDTR].selector & 4 != 0 {
        return Err(fail(Guest(0), "guest.ldtr.ti", "a usable guest LDTR needs selector TI flag 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest LDTR selector = {:#06x}", s[LDTR].selector)));
    }
    if !g.unrestricted && s[SS].selector & 3 != s[CS].selector & 3 {
        return Err(fail(Guest(0), "guest.ss.rpl", "guest SS.RPL must equal CS.RPL (without \"unrestricted guest\"); SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest SS selector = {:#06x} (RPL {}), CS selector = {:#06x} (RPL {})", s[SS].selector, s[SS].selector & 3, s[CS].selector, s[CS].selector & 3)));
    }
    // Bases.
    if !canonical_max(s[TR].base) || !canonical_max(s[4].base) || !canonical_max(s[5].base) || (usable(LDTR) && !canonical_max(s[LDTR].base)) {
        return Err(fail(Guest(0), "guest.base.canonical", "guest TR, FS, GS (and a usable LDTR) base addresses must be canonical; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest TR base = {:#x}, FS base = {:#x}, GS base = {:#x}, LDTR base = {:#x} (usable = {})", s[TR].base, s[4].base, s[5].base, s[LDTR].base, usable(LDTR) as u8)));
    }
    if s[CS].base >> 32 != 0 || [SS, 3, ES].iter().any(|&i| usable(i) && s[i].base >> 32 != 0) {
        return Err(fail(Guest(0), "guest.base.high", "guest CS (and usable SS, DS, ES) base bits 63:32 must be 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest CS base = {:#x}, SS base = {:#x}, DS base = {:#x}, ES base = {:#x}", s[CS].base, s[SS].base, s[3].base, s[ES].base)));
    }
    // Access rights: reserved bits, G versus limit, for each usable register.
    for (i, seg) in s.iter().enumerate() {
        if i != TR && i != CS && !usable(i) {
            continue;
        }
        ar_reserved_and_granularity(i, seg)?;
        let a = seg.attr;
        if i != TR && i != LDTR && (a & attr::S == 0 || a & attr::P == 0) {
            return Err(fail(Guest(0), "guest.ar.s_p", "usable guest CS, SS, DS, ES, FS, GS need S=1 and P=1; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} access rights = {a:#x} (S = {}, P = {})", SEG_NAMES[i], (a & attr::S != 0) as u8, (a & attr::P != 0) as u8)));
        }
    }
    // CS.
    let cs_ok = matches!(typ(CS), 9 | 11 | 13 | 15) || (g.unrestricted && typ(CS) == 3);
    if !cs_ok {
        return Err(fail(Guest(0), "guest.cs.type", "guest CS type must be 9, 11, 13 or 15 (accessed code), or 3 with \"unrestricted guest\"; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest CS access rights = {:#x}: type {}", s[CS].attr, typ(CS))));
    }
    match typ(CS) {
        3 if dpl(CS) != 0 => return Err(fail(Guest(0), "guest.cs.dpl3", "guest CS type 3 requires DPL 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest CS access rights = {:#x}: type 3, DPL {}", s[CS].attr, dpl(CS)))),
        9 | 11 if dpl(CS) != dpl(SS) => return Err(fail(Guest(0), "guest.cs.dpl", "a non-conforming guest CS needs DPL = SS.DPL; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest CS type {} DPL {}, SS DPL {}", typ(CS), dpl(CS), dpl(SS)))),
        13 | 15 if dpl(CS) > dpl(SS) => return Err(fail(Guest(0), "guest.cs.dpl_conforming", "a conforming guest CS needs DPL <= SS.DPL; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest CS type {} DPL {}, SS DPL {}", typ(CS), dpl(CS), dpl(SS)))),
        _ => {}
    }
    if g.ia32e && s[CS].attr & attr::L != 0 && s[CS].attr & attr::DB != 0 {
        return Err(fail(Guest(0), "guest.cs.l_and_d", "guest CS.L=1 requires CS.D=0 with \"IA-32e mode guest\"=1; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest CS access rights = {:#x}: L = 1, D = 1", s[CS].attr)));
    }
    // No check ties CS.L to "IA-32e mode guest" = 0 (27.3.1.2 checks L only together with
    // D/B in IA-32e mode): outside IA-32e mode the processor ignores CS.L.
    // SS.
    if usable(SS) {
        if !matches!(typ(SS), 3 | 7) {
            return Err(fail(Guest(0), "guest.ss.type", "a usable guest SS must have type 3 or 7; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest SS access rights = {:#x}: type {}", s[SS].attr, typ(SS))));
        }
        if !g.unrestricted && dpl(SS) != (s[SS].selector & 3) as u32 {
            return Err(fail(Guest(0), "guest.ss.dpl_rpl", "guest SS.DPL must equal SS.RPL (without \"unrestricted guest\"); SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest SS DPL {}, SS selector = {:#06x} (RPL {})", dpl(SS), s[SS].selector, s[SS].selector & 3)));
        }
    }
    if (typ(CS) == 3 || g.cr0 & cr0::PE == 0) && dpl(SS) != 0 {
        return Err(fail(Guest(0), "guest.ss.dpl0", "guest SS.DPL must be 0 when CS type is 3 or CR0.PE=0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest SS DPL {}, CS type {}, CR0.PE = {}", dpl(SS), typ(CS), (g.cr0 & cr0::PE != 0) as u8)));
    }
    // DS, ES, FS, GS.
    for i in [0usize, 3, 4, 5] {
        if !usable(i) {
            continue;
        }
        let t = typ(i);
        if t & 1 == 0 || (t & 8 != 0 && t & 2 == 0) {
            return Err(fail(Guest(0), "guest.data.type", "usable guest DS, ES, FS, GS must be accessed, and readable if code; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} access rights = {:#x}: type {t}", SEG_NAMES[i], s[i].attr)));
        }
        if !g.unrestricted && t <= 11 && dpl(i) < (s[i].selector & 3) as u32 {
            return Err(fail(Guest(0), "guest.data.dpl", "usable guest DS, ES, FS, GS of a data or non-conforming code type need DPL >= RPL; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} type {t}, DPL {}, selector = {:#06x} (RPL {})", SEG_NAMES[i], dpl(i), s[i].selector, s[i].selector & 3)));
        }
    }
    // TR.
    let tr_ok = typ(TR) == 11 || (!g.ia32e && typ(TR) == 3);
    if !tr_ok || s[TR].attr & attr::S != 0 || s[TR].attr & attr::P == 0 || !usable(TR) {
        return Err(fail(Guest(0), "guest.tr.type", "guest TR must be a usable, present busy TSS (type 11, or 3 outside IA-32e mode) with S=0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest TR access rights = {:#x}: type {}, S = {}, P = {}, unusable = {}; \"IA-32e mode guest\" = {}", s[TR].attr, typ(TR), (s[TR].attr & attr::S != 0) as u8, (s[TR].attr & attr::P != 0) as u8, !usable(TR) as u8, g.ia32e as u8)));
    }
    // LDTR.
    if usable(LDTR) && (typ(LDTR) != 2 || s[LDTR].attr & attr::S != 0 || s[LDTR].attr & attr::P == 0) {
        return Err(fail(Guest(0), "guest.ldtr.type", "a usable guest LDTR must be a present LDT (type 2) with S=0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest LDTR access rights = {:#x}: type {}, S = {}, P = {}", s[LDTR].attr, typ(LDTR), (s[LDTR].attr & attr::S != 0) as u8, (s[LDTR].attr & attr::P != 0) as u8)));
    }
    Ok(())
}

/// Whether the guest will be virtual-8086 (guest RFLAGS.VM=1) where 27.3.1.4 allows it.
fn v8086_guest(g: &GuestState) -> bool {
    g.rflags & hvbench_cpu::flags::VM != 0 && !g.ia32e && g.cr0 & cr0::PE != 0
}

/// 27.3.1.2 for a virtual-8086 guest: CS, SS, DS, ES, FS, GS with base = selector << 4, limit
/// FFFFH and access rights F3H; TR and LDTR as for any guest outside IA-32e mode.
fn v8086_segments(g: &GuestState) -> Check {
    let s = &g.seg;
    if s[TR].selector & 4 != 0 {
        return Err(fail(Guest(0), "guest.tr.ti", "guest TR selector TI flag must be 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest TR selector = {:#06x}", s[TR].selector)));
    }
    let ldtr_usable = s[LDTR].attr & attr::UNUSABLE == 0;
    if ldtr_usable && s[LDTR].selector & 4 != 0 {
        return Err(fail(Guest(0), "guest.ldtr.ti", "a usable guest LDTR needs selector TI flag 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest LDTR selector = {:#06x}", s[LDTR].selector)));
    }
    let la57 = g.cr4 & cr4::LA57 != 0;
    if !canonical(s[TR].base, la57) || (ldtr_usable && !canonical(s[LDTR].base, la57)) {
        return Err(fail(Guest(0), "guest.base.canonical", "guest TR (and a usable LDTR) base addresses must be canonical; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest TR base = {:#x}, LDTR base = {:#x}", s[TR].base, s[LDTR].base)));
    }
    for i in [ES, CS, SS, 3, 4, 5] {
        let r = &s[i];
        if r.base != (r.selector as u64) << 4 {
            return Err(fail(Guest(0), "guest.v8086.base", "a virtual-8086 guest needs CS, SS, DS, ES, FS, GS base = selector << 4; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} selector = {:#06x}, base = {:#x}", SEG_NAMES[i], r.selector, r.base)));
        }
        if r.limit != 0xffff {
            return Err(fail(Guest(0), "guest.v8086.limit", "a virtual-8086 guest needs CS, SS, DS, ES, FS, GS limit = FFFFH; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} limit = {:#x}", SEG_NAMES[i], r.limit)));
        }
        if r.attr != 0xf3 {
            return Err(fail(Guest(0), "guest.v8086.ar", "a virtual-8086 guest needs CS, SS, DS, ES, FS, GS access rights = F3H; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} access rights = {:#x}", SEG_NAMES[i], r.attr)));
        }
    }
    for (i, seg) in s.iter().enumerate().filter(|&(i, _)| i == TR || (i == LDTR && ldtr_usable)) {
        ar_reserved_and_granularity(i, seg)?;
    }
    let typ = s[TR].attr & attr::TYPE;
    if !(typ == 11 || typ == 3) || s[TR].attr & attr::S != 0 || s[TR].attr & attr::P == 0 || s[TR].attr & attr::UNUSABLE != 0 {
        return Err(fail(Guest(0), "guest.tr.type", "guest TR must be a usable, present busy TSS (type 11, or 3 outside IA-32e mode) with S=0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest TR access rights = {:#x}", s[TR].attr)));
    }
    if ldtr_usable && (s[LDTR].attr & attr::TYPE != 2 || s[LDTR].attr & attr::S != 0 || s[LDTR].attr & attr::P == 0) {
        return Err(fail(Guest(0), "guest.ldtr.type", "a usable guest LDTR must be a present LDT (type 2) with S=0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest LDTR access rights = {:#x}", s[LDTR].attr)));
    }
    Ok(())
}

/// 27.3.1.3 "Checks on Guest Descriptor-Table Registers".
pub(crate) fn descriptor_tables(x: &mut Exec<'_>, v: Vmcs) -> Check {
    if !canonical_max(v.read(x, enc::GUEST_GDTR_BASE)) || !canonical_max(v.read(x, enc::GUEST_IDTR_BASE)) {
        return Err(fail(Guest(0), "guest.gdtr_idtr.base", "guest GDTR and IDTR bases must be canonical; SDM 27.3.1.3 Checks on Guest Descriptor-Table Registers").with(format!("guest GDTR base = {:#x}, IDTR base = {:#x}", v.read(x, enc::GUEST_GDTR_BASE), v.read(x, enc::GUEST_IDTR_BASE))));
    }
    if v.read(x, enc::GUEST_GDTR_LIMIT) >> 16 != 0 || v.read(x, enc::GUEST_IDTR_LIMIT) >> 16 != 0 {
        return Err(fail(Guest(0), "guest.gdtr_idtr.limit", "guest GDTR and IDTR limit bits 31:16 must be 0; SDM 27.3.1.3 Checks on Guest Descriptor-Table Registers").with(format!("guest GDTR limit = {:#x}, IDTR limit = {:#x}", v.read(x, enc::GUEST_GDTR_LIMIT), v.read(x, enc::GUEST_IDTR_LIMIT))));
    }
    Ok(())
}

/// 27.3.1.4 "Checks on Guest RIP, RFLAGS, and SSP".
pub(crate) fn rip_rflags(x: &mut Exec<'_>, v: Vmcs, g: &GuestState) -> Check {
    let long = g.ia32e && g.seg[CS].attr & attr::L != 0;
    if !long && g.rip >> 32 != 0 {
        return Err(fail(Guest(0), "guest.rip.high", "guest RIP bits 63:32 must be 0 unless \"IA-32e mode guest\"=1 and CS.L=1; SDM 27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP").with(format!("guest RIP = {:#x}, \"IA-32e mode guest\" = {}, CS.L = {}", g.rip, g.ia32e as u8, (g.seg[CS].attr & attr::L != 0) as u8)));
    }
    if long && !canonical(g.rip, g.cr4 & cr4::LA57 != 0) {
        return Err(fail(Guest(0), "guest.rip.canonical", "guest RIP must be canonical in 64-bit mode; SDM 27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP").with(format!("guest RIP = {:#x}", g.rip)));
    }
    let f = g.rflags;
    if f >> 22 != 0 || f & (1 << 15 | 1 << 5 | 1 << 3) != 0 || f & 2 == 0 {
        return Err(fail(Guest(0), "guest.rflags.reserved", "guest RFLAGS bits 63:22, 15, 5, 3 must be 0 and bit 1 must be 1; SDM 27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP").with(format!("guest RFLAGS = {f:#x}")));
    }
    if f & hvbench_cpu::flags::VM != 0 && (g.ia32e || g.cr0 & cr0::PE == 0) {
        return Err(fail(Guest(0), "guest.rflags.vm", "guest RFLAGS.VM must be 0 if \"IA-32e mode guest\"=1 or guest CR0.PE=0; SDM 27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP").with(format!("guest RFLAGS = {f:#x} (VM = 1), \"IA-32e mode guest\" = {}, guest CR0.PE = {}", g.ia32e as u8, (g.cr0 & cr0::PE != 0) as u8)));
    }
    let info = v.read(x, enc::ENTRY_INTERRUPTION_INFO) as u32;
    if info & intr::VALID != 0 && (info >> intr::TYPE_SHIFT) & 7 == intr::EXTERNAL && f & hvbench_cpu::flags::IF == 0 {
        return Err(fail(Guest(0), "guest.rflags.if", "injecting an external interrupt requires guest RFLAGS.IF=1; SDM 27.3.1.4 Checks on Guest RIP, RFLAGS, and SSP").with(format!("guest RFLAGS = {f:#x} (IF = 0), VM-entry interruption information = {info:#010x} (external interrupt)")));
    }
    Ok(())
}

/// 27.3.1.5 "Checks on Guest Non-Register State".
pub(crate) fn non_register(x: &mut Exec<'_>, v: Vmcs, p: &Profile, g: &GuestState) -> Check {
    let activity = v.read(x, enc::GUEST_ACTIVITY_STATE);
    let supported = activity == 0 || (activity <= 3 && p.misc & (1 << (5 + activity)) != 0);
    if !supported {
        return Err(fail(Guest(0), "guest.activity.supported", "guest activity state must be 0-3 and supported by IA32_VMX_MISC bits 8:6; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest activity state = {activity}, IA32_VMX_MISC = {:#x}", p.misc)));
    }
    if activity == 1 && (g.seg[SS].attr >> 5) & 3 != 0 {
        return Err(fail(Guest(0), "guest.activity.hlt_dpl", "guest activity state HLT requires SS.DPL=0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest activity state = 1 (HLT), SS DPL = {}", (g.seg[SS].attr >> 5) & 3)));
    }
    let st = v.read(x, enc::GUEST_INTERRUPTIBILITY) as u32;
    if st & !0x1f != 0 {
        return Err(fail(Guest(0), "guest.interruptibility.reserved", "guest interruptibility-state bits 31:5 must be 0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest interruptibility state = {st:#x}")));
    }
    if st & ib::STI != 0 && st & ib::MOV_SS != 0 {
        return Err(fail(Guest(0), "guest.interruptibility.sti_movss", "guest blocking by STI and by MOV SS cannot both be 1; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest interruptibility state = {st:#x}")));
    }
    if g.rflags & hvbench_cpu::flags::IF == 0 && st & ib::STI != 0 {
        return Err(fail(Guest(0), "guest.interruptibility.sti_if0", "guest blocking by STI must be 0 when RFLAGS.IF=0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest interruptibility state = {st:#x}, RFLAGS = {:#x} (IF = 0)", g.rflags)));
    }
    let info = v.read(x, enc::ENTRY_INTERRUPTION_INFO) as u32;
    let kind = (info >> intr::TYPE_SHIFT) & 7;
    if info & intr::VALID != 0 && matches!(kind, intr::EXTERNAL | intr::NMI) && st & (ib::STI | ib::MOV_SS) != 0 {
        return Err(fail(Guest(0), "guest.interruptibility.injection", "injecting an external interrupt or NMI requires blocking by STI and MOV SS to be 0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest interruptibility state = {st:#x}, VM-entry interruption information = {info:#010x} (type {kind})")));
    }
    if st & ib::SMI != 0 {
        return Err(fail(Guest(0), "guest.interruptibility.smi", "guest blocking by SMI must be 0 outside SMM; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest interruptibility state = {st:#x} (blocking by SMI = 1)")));
    }
    let virtual_nmis = v.read(x, enc::PIN_BASED_CONTROLS) as u32 & crate::controls::PinCtls::VIRTUAL_NMIS.bits() != 0;
    if virtual_nmis && info & intr::VALID != 0 && kind == intr::NMI && st & ib::NMI != 0 {
        // (With "virtual NMIs" = 0 there is no such requirement: the SDM's footnote.)
        return Err(fail(Guest(0), "guest.interruptibility.nmi", "with \"virtual NMIs\"=1, injecting an NMI requires blocking by NMI (bit 3) to be 0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest interruptibility state = {st:#x} (blocking by NMI = 1), VM-entry interruption information = {info:#010x} (NMI)")));
    }
    if activity == 1 && st & (ib::STI | ib::MOV_SS) != 0 {
        return Err(fail(Guest(0), "guest.activity.hlt_blocking", "guest activity state HLT is not allowed with blocking by STI or MOV SS; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest activity state = 1 (HLT), interruptibility state = {st:#x}")));
    }
    if info & intr::VALID != 0 {
        // Which events may be injected into an inactive guest.
        let vector = info & intr::VECTOR;
        let ok = match activity {
            1 => matches!(kind, intr::EXTERNAL | intr::NMI) || (kind == intr::HARDWARE_EXCEPTION && matches!(vector, 1 | 18)) || (kind == intr::OTHER && vector == 0),
            2 => kind == intr::NMI || (kind == intr::HARDWARE_EXCEPTION && vector == 18),
            3 => false,
            _ => true,
        };
        if !ok {
            return Err(fail(Guest(0), "guest.activity.injection", "event injection into an inactive guest: HLT allows only external interrupts, NMIs, #DB, #MC and MTF; shutdown only NMI and #MC; wait-for-SIPI nothing; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest activity state = {activity}, VM-entry interruption information = {info:#010x} (type {kind}, vector {vector})")));
        }
    }
    let pending = v.read(x, enc::GUEST_PENDING_DEBUG_EXCEPTIONS);
    if pending & !(0xf | 1 << 12 | 1 << 14 | 1 << 16) != 0 {
        return Err(fail(Guest(0), "guest.pending_debug.reserved", "guest pending debug exceptions bits 11:4, 13, 15, 63:17 must be 0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest pending debug exceptions = {pending:#x}")));
    }
    if st & (ib::STI | ib::MOV_SS) != 0 || activity == 1 {
        // BS must reflect a pending single-step trap: 1 iff RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF
        // (bit 1) = 0.
        let step = g.rflags & hvbench_cpu::flags::TF != 0 && v.read(x, enc::GUEST_DEBUGCTL) & 2 == 0;
        if (pending & (1 << 14) != 0) != step {
            return Err(fail(Guest(0), "guest.pending_debug.bs", "with blocking by STI or MOV SS, or activity state HLT, pending debug exception BS (bit 14) must be 1 iff RFLAGS.TF=1 and IA32_DEBUGCTL.BTF=0; SDM 27.3.1.5 Checks on Guest Non-Register State").with(format!("guest pending debug exceptions = {pending:#x} (BS = {}), RFLAGS = {:#x} (TF = {}), IA32_DEBUGCTL.BTF = {}, interruptibility state = {st:#x}, activity state = {activity}", (pending >> 14) & 1, g.rflags, (g.rflags & hvbench_cpu::flags::TF != 0) as u8, (v.read(x, enc::GUEST_DEBUGCTL) >> 1) & 1)));
        }
    }
    vmcs_link_pointer(x, v)
}

/// 27.3.1.5, VMCS link pointer (failures have exit qualification 4, 27.8): a value other than
/// FFFFFFFF_FFFFFFFFH must be 4-KByte aligned, within MAXPHYADDR, not the current-VMCS pointer
/// (outside SMM; "entry to SMM" is refused earlier), and the 4 bytes it points to must hold
/// the VMCS revision identifier in bits 30:0 and in bit 31 the value of the "VMCS shadowing"
/// control (0: hvbench does not offer VMCS shadowing).
fn vmcs_link_pointer(x: &mut Exec<'_>, v: Vmcs) -> Check {
    let link = v.read(x, enc::VMCS_LINK_POINTER);
    if link == u64::MAX {
        return Ok(());
    }
    let maxphy = x.cpu.config.maxphyaddr;
    if link & 0xfff != 0 || !fits(link, maxphy) {
        return Err(fail(Guest(4), "guest.vmcs_link_pointer", "a VMCS link pointer other than FFFFFFFF_FFFFFFFFH must be 4-KByte aligned (bits 11:0 = 0) and within MAXPHYADDR; SDM 27.3.1.5 Checks on Guest Non-Register State")
            .with(format!("VMCS link pointer = {link:#x} (MAXPHYADDR = {maxphy})")));
    }
    if link == v.0 {
        return Err(fail(Guest(4), "guest.vmcs_link_pointer.current", "the VMCS link pointer must not be the current-VMCS pointer (outside SMM); SDM 27.3.1.5 Checks on Guest Non-Register State")
            .with(format!("VMCS link pointer = current-VMCS pointer = {link:#x}")));
    }
    let head = x.read_phys(hvbench_mmu::PhysAddr(link), 4) as u32;
    let want = crate::caps::VMCS_REVISION;
    if head != want {
        return Err(fail(Guest(4), "guest.vmcs_link_pointer.revision", "the VMCS the link pointer references must hold the VMCS revision identifier in bits 30:0 and the \"VMCS shadowing\" control (0) in bit 31; SDM 27.3.1.5 Checks on Guest Non-Register State")
            .with(format!("VMCS link pointer = {link:#x}, revision identifier there = {:#x}, shadow-VMCS indicator = {}; should be {want:#x} with indicator 0", head & 0x7fff_ffff, head >> 31)));
    }
    Ok(())
}

/// 27.3.1.6 "Checks on Guest Page-Directory-Pointer-Table Entries": with PAE paging outside
/// IA-32e mode and EPT, the PDPTE fields' reserved bits (present entries) must be 0; without
/// EPT the PDPTEs are loaded from guest CR3 during loading (qualification 2 on failure).
pub(crate) fn pdptes(x: &mut Exec<'_>, v: Vmcs, f: &EntryFields, g: &GuestState) -> Check {
    let pae = g.cr0 & cr0::PG != 0 && g.cr4 & cr4::PAE != 0 && !g.ia32e;
    if !pae || !ProcCtls2::from_bits_retain(f.proc2).contains(ProcCtls2::ENABLE_EPT) {
        return Ok(());
    }
    let maxphy = x.cpu.config.maxphyaddr;
    for i in 0..4 {
        let e = v.read(x, enc::GUEST_PDPTE0 + 2 * i);
        if hvbench_mmu::paging::pdpte_reserved(e, maxphy) {
            return Err(fail(Guest(2), "guest.pdpte.reserved", "with PAE paging and EPT, present guest PDPTE fields must have reserved bits 0; SDM 27.3.1.6 Checks on Guest Page-Directory-Pointer-Table Entries").with(format!("guest PDPTE{i} = {e:#x} (MAXPHYADDR = {maxphy})")));
        }
    }
    Ok(())
}

/// The access-rights checks every usable guest segment register gets, TR and a usable LDTR
/// also in virtual-8086 mode (27.3.1.2): reserved bits 11:8 and 31:17 zero, and the G flag
/// consistent with the limit.
fn ar_reserved_and_granularity(i: usize, seg: &Segment) -> Check {
    let a = seg.attr;
    if a & 0xf00 != 0 || a & 0xfffe_0000 != 0 {
        return Err(fail(Guest(0), "guest.ar.reserved", "guest access rights bits 11:8 and 31:17 must be 0; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} access rights = {a:#x}: reserved bits {:#x} set", SEG_NAMES[i], a & 0xfffe_0f00)));
    }
    let lim = seg.limit;
    if (lim & 0xfff != 0xfff && a & attr::G != 0) || (lim >> 20 != 0 && a & attr::G == 0) {
        return Err(fail(Guest(0), "guest.ar.granularity", "guest segment G flag must be 0 if any limit bit 11:0 is 0 and 1 if any limit bit 31:20 is 1; SDM 27.3.1.2 Checks on Guest Segment Registers").with(format!("guest {} limit = {lim:#x}, access rights = {a:#x} (G = {})", SEG_NAMES[i], (a & attr::G != 0) as u8)));
    }
    Ok(())
}
