//! Finding the multiboot header (mb1 §3.1.1, mb2 §3.1.1).
//!
//! mb1: a 4-byte aligned, 12-byte header wholly inside the first 8192 bytes whose magic
//! (0x1BADB002), flags and checksum sum to zero. mb2: an 8-byte aligned, 16-byte header
//! inside the first 32768 bytes whose magic (0xE85250D6), architecture, header_length and
//! checksum sum to zero. A multiboot2 header is preferred when both exist.

use super::{LoadError, Protocol, le32};

/// mb1 §3.1.2: the header magic.
pub(super) const MB1_HEADER_MAGIC: u32 = 0x1BAD_B002;
/// mb2 §3.1.2: the header magic.
pub(super) const MB2_HEADER_MAGIC: u32 = 0xE852_50D6;
/// mb1 §3.1.1: search window.
const MB1_SEARCH: usize = 8192;
/// mb2 §3.1.1: search window.
const MB2_SEARCH: usize = 32768;

/// A header with a valid checksum, by file offset of its magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Found {
    /// A multiboot v1 header.
    Multiboot1(usize),
    /// A multiboot2 header.
    Multiboot2(usize),
}

/// Searches `image` for a multiboot2 header, then for a multiboot v1 header.
pub(super) fn find_header(image: &[u8], file: &str) -> Result<Found, LoadError> {
    let mut bad: Option<(Protocol, usize, u32)> = None;
    if let Some(found) = scan(image, Protocol::Multiboot2, &mut bad) {
        return Ok(Found::Multiboot2(found));
    }
    if let Some(found) = scan(image, Protocol::Multiboot1, &mut bad) {
        return Ok(Found::Multiboot1(found));
    }
    let file = file.to_string();
    Err(match bad {
        Some((protocol, offset, sum)) => LoadError::BadChecksum { file, protocol, offset, sum },
        None => LoadError::NoHeader { file },
    })
}

/// The offset of the first header of `protocol` whose checksum holds; records the first
/// magic with a wrong checksum in `bad` (if none is recorded yet).
fn scan(image: &[u8], protocol: Protocol, bad: &mut Option<(Protocol, usize, u32)>) -> Option<usize> {
    let (magic, window, align, words) = match protocol {
        Protocol::Multiboot1 => (MB1_HEADER_MAGIC, MB1_SEARCH, 4, 3),
        Protocol::Multiboot2 => (MB2_HEADER_MAGIC, MB2_SEARCH, 8, 4),
    };
    let end = image.len().min(window);
    let mut offset = 0;
    while offset + words * 4 <= end {
        if le32(image, offset) == Some(magic) {
            let sum = (0..words).filter_map(|i| le32(image, offset + 4 * i)).fold(0u32, u32::wrapping_add);
            if sum == 0 {
                return Some(offset);
            }
            bad.get_or_insert((protocol, offset, sum));
        }
        offset += align;
    }
    None
}
