//! No toolkit dialog over the kiosk, ever.
//!
//! WebKitGTK opens GTK dialogs of its own for a file input, `window.print()`, a colour
//! input and HTTP authentication, and accepts files dropped from other programs. Each is
//! a way out of a kiosk (a file chooser browses and uploads any file the kiosk's user
//! can read), and a modal print dialog also blocks the page, whose missed heartbeats
//! then reload it under the dialog. Here every surface answers those requests itself:
//! refused (or answered from configuration, for authentication), logged once per page,
//! never a window. Browser shortcuts that could open something (the inspectors, print)
//! are swallowed before WebKit or GTK see them.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::{Rc, Weak};

use gtk::glib::translate::{ToGlibPtr, ToGlibPtrMut};
use gtk::prelude::*;
use tao::event_loop::EventLoopProxy;
use webkit2gtk::{AuthenticationRequestExt, ColorChooserRequestExt, FileChooserRequestExt, WebViewExt};

use crate::config::lockdown::{origin_of, FileChooser, Print, Printer};
use crate::config::{Lockdown, SurfaceConfig};
use crate::shell::{dispatch, CoreEvent, SharedShell};

/// What was refused on the page a surface shows now, so each kind is logged once per page.
pub struct Guard {
    label: String,
    seen: RefCell<BTreeSet<&'static str>>,
}

impl Guard {
    fn new(label: &str) -> Rc<Guard> {
        Rc::new(Guard { label: label.to_string(), seen: RefCell::new(BTreeSet::new()) })
    }

    /// Logs `message` unless `what` was logged on this page already.
    fn once(&self, what: &'static str, message: impl FnOnce() -> String) {
        if self.seen.borrow_mut().insert(what) {
            log::warn!(surface = self.label.as_str(), reason = what; "{}", message());
        }
    }

    fn new_page(&self) {
        self.seen.borrow_mut().clear();
    }
}

/// A user and password for one origin's HTTP authentication.
struct Login {
    origin: String,
    user: String,
    password: String,
}

/// What every surface's guard shares.
pub struct Shared {
    logins: Vec<Login>,
    printer: Option<Printer>,
    shell: Weak<SharedShell>,
    proxy: EventLoopProxy<CoreEvent>,
}

impl Shared {
    /// Reads the `[[auth]]` credentials once, at start-up (a missing one is logged and
    /// its origin then refused like any other).
    pub fn new(lockdown: &Lockdown, shell: Weak<SharedShell>, proxy: EventLoopProxy<CoreEvent>) -> Rc<Shared> {
        let logins = lockdown
            .auth
            .iter()
            .filter_map(|a| match crate::os::http::read_credential(&a.credential) {
                Ok(raw) => Some(Login {
                    origin: a.origin.clone(),
                    user: a.user.clone(),
                    password: raw.trim_end_matches(['\n', '\r']).to_string(),
                }),
                Err(why) => {
                    log::error!("credential '{}' for logging in to {} is not available: {why}", a.credential, a.origin);
                    None
                }
            })
            .collect();
        Rc::new(Shared { logins, printer: lockdown.print.clone(), shell, proxy })
    }
}

/// Puts the surface `cfg`'s webview under lockdown.
pub fn apply(native: &webkit2gtk::WebView, cfg: &SurfaceConfig, shared: &Rc<Shared>) {
    let guard = Guard::new(&cfg.label);
    {
        let guard = Rc::clone(&guard);
        native.connect_load_changed(move |_, event| {
            if event == webkit2gtk::LoadEvent::Started {
                guard.new_page();
            }
        });
    }
    {
        let (guard, shared) = (Rc::clone(&guard), Rc::clone(shared));
        let mode = cfg.lockdown.file_chooser;
        native.connect_run_file_chooser(move |view, request| {
            if mode == FileChooser::Media {
                // Handled at once when the shell is free, as it is for a click.
                if let Some(Ok(mut shell)) = shared.shell.upgrade().as_ref().map(|s| s.try_borrow_mut()) {
                    shell.open_picker(&guard.label, request.clone());
                    return true;
                }
            }
            request.cancel();
            guard
                .once("file-chooser", || format!("refused a file chooser for {} (file_chooser = \"off\")", page(view)));
            true
        });
    }
    {
        let (guard, shared) = (Rc::clone(&guard), Rc::clone(shared));
        let print = cfg.lockdown.print;
        native.connect_print(move |view, operation| {
            match (print, &shared.printer) {
                (Print::Silent, Some(printer)) => print_silently(view, operation, printer, &guard),
                _ => guard.once("print", || format!("refused to print {} (print = \"off\")", page(view))),
            }
            // Handled: WebKit's print dialog never opens.
            true
        });
    }
    {
        let guard = Rc::clone(&guard);
        native.connect_run_color_chooser(move |view, request| {
            request.cancel();
            guard.once("color-chooser", || format!("refused a colour chooser for {}", page(view)));
            true
        });
    }
    {
        let (guard, shared) = (Rc::clone(&guard), Rc::clone(shared));
        native.connect_authenticate(move |view, request| {
            authenticate(view, request, &guard, &shared);
            true
        });
    }
    refuse_outside_drops(native, &guard);
    swallow_shortcuts(native, &guard);
    // SAFETY: only this module reads the key, always as `Rc<Guard>`.
    unsafe { native.set_data(GUARD_KEY, guard) };
    refuse_date_pickers();
}

/// Where a webview keeps its [`Guard`], for the date-picker hook.
const GUARD_KEY: &str = "vitrine-lockdown-guard";

/// WebKit draws its date picker as a GTK popover holding a calendar, and has no signal
/// for it: a hook on every widget's `map` finds such a popover and hides it before it
/// is painted (typing a date into the field still works).
fn refuse_date_pickers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use gtk::glib::gobject_ffi;
        use gtk::glib::translate::IntoGlib;
        // SAFETY: "map" is a signal of GtkWidget without G_SIGNAL_NO_HOOKS; the hook
        // lives as long as the process and needs no data.
        unsafe {
            let signal = gobject_ffi::g_signal_lookup(c"map".as_ptr(), gtk::Widget::static_type().into_glib());
            gobject_ffi::g_signal_add_emission_hook(signal, 0, Some(on_map), std::ptr::null_mut(), None);
        }
    });
}

unsafe extern "C" fn on_map(
    _hint: *mut gtk::glib::gobject_ffi::GSignalInvocationHint,
    n_params: std::os::raw::c_uint,
    params: *const gtk::glib::gobject_ffi::GValue,
    _data: gtk::glib::ffi::gpointer,
) -> gtk::glib::ffi::gboolean {
    use gtk::glib::translate::FromGlibPtrNone;
    if n_params >= 1 && !params.is_null() {
        let object = gtk::glib::gobject_ffi::g_value_get_object(params);
        if !object.is_null() {
            let widget = gtk::Widget::from_glib_none(object as *mut gtk::ffi::GtkWidget);
            if let Ok(popover) = widget.downcast::<gtk::Popover>() {
                if holds_calendar(popover.upcast_ref()) {
                    refuse_picker(popover);
                }
            }
        }
    }
    // Keep the hook.
    gtk::glib::ffi::GTRUE
}

fn holds_calendar(widget: &gtk::Widget) -> bool {
    widget.is::<gtk::Calendar>()
        || widget.downcast_ref::<gtk::Container>().is_some_and(|c| c.children().iter().any(holds_calendar))
}

fn refuse_picker(popover: gtk::Popover) {
    let view = popover.relative_to().and_then(|w| w.downcast::<webkit2gtk::WebView>().ok());
    if let Some(view) = &view {
        // SAFETY: set in `apply` as `Rc<Guard>`, for as long as the webview lives.
        if let Some(guard) = unsafe { view.data::<Rc<Guard>>(GUARD_KEY) } {
            let guard = unsafe { guard.as_ref() };
            guard.once("date-picker", || format!("refused a date picker for {}", page(view)));
        }
    }
    // Before the next redraw (which runs at a lower priority than this).
    gtk::glib::idle_add_local_full(gtk::glib::Priority::HIGH_IDLE, move || {
        popover.popdown();
        popover.hide();
        // The popover took the keyboard; the page gets it back.
        if let Some(view) = &view {
            view.grab_focus();
        }
        gtk::glib::ControlFlow::Break
    });
}

/// Prints `view` on the configured printer without a dialog; logs each job.
fn print_silently(
    view: &webkit2gtk::WebView,
    operation: &webkit2gtk::PrintOperation,
    printer: &Printer,
    guard: &Guard,
) {
    use webkit2gtk::PrintOperationExt;
    let settings = gtk::PrintSettings::new();
    settings.set_printer(&printer.printer);
    if let Some(output) = &printer.output {
        let uri = gtk::glib::filename_to_uri(output, None).map(|u| u.to_string()).unwrap_or_default();
        settings.set(gtk::PRINT_SETTINGS_OUTPUT_URI, Some(&uri));
    }
    operation.set_print_settings(&settings);
    let (label, name) = (guard.label.clone(), printer.printer.clone());
    operation.connect_failed(move |_, error| {
        log::error!(surface = label.as_str(), reason = "print"; "printing on '{name}' failed: {error}");
    });
    let (label, name) = (guard.label.clone(), printer.printer.clone());
    operation.connect_finished(move |_| {
        log::info!(surface = label.as_str(), reason = "print"; "printed on '{name}'");
    });
    log::info!(surface = guard.label.as_str(), reason = "print"; "printing {} on '{}'", page(view), printer.printer);
    operation.print();
}

/// The page's URL, for the log.
fn page(view: &webkit2gtk::WebView) -> String {
    view.uri().map(|u| u.to_string()).unwrap_or_else(|| "the page".into())
}

/// Answers from `[[auth]]`, once per request: a retry means the credentials were
/// refused, and asking again would loop. Otherwise the built-in offline page shows why,
/// and retries as it does for a server that is down.
fn authenticate(
    view: &webkit2gtk::WebView,
    request: &webkit2gtk::AuthenticationRequest,
    guard: &Guard,
    shared: &Shared,
) {
    let origin = request
        .security_origin()
        .and_then(|o| origin_of(&o.to_str()))
        .unwrap_or_else(|| format!("{}:{}", request.host().map(|h| h.to_string()).unwrap_or_default(), request.port()));
    let login = shared.logins.iter().find(|l| l.origin == origin);
    if let (Some(login), false) = (login, request.is_retry()) {
        let mut credential =
            webkit2gtk::Credential::new(&login.user, &login.password, webkit2gtk::CredentialPersistence::ForSession);
        // SAFETY: a live request and credential of the right types; WebKit copies the
        // credential. (The bindings lack this call.)
        unsafe {
            webkit2gtk::ffi::webkit_authentication_request_authenticate(
                ToGlibPtr::<*mut webkit2gtk::ffi::WebKitAuthenticationRequest>::to_glib_none(request).0,
                credential.to_glib_none_mut().0,
            );
        }
        guard.once("auth", || format!("answered HTTP authentication for {origin} as '{}'", login.user));
        return;
    }
    request.cancel();
    let reason = if login.is_some() {
        format!("{origin} refused the configured [[auth]] credentials")
    } else {
        format!("{origin} asks for a login and vitrine.toml has no [[auth]] for it")
    };
    guard.once("auth", || format!("refused HTTP authentication: {reason}"));
    let url = page(view);
    dispatch(&shared.shell, &shared.proxy, CoreEvent::LoadFailed { label: guard.label.clone(), url, reason });
}

/// Drags from inside a page still work; files from other programs are refused.
fn refuse_outside_drops(native: &webkit2gtk::WebView, guard: &Rc<Guard>) {
    use gtk::prelude::DragContextExtManual;
    {
        let guard = Rc::clone(guard);
        native.connect_drag_motion(move |view, context, _, _, time| {
            if context.drag_get_source_widget().is_some() {
                return false;
            }
            context.drag_status(gtk::gdk::DragAction::empty(), time);
            guard.once("drop", || format!("refused a drag from another program onto {}", page(view)));
            true
        });
    }
    native.connect_drag_drop(move |_, context, _, _, time| {
        if context.drag_get_source_widget().is_some() {
            return false;
        }
        context.drag_finish(false, false, time);
        true
    });
}

/// Ctrl+P, and the shortcuts that open WebKit's or GTK's inspector, never reach the
/// page, WebKit or the window's key bindings (the focused widget sees a key first).
fn swallow_shortcuts(native: &webkit2gtk::WebView, guard: &Rc<Guard>) {
    let guard = Rc::clone(guard);
    native.connect_key_press_event(move |view, event| match shortcut(event) {
        Some(name) => {
            guard.once("shortcut", || format!("swallowed the shortcut {name} on {}", page(view)));
            gtk::glib::Propagation::Stop
        }
        None => gtk::glib::Propagation::Proceed,
    });
}

/// The name of a refused shortcut, if `event` is one.
fn shortcut(event: &gtk::gdk::EventKey) -> Option<&'static str> {
    use gtk::gdk::keys::constants as key;
    use gtk::gdk::ModifierType;
    let mods = event.state() & (ModifierType::CONTROL_MASK | ModifierType::SHIFT_MASK | ModifierType::MOD1_MASK);
    let ctrl = mods == ModifierType::CONTROL_MASK;
    let ctrl_shift = mods == ModifierType::CONTROL_MASK | ModifierType::SHIFT_MASK;
    let k = event.keyval().to_lower();
    Some(match () {
        _ if k == key::F12 => "F12",
        _ if (ctrl || ctrl_shift) && k == key::p => "Ctrl+P",
        _ if ctrl_shift && k == key::i => "Ctrl+Shift+I",
        _ if ctrl_shift && k == key::j => "Ctrl+Shift+J",
        _ if ctrl_shift && k == key::c => "Ctrl+Shift+C",
        _ if ctrl_shift && k == key::d => "Ctrl+Shift+D",
        _ => return None,
    })
}
