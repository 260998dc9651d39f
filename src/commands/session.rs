//! A connection's state as commands see it: selected database, protocol
//! version, and the CLIENT LIST entry the rest of the server can read.

use crate::node::ClientInfo;
use crate::protocol::Proto;
use std::cell::RefCell;
use std::rc::Rc;

pub struct Session {
    pub id: u64,
    pub db: usize,
    pub proto: Proto,
    /// Set by QUIT: reply, then close.
    pub closing: bool,
    pub info: Rc<RefCell<ClientInfo>>,
}

impl Session {
    pub fn new(info: Rc<RefCell<ClientInfo>>) -> Session {
        let id = info.borrow().id;
        Session {
            id,
            db: 0,
            proto: Proto::Resp2,
            closing: false,
            info,
        }
    }

    pub fn note_command(&self, name: &'static str) {
        let mut info = self.info.borrow_mut();
        if info.last_cmd != name {
            info.last_cmd.clear();
            info.last_cmd.push_str(name);
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
