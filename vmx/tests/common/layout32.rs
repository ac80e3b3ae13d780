//! The 32-bit host's memory and VMCS, shared by `vmx/tests/host32.rs` (sandbox) and
//! `harness/tests/vmx_host32_oracle.rs` (a kernel booted under hvbench and Bochs), which place
//! everything at these addresses: 32-bit paging with 4-MByte pages, PAE paging with 2-MByte
//! pages (identity-mapping the first 64 MBytes), and PDPTs to load on VM exit (SDM Vol. 3C
//! 28.5.4).

#![allow(dead_code)]

use super::layout::*;
use hvbench_vmx::caps::Profile;
use hvbench_vmx::fields::enc;
use iced_x86::code_asm::*;

/// 32-bit paging: page directory of 4-MByte pages (16 entries: 64 MBytes).
pub const PD32: u64 = 0x60_0000;
/// PAE paging: the host's first PDPT (PDPTE0 only).
pub const PDPT_A: u64 = 0x60_1000;
/// The page directory of 2-MByte pages (32 entries) every PDPTE0 here points to.
pub const PD_PAE: u64 = 0x60_2000;
/// A PDPT whose PDPTE1 is present with bit 1 set (reserved in a PAE PDPTE, SDM 4.4.1).
pub const PDPT_BAD: u64 = 0x60_3000;
/// A second valid PDPT: PDPTE0 -> PD_PAE, PDPTE3 -> PD_HIGH.
pub const PDPT_B: u64 = 0x60_4000;
/// A page directory whose entry 0 maps linear C000_0000H (through PDPT_B's PDPTE3) to the
/// 2-MByte page at MARK_PAGE.
pub const PD_HIGH: u64 = 0x60_5000;
/// A 2-MByte page holding MARK at offset 0.
pub const MARK_PAGE: u64 = 0x40_0000;
/// The marker.
pub const MARK: u32 = 0x1234_5678;
/// 4-level paging for a guest that enters IA-32e mode (PDPT and PD follow).
pub const PML4_G: u64 = 0x61_0000;

/// Host CR4: VMXE and PSE (32-bit paging) or PAE.
pub const CR4_PSE: u64 = 0x2010;
pub const CR4_PAE: u64 = 0x2020;
/// Host CR0: PE, ET, NE, PG.
pub const CR0_32: u64 = 0x8000_0031;

/// Exit control "host address-space size"; entry controls "IA-32e mode guest", "load
/// IA32_EFER".
pub const HOST_64: u64 = 1 << 9;
pub const IA32E_GUEST: u64 = 1 << 9;
pub const ENTRY_LOAD_EFER: u64 = 1 << 15;

/// The paging structures as (physical address, size, value) writes.
pub fn paging_writes() -> Vec<(u64, u8, u64)> {
    let mut w = Vec::new();
    for i in 0..16u64 {
        // 4-MByte pages: P, R/W, PS (SDM 4.3).
        w.push((PD32 + 4 * i, 4, (i << 22) | 0x83));
    }
    for i in 0..32u64 {
        // 2-MByte pages: P, R/W, PS (SDM 4.4.2, 4.5.4).
        w.push((PD_PAE + 8 * i, 8, (i << 21) | 0x83));
        w.push((PML4_G + 0x2000 + 8 * i, 8, (i << 21) | 0x83));
    }
    w.extend([
        (PDPT_A, 8, PD_PAE | 1),
        (PDPT_B, 8, PD_PAE | 1),
        (PDPT_B + 24, 8, PD_HIGH | 1),
        (PD_HIGH, 8, MARK_PAGE | 0x83),
        (MARK_PAGE, 4, MARK as u64),
        (PDPT_BAD, 8, PD_PAE | 1),
        (PDPT_BAD + 8, 8, PD_PAE | 3),
        (PML4_G, 8, (PML4_G + 0x1000) | 3),
        (PML4_G + 0x1000, 8, (PML4_G + 0x2000) | 3),
    ]);
    w
}

/// The valid VMCS for the 32-bit host (`host_cr4`, `host_cr3`, "host address-space size" =
/// 0, CS = 18H) and a 32-bit guest with 32-bit paging, no EPT, IDT limit FFH.
pub fn vmcs32(p: &Profile, host_cr4: u64, host_cr3: u64) -> Vec<(u32, u64)> {
    let mut f = valid_vmcs(p, GuestKind::Flat64);
    f.retain(|e| e.0 != enc::EPT_POINTER);
    set(&mut f, enc::SECONDARY_PROC_BASED_CONTROLS, 0);
    let exit = get(&f, enc::EXIT_CONTROLS);
    set(&mut f, enc::EXIT_CONTROLS, exit & !HOST_64);
    let entry = get(&f, enc::ENTRY_CONTROLS);
    set(&mut f, enc::ENTRY_CONTROLS, entry & !IA32E_GUEST);
    set(&mut f, enc::HOST_CR0, CR0_32);
    set(&mut f, enc::HOST_CR3, host_cr3);
    set(&mut f, enc::HOST_CR4, host_cr4);
    set(&mut f, enc::HOST_CS_SELECTOR, 0x18);
    set(&mut f, enc::GUEST_CR0, CR0_32);
    set(&mut f, enc::GUEST_CR3, PD32);
    set(&mut f, enc::GUEST_CR4, CR4_PSE);
    set(&mut f, enc::GUEST_CS_SELECTOR, 0x18);
    set(&mut f, enc::GUEST_CS_ACCESS_RIGHTS, 0xc09b);
    set(&mut f, enc::GUEST_IDTR_LIMIT, 0xff);
    f
}

/// VMWRITE from 32-bit code (clobbers EAX, EDX): a 64-bit field (encoding bits 14:13 = 1)
/// takes its full encoding for bits 31:0 and the high encoding (bit 0 set) for bits 63:32
/// (SDM 25.11.2); other fields take the 32-bit value.
pub fn vmwrite32(a: &mut CodeAssembler, field: u32, value: u64) -> Result<(), IcedError> {
    a.mov(eax, field)?;
    a.mov(edx, value as u32)?;
    a.vmwrite(eax, edx)?;
    if (field >> 13) & 3 == 1 {
        a.mov(eax, field | 1)?;
        a.mov(edx, (value >> 32) as u32)?;
        a.vmwrite(eax, edx)?;
    }
    Ok(())
}
