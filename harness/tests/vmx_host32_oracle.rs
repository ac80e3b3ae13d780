//! A 32-bit VMX host booted as a multiboot2 kernel under `hvbench run` and under Bochs 2.7 with
//! VT-x, its transcript compared with the SDM's values (SDM Vol. 3C) and line by line between
//! the two. The kernel leaves IA-32e mode (the benchmark boot enters it): a far return to a
//! 32-bit code segment, CR0.PG = 0 (IA32_EFER.LMA = 0), IA32_EFER.LME = 0, then 32-bit paging
//! with 4-MByte pages (`vmx/tests/common/layout32.rs`). It then runs, each with VMCLEAR,
//! VMPTRLD, a VMWRITE per field (64-bit fields in halves) and VMLAUNCH:
//!
//! - `exit32`: a 32-bit guest's CPUID exits (reason 10) to the 32-bit host ("host
//!   address-space size" = 0): the host code at HOST_RIP is 32-bit code (CS.D = 1, CS.L = 0,
//!   28.5.2), IA32_EFER.LMA = LME = 0, CR3 and CR4 from the host fields (28.5.1), RFLAGS = 2
//!   (28.5.3), CS and TR selectors from the fields, GDTR and IDTR limits FFFFH (28.5.2);
//! - `exit_pae`: the same exit to a host with PAE paging whose CR3 (PDPT_B) differs from the
//!   paging in use before: the PDPTEs are loaded from host CR3 (28.5.4), so the host reads the
//!   marker at linear C000_0000H through PDPTE3;
//! - `host64_outside_ia32e`, `ia32e_guest_outside_ia32e`, `host_pcide`, `host_rip_high`:
//!   VMfailValid(8) (27.2.4: outside IA-32e mode "host address-space size" and "IA-32e mode
//!   guest" must be 0; with "host address-space size" = 0 host CR4.PCIDE and host RIP bits
//!   63:32 must be 0; the RIP was written by 64-bit code into a second VMCS before the kernel
//!   left IA-32e mode, since a 32-bit VMWRITE cannot set those bits).
//!
//! VMX aborts are left out (the processor shuts down: there is nothing to print; they are
//! tested in the sandbox, `vmx/tests/host32.rs`). Without Bochs or GRUB the Bochs test prints
//! "SKIPPED: ..." and passes.

#[path = "../../vmx/tests/common/layout.rs"]
mod layout;

#[path = "../../vmx/tests/common/layout32.rs"]
mod layout32;

use hvbench::bench::boot::{self, Layout, Paging};
use hvbench::bench::elf::Header;
use hvbench_cpu::sandbox::DATA_BASE;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;
use iced_x86::BlockEncoderOptions;
use layout::*;
use layout32::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The kernel's segment (above everything the tests use).
const BASE: u32 = 0x80_0000;
/// Where the 32-bit part is copied and runs.
const ADDR32: u64 = 0x9_0000;
/// The sandbox's GDT at 1000H: null, 64-bit code 08H, data 10H, 32-bit code 18H; GDTR image.
const GDT: u64 = 0x1000;
const GDTR_IMAGE: u64 = 0x5100;
const GDT_ENTRIES: [u64; 4] = [0, 0x00af_9a00_0000_ffff, 0x00cf_9200_0000_ffff, 0x00cf_9a00_0000_ffff];
/// The host's stack before VMLAUNCH.
const KSTACK: u32 = 0x7_0000;
/// A second VMCS whose HOST_RIP field 64-bit code wrote (bits 63:32 set) before the kernel left
/// IA-32e mode, and its pointer.
const VMCS_B: u64 = 0x30_2000;
const PTR_VMCS_B: u64 = DATA_BASE + 0x30;
/// The host RIP value 64-bit code writes into VMCS_B.
const RIP_HIGH: u64 = 1 << 32 | HOST_RIP;
/// The last line.
const END: &str = "host32 end=00000000";

type R = Result<(), IcedError>;
/// Code that leaves a value in EBX.
type Reader = fn(&mut CodeAssembler) -> R;

/// One test: its name, the VMCS, and what the host prints after the exit (`Some`: read into
/// EBX by the code) or nothing (a VMfailValid is expected: it prints the error).
struct Test {
    name: &'static str,
    /// The VMCS pointer's location (PTR_VMCS, or PTR_VMCS_B).
    vmcs_ptr: u64,
    fields: Vec<(u32, u64)>,
    after_exit: &'static [(&'static str, Reader)],
}

fn tests() -> Vec<Test> {
    let p = Profile::default_profile();
    let mut host64 = vmcs32(&p, CR4_PSE, PD32);
    let v = get(&host64, enc::EXIT_CONTROLS);
    set(&mut host64, enc::EXIT_CONTROLS, v | HOST_64);
    let mut ia32e = vmcs32(&p, CR4_PSE, PD32);
    let v = get(&ia32e, enc::ENTRY_CONTROLS);
    set(&mut ia32e, enc::ENTRY_CONTROLS, v | IA32E_GUEST);
    // HOST_RIP keeps what 64-bit code wrote (VMCS data survive VMCLEAR, VMXOFF and VMPTRLD,
    // 25.11.1); a 32-bit VMWRITE could not set bits 63:32.
    let mut rip_high = vmcs32(&p, CR4_PSE, PD32);
    rip_high.retain(|e| e.0 != enc::HOST_RIP);
    vec![
        Test {
            name: "exit32",
            vmcs_ptr: PTR_VMCS,
            fields: vmcs32(&p, CR4_PSE, PD32),
            after_exit: &[
                ("exit_reason", |a| vmread(a, enc::EXIT_REASON)),
                ("efer_lma_lme", |a| {
                    a.mov(ecx, 0xc000_0080u32)?;
                    a.rdmsr()?;
                    a.mov(ebx, eax)?;
                    a.and(ebx, 0x500)
                }),
                ("cr3", |a| {
                    a.mov(eax, cr3)?;
                    a.mov(ebx, eax)
                }),
                ("cr4", |a| {
                    a.mov(eax, cr4)?;
                    a.mov(ebx, eax)
                }),
                ("rflags", |a| {
                    a.pushfd()?;
                    a.pop(ebx)
                }),
                ("cs", |a| a.mov(ebx, cs)),
                ("tr", |a| a.str(ebx)),
                ("gdtr_limit", |a| {
                    a.sgdt(ptr(SCRATCH as u32))?;
                    a.movzx(ebx, word_ptr(SCRATCH as u32))
                }),
                ("idtr_limit", |a| {
                    a.sidt(ptr(SCRATCH as u32))?;
                    a.movzx(ebx, word_ptr(SCRATCH as u32))
                }),
            ],
        },
        Test {
            name: "exit_pae",
            vmcs_ptr: PTR_VMCS,
            fields: vmcs32(&p, CR4_PAE, PDPT_B),
            after_exit: &[
                ("exit_reason", |a| vmread(a, enc::EXIT_REASON)),
                ("mark", |a| a.mov(ebx, dword_ptr(0xc000_0000u32))),
                ("cr3", |a| {
                    a.mov(eax, cr3)?;
                    a.mov(ebx, eax)
                }),
            ],
        },
        Test { name: "host64_outside_ia32e", vmcs_ptr: PTR_VMCS, fields: host64, after_exit: &[] },
        Test { name: "ia32e_guest_outside_ia32e", vmcs_ptr: PTR_VMCS, fields: ia32e, after_exit: &[] },
        Test { name: "host_pcide", vmcs_ptr: PTR_VMCS, fields: vmcs32(&p, CR4_PSE | 1 << 17, PD32), after_exit: &[] },
        Test { name: "host_rip_high", vmcs_ptr: PTR_VMCS_B, fields: rip_high, after_exit: &[] },
    ]
}

/// The SDM's transcript.
fn expected() -> Vec<String> {
    let l = |n: &str, k: &str, v: u32| format!("{n} {k}={v:08x}");
    vec![
        // 28.5.1 (CR3, CR4, IA32_EFER.LMA/LME = 0), 28.5.2 (32-bit code at HOST_RIP ran).
        l("exit32", "exit_reason", 10),
        l("exit32", "efer_lma_lme", 0),
        l("exit32", "cr3", PD32 as u32),
        l("exit32", "cr4", CR4_PSE as u32),
        // 28.5.3: RFLAGS = 2; 28.5.2: CS and TR selectors from the fields, GDTR and IDTR
        // limits FFFFH.
        l("exit32", "rflags", 2),
        l("exit32", "cs", 0x18),
        l("exit32", "tr", 0x40),
        l("exit32", "gdtr_limit", 0xffff),
        l("exit32", "idtr_limit", 0xffff),
        // 28.5.4: PDPTEs from host CR3.
        l("exit_pae", "exit_reason", 10),
        l("exit_pae", "mark", MARK),
        l("exit_pae", "cr3", PDPT_B as u32),
        // 27.2.4: VMfailValid(8) (31.4).
        l("host64_outside_ia32e", "vmfail_error", 8),
        l("ia32e_guest_outside_ia32e", "vmfail_error", 8),
        l("host_pcide", "vmfail_error", 8),
        // 27.2.4: with "host address-space size" = 0, host RIP bits 63:32 must be 0.
        l("host_rip_high", "vmfail_error", 8),
        END.to_string(),
    ]
}

/// VMREAD of `field` into EBX (clobbers EAX).
fn vmread(a: &mut CodeAssembler, field: u32) -> R {
    a.mov(eax, field)?;
    a.vmread(ebx, eax)
}

/// Strings for the printer, placed after the code.
struct Data {
    items: Vec<(CodeLabel, Vec<u8>, usize)>,
}

impl Data {
    /// `MOV ESI, address of s` (placed after the code).
    fn esi_string(&mut self, a: &mut CodeAssembler, abs: &mut Abs, s: &str) -> R {
        let l = a.create_label();
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        let slot = abs.mov(a, esi)?;
        self.items.push((l, b, slot));
        Ok(())
    }
}

/// Prints the string at ESI, then EBX as 8 hex digits, then a newline (clobbers EAX, ECX,
/// EDX, ESI).
fn printer(a: &mut CodeAssembler) -> R {
    let (mut s, mut hex, mut digit, mut num) = (a.create_label(), a.create_label(), a.create_label(), a.create_label());
    a.cld()?; // (the caller's label is on this instruction)
    a.set_label(&mut s)?;
    a.mov(al, byte_ptr(esi))?;
    a.test(al, al)?;
    a.jz(hex)?;
    boot::put_al(a)?;
    a.inc(esi)?;
    a.jmp(s)?;
    a.set_label(&mut hex)?;
    a.mov(ecx, 8)?;
    a.set_label(&mut digit)?;
    a.rol(ebx, 4)?;
    a.mov(al, bl)?;
    a.and(al, 0xf)?;
    a.add(al, b'0' as u32)?;
    a.cmp(al, b'9' as u32)?;
    a.jbe(num)?;
    a.add(al, (b'a' - b'9' - 1) as u32)?;
    a.set_label(&mut num)?;
    a.push(ecx)?;
    boot::put_al(a)?;
    a.pop(ecx)?;
    a.dec(ecx)?;
    a.jnz(digit)?;
    boot::put_byte(a, b'\n')?;
    a.ret()
}

/// Absolute addresses of labels in 32-bit code (iced makes `lea r32, [label]` RIP-relative,
/// which 32-bit code lacks): `MOV r32, imm32` (always 5 bytes) with the address found by a
/// first assembly pass.
struct Abs {
    /// Per use: the label once placed (iced records the placement in the label value that
    /// `set_label` is given, so the placed copy is kept here).
    placed: Vec<Option<CodeLabel>>,
    values: Vec<u32>,
}

impl Abs {
    /// `MOV r, address` (5 bytes); returns the use's slot for [`Abs::place`].
    fn mov(&mut self, a: &mut CodeAssembler, r: AsmRegister32) -> Result<usize, IcedError> {
        let slot = self.placed.len();
        self.placed.push(None);
        a.mov(r, self.values.get(slot).copied().unwrap_or(0))?;
        Ok(slot)
    }
    /// Places `l` at the next instruction and records it for `slots`.
    fn place(&mut self, a: &mut CodeAssembler, l: &mut CodeLabel, slots: &[usize]) -> R {
        a.set_label(l)?;
        for &k in slots {
            self.placed[k] = Some(*l);
        }
        Ok(())
    }
}

/// The 32-bit part, at ADDR32: leave IA-32e mode, set up paging and VMX, run the tests.
fn code32() -> Vec<u8> {
    let (_, first) = code32_pass(&[]);
    let (bytes, again) = code32_pass(&first);
    assert_eq!(first, again, "the label addresses are stable between the passes");
    bytes
}

/// One assembly pass with the label addresses `values` (empty: zeros); returns the bytes and
/// the addresses of the labels used as immediates.
fn code32_pass(values: &[u32]) -> (Vec<u8>, Vec<u32>) {
    let mut a = CodeAssembler::new(32).unwrap();
    let mut d = Data { items: Vec::new() };
    let mut abs = Abs { placed: Vec::new(), values: values.to_vec() };
    let r: R = (|| {
        let mut print = a.create_label();
        a.mov(eax, 0x10)?;
        for s in [ds, es, ss, fs, gs] {
            a.mov(s, ax)?;
        }
        a.mov(esp, KSTACK)?;
        // Paging off: IA32_EFER.LMA = 0 (SDM Vol. 3A 10.8.5.4); then LME = 0.
        a.mov(eax, cr0)?;
        a.and(eax, 0x7fff_ffff)?;
        a.mov(cr0, eax)?;
        a.mov(ecx, 0xc000_0080u32)?;
        a.rdmsr()?;
        a.and(eax, !0x100u32 as i32)?;
        a.wrmsr()?;
        for (addr, size, v) in paging_writes() {
            a.mov(dword_ptr(addr as u32), v as u32)?;
            if size == 8 {
                a.mov(dword_ptr(addr as u32 + 4), (v >> 32) as u32)?;
            }
        }
        // 32-bit paging with PSE; CR0 = PE, ET, NE, PG; CR4.VMXE.
        a.mov(eax, CR4_PSE as u32)?;
        a.mov(cr4, eax)?;
        a.mov(eax, PD32 as u32)?;
        a.mov(cr3, eax)?;
        a.mov(eax, CR0_32 as u32)?;
        a.mov(cr0, eax)?;
        // The VMXON region and VMCS get IA32_VMX_BASIC[30:0]; the pointers.
        a.mov(ecx, 0x480)?;
        a.rdmsr()?;
        a.and(eax, 0x7fff_ffff)?;
        a.mov(dword_ptr(VMXON_REGION as u32), eax)?;
        a.mov(dword_ptr(VMCS_REGION as u32), eax)?;
        for (p, v) in [(PTR_VMXON, VMXON_REGION), (PTR_VMCS, VMCS_REGION)] {
            a.mov(dword_ptr(p as u32), v as u32)?;
            a.mov(dword_ptr(p as u32 + 4), 0)?;
        }
        // Guest: CPUID (0F A2), HLT (F4).
        a.mov(dword_ptr(GUEST_RIP as u32), 0x00f4_a20fu32)?;
        a.mov(ebx, PTR_VMXON as u32)?;
        a.vmxon(qword_ptr(ebx))?;
        for t in tests() {
            let (mut exit_code, mut next) = (a.create_label(), a.create_label());
            let mut exit_slots = Vec::new();
            a.mov(ebx, t.vmcs_ptr as u32)?;
            a.vmclear(qword_ptr(ebx))?;
            a.vmptrld(qword_ptr(ebx))?;
            for (f, v) in &t.fields {
                if *f == enc::HOST_RIP {
                    a.mov(eax, *f)?;
                    exit_slots.push(abs.mov(&mut a, edx)?);
                    a.vmwrite(eax, edx)?;
                } else if *f == enc::HOST_RSP {
                    vmwrite32(&mut a, *f, KSTACK as u64)?;
                } else {
                    vmwrite32(&mut a, *f, *v)?;
                }
            }
            a.vmlaunch()?;
            // Fell through: the VM-instruction error (VMfailValid; 0 if VMfailInvalid).
            vmread(&mut a, enc::VM_INSTRUCTION_ERROR)?;
            d.esi_string(&mut a, &mut abs, &format!("{} vmfail_error=", t.name))?;
            a.call(print)?;
            a.jmp(next)?;
            abs.place(&mut a, &mut exit_code, &exit_slots)?;
            if t.after_exit.is_empty() {
                // Not expected (the transcript then shows the exit).
                vmread(&mut a, enc::EXIT_REASON)?;
                d.esi_string(&mut a, &mut abs, &format!("{} unexpected_exit_reason=", t.name))?;
                a.call(print)?;
            }
            for (k, read) in t.after_exit {
                read(&mut a)?;
                d.esi_string(&mut a, &mut abs, &format!("{} {k}=", t.name))?;
                a.call(print)?;
            }
            a.set_label(&mut next)?;
        }
        a.xor(ebx, ebx)?;
        d.esi_string(&mut a, &mut abs, "host32 end=")?;
        a.call(print)?;
        boot::power_off(&mut a)?;
        a.set_label(&mut print)?;
        printer(&mut a)?;
        for (mut l, bytes, slot) in std::mem::take(&mut d.items) {
            abs.place(&mut a, &mut l, &[slot])?;
            a.db(&bytes)?;
        }
        Ok(())
    })();
    r.unwrap();
    let res = a.assemble_options(ADDR32, BlockEncoderOptions::RETURN_NEW_INSTRUCTION_OFFSETS).unwrap();
    let ips = abs.placed.iter().map(|l| l.map(|l| res.label_ip(&l).unwrap() as u32).unwrap_or(0)).collect();
    (res.inner.code_buffer, ips)
}

/// The 64-bit code: the sandbox's GDT, the 32-bit part copied to ADDR32, a far return into it.
fn code64(at: u64) -> Vec<u8> {
    let blob = code32();
    let mut a = CodeAssembler::new(64).unwrap();
    let r: R = (|| {
        let mut data = a.create_label();
        for (i, e) in GDT_ENTRIES.iter().enumerate() {
            a.mov(rax, *e)?;
            a.mov(rbx, GDT + 8 * i as u64)?;
            a.mov(qword_ptr(rbx), rax)?;
        }
        // VMCS_B's HOST_RIP with bits 63:32 set, written in 64-bit mode: CR0.NE and CR4.VMXE
        // for VMXON (IA32_VMX_CR0_FIXED0, CR4_FIXED0), the revision identifiers, VMXON,
        // VMCLEAR, VMPTRLD, VMWRITE, VMCLEAR, VMXOFF.
        a.mov(rax, cr0)?;
        a.or(rax, 0x20)?;
        a.mov(cr0, rax)?;
        a.mov(rax, cr4)?;
        a.or(rax, 0x2000)?;
        a.mov(cr4, rax)?;
        a.mov(ecx, 0x480)?;
        a.rdmsr()?;
        a.and(eax, 0x7fff_ffff)?;
        for (region, ptr_at) in [(VMXON_REGION, PTR_VMXON), (VMCS_B, PTR_VMCS_B)] {
            a.mov(rbx, region)?;
            a.mov(dword_ptr(rbx), eax)?;
            a.mov(rbx, ptr_at)?;
            a.mov(rdx, region)?;
            a.mov(qword_ptr(rbx), rdx)?;
        }
        a.mov(rbx, PTR_VMXON)?;
        a.vmxon(qword_ptr(rbx))?;
        a.mov(rbx, PTR_VMCS_B)?;
        a.vmclear(qword_ptr(rbx))?;
        a.vmptrld(qword_ptr(rbx))?;
        a.mov(rax, enc::HOST_RIP as u64)?;
        a.mov(rdx, RIP_HIGH)?;
        a.vmwrite(rax, rdx)?;
        a.vmclear(qword_ptr(rbx))?;
        a.vmxoff()?;
        a.mov(rbx, GDTR_IMAGE)?;
        a.mov(word_ptr(rbx), (GDT_ENTRIES.len() * 8 - 1) as u32)?;
        a.mov(dword_ptr(rbx + 2), GDT as u32)?;
        a.lgdt(ptr(rbx))?;
        a.lea(rsi, ptr(data))?;
        a.mov(rdi, ADDR32)?;
        a.mov(rcx, blob.len() as u64)?;
        a.cld()?;
        a.rep().movsb()?;
        a.mov(rsp, KSTACK as u64)?;
        a.push(0x18)?;
        a.push(ADDR32 as i32)?;
        a.db(&[0x48, 0xcb])?; // RETFQ (REX.W CB): CS = 18H, RIP = ADDR32
        a.set_label(&mut data)?;
        a.db(&blob)
    })();
    r.unwrap();
    a.assemble(at).unwrap()
}

fn build() -> Vec<u8> {
    let mut room = 0x1000u32;
    loop {
        let layout = Layout { base: BASE, code_room: room };
        let code = code64(layout.entry64() as u64);
        if code.len() <= room as usize {
            return boot::image(layout, Header::Multiboot2, Paging::Large, &code).expect("the kernel fits its layout");
        }
        room = (code.len() as u32).next_multiple_of(0x1000);
    }
}

/// A kernel image in its own temporary directory, removed when dropped.
struct KernelFile {
    dir: PathBuf,
    path: PathBuf,
}

impl Drop for KernelFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn kernel_file(name: &str) -> KernelFile {
    let dir = std::env::temp_dir().join(format!("hvbench-vmx-host32-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let k = KernelFile { path: dir.join(name), dir };
    std::fs::write(&k.path, build()).expect("kernel written");
    k
}

/// The transcript's lines: those whose first word names a test or is "host32" (without
/// carriage returns, and without GRUB's or Bochs's other output).
fn lines(out: &str) -> Vec<String> {
    let names: Vec<&str> = tests().iter().map(|t| t.name).chain(["host32"]).collect();
    out.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| l.split_once(' ').is_some_and(|(w, _)| names.contains(&w)))
        .collect()
}

fn hvbench(kernel: &Path) -> Vec<String> {
    let o = Command::new(env!("CARGO_BIN_EXE_hvbench")).args(["run", "--max-instructions", "5000000"]).arg(kernel).output().expect("hvbench runs");
    assert_eq!(o.status.code(), Some(0), "hvbench: {}\n{}", String::from_utf8_lossy(&o.stderr), String::from_utf8_lossy(&o.stdout));
    lines(&String::from_utf8_lossy(&o.stdout))
}

#[test]
fn the_32bit_host_kernel_under_hvbench_prints_the_sdm_values() {
    let k = kernel_file("vmx-host32.elf");
    assert_eq!(hvbench(&k.path), expected());
}

#[test]
fn bochs_agrees_with_the_sdm_for_the_32bit_host() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/oracles/bochs/run-iso.sh");
    if !p.exists() {
        eprintln!("SKIPPED: {} is absent (the repository is not beside shared/)", p.display());
        return;
    }
    if Command::new("bochs").arg("--help").output().is_err() || Command::new("grub-mkrescue").arg("--version").output().is_err() {
        eprintln!("SKIPPED: bochs or grub-mkrescue is not installed");
        return;
    }
    let k = kernel_file("vmx-host32-bochs.elf");
    let o = Command::new(&p).args(["--timeout", "60"]).arg(&k.path).output().expect("run-iso.sh runs");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let got = lines(&out);
    assert_eq!(got, expected(), "Bochs's transcript:\n{out}");
    assert_eq!(got, hvbench(&k.path), "hvbench and Bochs differ");
}
