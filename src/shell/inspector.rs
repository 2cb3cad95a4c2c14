//! `vitrine run --inspect [ADDR]`: WebKit's remote inspector, for debugging a page on a
//! device from a browser elsewhere (`http://ADDR/`).
//!
//! WebKit starts its inspector server when it finds `WEBKIT_INSPECTOR_HTTP_SERVER` in
//! the environment at start-up, so the variable is the switch: set only when asked for,
//! and removed when it (or `WEBKIT_INSPECTOR_SERVER`) comes from anywhere else — a unit
//! file or a shell profile must not open a debugger on a kiosk by accident. The one
//! exception is `--automation`: WebKitWebDriver reaches the browser it starts through
//! `WEBKIT_INSPECTOR_SERVER`, and a driven kiosk is scriptable through that session anyway.

use std::net::SocketAddr;

const HTTP_SERVER: &str = "WEBKIT_INSPECTOR_HTTP_SERVER";
const SERVER: &str = "WEBKIT_INSPECTOR_SERVER";

/// Where `--inspect` without an address listens: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9222";

/// Sets or clears the variables. Called once at start-up, before any other thread
/// exists, since changing the environment races with threads reading it.
pub fn prepare(addr: Option<SocketAddr>, automation: bool) {
    for var in [HTTP_SERVER, SERVER] {
        if let Some(value) = std::env::var_os(var) {
            if automation && var == SERVER {
                log::warn!("automation: WebDriver connects through {var}={}", value.to_string_lossy());
                continue;
            }
            log::warn!(
                "ignoring {var}={}: the inspector opens only with `vitrine run --inspect`",
                value.to_string_lossy()
            );
            std::env::remove_var(var);
        }
    }
    let Some(addr) = addr else { return };
    std::env::set_var(HTTP_SERVER, addr.to_string());
    log::warn!(
        "REMOTE INSPECTOR ON at http://{addr}/: anyone who reaches it can read and change every page and call \
         what the pages may. For debugging only; never on a kiosk in service"
    );
    if !addr.ip().is_loopback() {
        log::warn!("the remote inspector listens on {}, which is reachable from the network", addr.ip());
    }
}

/// Whether this kiosk was started with `--inspect` (the pages then allow inspection).
pub fn requested() -> bool {
    std::env::var_os(HTTP_SERVER).is_some()
}
