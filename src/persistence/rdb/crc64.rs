//! CRC-64/Jones, the checksum Redis puts in an RDB file's and a DUMP
//! payload's footer (its `crc64.c`): the reflected form of polynomial
//! 0xad93d23594c935a9, initial value 0, no final xor. A table of 256 words
//! built at compile time, one lookup per byte: a DUMP payload is checked
//! once per RESTORE, and this is not on a hot path.

/// The polynomial, bit-reversed (the CRC is computed least significant bit
/// first).
const POLY_REFLECTED: u64 = 0x95ac_9329_ac4b_c9b5;

const TABLE: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY_REFLECTED
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// Continues checksum `crc` over `data` (start with 0).
pub fn crc64(mut crc: u64, data: &[u8]) -> u64 {
    for &b in data {
        crc = TABLE[((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn matches_redis_check_value() {
        // Redis's crc64.c self-test: "123456789" gives e9c6d914c4b8d9ca.
        assert_eq!(super::crc64(0, b"123456789"), 0xe9c6_d914_c4b8_d9ca);
        let (a, b) = b"123456789".split_at(4);
        assert_eq!(super::crc64(super::crc64(0, a), b), 0xe9c6_d914_c4b8_d9ca);
    }
}
