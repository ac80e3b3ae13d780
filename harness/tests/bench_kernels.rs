//! The `hvbench bench` kernels boot under hvbench, print "done", power off, and retire
//! exactly the instructions their code has (counted by hand below from `bench/kernel.rs` and
//! `bench/workloads.rs`). A deterministic check at small iteration counts: no timing.

use hvbench::bench::elf::Header;
use hvbench::bench::kernel;
use hvbench::bench::workloads::Kind;
use hvbench::bench::run_hvbench;

/// Instructions of the 32-bit entry before the page tables: CLI, MOV ESP, six UART writes of
/// three instructions (MOV DX, MOV AL, OUT), and the two MOVs that link PML4 -> PDPT -> PD.
const ENTRY_HEAD: u64 = 2 + 6 * 3 + 2;
/// Filling a table of `n` entries: MOV EDI, MOV EAX, MOV ECX, then n x (MOV, ADD, ADD, DEC, JNZ).
const fn fill(n: u64) -> u64 {
    3 + 5 * n
}
/// After the tables: CR4 (MOV, OR, MOV), CR3 (MOV, MOV), EFER (MOV ECX, RDMSR, OR, WRMSR),
/// CR0 (MOV, OR, MOV), LGDT, far JMP.
const ENTRY_TAIL: u64 = 3 + 2 + 4 + 3 + 1 + 1;
/// The 64-bit epilogue, with hvbench's UART always ready (LSR.THRE and TEMT set, so every
/// poll loop runs once): MOV RSP; 5 bytes of "done\n" x (MOV DX, IN, TEST, JZ, MOV DX, MOV
/// AL, OUT); the TEMT poll (MOV DX, IN, TEST, JZ); MOV DX, 0x8900 and 8 x (MOV AL, OUT) —
/// the last OUT powers the machine off, so nothing after it runs.
const EPILOGUE: u64 = 1 + 5 * 7 + 4 + 1 + 8 * 2;
/// 2-MiB paging: one page directory of 512 entries.
const BASE_LARGE: u64 = ENTRY_HEAD + fill(512) + ENTRY_TAIL + EPILOGUE;
/// 4-KiB paging: 32 page-directory entries and 32 x 512 page-table entries.
const BASE_SMALL: u64 = ENTRY_HEAD + fill(32) + fill(32 * 512) + ENTRY_TAIL + EPILOGUE;

fn retired(kind: Kind, count: u32, header: Header) -> u64 {
    let image = kernel::build(kind, count, header).expect("kernel builds");
    // run_hvbench checks the serial output ("done\n") and the power-off.
    match run_hvbench(&image, 50_000_000) {
        Ok(r) => r.retired,
        Err(e) => panic!("{} x{count} ({header:?}): {e}", kind.name()),
    }
}

#[test]
fn baseline_kernels_retire_their_boot_code_exactly() {
    assert_eq!(retired(Kind::RegisterLoop, 0, Header::Multiboot2), BASE_LARGE);
    assert_eq!(retired(Kind::ArrayLoop, 0, Header::Multiboot2), BASE_LARGE);
    assert_eq!(retired(Kind::PageStride, 0, Header::Multiboot2), BASE_SMALL);
    assert_eq!(retired(Kind::RegisterLoop, 0, Header::Multiboot1), BASE_LARGE, "the multiboot v1 kernel boots the same way");
}

#[test]
fn register_loop_kernel_retires_its_workload_exactly() {
    // MOV ECX, then 1000 x (ADD, ADD, DEC, JNZ).
    assert_eq!(retired(Kind::RegisterLoop, 1000, Header::Multiboot2), BASE_LARGE + 1 + 4 * 1000);
    assert_eq!(Kind::RegisterLoop.instructions(1000), 1 + 4 * 1000);
}

#[test]
fn array_loop_kernel_retires_its_workload_exactly() {
    // MOV R8D, then per pass: MOV RSI, MOV ECX, 131072 words x (MOV, ADD, MOV, ADD, DEC,
    // JNZ), DEC R8D, JNZ.
    let expected = 1 + 2 * (2 + 131_072 * 6 + 2);
    assert_eq!(retired(Kind::ArrayLoop, 2, Header::Multiboot2), BASE_LARGE + expected);
    assert_eq!(Kind::ArrayLoop.instructions(2), expected);
}

#[test]
fn page_stride_kernel_retires_its_workload_exactly() {
    // MOV R8D, then per pass: MOV RSI, MOV ECX, 12288 pages x (ADD, ADD, DEC, JNZ), DEC
    // R8D, JNZ.
    let expected = 1 + 3 * (2 + 12_288 * 4 + 2);
    assert_eq!(retired(Kind::PageStride, 3, Header::Multiboot2), BASE_SMALL + expected);
    assert_eq!(Kind::PageStride.instructions(3), expected);
}

#[test]
fn kernels_are_multiboot_elf32_images() {
    for header in [Header::Multiboot1, Header::Multiboot2] {
        let image = kernel::build(Kind::RegisterLoop, 1, header).expect("kernel builds");
        assert_eq!(&image[..4], b"\x7fELF");
        assert_eq!(image[4], 1, "ELFCLASS32");
        // e_entry (offset 24) is the 32-bit entry right after the header.
        assert_eq!(u32::from_le_bytes(image[24..28].try_into().unwrap()), kernel::LOAD_BASE + 0x40);
        // The header starts the segment at file offset 0x1000, inside both search windows.
        let magic = u32::from_le_bytes(image[0x1000..0x1004].try_into().unwrap());
        let expected = if header == Header::Multiboot1 { 0x1bad_b002 } else { 0xe852_50d6 };
        assert_eq!(magic, expected);
    }
}
