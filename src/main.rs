//! `vitrine`: run the kiosk, or check a configuration folder.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "Kiosk runtime: a trusted core and untrusted WebKitGTK surfaces")]
struct Cli {
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
    },
    /// Validate a configuration folder (vitrine.toml, capabilities/, ui/).
    Check {
        #[arg(default_value = ".")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run { config: None, state_dir: None }) {
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
        Command::Run { config, state_dir } => {
            vitrine::service::logging::init();
            match vitrine::run(vitrine::RunOptions { config_dir: config, state_dir, ..Default::default() }) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    log::error!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
