//! The hypervisor's own IDT: the 32 exception vectors (SDM Vol. 3A 7.15 "Exception and
//! Interrupt Reference"), each reporting vector, error code and RIP on COM1 and powering off.
//! The host never expects an exception; without this a bug would be a silent triple fault.
//! VM exits load IDTR from the host-state area (this table, limit FFFFH: SDM Vol. 3C 28.5.2).
//!
//! Each stub pushes a dummy error code where the processor pushes none (all but 8, 10-14, 17,
//! 21, 29, 30), then the vector, and jumps to one common path with RDI = that frame.

use crate::boot::CODE_SELECTOR;
use crate::platform::power::power_off;
use crate::println;
use core::cell::UnsafeCell;

#[repr(C, align(16))]
struct Idt(UnsafeCell<[[u64; 2]; 32]>);

// SAFETY: written once by `install` before LIDT; read by the processor only afterwards.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([[0; 2]; 32]));

unsafe extern "C" {
    static host_exception_stubs: [u64; 32];
}

/// Present, DPL 0, 64-bit interrupt gate.
const GATE_INTERRUPT: u64 = 0x8E;
/// isa-debug-exit status for a host exception.
const HOST_EXCEPTION: u32 = 2;

/// Fills the 32 exception gates and loads IDTR.
pub fn install() {
    // SAFETY: the stub table is 32 addresses emitted below; the IDT is ours.
    unsafe {
        let idt = &mut *IDT.0.get();
        for (v, gate) in idt.iter_mut().enumerate() {
            let h = host_exception_stubs[v];
            gate[0] = (h & 0xFFFF) | (CODE_SELECTOR as u64) << 16 | GATE_INTERRUPT << 40 | ((h >> 16) & 0xFFFF) << 48;
            gate[1] = h >> 32;
        }
        super::cpu::lidt(IDT.0.get() as usize as u64, (32 * 16 - 1) as u16);
    }
}

/// The common path: `frame` = [vector, error code, RIP, CS, RFLAGS, RSP, SS].
#[unsafe(no_mangle)]
extern "C" fn host_exception(frame: *const u64) -> ! {
    // SAFETY: the stub passes a pointer to the seven quadwords it and the processor pushed.
    let f = unsafe { core::slice::from_raw_parts(frame, 7) };
    println!("hvcore: host exception {} error={:#x} at rip={:#x} rsp={:#x}", f[0], f[1], f[2], f[5]);
    power_off(HOST_EXCEPTION)
}

core::arch::global_asm!(
    r#"
    .text
    .macro HOST_STUB v
host_exception_\v:
    .if (\v == 8) || (\v >= 10 && \v <= 14) || (\v == 17) || (\v == 21) || (\v == 29) || (\v == 30)
    .else
    push 0
    .endif
    push \v
    jmp host_exception_common
    .endm
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    HOST_STUB \v
    .endr
host_exception_common:
    mov rdi, rsp
    and rsp, -16
    call host_exception
    ud2

    .section .rodata
    .balign 8
    .globl host_exception_stubs
host_exception_stubs:
    .irp v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    .quad host_exception_\v
    .endr
"#
);
