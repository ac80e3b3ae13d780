//! One 16-bit protected-mode program run twice: in hvbench and, when it is installed, as a
//! multiboot v1 kernel under QEMU (`-kernel`, a.out-kludge header, SDM-free reference). The
//! program prints its results as hex doublewords on COM1; both outputs must equal the values
//! the SDM gives (the same rules tests/pmode16.rs checks one by one):
//!
//! - SP wraps at 64 KiB with a B=0 stack, ESP[31:16] kept (Vol. 3A 3.4.5);
//! - JCXZ/JECXZ and LOOP count with CX or ECX by address size (Vol. 2A "Jcc", 2B "LOOP");
//! - REP MOVSB with 16-bit addressing wraps SI and keeps ESI/EDI/ECX[31:16] (Vol. 2B "MOVS");
//! - INT through a 16-bit interrupt gate pushes IP, CS, FLAGS as words, IRET pops them
//!   (Vol. 3A 6.12.1, Vol. 2A "IRET");
//! - PUSHA order (Vol. 2B "PUSHA").
//!
//! Image layout (loaded at 1 MiB): header at 0, 32-bit entry at 0x40, GDT at 0x800, GDTR
//! and IDTR images at 0x880/0x888, IDT at 0xA00, 16-bit code at 0x1000 (CS base), 32-bit
//! printer at 0x2000. Results go to 0x120000 (segment RES).

use iced_x86::code_asm::*;

const LOAD: u32 = 0x10_0000;
const RESULTS: u32 = 0x12_0000;
const CODE32: u16 = 0x08;
const FLAT: u16 = 0x10;
const CODE16: u16 = 0x18;
const STACK16: u16 = 0x20;
const DATA32: u16 = 0x28;
const RES: u16 = 0x30;

mod segment_support;

use segment_support::*;

/// The 16-bit program; `n` counts the result doublewords it stores at RES:4*k.
fn program16(n: &mut u32) -> Vec<u8> {
    let mut k = 0u32;
    let mut out = |a: &mut CodeAssembler, r: AsmRegister32| -> Result<(), IcedError> {
        a.mov(dword_ptr(4 * k).fs(), r)?;
        k += 1;
        Ok(())
    };
    let mut code = asm_at(16, 0, |a| {
        a.mov(ax, RES as u32)?;
        a.mov(fs, ax)?;
        a.push(2)?;
        a.popf()?; // deterministic FLAGS, IF = 0
        // 1. B=0 stack: SP wraps.
        a.mov(ax, STACK16 as u32)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x1_0000)?;
        a.mov(ax, 0xbeef)?;
        a.push(ax)?;
        out(a, esp)?;
        a.movzx(eax, word_ptr(0xfffe).ss())?;
        out(a, eax)?;
        // 2. JCXZ / JECXZ / LOOP by address size (raw bytes as in tests/pmode16.rs).
        for r in [eax, ebx, edx, ebp] {
            a.xor(r, r)?;
        }
        a.db(&[
            0x66, 0xb9, 0x00, 0x00, 0x01, 0x00, // mov ecx, 0x10000
            0xe3, 0x02, 0xb0, 0x01, //             jcxz +2 ; mov al, 1
            0x67, 0xe3, 0x02, 0xb3, 0x01, //       jecxz +2 ; mov bl, 1
            0x66, 0xb9, 0x01, 0x00, 0x01, 0x00, // mov ecx, 0x10001
            0xe2, 0x02, 0xb2, 0x01, //             loop +2 (CX) ; mov dl, 1
            0x66, 0x89, 0xce, //                   mov esi, ecx
            0x66, 0xb9, 0x01, 0x00, 0x01, 0x00, // mov ecx, 0x10001
            0x67, 0xe2, 0x02, 0xb4, 0x01, //       loop +2 (ECX) ; mov ah, 1
            0x66, 0x89, 0xcf, //                   mov edi, ecx
            0xb9, 0x05, 0x00, //                   mov cx, 5
            0x45, 0xe2, 0xfd, //                   inc bp ; loop -3
        ])?;
        for r in [eax, ebx, edx, esi, edi, ecx, ebp] {
            out(a, r)?;
        }
        // 3. REP MOVSB with SI wrapping at 64 KiB.
        a.mov(ax, DATA32 as u32)?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.mov(dword_ptr(0xfffc), 0xa2a1_0000u32)?; // bytes A1 A2 at 0xFFFE
        a.mov(word_ptr(0), 0xa4a3)?;
        a.mov(esi, 0x0005_fffeu32)?;
        a.mov(edi, 0x0007_0100u32)?;
        a.mov(ecx, 0x0003_0004u32)?;
        a.rep().movsb()?;
        for r in [esi, edi, ecx] {
            out(a, r)?;
        }
        a.mov(eax, dword_ptr(0x100))?;
        out(a, eax)?;
        // 4. INT 0x40 through a 16-bit interrupt gate (handler at 0x800 stores at RES:0x80).
        a.mov(esp, 0x3_8000)?;
        a.push(2)?;
        a.popf()?;
        a.int(0x40)?;
        out(a, esp)?;
        // 5. PUSHA at SP 0x8000: eight words, read back from SP upwards.
        a.mov(esp, 0x8000)?;
        for (v, r) in [ax, cx, dx, bx, bp, si, di].into_iter().enumerate() {
            a.mov(r, v as u32 + 1)?;
        }
        a.pusha()?;
        a.mov(bp, sp)?;
        for w in 0..8 {
            a.movzx(eax, word_ptr(bp + 2 * w))?;
            out(a, eax)?;
        }
        Ok(())
    });
    // jmp dword far CODE32:printer
    code.extend([0x66, 0xea]);
    code.extend((LOAD + 0x2000).to_le_bytes());
    code.extend(CODE32.to_le_bytes());
    assert!(k <= 0x80 / 4);
    *n = 0x80 / 4 + 4;
    code
}

fn handler16() -> Vec<u8> {
    asm_at(16, 0x800, |a| {
        a.mov(bp, sp)?;
        a.movzx(eax, sp)?;
        a.mov(dword_ptr(0x80).fs(), eax)?;
        for w in 0..3 {
            a.movzx(eax, word_ptr(bp + 2 * w))?;
            a.mov(dword_ptr(0x84 + 4 * w as u32).fs(), eax)?;
        }
        a.iret()
    })
}

/// 32-bit: print `n` doublewords from RESULTS as hex lines on COM1, exit QEMU, halt.
fn printer(n: u32) -> Vec<u8> {
    asm_at(32, (LOAD + 0x2000) as u64, |a| {
        let mut next = a.create_label();
        let mut dig = a.create_label();
        let mut low = a.create_label();
        let mut end = a.create_label();
        a.mov(ax, FLAT as u32)?;
        a.mov(ds, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x8_0000)?;
        a.mov(ebx, RESULTS)?;
        a.mov(ebp, n)?;
        a.mov(dx, 0x3f8)?;
        a.mov(al, b'\n' as u32)?; // end whatever line the firmware left open
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
        a.mov(dx, 0x3f8)?;
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

/// The whole multiboot image and the number of result lines.
fn image() -> (Vec<u8>, u32) {
    let mut img = vec![0u8; 0x2100];
    // Multiboot v1 header with the address fields (flags bit 16): header, load and entry.
    let flags = 1u32 << 16;
    let words = [0x1bad_b002u32, flags, 0u32.wrapping_sub(0x1bad_b002).wrapping_sub(flags), LOAD, LOAD, 0, 0, LOAD + 0x40];
    for (i, w) in words.iter().enumerate() {
        img[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
    }
    let entry = asm_at(32, (LOAD + 0x40) as u64, |a| {
        a.lgdt(ptr(LOAD + 0x880))?;
        a.lidt(ptr(LOAD + 0x888))?;
        a.mov(ax, FLAT as u32)?;
        a.mov(ds, ax)?;
        a.mov(es, ax)?;
        a.mov(ss, ax)?;
        a.mov(esp, 0x8_0000)?;
        a.jmp_far(CODE16, 0)
    });
    img[0x40..0x40 + entry.len()].copy_from_slice(&entry);
    let gdt = [
        0,
        0x00cf_9a00_0000_ffff,
        0x00cf_9200_0000_ffff,
        desc(LOAD as u64 + 0x1000, 0xffff, 0x9a, 0),
        desc(0x6_0000, 0xffff, 0x92, 0),
        desc(0x11_0000, 0xfffff, 0x92, 0xc),
        desc(RESULTS as u64, 0xffff, 0x92, 0),
    ];
    for (i, d) in gdt.iter().enumerate() {
        img[0x800 + 8 * i..0x808 + 8 * i].copy_from_slice(&d.to_le_bytes());
    }
    img[0x880..0x882].copy_from_slice(&(8 * gdt.len() as u16 - 1).to_le_bytes());
    img[0x882..0x886].copy_from_slice(&(LOAD + 0x800).to_le_bytes());
    img[0x888..0x88a].copy_from_slice(&0x207u16.to_le_bytes());
    img[0x88a..0x88e].copy_from_slice(&(LOAD + 0xa00).to_le_bytes());
    // IDT[0x40]: 16-bit interrupt gate (type 6), DPL 0, CODE16:0x800.
    let g = 0x800u64 | (CODE16 as u64) << 16 | 0x86u64 << 40;
    img[0xc00..0xc08].copy_from_slice(&g.to_le_bytes());
    let mut n = 0;
    let p16 = program16(&mut n);
    img[0x1000..0x1000 + p16.len()].copy_from_slice(&p16);
    let h = handler16();
    img[0x1800..0x1800 + h.len()].copy_from_slice(&h);
    let pr = printer(n);
    img[0x2000..0x2000 + pr.len()].copy_from_slice(&pr);
    assert!(p16.len() < 0x800 && h.len() < 0x800);
    (img, n)
}

/// The expected lines (SDM values; see the module doc and tests/pmode16.rs).
fn expected() -> Vec<u32> {
    let int_ip = {
        // The IP after `int 0x40` in program16: find CD 40 in the assembled code.
        let mut n = 0;
        let p = program16(&mut n);
        p.windows(2).position(|w| w == [0xcd, 0x40]).unwrap() as u32 + 2
    };
    let mut v = vec![0x1_fffe, 0xbeef];
    v.extend([0, 1, 1, 0x1_0000, 0x1_0000, 0x1_0000, 5]);
    v.extend([0x5_0002, 0x7_0104, 0x3_0000, 0xa4a3_a2a1]);
    v.push(0x3_8000);
    v.extend([7, 6, 5, 0x8000, 4, 3, 2, 1]);
    // RES:0x80.. from the handler: SP, IP, CS, FLAGS.
    let pad = 0x80 / 4 - v.len();
    v.extend(std::iter::repeat_n(0, pad));
    v.extend([0x7ffa, int_ip, CODE16 as u32, 0x2]);
    v
}

#[test]
fn sixteen_bit_protected_mode_program_matches_the_sdm_in_hvbench_and_qemu() {
    let (img, n) = image();
    let want = expected();
    assert_eq!(want.len() as u32, n);
    let out = run_in_sandbox(&img, (LOAD + 0x40) as u64);
    assert_eq!(lines(&out), want, "hvbench output:\n{out}");
    let Some((out, err)) = run_in_qemu(&img, "pmode16_qemu.bin") else { return };
    assert_eq!(lines(&out), want, "QEMU output:\n{out}\nstderr: {err}");
}
