/*
 * mbinfo2: a multiboot2 kernel that prints, one item a line over COM1, the boot information
 * it received (Multiboot2 Specification 2.0, section 3.6 "Boot information format"): magic,
 * total size, then every tag in order: "tag type=T size=S", followed for known tags by their
 * content: cmdline (1), boot loader name (2), module (3: start, size, first four bytes,
 * string), basic meminfo (4), memory map (6: entry size/version, then each entry), ACPI
 * RSDP (14 old / 15 new: signature and revision). "end" closes the report.
 *
 * Build: as --32 -o mbinfo2.o mbinfo2.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o mbinfo2.elf mbinfo2.o
 */
        .set MB2_MAGIC, 0xE85250D6

        .text
        .code32
        .globl _start
        .align 8
mb2_header:
        .long MB2_MAGIC, 0, mb2_header_end - mb2_header
        .long -(MB2_MAGIC + (mb2_header_end - mb2_header))
        .short 0, 0                          /* end tag */
        .long 8
mb2_header_end:

_start:
        mov $stack_top, %esp
        mov %eax, %edi
        call com1_init
        mov %edi, %eax
        mov $s_magic, %esi; call putfield; call newline
        mov 0(%ebx), %eax
        mov $s_total, %esi; call putfield; call newline
        lea 8(%ebx), %ebp                    /* first tag */
tag:
        mov 0(%ebp), %eax
        test %eax, %eax
        jz done
        mov $s_tag, %esi; call putfield; call space
        mov 4(%ebp), %eax
        mov $s_size, %esi; call putfield; call newline
        mov 0(%ebp), %eax
        cmp $1, %eax; je t_cmdline
        cmp $2, %eax; je t_loader
        cmp $3, %eax; je t_module
        cmp $4, %eax; je t_meminfo
        cmp $6, %eax; je t_mmap
        cmp $14, %eax; je t_rsdp
        cmp $15, %eax; je t_rsdp
next:
        mov 4(%ebp), %eax
        add $7, %eax
        and $~7, %eax
        add %eax, %ebp
        jmp tag

t_cmdline:
        mov $s_cmdline, %esi; call puts
        lea 8(%ebp), %esi; call puts; call newline
        jmp next
t_loader:
        mov $s_loader, %esi; call puts
        lea 8(%ebp), %esi; call puts; call newline
        jmp next
t_module:
        mov $s_mod, %esi; call puts
        mov 8(%ebp), %eax
        mov $s_start, %esi; call putfield; call space
        mov 12(%ebp), %eax; sub 8(%ebp), %eax
        mov $s_msize, %esi; call putfield; call space
        mov 8(%ebp), %eax; mov (%eax), %eax
        mov $s_first, %esi; call putfield; call space
        mov $s_string, %esi; call puts
        lea 16(%ebp), %esi; call puts; call newline
        jmp next
t_meminfo:
        mov 8(%ebp), %eax
        mov $s_mem_lower, %esi; call putfield; call space
        mov 12(%ebp), %eax
        mov $s_mem_upper, %esi; call putfield; call newline
        jmp next
t_mmap:
        mov 8(%ebp), %eax
        mov $s_entry_size, %esi; call putfield; call space
        mov 12(%ebp), %eax
        mov $s_entry_version, %esi; call putfield; call newline
        lea 16(%ebp), %ebx                   /* EBX: entry (the info pointer is not needed any more) */
        mov 4(%ebp), %eax
        add %ebp, %eax
        mov %eax, mmap_end
1:      cmp mmap_end, %ebx
        jae next
        mov $s_mmap, %esi; call puts
        mov 4(%ebx), %eax; call puthex
        mov 0(%ebx), %eax; call puthex
        call space
        mov $s_len, %esi; call puts
        mov 12(%ebx), %eax; call puthex
        mov 8(%ebx), %eax; call puthex
        call space
        mov 16(%ebx), %eax
        mov $s_type, %esi; call putfield; call newline
        add 8(%ebp), %ebx
        jmp 1b
t_rsdp:
        mov 8(%ebp), %eax; mov %eax, sig
        mov 12(%ebp), %eax; mov %eax, sig+4
        mov $s_rsdp, %esi; call puts
        mov $sig, %esi; call puts; call space
        movzbl 23(%ebp), %eax                /* RSDP byte 15: revision */
        mov $s_revision, %esi; call putfield; call newline
        jmp next
done:
        mov $s_end, %esi; call puts; call newline
        jmp poweroff

        .include "lib.inc"

        .data
mmap_end: .long 0
sig:      .long 0, 0, 0
s_magic:     .asciz "magic="
s_total:     .asciz "total_size="
s_tag:       .asciz "tag type="
s_size:      .asciz "size="
s_cmdline:   .asciz "cmdline="
s_loader:    .asciz "boot_loader_name="
s_mod:       .asciz "module "
s_start:     .asciz "start="
s_msize:     .asciz "size="
s_first:     .asciz "first="
s_string:    .asciz "string="
s_mem_lower: .asciz "mem_lower="
s_mem_upper: .asciz "mem_upper="
s_entry_size: .asciz "entry_size="
s_entry_version: .asciz "entry_version="
s_mmap:      .asciz "mmap base="
s_len:       .asciz "len="
s_type:      .asciz "type="
s_rsdp:      .asciz "rsdp signature="
s_revision:  .asciz "revision="
s_end:       .asciz "end"

        .bss
        .align 16
        .skip 8192
stack_top:
