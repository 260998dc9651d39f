//! The data a core owns: its keyspace and the counters about it. Commands run
//! here with a `Ctx` that says which database and what time it is, and that
//! collects what they changed: the effects the shard's append-only log will
//! record.

use crate::keyspace::Keyspace;
use crate::protocol::Frame;
use bytes::Bytes;

/// A command's work on one shard: reads and changes the keyspace, returns the
/// reply. `args[0]` is the command name, as the client sent it.
pub type ShardFn = fn(&mut Ctx, &[Bytes]) -> Frame;

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
    /// What to log instead of the command's own text, when replaying the text
    /// would not rebuild the same state: relative TTLs become absolute times,
    /// random picks become the removals they made. Empty: log the text.
    pub effects: Vec<Vec<Bytes>>,
}

impl Ctx<'_> {
    /// Marks that the command changed data; its own text is its effect.
    pub fn changed(&mut self) {
        self.dirty = true;
    }

    /// Records `argv` as (one of) the command's effects, replacing its text.
    pub fn effect(&mut self, argv: Vec<Bytes>) {
        self.dirty = true;
        self.effects.push(argv);
    }
}

pub struct Shard {
    pub id: usize,
    pub keyspace: Keyspace,
}

/// Most keys one active-expiry pass removes before yielding to clients.
pub const EXPIRE_KEYS_PER_PASS: usize = 1000;

impl Shard {
    pub fn new(id: usize, shards: usize, databases: usize) -> Shard {
        Shard {
            id,
            keyspace: Keyspace::new(id, shards, databases),
        }
    }

    pub fn run(&mut self, f: ShardFn, db: usize, args: &[Bytes], now: u64) -> Frame {
        let mut ctx = Ctx {
            ks: &mut self.keyspace,
            db,
            now,
            dirty: false,
            effects: Vec::new(),
        };
        // The effects are collected here; the append-only log will take them.
        f(&mut ctx, args)
    }
}
