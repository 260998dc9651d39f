//! Fuzzes command argument parsing: the input, split into requests (lines)
//! and arguments (spaces), runs as one client's pipeline through the real
//! dispatch on a one-shard node (`ringcache::fuzzing::Commands`). The first
//! byte sets how many requests go in one batch. No reply may be the one a
//! panicking handler gets, and nothing may panic.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use ringcache::fuzzing::Commands;

thread_local! {
    static COMMANDS: Commands = Commands::new().expect("a glommio executor");
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let batch = 1 + (control as usize % 32);
    let requests: Vec<Vec<Bytes>> = input
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            line.split(|&b| b == b' ')
                .map(Bytes::copy_from_slice)
                .collect()
        })
        .collect();
    let out = COMMANDS.with(|c| c.run(requests, batch));
    let internal = b"-ERR internal error\r\n";
    assert!(
        !out.windows(internal.len()).any(|w| w == internal),
        "a command panicked"
    );
});
