//! VMFUNC capability reporting (SDM Vol. 3C A.11 IA32_VMX_VMFUNC, 25.6.14 "VM-Function
//! Controls"). The VMFUNC and EPTP-switching behaviour cases (26.5.6, 26.5.6.3, the VMFUNC
//! page, 27.2.1.1) are shared cases in `common/cases_events.rs`, run by `conformance.rs` in the
//! sandbox and by `harness/tests/vmx_oracle.rs` under hvbench and Bochs.

mod common;

use hvbench_vmx::caps::{msr, Profile};

const ENABLE_VMFUNC: u64 = 1 << 13;

#[test]
fn capability_msr() {
    // A.11: IA32_VMX_VMFUNC bit 0 (EPTP switching) in the default profile; the MSR exists only
    // where "enable VM functions" may be 1 (not in no-ept, which has no EPT to switch).
    assert_eq!(Profile::default_profile().read(msr::VMFUNC), Some(1));
    assert_eq!(Profile::no_ept().read(msr::VMFUNC), None);
    assert_ne!(Profile::default_profile().proc2.may1 as u64 & ENABLE_VMFUNC, 0);
}
