//! Authentication and access control as commands see them: AUTH, the
//! authentication part of HELLO, the ACL command (SETUSER, GETUSER,
//! DELUSER, DRYRUN, GENPASS, LIST, USERS, WHOAMI, CAT, LOG, SAVE, LOAD),
//! and `check`, which the dispatcher runs before every command: `-NOAUTH`
//! until a client authenticates while a password is set, then `-NOPERM`
//! for what its user may not run, touch or publish to, with an ACL LOG
//! entry. The users themselves are `crate::acl`'s; they live in every
//! core's `Config::users` and change as CONFIG SET changes settings: the
//! new table is sent to every core (`run_on_all`), and `acl_epoch` tells a
//! connection to look its user up again before its next command.

use super::{syntax_error, table, Command, Session};
use crate::acl::{self, Denied, LogEntry, LogReason, User, CATEGORIES};
use crate::node::{Node, DENIED_AUTH, DENIED_CMD, DENIED_KEY};
use crate::protocol::Frame;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Arc;

fn wrong_pass() -> Frame {
    Frame::error("WRONGPASS invalid username-password pair or user is disabled.")
}

/// Checks `user`/`password` and, if they match, logs the session in. A
/// failure is counted (INFO `acl_access_denied_auth`) and goes to ACL LOG;
/// the password is never logged.
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
            let name = String::from_utf8_lossy(user).into_owned();
            tracing::debug!(client = session.id, user = %name, "authentication failed");
            log_denial(node, session, LogReason::Auth, "AUTH".into(), name);
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

/// Takes the session's user as configured now, after ACL changes (Redis
/// applies a user's new permissions to its open connections). A user
/// deleted meanwhile leaves the connection unauthenticated and closing, as
/// Redis frees it.
fn refresh_user(node: &Node, session: &mut Session) {
    let cfg = node.config.borrow();
    if session.acl_epoch == cfg.acl_epoch {
        return;
    }
    session.acl_epoch = cfg.acl_epoch;
    match cfg.users.get(&session.user.name) {
        Some(u) => session.user = u.clone(),
        None => {
            session.user = cfg.user("default").unwrap_or_else(User::unrestricted);
            session.authenticated = false;
            session.closing = true;
        }
    }
}

/// What Redis checks after the arity and before running a command: the
/// client must be authenticated (unless the command is one of the
/// `no_auth` few: AUTH, HELLO, QUIT), and its user allowed to run the
/// command on its keys and channels.
pub fn check(
    node: &Node,
    session: &mut Session,
    cmd: &Command,
    args: &[Bytes],
) -> Result<(), Frame> {
    refresh_user(node, session);
    let auth_needed = needs_auth(node, session);
    if !auth_needed && session.user.unrestricted_access() {
        return Ok(());
    }
    if cmd.spec.flags.iter().any(|f| f == "no_auth") {
        return Ok(());
    }
    if auth_needed {
        return Err(Frame::error("NOAUTH Authentication required."));
    }
    let (full_name, denied) = match verdict(&session.user, cmd, args) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let script = session.in_script;
    let (reason, object, error) = match denied {
        Denied::Command => {
            node.count_denied(DENIED_CMD);
            let error = if script {
                "ERR The user executing the script can't run this command or subcommand".into()
            } else {
                format!("NOPERM this user has no permissions to run the '{full_name}' command")
            };
            (LogReason::Command, full_name, error)
        }
        Denied::Key(at) => {
            node.count_denied(DENIED_KEY);
            let error = if script {
                "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments"
            } else {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
            };
            (LogReason::Key, text(&args[at]), error.to_string())
        }
        Denied::Channel(at) => {
            let error = if script {
                "ERR The user executing the script can't publish to the channel mentioned in the command"
            } else {
                "NOPERM this user has no permissions to access one of the channels used as arguments"
            };
            (LogReason::Channel, text(&args[at]), error.to_string())
        }
    };
    let username = session.user.name.clone();
    log_denial(node, session, reason, object, username);
    Err(Frame::error(error))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Whether `user` may run `cmd` with `args`; if not, the command's full
/// name and what was denied.
fn verdict(user: &User, cmd: &Command, args: &[Bytes]) -> Result<(), (String, Denied)> {
    let call = CallParts::of(cmd, args);
    user.check(
        &call.full_name,
        call.no_auth,
        &call.argv,
        &call.keys,
        &call.channels,
    )
    .map_err(|d| (call.full_name, d))
}

/// Whether the session's user may run `cmd` with `args` and read every key
/// (Redis's `ACLUserCheckCmdWithUnrestrictedKeyAccess`): SORT's BY and GET
/// patterns make keys that cannot be checked one by one.
pub fn reads_every_key(session: &Session, cmd: &Command, args: &[Bytes]) -> bool {
    if session.user.unrestricted_access() {
        return true;
    }
    let call = CallParts::of(cmd, args);
    session.user.check_reading_every_key(
        &call.full_name,
        call.no_auth,
        &call.argv,
        &call.keys,
        &call.channels,
    )
}

/// A call as `crate::acl` checks it: the full name (`config|get`), the
/// arguments, the keys with what each needs, the channels.
struct CallParts<'a> {
    full_name: String,
    no_auth: bool,
    argv: Vec<&'a [u8]>,
    keys: Vec<(usize, u8)>,
    channels: Vec<(usize, bool)>,
}

impl<'a> CallParts<'a> {
    fn of(cmd: &Command, args: &'a [Bytes]) -> CallParts<'a> {
        let sub = args.get(1).and_then(|a| {
            cmd.subcommands
                .iter()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(a))
        });
        let (full_name, spec) = match sub {
            Some((name, spec)) => (format!("{}|{name}", cmd.name), spec),
            None => (cmd.name.to_string(), &cmd.spec),
        };
        CallParts {
            full_name,
            no_auth: cmd.spec.flags.iter().any(|f| f == "no_auth"),
            argv: args.iter().map(|a| a.as_ref()).collect(),
            keys: super::key_specs::keys(cmd.name, &spec.key_specs, args)
                .into_iter()
                .map(|k| (k.at, acl::key_needs(&k.flags)))
                .collect(),
            channels: acl::channels_of(cmd.name, args.len()),
        }
    }
}

/// Adds an ACL LOG entry on this core (ACL LOG merges every core's).
fn log_denial(node: &Node, session: &Session, reason: LogReason, object: String, username: String) {
    let now = crate::util::now_ms();
    let context = if session.in_script {
        "lua"
    } else if session.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    let entry = LogEntry {
        count: 1,
        reason,
        context,
        object,
        username,
        updated_ms: now,
        client_info: session.info.borrow().line(now),
    };
    let max = node.config.borrow().acllog_max_len;
    node.acl_log.borrow_mut().add(entry, max);
}

/// Every user by name, as `Config::users` holds them.
type Users = BTreeMap<String, Arc<User>>;

/// What a change of the user table decided: the new table, and the users
/// whose connections close (deleted, or replaced by ACL LOAD).
pub(super) struct NewUsers {
    users: Users,
    kill: Vec<String>,
}

/// A change decided on core 0, on its way to every core.
struct Published {
    before: Users,
    after: Users,
    epoch: u64,
    kill: Vec<String>,
}

/// Changes the user table. Core 0 orders the changes: `change` runs there
/// on its table and the result is kept there with the next `acl_epoch`,
/// so two changes from different cores never build on the same table.
/// The new table then goes to every core, which takes it unless it has a
/// newer one already, and closes the connections of `kill` and the
/// subscribers their user no longer allows, as Redis frees them; the
/// session's own connection closes after its reply. `change`'s `Err` is
/// the error reply's text.
pub(super) async fn change_users<T: Send + 'static>(
    node: &Node,
    session: &mut Session,
    change: impl FnOnce(&Users) -> Result<(Option<NewUsers>, T), String> + Send + 'static,
) -> Result<T, Frame> {
    let decided: Option<Result<(Option<Published>, T), String>> = node
        .run_on(0, move |n: &Node| {
            let mut cfg = n.config.borrow_mut();
            let (next, out) = change(&cfg.users)?;
            let published = next.map(|next| {
                cfg.acl_epoch += 1;
                Published {
                    before: std::mem::replace(&mut cfg.users, next.users.clone()),
                    after: next.users,
                    epoch: cfg.acl_epoch,
                    kill: next.kill,
                }
            });
            Ok((published, out))
        })
        .await;
    let (published, out) = match decided {
        None => return Err(super::unavailable()),
        Some(Err(e)) => return Err(Frame::error(e)),
        Some(Ok(d)) => d,
    };
    let Some(p) = published else {
        return Ok(out);
    };
    let p = Arc::new(p);
    let me = session.id;
    let killed_me = node
        .run_on_all(move |n: &Node| {
            {
                let mut cfg = n.config.borrow_mut();
                if cfg.acl_epoch < p.epoch {
                    cfg.users = p.after.clone();
                    cfg.acl_epoch = p.epoch;
                }
            }
            let doomed = subscribers_no_longer_allowed(n, &p.before, &p.after);
            let mut killed_me = false;
            for c in n.clients.borrow().connected.values() {
                let mut c = c.borrow_mut();
                if c.killed || !(p.kill.contains(&c.user) || doomed.contains(&c.id)) {
                    continue;
                }
                c.killed = true;
                if c.id == me {
                    killed_me = true;
                } else if c.fd >= 0 {
                    // SAFETY: shutdown on the client's own socket, open
                    // while it is in the list; it only ends its I/O
                    // (as CLIENT KILL does).
                    unsafe { libc::shutdown(c.fd, libc::SHUT_RDWR) };
                }
            }
            killed_me
        })
        .await
        .unwrap_or_default();
    if killed_me.into_iter().any(|k| k) {
        session.closing = true;
    }
    Ok(out)
}

/// CONFIG SET requirepass: the default user's passwords, through the same
/// ordered path as ACL SETUSER (the other settings travel on their own).
pub async fn set_default_password(node: &Node, session: &mut Session, pass: Option<String>) {
    let changed = change_users(node, session, move |users| {
        let mut users = users.clone();
        let mut default = users
            .get("default")
            .map(|u| (**u).clone())
            .unwrap_or_else(|| User::default_user(None));
        default.set_requirepass(pass.as_deref());
        users.insert("default".into(), Arc::new(default));
        Ok((
            Some(NewUsers {
                users,
                kill: Vec::new(),
            }),
            (),
        ))
    })
    .await;
    if changed.is_err() {
        tracing::warn!("CONFIG SET requirepass: the default user could not be changed");
    }
}

/// This core's subscribers whose user changed and no longer allows one of
/// their subscriptions (Redis 7.0 closes them).
fn subscribers_no_longer_allowed(
    n: &Node,
    before: &BTreeMap<String, Arc<User>>,
    after: &BTreeMap<String, Arc<User>>,
) -> Vec<u64> {
    let clients = n.clients.borrow();
    let mut doomed = Vec::new();
    for (id, name, is_pattern) in n.pubsub.borrow().subscriptions() {
        let Some(info) = clients.connected.get(&id) else {
            continue;
        };
        let user = info.borrow().user.clone();
        let (Some(old), Some(new)) = (before.get(&user), after.get(&user)) else {
            continue;
        };
        if !Arc::ptr_eq(old, new) && !new.keeps_subscription(&name, is_pattern) {
            doomed.push(id);
        }
    }
    doomed
}

fn not_configured() -> Frame {
    Frame::error("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.")
}

/// ACL SETUSER name rule...: every rule applied to a copy, all or nothing.
async fn setuser(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let name = text(&args[2]);
    if name.bytes().any(|b| b.is_ascii_whitespace() || b == 0) {
        return Frame::error("ERR Usernames can't contain spaces or null characters");
    }
    let words: Vec<String> = args[3..].iter().map(|a| text(a)).collect();
    let merged = match acl::merge_selector_args(&words) {
        Ok(m) => m,
        Err(at) => {
            return Frame::error(format!(
                "ERR Unmatched parenthesis in acl selector starting at '{}'.",
                words[at]
            ))
        }
    };
    let change = change_users(node, session, move |users| {
        let mut user = users
            .get(&name)
            .map(|u| (**u).clone())
            .unwrap_or_else(|| User::new(&name));
        for op in &merged {
            if let Err(e) = user.apply(op) {
                return Err(format!(
                    "ERR Error in ACL SETUSER modifier '{op}': {}",
                    e.text()
                ));
            }
        }
        let mut users = users.clone();
        users.insert(name, Arc::new(user));
        let kill = Vec::new();
        Ok((Some(NewUsers { users, kill }), ()))
    });
    match change.await {
        Ok(()) => Frame::OK,
        Err(e) => e,
    }
}

/// ACL DELUSER name...: the number deleted; `default` cannot be.
async fn deluser(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let names: Vec<String> = args[2..].iter().map(|a| text(a)).collect();
    if names.iter().any(|n| n == "default") {
        return Frame::error("ERR The 'default' user cannot be removed");
    }
    let change = change_users(node, session, move |users| {
        let mut users = users.clone();
        let kill: Vec<String> = names
            .into_iter()
            .filter(|n| users.remove(n).is_some())
            .collect();
        let count = kill.len() as i64;
        let next = (count > 0).then_some(NewUsers { users, kill });
        Ok((next, count))
    });
    match change.await {
        Ok(count) => Frame::Integer(count),
        Err(e) => e,
    }
}

/// ACL GETUSER name: Redis 7.0's map, or null for no such user.
fn getuser(node: &Node, name: &[u8]) -> Frame {
    let Some(u) = node.config.borrow().users.get(&text(name)).cloned() else {
        return Frame::Null;
    };
    let pair = |k: &str, v: Frame| (Frame::bulk_str(k), v);
    let (root, selectors) = u.selector_views();
    Frame::Map(vec![
        pair(
            "flags",
            Frame::Set(u.flags().into_iter().map(Frame::bulk_str).collect()),
        ),
        pair(
            "passwords",
            Frame::Array(u.password_hashes().into_iter().map(Frame::bulk).collect()),
        ),
        pair("commands", Frame::bulk(root.commands)),
        pair("keys", Frame::bulk(root.keys)),
        pair("channels", Frame::bulk(root.channels)),
        pair(
            "selectors",
            Frame::Array(
                selectors
                    .into_iter()
                    .map(|s| {
                        Frame::Map(vec![
                            pair("commands", Frame::bulk(s.commands)),
                            pair("keys", Frame::bulk(s.keys)),
                            pair("channels", Frame::bulk(s.channels)),
                        ])
                    })
                    .collect(),
            ),
        ),
    ])
}

/// ACL DRYRUN user command arg...: OK, or why the user may not run it.
fn dryrun(node: &Node, args: &[Bytes]) -> Frame {
    let name = text(&args[2]);
    let Some(user) = node.config.borrow().users.get(&name).cloned() else {
        return Frame::error(format!("ERR User '{name}' not found"));
    };
    let call = &args[3..];
    let not_found = || Frame::error(format!("ERR Command '{}' not found", text(&call[0])));
    let Some(cmd) = table().get(&call[0]) else {
        return not_found();
    };
    let (full_name, arity) = if cmd.subcommands.is_empty() || call.len() == 1 {
        (cmd.name.to_string(), cmd.spec.arity)
    } else {
        match cmd.subcommand(&call[1]) {
            Some(spec) => (
                format!("{}|{}", cmd.name, text(&call[1]).to_lowercase()),
                spec.arity,
            ),
            None => return not_found(),
        }
    };
    if !super::arity_ok(arity, call.len()) {
        return Frame::error(format!(
            "ERR wrong number of arguments for '{full_name}' command"
        ));
    }
    match verdict(&user, cmd, call) {
        Ok(()) => Frame::OK,
        Err((name, Denied::Command)) => Frame::bulk(format!(
            "This user has no permissions to run the '{name}' command"
        )),
        Err((_, Denied::Key(at))) => Frame::bulk(format!(
            "This user has no permissions to access the '{}' key",
            text(&call[at])
        )),
        Err((_, Denied::Channel(at))) => Frame::bulk(format!(
            "This user has no permissions to access the '{}' channel",
            text(&call[at])
        )),
    }
}

/// ACL GENPASS [bits]: random hex, 256 bits unless asked.
fn genpass(args: &[Bytes]) -> Frame {
    let bits = match args.get(2) {
        None => 256,
        Some(a) => match crate::util::parse_i64(a) {
            None => return super::not_integer(),
            Some(b) if b <= 0 || b as u64 > acl::GENPASS_MAX_BITS => {
                return Frame::error("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
            }
            Some(b) => b as u64,
        },
    };
    let chars = bits.div_ceil(4) as usize;
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    // SAFETY: getrandom writes at most `len` bytes into the buffer.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got != bytes.len() as isize {
        return Frame::error("ERR cannot read random bytes");
    }
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    Frame::bulk(hex)
}

/// ACL LOG [count | RESET]: every core's entries, newest first.
async fn log(node: &Node, args: &[Bytes]) -> Frame {
    if args.len() > 3 {
        return Frame::error(
            "ERR unknown subcommand or wrong number of arguments for 'log'. Try ACL HELP.",
        );
    }
    let mut count = 10i64;
    if let Some(a) = args.get(2) {
        if a.eq_ignore_ascii_case(b"reset") {
            node.run_on_all(|n: &Node| n.acl_log.borrow_mut().entries.clear())
                .await;
            return Frame::OK;
        }
        count = match crate::util::parse_i64(a) {
            Some(n) => n.max(0),
            None => return super::not_integer(),
        };
    }
    let all: Vec<LogEntry> = node
        .run_on_all(|n: &Node| {
            n.acl_log
                .borrow()
                .entries
                .iter()
                .cloned()
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default()
        .into_iter()
        .flatten()
        .collect();
    let max = node.config.borrow().acllog_max_len;
    let now = crate::util::now_ms();
    let pair = |k: &str, v: Frame| (Frame::bulk_str(k), v);
    Frame::Array(
        acl::merge_logs(all, max)
            .into_iter()
            .take(count as usize)
            .map(|e| {
                Frame::Map(vec![
                    pair("count", Frame::Integer(e.count as i64)),
                    pair("reason", Frame::bulk_str(e.reason.name())),
                    pair("context", Frame::bulk_str(e.context)),
                    pair("object", Frame::bulk(e.object)),
                    pair("username", Frame::bulk(e.username)),
                    pair(
                        "age-seconds",
                        Frame::Double(now.saturating_sub(e.updated_ms) as f64 / 1000.0),
                    ),
                    pair("client-info", Frame::bulk(e.client_info)),
                ])
            })
            .collect(),
    )
}

/// ACL SAVE: the users to the ACL file, atomically: a temporary file in
/// the same directory, fsync, rename over the old one, fsync the directory.
fn save(node: &Node) -> Frame {
    let (path, text) = {
        let cfg = node.config.borrow();
        let Some(path) = cfg.aclfile.clone() else {
            return not_configured();
        };
        (path, acl::acl_file_text(cfg.users.values()))
    };
    match crate::persistence::disk::replace_file(&path, text.as_bytes()) {
        Ok(()) => Frame::OK,
        Err(e) => {
            tracing::warn!("ACL SAVE: cannot write {}: {e}", path.display());
            Frame::error("ERR There was an error trying to save the ACLs. Please check the server logs for more information")
        }
    }
}

/// ACL LOAD: the users of the ACL file replace every user, all or nothing.
/// As Redis 7.0 does, the connections of every user but `default` are
/// closed (their users are replaced).
async fn load(node: &Node, session: &mut Session) -> Frame {
    let Some(path) = node.config.borrow().aclfile.clone() else {
        return not_configured();
    };
    let users = match crate::config::load_acl_file(&path) {
        Ok(users) => users,
        Err(e) => return Frame::error(format!("ERR {e}")),
    };
    let change = change_users(node, session, move |before| {
        let kill = before.keys().filter(|n| *n != "default").cloned().collect();
        Ok((Some(NewUsers { users, kill }), ()))
    });
    match change.await {
        Ok(()) => Frame::OK,
        Err(e) => e,
    }
}

/// ACL <subcommand> ...
pub async fn acl(node: &Node, session: &mut Session, sub: &str, args: &[Bytes]) -> Frame {
    match sub {
        "whoami" => Frame::bulk_str(&session.user.name),
        "setuser" => setuser(node, session, args).await,
        "deluser" => deluser(node, session, args).await,
        "getuser" => getuser(node, &args[2]),
        "dryrun" => dryrun(node, args),
        "genpass" if args.len() > 3 => Frame::error(
            "ERR unknown subcommand or wrong number of arguments for 'genpass'. Try ACL HELP.",
        ),
        "genpass" => genpass(args),
        "log" => log(node, args).await,
        "save" => save(node),
        "load" => load(node, session).await,
        "users" | "list" => {
            let cfg = node.config.borrow();
            Frame::Array(
                cfg.users
                    .values()
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
                for (sub, spec) in c.served_subcommands() {
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
                "DELUSER <username> [<username> ...]",
                "    Delete a list of users.",
                "DRYRUN <username> <command> [<arg> ...]",
                "    Returns whether the user can execute the given command without executing the command.",
                "GETUSER <username>",
                "    Get the user's details.",
                "GENPASS [<bits>]",
                "    Generate a secure 256-bit user password. The optional `bits` argument can",
                "    be used to specify a different size.",
                "LIST",
                "    Show users details in config file format.",
                "LOAD",
                "    Reload users from the ACL file.",
                "LOG [<count> | RESET]",
                "    Show the ACL log entries.",
                "SAVE",
                "    Save the current config to the ACL file.",
                "SETUSER <username> <attribute> [<attribute> ...]",
                "    Create or modify a user with the specified attributes.",
                "USERS",
                "    List all the registered usernames.",
                "WHOAMI",
                "    Return the current connection username.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|s| Frame::simple(*s))
            .collect(),
        ),
        _ => super::unknown_subcommand("acl", sub.as_bytes()),
    }
}
