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
/// asks for a watchdog for this process. As libsystemd does, an absent `WATCHDOG_PID`
/// means this process (sd-notify's helper insists on it).
pub fn watchdog_interval() -> Option<std::time::Duration> {
    let var = |name| std::env::var(name).ok();
    watchdog_interval_from(var("WATCHDOG_USEC").as_deref(), var("WATCHDOG_PID").as_deref(), std::process::id())
}

fn watchdog_interval_from(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<std::time::Duration> {
    let usec: u64 = usec?.parse().ok().filter(|u| *u > 0)?;
    if pid.is_some_and(|p| p.parse::<u32>().ok() != Some(me)) {
        return None;
    }
    Some(std::time::Duration::from_micros(usec / 2))
}

pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

#[cfg(test)]
mod tests {
    use super::watchdog_interval_from as w;
    use std::time::Duration;

    #[test]
    fn watchdog_follows_usec_and_pid() {
        assert_eq!(w(Some("3000000"), None, 7), Some(Duration::from_millis(1500)));
        assert_eq!(w(Some("3000000"), Some("7"), 7), Some(Duration::from_millis(1500)));
        assert_eq!(w(Some("3000000"), Some("8"), 7), None);
        assert_eq!(w(Some("0"), None, 7), None);
        assert_eq!(w(Some("x"), None, 7), None);
        assert_eq!(w(None, Some("7"), 7), None);
    }
}
