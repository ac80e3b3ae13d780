//! What the guest does, in order: each step makes the hypervisor handle one kind of exit, and
//! the guest prints what it observed (values that do not depend on the processor model).

use crate::gprintln;
use crate::vmm::handlers::{HC_ADD, HC_INJECT_INTERRUPT, INJECTED_VECTOR, MSR_SCRATCH};
use crate::vmm::{MSR_READ_TRAPPED, MSR_WRITE_TRAPPED};
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// IA32_FS_BASE: not in the MSR bitmap, so RDMSR does not exit.
const IA32_FS_BASE: u32 = 0xC000_0100;
/// Where the guest writes in the probe page.
const PROBE_OFFSET: u64 = 0x10;
/// The value written there.
const PROBE_VALUE: u64 = 0x05EE_D0FE_A7C0_FFEE;
/// RFLAGS.IF.
const RFLAGS_IF: u64 = 1 << 9;

/// Address of the UD2 the guest executes (set just before it).
#[unsafe(no_mangle)]
static GUEST_UD_SITE: AtomicU64 = AtomicU64::new(0);
/// Where the next injected interrupt should find the guest (the saved RIP its handler sees).
#[unsafe(no_mangle)]
static GUEST_IRQ_EXPECT: AtomicU64 = AtomicU64::new(0);
/// Address of the instruction after the INT3.
#[unsafe(no_mangle)]
static GUEST_AFTER_INT3: AtomicU64 = AtomicU64::new(0);
/// How many times each handler ran.
static UD_SEEN: AtomicU64 = AtomicU64::new(0);
static BP_SEEN: AtomicU64 = AtomicU64::new(0);
static IRQ_SEEN: AtomicU64 = AtomicU64::new(0);
/// CR4.VMXE.
const CR4_VMXE: u64 = 1 << 13;
/// `mov eax, 42; ret` (B8 2A 00 00 00 C3), copied to the execute probe page.
const EXEC_PROBE_CODE: [u8; 6] = [0xB8, 0x2A, 0x00, 0x00, 0x00, 0xC3];

fn cr4() -> u64 {
    let v: u64;
    // SAFETY: MOV from CR4 (bits the host owns read from the shadow).
    unsafe { asm!("mov {}, cr4", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: RDMSR in the guest: trapped or harmless.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nomem, nostack, preserves_flags)) };
    (hi as u64) << 32 | lo as u64
}

fn wrmsr(msr: u32, v: u64) {
    // SAFETY: WRMSR in the guest, to MSRs the hypervisor traps.
    unsafe { asm!("wrmsr", in("ecx") msr, in("eax") v as u32, in("edx") (v >> 32) as u32, options(nomem, nostack, preserves_flags)) };
}

fn vmcall(f: u64, b: u64, c: u64) -> u64 {
    let r: u64;
    // SAFETY: VMCALL exits to the hypervisor; RBX is saved around it by hand (LLVM reserves it).
    unsafe { asm!("xchg rbx, {b}", "vmcall", "xchg rbx, {b}", b = inout(reg) b => _, inout("rax") f => r, in("rcx") c, options(nostack)) };
    r
}

fn signature(b: u32, c: u32, d: u32) -> [u8; 12] {
    let mut s = [0u8; 12];
    s[..4].copy_from_slice(&b.to_le_bytes());
    s[4..8].copy_from_slice(&c.to_le_bytes());
    s[8..].copy_from_slice(&d.to_le_bytes());
    s
}

/// The guest's entry point (guest RIP at VMLAUNCH).
pub extern "C" fn guest_main() -> ! {
    super::idt::install();
    gprintln!("hello from VMX non-root operation (64-bit mode, CPL 0)");

    // CPUID: the hypervisor's leaves, and leaf 1 as the hypervisor edits it.
    let (max, b, c, d) = crate::platform::cpu::cpuid(0x4000_0000, 0);
    let sig = signature(b, c, d);
    gprintln!("CPUID 0x40000000: max leaf {max:#x}, signature \"{}\"", core::str::from_utf8(&sig).unwrap_or("?"));
    let (_, _, c1, _) = crate::platform::cpu::cpuid(1, 0);
    gprintln!("CPUID 1: ECX.hypervisor[31]={} ECX.VMX[5]={}", c1 >> 31, (c1 >> 5) & 1);

    // MSRs: a trapped read, a trapped write read back without a trap, a synthetic MSR.
    gprintln!("RDMSR IA32_APIC_BASE = {:#x}", rdmsr(MSR_READ_TRAPPED));
    wrmsr(MSR_WRITE_TRAPPED, 0x0023_0010_0000_0000);
    gprintln!("RDMSR IA32_STAR (not trapped) = {:#x}", rdmsr(MSR_WRITE_TRAPPED));
    gprintln!("RDMSR IA32_FS_BASE (not trapped) = {:#x}", rdmsr(IA32_FS_BASE));
    wrmsr(MSR_SCRATCH, 0x1234_5678_9ABC_DEF0);
    gprintln!("RDMSR {MSR_SCRATCH:#x} = {:#x}", rdmsr(MSR_SCRATCH));

    // I/O: an IN from the console port (immediate form).
    let v: u8;
    // SAFETY: trapped by the hypervisor.
    unsafe { asm!("in al, 0xE9", out("al") v, options(nomem, nostack, preserves_flags)) };
    gprintln!("IN 0xE9 = {v:#x}");

    // CR4: VMXE is the host's (guest/host mask): reads see the shadow, setting it exits.
    let c4 = cr4();
    gprintln!("CR4.VMXE as the guest reads it = {}", (c4 & CR4_VMXE) >> 13);
    // SAFETY: MOV to CR4 from RCX; the hypervisor drops the write.
    unsafe { asm!("mov cr4, rcx", in("rcx") c4 | CR4_VMXE, options(nomem, nostack, preserves_flags)) };
    gprintln!("after setting it: CR4.VMXE reads {}", (cr4() & CR4_VMXE) >> 13);

    // EPT: the probe page is not mapped until the first access.
    let probe = crate::platform::frames::probe_page().0 + PROBE_OFFSET;
    // SAFETY: the probe page is reserved for this; identity-mapped by the page tables.
    unsafe { (probe as *mut u64).write_volatile(PROBE_VALUE) };
    // SAFETY: as above.
    let back = unsafe { (probe as *const u64).read_volatile() };
    gprintln!("probe page at {probe:#x} reads back {back:#x} (wrote {PROBE_VALUE:#x})");
    // EPT: the execute probe page is readable and writable but not executable at first.
    let code = crate::platform::frames::exec_probe_page().0;
    // SAFETY: the page is reserved for this; writing it needs no EPT change.
    unsafe { core::ptr::copy_nonoverlapping(EXEC_PROBE_CODE.as_ptr(), code as *mut u8, EXEC_PROBE_CODE.len()) };
    // SAFETY: the page now holds `mov eax, 42; ret`, a C-ABI function returning 42.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute(code as usize) };
    gprintln!("code at {code:#x} returned {}", f());

    // #UD: trapped by the exception bitmap, reflected by the hypervisor to our IDT.
    // SAFETY: UD2 raises #UD; the handler skips it.
    unsafe { asm!("lea rax, [rip + 2f]", "mov [rip + GUEST_UD_SITE], rax", "2: ud2", out("rax") _, options(nostack)) };
    gprintln!("after UD2: #UD handler ran {} time(s)", UD_SEEN.load(Ordering::Relaxed));
    // #BP: a software exception; the hypervisor reflects it with the instruction length.
    // SAFETY: INT3 raises #BP; the handler returns after it.
    unsafe { asm!("lea rax, [rip + 2f]", "mov [rip + GUEST_AFTER_INT3], rax", "int3", "2:", out("rax") _, options(nostack)) };
    gprintln!("after INT3: #BP handler ran {} time(s)", BP_SEEN.load(Ordering::Relaxed));

    // An external interrupt injected at VM entry after the VMCALL (IF = 1, no STI blocking).
    // SAFETY: STI; NOP; VMCALL; CLI with RBX preserved; the injected vector has a gate.
    unsafe {
        asm!("lea rdx, [rip + 2f]", "mov [rip + GUEST_IRQ_EXPECT], rdx", "sti", "nop", "vmcall", "2: cli",
            inout("rax") HC_INJECT_INTERRUPT => _, out("rdx") _, options(nostack))
    };
    gprintln!("after VMCALL {HC_INJECT_INTERRUPT} with IF=1: interrupt handler ran {} time(s)", IRQ_SEEN.load(Ordering::Relaxed));
    // The same with IF = 0: the hypervisor waits for the interrupt window, which opens after
    // STI and the one instruction STI blocks interrupts for (SDM Vol. 3C 26.7.5, Table 25-3).
    // SAFETY: VMCALL; STI; NOP; NOP; CLI with RBX untouched; the injected vector has a gate.
    unsafe {
        asm!("lea rdx, [rip + 2f]", "mov [rip + GUEST_IRQ_EXPECT], rdx", "vmcall", "sti", "nop", "2: nop", "cli",
            inout("rax") HC_INJECT_INTERRUPT => _, out("rdx") _, options(nostack))
    };
    gprintln!("after VMCALL {HC_INJECT_INTERRUPT} with IF=0, STI, NOP: interrupt handler ran {} time(s)", IRQ_SEEN.load(Ordering::Relaxed));

    gprintln!("VMCALL {HC_ADD} (40 + 2) = {}", vmcall(HC_ADD, 40, 2));
    gprintln!("halting");
    loop {
        // SAFETY: HLT exits to the hypervisor, which does not resume the guest.
        unsafe { asm!("hlt", options(nomem, nostack)) };
    }
}

/// #UD handler: the saved RIP must be the UD2; skip its two bytes.
#[unsafe(no_mangle)]
extern "C" fn guest_on_ud(frame: *mut u64) {
    // SAFETY: `frame` points at the processor's interrupt stack frame (RIP first).
    let rip = unsafe { frame.read() };
    let at_site = rip == GUEST_UD_SITE.load(Ordering::Relaxed);
    gprintln!("#UD delivered through the guest IDT, saved RIP is the UD2: {at_site}");
    UD_SEEN.fetch_add(1, Ordering::Relaxed);
    if at_site {
        // SAFETY: as above; UD2 is two bytes long.
        unsafe { frame.write(rip + 2) };
    }
}

/// #BP handler: INT3 is a trap, the saved RIP is the next instruction.
#[unsafe(no_mangle)]
extern "C" fn guest_on_bp(frame: *mut u64) {
    // SAFETY: `frame` points at the processor's interrupt stack frame (RIP first).
    let rip = unsafe { frame.read() };
    gprintln!("#BP delivered through the guest IDT, saved RIP is after the INT3: {}", rip == GUEST_AFTER_INT3.load(Ordering::Relaxed));
    BP_SEEN.fetch_add(1, Ordering::Relaxed);
}

/// Handler of the injected external interrupt.
#[unsafe(no_mangle)]
extern "C" fn guest_on_irq(frame: *mut u64) {
    // SAFETY: `frame` points at the interrupt stack frame: RIP, CS, RFLAGS, RSP, SS.
    let (rip, rflags) = unsafe { (frame.read(), frame.add(2).read()) };
    let expected = rip == GUEST_IRQ_EXPECT.load(Ordering::Relaxed);
    gprintln!("vector {INJECTED_VECTOR:#x} delivered: saved RIP as expected: {expected}, saved RFLAGS.IF={}", (rflags & RFLAGS_IF) >> 9);
    IRQ_SEEN.fetch_add(1, Ordering::Relaxed);
}
