//! RFLAGS (SDM Vol. 1 3.4.3) and the arithmetic flag rules of the ALU instructions.

/// Bit 1, reserved, always 1.
pub const FIXED1: u64 = 1 << 1;
/// The six status flags.
pub const STATUS: u64 = CF | PF | AF | ZF | SF | OF;
/// Carry flag bit.
pub const CF: u64 = 1 << 0;
/// Parity flag bit.
pub const PF: u64 = 1 << 2;
/// Auxiliary-carry flag bit.
pub const AF: u64 = 1 << 4;
/// Zero flag bit.
pub const ZF: u64 = 1 << 6;
/// Sign flag bit.
pub const SF: u64 = 1 << 7;
/// Trap flag bit.
pub const TF: u64 = 1 << 8;
/// Interrupt flag bit.
pub const IF: u64 = 1 << 9;
/// Direction flag bit.
pub const DF: u64 = 1 << 10;
/// Overflow flag bit.
pub const OF: u64 = 1 << 11;
/// IOPL field.
pub const IOPL: u64 = 3 << 12;
/// Nested-task bit.
pub const NT: u64 = 1 << 14;
/// Resume flag bit.
pub const RF: u64 = 1 << 16;
/// Virtual-8086 bit.
pub const VM: u64 = 1 << 17;
/// Alignment-check bit.
pub const AC: u64 = 1 << 18;
/// Virtual interrupt flag bit.
pub const VIF: u64 = 1 << 19;
/// Virtual interrupt pending bit.
pub const VIP: u64 = 1 << 20;
/// ID bit.
pub const ID: u64 = 1 << 21;
/// Bits that software can ever set (the rest read as 0, bit 1 as 1).
pub const DEFINED: u64 = 0x003f_7fd5;

/// The mask of an operand of `size` bytes.
#[inline(always)]
pub const fn mask(size: u32) -> u64 {
    if size >= 8 { u64::MAX } else { (1u64 << (size * 8)) - 1 }
}

/// The sign bit of an operand of `size` bytes.
#[inline(always)]
pub const fn sign_bit(size: u32) -> u64 {
    1u64 << (size * 8 - 1)
}

/// Sign-extends the low `size` bytes of `v`.
#[inline(always)]
pub const fn sign_extend(v: u64, size: u32) -> u64 {
    let shift = 64 - size * 8;
    (((v << shift) as i64) >> shift) as u64
}

/// PF for each value of a result's low byte: set when the byte has an even number of ones.
static PARITY: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = if (i as u8).count_ones() % 2 == 0 { PF as u8 } else { 0 };
        i += 1;
    }
    t
};

/// PF, ZF and SF of `result` (only its low `size` bytes count).
#[inline(always)]
pub fn szp(result: u64, size: u32) -> u64 {
    let r = result & mask(size);
    let pf = PARITY[(r & 0xff) as usize] as u64;
    let zf = ((r == 0) as u64) << 6;
    let sf = (r >> (size * 8 - 1)) << 7;
    pf | zf | sf
}

/// Result and flags of `a + b + carry` on `size` bytes (ADD, ADC, INC without CF).
#[inline(always)]
pub fn add(a: u64, b: u64, carry: u64, size: u32) -> (u64, u64) {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let full = a.wrapping_add(b).wrapping_add(carry);
    let r = full & m;
    // Carry out of the operand: for 64 bits the sum wrapped; for narrower sizes it spilled.
    let cf = if size == 8 { (full < a || (carry != 0 && full == a)) as u64 } else { (full >> (size * 8)) & 1 };
    let af = (a ^ b ^ r) & AF;
    let of = (((!(a ^ b) & (a ^ r)) >> (size * 8 - 1)) & 1) << 11;
    (r, szp(r, size) | cf | af | of)
}

/// Result and flags of `a - b - borrow` on `size` bytes (SUB, SBB, CMP, NEG, DEC).
#[inline(always)]
pub fn sub(a: u64, b: u64, borrow: u64, size: u32) -> (u64, u64) {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_sub(b).wrapping_sub(borrow) & m;
    let cf = (a < b || (borrow != 0 && a == b)) as u64;
    let af = (a ^ b ^ r) & AF;
    let of = ((((a ^ b) & (a ^ r)) >> (size * 8 - 1)) & 1) << 11;
    (r, szp(r, size) | cf | af | of)
}

/// Flags of a logical result (AND, OR, XOR, TEST): CF=OF=0, AF undefined (left 0).
#[inline(always)]
pub fn logic(r: u64, size: u32) -> u64 {
    szp(r & mask(size), size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_sets_carry_overflow_and_aux() {
        // 0x7f + 1 on a byte: signed overflow, aux carry, no carry (SDM ADD: OF, AF).
        let (r, f) = add(0x7f, 1, 0, 1);
        assert_eq!(r, 0x80);
        assert_eq!(f & (OF | AF | CF | SF | ZF), OF | AF | SF);
        // 0xff + 1: carry and zero.
        let (r, f) = add(0xff, 1, 0, 1);
        assert_eq!(r, 0);
        assert_eq!(f & (CF | ZF | PF | OF), CF | ZF | PF);
        // 64-bit carry out.
        let (r, f) = add(u64::MAX, 0, 1, 8);
        assert_eq!((r, f & CF), (0, CF));
    }

    #[test]
    fn sub_borrow_rules() {
        let (r, f) = sub(0, 1, 0, 4);
        assert_eq!(r, 0xffff_ffff);
        assert_eq!(f & (CF | SF | OF | AF), CF | SF | AF);
        // 0x80 - 1: signed overflow on a byte.
        let (_, f) = sub(0x80, 1, 0, 1);
        assert_ne!(f & OF, 0);
        // SBB with borrow where b = max: borrow must still propagate.
        let (r, f) = sub(5, u64::MAX, 1, 8);
        assert_eq!(r, 5);
        assert_ne!(f & CF, 0);
    }

    #[test]
    fn flags_match_a_wide_reference_for_edge_values() {
        // Reference: the SDM's definitions computed in u128 arithmetic.
        let vals = [0u64, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, u64::MAX >> 1, 1 << 63, u64::MAX];
        for size in [1u32, 2, 4, 8] {
            let m = mask(size);
            for &a in &vals {
                for &b in &vals {
                    for c in 0..2u64 {
                        let (a, b) = (a & m, b & m);
                        let wide = a as u128 + b as u128 + c as u128;
                        let r = (wide as u64) & m;
                        let sign = sign_bit(size);
                        let mut f = 0;
                        if wide > m as u128 { f |= CF; }
                        if r == 0 { f |= ZF; }
                        if r & sign != 0 { f |= SF; }
                        if (r as u8).count_ones() % 2 == 0 { f |= PF; }
                        if (a ^ b ^ r) & 0x10 != 0 { f |= AF; }
                        if (a & sign == b & sign) && (r & sign != a & sign) { f |= OF; }
                        assert_eq!(add(a, b, c, size), (r, f), "add {a:#x}+{b:#x}+{c} size {size}");
                        let r = a.wrapping_sub(b).wrapping_sub(c) & m;
                        let mut f = 0;
                        if (a as u128) < b as u128 + c as u128 { f |= CF; }
                        if r == 0 { f |= ZF; }
                        if r & sign != 0 { f |= SF; }
                        if (r as u8).count_ones() % 2 == 0 { f |= PF; }
                        if (a ^ b ^ r) & 0x10 != 0 { f |= AF; }
                        if (a & sign != b & sign) && (r & sign != a & sign) { f |= OF; }
                        assert_eq!(sub(a, b, c, size), (r, f), "sub {a:#x}-{b:#x}-{c} size {size}");
                    }
                }
            }
        }
    }

    #[test]
    fn sign_extension_and_masks() {
        assert_eq!(sign_extend(0x80, 1), 0xffff_ffff_ffff_ff80);
        assert_eq!(sign_extend(0x7fff, 2), 0x7fff);
        assert_eq!(mask(4), 0xffff_ffff);
        assert_eq!(mask(8), u64::MAX);
    }
}
