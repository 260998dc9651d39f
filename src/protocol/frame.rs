//! Replies as values, encoded for the connection's protocol version at the last
//! moment: a shard builds a `Frame` without knowing whether the client speaks
//! RESP2 or RESP3.

use bytes::Bytes;
use std::borrow::Cow;

/// Protocol version negotiated with HELLO.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Simple(Cow<'static, str>),
    /// The whole error line without the leading '-', e.g. "ERR syntax error".
    Error(Cow<'static, str>),
    Integer(i64),
    Bulk(Bytes),
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    Null,
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    NullArray,
    Array(Vec<Frame>),
    /// A map in RESP3, a flat array of key/value pairs in RESP2.
    Map(Vec<(Frame, Frame)>),
    /// A set in RESP3, an array in RESP2.
    Set(Vec<Frame>),
    /// A double in RESP3, a bulk string in RESP2; written as Redis 7.0
    /// writes scores (`util::format_double`).
    Double(f64),
    /// A double in RESP3, a bulk string in RESP2, written as Redis's
    /// `addReplyHumanLongDouble` writes it: `%.17Lf` without trailing zeros
    /// (GEOPOS's coordinates: "13.36138933897018433").
    HumanDouble(f64),
    /// An ordered list of pairs (a member and its score, a field and its
    /// value): 2-element arrays in RESP3, one flat array in RESP2, as Redis
    /// 7.0 replies to ZRANGE ... WITHSCORES or HRANDFIELD ... WITHVALUES.
    Pairs(Vec<(Frame, Frame)>),
    /// Verbatim text (INFO, CLIENT LIST) in RESP3, a bulk string in RESP2.
    Verbatim(String),
    /// A boolean in RESP3 (`#t`), an integer 1 or 0 in RESP2 (a script's
    /// boolean after `redis.setresp(3)`).
    Bool(bool),
    /// Out-of-band data (pub/sub messages, SUBSCRIBE's confirmations): a
    /// push in RESP3, an array in RESP2.
    Push(Vec<Frame>),
    /// Several replies to one command, back to back (SUBSCRIBE a b answers
    /// once per channel); none at all when empty.
    Many(Vec<Frame>),
}

impl Frame {
    pub const OK: Frame = Frame::Simple(Cow::Borrowed("OK"));

    pub fn error(msg: impl Into<Cow<'static, str>>) -> Frame {
        Frame::Error(msg.into())
    }

    pub fn simple(msg: impl Into<Cow<'static, str>>) -> Frame {
        Frame::Simple(msg.into())
    }

    pub fn bulk(data: impl Into<Bytes>) -> Frame {
        Frame::Bulk(data.into())
    }

    /// A bulk string copied from stored bytes (a reply must not borrow the
    /// keyspace).
    pub fn bulk_copy(data: &[u8]) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(data))
    }

    pub fn bulk_str(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }

    /// Appends a request, an array of bulk strings, to `out` (for the
    /// commands this server sends to another: MIGRATE's).
    pub fn encode_request(parts: &[&[u8]], out: &mut Vec<u8>) {
        int_line(out, b'*', parts.len() as i64);
        parts.iter().for_each(|p| bulk(out, p));
    }

    /// Appends the wire encoding of this reply to `out`.
    pub fn encode(&self, proto: Proto, out: &mut Vec<u8>) {
        let resp3 = proto == Proto::Resp3;
        match self {
            Frame::Simple(s) => line(out, b'+', s.as_bytes()),
            Frame::Error(s) => line(out, b'-', s.as_bytes()),
            Frame::Integer(n) => int_line(out, b':', *n),
            Frame::Bulk(b) => bulk(out, b),
            Frame::Null if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::Null => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Array(items) => {
                int_line(out, b'*', items.len() as i64);
                items.iter().for_each(|f| f.encode(proto, out));
            }
            Frame::Push(items) => {
                int_line(out, if resp3 { b'>' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|f| f.encode(proto, out));
            }
            Frame::Many(replies) => replies.iter().for_each(|f| f.encode(proto, out)),
            Frame::Set(items) => {
                int_line(out, if resp3 { b'~' } else { b'*' }, items.len() as i64);
                items.iter().for_each(|f| f.encode(proto, out));
            }
            Frame::Map(pairs) | Frame::Pairs(pairs) => {
                // RESP3 has a map type; its pairs are 2-element arrays.
                let map = matches!(self, Frame::Map(_));
                match (resp3, map) {
                    (true, true) => int_line(out, b'%', pairs.len() as i64),
                    (true, false) => int_line(out, b'*', pairs.len() as i64),
                    (false, _) => int_line(out, b'*', 2 * pairs.len() as i64),
                }
                for (a, b) in pairs {
                    if resp3 && !map {
                        out.extend_from_slice(b"*2\r\n");
                    }
                    a.encode(proto, out);
                    b.encode(proto, out);
                }
            }
            Frame::Double(d) => {
                let text = crate::util::format_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Frame::HumanDouble(d) => {
                let text = format_human_double(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Frame::Bool(b) if resp3 => {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" })
            }
            Frame::Bool(b) => int_line(out, b':', *b as i64),
            Frame::Verbatim(text) => {
                if resp3 {
                    int_line(out, b'=', text.len() as i64 + 4);
                    out.extend_from_slice(b"txt:");
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text.as_bytes());
                }
            }
        }
    }
}

/// Formats a double in its shortest round-trip form, `inf`/`-inf` for
/// infinities: the human-friendly text INCRBYFLOAT and HINCRBYFLOAT reply
/// with (scores use `util::format_double`, Redis's `%.17g`).
pub fn format_double(d: f64) -> String {
    if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.to_string()
    } else if d.is_nan() {
        "nan".to_string()
    } else {
        format!("{d}")
    }
}

/// Redis's `ld2string(..., LD_STR_HUMAN)`: 17 decimals, then trailing
/// zeros (and a trailing '.') dropped; "-0" is "0".
pub fn format_human_double(d: f64) -> String {
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if d.is_nan() {
        return "nan".to_string();
    }
    let text = format!("{d:.17}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
    out.push(prefix);
    // A status or error line cannot carry CR/LF: Redis replaces them with spaces.
    out.extend(
        body.iter()
            .map(|&c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
    );
    out.extend_from_slice(b"\r\n");
}

fn int_line(out: &mut Vec<u8>, prefix: u8, n: i64) {
    out.push(prefix);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    int_line(out, b'$', data.len() as i64);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: Frame, p: Proto) -> String {
        let mut out = Vec::new();
        f.encode(p, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn resp2_and_resp3_differ_where_redis_does() {
        let map = Frame::Map(vec![(Frame::bulk_str("a"), Frame::Integer(1))]);
        assert_eq!(enc(map.clone(), Proto::Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(map, Proto::Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Frame::Null, Proto::Resp2), "$-1\r\n");
        assert_eq!(enc(Frame::Null, Proto::Resp3), "_\r\n");
        assert_eq!(enc(Frame::Double(1.5), Proto::Resp2), "$3\r\n1.5\r\n");
        assert_eq!(
            enc(Frame::HumanDouble(13.361389338970184), Proto::Resp3),
            ",13.36138933897018433\r\n"
        );
        assert_eq!(enc(Frame::HumanDouble(-0.0), Proto::Resp2), "$1\r\n0\r\n");
        assert_eq!(
            enc(Frame::HumanDouble(180.0), Proto::Resp2),
            "$3\r\n180\r\n"
        );
        assert_eq!(enc(Frame::Double(1.5), Proto::Resp3), ",1.5\r\n");
        assert_eq!(
            enc(Frame::Double(0.1), Proto::Resp3),
            ",0.10000000000000001\r\n"
        );
        let pairs = Frame::Pairs(vec![(Frame::bulk_str("m"), Frame::Double(2.0))]);
        assert_eq!(
            enc(pairs.clone(), Proto::Resp2),
            "*2\r\n$1\r\nm\r\n$1\r\n2\r\n"
        );
        assert_eq!(enc(pairs, Proto::Resp3), "*1\r\n*2\r\n$1\r\nm\r\n,2\r\n");
        assert_eq!(
            enc(Frame::error("ERR a\r\nb"), Proto::Resp2),
            "-ERR a  b\r\n"
        );
    }
}
