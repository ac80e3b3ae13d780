/*
 * ticks: a kernel whose output says exactly when each device interrupt arrived, for the
 * tests that stop a run anywhere and resume it (tests/stop_anywhere.rs). With interrupts on,
 * the CPU busy-loops (ALU work, and every 64 iterations a read of port 0x61 and of PIT
 * channel 2's latched count, both of which depend on virtual time) while four sources
 * interrupt it through the 8259A pair and the local APIC:
 * - PIT channel 0, mode 2 (rate generator), count 11: IRQ0, vector 0x20, every ~9.2 us;
 * - RTC periodic interrupt at 8192 Hz (register A RS=3, B.PIE): IRQ8, vector 0x28;
 * - COM1 transmitter-empty interrupt (IER bit 1): IRQ4, vector 0x24; its handler sends the
 *   next byte of a short message and turns the interrupt off after the last one;
 * - the local APIC timer, periodic, 7919 ticks, divide by 1: vector 0x40.
 * Every handler appends (vector, interrupted EIP, TSC low 32 bits) to a log. After 32 PIT
 * interrupts the kernel turns interrupts off and prints the log, the loop count and the sum
 * of the port reads, then powers off. A run cut anywhere and resumed must print the same.
 *
 * Build: as --32 -I . -o ticks.o ticks.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o ticks.elf ticks.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .set APIC, 0xFEE00000
        .set NTICKS, 32
        .set LOGMAX, 256

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
        mov $s_hello, %esi; call puts

        mov $0x20, %ebx
1:      mov $spurious, %eax; call set_gate
        inc %ebx; cmp $0x48, %ebx; jne 1b
        mov $pit_irq, %eax; mov $0x20, %ebx; call set_gate
        mov $com1_irq, %eax; mov $0x24, %ebx; call set_gate
        mov $rtc_irq, %eax; mov $0x28, %ebx; call set_gate
        mov $apic_irq, %eax; mov $0x40, %ebx; call set_gate
        lidt idt_ptr

        mov $0x11, %al; out %al, $0x20; out %al, $0xA0      /* ICW1: edge, cascade, ICW4 */
        mov $0x20, %al; out %al, $0x21                      /* ICW2: vectors */
        mov $0x28, %al; out %al, $0xA1
        mov $0x04, %al; out %al, $0x21                      /* ICW3 */
        mov $0x02, %al; out %al, $0xA1
        mov $0x01, %al; out %al, $0x21; out %al, $0xA1      /* ICW4: 8086 mode */
        mov $0xEA, %al; out %al, $0x21                      /* IRQ0, IRQ2, IRQ4 unmasked */
        mov $0xFE, %al; out %al, $0xA1                      /* IRQ8 unmasked */

        mov $0x34, %al; out %al, $0x43                      /* ch0, lo/hi, mode 2 */
        mov $11, %al; out %al, $0x40
        xor %al, %al; out %al, $0x40
        mov $0xB4, %al; out %al, $0x43                      /* ch2, lo/hi, mode 2 */
        mov $0xFF, %al; out %al, $0x42; out %al, $0x42
        mov $0x01, %al; out %al, $0x61                      /* gate 2 on */

        mov $0x8A, %al; out %al, $0x70                      /* A: RS=3, NMI off */
        mov $0x23, %al; out %al, $0x71
        mov $0x8B, %al; out %al, $0x70                      /* B: PIE */
        in $0x71, %al; or $0x40, %al; mov %al, %ah
        mov $0x8B, %al; out %al, $0x70
        mov %ah, %al; out %al, $0x71
        mov $0x0C, %al; out %al, $0x70; in $0x71, %al       /* clear C */

        movl $0x1FF, APIC+0xF0                              /* APIC on */
        movl $0x0B, APIC+0x3E0                              /* divide by 1 */
        movl $0x20040, APIC+0x320                           /* periodic, vector 0x40 */
        movl $7919, APIC+0x380

        mov $0x3FC, %dx; mov $0x0B, %al; out %al, %dx       /* MCR: DTR, RTS, OUT2 (IRQ4 on) */
        mov $0x3F9, %dx; mov $0x02, %al; out %al, %dx       /* COM1 THRE interrupt on */
        sti

        xor %edi, %edi                                      /* loop count */
        xor %ebp, %ebp                                      /* sum of port reads */
2:      inc %edi
        mov %edi, %eax
        imul $2654435761, %eax
        rol $7, %eax
        xor %eax, %ebx
        test $63, %edi
        jnz 3f
        in $0x61, %al; movzbl %al, %eax; add %eax, %ebp
        mov $0x80, %al; out %al, $0x43                      /* latch ch2 */
        in $0x42, %al; movzbl %al, %ecx
        in $0x42, %al; movzbl %al, %eax; shl $8, %eax; or %ecx, %eax
        add %eax, %ebp
3:      cmpl $NTICKS, pit_count
        jb 2b
        cli
        movl $0x10040, APIC+0x320                           /* mask the timer */

        mov $s_log, %esi; call puts
        mov log_len, %eax; call puthex; call newline
        xor %ebx, %ebx
4:      cmp log_len, %ebx
        jae 5f
        mov log(,%ebx,8), %eax; shr $24, %eax; call puthex2
        call space
        mov log(,%ebx,8), %eax; and $0xFFFFFF, %eax; call puthex
        call space
        mov log+4(,%ebx,8), %eax; call puthex
        call newline
        inc %ebx
        jmp 4b
5:      mov $s_loops, %esi; call puts
        mov %edi, %eax; call puthex
        mov $s_sum, %esi; call puts
        mov %ebp, %eax; call puthex
        mov $s_sent, %esi; call puts
        mov sent, %eax; call puthex
        call newline
        call poweroff

/* EAX: handler, EBX: vector */
set_gate:
        mov %ax, idt(,%ebx,8)
        movw $0x08, idt+2(,%ebx,8)
        movw $0x8E00, idt+4(,%ebx,8)
        shr $16, %eax
        mov %ax, idt+6(,%ebx,8)
        ret

/* Appends (vector AL, interrupted EIP at 12(%esp) on entry of the caller's frame) to the
 * log; called with EAX, ECX, EDX saved by the handler. */
record:
        mov log_len, %ecx
        cmp $LOGMAX, %ecx
        jae 1f
        movzbl %al, %eax; shl $24, %eax
        mov 16(%esp), %edx; and $0xFFFFFF, %edx; or %edx, %eax
        mov %eax, log(,%ecx,8)
        rdtsc
        mov log_len, %ecx
        mov %eax, log+4(,%ecx,8)
        incl log_len
1:      ret

pit_irq:
        push %eax; push %ecx; push %edx
        mov $0x20, %al; call record
        incl pit_count
        mov $0x20, %al; out %al, $0x20
        pop %edx; pop %ecx; pop %eax
        iret

rtc_irq:
        push %eax; push %ecx; push %edx
        mov $0x28, %al; call record
        mov $0x0C, %al; out %al, $0x70; in $0x71, %al       /* read C: IRQ8 drops */
        mov $0x20, %al; out %al, $0xA0; out %al, $0x20
        pop %edx; pop %ecx; pop %eax
        iret

com1_irq:
        push %eax; push %ecx; push %edx
        mov $0x24, %al; call record
        mov $0x3FA, %dx; in %dx, %al                        /* IIR */
        mov sent, %ecx
        movzbl s_irq_msg(%ecx), %eax
        test %al, %al
        jz 1f
        mov $0x3F8, %dx; out %al, %dx
        incl sent
        jmp 2f
1:      mov $0x3F9, %dx; xor %al, %al; out %al, %dx         /* THRE interrupt off */
2:      mov $0x20, %al; out %al, $0x20
        pop %edx; pop %ecx; pop %eax
        iret

apic_irq:
        push %eax; push %ecx; push %edx
        mov $0x40, %al; call record
        movl $0, APIC+0xB0                                  /* EOI */
        pop %edx; pop %ecx; pop %eax
        iret

spurious:
        iret

        .include "lib.inc"

        .data
s_hello: .asciz "ticks\n"
s_irq_msg: .asciz "[thre]"
s_log: .asciz "\nlog "
s_loops: .asciz "loops="
s_sum: .asciz " sum="
s_sent: .asciz " sent="
        .align 4
idt_ptr: .word 0x48*8-1
        .long idt
pit_count: .long 0
log_len: .long 0
sent: .long 0

        .bss
        .align 8
idt:    .skip 0x48*8
log:    .skip LOGMAX*8
        .skip 4096
stack_top:
