/*
 * hello: the smallest useful multiboot kernel. Loaded like `qemu -kernel`, it programs COM1,
 * prints a greeting and the command line it was given, enters 64-bit long mode, prints
 * again, and powers off (Bochs/hvbench shutdown port 0x8900, then QEMU's isa-debug-exit).
 *
 * Build: as --32 -o hello.o hello.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o hello.elf hello.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003            /* page-align modules, want memory info */
        .set COM1, 0x3F8

        .text
        .code32
        .globl _start
        .align 4
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

_start:
        mov $stack_top, %esp
        mov %ebx, %edi                        /* multiboot info */
        cmp $0x2BADB002, %eax
        jne fail

        /* 16550: 115200 8N1: DLAB, divisor 1, 8 data bits, FIFO on */
        mov $COM1+3, %dx; mov $0x80, %al; out %al, %dx
        mov $COM1+0, %dx; mov $0x01, %al; out %al, %dx
        mov $COM1+1, %dx; mov $0x00, %al; out %al, %dx
        mov $COM1+3, %dx; mov $0x03, %al; out %al, %dx
        mov $COM1+2, %dx; mov $0xC7, %al; out %al, %dx

        mov $msg_hello, %esi
        call puts
        testl $4, (%edi)                      /* flags bit 2: cmdline present */
        jz 1f
        mov $msg_cmdline, %esi
        call puts
        mov 16(%edi), %esi
        call puts
        mov $msg_nl, %esi
        call puts
1:
        /* identity-map the first 1 GiB with 2-MiB pages and enter long mode */
        mov $pdpt, %eax; or $3, %eax; mov %eax, pml4
        mov $pd, %eax;   or $3, %eax; mov %eax, pdpt
        xor %ecx, %ecx
2:      mov %ecx, %eax; shl $21, %eax; or $0x83, %eax
        mov %eax, pd(,%ecx,8)
        inc %ecx; cmp $512, %ecx; jne 2b
        mov %cr4, %eax; or $0x20, %eax; mov %eax, %cr4     /* PAE */
        mov $pml4, %eax; mov %eax, %cr3
        mov $0xC0000080, %ecx; rdmsr; or $0x100, %eax; wrmsr /* EFER.LME */
        mov %cr0, %eax; or $0x80000001, %eax; mov %eax, %cr0 /* PG */
        lgdt gdt_ptr
        ljmp $0x08, $long_mode

        .code64
long_mode:
        mov $0x10, %ax; mov %ax, %ds; mov %ax, %es; mov %ax, %ss
        mov $msg_long, %esi
        call puts64
        /* wait until the transmitter is empty (LSR bit 6), then power off */
3:      mov $COM1+5, %dx; in %dx, %al; test $0x40, %al; jz 3b
        mov $0x8900, %dx
        mov $msg_shutdown, %esi
4:      lodsb; test %al, %al; jz 5f; out %al, %dx; jmp 4b
5:      mov $0xF4, %dx; xor %eax, %eax; out %eax, %dx          /* QEMU: exit status 1 */
6:      cli; hlt; jmp 6b

puts64:
        mov $COM1, %dx
7:      lodsb; test %al, %al; jz 8f; out %al, %dx; jmp 7b
8:      ret

        .code32
puts:
        mov $COM1, %dx
9:      lodsb; test %al, %al; jz 10f; out %al, %dx; jmp 9b
10:     ret

fail:   mov $0xF4, %dx; mov $0x7F, %eax; out %eax, %dx
11:     cli; hlt; jmp 11b

        .data
        .align 8
gdt:    .quad 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF
gdt_ptr: .word 23
        .long gdt
msg_hello:    .asciz "Hello from a multiboot kernel!\n"
msg_cmdline:  .asciz "command line: "
msg_nl:       .asciz "\n"
msg_long:     .asciz "Now in 64-bit long mode. Bye.\n"
msg_shutdown: .asciz "Shutdown"

        .bss
        .align 4096
pml4:   .skip 4096
pdpt:   .skip 4096
pd:     .skip 4096
        .skip 8192
stack_top:
