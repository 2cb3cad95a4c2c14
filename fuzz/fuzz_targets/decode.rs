//! Whatever a page posts, the router answers with a structured reply or a fault and
//! never panics; a call is answered at most once. The same holds when frames and
//! replies are decoded and encoded on worker threads (`Router::offload_from`), and all
//! such work comes back. And whatever JSON value the core sends back, the page reads
//! exactly that value: a literal never carries a `"__proto__"` key (JavaScript would
//! make it the prototype), JSON text does.
#![no_main]

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vitrine::config::Manifest;
use vitrine::ipc::{self, Authority, CallKey, CallResult, Caller, Host, IpcError, ReplySink, Router, SurfaceInfo};

/// Stands in for the GTK shell, which cannot run inside the fuzzer: it records the
/// scripts the router would evaluate.
#[derive(Default)]
struct Recorder {
    scripts: Vec<String>,
}

impl Host for Recorder {
    fn surfaces(&self) -> Vec<SurfaceInfo> {
        vec![SurfaceInfo {
            label: "main".into(),
            url: "app://localhost/index.html".into(),
            visible: true,
            overlay: false,
        }]
    }
    fn set_visible(&mut self, _: &str, _: bool) -> Result<(), IpcError> {
        Ok(())
    }
    fn eval(&mut self, _: &str, script: String) {
        self.scripts.push(script);
    }
    fn document(&self, _: &str) -> u64 {
        1
    }
}

/// Carries work done off the router's thread back to the fuzzing thread.
struct Sink(Option<Mutex<Sender<ipc::offload::Offloaded>>>);
impl ReplySink for Sink {
    fn send(&self, _: CallKey, _: CallResult) {}
    fn broadcast(&self, _: ipc::Broadcast) {}
    fn offloaded(&self, offloaded: ipc::offload::Offloaded) {
        if let Some(tx) = &self.0 {
            let _ = tx.lock().map(|tx| tx.send(offloaded));
        }
    }
}

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn router(sink: Sink) -> Router {
    let text = "[app]\nname = \"fuzz\"\n[main]\npage = \"index.html\"\n[limits]\nmax_message_bytes = 65536\nmax_json_depth = 16\n";
    let ui = std::collections::BTreeSet::from(["index.html"]);
    let manifest = Manifest::parse(std::path::Path::new("vitrine.toml"), text, &ui).expect("valid manifest");
    let caps = vec![vitrine::config::Capability::parse(
        std::path::Path::new("c.json"),
        r#"{"identifier":"all","windows":["*"],"permissions":["app:allow-info","window:allow-list","ipc:allow-echo",{"identifier":"event:allow-emit","allow":[{"event":"a*"}]},"event:allow-listen"]}"#,
    )
    .expect("valid capability")];
    let authority = Authority::new(["main"], &caps);
    let mut router = Router::new(manifest, authority, Arc::new(sink));
    ipc::register_builtins(&mut router);
    router.set_token("main", TOKEN.into());
    router
}

/// A router that decodes and encodes everything on its workers, and where that work
/// comes back.
fn offloading_router() -> (Router, Receiver<ipc::offload::Offloaded>) {
    let (tx, rx) = channel();
    let mut router = router(Sink(Some(Mutex::new(tx))));
    router.offload_from(1);
    (router, rx)
}

thread_local! {
    // One router for the whole run: building one starts worker threads, which would
    // cost more than the input itself.
    static ROUTER: std::cell::RefCell<Router> = std::cell::RefCell::new(router(Sink(None)));
    static OFFLOADING: std::cell::RefCell<(Router, Receiver<ipc::offload::Offloaded>)> =
        std::cell::RefCell::new(offloading_router());
}

fuzz_target!(|data: &[u8]| {
    ROUTER.with(|r| run(&mut r.borrow_mut(), data, None));
    OFFLOADING.with(|r| {
        let (router, rx) = &mut *r.borrow_mut();
        run(router, data, Some(rx));
    });
});

fn run(router: &mut Router, data: &[u8], back: Option<&Receiver<ipc::offload::Offloaded>>) {
    let mut host = Recorder::default();
    let text = String::from_utf8_lossy(data);
    let caller = Caller { label: "main", url: "app://localhost/index.html" };
    // With the token, as the bridge would send it; and without, as a frame would.
    router.handle_message(&mut host, caller, &format!("{TOKEN}{text}"));
    settle(router, &mut host, back);
    router.handle_message(&mut host, caller, &text);
    settle(router, &mut host, back);
    for script in &host.scripts {
        assert!(script.starts_with("window.__vitrine_bridge."), "{script}");
    }
    // The frame without the token is always refused, unless the input happens to begin
    // with the token itself (the fuzzer finds it), which makes it a tokened frame.
    if !text.starts_with(TOKEN) {
        assert!(host.scripts.last().is_some_and(|s| s.contains("bad_message")));
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        answers_give_back(&value);
    }
}

fn has_proto_key(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => m.iter().any(|(k, v)| k == "__proto__" || has_proto_key(v)),
        serde_json::Value::Array(a) => a.iter().any(has_proto_key),
        _ => false,
    }
}

/// Reads a reply and an event batch for `value` as the bridge would.
fn answers_give_back(value: &serde_json::Value) {
    use vitrine::ipc::script;
    let reply = script::reply(7, 3, &Ok(ipc::Payload::Json(value.clone())));
    let arg = reply.strip_prefix("window.__vitrine_bridge.reply(").and_then(|s| s.strip_suffix(')')).expect("shape");
    let frame: Vec<serde_json::Value> = serde_json::from_str(arg).expect("the argument is JSON");
    assert_eq!(frame[..3], [serde_json::json!(7), serde_json::json!(3), serde_json::json!(true)]);
    let got = match frame[4].as_str() {
        Some("j") => {
            assert!(!has_proto_key(&frame[3]), "{reply}");
            frame[3].clone()
        }
        Some("t") => serde_json::from_str(frame[3].as_str().expect("text")).expect("JSON text"),
        other => panic!("kind {other:?}"),
    };
    assert_eq!(&got, value);
    let events = script::events(7, &[script::event_frame("e", value, "main")]);
    let arg = events.strip_prefix("window.__vitrine_bridge.events(").and_then(|s| s.strip_suffix(')')).expect("shape");
    let batch: Vec<serde_json::Value> = serde_json::from_str(arg).expect("the argument is JSON");
    assert_eq!(batch[0], serde_json::json!(7));
    let event = match &batch[1] {
        serde_json::Value::String(text) => serde_json::from_str(text).expect("JSON text"),
        literal => {
            assert!(!has_proto_key(literal), "{events}");
            literal.clone()
        }
    };
    assert_eq!(event["payload"], *value);
}

/// Hands work done off the router's thread back to it until none is out.
fn settle(router: &mut Router, host: &mut Recorder, back: Option<&Receiver<ipc::offload::Offloaded>>) {
    let Some(back) = back else { return };
    while router.offloading() > 0 {
        let done = back.recv_timeout(Duration::from_secs(10)).expect("offloaded work comes back");
        router.offloaded(host, done);
    }
}
