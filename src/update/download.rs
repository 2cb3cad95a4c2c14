//! Fetching a bundle named by an http(s) URL into the data partition.
//!
//! Debian's RAUC 1.8 is built without streaming, and its own download goes to its
//! temporary directory (RAM on most boards) under a small default limit, so the core
//! fetches the bundle itself: into the state directory (the data partition, which
//! survives the update), never more than [`MAX_BYTES`] nor more than the file system
//! can spare, then hands RAUC the local file. RAUC checks the signature as for any file.
//! Requests go as pages' do (`[network]`: proxy, extra CAs; see
//! [`crate::os::http::download_agent`]).

use std::io::{Read, Write as _};
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

use super::UpdateError;

/// The largest bundle fetched: larger than any kiosk image, smaller than a data
/// partition is likely to spare.
pub const MAX_BYTES: u64 = 4 << 30;

/// The bundle being downloaded, in the download directory.
pub const FILE_NAME: &str = "download.raucb";

/// What stays free on the data partition after the download (the store lives there).
const KEEP_FREE: u64 = 64 << 20;

/// Downloads `url` to `dir/download.raucb` (replacing an earlier one); calls `progress`
/// with whole percents when the size is known. Removes a partial file on failure.
pub fn fetch(agent: &ureq::Agent, url: &str, dir: &Path, mut progress: impl FnMut(u8)) -> Result<PathBuf, UpdateError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| UpdateError::Download(format!("cannot create {}: {e}", dir.display())))?;
    let file = dir.join(FILE_NAME);
    let _ = std::fs::remove_file(&file);
    let limit = MAX_BYTES.min(free_bytes(dir).saturating_sub(KEEP_FREE));
    let out = fetch_to(agent, url, &file, limit, &mut progress);
    if out.is_err() {
        let _ = std::fs::remove_file(&file);
    }
    out.map(|()| file)
}

fn fetch_to(
    agent: &ureq::Agent,
    url: &str,
    file: &Path,
    limit: u64,
    progress: &mut impl FnMut(u8),
) -> Result<(), UpdateError> {
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
    let (blocks, size) = (stat.f_bavail as u64, stat.f_frsize as u64);
    blocks.saturating_mul(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot loopback server answering `head` and `body`, closing after.
    fn serve(head: &'static str, body: Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        format!("http://127.0.0.1:{port}/b.raucb")
    }

    fn agent() -> ureq::Agent {
        crate::os::http::download_agent(&Default::default())
    }

    #[test]
    fn a_bundle_is_written_whole_with_its_progress() {
        let dir = tempfile::tempdir().unwrap();
        let body = vec![7u8; 300_000];
        let url = serve("HTTP/1.1 200 OK\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n", body.clone());
        let mut seen = Vec::new();
        let file = fetch_to(&agent(), &url, &dir.path().join(FILE_NAME), 1 << 20, &mut |p| seen.push(p));
        assert!(file.is_ok(), "{file:?}");
        assert_eq!(std::fs::read(dir.path().join(FILE_NAME)).unwrap(), body);
        assert_eq!(seen.last(), Some(&100));
    }

    #[test]
    fn too_large_bundles_are_refused_declared_or_not_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let declared = serve("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n", vec![1; 5000]);
        let out = fetch_to(&agent(), &declared, &dir.path().join(FILE_NAME), 1000, &mut |_| {});
        assert_eq!(out.err().map(|e| e.code()), Some("too_large"));
        // No length: counted as it comes.
        let undeclared = serve("HTTP/1.0 200 OK\r\n\r\n", vec![1; 5000]);
        let out = fetch(&agent(), &undeclared, dir.path(), |_| {});
        assert!(out.is_ok(), "the real limit is the disk's: {out:?}");
        let undeclared = serve("HTTP/1.0 200 OK\r\n\r\n", vec![1; 5000]);
        let out = fetch_to(&agent(), &undeclared, &dir.path().join("x"), 1000, &mut |_| {});
        assert_eq!(out.err().map(|e| e.code()), Some("too_large"));
        let missing = serve("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", Vec::new());
        let out = fetch(&agent(), &missing, dir.path(), |_| {});
        assert_eq!(out.err().map(|e| e.code()), Some("download_failed"));
        assert!(!dir.path().join(FILE_NAME).exists(), "a failed download leaves no file");
    }
}
