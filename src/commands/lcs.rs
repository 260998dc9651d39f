//! LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]: the longest
//! common subsequence of two strings (Redis 7.0). The keys may live on two
//! shards: both strings are read, then the table is computed on the
//! connection's core, as Redis computes it on its one thread. The table has
//! (len1 + 1) × (len2 + 1) cells of 4 bytes, refused past
//! `proto-max-bulk-len` bytes as in Redis.

use super::bitmaps::fetch_strings;
use super::{int_arg, syntax_error};
use crate::node::Node;
use crate::protocol::Frame;
use bytes::Bytes;

pub(super) async fn lcs(node: &Node, db: usize, args: &[Bytes]) -> Frame {
    // Redis reads the keys before it looks at the options.
    let mut fetched = fetch_strings(node, db, &args[1..3]).await.into_iter();
    let (a, b) = match (fetched.next(), fetched.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a.unwrap_or_default(), b.unwrap_or_default()),
        (Some(Err(e)), _) | (_, Some(Err(e))) if !is_wrong_type(&e) => return e,
        _ => return Frame::error("ERR The specified keys must contain string values"),
    };
    let (mut idx, mut len, mut with_len, mut min_len) = (false, false, false, 0usize);
    let mut i = 3;
    while i < args.len() {
        let opt = &args[i];
        if opt.eq_ignore_ascii_case(b"idx") {
            idx = true;
        } else if opt.eq_ignore_ascii_case(b"len") {
            len = true;
        } else if opt.eq_ignore_ascii_case(b"withmatchlen") {
            with_len = true;
        } else if opt.eq_ignore_ascii_case(b"minmatchlen") && i + 1 < args.len() {
            min_len = match int_arg(&args[i + 1]) {
                Ok(n) => n.max(0) as usize,
                Err(e) => return e,
            };
            i += 1;
        } else {
            return syntax_error();
        }
        i += 1;
    }
    if idx && len {
        return Frame::error("ERR If you want both the length and indexes, please just use IDX.");
    }
    let cells = (a.len() as u128 + 1) * (b.len() as u128 + 1);
    if cells * 4 > node.config.borrow().proto_max_bulk_len as u128 {
        return Frame::error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    let table = Table::new(&a, &b);
    if len {
        return Frame::Integer(table.at(a.len(), b.len()) as i64);
    }
    let (common, matches) = table.walk_back(&a, &b, idx, min_len, with_len);
    if idx {
        Frame::Map(vec![
            (Frame::bulk_str("matches"), Frame::Array(matches)),
            (Frame::bulk_str("len"), Frame::Integer(common.len() as i64)),
        ])
    } else {
        Frame::Bulk(Bytes::from(common))
    }
}

fn is_wrong_type(reply: &Frame) -> bool {
    matches!(reply, Frame::Error(m) if m.starts_with("WRONGTYPE"))
}

/// `at(i, j)`: the length of the LCS of `a[..i]` and `b[..j]`.
struct Table {
    cells: Vec<u32>,
    width: usize,
}

impl Table {
    fn new(a: &[u8], b: &[u8]) -> Table {
        let width = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * width];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Table { cells, width }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Walks from the end of both strings back to a start, as Redis does:
    /// the common subsequence, and (with `idx`) the matching ranges, last
    /// first, those shorter than `min_len` left out.
    fn walk_back(
        &self,
        a: &[u8],
        b: &[u8],
        idx: bool,
        min_len: usize,
        with_len: bool,
    ) -> (Vec<u8>, Vec<Frame>) {
        let mut common = vec![0u8; self.at(a.len(), b.len()) as usize];
        let mut fill = common.len();
        let mut matches = Vec::new();
        // The range being grown: (start in a, end in a, start in b, end in b).
        let mut range: Option<(usize, usize, usize, usize)> = None;
        let (mut i, mut j) = (a.len(), b.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                fill -= 1;
                common[fill] = a[i - 1];
                range = match range {
                    // Contiguous with the range: it grows backwards.
                    Some((sa, ea, sb, eb)) if sa == i && sb == j => Some((sa - 1, ea, sb - 1, eb)),
                    Some(r) => {
                        emit = true;
                        Some(r)
                    }
                    None => Some((i - 1, i - 1, j - 1, j - 1)),
                };
                // A match at the first byte of either string ends the walk.
                if range.is_some_and(|(sa, _, sb, _)| sa == 0 || sb == 0) {
                    emit = true;
                }
                i -= 1;
                j -= 1;
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = range.is_some();
            }
            if emit {
                if let Some((sa, ea, sb, eb)) = range.take() {
                    let length = ea - sa + 1;
                    if idx && (min_len == 0 || length >= min_len) {
                        let pair = |s: usize, e: usize| {
                            Frame::Array(vec![Frame::Integer(s as i64), Frame::Integer(e as i64)])
                        };
                        let mut m = vec![pair(sa, ea), pair(sb, eb)];
                        if with_len {
                            m.push(Frame::Integer(length as i64));
                        }
                        matches.push(Frame::Array(m));
                    }
                }
            }
        }
        (common, matches)
    }
}
