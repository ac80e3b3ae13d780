//! The boot part shared by every generated test kernel (the benchmark kernels of
//! [`super::kernel`] and the VMX conformance kernels of `harness/tests/vmx_oracle.rs`): a
//! multiboot ELF32 image with one segment whose 32-bit entry programs COM1, builds identity
//! page tables and enters IA-32e mode, then runs the caller's 64-bit code; plus the COM1 and
//! power-off helpers that 64-bit code uses.
//!
//! The 32-bit entry (as multiboot leaves the machine: protected mode, paging off):
//! 1. programs COM1 as a 16550 (IER=0, DLAB, divisor 1 = 115200 baud, LCR=0x03 8N1, MCR=0x03);
//! 2. builds identity page tables ([`Paging`]) and enters IA-32e mode the way SDM Vol. 3A
//!    10.8.5 "Initializing IA-32e Mode" lists: CR4.PAE=1, CR3, IA32_EFER.LME=1 (WRMSR), then
//!    CR0.PG=1, LGDT with a 64-bit code descriptor, far JMP to 64-bit code.
//!
//! Layout of the segment, relative to [`Layout::base`] (the page tables and stack lie in its
//! zero-filled part):
//!
//! | offset | what |
//! | --- | --- |
//! | 0x0 | multiboot header |
//! | 0x40 | 32-bit entry code |
//! | 0x800 | GDT (null, 64-bit code 0x08, data 0x10), then the GDTR image |
//! | 0x1000 | 64-bit code ([`Layout::code_room`] bytes) |
//! | 0x1000 + room | top of the stack, PML4; then PDPT, PD, 32 page tables |

use super::elf::{self, Header};
use iced_x86::IcedError;
use iced_x86::code_asm::*;

/// Offsets of the fixed pieces inside the segment.
const ENTRY32_OFF: u32 = 0x40;
const GDT_OFF: u32 = 0x800;
const GDTR_OFF: u32 = GDT_OFF + 0x20;
const ENTRY64_OFF: u32 = 0x1000;
/// Page tables for 4-KiB paging: enough to map [`SMALL_PAGES_MAP`].
const PT_COUNT: u32 = 32;
/// Bytes identity-mapped with 4-KiB pages: 64 MiB.
pub const SMALL_PAGES_MAP: u64 = PT_COUNT as u64 * 512 * 4096;
/// Bytes identity-mapped with 2-MiB pages: 1 GiB (one full page directory).
pub const LARGE_PAGES_MAP: u64 = 512 * (2 << 20);

/// Selector of the boot GDT's 64-bit code descriptor.
pub const CODE64_SEL: u16 = 0x08;
/// Selector of the boot GDT's flat data descriptor.
pub const DATA_SEL: u16 = 0x10;
/// GDT: null, 64-bit code (L=1, P, DPL0, execute/read), flat data.
const GDT_ENTRIES: [u64; 3] = [0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// COM1 registers.
pub const COM1: u16 = 0x3f8;
const COM1_IER: u16 = COM1 + 1;
const COM1_LCR: u16 = COM1 + 3;
const COM1_MCR: u16 = COM1 + 4;
const COM1_LSR: u16 = COM1 + 5;
/// LSR bit 5: transmitter holding register empty.
const LSR_THRE: u32 = 1 << 5;
/// LSR bit 6: transmitter empty (holding and shift registers).
const LSR_TEMT: u32 = 1 << 6;
/// Bochs/hvbench power-off port and QEMU's isa-debug-exit.
const SHUTDOWN_PORT: u16 = 0x8900;
const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Page-table entry bits: present, writable, and (in a PDE) page size.
const PTE_P_RW: u32 = 0x3;
const PDE_PS: u32 = 0x80;
/// CR4.PAE, CR0.PG|PE, IA32_EFER and its LME bit.
const CR4_PAE: u32 = 1 << 5;
const CR0_PG_PE: u32 = 0x8000_0001;
const IA32_EFER: u32 = 0xc000_0080;
const EFER_LME: u32 = 1 << 8;

/// How a kernel maps memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// 2-MiB pages over the first [`LARGE_PAGES_MAP`] bytes, as the Sandbox's paging.
    Large,
    /// 4-KiB pages over the first [`SMALL_PAGES_MAP`] bytes: every TLB miss is a four-level
    /// walk on every emulator (both hvbench and Bochs cache a large page as 4-KiB pieces, so
    /// misses happen either way; small pages make the walk the same as on real hardware).
    Small,
}

/// A kernel that cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// iced-x86 refused an instruction.
    #[error("assembler: {0}")]
    Assemble(#[from] IcedError),
    /// A piece of code outgrew its room in the layout.
    #[error("{piece} is {len} bytes, more than the {room} bytes the layout gives it")]
    TooLarge {
        /// Which piece.
        piece: &'static str,
        /// Its size.
        len: usize,
        /// Its room.
        room: usize,
    },
}

/// Where a kernel's segment goes and how much room its 64-bit code has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Load address of the segment (4-KiB aligned, identity-mapped by [`Paging`]).
    pub base: u32,
    /// Bytes reserved for the 64-bit code (a multiple of 4 KiB).
    pub code_room: u32,
}

impl Layout {
    /// The 32-bit entry point.
    pub fn entry32(&self) -> u32 {
        self.base + ENTRY32_OFF
    }
    /// Where the 64-bit code starts (it is entered with a far JMP, in 64-bit mode, RSP
    /// undefined).
    pub fn entry64(&self) -> u32 {
        self.base + ENTRY64_OFF
    }
    /// The boot stack's top (just above the 64-bit code's room).
    pub fn stack_top(&self) -> u32 {
        self.entry64() + self.code_room
    }
    fn pml4(&self) -> u32 {
        self.stack_top()
    }
    fn pdpt(&self) -> u32 {
        self.pml4() + 0x1000
    }
    fn pd(&self) -> u32 {
        self.pml4() + 0x2000
    }
    fn pt(&self) -> u32 {
        self.pml4() + 0x3000
    }
    /// End of the segment in memory.
    pub fn mem_end(&self) -> u32 {
        self.pt() + PT_COUNT * 0x1000
    }
}

/// The ELF image: `header`, the 32-bit entry with `paging`, the boot GDT and `code64` (which
/// must have been assembled at [`Layout::entry64`]).
pub fn image(layout: Layout, header: Header, paging: Paging, code64: &[u8]) -> Result<Vec<u8>, KernelError> {
    let base = layout.base;
    let mut image = vec![0u8; (layout.stack_top() - base) as usize];
    let mut place = |piece: &'static str, at: u32, room: u32, bytes: &[u8]| -> Result<(), KernelError> {
        if bytes.len() > room as usize {
            return Err(KernelError::TooLarge { piece, len: bytes.len(), room: room as usize });
        }
        let off = (at - base) as usize;
        image[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(())
    };
    place("multiboot header", base, ENTRY32_OFF, &header.bytes())?;
    place("32-bit entry code", layout.entry32(), GDT_OFF - ENTRY32_OFF, &entry32(layout, paging)?)?;
    let gdt_addr = base + GDT_OFF;
    let mut gdt: Vec<u8> = GDT_ENTRIES.iter().flat_map(|d| d.to_le_bytes()).collect();
    gdt.resize((GDTR_OFF - GDT_OFF) as usize, 0);
    gdt.extend_from_slice(&((GDT_ENTRIES.len() * 8 - 1) as u16).to_le_bytes());
    gdt.extend_from_slice(&gdt_addr.to_le_bytes());
    place("GDT", gdt_addr, ENTRY64_OFF - GDT_OFF, &gdt)?;
    place("64-bit code", layout.entry64(), layout.code_room, code64)?;
    Ok(elf::write(base, &image, layout.mem_end() - base, layout.entry32()))
}

/// `out dx, al` of a constant byte to a constant port (either bitness).
pub fn out_byte(a: &mut CodeAssembler, port: u16, value: u8) -> Result<(), IcedError> {
    a.mov(dx, port as u32)?;
    a.mov(al, value as u32)?;
    a.out(dx, al)
}

/// Fills `count` 8-byte entries from `table` with `first`, `first + step`, ... (upper
/// halves stay zero from the zeroed segment).
fn fill_table(a: &mut CodeAssembler, table: u32, first: u32, step: u32, count: u32) -> Result<(), IcedError> {
    let mut top = a.create_label();
    a.mov(edi, table)?;
    a.mov(eax, first)?;
    a.mov(ecx, count)?;
    a.set_label(&mut top)?;
    a.mov(dword_ptr(edi), eax)?;
    a.add(eax, step)?;
    a.add(edi, 8)?;
    a.dec(ecx)?;
    a.jnz(top)
}

/// The 32-bit entry: UART, page tables, IA-32e mode, far jump to [`Layout::entry64`].
fn entry32(l: Layout, paging: Paging) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    a.cli()?;
    a.mov(esp, l.stack_top())?;
    // 16550: interrupts off, DLAB=1, divisor 1, then LCR=0x03 (8 data bits, no parity, 1
    // stop bit, DLAB=0), DTR|RTS.
    out_byte(&mut a, COM1_IER, 0)?;
    out_byte(&mut a, COM1_LCR, 0x80)?;
    out_byte(&mut a, COM1, 1)?;
    out_byte(&mut a, COM1_IER, 0)?;
    out_byte(&mut a, COM1_LCR, 0x03)?;
    out_byte(&mut a, COM1_MCR, 0x03)?;
    // PML4[0] -> PDPT, PDPT[0] -> PD.
    a.mov(dword_ptr(l.pml4()), l.pdpt() | PTE_P_RW)?;
    a.mov(dword_ptr(l.pdpt()), l.pd() | PTE_P_RW)?;
    match paging {
        Paging::Large => fill_table(&mut a, l.pd(), PDE_PS | PTE_P_RW, 2 << 20, 512)?,
        Paging::Small => {
            fill_table(&mut a, l.pd(), l.pt() | PTE_P_RW, 0x1000, PT_COUNT)?;
            fill_table(&mut a, l.pt(), PTE_P_RW, 0x1000, PT_COUNT * 512)?;
        }
    }
    a.mov(eax, cr4)?;
    a.or(eax, CR4_PAE)?;
    a.mov(cr4, eax)?;
    a.mov(eax, l.pml4())?;
    a.mov(cr3, eax)?;
    a.mov(ecx, IA32_EFER)?;
    a.rdmsr()?;
    a.or(eax, EFER_LME)?;
    a.wrmsr()?;
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PG_PE)?;
    a.mov(cr0, eax)?;
    a.lgdt(ptr(l.base + GDTR_OFF))?;
    a.jmp_far(CODE64_SEL, l.entry64())?;
    a.assemble(l.entry32() as u64)
}

/// Spins until COM1's LSR has `bit` set.
fn wait_lsr(a: &mut CodeAssembler, bit: u32) -> Result<(), IcedError> {
    let mut poll = a.create_label();
    a.mov(dx, COM1_LSR as u32)?;
    a.set_label(&mut poll)?;
    a.in_(al, dx)?;
    a.test(al, bit)?;
    a.jz(poll)
}

/// Writes AL to COM1 once the holding register is empty (clobbers AH and DX).
pub fn put_al(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.mov(ah, al)?;
    wait_lsr(a, LSR_THRE)?;
    a.mov(al, ah)?;
    a.mov(dx, COM1 as u32)?;
    a.out(dx, al)
}

/// Writes the constant byte `b` to COM1 (waiting for LSR.THRE; clobbers AL, DX).
pub fn put_byte(a: &mut CodeAssembler, b: u8) -> Result<(), IcedError> {
    wait_lsr(a, LSR_THRE)?;
    out_byte(a, COM1, b)
}

/// Waits for LSR.TEMT (bit 6) so no byte is lost, writes "Shutdown" to port 0x8900 (Bochs's
/// and hvbench's power-off), then 0 to isa-debug-exit (port 0xF4, QEMU) as a fallback, then
/// halts for good.
pub fn power_off(a: &mut CodeAssembler) -> Result<(), IcedError> {
    wait_lsr(a, LSR_TEMT)?;
    a.mov(dx, SHUTDOWN_PORT as u32)?;
    for &b in b"Shutdown" {
        a.mov(al, b as u32)?;
        a.out(dx, al)?;
    }
    a.mov(dx, DEBUG_EXIT_PORT as u32)?;
    a.mov(eax, 0)?;
    a.out(dx, eax)?;
    let mut halt = a.create_label();
    a.set_label(&mut halt)?;
    a.cli()?;
    a.hlt()?;
    a.jmp(halt)
}
