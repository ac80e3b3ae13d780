//! The guest: a small 64-bit kernel that runs in VMX non-root operation on the hypervisor's
//! page tables (identity through EPT) and exercises each exit the core handles, printing what
//! it sees through the console port the hypervisor traps.
//!
//! It shares the image with the hypervisor but nothing else: its own stack, its own IDT, and
//! only instructions a guest may execute (CPUID, RDMSR/WRMSR, IN/OUT, VMCALL, HLT, UD2).

pub mod console;
pub mod idt;
pub mod program;

/// Size of the guest's stack.
pub const STACK_SIZE: usize = 16 * 1024;

/// The guest's stack.
#[repr(C, align(16))]
pub struct Stack(core::cell::UnsafeCell<[u8; STACK_SIZE]>);

// SAFETY: used only by the guest, as its stack.
unsafe impl Sync for Stack {}

static STACK: Stack = Stack(core::cell::UnsafeCell::new([0; STACK_SIZE]));

/// The guest's initial RSP: the top of its stack minus 8, as after a CALL (SysV ABI: RSP + 8
/// is 16-byte aligned at function entry).
pub fn initial_rsp() -> u64 {
    (STACK.0.get() as usize as u64) + STACK_SIZE as u64 - 8
}

/// The guest's first instruction.
pub fn entry() -> u64 {
    program::guest_main as *const () as usize as u64
}
