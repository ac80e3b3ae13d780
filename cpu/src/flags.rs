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

/// PF, ZF and SF of `result` (already masked to `size`).
#[inline(always)]
pub fn szp(result: u64, size: u32) -> u64 {
    let mut f = 0;
    if (result as u8).count_ones() % 2 == 0 {
        f |= PF;
    }
    if result & mask(size) == 0 {
        f |= ZF;
    }
    if result & sign_bit(size) != 0 {
        f |= SF;
    }
    f
}

/// Result and flags of `a + b + carry` on `size` bytes (ADD, ADC, INC without CF).
#[inline(always)]
pub fn add(a: u64, b: u64, carry: u64, size: u32) -> (u64, u64) {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let wide = (a as u128) + (b as u128) + carry as u128;
    let r = (wide as u64) & m;
    let mut f = szp(r, size);
    if wide > m as u128 {
        f |= CF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if (!(a ^ b) & (a ^ r)) & sign_bit(size) != 0 {
        f |= OF;
    }
    (r, f)
}

/// Result and flags of `a - b - borrow` on `size` bytes (SUB, SBB, CMP, NEG, DEC).
#[inline(always)]
pub fn sub(a: u64, b: u64, borrow: u64, size: u32) -> (u64, u64) {
    let m = mask(size);
    let (a, b) = (a & m, b & m);
    let r = a.wrapping_sub(b).wrapping_sub(borrow) & m;
    let mut f = szp(r, size);
    if (a as u128) < (b as u128) + borrow as u128 {
        f |= CF;
    }
    if (a ^ b ^ r) & 0x10 != 0 {
        f |= AF;
    }
    if ((a ^ b) & (a ^ r)) & sign_bit(size) != 0 {
        f |= OF;
    }
    (r, f)
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
    fn sign_extension_and_masks() {
        assert_eq!(sign_extend(0x80, 1), 0xffff_ffff_ffff_ff80);
        assert_eq!(sign_extend(0x7fff, 2), 0x7fff);
        assert_eq!(mask(4), 0xffff_ffff);
        assert_eq!(mask(8), u64::MAX);
    }
}
