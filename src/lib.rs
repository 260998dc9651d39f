//! ringcache: a Redis-compatible, thread-per-core cache engine.
//!
//! Layers, top to bottom (a layer only uses those below it):
//! `runtime` (executors, mesh) → `net` (connections) → `commands` (table,
//! handlers, dispatch across shards) → `node` (what one core owns) → `shard`
//! (one keyspace shard) → `keyspace` (databases, values, expiry) → `protocol`,
//! `router`, `config`, `util`. `acl` (users and their permissions) sits with
//! `config`, which holds the users. `stats` (per-core counters, slow log,
//! latency monitor) is used by `commands`, `node` and `persistence`. `alloc`
//! is the process's allocator, counted.

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
