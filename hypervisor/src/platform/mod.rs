//! Platform layer: what the hypervisor core needs from the machine it runs on: port I/O, MSR
//! and control-register access, the COM1 UART, physical frames, the identity-mapped page
//! tables, the GDT/TSS, the exception IDT, and powering off.
//!
//! Everything here is bare-metal PC: it is the same under hvbench and under GRUB on Bochs or
//! a real machine. The kernel runs identity-mapped, so a host-physical address is also the
//! address the code uses to reach it.

pub mod addr;
pub mod cpu;
pub mod frames;
pub mod gdt;
pub mod idt;
pub mod mem;
pub mod paging;
pub mod power;
pub mod serial;
