//! The kiosk's volume (`crate::volume`) on the surfaces: WebKit's page mute, and the
//! script that sets every media element's `volume` and `muted` (`volume.js`), installed
//! in every frame of every surface and told of each change.

use webkit2gtk::{UserContentManagerExt, WebViewExt};
use wry::WebViewExtUnix;

use crate::shell::surface::Surface;
use crate::volume::Volume;

/// The script for documents loaded from now on, with the current state.
fn script(volume: &Volume) -> webkit2gtk::UserScript {
    let source = include_str!("volume.js").replace("__VITRINE_VOLUME__", &volume.for_pages());
    webkit2gtk::UserScript::new(
        &source,
        webkit2gtk::UserContentInjectedFrames::AllFrames,
        webkit2gtk::UserScriptInjectionTime::Start,
        &[],
        &[],
    )
}

/// Gives a new surface the volume: its script and WebKit's mute.
pub fn install(surface: &mut Surface, volume: &Volume) {
    let native = surface.webview.webview();
    if let Some(manager) = native.user_content_manager() {
        let s = script(volume);
        manager.add_script(&s);
        surface.volume_script = Some(s);
    }
    native.set_is_muted(volume.muted);
}

/// Applies a new volume to a surface: future documents get it from the script, the
/// shown page through the `vitrine-volume` event.
pub fn apply(surface: &mut Surface, volume: &Volume) {
    let native = surface.webview.webview();
    if let Some(manager) = native.user_content_manager() {
        if let Some(old) = surface.volume_script.take() {
            manager.remove_script(&old);
        }
        let s = script(volume);
        manager.add_script(&s);
        surface.volume_script = Some(s);
    }
    native.set_is_muted(volume.muted);
    let event = format!("window.dispatchEvent(new CustomEvent('vitrine-volume', {{detail: {}}}))", volume.for_pages());
    if let Err(e) = surface.webview.evaluate_script(&event) {
        log::warn!(surface = surface.config.label.as_str(); "cannot tell the page the volume: {e}");
    }
}
