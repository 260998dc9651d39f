//! Durability, per shard: each shard logs the effects of its writes to its own
//! append-only log (`aof`), written with O_DIRECT through io_uring, and replays
//! it at start-up. `record` is the on-disk framing both share. The format and
//! its guarantees are described in docs/aof.md.

pub mod aof;
pub mod record;
pub mod rewrite;
