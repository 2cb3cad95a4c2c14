//! Property: given the caller the core bound (label and page URL), the router's
//! permission decision depends only on that caller and the command, never on anything
//! else a page puts in its message (fields naming another surface, an origin, a window,
//! …). The router is handed the caller here, so this does not show that the caller is
//! bound right: `tests/ipc.rs` (`each_surface_is_decided_by_the_label_bound_to_its_handlers`)
//! shows that with the real binary, one page in three surfaces, by both transports.

use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};
use vitrine::config::{Capability, Manifest};
use vitrine::ipc::{
    self, Authority, Broadcast, CallKey, CallResult, Caller, Host, IpcError, ReplySink, Router, SurfaceInfo,
};

/// Records what the router would evaluate; stands in for the GTK shell, which a
/// property test cannot start thousands of times.
#[derive(Default)]
struct Recorder(Vec<String>);

impl Host for Recorder {
    fn surfaces(&self) -> Vec<SurfaceInfo> {
        LABELS
            .iter()
            .map(|l| SurfaceInfo { label: l.to_string(), url: URL.into(), visible: true, overlay: *l != "main" })
            .collect()
    }
    fn set_visible(&mut self, _: &str, _: bool) -> Result<(), IpcError> {
        Ok(())
    }
    fn eval(&mut self, _: &str, script: String) {
        self.0.push(script);
    }
    fn document(&self, _: &str) -> u64 {
        1
    }
}

struct Sink;
impl ReplySink for Sink {
    fn send(&self, _: CallKey, _: CallResult) {}
    fn broadcast(&self, _: Broadcast) {}
}

const LABELS: [&str; 3] = ["main", "toast", "admin"];
const URL: &str = "app://localhost/index.html";
const TOKEN: &str = "00112233445566778899aabbccddeeff";
const COMMANDS: [&str; 5] = ["app.info", "window.list", "window.show", "window.hide", "ipc.echo"];

fn setup() -> (Router, Authority) {
    let ui = std::collections::BTreeSet::from(["index.html"]);
    let text = "[app]\nname = \"p\"\n[main]\npage = \"index.html\"\n[[overlay]]\nlabel = \"toast\"\npage = \"index.html\"\n[[overlay]]\nlabel = \"admin\"\npage = \"index.html\"\n";
    let manifest = Manifest::parse(Path::new("vitrine.toml"), text, &ui).expect("manifest");
    let caps: Vec<Capability> = [
        r#"{"identifier":"admin","windows":["admin"],"permissions":["app:allow-info","window:allow-list","window:allow-show","window:allow-hide","ipc:allow-echo"]}"#,
        r#"{"identifier":"main","windows":["main"],"permissions":["app:allow-info","window:allow-list"]}"#,
        r#"{"identifier":"locked","windows":["*"],"permissions":["window:deny-hide"]}"#,
    ]
    .iter()
    .map(|t| Capability::parse(Path::new("c.json"), t).expect("capability"))
    .collect();
    let authority = Authority::new(LABELS, &caps);
    let mut router = Router::new(manifest, Authority::new(LABELS, &caps), Arc::new(Sink));
    ipc::register_builtins(&mut router);
    for l in LABELS {
        router.set_token(l, TOKEN.into());
    }
    (router, authority)
}

fn forged_fields() -> impl Strategy<Value = Value> {
    let name =
        prop::sample::select(vec!["label", "surface", "window", "origin", "url", "source", "caller", "cmd", "id"]);
    let value = prop::sample::select(vec!["admin", "main", "app://localhost/admin.html", "https://evil.example/", ""]);
    prop::collection::btree_map(name, value, 0..5).prop_map(|m| json!(m))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn refusals_follow_the_bound_label_not_the_message(
        label in prop::sample::select(LABELS.to_vec()),
        command in prop::sample::select(COMMANDS.to_vec()),
        args in forged_fields(),
        extra in forged_fields(),
    ) {
        let (mut router, authority) = setup();
        let mut host = Recorder::default();
        // Forged fields in the arguments, and beside them in the frame.
        let mut frame = json!({ "id": 1, "kind": "invoke", "cmd": command, "args": args });
        let mut forged_beside = false;
        if let (Some(f), Some(e)) = (frame.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if !["id", "kind", "cmd", "args"].contains(&k.as_str()) {
                    f.insert(k.clone(), v.clone());
                    forged_beside = true;
                }
            }
        }
        router.handle_message(&mut host, Caller { label, url: URL }, &format!("{TOKEN}{frame}"));
        prop_assert_eq!(host.0.len(), 1, "one answer");
        let answer = &host.0[0];
        let allowed = authority.check(label, URL, command, None).is_ok();
        if forged_beside {
            // A frame with fields of its own is not a frame: refused before any command.
            prop_assert!(answer.contains(r#""code":"bad_message""#), "{}", answer);
        } else {
            let refused = answer.contains(r#""code":"not_allowed""#);
            prop_assert_eq!(refused, !allowed, "{} calling {}: {}", label, command, answer);
        }
    }
}

/// A surface whose page is being replaced accepts no token and answers nothing by
/// script; once the new page commits, only its token works and the old one is stale.
#[test]
fn tokens_follow_the_document() {
    let (mut router, _) = setup();
    let mut host = Recorder::default();
    let caller = Caller { label: "admin", url: URL };
    let frame = r#"{"id":1,"kind":"invoke","cmd":"ipc.echo","args":"x"}"#;
    router.handle_message(&mut host, caller, &format!("{TOKEN}{frame}"));
    assert_eq!(host.0, [r#"window.__vitrine_bridge.reply([1,1,true,"x","j"])"#]);

    router.revoke_token("admin");
    router.handle_message(&mut host, caller, &format!("{TOKEN}{frame}"));
    assert_eq!(host.0.len(), 1, "a page being replaced got an answer: {:?}", host.0);
    let http = |router: &mut Router, host: &mut Recorder, token: &str| {
        let (tx, rx) = std::sync::mpsc::channel();
        let reply_to: ipc::HttpReplyTo = Box::new(move |reply| {
            let _ = tx.send(format!("{reply:?}"));
        });
        let call = ipc::HttpCall { token, cmd: "ipc.echo", binary: false, id: None, body: b"1".to_vec() };
        router.handle_http(host, caller, call, reply_to);
        rx.recv().expect("an answer")
    };
    let refused = http(&mut router, &mut host, TOKEN);
    assert!(refused.contains("BadMessage") && refused.contains("being replaced"), "{refused}");

    const NEXT: &str = "ffeeddccbbaa99887766554433221100";
    router.set_token("admin", NEXT.into());
    router.handle_message(&mut host, caller, &format!("{TOKEN}{frame}"));
    assert!(host.0[1].contains("bad_message"), "a stale token was accepted: {:?}", host.0);
    assert!(http(&mut router, &mut host, TOKEN).contains("BadMessage"));
    router.handle_message(&mut host, caller, &format!("{NEXT}{frame}"));
    assert_eq!(host.0[2], r#"window.__vitrine_bridge.reply([1,1,true,"x","j"])"#);
    assert!(http(&mut router, &mut host, NEXT).contains("Ok(Json(Number(1)))"));
}
