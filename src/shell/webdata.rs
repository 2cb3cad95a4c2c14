//! The surfaces' web data and network: the shared WebKit context's data manager.
//!
//! wry's `WebContext::new(Some(dir))` gives WebKit one base directory for data and
//! cache and keeps cookies in a text file; `None` leaves WebKit's defaults under `$HOME`
//! and keeps cookies in memory only, so a login cookie is gone after a restart. Here:
//!
//! * site data (localStorage, IndexedDB, service workers, the DOM cache) lives in
//!   `<state>/web/`, cookies in `<state>/web/cookies.sqlite` (WebKit's SQLite storage);
//! * the HTTP cache lives in `<cache>/web/WebKitCache`. The base directories are
//!   construct-only in WebKit and wry sets both to the one directory it is given, so
//!   `<state>/web/WebKitCache` is a link to the cache directory's, made before WebKit
//!   starts;
//! * the cookie policy, the proxy and the TLS policy come from `[web]` and `[network]`.
//!   wry 0.57 does not hand out the context it wraps, so they are applied through the
//!   first surface's webview ([`Setup`]), which is built without a URL and loaded only
//!   afterwards: no request leaves before they are in place.
//!
//! TLS. WebKit's network process verifies against the system's CAs (GnuTLS through
//! glib-networking) and no API hands it another database: a `GTlsDatabase` made in the
//! core would live in the wrong process, and `G_TLS_GNUTLS_PRIORITY` only sets cipher
//! priorities. So the core judges what WebKit refuses. With the `fail` policy a
//! certificate it rejects raises `load-failed-with-tls-errors` in the core, with the
//! server's chain. The core then decides: a certificate pinned for that origin (SHA-256
//! of its DER), or a chain that a configured CA file verifies for that host, is allowed
//! for the host (`webkit_web_context_allow_tls_certificate_for_host`) and the page is
//! loaded again; anything else shows the built-in certificate page, naming the origin and
//! the problem, and is retried like the offline page. Nothing is ever bypassed silently.

use std::cell::{OnceCell, RefCell};
use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::{Rc, Weak};

use gtk::gio;
use gtk::gio::prelude::*;
use gtk::glib;
use tao::event_loop::EventLoopProxy;
use webkit2gtk::{
    CookieAcceptPolicy, CookieManagerExt, CookiePersistentStorage, NetworkProxyMode, NetworkProxySettings,
    TLSErrorsPolicy, WebContextExt as _, WebViewExt, WebsiteDataManager, WebsiteDataManagerExt, WebsiteDataTypes,
};
use wry::WebContext;

use crate::config::network::{normalize_sha256, CookiePolicy, Network, Proxy};
use crate::config::Manifest;
use crate::shell::{dispatch, CoreEvent, SharedShell};

/// Where a load failure's reason says the certificate was refused; the certificate
/// page is shown for such failures instead of the offline page.
pub const CERTIFICATE_REASON: &str = "certificate: ";

/// The folder under the state and cache directories.
const WEB: &str = "web";
/// WebKit's HTTP cache folder inside its base cache directory.
const HTTP_CACHE: &str = "WebKitCache";
const COOKIES: &str = "cookies.sqlite";

/// Where the web data goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    /// Site data and cookies: `<state>/web`.
    pub data: PathBuf,
    /// The HTTP cache: `<cache>/web`.
    pub cache: PathBuf,
}

impl Dirs {
    pub fn new(state: &Path, cache: &Path) -> Self {
        Self { data: state.join(WEB), cache: cache.join(WEB) }
    }

    pub fn cookies(&self) -> PathBuf {
        self.data.join(COOKIES)
    }
}

/// The cache directory: `--cache-dir`; `$CACHE_DIRECTORY` (the unit's
/// `CacheDirectory=`, the first of a colon-separated list); `$XDG_CACHE_HOME/vitrine`;
/// `$HOME/.cache/vitrine`. Empty and relative values are ignored, as for the state
/// directory.
pub fn cache_dir(explicit: Option<&Path>) -> Option<PathBuf> {
    resolve_cache_dir(explicit, |name| std::env::var_os(name))
}

/// [`cache_dir`] over any environment.
pub fn resolve_cache_dir(explicit: Option<&Path>, env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return Some(dir.to_path_buf());
    }
    let absolute = |p: PathBuf| Some(p).filter(|p| p.is_absolute());
    if let Some(list) = env("CACHE_DIRECTORY") {
        let first = list.to_string_lossy().split(':').find(|p| !p.is_empty()).map(PathBuf::from);
        if let Some(first) = first.and_then(absolute) {
            return Some(first);
        }
    }
    if let Some(home) = env("XDG_CACHE_HOME").map(PathBuf::from).and_then(absolute) {
        return Some(home.join("vitrine"));
    }
    env("HOME").map(PathBuf::from).and_then(absolute).map(|h| h.join(".cache/vitrine"))
}

/// What WebKit keeps in its default data folder (`$XDG_DATA_HOME/<program>`), where
/// Vitrine's site data lived before it had its own: moved on the first start with
/// `<state>/web`, so an upgrade keeps the pages' localStorage and IndexedDB.
const WEBKIT_DATA: &[&str] = &[
    "localstorage",
    "databases",
    "storage",
    "serviceworkers",
    "mediakeys",
    "deviceidhashsalts",
    "itp",
    "hsts-storage.sqlite",
];

/// WebKit's default data folder for this program, as it was used before `<state>/web`.
fn old_data_dir(env: impl Fn(&str) -> Option<OsString>) -> Option<PathBuf> {
    let absolute = |p: PathBuf| Some(p).filter(|p| p.is_absolute());
    let base = env("XDG_DATA_HOME")
        .map(PathBuf::from)
        .and_then(absolute)
        .or_else(|| env("HOME").map(PathBuf::from).and_then(absolute).map(|h| h.join(".local/share")))?;
    Some(base.join("vitrine"))
}

/// Moves WebKit's entries from `old` into `new` when `new` does not exist yet; returns
/// what was moved. Other files in `old` (such as `$MEDIA`'s folder) stay.
fn migrate(old: &Path, new: &Path) -> std::io::Result<Vec<&'static str>> {
    if new.exists() || !WEBKIT_DATA.iter().any(|e| old.join(e).exists()) {
        return Ok(Vec::new());
    }
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(new)?;
    let mut moved = Vec::new();
    for entry in WEBKIT_DATA {
        if old.join(entry).exists() {
            std::fs::rename(old.join(entry), new.join(entry))?;
            moved.push(*entry);
        }
    }
    Ok(moved)
}

/// Makes the folders (mode 0700) and the link from the data folder's HTTP cache to the
/// cache folder's.
fn prepare(dirs: &Dirs) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(&dirs.data)?;
    let cache = dirs.cache.join(HTTP_CACHE);
    builder.create(&cache)?;
    let link = dirs.data.join(HTTP_CACHE);
    match std::fs::read_link(&link) {
        Ok(target) if target == cache => return Ok(()),
        Ok(_) => std::fs::remove_file(&link)?,
        // A real folder: a cache from before, or from wry's layout; it is only a cache.
        Err(_) if link.is_dir() => std::fs::remove_dir_all(&link)?,
        Err(_) => {}
    }
    std::os::unix::fs::symlink(&cache, &link)
}

/// The shared context's data manager, known once the first surface exists (wry does not
/// hand out the context's own); `web.clear` and the shell use it.
pub type Manager = Rc<OnceCell<WebsiteDataManager>>;

/// The shared web context, its data where `dirs` say (WebKit's defaults, under `$HOME`,
/// when there is no state directory at all), and the settings to apply to it through
/// the first surface, before that surface loads anything.
pub fn create_context(manifest: &Manifest, dirs: Option<&Dirs>, manager: Manager) -> (WebContext, Setup) {
    if let (Some(d), Some(old)) = (dirs, old_data_dir(|name| std::env::var_os(name))) {
        match migrate(&old, &d.data) {
            Ok(moved) if !moved.is_empty() => {
                log::info!("web data moved from {} to {}: {}", old.display(), d.data.display(), moved.join(", "))
            }
            Ok(_) => {}
            Err(e) => log::error!("cannot move the web data in {} to {}: {e}", old.display(), d.data.display()),
        }
    }
    let dirs = dirs.filter(|d| match prepare(d) {
        Ok(()) => true,
        Err(e) => {
            log::error!(
                "cannot prepare the web data folders {}: {e}; web data goes to WebKit's default folders",
                d.data.display()
            );
            false
        }
    });
    let context = WebContext::new(dirs.map(|d| d.data.clone()));
    let setup =
        Setup { dirs: dirs.cloned(), network: manifest.network.clone(), cookies: manifest.web.cookies, manager };
    (context, setup)
}

/// Settings for the shared context, applied once.
pub struct Setup {
    dirs: Option<Dirs>,
    network: Network,
    cookies: CookiePolicy,
    manager: Manager,
}

impl Setup {
    /// Applies the settings to `view`'s context; `view` has loaded nothing yet, so no
    /// request, cookie or certificate escapes them.
    pub fn apply(self, view: &webkit2gtk::WebView) {
        let Some(manager) = view.website_data_manager() else {
            log::error!("the web context has no data manager: cookie, proxy and TLS settings not applied");
            return;
        };
        if let Some(cookies) = manager.cookie_manager() {
            if let Some(d) = &self.dirs {
                // Replaces wry's text file.
                cookies.set_persistent_storage(&d.cookies().to_string_lossy(), CookiePersistentStorage::Sqlite);
            }
            cookies.set_accept_policy(match self.cookies {
                CookiePolicy::All => CookieAcceptPolicy::Always,
                CookiePolicy::NoThirdParty => CookieAcceptPolicy::NoThirdParty,
                CookiePolicy::None => CookieAcceptPolicy::Never,
            });
        }
        manager.set_tls_errors_policy(TLSErrorsPolicy::Fail);
        apply_proxy(&manager, &self.network);
        match &self.dirs {
            Some(d) => log::info!(
                "web data in {} (cookies: {}), HTTP cache in {}; cookies: {:?}; proxy: {}",
                d.data.display(),
                d.cookies().display(),
                d.cache.display(),
                self.cookies,
                self.network.proxy.as_str()
            ),
            None => log::warn!("no state directory: web data in WebKit's default folders, cookies not kept"),
        }
        let _ = self.manager.set(manager);
    }
}

fn apply_proxy(manager: &WebsiteDataManager, network: &Network) {
    match &network.proxy {
        Proxy::None => manager.set_network_proxy_settings(NetworkProxyMode::NoProxy, None),
        Proxy::System => manager.set_network_proxy_settings(NetworkProxyMode::Default, None),
        Proxy::Url(url) => {
            let ignore: Vec<&str> = network.no_proxy.iter().map(String::as_str).collect();
            let mut settings = NetworkProxySettings::new(Some(url), &ignore);
            manager.set_network_proxy_settings(NetworkProxyMode::Custom, Some(&mut settings));
        }
    }
}

/// What `web.clear` and `vitrine ctl web clear` remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Clear {
    Cookies,
    Cache,
    All,
}

impl Clear {
    pub fn parse(text: &str) -> Option<Clear> {
        match text {
            "cookies" => Some(Clear::Cookies),
            "cache" => Some(Clear::Cache),
            "all" => Some(Clear::All),
            _ => None,
        }
    }

    fn types(self) -> WebsiteDataTypes {
        match self {
            Clear::Cookies => WebsiteDataTypes::COOKIES,
            Clear::Cache => WebsiteDataTypes::MEMORY_CACHE | WebsiteDataTypes::DISK_CACHE,
            Clear::All => WebsiteDataTypes::ALL,
        }
    }
}

/// Removes `what` from every site; `done` runs on the main loop once WebKit has.
pub fn clear(manager: &WebsiteDataManager, what: Clear, done: impl FnOnce(Result<(), String>) + 'static) {
    clear_data(manager, what.types(), move |result| {
        match &result {
            Ok(()) => log::info!("web data cleared: {what:?}"),
            Err(e) => log::error!("clearing web data ({what:?}): {e}"),
        }
        done(result.map_err(|e| e.to_string()));
    });
}

/// `webkit_website_data_manager_clear`, which the webkit2gtk crate does not bind.
fn clear_data(
    manager: &WebsiteDataManager,
    types: WebsiteDataTypes,
    done: impl FnOnce(Result<(), glib::Error>) + 'static,
) {
    use glib::translate::{from_glib_full, IntoGlib, ToGlibPtr};
    type Done = Box<dyn FnOnce(Result<(), glib::Error>)>;

    unsafe extern "C" fn finished(
        source: *mut glib::gobject_ffi::GObject,
        result: *mut gio::ffi::GAsyncResult,
        data: glib::ffi::gpointer,
    ) {
        // SAFETY: `data` is the box leaked below, passed back exactly once; `source` is the
        // manager the call was made on and `result` its result, as GIO guarantees.
        let done: Box<Done> = unsafe { Box::from_raw(data as *mut Done) };
        let mut error = std::ptr::null_mut();
        unsafe {
            webkit2gtk::ffi::webkit_website_data_manager_clear_finish(source as *mut _, result, &mut error);
        }
        let outcome = if error.is_null() { Ok(()) } else { Err(unsafe { from_glib_full(error) }) };
        done(outcome);
    }

    let data: Box<Done> = Box::new(Box::new(done));
    // SAFETY: the manager pointer is valid for the call (we hold a reference, and GIO
    // keeps the source alive until the callback); timespan 0 means everything.
    unsafe {
        webkit2gtk::ffi::webkit_website_data_manager_clear(
            manager.to_glib_none().0,
            types.into_glib(),
            0,
            std::ptr::null_mut(),
            Some(finished),
            Box::into_raw(data) as glib::ffi::gpointer,
        );
    }
}

/// Registers `web.clear` (`{what: "cookies"|"cache"|"all"}`): answered once WebKit has
/// removed the data.
pub fn register(router: &mut crate::ipc::Router, manager: Manager) {
    use crate::ipc::{ErrorCode, IpcError};
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Args {
        what: Clear,
    }
    router.register_deferred("web.clear", move |ctx, Args { what }, reply| {
        let Some(manager) = manager.get() else {
            return Err(IpcError::new(ErrorCode::Internal, "the web context has no data manager"));
        };
        log::info!(surface = ctx.caller.label; "web.clear {what:?}");
        clear(manager, what, move |result| reply.send_json(result.map_err(|e| IpcError::new(ErrorCode::Internal, e))));
        Ok(())
    });
}

impl crate::shell::Shell {
    /// `vitrine ctl web clear WHAT` (D-Bus `ClearWebData`).
    pub(crate) fn clear_web_data(&mut self, what: &str, reply: crate::request::ReplyTo) {
        use crate::request::{Reply, RequestError};
        let Some(what) = Clear::parse(what) else {
            return reply.send(Err(RequestError::BadArgs(format!("'{what}': clear cookies, cache or all"))));
        };
        let Some(manager) = self.web_data.get() else {
            return reply.send(Err(RequestError::Failed("the web context has no data manager".into())));
        };
        clear(manager, what, move |result| reply.send(result.map(|()| Reply::Done).map_err(RequestError::Failed)));
    }
}

/// What the core trusts beyond WebKit's own verification.
pub struct Trust {
    network: Network,
    /// One database per configured CA file that could be read.
    databases: Vec<(String, gio::TlsFileDatabase)>,
    /// (host, certificate digest) the core has allowed; failing again is refused.
    allowed: RefCell<HashSet<(String, String)>>,
}

impl Trust {
    /// Reads the CA files (at start-up); one that cannot be read is logged and left out.
    pub fn new(network: &Network) -> Self {
        let databases = network
            .ca_files
            .iter()
            .filter_map(|file| match gio::TlsFileDatabase::new(file) {
                Ok(db) => {
                    log::info!("trusting the certificate authorities in {file}");
                    Some((file.clone(), db))
                }
                Err(e) => {
                    log::error!("cannot read the certificate authorities in {file}: {e}");
                    None
                }
            })
            .collect();
        for pin in &network.pin {
            log::info!("pinned certificate for {}: sha256 {}", pin.origin, pin.digest());
        }
        Self { network: network.clone(), databases, allowed: RefCell::default() }
    }

    /// Whether to allow `certificate` for the server of `uri`, which WebKit refused with
    /// `errors`.
    fn judge(&self, uri: &str, certificate: &gio::TlsCertificate, errors: gio::TlsCertificateFlags) -> Verdict {
        let Ok(url) = url::Url::parse(uri) else {
            return Verdict::Refuse(format!("{} (the address cannot be read)", describe(errors)));
        };
        let host = url.host_str().unwrap_or_default().trim_matches(['[', ']']).to_string();
        let port = url.port_or_known_default().unwrap_or(443);
        let digest = certificate.certificate().map(|der| sha256_hex(&der)).unwrap_or_default();
        let pins: Vec<String> = self.network.pins_for(&host, port).map(|p| p.digest()).collect();
        let verdict = if !pins.is_empty() {
            if pins.contains(&digest) {
                Verdict::Allow { host, digest, why: "pinned".into() }
            } else {
                Verdict::Refuse(format!(
                    "the server's certificate (sha256 {digest}) is not the one pinned for this origin"
                ))
            }
        } else {
            let identity = gio::NetworkAddress::new(&host, port);
            let verified = self.databases.iter().find(|(_, db)| {
                db.verify_chain(
                    certificate,
                    gio::TLS_DATABASE_PURPOSE_AUTHENTICATE_SERVER,
                    Some(&identity),
                    None::<&gio::TlsInteraction>,
                    gio::TlsDatabaseVerifyFlags::NONE,
                    None::<&gio::Cancellable>,
                )
                .is_ok_and(|flags| flags.is_empty())
            });
            match verified {
                Some((file, _)) => Verdict::Allow { host, digest, why: format!("issued by a CA in {file}") },
                None => Verdict::Refuse(describe(errors)),
            }
        };
        match verdict {
            Verdict::Allow { host, digest, .. } if self.allowed.borrow().contains(&(host.clone(), digest.clone())) => {
                Verdict::Refuse(format!("{} (still refused after it was trusted)", describe(errors)))
            }
            other => other,
        }
    }
}

enum Verdict {
    Allow { host: String, digest: String, why: String },
    Refuse(String),
}

/// The problems WebKit found, in words.
pub fn describe(errors: gio::TlsCertificateFlags) -> String {
    use gio::TlsCertificateFlags as F;
    let words = [
        (F::UNKNOWN_CA, "it is not issued by a trusted certificate authority"),
        (F::BAD_IDENTITY, "it does not name this server"),
        (F::NOT_ACTIVATED, "it is not valid yet"),
        (F::EXPIRED, "it has expired"),
        (F::REVOKED, "it has been revoked"),
        (F::INSECURE, "it uses an insecure algorithm"),
        (F::GENERIC_ERROR, "it could not be verified"),
    ];
    let found: Vec<&str> = words.iter().filter(|(f, _)| errors.contains(*f)).map(|(_, w)| *w).collect();
    if found.is_empty() {
        "the server's certificate was refused".into()
    } else {
        format!("the server's certificate was refused: {}", found.join("; "))
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    // GLib always has SHA-256; without it nothing matches a pin.
    let Some(mut sum) = glib::Checksum::new(glib::ChecksumType::Sha256) else { return String::new() };
    sum.update(bytes);
    normalize_sha256(&sum.string().map(|s| s.to_string()).unwrap_or_default())
}

/// Certificate failures of `webview` go through `trust`: allowed and loaded again, or
/// the certificate page.
pub fn watch_tls(
    label: &str,
    webview: &webkit2gtk::WebView,
    trust: &Rc<Trust>,
    shell: Weak<SharedShell>,
    proxy: EventLoopProxy<CoreEvent>,
) {
    let (label, trust) = (label.to_string(), Rc::clone(trust));
    webview.connect_load_failed_with_tls_errors(move |view, uri, certificate, errors| {
        match trust.judge(uri, certificate, errors) {
            Verdict::Allow { host, digest, why } => {
                log::warn!(surface = label.as_str(); "certificate of {host} ({why}, sha256 {digest}) allowed; loading {uri} again");
                if let Some(context) = view.context() {
                    context.allow_tls_certificate_for_host(certificate, &host);
                }
                trust.allowed.borrow_mut().insert((host, digest));
                // After WebKit has finished with the failed load.
                let (view, uri) = (view.clone(), uri.to_string());
                glib::idle_add_local_once(move || view.load_uri(&uri));
            }
            Verdict::Refuse(problem) => {
                let reason = format!("{CERTIFICATE_REASON}{problem}");
                dispatch(&shell, &proxy, CoreEvent::LoadFailed { label: label.clone(), url: uri.to_string(), reason });
            }
        }
        // Handled: no `load-failed`, no WebKit error page.
        true
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve(explicit: Option<&str>, vars: &[(&str, &str)]) -> Option<PathBuf> {
        let vars: HashMap<String, OsString> = vars.iter().map(|(k, v)| (k.to_string(), OsString::from(v))).collect();
        resolve_cache_dir(explicit.map(Path::new), |name| vars.get(name).cloned())
    }

    #[test]
    fn cache_dir_order() {
        let all = [("CACHE_DIRECTORY", "/var/cache/vitrine:/x"), ("XDG_CACHE_HOME", "/c"), ("HOME", "/h")];
        assert_eq!(resolve(Some("/e"), &all), Some(PathBuf::from("/e")));
        assert_eq!(resolve(None, &all), Some(PathBuf::from("/var/cache/vitrine")));
        assert_eq!(resolve(None, &all[1..]), Some(PathBuf::from("/c/vitrine")));
        assert_eq!(
            resolve(None, &[("XDG_CACHE_HOME", "rel"), ("HOME", "/h")]),
            Some(PathBuf::from("/h/.cache/vitrine"))
        );
        assert_eq!(resolve(None, &[("CACHE_DIRECTORY", "")]), None);
    }

    #[test]
    fn the_cache_link_is_made_and_repaired() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dirs = Dirs::new(&tmp.path().join("state"), &tmp.path().join("cache"));
        prepare(&dirs).expect("prepare");
        let link = dirs.data.join(HTTP_CACHE);
        assert_eq!(std::fs::read_link(&link).expect("a link"), dirs.cache.join(HTTP_CACHE));
        prepare(&dirs).expect("again");
        // A real folder left by an older layout becomes the link.
        std::fs::remove_file(&link).expect("rm");
        std::fs::create_dir(&link).expect("mkdir");
        std::fs::write(link.join("old"), b"x").expect("write");
        prepare(&dirs).expect("repair");
        assert!(std::fs::read_link(&link).is_ok());
        assert_eq!(dirs.cookies(), tmp.path().join("state/web/cookies.sqlite"));
    }

    #[test]
    fn webkit_data_of_before_moves_into_the_state_dir_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let home = tmp.path().join("home");
        let env = |name: &str| (name == "HOME").then(|| home.clone().into_os_string());
        let old = old_data_dir(env).expect("old folder");
        assert_eq!(old, home.join(".local/share/vitrine"));
        for d in ["localstorage", "databases/indexeddb", "media"] {
            std::fs::create_dir_all(old.join(d)).expect("mkdir");
        }
        std::fs::write(old.join("localstorage/x.localstorage"), b"x").expect("write");
        let new = tmp.path().join("state/web");
        assert_eq!(migrate(&old, &new).expect("moves"), ["localstorage", "databases"]);
        assert!(new.join("localstorage/x.localstorage").is_file() && new.join("databases/indexeddb").is_dir());
        // $MEDIA's folder is not WebKit's: it stays.
        assert!(old.join("media").is_dir());
        // Once the new folder exists, nothing moves again.
        std::fs::create_dir_all(old.join("storage")).expect("mkdir");
        assert!(migrate(&old, &new).expect("nothing").is_empty());
        assert!(old.join("storage").is_dir());
    }

    #[test]
    fn clear_names() {
        assert_eq!(Clear::parse("cookies"), Some(Clear::Cookies));
        assert_eq!(Clear::parse("all"), Some(Clear::All));
        assert_eq!(Clear::parse("everything"), None);
        assert!(Clear::All.types().contains(WebsiteDataTypes::COOKIES | WebsiteDataTypes::LOCAL_STORAGE));
        assert!(!Clear::Cache.types().contains(WebsiteDataTypes::COOKIES));
    }

    #[test]
    fn problems_in_words_and_digests() {
        use gio::TlsCertificateFlags as F;
        let text = describe(F::UNKNOWN_CA | F::EXPIRED);
        assert!(text.contains("not issued by a trusted") && text.contains("expired"), "{text}");
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
