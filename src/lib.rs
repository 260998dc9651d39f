//! ringcache: a Redis-compatible, thread-per-core cache engine.
//!
//! Layers, top to bottom: a module uses only modules of the layers below its
//! own, never one beside it or above it (tests/layering.rs holds the code to
//! this table; a new top-level module needs a row there and here).
//!
//! 1. `main` (the binary: CLI, start-up), `fuzzing` (the fuzz targets' entry
//!    points)
//! 2. `runtime`: executors, inboxes, start-up recovery
//! 3. `net`: client connections, pipelined reading and replies
//! 4. `commands`: the command table, handlers, dispatch across shards
//! 5. `node`: what one core owns: its shard, clients, checkpoints, saves
//! 6. `shard`: one keyspace shard with its log, cross-shard write steps
//! 7. `persistence`: log, snapshots, manifest, record format
//! 8. `keyspace` (databases, values, expiry, eviction), `config` (settings,
//!    their defaults, and the enums they set, e.g. `Fsync`)
//! 9. `protocol` (RESP), `router` (key → slot → shard), `acl` (users and
//!    permissions), `stats` (command statistics, slow log, latency monitor)
//! 10. `process`: run id, RSS and CPU time, shutdown flag, loading progress
//! 11. `util` (helpers), `alloc` (the counting allocator), `logging` (the log)

pub mod acl;
pub mod alloc;
pub mod commands;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod keyspace;
pub mod logging;
pub mod net;
pub mod node;
pub mod persistence;
pub mod process;
pub mod protocol;
pub mod router;
pub mod runtime;
pub mod shard;
pub mod stats;
pub mod util;
