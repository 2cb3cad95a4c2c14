//! What the benchmarks share: a virtual X display of their own, so they can run beside
//! other tests, and the tail of a child's log for error messages.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Xvfb {
    child: Child,
    pub display: String,
}

impl Xvfb {
    #[allow(dead_code)] // each bench binary includes this file; not all use every size
    pub fn start() -> Result<Xvfb, String> {
        Self::start_screen("1280x800x24")
    }

    /// A display of one screen `WxHxDEPTH`.
    #[allow(dead_code)] // each bench binary includes this file; not all use every size
    pub fn start_screen(screen: &str) -> Result<Xvfb, String> {
        // -noreset: rounds start kiosks one after another, and a server that resets as
        // the last client leaves would refuse the next for a moment.
        let mut child = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", screen, "-nolisten", "tcp", "-noreset"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start Xvfb (package xvfb): {e}"))?;
        let mut number = String::new();
        if let Some(mut out) = child.stdout.take() {
            let mut byte = [0u8; 1];
            while out.read(&mut byte).map(|n| n == 1).unwrap_or(false) && byte[0] != b'\n' {
                number.push(char::from(byte[0]));
            }
        }
        let xvfb = Xvfb { child, display: format!(":{}", number.trim()) };
        if number.trim().is_empty() {
            return Err("Xvfb did not report a display number".into());
        }
        Ok(xvfb)
    }
}

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of a file.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
