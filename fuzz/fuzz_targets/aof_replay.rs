//! Fuzzes the AOF segment decoder and the replay of its records
//! (`ringcache::fuzzing::replay_segment`, the code start-up runs). The
//! first byte picks the mode: even, the rest is the whole file as is; odd,
//! the rest is what follows a valid header block, and every record's
//! checksum is set right first, so that random bytes reach the payload
//! decoder and the commands behind it rather than stop at a checksum.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcache::persistence::record::{SegmentHeader, BLOCK, HEADER_BYTES, SEGMENT_MAGIC};

/// A valid header block, then `records` with their checksums made right,
/// walking the file as the reader does (padding, block ends).
fn with_checksums(records: &[u8]) -> Vec<u8> {
    let mut file = SegmentHeader {
        magic: SEGMENT_MAGIC,
        shard: 0,
        shards: 1,
        sequence: 1,
        run_id: "fuzz".into(),
    }
    .encode();
    file.extend_from_slice(records);
    let mut pos = BLOCK;
    while pos + HEADER_BYTES <= file.len() {
        let block_left = BLOCK - pos % BLOCK;
        if block_left < HEADER_BYTES {
            pos += block_left;
            continue;
        }
        let len = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        if len == 0 {
            file[pos + 4..pos + 8].fill(0);
            pos += block_left;
            continue;
        }
        let Some(end) = (pos + HEADER_BYTES)
            .checked_add(len)
            .filter(|&e| e <= file.len())
        else {
            break;
        };
        let crc = crc32c::crc32c(&file[pos + HEADER_BYTES..end]);
        file[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
    file
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let _ = if mode & 1 == 0 {
        ringcache::fuzzing::replay_segment(input)
    } else {
        ringcache::fuzzing::replay_segment(&with_checksums(input))
    };
});
