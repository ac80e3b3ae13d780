//! Runs one instruction on the host CPU.
//!
//! A two-page mapping at the fixed address [`REGION`] holds a code page (prologue, the
//! instruction, epilogue, generated per case) and a data page with the register block and the
//! memory buffer. The mapping sits at an address below the sandbox's RAM size, so the very
//! same addresses are valid in hvbench's identity-mapped `Sandbox`: register values (memory
//! bases, RSI/RDI, RSP) need no translation between the two worlds.
//!
//! The generated function (System V ABI, no arguments) saves the callee-saved registers, the
//! host RSP and the host's x87/SSE state (FXSAVE, in the data page), loads the input x87/MMX,
//! XMM and MXCSR state (FXRSTOR), RFLAGS and all 16 GPRs (RSP last: it points into the
//! buffer, so PUSH/POP work on compared memory), runs the instruction, stores all 16 GPRs,
//! restores the host RSP, stores the x87/SSE state (FXSAVE) and restores the host's (FXRSTOR),
//! stores RFLAGS, clears DF (the ABI requires it) and returns. All data
//! references are RIP-relative, so no register is needed to find the state block.

use std::ptr;

/// Host virtual address of the mapping (and the same address in the sandbox's RAM).
pub const REGION: u64 = 0x0300_0000;
/// Offset of the data page within the mapping.
const DATA: u64 = 0x1000;
/// Offset of the saved GPRs in the data page (16 x u64, RAX..R15).
const GPRS: u64 = 0;
/// Offset of RFLAGS in the data page.
const FLAGS: u64 = 0x80;
/// Offset of the saved host RSP in the data page.
const HOST_RSP: u64 = 0x88;
/// Offset of the memory buffer in the data page.
const BUF: u64 = 0x400;
/// Offset of the input FXSAVE image (x87/MMX, XMM, MXCSR) loaded before the instruction.
const FX_IN: u64 = 0x800;
/// Offset of the FXSAVE image stored after the instruction.
const FX_OUT: u64 = 0xa00;
/// Offset of the host's own FXSAVE image (restored before returning to Rust code).
const FX_HOST: u64 = 0xc00;
/// Size of an FXSAVE image.
pub const FX_LEN: usize = 512;
/// Length of the memory buffer.
pub const BUF_LEN: usize = 0x400;
/// Address of the buffer (host and sandbox alike).
pub const BUF_ADDR: u64 = REGION + DATA + BUF;

/// The executable mapping.
pub struct Host {
    base: *mut u8,
}

/// Registers, flags and buffer before or after one instruction.
#[derive(Clone, PartialEq, Eq)]
pub struct State {
    /// RAX..R15 in encoding order.
    pub gpr: [u64; 16],
    /// RFLAGS.
    pub rflags: u64,
    /// The memory buffer at [`BUF_ADDR`].
    pub buf: Vec<u8>,
    /// x87/MMX, XMM and MXCSR state as FXSAVE (64-bit format) lays it out, [`FX_LEN`] bytes
    /// (SDM Vol. 1 10.5.1, Table 10-2).
    pub fx: Vec<u8>,
}

impl Host {
    /// Maps the region; `None` (with the reason) when the fixed address is not available.
    pub fn new() -> Result<Self, String> {
        // SAFETY: an anonymous private mapping at a fixed address that MAP_FIXED_NOREPLACE
        // refuses to place over anything already mapped; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                REGION as *mut libc::c_void,
                0x2000,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(format!("mmap of {REGION:#x} failed: {}", std::io::Error::last_os_error()));
        }
        if p as u64 != REGION {
            // An old kernel may treat the flag as a hint; give the memory back.
            // SAFETY: `p` is the 2-page mapping just created and nothing refers to it.
            unsafe { libc::munmap(p, 0x2000) };
            return Err(format!("mmap placed the region at {p:p}, not {REGION:#x}"));
        }
        Ok(Self { base: p as *mut u8 })
    }

    /// Runs `insn` (no RIP-relative operands) from `input`; returns the state after it.
    pub fn run(&mut self, insn: &[u8], input: &State) -> State {
        let code = generate(insn);
        assert!(code.len() < DATA as usize);
        // SAFETY: `base` is a live RWX mapping of 0x2000 bytes owned by `self`; the code
        // fits in its first page and the register block and buffer lie in the second.
        unsafe {
            ptr::copy_nonoverlapping(code.as_ptr(), self.base, code.len());
            let data = self.base.add(DATA as usize);
            ptr::copy_nonoverlapping(input.gpr.as_ptr() as *const u8, data.add(GPRS as usize), 128);
            ptr::write_unaligned(data.add(FLAGS as usize) as *mut u64, input.rflags);
            ptr::copy_nonoverlapping(input.buf.as_ptr(), data.add(BUF as usize), BUF_LEN);
            ptr::copy_nonoverlapping(input.fx.as_ptr(), data.add(FX_IN as usize), FX_LEN);
        }
        // SAFETY: the page now holds a complete function built by `generate`: it preserves
        // the callee-saved registers and the host stack pointer, touches only the mapping
        // (the caller guarantees the instruction's memory operands lie in the buffer and that
        // it cannot fault), clears DF and returns.
        let f: extern "sysv64" fn() = unsafe { std::mem::transmute(self.base) };
        f();
        let mut out = State { gpr: [0; 16], rflags: 0, buf: vec![0; BUF_LEN], fx: vec![0; FX_LEN] };
        // SAFETY: reads of the data page of the live mapping, within its bounds.
        unsafe {
            let data = self.base.add(DATA as usize);
            ptr::copy_nonoverlapping(data.add(GPRS as usize), out.gpr.as_mut_ptr() as *mut u8, 128);
            out.rflags = ptr::read_unaligned(data.add(FLAGS as usize) as *const u64);
            ptr::copy_nonoverlapping(data.add(BUF as usize), out.buf.as_mut_ptr(), BUF_LEN);
            ptr::copy_nonoverlapping(data.add(FX_OUT as usize), out.fx.as_mut_ptr(), FX_LEN);
        }
        out
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping created in `new`, which nothing uses any more.
        unsafe { libc::munmap(self.base as *mut libc::c_void, 0x2000) };
    }
}

/// Emits `bytes` followed by a RIP-relative disp32 to data-page offset `target`.
fn riprel(code: &mut Vec<u8>, bytes: &[u8], target: u64) {
    code.extend_from_slice(bytes);
    let next = code.len() as u64 + 4;
    let disp = (DATA + target).wrapping_sub(next) as i32;
    code.extend_from_slice(&disp.to_le_bytes());
}

/// REX.W (+R for r8..r15) and the ModRM of a RIP-relative operand with `reg`.
fn rex_modrm(reg: u8) -> (u8, u8) {
    (0x48 | ((reg >> 3) & 1) << 2, ((reg & 7) << 3) | 0b101)
}

fn generate(insn: &[u8]) -> Vec<u8> {
    let mut c = Vec::with_capacity(512);
    // push rbx, rbp, r12, r13, r14, r15
    c.extend_from_slice(&[0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57]);
    riprel(&mut c, &[0x48, 0x89, 0x25], HOST_RSP); // mov [rip+HOST_RSP], rsp
    riprel(&mut c, &[0x48, 0x0f, 0xae, 0x05], FX_HOST); // fxsave64 [rip+FX_HOST]
    riprel(&mut c, &[0x48, 0x0f, 0xae, 0x0d], FX_IN); // fxrstor64 [rip+FX_IN]
    riprel(&mut c, &[0xff, 0x35], FLAGS); // push qword [rip+FLAGS]
    c.push(0x9d); // popfq
    for r in (0..16u8).filter(|&r| r != 4).chain([4]) {
        let (rex, modrm) = rex_modrm(r);
        riprel(&mut c, &[rex, 0x8b, modrm], GPRS + 8 * r as u64); // mov r64, [rip+..]
    }
    c.extend_from_slice(insn);
    for r in 0..16u8 {
        let (rex, modrm) = rex_modrm(r);
        riprel(&mut c, &[rex, 0x89, modrm], GPRS + 8 * r as u64); // mov [rip+..], r64
    }
    riprel(&mut c, &[0x48, 0x8b, 0x25], HOST_RSP); // mov rsp, [rip+HOST_RSP]
    riprel(&mut c, &[0x48, 0x0f, 0xae, 0x05], FX_OUT); // fxsave64 [rip+FX_OUT]
    riprel(&mut c, &[0x48, 0x0f, 0xae, 0x0d], FX_HOST); // fxrstor64 [rip+FX_HOST]
    c.push(0x9c); // pushfq
    riprel(&mut c, &[0x8f, 0x05], FLAGS); // pop qword [rip+FLAGS]
    c.push(0xfc); // cld
    // pop r15, r14, r13, r12, rbp, rbx ; ret
    c.extend_from_slice(&[0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3]);
    c
}
