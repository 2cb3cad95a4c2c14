//! What pages may reach of the operating system, through the core only: files under
//! named roots, HTTP with core-held secrets, and facts about the device.

pub mod decoders;
pub mod device;
pub mod fs;
pub mod gstreamer;
pub mod http;
pub mod thermal;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The named roots for `fs.*`: `$STATE` (files beside the store), `$CONFIG`
/// (`$CONFIGURATION_DIRECTORY`, else `$XDG_CONFIG_HOME/vitrine`), `$MEDIA`
/// (`$VITRINE_MEDIA_DIR`, else `$XDG_DATA_HOME/vitrine/media`) and `$TMP`
/// (`$XDG_RUNTIME_DIR/vitrine`, else `/tmp/vitrine-<uid>`).
pub fn default_roots(state_dir: Option<&Path>) -> fs::Roots {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let home = env("HOME").unwrap_or_else(|| PathBuf::from("/"));
    let mut m = BTreeMap::new();
    if let Some(state) = state_dir {
        m.insert("STATE".to_string(), state.join("files"));
    }
    let config = env("CONFIGURATION_DIRECTORY")
        .or_else(|| env("XDG_CONFIG_HOME").map(|d| d.join("vitrine")))
        .unwrap_or_else(|| home.join(".config/vitrine"));
    m.insert("CONFIG".to_string(), config);
    let media = env("VITRINE_MEDIA_DIR")
        .or_else(|| env("XDG_DATA_HOME").map(|d| d.join("vitrine/media")))
        .unwrap_or_else(|| home.join(".local/share/vitrine/media"));
    m.insert("MEDIA".to_string(), media);
    // SAFETY: getuid cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let tmp = env("XDG_RUNTIME_DIR")
        .map(|d| d.join("vitrine"))
        .unwrap_or_else(|| PathBuf::from(format!("/tmp/vitrine-{uid}")));
    m.insert("TMP".to_string(), tmp);
    fs::Roots::new(m)
}
