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

#[cfg(test)]
mod tests {
    use super::decompress;

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
