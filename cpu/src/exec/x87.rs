//! The x87 FPU subset that kernel and compiler start-up code uses (SDM Vol. 1 chapter 8
//! "Programming with the x87 FPU"; Vol. 2 pages FINIT ... FXCH).
//!
//! Implemented: FNINIT/FINIT, FNSTCW/FSTCW, FLDCW, FNSTSW/FSTSW (AX, m16), FNCLEX/FCLEX,
//! WAIT/FWAIT, FLD/FST/FSTP (m32/m64/m80/ST(i)), FILD/FIST/FISTP/FISTTP, FLD1/FLDZ,
//! FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR with their P and FI forms, FCHS, FABS, FXCH,
//! FCOM/FCOMP/FCOMPP/FUCOM/FUCOMP/FUCOMPP, FICOM/FICOMP, FCOMI/FCOMIP/FUCOMI/FUCOMIP,
//! FFREE, FINCSTP/FDECSTP, FNOP. More in `x87_ops.rs` (constants, FSQRT, FRNDINT, FSCALE,
//! FXTRACT, FXAM, FTST, FPREM/FPREM1, FCMOVcc) and `x87_env.rs` (FSTENV, FLDENV, FSAVE,
//! FRSTOR).
//!
//! Arithmetic is exact 80-bit (64-bit significand) through [`super::softfloat`], honouring
//! FCW precision and rounding control; C1 reports a result rounded up (SDM 8.1.3.1), or a
//! stack overflow. Not modelled: the bias-adjusted results of unmasked overflow and
//! underflow (the masked result is delivered, and ES is set), FIP/FDP/FOP updates, and the
//! full tag word's zero/special distinction (only the abridged valid/empty bit is kept).
//! Exceptions: #NM per CR0.EM/TS; a pending unmasked exception (FSW.ES) raises #MF before
//! the next waiting instruction when CR0.NE=1 (with NE=0, FERR# is not modelled and the
//! instruction proceeds). An unmasked IE, DE or ZE leaves the destination and stack alone.

use super::simd::FSW_ES;
use super::softfloat::{self as sf, flag, Env, Rc, F32, F64, F80};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{AF, CF, OF, PF, SF, ZF};
use crate::regs::cr0;
use core::cmp::Ordering;
use iced_x86::{Instruction, MemorySize, Mnemonic, OpKind, Register};

/// FSW.SF (stack fault).
pub(super) const FSW_SF: u16 = 1 << 6;
/// FSW.C0, C1, C2, C3.
pub(super) const C0: u16 = 1 << 8;
pub(super) const C1: u16 = 1 << 9;
pub(super) const C2: u16 = 1 << 10;
pub(super) const C3: u16 = 1 << 14;
/// FSW.B (busy, mirrors ES).
const FSW_B: u16 = 1 << 15;
/// +1.0 in double extended.
pub(super) const ONE: u128 = (0x3fff << 64) | 1 << 63;

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    Some(match i.mnemonic() {
        M::Fninit => |x, _| nowait(x, fninit),
        M::Fnstcw => |x, i| nowait_i(x, i, fnstcw),
        M::Fnstsw => |x, i| nowait_i(x, i, fnstsw),
        M::Fnclex => |x, _| nowait(x, fnclex),
        M::Wait => fwait,
        M::Fldcw => fldcw,
        M::Fld | M::Fild => fld,
        M::Fld1 => |x, i| push_const(x, i, ONE),
        M::Fldz => |x, i| push_const(x, i, 0),
        M::Fst | M::Fstp | M::Fist | M::Fistp | M::Fisttp => fst,
        M::Fadd | M::Faddp | M::Fiadd => arith,
        M::Fsub | M::Fsubp | M::Fisub | M::Fsubr | M::Fsubrp | M::Fisubr => arith,
        M::Fmul | M::Fmulp | M::Fimul => arith,
        M::Fdiv | M::Fdivp | M::Fidiv | M::Fdivr | M::Fdivrp | M::Fidivr => arith,
        M::Fchs | M::Fabs => sign_op,
        M::Fxch => fxch,
        M::Fcom | M::Fcomp | M::Fcompp | M::Fucom | M::Fucomp | M::Fucompp | M::Ficom | M::Ficomp => fcom,
        M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip => fcom,
        M::Ffree => ffree,
        M::Fincstp | M::Fdecstp => incdec,
        M::Fnop => |x, _| waiting(x),
        _ => return None,
    })
}

impl Exec<'_> {
    pub(super) fn top(&self) -> u32 {
        ((self.cpu.state.fpu.fsw >> 11) & 7) as u32
    }
    pub(super) fn set_top(&mut self, t: u32) {
        let f = &mut self.cpu.state.fpu;
        f.fsw = (f.fsw & !(7 << 11)) | (((t & 7) as u16) << 11);
    }
    pub(super) fn phys(&self, i: u32) -> usize {
        ((self.top() + i) & 7) as usize
    }
    /// ST(i), or None if its register is empty.
    pub(super) fn st(&self, i: u32) -> Option<u128> {
        let p = self.phys(i);
        (self.cpu.state.fpu.ftw & (1 << p) != 0).then_some(self.cpu.state.fpu.st[p])
    }
    pub(super) fn set_st(&mut self, i: u32, v: u128) {
        let p = self.phys(i);
        self.cpu.state.fpu.st[p] = v;
        self.cpu.state.fpu.ftw |= 1 << p;
    }
    pub(super) fn fpop(&mut self) {
        let p = self.phys(0);
        self.cpu.state.fpu.ftw &= !(1 << p);
        self.set_top(self.top() + 1);
    }
    pub(super) fn x87_env(&self, prec_override: Option<u32>) -> Env {
        let fcw = self.cpu.state.fpu.fcw as u32;
        let prec = match (fcw >> 8) & 3 {
            0 => 24,
            2 => 53,
            _ => 64,
        };
        Env {
            rc: Rc::from_bits(fcw >> 10),
            prec: prec_override.unwrap_or(prec),
            daz: false,
            ftz: false,
            ue_masked: fcw & flag::UE != 0,
            x87: true,
        }
    }
    /// Records exception flags; true if the destination may be written (no unmasked
    /// IE, DE or ZE).
    pub(super) fn x87_flags(&mut self, flags: u32) -> bool {
        let f = &mut self.cpu.state.fpu;
        let unmasked = flags & !(f.fcw as u32) & 0x3f;
        f.fsw |= (flags & 0x3f) as u16 | (flags & flag::ROUNDED_UP) as u16;
        if unmasked != 0 {
            f.fsw |= FSW_ES | FSW_B;
        }
        unmasked & (flag::IE | flag::DE | flag::ZE) == 0
    }
    /// Stack underflow (C1=0) or overflow (C1=1): IE and SF; true if masked.
    pub(super) fn stack_fault(&mut self, overflow: bool) -> bool {
        let f = &mut self.cpu.state.fpu;
        f.fsw = (f.fsw & !C1) | FSW_SF | if overflow { C1 } else { 0 };
        self.x87_flags(flag::IE)
    }
    /// Pushes `v`; stack overflow (ST(7) valid) pushes the default NaN when masked.
    pub(super) fn fpush(&mut self, v: u128) {
        let p = ((self.top() + 7) & 7) as usize;
        let v = if self.cpu.state.fpu.ftw & (1 << p) != 0 {
            if !self.stack_fault(true) {
                return;
            }
            F80.default_nan()
        } else {
            v
        };
        self.set_top(self.top() + 7);
        self.set_st(0, v);
    }
}

/// #NM, then #MF for a pending unmasked exception (CR0.NE=1).
pub(super) fn waiting(x: &mut Exec<'_>) -> Result<()> {
    x.fpu_available()?;
    if x.cpu.state.fpu.fsw & FSW_ES != 0 && x.cpu.state.cr0 & cr0::NE != 0 {
        return Err(Exception::mf().into());
    }
    Ok(())
}

fn nowait(x: &mut Exec<'_>, f: fn(&mut Exec<'_>)) -> Result<()> {
    x.fpu_available()?;
    f(x);
    Ok(())
}

fn nowait_i(x: &mut Exec<'_>, i: &Instruction, f: fn(&mut Exec<'_>, &Instruction) -> Result<()>) -> Result<()> {
    x.fpu_available()?;
    f(x, i)
}

fn fninit(x: &mut Exec<'_>) {
    x.cpu.state.fpu = crate::state::FpuState::default();
}

fn fnclex(x: &mut Exec<'_>) {
    x.cpu.state.fpu.fsw &= !(0xff | FSW_B);
}

fn fnstcw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.cpu.state.fpu.fcw as u64;
    x.write_op(i, 0, v)
}

fn fnstsw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let v = x.cpu.state.fpu.fsw as u64;
    x.write_op(i, 0, v)
}

/// WAIT/FWAIT: #NM if CR0.MP=1 and CR0.TS=1, then pending exceptions.
fn fwait(x: &mut Exec<'_>, _: &Instruction) -> Result<()> {
    let c = x.cpu.state.cr0;
    if c & cr0::MP != 0 && c & cr0::TS != 0 {
        return Err(Exception::nm().into());
    }
    if x.cpu.state.fpu.fsw & FSW_ES != 0 && c & cr0::NE != 0 {
        return Err(Exception::mf().into());
    }
    Ok(())
}

/// FLDCW: bit 6 reads as 1; ES follows the new masks.
fn fldcw(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let v = x.read_op(i, 0)? as u16;
    let f = &mut x.cpu.state.fpu;
    f.fcw = (v & 0x1f3f) | 0x40;
    if f.fsw & 0x3f & !f.fcw & 0x3f != 0 {
        f.fsw |= FSW_ES | FSW_B;
    } else {
        f.fsw &= !(FSW_ES | FSW_B);
    }
    Ok(())
}

/// The memory operand as a double-extended value (floating or integer), with conversion
/// flags (DE for a denormal single/double, IE for an SNaN).
pub(super) fn read_mem_value(x: &mut Exec<'_>, i: &Instruction) -> Result<(u128, u32)> {
    let (seg, off) = x.mem_operand(i);
    let env = Env { prec: 64, ..x.x87_env(None) };
    Ok(match i.memory_size() {
        MemorySize::Float32 => sf::convert(F32, F80, &env, x.read_mem(seg, off, 4)? as u128),
        MemorySize::Float64 => sf::convert(F64, F80, &env, x.read_mem(seg, off, 8)? as u128),
        MemorySize::Float80 => {
            let lo = x.read_mem(seg, off, 8)?;
            let hi = x.read_mem(seg, off.wrapping_add(8), 2)?;
            ((hi as u128) << 64 | lo as u128, 0)
        }
        MemorySize::Int16 => sf::from_int(F80, &env, x.read_mem(seg, off, 2)? as i16 as i64),
        MemorySize::Int32 => sf::from_int(F80, &env, x.read_mem(seg, off, 4)? as i32 as i64),
        MemorySize::Int64 => sf::from_int(F80, &env, x.read_mem(seg, off, 8)? as i64),
        _ => return Err(Exception::ud().into()),
    })
}

pub(super) fn sti(r: Register) -> u32 {
    (r as u32).wrapping_sub(Register::ST0 as u32) & 7
}

/// The ST(i) operand of a one-register form written as `op st(i)` or `op st, st(i)`.
pub(super) fn other_st(i: &Instruction) -> u32 {
    match i.op_count() {
        2 => sti(i.op1_register()),
        1 => sti(i.op0_register()),
        _ => 1,
    }
}

fn fld(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let (v, flags) = if i.op0_kind() == OpKind::Memory {
        read_mem_value(x, i)?
    } else {
        match x.st(sti(i.op0_register())) {
            Some(v) => (v, 0),
            None => {
                if x.stack_fault(false) {
                    x.fpush(F80.default_nan());
                }
                return Ok(());
            }
        }
    };
    if x.x87_flags(flags) {
        x.fpush(v);
    }
    Ok(())
}

fn push_const(x: &mut Exec<'_>, _: &Instruction, v: u128) -> Result<()> {
    waiting(x)?;
    x.fpush(v);
    Ok(())
}

/// FST/FSTP/FIST/FISTP/FISTTP to memory or ST(i).
fn fst(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let m = i.mnemonic();
    let pop = matches!(m, Mnemonic::Fstp | Mnemonic::Fistp | Mnemonic::Fisttp);
    let src = x.st(0);
    let env = x.x87_env(Some(64));
    if i.op0_kind() == OpKind::Register {
        let v = match src {
            Some(v) => v,
            None if x.stack_fault(false) => F80.default_nan(),
            None => return Ok(()),
        };
        x.set_st(sti(i.op0_register()), v);
        if pop {
            x.fpop();
        }
        return Ok(());
    }
    let size = i.memory_size().size() as u32;
    let (v, flags) = match (src, i.memory_size()) {
        (None, MemorySize::Int16 | MemorySize::Int32 | MemorySize::Int64) => ((1u128 << (8 * size - 1)), flag::IE),
        (None, MemorySize::Float32) => (F32.default_nan(), flag::IE),
        (None, MemorySize::Float64) => (F64.default_nan(), flag::IE),
        (None, _) => (F80.default_nan(), flag::IE),
        (Some(v), MemorySize::Float32) => sf::convert(F80, F32, &Env { prec: 24, ..env }, v),
        (Some(v), MemorySize::Float64) => sf::convert(F80, F64, &Env { prec: 53, ..env }, v),
        (Some(v), MemorySize::Float80) => (v, 0),
        (Some(v), _) => {
            let (r, fl) = sf::to_int(F80, &env, v, 8 * size, m == Mnemonic::Fisttp);
            (r as u64 as u128, fl)
        }
    };
    if src.is_none() {
        if !x.stack_fault(false) {
            return Ok(());
        }
    } else if !{
        x.cpu.state.fpu.fsw &= !C1;
        x.x87_flags(flags)
    } {
        return Ok(());
    }
    let (seg, off) = x.mem_operand(i);
    if size == 10 {
        x.probe_write(seg, off, 10)?;
        x.write_mem(seg, off, 8, v as u64)?;
        x.write_mem(seg, off.wrapping_add(8), 2, (v >> 64) as u64)?;
    } else {
        x.write_mem(seg, off, size, v as u64)?;
    }
    if pop {
        x.fpop();
    }
    Ok(())
}

/// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR in the memory, ST(0),ST(i), ST(i),ST(0) and popping forms.
fn arith(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    use Mnemonic as M;
    waiting(x)?;
    let m = i.mnemonic();
    let pop = matches!(m, M::Faddp | M::Fsubp | M::Fsubrp | M::Fmulp | M::Fdivp | M::Fdivrp);
    // (destination index, the other operand)
    let (dst, other, mut flags) = if i.op_count() == 1 && i.op0_kind() == OpKind::Memory {
        let (v, fl) = read_mem_value(x, i)?;
        (0, Some(v), fl)
    } else if i.op_count() == 2 {
        let (d, s) = (sti(i.op0_register()), sti(i.op1_register()));
        (d, x.st(s), 0)
    } else {
        (1, x.st(0), 0)
    };
    let a = x.st(dst);
    let (Some(a), Some(b)) = (a, other) else {
        if x.stack_fault(false) {
            x.set_st(dst, F80.default_nan());
            if pop {
                x.fpop();
            }
        }
        return Ok(());
    };
    // For the two-register forms the destination is the first operand and the source the
    // second: ST(d) = ST(d) op ST(s); reversed forms compute ST(s) op ST(d).
    let env = x.x87_env(None);
    let (r, fl) = match m {
        M::Fadd | M::Faddp | M::Fiadd => sf::add(F80, &env, a, b, false),
        M::Fsub | M::Fsubp | M::Fisub => sf::add(F80, &env, a, b, true),
        M::Fsubr | M::Fsubrp | M::Fisubr => sf::add(F80, &env, b, a, true),
        M::Fmul | M::Fmulp | M::Fimul => sf::mul(F80, &env, a, b),
        M::Fdiv | M::Fdivp | M::Fidiv => sf::div(F80, &env, a, b),
        _ => sf::div(F80, &env, b, a),
    };
    flags |= fl;
    x.cpu.state.fpu.fsw &= !C1;
    if x.x87_flags(flags) {
        x.set_st(dst, r);
        if pop {
            x.fpop();
        }
    }
    Ok(())
}

fn sign_op(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let Some(v) = x.st(0) else {
        if x.stack_fault(false) {
            x.set_st(0, F80.default_nan());
        }
        return Ok(());
    };
    let sign = 1u128 << 79;
    let r = if i.mnemonic() == Mnemonic::Fchs { v ^ sign } else { v & !sign };
    x.cpu.state.fpu.fsw &= !C1;
    x.set_st(0, r);
    Ok(())
}

fn fxch(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let k = other_st(i);
    let (a, b) = (x.st(0), x.st(k));
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        _ => {
            if !x.stack_fault(false) {
                return Ok(());
            }
            (a.unwrap_or(F80.default_nan()), b.unwrap_or(F80.default_nan()))
        }
    };
    x.cpu.state.fpu.fsw &= !C1;
    x.set_st(0, b);
    x.set_st(k, a);
    Ok(())
}

/// FCOM family (C3/C2/C0) and FCOMI family (ZF/PF/CF); FUCOMx signal IE only on SNaN.
fn fcom(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    use Mnemonic as M;
    waiting(x)?;
    let m = i.mnemonic();
    let pops = match m {
        M::Fcomp | M::Fucomp | M::Fcomip | M::Fucomip | M::Ficomp => 1,
        M::Fcompp | M::Fucompp => 2,
        _ => 0,
    };
    let unordered_quiet = matches!(m, M::Fucom | M::Fucomp | M::Fucompp | M::Fucomi | M::Fucomip);
    let eflags_form = matches!(m, M::Fcomi | M::Fcomip | M::Fucomi | M::Fucomip);
    let (b, mut flags) = if i.op_count() >= 1 && i.op0_kind() == OpKind::Memory {
        let (v, fl) = read_mem_value(x, i)?;
        (Some(v), fl)
    } else {
        (x.st(other_st(i)), 0)
    };
    let a = x.st(0);
    let ord = match (a, b) {
        (Some(a), Some(b)) => {
            let env = x.x87_env(None);
            let (o, fl) = sf::compare(F80, &env, a, b, !unordered_quiet);
            flags |= fl;
            if !x.x87_flags(flags) {
                return Ok(());
            }
            o
        }
        _ => {
            if !x.stack_fault(false) {
                return Ok(());
            }
            None
        }
    };
    if eflags_form {
        let v = match ord {
            None => ZF | PF | CF,
            Some(Ordering::Greater) => 0,
            Some(Ordering::Less) => CF,
            Some(Ordering::Equal) => ZF,
        };
        x.set_flags(ZF | PF | CF | OF | SF | AF, v);
        x.cpu.state.fpu.fsw &= !C1;
    } else {
        let c = match ord {
            None => C3 | C2 | C0,
            Some(Ordering::Greater) => 0,
            Some(Ordering::Less) => C0,
            Some(Ordering::Equal) => C3,
        };
        let f = &mut x.cpu.state.fpu;
        f.fsw = (f.fsw & !(C3 | C2 | C1 | C0)) | c;
    }
    for _ in 0..pops {
        x.fpop();
    }
    Ok(())
}

fn ffree(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let p = x.phys(sti(i.op0_register()));
    x.cpu.state.fpu.ftw &= !(1 << p);
    Ok(())
}

fn incdec(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    waiting(x)?;
    let t = if i.mnemonic() == Mnemonic::Fincstp { x.top() + 1 } else { x.top() + 7 };
    x.set_top(t);
    x.cpu.state.fpu.fsw &= !C1;
    Ok(())
}
