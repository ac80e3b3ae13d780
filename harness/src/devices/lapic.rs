//! The local APIC of one vCPU (Intel SDM Vol. 3A, order number 325462-084US, June 2024 (the revision the workspace pins),
//! chapter 11 "Advanced Programmable Interrupt Controller (APIC)"). Section numbers below
//! refer to that revision.
//!
//! Model: an xAPIC/x2APIC with version 0x14 and six LVT entries (timer, thermal, PMC, LINT0,
//! LINT1, error: max LVT entry 5, so the version register reads 0x0005_0014; no CMCI entry,
//! no EOI-broadcast suppression). What is modelled:
//! - xAPIC registers through MMIO at the page IA32_APIC_BASE names (11.4.1, Table 11-1) and
//!   x2APIC registers as MSRs 0x800-0x8FF when IA32_APIC_BASE.EXTD=1 (11.12.1.2, Table 11-6):
//!   the x2APIC ID is the vCPU index, the LDR is derived from it (11.12.10.2), ICR is one
//!   64-bit MSR, SELF IPI is MSR 0x83F; reads of write-only and accesses to absent registers,
//!   writes of read-only registers and non-zero upper halves of 32-bit registers raise #GP.
//! - Mode transitions of IA32_APIC_BASE (11.12.5, Figure 11-27): x2APIC -> xAPIC and
//!   disabled -> x2APIC and EN=0/EXTD=1 are refused (#GP). Clearing EN resets the APIC to its
//!   power-up state (keeping its ID); a hardware-disabled APIC decodes no MMIO, accepts no
//!   interrupts, and (BSP only) lets the PIC's INTR through, as an APIC-less CPU would.
//! - Power-up/INIT state (11.4.7.1, 11.4.7.3): IRR/ISR/TMR/ICR/LDR/TPR 0, DFR all ones, LVT
//!   entries masked, SVR 0xFF (software-disabled); INIT keeps the APIC ID and mode.
//! - Software disable (SVR bit 8 = 0, 11.4.7.2): every LVT mask bit reads and stays set, fixed
//!   and lowest-priority interrupts are not accepted; INIT, SIPI and NMI still are.
//! - Priorities (11.8.3.1): PPR from TPR and the highest ISR vector; APR (11.6.2.4) for
//!   lowest-priority arbitration; an interrupt is presented to the core when IRRV[7:4] >
//!   PPR[7:4] (11.8.4); EOI clears the highest ISR bit (11.8.5) and reports a level-triggered
//!   vector (TMR set) for the EOI broadcast to the IOAPIC.
//! - The timer (11.5.4): divide configuration, initial/current count, one-shot, periodic and
//!   TSC-deadline mode (11.5.4.1; IA32_TSC_DEADLINE reads 0 and ignores writes in the other
//!   modes, is cleared when it fires, and a mode change disarms the timer). The timer's clock
//!   is the model's core crystal: one tick per cycle of the vCPU's own clock, i.e. 1 GHz
//!   divided by the divide configuration. It never runs ahead of the vCPU it belongs to.
//! - ESR (11.5.3): send/receive illegal vector, illegal register address; written to latch.
//! - ICR (11.6.1): fixed, lowest priority, NMI, INIT, INIT level de-assert (a no-op: the
//!   arbitration ID always equals the APIC ID), start-up; physical and logical destinations
//!   (flat and cluster, 11.6.2.2), shorthands. An IPI is delivered at once, so the delivery
//!   status bit (12) always reads 0 (idle). SMI and the reserved delivery modes are dropped.
//!
//! Routing of messages between APICs lives in [`super::apic_bus`]; this file is one APIC.

use std::collections::VecDeque;

/// The default physical base of the xAPIC page (11.4.1).
pub const APIC_DEFAULT_BASE: u64 = 0xFEE0_0000;
/// IA32_APIC_BASE bit 8: this is the bootstrap processor.
pub const APIC_BASE_BSP: u64 = 1 << 8;
/// IA32_APIC_BASE bit 10: x2APIC mode (EXTD).
pub const APIC_BASE_EXTD: u64 = 1 << 10;
/// IA32_APIC_BASE bit 11: APIC global enable (EN).
pub const APIC_BASE_EN: u64 = 1 << 11;
/// The version register: version 0x14, max LVT entry 5 (six entries).
pub const APIC_VERSION: u32 = 0x0005_0014;
/// The timer's base clock in Hz: one tick per virtual cycle (1 cycle = 1 ns).
pub const TIMER_HZ: u64 = 1_000_000_000;
/// IA32_TSC_DEADLINE.
pub const MSR_TSC_DEADLINE: u32 = 0x6E0;

/// xAPIC register offsets in the APIC page (Table 11-1).
pub mod reg {
    /// Local APIC ID.
    pub const ID: u32 = 0x20;
    /// Version.
    pub const VERSION: u32 = 0x30;
    /// Task priority.
    pub const TPR: u32 = 0x80;
    /// Arbitration priority.
    pub const APR: u32 = 0x90;
    /// Processor priority.
    pub const PPR: u32 = 0xA0;
    /// End of interrupt.
    pub const EOI: u32 = 0xB0;
    /// Remote read (not supported on this model: reads 0).
    pub const RRD: u32 = 0xC0;
    /// Logical destination.
    pub const LDR: u32 = 0xD0;
    /// Destination format.
    pub const DFR: u32 = 0xE0;
    /// Spurious interrupt vector.
    pub const SVR: u32 = 0xF0;
    /// In-service register, 8 words.
    pub const ISR: u32 = 0x100;
    /// Trigger mode register, 8 words.
    pub const TMR: u32 = 0x180;
    /// Interrupt request register, 8 words.
    pub const IRR: u32 = 0x200;
    /// Error status.
    pub const ESR: u32 = 0x280;
    /// Interrupt command, low half.
    pub const ICR_LO: u32 = 0x300;
    /// Interrupt command, high half (xAPIC destination in bits 31:24).
    pub const ICR_HI: u32 = 0x310;
    /// LVT timer (the first of the six LVT entries, 0x320-0x370).
    pub const LVT_TIMER: u32 = 0x320;
    /// LVT error (the last).
    pub const LVT_ERROR: u32 = 0x370;
    /// Timer initial count.
    pub const TIMER_INITIAL: u32 = 0x380;
    /// Timer current count.
    pub const TIMER_CURRENT: u32 = 0x390;
    /// Timer divide configuration.
    pub const TIMER_DIVIDE: u32 = 0x3E0;
    /// SELF IPI (x2APIC only, MSR 0x83F).
    pub const SELF_IPI: u32 = 0x3F0;
}

/// LVT entry indices, in register order (0x320 + 0x10 * index).
pub mod lvt {
    /// Timer.
    pub const TIMER: usize = 0;
    /// Thermal sensor.
    pub const THERMAL: usize = 1;
    /// Performance monitoring counters.
    pub const PMC: usize = 2;
    /// LINT0.
    pub const LINT0: usize = 3;
    /// LINT1.
    pub const LINT1: usize = 4;
    /// Error.
    pub const ERROR: usize = 5;
    /// Mask bit (16).
    pub const MASKED: u32 = 1 << 16;
}

/// ESR bits (11.5.3, Figure 11-9).
mod esr {
    pub const SEND_ILLEGAL_VECTOR: u32 = 1 << 5;
    pub const RECEIVE_ILLEGAL_VECTOR: u32 = 1 << 6;
    pub const ILLEGAL_REGISTER: u32 = 1 << 7;
}

/// SVR bit 8: APIC software enable.
const SVR_ENABLE: u32 = 1 << 8;
/// Writable bits of each LVT entry (Figure 11-8): timer has mode bits 18:17, LINT0/1 have
/// polarity, remote IRR (read-only) and trigger mode, the others vector, delivery mode, mask.
const LVT_WRITABLE: [u32; 6] = [0x0007_00FF, 0x0001_07FF, 0x0001_07FF, 0x0001_A7FF, 0x0001_A7FF, 0x0001_00FF];

/// A delivery mode (ICR, LVT and IOAPIC redirection entries share the encoding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DeliveryMode {
    /// 000: the vector, to every target.
    Fixed,
    /// 001: the vector, to the target with the lowest arbitration priority.
    LowestPriority,
    /// 010: SMI (not modelled: dropped).
    Smi,
    /// 100: NMI.
    Nmi,
    /// 101: INIT (or, with level 0 and trigger level, INIT level de-assert).
    Init,
    /// 110: start-up IPI.
    StartUp,
    /// 111: external interrupt (the PIC supplies the vector).
    ExtInt,
    /// 011: reserved.
    Reserved,
}

impl DeliveryMode {
    /// Decodes bits 10:8.
    pub fn from_bits(v: u64) -> Self {
        match (v >> 8) & 7 {
            0 => Self::Fixed,
            1 => Self::LowestPriority,
            2 => Self::Smi,
            4 => Self::Nmi,
            5 => Self::Init,
            6 => Self::StartUp,
            7 => Self::ExtInt,
            _ => Self::Reserved,
        }
    }
}

/// Which APICs a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Destination {
    /// Physical: one APIC ID (0xFF in xAPIC format / 0xFFFF_FFFF in x2APIC format: all).
    Physical(u32),
    /// Logical: matched against each APIC's LDR (and DFR in xAPIC mode).
    Logical(u32),
    /// The sender only (shorthand 01).
    SelfOnly,
    /// Every APIC (shorthand 10).
    AllIncludingSelf,
    /// Every APIC but the sender (shorthand 11).
    AllExcludingSelf,
}

/// An interrupt message on the APIC bus (an IPI or an IOAPIC redirection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApicMessage {
    /// Vector (or SIPI page).
    pub vector: u8,
    /// Delivery mode.
    pub mode: DeliveryMode,
    /// Destination.
    pub dest: Destination,
    /// Level-triggered (TMR bit set on acceptance; EOI is broadcast to the IOAPIC).
    pub level_triggered: bool,
    /// The level bit (0 with INIT and trigger level: INIT level de-assert).
    pub assert: bool,
    /// Whether the destination is in x2APIC format (32-bit IDs, broadcast 0xFFFF_FFFF).
    pub x2apic_format: bool,
}

/// INIT or start-up for a vCPU, for the machine to carry out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Startup {
    /// INIT: reset to the INIT state (BSP: reset vector; AP: wait-for-SIPI).
    Init,
    /// Start-up IPI with this vector: CS = VV00h, IP = 0, if waiting for SIPI.
    Sipi(u8),
}

/// What a register access asks the bus to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Effect {
    /// Nothing beyond the APIC itself.
    #[default]
    None,
    /// Send this message (ICR or SELF IPI write).
    Send(ApicMessage),
    /// EOI of a level-triggered vector: broadcast it to the IOAPIC.
    LevelEoi(u8),
}

/// A register access the architecture refuses (x2APIC: #GP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessFault;

/// The timer's mode (LVT timer bits 18:17).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum TimerMode {
    OneShot,
    Periodic,
    TscDeadline,
}

/// One local APIC.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct LocalApic {
    index: u32,
    apic_base: u64,
    xapic_id: u32,
    tpr: u32,
    ldr: u32,
    dfr: u32,
    svr: u32,
    irr: [u32; 8],
    isr: [u32; 8],
    tmr: [u32; 8],
    esr: u32,
    esr_pending: u32,
    icr: u64,
    lvt: [u32; 6],
    divide: u32,
    initial: u32,
    /// Cycle at which the count was (re)loaded.
    start: u64,
    /// Next cycle the timer fires, if armed.
    fire_at: Option<u64>,
    tsc_deadline: u64,
    /// The vCPU's clock as last told: cycles and TSC - cycles.
    cycles: u64,
    tsc_offset: u64,
    nmi_pending: bool,
    startups: VecDeque<Startup>,
}

/// Bit `v` of a 256-bit register.
fn test_bit(r: &[u32; 8], v: u8) -> bool {
    r[(v >> 5) as usize] & (1 << (v & 31)) != 0
}
fn set_bit(r: &mut [u32; 8], v: u8, on: bool) {
    let w = &mut r[(v >> 5) as usize];
    if on {
        *w |= 1 << (v & 31);
    } else {
        *w &= !(1 << (v & 31));
    }
}
/// The highest set bit of a 256-bit register.
fn highest(r: &[u32; 8]) -> Option<u8> {
    (0..8).rev().find(|&i| r[i] != 0).map(|i| (i as u32 * 32 + 31 - r[i].leading_zeros()) as u8)
}

impl LocalApic {
    /// The APIC of vCPU `index` in its power-up state; `bsp` sets IA32_APIC_BASE.BSP.
    pub fn new(index: u32, bsp: bool) -> Self {
        let mut a = Self {
            index,
            apic_base: APIC_DEFAULT_BASE | APIC_BASE_EN | if bsp { APIC_BASE_BSP } else { 0 },
            xapic_id: index & 0xFF,
            tpr: 0,
            ldr: 0,
            dfr: u32::MAX,
            svr: 0xFF,
            irr: [0; 8],
            isr: [0; 8],
            tmr: [0; 8],
            esr: 0,
            esr_pending: 0,
            icr: 0,
            lvt: [lvt::MASKED; 6],
            divide: 0,
            initial: 0,
            start: 0,
            fire_at: None,
            tsc_deadline: 0,
            cycles: 0,
            tsc_offset: 0,
            nmi_pending: false,
            startups: VecDeque::new(),
        };
        a.reset_registers();
        a
    }

    /// The power-up register state (11.4.7.1), keeping ID, base and the clock.
    fn reset_registers(&mut self) {
        self.tpr = 0;
        self.ldr = 0;
        self.dfr = u32::MAX;
        self.svr = 0xFF;
        self.irr = [0; 8];
        self.isr = [0; 8];
        self.tmr = [0; 8];
        self.esr = 0;
        self.esr_pending = 0;
        self.icr = 0;
        self.lvt = [lvt::MASKED; 6];
        self.divide = 0;
        self.initial = 0;
        self.fire_at = None;
        self.tsc_deadline = 0;
        self.nmi_pending = false;
    }

    /// The state a PC BIOS leaves the BSP's APIC in (virtual-wire mode, MP spec 3.6.2.2, as
    /// SeaBIOS sets it): software-enabled with spurious vector 0xFF, LINT0 ExtINT (level),
    /// LINT1 NMI. So PIC-only kernels receive the PIC's interrupts through LINT0.
    pub fn set_virtual_wire(&mut self) {
        self.svr = SVR_ENABLE | 0xFF;
        self.lvt[lvt::LINT0] = 0x8700;
        self.lvt[lvt::LINT1] = 0x0400;
    }

    /// INIT (11.4.7.3): the power-up state except the APIC ID and IA32_APIC_BASE. Pending
    /// start-ups after this one stay queued.
    pub fn init_reset(&mut self) {
        self.reset_registers();
    }

    /// IA32_APIC_BASE as this APIC sees it.
    pub fn apic_base(&self) -> u64 {
        self.apic_base
    }

    /// Whether the APIC is globally enabled (IA32_APIC_BASE.EN).
    pub fn hw_enabled(&self) -> bool {
        self.apic_base & APIC_BASE_EN != 0
    }

    /// Whether the APIC is in x2APIC mode.
    pub fn x2apic(&self) -> bool {
        self.apic_base & (APIC_BASE_EN | APIC_BASE_EXTD) == APIC_BASE_EN | APIC_BASE_EXTD
    }

    /// Whether the APIC is software-enabled (SVR bit 8).
    pub fn sw_enabled(&self) -> bool {
        self.svr & SVR_ENABLE != 0
    }

    /// The physical base of the xAPIC page, when MMIO decodes it (xAPIC mode only).
    pub fn mmio_base(&self) -> Option<u64> {
        (self.hw_enabled() && !self.x2apic()).then_some(self.apic_base & !0xFFF & ((1 << 52) - 1))
    }

    /// The APIC ID used for destination matching (x2APIC: the vCPU index).
    pub fn apic_id(&self) -> u32 {
        if self.x2apic() { self.index } else { self.xapic_id }
    }

    /// A WRMSR to IA32_APIC_BASE (checked by the CPU for reserved bits): `false` for the
    /// invalid transitions of 11.12.5.
    pub fn write_apic_base(&mut self, new: u64) -> bool {
        let mode = |b: u64| (b & APIC_BASE_EN != 0, b & APIC_BASE_EXTD != 0);
        let (old_en, old_x2) = mode(self.apic_base);
        match (mode(self.apic_base), mode(new)) {
            (_, (false, true)) => return false,             // invalid state
            ((true, true), (true, false)) => return false,  // x2APIC -> xAPIC
            ((false, false), (true, true)) => return false, // disabled -> x2APIC
            _ => {}
        }
        let keep = self.apic_base & APIC_BASE_BSP;
        self.apic_base = (new & !APIC_BASE_BSP) | keep;
        if old_en && !self.hw_enabled() {
            self.reset_registers();
        }
        if !old_x2 && self.x2apic() {
            // Entering x2APIC mode: the LDR is derived from the x2APIC ID (11.12.10.2).
            self.ldr = ((self.index >> 4) << 16) | (1 << (self.index & 0xF));
        }
        true
    }

    // ---- clock and timer ----

    /// Tells the APIC where its vCPU's clock stands (never backwards); fires a due timer.
    pub fn set_clock(&mut self, cycles: u64, tsc: u64) {
        self.cycles = self.cycles.max(cycles);
        let offset = tsc.wrapping_sub(cycles);
        if offset != self.tsc_offset {
            self.tsc_offset = offset;
            if self.timer_mode() == TimerMode::TscDeadline {
                self.arm_deadline();
            }
        }
        self.run_timer();
    }

    /// The vCPU clock (cycles) this APIC last saw.
    pub fn clock(&self) -> u64 {
        self.cycles
    }

    /// The cycle at which the timer fires next, if armed.
    pub fn next_deadline(&self) -> Option<u64> {
        self.fire_at
    }

    fn tsc(&self) -> u64 {
        self.cycles.wrapping_add(self.tsc_offset)
    }

    fn timer_mode(&self) -> TimerMode {
        match (self.lvt[lvt::TIMER] >> 17) & 3 {
            1 => TimerMode::Periodic,
            2 => TimerMode::TscDeadline,
            _ => TimerMode::OneShot, // 11b is reserved; treated as one-shot
        }
    }

    /// log2 of the divide value (Figure 11-10: bits 3, 1:0; 111b divides by 1).
    fn divide_shift(&self) -> u32 {
        let v = ((self.divide >> 1) & 4) | (self.divide & 3);
        (v + 1) & 7
    }

    fn period(&self) -> u64 {
        u64::from(self.initial) << self.divide_shift()
    }

    /// Fires the timer while it is due, then computes the next firing.
    fn run_timer(&mut self) {
        let Some(at) = self.fire_at else { return };
        if at > self.cycles {
            return;
        }
        match self.timer_mode() {
            TimerMode::OneShot => self.fire_at = None,
            TimerMode::Periodic => {
                let p = self.period().max(1);
                let periods = (self.cycles - self.start) / p + 1;
                self.fire_at = Some(self.start.saturating_add(periods.saturating_mul(p)));
            }
            TimerMode::TscDeadline => {
                self.fire_at = None;
                self.tsc_deadline = 0;
            }
        }
        let entry = self.lvt[lvt::TIMER];
        if entry & lvt::MASKED == 0 {
            self.accept_fixed(entry as u8, false);
        }
    }

    fn arm_deadline(&mut self) {
        let now_tsc = self.tsc();
        self.fire_at = match self.tsc_deadline {
            0 => None,
            d if d <= now_tsc => Some(self.cycles),
            d => Some(self.cycles.saturating_add(d - now_tsc)),
        };
        self.run_timer();
    }

    fn current_count(&self) -> u32 {
        if self.timer_mode() == TimerMode::TscDeadline || self.fire_at.is_none() || self.initial == 0 {
            return 0;
        }
        let ticks = (self.cycles - self.start) >> self.divide_shift();
        let initial = u64::from(self.initial);
        match self.timer_mode() {
            TimerMode::Periodic => (initial - ticks % initial) as u32,
            _ => initial.saturating_sub(ticks) as u32,
        }
    }

    fn write_initial(&mut self, v: u32) {
        if self.timer_mode() == TimerMode::TscDeadline {
            return; // ignored in TSC-deadline mode (11.5.4.1)
        }
        self.initial = v;
        self.start = self.cycles;
        self.fire_at = (v != 0).then(|| self.start.saturating_add(self.period()));
    }

    /// IA32_TSC_DEADLINE read (0 unless in TSC-deadline mode).
    pub fn read_tsc_deadline(&self) -> u64 {
        if self.timer_mode() == TimerMode::TscDeadline { self.tsc_deadline } else { 0 }
    }

    /// IA32_TSC_DEADLINE write: arms (non-zero) or disarms (zero) in TSC-deadline mode;
    /// ignored otherwise.
    pub fn write_tsc_deadline(&mut self, v: u64) {
        if self.timer_mode() == TimerMode::TscDeadline {
            self.tsc_deadline = v;
            self.arm_deadline();
        }
    }

    fn write_lvt(&mut self, i: usize, v: u32) {
        let mut v = v & LVT_WRITABLE[i];
        if !self.sw_enabled() {
            v |= lvt::MASKED;
        }
        if i == lvt::LINT0 || i == lvt::LINT1 {
            v |= self.lvt[i] & (1 << 14); // remote IRR is read-only
        }
        let old_mode = self.timer_mode();
        self.lvt[i] = v;
        if i == lvt::TIMER && self.timer_mode() != old_mode {
            // A mode change disarms the timer (11.5.4.1).
            self.fire_at = None;
            self.tsc_deadline = 0;
            self.initial = 0;
        }
    }

    fn write_divide(&mut self, v: u32) {
        let remaining = self.current_count();
        self.divide = v & 0xB;
        if let Some(at) = self.fire_at
            && self.timer_mode() != TimerMode::TscDeadline
            && at > self.cycles
        {
            // Keep the count; it goes on at the new rate.
            let elapsed = u64::from(self.initial - remaining.min(self.initial)) << self.divide_shift();
            self.start = self.cycles.saturating_sub(elapsed);
            self.fire_at = Some(self.cycles.saturating_add(u64::from(remaining) << self.divide_shift()));
        }
    }

    // ---- interrupt acceptance (11.8) ----

    /// A fixed (or won lowest-priority) interrupt arrives: sets IRR (and TMR for level).
    pub fn accept_fixed(&mut self, vector: u8, level: bool) {
        if !self.hw_enabled() || !self.sw_enabled() {
            return;
        }
        if vector < 16 {
            self.error(esr::RECEIVE_ILLEGAL_VECTOR);
            return;
        }
        set_bit(&mut self.irr, vector, true);
        set_bit(&mut self.tmr, vector, level);
    }

    /// An NMI arrives.
    pub fn accept_nmi(&mut self) {
        self.nmi_pending = true;
    }

    /// INIT or SIPI arrives (queued for the machine).
    pub fn accept_startup(&mut self, s: Startup) {
        if self.startups.len() < 8 {
            self.startups.push_back(s);
        }
    }

    /// The next INIT/SIPI for the machine to carry out.
    pub fn take_startup(&mut self) -> Option<Startup> {
        self.startups.pop_front()
    }

    /// Whether an NMI waits.
    pub fn nmi_pending(&self) -> bool {
        self.nmi_pending
    }

    /// The core takes the NMI.
    pub fn acknowledge_nmi(&mut self) {
        self.nmi_pending = false;
    }

    fn error(&mut self, bits: u32) {
        self.esr_pending |= bits;
        let e = self.lvt[lvt::ERROR];
        if e & lvt::MASKED == 0 {
            self.accept_fixed(e as u8, false);
        }
    }

    /// Processor priority (11.8.3.1).
    pub fn ppr(&self) -> u32 {
        let isrv = highest(&self.isr).map_or(0, u32::from);
        if self.tpr >> 4 >= isrv >> 4 { self.tpr } else { isrv & 0xF0 }
    }

    /// Arbitration priority (11.6.2.4, Figure 11-15).
    pub fn apr(&self) -> u32 {
        let isrv = highest(&self.isr).map_or(0, u32::from);
        let irrv = highest(&self.irr).map_or(0, u32::from);
        if self.tpr >> 4 >= irrv >> 4 && self.tpr >> 4 > isrv >> 4 {
            self.tpr
        } else {
            (self.tpr & 0xF0).max(isrv & 0xF0).max(irrv & 0xF0)
        }
    }

    /// The vector the APIC presents to the core, if any (IRRV[7:4] > PPR[7:4]).
    pub fn deliverable(&self) -> Option<u8> {
        if !self.hw_enabled() || !self.sw_enabled() {
            return None;
        }
        let v = highest(&self.irr)?;
        (u32::from(v) >> 4 > self.ppr() >> 4).then_some(v)
    }

    /// INTA: moves the highest deliverable IRR bit to ISR, or returns the spurious vector.
    pub fn acknowledge(&mut self) -> u8 {
        match self.deliverable() {
            Some(v) => {
                set_bit(&mut self.irr, v, false);
                set_bit(&mut self.isr, v, true);
                v
            }
            None => self.svr as u8,
        }
    }

    /// EOI: clears the highest ISR bit; returns its vector if it was level-triggered.
    fn eoi(&mut self) -> Effect {
        let Some(v) = highest(&self.isr) else { return Effect::None };
        set_bit(&mut self.isr, v, false);
        if test_bit(&self.tmr, v) { Effect::LevelEoi(v) } else { Effect::None }
    }

    /// LVT LINT0, as it decides what the PIC's INTR does.
    pub fn lint0(&self) -> u32 {
        self.lvt[lvt::LINT0]
    }

    /// TPR (CR8 = TPR[7:4]).
    pub fn tpr(&self) -> u32 {
        self.tpr
    }

    /// MOV to CR8.
    pub fn set_cr8(&mut self, v: u64) {
        self.tpr = ((v & 0xF) << 4) as u32;
    }

    // ---- logical destinations (11.6.2.2, 11.12.10) ----

    /// Whether this APIC is a target of logical destination `dest`.
    pub fn matches_logical(&self, dest: u32, x2apic_format: bool) -> bool {
        if x2apic_format || self.x2apic() {
            if dest == u32::MAX {
                return true;
            }
            let ldr = self.ldr;
            return dest >> 16 == ldr >> 16 && dest & ldr & 0xFFFF != 0;
        }
        let dest = dest & 0xFF;
        if dest == 0xFF {
            return true;
        }
        let ldr = self.ldr >> 24;
        if self.dfr >> 28 == 0xF {
            dest & ldr != 0 // flat model
        } else {
            // Cluster model: cluster 0xF addresses every cluster.
            (dest >> 4 == ldr >> 4 || dest >> 4 == 0xF) && dest & ldr & 0xF != 0
        }
    }

    /// Whether this APIC is the target of physical destination `dest`.
    pub fn matches_physical(&self, dest: u32, x2apic_format: bool) -> bool {
        if x2apic_format { dest == u32::MAX || dest == self.apic_id() } else { dest & 0xFF == 0xFF || dest & 0xFF == self.apic_id() & 0xFF }
    }

    // ---- register file ----

    /// Reads the 32-bit register at xAPIC offset `off` (a multiple of 16); `None` when there
    /// is none (or it is write-only).
    fn read_reg(&mut self, off: u32) -> Option<u32> {
        Some(match off {
            reg::ID => {
                if self.x2apic() {
                    self.index
                } else {
                    self.xapic_id << 24
                }
            }
            reg::VERSION => APIC_VERSION,
            reg::TPR => self.tpr,
            reg::APR if !self.x2apic() => self.apr(),
            reg::PPR => self.ppr(),
            reg::RRD if !self.x2apic() => 0,
            reg::LDR => self.ldr,
            reg::DFR if !self.x2apic() => self.dfr,
            reg::SVR => self.svr,
            o @ 0x100..=0x170 => self.isr[((o - reg::ISR) >> 4) as usize],
            o @ 0x180..=0x1F0 => self.tmr[((o - reg::TMR) >> 4) as usize],
            o @ 0x200..=0x270 => self.irr[((o - reg::IRR) >> 4) as usize],
            reg::ESR => self.esr,
            reg::ICR_LO => self.icr as u32, // delivery status (bit 12) always idle
            reg::ICR_HI if !self.x2apic() => (self.icr >> 32) as u32,
            o @ reg::LVT_TIMER..=reg::LVT_ERROR => self.lvt[((o - reg::LVT_TIMER) >> 4) as usize],
            reg::TIMER_INITIAL => self.initial,
            reg::TIMER_CURRENT => self.current_count(),
            reg::TIMER_DIVIDE => self.divide,
            _ => return None,
        })
    }

    /// Writes the register at xAPIC offset `off`; `Err` for read-only or absent registers.
    fn write_reg(&mut self, off: u32, v: u32) -> Result<Effect, AccessFault> {
        match off {
            reg::ID if !self.x2apic() => self.xapic_id = v >> 24,
            reg::TPR => self.tpr = v & 0xFF,
            reg::EOI => return Ok(self.eoi()),
            reg::LDR if !self.x2apic() => self.ldr = v & 0xFF00_0000,
            reg::DFR if !self.x2apic() => self.dfr = v | 0x0FFF_FFFF,
            reg::SVR => {
                self.svr = v & 0x1FF;
                if !self.sw_enabled() {
                    for e in &mut self.lvt {
                        *e |= lvt::MASKED;
                    }
                }
            }
            reg::ESR => {
                self.esr = std::mem::take(&mut self.esr_pending);
            }
            reg::ICR_LO => {
                self.icr = (self.icr & !0xFFFF_FFFF) | u64::from(v & !(1 << 12));
                return Ok(self.send_icr());
            }
            reg::ICR_HI if !self.x2apic() => self.icr = (self.icr & 0xFFFF_FFFF) | (u64::from(v & 0xFF00_0000) << 32),
            o @ reg::LVT_TIMER..=reg::LVT_ERROR => self.write_lvt(((o - reg::LVT_TIMER) >> 4) as usize, v),
            reg::TIMER_INITIAL => self.write_initial(v),
            reg::TIMER_DIVIDE => self.write_divide(v),
            reg::SELF_IPI if self.x2apic() => {
                let vector = v as u8;
                return Ok(Effect::Send(ApicMessage {
                    vector,
                    mode: DeliveryMode::Fixed,
                    dest: Destination::SelfOnly,
                    level_triggered: false,
                    assert: true,
                    x2apic_format: true,
                }));
            }
            _ => return Err(AccessFault),
        }
        Ok(Effect::None)
    }

    /// The message an ICR write sends (11.6.1, Figure 11-12).
    fn send_icr(&mut self) -> Effect {
        let icr = self.icr;
        let x2 = self.x2apic();
        let dest_field = if x2 { (icr >> 32) as u32 } else { (icr >> 56) as u32 };
        let dest = match (icr >> 18) & 3 {
            1 => Destination::SelfOnly,
            2 => Destination::AllIncludingSelf,
            3 => Destination::AllExcludingSelf,
            _ if icr & (1 << 11) != 0 => Destination::Logical(dest_field),
            _ => Destination::Physical(dest_field),
        };
        let mode = DeliveryMode::from_bits(icr);
        let vector = icr as u8;
        if matches!(mode, DeliveryMode::Fixed | DeliveryMode::LowestPriority) && vector < 16 {
            self.error(esr::SEND_ILLEGAL_VECTOR);
            return Effect::None;
        }
        Effect::Send(ApicMessage {
            vector,
            mode,
            dest,
            level_triggered: icr & (1 << 15) != 0,
            assert: icr & (1 << 14) != 0,
            x2apic_format: x2,
        })
    }

    /// An xAPIC MMIO read at `offset` in the APIC page (any size; bytes outside a
    /// register's 32 bits read 0).
    pub fn mmio_read(&mut self, offset: u64, size: u8) -> u64 {
        let mut v = 0u64;
        for i in 0..u64::from(size.min(8)) {
            let o = offset.wrapping_add(i) & 0xFFF;
            let byte = if o & 0xF < 4 { (self.read_reg((o & 0xFF0) as u32).unwrap_or(0) >> (8 * (o & 3))) as u8 } else { 0 };
            v |= u64::from(byte) << (8 * i);
        }
        v
    }

    /// An xAPIC MMIO write: 32-bit (or wider) aligned stores to a register's first dword
    /// take effect; others are ignored. Writes to absent or read-only registers set ESR
    /// "illegal register address".
    pub fn mmio_write(&mut self, offset: u64, size: u8, value: u64) -> Effect {
        if offset & 0xF != 0 || size < 4 {
            return Effect::None;
        }
        let off = (offset & 0xFF0) as u32;
        match self.write_reg(off, value as u32) {
            Ok(e) => e,
            Err(AccessFault) => {
                self.error(esr::ILLEGAL_REGISTER);
                Effect::None
            }
        }
    }

    /// RDMSR of x2APIC MSR `msr` (0x800-0x8FF); `Err` is #GP.
    pub fn msr_read(&mut self, msr: u32) -> Result<u64, AccessFault> {
        if !self.x2apic() {
            return Err(AccessFault);
        }
        let off = (msr - 0x800) << 4;
        match off {
            reg::EOI | reg::SELF_IPI => Err(AccessFault),
            reg::ICR_LO => Ok(self.icr & !(1 << 12)),
            _ => self.read_reg(off).map(u64::from).ok_or(AccessFault),
        }
    }

    /// WRMSR of x2APIC MSR `msr`; `Err` is #GP.
    pub fn msr_write(&mut self, msr: u32, v: u64) -> Result<Effect, AccessFault> {
        if !self.x2apic() {
            return Err(AccessFault);
        }
        let off = (msr - 0x800) << 4;
        match off {
            reg::ICR_LO => {
                self.icr = v & !(1 << 12);
                Ok(self.send_icr())
            }
            _ if v >> 32 != 0 => Err(AccessFault),
            // A non-zero EOI or ESR write is #GP in x2APIC mode (11.12.1.2).
            reg::EOI | reg::ESR if v != 0 => Err(AccessFault),
            reg::SELF_IPI if v & !0xFF != 0 => Err(AccessFault),
            _ => self.write_reg(off, v as u32),
        }
    }
}
