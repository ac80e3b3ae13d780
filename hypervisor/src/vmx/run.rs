//! The world switch: VMLAUNCH/VMRESUME with the guest's general-purpose registers loaded, and
//! the host entry point that VM exits land on (the VMCS host RIP).
//!
//! The guest's RSP, RIP and RFLAGS live in the VMCS; the other fifteen registers live in a
//! [`GuestRegs`] between runs. [`enter`] saves the host's callee-saved registers and the
//! `GuestRegs` pointer on the stack, writes that stack pointer into the host-RSP field (6C14H), loads
//! the guest registers and executes VMLAUNCH or VMRESUME. A VM exit arrives at `vmx_exit`
//! with RSP = host RSP (SDM Vol. 3C 28.5.1 "Loading Host Control Registers, Debug Registers,
//! MSRs": RSP and RIP come from the host-state area), stores the guest registers and returns
//! from [`enter`]. If the instruction fails instead (31.3 VMLAUNCH/VMRESUME: VMfailInvalid or
//! VMfailValid, execution goes on with the next instruction), [`enter`] returns the RFLAGS
//! that tell which.

use super::insn::{VmFail, vmread};

/// The guest's general-purpose registers except RSP (index = register number, RSP's slot
/// unused).
#[repr(C)]
#[derive(Debug, Default, Clone)]
pub struct GuestRegs {
    /// RAX, RCX, RDX, RBX, (RSP), RBP, RSI, RDI, R8-R15.
    pub gpr: [u64; 16],
}

/// Register numbers.
pub mod reg {
    /// RAX.
    pub const RAX: usize = 0;
    /// RCX.
    pub const RCX: usize = 1;
    /// RDX.
    pub const RDX: usize = 2;
    /// RBX.
    pub const RBX: usize = 3;
    /// RSI.
    pub const RSI: usize = 6;
    /// RDI.
    pub const RDI: usize = 7;
}

unsafe extern "C" {
    fn vmx_enter(regs: *mut GuestRegs, resume: u64) -> u64;
    fn vmx_exit();
}

/// The address VM exits continue at (the VMCS host-RIP field).
pub fn exit_entry() -> u64 {
    vmx_exit as *const () as usize as u64
}

/// Runs the guest until the next VM exit (`Ok`) or a failed VMLAUNCH/VMRESUME (`Err`).
///
/// # Safety
/// The current VMCS must be fully set up, with host RIP = [`exit_entry`] and host state that
/// is this kernel's own (segments, CR3, GDT/IDT, TR).
pub unsafe fn enter(regs: &mut GuestRegs, resume: bool) -> Result<(), VmFail> {
    // SAFETY: the caller's contract; vmx_enter preserves the SysV callee-saved registers.
    let flags = unsafe { vmx_enter(regs, resume as u64) };
    if flags == 0 {
        Ok(())
    } else if flags & 1 != 0 {
        Err(VmFail::Invalid)
    } else {
        Err(VmFail::Valid(vmread(0x4400).unwrap_or(0) as u32))
    }
}

core::arch::global_asm!(
    r#"
    .text
    .globl vmx_enter
vmx_enter:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    push rdi
    mov rax, 0x6C14
    vmwrite rax, rsp
    cmp rsi, 0
    mov rax, [rdi + 0]
    mov rcx, [rdi + 8]
    mov rdx, [rdi + 16]
    mov rbx, [rdi + 24]
    mov rbp, [rdi + 40]
    mov rsi, [rdi + 48]
    mov r8,  [rdi + 64]
    mov r9,  [rdi + 72]
    mov r10, [rdi + 80]
    mov r11, [rdi + 88]
    mov r12, [rdi + 96]
    mov r13, [rdi + 104]
    mov r14, [rdi + 112]
    mov r15, [rdi + 120]
    mov rdi, [rdi + 56]
    jne 1f
    vmlaunch
    jmp 2f
1:  vmresume
2:  pushfq
    pop rax
    pop rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

    .globl vmx_exit
vmx_exit:
    push rdi
    mov rdi, [rsp + 8]
    mov [rdi + 0], rax
    mov [rdi + 8], rcx
    mov [rdi + 16], rdx
    mov [rdi + 24], rbx
    mov [rdi + 40], rbp
    mov [rdi + 48], rsi
    mov [rdi + 64], r8
    mov [rdi + 72], r9
    mov [rdi + 80], r10
    mov [rdi + 88], r11
    mov [rdi + 96], r12
    mov [rdi + 104], r13
    mov [rdi + 112], r14
    mov [rdi + 120], r15
    pop rax
    mov [rdi + 56], rax
    pop rdi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    xor eax, eax
    ret
"#
);
