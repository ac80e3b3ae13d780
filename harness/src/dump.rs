//! A readable dump of a vCPU's state, for triple faults, deadlocks and `--dump`.

use hvbench_cpu::exception::mnemonic;
use hvbench_cpu::segment::{SegReg, Segment};
use hvbench_cpu::Cpu;
use std::fmt::Write as _;

const GPR_NAMES: [&str; 16] = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

fn seg_line(out: &mut String, name: &str, s: &Segment) {
    let _ = writeln!(
        out,
        "  {name:<4} sel={:#06x} base={:#018x} limit={:#010x} attr={:#07x}{}",
        s.selector,
        s.base,
        s.limit,
        s.attr,
        if s.unusable() { " (unusable)" } else { "" }
    );
}

/// The state of vCPU `index` as a multi-line text.
pub fn cpu_state(index: usize, cpu: &Cpu) -> String {
    let s = &cpu.state;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "vCPU {index}: {:?}, mode {}, CPL {}, {} instructions, {} cycles",
        s.activity,
        s.mode().name(),
        s.cpl,
        cpu.retired,
        cpu.cycles
    );
    for row in 0..4 {
        out.push(' ');
        for col in 0..4 {
            let i = row * 4 + col;
            let _ = write!(out, " {:>3}={:#018x}", GPR_NAMES[i], s.gpr[i]);
        }
        out.push('\n');
    }
    let _ = writeln!(out, "  rip={:#018x} rflags={:#010x}", s.rip, s.rflags);
    let _ = writeln!(out, "  cr0={:#010x} cr2={:#018x} cr3={:#018x} cr4={:#010x} efer={:#x}", s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
    for seg in SegReg::ALL {
        seg_line(&mut out, seg.name(), s.seg(seg));
    }
    seg_line(&mut out, "LDTR", &s.ldtr);
    seg_line(&mut out, "TR", &s.tr);
    let _ = writeln!(out, "  GDTR base={:#018x} limit={:#06x}", s.gdtr.base, s.gdtr.limit);
    let _ = writeln!(out, "  IDTR base={:#018x} limit={:#06x}", s.idtr.base, s.idtr.limit);
    let mut any = false;
    for (v, code, rip, retired) in cpu.recent_exceptions.iter() {
        if !any {
            out.push_str("  last exceptions (oldest first):\n");
            any = true;
        }
        let code = code.map(|c| format!(" error_code={c:#x}")).unwrap_or_default();
        let _ = writeln!(out, "    {} (vector {v}) at rip={rip:#x}{code} after {retired} instructions", mnemonic(v));
    }
    if !any {
        out.push_str("  no exceptions were delivered\n");
    }
    out
}
