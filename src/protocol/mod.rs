//! RESP wire format: parsing client requests (multibulk and inline) and encoding
//! replies for RESP2 or RESP3.

mod frame;
mod parse;

pub use frame::{format_double, format_human_double, Frame, Proto};
pub use parse::{split_args, ParseError, Parser, Request};
