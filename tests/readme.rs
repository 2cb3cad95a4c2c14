//! The README's command table against the code: every command the core registers is a
//! row, with the permission the catalog gives it and the argument fields its type
//! declares, and there is no other row.
//!
//! The router is built with every registration function the shell calls (without GTK,
//! so with stand-ins for the store, D-Bus and WebKit that the commands would use only
//! when called); a command registered anywhere else has no row here and fails
//! `every_catalog_command_is_registered_here`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use vitrine::config::network::Network;
use vitrine::config::permissions::{self, Effect, ScopeKind, COMMANDS};
use vitrine::config::Manifest;
use vitrine::ipc::shape::ArgShape;
use vitrine::ipc::{self, Authority, Broadcast, CallKey, CallResult, ReplySink, Router};

const HEADER: &str = "| command | permission | arguments | result |";

/// Commands the shell registers with GTK state (the screen's power), which this test
/// cannot build: their rows are held against the catalog, their arguments are not.
const SHELL_ONLY: [&str; 5] = ["display.status", "display.on", "display.off", "display.rotate", "display.brightness"];

struct Sink;
impl ReplySink for Sink {
    fn send(&self, _: CallKey, _: CallResult) {}
    fn broadcast(&self, _: Broadcast) {}
}

fn router() -> Router {
    let ui = BTreeSet::from(["index.html"]);
    let manifest =
        Manifest::parse(Path::new("vitrine.toml"), "[app]\nname = \"t\"\n[main]\npage = \"index.html\"\n", &ui)
            .expect("manifest");
    let mut router = Router::new(manifest, Authority::new(["main"], &[]), Arc::new(Sink));
    // The same registrations as `shell::run`, in its order.
    ipc::register_builtins(&mut router);
    vitrine::shell::webdata::register(&mut router, Default::default());
    ipc::commands::store::register(&mut router, Err("no store in this test".into()));
    let notifier = vitrine::dbus::notifications::Notifier::new(None, Default::default());
    vitrine::dbus::notifications::register(&mut router, notifier);
    let os = ipc::commands::os::OsDeps {
        roots: Default::default(),
        http: vitrine::os::http::Client::new(Vec::new(), std::time::Duration::from_secs(1), 1, &Network::default()),
        display: vitrine::os::device::Display { width: 1, height: 1 },
    };
    ipc::commands::os::register(&mut router, os);
    router
}

/// A row of the table: command, permission, arguments (cells as written).
struct Row {
    line: usize,
    cells: Vec<String>,
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md")
}

/// Splits a table line at unescaped `|`; `\|` stays in the cell as `|`.
fn cells(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.trim().trim_start_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                chars.next();
                out.last_mut().expect("a cell").push('|');
            }
            '|' => out.push(String::new()),
            _ => out.last_mut().expect("a cell").push(c),
        }
    }
    if out.last().is_some_and(|c| c.trim().is_empty()) {
        out.pop();
    }
    out.into_iter().map(|c| c.trim().to_string()).collect()
}

fn table(text: &str) -> Vec<Row> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim() == HEADER).expect("the README has the command table");
    lines[start + 2..]
        .iter()
        .enumerate()
        .take_while(|(_, l)| l.starts_with('|'))
        .map(|(i, l)| Row { line: start + 3 + i, cells: cells(l) })
        .collect()
}

fn code(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')?.split('`').next()
}

/// The top-level field names of the `{…}` code spans of an arguments cell.
fn fields(cell: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for span in cell.split('`').skip(1).step_by(2).filter(|s| s.starts_with('{')) {
        let (mut depth, mut current, mut quoted) = (0, String::new(), false);
        for c in span.chars() {
            match c {
                '"' => quoted = !quoted,
                _ if quoted => {}
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => depth -= 1,
                ',' | '|' | ':' if depth == 1 => {
                    if c != ':' || !current.is_empty() {
                        names.insert(std::mem::take(&mut current));
                    }
                    if c == ':' {
                        // The field's value follows up to the next separator.
                        current = String::from("\0");
                    }
                }
                _ if depth == 1 && !current.starts_with('\0') && (c.is_ascii_alphanumeric() || c == '_') => {
                    current.push(c)
                }
                _ => {}
            }
        }
        names.insert(current);
    }
    names.into_iter().filter(|n| !n.is_empty() && !n.starts_with('\0')).collect()
}

fn scope_words(kind: ScopeKind) -> &'static str {
    match kind {
        ScopeKind::Event => "event",
        ScopeKind::Key => "key",
        ScopeKind::Path => "path",
        ScopeKind::Url => "URL",
    }
}

#[test]
fn the_table_lists_every_command_once_and_nothing_else() {
    let text = readme();
    let rows = table(&text);
    let mut seen = BTreeMap::new();
    for row in &rows {
        let name = code(&row.cells[0]).unwrap_or_else(|| panic!("README:{}: no command in {:?}", row.line, row.cells));
        assert!(seen.insert(name.to_string(), row.line).is_none(), "README:{}: '{name}' listed twice", row.line);
    }
    let registered: BTreeSet<String> = router().command_names().chain(SHELL_ONLY).map(String::from).collect();
    let listed: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(listed, registered, "README command table (left) against the registered commands (right)");
    // A row outside the table (after a blank line, say) does not render as part of it.
    let in_table: BTreeSet<usize> = rows.iter().map(|r| r.line).collect();
    for (i, line) in text.lines().enumerate() {
        // A command row: a command, then a permission (config keys share some names).
        let c = cells(line);
        let strays = c.first().and_then(|c| code(c)).is_some_and(|c| listed.contains(c))
            && c.get(1).is_some_and(|p| p.contains(":allow-") || p.starts_with("guarded by"));
        if line.starts_with("| `") && strays {
            assert!(in_table.contains(&(i + 1)), "README:{}: a command row outside the table: {line}", i + 1);
        }
    }
}

#[test]
fn every_catalog_command_is_registered_here() {
    let router = router();
    let registered: BTreeSet<&str> = router.command_names().chain(SHELL_ONLY).collect();
    let catalog: BTreeSet<&str> = COMMANDS.iter().map(|c| c.name).collect();
    assert_eq!(registered, catalog, "registered commands (left) against the catalog (right)");
}

#[test]
fn each_row_gives_the_permission_of_the_catalog() {
    for row in table(&readme()) {
        let name = code(&row.cells[0]).expect("a command");
        let spec = permissions::command(name).unwrap_or_else(|| panic!("README:{}: '{name}' is no command", row.line));
        let cell = &row.cells[1];
        let want = match (spec.guard, spec.scope) {
            (Some(g), _) => format!("guarded by `{}`", permissions::permission_id(g, Effect::Allow)),
            (None, None) => format!("`{}`", permissions::permission_id(name, Effect::Allow)),
            (None, Some(kind)) => {
                format!("`{}` (scoped by {})", permissions::permission_id(name, Effect::Allow), scope_words(kind))
            }
        };
        assert_eq!(cell, &want, "README:{}: the permission of '{name}'", row.line);
    }
}

#[test]
fn each_row_gives_the_arguments_the_command_takes() {
    let router = router();
    for row in table(&readme()) {
        let name = code(&row.cells[0]).expect("a command");
        let cell = &row.cells[2];
        if SHELL_ONLY.contains(&name) {
            continue;
        }
        let shape = router.arg_shape(name).unwrap_or_else(|| panic!("'{name}' is not registered"));
        match shape {
            ArgShape::Any => assert!(
                cell.starts_with("anything") || cell == "—",
                "README:{}: '{name}' takes any value, the table says {cell}",
                row.line
            ),
            ArgShape::Fields(want) => {
                let want: BTreeSet<String> = want.iter().map(|f| f.to_string()).collect();
                let documented = if cell == "—" { BTreeSet::new() } else { fields(cell) };
                assert_eq!(documented, want, "README:{}: the arguments of '{name}' (table, code)", row.line);
            }
        }
    }
}

#[test]
fn the_field_reader_reads_nested_and_alternative_fields() {
    let f = |s: &str| fields(s).into_iter().collect::<Vec<_>>();
    assert_eq!(f("`{key, value}` or `{key, bytes: base64}`"), ["bytes", "key", "value"]);
    assert_eq!(f("`{expect?: {key: value|null}, set?: {key: value}, delete?: [key]}`"), ["delete", "expect", "set"]);
    assert_eq!(
        f("`{method?, url, headers?: [[name, value]], body? | bytes?}`"),
        ["body", "bytes", "headers", "method", "url"]
    );
    assert_eq!(f(r#"`{length, as?: "bytes"|"text"}`"#), ["as", "length"]);
    assert_eq!(f("`{label, factor}` (0.25–5)"), ["factor", "label"]);
}
