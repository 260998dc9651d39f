//! A connection's state as commands see it: selected database, protocol
//! version, the user it is authenticated as, and the CLIENT LIST entry the
//! rest of the server can read.

use super::Command;
use crate::acl::User;
use crate::node::ClientInfo;
use crate::protocol::Proto;
use bytes::Bytes;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

pub struct Session {
    pub id: u64,
    pub db: usize,
    pub proto: Proto,
    /// Set by QUIT: reply, then close.
    pub closing: bool,
    /// Between MULTI and EXEC: the queued commands.
    pub multi: Option<Transaction>,
    /// Running EXEC's queued commands: blocking commands do not block.
    pub in_exec: bool,
    /// A script's own client (`scripting`): never answered `-BUSY`.
    pub in_script: bool,
    /// The client's socket, so a blocked command can notice a hang-up.
    pub socket: Option<std::os::fd::RawFd>,
    pub info: Rc<RefCell<ClientInfo>>,
    /// Whose permissions apply: `default` until AUTH says otherwise.
    pub user: Arc<User>,
    /// Passed AUTH (or HELLO AUTH); needed only while a password is set.
    pub authenticated: bool,
    /// The `Config::acl_epoch` its `user` was looked up at (`acl::check`
    /// looks again when users changed).
    pub acl_epoch: u64,
    /// Its subscriptions and the messages waiting to be written.
    pub pubsub: Rc<crate::node::pubsub::Subscriber>,
    /// WATCHed keys (`watch`).
    pub watches: super::watch::Watches,
    /// CLIENT REPLY: which replies are written.
    pub reply_mode: super::client_control::ReplyMode,
    /// CLIENT TRACKING (its settings are in `info`, where the invalidations
    /// find them).
    pub tracking: super::tracking::TrackingState,
    /// The vectors its batches reuse (`dispatch::Room`).
    pub room: super::dispatch::Room,
}

impl Session {
    pub fn new(info: Rc<RefCell<ClientInfo>>) -> Session {
        let id = info.borrow().id;
        let pubsub = crate::node::pubsub::Subscriber::new(info.clone());
        Session {
            id,
            db: 0,
            proto: Proto::Resp2,
            closing: false,
            multi: None,
            in_exec: false,
            in_script: false,
            socket: None,
            info,
            user: User::unrestricted(),
            authenticated: false,
            acl_epoch: 0,
            pubsub,
            watches: Default::default(),
            reply_mode: Default::default(),
            tracking: Default::default(),
            room: Default::default(),
        }
    }

    /// Now authenticated as `user`.
    pub fn log_in(&mut self, user: Arc<User>) {
        self.info.borrow_mut().user.clone_from(&user.name);
        self.user = user;
        self.authenticated = true;
    }

    /// Records the command for CLIENT LIST's `cmd=` field (`client|list` for
    /// a subcommand, as Redis shows it).
    pub fn note_command(&self, cmd: &Command, args: &[Bytes]) {
        let mut info = self.info.borrow_mut();
        if info.last_cmd != cmd.name {
            info.last_cmd.clear();
            info.last_cmd.push_str(cmd.name);
        }
        if let (false, Some(sub)) = (cmd.subcommands.is_empty(), args.get(1)) {
            if let Some(name) = cmd
                .subcommands
                .iter()
                .map(|(n, _)| n)
                .find(|n| n.as_bytes().eq_ignore_ascii_case(sub))
            {
                info.last_cmd.push('|');
                info.last_cmd.push_str(name);
            }
        }
    }

    pub fn select(&mut self, db: usize) {
        self.db = db;
        self.info.borrow_mut().db = db;
    }

    pub fn set_proto(&mut self, proto: Proto) {
        self.proto = proto;
        self.info.borrow_mut().proto = proto;
    }
}

/// Commands queued by MULTI, and whether one was refused while queuing (then
/// EXEC discards them all, as Redis does).
#[derive(Default)]
pub struct Transaction {
    pub queued: Vec<crate::protocol::Request>,
    pub failed: bool,
}
