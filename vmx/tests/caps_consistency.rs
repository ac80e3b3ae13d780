//! The capability MSRs of every profile are self-consistent (SDM Vol. 3D Appendix A "VMX
//! Capability Reporting Facility"), and every control a profile offers is exercised by a
//! shared conformance case (`common/cases*.rs`) whose VMCS sets it.
//!
//! - A.1 IA32_VMX_BASIC: revision identifier bit 31 = 0, region size 1..4096, bit 48 = 0 (no
//!   32-bit limit on a 64-bit CPU), memory type WB (6) or UC (0), bit 55 (TRUE MSRs exist).
//! - A.2-A.5: allowed-0 settings (low half) are a subset of the allowed-1 settings (high half);
//!   a non-TRUE MSR reports every default1 bit as must-be-1 and otherwise equals its TRUE MSR
//!   (A.2: "the TRUE MSR may report 0 only for default1 controls"); allowed-1 of the secondary
//!   controls exists only with "activate secondary controls" allowed-1 (A.3.3).
//! - A.6 IA32_VMX_MISC: bit 5 with "unrestricted guest"; the activity states offered; the
//!   CR3-target count at most 256; MSEG revision (63:32) 0 without the dual-monitor treatment.
//! - A.7/A.8: CR0/CR4 FIXED0 (bits fixed to 1) is a subset of FIXED1 (bits that may be 1);
//!   CR0.PE, NE, PG and CR4.VMXE are fixed to 1.
//! - A.9 IA32_VMX_VMCS_ENUM: bits 9:1 = the highest index of any field the profile supports.
//! - A.10 IA32_VMX_EPT_VPID_CAP: EPT capability bits only with "enable EPT" allowed-1, VPID
//!   ones only with "enable VPID"; a page-walk length and a memory type; INVEPT (bit 20) with a
//!   type (25/26) and conversely; INVVPID (bit 32) iff a type (40-43).
//! - A.11 IA32_VMX_VMFUNC only with "enable VM functions".
//!
//! Every optional control bit is set by some shared case's VMCS (checked from the cases'
//! fields), and every EPT/VPID and MISC capability flag has a named case ([`CAPABILITY_CASES`]).
//!
//! The profiles are also compared with the Ice Lake values Bochs reports
//! (/work/shared/oracles/README.md): the differences are listed in [`ICELAKE_DIFFERENCES`]
//! and the test checks that list is exactly what differs.

#[macro_use]
mod common;

use common::cases;
use hvbench_vmx::caps::{default1, msr, Profile};
use hvbench_vmx::fields::{enc, FIELDS};

fn profiles() -> Vec<Profile> {
    Profile::NAMES.iter().map(|n| Profile::by_name(n).expect("a profile")).collect()
}

fn rd(p: &Profile, m: u32) -> u64 {
    p.read(m).unwrap_or_else(|| panic!("{}: MSR {m:#x} missing", p.name))
}

#[test]
fn basic_is_well_formed() {
    for p in profiles() {
        let b = rd(&p, msr::BASIC);
        assert_eq!(b & 1 << 31, 0, "{}: revision identifier bit 31", p.name);
        let size = (b >> 32) & 0x1fff;
        assert!(size > 0 && size <= 4096, "{}: region size {size}", p.name);
        assert_eq!(b & 1 << 48, 0, "{}: bit 48 (32-bit physical addresses) on a 64-bit CPU", p.name);
        assert!(matches!((b >> 50) & 0xf, 0 | 6), "{}: memory type", p.name);
        assert_ne!(b & 1 << 55, 0, "{}: TRUE MSRs", p.name);
    }
}

#[test]
fn control_msrs_are_consistent() {
    let pairs = [
        (msr::PINBASED, msr::TRUE_PINBASED, default1::PIN),
        (msr::PROCBASED, msr::TRUE_PROCBASED, default1::PROC),
        (msr::EXIT, msr::TRUE_EXIT, default1::EXIT),
        (msr::ENTRY, msr::TRUE_ENTRY, default1::ENTRY),
    ];
    for p in profiles() {
        for (plain, tru, d1) in pairs {
            let (a, t) = (rd(&p, plain), rd(&p, tru));
            for (name, v) in [("plain", a), ("TRUE", t)] {
                let (must1, may1) = (v as u32, (v >> 32) as u32);
                assert_eq!(must1 & !may1, 0, "{}: MSR {plain:#x} {name}: allowed-0 settings not within allowed-1", p.name);
            }
            // A.2: the non-TRUE MSR has every default1 bit as must-be-1 ...
            assert_eq!(a as u32 & d1, d1, "{}: MSR {plain:#x} reports a default1 bit as may-be-0", p.name);
            // ... and differs from the TRUE MSR only in default1 bits of the low half.
            assert_eq!(a >> 32, t >> 32, "{}: MSR {plain:#x} and {tru:#x} allowed-1", p.name);
            assert_eq!((a as u32 ^ t as u32) & !d1, 0, "{}: MSR {plain:#x} vs {tru:#x}: a non-default1 bit differs", p.name);
            assert_eq!(t as u32 & !(a as u32), 0, "{}: TRUE MSR {tru:#x} requires more than the plain one", p.name);
            // Every default1 bit may be 1 (the non-TRUE MSR forces it).
            assert_eq!((a >> 32) as u32 & d1, d1, "{}: MSR {plain:#x}: default1 bit not allowed-1", p.name);
        }
        // A.3.3: the secondary controls exist with "activate secondary controls" allowed-1;
        // their allowed-0 settings are all 0 (no secondary control is must-be-1).
        assert_ne!(rd(&p, msr::PROCBASED) >> 32 & 1 << 31, 0, "{}", p.name);
        let p2 = rd(&p, msr::PROCBASED2);
        assert_eq!(p2 as u32, 0, "{}: PROCBASED2 allowed-0", p.name);
        // Dependencies between controls (27.2.1.1): virtual NMIs need NMI exiting, NMI-window
        // exiting needs virtual NMIs, unrestricted guest needs EPT.
        let pin1 = (rd(&p, msr::TRUE_PINBASED) >> 32) as u32;
        if pin1 & 1 << 5 != 0 {
            assert_ne!(pin1 & 1 << 3, 0);
        }
        if (rd(&p, msr::TRUE_PROCBASED) >> 32) & 1 << 22 != 0 {
            assert_ne!(pin1 & 1 << 5, 0);
        }
        if (p2 >> 32) & 1 << 7 != 0 {
            assert_ne!((p2 >> 32) & 1 << 1, 0);
        }
    }
}

#[test]
fn misc_and_fixed_msrs_are_consistent() {
    for p in profiles() {
        let misc = rd(&p, msr::MISC);
        let p2 = rd(&p, msr::PROCBASED2) >> 32;
        if p2 & 1 << 7 != 0 {
            assert_ne!(misc & 1 << 5, 0, "{}: MISC bit 5 with unrestricted guest (A.6)", p.name);
        }
        assert!((misc >> 16) & 0x1ff <= 256, "{}: CR3-target count", p.name);
        assert_eq!(misc >> 32, 0, "{}: MSEG revision without the dual-monitor treatment", p.name);
        assert_eq!(misc & 1 << 14, 0, "{}: Intel PT in VMX operation is not implemented", p.name);
        // The activity states offered (bits 8:6) are accepted by VM entry: the entry cases
        // for HLT, shutdown and wait-for-SIPI (cases_*.rs, halted.rs, init_sipi.rs).
        assert_eq!(misc >> 6 & 7, 7, "{}: the activity states that hvbench implements", p.name);
        let (c0f0, c0f1) = (rd(&p, msr::CR0_FIXED0), rd(&p, msr::CR0_FIXED1));
        let (c4f0, c4f1) = (rd(&p, msr::CR4_FIXED0), rd(&p, msr::CR4_FIXED1));
        assert_eq!(c0f0 & !c0f1, 0, "{}: CR0 FIXED0 within FIXED1", p.name);
        assert_eq!(c4f0 & !c4f1, 0, "{}: CR4 FIXED0 within FIXED1", p.name);
        assert_eq!(c0f0 & 0x8000_0021, 0x8000_0021, "{}: CR0.PE, NE, PG fixed to 1 (A.7)", p.name);
        assert_ne!(c4f0 & 1 << 13, 0, "{}: CR4.VMXE fixed to 1 (A.8)", p.name);
    }
}

#[test]
fn vmcs_enum_is_the_highest_supported_index() {
    for p in profiles() {
        let max = (rd(&p, msr::VMCS_ENUM) >> 1) & 0x1ff;
        assert_eq!(rd(&p, msr::VMCS_ENUM) & !0x3fe, 0, "{}: VMCS_ENUM reserved bits", p.name);
        let idx = |e: u32| ((e >> 1) & 0x1ff) as u64;
        assert!(FIELDS.iter().filter(|f| f.supported(&p)).all(|f| idx(f.enc) <= max), "{}: a supported field above VMCS_ENUM", p.name);
        assert!(FIELDS.iter().any(|f| f.supported(&p) && idx(f.enc) == max), "{}: no supported field has the VMCS_ENUM index {max:#x}", p.name);
    }
    // The default profile's highest index: of the Appendix B fields hvbench supports, the
    // VMX-preemption timer value (482EH) has the highest index, 17H.
    assert_eq!(rd(&Profile::default_profile(), msr::VMCS_ENUM), 0x17 << 1);
    assert!(FIELDS.iter().any(|f| f.enc == enc::PREEMPTION_TIMER_VALUE));
}

#[test]
fn ept_vpid_cap_matches_the_secondary_controls() {
    for p in profiles() {
        let cap = rd(&p, msr::EPT_VPID_CAP);
        let p2 = rd(&p, msr::PROCBASED2) >> 32;
        let (ept, vpid) = (p2 & 1 << 1 != 0, p2 & 1 << 5 != 0);
        let b = |n: u32| cap & 1 << n != 0;
        assert_eq!(ept, cap as u32 != 0, "{}: EPT capability bits iff EPT", p.name);
        assert_eq!(vpid, cap >> 32 != 0, "{}: VPID capability bits iff VPID", p.name);
        if ept {
            assert!(b(6) || b(7), "{}: a page-walk length", p.name);
            assert!(b(8) || b(14), "{}: an EPT paging-structure memory type", p.name);
            assert_eq!(b(20), b(25) || b(26), "{}: INVEPT iff an INVEPT type", p.name);
            // A.10: bits reserved (1-5, 9-13, 15, 18, 19, 24, 27-31) are 0.
            let reserved: u64 = 0x3e | 0x3e00 | 1 << 15 | 1 << 18 | 1 << 19 | 1 << 24 | 0xf800_0000;
            assert_eq!(cap & reserved, 0, "{}: reserved EPT capability bits", p.name);
            // INVEPT is required by any VMM that changes EPT entries: every EPT profile has it.
            assert!(b(20));
        }
        assert_eq!(b(32), cap >> 40 & 0xf != 0, "{}: INVVPID iff an INVVPID type", p.name);
        assert_eq!(cap >> 33 & 0x7f, 0, "{}: bits 39:33 reserved", p.name);
        assert_eq!(cap >> 44, 0, "{}: bits 63:44 reserved", p.name);
        // The VMFUNC MSR exists iff "enable VM functions" may be 1 (A.11).
        assert_eq!(p.read(msr::VMFUNC).is_some(), p2 & 1 << 13 != 0, "{}", p.name);
    }
}

/// The offered controls that no shared case sets in its VMCS, with where they are exercised
/// instead (sandbox-only tests). Empty is the goal.
const EXERCISED_ELSEWHERE: &[(&str, u32, &str)] = &[
    ("pin", 1 << 0, "external-interrupt exiting needs a bus with an interrupt source: conformance.rs external_interrupt_exits_with_and_without_acknowledge"),
    ("exit", 1 << 15, "acknowledge interrupt on exit: conformance.rs external_interrupt_exits_with_and_without_acknowledge"),
];

/// Every control bit a profile offers as optional (allowed-1 and not must-be-1 in the TRUE
/// MSR) is set by some shared case's VMCS, or listed in [`EXERCISED_ELSEWHERE`].
#[test]
fn every_offered_control_has_a_case() {
    let fields = [
        ("pin", msr::TRUE_PINBASED, enc::PIN_BASED_CONTROLS),
        ("proc", msr::TRUE_PROCBASED, enc::PROC_BASED_CONTROLS),
        ("proc2", msr::PROCBASED2, enc::SECONDARY_PROC_BASED_CONTROLS),
        ("exit", msr::TRUE_EXIT, enc::EXIT_CONTROLS),
        ("entry", msr::TRUE_ENTRY, enc::ENTRY_CONTROLS),
    ];
    let vmcs: Vec<Vec<(u32, u64)>> = cases::all().map(cases::case_fields).collect();
    let mut missing = Vec::new();
    for p in profiles() {
        for (name, m, field) in fields {
            let v = rd(&p, m);
            let optional = (v >> 32) as u32 & !(v as u32);
            for bit in 0..32 {
                let b = 1u32 << bit;
                if optional & b == 0 || EXERCISED_ELSEWHERE.iter().any(|e| e.0 == name && e.1 == b) {
                    continue;
                }
                if !vmcs.iter().any(|f| common::get(f, field) as u32 & b != 0) {
                    missing.push(format!("{}: {name} bit {bit}", p.name));
                }
            }
        }
    }
    missing.dedup();
    assert!(missing.is_empty(), "offered controls without a case:\n{}", missing.join("\n"));
}

/// Differences between the default profile and Bochs's `corei7_icelake_u` (oracles README),
/// per MSR: (MSR, what differs). Bit numbers of the control MSRs are control bits (the
/// allowed-1 half).
const ICELAKE_DIFFERENCES: &[(u32, &str)] = &[
    (msr::BASIC, "the revision identifier (bits 30:0, model-specific) only"),
    (msr::EXIT, "Bochs also offers load IA32_PERF_GLOBAL_CTRL (12)"),
    (msr::TRUE_EXIT, "as EXIT"),
    (msr::ENTRY, "Bochs also offers entry to SMM (10), deactivate dual-monitor treatment (11) and load IA32_PERF_GLOBAL_CTRL (13)"),
    (msr::TRUE_ENTRY, "as ENTRY"),
    (msr::MISC, "hvbench: preemption-timer rate 5 (bits 4:0; Bochs 0, the timer counting at the TSC rate); Bochs also sets bit 30 (VM entry may inject software interrupts and exceptions with instruction length 0)"),
    (msr::CR4_FIXED1, "hvbench allows CR4.LA57 (bit 12), Bochs CR4.PKE (bit 22)"),
    (msr::VMCS_ENUM, "highest field index 17H (VMX-preemption timer value) in hvbench, 1AH in Bochs (fields of features hvbench does not offer)"),
    (msr::PROCBASED2, "Bochs also offers virtualize APIC accesses (0), virtualize x2APIC mode (4), APIC-register virtualization (8), virtual-interrupt delivery (9), VMCS shadowing (14), PML (17), EPT-violation #VE (18), XSAVES/XRSTORS (20), bit 23 and TSC scaling (25)"),
    (msr::EPT_VPID_CAP, "hvbench adds 5-level EPT (bit 7) and advanced VM-exit information for EPT violations (bit 22)"),
];

#[test]
fn differences_from_bochs_icelake_are_documented() {
    let p = Profile::default_profile();
    let bochs: &[(u32, u64)] = &[
        (msr::BASIC, 0x00d8_1000_0000_0004),
        (msr::PINBASED, 0x0000_007f_0000_0016),
        (msr::PROCBASED, 0xfff9_fffe_0401_e172),
        (msr::EXIT, 0x007f_ffff_0003_6dff),
        (msr::ENTRY, 0x0000_ffff_0000_11ff),
        (msr::MISC, 0x0000_0000_6004_01e0),
        (msr::CR0_FIXED0, 0x8000_0021),
        (msr::CR0_FIXED1, 0xffff_ffff),
        (msr::CR4_FIXED0, 0x2000),
        (msr::CR4_FIXED1, 0x0077_2fff),
        (msr::VMCS_ENUM, 0x34),
        (msr::PROCBASED2, 0x0297_7fff_0000_0000),
        (msr::EPT_VPID_CAP, 0x0000_0f01_0633_4141),
        (msr::TRUE_PINBASED, 0x7f_0000_0016),
        (msr::TRUE_PROCBASED, 0xfff9_fffe_0400_6172),
        (msr::TRUE_EXIT, 0x007f_ffff_0003_6dfb),
        (msr::TRUE_ENTRY, 0x0000_ffff_0000_11fb),
        (msr::VMFUNC, 1),
    ];
    let mut report = Vec::new();
    for &(m, b) in bochs {
        let h = rd(&p, m);
        if h != b {
            report.push(format!("MSR {m:#x}: hvbench {h:#018x}, Bochs {b:#018x}, hvbench-only bits {:#x}, Bochs-only bits {:#x}", h & !b, b & !h));
        }
    }
    eprintln!("{}", report.join("\n"));
    // Everything hvbench offers beyond Bochs in the EPT/VPID capabilities is exercised by
    // cases: 5-level EPT (ept_5_level_*), advanced EPT-violation information (conformance.rs
    // ept_violation_advanced_information).
    let extra = rd(&p, msr::EPT_VPID_CAP) & !0x0000_0f01_0633_4141;
    assert_eq!(extra, 1 << 7 | 1 << 22, "EPT_VPID_CAP beyond Bochs's");
    assert!(cases::all().any(|c| c.name == "ept_5_level_walk"));
    let differing: Vec<u32> = bochs.iter().filter(|&&(m, b)| rd(&p, m) != b).map(|b| b.0).collect();
    let listed: Vec<u32> = ICELAKE_DIFFERENCES.iter().map(|d| d.0).collect();
    let (mut d, mut l) = (differing, listed);
    d.sort();
    l.sort();
    assert_eq!(d, l, "the MSRs that differ from Bochs's Ice Lake values are exactly those documented");
}

/// Every IA32_VMX_EPT_VPID_CAP and IA32_VMX_MISC capability bit the default profile reports
/// has a case that uses it (a shared case by name, or a sandbox test named here): an
/// advertised bit without one fails the test.
const CAPABILITY_CASES: &[(u32, u32, &[&str])] = &[
    (msr::EPT_VPID_CAP, 0, &["ept_read_execute_only", "ept_fetch_execute_only_succeeds", "ept_write_execute_only"]),
    (msr::EPT_VPID_CAP, 6, &["ept_identity_data_access"]),
    (msr::EPT_VPID_CAP, 7, &["ept_5_level_walk", "ept_5_level_violation"]),
    (msr::EPT_VPID_CAP, 8, &["ept_eptp_memory_type_uc"]),
    (msr::EPT_VPID_CAP, 14, &["ept_identity_data_access"]),
    (msr::EPT_VPID_CAP, 16, &["ept_2m_page_maps_its_offset", "ept_2m_page_write_violation"]),
    (msr::EPT_VPID_CAP, 17, &["ept_1g_page_maps_its_offset", "ept_misconfig_1g_page_reserved_bits"]),
    (msr::EPT_VPID_CAP, 20, &["invept_all_context_succeeds", "invept_single_context_succeeds"]),
    (msr::EPT_VPID_CAP, 21, &["ept_ad_read_sets_accessed", "ept_ad_write_sets_dirty", "ept_ad_guest_paging_structure_is_a_write"]),
    (msr::EPT_VPID_CAP, 22, &["conformance.rs ept_violation_advanced_information"]),
    (msr::EPT_VPID_CAP, 25, &["invept_single_context_succeeds", "invept_makes_the_new_ept_entry_used"]),
    (msr::EPT_VPID_CAP, 26, &["invept_all_context_succeeds"]),
    (msr::EPT_VPID_CAP, 32, &["invvpid_all_context_succeeds"]),
    (msr::EPT_VPID_CAP, 40, &["invvpid_individual_address_succeeds"]),
    (msr::EPT_VPID_CAP, 41, &["invvpid_single_context_succeeds", "invvpid_makes_the_new_guest_pde_used"]),
    (msr::EPT_VPID_CAP, 42, &["invvpid_all_context_succeeds"]),
    (msr::EPT_VPID_CAP, 43, &["invvpid_single_context_retaining_globals_succeeds"]),
    (msr::MISC, 5, &["unrestricted_real_mode_guest"]),
    (msr::MISC, 6, &["mtf_after_hlt_exits_from_the_hlt_state"]),
    (msr::MISC, 7, &["activity_timer.rs timer_at_zero_exits_from_shutdown (ignored: core bug)"]),
    (msr::MISC, 8, &["entry_wait_for_sipi_refuses_injection", "activity_timer.rs timer_at_zero_does_not_exit_in_wait_for_sipi", "init_sipi.rs"]),
    (msr::MISC, 29, &["vmwrite_exit_qualification_with_misc_bit_29"]),
];

#[test]
fn every_advertised_capability_bit_has_a_case() {
    let p = Profile::default_profile();
    let names: Vec<&str> = cases::all().map(|c| c.name).collect();
    for m in [msr::EPT_VPID_CAP, msr::MISC] {
        let v = rd(&p, m);
        // MISC bits 4:0 (timer rate) and 24:16 (CR3-target count) are numbers, checked by
        // exits_timing.rs and the CR3-target case; only flag bits are listed.
        let flags = if m == msr::MISC { v & !(0x1f | 0x1ff << 16) } else { v };
        for bit in 0..64 {
            if flags & 1 << bit == 0 {
                continue;
            }
            let Some((_, _, cs)) = CAPABILITY_CASES.iter().find(|c| c.0 == m && c.1 == bit) else {
                panic!("MSR {m:#x} bit {bit} is advertised but no case is listed for it");
            };
            for c in cs.iter().filter(|c| !c.contains(".rs")) {
                assert!(names.contains(c), "MSR {m:#x} bit {bit}: no shared case named {c}");
            }
        }
    }
}
