//! What every benchmark binary needs besides its display and its children: where to
//! write, how busy the machine was, and the kiosk folder it measures.

use std::path::{Path, PathBuf};

/// Cargo's target directory, where results and scratch files go.
pub fn target_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    match std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => dir,
        Some(dir) => manifest.join(dir),
        None => manifest.join("target"),
    }
}

/// The 1-minute load average: other processes on a small machine move these numbers
/// far more than anything measured here, so each run records it.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

/// Writes a kiosk folder compiled into the bench (so it cannot run against stale
/// files), plus this run's `ui/plan.js`, into `dir`.
#[allow(dead_code)] // not every bench binary that includes this file writes a folder
pub fn write_folder(dir: &Path, files: &[(&str, &str)], plan_js: &str) -> std::io::Result<()> {
    for (path, text) in files.iter().copied().chain([("ui/plan.js", plan_js)]) {
        let file = dir.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(file, text)?;
    }
    Ok(())
}
