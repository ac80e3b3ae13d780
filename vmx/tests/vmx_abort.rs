//! VMX aborts from a 64-bit host (SDM Vol. 3C 28.7 "VMX Aborts"): a failure storing guest MSRs
//! (28.4 "Saving MSRs": indicator 1) or loading host MSRs (28.6 "Loading MSRs": indicator 4)
//! writes the indicator at byte offset 4 of the VMCS region and puts the processor in the
//! shutdown state; the host never runs. The trace's VM-exit event explains the abort. The
//! aborts a 32-bit host can meet (indicators 2 and 6) are in `host32.rs`. Sandbox-only: the
//! shared kernel could not report a shut-down processor.

#[macro_use]
mod common;

use common::*;
use hvbench_cpu::events::Event;
use hvbench_cpu::sandbox::DATA_BASE;
use hvbench_cpu::state::Activity;
use hvbench_vmx::abort::indicator;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::fields::enc;
use hvbench_vmx::vmcs::ABORT_OFFSET;

/// A 16-byte-aligned MSR area (SDM 25.7.2).
const AREA: u64 = DATA_BASE + 0x400;

/// Runs a CPUID guest with `edit` and the MSR area's first entry index `msr` (data 0).
fn run_with_area(edit: impl FnOnce(&mut Vec<(u32, u64)>), msr: u64) -> Run {
    let p = Profile::default_profile();
    let mut f = valid_vmcs(&p, GuestKind::Flat64);
    edit(&mut f);
    run_prepared(p, &f, &[0x0f, 0xa2, 0xf4], |s| {
        poke(s, AREA, 8, msr);
        poke(s, AREA + 8, 8, 0);
    })
}

fn aborted(r: &mut Run, want: u32, text: &str) {
    assert_eq!(r.s.read(VMCS_REGION + ABORT_OFFSET, 4), want as u64, "VMX-abort indicator (SDM 28.7)");
    assert_eq!(r.s.cpu.state.activity, Activity::Shutdown, "shutdown state (SDM 28.7)");
    assert_ne!(r.kind(), KIND_EXIT, "the host must not run after a VMX abort");
    let why = r
        .s
        .cpu
        .drain_events()
        .into_iter()
        .find_map(|e| match e {
            Event::VmExit { detail, .. } if detail.contains("VMX abort") => Some(detail),
            _ => None,
        })
        .expect("the VM exit event explains the abort");
    assert!(why.contains(&format!("indicator {want}")) && why.contains(text) && why.contains("28.7"), "explanation: {why}");
    assert_eq!(r.why(), why, "the VMX state keeps the explanation as its last failure");
}

#[test]
fn msr_store_of_an_x2apic_msr_is_abort_1() {
    // 28.4: storing fails for an index with bits 31:8 = 000008H (x2APIC MSRs).
    let mut r = run_with_area(
        |f| {
            set(f, enc::EXIT_MSR_STORE_COUNT, 1);
            set(f, enc::EXIT_MSR_STORE_ADDR, AREA);
        },
        0x808,
    );
    aborted(&mut r, indicator::SAVE_GUEST_MSRS, "entry 1 of the VM-exit MSR-store area");
}

#[test]
fn msr_load_of_fs_base_is_abort_4() {
    // 28.6: loading fails for IA32_FS_BASE (C0000100H).
    let mut r = run_with_area(
        |f| {
            set(f, enc::EXIT_MSR_LOAD_COUNT, 1);
            set(f, enc::EXIT_MSR_LOAD_ADDR, AREA);
        },
        0xc000_0100,
    );
    aborted(&mut r, indicator::LOAD_HOST_MSRS, "entry 1 of the VM-exit MSR-load area");
}

#[test]
fn valid_msr_areas_do_not_abort() {
    // IA32_SYSENTER_CS (174H) stores and loads: the exit completes, the indicator stays 0.
    let r = run_with_area(
        |f| {
            set(f, enc::EXIT_MSR_STORE_COUNT, 1);
            set(f, enc::EXIT_MSR_STORE_ADDR, AREA);
            set(f, enc::EXIT_MSR_LOAD_COUNT, 1);
            set(f, enc::EXIT_MSR_LOAD_ADDR, AREA);
        },
        0x174,
    );
    exited(&r, hvbench_vmx::exit::reason::CPUID);
    assert_eq!(r.s.read(VMCS_REGION + ABORT_OFFSET, 4), 0);
}
