//! serde support for byte arrays longer than serde's built-in 32 (e.g. CMOS RAM): written as
//! a byte sequence, read back with a length check.

use serde::{Deserialize, Deserializer, Serializer};

/// Serializes `[u8; N]` as a byte sequence.
pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter())
}

/// Deserializes `[u8; N]`, refusing any other length.
pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(d: D) -> Result<[u8; N], D::Error> {
    let v = Vec::<u8>::deserialize(d)?;
    let len = v.len();
    v.try_into().map_err(|_| serde::de::Error::invalid_length(len, &"a byte array of the expected length"))
}
