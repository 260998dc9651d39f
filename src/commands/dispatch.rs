//! Runs one client's pipelined batch across the shards. Each command is routed
//! by its keys; what one batch sends to a shard travels as a single job, all
//! shards work in parallel, and the replies are reassembled in request order.
//! A multi-key command is split by shard and its parts merged back. Commands
//! that coordinate shards themselves (`Route::Front`) first let everything
//! before them finish, so a client always sees its own earlier writes.
//! Each command's run time is measured where it runs (one clock read per
//! command on the shard) and counted here, on the client's core.

use super::client_control;
use super::exec::{self, ExecGuard, ExecPlan};
use super::observe::{self, Stat};
use super::{front, table, wrong_arity, FrontCmd, Merge, Route, Session};
use crate::node::{join_all, ClientInfo, Node};
use crate::protocol::{Frame, Proto, Request};
use crate::router;
use crate::shard::{split, Access, ShardFn};
use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

/// A command bound for a shard: what to run, in which database, on what.
struct ShardCmd {
    run: ShardFn,
    db: usize,
    args: Vec<Bytes>,
    /// Refused while the shard's log cannot be written, or (if it may grow
    /// memory) while the shard is over its budget.
    access: Access,
    /// Whose reads to remember for client-side caching, and which keys.
    track: Track,
    /// A part of a split write (`shard::split`): held until the part's
    /// reply may be shown.
    split: Option<Arc<split::Open>>,
}

/// The keys of a command that a tracking client's read makes the shard
/// remember (`commands::tracking`), in the same step as the read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Track {
    No,
    /// The command's key (`key_of`).
    Key,
    /// Every `stride`-th argument from the first (MGET's part).
    Every(usize),
}

/// Where a reply will come from.
enum Reply {
    Ready(Frame),
    /// Index into one shard's batch.
    One(usize, usize),
    /// Several parts to merge; for `PerKey`, each part's key positions.
    Parts {
        parts: Vec<(usize, usize)>,
        merge: Merge,
        positions: Vec<Vec<usize>>,
    },
    /// Already under way (PUBLISH): awaited in turn.
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Frame>>>),
}

/// A command's reply as a shard returns it.
struct Done {
    frame: Frame,
    nanos: u64,
    /// The arguments, handed back only when the command was slow enough
    /// for the slow log.
    slow_args: Option<Vec<Bytes>>,
}

impl Done {
    /// What a reply taken from its shard's results leaves behind.
    const TAKEN: Done = Done {
        frame: Frame::Null,
        nanos: 0,
        slow_args: None,
    };
}

/// A reply to come, with what its statistics need: the command, the time
/// it already took on this core, and its arguments if they stayed here.
struct Pending {
    reply: Reply,
    /// `None`: the reply is dropped (CLIENT REPLY OFF / SKIP).
    proto: Option<Proto>,
    stat: Option<Stat>,
    nanos: u64,
    args: Option<Vec<Bytes>>,
    /// FLUSHDB / FLUSHALL: tracking clients get a null invalidation.
    flushes: bool,
}

struct Batch<'a> {
    node: &'a Node,
    client: Rc<RefCell<ClientInfo>>,
    /// The client's id: whose changes the shards see (NOLOOP) and whose
    /// reads they remember.
    client_id: u64,
    per_shard: Vec<Vec<ShardCmd>>,
    replies: Vec<Pending>,
    /// EXEC's fast path: checked in the job of its shard (`exec`).
    guard: Option<ExecGuard>,
    /// The guard's check failed: nothing ran, no reply is written.
    aborted: bool,
    /// A script's call (`run_frames`): the replies are kept as values
    /// instead of being encoded.
    sink: Option<Vec<Frame>>,
    /// The log is on: a write split across shards is a split write.
    logging: bool,
}

/// Most commands a connection's kept vectors have room for.
const KEEP_IN_ROOM: usize = 64;

/// The vectors a batch fills, kept by the connection between its batches:
/// with one request per batch (`-P 1`), each fresh vector was an allocation
/// per request.
#[derive(Default)]
pub struct Room {
    per_shard: Vec<Vec<ShardCmd>>,
    replies: Vec<Pending>,
}

impl<'a> Batch<'a> {
    fn push(&mut self, shard: usize, cmd: ShardCmd) -> (usize, usize) {
        let q = &mut self.per_shard[shard];
        q.push(cmd);
        (shard, q.len() - 1)
    }

    /// Runs what has been queued, on every shard at once, and encodes the
    /// replies so far into `out`.
    async fn flush(&mut self, out: &mut Vec<u8>) {
        if self.replies.is_empty() {
            return;
        }
        // Pub/sub messages of the batch so far leave before anything after them.
        crate::node::pubsub::send_pending(self.node);
        let guarded = self.guard.as_ref().map(|g| g.shard);
        let jobs = self
            .per_shard
            .iter_mut()
            .enumerate()
            // The guard's shard gets a job even with nothing to run (its
            // commands failed before reaching it): the check forgets the
            // watched keys there.
            .filter(|(shard, q)| !q.is_empty() || guarded == Some(*shard))
            .map(|(shard, q)| {
                let cmds = std::mem::take(q);
                let guard = match &self.guard {
                    Some(g) if g.shard == shard => self.guard.take(),
                    _ => None,
                };
                let client_id = self.client_id;
                // With a log, no reply leaves before the records of its
                // batch may be shown (`appendfsync always`: on disk).
                let run = self.node.run_durably(shard, move |node: &Node| {
                    let now = crate::util::now_ms();
                    let slower_than = node.config.borrow().slowlog_log_slower_than;
                    let stats = &node.stats;
                    stats
                        .shard_ops
                        .set(stats.shard_ops.get() + cmds.len() as u64);
                    let mut sh = node.shard.borrow_mut();
                    let position = sh.log_position();
                    if let Some(g) = &guard {
                        if !super::watch::check_and_forget(&mut sh, &g.watched) {
                            return ((Vec::new(), false, cmds), position);
                        }
                    }
                    // One logical record for the transaction's effects.
                    let atomic = guard.is_some() && sh.aof.is_some();
                    if atomic {
                        sh.capture = Some(Vec::new());
                    }
                    if cmds.len() > 1 {
                        let keys = cmds.iter().filter(|c| c.args.len() > 1);
                        sh.keyspace
                            .prefetch(keys.map(|c| (c.db, &super::key_of(&c.args)[..])));
                    }
                    let mut clock = Instant::now();
                    sh.keyspace.tracked.writer = client_id;
                    let done =
                        cmds.iter()
                            .map(|c| {
                                let frame = match &c.split {
                                    Some(open) => sh
                                        .as_split_part(&open.write, |sh| run_contained(sh, c, now)),
                                    None => run_contained(&mut sh, c, now),
                                };
                                if c.track != Track::No {
                                    remember_reads(&mut sh, c, client_id);
                                }
                                let end = Instant::now();
                                let nanos = end.duration_since(clock).as_nanos() as u64;
                                clock = end;
                                let slow = observe::is_slow(nanos, slower_than);
                                Done {
                                    frame,
                                    nanos,
                                    slow_args: slow.then(|| c.args.clone()),
                                }
                            })
                            .collect::<Vec<Done>>();
                    sh.keyspace.tracked.writer = 0;
                    if atomic {
                        let captured = sh.capture.take().unwrap_or_default();
                        exec::log_atomically(&mut sh, captured);
                    }
                    // The commands go back to be freed where they were
                    // allocated: memory freed by another thread than its
                    // allocator's costs glibc that arena's lock (see
                    // docs/sharding.md, "Cost of a hop").
                    ((done, true, cmds), position)
                });
                async move {
                    let (done, ran, cmds) = run.await.unwrap_or((Vec::new(), true, Vec::new()));
                    (shard, ran.then_some(done), cmds)
                }
            });
        let mut results = join_all(jobs).await;
        for (shard, done, cmds) in &mut results {
            // The queue goes back to the room, emptied here (see above).
            cmds.clear();
            self.per_shard[*shard] = std::mem::take(cmds);
            self.aborted |= done.is_none();
        }
        if self.aborted {
            self.replies.clear();
            return;
        }
        let mut take = |(shard, i): (usize, usize)| {
            let done = results.iter_mut().find(|r| r.0 == shard);
            match done.and_then(|r| r.1.as_mut()?.get_mut(i)) {
                Some(d) => std::mem::replace(d, Done::TAKEN),
                None => Done {
                    frame: Frame::error("ERR shard unavailable"),
                    nanos: 0,
                    slow_args: None,
                },
            }
        };
        for p in self.replies.drain(..) {
            let (frame, nanos, args) = match p.reply {
                Reply::Ready(f) => (f, p.nanos, p.args),
                Reply::One(shard, i) => {
                    let d = take((shard, i));
                    (d.frame, d.nanos, d.slow_args)
                }
                Reply::Later(reply) => (reply.await, p.nanos, p.args),
                Reply::Parts {
                    parts,
                    merge,
                    positions,
                } => {
                    let done: Vec<Done> = parts.into_iter().map(&mut take).collect();
                    let nanos = done.iter().map(|d| d.nanos).sum();
                    let frames = done.into_iter().map(|d| d.frame).collect();
                    (merge_parts(frames, merge, &positions), nanos, p.args)
                }
            };
            if p.flushes && !frame.is_error() {
                // After every shard forgot its reads, as Redis: the null
                // invalidation of a flush.
                crate::node::tracking::flushed(self.node);
            }
            observe::record(
                self.node,
                &self.client,
                p.stat,
                &frame,
                nanos,
                args.as_deref(),
            );
            if let Some(proto) = p.proto {
                match &mut self.sink {
                    Some(sink) => sink.push(frame),
                    None => frame.encode(proto, out),
                }
            }
        }
    }
}

impl Pending {
    /// A reply known without running anything.
    fn ready(frame: Frame, proto: Option<Proto>, stat: Option<Stat>) -> Pending {
        Pending {
            reply: Reply::Ready(frame),
            proto,
            stat,
            nanos: 0,
            args: None,
            flushes: false,
        }
    }
}

/// Remembers, on the shard, the keys a tracking client's command read.
fn remember_reads(sh: &mut crate::shard::Shard, c: &ShardCmd, client: u64) {
    let tracked = &mut sh.keyspace.tracked;
    match c.track {
        Track::No => {}
        Track::Key => tracked.remember(client, super::key_of(&c.args)),
        Track::Every(stride) => {
            for key in c.args[1..].iter().step_by(stride.max(1)) {
                tracked.remember(client, key);
            }
        }
    }
}

/// Runs one command on the shard. A handler that panics (a bug: client input
/// must never make one panic) fails that command with `-ERR internal error`
/// and an error log, instead of unwinding through the executor, which would
/// take every connection and the shard down with it.
fn run_contained(sh: &mut crate::shard::Shard, c: &ShardCmd, now: u64) -> Frame {
    let run = std::panic::AssertUnwindSafe(|| sh.run(c.run, c.db, &c.args, now, c.access));
    std::panic::catch_unwind(run).unwrap_or_else(|_| {
        tracing::error!(
            command = %String::from_utf8_lossy(&c.args[0]),
            "a command panicked; it failed with an internal error"
        );
        Frame::error("ERR internal error")
    })
}

/// Combines the replies of a split command's parts.
fn merge_parts(parts: Vec<Frame>, merge: Merge, positions: &[Vec<usize>]) -> Frame {
    if let Some(err) = parts.iter().find(|f| f.is_error()) {
        return err.clone();
    }
    match merge {
        Merge::Sum => Frame::Integer(
            parts
                .iter()
                .map(|f| if let Frame::Integer(n) = f { *n } else { 0 })
                .sum(),
        ),
        Merge::AllOk => Frame::OK,
        Merge::Concat => Frame::Array(
            parts
                .into_iter()
                .flat_map(|f| {
                    if let Frame::Array(a) = f {
                        a
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
        ),
        Merge::PerKey => {
            let total = positions.iter().map(Vec::len).sum();
            let mut out = vec![Frame::Null; total];
            for (part, pos) in parts.into_iter().zip(positions) {
                if let Frame::Array(items) = part {
                    for (item, &p) in items.into_iter().zip(pos) {
                        out[p] = item;
                    }
                }
            }
            Frame::Array(out)
        }
    }
}

/// Executes `requests` in order and appends their encoded replies to `out`.
/// `requests` is left empty, its buffer kept for the next batch.
pub async fn run(
    node: &Node,
    session: &mut Session,
    requests: &mut Vec<Request>,
    out: &mut Vec<u8>,
) {
    run_guarded(node, session, requests.drain(..), out, None, None).await;
}

/// `run_frames` as `scripting::Runner`.
fn run_frames_boxed<'a>(
    node: &'a Node,
    session: &'a mut Session,
    requests: Vec<Request>,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Frame>> + 'a>> {
    Box::pin(run_frames(node, session, requests))
}

/// Executes `requests` for a script (`scripting`): their replies as values.
async fn run_frames(node: &Node, session: &mut Session, requests: Vec<Request>) -> Vec<Frame> {
    let mut sink = Vec::new();
    run_guarded(
        node,
        session,
        requests.into_iter(),
        &mut Vec::new(),
        None,
        Some(&mut sink),
    )
    .await;
    sink
}

/// The protocol to write a command's reply in, or `None` when CLIENT REPLY
/// drops it (never inside EXEC: the array keeps its size).
fn reply_proto(session: &mut Session) -> Option<Proto> {
    if !session.in_exec && session.reply_mode.drops_reply() {
        None
    } else {
        Some(session.proto)
    }
}

/// EXEC (`exec`): its reply goes to `out`, an array of the queued
/// commands' replies or the null array; or it is the error returned.
async fn run_exec(node: &Node, session: &mut Session, out: &mut Vec<u8>) -> Option<Frame> {
    let plan = match exec::begin(node, session).await {
        Ok(plan) => plan,
        Err(e) if e.is_error() => return Some(e),
        Err(aborted) => {
            aborted.encode(session.proto, out);
            return None;
        }
    };
    let queued = match &plan {
        ExecPlan::Fast(q, _) | ExecPlan::Free(q) | ExecPlan::Held(q, ..) => q.len(),
    };
    let start = out.len();
    out.extend_from_slice(format!("*{queued}\r\n").as_bytes());
    session.in_exec = true;
    match plan {
        ExecPlan::Fast(queued, guard) => {
            if !run_guarded(node, session, queued.into_iter(), out, Some(guard), None).await {
                out.truncate(start);
                Frame::NullArray.encode(session.proto, out);
            }
        }
        ExecPlan::Free(queued) => {
            run_guarded(node, session, queued.into_iter(), out, None, None).await;
        }
        ExecPlan::Held(queued, tag, held, captured) => {
            let run = run_guarded(node, session, queued.into_iter(), out, None, None);
            crate::node::hold::Tagged::new(tag, run).await;
            if let Some(shards) = captured {
                exec::commit(node, tag, &shards).await;
            }
            held.release().await;
        }
    }
    session.in_exec = false;
    None
}

/// `run`, with EXEC's check in the job of its shard: false if the check
/// failed (then nothing ran and nothing was written).
async fn run_guarded(
    node: &Node,
    session: &mut Session,
    requests: impl ExactSizeIterator<Item = Request>,
    out: &mut Vec<u8>,
    guard: Option<ExecGuard>,
    sink: Option<&mut Vec<Frame>>,
) -> bool {
    let shards = node.shard_count;
    // A nested batch (EXEC's, a script's) finds the room taken and starts empty.
    let Room {
        mut per_shard,
        replies,
    } = std::mem::take(&mut session.room);
    per_shard.resize_with(shards, Vec::new);
    let mut batch = Batch {
        node,
        client: session.info.clone(),
        client_id: session.id,
        per_shard,
        replies,
        guard,
        aborted: false,
        sink: sink.as_ref().map(|_| Vec::new()),
        logging: node.shard.borrow().aof.is_some(),
    };
    node.stats
        .commands_processed
        .set(node.stats.commands_processed.get() + requests.len() as u64);
    for Request { args } in requests {
        if session.closing {
            break;
        }
        let cmd = match table().get(&args[0]) {
            None => Err((unknown_command(&args), None)),
            Some(cmd) if !cmd.arity_ok(args.len()) => Err((wrong_arity(cmd.name), Some(cmd))),
            // NOAUTH / NOPERM come after the arity, then -LOADING, as in Redis.
            Some(cmd) => super::acl::check(node, session, cmd, &args)
                .and_then(|()| super::pubsub::allowed_in_context(session, cmd, &args))
                .and_then(|()| super::monitor::allowed(session, cmd, &args))
                .and_then(|()| {
                    if crate::process::loading::in_progress() && !cmd.ok_loading {
                        Err(Frame::error(
                            "LOADING Redis is loading the dataset in memory",
                        ))
                    } else {
                        Ok(cmd)
                    }
                })
                .and_then(|cmd| {
                    // A script past its time: others get -BUSY, as in Redis.
                    match session.in_script {
                        false => {
                            super::scripting::busy_reply(node, cmd, &args).map_or(Ok(cmd), Err)
                        }
                        true => Ok(cmd),
                    }
                })
                .map_err(|e| (e, Some(cmd))),
        };
        // Refused inside MULTI (SAVE, SHUTDOWN), dooming it, as in Redis.
        let cmd = match cmd {
            Ok(cmd)
                if session.multi.is_some() && cmd.spec.flags.iter().any(|f| f == "no_multi") =>
            {
                Err((
                    Frame::error("ERR Command not allowed inside a transaction"),
                    Some(cmd),
                ))
            }
            other => other,
        };
        // CLIENT PAUSE: a command waits here (queued ones do not; EXEC
        // waits if it would write), as in Redis.
        if let Ok(c) = &cmd {
            let writes = match (&c.route, &session.multi) {
                (Route::Front(FrontCmd::Exec), Some(tx)) => tx
                    .queued
                    .iter()
                    .any(|r| table().get(&r.args[0]).is_some_and(client_control::writes)),
                (_, Some(_)) => false,
                _ => client_control::writes(c),
            };
            if client_control::paused(writes) {
                batch.flush(out).await;
                client_control::wait_unpaused(writes).await;
            }
        }
        let cmd = match (cmd, &mut session.multi) {
            (Err((e, cmd)), tx) => {
                // An error while queuing dooms the transaction, as in Redis.
                if let Some(tx) = tx {
                    tx.failed = true;
                }
                let stat = cmd.map(|cmd| Stat {
                    cmd,
                    sub: None,
                    rejected: true,
                });
                let proto = reply_proto(session);
                batch.replies.push(Pending::ready(e, proto, stat));
                continue;
            }
            (Ok(cmd), Some(tx))
                if !matches!(
                    cmd.route,
                    Route::Front(
                        FrontCmd::Exec
                            | FrontCmd::Discard
                            | FrontCmd::Multi
                            | FrontCmd::Quit
                            | FrontCmd::Watch
                            | FrontCmd::Reset
                    )
                ) =>
            {
                tx.queued.push(Request { args });
                session.info.borrow_mut().multi = Some(tx.queued.len());
                let queued = Frame::simple("QUEUED");
                batch
                    .replies
                    .push(Pending::ready(queued, reply_proto(session), None));
                continue;
            }
            (Ok(cmd), _) => cmd,
        };
        session.note_command(cmd, &args);
        // Its MONITOR line: after it ran (so SELECT shows its new database),
        // but scripts before the commands they run, as Redis.
        let mut monitor_line = super::monitor::line(cmd, &args);
        if monitor_line.is_some() && cmd.spec.flags.iter().any(|f| f == "skip_monitor") {
            super::monitor::send(node, session, monitor_line.take());
        }
        if matches!(cmd.route, Route::Front(FrontCmd::Exec)) {
            batch.flush(out).await;
            let started = Instant::now();
            let start = out.len();
            let error = Box::pin(run_exec(node, session, out)).await;
            super::monitor::send(node, session, monitor_line);
            super::tracking::after_command(session, cmd);
            let drop_reply = reply_proto(session).is_none();
            if drop_reply {
                out.truncate(start);
            }
            let reply = error.unwrap_or(Frame::OK);
            let nanos = started.elapsed().as_nanos() as u64;
            observe::record(
                node,
                &session.info,
                Stat::of(cmd, &args),
                &reply,
                nanos,
                None,
            );
            if reply.is_error() && !drop_reply {
                reply.encode(session.proto, out);
            }
            continue;
        }
        let (db, access) = (session.db, cmd.access_for(&args));
        let stat = Stat::of(cmd, &args);
        let tracked = super::tracking::reads_tracked(session, cmd);
        super::tracking::after_command(session, cmd);
        let flushes = matches!(cmd.route, Route::All { .. })
            && (cmd.name == "flushall" || cmd.name == "flushdb");
        // The arguments stay here unless they went to a shard whole.
        let mut nanos = 0;
        let (reply, args) = match cmd.route {
            Route::Front(FrontCmd::Publish | FrontCmd::Spublish) => {
                // Earlier writes of the batch land before the message
                // leaves; earlier messages are not waited for.
                if batch.per_shard.iter().any(|q| !q.is_empty()) {
                    batch.flush(out).await;
                }
                let reply = super::pubsub::publish_now(node, cmd, &args);
                if batch.replies.is_empty() {
                    // The client's own copy comes before the reply, as in Redis.
                    session.pubsub.drain_into(out);
                }
                (Reply::Later(Box::pin(reply)), Some(args))
            }
            Route::Front(handler) => {
                // PING and ECHO see no data: no need to wait for what came before.
                let flushed = !matches!(handler, FrontCmd::Ping | FrontCmd::Echo);
                if flushed {
                    batch.flush(out).await;
                    // Pub/sub messages that came meanwhile, in order.
                    session.pubsub.drain_into(out);
                }
                if tracked {
                    super::tracking::remember_before(node, session, cmd, &args).await;
                }
                let started = Instant::now();
                let frame =
                    front::execute(node, run_frames_boxed, session, cmd, handler, &args).await;
                if flushed {
                    // SUBSCRIBE's confirmations, PUBLISH's own messages.
                    session.pubsub.drain_into(out);
                }
                // A blocked client's wait is not the command's run time (as
                // in Redis): a blocking command counts no time.
                if !cmd.spec.flags.iter().any(|f| f == "blocking") {
                    nanos = started.elapsed().as_nanos() as u64;
                }
                (Reply::Ready(frame), Some(args))
            }
            Route::Key(f) => {
                let (shard, i) = batch.push(
                    router::shard_of(super::key_of(&args), shards),
                    ShardCmd {
                        run: f,
                        db,
                        args,
                        access,
                        track: if tracked { Track::Key } else { Track::No },
                        split: None,
                    },
                );
                (Reply::One(shard, i), None)
            }
            Route::Keys { run, stride, merge } => {
                if (args.len() - 1) % stride != 0 {
                    (Reply::Ready(wrong_arity(cmd.name)), Some(args))
                } else {
                    let track = if tracked {
                        Track::Every(stride)
                    } else {
                        Track::No
                    };
                    let reply =
                        split_by_shard(&mut batch, run, (db, access, track), &args, stride, merge);
                    (reply, Some(args))
                }
            }
            Route::All { run, merge } => {
                let reply = on_every_shard(&mut batch, run, (db, access), &args, merge);
                (reply, Some(args))
            }
        };
        super::monitor::send(node, session, monitor_line);
        batch.replies.push(Pending {
            reply,
            proto: reply_proto(session),
            stat,
            nanos,
            args,
            flushes,
        });
    }
    batch.flush(out).await;
    if let (Some(sink), Some(frames)) = (sink, batch.sink.take()) {
        *sink = frames;
    }
    let ran = !batch.aborted;
    // A long batch's vectors are not kept: they would hold its size for
    // the life of the connection.
    let kept = |capacity: usize| capacity <= KEEP_IN_ROOM;
    if kept(batch.replies.capacity()) && batch.per_shard.iter().all(|q| kept(q.capacity())) {
        session.room = Room {
            per_shard: batch.per_shard,
            replies: batch.replies,
        };
    }
    ran
}

/// Runs a command on every shard (FLUSHALL, SWAPDB, DBSIZE, KEYS). A write
/// is a split write (`shard::split`) when there are several shards: after a
/// crash it is on every shard or on none.
fn on_every_shard(
    batch: &mut Batch,
    run: ShardFn,
    (db, access): (usize, Access),
    args: &[Bytes],
    merge: Merge,
) -> Reply {
    let shards = batch.per_shard.len();
    let split_write = shards > 1 && access != Access::Read && batch.logging;
    if split_write {
        if let Some(refused) = crate::shard::log_refusal() {
            return Reply::Ready(refused);
        }
    }
    let split = split_write.then(|| Arc::new(split::open(db, (0..shards).map(|s| (s, args)))));
    let parts = (0..shards)
        .map(|s| {
            batch.push(
                s,
                ShardCmd {
                    run,
                    db,
                    args: args.to_vec(),
                    access,
                    track: Track::No,
                    split: split.clone(),
                },
            )
        })
        .collect();
    Reply::Parts {
        parts,
        merge,
        positions: Vec::new(),
    }
}

/// Splits a multi-key command into one command per owning shard, keeping each
/// key's arguments together (`stride` of them) and remembering key positions.
fn split_by_shard(
    batch: &mut Batch,
    run: ShardFn,
    (db, access, track): (usize, Access, Track),
    args: &[Bytes],
    stride: usize,
    merge: Merge,
) -> Reply {
    let shards = batch.per_shard.len();
    let mut groups: Vec<(Vec<Bytes>, Vec<usize>)> = vec![(Vec::new(), Vec::new()); shards];
    let keys = (args.len() - 1) / stride;
    for (pos, chunk) in args[1..].chunks_exact(stride).enumerate() {
        let (argv, positions) = &mut groups[router::shard_of(&chunk[0], shards)];
        if argv.is_empty() {
            // Room for the keys this shard would get in an even spread,
            // and some: growing from empty reallocates several times.
            let share = (keys - pos).min(keys / shards + 2);
            argv.reserve(1 + share * stride);
            positions.reserve(share);
            argv.push(args[0].clone());
        }
        argv.extend_from_slice(chunk);
        positions.push(pos);
    }
    // A write whose keys live on several shards logs each part with the
    // others, so that a crash cannot keep only some of them.
    let used = groups.iter().filter(|(argv, _)| !argv.is_empty()).count();
    let split_write = used > 1 && access != Access::Read && batch.logging;
    if split_write {
        // For all parts at once: a part refused alone would leave the
        // write half done (`Shard::as_split_part`).
        if let Some(refused) = crate::shard::log_refusal() {
            return Reply::Ready(refused);
        }
    }
    let split = split_write.then(|| {
        let parts = groups.iter().enumerate();
        let parts = parts.filter(|(_, (argv, _))| !argv.is_empty());
        Arc::new(split::open(db, parts.map(|(s, (argv, _))| (s, &argv[..]))))
    });
    let (mut parts, mut positions) = (Vec::new(), Vec::new());
    for (shard, (argv, pos)) in groups.into_iter().enumerate() {
        if !argv.is_empty() {
            parts.push(batch.push(
                shard,
                ShardCmd {
                    run,
                    db,
                    args: argv,
                    access,
                    track,
                    split: split.clone(),
                },
            ));
            positions.push(pos);
        }
    }
    // One shard holds every key: its reply is already complete and in order.
    if parts.len() == 1 {
        return Reply::One(parts[0].0, parts[0].1);
    }
    Reply::Parts {
        parts,
        merge,
        positions,
    }
}

/// Redis's reply to a command it does not know.
fn unknown_command(args: &[Bytes]) -> Frame {
    let mut shown = String::new();
    for arg in &args[1..] {
        if shown.len() >= 128 {
            break;
        }
        let room = 128 - shown.len();
        let text = String::from_utf8_lossy(arg);
        let cut: String = text.chars().take(room).collect();
        shown.push_str(&format!("'{cut}' "));
    }
    let name: String = String::from_utf8_lossy(&args[0])
        .chars()
        .take(128)
        .collect();
    Frame::error(format!(
        "ERR unknown command '{name}', with args beginning with: {shown}"
    ))
}
