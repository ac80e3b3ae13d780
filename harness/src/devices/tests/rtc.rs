//! MC146818A RTC, against its data sheet (registers A-D, BCD/binary and 12/24-hour formats,
//! periodic rates) and the CMOS memory bytes SeaBIOS reads.

use super::pit::run_until;
use super::*;
use crate::devices::rtc::RtcConfig;

fn cmos(b: &mut PcBus, index: u8) -> u8 {
    outb(b, 0x70, index);
    inb(b, 0x71)
}

fn set_cmos(b: &mut PcBus, index: u8, v: u8) {
    outb(b, 0x70, index);
    outb(b, 0x71, v);
}

fn bus_with_ram(ram: u64, cpus: u16) -> PcBus {
    PcBus::new(PcBusConfig { ram_size: ram, cpus, ..Default::default() })
}

#[test]
fn bcd_time_after_virtual_seconds() {
    let mut b = bus();
    assert_eq!(cmos(&mut b, 0x0B), 0x02, "24-hour, BCD");
    assert_eq!(cmos(&mut b, 0x0A), 0x26);
    assert_eq!(cmos(&mut b, 0x0D), 0x80, "valid RAM and time");
    // Start: 2026-01-01T00:00:00Z, a Thursday. 1 day 1 h 1 min 1 s later:
    b.set_time(90_061 * 1_000_000_000 + 500_000_000);
    let regs: Vec<u8> =
        [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].iter().map(|&i| cmos(&mut b, i)).collect();
    assert_eq!(regs, vec![0x01, 0x01, 0x01, 6, 0x02, 0x01, 0x26, 0x20], "Fri 2026-01-02 01:01:01");
}

#[test]
fn binary_and_12_hour_formats() {
    let mut b = PcBus::new(PcBusConfig {
        rtc: RtcConfig { start_unix_seconds: 1_767_225_600 + 13 * 3600 + 59 * 60 },
        ..Default::default()
    });
    set_cmos(&mut b, 0x0B, 0x04); // binary, 12-hour
    assert_eq!(cmos(&mut b, 0x04), 0x80 | 1, "1 PM");
    assert_eq!(cmos(&mut b, 0x02), 59);
    assert_eq!(cmos(&mut b, 0x09), 26);
    set_cmos(&mut b, 0x0B, 0x00); // BCD, 12-hour
    assert_eq!(cmos(&mut b, 0x02), 0x59);
}

#[test]
fn setting_the_clock_with_set_bit() {
    let mut b = bus();
    set_cmos(&mut b, 0x0B, 0x82); // SET, 24-hour, BCD
    for (i, v) in
        [(0x32, 0x19), (0x09, 0x99), (0x08, 0x12), (0x07, 0x31), (0x04, 0x23), (0x02, 0x59), (0x00, 0x59)]
    {
        set_cmos(&mut b, i, v);
    }
    b.set_time(5_000_000_000);
    assert_eq!(cmos(&mut b, 0x00), 0x59, "updates inhibited while SET");
    set_cmos(&mut b, 0x0B, 0x02);
    b.set_time(6_000_000_000);
    let regs: Vec<u8> = [0x00, 0x02, 0x04, 0x07, 0x08, 0x09, 0x32].iter().map(|&i| cmos(&mut b, i)).collect();
    assert_eq!(regs, vec![0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x20], "2000-01-01 00:00:00");
    assert_eq!(cmos(&mut b, 0x06), 7, "2000-01-01 was a Saturday");
}

#[test]
fn periodic_interrupt_at_1024_hz() {
    let mut b = bus();
    for (port, v) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x28)] {
        outb(&mut b, port, v);
    }
    for (port, v) in [(0xA1, 0x02), (0xA1, 0x01), (0x21, 0x00), (0xA1, 0x00)] {
        outb(&mut b, port, v);
    }
    set_cmos(&mut b, 0x0A, 0x26); // RS = 6: 976.5625 µs
    set_cmos(&mut b, 0x0B, 0x42); // PIE
    assert_eq!(b.next_deadline(), Some(976_563));
    let vectors = run_until(&mut b, 1_000_000_000);
    assert_eq!(vectors.len(), 1024);
    assert!(vectors.iter().all(|&v| v == 0x28), "IRQ8 on the slave's IR0");
}

#[test]
fn status_c_flags_and_clear_on_read() {
    let mut b = bus();
    set_cmos(&mut b, 0x0A, 0x2F); // RS = 15: 500 ms, interrupts disabled
    b.set_time(500_000_000);
    assert_eq!(cmos(&mut b, 0x0C), 0x40, "PF without PIE: no IRQF");
    assert_eq!(cmos(&mut b, 0x0C), 0x00, "reading C cleared it");
    set_cmos(&mut b, 0x0B, 0x12); // UIE
    b.set_time(1_000_000_000);
    assert_eq!(cmos(&mut b, 0x0C), 0x80 | 0x40 | 0x10, "IRQF, PF, UF");
}

#[test]
fn alarm_fires_on_matching_time() {
    let mut b = bus();
    set_cmos(&mut b, 0x01, 0x05); // second 5
    set_cmos(&mut b, 0x03, 0xC0); // any minute
    set_cmos(&mut b, 0x05, 0xFF); // any hour
    set_cmos(&mut b, 0x0A, 0x20); // no periodic rate: PF stays clear
    set_cmos(&mut b, 0x0B, 0x22); // AIE
    b.set_time(4_000_000_000);
    assert_eq!(cmos(&mut b, 0x0C) & 0x20, 0);
    assert_eq!(b.next_deadline(), Some(5_000_000_000));
    b.set_time(5_000_000_000);
    assert_eq!(cmos(&mut b, 0x0C), 0x80 | 0x20 | 0x10, "IRQF, AF (UF without UIE)");
}

#[test]
fn update_in_progress_before_each_second() {
    let mut b = bus();
    b.set_time(500_000_000);
    assert_eq!(cmos(&mut b, 0x0A) & 0x80, 0);
    b.set_time(999_900_000);
    assert_eq!(cmos(&mut b, 0x0A) & 0x80, 0x80, "within 244 µs of the update");
}

#[test]
fn memory_size_bytes_as_seabios_reads_them() {
    let mut b = bus_with_ram(128 << 20, 4);
    assert_eq!((cmos(&mut b, 0x15), cmos(&mut b, 0x16)), (0x80, 0x02), "640 KiB");
    assert_eq!((cmos(&mut b, 0x17), cmos(&mut b, 0x18)), (0xFF, 0xFF), "127 MiB capped at 65535 KiB");
    assert_eq!((cmos(&mut b, 0x30), cmos(&mut b, 0x31)), (0xFF, 0xFF));
    assert_eq!((cmos(&mut b, 0x34), cmos(&mut b, 0x35)), (0x00, 0x07), "112 MiB / 64 KiB = 0x700");
    assert_eq!((cmos(&mut b, 0x5B), cmos(&mut b, 0x5C), cmos(&mut b, 0x5D)), (0, 0, 0));
    assert_eq!(cmos(&mut b, 0x5F), 3, "CPUs - 1");

    let mut b = bus_with_ram(4 << 30, 1);
    assert_eq!((cmos(&mut b, 0x34), cmos(&mut b, 0x35)), (0x00, 0xBF), "(3 GiB - 16 MiB) / 64 KiB = 0xBF00");
    assert_eq!(
        (cmos(&mut b, 0x5B), cmos(&mut b, 0x5C), cmos(&mut b, 0x5D)),
        (0x00, 0x40, 0x00),
        "1 GiB / 64 KiB"
    );

    let mut b = bus_with_ram(8 << 20, 1);
    assert_eq!((cmos(&mut b, 0x17), cmos(&mut b, 0x18)), (0x00, 0x1C), "7 MiB = 7168 KiB");
}

#[test]
fn index_bit_7_masks_nmi_and_cmos_ram_keeps_bytes() {
    let mut b = bus();
    outb(&mut b, 0x70, 0x80 | 0x40);
    assert!(b.rtc().nmi_disabled());
    outb(&mut b, 0x71, 0xA5);
    outb(&mut b, 0x70, 0x40);
    assert!(!b.rtc().nmi_disabled());
    assert_eq!(inb(&mut b, 0x71), 0xA5);
}

#[test]
fn alarm_flag_does_not_depend_on_how_time_moved() {
    // The alarm (second 5, any minute, any hour) without AIE: no deadline, so the clock may
    // move to 7 s in one step or several; AF must be set either way (the data sheet compares
    // at every update cycle, one per second).
    let alarm_at_5 = |b: &mut PcBus| {
        set_cmos(b, 0x01, 0x05);
        set_cmos(b, 0x03, 0xC0);
        set_cmos(b, 0x05, 0xFF);
        set_cmos(b, 0x0A, 0x20);
        set_cmos(b, 0x0B, 0x02); // 24-hour BCD, no interrupts
    };
    let mut once = bus();
    alarm_at_5(&mut once);
    assert_eq!(once.device_deadline(), None, "no interrupt enabled: no deadline");
    once.set_time(7_500_000_000);
    let mut steps = bus();
    alarm_at_5(&mut steps);
    for t in [1_200_000_000, 4_999_999_999, 5_000_000_000, 7_500_000_000] {
        steps.set_time(t);
    }
    assert_eq!(cmos(&mut once, 0x0C), 0x20 | 0x10, "AF and UF after one jump over second 5");
    assert_eq!(cmos(&mut steps, 0x0C), 0x20 | 0x10, "AF and UF after several steps");
}
