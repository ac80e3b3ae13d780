//! A ready-made machine for tests and benchmarks: RAM, one vCPU already in the chosen mode
//! (flat segments; in 64-bit mode identity paging of the first 4 GiB with 2-MiB pages), an
//! IDT whose handlers record the vector and halt, and a bus with nothing on it.
//!
//! Memory map: GDT at 0x1000, IDT at 0x2000, TSS at 0x3000, exception stubs at 0x4000, PML4
//! at 0x10000 (PDPT 0x11000, PDs 0x12000-0x15fff), stack top at 0x80000, code at
//! [`CODE_BASE`], data from [`DATA_BASE`].

use crate::cpu::{Cpu, CpuConfig, StopReason};
use crate::regs::{cr0, cr4, efer};
use crate::segment::{DescTable, SegReg, Segment};
use crate::state::{Activity, CpuState};
use hvbench_mmu::{Bus, EmptyBus, PhysAddr, PhysMem};

/// Where test code is placed.
pub const CODE_BASE: u64 = 0x10_0000;
/// Where test data may go.
pub const DATA_BASE: u64 = 0x20_0000;
/// Initial stack pointer.
pub const STACK_TOP: u64 = 0x8_0000;
/// Linear address of the exception stubs; stub `v` is at `STUBS + 16*v`.
pub const STUBS: u64 = 0x4000;
/// Where a stub stores the vector it handled (one byte), then HLTs.
pub const VECTOR_SLOT: u64 = 0x5000;

const GDT: u64 = 0x1000;
const IDT: u64 = 0x2000;
const TSS: u64 = 0x3000;
const PML4: u64 = 0x1_0000;

/// Flat GDT: null, 64-bit code (0x08), data (0x10), 32-bit code (0x18), 16-bit code (0x20),
/// ring-3 data (0x2b), ring-3 64-bit code (0x33), ring-3 32-bit code (0x3b), TSS (0x40, 16 bytes).
const GDT_ENTRIES: [u64; 8] = [
    0,
    0x00af_9a00_0000_ffff,
    0x00cf_9200_0000_ffff,
    0x00cf_9a00_0000_ffff,
    0x000f_9a00_0000_ffff,
    0x00cf_f200_0000_ffff,
    0x00af_fa00_0000_ffff,
    0x00cf_fa00_0000_ffff,
];

/// The mode a sandbox starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// Real-address mode, CS=DS=SS=0.
    Real,
    /// 32-bit protected mode, flat, paging off.
    Protected32,
    /// 64-bit mode with identity paging.
    Long64,
}

/// A vCPU with its memory and an empty bus.
pub struct Sandbox {
    /// The vCPU.
    pub cpu: Cpu,
    /// Its RAM.
    pub mem: PhysMem,
    /// The (empty) bus.
    pub bus: EmptyBus,
}

impl Sandbox {
    /// A sandbox in `mode` with `code` at [`CODE_BASE`] and 64 MiB of RAM.
    pub fn new(mode: SandboxMode, code: &[u8]) -> Self {
        let mut mem = PhysMem::new(64 << 20).expect("64 MiB is a valid RAM size");
        let mut cpu = Cpu::new(CpuConfig::default());
        let mut s = CpuState::reset(crate::cpuid::SIGNATURE);
        for (i, d) in GDT_ENTRIES.iter().enumerate() {
            mem.write_le(PhysAddr(GDT + 8 * i as u64), 8, *d);
        }
        // 64-bit TSS descriptor at 0x40 (limit 0x67, type 9).
        let tss_lo = 0x67 | ((TSS & 0xff_ffff) << 16) | (0x89u64 << 40) | ((TSS >> 24) << 56);
        mem.write_le(PhysAddr(GDT + 0x40), 8, tss_lo);
        mem.write_le(PhysAddr(GDT + 0x48), 8, TSS >> 32);
        // TSS.RSP0 and IST1 point at the stack top.
        mem.write_le(PhysAddr(TSS + 4), 8, STACK_TOP);
        mem.write_le(PhysAddr(TSS + 0x24), 8, STACK_TOP - 0x1000);
        s.gdtr = DescTable { base: GDT, limit: 0x4f };
        s.gpr[4] = STACK_TOP;
        s.tr = Segment { selector: 0x40, base: TSS, limit: 0x67, attr: 0x8b };
        // Stubs: mov byte [VECTOR_SLOT], v ; hlt ; jmp $-1
        for v in 0..32u64 {
            let stub = [0xc6, 0x04, 0x25, VECTOR_SLOT as u8, (VECTOR_SLOT >> 8) as u8, 0, 0, v as u8, 0xf4, 0xeb, 0xfd];
            let stub16 = [0xc6, 0x06, VECTOR_SLOT as u8, (VECTOR_SLOT >> 8) as u8, v as u8, 0xf4, 0xeb, 0xfd];
            let bytes: &[u8] = if mode == SandboxMode::Real { &stub16 } else { &stub };
            let bytes32 = [0xc6, 0x05, VECTOR_SLOT as u8, (VECTOR_SLOT >> 8) as u8, 0, 0, v as u8, 0xf4, 0xeb, 0xfd];
            let bytes: &[u8] = if mode == SandboxMode::Protected32 { &bytes32 } else { bytes };
            mem.write_bytes(PhysAddr(STUBS + 16 * v), bytes);
        }
        match mode {
            SandboxMode::Real => {
                for v in 0..32u64 {
                    mem.write_le(PhysAddr(4 * v), 4, (STUBS + 16 * v) & 0xffff | ((STUBS >> 4) & 0xf000) << 16);
                }
                s.idtr = DescTable { base: 0, limit: 0x3ff };
                s.seg[SegReg::Cs as usize] = Segment::real_mode(0, crate::state::RESET_CODE_ATTR);
                s.rip = CODE_BASE;
                // CODE_BASE (1 MiB) is reachable as FFFF:0010 with A20 enabled.
                s.seg[SegReg::Cs as usize] = Segment::real_mode(0xffff, crate::state::RESET_CODE_ATTR);
                s.rip = CODE_BASE - 0xffff0;
                s.gpr[4] = 0x7000;
            }
            SandboxMode::Protected32 => {
                for v in 0..32u64 {
                    let h = STUBS + 16 * v;
                    let gate = (h & 0xffff) | (0x18 << 16) | (0x8eu64 << 40) | ((h >> 16) << 48);
                    mem.write_le(PhysAddr(IDT + 8 * v), 8, gate);
                }
                s.idtr = DescTable { base: IDT, limit: 0xff };
                s.cr0 = cr0::PE | cr0::ET | cr0::NE;
                let data = crate::segment::Descriptor { raw: GDT_ENTRIES[2] }.to_segment(0x10);
                for seg in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
                    s.seg[seg as usize] = data;
                }
                s.seg[SegReg::Cs as usize] = crate::segment::Descriptor { raw: GDT_ENTRIES[3] }.to_segment(0x18);
                s.rip = CODE_BASE;
            }
            SandboxMode::Long64 => {
                // PML4[0] -> PDPT; PDPT[0..4] -> four PDs of 2-MiB pages covering 4 GiB.
                mem.write_le(PhysAddr(PML4), 8, (PML4 + 0x1000) | 0x7);
                for i in 0..4u64 {
                    let pd = PML4 + 0x2000 + i * 0x1000;
                    mem.write_le(PhysAddr(PML4 + 0x1000 + 8 * i), 8, pd | 0x7);
                    for j in 0..512u64 {
                        let pa = (i << 30) | (j << 21);
                        mem.write_le(PhysAddr(pd + 8 * j), 8, pa | 0x87);
                    }
                }
                for v in 0..32u64 {
                    let h = STUBS + 16 * v;
                    let gate = (h & 0xffff) | (0x08 << 16) | (0x8eu64 << 40) | ((h >> 16) << 48);
                    mem.write_le(PhysAddr(IDT + 16 * v), 8, gate);
                    mem.write_le(PhysAddr(IDT + 16 * v + 8), 8, h >> 32);
                }
                s.idtr = DescTable { base: IDT, limit: 0x1ff };
                s.cr0 = cr0::PE | cr0::ET | cr0::NE | cr0::PG | cr0::WP;
                s.cr4 = cr4::PAE | cr4::OSFXSR | cr4::OSXMMEXCPT;
                s.cr3 = PML4;
                s.efer = efer::LME | efer::LMA | efer::NXE | efer::SCE;
                let data = crate::segment::Descriptor { raw: GDT_ENTRIES[2] }.to_segment(0x10);
                for seg in [SegReg::Ds, SegReg::Es, SegReg::Ss, SegReg::Fs, SegReg::Gs] {
                    s.seg[seg as usize] = data;
                }
                s.seg[SegReg::Cs as usize] = crate::segment::Descriptor { raw: GDT_ENTRIES[1] }.to_segment(0x08);
                s.rip = CODE_BASE;
            }
        }
        mem.write_bytes(PhysAddr(CODE_BASE), code);
        cpu.set_state(s);
        Self { cpu, mem, bus: EmptyBus }
    }

    /// Runs until the vCPU halts or `max` steps (instructions and deliveries) are done.
    pub fn run(&mut self, max: u64) -> StopReason {
        self.run_with(&mut EmptyBus, max)
    }

    /// Like [`Self::run`] with a bus of the caller's.
    pub fn run_with(&mut self, bus: &mut dyn Bus, max: u64) -> StopReason {
        loop {
            let before = self.cpu.steps;
            let r = self.cpu.run(&mut self.mem, bus, max.saturating_sub(before));
            match r {
                StopReason::DeviceWrite if self.cpu.steps < max => continue,
                other => return other,
            }
        }
    }

    /// The vector the stub recorded, if an exception reached the IDT stubs.
    pub fn exception_vector(&self) -> Option<u8> {
        let at_stub = (STUBS..STUBS + 16 * 32).contains(&self.linear_rip());
        (self.cpu.state.activity == Activity::Halted && at_stub)
            .then(|| self.mem.read_le(PhysAddr(VECTOR_SLOT), 1).unwrap_or(0xff) as u8)
    }

    /// CS.base + RIP.
    pub fn linear_rip(&self) -> u64 {
        self.cpu.state.seg(SegReg::Cs).base.wrapping_add(self.cpu.state.rip)
    }

    /// Reads `size` bytes of RAM.
    pub fn read(&self, addr: u64, size: u8) -> u64 {
        self.mem.read_le(PhysAddr(addr), size).unwrap_or(0)
    }
}
