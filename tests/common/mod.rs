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
        let deadline = Instant::now() + timeout;
        loop {
            let shot = self.screenshot();
            if ready(&shot) || Instant::now() >= deadline {
                return shot;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
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
        let started = Instant::now();
        let mut cmd = Command::new(vitrine_bin());
        cmd.args(["run", "--config"])
            .arg(fixture(fixture_name))
            .env("DISPLAY", &xvfb.display)
            .env("NOTIFY_SOCKET", &socket_path)
            .env("VITRINE_LOG", "debug")
            .env_remove("JOURNAL_STREAM")
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
        let marker = format!("RESULT {name} ");
        let line = self.log.wait_for(&marker, timeout)?;
        Some(line.split_once(&marker).map(|(_, v)| v.to_string()).unwrap_or_default())
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
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Kiosk {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Child processes of `pid` by their (15-character) command name.
pub fn children_named(pid: u32, comm: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let Ok(child) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else { continue };
        // pid (comm) state ppid …; comm may contain spaces, so split at the last ')'.
        let Some((head, tail)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map(|(_, n)| n).unwrap_or_default();
        let ppid = tail.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok());
        if name == comm && ppid == Some(pid) {
            out.push(child);
        }
    }
    out
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

/// A tiny HTTP/1.1 server on loopback for remote pages: fixed routes, `Connection:
/// close`, until the test ends.
pub struct HttpServer {
    pub port: u16,
}

impl HttpServer {
    pub fn start(routes: Vec<(&'static str, &'static str, String)>) -> HttpServer {
        Self::start_on(0, routes)
    }

    /// On a given port (0: any free one).
    pub fn start_on(port: u16, routes: Vec<(&'static str, &'static str, String)>) -> HttpServer {
        use std::io::Write;
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind loopback");
        let port = listener.local_addr().expect("local addr").port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Skip the headers.
                let mut line = String::new();
                while reader.read_line(&mut line).map(|n| n > 2).unwrap_or(false) {
                    line.clear();
                }
                let path = request_line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let found = routes.iter().find(|(p, _, _)| *p == path);
                let (status, ctype, body) = match found {
                    Some((_, ctype, body)) => ("200 OK", *ctype, body.as_str()),
                    None => ("404 Not Found", "text/plain", "not found"),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        HttpServer { port }
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
