//! The connections one core has accepted, for CLIENT LIST / INFO and INFO
//! clients. Client ids are unique across cores without coordination: core `i`
//! of `n` hands out `i + 1, i + 1 + n, i + 1 + 2n, …`.

use super::pubsub::Subscriber;
use crate::protocol::Proto;
use bytes::Bytes;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

/// What CLIENT LIST shows of one connection; the connection updates it.
pub struct ClientInfo {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub name: String,
    pub lib_name: String,
    pub lib_ver: String,
    pub db: usize,
    pub proto: Proto,
    pub created_ms: u64,
    pub last_active_ms: u64,
    pub last_cmd: String,
    pub query_buf: usize,
    pub user: String,
    /// Subscriptions: channels, patterns, shard channels.
    pub sub: usize,
    pub psub: usize,
    pub ssub: usize,
    /// Commands queued since MULTI (`None`: not in a transaction).
    pub multi: Option<usize>,
    /// Keys the client WATCHes.
    pub watched_keys: usize,
    /// The client's socket (-1 until known).
    pub fd: i32,
    /// CLIENT KILL chose it: gone from CLIENT LIST, closing.
    pub killed: bool,
    /// CLIENT NO-EVICT ON.
    pub no_evict: bool,
    /// In MONITOR mode.
    pub monitor: bool,
    /// While it waits in a blocking command: CLIENT UNBLOCK's way to end
    /// the wait (`true`: with an error).
    pub unblock: Option<futures_channel::oneshot::Sender<bool>>,
    /// CLIENT TRACKING ON: how (`None`: off).
    pub tracking: Option<Tracking>,
}

/// A tracking client's settings (CLIENT TRACKING, CLIENT CACHING).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tracking {
    /// The client its invalidations go to (0: itself).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) given for the next
    /// command.
    pub caching: bool,
    /// An invalidation found the redirect client gone.
    pub broken_redirect: bool,
    /// BCAST prefixes, in the order given.
    pub prefixes: Vec<Bytes>,
}

impl ClientInfo {
    /// A client that just connected from `addr` to `laddr`, as `default`.
    pub fn new(id: u64, addr: String, laddr: String, now_ms: u64) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            name: String::new(),
            lib_name: String::new(),
            lib_ver: String::new(),
            db: 0,
            proto: Proto::Resp2,
            created_ms: now_ms,
            last_active_ms: now_ms,
            last_cmd: String::new(),
            query_buf: 0,
            user: "default".into(),
            sub: 0,
            psub: 0,
            ssub: 0,
            multi: None,
            watched_keys: 0,
            fd: -1,
            killed: false,
            no_evict: false,
            monitor: false,
            unblock: None,
            tracking: None,
        }
    }

    /// CLIENT LIST's `flags`, as Redis spells them (`N`: none).
    fn flags(&self) -> String {
        // In Redis's order.
        let mut f = String::new();
        if self.monitor {
            f.push('O');
        }
        if self.sub + self.psub + self.ssub > 0 {
            f.push('P');
        }
        if self.multi.is_some() {
            f.push('x');
        }
        if self.unblock.is_some() {
            f.push('b');
        }
        if let Some(t) = &self.tracking {
            f.push('t');
            if t.broken_redirect {
                f.push('R');
            }
            if t.bcast {
                f.push('B');
            }
        }
        if self.no_evict {
            f.push('e');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// One line of CLIENT LIST, with Redis's field names.
    pub fn line(&self, now_ms: u64) -> String {
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} watch={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={} user={} redir={} resp={} lib-name={} lib-ver={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            self.name,
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.last_active_ms) / 1000,
            self.flags(),
            self.db,
            self.sub,
            self.psub,
            self.ssub,
            self.multi.map_or(-1, |n| n as i64),
            self.watched_keys,
            self.query_buf,
            if self.last_cmd.is_empty() { "NULL" } else { &self.last_cmd },
            self.user,
            self.tracking.as_ref().map_or(-1, |t| t.redirect as i64),
            if self.proto == Proto::Resp3 { 3 } else { 2 },
            self.lib_name,
            self.lib_ver,
        )
    }
}

pub struct Clients {
    next_id: u64,
    stride: u64,
    pub connected: BTreeMap<u64, Rc<RefCell<ClientInfo>>>,
    /// Each connected client's outbox (pub/sub messages, invalidations),
    /// by id.
    pub pushes: hashbrown::HashMap<u64, Rc<Subscriber>>,
}

impl Clients {
    pub fn new(core: usize, cores: usize) -> Clients {
        Clients {
            next_id: core as u64 + 1,
            stride: cores.max(1) as u64,
            connected: BTreeMap::new(),
            pushes: hashbrown::HashMap::new(),
        }
    }

    /// The core that accepted client `id` (ids are strided by core).
    pub fn core_of(id: u64, cores: usize) -> usize {
        (id.saturating_sub(1) % cores.max(1) as u64) as usize
    }

    pub fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += self.stride;
        id
    }
}
