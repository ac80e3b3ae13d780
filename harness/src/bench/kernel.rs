//! The benchmark kernels: multiboot ELF32 images, assembled here with iced-x86, that run one
//! workload of [`super::workloads`] in 64-bit mode and power off. The same file boots under
//! hvbench and, through GRUB, under Bochs.
//!
//! What a kernel does: the shared boot of [`super::boot`] (COM1, identity paging, IA-32e mode),
//! then in 64-bit mode it runs the workload (nothing when its count is 0: the baseline
//! kernel), writes "done\n" to COM1 and powers off ([`boot::power_off`]).
//!
//! Only MOV, ADD, OR, TEST, DEC, JNZ/JZ, IN/OUT, CLI/HLT, LGDT, MOV CRn, RDMSR/WRMSR and far
//! JMP are used.
//!
//! Memory layout (identical under every emulator; [`boot`]'s layout with the segment at
//! [`LOAD_BASE`] and 8 KiB of 64-bit code: code at 0x101000, stack top and PML4 at 0x103000,
//! PDPT 0x104000, PD 0x105000, 32 page tables from 0x106000); workload data at 0x200000
//! ([`DATA_BASE`]).

use super::boot::{self, Layout};
pub use super::boot::{KernelError, LARGE_PAGES_MAP, Paging, SMALL_PAGES_MAP};
use super::elf::Header;
use super::workloads::Kind;
use iced_x86::IcedError;
use iced_x86::code_asm::*;

/// Where the kernel's segment is loaded.
pub const LOAD_BASE: u32 = 0x10_0000;
/// The benchmark kernels' layout: 8 KiB of 64-bit code.
const LAYOUT: Layout = Layout { base: LOAD_BASE, code_room: 0x2000 };
/// Where workloads keep their data (as the Sandbox's `DATA_BASE`).
pub const DATA_BASE: u64 = 0x20_0000;

/// The line a kernel prints when its workload is done.
pub const DONE: &str = "done\n";

impl Paging {
    /// The paging a workload's kernel uses: 4-KiB pages for the page-stride loop, whose
    /// point is the TLB miss, 2-MiB pages otherwise.
    pub fn for_workload(kind: Kind) -> Self {
        match kind {
            Kind::PageStride => Paging::Small,
            _ => Paging::Large,
        }
    }
}

/// Builds the kernel that runs `kind` `count` times (0: the baseline kernel, same code
/// without the workload) with `header`, using [`Paging::for_workload`].
pub fn build(kind: Kind, count: u32, header: Header) -> Result<Vec<u8>, KernelError> {
    boot::image(LAYOUT, header, Paging::for_workload(kind), &code64(kind, count)?)
}

/// The 64-bit part: the workload, "done", power-off.
fn code64(kind: Kind, count: u32) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    a.mov(rsp, LAYOUT.stack_top() as u64)?;
    kind.emit(&mut a, count, DATA_BASE)?;
    for &b in DONE.as_bytes() {
        boot::put_byte(&mut a, b)?;
    }
    boot::power_off(&mut a)?;
    a.assemble(LAYOUT.entry64() as u64)
}
