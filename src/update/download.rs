//! Fetching a bundle named by an http(s) URL into the data partition.
//!
//! Debian's RAUC 1.8 is built without streaming, and its own download goes to its
//! temporary directory (RAM on most boards) under a small default limit, so the core
//! fetches the bundle itself: into the state directory (the data partition, which
//! survives the update), never more than [`MAX_BYTES`] nor more than the file system
//! can spare, then hands RAUC the local file. RAUC checks the signature as for any file.

use std::io::{Read, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::UpdateError;

/// The largest bundle fetched: larger than any kiosk image, smaller than a data
/// partition is likely to spare.
pub const MAX_BYTES: u64 = 4 << 30;

/// What stays free on the data partition after the download (the store lives there).
const KEEP_FREE: u64 = 64 << 20;

/// No byte for this long: the server is gone.
const STALL: Duration = Duration::from_secs(60);

/// Downloads `url` to `dir/download.raucb` (replacing an earlier one); calls `progress`
/// with whole percents when the size is known. Removes a partial file on failure.
pub fn fetch(url: &str, dir: &Path, mut progress: impl FnMut(u8)) -> Result<PathBuf, UpdateError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| UpdateError::Download(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join("download.raucb");
    let _ = std::fs::remove_file(&file);
    let limit = MAX_BYTES.min(free_bytes(dir).saturating_sub(KEEP_FREE));
    let out = fetch_to(url, &file, limit, &mut progress);
    if out.is_err() {
        let _ = std::fs::remove_file(&file);
    }
    out.map(|()| file)
}

fn fetch_to(url: &str, file: &Path, limit: u64, progress: &mut impl FnMut(u8)) -> Result<(), UpdateError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_recv_body(Some(STALL))
        .build()
        .into();
    let mut response = agent.get(url).call().map_err(|e| UpdateError::Download(format!("{url}: {e}")))?;
    let total = response.body().content_length();
    if let Some(total) = total.filter(|t| *t > limit) {
        return Err(UpdateError::TooLarge(format!(
            "{url} is {total} bytes; at most {limit} fit on the data partition"
        )));
    }
    let mut reader = response.body_mut().with_config().limit(limit.saturating_add(1)).reader();
    let mut out = std::fs::File::create(file).map_err(|e| UpdateError::Download(format!("{}: {e}", file.display())))?;
    let mut buf = vec![0u8; 256 << 10];
    let mut done: u64 = 0;
    let mut shown = None;
    loop {
        let n = reader.read(&mut buf).map_err(|e| UpdateError::Download(format!("{url}: {e}")))?;
        if n == 0 {
            break;
        }
        done += n as u64;
        if done > limit {
            return Err(UpdateError::TooLarge(format!("{url} is larger than {limit} bytes")));
        }
        out.write_all(&buf[..n]).map_err(|e| UpdateError::Download(format!("{}: {e}", file.display())))?;
        if let Some(total) = total.filter(|t| *t > 0) {
            let pct = u8::try_from(done.saturating_mul(100) / total).unwrap_or(100).min(100);
            if shown != Some(pct) {
                shown = Some(pct);
                progress(pct);
            }
        }
    }
    if let Some(total) = total.filter(|t| *t != done) {
        return Err(UpdateError::Download(format!("{url}: {done} of {total} bytes arrived")));
    }
    // RAUC reads it from another process: on disk, not in our page cache only.
    out.sync_all().map_err(|e| UpdateError::Download(format!("{}: {e}", file.display())))
}

/// What the file system holding `dir` has free for us.
fn free_bytes(dir: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt as _;
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else { return 0 };
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is a valid C string and `stat` a writable statvfs.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return 0;
    }
    // Both are 32 bits on armv7.
    #[allow(clippy::unnecessary_cast)]
    (stat.f_bavail as u64).saturating_mul(stat.f_frsize as u64)
}
