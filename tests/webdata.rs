//! Web data, intranet TLS and the proxy, end to end: the real kiosk under Xvfb, pages
//! from loopback servers, `vitrine ctl` on a private `dbus-daemon`, certificates made by
//! `openssl`, a loopback HTTPS server (`python3`'s), and Debian's `tinyproxy`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{count, fixture, wait_until, HttpServer, Kiosk, PrivateBus};

// ---- helpers -------------------------------------------------------------------------

/// A loopback server for `routes` (path, body: HTML for `.html`, JSON otherwise), cacheable
/// so that the HTTP cache has something to keep.
fn serve(routes: Vec<(&'static str, String)>) -> HttpServer {
    let typed = |(path, body): (&'static str, String)| {
        (path, if path.ends_with(".html") { "text/html" } else { "application/json" }, body)
    };
    HttpServer::cacheable(routes.into_iter().map(typed).collect())
}

fn config_with(extra: &str) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).expect("mkdir");
        for e in std::fs::read_dir(from).expect("read").flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
            }
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    copy(&fixture("webdata"), dir.path());
    let toml = dir.path().join("vitrine.toml");
    let text = std::fs::read_to_string(&toml).expect("read") + "\n" + extra;
    std::fs::write(&toml, text).expect("write");
    dir
}

/// SIGTERM, then waits for the clean exit.
fn stop(mut kiosk: Kiosk) {
    kiosk.signal("TERM");
    let status = kiosk.wait_exit(Duration::from_secs(15)).expect("the kiosk stops on SIGTERM");
    assert!(status.success(), "exit status {status:?}");
}

/// Every path under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// A child process ended when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---- web data ------------------------------------------------------------------------

/// Reads the cookie, localStorage and IndexedDB values, reports them, then stores them.
/// With `#ipc` it also calls `web.clear`, once with a bad argument.
const STORE_PAGE: &str = r##"<!doctype html><html><body><p>store</p><script>
(async () => {
  const db = await new Promise((ok, fail) => {
    const r = indexedDB.open("vitrine-test", 1);
    r.onupgradeneeded = () => r.result.createObjectStore("kv");
    r.onsuccess = () => ok(r.result);
    r.onerror = () => fail(r.error);
  });
  const idb = await new Promise((ok) => {
    const q = db.transaction("kv").objectStore("kv").get("board");
    q.onsuccess = () => ok(q.result || "-");
    q.onerror = () => ok("error");
  });
  const cookie = (document.cookie.match(/(?:^|; )session=([^;]*)/) || [null, "-"])[1];
  const local = localStorage.getItem("board") || "-";
  console.log(`RESULT seen cookie=${cookie} local=${local} idb=${idb}`);
  document.cookie = "session=abc123; Max-Age=31536000; path=/";
  localStorage.setItem("board", "ls-1");
  await new Promise((ok) => {
    const t = db.transaction("kv", "readwrite");
    t.objectStore("kv").put("idb-1", "board");
    t.oncomplete = ok;
    t.onerror = ok;
  });
  console.log("RESULT stored ok");
  if (location.hash === "#ipc") {
    try { await vitrine.invoke("web.clear", { what: "everything" }); console.log("RESULT clear-bad none"); }
    catch (e) { console.log("RESULT clear-bad " + e.code); }
    try { await vitrine.invoke("web.clear", { what: "cache" }); console.log("RESULT clear-cache ok"); }
    catch (e) { console.log("RESULT clear-cache " + e.code + " " + e.message); }
  }
})().catch((e) => console.log("RESULT error " + e));
</script></body></html>"##;

#[test]
fn cookies_and_site_data_survive_a_restart_in_the_state_dir_and_web_clear_removes_them() {
    let bus = PrivateBus::session();
    let server = serve(vec![("/board.html", STORE_PAGE.to_string())]);
    let (state, cache, home) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = format!("http://127.0.0.1:{}/board.html", server.port);
    let ipc_url = format!("{url}#ipc");
    let env = |url: &str| -> Vec<(String, String)> {
        vec![
            ("STATE_DIRECTORY".into(), state.path().display().to_string()),
            ("CACHE_DIRECTORY".into(), cache.path().display().to_string()),
            ("HOME".into(), home.path().display().to_string()),
            ("VITRINE_URL".into(), url.to_string()),
            ("DBUS_SESSION_BUS_ADDRESS".into(), bus.address.clone()),
            ("NO_AT_BRIDGE".into(), "1".into()),
        ]
    };
    let start = |url: &str| {
        let env = env(url);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Kiosk::start_with("webdata", &env)
    };

    // First start: nothing yet; the page stores a one-year cookie, localStorage, IndexedDB.
    let kiosk = start(&url);
    assert_eq!(kiosk.result("seen"), "cookie=- local=- idb=-");
    kiosk.result("stored");
    // WebKit writes localStorage to disk shortly after a change.
    std::thread::sleep(Duration::from_millis(1500));
    stop(kiosk);

    let web = state.path().join("web");
    assert!(web.join("cookies.sqlite").is_file(), "no SQLite cookie file in {}: {:?}", web.display(), walk(&web));
    let cached = walk(&cache.path().join("web/WebKitCache"))
        .into_iter()
        .filter(|p| p.is_file() && p.to_string_lossy().contains("/Records/"))
        .count();
    assert!(cached > 0, "the HTTP cache is not under the cache directory: {:?}", walk(cache.path()));
    let under_home: Vec<PathBuf> = walk(home.path())
        .into_iter()
        .filter(|p| {
            let p = p.to_string_lossy().to_lowercase();
            ["localstorage", "indexeddb", "webkitcache", "cookies", "/vitrine", "webkitgtk"]
                .iter()
                .any(|w| p.contains(w))
        })
        .collect();
    assert!(under_home.is_empty(), "web data under $HOME: {under_home:?}");

    // Second start: all three are back; the page's web.clear answers a bad argument
    // with a structured error and clears the cache; then `vitrine ctl web clear all`.
    let kiosk = start(&ipc_url);
    assert_eq!(kiosk.result("seen"), "cookie=abc123 local=ls-1 idb=idb-1");
    assert_eq!(kiosk.result("clear-bad"), "bad_args");
    assert_eq!(kiosk.result("clear-cache"), "ok");
    let records = || {
        walk(&cache.path().join("web/WebKitCache"))
            .into_iter()
            .filter(|p| p.is_file() && p.to_string_lossy().contains("/Records/"))
            .count()
    };
    assert_eq!(records(), 0, "web.clear cache left HTTP cache records: {:?}", walk(cache.path()));
    let config = fixture("webdata");
    let config = config.to_str().expect("UTF-8 path");
    let (code, out, err) = bus.ctl(&["--config", config, "web", "clear", "all"]);
    assert_eq!(code, 0, "vitrine ctl web clear all: {out}{err}\nlog:\n{}", kiosk.dump());
    assert!(out.contains("web data cleared: all"), "{out}{err}");
    let (code, out, err) = bus.ctl(&["--config", config, "web", "clear", "nothing"]);
    assert_eq!(code, 2, "a bad argument is a usage error: {out}{err}");
    stop(kiosk);

    // Third start: gone.
    let kiosk = start(&url);
    assert_eq!(kiosk.result("seen"), "cookie=- local=- idb=-");
    stop(kiosk);
}

// ---- TLS -----------------------------------------------------------------------------

fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl is installed");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Self-signed certificates for 127.0.0.1 (pinned.*, stranger.*), a CA (ca.*) and a
/// certificate it issued (issued.*).
fn make_certificates(dir: &Path) {
    for name in ["pinned", "stranger"] {
        let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &pem,
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
        );
    }
    // A CA, and a server certificate it issues.
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Vitrine test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "issued.key",
            "-out",
            "issued.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("issued.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "issued.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "issued.pem",
            "-days",
            "2",
            "-extfile",
            "issued.ext",
        ],
    );
}

/// `openssl x509 -fingerprint -sha256` of NAME.pem.
fn fingerprint(dir: &Path, name: &str) -> String {
    let out = openssl(dir, &["x509", "-in", &format!("{name}.pem"), "-noout", "-fingerprint", "-sha256"]);
    out.trim().rsplit_once('=').map(|(_, f)| f.to_string()).expect("a fingerprint")
}

/// The loopback HTTPS server with NAME's certificate, serving `root`; its port.
fn https_server(dir: &Path, name: &str, root: &Path) -> (Running, u16) {
    let mut child = Command::new("python3")
        .arg(fixture("webdata/https_server.py"))
        .arg(dir.join(format!("{name}.pem")))
        .arg(dir.join(format!("{name}.key")))
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 is installed");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("the port");
    let port = line.trim().parse().unwrap_or_else(|_| panic!("no port from the HTTPS server: {line:?}"));
    (Running(child), port)
}

/// Reports its port, then goes on to the URL in its fragment, if any.
const TLS_PAGE: &str = r#"<!doctype html><html><body><p>tls</p><script>
console.log("RESULT tls " + location.port);
const next = decodeURIComponent(location.hash.slice(1));
if (next) setTimeout(() => { location.href = next; }, 300);
</script></body></html>"#;

#[test]
fn a_pinned_or_ca_issued_certificate_loads_and_any_other_shows_the_certificate_page() {
    let certs = tempfile::tempdir().expect("tempdir");
    make_certificates(certs.path());
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::write(root.path().join("board.html"), TLS_PAGE).expect("write");
    let (_pinned, pinned) = https_server(certs.path(), "pinned", root.path());
    let (_issued, issued) = https_server(certs.path(), "issued", root.path());
    let (_stranger, stranger) = https_server(certs.path(), "stranger", root.path());

    let config = config_with(&format!(
        "[network]\nca_files = [\"{}\"]\n\n[[network.pin]]\norigin = \"https://127.0.0.1:{pinned}\"\nsha256 = \"{}\"\n",
        certs.path().join("ca.pem").display(),
        fingerprint(certs.path(), "pinned"),
    ));
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let last = format!("https://127.0.0.1:{stranger}/board.html");
    let second = format!("https://127.0.0.1:{issued}/board.html#{}", enc(&last));
    let first = format!("https://127.0.0.1:{pinned}/board.html#{}", enc(&second));
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().display().to_string();
    let kiosk = Kiosk::start_with(
        config.path().to_str().expect("utf-8"),
        &[("VITRINE_URL", first.as_str()), ("STATE_DIRECTORY", state_dir.as_str())],
    );

    let timeout = Duration::from_secs(30);
    let got = |port: u16| kiosk.log.wait_for(&format!("RESULT tls {port}"), timeout);
    assert!(got(pinned).is_some(), "the pinned certificate did not load; log:\n{}", kiosk.dump());
    assert!(got(issued).is_some(), "the CA-issued certificate did not load; log:\n{}", kiosk.dump());

    let origin = enc(&format!("https://127.0.0.1:{stranger}"));
    let page = kiosk
        .log
        .wait_where(|l| l.contains("page loaded app://localhost/__vitrine/certificate.html"), timeout)
        .unwrap_or_else(|| panic!("no certificate page; log:\n{}", kiosk.dump()));
    assert!(page.contains(&format!("origin={origin}")), "the page does not name the origin: {page}");
    assert!(
        page.contains("not+issued+by+a+trusted+certificate+authority"),
        "the page does not name the problem: {page}"
    );
    assert!(kiosk.log.wait_for("showing certificate page for main", timeout).is_some(), "{}", kiosk.dump());
    // Retried like the offline page, and never shown.
    let refused = format!("cannot load https://127.0.0.1:{stranger}/");
    assert!(
        wait_until(Duration::from_secs(15), || count(&kiosk.log, &refused) >= 2),
        "the refused page was not retried; log:\n{}",
        kiosk.dump()
    );
    assert!(!kiosk.log.contains(&format!("RESULT tls {stranger}")), "the refused page was shown");
}

// ---- proxy ---------------------------------------------------------------------------

#[test]
fn the_page_and_http_fetch_go_through_the_configured_proxy() {
    let dir = tempfile::tempdir().expect("tempdir");
    let proxy_port = common::closed_port();
    let log = dir.path().join("tinyproxy.log");
    std::fs::write(
        dir.path().join("tinyproxy.conf"),
        format!(
            "Port {proxy_port}\nListen 127.0.0.1\nTimeout 30\nLogFile \"{}\"\nLogLevel Info\nMaxClients 50\n\
             ViaProxyName \"vitrine-test-proxy\"\n",
            log.display()
        ),
    )
    .expect("write");
    let _proxy = Running(
        Command::new("tinyproxy")
            .args(["-d", "-c"])
            .arg(dir.path().join("tinyproxy.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tinyproxy is installed"),
    );
    assert!(
        wait_until(Duration::from_secs(5), || std::net::TcpStream::connect(("127.0.0.1", proxy_port)).is_ok()),
        "tinyproxy does not listen"
    );

    let api_port_probe = serve(vec![("/api", "{\"ok\":true}".to_string())]);
    // Reached as "localhost", which is in no_proxy: straight, for the page and the core.
    let direct = serve(vec![("/direct-api", "{\"ok\":true}".to_string())]);
    let page = format!(
        r#"<!doctype html><html><body><p>proxy</p><img src="http://localhost:{direct}/direct.png"><script>
console.log("RESULT page loaded");
(async () => {{
  for (const [name, url] of [["fetch", "http://127.0.0.1:{api}/api"], ["direct", "http://localhost:{direct}/direct-api"]]) {{
    try {{ const r = await vitrine.invoke("http.fetch", {{ url }}); console.log(`RESULT ${{name}} ${{r.status}}`); }}
    catch (e) {{ console.log(`RESULT ${{name}} ${{e.code}} ${{e.message}}`); }}
  }}
}})();
</script></body></html>"#,
        api = api_port_probe.port,
        direct = direct.port,
    );
    let server = serve(vec![("/board.html", page)]);
    let config =
        config_with(&format!("[network]\nproxy = \"http://127.0.0.1:{proxy_port}\"\nno_proxy = [\"localhost\"]\n"));
    let url = format!("http://127.0.0.1:{}/board.html", server.port);
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().display().to_string();
    let kiosk = Kiosk::start_with(
        config.path().to_str().expect("utf-8"),
        &[("VITRINE_URL", url.as_str()), ("STATE_DIRECTORY", state_dir.as_str())],
    );
    kiosk.result("page");
    assert_eq!(kiosk.result("fetch"), "200");

    // The page: forwarded by tinyproxy, which adds its Via header.
    let heads = server.heads_for("/board.html");
    assert!(
        heads.iter().any(|h| h.to_lowercase().contains("via:") && h.contains("vitrine-test-proxy")),
        "the page did not come through the proxy: {heads:?}"
    );
    // http.fetch: a CONNECT tunnel (ureq) or a forwarded request, either way in the log.
    let proxied = std::fs::read_to_string(&log).unwrap_or_default();
    let api = api_port_probe.heads_for("/api");
    let tunnelled = proxied.contains(&format!("CONNECT 127.0.0.1:{}", api_port_probe.port));
    let forwarded = api.iter().any(|h| h.contains("vitrine-test-proxy"));
    assert!(tunnelled || forwarded, "http.fetch did not go through the proxy; proxy log:\n{proxied}\nheads: {api:?}");

    // no_proxy: the image and the core's request to localhost went straight.
    assert_eq!(kiosk.result("direct"), "200");
    assert!(
        wait_until(Duration::from_secs(5), || !direct.heads_for("/direct.png").is_empty()),
        "the image was not requested"
    );
    for path in ["/direct.png", "/direct-api"] {
        let heads = direct.heads_for(path);
        assert!(heads.iter().all(|h| !h.to_lowercase().contains("via:")), "{path} went through the proxy: {heads:?}");
    }
    let proxied = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!proxied.contains(&format!(":{}", direct.port)), "the proxy saw a no_proxy host:\n{proxied}");
}

// ---- cookie policy -------------------------------------------------------------------

/// A board on 127.0.0.1 embeds a frame from localhost that sets a cookie, then opens a
/// localhost page, which reports the cookies it has.
fn cookie_in_a_frame_of_another_site(extra: &str) -> String {
    let server = serve(vec![
        (
            "/top.html",
            r#"<!doctype html><body><iframe src="http://localhost:{port}/frame.html"></iframe><script>
document.querySelector("iframe").addEventListener("load", () => setTimeout(() => {
  location.href = "http://localhost:{port}/check.html";
}, 300));
</script></body>"#
                .to_string(),
        ),
        (
            "/frame.html",
            r#"<!doctype html><script>document.cookie = "tp=1; Max-Age=3600; path=/";</script>"#.to_string(),
        ),
        (
            "/check.html",
            r#"<!doctype html><script>console.log("RESULT check cookie=" + (document.cookie || "-"));</script>"#
                .to_string(),
        ),
    ]);
    let config = config_with(extra);
    let state = tempfile::tempdir().expect("tempdir");
    let url = format!("http://127.0.0.1:{}/top.html", server.port);
    let state_dir = state.path().display().to_string();
    let kiosk = Kiosk::start_with(
        config.path().to_str().expect("utf-8"),
        &[("VITRINE_URL", url.as_str()), ("STATE_DIRECTORY", state_dir.as_str())],
    );
    let cookie = kiosk.result("check");
    assert!(server.heads_for("/frame.html").len() == 1, "the frame was not loaded");
    cookie
}

#[test]
fn third_party_cookies_are_refused_by_default_and_kept_with_cookies_all() {
    assert_eq!(cookie_in_a_frame_of_another_site(""), "cookie=-");
    assert_eq!(cookie_in_a_frame_of_another_site("[web]\ncookies = \"all\"\n"), "cookie=tp=1");
}
