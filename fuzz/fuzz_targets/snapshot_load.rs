//! Fuzzes snapshot loading (`ringcache::fuzzing::load_snapshot`, the loader
//! start-up runs). The first byte picks the mode: even, the rest is the
//! whole file as is; odd, the rest is what follows a valid header block,
//! with every record's checksum and a footer's totals (keys, bytes,
//! whole-file crc) set right first, so that random bytes reach the record
//! decoder and the keyspace behind it rather than stop at a checksum.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringcache::persistence::record::{BLOCK, HEADER_BYTES};
use ringcache::persistence::snapshot;

const TAG_ENTRY: u8 = 1;
const TAG_FOOTER: u8 = 0xFF;
/// tag, keys u64, bytes u64, cut_ms u64, crc u32.
const FOOTER_BYTES: usize = 29;

fn with_checksums(records: &[u8]) -> Vec<u8> {
    let mut file = snapshot::header(0, 1, 1);
    file.extend_from_slice(records);
    let (mut pos, mut keys, mut crc) = (BLOCK, 0u64, 0u32);
    while pos + HEADER_BYTES < file.len() {
        let len = u32::from_le_bytes(file[pos..pos + 4].try_into().unwrap()) as usize;
        let start = pos + HEADER_BYTES;
        let Some(end) = start
            .checked_add(len)
            .filter(|&e| len > 0 && e <= file.len())
        else {
            break;
        };
        if file[start] == TAG_FOOTER && len == FOOTER_BYTES {
            let bytes = (pos - BLOCK) as u64;
            file[start + 1..start + 9].copy_from_slice(&keys.to_le_bytes());
            file[start + 9..start + 17].copy_from_slice(&bytes.to_le_bytes());
            file[start + 25..start + 29].copy_from_slice(&crc.to_le_bytes());
        }
        keys += (file[start] == TAG_ENTRY) as u64;
        let record_crc = crc32c::crc32c(&file[start..end]);
        file[pos + 4..pos + 8].copy_from_slice(&record_crc.to_le_bytes());
        crc = crc32c::crc32c_append(crc, &file[pos..end]);
        pos = end;
    }
    file
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let _ = if mode & 1 == 0 {
        ringcache::fuzzing::load_snapshot(input)
    } else {
        ringcache::fuzzing::load_snapshot(&with_checksums(input))
    };
});
