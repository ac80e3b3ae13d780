//! The conformance-suite harness: a 64-bit sandbox with VMX installed, a host program that
//! does VMXON / VMCLEAR / VMPTRLD / VMWRITE of a complete valid VMCS / VMLAUNCH, and a guest.
//!
//! The memory map, the valid VMCS and the host-program pieces are in [`layout`]; the cases
//! that also boot as kernels under hvbench and Bochs are in [`cases`].

#![allow(dead_code)]

/// A conformance case: a default-profile run with a valid 64-bit guest; `fields` edits the
/// VMCS, `guest` is the guest program, `expect` checks the result against the SDM.
#[allow(unused_macros)]
macro_rules! vmx_test {
    ($(#[$m:meta])* $name:ident, fields: $fields:expr, guest: $guest:expr, expect: $expect:expr) => {
        $(#[$m])*
        #[test]
        fn $name() {
            let r = run($fields, $guest);
            let check: &dyn Fn(&Run) = &$expect;
            check(&r);
        }
    };
}

pub mod cases;
pub mod cases_corefix;
pub mod cases_entry;
pub mod cases_events;
pub mod cases_exits;
pub mod cases_exits2;
pub mod cases_fixes;
pub mod cases_vmxexits;
pub mod cases_v86;
pub mod cases_vmxcover;
pub mod cases_vmxabort;
pub mod cases_vmxgaps;
pub mod layout;
pub mod layout32;

pub use layout::*;

use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_vmx::caps::{Profile, VMCS_REVISION};
use hvbench_vmx::fields::enc;
use hvbench_vmx::vmcs::FIELD_BASE;
use iced_x86::code_asm::*;

/// A finished run.
pub struct Run {
    pub s: Sandbox,
    pub profile: Profile,
}

impl Run {
    /// How the host program ended: KIND_VMFAIL or KIND_EXIT (0: neither).
    pub fn kind(&self) -> u64 {
        self.s.read(RESULT_KIND, 8)
    }
    /// RFLAGS the host saved after a failed VMLAUNCH.
    pub fn fail_flags(&self) -> u64 {
        self.s.read(RESULT_FLAGS, 8)
    }
    /// A VMCS field, read from the region by hvbench's documented layout.
    pub fn field(&self, e: u32) -> u64 {
        let slot = hvbench_vmx::fields::slot_of(e) as u64;
        self.s.read(VMCS_REGION + FIELD_BASE + 8 * slot, 8)
    }
    /// The basic exit reason with bit 31.
    pub fn exit_reason(&self) -> u64 {
        self.field(enc::EXIT_REASON)
    }
    /// The VM-instruction error field.
    pub fn error(&self) -> u64 {
        self.field(enc::VM_INSTRUCTION_ERROR)
    }
    /// hvbench's explanation of the last failure.
    pub fn why(&self) -> String {
        hvbench_vmx::state(&self.s.cpu).and_then(|v| v.last_failure.clone()).unwrap_or_default()
    }
}

/// A sandbox with VMX (`profile`), the VMXON/VMCS regions initialised, EPT identity tables,
/// `host` at CODE_BASE, `guest` at GUEST_RIP and the exit stub at HOST_RIP.
pub fn sandbox(profile: &Profile, host: &[u8], guest: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, host);
    hvbench_vmx::install(&mut s.cpu, profile.clone());
    let w = |s: &mut Sandbox, a: u64, size: u8, v: u64| {
        s.mem.write_le(hvbench_mmu::PhysAddr(a), size, v);
    };
    w(&mut s, VMXON_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, VMCS_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, PTR_VMXON, 8, VMXON_REGION);
    w(&mut s, PTR_VMCS, 8, VMCS_REGION);
    w(&mut s, EPT_PML4, 8, (EPT_PML4 + 0x1000) | 7);
    for i in 0..4u64 {
        w(&mut s, EPT_PML4 + 0x1000 + 8 * i, 8, (i << 30) | 0x80 | 6 << 3 | 7);
    }
    s.mem.write_bytes(hvbench_mmu::PhysAddr(GUEST_RIP), guest);
    let stub = asm(HOST_RIP, |a| {
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_EXIT as i32)?;
        a.hlt()
    });
    s.mem.write_bytes(hvbench_mmu::PhysAddr(HOST_RIP), &stub);
    s.cpu.trace = true;
    s
}

/// Runs: VMXON, VMCLEAR, VMPTRLD, a VMWRITE per field, VMLAUNCH; on VMfail the host records
/// RFLAGS and KIND_VMFAIL.
pub fn run_fields(profile: Profile, fields: &[(u32, u64)], guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (f, v) in fields {
            vmwrite(a, *f, *v)?;
        }
        a.vmlaunch()?;
        save_flags(a, RESULT_FLAGS)?;
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
        a.hlt()
    });
    let g = asm(GUEST_RIP, guest);
    let mut s = sandbox(&profile, &host, &g);
    s.run(20_000);
    Run { s, profile }
}

/// The default profile, a valid 64-bit guest edited by `edit`, and `guest`.
pub fn run(edit: impl FnOnce(&mut Vec<(u32, u64)>), guest: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_fields(p, &f, guest)
}

/// Runs a host program (after CR4.VMXE is set) with nothing else around it.
pub fn run_host(profile: Profile, host: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Run {
    let code = asm(CODE_BASE, |a| {
        enable_vmxe(a)?;
        host(a)?;
        a.hlt()
    });
    let mut s = sandbox(&profile, &code, &[0xf4]);
    s.run(20_000);
    Run { s, profile }
}

// ---- Shared checks ----

pub fn hlt(a: &mut CodeAssembler) -> Result<(), IcedError> {
    a.hlt()
}
pub fn nothing(_: &mut Vec<(u32, u64)>) {}

pub fn exited(r: &Run, basic: u32) {
    assert_eq!(r.kind(), KIND_EXIT, "host should resume at HOST_RIP; why: {}", r.why());
    assert_eq!(r.exit_reason(), basic as u64, "exit reason");
}

pub fn vmfail_valid(r: &Run, n: u64) {
    assert_eq!(r.kind(), KIND_VMFAIL, "VMLAUNCH should fall through");
    assert_eq!(r.fail_flags() & (CF | ZF), ZF, "VMfailValid sets ZF, clears CF (SDM 31.2)");
    assert_eq!(r.error(), n, "VM-instruction error; why: {}", r.why());
}

pub fn entry_failure(r: &Run, basic: u32, qual: u64, check_text: &str) {
    assert_eq!(r.kind(), KIND_EXIT, "a VM-entry failure resumes the host at HOST_RIP (SDM 27.8)");
    assert_eq!(r.exit_reason(), (1u64 << 31) | basic as u64, "reason with bit 31 (SDM 27.8)");
    assert_eq!(r.field(enc::EXIT_QUALIFICATION), qual);
    assert!(r.why().contains(check_text), "explanation `{}` should name `{check_text}`", r.why());
}

/// Like [`run_fields`] with guest code given as bytes at GUEST_RIP and `prep` to set up memory
/// before the run.
pub fn run_prepared(profile: Profile, fields: &[(u32, u64)], guest: &[u8], prep: impl FnOnce(&mut Sandbox)) -> Run {
    let host = asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (f, v) in fields {
            vmwrite(a, *f, *v)?;
        }
        a.vmlaunch()?;
        save_flags(a, RESULT_FLAGS)?;
        a.mov(rbx, RESULT_KIND)?;
        a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
        a.hlt()
    });
    let mut s = sandbox(&profile, &host, guest);
    prep(&mut s);
    s.run(20_000);
    Run { s, profile }
}

/// Writes `v` (`size` bytes) at physical `a`.
pub fn poke(s: &mut Sandbox, a: u64, size: u8, v: u64) {
    s.mem.write_le(hvbench_mmu::PhysAddr(a), size, v);
}

/// Runs a shared case ([`cases::Case`]) in the sandbox and returns the run and its transcript
/// (the lines [`cases::expected_lines`] gives for the SDM's values, here with hvbench's).
pub fn run_case(c: &cases::Case) -> (Run, Vec<String>) {
    let p = Profile::default_profile();
    let fields = cases::case_fields(c);
    let host = cases::host_program(c, CODE_BASE, &fields, &|a| a.hlt());
    let mut s = sandbox(&p, &host, &[]);
    s.mem.write_bytes(hvbench_mmu::PhysAddr(HOST_RIP), &cases::exit_program(c, &|a| a.hlt()));
    if let Some((at, bytes)) = cases::guest_bytes(c) {
        s.mem.write_bytes(hvbench_mmu::PhysAddr(at), &bytes);
    }
    for k in c.pokes {
        let v = if k.rev { k.value | VMCS_REVISION as u64 } else { k.value };
        poke(&mut s, k.addr, k.size, v);
    }
    s.run(20_000);
    let r = Run { s, profile: p };
    let lines = observed_lines(c, &r);
    (r, lines)
}

/// The transcript of a finished sandbox run of `c`.
fn observed_lines(c: &cases::Case, r: &Run) -> Vec<String> {
    let kind = match r.kind() {
        0 if r.s.exception_vector().is_some() => cases::KIND_EXCEPTION,
        k => k,
    };
    let mut v = vec![cases::line(c.name, "kind", kind)];
    if kind != c.outcome.kind() {
        return v;
    }
    for (label, _) in cases::outcome_values(c.outcome) {
        let value = match label {
            "exit_reason" => r.exit_reason(),
            "vm_instruction_error" => r.error(),
            "rflags_cf_zf" => r.fail_flags() & (CF | ZF),
            _ => r.s.exception_vector().unwrap_or(0xff) as u64,
        };
        v.push(cases::line(c.name, label, value));
    }
    for f in c.fields {
        v.push(cases::line(c.name, &cases::field_name(f.field), r.field(f.field) & f.mask));
    }
    for m in c.mem {
        v.push(cases::line(c.name, &cases::mem_label(m.addr), r.s.read(m.addr, m.size)));
    }
    v
}
