//! `file_chooser = "media"`: the kiosk's own file picker instead of GTK's.
//!
//! A core-owned overlay (`app://localhost/__vitrine/picker.html`, built at start-up
//! only when some surface asks for it) lists the files under `$MEDIA` that the asking
//! surface's page may `fs.read` — the same capability check as the command — and
//! nothing else: no typed paths, no other folders, no symlinks. A choice is handed to
//! WebKit as that one file; anything else cancels. Like the toast, the picker's two
//! messages (`picker.choose`, `picker.cancel`) are handled here before the router.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use gtk::prelude::WidgetExt;
use serde_json::Value;
use webkit2gtk::FileChooserRequestExt;

use crate::config::{Anchor, InputMode, Length, Page, SurfaceConfig, SurfaceLockdown};
use crate::ipc::protocol::{decode, Inbound};
use crate::ipc::{script, Authority, Host, Payload};
use crate::shell::surface::{self, BuildCtx};
use crate::shell::{SharedShell, Shell, ShellError};

/// The picker overlay's label: not a valid configured label.
pub const PICKER_LABEL: &str = "vitrine.picker";
const PICKER_PAGE: &str = "__vitrine/picker.html";
/// Files listed at most, and folders descended at most.
const MAX_FILES: usize = 500;
const MAX_DEPTH: usize = 6;

/// The picker and the request it answers.
pub struct Picker {
    authority: Authority,
    media: Option<PathBuf>,
    /// The surface asking, its request, and the files offered (absolute paths).
    open: Option<(String, webkit2gtk::FileChooserRequest, Vec<PathBuf>)>,
}

/// Whether any surface wants the picker.
pub fn wanted(manifest: &crate::config::Manifest) -> bool {
    manifest.surfaces().any(|s| s.lockdown.file_chooser == crate::config::lockdown::FileChooser::Media)
}

/// Builds the picker overlay (hidden), above every other surface.
pub fn build(
    shell: &Rc<SharedShell>,
    ctx: &mut BuildCtx<'_>,
    authority: Authority,
    media: Option<PathBuf>,
) -> Result<(), ShellError> {
    let cfg = SurfaceConfig {
        label: PICKER_LABEL.to_string(),
        page: Page::Local(PICKER_PAGE.to_string()),
        anchor: Anchor::Fill,
        width: Length::Percent(100),
        height: Length::Percent(100),
        margin: 0,
        transparent: true,
        visible: false,
        input: InputMode::Normal,
        process: crate::config::Process::Own,
        acceleration: None,
        lockdown: SurfaceLockdown::default(),
    };
    let s =
        surface::build(&cfg, ctx).map_err(|source| ShellError::Surface { label: PICKER_LABEL.to_string(), source })?;
    if let Some(container) = &s.container {
        container.hide();
    }
    log::info!(surface = PICKER_LABEL; "file picker overlay created (file_chooser = \"media\")");
    let mut shell = shell.borrow_mut();
    shell.surfaces.push(s);
    shell.picker = Some(Picker { authority, media, open: None });
    Ok(())
}

/// The files under `dir` (as `$MEDIA/…` names and absolute paths) that `readable`
/// admits; symlinks are skipped, so nothing outside `dir` is ever offered.
pub fn media_files(dir: &Path, readable: impl Fn(&str) -> bool) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0usize)];
    while let Some((folder, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        let mut entries: Vec<_> = entries.flatten().collect();
        entries.sort_by_key(|e| e.file_name());
        for entry in entries.into_iter().rev() {
            let Ok(kind) = entry.file_type() else { continue };
            let path = entry.path();
            if kind.is_dir() && depth < MAX_DEPTH {
                stack.push((path, depth + 1));
            } else if kind.is_file() {
                let Ok(rel) = path.strip_prefix(dir) else { continue };
                let name = format!("$MEDIA/{}", rel.to_string_lossy());
                if readable(&name) && out.len() < MAX_FILES {
                    out.push((name, path));
                }
            }
        }
    }
    out.sort();
    out
}

impl Shell {
    /// A page of `label` asked for a file: offer what it may read, or cancel.
    pub(crate) fn open_picker(&mut self, label: &str, request: webkit2gtk::FileChooserRequest) {
        let url = self.surfaces.get(label).map(|s| s.url.clone()).unwrap_or_default();
        let Some(picker) = &mut self.picker else {
            request.cancel();
            return;
        };
        if let Some((_, old, _)) = picker.open.take() {
            old.cancel();
        }
        let files = match &picker.media {
            Some(dir) => {
                let checker = picker.authority.checker(label, &url, "fs.read");
                media_files(dir, |name| checker.check(Some(name)).is_ok())
            }
            None => Vec::new(),
        };
        log::info!(surface = label, reason = "file-chooser"; "file picker: {} readable files offered", files.len());
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        let call = format!("window.vitrinePicker.show({})", Value::from(names));
        picker.open = Some((label.to_string(), request, files.into_iter().map(|(_, p)| p).collect()));
        self.surfaces.eval(PICKER_LABEL, call);
        self.show_picker(true);
    }

    fn show_picker(&mut self, visible: bool) {
        if let Some(s) = self.surfaces.get_mut(PICKER_LABEL) {
            if let Some(container) = &s.container {
                if visible {
                    container.show_all();
                } else {
                    container.hide();
                }
            }
            s.visible = visible;
        }
    }

    /// The picker page's own calls; `false` when the message is not one.
    pub(crate) fn on_picker_message(&mut self, label: &str, body: &str) -> bool {
        if label != PICKER_LABEL {
            return false;
        }
        // The token of the picker page's current document, as for any surface.
        let token = self.surfaces.get(PICKER_LABEL).and_then(|s| s.documents.accepted_token());
        let Some(raw) = token.and_then(|t| body.strip_prefix(t)) else { return false };
        let Some(picker) = &mut self.picker else { return false };
        let Ok(Inbound::Invoke { id, cmd, args, .. }) = decode(raw, self.router.limits()) else { return false };
        let open = picker.open.take();
        match (cmd.as_str(), open) {
            ("picker.choose", Some((asker, request, files))) => {
                let chosen = args["index"].as_u64().and_then(|i| files.get(i as usize));
                match chosen.and_then(|p| p.to_str()) {
                    Some(path) => {
                        log::info!(surface = asker.as_str(), reason = "file-chooser"; "file picker: chose {path}");
                        request.select_files(&[path]);
                    }
                    None => request.cancel(),
                }
            }
            ("picker.cancel", Some((asker, request, _))) => {
                log::info!(surface = asker.as_str(), reason = "file-chooser"; "file picker: cancelled");
                request.cancel();
            }
            ("picker.choose" | "picker.cancel", None) => {}
            _ => return false,
        }
        self.show_picker(false);
        let document = self.surfaces.document(PICKER_LABEL);
        self.surfaces.eval(PICKER_LABEL, script::reply(document, id, &Ok(Payload::Json(Value::Null))));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_readable_files_beneath_the_folder_are_offered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir_all(d.join("pictures/deep")).expect("mkdir");
        std::fs::create_dir_all(d.join("private")).expect("mkdir");
        for f in ["pictures/a.png", "pictures/deep/b.png", "private/key.txt", "top.txt"] {
            std::fs::write(d.join(f), "x").expect("write");
        }
        std::os::unix::fs::symlink("/etc/passwd", d.join("pictures/passwd.png")).expect("symlink");
        let offered = media_files(d, |name| name.starts_with("$MEDIA/pictures/"));
        let names: Vec<&str> = offered.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["$MEDIA/pictures/a.png", "$MEDIA/pictures/deep/b.png"]);
        assert!(offered.iter().all(|(_, p)| p.starts_with(d)));
    }
}
