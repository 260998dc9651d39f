//! Fuzzes RESTORE's payload decoder (`ringcache::fuzzing::fuzz_rdb_restore`:
//! the first byte says whether the target adds a footer with the right
//! checksum, so that the bytes reach the object decoder).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringcache::fuzzing::fuzz_rdb_restore(data));
