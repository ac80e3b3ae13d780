//! Stack instructions: PUSH, POP, PUSHF, POPF, PUSHA, POPA, ENTER, LEAVE (SDM Vol. 1 6.2,
//! Vol. 2 instruction pages) and the push/pop primitives that CALL, RET and INT use.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::flags;
use crate::operand::seg_of;
use crate::segment::SegReg;
use crate::state::Mode;
use iced_x86::{Code, Instruction, Mnemonic, OpKind, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Push | Mnemonic::Pushf | Mnemonic::Pushfd | Mnemonic::Pushfq => {
            let flags = i.mnemonic() != Mnemonic::Push;
            match (stack_op_size(i), flags) {
                (2, false) => push::<2>,
                (4, false) => push::<4>,
                (8, false) => push::<8>,
                (2, true) => pushf::<2>,
                (4, true) => pushf::<4>,
                _ => pushf::<8>,
            }
        }
        Mnemonic::Pop | Mnemonic::Popf | Mnemonic::Popfd | Mnemonic::Popfq => {
            let flags = i.mnemonic() != Mnemonic::Pop;
            match (stack_op_size(i), flags) {
                (2, false) => pop::<2>,
                (4, false) => pop::<4>,
                (8, false) => pop::<8>,
                (2, true) => popf::<2>,
                (4, true) => popf::<4>,
                _ => popf::<8>,
            }
        }
        Mnemonic::Pusha | Mnemonic::Pushad => pusha,
        Mnemonic::Popa | Mnemonic::Popad => popa,
        Mnemonic::Leave => leave,
        Mnemonic::Enter => enter,
        _ => return None,
    })
}

impl Exec<'_> {
    /// The stack's address-size mask: 64-bit mode, else SS.B (SDM 6.2.3).
    #[inline(always)]
    pub fn stack_mask(&self) -> u64 {
        if self.cpu.state.mode() == Mode::Long64 {
            u64::MAX
        } else if self.cpu.state.seg(SegReg::Ss).db() {
            0xffff_ffff
        } else {
            0xffff
        }
    }

    /// RSP after moving it by `delta`, within the stack's address size (upper bits kept).
    #[inline(always)]
    pub fn stack_pointer_after(&self, delta: i64) -> u64 {
        let m = self.stack_mask();
        let sp = self.cpu.state.gpr[4];
        (sp & !m) | (sp.wrapping_add(delta as u64) & m)
    }

    /// Pushes `size` bytes.
    #[inline(always)]
    pub fn push(&mut self, size: u32, value: u64) -> Result<()> {
        let sp = self.stack_pointer_after(-(size as i64));
        self.write_mem(SegReg::Ss, sp & self.stack_mask(), size, value)?;
        self.cpu.state.gpr[4] = sp;
        Ok(())
    }

    /// Reads `size` bytes at the stack top plus `offset` without popping.
    #[inline(always)]
    pub fn peek(&mut self, offset: u64, size: u32) -> Result<u64> {
        let m = self.stack_mask();
        let sp = self.cpu.state.gpr[4];
        self.read_mem(SegReg::Ss, sp.wrapping_add(offset) & m, size)
    }

    /// Pops `size` bytes.
    #[inline(always)]
    pub fn pop(&mut self, size: u32) -> Result<u64> {
        let v = self.peek(0, size)?;
        self.cpu.state.gpr[4] = self.stack_pointer_after(size as i64);
        Ok(v)
    }
}

/// The operand size of a push or pop, from iced-x86's stack-pointer increment.
#[inline(always)]
fn stack_op_size(i: &Instruction) -> u32 {
    i.stack_pointer_increment().unsigned_abs()
}

fn push<const SIZE: u32>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.read_op(i, 0)?;
    x.push(SIZE, v)
}

/// POP: the destination's address is computed with the incremented RSP (SDM "POP").
/// POP SS/DS/ES/FS/GS load the segment; POP SS blocks interrupts for one instruction.
fn pop<const SIZE: u32>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = SIZE;
    let v = x.peek(0, size)?;
    let old_sp = x.cpu.state.gpr[4];
    x.cpu.state.gpr[4] = x.stack_pointer_after(size as i64);
    let r = if i.op0_kind() == OpKind::Register && i.op0_register().is_segment_register() {
        let seg = seg_of(i.op0_register());
        x.load_data_segment(seg, v as u16)
    } else {
        x.write_op(i, 0, v)
    };
    if r.is_err() {
        x.cpu.state.gpr[4] = old_sp;
    } else if i.op0_register() == Register::SS {
        x.cpu.state.shadow |= 2;
    }
    r
}

/// PUSHF: RFLAGS with VM and RF cleared (SDM "PUSHF/PUSHFD/PUSHFQ").
fn pushf<const SIZE: u32>(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if crate::v8086::in_v8086(x.cpu.state.rflags) {
        return x.v8086_pushf(SIZE);
    }
    let f = x.cpu.state.rflags & !(flags::VM | flags::RF);
    x.push(SIZE, f)
}

/// POPF with the privilege rules of SDM "POPF/POPFD/POPFQ": IOPL changes only at CPL 0, IF
/// only when CPL <= IOPL; VM, VIP, VIF never change; RF is cleared.
fn popf<const SIZE: u32>(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    if crate::v8086::in_v8086(x.cpu.state.rflags) {
        return x.v8086_popf(SIZE);
    }
    let v = x.pop(SIZE)?;
    x.write_flags(v, SIZE);
    Ok(())
}

impl Exec<'_> {
    /// Loads RFLAGS from a POPF-style image of `size` bytes with POPF's privilege rules.
    pub fn write_flags(&mut self, v: u64, size: u32) {
        let s = &self.cpu.state;
        let iopl = ((s.rflags & flags::IOPL) >> 12) as u8;
        let mut m = flags::DEFINED & !(flags::VIP | flags::VIF | flags::VM | flags::RF);
        if s.mode() != Mode::Real {
            if s.cpl > 0 {
                m &= !flags::IOPL;
            }
            if s.cpl > iopl {
                m &= !flags::IF;
            }
        }
        if size == 2 {
            m &= 0xffff;
        }
        let old = s.rflags;
        let new = ((old & !m) | (v & m) | flags::FIXED1) & !flags::RF;
        self.cpu.state.rflags = if size == 2 { new | (old & flags::RF) } else { new };
        if new & flags::IF != 0 && old & flags::IF == 0 {
            self.cpu.poll_events = true;
        }
    }
}

/// PUSHA/PUSHAD: AX, CX, DX, BX, original SP, BP, SI, DI.
fn pusha(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = if i.mnemonic() == Mnemonic::Pushad { 4 } else { 2 };
    let m = crate::flags::mask(size);
    let sp = x.cpu.state.gpr[4];
    let regs = x.cpu.state.gpr;
    let saved_sp = sp;
    for (n, r) in [0usize, 1, 2, 3, 4, 5, 6, 7].into_iter().enumerate() {
        let v = if r == 4 { saved_sp } else { regs[r] };
        let off = x.stack_pointer_after(-((n as i64 + 1) * size as i64)) & x.stack_mask();
        if let Err(e) = x.write_mem(SegReg::Ss, off, size, v & m) {
            x.cpu.state.gpr[4] = sp;
            return Err(e);
        }
    }
    x.cpu.state.gpr[4] = x.stack_pointer_after(-(8 * size as i64));
    Ok(())
}

/// POPA/POPAD: the reverse, skipping the saved SP.
fn popa(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = if i.mnemonic() == Mnemonic::Popad { 4 } else { 2 };
    let mut vals = [0u64; 8];
    for (n, v) in vals.iter_mut().enumerate() {
        *v = x.peek(n as u64 * size as u64, size)?;
    }
    let regs16 = [Register::DI, Register::SI, Register::BP, Register::SP, Register::BX, Register::DX, Register::CX, Register::AX];
    let regs32 = [Register::EDI, Register::ESI, Register::EBP, Register::ESP, Register::EBX, Register::EDX, Register::ECX, Register::EAX];
    let regs = if size == 4 { regs32 } else { regs16 };
    for (n, r) in regs.into_iter().enumerate() {
        if n != 3 {
            x.set_reg(r, vals[n]);
        }
    }
    x.cpu.state.gpr[4] = x.stack_pointer_after(8 * size as i64);
    Ok(())
}

/// LEAVE: RSP = RBP, then pop RBP (operand size from the encoding).
fn leave(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = match i.code() {
        Code::Leavew => 2,
        Code::Leaved => 4,
        _ => 8,
    };
    let m = x.stack_mask();
    let old = x.cpu.state.gpr[4];
    let bp = x.cpu.state.gpr[5];
    x.cpu.state.gpr[4] = (old & !m) | (bp & m);
    match x.pop(size) {
        Ok(v) => {
            let r = match size {
                2 => Register::BP,
                4 => Register::EBP,
                _ => Register::RBP,
            };
            x.set_reg(r, v);
            Ok(())
        }
        Err(e) => {
            x.cpu.state.gpr[4] = old;
            Err(e)
        }
    }
}

/// ENTER imm16, imm8 (SDM "ENTER"): nesting level taken modulo 32.
fn enter(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = stack_op_size_of_enter(i);
    let alloc = i.immediate16() as u64;
    let level = (i.immediate8_2nd() % 32) as u64;
    let old_sp = x.cpu.state.gpr[4];
    let old_bp = x.cpu.state.gpr[5];
    let m = x.stack_mask();
    let r = (|| -> Result<()> {
        x.push(size, old_bp)?;
        let frame = x.cpu.state.gpr[4];
        let mut bp = old_bp;
        if level > 0 {
            for _ in 1..level {
                bp = (bp & !m) | (bp.wrapping_sub(size as u64) & m);
                let v = x.read_mem(SegReg::Ss, bp & m, size)?;
                x.push(size, v)?;
            }
            x.push(size, frame)?;
        }
        let bpm = crate::flags::mask(size);
        x.cpu.state.gpr[5] = (x.cpu.state.gpr[5] & !bpm) | (frame & bpm);
        x.cpu.state.gpr[4] = x.stack_pointer_after(-(alloc as i64));
        // The final stack pointer must be writable (SDM: #SS/#PF if it is not).
        let sp = x.cpu.state.gpr[4] & m;
        if alloc > 0 {
            x.probe_write(SegReg::Ss, sp, 1)?;
        }
        Ok(())
    })();
    if r.is_err() {
        x.cpu.state.gpr[4] = old_sp;
        x.cpu.state.gpr[5] = old_bp;
    }
    r
}

fn stack_op_size_of_enter(i: &Instruction) -> u32 {
    match i.code() {
        Code::Enterw_imm16_imm8 => 2,
        Code::Enterd_imm16_imm8 => 4,
        _ => 8,
    }
}
