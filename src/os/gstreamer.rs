//! GStreamer's plugin registry, brought up to date by the core before any page plays.
//!
//! A process that initialises GStreamer with a missing or stale registry (a first
//! start, a plugin package upgraded) scans every plugin first: measured here ~0.8 s
//! idle and over 1 s under load on a 2-core x86 machine, seconds on a Pi. In a web
//! process that happens on its main thread at the page's first media use, where the
//! core's hang detector sees an unresponsive page and ends it; and since WebKit's
//! sandbox gives each web process an empty `/tmp`, a registry named there by
//! `GST_REGISTRY_1_0` is never found and every web process scans again. WebKit's
//! sandbox does mount the user cache directory (`$XDG_CACHE_HOME`, the unit's
//! `CacheDirectory=`) read-write, where GStreamer keeps its registry by default.
//!
//! So the core initialises GStreamer itself, off the GTK thread, at start: that writes
//! (or only checks, when nothing changed: a few ms) the registry the web processes
//! read. GStreamer is not a build dependency: WebKit already loads `libgstreamer-1.0`
//! into the core, and the two entry points are looked up in it at run time.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum GstError {
    #[error("libgstreamer-1.0 is not loaded: {0}")]
    NoLibrary(String),
    #[error("GStreamer did not initialise: {0}")]
    Init(String),
}

/// The registry file the core's and the web processes' GStreamer use: the environment's
/// (`GST_REGISTRY_1_0`, `GST_REGISTRY`), else `gstreamer-1.0/registry.<cpu>.bin` in the
/// user cache directory.
pub fn registry_path() -> PathBuf {
    registry_path_in(|k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// [`registry_path`] for an environment given as a lookup.
fn registry_path_in(env: impl Fn(&str) -> Option<PathBuf>) -> PathBuf {
    if let Some(path) = env("GST_REGISTRY_1_0").or_else(|| env("GST_REGISTRY")) {
        return path;
    }
    let cache = env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    cache.join("gstreamer-1.0").join(format!("registry.{}.bin", std::env::consts::ARCH))
}

/// Initialises GStreamer in this process, which scans the plugins and writes the
/// registry when it is missing or stale. Blocks for as long as that takes: call it on a
/// thread of its own.
pub fn warm_registry() -> Result<Duration, GstError> {
    type InitCheck = unsafe extern "C" fn(*mut c_int, *mut *mut *mut c_char, *mut *mut GError) -> c_int;
    #[repr(C)]
    struct GError {
        domain: u32,
        code: c_int,
        message: *const c_char,
    }
    let started = Instant::now();
    // SAFETY: dlopen/dlsym with NUL-terminated names; the handle is kept for the life of
    // the process (the library is WebKit's dependency and never unloaded), and the
    // symbol has gst_init_check's C signature, called with the documented NULL
    // arguments. The GError, if any, is read and then leaked (a one-off at start).
    unsafe {
        let handle = libc::dlopen(c"libgstreamer-1.0.so.0".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        if handle.is_null() {
            return Err(GstError::NoLibrary(dl_error()));
        }
        let symbol: *mut c_void = libc::dlsym(handle, c"gst_init_check".as_ptr());
        if symbol.is_null() {
            return Err(GstError::NoLibrary(dl_error()));
        }
        let init: InitCheck = std::mem::transmute::<*mut c_void, InitCheck>(symbol);
        let mut error: *mut GError = std::ptr::null_mut();
        if init(std::ptr::null_mut(), std::ptr::null_mut(), &mut error) == 0 {
            let message = if error.is_null() || (*error).message.is_null() {
                "no reason given".to_string()
            } else {
                CStr::from_ptr((*error).message).to_string_lossy().into_owned()
            };
            return Err(GstError::Init(message));
        }
    }
    Ok(started.elapsed())
}

/// `dlerror()`'s text.
fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a NUL-terminated string valid until the next call.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// Warms the registry on a thread of its own; the receiver hears when it is done.
pub fn warm_in_background() -> std::sync::mpsc::Receiver<()> {
    let (done, ready) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new().name("gst-registry".into()).spawn(move || {
        let path = registry_path();
        match warm_registry() {
            Ok(took) => log::info!(
                reason = "media";
                "GStreamer registry ready in {} ms ({})",
                took.as_millis(),
                path.display()
            ),
            Err(e) => log::warn!(
                reason = "media";
                "{e}; the first media element of each web process may scan GStreamer's plugins itself"
            ),
        }
        let _ = done.send(());
    });
    if let Err(e) = spawned {
        log::warn!(reason = "media"; "no thread to warm GStreamer's registry: {e}");
    }
    ready
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_lives_in_the_cache_directory_unless_named() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| PathBuf::from(v))
        };
        let arch = std::env::consts::ARCH;
        let unit = env(&[("XDG_CACHE_HOME", "/var/cache/vitrine"), ("HOME", "/var/lib/vitrine")]);
        assert_eq!(
            registry_path_in(unit),
            PathBuf::from(format!("/var/cache/vitrine/gstreamer-1.0/registry.{arch}.bin"))
        );
        assert_eq!(
            registry_path_in(env(&[("HOME", "/home/k")])),
            PathBuf::from(format!("/home/k/.cache/gstreamer-1.0/registry.{arch}.bin"))
        );
        assert_eq!(registry_path_in(env(&[("GST_REGISTRY", "/a.bin"), ("HOME", "/h")])), PathBuf::from("/a.bin"));
        let both = env(&[("GST_REGISTRY", "/a.bin"), ("GST_REGISTRY_1_0", "/b.bin")]);
        assert_eq!(registry_path_in(both), PathBuf::from("/b.bin"));
    }
}
