//! The child processes the benchmarks measure in, shared by the ipc and store benches.
//!
//! tao's event loop never returns and only one may exist per process, so each
//! measurement runs in a child of the bench binary. A child prints `SAMPLES {json}`
//! lines and `DONE`, and logs to a file the parent shows when something goes wrong.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::xvfb::tail;

/// A child of this bench binary on the parent's Xvfb, with a private HOME and runtime
/// dir (WebKit keeps caches there, and other runs on this machine must not share
/// them), X11 only, quiet logs and nothing of a systemd session. `args` follow
/// `--child`; stderr goes to `log`.
pub fn command(args: &[&std::ffi::OsStr], display: &str, home: &Path, log: &Path) -> Result<Command, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this executable: {e}"))?;
    std::fs::create_dir_all(home).map_err(|e| format!("{}: {e}", home.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(home, std::fs::Permissions::from_mode(0o700));
    }
    let log = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(exe);
    cmd.arg("--child")
        .args(args)
        .env("DISPLAY", display)
        .env("HOME", home)
        .env("XDG_RUNTIME_DIR", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("GDK_BACKEND", "x11")
        .env("NO_AT_BRIDGE", "1")
        .env("VITRINE_LOG", "warn")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("VITRINE_URL")
        .env_remove("JOURNAL_STREAM")
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log);
    Ok(cmd)
}

/// Runs `cmd` to its end, killing it after `timeout`, and returns its `SAMPLES` lines.
/// `what` names the child in messages and `bench` the benchmark; `log` is its stderr.
pub fn samples(
    mut cmd: Command,
    what: &str,
    bench: &str,
    log: &Path,
    timeout: Duration,
) -> Result<Vec<String>, String> {
    let mut child = cmd.spawn().map_err(|e| format!("cannot start the {what}: {e}"))?;
    // WebKit's helper processes may hold the pipe open after the child exits, so lines
    // come through a channel and the parent stops at DONE rather than at end of file.
    let (tx, rx) = mpsc::channel::<String>();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the {what} timed out after {timeout:?}; its log ({}):\n{}",
                    log.display(),
                    tail(log, 40)
                ));
            }
            Err(e) => return Err(format!("cannot wait for the {what}: {e}")),
        }
    };
    report_warnings(what, bench, log);
    let mut samples = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
        if line == "DONE" {
            return Ok(samples);
        }
        if let Some(json) = line.strip_prefix("SAMPLES ") {
            samples.push(json.to_string());
        }
    }
    Err(format!("the {what} ended ({status}) without its samples; its log ({}):\n{}", log.display(), tail(log, 40)))
}

/// Vitrine logs refusals and faults at WARN/ERROR; any during a run means some call
/// did not do what the bench thinks it measures, so they are shown, not buried.
fn report_warnings(what: &str, bench: &str, log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let bad: Vec<&str> = text.lines().filter(|l| l.contains(" WARN ") || l.contains(" ERROR ")).collect();
    if !bad.is_empty() {
        eprintln!("{bench} bench: the {what} logged {} warnings/errors, first ones:", bad.len());
        for line in bad.iter().take(5) {
            eprintln!("  | {line}");
        }
    }
}
