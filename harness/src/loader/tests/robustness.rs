//! Arbitrary damage to valid images: the loader answers with `Ok` or a `LoadError`, never a
//! panic, and never writes outside RAM.

use proptest::prelude::*;

use super::*;
use crate::loader::load;

fn mb1_image() -> Vec<u8> {
    let mut text = mb1_header(0b11, None);
    text.resize(0x100, 0x90);
    elf(Class::Elf64, 0x10_0000, &[Seg::at(0x10_0000, text, 0x2000), Seg::at(0x20_0000, vec![7; 64], 64)])
}

fn mb2_image() -> Vec<u8> {
    let mut text = mb2_header(&[
        Tag::words(1, 0, &[1, 2, 6]),
        Tag::words(2, 0, &[0x10_0000, 0x10_0000, 0, 0x10_4000]),
        Tag::words(3, 0, &[0x10_0000]),
    ]);
    text.resize(0x100, 0x90);
    text
}

proptest! {
    #![proptest_config(hvbench_testkit::deterministic_config(512))]

    #[test]
    fn damaged_images_never_panic(
        which in 0..2usize,
        edits in proptest::collection::vec((0..0x200usize, any::<u8>()), 1..8),
        cut in proptest::option::of(0..0x300usize),
    ) {
        let mut image = if which == 0 { mb1_image() } else { mb2_image() };
        for (at, v) in edits {
            if let Some(b) = image.get_mut(at) {
                *b = v;
            }
        }
        if let Some(len) = cut {
            image.truncate(len);
        }
        let modules = two_modules();
        let _ = load(&mut ram(), &image, &config(&modules));
    }
}
