//! MONITOR, as clients see it: the command, which commands a monitor is
//! shown (all but `admin` ones, as Redis: CONFIG, DEBUG, ... stay hidden;
//! passwords redacted), and what a monitoring client may still run. The
//! lines travel through `node::monitor`.

use super::{Command, Session, Spec};
use crate::node::monitor;
use crate::node::Node;
use crate::protocol::Frame;
use bytes::Bytes;

/// MONITOR: from now on the connection sees every command run.
pub(super) fn monitor(node: &Node, session: &mut Session) -> Frame {
    if session.in_exec {
        // Redis: a client that expects one reply per command cannot.
        return Frame::error("ERR MONITOR isn't allowed for DENY BLOCKING client");
    }
    monitor::start(node, &session.pubsub);
    session.info.borrow_mut().monitor = true;
    Frame::OK
}

/// RESET or a closing connection: no more lines.
pub(super) fn stop(node: &Node, session: &Session) {
    monitor::stop(node, session.pubsub.id);
    session.info.borrow_mut().monitor = false;
}

/// A monitoring client is, to Redis, a replica: it may not read or write
/// keys any more.
pub(super) fn allowed(session: &Session, cmd: &Command, args: &[Bytes]) -> Result<(), Frame> {
    if !session.info.borrow().monitor {
        return Ok(());
    }
    let keyspace = ["readonly", "write", "may_replicate"];
    if spec_of(cmd, args)
        .flags
        .iter()
        .any(|f| keyspace.contains(&f.as_str()))
    {
        return Err(Frame::error("ERR Replica can't interact with the keyspace"));
    }
    Ok(())
}

/// The flags that apply: a container's are its subcommands' (CONFIG GET is
/// `admin`, OBJECT ENCODING `readonly`).
fn spec_of<'a>(cmd: &'a Command, args: &[Bytes]) -> &'a Spec {
    args.get(1)
        .and_then(|sub| cmd.subcommand(sub))
        .unwrap_or(&cmd.spec)
}

/// What MONITOR will show of this command, if anyone monitors and it is
/// shown at all: its arguments, described (`node::monitor::describe`).
pub(super) fn line(cmd: &Command, args: &[Bytes]) -> Option<String> {
    if !monitor::any() {
        return None;
    }
    if spec_of(cmd, args).flags.iter().any(|f| f == "admin") {
        return None;
    }
    Some(monitor::describe(&super::observe::redacted(cmd, args)))
}

/// Sends the line `line` made, from this client (a script's commands come
/// from `lua`), in its current database.
pub(super) fn send(node: &Node, session: &Session, described: Option<String>) {
    let Some(described) = described else {
        return;
    };
    let source = if session.in_script {
        "lua".to_string()
    } else {
        session.info.borrow().addr.clone()
    };
    monitor::feed(node, session.db, &source, &described);
}
