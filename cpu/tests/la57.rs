//! 5-level paging (CR4.LA57) as the CPU model advertises it, and the two canonical widths.
//!
//! Sources: SDM Vol. 3A 4.5 "4-Level Paging and 5-Level Paging" and 4.5.1; Intel's "5-Level
//! Paging and 5-Level EPT" white paper: 2.2.1 (CPUID.(EAX=07H,ECX=0):ECX[16] enumerates it,
//! CPUID.80000008H:EAX[15:8] reports the linear-address width, 57), 2.5.1 (loads of RIP and
//! RSP, and memory accesses, are canonical relative to the *current* paging mode: 48 bits with
//! CR4.LA57 = 0) and 2.5.2 (other loads of linear addresses -- WRMSR of FS/GS base, LSTAR,
//! SYSENTER_EIP/ESP, WRFSBASE, LGDT/LIDT... -- are checked relative to 57 bits whatever CR4.LA57
//! is); the "MOV to CR4" page (#GP when changing LA57 in IA-32e mode).

use hvbench_cpu::cpuid::{cpuid, FEATURES};
use hvbench_cpu::regs::cr4;
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE, DATA_BASE};
use hvbench_mmu::PhysAddr;
use iced_x86::code_asm::*;

/// Bit 55 set: canonical for 57 bits (bits 63:56 = bit 56 = 0), not for 48.
const HIGH57: u64 = 0x0080_0000_0000_0000;
/// Bit 56 set with bits 63:57 clear: canonical for neither width.
const NONCANON: u64 = 0x0100_0000_0000_0000;
const PML5: u64 = 0x3_0000;
/// The sandbox's PML4 (see cpu/src/sandbox.rs).
const PML4: u64 = 0x1_0000;

fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
    let mut a = CodeAssembler::new(64).unwrap();
    f(&mut a).unwrap();
    a.assemble(CODE_BASE).unwrap()
}

/// A 64-bit sandbox, switched to 5-level paging when `la57`: the PML5's entries 0 and 80H
/// both point at the sandbox's PML4, so linear HIGH57 + a aliases a for a < 4 GiB.
fn sandbox(la57: bool, code: &[u8]) -> Sandbox {
    let mut s = Sandbox::new(SandboxMode::Long64, code);
    if la57 {
        assert!(s.mem.write_le(PhysAddr(PML5), 8, PML4 | 7));
        assert!(s.mem.write_le(PhysAddr(PML5 + 8 * 0x80), 8, PML4 | 7));
        let mut st = s.cpu.state.clone();
        st.cr4 |= cr4::LA57;
        st.cr3 = PML5;
        s.cpu.set_state(st);
    }
    s
}

fn run(s: &mut Sandbox) {
    s.run(10_000);
}

#[test]
fn cpuid_enumerates_5_level_paging_and_a_57_bit_linear_width() {
    let r = cpuid(7, 0, 0, 39, &FEATURES);
    assert_ne!(r[2] & (1 << 16), 0, "CPUID.(EAX=07H,ECX=0):ECX[16] (LA57)");
    let r = cpuid(0x8000_0008, 0, 0, 39, &FEATURES);
    assert_eq!((r[0] >> 8) & 0xff, 57, "CPUID.80000008H:EAX[15:8]");
}

#[test]
fn five_level_walk_maps_the_high_alias_and_fetches_there() {
    // Store through HIGH57 + DATA_BASE (PML5 index 80H), read back through DATA_BASE (index 0);
    // then jump to the high alias of the code and store RIP-relative there.
    let mut code = asm(|a| {
        a.mov(rax, HIGH57 | DATA_BASE)?;
        a.mov(qword_ptr(rax), 0x1234)?;
        a.mov(rbx, qword_ptr(DATA_BASE))?;
        a.mov(rax, HIGH57 | (CODE_BASE + 0x100))?;
        a.jmp(rax)
    });
    assert!(code.len() <= 0x100);
    code.resize(0x100, 0xcc);
    code.extend(asm(|a| {
        a.mov(qword_ptr(DATA_BASE + 8), 0x55)?;
        a.hlt()
    }));
    let mut s = sandbox(true, &code);
    run(&mut s);
    assert_eq!(s.exception_vector(), None);
    assert_eq!(s.cpu.state.gpr[3], 0x1234);
    assert_eq!(s.read(DATA_BASE + 8, 8), 0x55);
    assert_eq!(s.cpu.state.rip >> 48, HIGH57 >> 48, "the HLT was fetched at the high alias");
}

#[test]
fn a_data_access_beyond_57_bits_is_gp_with_la57() {
    let code = asm(|a| {
        a.mov(rax, NONCANON)?;
        a.mov(qword_ptr(rax), 1)?;
        a.hlt()
    });
    let mut s = sandbox(true, &code);
    run(&mut s);
    assert_eq!(s.exception_vector(), Some(13));
}

#[test]
fn with_4_level_paging_memory_and_rip_use_48_bits() {
    // 2.5.1: a data access and a jump to a 57-bit-canonical address fault with CR4.LA57 = 0.
    let data = asm(|a| {
        a.mov(rax, HIGH57)?;
        a.mov(qword_ptr(rax), 1)?;
        a.hlt()
    });
    let mut s = sandbox(false, &data);
    run(&mut s);
    assert_eq!(s.exception_vector(), Some(13));
    let jump = asm(|a| {
        a.mov(rax, HIGH57)?;
        a.jmp(rax)?;
        a.hlt()
    });
    let mut s = sandbox(false, &jump);
    run(&mut s);
    assert_eq!(s.exception_vector(), Some(13));
    assert_eq!(s.cpu.state.rip >> 48, 0, "the JMP faulted, RIP did not move");
}

/// WRMSR `msr` with `value`, then RDMSR it into RBX and store a marker.
fn wrmsr_prog(msr: u32, value: u64) -> Vec<u8> {
    asm(|a| {
        a.mov(ecx, msr)?;
        a.mov(rax, value)?;
        a.mov(rdx, value)?;
        a.shr(rdx, 32)?;
        a.wrmsr()?;
        a.rdmsr()?;
        a.shl(rdx, 32)?;
        a.mov(eax, eax)?;
        a.or(rax, rdx)?;
        a.mov(rbx, rax)?;
        a.hlt()
    })
}

#[test]
fn other_loads_accept_57_bit_canonical_values_without_la57() {
    // 2.5.2: FS_BASE (C0000100H), KERNEL_GS_BASE (C0000102H), LSTAR (C0000082H),
    // SYSENTER_EIP (176H) take bits 63:56 identical whatever CR4.LA57 is.
    for msr in [0xc000_0100u32, 0xc000_0102, 0xc000_0082, 0x176] {
        let mut s = sandbox(false, &wrmsr_prog(msr, HIGH57));
        run(&mut s);
        assert_eq!(s.exception_vector(), None, "MSR {msr:#x}");
        assert_eq!(s.cpu.state.gpr[3], HIGH57, "MSR {msr:#x}");
        let mut s = sandbox(false, &wrmsr_prog(msr, NONCANON));
        run(&mut s);
        assert_eq!(s.exception_vector(), Some(13), "MSR {msr:#x}");
    }
}

#[test]
fn lgdt_takes_a_57_bit_canonical_base_without_la57() {
    let prog = |base: u64| {
        asm(|a| {
            a.mov(word_ptr(DATA_BASE), 0x4f)?;
            a.mov(rax, base)?;
            a.mov(qword_ptr(DATA_BASE + 2), rax)?;
            a.sgdt(ptr(DATA_BASE + 0x40))?;
            a.lidt(ptr(DATA_BASE))?;
            a.mov(ebx, 1)?;
            a.hlt()
        })
    };
    // LIDT (not LGDT, so the stubs' IDT stays usable for the failing case).
    let mut s = sandbox(false, &prog(HIGH57));
    run(&mut s);
    assert_eq!(s.cpu.state.gpr[3], 1);
    assert_eq!(s.cpu.state.idtr.base, HIGH57);
    let mut s = sandbox(false, &prog(NONCANON));
    run(&mut s);
    assert_eq!(s.exception_vector(), Some(13));
}

#[test]
fn changing_la57_in_ia32e_mode_is_gp() {
    // "MOV to CR4": #GP(0) if an attempt is made to change CR4.LA57 in IA-32e mode.
    let code = asm(|a| {
        a.mov(rax, cr4)?;
        a.or(rax, cr4::LA57 as i32)?;
        a.mov(cr4, rax)?;
        a.hlt()
    });
    let mut s = sandbox(false, &code);
    run(&mut s);
    assert_eq!(s.exception_vector(), Some(13));
    assert_eq!(s.cpu.state.cr4 & cr4::LA57, 0);
}
