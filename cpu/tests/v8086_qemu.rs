//! One virtual-8086 program run twice: in hvbench and, when it is installed, as a multiboot v1
//! kernel under QEMU TCG (`-kernel`), both compared with the values the SDM gives:
//!
//! - IRETD at CPL 0 with EFLAGS.VM=1 enters v8086 mode with the popped EIP, CS, EFLAGS, ESP,
//!   SS, ES, DS, FS, GS (Vol. 2A "IRET", RETURN-TO-VIRTUAL-8086-MODE);
//! - segment loads give base = selector * 16 (Vol. 3B 20.1.1);
//! - CLI at IOPL 0 is #GP(0); PUSHF at IOPL 3 pushes FLAGS (Vol. 3B 20.2.7, "CLI", "PUSHF");
//! - an exception or INT n leaves v8086 mode for the DPL-0 handler with the stack from
//!   TSS.SS0:ESP0 and the frame GS, FS, DS, ES, SS, ESP, EFLAGS, CS, EIP [, error code]; DS
//!   is null in the handler (Vol. 3A 6.12.1, Vol. 3B 20.3.1.1, Figure 20-4);
//! - IN is checked against the TSS I/O permission bitmap in v8086 mode (Vol. 3B 20.2.8.1).
//!
//! Image (loaded at 1 MiB): header at 0, entry at 0x40, GDT at 0x800, GDTR/IDTR images at
//! 0x880/0x888, IDT at 0xA00, TSS at 0x1000 (I/O map base 0x88, limit 0x108), handlers at
//! 0x1200, skip table at 0x1400, printer at 0x1800, v8086 code at 0x2000 (copied to 0x20000,
//! run as 2000:0000). Results at 0x30000: the v8086 program's two words, the byte it stored
//! through ES, then one 12-doubleword record per handler entry (DS at entry, vector, error
//! code, EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS).

use iced_x86::code_asm::*;

mod segment_support;

use segment_support::*;

const LOAD: u32 = 0x10_0000;
const RES: u32 = 0x3_0000;
const COUNT: u32 = RES + 0xf0;
const FRAMES: u32 = RES + 8;
const CODE: u16 = 0x08;
const FLAT: u16 = 0x10;
const TSS_SEL: u16 = 0x18;
const V86_CODE: u32 = 0x2_0000;
const PHASES: u32 = 4;
const LINES: u32 = 2 + 12 * PHASES;

/// The v8086 program (IP 0 = linear 0x20000).
fn v86_program() -> Vec<u8> {
    asm_at(16, 0, |a| {
        a.mov(ax, 0x1234u32)?;
        a.mov(es, ax)?;
        a.mov(byte_ptr(5).es(), 0x77u32)?;
        a.cli()?; // phase 0: #GP(0) at IOPL 0; the handler resumes after it with IOPL 3
        a.cli()?; // fine at IOPL 3
        a.pushf()?;
        a.pop(ax)?;
        a.mov(bx, RES >> 4)?;
        a.mov(ds, bx)?;
        a.mov(word_ptr(0), ax)?;
        a.int(0x30)?; // phase 1: through the DPL-3 trap gate
        a.in_(al, 0x81)?; // allowed by the bitmap
        a.in_(al, 0x80)?; // phase 2: #GP(0), denied by the bitmap
        a.mov(word_ptr(2), sp)?;
        a.hlt() // phase 3: #GP(0)
    })
}

/// IPs of the instructions that leave v8086 mode (and the next IP for INT).
fn ips() -> [u32; 4] {
    let p = v86_program();
    let find = |pat: &[u8]| p.windows(pat.len()).position(|w| w == pat).unwrap() as u32;
    [find(&[0xfa, 0xfa]), find(&[0xcd, 0x30]) + 2, find(&[0xe4, 0x80]), p.len() as u32 - 1]
}

/// 32-bit handlers: a stub for #GP (error code), a stub for INT 30H (pushes 0 in its place),
/// then the common part that records the frame and resumes or prints.
fn handlers() -> Vec<u8> {
    asm_at(32, (LOAD + 0x1200) as u64, |a| {
        let mut common = a.create_label();
        let mut print = a.create_label();
        a.push(13)?;
        a.jmp(common)?;
        a.push(0)?;
        a.push(0x30)?;
        a.set_label(&mut common)?;
        a.mov(ax, ds)?;
        a.movzx(eax, ax)?;
        a.push(eax)?;
        a.mov(ax, FLAT as u32)?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.cld()?;
        a.mov(ebx, dword_ptr(COUNT))?;
        a.imul_3(edi, ebx, 48)?;
        a.add(edi, FRAMES)?;
        a.mov(esi, esp)?;
        a.mov(ecx, 12)?;
        a.rep().movsd()?;
        a.inc(dword_ptr(COUNT))?;
        a.movzx(eax, byte_ptr(ebx + (LOAD + 0x1400)))?;
        a.add(dword_ptr(esp + 12), eax)?;
        a.or(dword_ptr(esp + 20), 0x3000)?; // IOPL 3 from now on
        a.cmp(ebx, PHASES - 1)?;
        a.je(print)?;
        a.add(esp, 12)?;
        a.iretd()?;
        a.set_label(&mut print)?;
        a.jmp(LOAD as u64 + 0x1800)
    })
}

/// 32-bit: print LINES doublewords from RES as hex lines on COM1, exit QEMU, halt.
fn printer() -> Vec<u8> {
    asm_at(32, (LOAD + 0x1800) as u64, |a| {
        let mut next = a.create_label();
        let mut dig = a.create_label();
        let mut low = a.create_label();
        let mut end = a.create_label();
        a.movzx(eax, byte_ptr(0x12345))?;
        a.mov(dword_ptr(RES + 4), eax)?;
        a.mov(ebx, RES)?;
        a.mov(ebp, LINES)?;
        a.mov(dx, 0x3f8)?;
        a.mov(al, b'\n' as u32)?;
        a.out(dx, al)?;
        a.set_label(&mut next)?;
        a.mov(eax, dword_ptr(ebx))?;
        a.mov(ecx, 8)?;
        a.set_label(&mut dig)?;
        a.rol(eax, 4)?;
        a.push(eax)?;
        a.and(al, 0xf)?;
        a.add(al, b'0' as u32)?;
        a.cmp(al, b'9' as u32)?;
        a.jbe(low)?;
        a.add(al, (b'a' - b'9' - 1) as u32)?;
        a.set_label(&mut low)?;
        a.out(dx, al)?;
        a.pop(eax)?;
        a.loop_(dig)?;
        a.mov(al, b'\n' as u32)?;
        a.out(dx, al)?;
        a.add(ebx, 4)?;
        a.dec(ebp)?;
        a.jnz(next)?;
        a.mov(al, 0)?;
        a.out(0xf4, al)?;
        a.set_label(&mut end)?;
        a.hlt()?;
        a.jmp(end)
    })
}

fn image() -> Vec<u8> {
    let mut img = vec![0u8; 0x2400];
    let flags = 1u32 << 16;
    let words = [0x1bad_b002u32, flags, 0u32.wrapping_sub(0x1bad_b002).wrapping_sub(flags), LOAD, LOAD, 0, 0, LOAD + 0x40];
    for (i, w) in words.iter().enumerate() {
        img[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    // Entry: tables, TR, copy the v8086 code, IRETD into it with IOPL 0, IF 0.
    let entry = asm_at(32, (LOAD + 0x40) as u64, |a| {
        a.lgdt(ptr(LOAD + 0x880))?;
        a.lidt(ptr(LOAD + 0x888))?;
        a.mov(ax, FLAT as u32)?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x9_0000)?;
        a.mov(ax, TSS_SEL as u32)?;
        a.ltr(ax)?;
        a.cld()?;
        a.mov(esi, LOAD + 0x2000)?;
        a.mov(edi, V86_CODE)?;
        a.mov(ecx, 0x400)?;
        a.rep().movsb()?;
        a.mov(dword_ptr(COUNT), 0)?;
        for v in [0x7100u32, 0x7000, 0x6000, 0x5000, 0x4000, 0x1000, 0x2_0002, V86_CODE >> 4, 0] {
            a.push(v)?;
        }
        a.iretd()
    });
    img[0x40..0x40 + entry.len()].copy_from_slice(&entry);
    let tss = LOAD as u64 + 0x1000;
    let gdt = [0, 0x00cf_9a00_0000_ffff, 0x00cf_9200_0000_ffff, desc(tss, 0x108, 0x89, 0)];
    for (i, d) in gdt.iter().enumerate() {
        img[0x800 + 8 * i..0x808 + 8 * i].copy_from_slice(&d.to_le_bytes());
    }
    img[0x880..0x882].copy_from_slice(&(8 * gdt.len() as u16 - 1).to_le_bytes());
    img[0x882..0x886].copy_from_slice(&(LOAD + 0x800).to_le_bytes());
    img[0x888..0x88a].copy_from_slice(&(0x31u16 * 8 - 1).to_le_bytes());
    img[0x88a..0x88e].copy_from_slice(&(LOAD + 0xa00).to_le_bytes());
    let gate = |typ_dpl: u64, off: u32| (off as u64 & 0xffff) | (CODE as u64) << 16 | typ_dpl << 40 | (off as u64 >> 16) << 48;
    img[0xa00 + 13 * 8..0xa00 + 14 * 8].copy_from_slice(&gate(0x8e, LOAD + 0x1200).to_le_bytes());
    let h = handlers();
    let stub30 = h.windows(4).position(|w| w == [0x6a, 0x00, 0x6a, 0x30]).unwrap() as u32;
    img[0xa00 + 0x30 * 8..0xa00 + 0x31 * 8].copy_from_slice(&gate(0xef, LOAD + 0x1200 + stub30).to_le_bytes());
    // TSS: ESP0, SS0, I/O map base 0x88; port 0x80 denied (byte 0x88 + 0x10, bit 0).
    img[0x1004..0x1008].copy_from_slice(&0x9_0000u32.to_le_bytes());
    img[0x1008..0x100a].copy_from_slice(&FLAT.to_le_bytes());
    img[0x1066..0x1068].copy_from_slice(&0x88u16.to_le_bytes());
    img[0x1098] = 1;
    img[0x1200..0x1200 + h.len()].copy_from_slice(&h);
    // EIP adjustments per phase: skip the CLI and the IN; INT and HLT need none (the last
    // phase prints).
    img[0x1400..0x1404].copy_from_slice(&[1, 0, 2, 0]);
    let pr = printer();
    img[0x1800..0x1800 + pr.len()].copy_from_slice(&pr);
    let v = v86_program();
    img[0x2000..0x2000 + v.len()].copy_from_slice(&v);
    assert!(h.len() < 0x200 && pr.len() < 0x800 && v.len() < 0x400);
    img
}

/// The SDM's lines.
fn expected() -> Vec<u32> {
    let [cli_ip, int_next, in_ip, hlt_ip] = ips();
    let vm = 1 << 17;
    let rf = 1 << 16;
    let mut v = vec![0x1000 << 16 | 0x3002, 0x77];
    // DS at entry (null), vector, error code, EIP, CS, EFLAGS, ESP, SS, ES, DS, FS, GS.
    v.extend([0, 13, 0, cli_ip, 0x2000, vm | rf | 2, 0x1000, 0x4000, 0x1234, 0x6000, 0x7000, 0x7100]);
    v.extend([0, 0x30, 0, int_next, 0x2000, vm | 0x3002, 0x1000, 0x4000, 0x1234, RES >> 4, 0x7000, 0x7100]);
    v.extend([0, 13, 0, in_ip, 0x2000, vm | rf | 0x3002, 0x1000, 0x4000, 0x1234, RES >> 4, 0x7000, 0x7100]);
    v.extend([0, 13, 0, hlt_ip, 0x2000, vm | rf | 0x3002, 0x1000, 0x4000, 0x1234, RES >> 4, 0x7000, 0x7100]);
    v
}

#[test]
fn virtual_8086_program_matches_the_sdm_in_hvbench_and_qemu() {
    let img = image();
    let want = expected();
    assert_eq!(want.len() as u32, LINES);
    let out = run_in_sandbox(&img, (LOAD + 0x40) as u64);
    assert_eq!(lines(&out), want, "hvbench output:\n{out}");
    let Some((out, err)) = run_in_qemu(&img, "v8086_qemu.bin") else { return };
    // Known QEMU TCG deviation: it does not set RF in the EFLAGS image pushed for a fault
    // (SDM Vol. 3A 18.3.1.1: faults other than instruction-breakpoint #DB push RF = 1), so RF
    // is compared as 0 in the records' EFLAGS doublewords; everything else must match.
    let mut qemu_want = want.clone();
    for k in 0..PHASES as usize {
        qemu_want[2 + 12 * k + 5] &= !(1 << 16);
    }
    assert_eq!(lines(&out), qemu_want, "QEMU output:\n{out}\nstderr: {err}");
}
