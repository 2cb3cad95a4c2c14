//! WebKit's memory-pressure handler for the kiosk's processes (`[memory] web_limit_mb`,
//! `web_poll_secs`; README "Small boards").
//!
//! Each web process, and the network process, checks its own memory every poll
//! interval against the limit: past a third of it WebKit drops its caches, past half it
//! also collects garbage and returns freed memory to the system. Without a limit WebKit
//! takes the board's whole memory as each process's limit, so on a 512 MB board a
//! process starts freeing only past 170 MB. The kill threshold stays off: ending a
//! process that grew is the core's memory guard (`recovery.memory_limit_mb`), which
//! says so and reloads its surfaces.
//!
//! The web processes' settings are a construct-only property of `WebKitWebContext`,
//! and wry makes the context without them, so they are given where WebKit reads them:
//! in its `constructed` step (`sandbox.rs` calls [`before_constructed`] first).

use std::sync::OnceLock;

use webkit2gtk::glib::gobject_ffi;
use webkit2gtk::glib::translate::ToGlibPtrMut as _;

use crate::config::memory::Memory;

/// The limit and interval, once set by [`apply`].
static SETTINGS: OnceLock<Option<(u32, u32)>> = OnceLock::new();

/// Sets the network process's settings now and the web processes' for the contexts made
/// from now on; call it before the first context, once.
pub fn apply(memory: &Memory) {
    let settings = memory.web_limit_mb.map(|mb| (mb, memory.web_poll_secs));
    if SETTINGS.set(settings).is_err() {
        log::debug!("memory-pressure settings were set already");
        return;
    }
    let Some((limit, poll)) = settings else { return };
    webkit2gtk::WebsiteDataManager::set_memory_pressure_settings(&mut settings_of(limit, poll));
    log::info!(
        "WebKit's memory limit: {limit} MiB per web process and for the network process, checked every {poll} s \
         ([memory] web_limit_mb)"
    );
}

fn settings_of(limit: u32, poll: u32) -> webkit2gtk::MemoryPressureSettings {
    let mut settings = webkit2gtk::MemoryPressureSettings::new();
    settings.set_memory_limit(limit);
    settings.set_poll_interval(f64::from(poll));
    // Tests only: WebKit then ends a process past that share of the limit, which shows
    // from outside that the settings reached it.
    #[cfg(feature = "diagnostics")]
    if let Some(share) = std::env::var("VITRINE_DIAG_WEB_KILL_SHARE").ok().and_then(|v| v.parse().ok()) {
        settings.set_kill_threshold(share);
    }
    settings
}

/// Gives the context under construction `object` the web processes' settings, if any.
///
/// # Safety
/// `object` is a `WebKitWebContext` whose `constructed` step has not run yet.
pub(crate) unsafe fn before_constructed(object: *mut gobject_ffi::GObject) {
    let Some(Some((limit, poll))) = SETTINGS.get().copied() else { return };
    let mut settings = settings_of(limit, poll);
    // SAFETY: the property is WebKit's own, looked up on WebKitWebContext's class, and set
    // through the class's own `set_property` with a value of its boxed type, as
    // GObject does for a construct property; WebKit copies the boxed value and reads
    // it in `constructed`, which runs after this.
    unsafe {
        let class = gobject_ffi::g_type_class_peek(webkit2gtk::ffi::webkit_web_context_get_type())
            as *mut gobject_ffi::GObjectClass;
        if class.is_null() {
            return;
        }
        let pspec = gobject_ffi::g_object_class_find_property(class, c"memory-pressure-settings".as_ptr());
        let Some(set_property) = (*class).set_property.filter(|_| !pspec.is_null()) else {
            log::warn!(
                "this WebKit has no memory-pressure settings for web processes; [memory] web_limit_mb is ignored"
            );
            return;
        };
        let mut value: gobject_ffi::GValue = std::mem::zeroed();
        gobject_ffi::g_value_init(&mut value, webkit2gtk::ffi::webkit_memory_pressure_settings_get_type());
        gobject_ffi::g_value_set_boxed(&mut value, settings.to_glib_none_mut().0.cast());
        set_property(object, (*pspec).param_id, &mut value, pspec);
        gobject_ffi::g_value_unset(&mut value);
    }
}
