//! The text trace: one line per architectural event, in the order the machine produced them.
//!
//! Lines are deterministic (no host time, no addresses of host objects), so two runs of the
//! same image write the same bytes and a trace can be diffed against a golden file.
//!
//! Format: `<cpu> <retired> <event>` where `<retired>` is how many instructions that vCPU
//! had retired, and `<event>` is one of the words below followed by `key=value` fields.

use crate::machine::Record;
use hvbench_cpu::exception::mnemonic;
use hvbench_cpu::{Event, VmOutcome};
use std::fmt::Write as _;

/// Formats one record as a trace line (without the newline).
pub fn line(r: &Record) -> String {
    let mut s = format!("cpu{} {:>12} ", r.cpu, r.retired);
    let _ = match &r.event {
        Event::Exception { vector, error_code, rip, cr2 } => {
            let _ = write!(s, "exception {} vector={vector} rip={rip:#x}", mnemonic(*vector));
            if let Some(c) = error_code {
                let _ = write!(s, " error_code={c:#x}");
            }
            if let Some(a) = cr2 {
                let _ = write!(s, " cr2={a:#x}");
            }
            Ok(())
        }
        Event::Interrupt { vector, rip } => write!(s, "interrupt vector={vector} rip={rip:#x}"),
        Event::SoftwareInterrupt { vector, rip } => write!(s, "int vector={vector} rip={rip:#x}"),
        Event::DoubleFault { first, second } => {
            write!(s, "double-fault first={} second={}", mnemonic(*first), mnemonic(*second))
        }
        Event::TripleFault { rip, vector } => write!(s, "triple-fault rip={rip:#x} while={}", mnemonic(*vector)),
        Event::ModeChange { from, to, rip } => write!(s, "mode {} -> {} rip={rip:#x}", from.name(), to.name()),
        Event::Halt { rip } => write!(s, "hlt rip={rip:#x}"),
        Event::Unimplemented { rip, text } => write!(s, "unimplemented rip={rip:#x} insn=\"{text}\""),
        Event::VmInstruction { rip, mnemonic, outcome, detail } => {
            let _ = write!(s, "vmx-insn {mnemonic} rip={rip:#x} ");
            let _ = match outcome {
                VmOutcome::Succeed => write!(s, "VMsucceed"),
                VmOutcome::FailInvalid => write!(s, "VMfailInvalid"),
                VmOutcome::FailValid(n) => write!(s, "VMfailValid({n})"),
            };
            if !detail.is_empty() {
                let _ = write!(s, " why=\"{detail}\"");
            }
            Ok(())
        }
        Event::VmEntry { launch, rip, vpid } => {
            write!(s, "vm-entry {} guest_rip={rip:#x} vpid={vpid}", if *launch { "VMLAUNCH" } else { "VMRESUME" })
        }
        Event::VmExit { reason, qualification, guest_rip, instruction_len, guest_physical, detail } => {
            let _ = write!(s, "vm-exit reason={} qualification={qualification:#x} guest_rip={guest_rip:#x} len={instruction_len}", reason & 0xffff);
            if reason & (1 << 31) != 0 {
                let _ = write!(s, " entry-failure=1");
            }
            if *guest_physical != 0 {
                let _ = write!(s, " gpa={guest_physical:#x}");
            }
            if !detail.is_empty() {
                let _ = write!(s, " why=\"{detail}\"");
            }
            Ok(())
        }
    };
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_line_has_every_field() {
        let r = Record { cpu: 1, retired: 42, event: Event::Exception { vector: 14, error_code: Some(2), rip: 0x1000, cr2: Some(0xdead000) } };
        assert_eq!(line(&r), "cpu1           42 exception #PF vector=14 rip=0x1000 error_code=0x2 cr2=0xdead000");
    }

    #[test]
    fn vmx_lines() {
        let r = Record { cpu: 0, retired: 7, event: Event::VmInstruction { rip: 0x10, mnemonic: "VMPTRLD", outcome: VmOutcome::FailValid(9), detail: "why".into() } };
        assert_eq!(line(&r), "cpu0            7 vmx-insn VMPTRLD rip=0x10 VMfailValid(9) why=\"why\"");
        let r = Record {
            cpu: 0,
            retired: 8,
            event: Event::VmExit { reason: (1 << 31) | 33, qualification: 4, guest_rip: 0x20, instruction_len: 0, guest_physical: 0, detail: String::new() },
        };
        assert_eq!(line(&r), "cpu0            8 vm-exit reason=33 qualification=0x4 guest_rip=0x20 len=0 entry-failure=1");
    }
}
