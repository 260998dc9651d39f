//! The front dispatcher: a command whose route is `Route::Front` runs on the
//! connection's own core, with the connection's state, through the handler
//! the table names for it. Those handlers live with their family:
//! `connection` (PING, SELECT, HELLO, CLIENT, ...), `server` (COMMAND, INFO,
//! CONFIG, TIME), `cross_keys` (key commands that coordinate several shards),
//! `cross` (collection commands across shards), `blocking`, `persistence`
//! (SAVE, SHUTDOWN, ...), `memory`, `observe` and `acl`.

use super::{subcommand, Command, Session, Transaction};
use crate::node::Node;
use crate::protocol::Frame;
use bytes::Bytes;

pub async fn execute(node: &Node, session: &mut Session, cmd: &Command, args: &[Bytes]) -> Frame {
    match cmd.name {
        "ping" => super::connection::ping(session, args),
        "echo" => Frame::Bulk(args[1].clone()),
        "quit" => {
            session.closing = true;
            Frame::OK
        }
        "select" => super::connection::select(node, session, args),
        "hello" => super::connection::hello(node, session, args),
        "auth" => super::acl::auth(node, session, args),
        "acl" => match subcommand(cmd, args) {
            Ok(sub) => super::acl::acl(node, session, &sub, args),
            Err(e) => e,
        },
        "client" => super::connection::client(node, session, cmd, args).await,
        "command" => super::server::command(cmd, args),
        "info" => super::server::info(node, args).await,
        "object" => super::memory::object(node, session.db, cmd, args).await,
        "memory" => super::memory::memory(node, session.db, cmd, args).await,
        "config" => super::server::config_cmd(node, session, cmd, args).await,
        "slowlog" | "latency" => match subcommand(cmd, args) {
            Ok(sub) if cmd.name == "slowlog" => super::observe::slowlog(node, &sub, args).await,
            Ok(sub) => super::observe::latency(node, &sub, args).await,
            Err(e) => e,
        },
        "time" => {
            let us = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0);
            Frame::Array(vec![
                Frame::bulk_str(&(us / 1_000_000).to_string()),
                Frame::bulk_str(&(us % 1_000_000).to_string()),
            ])
        }
        "multi" if session.multi.is_some() => Frame::error("ERR MULTI calls can not be nested"),
        "multi" => {
            session.multi = Some(Transaction::default());
            Frame::OK
        }
        "discard" => match session.multi.take() {
            Some(_) => Frame::OK,
            None => Frame::error("ERR DISCARD without MULTI"),
        },
        "msetnx" => super::cross_keys::msetnx(node, session.db, args).await,
        "rename" => super::cross_keys::rename(node, session.db, args, false).await,
        "renamenx" => super::cross_keys::rename(node, session.db, args, true).await,
        "scan" => super::cross_keys::scan(node, session.db, args).await,
        "randomkey" => super::cross_keys::randomkey(node, session.db).await,
        "blpop" | "brpop" | "blmove" | "brpoplpush" | "bzpopmin" | "bzpopmax" | "lmpop"
        | "blmpop" | "zmpop" | "bzmpop" => super::blocking::execute(node, session, cmd, args).await,
        "save" | "bgsave" | "bgrewriteaof" | "lastsave" | "shutdown" => {
            super::persistence::execute(node, cmd.name, args).await
        }
        _ => super::cross::execute(node, session.db, cmd, args).await,
    }
}
