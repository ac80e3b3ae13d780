/*
 * echo: a multiboot kernel that reads COM1 (polling LSR bit 0) until it receives '.', then
 * prints "got: " and what it received, and powers off. Used by the --serial-input tests.
 *
 * Build: as --32 -o echo.o echo.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o echo.elf echo.o
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
        mov $buffer, %edi
1:      mov $COM1+5, %dx
2:      in %dx, %al; test $1, %al; jz 2b     /* data ready */
        mov $COM1, %dx
        in %dx, %al
        cmp $'.', %al
        je 3f
        mov %al, (%edi)
        inc %edi
        cmp $buffer_end, %edi
        jb 1b
3:      movb $0, (%edi)
        mov $s_got, %esi; call puts
        mov $buffer, %esi; call puts
        call newline
        jmp poweroff

        .include "lib.inc"

        .data
s_got:  .asciz "got: "
        .bss
buffer: .skip 256
buffer_end:
        .skip 16
        .skip 4096
stack_top:
