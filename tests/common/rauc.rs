//! A real `rauc service` of the test's own: a development CA made with openssl, two
//! file-backed raw slots, `bootloader=noop` with slot A booted, on a private bus that
//! RAUC takes for the system bus (`DBUS_SYSTEM_BUS_ADDRESS`, which GLib honours).
//!
//! Bundles are built and signed here with `rauc bundle` (squashfs-tools). They are in
//! the `plain` format: `verity` bundles need device-mapper, which this machine kind's
//! kernel lacks (no /dev/mapper/control); the image's qemu boot tests cover verity.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{wait_until, PrivateBus};

pub const COMPATIBLE: &str = "vitrine-test";
/// Size of each slot and of the image a bundle carries.
const IMAGE_BYTES: usize = 64 * 1024;

pub struct Rauc {
    pub dir: tempfile::TempDir,
    child: Child,
}

/// `openssl ARGS` in `dir`; panics on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").current_dir(dir).args(args).output().expect("openssl (package openssl)");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A self-signed CA `NAME.pem` with its key `NAME.key`.
fn make_ca(dir: &Path, name: &str) {
    let (cert, key) = (format!("{name}.pem"), format!("{name}.key"));
    let subject = format!("/CN=vitrine test {name}");
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &cert, "-subj", &subject,
            "-days", "2",
        ],
    );
}

impl Rauc {
    /// RAUC on `bus`, its keyring the CA `ca`; slot A (`rootfs.0`) booted.
    pub fn start(bus: &PrivateBus) -> Rauc {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        make_ca(d, "ca");
        make_ca(d, "other-ca");
        for slot in ["slot-a.img", "slot-b.img"] {
            std::fs::write(d.join(slot), vec![0u8; IMAGE_BYTES]).expect("slot file");
        }
        std::fs::create_dir_all(d.join("data")).expect("mkdir");
        std::fs::create_dir_all(d.join("mnt")).expect("mkdir");
        let conf = format!(
            "[system]\ncompatible={COMPATIBLE}\nbootloader=noop\ndata-directory={0}/data\n\n\
             [keyring]\npath={0}/ca.pem\n\n\
             [slot.rootfs.0]\ndevice={0}/slot-a.img\ntype=raw\nbootname=A\n\n\
             [slot.rootfs.1]\ndevice={0}/slot-b.img\ntype=raw\nbootname=B\n",
            d.display()
        );
        std::fs::write(d.join("system.conf"), conf).expect("system.conf");
        let child = Command::new("rauc")
            .arg(format!("--conf={}", d.join("system.conf").display()))
            .arg(format!("--mount={}", d.join("mnt").display()))
            .args(["service", "--override-boot-slot=A"])
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdout(Stdio::null())
            .stderr(Stdio::from(std::fs::File::create(d.join("rauc.log")).expect("log file")))
            .spawn()
            .expect("rauc (packages rauc, rauc-service)");
        let rauc = Rauc { dir, child };
        let up = wait_until(Duration::from_secs(10), || {
            Command::new("busctl")
                .arg(format!("--address={}", bus.address))
                .args(["status", "de.pengutronix.rauc"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        assert!(up, "rauc service did not come up:\n{}", rauc.log());
        rauc
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rauc.log")).unwrap_or_default()
    }

    /// The image a bundle of `version` carries: recognisable bytes.
    pub fn image(version: &str) -> Vec<u8> {
        let mut bytes: Vec<u8> = format!("vitrine image {version}\n").into_bytes();
        bytes.resize(IMAGE_BYTES, 0x5a);
        bytes
    }

    /// A bundle `NAME.raucb` of `version`, signed by `ca` (`"ca"`: the keyring's).
    pub fn bundle(&self, name: &str, version: &str, compatible: &str, ca: &str) -> PathBuf {
        let d = self.dir.path();
        let content = d.join(format!("{name}.content"));
        std::fs::create_dir_all(&content).expect("mkdir");
        std::fs::write(content.join("rootfs.img"), Self::image(version)).expect("image");
        let manifest = format!(
            "[update]\ncompatible={compatible}\nversion={version}\n\n[bundle]\nformat=plain\n\n\
             [image.rootfs]\nfilename=rootfs.img\n"
        );
        std::fs::write(content.join("manifest.raucm"), manifest).expect("manifest");
        let out = d.join(format!("{name}.raucb"));
        let made = Command::new("rauc")
            .arg(format!("--cert={}", d.join(format!("{ca}.pem")).display()))
            .arg(format!("--key={}", d.join(format!("{ca}.key")).display()))
            .arg("bundle")
            .arg(&content)
            .arg(&out)
            .output()
            .expect("rauc bundle (package squashfs-tools too)");
        assert!(made.status.success(), "rauc bundle: {}", String::from_utf8_lossy(&made.stderr));
        out
    }

    /// The contents of slot B.
    pub fn slot_b(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("slot-b.img")).expect("slot B")
    }
}

impl Drop for Rauc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `python3 -m http.server` on a directory: bundles are bytes, served as they are.
pub struct BundleServer {
    child: Child,
    pub port: u16,
}

impl BundleServer {
    pub fn serve(dir: &Path) -> BundleServer {
        let port = super::closed_port();
        let child = Command::new("python3")
            .args(["-m", "http.server", "--bind", "127.0.0.1"])
            .arg(port.to_string())
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3");
        let up = wait_until(Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(up, "python3 -m http.server did not listen");
        BundleServer { child, port }
    }
}

impl Drop for BundleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
