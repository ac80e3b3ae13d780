//! The benchmark workloads' instruction sequences, in one place: the criterion suite
//! (`benches/`, run in a `hvbench_cpu::sandbox::Sandbox`) and the boot kernels of
//! `hvbench bench` (run under hvbench and Bochs) both emit them from here, so every figure
//! measures the same guest code.
//!
//! Each sequence is 64-bit code that needs nothing but identity-mapped, writable memory at
//! `data_base` ([`Kind::data_bytes`] of it) and retires exactly [`Kind::instructions`]
//! instructions; it ends by falling through (the caller appends HLT or its own epilogue).
//! Only MOV, ADD, DEC and JNZ are used.

use iced_x86::IcedError;
use iced_x86::code_asm::*;

/// Bytes the array loop walks over: 1 MiB.
pub const ARRAY_BYTES: u32 = 1 << 20;
/// Words of the array loop (u64).
const ARRAY_WORDS: u32 = ARRAY_BYTES / 8;
/// 4-KiB pages the page-stride loop touches: 12,288 (48 MiB).
pub const STRIDE_PAGES: u32 = 48 << 8;
/// Bytes between two loads of the page-stride loop.
const PAGE: u32 = 4096;

/// One of the three benchmark loops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// (a) `add rax, rdx; add rdx, 3; dec rcx; jnz` — registers only; the count is iterations.
    RegisterLoop,
    /// (b) load, add, store over a 1-MiB array of u64 ([`ARRAY_BYTES`]); the count is passes.
    ArrayLoop,
    /// (c) one load from a new 4-KiB page every four instructions over 48 MiB
    /// ([`STRIDE_PAGES`] pages, far more than a TLB holds); the count is passes.
    PageStride,
}

impl Kind {
    /// All workloads, in report order.
    pub const ALL: [Kind; 3] = [Kind::RegisterLoop, Kind::ArrayLoop, Kind::PageStride];

    /// Short name used in tables, JSON and criterion ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::RegisterLoop => "a_register_loop",
            Kind::ArrayLoop => "b_array_loop_1MiB",
            Kind::PageStride => "c_page_stride_tlb_miss",
        }
    }

    /// Bytes of memory from `data_base` the workload reads or writes.
    pub fn data_bytes(self) -> u64 {
        match self {
            Kind::RegisterLoop => 0,
            Kind::ArrayLoop => ARRAY_BYTES as u64,
            Kind::PageStride => STRIDE_PAGES as u64 * PAGE as u64,
        }
    }

    /// Instructions the sequence emitted by [`Kind::emit`] with `count` retires.
    pub fn instructions(self, count: u32) -> u64 {
        if count == 0 {
            return 0;
        }
        let n = count as u64;
        match self {
            // mov ecx; n * (add, add, dec, jnz)
            Kind::RegisterLoop => 1 + 4 * n,
            // mov r8d; per pass: mov rsi, mov ecx, words * 6, dec r8d, jnz
            Kind::ArrayLoop => 1 + n * (2 + 6 * ARRAY_WORDS as u64 + 2),
            // mov r8d; per pass: mov rsi, mov ecx, pages * 4, dec r8d, jnz
            Kind::PageStride => 1 + n * (2 + 4 * STRIDE_PAGES as u64 + 2),
        }
    }

    /// Appends the workload to `a` (a 64-bit assembler). A `count` of 0 emits nothing (the
    /// loops count down and test after the body, so they cannot run zero times themselves).
    pub fn emit(self, a: &mut CodeAssembler, count: u32, data_base: u64) -> Result<(), IcedError> {
        if count == 0 {
            return Ok(());
        }
        match self {
            Kind::RegisterLoop => {
                let mut top = a.create_label();
                a.mov(ecx, count)?;
                a.set_label(&mut top)?;
                a.add(rax, rdx)?;
                a.add(rdx, 3)?;
                a.dec(rcx)?;
                a.jnz(top)
            }
            Kind::ArrayLoop => {
                let mut pass = a.create_label();
                let mut top = a.create_label();
                a.mov(r8d, count)?;
                a.set_label(&mut pass)?;
                a.mov(rsi, data_base)?;
                a.mov(ecx, ARRAY_WORDS)?;
                a.set_label(&mut top)?;
                a.mov(rax, qword_ptr(rsi))?;
                a.add(rax, rcx)?;
                a.mov(qword_ptr(rsi), rax)?;
                a.add(rsi, 8)?;
                a.dec(ecx)?;
                a.jnz(top)?;
                a.dec(r8d)?;
                a.jnz(pass)
            }
            Kind::PageStride => {
                let mut pass = a.create_label();
                let mut top = a.create_label();
                a.mov(r8d, count)?;
                a.set_label(&mut pass)?;
                a.mov(rsi, data_base)?;
                a.mov(ecx, STRIDE_PAGES)?;
                a.set_label(&mut top)?;
                a.add(rax, qword_ptr(rsi))?;
                a.add(rsi, PAGE as i32)?;
                a.dec(ecx)?;
                a.jnz(top)?;
                a.dec(r8d)?;
                a.jnz(pass)
            }
        }
    }
}
