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
    /// FXSAVE/FXRSTOR.
    pub const FXSR: u32 = 1 << 24;
    /// SSE.
    pub const SSE: u32 = 1 << 25;
    /// SSE2.
    pub const SSE2: u32 = 1 << 26;
}

/// CPUID.1:ECX bits that are set.
pub mod ecx1 {
    /// x2APIC (the local APIC's MSR interface; the machine's APIC implements it).
    pub const X2APIC: u32 = 1 << 21;
    /// The local APIC timer's TSC-deadline mode (IA32_TSC_DEADLINE).
    pub const TSC_DEADLINE: u32 = 1 << 24;
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
    ecx1: ecx1::X2APIC | ecx1::TSC_DEADLINE,
    edx1: edx1::DE | edx1::PSE | edx1::TSC | edx1::MSR | edx1::PAE | edx1::APIC | edx1::PGE | edx1::CMOV | edx1::PAT | edx1::PSE36 | edx1::MTRR,
    ebx7: 0,
    ecx7: 0,
    ecx_ext: 0,
    edx_ext: edx_ext::NX | edx_ext::LM | edx_ext::PAGE1GB,
};

/// The highest basic leaf.
pub const MAX_BASIC: u32 = 0xd;
/// The highest extended leaf.
pub const MAX_EXTENDED: u32 = 0x8000_0008;

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
        7 if subleaf == 0 => [0, f.ebx7, f.ecx7, 0],
        0xd if subleaf == 0 => {
            // x87 and (once implemented) SSE state in the legacy 512-byte area + 64-byte header.
            [0x1, 576, 576, 0]
        }
        0x8000_0000 => [MAX_EXTENDED, 0, 0, 0],
        0x8000_0001 => [0, 0, f.ecx_ext, f.edx_ext],
        0x8000_0002..=0x8000_0004 => {
            let b = ((leaf - 0x8000_0002) * 4) as usize;
            [brand_word(b), brand_word(b + 1), brand_word(b + 2), brand_word(b + 3)]
        }
        0x8000_0008 => [(maxphyaddr as u32) | (48 << 8), 0, 0, 0],
        // Leaves above the maximum return the highest basic leaf's data (SDM "CPUID" note);
        // leaves within range that the model does not describe return zeros.
        l if (l > MAX_BASIC && l < 0x8000_0000) || l > MAX_EXTENDED => cpuid(MAX_BASIC, subleaf, apic_id, maxphyaddr, f),
        _ => [0; 4],
    }
}

impl Exec<'_> {
    /// CPUID for this vCPU.
    pub fn cpuid(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        cpuid(leaf, subleaf, self.cpu.config.index as u32, self.cpu.config.maxphyaddr, &FEATURES)
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

    #[test]
    fn avx_is_not_advertised() {
        let r = cpuid(1, 0, 0, 39, &FEATURES);
        assert_eq!(r[2] & (1 << 28), 0, "AVX must stay clear until implemented");
        assert_eq!(cpuid(7, 0, 0, 39, &FEATURES)[1] & (1 << 5), 0, "AVX2 must stay clear");
    }
}
