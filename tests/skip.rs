//! A test that cannot run here says so and passes, unless `VITRINE_REQUIRE_ALL=1`
//! (set by CI), which turns every skip into a failure: CI must run everything.

mod common;

use std::process::Command;

const PROBE: &str = "VITRINE_SKIP_PROBE";
const NAME: &str = "a_skip_fails_only_when_every_test_is_required";

#[test]
fn a_skip_fails_only_when_every_test_is_required() {
    if std::env::var_os(PROBE).is_some() {
        common::skip(NAME, "the probe always skips");
        return;
    }
    // This very test, run again as a child that skips.
    let run = |require: Option<&str>| {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args(["--exact", NAME, "--nocapture", "--test-threads=1"]).env(PROBE, "1");
        match require {
            Some(v) => cmd.env("VITRINE_REQUIRE_ALL", v),
            None => cmd.env_remove("VITRINE_REQUIRE_ALL"),
        };
        cmd.output().expect("run the test binary")
    };
    for require in [None, Some("0")] {
        let out = run(require);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a skip failed with VITRINE_REQUIRE_ALL={require:?}: {err}");
        assert!(err.contains(&format!("SKIPPED {NAME}: the probe always skips")), "not loud: {err}");
    }
    let out = run(Some("1"));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a skip passed with VITRINE_REQUIRE_ALL=1: {text}");
    assert!(text.contains("VITRINE_REQUIRE_ALL=1 requires every test to run"), "{text}");
}
