//! Bit-manipulation and multi-precision extensions: BMI1 (ANDN, BEXTR, BLSI, BLSMSK, BLSR;
//! TZCNT lives in `bits.rs`), BMI2 (BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX) and ADX
//! (ADCX, ADOX) (SDM Vol. 2A/2B instruction pages of those names; Vol. 2A 2.5 "Intel AVX
//! Encoding: VEX-encoded GPR instructions").
//!
//! The VEX forms are #UD in real-address and virtual-8086 mode (SDM Vol. 2A 2.5: "VEX-encoded
//! GPR instructions are not supported in real and virtual 8086 modes"); they work in 16-bit
//! protected mode. The other #UD conditions of Table 2-29 (VEX.L = 1, a 66/F2/F3/REX/LOCK
//! prefix before VEX) are rejected by iced-x86 at decode. Outside 64-bit mode VEX.W is ignored
//! and operands are 32-bit, as iced decodes them. ADCX/ADOX are legacy-encoded and valid in
//! every mode.
//!
//! Flags the SDM leaves undefined, and what this core produces: ANDN, BLSI, BLSMSK, BLSR,
//! BZHI: AF = 0, PF from the result's low byte; BEXTR: SF from the result, AF = 0, PF from the
//! result's low byte (not verified on Intel silicon here). BMI2 instructions change no flags;
//! ADCX writes only CF, ADOX only OF.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{mask, sign_extend, szp, CF, OF, STATUS, ZF};
use crate::state::Mode;
use iced_x86::{CodeSize, Instruction, Mnemonic, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::Andn => andn,
        Mnemonic::Bextr => bextr,
        Mnemonic::Blsi => blsi,
        Mnemonic::Blsmsk => blsmsk,
        Mnemonic::Blsr => blsr,
        Mnemonic::Bzhi => bzhi,
        Mnemonic::Mulx => mulx,
        Mnemonic::Pdep => pdep,
        Mnemonic::Pext => pext,
        Mnemonic::Rorx => rorx,
        Mnemonic::Sarx => sarx,
        Mnemonic::Shlx => shlx,
        Mnemonic::Shrx => shrx,
        Mnemonic::Adcx => adcx,
        Mnemonic::Adox => adox,
        _ => return None,
    })
}

/// #UD for a VEX instruction in real-address or virtual-8086 mode (only 16-bit code can be).
#[inline(always)]
fn vex_allowed(x: &Exec<'_>, i: &Instruction) -> Result<()> {
    if i.code_size() == CodeSize::Code16 && matches!(x.cpu.state.mode(), Mode::Real | Mode::Virtual8086) {
        return Err(Exception::ud().into());
    }
    Ok(())
}

/// Reads operands 1 and 2 (after the mode check); returns (size, op1, op2).
#[inline(always)]
fn sources(x: &mut Exec<'_>, i: &Instruction) -> Result<(u32, u64, u64)> {
    vex_allowed(x, i)?;
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 1)? & mask(size);
    let b = x.read_op(i, 2)? & mask(size);
    Ok((size, a, b))
}

/// Flags of the BMI1 logical results: SF, ZF (and PF) from `r`, the given CF, OF = AF = 0.
#[inline(always)]
fn bmi_flags(r: u64, size: u32, cf: bool) -> u64 {
    szp(r, size) | if cf { CF } else { 0 }
}

/// ANDN r, vvvv, r/m: r = NOT vvvv AND r/m.
fn andn(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, a, b) = sources(x, i)?;
    let r = !a & b & mask(size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, bmi_flags(r, size, false));
    Ok(())
}

/// BEXTR r, r/m, vvvv: start = vvvv[7:0], length = vvvv[15:8]; bits beyond the source are 0.
fn bextr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, src, ctl) = sources(x, i)?;
    let start = (ctl & 0xff) as u32;
    let len = ((ctl >> 8) & 0xff) as u32;
    let shifted = if start >= 64 { 0 } else { src >> start };
    let r = if len >= 64 { shifted } else { shifted & ((1u64 << len) - 1) } & mask(size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, szp(r, size));
    Ok(())
}

/// Reads the single source of BLSI/BLSMSK/BLSR (operand 1; the destination is VEX.vvvv).
#[inline(always)]
fn bls_source(x: &mut Exec<'_>, i: &Instruction) -> Result<(u32, u64)> {
    vex_allowed(x, i)?;
    let size = x.op_size(i, 0);
    Ok((size, x.read_op(i, 1)? & mask(size)))
}

/// BLSI: lowest set bit; CF = (source != 0).
fn blsi(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, s) = bls_source(x, i)?;
    let r = s & s.wrapping_neg() & mask(size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, bmi_flags(r, size, s != 0));
    Ok(())
}

/// BLSMSK: mask up to the lowest set bit; CF = (source = 0), ZF = 0 always.
fn blsmsk(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, s) = bls_source(x, i)?;
    let r = (s ^ s.wrapping_sub(1)) & mask(size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, bmi_flags(r, size, s == 0) & !ZF);
    Ok(())
}

/// BLSR: clear the lowest set bit; CF = (source = 0).
fn blsr(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, s) = bls_source(x, i)?;
    let r = s & s.wrapping_sub(1) & mask(size);
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, bmi_flags(r, size, s == 0));
    Ok(())
}

/// BZHI r, r/m, vvvv: zero the bits from index vvvv[7:0] up; CF = (index > width - 1).
fn bzhi(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, src, idx) = sources(x, i)?;
    let n = (idx & 0xff) as u32;
    let bits = size * 8;
    let r = if n < bits { src & ((1u64 << n) - 1) } else { src };
    x.write_op(i, 0, r)?;
    x.set_flags(STATUS, bmi_flags(r, size, n >= bits));
    Ok(())
}

/// MULX hi, lo, r/m: unsigned EDX/RDX * r/m; the low half goes to VEX.vvvv, then the high
/// half to ModRM.reg (so if both name one register it holds the high half, SDM "MULX").
fn mulx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    vex_allowed(x, i)?;
    let size = x.op_size(i, 0);
    let b = x.read_op(i, 2)? & mask(size);
    let a = x.reg(if size == 8 { Register::RDX } else { Register::EDX });
    let p = a as u128 * b as u128;
    x.write_op(i, 1, p as u64 & mask(size))?;
    x.write_op(i, 0, (p >> (size * 8)) as u64 & mask(size))
}

/// PDEP r, vvvv, r/m: deposit the low bits of vvvv at the set positions of the mask r/m.
fn pdep(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (_, src, mut m) = sources(x, i)?;
    let (mut r, mut k) = (0u64, 0u32);
    while m != 0 {
        let low = m & m.wrapping_neg();
        if (src >> k) & 1 != 0 {
            r |= low;
        }
        k += 1;
        m &= m - 1;
    }
    x.write_op(i, 0, r)
}

/// PEXT r, vvvv, r/m: gather the bits of vvvv at the set positions of the mask r/m into the
/// low bits of the result.
fn pext(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (_, src, mut m) = sources(x, i)?;
    let (mut r, mut k) = (0u64, 0u32);
    while m != 0 {
        let low = m & m.wrapping_neg();
        if src & low != 0 {
            r |= 1 << k;
        }
        k += 1;
        m &= m - 1;
    }
    x.write_op(i, 0, r)
}

/// RORX r, r/m, imm8: rotate right by imm8 modulo the width, no flags.
fn rorx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, src, imm) = sources(x, i)?;
    let c = (imm as u32) & (size * 8 - 1);
    let r = if size == 8 { src.rotate_right(c) } else { (src as u32).rotate_right(c) as u64 };
    x.write_op(i, 0, r)
}

/// SARX/SHLX/SHRX r, r/m, vvvv: count = vvvv modulo the width, no flags.
fn sarx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, src, c) = sources(x, i)?;
    let c = (c as u32) & (size * 8 - 1);
    x.write_op(i, 0, ((sign_extend(src, size) as i64) >> c) as u64 & mask(size))
}

fn shlx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, src, c) = sources(x, i)?;
    let c = (c as u32) & (size * 8 - 1);
    x.write_op(i, 0, (src << c) & mask(size))
}

fn shrx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let (size, src, c) = sources(x, i)?;
    let c = (c as u32) & (size * 8 - 1);
    x.write_op(i, 0, src >> c)
}

/// ADCX/ADOX: unsigned add with carry in and out through `flag` only.
#[inline(always)]
fn add_through(x: &mut Exec<'_>, i: &Instruction, flag: u64) -> Result<()> {
    let size = x.op_size(i, 0);
    let a = x.read_op(i, 0)? & mask(size);
    let b = x.read_op(i, 1)? & mask(size);
    let carry = (x.cpu.state.rflags & flag != 0) as u128;
    let sum = a as u128 + b as u128 + carry;
    x.write_op(i, 0, sum as u64 & mask(size))?;
    x.set_flags(flag, if sum > mask(size) as u128 { flag } else { 0 });
    Ok(())
}

fn adcx(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    add_through(x, i, CF)
}

fn adox(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    add_through(x, i, OF)
}
