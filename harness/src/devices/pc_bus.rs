//! The PC's device bus: every port and MMIO access the CPUs make that is not RAM.
//!
//! Port map (IBM PC/AT Technical Reference, "System I/O Address Map", plus the QEMU/Bochs
//! debug ports): 0x20-0x21 and 0xA0-0xA1 PICs, 0x40-0x43 PIT, 0x61 system control port B,
//! 0x70-0x71 RTC, 0x80 POST, 0xE9 Bochs console, 0xF4 isa-debug-exit, 0x3F8-0x3FF COM1,
//! 0x4D0-0x4D1 ELCR, 0x510-0x511 fw_cfg, 0x600-0x60B ACPI PM, 0xCF8/0xCFC PCI
//! configuration, 0x8900 shutdown; the reset ports (see [`super::reset`]): 0x60/0x64 (the
//! 8042's reset line), 0x92 (fast reset), 0xCF9 (reset control, byte accesses).
//!
//! Interrupt wiring: PIT OUT0 edges on IRQ0, COM1 on IRQ4, RTC on IRQ8. Every ISA line goes
//! to both the 8259A pair and the IOAPIC (see [`super::ioapic`]); the IOAPIC's pins are the
//! ISA IRQ numbers except that IRQ0 is pin 2 (the MADT's interrupt source override).
//!
//! Local APICs (see [`super::lapic`]): one per vCPU, each seen by its own vCPU at the
//! address its IA32_APIC_BASE names (the bus knows which vCPU makes an access), or as x2APIC
//! MSRs. Messages between them (IPIs, IOAPIC redirections) travel over
//! [`super::apic_bus`]. The PIC's INTR reaches vCPU 0 (the BSP) through LINT0 when LVT LINT0
//! is unmasked in ExtINT mode (virtual-wire mode, the state the BSP's APIC starts in here,
//! as a PC BIOS leaves it) or when its APIC is globally disabled (then INTR goes straight to
//! the core); the APIC's own IRR is served before the PIC, as in QEMU. LINT0 in fixed or NMI
//! mode and LINT1 have no source in this machine. `pending_interrupt(cpu)` is the APIC's
//! IRR against its PPR (SDM Vol. 3A 11.8.4) plus that ExtINT path; `acknowledge_interrupt`
//! moves IRR to ISR (or runs the PIC's INTA). INIT and SIPI are queued per vCPU for the
//! machine ([`PcBus::take_startup`]); NMIs are `pending_nmi`. A level-triggered EOI is
//! broadcast to the IOAPIC.
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
use hvbench_mmu::{Bus, CpuIndex, MsrAccess, PhysAddr};

use super::acpi::pm::AcpiPm;
use super::apic_bus;
use super::ioapic::{IOAPIC_BASE, IOAPIC_SIZE, IoApic};
use super::lapic::{DeliveryMode, Effect, LocalApic, MSR_TSC_DEADLINE, Startup, lvt};
use super::debug_exit::{DEBUG_EXIT_PORT, DEBUG_EXIT_SIZE, DebugAction, DebugPorts, ExitRequest, ones};
use super::fw_cfg::{FW_CFG_DATA, FW_CFG_SELECTOR, FwCfg};
use super::mmio::{MmioDevice, MmioMap, MmioOverlap};
use super::pci::PciBus;
use super::pic::Pic;
use super::pit::{PIT_IRQ, Pit};
use super::reset::ResetPorts;
use super::rtc::{CmosMemory, RTC_IRQ, Rtc, RtcConfig};
use super::sink::{CharOut, SerialSink};
use super::uart::{COM1_BASE, COM1_IRQ, Uart, UartState};

/// The vCPU that the PIC's INTR reaches.
const BSP: CpuIndex = 0;
/// The IOAPIC pin of ISA IRQ0 (the MADT's interrupt source override).
const PIT_PIN: usize = 2;

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

/// Every device's state, without output sinks and without devices added with
/// [`PcBus::add_mmio`] (those are the embedder's; a snapshot does not see them).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PcBusState {
    uart: UartState,
    debug: DebugPorts,
    pic: Pic,
    pit: Pit,
    rtc: Rtc,
    fw_cfg: FwCfg,
    pci_address: u32,
    /// Every present PCI function's 256 configuration bytes, by (device, function).
    pci_config: Vec<((u8, u8), Vec<u8>)>,
    pm: AcpiPm,
    reset: ResetPorts,
    lapics: Vec<LocalApic>,
    ioapic: IoApic,
    exit: Option<ExitRequest>,
    now: u64,
}

impl PcBusState {
    /// The number of local APICs (vCPUs) the state describes.
    pub fn cpus(&self) -> usize {
        self.lapics.len()
    }
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
    reset: ResetPorts,
    e9: Option<CharOut>,
    mmio: MmioMap,
    lapics: Vec<LocalApic>,
    ioapic: IoApic,
    exit: Option<ExitRequest>,
    now: u64,
    /// Port writes since the machine last took them, while it watches them (not state).
    io_log: Option<Vec<IoWrite>>,
}

/// One OUT as the bus saw it (see [`PcBus::watch_io`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoWrite {
    /// The vCPU that wrote.
    pub cpu: CpuIndex,
    /// The port.
    pub port: u16,
    /// Access size in bytes.
    pub size: u8,
    /// The value.
    pub value: u32,
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
            reset: ResetPorts::new(),
            e9: cfg.e9_sink.map(CharOut::new),
            mmio: MmioMap::new(),
            lapics: (0..u32::from(cfg.cpus))
                .map(|i| {
                    let mut a = LocalApic::new(i, i == 0);
                    if i == 0 {
                        a.set_virtual_wire();
                    }
                    a
                })
                .collect(),
            ioapic: IoApic::new(u32::from(cfg.cpus)),
            exit: None,
            now: 0,
            io_log: None,
        }
    }

    /// Starts (`true`) or stops recording port writes for [`PcBus::take_io_writes`].
    pub fn watch_io(&mut self, on: bool) {
        self.io_log = on.then(Vec::new);
    }

    /// The port writes recorded since the last call.
    pub fn take_io_writes(&mut self) -> Vec<IoWrite> {
        self.io_log.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Takes the output sinks (COM1's, the separate 0xE9 console's) and the COM1 input the
    /// guest has not read, leaving the bus with none: what a machine reset hands to the
    /// machine that follows.
    pub fn take_outputs(&mut self) -> (SerialSink, Option<SerialSink>, Vec<u8>) {
        let input = self.uart.unread_input().to_vec();
        let serial = self.uart.output_mut().take_sink();
        let e9 = self.e9.as_mut().map(CharOut::take_sink);
        (serial, e9, input)
    }

    /// COM1, mutable (to tap its output).
    pub fn uart_mut(&mut self) -> &mut Uart {
        &mut self.uart
    }

    /// Every device's state (see [`PcBusState`]).
    pub fn state(&self) -> PcBusState {
        PcBusState {
            uart: self.uart.state(),
            debug: self.debug.clone(),
            pic: self.pic.clone(),
            pit: self.pit.clone(),
            rtc: self.rtc.clone(),
            fw_cfg: self.fw_cfg.clone(),
            pci_address: self.pci.address(),
            pci_config: self.pci.config_spaces(),
            pm: self.pm.clone(),
            reset: self.reset.clone(),
            lapics: self.lapics.clone(),
            ioapic: self.ioapic.clone(),
            exit: self.exit,
            now: self.now,
        }
    }

    /// Puts every device back in the state [`PcBus::state`] returned. The output sinks stay
    /// as they are. The caller checks that the state has as many local APICs as this bus.
    pub fn set_state(&mut self, s: &PcBusState) {
        self.uart.set_state(&s.uart);
        self.debug = s.debug.clone();
        self.pic = s.pic.clone();
        self.pit = s.pit.clone();
        self.rtc = s.rtc.clone();
        self.fw_cfg = s.fw_cfg.clone();
        self.pci.set_address(s.pci_address);
        self.pci.set_config_spaces(&s.pci_config);
        self.pm = s.pm.clone();
        self.reset = s.reset.clone();
        self.lapics = s.lapics.clone();
        self.ioapic = s.ioapic.clone();
        self.exit = s.exit;
        self.now = s.now;
    }

    /// The local APIC of vCPU `cpu`.
    pub fn lapic(&self, cpu: CpuIndex) -> Option<&LocalApic> {
        self.lapics.get(cpu)
    }

    /// The local APIC of vCPU `cpu`, mutable (the machine's INIT, tests).
    pub fn lapic_mut(&mut self, cpu: CpuIndex) -> Option<&mut LocalApic> {
        self.lapics.get_mut(cpu)
    }

    /// The IOAPIC.
    pub fn ioapic(&self) -> &IoApic {
        &self.ioapic
    }

    /// The next INIT or SIPI for vCPU `cpu` that the machine has to carry out.
    pub fn take_startup(&mut self, cpu: CpuIndex) -> Option<Startup> {
        self.lapics.get_mut(cpu).and_then(LocalApic::take_startup)
    }

    /// When vCPU `cpu`'s APIC timer fires next, in that vCPU's cycles.
    pub fn lapic_deadline(&self, cpu: CpuIndex) -> Option<u64> {
        self.lapics.get(cpu).and_then(LocalApic::next_deadline)
    }

    /// Whether an NMI is pending anywhere or a device can still send one (the machine's
    /// deadlock check: a vCPU halted with IF=0 only wakes for NMI or INIT).
    pub fn nmi_possible(&self) -> bool {
        self.lapics.iter().any(LocalApic::nmi_pending) || self.ioapic.routes_nmi()
    }

    /// Whether the PIC's INTR reaches vCPU `cpu`'s core (BSP only: APIC globally disabled,
    /// or LVT LINT0 unmasked in ExtINT mode).
    fn pic_reaches(&self, cpu: CpuIndex) -> bool {
        if cpu != BSP {
            return false;
        }
        match self.lapics.get(cpu) {
            None => true,
            Some(a) => {
                let l = a.lint0();
                !a.hw_enabled() || (l & lvt::MASKED == 0 && DeliveryMode::from_bits(l.into()) == DeliveryMode::ExtInt)
            }
        }
    }

    /// Carries out what a local APIC register access asked for.
    fn apic_effect(&mut self, cpu: CpuIndex, e: Effect) {
        match e {
            Effect::None => {}
            Effect::Send(msg) => {
                apic_bus::deliver(&mut self.lapics, Some(cpu), &msg);
            }
            Effect::LevelEoi(v) => {
                self.ioapic.eoi(v);
                self.route_ioapic();
            }
        }
    }

    /// Sends the IOAPIC's messages over the APIC bus.
    fn route_ioapic(&mut self) {
        for msg in self.ioapic.take_messages() {
            apic_bus::deliver(&mut self.lapics, None, &msg);
        }
    }

    fn lapic_claims(&self, cpu: CpuIndex, addr: PhysAddr) -> Option<u64> {
        let base = self.lapics.get(cpu)?.mmio_base()?;
        (addr.0 >= base && addr.0 - base < 0x1000).then(|| addr.0 - base)
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

    /// The earliest virtual time (ns) at which a device has something to do, if any: the
    /// PIT, the RTC and every local APIC timer (whose deadlines are in their vCPU's cycles,
    /// which equal virtual time for a vCPU that sleeps).
    pub fn next_deadline(&self) -> Option<u64> {
        let apics = self.lapics.iter().filter_map(LocalApic::next_deadline);
        self.device_deadline().into_iter().chain(apics).min()
    }

    /// The earliest virtual time (ns), after the time of the last [`PcBus::set_time`], at
    /// which a device on the machine's clock may change an interrupt line: PIT OUT0's next
    /// rising edge, the RTC's next enabled periodic, update or alarm event. COM1 has no
    /// deadline (its lines change only with guest accesses: no baud-rate timing), nor have
    /// the PICs and the IOAPIC (they pass on what the others raise). The local APIC timers
    /// run on their own vCPU's clock: see [`PcBus::lapic_deadline`]. A machine ends each
    /// run of a vCPU here, so that the interrupt is seen at the first instruction boundary
    /// at or after this time, however the run is cut otherwise.
    pub fn device_deadline(&self) -> Option<u64> {
        [self.pit.next_deadline(), self.rtc.next_deadline()].into_iter().flatten().min()
    }

    /// Carries device interrupt outputs to the PIC's and the IOAPIC's inputs.
    fn sync_irqs(&mut self) {
        if self.pit.take_irq0_edge() {
            self.pic.pulse_irq(PIT_IRQ);
            self.ioapic.pulse(PIT_PIN);
        }
        let (com1, rtc) = (self.uart.irq_level(), self.rtc.irq_level());
        self.pic.set_irq(COM1_IRQ, com1);
        self.pic.set_irq(RTC_IRQ, rtc);
        self.ioapic.set_line(COM1_IRQ.into(), com1);
        self.ioapic.set_line(RTC_IRQ.into(), rtc);
        self.route_ioapic();
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
            p if ResetPorts::claims(p) => self.reset.read(p),
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
            p if ResetPorts::claims(p) => {
                if let Some(source) = self.reset.write(p, value) {
                    self.request_exit(ExitRequest::Reset(source));
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

    fn io_write(&mut self, cpu: CpuIndex, port: u16, size: u8, value: u32) {
        if let Some(log) = &mut self.io_log {
            log.push(IoWrite { cpu, port, size, value: value & ones(size) });
        }
        if !self.wide_write(port, size, value & ones(size)) {
            for i in 0..size {
                self.write8(port.wrapping_add(i.into()), (value >> (8 * i)) as u8);
            }
        }
        self.sync_irqs();
    }

    fn pending_interrupt(&mut self, cpu: CpuIndex) -> bool {
        self.lapics.get(cpu).is_some_and(|a| a.deliverable().is_some()) || (self.pic_reaches(cpu) && self.pic.has_interrupt())
    }

    fn acknowledge_interrupt(&mut self, cpu: CpuIndex) -> u8 {
        if let Some(a) = self.lapics.get_mut(cpu)
            && a.deliverable().is_some()
        {
            return a.acknowledge();
        }
        if !self.pic_reaches(cpu) {
            return self.lapics.get_mut(cpu).map_or(0xFF, LocalApic::acknowledge);
        }
        let vector = self.pic.acknowledge();
        self.sync_irqs();
        vector
    }

    fn pending_nmi(&mut self, cpu: CpuIndex) -> bool {
        self.lapics.get(cpu).is_some_and(LocalApic::nmi_pending)
    }

    fn acknowledge_nmi(&mut self, cpu: CpuIndex) {
        if let Some(a) = self.lapics.get_mut(cpu) {
            a.acknowledge_nmi();
        }
    }

    fn set_clock(&mut self, cpu: CpuIndex, cycles: u64, tsc: u64) {
        if let Some(a) = self.lapics.get_mut(cpu) {
            a.set_clock(cycles, tsc);
        }
        self.set_time(cycles);
    }

    fn msr_read(&mut self, cpu: CpuIndex, msr: u32) -> MsrAccess {
        let Some(a) = self.lapics.get_mut(cpu) else { return MsrAccess::NotClaimed };
        match msr {
            MSR_TSC_DEADLINE => MsrAccess::Done(a.read_tsc_deadline()),
            0x800..=0x8FF => a.msr_read(msr).map_or(MsrAccess::Fault, MsrAccess::Done),
            _ => MsrAccess::NotClaimed,
        }
    }

    fn msr_write(&mut self, cpu: CpuIndex, msr: u32, value: u64) -> MsrAccess {
        let Some(a) = self.lapics.get_mut(cpu) else { return MsrAccess::NotClaimed };
        match msr {
            MSR_TSC_DEADLINE => {
                a.write_tsc_deadline(value);
                MsrAccess::Done(0)
            }
            0x800..=0x8FF => match a.msr_write(msr, value) {
                Ok(e) => {
                    self.apic_effect(cpu, e);
                    MsrAccess::Done(0)
                }
                Err(_) => MsrAccess::Fault,
            },
            _ => MsrAccess::NotClaimed,
        }
    }

    fn apic_base_write(&mut self, cpu: CpuIndex, _old: u64, new: u64) -> bool {
        self.lapics.get_mut(cpu).is_none_or(|a| a.write_apic_base(new))
    }

    fn cr8_read(&mut self, cpu: CpuIndex) -> Option<u64> {
        self.lapics.get(cpu).map(|a| u64::from(a.tpr() >> 4))
    }

    fn cr8_write(&mut self, cpu: CpuIndex, value: u64) {
        if let Some(a) = self.lapics.get_mut(cpu) {
            a.set_cr8(value);
        }
    }

    fn mmio_read(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8) -> u64 {
        if let Some(off) = self.lapic_claims(cpu, addr) {
            return self.lapics[cpu].mmio_read(off, size);
        }
        if addr.0.wrapping_sub(IOAPIC_BASE) < IOAPIC_SIZE {
            return self.ioapic.mmio_read(addr.0 - IOAPIC_BASE, size);
        }
        self.mmio.read(cpu, addr, size).unwrap_or(hvbench_mmu::bus::ones(size))
    }

    fn mmio_write(&mut self, cpu: CpuIndex, addr: PhysAddr, size: u8, value: u64) {
        if let Some(off) = self.lapic_claims(cpu, addr) {
            let e = self.lapics[cpu].mmio_write(off, size, value);
            self.apic_effect(cpu, e);
            return;
        }
        if addr.0.wrapping_sub(IOAPIC_BASE) < IOAPIC_SIZE {
            self.ioapic.mmio_write(addr.0 - IOAPIC_BASE, size, value);
            self.route_ioapic();
            return;
        }
        self.mmio.write(cpu, addr, size, value);
    }
}
