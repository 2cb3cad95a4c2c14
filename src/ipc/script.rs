//! The scripts the core evaluates in a page to reach its bridge.
//!
//! Every script has the shape `window.__vitrine_bridge.name(<one JSON value>)`. JavaScriptCore
//! recognizes that shape (a dotted path called with one JSON literal, as in JSONP) and
//! reads the argument with its JSON parser instead of compiling it as a program, which
//! the ipc benchmark measured at about 2 ms saved per MiB; any other shape — a guard
//! such as `window.x&&…`, or several arguments — loses that. A page without the bridge
//! just throws, into nobody's console. Bytes travel as base64 and are turned back into
//! an `ArrayBuffer` by the bridge.

use base64::Engine;
use serde_json::Value;

use crate::ipc::call::{CallResult, Payload};
use crate::ipc::protocol::IpcError;

/// Name of the bridge object the injected script keeps on `window`.
pub const BRIDGE: &str = "__vitrine_bridge";

/// Settles call `id`.
pub fn reply(id: u64, result: &CallResult) -> String {
    let (ok, kind, body) = match result {
        Ok(Payload::Json(v)) => (true, "j", json(v)),
        Ok(Payload::Bytes(b)) => (true, "b", json(&Value::String(base64::engine::general_purpose::STANDARD.encode(b)))),
        Err(e) => (false, "j", error_json(e)),
    };
    format!("window.{BRIDGE}.reply([{id},{ok},{body},\"{kind}\"])")
}

/// Reports an error for a frame whose call could not be identified.
pub fn fault(error: &IpcError) -> String {
    format!("window.{BRIDGE}.fault({})", error_json(error))
}

/// Asks the page's bridge to answer with a beat.
pub fn ping() -> String {
    format!("window.{BRIDGE}.ping(0)")
}

/// One event as the bridge receives it: `{event, payload, source}` as JSON.
pub fn event_frame(event: &str, payload: &Value, source: &str) -> String {
    json(&serde_json::json!({ "event": event, "payload": payload, "source": source }))
}

/// Delivers events, in order, in one script: one array keeps the JSONP shape however
/// many events a burst batches.
pub fn events(frames: &[String]) -> String {
    let len = frames.iter().map(|f| f.len() + 1).sum::<usize>();
    let mut script = String::with_capacity(len + 40);
    script.push_str("window.");
    script.push_str(BRIDGE);
    script.push_str(".events([");
    for (i, frame) in frames.iter().enumerate() {
        if i > 0 {
            script.push(',');
        }
        script.push_str(frame);
    }
    script.push_str("])");
    script
}

fn json(v: &Value) -> String {
    // Serializing a Value cannot fail: its keys are strings.
    serde_json::to_string(v).unwrap_or_else(|_| "null".to_string())
}

pub fn error_json(e: &IpcError) -> String {
    serde_json::to_string(e).unwrap_or_else(|_| r#"{"code":"internal","message":"unserializable error"}"#.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::protocol::ErrorCode;

    #[test]
    fn replies_are_calls_on_the_bridge() {
        assert_eq!(
            reply(7, &Ok(Payload::Json(serde_json::json!({"a": "</script>"})))),
            r#"window.__vitrine_bridge.reply([7,true,{"a":"</script>"},"j"])"#
        );
        assert_eq!(
            reply(8, &Ok(Payload::Bytes(vec![0, 255, 1]))),
            r#"window.__vitrine_bridge.reply([8,true,"AP8B","b"])"#
        );
        let e = IpcError::new(ErrorCode::NotAllowed, "no");
        assert!(reply(9, &Err(e.clone())).contains(r#"reply([9,false,{"code":"not_allowed","message":"no"},"j"])"#));
        assert!(fault(&e).contains(r#".fault({"code":"not_allowed","message":"no"})"#));
        let frames = [event_frame("a", &Value::Null, "core"), event_frame("b", &serde_json::json!(1), "main")];
        assert_eq!(
            events(&frames),
            r#"window.__vitrine_bridge.events([{"event":"a","payload":null,"source":"core"},{"event":"b","payload":1,"source":"main"}])"#
        );
    }
}
