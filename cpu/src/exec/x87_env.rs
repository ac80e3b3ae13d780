//! x87 environment and state images: FNSTENV/FSTENV, FLDENV, FNSAVE/FSAVE, FRSTOR (SDM
//! Vol. 1 8.1.10 "Saving the x87 FPU's State with FSTENV/FNSTENV and FSAVE/FNSAVE",
//! Figures 8-9 to 8-12; Vol. 2 pages FLDENV, FRSTOR, FSAVE/FNSAVE, FSTENV/FNSTENV).
//!
//! The image format follows the operand size (14-byte environment for 16-bit operands,
//! 28-byte for 32- and 64-bit) and the mode: real and virtual-8086 mode use the real-mode
//! layouts (20/32-bit linear instruction and data pointers split around the opcode),
//! protected, compatibility and 64-bit mode the protected-mode layouts (offsets and
//! selectors). FSAVE appends the eight registers in stack order, ST(0) first, 10 bytes each
//! (94 or 108 bytes in all).
//!
//! Model notes: the FPU CS and DS selectors are stored as 0 and ignored when loaded (as
//! FXSAVE does here); the reserved upper halves of the 28-byte format's FCW, FSW, FTW and
//! data-selector dwords are stored as FFFFH, as the host CPUs used for testing do. The full
//! tag word is computed from the registers (valid, zero, special, empty: SDM 8.1.7); loading
//! one keeps only empty/non-empty (hvbench keeps the abridged tag word, as FXSAVE does).

use super::softfloat::{Class, F80};
use super::x87::waiting;
use super::Handler;
use crate::cpu::Exec;
use crate::exception::Result;
use crate::state::{FpuState, Mode};
use iced_x86::{Instruction, MemorySize, Mnemonic};

/// FSW.ES and FSW.B.
const ES_B: u16 = (1 << 7) | (1 << 15);
/// The largest image (FSAVE, 32-bit format).
const MAX_IMAGE: usize = 108;

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    Some(match i.mnemonic() {
        M::Fnstenv => |x, i| store(x, i, false, false),
        M::Fstenv => |x, i| store(x, i, false, true),
        M::Fnsave => |x, i| store(x, i, true, false),
        M::Fsave => |x, i| store(x, i, true, true),
        M::Fldenv => |x, i| load(x, i, false),
        M::Frstor => |x, i| load(x, i, true),
        _ => return None,
    })
}

/// The layout of an image: (32-bit format, real-mode format).
fn layout(x: &Exec<'_>, i: &Instruction) -> (bool, bool) {
    let wide = matches!(i.memory_size(), MemorySize::FpuEnv28 | MemorySize::FpuState108);
    let real = matches!(x.cpu.state.mode(), Mode::Real | Mode::Virtual8086);
    (wide, real)
}

/// An image of `len` (even) bytes as accesses of 8 bytes, then 2 for the tail: (offset, size).
fn pieces(len: usize) -> impl Iterator<Item = (usize, usize)> {
    let whole = len / 8 * 8;
    (0..whole).step_by(8).map(|k| (k, 8)).chain((whole..len).step_by(2).map(|k| (k, 2)))
}

/// The full tag word (two bits a physical register: 00 valid, 01 zero, 10 special, 11 empty).
pub(super) fn full_tag_word(f: &FpuState) -> u16 {
    (0..8).fold(0u16, |t, p| {
        let tag = if f.ftw & (1 << p) == 0 {
            3
        } else {
            match F80.class(f.st[p]) {
                Class::Zero => 1,
                Class::Normal => 0,
                _ => 2,
            }
        };
        t | tag << (2 * p)
    })
}

/// The environment image (14 or 28 bytes) followed by room for the registers.
fn environment(f: &FpuState, wide: bool, real: bool) -> ([u8; MAX_IMAGE], usize) {
    let mut m = [0u8; MAX_IMAGE];
    let tag = full_tag_word(f);
    let (fip, fdp, fop) = (f.fip as u32, f.fdp as u32, (f.fop & 0x7ff) as u32);
    if wide {
        let hi = 0xffff_0000u32;
        let words: [u32; 7] = if real {
            [
                hi | f.fcw as u32,
                hi | f.fsw as u32,
                hi | tag as u32,
                hi | (fip & 0xffff),
                (fip >> 16) << 12 | fop,
                hi | (fdp & 0xffff),
                (fdp >> 16) << 12,
            ]
        } else {
            [hi | f.fcw as u32, hi | f.fsw as u32, hi | tag as u32, fip, fop << 16, fdp, hi]
        };
        for (k, w) in words.iter().enumerate() {
            m[4 * k..4 * k + 4].copy_from_slice(&w.to_le_bytes());
        }
        (m, 28)
    } else {
        let words: [u16; 7] = if real {
            [
                f.fcw,
                f.fsw,
                tag,
                fip as u16,
                ((fip >> 16) as u16 & 0xf) << 12 | fop as u16,
                fdp as u16,
                ((fdp >> 16) as u16 & 0xf) << 12,
            ]
        } else {
            [f.fcw, f.fsw, tag, fip as u16, 0, fdp as u16, 0]
        };
        for (k, w) in words.iter().enumerate() {
            m[2 * k..2 * k + 2].copy_from_slice(&w.to_le_bytes());
        }
        (m, 14)
    }
}

/// FNSTENV/FSTENV (`save` false) and FNSAVE/FSAVE (`save` true); `wait` for the waiting
/// forms. FSTENV then masks all exceptions; FSAVE then initialises the FPU as FNINIT.
fn store(x: &mut Exec<'_>, i: &Instruction, save: bool, wait: bool) -> Result<()> {
    if wait {
        waiting(x)?;
    } else {
        x.fpu_available()?;
    }
    let (wide, real) = layout(x, i);
    let f = &x.cpu.state.fpu;
    let (mut m, env_len) = environment(f, wide, real);
    let mut len = env_len;
    if save {
        let top = (f.fsw >> 11) & 7;
        for k in 0..8 {
            let r = f.st[((top + k) & 7) as usize];
            m[len..len + 10].copy_from_slice(&r.to_le_bytes()[..10]);
            len += 10;
        }
    }
    let (seg, off) = x.mem_operand(i);
    x.probe_write(seg, off, len as u32)?;
    for (k, n) in pieces(len) {
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&m[k..k + n]);
        x.write_mem(seg, off.wrapping_add(k as u64), n as u32, u64::from_le_bytes(b))?;
    }
    if save {
        x.cpu.state.fpu = FpuState::default();
    } else {
        // All exceptions masked: none is pending any more (ES and B clear, as FLDCW would).
        x.cpu.state.fpu.fcw |= 0x3f;
        x.cpu.state.fpu.fsw &= !ES_B;
    }
    Ok(())
}

/// FLDENV (`restore` false) and FRSTOR.
fn load(x: &mut Exec<'_>, i: &Instruction, restore: bool) -> Result<()> {
    waiting(x)?;
    let (wide, real) = layout(x, i);
    let env_len = if wide { 28 } else { 14 };
    let len = if restore { env_len + 80 } else { env_len };
    let (seg, off) = x.mem_operand(i);
    let mut m = [0u8; MAX_IMAGE];
    for (k, n) in pieces(len) {
        let v = x.read_mem(seg, off.wrapping_add(k as u64), n as u32)?;
        m[k..k + n].copy_from_slice(&v.to_le_bytes()[..n]);
    }
    let (step, u) = if wide { (4, 4) } else { (2, 2) };
    let field = |k: usize| {
        let mut b = [0u8; 4];
        b[..u].copy_from_slice(&m[step * k..step * k + u]);
        u32::from_le_bytes(b)
    };
    let f = &mut x.cpu.state.fpu;
    f.fcw = (field(0) as u16 & 0x1f3f) | 0x40;
    f.fsw = field(1) as u16;
    let tag = field(2);
    f.ftw = (0..8).fold(0u8, |t, p| if (tag >> (2 * p)) & 3 != 3 { t | 1 << p } else { t });
    let (fip, fop, fdp) = match (wide, real) {
        (true, true) => ((field(3) & 0xffff) | (field(4) >> 12) << 16, field(4) & 0x7ff, (field(5) & 0xffff) | (field(6) >> 12) << 16),
        (false, true) => (field(3) | (field(4) >> 12) << 16, field(4) & 0x7ff, field(5) | (field(6) >> 12) << 16),
        (true, false) => (field(3), (field(4) >> 16) & 0x7ff, field(5)),
        (false, false) => (field(3), f.fop as u32, field(5)),
    };
    (f.fip, f.fdp, f.fop) = (fip as u64, fdp as u64, fop as u16);
    // ES (and B) follow the loaded flags and masks (Vol. 1 8.1.3.1).
    if f.fsw & 0x3f & !f.fcw & 0x3f != 0 {
        f.fsw |= ES_B;
    } else {
        f.fsw &= !ES_B;
    }
    if restore {
        let top = (f.fsw >> 11) & 7;
        for k in 0..8 {
            let mut b = [0u8; 16];
            b[..10].copy_from_slice(&m[env_len + 10 * k..env_len + 10 * k + 10]);
            f.st[((top as usize) + k) & 7] = u128::from_le_bytes(b);
        }
    }
    Ok(())
}
