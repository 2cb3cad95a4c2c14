//! The core's place in the system: systemd notifications and logging.

pub mod logging;
pub mod notify;
pub mod procs;
