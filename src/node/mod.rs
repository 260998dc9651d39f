//! A node is everything one pinned core owns: its shard of the keyspace, the
//! client connections it accepted, its copy of the settings, and its links to
//! the other cores. Cores share nothing; they send each other jobs (closures
//! run on the receiving core) to each core's inbox.

pub mod checkpoint;
mod clients;
pub mod hold;
pub mod monitor;
mod pacer;
pub mod pubsub;
pub mod saves;
pub mod shutdown;
pub mod tracking;

pub use clients::{ClientInfo, Clients, Tracking};
pub use saves::Saves;

use crate::config::Config;
use crate::persistence::manifest::{Manifest, ShardFiles};
use crate::shard::Shard;
use crate::stats::slowlog::SlowLog;
use crate::stats::CommandStats;
use futures_channel::mpsc::UnboundedSender;
use futures_channel::oneshot;
use std::cell::{Cell, OnceCell, RefCell};
use std::future::Future;
use std::rc::{Rc, Weak};
use std::task::Poll;

/// Work sent to another core: runs there with that core's node.
pub type Job = Box<dyn FnOnce(&Node) + Send>;

#[derive(Default)]
pub struct NodeStats {
    pub connections_received: Cell<u64>,
    pub commands_processed: Cell<u64>,
    pub rejected_connections: Cell<u64>,
    pub net_input_bytes: Cell<u64>,
    pub net_output_bytes: Cell<u64>,
    /// Clients of this core waiting in a blocking command (BLPOP, ...).
    pub blocked_clients: Cell<u64>,
    /// Refused by authentication or ACL: `[auth, command, key]`.
    pub acl_denied: [Cell<u64>; 3],
    /// Commands run on this core's shard (for any core's clients).
    pub shard_ops: Cell<u64>,
    /// Jobs sent to each other core, by core id.
    pub jobs_sent_to: Vec<Cell<u64>>,
    /// Jobs other cores sent here that have run.
    pub jobs_received: Cell<u64>,
}

/// The glommio task queues a core's work runs in, one per kind of work, with
/// the shares of `Config::shares_of` (a task spawned from one stays in it).
#[derive(Clone, Copy, Debug)]
pub struct TaskQueues {
    pub network: glommio::TaskQueueHandle,
    pub persistence: glommio::TaskQueueHandle,
    pub expiry: glommio::TaskQueueHandle,
    /// Snapshot writing: a tenth of the persistence shares, so a snapshot
    /// takes mostly the time the clients leave.
    pub snapshot: glommio::TaskQueueHandle,
}

/// Indexes of `NodeStats::acl_denied`.
pub const DENIED_AUTH: usize = 0;
pub const DENIED_CMD: usize = 1;
pub const DENIED_KEY: usize = 2;

pub struct Node {
    pub id: usize,
    /// How many shards (cores) the server runs; this core's own is `shard`.
    pub shard_count: usize,
    pub shard: RefCell<Shard>,
    pub config: RefCell<Config>,
    pub clients: RefCell<Clients>,
    pub stats: NodeStats,
    /// Figures of the commands this core's clients sent (INFO commandstats).
    pub commands: RefCell<CommandStats>,
    pub slowlog: RefCell<SlowLog>,
    /// ACL LOG entries of this core's clients (ACL LOG merges every core's).
    pub acl_log: RefCell<crate::acl::AclLog>,
    /// Pub/sub: this core's subscribers and every core's (`pubsub`).
    pub pubsub: RefCell<pubsub::PubSub>,
    /// The core's task queues, once the runtime made them.
    pub task_queues: OnceCell<TaskQueues>,
    pub started_ms: u64,
    /// This shard's files, snapshots and (core 0) the manifest.
    pub persist: Persist,
    /// Each core's inbox, by core id.
    peers: Vec<UnboundedSender<Job>>,
    /// This node itself, for tasks that outlive the call that spawns them.
    me: OnceCell<Weak<Node>>,
    /// The transaction holding this shard, and the work waiting for it.
    pub hold: hold::Hold,
    /// This core's clients in MONITOR mode (`monitor`).
    pub monitors: RefCell<Vec<Rc<pubsub::Subscriber>>>,
    /// Whether the background pass removes expired keys (DEBUG
    /// SET-ACTIVE-EXPIRE 0 stops it; reads still hide and remove them).
    pub active_expire: Cell<bool>,
}

impl Node {
    pub fn new(
        id: usize,
        config: Config,
        peers: Vec<UnboundedSender<Job>>,
        persist: Persist,
    ) -> Rc<Node> {
        let shards = config.shards;
        // Node::new runs on the core's own thread: its monitor is this one.
        crate::stats::latency::set_threshold(config.latency_monitor_threshold);
        let mut shard = Shard::new(id, shards, config.databases);
        shard.configure(&config);
        shard.set_notify(config.notify_keyspace_events);
        let node = Rc::new(Node {
            id,
            shard_count: shards,
            shard: RefCell::new(shard),
            config: RefCell::new(config),
            clients: RefCell::new(Clients::new(id, shards)),
            stats: NodeStats {
                jobs_sent_to: (0..shards).map(|_| Cell::new(0)).collect(),
                ..NodeStats::default()
            },
            commands: RefCell::default(),
            slowlog: RefCell::default(),
            acl_log: RefCell::default(),
            pubsub: RefCell::default(),
            task_queues: OnceCell::new(),
            started_ms: crate::util::now_ms(),
            persist,
            peers,
            me: OnceCell::new(),
            hold: hold::Hold::default(),
            monitors: RefCell::default(),
            active_expire: Cell::new(true),
        });
        let _ = node.me.set(Rc::downgrade(&node));
        pubsub::install_event_sink(&node);
        node
    }

    /// This node as an `Rc`, to move into a task.
    pub fn rc(&self) -> Rc<Node> {
        self.me
            .get()
            .and_then(Weak::upgrade)
            .expect("a node lives as long as its core")
    }

    /// Counts one refusal (`DENIED_AUTH`, `DENIED_CMD`, `DENIED_KEY`).
    pub fn count_denied(&self, kind: usize) {
        let c = &self.stats.acl_denied[kind];
        c.set(c.get() + 1);
    }

    /// Takes new settings (CONFIG SET) and applies those that act on running
    /// machinery: the AOF's fsync policy, the memory budget and eviction
    /// policy, and the latency monitor's threshold.
    /// The users are not taken: they change only through the ACL
    /// commands' ordered path (`commands::acl::change_users`), which a
    /// CONFIG SET from a copy made before an ACL change must not undo.
    pub fn apply_config(&self, mut next: Config) {
        {
            let current = self.config.borrow();
            next.users = current.users.clone();
            next.acl_epoch = current.acl_epoch;
        }
        let mut shard = self.shard.borrow_mut();
        if let Some(aof) = &shard.aof {
            aof.borrow_mut().set_policy(next.appendfsync);
        }
        shard.configure(&next);
        shard.set_notify(next.notify_keyspace_events);
        drop(shard);
        crate::stats::latency::set_threshold(next.latency_monitor_threshold);
        *self.config.borrow_mut() = next;
    }

    /// Runs `f` on core `target` and returns its result: inline when the target
    /// is this core, as a job over the mesh otherwise. `None` only if the other
    /// core has gone (shutdown). While a transaction holds the target's shard,
    /// `f` waits for it to let go, unless `f` is that transaction's (`hold`).
    pub async fn run_on<T, F>(&self, target: usize, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> T + Send + 'static,
    {
        self.run_tagged(target, hold::ambient(), f).await
    }

    /// `run_on` as work of transaction `tag`.
    pub async fn run_tagged<T, F>(&self, target: usize, tag: u64, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> T + Send + 'static,
    {
        self.run_logged(target, tag, move |node: &Node| (f(node), None))
            .await
    }

    /// `run_on` for work that may log on the target's shard: `f` also
    /// returns the shard's log position before it ran
    /// (`Shard::log_position`), and its result comes back once what was
    /// logged since may be shown (`Shard::durable`). From another core the
    /// target sends the result only then, so the requester is woken once
    /// rather than for the result and again for the log (docs/aof.md).
    pub async fn run_durably<T, F>(&self, target: usize, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> (T, u64) + Send + 'static,
    {
        let f = move |node: &Node| {
            let (t, position) = f(node);
            (t, Some(position))
        };
        self.run_logged(target, hold::ambient(), f).await
    }

    /// `run_on` for a read whose result goes into a reply: it comes back
    /// once what the target's shard logged before the read may be shown
    /// (durable under `always`, in the kernel otherwise), as the shard's
    /// own replies do. A value gathered from another shard is never shown
    /// before a crash could take it back (docs/aof.md).
    pub async fn read_shown<T, F>(&self, target: usize, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> T + Send + 'static,
    {
        self.run_durably(target, move |node: &Node| {
            let t = f(node);
            (t, node.shard.borrow().log_position())
        })
        .await
    }

    async fn run_logged<T, F>(&self, target: usize, tag: u64, f: F) -> Option<T>
    where
        T: Send + 'static,
        F: FnOnce(&Node) -> (T, Option<u64>) + Send + 'static,
    {
        // Keys a step created or missed outside a command's run (a gathering
        // read, SORT) raise `new` and `keymiss` as it ends, not with the
        // shard's next command.
        let f = move |node: &Node| {
            let out = f(node);
            node.shard.borrow_mut().emit_pending_events();
            out
        };
        if target == self.id && !self.hold.blocks(tag) {
            let (t, position) = f(self);
            let durable = position.and_then(|p| self.shard.borrow_mut().durable(p));
            if let Some(d) = durable {
                let _ = d.await;
            }
            return Some(t);
        }
        let (tx, rx) = oneshot::channel();
        let run = move |node: &Node| {
            let (t, position) = f(node);
            let send = move || {
                let _ = tx.send(t);
            };
            match position {
                Some(p) => node.shard.borrow_mut().when_durable(p, Box::new(send)),
                None => send(),
            }
        };
        if target == self.id {
            self.hold.defer(tag, Box::new(run));
            return rx.await.ok();
        }
        let job: Job = Box::new(move |node| {
            node.stats
                .jobs_received
                .set(node.stats.jobs_received.get() + 1);
            if node.hold.blocks(tag) {
                node.hold.defer(tag, Box::new(run));
            } else {
                run(node);
            }
        });
        self.peers.get(target)?.unbounded_send(job).ok()?;
        if let Some(sent) = self.stats.jobs_sent_to.get(target) {
            sent.set(sent.get() + 1);
        }
        rx.await.ok()
    }

    /// Runs `f` on every core in parallel; the results come in core order.
    pub async fn run_on_all<T, F>(&self, f: F) -> Option<Vec<T>>
    where
        T: Send + 'static,
        F: Fn(&Node) -> T + Send + Clone + 'static,
    {
        let calls = (0..self.shard_count).map(|s| self.run_on(s, f.clone()));
        join_all(calls).await.into_iter().collect()
    }
}

/// Awaits every future, polling them together; results come in input order.
pub async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures = futures.into_iter();
    let (first, second) = (futures.next(), futures.next());
    let (first, second) = match (first, second) {
        (None, _) => return Vec::new(),
        // One future (a batch for one shard: the common case) needs no
        // boxing and no bookkeeping.
        (Some(only), None) => return vec![only.await],
        (Some(first), Some(second)) => (first, second),
    };
    let all = [first, second].into_iter().chain(futures);
    let mut pending: Vec<_> = all.map(|f| Some(Box::pin(f))).collect();
    let mut results: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for (slot, fut) in results.iter_mut().zip(pending.iter_mut()) {
            if let Some(f) = fut {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => {
                        *slot = Some(v);
                        *fut = None;
                    }
                    Poll::Pending => done = false,
                }
            }
        }
        if done {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    results.into_iter().flatten().collect()
}

/// What one core knows of its shard's files and snapshots.
#[derive(Default)]
pub struct Persist {
    /// This shard's files, as the manifest names them.
    pub files: RefCell<ShardFiles>,
    /// Size of the current base file, snapshot or log base (bytes; 0
    /// without one).
    pub base_bytes: Cell<u64>,
    /// The log's `total_bytes` when the current base was cut: what the log
    /// holds beyond the base is the difference.
    pub log_at_base: Cell<u64>,
    /// The shard's change counter at the last completed snapshot's cut.
    pub saved_changes: Cell<u64>,
    /// A checkpoint of this shard is running; its progress (keys so far).
    pub checkpointing: Cell<bool>,
    pub progress_keys: Cell<u64>,
    /// Core 0 only: the manifest, and the state of saves.
    pub manifest: Option<RefCell<Manifest>>,
    pub saves: Saves,
    /// Core 0 only: shutdowns waiting for the logs; SHUTDOWN ABORT ends
    /// their wait.
    pub shutdowns: RefCell<Vec<oneshot::Sender<()>>>,
}

impl Persist {
    pub fn new(files: ShardFiles, manifest: Option<Manifest>) -> Persist {
        let p = Persist {
            files: RefCell::new(files),
            manifest: manifest.map(RefCell::new),
            ..Persist::default()
        };
        p.saves.last_ok.set(true);
        p.saves.last_save_ms.set(crate::util::now_ms());
        p
    }
}

impl Node {
    /// Runs persistence work (saves) in this core's persistence task queue.
    pub fn spawn_persistence(&self, work: impl std::future::Future<Output = ()> + 'static) {
        self.spawn_into(|q| q.persistence, work)
    }

    /// Runs `work` in one of this core's task queues, with its shares.
    pub fn spawn_into(
        &self,
        queue: fn(&TaskQueues) -> glommio::TaskQueueHandle,
        work: impl std::future::Future<Output = ()> + 'static,
    ) {
        let spawned = match self.task_queues.get() {
            Some(q) => glommio::spawn_local_into(work, queue(q)),
            None => Ok(glommio::spawn_local(work)),
        };
        match spawned {
            Ok(task) => {
                task.detach();
            }
            Err(e) => tracing::error!(shard = self.id, "cannot start persistence work: {e}"),
        }
    }
}
