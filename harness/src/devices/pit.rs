//! The Intel 8254 programmable interval timer (Intel 8254 data sheet, order 231164-005:
//! "Control Word Format", "Read-Back Command", "Modes 0-5"), at ports 0x40-0x43, with the
//! PC wiring: 1.193182 MHz input, channel 0's OUT on IRQ0, channel 2's GATE and OUT at port
//! 0x61 (IBM PC/AT Technical Reference, "System Control Port B"; Intel 82371AB PIIX4 data
//! sheet §4.7.1 "NMI Status and Control Register").
//!
//! Counting is derived from virtual time: the counter's input tick count at `now` ns is
//! `floor(now * 1193182 / 10^9)`, and a counter written at tick `s` has counted `now - s`
//! ticks (QEMU's simplification: the count loads at once rather than on the next CLK edge,
//! and a count written while a mode 2/3 period runs takes effect at once). Gate low pauses
//! modes 0, 2, 3 and 4; a rising gate restarts modes 1, 2, 3 and 5. BCD counting is
//! supported. Port 0x61 bit 4 (refresh request) toggles every 15.085 µs of virtual time.
//!
//! Reset state (the data sheet leaves it undefined): no count written on any channel, mode 0
//! with OUT low, access LSB-then-MSB, binary; gates 0 and 1 high; port 0x61 bits 0-3 clear
//! (gate 2 low, speaker off). Nothing counts until the OS programs a channel.

/// Channel 0's data port; channels 1 and 2 follow.
pub const PIT_CH0: u16 = 0x40;
/// The control word port.
pub const PIT_CONTROL: u16 = 0x43;
/// System control port B.
pub const PORT_61: u16 = 0x61;
/// The counters' input clock in Hz.
pub const PIT_HZ: u64 = 1_193_182;
/// The IRQ channel 0 drives.
pub const PIT_IRQ: u8 = 0;

const NS_PER_S: u64 = 1_000_000_000;
/// Port 0x61 refresh toggle half-period (ns).
const REFRESH_NS: u64 = 15_085;
/// Port 0x61 bits.
const P61_GATE2: u8 = 1 << 0;
const P61_WRITABLE: u8 = 0x0F;
const P61_REFRESH: u8 = 1 << 4;
const P61_OUT2: u8 = 1 << 5;

/// Input ticks elapsed at virtual time `ns`.
pub fn ticks_at(ns: u64) -> u64 {
    (u128::from(ns) * u128::from(PIT_HZ) / u128::from(NS_PER_S)) as u64
}

/// The first virtual time (ns) at which `ticks_at` reaches `tick`.
pub fn ns_of_tick(tick: u64) -> u64 {
    let ns = (u128::from(tick) * u128::from(NS_PER_S)).div_ceil(u128::from(PIT_HZ));
    u64::try_from(ns).unwrap_or(u64::MAX)
}

/// The read/write access mode (control word bits 5-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum Access {
    Lsb,
    Msb,
    LsbMsb,
}

/// One counter.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Channel {
    mode: u8,
    access: Access,
    bcd: bool,
    /// The count register as written (0 means the maximum).
    reload: u16,
    /// Whether a complete count has been written since the control word.
    loaded: bool,
    /// Whether the count was loaded but not yet used (status bit 6).
    null_count: bool,
    /// The tick counting started from, while counting.
    start: Option<u64>,
    /// Ticks counted before the gate went low (modes 0, 2, 3, 4 pause).
    paused_at: Option<u64>,
    gate: bool,
    write_msb_next: bool,
    write_lsb: u8,
    read_msb_next: bool,
    latch: Option<u16>,
    latch_msb_next: bool,
    status: Option<u8>,
    control: u8,
}

impl Channel {
    fn new(gate: bool) -> Self {
        Self {
            mode: 0,
            access: Access::LsbMsb,
            bcd: false,
            reload: 0,
            loaded: false,
            null_count: true,
            start: None,
            paused_at: None,
            gate,
            write_msb_next: false,
            write_lsb: 0,
            read_msb_next: false,
            latch: None,
            latch_msb_next: false,
            status: None,
            control: 0x30,
        }
    }

    /// The period/initial count N in ticks.
    fn n(&self) -> u64 {
        match (self.reload, self.bcd) {
            (0, false) => 0x1_0000,
            (0, true) => 10_000,
            (r, false) => r.into(),
            (r, true) => from_bcd(r),
        }
    }

    /// Ticks counted at input tick `t`, if counting.
    fn elapsed(&self, t: u64) -> Option<u64> {
        if let Some(d) = self.paused_at {
            return Some(d);
        }
        self.start.map(|s| t.saturating_sub(s))
    }

    /// The counting element at tick `t`.
    fn count(&self, t: u64) -> u64 {
        let n = self.n();
        let Some(d) = self.elapsed(t) else { return n % 0x1_0000 };
        let modulus = if self.bcd { 10_000 } else { 0x1_0000 };
        match self.mode {
            2 => n - d % n,
            3 => {
                let high = n.div_ceil(2);
                let phase = d % n;
                let into = if phase < high { phase } else { phase - high };
                (n - 2 * into) & !1
            }
            // Modes 0, 1, 4, 5 count down from N and wrap.
            _ => (n + modulus - d % modulus) % modulus,
        }
    }

    /// OUT at tick `t`.
    fn out(&self, t: u64) -> bool {
        let n = self.n();
        let Some(d) = self.elapsed(t) else {
            // Mode 0 after its control word: low until the count ends; others idle high.
            return self.mode != 0;
        };
        match self.mode {
            0 | 1 => d >= n,
            2 => d % n != n - 1,
            3 => d % n < n.div_ceil(2),
            _ => d != n, // 4, 5: one low tick at the end of the count
        }
    }

    /// The first tick after `t` at which OUT rises, if it will without a new write.
    fn next_rise(&self, t: u64) -> Option<u64> {
        let s = self.start?;
        if self.paused_at.is_some() {
            return None;
        }
        let n = self.n();
        let d = t.saturating_sub(s);
        let rise = match self.mode {
            0 | 1 => n,
            2 | 3 => (d / n + 1) * n,
            _ => n + 1,
        };
        (rise > d).then_some(s + rise)
    }

    fn write_control(&mut self, value: u8) {
        let access = match (value >> 4) & 3 {
            1 => Access::Lsb,
            2 => Access::Msb,
            _ => Access::LsbMsb,
        };
        let mode = (value >> 1) & 7;
        self.mode = if mode >= 6 { mode - 4 } else { mode };
        self.access = access;
        self.bcd = value & 1 != 0;
        self.control = value & 0x3F;
        self.loaded = false;
        self.null_count = true;
        self.start = None;
        self.paused_at = None;
        self.write_msb_next = false;
        self.read_msb_next = false;
        self.latch = None;
        self.status = None;
    }

    fn latch_count(&mut self, t: u64) {
        if self.latch.is_none() {
            self.latch = Some(to_register(self.count(t), self.bcd));
            self.latch_msb_next = false;
        }
    }

    fn latch_status(&mut self, t: u64) {
        if self.status.is_none() {
            let out = if self.out(t) { 0x80 } else { 0 };
            let null = if self.null_count { 0x40 } else { 0 };
            self.status = Some(out | null | self.control);
        }
    }

    fn read(&mut self, t: u64) -> u8 {
        if let Some(s) = self.status.take() {
            return s;
        }
        let (value, msb) = match self.latch {
            Some(l) => {
                let msb = match self.access {
                    Access::Lsb => false,
                    Access::Msb => true,
                    Access::LsbMsb => self.latch_msb_next,
                };
                let done = self.access != Access::LsbMsb || msb;
                self.latch_msb_next = !msb;
                if done {
                    self.latch = None;
                }
                (l, msb)
            }
            None => {
                let v = to_register(self.count(t), self.bcd);
                let msb = match self.access {
                    Access::Lsb => false,
                    Access::Msb => true,
                    Access::LsbMsb => {
                        let m = self.read_msb_next;
                        self.read_msb_next = !m;
                        m
                    }
                };
                (v, msb)
            }
        };
        if msb { (value >> 8) as u8 } else { value as u8 }
    }

    fn write(&mut self, value: u8, t: u64) {
        let reload = match self.access {
            Access::Lsb => u16::from(value),
            Access::Msb => u16::from(value) << 8,
            Access::LsbMsb if !self.write_msb_next => {
                self.write_lsb = value;
                self.write_msb_next = true;
                if self.mode == 0 {
                    // Mode 0: writing the first byte stops the count and drops OUT.
                    self.start = None;
                    self.paused_at = None;
                }
                return;
            }
            Access::LsbMsb => {
                self.write_msb_next = false;
                u16::from(self.write_lsb) | (u16::from(value) << 8)
            }
        };
        self.reload = reload;
        self.loaded = true;
        self.null_count = false;
        // Modes 1 and 5 wait for a gate edge; the others start (if the gate allows).
        if !matches!(self.mode, 1 | 5) {
            self.start = Some(t);
            self.paused_at = if self.gate { None } else { Some(0) };
        }
    }

    fn set_gate(&mut self, gate: bool, t: u64) {
        if gate == self.gate {
            return;
        }
        self.gate = gate;
        if !self.loaded {
            return;
        }
        match (self.mode, gate) {
            // Rising gate: modes 1, 2, 3, 5 (re)start the count.
            (1 | 2 | 3 | 5, true) => {
                self.start = Some(t);
                self.paused_at = None;
            }
            // Modes 0 and 4 resume where they paused.
            (0 | 4, true) => {
                if let Some(d) = self.paused_at.take() {
                    self.start = Some(t.saturating_sub(d));
                }
            }
            // Falling gate pauses modes 0, 2, 3 and 4 (2 and 3 restart on the next rise).
            (0 | 2 | 3 | 4, false) => self.paused_at = self.elapsed(t),
            _ => {}
        }
    }
}

/// BCD count register to binary.
fn from_bcd(v: u16) -> u64 {
    (0..4).rev().fold(0, |acc, i| acc * 10 + u64::from((v >> (4 * i)) & 0xF).min(9))
}

/// A count to the register format.
fn to_register(count: u64, bcd: bool) -> u16 {
    if !bcd {
        return count as u16;
    }
    let c = count % 10_000;
    (0..4).fold(0, |acc, i| acc | ((((c / 10u64.pow(i)) % 10) as u16) << (4 * i)))
}

/// The 8254 and port 0x61.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Pit {
    channels: [Channel; 3],
    port61: u8,
    now: u64,
    irq0_edge: bool,
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

impl Pit {
    /// The timer in its reset state at virtual time 0.
    pub fn new() -> Self {
        Self {
            channels: [Channel::new(true), Channel::new(true), Channel::new(false)],
            port61: 0,
            now: 0,
            irq0_edge: false,
        }
    }

    /// Moves to virtual time `now` (ns); notes a rising edge of OUT0 on the way.
    pub fn advance(&mut self, now: u64) {
        if now <= self.now {
            return;
        }
        let (t0, t1) = (ticks_at(self.now), ticks_at(now));
        if self.channels[0].next_rise(t0).is_some_and(|r| r <= t1) {
            self.irq0_edge = true;
        }
        self.now = now;
    }

    /// The virtual time (ns) of OUT0's next rising edge, if one is coming.
    pub fn next_deadline(&self) -> Option<u64> {
        self.channels[0].next_rise(ticks_at(self.now)).map(ns_of_tick)
    }

    /// Whether OUT0 rose since the last call (an IRQ0 edge for the PIC).
    pub fn take_irq0_edge(&mut self) -> bool {
        std::mem::take(&mut self.irq0_edge)
    }

    /// Whether `port` belongs to the PIT or port 0x61.
    pub fn claims(port: u16) -> bool {
        (PIT_CH0..=PIT_CONTROL).contains(&port) || port == PORT_61
    }

    /// A byte read at the current virtual time.
    pub fn read(&mut self, port: u16) -> u8 {
        let t = ticks_at(self.now);
        match port {
            PORT_61 => {
                let refresh = if (self.now / REFRESH_NS) & 1 != 0 { P61_REFRESH } else { 0 };
                let out2 = if self.channels[2].out(t) { P61_OUT2 } else { 0 };
                self.port61 | refresh | out2
            }
            p if p < PIT_CONTROL => self.channels[usize::from(p - PIT_CH0)].read(t),
            _ => 0xFF, // the control word register cannot be read
        }
    }

    /// A byte write at the current virtual time.
    pub fn write(&mut self, port: u16, value: u8) {
        let t = ticks_at(self.now);
        match port {
            PORT_61 => {
                self.port61 = value & P61_WRITABLE;
                self.channels[2].set_gate(value & P61_GATE2 != 0, t);
            }
            PIT_CONTROL => self.write_control(value, t),
            p if p < PIT_CONTROL => self.channels[usize::from(p - PIT_CH0)].write(value, t),
            _ => {}
        }
    }

    fn write_control(&mut self, value: u8, t: u64) {
        let select = value >> 6;
        if select == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear latches status,
            // bits 1-3 select channels 0-2.
            for (i, ch) in self.channels.iter_mut().enumerate() {
                if value & (2 << i) != 0 {
                    if value & 0x20 == 0 {
                        ch.latch_count(t);
                    }
                    if value & 0x10 == 0 {
                        ch.latch_status(t);
                    }
                }
            }
            return;
        }
        let ch = &mut self.channels[usize::from(select)];
        if (value >> 4) & 3 == 0 {
            ch.latch_count(t);
        } else {
            ch.write_control(value);
        }
    }

    /// OUT of channel `ch` (0-2) now.
    pub fn out(&self, ch: usize) -> bool {
        self.channels.get(ch).is_some_and(|c| c.out(ticks_at(self.now)))
    }
}
