//! The on-screen keyboard's pure side: its layouts (data, one JSON file each), what a
//! focused field asks for, and which key a press of the keyboard page means. The GTK
//! side — the overlay, the synthesized key events — is `shell::keyboard`.

pub mod keys;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The layouts, by the names `[keyboard] layouts` uses (`config::keyboard::LAYOUTS`).
const LAYOUTS: &[(&str, &str)] = &[
    ("en-US", include_str!("layouts/en-US.json")),
    ("de", include_str!("layouts/de.json")),
    ("fr", include_str!("layouts/fr.json")),
    ("es", include_str!("layouts/es.json")),
];

/// The layouts `names` as the keyboard page takes them; unknown names are skipped
/// (the configuration refuses them first).
pub fn layouts(names: &[String]) -> Value {
    let list = names
        .iter()
        .filter_map(|n| LAYOUTS.iter().find(|(name, _)| name == n))
        .filter_map(|(_, text)| serde_json::from_str::<Value>(text).ok())
        .collect();
    Value::Array(list)
}

/// What the core's bridge says about the element that has focus in a page: nothing
/// but its kind. Whatever a page claims here only changes which pad it is shown.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FocusReport {
    /// `input`'s type, or `textarea`, `contenteditable`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The `inputmode` attribute, lower case ("" when absent).
    #[serde(default)]
    pub mode: String,
    /// Enter makes a new line rather than submitting.
    #[serde(default)]
    pub multi: bool,
}

/// Which keys the keyboard shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pad {
    Text,
    Numeric,
    Tel,
}

/// The field the keyboard types into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Field {
    pub pad: Pad,
    /// A password: no key is previewed, none is ever logged.
    pub secret: bool,
    pub multiline: bool,
}

impl Field {
    /// `inputmode` wins over `type`, as in browsers; `inputmode="none"` asks for no
    /// keyboard (the page brings its own), as does anything not text-like.
    pub fn from_report(r: &FocusReport) -> Option<Field> {
        let kind = r.kind.as_str();
        let text_like = matches!(
            kind,
            "text" | "search" | "email" | "url" | "tel" | "password" | "number" | "textarea" | "contenteditable"
        );
        if !text_like || r.mode == "none" {
            return None;
        }
        let pad = match (r.mode.as_str(), kind) {
            ("numeric" | "decimal", _) => Pad::Numeric,
            ("tel", _) => Pad::Tel,
            ("text" | "search" | "email" | "url", _) => Pad::Text,
            (_, "number") => Pad::Numeric,
            (_, "tel") => Pad::Tel,
            _ => Pad::Text,
        };
        let multiline = r.multi && matches!(kind, "textarea" | "contenteditable");
        Some(Field { pad, secret: kind == "password", multiline })
    }
}

/// What a surface, a page or an operator asks of the keyboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The core's bridge in a page: this field has focus now (`None`: no editable one).
    Focus(Option<FocusReport>),
    /// `keyboard.show`: show it for the caller, with this pad.
    Show(Option<Pad>),
    /// `keyboard.hide`.
    Hide,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(kind: &str, mode: &str) -> FocusReport {
        FocusReport { kind: kind.into(), mode: mode.into(), multi: kind == "textarea" }
    }

    #[test]
    fn every_configurable_layout_exists_and_is_well_formed() {
        let names: Vec<String> = crate::config::keyboard::LAYOUTS.iter().map(|s| s.to_string()).collect();
        let all = layouts(&names);
        let all = all.as_array().expect("array");
        assert_eq!(all.len(), names.len());
        for (layout, name) in all.iter().zip(&names) {
            assert_eq!(layout["name"], name.as_str());
            assert!(layout["label"].as_str().is_some_and(|l| !l.is_empty()));
            for part in ["rows", "symbols"] {
                let rows = layout[part].as_array().expect("rows");
                assert_eq!(rows.len(), 3, "{name}.{part}");
                for row in rows {
                    let row = row.as_array().expect("row");
                    assert!((7..=11).contains(&row.len()), "{name}.{part}: {} keys", row.len());
                    for key in row {
                        let key = key.as_str().expect("a key is a string");
                        assert_eq!(key.chars().count(), 1, "{name}: '{key}' is one character");
                    }
                }
            }
            for (base, accents) in layout["accents"].as_object().expect("accents") {
                assert_eq!(base.chars().count(), 1);
                assert!(accents.as_array().is_some_and(|a| !a.is_empty() && a.iter().all(|k| k.as_str().is_some())));
            }
        }
    }

    #[test]
    fn the_pad_follows_inputmode_then_type() {
        let pad = |k, m| Field::from_report(&report(k, m)).map(|f| f.pad);
        assert_eq!(pad("text", ""), Some(Pad::Text));
        assert_eq!(pad("number", ""), Some(Pad::Numeric));
        assert_eq!(pad("tel", ""), Some(Pad::Tel));
        assert_eq!(pad("text", "numeric"), Some(Pad::Numeric));
        assert_eq!(pad("password", "numeric"), Some(Pad::Numeric));
        assert_eq!(pad("number", "text"), Some(Pad::Text));
        assert_eq!(pad("text", "none"), None);
        assert_eq!(pad("checkbox", ""), None);
        assert_eq!(pad("date", ""), None);
    }

    #[test]
    fn passwords_are_secret_and_only_text_areas_are_multiline() {
        let f = Field::from_report(&report("password", "")).expect("field");
        assert!(f.secret && !f.multiline);
        let f = Field::from_report(&report("textarea", "")).expect("field");
        assert!(!f.secret && f.multiline);
        let lying = FocusReport { kind: "text".into(), mode: String::new(), multi: true };
        assert!(!Field::from_report(&lying).expect("field").multiline);
    }
}
