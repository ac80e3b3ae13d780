//! Operand access for decoded instructions: general registers by iced-x86 register, effective
//! addresses (SDM Vol. 1 3.7.5), and the read/write of an instruction's n-th operand.

use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::segment::SegReg;
use iced_x86::{Instruction, OpKind, Register};

const AL: u32 = Register::AL as u32;
const R15L: u32 = Register::R15L as u32;
const AX: u32 = Register::AX as u32;
const R15W: u32 = Register::R15W as u32;
const EAX: u32 = Register::EAX as u32;
const R15D: u32 = Register::R15D as u32;
const RAX: u32 = Register::RAX as u32;
const R15: u32 = Register::R15 as u32;

/// Maps an iced segment register to ours.
#[inline(always)]
pub fn seg_of(r: Register) -> SegReg {
    // iced-x86 numbers ES, CS, SS, DS, FS, GS consecutively, in our order.
    const BY_INDEX: [SegReg; 6] = [SegReg::Es, SegReg::Cs, SegReg::Ss, SegReg::Ds, SegReg::Fs, SegReg::Gs];
    let i = (r as usize).wrapping_sub(Register::ES as usize);
    if i < BY_INDEX.len() { BY_INDEX[i] } else { SegReg::Ds }
}

impl Exec<'_> {
    /// Reads a general-purpose register of any width (8-bit high registers included).
    #[inline(always)]
    pub fn reg(&self, r: Register) -> u64 {
        let v = r as u32;
        let g = &self.cpu.state.gpr;
        if (RAX..=R15).contains(&v) {
            g[(v - RAX) as usize]
        } else if (EAX..=R15D).contains(&v) {
            g[(v - EAX) as usize] & 0xffff_ffff
        } else if (AX..=R15W).contains(&v) {
            g[(v - AX) as usize] & 0xffff
        } else if (AL..=R15L).contains(&v) {
            let i = v - AL;
            if (4..8).contains(&i) { (g[(i - 4) as usize] >> 8) & 0xff } else { g[gpr8_index(i)] & 0xff }
        } else {
            match r {
                Register::ES | Register::CS | Register::SS | Register::DS | Register::FS | Register::GS => {
                    self.cpu.state.seg[seg_of(r) as usize].selector as u64
                }
                _ => 0,
            }
        }
    }

    /// Writes a general-purpose register with the SDM's width rules: 32-bit writes clear bits
    /// 63:32, 8- and 16-bit writes leave the rest (SDM Vol. 1 3.4.1.1).
    #[inline(always)]
    pub fn set_reg(&mut self, r: Register, value: u64) {
        let v = r as u32;
        let g = &mut self.cpu.state.gpr;
        if (RAX..=R15).contains(&v) {
            g[(v - RAX) as usize] = value;
        } else if (EAX..=R15D).contains(&v) {
            g[(v - EAX) as usize] = value & 0xffff_ffff;
        } else if (AX..=R15W).contains(&v) {
            let x = &mut g[(v - AX) as usize];
            *x = (*x & !0xffff) | (value & 0xffff);
        } else if (AL..=R15L).contains(&v) {
            let i = v - AL;
            if (4..8).contains(&i) {
                let x = &mut g[(i - 4) as usize];
                *x = (*x & !0xff00) | ((value & 0xff) << 8);
            } else {
                let x = &mut g[gpr8_index(i)];
                *x = (*x & !0xff) | (value & 0xff);
            }
        }
    }

    /// The effective address (offset within the segment) of the memory operand, wrapped to the
    /// address size (SDM Vol. 1 3.7.5).
    #[inline(always)]
    pub fn effective_address(&self, insn: &Instruction) -> u64 {
        let base = insn.memory_base();
        let index = insn.memory_index();
        let mut ea = insn.memory_displacement64();
        // The address size follows from the registers used; with neither, the displacement is
        // already the full address (iced extends it per address size).
        let mut addr_size = 8;
        if base != Register::None {
            if base == Register::RIP || base == Register::EIP {
                // Decoded at IP 0: the displacement is relative to this instruction's start.
                ea = ea.wrapping_add(self.cpu.state.rip);
                addr_size = if base == Register::EIP { 4 } else { 8 };
            } else {
                ea = ea.wrapping_add(self.reg(base));
                addr_size = base.size();
            }
        }
        if index != Register::None {
            ea = ea.wrapping_add(self.reg(index).wrapping_mul(insn.memory_index_scale() as u64));
            addr_size = index.size();
        }
        match addr_size {
            2 => ea & 0xffff,
            4 => ea & 0xffff_ffff,
            _ => ea,
        }
    }

    /// The effective address of a memory operand known at decode time (see [`ea64_form`])
    /// to use a 64-bit GPR base, with (`INDEX`) or without a 64-bit GPR index.
    #[inline(always)]
    pub fn ea64<const INDEX: bool>(&self, insn: &Instruction) -> u64 {
        let g = &self.cpu.state.gpr;
        let base = g[(insn.memory_base() as usize).wrapping_sub(RAX as usize) & 15];
        let mut ea = insn.memory_displacement64().wrapping_add(base);
        if INDEX {
            let index = g[(insn.memory_index() as usize).wrapping_sub(RAX as usize) & 15];
            ea = ea.wrapping_add(index.wrapping_mul(insn.memory_index_scale() as u64));
        }
        ea
    }

    /// The segment and offset of the memory operand.
    #[inline(always)]
    pub fn mem_operand(&self, insn: &Instruction) -> (SegReg, u64) {
        (seg_of(insn.memory_segment()), self.effective_address(insn))
    }

    /// Reads operand `n` (register, immediate or memory) zero-extended to 64 bits.
    /// Immediates come sign-extended to the operand size, as iced-x86 reports them.
    #[inline(always)]
    pub fn read_op(&mut self, insn: &Instruction, n: u32) -> Result<u64> {
        match insn.op_kind(n) {
            OpKind::Register => Ok(self.reg(insn.op_register(n))),
            OpKind::Memory => {
                let (seg, off) = self.mem_operand(insn);
                self.read_mem(seg, off, insn.memory_size().size() as u32)
            }
            OpKind::Immediate8 => Ok(insn.immediate8() as u64),
            OpKind::Immediate16 => Ok(insn.immediate16() as u64),
            OpKind::Immediate32 => Ok(insn.immediate32() as u64),
            OpKind::Immediate64 => Ok(insn.immediate64()),
            OpKind::Immediate8to16 => Ok(insn.immediate8to16() as u16 as u64),
            OpKind::Immediate8to32 => Ok(insn.immediate8to32() as u32 as u64),
            OpKind::Immediate8to64 => Ok(insn.immediate8to64() as u64),
            OpKind::Immediate32to64 => Ok(insn.immediate32to64() as u64),
            OpKind::Immediate8_2nd => Ok(insn.immediate8_2nd() as u64),
            _ => Err(Exception::ud().into()),
        }
    }

    /// Writes operand `n` (register or memory) with `value` truncated to its size.
    #[inline(always)]
    pub fn write_op(&mut self, insn: &Instruction, n: u32, value: u64) -> Result<()> {
        match insn.op_kind(n) {
            OpKind::Register => {
                self.set_reg(insn.op_register(n), value);
                Ok(())
            }
            OpKind::Memory => {
                let (seg, off) = self.mem_operand(insn);
                self.write_mem(seg, off, insn.memory_size().size() as u32, value)
            }
            _ => Err(Exception::ud().into()),
        }
    }

    /// The size in bytes of operand `n`.
    #[inline(always)]
    pub fn op_size(&self, insn: &Instruction, n: u32) -> u32 {
        match insn.op_kind(n) {
            OpKind::Register => insn.op_register(n).size() as u32,
            OpKind::Memory => insn.memory_size().size() as u32,
            OpKind::Immediate8 | OpKind::Immediate8_2nd => 1,
            OpKind::Immediate16 | OpKind::Immediate8to16 => 2,
            OpKind::Immediate32 | OpKind::Immediate8to32 => 4,
            _ => 8,
        }
    }

    /// Reads general register `r`, known at decode time to be a `SIZE`-byte GPR (for
    /// handlers specialised by operand size: no register-class dispatch for 4 and 8 bytes).
    #[inline(always)]
    pub fn reg_sized<const SIZE: u32>(&self, r: Register) -> u64 {
        let g = &self.cpu.state.gpr;
        match SIZE {
            8 => g[(r as usize).wrapping_sub(RAX as usize) & 15],
            4 => g[(r as usize).wrapping_sub(EAX as usize) & 15] & 0xffff_ffff,
            _ => self.reg(r),
        }
    }

    /// Writes `SIZE`-byte GPR `r` (see [`Exec::reg_sized`]) with the SDM's width rules.
    #[inline(always)]
    pub fn set_reg_sized<const SIZE: u32>(&mut self, r: Register, value: u64) {
        let g = &mut self.cpu.state.gpr;
        match SIZE {
            8 => g[(r as usize).wrapping_sub(RAX as usize) & 15] = value,
            4 => g[(r as usize).wrapping_sub(EAX as usize) & 15] = value & 0xffff_ffff,
            _ => self.set_reg(r, value),
        }
    }

    /// Reads a 64-bit GPR by encoding index (0 = RAX ... 15 = R15).
    #[inline(always)]
    pub fn gpr(&self, i: usize) -> u64 {
        self.cpu.state.gpr[i]
    }
}

/// Whether the memory operand of `insn` can use [`Exec::ea64`]: `Some(true)` with an index,
/// `Some(false)` without, `None` for any other form (RIP-relative, 16/32-bit addressing, no
/// base, vector index).
pub fn ea64_form(insn: &Instruction) -> Option<bool> {
    let is_gpr64 = |r: Register| (RAX..=R15).contains(&(r as u32));
    if !is_gpr64(insn.memory_base()) {
        return None;
    }
    match insn.memory_index() {
        Register::None => Some(false),
        r if is_gpr64(r) => Some(true),
        _ => None,
    }
}

/// GPR index of the 8-bit register numbered `i` from AL (excluding AH..BH).
#[inline(always)]
fn gpr8_index(i: u32) -> usize {
    if i < 4 { i as usize } else { (i - 4) as usize }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iced_register_order_is_what_the_mapping_assumes() {
        use iced_x86::Register as R;
        // AL, CL, DL, BL, AH, CH, DH, BH, SPL, BPL, SIL, DIL, R8L..R15L
        assert_eq!(R::AH as u32 - R::AL as u32, 4);
        assert_eq!(R::SPL as u32 - R::AL as u32, 8);
        assert_eq!(R::R15L as u32 - R::AL as u32, 19);
        assert_eq!(R::R15 as u32 - R::RAX as u32, 15);
        assert_eq!(R::R15D as u32 - R::EAX as u32, 15);
        assert_eq!(R::R15W as u32 - R::AX as u32, 15);
    }
}
