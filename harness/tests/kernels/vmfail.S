/*
 * vmfail: a multiboot kernel that enters VMX operation and tries a VM entry with an empty
 * VMCS, which fails with VMfailValid(7) (invalid control fields: the pin-based default1 bits
 * are 0; SDM Vol. 3C 27.2.1.1). Then it powers off. Used by the --dump-vmcs test.
 *
 * Paging: 32-bit paging with one 4-MByte page identity-mapping 0-4 MiB (CR4.PSE), because
 * VMXON requires CR0.PG = 1 (IA32_VMX_CR0_FIXED0). hvbench leaves IA32_FEATURE_CONTROL
 * locked with VMX enabled, as firmware would.
 *
 * Build: as --32 -o vmfail.o vmfail.S && ld -m elf_i386 -N -Ttext=0x100000 -e _start -o vmfail.elf vmfail.o
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
        /* page directory: entry 0 = 4-MByte page at 0, present, writable, PS */
        movl $0x83, pd
        mov $pd, %eax
        mov %eax, %cr3
        mov %cr4, %eax
        or $0x2010, %eax                /* PSE, VMXE */
        mov %eax, %cr4
        mov %cr0, %eax
        or $0x80000020, %eax            /* PG, NE */
        mov %eax, %cr0
        /* revision identifiers from IA32_VMX_BASIC[30:0] */
        mov $0x480, %ecx
        rdmsr
        mov %eax, vmxon_region
        mov %eax, vmcs_region
        vmxon vmxon_ptr
        vmclear vmcs_ptr
        vmptrld vmcs_ptr
        vmlaunch
        /* VMfailValid: ZF = 1; report the VM-instruction error */
        mov $0x4400, %ecx
        vmread %ecx, %eax
        mov $s_err, %esi
        call putfield
        call newline
        jmp poweroff

        .include "lib.inc"

        .data
s_err:  .asciz "vm-instruction error="
        .align 8
vmxon_ptr: .long vmxon_region, 0
vmcs_ptr:  .long vmcs_region, 0

        .bss
        .align 4096
pd:     .skip 4096
vmxon_region: .skip 4096
vmcs_region:  .skip 4096
        .skip 4096
stack_top:
