//! Tunes glibc's allocator for a core that moves large messages.
//!
//! Each large IPC payload passes through a few buffers of its own size (the request
//! body, the parsed value, the reply script). glibc serves blocks above its mmap
//! threshold with fresh mappings and trims the heap top once 2× that threshold is
//! free, so a steady stream of 1 MiB calls keeps faulting fresh pages in: the ipc
//! benchmark measured 1.1–1.6 ms of core CPU per 1 MiB JSON echo, and 0.7 ms with
//! these settings (64 KiB: 60 → 26 µs). The price is that up to [`TRIM_THRESHOLD`] of
//! freed memory stays with the process instead of going back to the kernel.

/// Blocks up to this size come from the heap: above the default message limit (16 MiB)
/// where glibc allows it (64-bit); 32-bit glibc caps the threshold at 512 KiB.
const MMAP_THRESHOLD: usize = if cfg!(target_pointer_width = "64") { 32 << 20 } else { 512 << 10 };
/// Free memory at the heap top above this is returned to the kernel.
pub const TRIM_THRESHOLD: usize = 64 << 20;

/// Applies the settings; call it once, before threads start allocating in earnest.
pub fn tune() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; both values are in range.
    unsafe {
        let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD as libc::c_int);
        if mmap != 1 || trim != 1 {
            log::warn!("could not tune the allocator for large messages");
        }
    }
}
