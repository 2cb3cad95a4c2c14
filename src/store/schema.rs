//! The schema and its migrations, versioned by `PRAGMA user_version`.
//!
//! * 0 — an empty file.
//! * 1 — `kv(key TEXT PRIMARY KEY, value TEXT NOT NULL)`: JSON text only.
//! * 2 — values are JSON (TEXT) or bytes (BLOB), told apart by `kind`, and every row has
//!   an `updated_at` in Unix milliseconds. The table is `STRICT` so a value keeps the
//!   storage class it was written with.
//!
//! Each migration runs in its own transaction together with the `user_version` bump, so a
//! crash mid-migration leaves the previous version intact. Migrations are never edited
//! once released: a device may still hold a file of any older version.

use rusqlite::{Connection, Transaction, TransactionBehavior};

/// The schema version this binary writes. Files claiming a newer one are unreadable.
pub const VERSION: u32 = 2;

type Apply = fn(&Transaction<'_>, i64) -> rusqlite::Result<()>;

/// `(version reached, how)`, in order.
const MIGRATIONS: &[(u32, Apply)] = &[(1, to_v1), (2, to_v2)];

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

/// Brings a file at version `from` (≤ [`VERSION`]) up to date.
pub(crate) fn migrate(conn: &Connection, from: u32, now_ms: i64) -> rusqlite::Result<()> {
    for &(to, apply) in MIGRATIONS.iter().filter(|(to, _)| *to > from) {
        // Dropping the transaction on an error rolls it back.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        apply(&tx, now_ms)?;
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
        assert_eq!(version(&conn), 2);
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
    fn strict_table_rejects_mismatched_kinds() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, 0, 0).unwrap();
        let bad = conn.execute("INSERT INTO kv VALUES ('k', 'json', x'00', 0)", []);
        assert!(bad.is_err());
    }
}
