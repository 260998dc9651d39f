//! Fuzzes the AOF segment decoder and the replay of its records, the code
//! start-up runs (`ringcache::fuzzing::fuzz_aof_replay`: the first byte
//! says whether the target sets the checksums right).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringcache::fuzzing::fuzz_aof_replay(data));
