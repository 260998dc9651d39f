//! Request parsing: RESP multibulk (`*N\r\n$len\r\narg\r\n…`) and inline commands
//! (`SET a b\r\n`, what telnet sends). Arguments are zero-copy slices of the
//! connection's read buffer. The parser is resumable: a request that arrives in
//! many reads is not re-parsed from its start each time, so a slow client
//! sending a huge request costs linear, not quadratic, work.

use bytes::{Bytes, BytesMut};
use std::borrow::Cow;
use std::ops::Range;

/// Longest inline request or header line Redis accepts (PROTO_INLINE_MAX_SIZE).
pub const MAX_INLINE_BYTES: usize = 64 * 1024;

/// A protocol violation: Redis replies `-ERR Protocol error: …` and closes.
#[derive(Debug, PartialEq, Eq)]
pub struct ParseError(pub Cow<'static, str>);

impl ParseError {
    fn new(msg: impl Into<Cow<'static, str>>) -> ParseError {
        ParseError(msg.into())
    }

    pub fn reply(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }
}

/// One client command: its arguments, the command name first.
#[derive(Debug)]
pub struct Request {
    pub args: Vec<Bytes>,
}

/// What a client that has not authenticated (while a password is set) may
/// send, as Redis 7.0: a few short arguments, enough for AUTH and HELLO.
pub const UNAUTHENTICATED_MAX_ARGS: usize = 10;
pub const UNAUTHENTICATED_MAX_BULK_BYTES: usize = 16 * 1024;

pub struct Parser {
    max_bulk_bytes: usize,
    max_args: usize,
    /// Holds requests to the unauthenticated limits.
    pub unauthenticated: bool,
    /// A multibulk request whose header has been read but not all its arguments.
    partial: Option<Partial>,
    /// Argument ranges of the requests parsed in this call, then the
    /// partial request's: one vector kept across calls, instead of one
    /// allocated per request.
    ranges: Vec<Range<usize>>,
    /// The requests of one call, as ranges or (inline) arguments: kept
    /// across calls for its buffer (at most a batch's worth).
    pending: Vec<Result<Range<usize>, Vec<Bytes>>>,
}

/// Argument ranges kept allocated between calls (16 bytes each), and
/// requests (32 bytes each): a connection's idle cost stays small.
const KEEP_RANGES: usize = 256;
const KEEP_PENDING: usize = 64;

struct Partial {
    /// Offset of the request's first byte in the buffer.
    start: usize,
    /// Where parsing resumes.
    pos: usize,
    remaining: usize,
    /// Index of its first argument's range in `Parser::ranges`.
    first: usize,
}

enum Step {
    /// A complete request ending at this offset; where its argument ranges
    /// are in `Parser::ranges`.
    Done(usize, Range<usize>),
    /// An inline request, already unescaped.
    Inline(usize, Vec<Bytes>),
    /// An empty request (`*0`, a blank line): consume and go on.
    Skip(usize),
    Incomplete,
}

impl Parser {
    pub fn new(max_bulk_bytes: usize, max_args: usize) -> Parser {
        Parser {
            max_bulk_bytes,
            max_args,
            unauthenticated: false,
            partial: None,
            ranges: Vec::new(),
            pending: Vec::new(),
        }
    }

    /// Parses up to `max` complete requests from the front of `buf`, removing
    /// their bytes from it. An incomplete request stays in `buf`. On a
    /// protocol error, the requests before it are still handed back in `out`
    /// (they run, as in Redis), then the error is returned.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        out: &mut Vec<Request>,
        max: usize,
    ) -> Result<(), ParseError> {
        let mut pos = 0;
        // Requests parsed in this call: arguments as ranges until the buffer is split.
        let mut pending = std::mem::take(&mut self.pending);
        let mut error = None;
        while pending.len() < max {
            let step = match self.step(buf, pos) {
                Ok(step) => step,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            };
            match step {
                Step::Done(end, args) => {
                    pending.push(Ok(args));
                    pos = end;
                }
                Step::Inline(end, args) => {
                    pending.push(Err(args));
                    pos = end;
                }
                Step::Skip(end) => pos = end,
                Step::Incomplete => break,
            }
        }
        if pos == 0 {
            self.pending = pending;
            return error.map_or(Ok(()), Err);
        }
        let chunk = buf.split_to(pos).freeze();
        let ranges = &self.ranges;
        out.extend(pending.drain(..).map(|req| Request {
            args: match req {
                Ok(at) => ranges[at].iter().map(|r| chunk.slice(r.clone())).collect(),
                Err(args) => args,
            },
        }));
        match &mut self.partial {
            Some(p) => {
                p.start -= pos;
                p.pos -= pos;
                self.ranges.drain(..p.first);
                p.first = 0;
                self.ranges
                    .iter_mut()
                    .for_each(|r| *r = r.start - pos..r.end - pos);
            }
            None => self.ranges.clear(),
        }
        if self.ranges.capacity() > KEEP_RANGES && self.ranges.len() <= KEEP_RANGES {
            self.ranges.shrink_to(KEEP_RANGES);
        }
        if pending.capacity() <= KEEP_PENDING {
            self.pending = pending;
        }
        error.map_or(Ok(()), Err)
    }

    fn step(&mut self, buf: &[u8], pos: usize) -> Result<Step, ParseError> {
        if self.partial.is_none() {
            if pos >= buf.len() {
                return Ok(Step::Incomplete);
            }
            if buf[pos] != b'*' {
                return inline(buf, pos);
            }
            let Some((count, next)) = header_line(buf, pos + 1, "too big mbulk count string")?
            else {
                return Ok(Step::Incomplete);
            };
            let count = parse_len(count).ok_or(ParseError::new("invalid multibulk length"))?;
            if count <= 0 {
                return Ok(Step::Skip(next));
            }
            if count as usize > self.max_args {
                return Err(ParseError::new("invalid multibulk length"));
            }
            if self.unauthenticated && count as usize > UNAUTHENTICATED_MAX_ARGS {
                return Err(ParseError::new("unauthenticated multibulk length"));
            }
            self.partial = Some(Partial {
                start: pos,
                pos: next,
                remaining: count as usize,
                first: self.ranges.len(),
            });
            // Bounded preallocation: a client announcing a million arguments
            // must send them before it costs that much memory.
            self.ranges.reserve((count as usize).min(1024));
        }
        let p = self.partial.as_mut().expect("partial request");
        while p.remaining > 0 {
            if p.pos >= buf.len() {
                return Ok(Step::Incomplete);
            }
            if buf[p.pos] != b'$' {
                return Err(ParseError::new(format!(
                    "expected '$', got '{}'",
                    buf[p.pos] as char
                )));
            }
            let Some((len, data)) = header_line(buf, p.pos + 1, "too big bulk count string")?
            else {
                return Ok(Step::Incomplete);
            };
            let len = parse_len(len)
                .filter(|&n| n >= 0 && n as usize <= self.max_bulk_bytes)
                .ok_or(ParseError::new("invalid bulk length"))? as usize;
            if self.unauthenticated && len > UNAUTHENTICATED_MAX_BULK_BYTES {
                return Err(ParseError::new("unauthenticated bulk length"));
            }
            if buf.len() < data + len + 2 {
                return Ok(Step::Incomplete);
            }
            self.ranges.push(data..data + len);
            p.pos = data + len + 2;
            p.remaining -= 1;
        }
        let p = self.partial.take().expect("partial request");
        Ok(Step::Done(p.pos, p.first..self.ranges.len()))
    }
}

/// Finds the `\r\n`-terminated line starting at `from`; returns it and the
/// offset after it.
fn header_line<'a>(
    buf: &'a [u8],
    from: usize,
    too_big: &'static str,
) -> Result<Option<(&'a [u8], usize)>, ParseError> {
    let rest = &buf[from.min(buf.len())..];
    match memchr::memchr(b'\r', rest) {
        Some(i) if i + 1 < rest.len() => Ok(Some((&rest[..i], from + i + 2))),
        Some(_) => Ok(None),
        None if rest.len() > MAX_INLINE_BYTES => Err(ParseError::new(too_big)),
        None => Ok(None),
    }
}

fn parse_len(digits: &[u8]) -> Option<i64> {
    crate::util::parse_i64(digits)
}

/// An inline request: one line, arguments split like redis-cli's `sdssplitargs`
/// (double quotes with escapes, single quotes).
fn inline(buf: &[u8], pos: usize) -> Result<Step, ParseError> {
    let rest = &buf[pos..];
    let Some(nl) = memchr::memchr(b'\n', rest) else {
        if rest.len() > MAX_INLINE_BYTES {
            return Err(ParseError::new("too big inline request"));
        }
        return Ok(Step::Incomplete);
    };
    if nl > MAX_INLINE_BYTES {
        return Err(ParseError::new("too big inline request"));
    }
    let line = rest[..nl].strip_suffix(b"\r").unwrap_or(&rest[..nl]);
    let args = split_args(line).ok_or(ParseError::new("unbalanced quotes in request"))?;
    let end = pos + nl + 1;
    if args.is_empty() {
        Ok(Step::Skip(end))
    } else {
        Ok(Step::Inline(end, args))
    }
}

/// Splits a line into arguments with Redis's quoting rules; `None` on
/// unbalanced quotes. A NUL byte ends the line, as it ends the C string
/// Redis splits (and a NUL that only ended an argument, without being
/// skipped, made this loop forever: found by fuzzing).
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let line = &line[..memchr::memchr(0, line).unwrap_or(line.len())];
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut cur = Vec::new();
        let (mut in_dq, mut in_sq) = (false, false);
        loop {
            let Some(&c) = line.get(i) else {
                if in_dq || in_sq {
                    return None;
                }
                break;
            };
            if in_dq {
                if c == b'\\' && i + 3 < line.len() && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < line.len() {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                    i += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' => break,
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => cur.push(c),
                }
            }
            i += 1;
        }
        args.push(Bytes::from(cur));
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Vec<String>>, ParseError> {
        let mut p = Parser::new(512 << 20, 1 << 20);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        p.parse(&mut buf, &mut out, usize::MAX)?;
        Ok(out
            .into_iter()
            .map(|r| {
                r.args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect())
    }

    #[test]
    fn multibulk_and_inline() {
        let got =
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\nPING\r\nset k \"a b\\x41\"\r\n").unwrap();
        assert_eq!(
            got,
            vec![vec!["GET", "a"], vec!["PING"], vec!["set", "k", "a bA"]]
        );
    }

    #[test]
    fn resumes_byte_by_byte() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n*1\r\n$4\r\nPING\r\n";
        let mut p = Parser::new(512 << 20, 1 << 20);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            p.parse(&mut buf, &mut out, usize::MAX).unwrap();
        }
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0].args[2][..], b"hello");
        assert_eq!(&out[1].args[0][..], b"PING");
        assert!(buf.is_empty());
    }

    #[test]
    fn a_partial_request_after_complete_ones_resumes_in_any_split() {
        // Complete requests and the start of another in one read, in every
        // split of the input: the kept ranges of the partial request shift
        // with the buffer.
        let input = b"*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$2\r\nk1\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$2\r\nk1\r\n";
        for cut in 1..input.len() {
            for max in [1, 2, usize::MAX] {
                let mut p = Parser::new(512 << 20, 1 << 20);
                let mut buf = BytesMut::from(&input[..cut]);
                let mut out = Vec::new();
                p.parse(&mut buf, &mut out, max).unwrap();
                buf.extend_from_slice(&input[cut..]);
                while out.len() < 3 {
                    p.parse(&mut buf, &mut out, max).unwrap();
                }
                let args: Vec<Vec<&[u8]>> = out
                    .iter()
                    .map(|r| r.args.iter().map(|a| &a[..]).collect())
                    .collect();
                let want: Vec<Vec<&[u8]>> = vec![
                    vec![b"PING"],
                    vec![b"SET", b"k1", b"hello"],
                    vec![b"GET", b"k1"],
                ];
                assert_eq!(args, want, "cut at {cut}, max {max}");
                assert!(buf.is_empty());
            }
        }
    }

    #[test]
    fn requests_before_an_error_are_kept() {
        let mut p = Parser::new(512 << 20, 1 << 20);
        let mut buf = BytesMut::from(&b"PING\r\n*1\r\n$4\r\nPING\r\n*1\r\n+foo\r\n"[..]);
        let mut out = Vec::new();
        assert!(p.parse(&mut buf, &mut out, usize::MAX).is_err());
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn a_nul_byte_ends_an_inline_line() {
        assert_eq!(
            parse_all(b"cet\0\x13\nECHO a\0b\r\n\0\r\n\"x\0\"\r\n")
                .unwrap_err()
                .0,
            "unbalanced quotes in request"
        );
        assert_eq!(
            parse_all(b"ECHO a\0b\r\n\0\r\nPING\r\n").unwrap(),
            vec![vec!["ECHO", "a"], vec!["PING"]]
        );
    }

    #[test]
    fn protocol_errors() {
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n").unwrap_err().0,
            "expected '$', got '+'"
        );
        assert_eq!(
            parse_all(b"*x\r\n").unwrap_err().0,
            "invalid multibulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$-5\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        assert_eq!(
            parse_all(b"*1\r\n$600000000\r\n").unwrap_err().0,
            "invalid bulk length"
        );
        assert_eq!(
            parse_all(b"set \"a\r\n").unwrap_err().0,
            "unbalanced quotes in request"
        );
        let long = vec![b'a'; MAX_INLINE_BYTES + 10];
        assert_eq!(parse_all(&long).unwrap_err().0, "too big inline request");
        assert!(parse_all(b"*0\r\n\r\n").unwrap().is_empty());
    }
}
