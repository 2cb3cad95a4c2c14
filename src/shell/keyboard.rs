//! The built-in on-screen keyboard: a core-owned overlay (`app://localhost/__vitrine/
//! keyboard.html`, embedded in the binary) at the bottom of the one fullscreen
//! toplevel, so it shows over the kiosk on any compositor or none.
//!
//! Who may drive it. The core's own bridge, injected into every page, reports which
//! kind of editable element has focus (`Inbound::Focus`); no capability is needed for
//! that, and none could be: remote pages get the keyboard too. A report is followed
//! only from the surface a person last pressed (the core sees the press on the
//! surface's widget, which no page can fake; the main surface before any press), so a
//! page in another surface cannot pull the keyboard, and the keys typed, away from the
//! field a person is typing in. Whatever a page reports changes only which pad it is
//! shown. Keys come only from the keyboard page's own document, and they go only to
//! the surface the keyboard is shown for, as key events into its webview — exactly what
//! a hardware keyboard would deliver to it, nothing more.
//!
//! Keys are never logged, at any level: not the text, not the key names.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;

use gtk::prelude::*;
use serde_json::Value;
use wry::WebViewExtUnix as _;

use crate::config::{Anchor, InputMode, Length, Page, SurfaceConfig, SurfaceLockdown};
use crate::ipc::protocol::{decode, Inbound};
use crate::ipc::{script, Host as _, Payload};
use crate::keyboard::keys::{keysyms, Press};
use crate::keyboard::{Field, Pad, Request};
use crate::request::{KeyboardStatus, RequestError};
use crate::shell::surface::{self, BuildCtx};
use crate::shell::{SharedShell, Shell, ShellError};

/// The keyboard overlay's label: not a valid configured label.
pub const KEYBOARD_LABEL: &str = "vitrine.keyboard";
const KEYBOARD_PAGE: &str = "__vitrine/keyboard.html";
/// A key that no layout uses, for characters the keymap lacks: WebKit takes the
/// character from the keyval; the hardware code only has to be a real key's.
const FALLBACK_KEYCODE: u16 = 0;

/// The keyboard and whom it types for.
pub struct Keyboard {
    config: crate::config::Keyboard,
    height: i32,
    /// Surfaces it never shows for: the excluded ones and the core's own overlays.
    excluded: BTreeSet<String>,
    main: String,
    /// Its page has loaded and said so.
    ready: bool,
    crashes_seen: u64,
    /// The surface it types into and the field there, while shown.
    shown: Option<(String, Field)>,
    /// The surface a person last pressed, as the core saw it.
    touched: Rc<RefCell<String>>,
    /// The key rectangles the page last reported (CSS pixels of its viewport).
    keys: Value,
}

/// Builds the keyboard overlay (hidden), above every other surface, and starts
/// watching which surface a person presses.
pub(super) fn build(
    shell: &Rc<SharedShell>,
    ctx: &mut BuildCtx<'_>,
    config: &crate::config::Keyboard,
) -> Result<(), ShellError> {
    let cfg = SurfaceConfig {
        label: KEYBOARD_LABEL.to_string(),
        page: Page::Local(KEYBOARD_PAGE.to_string()),
        anchor: Anchor::Bottom,
        width: Length::Percent(100),
        height: config.height,
        margin: 0,
        transparent: false,
        visible: false,
        input: InputMode::Normal,
        lockdown: SurfaceLockdown::default(),
    };
    let s = surface::build(&cfg, ctx)
        .map_err(|source| ShellError::Surface { label: KEYBOARD_LABEL.to_string(), source })?;
    // Pressing a key must not take the focus from the field being typed in: the
    // keyboard's webview never holds the toolkit's focus.
    let native = s.webview.webview();
    native.set_can_focus(false);
    if let Some(container) = &s.container {
        container.set_can_focus(false);
        container.hide();
    }
    let height = i32::try_from(config.height.resolve(ctx.screen.height)).unwrap_or(i32::MAX);
    let touched = Rc::new(RefCell::new(ctx.manifest.main.label.clone()));
    let mut shell = shell.borrow_mut();
    for surface in shell.surfaces.iter() {
        watch_presses(&surface.config.label, &surface.webview.webview(), &touched);
    }
    let mut excluded: BTreeSet<String> = config.exclude.iter().cloned().collect();
    excluded.extend([KEYBOARD_LABEL, super::toast::TOAST_LABEL, super::picker::PICKER_LABEL].map(String::from));
    log::info!(
        surface = KEYBOARD_LABEL;
        "on-screen keyboard created ({}, {height} px high)",
        config.layouts.join(", ")
    );
    shell.surfaces.push(s);
    shell.surfaces.keyboard = Some(Vec::new());
    shell.keyboard = Some(Keyboard {
        config: config.clone(),
        height,
        excluded,
        main: ctx.manifest.main.label.clone(),
        ready: false,
        crashes_seen: 0,
        shown: None,
        touched,
        keys: Value::Array(Vec::new()),
    });
    Ok(())
}

/// Remembers the surface a person presses: a pointer or touch press reaches the
/// webview's widget from the toolkit, never from a page.
fn watch_presses(label: &str, webview: &webkit2gtk::WebView, touched: &Rc<RefCell<String>>) {
    let (l, t) = (label.to_string(), Rc::clone(touched));
    webview.connect_button_press_event(move |_, _| {
        t.replace(l.clone());
        gtk::glib::Propagation::Proceed
    });
    let (l, t) = (label.to_string(), Rc::clone(touched));
    webview.connect_touch_event(move |_, event| {
        if event.event_type() == gtk::gdk::EventType::TouchBegin {
            t.replace(l.clone());
        }
        gtk::glib::Propagation::Proceed
    });
}

impl Shell {
    /// Takes the keyboard requests the last call left (reports from pages,
    /// `keyboard.show`/`hide`) and acts on them.
    pub(super) fn keyboard_requests(&mut self) {
        let Some(queue) = self.surfaces.keyboard.as_mut() else { return };
        if queue.is_empty() {
            return;
        }
        for (label, request) in std::mem::take(queue) {
            self.keyboard_request(&label, request);
        }
    }

    fn keyboard_request(&mut self, label: &str, request: Request) {
        let Some(kb) = &self.keyboard else { return };
        if kb.excluded.contains(label) {
            return;
        }
        let touched = kb.touched.borrow().clone();
        let showing_here = kb.shown.as_ref().is_some_and(|(target, _)| target == label);
        match request {
            Request::Focus(report) => {
                if kb.config.mode == crate::config::KeyboardMode::Off {
                    return;
                }
                match report.as_ref().and_then(Field::from_report) {
                    // Only where a person is: a surface nobody pressed cannot take
                    // the keyboard from the one being typed in.
                    Some(field) if touched == label => self.keyboard_show(label, field),
                    Some(_) => log::debug!(surface = label; "keyboard: focus in a surface not pressed last; ignored"),
                    None if showing_here => self.keyboard_hide(),
                    None => {}
                }
            }
            Request::Show(pad) => {
                let field = Field { pad: pad.unwrap_or(Pad::Text), secret: false, multiline: false };
                self.keyboard_show(label, field);
            }
            Request::Hide if showing_here => self.keyboard_hide(),
            Request::Hide => {}
        }
    }

    /// Shows the keyboard for `target`'s `field`. The main surface's viewport gives the
    /// keyboard its height (the window stays fullscreen); the bridge then scrolls the
    /// field into what is left.
    fn keyboard_show(&mut self, target: &str, field: Field) {
        let Some(kb) = &mut self.keyboard else { return };
        let changed = kb.shown.as_ref() != Some(&(target.to_string(), field));
        if changed {
            // Until the page has laid out the new pad, where its keys were is no guide.
            kb.keys = Value::Array(Vec::new());
        }
        let previous = kb.shown.replace((target.to_string(), field));
        let height = kb.height;
        let main = kb.main.clone();
        if let Some((old, _)) = previous.filter(|(old, _)| old != target) {
            if old == main {
                self.set_viewport_inset(&main, 0);
            }
        }
        if target == main {
            self.set_viewport_inset(&main, height);
        }
        if changed {
            let call = format!("window.vitrineKeyboard&&window.vitrineKeyboard.show({})", field_json(&field));
            self.surfaces.eval(KEYBOARD_LABEL, call);
            log::info!(surface = target; "keyboard shown ({:?} pad)", field.pad);
        }
        if let Some(s) = self.surfaces.get_mut(KEYBOARD_LABEL) {
            if let Some(container) = &s.container {
                container.show_all();
            }
            s.visible = true;
        }
        // Keys go to the widget with the toolkit's focus when a person types on a
        // hardware keyboard too; keep the two in agreement.
        if let Some(s) = self.surfaces.get(target) {
            let native = s.webview.webview();
            if !native.has_focus() {
                native.grab_focus();
            }
        }
        self.publish();
    }

    fn keyboard_hide(&mut self) {
        let Some(kb) = &mut self.keyboard else { return };
        let Some((target, _)) = kb.shown.take() else { return };
        kb.keys = Value::Array(Vec::new());
        let main = kb.main.clone();
        if target == main {
            self.set_viewport_inset(&main, 0);
        }
        if let Some(s) = self.surfaces.get_mut(KEYBOARD_LABEL) {
            if let Some(container) = &s.container {
                container.hide();
            }
            s.visible = false;
        }
        self.surfaces.eval(KEYBOARD_LABEL, "window.vitrineKeyboard&&window.vitrineKeyboard.hide()".into());
        log::info!(surface = target.as_str(); "keyboard hidden");
        self.publish();
    }

    /// A new document replaced `label`'s page (a navigation, a reload, a recovery): the
    /// field the keyboard typed into is gone with the old one.
    pub(super) fn keyboard_page_replaced(&mut self, label: &str) {
        let shown_here = self.keyboard.as_ref().and_then(|kb| kb.shown.as_ref()).is_some_and(|(t, _)| t == label);
        if shown_here {
            self.keyboard_hide();
        }
    }

    /// Shrinks the surface's viewport from below by `inset` pixels (0: whole again).
    fn set_viewport_inset(&mut self, label: &str, inset: i32) {
        if let Some(s) = self.surfaces.get(label) {
            s.webview.webview().set_margin_bottom(inset.max(0));
        }
    }

    /// The keyboard page's own messages; `false` when the message is not one.
    pub(super) fn on_keyboard_message(&mut self, label: &str, body: &str) -> bool {
        if label != KEYBOARD_LABEL || self.keyboard.is_none() {
            return false;
        }
        let token = self.surfaces.get(KEYBOARD_LABEL).and_then(|s| s.documents.accepted_token());
        let Some(raw) = token.and_then(|t| body.strip_prefix(t)) else { return false };
        let Ok(Inbound::Invoke { id, cmd, args, .. }) = decode(raw, self.router.limits()) else { return false };
        match cmd.as_str() {
            "keyboard.ready" => self.keyboard_ready(),
            "keyboard.key" => self.keyboard_key(args),
            "keyboard.close" => self.keyboard_hide(),
            "keyboard.keys" => {
                if let Some(kb) = &mut self.keyboard {
                    kb.keys = args.get("keys").cloned().unwrap_or(Value::Null);
                }
            }
            _ => return false,
        }
        let document = self.surfaces.document(KEYBOARD_LABEL);
        self.surfaces.eval(KEYBOARD_LABEL, script::reply(document, id, &Ok(Payload::Json(Value::Null))));
        true
    }

    /// The page (first load, or after a crash) asks for its layouts and state.
    fn keyboard_ready(&mut self) {
        let Some(kb) = &mut self.keyboard else { return };
        kb.ready = true;
        let setup = serde_json::json!({
            "layouts": crate::keyboard::layouts(&kb.config.layouts),
            "theme": kb.config.theme,
        });
        let mut script = format!("window.vitrineKeyboard.configure({setup});");
        if let Some((_, field)) = &kb.shown {
            script.push_str(&format!("window.vitrineKeyboard.show({});", field_json(field)));
        }
        self.surfaces.eval(KEYBOARD_LABEL, script);
    }

    /// One press on the keyboard page: key events into the surface it is shown for.
    fn keyboard_key(&mut self, args: Value) {
        let Some((target, field)) = self.keyboard.as_ref().and_then(|kb| kb.shown.clone()) else { return };
        // Nothing of the press is logged: it may be part of a password.
        let Ok(press) = serde_json::from_value::<Press>(args) else {
            log::warn!(surface = KEYBOARD_LABEL; "keyboard: a press the core cannot read");
            return;
        };
        let Some(s) = self.surfaces.get(&target) else { return };
        let native = s.webview.webview();
        for keyval in keysyms(&press) {
            synthesize(&native, keyval);
        }
        // Enter in a one-line field submits it: the keyboard is done.
        if press.key.as_deref() == Some("Return") && !field.multiline {
            self.keyboard_hide();
        }
    }

    /// `vitrine ctl keyboard show|hide`, D-Bus `KeyboardShow`/`KeyboardHide`.
    pub(super) fn keyboard_control(&mut self, show: Option<String>) -> Result<(), RequestError> {
        let Some(kb) = &self.keyboard else {
            return Err(RequestError::NotFound(
                "this kiosk has no on-screen keyboard ([keyboard] in vitrine.toml)".into(),
            ));
        };
        match show {
            Some(label) => {
                let label = if label.is_empty() { kb.main.clone() } else { label };
                if kb.excluded.contains(&label) || self.surfaces.get(&label).is_none() {
                    return Err(RequestError::NotFound(format!("no surface '{label}' the keyboard may show for")));
                }
                let field = Field { pad: Pad::Text, secret: false, multiline: false };
                self.keyboard_show(&label, field);
            }
            None => self.keyboard_hide(),
        }
        Ok(())
    }

    /// For `Status`: whether the keyboard shows, for which surface, and (for tests and
    /// tools) where its keys are on the screen.
    pub(super) fn keyboard_status(&self) -> Option<KeyboardStatus> {
        let kb = self.keyboard.as_ref()?;
        let s = self.surfaces.get(KEYBOARD_LABEL)?;
        let origin = screen_origin(s.container.as_ref());
        let keys = match (&kb.keys, origin, s.visible) {
            (Value::Array(keys), Some((x0, y0)), true) => keys
                .iter()
                .filter_map(|k| {
                    let n = |name: &str| k[name].as_f64();
                    let (x, y, w, h) = (n("x")?, n("y")?, n("w")?, n("h")?);
                    let id = k["id"].as_str()?.to_string();
                    Some(crate::request::KeyRect {
                        id,
                        x: x0 + x.round() as i32,
                        y: y0 + y.round() as i32,
                        width: w.round() as i32,
                        height: h.round() as i32,
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        Some(KeyboardStatus {
            visible: s.visible,
            surface: kb.shown.as_ref().map(|(t, _)| t.clone()),
            pad: kb.shown.as_ref().map(|(_, f)| f.pad),
            ready: kb.ready,
            keys,
        })
    }

    /// A keyboard page that lost its web process is not ready until it says so again.
    pub(super) fn check_keyboard_page(&mut self) {
        let crashes = self.surfaces.get(KEYBOARD_LABEL).map_or(0, |s| s.health.crashes);
        let Some(kb) = &mut self.keyboard else { return };
        if crashes != kb.crashes_seen {
            kb.crashes_seen = crashes;
            kb.ready = false;
            kb.keys = Value::Array(Vec::new());
        }
    }
}

fn field_json(field: &Field) -> Value {
    serde_json::json!({ "pad": field.pad, "secret": field.secret, "multiline": field.multiline })
}

/// Where the keyboard's box is on the screen (root window coordinates).
fn screen_origin(container: Option<&gtk::Box>) -> Option<(i32, i32)> {
    let container = container?;
    let toplevel = container.toplevel()?;
    let (x, y) = container.translate_coordinates(&toplevel, 0, 0)?;
    let (_, ox, oy) = toplevel.window()?.origin();
    Some((ox + x, oy + y))
}

/// A key press and release of `keyval` into `webview`, as the toolkit delivers a
/// hardware key: the keymap's key code and level when the keymap has the character,
/// else the keyval alone (WebKit takes the text from it).
fn synthesize(webview: &webkit2gtk::WebView, keyval: u32) {
    use gtk::gdk;
    use gtk::glib::translate::{ToGlibPtr, ToGlibPtrMut};
    let Some(window) = webview.window() else { return };
    let display = window.display();
    // A legacy keysym where one exists (EuroSign rather than U+20AC): keymaps list those.
    let keyval = match keyval {
        0x0100_0000.. => unsafe { gdk::ffi::gdk_unicode_to_keyval(keyval - 0x0100_0000) },
        _ => keyval,
    };
    let entry = gdk::Keymap::for_display(&display)
        .and_then(|k| k.entries_for_keyval(keyval).into_iter().find(|e| e.level() <= 1 && e.group() == 0));
    let (keycode, shift) = entry.map_or((FALLBACK_KEYCODE, false), |e| (e.keycode() as u16, e.level() == 1));
    // SAFETY: a pure table lookup.
    let text = char::from_u32(unsafe { gdk::ffi::gdk_keyval_to_unicode(keyval) })
        .filter(|c| *c != '\0' && !c.is_control())
        .map(String::from)
        .unwrap_or_default();
    let device = display.default_seat().and_then(|s| s.keyboard());
    let time = (gtk::glib::monotonic_time() / 1000) as u32;
    for kind in [gdk::EventType::KeyPress, gdk::EventType::KeyRelease] {
        let mut event = gdk::Event::new(kind);
        // SAFETY: `event` is a key event (made just above), so its union is a
        // GdkEventKey. The window reference and the string are given to the event,
        // which releases them when it is freed (gdk_event_free).
        unsafe {
            let raw: *mut gdk::ffi::GdkEvent = ToGlibPtrMut::to_glib_none_mut(&mut event).0;
            let key = raw as *mut gdk::ffi::GdkEventKey;
            (*key).window = ToGlibPtr::<*mut gdk::ffi::GdkWindow>::to_glib_full(&window);
            (*key).send_event = 0;
            (*key).time = time;
            (*key).state = if shift { gdk::ffi::GDK_SHIFT_MASK } else { 0 };
            (*key).keyval = keyval;
            (*key).hardware_keycode = keycode;
            (*key).group = 0;
            if let Ok(c) = std::ffi::CString::new(text.as_str()) {
                (*key).length = c.as_bytes().len() as i32;
                (*key).string = gtk::glib::ffi::g_strdup(c.as_ptr());
            }
        }
        event.set_device(device.as_ref());
        webview.event(&event);
    }
}
