//! The bus itself: unclaimed ports and MMIO, wide accesses to byte devices, the MMIO map.

use std::cell::RefCell;
use std::rc::Rc;

use hvbench_mmu::PhysAddr;

use super::*;
use crate::devices::MmioDevice;

#[test]
fn unclaimed_ports_and_mmio_read_all_ones() {
    let mut b = bus();
    assert_eq!(b.io_read(0, 0x1234, 1), 0xFF);
    assert_eq!(b.io_read(0, 0x1234, 2), 0xFFFF);
    assert_eq!(b.io_read(0, 0x1234, 4), 0xFFFF_FFFF);
    assert_eq!(b.mmio_read(0, PhysAddr(0xFED0_0000), 8), u64::MAX);
    assert_eq!(b.mmio_read(0, PhysAddr(0xFED0_0000), 4), 0xFFFF_FFFF);
}

#[test]
fn word_access_to_a_byte_device_is_split_low_byte_first() {
    let mut b = bus();
    b.io_write(0, 0x3FB, 1, 0x80); // DLAB
    b.io_write(0, 0x3F8, 2, 0x0201); // DLL = 1, DLM = 2
    assert_eq!(b.uart().divisor(), 0x0201);
    assert_eq!(b.io_read(0, 0x3F8, 2), 0x0201);
}

/// One access: offset, size, the value written (`None` for a read).
type Access = (u64, u8, Option<u64>);

/// Records the accesses it sees.
struct Probe(Rc<RefCell<Vec<Access>>>);

impl MmioDevice for Probe {
    fn mmio_read(&mut self, _: usize, offset: u64, size: u8) -> u64 {
        self.0.borrow_mut().push((offset, size, None));
        0x1122_3344
    }
    fn mmio_write(&mut self, _: usize, offset: u64, size: u8, value: u64) {
        self.0.borrow_mut().push((offset, size, Some(value)));
    }
}

#[test]
fn mmio_devices_see_offsets_into_their_range() {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut b = bus();
    b.add_mmio(0xFED0_0000, 0x1000, Box::new(Probe(log.clone()))).unwrap();
    assert_eq!(b.mmio_read(0, PhysAddr(0xFED0_0010), 4), 0x1122_3344);
    b.mmio_write(0, PhysAddr(0xFED0_0FFC), 4, 7);
    assert_eq!(b.mmio_read(0, PhysAddr(0xFED0_1000), 4), 0xFFFF_FFFF, "one past the range");
    assert_eq!(*log.borrow(), vec![(0x10, 4, None), (0xFFC, 4, Some(7))]);
    let overlap = b.add_mmio(0xFECF_F000, 0x1001, Box::new(Probe(log.clone()))).unwrap_err();
    assert_eq!((overlap.other_base, overlap.other_end), (0xFED0_0000, 0xFED0_1000));
    b.add_mmio(0xFECF_F000, 0x1000, Box::new(Probe(log))).unwrap();
}
