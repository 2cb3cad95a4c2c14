//! The schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! * 0 — an empty file.
//! * 1 — `kv(key TEXT PRIMARY KEY, value TEXT NOT NULL)`: JSON text only.
//! * 2 — values are JSON (TEXT) or bytes (BLOB), told apart by `kind`, and every row has
//!   an `updated_at` in Unix milliseconds. The table is `STRICT` so a value keeps the
//!   storage class it was written with.
//! * 3 — `vitrine_schema(compatible_from)`: the oldest schema version whose Vitrine may
//!   go on reading and writing the file (additive; 2).
//!
//! # Older Vitrines meet newer files
//!
//! An A/B update can be rolled back: the old kiosk then meets a store that the new one
//! migrated. Each migration says whether it is *additive* — a Vitrine of the version
//! before it can go on reading and writing the file as if it were its own (new tables,
//! new columns with defaults, new indexes) — or *breaking* (a table rebuilt, a column it
//! must fill, a meaning changed). The file records the last breaking version as
//! `compatible_from`; a Vitrine whose [`VERSION`] is at least that opens a newer file as
//! it is (no migration, `user_version` untouched), and any other sets it aside
//! (`store::recover`). Files before version 3 record nothing: an older Vitrine cannot
//! tell, and sets them aside. Before migrating a file, the store copies it to
//! `store.sqlite3.schema-<its version>`, which such a Vitrine restores.
//!
//! Each migration runs in its own transaction together with the `user_version` bump, so a
//! crash mid-migration leaves the previous version intact. Migrations are never edited
//! once released: a device may still hold a file of any older version.

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The schema version this binary writes. Newer files are read when their
/// `compatible_from` allows it, set aside otherwise.
pub const VERSION: u32 = 3;

type Apply = fn(&Transaction<'_>, i64) -> rusqlite::Result<()>;

/// Whether a Vitrine of the previous version may go on using the file (see the top).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Additive,
    Breaking,
}

/// `(version reached, how, kind)`, in order.
const MIGRATIONS: &[(u32, Apply, Kind)] =
    &[(1, to_v1, Kind::Breaking), (2, to_v2, Kind::Breaking), (3, to_v3, Kind::Additive)];

/// The oldest version that may read and write a file of `version`: its last breaking
/// migration's.
fn compatible_from(version: u32) -> u32 {
    MIGRATIONS.iter().filter(|(to, _, kind)| *to <= version && *kind == Kind::Breaking).map(|m| m.0).max().unwrap_or(0)
}

fn to_v1(tx: &Transaction<'_>, _now_ms: i64) -> rusqlite::Result<()> {
    tx.execute_batch("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
}

fn to_v2(tx: &Transaction<'_>, now_ms: i64) -> rusqlite::Result<()> {
    // A new table rather than ALTER TABLE: SQLite cannot add CHECK constraints or make a
    // table STRICT in place. v1 values were meant to be JSON; any that are not become
    // bytes rather than being dropped.
    tx.execute_batch(
        "CREATE TABLE kv_v2 (
            key TEXT PRIMARY KEY NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('json', 'bytes')),
            value ANY NOT NULL,
            updated_at INTEGER NOT NULL,
            CHECK ((kind = 'json' AND typeof(value) = 'text') OR (kind = 'bytes' AND typeof(value) = 'blob'))
        ) STRICT",
    )?;
    tx.execute(
        "INSERT INTO kv_v2 (key, kind, value, updated_at)
         SELECT key,
                CASE WHEN json_valid(value) THEN 'json' ELSE 'bytes' END,
                CASE WHEN json_valid(value) THEN CAST(value AS TEXT) ELSE CAST(value AS BLOB) END,
                ?1
         FROM kv",
        [now_ms],
    )?;
    tx.execute_batch("DROP TABLE kv; ALTER TABLE kv_v2 RENAME TO kv;")
}

fn to_v3(tx: &Transaction<'_>, _now_ms: i64) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE vitrine_schema (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            compatible_from INTEGER NOT NULL
        ) STRICT;
        INSERT INTO vitrine_schema (id, compatible_from) VALUES (1, 0);",
    )
}

/// What the file says of the versions that may use it; `None` when it says nothing
/// (before version 3, or not ours).
pub(crate) fn file_compatible_from(conn: &Connection) -> Option<u32> {
    conn.query_row("SELECT compatible_from FROM vitrine_schema WHERE id = 1", [], |r| r.get::<_, u32>(0)).ok()
}

/// Brings a file at version `from` (≤ [`VERSION`]) up to date.
pub(crate) fn migrate(conn: &Connection, from: u32, now_ms: i64) -> rusqlite::Result<()> {
    for &(to, apply, _) in MIGRATIONS.iter().filter(|(to, _, _)| *to > from) {
        // Dropping the transaction on an error rolls it back.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        apply(&tx, now_ms)?;
        if to >= 3 {
            tx.execute("UPDATE vitrine_schema SET compatible_from = ?1 WHERE id = 1", [compatible_from(to)])?;
        }
        tx.pragma_update(None, "user_version", to)?;
        tx.commit()?;
        log::info!("store: schema migrated to version {to}");
    }
    Ok(())
}

/// Fails if the file does not have the shape this binary reads and writes, so that a
/// foreign database that happens to carry our version number is treated as unreadable.
pub(crate) fn verify(conn: &Connection) -> rusqlite::Result<()> {
    conn.prepare("SELECT key, kind, value, updated_at FROM kv LIMIT 0").map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(conn: &Connection) -> u32 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap()
    }

    #[test]
    fn empty_file_reaches_current_version() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, 0, 5).unwrap();
        assert_eq!(version(&conn), VERSION);
        verify(&conn).unwrap();
    }

    #[test]
    fn v1_rows_keep_their_values() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO kv VALUES ('a', '{\"x\":1}'), ('b', '\"text\"'), ('c', 'not json');
             PRAGMA user_version = 1;",
        )
        .unwrap();
        migrate(&conn, 1, 42).unwrap();
        assert_eq!(version(&conn), VERSION);
        let rows: Vec<(String, String, rusqlite::types::Value, i64)> = conn
            .prepare("SELECT key, kind, value, updated_at FROM kv ORDER BY key")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        use rusqlite::types::Value::{Blob, Text};
        assert_eq!(
            rows,
            vec![
                ("a".into(), "json".into(), Text("{\"x\":1}".into()), 42),
                ("b".into(), "json".into(), Text("\"text\"".into()), 42),
                ("c".into(), "bytes".into(), Blob(b"not json".to_vec()), 42),
            ]
        );
    }

    #[test]
    fn a_failed_migration_leaves_the_previous_version() {
        let conn = Connection::open_in_memory().unwrap();
        // A v1 file whose table is not what v1 created: the copy into v2 fails.
        conn.execute_batch("CREATE TABLE kv (key TEXT PRIMARY KEY); PRAGMA user_version = 1;").unwrap();
        assert!(migrate(&conn, 1, 0).is_err());
        assert_eq!(version(&conn), 1);
        assert!(conn.is_autocommit());
    }

    #[test]
    fn the_file_records_which_older_versions_may_use_it() {
        assert_eq!(compatible_from(1), 1);
        assert_eq!(compatible_from(2), 2);
        // Version 3 only added a table: version 2 may go on.
        assert_eq!(compatible_from(3), 2);
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, 0, 0).unwrap();
        assert_eq!(file_compatible_from(&conn), Some(compatible_from(VERSION)));
        let v2 = Connection::open_in_memory().unwrap();
        migrate(&v2, 0, 0).unwrap();
        v2.execute_batch("DROP TABLE vitrine_schema; PRAGMA user_version = 2;").unwrap();
        assert_eq!(file_compatible_from(&v2), None);
    }

    #[test]
    fn strict_table_rejects_mismatched_kinds() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, 0, 0).unwrap();
        let bad = conn.execute("INSERT INTO kv VALUES ('k', 'json', x'00', 0)", []);
        assert!(bad.is_err());
    }
}
