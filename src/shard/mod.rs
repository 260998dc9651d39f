//! The data a core owns: its keyspace and, with persistence on, its
//! append-only log. Commands run here with a `Ctx` that says which database and
//! what time it is, and that collects what they changed; after each command
//! the shard appends those effects to the log. The shard also keeps its data
//! inside its share of `maxmemory`: before a command that may grow memory it
//! evicts by the policy, or refuses the command (see docs/memory.md).

use crate::config::Config;
use crate::keyspace::encodings::{self, Encodings};
use crate::keyspace::{Keyspace, Policy, Value};
use crate::persistence::aof::AofBuffer;
use crate::persistence::rewrite;
use crate::protocol::Frame;
use bytes::Bytes;
use futures_channel::oneshot;
use hashbrown::HashMap;
use std::cell::RefCell;
use std::rc::Rc;

mod effects;
pub mod split;
pub mod tx;

/// A command's work on one shard: reads and changes the keyspace, returns the
/// reply. `args[0]` is the command name, as the client sent it.
pub type ShardFn = fn(&mut Ctx, &[Bytes]) -> Frame;

/// What a command may do to the data, from its flags in Redis's command
/// table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Access {
    Read,
    /// Changes data (`write`): refused while the log is failing.
    Write,
    /// Changes data and may need more memory (`write` and `denyoom`):
    /// refused also when the shard is over its budget and cannot evict.
    Grow,
}

/// Redis's refusal of a write while a log cannot be written (any shard's
/// failing log, not only this one's: docs/aof.md), so that nothing is
/// acknowledged that could be lost.
pub fn log_refusal() -> Option<Frame> {
    crate::persistence::aof::failing_log_error()
        .map(|err| Frame::error(format!("MISCONF Errors writing to the AOF file: {err}")))
}

/// Redis's reply to a command refused for want of memory.
pub const OOM_ERROR: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// What a command sees while it runs on a shard.
pub struct Ctx<'a> {
    pub ks: &'a mut Keyspace,
    pub db: usize,
    /// The time the whole batch runs at (Unix ms): one clock read per batch, and
    /// every command of the batch sees the same "now", as in Redis.
    pub now: u64,
    /// Whether the command changed data (Redis's `server.dirty`): a write that
    /// changed nothing is not logged.
    pub dirty: bool,
    /// Whether the command's effects go anywhere (a log, or a capture):
    /// without one, `effect` keeps nothing and a hot path (SET) builds none.
    pub logging: bool,
    /// What to log instead of the command's own text, when replaying the text
    /// would not rebuild the same state: relative TTLs become absolute times,
    /// random picks become the removals they made. Empty: log the text.
    pub effects: Vec<Vec<Bytes>>,
    /// `notify-keyspace-events` (0: off, and `notify` costs one test).
    pub notify_flags: u32,
    /// Keyspace events the command raised, published after it ran.
    pub events: Vec<KeyEvent>,
}

/// A keyspace event (docs/pubsub.md): published on
/// `__keyspace@<db>__:<key>` and `__keyevent@<db>__:<event>` as the
/// classes enabled say.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyEvent {
    pub class: u32,
    pub event: &'static str,
    pub db: usize,
    pub key: Bytes,
}

/// The `new` events of the keys created and the `keymiss` events of the
/// keys reads missed since the last call, in that order.
fn pending_events(ks: &mut Keyspace) -> impl Iterator<Item = KeyEvent> {
    use crate::config::events::{KEY_MISS, NEW};
    let created = ks.take_new_keys().into_iter().map(|k| (NEW, "new", k));
    let missed = ks.take_missed_keys().into_iter();
    let missed = missed.map(|k| (KEY_MISS, "keymiss", k));
    created
        .chain(missed)
        .map(|(class, event, (db, key))| KeyEvent {
            class,
            event,
            db,
            key,
        })
}

/// Where a shard's keyspace events go (the node publishes them).
pub type EventSink = Rc<dyn Fn(&KeyEvent)>;

impl Ctx<'_> {
    /// Marks that the command changed data; its own text is its effect.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// Whether deadline `at` (Unix ms) has passed. Never while the shard
    /// loads: a replayed deadline is restored as it was, and the key goes
    /// (logged) once loading is done, as Redis does.
    pub fn past(&self, at: u64) -> bool {
        !self.ks.is_loading() && at <= self.now
    }

    /// Raises keyspace event `event` of `class` (`config::events`) for
    /// `key`, if that class is enabled.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        self.notify_in(self.db, class, event, key);
    }

    /// `notify` for a key in database `db` (MOVE's `move_to`).
    pub fn notify_in(&mut self, db: usize, class: u32, event: &'static str, key: &[u8]) {
        // A key the command created gets its `new` first, as Redis raises
        // it where the key is added (MSET: new a, set a, new b, set b).
        self.notify_new_keys();
        if self.notify_flags & class != 0 {
            self.events.push(KeyEvent {
                class,
                event,
                db,
                key: Bytes::copy_from_slice(key),
            });
        }
    }

    /// Raises `new` for the keys created since the last event, and
    /// `keymiss` for the keys reads did not find.
    fn notify_new_keys(&mut self) {
        self.events.extend(pending_events(self.ks));
    }

    /// Records `argv` as (one of) the command's effects, replacing its text.
    pub fn effect(&mut self, argv: Vec<Bytes>) {
        self.dirty = true;
        if self.logging {
            self.effects.push(argv);
        }
    }
}

pub struct Shard {
    pub id: usize,
    pub keyspace: Keyspace,
    /// The shard's append-only log, when `appendonly` is on.
    pub aof: Option<Rc<RefCell<AofBuffer>>>,
    /// Clients blocked (BLPOP, BZPOPMIN, ...) on keys of this shard.
    pub waiters: Waiters,
    /// Writes that changed data, ever (Redis's `dirty`): save points count
    /// the changes since the last snapshot from it.
    pub changes: u64,
    /// This shard's share of `maxmemory`, in bytes (0: no limit).
    pub budget: usize,
    /// The most the shard's data has used (INFO's `used_memory_peak`).
    pub peak: usize,
    /// While set, what would be appended to the log is collected here
    /// instead: the effects a cross-shard write wraps in one record.
    pub capture: Option<tx::Effects>,
    /// Cross-shard writes this shard takes part in (`tx`).
    pub tx: tx::TxState,
    /// Set while a split write's part runs: the write was checked against a
    /// failing log before it was split (`as_split_part`).
    write_admitted: bool,
    /// `notify-keyspace-events` of the classes that have a channel (0: off).
    notify_flags: u32,
    /// Who publishes the keyspace events (set by the node).
    pub event_sink: Option<EventSink>,
    /// Set while commands run whose events are replaced by one of their
    /// caller's (`quietly`): a RENAME's rebuild raises `rename_to` only.
    events_muted: bool,
}

/// What a blocked client waits for at a key: a list or a sorted set.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WaitKind {
    List,
    ZSet,
}

impl WaitKind {
    fn type_name(self) -> &'static str {
        match self {
            WaitKind::List => "list",
            WaitKind::ZSet => "zset",
        }
    }
}

/// One blocked client's registration: what it waits for (`W`), how to wake it.
type Waiter<W> = (W, oneshot::Sender<Ticket>);

/// Held by the one client woken for a key while it retries its pop.
pub type Ticket = oneshot::Sender<()>;

struct KeyWaiters<W> {
    /// Oldest first.
    queue: Vec<Waiter<W>>,
    /// The ticket of the client woken last, while it may still pop.
    woken: Option<oneshot::Receiver<()>>,
}

impl<W> Default for KeyWaiters<W> {
    fn default() -> Self {
        KeyWaiters {
            queue: Vec::new(),
            woken: None,
        }
    }
}

impl<W> KeyWaiters<W> {
    /// Whether a woken client still holds its ticket.
    fn serving(&mut self) -> bool {
        match self.woken.as_mut().map(|rx| rx.try_recv()) {
            Some(Ok(None)) => true,
            _ => {
                self.woken = None;
                false
            }
        }
    }

    fn prune(&mut self) {
        self.queue.retain(|(_, s)| !s.is_canceled());
    }
}

/// Blocked clients by key, served first come, first served as in Redis. A
/// client registers on the shard of each key it waits on. When a write leaves
/// such a key holding a value of the awaited type, the longest-waiting client
/// is woken, and only it: it gets a `Ticket`, and no other client is woken
/// for that key while the ticket lives. The client hands the ticket back
/// (drops it) on this shard right before its pop, so the pop's own write
/// wakes the next client if something is left; a client that ends up not
/// popping there (another of its keys served it first, it timed out, hung
/// up) drops its ticket and asks the shard to wake the next one. A client
/// that stopped waiting just drops its receiver; its registration is pruned
/// later.
#[derive(Default)]
pub struct Waiters {
    by_key: HashMap<(usize, Bytes), KeyWaiters<WaitKind>>,
    /// Blocked stream readers by key. XREAD readers consume nothing: every
    /// one whose stream got what it waits for is woken. Group readers take
    /// entries, so they are woken as pops are, one at a time, oldest first
    /// (Redis serves them in that order); one whose key or group went is
    /// woken at once, for its error.
    streams: HashMap<(usize, Bytes), KeyWaiters<StreamWait>>,
}

/// Whether a blocked stream reader has something at its key.
#[derive(PartialEq)]
enum StreamReady {
    No,
    /// Entries after what it has read.
    Entries,
    /// A group reader's key or group went: it is woken for its error.
    Gone,
}

/// What a blocked XREAD / XREADGROUP waits for at a key: an entry after
/// `after`, or for a group an entry after the group's last delivered ID
/// (and a group reader wakes too once the key or group is gone, to get its
/// error).
pub struct StreamWait {
    pub after: crate::keyspace::stream::StreamId,
    pub group: Option<Bytes>,
}

impl Waiters {
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.streams.is_empty()
    }

    /// Clients currently waiting (stale registrations not yet pruned count).
    pub fn len(&self) -> usize {
        self.by_key.values().map(|w| w.queue.len()).sum::<usize>()
            + self.streams.values().map(|w| w.queue.len()).sum::<usize>()
    }
}

/// Most keys one active-expiry pass removes before yielding to clients.
pub const EXPIRE_KEYS_PER_PASS: usize = 1000;
/// Most keys evicted before one command; if the shard is still over its
/// budget, the background pass (`evict_pass`) goes on from there.
const EVICT_KEYS_PER_COMMAND: usize = 64;
/// Most keys one background eviction pass removes before yielding.
pub const EVICT_KEYS_PER_PASS: usize = 500;

impl Shard {
    pub fn new(id: usize, shards: usize, databases: usize) -> Shard {
        Shard {
            id,
            keyspace: Keyspace::new(id, shards, databases),
            aof: None,
            waiters: Waiters::default(),
            changes: 0,
            budget: 0,
            peak: 0,
            capture: None,
            tx: tx::TxState::default(),
            write_admitted: false,
            notify_flags: 0,
            event_sink: None,
            events_muted: false,
        }
    }

    /// Takes `notify-keyspace-events`: which events commands, expiry and
    /// eviction raise from now on.
    pub fn set_notify(&mut self, flags: u32) {
        use crate::config::events;
        self.notify_flags = if events::enabled(flags) { flags } else { 0 };
        self.keyspace
            .record_removal_events(self.notify_flags & (events::EXPIRED | events::EVICTED) != 0);
        self.keyspace
            .record_new_keys(self.notify_flags & events::NEW != 0);
        self.keyspace
            .record_missed_keys(self.notify_flags & events::KEY_MISS != 0);
    }

    fn emit(&self, event: &KeyEvent) {
        // `new` is the key's own, whoever made it.
        let muted = self.events_muted && event.class != crate::config::events::NEW;
        if let Some(sink) = self.event_sink.as_ref().filter(|_| !muted) {
            sink(event);
        }
    }

    /// Raises `event` of `class` on `key` in `db`, for a write made outside
    /// a command's handler (RENAME's `rename_from`, COPY's `copy_to`).
    pub fn raise(&mut self, class: u32, event: &'static str, db: usize, key: &Bytes) {
        if self.notify_flags & class != 0 {
            let key = key.clone();
            self.emit(&KeyEvent {
                class,
                event,
                db,
                key,
            });
        }
    }

    /// Runs `f` with the events of the commands it runs muted (`new` aside):
    /// the caller raises the one Redis raises for the whole (COPY's rebuild
    /// of the destination raises `copy_to`, not `del` and `set`).
    pub fn quietly<T>(&mut self, f: impl FnOnce(&mut Shard) -> T) -> T {
        let was = std::mem::replace(&mut self.events_muted, true);
        let out = f(self);
        self.events_muted = was;
        out
    }

    /// Takes the settings the keyspace obeys: this shard's even share of
    /// `maxmemory`, the policy and its parameters (the next write and the
    /// next background pass enforce them), and the compact forms' limits
    /// (process-wide, the same from every shard).
    pub fn configure(&mut self, config: &Config) {
        encodings::set(&Encodings {
            hash_max_listpack_entries: config.hash_max_listpack_entries,
            hash_max_listpack_value: config.hash_max_listpack_value,
            set_max_intset_entries: config.set_max_intset_entries,
            zset_max_listpack_entries: config.zset_max_listpack_entries,
            zset_max_listpack_value: config.zset_max_listpack_value,
            list_max_listpack_size: config.list_max_listpack_size,
            stream_node_max_bytes: config.stream_node_max_bytes,
            stream_node_max_entries: config.stream_node_max_entries,
        });
        // A share rounded down to 0 would read as "no limit" (`maxmemory 1`
        // on 2 shards let every write in): at least one byte.
        let share = config.maxmemory / config.shards.max(1) as u64;
        self.budget = if config.maxmemory == 0 {
            0
        } else {
            share.max(1) as usize
        };
        // The same rounding for `tracking-table-max-keys` (0: no limit).
        let keys = config.tracking_table_max_keys;
        self.keyspace.tracked.max_keys = if keys == 0 {
            0
        } else {
            (keys / config.shards.max(1)).max(1)
        };
        let e = &mut self.keyspace.eviction;
        e.set_policy(Policy::from_name(&config.maxmemory_policy).unwrap_or_default());
        e.samples = config.maxmemory_samples;
        e.lfu_log_factor = config.lfu_log_factor;
        e.lfu_decay_time = config.lfu_decay_time;
    }

    /// The heap bytes of the shard's data, noting the peak.
    pub fn used_memory(&mut self) -> usize {
        let used = self.keyspace.used_bytes();
        self.peak = self.peak.max(used);
        used
    }

    fn over_budget(&mut self) -> bool {
        self.budget != 0 && self.used_memory() > self.budget
    }

    /// Evicts until the shard is within its budget or `most` keys went.
    /// False if it is still over and the policy has nothing left to evict.
    fn evict(&mut self, most: usize) -> bool {
        let mut evicted = 0;
        let mut ok = true;
        while evicted < most && self.over_budget() {
            if !self.keyspace.evict_one() {
                ok = false;
                break;
            }
            evicted += 1;
        }
        if evicted > 0 {
            self.changes += evicted as u64;
            self.log_expired();
        }
        ok
    }

    /// Background eviction: one bounded pass (CONFIG SET maxmemory lower, or
    /// a command that left the shard over). Returns the keys evicted.
    pub fn evict_pass(&mut self) -> usize {
        let before = self.keyspace.stats.evicted;
        self.keyspace.eviction.now = crate::util::now_ms();
        // Also samples the peak, whether or not there is a budget.
        self.used_memory();
        self.evict(EVICT_KEYS_PER_PASS);
        if self.notify_flags != 0 {
            self.emit_removals();
        }
        (self.keyspace.stats.evicted - before) as usize
    }

    /// Starts logging to `aof`: from now on every change is appended to it.
    pub fn attach_aof(&mut self, aof: Rc<RefCell<AofBuffer>>) {
        self.keyspace.record_removals(true);
        self.aof = Some(aof);
    }

    /// Runs one command. A command that may grow memory is refused when the
    /// shard is over its budget and cannot evict (as Redis, before the
    /// MISCONF check). A write is refused while the log cannot be written,
    /// so nothing is acknowledged that could be lost.
    pub fn run(
        &mut self,
        f: ShardFn,
        db: usize,
        args: &[Bytes],
        now: u64,
        access: Access,
    ) -> Frame {
        if let Err(refused) = self.admit(access, now) {
            return refused;
        }
        // Keys created or missed by other paths (a cross-shard step, SORT's
        // lookups) before this.
        self.emit_pending_events();
        self.keyspace.watched.begin_command();
        self.keyspace.tracked.begin_command();
        let mut ctx = Ctx {
            ks: &mut self.keyspace,
            db,
            now,
            dirty: false,
            logging: self.aof.is_some() || self.capture.is_some(),
            effects: Vec::new(),
            notify_flags: self.notify_flags,
            events: Vec::new(),
        };
        let reply = f(&mut ctx, args);
        ctx.notify_new_keys();
        ctx.ks.settle();
        let (dirty, effects, events) = (ctx.dirty, ctx.effects, ctx.events);
        self.keyspace.watched.end_command(dirty);
        self.keyspace.tracked.end_command(dirty);
        for event in &events {
            self.emit(event);
        }
        self.changes += dirty as u64;
        if dirty && !self.waiters.is_empty() {
            self.wake_ready(now);
        }
        // Keys that expired while the command ran went before its effect.
        self.log_expired();
        if dirty && effects.is_empty() {
            self.log(db, args);
        }
        // One logical record: replay applies all of them or none.
        self.log_all(db, effects);
        reply
    }

    /// The checks every write passes before it changes anything, whatever
    /// path it takes (a command, a cross-shard step, MSETNX, RENAME): a
    /// command that may grow memory is refused when the shard is over its
    /// budget and cannot evict (as Redis, before the MISCONF check); a write
    /// is refused while the log cannot be written, so nothing is
    /// acknowledged that could be lost.
    pub fn admit(&mut self, access: Access, now: u64) -> Result<(), Frame> {
        self.keyspace.eviction.now = now;
        if access == Access::Grow && self.over_budget() && !self.evict(EVICT_KEYS_PER_COMMAND) {
            return Err(Frame::error(OOM_ERROR));
        }
        if access != Access::Read && self.aof.is_some() && !self.write_admitted {
            if let Some(refused) = log_refusal() {
                return Err(refused);
            }
        }
        Ok(())
    }

    /// `admit` for a part of a write already decided elsewhere (a
    /// cross-shard write's follower, whose holder's `TX` is on disk): not
    /// refused for a failing log. Its record waits in the log for the
    /// retry, and the write's reply with it, as a split write's parts do.
    /// Refused, the write was undone, and a power cut's one-moment cut
    /// could drop the synced undo with the records after that moment, and
    /// finish at start-up the write the client was told had not happened
    /// (the simulated disk's seed 1600049).
    pub fn admit_decided(&mut self, access: Access, now: u64) -> Result<(), Frame> {
        let admitted = std::mem::replace(&mut self.write_admitted, true);
        let out = self.admit(access, now);
        self.write_admitted = admitted;
        out
    }

    /// Appends one effect record to the log, or to `capture` while a
    /// cross-shard step collects its effects.
    fn log(&mut self, db: usize, argv: &[Bytes]) {
        if let Some(captured) = &mut self.capture {
            captured.push((db, argv.to_vec()));
        } else if let Some(aof) = &self.aof {
            aof.borrow_mut().append(db, argv);
        }
    }

    /// Appends the effects of one write as one logical record (replay
    /// applies all or none), or to `capture` while a cross-shard step runs.
    pub fn log_all(&mut self, db: usize, commands: Vec<Vec<Bytes>>) {
        if let Some(captured) = &mut self.capture {
            captured.extend(commands.into_iter().map(|argv| (db, argv)));
        } else if let Some(aof) = &self.aof {
            aof.borrow_mut().append_all(db, &commands);
        }
    }

    /// Runs `f`, which changes several keys as one write, and logs its
    /// effects as one logical record: replay applies all of them or none (a
    /// one-shard RENAME is `DEL src`, then `dst` rebuilt; logged apart, a
    /// log cut between them came back with neither key). Inside a capture
    /// already running (EXEC, a cross-shard step) they join that one.
    pub fn as_one_write<T>(&mut self, f: impl FnOnce(&mut Shard) -> T) -> T {
        if self.capture.is_some() || self.aof.is_none() {
            return f(self);
        }
        self.capture = Some(Vec::new());
        let out = f(self);
        let effects = self.capture.take().unwrap_or_default();
        match effects.first() {
            Some(&(db, _)) if effects.iter().all(|(d, _)| *d == db) => {
                let commands: Vec<Vec<Bytes>> = effects.into_iter().map(|(_, argv)| argv).collect();
                self.log_all(db, commands);
            }
            // (Not made by these writes: they change one database.)
            _ => {
                for (db, argv) in effects {
                    self.log(db, &argv);
                }
            }
        }
        out
    }

    /// Runs one part of a split write (`split`: a multi-key write whose keys
    /// live on several shards) and logs its effects with the other parts'
    /// commands as one `SPLIT` record, so that start-up can finish the write
    /// if a crash kept some parts and lost others. Every part logs its
    /// record, also one that changed nothing or was refused (`-OOM`):
    /// start-up takes a part its shard's log lacks for one the crash took,
    /// and runs it (a `DEL` of a key written again later would delete it).
    /// The write was checked against a failing log for all its parts at
    /// once (`log_refusal`, before it was split): a log that fails meanwhile
    /// holds the replies until its retry succeeds, but refuses no part, or
    /// the write would be half done. Inside a capture already running
    /// (EXEC, a script) the effects join that one.
    pub fn as_split_part(
        &mut self,
        write: &split::SplitWrite,
        f: impl FnOnce(&mut Shard) -> Frame,
    ) -> Frame {
        write.ran(self.id);
        let Some(aof) = self.aof.clone().filter(|_| self.capture.is_none()) else {
            return f(self);
        };
        self.capture = Some(Vec::new());
        self.write_admitted = true;
        let reply = f(self);
        self.write_admitted = false;
        let effects = self.capture.take().unwrap_or_default();
        let id = self.id;
        aof.borrow_mut()
            .append_with(write.db, |args| write.encode(id, &effects, args));
        reply
    }

    /// Appends a record as it is, never captured (a cross-shard write's own
    /// records). Returns the log position after it.
    pub fn append_record(&mut self, db: usize, argv: &[Bytes]) -> u64 {
        if let Some(aof) = &self.aof {
            aof.borrow_mut().append(db, argv);
        }
        self.log_position()
    }

    /// Logs the deletions of the keys that expired or were evicted since the
    /// last call.
    pub fn log_expired(&mut self) {
        for (db, key) in self.keyspace.take_removed() {
            self.log(db, &[Bytes::from_static(b"DEL"), key]);
        }
        if self.notify_flags != 0 {
            self.emit_removals();
        }
    }

    /// Raises the `new` and `keymiss` events of keys created or missed
    /// outside a command's run (a cross-shard step, a gathering read).
    /// One test when neither class is on: it runs after every job.
    pub fn emit_pending_events(&mut self) {
        use crate::config::events::{KEY_MISS, NEW};
        if self.notify_flags & (NEW | KEY_MISS) == 0 {
            return;
        }
        for event in pending_events(&mut self.keyspace) {
            self.emit(&event);
        }
    }

    /// Raises `expired` and `evicted` for the keys that went.
    fn emit_removals(&mut self) {
        use crate::config::events;
        for (db, key, evicted) in self.keyspace.take_removal_events() {
            let (class, event) = if evicted {
                (events::EVICTED, "evicted")
            } else {
                (events::EXPIRED, "expired")
            };
            if self.notify_flags & class != 0 {
                self.emit(&KeyEvent {
                    class,
                    event,
                    db,
                    key,
                });
            }
        }
    }

    /// Stores a whole value (a key moved here from another shard, MSETNX),
    /// logged as the commands that rebuild it.
    pub fn put(&mut self, db: usize, key: &Bytes, value: Value, expire_at: Option<u64>) {
        self.log_expired();
        self.changes += 1;
        if self.aof.is_some() {
            // One logical record: a crash never leaves the key half rebuilt.
            let mut commands = vec![vec![Bytes::from_static(b"DEL"), key.clone()]];
            commands.extend(rewrite::commands_for(key, &value, expire_at));
            self.log_all(db, commands);
        }
        self.keyspace.insert(db, key, value, expire_at);
        self.emit_pending_events();
        if !self.waiters.is_empty() {
            self.wake_ready(crate::util::now_ms());
        }
    }

    /// Registers a client blocked on `key` until it holds a value of `kind`.
    /// Returns None (nothing registered) if it already does: the client
    /// should retry its pop right away.
    pub fn wait_for(
        &mut self,
        db: usize,
        key: Bytes,
        kind: WaitKind,
        now: u64,
    ) -> Option<oneshot::Receiver<Ticket>> {
        if self.ready(db, &key, kind, now) {
            self.log_expired();
            return None;
        }
        self.log_expired();
        let (tx, rx) = oneshot::channel();
        let waiters = self.waiters.by_key.entry((db, key)).or_default();
        waiters.prune();
        waiters.queue.push((kind, tx));
        // Keep stale registrations (clients that stopped waiting) bounded.
        if self.waiters.by_key.len() > 256 && self.waiters.by_key.len().is_power_of_two() {
            self.prune_waiters();
        }
        Some(rx)
    }

    /// Registers a client blocked on the stream at `key` (`wait_for` for
    /// XREAD / XREADGROUP BLOCK). None if what it waits for is there.
    pub fn wait_for_stream(
        &mut self,
        db: usize,
        key: Bytes,
        wait: StreamWait,
        now: u64,
    ) -> Option<oneshot::Receiver<Ticket>> {
        let ready = self.stream_ready(db, &key, &wait, now);
        self.log_expired();
        if ready != StreamReady::No {
            return None;
        }
        let (tx, rx) = oneshot::channel();
        let waiters = self.waiters.streams.entry((db, key)).or_default();
        waiters.prune();
        waiters.queue.push((wait, tx));
        Some(rx)
    }

    fn stream_ready(&mut self, db: usize, key: &[u8], w: &StreamWait, now: u64) -> StreamReady {
        match self.keyspace.lookup(db, key, now).and_then(|e| e.value()) {
            Some(Value::Stream(s)) => {
                let after = match &w.group {
                    Some(g) => match s.groups.get(g) {
                        Some(g) => g.last_id,
                        None => return StreamReady::Gone,
                    },
                    None => w.after,
                };
                match s.has_entry_after(after) {
                    true => StreamReady::Entries,
                    false => StreamReady::No,
                }
            }
            _ if w.group.is_some() => StreamReady::Gone,
            _ => StreamReady::No,
        }
    }

    /// Wakes the blocked stream readers whose stream now has what they wait
    /// for (see `Waiters::streams`): a group reader given entries gets a
    /// ticket, as a popping client does; the others' tickets mean nothing.
    fn wake_streams(&mut self, now: u64) {
        let keys: Vec<(usize, Bytes)> = self.waiters.streams.keys().cloned().collect();
        for (db, key) in keys {
            let Some(mut w) = self.waiters.streams.remove(&(db, key.clone())) else {
                continue;
            };
            w.prune();
            let mut serving = w.serving();
            let mut left = Vec::new();
            for (wait, tx) in std::mem::take(&mut w.queue) {
                match self.stream_ready(db, &key, &wait, now) {
                    StreamReady::No => left.push((wait, tx)),
                    StreamReady::Entries if wait.group.is_some() => {
                        if serving {
                            left.push((wait, tx));
                            continue;
                        }
                        let (ticket, woken) = oneshot::channel();
                        if tx.send(ticket).is_ok() {
                            w.woken = Some(woken);
                            serving = true;
                        }
                    }
                    _ => {
                        let (ticket, _) = oneshot::channel();
                        let _ = tx.send(ticket);
                    }
                }
            }
            w.queue = left;
            if !w.queue.is_empty() || w.woken.is_some() {
                self.waiters.streams.insert((db, key), w);
            }
        }
    }

    /// Drops the registrations of clients that no longer wait.
    pub fn prune_waiters(&mut self) {
        self.waiters.streams.retain(|_, w| {
            w.prune();
            !w.queue.is_empty() || w.serving()
        });
        self.waiters.by_key.retain(|_, w| {
            w.prune();
            !w.queue.is_empty() || w.serving()
        });
    }

    fn ready(&mut self, db: usize, key: &[u8], kind: WaitKind, now: u64) -> bool {
        self.keyspace
            .lookup(db, key, now)
            .is_some_and(|e| e.type_name() == kind.type_name())
    }

    /// Wakes, for each key that now holds what its clients wait for, the
    /// longest-waiting of them, unless one woken earlier is still serving.
    pub fn wake_ready(&mut self, now: u64) {
        if !self.waiters.streams.is_empty() {
            self.wake_streams(now);
        }
        let keys: Vec<(usize, Bytes)> = self.waiters.by_key.keys().cloned().collect();
        for (db, key) in keys {
            let Some(mut w) = self.waiters.by_key.remove(&(db, key.clone())) else {
                continue;
            };
            w.prune();
            if !w.serving() {
                let ready: Vec<WaitKind> = [WaitKind::List, WaitKind::ZSet]
                    .into_iter()
                    .filter(|k| w.queue.iter().any(|(x, _)| x == k))
                    .filter(|k| self.ready(db, &key, *k, now))
                    .collect();
                while let Some(i) = w.queue.iter().position(|(k, _)| ready.contains(k)) {
                    let (_, wake) = w.queue.remove(i);
                    let (ticket, woken) = oneshot::channel();
                    if wake.send(ticket).is_ok() {
                        w.woken = Some(woken);
                        break;
                    }
                }
            }
            if !w.queue.is_empty() || w.woken.is_some() {
                self.waiters.by_key.insert((db, key), w);
            }
        }
    }

    /// Removes a live key and hands back its value and TTL (a key moving to
    /// another shard, an MSETNX undone); logged as a deletion.
    pub fn take(&mut self, db: usize, key: &Bytes, now: u64) -> Option<(Value, Option<u64>)> {
        self.keyspace.lookup(db, key, now)?;
        let entry = self.keyspace.remove(db, key)?;
        self.changes += 1;
        self.log_expired();
        self.log(db, &[Bytes::from_static(b"DEL"), key.clone()]);
        let at = entry.expire_at();
        Some((entry.into_value(), at))
    }

    /// Active expiry: one bounded pass; the removals are logged.
    pub fn expire_due(&mut self, now: u64) -> usize {
        let removed = self.keyspace.expire_due(now, EXPIRE_KEYS_PER_PASS);
        self.log_expired();
        removed
    }

    /// Where the log is: pass it to `durable` after running commands.
    pub fn log_position(&self) -> u64 {
        self.aof.as_ref().map_or(0, |a| a.borrow().appended())
    }

    /// If the log holds records that a reply must not show before they are
    /// safe (durable under `always`, in the kernel otherwise): completes once
    /// they are. Every reply of the shard waits on this, reads too, except
    /// those of commands that logged nothing since `position` while the log
    /// is failing (reads go on then: docs/aof.md).
    pub fn durable(&mut self, position: u64) -> Option<futures_channel::oneshot::Receiver<()>> {
        let mut aof = self.aof.as_ref()?.borrow_mut();
        write_big_batch(&mut aof, position);
        aof.ticket(position)
    }

    /// `durable` for a reply that leaves from this core: runs `then` once
    /// the reply may be shown (at once when it may now, or with no log).
    pub fn when_durable(&mut self, position: u64, then: Box<dyn FnOnce()>) {
        match &self.aof {
            Some(aof) => {
                let mut aof = aof.borrow_mut();
                write_big_batch(&mut aof, position);
                aof.when_shown(position, then)
            }
            None => then(),
        }
    }

    /// Whatever the policy: completes once everything logged so far is
    /// written and synced (`None`: no log). A cross-shard write waits on it
    /// between its steps (docs/aof.md).
    pub fn synced(&mut self) -> Option<futures_channel::oneshot::Receiver<()>> {
        let aof = self.aof.as_ref()?;
        let mut aof = aof.borrow_mut();
        if aof.policy() == crate::config::Fsync::Always {
            aof.ticket(0)
        } else {
            Some(aof.sync_all())
        }
    }
}

/// A batch that appended at least `aof::WRITE_NOW_RECORDS` records since
/// `position` hands them to the kernel itself (`AofBuffer::write_now`).
fn write_big_batch(aof: &mut crate::persistence::aof::AofBuffer, position: u64) {
    if aof.appended() >= position + crate::persistence::aof::WRITE_NOW_RECORDS {
        aof.write_now();
    }
}
