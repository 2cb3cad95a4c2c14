//! WebKit's own sandbox for web processes.
//!
//! With it on, WebKit starts every web process under bubblewrap: new user, mount, PID,
//! IPC, UTS and network namespaces, a root of its own with the system (`/usr`, fonts,
//! the GPU) read-only, and a seccomp filter. Nothing of the core's is mounted there: not
//! the state directory with the store, not `$CREDENTIALS_DIRECTORY`, not the media
//! folder (pages reach files only through `fs.*`, `app://` and the core's checks).
//!
//! WebKit needs `bwrap` and `xdg-dbus-proxy` (its package depends on both) and a kernel
//! that lets an unprivileged process make user namespaces. When those are missing WebKit
//! cannot start a web process at all, so the kiosk tries `bwrap` once before the first
//! surface and, if it fails, stops with the reason and the switch that turns the sandbox
//! off (`[kiosk] sandbox = false`) rather than crash-loop. The switch is logged as an
//! error at every start, because it leaves pages' processes able to read what the kiosk
//! can.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use webkit2gtk::glib::gobject_ffi;

#[derive(Debug, thiserror::Error)]
#[error(
    "WebKit's sandbox cannot run here: {0}. It needs bubblewrap, xdg-dbus-proxy and unprivileged user \
     namespaces (see README, \"The web sandbox\"); a board that cannot have them sets [kiosk] sandbox = false"
)]
pub struct SandboxError(String);

/// Whether contexts made from now on are sandboxed.
static ENABLED: AtomicBool = AtomicBool::new(false);
/// WebKit's own `constructed` of `WebKitWebContext`, which ours calls first.
static WEBKIT_CONSTRUCTED: OnceLock<Option<unsafe extern "C" fn(*mut gobject_ffi::GObject)>> = OnceLock::new();

/// Turns WebKit's sandbox on (or, with `enabled` false, says loudly that it is off) for
/// every web context made after this call; call it before the first one.
///
/// WebKit takes the setting only before a context has started any process, and aborts
/// the program when it changes later. wry makes its context and a webview's first
/// process within one call and does not hand the context out, so the setting is made
/// where WebKit makes every context: in the `constructed` step of its GObject class.
pub fn apply(enabled: bool) -> Result<(), SandboxError> {
    if enabled {
        probe()?;
        log::info!("web processes run in WebKit's bubblewrap sandbox");
    } else {
        log::error!(
            "WebKit's sandbox is OFF ([kiosk] sandbox = false): every page's web process can read what the kiosk \
             can, its store and credentials included"
        );
    }
    ENABLED.store(enabled, Ordering::SeqCst);
    WEBKIT_CONSTRUCTED.get_or_init(|| {
        // SAFETY: the class of a registered GObject type, referenced and never released,
        // so the pointer stays valid; its `constructed` slot is replaced once, on the GTK
        // thread, before any instance of it exists (the kiosk makes its context after).
        unsafe {
            let class = gobject_ffi::g_type_class_ref(webkit2gtk::ffi::webkit_web_context_get_type())
                as *mut gobject_ffi::GObjectClass;
            let original = (*class).constructed;
            (*class).constructed = Some(constructed);
            original
        }
    });
    Ok(())
}

/// Before any other thread exists (changing the environment races with threads reading
/// it): with the sandbox on, WebKit passes the session bus into it through
/// xdg-dbus-proxy, and when the bus's socket does not exist the proxy fails and WebKit
/// aborts the whole kiosk. Such an address reaches nobody anyway, so it is dropped (the
/// core then looks for the bus where D-Bus would by default, and runs on without one).
///
/// WebKit also mounts every `LD_LIBRARY_PATH` entry into the sandbox at the same path,
/// and bubblewrap cannot make a mount point below a symbolic link: an entry through one
/// (a toolchain folder linked under another name, a vendor's library folder) stops
/// every web process. Entries are replaced by their real paths.
pub(crate) fn prepare_environment(enabled: bool) {
    if enabled {
        resolve_library_path();
    }
    const ADDRESS: &str = "DBUS_SESSION_BUS_ADDRESS";
    let Ok(address) = std::env::var(ADDRESS) else { return };
    let socket = |a: &str| a.strip_prefix("unix:path=").map(|rest| rest.split(',').next().unwrap_or(rest).to_string());
    let sockets: Vec<Option<String>> = address.split(';').map(socket).collect();
    let nowhere = sockets.iter().all(|s| s.as_deref().is_some_and(|p| !std::path::Path::new(p).exists()));
    if enabled && nowhere {
        log::warn!("{ADDRESS}={address} names no socket: dropped, so that WebKit's sandbox does not try to proxy it");
        std::env::remove_var(ADDRESS);
    }
}

fn resolve_library_path() {
    const LIBRARIES: &str = "LD_LIBRARY_PATH";
    let Ok(paths) = std::env::var(LIBRARIES) else { return };
    let real = |d: &str| match std::fs::canonicalize(d) {
        Ok(p) if d.starts_with('/') => p.to_string_lossy().into_owned(),
        _ => d.to_string(),
    };
    let resolved = paths.split(':').map(real).collect::<Vec<_>>().join(":");
    if resolved != paths {
        log::info!("{LIBRARIES} resolved to real paths for WebKit's sandbox: {resolved}");
        std::env::set_var(LIBRARIES, resolved);
    }
}

unsafe extern "C" fn constructed(object: *mut gobject_ffi::GObject) {
    // SAFETY: GObject calls this with a WebKitWebContext under construction; the
    // memory-pressure settings go in before WebKit's own step, which reads them and
    // makes its process pool, which has started nothing yet.
    unsafe {
        crate::shell::pressure::before_constructed(object);
        if let Some(Some(original)) = WEBKIT_CONSTRUCTED.get() {
            original(object);
        }
        let enabled = ENABLED.load(Ordering::SeqCst);
        webkit2gtk::ffi::webkit_web_context_set_sandbox_enabled(object.cast(), enabled.into());
        if let Some(dir) = enabled.then(wayland_socket_dir).flatten() {
            if let Ok(dir) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) {
                webkit2gtk::ffi::webkit_web_context_add_path_to_sandbox(object.cast(), dir.as_ptr(), true.into());
            }
        }
    }
}

/// The directory of the compositor's socket when `WAYLAND_DISPLAY` is a path (as
/// vitrine.service sets it, `/run/vitrine-display/wayland-0`): WebKit mounts only
/// `$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY` into the sandbox, and a web process that cannot
/// reach the display exits at once. Read-only is enough to connect to a socket.
fn wayland_socket_dir() -> Option<std::path::PathBuf> {
    let display = std::path::PathBuf::from(std::env::var_os("WAYLAND_DISPLAY")?);
    display.is_absolute().then(|| display.parent().map(std::path::Path::to_path_buf)).flatten()
}

/// Runs `bwrap` with the namespaces and mounts WebKit asks for, so that a missing binary
/// or a kernel (or unit) that forbids them is found here and not as a web process that
/// never starts.
fn probe() -> Result<(), SandboxError> {
    // WebKit mounts every LD_LIBRARY_PATH entry into the sandbox; one it cannot read
    // makes bwrap fail there too.
    let libraries: Vec<String> = std::env::var("LD_LIBRARY_PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|d| d.starts_with('/'))
        .flat_map(|d| ["--ro-bind".to_string(), d.to_string(), d.to_string()])
        .collect();
    let out = std::process::Command::new("bwrap")
        .args([
            "--unshare-user-try",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-ipc",
            "--die-with-parent",
            "--ro-bind",
            "/",
            "/",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ])
        .args(&libraries)
        .args(["--", "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| SandboxError(format!("cannot run bwrap: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(SandboxError(format!("bwrap failed ({}): {why}", out.status)))
    }
}
