//! Replication commands a node without replicas answers: WAIT counts the
//! replicas that acknowledged the client's writes, none here, so it replies
//! 0 at once when asked for none (or inside MULTI), else after its timeout,
//! blocked as Redis blocks it (CLIENT UNBLOCK, hang-ups). The replication
//! issue grows this module.

use super::blocking::{wait_blocked, Wait};
use super::{int_arg, Session};
use crate::node::Node;
use crate::protocol::Frame;
use bytes::Bytes;
use std::time::{Duration, Instant};

/// WAIT numreplicas timeout (milliseconds, 0: for ever)
pub(super) async fn wait(node: &Node, session: &Session, args: &[Bytes]) -> Frame {
    let wanted = match int_arg(&args[1]) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let timeout = match crate::util::parse_i64(&args[2]) {
        Some(ms) if ms < 0 => return Frame::error("ERR timeout is negative"),
        Some(ms) => ms as u64,
        None => return Frame::error("ERR timeout is not an integer or out of range"),
    };
    let acknowledged = 0;
    if wanted <= acknowledged || session.in_exec {
        return Frame::Integer(acknowledged);
    }
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout));
    match wait_blocked(node, session, &mut [], &mut [], deadline).await {
        Wait::Unblocked(true) => Frame::error("UNBLOCKED client unblocked via CLIENT UNBLOCK"),
        _ => Frame::Integer(acknowledged),
    }
}
