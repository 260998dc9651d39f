//! Connection commands: PING, SELECT, HELLO, CLIENT: the state of one
//! client's connection, run on its own core.

use super::server::REDIS_VERSION;
use super::{arg_is, subcommand, syntax_error, wrong_arity, Command, Session};
use crate::node::Node;
use crate::protocol::{Frame, Proto};
use crate::util::now_ms;
use bytes::Bytes;

pub(super) fn ping(session: &Session, args: &[Bytes]) -> Frame {
    match args.len() {
        1 if session.proto == Proto::Resp3 => Frame::simple("PONG"),
        1 => Frame::simple("PONG"),
        2 => Frame::Bulk(args[1].clone()),
        _ => wrong_arity("ping"),
    }
}

pub(super) fn select(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    match super::db_index(&args[1], node.config.borrow().databases) {
        Ok(db) => {
            session.select(db);
            Frame::OK
        }
        Err(e) => e,
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub(super) fn hello(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let mut proto = session.proto;
    if let Some(v) = args.get(1) {
        proto = match crate::util::parse_i64(v) {
            Some(2) => Proto::Resp2,
            Some(3) => Proto::Resp3,
            Some(_) => return Frame::error("NOPROTO unsupported protocol version"),
            None => return Frame::error("ERR Protocol version is not an integer or out of range"),
        };
    }
    let (mut name, mut credentials) = (None, None);
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - i - 1;
        if arg_is(&args[i], "auth") && more >= 2 {
            credentials = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if arg_is(&args[i], "setname") && more >= 1 {
            name = Some(&args[i + 1]);
            i += 2;
        } else {
            return Frame::error(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            ));
        }
    }
    if let Some((user, password)) = credentials {
        if let Err(e) = super::acl::authenticate(node, session, user, password) {
            return e;
        }
    }
    if super::acl::needs_auth(node, session) {
        return Frame::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = name {
        if let Err(e) = valid_client_name(name) {
            return e;
        }
        session.info.borrow_mut().name = String::from_utf8_lossy(name).into_owned();
    }
    session.set_proto(proto);
    let p = if proto == Proto::Resp3 { 3 } else { 2 };
    Frame::Map(vec![
        (Frame::bulk_str("server"), Frame::bulk_str("redis")),
        (Frame::bulk_str("version"), Frame::bulk_str(REDIS_VERSION)),
        (Frame::bulk_str("proto"), Frame::Integer(p)),
        (Frame::bulk_str("id"), Frame::Integer(session.id as i64)),
        (Frame::bulk_str("mode"), Frame::bulk_str("standalone")),
        (Frame::bulk_str("role"), Frame::bulk_str("master")),
        (Frame::bulk_str("modules"), Frame::Array(Vec::new())),
    ])
}

fn valid_client_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().all(|&c| (b'!'..=b'~').contains(&c)) {
        Ok(())
    } else {
        Err(Frame::error(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ))
    }
}

/// RESET: the connection as it was when it connected (as Redis's
/// `clearClientConnectionState`): no transaction, nothing watched, database
/// 0, RESP2, the default user (authenticated only if it needs no
/// password).
pub(super) fn reset(node: &Node, session: &mut Session) -> Frame {
    if session.multi.take().is_some() {
        session.info.borrow_mut().multi = None;
    }
    super::watch::unwatch_all(node, session);
    crate::node::pubsub::unsubscribe_all(node, &session.pubsub);
    super::monitor::stop(node, session);
    super::tracking::disable(node, session);
    session.select(0);
    session.set_proto(Proto::Resp2);
    let default = node.config.borrow().user("default");
    if let Some(user) = default {
        session.info.borrow_mut().user.clone_from(&user.name);
        session.user = user;
    }
    session.authenticated = !node.config.borrow().auth_required();
    session.reply_mode = super::client_control::ReplyMode::On;
    // CLIENT NO-EVICT stays on: Redis 7.0 keeps it (7.2 clears it).
    Frame::simple("RESET")
}

pub(super) async fn client(
    node: &Node,
    session: &mut Session,
    cmd: &Command,
    args: &[Bytes],
) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(s) => s,
        Err(e) => return e,
    };
    match sub.as_str() {
        "id" => Frame::Integer(session.id as i64),
        "getname" => {
            let name = session.info.borrow().name.clone();
            if name.is_empty() {
                Frame::Null
            } else {
                Frame::bulk(name)
            }
        }
        "setname" => match valid_client_name(&args[2]) {
            Ok(()) => {
                session.info.borrow_mut().name = String::from_utf8_lossy(&args[2]).into_owned();
                Frame::OK
            }
            Err(e) => e,
        },
        "setinfo" => {
            let value = String::from_utf8_lossy(&args[3]).into_owned();
            if value.contains(|c: char| !('!'..='~').contains(&c)) {
                return Frame::error(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&args[2]).to_lowercase()
                ));
            }
            let mut info = session.info.borrow_mut();
            if arg_is(&args[2], "lib-name") {
                info.lib_name = value;
            } else if arg_is(&args[2], "lib-ver") {
                info.lib_ver = value;
            } else {
                return Frame::error(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&args[2])
                ));
            }
            Frame::OK
        }
        "info" => Frame::Verbatim(format!("{}\n", session.info.borrow().line(now_ms()))),
        "list" => {
            let now = now_ms();
            let lines = node
                .run_on_all(move |n: &Node| {
                    n.clients
                        .borrow()
                        .connected
                        .values()
                        .filter(|c| !c.borrow().killed)
                        .map(|c| c.borrow().line(now))
                        .collect::<Vec<_>>()
                })
                .await
                .unwrap_or_default();
            let mut text: String = lines.into_iter().flatten().map(|l| l + "\n").collect();
            if text.is_empty() {
                text.push('\n');
            }
            Frame::Verbatim(text)
        }
        "kill" => super::client_control::kill(node, session, args).await,
        "pause" => super::client_control::pause(args),
        "unpause" => super::client_control::unpause(),
        "reply" => super::client_control::reply(session, args),
        "unblock" => super::client_control::unblock(node, args).await,
        "no-evict" => super::client_control::no_evict(session, args),
        "tracking" => super::tracking::tracking_cmd(node, session, args).await,
        "caching" => super::tracking::caching(session, args),
        "getredir" => super::tracking::getredir(session),
        "trackinginfo" => super::tracking::trackinginfo(session),
        "no-touch" => {
            if arg_is(&args[2], "on") || arg_is(&args[2], "off") {
                Frame::OK
            } else {
                syntax_error()
            }
        }
        "help" => Frame::Array(
            [
                "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ID",
                "    Return the ID of the current connection.",
                "GETNAME",
                "    Return the name of the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "    Set client library name or version.",
                "INFO",
                "    Return information about the current client connection.",
                "LIST",
                "    Return information about client connections.",
            ]
            .iter()
            .map(|s| Frame::simple(*s))
            .collect(),
        ),
        _ => Frame::error(format!(
            "ERR CLIENT {} is not supported by ringcache",
            sub.to_uppercase()
        )),
    }
}
