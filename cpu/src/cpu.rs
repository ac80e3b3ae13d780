//! One logical processor: its state, TLB and decoded-instruction cache, and the loop that
//! fetches, decodes (through the cache) and executes instructions.

use crate::cost::{CostModel, FlatCost};
use crate::events::Event;
use crate::exception::{Exception, Fault};
use crate::exec;
use crate::icache::{self, Block, BlockCache, Decoded, MAX_BLOCK};
use crate::jumpcache::{FetchContext, JumpCache};
use crate::state::{Activity, CpuState, Mode};
use hvbench_mmu::paging::{AccessKind, PagingContext, PagingMode};
use hvbench_mmu::tlb::Tlb;
use hvbench_mmu::{Bus, CpuIndex, PhysAddr, PhysMem};
use iced_x86::{Decoder, DecoderError, DecoderOptions};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::Arc;

/// Static configuration of a vCPU.
#[derive(Clone)]
pub struct CpuConfig {
    /// Index of this vCPU in the machine (also its initial APIC ID).
    pub index: CpuIndex,
    /// MAXPHYADDR of the model (CPUID.80000008H:EAX[7:0]).
    pub maxphyaddr: u8,
    /// Seed of RDRAND/RDSEED.
    pub rng_seed: u64,
    /// The cycle cost model.
    pub cost: Arc<dyn CostModel>,
}

impl Default for CpuConfig {
    fn default() -> Self {
        Self { index: 0, maxphyaddr: 39, rng_seed: 0x6876_6265_6e63_6821, cost: Arc::new(FlatCost) }
    }
}

/// Why [`Cpu::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// The instruction budget of this call is used up.
    Budget,
    /// The vCPU is halted (HLT, shutdown, wait-for-SIPI); see [`CpuState::activity`].
    Inactive,
    /// An I/O or MMIO write happened that the machine should look at (a device may have
    /// asked the run to end) before the vCPU goes on.
    DeviceWrite,
    /// The vCPU reached the cycle deadline of [`Cpu::run_to`] (a device's next event).
    Deadline,
    /// The guest did something hvbench cannot model (e.g. a task switch).
    Unsupported(&'static str),
}

/// One logical processor.
pub struct Cpu {
    /// Architectural state.
    pub state: CpuState,
    /// Configuration.
    pub config: CpuConfig,
    /// Cycles elapsed on this vCPU (virtual time).
    pub cycles: u64,
    /// Instructions retired. A REP string instruction counts once per group of up to 1024
    /// iterations (see `exec/string.rs`), so budgets bound the work done.
    pub retired: u64,
    /// Instructions retired plus events delivered (exceptions, interrupts): what instruction
    /// budgets count, so that a storm of faults that never retires an instruction still ends.
    pub steps: u64,
    /// Whether to record events other than unimplemented instructions.
    pub trace: bool,
    pub(crate) events: Vec<Event>,
    pub(crate) tlb: Tlb,
    /// The data fast path (see `dtlb.rs`).
    pub(crate) dtlb: crate::dtlb::DataTlb,
    pub(crate) icache: BlockCache,
    /// Blocks by RIP, to skip the fetch path between blocks (see `jumpcache.rs`).
    pub(crate) jumps: JumpCache,
    /// Set when the block being executed may no longer describe what runs next (paging,
    /// mode or TLB changed).
    pub(crate) break_block: bool,
    /// Paging context derived from CR0/CR3/CR4/EFER; refreshed when they change.
    pub(crate) paging: PagingContext,
    /// RIP of the instruction after the one executing (branch handlers replace it).
    pub(crate) next_rip: u64,
    /// Set when interrupts might have become deliverable (IF set, end of a shadow, device read
    /// or write, a delivery, run start).
    pub(crate) poll_events: bool,
    /// Set by handlers whose side effects the machine must see before going on.
    pub(crate) stop: Option<StopReason>,
    /// The vector of the exception being delivered, for double-fault detection.
    pub(crate) delivering: Option<Exception>,
    /// How `delivering` is being delivered (kind, and instruction length for software events).
    pub(crate) delivering_kind: (crate::deliver::EventKind, u8),
    pub(crate) rng_state: u64,
    /// Debug state that makes [`Exec::step`] take its slow path (see `debug.rs`).
    pub(crate) debug: crate::debug::DebugArm,
    reported: BTreeSet<u64>,
    /// The last exceptions delivered (always kept: they explain triple faults and hangs).
    pub recent_exceptions: RecentExceptions,
    /// A processor extension (VMX), see [`crate::ext`].
    pub ext: Option<Box<dyn crate::ext::Extension>>,
    /// In VMX non-root operation: the one flag the hot paths test before asking `ext`.
    pub vmx_non_root: bool,
    /// The EPT in use in VMX non-root operation (None: EPT off or root operation).
    pub ept: Option<hvbench_mmu::ept::EptContext>,
    /// The VPID tag of translations made now (0 in root operation or with VPID off).
    pub tlb_vpid: u16,
    /// The EPTP index tag of translations made now (0 without EPT).
    pub tlb_ept: u16,
    /// An intercept that arose while the extension was running (see [`crate::ext`]).
    pub deferred: Option<crate::ext::Intercept>,
    /// While the extension runs (and so cannot be asked), which hardware exceptions it would
    /// turn into VM exits: set by it around the event deliveries it makes itself (VM-entry
    /// event injection), None otherwise. Such an exception is kept in `deferred`.
    pub exit_filter: Option<Box<dyn Fn(Exception) -> bool>>,
    /// IRET leaves `CpuState::nmi_blocked` alone (VMX non-root operation with "NMI exiting"
    /// = 1 and "virtual NMIs" = 0, SDM Vol. 3C 26.3); set and cleared by the extension.
    pub iret_keeps_nmi_blocking: bool,
    /// The IRET executing in VMX non-root operation removed blocking by NMI (or virtual-NMI
    /// blocking) before a possible fault: a VM exit for that fault reports "NMI unblocking due
    /// to IRET" (SDM Vol. 3C 28.2.2). Cleared when an exception is delivered or exits.
    pub iret_unblocked_nmi: bool,
}

/// A small ring of the most recent exceptions: (vector, error code, RIP, instruction count).
#[derive(Debug, Clone, Default)]
pub struct RecentExceptions {
    ring: [(u8, Option<u32>, u64, u64); 8],
    len: usize,
    next: usize,
}

impl RecentExceptions {
    /// Records one exception.
    pub fn push(&mut self, vector: u8, error_code: Option<u32>, rip: u64, retired: u64) {
        self.ring[self.next] = (vector, error_code, rip, retired);
        self.next = (self.next + 1) % self.ring.len();
        self.len = (self.len + 1).min(self.ring.len());
    }
    /// Oldest first: (vector, error code, RIP, instructions retired before it).
    pub fn iter(&self) -> impl Iterator<Item = (u8, Option<u32>, u64, u64)> + '_ {
        let start = (self.next + self.ring.len() - self.len) % self.ring.len();
        (0..self.len).map(move |i| self.ring[(start + i) % self.ring.len()])
    }
}

/// An instruction's view of the machine: the vCPU plus the memory and devices it reaches.
pub struct Exec<'a> {
    /// The executing vCPU.
    pub cpu: &'a mut Cpu,
    /// Physical memory.
    pub mem: &'a mut PhysMem,
    /// Port I/O and MMIO.
    pub bus: &'a mut dyn Bus,
}

impl Cpu {
    /// A vCPU in the RESET state.
    pub fn new(config: CpuConfig) -> Self {
        let state = CpuState::reset(crate::cpuid::SIGNATURE);
        let rng_state = config.rng_seed;
        let mut cpu = Self {
            state,
            config,
            cycles: 0,
            retired: 0,
            steps: 0,
            trace: false,
            events: Vec::new(),
            tlb: Tlb::new(),
            dtlb: crate::dtlb::DataTlb::new(),
            icache: BlockCache::new(),
            jumps: JumpCache::new(),
            break_block: false,
            paging: PagingContext {
                mode: PagingMode::Disabled,
                cr3: 0,
                pse: false,
                wp: false,
                nxe: false,
                smep: false,
                smap: false,
                maxphyaddr: 39,
                pdptes: [0; 4],
            },
            next_rip: 0,
            poll_events: true,
            stop: None,
            delivering: None,
            delivering_kind: (crate::deliver::EventKind::Exception, 0),
            rng_state,
            debug: crate::debug::DebugArm::default(),
            reported: BTreeSet::new(),
            recent_exceptions: RecentExceptions::default(),
            ext: None,
            vmx_non_root: false,
            ept: None,
            tlb_vpid: 0,
            tlb_ept: 0,
            deferred: None,
            exit_filter: None,
            iret_keeps_nmi_blocking: false,
            iret_unblocked_nmi: false,
        };
        cpu.state.msr.apic_base = 0xfee0_0000 | (1 << 11) | if cpu.config.index == 0 { 1 << 8 } else { 0 };
        cpu.refresh_paging();
        cpu
    }

    /// The cycle count by which the extension needs this vCPU to reach an instruction
    /// boundary even while halted (the VMX-preemption timer's expiry), in VMX non-root
    /// operation only. A machine that skips a halted vCPU's time stops there.
    pub fn extension_deadline(&self) -> Option<u64> {
        if !self.vmx_non_root {
            return None;
        }
        self.ext.as_deref()?.deadline()
    }

    /// Offers INIT or SIPI to the extension (see [`crate::ext::Extension::startup`]): `true`
    /// when it took the signal, so the machine must not carry it out.
    pub fn startup_signal(&mut self, mem: &mut PhysMem, bus: &mut dyn Bus, signal: crate::ext::StartupSignal) -> bool {
        let mut x = Exec { cpu: self, mem, bus };
        x.with_ext(|e, x| e.startup(x, signal)).unwrap_or(false)
    }

    /// Whether the extension released a latched INIT (see
    /// [`crate::ext::Extension::take_released_init`]).
    pub fn take_released_init(&mut self) -> bool {
        self.ext.as_deref_mut().is_some_and(|e| e.take_released_init())
    }

    /// Takes the events recorded since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Records an event whether or not tracing is on (rare events the user must see, such as
    /// a VMfail or a failed VM entry).
    pub fn record(&mut self, e: Event) {
        self.events.push(e);
    }

    /// Records an event if tracing is on.
    #[inline(always)]
    pub fn emit(&mut self, e: impl FnOnce() -> Event) {
        if self.trace {
            self.events.push(e());
        }
    }

    /// Replaces the whole architectural state (loader entry state, snapshot restore) and
    /// drops every cached translation and decoded instruction.
    pub fn set_state(&mut self, state: CpuState) {
        self.state = state;
        self.flush_all();
    }

    /// The RDRAND/RDSEED generator's state (machine snapshots).
    pub fn rng_state(&self) -> u64 {
        self.rng_state
    }

    /// Sets the RDRAND/RDSEED generator's state (machine snapshot restore).
    pub fn set_rng_state(&mut self, state: u64) {
        self.rng_state = state;
    }

    /// Drops the TLB and decoded-instruction cache.
    pub fn flush_all(&mut self) {
        self.tlb.invalidate_all();
        self.icache.clear();
        self.jumps.clear();
        self.refresh_paging();
        self.refresh_debug();
        self.poll_events = true;
    }

    /// Tells the core that an extension replaced state wholesale (a VM entry or exit): the
    /// paging context, debug arming and event polling are recomputed. Cached translations are
    /// kept (they are tagged by VPID/EPTP/PCID); call [`Cpu::flush_tlb`] where the SDM flushes.
    pub fn state_replaced(&mut self) {
        self.refresh_paging();
        self.refresh_debug();
        self.poll_events = true;
        self.break_block = true;
    }

    /// Invalidates TLB entries: all of them (`vpid` None) or those tagged with `vpid`.
    pub fn flush_tlb(&mut self, vpid: Option<u16>) {
        match vpid {
            None => self.tlb.invalidate_all(),
            Some(v) => self.tlb.invalidate_vpid(v),
        }
        self.break_block = true;
    }

    /// The PAE PDPTEs in use (loaded by MOV to CR3/CR0/CR4 or by VM entry).
    pub fn pdptes(&self) -> [u64; 4] {
        self.paging.pdptes
    }

    /// Replaces the PAE PDPTEs (VM entry loads them from the VMCS with EPT, SDM 27.3.2.4).
    pub fn set_pdptes(&mut self, p: [u64; 4]) {
        self.paging.pdptes = p;
    }

    /// INVEPT / INVVPID on this vCPU's TLB.
    pub fn tlb_mut(&mut self) -> &mut Tlb {
        self.break_block = true;
        &mut self.tlb
    }

    /// The exception being delivered, if an event delivery is under way.
    pub fn delivering(&self) -> Option<Exception> {
        self.delivering
    }

    /// Ends the event delivery under way (a VM exit replaced the guest that was delivering
    /// it).
    pub fn end_delivery(&mut self) {
        self.delivering = None;
    }

    /// The kind of the event [`Self::delivering`] returns, and for a software interrupt or
    /// (privileged) software exception the length of its instruction (the VM-entry
    /// instruction length for an injected one).
    pub fn delivering_kind(&self) -> (crate::deliver::EventKind, u8) {
        self.delivering_kind
    }

    /// Recomputes the paging context after CR0, CR3, CR4 or EFER changed.
    pub(crate) fn refresh_paging(&mut self) {
        use crate::regs::{cr0, cr4, efer};
        self.break_block = true;
        self.jumps.invalidate();
        // The data fast path's entries depend on the paging context (see `dtlb.rs`).
        self.tlb.bump_generation();
        let s = &self.state;
        let mode = if s.cr0 & cr0::PG == 0 {
            PagingMode::Disabled
        } else if s.cr4 & cr4::PAE == 0 {
            PagingMode::Bits32
        } else if s.efer & efer::LMA == 0 {
            PagingMode::Pae
        } else if s.cr4 & cr4::LA57 != 0 {
            PagingMode::Level5
        } else {
            PagingMode::Level4
        };
        self.paging = PagingContext {
            mode,
            cr3: s.cr3,
            pse: s.cr4 & cr4::PSE != 0,
            wp: s.cr0 & cr0::WP != 0,
            nxe: s.efer & efer::NXE != 0,
            smep: s.cr4 & cr4::SMEP != 0,
            smap: s.cr4 & cr4::SMAP != 0,
            maxphyaddr: self.config.maxphyaddr,
            pdptes: self.paging.pdptes,
        };
    }

    /// Runs until `budget` steps (instructions and event deliveries, see [`Cpu::steps`]) are
    /// done or something the machine must see happens.
    pub fn run(&mut self, mem: &mut PhysMem, bus: &mut dyn Bus, budget: u64) -> StopReason {
        self.run_to(mem, bus, budget, u64::MAX)
    }

    /// [`Cpu::run`] that also stops at the first instruction boundary at which
    /// [`Cpu::cycles`] has reached `deadline` (the next time a device may change an interrupt
    /// line; a machine passes the earliest one). Interrupts are sampled at the start of every
    /// call, so a device event at time T is seen at the first boundary with `cycles >= T`,
    /// wherever the calls are cut for other reasons. The check costs one comparison per
    /// block (per instruction only in the block that reaches the deadline).
    pub fn run_to(&mut self, mem: &mut PhysMem, bus: &mut dyn Bus, budget: u64, deadline: u64) -> StopReason {
        let mut x = Exec { cpu: self, mem, bus };
        x.cpu.poll_events = true;
        // Whatever happened between runs (state loaded by the machine, another memory) is
        // not described by the jump cache.
        x.cpu.jumps.invalidate();
        // Nor by the data fast path, whose entries point into the memory of the last run.
        x.cpu.tlb.bump_generation();
        let end = Limits { steps: x.cpu.steps.saturating_add(budget), cycles: deadline };
        loop {
            // The limits come before the event check: a run stops exactly at its step count
            // and the next run samples interrupts at that same boundary.
            if x.cpu.steps >= end.steps {
                return StopReason::Budget;
            }
            if x.cpu.cycles >= end.cycles {
                return StopReason::Deadline;
            }
            if x.cpu.poll_events {
                x.cpu.poll_events = false;
                let before = x.cpu.steps;
                x.service_events();
                if x.cpu.steps != before {
                    // A delivery is a step and takes a cycle: look at the limits again.
                    continue;
                }
            }
            if x.cpu.state.activity != Activity::Active {
                // A halted guest still reaches the extension's boundary hook: MTF VM exits
                // and VMX-preemption timer exits are not blocked in the HLT activity state
                // (SDM Vol. 3C 28.1, 26.5.1, 26.5.2). Nor in the shutdown state, where the
                // VMX-preemption timer counts down and exits when it reaches zero (26.5.1: in
                // any activity state but wait-for-SIPI); no instruction runs there, so no MTF
                // VM exit becomes pending.
                if matches!(x.cpu.state.activity, Activity::Halted | Activity::Shutdown) && x.cpu.debug.boundary && x.cpu.vmx_non_root && x.intercept(crate::ext::Intercept::Boundary, 0).is_err() {
                    continue;
                }
                return StopReason::Inactive;
            }
            if x.debug_path() {
                x.step_debug();
            } else {
                match x.fetch_block() {
                    Ok(Fetched::Block(b)) => x.run_blocks(b, &end),
                    Ok(Fetched::Single(d)) => {
                        x.execute(&d);
                    }
                    Err(f) => x.fault(f, x.cpu.state.rip),
                }
            }
            if let Some(r) = x.cpu.stop.take() {
                return r;
            }
        }
    }
}

/// Where a [`Cpu::run_to`] call ends: a step count and a cycle count.
struct Limits {
    steps: u64,
    cycles: u64,
}

impl Limits {
    /// Whether either limit is reached.
    #[inline(always)]
    fn reached(&self, c: &Cpu) -> bool {
        c.steps >= self.steps || c.cycles >= self.cycles
    }

    /// Whether `n` more instructions costing `cost` cycles in all stay within both limits.
    #[inline(always)]
    fn room(&self, c: &Cpu, n: usize, cost: u64) -> bool {
        c.steps.saturating_add(n as u64) <= self.steps && c.cycles.saturating_add(cost) <= self.cycles
    }
}

/// What instruction fetch found at CS:RIP.
enum Fetched {
    /// A cached (or newly decoded) block.
    Block(Rc<Block>),
    /// One instruction that crosses a page boundary or lies outside RAM.
    Single(Decoded),
}

impl Exec<'_> {
    /// Whether the next instruction must go through the debug path (`debug.rs`): armed
    /// breakpoints, TF or RF.
    #[inline(always)]
    fn debug_path(&self) -> bool {
        self.cpu.debug.armed || self.cpu.state.rflags & (crate::flags::TF | crate::flags::RF) != 0
    }

    /// Executes the one instruction at CS:RIP (the debug path's single step). Returns whether
    /// it completed normally.
    pub(crate) fn execute_one(&mut self) -> bool {
        let d = match self.fetch_block() {
            Ok(Fetched::Block(b)) => b.insns[0],
            Ok(Fetched::Single(d)) => d,
            Err(f) => {
                self.fault(f, self.cpu.state.rip);
                return false;
            }
        };
        self.execute(&d)
    }

    /// Runs `b`, then, while nothing needs the run loop's attention, the blocks that follow
    /// it as far as the jump cache knows them.
    ///
    /// A block that ends with a direct near branch back to its own start runs again without
    /// a lookup when the TLB generation is the one its fetch was made under: a direct near
    /// branch changes nothing but RIP, and every other instruction that could change what
    /// the fetch depends on (CR0/CR3/CR4/EFER, CPL and mode through a far transfer, VMX
    /// transitions, writes to code pages) either ends the block or makes `execute_block`
    /// return false.
    #[inline(always)]
    fn run_blocks(&mut self, mut b: Rc<Block>, end: &Limits) {
        loop {
            let start = self.cpu.state.rip;
            let generation = self.cpu.tlb.generation();
            if !self.execute_block(&b, end) {
                return;
            }
            if b.ends_near_direct {
                while self.cpu.state.rip == start && self.cpu.tlb.generation() == generation && !end.reached(self.cpu) {
                    if !self.execute_block(&b, end) {
                        return;
                    }
                }
            }
            if end.reached(self.cpu) {
                return;
            }
            match self.chained() {
                Some(next) => b = next,
                None => return,
            }
        }
    }

    /// What the fetch of the block at RIP depends on, in 64-bit mode (the only mode the jump
    /// cache serves: there RIP is the linear address and no CS limit applies).
    #[inline(always)]
    fn fetch_context(&self) -> Option<FetchContext> {
        let s = &self.cpu.state;
        if s.mode() != Mode::Long64 {
            return None;
        }
        Some(FetchContext {
            rip: s.rip,
            cr3: s.cr3,
            tlb_generation: self.cpu.tlb.generation(),
            code_epoch: self.mem.code_epoch(),
            tag: self.tlb_tag(),
            cpl: s.cpl,
        })
    }

    /// The block at RIP from the jump cache, if its fetch is known to find it.
    #[inline(always)]
    fn chained(&self) -> Option<Rc<Block>> {
        self.cpu.jumps.lookup(&self.fetch_context()?)
    }

    /// Runs the instructions of `b` from its start while execution stays on the block's path.
    /// Returns true when the block ran to its end or a branch left it and nothing needs the
    /// run loop's attention (events, a stop, the budget aside, which the caller checks).
    ///
    /// With room for the whole block in the budget and no interrupt shadow pending, simple
    /// instructions (see `icache::simple`) need no checks after them, and they are counted
    /// in [`Cpu::retired`] and [`Cpu::steps`] together, before the next instruction that is
    /// not simple, before a fault is handled, and at the block's end (simple instructions
    /// never read the counts).
    #[inline(always)]
    fn execute_block(&mut self, b: &Block, end: &Limits) -> bool {
        let epoch = self.mem.code_epoch();
        self.cpu.break_block = false;
        let mask = b.rip_mask;
        // Before the deadline with the whole block too: simple instructions cost exactly their
        // decoded cost, and anything that adds more (an event delivery) leaves the block.
        let fast = end.room(self.cpu, b.insns.len(), b.cost) && self.cpu.state.shadow == 0;
        if !fast {
            return self.execute_checked(&b.insns, end, epoch, mask, b.cost);
        }
        if b.has_store {
            self.execute_fast::<true>(&b.insns, end, epoch, mask, b.cost)
        } else {
            self.execute_fast::<false>(&b.insns, end, epoch, mask, b.cost)
        }
    }

    /// [`Exec::execute_block`] with the whole block within the budget and no interrupt
    /// shadow: runs simple instructions (and, with `STORES`, simple stores) without the
    /// checks, and hands the rest of the block to [`Exec::execute_checked`] at the first
    /// instruction that needs them. Blocks without simple stores run the leaner loop.
    #[inline(always)]
    fn execute_fast<const STORES: bool>(&mut self, insns: &[Decoded], end: &Limits, epoch: u64, mask: u64, cost: u64) -> bool {
        let mut pending = 0u64;
        for (n, d) in insns.iter().enumerate() {
            if d.class != icache::SIMPLE && (!STORES || d.class != icache::SIMPLE_STORE) {
                self.count(pending);
                return self.execute_checked(&insns[n..], end, epoch, mask, cost);
            }
            let start = self.cpu.state.rip;
            self.cpu.next_rip = start.wrapping_add(d.len as u64) & mask;
            self.cpu.cycles += d.cost as u64;
            match (d.handler)(self, &d.insn) {
                Ok(()) => {
                    self.cpu.state.rip = self.cpu.next_rip;
                    pending += 1;
                }
                Err(f) => {
                    self.count(pending);
                    self.fault(f, start);
                    return false;
                }
            }
            // A store may have reached a device or a page holding cached code.
            if STORES && d.class == icache::SIMPLE_STORE && (self.cpu.poll_events || self.mem.code_epoch() != epoch) {
                self.count(pending);
                return false;
            }
        }
        self.count(pending);
        true
    }

    /// Counts `n` retired instructions.
    #[inline(always)]
    fn count(&mut self, n: u64) {
        self.cpu.retired += n;
        self.cpu.steps += n;
    }

    /// The rest of [`Exec::execute_block`] from an instruction that is not simple (or all
    /// of it when the budget or an interrupt shadow needs checks): each instruction is
    /// followed by the checks, except simple ones and simple stores (`icache::simple_store`,
    /// which need two) while the budget, the deadline and shadow allow. `cost` bounds the
    /// cycles the instructions take (the whole block's).
    #[inline(never)]
    fn execute_checked(&mut self, insns: &[Decoded], end: &Limits, epoch: u64, mask: u64, cost: u64) -> bool {
        let fast = end.room(self.cpu, insns.len(), cost) && self.cpu.state.shadow == 0;
        for d in insns.iter() {
            if fast && d.class != icache::CHECKED {
                if !self.execute_simple(d, mask) {
                    return false;
                }
                // A store may have reached a device or a page holding cached code.
                if d.class == icache::SIMPLE_STORE && (self.cpu.poll_events || self.mem.code_epoch() != epoch) {
                    return false;
                }
                continue;
            }
            let next = self.cpu.state.rip.wrapping_add(d.len as u64);
            if !self.execute_masked(d, mask) {
                return false;
            }
            // Leave the block when something asked for the machine's or the event logic's
            // attention, when code may have changed, or when control went elsewhere.
            if self.cpu.poll_events
                || self.cpu.break_block
                || self.cpu.stop.is_some()
                || end.reached(self.cpu)
                || self.mem.code_epoch() != epoch
                || self.cpu.state.activity != Activity::Active
                || self.cpu.state.shadow != 0
                || self.debug_path()
            {
                return false;
            }
            if self.cpu.state.rip != next {
                return true;
            }
        }
        true
    }

    /// Executes one decoded instruction (or delivers the exception it raises). Returns
    /// whether it completed normally.
    #[inline(always)]
    fn execute(&mut self, d: &Decoded) -> bool {
        let mask = if d.insn.code_size() == iced_x86::CodeSize::Code64 { u64::MAX } else { 0xffff_ffff };
        self.execute_masked(d, mask)
    }

    /// [`Exec::execute`] with RIP wrapping at `mask`.
    #[inline(always)]
    fn execute_masked(&mut self, d: &Decoded, mask: u64) -> bool {
        let start = self.cpu.state.rip;
        let shadow = self.cpu.state.shadow;
        self.cpu.next_rip = start.wrapping_add(d.len as u64) & mask;
        self.cpu.cycles += d.cost as u64;
        match (d.handler)(self, &d.insn) {
            Ok(()) => {
                self.cpu.state.rip = self.cpu.next_rip;
                self.cpu.retired += 1;
                self.cpu.steps += 1;
                // An interrupt shadow lasts for exactly one instruction boundary.
                if shadow != 0 {
                    self.cpu.state.shadow &= !shadow;
                    self.cpu.poll_events = true;
                }
                true
            }
            Err(f) => {
                self.fault(f, start);
                false
            }
        }
    }

    /// [`Exec::execute`] for a simple instruction (see `icache::simple`) with no interrupt
    /// shadow pending: simple instructions never start one, so there is none to end.
    #[inline(always)]
    fn execute_simple(&mut self, d: &Decoded, mask: u64) -> bool {
        let start = self.cpu.state.rip;
        self.cpu.next_rip = start.wrapping_add(d.len as u64) & mask;
        self.cpu.cycles += d.cost as u64;
        match (d.handler)(self, &d.insn) {
            Ok(()) => {
                self.cpu.state.rip = self.cpu.next_rip;
                self.cpu.retired += 1;
                self.cpu.steps += 1;
                true
            }
            Err(f) => {
                self.fault(f, start);
                false
            }
        }
    }

    /// Handles an instruction (or fetch) that ended with `f`.
    #[cold]
    fn fault(&mut self, f: Fault, start: u64) {
        match f {
            Fault::Exception(e) => {
                self.cpu.state.rip = start;
                // Faults other than #DB push RFLAGS with RF=1 so that an instruction
                // breakpoint on the restarted instruction does not fire again (SDM Vol. 3A
                // 18.3.1.1; RF is cleared in RFLAGS itself by the delivery).
                if e.vector != crate::exception::vector::DB {
                    self.cpu.state.rflags |= crate::flags::RF;
                }
                self.deliver_exception(e);
            }
            Fault::Diverted => {
                self.cpu.retired += 1;
                self.cpu.steps += 1;
            }
            Fault::Unsupported(what) => {
                self.cpu.state.rip = start;
                self.cpu.stop = Some(StopReason::Unsupported(what));
            }
        }
    }

    /// Finds the decoded code at CS:RIP, decoding and caching a block on a miss.
    #[inline(always)]
    fn fetch_block(&mut self) -> Result<Fetched, Fault> {
        let mode = self.cpu.state.mode();
        let bitness = mode.bitness();
        let rip = self.cpu.state.rip;
        let la = self.code_linear(rip)?;
        let pa = self.translate(la, AccessKind::Execute)?;
        let key = icache::key(pa, bitness);
        if bitness == 64 {
            let b = match self.cpu.icache.lookup(self.mem, pa, key) {
                Some(b) => b,
                None => match self.decode_block(la, pa, key, bitness)? {
                    Fetched::Block(b) => b,
                    single => return Ok(single),
                },
            };
            if let Some(ctx) = self.fetch_context() {
                self.cpu.jumps.insert(ctx, &b);
            }
            return Ok(Fetched::Block(b));
        }
        if let Some(b) = self.cpu.icache.lookup(self.mem, pa, key) {
            if bitness != 64 {
                // The block was decoded under some CS limit; check this entry's limit now.
                let bytes: u64 = b.insns.iter().map(|d| d.len as u64).sum();
                if rip.wrapping_add(bytes - 1) > self.cpu.state.seg(crate::segment::SegReg::Cs).limit as u64 {
                    let d = b.insns[0];
                    self.code_limit_check(rip, d.len)?;
                    return Ok(Fetched::Single(d));
                }
            }
            return Ok(Fetched::Block(b));
        }
        self.decode_block(la, pa, key, bitness)
    }

    /// The slow path: decode instructions from `pa` up to a control transfer, the page end or
    /// [`MAX_BLOCK`] instructions. The first instruction may cross into the next page (then it
    /// is returned on its own, uncached).
    #[cold]
    fn decode_block(&mut self, la: u64, pa: PhysAddr, key: u64, bitness: u32) -> Result<Fetched, Fault> {
        let first = self.decode_one(la, pa, bitness)?;
        let in_ram = self.mem.is_ram(pa, first.len as u64);
        if (la & 0xfff) + first.len as u64 > 0x1000 || !in_ram {
            return Ok(Fetched::Single(first));
        }
        let limit = if bitness == 64 { u64::MAX } else { self.cpu.state.seg(crate::segment::SegReg::Cs).limit as u64 };
        let mut rip = self.cpu.state.rip.wrapping_add(first.len as u64);
        let mut off = (pa.0 & 0xfff) + first.len as u64;
        let mut insns = Vec::with_capacity(8);
        let mut last = first;
        insns.push(first);
        while insns.len() < MAX_BLOCK && last.insn.flow_control() == iced_x86::FlowControl::Next && off < 0x1000 {
            let bytes = match self.mem.slice(PhysAddr((pa.0 & !0xfff) + off), (0x1000 - off).min(15) as usize) {
                Some(b) => b,
                None => break,
            };
            let (insn, err) = decode(bitness, bytes);
            if err != DecoderError::None {
                break;
            }
            let len = insn.len() as u8;
            if rip.wrapping_add(len as u64 - 1) > limit {
                break;
            }
            last = self.decoded(insn);
            insns.push(last);
            rip = rip.wrapping_add(len as u64);
            off += len as u64;
        }
        Ok(Fetched::Block(self.cpu.icache.insert(self.mem, pa, key, insns)))
    }

    fn decoded(&self, insn: iced_x86::Instruction) -> Decoded {
        Decoded {
            insn,
            handler: exec::handler_for(&insn),
            len: insn.len() as u8,
            cost: self.cpu.config.cost.cost(&insn).max(1),
            simple: icache::simple(&insn),
            class: icache::class(&insn),
        }
    }

    /// Decodes the instruction at linear `la` (physical `pa`), fetching from the next page
    /// only if the instruction extends there.
    fn decode_one(&mut self, la: u64, pa: PhysAddr, bitness: u32) -> Result<Decoded, Fault> {
        let mut buf = [0u8; 15];
        let in_page = (0x1000 - (la & 0xfff)).min(15) as usize;
        self.fetch_phys(pa, &mut buf[..in_page]);
        let mut r = decode(bitness, &buf[..in_page]);
        if r.1 == DecoderError::NoMoreBytes && in_page < 15 {
            let next_la = self.wrap_linear(la.wrapping_add(in_page as u64));
            let pa2 = self.translate(next_la, AccessKind::Execute)?;
            self.fetch_phys(pa2, &mut buf[in_page..]);
            r = decode(bitness, &buf);
        }
        let (insn, err) = r;
        if err != DecoderError::None {
            // More than 15 bytes of prefixes and opcode: #GP(0) (SDM Vol. 2A 2.3.11);
            // anything else undecodable: #UD.
            return Err(if err == DecoderError::NoMoreBytes { Exception::gp0() } else { Exception::ud() }.into());
        }
        if bitness != 64 {
            self.code_limit_check(self.cpu.state.rip, insn.len() as u8)?;
        }
        Ok(self.decoded(insn))
    }

    /// Reads code bytes from RAM or, for code outside RAM, from the bus.
    fn fetch_phys(&mut self, pa: PhysAddr, buf: &mut [u8]) {
        if !self.mem.read_bytes(pa, buf) {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = self.read_phys(PhysAddr(pa.0.wrapping_add(i as u64)), 1) as u8;
            }
        }
    }

    /// Reports an instruction hvbench does not implement (once per address) and raises #UD.
    #[cold]
    pub fn unimplemented(&mut self, insn: &iced_x86::Instruction) -> Result<(), Fault> {
        let rip = self.cpu.state.rip;
        if self.cpu.reported.insert(rip) {
            let mut text = String::new();
            let mut f = iced_x86::IntelFormatter::new();
            iced_x86::Formatter::format(&mut f, insn, &mut text);
            self.cpu.events.push(Event::Unimplemented { rip, text });
        }
        Err(Exception::ud().into())
    }

    /// Requests that the run loop return after this instruction.
    #[inline]
    pub fn request_stop(&mut self, why: StopReason) {
        self.cpu.stop = Some(why);
    }
}

fn decode(bitness: u32, bytes: &[u8]) -> (iced_x86::Instruction, DecoderError) {
    let mut dec = Decoder::with_ip(bitness, bytes, 0, DecoderOptions::NONE);
    let insn = dec.decode();
    (insn, dec.last_error())
}
