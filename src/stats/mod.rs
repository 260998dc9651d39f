//! What a core counts about the commands it coordinates, for INFO
//! `commandstats`, `latencystats` and `errorstats`, plus the slow log and the
//! latency monitor. Every core keeps its own figures (nothing shared, nothing
//! locked); INFO, SLOWLOG and LATENCY gather them from every core and merge.
//!
//! - `commands` (this file): per-command calls, time, failures and an HDR
//!   latency histogram, per-error-code counts;
//! - `slowlog`: the commands that ran longer than `slowlog-log-slower-than`;
//! - `latency`: persistence events (AOF fsync) slower than
//!   `latency-monitor-threshold`, as Redis's LATENCY command reports them.

pub mod latency;
pub mod slowlog;

use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Histogram bounds, as Redis's: 1 ns to 1 s, 2 significant digits.
const HISTOGRAM_MIN_NS: u64 = 1;
const HISTOGRAM_MAX_NS: u64 = 1_000_000_000;
const HISTOGRAM_DIGITS: u8 = 2;
/// The percentiles INFO latencystats shows (Redis's default
/// `latency-tracking-info-percentiles`).
pub const PERCENTILES: [f64; 3] = [50.0, 99.0, 99.9];
/// Most distinct error codes counted; later new ones are not (Redis's
/// ERROR_STATS_NUMBER), so a client inventing codes cannot grow the table.
pub const MAX_ERROR_CODES: usize = 128;

/// One command's figures on one core.
#[derive(Clone)]
pub struct CommandFigures {
    pub calls: u64,
    pub nanos: u64,
    /// Refused before running (wrong number of arguments).
    pub rejected: u64,
    /// Ran and answered an error.
    pub failed: u64,
    /// Run times in ns; `None` until the command first runs.
    pub histogram: Option<Histogram<u64>>,
}

impl CommandFigures {
    fn new() -> CommandFigures {
        CommandFigures {
            calls: 0,
            nanos: 0,
            rejected: 0,
            failed: 0,
            histogram: None,
        }
    }

    fn record_run(&mut self, nanos: u64) {
        self.calls += 1;
        self.nanos += nanos;
        let h = self.histogram.get_or_insert_with(|| {
            Histogram::new_with_bounds(HISTOGRAM_MIN_NS, HISTOGRAM_MAX_NS, HISTOGRAM_DIGITS)
                .expect("constant histogram bounds are valid")
        });
        h.saturating_record(nanos.max(HISTOGRAM_MIN_NS));
    }

    /// Adds another core's figures for the same command.
    pub fn merge(&mut self, other: &CommandFigures) {
        self.calls += other.calls;
        self.nanos += other.nanos;
        self.rejected += other.rejected;
        self.failed += other.failed;
        if let Some(theirs) = &other.histogram {
            match &mut self.histogram {
                Some(ours) => {
                    // Same bounds on every core: adding cannot fail.
                    let _ = ours.add(theirs);
                }
                None => self.histogram = Some(theirs.clone()),
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.calls == 0 && self.rejected == 0 && self.failed == 0
    }
}

/// How one command ended, as far as the statistics care.
pub enum Outcome<'a> {
    /// Refused before it ran, with this error.
    Rejected(&'a str),
    /// Ran for `nanos`; `Some(error)` if it answered one.
    Ran { nanos: u64, error: Option<&'a str> },
}

/// One core's command and error statistics. Commands are found by their
/// index in the command table, subcommands by theirs within the command, so
/// recording is two vector lookups.
#[derive(Default)]
pub struct CommandStats {
    /// By command id, then by subcommand index + 1 (0: the command itself).
    by_command: Vec<Vec<Option<Box<CommandFigures>>>>,
    errors: BTreeMap<String, u64>,
}

impl CommandStats {
    /// Records one command: `id` its table index, `sub` its subcommand's.
    pub fn record(&mut self, id: usize, sub: Option<usize>, outcome: Outcome) {
        let slot = sub.map_or(0, |s| s + 1);
        if self.by_command.len() <= id {
            self.by_command.resize_with(id + 1, Vec::new);
        }
        let subs = &mut self.by_command[id];
        if subs.len() <= slot {
            subs.resize_with(slot + 1, || None);
        }
        let figures = subs[slot].get_or_insert_with(|| Box::new(CommandFigures::new()));
        match outcome {
            Outcome::Rejected(error) => {
                figures.rejected += 1;
                self.record_error(error);
            }
            Outcome::Ran { nanos, error } => {
                figures.record_run(nanos);
                if let Some(error) = error {
                    figures.failed += 1;
                    self.record_error(error);
                }
            }
        }
    }

    /// Counts an error reply under its code: its first word ("ERR",
    /// "WRONGTYPE", ...).
    pub fn record_error(&mut self, error: &str) {
        let code = error.split(' ').next().unwrap_or(error);
        if let Some(n) = self.errors.get_mut(code) {
            *n += 1;
        } else if self.errors.len() < MAX_ERROR_CODES {
            self.errors.insert(code.to_string(), 1);
        }
    }

    /// Every command with figures, as `(id, subcommand, figures)`.
    pub fn figures(&self) -> Vec<(usize, Option<usize>, CommandFigures)> {
        let mut out = Vec::new();
        for (id, subs) in self.by_command.iter().enumerate() {
            for (slot, f) in subs.iter().enumerate() {
                if let Some(f) = f.as_ref().filter(|f| !f.is_empty()) {
                    out.push((id, slot.checked_sub(1), (**f).clone()));
                }
            }
        }
        out
    }

    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&mut self) {
        *self = CommandStats::default();
    }
}

/// `cmdstat_<name>:...` of INFO commandstats, Redis 7's format.
pub fn commandstat_line(name: &str, f: &CommandFigures) -> String {
    let usec = f.nanos / 1000;
    let per_call = if f.calls == 0 {
        0.0
    } else {
        usec as f64 / f.calls as f64
    };
    format!(
        "cmdstat_{name}:calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
        f.calls, f.rejected, f.failed
    )
}

/// `latency_percentiles_usec_<name>:p50=...,p99=...,p99.9=...` of INFO
/// latencystats, or nothing for a command that never ran.
pub fn latency_line(name: &str, f: &CommandFigures) -> Option<String> {
    let h = f.histogram.as_ref()?;
    let parts: Vec<String> = PERCENTILES
        .iter()
        .map(|&p| {
            // Redis prints the percentile with %f, trailing zeros trimmed.
            let label = format!("{p}");
            let usec = h.value_at_quantile(p / 100.0) as f64 / 1000.0;
            format!("p{label}={usec:.3}")
        })
        .collect();
    Some(format!(
        "latency_percentiles_usec_{name}:{}\r\n",
        parts.join(",")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_runs_rejections_failures_and_error_codes() {
        let mut s = CommandStats::default();
        s.record(
            3,
            None,
            Outcome::Ran {
                nanos: 2_500,
                error: None,
            },
        );
        s.record(
            3,
            None,
            Outcome::Ran {
                nanos: 1_500,
                error: Some("WRONGTYPE Operation against a key"),
            },
        );
        s.record(3, None, Outcome::Rejected("ERR wrong number of arguments"));
        s.record(
            7,
            Some(2),
            Outcome::Ran {
                nanos: 10,
                error: None,
            },
        );
        let figs = s.figures();
        assert_eq!(figs.len(), 2);
        let (id, sub, f) = &figs[0];
        assert_eq!(
            (*id, *sub, f.calls, f.rejected, f.failed),
            (3, None, 2, 1, 1)
        );
        assert_eq!(
            commandstat_line("get", f),
            "cmdstat_get:calls=2,usec=4,usec_per_call=2.00,rejected_calls=1,failed_calls=1\r\n"
        );
        assert_eq!((figs[1].0, figs[1].1), (7, Some(2)));
        assert_eq!(s.errors()["WRONGTYPE"], 1);
        assert_eq!(s.errors()["ERR"], 1);
        let line = latency_line("get", f).unwrap();
        assert!(
            line.starts_with("latency_percentiles_usec_get:p50="),
            "{line}"
        );
        assert!(line.contains(",p99=") && line.contains(",p99.9="), "{line}");
    }

    #[test]
    fn error_codes_are_bounded() {
        let mut s = CommandStats::default();
        for i in 0..MAX_ERROR_CODES + 10 {
            s.record_error(&format!("E{i} boom"));
        }
        assert_eq!(s.errors().len(), MAX_ERROR_CODES);
    }
}
