//! The store's commands: `store.get`, `store.set`, `store.delete`, `store.list` and
//! `store.update`, each behind its own permission and scoped by key.
//!
//! Every call is handed to the store thread and answered from there once the result is
//! durable: a `store.set` promise resolves only after its transaction is committed
//! with `synchronous=FULL`. Writes from many surfaces are group-committed by the store.
//! Each committed change is broadcast as a `store.changed` event (`{key, value}`, or
//! `{key, bytes: true}` for bytes) to the surfaces that listen to it and may
//! `store.get` that key.
//!
//! Values are JSON; bytes go in as base64 (`{key, bytes}`) and come back from
//! `store.get` as an `ArrayBuffer`, in listings as `{"$bytes": base64}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::ipc::call::{Broadcast, CallResult, Payload, ReplySink, ReplyTo};
use crate::ipc::protocol::{ErrorCode, IpcError};
use crate::ipc::router::{Ctx, Router};
use crate::store::{Change, Op, Output, Store, StoreError, Value, Write};

pub const CHANGED_EVENT: &str = "store.changed";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyArgs {
    key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetArgs {
    key: String,
    #[serde(default)]
    value: Json,
    /// Bytes to store instead of `value`, as base64.
    bytes: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListArgs {
    #[serde(default)]
    prefix: String,
    after: Option<String>,
    #[serde(default = "default_limit")]
    limit: usize,
}

fn default_limit() -> usize {
    100
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateArgs {
    /// Current values required for the update to apply (`null`: the key is absent).
    #[serde(default)]
    expect: BTreeMap<String, Json>,
    #[serde(default)]
    set: BTreeMap<String, Json>,
    #[serde(default)]
    delete: Vec<String>,
}

#[derive(Serialize)]
struct Item {
    key: String,
    value: Json,
}

/// Registers the store's commands. Without a store (it could not be opened) they
/// answer `internal` with the reason, and the rest of the kiosk runs on.
pub fn register(router: &mut Router, store: Result<Store, String>) {
    let store = Arc::new(store);
    let s = Arc::clone(&store);
    router.register_deferred("store.get", move |ctx, KeyArgs { key }, reply| {
        scoped(ctx, "store.get", &key)?;
        submit(&s, Op::Get { key }, reply, None, |out| match out {
            Output::Value(Some(Value::Bytes(b))) => Ok(Payload::Bytes(b)),
            Output::Value(Some(Value::Json(v))) => Ok(Payload::Json(v)),
            _ => Ok(Payload::Json(Json::Null)),
        })
    });
    let s = Arc::clone(&store);
    router.register_deferred("store.set", move |ctx, args: SetArgs, reply| {
        scoped(ctx, "store.set", &args.key)?;
        let value = match args.bytes {
            Some(b64) => Value::Bytes(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| IpcError::new(ErrorCode::BadArgs, "'store.set': bytes must be base64"))?,
            ),
            None => Value::Json(args.value),
        };
        submit(&s, Op::Set { key: args.key, value }, reply, Some(ctx.sink()), |_| Ok(Payload::Json(Json::Null)))
    });
    let s = Arc::clone(&store);
    router.register_deferred("store.delete", move |ctx, KeyArgs { key }, reply| {
        scoped(ctx, "store.delete", &key)?;
        submit(&s, Op::Delete { key }, reply, Some(ctx.sink()), |out| {
            Ok(Payload::Json(serde_json::json!({ "deleted": !out.changes().is_empty() })))
        })
    });
    let s = Arc::clone(&store);
    router.register_deferred("store.list", move |ctx, args: ListArgs, reply| {
        // Only the keys this surface may list come back; the page of results may then
        // hold fewer than `limit` items while `next` still points further.
        let checker = ctx.authority.checker(ctx.caller.label, ctx.caller.url, "store.list");
        let op = Op::List { prefix: args.prefix, after: args.after, limit: args.limit };
        submit(&s, op, reply, None, move |out| {
            let Output::Page { items, next } = out else { return Ok(Payload::Json(Json::Null)) };
            let items: Vec<Item> = items
                .into_iter()
                .filter(|e| checker.allows(&e.key))
                .map(|e| Item { key: e.key, value: to_json(e.value) })
                .collect();
            Ok(Payload::Json(serde_json::json!({ "items": items, "next": next })))
        })
    });
    let s = Arc::clone(&store);
    router.register_deferred("store.update", move |ctx, args: UpdateArgs, reply| {
        let keys = args.expect.keys().chain(args.set.keys()).chain(args.delete.iter());
        for key in keys {
            scoped(ctx, "store.update", key)?;
        }
        let expect = args.expect.into_iter().map(|(k, v)| (k, (!v.is_null()).then_some(Value::Json(v)))).collect();
        let writes = args.set.into_iter().map(|(key, v)| Write::Set { key, value: Value::Json(v) });
        let ops = writes.chain(args.delete.into_iter().map(|key| Write::Delete { key })).collect();
        submit(&s, Op::Update { expect, ops }, reply, Some(ctx.sink()), |out| {
            Ok(Payload::Json(match out {
                Output::Conflict { key } => serde_json::json!({ "ok": false, "conflict": key }),
                _ => serde_json::json!({ "ok": true }),
            }))
        })
    });
}

fn scoped(ctx: &Ctx<'_>, command: &str, key: &str) -> Result<(), IpcError> {
    ctx.authority
        .check(ctx.caller.label, ctx.caller.url, command, Some(key))
        .map_err(|d| IpcError::new(ErrorCode::NotAllowed, d.0))
}

/// Hands `op` to the store; `answer` shapes the result on the store thread, after the
/// commit. Changes are broadcast through `changes_to` when given.
fn submit(
    store: &Result<Store, String>,
    op: Op,
    reply: ReplyTo,
    changes_to: Option<Arc<dyn ReplySink>>,
    answer: impl FnOnce(Output) -> CallResult + Send + 'static,
) -> Result<(), IpcError> {
    let store =
        store.as_ref().map_err(|why| IpcError::new(ErrorCode::Internal, format!("the store is unavailable: {why}")))?;
    store.submit(op, move |result: Result<Output, StoreError>| match result {
        Ok(out) => {
            if let Some(sink) = changes_to {
                for change in out.changes() {
                    sink.broadcast(changed(change));
                }
            }
            reply.send(answer(out));
        }
        Err(e) => reply.send(Err(to_ipc_error(e))),
    });
    Ok(())
}

fn changed(change: &Change) -> Broadcast {
    let payload = match &change.value {
        Some(Value::Bytes(_)) => serde_json::json!({ "key": change.key, "bytes": true }),
        Some(Value::Json(v)) => serde_json::json!({ "key": change.key, "value": v }),
        None => serde_json::json!({ "key": change.key, "value": null, "deleted": true }),
    };
    Broadcast { event: CHANGED_EVENT.to_string(), payload, only_if: Some(("store.get", change.key.clone())) }
}

fn to_json(value: Value) -> Json {
    match value {
        Value::Json(v) => v,
        Value::Bytes(b) => serde_json::json!({ "$bytes": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

fn to_ipc_error(e: StoreError) -> IpcError {
    match e {
        StoreError::TooLarge(m) => IpcError::new(ErrorCode::TooLarge, m),
        StoreError::BadRequest(m) => IpcError::new(ErrorCode::BadArgs, m),
        other => IpcError::new(ErrorCode::Internal, format!("store: {other}")),
    }
}
