//! The PC's device bus: every port and MMIO access the CPUs make that is not RAM.
//!
//! Port map (IBM PC/AT Technical Reference, "System I/O Address Map", plus the QEMU/Bochs
//! debug ports): 0x80 POST, 0xE9 Bochs console, 0xF4 isa-debug-exit, 0x3F8-0x3FF COM1,
//! 0x8900 shutdown. Devices that decode bytes see a 2- or 4-byte access as consecutive
//! byte accesses, low byte first (what the ISA bus does with a wide cycle to an 8-bit
//! device); ports that decode wider accesses get them whole. Unclaimed ports read all ones
//! and ignore writes; unclaimed MMIO likewise.
//!
//! The bus owns virtual time for its devices: [`PcBus::set_time`] moves every device to `now`
//! (nanoseconds of virtual time) and [`PcBus::next_deadline`] tells the machine when the next
//! device event is due, so that a machine whose vCPUs all halt can jump there.

use hvbench_mmu::{Bus, CpuIndex, PhysAddr};

use super::debug_exit::{DebugAction, DebugPorts, ExitRequest, ones};
use super::mmio::{MmioDevice, MmioMap, MmioOverlap};
use super::sink::{CharOut, SerialSink};
use super::uart::{COM1_BASE, Uart};

/// What the machine plugs into the bus.
#[derive(Debug, Default)]
pub struct PcBusConfig {
    /// Where COM1's output goes.
    pub serial_sink: SerialSink,
    /// What COM1 receives.
    pub serial_input: Vec<u8>,
    /// Where port 0xE9 output goes; `None` shares COM1's sink.
    pub e9_sink: Option<SerialSink>,
}

/// The PC's devices behind one [`Bus`].
pub struct PcBus {
    uart: Uart,
    debug: DebugPorts,
    e9: Option<CharOut>,
    mmio: MmioMap,
    exit: Option<ExitRequest>,
    now: u64,
}

impl PcBus {
    /// A bus with every device in its reset state at virtual time 0.
    pub fn new(cfg: PcBusConfig) -> Self {
        Self {
            uart: Uart::new(cfg.serial_sink, cfg.serial_input),
            debug: DebugPorts::new(),
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
    }

    /// The earliest virtual time (ns) at which a device has something to do, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        None
    }

    fn request_exit(&mut self, request: ExitRequest) {
        self.exit.get_or_insert(request);
    }

    /// A byte read from a byte-decoding device.
    fn read8(&mut self, port: u16) -> u8 {
        match port {
            p if (COM1_BASE..COM1_BASE + 8).contains(&p) => self.uart.read(p - COM1_BASE),
            p if DebugPorts::claims(p) => self.debug.read(p, 1) as u8,
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
            _ => {}
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

    /// Whether `port` decodes accesses wider than a byte as one access.
    fn is_wide(port: u16) -> bool {
        use super::debug_exit::{DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE};
        (DEBUG_EXIT_PORT..DEBUG_EXIT_PORT + DEBUG_EXIT_SIZE).contains(&port)
    }

    fn wide_read(&mut self, port: u16, size: u8) -> u32 {
        self.debug.read(port, size)
    }

    fn wide_write(&mut self, port: u16, size: u8, value: u32) {
        let action = self.debug.write(port, size, value);
        self.debug_action(action);
    }
}

impl Bus for PcBus {
    fn io_read(&mut self, _cpu: CpuIndex, port: u16, size: u8) -> u32 {
        if Self::is_wide(port) {
            return self.wide_read(port, size) & ones(size);
        }
        (0..size).fold(0, |v, i| v | u32::from(self.read8(port.wrapping_add(i.into()))) << (8 * i))
    }

    fn io_write(&mut self, _cpu: CpuIndex, port: u16, size: u8, value: u32) {
        if Self::is_wide(port) {
            return self.wide_write(port, size, value & ones(size));
        }
        for i in 0..size {
            self.write8(port.wrapping_add(i.into()), (value >> (8 * i)) as u8);
        }
    }

    fn mmio_read(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8) -> u64 {
        self.mmio.read(cpu, addr, size).unwrap_or(hvbench_mmu::bus::ones(size))
    }

    fn mmio_write(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8, value: u64) {
        self.mmio.write(cpu, addr, size, value);
    }
}
