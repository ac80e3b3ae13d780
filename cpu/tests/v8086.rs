//! Virtual-8086 mode, VME and PVI (SDM Vol. 3B chapter 20 "8086 Emulation"; Vol. 3A 6.12.1;
//! Vol. 2 "IRET", "INT n", "CLI", "STI", "PUSHF", "POPF"; Vol. 1 19.5.2 for the I/O bitmap).
//!
//! Each test starts in the 32-bit protected-mode sandbox, gives it a TSS with a level-0 stack,
//! a software interrupt redirection bitmap and an I/O bitmap, and an IDT whose handler for
//! vector v is a HLT at `HANDLERS + 16 * v` (CPL 0, flat). A 32-bit IRETD enters v8086 mode
//! with the frame of [`V86`]. Expected values are the SDM's.

use hvbench_cpu::flags;
use hvbench_cpu::regs::cr4;
use hvbench_cpu::sandbox::{Sandbox, SandboxMode};
use hvbench_cpu::segment::{attr, SegReg};
use hvbench_cpu::state::Mode;
use hvbench_cpu::Activity;
use hvbench_mmu::PhysAddr;

const TSS: u64 = 0x3000;
const IDT: u64 = 0x6000;
const HANDLERS: u64 = 0x8000;
/// Level-0 stack top (TSS.ESP0, SS0 = 0x10).
const ESP0: u64 = 0x7_0000;
const IO_BASE: u64 = 0x88;
/// TSS limit: the I/O bitmap covers ports 0-0x3ff.
const TSS_LIMIT: u32 = 0x108;

/// The v8086 entry frame: CS:IP, SS:SP, ES, DS, FS, GS.
const CS: u16 = 0x2000;
const SS: u16 = 0x3000;
const SP: u32 = 0x1000;
const ES: u16 = 0x5000;
const DS: u16 = 0x4000;
const FS: u16 = 0x5100;
const GS: u16 = 0x5200;

const IOPL3: u32 = 3 << 12;
const VM: u32 = 1 << 17;

fn put_le(s: &mut Sandbox, addr: u64, size: u8, v: u64) {
    assert!(s.mem.write_le(PhysAddr(addr), size, v));
}

/// A 32-bit interrupt (type 0xE) or trap (0xF) gate, or 16-bit (6/7), with `dpl`.
fn gate(typ: u64, dpl: u64, sel: u64, off: u64) -> u64 {
    (off & 0xffff) | sel << 16 | (0x80 | dpl << 5 | typ) << 40 | (off >> 16) << 48
}

/// A sandbox that enters v8086 mode at CS:0 running `code16` with EFLAGS `eflags` (VM added)
/// and CR4 bits `cr4`.
fn v86(code16: &[u8], eflags: u32, cr4bits: u64) -> Sandbox {
    let frame = [0u32, CS as u32, eflags | VM | 2, SP, SS as u32, ES as u32, DS as u32, FS as u32, GS as u32];
    let mut pm = Vec::new();
    for v in frame.iter().rev() {
        pm.push(0x68); // push imm32
        pm.extend_from_slice(&v.to_le_bytes());
    }
    pm.push(0xcf); // iretd
    let mut s = Sandbox::new(SandboxMode::Protected32, &pm);
    put_le(&mut s, TSS + 4, 4, ESP0);
    put_le(&mut s, TSS + 8, 4, 0x10);
    put_le(&mut s, TSS + 0x66, 2, IO_BASE);
    for b in 0x68..TSS_LIMIT as u64 + 1 {
        put_le(&mut s, TSS + b, 1, 0);
    }
    s.cpu.state.tr.limit = TSS_LIMIT;
    for v in 0..256u64 {
        put_le(&mut s, HANDLERS + 16 * v, 1, 0xf4);
        put_le(&mut s, IDT + 8 * v, 8, gate(0xe, 0, 0x18, HANDLERS + 16 * v));
    }
    s.cpu.state.idtr.base = IDT;
    s.cpu.state.idtr.limit = 0x7ff;
    s.cpu.state.cr4 |= cr4bits;
    assert!(s.mem.write_bytes(PhysAddr((CS as u64) << 4), code16));
    s
}

/// Runs the prologue (9 pushes and IRETD) and then `n` more steps (v8086 instructions).
fn run_steps(s: &mut Sandbox, n: u64) {
    s.run(10 + n);
}

/// The vector whose handler the CPU halted in, if any.
fn vector(s: &Sandbox) -> Option<u64> {
    let rip = s.cpu.state.rip;
    (s.cpu.state.activity == Activity::Halted && s.cpu.state.cpl == 0 && (HANDLERS + 1..HANDLERS + 0x1000).contains(&rip))
        .then(|| (rip - HANDLERS - 1) / 16)
}

/// `n` stack slots of `w` bytes at the handler's ESP (SS is flat).
fn frame(s: &Sandbox, n: usize, w: u8) -> Vec<u64> {
    let esp = s.cpu.state.gpr[4];
    (0..n).map(|i| s.read(esp + (i as u64) * w as u64, w)).collect()
}

/// The v8086 word at SS:off.
fn v86_word(s: &Sandbox, off: u64) -> u64 {
    s.read(((SS as u64) << 4) + off, 2)
}

/// Runs to the handler and checks the exception: vector, error code, faulting IP.
fn expect_fault(s: &mut Sandbox, vec: u64, code: u64, ip: u64) -> Vec<u64> {
    s.run(10_000);
    assert_eq!(vector(s), Some(vec), "state: rip {:#x} cpl {} {:?}", s.cpu.state.rip, s.cpu.state.cpl, s.cpu.state.activity);
    let f = frame(s, 10, 4);
    assert_eq!(f[0], code, "error code");
    assert_eq!(f[1], ip, "faulting IP");
    f[1..].to_vec()
}

#[test]
fn iret_enters_v8086_and_a_fault_leaves_with_the_sdm_frame() {
    let code = [
        0xa1, 0x10, 0x00, // mov ax, [0x10]     (DS:0x10 = linear 0x40010)
        0xa3, 0x12, 0x00, // mov [0x12], ax
        0xf4, //             hlt                 (#GP(0) at CPL 3)
    ];
    let mut s = v86(&code, 0, 0);
    put_le(&mut s, 0x40010, 2, 0xbeef);
    run_steps(&mut s, 2);
    // In v8086 mode: CPL 3, every segment base = selector * 16, limit 0xFFFF, rights 0xF3.
    assert_eq!(s.cpu.state.mode(), Mode::Virtual8086);
    assert_eq!(s.cpu.state.cpl, 3);
    for (r, sel) in [(SegReg::Cs, CS), (SegReg::Ss, SS), (SegReg::Ds, DS), (SegReg::Es, ES), (SegReg::Fs, FS), (SegReg::Gs, GS)] {
        let sg = s.cpu.state.seg(r);
        assert_eq!((sg.selector, sg.base, sg.limit, sg.attr), (sel, (sel as u64) << 4, 0xffff, 0xf3), "{r:?}");
    }
    assert_eq!(s.cpu.state.gpr[4], SP as u64);
    assert_eq!(s.read(0x40012, 2), 0xbeef);
    // HLT: #GP(0) through the DPL-0 interrupt gate with the stack from TSS.SS0:ESP0 (SDM
    // 6.12.1 Figure 6-5 "with error code", Vol. 3B 20.3.1.1).
    let f = expect_fault(&mut s, 13, 0, 6);
    // EIP, CS, EFLAGS (VM=1, RF=1 for a fault), ESP, SS, ES, DS, FS, GS.
    let want_flags = (VM | 2) as u64 | flags::RF;
    assert_eq!(f, vec![6, CS as u64, want_flags, SP as u64, SS as u64, ES as u64, DS as u64, FS as u64, GS as u64]);
    let st = &s.cpu.state;
    assert_eq!(st.gpr[4], ESP0 - 40);
    assert_eq!((st.seg(SegReg::Cs).selector, st.seg(SegReg::Ss).selector), (0x18, 0x10));
    assert_eq!(st.rflags & (flags::VM | flags::RF | flags::IF | flags::TF | flags::NT), 0);
    for r in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs] {
        assert_eq!(st.seg(r).selector, 0, "{r:?} is null");
        assert!(st.seg(r).attr & attr::UNUSABLE != 0, "{r:?} is unusable");
    }
    assert_eq!(st.mode(), Mode::Protected32);
}

#[test]
fn segment_loads_far_jumps_and_limits_use_8086_arithmetic() {
    let code = [
        0xb8, 0x34, 0x12, //             mov ax, 0x1234
        0x8e, 0xc0, //                   mov es, ax
        0x26, 0xc6, 0x06, 0x05, 0x00, 0x77, // mov byte es:[5], 0x77   (linear 0x12345)
        0x68, 0x00, 0x08, //             push 0x0800
        0x0f, 0xa1, //                   pop fs
        0xea, 0x10, 0x00, 0x00, 0x21, // jmp far 0x2100:0x0010   (linear 0x21010)
    ];
    let mut s = v86(&code, 0, 0);
    // At 0x2100:0x10: a word read at DS:0xFFFF crosses the 64-KiB limit: #GP(0).
    assert!(s.mem.write_bytes(PhysAddr(0x21010), &[0xa1, 0xff, 0xff]));
    run_steps(&mut s, 6);
    let st = &s.cpu.state;
    assert_eq!(s.read(0x12345, 1), 0x77);
    let es = st.seg(SegReg::Es);
    assert_eq!((es.selector, es.base, es.limit, es.attr), (0x1234, 0x12340, 0xffff, 0xf3));
    assert_eq!((st.seg(SegReg::Fs).selector, st.seg(SegReg::Fs).base), (0x0800, 0x8000));
    assert_eq!((st.seg(SegReg::Cs).selector, st.seg(SegReg::Cs).base, st.rip), (0x2100, 0x21000, 0x10));
    assert_eq!(st.mode(), Mode::Virtual8086);
    let f = expect_fault(&mut s, 13, 0, 0x10);
    assert_eq!((f[1], f[5], f[6]), (0x2100, 0x1234, DS as u64));
    // The same through SS: #SS(0).
    let code = [0x8b, 0x46, 0xff]; // mov ax, [bp-1] with BP = 0 -> SS:0xFFFF
    let mut s = v86(&code, 0, 0);
    expect_fault(&mut s, 12, 0, 0);
}

#[test]
fn iopl_sensitive_instructions_gp_at_iopl_below_3_without_vme() {
    for (name, code) in [
        ("cli", &[0xfa][..]),
        ("sti", &[0xfb]),
        ("pushf", &[0x9c]),
        ("pushfd", &[0x66, 0x9c]),
        ("popf", &[0x9d]),
        ("int 0x21", &[0xcd, 0x21]),
        ("iret", &[0xcf]),
        ("iretd", &[0x66, 0xcf]),
    ] {
        for iopl in [0, 1 << 12, 2 << 12] {
            let mut s = v86(code, iopl, 0);
            s.run(10_000);
            assert_eq!(vector(&s), Some(13), "{name} at IOPL {}", iopl >> 12);
            assert_eq!(frame(&s, 2, 4), vec![0, 0], "{name}: #GP(0) at its own IP");
        }
    }
    // Privileged instructions #GP(0) (CPL 3); LAR, ARPL, SLDT... are #UD (SDM 20.2.7 and the
    // instruction pages' "Virtual-8086 Mode Exceptions").
    for (name, code, vec) in [
        ("mov eax, cr0", &[0x0f, 0x20, 0xc0][..], 13),
        ("lgdt", &[0x0f, 0x01, 0x16, 0, 0], 13),
        ("hlt", &[0xf4], 13),
        ("wrmsr", &[0x0f, 0x30], 13),
        ("arpl", &[0x63, 0xc0], 6),
        ("lar", &[0x0f, 0x02, 0xc0], 6),
        ("lsl", &[0x0f, 0x03, 0xc0], 6),
        ("verr", &[0x0f, 0x00, 0xe0], 6),
        ("sldt", &[0x0f, 0x00, 0xc0], 6),
        ("str", &[0x0f, 0x00, 0xc8], 6),
        ("ltr", &[0x0f, 0x00, 0xd8], 6),
    ] {
        let mut s = v86(code, IOPL3, 0);
        s.run(10_000);
        assert_eq!(vector(&s), Some(vec), "{name}");
    }
}

#[test]
fn iopl_3_cli_sti_pushf_popf_iret_work_on_the_real_flags() {
    let code = [
        0xfa, //             cli
        0x9c, //             pushf            -> SS:0xFFE
        0xfb, //             sti
        0x68, 0xd5, 0x00, // push 0x00d5     (IOPL 0 and IF 0 in the image)
        0x9d, //             popf             IOPL stays 3 (CPL 3); IF taken (CPL <= IOPL)
        0x9c, //             pushf            -> SS:0xFFC
        0xf4, //             hlt
    ];
    let mut s = v86(&code, IOPL3 | flags::IF as u32, 0);
    let f = expect_fault(&mut s, 13, 0, 8);
    assert_eq!(v86_word(&s, 0xffe), 0x3002);
    assert_eq!(v86_word(&s, 0xffc), 0x30d7);
    assert_eq!(f[2], (VM | IOPL3 | 0xd7) as u64 | flags::RF);
    // IRET at IOPL 3 pops IP, CS, FLAGS (IOPL, VM kept).
    let code = [0xcf]; // iret
    let mut s2 = v86_with_sp(&code, IOPL3, SP - 6);
    for (off, v) in [(SP - 6, 0x0010), (SP - 4, 0x2100), (SP - 2, 0x0243)] {
        put_le(&mut s2, ((SS as u64) << 4) + off as u64, 2, v);
    }
    run_steps(&mut s2, 1);
    let st = &s2.cpu.state;
    assert_eq!((st.seg(SegReg::Cs).selector, st.seg(SegReg::Cs).base, st.rip, st.gpr[4]), (0x2100, 0x21000, 0x10, SP as u64));
    assert_eq!(st.rflags, (VM | IOPL3 | 0x243) as u64);
}

/// [`v86`] entering with SP = `sp`.
fn v86_with_sp(code16: &[u8], eflags: u32, sp: u32) -> Sandbox {
    let mut s = v86(code16, eflags, 0);
    // The prologue's `push imm32` for SP is the sixth from the end: patch its immediate.
    let at = hvbench_cpu::sandbox::CODE_BASE + 5 * 5 + 1;
    assert_eq!(s.read(at, 4), SP as u64);
    put_le(&mut s, at, 4, sp as u64);
    s
}

#[test]
fn io_instructions_use_the_tss_bitmap_whatever_the_iopl() {
    // Bit 0x80 set: IN AL,0x80 faults at IOPL 3; 0x81 is allowed at IOPL 0; a word at 0x7F
    // covers 0x80; ports past the TSS limit fault (SDM Vol. 1 19.5.2, Vol. 3B 20.2.8.1).
    let cases: [(&[u8], u32, bool); 5] = [
        (&[0xe4, 0x80], IOPL3, true),
        (&[0xe4, 0x81], 0, false),
        (&[0xe5, 0x7f], 0, true),
        (&[0xe5, 0x7e], 0, false),
        (&[0xba, 0x00, 0x04, 0xec], IOPL3, true), // mov dx, 0x400 ; in al, dx
    ];
    for (code, iopl, faults) in cases {
        let mut s = v86(code, iopl, 0);
        put_le(&mut s, TSS + IO_BASE + 0x10, 1, 1);
        let n = if code.len() == 4 { 2 } else { 1 };
        run_steps(&mut s, n);
        if faults {
            s.run(10_000);
            assert_eq!(vector(&s), Some(13), "{code:x?}");
            assert_eq!(frame(&s, 2, 4)[0], 0);
        } else {
            assert_eq!(s.cpu.state.mode(), Mode::Virtual8086, "{code:x?}");
            assert_eq!(s.cpu.state.rip, code.len() as u64, "{code:x?}");
        }
    }
}

#[test]
fn int_n_at_iopl_3_goes_through_the_idt_to_cpl_0() {
    // 32-bit trap gate, DPL 3: frame without error code, IF stays set.
    let code = [0xcd, 0x30]; // int 0x30
    let mut s = v86(&code, IOPL3 | flags::IF as u32, 0);
    put_le(&mut s, IDT + 8 * 0x30, 8, gate(0xf, 3, 0x18, HANDLERS + 16 * 0x30));
    s.run(10_000);
    assert_eq!(vector(&s), Some(0x30));
    assert_eq!(s.cpu.state.gpr[4], ESP0 - 36);
    let want = vec![2, CS as u64, (VM | IOPL3 | 0x202) as u64, SP as u64, SS as u64, ES as u64, DS as u64, FS as u64, GS as u64];
    assert_eq!(frame(&s, 9, 4), want);
    assert!(s.cpu.state.rflags & flags::IF != 0);
    // 16-bit interrupt gate: the same frame in words, IF cleared.
    let mut s = v86(&code, IOPL3 | flags::IF as u32, 0);
    put_le(&mut s, IDT + 8 * 0x30, 8, gate(0x6, 3, 0x18, HANDLERS + 16 * 0x30));
    s.run(10_000);
    assert_eq!(vector(&s), Some(0x30));
    assert_eq!(s.cpu.state.gpr[4], ESP0 - 18);
    assert_eq!(frame(&s, 9, 2), vec![2, CS as u64, (IOPL3 | 0x202) as u64, SP as u64, SS as u64, ES as u64, DS as u64, FS as u64, GS as u64]);
    assert!(s.cpu.state.rflags & flags::IF == 0);
    // Gate DPL 0 < CPL 3: #GP(vector * 8 + 2).
    let mut s = v86(&code, IOPL3, 0);
    expect_fault(&mut s, 13, 0x30 * 8 + 2, 0);
    // Handler in a DPL-3 code segment (0x3b): #GP(selector).
    let mut s = v86(&code, IOPL3, 0);
    put_le(&mut s, IDT + 8 * 0x30, 8, gate(0xe, 3, 0x3b, HANDLERS));
    expect_fault(&mut s, 13, 0x38, 0);
    // INT3 is not IOPL-sensitive: through the IDT at IOPL 0 (gate DPL 3 needed).
    let mut s = v86(&[0xcc], 0, 0);
    put_le(&mut s, IDT + 8 * 3, 8, gate(0xe, 3, 0x18, HANDLERS + 16 * 3));
    s.run(10_000);
    assert_eq!(vector(&s), Some(3));
    assert_eq!(frame(&s, 2, 4), vec![1, CS as u64]);
}

#[test]
fn vme_virtualizes_cli_sti_pushf_popf_at_iopl_0() {
    let code = [
        0xfb, //             sti       VIF <- 1
        0x9c, //             pushf     IF shows VIF, IOPL shows 3   -> SS:0xFFE
        0xfa, //             cli       VIF <- 0
        0x9c, //             pushf                                   -> SS:0xFFC
        0x68, 0x01, 0x02, // push 0x0201
        0x9d, //             popf      VIF <- 1, CF <- 1, IF and IOPL kept
        0xf4, //             hlt
    ];
    let mut s = v86(&code, 0, cr4::VME);
    let f = expect_fault(&mut s, 13, 0, 8);
    assert_eq!(v86_word(&s, 0xffe), 0x3202);
    assert_eq!(v86_word(&s, 0xffc), 0x3002);
    // The real IF stayed 0 throughout; VIF=1 and CF=1 from the POPF.
    assert_eq!(f[2], (VM | 2 | 1) as u64 | flags::VIF | flags::RF);
    // With VIP=1: STI, or POPF/IRET setting IF, trap to the monitor; so does POPF with TF=1,
    // and any 32-bit POPFD/PUSHFD/IRETD.
    for (name, code, vip, ip) in [
        ("sti", &[0xfb][..], true, 0),
        ("popf IF", &[0x68, 0x00, 0x02, 0x9d], true, 3),
        ("popf TF", &[0x68, 0x00, 0x01, 0x9d], false, 3),
        ("popfd", &[0x66, 0x9d], false, 0),
        ("pushfd", &[0x66, 0x9c], false, 0),
        ("iretd", &[0x66, 0xcf], false, 0),
    ] {
        let mut s = v86(code, if vip { flags::VIP as u32 } else { 0 }, cr4::VME);
        let f = expect_fault(&mut s, 13, 0, ip);
        let sp = if ip == 3 { SP as u64 - 2 } else { SP as u64 };
        assert_eq!(f[3], sp, "{name}: nothing popped");
    }
    // With VIP=1 and IF=0 in the image POPF is fine; CLI is fine.
    let mut s = v86(&[0x68, 0x00, 0x00, 0x9d, 0xfa, 0xf4], flags::VIP as u32 | flags::VIF as u32, cr4::VME);
    let f = expect_fault(&mut s, 13, 0, 5);
    assert_eq!(f[2] & (flags::VIF | flags::VIP | flags::IF), flags::VIP);
}

#[test]
fn vme_interrupt_redirection_bitmap_chooses_ivt_or_idt() {
    // IVT[0x21] = 0x2500:0x0010.
    let setup = |s: &mut Sandbox| put_le(s, 0x21 * 4, 4, 0x2500_0010);
    // Method 6 (VME, IOPL 0, bit clear): 8086 frame with IF = VIF and IOPL = 3; VIF cleared.
    let mut s = v86(&[0xcd, 0x21], flags::VIF as u32 | flags::CF as u32, cr4::VME);
    setup(&mut s);
    run_steps(&mut s, 1);
    let st = &s.cpu.state;
    assert_eq!((st.seg(SegReg::Cs).selector, st.seg(SegReg::Cs).base, st.rip, st.gpr[4]), (0x2500, 0x25000, 0x10, SP as u64 - 6));
    assert_eq!([v86_word(&s, 0xffa), v86_word(&s, 0xffc), v86_word(&s, 0xffe)], [2, CS as u64, 0x3203]);
    assert_eq!(st.rflags & (flags::VIF | flags::TF | flags::IF | flags::IOPL | flags::CF), flags::CF);
    assert_eq!(st.mode(), Mode::Virtual8086);
    // Method 5 (VME, IOPL 3, bit clear): the real flags image; IF, TF cleared.
    let mut s = v86(&[0xcd, 0x21], IOPL3 | flags::IF as u32, cr4::VME);
    setup(&mut s);
    run_steps(&mut s, 1);
    assert_eq!(v86_word(&s, 0xffe), 0x3202);
    assert_eq!(s.cpu.state.rflags & flags::IF, 0);
    assert_eq!(s.cpu.state.rip, 0x10);
    // Method 3 (VME, IOPL < 3, bit set): #GP(0).
    let mut s = v86(&[0xcd, 0x21], 0, cr4::VME);
    setup(&mut s);
    put_le(&mut s, TSS + IO_BASE - 32 + 4, 1, 0x02);
    expect_fault(&mut s, 13, 0, 0);
    // Method 4 (VME, IOPL 3, bit set): the IDT.
    let mut s = v86(&[0xcd, 0x21], IOPL3, cr4::VME);
    setup(&mut s);
    put_le(&mut s, TSS + IO_BASE - 32 + 4, 1, 0x02);
    put_le(&mut s, IDT + 8 * 0x21, 8, gate(0xe, 3, 0x18, HANDLERS + 16 * 0x21));
    s.run(10_000);
    assert_eq!(vector(&s), Some(0x21));
    // VME IRET (16-bit, IOPL 0): IF from the image goes to VIF.
    let mut s = v86_with_sp(&[0xcf], 0, SP - 6);
    s.cpu.state.cr4 |= cr4::VME;
    for (off, v) in [(SP - 6, 0x0010), (SP - 4, 0x2100), (SP - 2, 0x0201)] {
        put_le(&mut s, ((SS as u64) << 4) + off as u64, 2, v);
    }
    run_steps(&mut s, 1);
    let st = &s.cpu.state;
    assert_eq!((st.seg(SegReg::Cs).selector, st.rip, st.gpr[4]), (0x2100, 0x10, SP as u64));
    assert_eq!(st.rflags, (VM | 0x3) as u64 | flags::VIF);
}

#[test]
fn pvi_virtualizes_cli_sti_at_cpl_3() {
    // IRETD to ring 3 (0x3b:CODE_BASE+0x40, SS 0x2b) with IOPL 0, IF 1; then CLI; HLT.
    let base = hvbench_cpu::sandbox::CODE_BASE;
    let run = |cr4bits: u64, ring3: &[u8], eflags: u64| {
        let mut pm = Vec::new();
        for v in [0x2bu32, 0x6_0000, eflags as u32, 0x3b, (base + 0x40) as u32].iter() {
            pm.push(0x68);
            pm.extend_from_slice(&v.to_le_bytes());
        }
        pm.push(0xcf);
        let mut s = Sandbox::new(SandboxMode::Protected32, &pm);
        assert!(s.mem.write_bytes(PhysAddr(base + 0x40), ring3));
        put_le(&mut s, TSS + 4, 4, ESP0);
        put_le(&mut s, TSS + 8, 4, 0x10);
        for v in 0..256u64 {
            put_le(&mut s, HANDLERS + 16 * v, 1, 0xf4);
            put_le(&mut s, IDT + 8 * v, 8, gate(0xe, 0, 0x18, HANDLERS + 16 * v));
        }
        s.cpu.state.idtr.base = IDT;
        s.cpu.state.idtr.limit = 0x7ff;
        s.cpu.state.cr4 |= cr4bits;
        s.run(10_000);
        s
    };
    // CLI ; HLT with PVI: VIF cleared, IF kept; HLT #GP(0) frame EIP, CS, EFLAGS, ESP, SS.
    let s = run(cr4::PVI, &[0xfa, 0xf4], 0x202 | flags::VIF);
    assert_eq!(vector(&s), Some(13));
    let f = frame(&s, 6, 4);
    assert_eq!(f, vec![0, base + 0x41, 0x3b, 0x202 | flags::RF, 0x6_0000, 0x2b]);
    // STI with PVI sets VIF; STI with VIP=1 faults; without PVI CLI faults.
    let s = run(cr4::PVI, &[0xfb, 0xf4], 0x2);
    assert_eq!(frame(&s, 4, 4)[3], 0x2 | flags::VIF | flags::RF);
    let s = run(cr4::PVI, &[0xfb, 0xf4], 0x2 | flags::VIP);
    assert_eq!(frame(&s, 2, 4), vec![0, base + 0x40]);
    let s = run(0, &[0xfa, 0xf4], 0x202);
    assert_eq!(frame(&s, 2, 4), vec![0, base + 0x40]);
    // PUSHF/POPF are not affected by PVI: POPF at CPL 3 leaves IF alone (no fault).
    let s = run(cr4::PVI, &[0x6a, 0x00, 0x9d, 0xf4], 0x202);
    assert_eq!(frame(&s, 4, 4)[3], 0x202 | flags::RF);
}

#[test]
fn paging_checks_v8086_accesses_as_user_accesses() {
    // 32-bit paging, identity-mapped 4-KiB pages for the first 4 MiB, user except the page of
    // DS (0x40000): a read there is #PF with error code P=1, U=1 (5; SDM Vol. 3A 4.7).
    let mut s = v86(&[0xa1, 0x00, 0x00], 0, 0);
    let pd = 0x9_0000u64;
    let pt = 0x9_1000u64;
    put_le(&mut s, pd, 4, pt | 7);
    for i in 0..1024u64 {
        let user = if i == 0x40 { 0 } else { 4 };
        put_le(&mut s, pt + 4 * i, 4, (i << 12) | 3 | user);
    }
    let mut st = s.cpu.state.clone();
    st.cr3 = pd;
    st.cr0 |= hvbench_cpu::regs::cr0::PG;
    s.cpu.set_state(st);
    let f = expect_fault(&mut s, 14, 5, 0);
    assert_eq!(f[1], CS as u64);
    assert_eq!(s.cpu.state.cr2, 0x40000);
}

#[test]
fn cpuid_advertises_vme() {
    let f = hvbench_cpu::cpuid::FEATURES;
    let r = hvbench_cpu::cpuid::cpuid(1, 0, 0, 39, &f);
    assert_ne!(r[3] & 2, 0, "CPUID.1:EDX.VME");
}
