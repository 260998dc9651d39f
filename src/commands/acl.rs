//! Authentication and access control as commands see them: AUTH, the
//! authentication part of HELLO, the ACL command (WHOAMI, LIST, USERS, CAT),
//! and `check`, which the dispatcher runs before every command: `-NOAUTH`
//! until a client authenticates while a password is set, then `-NOPERM`
//! for what its user may not run or touch. The users themselves are
//! `crate::acl`'s.

use super::{syntax_error, table, Command, Session};
use crate::acl::{User, CATEGORIES};
use crate::node::{Node, DENIED_AUTH, DENIED_CMD, DENIED_KEY};
use crate::protocol::Frame;
use bytes::Bytes;
use std::sync::Arc;

fn wrong_pass() -> Frame {
    Frame::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// Checks `user`/`password` and, if they match, logs the session in. A
/// failure is counted (INFO `acl_access_denied_auth`); the password is
/// never logged.
pub fn authenticate(
    node: &Node,
    session: &mut Session,
    user: &[u8],
    password: &[u8],
) -> Result<(), Frame> {
    let found = std::str::from_utf8(user)
        .ok()
        .and_then(|name| node.config.borrow().user(name))
        .filter(|u| u.opens_with(password));
    match found {
        Some(u) => {
            session.log_in(u);
            Ok(())
        }
        None => {
            node.count_denied(DENIED_AUTH);
            tracing::debug!(
                client = session.id,
                user = %String::from_utf8_lossy(user),
                "authentication failed"
            );
            Err(wrong_pass())
        }
    }
}

/// AUTH [username] password
pub fn auth(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let (user, password): (&[u8], &[u8]) = match args.len() {
        2 if !node.config.borrow().auth_required() => {
            return Frame::error(
                "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
            )
        }
        2 => (b"default", &args[1]),
        3 => (&args[1], &args[2]),
        _ => return syntax_error(),
    };
    match authenticate(node, session, user, password) {
        Ok(()) => Frame::OK,
        Err(e) => e,
    }
}

/// Whether the session must still authenticate before running `cmd`.
pub fn needs_auth(node: &Node, session: &Session) -> bool {
    !session.authenticated && node.config.borrow().auth_required()
}

/// What Redis checks after the arity and before running a command: the
/// client must be authenticated (unless the command is one of the
/// `no_auth` few: AUTH, HELLO, QUIT), and its user allowed to run the
/// command on its keys.
pub fn check(node: &Node, session: &Session, cmd: &Command, args: &[Bytes]) -> Result<(), Frame> {
    let user = &session.user;
    let auth_needed = needs_auth(node, session);
    if !auth_needed && user.unrestricted_access() {
        return Ok(());
    }
    if cmd.spec.flags.iter().any(|f| f == "no_auth") {
        return Ok(());
    }
    if auth_needed {
        return Err(Frame::error("NOAUTH Authentication required."));
    }
    let (full_name, categories) = match args.get(1).and_then(|a| {
        cmd.subcommands
            .iter()
            .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(a))
    }) {
        Some((sub, spec)) => (format!("{}|{sub}", cmd.name), &spec.acl_categories),
        None => (cmd.name.to_string(), &cmd.spec.acl_categories),
    };
    if !user.may_run(&full_name, categories) {
        node.count_denied(DENIED_CMD);
        return Err(Frame::error(format!(
            "NOPERM this user has no permissions to run the '{full_name}' command"
        )));
    }
    if !keys_of(cmd, args).all(|k| user.may_access(k)) {
        node.count_denied(DENIED_KEY);
        return Err(Frame::error(
            "NOPERM this user has no permissions to access one of the keys used as arguments",
        ));
    }
    Ok(())
}

/// The keys a command names: from its first/last/step positions, or, for the
/// commands whose keys follow a count (Redis's `movablekeys`), from that
/// count.
fn keys_of<'a>(cmd: &Command, args: &'a [Bytes]) -> Box<dyn Iterator<Item = &'a Bytes> + 'a> {
    let counted = |count_at: usize, fixed: &'a [Bytes]| {
        let n = args
            .get(count_at)
            .and_then(|a| crate::util::parse_i64(a))
            .unwrap_or(0)
            .clamp(0, args.len() as i64) as usize;
        let start = count_at + 1;
        let end = (start + n).min(args.len());
        Box::new(fixed.iter().chain(&args[start.min(end)..end]))
            as Box<dyn Iterator<Item = &'a Bytes>>
    };
    match cmd.name {
        "sintercard" => return counted(1, &[]),
        "zunionstore" | "zinterstore" => return counted(2, &args[1..2.min(args.len())]),
        // The first half of what follows STREAMS.
        "xread" | "xreadgroup" => {
            let at = args
                .iter()
                .position(|a| a.eq_ignore_ascii_case(b"streams"))
                .map_or(args.len(), |i| i + 1);
            let keys = &args[at..];
            return Box::new(keys[..keys.len() / 2].iter());
        }
        _ => {}
    }
    // A container command's keys are where its subcommand puts them
    // (OBJECT ENCODING key).
    let spec = args
        .get(1)
        .and_then(|sub| cmd.subcommand(sub))
        .unwrap_or(&cmd.spec);
    if spec.first_key <= 0 || spec.step <= 0 {
        return Box::new(std::iter::empty());
    }
    let argc = args.len() as i64;
    let last = if spec.last_key < 0 {
        argc + spec.last_key
    } else {
        spec.last_key.min(argc - 1)
    };
    let (first, step) = (spec.first_key as usize, spec.step as usize);
    let last = last.max(0) as usize;
    Box::new(
        args.iter()
            .enumerate()
            .skip(first)
            .take((last + 1).saturating_sub(first))
            .step_by(step)
            .map(|(_, a)| a),
    )
}

/// ACL WHOAMI | LIST | USERS | CAT [category] | HELP
pub fn acl(node: &Node, session: &Session, sub: &str, args: &[Bytes]) -> Frame {
    match sub {
        "whoami" => Frame::bulk_str(&session.user.name),
        "users" | "list" => {
            let cfg = node.config.borrow();
            let default = cfg.user("default").map(|u| (*u).clone());
            let mut users: Vec<&User> = default
                .iter()
                .chain(cfg.users.values().map(Arc::as_ref))
                .collect();
            users.sort_by(|a, b| a.name.cmp(&b.name));
            Frame::Array(
                users
                    .into_iter()
                    .map(|u| {
                        if sub == "users" {
                            Frame::bulk_str(&u.name)
                        } else {
                            Frame::bulk(u.describe())
                        }
                    })
                    .collect(),
            )
        }
        "cat" if args.len() > 3 => Frame::error(
            "ERR unknown subcommand or wrong number of arguments for 'cat'. Try ACL HELP.",
        ),
        "cat" if args.len() == 2 => {
            Frame::Array(CATEGORIES.iter().map(|c| Frame::bulk_str(c)).collect())
        }
        "cat" => {
            let wanted = String::from_utf8_lossy(&args[2]).to_lowercase();
            if !CATEGORIES.contains(&wanted.as_str()) {
                return Frame::error(format!(
                    "ERR Unknown category '{}'",
                    String::from_utf8_lossy(&args[2])
                ));
            }
            let tag = format!("@{wanted}");
            let mut names = Vec::new();
            for c in table().iter() {
                if c.spec.acl_categories.contains(&tag) {
                    names.push(c.name.to_string());
                }
                for (sub, spec) in &c.subcommands {
                    if spec.acl_categories.contains(&tag) {
                        names.push(format!("{}|{sub}", c.name));
                    }
                }
            }
            names.sort();
            Frame::Array(names.into_iter().map(Frame::bulk).collect())
        }
        "help" => Frame::Array(
            [
                "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "CAT [<category>]",
                "    List all commands that belong to <category>, or all command categories",
                "    when no category is specified.",
                "LIST",
                "    Show users details in config file format.",
                "USERS",
                "    List all the registered usernames.",
                "WHOAMI",
                "    Return the current connection username.",
            ]
            .iter()
            .map(|s| Frame::simple(*s))
            .collect(),
        ),
        _ => Frame::error(format!(
            "ERR ACL {} is not supported by ringcache: users are defined in the profile",
            sub.to_uppercase()
        )),
    }
}

/// Checks that every command the profile's users' rules name exists (a
/// misspelt `-flushal` must not leave FLUSHALL allowed), as Redis's ACL
/// SETUSER refuses an unknown command.
pub fn check_users(config: &crate::config::Config) -> Result<(), String> {
    for user in config.users.values() {
        for name in user.named_commands() {
            let (container, sub) = match name.split_once('|') {
                Some((c, s)) => (c, Some(s)),
                None => (name, None),
            };
            let known = table()
                .get(container.as_bytes())
                .is_some_and(|c| sub.is_none_or(|s| c.subcommand(s.as_bytes()).is_some()));
            if !known {
                return Err(format!(
                    "users.{}: unknown command '{name}' in its rules",
                    user.name
                ));
            }
        }
    }
    Ok(())
}
