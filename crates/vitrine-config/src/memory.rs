//! `[memory]`: what the kiosk's processes may keep, for boards with little of it
//! (README "Small boards"). Each setting trades something (speed, caching, CPU) for
//! memory, so WebKit's and glibc's own choices stay the default.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Memory {
    /// WebKit's cache model for the shared web context.
    pub cache: CacheModel,
    /// How web processes paint page content (`WEBKIT_SKIA_ENABLE_CPU_RENDERING`).
    pub painting: Painting,
    /// glibc's allocator in the web processes (`GLIBC_TUNABLES`).
    pub web_heap: WebHeap,
    /// Freed heap the core keeps for large messages, in MiB; `None`: sized by the
    /// board's memory (see `service::alloc`).
    pub core_heap_keep_mb: Option<u32>,
    /// WebKit's memory limit for each web process and the network process, in MiB
    /// (`WebKitMemoryPressureSettings`): past a third of it WebKit drops caches, past
    /// half it also collects garbage and returns freed memory. `None`: WebKit's own
    /// (the board's memory).
    pub web_limit_mb: Option<u32>,
    /// How often, in seconds, each process checks its memory against `web_limit_mb`.
    pub web_poll_secs: u32,
}

/// WebKit's own interval (`WebKitMemoryPressureSettings:poll-interval`).
pub const WEB_POLL_SECS: u32 = 30;

impl Default for Memory {
    fn default() -> Self {
        Self {
            cache: CacheModel::Browser,
            painting: Painting::Default,
            web_heap: WebHeap::Default,
            core_heap_keep_mb: None,
            web_limit_mb: None,
            web_poll_secs: WEB_POLL_SECS,
        }
    }
}

impl Memory {
    /// Problems as (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if let Some(mb) = self.core_heap_keep_mb.filter(|mb| *mb > 1024) {
            problems.push(("memory.core_heap_keep_mb".into(), format!("{mb} is more than 1024 MiB")));
        }
        // Below this a web process is past half its limit on an empty page, and WebKit
        // would collect garbage at every check.
        if let Some(mb) = self.web_limit_mb.filter(|mb| *mb < WEB_LIMIT_MIN_MB) {
            problems.push(("memory.web_limit_mb".into(), format!("{mb} is less than {WEB_LIMIT_MIN_MB} MiB")));
        }
        if !(1..=3600).contains(&self.web_poll_secs) {
            problems.push(("memory.web_poll_secs".into(), format!("{} is not from 1 to 3600 s", self.web_poll_secs)));
        }
        problems
    }
}

/// The smallest `memory.web_limit_mb`.
pub const WEB_LIMIT_MIN_MB: u32 = 64;

/// `memory.cache`: WebKit's cache model.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CacheModel {
    /// Memory and disk caches sized for browsing (WebKit's default).
    #[default]
    Browser,
    /// No memory or disk cache: for pages of `ui/`, which come from the binary anyway.
    /// Remote pages then fetch every resource again on each load.
    Viewer,
}

/// `memory.painting`: where page content is painted.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Painting {
    /// WebKit's choice: on the GPU when compositing is accelerated.
    #[default]
    Default,
    /// On the CPU, composited as before (transparent overlays stay transparent). With
    /// software GL (Mesa llvmpipe) this takes less memory for the same work; with a
    /// real GPU it costs CPU time.
    Cpu,
}

/// `memory.web_heap`: glibc's allocator in the web processes.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WebHeap {
    /// glibc's defaults.
    #[default]
    Default,
    /// Two malloc arenas and freed memory returned from 128 KiB: less held memory, a
    /// little more allocator work.
    Compact,
}
