//! Which key event a press on the keyboard page means: a keyval, and the modifier
//! level it sits at. Keyvals follow X11's keysym numbering, which GDK uses.

use serde::Deserialize;

/// A press the keyboard page reports.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Press {
    /// Text to type: one character at a time, as a hardware keyboard would.
    #[serde(default)]
    pub text: Option<String>,
    /// A named key: `BackSpace`, `Return`, `Tab`, `Left`, `Right`.
    #[serde(default)]
    pub key: Option<String>,
}

/// Keysyms of the named keys (X11 `keysymdef.h`).
pub fn named(name: &str) -> Option<u32> {
    Some(match name {
        "BackSpace" => 0xff08,
        "Tab" => 0xff09,
        "Return" => 0xff0d,
        "Escape" => 0xff1b,
        "Left" => 0xff51,
        "Right" => 0xff53,
        "Delete" => 0xffff,
        _ => return None,
    })
}

/// The keysym of a character: Latin-1 maps to itself, everything else to the Unicode
/// keysym range (`0x01000000 + code point`), as `gdk_unicode_to_keyval` does for
/// characters without a legacy keysym. Control characters have none.
pub fn keysym(c: char) -> Option<u32> {
    let code = c as u32;
    match code {
        0x20..=0x7e | 0xa0..=0xff => Some(code),
        0..=0x1f | 0x7f..=0x9f => None,
        _ => Some(0x0100_0000 + code),
    }
}

/// At most this many characters per press: a key types one, an accent maybe two.
pub const MAX_TEXT: usize = 8;

/// The keysyms a press types, in order; empty when it means nothing.
pub fn keysyms(press: &Press) -> Vec<u32> {
    if let Some(name) = &press.key {
        return named(name).into_iter().collect();
    }
    let text = press.text.as_deref().unwrap_or_default();
    if text.chars().count() > MAX_TEXT {
        return Vec::new();
    }
    text.chars().filter_map(keysym).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str) -> Press {
        Press { text: Some(t.into()), key: None }
    }

    #[test]
    fn characters_map_to_their_keysyms() {
        assert_eq!(keysyms(&text("a")), [0x61]);
        assert_eq!(keysyms(&text("G")), [0x47]);
        assert_eq!(keysyms(&text("ü")), [0xfc]);
        assert_eq!(keysyms(&text("ß")), [0xdf]);
        assert_eq!(keysyms(&text("€")), [0x0100_20ac]);
        assert_eq!(keysyms(&text(" ")), [0x20]);
        assert_eq!(keysyms(&text("\n\u{7}")), Vec::<u32>::new());
        assert_eq!(keysyms(&text("way too long a press")), Vec::<u32>::new());
    }

    #[test]
    fn named_keys_and_unknown_names() {
        let key = |k: &str| keysyms(&Press { text: None, key: Some(k.into()) });
        assert_eq!(key("BackSpace"), [0xff08]);
        assert_eq!(key("Return"), [0xff0d]);
        assert_eq!(key("Tab"), [0xff09]);
        assert_eq!(key("F13"), Vec::<u32>::new());
    }

    proptest::proptest! {
        #[test]
        fn every_printable_character_has_a_keysym_gdk_agrees_with(c in proptest::char::any()) {
            if let Some(sym) = keysym(c) {
                // GDK's own table gives the character back for each keysym.
                // SAFETY: a pure table lookup.
                let back = char::from_u32(unsafe { gtk::gdk::ffi::gdk_keyval_to_unicode(sym) });
                proptest::prop_assert_eq!(back, Some(c));
            }
        }
    }
}
