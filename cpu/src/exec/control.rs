//! Near control transfers: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JCXZ/JECXZ/JRCXZ
//! (SDM Vol. 1 6.3, Vol. 2 instruction pages). Far transfers live in `far.rs`.
//!
//! Instructions are decoded at IP 0, so iced-x86's branch target is relative to the
//! instruction's start; the target is that plus RIP, wrapped to the operand size.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::segment::SegReg;
use crate::state::Mode;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    let direct = matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64);
    Some(match i.mnemonic() {
        Mnemonic::Jmp if direct => jmp_rel,
        Mnemonic::Jmp if !i.is_jmp_far() && !i.is_jmp_far_indirect() => jmp_indirect,
        Mnemonic::Jo
        | Mnemonic::Jno
        | Mnemonic::Jb
        | Mnemonic::Jae
        | Mnemonic::Je
        | Mnemonic::Jne
        | Mnemonic::Jbe
        | Mnemonic::Ja
        | Mnemonic::Js
        | Mnemonic::Jns
        | Mnemonic::Jp
        | Mnemonic::Jnp
        | Mnemonic::Jl
        | Mnemonic::Jge
        | Mnemonic::Jle
        | Mnemonic::Jg => jcc_handler(i),
        Mnemonic::Call if direct => call_rel,
        Mnemonic::Call if !i.is_call_far() && !i.is_call_far_indirect() => call_indirect,
        Mnemonic::Ret => ret,
        Mnemonic::Loop | Mnemonic::Loope | Mnemonic::Loopne => loop_,
        Mnemonic::Jcxz | Mnemonic::Jecxz | Mnemonic::Jrcxz => jcxz,
        _ => return None,
    })
}

/// Bytes of an operand-size-`NearBranchNN` target.
#[inline(always)]
fn branch_mask(kind: OpKind) -> u64 {
    match kind {
        OpKind::NearBranch16 => 0xffff,
        OpKind::NearBranch32 => 0xffff_ffff,
        _ => u64::MAX,
    }
}

impl Exec<'_> {
    /// Checks a near-branch target (CS limit, or canonical in 64-bit mode: #GP(0)) and makes
    /// it the next RIP.
    #[inline(always)]
    pub fn near_branch(&mut self, target: u64) -> Result<()> {
        if self.cpu.state.mode() == Mode::Long64 {
            if !self.is_canonical(target) {
                return Err(Exception::gp0().into());
            }
        } else if target > self.cpu.state.seg(SegReg::Cs).limit as u64 {
            return Err(Exception::gp0().into());
        }
        self.branch(target);
        Ok(())
    }

    /// The absolute target of a direct near branch.
    #[inline(always)]
    pub fn direct_target(&self, i: &Instruction) -> u64 {
        let kind = i.op0_kind();
        self.cpu.state.rip.wrapping_add(i.near_branch_target()) & branch_mask(kind)
    }
}

fn jmp_rel(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let t = x.direct_target(i);
    x.near_branch(t)
}

fn jmp_indirect(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let t = x.read_op(i, 0)?;
    x.near_branch(t)
}

/// Jcc: in 64-bit code (a block decoded as 64-bit code only runs in 64-bit mode), a handler
/// per condition with the target computed from iced-x86's 64-bit branch operand; otherwise
/// the generic one.
fn jcc_handler(i: &Instruction) -> Handler {
    use iced_x86::ConditionCode as C;
    if i.op0_kind() != OpKind::NearBranch64 {
        return jcc;
    }
    match i.condition_code() {
        C::o => jcc64::<{ C::o as u8 }>,
        C::no => jcc64::<{ C::no as u8 }>,
        C::b => jcc64::<{ C::b as u8 }>,
        C::ae => jcc64::<{ C::ae as u8 }>,
        C::e => jcc64::<{ C::e as u8 }>,
        C::ne => jcc64::<{ C::ne as u8 }>,
        C::be => jcc64::<{ C::be as u8 }>,
        C::a => jcc64::<{ C::a as u8 }>,
        C::s => jcc64::<{ C::s as u8 }>,
        C::ns => jcc64::<{ C::ns as u8 }>,
        C::p => jcc64::<{ C::p as u8 }>,
        C::np => jcc64::<{ C::np as u8 }>,
        C::l => jcc64::<{ C::l as u8 }>,
        C::ge => jcc64::<{ C::ge as u8 }>,
        C::le => jcc64::<{ C::le as u8 }>,
        C::g => jcc64::<{ C::g as u8 }>,
        C::None => jcc,
    }
}

#[inline(always)]
fn jcc64<const CC: u8>(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    use crate::flags::{CF, OF, PF, SF, ZF};
    use iced_x86::ConditionCode as C;
    let f = x.cpu.state.rflags;
    let set = |b: u64| f & b != 0;
    let take = match CC {
        c if c == C::o as u8 => set(OF),
        c if c == C::no as u8 => !set(OF),
        c if c == C::b as u8 => set(CF),
        c if c == C::ae as u8 => !set(CF),
        c if c == C::e as u8 => set(ZF),
        c if c == C::ne as u8 => !set(ZF),
        c if c == C::be as u8 => set(CF) || set(ZF),
        c if c == C::a as u8 => !set(CF) && !set(ZF),
        c if c == C::s as u8 => set(SF),
        c if c == C::ns as u8 => !set(SF),
        c if c == C::p as u8 => set(PF),
        c if c == C::np as u8 => !set(PF),
        c if c == C::l as u8 => set(SF) != set(OF),
        c if c == C::ge as u8 => set(SF) == set(OF),
        c if c == C::le as u8 => set(ZF) || set(SF) != set(OF),
        _ => !set(ZF) && set(SF) == set(OF),
    };
    if take {
        // Decoded at IP 0: the operand is the displacement from this instruction's start.
        let rip = x.cpu.state.rip;
        let t = rip.wrapping_add(i.near_branch64());
        // A target in the branch's own 4-KiB page is canonical as RIP is.
        if (t ^ rip) >> 12 != 0 && !x.is_canonical(t) {
            return Err(Exception::gp0().into());
        }
        x.branch(t);
    }
    Ok(())
}

fn jcc(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if x.condition(i.condition_code()) {
        let t = x.direct_target(i);
        x.near_branch(t)?;
    }
    Ok(())
}

/// The size of the return address CALL pushes and RET pops.
#[inline(always)]
fn ret_size(i: &Instruction) -> u32 {
    i.stack_pointer_increment().unsigned_abs()
}

fn call_rel(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let t = x.direct_target(i);
    let ret = x.cpu.next_rip;
    x.near_branch(t)?;
    x.push(ret_size(i), ret)
}

fn call_indirect(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = ret_size(i);
    let t = x.read_op(i, 0)? & crate::flags::mask(size);
    let ret = x.cpu.next_rip;
    x.near_branch(t)?;
    x.push(size, ret)
}

/// RET / RET imm16: pop the return address, then release imm16 more bytes.
fn ret(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = match i.code() {
        iced_x86::Code::Retnw | iced_x86::Code::Retnw_imm16 => 2,
        iced_x86::Code::Retnd | iced_x86::Code::Retnd_imm16 => 4,
        _ => 8,
    };
    let t = x.peek(0, size)?;
    x.near_branch(t)?;
    let extra = if i.op_count() > 0 { i.immediate16() as i64 } else { 0 };
    x.cpu.state.gpr[4] = x.stack_pointer_after(size as i64 + extra);
    Ok(())
}

/// The count register of LOOP/JrCXZ: CX, ECX or RCX by address size (named in the encoding).
fn count_register(i: &Instruction) -> Register {
    use iced_x86::Code as C;
    match i.code() {
        C::Loop_rel8_16_CX | C::Loop_rel8_32_CX | C::Loope_rel8_16_CX | C::Loope_rel8_32_CX
        | C::Loopne_rel8_16_CX | C::Loopne_rel8_32_CX | C::Jcxz_rel8_16 | C::Jcxz_rel8_32 => Register::CX,
        C::Loop_rel8_16_RCX | C::Loop_rel8_64_RCX | C::Loope_rel8_16_RCX | C::Loope_rel8_64_RCX
        | C::Loopne_rel8_16_RCX | C::Loopne_rel8_64_RCX | C::Jrcxz_rel8_16 | C::Jrcxz_rel8_64 => Register::RCX,
        _ => Register::ECX,
    }
}

/// LOOP/LOOPE/LOOPNE: decrement the count register (address size) without touching flags.
fn loop_(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let r = count_register(i);
    let c = x.reg(r).wrapping_sub(1) & crate::flags::mask(r.size() as u32);
    x.set_reg(r, c);
    let zf = x.cpu.state.rflags & crate::flags::ZF != 0;
    let take = c != 0
        && match i.mnemonic() {
            Mnemonic::Loope => zf,
            Mnemonic::Loopne => !zf,
            _ => true,
        };
    if take {
        let t = x.direct_target(i);
        x.near_branch(t)?;
    }
    Ok(())
}

fn jcxz(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let r = count_register(i);
    if x.reg(r) == 0 {
        let t = x.direct_target(i);
        x.near_branch(t)?;
    }
    Ok(())
}
