//! `Machine::run_until`: each kind of condition stops the machine right after what met it,
//! the stop is the same every time, and a stopped machine goes on exactly as an
//! uninterrupted run. The kernel is tests/kernels/pcdevices.S on 4 vCPUs (serial lines,
//! PIT IRQ0 on vector 0x20, APs that print and halt, isa-debug-exit), plus a few real-mode
//! instructions for an exception.

mod common;

use hvbench::machine::{Stop, Until};
use hvbench::{Machine, Outcome};
use hvbench_cpu::state::Activity;
use std::path::Path;

fn machine(elf: &Path) -> Machine {
    common::machine(elf, 4, Some(50_000_000), false)
}

fn text(m: &Machine) -> String {
    String::from_utf8(common::serial(m)).unwrap()
}

/// The uninterrupted run: serial output, steps, outcome.
fn whole(elf: &Path) -> (String, u64, Outcome) {
    let mut m = machine(elf);
    let o = m.run();
    (text(&m), m.steps(), o)
}

#[test]
fn serial_text_stops_right_after_its_last_byte_and_the_run_goes_on_unchanged() {
    let Some(elf) = common::assemble("kernels/pcdevices.S", "0x100000") else { return };
    let (full, steps, outcome) = whole(&elf);
    assert_eq!(outcome, Outcome::DebugExit(0x21));
    let mut m = machine(&elf);
    let stop = m.run_until(&[Until::serial("ap apic_id=00000002")]);
    assert_eq!(stop, Stop::Met { index: 0, cpu: Some(2) }, "AP 2 prints that line");
    assert!(text(&m).ends_with("ap apic_id=00000002"), "stopped right after the OUT of the last byte:\n{}", text(&m));
    // Same stop every time.
    let mut again = machine(&elf);
    assert_eq!(again.run_until(&[Until::serial("ap apic_id=00000002")]), stop);
    assert_eq!(again.steps(), m.steps());
    assert_eq!(again.cpus.iter().map(|c| c.state.clone()).collect::<Vec<_>>(), m.cpus.iter().map(|c| c.state.clone()).collect::<Vec<_>>());
    // Going on gives the uninterrupted run.
    assert_eq!(m.run(), outcome);
    assert_eq!((text(&m), m.steps()), (full, steps));
}

#[test]
fn port_write_halt_interrupt_and_steps() {
    let Some(elf) = common::assemble("kernels/pcdevices.S", "0x100000") else { return };
    let (full, steps, outcome) = whole(&elf);

    // The PIT's IRQ0, remapped by the kernel to vector 0x20, is delivered to the BSP after
    // fw_cfg's lines and before the PIT's.
    let mut m = machine(&elf);
    assert_eq!(m.run_until(&[Until::Interrupt(0x20)]), Stop::Met { index: 0, cpu: Some(0) });
    assert!(text(&m).ends_with("fw_cfg max_cpus=00000004\n"), "{}", text(&m));
    assert!(m.take_records().is_empty(), "records the machine's trace setting would not keep are dropped");

    // AP 1 halts after its line (its conditions listed after one that is never met).
    assert_eq!(m.run_until(&[Until::PortWrite { port: 0x1234, value: None }, Until::Halt(Some(1))]), Stop::Met { index: 1, cpu: Some(1) });
    assert_eq!(m.cpus[1].state.activity, Activity::Halted);
    assert!(text(&m).ends_with("ap apic_id=00000001\n"), "{}", text(&m));

    // isa-debug-exit: the write is met before the exit it asks for ends the run.
    assert_eq!(m.run_until(&[Until::PortWrite { port: 0xF4, value: Some(0x21) }]), Stop::Met { index: 0, cpu: Some(0) });
    assert_eq!(m.run(), outcome);
    assert_eq!((text(&m), m.steps()), (full.clone(), steps));

    // A step count stops exactly there, the same way every time; a condition never met lets
    // the run end. (A stop inside a piece may move a later PIT interrupt by a few steps, as
    // a budget stop does: the step total is not compared here, the timing-independent
    // transcript is.)
    let mut m = machine(&elf);
    assert_eq!(m.run_until(&[Until::Steps(12_345)]), Stop::Met { index: 0, cpu: None });
    assert_eq!(m.steps(), 12_345);
    let mut again = machine(&elf);
    assert_eq!(again.run_until(&[Until::Steps(12_345)]), Stop::Met { index: 0, cpu: None });
    assert_eq!(again.cpus[0].state, m.cpus[0].state);
    assert_eq!(m.run_until(&[Until::serial("never printed")]), Stop::Ended(outcome));
    assert_eq!(text(&m), full);
}

#[test]
fn exception_vector() {
    use hvbench_cpu::segment::SegReg;
    use hvbench_mmu::PhysAddr;
    let mut m = Machine::new(hvbench::MachineConfig { serial: hvbench::devices::SerialSink::buffer(), max_instructions: Some(1000), ..Default::default() }).unwrap();
    // Real mode at 0000:7C00: nop; nop; ud2. IVT entry 6 -> 0000:7D00: hlt.
    assert!(m.mem.write_bytes(PhysAddr(0x7C00), &[0x90, 0x90, 0x0F, 0x0B]));
    assert!(m.mem.write_bytes(PhysAddr(0x7D00), &[0xF4]));
    assert!(m.mem.write_bytes(PhysAddr(6 * 4), &[0x00, 0x7D, 0x00, 0x00]));
    let mut s = m.cpus[0].state.clone();
    s.seg[SegReg::Cs as usize].selector = 0;
    s.seg[SegReg::Cs as usize].base = 0;
    s.rip = 0x7C00;
    m.cpus[0].set_state(s);
    assert_eq!(m.run_until(&[Until::Exception(13), Until::Exception(6)]), Stop::Met { index: 1, cpu: Some(0) });
    // The piece of the delivery ran on to the handler's HLT.
    assert_eq!(m.cpus[0].state.rip, 0x7D01);
    assert_eq!(m.cpus[0].state.activity, Activity::Halted);
    assert_eq!(m.steps(), 4, "nop, nop, the #UD delivery, hlt");
    // Nothing else can happen: halted with IF=0.
    assert_eq!(m.run_until(&[Until::Exception(6)]), Stop::Ended(Outcome::Deadlock));
}
