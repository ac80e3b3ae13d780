//! 8254, against the Intel 8254 data sheet (modes, latch and read-back commands) and the
//! sequences Linux uses (`setup_pit_timer`, `pit_calibrate_tsc`).

use super::*;
use crate::devices::pit::{PIT_HZ, ns_of_tick, ticks_at};

/// The PIC as Linux programs it, everything unmasked.
fn init_pic(b: &mut PcBus) {
    for (port, v) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x28)] {
        outb(b, port, v);
    }
    for (port, v) in [(0xA1, 0x02), (0xA1, 0x01), (0x21, 0x00), (0xA1, 0x00)] {
        outb(b, port, v);
    }
}

/// Jumps from deadline to deadline until `end` ns, acknowledging (and EOI-ing) every
/// interrupt; returns the vectors taken.
pub fn run_until(b: &mut PcBus, end: u64) -> Vec<u8> {
    let mut vectors = Vec::new();
    while let Some(t) = b.next_deadline().filter(|&t| t <= end) {
        b.set_time(t);
        while b.pending_interrupt(0) {
            let v = b.acknowledge_interrupt(0);
            vectors.push(v);
            if v >= 0x28 {
                outb(b, 0x70, 0x0C);
                inb(b, 0x71); // RTC: read C to clear IRQF
                outb(b, 0xA0, 0x20);
            }
            outb(b, 0x20, 0x20);
        }
    }
    b.set_time(end);
    vectors
}

#[test]
fn clock_conversion_is_1193182_hz() {
    assert_eq!(ticks_at(1_000_000_000), PIT_HZ);
    assert_eq!(ticks_at(ns_of_tick(12345)), 12345);
    assert_eq!(ticks_at(ns_of_tick(12345) - 1), 12344);
}

#[test]
fn mode_2_rate_generator_gives_one_irq0_per_period() {
    let mut b = bus();
    init_pic(&mut b);
    // Linux: LATCH = (1193182 + HZ/2) / HZ = 1193 for HZ = 1000.
    outb(&mut b, 0x43, 0x34); // channel 0, LSB then MSB, mode 2, binary
    outb(&mut b, 0x40, (1193 & 0xFF) as u8);
    outb(&mut b, 0x40, (1193 >> 8) as u8);
    assert_eq!(b.next_deadline(), Some(ns_of_tick(1193)));
    let vectors = run_until(&mut b, 1_000_000_000);
    // Rising OUT0 edges at 1193, 2386, ... ticks: floor(1193182 / 1193) = 1000 in one second.
    assert_eq!(vectors.len(), 1000);
    assert!(vectors.iter().all(|&v| v == 0x20));
}

#[test]
fn masked_irq0_is_not_delivered() {
    let mut b = bus();
    init_pic(&mut b);
    outb(&mut b, 0x21, 0x01);
    outb(&mut b, 0x43, 0x34);
    outb(&mut b, 0x40, 0x00);
    outb(&mut b, 0x40, 0x10);
    assert!(run_until(&mut b, 10_000_000).is_empty());
}

#[test]
fn mode_0_on_channel_2_drives_port_61_bit_5_for_calibration() {
    let mut b = bus();
    // pit_calibrate_tsc: gate on, speaker off; channel 2 mode 0 with a 50 ms count.
    let p61 = inb(&mut b, 0x61);
    outb(&mut b, 0x61, (p61 & !0x02) | 0x01);
    outb(&mut b, 0x43, 0xB0);
    let latch: u64 = PIT_HZ / (1000 / 50);
    assert_eq!(latch, 59659);
    outb(&mut b, 0x42, latch as u8);
    outb(&mut b, 0x42, (latch >> 8) as u8);
    assert_eq!(inb(&mut b, 0x61) & 0x20, 0, "OUT low while counting");
    let terminal = ns_of_tick(latch);
    assert!((49_999_000..=50_000_000).contains(&terminal), "{terminal}");
    b.set_time(terminal - 1);
    assert_eq!(inb(&mut b, 0x61) & 0x20, 0);
    b.set_time(terminal);
    assert_eq!(inb(&mut b, 0x61) & 0x20, 0x20, "OUT high at terminal count");
    assert_eq!(inb(&mut b, 0x61) & 0x03, 0x01, "gate and speaker bits read back");
}

#[test]
fn mode_0_with_gate_low_does_not_count() {
    let mut b = bus();
    outb(&mut b, 0x43, 0xB0);
    outb(&mut b, 0x42, 100);
    outb(&mut b, 0x42, 0);
    b.set_time(ns_of_tick(1000));
    assert_eq!(inb(&mut b, 0x61) & 0x20, 0, "gate 2 is low at reset");
    outb(&mut b, 0x61, 0x01);
    b.set_time(ns_of_tick(1099));
    assert_eq!(inb(&mut b, 0x61) & 0x20, 0);
    b.set_time(ns_of_tick(1100));
    assert_eq!(inb(&mut b, 0x61) & 0x20, 0x20);
}

#[test]
fn counter_latch_freezes_the_count_until_read() {
    let mut b = bus();
    outb(&mut b, 0x43, 0x34);
    outb(&mut b, 0x40, (1000 & 0xFF) as u8);
    outb(&mut b, 0x40, (1000 >> 8) as u8);
    b.set_time(ns_of_tick(250));
    outb(&mut b, 0x43, 0x00); // latch channel 0
    b.set_time(ns_of_tick(600));
    let count = u16::from(inb(&mut b, 0x40)) | (u16::from(inb(&mut b, 0x40)) << 8);
    assert_eq!(count, 750, "mode 2 counts N..1: 1000 - 250");
    let live = u16::from(inb(&mut b, 0x40)) | (u16::from(inb(&mut b, 0x40)) << 8);
    assert_eq!(live, 400, "after the latch is read, reads follow the counter");
}

#[test]
fn read_back_status_byte() {
    let mut b = bus();
    outb(&mut b, 0x43, 0x34);
    outb(&mut b, 0x43, 0xE2); // read-back: status only, channel 0
    assert_eq!(inb(&mut b, 0x40), 0x40 | 0x34 | 0x80, "null count, RW=3, mode 2, OUT high");
    outb(&mut b, 0x40, 0x10);
    outb(&mut b, 0x40, 0x00);
    outb(&mut b, 0x43, 0xC2); // read-back: count and status
    assert_eq!(inb(&mut b, 0x40), 0x34 | 0x80, "count loaded: null count clear");
    assert_eq!((inb(&mut b, 0x40), inb(&mut b, 0x40)), (0x10, 0x00));
}

#[test]
fn mode_3_square_wave_is_high_half_the_period() {
    let mut b = bus();
    outb(&mut b, 0x61, 0x01);
    outb(&mut b, 0x43, 0xB6); // channel 2, mode 3
    outb(&mut b, 0x42, 100);
    outb(&mut b, 0x42, 0);
    let start = 0;
    let out_at = |b: &mut PcBus, tick: u64| {
        b.set_time(ns_of_tick(start + tick));
        inb(b, 0x61) & 0x20 != 0
    };
    assert!(out_at(&mut b, 49));
    assert!(!out_at(&mut b, 50));
    assert!(!out_at(&mut b, 99));
    assert!(out_at(&mut b, 100));
}

#[test]
fn lsb_only_access_and_bcd() {
    let mut b = bus();
    outb(&mut b, 0x43, 0x15); // channel 0, LSB only, mode 2, BCD
    outb(&mut b, 0x40, 0x50); // 50 (BCD)
    b.set_time(ns_of_tick(20));
    assert_eq!(inb(&mut b, 0x40), 0x30, "BCD 50 - 20 = 30");
    assert_eq!(b.next_deadline(), Some(ns_of_tick(50)));
}

#[test]
fn port_61_refresh_bit_toggles_every_15085_ns() {
    let mut b = bus();
    let r0 = inb(&mut b, 0x61) & 0x10;
    b.set_time(15_085);
    let r1 = inb(&mut b, 0x61) & 0x10;
    assert_ne!(r0, r1);
}
