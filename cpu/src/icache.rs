//! The decoded-block cache: iced-x86 decodes straight-line code once per (physical address,
//! code size); later executions reuse the decoded instructions and the handlers chosen for
//! them, translating the code address once per block instead of once per instruction.
//!
//! A block is a run of instructions within one 4-KiByte page, ending after a control
//! transfer, at the page end, or at [`MAX_BLOCK`] instructions. It stays valid while its
//! page's code generation in [`PhysMem`] is the one it was decoded under: any write to the
//! page (by any vCPU, a device or the loader) bumps the generation, so self-modifying and
//! DMA-loaded code is re-decoded. The run loop also stops a block early when a write to any
//! code page happens while it runs (see [`PhysMem::code_epoch`]). Instructions that straddle
//! a page boundary are decoded on their own and never cached.
//!
//! Instructions are decoded with IP = 0, so cached branch targets and RIP-relative
//! displacements are relative to the instruction's own start and stay right when one physical
//! page is mapped at several linear addresses.

use crate::exec::Handler;
use hvbench_mmu::{PhysAddr, PhysMem};
use iced_x86::Instruction;
use std::rc::Rc;

const ENTRIES: usize = 1 << 13;
/// The most instructions a block holds.
pub const MAX_BLOCK: usize = 64;

/// One decoded instruction with what execution needs.
#[derive(Clone, Copy)]
pub struct Decoded {
    /// The decoded instruction (decoded at IP 0).
    pub insn: Instruction,
    /// Its semantics.
    pub handler: Handler,
    /// Length in bytes.
    pub len: u8,
    /// Cycles it costs, from the cost model.
    pub cost: u8,
    /// Whether the instruction is [`simple`]: the block loop need not look at the machine's
    /// state after it.
    pub simple: bool,
    /// [`SIMPLE`], [`SIMPLE_STORE`] or [`CHECKED`]: what the block loop must look at after
    /// the instruction.
    pub class: u8,
}

/// [`Decoded::class`] of a [`simple`] instruction: nothing to look at.
pub const SIMPLE: u8 = 0;
/// [`Decoded::class`] of a [`simple_store`]: `poll_events` and the code epoch.
pub const SIMPLE_STORE: u8 = 1;
/// [`Decoded::class`] of any other instruction: everything.
pub const CHECKED: u8 = 2;

/// The [`Decoded::class`] of `i`.
pub fn class(i: &Instruction) -> u8 {
    if simple(i) {
        SIMPLE
    } else if simple_store(i) {
        SIMPLE_STORE
    } else {
        CHECKED
    }
}

/// Whether `i` can do nothing that the block loop must react to: it changes only general
/// registers and RFLAGS' status flags (no memory writes, so no code or MMIO writes; no
/// segment, control or debug registers; no TF, IF, interrupt shadow, CPL or mode change),
/// and if it branches it is a direct near branch, which always ends its block. It may still
/// fault (the loop sees that through the handler's result).
pub fn simple(i: &Instruction) -> bool {
    use iced_x86::{Mnemonic as M, OpKind};
    if i.has_lock_prefix() {
        return false;
    }
    let reads_op0 = match i.mnemonic() {
        M::Cmp | M::Test | M::Bt => true,
        M::Add | M::Adc | M::Sub | M::Sbb | M::And | M::Or | M::Xor | M::Inc | M::Dec | M::Neg | M::Not => false,
        M::Mov | M::Movzx | M::Movsx | M::Movsxd | M::Lea | M::Imul => false,
        M::Shl | M::Shr | M::Sar | M::Rol | M::Ror => false,
        M::Jo | M::Jno | M::Jb | M::Jae | M::Je | M::Jne | M::Jbe | M::Ja => true,
        M::Js | M::Jns | M::Jp | M::Jnp | M::Jl | M::Jge | M::Jle | M::Jg => true,
        M::Jmp => matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64),
        M::Cmove | M::Cmovne | M::Cmovb | M::Cmovae | M::Cmovs | M::Cmovns | M::Cmovl | M::Cmovge => false,
        M::Cmovle | M::Cmovg | M::Cmovbe | M::Cmova => false,
        M::Sete | M::Setne | M::Setb | M::Setae | M::Setl | M::Setge | M::Setle | M::Setg => false,
        M::Setbe | M::Seta | M::Sets | M::Setns => false,
        M::Nop => true,
        _ => return false,
    };
    (0..i.op_count()).all(|n| match i.op_kind(n) {
        OpKind::Register => i.op_register(n).is_gpr(),
        OpKind::Memory => n > 0 || reads_op0,
        _ => true,
    })
}

/// Whether `i` is like a [`simple`] instruction except that it may also write memory, through
/// `Exec::write_mem` only (MOV, the ALU operations and INC/DEC/NEG/NOT to memory without
/// LOCK, PUSH and POP of general registers or immediates, CALL rel). A write can do two
/// things the block loop must see: reach MMIO (the device write sets `poll_events` and a stop
/// reason) or a page holding cached code (the code epoch changes). Data breakpoints never
/// apply inside blocks (armed breakpoints send every instruction through the debug path).
pub fn simple_store(i: &Instruction) -> bool {
    use iced_x86::{Mnemonic as M, OpKind};
    if i.has_lock_prefix() || simple(i) {
        return false;
    }
    let ok = match i.mnemonic() {
        M::Mov | M::Add | M::Adc | M::Sub | M::Sbb | M::And | M::Or | M::Xor => true,
        M::Inc | M::Dec | M::Neg | M::Not => true,
        M::Push | M::Pop => true,
        M::Call => matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64),
        _ => false,
    };
    ok && (0..i.op_count()).all(|n| match i.op_kind(n) {
        OpKind::Register => i.op_register(n).is_gpr(),
        _ => true,
    })
}

/// A run of decoded instructions from one page.
pub struct Block {
    key: u64,
    generation: u32,
    /// The instructions, in address order.
    pub insns: Box<[Decoded]>,
    /// The mask RIP wraps with in the block's code size (64-bit: none; else 32 bits).
    pub rip_mask: u64,
    /// Whether the block ends with a direct near branch (JMP rel, Jcc, LOOPcc, JrCXZ): if it
    /// branches back to the block's start, nothing a fetch depends on other than the TLB
    /// can have changed unless the run loop was told (see `Exec::run_blocks`).
    pub ends_near_direct: bool,
    /// Whether some instruction is a [`simple_store`].
    pub has_store: bool,
    /// The sum of the instructions' decoded costs (cycles).
    pub cost: u64,
}

/// Whether `i` is a direct near branch: it changes RIP only, within the code segment.
pub fn near_direct_branch(i: &Instruction) -> bool {
    use iced_x86::{FlowControl, OpKind};
    matches!(i.flow_control(), FlowControl::ConditionalBranch | FlowControl::UnconditionalBranch)
        && matches!(i.op0_kind(), OpKind::NearBranch16 | OpKind::NearBranch32 | OpKind::NearBranch64)
}

/// The cache.
pub struct BlockCache {
    entries: Box<[Option<Rc<Block>>]>,
}

impl Default for BlockCache {
    fn default() -> Self {
        Self::new()
    }
}

/// The cache key of code at `pa` decoded with `bitness`.
#[inline(always)]
pub fn key(pa: PhysAddr, bitness: u32) -> u64 {
    ((pa.0 << 2) | (bitness as u64 >> 5)) + 1
}

impl BlockCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self { entries: vec![None; ENTRIES].into_boxed_slice() }
    }

    #[inline(always)]
    fn slot(key: u64) -> usize {
        ((key >> 2) ^ (key >> 15)) as usize & (ENTRIES - 1)
    }

    /// The cached block starting at `pa`, if still valid.
    #[inline(always)]
    pub fn lookup(&self, mem: &PhysMem, pa: PhysAddr, key: u64) -> Option<Rc<Block>> {
        let b = self.entries[Self::slot(key)].as_ref()?;
        if b.key == key && mem.code_generation(pa) == Some(b.generation) { Some(b.clone()) } else { None }
    }

    /// Caches a block decoded from RAM at `pa` (the page is marked as holding code).
    pub fn insert(&mut self, mem: &mut PhysMem, pa: PhysAddr, key: u64, insns: Vec<Decoded>) -> Rc<Block> {
        let generation = mem.mark_code(pa).unwrap_or(0);
        let rip_mask = match insns.first() {
            Some(d) if d.insn.code_size() != iced_x86::CodeSize::Code64 => 0xffff_ffff,
            _ => u64::MAX,
        };
        let ends_near_direct = insns.last().is_some_and(|d| near_direct_branch(&d.insn));
        let has_store = insns.iter().any(|d| d.class == SIMPLE_STORE);
        let cost = insns.iter().map(|d| u64::from(d.cost)).sum();
        let b = Rc::new(Block { key, generation, insns: insns.into_boxed_slice(), rip_mask, ends_near_direct, has_store, cost });
        if mem.is_ram(pa, 1) {
            self.entries[Self::slot(key)] = Some(b.clone());
        }
        b
    }

    /// Drops everything (snapshot restore).
    pub fn clear(&mut self) {
        self.entries.fill(None);
    }
}
