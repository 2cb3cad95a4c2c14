//! Tunes glibc's allocator for a core that moves large messages, within what the board
//! can spare.
//!
//! Each large IPC payload passes through a few buffers of its own size (the request
//! body, the parsed value, the reply script). glibc serves blocks above its mmap
//! threshold with fresh mappings and trims the heap top once 2× that threshold is
//! free, so a steady stream of 1 MiB calls keeps faulting fresh pages in: the ipc
//! benchmark measured 1.1–1.6 ms of core CPU per 1 MiB JSON echo, and 0.7 ms with
//! these settings (64 KiB: 60 → 26 µs). The price is that up to the trim threshold of
//! freed memory stays with the process instead of going back to the kernel: 64 MiB
//! is nothing on a desktop and an eighth of a Raspberry Pi Zero 2 W, so the threshold
//! follows the board's memory unless `memory.core_heap_keep_mb` sets it.

/// Blocks up to this size come from the heap: above the default message limit (16 MiB)
/// where glibc allows it (64-bit); 32-bit glibc caps the threshold at 512 KiB.
const MMAP_THRESHOLD: usize = if cfg!(target_pointer_width = "64") { 32 << 20 } else { 512 << 10 };
/// The most freed memory kept, on boards of 4 GiB and more.
pub const MAX_KEEP: usize = 64 << 20;
/// The least kept when sized by the board: below it the tuning buys nothing.
const MIN_KEEP: usize = 4 << 20;

/// How much freed heap to keep: `configured` MiB (0: leave glibc's defaults alone),
/// else 1/64 of the board's memory between 4 and 64 MiB (512 MB: 8 MiB, 1 GB: 16 MiB,
/// 4 GB: 64 MiB). `None`: do not tune.
pub fn keep_bytes(configured: Option<u32>, ram_bytes: Option<u64>) -> Option<usize> {
    match configured {
        Some(0) => None,
        Some(mb) => Some((mb as usize).saturating_mul(1 << 20)),
        None => {
            let ram = ram_bytes.unwrap_or(MAX_KEEP as u64 * 64);
            Some(usize::try_from(ram / 64).unwrap_or(MAX_KEEP).clamp(MIN_KEEP, MAX_KEEP))
        }
    }
}

/// The board's memory, from the kernel.
fn ram_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Applies the settings; call it once, before threads start allocating in earnest.
pub fn tune(configured_mb: Option<u32>) {
    let Some(keep) = keep_bytes(configured_mb, ram_bytes()) else {
        log::debug!("allocator: glibc's defaults (memory.core_heap_keep_mb = 0)");
        return;
    };
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; both values are in range.
    unsafe {
        let keep = libc::c_int::try_from(keep).unwrap_or(libc::c_int::MAX);
        let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, keep);
        if mmap != 1 || trim != 1 {
            log::warn!("could not tune the allocator for large messages");
        }
    }
    log::debug!("allocator: up to {} MiB of freed heap kept for large messages", keep >> 20);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    #[test]
    fn the_kept_heap_follows_the_board_unless_configured() {
        assert_eq!(keep_bytes(None, Some(512 * MB)), Some(8 << 20));
        assert_eq!(keep_bytes(None, Some(1024 * MB)), Some(16 << 20));
        assert_eq!(keep_bytes(None, Some(24 * 1024 * MB)), Some(MAX_KEEP));
        assert_eq!(keep_bytes(None, Some(128 * MB)), Some(MIN_KEEP));
        assert_eq!(keep_bytes(None, None), Some(MAX_KEEP));
        assert_eq!(keep_bytes(Some(2), Some(24 * 1024 * MB)), Some(2 << 20));
        assert_eq!(keep_bytes(Some(0), Some(512 * MB)), None);
    }
}
