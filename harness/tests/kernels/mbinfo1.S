/*
 * mbinfo1: a multiboot (v1) kernel that prints, one item a line over COM1, what its boot
 * loader handed over (Multiboot Specification 0.6.96, section 3.3 "Boot information
 * format"): magic, flags, mem_lower/mem_upper, the command line, each module (start, size,
 * first four bytes, string), each memory map entry and the boot loader name. Numbers are
 * 8 hex digits; "end" closes the report.
 *
 * Build: as --32 -o mbinfo1.o mbinfo1.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o mbinfo1.elf mbinfo1.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003            /* page-align modules, memory information */

        .text
        .code32
        .globl _start
        .align 4
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

_start:
        mov $stack_top, %esp
        mov %eax, %edi                      /* magic */
        call com1_init
        mov %edi, %eax
        mov $s_magic, %esi; call putfield; call newline
        mov 0(%ebx), %eax
        mov $s_flags, %esi; call putfield; call newline
        mov 0(%ebx), %edi                   /* flags */

        test $1, %edi                       /* bit 0: mem_lower, mem_upper */
        jz 1f
        mov 4(%ebx), %eax
        mov $s_mem_lower, %esi; call putfield; call space
        mov 8(%ebx), %eax
        mov $s_mem_upper, %esi; call putfield; call newline
1:
        test $4, %edi                       /* bit 2: cmdline */
        jz 1f
        mov $s_cmdline, %esi; call puts
        mov 16(%ebx), %esi; call puts; call newline
1:
        test $8, %edi                       /* bit 3: mods_count, mods_addr */
        jz 3f
        mov 20(%ebx), %eax
        mov $s_mods, %esi; call putfield; call newline
        mov 24(%ebx), %ebp                  /* module entry: start, end, string, reserved */
        mov 20(%ebx), %ecx
2:      test %ecx, %ecx
        jz 3f
        push %ecx
        mov $s_mod, %esi; call puts
        mov 0(%ebp), %eax
        mov $s_start, %esi; call putfield; call space
        mov 4(%ebp), %eax; sub 0(%ebp), %eax
        mov $s_size, %esi; call putfield; call space
        mov 0(%ebp), %eax; mov (%eax), %eax
        mov $s_first, %esi; call putfield; call space
        mov $s_string, %esi; call puts
        mov 8(%ebp), %esi; call puts; call newline
        add $16, %ebp
        pop %ecx
        dec %ecx
        jmp 2b
3:
        test $0x40, %edi                    /* bit 6: mmap_length, mmap_addr */
        jz 5f
        mov 48(%ebx), %ebp                  /* entry: size, base_addr (8), length (8), type */
        mov 44(%ebx), %eax
        add %ebp, %eax
        mov %eax, mmap_end
4:      cmp mmap_end, %ebp
        jae 5f
        mov $s_mmap, %esi; call puts
        mov 8(%ebp), %eax; call puthex
        mov 4(%ebp), %eax; call puthex
        call space
        mov $s_len, %esi; call puts
        mov 16(%ebp), %eax; call puthex
        mov 12(%ebp), %eax; call puthex
        call space
        mov 20(%ebp), %eax
        mov $s_type, %esi; call putfield; call newline
        mov 0(%ebp), %eax
        lea 4(%ebp,%eax), %ebp
        jmp 4b
5:
        test $0x200, %edi                   /* bit 9: boot_loader_name */
        jz 6f
        mov $s_loader, %esi; call puts
        mov 64(%ebx), %esi; call puts; call newline
6:
        mov $s_end, %esi; call puts; call newline
        jmp poweroff

        .include "lib.inc"

        .data
mmap_end: .long 0
s_magic:     .asciz "magic="
s_flags:     .asciz "flags="
s_mem_lower: .asciz "mem_lower="
s_mem_upper: .asciz "mem_upper="
s_cmdline:   .asciz "cmdline="
s_mods:      .asciz "mods_count="
s_mod:       .asciz "module "
s_start:     .asciz "start="
s_size:      .asciz "size="
s_first:     .asciz "first="
s_string:    .asciz "string="
s_mmap:      .asciz "mmap base="
s_len:       .asciz "len="
s_type:      .asciz "type="
s_loader:    .asciz "boot_loader_name="
s_end:       .asciz "end"

        .bss
        .align 16
        .skip 8192
stack_top:
