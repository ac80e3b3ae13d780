//! Assorted system instructions: INVPCID, RDRAND, RDSEED, RDPID, RDFSBASE/RDGSBASE/
//! WRFSBASE/WRGSBASE, STAC/CLAC, MONITOR/MWAIT.
//!
//! SDM Vol. 2A "INVPCID—Invalidate Process-Context Identifier" (and Vol. 3A 4.10.4.1),
//! Vol. 2B "RDRAND—Read Random Number", "RDSEED—Read Random SEED", "RDPID—Read Processor
//! ID", "RDFSBASE/RDGSBASE", "WRFSBASE/WRGSBASE", "STAC—Set AC Flag in EFLAGS Register",
//! Vol. 2A "CLAC—Clear AC Flag in EFLAGS Register", "MONITOR—Set Up Monitor Address",
//! "MWAIT—Monitor Wait".
//!
//! RDRAND and RDSEED draw from one deterministic generator (SplitMix64) seeded from
//! [`crate::CpuConfig::rng_seed`]: they always succeed (CF=1).
//!
//! MONITOR arms the address-range monitoring hardware on the 64-byte line (CPUID.05H:EAX/EBX,
//! smallest = largest monitor-line size) holding the physical address of DS:rAX
//! ([`hvbench_mmu::PhysMem::watch`]); a store to the line by this or any other vCPU or by a device
//! triggers (disarms) it ("a store to the address range triggers the monitoring hardware",
//! Vol. 2B "MONITOR"; Vol. 3A 9.10.4). Stores elsewhere, even in the same page, do not. The armed
//! state is what a VM exit for MWAIT reports (Vol. 3C 28.2.1). MWAIT does not wait: with the
//! monitor not armed it would fall through anyway, and with it armed the SDM lets the wait end
//! at any time for implementation-specific reasons (Vol. 2B "MWAIT"), so returning at once is a
//! valid implementation; it never enters a C-state. MWAIT leaves the monitor disarmed (a new
//! MONITOR must arm it again).

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags;
use crate::regs::cr4;
use crate::segment::SegReg;
use crate::state::Mode;
use hvbench_mmu::paging::AccessKind;
use hvbench_mmu::tlb::Tag;
use iced_x86::{Code, Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Invpcid => invpcid,
        Mnemonic::Rdrand | Mnemonic::Rdseed => rdrand,
        Mnemonic::Rdpid => rdpid,
        Mnemonic::Rdfsbase | Mnemonic::Rdgsbase => rdbase,
        Mnemonic::Wrfsbase | Mnemonic::Wrgsbase => wrbase,
        Mnemonic::Stac | Mnemonic::Clac => stac_clac,
        Mnemonic::Monitor => monitor,
        Mnemonic::Mwait => mwait,
        _ => return None,
    })
}

/// INVPCID types (SDM Vol. 2A "INVPCID", Table 3-... "INVPCID Descriptor").
mod invpcid_type {
    /// Individual-address invalidation.
    pub const ADDRESS: u64 = 0;
    /// Single-context invalidation.
    pub const SINGLE: u64 = 1;
    /// All-context invalidation, including global translations.
    pub const ALL_GLOBAL: u64 = 2;
    /// All-context invalidation, retaining global translations.
    pub const ALL: u64 = 3;
}

/// INVPCID r32/r64, m128: #UD in virtual-8086 mode; #GP(0) at CPL > 0, for a type above 3,
/// reserved descriptor bits 63:12, a non-canonical address (type 0), or a non-zero PCID with
/// CR4.PCIDE=0 (types 0 and 1). Flushing more than asked is allowed (SDM 4.10.4); global
/// translations are removed by type 0 as well.
fn invpcid(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.cpu.state.mode() == Mode::Virtual8086 {
        return Err(Exception::ud().into());
    }
    // VMX non-root: "enable INVPCID" = 0 is #UD (before the CPL check); INVLPG exiting exits
    // after it (SDM Vol. 3C 26.1.1, 26.1.3, 26.3); the extension checks CPL for that order.
    super::system::vmx_insn(x, i)?;
    x.require_cpl0()?;
    let typ = x.reg(i.op0_register());
    let (seg, off) = x.mem_operand(i);
    let desc = x.read_mem128(seg, off)?;
    if typ > invpcid_type::ALL {
        return Err(Exception::gp0().into());
    }
    let pcid_field = desc as u64;
    let la = (desc >> 64) as u64;
    if pcid_field >> 12 != 0 {
        return Err(Exception::gp0().into());
    }
    let pcid = pcid_field as u16;
    let pcide = x.cpu.state.cr4 & cr4::PCIDE != 0;
    match typ {
        invpcid_type::ADDRESS | invpcid_type::SINGLE if !pcide && pcid != 0 => Err(Exception::gp0().into()),
        invpcid_type::ADDRESS => {
            if !x.is_canonical_max(la) {
                return Err(Exception::gp0().into());
            }
            x.cpu.tlb.invalidate_page(la >> 12, Tag { pcid, vpid: 0, ept: 0 });
            Ok(())
        }
        invpcid_type::SINGLE => {
            x.cpu.tlb.invalidate_pcid(Tag { pcid, vpid: 0, ept: 0 });
            Ok(())
        }
        invpcid_type::ALL_GLOBAL => {
            x.cpu.tlb.invalidate_vpid(0);
            Ok(())
        }
        _ => {
            x.cpu.tlb.invalidate_non_global(0);
            Ok(())
        }
    }
}

impl Exec<'_> {
    /// The next 64 bits of the RDRAND/RDSEED generator (SplitMix64 over `rng_state`).
    pub fn next_random(&mut self) -> u64 {
        self.cpu.rng_state = self.cpu.rng_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.cpu.rng_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// RDRAND/RDSEED r16/r32/r64: a value and CF=1; OF, SF, ZF, AF, PF cleared.
fn rdrand(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    super::system::vmx_insn(x, i)?;
    let v = x.next_random();
    x.set_reg(i.op0_register(), v);
    x.set_flags(flags::STATUS, flags::CF);
    Ok(())
}

/// RDPID r32/r64: IA32_TSC_AUX (r64 in 64-bit mode, zero-extended).
fn rdpid(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    // VMX non-root: #UD unless "enable RDTSCP" (SDM Vol. 3C 26.3).
    super::system::vmx_insn(x, i)?;
    let v = x.cpu.state.msr.tsc_aux & 0xffff_ffff;
    x.set_reg(i.op0_register(), v);
    Ok(())
}

/// #UD unless in 64-bit mode with CR4.FSGSBASE=1.
fn fsgsbase_enabled(x: &Exec<'_>) -> Result<()> {
    if x.cpu.state.mode() != Mode::Long64 || x.cpu.state.cr4 & cr4::FSGSBASE == 0 {
        return Err(Exception::ud().into());
    }
    Ok(())
}

fn base_seg(i: &Instruction) -> SegReg {
    match i.mnemonic() {
        Mnemonic::Rdfsbase | Mnemonic::Wrfsbase => SegReg::Fs,
        _ => SegReg::Gs,
    }
}

/// RDFSBASE/RDGSBASE r32/r64.
fn rdbase(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    fsgsbase_enabled(x)?;
    let v = x.cpu.state.seg(base_seg(i)).base;
    x.set_reg(i.op0_register(), v);
    Ok(())
}

/// WRFSBASE/WRGSBASE r32/r64: a 32-bit source is zero-extended; a non-canonical 64-bit
/// source raises #GP(0).
fn wrbase(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    fsgsbase_enabled(x)?;
    let v = x.reg(i.op0_register());
    if matches!(i.code(), Code::Wrfsbase_r64 | Code::Wrgsbase_r64) && !x.is_canonical_max(v) {
        return Err(Exception::gp0().into());
    }
    x.cpu.state.seg[base_seg(i) as usize].base = v;
    Ok(())
}

/// STAC/CLAC: #UD at CPL > 0 (and in virtual-8086 mode, where CPL is 3); not gated by CR4.SMAP.
fn stac_clac(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.cpu.state.cpl > 0 || x.cpu.state.mode() == Mode::Virtual8086 {
        return Err(Exception::ud().into());
    }
    let set = i.mnemonic() == Mnemonic::Stac;
    x.set_flags(flags::AC, if set { flags::AC } else { 0 });
    Ok(())
}

/// #UD at CPL > 0 for MONITOR and MWAIT (IA32_MISC_ENABLE does not enable them at CPL 3 here).
fn monitor_privilege(x: &Exec<'_>) -> Result<()> {
    if x.cpu.state.cpl > 0 || x.cpu.state.mode() == Mode::Virtual8086 {
        return Err(Exception::ud().into());
    }
    Ok(())
}

/// The size of the monitored line: CPUID.05H EAX (smallest) = EBX (largest) = 64.
const MONITOR_LINE: u64 = 64;

impl Exec<'_> {
    /// The address-range monitoring hardware is armed: MONITOR ran and neither a store to the
    /// monitored line nor MWAIT has disarmed it since (module documentation).
    pub fn monitor_armed(&self) -> bool {
        self.mem.watch_armed(self.cpu.config.index)
    }
}

/// MONITOR: checks the address DS:rAX (segment override allowed) like a 1-byte read
/// (#GP/#SS, #PF) and ECX (no extensions: non-zero → #GP(0)), then arms the monitor on the
/// line holding the translated physical address.
fn monitor(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    monitor_privilege(x)?;
    super::system::vmx_insn(x, i)?;
    if x.cpu.state.gpr[1] & 0xffff_ffff != 0 {
        return Err(Exception::gp0().into());
    }
    let seg = crate::operand::seg_of(i.memory_segment());
    let off = match i.code() {
        Code::Monitorw => x.cpu.state.gpr[0] & 0xffff,
        Code::Monitord => x.cpu.state.gpr[0] & 0xffff_ffff,
        _ => x.cpu.state.gpr[0],
    };
    let la = x.linear(seg, off, 1, false)?;
    let pa = x.translate(la, AccessKind::Read)?;
    let line = hvbench_mmu::PhysAddr(pa.0 & !(MONITOR_LINE - 1));
    x.mem.watch(x.cpu.config.index, line, MONITOR_LINE);
    if x.cpu.vmx_non_root {
        x.intercept(crate::ext::Intercept::MonitorArmed, 0)?;
    }
    Ok(())
}

/// MWAIT: ECX bit 0 (treat interrupts as break events) is the only extension (CPUID.5:ECX);
/// other ECX bits → #GP(0). Returns at once and disarms the monitor (see the module
/// documentation).
fn mwait(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    monitor_privilege(x)?;
    super::system::vmx_insn(x, i)?;
    if x.cpu.state.gpr[1] & 0xffff_fffe != 0 {
        return Err(Exception::gp0().into());
    }
    x.mem.unwatch(x.cpu.config.index);
    Ok(())
}
