//! Where the store file lives.
//!
//! In order: an explicit `--state-dir`; `$STATE_DIRECTORY`, which systemd sets from a
//! unit's `StateDirectory=` (it may list several paths separated by colons — the first
//! is ours); `$XDG_STATE_HOME/vitrine`; `$HOME/.local/state/vitrine`. Following the XDG
//! base directory spec, empty and relative values are ignored.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// The database file's name inside the state directory.
pub const FILE_NAME: &str = "store.sqlite3";

/// The state directory for this process's environment, or `None` if nothing names one.
/// Does not create it: [`super::Store::open`] does (mode 0700).
pub fn state_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    resolve_state_dir(explicit, |name| std::env::var_os(name))
}

/// [`state_dir`] over any environment: `env` looks a variable up.
pub fn resolve_state_dir(explicit: Option<&Path>, env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    if let Some(list) = env("STATE_DIRECTORY") {
        let first = list.as_bytes().split(|&b| b == b':').map(OsStr::from_bytes).find(|p| !p.is_empty());
        if let Some(first) = first.map(Path::new).filter(|p| p.is_absolute()) {
            return Some(first.to_path_buf());
        }
    }
    let absolute = |name: &str| env(name).map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(state_home) = absolute("XDG_STATE_HOME") {
        return Some(state_home.join("vitrine"));
    }
    absolute("HOME").map(|home| home.join(".local/state/vitrine"))
}

/// Creates `dir` and its missing parents, readable only by this user. An existing
/// directory keeps its mode: systemd's `StateDirectoryMode=` is the operator's choice.
pub(crate) fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt;

    fn resolve(explicit: Option<&str>, vars: &[(&str, &str)]) -> Option<PathBuf> {
        let vars: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        resolve_state_dir(explicit.map(Path::new), |name| vars.get(name).cloned())
    }

    #[test]
    fn explicit_wins_over_everything() {
        let all = [("STATE_DIRECTORY", "/var/lib/vitrine"), ("XDG_STATE_HOME", "/x"), ("HOME", "/home/k")];
        assert_eq!(resolve(Some("/opt/state"), &all), Some(PathBuf::from("/opt/state")));
    }

    #[test]
    fn systemd_state_directory_first_path() {
        let vars = [("STATE_DIRECTORY", "/var/lib/vitrine:/var/lib/other"), ("HOME", "/home/k")];
        assert_eq!(resolve(None, &vars), Some(PathBuf::from("/var/lib/vitrine")));
        let single = [("STATE_DIRECTORY", "/var/lib/vitrine")];
        assert_eq!(resolve(None, &single), Some(PathBuf::from("/var/lib/vitrine")));
    }

    #[test]
    fn xdg_state_home_then_home() {
        let vars = [("XDG_STATE_HOME", "/home/k/.state"), ("HOME", "/home/k")];
        assert_eq!(resolve(None, &vars), Some(PathBuf::from("/home/k/.state/vitrine")));
        assert_eq!(resolve(None, &[("HOME", "/home/k")]), Some(PathBuf::from("/home/k/.local/state/vitrine")));
    }

    #[test]
    fn empty_and_relative_values_are_ignored() {
        let vars = [("STATE_DIRECTORY", ""), ("XDG_STATE_HOME", "relative/state"), ("HOME", "/home/k")];
        assert_eq!(resolve(None, &vars), Some(PathBuf::from("/home/k/.local/state/vitrine")));
        assert_eq!(resolve(None, &[("STATE_DIRECTORY", ":/second")]), Some(PathBuf::from("/second")));
        assert_eq!(resolve(None, &[("HOME", "")]), None);
        assert_eq!(resolve(None, &[]), None);
    }

    #[test]
    fn creates_private_directories() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        create_private_dir(&dir).unwrap();
    }
}
