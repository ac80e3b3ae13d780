//! hvbench's hypervisor core, first slice: a bare-metal VT-x hypervisor in one multiboot2
//! image that boots the same way under hvbench and under GRUB (Bochs here, real hardware
//! elsewhere), runs one 64-bit guest under EPT and VPID, handles its CPUID, MSR, I/O, EPT-
//! violation, exception, VMCALL and HLT exits, injects an exception and an interrupt, and
//! powers off. Everything it prints is independent of the processor model, so the COM1
//! transcript is the same on every correct VMX implementation.
//!
//! Layers, bottom up (ARCHITECTURE.md "The hypervisor core"): [`boot`] (multiboot2 header,
//! 32-bit entry, IA-32e mode) -> [`platform`] (UART, frames, page tables, GDT/TSS, power) ->
//! [`vmx`] (VMX instructions, typed VMCS fields, capabilities, EPT, world switch) -> [`vmm`]
//! (the core: VMX bring-up, VMCS setup, exit dispatch) -> [`guest`] (the guest program).
//!
//! Intel SDM revision cited: 325462-083US (March 2024).
#![no_std]
#![no_main]

pub mod boot;
pub mod guest;
pub mod platform;
pub mod vmm;
pub mod vmx;

use platform::addr::GuestPhys;
use platform::power::power_off;
use vmm::setup::GuestSpec;

/// Guest-physical memory the EPT maps (the guest uses only the image, its stack and the
/// probe page, all below 8 MiB; 64 MiB fits every RAM size hvbench and Bochs use here).
const GUEST_RAM: u64 = 64 << 20;

/// isa-debug-exit status for a run that went wrong (the exit status is (v << 1) | 1).
const FAILURE: u32 = 1;

/// The 64-bit entry, called by [`boot`] with the multiboot2 magic and information address.
#[unsafe(no_mangle)]
pub extern "C" fn hv_main(magic: u32, _info: u32) -> ! {
    platform::serial::init();
    println!("hvcore: first slice");
    if magic != boot::MB2_BOOTLOADER_MAGIC {
        println!("hvcore: not booted by a multiboot2 loader (EAX={magic:#x})");
        power_off(FAILURE);
    }
    platform::gdt::load_tss();
    platform::idt::install();
    // No external interrupts: mask both 8259As (the guest enables IF only around the
    // injected interrupt, which the hypervisor makes itself).
    platform::cpu::outb(0x21, 0xFF);
    platform::cpu::outb(0xA1, 0xFF);
    let spec = GuestSpec {
        rip: guest::entry(),
        rsp: guest::initial_rsp(),
        probe: GuestPhys(platform::frames::probe_page().0),
        exec_probe: GuestPhys(platform::frames::exec_probe_page().0),
        ram: GUEST_RAM,
    };
    match vmm::run(spec) {
        Ok(vm) if !vm.failed => {
            println!("hvcore: {} VM exits ({} of them console OUTs); powering off", vm.exits, vm.console_outs);
            power_off(0)
        }
        Ok(vm) => {
            println!("hvcore: the guest failed after {} VM exits", vm.exits);
            power_off(FAILURE)
        }
        Err(e) => {
            println!("hvcore: {e:?}");
            power_off(FAILURE)
        }
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    println!("hvcore: panic: {info}");
    power_off(FAILURE)
}
