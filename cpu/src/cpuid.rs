//! CPUID: one consistent Intel CPU model that describes exactly what hvbench implements
//! (SDM Vol. 2A "CPUID", Tables 3-8 ff; feature bits in Tables 3-10 and 3-11).
//!
//! A feature bit is set here only once its instructions and state work. Until they exist,
//! AVX, AVX2, AVX-512, XSAVE components beyond x87/SSE, PKU, TSX, SGX and the rest stay clear.

use crate::cpu::Exec;

/// The processor signature (CPUID.1:EAX): family 6, model 0x55, stepping 4 (a Xeon of the
/// Skylake-SP family). EDX holds it after RESET.
pub const SIGNATURE: u32 = 0x0005_0654;

/// The brand string (CPUID.80000002H-80000004H), 48 bytes with NUL padding.
pub const BRAND: &[u8; 48] = b"hvbench virtual x86-64 CPU @ 1.00GHz\0\0\0\0\0\0\0\0\0\0\0\0";

/// CPUID.1:EDX bits that are set.
pub mod edx1 {
    /// x87 FPU on chip.
    pub const FPU: u32 = 1 << 0;
    /// Virtual-8086 mode enhancements: CR4.VME, CR4.PVI, VIF/VIP, the software interrupt
    /// redirection bitmap (crate::v8086).
    pub const VME: u32 = 1 << 1;
    /// Debugging extensions (CR4.DE).
    pub const DE: u32 = 1 << 2;
    /// Page size extension (4-MByte pages).
    pub const PSE: u32 = 1 << 3;
    /// RDTSC and CR4.TSD.
    pub const TSC: u32 = 1 << 4;
    /// RDMSR/WRMSR.
    pub const MSR: u32 = 1 << 5;
    /// Physical address extension.
    pub const PAE: u32 = 1 << 6;
    /// CMPXCHG8B.
    pub const CX8: u32 = 1 << 8;
    /// On-chip APIC.
    pub const APIC: u32 = 1 << 9;
    /// SYSENTER/SYSEXIT.
    pub const SEP: u32 = 1 << 11;
    /// MTRRs.
    pub const MTRR: u32 = 1 << 12;
    /// Global pages (CR4.PGE).
    pub const PGE: u32 = 1 << 13;
    /// CMOVcc.
    pub const CMOV: u32 = 1 << 15;
    /// Page attribute table.
    pub const PAT: u32 = 1 << 16;
    /// 36-bit page size extension.
    pub const PSE36: u32 = 1 << 17;
    /// CLFLUSH.
    pub const CLFSH: u32 = 1 << 19;
    /// MMX technology (MM0-7 aliasing the x87 registers; exec/sse_int.rs and friends).
    pub const MMX: u32 = 1 << 23;
    /// FXSAVE/FXRSTOR.
    pub const FXSR: u32 = 1 << 24;
    /// SSE.
    pub const SSE: u32 = 1 << 25;
    /// SSE2.
    pub const SSE2: u32 = 1 << 26;
}

/// CPUID.1:ECX bits that are set.
pub mod ecx1 {
    /// Virtual-machine extensions (set by the vmx extension when its profile has VMX).
    pub const VMX: u32 = 1 << 5;
    /// MONITOR/MWAIT.
    pub const MONITOR: u32 = 1 << 3;
    /// Process-context identifiers (CR4.PCIDE).
    pub const PCID: u32 = 1 << 17;
    /// RDRAND.
    pub const RDRAND: u32 = 1 << 30;
    /// CMPXCHG16B.
    pub const CX16: u32 = 1 << 13;
    /// MOVBE.
    pub const MOVBE: u32 = 1 << 22;
    /// POPCNT.
    pub const POPCNT: u32 = 1 << 23;
    /// SSE3.
    pub const SSE3: u32 = 1 << 0;
    /// SSSE3.
    pub const SSSE3: u32 = 1 << 9;
    /// SSE4.1.
    pub const SSE41: u32 = 1 << 19;
    /// SSE4.2 (PCMPxSTRx, CRC32, PCMPGTQ; exec/sse42.rs).
    pub const SSE42: u32 = 1 << 20;
    /// XSAVE/XRSTOR/XSETBV/XGETBV and XCR0.
    pub const XSAVE: u32 = 1 << 26;
    /// CR4.OSXSAVE is set (computed per vCPU).
    pub const OSXSAVE: u32 = 1 << 27;
    /// x2APIC (the local APIC's MSR interface; the machine's APIC implements it).
    pub const X2APIC: u32 = 1 << 21;
    /// The local APIC timer's TSC-deadline mode (IA32_TSC_DEADLINE).
    pub const TSC_DEADLINE: u32 = 1 << 24;
}

/// CPUID.(EAX=7,ECX=0):EBX bits that are set.
pub mod ebx7 {
    /// RDFSBASE/RDGSBASE/WRFSBASE/WRGSBASE (CR4.FSGSBASE).
    pub const FSGSBASE: u32 = 1 << 0;
    /// Supervisor-mode execution prevention.
    pub const SMEP: u32 = 1 << 7;
    /// INVPCID.
    pub const INVPCID: u32 = 1 << 10;
    /// RDSEED.
    pub const RDSEED: u32 = 1 << 18;
    /// Supervisor-mode access prevention (STAC/CLAC).
    pub const SMAP: u32 = 1 << 20;
    /// BMI1: ANDN, BEXTR, BLSI, BLSMSK, BLSR, TZCNT.
    pub const BMI1: u32 = 1 << 3;
    /// BMI2: BZHI, MULX, PDEP, PEXT, RORX, SARX, SHLX, SHRX.
    pub const BMI2: u32 = 1 << 8;
    /// ADX: ADCX, ADOX.
    pub const ADX: u32 = 1 << 19;
}

/// CPUID.(EAX=7,ECX=0):ECX bits that are set.
pub mod ecx7 {
    /// 5-level paging (CR4.LA57).
    pub const LA57: u32 = 1 << 16;
    /// RDPID.
    pub const RDPID: u32 = 1 << 22;
}

/// CPUID.80000001H:ECX bits.
pub mod ecx_ext {
    /// LZCNT (AMD's ABM bit position).
    pub const LZCNT: u32 = 1 << 5;
}

/// CPUID.80000001H:EDX bits.
pub mod edx_ext {
    /// SYSCALL/SYSRET.
    pub const SYSCALL: u32 = 1 << 11;
    /// Execute disable.
    pub const NX: u32 = 1 << 20;
    /// 1-GByte pages.
    pub const PAGE1GB: u32 = 1 << 26;
    /// RDTSCP and IA32_TSC_AUX.
    pub const RDTSCP: u32 = 1 << 27;
    /// Intel 64 architecture.
    pub const LM: u32 = 1 << 29;
}

/// The feature words this model reports; the families that implement a feature set its bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// CPUID.1:ECX.
    pub ecx1: u32,
    /// CPUID.1:EDX.
    pub edx1: u32,
    /// CPUID.(EAX=7,ECX=0):EBX.
    pub ebx7: u32,
    /// CPUID.(EAX=7,ECX=0):ECX.
    pub ecx7: u32,
    /// CPUID.80000001H:ECX.
    pub ecx_ext: u32,
    /// CPUID.80000001H:EDX.
    pub edx_ext: u32,
}

/// What the core implements today.
pub const FEATURES: Features = Features {
    ecx1: ecx1::SSE3 | ecx1::SSSE3 | ecx1::SSE41 | ecx1::SSE42 | ecx1::XSAVE | ecx1::MONITOR | ecx1::PCID | ecx1::RDRAND | ecx1::CX16 | ecx1::MOVBE | ecx1::POPCNT | ecx1::X2APIC | ecx1::TSC_DEADLINE,
    edx1: edx1::FPU | edx1::VME | edx1::MMX | edx1::FXSR | edx1::SSE | edx1::SSE2 | edx1::CLFSH | edx1::CX8 | edx1::DE | edx1::PSE | edx1::TSC | edx1::MSR | edx1::PAE | edx1::APIC | edx1::SEP | edx1::PGE | edx1::CMOV | edx1::PAT | edx1::PSE36 | edx1::MTRR,
    ebx7: ebx7::FSGSBASE | ebx7::SMEP | ebx7::INVPCID | ebx7::RDSEED | ebx7::SMAP | ebx7::BMI1 | ebx7::BMI2 | ebx7::ADX,
    ecx7: ecx7::RDPID | ecx7::LA57,
    ecx_ext: ecx_ext::LZCNT,
    edx_ext: edx_ext::NX | edx_ext::LM | edx_ext::PAGE1GB | edx_ext::SYSCALL,
};

/// The highest basic leaf.
pub const MAX_BASIC: u32 = 0xd;
/// The highest extended leaf.
pub const MAX_EXTENDED: u32 = 0x8000_0008;

/// The maximum linear-address width CPUID.80000008H:EAX[15:8] reports: 57, since the model
/// supports 5-level paging.
pub const LINEAR_WIDTH: u32 = 57;

/// CPUID's answer for leaf `eax`, subleaf `ecx`, on vCPU `apic_id` of `cpus`.
pub fn cpuid(leaf: u32, subleaf: u32, apic_id: u32, maxphyaddr: u8, f: &Features) -> [u32; 4] {
    let brand_word = |i: usize| u32::from_le_bytes(BRAND[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]));
    match leaf {
        0 => [MAX_BASIC, u32::from_le_bytes(*b"Genu"), u32::from_le_bytes(*b"ntel"), u32::from_le_bytes(*b"ineI")],
        1 => {
            // EBX: CLFLUSH line size 8 (x8 = 64 bytes), initial APIC ID in bits 31:24.
            let ebx = (8 << 8) | (apic_id << 24) | (1 << 16);
            [SIGNATURE, ebx, f.ecx1, f.edx1]
        }
        // MONITOR/MWAIT (exec/misc.rs): 64-byte monitor line; ECX: extensions enumerated,
        // interrupts as break events (MWAIT returns at once, so both hold trivially).
        5 if f.ecx1 & ecx1::MONITOR != 0 => [64, 64, 3, 0],
        7 if subleaf == 0 => [0, f.ebx7, f.ecx7, 0],
        // Architectural performance monitoring (SDM Vol. 3B 21.2): version 0, no counters, so
        // RDPMC faults for every ECX (exec/pmc.rs).
        0xa => [0; 4],
        // XSAVE: x87 and SSE in the legacy 512-byte area + 64-byte header (SDM 13.2);
        // sub-leaf 1 EAX bit 0: XSAVEOPT.
        0xd if subleaf == 0 => [0x3, 576, 576, 0],
        0xd if subleaf == 1 => [0x1, 0, 0, 0],
        0xd => [0; 4],
        0x8000_0000 => [MAX_EXTENDED, 0, 0, 0],
        0x8000_0001 => [0, 0, f.ecx_ext, f.edx_ext],
        0x8000_0002..=0x8000_0004 => {
            let b = ((leaf - 0x8000_0002) * 4) as usize;
            [brand_word(b), brand_word(b + 1), brand_word(b + 2), brand_word(b + 3)]
        }
        0x8000_0008 => [(maxphyaddr as u32) | (LINEAR_WIDTH << 8), 0, 0, 0],
        // Leaves above the maximum return the highest basic leaf's data (SDM "CPUID" note);
        // leaves within range that the model does not describe return zeros.
        l if (l > MAX_BASIC && l < 0x8000_0000) || l > MAX_EXTENDED => cpuid(MAX_BASIC, subleaf, apic_id, maxphyaddr, f),
        _ => [0; 4],
    }
}

impl Exec<'_> {
    /// CPUID for this vCPU.
    pub fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let mut f = FEATURES;
        if self.cpu.state.cr4 & crate::regs::cr4::OSXSAVE != 0 {
            f.ecx1 |= ecx1::OSXSAVE;
        }
        let mut r = cpuid(leaf, subleaf, self.cpu.config.index as u32, self.cpu.config.maxphyaddr, &f);
        // An extension adds what it implements (VMX: CPUID.1:ECX bit 5).
        if let Some(e) = self.cpu.ext.as_deref() {
            e.cpuid(leaf, subleaf, &mut r);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_and_brand() {
        let r = cpuid(0, 0, 0, 39, &FEATURES);
        let mut v = Vec::new();
        for w in [r[1], r[3], r[2]] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        assert_eq!(&v, b"GenuineIntel");
        assert_eq!(cpuid(0x8000_0008, 0, 0, 39, &FEATURES)[0] & 0xff, 39);
    }

    #[test]
    fn out_of_range_leaves_return_the_highest_basic_leaf() {
        assert_eq!(cpuid(0x4000_0000, 0, 0, 39, &FEATURES), cpuid(MAX_BASIC, 0, 0, 39, &FEATURES));
    }

    /// Each SIMD level presupposes the ones before it (SDM Vol. 1 12.1 "Programming with
    /// SSE3, SSSE3, SSE4 ...": software checks the chain MMX, FXSR, SSE, SSE2, SSE3, SSSE3,
    /// SSE4.1, SSE4.2), and the MMX registers need the x87 FPU they alias.
    #[test]
    fn simd_features_form_a_chain() {
        let r = cpuid(1, 0, 0, 39, &FEATURES);
        let (ecx, edx) = (r[2], r[3]);
        let chain = [
            edx & edx1::FPU,
            edx & edx1::MMX,
            edx & edx1::FXSR,
            edx & edx1::SSE,
            edx & edx1::SSE2,
            ecx & ecx1::SSE3,
            ecx & ecx1::SSSE3,
            ecx & ecx1::SSE41,
            ecx & ecx1::SSE42,
        ];
        assert!(chain.iter().all(|&b| b != 0), "SSE4.2 and everything it builds on: {ecx:#x} {edx:#x}");
        assert_ne!(ecx & ecx1::POPCNT, 0, "POPCNT comes with SSE4.2 on Intel CPUs");
    }

    #[test]
    fn avx_is_not_advertised() {
        let r = cpuid(1, 0, 0, 39, &FEATURES);
        assert_eq!(r[2] & (1 << 28), 0, "AVX must stay clear until implemented");
        assert_eq!(cpuid(7, 0, 0, 39, &FEATURES)[1] & (1 << 5), 0, "AVX2 must stay clear");
    }
}
