//! Validating and executing one operation on the connection. Transactions and savepoints
//! are the worker's business; here each op is plain SQL.

use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, OptionalExtension};

use super::types::{Change, Entry, Op, Output, StoreConfig, StoreError, Value, Write};

/// The deepest nesting of arrays and objects serde_json reads back (its recursion limit
/// is 128, counting from one below the top): a deeper value could be written but never
/// read again.
const MAX_JSON_DEPTH: usize = 127;

/// The limits an operation is checked against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub key_bytes: usize,
    pub value_bytes: usize,
    pub update_ops: usize,
    pub list_limit: usize,
}

impl Limits {
    pub fn from_config(config: &StoreConfig) -> Limits {
        Limits {
            key_bytes: config.max_key_bytes,
            value_bytes: config.max_value_bytes,
            update_ops: config.max_update_ops,
            list_limit: config.max_list_limit.max(1),
        }
    }
}

/// Runs `op`. A write may leave partial changes behind on error: the caller wraps writes
/// in a savepoint.
pub(crate) fn execute(conn: &Connection, op: &Op, limits: &Limits, now_ms: i64) -> Result<Output, StoreError> {
    match op {
        Op::Get { key } => {
            check_key(key, limits)?;
            Ok(Output::Value(get(conn, key)?))
        }
        Op::Set { key, value } => {
            check_key(key, limits)?;
            let encoded = encode(key, value, limits)?;
            set(conn, key, &encoded, now_ms)?;
            Ok(Output::Written { changes: vec![Change { key: key.clone(), value: Some(value.clone()) }] })
        }
        Op::Delete { key } => {
            check_key(key, limits)?;
            let changes = delete(conn, key)?.into_iter().collect();
            Ok(Output::Written { changes })
        }
        Op::List { prefix, after, limit } => list(conn, prefix, after.as_deref(), *limit, limits),
        Op::Update { expect, ops } => update(conn, expect, ops, limits, now_ms),
    }
}

fn update(
    conn: &Connection,
    expect: &[(String, Option<Value>)],
    writes: &[Write],
    limits: &Limits,
    now_ms: i64,
) -> Result<Output, StoreError> {
    for (what, n) in [("expect entries", expect.len()), ("writes", writes.len())] {
        if n > limits.update_ops {
            return Err(StoreError::TooLarge(format!("{n} {what} in one update; the limit is {}", limits.update_ops)));
        }
    }
    // Everything is validated before anything is read or written.
    for (key, value) in expect {
        check_key(key, limits)?;
        if let Some(value) = value {
            encode(key, value, limits)?;
        }
    }
    let mut encoded = Vec::with_capacity(writes.len());
    for write in writes {
        match write {
            Write::Set { key, value } => {
                check_key(key, limits)?;
                encoded.push(Some(encode(key, value, limits)?));
            }
            Write::Delete { key } => {
                check_key(key, limits)?;
                encoded.push(None);
            }
        }
    }
    for (key, expected) in expect {
        // Compared as values, not as stored text: the same JSON may serialize differently.
        if get(conn, key)? != *expected {
            return Ok(Output::Conflict { key: key.clone() });
        }
    }
    let mut changes = Vec::with_capacity(writes.len());
    for (write, encoded) in writes.iter().zip(encoded) {
        match (write, encoded) {
            (Write::Set { key, value }, Some(encoded)) => {
                set(conn, key, &encoded, now_ms)?;
                changes.push(Change { key: key.clone(), value: Some(value.clone()) });
            }
            (Write::Delete { key }, _) => changes.extend(delete(conn, key)?),
            (Write::Set { .. }, None) => return Err(StoreError::Storage("internal: unencoded write".into())),
        }
    }
    Ok(Output::Written { changes })
}

fn list(
    conn: &Connection,
    prefix: &str,
    after: Option<&str>,
    limit: usize,
    limits: &Limits,
) -> Result<Output, StoreError> {
    check_len("prefix", prefix, limits)?;
    if let Some(after) = after {
        check_len("cursor", after, limits)?;
    }
    if limit == 0 {
        return Err(StoreError::BadRequest("list limit must be at least 1".into()));
    }
    let limit = limit.min(limits.list_limit);
    // Keys sort by their UTF-8 bytes, so the keys with a prefix are one contiguous run
    // starting at the prefix itself: walk the primary key from there and stop at the
    // first key outside it.
    let (sql, from) = match after {
        Some(after) if after >= prefix => ("SELECT key, kind, value FROM kv WHERE key > ?1 ORDER BY key", after),
        _ => ("SELECT key, kind, value FROM kv WHERE key >= ?1 ORDER BY key", prefix),
    };
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query([from])?;
    let mut items = Vec::new();
    let mut next = None;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if !key.starts_with(prefix) {
            break;
        }
        if items.len() == limit {
            next = items.last().map(|e: &Entry| e.key.clone());
            break;
        }
        let value = decode(&key, row.get_ref(1)?, row.get_ref(2)?)?;
        items.push(Entry { key, value });
    }
    Ok(Output::Page { items, next })
}

fn get(conn: &Connection, key: &str) -> Result<Option<Value>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT kind, value FROM kv WHERE key = ?1")?;
    let found = stmt.query_row([key], |row| Ok(decode(key, row.get_ref(0)?, row.get_ref(1)?))).optional()?;
    found.transpose()
}

fn set(conn: &Connection, key: &str, value: &Encoded<'_>, now_ms: i64) -> Result<(), StoreError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO kv (key, kind, value, updated_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at",
    )?;
    match value {
        Encoded::Json(text) => stmt.execute(params![key, "json", text, now_ms])?,
        Encoded::Bytes(bytes) => stmt.execute(params![key, "bytes", bytes, now_ms])?,
    };
    Ok(())
}

/// The change, if the key existed.
fn delete(conn: &Connection, key: &str) -> Result<Option<Change>, StoreError> {
    let mut stmt = conn.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
    let deleted = stmt.execute([key])? > 0;
    Ok(deleted.then(|| Change { key: key.to_string(), value: None }))
}

enum Encoded<'a> {
    Json(String),
    Bytes(&'a [u8]),
}

fn encode<'a>(key: &str, value: &'a Value, limits: &Limits) -> Result<Encoded<'a>, StoreError> {
    let (encoded, len) = match value {
        Value::Json(json) => {
            if json_deeper_than(json, MAX_JSON_DEPTH) {
                return Err(StoreError::BadRequest(format!(
                    "value for '{}' nests deeper than {MAX_JSON_DEPTH} levels",
                    shown(key)
                )));
            }
            let text = serde_json::to_string(json)
                .map_err(|e| StoreError::BadRequest(format!("value for '{}' is not serializable: {e}", shown(key))))?;
            let len = text.len();
            (Encoded::Json(text), len)
        }
        Value::Bytes(bytes) => (Encoded::Bytes(bytes), bytes.len()),
    };
    if len > limits.value_bytes {
        return Err(StoreError::TooLarge(format!(
            "value for '{}' is {len} bytes; the limit is {}",
            shown(key),
            limits.value_bytes
        )));
    }
    Ok(encoded)
}

fn decode(key: &str, kind: ValueRef<'_>, value: ValueRef<'_>) -> Result<Value, StoreError> {
    match (kind, value) {
        (ValueRef::Text(b"json"), ValueRef::Text(text)) => serde_json::from_slice(text)
            .map(Value::Json)
            .map_err(|e| StoreError::Storage(format!("stored value for '{}' is not JSON: {e}", shown(key)))),
        (ValueRef::Text(b"bytes"), ValueRef::Blob(bytes)) => Ok(Value::Bytes(bytes.to_vec())),
        _ => Err(StoreError::Storage(format!("stored value for '{}' has an unknown kind", shown(key)))),
    }
}

fn check_key(key: &str, limits: &Limits) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(StoreError::BadRequest("the key is empty".into()));
    }
    check_len("key", key, limits)
}

/// NUL is refused because SQLite's text functions and tools stop at it.
fn check_len(what: &str, text: &str, limits: &Limits) -> Result<(), StoreError> {
    if text.len() > limits.key_bytes {
        return Err(StoreError::TooLarge(format!(
            "{what} '{}…' is {} bytes; the limit is {}",
            shown(text),
            text.len(),
            limits.key_bytes
        )));
    }
    if text.contains('\0') {
        return Err(StoreError::BadRequest(format!("{what} '{}' contains NUL", shown(text).escape_default())));
    }
    Ok(())
}

/// A key short enough for a message.
fn shown(key: &str) -> &str {
    match key.char_indices().nth(64) {
        Some((cut, _)) => &key[..cut],
        None => key,
    }
}

fn json_deeper_than(value: &serde_json::Value, max: usize) -> bool {
    crate::json::depth_beyond(value, max).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conn() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&conn, 0, 0).unwrap();
        conn
    }

    fn limits() -> Limits {
        Limits { key_bytes: 16, value_bytes: 32, update_ops: 3, list_limit: 5 }
    }

    fn run(conn: &Connection, op: Op) -> Result<Output, StoreError> {
        execute(conn, &op, &limits(), 7)
    }

    fn set(conn: &Connection, key: &str, value: Value) {
        run(conn, Op::Set { key: key.into(), value }).unwrap();
    }

    #[test]
    fn json_and_bytes_round_trip_with_their_storage_class() {
        let conn = conn();
        set(&conn, "j", Value::Json(json!({"a": [1, 2]})));
        set(&conn, "b", Value::Bytes(vec![0, 255, 7]));
        assert_eq!(run(&conn, Op::Get { key: "j".into() }).unwrap(), Output::Value(Some(json!({"a": [1, 2]}).into())));
        assert_eq!(run(&conn, Op::Get { key: "b".into() }).unwrap(), Output::Value(Some(vec![0, 255, 7].into())));
        let types: Vec<String> = conn
            .prepare("SELECT typeof(value) FROM kv ORDER BY key")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(types, ["blob", "text"]);
    }

    #[test]
    fn keys_are_checked() {
        let conn = conn();
        let get = |key: &str| run(&conn, Op::Get { key: key.into() });
        assert!(matches!(get(""), Err(StoreError::BadRequest(_))));
        assert!(matches!(get("a\0b"), Err(StoreError::BadRequest(_))));
        assert!(matches!(get(&"k".repeat(17)), Err(StoreError::TooLarge(_))));
        assert_eq!(get(&"k".repeat(16)).unwrap(), Output::Value(None));
    }

    #[test]
    fn values_are_checked_by_their_stored_size() {
        let conn = conn();
        let too_big = Op::Set { key: "k".into(), value: Value::Json(json!("x".repeat(31))) }; // 33 bytes quoted
        assert!(matches!(run(&conn, too_big), Err(StoreError::TooLarge(_))));
        assert!(run(&conn, Op::Set { key: "k".into(), value: Value::Bytes(vec![0; 32]) }).is_ok());
    }

    #[test]
    fn deep_json_is_refused_without_recursion() {
        let mut deep = json!(1);
        for _ in 0..200 {
            deep = json!([deep]);
        }
        assert!(json_deeper_than(&deep, MAX_JSON_DEPTH));
        assert!(!json_deeper_than(&json!([[1], {"a": [2]}]), 3));
        assert!(json_deeper_than(&json!([[1], {"a": [[2]]}]), 3));
        // The deepest value accepted is one serde_json reads back, and one more is not.
        let mut deepest = json!(1);
        for _ in 0..MAX_JSON_DEPTH {
            deepest = json!([deepest]);
        }
        assert!(!json_deeper_than(&deepest, MAX_JSON_DEPTH));
        let text = serde_json::to_string(&deepest).unwrap();
        assert_eq!(serde_json::from_str::<serde_json::Value>(&text).unwrap(), deepest);
        assert!(serde_json::from_str::<serde_json::Value>(&format!("[{text}]")).is_err());
        let conn = conn();
        let big = Limits { value_bytes: 1 << 20, ..limits() };
        let op = Op::Set { key: "k".into(), value: Value::Json(deep) };
        assert!(matches!(execute(&conn, &op, &big, 0), Err(StoreError::BadRequest(_))));
    }

    #[test]
    fn list_pages_within_the_prefix() {
        let conn = conn();
        for key in ["a", "b/1", "b/2", "b/3", "b0", "c"] {
            set(&conn, key, Value::Json(json!(key)));
        }
        let page = |prefix: &str, after: Option<&str>, limit| match run(
            &conn,
            Op::List { prefix: prefix.into(), after: after.map(Into::into), limit },
        )
        .unwrap()
        {
            Output::Page { items, next } => (items.into_iter().map(|e| e.key).collect::<Vec<_>>(), next),
            other => panic!("{other:?}"),
        };
        assert_eq!(page("b/", None, 2), (vec!["b/1".into(), "b/2".into()], Some("b/2".into())));
        assert_eq!(page("b/", Some("b/2"), 2), (vec!["b/3".into()], None));
        assert_eq!(page("b/", Some("a"), 10).0.len(), 3);
        assert_eq!(page("b/", Some("z"), 10), (vec![], None));
        assert_eq!(page("", None, 100).0.len(), 5, "capped at the configured limit");
        assert_eq!(page("", None, 100).1, Some("b0".into()));
        assert!(matches!(
            run(&conn, Op::List { prefix: "".into(), after: None, limit: 0 }),
            Err(StoreError::BadRequest(_))
        ));
    }

    #[test]
    fn update_checks_every_expectation_then_writes() {
        let conn = conn();
        set(&conn, "a", Value::Json(json!({"n": 1})));
        let update = |expect: Vec<(&str, Option<Value>)>| Op::Update {
            expect: expect.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
            ops: vec![
                Write::Set { key: "a".into(), value: Value::Json(json!({"n": 2})) },
                Write::Delete { key: "gone".into() },
                Write::Set { key: "b".into(), value: Value::Bytes(vec![1]) },
            ],
        };
        let conflict = run(&conn, update(vec![("a", Some(json!({"n": 1}).into())), ("b", Some(json!(0).into()))]));
        assert_eq!(conflict.unwrap(), Output::Conflict { key: "b".into() });
        assert_eq!(run(&conn, Op::Get { key: "a".into() }).unwrap(), Output::Value(Some(json!({"n": 1}).into())));
        let done = run(&conn, update(vec![("a", Some(json!({"n": 1}).into())), ("b", None)])).unwrap();
        assert_eq!(
            done.changes(),
            [
                Change { key: "a".into(), value: Some(json!({"n": 2}).into()) },
                Change { key: "b".into(), value: Some(vec![1].into()) },
            ]
        );
        let too_many = Op::Update { expect: vec![], ops: vec![Write::Delete { key: "x".into() }; 4] };
        assert!(matches!(run(&conn, too_many), Err(StoreError::TooLarge(_))));
    }

    #[test]
    fn deleting_an_absent_key_changes_nothing() {
        let conn = conn();
        assert_eq!(run(&conn, Op::Delete { key: "k".into() }).unwrap(), Output::Written { changes: vec![] });
        set(&conn, "k", Value::Bytes(vec![]));
        assert_eq!(run(&conn, Op::Delete { key: "k".into() }).unwrap().changes().len(), 1);
    }

    #[test]
    fn messages_show_a_bounded_key() {
        assert_eq!(shown(&"é".repeat(100)).chars().count(), 64);
        assert_eq!(shown("short"), "short");
    }
}
