//! The core's place in the system: systemd notifications, logging and process tuning.

pub mod alloc;
pub mod logging;
pub mod notify;
pub mod parent;
pub mod procs;
