//! Snapshots inside VMX operation (issue 3 with issue 4): a host program (VMXON, a valid VMCS,
//! VMLAUNCH, then an exit loop) runs a 64-bit guest whose CPUID exits turn the monitor trap
//! flag on for a few instructions, whose VMX-preemption timer (saved at each exit, SDM Vol. 3C
//! 28.3.4) expires now and then and makes the host inject a #UD (27.6), and whose #UD handler
//! halts (HLT exiting). The whole run is taken once uninterrupted, then step by step with a
//! snapshot at stop points in VMX root operation, in non-root operation, with an event
//! injection pending in the VMCS, with MTF on and with the timer running; each snapshot goes
//! through the file format into a fresh machine, which runs to the end: the output, the final
//! vCPU state and the final snapshot's bytes must equal the uninterrupted run's.

#[path = "../../vmx/tests/common/layout.rs"]
mod layout;

use hvbench::devices::sink::SerialSink;
use hvbench::snapshot::Snapshot;
use hvbench::{Machine, MachineConfig, Outcome};
use hvbench_cpu::sandbox::{Sandbox, SandboxMode, CODE_BASE};
use hvbench_mmu::PhysAddr;
use hvbench_vmx::caps::{Profile, VMCS_REVISION};
use hvbench_vmx::fields::enc;
use hvbench_vmx::vmcs::FIELD_BASE;
use iced_x86::code_asm::*;
use layout::*;

/// VM exits before the host ends the run.
const EXITS: i32 = 120;
/// The VMX-preemption timer value the host (re)loads.
const TIMER: u64 = 12;
const MTF: u64 = 1 << 27;
const RAM: u64 = 8 << 20;

fn vmread(a: &mut CodeAssembler, dst: AsmRegister64, field: u32) -> Result<(), IcedError> {
    a.mov(rax, field as u64)?;
    a.vmread(dst, rax)
}

fn vmwrite_reg(a: &mut CodeAssembler, field: u32, src: AsmRegister64) -> Result<(), IcedError> {
    a.mov(rax, field as u64)?;
    a.vmwrite(rax, src)
}

/// The host: VMXON, the VMCS, VMLAUNCH; VMfail ends the run with debug-exit 0xff.
fn host(fields: &[(u32, u64)]) -> Vec<u8> {
    asm(CODE_BASE, |a| {
        vmxon_and_load(a)?;
        for (f, v) in fields {
            vmwrite(a, *f, *v)?;
        }
        a.vmlaunch()?;
        a.mov(eax, 0xff)?;
        a.out(0xf4, eax)?;
        a.hlt()
    })
}

/// The exit handler at HOST_RIP (see the module documentation). Prints one byte per exit
/// ('@' + reason) to port 0xE9 (COM1's sink).
fn exit_handler() -> Vec<u8> {
    asm(HOST_RIP, |a| {
        let mut done = a.create_label();
        let mut on_cpuid = a.create_label();
        let mut on_mtf = a.create_label();
        let mut on_timer = a.create_label();
        let mut on_hlt = a.create_label();
        let mut resume = a.create_label();
        vmread(a, rbx, enc::EXIT_REASON)?;
        a.mov(eax, ebx)?;
        a.add(al, 0x40)?;
        a.out(0xe9, al)?;
        a.mov(rsi, SCRATCH)?;
        a.inc(qword_ptr(rsi))?;
        a.cmp(qword_ptr(rsi), EXITS)?;
        a.jae(done)?;
        a.cmp(ebx, 10)?;
        a.je(on_cpuid)?;
        a.cmp(ebx, 37)?;
        a.je(on_mtf)?;
        a.cmp(ebx, 52)?;
        a.je(on_timer)?;
        a.cmp(ebx, 12)?;
        a.je(on_hlt)?;
        a.jmp(done)?;

        // CPUID: skip it; every fourth exit turns the monitor trap flag on.
        a.set_label(&mut on_cpuid)?;
        vmread(a, rcx, enc::GUEST_RIP)?;
        vmread(a, rdx, enc::EXIT_INSTRUCTION_LENGTH)?;
        a.add(rcx, rdx)?;
        vmwrite_reg(a, enc::GUEST_RIP, rcx)?;
        a.test(byte_ptr(rsi), 3)?;
        a.jnz(resume)?;
        vmread(a, rcx, enc::PROC_BASED_CONTROLS)?;
        a.or(rcx, MTF as i32)?;
        vmwrite_reg(a, enc::PROC_BASED_CONTROLS, rcx)?;
        a.jmp(resume)?;

        // MTF: after three of them, off again.
        a.set_label(&mut on_mtf)?;
        a.inc(qword_ptr(rsi + 8))?;
        a.cmp(qword_ptr(rsi + 8), 3)?;
        a.jb(resume)?;
        a.mov(qword_ptr(rsi + 8), 0)?;
        vmread(a, rcx, enc::PROC_BASED_CONTROLS)?;
        a.and(rcx, !(MTF as i32))?;
        vmwrite_reg(a, enc::PROC_BASED_CONTROLS, rcx)?;
        a.jmp(resume)?;

        // Timer: reload it and inject #UD (hardware exception, vector 6).
        a.set_label(&mut on_timer)?;
        a.mov(rcx, TIMER)?;
        vmwrite_reg(a, enc::PREEMPTION_TIMER_VALUE, rcx)?;
        a.mov(ecx, 0x8000_0306u32)?;
        vmwrite_reg(a, enc::ENTRY_INTERRUPTION_INFO, rcx)?;
        a.jmp(resume)?;

        // HLT (in the guest's #UD stub): back to the top of the guest loop.
        a.set_label(&mut on_hlt)?;
        a.mov(rcx, GUEST_RIP)?;
        vmwrite_reg(a, enc::GUEST_RIP, rcx)?;
        a.mov(rcx, GUEST_RSP)?;
        vmwrite_reg(a, enc::GUEST_RSP, rcx)?;

        a.set_label(&mut resume)?;
        a.vmresume()?;
        a.mov(al, b'!' as u32)?;
        a.out(0xe9, al)?;
        a.set_label(&mut done)?;
        a.vmxoff()?;
        a.mov(eax, dword_ptr(rsi))?;
        a.out(0xf4, eax)?;
        a.hlt()
    })
}

/// The guest: some arithmetic, then CPUID, forever.
fn guest() -> Vec<u8> {
    asm(GUEST_RIP, |a| {
        let mut top = a.create_label();
        let mut inner = a.create_label();
        a.set_label(&mut top)?;
        a.mov(ecx, 12)?;
        a.set_label(&mut inner)?;
        a.add(r9, rcx)?;
        a.imul_3(r9, r9, 3)?;
        a.dec(ecx)?;
        a.jnz(inner)?;
        a.inc(r8)?;
        a.mov(eax, 1)?;
        a.cpuid()?;
        a.jmp(top)
    })
}

/// The machine at power-on with the program loaded: the sandbox's 64-bit state and memory
/// (page tables, GDT, IDT stubs) copied into a machine with VMX.
fn program() -> (Vec<(u64, Vec<u8>)>, hvbench_cpu::CpuState) {
    let p = Profile::default_profile();
    let mut fields = valid_vmcs(&p, GuestKind::Flat64);
    let pin = fields.iter().find(|f| f.0 == enc::PIN_BASED_CONTROLS).map_or(0, |f| f.1);
    let exit = fields.iter().find(|f| f.0 == enc::EXIT_CONTROLS).map_or(0, |f| f.1);
    fields.push((enc::PIN_BASED_CONTROLS, pin | 1 << 6));
    fields.push((enc::EXIT_CONTROLS, exit | 1 << 22));
    fields.push((enc::PREEMPTION_TIMER_VALUE, TIMER));
    let mut s = Sandbox::new(SandboxMode::Long64, &host(&fields));
    let w = |s: &mut Sandbox, a: u64, size: u8, v: u64| s.mem.write_le(PhysAddr(a), size, v);
    w(&mut s, VMXON_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, VMCS_REGION, 4, VMCS_REVISION as u64);
    w(&mut s, PTR_VMXON, 8, VMXON_REGION);
    w(&mut s, PTR_VMCS, 8, VMCS_REGION);
    w(&mut s, EPT_PML4, 8, (EPT_PML4 + 0x1000) | 7);
    for i in 0..4u64 {
        w(&mut s, EPT_PML4 + 0x1000 + 8 * i, 8, (i << 30) | 0x80 | 6 << 3 | 7);
    }
    s.mem.write_bytes(PhysAddr(GUEST_RIP), &guest());
    s.mem.write_bytes(PhysAddr(HOST_RIP), &exit_handler());
    let pages = s.mem.as_bytes()[..RAM as usize]
        .chunks_exact(4096)
        .enumerate()
        .filter(|(_, p)| p.iter().any(|&b| b != 0))
        .map(|(i, p)| (i as u64 * 4096, p.to_vec()))
        .collect();
    (pages, s.cpu.state.clone())
}

fn fresh() -> Machine {
    let cfg = MachineConfig { memory: RAM, cpus: 1, serial: SerialSink::buffer(), ..MachineConfig::default() };
    Machine::new(cfg).unwrap()
}

fn machine(prog: &(Vec<(u64, Vec<u8>)>, hvbench_cpu::CpuState)) -> Machine {
    let mut m = fresh();
    for (a, p) in &prog.0 {
        m.mem.write_bytes(PhysAddr(*a), p);
    }
    let mut st = prog.1.clone();
    st.msr.feature_control = hvbench_vmx::FEATURE_CONTROL_LOCKED_VMX;
    st.msr.apic_base = m.cpus[0].state.msr.apic_base;
    m.cpus[0].set_state(st);
    m
}

fn serial(m: &Machine) -> Vec<u8> {
    m.bus.uart().output().sink().contents().map(<[u8]>::to_vec).unwrap_or_default()
}

fn snapshot_bytes(m: &Machine) -> Vec<u8> {
    let mut v = Vec::new();
    m.snapshot().write_to(&mut v).unwrap();
    v
}

/// The end of a run: outcome, architectural state, counters, the final snapshot's bytes.
#[derive(PartialEq, Eq)]
struct End {
    outcome: Outcome,
    state: hvbench_cpu::CpuState,
    counters: (u64, u64, u64),
    snapshot: Vec<u8>,
}

impl std::fmt::Debug for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} rip={:#x} counters={:?} snapshot: {} bytes, hash {:#x}", self.outcome, self.state.rip, self.counters, self.snapshot.len(), hvbench::snapshot::fnv1a(0, &self.snapshot))
    }
}

fn end(m: &Machine, outcome: Outcome) -> End {
    let c = &m.cpus[0];
    End { outcome, state: c.state.clone(), counters: (c.cycles, c.retired, c.steps), snapshot: snapshot_bytes(m) }
}

/// What a stop point is inside: (in VMX operation, non-root, injection pending, MTF, timer).
fn classify(m: &Machine) -> [bool; 5] {
    let c = &m.cpus[0];
    let v = hvbench_vmx::state(c).expect("VMX installed").save();
    let slot = hvbench_vmx::fields::slot_of(enc::ENTRY_INTERRUPTION_INFO) as u64;
    let entry_info = m.mem.read_le(PhysAddr(VMCS_REGION + FIELD_BASE + 8 * slot), 4).unwrap_or(0);
    let ctx = v.ctx.as_ref();
    [
        v.in_vmx && !c.vmx_non_root,
        c.vmx_non_root,
        v.in_vmx && !c.vmx_non_root && entry_info & (1 << 31) != 0,
        c.vmx_non_root && ctx.is_some_and(|x| x.controls[1] as u64 & MTF != 0),
        c.vmx_non_root && ctx.is_some_and(|x| x.timer_deadline.is_some()),
    ]
}

#[test]
fn snapshots_inside_vmx_operation_resume_bit_for_bit() {
    let prog = program();
    let mut whole = machine(&prog);
    whole.set_max_instructions(Some(10_000_000));
    let outcome = whole.run();
    let full_out = serial(&whole);
    let text = String::from_utf8_lossy(&full_out).to_string();
    assert!(matches!(outcome, Outcome::DebugExit(_)), "{outcome:?}, output {text}, rip {:#x}, vector slot {:?}, vmx {:?}", whole.cpus[0].state.rip, whole.mem.read_le(PhysAddr(0x5000), 1), hvbench_vmx::state(&whole.cpus[0]).map(|v| v.save()));
    // Exit reasons as '@' + n: 'J' CPUID (10), 'e' MTF (37), 't' timer (52), 'L' HLT (12).
    for (c, what) in [('J', "CPUID"), ('e', "MTF"), ('t', "preemption timer"), ('L', "HLT")] {
        assert!(text.contains(c), "the run has {what} exits: {text}");
    }
    assert!(!text.contains('!'), "no VMRESUME fails: {text}");
    let full_end = end(&whole, outcome);
    let total = whole.steps();

    // Step by step, classifying each stop point; snapshots at the first few points of each
    // kind and at a stride.
    let mut m = machine(&prog);
    let mut seen = [0u32; 5];
    let stride = (total / 60).max(1);
    let mut taken = Vec::new();
    for k in 1..total {
        m.set_max_instructions(Some(k));
        assert_eq!(m.run(), Outcome::BudgetExhausted, "step {k}");
        let kind = classify(&m);
        let mut want = k % stride == 0;
        for (i, &on) in kind.iter().enumerate() {
            if on && seen[i] < 4 && (seen[i] == 0 || k % 7 == 0) {
                seen[i] += 1;
                want = true;
            }
        }
        if want {
            taken.push((k, kind, serial(&m), snapshot_bytes(&m)));
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "stop points of every kind (root, non-root, pending injection, MTF, timer): {seen:?}");
    m.set_max_instructions(Some(10_000_000));
    let o = m.run();
    assert_eq!(serial(&m), full_out, "a run stopped at every step is the uninterrupted run");
    assert_eq!(end(&m, o), full_end);

    for (k, kind, prefix, bytes) in taken {
        let snap = Snapshot::from_bytes(&bytes).unwrap();
        let mut r = fresh();
        r.restore(&snap).unwrap();
        assert!(snapshot_bytes(&r) == bytes, "step {k} {kind:?}: restore then snapshot gives the same bytes");
        r.set_max_instructions(Some(10_000_000));
        let o = r.run();
        let out = [prefix, serial(&r)].concat();
        assert_eq!(String::from_utf8_lossy(&out), text, "step {k} {kind:?}: output");
        assert_eq!(end(&r, o), full_end, "step {k} {kind:?}: final state");
    }
}
