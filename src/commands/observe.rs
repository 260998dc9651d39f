//! The operator's view of a running server: SLOWLOG, LATENCY, and the INFO
//! sections built from per-core statistics (commandstats, errorstats,
//! latencystats, shards). Each core counts what its own clients' commands did
//! (`record`, called by dispatch once per reply: figures, error codes, slow
//! log, and `command`/`fast-command` latency events as Redis has them); these
//! commands gather every core's figures and merge them.

use super::{int_arg, table, Command};
use crate::node::{ClientInfo, Node};
use crate::protocol::Frame;
use crate::stats::{self, latency, slowlog, CommandFigures, Outcome};
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;

/// INFO sections that only `all`, `everything` or their own name show (Redis
/// 7.0 leaves commandstats and latencystats out of `default`).
pub const NOT_IN_DEFAULT: [&str; 3] = ["commandstats", "latencystats", "shards"];

/// What the statistics need to know of one reply's command.
pub struct Stat {
    pub cmd: &'static Command,
    /// Its subcommand (`config|get`), by index.
    pub sub: Option<usize>,
    /// Refused before running (wrong number of arguments).
    pub rejected: bool,
}

impl Stat {
    /// The statistics entry of `cmd` as the client called it; `None` for a
    /// container command whose subcommand does not exist (Redis counts that
    /// only as an error).
    pub fn of(cmd: &'static Command, args: &[Bytes]) -> Option<Stat> {
        // COMMAND alone is counted as itself.
        let sub = match args.get(1) {
            Some(name) if !cmd.subcommands.is_empty() => Some(cmd.subcommand_index(name)?),
            _ => None,
        };
        Some(Stat {
            cmd,
            sub,
            rejected: false,
        })
    }
}

/// Counts one reply on this core: its command's figures, its error code, and
/// a slow-log entry when it ran long enough and its arguments are at hand.
pub fn record(
    node: &Node,
    client: &RefCell<ClientInfo>,
    stat: Option<Stat>,
    reply: &Frame,
    nanos: u64,
    args: Option<&[Bytes]>,
) {
    let error = match reply {
        Frame::Error(e) => Some(e.as_ref()),
        _ => None,
    };
    let Some(stat) = stat else {
        if let Some(e) = error {
            node.commands.borrow_mut().record_error(e);
        }
        return;
    };
    let outcome = match (stat.rejected, error) {
        (true, Some(e)) => Outcome::Rejected(e),
        (_, error) => Outcome::Ran { nanos, error },
    };
    node.commands
        .borrow_mut()
        .record(stat.cmd.id, stat.sub, outcome);
    // The latency monitor's threshold is at least 1 ms: a faster command
    // does not even look at it.
    if nanos >= 1_000_000 && !stat.rejected {
        let fast = stat.cmd.spec.flags.iter().any(|f| f == "fast");
        let event = if fast { "fast-command" } else { "command" };
        latency::record(event, Duration::from_nanos(nanos));
    }
    let Some(args) = args else { return };
    let (threshold, max_len) = {
        let c = node.config.borrow();
        (c.slowlog_log_slower_than, c.slowlog_max_len)
    };
    let micros = nanos / 1000;
    let skip = stat.rejected || stat.cmd.spec.flags.iter().any(|f| f == "skip_slowlog");
    if threshold < 0 || micros < threshold as u64 || skip {
        return;
    }
    let (addr, name) = {
        let c = client.borrow();
        (c.addr.clone(), c.name.clone())
    };
    let entry = slowlog::Entry::new(&redacted(stat.cmd, args), micros, addr, name);
    node.slowlog.borrow_mut().push(entry, max_len);
}

/// Whether a command run on a shard took long enough for the slow log: the
/// shard then hands its arguments back.
pub fn is_slow(nanos: u64, threshold_micros: i64) -> bool {
    threshold_micros >= 0 && nanos / 1000 >= threshold_micros as u64
}

/// `args` with passwords replaced, as Redis shows them in the slow log and
/// to MONITOR.
pub(super) fn redacted(cmd: &Command, args: &[Bytes]) -> Vec<Bytes> {
    let hidden = Bytes::from_static(b"(redacted)");
    let mut out = args.to_vec();
    match cmd.name {
        "auth" => out[1..].fill(hidden),
        // Its rules may hold passwords in clear (`>pw`); Redis hides all.
        "acl" if out.len() > 2 && out[1].eq_ignore_ascii_case(b"setuser") => out[2..].fill(hidden),
        "hello" => {
            if let Some(at) = out.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
                for a in out.iter_mut().skip(at + 1).take(2) {
                    *a = hidden.clone();
                }
            }
        }
        // AUTH's password, AUTH2's username and password.
        "migrate" => {
            for at in 6..out.len() {
                let hide = match &out[at] {
                    a if a.eq_ignore_ascii_case(b"auth") => 1,
                    a if a.eq_ignore_ascii_case(b"auth2") => 2,
                    a if a.eq_ignore_ascii_case(b"keys") => break,
                    _ => 0,
                };
                for a in out.iter_mut().skip(at + 1).take(hide) {
                    *a = hidden.clone();
                }
            }
        }
        "config" if out[1].eq_ignore_ascii_case(b"set") => {
            let secret = |a: &Bytes| {
                a.eq_ignore_ascii_case(b"requirepass") || a.eq_ignore_ascii_case(b"masterauth")
            };
            for i in (2..out.len().saturating_sub(1)).step_by(2) {
                if secret(&out[i]) {
                    out[i + 1] = hidden.clone();
                }
            }
        }
        _ => {}
    }
    out
}

/// SLOWLOG GET [count] | LEN | RESET | HELP.
pub async fn slowlog(node: &Node, sub: &str, args: &[Bytes]) -> Frame {
    match sub {
        "get" => {
            let count = match args.get(2).map(int_arg) {
                None => Some(10),
                Some(Ok(-1)) => None,
                Some(Ok(n)) if n >= 0 => Some(n as usize),
                Some(_) => return Frame::error("ERR count should be greater than or equal to -1"),
            };
            let mut entries = merged_slowlog(node).await;
            if let Some(n) = count {
                entries.truncate(n);
            }
            Frame::Array(entries.into_iter().map(slowlog_entry).collect())
        }
        "len" => Frame::Integer(merged_slowlog(node).await.len() as i64),
        "reset" => {
            node.run_on_all(|n: &Node| n.slowlog.borrow_mut().reset())
                .await;
            Frame::OK
        }
        _ => help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Print this help.",
        ]),
    }
}

async fn merged_slowlog(node: &Node) -> Vec<slowlog::Entry> {
    let max_len = node.config.borrow().slowlog_max_len;
    let logs = node
        .run_on_all(|n: &Node| n.slowlog.borrow().entries().cloned().collect::<Vec<_>>())
        .await
        .unwrap_or_default();
    slowlog::merge(logs, max_len)
}

fn slowlog_entry(e: slowlog::Entry) -> Frame {
    Frame::Array(vec![
        Frame::Integer(e.id as i64),
        Frame::Integer(e.time as i64),
        Frame::Integer(e.micros as i64),
        Frame::Array(e.args.into_iter().map(Frame::Bulk).collect()),
        Frame::bulk(e.addr),
        Frame::bulk(e.name),
    ])
}

/// LATENCY LATEST | HISTORY event | RESET [event ...] | HELP.
pub async fn latency(node: &Node, sub: &str, args: &[Bytes]) -> Frame {
    match sub {
        "latest" => {
            let events = merged_latency(node).await;
            Frame::Array(
                events
                    .into_iter()
                    .filter_map(|(name, s)| {
                        let &(time, ms) = s.samples.back()?;
                        Some(Frame::Array(vec![
                            Frame::bulk_str(name),
                            Frame::Integer(time as i64),
                            Frame::Integer(ms as i64),
                            Frame::Integer(s.max as i64),
                        ]))
                    })
                    .collect(),
            )
        }
        "history" => {
            let wanted = String::from_utf8_lossy(&args[2]).into_owned();
            let events = merged_latency(node).await;
            let samples = events
                .into_iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(&wanted))
                .map(|(_, s)| s.samples)
                .unwrap_or_default();
            Frame::Array(
                samples
                    .into_iter()
                    .map(|(time, ms)| {
                        Frame::Array(vec![Frame::Integer(time as i64), Frame::Integer(ms as i64)])
                    })
                    .collect(),
            )
        }
        "reset" => {
            let events: Vec<String> = args[2..]
                .iter()
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let gone = node
                .run_on_all(move |_: &Node| latency::reset(&events))
                .await
                .unwrap_or_default();
            let mut names: Vec<&str> = gone.into_iter().flatten().collect();
            names.sort_unstable();
            names.dedup();
            Frame::Integer(names.len() as i64)
        }
        "histogram" => {
            let cores = node
                .run_on_all(|n: &Node| n.commands.borrow().figures())
                .await
                .unwrap_or_default();
            latency_histogram(&merged(cores.iter()), &args[2..])
        }
        "help" => help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]),
        other => Frame::error(format!(
            "ERR LATENCY {} is not supported by ringcache",
            other.to_uppercase()
        )),
    }
}

/// LATENCY HISTOGRAM [command ...]: per command that ran, its calls and
/// the cumulative count of runs at or under each power of two of µs, as
/// Redis 7.0's `fillCommandCDF` (buckets from 1024 ns, doubling; a bucket
/// is shown where the count grew). A container named alone stands for its
/// subcommands; unknown names are skipped; a name given twice is
/// answered twice, as Redis 7.0 does.
fn latency_histogram(all: &BTreeMap<String, CommandFigures>, wanted: &[Bytes]) -> Frame {
    let mut names: Vec<&String> = Vec::new();
    if wanted.is_empty() {
        names.extend(all.keys());
    }
    for w in wanted {
        let w = String::from_utf8_lossy(w).to_lowercase();
        let named =
            |n: &&String| *n == &w || n.strip_prefix(&w).is_some_and(|r| r.starts_with('|'));
        names.extend(all.keys().filter(named));
    }
    let entries = names.into_iter().filter_map(|name| {
        let h = all[name].histogram.as_ref()?;
        let mut cumulative = 0;
        let buckets = h
            .iter_log(1024, 2.0)
            .filter_map(|v| {
                let before = cumulative;
                cumulative += v.count_since_last_iteration();
                (cumulative > before).then(|| {
                    let micros = v.value_iterated_to() / 1000;
                    (
                        Frame::Integer(micros as i64),
                        Frame::Integer(cumulative as i64),
                    )
                })
            })
            .collect();
        let body = vec![
            (Frame::bulk_str("calls"), Frame::Integer(h.len() as i64)),
            (Frame::bulk_str("histogram_usec"), Frame::Map(buckets)),
        ];
        Some((Frame::bulk_str(name), Frame::Map(body)))
    });
    Frame::Map(entries.collect())
}

async fn merged_latency(node: &Node) -> BTreeMap<&'static str, latency::Series> {
    let cores = node
        .run_on_all(|_: &Node| latency::snapshot())
        .await
        .unwrap_or_default();
    latency::merge(cores)
}

pub(super) fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|s| Frame::simple(*s)).collect())
}

/// One core's figures for INFO's statistics sections.
pub struct CoreFigures {
    commands: Figures,
    errors: BTreeMap<String, u64>,
    shard: ShardFigures,
}

struct ShardFigures {
    cpu: usize,
    keys: usize,
    expires: usize,
    ops: u64,
    aof: Option<(u64, u64, u64)>,
    jobs_sent_to: Vec<u64>,
    jobs_received: u64,
    waiters: usize,
    /// Per task queue: name, shares, CPU time it got (µs).
    queues: Vec<(&'static str, usize, u128)>,
}

/// Collects this core's figures (runs on that core).
pub fn gather(n: &Node) -> CoreFigures {
    let sh = n.shard.borrow();
    let ks = &sh.keyspace;
    let dbs = 0..ks.databases();
    let cfg = n.config.borrow();
    CoreFigures {
        commands: n.commands.borrow().figures(),
        errors: n.commands.borrow().errors().clone(),
        shard: ShardFigures {
            cpu: cfg.pinned.get(n.id).copied().unwrap_or(0),
            keys: dbs.clone().map(|db| ks.len(db)).sum(),
            expires: dbs.map(|db| ks.volatile_len(db)).sum(),
            ops: n.stats.shard_ops.get(),
            aof: sh.aof.as_ref().map(|a| {
                let a = a.borrow();
                (a.stats.total_bytes, a.pending_bytes(), a.stats.fsyncs)
            }),
            jobs_sent_to: n.stats.jobs_sent_to.iter().map(|c| c.get()).collect(),
            jobs_received: n.stats.jobs_received.get(),
            waiters: sh.waiters.len(),
            queues: queue_figures(n),
        },
    }
}

thread_local! {
    /// CPU time (µs) of this core's queues so far: glommio hands out the
    /// time since the last read, so the totals are kept here.
    static QUEUE_RUNTIME_US: std::cell::Cell<[u128; 3]> = const { std::cell::Cell::new([0; 3]) };
}

/// This core's task queues as glommio accounts them (runs on that core).
fn queue_figures(n: &Node) -> Vec<(&'static str, usize, u128)> {
    let Some(q) = n.task_queues.get() else {
        return Vec::new();
    };
    let mut totals = QUEUE_RUNTIME_US.get();
    let queues = [
        ("network", q.network),
        ("persistence", q.persistence),
        ("expiry", q.expiry),
    ];
    let figures = queues
        .into_iter()
        .zip(totals.iter_mut())
        .filter_map(|((name, handle), total)| {
            let st = glommio::executor().task_queue_stats(handle).ok()?;
            *total += st.runtime().as_micros();
            Some((name, st.current_shares(), *total))
        })
        .collect();
    QUEUE_RUNTIME_US.set(totals);
    figures
}

/// Every command's figures over all cores, by the name INFO shows.
fn merged_commands(cores: &[&CoreFigures]) -> BTreeMap<String, CommandFigures> {
    merged(cores.iter().map(|c| &c.commands))
}

type Figures = Vec<(usize, Option<usize>, CommandFigures)>;

fn merged<'a>(cores: impl Iterator<Item = &'a Figures>) -> BTreeMap<String, CommandFigures> {
    let by_id: BTreeMap<usize, &Command> = table().iter().map(|c| (c.id, c)).collect();
    let mut out: BTreeMap<String, CommandFigures> = BTreeMap::new();
    for commands in cores {
        for (id, sub, f) in commands {
            let Some(cmd) = by_id.get(id) else { continue };
            match out.entry(cmd.full_name(*sub)) {
                std::collections::btree_map::Entry::Occupied(mut e) => e.get_mut().merge(f),
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert(f.clone());
                }
            }
        }
    }
    out
}

/// INFO commandstats.
pub fn commandstats(cores: &[&CoreFigures]) -> String {
    merged_commands(cores)
        .iter()
        .map(|(name, f)| stats::commandstat_line(name, f))
        .collect()
}

/// INFO latencystats.
pub fn latencystats(cores: &[&CoreFigures]) -> String {
    merged_commands(cores)
        .iter()
        .filter_map(|(name, f)| stats::latency_line(name, f))
        .collect()
}

/// INFO errorstats.
pub fn errorstats(cores: &[&CoreFigures]) -> String {
    let mut all: BTreeMap<&str, u64> = BTreeMap::new();
    for core in cores {
        for (code, n) in &core.errors {
            *all.entry(code).or_default() += n;
        }
    }
    all.iter()
        .map(|(code, n)| format!("errorstat_{code}:count={n}\r\n"))
        .collect()
}

/// INFO shards: two lines per shard: its figures, and its task queues'
/// shares and the CPU time each got. `inbox_depth` is what the other cores
/// sent it minus what it ran: jobs waiting in its inbox (approximate, as the
/// cores are read one after another).
pub fn shards(cores: &[&CoreFigures]) -> String {
    let mut out = String::new();
    for (i, core) in cores.iter().enumerate() {
        let s = &core.shard;
        let sent_here: u64 = cores
            .iter()
            .filter_map(|c| c.shard.jobs_sent_to.get(i))
            .sum();
        let (aof_bytes, aof_pending, fsyncs) = s.aof.unwrap_or_default();
        out.push_str(&format!(
            "shard{i}:cpu={},keys={},expires={},ops={},aof_bytes={aof_bytes},aof_pending_bytes={aof_pending},aof_fsyncs={fsyncs},jobs_sent={},jobs_received={},inbox_depth={},blocked_waiters={}\r\n",
            s.cpu,
            s.keys,
            s.expires,
            s.ops,
            s.jobs_sent_to.iter().sum::<u64>(),
            s.jobs_received,
            sent_here.saturating_sub(s.jobs_received),
            s.waiters,
        ));
        if !s.queues.is_empty() {
            let queues: Vec<String> = s
                .queues
                .iter()
                .map(|(name, shares, us)| format!("{name}_shares={shares},{name}_runtime_us={us}"))
                .collect();
            out.push_str(&format!("shard{i}_queues:{}\r\n", queues.join(",")));
        }
    }
    out
}

/// CONFIG RESETSTAT's part: this core's command and error figures.
pub fn reset(n: &Node) {
    n.commands.borrow_mut().reset();
}
