//! WebDriver automation (`vitrine run --automation`): WebKitWebDriver starts the binary
//! with `--automation` and drives the session that WebKit opens on the shared context.
//!
//! Only the start-up flag turns it on; no page and no D-Bus call can. Capabilities and the
//! navigation allow-list still decide every invoke and navigation the session causes,
//! since a driven page is an ordinary page to the core.

use webkit2gtk::{ApplicationInfo, AutomationSessionExt, WebContextExt as _, WebViewExt as _};
use wry::{WebContext, WebViewExtUnix};

/// Allows a session on `context`. Before the first webview: wry hands the first one
/// built, the main surface, to the session that WebDriver opens.
pub fn allow(context: &mut WebContext) {
    context.set_allows_automation(true);
    log::warn!(
        "AUTOMATION ON (--automation): a WebDriver session may drive the kiosk and script its pages; \
         never run a device in service like this"
    );
}

/// Names the browser to WebDriver clients as `vitrine <version>` (their `browserName`
/// capability). Called after the surfaces are built, so that it runs after wry's own
/// handler, which names it after wry. `view` is any webview of the context (wry does not
/// hand out the context itself).
pub fn name_sessions(view: &wry::WebView) {
    let Some(context) = view.webview().context() else { return };
    let info = ApplicationInfo::new();
    info.set_name("vitrine");
    let part = |s: &str| s.parse::<u64>().unwrap_or(0);
    info.set_version(
        part(env!("CARGO_PKG_VERSION_MAJOR")),
        part(env!("CARGO_PKG_VERSION_MINOR")),
        part(env!("CARGO_PKG_VERSION_PATCH")),
    );
    context.connect_automation_started(move |_, session| {
        session.set_application_info(&info);
        log::warn!("a WebDriver session started");
    });
}
