//! Frames between a page's bridge script and the core, and their decoding.
//!
//! The wire format is specified in `docs/ipc.md`. Decoding never panics: the
//! size limit is checked on the raw text before parsing; serde_json stops at 128 levels
//! of nesting on its own, and the configured depth is checked on the parsed value
//! (cheaper than scanning the text first, measured by the ipc benchmark).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::Limits;

/// The `code` of an error returned to a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The surface lacks a permission, or a deny permission or scope applies.
    NotAllowed,
    /// No command of that name exists.
    UnknownCommand,
    /// The command exists but its arguments do not fit it.
    BadArgs,
    /// The message exceeds the size or nesting limit.
    TooLarge,
    /// The message is not a frame at all (not JSON, or no known `kind`).
    BadMessage,
    /// The command named something that does not exist (a surface label, say).
    NotFound,
    /// The core failed; the message says why.
    Internal,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::BadArgs => "bad_args",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::BadMessage => "bad_message",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Internal => "internal",
        }
    }
}

/// The rejection value of an `invoke` promise: `{code, message}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{}: {message}", code.as_str())]
pub struct IpcError {
    pub code: ErrorCode,
    pub message: String,
}

impl IpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}

/// Console levels forwarded from pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConsoleLevel {
    Debug,
    Log,
    Info,
    Warn,
    Error,
}

/// A decoded frame from a page.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Inbound {
    Invoke {
        id: u64,
        cmd: String,
        /// The arguments are bytes, as a base64 string (when `fetch` is unavailable).
        #[serde(default)]
        binary: bool,
        #[serde(default)]
        args: Value,
    },
    Console {
        level: ConsoleLevel,
        message: String,
    },
    /// The answer to the core's ping: the page's script thread is alive.
    Beat,
    /// The person in front of the kiosk touched, clicked or typed.
    Activity,
    /// The core's bridge: which kind of editable element has focus now, if any (for
    /// the on-screen keyboard).
    Focus {
        field: Option<crate::keyboard::FocusReport>,
    },
}

/// A frame that could not be decoded; `id` is set when the frame's call id could still
/// be read, so that the right promise is rejected.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub id: Option<u64>,
    pub error: IpcError,
}

/// Decodes one frame under the configured limits.
pub fn decode(raw: &str, limits: &Limits) -> Result<Inbound, Rejection> {
    let reject = |error| Rejection { id: leading_id(raw), error };
    check_size(raw.as_bytes(), limits).map_err(reject)?;
    let frame: Inbound = serde_json::from_str(raw).map_err(|e| reject(parse_error(e, limits)))?;
    if let Inbound::Invoke { args, .. } = &frame {
        // The frame itself is one level.
        check_depth(args, limits.max_json_depth.saturating_sub(1), limits).map_err(reject)?;
    }
    Ok(frame)
}

/// serde_json stops at 128 levels on its own (its recursion limit); shallower limits are
/// checked on the parsed value, which costs a fraction of scanning the text first.
fn parse_error(e: serde_json::Error, limits: &Limits) -> IpcError {
    if e.to_string().starts_with("recursion limit exceeded") {
        return too_deep(limits, 128);
    }
    let what = if e.is_syntax() || e.is_eof() { "not valid JSON" } else { "not a Vitrine frame" };
    IpcError::new(ErrorCode::BadMessage, format!("{what}: {e}"))
}

fn too_deep(limits: &Limits, depth: usize) -> IpcError {
    IpcError::new(
        ErrorCode::TooLarge,
        format!("message nests deeper than {} levels (at least {depth})", limits.max_json_depth),
    )
}

fn check_depth(value: &Value, max: usize, limits: &Limits) -> Result<(), IpcError> {
    match crate::json::depth_beyond(value, max) {
        Some(level) => Err(too_deep(limits, level + (limits.max_json_depth - max))),
        None => Ok(()),
    }
}

/// Decodes the JSON arguments of a call that arrived as a request body.
pub fn decode_args(body: &[u8], limits: &Limits) -> Result<Value, IpcError> {
    check_size(body, limits)?;
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| match parse_error(e, limits) {
        IpcError { code: ErrorCode::BadMessage, message } => IpcError::new(
            ErrorCode::BadMessage,
            format!("arguments are {}", message.trim_start_matches("not a Vitrine frame: ")),
        ),
        other => other,
    })?;
    check_depth(&value, limits.max_json_depth, limits)?;
    Ok(value)
}

fn check_size(raw: &[u8], limits: &Limits) -> Result<(), IpcError> {
    if raw.len() > limits.max_message_bytes {
        return Err(IpcError::new(
            ErrorCode::TooLarge,
            format!("message of {} bytes exceeds the limit of {} bytes", raw.len(), limits.max_message_bytes),
        ));
    }
    Ok(())
}

/// The bridge writes `id` first, so a frame too large or too broken to parse can still
/// be answered on the right promise.
fn leading_id(raw: &str) -> Option<u64> {
    let rest = raw.strip_prefix("{\"id\":")?;
    let end = rest.find(|c: char| !c.is_ascii_digit())?;
    rest[..end].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_message_bytes: 4096, max_json_depth: 8, ..Limits::default() }
    }

    #[test]
    fn decodes_invoke_and_console() {
        let f = decode(r#"{"id":3,"kind":"invoke","cmd":"app.info","args":{"a":1}}"#, &limits()).unwrap();
        assert_eq!(
            f,
            Inbound::Invoke { id: 3, cmd: "app.info".into(), binary: false, args: serde_json::json!({"a":1}) }
        );
        let f = decode(r#"{"kind":"console","level":"warn","message":"hi"}"#, &limits()).unwrap();
        assert_eq!(f, Inbound::Console { level: ConsoleLevel::Warn, message: "hi".into() });
    }

    #[test]
    fn too_large_keeps_the_id() {
        let raw = format!(r#"{{"id":42,"kind":"invoke","cmd":"x","args":"{}"}}"#, "a".repeat(5000));
        let r = decode(&raw, &limits()).unwrap_err();
        assert_eq!(r.id, Some(42));
        assert_eq!(r.error.code, ErrorCode::TooLarge);
        assert!(r.error.message.contains("exceeds the limit of 4096 bytes"), "{}", r.error.message);
    }

    #[test]
    fn deep_nesting_is_too_large_but_brackets_in_strings_are_not() {
        let deep = format!(r#"{{"id":1,"kind":"invoke","cmd":"x","args":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        let r = decode(&deep, &limits()).unwrap_err();
        assert_eq!((r.id, r.error.code), (Some(1), ErrorCode::TooLarge));
        let in_string = format!(r#"{{"id":1,"kind":"invoke","cmd":"x","args":"{}\"{}"}}"#, "[".repeat(100), "{");
        assert!(decode(&in_string, &limits()).is_ok());
    }

    #[test]
    fn garbage_is_bad_message() {
        for raw in ["not json", "", "{", "[1,2]", r#"{"kind":"fly"}"#, r#"{"id":"x","kind":"invoke"}"#] {
            let r = decode(raw, &limits()).unwrap_err();
            assert_eq!(r.error.code, ErrorCode::BadMessage, "{raw}: {}", r.error.message);
        }
        let r = decode(r#"{"id":9,"kind":"invoke"}"#, &limits()).unwrap_err();
        assert_eq!((r.id, r.error.code), (Some(9), ErrorCode::BadMessage));
    }
}
