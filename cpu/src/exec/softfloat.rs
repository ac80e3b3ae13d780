//! Software binary floating point as x86 does it, for SSE (binary32/binary64) and x87
//! (80-bit double extended): all four rounding modes, x87 precision control, flush-to-zero,
//! denormals-are-zero, and the six exception flags (SDM Vol. 1 4.8 "Real Numbers and
//! Floating-Point Formats", 4.9 "Overview of Floating-Point Exceptions", 11.5).
//!
//! Why not the host's f32/f64: Rust offers only round-to-nearest and no flags, and the x87
//! format has 64-bit significands. Why not a crate: `rustc_apfloat` detects tininess before
//! rounding and knows neither DAZ/FTZ nor x86's NaN-propagation rules, which would all need
//! wrapping anyway. Here every operation is computed exactly (or with a sticky bit below the
//! rounding position) on `u128` significands and rounded once by [`round_pack`].
//!
//! x86 specifics implemented:
//! - tininess is detected after rounding (SDM 4.9.1.5: "rounding with unbounded exponent");
//! - masked underflow sets UE only when the result is tiny and inexact; unmasked, when tiny;
//! - FTZ (with UE masked) returns a zero of the result's sign and sets UE and PE;
//! - masked overflow returns infinity or the largest finite number per the rounding mode;
//! - exact zero sums are +0, except -0 when rounding down (IEEE 754 6.3);
//! - the default NaN is the QNaN "real indefinite" with the sign bit set (SDM Table 4-3);
//! - exception priority (SDM 4.9.2): an invalid operation or divide-by-zero of an element
//!   hides its denormal-operand flag, and so does a NaN operand.
//!
//! Square roots are computed as a 64-bit integer root with guard and sticky bits: exactly
//! rounded in every format, x87 double extended included.

/// Exception flag bits, identical in MXCSR[5:0] and the x87 status word [5:0].
pub mod flag {
    /// Invalid operation.
    pub const IE: u32 = 1 << 0;
    /// Denormal operand.
    pub const DE: u32 = 1 << 1;
    /// Divide by zero.
    pub const ZE: u32 = 1 << 2;
    /// Overflow.
    pub const OE: u32 = 1 << 3;
    /// Underflow.
    pub const UE: u32 = 1 << 4;
    /// Precision (inexact).
    pub const PE: u32 = 1 << 5;
    /// Not an exception: the result's magnitude was rounded up (x87 reports it in FSW.C1,
    /// SDM 8.1.3.1; at the same bit position). SSE ignores it.
    pub const ROUNDED_UP: u32 = 1 << 9;
}
use flag::*;

/// A binary interchange format (or x87's double extended, with an explicit integer bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fmt {
    /// Exponent field width.
    pub exp_bits: u32,
    /// Stored fraction width (x87: 64 including the integer bit).
    pub frac_bits: u32,
    /// Whether the integer bit is stored (x87 extended).
    pub explicit: bool,
}

/// binary32.
pub const F32: Fmt = Fmt { exp_bits: 8, frac_bits: 23, explicit: false };
/// binary64.
pub const F64: Fmt = Fmt { exp_bits: 11, frac_bits: 52, explicit: false };
/// x87 double extended (80 bits).
pub const F80: Fmt = Fmt { exp_bits: 15, frac_bits: 64, explicit: true };

/// Rounding control (MXCSR.RC and FCW.RC share the encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rc {
    /// Round to nearest, ties to even.
    Nearest,
    /// Toward negative infinity.
    Down,
    /// Toward positive infinity.
    Up,
    /// Toward zero.
    Zero,
}

impl Rc {
    /// From the two-bit RC field.
    pub fn from_bits(b: u32) -> Rc {
        match b & 3 {
            0 => Rc::Nearest,
            1 => Rc::Down,
            2 => Rc::Up,
            _ => Rc::Zero,
        }
    }
}

/// The environment of one operation.
#[derive(Debug, Clone, Copy)]
pub struct Env {
    /// Rounding mode.
    pub rc: Rc,
    /// Significand precision of the result in bits (24/53/64; x87 precision control).
    pub prec: u32,
    /// Denormal source operands are treated as zeros (MXCSR.DAZ).
    pub daz: bool,
    /// Tiny results are flushed to zero when UE is masked (MXCSR.FTZ).
    pub ftz: bool,
    /// Whether the underflow exception is masked.
    pub ue_masked: bool,
    /// x87 NaN rules (larger significand wins) instead of SSE's (first operand wins).
    pub x87: bool,
}

/// Operand classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// ±0.
    Zero,
    /// Denormal (x87: also pseudo-denormal).
    Denormal,
    /// Normal.
    Normal,
    /// ±infinity.
    Inf,
    /// Quiet NaN.
    QNaN,
    /// Signalling NaN.
    SNaN,
    /// An x87 encoding the 387 and later reject (unnormal, pseudo-NaN, pseudo-infinity).
    Unsupported,
}

impl Fmt {
    /// Exponent bias.
    pub const fn bias(self) -> i64 {
        (1 << (self.exp_bits - 1)) - 1
    }
    /// Significand precision (with the integer bit).
    pub const fn prec(self) -> u32 {
        if self.explicit { self.frac_bits } else { self.frac_bits + 1 }
    }
    const fn frac_mask(self) -> u128 {
        (1u128 << self.frac_bits) - 1
    }
    const fn exp_max(self) -> u128 {
        (1u128 << self.exp_bits) - 1
    }
    /// The sign bit's position.
    pub const fn sign_shift(self) -> u32 {
        self.exp_bits + self.frac_bits
    }
    /// Sign of `v`.
    pub const fn neg(self, v: u128) -> bool {
        (v >> self.sign_shift()) & 1 != 0
    }
    fn exp_field(self, v: u128) -> u128 {
        (v >> self.frac_bits) & self.exp_max()
    }
    /// The quiet bit (the fraction's top bit below the integer bit).
    const fn quiet_bit(self) -> u128 {
        1u128 << (self.prec() - 2)
    }
    /// Classifies `v`.
    pub fn class(self, v: u128) -> Class {
        let e = self.exp_field(v);
        let f = v & self.frac_mask();
        if self.explicit {
            let j = f >> 63 != 0;
            let frac = f & !(1u128 << 63);
            return match (e, j) {
                (0, _) if f == 0 => Class::Zero,
                (0, _) => Class::Denormal,
                (_, false) => Class::Unsupported,
                (e, true) if e == self.exp_max() => {
                    if frac == 0 {
                        Class::Inf
                    } else if frac & self.quiet_bit() != 0 {
                        Class::QNaN
                    } else {
                        Class::SNaN
                    }
                }
                _ => Class::Normal,
            };
        }
        match e {
            0 if f == 0 => Class::Zero,
            0 => Class::Denormal,
            e if e == self.exp_max() => {
                if f == 0 {
                    Class::Inf
                } else if f & self.quiet_bit() != 0 {
                    Class::QNaN
                } else {
                    Class::SNaN
                }
            }
            _ => Class::Normal,
        }
    }
    /// ±0.
    pub const fn zero(self, neg: bool) -> u128 {
        (neg as u128) << self.sign_shift()
    }
    /// ±infinity.
    pub const fn inf(self, neg: bool) -> u128 {
        self.zero(neg) | self.exp_max() << self.frac_bits | if self.explicit { 1 << 63 } else { 0 }
    }
    /// The default NaN (QNaN floating-point indefinite).
    pub const fn default_nan(self) -> u128 {
        self.inf(true) | self.quiet_bit()
    }
    /// `v` made quiet.
    pub const fn quiet(self, v: u128) -> u128 {
        v | self.quiet_bit()
    }
    /// The largest finite number with `prec` significant bits.
    fn max_finite(self, neg: bool, prec: u32) -> u128 {
        let ones = ((1u128 << prec) - 1) << (self.prec() - prec);
        let frac = if self.explicit { ones } else { ones & self.frac_mask() };
        self.zero(neg) | (self.exp_max() - 1) << self.frac_bits | frac
    }
    /// A finite nonzero `v` as (sign, exponent, significand) with value sig * 2^exp.
    pub fn unpack(self, v: u128) -> (bool, i64, u128) {
        let e = self.exp_field(v) as i64;
        let f = v & self.frac_mask();
        let shift = if self.explicit { 63 } else { self.frac_bits as i64 };
        let (sig, be) = if e == 0 {
            (f, 1)
        } else if self.explicit {
            (f, e)
        } else {
            (f | 1 << self.frac_bits, e)
        };
        (self.neg(v), be - self.bias() - shift, sig)
    }
    /// A NaN of this format carrying `v`'s (of format `from`) sign and payload, made quiet.
    pub fn convert_nan(self, from: Fmt, v: u128) -> u128 {
        let payload_bits_from = from.prec() - 1;
        let payload = (v & ((1u128 << payload_bits_from) - 1)) << (64 - payload_bits_from);
        let mine = payload >> (64 - (self.prec() - 1));
        self.quiet(self.inf(from.neg(v)) | mine)
    }
}

/// Rounds sig * 2^exp to a multiple of 2^lsb: (multiple count, inexact).
fn round_at(sig: u128, exp: i64, lsb: i64, rc: Rc, neg: bool) -> (u128, bool) {
    let (m, inexact, _) = round_at_up(sig, exp, lsb, rc, neg);
    (m, inexact)
}

/// [`round_at`], also telling whether the magnitude was rounded up.
fn round_at_up(sig: u128, exp: i64, lsb: i64, rc: Rc, neg: bool) -> (u128, bool, bool) {
    let shift = lsb - exp;
    if shift <= 0 {
        return (sig << (-shift).min(127), false, false);
    }
    let (m, ord) = if shift > 128 {
        (0, core::cmp::Ordering::Less)
    } else if shift == 128 {
        (0, sig.cmp(&(1u128 << 127)))
    } else {
        let rem = sig & ((1u128 << shift) - 1);
        (sig >> shift, rem.cmp(&(1u128 << (shift - 1))))
    };
    let inexact = shift >= 128 || sig & ((1u128 << shift) - 1) != 0;
    let up = match rc {
        Rc::Nearest => ord == core::cmp::Ordering::Greater || (ord == core::cmp::Ordering::Equal && m & 1 == 1),
        Rc::Zero => false,
        Rc::Up => inexact && !neg,
        Rc::Down => inexact && neg,
    };
    (m + up as u128, inexact, up)
}

fn bitlen(v: u128) -> i64 {
    128 - v.leading_zeros() as i64
}

/// Encodes m * 2^lsb (representable: at most `prec` bits, exponent in range).
fn encode(f: Fmt, neg: bool, m: u128, lsb: i64) -> u128 {
    if m == 0 {
        return f.zero(neg);
    }
    let fp = f.prec() as i64;
    let msb = bitlen(m) - 1;
    let e = lsb + msb;
    let emin = 1 - f.bias();
    if e >= emin {
        let frac = if msb > fp - 1 { m >> (msb - (fp - 1)) } else { m << ((fp - 1) - msb) };
        let frac = if f.explicit { frac } else { frac & f.frac_mask() };
        f.zero(neg) | ((e + f.bias()) as u128) << f.frac_bits | frac
    } else {
        let sh = lsb - (emin - (fp - 1));
        f.zero(neg) | (m << sh.clamp(0, 127))
    }
}

/// Rounds the exact (or sticky) value (-1)^neg * sig * 2^exp to format `f` under `env`.
/// `sig` must be nonzero; when the value is inexact its lowest bit must be a sticky bit at
/// least two places below the rounding position.
pub fn round_pack(f: Fmt, env: &Env, neg: bool, exp: i64, sig: u128) -> (u128, u32) {
    let p = env.prec.min(f.prec()) as i64;
    let e = exp + bitlen(sig) - 1;
    let emin = 1 - f.bias();
    let emax = f.bias();
    let lsb_u = e - (p - 1);
    let (m, inexact, up) = round_at_up(sig, exp, lsb_u, env.rc, neg);
    let e_r = if bitlen(m) > p { e + 1 } else { e };
    if e_r > emax {
        let to_inf = match env.rc {
            Rc::Nearest => true,
            Rc::Zero => false,
            Rc::Up => !neg,
            Rc::Down => neg,
        };
        let v = if to_inf { f.inf(neg) } else { f.max_finite(neg, p as u32) };
        return (v, OE | PE | if to_inf { ROUNDED_UP } else { 0 });
    }
    if e_r < emin {
        if env.ftz && env.ue_masked {
            return (f.zero(neg), UE | PE);
        }
        // A denormal result keeps the precision control's p bits below the smallest
        // normal exponent (x87 with PC < 64 rounds there, not at the format's last bit).
        let lsb_d = (emin - (p - 1)).max(lsb_u);
        let (m2, inexact2, up2) = round_at_up(sig, exp, lsb_d, env.rc, neg);
        let mut flags = if inexact2 { PE } else { 0 } | if up2 { ROUNDED_UP } else { 0 };
        if !env.ue_masked || inexact2 {
            flags |= UE;
        }
        return (encode(f, neg, m2, lsb_d), flags);
    }
    (encode(f, neg, m, lsb_u), if inexact { PE } else { 0 } | if up { ROUNDED_UP } else { 0 })
}

/// The NaN result of a two-operand operation if either operand is a NaN (SDM Table 4-7):
/// SSE returns the first NaN operand, x87 the QNaN or the larger significand; quietened.
fn propagate(f: Fmt, env: &Env, a: u128, b: u128, ca: Class, cb: Class) -> Option<(u128, u32)> {
    let nan = |c: Class| matches!(c, Class::QNaN | Class::SNaN);
    if !nan(ca) && !nan(cb) {
        return None;
    }
    let flags = if ca == Class::SNaN || cb == Class::SNaN { IE } else { 0 };
    let pick = if !nan(cb) {
        a
    } else if !nan(ca) {
        b
    } else if !env.x87 {
        a
    } else if ca != cb {
        if ca == Class::QNaN { a } else { b }
    } else {
        let mag = |v: u128| v & ((1u128 << f.sign_shift()) - 1);
        if mag(b) > mag(a) { b } else { a }
    };
    Some((f.quiet(pick), flags))
}

/// Classifies an operand, applying DAZ and noting a denormal operand.
fn operand(f: Fmt, env: &Env, v: u128, flags: &mut u32) -> (u128, Class) {
    let c = f.class(v);
    if c == Class::Denormal {
        if env.daz {
            return (f.zero(f.neg(v)), Class::Zero);
        }
        *flags |= DE;
    }
    (v, c)
}

/// Two classified operands and the flags their classification raised.
type Operands = (u128, Class, u128, Class, u32);

/// Common prologue of two-operand arithmetic: NaNs, unsupported encodings, DAZ, DE.
fn prologue(f: Fmt, env: &Env, a: u128, b: u128) -> Result<Operands, (u128, u32)> {
    let (ca, cb) = (f.class(a), f.class(b));
    // An unsupported x87 encoding is an invalid operand even beside a NaN.
    if ca == Class::Unsupported || cb == Class::Unsupported {
        return Err((f.default_nan(), IE));
    }
    if let Some(r) = propagate(f, env, a, b, ca, cb) {
        return Err(r);
    }
    let mut flags = 0;
    let (a, ca) = operand(f, env, a, &mut flags);
    let (b, cb) = operand(f, env, b, &mut flags);
    Ok((a, ca, b, cb, flags))
}

/// Normalises a significand so its top bit is at `bit`, adjusting the exponent.
fn norm(exp: i64, sig: u128, bit: i64) -> (i64, u128) {
    let sh = bit - (bitlen(sig) - 1);
    if sh >= 0 { (exp - sh, sig << sh) } else { (exp - sh, sig >> -sh) }
}

/// a + b (or a - b with `sub`).
pub fn add(f: Fmt, env: &Env, a: u128, b: u128, sub: bool) -> (u128, u32) {
    let (a, ca, b, cb, flags) = match prologue(f, env, a, b) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (na, nb) = (f.neg(a), f.neg(b) ^ sub);
    match (ca, cb) {
        (Class::Inf, Class::Inf) if na != nb => return (f.default_nan(), IE | (flags & !DE)),
        (Class::Inf, _) => return (f.inf(na), flags),
        (_, Class::Inf) => return (f.inf(nb), flags),
        (Class::Zero, Class::Zero) => {
            let neg = if na == nb { na } else { env.rc == Rc::Down };
            return (f.zero(neg), flags);
        }
        _ => {}
    }
    if ca == Class::Zero {
        let (_, e, s) = f.unpack(b);
        let (r, fl) = round_pack(f, env, nb, e, s);
        return (r, fl | flags);
    }
    if cb == Class::Zero {
        let (_, e, s) = f.unpack(a);
        let (r, fl) = round_pack(f, env, na, e, s);
        return (r, fl | flags);
    }
    let (_, ea, sa) = f.unpack(a);
    let (_, eb, sb) = f.unpack(b);
    let (ea, sa) = norm(ea, sa, 124);
    let (eb, sb) = norm(eb, sb, 124);
    let ((ea, sa, na), (eb, sb, nb)) = if ea >= eb { ((ea, sa, na), (eb, sb, nb)) } else { ((eb, sb, nb), (ea, sa, na)) };
    let d = ea - eb;
    let sb = if d >= 126 {
        1
    } else if d == 0 {
        sb
    } else {
        (sb >> d) | ((sb & ((1u128 << d) - 1)) != 0) as u128
    };
    let (neg, sig) = if na == nb {
        (na, sa + sb)
    } else if sa >= sb {
        (na, sa - sb)
    } else {
        (nb, sb - sa)
    };
    if sig == 0 {
        return (f.zero(env.rc == Rc::Down), flags);
    }
    let (r, fl) = round_pack(f, env, neg, ea, sig);
    (r, fl | flags)
}

/// a * b.
pub fn mul(f: Fmt, env: &Env, a: u128, b: u128) -> (u128, u32) {
    let (a, ca, b, cb, flags) = match prologue(f, env, a, b) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let neg = f.neg(a) ^ f.neg(b);
    match (ca, cb) {
        (Class::Inf, Class::Zero) | (Class::Zero, Class::Inf) => return (f.default_nan(), IE | (flags & !DE)),
        (Class::Inf, _) | (_, Class::Inf) => return (f.inf(neg), flags),
        (Class::Zero, _) | (_, Class::Zero) => return (f.zero(neg), flags),
        _ => {}
    }
    let (_, ea, sa) = f.unpack(a);
    let (_, eb, sb) = f.unpack(b);
    let (ea, sa) = norm(ea, sa, 63);
    let (eb, sb) = norm(eb, sb, 63);
    let (r, fl) = round_pack(f, env, neg, ea + eb, sa * sb);
    (r, fl | flags)
}

/// a / b.
pub fn div(f: Fmt, env: &Env, a: u128, b: u128) -> (u128, u32) {
    let (a, ca, b, cb, flags) = match prologue(f, env, a, b) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let neg = f.neg(a) ^ f.neg(b);
    match (ca, cb) {
        (Class::Inf, Class::Inf) | (Class::Zero, Class::Zero) => return (f.default_nan(), IE | (flags & !DE)),
        (Class::Inf, _) => return (f.inf(neg), flags),
        (_, Class::Inf) | (Class::Zero, _) => return (f.zero(neg), flags),
        (_, Class::Zero) => return (f.inf(neg), ZE | (flags & !DE)),
        _ => {}
    }
    let (_, ea, sa) = f.unpack(a);
    let (_, eb, sb) = f.unpack(b);
    let (ea, sa) = norm(ea, sa, 63);
    let (eb, sb) = norm(eb, sb, 63);
    let n = sa << 64;
    let (q, r) = (n / sb, n % sb);
    let n2 = r << 8;
    let q = (q << 8) | (n2 / sb);
    let sticky = (n2 % sb != 0) as u128;
    let (r, fl) = round_pack(f, env, neg, ea - eb - 73, (q << 1) | sticky);
    (r, fl | flags)
}

/// Integer square root of `n`: (root, remainder).
fn isqrt(mut n: u128) -> (u128, u128) {
    let mut res = 0u128;
    let mut bit = 1u128 << 126;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if n >= res + bit {
            n -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    (res, n)
}

/// Square root (exactly rounded; see the module doc).
pub fn sqrt(f: Fmt, env: &Env, a: u128) -> (u128, u32) {
    let ca = f.class(a);
    match ca {
        Class::QNaN => return (a, 0),
        Class::SNaN => return (f.quiet(a), IE),
        Class::Unsupported => return (f.default_nan(), IE),
        _ => {}
    }
    let mut flags = 0;
    let (a, ca) = operand(f, env, a, &mut flags);
    let neg = f.neg(a);
    match ca {
        Class::Zero => return (a, flags),
        _ if neg => return (f.default_nan(), IE | (flags & !DE)),
        Class::Inf => return (a, flags),
        _ => {}
    }
    // s in [2^126, 2^128) with an even exponent: a 64-bit root, then a guard bit (the
    // root's next bit is 1 iff s - root^2 > root) and a sticky bit; exact for every format.
    let (_, e, s) = f.unpack(a);
    let (mut e, mut s) = norm(e, s, 126);
    if e & 1 != 0 {
        s <<= 1;
        e -= 1;
    }
    let (root, rem) = isqrt(s);
    let sig = (root << 2) | ((rem > root) as u128) << 1 | (rem != 0) as u128;
    let (r, fl) = round_pack(f, env, false, e / 2 - 2, sig);
    (r, fl | flags)
}

/// Converts between formats (NaNs keep sign and top payload bits, quietened; SNaN -> IE).
pub fn convert(from: Fmt, to: Fmt, env: &Env, v: u128) -> (u128, u32) {
    let mut flags = 0;
    let (v, c) = operand(from, env, v, &mut flags);
    let neg = from.neg(v);
    match c {
        Class::QNaN => (to.convert_nan(from, v), 0),
        Class::SNaN => (to.convert_nan(from, v), IE),
        Class::Unsupported => (to.default_nan(), IE),
        Class::Zero => (to.zero(neg), flags),
        Class::Inf => (to.inf(neg), flags),
        _ => {
            let (_, e, s) = from.unpack(v);
            let (r, fl) = round_pack(to, env, neg, e, s);
            (r, fl | flags)
        }
    }
}

/// A signed integer converted to format `f` (rounded per `env`).
pub fn from_int(f: Fmt, env: &Env, v: i64) -> (u128, u32) {
    if v == 0 {
        return (f.zero(false), 0);
    }
    round_pack(f, env, v < 0, 0, v.unsigned_abs() as u128)
}

/// A value converted to a signed integer of `bits` (16, 32, 64), rounding per `env.rc` or
/// truncating; NaN, infinity and out-of-range give IE and the integer indefinite
/// (the most negative number). Denormals set no DE (SDM CVTSS2SI exceptions: I, P).
pub fn to_int(f: Fmt, env: &Env, v: u128, bits: u32, truncate: bool) -> (i64, u32) {
    let indefinite = (-1i64) << (bits - 1);
    let c = f.class(v);
    match c {
        Class::QNaN | Class::SNaN | Class::Inf | Class::Unsupported => return (indefinite, IE),
        Class::Zero => return (0, 0),
        Class::Denormal if env.daz => return (0, 0),
        _ => {}
    }
    let (neg, e, s) = f.unpack(v);
    if e + bitlen(s) - 1 > bits as i64 {
        return (indefinite, IE);
    }
    let rc = if truncate { Rc::Zero } else { env.rc };
    let (m, inexact) = round_at(s, e, 0, rc, neg);
    let limit = 1u128 << (bits - 1);
    if (neg && m > limit) || (!neg && m >= limit) {
        return (indefinite, IE);
    }
    let r = if neg { (m as i64).wrapping_neg() } else { m as i64 };
    (r, if inexact { PE } else { 0 })
}

/// Rounds to an integral value in format `f` per `env.rc` (x87 FRNDINT, SSE4.1 ROUNDxx use
/// their own path): NaNs propagate (SNaN: IE), a denormal sets DE, inexact sets PE.
pub fn round_int(f: Fmt, env: &Env, v: u128) -> (u128, u32) {
    let mut flags = 0;
    let (v, c) = operand(f, env, v, &mut flags);
    match c {
        Class::QNaN | Class::Zero | Class::Inf => return (v, flags),
        Class::SNaN => return (f.quiet(v), IE),
        Class::Unsupported => return (f.default_nan(), IE),
        _ => {}
    }
    let (neg, e, s) = f.unpack(v);
    if e >= 0 {
        return (v, flags);
    }
    let (m, inexact, up) = round_at_up(s, e, 0, env.rc, neg);
    let pe = if inexact { PE } else { 0 } | if up { ROUNDED_UP } else { 0 };
    if m == 0 {
        return (f.zero(neg), flags | pe);
    }
    (encode(f, neg, m, 0), flags | pe)
}

/// `v * 2^n` for a finite nonzero `v` (x87 FSCALE's core), rounded per `env`.
pub fn scale(f: Fmt, env: &Env, v: u128, n: i64) -> (u128, u32) {
    let (neg, e, s) = f.unpack(v);
    round_pack(f, env, neg, e.saturating_add(n.clamp(-(1 << 20), 1 << 20)), s)
}

/// The NaN result of a two-operand x87/SSE operation when an operand is a NaN (see
/// [`propagate`]), or an unsupported operand's IE; otherwise the classes of the operands
/// after DAZ, with DE noted in the flags.
pub fn classify2(f: Fmt, env: &Env, a: u128, b: u128) -> Result<(Class, Class, u32), (u128, u32)> {
    prologue(f, env, a, b).map(|(_, ca, _, cb, fl)| (ca, cb, fl))
}

/// Compares two values: None when unordered; the flags hold IE for an SNaN (or for any
/// NaN when `signalling`) and DE for a denormal operand.
pub fn compare(f: Fmt, env: &Env, a: u128, b: u128, signalling: bool) -> (Option<core::cmp::Ordering>, u32) {
    let (ca, cb) = (f.class(a), f.class(b));
    let nan = |c: Class| matches!(c, Class::QNaN | Class::SNaN | Class::Unsupported);
    if nan(ca) || nan(cb) {
        let ie = signalling || ca == Class::SNaN || cb == Class::SNaN || ca == Class::Unsupported || cb == Class::Unsupported;
        return (None, if ie { IE } else { 0 });
    }
    let mut flags = 0;
    let (a, _) = operand(f, env, a, &mut flags);
    let (b, _) = operand(f, env, b, &mut flags);
    let key = |v: u128| {
        let mag = (v & ((1u128 << f.sign_shift()) - 1)) as i128;
        if f.neg(v) { -mag } else { mag }
    };
    (Some(key(a).cmp(&key(b))), flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(rc: Rc) -> Env {
        Env { rc, prec: 53, daz: false, ftz: false, ue_masked: true, x87: false }
    }

    #[test]
    fn agrees_with_host_round_to_nearest() {
        let vals = [1.0f64, 3.0, 0.1, -2.5, 1e300, 1e-300, 5e-324, 123456.789, -0.0, 7.0e-310];
        let e = env(Rc::Nearest);
        for &a in &vals {
            for &b in &vals {
                let (ab, bb) = (a.to_bits() as u128, b.to_bits() as u128);
                assert_eq!(add(F64, &e, ab, bb, false).0 as u64, (a + b).to_bits(), "{a} + {b}");
                assert_eq!(add(F64, &e, ab, bb, true).0 as u64, (a - b).to_bits(), "{a} - {b}");
                assert_eq!(mul(F64, &e, ab, bb).0 as u64, (a * b).to_bits(), "{a} * {b}");
                if b != 0.0 {
                    assert_eq!(div(F64, &e, ab, bb).0 as u64, (a / b).to_bits(), "{a} / {b}");
                }
            }
            if a >= 0.0 {
                assert_eq!(sqrt(F64, &e, a.to_bits() as u128).0 as u64, a.sqrt().to_bits(), "sqrt {a}");
            }
            let e32 = Env { prec: 24, ..e };
            assert_eq!(convert(F64, F32, &e32, a.to_bits() as u128).0 as u32, (a as f32).to_bits(), "{a} as f32");
        }
    }

    #[test]
    fn directed_rounding_of_one_third() {
        // 1/3 in binary64: nearest and down give 0x3FD5555555555555, up gives ...56.
        let one = 1.0f64.to_bits() as u128;
        let three = 3.0f64.to_bits() as u128;
        assert_eq!(div(F64, &env(Rc::Down), one, three), (0x3fd5_5555_5555_5555, PE));
        assert_eq!(div(F64, &env(Rc::Up), one, three), (0x3fd5_5555_5555_5556, PE | ROUNDED_UP), "rounded up");
        assert_eq!(div(F64, &env(Rc::Zero), one, three), (0x3fd5_5555_5555_5555, PE));
    }

    #[test]
    fn x87_one_plus_tiny_keeps_64_bits() {
        // 1 + 2^-63 is exact in double extended: 0x3FFF 8000000000000001.
        let e = Env { prec: 64, x87: true, ..env(Rc::Nearest) };
        let one = (0x3fffu128 << 64) | 1 << 63;
        let tiny = (0x3fc0u128 << 64) | 1 << 63;
        assert_eq!(add(F80, &e, one, tiny, false), ((0x3fffu128 << 64) | (1 << 63) | 1, 0));
    }
}
