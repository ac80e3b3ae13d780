//! The benchmark kernels: multiboot ELF32 images, assembled here with iced-x86, that run one
//! workload of [`super::workloads`] in 64-bit mode and power off. The same file boots under
//! hvbench and, through GRUB, under Bochs.
//!
//! What a kernel does (32-bit entry, as multiboot leaves it: protected mode, paging off):
//! 1. programs COM1 as a 16550 (IER=0, DLAB, divisor 1 = 115200 baud, LCR=0x03 8N1, MCR=0x03);
//! 2. builds identity page tables ([`Paging`]) and enters IA-32e mode the way SDM Vol. 3A
//!    10.8.5 "Initializing IA-32e Mode" lists: CR4.PAE=1, CR3, IA32_EFER.LME=1 (WRMSR), then
//!    CR0.PG=1, LGDT with a 64-bit code descriptor, far JMP to 64-bit code;
//! 3. runs the workload (nothing when its count is 0: the baseline kernel);
//! 4. writes "done\n" to COM1 (waiting for LSR.THRE before each byte), waits for LSR.TEMT
//!    (bit 6) so no byte is lost, writes "Shutdown" to port 0x8900 (Bochs's and hvbench's
//!    power-off), then 0 to isa-debug-exit (port 0xF4, QEMU) as a fallback, then halts.
//!
//! Only MOV, ADD, OR, TEST, DEC, JNZ/JZ, IN/OUT, CLI/HLT, LGDT, MOV CRn, RDMSR/WRMSR and far
//! JMP are used.
//!
//! Memory layout (identical under every emulator; all inside the one ELF segment, the page
//! tables in its zero-filled part):
//!
//! | address | what |
//! | --- | --- |
//! | 0x100000 | multiboot header |
//! | 0x100040 | 32-bit entry code |
//! | 0x100800 | GDT (null, 64-bit code 0x08, data 0x10), then the GDTR image |
//! | 0x101000 | 64-bit code: workload and epilogue |
//! | 0x103000 | top of the stack, PML4 |
//! | 0x104000 | PDPT |
//! | 0x105000 | PD |
//! | 0x106000 | 32 page tables (4-KiB paging only) |
//! | 0x200000 | workload data ([`DATA_BASE`]) |

use super::elf::{self, Header};
use super::workloads::Kind;
use iced_x86::IcedError;
use iced_x86::code_asm::*;

/// Where the kernel's segment is loaded.
pub const LOAD_BASE: u32 = 0x10_0000;
/// 32-bit entry point.
const ENTRY32: u32 = LOAD_BASE + 0x40;
/// GDT.
const GDT: u32 = LOAD_BASE + 0x800;
/// The 6-byte GDTR image (limit, base) that LGDT reads.
const GDTR: u32 = GDT + 0x20;
/// 64-bit code.
const ENTRY64: u32 = LOAD_BASE + 0x1000;
/// End of the 64-bit code's room.
const CODE64_END: u32 = LOAD_BASE + 0x3000;
/// Initial RSP.
const STACK_TOP: u32 = LOAD_BASE + 0x3000;
const PML4: u32 = LOAD_BASE + 0x3000;
const PDPT: u32 = LOAD_BASE + 0x4000;
const PD: u32 = LOAD_BASE + 0x5000;
const PT: u32 = LOAD_BASE + 0x6000;
/// Page tables for 4-KiB paging: enough to map [`SMALL_PAGES_MAP`].
const PT_COUNT: u32 = 32;
/// Bytes identity-mapped with 4-KiB pages: 64 MiB.
pub const SMALL_PAGES_MAP: u64 = PT_COUNT as u64 * 512 * 4096;
/// Bytes identity-mapped with 2-MiB pages: 1 GiB (one full page directory).
pub const LARGE_PAGES_MAP: u64 = 512 * (2 << 20);
/// End of the segment in memory.
const MEM_END: u32 = PT + PT_COUNT * 0x1000;
/// Where workloads keep their data (as the Sandbox's `DATA_BASE`).
pub const DATA_BASE: u64 = 0x20_0000;

/// Selector of the 64-bit code descriptor.
const CODE64_SEL: u16 = 0x08;
/// GDT: null, 64-bit code (L=1, P, DPL0, execute/read), flat data.
const GDT_ENTRIES: [u64; 3] = [0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff];

/// COM1 registers.
const COM1: u16 = 0x3f8;
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

/// The line a kernel prints when its workload is done.
pub const DONE: &str = "done\n";

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

/// Builds the kernel that runs `kind` `count` times (0: the baseline kernel, same code
/// without the workload) with `header`, using [`Paging::for_workload`].
pub fn build(kind: Kind, count: u32, header: Header) -> Result<Vec<u8>, KernelError> {
    let mut image = vec![0u8; (CODE64_END - LOAD_BASE) as usize];
    let mut place = |piece: &'static str, at: u32, room: u32, bytes: &[u8]| -> Result<(), KernelError> {
        if bytes.len() > room as usize {
            return Err(KernelError::TooLarge { piece, len: bytes.len(), room: room as usize });
        }
        let off = (at - LOAD_BASE) as usize;
        image[off..off + bytes.len()].copy_from_slice(bytes);
        Ok(())
    };
    place("multiboot header", LOAD_BASE, ENTRY32 - LOAD_BASE, &header.bytes())?;
    place("32-bit entry code", ENTRY32, GDT - ENTRY32, &entry32(Paging::for_workload(kind))?)?;
    let mut gdt: Vec<u8> = GDT_ENTRIES.iter().flat_map(|d| d.to_le_bytes()).collect();
    gdt.resize((GDTR - GDT) as usize, 0);
    gdt.extend_from_slice(&((GDT_ENTRIES.len() * 8 - 1) as u16).to_le_bytes());
    gdt.extend_from_slice(&GDT.to_le_bytes());
    place("GDT", GDT, ENTRY64 - GDT, &gdt)?;
    place("64-bit code", ENTRY64, CODE64_END - ENTRY64, &code64(kind, count)?)?;
    Ok(elf::write(LOAD_BASE, &image, MEM_END - LOAD_BASE, ENTRY32))
}

/// `out dx, al` of a constant byte to a constant port (either bitness).
fn out_byte(a: &mut CodeAssembler, port: u16, value: u8) -> Result<(), IcedError> {
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

/// The 32-bit entry: UART, page tables, IA-32e mode, far jump to [`ENTRY64`].
fn entry32(paging: Paging) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(32)?;
    a.cli()?;
    a.mov(esp, STACK_TOP)?;
    // 16550: interrupts off, DLAB=1, divisor 1, then LCR=0x03 (8 data bits, no parity, 1
    // stop bit, DLAB=0), DTR|RTS.
    out_byte(&mut a, COM1_IER, 0)?;
    out_byte(&mut a, COM1_LCR, 0x80)?;
    out_byte(&mut a, COM1, 1)?;
    out_byte(&mut a, COM1_IER, 0)?;
    out_byte(&mut a, COM1_LCR, 0x03)?;
    out_byte(&mut a, COM1_MCR, 0x03)?;
    // PML4[0] -> PDPT, PDPT[0] -> PD.
    a.mov(dword_ptr(PML4), PDPT | PTE_P_RW)?;
    a.mov(dword_ptr(PDPT), PD | PTE_P_RW)?;
    match paging {
        Paging::Large => fill_table(&mut a, PD, PDE_PS | PTE_P_RW, 2 << 20, 512)?,
        Paging::Small => {
            fill_table(&mut a, PD, PT | PTE_P_RW, 0x1000, PT_COUNT)?;
            fill_table(&mut a, PT, PTE_P_RW, 0x1000, PT_COUNT * 512)?;
        }
    }
    a.mov(eax, cr4)?;
    a.or(eax, CR4_PAE)?;
    a.mov(cr4, eax)?;
    a.mov(eax, PML4)?;
    a.mov(cr3, eax)?;
    a.mov(ecx, IA32_EFER)?;
    a.rdmsr()?;
    a.or(eax, EFER_LME)?;
    a.wrmsr()?;
    a.mov(eax, cr0)?;
    a.or(eax, CR0_PG_PE)?;
    a.mov(cr0, eax)?;
    a.lgdt(ptr(GDTR))?;
    a.jmp_far(CODE64_SEL, ENTRY64)?;
    a.assemble(ENTRY32 as u64)
}

/// The 64-bit part: the workload, "done", power-off.
fn code64(kind: Kind, count: u32) -> Result<Vec<u8>, IcedError> {
    let mut a = CodeAssembler::new(64)?;
    a.mov(rsp, STACK_TOP as u64)?;
    kind.emit(&mut a, count, DATA_BASE)?;
    for &b in DONE.as_bytes() {
        wait_lsr(&mut a, LSR_THRE)?;
        out_byte(&mut a, COM1, b)?;
    }
    wait_lsr(&mut a, LSR_TEMT)?;
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
    a.jmp(halt)?;
    a.assemble(ENTRY64 as u64)
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
