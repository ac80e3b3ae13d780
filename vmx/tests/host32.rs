//! A host outside IA-32e mode (SDM Vol. 3C): VMXON and VMLAUNCH from 32-bit protected mode
//! with "host address-space size" = 0, the VM-entry checks only such a host can reach (27.2.4
//! "Checks Related to Address-Space Size"), host-state loading on VM exit to it (28.5.1-28.5.3,
//! 28.5.4 "Checking and Loading Host Page-Directory-Pointer-Table Entries") and the VMX aborts
//! it can meet (28.7 "VMX Aborts": indicator 2, host PDPTEs; indicator 6, a guest in IA-32e
//! mode exiting to such a host).
//!
//! The shared oracle kernel is a 64-bit host; `harness/tests/vmx_host32_oracle.rs` boots a
//! 32-bit host kernel under hvbench and Bochs for the exits and three of the checks. The sandbox starts in 32-bit
//! protected mode (`SandboxMode::Protected32`); each test sets its paging (32-bit paging with
//! 4-MByte pages, or PAE paging with 2-MByte pages, identity-mapping the first 64 MBytes), and
//! the host program (32-bit code) does VMXON, VMCLEAR, VMPTRLD, a VMWRITE per field (64-bit
//! fields as their full and high halves, 25.11.2) and VMLAUNCH. The guest is 32-bit protected
//! mode with the host's segments and, unless a test says otherwise, 32-bit paging.

#[macro_use]
mod common;

use common::layout32::*;
use common::*;
use hvbench_cpu::events::Event;
use hvbench_cpu::regs::{cr0, cr4, efer};
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_cpu::segment::{attr, SegReg};
use hvbench_cpu::state::{Activity, Mode};
use hvbench_vmx::abort::indicator;
use hvbench_vmx::caps::{Profile, VMCS_REVISION};
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;
use hvbench_vmx::vmcs::{ABORT_OFFSET, FIELD_BASE};
use iced_x86::code_asm::*;

/// Assembles 32-bit code at `ip`.
fn asm32(ip: u64, f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(32).unwrap();
    f(&mut a).unwrap();
    a.assemble(ip).unwrap()
}

/// How the host pages before VMXON.
#[derive(Clone, Copy)]
enum HostPaging {
    /// CR0.PG = 0 (VMXON needs PG = 1: #GP).
    Off,
    /// 32-bit paging at PD32 with CR4.PSE.
    Bits32,
    /// PAE paging with CR3 = PDPT_A.
    Pae,
}

/// A 32-bit sandbox with VMX, the paging structures, the VMXON and VMCS regions, the EPT
/// identity tables, `guest` (32-bit code) at GUEST_RIP and the exit stub at HOST_RIP; `host`
/// runs at CODE_BASE with `paging`.
fn sandbox32(p: &Profile, paging: HostPaging, host: &[u8], guest: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Protected32, host);
    hvbench_vmx::install(&mut s.cpu, p.clone());
    let w = |s: &mut Sandbox, a: u64, size: u8, v: u64| s.mem.write_le(hvbench_mmu::PhysAddr(a), size, v);
    w(&mut s, VMXON_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, VMCS_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, PTR_VMXON, 8, VMXON_REGION);
    w(&mut s, PTR_VMCS, 8, VMCS_REGION);
    w(&mut s, EPT_PML4, 8, (EPT_PML4 + 0x1000) | 7);
    for i in 0..4u64 {
        w(&mut s, EPT_PML4 + 0x1000 + 8 * i, 8, (i << 30) | 0x80 | 6 << 3 | 7);
    }
    for (a, size, v) in paging_writes() {
        w(&mut s, a, size, v);
    }
    s.mem.write_bytes(hvbench_mmu::PhysAddr(GUEST_RIP), guest);
    let stub = asm32(HOST_RIP, |a| {
        a.mov(dword_ptr(RESULT_KIND as u32), KIND_EXIT as u32)?;
        a.hlt()
    });
    s.mem.write_bytes(hvbench_mmu::PhysAddr(HOST_RIP), &stub);
    let st = &mut s.cpu.state;
    match paging {
        HostPaging::Off => {}
        HostPaging::Bits32 => {
            st.cr0 |= cr0::PG;
            st.cr3 = PD32;
            st.cr4 = cr4::PSE;
        }
        HostPaging::Pae => {
            st.cr0 |= cr0::PG;
            st.cr3 = PDPT_A;
            st.cr4 = cr4::PAE;
        }
    }
    if let HostPaging::Pae = paging {
        s.cpu.set_pdptes([PD_PAE | 1, 0, 0, 0]);
    }
    s.cpu.state_replaced();
    s.cpu.trace = true;
    s
}

/// Runs: CR4.VMXE = 1, VMXON, VMCLEAR, VMPTRLD, a VMWRITE per field, VMLAUNCH (a fall-through
/// records RFLAGS and KIND_VMFAIL). `prep` edits memory before the run.
fn run32(p: Profile, paging: HostPaging, f: &[(u32, u64)], guest: &[u8], prep: impl FnOnce(&mut Sandbox)) -> Run {
    let host = asm32(CODE_BASE, |a| {
        a.mov(eax, cr4)?;
        a.or(eax, 0x2000)?;
        a.mov(cr4, eax)?;
        a.mov(ebx, PTR_VMXON as u32)?;
        a.vmxon(qword_ptr(ebx))?;
        a.mov(ebx, PTR_VMCS as u32)?;
        a.vmclear(qword_ptr(ebx))?;
        a.vmptrld(qword_ptr(ebx))?;
        for (fl, v) in f {
            vmwrite32(a, *fl, *v)?;
        }
        a.vmlaunch()?;
        a.pushfd()?;
        a.pop(eax)?;
        a.mov(dword_ptr(RESULT_FLAGS as u32), eax)?;
        a.mov(dword_ptr(RESULT_KIND as u32), KIND_VMFAIL as u32)?;
        a.hlt()
    });
    let mut s = sandbox32(&p, paging, &host, guest);
    prep(&mut s);
    s.run(20_000);
    Run { s, profile: p }
}

/// Guest: CPUID (exits unconditionally, reason 10), then HLT.
const GUEST_CPUID: &[u8] = &[0x0f, 0xa2, 0xf4];

fn aborted(r: &mut Run, want: u32, text: &str) {
    assert_eq!(r.s.read(VMCS_REGION + ABORT_OFFSET, 4), want as u64, "VMX-abort indicator at offset 4 of the VMCS region (SDM 28.7)");
    assert_eq!(r.s.cpu.state.activity, Activity::Shutdown, "a VMX abort puts the processor in the shutdown state (SDM 28.7)");
    assert_ne!(r.kind(), KIND_EXIT, "the host must not run after a VMX abort");
    let events = r.s.cpu.drain_events();
    let why = events
        .iter()
        .find_map(|e| match e {
            Event::VmExit { detail, .. } if detail.contains("VMX abort") => Some(detail.clone()),
            _ => None,
        })
        .expect("the VM exit event explains the abort");
    assert!(why.contains(&format!("indicator {want}")) && why.contains(text) && why.contains("28.7"), "explanation: {why}");
}

#[test]
fn vmxon_with_paging_off_is_gp() {
    // 24.8 / A.7: IA32_VMX_CR0_FIXED0 has PG (and PE, NE) set; VMXON with CR0.PG = 0 is #GP(0)
    // (VMXON, "Protected Mode Exceptions").
    let p = Profile::default_profile();
    let f = vmcs32(&p, CR4_PSE, PD32);
    let r = run32(p, HostPaging::Off, &f, GUEST_CPUID, |_| {});
    assert_eq!(r.s.exception_vector(), Some(13));
    assert_eq!(r.kind(), 0);
}

#[test]
fn exit_to_a_32bit_paging_host() {
    // 28.5.1: CR3 and CR4 from the host fields, IA32_EFER.LME/LMA = "host address-space size"
    // = 0; 28.5.2: CS.L = 0, CS.D/B = 1 (the inverse of the control), TR a busy 32-bit TSS
    // (type 11), limits FFFFFFFFH / 67H; 28.5.3: RIP and RSP from the fields, RFLAGS = 2.
    let p = Profile::default_profile();
    let f = vmcs32(&p, CR4_PSE, PD32);
    let r = run32(p, HostPaging::Bits32, &f, GUEST_CPUID, |_| {});
    exited(&r, reason::CPUID);
    let st = &r.s.cpu.state;
    assert_eq!(st.mode(), Mode::Protected32);
    assert_eq!(st.efer & (efer::LMA | efer::LME), 0);
    assert_eq!(st.cr3, PD32);
    assert_eq!(st.cr4, CR4_PSE);
    assert_eq!(st.cr0 & cr0::PG, cr0::PG);
    let code = st.seg[SegReg::Cs as usize];
    assert_eq!((code.selector, code.base, code.limit), (0x18, 0, 0xffff_ffff));
    assert_eq!(code.attr & (attr::L | attr::DB), attr::DB);
    assert_eq!((st.tr.selector, st.tr.limit, st.tr.attr & 0xf), (0x40, 0x67, 11));
    assert_eq!(st.gpr[4], HOST_RSP);
    // The stub at HOST_RIP (32-bit code) ran to its HLT.
    assert_eq!(st.rip, HOST_RIP + 11);
    assert_eq!(st.rflags & !0x200, 2);
}

#[test]
fn exit_to_a_pae_host_loads_pdptes_from_host_cr3() {
    // 28.5.4: with PAE paging after the exit the PDPTEs come from the table at host CR3
    // (PDPT_B: PDPTE0 and PDPTE3 present), not from those in use before (PDPT_A: PDPTE0 only);
    // the host stub then reads the marker at linear C000_0000H through PDPTE3.
    let p = Profile::default_profile();
    let f = vmcs32(&p, CR4_PAE, PDPT_B);
    let r = run32(p, HostPaging::Pae, &f, GUEST_CPUID, |_| {});
    exited(&r, reason::CPUID);
    assert_eq!(r.s.cpu.state.cr3, PDPT_B);
    assert_eq!(r.s.cpu.pdptes(), [PD_PAE | 1, 0, 0, PD_HIGH | 1]);
    assert_eq!(r.s.read(VMCS_REGION + ABORT_OFFSET, 4), 0);
}

#[test]
fn host_pdpte_with_reserved_bit_is_vmx_abort_2() {
    // 28.5.4: a present host PDPTE with a reserved bit set (PDPTE1 bit 1) is a VMX abort,
    // indicator 2 (28.7); VM entry does not check the host PDPTEs.
    let p = Profile::default_profile();
    let f = vmcs32(&p, CR4_PAE, PDPT_BAD);
    let mut r = run32(p, HostPaging::Pae, &f, GUEST_CPUID, |_| {});
    aborted(&mut r, indicator::HOST_PDPTES, "PDPTE1");
}

#[test]
fn ia32e_guest_exiting_to_a_32bit_host_is_vmx_abort_6() {
    // An unrestricted guest entered in protected mode without paging, IA32_EFER.LME = 1 ("load
    // IA32_EFER"), CR4.PAE = 1, CR3 = 4-level tables, turns CR0.PG on: IA-32e mode (LMA = 1,
    // compatibility mode). Its CPUID exit to the host with "host address-space size" = 0 is a
    // VMX abort, indicator 6 (28.7; 28.5).
    let p = Profile::default_profile();
    assert!(p.entry.may1 & ENTRY_LOAD_EFER as u32 != 0 && p.proc2.may1 & 0x82 == 0x82, "the default profile has \"load IA32_EFER\", EPT and unrestricted guest");
    let mut f = vmcs32(&p, CR4_PSE, PD32);
    set(&mut f, enc::SECONDARY_PROC_BASED_CONTROLS, 0x82);
    set(&mut f, enc::EPT_POINTER, EPTP);
    or(&mut f, enc::ENTRY_CONTROLS, ENTRY_LOAD_EFER);
    set(&mut f, enc::GUEST_EFER, efer::LME);
    set(&mut f, enc::GUEST_CR0, 0x31);
    set(&mut f, enc::GUEST_CR4, CR4_PAE);
    set(&mut f, enc::GUEST_CR3, PML4_G);
    let guest = asm32(GUEST_RIP, |a| {
        a.mov(eax, cr0)?;
        a.or(eax, 0x8000_0000u32 as i32)?;
        a.mov(cr0, eax)?;
        a.cpuid()?;
        a.hlt()
    });
    let mut r = run32(p, HostPaging::Bits32, &f, &guest, |_| {});
    aborted(&mut r, indicator::IA32E_TO_32BIT_HOST, "IA-32e mode");
}

/// A host-state check failure: VMfailValid(8) (27.2, 31.4) naming `check`.
fn host_check_fails(r: &Run, text: &str) {
    vmfail_valid(r, 8);
    assert!(r.why().contains(text), "explanation `{}` should name `{text}`", r.why());
}

#[test]
fn host_address_space_size_1_outside_ia32e_mode() {
    // host.addr_size.outside_ia32e: with IA32_EFER.LMA = 0 "host address-space size" must be
    // 0 (27.2.4).
    let p = Profile::default_profile();
    let mut f = vmcs32(&p, CR4_PSE, PD32);
    or(&mut f, enc::EXIT_CONTROLS, HOST_64);
    let r = run32(p, HostPaging::Bits32, &f, GUEST_CPUID, |_| {});
    host_check_fails(&r, "outside IA-32e mode");
}

#[test]
fn ia32e_mode_guest_outside_ia32e_mode() {
    // host.addr_size.outside_ia32e: with IA32_EFER.LMA = 0 "IA-32e mode guest" must be 0
    // (27.2.4; the rule "host address-space size = 0 requires IA-32e mode guest = 0" states
    // the same for this host, and with LMA = 1 "host address-space size" must be 1, so
    // hvbench's separate check `host.addr_size.guest` is never the first to fail).
    let p = Profile::default_profile();
    let mut f = vmcs32(&p, CR4_PSE, PD32);
    or(&mut f, enc::ENTRY_CONTROLS, IA32E_GUEST);
    let r = run32(p, HostPaging::Bits32, &f, GUEST_CPUID, |_| {});
    host_check_fails(&r, "outside IA-32e mode");
}

#[test]
fn host_cr4_pcide_with_32bit_host() {
    // host.cr4.pcide: "host address-space size" = 0 requires host CR4.PCIDE (bit 17) = 0
    // (27.2.4); PCIDE is allowed by IA32_VMX_CR4_FIXED1, so the fixed-bit check passes.
    let p = Profile::default_profile();
    let f = vmcs32(&p, CR4_PSE | cr4::PCIDE, PD32);
    let r = run32(p, HostPaging::Bits32, &f, GUEST_CPUID, |_| {});
    host_check_fails(&r, "PCIDE");
}

#[test]
fn host_rip_high_bits_with_32bit_host() {
    // host.rip.high: "host address-space size" = 0 requires host RIP bits 63:32 = 0 (27.2.4).
    // A 32-bit VMWRITE cannot set them (a natural-width field takes the zero-extended 32-bit
    // operand); the VMCS keeps what 64-bit software wrote before VMCLEAR (25.11.1), here
    // placed in the region by hvbench's documented layout, and the program leaves HOST_RIP
    // alone.
    let p = Profile::default_profile();
    let mut f = vmcs32(&p, CR4_PSE, PD32);
    f.retain(|e| e.0 != enc::HOST_RIP);
    let slot = hvbench_vmx::fields::slot_of(enc::HOST_RIP) as u64;
    let r = run32(p, HostPaging::Bits32, &f, GUEST_CPUID, |s| poke(s, VMCS_REGION + FIELD_BASE + 8 * slot, 8, 1 << 32 | HOST_RIP));
    host_check_fails(&r, "bits 63:32");
}

#[test]
fn vmwrite32_of_natural_width_field_zero_extends() {
    // 31.3 VMWRITE: outside 64-bit mode the source operand has 32 bits; a natural-width field
    // receives it zero-extended (bits 63:32 of HOST_RIP cleared), so this entry succeeds.
    let p = Profile::default_profile();
    let f = vmcs32(&p, CR4_PSE, PD32);
    let slot = hvbench_vmx::fields::slot_of(enc::HOST_RIP) as u64;
    let r = run32(p, HostPaging::Bits32, &f, GUEST_CPUID, |s| poke(s, VMCS_REGION + FIELD_BASE + 8 * slot, 8, 1 << 32 | HOST_RIP));
    exited(&r, reason::CPUID);
    assert_eq!(r.field(enc::HOST_RIP), HOST_RIP);
}
