/*
 * race: a multiboot kernel whose output depends on how its four vCPUs interleave. The BSP
 * starts three APs (INIT-SIPI-SIPI) and runs its local APIC timer periodically (vector
 * 0x40, 20,000 ticks, divide by 1) counting interrupts. Each AP, 20,000 times, increments a
 * shared counter without a lock (load, add, store: an update is lost when a vCPU's turn
 * ends between the load and the store) and every 1,000 iterations appends its APIC ID to a
 * log with LOCK XADD. The BSP waits for the APs, then prints the counter, the timer count
 * and the log, and powers off. Used by the snapshot and determinism tests.
 *
 * Build: as --32 -I . -o race.o race.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o race.elf race.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .set APIC, 0xFEE00000
        .set NAPS, 3
        .set ITERATIONS, 20000

        .text
        .code32
        .globl _start
        .align 4
mb_header:
        .long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

_start:
        mov $stack_top, %esp
        call load_flat_gdt
        call com1_init
        mov $msg_bsp, %esi
        call puts

        /* the periodic local APIC timer */
        mov $timer_handler, %eax
        mov %ax, idt+0x40*8
        shr $16, %eax
        mov %ax, idt+0x40*8+6
        movw $0x08, idt+0x40*8+2
        movw $0x8E00, idt+0x40*8+4
        lidt idt_ptr
        movl $0x1FF, APIC+0xF0
        movl $0x0B, APIC+0x3E0
        movl $0x20040, APIC+0x320
        movl $20000, APIC+0x380
        sti

        /* INIT, SIPI, SIPI (lib.inc) */
        call start_aps

3:      pause
        cmpl $NAPS, done_count
        jne 3b
        cli
        movl $0x10040, APIC+0x320       /* mask the timer */

        mov $msg_counter, %esi; call puts
        mov counter, %eax; call puthex
        mov $msg_ticks, %esi; call puts
        mov ticks, %eax; call puthex
        mov $msg_log, %esi; call puts
        xor %ebx, %ebx
4:      cmp log_len, %ebx
        jae 5f
        mov log(%ebx), %al
        add $'0', %al
        call putc
        inc %ebx
        jmp 4b
5:      mov $msg_nl, %esi; call puts

        jmp poweroff

timer_handler:
        incl ticks
        movl $0, APIC+0xB0
        iret

/* An AP arrives here in 32-bit protected mode from the trampoline. */
ap_entry32:
        mov $0x10, %ax; mov %ax, %ds; mov %ax, %es; mov %ax, %ss
        mov APIC+0x20, %ebp
        shr $24, %ebp                    /* APIC ID */
        xor %edi, %edi                   /* iteration */
1:      mov counter, %eax                /* the unlocked increment */
        inc %eax
        mov %eax, counter
        inc %edi
        mov %edi, %eax
        xor %edx, %edx
        mov $1000, %ecx
        div %ecx
        test %edx, %edx
        jnz 2f
        mov $1, %eax
        lock xadd %eax, log_len
        mov %ebp, %ecx
        mov %cl, log(%eax)
2:      cmp $ITERATIONS, %edi
        jne 1b
        lock incl done_count
3:      cli; hlt; jmp 3b

        .set LIB_START_APS, 1
        .include "lib.inc"

        .code32
        .data
        .align 8
idt_ptr: .word 0x41*8-1
        .long idt
counter: .long 0
ticks:   .long 0
done_count: .long 0
log_len: .long 0
msg_bsp:     .asciz "BSP: starting APs\n"
msg_counter: .asciz "counter="
msg_ticks:   .asciz " ticks="
msg_log:     .asciz "\nlog="
msg_nl:      .asciz "\n"

        .bss
        .align 8
log:    .skip 64
idt:    .skip 0x41*8
        .skip 4096
stack_top:
