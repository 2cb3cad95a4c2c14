//! The built-in toast overlay: shows notifications when no notification server runs.
//!
//! The toast is a core-owned surface (`app://localhost/__vitrine/toast.html`, its page
//! in this folder), built at start-up only when some surface may send notifications; it
//! has no capabilities, and its two messages (`toast.layout`, `toast.action`) are
//! handled here before the router sees them.

use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use gtk::prelude::*;
use serde_json::Value;

use crate::config::{Anchor, InputMode, Length, Manifest, Page, SurfaceConfig};
use crate::dbus::notifications::ACTION_EVENT;
use crate::ipc::protocol::{decode, Inbound};
use crate::ipc::{script, Authority, Host as _, Payload};
use crate::request::Toast;
use crate::shell::surface::{self, BuildCtx};
use crate::shell::{SharedShell, Shell, ShellError};

/// The toast overlay's label: not a valid configured label, so it can never clash.
pub const TOAST_LABEL: &str = "vitrine.toast";
const TOAST_PAGE: &str = "__vitrine/toast.html";
const TOAST_WIDTH: u32 = 420;
/// Toasts remembered for their action clicks.
const MAX_REMEMBERED: usize = 64;
/// Toasts waiting for the toast page (loading, or reloading after a crash); the page
/// shows four at most, so older ones would only scroll by unseen.
const MAX_WAITING: usize = 16;

/// The built-in toast overlay.
pub(super) struct ToastBox {
    width: i32,
    /// Its page has loaded and said so; until then toasts wait.
    ready: bool,
    crashes_seen: u64,
    pending: VecDeque<Toast>,
    /// Waiting toasts dropped (oldest first) since the page was last ready.
    dropped: u64,
    /// Shown toasts by id, for their action clicks (oldest dropped first).
    shown: BTreeMap<u32, Toast>,
}

/// Whether any surface may send notifications, so that the toast may be needed.
pub(super) fn wants_toast(authority: &Authority, manifest: &Manifest) -> bool {
    let local = "app://localhost/";
    manifest.surfaces().any(|s| authority.check(&s.label, local, "notification.send", None).is_ok())
        || manifest.lockdown.any_grant(crate::config::Permission::Notifications)
}

/// Builds the toast overlay (hidden), above every configured surface.
pub(super) fn build_toast(shell: &Rc<SharedShell>, ctx: &mut BuildCtx<'_>) -> Result<(), ShellError> {
    let cfg = SurfaceConfig {
        label: TOAST_LABEL.to_string(),
        page: Page::Local(TOAST_PAGE.to_string()),
        anchor: Anchor::TopRight,
        width: Length::Px(TOAST_WIDTH),
        height: Length::Px(1),
        margin: 12,
        transparent: true,
        visible: false,
        input: InputMode::Normal,
        lockdown: crate::config::SurfaceLockdown::default(),
    };
    let before = crate::service::procs::web_processes();
    let mut s =
        surface::build(&cfg, ctx).map_err(|source| ShellError::Surface { label: TOAST_LABEL.to_string(), source })?;
    let started: Vec<u32> = crate::service::procs::web_processes().difference(&before).copied().collect();
    if let [pid] = started[..] {
        s.pid = Some(pid);
    }
    if let Some(container) = &s.container {
        container.hide();
    }
    let width = i32::try_from(cfg.width.resolve(ctx.screen.width)).unwrap_or(TOAST_WIDTH as i32);
    log::info!(surface = TOAST_LABEL; "toast overlay created for notifications without a server");
    let mut shell = shell.borrow_mut();
    shell.toast = Some(ToastBox {
        width,
        ready: false,
        crashes_seen: 0,
        pending: VecDeque::new(),
        dropped: 0,
        shown: BTreeMap::new(),
    });
    shell.surfaces.push(s);
    Ok(())
}

impl Shell {
    /// A toast page that lost its web process is not ready until its new page says so.
    pub(super) fn check_toast_page(&mut self) {
        let Some(toast) = &mut self.toast else { return };
        let crashes = self.surfaces.get(TOAST_LABEL).map_or(0, |s| s.health.crashes);
        if crashes != toast.crashes_seen {
            toast.crashes_seen = crashes;
            toast.ready = false;
        }
    }

    pub(super) fn show_toast(&mut self, toast: Toast) {
        let Some(tb) = &mut self.toast else {
            log::warn!(surface = toast.sender.as_str(); "no toast overlay for notification '{}'", toast.title);
            return;
        };
        log::info!(surface = toast.sender.as_str(); "notification {} shown as a toast: {}", toast.id, toast.title);
        if tb.shown.len() >= MAX_REMEMBERED {
            tb.shown.pop_first();
        }
        tb.shown.insert(toast.id, toast.clone());
        if tb.ready {
            self.surfaces.eval(TOAST_LABEL, toast_script(&toast));
        } else if let Some(old) = push_bounded(&mut tb.pending, toast, MAX_WAITING) {
            tb.dropped += 1;
            // One line for the first; the rest are counted when the page is back.
            if tb.dropped == 1 {
                log::warn!(
                    surface = old.sender.as_str();
                    "toast queue full ({MAX_WAITING} waiting for the toast page): dropped the oldest, '{}'",
                    old.title
                );
            }
        }
    }

    /// Handles the toast page's own messages; false for everything else (pings,
    /// console), which the router handles as for any surface.
    pub(crate) fn on_toast_message(&mut self, label: &str, body: &str) -> bool {
        if label != TOAST_LABEL {
            return false;
        }
        if self.toast.is_none() {
            return false;
        }
        // The token of the toast page's current document, as for any surface.
        let token = self.surfaces.get(TOAST_LABEL).and_then(|s| s.documents.accepted_token());
        let Some(raw) = token.and_then(|t| body.strip_prefix(t)) else { return false };
        let Ok(Inbound::Invoke { id, cmd, args, .. }) = decode(raw, self.router.limits()) else { return false };
        match cmd.as_str() {
            "toast.layout" => self.toast_layout(&args),
            "toast.action" => self.toast_action(&args),
            _ => return false,
        }
        let document = self.surfaces.document(TOAST_LABEL);
        self.surfaces.eval(TOAST_LABEL, script::reply(document, id, &Ok(Payload::Json(Value::Null))));
        true
    }

    /// The toast page's content changed height: fit the overlay to it (hidden at 0), so
    /// it covers nothing but its toasts.
    fn toast_layout(&mut self, args: &Value) {
        let height = args["height"].as_u64().unwrap_or(0).min(4096) as i32;
        let Some(tb) = &mut self.toast else { return };
        let pending = if tb.ready { VecDeque::new() } else { std::mem::take(&mut tb.pending) };
        if !tb.ready && tb.dropped > 0 {
            log::warn!("{} toasts were dropped while the toast page was not ready", tb.dropped);
            tb.dropped = 0;
        }
        tb.ready = true;
        let width = tb.width;
        if let Some(s) = self.surfaces.get_mut(TOAST_LABEL) {
            if let Some(container) = &s.container {
                if height > 0 {
                    container.set_size_request(width, height);
                    container.show_all();
                } else {
                    container.hide();
                }
            }
            s.visible = height > 0;
        }
        for toast in pending {
            self.surfaces.eval(TOAST_LABEL, toast_script(&toast));
        }
    }

    fn toast_action(&mut self, args: &Value) {
        let (Some(id), Some(action)) = (args["id"].as_u64(), args["action"].as_str()) else { return };
        let Some(tb) = &mut self.toast else { return };
        let Some(toast) = u32::try_from(id).ok().and_then(|id| tb.shown.get(&id)) else { return };
        if !toast.actions.iter().any(|a| a.id == action) {
            return;
        }
        let sender = toast.sender.clone();
        log::info!(surface = sender.as_str(); "toast {id}: action '{action}'");
        let payload = serde_json::json!({ "id": id, "action": action });
        self.router.emit_from_core(&mut self.surfaces, ACTION_EVENT, &payload, Some(&[sender]));
    }
}

/// Appends `item`; past `max` items the oldest is dropped and returned.
fn push_bounded<T>(queue: &mut VecDeque<T>, item: T, max: usize) -> Option<T> {
    queue.push_back(item);
    (queue.len() > max).then(|| queue.pop_front()).flatten()
}

fn toast_script(t: &Toast) -> String {
    let view = serde_json::json!({
        "id": t.id, "title": t.title, "body": t.body, "icon": t.icon,
        "urgency": t.urgency, "timeout": t.timeout_ms, "actions": t.actions,
    });
    format!("window.vitrineToast&&window.vitrineToast.show({view})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiting_queue_drops_the_oldest_past_its_bound() {
        let mut q = VecDeque::new();
        let dropped: Vec<u32> = (0..20).filter_map(|i| push_bounded(&mut q, i, MAX_WAITING)).collect();
        assert_eq!(dropped, [0, 1, 2, 3]);
        assert_eq!(q.len(), MAX_WAITING);
        assert_eq!((q.front(), q.back()), (Some(&4), Some(&19)));
    }
}
