//! FXSAVE/FXRSTOR, XSAVE/XSAVEOPT/XRSTOR for the x87 and SSE components, XGETBV/XSETBV
//! (SDM Vol. 1 10.5 "FXSAVE and FXRSTOR Instructions", Table 10-2; chapter 13 "Managing
//! State Using the XSAVE Feature Set", 13.4 "XSAVE Area", 13.7 "Operation of XSAVE", 13.8
//! "Operation of XRSTOR"; Vol. 2 instruction pages).
//!
//! Model: XCR0 may hold x87 (bit 0, always 1) and SSE (bit 1). XINUSE is treated as all
//! ones (permitted by 13.6), so XSAVE sets XSTATE_BV[i] for every saved component and
//! XSAVEOPT behaves as XSAVE (it may write more than it must, never less). Only the standard
//! (non-compacted) format exists. FIP/FDP/FOP are stored and restored as kept in
//! [`crate::state::FpuState`]; FCS and FDS are stored as 0.

use super::simd::MXCSR_MASK;
use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::regs::{cr0, cr4, xcr0};
use crate::segment::SegReg;
use crate::state::{FpuState, Mode};
use iced_x86::{Instruction, Mnemonic};

/// The legacy area's size.
const LEGACY: usize = 512;
/// XCR0 bits this model supports.
pub const XCR0_SUPPORTED: u64 = xcr0::X87 | xcr0::SSE;

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Fxsave | Mnemonic::Fxsave64 => fxsave,
        Mnemonic::Fxrstor | Mnemonic::Fxrstor64 => fxrstor,
        Mnemonic::Xsave | Mnemonic::Xsave64 | Mnemonic::Xsaveopt | Mnemonic::Xsaveopt64 => xsave,
        Mnemonic::Xrstor | Mnemonic::Xrstor64 => xrstor,
        Mnemonic::Xgetbv => xgetbv,
        Mnemonic::Xsetbv => xsetbv,
        _ => return None,
    })
}

impl Exec<'_> {
    /// The FXSAVE image of the x87 and SSE state (Table 10-2); `wide` is the REX.W form.
    fn fx_image(&self, wide: bool) -> [u8; LEGACY] {
        let s = &self.cpu.state;
        let f = &s.fpu;
        let mut m = [0u8; LEGACY];
        let mut put = |off: usize, bytes: &[u8]| m[off..off + bytes.len()].copy_from_slice(bytes);
        put(0, &f.fcw.to_le_bytes());
        put(2, &f.fsw.to_le_bytes());
        put(4, &[f.ftw]);
        put(6, &f.fop.to_le_bytes());
        if wide {
            put(8, &f.fip.to_le_bytes());
            put(16, &f.fdp.to_le_bytes());
        } else {
            put(8, &(f.fip as u32).to_le_bytes());
            put(16, &(f.fdp as u32).to_le_bytes());
        }
        put(24, &s.mxcsr.to_le_bytes());
        put(28, &MXCSR_MASK.to_le_bytes());
        let top = (f.fsw >> 11) & 7;
        for k in 0..8 {
            let r = f.st[((top + k) & 7) as usize];
            put(32 + 16 * k as usize, &r.to_le_bytes()[..10]);
        }
        let n = if s.mode() == Mode::Long64 { 16 } else { 8 };
        for k in 0..n {
            put(160 + 16 * k, &s.xmm[k].to_le_bytes());
        }
        m
    }

    /// The memory operand's segment and offset after the alignment check (`align` bytes).
    fn area(&mut self, i: &Instruction, size: u32, align: u64, write: bool) -> Result<(SegReg, u64)> {
        let (seg, off) = self.mem_operand(i);
        let la = self.linear(seg, off, size, write)?;
        if la & (align - 1) != 0 {
            return Err(Exception::gp0().into());
        }
        Ok((seg, off))
    }

    fn read_area(&mut self, seg: SegReg, off: u64, buf: &mut [u8]) -> Result<()> {
        for (k, chunk) in buf.chunks_mut(8).enumerate() {
            let v = self.read_mem(seg, off.wrapping_add(8 * k as u64), 8)?;
            chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }

    fn write_area(&mut self, seg: SegReg, off: u64, buf: &[u8]) -> Result<()> {
        self.probe_write(seg, off, buf.len() as u32)?;
        for (k, chunk) in buf.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_mem(seg, off.wrapping_add(8 * k as u64), chunk.len() as u32, u64::from_le_bytes(b))?;
        }
        Ok(())
    }

    /// Loads the x87 part of a legacy image.
    fn load_x87(&mut self, m: &[u8; LEGACY], wide: bool) {
        let u16at = |o: usize| u16::from_le_bytes([m[o], m[o + 1]]);
        let u64at = |o: usize| u64::from_le_bytes(m[o..o + 8].try_into().unwrap_or([0; 8]));
        let f = &mut self.cpu.state.fpu;
        f.fcw = u16at(0);
        f.fsw = u16at(2);
        f.ftw = m[4];
        f.fop = u16at(6) & 0x7ff;
        f.fip = if wide { u64at(8) } else { u64at(8) & 0xffff_ffff };
        f.fdp = if wide { u64at(16) } else { u64at(16) & 0xffff_ffff };
        let top = (f.fsw >> 11) & 7;
        for k in 0..8 {
            let mut b = [0u8; 16];
            b[..10].copy_from_slice(&m[32 + 16 * k..42 + 16 * k]);
            f.st[((top as usize) + k) & 7] = u128::from_le_bytes(b);
        }
    }

    /// Loads the XMM registers of a legacy image (8 outside 64-bit mode).
    fn load_xmm(&mut self, m: &[u8; LEGACY]) {
        let n = if self.cpu.state.mode() == Mode::Long64 { 16 } else { 8 };
        for k in 0..n {
            let b: [u8; 16] = m[160 + 16 * k..176 + 16 * k].try_into().unwrap_or([0; 16]);
            self.cpu.state.xmm[k] = u128::from_le_bytes(b);
        }
    }

    /// #UD unless CR4.OSXSAVE=1, then #NM if CR0.TS=1 (XSAVE/XRSTOR pages).
    fn xsave_available(&self) -> Result<()> {
        if self.cpu.state.cr4 & cr4::OSXSAVE == 0 {
            return Err(Exception::ud().into());
        }
        if self.cpu.state.cr0 & cr0::TS != 0 {
            return Err(Exception::nm().into());
        }
        Ok(())
    }
}

fn is_wide(i: &Instruction) -> bool {
    matches!(i.mnemonic(), Mnemonic::Fxsave64 | Mnemonic::Fxrstor64 | Mnemonic::Xsave64 | Mnemonic::Xsaveopt64 | Mnemonic::Xrstor64)
}

/// #NM if CR0.TS or CR0.EM (FXSAVE/FXRSTOR pages).
fn fx_available(x: &Exec<'_>) -> Result<()> {
    if x.cpu.state.cr0 & (cr0::TS | cr0::EM) != 0 {
        return Err(Exception::nm().into());
    }
    Ok(())
}

fn fxsave(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    fx_available(x)?;
    let (seg, off) = x.area(i, 512, 16, true)?;
    let img = x.fx_image(is_wide(i));
    // Only the XMM registers of the mode are written; bytes 464-511 are software's.
    let n = if x.cpu.state.mode() == Mode::Long64 { 16 } else { 8 };
    x.write_area(seg, off, &img[..160 + 16 * n])
}

fn fxrstor(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    fx_available(x)?;
    let (seg, off) = x.area(i, 512, 16, false)?;
    let mut m = [0u8; LEGACY];
    x.read_area(seg, off, &mut m)?;
    let mxcsr = u32::from_le_bytes([m[24], m[25], m[26], m[27]]);
    if mxcsr & !MXCSR_MASK != 0 {
        return Err(Exception::gp0().into());
    }
    x.load_x87(&m, is_wide(i));
    x.cpu.state.mxcsr = mxcsr;
    x.load_xmm(&m);
    Ok(())
}

/// The requested-feature bitmap EDX:EAX AND XCR0.
fn rfbm(x: &Exec<'_>) -> u64 {
    let s = &x.cpu.state;
    ((s.gpr[2] << 32) | (s.gpr[0] & 0xffff_ffff)) & s.xcr0
}

fn xsave(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.xsave_available()?;
    let (seg, off) = x.area(i, 576, 64, true)?;
    let rfbm = rfbm(x);
    let img = x.fx_image(is_wide(i));
    let old_bv = x.read_mem(seg, off.wrapping_add(512), 8)?;
    x.probe_write(seg, off, 576)?;
    if rfbm & xcr0::X87 != 0 {
        x.write_area(seg, off, &img[..24])?;
        x.write_area(seg, off.wrapping_add(32), &img[32..160])?;
    }
    if rfbm & xcr0::SSE != 0 {
        x.write_area(seg, off.wrapping_add(24), &img[24..32])?;
        x.write_area(seg, off.wrapping_add(160), &img[160..416])?;
    }
    x.write_mem(seg, off.wrapping_add(512), 8, (old_bv & !rfbm) | rfbm)
}

fn xrstor(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.xsave_available()?;
    let (seg, off) = x.area(i, 576, 64, false)?;
    let rfbm = rfbm(x);
    let mut m = [0u8; LEGACY];
    x.read_area(seg, off, &mut m)?;
    let mut hdr = [0u8; 64];
    x.read_area(seg, off.wrapping_add(512), &mut hdr)?;
    let bv = u64::from_le_bytes(hdr[0..8].try_into().unwrap_or([0; 8]));
    let comp = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or([0; 8]));
    let rsvd = u64::from_le_bytes(hdr[16..24].try_into().unwrap_or([0; 8]));
    // 13.8.1: standard form only; XSTATE_BV must be a subset of XCR0, bytes 23:8 zero.
    if comp != 0 || rsvd != 0 || bv & !x.cpu.state.xcr0 != 0 {
        return Err(Exception::gp0().into());
    }
    let mxcsr = u32::from_le_bytes([m[24], m[25], m[26], m[27]]);
    if rfbm & xcr0::SSE != 0 && mxcsr & !MXCSR_MASK != 0 {
        return Err(Exception::gp0().into());
    }
    if rfbm & xcr0::X87 != 0 {
        if bv & xcr0::X87 != 0 {
            x.load_x87(&m, is_wide(i));
        } else {
            x.cpu.state.fpu = FpuState::default();
        }
    }
    if rfbm & xcr0::SSE != 0 {
        x.cpu.state.mxcsr = mxcsr;
        if bv & xcr0::SSE != 0 {
            x.load_xmm(&m);
        } else {
            let n = if x.cpu.state.mode() == Mode::Long64 { 16 } else { 8 };
            x.cpu.state.xmm[..n].fill(0);
        }
    }
    Ok(())
}

fn xgetbv(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if x.cpu.state.cr4 & cr4::OSXSAVE == 0 {
        return Err(Exception::ud().into());
    }
    if x.cpu.state.gpr[1] as u32 != 0 {
        return Err(Exception::gp0().into());
    }
    let v = x.cpu.state.xcr0;
    x.cpu.state.gpr[0] = v & 0xffff_ffff;
    x.cpu.state.gpr[2] = v >> 32;
    Ok(())
}

/// XSETBV: #UD without CR4.OSXSAVE; #GP(0) at CPL>0, for ECX≠0, XCR0.x87=0 or an
/// unsupported bit.
/// In VMX non-root operation it exits unconditionally after those two checks (SDM Vol. 3C
/// 26.1.1, 26.1.2).
fn xsetbv(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.cpu.state.cr4 & cr4::OSXSAVE == 0 {
        return Err(Exception::ud().into());
    }
    x.require_cpl0()?;
    if x.cpu.vmx_non_root {
        x.intercept(crate::ext::Intercept::Xsetbv { len: i.len() as u8 }, 0)?;
    }
    let s = &x.cpu.state;
    let v = (s.gpr[2] << 32) | (s.gpr[0] & 0xffff_ffff);
    if s.gpr[1] as u32 != 0 || v & xcr0::X87 == 0 || v & !XCR0_SUPPORTED != 0 {
        return Err(Exception::gp0().into());
    }
    x.cpu.state.xcr0 = v;
    Ok(())
}
