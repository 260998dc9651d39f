//! Client control (issue 21): CLIENT KILL, PAUSE / UNPAUSE, REPLY, UNBLOCK
//! and NO-EVICT, with Redis 7.0's replies. A client is found on whichever
//! core accepted it (each core's `Clients`); killing it shuts its socket
//! down there, which ends its connection task (and a blocked command's
//! wait) as a hang-up would.

use super::{arg_is, syntax_error, Command, Session};
use crate::node::{ClientInfo, Node};
use crate::protocol::Frame;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// CLIENT PAUSE: until when (Unix ms; 0: no pause), and whether every
/// command waits (ALL) or only those that write (WRITE). Process-wide.
static PAUSE_UNTIL_MS: AtomicU64 = AtomicU64::new(0);
static PAUSE_ALL: AtomicBool = AtomicBool::new(false);

/// How often a paused command looks whether the pause is over.
const PAUSE_CHECK: Duration = Duration::from_millis(5);

/// What CLIENT KILL's filters select.
#[derive(Default, Clone)]
struct Filter {
    id: Option<u64>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    /// TYPE: `None` any; `Some(Normal)`, `Some(PubSub)`, or a type no
    /// client here has (`Some(None_)`: master, replica).
    kind: Option<Kind>,
    skip_me: bool,
}

impl Filter {
    fn selects(&self, c: &ClientInfo, me: u64) -> bool {
        !(c.killed || self.skip_me && c.id == me)
            && self.id.is_none_or(|id| c.id == id)
            && self.addr.as_ref().is_none_or(|a| &c.addr == a)
            && self.laddr.as_ref().is_none_or(|a| &c.laddr == a)
            && self.user.as_ref().is_none_or(|u| &c.user == u)
            && self.kind.is_none_or(|k| k == Kind::of(c))
    }
}

/// CLIENT KILL's client types, as Redis tells them apart.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Normal,
    /// Subscribed to a channel, pattern or shard channel.
    PubSub,
    /// Master or replica: no such client here.
    Replication,
}

impl Kind {
    fn of(c: &ClientInfo) -> Kind {
        if c.sub + c.psub + c.ssub > 0 {
            Kind::PubSub
        } else {
            Kind::Normal
        }
    }
}

/// CLIENT KILL ip:port | CLIENT KILL <filter value> ...
pub(super) async fn kill(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let old_form = args.len() == 3;
    let mut filter = Filter {
        skip_me: !old_form,
        ..Filter::default()
    };
    if old_form {
        filter.addr = Some(text(&args[2]));
    } else {
        if !args.len().is_multiple_of(2) {
            return syntax_error();
        }
        for pair in args[2..].chunks_exact(2) {
            let (name, value) = (&pair[0], &pair[1]);
            if arg_is(name, "id") {
                match crate::util::parse_i64(value) {
                    Some(id) if id > 0 => filter.id = Some(id as u64),
                    _ => return Frame::error("ERR client-id should be greater than 0"),
                }
            } else if arg_is(name, "type") {
                let t = text(value).to_lowercase();
                filter.kind = match t.as_str() {
                    "normal" => Some(Kind::Normal),
                    "pubsub" => Some(Kind::PubSub),
                    // Replication: none here yet.
                    "master" | "replica" | "slave" => Some(Kind::Replication),
                    _ => return Frame::error(format!("ERR Unknown client type '{}'", text(value))),
                };
            } else if arg_is(name, "addr") {
                filter.addr = Some(text(value));
            } else if arg_is(name, "laddr") {
                filter.laddr = Some(text(value));
            } else if arg_is(name, "user") {
                let user = text(value);
                if node.config.borrow().user(&user).is_none() {
                    return Frame::error(format!("ERR No such user '{user}'"));
                }
                filter.user = Some(user);
            } else if arg_is(name, "skipme") {
                filter.skip_me = if arg_is(value, "yes") {
                    true
                } else if arg_is(value, "no") {
                    false
                } else {
                    return syntax_error();
                };
            } else {
                return syntax_error();
            }
        }
    }
    let me = session.id;
    let f = filter.clone();
    let per_core = node
        .run_on_all(move |n: &Node| {
            let mut killed = 0i64;
            let mut killed_me = false;
            for c in n.clients.borrow().connected.values() {
                let mut c = c.borrow_mut();
                if !f.selects(&c, me) {
                    continue;
                }
                killed += 1;
                c.killed = true;
                if c.id == me {
                    // Its own connection closes once the reply is out.
                    killed_me = true;
                } else if c.fd >= 0 {
                    // SAFETY: shutdown on the client's own socket, open
                    // while it is in the list; it only ends its I/O.
                    unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
                }
            }
            (killed, killed_me)
        })
        .await
        .unwrap_or_default();
    let killed: i64 = per_core.iter().map(|(k, _)| k).sum();
    if per_core.iter().any(|(_, me)| *me) {
        session.closing = true;
    }
    if old_form {
        if killed == 0 {
            Frame::error("ERR No such client")
        } else {
            Frame::OK
        }
    } else {
        Frame::Integer(killed)
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub(super) fn pause(args: &[Bytes]) -> Frame {
    let Some(ms) = crate::util::parse_i64(&args[2]) else {
        return Frame::error("ERR timeout is not an integer or out of range");
    };
    if ms < 0 {
        return Frame::error("ERR timeout is negative");
    }
    let all = match args.get(3) {
        None => true,
        Some(m) if arg_is(m, "all") => true,
        Some(m) if arg_is(m, "write") => false,
        Some(_) => return Frame::error("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    if args.len() > 4 {
        return syntax_error();
    }
    let until = crate::util::now_ms().saturating_add(ms as u64);
    // As Redis: a pause never gets shorter or milder by another one.
    let active = PAUSE_UNTIL_MS.load(Ordering::SeqCst) > crate::util::now_ms();
    if all || !active {
        PAUSE_ALL.store(
            all || (active && PAUSE_ALL.load(Ordering::SeqCst)),
            Ordering::SeqCst,
        );
    }
    PAUSE_UNTIL_MS.fetch_max(until, Ordering::SeqCst);
    Frame::OK
}

pub(super) fn unpause() -> Frame {
    PAUSE_UNTIL_MS.store(0, Ordering::SeqCst);
    PAUSE_ALL.store(false, Ordering::SeqCst);
    Frame::OK
}

/// Whether a command that writes (`writes`) must wait for a pause now.
pub fn paused(writes: bool) -> bool {
    let until = PAUSE_UNTIL_MS.load(Ordering::Relaxed);
    until != 0 && until > crate::util::now_ms() && (writes || PAUSE_ALL.load(Ordering::Relaxed))
}

/// Waits until a pause no longer holds a command (`writes`: it writes).
pub async fn wait_unpaused(writes: bool) {
    while paused(writes) {
        glommio::timer::sleep(PAUSE_CHECK).await;
    }
}

/// Whether a command waits in a WRITE pause: it writes, or may
/// (Redis's `write` and `may_replicate` flags).
pub fn writes(cmd: &Command) -> bool {
    cmd.write || cmd.spec.flags.iter().any(|f| f == "may_replicate")
}

/// CLIENT REPLY ON|OFF|SKIP: the replies this client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplyMode {
    #[default]
    On,
    Off,
    /// The SKIP command's own reply and the next command's are dropped.
    SkipTwo,
    /// The next command's reply is dropped.
    SkipOne,
}

impl ReplyMode {
    /// Whether the reply of the command just run is dropped; advances SKIP.
    pub fn drops_reply(&mut self) -> bool {
        match *self {
            ReplyMode::On => false,
            ReplyMode::Off => true,
            ReplyMode::SkipTwo => {
                *self = ReplyMode::SkipOne;
                true
            }
            ReplyMode::SkipOne => {
                *self = ReplyMode::On;
                true
            }
        }
    }
}

pub(super) fn reply(session: &mut Session, args: &[Bytes]) -> Frame {
    session.reply_mode = if arg_is(&args[2], "on") {
        ReplyMode::On
    } else if arg_is(&args[2], "off") {
        ReplyMode::Off
    } else if arg_is(&args[2], "skip") {
        ReplyMode::SkipTwo
    } else {
        return syntax_error();
    };
    Frame::OK
}

/// CLIENT UNBLOCK client-id [TIMEOUT|ERROR]
pub(super) async fn unblock(node: &Node, args: &[Bytes]) -> Frame {
    let Some(id) = crate::util::parse_i64(&args[2]) else {
        return super::not_integer();
    };
    let error = match args.get(3) {
        None => false,
        Some(m) if arg_is(m, "timeout") => false,
        Some(m) if arg_is(m, "error") => true,
        Some(_) => return Frame::error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"),
    };
    let found = node
        .run_on_all(move |n: &Node| {
            let clients = n.clients.borrow();
            let Some(c) = u64::try_from(id)
                .ok()
                .and_then(|id| clients.connected.get(&id))
            else {
                return false;
            };
            let unblock = c.borrow_mut().unblock.take();
            unblock.is_some_and(|tx| tx.send(error).is_ok())
        })
        .await
        .unwrap_or_default();
    Frame::Integer(found.into_iter().any(|f| f) as i64)
}

/// CLIENT NO-EVICT ON|OFF: a flag only (ringcache does not evict clients).
pub(super) fn no_evict(session: &mut Session, args: &[Bytes]) -> Frame {
    let on = if arg_is(&args[2], "on") {
        true
    } else if arg_is(&args[2], "off") {
        false
    } else {
        return syntax_error();
    };
    session.info.borrow_mut().no_evict = on;
    Frame::OK
}
