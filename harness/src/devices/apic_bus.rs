//! The APIC bus: carries interrupt messages (IPIs from a local APIC's ICR, redirections from
//! the IOAPIC) to the local APICs they name (SDM Vol. 3A, 325462-084US, 11.6 "Issuing
//! Interprocessor Interrupts", 11.6.2 "Determining IPI Destination", 11.6.2.4 "Lowest
//! Priority Delivery Mode").
//!
//! Only globally enabled APICs (IA32_APIC_BASE.EN=1) take part. Lowest-priority delivery
//! picks, among the targets that are software-enabled, the one with the lowest arbitration
//! priority (APR), and among equals the lowest APIC ID: a fixed, deterministic rule (the
//! SDM leaves the tie-break to the model; no focus-processor check). ExtINT, SMI and the
//! reserved delivery modes are dropped (no target model for them). Delivery is immediate.

use super::lapic::{ApicMessage, DeliveryMode, Destination, LocalApic, Startup};

/// The indices of the APICs `msg` addresses, in index order (before lowest-priority
/// arbitration). `sender` is the sending APIC's index (None for the IOAPIC).
pub fn targets(apics: &[LocalApic], sender: Option<usize>, msg: &ApicMessage) -> Vec<usize> {
    (0..apics.len())
        .filter(|&i| {
            let a = &apics[i];
            a.hw_enabled()
                && match msg.dest {
                    Destination::SelfOnly => sender == Some(i),
                    Destination::AllIncludingSelf => true,
                    Destination::AllExcludingSelf => sender != Some(i),
                    Destination::Physical(d) => a.matches_physical(d, msg.x2apic_format),
                    Destination::Logical(d) => a.matches_logical(d, msg.x2apic_format),
                }
        })
        .collect()
}

/// Delivers `msg` from `sender`; returns the indices of the APICs that received it.
pub fn deliver(apics: &mut [LocalApic], sender: Option<usize>, msg: &ApicMessage) -> Vec<usize> {
    let mut to = targets(apics, sender, msg);
    if msg.mode == DeliveryMode::LowestPriority {
        to = to
            .into_iter()
            .filter(|&i| apics[i].sw_enabled())
            .min_by_key(|&i| (apics[i].apr() >> 4, apics[i].apic_id(), i))
            .into_iter()
            .collect();
    }
    for &i in &to {
        let a = &mut apics[i];
        match msg.mode {
            DeliveryMode::Fixed | DeliveryMode::LowestPriority => a.accept_fixed(msg.vector, msg.level_triggered),
            DeliveryMode::Nmi => a.accept_nmi(),
            // INIT level de-assert only resynchronises arbitration IDs (always = APIC ID here).
            DeliveryMode::Init if msg.level_triggered && !msg.assert => {}
            DeliveryMode::Init => a.accept_startup(Startup::Init),
            DeliveryMode::StartUp => a.accept_startup(Startup::Sipi(msg.vector)),
            DeliveryMode::Smi | DeliveryMode::ExtInt | DeliveryMode::Reserved => {}
        }
    }
    to
}
