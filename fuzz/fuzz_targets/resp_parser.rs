//! Fuzzes the RESP request parser: any bytes, fed whole or in pieces, must
//! give the same requests and the same error, never a panic and never an
//! empty request.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ringcache::protocol::{Parser, Request};

const MAX_BULK: usize = 1024;
const MAX_ARGS: usize = 64;

/// Parses `input` in pieces of `piece` bytes (0 = whole); the requests, in
/// order, and the protocol error that ended parsing, if any.
fn parse(input: &[u8], piece: usize, unauthenticated: bool) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
    let mut parser = Parser::new(MAX_BULK, MAX_ARGS);
    parser.unauthenticated = unauthenticated;
    let mut buf = BytesMut::new();
    let mut out: Vec<Request> = Vec::new();
    let mut error = None;
    let step = if piece == 0 {
        input.len().max(1)
    } else {
        piece
    };
    for chunk in input.chunks(step) {
        buf.extend_from_slice(chunk);
        if let Err(e) = parser.parse(&mut buf, &mut out, usize::MAX) {
            error = Some(e.reply());
            break;
        }
    }
    let requests = out
        .into_iter()
        .map(|r| r.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>())
        .collect::<Vec<_>>();
    (requests, error)
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let unauthenticated = control & 0x80 != 0;
    let piece = (control & 0x7f) as usize % 17;
    let whole = parse(input, 0, unauthenticated);
    for req in &whole.0 {
        assert!(!req.is_empty(), "an empty request was handed out");
    }
    if piece > 0 {
        assert_eq!(
            whole,
            parse(input, piece, unauthenticated),
            "pieces of {piece}"
        );
    }
});
