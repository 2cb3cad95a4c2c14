//! `notification.send`: desktop notifications, with the built-in toast as fallback.
//!
//! ```js
//! const { id, shown } = await vitrine.invoke("notification.send", {
//!   title: "Door open", body: "Back entrance", icon: "dialog-warning",
//!   urgency: "critical",            // low | normal (default) | critical
//!   timeout: 5000,                  // ms; -1 (default): the server's choice; 0: until dismissed
//!   actions: [{ id: "default", label: "Show" }, { id: "ack", label: "Acknowledge" }],
//! });                                // shown: "server" or "toast"
//! await vitrine.listen("notification-action", (e) => e.payload); // {id, action}
//! ```
//!
//! Guarded by `notification:allow-send`. The notification goes to
//! `org.freedesktop.Notifications` on the session bus through notify-rust; when nothing
//! answers there (the normal case under cage), or D-Bus is off, the core shows it in its
//! own toast overlay (`app://localhost/__vitrine/toast.html`), which needs nothing from
//! the app. Either way a click on an action comes back to the sending surface as the
//! core event `notification-action` — delivered, like every event, only if that surface
//! listens to it and may (`event:allow-listen`).

use std::cell::Cell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures_lite::FutureExt as _;
use serde::{Deserialize, Serialize};

use crate::dbus::{BusLink, Notice};
use crate::ipc::{ErrorCode, IpcError, ReplyTo, Router};
use crate::request::{NoteAction, Op, ShellLink, Toast, Urgency};

/// The core event an action click becomes.
pub const ACTION_EVENT: &str = "notification-action";

const MAX_TITLE: usize = 1024;
const MAX_BODY: usize = 16 * 1024;
const MAX_ACTIONS: usize = 8;
/// Notifications whose action clicks are awaited at once. notify-rust keeps one
/// connection (and zbus one thread) per awaited notification, so the number is capped;
/// past it, new notifications still show, without actions coming back.
const MAX_WATCHED: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    icon: String,
    #[serde(default)]
    urgency: Urgency,
    #[serde(default = "server_default")]
    timeout: i32,
    #[serde(default)]
    actions: Vec<NoteAction>,
}

fn server_default() -> i32 {
    -1
}

#[derive(Serialize)]
struct Sent {
    id: u32,
    /// "server" or "toast".
    shown: &'static str,
}

impl SendArgs {
    fn into_toast(self, sender: &str, id: u32) -> Result<Toast, IpcError> {
        let bad = |m: String| IpcError::new(ErrorCode::BadArgs, format!("notification.send: {m}"));
        if self.title.trim().is_empty() || self.title.len() > MAX_TITLE {
            return Err(bad(format!("title must be 1-{MAX_TITLE} bytes")));
        }
        if self.body.len() > MAX_BODY {
            return Err(bad(format!("body must be at most {MAX_BODY} bytes")));
        }
        if self.timeout < -1 {
            return Err(bad("timeout must be -1 (default), 0 (never) or milliseconds".into()));
        }
        if self.actions.len() > MAX_ACTIONS {
            return Err(bad(format!("at most {MAX_ACTIONS} actions")));
        }
        for a in &self.actions {
            let id_ok = !a.id.is_empty()
                && a.id.len() <= 64
                && a.id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !id_ok || a.label.trim().is_empty() {
                return Err(bad("each action needs an id (1-64 of a-z, 0-9, '-', '_', '.') and a label".into()));
            }
        }
        Ok(Toast {
            id,
            sender: sender.to_string(),
            title: self.title,
            body: self.body,
            icon: self.icon,
            urgency: self.urgency,
            timeout_ms: self.timeout,
            actions: self.actions,
        })
    }
}

/// A notification on its way to the bus thread.
pub struct Job {
    toast: Toast,
    /// The calling page's answer; `None` for a page's own `new Notification(…)`.
    reply: Option<ReplyTo>,
}

/// The command's side: to the bus thread when there is one, else straight to the toast.
#[derive(Clone)]
pub struct Notifier {
    link: Option<BusLink>,
    shell_link: ShellLink,
    next_id: Arc<AtomicU32>,
}

impl Notifier {
    pub fn new(link: Option<BusLink>, shell_link: ShellLink) -> Self {
        Self { link, shell_link, next_id: Arc::new(AtomicU32::new(1)) }
    }

    /// Shows a notification a page made with the web API (`new Notification(…)`), for
    /// an origin `[[permission]]` grants it; nobody waits for an answer.
    pub fn show_from_page(&self, sender: &str, title: String, body: String) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let toast = Toast {
            id,
            sender: sender.to_string(),
            title,
            body,
            icon: String::new(),
            urgency: Urgency::Normal,
            timeout_ms: -1,
            actions: Vec::new(),
        };
        self.send(toast, None);
    }

    fn send(&self, toast: Toast, reply: Option<ReplyTo>) {
        let job = Box::new(Job { toast, reply });
        let job = match &self.link {
            Some(link) => match link.send(Notice::Notify(job)) {
                Ok(()) => return,
                Err(Notice::Notify(job)) => job,
                Err(_) => return,
            },
            None => job,
        };
        show_toast(&self.shell_link, *job);
    }
}

/// Registers `notification.send`.
pub fn register(router: &mut Router, notifier: Notifier) {
    router.register_deferred("notification.send", move |ctx, args: SendArgs, reply| {
        let id = notifier.next_id.fetch_add(1, Ordering::Relaxed);
        let toast = args.into_toast(ctx.caller.label, id)?;
        notifier.send(toast, Some(reply));
        Ok(())
    });
}

/// Hands the notification to the shell's toast and answers the page.
fn show_toast(shell_link: &ShellLink, job: Job) {
    let id = job.toast.id;
    let posted = shell_link.post(Op::Toast(job.toast));
    match job.reply {
        Some(r) if posted => r.send_json(Ok(Sent { id, shown: "toast" })),
        Some(r) => r.send(Err(IpcError::new(ErrorCode::Internal, "the kiosk is stopping"))),
        None => {}
    }
}

/// The bus thread's side: talks to the notification server.
pub struct Sender {
    app_name: String,
    shell_link: ShellLink,
    watched: Rc<Cell<usize>>,
}

impl Sender {
    pub fn new(app_name: &str, shell_link: ShellLink) -> Self {
        Self { app_name: app_name.to_string(), shell_link, watched: Rc::new(Cell::new(0)) }
    }

    /// Shows `job` through the server, or as a toast when that fails; then waits for an
    /// action click if it has actions.
    pub fn show(&self, job: Box<Job>) -> impl std::future::Future<Output = ()> + 'static {
        let (app_name, shell_link, watched) =
            (self.app_name.clone(), self.shell_link.clone(), Rc::clone(&self.watched));
        async move {
            let job = *job;
            let note = notification(&app_name, &job.toast);
            // notify-rust unwraps in places; a panic there must not end the bus thread.
            let shown = AssertUnwindSafe(note.show_async()).catch_unwind().await;
            let handle = match shown {
                Ok(Ok(handle)) => handle,
                Ok(Err(e)) => {
                    log::info!(surface = job.toast.sender.as_str(); "no notification server ({e}); showing a toast");
                    return show_toast(&shell_link, job);
                }
                Err(_) => {
                    log::error!(surface = job.toast.sender.as_str(); "the notification library panicked; showing a toast");
                    return show_toast(&shell_link, job);
                }
            };
            let Job { toast, reply } = job;
            let id = handle.id();
            log::info!(surface = toast.sender.as_str(); "notification {id} shown by the server: {}", toast.title);
            if let Some(reply) = reply {
                reply.send_json(Ok(Sent { id, shown: "server" }));
            }
            if toast.actions.is_empty() {
                return;
            }
            if watched.get() >= MAX_WATCHED {
                log::warn!("{MAX_WATCHED} notifications await clicks already; actions of {id} will not come back");
                return;
            }
            watched.set(watched.get() + 1);
            let mut clicked = None;
            let wait = handle.wait_for_action_async(|response| {
                clicked = match response {
                    notify_rust::NotificationResponse::Default => Some("default".to_string()),
                    notify_rust::NotificationResponse::Action(action) => Some(action.clone()),
                    _ => None,
                };
            });
            let waited = AssertUnwindSafe(wait).catch_unwind().await;
            watched.set(watched.get().saturating_sub(1));
            if waited.is_err() {
                log::error!("the notification library panicked while waiting for a click on {id}");
            }
            if let Some(action) = clicked {
                log::info!(surface = toast.sender.as_str(); "notification {id}: action '{action}'");
                let payload = serde_json::json!({ "id": id, "action": action });
                shell_link.post(Op::Deliver { label: toast.sender, event: ACTION_EVENT.to_string(), payload });
            }
        }
    }
}

fn notification(app_name: &str, t: &Toast) -> notify_rust::Notification {
    let mut n = notify_rust::Notification::new();
    n.appname(app_name).summary(&t.title).body(&t.body).timeout(t.timeout_ms);
    if !t.icon.is_empty() {
        n.icon(&t.icon);
    }
    n.urgency(match t.urgency {
        Urgency::Low => notify_rust::Urgency::Low,
        Urgency::Normal => notify_rust::Urgency::Normal,
        Urgency::Critical => notify_rust::Urgency::Critical,
    });
    for a in &t.actions {
        n.action(&a.id, &a.label);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(json: serde_json::Value) -> Result<Toast, IpcError> {
        let args: SendArgs =
            serde_json::from_value(json).map_err(|e| IpcError::new(ErrorCode::BadArgs, e.to_string()))?;
        args.into_toast("main", 7)
    }

    #[test]
    fn arguments_are_checked() {
        let t = args(serde_json::json!({"title": "Hi", "actions": [{"id": "ok", "label": "OK"}]})).expect("valid");
        assert_eq!((t.id, t.sender.as_str(), t.timeout_ms, t.urgency), (7, "main", -1, Urgency::Normal));
        for bad in [
            serde_json::json!({"title": ""}),
            serde_json::json!({"title": "x", "timeout": -5}),
            serde_json::json!({"title": "x", "urgency": "panic"}),
            serde_json::json!({"title": "x", "actions": [{"id": "has space", "label": "L"}]}),
            serde_json::json!({"title": "x", "color": "red"}),
        ] {
            assert!(args(bad.clone()).is_err(), "{bad}");
        }
    }
}
