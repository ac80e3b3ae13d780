//! A multiboot2 kernel that runs VMX conformance cases ([`crate::cases`]) one after the
//! other and prints each one's transcript on COM1: the benchmark kernels' boot
//! (`hvbench::bench::boot`: COM1 8N1, identity paging, IA-32e mode), then the sandbox's machine
//! state rebuilt at the sandbox's addresses, so that the shared VMCS and host programs are
//! valid unchanged:
//!
//! - GDT at 0x1000 (the sandbox's descriptors, 64-bit TSS at selector 0x40 with base 0x3000,
//!   loaded with LTR: VM entry checks the host TR, SDM 27.2.3), IDT at 0x2000 whose 32 gates
//!   lead to stubs at 0x4000, page tables at 0x10000 (4 GiB of 2-MiB pages, U/S set);
//! - CR0 = 0x80010031, CR4 = 0x620, IA32_EFER = LME|LMA|NXE|SCE, as the sandbox;
//! - IA32_FEATURE_CONTROL: locked with VMX enabled by Bochs and by hvbench's machine; if a
//!   machine leaves it unlocked, the kernel writes 5 (lock, VMX outside SMX).
//!
//! Per case: CR4.VMXE = 0; the VMXON/VMCS regions, bitmaps, EPT tables and DATA_BASE page
//! zeroed and set up as the sandbox does (the revision identifier read from IA32_VMX_BASIC
//! at run time: it is model-specific); the case's pokes; its host program copied to
//! CODE_BASE, its HOST_RIP code to HOST_RIP and its guest to GUEST_RIP (or REAL_GUEST); then
//! the host program runs. It ends (fall-through or exit) by jumping through [`RESUME`] to the
//! case's report, which prints the transcript lines (VMREAD for fields), then VMCLEAR and
//! VMXOFF. An exception in the host is recorded (vector at VECTOR_SLOT, kind 3) and also
//! resumes through [`RESUME`]; an exception in the guest (RIP inside the guest's code) is
//! recorded and the stub halts, as the sandbox's stubs do. After the last case the kernel
//! prints `vmx_oracle end` and powers off.

use crate::cases::{self, Case};
use crate::layout::*;
use hvbench::bench::boot::{self, Layout, Paging};
use hvbench::bench::elf::Header;
use hvbench_cpu::sandbox::{CODE_BASE, DATA_BASE, VECTOR_SLOT};
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

/// Where the kernel's segment goes: above everything the cases use (up to the EPT tables at
/// 0x500000).
const BASE: u32 = 0x60_0000;
/// The kernel's stack.
const KSTACK: u64 = 0x6_0000;
/// Where the report (or the next step) continues: a qword holding an address.
const RESUME: u64 = 0x5200;
/// The VMCS revision identifier read from IA32_VMX_BASIC.
const REV: u64 = 0x5208;
/// GDTR and IDTR images.
const GDTR_IMAGE: u64 = 0x5100;
const IDTR_IMAGE: u64 = 0x5110;
const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const TSS: u64 = 0x3000;
const STUBS: u64 = 0x4000;
const PML4: u64 = 0x1_0000;
/// The sandbox's GDT (hvbench_cpu::sandbox): null, 64-bit code 0x08, data 0x10, 32-bit code,
/// 16-bit code, ring-3 data, ring-3 64-bit code, ring-3 32-bit code, then the TSS at 0x40.
const GDT_ENTRIES: [u64; 8] = [
    0,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00cf_9a00_0000_ffff,
    0x000f_9a00_0000_ffff,
    0x00cf_f200_0000_ffff,
    0x00af_fa00_0000_ffff,
    0x00cf_fa00_0000_ffff,
];
/// Exceptions that push an error code (SDM Vol. 3A 6.15): 8, 10-14, 17, 21, 29, 30.
const ERROR_CODE_VECTORS: u64 = 1 << 8 | 0x1f << 10 | 1 << 17 | 1 << 21 | 1 << 29 | 1 << 30;

type R = Result<(), IcedError>;

/// Stores the 64-bit constant `v` at `addr` (clobbers RAX, RBX).
fn store(a: &mut CodeAssembler, addr: u64, size: u8, v: u64) -> R {
    a.mov(rax, v)?;
    a.mov(rbx, addr)?;
    match size {
        1 => a.mov(byte_ptr(rbx), al),
        2 => a.mov(word_ptr(rbx), ax),
        4 => a.mov(dword_ptr(rbx), eax),
        _ => a.mov(qword_ptr(rbx), rax),
    }
}

/// Zeroes `len` bytes (a multiple of 8) at `addr` (clobbers RAX, RCX, RDI).
fn zero(a: &mut CodeAssembler, addr: u64, len: u64) -> R {
    a.mov(rdi, addr)?;
    a.mov(rcx, len / 8)?;
    a.xor(eax, eax)?;
    a.rep().stosq()
}

/// Copies the bytes at `from` (a label) to `to` (clobbers RSI, RDI, RCX).
fn copy(a: &mut CodeAssembler, from: CodeLabel, to: u64, len: usize) -> R {
    a.lea(rsi, ptr(from))?;
    a.mov(rdi, to)?;
    a.mov(rcx, len as u64)?;
    a.rep().movsb()
}

/// `RESUME = label` (clobbers RAX, RBX).
fn set_resume(a: &mut CodeAssembler, l: CodeLabel) -> R {
    a.lea(rax, ptr(l))?;
    a.mov(rbx, RESUME)?;
    a.mov(qword_ptr(rbx), rax)
}

/// The sandbox's machine state (see the module documentation).
fn machine_setup(a: &mut CodeAssembler, exc: CodeLabel) -> R {
    a.mov(rsp, KSTACK)?;
    a.cld()?;
    zero(a, GDT, 0x5000)?; // GDT, IDT, TSS, stubs, VECTOR_SLOT and the images
    zero(a, PML4, 0x6000)?;
    for (i, d) in GDT_ENTRIES.iter().enumerate() {
        store(a, GDT + 8 * i as u64, 8, *d)?;
    }
    // 64-bit TSS descriptor (limit 0x67, type 9, base TSS), as the sandbox.
    store(a, GDT + 0x40, 8, 0x67 | (TSS & 0xff_ffff) << 16 | 0x89 << 40 | (TSS >> 24) << 56)?;
    store(a, TSS + 4, 8, 0x8_0000)?;
    store(a, TSS + 0x24, 8, 0x7_f000)?;
    // Stubs: push v; jmp exc (16 bytes apart), assembled here so that the jump reaches.
    for v in 0..32u64 {
        let h = STUBS + 16 * v;
        store(a, IDT + 16 * v, 8, (h & 0xffff) | 0x08 << 16 | 0x8e << 40 | (h >> 16) << 48)?;
    }
    // Each stub: 6A v (push imm8), 48 B8 imm64 (mov rax, exc), FF E0 (jmp rax): 14 bytes.
    a.lea(rdx, ptr(exc))?;
    for v in 0..32u64 {
        let h = STUBS + 16 * v;
        store(a, h, 4, 0xb848_006a | v << 8)?;
        a.mov(rbx, h + 4)?;
        a.mov(qword_ptr(rbx), rdx)?;
        store(a, h + 12, 2, 0xe0ff)?;
    }
    // Page tables: PML4[0] -> PDPT; PDPT[0..4] -> four PDs of 2-MiB pages (U/S, RW, P).
    store(a, PML4, 8, (PML4 + 0x1000) | 7)?;
    for i in 0..4u64 {
        store(a, PML4 + 0x1000 + 8 * i, 8, (PML4 + 0x2000 + 0x1000 * i) | 7)?;
    }
    let mut fill = a.create_label();
    a.mov(rdi, PML4 + 0x2000)?;
    a.mov(rax, 0x87u64)?;
    a.mov(ecx, 4 * 512)?;
    a.set_label(&mut fill)?;
    a.mov(qword_ptr(rdi), rax)?;
    a.add(rax, 0x20_0000)?;
    a.add(rdi, 8)?;
    a.dec(ecx)?;
    a.jnz(fill)?;
    // Control registers and EFER, then the tables.
    a.mov(rax, 0x8001_0031u64)?;
    a.mov(cr0, rax)?;
    a.mov(rax, PML4)?;
    a.mov(cr3, rax)?;
    a.mov(eax, 0x620)?;
    a.mov(cr4, rax)?;
    // IA32_EFER: NXE and SCE added to LME/LMA as the boot left them.
    a.mov(ecx, 0xc000_0080u32)?;
    a.rdmsr()?;
    a.or(eax, 0x801)?;
    a.wrmsr()?;
    store(a, GDTR_IMAGE, 2, 0x4f)?;
    store(a, GDTR_IMAGE + 2, 8, GDT)?;
    store(a, IDTR_IMAGE, 2, 0x1ff)?;
    store(a, IDTR_IMAGE + 2, 8, IDT)?;
    a.mov(rbx, GDTR_IMAGE)?;
    a.lgdt(ptr(rbx))?;
    a.mov(rbx, IDTR_IMAGE)?;
    a.lidt(ptr(rbx))?;
    a.mov(eax, 0x10)?;
    for s in [ds, es, fs, gs, ss] {
        a.mov(s, ax)?;
    }
    a.mov(eax, 0x40)?;
    a.ltr(ax)?;
    // IA32_FEATURE_CONTROL: lock with VMX outside SMX unless already locked.
    let mut locked = a.create_label();
    a.mov(ecx, 0x3a)?;
    a.rdmsr()?;
    a.test(eax, 1)?;
    a.jnz(locked)?;
    a.mov(eax, 5)?;
    a.xor(edx, edx)?;
    a.wrmsr()?;
    a.set_label(&mut locked)?;
    a.nop()
}

/// The common exception handler (see the module documentation).
fn exception_handler(a: &mut CodeAssembler) -> R {
    let mut no_code = a.create_label();
    let mut host = a.create_label();
    let mut guest = a.create_label();
    a.pop(rax)?;
    a.mov(rcx, ERROR_CODE_VECTORS)?;
    a.bt(rcx, rax)?;
    a.jnc(no_code)?;
    a.add(rsp, 8)?;
    a.set_label(&mut no_code)?;
    a.mov(rbx, VECTOR_SLOT)?;
    a.mov(byte_ptr(rbx), al)?;
    a.mov(rcx, qword_ptr(rsp))?;
    a.mov(rdx, GUEST_RIP)?;
    a.sub(rcx, rdx)?;
    a.cmp(rcx, 0x4000)?;
    a.jae(host)?;
    a.set_label(&mut guest)?;
    a.hlt()?;
    a.jmp(guest)?;
    a.set_label(&mut host)?;
    a.mov(rsp, KSTACK)?;
    a.mov(rbx, RESULT_KIND)?;
    a.mov(qword_ptr(rbx), cases::KIND_EXCEPTION as i32)?;
    a.mov(rbx, RESUME)?;
    a.jmp(qword_ptr(rbx))
}

/// `print_line`: writes the NUL-terminated string at RSI, then RBX as 16 hex digits and a
/// newline (clobbers RAX, RCX, RDX, RSI).
fn print_line(a: &mut CodeAssembler) -> R {
    let (mut s, mut hex, mut h, mut digit) = (a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.nop()?; // the caller's label is on this instruction
    a.set_label(&mut s)?;
    a.mov(al, byte_ptr(rsi))?;
    a.test(al, al)?;
    a.jz(hex)?;
    boot::put_al(a)?;
    a.inc(rsi)?;
    a.jmp(s)?;
    a.set_label(&mut hex)?;
    a.mov(ecx, 16)?;
    a.set_label(&mut h)?;
    a.rol(rbx, 4)?;
    a.mov(al, bl)?;
    a.and(al, 0xf)?;
    a.add(al, b'0' as u32)?;
    a.cmp(al, b'9' as u32)?;
    a.jbe(digit)?;
    a.add(al, (b'a' - b'9' - 1) as u32)?;
    a.set_label(&mut digit)?;
    boot::put_al(a)?;
    a.dec(ecx)?;
    a.jnz(h)?;
    a.mov(al, b'\n' as u32)?;
    boot::put_al(a)?;
    a.ret()
}

/// Bytes (strings and blobs) placed after the code.
struct Data {
    items: Vec<(CodeLabel, Vec<u8>)>,
}

impl Data {
    fn add(&mut self, a: &mut CodeAssembler, bytes: Vec<u8>) -> CodeLabel {
        let l = a.create_label();
        self.items.push((l, bytes));
        l
    }
    fn string(&mut self, a: &mut CodeAssembler, s: &str) -> CodeLabel {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.add(a, b)
    }
}

/// VMREAD of `field` into RBX (0 if VMREAD fails; clobbers RCX).
fn vmread_rbx(a: &mut CodeAssembler, field: u32) -> R {
    a.xor(ebx, ebx)?;
    a.mov(rcx, field as u64)?;
    a.vmread(rbx, rcx)
}

/// One case: set-up, run, report, clean-up; continues at `next`.
fn one_case(a: &mut CodeAssembler, d: &mut Data, c: &Case, print: CodeLabel, next: CodeLabel) -> R {
    let mut report = a.create_label();
    let mut cleanup = a.create_label();
    a.mov(rsp, KSTACK)?;
    set_resume(a, report)?;
    a.mov(eax, 0x620)?;
    a.mov(cr4, rax)?;
    zero(a, VMXON_REGION, 0x3000)?;
    zero(a, IO_BITMAP_A, 0x3000)?;
    zero(a, EPT_PML4, 0x2000)?;
    zero(a, DATA_BASE, 0x1000)?;
    store(a, VECTOR_SLOT, 8, 0)?;
    // Revision identifier: IA32_VMX_BASIC[30:0].
    a.mov(ecx, 0x480)?;
    a.rdmsr()?;
    a.and(eax, 0x7fff_ffff)?;
    a.mov(rbx, REV)?;
    a.mov(qword_ptr(rbx), rax)?;
    for r in [VMXON_REGION, VMCS_REGION] {
        a.mov(rbx, r)?;
        a.mov(dword_ptr(rbx), eax)?;
    }
    store(a, PTR_VMXON, 8, VMXON_REGION)?;
    store(a, PTR_VMCS, 8, VMCS_REGION)?;
    store(a, EPT_PML4, 8, (EPT_PML4 + 0x1000) | 7)?;
    for i in 0..4u64 {
        store(a, EPT_PML4 + 0x1000 + 8 * i, 8, (i << 30) | 0x80 | 6 << 3 | 7)?;
    }
    for k in c.pokes {
        a.mov(rax, k.value)?;
        if k.rev {
            a.mov(rbx, REV)?;
            a.or(rax, qword_ptr(rbx))?;
        }
        a.mov(rbx, k.addr)?;
        match k.size {
            1 => a.mov(byte_ptr(rbx), al)?,
            2 => a.mov(word_ptr(rbx), ax)?,
            4 => a.mov(dword_ptr(rbx), eax)?,
            _ => a.mov(qword_ptr(rbx), rax)?,
        }
    }
    let finish = |a: &mut CodeAssembler| -> R {
        a.mov(rbx, RESUME)?;
        a.jmp(qword_ptr(rbx))
    };
    let host = cases::host_program(c, CODE_BASE, &cases::case_fields(c), &finish);
    let exit = cases::exit_program(c, &finish);
    let (hl, xl) = (host.len(), exit.len());
    let (hlab, xlab) = (d.add(a, host), d.add(a, exit));
    copy(a, hlab, CODE_BASE, hl)?;
    copy(a, xlab, HOST_RIP, xl)?;
    if let Some((at, bytes)) = cases::guest_bytes(c) {
        let n = bytes.len();
        let g = d.add(a, bytes);
        copy(a, g, at, n)?;
    }
    a.mov(rax, CODE_BASE)?;
    a.jmp(rax)?;

    // Report: the transcript lines in the order of cases::expected_lines.
    a.set_label(&mut report)?;
    a.mov(rsp, KSTACK)?;
    set_resume(a, cleanup)?;
    let line = |a: &mut CodeAssembler, d: &mut Data, label: &str| -> R {
        let s = d.string(a, &format!("{} {label}=", c.name));
        a.lea(rsi, ptr(s))?;
        a.call(print)
    };
    a.mov(rbx, RESULT_KIND)?;
    a.mov(rbx, qword_ptr(rbx))?;
    a.mov(rdi, rbx)?;
    line(a, d, "kind")?;
    a.cmp(rdi, c.outcome.kind() as i32)?;
    a.jne(cleanup)?;
    for (label, _) in cases::outcome_values(c.outcome) {
        match label {
            "exit_reason" => vmread_rbx(a, enc::EXIT_REASON)?,
            "vm_instruction_error" => vmread_rbx(a, enc::VM_INSTRUCTION_ERROR)?,
            "rflags_cf_zf" => {
                a.mov(rbx, RESULT_FLAGS)?;
                a.mov(rbx, qword_ptr(rbx))?;
                a.and(ebx, (CF | ZF) as u32)?;
            }
            _ => {
                a.mov(rbx, VECTOR_SLOT)?;
                a.movzx(ebx, byte_ptr(rbx))?;
            }
        }
        line(a, d, label)?;
    }
    for f in c.fields {
        vmread_rbx(a, f.field)?;
        a.mov(rax, f.mask)?;
        a.and(rbx, rax)?;
        line(a, d, &cases::field_name(f.field))?;
    }
    for m in c.mem {
        a.mov(rbx, m.addr)?;
        match m.size {
            1 => a.movzx(ebx, byte_ptr(rbx))?,
            2 => a.movzx(ebx, word_ptr(rbx))?,
            4 => a.mov(ebx, dword_ptr(rbx))?,
            _ => a.mov(rbx, qword_ptr(rbx))?,
        }
        line(a, d, &cases::mem_label(m.addr))?;
    }

    // Clean-up: leave VMX operation (an #UD here, outside it, goes straight to `next`).
    a.set_label(&mut cleanup)?;
    a.mov(rsp, KSTACK)?;
    set_resume(a, next)?;
    a.mov(rbx, PTR_VMCS)?;
    a.vmclear(qword_ptr(rbx))?;
    a.vmxoff()?;
    a.jmp(next)
}

/// The kernel running `list` in order.
pub fn build(list: &[&Case]) -> Vec<u8> {
    let mut room = 0x1000u32;
    loop {
        let layout = Layout { base: BASE, code_room: room };
        let code = code64(layout, list);
        if code.len() <= room as usize {
            return boot::image(layout, Header::Multiboot2, Paging::Large, &code).expect("the kernel fits its layout");
        }
        room = (code.len() as u32).next_multiple_of(0x1000);
    }
}

fn code64(layout: Layout, list: &[&Case]) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    let mut d = Data { items: Vec::new() };
    let r: R = (|| {
        let mut exc = a.create_label();
        let mut print = a.create_label();
        let mut labels: Vec<CodeLabel> = (0..=list.len()).map(|_| a.create_label()).collect();
        machine_setup(&mut a, exc)?;
        for (i, c) in list.iter().enumerate() {
            a.set_label(&mut labels[i])?;
            one_case(&mut a, &mut d, c, print, labels[i + 1])?;
        }
        a.set_label(&mut labels[list.len()])?;
        a.mov(rsp, KSTACK)?;
        let end = d.string(&mut a, "vmx_oracle end=");
        a.lea(rsi, ptr(end))?;
        a.xor(ebx, ebx)?;
        a.call(print)?;
        boot::power_off(&mut a)?;
        a.set_label(&mut exc)?;
        exception_handler(&mut a)?;
        a.set_label(&mut print)?;
        print_line(&mut a)?;
        for (mut l, bytes) in std::mem::take(&mut d.items) {
            a.set_label(&mut l)?;
            a.db(&bytes)?;
        }
        Ok(())
    })();
    r.expect("the kernel assembles");
    a.assemble(layout.entry64() as u64).expect("the kernel assembles")
}
