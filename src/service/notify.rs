//! `sd_notify` messages to systemd (`NOTIFY_SOCKET`). Without the variable every call
//! is a no-op, so the kiosk runs the same outside systemd.

use sd_notify::NotifyState;

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        log::warn!("sd_notify failed: {e}");
    }
}

/// The main surface has loaded: the service is up.
pub fn ready(status: &str) {
    log::info!("ready: {status}");
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

pub fn status(status: &str) {
    log::debug!("status: {status}");
    send(&[NotifyState::Status(status)]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when systemd (or a test)
/// asks for a watchdog for this process.
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) && usec > 0 {
        Some(std::time::Duration::from_micros(usec / 2))
    } else {
        None
    }
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}
