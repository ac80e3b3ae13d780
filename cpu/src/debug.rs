//! Debug exceptions raised by the debug registers and TF (SDM Vol. 3A chapter 18 "Debug,
//! Branch Profile, TSC, and Intel Resource Director Technology Features": 18.2 "Debug
//! Registers", 18.3.1 "Debug Exception (#DB)—Interrupt Vector 1"; Vol. 3A 6.8.3 for the
//! MOV SS/POP SS shadow).
//!
//! Modelled: instruction breakpoints (DR7 L/G with R/W=00, fault class, checked before the
//! fetch, suppressed by RFLAGS.RF), data breakpoints (R/W=01 writes, R/W=11 reads or writes,
//! LEN 1/2/4/8, trap class, reported after the instruction), single-step (TF as it was
//! *before* the instruction, 18.3.1.4), and the delay of data-breakpoint and single-step
//! traps past the instruction after MOV SS/POP SS/LSS. DR6.B0-B3 are set only for
//! enabled breakpoints that matched (the SDM allows either). I/O breakpoints (R/W=10) are
//! not modelled and never match. Data breakpoints watch explicit and stack accesses, not the
//! implicit reads of descriptor tables and the TSS.
//!
//! The fast path tests one bool ([`DebugArm::armed`]) plus TF|RF per instruction.

use crate::cpu::{Cpu, Exec};
use crate::exception::Exception;
use crate::flags;
use crate::segment::SegReg;
use crate::state::Mode;

/// DR6.BS: single-step.
const DR6_BS: u64 = 1 << 14;

/// Which debug features are armed, derived from DR7 and pending traps.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DebugArm {
    /// Anything that needs the slow path (breakpoint enabled or a trap pending).
    pub armed: bool,
    /// Some enabled breakpoint has R/W=00 (instruction).
    pub code: bool,
    /// Some enabled breakpoint has R/W=01 or 11 (data).
    pub data: bool,
    /// DR6.B0-B3 bits of data breakpoints that matched during this instruction.
    pub hits: u8,
    /// DR6 bits of traps held back by a MOV SS/POP SS shadow.
    pub pending: u64,
    /// The extension asked for [`crate::ext::Intercept::Boundary`] before each instruction.
    pub boundary: bool,
}

/// The enable bits, R/W field and length of breakpoint `n` in DR7.
fn bp_fields(dr7: u64, n: usize) -> (bool, u64, u64) {
    let enabled = (dr7 >> (2 * n)) & 3 != 0;
    let rw = (dr7 >> (16 + 4 * n)) & 3;
    let len = match (dr7 >> (18 + 4 * n)) & 3 {
        0 => 1,
        1 => 2,
        2 => 8,
        _ => 4,
    };
    (enabled, rw, len)
}

impl Cpu {
    /// Recomputes [`DebugArm`] after DR7 or the pending traps changed.
    pub(crate) fn refresh_debug(&mut self) {
        let dr7 = self.state.dr[7];
        let (mut code, mut data) = (false, false);
        for n in 0..4 {
            let (en, rw, _) = bp_fields(dr7, n);
            code |= en && rw == 0;
            data |= en && (rw == 1 || rw == 3);
        }
        let d = &mut self.debug;
        d.code = code;
        d.data = data;
        d.armed = code || data || d.pending != 0 || d.boundary;
        // The data fast path is made only while no data breakpoint is enabled (`dtlb.rs`).
        self.tlb.bump_generation();
    }

    /// Asks for (or stops asking for) [`crate::ext::Intercept::Boundary`] before every
    /// instruction in VMX non-root operation. It sends execution down the one-instruction
    /// slow path, so the extension turns it on only while it needs it (monitor trap flag,
    /// VMX-preemption timer).
    pub fn set_boundary_hook(&mut self, on: bool) {
        self.debug.boundary = on;
        self.refresh_debug();
    }
}

impl Exec<'_> {
    /// Records data-breakpoint matches for an access of `size` bytes at linear `la`.
    #[cold]
    pub(crate) fn watch_data(&mut self, la: u64, size: u32, write: bool) {
        let dr7 = self.cpu.state.dr[7];
        let wide = self.cpu.state.mode() == Mode::Long64;
        for n in 0..4 {
            let (en, rw, len) = bp_fields(dr7, n);
            if !en || !(rw == 3 || (rw == 1 && write)) {
                continue;
            }
            let mut bp = self.cpu.state.dr[n] & !(len - 1);
            if !wide {
                bp &= 0xffff_ffff;
            }
            // Overlap of [la, la+size) and [bp, bp+len).
            let end = la.wrapping_add(size as u64);
            if la < bp.wrapping_add(len) && bp < end {
                self.cpu.debug.hits |= 1 << n;
            }
        }
    }

    /// DR6.B0-B3 bits of the enabled instruction breakpoints at the current CS:RIP.
    fn code_breakpoints(&self) -> u64 {
        let s = &self.cpu.state;
        let wide = s.mode() == Mode::Long64;
        let la = if wide { s.rip } else { s.seg(SegReg::Cs).base.wrapping_add(s.rip) & 0xffff_ffff };
        let mut hits = 0;
        for n in 0..4 {
            let (en, rw, _) = bp_fields(s.dr[7], n);
            let bp = if wide { s.dr[n] } else { s.dr[n] & 0xffff_ffff };
            if en && rw == 0 && bp == la {
                hits |= 1 << n;
            }
        }
        hits
    }

    /// Delivers #DB with `bits` added to DR6 (by the delivery, unless the #DB exits).
    fn debug_exception(&mut self, bits: u64) {
        self.deliver_exception(Exception::db_with(bits));
    }

    /// One instruction when breakpoints are armed or TF/RF is set (instead of a block).
    #[cold]
    #[inline(never)]
    pub(crate) fn step_debug(&mut self) {
        if self.cpu.debug.boundary && self.cpu.vmx_non_root && self.intercept(crate::ext::Intercept::Boundary, 0).is_err() {
            // A VM exit happened at this boundary: the host runs now.
            return;
        }
        let pre = self.cpu.state.rflags;
        let rf = pre & flags::RF != 0;
        // RF suppresses instruction breakpoints for this instruction and is cleared once it
        // completes (18.3.1.1); clearing it first is equivalent since a fault pushes RF=1.
        self.cpu.state.rflags &= !flags::RF;
        if !rf && self.cpu.debug.code {
            let hits = self.code_breakpoints();
            if hits != 0 {
                self.debug_exception(hits);
                return;
            }
        }
        self.cpu.debug.hits = 0;
        if !self.execute_one() {
            return;
        }
        let mut bits = self.cpu.debug.hits as u64;
        if pre & flags::TF != 0 {
            bits |= DR6_BS;
        }
        if self.cpu.state.shadow & 2 != 0 {
            // MOV SS/POP SS/LSS: traps wait until after the next instruction (6.8.3).
            self.cpu.debug.pending |= bits;
        } else {
            bits |= std::mem::take(&mut self.cpu.debug.pending);
            if bits != 0 && self.cpu.debug.boundary && self.cpu.vmx_non_root {
                // A monitor-trap-flag VM exit comes before the trap, which then stays pending.
                self.cpu.debug.pending = bits;
                if self.intercept(crate::ext::Intercept::DebugTrap, 0).is_err() {
                    self.cpu.refresh_debug();
                    return;
                }
                bits = std::mem::take(&mut self.cpu.debug.pending);
            }
            if bits != 0 {
                self.debug_exception(bits);
            }
        }
        self.cpu.refresh_debug();
    }
}
