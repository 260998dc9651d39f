//! Runs one client's pipelined batch across the shards. Each command is routed
//! by its keys; what one batch sends to a shard travels as a single job, all
//! shards work in parallel, and the replies are reassembled in request order.
//! A multi-key command is split by shard and its parts merged back. Commands
//! that coordinate shards themselves (`Route::Front`) first let everything
//! before them finish, so a client always sees its own earlier writes.

use super::{server, table, wrong_arity, Merge, Route, Session};
use crate::node::{join_all, Node};
use crate::protocol::{Frame, Proto, Request};
use crate::router;
use crate::shard::ShardFn;
use bytes::Bytes;

/// A command bound for a shard: what to run, in which database, on what.
struct ShardCmd {
    run: ShardFn,
    db: usize,
    args: Vec<Bytes>,
    /// Refused while the shard's log cannot be written.
    write: bool,
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
}

struct Batch<'a> {
    node: &'a Node,
    per_shard: Vec<Vec<ShardCmd>>,
    replies: Vec<(Reply, Proto)>,
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
        let jobs = self
            .per_shard
            .iter_mut()
            .enumerate()
            .filter(|(_, q)| !q.is_empty())
            .map(|(shard, q)| {
                let cmds = std::mem::take(q);
                let run = self.node.run_on(shard, move |node: &Node| {
                    let now = crate::util::now_ms();
                    let mut sh = node.shard.borrow_mut();
                    let position = sh.log_position();
                    let frames = cmds
                        .iter()
                        .map(|c| run_contained(&mut sh, c, now))
                        .collect::<Vec<Frame>>();
                    (frames, sh.durable(position))
                });
                async move {
                    let (frames, durable) = run.await.unwrap_or_default();
                    // With `appendfsync always`, no reply leaves before the
                    // group commit holding its effects is on disk.
                    if let Some(d) = durable {
                        let _ = d.await;
                    }
                    (shard, frames)
                }
            });
        let mut results: Vec<Vec<Option<Frame>>> = vec![Vec::new(); self.node.shards];
        for (shard, frames) in join_all(jobs).await {
            results[shard] = frames.into_iter().map(Some).collect();
        }
        let mut take = |(shard, i): (usize, usize)| {
            results[shard]
                .get_mut(i)
                .and_then(Option::take)
                .unwrap_or_else(|| Frame::error("ERR shard unavailable"))
        };
        for (reply, proto) in self.replies.drain(..) {
            let frame = match reply {
                Reply::Ready(f) => f,
                Reply::One(shard, i) => take((shard, i)),
                Reply::Parts {
                    parts,
                    merge,
                    positions,
                } => merge_parts(
                    parts.into_iter().map(&mut take).collect(),
                    merge,
                    &positions,
                ),
            };
            frame.encode(proto, out);
        }
    }
}

/// Runs one command on the shard. A handler that panics (a bug: client input
/// must never make one panic) fails that command with `-ERR internal error`
/// and an error log, instead of unwinding through the executor, which would
/// take every connection and the shard down with it.
fn run_contained(sh: &mut crate::shard::Shard, c: &ShardCmd, now: u64) -> Frame {
    let run = std::panic::AssertUnwindSafe(|| sh.run(c.run, c.db, &c.args, now, c.write));
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
pub async fn run(node: &Node, session: &mut Session, requests: Vec<Request>, out: &mut Vec<u8>) {
    let shards = node.shards;
    let mut batch = Batch {
        node,
        per_shard: (0..shards).map(|_| Vec::new()).collect(),
        replies: Vec::new(),
    };
    node.stats
        .commands_processed
        .set(node.stats.commands_processed.get() + requests.len() as u64);
    for Request { args } in requests {
        if session.closing {
            break;
        }
        let cmd = match table().get(&args[0]) {
            None => Err(unknown_command(&args)),
            Some(cmd) if !cmd.arity_ok(args.len()) => Err(wrong_arity(cmd.name)),
            // NOAUTH / NOPERM come after the arity, then -LOADING, as in Redis.
            Some(cmd) => super::acl::check(node, session, cmd, &args).and_then(|()| {
                if crate::persistence::loading::in_progress() && !cmd.ok_loading {
                    Err(Frame::error("LOADING Redis is loading the dataset in memory"))
                } else {
                    Ok(cmd)
                }
            }),
        };
        let cmd = match (cmd, &mut session.multi) {
            (Err(e), tx) => {
                // An error while queuing dooms the transaction, as in Redis.
                if let Some(tx) = tx {
                    tx.failed = true;
                }
                batch.replies.push((Reply::Ready(e), session.proto));
                continue;
            }
            (Ok(cmd), Some(tx)) if !matches!(cmd.name, "exec" | "discard" | "multi" | "quit") => {
                tx.queued.push(Request { args });
                batch
                    .replies
                    .push((Reply::Ready(Frame::simple("QUEUED")), session.proto));
                continue;
            }
            (Ok(cmd), _) => cmd,
        };
        session.note_command(cmd, &args);
        if cmd.name == "exec" {
            batch.flush(out).await;
            match session.multi.take() {
                None => Frame::error("ERR EXEC without MULTI").encode(session.proto, out),
                Some(tx) if tx.failed => {
                    Frame::error("EXECABORT Transaction discarded because of previous errors.")
                        .encode(session.proto, out)
                }
                Some(tx) => {
                    // The queued commands' replies, in order, form one array.
                    out.extend_from_slice(format!("*{}\r\n", tx.queued.len()).as_bytes());
                    session.in_exec = true;
                    Box::pin(run(node, session, tx.queued, out)).await;
                    session.in_exec = false;
                }
            }
            continue;
        }
        let (db, write) = (session.db, cmd.write);
        let reply = match cmd.route {
            Route::Front => {
                // PING and ECHO see no data: no need to wait for what came before.
                if !matches!(cmd.name, "ping" | "echo") {
                    batch.flush(out).await;
                }
                Reply::Ready(server::execute(node, session, cmd, &args).await)
            }
            Route::Key(f) => {
                let (shard, i) = batch.push(
                    router::shard_of(&args[1], shards),
                    ShardCmd {
                        run: f,
                        db,
                        args,
                        write,
                    },
                );
                Reply::One(shard, i)
            }
            Route::Keys { run, stride, merge } => {
                if (args.len() - 1) % stride != 0 {
                    Reply::Ready(wrong_arity(cmd.name))
                } else {
                    split_by_shard(&mut batch, run, (db, write), &args, stride, merge)
                }
            }
            Route::All { run, merge } => {
                let parts = (0..shards)
                    .map(|s| {
                        batch.push(
                            s,
                            ShardCmd {
                                run,
                                db,
                                args: args.clone(),
                                write,
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
        };
        batch.replies.push((reply, session.proto));
    }
    batch.flush(out).await;
}

/// Splits a multi-key command into one command per owning shard, keeping each
/// key's arguments together (`stride` of them) and remembering key positions.
fn split_by_shard(
    batch: &mut Batch,
    run: ShardFn,
    (db, write): (usize, bool),
    args: &[Bytes],
    stride: usize,
    merge: Merge,
) -> Reply {
    let shards = batch.per_shard.len();
    let mut groups: Vec<(Vec<Bytes>, Vec<usize>)> = vec![(Vec::new(), Vec::new()); shards];
    for (pos, chunk) in args[1..].chunks_exact(stride).enumerate() {
        let (argv, positions) = &mut groups[router::shard_of(&chunk[0], shards)];
        if argv.is_empty() {
            argv.push(args[0].clone());
        }
        argv.extend_from_slice(chunk);
        positions.push(pos);
    }
    let (mut parts, mut positions) = (Vec::new(), Vec::new());
    for (shard, (argv, pos)) in groups.into_iter().enumerate() {
        if !argv.is_empty() {
            parts.push(batch.push(
                shard,
                ShardCmd {
                    run,
                    db,
                    args: argv,
                    write,
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
