//! The declared `rust-version` (Cargo.toml) against what the build pulls in, and the
//! pinned toolchain (rust-toolchain.toml) against it.
//!
//! Building with the oldest declared toolchain itself is not possible on these machines
//! (no toolchain can be downloaded; only the pinned one is installed). What can be held
//! here: no dependency declares a newer `rust-version` than ours, the pin is not older
//! than it, and clippy's `incompatible_msrv` lint (on in `.ci/run`) refuses standard
//! library items newer than it in our own code.

use std::path::Path;
use std::process::Command;

fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u64>().unwrap_or_else(|_| panic!("version '{text}'")));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn value_of<'a>(toml: &'a str, key: &str) -> &'a str {
    toml.lines()
        .find_map(|l| l.strip_prefix(key)?.trim_start().strip_prefix('=')?.trim().strip_prefix('"')?.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no {key} in the file"))
}

fn ours() -> (u64, u64, u64) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    version(value_of(&std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml"), "rust-version"))
}

#[test]
fn no_dependency_needs_a_newer_rust_than_declared() {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--all-features"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let ours = ours();
    let newer: Vec<String> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .filter_map(|p| {
            let needs = p["rust_version"].as_str()?;
            (version(needs) > ours).then(|| format!("{} {} needs {needs}", p["name"], p["version"]))
        })
        .collect();
    assert!(newer.is_empty(), "rust-version is {ours:?}, but: {newer:#?}");
}

#[test]
fn the_pinned_toolchain_is_not_older_than_the_declared_rust_version() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pin = std::fs::read_to_string(root.join("rust-toolchain.toml")).expect("rust-toolchain.toml");
    assert!(version(value_of(&pin, "channel")) >= ours());
}
