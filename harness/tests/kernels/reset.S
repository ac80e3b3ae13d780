/*
 * reset: a multiboot kernel that asks the PC for a reset the way its command line's last
 * word says, after printing "reset: WORD" over COM1:
 *   cf9-06  port 0xCF9 <- 0x06 (reset control: system reset + reset CPU)
 *   cf9-0e  port 0xCF9 <- 0x0E (the same, full reset)
 *   p92     port 0x92 bit 0 from 0 to 1 (fast reset)
 *   kbc     8042 command 0xFE on port 0x64 (pulse the reset line), after waiting for an
 *           empty input buffer (status bit 1) as a driver does
 * If the machine is still running after a delay loop, it prints "reset ignored" and writes
 * 7 to isa-debug-exit (status 15). Under `qemu-system-x86_64 -no-reboot` a reset ends QEMU
 * with status 0; under hvbench with status 18 (or, with --reboot, the kernel boots again).
 *
 * Build: as --32 -I . -o reset.o reset.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o reset.elf reset.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003

        .text
        .code32
        .globl _start
        .align 4
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

_start:
        mov $stack_top, %esp
        call com1_init
        mov $s_none, %edi
        testl $4, (%ebx)                    /* flags bit 2: cmdline */
        jz 2f
        mov 16(%ebx), %esi
        mov %esi, %edi                      /* EDI: the start of the last word */
1:      mov (%esi), %al
        inc %esi
        test %al, %al
        jz 2f
        cmp $' ', %al
        jne 1b
        mov %esi, %edi
        jmp 1b
2:      mov $s_reset, %esi; call puts
        mov %edi, %esi; call puts
        call newline
3:      mov $COM1+5, %dx; in %dx, %al; test $0x40, %al; jz 3b   /* output drained */

        mov (%edi), %eax
        cmp $0x2D396663, %eax               /* "cf9-" */
        jne 4f
        movb 5(%edi), %al
        cmp $'6', %al
        mov $0x06, %al
        je 5f
        mov $0x0E, %al
5:      mov $0xCF9, %dx
        out %al, %dx
        jmp 9f
4:      cmp $0x00323970, %eax               /* "p92" */
        jne 6f
        in $0x92, %al
        and $0xFE, %al
        out %al, $0x92
        or $1, %al
        out %al, $0x92
        jmp 9f
6:      and $0x00FFFFFF, %eax
        cmp $0x0063626B, %eax               /* "kbc" */
        jne 9f
7:      in $0x64, %al
        test $2, %al
        jnz 7b
        mov $0xFE, %al
        out %al, $0x64

9:      mov $10000000, %ecx
10:     loop 10b
        mov $s_ignored, %esi; call puts
11:     mov $COM1+5, %dx; in %dx, %al; test $0x40, %al; jz 11b
        mov $0xF4, %dx
        mov $7, %eax
        out %eax, %dx
12:     cli; hlt; jmp 12b

        .include "lib.inc"

        .data
s_reset:   .asciz "reset: "
s_ignored: .asciz "reset ignored\n"
s_none:    .asciz "none"
        .bss
        .align 16
        .skip 4096
stack_top:
