//! Boot layer: the multiboot2 header and the 32-bit entry that enters IA-32e mode.
//!
//! Multiboot2 Specification 2.0, 3.1 (header: magic E85250D6H, architecture 0 = i386,
//! header length, checksum, tags ending with the end tag) and 3.3 (machine state at entry:
//! 32-bit protected mode, paging off, EAX = 36D76289H, EBX = physical address of the boot
//! information, interrupts disabled, no valid stack).
//!
//! Entering IA-32e mode follows Intel SDM Vol. 3A 10.8.5 "Initializing IA-32e Mode": with
//! paging off, CR4.PAE = 1, CR3 = PML4, IA32_EFER.LME = 1, then CR0.PG = 1; a far JMP to a
//! 64-bit code segment ends the compatibility-mode stretch. The identity map (4 GiB with
//! 2-MiB pages) lives in [`crate::platform::paging`]. SSE is enabled on the way (CR0.EM = 0,
//! CR0.MP = 1, CR4.OSFXSR = CR4.OSXMMEXCPT = 1, Vol. 3A 14.1.3) because the Rust code may
//! use SSE registers.
//!
//! GDT: null, 0x08 64-bit code, 0x10 data, 0x18 a 64-bit TSS descriptor (16 bytes) that
//! [`crate::platform::gdt`] fills in and loads.

/// GDT selector of the 64-bit ring-0 code segment.
pub const CODE_SELECTOR: u16 = 0x08;
/// GDT selector of the ring-0 data segment.
pub const DATA_SELECTOR: u16 = 0x10;
/// GDT selector of the TSS.
pub const TSS_SELECTOR: u16 = 0x18;
/// Multiboot2 boot-loader magic in EAX at entry (mb2 3.3).
pub const MB2_BOOTLOADER_MAGIC: u32 = 0x36D7_6289;

// In `.code32`, `jmp 0x08:label` would need a relocation the assembler may size wrongly; the
// far JMP is spelled out: EA, 32-bit offset, 16-bit selector.
core::arch::global_asm!(
    r#"
    .section .multiboot2, "a"
    .balign 8
mb2_header:
    .long 0xE85250D6
    .long 0
    .long mb2_header_end - mb2_header
    .long -(0xE85250D6 + (mb2_header_end - mb2_header))
    .word 0, 0
    .long 8
mb2_header_end:

    .section .boot32, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    mov dword ptr [BOOT_MAGIC], eax
    mov dword ptr [BOOT_INFO], ebx
    mov esp, offset BOOT_STACK_TOP

    /* Zero .bss (loaders zero it too; this does not rely on them). */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    shr ecx, 2
    xor eax, eax
    rep stosd

    /* PML4[0] -> PDPT; PDPT[0..3] -> PD 0..3; PD entries: 2-MiB pages, present, writable. */
    mov eax, offset BOOT_PDPT
    or eax, 3
    mov dword ptr [BOOT_PML4], eax
    mov edi, offset BOOT_PDPT
    mov eax, offset BOOT_PD
    or eax, 3
    mov ecx, 4
1:  mov dword ptr [edi], eax
    add eax, 0x1000
    add edi, 8
    dec ecx
    jnz 1b
    mov edi, offset BOOT_PD
    mov eax, 0x83
    xor edx, edx
    mov ecx, 2048
2:  mov dword ptr [edi], eax
    mov dword ptr [edi + 4], edx
    add eax, 0x200000
    adc edx, 0
    add edi, 8
    dec ecx
    jnz 2b

    /* CR4: PAE (5), OSFXSR (9), OSXMMEXCPT (10). */
    mov eax, cr4
    or eax, (1 << 5) | (1 << 9) | (1 << 10)
    mov cr4, eax
    mov eax, offset BOOT_PML4
    mov cr3, eax
    /* IA32_EFER (C0000080H).LME (8). */
    mov ecx, 0xC0000080
    rdmsr
    or eax, 1 << 8
    wrmsr
    /* CR0: PG (31), PE (0), MP (1), NE (5); EM (2) off. */
    mov eax, cr0
    and eax, ~(1 << 2)
    or eax, (1 << 31) | (1 << 0) | (1 << 1) | (1 << 5)
    mov cr0, eax
    lgdt [GDT_POINTER]
    .byte 0xEA
    .long long_mode_entry
    .word 0x08

    .code64
long_mode_entry:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, offset BOOT_STACK_TOP
    mov edi, dword ptr [BOOT_MAGIC]
    mov esi, dword ptr [BOOT_INFO]
    call hv_main
3:  cli
    hlt
    jmp 3b

    .section .data
    .balign 16
    .globl GDT
GDT:
    .quad 0
    .quad 0x00AF9A000000FFFF
    .quad 0x00CF92000000FFFF
    .quad 0, 0
GDT_END:
    .balign 8
    .word 0
GDT_POINTER:
    .word GDT_END - GDT - 1
    .quad GDT

    /* Written before .bss is zeroed, so in .data. */
    .balign 4
BOOT_MAGIC: .long 0
BOOT_INFO: .long 0

    .section .bss
    .balign 16
    .skip 32768
    .globl BOOT_STACK_TOP
BOOT_STACK_TOP:
    "#
);
