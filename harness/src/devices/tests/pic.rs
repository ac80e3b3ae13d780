//! 8259A pair, against the Intel 8259A data sheet: the ICW sequence Linux's `init_8259A`
//! uses, fully nested priority, EOI ordering, OCW3 reads, cascade, spurious IR7/IR15.

use crate::devices::Pic;

/// Linux's init_8259A: master vectors 0x20, slave 0x28, everything unmasked.
fn linux_init() -> Pic {
    let mut p = Pic::new();
    p.write(0x21, 0xFF);
    p.write(0xA1, 0xFF);
    p.write(0x20, 0x11); // ICW1: edge, cascade, ICW4 needed
    p.write(0x21, 0x20); // ICW2: IR0-7 -> 0x20-0x27
    p.write(0x21, 0x04); // ICW3: slave on IR2
    p.write(0x21, 0x01); // ICW4: 8086 mode, normal EOI
    p.write(0xA0, 0x11);
    p.write(0xA1, 0x28);
    p.write(0xA1, 0x02); // ICW3: slave ID 2
    p.write(0xA1, 0x01);
    p.write(0x21, 0x00);
    p.write(0xA1, 0x00);
    p
}

const EOI: u8 = 0x20;
const READ_IRR: u8 = 0x0A;
const READ_ISR: u8 = 0x0B;

#[test]
fn reset_state_is_what_seabios_leaves() {
    let mut p = Pic::new();
    assert_eq!(p.vector_bases(), (0x08, 0x70));
    assert_eq!((p.read(0x21), p.read(0xA1)), (0xFB, 0xFF));
    p.raise_irq(0);
    assert!(!p.has_interrupt(), "IRQ0 is masked");
}

#[test]
fn icw1_clears_the_mask_and_icw2_sets_the_vector_base() {
    let mut p = Pic::new();
    p.write(0x20, 0x11);
    assert_eq!(p.read(0x21), 0x00, "ICW1 clears IMR");
    p.write(0x21, 0x27); // low 3 bits ignored in 8086 mode
    p.write(0x21, 0x04);
    p.write(0x21, 0x01);
    assert_eq!(p.vector_bases().0, 0x20);
    p.write(0x21, 0xA5);
    assert_eq!(p.read(0x21), 0xA5, "OCW1 after init is the mask");
}

#[test]
fn fully_nested_priority_and_eoi_ordering() {
    let mut p = linux_init();
    p.raise_irq(3);
    p.raise_irq(1);
    assert!(p.has_interrupt());
    assert_eq!(p.acknowledge(), 0x21, "IR1 outranks IR3");
    assert!(!p.has_interrupt(), "IR3 waits while IR1 is in service");
    p.raise_irq(0);
    assert_eq!(p.acknowledge(), 0x20, "IR0 outranks the in-service IR1: nested");
    p.write(0x20, READ_ISR);
    assert_eq!(p.read(0x20), 0b0000_0011);
    p.write(0x20, READ_IRR);
    assert_eq!(p.read(0x20), 0b0000_1000);
    p.write(0x20, EOI); // non-specific: the highest in service, IR0
    p.write(0x20, READ_ISR);
    assert_eq!(p.read(0x20), 0b0000_0010);
    assert!(!p.has_interrupt());
    p.write(0x20, EOI);
    assert_eq!(p.acknowledge(), 0x23);
    p.write(0x20, 0x60 | 3); // specific EOI for IR3
    assert_eq!(p.read(0x20), 0, "ISR empty (OCW3 read selection persists)");
}

#[test]
fn masked_requests_wait_in_irr() {
    let mut p = linux_init();
    p.write(0x21, 1 << 5);
    p.raise_irq(5);
    assert!(!p.has_interrupt());
    p.write(0x21, 0);
    assert_eq!(p.acknowledge(), 0x25);
}

#[test]
fn slave_interrupts_cascade_through_ir2() {
    let mut p = linux_init();
    p.raise_irq(12);
    assert!(p.has_interrupt());
    assert_eq!(p.acknowledge(), 0x2C);
    p.write(0x20, READ_ISR);
    p.write(0xA0, READ_ISR);
    assert_eq!((p.read(0x20), p.read(0xA0)), (0b100, 0b1_0000));
    p.write(0xA0, EOI);
    p.write(0x20, EOI);
    assert_eq!((p.read(0x20), p.read(0xA0)), (0, 0));
    // IRQ8 outranks IRQ3 (it rides on IR2).
    p.raise_irq(3);
    p.raise_irq(8);
    assert_eq!(p.acknowledge(), 0x28);
}

#[test]
fn requests_masked_before_inta_give_spurious_ir7_and_ir15() {
    let mut p = linux_init();
    p.raise_irq(5);
    assert!(p.has_interrupt());
    p.write(0x21, 1 << 5); // masked after INTR went up
    assert_eq!(p.acknowledge(), 0x27, "default IR7");
    p.write(0x20, READ_ISR);
    assert_eq!(p.read(0x20), 0, "a spurious IR7 sets no ISR bit");

    p.write(0x21, 0);
    p.write(0x20, EOI);
    assert_eq!(p.acknowledge(), 0x25, "the IR5 request stayed latched in IRR");
    p.write(0x20, EOI);
    p.raise_irq(10);
    assert!(p.has_interrupt());
    p.write(0xA1, 1 << 2); // the slave masks it; the master has latched IR2
    assert_eq!(p.acknowledge(), 0x2F, "default IR15 from the slave");
    p.write(0xA0, READ_ISR);
    assert_eq!((p.read(0x20), p.read(0xA0)), (0b100, 0), "the master's IR2 is in service");
}

#[test]
fn set_priority_rotates_the_order() {
    let mut p = linux_init();
    p.write(0x20, 0xC0 | 4); // OCW2 set priority: IR4 lowest, IR5 highest
    p.raise_irq(1);
    p.raise_irq(6);
    assert_eq!(p.acknowledge(), 0x26);
    p.write(0x20, 0xA0); // rotate on non-specific EOI: IR6 becomes lowest
    assert_eq!(p.acknowledge(), 0x21);
}

#[test]
fn poll_mode_reads_the_level_and_sets_isr() {
    let mut p = linux_init();
    p.raise_irq(6);
    p.write(0x20, 0x0C); // OCW3 poll
    assert_eq!(p.read(0x20), 0x80 | 6);
    p.write(0x20, READ_ISR);
    assert_eq!(p.read(0x20), 1 << 6);
    p.write(0x20, 0x0C);
    assert_eq!(p.read(0x20), 0, "nothing pending: bit 7 clear");
}

#[test]
fn auto_eoi_leaves_isr_clear() {
    let mut p = Pic::new();
    for (port, v) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x03), (0x21, 0x00)] {
        p.write(port, v);
    }
    p.raise_irq(4);
    assert_eq!(p.acknowledge(), 0x24);
    p.write(0x20, READ_ISR);
    assert_eq!(p.read(0x20), 0);
}

#[test]
fn elcr_keeps_reserved_bits_clear_and_level_mode_follows_the_line() {
    let mut p = linux_init();
    p.write(0x4D0, 0xFF);
    p.write(0x4D1, 0xFF);
    assert_eq!((p.read(0x4D0), p.read(0x4D1)), (0xF8, 0xDE));
    p.raise_irq(11);
    assert_eq!(p.acknowledge(), 0x2B);
    p.write(0xA0, EOI);
    p.write(0x20, EOI);
    assert!(p.has_interrupt(), "a level-triggered line still high requests again");
}
