//! The guest's IDT (SDM Vol. 3A 7.14.1 "64-Bit Mode IDT", Figure 7-8: 16-byte interrupt
//! gates) with handlers for #UD (vector 6) and #BP (vector 3), both reflected by the hypervisor,
//! and the external interrupt the hypervisor injects. Each stub saves the caller-saved registers, passes a
//! pointer to the interrupt stack frame (RIP, CS, RFLAGS, RSP, SS: 7.14.4) to a Rust handler
//! and returns with IRETQ; a handler may change the saved RIP.

use crate::boot::CODE_SELECTOR;
use crate::vmm::{VECTOR_BP, VECTOR_UD};
use crate::vmm::handlers::INJECTED_VECTOR;
use core::cell::UnsafeCell;

/// 256 gates of 16 bytes.
#[repr(C, align(16))]
struct Idt(UnsafeCell<[[u64; 2]; 256]>);

// SAFETY: written once by the guest before LIDT; read by the processor only.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([[0; 2]; 256]));

/// Present, DPL 0, type 1110B (64-bit interrupt gate).
const GATE_INTERRUPT: u64 = 0x8E;

unsafe extern "C" {
    fn guest_ud_stub();
    fn guest_irq_stub();
    fn guest_bp_stub();
}

fn gate(handler: u64) -> [u64; 2] {
    let low = (handler & 0xFFFF) | (CODE_SELECTOR as u64) << 16 | GATE_INTERRUPT << 40 | ((handler >> 16) & 0xFFFF) << 48;
    [low, handler >> 32]
}

/// Fills the gates and loads IDTR.
pub fn install() {
    let ud = guest_ud_stub as *const () as usize as u64;
    let irq = guest_irq_stub as *const () as usize as u64;
    let bp = guest_bp_stub as *const () as usize as u64;
    // SAFETY: the guest owns its IDT; the processor reads it only after LIDT below.
    unsafe {
        let idt = &mut *IDT.0.get();
        idt[VECTOR_UD as usize] = gate(ud);
        idt[VECTOR_BP as usize] = gate(bp);
        idt[INJECTED_VECTOR as usize] = gate(irq);
        crate::platform::cpu::lidt(IDT.0.get() as usize as u64, (256 * 16 - 1) as u16);
    }
}

core::arch::global_asm!(
    r#"
    .text
    .macro GUEST_STUB name, handler
    .globl \name
\name:
    push rax
    push rcx
    push rdx
    push rsi
    push rdi
    push r8
    push r9
    push r10
    push r11
    lea rdi, [rsp + 72]
    call \handler
    pop r11
    pop r10
    pop r9
    pop r8
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rax
    iretq
    .endm
    GUEST_STUB guest_ud_stub, guest_on_ud
    GUEST_STUB guest_irq_stub, guest_on_irq
    GUEST_STUB guest_bp_stub, guest_on_bp
"#
);
