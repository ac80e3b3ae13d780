//! A bump allocator of zeroed 4-KiB physical frames from the pool the linker script reserves
//! (`__frames_start`..`__frames_end`, inside the image's memory size so that no boot loader
//! puts anything there). Frames are never freed: the hypervisor allocates its VMX regions,
//! bitmaps and EPT tables once.

use super::addr::{HostPhys, PAGE_SIZE};
use core::sync::atomic::{AtomicU64, Ordering};

unsafe extern "C" {
    static __frames_start: u8;
    static __frames_end: u8;
    static __probe_page: u8;
    static __exec_probe_page: u8;
}

/// The next free frame (0 = the pool's start, not yet read).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The frame pool is empty.
#[derive(Debug, Clone, Copy)]
pub struct OutOfFrames;

/// A zeroed 4-KiB frame.
pub fn alloc() -> Result<HostPhys, OutOfFrames> {
    let start = HostPhys::of(&raw const __frames_start).0;
    let end = HostPhys::of(&raw const __frames_end).0;
    let _ = NEXT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    let at = NEXT.fetch_add(PAGE_SIZE, Ordering::Relaxed);
    if at.checked_add(PAGE_SIZE).is_none_or(|e| e > end) {
        return Err(OutOfFrames);
    }
    let frame = HostPhys(at);
    // SAFETY: the frame is inside the reserved pool, identity-mapped, and handed out once.
    unsafe { core::ptr::write_bytes(frame.as_mut_ptr::<u8>(), 0, PAGE_SIZE as usize) };
    Ok(frame)
}

/// The page below [`probe_page`], reserved for the guest's EPT execute-violation probe.
pub fn exec_probe_page() -> HostPhys {
    HostPhys::of(&raw const __exec_probe_page)
}

/// The page the linker script reserves just above the pool for the guest's EPT-violation
/// probe (a fixed address keeps the transcript the same however the code grows).
pub fn probe_page() -> HostPhys {
    HostPhys::of(&raw const __probe_page)
}
