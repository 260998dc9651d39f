//! Fuzzes snapshot loading, the code start-up runs
//! (`ringcache::fuzzing::fuzz_snapshot_load`: the first byte says whether
//! the target sets the checksums and the footer's totals right).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| ringcache::fuzzing::fuzz_snapshot_load(data));
