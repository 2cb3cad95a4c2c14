//! The sysfs backlight (`/sys/class/backlight/<name>/`): DSI panels such as the
//! Raspberry Pi touch display, and laptops' panels.
//!
//! `bl_power` turns the light off (4, `FB_BLANK_POWERDOWN`) and on (0); `brightness`
//! goes from 0 to `max_brightness`. A panel without `bl_power` is turned off by a
//! brightness of 0 and given its old brightness back. The root is configurable
//! (`display.backlight_root`) so that tests use a folder of their own; writing needs
//! the kiosk's user to own the files (a udev rule on a real board).

use std::path::{Path, PathBuf};

use super::{Backend, DisplayError};
use crate::config::display::BackendKind;

const BL_POWER_ON: &str = "0";
const BL_POWER_OFF: &str = "4";

pub struct Backlight {
    dir: PathBuf,
    max: u64,
    /// The brightness to restore when there is no `bl_power`.
    saved: Option<u64>,
}

fn read_u64(path: &Path) -> Result<u64, DisplayError> {
    let text = std::fs::read_to_string(path).map_err(|e| DisplayError::Io(format!("{}: {e}", path.display())))?;
    text.trim().parse().map_err(|_| DisplayError::Io(format!("{}: '{}' is not a number", path.display(), text.trim())))
}

fn write(path: &Path, value: &str) -> Result<(), DisplayError> {
    std::fs::write(path, value).map_err(|e| DisplayError::Io(format!("{}: {e}", path.display())))
}

impl Backlight {
    /// The first device under `root` (by name) with a readable `max_brightness` above 0.
    pub fn find(root: &Path) -> Result<Self, DisplayError> {
        let entries =
            std::fs::read_dir(root).map_err(|e| DisplayError::Unavailable(format!("{}: {e}", root.display())))?;
        let mut dirs: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        dirs.into_iter()
            .find_map(|dir| {
                let max = read_u64(&dir.join("max_brightness")).ok().filter(|m| *m > 0)?;
                Some(Self { dir, max, saved: None })
            })
            .ok_or_else(|| DisplayError::Unavailable(format!("no backlight device under {}", root.display())))
    }

    pub fn describe(&self) -> String {
        format!("{} (max_brightness {})", self.dir.display(), self.max)
    }

    fn has_bl_power(&self) -> bool {
        self.dir.join("bl_power").exists()
    }
}

impl Backend for Backlight {
    fn kind(&self) -> BackendKind {
        BackendKind::Backlight
    }

    fn set_power(&mut self, on: bool) -> Result<(), DisplayError> {
        if self.has_bl_power() {
            return write(&self.dir.join("bl_power"), if on { BL_POWER_ON } else { BL_POWER_OFF });
        }
        let path = self.dir.join("brightness");
        if on {
            match self.saved.take() {
                Some(level) => write(&path, &level.to_string()),
                None => Ok(()),
            }
        } else {
            let now = read_u64(&path)?;
            if now > 0 {
                self.saved = Some(now);
            }
            write(&path, "0")
        }
    }

    fn has_brightness(&self) -> bool {
        true
    }

    fn brightness(&self) -> Option<u8> {
        let level = read_u64(&self.dir.join("brightness")).ok()?;
        u8::try_from((level * 100 + self.max / 2) / self.max).ok()
    }

    fn set_brightness(&mut self, percent: u8) -> Result<(), DisplayError> {
        let level = (u64::from(percent.min(100)) * self.max + 50) / 100;
        write(&self.dir.join("brightness"), &level.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake `/sys/class/backlight` with one device: the kernel interface is files,
    /// so the fake is faithful in what it stores; what a real panel does with the
    /// values only a board shows.
    fn device(root: &Path, name: &str, max: u64, level: u64, bl_power: bool) -> PathBuf {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("max_brightness"), format!("{max}\n")).expect("write");
        std::fs::write(dir.join("brightness"), format!("{level}\n")).expect("write");
        if bl_power {
            std::fs::write(dir.join("bl_power"), "0\n").expect("write");
        }
        dir
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).expect("read").trim().to_string()
    }

    #[test]
    fn bl_power_turns_the_panel_off_and_on_and_brightness_is_a_percentage() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = device(root.path(), "10-0045", 255, 255, true);
        let mut b = Backlight::find(root.path()).expect("found");
        assert_eq!(b.brightness(), Some(100));
        b.set_power(false).expect("off");
        assert_eq!(read(&dir.join("bl_power")), "4");
        b.set_power(true).expect("on");
        assert_eq!(read(&dir.join("bl_power")), "0");
        b.set_brightness(40).expect("40 %");
        assert_eq!(read(&dir.join("brightness")), "102");
        assert_eq!(b.brightness(), Some(40));
        b.set_brightness(200).expect("clamped");
        assert_eq!(read(&dir.join("brightness")), "255");
    }

    #[test]
    fn without_bl_power_the_brightness_goes_to_zero_and_comes_back() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = device(root.path(), "intel_backlight", 1000, 640, false);
        let mut b = Backlight::find(root.path()).expect("found");
        b.set_power(false).expect("off");
        assert_eq!(read(&dir.join("brightness")), "0");
        b.set_power(false).expect("off twice keeps the level to restore");
        b.set_power(true).expect("on");
        assert_eq!(read(&dir.join("brightness")), "640");
    }

    #[test]
    fn a_missing_or_broken_device_is_unavailable_not_a_panic() {
        let root = tempfile::tempdir().expect("tempdir");
        assert!(matches!(Backlight::find(&root.path().join("absent")), Err(DisplayError::Unavailable(_))));
        let dir = device(root.path(), "broken", 0, 0, true);
        assert!(matches!(Backlight::find(root.path()), Err(DisplayError::Unavailable(_))));
        std::fs::write(dir.join("max_brightness"), "lots").expect("write");
        assert!(Backlight::find(root.path()).is_err());
        // A device that goes away after probing: an error for the shell to log.
        let dir = device(root.path(), "gone", 100, 50, false);
        let mut b = Backlight::find(root.path()).expect("found");
        std::fs::remove_dir_all(&dir).expect("rm");
        assert!(matches!(b.set_power(false), Err(DisplayError::Io(_))));
        assert_eq!(b.brightness(), None);
    }
}
