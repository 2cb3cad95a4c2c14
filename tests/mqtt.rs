//! `vitrine mqtt` end to end: a real `mosquitto` on loopback with a password file, the
//! real kiosk under Xvfb on a private `dbus-daemon`, the bridge as its own process, and
//! `mosquitto_sub`/`mosquitto_pub` as the other MQTT clients (Home Assistant's side).

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{count, kill, vitrine_bin, wait_until, Kiosk, PrivateBus};
use serde_json::Value;

const USER: &str = "kiosk";
const PASSWORD: &str = "s3cret-for-tests";

impl PrivateBus {
    fn status(&self) -> Value {
        let (code, out, _) = self.ctl(&["--json", "status"]);
        assert_eq!(code, 0, "vitrine ctl status: {out}");
        serde_json::from_str(&out).expect("status JSON")
    }

    fn kiosk(&self) -> Kiosk {
        let kiosk = Kiosk::start_with("dbus", &self.env());
        kiosk.wait_ready();
        kiosk.result("main-listening");
        kiosk
    }
}

/// A mosquitto of the test's own on a loopback port, with a user and password.
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// With TLS: the test CA and a client certificate it signed (CN kiosk, the user name).
    tls: bool,
}

/// `openssl` with `args`, in `dir`; panics on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (package openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`<ca>.pem`, `<ca>.key`) and, signed by it, `names` (`<name>.pem`, `<name>.key`).
fn make_pki(dir: &Path, ca: &str, names: &[(&str, &str)]) {
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend(["-keyout", &ca_key, "-out", &ca_pem, "-days", "2", "-subj", "/CN=vitrine test CA"]);
    openssl(dir, &args);
    for (name, cn) in names {
        let (key, csr, pem) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.pem"));
        let subj = format!("/CN={cn}");
        let mut args = vec!["req"];
        args.extend(ec);
        args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
        openssl(dir, &args);
        let ext = format!("{name}.ext");
        std::fs::write(dir.join(&ext), "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("write ext");
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
    }
}

impl Broker {
    /// TLS only, client certificates required (their CN is the user name), no passwords.
    fn start_tls() -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        make_pki(d, "ca", &[("server", "localhost"), ("client", USER)]);
        make_pki(d, "other-ca", &[]);
        let port = common::closed_port();
        let conf = format!(
            "listener {port} 127.0.0.1\ncafile {0}/ca.pem\ncertfile {0}/server.pem\nkeyfile {0}/server.key\n\
             require_certificate true\nuse_identity_as_username true\nallow_anonymous false\npersistence false\nuser root\n",
            d.display()
        );
        std::fs::write(d.join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut broker = Broker { dir, port, child: None, tls: true };
        broker.up();
        broker
    }

    fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let passwd = dir.path().join("passwd");
        let made = Command::new("mosquitto_passwd")
            .args(["-b", "-c"])
            .arg(&passwd)
            .args([USER, PASSWORD])
            .status()
            .expect("mosquitto_passwd (package mosquitto)");
        assert!(made.success());
        let port = common::closed_port();
        let conf = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence false\nuser root\nlog_dest file {}\n",
            passwd.display(),
            dir.path().join("mosquitto.log").display()
        );
        std::fs::write(dir.path().join("mosquitto.conf"), conf).expect("write mosquitto.conf");
        let mut broker = Broker { dir, port, child: None, tls: false };
        broker.up();
        broker
    }

    fn up(&mut self) {
        // Debian puts the broker in /usr/sbin, which a normal user's PATH lacks.
        let broker = if Path::new("/usr/sbin/mosquitto").exists() { "/usr/sbin/mosquitto" } else { "mosquitto" };
        let child = Command::new(broker)
            .arg("-c")
            .arg(self.dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (package mosquitto)");
        self.child = Some(child);
        let port = self.port;
        let listening =
            wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(listening, "mosquitto does not listen on {port}");
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill(child.id(), "TERM");
            let _ = child.wait();
        }
    }

    /// Mosquitto's log: "New client connected … (p2, …)" for MQTT 3.1.1, "(p5, …)" for 5.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }

    fn client_args(&self) -> Vec<String> {
        let mut args: Vec<String> = ["-h", "127.0.0.1", "-p", &self.port.to_string()].map(String::from).to_vec();
        if self.tls {
            let d = self.dir.path().display();
            for (flag, file) in [("--cafile", "ca.pem"), ("--cert", "client.pem"), ("--key", "client.key")] {
                args.extend([flag.to_string(), format!("{d}/{file}")]);
            }
        } else {
            args.extend(["-u", USER, "-P", PASSWORD].map(String::from));
        }
        args
    }

    /// The bridge's `[broker]` table: a password, or TLS trusting `ca` with the client certificate.
    fn bridge_toml(&self, ca: &str, broker_extra: &str) -> String {
        let common =
            format!("[broker]\nhost = \"127.0.0.1\"\nport = {}\nkeep_alive_secs = 5\n{broker_extra}\n", self.port);
        if self.tls {
            format!(
                "{common}[broker.tls]\nca_file = \"{}/{ca}.pem\"\nclient_cert_credential = \"mqtt-cert.pem\"\n\
                 client_key_credential = \"mqtt-key.pem\"\n",
                self.dir.path().display()
            )
        } else {
            format!("{common}username = \"{USER}\"\npassword_credential = \"mqtt-password\"\n")
        }
    }

    /// The retained message on `topic`, if any (as a new subscriber gets it at once).
    fn retained(&self, topic: &str) -> Option<Vec<u8>> {
        let out = Command::new("mosquitto_sub")
            .args(self.client_args())
            .args(["-t", topic, "-C", "1", "-W", "2", "-N", "--retained-only"])
            .output()
            .expect("mosquitto_sub (package mosquitto-clients)");
        (out.status.success() && !out.stdout.is_empty()).then_some(out.stdout)
    }

    fn retained_text(&self, topic: &str) -> String {
        self.retained(topic).map(|b| String::from_utf8_lossy(&b).into_owned()).unwrap_or_default()
    }

    fn retained_json(&self, topic: &str) -> Value {
        serde_json::from_str(&self.retained_text(topic)).unwrap_or(Value::Null)
    }

    fn publish(&self, topic: &str, payload: &str, retain: bool) {
        let mut cmd = Command::new("mosquitto_pub");
        cmd.args(self.client_args()).args(["-q", "1", "-t", topic, "-m", payload]);
        if retain {
            cmd.arg("-r");
        }
        assert!(cmd.status().expect("mosquitto_pub").success(), "mosquitto_pub {topic}");
    }

    /// A subscriber that keeps what arrives on `topic` ("topic payload" lines).
    fn watch(&self, topic: &str) -> Lines {
        let mut child = Command::new("mosquitto_sub")
            .args(self.client_args())
            .args(["-t", topic, "-v"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto_sub");
        let lines = Lines::collect(child.stdout.take().expect("piped"), child);
        // Subscribed once a publish of our own comes back.
        std::thread::sleep(Duration::from_millis(300));
        lines
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.down();
    }
}

/// Lines a child process prints, kept as they come; the child is killed when dropped.
struct Lines {
    lines: Arc<Mutex<Vec<String>>>,
    child: Child,
}

impl Lines {
    fn collect(out: impl std::io::Read + Send + 'static, child: Child) -> Lines {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(out).split(b'\n').map_while(Result::ok) {
                let line = String::from_utf8_lossy(&line).into_owned();
                eprintln!("  mqtt| {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Lines { lines, child }
    }

    fn all(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    fn wait(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let mut found = None;
        wait_until(timeout, || {
            found = self.all().into_iter().find(|l| pred(l));
            found.is_some()
        });
        found
    }

    fn count(&self, needle: &str) -> usize {
        self.all().iter().filter(|l| l.contains(needle)).count()
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The bridge: its configuration, its credentials directory, the process and its log.
struct Bridge {
    _dir: tempfile::TempDir,
    log: Lines,
}

impl Bridge {
    fn start(bus: &PrivateBus, broker: &Broker, extra: &str) -> Bridge {
        Self::start_with(bus, broker, "ca", "", extra)
    }

    /// `ca`: with TLS, the CA trusted (the broker's is "ca"); `broker_extra` goes in `[broker]`.
    fn start_with(bus: &PrivateBus, broker: &Broker, ca: &str, broker_extra: &str, extra: &str) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = dir.path().join("credentials");
        std::fs::create_dir(&creds).expect("mkdir");
        std::fs::write(creds.join("mqtt-password"), format!("{PASSWORD}\n")).expect("write credential");
        if broker.tls {
            for (file, cred) in [("client.pem", "mqtt-cert.pem"), ("client.key", "mqtt-key.pem")] {
                std::fs::copy(broker.dir.path().join(file), creds.join(cred)).expect("copy credential");
            }
        }
        let config = dir.path().join("mqtt.toml");
        let text = format!(
            "{}[kiosk]\nbus = \"session\"\npoll_secs = 1\n{}{extra}",
            broker.bridge_toml(ca, broker_extra),
            if extra.contains("[screenshot]") { "" } else { "[screenshot]\ninterval_secs = 0\n" }
        );
        std::fs::write(&config, text).expect("write mqtt.toml");
        let mut child = Command::new(vitrine_bin())
            .args(["mqtt", "--config"])
            .arg(&config)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("CREDENTIALS_DIRECTORY", &creds)
            .env("VITRINE_LOG", "debug")
            .env_remove("JOURNAL_STREAM")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vitrine mqtt");
        let log = Lines::collect(child.stderr.take().expect("piped"), child);
        Bridge { _dir: dir, log }
    }

    fn pid(&self) -> u32 {
        self.log.child.id()
    }

    fn running(&mut self) -> bool {
        matches!(self.log.child.try_wait(), Ok(None))
    }
}

const WITHIN: Duration = Duration::from_secs(15);

fn machine_id() -> String {
    std::fs::read_to_string("/etc/machine-id").expect("/etc/machine-id")
}

/// The id the bridge must use for the `dbus` fixture (its [app] name) on this machine.
fn fixture_device_id() -> String {
    vitrine::mqtt::discovery::device_id(&machine_id(), "dbus fixture")
}

fn main_url(bus: &PrivateBus) -> String {
    let status = bus.status();
    let main = status["surfaces"].as_array().and_then(|a| a.iter().find(|s| s["label"] == "main")).cloned();
    main.map(|m| m["url"].as_str().unwrap_or_default().to_string()).unwrap_or_default()
}

fn visible(bus: &PrivateBus, label: &str) -> bool {
    let status = bus.status();
    let s = status["surfaces"].as_array().and_then(|a| a.iter().find(|s| s["label"] == label)).cloned();
    s.is_some_and(|s| s["visible"] == true)
}

#[test]
fn the_bridge_announces_the_kiosk_and_home_assistant_drives_it() {
    let bus = PrivateBus::session();
    let kiosk = bus.kiosk();
    let broker = Broker::start();
    let id = fixture_device_id();
    let base = format!("vitrine/{id}");
    let results = broker.watch(&format!("{base}/result"));
    let mut bridge = Bridge::start(&bus, &broker, "");

    // Device discovery, retained, under the stable id, with what Home Assistant requires.
    let config_topic = format!("homeassistant/device/{id}/config");
    assert!(
        wait_until(WITHIN, || broker.retained(&config_topic).is_some()),
        "no retained discovery on {config_topic}; bridge log:\n{}",
        bridge.log.all().join("\n")
    );
    let config = broker.retained_json(&config_topic);
    assert_eq!(config["device"]["identifiers"][0], id.as_str(), "{config}");
    assert_eq!(config["device"]["name"], "dbus fixture");
    assert!(broker.log().contains(&format!("as vitrine-{id} (p2,")), "3.1.1 by default:\n{}", broker.log());
    assert!(!config.to_string().contains(machine_id().trim()), "the machine id itself is not published");
    assert_eq!(config["availability_topic"], format!("{base}/availability"));
    let components = config["components"].as_object().expect("components");
    for (key, c) in components {
        assert!(c["platform"].is_string() && c["unique_id"].is_string(), "{key}: {c}");
    }
    let platform = |object: &str| components[&format!("{id}_{object}")]["platform"].clone();
    assert_eq!(platform("url"), "text");
    assert_eq!(platform("reload"), "button");
    assert_eq!(platform("home"), "button");
    assert_eq!(platform("overlay_side"), "switch");
    assert_eq!(platform("overlay_hidden"), "switch");
    assert_eq!(platform("screenshot"), "image");
    assert_eq!(platform("crashes"), "sensor");
    assert_eq!(platform("ready"), "binary_sensor");
    assert!(components.get(&format!("{id}_keyboard")).is_none(), "no [keyboard] in the fixture, no switch");
    assert!(components.get(&format!("{id}_image")).is_none(), "no RAUC on the system bus, no update entity");

    // Availability online, retained; the state says what the kiosk shows.
    let availability = format!("{base}/availability");
    assert!(wait_until(WITHIN, || broker.retained_text(&availability) == "online"), "availability not online");
    let home = main_url(&bus);
    assert!(home.ends_with("/main.html"), "{home}");
    let state_topic = format!("{base}/state");
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["url"] == home.as_str()));
    let state = broker.retained_json(&state_topic);
    assert_eq!(state["ready"], "ON", "{state}");
    // Surfaces come up one by one (the toast's too): the state follows within a poll.
    let up = || bus.status()["surfaces"].as_array().expect("surfaces").iter().filter(|s| s["up"] == true).count();
    assert!(
        wait_until(WITHIN, || broker.retained_json(&state_topic)["surfaces_up"] == up()),
        "surfaces_up {} is not {}",
        broker.retained_json(&state_topic)["surfaces_up"],
        up()
    );
    assert!(state["visible"].get("vitrine.toast").is_none(), "the built-in toast is no switch: {state}");
    assert!(state["keyboard"].is_null(), "{state}");
    assert_eq!(state["visible"]["side"], "ON", "{state}");
    // The kiosk's memory: the core and three web processes are well over 100 MiB.
    assert!(state["memory"].as_u64().is_some_and(|m| m > 100), "{state}");
    assert_eq!(platform("memory"), "sensor");

    // The URL text entity navigates, through Navigate and so the allow-list.
    let page2 = "app://localhost/page2.html";
    broker.publish(&format!("{base}/url/set"), page2, false);
    assert!(wait_until(WITHIN, || main_url(&bus) == page2), "main is at {}", main_url(&bus));
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["url"] == page2));
    broker.publish(&format!("{base}/url/set"), "https://example.com/", false);
    let refused = results.wait(|l| l.contains("url/set") && l.contains("\"ok\":false"), WITHIN).expect("a refusal");
    assert!(refused.contains("not_allowed"), "{refused}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(main_url(&bus), page2, "a refused URL leaves the page");
    assert_eq!(broker.retained_json(&state_topic)["url"], page2, "the state is re-published as it is");

    // Home goes back to the page the kiosk showed when the bridge started.
    broker.publish(&format!("{base}/home/press"), "PRESS", false);
    assert!(wait_until(WITHIN, || main_url(&bus) == home), "home: main is at {}", main_url(&bus));
    kiosk.result("main-listening");

    // Reload reloads the page: it says it listens once more.
    let before = count(&kiosk.log, "main-listening");
    broker.publish(&format!("{base}/reload/press"), "PRESS", false);
    assert!(wait_until(WITHIN, || count(&kiosk.log, "main-listening") > before), "no reload:\n{}", kiosk.dump());

    // An overlay switch hides and shows the overlay.
    broker.publish(&format!("{base}/overlay/side/set"), "OFF", false);
    assert!(wait_until(WITHIN, || !visible(&bus, "side")), "side is still visible");
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["visible"]["side"] == "OFF"));
    broker.publish(&format!("{base}/overlay/side/set"), "ON", false);
    assert!(wait_until(WITHIN, || visible(&bus, "side")), "side is not shown again");
    // Only overlays: main refuses, and the refusal comes back.
    broker.publish(&format!("{base}/overlay/main/set"), "OFF", false);
    let refused = results.wait(|l| l.contains("overlay/main/set") && l.contains("\"ok\":false"), WITHIN);
    assert!(refused.is_some(), "hiding main was not refused: {:?}", results.all());
    assert!(visible(&bus, "main"));

    // Events both ways, as the principal `mqtt`. In: what its capabilities let it emit
    // reaches the page, from "mqtt".
    let emitted = broker.watch(&format!("{base}/emitted/#"));
    let sent = Instant::now();
    broker.publish(&format!("{base}/event/from-mqtt"), r#"{"n":7}"#, false);
    assert!(
        kiosk.log.wait_for(r#"RESULT main-got-mqtt {"n":7} from mqtt"#, WITHIN).is_some(),
        "the event did not reach the page as mqtt:\n{}",
        kiosk.dump()
    );
    let done = results.wait(|l| l.contains("event/from-mqtt") && l.contains("\"ok\":true"), WITHIN);
    assert!(done.is_some(), "from-mqtt: {:?}", results.all());
    // Out: the page answers with kept-local (the bridge may not hear it), then to-mqtt
    // (it may): only to-mqtt is published, in the shape pages receive.
    let out_topic = format!("{base}/emitted/to-mqtt ");
    let out = emitted.wait(|l| l.starts_with(&out_topic), WITHIN);
    let out =
        out.unwrap_or_else(|| panic!("to-mqtt not published: {:?}\n{}", emitted.all(), bridge.log.all().join("\n")));
    eprintln!("MQTT event round trip: {} ms, {} bytes out", sent.elapsed().as_millis(), out.len() - out_topic.len());
    let body: Value = serde_json::from_str(&out[out_topic.len()..]).expect("JSON");
    assert_eq!(body, serde_json::json!({"event": "to-mqtt", "payload": {"echo": {"n": 7}}, "source": "main"}));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(emitted.all().len(), 1, "only to-mqtt leaves: {:?}", emitted.all());
    // An answer over 64 KiB is not published, and costs the bridge nothing: the next comes.
    broker.publish(&format!("{base}/event/from-mqtt"), r#"{"big":70000}"#, false);
    let dropped =
        bridge.log.wait(|l| l.contains("event 'to-mqtt' from main is 70") && l.contains("not published"), WITHIN);
    assert!(dropped.is_some(), "{}", bridge.log.all().join("\n"));
    broker.publish(&format!("{base}/event/from-mqtt"), r#"{"n":9}"#, false);
    assert!(emitted.wait(|l| l.starts_with(&out_topic) && l.contains(r#"{"n":9}"#), WITHIN).is_some());
    assert_eq!(emitted.all().len(), 2, "{:?}", emitted.all());
    // A message over the bridge's 64 KiB limit for what it receives costs it the
    // connection (MQTT 3.1.1 cannot tell the broker the limit): it reconnects and carries on.
    let big = format!("{{\"pad\":\"{}\"}}", "y".repeat(70_000));
    broker.publish(&format!("{base}/event/from-mqtt"), &big, false);
    std::thread::sleep(Duration::from_secs(1));
    assert!(bridge.running(), "{}", bridge.log.all().join("\n"));
    assert!(
        wait_until(WITHIN, || {
            broker.publish(&format!("{base}/event/from-mqtt"), r#"{"n":10}"#, false);
            emitted.wait(|l| l.contains(r#"{"n":10}"#), Duration::from_secs(2)).is_some()
        }),
        "no event after an oversized one:\n{}",
        bridge.log.all().join("\n")
    );
    assert!(bridge.log.count("payload size limit exceeded") >= 1, "{}", bridge.log.all().join("\n"));
    // The D-Bus callers' event is not MQTT's: refused, reported and logged.
    broker.publish(&format!("{base}/event/from-dbus"), r#"{"n":8}"#, false);
    let refused = results.wait(|l| l.contains("event/from-dbus") && l.contains("\"ok\":false"), WITHIN);
    assert!(refused.is_some_and(|l| l.contains("not_allowed")), "from-dbus: {:?}", results.all());
    assert!(bridge.log.wait(|l| l.contains("event/from-dbus") && l.contains("refused"), WITHIN).is_some());
    assert!(!kiosk.log.contains(r#"main-got {"n":8}"#), "MQTT emitted as dbus:\n{}", kiosk.dump());
    broker.publish(&format!("{base}/event/secret"), "{}", false);
    let refused = results.wait(|l| l.contains("event/secret") && l.contains("\"ok\":false"), WITHIN);
    assert!(refused.is_some_and(|l| l.contains("not_allowed")), "secret: {:?}", results.all());
    assert!(!kiosk.log.contains("RESULT main-secret"), "a refused event reached the page");

    // Zoom reaches the kiosk's Zoom, whose range check applies.
    broker.publish(&format!("{base}/zoom/set"), "1.5", false);
    let done = results.wait(|l| l.contains("zoom/set") && l.contains("\"ok\":true"), WITHIN);
    assert!(done.is_some(), "zoom: {:?}", results.all());
    assert!(kiosk.log.contains("Zoom 1.5"), "{}", kiosk.dump());
    broker.publish(&format!("{base}/zoom/set"), "9", false);
    let refused = results.wait(|l| l.contains("zoom/set") && l.contains("\"ok\":false"), WITHIN);
    assert!(refused.is_some_and(|l| l.contains("bad_args")), "zoom 9: {:?}", results.all());

    // A screenshot on request: a PNG of the screen's size, retained on the image topic.
    broker.publish(&format!("{base}/screenshot/press"), "PRESS", false);
    let screenshot = format!("{base}/screenshot");
    let mut png = None;
    wait_until(WITHIN, || {
        png = broker.retained(&screenshot);
        png.is_some()
    });
    let png = png.expect("a screenshot");
    assert_eq!(vitrine::dbus::client::png_size(&png), Some((1920, 1080)), "{} bytes", png.len());
    let discovery = broker.retained(&config_topic).map_or(0, |d| d.len());
    eprintln!(
        "sizes: discovery {discovery} bytes, state {} bytes, screenshot {} bytes",
        broker.retained_text(&state_topic).len(),
        png.len()
    );

    // Home Assistant's birth message brings the discovery back (here after it was cleared).
    broker.publish(&config_topic, "", true);
    assert!(wait_until(WITHIN, || broker.retained(&config_topic).is_none()), "discovery not cleared");
    broker.publish("homeassistant/status", "online", false);
    assert!(
        wait_until(WITHIN, || broker.retained_json(&config_topic)["device"]["identifiers"][0] == id.as_str()),
        "no discovery after the birth message"
    );

    // SIGKILL of the bridge: the broker publishes its will; the kiosk carries on.
    assert!(bridge.running());
    kill(bridge.pid(), "KILL");
    assert!(wait_until(WITHIN, || broker.retained_text(&availability) == "offline"), "no offline will");
    let (code, pong, _) = bus.ctl(&["ping"]);
    assert_eq!(code, 0, "the kiosk still answers: {pong}");
    assert!(kiosk.log.all().iter().all(|l| !l.contains("panicked")), "{}", kiosk.dump());
}

/// `ctl status --json`'s `keyboard` part.
fn keyboard(bus: &PrivateBus) -> Value {
    bus.status()["keyboard"].clone()
}

#[test]
fn the_keyboard_switch_shows_and_hides_the_on_screen_keyboard() {
    let bus = PrivateBus::session();
    let kiosk = Kiosk::start_with("keyboard", &bus.env());
    kiosk.wait_ready();
    assert!(wait_until(WITHIN, || keyboard(&bus)["ready"] == true), "keyboard page not ready: {}", keyboard(&bus));
    let broker = Broker::start();
    let id = vitrine::mqtt::discovery::device_id(&machine_id(), "keyboard fixture");
    let base = format!("vitrine/{id}");
    let results = broker.watch(&format!("{base}/result"));
    let bridge = Bridge::start(&bus, &broker, "");

    // The kiosk has a [keyboard]: Home Assistant gets a switch reading the state.
    let config_topic = format!("homeassistant/device/{id}/config");
    assert!(
        wait_until(WITHIN, || broker.retained(&config_topic).is_some()),
        "no discovery; bridge log:\n{}",
        bridge.log.all().join("\n")
    );
    let config = broker.retained_json(&config_topic);
    let switch = &config["components"][format!("{id}_keyboard")];
    assert_eq!(switch["platform"], "switch", "{config}");
    assert_eq!(switch["command_topic"], format!("{base}/keyboard/set"));
    assert_eq!(switch["state_topic"], format!("{base}/state"));
    assert_eq!(switch["value_template"], "{{ value_json.keyboard }}");
    let state_topic = format!("{base}/state");
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["keyboard"] == "OFF"), "hidden at first");

    // ON shows it for kiosk.surface (main), and the state follows.
    broker.publish(&format!("{base}/keyboard/set"), "ON", false);
    assert!(
        wait_until(WITHIN, || keyboard(&bus)["visible"] == true),
        "not shown: {}\n{}",
        keyboard(&bus),
        bridge.log.all().join("\n")
    );
    assert_eq!(keyboard(&bus)["surface"], "main");
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["keyboard"] == "ON"), "state not ON");
    assert!(results.wait(|l| l.contains("keyboard/set") && l.contains("\"ok\":true"), WITHIN).is_some());

    // OFF hides it.
    broker.publish(&format!("{base}/keyboard/set"), "OFF", false);
    assert!(wait_until(WITHIN, || keyboard(&bus)["visible"] == false), "not hidden: {}", keyboard(&bus));
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["keyboard"] == "OFF"), "state not OFF");

    // Shown some other way (here ctl; a tapped field alike), the state follows within a poll.
    assert_eq!(bus.ctl(&["keyboard", "show"]).0, 0);
    assert!(wait_until(WITHIN, || broker.retained_json(&state_topic)["keyboard"] == "ON"), "poll missed it");

    // Anything but ON or OFF is refused, and the keyboard stays as it is.
    broker.publish(&format!("{base}/keyboard/set"), "maybe", false);
    let refused = results.wait(|l| l.contains("keyboard/set") && l.contains("bad_args"), WITHIN);
    assert!(refused.is_some(), "{:?}", results.all());
    assert_eq!(keyboard(&bus)["visible"], true);
    assert!(kiosk.log.all().iter().all(|l| !l.contains("panicked")), "{}", kiosk.dump());
}

/// The display fixture with a fake `/sys/class/backlight` of one panel (what the kernel
/// offers is files; what a real panel does with them only a board shows) as its only way
/// to power the screen besides the black cover.
fn display_config(dir: &Path) -> (PathBuf, PathBuf) {
    let panel = dir.join("backlight/10-0045");
    std::fs::create_dir_all(&panel).expect("mkdir");
    for (file, value) in [("max_brightness", "255"), ("brightness", "200"), ("bl_power", "0")] {
        std::fs::write(panel.join(file), format!("{value}\n")).expect("write");
    }
    let config = dir.join("config");
    for sub in ["ui", "capabilities"] {
        std::fs::create_dir_all(config.join(sub)).expect("mkdir");
        for entry in std::fs::read_dir(common::fixture("display").join(sub)).expect("fixture").flatten() {
            std::fs::copy(entry.path(), config.join(sub).join(entry.file_name())).expect("copy");
        }
    }
    let toml = std::fs::read_to_string(common::fixture("display/vitrine.toml")).expect("fixture");
    let display = format!(
        "[display]\nbacklight_root = \"{}\"\nbackends = [\"backlight\", \"overlay\"]\n",
        dir.join("backlight").display()
    );
    std::fs::write(config.join("vitrine.toml"), format!("{toml}\n{display}")).expect("write");
    (config, panel)
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

#[test]
fn the_display_light_turns_the_screen_off_and_on_and_sets_its_brightness() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (config, panel) = display_config(tmp.path());
    let bus = PrivateBus::session();
    let kiosk = Kiosk::start_with(&config.to_string_lossy(), &bus.env());
    kiosk.wait_ready();
    let display = || bus.status()["display"].clone();
    // The bridge announces what the kiosk has when it connects: a backlight, found.
    assert!(wait_until(WITHIN, || display()["brightness_backend"] == "backlight"), "{}\n{}", display(), kiosk.dump());
    let broker = Broker::start();
    let id = vitrine::mqtt::discovery::device_id(&machine_id(), "display fixture");
    let base = format!("vitrine/{id}");
    let results = broker.watch(&format!("{base}/result"));
    let bridge = Bridge::start(&bus, &broker, "");

    // A light with brightness, reading the state.
    let config_topic = format!("homeassistant/device/{id}/config");
    assert!(
        wait_until(WITHIN, || broker.retained(&config_topic).is_some()),
        "no discovery; bridge log:\n{}",
        bridge.log.all().join("\n")
    );
    let announced = broker.retained_json(&config_topic);
    let light = &announced["components"][format!("{id}_display")];
    assert_eq!(light["platform"], "light", "{announced}");
    assert_eq!(light["command_topic"], format!("{base}/display/set"));
    assert_eq!(light["state_topic"], format!("{base}/state"));
    assert_eq!(light["state_value_template"], "{{ value_json.display }}");
    assert_eq!(light["brightness_command_topic"], format!("{base}/brightness/set"));
    assert_eq!(light["brightness_value_template"], "{{ value_json.brightness }}");
    assert_eq!(light["brightness_scale"], 100);
    let state_topic = format!("{base}/state");
    let state = || broker.retained_json(&state_topic);
    // 200 of 255 is 78 %.
    assert!(wait_until(WITHIN, || state()["display"] == "ON" && state()["brightness"] == 78), "{}", state());

    // OFF: the panel's power goes off, ctl status and the state follow.
    broker.publish(&format!("{base}/display/set"), "OFF", false);
    assert!(
        wait_until(WITHIN, || display()["power"] == "off"),
        "not off: {}\n{}",
        display(),
        bridge.log.all().join("\n")
    );
    assert_eq!(read_trimmed(&panel.join("bl_power")), "4", "the backlight is powered down");
    assert!(wait_until(WITHIN, || state()["display"] == "OFF"), "{}", state());
    assert!(results.wait(|l| l.contains("display/set") && l.contains("\"ok\":true"), WITHIN).is_some());

    // ON wakes it.
    broker.publish(&format!("{base}/display/set"), "ON", false);
    assert!(wait_until(WITHIN, || display()["power"] == "on"), "not on: {}", display());
    assert_eq!(read_trimmed(&panel.join("bl_power")), "0");
    assert!(wait_until(WITHIN, || state()["display"] == "ON"), "{}", state());

    // Brightness in percent: 40 % of 255 is 102.
    broker.publish(&format!("{base}/brightness/set"), "40", false);
    assert!(wait_until(WITHIN, || read_trimmed(&panel.join("brightness")) == "102"), "{}", display());
    assert!(wait_until(WITHIN, || state()["brightness"] == 40), "{}", state());

    // Turned off some other way (ctl here; idle or the schedule alike), the state follows.
    assert_eq!(bus.ctl(&["display", "off"]).0, 0);
    assert!(wait_until(WITHIN, || state()["display"] == "OFF"), "poll missed it: {}", state());

    // Bad payloads are refused with a reason, and the screen stays as it is.
    broker.publish(&format!("{base}/display/set"), "dim", false);
    broker.publish(&format!("{base}/brightness/set"), "140", false);
    let refused = results.wait(|l| l.contains("brightness/set") && l.contains("bad_args"), WITHIN);
    assert!(refused.is_some(), "{:?}", results.all());
    assert!(
        results.all().iter().any(|l| l.contains("\"display/set\"") && l.contains("bad_args")),
        "{:?}",
        results.all()
    );
    assert_eq!(display()["power"], "off");
    assert_eq!(read_trimmed(&panel.join("brightness")), "102", "unchanged");
    assert!(kiosk.log.all().iter().all(|l| !l.contains("panicked")), "{}", kiosk.dump());
}

#[test]
fn over_mqtt_5_broker_and_kiosk_restarts_are_followed_and_the_kiosk_never_notices() {
    let bus = PrivateBus::session();
    let kiosk = bus.kiosk();
    let mut broker = Broker::start();
    let id = fixture_device_id();
    let base = format!("vitrine/{id}");
    let config_topic = format!("homeassistant/device/{id}/config");
    let availability = format!("{base}/availability");
    let mut bridge =
        Bridge::start_with(&bus, &broker, "ca", "protocol = \"5\"", "[homeassistant]\ndevice_discovery = false\n");

    assert!(
        wait_until(WITHIN, || broker.log().contains(&format!("as vitrine-{id} (p5,"))),
        "the bridge does not speak MQTT 5:\n{}",
        broker.log()
    );
    // The per-entity fallback: one retained config per entity, each with the device.
    let url_config = format!("homeassistant/text/{id}/url/config");
    assert!(wait_until(WITHIN, || broker.retained(&url_config).is_some()), "no per-entity discovery");
    assert_eq!(broker.retained_json(&url_config)["device"]["identifiers"][0], id.as_str());
    assert!(broker.retained(&config_topic).is_none(), "no device discovery when it is off");
    assert!(wait_until(WITHIN, || broker.retained_text(&availability) == "online"));

    // The broker goes (and with it every retained message: no persistence): the kiosk
    // and the bridge go on.
    broker.down();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(bus.ctl(&["ping"]).0, 0, "the kiosk answers while the broker is down");
    assert!(bridge.running(), "the bridge survives the broker:\n{}", bridge.log.all().join("\n"));
    let connects = bridge.log.count("connected to the broker");

    // It comes back: the bridge connects again, announces again and subscribes again.
    broker.up();
    assert!(
        wait_until(Duration::from_secs(45), || broker.retained(&url_config).is_some()),
        "no discovery after the broker came back:\n{}",
        bridge.log.all().join("\n")
    );
    assert!(bridge.log.count("connected to the broker") > connects);
    assert!(wait_until(WITHIN, || broker.retained_text(&availability) == "online"));
    let page2 = "app://localhost/page2.html";
    // Commands reach it again (the subscription is new: retry until it is in place).
    assert!(
        wait_until(WITHIN, || {
            broker.publish(&format!("{base}/url/set"), page2, false);
            wait_until(Duration::from_secs(2), || main_url(&bus) == page2)
        }),
        "no command after the reconnect"
    );

    // The kiosk goes: availability follows it, and comes back with it.
    drop(kiosk);
    assert!(wait_until(WITHIN, || broker.retained_text(&availability) == "offline"), "kiosk gone, still online");
    assert!(bridge.running());
    let kiosk = bus.kiosk();
    assert!(wait_until(WITHIN, || broker.retained_text(&availability) == "online"), "kiosk back, not online");
    assert_eq!(bus.ctl(&["ping"]).0, 0);
    // Page events follow the new kiosk, whose connection has another unique name.
    let emitted = broker.watch(&format!("{base}/emitted/#"));
    assert!(
        wait_until(WITHIN, || {
            broker.publish(&format!("{base}/event/from-mqtt"), r#"{"n":11}"#, false);
            emitted.wait(|l| l.contains(r#"{"echo":{"n":11}}"#), Duration::from_secs(2)).is_some()
        }),
        "no page event from the restarted kiosk:\n{}",
        bridge.log.all().join("\n")
    );
    drop(kiosk);
}

#[test]
fn tls_with_a_client_certificate_and_only_with_the_right_ca() {
    let bus = PrivateBus::session();
    let _kiosk = bus.kiosk();
    let broker = Broker::start_tls();
    let id = fixture_device_id();
    let availability = format!("vitrine/{id}/availability");
    let config_topic = format!("homeassistant/device/{id}/config");

    // Trusting another CA, the bridge refuses the broker's certificate and publishes nothing.
    let mut wrong = Bridge::start_with(&bus, &broker, "other-ca", "", "");
    let refused = wrong.log.wait(|l| l.contains("broker:") && l.contains("invalid peer certificate"), WITHIN);
    assert!(refused.is_some(), "no TLS failure logged:\n{}", wrong.log.all().join("\n"));
    assert!(wrong.running(), "a TLS failure is retried, not fatal");
    assert!(broker.retained(&availability).is_none(), "nothing got through");
    drop(wrong);

    // With the broker's CA and the client certificate (the broker takes its CN as the user),
    // and a screenshot every 2 s.
    let shots = broker.watch(&format!("vitrine/{id}/screenshot"));
    let bridge = Bridge::start(&bus, &broker, "[screenshot]\ninterval_secs = 2\n");
    assert!(
        wait_until(WITHIN, || broker.retained_text(&availability) == "online"),
        "not online over TLS:\n{}",
        bridge.log.all().join("\n")
    );
    assert_eq!(broker.retained_json(&config_topic)["device"]["identifiers"][0], id.as_str());
    // One on connecting, then one every interval (each message starts with its topic; the
    // PNG signature's first byte reads as U+FFFD).
    let shot = format!("vitrine/{id}/screenshot \u{fffd}PNG");
    assert!(
        wait_until(Duration::from_secs(20), || shots.count(&shot) >= 3),
        "{} screenshots in 20 s:\n{}",
        shots.count(&shot),
        bridge.log.all().join("\n")
    );
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

/// `vitrine mqtt --check --config FILE`: (exit code, stdout JSON, stderr).
fn check(config: &Path, creds: Option<&Path>) -> (i32, Value, String) {
    let mut cmd = Command::new(vitrine_bin());
    cmd.args(["mqtt", "--check", "--config"]).arg(config).env_remove("CREDENTIALS_DIRECTORY");
    if let Some(c) = creds {
        cmd.env("CREDENTIALS_DIRECTORY", c);
    }
    let out = cmd.output().expect("run vitrine mqtt");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_bad_configuration_is_refused_with_a_structured_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let cases = [
        ("missing.toml", None, "config_unreadable", "missing.toml"),
        ("syntax.toml", Some("[broker\nhost = 1"), "config_invalid", "syntax.toml"),
        ("unknown.toml", Some("[broker]\nhost = \"h\"\nhots = \"x\"\n"), "config_invalid", "hots"),
        ("port.toml", Some("[broker]\nhost = \"h\"\nport = 70000\n"), "config_invalid", "port"),
        ("prefix.toml", Some("topic_prefix = \"a/+\"\n[broker]\nhost = \"h\"\n"), "config_invalid", "topic_prefix"),
        (
            "nocred.toml",
            Some("[broker]\nhost = \"h\"\nusername = \"u\"\npassword_credential = \"pw\"\n"),
            "credential",
            "CREDENTIALS_DIRECTORY",
        ),
        (
            "noca.toml",
            Some("[broker]\nhost = \"h\"\n[broker.tls]\nca_file = \"/nonexistent/ca.pem\"\n"),
            "tls",
            "ca.pem",
        ),
    ];
    for (name, text, code, needle) in cases {
        let path = match text {
            Some(t) => write(d, name, t),
            None => d.join(name),
        };
        let (exit, json, err) = check(&path, None);
        assert_eq!(exit, 2, "{name}: {err}");
        assert_eq!(json["error"]["code"], code, "{name}: {json}");
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{name}: {message}");
        assert!(err.contains(needle), "{name}: stderr {err}");
    }
    // The credential is found in $CREDENTIALS_DIRECTORY: then the file is good.
    let creds = d.join("creds");
    std::fs::create_dir(&creds).expect("mkdir");
    std::fs::write(creds.join("pw"), "x\n").expect("write");
    let (exit, _, err) = check(&d.join("nocred.toml"), Some(&creds));
    assert_eq!(exit, 0, "{err}");
    // The shipped example is valid.
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/mqtt/mqtt.toml");
    std::fs::write(creds.join("mqtt-password"), "x\n").expect("write");
    let (exit, json, err) = check(&example, Some(&creds));
    assert_eq!(exit, 0, "{json} {err}");
}

#[test]
fn the_update_entity_installs_the_announced_bundle_through_rauc() {
    use common::rauc::{BundleServer, Rauc, COMPATIBLE};
    if !(common::installed("rauc") && common::installed("mksquashfs") && common::running_as_root()) {
        common::skip(
            "the_update_entity_installs_the_announced_bundle_through_rauc",
            "needs rauc, squashfs-tools, root",
        );
        return;
    }
    let bus = PrivateBus::session();
    let rauc = Rauc::start(&bus);
    // RAUC's bus is the kiosk's system bus.
    let mut env = bus.env().to_vec();
    env.push(("DBUS_SYSTEM_BUS_ADDRESS", &bus.address));
    let kiosk = Kiosk::start_with("dbus", &env);
    kiosk.wait_ready();
    let broker = Broker::start();
    let id = fixture_device_id();
    let base = format!("vitrine/{id}");
    let results = broker.watch(&format!("{base}/result"));
    let bridge = Bridge::start(&bus, &broker, "");

    let config_topic = format!("homeassistant/device/{id}/config");
    assert!(wait_until(WITHIN, || broker.retained(&config_topic).is_some()), "{}", bridge.log.all().join("\n"));
    let config = broker.retained_json(&config_topic);
    let entity = &config["components"][format!("{id}_image")];
    assert_eq!(entity["platform"], "update", "{config}");
    assert_eq!(entity["device_class"], "firmware");
    assert_eq!(entity["command_topic"], format!("{base}/update/install"));
    assert_eq!(entity["payload_install"], "INSTALL");
    let state_topic = format!("{base}/update/state");
    assert_eq!(entity["state_topic"], state_topic);
    assert!(wait_until(WITHIN, || broker.retained(&state_topic).is_some()), "no update state");
    let state = broker.retained_json(&state_topic);
    assert_eq!(state["in_progress"], false, "{state}");
    let installed = state["installed_version"].as_str().expect("a version").to_string();
    assert_eq!(state["latest_version"], installed.as_str(), "nothing announced: up to date");

    // INSTALL with nothing announced is refused, with the reason.
    broker.publish(&format!("{base}/update/install"), "INSTALL", false);
    let refused = results.wait(|l| l.contains("update/install") && l.contains("no bundle announced"), WITHIN);
    assert!(refused.is_some_and(|l| l.contains("\"bad_args\"")), "{:?}", results.all());

    // The fleet announces a bundle (retained); Home Assistant sees it as the latest version.
    rauc.bundle("good", "2.0.0", COMPATIBLE, "ca");
    let server = BundleServer::serve(rauc.dir.path());
    let url = format!("http://127.0.0.1:{}/good.raucb", server.port);
    let latest = format!(r#"{{"version":"2.0.0","url":"{url}","summary":"test release"}}"#);
    broker.publish(&format!("{base}/update/latest"), &latest, true);
    assert!(
        wait_until(WITHIN, || broker.retained_json(&state_topic)["latest_version"] == "2.0.0"),
        "{}",
        broker.retained_text(&state_topic)
    );
    assert_eq!(broker.retained_json(&state_topic)["release_summary"], "test release");

    // Install: taken, then done, and slot B holds the bundle's image.
    broker.publish(&format!("{base}/update/install"), "INSTALL", false);
    let done = results.wait(|l| l.contains("update/install") && l.contains("\"done\":true"), Duration::from_secs(60));
    let done = done.unwrap_or_else(|| panic!("{:?}\n{}\n{}", results.all(), bridge.log.all().join("\n"), rauc.log()));
    assert!(done.contains("\"ok\":true") && done.contains("\"version\":\"2.0.0\""), "{done}");
    assert!(
        results.all().iter().any(|l| l.ends_with(r#"{"command":"update/install","ok":true}"#)),
        "{:?}",
        results.all()
    );
    assert_eq!(rauc.slot_b(), Rauc::image("2.0.0"));
    // Still running the old slot: the entity says so until the reboot.
    let state = broker.retained_json(&state_topic);
    assert_eq!(
        (state["installed_version"].as_str(), state["in_progress"].as_bool()),
        (Some(installed.as_str()), Some(false))
    );

    // A tampered bundle at the announced URL: refused by RAUC, reported as such.
    let good = std::fs::read(rauc.dir.path().join("good.raucb")).unwrap();
    let mut bad = good.clone();
    bad[300] ^= 0x55;
    std::fs::write(rauc.dir.path().join("bad.raucb"), bad).unwrap();
    broker.publish(&format!("{base}/update/install"), &format!("http://127.0.0.1:{}/bad.raucb", server.port), false);
    let refused = results.wait(|l| l.contains("\"done\":true") && l.contains("\"ok\":false"), Duration::from_secs(60));
    assert!(refused.is_some_and(|l| l.contains("bad_signature")), "{:?}", results.all());
    assert_eq!(rauc.slot_b(), Rauc::image("2.0.0"), "nothing written");
    assert_eq!(bus.status()["ready"], true, "the kiosk runs on");
    drop(kiosk);
}
