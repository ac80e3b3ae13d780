/*
 * pcdevices: a kernel written for `qemu-system-x86_64 -kernel` (multiboot v1) that reports,
 * one item a line over COM1, what the PC's devices tell it, in a form that does not depend
 * on timing, so that the transcript under hvbench and under QEMU is the same line for line:
 *
 * - fw_cfg (ports 0x510/0x511, QEMU docs/specs/fw_cfg.rst): the signature (key 0x00), bit 0
 *   of the ID (key 0x01), the RAM size (0x03, u64), the CPU count (0x05, u16) and the
 *   maximum CPU count (0x0F, u16). Only ID bit 0 (traditional interface) is printed: QEMU
 *   also sets bit 1 (DMA interface), which hvbench does not offer. Key 0x0F keeps QEMU's
 *   legacy x86 meaning (the APIC ID limit, highest APIC ID + 1), which equals the CPU
 *   count for `-smp N` with the default topology.
 * - PIT and PIC: both 8259As are initialised (vectors 0x20 and 0x28, all lines masked but
 *   IRQ0), PIT channel 0 is programmed in mode 0 (interrupt on terminal count) with 0x1000;
 *   the CPU busy-waits with interrupts on until the IRQ0 handler has run, or gives up after
 *   a long loop. Mode 0 raises OUT0 once, so the handler runs exactly once whatever the
 *   host's speed; then the read-back status of channel 0 (8254 data sheet, "Read-Back
 *   Command": OUT=1, null count=0, lobyte/hibyte, mode 0, binary = 0xB0) is printed.
 * - RTC/CMOS (MC146818A): the date (century, year, month, day, weekday), hour and minute,
 *   registers B and D, and the PC memory-size bytes (0x15-0x18, 0x30-0x31, 0x34-0x35) and
 *   CPU count byte (0x5F). Seconds are not printed (boot time differs), hours and minutes
 *   are (both machines start at the same midnight: hvbench's fixed start, QEMU's
 *   `-rtc base=2026-01-01T00:00:00`).
 * - Local APIC: the BSP's ID and the version register; IOAPIC: the version register
 *   (version and maximum redirection entry).
 * - SMP: every AP is started with INIT-SIPI-SIPI (lib.inc start_aps); the APs print their
 *   APIC ID one after the other in ID order (each waits for its turn), so the order is the
 *   same under QEMU, whose vCPUs run on host threads, and hvbench.
 * Then the kernel writes 0x21 to isa-debug-exit: exit status (0x21 << 1) | 1 = 67.
 *
 * Build: as --32 -I . -o pcdevices.o pcdevices.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o pcdevices.elf pcdevices.o
 */
        .set MB_MAGIC, 0x1BADB002
        .set MB_FLAGS, 0x00000003
        .set APIC, 0xFEE00000
        .set IOAPIC, 0xFEC00000
        .set FW_CFG_SEL, 0x510
        .set FW_CFG_DATA, 0x511
        .set EXIT_VALUE, 0x21

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

        /* ---- fw_cfg ---- */
        mov $0x00, %ax; call fw_select
        mov $s_fw_sig, %esi; call puts
        mov $4, %ebx
2:      call fw_byte; call putc; dec %ebx; jnz 2b
        call newline
        mov $0x01, %ax; call fw_select
        call fw_u32; and $1, %eax
        mov $s_fw_id, %esi; call putfield; call newline
        mov $0x03, %ax; call fw_select
        call fw_u32; mov %eax, %ebx
        call fw_u32
        mov $s_fw_ram, %esi; call putfield
        mov %ebx, %eax; call puthex; call newline
        mov $0x05, %ax; call fw_select
        call fw_u16; mov %eax, nb_cpus
        mov $s_fw_nb, %esi; call putfield; call newline
        mov $0x0F, %ax; call fw_select
        call fw_u16
        mov $s_fw_max, %esi; call putfield; call newline

        /* ---- PIC, PIT ---- */
        mov $irq0_handler, %eax; mov $0x20, %ebx; call set_gate
        mov $0x21, %ebx
3:      mov $spurious_handler, %eax; call set_gate
        inc %ebx; cmp $0x30, %ebx; jne 3b
        lidt idt_ptr
        mov $0x11, %al; out %al, $0x20; out %al, $0xA0      /* ICW1: edge, cascade, ICW4 */
        mov $0x20, %al; out %al, $0x21                      /* ICW2: vectors */
        mov $0x28, %al; out %al, $0xA1
        mov $0x04, %al; out %al, $0x21                      /* ICW3: slave on IRQ2 */
        mov $0x02, %al; out %al, $0xA1
        mov $0x01, %al; out %al, $0x21; out %al, $0xA1      /* ICW4: 8086 mode */
        mov $0xFF, %al; out %al, $0x21; out %al, $0xA1      /* all masked */
        mov $0x30, %al; out %al, $0x43                      /* ch0, lo/hi, mode 0, binary */
        mov $0x00, %al; out %al, $0x40
        mov $0x10, %al; out %al, $0x40                      /* count 0x1000 */
        mov $0xFE, %al; out %al, $0x21                      /* unmask IRQ0 */
        mov $200000000, %ecx
        sti
4:      cmpl $0, irq0_count
        jne 5f
        dec %ecx
        jnz 4b
5:      cli
        mov $s_pit_irq, %esi; call puts
        mov $s_no, %esi
        cmpl $0, irq0_count
        je 6f
        mov $s_yes, %esi
6:      call puts
        mov irq0_count, %eax
        mov $s_pit_count, %esi; call putfield; call newline
        mov $0xE2, %al; out %al, $0x43                      /* read-back: status of ch0 */
        in $0x40, %al; movzbl %al, %ebx
        mov $s_pit_status, %esi; call puts
        mov %ebx, %eax; call puthex2; call newline
        mov $0xFF, %al; out %al, $0x21

        /* ---- RTC / CMOS ---- */
7:      mov $0x0A, %al; call cmos; test $0x80, %al; jnz 7b   /* no update in progress */
        mov $s_rtc_date, %esi; call puts
        mov $0x32, %al; call cmos; call puthex2
        mov $0x09, %al; call cmos; call puthex2
        mov $'-', %al; call putc
        mov $0x08, %al; call cmos; call puthex2
        mov $'-', %al; call putc
        mov $0x07, %al; call cmos; call puthex2
        mov $s_rtc_time, %esi; call puts
        mov $0x04, %al; call cmos; call puthex2
        mov $':', %al; call putc
        mov $0x02, %al; call cmos; call puthex2
        mov $s_rtc_wday, %esi; call puts
        mov $0x06, %al; call cmos; call puthex2
        mov $s_rtc_b, %esi; call puts
        mov $0x0B, %al; call cmos; call puthex2
        mov $s_rtc_d, %esi; call puts
        mov $0x0D, %al; call cmos; call puthex2
        call newline
        mov $s_cmos, %esi; call puts
        mov $cmos_bytes, %ebx
8:      movzbl (%ebx), %eax
        test %eax, %eax
        jz 9f
        call space
        movzbl (%ebx), %eax; call puthex2
        mov $'=', %al; call putc
        movzbl (%ebx), %eax
        call cmos; call puthex2
        inc %ebx
        jmp 8b
9:      call newline

        /* ---- APICs ---- */
        mov APIC+0x20, %eax; shr $24, %eax
        mov $s_lapic_id, %esi; call putfield
        mov APIC+0x30, %eax
        mov $s_lapic_ver, %esi; call putfield; call newline
        movl $1, IOAPIC
        mov IOAPIC+0x10, %eax
        mov $s_ioapic_ver, %esi; call putfield; call newline

        /* ---- reset-capable ports, read only: port 0x92, the 8042's status ---- */
        in $0x92, %al; movzbl %al, %ebx
        mov $s_port92, %esi; call puts
        mov %ebx, %eax; call puthex2
        in $0x64, %al; movzbl %al, %ebx
        mov $s_kbc, %esi; call puts
        mov %ebx, %eax; call puthex2
        mov $0xCF9, %dx; in %dx, %al; movzbl %al, %ebx
        mov $s_rcr, %esi; call puts
        mov %ebx, %eax; call puthex2; call newline

        /* ---- SMP ---- */
        movl $1, next_ap
        call start_aps
        mov nb_cpus, %ebx
        dec %ebx
10:     pause
        cmp ap_count, %ebx
        jne 10b
        mov %ebx, %eax
        mov $s_all, %esi; call putfield; call newline

        /* ---- exit through isa-debug-exit ---- */
11:     mov $COM1+5, %dx; in %dx, %al; test $0x40, %al; jz 11b
        mov $0xF4, %dx
        mov $EXIT_VALUE, %eax
        out %eax, %dx
12:     cli; hlt; jmp 12b

/* fw_cfg: select key AX; next byte to AL; next u16 / u32 (little-endian) to EAX */
fw_select:
        mov $FW_CFG_SEL, %dx
        out %ax, %dx
        ret
fw_byte:
        mov $FW_CFG_DATA, %dx
        in %dx, %al
        ret
fw_u16:
        xor %eax, %eax
        call fw_byte; mov %al, %cl
        call fw_byte; mov %al, %ah; mov %cl, %al
        ret
fw_u32:
        push %ebx
        mov $4, %ebx
        xor %ecx, %ecx
1:      call fw_byte
        shrd $8, %eax, %ecx
        dec %ebx
        jnz 1b
        mov %ecx, %eax
        pop %ebx
        ret

/* CMOS register AL (NMI stays enabled) to AL, zero-extended into EAX */
cmos:
        out %al, $0x70
        in $0x71, %al
        movzbl %al, %eax
        ret

/* interrupt gate EBX -> handler EAX */
set_gate:
        mov %ax, idt(,%ebx,8)
        movw $0x08, idt+2(,%ebx,8)
        movw $0x8E00, idt+4(,%ebx,8)
        shr $16, %eax
        mov %ax, idt+6(,%ebx,8)
        ret

irq0_handler:
        incl irq0_count
        push %eax
        mov $0x20, %al; out %al, $0x20          /* EOI */
        pop %eax
        iret

spurious_handler:
        iret

/* An AP: waits for its turn (APs print in APIC ID order), prints its ID, passes the turn. */
ap_entry32:
        mov $0x10, %ax; mov %ax, %ds; mov %ax, %es; mov %ax, %ss
        mov APIC+0x20, %ebp
        shr $24, %ebp
        mov %ebp, %esp
        shl $10, %esp
        add $ap_stacks + 1024, %esp             /* 1 KiB of stack per APIC ID */
1:      pause
        cmp next_ap, %ebp
        jne 1b
        mov %ebp, %eax
        mov $s_ap, %esi; call putfield; call newline
        incl ap_count
        incl next_ap
2:      cli; hlt; jmp 2b

        .set LIB_START_APS, 1
        .include "lib.inc"

        .data
        .align 8
idt_ptr: .word 0x30*8-1
        .long idt
irq0_count: .long 0
nb_cpus: .long 0
next_ap: .long 0
ap_count: .long 0
/* CMOS bytes printed: base memory, extended memory (twice), memory above 16 MiB, CPUs - 1 */
cmos_bytes: .byte 0x15, 0x16, 0x17, 0x18, 0x30, 0x31, 0x34, 0x35, 0x5F, 0
s_hello:     .asciz "pcdevices\n"
s_fw_sig:    .asciz "fw_cfg signature="
s_fw_id:     .asciz "fw_cfg id.traditional="
s_fw_ram:    .asciz "fw_cfg ram_size="
s_fw_nb:     .asciz "fw_cfg nb_cpus="
s_fw_max:    .asciz "fw_cfg max_cpus="
s_pit_irq:   .asciz "pit irq0 seen="
s_yes:       .asciz "yes"
s_no:        .asciz "no"
s_pit_count: .asciz " count="
s_pit_status: .asciz "pit ch0 status="
s_rtc_date:  .asciz "rtc date="
s_rtc_time:  .asciz " time="
s_rtc_wday:  .asciz " weekday="
s_rtc_b:     .asciz " b="
s_rtc_d:     .asciz " d="
s_cmos:      .asciz "cmos"
s_lapic_id:  .asciz "lapic id="
s_lapic_ver: .asciz " version="
s_ioapic_ver: .asciz "ioapic version="
s_port92:    .asciz "port92="
s_kbc:       .asciz " kbc_status="
s_rcr:       .asciz " cf9="
s_all:       .asciz "aps up="
s_ap:        .asciz "ap apic_id="

        .bss
        .align 8
idt:    .skip 0x30*8
ap_stacks: .skip 1024*64
        .skip 4096
stack_top:
