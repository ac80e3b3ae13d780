//! Port I/O: IN and OUT (SDM Vol. 1 chapter 19 "Input/Output"; 19.5 protection: IOPL and the
//! TSS I/O permission bitmap). String forms (INS/OUTS) live with the string instructions.

use super::Handler;
use crate::cpu::Exec;
use crate::exception::{Exception, Result};
use crate::ext::Intercept;
use crate::state::Mode;
use iced_x86::{Instruction, Mnemonic, OpKind, Register};

pub(super) fn handler(i: &Instruction) -> Option<Handler> {
    Some(match i.mnemonic() {
        Mnemonic::In => in_,
        Mnemonic::Out => out,
        _ => return None,
    })
}

impl Exec<'_> {
    /// Checks that the current privilege may access `size` ports at `port` (SDM 19.5.2):
    /// CPL <= IOPL, else every bit for the ports in the TSS I/O bitmap must be clear.
    pub fn check_io(&mut self, port: u16, size: u32) -> Result<()> {
        let mode = self.cpu.state.mode();
        if mode == Mode::Real || (mode != Mode::Virtual8086 && self.cpu.state.cpl <= self.iopl()) {
            return Ok(());
        }
        let tr = self.cpu.state.tr;
        let gp = Exception::gp0();
        // Only a 32/64-bit TSS has a bitmap.
        if tr.typ() & 8 == 0 || tr.limit < 0x67 {
            return Err(gp.into());
        }
        let map = self.read_system(tr.base.wrapping_add(0x66), 2)?;
        let byte = map + (port as u64 >> 3);
        if byte + 1 > tr.limit as u64 {
            return Err(gp.into());
        }
        let bits = self.read_system(self.wrap_linear(tr.base.wrapping_add(byte)), 2)?;
        let mask = ((1u64 << size) - 1) << (port & 7);
        if bits & mask != 0 {
            return Err(gp.into());
        }
        Ok(())
    }
}

fn port_of(x: &Exec<'_>, i: &Instruction, n: u32) -> u16 {
    if i.op_kind(n) == OpKind::Register { x.reg(Register::DX) as u16 } else { i.immediate8() as u16 }
}

/// Asks VMX non-root operation whether the access exits (after the TSS-bitmap check, which has
/// priority: SDM Vol. 3C 26.1.1).
fn io_intercept(x: &mut Exec<'_>, i: &Instruction, port: u16, size: u32, input: bool) -> Result<()> {
    let immediate = i.op_kind(if input { 1 } else { 0 }) != OpKind::Register;
    x.intercept(Intercept::Io { len: i.len() as u8, port, size: size as u8, input, immediate }, 0)?;
    Ok(())
}

fn in_(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = i.op0_register().size() as u32;
    let port = port_of(x, i, 1);
    x.check_io(port, size)?;
    if x.cpu.vmx_non_root {
        io_intercept(x, i, port, size, true)?;
    }
    x.sync_bus_clock();
    let v = x.bus.io_read(x.cpu.config.index, port, size as u8);
    x.after_device_read();
    x.set_reg(i.op0_register(), v as u64);
    Ok(())
}

fn out(x: &mut Exec<'_>, i: &Instruction) -> Result<()> {
    let size = i.op1_register().size() as u32;
    let port = port_of(x, i, 0);
    x.check_io(port, size)?;
    if x.cpu.vmx_non_root {
        io_intercept(x, i, port, size, false)?;
    }
    let v = x.reg(i.op1_register()) as u32;
    x.sync_bus_clock();
    x.bus.io_write(x.cpu.config.index, port, size as u8, v);
    x.after_device_write();
    Ok(())
}
