//! Rules shared by the SSE, MMX and x87 families, and operand access for XMM/MMX registers.
//!
//! Availability (SDM Vol. 3A 2.5 "Control Registers", 13.1/13.2; Vol. 2A 2.4 / 2.5
//! "Exception classifications", class 1-4 for legacy SSE; Vol. 1 9.x for MMX, 8.x for x87):
//! - legacy SSE: #UD if CR0.EM=1 or CR4.OSFXSR=0, then #NM if CR0.TS=1;
//! - MMX: #UD if CR0.EM=1, #NM if CR0.TS=1, #MF if an x87 exception is pending;
//! - x87: #NM if CR0.EM=1 or CR0.TS=1 (Vol. 3A Table 2-2); WAIT/FWAIT: #NM if CR0.TS=1 and
//!   CR0.MP=1.
//!
//! 16-byte memory operands of the aligned legacy forms must be 16-byte aligned, else #GP(0)
//! (Vol. 1 11.6.7). hvbench checks the alignment of the linear address after the segment
//! checks (a limit violation is reported first).

use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::regs::{cr0, cr4};
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

/// MXCSR bits hvbench implements (DAZ included): CPUID's MXCSR_MASK in FXSAVE.
pub const MXCSR_MASK: u32 = 0xffff;
/// FSW.ES (exception summary).
pub const FSW_ES: u16 = 1 << 7;

impl Exec<'_> {
    /// The legacy-SSE availability checks: #UD (CR0.EM, CR4.OSFXSR), then #NM (CR0.TS).
    #[inline(always)]
    pub fn sse_available(&self) -> Result<()> {
        let s = &self.cpu.state;
        if s.cr0 & cr0::EM != 0 || s.cr4 & cr4::OSFXSR == 0 {
            return Err(Exception::ud().into());
        }
        if s.cr0 & cr0::TS != 0 {
            return Err(Exception::nm().into());
        }
        Ok(())
    }

    /// MMX availability: #UD (CR0.EM), #NM (CR0.TS), #MF (pending x87 exception; with
    /// CR0.NE=0 the external FERR# report is not modelled and the instruction proceeds, as
    /// for the x87 instructions).
    #[inline(always)]
    pub fn mmx_available(&self) -> Result<()> {
        let s = &self.cpu.state;
        if s.cr0 & cr0::EM != 0 {
            return Err(Exception::ud().into());
        }
        if s.cr0 & cr0::TS != 0 {
            return Err(Exception::nm().into());
        }
        if s.fpu.fsw & FSW_ES != 0 && s.cr0 & cr0::NE != 0 {
            return Err(Exception::mf().into());
        }
        Ok(())
    }

    /// x87 availability: #NM if CR0.EM=1 or CR0.TS=1.
    #[inline(always)]
    pub fn fpu_available(&self) -> Result<()> {
        if self.cpu.state.cr0 & (cr0::EM | cr0::TS) != 0 {
            return Err(Exception::nm().into());
        }
        Ok(())
    }

    /// A 16-byte memory read of the instruction's memory operand, with the alignment rule.
    pub(crate) fn read_m128(&mut self, i: &Instruction, aligned: bool) -> Result<u128> {
        let (seg, off) = self.mem_operand(i);
        let la = self.linear(seg, off, 16, false)?;
        if aligned && la & 15 != 0 {
            return Err(Exception::gp0().into());
        }
        self.read_mem128(seg, off)
    }

    /// A 16-byte memory write of the instruction's memory operand, with the alignment rule.
    pub(crate) fn write_m128(&mut self, i: &Instruction, aligned: bool, v: u128) -> Result<()> {
        let (seg, off) = self.mem_operand(i);
        let la = self.linear(seg, off, 16, true)?;
        if aligned && la & 15 != 0 {
            return Err(Exception::gp0().into());
        }
        self.write_mem128(seg, off, v)
    }

    /// Reads a vector operand: an XMM or MMX register, a general register, or memory of the
    /// instruction's memory size (zero-extended; 16-byte reads with the alignment rule).
    pub(crate) fn vread(&mut self, i: &Instruction, n: u32) -> Result<u128> {
        match i.op_kind(n) {
            OpKind::Register => Ok(self.vreg(i.op_register(n))),
            OpKind::Memory => {
                let size = i.memory_size().size();
                if size == 16 {
                    self.read_m128(i, needs_alignment(i))
                } else if size == 0 || size > 8 {
                    Err(Exception::ud().into())
                } else {
                    let (seg, off) = self.mem_operand(i);
                    Ok(self.read_mem(seg, off, size as u32)? as u128)
                }
            }
            _ => Ok(i.immediate(n) as u128),
        }
    }

    /// Writes a vector operand of the instruction (register or memory of its memory size).
    pub(crate) fn vwrite(&mut self, i: &Instruction, n: u32, v: u128) -> Result<()> {
        match i.op_kind(n) {
            OpKind::Register => {
                self.set_vreg(i.op_register(n), v);
                Ok(())
            }
            OpKind::Memory => {
                let size = i.memory_size().size();
                if size == 16 {
                    self.write_m128(i, needs_alignment(i), v)
                } else if size == 0 || size > 8 {
                    Err(Exception::ud().into())
                } else {
                    let (seg, off) = self.mem_operand(i);
                    self.write_mem(seg, off, size as u32, v as u64)
                }
            }
            _ => Err(Exception::ud().into()),
        }
    }

    /// An XMM, MMX or general register's value.
    #[inline(always)]
    pub(crate) fn vreg(&self, r: Register) -> u128 {
        if r.is_xmm() {
            self.cpu.state.xmm[r.number()]
        } else if r.is_mm() {
            self.cpu.state.fpu.st[r.number()] as u64 as u128
        } else {
            self.reg(r) as u128
        }
    }

    /// Writes an XMM register (all 128 bits), an MMX register (bits 79:64 of the x87
    /// register become all ones, SDM Vol. 1 9.5.1) or a general register.
    #[inline(always)]
    pub(crate) fn set_vreg(&mut self, r: Register, v: u128) {
        if r.is_xmm() {
            self.cpu.state.xmm[r.number()] = v;
        } else if r.is_mm() {
            self.cpu.state.fpu.st[r.number()] = (0xffffu128 << 64) | v as u64 as u128;
        } else {
            self.set_reg(r, v as u64);
        }
    }

    /// The x87-to-MMX transition of an MMX instruction (SDM Vol. 1 9.5.1): TOP=0, all valid.
    #[inline(always)]
    pub(crate) fn mmx_transition(&mut self) {
        let f = &mut self.cpu.state.fpu;
        f.fsw &= !(7 << 11);
        f.ftw = 0xff;
    }

    /// Availability for an instruction that is MMX when operand 0 (or 1) is an MMX register
    /// and SSE otherwise; performs the MMX transition for MMX forms.
    #[inline(always)]
    pub(crate) fn vector_available(&mut self, i: &Instruction) -> Result<()> {
        if uses_mmx(i) {
            self.mmx_available()?;
            self.mmx_transition();
            Ok(())
        } else {
            self.sse_available()
        }
    }
}

/// Whether any register operand of `i` is an MMX register.
pub(crate) fn uses_mmx(i: &Instruction) -> bool {
    (0..i.op_count()).any(|n| i.op_kind(n) == OpKind::Register && i.op_register(n).is_mm())
}

/// Whether a 16-byte memory operand of `i` must be 16-byte aligned (legacy SSE forms other
/// than the explicitly unaligned loads/stores and the SSE4.2 string compares).
pub(crate) fn needs_alignment(i: &Instruction) -> bool {
    !matches!(
        i.mnemonic(),
        Mnemonic::Movups
            | Mnemonic::Movupd
            | Mnemonic::Movdqu
            | Mnemonic::Lddqu
            | Mnemonic::Pcmpestri
            | Mnemonic::Pcmpestrm
            | Mnemonic::Pcmpistri
            | Mnemonic::Pcmpistrm
            | Mnemonic::Pcmpestri64
            | Mnemonic::Pcmpestrm64
    )
}

/// Lane mask of `bits` (8..=64).
#[inline(always)]
pub(crate) const fn lmask(bits: u32) -> u64 {
    if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 }
}

/// Lane `k` of width `bits` of `v`.
#[inline(always)]
pub(crate) fn lane(v: u128, bits: u32, k: u32) -> u64 {
    (v >> (k * bits)) as u64 & lmask(bits)
}

/// Lane `k` of width `bits` sign-extended.
#[inline(always)]
pub(crate) fn slane(v: u128, bits: u32, k: u32) -> i64 {
    let l = lane(v, bits, k);
    let sh = 64 - bits;
    ((l << sh) as i64) >> sh
}

/// `v` with lane `k` of width `bits` replaced by `x`.
#[inline(always)]
pub(crate) fn set_lane(v: u128, bits: u32, k: u32, x: u64) -> u128 {
    let m = (lmask(bits) as u128) << (k * bits);
    (v & !m) | (((x & lmask(bits)) as u128) << (k * bits))
}

/// Applies `f` lane-wise to `a` and `b` (lanes of `bits`, 128 bits; MMX callers truncate).
#[inline(always)]
pub(crate) fn map2(a: u128, b: u128, bits: u32, f: impl Fn(u64, u64) -> u64) -> u128 {
    let mut r = 0u128;
    for k in 0..128 / bits {
        r |= ((f(lane(a, bits, k), lane(b, bits, k)) & lmask(bits)) as u128) << (k * bits);
    }
    r
}

/// Like [`map2`] with signed lanes.
#[inline(always)]
pub(crate) fn smap2(a: u128, b: u128, bits: u32, f: impl Fn(i64, i64) -> i64) -> u128 {
    let mut r = 0u128;
    for k in 0..128 / bits {
        r |= ((f(slane(a, bits, k), slane(b, bits, k)) as u64 & lmask(bits)) as u128) << (k * bits);
    }
    r
}

/// Signed saturation to `bits`.
#[inline(always)]
pub(crate) fn sat_s(v: i64, bits: u32) -> i64 {
    let max = (1i64 << (bits - 1)) - 1;
    v.clamp(-max - 1, max)
}

/// Unsigned saturation of a signed value to `bits`.
#[inline(always)]
pub(crate) fn sat_u(v: i64, bits: u32) -> i64 {
    v.clamp(0, (1i64 << bits) - 1)
}
