//! `[keyboard]`: the built-in on-screen keyboard (see `shell::keyboard`).
//!
//! ```toml
//! [keyboard]
//! mode = "auto"                 # shows itself on editable fields; "off": none
//! layouts = ["de", "en-US"]     # the first is shown first; a key cycles through them
//! height = "40%"                # pixels or a percentage of the screen's height
//! exclude = ["status"]          # surfaces it never shows for
//!
//! [keyboard.theme]              # CSS custom properties of the keyboard page
//! "--kb-background" = "#101418"
//! ```
//!
//! Without a `[keyboard]` table there is no keyboard (it costs a web process).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::manifest::{Length, RawLength};

/// The layouts the keyboard page knows (`keyboard::layouts` holds them as data).
pub const LAYOUTS: &[&str] = &["en-US", "de", "fr", "es"];

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyboardMode {
    /// Shows itself when an editable element gets focus.
    #[default]
    Auto,
    /// No keyboard at all.
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Keyboard {
    pub mode: KeyboardMode,
    pub layouts: Vec<String>,
    pub height: Length,
    /// Surfaces the keyboard never shows for.
    pub exclude: Vec<String>,
    /// CSS custom properties (`--name`) and their values, set on the keyboard page.
    pub theme: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawKeyboard {
    mode: Option<KeyboardMode>,
    layouts: Option<Vec<String>>,
    height: Option<RawLength>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    theme: BTreeMap<String, String>,
}

impl RawKeyboard {
    /// Checks the table against the surfaces `labels`; reports through `err`.
    pub(super) fn resolve(self, labels: &[String], err: &mut impl FnMut(String, String)) -> Option<Keyboard> {
        let mut ok = true;
        let layouts = self.layouts.unwrap_or_else(|| vec!["en-US".to_string()]);
        if layouts.is_empty() {
            err("keyboard.layouts".into(), "must name at least one layout".into());
            ok = false;
        }
        for (i, name) in layouts.iter().enumerate() {
            if !LAYOUTS.contains(&name.as_str()) {
                err(
                    format!("keyboard.layouts[{i}]"),
                    format!("unknown layout '{name}' (known: {})", LAYOUTS.join(", ")),
                );
                ok = false;
            }
        }
        let height = match self.height.map(|h| h.resolve()) {
            None => Length::Percent(40),
            Some(Ok(h)) => h,
            Some(Err(reason)) => {
                err("keyboard.height".into(), reason);
                ok = false;
                Length::Percent(40)
            }
        };
        for (i, label) in self.exclude.iter().enumerate() {
            if !labels.contains(label) {
                err(
                    format!("keyboard.exclude[{i}]"),
                    format!("'{label}' is no surface (surfaces: {})", labels.join(", ")),
                );
                ok = false;
            }
        }
        for (name, value) in &self.theme {
            if let Err(reason) = check_theme_entry(name, value) {
                err(format!("keyboard.theme.{name}"), reason);
                ok = false;
            }
        }
        ok.then_some(Keyboard {
            mode: self.mode.unwrap_or_default(),
            layouts,
            height,
            exclude: self.exclude,
            theme: self.theme,
        })
    }
}

/// A theme entry is one CSS custom property: it may not end the declaration or the
/// rule it is put in.
fn check_theme_entry(name: &str, value: &str) -> Result<(), String> {
    let body = name.strip_prefix("--").unwrap_or_default();
    if body.is_empty() || !body.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("'{name}' is not a CSS custom property (--name of a-z, 0-9, '-', '_')"));
    }
    if value.trim().is_empty()
        || value.len() > 200
        || value.chars().any(|c| matches!(c, ';' | '{' | '}' | '<' | '>' | '\\') || c.is_control())
    {
        return Err(format!("'{value}' is not a plain CSS value (no ; {{ }} < > \\, at most 200 characters)"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> (Option<Keyboard>, Vec<String>) {
        let raw: RawKeyboard = toml::from_str(toml_text).expect("toml");
        let mut errors = Vec::new();
        let kb = raw.resolve(&["main".to_string(), "status".to_string()], &mut |k, r| errors.push(format!("{k}: {r}")));
        (kb, errors)
    }

    #[test]
    fn defaults_are_auto_en_us_and_forty_percent() {
        let (kb, errors) = parse("");
        assert!(errors.is_empty(), "{errors:?}");
        let kb = kb.expect("keyboard");
        assert_eq!(
            (kb.mode, kb.layouts, kb.height),
            (KeyboardMode::Auto, vec!["en-US".to_string()], Length::Percent(40))
        );
    }

    #[test]
    fn unknown_layouts_surfaces_and_theme_escapes_are_refused() {
        let (kb, errors) = parse(
            "layouts = ['de', 'klingon']\nexclude = ['ghost']\nheight = 0\n[theme]\n'--ok' = 'red'\n'--bad' = 'red; } body { x: y'\ncolor = 'blue'\n",
        );
        assert!(kb.is_none());
        assert_eq!(errors.len(), 5, "{errors:?}");
        assert!(errors[0].starts_with("keyboard.layouts[1]: unknown layout 'klingon'"));
        assert!(errors.iter().any(|e| e.starts_with("keyboard.height")));
        assert!(errors.iter().any(|e| e.starts_with("keyboard.exclude[0]: 'ghost'")));
        assert!(errors.iter().any(|e| e.starts_with("keyboard.theme.--bad")));
        assert!(errors.iter().any(|e| e.starts_with("keyboard.theme.color")));
    }

    #[test]
    fn off_and_pixels_parse() {
        let (kb, errors) = parse("mode = 'off'\nheight = '320px'\nlayouts = ['fr', 'es']\nexclude = ['status']");
        assert!(errors.is_empty(), "{errors:?}");
        let kb = kb.expect("keyboard");
        assert_eq!((kb.mode, kb.height, kb.exclude), (KeyboardMode::Off, Length::Px(320), vec!["status".to_string()]));
    }
}
