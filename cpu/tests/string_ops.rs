//! String instructions (SDM Vol. 1 7.3.9; Vol. 2 MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS and
//! "REP/REPE/REPZ/REPNE/REPNZ"). Expected values follow from the SDM's rules; the raw bytes
//! carry their assembly beside them.

use hvbench_cpu::flags::{CF, DF, SF, STATUS, TF, ZF};
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_cpu::segment::{Descriptor, SegReg};
use hvbench_cpu::Activity;
use hvbench_mmu::{Bus, CpuIndex, PhysAddr};

const RAX: usize = 0;
const RCX: usize = 1;
const RDX: usize = 2;
const RSI: usize = 6;
const RDI: usize = 7;

/// The per-step iteration bound of repeated string instructions (documented in string.rs).
const GROUP: u64 = 1024;

fn sandbox(mode: SandboxMode, code: &[u8]) -> Sandbox {
    let mut c = code.to_vec();
    c.push(0xf4); // hlt
    Sandbox::new(mode, &c)
}

fn run_to_halt(s: &mut Sandbox) {
    s.run(1_000_000);
    assert_eq!(s.cpu.state.activity, Activity::Halted, "did not halt; rip={:#x}", s.cpu.state.rip);
    assert_eq!(s.exception_vector(), None, "unexpected exception");
}

fn fill(s: &mut Sandbox, addr: u64, bytes: &[u8]) {
    assert!(s.mem.write_bytes(PhysAddr(addr), bytes));
}

fn bytes(s: &Sandbox, addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    assert!(s.mem.read_bytes(PhysAddr(addr), &mut v));
    v
}

#[test]
fn rep_movsb_copies_across_pages_in_groups() {
    // rep movsb
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0xa4]);
    let n = 10_000u64;
    let src: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
    // Source and destination start at different page offsets so runs split differently.
    let (sa, da) = (DATA_BASE + 0x123, DATA_BASE + 0x10_0000 + 0x456);
    fill(&mut s, sa, &src);
    s.cpu.state.gpr[RSI] = sa;
    s.cpu.state.gpr[RDI] = da;
    s.cpu.state.gpr[RCX] = n;
    // One step is one group of at most GROUP iterations, the instruction stays current.
    s.run(1);
    assert_eq!(s.cpu.state.rip, CODE_BASE);
    assert_eq!(s.cpu.state.gpr[RCX], n - GROUP);
    assert_eq!(s.cpu.state.gpr[RSI], sa + GROUP);
    run_to_halt(&mut s);
    assert_eq!(bytes(&s, da, n as usize), src);
    assert_eq!(s.cpu.state.gpr[RCX], 0);
    assert_eq!(s.cpu.state.gpr[RSI], sa + n);
    assert_eq!(s.cpu.state.gpr[RDI], da + n);
    // ceil(10000 / 1024) = 10 steps for the string instruction, 1 for HLT.
    assert_eq!(s.cpu.retired, 10 + 1);
}

#[test]
fn rep_movsb_overlapping_forward_replicates_the_pattern() {
    // Byte-wise semantics: with RDI = RSI + 1 the first byte spreads (no memmove).
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0xa4]);
    fill(&mut s, DATA_BASE, &[0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RDI] = DATA_BASE + 1;
    s.cpu.state.gpr[RCX] = 9;
    run_to_halt(&mut s);
    assert_eq!(bytes(&s, DATA_BASE, 10), vec![0xab; 10]);
}

#[test]
fn rep_stosd_backwards_with_df() {
    // std ; rep stosd ; cld
    let mut s = sandbox(SandboxMode::Long64, &[0xfd, 0xf3, 0xab, 0xfc]);
    s.cpu.state.gpr[RAX] = 0xffff_ffff_1122_3344;
    s.cpu.state.gpr[RDI] = DATA_BASE + 0x1000 + 8;
    s.cpu.state.gpr[RCX] = 3;
    run_to_halt(&mut s);
    // Elements at +8, +4, +0 from 0x1000 written; RDI ends one element below the last.
    for off in [0u64, 4, 8] {
        assert_eq!(s.read(DATA_BASE + 0x1000 + off, 4), 0x1122_3344);
    }
    assert_eq!(s.read(DATA_BASE + 0x1000 + 12, 4), 0);
    assert_eq!(s.read(DATA_BASE + 0x1000 - 4, 4), 0);
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 0x1000 - 4);
    assert_eq!(s.cpu.state.rflags & DF, 0);
}

#[test]
fn rep_stosq_and_stosw_fill() {
    // rep stosq ; mov rdi, rbx ; mov ecx, 5 ; rep stosw
    let code = [0xf3, 0x48, 0xab, 0x48, 0x89, 0xdf, 0xb9, 5, 0, 0, 0, 0xf3, 0x66, 0xab];
    let mut s = sandbox(SandboxMode::Long64, &code);
    s.cpu.state.gpr[RAX] = 0x0102_0304_0506_0708;
    s.cpu.state.gpr[RDI] = DATA_BASE;
    s.cpu.state.gpr[RCX] = 2;
    s.cpu.state.gpr[3] = DATA_BASE + 0x100;
    run_to_halt(&mut s);
    assert_eq!(s.read(DATA_BASE, 8), 0x0102_0304_0506_0708);
    assert_eq!(s.read(DATA_BASE + 8, 8), 0x0102_0304_0506_0708);
    for k in 0..5 {
        assert_eq!(s.read(DATA_BASE + 0x100 + 2 * k, 2), 0x0708);
    }
    assert_eq!(s.read(DATA_BASE + 0x10a, 2), 0);
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 0x10a);
}

#[test]
fn repe_cmpsb_stops_at_the_first_difference() {
    // repe cmpsb
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0xa6]);
    fill(&mut s, DATA_BASE, b"hello world");
    fill(&mut s, DATA_BASE + 0x100, b"hello there");
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RDI] = DATA_BASE + 0x100;
    s.cpu.state.gpr[RCX] = 11;
    run_to_halt(&mut s);
    // Six equal bytes ("hello "), the seventh ('w' vs 't') differs: 7 iterations.
    assert_eq!(s.cpu.state.gpr[RCX], 11 - 7);
    assert_eq!(s.cpu.state.gpr[RSI], DATA_BASE + 7);
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 0x107);
    // 'w' (0x77) - 't' (0x74) = 3: no borrow, not zero, positive.
    assert_eq!(s.cpu.state.rflags & (ZF | CF | SF), 0);
}

#[test]
fn repe_cmpsq_all_equal_runs_out_the_count() {
    // repe cmpsq
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0x48, 0xa7]);
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RDI] = DATA_BASE + 0x1000;
    s.cpu.state.gpr[RCX] = 4;
    run_to_halt(&mut s);
    assert_eq!(s.cpu.state.gpr[RCX], 0);
    assert_eq!(s.cpu.state.gpr[RSI], DATA_BASE + 32);
    assert_ne!(s.cpu.state.rflags & ZF, 0);
}

#[test]
fn repne_scasb_finds_the_terminator() {
    // repne scasb (strlen idiom: AL = 0, RCX = -1)
    let mut s = sandbox(SandboxMode::Long64, &[0xf2, 0xae]);
    fill(&mut s, DATA_BASE, b"abcdef\0xyz");
    s.cpu.state.gpr[RAX] = 0x4100; // AL = 0, AH nonzero must not matter
    s.cpu.state.gpr[RDI] = DATA_BASE;
    s.cpu.state.gpr[RCX] = u64::MAX;
    run_to_halt(&mut s);
    // 7 iterations (6 letters and the NUL): RCX = -1 - 7, RDI past the NUL.
    assert_eq!(s.cpu.state.gpr[RCX], u64::MAX - 7);
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 7);
    assert_ne!(s.cpu.state.rflags & ZF, 0);
}

#[test]
fn scasw_sets_flags_like_cmp() {
    // scasw: compares AX with [RDI] as AX - mem
    let mut s = sandbox(SandboxMode::Long64, &[0x66, 0xaf]);
    fill(&mut s, DATA_BASE, &[0x01, 0x00]);
    s.cpu.state.gpr[RAX] = 0;
    s.cpu.state.gpr[RDI] = DATA_BASE;
    run_to_halt(&mut s);
    // 0 - 1: borrow, negative result 0xffff.
    assert_eq!(s.cpu.state.rflags & (CF | SF | ZF), CF | SF);
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 2);
}

#[test]
fn lods_widths_follow_register_write_rules() {
    // lodsb ; lodsw ; lodsd ; lodsq
    let mut s = sandbox(SandboxMode::Long64, &[0xac, 0x66, 0xad, 0xad, 0x48, 0xad]);
    fill(&mut s, DATA_BASE, &[0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RAX] = 0xdead_beef_dead_beef;
    s.run(1);
    assert_eq!(s.cpu.state.gpr[RAX], 0xdead_beef_dead_be11, "LODSB writes AL only");
    // Sandbox::run's limit counts all retired instructions.
    s.run(2);
    assert_eq!(s.cpu.state.gpr[RAX], 0xdead_beef_dead_3322, "LODSW writes AX only");
    s.run(3);
    assert_eq!(s.cpu.state.gpr[RAX], 0x7766_5544, "LODSD zero-extends into RAX");
    run_to_halt(&mut s);
    assert_eq!(s.cpu.state.gpr[RAX], 0xffee_ddcc_bbaa_9988);
    assert_eq!(s.cpu.state.gpr[RSI], DATA_BASE + 15);
}

#[test]
fn count_zero_does_nothing() {
    // rep movsb ; repe cmpsb with RCX = 0
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0xa4, 0xf3, 0xa6]);
    fill(&mut s, DATA_BASE, &[1]);
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RDI] = DATA_BASE + 0x100;
    s.cpu.state.rflags |= CF | ZF;
    run_to_halt(&mut s);
    assert_eq!(s.read(DATA_BASE + 0x100, 1), 0);
    assert_eq!((s.cpu.state.gpr[RSI], s.cpu.state.gpr[RDI]), (DATA_BASE, DATA_BASE + 0x100));
    assert_eq!(s.cpu.state.rflags & STATUS, CF | ZF, "flags untouched");
    assert_eq!(s.cpu.retired, 3);
}

#[test]
fn address_size_32_uses_ecx_esi_edi_and_zero_extends() {
    // addr32 rep movsb (67 F3 A4) in 64-bit mode.
    let mut s = sandbox(SandboxMode::Long64, &[0x67, 0xf3, 0xa4]);
    fill(&mut s, DATA_BASE, &[9, 8, 7]);
    s.cpu.state.gpr[RSI] = 0xffff_0000_0000_0000 | DATA_BASE;
    s.cpu.state.gpr[RDI] = 0x1234_0000_0000_0000 | (DATA_BASE + 0x100);
    s.cpu.state.gpr[RCX] = 0x5555_0000_0000_0003;
    run_to_halt(&mut s);
    assert_eq!(bytes(&s, DATA_BASE + 0x100, 3), vec![9, 8, 7]);
    // Writes of ESI/EDI/ECX are 32-bit register writes: bits 63:32 become 0.
    assert_eq!(s.cpu.state.gpr[RSI], DATA_BASE + 3);
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 0x103);
    assert_eq!(s.cpu.state.gpr[RCX], 0);
}

#[test]
fn address_size_16_wraps_si_and_keeps_upper_bits() {
    // 32-bit protected mode: addr16 movsb (67 A4) with SI = 0xffff.
    let mut s = sandbox(SandboxMode::Protected32, &[0x67, 0xa4]);
    fill(&mut s, 0xffff, &[0x5a]);
    s.cpu.state.gpr[RSI] = 0x0012_ffff;
    s.cpu.state.gpr[RDI] = 0x0034_0100;
    run_to_halt(&mut s);
    assert_eq!(s.read(0x0100, 1), 0x5a, "ES:DI uses DI only");
    assert_eq!(s.cpu.state.gpr[RSI], 0x0012_0000, "SI wraps, bits 31:16 kept");
    assert_eq!(s.cpu.state.gpr[RDI], 0x0034_0101);
}

#[test]
fn segment_override_applies_to_the_source_only() {
    // fs movsb (64 A4) with FS.base = 0x1000: source FS:RSI, destination ES:RDI (base 0).
    let mut s = sandbox(SandboxMode::Long64, &[0x64, 0xa4]);
    s.cpu.state.seg[SegReg::Fs as usize].base = 0x1000;
    fill(&mut s, DATA_BASE + 0x1000, &[0x77]);
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RDI] = DATA_BASE + 0x10;
    run_to_halt(&mut s);
    assert_eq!(s.read(DATA_BASE + 0x10, 1), 0x77);
}

#[test]
fn fault_midway_leaves_the_remaining_work_described() {
    // rep movsb whose destination runs into unmapped memory at 4 GiB.
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0xa4]);
    let top = 0x1_0000_0000u64;
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RDI] = top - 16;
    s.cpu.state.gpr[RCX] = 40;
    s.run(100);
    assert_eq!(s.exception_vector(), Some(14));
    assert_eq!(s.cpu.state.cr2, top);
    assert_eq!(s.cpu.state.gpr[RCX], 24);
    assert_eq!(s.cpu.state.gpr[RSI], DATA_BASE + 16);
    assert_eq!(s.cpu.state.gpr[RDI], top);
    // The return RIP on the exception frame is the string instruction itself.
    let sp = s.cpu.state.gpr[4];
    assert_eq!(s.read(sp + 8, 8), CODE_BASE);
}

#[test]
fn single_step_traps_after_each_iteration() {
    // rep stosb with TF set: one iteration, then #DB with RIP still at the instruction.
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0xaa]);
    s.cpu.state.gpr[RDI] = DATA_BASE;
    s.cpu.state.gpr[RCX] = 5;
    s.cpu.state.rflags |= TF;
    s.run(1);
    assert_eq!(s.cpu.state.gpr[RCX], 4);
    // #DB was delivered: the frame's return RIP is the string instruction.
    let sp = s.cpu.state.gpr[4];
    assert_eq!(s.read(sp, 8), CODE_BASE);
}

/// A bus that records OUTs and answers INs with a counter.
#[derive(Default)]
struct PortLog {
    outs: Vec<(u16, u8, u32)>,
    next_in: u32,
}

impl Bus for PortLog {
    fn io_read(&mut self, _: CpuIndex, _: u16, _: u8) -> u32 {
        self.next_in += 1;
        0x1000_0000 | self.next_in
    }
    fn io_write(&mut self, _: CpuIndex, port: u16, size: u8, value: u32) {
        self.outs.push((port, size, value));
    }
    fn mmio_read(&mut self, _: CpuIndex, _: PhysAddr, _: u8) -> u64 {
        u64::MAX
    }
    fn mmio_write(&mut self, _: CpuIndex, _: PhysAddr, _: u8, _: u64) {}
}

#[test]
fn rep_outsb_sends_each_byte_in_order() {
    // rep outsb
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0x6e]);
    fill(&mut s, DATA_BASE, b"hey");
    s.cpu.state.gpr[RSI] = DATA_BASE;
    s.cpu.state.gpr[RCX] = 3;
    s.cpu.state.gpr[RDX] = 0x3f8;
    let mut bus = PortLog::default();
    s.run_with(&mut bus, 100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(bus.outs, vec![(0x3f8, 1, b'h' as u32), (0x3f8, 1, b'e' as u32), (0x3f8, 1, b'y' as u32)]);
    assert_eq!(s.cpu.state.gpr[RSI], DATA_BASE + 3);
}

#[test]
fn rep_insw_and_outsd_sizes() {
    // rep insw ; outsd
    let mut s = sandbox(SandboxMode::Long64, &[0xf3, 0x66, 0x6d, 0x6f]);
    fill(&mut s, DATA_BASE + 0x100, &[0x78, 0x56, 0x34, 0x12]);
    s.cpu.state.gpr[RDI] = DATA_BASE;
    s.cpu.state.gpr[RSI] = DATA_BASE + 0x100;
    s.cpu.state.gpr[RCX] = 2;
    s.cpu.state.gpr[RDX] = 0x60;
    let mut bus = PortLog::default();
    s.run_with(&mut bus, 100);
    assert_eq!(s.cpu.state.activity, Activity::Halted);
    assert_eq!(s.read(DATA_BASE, 4), 0x0002_0001, "two 16-bit reads, truncated");
    assert_eq!(s.cpu.state.gpr[RDI], DATA_BASE + 4);
    assert_eq!(bus.outs, vec![(0x60, 4, 0x1234_5678)]);
}

#[test]
fn ins_outside_iopl_and_bitmap_raises_gp() {
    // At CPL 3 with IOPL 0, port 0x400 lies beyond the sandbox TSS limit: #GP(0) (SDM 19.5.2),
    // and no memory is written.
    let mut s = sandbox(SandboxMode::Long64, &[0x6c]);
    let st = &mut s.cpu.state;
    st.seg[SegReg::Cs as usize] = Descriptor { raw: 0x00af_fa00_0000_ffff }.to_segment(0x33);
    st.seg[SegReg::Ss as usize] = Descriptor { raw: 0x00cf_f200_0000_ffff }.to_segment(0x2b);
    st.cpl = 3;
    st.gpr[RDI] = DATA_BASE;
    st.gpr[RDX] = 0x400;
    let mut bus = PortLog::default();
    s.run_with(&mut bus, 100);
    assert_eq!(s.exception_vector(), Some(13));
    assert_eq!(bus.next_in, 0, "port not read");
    assert_eq!(s.read(DATA_BASE, 1), 0);
}
