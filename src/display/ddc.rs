//! DDC/CI (VESA's Display Data Channel Command Interface) over the monitor's I2C bus
//! (`/dev/i2c-N`, Linux's i2c-dev): a monitor's power mode (VCP feature 0xD6) and its
//! brightness (VCP 0x10), as a monitor's own buttons set them.
//!
//! A message to the monitor (I2C address 0x37) is the host's source address 0x51, a
//! length byte (0x80 | n), n payload bytes and a checksum: the XOR of the monitor's
//! 8-bit write address 0x6E and every byte before it. A reply starts with 0x6E and is
//! checked against 0x50 the same way. Monitors are slow: a reply may be read 40 ms after
//! the request, the next request sent 50 ms after a set; a monitor still busy answers
//! the "null message" and is asked again.
//!
//! Which buses: `display.ddc_devices` (paths or globs), else the buses the kernel's DRM
//! drivers name as their connectors' DDC channel (`/sys/class/drm/card*-*/ddc`), never
//! every I2C bus (a board's other buses hold its power management chips). Off is
//! power mode 4 (DPM off: the monitor wakes on a signal or on mode 1), not 5 (which
//! some monitors treat as their power button, and then ignore DDC until pressed).
//! The kernel interface is not in this machine's kernel, so the tests talk to a fake
//! monitor through the [`I2c`] seam; what a real monitor does only a monitor shows.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Backend, DisplayError};
use crate::config::display::BackendKind;

/// The monitor's 7-bit I2C address for DDC/CI.
const DDC_ADDR: u64 = 0x37;
/// Linux's `I2C_SLAVE` ioctl: the address later reads and writes go to.
const I2C_SLAVE: u64 = 0x0703;
const HOST: u8 = 0x51;
const MONITOR_WRITE: u8 = 0x6e;
const REPLY_SEED: u8 = 0x50;

const GET_VCP: u8 = 0x01;
const GET_VCP_REPLY: u8 = 0x02;
const SET_VCP: u8 = 0x03;

pub const VCP_BRIGHTNESS: u8 = 0x10;
pub const VCP_POWER_MODE: u8 = 0xd6;
const POWER_ON: u16 = 1;
const POWER_OFF: u16 = 4;

const REPLY_DELAY: Duration = Duration::from_millis(40);
const SET_DELAY: Duration = Duration::from_millis(50);
const ATTEMPTS: usize = 3;

/// The bus to one monitor: plain I2C writes and reads to its DDC/CI address.
pub trait I2c: Send {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<()>;
}

/// `/dev/i2c-N` with the monitor's address selected.
pub struct I2cDev(File);

impl I2cDev {
    pub fn open(path: &Path) -> Result<Self, DisplayError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| DisplayError::Unavailable(format!("{}: {e}", path.display())))?;
        // SAFETY: I2C_SLAVE takes the address as the argument itself, no pointer.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), I2C_SLAVE as _, DDC_ADDR as libc::c_ulong) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            return Err(DisplayError::Unavailable(format!("{}: not an I2C bus ({e})", path.display())));
        }
        Ok(Self(file))
    }
}

impl I2c for I2cDev {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.0.write_all(bytes)
    }
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
        self.0.read_exact(buf)
    }
}

fn xor(seed: u8, bytes: &[u8]) -> u8 {
    bytes.iter().fold(seed, |acc, b| acc ^ b)
}

/// A request as it goes on the bus.
pub fn request(payload: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(payload.len() + 3);
    bytes.push(HOST);
    bytes.push(0x80 | payload.len() as u8);
    bytes.extend_from_slice(payload);
    bytes.push(xor(MONITOR_WRITE, &bytes));
    bytes
}

/// What a Get VCP Feature reply says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vcp {
    pub current: u16,
    pub max: u16,
}

/// Why a reply is no answer (yet).
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Value(Vcp),
    /// The null message: the monitor is busy, or has nothing to say.
    Busy,
    Unsupported,
    Garbled(String),
}

/// Reads a Get VCP Feature reply (`buf` as read, 11 bytes) for `code`.
fn parse_reply(code: u8, buf: &[u8]) -> Reply {
    if buf.len() < 3 || buf[0] != MONITOR_WRITE {
        return Reply::Garbled(format!("reply starts {:02x?}", &buf[..buf.len().min(2)]));
    }
    let len = usize::from(buf[1] & 0x7f);
    if buf[1] & 0x80 == 0 || 3 + len > buf.len() {
        return Reply::Garbled(format!("length byte 0x{:02x}", buf[1]));
    }
    if xor(REPLY_SEED, &buf[..2 + len]) != buf[2 + len] {
        return Reply::Garbled("bad checksum".into());
    }
    if len == 0 {
        return Reply::Busy;
    }
    let p = &buf[2..2 + len];
    if len != 8 || p[0] != GET_VCP_REPLY || p[2] != code {
        return Reply::Garbled(format!("unexpected reply {p:02x?}"));
    }
    if p[1] != 0 {
        return Reply::Unsupported;
    }
    Reply::Value(Vcp { max: u16::from_be_bytes([p[4], p[5]]), current: u16::from_be_bytes([p[6], p[7]]) })
}

/// One monitor.
pub struct Monitor<B: I2c> {
    bus: B,
    name: String,
    sleep: fn(Duration),
}

fn io(name: &str, e: impl std::fmt::Display) -> DisplayError {
    DisplayError::Io(format!("DDC/CI {name}: {e}"))
}

impl<B: I2c> Monitor<B> {
    pub fn new(bus: B, name: impl Into<String>) -> Self {
        Self { bus, name: name.into(), sleep: std::thread::sleep }
    }

    /// With another way to wait (tests: none).
    pub fn with_sleep(mut self, sleep: fn(Duration)) -> Self {
        self.sleep = sleep;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn get(&mut self, code: u8) -> Result<Vcp, DisplayError> {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            self.bus.write(&request(&[GET_VCP, code])).map_err(|e| io(&self.name, no_monitor(e)))?;
            (self.sleep)(REPLY_DELAY);
            let mut buf = [0u8; 11];
            self.bus.read(&mut buf).map_err(|e| io(&self.name, no_monitor(e)))?;
            match parse_reply(code, &buf) {
                Reply::Value(v) => return Ok(v),
                Reply::Unsupported => {
                    return Err(io(&self.name, format!("the monitor does not support VCP 0x{code:02x}")))
                }
                Reply::Busy => last = "the monitor stayed busy".into(),
                Reply::Garbled(why) => last = why,
            }
            (self.sleep)(SET_DELAY);
        }
        Err(io(&self.name, format!("VCP 0x{code:02x}: {last}")))
    }

    pub fn set(&mut self, code: u8, value: u16) -> Result<(), DisplayError> {
        let [hi, lo] = value.to_be_bytes();
        self.bus.write(&request(&[SET_VCP, code, hi, lo])).map_err(|e| io(&self.name, no_monitor(e)))?;
        // A set has no reply; the monitor needs this long before the next request.
        (self.sleep)(SET_DELAY);
        Ok(())
    }
}

/// A write nobody acknowledges fails with EREMOTEIO (or ENXIO) on i2c-dev.
fn no_monitor(e: std::io::Error) -> String {
    match e.raw_os_error() {
        Some(libc::EREMOTEIO) | Some(libc::ENXIO) => {
            "no monitor answers (none plugged in, DDC/CI off in its menu, or asleep)".into()
        }
        Some(libc::EOPNOTSUPP) => {
            "the bus does no plain I2C transfers (SMBus only: not a monitor's DDC channel)".into()
        }
        _ => e.to_string(),
    }
}

/// Every monitor that answered, powered together; brightness on each.
pub struct Ddc<B: I2c = I2cDev> {
    monitors: Vec<Monitor<B>>,
    /// The last brightness read or set, in percent (VCP 0x10 against its maximum).
    brightness: Option<u8>,
}

/// The buses to try: the configured paths and globs, else the DRM connectors' DDC
/// channels under `sysfs` (`/sys` on a device).
pub fn buses(configured: &[String], sysfs: &Path) -> Vec<PathBuf> {
    if !configured.is_empty() {
        let mut found = Vec::new();
        for pattern in configured {
            let matched: Vec<PathBuf> = glob::glob(pattern).map(|p| p.flatten().collect()).unwrap_or_default();
            // A path that matches nothing is still tried, so that the log says it is absent.
            if matched.is_empty() {
                found.push(PathBuf::from(pattern));
            }
            found.extend(matched);
        }
        return found;
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(sysfs.join("class/drm"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|connector| {
            // `ddc` links to the bus's device, named `i2c-N` as its i2c-dev node.
            let target = std::fs::read_link(connector.path().join("ddc")).ok()?;
            let name = target.file_name()?.to_str()?.to_string();
            name.starts_with("i2c-").then(|| PathBuf::from("/dev").join(name))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

impl Ddc<I2cDev> {
    /// The monitors on `configured` (or the DRM connectors' buses) that answer DDC/CI.
    pub fn probe(configured: &[String], sysfs: &Path) -> Result<Self, DisplayError> {
        let paths = buses(configured, sysfs);
        if paths.is_empty() {
            return Err(DisplayError::Unavailable(
                "no DDC bus (no /sys/class/drm/*/ddc, and display.ddc_devices is empty)".into(),
            ));
        }
        let mut tried = Vec::new();
        let mut monitors = Vec::new();
        for path in paths {
            match I2cDev::open(&path) {
                Ok(bus) => monitors.push(Monitor::new(bus, path.display().to_string())),
                Err(e) => tried.push(e.to_string()),
            }
        }
        Self::from_monitors(monitors, tried)
    }
}

impl<B: I2c> Ddc<B> {
    /// Keeps the monitors that report a power mode; fails when none does.
    pub fn from_monitors(candidates: Vec<Monitor<B>>, mut tried: Vec<String>) -> Result<Self, DisplayError> {
        let mut monitors = Vec::new();
        for mut m in candidates {
            match m.get(VCP_POWER_MODE) {
                Ok(_) => monitors.push(m),
                Err(e) => tried.push(e.to_string()),
            }
        }
        if monitors.is_empty() {
            return Err(DisplayError::Unavailable(tried.join("; ")));
        }
        let mut ddc = Self { monitors, brightness: None };
        ddc.brightness = ddc.read_brightness();
        Ok(ddc)
    }

    pub fn describe(&self) -> String {
        self.monitors.iter().map(|m| m.name()).collect::<Vec<_>>().join(", ")
    }

    fn read_brightness(&mut self) -> Option<u8> {
        let v = self.monitors.first_mut()?.get(VCP_BRIGHTNESS).ok()?;
        percent(v)
    }
}

fn percent(v: Vcp) -> Option<u8> {
    if v.max == 0 {
        return None;
    }
    u8::try_from((u32::from(v.current.min(v.max)) * 100 + u32::from(v.max) / 2) / u32::from(v.max)).ok()
}

impl<B: I2c> Backend for Ddc<B> {
    fn kind(&self) -> BackendKind {
        BackendKind::Ddc
    }

    fn set_power(&mut self, on: bool) -> Result<(), DisplayError> {
        let mode = if on { POWER_ON } else { POWER_OFF };
        let errors: Vec<String> =
            self.monitors.iter_mut().filter_map(|m| m.set(VCP_POWER_MODE, mode).err().map(|e| e.to_string())).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DisplayError::Io(errors.join("; ")))
        }
    }

    fn has_brightness(&self) -> bool {
        self.brightness.is_some()
    }

    fn brightness(&self) -> Option<u8> {
        self.brightness
    }

    fn set_brightness(&mut self, percent_wanted: u8) -> Result<(), DisplayError> {
        let mut errors = Vec::new();
        for m in &mut self.monitors {
            // Each monitor has its own maximum (often 100, not always).
            let result = m.get(VCP_BRIGHTNESS).and_then(|v| {
                let value = (u32::from(percent_wanted.min(100)) * u32::from(v.max) + 50) / 100;
                m.set(VCP_BRIGHTNESS, value as u16)
            });
            if let Err(e) = result {
                errors.push(e.to_string());
            }
        }
        self.brightness = self.read_brightness().or(self.brightness);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(DisplayError::Io(errors.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAKE monitor: the monitor's side of DDC/CI as the VESA standard describes it,
    /// written apart from the host's code above (it checks the host's checksum, answers
    /// with its own, is busy when told). Linux's i2c-dev is not in this machine's kernel,
    /// and vivid has no DDC: what a real monitor does only a monitor shows.
    #[derive(Default)]
    struct FakeMonitor {
        power: u16,
        brightness: u16,
        max_brightness: u16,
        /// The reply the next read returns.
        pending: Vec<u8>,
        /// This many reads answer the null message first.
        busy: usize,
        /// This many replies go out with a broken checksum first.
        garble: usize,
        /// Requests whose checksum was wrong (a monitor drops them).
        rejected: usize,
        /// Every request, as received.
        log: Vec<Vec<u8>>,
        unplugged: bool,
    }

    fn monitor_reply(payload: &[u8]) -> Vec<u8> {
        let mut out = vec![0x6e, 0x80 | payload.len() as u8];
        out.extend_from_slice(payload);
        let sum = out.iter().fold(0x50u8, |a, b| a ^ b);
        out.push(sum);
        out
    }

    impl I2c for FakeMonitor {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
            if self.unplugged {
                return Err(std::io::Error::from_raw_os_error(libc::EREMOTEIO));
            }
            self.log.push(bytes.to_vec());
            let sum = bytes[..bytes.len() - 1].iter().fold(0x6eu8, |a, b| a ^ b);
            let n = usize::from(bytes[1] & 0x7f);
            if bytes[0] != 0x51 || bytes.len() != n + 3 || sum != bytes[bytes.len() - 1] {
                self.rejected += 1;
                return Ok(());
            }
            let payload = &bytes[2..2 + n];
            match payload {
                [0x01, code] => {
                    let (result, max, cur) = match code {
                        0x10 => (0, self.max_brightness, self.brightness),
                        0xd6 => (0, 5, self.power),
                        _ => (1, 0, 0),
                    };
                    let [mh, ml] = max.to_be_bytes();
                    let [ch, cl] = cur.to_be_bytes();
                    self.pending = monitor_reply(&[0x02, result, *code, 0x00, mh, ml, ch, cl]);
                }
                [0x03, 0x10, hi, lo] => self.brightness = u16::from_be_bytes([*hi, *lo]).min(self.max_brightness),
                [0x03, 0xd6, hi, lo] => self.power = u16::from_be_bytes([*hi, *lo]),
                _ => {}
            }
            Ok(())
        }

        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<()> {
            let mut reply = if self.busy > 0 {
                self.busy -= 1;
                monitor_reply(&[])
            } else {
                std::mem::take(&mut self.pending)
            };
            if self.garble > 0 && reply.len() > 3 {
                self.garble -= 1;
                let last = reply.len() - 1;
                reply[last] ^= 0xff;
            }
            buf.fill(0xff);
            let n = reply.len().min(buf.len());
            buf[..n].copy_from_slice(&reply[..n]);
            Ok(())
        }
    }

    fn no_wait(_: Duration) {}

    fn fake(power: u16, brightness: u16, max: u16) -> FakeMonitor {
        FakeMonitor { power, brightness, max_brightness: max, ..FakeMonitor::default() }
    }

    fn ddc(m: FakeMonitor) -> Ddc<FakeMonitor> {
        Ddc::from_monitors(vec![Monitor::new(m, "fake-i2c-7").with_sleep(no_wait)], Vec::new()).expect("answers")
    }

    #[test]
    fn requests_carry_the_checksum_the_standard_gives() {
        // Get VCP 0x10, as every DDC/CI tool sends it.
        assert_eq!(request(&[0x01, 0x10]), [0x51, 0x82, 0x01, 0x10, 0xac]);
        // Set VCP 0xD6 to 4 (off).
        assert_eq!(request(&[0x03, 0xd6, 0x00, 0x04]), [0x51, 0x84, 0x03, 0xd6, 0x00, 0x04, 0x6a]);
    }

    #[test]
    fn power_and_brightness_reach_the_monitor() {
        let mut d = ddc(fake(1, 30, 100));
        assert_eq!(d.brightness(), Some(30));
        d.set_power(false).expect("off");
        assert_eq!(d.monitors[0].bus.power, 4, "DPM off, not the power button's 5");
        d.set_power(true).expect("on");
        assert_eq!(d.monitors[0].bus.power, 1);
        d.set_brightness(75).expect("75 %");
        assert_eq!(d.monitors[0].bus.brightness, 75);
        assert_eq!(d.brightness(), Some(75));
        assert_eq!(d.monitors[0].bus.rejected, 0, "every request had a good checksum");
    }

    #[test]
    fn brightness_is_scaled_to_the_monitors_maximum() {
        let mut d = ddc(fake(1, 200, 400));
        assert_eq!(d.brightness(), Some(50));
        d.set_brightness(25).expect("25 %");
        assert_eq!(d.monitors[0].bus.brightness, 100);
        d.set_brightness(250).expect("clamped");
        assert_eq!(d.monitors[0].bus.brightness, 400);
    }

    #[test]
    fn a_busy_monitor_is_asked_again_and_a_garbled_reply_is_not_believed() {
        let mut m = fake(1, 10, 100);
        m.busy = 2;
        let mut d = ddc(m);
        assert_eq!(d.monitors[0].bus.log.iter().filter(|r| r[2] == 0x01 && r[3] == 0xd6).count(), 3);
        d.monitors[0].bus.garble = 1;
        assert_eq!(d.monitors[0].get(VCP_BRIGHTNESS).expect("second try").current, 10);
        d.monitors[0].bus.garble = 5;
        let e = d.monitors[0].get(VCP_BRIGHTNESS).expect_err("never a good reply");
        assert!(e.to_string().contains("bad checksum"), "{e}");
    }

    #[test]
    fn a_monitor_without_ddc_ci_is_not_a_backend_and_one_that_goes_says_so() {
        let mut m = fake(1, 10, 100);
        m.unplugged = true;
        let e = Ddc::from_monitors(vec![Monitor::new(m, "i2c-3").with_sleep(no_wait)], vec!["i2c-4: x".into()]);
        let Err(DisplayError::Unavailable(why)) = e else { panic!("unavailable") };
        assert!(why.contains("no monitor answers") && why.contains("i2c-4"), "{why}");

        let mut d = ddc(fake(1, 10, 100));
        d.monitors[0].bus.unplugged = true;
        let e = d.set_power(false).expect_err("unplugged");
        assert!(e.to_string().contains("fake-i2c-7"), "{e}");
        // Brightness stays what it was last known to be.
        assert!(d.set_brightness(90).is_err());
        assert_eq!(d.brightness(), Some(10));
    }

    #[test]
    fn unsupported_features_and_odd_replies_are_errors_not_panics() {
        let mut d = ddc(fake(1, 10, 100));
        let e = d.monitors[0].get(0x62).expect_err("no audio volume here");
        assert!(e.to_string().contains("does not support VCP 0x62"), "{e}");
        for buf in [&[][..], &[0x6e][..], &[0x6e, 0xff, 0, 0][..], &[0x00; 11][..], &[0x6e, 0x7f, 0x00][..]] {
            assert!(matches!(parse_reply(0x10, buf), Reply::Garbled(_)), "{buf:02x?}");
        }
    }

    #[test]
    fn buses_come_from_the_configuration_or_the_drm_connectors() {
        let sys = tempfile::tempdir().expect("tempdir");
        let drm = sys.path().join("class/drm");
        std::fs::create_dir_all(drm.join("card0-HDMI-A-1")).expect("mkdir");
        std::fs::create_dir_all(drm.join("card0-HDMI-A-2")).expect("mkdir");
        std::fs::create_dir_all(drm.join("card0")).expect("mkdir");
        std::os::unix::fs::symlink("../../../devices/platform/fef05700.hdmi/i2c-21", drm.join("card0-HDMI-A-2/ddc"))
            .expect("link");
        std::os::unix::fs::symlink("../../../devices/platform/fef00700.hdmi/i2c-20", drm.join("card0-HDMI-A-1/ddc"))
            .expect("link");
        assert_eq!(buses(&[], sys.path()), [PathBuf::from("/dev/i2c-20"), PathBuf::from("/dev/i2c-21")]);
        assert_eq!(buses(&["/dev/i2c-9".into()], sys.path()), [PathBuf::from("/dev/i2c-9")]);
        assert!(buses(&[], &sys.path().join("absent")).is_empty());
        // A path that is not an I2C bus: unavailable, with the reason.
        let not_i2c = sys.path().join("i2c-5");
        std::fs::write(&not_i2c, b"").expect("write");
        let Err(DisplayError::Unavailable(why)) = Ddc::probe(&[not_i2c.display().to_string()], sys.path()) else {
            panic!("unavailable")
        };
        assert!(why.contains("not an I2C bus"), "{why}");
    }
}
