//! Logging: to journald with structured fields when started by systemd with its
//! output connected to the journal (`JOURNAL_STREAM`), to stderr otherwise.
//!
//! Key-values on a record (`surface`, `command`) become journal fields (`SURFACE=main`)
//! or ` key=value` suffixes on stderr. `VITRINE_LOG` sets the level (default `info`).

use std::io::Write;
use std::str::FromStr;
use std::time::Instant;

use log::{kv, LevelFilter, Log, Metadata, Record};

pub fn init() {
    let level =
        std::env::var("VITRINE_LOG").ok().and_then(|v| LevelFilter::from_str(&v).ok()).unwrap_or(LevelFilter::Info);
    let journal = std::env::var_os("JOURNAL_STREAM").is_some() && systemd_journal_logger::connected_to_journal();
    let installed = if journal {
        systemd_journal_logger::JournalLog::new()
            .map(|j| j.with_syslog_identifier("vitrine".to_string()))
            .map_err(|e| e.to_string())
            .and_then(|j| j.install().map_err(|e| e.to_string()))
    } else {
        log::set_boxed_logger(Box::new(Stderr { start: Instant::now() })).map_err(|e| e.to_string())
    };
    match installed {
        Ok(()) => log::set_max_level(level),
        Err(e) => eprintln!("vitrine: logging not set up: {e}"),
    }
}

struct Stderr {
    start: Instant,
}

struct Fields(String);

impl<'kvs> kv::VisitSource<'kvs> for Fields {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        self.0.push_str(&format!(" {key}={value}"));
        Ok(())
    }
}

impl Log for Stderr {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &Record<'_>) {
        let mut fields = Fields(String::new());
        let _ = record.key_values().visit(&mut fields);
        let t = self.start.elapsed().as_secs_f64();
        // One write per line, so lines from different threads never interleave.
        let line = format!("{t:9.3} {:<5} {}:{} {}\n", record.level(), record.target(), fields.0, record.args());
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}
