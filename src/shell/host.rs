//! The surfaces as the router sees them: the [`Host`] the IPC layer works through.
//!
//! Event deliveries are batched: scripts posted during one turn of the main loop are
//! joined per surface and evaluated once, at the start of the next turn. Under a burst
//! (1000 events a second to one surface) a page then runs one script per turn instead
//! of one per event, and the core never falls behind WebKit. Replies are not batched —
//! a round trip would pay a loop turn.

use std::collections::BTreeMap;
use std::time::Instant;

use gtk::glib;
use gtk::prelude::*;

use crate::config::MQTT_PRINCIPAL;
use crate::dbus::{BusLink, Notice};
use crate::ipc::{script, ErrorCode, Host, IpcError, SurfaceInfo};
use crate::shell::surface::Surface;
use crate::shell::CURRENT;
use crate::volume::{Change, Volume};

pub struct Surfaces {
    list: Vec<Surface>,
    /// Scripts waiting for the end of this loop turn, per surface.
    queued: BTreeMap<String, Vec<String>>,
    flush_scheduled: bool,
    /// The last time a page saw input (for the idle timeout).
    pub last_activity: Instant,
    /// Requests for the on-screen keyboard, for the shell to take after this call;
    /// `None` when the kiosk has none.
    pub keyboard: Option<Vec<(String, crate::keyboard::Request)>>,
    /// The bus thread, which signals events for the MQTT bridge; `None` without D-Bus.
    link: Option<BusLink>,
    /// The kiosk's volume, on every surface.
    volume: Volume,
}

impl Surfaces {
    pub fn with_link(link: Option<BusLink>) -> Self {
        Self {
            list: Vec::new(),
            queued: BTreeMap::new(),
            flush_scheduled: false,
            last_activity: Instant::now(),
            keyboard: None,
            link,
            volume: Volume::default(),
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &Surface> {
        self.list.iter()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Surface> {
        self.list.iter_mut()
    }

    pub fn push(&mut self, mut surface: Surface) {
        crate::shell::volume::install(&mut surface, &self.volume);
        self.list.push(surface);
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Destroys every webview, which ends its web process.
    pub fn close_all(&mut self) {
        self.queued.clear();
        self.list.clear();
    }

    pub fn get(&self, label: &str) -> Option<&Surface> {
        self.list.iter().find(|s| s.config.label == label)
    }

    pub fn get_mut(&mut self, label: &str) -> Option<&mut Surface> {
        self.list.iter_mut().find(|s| s.config.label == label)
    }

    /// A surface's page is being replaced: what was queued for the old page is dropped.
    pub fn forget_queued(&mut self, label: &str) {
        self.queued.remove(label);
    }

    /// Evaluates everything queued, one script per surface.
    pub fn flush(&mut self) {
        self.flush_scheduled = false;
        for (label, frames) in std::mem::take(&mut self.queued) {
            let document = self.document(&label);
            self.eval(&label, script::events(document, &frames));
        }
    }
}

fn schedule_flush() {
    glib::idle_add_local_full(glib::Priority::DEFAULT, || {
        let shell = CURRENT.with(|c| c.borrow().upgrade());
        if let Some(shell) = shell {
            match shell.try_borrow_mut() {
                Ok(mut shell) => shell.surfaces_mut().flush(),
                // Busy further up the stack: try again next turn.
                Err(_) => schedule_flush(),
            }
        }
        glib::ControlFlow::Break
    });
}

impl Host for Surfaces {
    fn surfaces(&self) -> Vec<SurfaceInfo> {
        self.list
            .iter()
            .map(|s| SurfaceInfo {
                label: s.config.label.clone(),
                url: s.url.clone(),
                visible: s.visible,
                overlay: s.container.is_some(),
            })
            .collect()
    }

    fn set_visible(&mut self, label: &str, visible: bool) -> Result<(), IpcError> {
        let Some(s) = self.get_mut(label) else {
            return Err(IpcError::new(ErrorCode::NotFound, format!("no surface labelled '{label}'")));
        };
        if let Some(container) = &s.container {
            // Hide the box, not the webview: the web process and its scripts keep running.
            if visible {
                container.show_all();
            } else {
                container.hide();
            }
            s.visible = visible;
            log::info!(surface = label; "{}", if visible { "shown" } else { "hidden" });
        }
        Ok(())
    }

    fn eval(&mut self, label: &str, script: String) {
        let Some(s) = self.get(label) else { return };
        if let Err(e) = s.webview.evaluate_script(&script) {
            log::warn!(surface = label; "cannot deliver to page: {e}");
        }
    }

    fn post_to_principal(&mut self, principal: &str, event: &str, payload: &serde_json::Value, source: &str) {
        let Some(link) = &self.link else { return };
        if principal != MQTT_PRINCIPAL {
            return;
        }
        let notice =
            Notice::Event { event: event.to_string(), payload: payload.to_string(), source: source.to_string() };
        if link.send(notice).is_err() {
            log::warn!("event '{event}' not signalled to the MQTT bridge: the bus thread is gone");
        }
    }

    fn set_zoom(&mut self, label: &str, factor: f64) -> Result<(), IpcError> {
        let Some(s) = self.get(label) else {
            return Err(IpcError::new(ErrorCode::NotFound, format!("no surface labelled '{label}'")));
        };
        use webkit2gtk::WebViewExt as _;
        use wry::WebViewExtUnix as _;
        s.webview.webview().set_zoom_level(factor);
        log::info!(surface = label; "zoom {factor}");
        Ok(())
    }

    fn volume(&mut self, change: Change) -> Result<Volume, IpcError> {
        if change.is_empty() {
            return Ok(self.volume);
        }
        self.volume = self.volume.apply(change);
        for s in &mut self.list {
            crate::shell::volume::apply(s, &self.volume);
        }
        log::info!(reason = "volume"; "{}", self.volume.describe());
        Ok(self.volume)
    }

    fn document(&self, label: &str) -> u64 {
        self.get(label).map_or(0, |s| s.documents.number())
    }

    fn beat(&mut self, label: &str) {
        if let Some(s) = self.get_mut(label) {
            s.health.beat(Instant::now());
        }
    }

    fn activity(&mut self, _label: &str) {
        self.last_activity = Instant::now();
    }

    fn keyboard(&mut self, label: &str, request: crate::keyboard::Request) -> Result<(), IpcError> {
        let Some(queue) = &mut self.keyboard else {
            return Err(IpcError::new(
                ErrorCode::NotFound,
                "this kiosk has no on-screen keyboard ([keyboard] in vitrine.toml)",
            ));
        };
        // A page flooding reports holds a few at most: only the last one matters.
        if queue.len() >= 16 {
            queue.remove(0);
        }
        queue.push((label.to_string(), request));
        Ok(())
    }

    fn post_event(&mut self, label: &str, frame: String) {
        self.queued.entry(label.to_string()).or_default().push(frame);
        if !self.flush_scheduled {
            self.flush_scheduled = true;
            schedule_flush();
        }
    }
}
