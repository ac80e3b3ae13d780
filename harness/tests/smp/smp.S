/*
 * smp: a multiboot kernel that starts the application processors the way the Intel MP
 * initialisation sequence does (SDM Vol. 3A 9.4.4.1: INIT IPI, then two start-up IPIs, by
 * broadcast to all excluding self), lets each AP print its local APIC ID over COM1 under a
 * spin lock (xchg), waits for all of them, then arms the local APIC timer (one-shot) and
 * halts until it fires, and powers off (Bochs/hvbench port 0x8900, then isa-debug-exit).
 *
 * Its own code is written without string instructions, shifts, mul or div.
 * Build: as --32 -I ../kernels -o smp.o smp.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o smp.elf smp.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .set APIC, 0xFEE00000
        .set NAPS, 3

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

        /* INIT, then SIPI twice, to all excluding self (lib.inc) */
        call start_aps

3:      pause
        cmpl $NAPS, ap_count
        jne 3b
        /* take the lock so the line is not interleaved with a late AP's */
        call lock_acquire
        mov $msg_all, %esi
        call puts
        call lock_release

        /* the local APIC timer: vector 0x40, one-shot, divide by 1, 1,000,000 ticks */
        mov $timer_handler, %eax
        mov %ax, idt+0x40*8
        mov %eax, scratch
        mov scratch+2, %ax
        mov %ax, idt+0x40*8+6
        movw $0x08, idt+0x40*8+2
        movw $0x8E00, idt+0x40*8+4
        lidt idt_ptr
        movl $0x1FF, APIC+0xF0
        movl $0x0B, APIC+0x3E0
        movl $0x40, APIC+0x320
        movl $1000000, APIC+0x380
4:      sti
        hlt
        cli
        cmpl $0, timer_fired
        je 4b
        mov $msg_timer, %esi
        call puts

        jmp poweroff

timer_handler:
        movl $1, timer_fired
        movl $0, APIC+0xB0
        iret

lock_acquire:
1:      mov $1, %eax
        xchg %eax, lock
        test %eax, %eax
        jz 2f
        pause
        jmp 1b
2:      ret

lock_release:
        xor %eax, %eax
        xchg %eax, lock
        ret

/* An AP arrives here in 32-bit protected mode from the trampoline. */
ap_entry32:
        mov $0x10, %ax; mov %ax, %ds; mov %ax, %es; mov %ax, %ss
1:      mov $1, %eax
        xchg %eax, lock
        test %eax, %eax
        jz 2f
        pause
        jmp 1b
2:      mov $ap_stack_top, %esp          /* one stack, used only by the lock holder */
        mov APIC+0x20, %eax              /* APIC ID in bits 31:24 */
        mov %eax, scratch
        mov scratch+3, %al
        add $'0', %al
        mov %al, msg_ap_id
        mov $msg_ap, %esi
        call puts
        incl ap_count
        call lock_release
3:      cli; hlt; jmp 3b

        .set LIB_START_APS, 1
        .include "lib.inc"

        .code32
        .data
        .align 8
idt_ptr: .word 0x41*8-1
        .long idt
lock:   .long 0
ap_count: .long 0
timer_fired: .long 0
scratch: .long 0
msg_bsp:   .asciz "BSP: starting APs\n"
msg_ap:    .ascii "AP "
msg_ap_id: .asciz "? up\n"
msg_all:   .asciz "BSP: all APs up\n"
msg_timer: .asciz "BSP: APIC timer fired\n"

        .bss
        .align 8
idt:    .skip 0x41*8
        .skip 4096
ap_stack_top:
        .skip 4096
stack_top:
