//! Capability files of any shape either fail validation or resolve into an authority
//! whose answers keep the rules: deny wins, nothing ungranted is allowed.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use vitrine::config::capability::validate_all;
use vitrine::config::permissions::{permission_id, Effect, COMMANDS};
use vitrine::config::Capability;
use vitrine::ipc::Authority;

#[derive(Arbitrary, Debug)]
struct Input {
    files: Vec<String>,
    label: u8,
    command: u8,
    value: Option<String>,
    remote: bool,
}

const LABELS: [&str; 3] = ["main", "toast", "panel-1"];

fuzz_target!(|input: Input| {
    let path = std::path::Path::new("c.json");
    let caps: Vec<(std::path::PathBuf, Capability)> =
        input.files.iter().filter_map(|t| Capability::parse(path, t).ok()).map(|c| (path.to_path_buf(), c)).collect();
    if !validate_all(&caps, Some(&LABELS)).is_empty() {
        return;
    }
    let caps: Vec<Capability> = caps.into_iter().map(|(_, c)| c).collect();
    let authority = Authority::new(LABELS, &caps);
    let label = LABELS[usize::from(input.label) % LABELS.len()];
    let spec = &COMMANDS[usize::from(input.command) % COMMANDS.len()];
    let command = spec.guarded_by();
    let url = if input.remote { "https://remote.example/page" } else { "app://localhost/index.html" };
    let allowed = authority.check(label, url, command, input.value.as_deref()).is_ok();

    // The rules, checked from the files directly for local pages.
    if !input.remote {
        let applies: Vec<&Capability> = caps.iter().filter(|c| c.applies_to(label)).collect();
        let has = |effect| {
            applies.iter().any(|c| c.permissions.iter().any(|p| p.identifier == permission_id(command, effect)))
        };
        if has(Effect::Deny) || !has(Effect::Allow) {
            assert!(!allowed, "{label} {command}: deny or no grant, yet allowed");
        }
    }
});
