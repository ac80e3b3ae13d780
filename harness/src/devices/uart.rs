//! A 16550A UART (National Semiconductor PC16550D data sheet, "Table II Summary of
//! Registers", "Table IV UART Reset Configuration", "Table V Interrupt Control Functions"),
//! as COM1 at ports 0x3F8-0x3FF.
//!
//! Transmission is instantaneous: LSR.THRE and LSR.TEMT are always set, every byte written
//! to THR goes straight to the sink (or, in loopback, to the receiver). Received bytes come
//! from an input byte string, one per RBR read; loopback bytes are received before it.
//!
//! Reset state: IER=0, IIR=0x01, FCR=0, LCR=0, MCR=0, LSR=0x60, MSR=0xB0 (CTS, DSR and DCD
//! asserted by an always-ready peer, as QEMU does), SCR=0, divisor latch 0x000C (9600 baud,
//! QEMU's default; the data sheet leaves it undefined).
//!
//! Interrupt line: the chip's INTR output goes to IRQ4 only while MCR.OUT2 is set, as the
//! PC's board gates it; in loopback mode OUT2 is internal and the line is low (data sheet,
//! "Loopback mode": the modem-control outputs are forced inactive).

use std::collections::VecDeque;

use super::sink::{CharOut, SerialSink};

/// COM1's base port.
pub const COM1_BASE: u16 = 0x3F8;
/// COM1's IRQ on the PC.
pub const COM1_IRQ: u8 = 4;

/// Register offsets (Table II).
mod reg {
    pub const DATA: u16 = 0; // RBR / THR / DLL
    pub const IER: u16 = 1; // IER / DLM
    pub const IIR_FCR: u16 = 2;
    pub const LCR: u16 = 3;
    pub const MCR: u16 = 4;
    pub const LSR: u16 = 5;
    pub const MSR: u16 = 6;
    pub const SCR: u16 = 7;
}

/// IER bits.
const IER_RDA: u8 = 1 << 0;
const IER_THRE: u8 = 1 << 1;
const IER_MS: u8 = 1 << 3;
/// LCR bit 7: divisor latch access.
const LCR_DLAB: u8 = 1 << 7;
/// MCR bits.
const MCR_DTR: u8 = 1 << 0;
const MCR_RTS: u8 = 1 << 1;
const MCR_OUT1: u8 = 1 << 2;
const MCR_OUT2: u8 = 1 << 3;
const MCR_LOOP: u8 = 1 << 4;
/// LSR bits.
const LSR_DR: u8 = 1 << 0;
const LSR_THRE: u8 = 1 << 5;
const LSR_TEMT: u8 = 1 << 6;
/// MSR: the status bits, and the deltas below them.
const MSR_CTS: u8 = 1 << 4;
const MSR_DSR: u8 = 1 << 5;
const MSR_RI: u8 = 1 << 6;
const MSR_DCD: u8 = 1 << 7;
const MSR_DELTAS: u8 = 0x0F;
/// MSR bit 2 (TERI) reports a trailing edge of RI only.
const MSR_TERI: u8 = 1 << 2;
/// FCR bits.
const FCR_ENABLE: u8 = 1 << 0;
const FCR_CLEAR_RX: u8 = 1 << 1;
/// IIR values (Table V), highest priority first.
const IIR_NONE: u8 = 0x01;
const IIR_RDA: u8 = 0x04;
const IIR_THRE: u8 = 0x02;
const IIR_MS: u8 = 0x00;
/// IIR bits 6-7 when the FIFOs are enabled.
const IIR_FIFO: u8 = 0xC0;
/// Status inputs from the (always ready) peer when not in loopback.
const PEER_STATUS: u8 = MSR_CTS | MSR_DSR | MSR_DCD;
/// QEMU's reset divisor (115200 / 12 = 9600 baud).
const RESET_DIVISOR: u16 = 0x000C;

/// The 16550A's registers and receive queue: everything but the output sink (what a
/// snapshot keeps; see [`Uart::state`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UartState {
    input: Vec<u8>,
    input_pos: usize,
    loopback_rx: VecDeque<u8>,
    divisor: u16,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    msr: u8,
    scr: u8,
    thre_pending: bool,
}

/// The 16550A.
#[derive(Debug)]
pub struct Uart {
    out: CharOut,
    input: Vec<u8>,
    input_pos: usize,
    loopback_rx: VecDeque<u8>,
    divisor: u16,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    msr: u8,
    scr: u8,
    thre_pending: bool,
}

impl Uart {
    /// A UART in its reset state writing to `sink` and receiving `input`.
    pub fn new(sink: SerialSink, input: Vec<u8>) -> Self {
        Self {
            out: CharOut::new(sink),
            input,
            input_pos: 0,
            loopback_rx: VecDeque::new(),
            divisor: RESET_DIVISOR,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            msr: PEER_STATUS,
            scr: 0,
            thre_pending: false,
        }
    }

    /// The registers and receive queue (input bytes and how many the guest has read).
    pub fn state(&self) -> UartState {
        UartState {
            input: self.input.clone(),
            input_pos: self.input_pos,
            loopback_rx: self.loopback_rx.clone(),
            divisor: self.divisor,
            ier: self.ier,
            fcr: self.fcr,
            lcr: self.lcr,
            mcr: self.mcr,
            msr: self.msr,
            scr: self.scr,
            thre_pending: self.thre_pending,
        }
    }

    /// Puts back registers and receive queue from [`Uart::state`]; the sink stays.
    pub fn set_state(&mut self, s: &UartState) {
        let s = s.clone();
        self.input = s.input;
        self.input_pos = s.input_pos.min(self.input.len());
        self.loopback_rx = s.loopback_rx;
        self.divisor = s.divisor;
        self.ier = s.ier;
        self.fcr = s.fcr;
        self.lcr = s.lcr;
        self.mcr = s.mcr;
        self.msr = s.msr;
        self.scr = s.scr;
        self.thre_pending = s.thre_pending;
    }

    /// The output side (sink and its first host error).
    pub fn output(&self) -> &CharOut {
        &self.out
    }

    /// The output side, mutable (to take the sink or tap the output).
    pub fn output_mut(&mut self) -> &mut CharOut {
        &mut self.out
    }

    /// The input bytes the guest has not read yet.
    pub fn unread_input(&self) -> &[u8] {
        self.input.get(self.input_pos..).unwrap_or_default()
    }

    /// Writes a byte to the sink as if transmitted (the Bochs 0xE9 console shares it).
    pub fn echo(&mut self, byte: u8) {
        self.out.put(byte);
    }

    /// Flushes the sink.
    pub fn flush(&mut self) {
        self.out.flush();
    }

    /// The divisor latch (DLM:DLL).
    pub fn divisor(&self) -> u16 {
        self.divisor
    }

    /// Whether IRQ4 is asserted.
    pub fn irq_level(&self) -> bool {
        self.mcr & MCR_OUT2 != 0 && self.mcr & MCR_LOOP == 0 && self.interrupt_id() != IIR_NONE
    }

    fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    fn rx_ready(&self) -> bool {
        !self.loopback_rx.is_empty() || (!self.loopback() && self.input_pos < self.input.len())
    }

    /// The highest-priority pending interrupt (Table V), or [`IIR_NONE`].
    fn interrupt_id(&self) -> u8 {
        // No line-status errors ever occur (no overrun, parity, framing or break), so the
        // receiver-line-status interrupt (IER bit 2, IIR 0x06) never fires.
        if self.ier & IER_RDA != 0 && self.rx_ready() {
            IIR_RDA
        } else if self.ier & IER_THRE != 0 && self.thre_pending {
            IIR_THRE
        } else if self.ier & IER_MS != 0 && self.msr & MSR_DELTAS != 0 {
            IIR_MS
        } else {
            IIR_NONE
        }
    }

    /// Reads register `offset` (0-7).
    pub fn read(&mut self, offset: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            reg::DATA if dlab => self.divisor as u8,
            reg::DATA => self.receive(),
            reg::IER if dlab => (self.divisor >> 8) as u8,
            reg::IER => self.ier,
            reg::IIR_FCR => {
                let id = self.interrupt_id();
                if id == IIR_THRE {
                    // Reading IIR with THRE as the source clears it (Table V).
                    self.thre_pending = false;
                }
                id | if self.fcr & FCR_ENABLE != 0 { IIR_FIFO } else { 0 }
            }
            reg::LCR => self.lcr,
            reg::MCR => self.mcr,
            reg::LSR => LSR_THRE | LSR_TEMT | if self.rx_ready() { LSR_DR } else { 0 },
            reg::MSR => {
                let v = self.msr;
                self.msr &= !MSR_DELTAS;
                v
            }
            reg::SCR => self.scr,
            _ => 0xFF,
        }
    }

    /// Writes register `offset` (0-7).
    pub fn write(&mut self, offset: u16, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset {
            reg::DATA if dlab => self.divisor = (self.divisor & 0xFF00) | u16::from(value),
            reg::DATA => self.transmit(value),
            reg::IER if dlab => self.divisor = (self.divisor & 0x00FF) | (u16::from(value) << 8),
            reg::IER => {
                let enabling_thre = value & IER_THRE != 0 && self.ier & IER_THRE == 0;
                self.ier = value & 0x0F;
                if enabling_thre {
                    // THR is empty: enabling its interrupt raises it at once.
                    self.thre_pending = true;
                }
            }
            reg::IIR_FCR => {
                self.fcr = value & !0x06; // bits 1-2 self-clear
                if value & FCR_CLEAR_RX != 0 {
                    self.loopback_rx.clear();
                }
            }
            reg::LCR => self.lcr = value,
            reg::MCR => self.set_mcr(value & 0x1F),
            reg::SCR => self.scr = value,
            _ => {} // LSR and MSR are read-only (factory test writes ignored)
        }
    }

    fn receive(&mut self) -> u8 {
        if let Some(b) = self.loopback_rx.pop_front() {
            return b;
        }
        if !self.loopback()
            && let Some(&b) = self.input.get(self.input_pos)
        {
            self.input_pos += 1;
            return b;
        }
        0
    }

    fn transmit(&mut self, value: u8) {
        if self.loopback() {
            self.loopback_rx.push_back(value);
        } else {
            self.out.put(value);
        }
        // The byte leaves at once: THR is empty again.
        self.thre_pending = true;
    }

    fn set_mcr(&mut self, mcr: u8) {
        self.mcr = mcr;
        let status = if self.loopback() {
            // Loopback: CTS=RTS, DSR=DTR, RI=OUT1, DCD=OUT2.
            let bit = |m: u8, s: u8| if mcr & m != 0 { s } else { 0 };
            bit(MCR_RTS, MSR_CTS) | bit(MCR_DTR, MSR_DSR) | bit(MCR_OUT1, MSR_RI) | bit(MCR_OUT2, MSR_DCD)
        } else {
            PEER_STATUS
        };
        let changed = (self.msr ^ status) & 0xF0;
        let mut deltas = changed >> 4;
        // TERI: only a 1 -> 0 change of RI.
        if changed & MSR_RI != 0 && status & MSR_RI != 0 {
            deltas &= !MSR_TERI;
        }
        self.msr = status | (self.msr & MSR_DELTAS) | deltas;
    }
}
