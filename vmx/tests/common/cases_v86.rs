//! Virtual-8086 guests (SDM Vol. 3C 27.3.1.2 and 27.3.1.4: VM entry with guest RFLAGS.VM=1;
//! Vol. 3B chapter 20 for what the guest then does). The guest is the real-mode guest of
//! [`GuestKind::Real`] (code at REAL_GUEST = 0900:0000, SS = 0, SP = 7000H) turned into a
//! virtual-8086 one: CR0.PE = 1, RFLAGS.VM = 1, every segment with base = selector << 4,
//! limit FFFFH and access rights F3H. Its TSS is the host's (TR base 3000H, limit 67H); the
//! pokes give it an I/O map base of 20H, so the I/O permission bitmap starts at TSS+20H and the
//! software interrupt redirection bitmap at TSS+0 (Vol. 3B 20.3.3, Figure 20-5).

use super::cases::*;
use super::layout::*;
use hvbench_vmx::exit::reason;
use hvbench_vmx::fields::enc;

const TSS: u64 = 0x3000;
/// Rights of every v8086 segment (27.3.1.2).
const V86_AR: u64 = 0xf3;
const VM: u64 = 1 << 17;

/// [`GuestKind::Real`] as a virtual-8086 guest with `rflags` (VM added).
fn v86_fields(f: &mut Vec<(u32, u64)>, rflags: u64) {
    set(f, enc::GUEST_CR0, 0x31);
    set(f, enc::GUEST_RFLAGS, rflags | VM | 2);
    for ar in [enc::GUEST_CS_ACCESS_RIGHTS, enc::GUEST_SS_ACCESS_RIGHTS, enc::GUEST_DS_ACCESS_RIGHTS, enc::GUEST_ES_ACCESS_RIGHTS, enc::GUEST_FS_ACCESS_RIGHTS, enc::GUEST_GS_ACCESS_RIGHTS] {
        set(f, ar, V86_AR);
    }
}

/// I/O map base 20H; the bitmap bytes for ports 80H-8FH (TSS+30H) clear.
static IO_POKES: &[Poke] = &[poke(TSS + 0x66, 2, 0x20), poke(TSS + 0x30, 2, 0)];
/// As [`IO_POKES`] with port 80H's bit set.
static IO_DENY_POKES: &[Poke] = &[poke(TSS + 0x66, 2, 0x20), poke(TSS + 0x30, 2, 1)];
/// I/O map base 20H with bit 21H of the redirection bitmap (TSS+4, bit 1) clear, and
/// IVT[21H] = 0900:0010.
static REDIRECT_POKES: &[Poke] = &[poke(TSS + 0x66, 2, 0x20), poke(TSS + 4, 1, 0), poke(0x21 * 4, 4, 0x0900_0010)];

/// mov ax, 1234H ; mov es, ax ; out 80H, al
static OUT_GUEST: &[u8] = &[0xb8, 0x34, 0x12, 0x8e, 0xc0, 0xe6, 0x80];
/// int 21H ; (padding) ; at IP 10H: cpuid
static INT_GUEST: &[u8] = &[0xcd, 0x21, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0xf4, 0x0f, 0xa2];

/// "#GP(0) exits" bits of the exit-interruption information: valid, hardware exception (3),
/// error code valid, vector 13 (SDM 28.2.2).
const GP_INFO: u64 = 0x8000_0b0d;

pub static CASES: &[Case] = &[
    Case {
        pokes: IO_POKES,
        ..case(
            "v86_guest_runs_and_out_exits",
            "a virtual-8086 guest (27.3.1.2, 27.3.1.4) runs 8086 code: MOV ES loads base = selector << 4 with rights F3H (Vol. 3B 20.1.1); OUT 80H, AL passes the TSS I/O bitmap (20.2.8.1, checked before the exit, 26.1.1) and exits with \"unconditional I/O exiting\": reason 30, qualification port 80H, immediate operand, 1 byte, OUT (28.2.1), length 2; the saved state keeps VM = 1 and the 8086 segments (28.3)",
            Program::Launch { kind: GuestKind::Real, fields: |f| {
                v86_fields(f, 0);
                or(f, enc::PROC_BASED_CONTROLS, 1 << 24);
            }, guest: Guest::Real(OUT_GUEST), at_exit: None },
            exit(reason::IO),
            &[
                fld(enc::EXIT_QUALIFICATION, 0x80 << 16 | 1 << 6),
                fld(enc::EXIT_INSTRUCTION_LENGTH, 2),
                fld(enc::GUEST_RIP, 5),
                fld(enc::GUEST_RFLAGS, VM | 2),
                fld(enc::GUEST_CS_SELECTOR, REAL_GUEST >> 4),
                fld(enc::GUEST_ES_SELECTOR, 0x1234),
                fld(enc::GUEST_ES_BASE, 0x12340),
                fld(enc::GUEST_ES_LIMIT, 0xffff),
                fld(enc::GUEST_ES_ACCESS_RIGHTS, V86_AR),
                fld(enc::GUEST_CS_ACCESS_RIGHTS, V86_AR),
            ],
        )
    },
    case(
        "v86_guest_cli_gp_exits",
        "CLI in a virtual-8086 guest at IOPL 0 without CR4.VME is #GP(0) (Vol. 3B 20.2.7, \"CLI\"); with bit 13 of the exception bitmap it exits (26.2): reason 0, interruption information 80000B0DH, error code 0, RIP of the CLI, VM = 1 and IOPL 0 saved",
        Program::Launch { kind: GuestKind::Real, fields: |f| {
            v86_fields(f, 0);
            set(f, enc::EXCEPTION_BITMAP, 1 << 13);
        }, guest: Guest::Real(&[0xfa]), at_exit: None },
        exit(reason::EXCEPTION_NMI),
        &[
            fld(enc::EXIT_INTERRUPTION_INFO, GP_INFO),
            fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0),
            fld(enc::GUEST_RIP, 0),
            FieldCheck { field: enc::GUEST_RFLAGS, mask: VM | 3 << 12 | 1 << 9, value: VM },
        ],
    ),
    Case {
        pokes: IO_DENY_POKES,
        ..case(
            "v86_guest_io_bitmap_gp_before_io_exit",
            "IN AL, 80H in a virtual-8086 guest at IOPL 3 is #GP(0) when the TSS I/O permission bitmap denies port 80H (Vol. 3B 20.2.8.1: I/O in v8086 mode is checked against the bitmap whatever IOPL), and that #GP has priority over \"unconditional I/O exiting\" (26.1.1): reason 0 with #GP(0), RIP 0",
            Program::Launch { kind: GuestKind::Real, fields: |f| {
                v86_fields(f, 3 << 12);
                or(f, enc::PROC_BASED_CONTROLS, 1 << 24);
                set(f, enc::EXCEPTION_BITMAP, 1 << 13);
            }, guest: Guest::Real(&[0xe4, 0x80]), at_exit: None },
            exit(reason::EXCEPTION_NMI),
            &[fld(enc::EXIT_INTERRUPTION_INFO, GP_INFO), fld(enc::EXIT_INTERRUPTION_ERROR_CODE, 0), fld(enc::GUEST_RIP, 0)],
        )
    },
    Case {
        pokes: REDIRECT_POKES,
        mem: &[MemCheck { addr: 0x6ffa, size: 4, value: (REAL_GUEST >> 4) << 16 | 2 }, MemCheck { addr: 0x6ffe, size: 2, value: 0x3202 }],
        ..case(
            "v86_guest_vme_int_redirected_to_ivt",
            "CR4.VME in a virtual-8086 guest at IOPL 0 with VIF = 1: INT 21H whose redirection-bitmap bit is clear goes through the 8086 IVT (Vol. 3B 20.3.3.5 method 6, \"INT n\"): FLAGS (IF = VIF, IOPL shown as 3), CS, IP pushed on the v8086 stack, VIF cleared, CS:IP = IVT[21H] = 0900:0010, where CPUID exits: reason 10, RIP 10H, RSP 6FFAH, RFLAGS VM = 1, VIF = 0",
            Program::Launch { kind: GuestKind::Real, fields: |f| {
                v86_fields(f, 1 << 19);
                set(f, enc::GUEST_CR4, 0x2001);
            }, guest: Guest::Real(INT_GUEST), at_exit: None },
            exit(reason::CPUID),
            &[fld(enc::GUEST_RIP, 0x10), fld(enc::GUEST_RSP, 0x6ffa), fld(enc::GUEST_RFLAGS, VM | 2), fld(enc::GUEST_CS_SELECTOR, REAL_GUEST >> 4)],
        )
    },
    Case {
        pokes: REDIRECT_POKES,
        mem: &[MemCheck { addr: 0x6ffa, size: 4, value: (REAL_GUEST >> 4) << 16 | 2 }, MemCheck { addr: 0x6ffe, size: 2, value: 0x3202 }],
        ..case(
            "v86_guest_injected_int_redirected_to_ivt",
            "VM entry injecting software interrupt 21H (type 4, instruction length 2) into a virtual-8086 guest with CR4.VME = 1, IOPL 0, VIF = 1 and the redirection-bitmap bit clear: no #GP for IOPL < 3, and the interrupt goes through the 8086 IVT (SDM 27.6.1.1): FLAGS with IF = VIF and IOPL 3, CS, IP = RIP + 2 pushed; at 0900:0010 CPUID exits: reason 10, RIP 10H, RSP 6FFAH, VIF cleared",
            Program::Launch { kind: GuestKind::Real, fields: |f| {
                v86_fields(f, 1 << 19);
                set(f, enc::GUEST_CR4, 0x2001);
                set(f, enc::ENTRY_INTERRUPTION_INFO, 0x8000_0421);
                set(f, enc::ENTRY_INSTRUCTION_LENGTH, 2);
            }, guest: Guest::Real(INT_GUEST), at_exit: None },
            exit(reason::CPUID),
            &[fld(enc::GUEST_RIP, 0x10), fld(enc::GUEST_RSP, 0x6ffa), fld(enc::GUEST_RFLAGS, VM | 2)],
        )
    },
    Case {
        why: "base = selector << 4",
        ..case(
            "entry_guest_v86_ds_base",
            "a virtual-8086 guest whose DS base is not DS selector << 4 (selector 0, base 10H) fails the guest-state checks (27.3.1.2 \"If the guest will be virtual-8086, the address must be the selector field shifted left 4 bits\"): reason 33 with bit 31 set",
            Program::Launch { kind: GuestKind::Real, fields: |f| {
                v86_fields(f, 0);
                set(f, enc::GUEST_DS_BASE, 0x10);
            }, guest: Guest::Real(&[0x0f, 0xa2]), at_exit: None },
            entry_fail(33),
            &[],
        )
    },
    Case {
        why: "access rights = F3H",
        ..case(
            "entry_guest_v86_cs_rights",
            "a virtual-8086 guest whose CS access rights are FBH (accessed code, DPL 3) rather than F3H fails the guest-state checks (27.3.1.2 \"If the guest will be virtual-8086, the field must be 000000F3H\"): reason 33 with bit 31 set",
            Program::Launch { kind: GuestKind::Real, fields: |f| {
                v86_fields(f, 0);
                set(f, enc::GUEST_CS_ACCESS_RIGHTS, 0xfb);
            }, guest: Guest::Real(&[0x0f, 0xa2]), at_exit: None },
            entry_fail(33),
            &[],
        )
    },
];
