//! SSE4.2: the packed string compares PCMPESTRI, PCMPESTRM, PCMPISTRI, PCMPISTRM and CRC32
//! (SDM Vol. 1 12.12 "SSE4.2 Instruction Set"; Vol. 2B 4.1 "Imm8 Control Byte Operation for
//! PCMPESTRI / PCMPESTRM / PCMPISTRI / PCMPISTRM" with Tables 4-1..4-8, and the pages
//! PCMPESTRI ... PCMPISTRM and CRC32 in Vol. 2A). PCMPGTQ lives in `sse_int.rs`, POPCNT in
//! `bits.rs`.
//!
//! The string compares, in the SDM's terms: operand 1 (`xmm1`, here `a`) and operand 2
//! (`xmm2/m128`, here `b`) hold 16 bytes or 8 words (imm8[0]), signed or unsigned (imm8[1]).
//! Their lengths are explicit (|EAX| and |EDX|, RAX/RDX with REX.W, saturated to 16 or 8)
//! or implicit (the index of the first zero element). The aggregation (imm8[3:2]) builds
//! IntRes1 from the comparisons BoolRes[j][i] of b[j] with a[i], overridden for invalid
//! elements as Table 4-7 says; the polarity (imm8[5:4]) gives IntRes2. Flags (4.1.6):
//! CF = IntRes2 != 0, ZF = b's length < 16/8, SF = a's length < 16/8, OF = IntRes2[0],
//! AF = PF = 0. The index forms write ECX (the least or most significant set bit of
//! IntRes2 by imm8[6], or 16/8 when none); the mask forms write XMM0 (IntRes2 as bits, or
//! expanded to byte/word elements by imm8[6]). The 16-byte memory operand needs no alignment.

use super::simd::{lane, lmask, set_lane, slane};
use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::flags::{AF, CF, OF, PF, SF, ZF};
use iced_x86::{Instruction, Mnemonic, OpKind};

/// The CRC-32C polynomial 11EDC6F41H, bit-reflected (SDM CRC32 "Operation" works on
/// bit-reflected data; 1EDC6F41H reversed is 82F63B78H).
const CRC32C_REFLECTED: u32 = 0x82f6_3b78;

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    use Mnemonic as M;
    Some(match i.mnemonic() {
        M::Pcmpestri | M::Pcmpestri64 => |x, i| pcmpstr(x, i, true, false),
        M::Pcmpestrm | M::Pcmpestrm64 => |x, i| pcmpstr(x, i, true, true),
        M::Pcmpistri => |x, i| pcmpstr(x, i, false, false),
        M::Pcmpistrm => |x, i| pcmpstr(x, i, false, true),
        M::Crc32 => crc32,
        _ => return None,
    })
}

/// The element format of imm8[1:0].
#[derive(Clone, Copy)]
struct Elems {
    /// Element width in bits (8 or 16).
    bits: u32,
    /// Number of elements (16 or 8).
    n: u32,
    /// Signed elements.
    signed: bool,
}

impl Elems {
    fn of(imm: u8) -> Self {
        let bits = if imm & 1 != 0 { 16 } else { 8 };
        Self { bits, n: 128 / bits, signed: imm & 2 != 0 }
    }
    fn get(self, v: u128, k: u32) -> i64 {
        if self.signed { slane(v, self.bits, k) } else { lane(v, self.bits, k) as i64 }
    }
    /// Implicit length: the index of the first zero element, or `n`.
    fn implicit_len(self, v: u128) -> u32 {
        (0..self.n).find(|&k| lane(v, self.bits, k) == 0).unwrap_or(self.n)
    }
    /// Explicit length: |len| saturated to `n` (the register read is 32 or 64 bits wide).
    fn explicit_len(self, len: i64) -> u32 {
        len.unsigned_abs().min(self.n as u64) as u32
    }
}

/// IntRes2 of a string compare of `a` (length `la`) with `b` (length `lb`) under `imm`.
pub(super) fn string_compare(a: u128, b: u128, la: u32, lb: u32, imm: u8) -> u32 {
    let e = Elems::of(imm);
    let n = e.n;
    let mut res1 = 0u32;
    match (imm >> 2) & 3 {
        // Equal any: b[j] equals some valid a[i]; invalid elements compare false.
        0 => {
            for j in 0..lb {
                if (0..la).any(|i| e.get(b, j) == e.get(a, i)) {
                    res1 |= 1 << j;
                }
            }
        }
        // Ranges: a holds (low, high) pairs; an incomplete pair compares false.
        1 => {
            for j in 0..lb {
                let v = e.get(b, j);
                if (0..la / 2).any(|p| v >= e.get(a, 2 * p) && v <= e.get(a, 2 * p + 1)) {
                    res1 |= 1 << j;
                }
            }
        }
        // Equal each: both invalid compare true, one invalid false.
        2 => {
            for i in 0..n {
                let eq = match (i < la, i < lb) {
                    (true, true) => e.get(a, i) == e.get(b, i),
                    (false, false) => true,
                    _ => false,
                };
                res1 |= (eq as u32) << i;
            }
        }
        // Equal ordered: a (the needle) starts at b[j]; an invalid a[k] matches anything,
        // a valid a[k] against an invalid b[j+k] does not.
        _ => {
            for j in 0..n {
                let found = (0..n - j).all(|k| k >= la || (j + k < lb && e.get(a, k) == e.get(b, j + k)));
                res1 |= (found as u32) << j;
            }
        }
    }
    let all = lmask(n) as u32;
    match (imm >> 4) & 3 {
        1 => !res1 & all,
        3 => res1 ^ (lmask(lb) as u32 & all),
        _ => res1,
    }
}

/// PCMPESTRI/PCMPESTRM (`explicit`) and PCMPISTRI/PCMPISTRM; `mask` selects the M forms.
fn pcmpstr(x: &mut Exec<'_>, i: &Instruction, explicit: bool, mask: bool) -> Result<()> {
    x.sse_available()?;
    let imm = i.immediate8();
    let e = Elems::of(imm);
    let b = x.vread(i, 1)?;
    let a = x.vreg(i.op0_register());
    let (la, lb) = if explicit {
        let wide = matches!(i.mnemonic(), Mnemonic::Pcmpestri64 | Mnemonic::Pcmpestrm64);
        let len = |r: u64| if wide { r as i64 } else { r as i32 as i64 };
        (e.explicit_len(len(x.gpr(0))), e.explicit_len(len(x.gpr(2))))
    } else {
        (e.implicit_len(a), e.implicit_len(b))
    };
    let res2 = string_compare(a, b, la, lb, imm);
    let msb = imm & 0x40 != 0;
    if mask {
        let v = if msb {
            (0..e.n).fold(0u128, |r, k| if res2 >> k & 1 != 0 { set_lane(r, e.bits, k, u64::MAX) } else { r })
        } else {
            res2 as u128
        };
        x.cpu.state.xmm[0] = v;
    } else {
        let idx = match (res2, msb) {
            (0, _) => e.n,
            (r, false) => r.trailing_zeros(),
            (r, true) => 31 - r.leading_zeros(),
        };
        x.set_reg(iced_x86::Register::ECX, idx as u64);
    }
    let f = |c: bool, bit: u64| if c { bit } else { 0 };
    let flags = f(res2 != 0, CF) | f(lb < e.n, ZF) | f(la < e.n, SF) | f(res2 & 1 != 0, OF);
    x.set_flags(CF | ZF | SF | OF | AF | PF, flags);
    Ok(())
}

/// CRC-32C of `len` bytes of `data` (little-endian) continuing from `crc` (no inversion:
/// the instruction is one step of the bit-reflected CRC, SDM CRC32 "Operation").
pub(super) fn crc32c(mut crc: u32, data: u64, len: u32) -> u32 {
    for k in 0..len {
        crc ^= (data >> (8 * k)) as u8 as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (CRC32C_REFLECTED & (crc & 1).wrapping_neg());
        }
    }
    crc
}

/// CRC32 r32/r64, r/m8/16/32/64: the low 32 bits of the destination are the running CRC;
/// the result is zero-extended to the destination. Flags are unaffected. #UD with LOCK.
fn crc32(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    if i.has_lock_prefix() {
        return Err(Exception::ud().into());
    }
    let len = match i.op1_kind() {
        OpKind::Register => i.op1_register().size() as u32,
        _ => i.memory_size().size() as u32,
    };
    let data = x.read_op(i, 1)?;
    let d = i.op0_register();
    let crc = crc32c(x.reg(d) as u32, data, len);
    x.set_reg(d, crc as u64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CRC catalogue's check value of CRC-32C (init and final XOR FFFFFFFFH) for the
    /// ASCII string "123456789" is E3069283H.
    #[test]
    fn crc32c_check_value() {
        let s = b"123456789";
        let crc = s.iter().fold(!0u32, |c, &b| crc32c(c, b as u64, 1));
        assert_eq!(!crc, 0xe306_9283);
        // The same in one 8-byte step and one 1-byte step.
        let lo = u64::from_le_bytes(s[..8].try_into().unwrap());
        assert_eq!(!crc32c(crc32c(!0, lo, 8), s[8] as u64, 1), 0xe306_9283);
    }

    fn bytes(s: &[u8]) -> u128 {
        s.iter().enumerate().fold(0, |r, (k, &b)| r | (b as u128) << (8 * k))
    }

    #[test]
    fn equal_any_finds_vowels() {
        // imm 0x00: unsigned bytes, equal any, positive polarity.
        let a = bytes(b"aeiou");
        let b = bytes(b"hello world");
        // e(1), o(4), o(7)
        assert_eq!(string_compare(a, b, 5, 11, 0x00), 1 << 1 | 1 << 4 | 1 << 7);
        // Masked negative (0x30): the non-vowels among the valid elements only.
        assert_eq!(string_compare(a, b, 5, 11, 0x30), 0x7ff & !(1 << 1 | 1 << 4 | 1 << 7));
        // Negative (0x10): the invalid tail is negated too.
        assert_eq!(string_compare(a, b, 5, 11, 0x10), 0xffff & !(1 << 1 | 1 << 4 | 1 << 7));
    }

    #[test]
    fn ranges_equal_each_and_ordered() {
        // Ranges 'a'..'z': the lower-case letters of "Hi There" (i, h, e, r, e).
        let r = bytes(b"az");
        assert_eq!(string_compare(r, bytes(b"Hi There"), 2, 8, 0x04), 0b1111_0010);
        // Equal each: tail beyond both lengths compares true.
        assert_eq!(string_compare(bytes(b"abcd"), bytes(b"abxd"), 4, 4, 0x08), 0xffff & !(1 << 2));
        // Equal ordered: "lo" in "hello lo" at 3 and 6; a partial needle at the end matches.
        assert_eq!(string_compare(bytes(b"lo"), bytes(b"hello lo"), 2, 8, 0x0c), 1 << 3 | 1 << 6);
        let full = bytes(b"0123456789abcdel");
        assert_eq!(string_compare(bytes(b"lo"), full, 2, 16, 0x0c), 1 << 15);
        // Signed words: range [-5, 5] over words [-6, -5, 0, 6].
        let a = 0x0005_fffbu128;
        let b = 0x0006_0000_fffb_fffau128;
        assert_eq!(string_compare(a, b, 2, 4, 0x07), 0b0110);
    }
}
