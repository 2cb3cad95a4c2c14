//! cage, the device image's compositor (Debian 12's 0.1.4). It has neither output
//! management nor output power management, so the kiosk cannot turn its output at run
//! time: cage turns it only as it starts (`-r`, once per quarter of the `wl_output`
//! transform). And cage maps no touch screen to its output, so wlroots would not turn
//! touch points with it. `vitrine cage-setup`, run as root by vitrine-cage.service just
//! before cage, derives both from `display.rotation`:
//!
//! * cage's arguments, into an environment file the unit reads (`VITRINE_CAGE_ARGS`);
//! * a udev rule that gives every touch screen libinput's calibration matrix for that
//!   rotation (`LIBINPUT_CALIBRATION_MATRIX`, see [`super::touch`]), and a `change`
//!   event for the input devices, so that udev's database has it when cage's libinput
//!   opens them. A touch screen plugged in later gets it from the rule.
//!
//! cage cannot mirror: a `flipped` output stays unmirrored (and its touch unmirrored
//! with it), and the setup says so. The core, finding no output management, checks
//! that the output already shows `display.rotation` ([`super::shown`]).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use super::{touch, wlr_output, Orientation};

/// Where the unit reads cage's arguments from (its runtime directory).
pub const ENV_FILE: &str = "/run/vitrine-display/cage.env";
/// udev reads rules from /run too; /run goes at power-off, so a stale rule cannot outlive
/// a configuration that no longer turns the output.
pub const RULES_FILE: &str = "/run/udev/rules.d/70-vitrine-touch.rules";

/// `vitrine cage-setup`.
#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Read `display` from this configuration folder instead of the embedded one.
    #[arg(long, value_name = "DIR")]
    pub config: Option<PathBuf>,
    #[arg(long, value_name = "FILE", default_value = ENV_FILE)]
    pub env_file: PathBuf,
    #[arg(long, value_name = "FILE", default_value = RULES_FILE)]
    pub rules_file: PathBuf,
    /// Write the files only; no `udevadm trigger`.
    #[arg(long)]
    pub no_trigger: bool,
}

/// Runs `vitrine cage-setup`. A configuration that does not load leaves cage upright
/// (the kiosk reports the configuration's errors itself); only a file that cannot be
/// written fails, and the unit starts cage all the same.
pub fn main(args: SetupArgs) -> ExitCode {
    let display = match &args.config {
        Some(dir) => crate::check(dir).map(|b| b.manifest.display).map_err(|e| e.to_string()),
        None => crate::embedded_bundle().map(|b| b.manifest.display).map_err(|e| e.to_string()),
    };
    let o = match display {
        Ok(d) => Orientation { rotation: d.rotation, flipped: d.flipped },
        Err(e) => {
            eprintln!("cage-setup: the configuration does not load, cage stays upright: {e}");
            Orientation::default()
        }
    };
    match setup(o, &args.env_file, &args.rules_file, !args.no_trigger) {
        Ok(done) => {
            for w in &done.warnings {
                eprintln!("cage-setup: {w}");
            }
            let touch = done.calibration.map_or("as they are".to_string(), |m| format!("calibration {m}"));
            println!("cage-setup: rotation {}°: cage {:?}, touch screens {touch}", o.rotation, done.args.join(" "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cage-setup: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What `setup` did, for the journal.
#[derive(Debug, Default, PartialEq)]
pub struct Setup {
    /// cage's arguments (`-r` per quarter turn).
    pub args: Vec<&'static str>,
    /// The calibration matrix touch screens get (`None`: the rule was removed).
    pub calibration: Option<String>,
    /// What could not be done as asked.
    pub warnings: Vec<String>,
}

/// cage's arguments for `o`: as many `-r` as quarters in the `wl_output` transform the
/// core would set through output management, so both compositors show the same.
pub fn args(o: Orientation) -> Vec<&'static str> {
    use wayland_client::protocol::wl_output::Transform as T;
    let turns = match wlr_output::transform(Orientation { flipped: false, ..o }) {
        Some(T::_90) => 1,
        Some(T::_180) => 2,
        Some(T::_270) => 3,
        _ => 0,
    };
    vec!["-r"; turns]
}

/// The udev rule for `o`, `None` when touch needs no matrix.
pub fn touch_rule(o: Orientation) -> Option<(String, String)> {
    let matrix = touch::libinput_calibration(Orientation { flipped: false, ..o })?;
    if matrix == touch::libinput_calibration(Orientation::default())? {
        return None;
    }
    let rule = format!(
        "# Written by `vitrine cage-setup` (vitrine-cage.service) for display.rotation = {}:\n\
         # touch screens follow the output cage turns.\n\
         ACTION!=\"remove\", SUBSYSTEM==\"input\", KERNEL==\"event*\", ENV{{ID_INPUT_TOUCHSCREEN}}==\"1\", \
         ENV{{LIBINPUT_CALIBRATION_MATRIX}}=\"{matrix}\"\n",
        o.rotation
    );
    Some((matrix, rule))
}

/// Writes cage's arguments to `env_file` and the touch rule to `rules_file` (or removes
/// it), then, with `trigger`, has udev apply it to the input devices there are.
pub fn setup(o: Orientation, env_file: &Path, rules_file: &Path, trigger: bool) -> std::io::Result<Setup> {
    let mut done = Setup { args: args(o), ..Setup::default() };
    if o.flipped {
        done.warnings.push("cage cannot mirror its output: display.flipped is ignored under cage".into());
    }
    if wlr_output::transform(o).is_none() {
        done.warnings.push(format!("display.rotation {} is not a quarter turn: the output stays as it is", o.rotation));
    }
    write_atomically(env_file, &format!("VITRINE_CAGE_ARGS={}\n", done.args.join(" ")))?;
    let before = std::fs::read_to_string(rules_file).ok();
    let wanted = touch_rule(o);
    // The rule is in /run: it only changes with the configuration or after a boot, and
    // udev need not be asked (nor waited on, where it does not run) otherwise.
    let changed = before.as_deref() != wanted.as_ref().map(|(_, rule)| rule.as_str());
    match wanted {
        Some((matrix, rule)) => {
            if changed {
                write_atomically(rules_file, &rule)?;
            }
            done.calibration = Some(matrix);
        }
        None => match std::fs::remove_file(rules_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        },
    }
    if trigger && changed {
        // `change` re-runs the rules for the devices there are (a touch screen's
        // properties are read when libinput adds it, which happens after this, in cage).
        for args in [&["trigger", "--action=change", "--subsystem-match=input"][..], &["settle", "--timeout=10"][..]] {
            match Command::new("udevadm").args(args).status() {
                Ok(s) if s.success() => {}
                Ok(s) => done.warnings.push(format!("udevadm {}: {s}", args[0])),
                Err(e) => done.warnings.push(format!("udevadm {}: {e}", args[0])),
            }
        }
    }
    Ok(done)
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(rotation: u16, flipped: bool) -> Orientation {
        Orientation { rotation, flipped }
    }

    #[test]
    fn a_clockwise_quarter_is_three_of_cages_quarters() {
        // cage counts wl_output's way (counter-clockwise), as output management does.
        assert_eq!(args(o(0, false)), Vec::<&str>::new());
        assert_eq!(args(o(90, false)), vec!["-r"; 3]);
        assert_eq!(args(o(180, false)), vec!["-r"; 2]);
        assert_eq!(args(o(270, false)), vec!["-r"; 1]);
        assert_eq!(args(o(90, true)), vec!["-r"; 3], "the turn stays, the mirror goes");
        assert_eq!(args(o(45, false)), Vec::<&str>::new());
    }

    #[test]
    fn the_rule_gives_touch_screens_the_rotations_matrix() {
        assert_eq!(touch_rule(o(0, false)), None);
        assert_eq!(touch_rule(o(0, true)), None, "cage does not mirror, so neither does touch");
        let (matrix, rule) = touch_rule(o(90, false)).expect("a quarter turn");
        assert_eq!(matrix, "0 1 0 -1 0 1");
        assert!(rule.contains("ENV{ID_INPUT_TOUCHSCREEN}==\"1\""), "{rule}");
        assert!(rule.contains("ENV{LIBINPUT_CALIBRATION_MATRIX}=\"0 1 0 -1 0 1\""), "{rule}");
        assert_eq!(touch_rule(o(180, false)).map(|r| r.0).as_deref(), Some("-1 0 1 0 -1 1"));
        assert_eq!(touch_rule(o(270, false)).map(|r| r.0).as_deref(), Some("0 -1 1 1 0 0"));
    }

    #[test]
    fn setup_writes_both_files_and_removes_a_stale_rule() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (env, rules) = (dir.path().join("display/cage.env"), dir.path().join("rules.d/70-vitrine-touch.rules"));
        let done = setup(o(270, false), &env, &rules, false).expect("setup");
        assert_eq!(std::fs::read_to_string(&env).expect("env"), "VITRINE_CAGE_ARGS=-r\n");
        assert!(std::fs::read_to_string(&rules).expect("rule").contains("\"0 -1 1 1 0 0\""));
        assert_eq!(done.calibration.as_deref(), Some("0 -1 1 1 0 0"));
        assert!(done.warnings.is_empty(), "{:?}", done.warnings);
        // Back to upright: no arguments, no rule.
        let done = setup(o(0, true), &env, &rules, false).expect("setup");
        assert_eq!(std::fs::read_to_string(&env).expect("env"), "VITRINE_CAGE_ARGS=\n");
        assert!(!rules.exists());
        assert_eq!(done.warnings.len(), 1, "the mirror is refused: {:?}", done.warnings);
    }
}
