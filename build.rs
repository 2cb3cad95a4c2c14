//! Validates the kiosk's static configuration and embeds it into the binary.
//!
//! The folder is the crate root unless `VITRINE_CONFIG_DIR` names another (a device
//! build keeps its own `vitrine.toml`, `capabilities/` and `ui/`). Any problem fails
//! the build with the file, the place and the reason.

use std::path::PathBuf;

use vitrine_config as config;

fn main() {
    println!("cargo:rerun-if-env-changed=VITRINE_CONFIG_DIR");
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("VITRINE_CONFIG_DIR").map_or_else(|| root.clone(), |d| root.join(d));
    for path in config::input_files(&dir) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let bundle = match config::load_dir(&dir) {
        Ok(bundle) => bundle,
        Err(errors) => {
            eprintln!("invalid Vitrine configuration in {}:", dir.display());
            for e in errors.iter() {
                eprintln!("  {e}");
            }
            std::process::exit(1);
        }
    };
    let bytes = bundle.to_postcard().expect("a validated bundle always serializes");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("bundle.postcard");
    std::fs::write(&out, bytes).expect("OUT_DIR is writable");
}
