//! Which web process serves which surface. WebKit does not say, so the core tells
//! them apart by which process appeared when a surface loaded, and by which are left;
//! overlays with `process = "shared"` run in one web process, started by the first of
//! them (WebKit's related views), and share its pid, its crashes and its reloads.

use std::collections::BTreeSet;

use crate::config::Process;
use crate::service::procs;
use crate::shell::host::Surfaces;

impl Surfaces {
    /// Finds and records the web process of `label`. After a load that had to start
    /// one (`before`: the processes before it): the one that appeared, else, for a
    /// `shared` surface, the live process of another. Otherwise: that shared process,
    /// else the only web process no other surface has. Logs what it found; `None`
    /// while it cannot tell.
    pub fn find_pid(&mut self, label: &str, before: Option<&BTreeSet<u32>>) -> Option<u32> {
        let pid = self.which_pid(label, before)?;
        let s = self.get_mut(label)?;
        if s.pid != Some(pid) {
            s.pid = Some(pid);
            log::info!(surface = label; "web process {pid}");
        }
        Some(pid)
    }

    fn which_pid(&self, label: &str, before: Option<&BTreeSet<u32>>) -> Option<u32> {
        let shared = self.get(label)?.config.process == Process::Shared;
        let now = procs::web_processes();
        let others = || self.iter().filter(|s| s.config.label != label);
        let sibling = || others().filter(|s| shared && s.config.process == Process::Shared).filter_map(|s| s.pid);
        if let Some(before) = before {
            // A load that had to start a process: the new one, or the shared one it joined.
            return match now.difference(before).copied().collect::<Vec<_>>()[..] {
                [pid] => Some(pid),
                _ => sibling().find(|p| procs::alive(*p)),
            };
        }
        if let Some(pid) = sibling().find(|p| procs::alive(*p)) {
            return Some(pid);
        }
        let taken: Vec<u32> = others().filter_map(|s| s.pid).collect();
        match now.iter().copied().filter(|p| !taken.contains(p)).collect::<Vec<_>>()[..] {
            [pid] => Some(pid),
            _ => None,
        }
    }

    /// The other surfaces of `label`'s shared web process `pid`, which ended with it.
    pub fn sharing(&self, label: &str, pid: Option<u32>) -> Vec<String> {
        if self.get(label).is_none_or(|s| s.config.process != Process::Shared) {
            return Vec::new();
        }
        self.iter()
            .filter(|s| s.config.label != label && s.config.process == Process::Shared)
            .filter(|s| pid.is_none() || s.pid.is_none() || s.pid == pid || s.ended_pid == pid)
            .map(|s| s.config.label.clone())
            .collect()
    }
}
