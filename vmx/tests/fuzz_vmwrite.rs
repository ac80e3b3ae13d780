//! Fuzz: random VMWRITE sequences over a valid VMCS, then VMLAUNCH. Whatever the values, the
//! emulator never panics and each outcome is one the SDM allows: VMfailValid(n) with n in
//! Table 31-1 "VM-Instruction Error Numbers", a VM-entry failure with exit reason 33 or 34
//! (bit 31 set, SDM 27.8), or a successful entry (then a VM exit or a guest that runs on).

mod common;

use common::*;
use hvbench_cpu::sandbox::CODE_BASE;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::fields::FIELDS;
use hvbench_vmx::instr::error;
use iced_x86::code_asm::*;
use proptest::prelude::*;

/// A write: a table field (by index, or a random encoding when the index is past the table)
/// with a value biased towards small numbers and single bits.
fn write() -> impl Strategy<Value = (usize, u64, u64)> {
    (0..FIELDS.len() + 8, any::<u64>(), prop_oneof![Just(0u64), 0u64..16, (0u32..64).prop_map(|b| 1u64 << b), any::<u64>()])
}

proptest! {
    #![proptest_config(hvbench_testkit::deterministic_config(256))]
    #[test]
    fn random_vmwrites_then_vmlaunch(writes in proptest::collection::vec(write(), 1..6), no_ept in any::<bool>()) {
        let p = if no_ept { Profile::no_ept() } else { Profile::default_profile() };
        let mut f = valid_vmcs(&p, GuestKind::Flat64);
        let mut raw = Vec::new();
        for (i, enc_rand, v) in writes {
            match FIELDS.get(i) {
                Some(fl) => set(&mut f, fl.enc, v),
                None => raw.push((enc_rand, v)),
            }
        }
        let host = asm(CODE_BASE, |a| {
            vmxon_and_load(a)?;
            for (fl, v) in &f {
                vmwrite(a, *fl, *v)?;
            }
            for (e, v) in &raw {
                a.mov(rax, *e)?;
                a.mov(rdx, *v)?;
                a.vmwrite(rax, rdx)?;
            }
            a.vmlaunch()?;
            save_flags(a, RESULT_FLAGS)?;
            a.mov(rbx, RESULT_KIND)?;
            a.mov(qword_ptr(rbx), KIND_VMFAIL as i32)?;
            a.hlt()
        });
        let mut s = sandbox(&p, &host, &asm(GUEST_RIP, |a| { a.cpuid()?; a.hlt() }));
        s.run(5_000);
        let r = Run { s, profile: p };
        match r.kind() {
            KIND_VMFAIL => {
                let flags = r.fail_flags();
                prop_assert_eq!(flags & (CF | ZF), ZF, "a current VMCS exists: VMfailValid");
                prop_assert!(error::ALL.contains(&(r.error() as u32)), "error {} not in Table 31-1", r.error());
                prop_assert!(matches!(r.error(), 7 | 8), "VMLAUNCH fails only with 7 or 8 here, got {}", r.error());
            }
            KIND_EXIT => {
                let reason = r.exit_reason();
                if reason & (1 << 31) != 0 {
                    prop_assert!(matches!(reason & 0xffff, 33 | 34), "entry failure reason {reason:#x}");
                } else {
                    prop_assert!(reason < 70, "basic exit reason {reason}");
                }
            }
            _ => {
                // The guest entered and runs (or halted) without an exit yet: it must be in
                // VMX non-root operation, or a later exit stub was not reached within budget.
                prop_assert!(r.s.cpu.vmx_non_root || r.s.cpu.state.activity != hvbench_cpu::Activity::Active || r.s.cpu.steps >= 5_000);
            }
        }
    }
}
