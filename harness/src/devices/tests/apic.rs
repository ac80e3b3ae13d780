//! Local APICs, the IOAPIC and the APIC bus, programmed through the `Bus` as a driver would
//! (SDM Vol. 3A chapter 11; 82093AA data sheet). Times are virtual cycles (1 ns each).

use hvbench_mmu::{Bus, MsrAccess, PhysAddr};

use super::*;
use crate::devices::lapic::{APIC_BASE_EN, APIC_BASE_EXTD, APIC_DEFAULT_BASE, APIC_VERSION, Startup};

const APIC: u64 = APIC_DEFAULT_BASE;

fn smp_bus(cpus: u16) -> PcBus {
    PcBus::new(PcBusConfig { serial_sink: SerialSink::buffer(), cpus, ..Default::default() })
}

fn apic_write(b: &mut PcBus, cpu: usize, reg: u64, v: u32) {
    b.mmio_write(cpu, PhysAddr(APIC + reg), 4, v.into());
}

fn apic_read(b: &mut PcBus, cpu: usize, reg: u64) -> u32 {
    b.mmio_read(cpu, PhysAddr(APIC + reg), 4) as u32
}

/// Software-enables `cpu`'s APIC (SVR = 0x1FF) as every OS does first.
fn enable(b: &mut PcBus, cpu: usize) {
    apic_write(b, cpu, 0xF0, 0x1FF);
}

/// Takes every interrupt `cpu` has pending at once: (vector, EOI'd).
fn take_all(b: &mut PcBus, cpu: usize) -> Vec<u8> {
    let mut v = Vec::new();
    while b.pending_interrupt(cpu) {
        v.push(b.acknowledge_interrupt(cpu));
        apic_write(b, cpu, 0xB0, 0);
    }
    v
}

/// Moves `cpu`'s clock in `step`-cycle steps to `end`, recording when each interrupt came.
fn run_clock(b: &mut PcBus, cpu: usize, from: u64, end: u64, step: u64) -> Vec<(u64, u8)> {
    let mut got = Vec::new();
    let mut t = from;
    while t <= end {
        b.set_clock(cpu, t, t);
        for v in take_all(b, cpu) {
            got.push((t, v));
        }
        t += step;
    }
    got
}

#[test]
fn id_version_and_reset_state() {
    let mut b = smp_bus(4);
    assert_eq!(apic_read(&mut b, 2, 0x20), 2 << 24, "APIC ID = vCPU index in bits 31:24");
    assert_eq!(apic_read(&mut b, 2, 0x30), APIC_VERSION);
    assert_eq!(APIC_VERSION & 0xFF, 0x14);
    assert_eq!(apic_read(&mut b, 2, 0xE0), 0xFFFF_FFFF, "DFR resets to all ones");
    assert_eq!(apic_read(&mut b, 2, 0xF0), 0xFF, "AP: SVR 0xFF, software-disabled");
    assert_eq!(apic_read(&mut b, 2, 0x350), 0x1_0000, "AP LVTs masked");
    assert_eq!(apic_read(&mut b, 0, 0x350), 0x8700, "BSP: virtual wire, LINT0 ExtINT");
    // Software-disabled: LVT mask bits stay set.
    apic_write(&mut b, 2, 0x320, 0x40);
    assert_eq!(apic_read(&mut b, 2, 0x320), 0x1_0040);
}

#[test]
fn one_shot_timer_fires_once_at_initial_count_times_divider() {
    let mut b = smp_bus(1);
    b.set_clock(0, 1000, 1000);
    apic_write(&mut b, 0, 0x3E0, 0x3); // divide by 16
    apic_write(&mut b, 0, 0x320, 0x40); // one-shot, vector 0x40
    apic_write(&mut b, 0, 0x380, 100); // 100 ticks = 1600 cycles
    assert_eq!(b.next_deadline(), Some(2600));
    b.set_clock(0, 1000 + 16 * 25, 1000 + 16 * 25);
    assert_eq!(apic_read(&mut b, 0, 0x390), 75, "current count after 25 ticks");
    let got = run_clock(&mut b, 0, 1000, 10_000, 100);
    assert_eq!(got, vec![(2600, 0x40)]);
    assert_eq!(apic_read(&mut b, 0, 0x390), 0);
    assert_eq!(b.lapic_deadline(0), None);
}

#[test]
fn periodic_timer_reloads() {
    let mut b = smp_bus(1);
    apic_write(&mut b, 0, 0x3E0, 0xB); // divide by 1
    apic_write(&mut b, 0, 0x320, 0x2_0041); // periodic, vector 0x41
    apic_write(&mut b, 0, 0x380, 1000);
    let got = run_clock(&mut b, 0, 0, 5_050, 50);
    assert_eq!(got, vec![(1000, 0x41), (2000, 0x41), (3000, 0x41), (4000, 0x41), (5000, 0x41)]);
    b.set_clock(0, 5_300, 5_300);
    assert_eq!(apic_read(&mut b, 0, 0x390), 700);
    // Masking keeps it counting without interrupts.
    apic_write(&mut b, 0, 0x320, 0x3_0041);
    assert!(run_clock(&mut b, 0, 5_300, 9_000, 50).is_empty());
    assert_eq!(b.lapic_deadline(0), Some(10_000));
}

#[test]
fn tsc_deadline_timer() {
    let mut b = smp_bus(1);
    let offset = 1 << 40; // the TSC runs ahead of the cycle count
    b.set_clock(0, 100, 100 + offset);
    // Not in TSC-deadline mode: the MSR reads 0 and ignores writes.
    assert_eq!(b.msr_write(0, 0x6E0, offset + 500), MsrAccess::Done(0));
    assert_eq!(b.msr_read(0, 0x6E0), MsrAccess::Done(0));
    apic_write(&mut b, 0, 0x320, 0x4_0042); // TSC-deadline mode, vector 0x42
    let deadline = offset + 100 + 2000;
    b.msr_write(0, 0x6E0, deadline);
    assert_eq!(b.msr_read(0, 0x6E0), MsrAccess::Done(deadline));
    assert_eq!(b.lapic_deadline(0), Some(2100));
    let mut got = Vec::new();
    for t in (100..5000).step_by(100) {
        b.set_clock(0, t, t + offset);
        got.extend(take_all(&mut b, 0).into_iter().map(|v| (t, v)));
    }
    assert_eq!(got, vec![(2100, 0x42)]);
    assert_eq!(b.msr_read(0, 0x6E0), MsrAccess::Done(0), "cleared when it fires");
    // A deadline in the past fires at once; writing 0 disarms.
    b.msr_write(0, 0x6E0, 1);
    assert_eq!(take_all(&mut b, 0), vec![0x42]);
    b.msr_write(0, 0x6E0, offset + 10_000);
    b.msr_write(0, 0x6E0, 0);
    assert_eq!(b.lapic_deadline(0), None);
}

#[test]
fn tpr_and_cr8_hold_off_lower_classes() {
    let mut b = smp_bus(1);
    apic_write(&mut b, 0, 0x80, 0x50);
    assert_eq!(b.cr8_read(0), Some(5));
    apic_write(&mut b, 0, 0x300, 0x4_4045); // self IPI, vector 0x45
    assert!(!b.pending_interrupt(0), "class 4 <= TPR class 5");
    b.cr8_write(0, 3);
    assert_eq!(apic_read(&mut b, 0, 0x80), 0x30, "TPR[7:4] = CR8");
    assert!(b.pending_interrupt(0));
    assert_eq!(b.acknowledge_interrupt(0), 0x45);
    assert_eq!(apic_read(&mut b, 0, 0x100 + 0x20), 1 << 5, "ISR bit 0x45");
    assert_eq!(apic_read(&mut b, 0, 0xA0), 0x40, "PPR = ISRV class");
    apic_write(&mut b, 0, 0x300, 0x4_4044);
    assert!(!b.pending_interrupt(0), "same class as the one in service");
    apic_write(&mut b, 0, 0xB0, 0);
    assert_eq!(b.acknowledge_interrupt(0), 0x44);
}

#[test]
fn ipis_fixed_self_all_excluding_self_and_nmi() {
    let mut b = smp_bus(4);
    for c in 0..4 {
        enable(&mut b, c);
    }
    // Fixed, physical destination 2.
    apic_write(&mut b, 0, 0x310, 2 << 24);
    apic_write(&mut b, 0, 0x300, 0x0050);
    assert_eq!(apic_read(&mut b, 0, 0x300) & (1 << 12), 0, "delivery status idle");
    assert_eq!((0..4).map(|c| b.pending_interrupt(c)).collect::<Vec<_>>(), [false, false, true, false]);
    assert_eq!(take_all(&mut b, 2), vec![0x50]);
    // Self.
    apic_write(&mut b, 3, 0x300, 0x4_0051);
    assert_eq!(take_all(&mut b, 3), vec![0x51]);
    // All excluding self, from 1.
    apic_write(&mut b, 1, 0x300, 0xC_0052);
    assert_eq!((0..4).map(|c| take_all(&mut b, c)).collect::<Vec<_>>(), [vec![0x52], vec![], vec![0x52], vec![0x52]]);
    // All including self.
    apic_write(&mut b, 1, 0x300, 0x8_0053);
    assert!((0..4).all(|c| take_all(&mut b, c) == [0x53]));
    // NMI to 3.
    apic_write(&mut b, 0, 0x310, 3 << 24);
    apic_write(&mut b, 0, 0x300, 0x0400);
    assert!(b.pending_nmi(3) && !b.pending_nmi(0));
    b.acknowledge_nmi(3);
    assert!(!b.pending_nmi(3));
    // An illegal vector is not sent and sets ESR bit 5 (after the ESR write latches it).
    apic_write(&mut b, 0, 0x300, 0x8_0005);
    apic_write(&mut b, 0, 0x280, 0);
    assert_eq!(apic_read(&mut b, 0, 0x280), 1 << 5);
    assert!((0..4).all(|c| !b.pending_interrupt(c) || c == 0));
}

#[test]
fn logical_flat_cluster_and_lowest_priority() {
    let mut b = smp_bus(4);
    for c in 0..4 {
        enable(&mut b, c);
        apic_write(&mut b, c, 0xD0, (1 << c) << 24); // flat: one bit each
    }
    apic_write(&mut b, 0, 0x310, 0x06 << 24);
    apic_write(&mut b, 0, 0x300, 0x0860); // logical, fixed
    assert_eq!((0..4).map(|c| take_all(&mut b, c)).collect::<Vec<_>>(), [vec![], vec![0x60], vec![0x60], vec![]]);
    // Lowest priority among 1, 2, 3: cpu 2 has the lowest TPR, then a tie goes to the lower ID.
    apic_write(&mut b, 1, 0x80, 0x20);
    apic_write(&mut b, 3, 0x80, 0x20);
    apic_write(&mut b, 0, 0x310, 0x0E << 24);
    apic_write(&mut b, 0, 0x300, 0x0961);
    assert_eq!((0..4).map(|c| take_all(&mut b, c)).collect::<Vec<_>>(), [vec![], vec![], vec![0x61], vec![]]);
    apic_write(&mut b, 2, 0x80, 0x20);
    apic_write(&mut b, 0, 0x300, 0x0961);
    assert_eq!((0..4).map(|c| take_all(&mut b, c)).collect::<Vec<_>>(), [vec![], vec![0x61], vec![], vec![]]);
    // Cluster model: cluster 1 members 0x1 and 0x2.
    for (c, ldr) in [(0, 0x01), (1, 0x11), (2, 0x12), (3, 0x21)] {
        apic_write(&mut b, c, 0xE0, 0x0FFF_FFFF);
        apic_write(&mut b, c, 0xD0, ldr << 24);
    }
    apic_write(&mut b, 0, 0x310, 0x13 << 24);
    apic_write(&mut b, 0, 0x300, 0x0862);
    assert_eq!((0..4).map(|c| take_all(&mut b, c)).collect::<Vec<_>>(), [vec![], vec![0x62], vec![0x62], vec![]]);
}

#[test]
fn init_and_startup_are_queued_for_the_machine() {
    let mut b = smp_bus(2);
    apic_write(&mut b, 0, 0x310, 1 << 24);
    apic_write(&mut b, 0, 0x300, 0xC500); // INIT, level assert
    apic_write(&mut b, 0, 0x300, 0x8500); // INIT level de-assert: no effect
    apic_write(&mut b, 0, 0x300, 0x0608); // SIPI, vector 8
    assert_eq!(b.take_startup(1), Some(Startup::Init));
    assert_eq!(b.take_startup(1), Some(Startup::Sipi(8)));
    assert_eq!(b.take_startup(1), None);
    assert_eq!(b.take_startup(0), None);
}

#[test]
fn x2apic_mode_msrs() {
    let mut b = smp_bus(3);
    let base = APIC_DEFAULT_BASE | APIC_BASE_EN;
    assert_eq!(b.msr_read(1, 0x802), MsrAccess::Fault, "x2APIC MSRs fault in xAPIC mode");
    assert!(b.apic_base_write(1, base, base | APIC_BASE_EXTD));
    assert!(b.apic_base_write(2, base, base | APIC_BASE_EXTD));
    assert_eq!(b.mmio_read(1, PhysAddr(APIC + 0x30), 4), 0xFFFF_FFFF, "no MMIO in x2APIC mode");
    assert_eq!(b.msr_read(1, 0x802), MsrAccess::Done(1));
    assert_eq!(b.msr_read(2, 0x80D), MsrAccess::Done(1 << 2), "LDR from the x2APIC ID");
    assert_eq!(b.msr_read(1, 0x80B), MsrAccess::Fault, "EOI is write-only");
    assert_eq!(b.msr_read(1, 0x809), MsrAccess::Fault, "no APR in x2APIC mode");
    assert_eq!(b.msr_write(1, 0x802, 5), MsrAccess::Fault, "ID is read-only");
    assert_eq!(b.msr_write(1, 0x808, 1 << 32), MsrAccess::Fault, "upper half reserved");
    assert!(!b.apic_base_write(1, base | APIC_BASE_EXTD, base), "x2APIC -> xAPIC is invalid");
    b.msr_write(1, 0x80F, 0x1FF);
    b.msr_write(2, 0x80F, 0x1FF);
    b.msr_write(1, 0x83F, 0x70); // SELF IPI
    assert!(b.pending_interrupt(1));
    assert_eq!(b.acknowledge_interrupt(1), 0x70);
    assert_eq!(b.msr_write(1, 0x80B, 0), MsrAccess::Done(0));
    // ICR as one MSR: physical destination 2 in bits 63:32.
    b.msr_write(1, 0x830, (2 << 32) | 0x71);
    assert!(b.pending_interrupt(2) && !b.pending_interrupt(1));
    // Logical x2APIC destination: cluster 0, bit 2.
    b.msr_write(1, 0x830, (0b100 << 32) | 0x872);
    assert_eq!(take_all_x2(&mut b, 2), vec![0x72, 0x71]);
}

fn take_all_x2(b: &mut PcBus, cpu: usize) -> Vec<u8> {
    let mut v = Vec::new();
    while b.pending_interrupt(cpu) {
        v.push(b.acknowledge_interrupt(cpu));
        b.msr_write(cpu, 0x80B, 0);
    }
    v
}

/// IOAPIC redirection entry `pin` (low, high).
fn ioapic_route(b: &mut PcBus, pin: u32, low: u32, high: u32) {
    b.mmio_write(0, PhysAddr(0xFEC0_0000), 4, (0x10 + 2 * pin).into());
    b.mmio_write(0, PhysAddr(0xFEC0_0010), 4, low.into());
    b.mmio_write(0, PhysAddr(0xFEC0_0000), 4, (0x11 + 2 * pin).into());
    b.mmio_write(0, PhysAddr(0xFEC0_0010), 4, high.into());
}

#[test]
fn ioapic_registers() {
    let mut b = smp_bus(4);
    b.mmio_write(0, PhysAddr(0xFEC0_0000), 4, 1);
    assert_eq!(b.mmio_read(0, PhysAddr(0xFEC0_0010), 4), 0x0017_0020);
    b.mmio_write(0, PhysAddr(0xFEC0_0000), 4, 0);
    assert_eq!(b.mmio_read(0, PhysAddr(0xFEC0_0010), 4), 4 << 24, "ID = CPU count, as in the MADT");
    b.mmio_write(0, PhysAddr(0xFEC0_0000), 4, 0x10 + 2 * 23);
    assert_eq!(b.mmio_read(0, PhysAddr(0xFEC0_0010), 4), 0x1_0000, "entries reset masked");
}

#[test]
fn ioapic_routes_pit_irq0_through_pin_2() {
    let mut b = smp_bus(2);
    enable(&mut b, 1);
    ioapic_route(&mut b, 2, 0x30, 1 << 24); // vector 0x30, fixed, edge, physical APIC 1
    outb(&mut b, 0x43, 0x34); // channel 0, lo/hi, mode 2
    outb(&mut b, 0x40, 0xA9);
    outb(&mut b, 0x41 - 1, 0x04); // 0x04A9 = 1193 ticks: 999.8 us
    let mut got = 0;
    let mut t = 0;
    while t < 10_000_000 {
        t = b.next_deadline().unwrap();
        b.set_time(t);
        assert!(b.lapic(0).unwrap().deliverable().is_none(), "not routed to the BSP's APIC");
        for v in take_all(&mut b, 1) {
            assert_eq!(v, 0x30);
            got += 1;
        }
    }
    assert!((10..=11).contains(&got), "one interrupt per ~1 ms over 10 ms, got {got}");
}

#[test]
fn ioapic_level_triggered_remote_irr_and_eoi() {
    let mut b = smp_bus(1);
    // COM1 IRQ4 level, active high, vector 0x34 to APIC 0.
    ioapic_route(&mut b, 4, 0x8034, 0);
    outb(&mut b, 0x3FC, 0x08); // MCR OUT2
    outb(&mut b, 0x3F9, 0x02); // IER: THR empty -> IRQ4 asserted
    assert!(b.pending_interrupt(0));
    assert_eq!(b.acknowledge_interrupt(0), 0x34);
    assert_ne!(b.ioapic().entry(4) & (1 << 14), 0, "remote IRR set");
    assert_eq!(apic_read(&mut b, 0, 0x180 + 0x10), 1 << 20, "TMR bit 0x34 set: level");
    b.set_time(10);
    assert!(!b.pending_interrupt(0), "no redelivery while remote IRR is set");
    apic_write(&mut b, 0, 0xB0, 0); // EOI, broadcast to the IOAPIC
    assert!(b.pending_interrupt(0), "still asserted: delivered again");
    assert_eq!(b.acknowledge_interrupt(0), 0x34);
    outb(&mut b, 0x3F9, 0x00); // line drops
    apic_write(&mut b, 0, 0xB0, 0);
    assert_eq!(b.ioapic().entry(4) & (1 << 14), 0);
    assert!(!b.pending_interrupt(0));
}

#[test]
fn pic_reaches_the_bsp_only_through_virtual_wire() {
    let mut b = smp_bus(2);
    for (port, v) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE)] {
        outb(&mut b, port, v);
    }
    outb(&mut b, 0x43, 0x34);
    outb(&mut b, 0x40, 0x10);
    outb(&mut b, 0x40, 0x00);
    let t = b.next_deadline().unwrap();
    b.set_time(t);
    assert!(b.pending_interrupt(0) && !b.pending_interrupt(1));
    // Masking LINT0 cuts the PIC off.
    apic_write(&mut b, 0, 0x350, 0x1_8700);
    assert!(!b.pending_interrupt(0));
    // A globally disabled APIC passes INTR straight through.
    assert!(b.apic_base_write(0, 0, APIC_DEFAULT_BASE | (1 << 8)));
    assert!(b.pending_interrupt(0));
    assert_eq!(b.acknowledge_interrupt(0), 0x20);
}
