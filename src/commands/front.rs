//! The front dispatcher: a command whose route is `Route::Front` runs on the
//! connection's own core, with the connection's state, through the handler
//! its `FrontCmd` names. Those handlers live with their family:
//! `connection` (PING, SELECT, HELLO, CLIENT, ...), `server` (COMMAND, INFO,
//! CONFIG), `cross_keys` (key commands that coordinate several shards),
//! `cross` (collection commands across shards), `blocking`, `saves`
//! (SAVE, SHUTDOWN, ...), `memory`, `observe`, `acl` and `pubsub`.
//!
//! The table (`ROUTES`) is the one place a command is registered: a front
//! command's entry names its `FrontCmd`, and the match below has no
//! catch-all arm, so a command without a handler does not compile.

use super::blocking::{self, Op};
use super::cross::{self, SetOp, ZOp, ZOut};
use super::{
    acl, connection, cross_keys, debug, functions, lolwut, memory, monitor, observe, pubsub,
    replication, saves, scripting, server, watch,
};
use super::{subcommand, Command, Session, Transaction};
use crate::node::pubsub::Kind;
use crate::node::Node;
use crate::protocol::Frame;
use bytes::Bytes;

/// The handler of each command that runs on the connection's core, named
/// after the command (a test holds every table entry to that).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrontCmd {
    // connection
    Ping,
    Echo,
    Quit,
    Select,
    Hello,
    Auth,
    Acl,
    Client,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Reset,
    // server
    Command,
    Info,
    Config,
    Time,
    Object,
    Memory,
    Slowlog,
    Latency,
    Debug,
    Lolwut,
    Module,
    Monitor,
    // replication
    Wait,
    // saves and shutdown
    Save,
    Bgsave,
    Bgrewriteaof,
    Lastsave,
    Shutdown,
    // keys across shards
    Msetnx,
    Rename,
    Renamenx,
    Copy,
    Migrate,
    Scan,
    Randomkey,
    // SORT reads keys its patterns make, on any shard
    Sort,
    #[allow(non_camel_case_types)]
    Sort_ro,
    // collections across shards
    Lmove,
    Rpoplpush,
    Smove,
    Sinter,
    Sunion,
    Sdiff,
    Sinterstore,
    Sunionstore,
    Sdiffstore,
    Sintercard,
    Zunion,
    Zinter,
    Zdiff,
    Zunionstore,
    Zinterstore,
    Zdiffstore,
    Zintercard,
    Zrangestore,
    // geo searches that may store into another shard's key
    Georadius,
    Georadiusbymember,
    Geosearchstore,
    // strings across shards
    Bitop,
    Lcs,
    Pfcount,
    Pfmerge,
    Pfselftest,
    // blocking, and their forms that try once
    Blpop,
    Brpop,
    Blmove,
    Brpoplpush,
    Lmpop,
    Blmpop,
    Zmpop,
    Bzmpop,
    Bzpopmin,
    Bzpopmax,
    // pub/sub
    Subscribe,
    Unsubscribe,
    Psubscribe,
    Punsubscribe,
    Ssubscribe,
    Sunsubscribe,
    Publish,
    Spublish,
    Pubsub,
    // streams across shards
    Xread,
    Xreadgroup,
    // scripting (named after the commands: EVAL_RO is `Eval_ro`)
    Eval,
    Evalsha,
    #[allow(non_camel_case_types)]
    Eval_ro,
    #[allow(non_camel_case_types)]
    Evalsha_ro,
    Script,
    Function,
    Fcall,
    #[allow(non_camel_case_types)]
    Fcall_ro,
}

/// Runs front command `cmd` (whose handler is `front`) for `session`.
pub async fn execute(
    node: &Node,
    runner: scripting::Runner,
    session: &mut Session,
    cmd: &Command,
    front: FrontCmd,
    args: &[Bytes],
) -> Frame {
    use FrontCmd as F;
    let db = session.db;
    match front {
        F::Ping => pubsub::subscribed_ping(session, args)
            .unwrap_or_else(|| connection::ping(session, args)),
        F::Echo => Frame::Bulk(args[1].clone()),
        F::Quit => {
            session.closing = true;
            Frame::OK
        }
        F::Select => connection::select(node, session, args),
        F::Hello => connection::hello(node, session, args),
        F::Auth => acl::auth(node, session, args),
        F::Acl => match subcommand(cmd, args) {
            Ok(sub) => acl::acl(node, session, &sub, args).await,
            Err(e) => e,
        },
        F::Client => connection::client(node, session, cmd, args).await,
        F::Multi if session.multi.is_some() => Frame::error("ERR MULTI calls can not be nested"),
        F::Multi => {
            session.multi = Some(Transaction::default());
            session.info.borrow_mut().multi = Some(0);
            Frame::OK
        }
        // `dispatch` runs EXEC itself: its reply is the queued commands'
        // replies, written as they come. Not reached.
        F::Exec => Frame::error("ERR EXEC without MULTI"),
        F::Discard => match session.multi.take() {
            Some(_) => {
                session.info.borrow_mut().multi = None;
                watch::unwatch_all(node, session);
                Frame::OK
            }
            None => Frame::error("ERR DISCARD without MULTI"),
        },
        F::Watch => watch::watch(node, session, args).await,
        F::Unwatch => {
            watch::unwatch_all(node, session);
            Frame::OK
        }
        F::Reset => connection::reset(node, session),
        F::Command => super::meta::command(cmd, args),
        F::Info => server::info(node, args).await,
        F::Config => server::config_cmd(node, session, cmd, args).await,
        F::Time => server::time(),
        F::Object => memory::object(node, db, cmd, args).await,
        F::Memory => memory::memory(node, db, cmd, args).await,
        F::Slowlog => match subcommand(cmd, args) {
            Ok(sub) => observe::slowlog(node, &sub, args).await,
            Err(e) => e,
        },
        F::Latency => match subcommand(cmd, args) {
            Ok(sub) => observe::latency(node, &sub, args).await,
            Err(e) => e,
        },
        F::Debug => debug::debug(node, session, args).await,
        F::Lolwut => lolwut::lolwut(args),
        F::Monitor => monitor::monitor(node, session),
        F::Module => server::module(node, session, cmd, args),
        F::Wait => replication::wait(node, session, args).await,
        F::Save => saves::save(node).await,
        F::Bgsave => saves::bgsave(node, args).await,
        F::Bgrewriteaof => saves::bgrewriteaof(node).await,
        F::Lastsave => saves::lastsave(node).await,
        F::Shutdown => saves::shutdown(node, args).await,
        F::Msetnx => cross_keys::msetnx(node, db, args).await,
        F::Rename => cross_keys::rename(node, db, args, false).await,
        F::Renamenx => cross_keys::rename(node, db, args, true).await,
        F::Copy => cross_keys::copy(node, db, args).await,
        F::Migrate => super::migrate::migrate(node, db, args).await,
        F::Scan => cross_keys::scan(node, db, args).await,
        F::Randomkey => cross_keys::randomkey(node, db).await,
        F::Sort | F::Sort_ro => super::sort::sort(node, session, cmd, args).await,
        F::Lmove | F::Rpoplpush => cross::lmove(node, db, args).await,
        F::Smove => cross::smove(node, db, args).await,
        F::Sinter => cross::set_op(node, db, SetOp::Inter, &args[1..], None).await,
        F::Sunion => cross::set_op(node, db, SetOp::Union, &args[1..], None).await,
        F::Sdiff => cross::set_op(node, db, SetOp::Diff, &args[1..], None).await,
        F::Sinterstore => cross::set_op(node, db, SetOp::Inter, &args[2..], Some(&args[1])).await,
        F::Sunionstore => cross::set_op(node, db, SetOp::Union, &args[2..], Some(&args[1])).await,
        F::Sdiffstore => cross::set_op(node, db, SetOp::Diff, &args[2..], Some(&args[1])).await,
        F::Sintercard => cross::sintercard(node, db, args).await,
        F::Zunion => cross::zset_op(node, db, cmd.name, args, ZOp::Union, ZOut::Reply).await,
        F::Zinter => cross::zset_op(node, db, cmd.name, args, ZOp::Inter, ZOut::Reply).await,
        F::Zdiff => cross::zset_op(node, db, cmd.name, args, ZOp::Diff, ZOut::Reply).await,
        F::Zunionstore => cross::zset_op(node, db, cmd.name, args, ZOp::Union, ZOut::Store).await,
        F::Zinterstore => cross::zset_op(node, db, cmd.name, args, ZOp::Inter, ZOut::Store).await,
        F::Zdiffstore => cross::zset_op(node, db, cmd.name, args, ZOp::Diff, ZOut::Store).await,
        F::Zintercard => cross::zset_op(node, db, cmd.name, args, ZOp::Inter, ZOut::Card).await,
        F::Zrangestore => cross::zrangestore(node, db, args).await,
        F::Georadius | F::Georadiusbymember | F::Geosearchstore => {
            super::geo::search_front(node, db, cmd, args).await
        }
        F::Bitop => super::bitmaps::bitop(node, db, args).await,
        F::Lcs => super::lcs::lcs(node, db, args).await,
        F::Pfcount => super::hyperloglog::pfcount(node, db, args).await,
        F::Pfmerge => super::hyperloglog::pfmerge(node, db, args).await,
        F::Pfselftest => super::hyperloglog::pfselftest(),
        F::Blpop => blocking::pop(node, session, args, Op::Pop { left: true }).await,
        F::Brpop => blocking::pop(node, session, args, Op::Pop { left: false }).await,
        F::Bzpopmin => blocking::pop(node, session, args, Op::ZPop { max: false }).await,
        F::Bzpopmax => blocking::pop(node, session, args, Op::ZPop { max: true }).await,
        F::Blmove => blocking::blmove(node, session, args).await,
        F::Brpoplpush => blocking::brpoplpush(node, session, args).await,
        F::Lmpop => blocking::mpop(node, session, args, false, false).await,
        F::Zmpop => blocking::mpop(node, session, args, true, false).await,
        F::Blmpop => blocking::mpop(node, session, args, false, true).await,
        F::Bzmpop => blocking::mpop(node, session, args, true, true).await,
        F::Subscribe => pubsub::subscribe(node, session, Kind::Channel, args).await,
        F::Psubscribe => pubsub::subscribe(node, session, Kind::Pattern, args).await,
        F::Ssubscribe => pubsub::subscribe(node, session, Kind::Shard, args).await,
        F::Unsubscribe => pubsub::unsubscribe(node, session, Kind::Channel, args),
        F::Punsubscribe => pubsub::unsubscribe(node, session, Kind::Pattern, args),
        F::Sunsubscribe => pubsub::unsubscribe(node, session, Kind::Shard, args),
        // `dispatch` runs these without waiting (`publish_now`); not reached.
        F::Publish | F::Spublish => pubsub::publish(node, cmd, args).await,
        F::Pubsub => pubsub::pubsub_cmd(node, cmd, args).await,
        F::Xread => super::stream_reads::xread(node, session, args, false).await,
        F::Xreadgroup => super::stream_reads::xread(node, session, args, true).await,
        F::Eval => scripting::eval(node, runner, session, args, false, false).await,
        F::Evalsha => scripting::eval(node, runner, session, args, true, false).await,
        F::Eval_ro => scripting::eval(node, runner, session, args, false, true).await,
        F::Evalsha_ro => scripting::eval(node, runner, session, args, true, true).await,
        F::Script => scripting::script(cmd, args).await,
        F::Function => functions::function(node, cmd, args).await,
        F::Fcall => functions::fcall(node, runner, session, args, false).await,
        F::Fcall_ro => functions::fcall(node, runner, session, args, true).await,
    }
}
