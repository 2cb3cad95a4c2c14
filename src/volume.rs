//! The kiosk's volume: one level and one mute for the sound of every surface, set by
//! `vitrine ctl volume`, the D-Bus method `Volume` and the `media.volume` command.
//!
//! WebKitGTK has no volume of its own, only a page mute (`webkit_web_view_set_is_muted`).
//! So the level is applied to the pages' media elements by a script in every frame of
//! every surface (`shell/volume.js`): each `<audio>`/`<video>` plays at the kiosk's level
//! and reports it as its `volume`, whatever the page sets. Until a level is set, pages
//! keep their own. Mute is WebKit's page mute (which also silences Web Audio) and each
//! element's `muted`, which goes back to the page's own value on unmute. A device's
//! sound card has a mixer of its own (ALSA); this does not touch it.

use serde::{Deserialize, Serialize};

/// What the kiosk's sound is now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// 0 to 100; `None` until set: each page decides.
    pub level: Option<u8>,
    pub muted: bool,
}

/// A change asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Change {
    pub level: Option<u8>,
    pub muted: Option<bool>,
}

/// The highest level.
pub const MAX: u8 = 100;

impl Change {
    /// `vitrine ctl volume` and D-Bus words: `""` (no change), `0`…`100`, `mute`, `unmute`.
    pub fn parse(word: &str) -> Result<Change, String> {
        match word.trim() {
            "" => Ok(Change::default()),
            "mute" => Ok(Change { muted: Some(true), ..Change::default() }),
            "unmute" => Ok(Change { muted: Some(false), ..Change::default() }),
            n => match n.parse::<u32>() {
                Ok(level) => Change::level(level),
                Err(_) => Err(format!("'{n}' is not a volume: give 0 to {MAX}, mute or unmute")),
            },
        }
    }

    /// A level change, checked.
    pub fn level(level: u32) -> Result<Change, String> {
        match u8::try_from(level) {
            Ok(level) if level <= MAX => Ok(Change { level: Some(level), muted: None }),
            _ => Err(format!("volume {level} is out of range: 0 to {MAX}")),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.level.is_none() && self.muted.is_none()
    }
}

impl Volume {
    pub fn apply(self, change: Change) -> Volume {
        Volume { level: change.level.or(self.level), muted: change.muted.unwrap_or(self.muted) }
    }

    /// `{"level": 0..1 or null, "muted": bool}` for the page script.
    pub fn for_pages(&self) -> String {
        let level = self.level.map_or("null".to_string(), |l| format!("{}", f64::from(l) / f64::from(MAX)));
        format!("{{\"level\":{level},\"muted\":{}}}", self.muted)
    }

    /// For people: "volume 40", "volume 40, muted", "volume: each page's own".
    pub fn describe(&self) -> String {
        let level = self.level.map_or("volume: each page's own".to_string(), |l| format!("volume {l}"));
        if self.muted {
            format!("{level}, muted")
        } else {
            level
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_parse_and_bad_ones_are_named() {
        assert_eq!(Change::parse("40"), Ok(Change { level: Some(40), muted: None }));
        assert_eq!(Change::parse("0").unwrap().level, Some(0));
        assert_eq!(Change::parse("mute").unwrap().muted, Some(true));
        assert_eq!(Change::parse("unmute").unwrap().muted, Some(false));
        assert!(Change::parse("").unwrap().is_empty());
        for bad in ["101", "-1", "loud", "4.5", "99999999999"] {
            let e = Change::parse(bad).unwrap_err();
            assert!(e.contains(bad) || e.contains("out of range"), "{bad}: {e}");
        }
    }

    #[test]
    fn changes_keep_what_they_do_not_name() {
        let v = Volume::default().apply(Change::parse("30").unwrap()).apply(Change::parse("mute").unwrap());
        assert_eq!(v, Volume { level: Some(30), muted: true });
        assert_eq!(v.for_pages(), r#"{"level":0.3,"muted":true}"#);
        assert_eq!(v.describe(), "volume 30, muted");
        assert_eq!(Volume::default().for_pages(), r#"{"level":null,"muted":false}"#);
    }
}
