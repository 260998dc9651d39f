//! The data a core owns: its keyspace and the counters about it. Commands run
//! here with a `Ctx` that says which database and what time it is; persistence
//! and the memory budget will hook in at this layer.

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
        f(
            &mut Ctx {
                ks: &mut self.keyspace,
                db,
                now,
            },
            args,
        )
    }
}
