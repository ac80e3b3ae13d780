//! Arbitrary port I/O and time steps: every device answers, none panics, time never goes
//! backwards for them, and two identical runs read identical values (determinism).

use proptest::prelude::*;

use super::*;

/// Ports worth hitting: every claimed one and a few neighbours.
const PORTS: &[u16] = &[
    0x20, 0x21, 0x40, 0x41, 0x42, 0x43, 0x61, 0x70, 0x71, 0x80, 0xA0, 0xA1, 0xE9, 0xF4, 0xF5, 0x3F8, 0x3F9,
    0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x4D0, 0x4D1, 0x510, 0x511, 0x600, 0x602, 0x604, 0x605, 0x608,
    0xCF8, 0xCF9, 0xCFC, 0xCFD, 0xCFE, 0xCFF, 0x8900,
];

#[derive(Debug, Clone)]
enum Op {
    Read(u16, u8),
    Write(u16, u8, u32),
    Advance(u64),
    Ack,
}

fn op() -> impl Strategy<Value = Op> {
    let port = proptest::sample::select(PORTS);
    let size = proptest::sample::select(&[1u8, 2, 4][..]);
    prop_oneof![
        (port.clone(), size.clone()).prop_map(|(p, s)| Op::Read(p, s)),
        (port, size, any::<u32>()).prop_map(|(p, s, v)| Op::Write(p, s, v)),
        (0..50_000_000u64).prop_map(Op::Advance),
        Just(Op::Ack),
    ]
}

fn run(ops: &[Op]) -> Vec<u64> {
    let mut b = PcBus::new(PcBusConfig {
        serial_sink: SerialSink::buffer(),
        serial_input: b"input".to_vec(),
        ram_size: 64 << 20,
        cpus: 2,
        ..Default::default()
    });
    let mut seen = Vec::new();
    let mut now = 0u64;
    for op in ops {
        match *op {
            Op::Read(p, s) => seen.push(u64::from(b.io_read(0, p, s))),
            Op::Write(p, s, v) => b.io_write(0, p, s, v),
            Op::Advance(d) => {
                now += d;
                if let Some(t) = b.next_deadline() {
                    assert!(t > b.now(), "a deadline lies in the future");
                }
                b.set_time(now);
            }
            Op::Ack => {
                if b.pending_interrupt(0) {
                    seen.push(u64::from(b.acknowledge_interrupt(0)));
                }
            }
        }
    }
    seen.push(b.exit_request().map_or(u64::MAX, |e| e.status().into()));
    seen
}

proptest! {
    #![proptest_config(hvbench_testkit::deterministic_config(256))]

    #[test]
    fn arbitrary_io_is_answered_deterministically(ops in proptest::collection::vec(op(), 1..200)) {
        prop_assert_eq!(run(&ops), run(&ops));
    }
}
