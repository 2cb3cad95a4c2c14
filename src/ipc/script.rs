//! The scripts the core evaluates in a page to reach its bridge.
//!
//! Every script has the shape `window.__vitrine_bridge.name(<one JSON value>)`. JavaScriptCore
//! recognizes that shape (a dotted path called with one JSON literal, as in JSONP) and
//! reads the argument with its JSON parser instead of compiling it as a program, which
//! the ipc benchmark measured at about 2 ms saved per MiB; any other shape — a guard
//! such as `window.x&&…`, or several arguments — loses that. A page without the bridge
//! just throws, into nobody's console. Bytes travel as base64 and are turned back into
//! an `ArrayBuffer` by the bridge.
//!
//! A literal is read as JavaScript, not as JSON, in one respect that matters: an object
//! key `"__proto__"` sets the object's prototype instead of making an own property (in
//! the fast path and in the compiled one alike), so a payload `{"__proto__":{"admin":true}}`
//! would arrive with `admin === true` on it. A value whose JSON holds that key therefore
//! travels as a JSON *string* that the bridge gives to `JSON.parse`, which makes own
//! properties; every other value keeps the fast literal. The test is a scan of the text
//! for `"__proto__"`: serde_json writes that key only that way, and a string value that
//! matches merely takes the slower path.
//!
//! Each script also carries the number of the document it is for (see
//! [`crate::ipc::document`]); a bridge ignores what is addressed to another document.

use base64::Engine;
use serde_json::Value;

use crate::ipc::call::{CallResult, Payload};
use crate::ipc::protocol::IpcError;

/// Name of the bridge object the injected script keeps on `window`.
pub const BRIDGE: &str = "__vitrine_bridge";

/// How a reply's value travels: a literal, JSON text to parse, or base64 bytes.
const LITERAL: &str = "j";
const TEXT: &str = "t";
const BYTES: &str = "b";

/// Settles call `id` of document `document`.
pub fn reply(document: u64, id: u64, result: &CallResult) -> String {
    let (ok, kind, body) = match result {
        Ok(Payload::Json(v)) => {
            let (body, text) = data(v);
            (true, if text { TEXT } else { LITERAL }, body)
        }
        Ok(Payload::Bytes(b)) => {
            (true, BYTES, json(&Value::String(base64::engine::general_purpose::STANDARD.encode(b))))
        }
        Err(e) => (false, LITERAL, error_json(e)),
    };
    format!("window.{BRIDGE}.reply([{document},{id},{ok},{body},\"{kind}\"])")
}

/// Reports an error for a frame whose call could not be identified.
pub fn fault(document: u64, error: &IpcError) -> String {
    format!("window.{BRIDGE}.fault([{document},{}])", error_json(error))
}

/// Asks the page's bridge to answer with a beat.
pub fn ping() -> String {
    format!("window.{BRIDGE}.ping(0)")
}

/// One event as the bridge receives it: `{event, payload, source}` as a JSON literal,
/// or as a JSON string when it holds a `"__proto__"` key.
pub fn event_frame(event: &str, payload: &Value, source: &str) -> String {
    data(&serde_json::json!({ "event": event, "payload": payload, "source": source })).0
}

/// Delivers events to document `document`, in order, in one script: one array keeps
/// the JSONP shape however many events a burst batches.
pub fn events(document: u64, frames: &[String]) -> String {
    let len = frames.iter().map(|f| f.len() + 1).sum::<usize>();
    let mut script = String::with_capacity(len + 60);
    script.push_str("window.");
    script.push_str(BRIDGE);
    script.push_str(".events([");
    script.push_str(&document.to_string());
    for frame in frames {
        script.push(',');
        script.push_str(frame);
    }
    script.push_str("])");
    script
}

/// `v` as the script's argument, and whether it is JSON text to parse rather than a
/// literal.
fn data(v: &Value) -> (String, bool) {
    let literal = json(v);
    if has_proto_key(&literal) {
        (json(&Value::String(literal)), true)
    } else {
        (literal, false)
    }
}

/// Whether JSON text may hold a `"__proto__"` key (a string value of that text counts
/// too, which costs only speed).
pub fn has_proto_key(json: &str) -> bool {
    json.contains("\"__proto__\"")
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
    use serde_json::json;

    #[test]
    fn replies_are_calls_on_the_bridge() {
        assert_eq!(
            reply(3, 7, &Ok(Payload::Json(json!({"a": "</script>"})))),
            r#"window.__vitrine_bridge.reply([3,7,true,{"a":"</script>"},"j"])"#
        );
        assert_eq!(
            reply(3, 8, &Ok(Payload::Bytes(vec![0, 255, 1]))),
            r#"window.__vitrine_bridge.reply([3,8,true,"AP8B","b"])"#
        );
        let e = IpcError::new(ErrorCode::NotAllowed, "no");
        assert!(
            reply(4, 9, &Err(e.clone())).contains(r#"reply([4,9,false,{"code":"not_allowed","message":"no"},"j"])"#)
        );
        assert_eq!(fault(5, &e), r#"window.__vitrine_bridge.fault([5,{"code":"not_allowed","message":"no"}])"#);
        let frames = [event_frame("a", &Value::Null, "core"), event_frame("b", &json!(1), "main")];
        assert_eq!(
            events(6, &frames),
            r#"window.__vitrine_bridge.events([6,{"event":"a","payload":null,"source":"core"},{"event":"b","payload":1,"source":"main"}])"#
        );
        assert_eq!(events(6, &[]), "window.__vitrine_bridge.events([6])");
    }

    #[test]
    fn proto_keys_travel_as_text() {
        let evil = json!({"__proto__": {"admin": true}});
        assert_eq!(
            reply(1, 2, &Ok(Payload::Json(evil.clone()))),
            r#"window.__vitrine_bridge.reply([1,2,true,"{\"__proto__\":{\"admin\":true}}","t"])"#
        );
        // Deep inside arrays, too.
        let nested = json!({"list": [1, {"x": [{"__proto__": null}]}]});
        assert!(reply(1, 3, &Ok(Payload::Json(nested))).ends_with(r#"","t"])"#));
        let frame = event_frame("e", &evil, "overlay");
        assert_eq!(frame, r#""{\"event\":\"e\",\"payload\":{\"__proto__\":{\"admin\":true}},\"source\":\"overlay\"}""#);
        // Only the frame that needs it is text; the batch keeps its shape.
        let plain = event_frame("e", &json!({"proto": 1, "__proto": 2, "a__proto__": 3}), "core");
        assert!(plain.starts_with('{'), "{plain}");
        assert_eq!(
            events(2, &[plain.clone(), frame.clone()]),
            format!("window.__vitrine_bridge.events([2,{plain},{frame}])")
        );
    }

    #[test]
    fn the_text_is_the_json_of_the_value() {
        // What the bridge parses is exactly serde_json's text of the value.
        for v in [
            json!({"__proto__": {"admin": true}, "s": "quote \" and \\ and \u{1}"}),
            json!(["__proto__"]),
            json!({"a": {"__proto__": []}}),
        ] {
            let (text, parsed) = data(&v);
            assert!(parsed);
            let inner: String = serde_json::from_str(&text).expect("a JSON string");
            assert_eq!(serde_json::from_str::<Value>(&inner).expect("JSON text"), v);
        }
    }

    fn has_key(v: &Value, key: &str) -> bool {
        match v {
            Value::Object(m) => m.iter().any(|(k, v)| k == key || has_key(v, key)),
            Value::Array(a) => a.iter().any(|v| has_key(v, key)),
            _ => false,
        }
    }

    fn values() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec!["__proto__", "a", "constructor", "prototype", "__proto", "\"__proto__\""]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            prop::sample::select(vec!["__proto__", "\"__proto__\"", "x", ""]).prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 32, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Read as the bridge reads it, every reply gives back the value, and a literal
        /// never holds a "__proto__" key.
        #[test]
        fn replies_give_back_the_value(v in values(), doc in 0u64..1 << 53, id in 0u64..1 << 53) {
            let script = reply(doc, id, &Ok(Payload::Json(v.clone())));
            let arg = script
                .strip_prefix("window.__vitrine_bridge.reply(")
                .and_then(|s| s.strip_suffix(')'))
                .expect("the JSONP shape");
            let frame: Vec<Value> = serde_json::from_str(arg).expect("the argument is JSON");
            proptest::prop_assert_eq!(&frame[..3], &[json!(doc), json!(id), json!(true)]);
            let got = match frame[4].as_str() {
                Some("j") => {
                    proptest::prop_assert!(!has_key(&frame[3], "__proto__"), "{}", script);
                    frame[3].clone()
                }
                Some("t") => serde_json::from_str(frame[3].as_str().expect("text")).expect("JSON text"),
                other => panic!("kind {other:?}"),
            };
            proptest::prop_assert_eq!(got, v);
        }
    }

    #[test]
    fn ordinary_values_stay_literal() {
        for v in [json!(null), json!(1), json!("__proto__ as words"), json!({"constructor": {"prototype": 1}})] {
            let (text, parsed) = data(&v);
            assert!(!parsed, "{text}");
            assert_eq!(text, serde_json::to_string(&v).unwrap());
        }
        // An escaped quote next to the word is not the key.
        assert!(!has_proto_key(r#"{"a":"x\"__proto__\"y"}"#));
        assert!(has_proto_key(r#"{"__proto__":1}"#));
    }
}
