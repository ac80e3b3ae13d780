//! The PC's device bus: every port and MMIO access the CPUs make that is not RAM.
//!
//! Port map (IBM PC/AT Technical Reference, "System I/O Address Map", plus the QEMU/Bochs
//! debug ports): 0x20-0x21 and 0xA0-0xA1 PICs, 0x40-0x43 PIT, 0x61 system control port B,
//! 0x70-0x71 RTC, 0x80 POST, 0xE9 Bochs console, 0xF4 isa-debug-exit, 0x3F8-0x3FF COM1,
//! 0x4D0-0x4D1 ELCR, 0x510-0x511 fw_cfg, 0x600-0x60B ACPI PM, 0xCF8/0xCFC PCI
//! configuration, 0x8900 shutdown.
//!
//! Interrupt wiring: PIT OUT0 edges on IRQ0, COM1 on IRQ4, RTC on IRQ8, all through the
//! 8259A pair, whose INTR goes to vCPU 0 (the BSP; the local APIC's LINT0 comes later).
//!
//! Devices that decode bytes see a 2- or 4-byte access as consecutive byte accesses, low
//! byte first (what the ISA bus does with a wide cycle to an 8-bit device); ports that decode
//! wider accesses get them whole. Unclaimed ports read all ones and ignore writes; unclaimed
//! MMIO likewise; MMIO devices are looked up by address range (see [`MmioDevice`]).
//!
//! The bus owns virtual time for its devices: [`PcBus::set_time`] moves every device to `now`
//! (nanoseconds of virtual time) and [`PcBus::next_deadline`] tells the machine when the next
//! device event is due, so that a machine whose vCPUs all halt can jump there. Reads that
//! depend on time (PIT counts, port 0x61, RTC, PM timer) see the time of the last `set_time`,
//! so the machine calls it before delivering an I/O access (at least once per quantum).

use hvbench_mmu::phys::LOW_RAM_LIMIT;
use hvbench_mmu::{Bus, CpuIndex, PhysAddr};

use super::acpi::pm::AcpiPm;
use super::debug_exit::{DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, DebugAction, DebugPorts, ExitRequest, ones};
use super::fw_cfg::{FW_CFG_DATA, FW_CFG_SELECTOR, FwCfg};
use super::mmio::{MmioDevice, MmioMap, MmioOverlap};
use super::pci::PciBus;
use super::pic::Pic;
use super::pit::{PIT_IRQ, Pit};
use super::rtc::{CmosMemory, RTC_IRQ, Rtc, RtcConfig};
use super::sink::{CharOut, SerialSink};
use super::uart::{COM1_BASE, COM1_IRQ, Uart};

/// The vCPU that the PIC's INTR reaches.
const BSP: CpuIndex = 0;

/// What the machine plugs into the bus.
#[derive(Debug, Default)]
pub struct PcBusConfig {
    /// Where COM1's output goes.
    pub serial_sink: SerialSink,
    /// What COM1 receives.
    pub serial_input: Vec<u8>,
    /// Where port 0xE9 output goes; `None` shares COM1's sink.
    pub e9_sink: Option<SerialSink>,
    /// The machine's RAM size in bytes (CMOS memory bytes, fw_cfg).
    pub ram_size: u64,
    /// The number of vCPUs.
    pub cpus: u16,
    /// The RTC's start time.
    pub rtc: RtcConfig,
}

/// The PC's devices behind one [`Bus`].
pub struct PcBus {
    uart: Uart,
    debug: DebugPorts,
    pic: Pic,
    pit: Pit,
    rtc: Rtc,
    fw_cfg: FwCfg,
    pci: PciBus,
    pm: AcpiPm,
    e9: Option<CharOut>,
    mmio: MmioMap,
    exit: Option<ExitRequest>,
    now: u64,
}

impl PcBus {
    /// A bus with every device in its reset state at virtual time 0.
    pub fn new(cfg: PcBusConfig) -> Self {
        let below_4g = cfg.ram_size.min(LOW_RAM_LIMIT);
        let memory = CmosMemory { below_4g, above_4g: cfg.ram_size - below_4g, cpus: cfg.cpus };
        Self {
            uart: Uart::new(cfg.serial_sink, cfg.serial_input),
            debug: DebugPorts::new(),
            pic: Pic::new(),
            pit: Pit::new(),
            rtc: Rtc::new(cfg.rtc, memory),
            fw_cfg: FwCfg::new(cfg.ram_size, cfg.cpus),
            pci: PciBus::new(),
            pm: AcpiPm::new(),
            e9: cfg.e9_sink.map(CharOut::new),
            mmio: MmioMap::new(),
            exit: None,
            now: 0,
        }
    }

    /// Maps an MMIO device (local APIC, IOAPIC, ...) at `[base, base + len)`.
    pub fn add_mmio(&mut self, base: u64, len: u64, device: Box<dyn MmioDevice>) -> Result<(), MmioOverlap> {
        self.mmio.add(base, len, device)
    }

    /// The first exit the guest requested, if any (the run should end).
    pub fn exit_request(&self) -> Option<ExitRequest> {
        self.exit
    }

    /// COM1.
    pub fn uart(&self) -> &Uart {
        &self.uart
    }

    /// The 8259A pair.
    pub fn pic(&self) -> &Pic {
        &self.pic
    }

    /// The RTC (NMI mask, current date).
    pub fn rtc(&self) -> &Rtc {
        &self.rtc
    }

    /// The fw_cfg device (to add files).
    pub fn fw_cfg_mut(&mut self) -> &mut FwCfg {
        &mut self.fw_cfg
    }

    /// PCI bus 0 (to add functions).
    pub fn pci_mut(&mut self) -> &mut PciBus {
        &mut self.pci
    }

    /// The debug ports (POST code).
    pub fn debug_ports(&self) -> &DebugPorts {
        &self.debug
    }

    /// The separate 0xE9 console, when configured.
    pub fn e9_output(&self) -> Option<&CharOut> {
        self.e9.as_ref()
    }

    /// Flushes every output sink (at the end of a run).
    pub fn flush(&mut self) {
        self.uart.flush();
        if let Some(e9) = &mut self.e9 {
            e9.flush();
        }
    }

    /// The virtual time the devices were last moved to (ns).
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves every device to virtual time `now_ns` (never backwards) and updates IRQ lines.
    pub fn set_time(&mut self, now_ns: u64) {
        self.now = self.now.max(now_ns);
        self.pit.advance(self.now);
        self.rtc.advance(self.now);
        self.sync_irqs();
    }

    /// The earliest virtual time (ns) at which a device has something to do, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        [self.pit.next_deadline(), self.rtc.next_deadline()].into_iter().flatten().min()
    }

    /// Carries device interrupt outputs to the PIC's inputs.
    fn sync_irqs(&mut self) {
        if self.pit.take_irq0_edge() {
            self.pic.pulse_irq(PIT_IRQ);
        }
        self.pic.set_irq(COM1_IRQ, self.uart.irq_level());
        self.pic.set_irq(RTC_IRQ, self.rtc.irq_level());
    }

    fn request_exit(&mut self, request: ExitRequest) {
        self.exit.get_or_insert(request);
    }

    /// A byte read from a byte-decoding device.
    fn read8(&mut self, port: u16) -> u8 {
        match port {
            p if (COM1_BASE..COM1_BASE + 8).contains(&p) => self.uart.read(p - COM1_BASE),
            p if DebugPorts::claims(p) => self.debug.read(p, 1) as u8,
            p if Pic::claims(p) => self.pic.read(p),
            p if Pit::claims(p) => self.pit.read(p),
            p if Rtc::claims(p) => self.rtc.read(p),
            FW_CFG_DATA => self.fw_cfg.read_data(),
            p if AcpiPm::claims(p) => self.pm.read(p, self.now),
            _ => 0xFF,
        }
    }

    /// A byte written to a byte-decoding device.
    fn write8(&mut self, port: u16, value: u8) {
        match port {
            p if (COM1_BASE..COM1_BASE + 8).contains(&p) => self.uart.write(p - COM1_BASE, value),
            p if DebugPorts::claims(p) => {
                let action = self.debug.write(p, 1, value.into());
                self.debug_action(action);
            }
            p if Pic::claims(p) => self.pic.write(p, value),
            p if Pit::claims(p) => self.pit.write(p, value),
            p if Rtc::claims(p) => self.rtc.write(p, value),
            p if AcpiPm::claims(p) => {
                if let Some(request) = self.pm.write(p, value) {
                    self.request_exit(request);
                }
            }
            _ => {} // fw_cfg data writes are ignored
        }
    }

    fn debug_action(&mut self, action: DebugAction) {
        match action {
            DebugAction::None => {}
            DebugAction::Exit(request) => self.request_exit(request),
            DebugAction::Console(byte) => match &mut self.e9 {
                Some(e9) => e9.put(byte),
                None => self.uart.echo(byte),
            },
        }
    }

    /// A read from a port that decodes whole accesses wider than a byte, if `port` is one.
    fn wide_read(&mut self, port: u16, size: u8) -> Option<u32> {
        if (DEBUG_EXIT_PORT..DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE).contains(&port) {
            return Some(self.debug.read(port, size));
        }
        if port == FW_CFG_SELECTOR {
            return Some(ones(size)); // write-only
        }
        self.pci.claims(port, size).then(|| self.pci.read(port, size))
    }

    /// A write to a port that decodes whole accesses; `false` if `port` is not one.
    fn wide_write(&mut self, port: u16, size: u8, value: u32) -> bool {
        if (DEBUG_EXIT_PORT..DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE).contains(&port) {
            let action = self.debug.write(port, size, value);
            self.debug_action(action);
        } else if port == FW_CFG_SELECTOR {
            self.fw_cfg.select(value as u16);
        } else if self.pci.claims(port, size) {
            self.pci.write(port, size, value);
        } else {
            return false;
        }
        true
    }
}

impl Bus for PcBus {
    fn io_read(&mut self, _cpu: CpuIndex, port: u16, size: u8) -> u32 {
        let v = match self.wide_read(port, size) {
            Some(v) => v & ones(size),
            None => {
                (0..size).fold(0, |v, i| v | u32::from(self.read8(port.wrapping_add(i.into()))) << (8 * i))
            }
        };
        self.sync_irqs();
        v
    }

    fn io_write(&mut self, _cpu: CpuIndex, port: u16, size: u8, value: u32) {
        if !self.wide_write(port, size, value & ones(size)) {
            for i in 0..size {
                self.write8(port.wrapping_add(i.into()), (value >> (8 * i)) as u8);
            }
        }
        self.sync_irqs();
    }

    fn pending_interrupt(&mut self, cpu: CpuIndex) -> bool {
        cpu == BSP && self.pic.has_interrupt()
    }

    fn acknowledge_interrupt(&mut self, cpu: CpuIndex) -> u8 {
        if cpu != BSP {
            return 0xFF;
        }
        let vector = self.pic.acknowledge();
        self.sync_irqs();
        vector
    }

    fn mmio_read(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8) -> u64 {
        self.mmio.read(cpu, addr, size).unwrap_or(hvbench_mmu::bus::ones(size))
    }

    fn mmio_write(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8, value: u64) {
        self.mmio.write(cpu, addr, size, value);
    }
}
