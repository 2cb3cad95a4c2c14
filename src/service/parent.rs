//! A kiosk started for WebDriver ends with the process that started it.
//!
//! WebKitWebDriver starts the kiosk and kills it when the session is deleted, but a client
//! that stops the driver right after (Selenium's `quit()` does) can end it first: the
//! kiosk then runs on, orphaned, owning the bus name the next session's kiosk needs. With
//! the parent-death signal the kernel sends SIGTERM when the parent goes, and the kiosk
//! stops as it does for systemd.

/// Asks the kernel for SIGTERM when the parent process ends; if it has ended already,
/// raises SIGTERM now. Failure is logged: the kiosk runs on as it would without.
pub fn end_with_parent() {
    // SAFETY: getppid cannot fail.
    let parent = unsafe { libc::getppid() };
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and changes only this process.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) } != 0 {
        log::warn!("cannot tie the kiosk to its parent: {}", std::io::Error::last_os_error());
        return;
    }
    // The parent may have gone before the request: then the signal never comes.
    // SAFETY: as above.
    if unsafe { libc::getppid() } != parent {
        log::warn!("the process that started the kiosk (process {parent}) has ended: stopping");
        // SAFETY: raise only sends a signal to this process.
        unsafe { libc::raise(libc::SIGTERM) };
        return;
    }
    log::info!("automation: the kiosk stops when the process that started it (process {parent}) ends");
}
