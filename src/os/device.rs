//! Facts about the device for `device.info`, and whether it is online.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Interface {
    pub name: String,
    pub up: bool,
    pub addresses: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Info {
    pub hostname: String,
    pub os: String,
    pub uptime_secs: u64,
    pub interfaces: Vec<Interface>,
    pub display: Display,
    pub version: &'static str,
    /// The media decoders GStreamer offers (`os::decoders`).
    pub decoders: crate::os::decoders::Decoders,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Display {
    pub width: u32,
    pub height: u32,
}

pub fn info(display: Display) -> Info {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let os = read("/etc/os-release")
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME=").map(|v| v.trim_matches('"').to_string()))
        .unwrap_or_else(|| "unknown".into());
    let uptime = read("/proc/uptime").split_whitespace().next().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    Info {
        hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
        os,
        uptime_secs: uptime as u64,
        interfaces: interfaces(),
        display,
        version: env!("CARGO_PKG_VERSION"),
        decoders: crate::os::decoders::probe(),
    }
}

/// Online: some interface other than loopback is up and has an address.
pub fn online() -> bool {
    interfaces().iter().any(|i| i.up && i.name != "lo" && !i.addresses.is_empty())
}

/// The interfaces and their IPv4/IPv6 addresses, from getifaddrs(3).
pub fn interfaces() -> Vec<Interface> {
    let mut out: Vec<Interface> = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned, alive until freeifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }.to_string_lossy().into_owned();
        let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0 && ifa.ifa_flags & (libc::IFF_RUNNING as u32) != 0;
        // SAFETY: ifa_addr is null or points to a sockaddr of the family it names.
        let address = unsafe { address(ifa.ifa_addr) };
        let entry = match out.iter_mut().find(|i| i.name == name) {
            Some(e) => e,
            None => {
                out.push(Interface { name, up, addresses: Vec::new() });
                out.last_mut().expect("just pushed")
            }
        };
        entry.up |= up;
        entry.addresses.extend(address);
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}

unsafe fn address(sa: *const libc::sockaddr) -> Option<String> {
    if sa.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `sa` points to a sockaddr of its own family.
    unsafe {
        match i32::from((*sa).sa_family) {
            libc::AF_INET => {
                let v4 = &*(sa as *const libc::sockaddr_in);
                Some(std::net::Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)).to_string())
            }
            libc::AF_INET6 => {
                let v6 = &*(sa as *const libc::sockaddr_in6);
                Some(std::net::Ipv6Addr::from(v6.sin6_addr.s6_addr).to_string())
            }
            _ => None,
        }
    }
}

/// How often connectivity is looked at.
const ONLINE_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Watches connectivity on a thread of its own and calls `changed(online)` whenever it
/// flips (not for the state at start, which `device.info` tells).
pub fn watch_online(changed: impl Fn(bool) + Send + 'static) {
    let spawned = std::thread::Builder::new().name("vitrine-online".into()).spawn(move || {
        let mut last = online();
        loop {
            std::thread::sleep(ONLINE_POLL);
            let now = online();
            if now != last {
                log::info!("the device is {}", if now { "online" } else { "offline" });
                changed(now);
                last = now;
            }
        }
    });
    if let Err(e) = spawned {
        log::error!("cannot watch connectivity: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_address() {
        let all = interfaces();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo");
        assert!(lo.addresses.iter().any(|a| a == "127.0.0.1"), "{all:?}");
        let i = info(Display { width: 1, height: 2 });
        assert!(!i.hostname.is_empty() && i.uptime_secs > 0);
    }
}
