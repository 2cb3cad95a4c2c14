//! `vitrine`: run the kiosk, check a configuration folder, or control a running kiosk.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Kiosk runtime: a trusted core and untrusted WebKitGTK surfaces")]
struct Cli {
    /// Let WebKitWebDriver drive the kiosk (as `run --automation`); WebDriver clients
    /// start the binary this way.
    #[arg(long)]
    automation: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the kiosk (the default).
    Run {
        /// Load this configuration folder instead of the embedded one.
        #[arg(long, value_name = "DIR")]
        config: Option<PathBuf>,
        /// Keep the store here (default: $STATE_DIRECTORY, else $XDG_STATE_HOME/vitrine).
        #[arg(long, value_name = "DIR")]
        state_dir: Option<PathBuf>,
        /// Keep the HTTP cache here (default: $CACHE_DIRECTORY, else $XDG_CACHE_HOME/vitrine).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// The main surface's page; if Vitrine already runs, it is asked to open it.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Open WebKit's remote inspector at ADDR (default 127.0.0.1:9222) — debugging only.
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = vitrine::shell::inspector::DEFAULT_ADDR)]
        inspect: Option<std::net::SocketAddr>,
        /// Allow a WebDriver session (WebKitWebDriver) to drive the main surface. Never
        /// for a device in service: the session can script every page.
        #[arg(long)]
        automation: bool,
    },
    /// Control the running kiosk over D-Bus.
    Ctl(vitrine::dbus::client::CtlArgs),
    /// Bridge the kiosk to an MQTT broker, with Home Assistant discovery (a process of its own).
    Mqtt(vitrine::mqtt::MqttArgs),
    /// Before cage starts (vitrine-cage.service, as root): cage's arguments and the
    /// touch screens' udev rule for `display.rotation`.
    CageSetup(vitrine::display::cage::SetupArgs),
    /// Validate a configuration folder (vitrine.toml, capabilities/, ui/).
    Check {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default =
        Command::Run { config: None, state_dir: None, cache_dir: None, url: None, inspect: None, automation: false };
    match cli.command.unwrap_or(default) {
        Command::Check { dir } => match vitrine::check(&dir) {
            Ok(bundle) => {
                let surfaces = bundle.manifest.surfaces().count();
                println!("{}: ok ({surfaces} surfaces, {} capabilities)", dir.display(), bundle.capabilities.len());
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for e in errors.iter() {
                    eprintln!("{e}");
                }
                ExitCode::FAILURE
            }
        },
        Command::Ctl(args) => vitrine::dbus::client::main(args),
        Command::Mqtt(args) => vitrine::mqtt::main(args),
        Command::CageSetup(args) => vitrine::display::cage::main(args),
        Command::Run { config, state_dir, cache_dir, url, inspect, automation } => {
            vitrine::service::logging::init();
            let automation = automation || cli.automation;
            // The rest is the diagnostics' call observer, which product builds do not have.
            #[cfg_attr(not(feature = "diagnostics"), allow(clippy::needless_update))]
            let options = vitrine::RunOptions {
                config_dir: config,
                state_dir,
                cache_dir,
                url,
                inspect,
                automation,
                ..Default::default()
            };
            match vitrine::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
