//! Instruction forms and random cases for the differential test.
//!
//! Forms come from iced-x86's op-code tables: every 64-bit-mode legacy or VEX encoding of a
//! listed mnemonic whose operands are general registers, memory or immediates. A case picks
//! registers, a memory operand inside the shared buffer, immediates and input values (biased
//! toward edge values) from a seeded PRNG.

use super::host::{BUF_ADDR, BUF_LEN, FX_LEN, State};
use iced_x86::{Code, EncodingKind, Encoder, Instruction, MemoryOperand, Mnemonic, OpCodeOperandKind as K, OpKind, Register};

/// The instruction families under test, by name. Extend a list (or add a family) to test
/// more instructions; forms that hvbench does not implement yet are counted as skipped.
pub const FAMILIES: &[(&str, &[Mnemonic])] = {
    use Mnemonic::*;
    &[
        ("alu", &[Add, Adc, Sub, Sbb, Cmp, And, Or, Xor, Test, Inc, Dec, Neg, Not]),
        (
            "mov",
            &[
                Mov, Movzx, Movsx, Movsxd, Lea, Xchg, Bswap, Movbe, Cbw, Cwde, Cdqe, Cwd, Cdq, Cqo, Cmovo, Cmovno,
                Cmovb, Cmovae, Cmove, Cmovne, Cmovbe, Cmova, Cmovs, Cmovns, Cmovp, Cmovnp, Cmovl, Cmovge, Cmovle,
                Cmovg, Seto, Setno, Setb, Setae, Sete, Setne, Setbe, Seta, Sets, Setns, Setp, Setnp, Setl, Setge,
                Setle, Setg,
            ],
        ),
        ("stack", &[Push, Pop]),
        (
            "string",
            &[
                Movsb, Movsw, Movsd, Movsq, Cmpsb, Cmpsw, Cmpsd, Cmpsq, Scasb, Scasw, Scasd, Scasq, Lodsb, Lodsw,
                Lodsd, Lodsq, Stosb, Stosw, Stosd, Stosq,
            ],
        ),
        ("shift", &[Shl, Sal, Shr, Sar, Rol, Ror, Rcl, Rcr, Shld, Shrd]),
        ("muldiv", &[Mul, Imul, Div, Idiv]),
        ("bits", &[Bt, Bts, Btr, Btc, Bsf, Bsr, Popcnt, Lzcnt, Tzcnt]),
        ("bmi", &[Andn, Bextr, Blsi, Blsmsk, Blsr, Bzhi, Mulx, Pdep, Pext, Rorx, Sarx, Shlx, Shrx, Adcx, Adox]),
        ("atomic", &[Xadd, Cmpxchg]),
        ("sse42", &[Pcmpestri, Pcmpestri64, Pcmpestrm, Pcmpestrm64, Pcmpistri, Pcmpistrm, Crc32, Pcmpgtq]),
        (
            "simdint",
            &[
                Paddb, Paddw, Paddd, Paddq, Psubb, Psubw, Psubd, Psubq, Paddsb, Paddsw, Psubsb, Psubsw, Paddusb,
                Paddusw, Psubusb, Psubusw, Pcmpeqb, Pcmpeqw, Pcmpeqd, Pcmpgtb, Pcmpgtw, Pcmpgtd, Pmullw, Pmulhw,
                Pmulhuw, Pmuludq, Pmaddwd, Pavgb, Pavgw, Pminub, Pmaxub, Pminsw, Pmaxsw, Psadbw, Pand, Pandn, Por,
                Pxor, Psllw, Pslld, Psllq, Psrlw, Psrld, Psrlq, Psraw, Psrad, Punpcklbw, Punpcklwd, Punpckldq,
                Punpckhbw, Punpckhwd, Punpckhdq, Packsswb, Packssdw, Packuswb, Pshufw, Pinsrw, Pextrw, Pmovmskb,
                Movd, Movq, Movq2dq, Movdq2q, Emms, Pshufb, Phaddw, Phaddd, Phaddsw, Phsubw, Phsubd, Phsubsw,
                Pmaddubsw, Pmulhrsw, Psignb, Psignw, Psignd, Pabsb, Pabsw, Pabsd, Palignr, Movntq,
            ],
        ),
        (
            "ssefp",
            &[
                Addps, Addss, Addpd, Addsd, Subps, Subss, Subpd, Subsd, Mulps, Mulss, Mulpd, Mulsd, Divps, Divss,
                Divpd, Divsd, Sqrtps, Sqrtss, Sqrtpd, Sqrtsd, Minps, Minss, Minpd, Minsd, Maxps, Maxss, Maxpd, Maxsd,
                Cmpps, Cmpss, Cmppd, Cmpsd, Comiss, Comisd, Ucomiss, Ucomisd, Cvtpi2ps, Cvtps2pi, Cvttps2pi,
                Cvtpi2pd, Cvtpd2pi, Cvttpd2pi, Cvtsi2ss, Cvtsi2sd, Cvtss2si, Cvtsd2si, Cvttss2si, Cvttsd2si,
                Cvtss2sd, Cvtsd2ss, Cvtps2pd, Cvtpd2ps, Cvtdq2ps, Cvtps2dq, Cvttps2dq, Cvtdq2pd, Cvtpd2dq, Cvttpd2dq,
                Addsubps, Addsubpd, Haddps, Haddpd, Hsubps, Hsubpd, Roundps, Roundss, Roundpd, Roundsd, Dpps, Dppd,
            ],
        ),
    ]
};

/// Where the stack pointer of every case points (middle of the buffer, 16-byte aligned).
pub const STACK: u64 = BUF_ADDR + BUF_LEN as u64 / 2;

/// splitmix64: a tiny deterministic generator.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }

    /// A 64-bit value biased toward the edges of 8/16/32/64-bit arithmetic.
    pub fn value(&mut self) -> u64 {
        match self.below(8) {
            0..=2 => self.next(),
            3 => self.below(70),
            4 => self.below(70).wrapping_neg(),
            _ => {
                let bits = self.pick(&[8u32, 16, 32, 64]);
                let m = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                let sign = 1u64 << (bits - 1);
                let edge = self.pick(&[0, 1, 2, m, m - 1, sign, sign - 1, sign + 1, sign | 1, 0x0f, 0x10]) & m;
                // Random bits above the edge value's width (checks that they are kept or cleared).
                let high = if self.one_in(2) { self.next() & !m } else { 0 };
                edge | high
            }
        }
    }
}

/// One testable encoding.
#[derive(Clone, Copy)]
pub struct Form {
    /// iced's code.
    pub code: Code,
    /// Index into [`FAMILIES`].
    pub family: usize,
}

/// All forms of the listed mnemonics that the generator can build.
pub fn forms() -> Vec<Form> {
    let mut out = Vec::new();
    for code in Code::values() {
        let Some(family) = FAMILIES.iter().position(|(_, ms)| ms.contains(&code.mnemonic())) else { continue };
        let op = code.op_code();
        // Knights Corner encodings (VEX_KNC_*) need a decoder option and a Xeon Phi.
        if code.cpuid_features().contains(&iced_x86::CpuidFeature::KNC) {
            continue;
        }
        if !op.mode64() || !op.is_instruction() || !matches!(op.encoding(), EncodingKind::Legacy | EncodingKind::VEX) {
            continue;
        }
        // Vector forms: the legacy (SSE/MMX) encodings only; VEX/EVEX forms are AVX.
        if op.op_kinds().iter().any(|&k| vector_kind(k).is_some()) && op.encoding() != EncodingKind::Legacy {
            continue;
        }
        if is_string(code) || op.op_kinds().iter().all(|&k| supported(k) || vector_kind(k).is_some()) {
            out.push(Form { code, family });
        }
    }
    out
}

fn supported(k: K) -> bool {
    matches!(
        k,
        K::r8_or_mem
            | K::r16_or_mem
            | K::r32_or_mem
            | K::r64_or_mem
            | K::mem
            | K::r8_reg
            | K::r8_opcode
            | K::r16_reg
            | K::r16_rm
            | K::r16_opcode
            | K::r32_reg
            | K::r32_rm
            | K::r32_opcode
            | K::r32_vvvv
            | K::r64_reg
            | K::r64_rm
            | K::r64_opcode
            | K::r64_vvvv
            | K::al
            | K::cl
            | K::ax
            | K::eax
            | K::rax
            | K::imm8
            | K::imm8_const_1
            | K::imm8sex16
            | K::imm8sex32
            | K::imm8sex64
            | K::imm16
            | K::imm32
            | K::imm32sex64
            | K::imm64
    )
}

/// For an MMX or XMM register operand kind: (is XMM, may be memory).
fn vector_kind(k: K) -> Option<(bool, bool)> {
    Some(match k {
        K::mm_reg | K::mm_rm => (false, false),
        K::mm_or_mem => (false, true),
        K::xmm_reg | K::xmm_rm => (true, false),
        K::xmm_or_mem => (true, true),
        _ => return None,
    })
}

fn is_string(code: Code) -> bool {
    code.op_code().op_kinds().iter().any(|k| matches!(k, K::seg_rSI | K::es_rDI))
}

/// A generated case: the instruction, its bytes and the input state.
pub struct Case {
    /// The instruction.
    pub insn: Instruction,
    /// Its encoding.
    pub bytes: Vec<u8>,
    /// Registers, flags and buffer before it.
    pub input: State,
    /// Why the case must not run (it would fault on the host, or its result is undefined).
    pub skip: Option<&'static str>,
}

const GPR64: [Register; 16] = [
    Register::RAX,
    Register::RCX,
    Register::RDX,
    Register::RBX,
    Register::RSP,
    Register::RBP,
    Register::RSI,
    Register::RDI,
    Register::R8,
    Register::R9,
    Register::R10,
    Register::R11,
    Register::R12,
    Register::R13,
    Register::R14,
    Register::R15,
];

/// A random general register index other than RSP.
fn gpr_index(rng: &mut Rng) -> usize {
    loop {
        let i = rng.below(16) as usize;
        if i != 4 {
            return i;
        }
    }
}

fn reg_of(rng: &mut Rng, size: u32) -> Register {
    let i = gpr_index(rng);
    match size {
        1 => {
            // AH/CH/DH/BH sometimes (the encoder refuses them next to a REX prefix).
            if rng.one_in(5) {
                rng.pick(&[Register::AH, Register::CH, Register::DH, Register::BH])
            } else if i < 4 {
                [Register::AL, Register::CL, Register::DL, Register::BL][i]
            } else {
                // SPL is index 4, excluded above: BPL, SIL, DIL, R8L..R15L.
                Register::try_from(Register::AL as usize + 4 + i).unwrap_or(Register::AL)
            }
        }
        2 => Register::try_from(Register::AX as usize + i).unwrap_or(Register::AX),
        4 => Register::try_from(Register::EAX as usize + i).unwrap_or(Register::EAX),
        _ => GPR64[i],
    }
}

/// The 64-bit register holding `r`.
pub fn full(r: Register) -> usize {
    match r {
        Register::AH | Register::CH | Register::DH | Register::BH => r as usize - Register::AH as usize,
        _ => r.full_register() as usize - Register::RAX as usize,
    }
}

fn imm_kind(k: K) -> Option<OpKind> {
    Some(match k {
        K::imm8 | K::imm8_const_1 => OpKind::Immediate8,
        K::imm8sex16 => OpKind::Immediate8to16,
        K::imm8sex32 => OpKind::Immediate8to32,
        K::imm8sex64 => OpKind::Immediate8to64,
        K::imm16 => OpKind::Immediate16,
        K::imm32 => OpKind::Immediate32,
        K::imm32sex64 => OpKind::Immediate32to64,
        K::imm64 => OpKind::Immediate64,
        _ => return None,
    })
}

fn reg_kind_size(k: K) -> Option<u32> {
    Some(match k {
        K::r8_reg | K::r8_opcode => 1,
        K::r16_reg | K::r16_rm | K::r16_opcode => 2,
        K::r32_reg | K::r32_rm | K::r32_opcode | K::r32_vvvv => 4,
        K::r64_reg | K::r64_rm | K::r64_opcode | K::r64_vvvv => 8,
        _ => return None,
    })
}

fn rm_size(k: K) -> Option<u32> {
    Some(match k {
        K::r8_or_mem => 1,
        K::r16_or_mem => 2,
        K::r32_or_mem => 4,
        K::r64_or_mem => 8,
        _ => return None,
    })
}

/// Random input state: registers, status flags and DF, a random buffer; RSP at [`STACK`].
fn random_state(rng: &mut Rng) -> State {
    let mut gpr = [0u64; 16];
    for g in &mut gpr {
        *g = rng.value();
    }
    gpr[4] = STACK;
    let status = 0x8d5 & rng.next(); // CF PF AF ZF SF OF
    let df = if rng.one_in(2) { 1 << 10 } else { 0 };
    let mut buf = vec![0u8; BUF_LEN];
    for chunk in buf.chunks_mut(8) {
        let v = if rng.one_in(2) { rng.value() } else { rng.next() };
        chunk.copy_from_slice(&v.to_le_bytes()[..chunk.len()]);
    }
    State { gpr, rflags: 0x202 | status | df, buf, fx: random_fx(rng) }
}

/// A random FXSAVE image the host accepts and that cannot make an instruction fault: no
/// pending x87 exception (FSW bits 7:0 clear), every SIMD exception masked in MXCSR, random
/// TOP, condition codes, tags, registers, rounding control, DAZ, FZ and sticky flags.
fn random_fx(rng: &mut Rng) -> Vec<u8> {
    let mut fx = vec![0u8; FX_LEN];
    fx[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    let fsw = rng.next() as u16 & 0x4700 | (rng.below(8) as u16) << 11;
    fx[2..4].copy_from_slice(&fsw.to_le_bytes());
    fx[4] = rng.next() as u8;
    let mxcsr = 0x1f80 | (rng.next() as u32 & 0x3f) | (rng.below(4) as u32) << 13 | (rng.next() as u32 & 0x8040);
    fx[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    for k in 0..8 {
        let v = rng.value() as u128 | ((rng.next() as u128 & 0xffff) << 64);
        fx[32 + 16 * k..42 + 16 * k].copy_from_slice(&v.to_le_bytes()[..10]);
    }
    for k in 0..16 {
        let v = rng.value() as u128 | (rng.value() as u128) << 64;
        fx[160 + 16 * k..176 + 16 * k].copy_from_slice(&v.to_le_bytes());
    }
    fx
}

/// Rewrites every byte of the XMM registers (and of the buffer) from a small alphabet with
/// zeros, so that string compares see matches, ranges and terminators.
fn text_bias(rng: &mut Rng, st: &mut State) {
    const ALPHABET: [u8; 8] = [0, b'a', b'b', b'c', b'a', b'b', 0x80, 0xff];
    let zero_rate = 2 + rng.below(30);
    let byte = |rng: &mut Rng| if rng.one_in(zero_rate) { 0 } else { ALPHABET[rng.below(8) as usize] };
    for b in &mut st.fx[160..416] {
        *b = byte(rng);
    }
    for b in &mut st.buf {
        *b = byte(rng);
    }
}

/// Builds a random memory operand addressing `size` bytes inside the buffer, fixing the
/// base (and index) register values in `st`. Returns the operand and its address.
fn memory(rng: &mut Rng, st: &mut State, size: u64, lea: bool) -> (MemoryOperand, u64) {
    let addr32 = rng.one_in(8);
    let margin = 0x40;
    // 16-byte operands are 16-byte aligned (the legacy SSE forms fault otherwise).
    let align = if size == 16 { 16 } else { 1 };
    let addr = (BUF_ADDR + margin + rng.below(BUF_LEN as u64 - 2 * margin - size)) & !(align - 1);
    let base = gpr_index(rng);
    let disp: i64 = match rng.below(4) {
        0 => 0,
        1 => rng.below(256) as i64 - 128,
        2 => rng.below(0x1000) as i64 - 0x800,
        _ => rng.below(0x1_0000_0000) as i64 - 0x8000_0000,
    };
    let use_index = rng.one_in(2);
    let mut index = gpr_index(rng);
    while index == base {
        index = gpr_index(rng);
    }
    let scale = rng.pick(&[1u32, 2, 4, 8]);
    let index_val = if use_index { rng.below(128).wrapping_sub(64) } else { 0 };
    let mut base_val = addr.wrapping_sub(index_val.wrapping_mul(scale as u64)).wrapping_sub(disp as u64);
    if lea {
        // LEA makes no access: any inputs do, including the address-size wrap.
        base_val = rng.value();
    }
    let (b, ix) = if addr32 {
        base_val &= 0xffff_ffff;
        (
            Register::try_from(Register::EAX as usize + base).unwrap_or(Register::EAX),
            Register::try_from(Register::EAX as usize + index).unwrap_or(Register::EAX),
        )
    } else {
        (GPR64[base], GPR64[index])
    };
    // Upper bits of a 32-bit base are ignored: make them random to check that.
    st.gpr[base] = if addr32 { base_val | (rng.next() << 32) } else { base_val };
    let displ_size = if disp == 0 { 0 } else { 1 };
    let m = if use_index {
        st.gpr[index] = if addr32 { index_val & 0xffff_ffff } else { index_val };
        MemoryOperand::with_base_index_scale_displ_size(b, ix, scale, disp, displ_size)
    } else {
        MemoryOperand::with_base_displ_size(b, disp, displ_size)
    };
    (m, addr)
}

/// One random case of `form`; `None` when the encoder refuses the random choice.
pub fn case(rng: &mut Rng, form: Form) -> Option<Case> {
    let code = form.code;
    let mut st = random_state(rng);
    let mut insn = blank(code);
    let mut mem_addr = None;
    let op = code.op_code();
    if is_string(code) {
        return string_case(rng, code, st);
    }
    let mem_size = op.memory_size().size() as u64;
    // Bias shift and rotate counts in CL toward the interesting range (before memory
    // operands fix their address registers, which may include RCX).
    if rng.one_in(2) {
        st.gpr[1] = (st.gpr[1] & !0xff) | rng.below(70);
    }
    for (n, &k) in op.op_kinds().iter().enumerate() {
        let n = n as u32;
        if let Some(size) = reg_kind_size(k) {
            insn.set_op_kind(n, OpKind::Register);
            insn.set_op_register(n, reg_of(rng, size));
        } else if let Some(size) = rm_size(k) {
            if rng.one_in(2) {
                insn.set_op_kind(n, OpKind::Register);
                insn.set_op_register(n, reg_of(rng, size));
            } else {
                let (m, a) = memory(rng, &mut st, mem_size.max(1), false);
                set_memory(&mut insn, n, m);
                mem_addr = Some(a);
            }
        } else if let Some((xmm, may_be_mem)) = vector_kind(k) {
            if may_be_mem && rng.one_in(2) {
                let (m, a) = memory(rng, &mut st, mem_size.max(1), false);
                set_memory(&mut insn, n, m);
                mem_addr = Some(a);
            } else {
                insn.set_op_kind(n, OpKind::Register);
                let r = if xmm { Register::XMM0 as usize + rng.below(16) as usize } else { Register::MM0 as usize + rng.below(8) as usize };
                insn.set_op_register(n, Register::try_from(r).unwrap_or(Register::XMM0));
            }
        } else if k == K::mem {
            let (m, a) = memory(rng, &mut st, mem_size.max(1), code.mnemonic() == Mnemonic::Lea);
            set_memory(&mut insn, n, m);
            mem_addr = Some(a);
        } else if let Some(kind) = imm_kind(k) {
            insn.set_op_kind(n, kind);
            let v = if k == K::imm8_const_1 { 1 } else { rng.value() };
            insn.set_immediate_u64(n, v);
        } else {
            let r = match k {
                K::al => Register::AL,
                K::cl => Register::CL,
                K::ax => Register::AX,
                K::eax => Register::EAX,
                _ => Register::RAX,
            };
            insn.set_op_kind(n, OpKind::Register);
            insn.set_op_register(n, r);
        }
    }
    // LOCK on a memory destination where the instruction allows it.
    if op.can_use_lock_prefix() && insn.op0_kind() == OpKind::Memory && rng.one_in(4) {
        insn.set_has_lock_prefix(true);
    }
    let mut skip = None;
    constrain(rng, &insn, &mut st, mem_addr, &mut skip);
    let bytes = encode(&insn)?;
    let insn = decode(&bytes)?;
    Some(Case { insn, bytes, input: st, skip })
}

/// An instruction of `code` with its operands still to be set.
fn blank(code: Code) -> Instruction {
    let mut i = Instruction::default();
    i.set_code(code);
    i
}

fn set_memory(insn: &mut Instruction, n: u32, m: MemoryOperand) {
    insn.set_op_kind(n, OpKind::Memory);
    insn.set_memory_base(m.base);
    insn.set_memory_index(m.index);
    insn.set_memory_index_scale(m.scale);
    insn.set_memory_displacement64(m.displacement as u64);
    insn.set_memory_displ_size(m.displ_size);
    insn.set_segment_prefix(Register::None);
}

fn encode(insn: &Instruction) -> Option<Vec<u8>> {
    let mut e = Encoder::new(64);
    e.encode(insn, 0).ok()?;
    Some(e.take_buffer())
}

/// The instruction as the decoder sees the bytes (what hvbench will execute).
fn decode(bytes: &[u8]) -> Option<Instruction> {
    let mut d = iced_x86::Decoder::with_ip(64, bytes, 0, iced_x86::DecoderOptions::NONE);
    let i = d.decode();
    (!i.is_invalid() && i.len() == bytes.len()).then_some(i)
}

/// String instructions: RSI/RDI inside the buffer with room for RCX elements either way,
/// sometimes a REP prefix with a small count, sometimes 32-bit addressing or a (null-base)
/// segment override on the source.
fn string_case(rng: &mut Rng, code: Code, mut st: State) -> Option<Case> {
    let mut insn = blank(code);
    let addr32 = rng.one_in(4);
    for (n, &k) in code.op_code().op_kinds().iter().enumerate() {
        let n = n as u32;
        match k {
            K::seg_rSI => insn.set_op_kind(n, if addr32 { OpKind::MemorySegESI } else { OpKind::MemorySegRSI }),
            K::es_rDI => insn.set_op_kind(n, if addr32 { OpKind::MemoryESEDI } else { OpKind::MemoryESRDI }),
            _ => {
                insn.set_op_kind(n, OpKind::Register);
                let r = match k {
                    K::al => Register::AL,
                    K::ax => Register::AX,
                    K::eax => Register::EAX,
                    _ => Register::RAX,
                };
                insn.set_op_register(n, r);
            }
        }
    }
    use Mnemonic::*;
    let compares = matches!(code.mnemonic(), Cmpsb | Cmpsw | Cmpsd | Cmpsq | Scasb | Scasw | Scasd | Scasq);
    match rng.below(3) {
        0 => {}
        1 => insn.set_has_rep_prefix(true),
        _ => {
            if compares {
                insn.set_has_repne_prefix(true)
            } else {
                insn.set_has_rep_prefix(true)
            }
        }
    }
    if rng.one_in(4) && code.op_code().op_kinds().contains(&K::seg_rSI) {
        insn.set_segment_prefix(rng.pick(&[Register::ES, Register::CS, Register::SS, Register::DS]));
    }
    let window = BUF_LEN as u64 / 4;
    let mid = BUF_ADDR + BUF_LEN as u64 / 2 - window / 2;
    let hi = |v: u64, rng: &mut Rng| if addr32 { v | (rng.next() << 32) } else { v };
    st.gpr[6] = hi(mid + rng.below(window), rng);
    st.gpr[7] = hi(mid + rng.below(window), rng);
    // Sometimes make the two strings equal so REPE runs on.
    if rng.one_in(2) {
        let (s, d) = ((st.gpr[6] as u32 as u64 - BUF_ADDR) as usize, (st.gpr[7] as u32 as u64 - BUF_ADDR) as usize);
        let len = 64.min(BUF_LEN - s).min(BUF_LEN - d);
        let copy: Vec<u8> = st.buf[s..s + len].to_vec();
        st.buf[d..d + len].copy_from_slice(&copy);
    }
    st.gpr[1] = (st.gpr[1] & if addr32 { !0xffff_ffff } else { 0 }) | rng.below(9);
    let bytes = encode(&insn)?;
    let insn = decode(&bytes)?;
    Some(Case { insn, bytes, input: st, skip: None })
}

/// Input constraints that keep the host from faulting, and cases whose result the SDM
/// leaves undefined (each listed here with the reason).
fn constrain(rng: &mut Rng, i: &Instruction, st: &mut State, mem_addr: Option<u64>, skip: &mut Option<&'static str>) {
    use Mnemonic::*;
    let m = i.mnemonic();
    if matches!(m, Pcmpestri | Pcmpestri64 | Pcmpestrm | Pcmpestrm64 | Pcmpistri | Pcmpistrm) {
        if !rng.one_in(3) {
            text_bias(rng, st);
        }
        if rng.one_in(4) {
            // Operand 2 a copy of operand 1 shifted by a few bytes (equal each / ordered match).
            let a = 160 + 16 * i.op0_register().number();
            let shift = rng.below(4) as usize;
            let mut v = [0u8; 16];
            v[shift..].copy_from_slice(&st.fx[a..a + 16 - shift]);
            match (i.op1_kind(), mem_addr) {
                (OpKind::Memory, Some(addr)) => {
                    let off = (addr - BUF_ADDR) as usize;
                    st.buf[off..off + 16].copy_from_slice(&v);
                }
                _ => {
                    let b = 160 + 16 * i.op1_register().number();
                    st.fx[b..b + 16].copy_from_slice(&v);
                }
            }
        }
        // Explicit lengths: mostly around -20..20, sometimes raw (saturation, REX.W).
        for r in [0usize, 2] {
            if Some(r) != base_or_index(i) && Some(r) != index_reg(i) && !rng.one_in(4) {
                st.gpr[r] = (rng.below(41) as i64 - 20) as u64 | if rng.one_in(2) { rng.next() << 32 } else { 0 };
            }
        }
    }
    match m {
        // BT* with a register bit offset address memory outside the operand (SDM "BT":
        // the offset is signed and unbounded): keep it within the buffer.
        Mnemonic::Bt | Mnemonic::Bts | Mnemonic::Btr | Mnemonic::Btc
            if i.op0_kind() == OpKind::Memory && i.op1_kind() == OpKind::Register =>
        {
            let r = full(i.op1_register());
            if Some(r) != base_or_index(i) && Some(r) != index_reg(i) {
                st.gpr[r] = rng.below(512).wrapping_sub(256);
            } else {
                *skip = Some("BT* bit offset register is also the address register");
            }
        }
        // DIV/IDIV raise #DE (SIGFPE on the host) for a zero divisor or a quotient that does
        // not fit; those inputs are tested against the SDM's #DE rule in a separate test.
        Mnemonic::Div | Mnemonic::Idiv => {
            let size = if i.op0_kind() == OpKind::Memory { i.memory_size().size() } else { i.op0_register().size() };
            let signed = i.mnemonic() == Mnemonic::Idiv;
            let dividend_regs = if size == 1 { vec![0] } else { vec![0, 2] };
            let touches = |r: usize| Some(r) == base_or_index(i) || Some(r) == index_reg(i);
            if divide_faults(i, st, mem_addr, size as u32, signed) && !dividend_regs.iter().any(|&r| touches(r)) {
                // Make the high half of the dividend small (unsigned) or a sign extension
                // (signed); then the quotient usually fits.
                let d = divisor(i, st, mem_addr, size as u32);
                let bits = size as u32 * 8;
                let m = if bits == 64 { u64::MAX } else { (1u64 << bits) - 1 };
                let (lo, hi) = dividend(st, size as u32);
                let new_hi = if signed {
                    if (lo >> (bits - 1)) & 1 == 1 { m } else { 0 }
                } else if d != 0 {
                    hi % d
                } else {
                    hi
                };
                set_dividend_hi(st, size as u32, new_hi);
                let _ = lo;
            }
            if divide_faults(i, st, mem_addr, size as u32, signed) {
                *skip = Some("#DE on the host (divisor 0 or quotient overflow)");
            }
        }
        // SHLD/SHRD on 16 bits with a count above 16: "the result is undefined" (SDM "SHLD").
        Mnemonic::Shld | Mnemonic::Shrd if operand_size(i) == 2 && shift_count(i, st) > 16 => {
            *skip = Some("SHLD/SHRD r16 with count > 16 is undefined");
        }
        _ => {}
    }
}

fn operand_size(i: &Instruction) -> u32 {
    if i.op0_kind() == OpKind::Memory { i.memory_size().size() as u32 } else { i.op0_register().size() as u32 }
}

/// The masked count of a shift/rotate (CL or the immediate).
pub fn shift_count(i: &Instruction, st: &State) -> u32 {
    let last = i.op_count() - 1;
    let raw = if i.op_kind(last) == OpKind::Register { st.gpr[1] as u32 & 0xff } else { i.immediate(last) as u32 };
    raw & if operand_size(i) == 8 { 63 } else { 31 }
}

fn base_or_index(i: &Instruction) -> Option<usize> {
    (i.memory_base() != Register::None && i.op_kinds().any(|k| k == OpKind::Memory)).then(|| full(i.memory_base()))
}

fn index_reg(i: &Instruction) -> Option<usize> {
    (i.memory_index() != Register::None && i.op_kinds().any(|k| k == OpKind::Memory)).then(|| full(i.memory_index()))
}

fn divisor(i: &Instruction, st: &State, mem_addr: Option<u64>, size: u32) -> u64 {
    let m = if size == 8 { u64::MAX } else { (1u64 << (8 * size)) - 1 };
    if let Some(a) = mem_addr.filter(|_| i.op0_kind() == OpKind::Memory) {
        let off = (a - BUF_ADDR) as usize;
        let mut b = [0u8; 8];
        b[..size as usize].copy_from_slice(&st.buf[off..off + size as usize]);
        u64::from_le_bytes(b)
    } else {
        let r = i.op0_register();
        let v = st.gpr[full(r)];
        (if matches!(r, Register::AH | Register::CH | Register::DH | Register::BH) { v >> 8 } else { v }) & m
    }
}

fn dividend(st: &State, size: u32) -> (u64, u64) {
    match size {
        1 => (st.gpr[0] & 0xff, (st.gpr[0] >> 8) & 0xff),
        2 => (st.gpr[0] & 0xffff, st.gpr[2] & 0xffff),
        4 => (st.gpr[0] & 0xffff_ffff, st.gpr[2] & 0xffff_ffff),
        _ => (st.gpr[0], st.gpr[2]),
    }
}

fn set_dividend_hi(st: &mut State, size: u32, hi: u64) {
    match size {
        1 => st.gpr[0] = (st.gpr[0] & !0xff00) | ((hi & 0xff) << 8),
        2 => st.gpr[2] = (st.gpr[2] & !0xffff) | (hi & 0xffff),
        4 => st.gpr[2] = (st.gpr[2] & !0xffff_ffff) | (hi & 0xffff_ffff),
        _ => st.gpr[2] = hi,
    }
}

/// Whether DIV/IDIV of this size raises #DE for these inputs (SDM "DIV", "IDIV").
pub fn divide_faults(i: &Instruction, st: &State, mem_addr: Option<u64>, size: u32, signed: bool) -> bool {
    let d = divisor(i, st, mem_addr, size);
    let (lo, hi) = dividend(st, size);
    let bits = 8 * size;
    if d == 0 {
        return true;
    }
    let n = ((hi as u128) << bits) | lo as u128;
    if signed {
        let sx = |v: u128, b: u32| ((v << (128 - b)) as i128) >> (128 - b);
        let n = sx(n, 2 * bits);
        let d = sx(d as u128, bits);
        match n.checked_div(d) {
            None => true,
            Some(q) => q < -(1i128 << (bits - 1)) || q > (1i128 << (bits - 1)) - 1,
        }
    } else {
        n / d as u128 > (u128::MAX >> (128 - bits))
    }
}

/// The address of `i`'s memory operand for the registers in `st` (no RIP-relative forms).
pub fn memory_address(i: &Instruction, st: &State) -> u64 {
    let mut ea = i.memory_displacement64();
    if i.memory_base() != Register::None {
        ea = ea.wrapping_add(st.gpr[full(i.memory_base())]);
    }
    if i.memory_index() != Register::None {
        ea = ea.wrapping_add(st.gpr[full(i.memory_index())].wrapping_mul(i.memory_index_scale() as u64));
    }
    if i.memory_base().size() == 4 || i.memory_index().size() == 4 { ea & 0xffff_ffff } else { ea }
}

/// Whether the DIV or IDIV `i` raises #DE from `st` (SDM "DIV"/"IDIV": a zero divisor, or a
/// quotient too large for the destination).
pub fn division_faults(i: &Instruction, st: &State) -> bool {
    let mem = (i.op0_kind() == OpKind::Memory).then(|| memory_address(i, st));
    divide_faults(i, st, mem, operand_size(i), i.mnemonic() == Mnemonic::Idiv)
}
