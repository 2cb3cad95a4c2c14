//! Permission requests from pages: denied unless `[[permission]]` grants the page's
//! origin, every decision logged.
//!
//! The origin is the surface's top-level page: WebKit asks on behalf of the page shown,
//! and cross-origin frames need the page's own `allow=` (Permissions Policy) besides.
//! Granted notifications go to the core's notifications (a notification server, or the
//! toast overlay), never to WebKit's own; geolocation answers with the configured fixed
//! position, never GeoClue; the fullscreen API exists only for granted origins.

use std::rc::Rc;

use webkit2gtk::{
    GeolocationManagerExt, NotificationExt, PermissionRequestExt, SettingsExt, UserMediaPermissionRequestExt,
    WebContextExt, WebViewExt,
};

use crate::config::lockdown::origin_of;
use crate::config::{Lockdown, Permission};
use crate::dbus::notifications::Notifier;

/// What the surfaces' handlers share.
pub struct Grants {
    lockdown: Lockdown,
    notifier: Notifier,
}

impl Grants {
    pub fn new(lockdown: Lockdown, notifier: Notifier) -> Rc<Grants> {
        Rc::new(Grants { lockdown, notifier })
    }
}

/// Sets up what lives on the shared web context: which origins start with
/// `Notification.permission === "granted"` (every web process, including those started
/// after a crash, asks again), and the fixed position. Call before the first webview.
pub fn prepare_context(context: &webkit2gtk::WebContext, grants: &Rc<Grants>) {
    let allowed: Vec<webkit2gtk::SecurityOrigin> = grants
        .lockdown
        .permissions
        .iter()
        .filter(|g| g.allow.contains(&Permission::Notifications))
        .map(|g| webkit2gtk::SecurityOrigin::for_uri(&g.origin))
        .collect();
    let initialize = move |context: &webkit2gtk::WebContext| {
        let refs: Vec<&webkit2gtk::SecurityOrigin> = allowed.iter().collect();
        context.initialize_notification_permissions(&refs, &[]);
    };
    initialize(context);
    context.connect_initialize_notification_permissions(initialize);

    if let Some(manager) = context.geolocation_manager() {
        let position = grants.lockdown.geolocation;
        manager.connect_start(move |manager| {
            match position {
                Some(p) => {
                    let mut at = webkit2gtk::GeolocationPosition::new(p.latitude, p.longitude, p.accuracy);
                    manager.update_position(&mut at);
                    log::info!("geolocation: answered with the configured position");
                }
                None => manager.failed("no [geolocation] position is configured"),
            }
            // Handled here: WebKit must not ask GeoClue for the real one.
            true
        });
    }
}

/// Decides the surface `label`'s permission requests.
pub fn apply(native: &webkit2gtk::WebView, label: &str, grants: &Rc<Grants>) {
    {
        let (label, grants) = (label.to_string(), Rc::clone(grants));
        native.connect_permission_request(move |view, request| {
            let origin = view.uri().and_then(|u| origin_of(&u)).unwrap_or_else(|| "(no origin)".into());
            let (name, needs) = classify(request);
            let allowed = !needs.is_empty() && needs.iter().all(|&p| grants.lockdown.grants(&origin, p));
            if allowed {
                request.allow();
            } else {
                request.deny();
            }
            log::info!(
                surface = label.as_str(), reason = "permission";
                "permission {name} for {origin}: {}",
                if allowed { "granted by vitrine.toml" } else { "denied (not granted in vitrine.toml)" }
            );
            true
        });
    }
    {
        let (label, grants) = (label.to_string(), Rc::clone(grants));
        native.connect_show_notification(move |view, notification| {
            let origin = view.uri().and_then(|u| origin_of(&u)).unwrap_or_default();
            let title = notification.title().map(|t| t.to_string()).unwrap_or_default();
            if grants.lockdown.grants(&origin, Permission::Notifications) {
                log::info!(surface = label.as_str(); "notification from {origin}: {title}");
                let body = notification.body().map(|b| b.to_string()).unwrap_or_default();
                grants.notifier.show_from_page(&label, title, body);
            } else {
                log::info!(surface = label.as_str(), reason = "permission"; "dropped a notification from {origin}: not granted");
            }
            // Shown (or dropped) here, never by WebKit itself.
            true
        });
    }
    // Refusing `enter-fullscreen` keeps the window as it is but still tells the page it
    // went fullscreen; so the API itself is on only for pages of a granted origin
    // (elsewhere `document.fullscreenEnabled` is false and requests fail in the page).
    {
        let (label, grants) = (label.to_string(), Rc::clone(grants));
        native.connect_load_changed(move |view, event| {
            if event != webkit2gtk::LoadEvent::Committed {
                return;
            }
            let origin = view.uri().and_then(|u| origin_of(&u)).unwrap_or_default();
            let allowed = grants.lockdown.grants(&origin, Permission::Fullscreen);
            if let Some(settings) = WebViewExt::settings(view) {
                if settings.enables_fullscreen() != allowed {
                    settings.set_enable_fullscreen(allowed);
                }
            }
            log::debug!(surface = label.as_str(); "fullscreen API {} for {origin}", if allowed { "on" } else { "off" });
        });
    }
    {
        let label = label.to_string();
        native.connect_enter_fullscreen(move |view| {
            let origin = view.uri().and_then(|u| origin_of(&u)).unwrap_or_default();
            log::info!(surface = label.as_str(), reason = "permission"; "permission fullscreen for {origin}: granted by vitrine.toml");
            false
        });
    }
}

/// A request's name for the log, and the grants it needs (none: never granted).
fn classify(request: &webkit2gtk::PermissionRequest) -> (&'static str, Vec<Permission>) {
    use gtk::glib::prelude::*;
    if request.is::<webkit2gtk::NotificationPermissionRequest>() {
        return ("notifications", vec![Permission::Notifications]);
    }
    if request.is::<webkit2gtk::GeolocationPermissionRequest>() {
        return ("geolocation", vec![Permission::Geolocation]);
    }
    if let Some(media) = request.downcast_ref::<webkit2gtk::UserMediaPermissionRequest>() {
        let (audio, video) = (media.is_for_audio_device(), media.is_for_video_device());
        return match (audio, video) {
            (true, true) => ("camera and microphone", vec![Permission::Camera, Permission::Microphone]),
            (true, false) => ("microphone", vec![Permission::Microphone]),
            (false, true) => ("camera", vec![Permission::Camera]),
            (false, false) => ("screen capture", Vec::new()),
        };
    }
    // Types newer than these bindings are told apart by their GType names.
    match request.type_().name() {
        "WebKitClipboardPermissionRequest" => ("clipboard", vec![Permission::Clipboard]),
        // Listing devices goes with using them.
        "WebKitDeviceInfoPermissionRequest" => ("media devices", vec![Permission::Camera]),
        "WebKitPointerLockPermissionRequest" => ("pointer lock", Vec::new()),
        "WebKitWebsiteDataAccessPermissionRequest" => ("third-party storage", Vec::new()),
        "WebKitMediaKeySystemPermissionRequest" => ("encrypted media", Vec::new()),
        _ => ("unknown", Vec::new()),
    }
}
