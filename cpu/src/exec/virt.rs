//! The VMX instructions (SDM Vol. 3C chapter 31 "VMX Instruction Reference"): VMXON, VMXOFF,
//! VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH, VMRESUME, INVEPT, INVVPID, VMCALL,
//! VMFUNC. The core only routes them to the installed extension ([`crate::ext`]); without one
//! they raise #UD, as on a processor that lacks VMX.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use iced_x86::{Instruction, Mnemonic};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    match i.mnemonic() {
        Mnemonic::Vmxon
        | Mnemonic::Vmxoff
        | Mnemonic::Vmclear
        | Mnemonic::Vmptrld
        | Mnemonic::Vmptrst
        | Mnemonic::Vmread
        | Mnemonic::Vmwrite
        | Mnemonic::Vmlaunch
        | Mnemonic::Vmresume
        | Mnemonic::Invept
        | Mnemonic::Invvpid
        | Mnemonic::Vmcall
        | Mnemonic::Vmfunc => Some(vmx_instruction),
        _ => None,
    }
}

fn vmx_instruction(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    x.with_ext(|ext, x| ext.execute(x, i)).unwrap_or(Err(Exception::ud().into()))
}
