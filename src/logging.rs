//! The server log: tracing to stdout, filtered by `loglevel` (Redis's level
//! names mapped onto tracing's), and changeable while running: CONFIG SET
//! loglevel swaps the filter through a reload handle. Coloured on a
//! terminal, plain text when stdout is a file or a pipe.

use std::io::IsTerminal;
use std::sync::OnceLock;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// The tracing filter for a Redis log level. `verbose` adds ringcache's own
/// debug lines (client connections, ...) without its dependencies' ones.
fn filter_of(loglevel: &str) -> EnvFilter {
    EnvFilter::new(match loglevel {
        "debug" => "debug",
        "verbose" => "info,ringcache=debug",
        "warning" => "warn",
        _ => "info",
    })
}

/// Installs the log; `RUST_LOG`, when set, wins over `loglevel` until a
/// CONFIG SET loglevel.
pub fn init(loglevel: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| filter_of(loglevel));
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_ansi(std::io::stdout().is_terminal()))
        .init();
    let _ = FILTER.set(handle);
}

/// Changes the level of the running log (CONFIG SET loglevel).
pub fn set_level(loglevel: &str) {
    if let Some(handle) = FILTER.get() {
        if let Err(e) = handle.reload(filter_of(loglevel)) {
            tracing::warn!("cannot change the log level: {e}");
        }
    }
}
