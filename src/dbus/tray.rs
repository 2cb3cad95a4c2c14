//! The tray: a StatusNotifierItem (ksni, pure zbus) with the title, icon and menu of
//! `[tray]` in `vitrine.toml`.
//!
//! A menu click becomes a request to the shell: a built-in action (reload a surface,
//! show or hide an overlay) or a core event, which reaches only the surfaces that listen
//! to it and may. Kiosk compositors host no tray: with no StatusNotifierWatcher on the
//! session bus the item waits and registers when one appears. A watcher that takes its
//! name before it serves its object (status-notifier-watcher does) refuses the first
//! registration; ksni would then wait for the next watcher, so the item is served anew
//! instead, with a backoff. Nothing here blocks start-up; the item lives on the bus
//! thread.

use std::time::Duration;

use futures_channel::mpsc;
use futures_lite::StreamExt as _;
use ksni::TrayMethods as _;

use crate::config::{Tray, TrayIcon, TrayItem, UiFile};
use crate::request::{Op, ShellLink};

/// What the item shows, resolved at start-up (the icon decoded to pixels).
pub struct Spec {
    id: String,
    title: String,
    icon_name: String,
    pixmap: Vec<ksni::Icon>,
    menu: Vec<TrayItem>,
}

impl Spec {
    /// `bus_name` makes the item's id (one kiosk per name).
    pub fn new(tray: &Tray, ui: &[UiFile], bus_name: &str) -> Self {
        let (icon_name, pixmap) = match &tray.icon {
            TrayIcon::None => (String::new(), Vec::new()),
            TrayIcon::Name(name) => (name.clone(), Vec::new()),
            TrayIcon::File(path) => {
                let decoded = ui.iter().find(|f| f.path == *path).ok_or("not embedded").and_then(|f| argb32(&f.bytes));
                match decoded {
                    Ok(icon) => (String::new(), vec![icon]),
                    Err(e) => {
                        log::warn!("tray icon {path}: {e}; showing none");
                        (String::new(), Vec::new())
                    }
                }
            }
        };
        Self { id: bus_name.to_string(), title: tray.title.clone(), icon_name, pixmap, menu: tray.menu.clone() }
    }
}

/// Decodes a PNG into the ARGB32 (network byte order) pixels StatusNotifierItem wants.
fn argb32(png: &[u8]) -> Result<ksni::Icon, &'static str> {
    use gtk::gdk_pixbuf::prelude::*;
    let loader = gtk::gdk_pixbuf::PixbufLoader::with_type("png").map_err(|_| "no PNG loader")?;
    loader.write(png).map_err(|_| "not a PNG")?;
    loader.close().map_err(|_| "not a PNG")?;
    let pixbuf = loader.pixbuf().ok_or("not a PNG")?;
    let (width, height) = (pixbuf.width(), pixbuf.height());
    let (channels, stride) = (pixbuf.n_channels() as usize, pixbuf.rowstride() as usize);
    if !(3..=4).contains(&channels) {
        return Err("not an RGB image");
    }
    let bytes = pixbuf.read_pixel_bytes();
    let mut data = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height as usize {
        for x in 0..width as usize {
            let px = bytes.get(y * stride + x * channels..y * stride + x * channels + channels).ok_or("short PNG")?;
            let alpha = if channels == 4 { px[3] } else { 255 };
            data.extend_from_slice(&[alpha, px[0], px[1], px[2]]);
        }
    }
    Ok(ksni::Icon { width, height, data })
}

/// Waits between attempts to register with a watcher that refused: first, longest.
const RETRY: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(30));

/// The item as ksni serves it; holds channels (to the shell, to its own runner), nothing
/// else.
struct Item {
    spec: std::sync::Arc<Spec>,
    shell_link: ShellLink,
    retry: mpsc::UnboundedSender<()>,
}

impl Item {
    fn clicked(&self, index: usize) {
        let Some(entry) = self.spec.menu.get(index) else { return };
        log::info!("tray: '{}' clicked", entry.label);
        if !self.shell_link.post(Op::Tray(entry.action.clone())) {
            log::warn!("tray: the kiosk is not there to act on '{}'", entry.label);
        }
    }
}

impl ksni::Tray for Item {
    fn id(&self) -> String {
        self.spec.id.clone()
    }

    fn title(&self) -> String {
        self.spec.title.clone()
    }

    fn icon_name(&self) -> String {
        self.spec.icon_name.clone()
    }

    fn icon_pixmap(&self) -> Vec<ksni::Icon> {
        self.spec.pixmap.clone()
    }

    fn tool_tip(&self) -> ksni::ToolTip {
        ksni::ToolTip { title: self.spec.title.clone(), ..Default::default() }
    }

    fn menu(&self) -> Vec<ksni::MenuItem<Self>> {
        (0..self.spec.menu.len())
            .map(|i| {
                ksni::menu::StandardItem {
                    label: self.spec.menu[i].label.clone(),
                    activate: Box::new(move |item: &mut Item| item.clicked(i)),
                    ..Default::default()
                }
                .into()
            })
            .collect()
    }

    fn watcher_online(&self) {
        log::info!("tray: a StatusNotifierWatcher appeared; registering the item");
    }

    fn watcher_offline(&self, reason: ksni::OfflineReason) -> bool {
        use ksni::{Error, OfflineReason};
        match reason {
            OfflineReason::No => log::info!("tray: the StatusNotifierWatcher went away; waiting for another"),
            OfflineReason::Error(Error::Watcher(zbus::fdo::Error::ServiceUnknown(_))) => {
                log::info!("tray: no StatusNotifierWatcher yet; the item registers when one appears")
            }
            OfflineReason::Error(e) => {
                log::info!("tray: the StatusNotifierWatcher refused the item ({e}); trying again");
                let _ = self.retry.unbounded_send(());
            }
            other => log::info!("tray: the StatusNotifierWatcher is offline ({other:?}); waiting for another"),
        }
        // Keep serving: a watcher may (re)appear at any time.
        true
    }
}

/// Serves the item until the process ends; serves it anew when a watcher refused it.
pub async fn run(spec: Spec, shell_link: ShellLink) {
    let spec = std::sync::Arc::new(spec);
    let (retry, mut retries) = mpsc::unbounded();
    let mut wait = RETRY.0;
    loop {
        let item = Item { spec: spec.clone(), shell_link: shell_link.clone(), retry: retry.clone() };
        let handle = match item.assume_sni_available(true).spawn().await {
            Ok(handle) => handle,
            Err(e) => return log::warn!("tray off: {e}"),
        };
        log::info!("tray item served on the session bus");
        // The service runs on ksni's executor until it is shut down.
        if retries.next().await.is_none() {
            return;
        }
        handle.shutdown().await;
        async_io::Timer::after(wait).await;
        wait = (wait * 2).min(RETRY.1);
        // Refusals that came with the old item are answered by this new one.
        while retries.try_recv().is_ok() {}
    }
}
