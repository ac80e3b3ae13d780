//! Support for the differential test against the host CPU: the host runner ([`host`]), the
//! forms and case generator ([`cases`]), hvbench's side ([`Emu`]) and the comparison.

pub mod cases;
pub mod host;

use hvbench_cpu::exec::{handler_for, Handler};
use hvbench_cpu::flags::{AF, CF, DF, OF, PF, SF, STATUS, ZF};
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, VECTOR_SLOT};
use hvbench_cpu::{Activity, CpuState};
use hvbench_mmu::PhysAddr;
use host::{State, BUF_ADDR, BUF_LEN, FX_LEN};
use iced_x86::{Formatter, Instruction, IntelFormatter, Mnemonic, OpKind, Register, RflagsBits};

/// hvbench's side: one Long64 sandbox reused for every case.
pub struct Emu {
    sb: Sandbox,
    init: CpuState,
    unimplemented: usize,
}

/// How an instruction ended in hvbench.
pub enum Outcome {
    /// It retired; the state after it.
    Retired(State),
    /// It raised the exception with this vector; the GPRs after delivery (RSP holds the
    /// exception frame).
    Exception(u8, [u64; 16]),
}

impl Emu {
    /// A fresh sandbox.
    pub fn new() -> Self {
        let sb = Sandbox::new(SandboxMode::Long64, &[0xf4]);
        let init = sb.cpu.state.clone();
        // Nobody claims the invalid instruction: its handler is the "unimplemented" one.
        let unimplemented = handler_for(&Instruction::default()) as usize;
        Self { sb, init, unimplemented }
    }

    /// Whether hvbench has a handler for this instruction.
    pub fn implements(&self, i: &Instruction) -> bool {
        let h: Handler = handler_for(i);
        h as usize != self.unimplemented
    }

    /// Runs one instruction from `input`.
    pub fn run(&mut self, bytes: &[u8], input: &State) -> Outcome {
        let sb = &mut self.sb;
        sb.cpu.state = self.init.clone();
        sb.cpu.state.gpr = input.gpr;
        sb.cpu.state.rflags = input.rflags;
        load_fx(&mut sb.cpu.state, &input.fx);
        sb.cpu.state.rip = CODE_BASE;
        sb.mem.write_bytes(PhysAddr(CODE_BASE), bytes);
        sb.mem.write_bytes(PhysAddr(BUF_ADDR), &input.buf);
        sb.mem.write_le(PhysAddr(VECTOR_SLOT), 1, 0xff);
        let Sandbox { cpu, mem, bus } = sb;
        cpu.run(mem, bus, 1);
        if cpu.state.rip != CODE_BASE + bytes.len() as u64 && cpu.state.activity == Activity::Active {
            // It faulted: the delivery was that step; let the handler stub record the vector.
            cpu.run(mem, bus, 4);
        }
        let s = &sb.cpu.state;
        if s.rip == CODE_BASE + bytes.len() as u64 && s.activity == Activity::Active {
            let mut buf = vec![0; BUF_LEN];
            sb.mem.read_bytes(PhysAddr(BUF_ADDR), &mut buf);
            Outcome::Retired(State { gpr: s.gpr, rflags: s.rflags, buf, fx: store_fx(s) })
        } else {
            Outcome::Exception(sb.read(VECTOR_SLOT, 1) as u8, s.gpr)
        }
    }
}

/// Loads the x87/MMX, MXCSR and XMM state of a 64-bit FXSAVE image (SDM Vol. 1 Table 10-2;
/// the image's ST(i) slots are in stack order, hvbench keeps physical registers).
pub fn load_fx(s: &mut CpuState, fx: &[u8]) {
    let u16at = |o: usize| u16::from_le_bytes([fx[o], fx[o + 1]]);
    s.fpu.fcw = u16at(0);
    s.fpu.fsw = u16at(2);
    s.fpu.ftw = fx[4];
    s.mxcsr = u32::from_le_bytes(fx[24..28].try_into().unwrap());
    let top = ((s.fpu.fsw >> 11) & 7) as usize;
    for k in 0..8 {
        let mut b = [0u8; 16];
        b[..10].copy_from_slice(&fx[32 + 16 * k..42 + 16 * k]);
        s.fpu.st[(top + k) & 7] = u128::from_le_bytes(b);
    }
    for k in 0..16 {
        s.xmm[k] = u128::from_le_bytes(fx[160 + 16 * k..176 + 16 * k].try_into().unwrap());
    }
}

/// The fields of [`load_fx`] as an FXSAVE image (other bytes zero).
pub fn store_fx(s: &CpuState) -> Vec<u8> {
    let mut fx = vec![0u8; FX_LEN];
    fx[0..2].copy_from_slice(&s.fpu.fcw.to_le_bytes());
    fx[2..4].copy_from_slice(&s.fpu.fsw.to_le_bytes());
    fx[4] = s.fpu.ftw;
    fx[24..28].copy_from_slice(&s.mxcsr.to_le_bytes());
    let top = ((s.fpu.fsw >> 11) & 7) as usize;
    for k in 0..8 {
        fx[32 + 16 * k..42 + 16 * k].copy_from_slice(&s.fpu.st[(top + k) & 7].to_le_bytes()[..10]);
    }
    for k in 0..16 {
        fx[160 + 16 * k..176 + 16 * k].copy_from_slice(&s.xmm[k].to_le_bytes());
    }
    fx
}

/// The compared fields of an FXSAVE image: (name, offset, length). FOP, FIP and FDP are not
/// compared (AMD saves FIP/FDP only while an x87 exception is pending), nor MXCSR_MASK and
/// the reserved bytes of the ST slots.
fn fx_fields() -> Vec<(String, usize, usize)> {
    let mut v = vec![("fcw".to_string(), 0, 2), ("fsw".to_string(), 2, 2), ("ftw".to_string(), 4, 1), ("mxcsr".to_string(), 24, 4)];
    for k in 0..8 {
        v.push((format!("st{k}"), 32 + 16 * k, 10));
    }
    for k in 0..16 {
        v.push((format!("xmm{k}"), 160 + 16 * k, 16));
    }
    v
}

/// An FXSAVE field as a hex number.
fn fx_hex(fx: &[u8], off: usize, len: usize) -> String {
    let mut s = String::from("0x");
    for b in fx[off..off + len].iter().rev() {
        s += &format!("{b:02x}");
    }
    s
}

const REG_NAMES: [&str; 16] =
    ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

/// The flags compared for `i`: the status flags and DF, less those the SDM leaves undefined
/// (iced-x86's table), less the case-dependent ones of [`extra_undefined_flags`].
pub fn flag_mask(i: &Instruction, input: &State) -> u64 {
    let und = i.rflags_undefined();
    let mut m = STATUS | DF;
    for (bit, x86) in [
        (RflagsBits::OF, OF),
        (RflagsBits::SF, SF),
        (RflagsBits::ZF, ZF),
        (RflagsBits::AF, AF),
        (RflagsBits::CF, CF),
        (RflagsBits::PF, PF),
    ] {
        if und & bit != 0 {
            m &= !x86;
        }
    }
    m & !extra_undefined_flags(i, input)
}

/// Flags undefined only for some inputs, which iced's per-instruction table cannot say.
fn extra_undefined_flags(i: &Instruction, input: &State) -> u64 {
    use Mnemonic::*;
    match i.mnemonic() {
        // SDM "SAL/SAR/SHL/SHR": "The OF flag is affected only on 1-bit shifts" (undefined
        // otherwise); "ROL/ROR/RCL/RCR": OF "is undefined for multi-bit rotates";
        // "SHLD"/"SHRD": OF undefined for counts above 1. AF is undefined for any nonzero count.
        Shl | Sal | Shr | Sar | Rol | Ror | Rcl | Rcr | Shld | Shrd => {
            let c = cases::shift_count(i, input);
            (if c > 1 { OF } else { 0 }) | if c != 0 { AF } else { 0 }
        }
        _ => 0,
    }
}

/// GPRs whose result the SDM leaves undefined for this input (bit n = GPR n).
pub fn undefined_regs(i: &Instruction, input: &State) -> u16 {
    use Mnemonic::*;
    match i.mnemonic() {
        // SDM "BSF"/"BSR": "If the content of the source operand is 0, the content of the
        // destination operand is undefined" (AMD documents it as unchanged; Intel clears the
        // upper half of a 64-bit register for a 32-bit destination on some parts).
        Bsf | Bsr if source_value(i, input) == Some(0) => 1 << cases::full(i.op0_register()),
        // SDM "BSWAP": with a 16-bit operand "the result is undefined".
        Bswap if i.op0_register().size() == 2 => 1 << cases::full(i.op0_register()),
        _ => 0,
    }
}

/// The value of operand 1 when it is a register or a buffer memory operand.
fn source_value(i: &Instruction, input: &State) -> Option<u128> {
    if i.op1_kind() != OpKind::Memory && i.op_count() < 2 {
        return None;
    }
    let size = if i.op1_kind() == OpKind::Memory { i.memory_size().size() } else { i.op1_register().size() };
    let m = if size >= 16 { u128::MAX } else { (1u128 << (8 * size)) - 1 };
    match i.op1_kind() {
        OpKind::Register if i.op_count() > 1 && i.op1_register().is_gpr() => {
            let r = i.op1_register();
            let v = input.gpr[cases::full(r)];
            Some((if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) { v >> 8 } else { v }) as u128 & m)
        }
        OpKind::Memory => {
            let ea = cases::memory_address(i, input);
            let off = ea.wrapping_sub(BUF_ADDR) as usize;
            let bytes = input.buf.get(off..off + size.min(16))?;
            let mut b = [0u8; 16];
            b[..bytes.len()].copy_from_slice(bytes);
            Some(u128::from_le_bytes(b) & m)
        }
        _ => None,
    }
}

/// Compares host and hvbench results; returns a report of the differences, if any.
pub fn compare(i: &Instruction, bytes: &[u8], input: &State, host: &State, emu: &Outcome) -> Option<String> {
    let mut diffs = Vec::new();
    match emu {
        Outcome::Exception(v, _) => diffs.push(format!("  hvbench raised exception vector {v}; the host completed")),
        Outcome::Retired(e) => {
            let und = undefined_regs(i, input);
            for (r, name) in REG_NAMES.iter().enumerate() {
                if und & (1 << r) == 0 && host.gpr[r] != e.gpr[r] {
                    diffs.push(format!(
                        "  {name:<4} in {:#018x}  host {:#018x}  hvbench {:#018x}",
                        input.gpr[r], host.gpr[r], e.gpr[r]
                    ));
                }
            }
            let m = flag_mask(i, input);
            if (host.rflags ^ e.rflags) & m != 0 {
                diffs.push(format!(
                    "  rflags in {}  host {}  hvbench {}  (compared: {}; differ: {})",
                    flag_names(input.rflags),
                    flag_names(host.rflags),
                    flag_names(e.rflags),
                    flag_names(m),
                    flag_names((host.rflags ^ e.rflags) & m)
                ));
            }
            for (name, off, len) in fx_fields() {
                if host.fx[off..off + len] != e.fx[off..off + len] {
                    diffs.push(format!(
                        "  {name:<5} in {}  host {}  hvbench {}",
                        fx_hex(&input.fx, off, len),
                        fx_hex(&host.fx, off, len),
                        fx_hex(&e.fx, off, len)
                    ));
                }
            }
            for (k, (h, v)) in host.buf.iter().zip(&e.buf).enumerate() {
                if h != v {
                    diffs.push(format!(
                        "  mem[{:#x}] in {:#04x}  host {:#04x}  hvbench {:#04x}",
                        BUF_ADDR + k as u64,
                        input.buf[k],
                        h,
                        v
                    ));
                }
            }
        }
    }
    if diffs.is_empty() {
        return None;
    }
    let mut text = String::new();
    IntelFormatter::new().format(i, &mut text);
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = format!("{text}   [{}]   ({:?})\n", hex.join(" "), i.code());
    out += "  inputs:";
    for (r, name) in REG_NAMES.iter().enumerate() {
        out += &format!("{}{name}={:#x}", if r % 4 == 0 { "\n    " } else { " " }, input.gpr[r]);
    }
    out += &format!("\n    rflags={:#x} ({})\n", input.rflags, flag_names(input.rflags));
    let top = ((u16::from_le_bytes([input.fx[2], input.fx[3]]) >> 11) & 7) as usize;
    for n in 0..i.op_count() {
        let r = i.op_register(n);
        if i.op_kind(n) != OpKind::Register {
            continue;
        }
        if r.is_xmm() {
            out += &format!("    {r:?} = {}\n", fx_hex(&input.fx, 160 + 16 * r.number(), 16));
        } else if r.is_mm() {
            out += &format!("    {r:?} = {}\n", fx_hex(&input.fx, 32 + 16 * ((r.number() + 8 - top) & 7), 8));
        }
    }
    if let Some(v) = source_value(i, input).filter(|_| i.op1_kind() == OpKind::Memory) {
        out += &format!("    memory source operand = {v:#x}\n");
    }
    if i.op0_kind() == OpKind::Memory {
        // Show the destination bytes (the first 16 from the operand's address).
        let swapped = swap_operands(i);
        if let Some(v) = source_value(&swapped, input) {
            out += &format!("    memory destination operand = {v:#x}\n");
        }
    }
    for d in diffs {
        out += &d;
        out.push('\n');
    }
    Some(out)
}

/// A copy of `i` whose operand 1 is its memory operand 0 (to read it with [`source_value`]).
fn swap_operands(i: &Instruction) -> Instruction {
    let mut s = *i;
    s.set_op1_kind(OpKind::Memory);
    s
}

fn flag_names(f: u64) -> String {
    let mut s = String::new();
    for (b, n) in [(OF, "O"), (DF, "D"), (SF, "S"), (ZF, "Z"), (AF, "A"), (PF, "P"), (CF, "C")] {
        s.push_str(if f & b != 0 { n } else { "-" });
    }
    s
}
