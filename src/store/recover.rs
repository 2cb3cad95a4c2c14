//! Opening the file: checks, settings, migrations, and moving an unreadable file aside.
//!
//! Failures fall in two classes. An *unreadable* file (garbage, truncated, failing
//! `quick_check`, from a newer schema, or not shaped like ours) is moved aside and
//! replaced: the kiosk must come back up, and the old bytes stay on disk for whoever
//! wants to look at them. An *environment* failure (the directory is unwritable, the
//! file is locked by another process, the disk is full) would hit a fresh file just the
//! same, so moving the old one aside would only lose track of good data: it is an error.
//!
//! A file from a newer Vitrine (after an update was rolled back) is used as it is when
//! its schema allows older versions ([`schema`]); otherwise it is moved aside as
//! `<name>.newer-<unix-millis>` — kept whole, for when the newer Vitrine comes back —
//! and the copy made before it was upgraded, if there is one, takes its place.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::location::create_private_dir;
use super::schema;
use super::types::{OpenReport, StoreConfig, StoreError};

/// The files SQLite keeps beside a database.
const SIDE_FILES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Most `quick_check` lines quoted in the log.
const CHECK_LINES: usize = 5;

enum Failure {
    Unreadable(String),
    Environment(String),
    /// Written by a newer Vitrine that does not let this one use it.
    Newer(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Unreadable(why) | Failure::Environment(why) | Failure::Newer(why) => f.write_str(why),
        }
    }
}

/// What one successful attempt found.
#[derive(Default)]
struct Opened {
    upgraded_from: Option<u32>,
    newer: Option<u32>,
}

/// Where the copy of a file of schema `version` goes before it is migrated.
pub(crate) fn pre_upgrade_copy(path: &Path, version: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".schema-{version}"));
    PathBuf::from(name)
}

/// While reading what is in the file, only errors that would hit any file mean the
/// environment is at fault; the rest (corrupt, not a database, I/O errors on bad
/// sectors, a schema that is not ours) are the file's.
fn reading(step: &str) -> impl Fn(rusqlite::Error) -> Failure + '_ {
    move |e| {
        let environment = matches!(
            e.sqlite_error_code(),
            Some(
                ErrorCode::CannotOpen
                    | ErrorCode::PermissionDenied
                    | ErrorCode::ReadOnly
                    | ErrorCode::DatabaseBusy
                    | ErrorCode::DatabaseLocked
                    | ErrorCode::DiskFull
                    | ErrorCode::OutOfMemory
            )
        );
        let why = format!("{step}: {e}");
        if environment {
            Failure::Environment(why)
        } else {
            Failure::Unreadable(why)
        }
    }
}

/// Once the file has been read successfully, a failure to configure the connection is
/// never the file's fault.
fn configuring(step: &str) -> impl Fn(rusqlite::Error) -> Failure + '_ {
    move |e| Failure::Environment(format!("{step}: {e}"))
}

/// Opens the store at `config.path`, recovering from an unreadable file.
pub(crate) fn open(config: &StoreConfig) -> Result<(Connection, OpenReport), StoreError> {
    let path = &config.path;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir).map_err(|e| StoreError::Open(format!("cannot create {}: {e}", dir.display())))?;
    }
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        // Legitimate after a crash between creating the file and its first commit, and
        // exactly what a schema version 0 file is; there is nothing in it to keep aside.
        log::warn!("store: {} is empty; starting a new store in it", path.display());
    }
    let (why, newer) = match attempt(config) {
        Ok((conn, opened)) => {
            if let Some(v) = opened.newer {
                log::warn!(
                    "store: {} was written by a newer Vitrine (schema {v}; this one has {}), which lets older \
                     versions use it: used as it is, not migrated",
                    path.display(),
                    schema::VERSION
                );
            }
            let report =
                OpenReport { upgraded_from: opened.upgraded_from, newer: opened.newer, ..OpenReport::default() };
            return Ok((conn, report));
        }
        Err(Failure::Environment(why)) => return Err(StoreError::Open(format!("{}: {why}", path.display()))),
        Err(Failure::Unreadable(why)) => (why, false),
        Err(Failure::Newer(why)) => (why, true),
    };
    let label = if newer { "newer" } else { "corrupt" };
    let aside = move_aside(path, label).map_err(|e| {
        StoreError::Open(format!("{} is unreadable ({why}) and cannot be moved aside: {e}", path.display()))
    })?;
    let restored_from = if newer { restore_pre_upgrade_copy(path) } else { None };
    if newer {
        let then = match &restored_from {
            Some(copy) => format!("the copy made before that Vitrine upgraded it ({}) is used instead", copy.display()),
            None => "there is no copy from before the upgrade: a new, empty store was created".to_string(),
        };
        log::error!(
            "store: {} was written by a newer Vitrine and this one may not use it ({why}); it was moved, \
             unchanged, to {} (a newer Vitrine can use it again), and {then}",
            path.display(),
            aside.display()
        );
    } else {
        log::error!(
            "store: {} is unreadable ({why}); it was moved to {} and a new, empty store was created",
            path.display(),
            aside.display()
        );
    }
    let reopened = match attempt(config) {
        Err(failure) if restored_from.is_some() => {
            // The copy itself is no good: start empty (the copy is still there).
            log::error!("store: the copy from before the upgrade cannot be used ({failure}); starting empty");
            let _ = std::fs::remove_file(path);
            attempt(config).map(|(conn, opened)| (conn, opened, None))
        }
        other => other.map(|(conn, opened)| (conn, opened, restored_from)),
    };
    match reopened {
        Ok((conn, opened, restored_from)) => Ok((
            conn,
            OpenReport { recovered_from: Some(aside), upgraded_from: opened.upgraded_from, newer: None, restored_from },
        )),
        Err(failure) => Err(StoreError::Open(format!("{}: a new store cannot be created: {failure}", path.display()))),
    }
}

/// Copies this version's pre-upgrade copy (if any) to `path`; the copy stays.
fn restore_pre_upgrade_copy(path: &Path) -> Option<PathBuf> {
    let copy = pre_upgrade_copy(path, schema::VERSION);
    if !copy.is_file() {
        return None;
    }
    let copied = std::fs::copy(&copy, path).and_then(|_| std::fs::File::open(path)?.sync_all());
    match copied {
        Ok(()) => {
            sync_dir(path);
            Some(copy)
        }
        Err(e) => {
            log::error!("store: cannot restore {}: {e}", copy.display());
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// Copies the file, as it is before a migration, to [`pre_upgrade_copy`]: an older
/// Vitrine that cannot use the migrated file (after a rollback) takes this one.
fn copy_before_upgrade(conn: &Connection, path: &Path, version: u32) {
    let copy = pre_upgrade_copy(path, version);
    let _ = std::fs::remove_file(&copy);
    let made = conn
        .execute("VACUUM INTO ?1", [copy.to_string_lossy()])
        .map_err(|e| e.to_string())
        .and_then(|_| std::fs::File::open(&copy).and_then(|f| f.sync_all()).map_err(|e| e.to_string()));
    match made {
        Ok(()) => log::info!("store: copied schema {version} to {} before upgrading it", copy.display()),
        Err(e) => log::warn!("store: cannot copy {} before upgrading it ({e}); upgrading anyway", path.display()),
    }
}

/// One try at opening the file as it is. The connection is dropped (closed) on failure,
/// so the file can then be renamed.
fn attempt(config: &StoreConfig) -> Result<(Connection, Opened), Failure> {
    // No URI parsing: the path is a path. No mutex: one thread owns the connection.
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&config.path, flags).map_err(configuring("open"))?;
    conn.busy_timeout(config.busy_timeout).map_err(configuring("busy_timeout"))?;
    // Closing a connection normally checkpoints its WAL into the file and deletes the
    // WAL; a file that turns out to be unreadable must be moved aside untouched instead.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true).map_err(configuring("db_config"))?;

    // The first read of the header: garbage fails here with "not a database".
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(reading("user_version"))?;
    let mut newer = None;
    let version = match u32::try_from(version) {
        Ok(v) if v <= schema::VERSION => v,
        Ok(v) => match schema::file_compatible_from(&conn) {
            Some(from) if from <= schema::VERSION => {
                newer = Some(v);
                v
            }
            Some(from) => {
                return Err(Failure::Newer(format!(
                    "its schema version {v} may be used from version {from} on; this Vitrine has {}",
                    schema::VERSION
                )))
            }
            None => {
                return Err(Failure::Newer(format!(
                    "its schema version {v} is newer than this Vitrine knows ({}) and does not say that older \
                     versions may use it",
                    schema::VERSION
                )))
            }
        },
        Err(_) => return Err(Failure::Unreadable(format!("its schema version {version} is invalid"))),
    };
    quick_check(&conn)?;

    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(configuring("journal_mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        // Durability still holds with a rollback journal and synchronous=FULL; only
        // concurrency with readers suffers.
        log::warn!("store: {} cannot use WAL (journal_mode is {mode})", config.path.display());
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(configuring("synchronous"))?;
    conn.pragma_update(None, "foreign_keys", "ON").map_err(configuring("foreign_keys"))?;

    let upgraded_from = (version < schema::VERSION).then_some(version);
    if let Some(from) = upgraded_from {
        if from > 0 {
            copy_before_upgrade(&conn, &config.path, from);
        }
        schema::migrate(&conn, version, now_millis()).map_err(reading("migration"))?;
    }
    schema::verify(&conn).map_err(|e| Failure::Unreadable(format!("not a Vitrine store: {e}")))?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, false).map_err(configuring("db_config"))?;
    Ok((conn, Opened { upgraded_from, newer }))
}

fn quick_check(conn: &Connection) -> Result<(), Failure> {
    let mut lines = Vec::new();
    conn.pragma_query(None, "quick_check", |row| {
        lines.push(row.get::<_, String>(0)?);
        Ok(())
    })
    .map_err(reading("quick_check"))?;
    if lines.len() == 1 && lines[0] == "ok" {
        return Ok(());
    }
    let total = lines.len();
    lines.truncate(CHECK_LINES);
    let more = if total > CHECK_LINES { format!(" (and {} more)", total - CHECK_LINES) } else { String::new() };
    Err(Failure::Unreadable(format!("quick_check failed: {}{more}", lines.join("; "))))
}

/// Renames the database and its side files to `<name>.<label>-<unix-millis>[-wal…]`,
/// keeping them together so SQLite tools can open the pair.
fn move_aside(path: &Path, label: &str) -> std::io::Result<PathBuf> {
    let mut millis = now_millis();
    let name = |millis: i64, suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(format!(".{label}-{millis}{suffix}"));
        PathBuf::from(name)
    };
    // Never overwrite an earlier one (two recoveries within a millisecond, a clock reset).
    while SIDE_FILES.iter().chain([&""]).any(|suffix| name(millis, suffix).symlink_metadata().is_ok()) {
        millis += 1;
    }
    let aside = name(millis, "");
    std::fs::rename(path, &aside)?;
    for suffix in SIDE_FILES {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.symlink_metadata().is_ok() {
            std::fs::rename(&side, name(millis, suffix))?;
        }
    }
    sync_dir(path);
    Ok(aside)
}

/// Makes the renames durable: otherwise a power cut could bring the bad file back.
fn sync_dir(path: &Path) {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if let Err(e) = std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        log::warn!("store: cannot sync {}: {e}", dir.display());
    }
}

pub(crate) fn now_millis() -> i64 {
    // A clock before 1970 (no RTC yet) gives 0 rather than failing.
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Path) -> StoreConfig {
        StoreConfig::in_dir(dir)
    }

    #[test]
    fn new_file_is_created_at_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let (conn, report) = open(&config(dir.path())).unwrap();
        assert_eq!(report, OpenReport { upgraded_from: Some(0), ..OpenReport::default() });
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        let (_, again) = open(&config(dir.path())).unwrap();
        assert_eq!(again, OpenReport::default());
    }

    #[test]
    fn garbage_is_moved_aside_with_its_side_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        std::fs::write(&path, vec![0x5a; 8192]).unwrap();
        std::fs::write(dir.path().join("store.sqlite3-wal"), b"junk").unwrap();
        let (_conn, report) = open(&config(dir.path())).unwrap();
        let aside = report.recovered_from.unwrap();
        assert_eq!(std::fs::read(&aside).unwrap(), vec![0x5a; 8192]);
        let mut wal = aside.into_os_string();
        wal.push("-wal");
        assert_eq!(std::fs::read(wal).unwrap(), b"junk");
    }

    #[test]
    fn move_aside_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        std::fs::write(&path, b"one").unwrap();
        let first = move_aside(&path, "corrupt").unwrap();
        std::fs::write(&path, b"two").unwrap();
        let second = move_aside(&path, "corrupt").unwrap();
        assert_ne!(first, second);
        assert_eq!(std::fs::read(first).unwrap(), b"one");
        assert_eq!(std::fs::read(second).unwrap(), b"two");
    }

    #[test]
    fn a_foreign_database_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let other = Connection::open(&path).unwrap();
        other.execute_batch("CREATE TABLE photos (id INTEGER); PRAGMA user_version = 2;").unwrap();
        drop(other);
        let (_conn, report) = open(&config(dir.path())).unwrap();
        assert!(report.recovered_from.is_some());
    }

    #[test]
    fn an_unwritable_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        // A regular file where the directory should be.
        let blocker = dir.path().join("blocker");
        std::fs::write(&blocker, b"").unwrap();
        let result = open(&StoreConfig::new(blocker.join("store.sqlite3")));
        assert!(matches!(result, Err(StoreError::Open(_))), "{result:?}");
    }
}
