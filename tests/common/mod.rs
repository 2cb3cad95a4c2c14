//! End-to-end harness: a real Xvfb, the real `vitrine` binary on a fixture folder, a
//! real `NOTIFY_SOCKET`, and the core's log read line by line.
//!
//! Pages in the fixtures report through `console.log("RESULT name value")`; the core
//! forwards the console into its log, where [`Kiosk::result`] finds it.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

mod bus;
mod http;
pub mod kernel_vm;
pub mod rauc;
pub mod uinput;

// Each test file uses some of these; the others would warn in its build.
#[allow(unused_imports)]
pub use bus::{ctl_env, PrivateBus};
#[allow(unused_imports)]
pub use http::{HttpServer, Request, Response};

pub const STARTUP: Duration = Duration::from_secs(30);

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn vitrine_bin() -> &'static str {
    env!("CARGO_BIN_EXE_vitrine")
}

/// A virtual X display of its own, so tests can run side by side.
pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    pub fn start(width: u32, height: u32) -> Xvfb {
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", &format!("{width}x{height}x24"), "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb is installed (package xvfb)");
        let mut out = child.stdout.take().expect("piped stdout");
        let mut number = String::new();
        let mut byte = [0u8; 1];
        while out.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
            number.push(byte[0] as char);
        }
        assert!(!number.is_empty(), "Xvfb did not report a display");
        Xvfb { child, display: format!(":{}", number.trim()) }
    }

    /// The whole screen as RGB pixels.
    pub fn screenshot(&self) -> Image {
        let out = Command::new("import")
            .args(["-display", &self.display, "-window", "root", "-depth", "8", "ppm:-"])
            .output()
            .expect("ImageMagick's import is installed");
        assert!(out.status.success(), "import failed: {}", String::from_utf8_lossy(&out.stderr));
        Image::from_ppm(&out.stdout)
    }

    /// Takes screenshots until `ready` holds (pages paint a little after they say they
    /// have), returning the last one either way.
    pub fn screenshot_when(&self, ready: impl Fn(&Image) -> bool, timeout: Duration) -> Image {
        poll_screenshot(|| self.screenshot(), ready, timeout)
    }

    pub fn xdotool(&self, args: &[&str]) {
        let status = Command::new("xdotool").env("DISPLAY", &self.display).args(args).status().expect("xdotool");
        assert!(status.success(), "xdotool {args:?} failed");
    }

    /// `xwininfo -root -tree` of this display.
    pub fn window_tree(&self) -> String {
        let out = Command::new("xwininfo")
            .args(["-display", &self.display, "-root", "-tree"])
            .output()
            .expect("xwininfo is installed (package x11-utils)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct Image {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
}

impl Image {
    fn from_ppm(data: &[u8]) -> Image {
        // P6 header: magic, width, height, maxval, each separated by whitespace.
        let mut fields = Vec::new();
        let mut i = 0;
        while fields.len() < 4 {
            while data[i].is_ascii_whitespace() {
                i += 1;
            }
            let start = i;
            while !data[i].is_ascii_whitespace() {
                i += 1;
            }
            fields.push(String::from_utf8_lossy(&data[start..i]).into_owned());
        }
        assert_eq!(fields[0], "P6", "not a binary PPM");
        let width = fields[1].parse().expect("width");
        let height = fields[2].parse().expect("height");
        let rgb = data[i + 1..].to_vec();
        assert_eq!(rgb.len(), width * height * 3, "truncated PPM");
        Image { width, height, rgb }
    }

    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let o = (y * self.width + x) * 3;
        [self.rgb[o], self.rgb[o + 1], self.rgb[o + 2]]
    }

    pub fn distinct_colors(&self) -> usize {
        let mut set = std::collections::HashSet::new();
        for px in self.rgb.chunks_exact(3) {
            set.insert([px[0], px[1], px[2]]);
        }
        set.len()
    }
}

/// Whether two colours are equal within a small tolerance (antialiasing, dithering).
pub fn near(a: [u8; 3], b: [u8; 3]) -> bool {
    a.iter().zip(b.iter()).all(|(x, y)| x.abs_diff(*y) <= 12)
}

#[derive(Default)]
struct Lines {
    lines: Vec<String>,
    closed: bool,
}

/// Lines collected from a reader on a thread, waitable.
#[derive(Clone, Default)]
pub struct LineLog(Arc<(Mutex<Lines>, Condvar)>);

impl LineLog {
    fn feed(&self, reader: impl Read + Send + 'static, echo: &'static str) {
        let log = self.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines() {
                let Ok(line) = line else { break };
                if !echo.is_empty() {
                    eprintln!("{echo}{line}");
                }
                let (m, cv) = &*log.0;
                m.lock().unwrap().lines.push(line);
                cv.notify_all();
            }
            let (m, cv) = &*log.0;
            m.lock().unwrap().closed = true;
            cv.notify_all();
        });
    }

    fn push(&self, line: String) {
        let (m, cv) = &*self.0;
        m.lock().unwrap().lines.push(line);
        cv.notify_all();
    }

    /// Waits for the first line containing `needle`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> Option<String> {
        self.wait_where(|l| l.contains(needle), timeout)
    }

    pub fn wait_where(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.0;
        let mut guard = m.lock().unwrap();
        loop {
            if let Some(l) = guard.lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let now = Instant::now();
            if now >= deadline || guard.closed {
                return None;
            }
            guard = cv.wait_timeout(guard, deadline - now).unwrap().0;
        }
    }

    pub fn all(&self) -> Vec<String> {
        self.0 .0.lock().unwrap().lines.clone()
    }

    pub fn contains(&self, needle: &str) -> bool {
        self.all().iter().any(|l| l.contains(needle))
    }
}

/// Puts an up-to-date GStreamer registry where the kiosk (HOME `home`, no
/// `XDG_CACHE_HOME`) keeps it. The core brings the registry up to date before it loads
/// its pages (`os::gstreamer`): with every test's fresh HOME that would be a plugin scan
/// (1–2 s) per kiosk. One registry is made for all tests (`gst-inspect-1.0`, from
/// scripts/packages/media.txt; without it the kiosks scan) and copied: GStreamer checks
/// it against the plugins' files, so a copy is as good as the original.
fn seed_gst_registry(home: &Path) {
    static WARM: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    let warm = WARM.get_or_init(|| {
        // SAFETY: getuid cannot fail.
        let path = std::env::temp_dir().join(format!("vitrine-tests-gst-registry-{}.bin", unsafe { libc::getuid() }));
        let made = Command::new("gst-inspect-1.0")
            .arg("fakesink")
            .env("GST_REGISTRY_1_0", &path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        made.then_some(path)
    });
    if let Some(warm) = warm {
        let dir = home.join(".cache/gstreamer-1.0");
        let _ = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::copy(warm, dir.join(format!("registry.{}.bin", std::env::consts::ARCH))));
    }
}

/// A running kiosk on its own display.
pub struct Kiosk {
    pub xvfb: Xvfb,
    child: Child,
    pub log: LineLog,
    pub notify: LineLog,
    _notify_dir: tempfile::TempDir,
    pub started: Instant,
}

impl Kiosk {
    pub fn start(fixture_name: &str) -> Kiosk {
        Self::start_with(fixture_name, &[])
    }

    pub fn start_with(fixture_name: &str, env: &[(&str, &str)]) -> Kiosk {
        Self::start_with_args(fixture_name, env, &[])
    }

    /// `args` go after `run --config FIXTURE`.
    pub fn start_with_args(fixture_name: &str, env: &[(&str, &str)], args: &[&str]) -> Kiosk {
        let xvfb = Xvfb::start(1920, 1080);
        let dir = tempfile::tempdir().expect("tempdir");
        let socket_path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&socket_path).expect("bind NOTIFY_SOCKET");
        let notify = LineLog::default();
        {
            let notify = notify.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = socket.recv(&mut buf) {
                    for line in String::from_utf8_lossy(&buf[..n]).lines() {
                        notify.push(line.to_string());
                    }
                }
            });
        }
        seed_gst_registry(dir.path());
        let started = Instant::now();
        // VITRINE_TEST_WRAP runs the binary through a command (e.g. `ip netns exec NS`).
        let wrap: Vec<String> = env
            .iter()
            .find(|(k, _)| *k == "VITRINE_TEST_WRAP")
            .map(|(_, v)| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let mut cmd = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(vitrine_bin());
                c
            }
            None => Command::new(vitrine_bin()),
        };
        cmd.args(["run", "--config"])
            .arg(fixture(fixture_name))
            .args(args)
            .env("DISPLAY", &xvfb.display)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("VITRINE_LOG", "debug")
            .env_remove("JOURNAL_STREAM")
            // A developer's desktop bus would make parallel kiosks compete for one name;
            // tests that want a bus pass their own address.
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_RUNTIME_DIR", dir.path())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start vitrine");
        let log = LineLog::default();
        log.feed(child.stderr.take().expect("piped stderr"), "  | ");
        Kiosk { xvfb, child, log, notify, _notify_dir: dir, started }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `READY=1` on the notify socket.
    pub fn wait_ready(&self) -> Duration {
        self.notify.wait_for("READY=1", STARTUP).unwrap_or_else(|| panic!("no READY=1; log:\n{}", self.dump()));
        self.started.elapsed()
    }

    /// Waits for `RESULT <name> …` from a page and returns what follows the name.
    pub fn result(&self, name: &str) -> String {
        self.result_within(name, STARTUP).unwrap_or_else(|| panic!("no RESULT {name}; log:\n{}", self.dump()))
    }

    pub fn result_within(&self, name: &str, timeout: Duration) -> Option<String> {
        page_result(&self.log, name, timeout)
    }

    pub fn dump(&self) -> String {
        self.log.all().join("\n")
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill").args([&format!("-{sig}"), &self.pid().to_string()]).status().expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Descendants of `pid` by their (15-character) command name: in WebKit's sandbox a web
/// process runs under two bubblewrap processes, so it is a grandchild of the core.
pub fn children_named(pid: u32, comm: &str) -> Vec<u32> {
    let mut table = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    for e in entries.flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // pid (comm) state ppid …; comm may contain spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default().to_string();
        let Some(ppid) = tail.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()) else { continue };
        table.push((child, ppid, name));
    }
    let mut below = vec![pid];
    let mut i = 0;
    while i < below.len() {
        let parent = below[i];
        below.extend(table.iter().filter(|(_, ppid, _)| *ppid == parent).map(|(p, _, _)| *p));
        i += 1;
    }
    table.iter().filter(|(p, _, name)| name == comm && below[1..].contains(p)).map(|(p, _, _)| *p).collect()
}

/// Resident set size of a process in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Calls `f` until it holds or `timeout` has passed (every 50 ms); whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port nobody listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("local addr").port()
}

/// The web process the core last reported for `label` ("surface=LABEL … web process N").
pub fn web_pid(log: &LineLog, label: &str) -> Option<u32> {
    let tag = format!("surface={label} ");
    log.all().iter().rev().filter(|l| l.contains(&tag)).find_map(|l| {
        l.rsplit_once("web process ").and_then(|(_, rest)| rest.trim().trim_end_matches(')').parse().ok())
    })
}

pub fn count(log: &LineLog, needle: &str) -> usize {
    log.all().iter().filter(|l| l.contains(needle)).count()
}

pub fn kill(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status();
}

// ---- Wayland: headless sway, grim, and a kiosk on it (tests/wayland.rs) --------------

/// Says loudly that `test` does not run here, and why; the caller then returns. With
/// `VITRINE_REQUIRE_ALL=1` (CI) a skip is a failure: CI must run every test.
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why}");
    if std::env::var_os("VITRINE_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("{test} was skipped ({why}) and VITRINE_REQUIRE_ALL=1 requires every test to run");
    }
}

/// Whether `program` is an executable on `PATH`.
pub fn installed(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// The account headless sway and the kiosk on it run as when the tests run as root:
/// sway refuses to run as root.
pub const WAYLAND_USER: u32 = 65534;

pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A command that runs as [`WAYLAND_USER`] when the tests run as root, as is otherwise.
fn as_wayland_user(program: &str) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("setpriv");
        let id = WAYLAND_USER.to_string();
        cmd.args(["--reuid", &id, "--regid", &id, "--clear-groups", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A directory the Wayland user owns (mode `mode`).
fn wayland_owned_dir(mode: u32) -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    if running_as_root() {
        std::os::unix::fs::chown(dir.path(), Some(WAYLAND_USER), Some(WAYLAND_USER)).expect("chown");
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
    dir
}

/// Copies a folder recursively, readable by everyone (fixtures are small).
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create folder");
    for entry in std::fs::read_dir(from).expect("read folder").flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Headless sway (wlroots' headless backend, software rendering) with one output of its
/// own, in its own `XDG_RUNTIME_DIR`, making every window fullscreen as kiosk
/// compositors do.
pub struct Sway {
    child: Child,
    pub runtime_dir: tempfile::TempDir,
    pub wayland_display: String,
    pub log: LineLog,
}

impl Sway {
    /// Starts sway with a `width`×`height` output; `None` when sway is not installed.
    pub fn start(width: u32, height: u32) -> Option<Sway> {
        if !installed("sway") {
            return None;
        }
        let runtime_dir = wayland_owned_dir(0o700);
        let config = runtime_dir.path().join("sway.conf");
        std::fs::write(
            &config,
            format!(
                "output HEADLESS-1 resolution {width}x{height} position 0 0\n\
                 for_window [title=\".*\"] fullscreen enable\n\
                 default_border none\n\
                 xwayland disable\n"
            ),
        )
        .expect("write sway.conf");
        let mut child = as_wayland_user("sway")
            .arg("--config")
            .arg(&config)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("XDG_RUNTIME_DIR", runtime_dir.path())
            .env("HOME", runtime_dir.path())
            .env("WLR_BACKENDS", "headless")
            .env("WLR_RENDERER", "pixman")
            .env("WLR_LIBINPUT_NO_DEVICES", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sway (and setpriv, from util-linux, when running as root)");
        let log = LineLog::default();
        log.feed(child.stderr.take().expect("piped stderr"), "");
        let mut sway = Sway { child, runtime_dir, wayland_display: String::new(), log };
        // sway names its socket wayland-N in the runtime directory once it serves.
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let socket = std::fs::read_dir(sway.runtime_dir.path()).ok().and_then(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .find(|n| n.starts_with("wayland-") && !n.ends_with(".lock"))
            });
            if let (Some(name), true) = (socket, sway.ipc_socket().is_some()) {
                sway.wayland_display = name;
                return Some(sway);
            }
            if let Ok(Some(status)) = sway.child.try_wait() {
                panic!("sway exited ({status}) at start:\n{}", sway.log.all().join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sway did not open its sockets within 20 s:\n{}", sway.log.all().join("\n"));
    }

    fn ipc_socket(&self) -> Option<PathBuf> {
        let entries = std::fs::read_dir(self.runtime_dir.path()).ok()?;
        entries.flatten().map(|e| e.path()).find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("sway-ipc.") && n.to_string_lossy().ends_with(".sock"))
        })
    }

    /// The environment a client of this compositor needs.
    pub fn client_env(&self, cmd: &mut Command) {
        cmd.env("XDG_RUNTIME_DIR", self.runtime_dir.path())
            .env("WAYLAND_DISPLAY", &self.wayland_display)
            .env("GDK_BACKEND", "wayland")
            .env_remove("DISPLAY");
        if let Some(sock) = self.ipc_socket() {
            cmd.env("SWAYSOCK", sock);
        }
    }

    /// `swaymsg -r ARGS` as JSON.
    pub fn msg(&self, args: &[&str]) -> serde_json::Value {
        let mut cmd = Command::new("swaymsg");
        self.client_env(&mut cmd);
        let out = cmd.arg("-r").args(args).output().expect("swaymsg (package sway)");
        assert!(out.status.success(), "swaymsg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("swaymsg prints JSON")
    }

    /// The whole output as RGB pixels, captured with grim.
    pub fn screenshot(&self) -> Image {
        let mut cmd = Command::new("grim");
        self.client_env(&mut cmd);
        let out = cmd.args(["-t", "ppm", "-"]).output().expect("grim is installed (package grim)");
        assert!(out.status.success(), "grim failed: {}", String::from_utf8_lossy(&out.stderr));
        Image::from_ppm(&out.stdout)
    }

    /// Takes screenshots until `ready` holds, returning the last one either way.
    pub fn screenshot_when(&self, ready: impl Fn(&Image) -> bool, timeout: Duration) -> Image {
        poll_screenshot(|| self.screenshot(), ready, timeout)
    }
}

impl Drop for Sway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A kiosk running as a client of a [`Sway`] (as the Wayland user when the tests run as
/// root), with a real `NOTIFY_SOCKET` and its log read line by line.
pub struct WaylandKiosk {
    child: Child,
    /// The binary it runs (a copy the Wayland user can read, when running as root).
    pub bin: PathBuf,
    pub log: LineLog,
    pub notify: LineLog,
    _home: tempfile::TempDir,
    pub started: Instant,
}

impl WaylandKiosk {
    pub fn start(sway: &Sway, fixture_name: &str, env: &[(&str, &str)]) -> WaylandKiosk {
        use std::os::unix::fs::PermissionsExt;
        let home = wayland_owned_dir(0o755);
        // The socket lives in the compositor's runtime directory, which the kiosk's user
        // owns; it may send to it.
        let socket_path = sway.runtime_dir.path().join(format!("notify-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&socket_path);
        let socket = UnixDatagram::bind(&socket_path).expect("bind NOTIFY_SOCKET");
        std::fs::set_permissions(&socket_path, std::fs::Permissions::from_mode(0o666)).expect("chmod socket");
        let notify = LineLog::default();
        {
            let notify = notify.clone();
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = socket.recv(&mut buf) {
                    for line in String::from_utf8_lossy(&buf[..n]).lines() {
                        notify.push(line.to_string());
                    }
                }
            });
        }
        // The Wayland user may not reach the checkout (a clone under /root, say): it gets
        // copies of the binary and the fixture in its own home.
        let (bin, config) = if running_as_root() {
            let bin = home.path().join("vitrine");
            std::fs::copy(vitrine_bin(), &bin).expect("copy the vitrine binary");
            let config = home.path().join("config");
            copy_tree(&fixture(fixture_name), &config);
            (bin, config)
        } else {
            (PathBuf::from(vitrine_bin()), fixture(fixture_name))
        };
        let started = Instant::now();
        let mut cmd = as_wayland_user(&bin.to_string_lossy());
        let bin_path = bin.clone();
        cmd.args(["run", "--config"])
            .arg(&config)
            .arg("--state-dir")
            .arg(home.path().join("state"))
            .env("NOTIFY_SOCKET", &socket_path)
            .env("VITRINE_LOG", "debug")
            .env("HOME", home.path())
            .env_remove("JOURNAL_STREAM")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            // cargo's library path (under /root): WebKit's sandbox would mount it, and
            // this uid cannot read it.
            .env_remove("LD_LIBRARY_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        sway.client_env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start vitrine");
        let log = LineLog::default();
        log.feed(child.stderr.take().expect("piped stderr"), "  | ");
        WaylandKiosk { child, bin: bin_path, log, notify, _home: home, started }
    }

    /// The kiosk's process (`setpriv` execs it, so the pid is the same).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn wait_ready(&self) -> Duration {
        self.notify.wait_for("READY=1", STARTUP).unwrap_or_else(|| panic!("no READY=1; log:\n{}", self.dump()));
        self.started.elapsed()
    }

    pub fn result(&self, name: &str) -> String {
        page_result(&self.log, name, STARTUP).unwrap_or_else(|| panic!("no RESULT {name}; log:\n{}", self.dump()))
    }

    pub fn dump(&self) -> String {
        self.log.all().join("\n")
    }

    pub fn signal(&self, sig: &str) {
        kill(self.pid(), sig);
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_child(&mut self.child, timeout)
    }
}

impl Drop for WaylandKiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Takes screenshots until `ready` holds (pages paint a little after they say they
/// have), returning the last one either way.
fn poll_screenshot(take: impl Fn() -> Image, ready: impl Fn(&Image) -> bool, timeout: Duration) -> Image {
    let deadline = Instant::now() + timeout;
    loop {
        let shot = take();
        if ready(&shot) || Instant::now() >= deadline {
            return shot;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits for `child` to exit, reaping it.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for `RESULT <name> …` from a page and returns what follows the name.
fn page_result(log: &LineLog, name: &str, timeout: Duration) -> Option<String> {
    let marker = format!("RESULT {name} ");
    let line = log.wait_for(&marker, timeout)?;
    Some(line.split_once(&marker).map(|(_, v)| v.to_string()).unwrap_or_default())
}

impl Sway {
    /// `program` as a client of this compositor: its user and environment.
    pub fn client_command(&self, program: &str) -> Command {
        let mut cmd = as_wayland_user(program);
        self.client_env(&mut cmd);
        cmd
    }
}

/// A private session `dbus-daemon` run as the Wayland user (a session bus admits only
/// its own user), listening in `dir`.
pub struct WaylandBus(PrivateBus);

impl std::ops::Deref for WaylandBus {
    type Target = PrivateBus;
    fn deref(&self) -> &PrivateBus {
        &self.0
    }
}

impl WaylandBus {
    pub fn start(dir: &Path) -> WaylandBus {
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig><type>session</type><listen>unix:dir={}</listen><auth>EXTERNAL</auth>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>\n",
                dir.display()
            ),
        )
        .expect("write bus.conf");
        WaylandBus(PrivateBus::start_in(&mut as_wayland_user("dbus-daemon"), Path::new(""), &config))
    }

    /// `vitrine ctl ARGS` on this bus, as the Wayland user: (exit code, stdout, stderr).
    pub fn ctl(&self, kiosk: &WaylandKiosk, args: &[&str]) -> (i32, String, String) {
        let out = as_wayland_user(&kiosk.bin.to_string_lossy())
            .arg("ctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env_remove("DBUS_SYSTEM_BUS_ADDRESS")
            .env_remove("LD_LIBRARY_PATH")
            .output()
            .expect("run vitrine ctl");
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
    }
}
