//! A `dbus-daemon` of the test's own, and `vitrine ctl` on it.
//!
//! `tests/fixtures/dbus-bus/session.conf` is the stock session configuration less
//! service activation, so that only the peers a test starts are on the bus.

use std::path::Path;
use std::process::{Command, Stdio};

use super::{fixture, kill, vitrine_bin};

/// A private bus, stopped when dropped.
pub struct PrivateBus {
    pub address: String,
    pub pid: u32,
}

impl PrivateBus {
    /// A bus with the configuration file `config`.
    pub fn start(config: &Path) -> PrivateBus {
        Self::start_in(&mut Command::new("dbus-daemon"), Path::new(""), config)
    }

    /// Starts the daemon through `launcher`, whose first argument is `first` (ignored
    /// when empty) and whose other arguments are the daemon's.
    pub fn start_in(launcher: &mut Command, first: &Path, config: &Path) -> PrivateBus {
        if !first.as_os_str().is_empty() {
            launcher.arg(first);
        }
        let out = launcher
            .arg(format!("--config-file={}", config.display()))
            .args(["--print-address=1", "--print-pid=1", "--fork"])
            .stderr(Stdio::null())
            .output()
            .expect("dbus-daemon is installed (package dbus-daemon)");
        assert!(out.status.success(), "dbus-daemon failed: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        let address = lines.next().expect("address").trim().to_string();
        let pid = lines.next().and_then(|p| p.trim().parse().ok()).expect("pid");
        PrivateBus { address, pid }
    }

    /// A session bus without service activation.
    pub fn session() -> PrivateBus {
        Self::start(&fixture("dbus-bus/session.conf"))
    }

    /// The environment a kiosk (or any client) needs to use this bus as its session bus.
    pub fn env(&self) -> [(&'static str, &str); 2] {
        [("DBUS_SESSION_BUS_ADDRESS", &self.address), ("NO_AT_BRIDGE", "1")]
    }

    /// `vitrine ctl ARGS` with this bus as the session bus: (exit code, stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        ctl_env(&[("DBUS_SESSION_BUS_ADDRESS", &self.address)], args)
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        kill(self.pid, "TERM");
    }
}

/// `vitrine ctl ARGS` with only the buses `env` names: (exit code, stdout, stderr).
pub fn ctl_env(env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(vitrine_bin());
    cmd.arg("ctl").args(args).env_remove("DBUS_SESSION_BUS_ADDRESS").env_remove("DBUS_SYSTEM_BUS_ADDRESS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run vitrine ctl");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}
