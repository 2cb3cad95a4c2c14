//! Running the kiosk: configuration, bus, store and shell, in that order.

use std::path::{Path, PathBuf};

use crate::config::{Bundle, ConfigErrors, Page};
use crate::{check, dbus, embedded_bundle, os, request, shell, store};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid configuration:\n{0}")]
    Config(#[from] ConfigErrors),
    #[error("the embedded configuration is unreadable: {0}")]
    Embedded(#[from] crate::EmbeddedError),
    #[error("start page (--url or VITRINE_URL): {0}")]
    StartUrl(String),
    #[error(transparent)]
    Shell(#[from] shell::ShellError),
    #[error(transparent)]
    Bus(#[from] dbus::StartError),
    #[error("vitrine is already running, and it could not be asked to open the page: {0}")]
    Forward(#[from] dbus::client::ClientError),
}

/// How to run the kiosk.
#[derive(Default)]
pub struct RunOptions {
    /// Load this folder instead of the embedded configuration (development and tests).
    pub config_dir: Option<PathBuf>,
    /// Sees every IPC call as it arrives (benchmarks; `diagnostics` feature).
    #[cfg(feature = "diagnostics")]
    pub observer: Option<crate::ipc::router::CallObserver>,
    /// Where the store lives, when neither `STATE_DIRECTORY` nor `XDG_STATE_HOME` should
    /// decide (see [`store::state_dir`]).
    pub state_dir: Option<PathBuf>,
    /// Where the surfaces' HTTP cache lives, when neither `CACHE_DIRECTORY` nor
    /// `XDG_CACHE_HOME` should decide (see [`shell::webdata::cache_dir`]).
    pub cache_dir: Option<PathBuf>,
    /// The main surface's page (as `VITRINE_URL`, which it overrides). When Vitrine is
    /// already running, the running kiosk is asked to open it instead.
    pub url: Option<String>,
    /// `--inspect`: where WebKit's remote inspector listens; `None`: it does not.
    pub inspect: Option<std::net::SocketAddr>,
    /// Allow a WebDriver session (`--automation`): the main surface is what it drives.
    pub automation: bool,
}

/// Runs the kiosk. Returns only on a start-up error; a normal stop exits the process.
pub fn run(options: RunOptions) -> Result<(), Error> {
    let mut bundle = match &options.config_dir {
        Some(dir) => check(dir)?,
        None => embedded_bundle()?,
    };
    if let Some(url) = options.url.clone().or_else(|| std::env::var("VITRINE_URL").ok()) {
        apply_start_url(&mut bundle, &url)?;
    }
    if let Some(bus) = crate::config::BusKind::from_env() {
        bundle.manifest.dbus.bus = bus;
    }
    if options.automation {
        crate::service::parent::end_with_parent();
    }
    // Before threads start allocating in earnest.
    crate::service::alloc::tune(bundle.manifest.memory.core_heap_keep_mb);
    // GStreamer's registry, while the window and the bus come up (see os::gstreamer).
    let media_ready = os::gstreamer::warm_in_background();
    // Before the bus and store threads start.
    shell::prepare_rendering(&bundle.manifest.kiosk, &bundle.manifest.memory);
    shell::prepare_sandbox(bundle.manifest.kiosk.sandbox);
    shell::inspector::prepare(options.inspect, options.automation);
    // Before the store and the window: a second kiosk must touch neither.
    let shell_link = request::ShellLink::default();
    let update_dir = store::state_dir(options.state_dir.as_deref()).map(|d| d.join("update"));
    let name_wait = if options.automation { dbus::NAME_WAIT_AUTOMATION } else { std::time::Duration::ZERO };
    let bus = match dbus::start(&bundle.manifest, &bundle.ui, shell_link.clone(), update_dir, name_wait) {
        Err(dbus::StartError::AlreadyRunning { pid, .. }) if options.url.is_some() => {
            let url = bundle.manifest.main.page.url();
            dbus::client::forward_navigate(&bundle.manifest.dbus, &bundle.manifest.main.label, &url)?;
            let by = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            log::info!("vitrine is already running{by}; asked it to open {url}");
            return Ok(());
        }
        other => other?,
    };
    log::info!(
        "vitrine {} starting '{}' with {} surfaces",
        env!("CARGO_PKG_VERSION"),
        bundle.manifest.name,
        bundle.manifest.surfaces().count()
    );
    let store = open_store(options.state_dir.as_deref());
    let state_dir = store::state_dir(options.state_dir.as_deref());
    let roots = os::default_roots(state_dir.as_deref());
    let web_dirs = web_dirs(state_dir.as_deref(), options.cache_dir.as_deref());
    let start = shell::Start {
        #[cfg(feature = "diagnostics")]
        observer: options.observer,
        roots,
        web_dirs,
        automation: options.automation,
        media_ready,
    };
    shell::run(bundle, store, shell_link, bus, start)?;
    Ok(())
}

/// Starts the store, which opens its file on its own thread so that a slow disk or a
/// large file's check never delays the window. If it cannot open, the kiosk runs
/// without it (its commands then answer `internal`), since a kiosk that cannot start
/// is worse than one that forgets.
fn open_store(explicit: Option<&Path>) -> Result<store::Store, String> {
    let dir = store::state_dir(explicit).ok_or("no state directory: set STATE_DIRECTORY or --state-dir")?;
    let shown = dir.display().to_string();
    let opened = move |outcome: Result<&store::OpenReport, &store::StoreError>| match outcome {
        Ok(report) => {
            match (&report.recovered_from, &report.restored_from) {
                (Some(aside), Some(copy)) => log::error!(
                    "the store, from a newer Vitrine, was set aside to {}; using its copy from before that upgrade ({})",
                    aside.display(),
                    copy.display()
                ),
                (Some(aside), None) => {
                    log::error!("the store was unreadable and was moved aside to {}; starting empty", aside.display())
                }
                _ => {}
            }
            log::info!("store at {shown}/{}", store::FILE_NAME);
        }
        Err(e) => log::error!("cannot open the store in {shown}: {e}; running without it"),
    };
    store::Store::start(store::StoreConfig::in_dir(&dir), opened).map_err(|e| {
        log::error!("cannot start the store in {}: {e}; running without it", dir.display());
        e.to_string()
    })
}

/// The web data under the state directory, its HTTP cache under the cache directory
/// (the state directory's `cache/` when no cache directory is known).
fn web_dirs(state: Option<&Path>, cache: Option<&Path>) -> Option<shell::webdata::Dirs> {
    let state = state?;
    let cache = shell::webdata::cache_dir(cache).unwrap_or_else(|| state.join("cache"));
    Some(shell::webdata::Dirs::new(state, &cache))
}

/// A device's own start page (as an `EnvironmentFile=` sets it) replaces the main page.
fn apply_start_url(bundle: &mut Bundle, url: &str) -> Result<(), Error> {
    let page = if url.starts_with("https://") || url.starts_with("http://") {
        url::Url::parse(url).map_err(|e| Error::StartUrl(format!("'{url}' is not a valid URL: {e}")))?;
        Page::Remote(url.to_string())
    } else {
        let path = url.trim_start_matches('/');
        let file = path.split(['?', '#']).next().unwrap_or_default();
        if bundle.ui_file(file).is_none() {
            return Err(Error::StartUrl(format!("'{file}' is neither an http(s) URL nor a file in ui/")));
        }
        Page::Local(path.to_string())
    };
    log::info!("start page from VITRINE_URL: {}", page.url());
    bundle.manifest.main.page = page;
    Ok(())
}
