//! The floor: a bare tao window with wry webviews laid out like the Vitrine kiosk (a
//! main webview and three small listener webviews in a `gtk::Overlay`, one shared web
//! context), with handlers that only stamp and echo.
//!
//! * postMessage: the frame is one tag character and the payload; the answer is
//!   `evaluate_script("__reply(<JSON>)")`, the payload's JSON text pasted in unparsed.
//! * fetch: `POST app://localhost/{echo,sink,download-json,download-bytes}`, answered by
//!   the custom protocol's response; the echo returns the request body as it came.
//! * fan-out: on `f<k>` the handler evaluates `__fan()` in k listeners (and then
//!   answers the main page, as Vitrine answers an emit after delivering it); each
//!   listener acks with one postMessage. Variants: the scripts run by
//!   `call_async_javascript_function`, and every ack answered with a script (as
//!   Vitrine answers the listeners' invoke acks).

use std::borrow::Cow;
use std::cell::RefCell;
use std::time::Instant;

use gtk::gio::Cancellable;
use gtk::glib::{ToVariant, Variant, VariantDict};
use gtk::prelude::*;
use tao::dpi::{LogicalPosition, LogicalSize};
use tao::event::{Event, WindowEvent};
use tao::event_loop::{ControlFlow, EventLoopBuilder};
use tao::platform::unix::WindowExtUnix;
use tao::window::WindowBuilder;
use webkit2gtk::WebViewExt;
use wry::http::{header, Method, Request, Response, StatusCode};
use wry::{RequestAsyncResponder, WebContext, WebView, WebViewBuilder, WebViewBuilderExtUnix, WebViewExtUnix};

use crate::plan::{self, Case, Ev, LISTENERS};

const PAGE: &str = include_str!("raw_ui/bench.html");
const SCRIPT: &str = include_str!("raw_ui/raw.js");
const LISTENER_PAGE: &str = include_str!("raw_ui/listener.html");
const LISTENER_SCRIPT: &str = include_str!("raw_ui/listener.js");
const COMMON: &str = include_str!("kiosk/ui/common.js");

struct Raw {
    cases: Vec<Case>,
    events: Vec<(Instant, Ev)>,
    main: Option<WebView>,
    listeners: Vec<WebView>,
    serial: u64,
    /// Fan-out variant "k": answer every ack with a script, as Vitrine answers invokes.
    answer_acks: bool,
    download_json: &'static str,
    download_bytes: &'static [u8],
    /// `__reply("…")` with the download payload, built once so that the floor pays
    /// only for handing it to WebKit.
    download_script: String,
}

thread_local! {
    /// The custom protocol's handler must be `Send`, yet runs on this (the main)
    /// thread; it and the IPC handlers reach the state through here.
    static RAW: RefCell<Option<Raw>> = const { RefCell::new(None) };
}

fn with_raw(f: impl FnOnce(&mut Raw)) {
    RAW.with(|cell| match cell.try_borrow_mut() {
        Ok(mut guard) => match guard.as_mut() {
            Some(raw) => f(raw),
            None => eprintln!("raw child: a call arrived before the state was set up"),
        },
        // A re-entrant callback would be a bug in this file; losing a sample would
        // show up as a count mismatch, so say why here.
        Err(_) => eprintln!("raw child: re-entrant callback; call not recorded"),
    });
}

fn eval(webview: Option<&WebView>, script: &str) {
    match webview.map(|w| w.evaluate_script(script)) {
        Some(Ok(())) => {}
        Some(Err(e)) => eprintln!("raw child: evaluate_script failed: {e}"),
        None => eprintln!("raw child: no such webview"),
    }
}

/// A frame from the main page: one tag character, then the payload.
///
/// `e` echo the JSON, `s` answer its size, `d` answer the 1 MiB download, `c`/`D` the
/// same echo/download through `call_async_javascript_function`, `b` the download as
/// base64 for `Uint8Array.fromBase64`, `f`/`h`/`k` one fan-out round (plain, by
/// `call_async_javascript_function`, acks answered), `m` next case, `z` done, `x` failed.
fn on_main_message(body: &str) {
    let t = Instant::now();
    let (tag, rest) = body.split_at(body.char_indices().nth(1).map_or(body.len(), |(i, _)| i));
    with_raw(|raw| {
        let main = raw.main.as_ref();
        match tag {
            "e" => {
                raw.events.push((t, Ev::Call));
                eval(main, &format!("__reply({rest})"));
            }
            "c" => {
                raw.events.push((t, Ev::Call));
                raw.serial += 1;
                call_fn(main, REPLY_FN, &[("id", raw.serial.to_variant()), ("json", rest.to_variant())]);
            }
            "D" => {
                raw.events.push((t, Ev::Call));
                raw.serial += 1;
                call_fn(main, REPLY_FN, &[("id", raw.serial.to_variant()), ("json", raw.download_json.to_variant())]);
            }
            "b" => {
                use base64::Engine;
                raw.events.push((t, Ev::Call));
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw.download_bytes);
                eval(main, &format!("__reply(Uint8Array.fromBase64(\"{encoded}\").buffer)"));
            }
            "s" => {
                raw.events.push((t, Ev::Call));
                eval(main, &format!("__reply({})", rest.len()));
            }
            "d" => {
                raw.events.push((t, Ev::Call));
                eval(main, &raw.download_script);
            }
            "f" | "h" | "k" => {
                raw.events.push((t, Ev::Call));
                raw.serial += 1;
                raw.answer_acks = tag == "k";
                let k = rest.parse::<usize>().unwrap_or(0).min(raw.listeners.len());
                let script = if tag == "f" { "__fan(0)".to_string() } else { format!("__fan({})", raw.serial) };
                for listener in &raw.listeners[..k] {
                    if tag == "h" {
                        call_fn(Some(listener), "__fan(n)", &[("n", raw.serial.to_variant())]);
                    } else {
                        eval(Some(listener), &script);
                    }
                }
                eval(main, &format!("__reply({k})"));
            }
            "m" => {
                raw.events.push((t, Ev::Marker));
                eval(main, "__reply(null)");
            }
            "z" => plan::finish(&raw.cases, &raw.events),
            "x" => {
                eprintln!("raw child: the page failed: {rest}");
                std::process::exit(1);
            }
            other => eprintln!("raw child: unknown frame tag {other:?}"),
        }
    });
}

/// The reply body for `call_async_javascript_function`: one fixed text, so WebKit
/// compiles it once, with the call's data passed as arguments.
const REPLY_FN: &str = "__reply(JSON.parse(json), id)";

/// Runs `body` with `args` through WebKit's `call_async_javascript_function`, the
/// alternative to `evaluate_script` whose code does not change per call.
fn call_fn(webview: Option<&WebView>, body: &str, args: &[(&str, Variant)]) {
    let Some(webview) = webview else {
        eprintln!("raw child: no such webview");
        return;
    };
    let dict = VariantDict::new(None);
    for (key, value) in args {
        dict.insert_value(key, value);
    }
    let args = dict.end();
    webview.webview().call_async_javascript_function(body, Some(&args), None, None, None::<&Cancellable>, |result| {
        if let Err(e) = result {
            eprintln!("raw child: call_async_javascript_function failed: {e}");
        }
    });
}

fn on_listener_message(index: usize) {
    let t = Instant::now();
    with_raw(|raw| {
        raw.events.push((t, Ev::Ack(index)));
        // As an invoke ack is answered: one more script into the listener, right away.
        if raw.answer_acks {
            raw.serial += 1;
            eval(raw.listeners.get(index), &format!("__acked({})", raw.serial));
        }
    });
}

fn respond(responder: RequestAsyncResponder, status: StatusCode, content_type: &str, body: Cow<'static, [u8]>) {
    let response = Response::builder().status(status).header(header::CONTENT_TYPE, content_type).body(body);
    match response {
        Ok(r) => responder.respond(r),
        Err(e) => {
            eprintln!("raw child: cannot build a response: {e}");
            responder.respond(Response::new(Cow::Borrowed(&b""[..])));
        }
    }
}

/// Serves the pages (GET) and the fetch transport (POST). `plan_js` and the download
/// bodies are leaked once: they live as long as the process and are then borrowed by
/// every response without a copy.
fn on_request(
    request: Request<Vec<u8>>,
    responder: RequestAsyncResponder,
    plan_js: &'static str,
    download_json: &'static [u8],
    download_bytes: &'static [u8],
) {
    let t = Instant::now();
    let path = request.uri().path().trim_start_matches('/').to_string();
    if request.method() == Method::POST {
        let record = |ev| with_raw(|raw| raw.events.push((t, ev)));
        match path.as_str() {
            "hybrid" => {
                // Upload by fetch, answer by evaluate_script: the HTTP response is empty.
                record(Ev::Call);
                respond(responder, StatusCode::NO_CONTENT, "text/plain", Cow::Borrowed(b""));
                match std::str::from_utf8(request.body()) {
                    Ok(json) => with_raw(|raw| eval(raw.main.as_ref(), &format!("__reply({json})"))),
                    Err(e) => eprintln!("raw child: hybrid body is not UTF-8: {e}"),
                }
            }
            "echo" => {
                record(Ev::Call);
                // Typed like Vitrine's answers: a string body (fetch sends it as text) is
                // JSON here, an ArrayBuffer body is bytes.
                let text =
                    request.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/"));
                let content_type = if text { "application/json" } else { "application/octet-stream" };
                respond(responder, StatusCode::OK, content_type, Cow::Owned(request.into_body()));
            }
            "sink" => {
                record(Ev::Call);
                let size = request.body().len().to_string().into_bytes();
                respond(responder, StatusCode::OK, "application/json", Cow::Owned(size));
            }
            "download-json" => {
                record(Ev::Call);
                respond(responder, StatusCode::OK, "application/json", Cow::Borrowed(download_json));
            }
            "download-bytes" => {
                record(Ev::Call);
                respond(responder, StatusCode::OK, "application/octet-stream", Cow::Borrowed(download_bytes));
            }
            _ => respond(responder, StatusCode::NOT_FOUND, "text/plain", Cow::Borrowed(b"no such call")),
        }
        return;
    }
    let (body, content_type) = match path.as_str() {
        "bench.html" => (PAGE, "text/html; charset=utf-8"),
        "listener.html" => (LISTENER_PAGE, "text/html; charset=utf-8"),
        "raw.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "listener.js" => (LISTENER_SCRIPT, "text/javascript; charset=utf-8"),
        "common.js" => (COMMON, "text/javascript; charset=utf-8"),
        "plan.js" => (plan_js, "text/javascript; charset=utf-8"),
        _ => {
            eprintln!("raw child: no page '{path}'");
            return respond(responder, StatusCode::NOT_FOUND, "text/plain", Cow::Borrowed(b"not found"));
        }
    };
    respond(responder, StatusCode::OK, content_type, Cow::Borrowed(body.as_bytes()));
}

/// Builds the window and webviews and runs the loop; never returns.
pub fn run() -> ! {
    let cases = plan::raw_cases();
    let plan_js: &'static str = Box::leak(plan::plan_js(&cases).into_boxed_str());
    // The payload is a JSON string literal of DOWNLOAD_BYTES, like the echo payloads.
    let text = "abcdefghijklmnopqrstuvwxyz0123456789".repeat(plan::DOWNLOAD_BYTES / 36 + 1);
    let literal = format!("\"{}\"", &text[..plan::DOWNLOAD_BYTES - 2]);
    let download_script = format!("__reply({literal})");
    let download_json_text: &'static str = Box::leak(literal.into_boxed_str());
    let download_json: &'static [u8] = download_json_text.as_bytes();
    let download_bytes: &'static [u8] =
        Box::leak((0..plan::DOWNLOAD_BYTES).map(|i| (i * 31) as u8).collect::<Vec<u8>>().into_boxed_slice());

    RAW.with(|cell| {
        *cell.borrow_mut() = Some(Raw {
            cases,
            events: Vec::with_capacity(16_384),
            main: None,
            listeners: Vec::new(),
            serial: 0,
            answer_acks: false,
            download_json: download_json_text,
            download_bytes,
            download_script,
        })
    });

    let event_loop = EventLoopBuilder::<()>::with_user_event().build();
    let window = match WindowBuilder::new()
        .with_title("raw ipc bench")
        .with_decorations(false)
        .with_inner_size(LogicalSize::new(1280, 800))
        .with_position(LogicalPosition::new(0, 0))
        .build(&event_loop)
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("raw child: cannot create the window: {e}");
            std::process::exit(1);
        }
    };
    let Some(vbox) = window.default_vbox() else {
        eprintln!("raw child: the window has no GTK box");
        std::process::exit(1);
    };
    let overlay = gtk::Overlay::new();
    vbox.pack_start(&overlay, true, true, 0);
    overlay.show();

    let mut context = WebContext::new(None);
    let main = WebViewBuilder::new_with_web_context(&mut context)
        .with_id("main")
        .with_url("app://localhost/bench.html")
        .with_asynchronous_custom_protocol("app".to_string(), move |_id, request, responder| {
            on_request(request, responder, plan_js, download_json, download_bytes)
        })
        .with_ipc_handler(|request: Request<String>| on_main_message(request.body()))
        .build_gtk(&overlay);
    let main = match main {
        Ok(w) => w,
        Err(e) => {
            eprintln!("raw child: cannot create the main webview: {e}");
            std::process::exit(1);
        }
    };
    let corners = [
        (gtk::Align::Start, gtk::Align::Start),
        (gtk::Align::End, gtk::Align::Start),
        (gtk::Align::Start, gtk::Align::End),
    ];
    let mut listeners = Vec::new();
    for (index, (label, (h, v))) in LISTENERS.iter().zip(corners).enumerate() {
        let container = gtk::Box::new(gtk::Orientation::Vertical, 0);
        container.set_size_request(240, 160);
        container.set_halign(h);
        container.set_valign(v);
        overlay.add_overlay(&container);
        let built = WebViewBuilder::new_with_web_context(&mut context)
            .with_id(label)
            .with_url("app://localhost/listener.html")
            .with_transparent(true)
            .with_ipc_handler(move |_request: Request<String>| on_listener_message(index))
            .build_gtk(&container);
        match built {
            Ok(w) => listeners.push(w),
            Err(e) => {
                eprintln!("raw child: cannot create listener {label}: {e}");
                std::process::exit(1);
            }
        }
        container.show_all();
    }
    RAW.with(|cell| {
        if let Some(raw) = cell.borrow_mut().as_mut() {
            raw.main = Some(main);
            raw.listeners = listeners;
        }
    });

    // The context and window must outlive the webviews, which live in RAW until the
    // process ends; `run` never returns, so these locals are never dropped.
    let _context = context;
    let _window = window;
    event_loop.run(move |event, _, control_flow| {
        *control_flow = ControlFlow::Wait;
        if let Event::WindowEvent { event: WindowEvent::CloseRequested, .. } = event {
            eprintln!("raw child: window closed before the page finished");
            std::process::exit(1);
        }
    })
}
