//! Files for pages, confined to named roots.
//!
//! A page names a file as `$ROOT/relative/path` (`$STATE`, `$CONFIG`, `$MEDIA`, `$TMP`),
//! never as an absolute path. The relative part may not contain `..`. Every open goes
//! through `openat2(RESOLVE_BENEATH)` from the root's directory, so the kernel itself
//! keeps the resolution inside the root — symlinks that point out, absolute symlinks,
//! and a symlink swapped in between a check and the use all fail, with no window
//! between checking and opening. After opening, the path the descriptor really has is
//! read back and checked against the scope again, so a symlink inside the root cannot
//! lead from an allowed name to a denied one. Writes are atomic: a temporary file in
//! the same directory, fsync, rename, fsync of the directory.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FsError {
    #[error("{0}")]
    BadPath(String),
    #[error("'{0}' is outside its root")]
    Escapes(String),
    #[error("'{0}' does not exist")]
    NotFound(String),
    #[error("'{path}' is {size} bytes, more than the limit of {limit}")]
    TooLarge { path: String, size: u64, limit: u64 },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// The named roots and their directories.
#[derive(Debug, Clone, Default)]
pub struct Roots(BTreeMap<String, PathBuf>);

/// A page's path, split into its root and a clean relative part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalPath {
    pub root: String,
    pub rel: PathBuf,
}

impl LogicalPath {
    /// `$ROOT/rel`, as scopes match it.
    pub fn display(&self) -> String {
        if self.rel.as_os_str().is_empty() {
            format!("${}", self.root)
        } else {
            format!("${}/{}", self.root, self.rel.display())
        }
    }
}

impl Roots {
    pub fn new(map: BTreeMap<String, PathBuf>) -> Self {
        Self(map)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// The directory of the root `name` (without `$`).
    pub fn root_dir(&self, name: &str) -> Option<&Path> {
        self.0.get(name).map(PathBuf::as_path)
    }

    /// Parses `$ROOT/a/b` lexically: the root must exist, `..` and absolute paths are
    /// refused, `.` and empty parts dropped.
    pub fn parse(&self, path: &str) -> Result<LogicalPath, FsError> {
        if path.contains('\0') {
            return Err(FsError::BadPath("a path may not contain NUL".into()));
        }
        let Some(rest) = path.strip_prefix('$') else {
            return Err(FsError::BadPath(format!(
                "'{path}' must start with a root: {}",
                self.names().map(|n| format!("${n}")).collect::<Vec<_>>().join(", ")
            )));
        };
        let (root, rel) = rest.split_once('/').unwrap_or((rest, ""));
        if !self.0.contains_key(root) {
            return Err(FsError::BadPath(format!("'{path}': no root named ${root}")));
        }
        let mut clean = PathBuf::new();
        for part in rel.split('/') {
            match part {
                "" | "." => {}
                ".." => return Err(FsError::Escapes(path.to_string())),
                p => clean.push(p),
            }
        }
        Ok(LogicalPath { root: root.to_string(), rel: clean })
    }

    fn dir(&self, root: &str) -> Result<&Path, FsError> {
        self.0.get(root).map(PathBuf::as_path).ok_or_else(|| FsError::BadPath(format!("no root named ${root}")))
    }

    /// Opens `path` beneath its root. `flags` are `open(2)` flags.
    fn open(&self, path: &LogicalPath, flags: i32, mode: u32) -> Result<OwnedFd, FsError> {
        let dir = self.dir(&path.root)?;
        std::fs::create_dir_all(dir).map_err(|e| io(&path.display(), e))?;
        let root = File::open(dir).map_err(|e| io(&path.display(), e))?;
        let rel = if path.rel.as_os_str().is_empty() { PathBuf::from(".") } else { path.rel.clone() };
        openat2_beneath(root.as_raw_fd(), &rel, flags, mode).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => FsError::NotFound(path.display()),
            Some(libc::EXDEV) | Some(libc::ELOOP) => FsError::Escapes(path.display()),
            _ => io(&path.display(), e),
        })
    }

    /// Where the open descriptor really is, as a logical path of the same root.
    pub fn real_path(&self, path: &LogicalPath, fd: &OwnedFd) -> Result<LogicalPath, FsError> {
        let real =
            std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| io(&path.display(), e))?;
        let dir = std::fs::canonicalize(self.dir(&path.root)?).map_err(|e| io(&path.display(), e))?;
        let rel = real.strip_prefix(&dir).map_err(|_| FsError::Escapes(path.display()))?;
        Ok(LogicalPath { root: path.root.clone(), rel: rel.to_path_buf() })
    }

    /// Reads a file of at most `limit` bytes; `allowed` checks the real path.
    pub fn read(&self, path: &LogicalPath, limit: u64, allowed: impl Fn(&str) -> bool) -> Result<Vec<u8>, FsError> {
        let fd = self.open(path, libc::O_RDONLY, 0)?;
        self.recheck(path, &fd, &allowed)?;
        let file = File::from(fd);
        let size = file.metadata().map_err(|e| io(&path.display(), e))?.len();
        if size > limit {
            return Err(FsError::TooLarge { path: path.display(), size, limit });
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        // Read one byte past the limit, in case the file grew since fstat.
        file.take(limit + 1).read_to_end(&mut out).map_err(|e| io(&path.display(), e))?;
        if out.len() as u64 > limit {
            return Err(FsError::TooLarge { path: path.display(), size: out.len() as u64, limit });
        }
        Ok(out)
    }

    /// Opens a regular file for reading beneath its root, checking the real path with
    /// `allowed`: the caller reads it in pieces (media served by range).
    pub fn open_read(&self, path: &LogicalPath, allowed: impl Fn(&str) -> bool) -> Result<File, FsError> {
        let fd = self.open(path, libc::O_RDONLY, 0)?;
        self.recheck(path, &fd, &allowed)?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| io(&path.display(), e))?;
        if !meta.is_file() {
            return Err(FsError::NotFound(path.display()));
        }
        Ok(file)
    }

    /// Replaces the file atomically with `bytes`; the parent directory must exist.
    pub fn write(&self, path: &LogicalPath, bytes: &[u8], allowed: impl Fn(&str) -> bool) -> Result<(), FsError> {
        let (parent, name) = split(path)?;
        let dir = self.open(&parent, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let real_parent = self.real_path(&parent, &dir)?;
        let target = LogicalPath { root: path.root.clone(), rel: real_parent.rel.join(&name) };
        if !allowed(&target.display()) {
            return Err(FsError::Escapes(path.display()));
        }
        let name_c = cstr(&name)?;
        let (tmp_c, mut file) = create_unique(&dir, &name).map_err(|e| io(&path.display(), e))?;
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        // SAFETY: both names are NUL-terminated and relative to the same live directory.
        let renamed = written.and_then(|()| {
            let r = unsafe { libc::renameat(dir.as_raw_fd(), tmp_c.as_ptr(), dir.as_raw_fd(), name_c.as_ptr()) };
            if r == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
        if let Err(e) = renamed {
            // SAFETY: as above; removing our own temporary file.
            unsafe { libc::unlinkat(dir.as_raw_fd(), tmp_c.as_ptr(), 0) };
            return Err(io(&path.display(), e));
        }
        // The rename is durable once the directory is.
        File::from(dir).sync_all().map_err(|e| io(&path.display(), e))
    }

    /// Entries of a directory: (name, is_dir, size).
    pub fn list(
        &self,
        path: &LogicalPath,
        allowed: impl Fn(&str) -> bool,
    ) -> Result<Vec<(String, bool, u64)>, FsError> {
        let fd = self.open(path, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        self.recheck(path, &fd, &allowed)?;
        let entries =
            std::fs::read_dir(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| io(&path.display(), e))?;
        let mut out: Vec<(String, bool, u64)> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                Some((e.file_name().to_string_lossy().into_owned(), meta.is_dir(), meta.len()))
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// (is_dir, size, modified seconds since the epoch).
    pub fn stat(&self, path: &LogicalPath, allowed: impl Fn(&str) -> bool) -> Result<(bool, u64, u64), FsError> {
        let fd = self.open(path, libc::O_PATH, 0)?;
        self.recheck(path, &fd, &allowed)?;
        let meta =
            std::fs::metadata(format!("/proc/self/fd/{}", fd.as_raw_fd())).map_err(|e| io(&path.display(), e))?;
        let modified =
            meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
        Ok((meta.is_dir(), meta.len(), modified))
    }

    /// Removes a file or an empty directory.
    pub fn remove(&self, path: &LogicalPath, allowed: impl Fn(&str) -> bool) -> Result<(), FsError> {
        let (parent, name) = split(path)?;
        let dir = self.open(&parent, libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        let real_parent = self.real_path(&parent, &dir)?;
        if !allowed(&LogicalPath { root: path.root.clone(), rel: real_parent.rel.join(&name) }.display()) {
            return Err(FsError::Escapes(path.display()));
        }
        let name_c = cstr(&name)?;
        // SAFETY: a NUL-terminated name relative to a live directory descriptor.
        let mut r = unsafe { libc::unlinkat(dir.as_raw_fd(), name_c.as_ptr(), 0) };
        if r != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EISDIR) {
            // SAFETY: as above.
            r = unsafe { libc::unlinkat(dir.as_raw_fd(), name_c.as_ptr(), libc::AT_REMOVEDIR) };
        }
        if r != 0 {
            let e = std::io::Error::last_os_error();
            return Err(if e.raw_os_error() == Some(libc::ENOENT) {
                FsError::NotFound(path.display())
            } else {
                io(&path.display(), e)
            });
        }
        Ok(())
    }

    fn recheck(&self, path: &LogicalPath, fd: &OwnedFd, allowed: &impl Fn(&str) -> bool) -> Result<(), FsError> {
        let real = self.real_path(path, fd)?;
        if allowed(&real.display()) {
            Ok(())
        } else {
            Err(FsError::Escapes(path.display()))
        }
    }
}

/// Creates a temporary file next to `name` under a name no other write uses: each write
/// owns its file (`O_EXCL`), so concurrent writes of one path never share or unlink each
/// other's, and the last rename wins. `O_TMPFILE` would need `linkat` to a name anyway
/// before the rename, because `linkat` cannot replace an existing file.
fn create_unique(dir: &OwnedFd, name: &str) -> std::io::Result<(CString, File)> {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut last = std::io::Error::from_raw_os_error(libc::EEXIST);
    for _ in 0..16 {
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut random = [0u8; 8];
        // SAFETY: getrandom writes at most `random.len()` bytes into the buffer.
        let got = unsafe { libc::getrandom(random.as_mut_ptr().cast(), random.len(), 0) };
        let random = if got == random.len() as isize { u64::from_ne_bytes(random) } else { 0 };
        // A long name is cut, so that the temporary one stays within NAME_MAX.
        let stem: String = name.chars().take(64).collect();
        let tmp = format!(".{stem}.vitrine-{}-{n}-{random:016x}", std::process::id());
        let tmp_c = CString::new(tmp).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: openat with a valid directory descriptor and NUL-terminated name.
        let raw = unsafe { libc::openat(dir.as_raw_fd(), tmp_c.as_ptr(), flags, 0o644) };
        if raw >= 0 {
            // SAFETY: `raw` was just returned by openat and is owned by nobody else.
            return Ok((tmp_c, unsafe { File::from_raw_fd(raw) }));
        }
        last = std::io::Error::last_os_error();
        if last.raw_os_error() != Some(libc::EEXIST) {
            break;
        }
    }
    Err(last)
}

fn split(path: &LogicalPath) -> Result<(LogicalPath, String), FsError> {
    let name = path.rel.file_name().map(|n| n.to_string_lossy().into_owned());
    let Some(name) = name else { return Err(FsError::BadPath(format!("'{}' names no file", path.display()))) };
    let parent = path.rel.parent().map(Path::to_path_buf).unwrap_or_default();
    Ok((LogicalPath { root: path.root.clone(), rel: parent }, name))
}

fn cstr(s: &str) -> Result<CString, FsError> {
    CString::new(s).map_err(|_| FsError::BadPath("a path may not contain NUL".into()))
}

fn io(path: &str, e: std::io::Error) -> FsError {
    FsError::Io { path: path.to_string(), message: e.to_string() }
}

/// `openat2(dirfd, rel, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)`: the kernel refuses
/// any resolution that leaves `dirfd`, including through symlinks.
fn openat2_beneath(dirfd: i32, rel: &Path, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    let path = CString::new(rel.as_os_str().as_encoded_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: open_how is plain data; all-zero is a valid value before we fill it.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.mode = if flags & libc::O_CREAT != 0 { u64::from(mode) } else { 0 };
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: the arguments are a valid descriptor, a NUL-terminated path and a
    // properly sized open_how, as openat2(2) requires.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dirfd,
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> Roots {
        let mut m = BTreeMap::new();
        m.insert("MEDIA".to_string(), dir.join("media"));
        m.insert("STATE".to_string(), dir.join("state"));
        std::fs::create_dir_all(dir.join("media/sub")).unwrap();
        std::fs::create_dir_all(dir.join("state")).unwrap();
        Roots::new(m)
    }

    #[test]
    fn paths_are_parsed_lexically() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        assert_eq!(r.parse("$MEDIA/a/./b//c").unwrap().display(), "$MEDIA/a/b/c");
        assert_eq!(r.parse("$MEDIA").unwrap().display(), "$MEDIA");
        assert!(matches!(r.parse("$MEDIA/../state/x"), Err(FsError::Escapes(_))));
        assert!(matches!(r.parse("/etc/passwd"), Err(FsError::BadPath(_))));
        assert!(matches!(r.parse("$NOPE/x"), Err(FsError::BadPath(_))));
    }

    #[test]
    fn writes_reads_lists_stats_and_removes() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        let any = |_: &str| true;
        let p = r.parse("$MEDIA/sub/a.txt").unwrap();
        r.write(&p, b"hello", any).unwrap();
        assert_eq!(r.read(&p, 100, any).unwrap(), b"hello");
        assert!(matches!(r.read(&p, 3, any), Err(FsError::TooLarge { .. })));
        assert_eq!(r.list(&r.parse("$MEDIA/sub").unwrap(), any).unwrap(), vec![("a.txt".into(), false, 5)]);
        assert_eq!(r.stat(&p, any).unwrap().1, 5);
        r.remove(&p, any).unwrap();
        assert_eq!(r.read(&p, 100, any), Err(FsError::NotFound("$MEDIA/sub/a.txt".into())));
    }

    #[test]
    fn concurrent_writes_of_one_path_all_land_whole() {
        let t = tempfile::tempdir().unwrap();
        let r = std::sync::Arc::new(roots(t.path()));
        let p = r.parse("$MEDIA/sub/race.txt").unwrap();
        let threads: Vec<_> = (0..16u8)
            .map(|i| {
                let (r, p) = (std::sync::Arc::clone(&r), p.clone());
                std::thread::spawn(move || {
                    (0..40).filter(|_| r.write(&p, &vec![b'a' + i; 4096], |_: &str| true).is_err()).count()
                })
            })
            .collect();
        let failed: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(failed, 0);
        let text = std::fs::read(t.path().join("media/sub/race.txt")).unwrap();
        assert_eq!(text.len(), 4096);
        assert!(text.iter().all(|b| *b == text[0]));
        let names: Vec<_> =
            std::fs::read_dir(t.path().join("media/sub")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("race.txt")], "temporary files left behind");
    }

    #[test]
    fn symlinks_cannot_leave_the_root_or_reach_a_denied_name() {
        let t = tempfile::tempdir().unwrap();
        let r = roots(t.path());
        std::fs::write(t.path().join("state/secret"), b"s").unwrap();
        std::os::unix::fs::symlink(t.path().join("state/secret"), t.path().join("media/out")).unwrap();
        std::os::unix::fs::symlink("../state/secret", t.path().join("media/rel-out")).unwrap();
        std::fs::write(t.path().join("media/private.txt"), b"p").unwrap();
        std::os::unix::fs::symlink("private.txt", t.path().join("media/public.txt")).unwrap();
        let any = |_: &str| true;
        for name in ["$MEDIA/out", "$MEDIA/rel-out"] {
            assert!(matches!(r.read(&r.parse(name).unwrap(), 10, any), Err(FsError::Escapes(_))), "{name}");
        }
        let no_private = |p: &str| !p.ends_with("private.txt");
        assert!(matches!(r.read(&r.parse("$MEDIA/public.txt").unwrap(), 10, no_private), Err(FsError::Escapes(_))));
        // Writing through a symlinked parent that leaves the root fails too.
        std::os::unix::fs::symlink(t.path().join("state"), t.path().join("media/statedir")).unwrap();
        assert!(r.write(&r.parse("$MEDIA/statedir/x").unwrap(), b"x", any).is_err());
        assert!(!t.path().join("state/x").exists());
    }
}
