//! The IPC diagnostics: a page (or a health check) can measure the IPC path itself.
//! Built with the `diagnostics` feature only (tests and benchmarks turn it on); without
//! it these commands answer `unknown_command`, though capability files may still grant
//! their permissions.

use serde::Deserialize;
use serde_json::Value;

use crate::ipc::call::{Args, Payload};
use crate::ipc::protocol::{ErrorCode, IpcError};
use crate::ipc::router::{json_args, Router};

/// Longest wait `ipc.delay` accepts.
const MAX_DELAY_MS: u64 = 10_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DelayArgs {
    ms: u64,
    #[serde(default)]
    value: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlobArgs {
    length: usize,
    #[serde(default, rename = "as")]
    kind: BlobKind,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum BlobKind {
    #[default]
    Bytes,
    Text,
}

/// `ipc.blob`'s answer: byte `i` is `i % 251` (a prime, so the pattern does not line up
/// with buffer sizes and a page can check every byte); text repeats `0-9a-z`.
/// Built by repeating one period (copies, not a loop per byte: a MiB costs tens of µs).
fn blob(length: usize, kind: BlobKind) -> Payload {
    match kind {
        BlobKind::Bytes => {
            let period: Vec<u8> = (0..251u8).collect();
            let mut bytes = period.repeat(length / period.len() + 1);
            bytes.truncate(length);
            Payload::Bytes(bytes)
        }
        BlobKind::Text => {
            let mut text = "0123456789abcdefghijklmnopqrstuvwxyz".repeat(length / 36 + 1);
            text.truncate(length);
            Payload::Json(Value::String(text))
        }
    }
}

/// A page (or a health check) can measure the IPC path itself. Built with the
/// `diagnostics` feature only (tests and benchmarks): the product answers
/// `unknown_command`, though capability files may still grant their permissions.
pub(super) fn register(router: &mut Router) {
    router.register_raw("ipc.echo", |_, args| {
        Ok(Some(match args {
            Args::Json(v) => Payload::Json(v),
            Args::Bytes(b) => Payload::Bytes(b),
        }))
    });
    router.register_raw("ipc.sink", |_, args| {
        let received = match args {
            Args::Json(_) => serde_json::json!({ "kind": "json" }),
            Args::Bytes(b) => serde_json::json!({ "kind": "bytes", "length": b.len() }),
        };
        Ok(Some(Payload::Json(received)))
    });
    router.declare_args::<BlobArgs>("ipc.blob");
    router.register_raw("ipc.blob", |ctx, args| {
        let BlobArgs { length, kind } = json_args("ipc.blob", ctx.caller.label, args)?;
        let max = ctx.manifest.limits.max_message_bytes;
        if length > max {
            return Err(IpcError::new(
                ErrorCode::TooLarge,
                format!("length {length} exceeds the message limit of {max} bytes"),
            ));
        }
        Ok(Some(blob(length, kind)))
    });
    router.register_blocking("ipc.delay", |DelayArgs { ms, value }| {
        if ms > MAX_DELAY_MS {
            return Err(IpcError::new(ErrorCode::BadArgs, format!("ms must be at most {MAX_DELAY_MS}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Ok(value)
    });
}
