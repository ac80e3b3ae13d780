//! The PC's pair of Intel 8259A programmable interrupt controllers (Intel 8259A data sheet,
//! order 231468-003: "Initialization Command Words", "Operation Command Words", "Interrupt
//! Sequence", "The Special Fully Nested Mode" not modelled), master at 0x20/0x21 and slave at
//! 0xA0/0xA1, the slave's INT on the master's IR2, plus the ELCR at 0x4D0/0x4D1 (Intel
//! 82371AB PIIX4 data sheet §4.1.10: edge/level per IRQ; IRQ 0, 1, 2, 8 and 13 are always
//! edge-triggered).
//!
//! Edge-triggered inputs set IRR on a low-to-high transition and keep it until INTA (QEMU's
//! model; the data sheet's withdrawal of a request whose line falls before INTA is not
//! modelled, so a device that drops its line may leave a request the driver finds empty);
//! level-triggered ones (ELCR bit or ICW1.LTIM) follow the line. A request masked between
//! INTR and INTA gives the default IR7 (master) or IR15 (slave: the master latched IR2). Priority is fully nested with rotation (OCW2), special mask
//! mode and poll mode (OCW3). An INTA with nothing to deliver returns the spurious vector of
//! IR7 (master) or IR15 (slave, with the master's IR2 in service) without setting ISR.
//!
//! Reset state: what SeaBIOS leaves before the OS starts (multiboot kernels inherit it):
//! master vectors 0x08-0x0F, slave 0x70-0x77, cascade on IR2, 8086 mode, normal EOI, all
//! IRQs masked except the cascade (master IMR 0xFB, slave IMR 0xFF), IRR read selected, ELCR 0.

/// Master command and data ports.
pub const MASTER_CMD: u16 = 0x20;
/// Master data port (IMR).
pub const MASTER_DATA: u16 = 0x21;
/// Slave command port.
pub const SLAVE_CMD: u16 = 0xA0;
/// Slave data port (IMR).
pub const SLAVE_DATA: u16 = 0xA1;
/// ELCR for IRQ 0-7.
pub const ELCR_MASTER: u16 = 0x4D0;
/// ELCR for IRQ 8-15.
pub const ELCR_SLAVE: u16 = 0x4D1;

/// The master's input the slave is cascaded on.
const CASCADE_IR: u8 = 2;
/// ELCR bits that may be set (PIIX4 §4.1.10).
const ELCR_MASK: [u8; 2] = [0xF8, 0xDE];
/// ICW1 bits.
const ICW1_IC4: u8 = 1 << 0;
const ICW1_SNGL: u8 = 1 << 1;
const ICW1_LTIM: u8 = 1 << 3;
const ICW1_INIT: u8 = 1 << 4;
/// ICW4 bit 1: automatic EOI.
const ICW4_AEOI: u8 = 1 << 1;
/// OCW3 bit 3 marks an OCW3 (bit 4 clear).
const OCW3_SELECT: u8 = 1 << 3;
const OCW3_POLL: u8 = 1 << 2;
const OCW3_READ: u8 = 1 << 1;
const OCW3_RIS: u8 = 1 << 0;
const OCW3_ESMM: u8 = 1 << 6;
const OCW3_SMM: u8 = 1 << 5;
/// Poll word bit 7: an interrupt was pending.
const POLL_INT: u8 = 0x80;

/// Where a chip is in its initialization sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum InitStep {
    Ready,
    Icw2,
    Icw3,
    Icw4,
}

/// One 8259A.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Chip {
    irr: u8,
    isr: u8,
    imr: u8,
    lines: u8,
    elcr: u8,
    elcr_mask: u8,
    icw1: u8,
    vector_base: u8,
    icw4: u8,
    step: InitStep,
    /// The IR with the lowest priority (IR7 after ICW1).
    lowest: u8,
    rotate_on_aeoi: bool,
    special_mask: bool,
    read_isr: bool,
    poll: bool,
}

impl Chip {
    fn new(vector_base: u8, imr: u8, elcr_mask: u8) -> Self {
        Self {
            irr: 0,
            isr: 0,
            imr,
            lines: 0,
            elcr: 0,
            elcr_mask,
            icw1: ICW1_INIT | ICW1_IC4,
            vector_base,
            icw4: 1,
            step: InitStep::Ready,
            lowest: 7,
            rotate_on_aeoi: false,
            special_mask: false,
            read_isr: false,
            poll: false,
        }
    }

    fn level_triggered(&self, bit: u8) -> bool {
        self.icw1 & ICW1_LTIM != 0 || self.elcr & bit != 0
    }

    /// Edge mode latches a rising edge in IRR until INTA; level mode follows the line.
    fn set_line(&mut self, ir: u8, level: bool) {
        let bit = 1 << ir;
        if self.level_triggered(bit) {
            if level { self.irr |= bit } else { self.irr &= !bit }
        } else if level && self.lines & bit == 0 {
            self.irr |= bit;
        }
        if level { self.lines |= bit } else { self.lines &= !bit }
    }

    /// Priority rank of `ir`: 0 is the highest.
    fn rank(&self, ir: u8) -> u8 {
        ir.wrapping_sub(self.lowest).wrapping_sub(1) & 7
    }

    /// The highest-priority IR among `bits`.
    fn highest(&self, bits: u8) -> Option<u8> {
        (0..8).map(|i| (self.lowest + 1 + i) & 7).find(|&ir| bits & (1 << ir) != 0)
    }

    /// The IR this chip would deliver now: the highest pending unmasked request that
    /// outranks every in-service level (in special mask mode, masked levels do not count).
    fn output(&self) -> Option<u8> {
        let ir = self.highest(self.irr & !self.imr)?;
        let blocking = if self.special_mask { self.isr & !self.imr } else { self.isr };
        match self.highest(blocking) {
            Some(busy) if self.rank(busy) <= self.rank(ir) => None,
            _ => Some(ir),
        }
    }

    /// The INTA cycle for `ir`: IRR to ISR (ISR untouched in AEOI mode).
    fn accept(&mut self, ir: u8) {
        let bit = 1 << ir;
        if !self.level_triggered(bit) {
            self.irr &= !bit;
        }
        if self.icw4 & ICW4_AEOI != 0 {
            if self.rotate_on_aeoi {
                self.lowest = ir;
            }
        } else {
            self.isr |= bit;
        }
    }

    fn vector(&self, ir: u8) -> u8 {
        self.vector_base | ir
    }

    fn read_cmd(&mut self) -> u8 {
        if self.poll {
            self.poll = false;
            return match self.output() {
                Some(ir) => {
                    self.accept(ir);
                    POLL_INT | ir
                }
                None => 0,
            };
        }
        if self.read_isr { self.isr } else { self.irr }
    }

    fn read_data(&self) -> u8 {
        self.imr
    }

    fn write_cmd(&mut self, value: u8) {
        if value & ICW1_INIT != 0 {
            self.icw1 = value;
            self.step = InitStep::Icw2;
            // "The edge sense circuit is reset": IRR cleared, a line must rise again.
            self.irr = 0;
            self.isr = 0;
            self.imr = 0;
            self.lowest = 7;
            self.special_mask = false;
            self.read_isr = false;
            self.poll = false;
            self.rotate_on_aeoi = false;
            if value & ICW1_IC4 == 0 {
                self.icw4 = 0;
            }
        } else if value & OCW3_SELECT != 0 {
            self.write_ocw3(value);
        } else {
            self.write_ocw2(value);
        }
    }

    fn write_ocw2(&mut self, value: u8) {
        let level = value & 7;
        match value >> 5 {
            0b001 => self.eoi(None, false),
            0b011 => self.eoi(Some(level), false),
            0b101 => self.eoi(None, true),
            0b111 => self.eoi(Some(level), true),
            0b100 => self.rotate_on_aeoi = true,
            0b000 => self.rotate_on_aeoi = false,
            0b110 => self.lowest = level,
            _ => {} // 0b010: no operation
        }
    }

    fn eoi(&mut self, specific: Option<u8>, rotate: bool) {
        let target = match specific {
            Some(ir) => Some(ir),
            None => self.highest(self.isr),
        };
        if let Some(ir) = target {
            self.isr &= !(1 << ir);
            if rotate {
                self.lowest = ir;
            }
        }
    }

    fn write_ocw3(&mut self, value: u8) {
        if value & OCW3_ESMM != 0 {
            self.special_mask = value & OCW3_SMM != 0;
        }
        if value & OCW3_READ != 0 {
            self.read_isr = value & OCW3_RIS != 0;
        }
        self.poll = value & OCW3_POLL != 0;
    }

    fn write_data(&mut self, value: u8) {
        self.step = match self.step {
            InitStep::Ready => {
                self.imr = value;
                InitStep::Ready
            }
            InitStep::Icw2 => {
                self.vector_base = value & 0xF8;
                if self.icw1 & ICW1_SNGL == 0 {
                    InitStep::Icw3
                } else if self.icw1 & ICW1_IC4 != 0 {
                    InitStep::Icw4
                } else {
                    InitStep::Ready
                }
            }
            // ICW3: the cascade wiring of the PC is fixed (slave on IR2, ID 2).
            InitStep::Icw3 if self.icw1 & ICW1_IC4 != 0 => InitStep::Icw4,
            InitStep::Icw3 => InitStep::Ready,
            InitStep::Icw4 => {
                self.icw4 = value;
                InitStep::Ready
            }
        };
    }
}

/// The master/slave 8259A pair.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Pic {
    chips: [Chip; 2],
}

impl Default for Pic {
    fn default() -> Self {
        Self::new()
    }
}

impl Pic {
    /// The pair in the reset state documented above.
    pub fn new() -> Self {
        Self { chips: [Chip::new(0x08, 0xFB, ELCR_MASK[0]), Chip::new(0x70, 0xFF, ELCR_MASK[1])] }
    }

    /// Sets the level of IRQ line `irq` (0-15).
    pub fn set_irq(&mut self, irq: u8, level: bool) {
        let irq = irq & 15;
        self.chips[usize::from(irq >> 3)].set_line(irq & 7, level);
        self.update_cascade();
    }

    /// Raises IRQ line `irq`.
    pub fn raise_irq(&mut self, irq: u8) {
        self.set_irq(irq, true);
    }

    /// Lowers IRQ line `irq`.
    pub fn lower_irq(&mut self, irq: u8) {
        self.set_irq(irq, false);
    }

    /// A low-high pulse on `irq`: one edge (how the PIT's OUT0 edges reach IRQ0).
    pub fn pulse_irq(&mut self, irq: u8) {
        self.set_irq(irq, false);
        self.set_irq(irq, true);
    }

    fn update_cascade(&mut self) {
        let slave_int = self.chips[1].output().is_some();
        self.chips[0].set_line(CASCADE_IR, slave_int);
    }

    /// Whether the master asserts INTR.
    pub fn has_interrupt(&self) -> bool {
        self.chips[0].output().is_some()
    }

    /// The INTA sequence: the vector of the highest-priority request, or a spurious IR7/IR15.
    pub fn acknowledge(&mut self) -> u8 {
        let vector = match self.chips[0].output() {
            None => self.chips[0].vector(7),
            Some(CASCADE_IR) => {
                self.chips[0].accept(CASCADE_IR);
                match self.chips[1].output() {
                    Some(ir) => {
                        self.chips[1].accept(ir);
                        self.chips[1].vector(ir)
                    }
                    None => self.chips[1].vector(7),
                }
            }
            Some(ir) => {
                self.chips[0].accept(ir);
                self.chips[0].vector(ir)
            }
        };
        self.update_cascade();
        vector
    }

    /// Whether `port` belongs to the PICs or the ELCR.
    pub fn claims(port: u16) -> bool {
        matches!(port, MASTER_CMD | MASTER_DATA | SLAVE_CMD | SLAVE_DATA | ELCR_MASTER | ELCR_SLAVE)
    }

    /// A byte read.
    pub fn read(&mut self, port: u16) -> u8 {
        let v = match port {
            MASTER_CMD => self.chips[0].read_cmd(),
            MASTER_DATA => self.chips[0].read_data(),
            SLAVE_CMD => self.chips[1].read_cmd(),
            SLAVE_DATA => self.chips[1].read_data(),
            ELCR_MASTER => self.chips[0].elcr,
            ELCR_SLAVE => self.chips[1].elcr,
            _ => 0xFF,
        };
        self.update_cascade();
        v
    }

    /// A byte write.
    pub fn write(&mut self, port: u16, value: u8) {
        match port {
            MASTER_CMD => self.chips[0].write_cmd(value),
            MASTER_DATA => self.chips[0].write_data(value),
            SLAVE_CMD => self.chips[1].write_cmd(value),
            SLAVE_DATA => self.chips[1].write_data(value),
            ELCR_MASTER | ELCR_SLAVE => {
                let chip = &mut self.chips[usize::from(port - ELCR_MASTER)];
                chip.elcr = value & chip.elcr_mask;
            }
            _ => {}
        }
        self.update_cascade();
    }

    /// The vector base (ICW2) of the master and the slave.
    pub fn vector_bases(&self) -> (u8, u8) {
        (self.chips[0].vector_base, self.chips[1].vector_base)
    }
}
