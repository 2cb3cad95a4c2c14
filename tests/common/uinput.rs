//! A touch screen made with uinput, for tests that run under a kernel that has it (the
//! qemu guest of scripts/kernel-vm; this machine's kernel has no uinput).

use std::time::{Duration, Instant};

/// A single-touch screen made with uinput: absolute X and Y from 0 to `MAX`, a touch
/// button, and the "direct" property (a screen, not a tablet).
pub struct TouchPanel(std::fs::File);

pub const MAX: i32 = 4095;

impl TouchPanel {
    /// A panel the kernel calls `name`.
    pub fn create(name: &str) -> Self {
        use std::io::Write;
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new().write(true).open("/dev/uinput").expect("/dev/uinput");
        let fd = file.as_raw_fd();
        // <linux/uinput.h>: _IOW('U', n, int) and _IO('U', 1).
        let set = |nr: u64, value: libc::c_int| {
            let request = (1u64 << 30) | (4 << 16) | (u64::from(b'U') << 8) | nr;
            // SAFETY: the UI_SET_* ioctls take an int by value.
            let r = unsafe { libc::ioctl(fd, request as _, value) };
            assert!(r >= 0, "uinput ioctl {nr}: {}", std::io::Error::last_os_error());
        };
        set(100, 1); // UI_SET_EVBIT EV_KEY
        set(100, 3); // EV_ABS
        set(101, 0x14a); // UI_SET_KEYBIT BTN_TOUCH
        set(103, 0); // UI_SET_ABSBIT ABS_X
        set(103, 1); // ABS_Y
        set(110, 1); // UI_SET_PROPBIT INPUT_PROP_DIRECT
                     // struct uinput_user_dev: name[80], input_id (4 × u16), ff_effects_max (u32),
                     // absmax, absmin, absfuzz, absflat (64 × i32 each).
        let mut dev = vec![0u8; 80 + 8 + 4 + 4 * 64 * 4];
        dev[..name.len()].copy_from_slice(name.as_bytes());
        dev[80..82].copy_from_slice(&3u16.to_ne_bytes()); // BUS_USB
        for axis in [0usize, 1] {
            let at = 92 + axis * 4;
            dev[at..at + 4].copy_from_slice(&MAX.to_ne_bytes());
        }
        let mut file = file;
        file.write_all(&dev).expect("uinput_user_dev");
        // SAFETY: UI_DEV_CREATE takes no argument.
        let r = unsafe { libc::ioctl(fd, 0x5501, 0) };
        assert!(r >= 0, "UI_DEV_CREATE: {}", std::io::Error::last_os_error());
        Self(file)
    }

    /// The device node the kernel made for it.
    pub fn event_node(name: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            for entry in std::fs::read_dir("/sys/class/input").expect("sysfs").flatten() {
                let name_of = std::fs::read_to_string(entry.path().join("device/name")).unwrap_or_default();
                let node = entry.file_name().to_string_lossy().to_string();
                if name_of.trim() == name && node.starts_with("event") {
                    return format!("/dev/input/{node}");
                }
            }
            assert!(Instant::now() < deadline, "no event node for the uinput panel");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn event(&mut self, kind: u16, code: u16, value: i32) {
        use std::io::Write;
        // struct input_event on 64-bit: a timeval (16 bytes), type, code, value.
        let mut e = [0u8; 24];
        e[16..18].copy_from_slice(&kind.to_ne_bytes());
        e[18..20].copy_from_slice(&code.to_ne_bytes());
        e[20..24].copy_from_slice(&value.to_ne_bytes());
        self.0.write_all(&e).expect("input event");
    }

    /// A tap at the panel's own (u, v), each from 0 to 1.
    pub fn tap(&mut self, u: f64, v: f64) {
        let scale = |f: f64| (f * f64::from(MAX)).round() as i32;
        self.event(3, 0, scale(u));
        self.event(3, 1, scale(v));
        self.event(1, 0x14a, 1);
        self.event(0, 0, 0);
        std::thread::sleep(Duration::from_millis(100));
        self.event(1, 0x14a, 0);
        self.event(0, 0, 0);
        std::thread::sleep(Duration::from_millis(300));
    }
}
