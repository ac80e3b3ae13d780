//! VMX layer: VMX instructions, the VMCS fields with their types, capability reporting, the
//! control bits, the EPT builder and the world switch.
//!
//! Intel SDM revision cited throughout: Order Number 325462-083US (March 2024). Vol. 3C
//! chapters 25 "Virtual Machine Control Structures", 27 "VM Entries", 28 "VM Exits", 29 "VMX
//! Support for Address Translation", 31 "VMX Instruction Reference"; Vol. 3D Appendix A "VMX
//! Capability Reporting Facility", B "Field Encoding in VMCS", C "VMX Basic Exit Reasons".

pub mod caps;
pub mod controls;
pub mod ept;
pub mod fields;
pub mod insn;
pub mod run;
