//! A readable dump of a VMCS (STYLE.md: "on an unhandled exit or failed entry, dump the whole
//! VMCS"): every field the profile supports, grouped as SDM Appendix B groups them (by the
//! encoding's type bits: control, VM-exit information, guest state, host state), with its name,
//! encoding and value; control fields are decoded into the names of their set bits (SDM 25.6.1,
//! 25.6.2, 25.7.1, 25.8.1), the exit reason into its name (Appendix C), and interruption
//! information into vector, type and flags (25.8.3, 25.9.2).
//!
//! The dump reads the region through a callback, so it works on a live vCPU (`Exec`) and on a
//! machine's memory after the run alike.

use crate::caps::Profile;
use crate::controls::{intr, EntryCtls, ExitCtls, PinCtls, ProcCtls, ProcCtls2};
use crate::fields::{enc, Kind, FIELDS};
use crate::vmcs::{ABORT_OFFSET, FIELD_BASE, LAUNCH_STATE_OFFSET, REVISION_OFFSET};
use core::fmt::Write;

/// The VMCS at physical `addr`; `read(a)` returns the 8 bytes at physical address `a`.
pub fn vmcs(addr: u64, profile: &Profile, mut read: impl FnMut(u64) -> u64) -> String {
    let mut out = String::new();
    let rev = read(addr.wrapping_add(REVISION_OFFSET)) as u32;
    let abort = read(addr.wrapping_add(ABORT_OFFSET)) as u32;
    let launched = read(addr.wrapping_add(LAUNCH_STATE_OFFSET)) as u32 == 1;
    let _ = writeln!(out, "VMCS at {addr:#x}: revision {rev:#x}, VMX-abort indicator {abort}, launch state {}", if launched { "launched" } else { "clear" });
    for (kind, title) in [(Kind::Control, "control fields"), (Kind::ReadOnly, "VM-exit information fields"), (Kind::Guest, "guest-state fields"), (Kind::Host, "host-state fields")] {
        let _ = writeln!(out, "  {title}:");
        for (slot, f) in FIELDS.iter().enumerate() {
            if f.kind != kind || !f.supported(profile) {
                continue;
            }
            let v = read(addr.wrapping_add(FIELD_BASE + 8 * slot as u64)) & f.width.mask();
            let _ = write!(out, "    {:<34} {:#06x} = {v:#x}", f.name, f.enc);
            if let Some(d) = decode(f.enc, v) {
                let _ = write!(out, "  [{d}]");
            }
            out.push('\n');
        }
    }
    out
}

/// Names the set bits of a control field, the exit reason, or an interruption-information
/// value; `None` for other fields.
pub fn decode(field: u32, v: u64) -> Option<String> {
    let v32 = v as u32;
    Some(match field {
        enc::PIN_BASED_CONTROLS => names(PinCtls::from_bits_retain(v32).iter_names(), v32 & !PinCtls::all().bits()),
        enc::PROC_BASED_CONTROLS => names(ProcCtls::from_bits_retain(v32).iter_names(), v32 & !ProcCtls::all().bits()),
        enc::SECONDARY_PROC_BASED_CONTROLS => names(ProcCtls2::from_bits_retain(v32).iter_names(), v32 & !ProcCtls2::all().bits()),
        enc::EXIT_CONTROLS => names(ExitCtls::from_bits_retain(v32).iter_names(), v32 & !ExitCtls::all().bits()),
        enc::ENTRY_CONTROLS => names(EntryCtls::from_bits_retain(v32).iter_names(), v32 & !EntryCtls::all().bits()),
        enc::EXIT_REASON => {
            let basic = v32 & 0xffff;
            let name = reason_name(basic).unwrap_or("unknown");
            if v32 & crate::exit::reason::ENTRY_FAILURE != 0 { format!("{name}, VM-entry failure") } else { name.to_string() }
        }
        enc::ENTRY_INTERRUPTION_INFO | enc::EXIT_INTERRUPTION_INFO | enc::IDT_VECTORING_INFO => interruption(v32),
        _ => return None,
    })
}

/// The set bits' names, then the bits hvbench has no name for (default1 class bits and
/// reserved ones) in hex.
fn names<'a>(set: impl Iterator<Item = (&'a str, impl Sized)>, rest: u32) -> String {
    let mut parts: Vec<String> = set.map(|(n, _)| n.to_string()).collect();
    if rest != 0 {
        parts.push(format!("other bits {rest:#x}"));
    }
    if parts.is_empty() { "none".to_string() } else { parts.join(" | ") }
}

fn interruption(v: u32) -> String {
    if v & intr::VALID == 0 {
        return "invalid".to_string();
    }
    let kind = match (v >> intr::TYPE_SHIFT) & 7 {
        intr::EXTERNAL => "external interrupt",
        intr::NMI => "NMI",
        intr::HARDWARE_EXCEPTION => "hardware exception",
        intr::SOFTWARE_INTERRUPT => "software interrupt",
        intr::PRIVILEGED_SOFTWARE_EXCEPTION => "privileged software exception",
        intr::SOFTWARE_EXCEPTION => "software exception",
        intr::OTHER => "other event",
        _ => "reserved type 1",
    };
    let mut s = format!("vector {}, {kind}", v & intr::VECTOR);
    if v & intr::ERROR_CODE != 0 {
        s.push_str(", error code");
    }
    if v & intr::NMI_UNBLOCKING != 0 {
        s.push_str(", NMI unblocking due to IRET");
    }
    s
}

/// The name of basic exit reason `r` (SDM Appendix C), for the reasons hvbench produces.
pub fn reason_name(r: u32) -> Option<&'static str> {
    use crate::exit::reason::*;
    Some(match r {
        EXCEPTION_NMI => "exception or NMI",
        EXTERNAL_INTERRUPT => "external interrupt",
        TRIPLE_FAULT => "triple fault",
        INTERRUPT_WINDOW => "interrupt window",
        TASK_SWITCH => "task switch",
        CPUID => "CPUID",
        HLT => "HLT",
        INVD => "INVD",
        INVLPG => "INVLPG",
        RDPMC => "RDPMC",
        RDTSC => "RDTSC",
        VMCALL => "VMCALL",
        VMCLEAR => "VMCLEAR",
        VMLAUNCH => "VMLAUNCH",
        VMPTRLD => "VMPTRLD",
        VMPTRST => "VMPTRST",
        VMREAD => "VMREAD",
        VMRESUME => "VMRESUME",
        VMWRITE => "VMWRITE",
        VMXOFF => "VMXOFF",
        VMXON => "VMXON",
        CR_ACCESS => "control-register access",
        MOV_DR => "MOV DR",
        IO => "I/O instruction",
        RDMSR => "RDMSR",
        WRMSR => "WRMSR",
        INVALID_GUEST_STATE => "invalid guest state",
        MSR_LOADING => "MSR loading",
        MONITOR_TRAP_FLAG => "monitor trap flag",
        PAUSE => "PAUSE",
        TPR_BELOW_THRESHOLD => "TPR below threshold",
        EPT_VIOLATION => "EPT violation",
        EPT_MISCONFIG => "EPT misconfiguration",
        INVEPT => "INVEPT",
        RDTSCP => "RDTSCP",
        PREEMPTION_TIMER => "VMX-preemption timer expired",
        INVVPID => "INVVPID",
        XSETBV => "XSETBV",
        VMFUNC => "VMFUNC",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_reasons_decode() {
        assert_eq!(decode(enc::PIN_BASED_CONTROLS, 0x16 | 1).unwrap(), "EXTERNAL_INTERRUPT_EXITING | other bits 0x16");
        assert_eq!(decode(enc::EXIT_REASON, 0x8000_0021).unwrap(), "invalid guest state, VM-entry failure");
        assert_eq!(decode(enc::EXIT_INTERRUPTION_INFO, 0x8000_0b0e).unwrap(), "vector 14, hardware exception, error code");
        assert_eq!(decode(enc::GUEST_RIP, 5), None);
        assert_eq!(decode(enc::SECONDARY_PROC_BASED_CONTROLS, 0).unwrap(), "none");
    }

    #[test]
    fn every_field_of_the_profile_is_listed_once() {
        let p = Profile::default_profile();
        let text = vmcs(0x1000, &p, |_| 0);
        for f in FIELDS.iter().filter(|f| f.supported(&p)) {
            assert_eq!(text.matches(&format!(" {} ", f.name)).count(), 1, "{}", f.name);
        }
        assert!(!text.contains("POSTED_INTERRUPT_DESCRIPTOR"), "unsupported fields are left out");
    }
}
