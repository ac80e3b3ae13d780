//! The CMOS real-time clock: a Motorola MC146818A (data sheet: "Address Map", "Register A-D",
//! "Periodic Interrupt Rate Table", "Update Cycle") at index port 0x70 / data port 0x71,
//! IRQ8, with the PC's CMOS RAM layout for the bytes SeaBIOS reads (QEMU `hw/i386/pc.c`
//! `pc_cmos_init`: 0x15-0x16 base memory KiB, 0x17-0x18 and 0x30-0x31 extended memory KiB
//! above 1 MiB (at most 65535), 0x34-0x35 memory between 16 MiB and 4 GiB in 64-KiB units,
//! 0x5B-0x5D memory above 4 GiB in 64-KiB units, 0x5F CPU count - 1; 0x32 century).
//!
//! Time is `start_unix_seconds` plus whole seconds of virtual time, changed by guest writes
//! to the time registers. Writes with Register B.SET=1 (updates inhibited) are collected and
//! take effect when SET is cleared; out-of-range fields carry over (February 31 is March 3).
//! Day of week (0x06, 1 = Sunday) is computed from the date; writes to it are ignored.
//! Register A.UIP reads 1 during the 244 µs before each second boundary; A.DV is stored but
//! the time base always runs. The alarm is compared at every virtual second crossed (when
//! time jumps over more than a day of them, the last day's), so the flags never depend on
//! how often the machine moved the clock.
//!
//! Reset state: index 0, NMI enabled, A=0x26 (32.768 kHz time base, 1024 Hz periodic rate),
//! B=0x02 (24-hour, BCD, no interrupts), C=0, D=0x80 (valid RAM and time).

use super::calendar::DateTime;

/// Index port (bit 7: NMI disable).
pub const RTC_INDEX: u16 = 0x70;
/// Data port.
pub const RTC_DATA: u16 = 0x71;
/// The IRQ the RTC drives.
pub const RTC_IRQ: u8 = 8;
/// 2026-01-01T00:00:00Z.
pub const DEFAULT_START_UNIX_SECONDS: i64 = 1_767_225_600;

const NS_PER_S: u64 = 1_000_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// The time base.
const TIME_BASE_HZ: u64 = 32_768;
/// UIP is set this long before the update.
const UIP_NS: u64 = 244_000;

/// Register indices.
mod idx {
    pub const SECONDS: u8 = 0x00;
    pub const SECONDS_ALARM: u8 = 0x01;
    pub const MINUTES: u8 = 0x02;
    pub const MINUTES_ALARM: u8 = 0x03;
    pub const HOURS: u8 = 0x04;
    pub const HOURS_ALARM: u8 = 0x05;
    pub const WEEKDAY: u8 = 0x06;
    pub const DAY: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    pub const A: u8 = 0x0A;
    pub const B: u8 = 0x0B;
    pub const C: u8 = 0x0C;
    pub const D: u8 = 0x0D;
    pub const CENTURY: u8 = 0x32;
}

/// Register A bit 7.
const A_UIP: u8 = 0x80;
/// Register B bits.
const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
/// Register C bits.
const C_IRQF: u8 = 0x80;
const C_PF: u8 = 0x40;
const C_AF: u8 = 0x20;
const C_UF: u8 = 0x10;
/// Register D: valid RAM and time.
const D_VRT: u8 = 0x80;
/// Hours register bit 7 in 12-hour mode.
const PM: u8 = 0x80;
/// Alarm "don't care" values are 0xC0-0xFF.
const DONT_CARE: u8 = 0xC0;

/// How the clock starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtcConfig {
    /// The wall-clock time at virtual time 0, in seconds since 1970-01-01T00:00:00Z.
    pub start_unix_seconds: i64,
}

impl Default for RtcConfig {
    fn default() -> Self {
        Self { start_unix_seconds: DEFAULT_START_UNIX_SECONDS }
    }
}

/// What the CMOS memory-size bytes describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CmosMemory {
    /// RAM below 4 GiB in bytes.
    pub below_4g: u64,
    /// RAM above 4 GiB in bytes.
    pub above_4g: u64,
    /// Number of CPUs.
    pub cpus: u16,
}

/// The RTC and its CMOS RAM.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rtc {
    index: u8,
    nmi_disabled: bool,
    #[serde(with = "crate::snapshot::byte_array")]
    ram: [u8; 128],
    /// Unix seconds minus whole virtual seconds.
    offset: i64,
    /// The time being set while B.SET=1.
    frozen: Option<DateTime>,
    now: u64,
    status_c: u8,
}

impl Rtc {
    /// The RTC in its reset state at virtual time 0.
    pub fn new(cfg: RtcConfig, memory: CmosMemory) -> Self {
        let mut ram = [0u8; 128];
        ram[usize::from(idx::A)] = 0x26;
        ram[usize::from(idx::B)] = B_24H;
        let kib = |v: u64| v / 1024;
        let base = kib(memory.below_4g).min(640);
        let ext = kib(memory.below_4g.saturating_sub(1 << 20)).min(0xFFFF);
        let above_16m = (memory.below_4g.saturating_sub(16 << 20) / 0x1_0000).min(0xFFFF);
        let above_4g = memory.above_4g / 0x1_0000;
        let mut put = |i: usize, v: u64, n: usize| {
            for k in 0..n {
                ram[i + k] = (v >> (8 * k)) as u8;
            }
        };
        put(0x15, base, 2);
        put(0x17, ext, 2);
        put(0x30, ext, 2);
        put(0x34, above_16m, 2);
        put(0x5B, above_4g, 3);
        put(0x5F, u64::from(memory.cpus.saturating_sub(1)), 1);
        Self {
            index: 0,
            nmi_disabled: false,
            ram,
            offset: cfg.start_unix_seconds,
            frozen: None,
            now: 0,
            status_c: 0,
        }
    }

    /// Whether the guest has set bit 7 of the index port (NMI disabled).
    pub fn nmi_disabled(&self) -> bool {
        self.nmi_disabled
    }

    /// Whether IRQ8 is asserted (Register C.IRQF).
    pub fn irq_level(&self) -> bool {
        self.status_c & C_IRQF != 0
    }

    fn reg_b(&self) -> u8 {
        self.ram[usize::from(idx::B)]
    }

    fn whole_seconds(ns: u64) -> i64 {
        (ns / NS_PER_S) as i64
    }

    /// The current date and time.
    pub fn now_datetime(&self) -> DateTime {
        self.frozen.unwrap_or_else(|| self.datetime_at(Self::whole_seconds(self.now)))
    }

    /// The running clock's date and time at whole second `second` of virtual time.
    fn datetime_at(&self, second: i64) -> DateTime {
        DateTime::from_unix(self.offset.saturating_add(second))
    }

    /// The periodic interrupt period in 32.768 kHz cycles (Register A RS3-RS0), if enabled.
    fn period_cycles(&self) -> Option<u64> {
        match self.ram[usize::from(idx::A)] & 0x0F {
            0 => None,
            rs @ 1..=2 => Some(1 << (rs + 6)),
            rs => Some(1 << (rs - 1)),
        }
    }

    fn time_base_ticks(ns: u64) -> u64 {
        (u128::from(ns) * u128::from(TIME_BASE_HZ) / u128::from(NS_PER_S)) as u64
    }

    /// Moves to virtual time `now` (ns): periodic, update-ended and alarm flags.
    pub fn advance(&mut self, now: u64) {
        if now <= self.now {
            return;
        }
        if let Some(p) = self.period_cycles()
            && Self::time_base_ticks(now) / p > Self::time_base_ticks(self.now) / p
        {
            self.status_c |= C_PF;
        }
        let (from, to) = (Self::whole_seconds(self.now), Self::whole_seconds(now));
        self.now = now;
        if to > from && self.reg_b() & B_SET == 0 {
            self.status_c |= C_UF;
            // Every second crossed is compared (one day of them at most: the alarm fields
            // repeat daily), so moving time in several steps sets the same flags as one.
            let first = from.max(to - SECONDS_PER_DAY) + 1;
            if (first..=to).any(|second| self.alarm_matches(self.datetime_at(second))) {
                self.status_c |= C_AF;
            }
        }
        self.update_irqf();
    }

    /// The next virtual time (ns) at which an enabled interrupt condition arises.
    pub fn next_deadline(&self) -> Option<u64> {
        let b = self.reg_b();
        let periodic = self.period_cycles().filter(|_| b & B_PIE != 0).map(|p| {
            let next = (Self::time_base_ticks(self.now) / p + 1) * p;
            let ns = (u128::from(next) * u128::from(NS_PER_S)).div_ceil(u128::from(TIME_BASE_HZ));
            u64::try_from(ns).unwrap_or(u64::MAX)
        });
        let second = (b & (B_UIE | B_AIE) != 0 && b & B_SET == 0)
            .then(|| (self.now / NS_PER_S + 1).saturating_mul(NS_PER_S));
        periodic.into_iter().chain(second).min()
    }

    fn update_irqf(&mut self) {
        let b = self.reg_b();
        let enabled = self.status_c & b & (C_PF | C_AF | C_UF);
        if enabled != 0 {
            self.status_c |= C_IRQF;
        }
    }

    /// Whether the alarm registers match time `t`.
    fn alarm_matches(&self, t: DateTime) -> bool {
        let reg = |i: u8| self.ram[usize::from(i)];
        let pairs = [
            (idx::SECONDS_ALARM, idx::SECONDS),
            (idx::MINUTES_ALARM, idx::MINUTES),
            (idx::HOURS_ALARM, idx::HOURS),
        ];
        pairs.iter().all(|&(a, i)| reg(a) >= DONT_CARE || reg(a) == self.time_register_of(t, i))
    }

    fn encode(&self, v: u8) -> u8 {
        if self.reg_b() & B_BINARY != 0 { v } else { (v / 10) << 4 | (v % 10) }
    }

    fn decode(&self, v: u8) -> u8 {
        if self.reg_b() & B_BINARY != 0 { v } else { (v >> 4) * 10 + (v & 0x0F) }
    }

    /// A time register (0x00, 0x02, 0x04, 0x06-0x09, 0x32) in the current format.
    fn time_register(&self, i: u8) -> u8 {
        self.time_register_of(self.now_datetime(), i)
    }

    /// Time register `i` of time `t` in the current format.
    fn time_register_of(&self, t: DateTime, i: u8) -> u8 {
        let year = t.year.rem_euclid(10_000);
        match i {
            idx::SECONDS => self.encode(t.second),
            idx::MINUTES => self.encode(t.minute),
            idx::HOURS if self.reg_b() & B_24H != 0 => self.encode(t.hour),
            idx::HOURS => {
                let h12 = if t.hour.is_multiple_of(12) { 12 } else { t.hour % 12 };
                self.encode(h12) | if t.hour >= 12 { PM } else { 0 }
            }
            idx::WEEKDAY => self.encode(t.weekday() + 1),
            idx::DAY => self.encode(t.day),
            idx::MONTH => self.encode(t.month),
            idx::YEAR => self.encode((year % 100) as u8),
            _ => self.encode((year / 100) as u8), // century
        }
    }

    fn write_time_register(&mut self, i: u8, value: u8) {
        let mut t = self.now_datetime();
        let v = self.decode(value & !PM);
        match i {
            idx::SECONDS => t.second = v,
            idx::MINUTES => t.minute = v,
            idx::HOURS if self.reg_b() & B_24H != 0 => t.hour = v,
            idx::HOURS => t.hour = v % 12 + if value & PM != 0 { 12 } else { 0 },
            idx::DAY => t.day = v,
            idx::MONTH => t.month = v,
            idx::YEAR => t.year = t.year - t.year.rem_euclid(100) + i64::from(self.decode(value)),
            idx::CENTURY => t.year = i64::from(self.decode(value)) * 100 + t.year.rem_euclid(100),
            _ => return, // weekday: computed
        }
        self.set_datetime(t);
    }

    fn set_datetime(&mut self, t: DateTime) {
        if self.reg_b() & B_SET != 0 {
            self.frozen = Some(t);
        } else {
            self.offset = t.to_unix().saturating_sub(Self::whole_seconds(self.now));
        }
    }

    /// Whether `port` belongs to the RTC.
    pub fn claims(port: u16) -> bool {
        port == RTC_INDEX || port == RTC_DATA
    }

    /// A byte read at the current virtual time.
    pub fn read(&mut self, port: u16) -> u8 {
        if port != RTC_DATA {
            return 0xFF; // the index register is write-only
        }
        match self.index {
            idx::SECONDS
            | idx::MINUTES
            | idx::HOURS
            | idx::WEEKDAY
            | idx::DAY
            | idx::MONTH
            | idx::YEAR
            | idx::CENTURY => self.time_register(self.index),
            idx::A => {
                let uip = self.reg_b() & B_SET == 0 && self.now % NS_PER_S >= NS_PER_S - UIP_NS;
                self.ram[usize::from(idx::A)] & !A_UIP | if uip { A_UIP } else { 0 }
            }
            idx::C => std::mem::take(&mut self.status_c),
            idx::D => D_VRT,
            i => self.ram[usize::from(i)],
        }
    }

    /// A byte write at the current virtual time.
    pub fn write(&mut self, port: u16, value: u8) {
        if port == RTC_INDEX {
            self.index = value & 0x7F;
            self.nmi_disabled = value & 0x80 != 0;
            return;
        }
        if port != RTC_DATA {
            return;
        }
        match self.index {
            idx::SECONDS
            | idx::MINUTES
            | idx::HOURS
            | idx::WEEKDAY
            | idx::DAY
            | idx::MONTH
            | idx::YEAR
            | idx::CENTURY => self.write_time_register(self.index, value),
            idx::A => self.ram[usize::from(idx::A)] = value & !A_UIP,
            idx::B => self.write_b(value),
            idx::C | idx::D => {} // read-only
            i => self.ram[usize::from(i)] = value,
        }
    }

    fn write_b(&mut self, value: u8) {
        let was_set = self.reg_b() & B_SET != 0;
        let now_set = value & B_SET != 0;
        if now_set && !was_set {
            self.frozen = Some(self.now_datetime());
        }
        self.ram[usize::from(idx::B)] = value;
        if !now_set && let Some(t) = self.frozen.take() {
            self.offset = t.to_unix().saturating_sub(Self::whole_seconds(self.now));
        }
        // SET also clears UIE (MC146818A: "SET ... UIE is cleared").
        if now_set {
            self.ram[usize::from(idx::B)] &= !B_UIE;
        }
        self.update_irqf();
    }
}
