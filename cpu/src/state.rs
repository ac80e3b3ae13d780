//! The architectural state of one logical processor (SDM Vol. 1 chapter 3, Vol. 3A chapter 2).

use crate::regs::{cr0, efer};
use crate::segment::{attr, DescTable, SegReg, Segment};

/// The activity state (SDM Vol. 3C 25.4.2 lists the same four for VMX).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activity {
    /// Executing instructions.
    #[default]
    Active,
    /// After HLT: waits for an interrupt, NMI, INIT or SMI.
    Halted,
    /// After a triple fault: only INIT, NMI or reset wake it.
    Shutdown,
    /// An AP after INIT: waits for a startup IPI.
    WaitForSipi,
}

/// The operating mode, derived from CR0.PE, EFER.LMA, RFLAGS.VM and CS.L/D.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Real-address mode (CR0.PE=0).
    Real,
    /// Virtual-8086 mode (RFLAGS.VM=1 in protected mode).
    Virtual8086,
    /// Protected mode, 16-bit code segment.
    Protected16,
    /// Protected mode, 32-bit code segment.
    Protected32,
    /// IA-32e compatibility mode, 16-bit code segment.
    Compat16,
    /// IA-32e compatibility mode, 32-bit code segment.
    Compat32,
    /// IA-32e 64-bit mode.
    Long64,
}

impl Mode {
    /// Code size in bits (16, 32 or 64): the decoder's bitness.
    pub const fn bitness(self) -> u32 {
        match self {
            Mode::Real | Mode::Virtual8086 | Mode::Protected16 | Mode::Compat16 => 16,
            Mode::Protected32 | Mode::Compat32 => 32,
            Mode::Long64 => 64,
        }
    }
    /// A short name for traces and dumps.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::Real => "real",
            Mode::Virtual8086 => "v8086",
            Mode::Protected16 => "protected-16",
            Mode::Protected32 => "protected-32",
            Mode::Compat16 => "compat-16",
            Mode::Compat32 => "compat-32",
            Mode::Long64 => "long-64",
        }
    }
}

/// x87 FPU state in the FXSAVE layout's terms (SDM Vol. 1 10.5.1, Table 10-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FpuState {
    /// Control word.
    pub fcw: u16,
    /// Status word (TOP in bits 13:11).
    pub fsw: u16,
    /// Abridged tag word (one bit a register, 1 = valid).
    pub ftw: u8,
    /// Last opcode.
    pub fop: u16,
    /// Last instruction pointer.
    pub fip: u64,
    /// Last data pointer.
    pub fdp: u64,
    /// ST0-ST7 / MM0-MM7 as 80-bit values in the low 10 bytes (physical register order).
    pub st: [u128; 8],
}

impl Default for FpuState {
    /// The state after FNINIT (SDM Vol. 1 8.1.1, Table 8-... FNINIT): FCW=0x037F, all empty.
    fn default() -> Self {
        Self { fcw: 0x037f, fsw: 0, ftw: 0, fop: 0, fip: 0, fdp: 0, st: [0; 8] }
    }
}

/// Model-specific registers kept as storage (SDM Vol. 4 chapter 2 names each).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MsrState {
    /// IA32_KERNEL_GS_BASE (SWAPGS).
    pub kernel_gs_base: u64,
    /// IA32_STAR.
    pub star: u64,
    /// IA32_LSTAR.
    pub lstar: u64,
    /// IA32_CSTAR.
    pub cstar: u64,
    /// IA32_FMASK.
    pub sfmask: u64,
    /// IA32_SYSENTER_CS.
    pub sysenter_cs: u64,
    /// IA32_SYSENTER_ESP.
    pub sysenter_esp: u64,
    /// IA32_SYSENTER_EIP.
    pub sysenter_eip: u64,
    /// IA32_PAT.
    pub pat: u64,
    /// IA32_APIC_BASE.
    pub apic_base: u64,
    /// IA32_TSC_AUX.
    pub tsc_aux: u64,
    /// IA32_TSC_ADJUST.
    pub tsc_adjust: u64,
    /// IA32_MISC_ENABLE.
    pub misc_enable: u64,
    /// IA32_FEATURE_CONTROL.
    pub feature_control: u64,
    /// IA32_MTRR_DEF_TYPE.
    pub mtrr_def_type: u64,
    /// The 11 fixed-range MTRRs (0x250, 0x258, 0x259, 0x268-0x26F).
    pub mtrr_fixed: [u64; 11],
    /// Variable-range MTRRs as (base, mask) pairs (0x200-0x21F).
    pub mtrr_var: [u64; 16],
    /// IA32_DEBUGCTL.
    pub debugctl: u64,
    /// IA32_SPEC_CTRL.
    pub spec_ctrl: u64,
    /// IA32_TSC_DEADLINE (the local APIC acts on it through the machine).
    pub tsc_deadline: u64,
    /// IA32_BIOS_SIGN_ID (microcode revision).
    pub bios_sign_id: u64,
}

/// Everything architecturally visible about one logical processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuState {
    /// RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15 (encoding order).
    pub gpr: [u64; 16],
    /// Instruction pointer.
    pub rip: u64,
    /// RFLAGS.
    pub rflags: u64,
    /// ES, CS, SS, DS, FS, GS ([`SegReg`] order).
    pub seg: [Segment; 6],
    /// LDTR.
    pub ldtr: Segment,
    /// TR.
    pub tr: Segment,
    /// GDTR.
    pub gdtr: DescTable,
    /// IDTR.
    pub idtr: DescTable,
    /// CR0.
    pub cr0: u64,
    /// CR2 (page-fault linear address).
    pub cr2: u64,
    /// CR3.
    pub cr3: u64,
    /// CR4.
    pub cr4: u64,
    /// CR8 (task-priority register, bits 3:0).
    pub cr8: u64,
    /// XCR0.
    pub xcr0: u64,
    /// DR0-DR7 (DR4/DR5 alias DR6/DR7 when CR4.DE=0).
    pub dr: [u64; 8],
    /// IA32_EFER.
    pub efer: u64,
    /// Other MSRs.
    pub msr: MsrState,
    /// XMM0-XMM15.
    pub xmm: [u128; 16],
    /// MXCSR.
    pub mxcsr: u32,
    /// x87 state.
    pub fpu: FpuState,
    /// Current privilege level.
    pub cpl: u8,
    /// Activity state.
    pub activity: Activity,
    /// Blocking by STI or MOV SS / POP SS for the next instruction boundary
    /// (SDM Vol. 3A 6.8.3, Vol. 3C Table 25-3). Bit 0: STI, bit 1: MOV SS.
    pub shadow: u8,
    /// NMIs blocked (an NMI handler is running until the next IRET).
    pub nmi_blocked: bool,
    /// The time-stamp counter at cycle 0 of this vCPU's clock (TSC = cycles + offset).
    pub tsc_offset: u64,
}

/// Initial attribute of a real-mode data segment after RESET: present, RW, accessed.
pub const RESET_DATA_ATTR: u32 = attr::P | attr::S | attr::RW | attr::ACCESSED;
/// Initial attribute of CS after RESET: present, code, readable, accessed.
pub const RESET_CODE_ATTR: u32 = attr::P | attr::S | attr::CODE | attr::RW | attr::ACCESSED;

impl CpuState {
    /// The state after RESET or INIT (SDM Vol. 3A 10.1.1, Table 10-1): real mode, CS:IP =
    /// F000:FFF0 with CS.base FFFF0000, EDX = the processor signature.
    pub fn reset(signature: u32) -> Self {
        let mut seg = [Segment::real_mode(0, RESET_DATA_ATTR); 6];
        seg[SegReg::Cs as usize] = Segment { selector: 0xf000, base: 0xffff_0000, limit: 0xffff, attr: RESET_CODE_ATTR };
        let mut gpr = [0u64; 16];
        gpr[2] = signature as u64;
        Self {
            gpr,
            rip: 0xfff0,
            rflags: 2,
            seg,
            ldtr: Segment { selector: 0, base: 0, limit: 0xffff, attr: attr::P | crate::segment::systype::LDT },
            tr: Segment { selector: 0, base: 0, limit: 0xffff, attr: attr::P | crate::segment::systype::TSS_BUSY },
            gdtr: DescTable { base: 0, limit: 0xffff },
            idtr: DescTable { base: 0, limit: 0xffff },
            cr0: cr0::ET | cr0::CD | cr0::NW,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            cr8: 0,
            xcr0: 1,
            dr: [0, 0, 0, 0, 0, 0, 0xffff_0ff0, 0x400],
            efer: 0,
            msr: MsrState { pat: 0x0007_0406_0007_0406, apic_base: 0xfee0_0900, ..MsrState::default() },
            xmm: [0; 16],
            mxcsr: 0x1f80,
            fpu: FpuState { fcw: 0x40, ..FpuState::default() },
            cpl: 0,
            activity: Activity::Active,
            shadow: 0,
            nmi_blocked: false,
            tsc_offset: 0,
        }
    }

    /// The current operating mode.
    #[inline(always)]
    pub fn mode(&self) -> Mode {
        if self.cr0 & cr0::PE == 0 {
            return Mode::Real;
        }
        let cs = &self.seg[SegReg::Cs as usize];
        if self.efer & efer::LMA != 0 {
            if cs.long() {
                Mode::Long64
            } else if cs.db() {
                Mode::Compat32
            } else {
                Mode::Compat16
            }
        } else if self.rflags & crate::flags::VM != 0 {
            Mode::Virtual8086
        } else if cs.db() {
            Mode::Protected32
        } else {
            Mode::Protected16
        }
    }

    /// A segment register.
    #[inline(always)]
    pub fn seg(&self, s: SegReg) -> &Segment {
        &self.seg[s as usize]
    }
}
