//! LZF decompression, for the compressed strings of an RDB payload
//! (`RDB_ENC_LZF`: Redis compresses every string over 20 bytes that
//! shrinks, listpack blobs included, when `rdbcompression` is on, its
//! default). The format (liblzf's `lzf_d.c`, read, not copied) is a
//! sequence of runs, each led by a control byte:
//! - `000LLLLL`: a literal run of `L + 1` bytes that follow;
//! - `LLLooooo oooooooo`: a back reference of `L + 2` bytes (`L` = 7 means
//!   one more length byte follows and is added) starting `o + 1` bytes
//!   before the output's end; it may overlap what it writes.
//!
//! Every read and every reference is checked against the input and the
//! output written so far; the output must come to exactly the length the
//! payload declared, or it is corrupt. The caller bounds that length before
//! anything is allocated.
//!
//! `compress` writes the same format, greedily: a table indexed by a hash
//! of the next three bytes remembers where they were last seen; a match
//! within the 8 KiB window becomes a back reference, extended as far as it
//! goes (264 bytes at most), everything else literal runs of up to 32
//! bytes. Valid LZF that Redis reads, not byte for byte what liblzf writes.

/// How much LZF can expand at most: a back reference of 264 bytes costs 3
/// input bytes. A declared length beyond this for its input is a lie.
pub const MAX_EXPANSION: usize = 88;

/// Decompresses `input` into exactly `out_len` bytes; `None` if the input
/// is corrupt or does not come to that length.
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::with_capacity(out_len);
    let mut ip = 0;
    while ip < input.len() {
        let ctrl = input[ip] as usize;
        ip += 1;
        if ctrl < 32 {
            let len = ctrl + 1;
            let run = input.get(ip..ip + len)?;
            if out.len() + len > out_len {
                return None;
            }
            out.extend_from_slice(run);
            ip += len;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip)? as usize;
                ip += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(ip)? as usize + 1;
            ip += 1;
            if back > out.len() || out.len() + len > out_len {
                return None;
            }
            let start = out.len() - back;
            // Byte by byte: the reference may overlap what it writes.
            for i in 0..len {
                let b = out[start + i];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Farthest back a reference reaches (13 bits of distance).
const WINDOW_BYTES: usize = 1 << 13;
/// Longest reference: 7 + 255 in its length fields, plus 2.
const MAX_MATCH_BYTES: usize = 264;
/// Longest literal run (5 bits of length, plus 1).
const MAX_LITERAL_BYTES: usize = 32;
/// Most entries of the match table, as a power of two; a short input gets
/// a table about its own size (most strings compressed are short).
const TABLE_MAX_BITS: u32 = 14;
const TABLE_MIN_BITS: u32 = 4;

/// Compresses `input` into at most `max_out` bytes; `None` if it does not
/// fit (then the data is worth storing as it is).
pub fn compress(input: &[u8], max_out: usize) -> Option<Vec<u8>> {
    let n = input.len();
    let mut out = Vec::with_capacity(max_out.min(n));
    // Where each hashed triple was last seen, plus one (0: never).
    let bits = (usize::BITS - n.leading_zeros()).clamp(TABLE_MIN_BITS, TABLE_MAX_BITS);
    let mut table = vec![0u32; 1 << bits];
    let hash = |at: usize| -> usize {
        let v = u32::from_le_bytes([input[at], input[at + 1], input[at + 2], 0]);
        // Fibonacci hashing: the top `bits` bits of the product.
        (v.wrapping_mul(0x9e37_79b1) >> (32 - bits)) as usize
    };
    let (mut i, mut literal_from) = (0, 0);
    while i + 2 < n {
        let h = hash(i);
        let seen = table[h] as usize;
        table[h] = (i + 1) as u32;
        if seen != 0
            && i - (seen - 1) <= WINDOW_BYTES
            && input[seen - 1..seen + 2] == input[i..i + 3]
        {
            let from = seen - 1;
            let longest = MAX_MATCH_BYTES.min(n - i);
            let mut len = 3;
            while len < longest && input[from + len] == input[i + len] {
                len += 1;
            }
            push_literals(&mut out, &input[literal_from..i]);
            let (distance, l) = (i - from - 1, len - 2);
            if l < 7 {
                out.push(((l << 5) | (distance >> 8)) as u8);
            } else {
                out.push(((7 << 5) | (distance >> 8)) as u8);
                out.push((l - 7) as u8);
            }
            out.push(distance as u8);
            i += len;
            literal_from = i;
            if out.len() > max_out {
                return None;
            }
            continue;
        }
        i += 1;
    }
    push_literals(&mut out, &input[literal_from..]);
    (out.len() <= max_out).then_some(out)
}

fn push_literals(out: &mut Vec<u8>, mut lit: &[u8]) {
    while !lit.is_empty() {
        let run = lit.len().min(MAX_LITERAL_BYTES);
        out.push((run - 1) as u8);
        out.extend_from_slice(&lit[..run]);
        lit = &lit[run..];
    }
}

#[cfg(test)]
mod tests {
    use super::{compress, decompress};

    #[test]
    fn compressed_data_decompresses_to_itself() {
        let mut rng = 0x1234_5678_9abc_def1_u64;
        let mut inputs: Vec<Vec<u8>> = vec![
            b"abcd".repeat(5000),
            vec![0; 100_000],
            b"hello hello hello world, hello world!".to_vec(),
            (0..=255u8).collect(),
        ];
        for len in [25, 300, 9000, 70_000] {
            let v: Vec<u8> = (0..len)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    b"abcdefgh"[(rng % 8) as usize]
                })
                .collect();
            inputs.push(v);
        }
        for input in inputs {
            if let Some(c) = compress(&input, input.len()) {
                assert_eq!(decompress(&c, input.len()).unwrap(), input);
            }
            // Never more than asked for.
            if let Some(c) = compress(&input, input.len() / 10) {
                assert!(c.len() <= input.len() / 10);
                assert_eq!(decompress(&c, input.len()).unwrap(), input);
            }
        }
        assert!(compress(&b"abcd".repeat(5000), 1000).is_some());
        assert!(compress(b"0123456789abcdefghijklmnopqrstuvwxyz", 32).is_none());
    }

    #[test]
    fn literal_and_overlapping_reference() {
        // "abc" literal, then a reference 3 back of length 6: "abcabcabc".
        let input = [2, b'a', b'b', b'c', 4 << 5, 2];
        assert_eq!(decompress(&input, 9).unwrap(), b"abcabcabc");
        // Wrong declared length, reference before the start, truncation.
        assert!(decompress(&input, 8).is_none());
        assert!(decompress(&input, 10).is_none());
        assert!(decompress(&[2, b'a', b'b', b'c', 4 << 5, 9], 9).is_none());
        assert!(decompress(&[5, b'a'], 6).is_none());
        assert!(decompress(&[7 << 5], 9).is_none());
    }
}
