//! Configuration validation: every kind of mistake in `vitrine.toml`, `capabilities/*.json`
//! or `ui/` is reported with its file, its place and its reason.
//!
//! Each case starts from the same small valid folder, written into a temporary directory,
//! and changes one thing.

use std::path::{Path, PathBuf};

use vitrine::config::{self, Bundle, ConfigError, ConfigErrors, Length, Page};

const BASE_MANIFEST: &str = r#"[app]
name = "Base"

[main]
page = "index.html"

[[overlay]]
label = "status"
page = "status.html"
anchor = "top"
height = 48
"#;

const BASE_CAPABILITY: &str = r#"{
  "identifier": "x",
  "windows": ["main"],
  "permissions": ["app:allow-info"]
}
"#;

const MANIFEST: &str = "vitrine.toml";
const CAP: &str = "capabilities/x.json";

/// A configuration folder in a temporary directory.
struct Folder {
    dir: tempfile::TempDir,
}

impl Folder {
    /// The valid base folder.
    fn base() -> Folder {
        let folder = Folder { dir: tempfile::tempdir().expect("a temporary directory") };
        folder.write(MANIFEST, BASE_MANIFEST);
        folder.write(CAP, BASE_CAPABILITY);
        folder.write("ui/index.html", "<!doctype html><title>index</title>");
        folder.write("ui/status.html", "<!doctype html><title>status</title>");
        folder
    }

    /// The base folder with `vitrine.toml` replaced.
    fn with_manifest(text: &str) -> Folder {
        let folder = Folder::base();
        folder.write(MANIFEST, text);
        folder
    }

    /// The base folder with `capabilities/x.json` replaced.
    fn with_capability(text: &str) -> Folder {
        let folder = Folder::base();
        folder.write(CAP, text);
        folder
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("create folder");
        std::fs::write(&path, text).expect("write file");
    }

    fn load(&self) -> Result<Bundle, ConfigErrors> {
        config::load_dir(self.dir.path())
    }

    fn errors(&self) -> ConfigErrors {
        match self.load() {
            Ok(bundle) => panic!("expected errors, the folder is valid: {bundle:?}"),
            Err(errors) => errors,
        }
    }

    /// Asserts that loading fails with exactly one error, in `rel` at `place`, whose reason
    /// contains `reason`; returns it.
    fn only_error(&self, rel: &str, place: &str, reason: &str) -> ConfigError {
        let errors = self.errors();
        assert_eq!(errors.0.len(), 1, "expected one error, got:\n{errors}");
        let e = errors.0.into_iter().next().expect("one error");
        assert_matches(&e, &self.path(rel), place, reason);
        e
    }

    /// Asserts that one of the errors is in `rel` at `place` with `reason` in its reason.
    fn has_error(errors: &ConfigErrors, file: &Path, place: &str, reason: &str) {
        assert!(
            errors.iter().any(|e| e.file == file && e.place == place && e.reason.contains(reason)),
            "no error '{}: {place}: …{reason}…' among:\n{errors}",
            file.display()
        );
    }
}

fn assert_matches(e: &ConfigError, file: &Path, place: &str, reason: &str) {
    assert_eq!(e.file, file, "file of: {e}");
    assert_eq!(e.place, place, "place of: {e}");
    assert!(e.reason.contains(reason), "reason of '{e}' should contain '{reason}'");
    let shown = e.to_string();
    if place.is_empty() {
        assert_eq!(shown, format!("{}: {}", file.display(), e.reason));
    } else {
        assert_eq!(shown, format!("{}: {place}: {}", file.display(), e.reason));
    }
}

/// The base manifest with `from` replaced by `to` (which must occur).
fn manifest_with(from: &str, to: &str) -> String {
    assert!(BASE_MANIFEST.contains(from), "'{from}' is not in the base manifest");
    BASE_MANIFEST.replacen(from, to, 1)
}

/// The base manifest with text appended to the overlay.
fn overlay_with(extra: &str) -> String {
    format!("{BASE_MANIFEST}{extra}\n")
}

/// A capability for the surfaces `windows` with the JSON `permissions` array.
fn capability(identifier: &str, windows: &str, permissions: &str) -> String {
    format!(r#"{{ "identifier": "{identifier}", "windows": {windows}, "permissions": {permissions} }}"#)
}

// ---------------------------------------------------------------------------------------
// The valid base, round trips, and the repository's own folders.

#[test]
fn the_base_folder_is_valid_and_normalized() {
    let bundle = Folder::base().load().unwrap_or_else(|e| panic!("base folder invalid:\n{e}"));
    let m = &bundle.manifest;
    assert_eq!(m.name, "Base");
    assert_eq!(m.csp, vitrine::config::manifest::DEFAULT_CSP);
    assert_eq!(m.main.label, "main");
    assert_eq!(m.main.page, Page::Local("index.html".into()));
    assert_eq!(m.main.page.url(), "app://localhost/index.html");
    assert!(!m.main.transparent, "the main surface is opaque");
    assert_eq!(m.overlays.len(), 1);
    assert_eq!(m.overlays[0].label, "status");
    assert_eq!(m.overlays[0].height, Length::Px(48));
    assert_eq!(m.overlays[0].width, Length::Percent(100));
    assert_eq!(bundle.capabilities.len(), 1);
    assert_eq!(bundle.capabilities[0].identifier, "x");
    let paths: Vec<&str> = bundle.ui.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["index.html", "status.html"]);
}

#[test]
fn a_valid_folder_round_trips_through_postcard() {
    let folder = Folder::with_manifest(&format!(
        r#"{}
[limits]
max_message_bytes = 4096
max_json_depth = 8

[[overlay]]
label = "web"
page = "https://board.example.com/screen?x=1"
anchor = "bottom-right"
width = "25%"
height = "120px"
margin = 4
transparent = false
visible = false
input = "pass-through"
"#,
        BASE_MANIFEST.replace(
            "name = \"Base\"",
            "name = \"Base\"\ncsp = \"default-src 'none'\"\nnavigation = [\"https://example.com/*\"]"
        )
    ));
    folder.write("ui/sub/dir/app.js", "console.log('hi')");
    folder.write(
        "capabilities/y.json",
        r#"{
          "$schema": "../schema.json",
          "identifier": "y",
          "description": "remote board",
          "windows": ["web", "stat*"],
          "permissions": [
            "window:deny-hide",
            { "identifier": "event:allow-emit", "allow": [{ "event": "board-*" }], "deny": [{ "event": "board-admin" }] },
            { "identifier": "event:allow-listen" }
          ],
          "remote": { "urls": ["https://board.example.com/*"] }
        }"#,
    );
    let bundle = folder.load().unwrap_or_else(|e| panic!("folder invalid:\n{e}"));
    assert_eq!(bundle.manifest.overlays.len(), 2);
    assert_eq!(bundle.manifest.limits.max_json_depth, 8);
    assert!(bundle.ui_file("sub/dir/app.js").is_some());
    let y = bundle.capabilities.iter().find(|c| c.identifier == "y").expect("capability y");
    assert_eq!(y.remote_urls, ["https://board.example.com/*"]);
    assert_eq!(y.permissions[1].deny[0].pattern, "board-admin");
    assert_eq!(y.permissions[2].allow, None);

    let bytes = bundle.to_postcard().expect("serializes");
    let back = Bundle::from_postcard(&bytes).expect("deserializes");
    assert_eq!(back, bundle);
    assert_eq!(back.to_postcard().expect("serializes again"), bytes);
}

#[test]
fn garbage_is_not_a_bundle() {
    let bytes = Folder::base().load().expect("valid").to_postcard().expect("serializes");
    assert!(Bundle::from_postcard(&bytes[..bytes.len() / 2]).is_err());
}

/// Config folders under `dir`: `dir` itself if it has a manifest, else its sub-folders'.
fn config_folders(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.join(config::MANIFEST_FILE).is_file() {
        out.push(dir.to_path_buf());
        return;
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    for entry in entries {
        config_folders(&entry, out);
    }
}

#[test]
fn the_repository_folder_and_the_fixtures_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    config::load_dir(root).unwrap_or_else(|e| panic!("the repository's own folder is invalid:\n{e}"));
    config::load_dir(&root.join("examples/small")).unwrap_or_else(|e| panic!("examples/small is invalid:\n{e}"));

    let fixtures = root.join("tests/fixtures");
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(&fixtures).expect("tests/fixtures") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() && path.file_name().is_some_and(|n| n != "broken") {
            config_folders(&path, &mut folders);
        }
    }
    assert!(folders.len() >= 3, "too few fixture folders: {folders:?}");
    for folder in &folders {
        config::load_dir(folder).unwrap_or_else(|e| panic!("{} is invalid:\n{e}", folder.display()));
    }
}

#[test]
fn the_broken_fixture_reports_every_problem() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken");
    let errors = config::load_dir(&dir).expect_err("the broken fixture is broken");
    Folder::has_error(&errors, &dir.join(MANIFEST), "overlay[0].page", "'missing.html' does not exist in ui/");
    Folder::has_error(&errors, &dir.join("capabilities/grants.json"), "windows[1]", "'ghost' matches no surface");
    Folder::has_error(&errors, &dir.join("capabilities/grants.json"), "permissions[1]", "unknown permission");
    Folder::has_error(&errors, &dir.join("capabilities/syntax.json"), "line 4, column 3", "expected `,` or `}`");
    assert_eq!(errors.0.len(), 4, "{errors}");
}

// ---------------------------------------------------------------------------------------
// vitrine.toml

#[test]
fn toml_syntax_error_gives_line_and_column() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = = \"index.html\""));
    folder.only_error(MANIFEST, "line 5, column 8", "");
}

#[test]
fn unterminated_toml_string_gives_line_and_column() {
    let folder = Folder::with_manifest("[app]\nname = \"Base\n\n[main]\npage = \"index.html\"\n");
    let e = folder.only_error(MANIFEST, "line 2, column 13", "invalid basic string");
    assert!(!e.reason.is_empty());
}

#[test]
fn unknown_key_in_app() {
    let folder = Folder::with_manifest(&manifest_with("name = \"Base\"", "name = \"Base\"\ntitle = \"x\""));
    folder.only_error(MANIFEST, "line 3, column 1", "unknown field `title`");
}

#[test]
fn unknown_top_level_table() {
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[extra]\nx = 1\n"));
    let e = folder.only_error(MANIFEST, "line 13, column 2", "unknown field `extra`");
    assert!(e.reason.contains("expected one of"), "{e}");
}

#[test]
fn unknown_key_in_overlay() {
    let folder = Folder::with_manifest(&overlay_with("opacity = 0.5"));
    folder.only_error(MANIFEST, "line 12, column 1", "unknown field `opacity`");
}

#[test]
fn unknown_key_in_main() {
    let folder =
        Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"index.html\"\nanchor = \"top\""));
    folder.only_error(MANIFEST, "line 6, column 1", "unknown field `anchor`");
}

#[test]
fn missing_main_table() {
    let folder = Folder::with_manifest("[app]\nname = \"Base\"\n");
    folder.only_error(MANIFEST, "main", "missing table: the main surface must be declared");
}

#[test]
fn missing_app_table() {
    let folder = Folder::with_manifest("[main]\npage = \"index.html\"\n");
    folder.only_error(MANIFEST, "line 1, column 1", "missing field `app`");
}

#[test]
fn missing_app_name() {
    let folder = Folder::with_manifest(&manifest_with("name = \"Base\"", "csp = \"default-src 'self'\""));
    folder.only_error(MANIFEST, "line 1, column 1", "missing field `name`");
}

#[test]
fn empty_app_name() {
    let folder = Folder::with_manifest(&manifest_with("name = \"Base\"", "name = \"  \""));
    folder.only_error(MANIFEST, "app.name", "must not be empty");
}

#[test]
fn missing_page_key() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "label = \"main\""));
    folder.only_error(MANIFEST, "line 4, column 1", "missing field `page`");
}

#[test]
fn page_missing_from_ui() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"home.html\""));
    folder.only_error(MANIFEST, "main.page", "'home.html' does not exist in ui/");
}

#[test]
fn overlay_page_missing_from_ui() {
    let folder = Folder::with_manifest(&manifest_with("page = \"status.html\"", "page = \"/nope.html?x=1#y\""));
    folder.only_error(MANIFEST, "overlay[0].page", "'nope.html' does not exist in ui/");
}

#[test]
fn local_page_with_query_and_leading_slash_is_fine() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"/index.html?kiosk=1#top\""));
    let bundle = folder.load().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bundle.manifest.main.page, Page::Local("index.html?kiosk=1#top".into()));
}

#[test]
fn page_with_a_non_http_scheme() {
    for page in ["ftp://example.com/index.html", "file:///etc/passwd", "app://localhost/index.html"] {
        let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", &format!("page = \"{page}\"")));
        folder.only_error(MANIFEST, "main.page", "only pages under ui/ and http(s) URLs are supported");
    }
}

#[test]
fn page_that_looks_like_a_url_without_slashes_is_a_missing_file() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"javascript:alert(1)\""));
    folder.only_error(MANIFEST, "main.page", "does not exist in ui/");
}

#[test]
fn bad_remote_page_url() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"https://exa mple.com/\""));
    folder.only_error(MANIFEST, "main.page", "is not a valid URL");
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"http://\""));
    folder.only_error(MANIFEST, "main.page", "is not a valid URL");
}

#[test]
fn remote_page_is_accepted() {
    let folder = Folder::with_manifest(&manifest_with("page = \"index.html\"", "page = \"https://example.com/a?b\""));
    let bundle = folder.load().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bundle.manifest.main.page, Page::Remote("https://example.com/a?b".into()));
}

#[test]
fn bad_main_label() {
    let folder = Folder::with_manifest(&manifest_with("[main]\n", "[main]\nlabel = \"Main\"\n"));
    // The capability names `main`, which no longer exists; that is reported too.
    let errors = folder.errors();
    Folder::has_error(&errors, &folder.path(MANIFEST), "main.label", "'Main' must be 1-64 characters");
}

#[test]
fn bad_overlay_labels() {
    for label in ["Status", "has space", "dot.ted", "é", &"x".repeat(65)] {
        let folder = Folder::with_manifest(&manifest_with("label = \"status\"", &format!("label = \"{label}\"")));
        folder.only_error(MANIFEST, "overlay[0].label", "must be 1-64 characters of a-z, 0-9, '-' and '_'");
    }
    let folder =
        Folder::with_manifest(&manifest_with("label = \"status\"", &format!("label = \"{}\"", "x".repeat(64))));
    folder.load().unwrap_or_else(|e| panic!("a 64-character label is fine:\n{e}"));
}

#[test]
fn missing_overlay_label() {
    let folder = Folder::with_manifest(&manifest_with("label = \"status\"\n", ""));
    folder.only_error(MANIFEST, "overlay[0].label", "missing: every surface needs a label");
    let folder = Folder::with_manifest(&manifest_with("label = \"status\"", "label = \"\""));
    folder.only_error(MANIFEST, "overlay[0].label", "missing: every surface needs a label");
}

#[test]
fn duplicate_surface_labels() {
    let folder = Folder::with_manifest(&overlay_with("\n[[overlay]]\nlabel = \"status\"\npage = \"index.html\""));
    folder.only_error(MANIFEST, "overlay[1].label", "duplicate surface label 'status'");
    let folder = Folder::with_manifest(&manifest_with("label = \"status\"", "label = \"main\""));
    folder.only_error(MANIFEST, "overlay[0].label", "duplicate surface label 'main'");
}

#[test]
fn bad_lengths() {
    let cases = [
        ("0", "width", "must be greater than zero"),
        ("\"0%\"", "width", "must be greater than zero"),
        ("\"0px\"", "height", "must be greater than zero"),
        ("\"150%\"", "width", "150% is more than the screen"),
        ("\"abc\"", "height", "'abc' is neither pixels nor a percentage"),
        ("\"x%\"", "width", "'x%' is not a percentage"),
        ("\"-5%\"", "width", "'-5%' is not a percentage"),
        ("-1", "height", "-1 is not a size"),
        ("20000", "width", "20000px is larger than any screen"),
    ];
    for (value, key, reason) in cases {
        let text = manifest_with("height = 48", &format!("{key} = {value}"));
        let folder = Folder::with_manifest(&text);
        folder.only_error(MANIFEST, &format!("overlay[0].{key}"), reason);
    }
}

#[test]
fn good_lengths() {
    let cases = [
        ("\"100%\"", Length::Percent(100)),
        ("\" 50 % \"", Length::Percent(50)),
        ("\"48px\"", Length::Px(48)),
        ("\"48\"", Length::Px(48)),
        ("16384", Length::Px(16384)),
    ];
    for (value, expected) in cases {
        let folder = Folder::with_manifest(&manifest_with("height = 48", &format!("height = {value}")));
        let bundle = folder.load().unwrap_or_else(|e| panic!("height = {value}:\n{e}"));
        assert_eq!(bundle.manifest.overlays[0].height, expected, "height = {value}");
    }
}

#[test]
fn length_of_the_wrong_type() {
    let folder = Folder::with_manifest(&manifest_with("height = 48", "height = 1.5"));
    folder.only_error(MANIFEST, "line 11, column 10", "did not match any variant");
}

#[test]
fn bad_anchor_and_input() {
    let folder = Folder::with_manifest(&manifest_with("anchor = \"top\"", "anchor = \"middle\""));
    folder.only_error(MANIFEST, "line 10, column 10", "unknown variant `middle`");
    let folder = Folder::with_manifest(&overlay_with("input = \"none\""));
    folder.only_error(MANIFEST, "line 12, column 9", "unknown variant `none`");
}

#[test]
fn bad_limits() {
    let cases = [
        ("max_message_bytes = 1023", "limits.max_message_bytes", "must be between 1024 and 268435456"),
        ("max_message_bytes = 268435457", "limits.max_message_bytes", "must be between 1024 and 268435456"),
        ("max_json_depth = 0", "limits.max_json_depth", "must be between 1 and 1000"),
        ("max_json_depth = 1001", "limits.max_json_depth", "must be between 1 and 1000"),
    ];
    for (line, place, reason) in cases {
        let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[limits]\n{line}\n"));
        folder.only_error(MANIFEST, place, reason);
    }
    let folder =
        Folder::with_manifest(&format!("{BASE_MANIFEST}\n[limits]\nmax_message_bytes = 1024\nmax_json_depth = 1000\n"));
    folder.load().unwrap_or_else(|e| panic!("the bounds are allowed:\n{e}"));
}

#[test]
fn limits_of_the_wrong_kind() {
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[limits]\nmax_json_depth = -1\n"));
    folder.only_error(MANIFEST, "line 14, column 18", "");
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[limits]\nmax_depth = 3\n"));
    folder.only_error(MANIFEST, "line 14, column 1", "unknown field `max_depth`");
}

#[test]
fn csp_with_a_newline() {
    let folder = Folder::with_manifest(&manifest_with(
        "name = \"Base\"",
        "name = \"Base\"\ncsp = \"default-src 'self';\\nscript-src *\"",
    ));
    folder.only_error(MANIFEST, "app.csp", "must be one non-empty line");
    let folder = Folder::with_manifest(&manifest_with("name = \"Base\"", "name = \"Base\"\ncsp = \" \""));
    folder.only_error(MANIFEST, "app.csp", "must be one non-empty line");
}

#[test]
fn bad_navigation_patterns() {
    let folder = Folder::with_manifest(&manifest_with(
        "name = \"Base\"",
        "name = \"Base\"\nnavigation = [\"https://ok.example/*\", \"example.com/*\", \"https://x/[\"]",
    ));
    let errors = folder.errors();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert_matches(
        &errors.0[0],
        &folder.path(MANIFEST),
        "app.navigation[1]",
        "must start with https://, http:// or app://",
    );
    assert_matches(&errors.0[1], &folder.path(MANIFEST), "app.navigation[2]", "'https://x/[' is not a valid glob");
}

#[test]
fn several_manifest_errors_are_all_reported() {
    let text = r#"[app]
name = ""
csp = "a\nb"

[limits]
max_json_depth = 0

[main]
page = "nope.html"

[[overlay]]
label = "BAD"
page = "gopher://x/"
width = "0%"
"#;
    let folder = Folder::with_manifest(text);
    let errors = folder.errors();
    let file = folder.path(MANIFEST);
    Folder::has_error(&errors, &file, "app.name", "must not be empty");
    Folder::has_error(&errors, &file, "app.csp", "one non-empty line");
    Folder::has_error(&errors, &file, "limits.max_json_depth", "between 1 and 1000");
    Folder::has_error(&errors, &file, "main.page", "'nope.html' does not exist");
    Folder::has_error(&errors, &file, "overlay[0].label", "'BAD' must be");
    Folder::has_error(&errors, &file, "overlay[0].page", "only pages under ui/");
    Folder::has_error(&errors, &file, "overlay[0].width", "greater than zero");
    assert_eq!(errors.0.len(), 7, "{errors}");
}

#[test]
fn missing_manifest() {
    let folder = Folder::base();
    std::fs::remove_file(folder.path(MANIFEST)).expect("remove");
    folder.only_error(MANIFEST, "", "cannot read");
}

// ---------------------------------------------------------------------------------------
// ui/

#[test]
fn missing_ui_folder() {
    let folder = Folder::base();
    std::fs::remove_dir_all(folder.path("ui")).expect("remove ui/");
    let errors = folder.errors();
    let ui = folder.path("ui");
    let e = errors.iter().find(|e| e.file == ui).unwrap_or_else(|| panic!("no error for ui/:\n{errors}"));
    assert_matches(e, &ui, "", "the ui folder does not exist");
    // Without ui/, the pages are missing too.
    Folder::has_error(&errors, &folder.path(MANIFEST), "main.page", "'index.html' does not exist in ui/");
    Folder::has_error(&errors, &folder.path(MANIFEST), "overlay[0].page", "'status.html' does not exist in ui/");
    assert_eq!(errors.0.len(), 3, "{errors}");
}

// ---------------------------------------------------------------------------------------
// capabilities/*.json

#[test]
fn no_capabilities_folder_is_valid() {
    let folder = Folder::base();
    std::fs::remove_dir_all(folder.path("capabilities")).expect("remove capabilities/");
    let bundle = folder.load().unwrap_or_else(|e| panic!("{e}"));
    assert!(bundle.capabilities.is_empty());
}

#[test]
fn non_json_files_in_capabilities_are_ignored() {
    let folder = Folder::base();
    folder.write("capabilities/README.md", "not json {");
    folder.write("capabilities/x.json.bak", "not json {");
    folder.load().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn bad_json_gives_line_and_column() {
    let folder =
        Folder::with_capability("{\n  \"identifier\": \"x\",\n  \"windows\": [\"main\"]\n  \"permissions\": []\n}\n");
    let e = folder.only_error(CAP, "line 4, column 3", "expected `,` or `}`");
    assert!(!e.reason.contains(" at line "), "the place is not repeated in the reason: {e}");
}

#[test]
fn truncated_json() {
    let folder = Folder::with_capability("{ \"identifier\": \"x\",\n");
    folder.only_error(CAP, "line 2, column 0", "EOF while parsing");
}

#[test]
fn unknown_field_in_a_capability() {
    let folder = Folder::with_capability(
        "{\n  \"identifier\": \"x\",\n  \"window\": [\"main\"],\n  \"windows\": [\"main\"],\n  \"permissions\": [\"app:allow-info\"]\n}",
    );
    folder.only_error(CAP, "line 3, column 10", "unknown field `window`");
}

#[test]
fn unknown_field_in_remote_and_in_a_scope() {
    let folder = Folder::with_capability(
        r#"{ "identifier": "x", "windows": ["main"], "permissions": ["app:allow-info"], "remote": { "url": [] } }"#,
    );
    folder.only_error(CAP, "line 1, column 94", "unknown field `url`");
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"[{ "identifier": "event:allow-emit", "allow": [{ "name": "a" }] }]"#,
    ));
    folder.only_error(CAP, "line 1, column 123", "did not match any variant of untagged enum RawPermission");
}

#[test]
fn missing_field_in_a_capability() {
    let folder = Folder::with_capability(r#"{ "identifier": "x", "permissions": ["app:allow-info"] }"#);
    folder.only_error(CAP, "line 1, column 56", "missing field `windows`");
}

#[test]
fn unknown_permission() {
    for id in ["window:allow-fly", "window:show", "event:allow-unlisten", "app:permit-info"] {
        let folder =
            Folder::with_capability(&capability("x", r#"["main"]"#, &format!(r#"["app:allow-info", "{id}"]"#)));
        folder.only_error(CAP, "permissions[1]", &format!("unknown permission '{id}'"));
    }
}

#[test]
fn scopes_on_an_unscoped_permission() {
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"[{ "identifier": "window:allow-show", "allow": [{ "event": "a" }] }]"#,
    ));
    folder.only_error(CAP, "permissions[0]", "'window:allow-show' takes no scopes");
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"[{ "identifier": "app:allow-info", "deny": [{ "event": "a" }] }]"#,
    ));
    folder.only_error(CAP, "permissions[0]", "'app:allow-info' takes no scopes");
}

#[test]
fn scopes_on_a_deny_permission() {
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"["app:allow-info", { "identifier": "event:deny-emit", "deny": [{ "event": "a" }] }]"#,
    ));
    folder.only_error(CAP, "permissions[1]", "'event:deny-emit' takes no scopes");
}

#[test]
fn object_form_without_scopes_is_a_plain_permission() {
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"[{ "identifier": "window:allow-show" }, { "identifier": "event:deny-emit" }]"#,
    ));
    folder.load().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn empty_allow_list() {
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"["app:allow-info", { "identifier": "event:allow-listen", "allow": [] }]"#,
    ));
    folder.only_error(CAP, "permissions[1].allow", "is empty: omit it to allow any value");
}

#[test]
fn invalid_scope_glob() {
    let folder = Folder::with_capability(&capability(
        "x",
        r#"["main"]"#,
        r#"[{ "identifier": "event:allow-emit", "allow": [{ "event": "ok" }, { "event": "a[" }], "deny": [{ "event": "**x" }] }]"#,
    ));
    let errors = folder.errors();
    assert_eq!(errors.0.len(), 2, "{errors}");
    assert_matches(&errors.0[0], &folder.path(CAP), "permissions[0].allow[1]", "'a[' is not a valid glob");
    // Scopes are numbered across the allow list then the deny list.
    assert_matches(&errors.0[1], &folder.path(CAP), "permissions[0].deny[2]", "'**x' is not a valid glob");
}

#[test]
fn windows_glob_that_matches_no_surface() {
    let folder = Folder::with_capability(&capability("x", r#"["main", "panel-*"]"#, r#"["app:allow-info"]"#));
    let e = folder.only_error(CAP, "windows[1]", "'panel-*' matches no surface");
    assert!(e.reason.contains("(surfaces: main, status)"), "{e}");
}

#[test]
fn invalid_windows_glob() {
    let folder = Folder::with_capability(&capability("x", r#"["main", "[main"]"#, r#"["app:allow-info"]"#));
    folder.only_error(CAP, "windows[1]", "'[main' is not a valid glob");
}

#[test]
fn empty_windows() {
    let folder = Folder::with_capability(&capability("x", "[]", r#"["app:allow-info"]"#));
    folder.only_error(CAP, "windows", "must name at least one surface");
}

#[test]
fn glob_windows_that_match_are_fine() {
    let folder = Folder::with_capability(&capability("x", r#"["*", "stat?s", "m[a-z]in"]"#, r#"["app:allow-info"]"#));
    folder.load().unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn duplicate_capability_identifiers_across_files() {
    let folder = Folder::base();
    folder.write("capabilities/y.json", &capability("x", r#"["status"]"#, r#"["window:allow-list"]"#));
    let e = folder.only_error("capabilities/y.json", "identifier", "'x' is also defined in");
    assert!(e.reason.ends_with(&folder.path(CAP).display().to_string()), "{e}");
}

#[test]
fn bad_capability_identifier() {
    for id in ["", "has space", "slash/y"] {
        let folder = Folder::with_capability(&capability(id, r#"["main"]"#, r#"["app:allow-info"]"#));
        folder.only_error(CAP, "identifier", "must be non-empty a-z, 0-9");
    }
}

#[test]
fn empty_permissions() {
    let folder = Folder::with_capability(&capability("x", r#"["main"]"#, "[]"));
    folder.only_error(CAP, "permissions", "grants nothing: list at least one permission");
}

#[test]
fn remote_urls_with_app_scheme_or_bad_scheme() {
    let cases = [
        ("app://localhost/*", "local pages need no remote entry"),
        ("ftp://example.com/*", "must start with https://, http:// or app://"),
        ("example.com/*", "must start with https://, http:// or app://"),
        ("https://example.com/[", "is not a valid glob"),
    ];
    for (url, reason) in cases {
        let folder = Folder::with_capability(&format!(
            r#"{{ "identifier": "x", "windows": ["main"], "permissions": ["app:allow-info"],
                 "remote": {{ "urls": ["https://ok.example.com/*", "{url}"] }} }}"#
        ));
        folder.only_error(CAP, "remote.urls[1]", reason);
    }
}

#[test]
fn several_errors_in_one_capability_are_all_reported() {
    let folder = Folder::with_capability(
        r#"{ "identifier": "x", "windows": ["ghost"],
             "permissions": ["window:allow-fly", { "identifier": "window:deny-show", "deny": [{ "event": "a" }] }],
             "remote": { "urls": ["app://localhost/"] } }"#,
    );
    let errors = folder.errors();
    let file = folder.path(CAP);
    Folder::has_error(&errors, &file, "windows[0]", "matches no surface");
    Folder::has_error(&errors, &file, "permissions[0]", "unknown permission");
    Folder::has_error(&errors, &file, "permissions[1]", "takes no scopes");
    Folder::has_error(&errors, &file, "remote.urls[0]", "local pages need no remote entry");
    assert_eq!(errors.0.len(), 4, "{errors}");
}

#[test]
fn errors_in_different_files_are_all_reported_in_one_run() {
    let folder = Folder::with_manifest(&manifest_with("height = 48", "height = \"150%\""));
    folder.write("capabilities/a.json", "{ \"identifier\": ");
    folder.write("capabilities/b.json", &capability("b", r#"["status", "ghost"]"#, r#"["window:allow-fly"]"#));
    folder.write("capabilities/c.json", &capability("x", r#"["main"]"#, r#"["app:allow-info"]"#));
    std::fs::remove_file(folder.path("ui/index.html")).expect("remove");

    let errors = folder.errors();
    Folder::has_error(&errors, &folder.path(MANIFEST), "overlay[0].height", "150% is more than the screen");
    Folder::has_error(&errors, &folder.path(MANIFEST), "main.page", "'index.html' does not exist in ui/");
    Folder::has_error(&errors, &folder.path("capabilities/a.json"), "line 1, column 16", "EOF while parsing");
    Folder::has_error(&errors, &folder.path("capabilities/b.json"), "windows[1]", "'ghost' matches no surface");
    Folder::has_error(&errors, &folder.path("capabilities/b.json"), "permissions[0]", "unknown permission");
    Folder::has_error(&errors, &folder.path("capabilities/x.json"), "identifier", "'x' is also defined in");
    assert_eq!(errors.0.len(), 6, "{errors}");

    // The whole report prints one error a line.
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), 6, "{shown}");
    for e in errors.iter() {
        assert!(shown.lines().any(|l| l == e.to_string()), "{e} missing from:\n{shown}");
    }
}

#[test]
fn capabilities_are_checked_against_labels_of_an_invalid_manifest() {
    // The overlay's page is missing, but its label still counts for the capabilities.
    let folder = Folder::with_manifest(&manifest_with("page = \"status.html\"", "page = \"gone.html\""));
    folder.write("capabilities/y.json", &capability("y", r#"["status", "nobody"]"#, r#"["window:allow-show"]"#));
    let errors = folder.errors();
    Folder::has_error(&errors, &folder.path(MANIFEST), "overlay[0].page", "'gone.html' does not exist");
    Folder::has_error(&errors, &folder.path("capabilities/y.json"), "windows[1]", "'nobody' matches no surface");
    assert_eq!(errors.0.len(), 2, "{errors}");
}

#[test]
fn unknown_key_in_a_permission_object() {
    // A misspelt `allow` must not silently turn a narrowed grant into "any value", nor a
    // misspelt `deny` silently drop the deny scopes.
    for entry in [
        r#"{ "identifier": "event:allow-emit", "alow": [{ "event": "a" }] }"#,
        r#"{ "identifier": "event:allow-emit", "allow": [{ "event": "a" }], "denied": [{ "event": "b" }] }"#,
    ] {
        let folder = Folder::with_capability(&format!(
            "{{\n  \"identifier\": \"x\",\n  \"windows\": [\"main\"],\n  \"permissions\": [\n    {entry}\n  ]\n}}"
        ));
        let errors = folder.errors();
        assert_eq!(errors.0.len(), 1, "{errors}");
        let e = &errors.0[0];
        assert_eq!(e.file, folder.path(CAP));
        // serde_json reports the position where it gave up on the buffered entry.
        assert!(e.place.starts_with("line "), "{e}");
        assert!(e.reason.contains("did not match any variant of untagged enum RawPermission"), "{e}");
    }
}

/// Labels of overlays that fail to resolve still count when duplicates are numbered.
#[test]
fn duplicate_label_place_counts_every_overlay() {
    let folder = Folder::with_manifest(&overlay_with(
        "\n[[overlay]]\nlabel = \"a\"\npage = \"gone.html\"\n\n[[overlay]]\nlabel = \"b\"\npage = \"index.html\"\n\n\
         [[overlay]]\nlabel = \"b\"\npage = \"index.html\"",
    ));
    let errors = folder.errors();
    Folder::has_error(&errors, &folder.path(MANIFEST), "overlay[1].page", "'gone.html' does not exist");
    Folder::has_error(&errors, &folder.path(MANIFEST), "overlay[3].label", "duplicate surface label 'b'");
}

#[test]
fn duplicate_label_place_without_main() {
    let folder = Folder::with_manifest(
        "[app]\nname = \"x\"\n\n[[overlay]]\nlabel = \"b\"\npage = \"index.html\"\n\n[[overlay]]\nlabel = \"b\"\npage = \"index.html\"\n",
    );
    let errors = folder.errors();
    Folder::has_error(&errors, &folder.path(MANIFEST), "overlay[1].label", "duplicate surface label 'b'");
}

// ---------------------------------------------------------------------------------------
// Web processes and memory: `overlay[].process`, per-surface acceleration, `[memory]`.

/// Two overlays of `ui/` pages after the base's, with `process` lines of their own.
fn two_overlays(first: &str, second: &str) -> String {
    format!(
        "{BASE_MANIFEST}{first}\n\n[[overlay]]\nlabel = \"toast\"\npage = \"status.html\"\n{second}\n\n\
         [[overlay]]\nlabel = \"clock\"\npage = \"status.html\"\n"
    )
}

#[test]
fn overlays_run_in_their_own_process_unless_they_share_one() {
    let folder = Folder::with_manifest(&two_overlays("process = \"shared\"", "process = \"shared\""));
    let m = folder.load().expect("valid").manifest;
    let process: Vec<config::Process> = m.overlays.iter().map(|o| o.process).collect();
    assert_eq!(process, [config::Process::Shared, config::Process::Shared, config::Process::Own]);
    assert_eq!(m.main.process, config::Process::Own);

    let folder = Folder::with_manifest(&overlay_with("process = \"own\""));
    assert_eq!(folder.load().expect("valid").manifest.overlays[0].process, config::Process::Own);
}

#[test]
fn a_process_that_is_neither_own_nor_shared_is_refused() {
    let folder = Folder::with_manifest(&overlay_with("process = \"pooled\""));
    let e = folder.only_error(MANIFEST, "line 12, column 11", "unknown variant `pooled`");
    assert!(e.reason.contains("`own`") && e.reason.contains("`shared`"), "{e}");
    let folder = Folder::with_manifest(&overlay_with("process = true"));
    folder.only_error(MANIFEST, "line 12, column 11", "wanted string or table");
}

#[test]
fn the_main_surface_may_join_the_shared_process() {
    let text = manifest_with("page = \"index.html\"", "page = \"index.html\"\nprocess = \"shared\"");
    let m = Folder::with_manifest(&text).load().expect("valid").manifest;
    assert_eq!(m.main.process, config::Process::Shared);
    let text = manifest_with("page = \"index.html\"", "page = \"https://board.example.com/\"\nprocess = \"shared\"");
    Folder::with_manifest(&text).only_error(MANIFEST, "main.process", "'shared' is for pages of ui/ only");
}

#[test]
fn a_remote_page_cannot_share_a_web_process() {
    let folder = Folder::with_manifest(&manifest_with(
        "page = \"status.html\"",
        "page = \"https://board.example.com/status\"\nprocess = \"shared\"",
    ));
    folder.only_error(
        MANIFEST,
        "overlay[0].process",
        "'shared' is for pages of ui/ only; https://board.example.com/status is remote",
    );
    // Remote in a process of its own is fine.
    let folder =
        Folder::with_manifest(&manifest_with("page = \"status.html\"", "page = \"https://board.example.com/\""));
    assert_eq!(folder.load().expect("valid").manifest.overlays[0].process, config::Process::Own);
}

#[test]
fn acceleration_is_per_surface_with_the_kiosk_default() {
    let text = manifest_with("page = \"index.html\"", "page = \"index.html\"\nacceleration = \"never\"");
    let folder = Folder::with_manifest(&format!("{text}acceleration = \"always\"\n"));
    let m = folder.load().expect("valid").manifest;
    use vitrine::config::policy::Acceleration;
    assert_eq!(m.main.acceleration, Some(Acceleration::Never));
    assert_eq!(m.overlays[0].acceleration, Some(Acceleration::Always));
    let m = Folder::base().load().expect("valid").manifest;
    assert_eq!((m.main.acceleration, m.overlays[0].acceleration), (None, None));

    let folder = Folder::with_manifest(&overlay_with("acceleration = \"sometimes\""));
    folder.only_error(MANIFEST, "line 12, column 16", "unknown variant `sometimes`");
}

#[test]
fn memory_settings_parse_and_are_checked() {
    use vitrine::config::memory::{CacheModel, Memory, Painting, WebHeap};
    assert_eq!(Folder::base().load().expect("valid").manifest.memory, Memory::default());
    let text = format!(
        "{BASE_MANIFEST}\n[memory]\ncache = \"viewer\"\npainting = \"cpu\"\nweb_heap = \"compact\"\ncore_heap_keep_mb = 8\n\
         web_limit_mb = 192\nweb_poll_secs = 5\n"
    );
    let m = Folder::with_manifest(&text).load().expect("valid").manifest;
    assert_eq!(
        m.memory,
        Memory {
            cache: CacheModel::Viewer,
            painting: Painting::Cpu,
            web_heap: WebHeap::Compact,
            core_heap_keep_mb: Some(8),
            web_limit_mb: Some(192),
            web_poll_secs: 5,
        }
    );
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[memory]\ncore_heap_keep_mb = 4096\n"));
    folder.only_error(MANIFEST, "memory.core_heap_keep_mb", "4096 is more than 1024 MiB");
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[memory]\nweb_limit_mb = 32\n"));
    folder.only_error(MANIFEST, "memory.web_limit_mb", "32 is less than 64 MiB");
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[memory]\nweb_poll_secs = 0\n"));
    folder.only_error(MANIFEST, "memory.web_poll_secs", "0 is not from 1 to 3600 s");
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[memory]\ncache = \"none\"\n"));
    folder.only_error(MANIFEST, "line 14, column 9", "unknown variant `none`");
    let folder = Folder::with_manifest(&format!("{BASE_MANIFEST}\n[memory]\nswap = true\n"));
    folder.only_error(MANIFEST, "line 14, column 1", "unknown field `swap`");
}

#[test]
fn a_shared_process_needs_one_accelerated_surface() {
    let shared = two_overlays("process = \"shared\"", "process = \"shared\"");
    let folder = Folder::with_manifest(&format!("{shared}\n[kiosk]\nacceleration = \"never\"\n"));
    folder.only_error(
        MANIFEST,
        "process",
        "the shared web process of status, toast has no surface with hardware acceleration",
    );
    // One accelerated surface in it is enough; an unshared one does not count.
    let one = two_overlays("process = \"shared\"\nacceleration = \"default\"", "process = \"shared\"");
    let folder = Folder::with_manifest(&format!("{one}\n[kiosk]\nacceleration = \"never\"\n"));
    folder.load().expect("valid");
    let main_never = manifest_with("page = \"index.html\"", "page = \"index.html\"\nacceleration = \"never\"");
    let folder = Folder::with_manifest(&format!("{main_never}process = \"shared\"\n"));
    let m = folder.load().expect("one shared surface is no shared process").manifest;
    assert_eq!(m.overlays[0].process, config::Process::Shared);
}
