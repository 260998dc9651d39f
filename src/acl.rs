//! Access control, Redis 7.0's ACL model: users with flags (on/off,
//! nopass, sanitize-payload), passwords kept only as SHA-256 digests, and
//! selectors: the root one and any added with `(...)`. A selector holds a
//! bitmap of the commands it allows (one bit per command and subcommand of
//! Redis 7.0's table, as Redis's `allowed_commands`), the first arguments
//! allowed of an otherwise denied command (`+select|0`), key patterns with
//! read/write permissions (`~p`, `%R~p`, `%W~p`) and channel patterns
//! (`&p`). A command is allowed when one selector allows the command, every
//! key and every channel.
//!
//! Rules are Redis's grammar, errors its texts, and a user is described
//! (ACL LIST, GETUSER, the ACL file) by Redis's own algorithm: `+@all` or
//! `-@all`, then the categories that fit best, then single commands.
//!
//! This module knows the command names and categories of Redis 7.0's table
//! (the embedded COMMAND output, read here too: this layer may not import
//! the command table); which keys and channels a call names is the
//! caller's to say. The commands that use it are in `commands::acl`.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

/// Redis 7.0's ACL categories, in ACL CAT's order (Redis's
/// `ACLCommandCategories`, which the description algorithm walks too).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Redis's default `acllog-max-len`.
pub const ACL_LOG_MAX_LEN_DEFAULT: usize = 128;
/// Denials of the same kind, object and user within this time are one
/// entry with a count (Redis's `ACL_LOG_GROUPING_MAX_TIME_DELTA`).
const ACL_LOG_GROUPING_MS: u64 = 60_000;
/// Most bits ACL GENPASS gives (Redis's limit).
pub const GENPASS_MAX_BITS: u64 = 4096;

/// What the embedded table says of one command or subcommand.
struct AclCommand {
    fullname: String,
    /// Bit `i` set: in `CATEGORIES[i]`.
    categories: u32,
    /// Its subcommands' ids (a container's).
    subs: Vec<usize>,
    /// A subcommand (it has a container).
    is_sub: bool,
}

/// Every command of Redis 7.0, with ids: a container before its
/// subcommands, subcommands by name.
struct Universe {
    commands: Vec<AclCommand>,
    by_name: HashMap<String, usize>,
}

/// Commands newer than 7.0 that ringcache serves (commands/mod.rs has the
/// same line): CLIENT SETINFO, sent by client libraries on connect.
const NEWER_THAN_7_0: &str = r#"["client|setinfo", 4, ["noscript", "loading", "stale"], 0, 0, 0, ["@slow", "@connection"], [], [], []]"#;

fn universe() -> &'static Universe {
    static U: OnceLock<Universe> = OnceLock::new();
    U.get_or_init(|| {
        let mut u = Universe {
            commands: Vec::new(),
            by_name: HashMap::new(),
        };
        let lines = include_str!("commands/redis-7.0-command-info.jsonl").lines();
        let mut extra: Vec<serde_json::Value> = Vec::new();
        for line in lines {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let id = u.add(&v, false);
            let mut subs: Vec<&serde_json::Value> = v[9]
                .as_array()
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            subs.sort_by_key(|s| s[0].as_str().unwrap_or_default().to_string());
            for s in subs {
                let sid = u.add(s, true);
                u.commands[id].subs.push(sid);
            }
        }
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(NEWER_THAN_7_0) {
            extra.push(v);
        }
        for v in extra {
            let name = v[0].as_str().unwrap_or_default().to_string();
            let parent = name
                .split_once('|')
                .and_then(|(c, _)| u.by_name.get(c).copied());
            if let Some(p) = parent {
                let sid = u.add(&v, true);
                u.commands[p].subs.push(sid);
            }
        }
        u
    })
}

impl Universe {
    fn add(&mut self, v: &serde_json::Value, is_sub: bool) -> usize {
        let fullname = v[0].as_str().unwrap_or_default().to_ascii_lowercase();
        let categories = v[6]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.as_str()?.strip_prefix('@'))
            .filter_map(|c| CATEGORIES.iter().position(|k| *k == c))
            .fold(0u32, |acc, i| acc | (1 << i));
        let id = self.commands.len();
        self.commands.push(AclCommand {
            fullname: fullname.clone(),
            categories,
            subs: Vec::new(),
            is_sub,
        });
        self.by_name.insert(fullname, id);
        id
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        self.by_name.get(&name.to_ascii_lowercase()).copied()
    }

    fn words(&self) -> usize {
        self.commands.len().div_ceil(64)
    }

    /// The containers, in table order (subcommands are reached from them).
    fn top_level(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.commands.len()).filter(|&i| !self.commands[i].is_sub)
    }
}

/// Why a rule was refused: Redis's errno, told by its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    /// ENOENT
    Unknown,
    /// EINVAL
    Syntax,
    /// EEXIST
    KeysAfterAll,
    /// EISDIR
    ChannelsAfterAll,
    /// ENODEV
    NoSuchPassword,
    /// EBADMSG
    BadHash,
    /// ECHILD
    FirstArgOfSub,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::Unknown => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::KeysAfterAll => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::ChannelsAfterAll => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::FirstArgOfSub => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// Key permissions of a pattern.
const READ: u8 = 1;
const WRITE: u8 = 2;

#[derive(Clone, Debug, PartialEq, Eq)]
struct KeyPattern {
    pattern: Vec<u8>,
    /// `READ`, `WRITE` or both.
    flags: u8,
}

/// One set of permissions: a user's root selector, or one in parentheses.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Selector {
    /// One bit per command id.
    allowed: Vec<u64>,
    /// Redis's reserved bit, set only by `+@all`: the description starts
    /// with `+@all`.
    future: bool,
    /// `+@all` and no command denied since (Redis's ALLCOMMANDS flag).
    all_commands: bool,
    /// First arguments allowed of an otherwise denied command, by id.
    first_args: BTreeMap<usize, Vec<String>>,
    all_keys: bool,
    patterns: Vec<KeyPattern>,
    all_channels: bool,
    channels: Vec<Vec<u8>>,
}

impl Selector {
    /// Nothing allowed (`acl-pubsub-default resetchannels`, Redis 7.0's).
    fn new() -> Selector {
        Selector {
            allowed: vec![0; universe().words()],
            future: false,
            all_commands: false,
            first_args: BTreeMap::new(),
            all_keys: false,
            patterns: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.allowed
            .get(id / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if let Some(w) = self.allowed.get_mut(id / 64) {
            if on {
                *w |= 1 << (id % 64);
            } else {
                *w &= !(1 << (id % 64));
                self.all_commands = false;
            }
        }
    }

    /// Allows or denies a command, and a container's subcommands with it.
    fn change_perm(&mut self, id: usize, on: bool) {
        self.set_bit(id, on);
        self.first_args.remove(&id);
        for &sub in &universe().commands[id].subs {
            self.set_bit(sub, on);
        }
    }

    fn change_category(&mut self, cat: usize, on: bool) {
        let u = universe();
        for id in 0..u.commands.len() {
            if u.commands[id].categories & (1 << cat) != 0 {
                self.change_perm(id, on);
            }
        }
    }

    fn set_all(&mut self, on: bool) {
        self.allowed
            .iter_mut()
            .for_each(|w| *w = if on { !0 } else { 0 });
        self.future = on;
        self.all_commands = on;
        self.first_args.clear();
    }

    /// Applies one rule (Redis's `ACLSetSelector`).
    fn apply(&mut self, op: &str) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.patterns.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.patterns.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => self.set_all(true),
            "nocommands" | "-@all" => self.set_all(false),
            _ if op.starts_with('~') || op.starts_with('%') => self.add_key_pattern(op)?,
            _ if op.starts_with('&') => {
                if self.all_channels {
                    return Err(RuleError::ChannelsAfterAll);
                }
                let pattern = &op.as_bytes()[1..];
                if has_spaces(pattern) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.iter().any(|c| c == pattern) {
                    self.channels.push(pattern.to_vec());
                }
            }
            _ if lower.starts_with("+@") || lower.starts_with("-@") => {
                let cat = CATEGORIES
                    .iter()
                    .position(|c| *c == &lower[2..])
                    .ok_or(RuleError::Unknown)?;
                self.change_category(cat, lower.starts_with('+'));
            }
            _ if lower.starts_with('+') => self.allow_command(&lower[1..])?,
            _ if lower.starts_with('-') => {
                let id = universe().lookup(&lower[1..]).ok_or(RuleError::Unknown)?;
                self.change_perm(id, false);
            }
            _ => return Err(RuleError::Syntax),
        }
        Ok(())
    }

    fn add_key_pattern(&mut self, op: &str) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::KeysAfterAll);
        }
        let bytes = op.as_bytes();
        let (flags, at) = if bytes[0] == b'%' {
            let mut flags = 0u8;
            let mut at = 1;
            loop {
                match bytes.get(at).map(u8::to_ascii_uppercase) {
                    Some(b'R') if flags & READ == 0 => flags |= READ,
                    Some(b'W') if flags & WRITE == 0 => flags |= WRITE,
                    Some(b'~') => {
                        at += 1;
                        break;
                    }
                    _ => return Err(RuleError::Syntax),
                }
                at += 1;
            }
            (flags, at)
        } else {
            (READ | WRITE, 1)
        };
        let pattern = &bytes[at..];
        if flags == 0 || has_spaces(pattern) {
            return Err(RuleError::Syntax);
        }
        match self.patterns.iter_mut().find(|p| p.pattern == pattern) {
            Some(p) => p.flags |= flags,
            None => self.patterns.push(KeyPattern {
                pattern: pattern.to_vec(),
                flags,
            }),
        }
        Ok(())
    }

    /// `+cmd`, `+container|sub`, or `+cmd|first-arg`.
    fn allow_command(&mut self, name: &str) -> Result<(), RuleError> {
        let u = universe();
        let Some((container, sub)) = name.rsplit_once('|') else {
            let id = u.lookup(name).ok_or(RuleError::Unknown)?;
            self.change_perm(id, true);
            return Ok(());
        };
        let id = u.lookup(container).ok_or(RuleError::Unknown)?;
        if u.commands[id].is_sub {
            return Err(RuleError::FirstArgOfSub);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !u.commands[id].subs.is_empty() {
            let sid = u.lookup(name).ok_or(RuleError::Unknown)?;
            self.change_perm(sid, true);
        } else {
            let args = self.first_args.entry(id).or_default();
            if !args.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                args.push(sub.to_string());
            }
        }
        Ok(())
    }

    /// Whether the command (id) may run with `first_arg`.
    fn may_run(&self, id: usize, first_arg: Option<&[u8]>) -> bool {
        self.bit(id)
            || first_arg.is_some_and(|arg| {
                self.first_args
                    .get(&id)
                    .is_some_and(|v| v.iter().any(|a| a.as_bytes().eq_ignore_ascii_case(arg)))
            })
    }

    fn may_access(&self, key: &[u8], needs: u8) -> bool {
        self.all_keys
            || self.patterns.iter().any(|p| {
                p.flags & needs == needs && crate::util::glob_match(&p.pattern, key, false)
            })
    }

    /// Whether it may read every key: `allkeys`, or the pattern `*` with
    /// read permission (`~*`, `%R~*`). Redis's
    /// `ACLSelectorHasUnrestrictedKeyAccess` for `CMD_KEY_ACCESS`.
    fn reads_every_key(&self) -> bool {
        self.all_keys
            || self
                .patterns
                .iter()
                .any(|p| p.flags & READ == READ && p.pattern == b"*")
    }

    fn may_use_channel(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|p| {
                if is_pattern {
                    p == channel
                } else {
                    crate::util::glob_match(p, channel, false)
                }
            })
    }

    /// Redis's `ACLSelectorCheckCmd`: the command, then each key, then
    /// each channel.
    fn check(&self, call: &Call<'_>) -> Result<(), Denied> {
        if !call.no_auth && !self.may_run(call.id, call.first_arg) {
            return Err(Denied::Command);
        }
        for &(at, needs) in call.keys {
            if !self.may_access(call.args[at], needs) {
                return Err(Denied::Key(at));
            }
        }
        for &(at, is_pattern) in call.channels {
            if !self.may_use_channel(call.args[at], is_pattern) {
                return Err(Denied::Channel(at));
            }
        }
        Ok(())
    }

    /// Counts the commands of category `cat` allowed and denied.
    fn count_category(&self, cat: usize) -> (u64, u64) {
        let u = universe();
        let (mut on, mut off) = (0, 0);
        for (id, c) in u.commands.iter().enumerate() {
            if c.categories & (1 << cat) != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// The command rules, as Redis's `ACLDescribeSelectorCommandRules`
    /// writes them.
    fn describe_commands(&self) -> String {
        let u = universe();
        let additive = !self.future;
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        let mut fake = Selector::new();
        fake.set_all(!additive);
        let mut temp = self.clone();
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best = None;
            let (mut mindiff, mut maxsame) = (u64::MAX, 0);
            for (j, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count_category(j);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(best) = best else { break };
            fake.change_category(best, additive);
            temp.change_category(best, !additive);
            rules.push(format!(
                "{}@{}",
                if additive { '+' } else { '-' },
                CATEGORIES[best]
            ));
            applied[best] = true;
        }
        for id in u.top_level() {
            self.describe_single(id, &mut fake, &mut rules);
        }
        rules.join(" ")
    }

    fn describe_single(&self, id: usize, fake: &mut Selector, rules: &mut Vec<String>) {
        let u = universe();
        let c = &u.commands[id];
        let mine = self.bit(id);
        if mine != fake.bit(id) {
            rules.push(format!("{}{}", if mine { '+' } else { '-' }, c.fullname));
            fake.change_perm(id, mine);
        }
        for &sub in &c.subs {
            self.describe_single(sub, fake, rules);
        }
        if !mine {
            for arg in self.first_args.get(&id).into_iter().flatten() {
                rules.push(format!("+{}|{arg}", c.fullname));
            }
        }
    }

    /// Keys as ACL LIST and GETUSER show them (`~*`, `~a %R~b`).
    fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".into();
        }
        self.patterns
            .iter()
            .map(|p| {
                let prefix = match p.flags {
                    READ => "%R~",
                    WRITE => "%W~",
                    _ => "~",
                };
                format!("{prefix}{}", String::from_utf8_lossy(&p.pattern))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Channels as GETUSER shows them (`&*`, `&a &b`, or nothing).
    fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The selector in ACL LIST's form (Redis's `ACLDescribeSelector`).
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if self.all_channels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            let channels = self.describe_channels();
            if !channels.is_empty() {
                parts.push(channels);
            }
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }
}

fn has_spaces(s: &[u8]) -> bool {
    s.iter().any(|&b| b.is_ascii_whitespace() || b == 0)
}

/// One call as the check sees it: the command's id, the argument a
/// first-arg rule looks at, where its keys and channels are.
pub struct Call<'a> {
    id: usize,
    no_auth: bool,
    first_arg: Option<&'a [u8]>,
    args: &'a [&'a [u8]],
    /// `(argument index, READ|WRITE bits it needs)`.
    keys: &'a [(usize, u8)],
    /// `(argument index, is a pattern)`.
    channels: &'a [(usize, bool)],
}

impl<'a> Call<'a> {
    /// The call of command `full_name` (`None`: no such command).
    fn new(
        full_name: &str,
        no_auth: bool,
        args: &'a [&'a [u8]],
        keys: &'a [(usize, u8)],
        channels: &'a [(usize, bool)],
    ) -> Option<Call<'a>> {
        let id = universe().lookup(full_name)?;
        let first_arg = args
            .get(if full_name.contains('|') { 2 } else { 1 })
            .copied();
        Some(Call {
            id,
            no_auth,
            first_arg,
            args,
            keys,
            channels,
        })
    }
}

/// Why a call was refused, with the argument at fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denied {
    /// Redis's order of relevance among selectors' errors.
    fn rank(self) -> (u8, usize) {
        match self {
            Denied::Command => (1, 0),
            Denied::Key(at) => (2, at),
            Denied::Channel(at) => (4, at),
        }
    }
}

/// A key's needs from its key spec's flags, as Redis's
/// `ACLSelectorCheckKey`: `access` reads, `insert`/`update`/`delete` write.
pub fn key_needs(flags: &[&str]) -> u8 {
    let mut needs = 0;
    if flags.contains(&"access") {
        needs |= READ;
    }
    if flags
        .iter()
        .any(|f| *f == "insert" || *f == "update" || *f == "delete")
    {
        needs |= WRITE;
    }
    needs
}

/// The channels a call names: `(argument index, is a pattern)` (Redis's
/// `getChannelsFromCommand`; unsubscribing is never checked).
pub fn channels_of(command: &str, argc: usize) -> Vec<(usize, bool)> {
    match command {
        "publish" | "spublish" if argc > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argc).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argc).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    /// Any password opens it (`nopass`).
    nopass: bool,
    /// `sanitize-payload` / `skip-sanitize-payload` (shown only).
    sanitize: Option<bool>,
    /// SHA-256 digests of the passwords that open it, in order given.
    passwords: Vec<[u8; 32]>,
    root: Selector,
    selectors: Vec<Selector>,
}

/// SHA-256 of a password, the only form in which one is kept.
pub fn digest(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(hex: &str) -> Result<[u8; 32], RuleError> {
    let valid = hex.len() == 64
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if !valid {
        return Err(RuleError::BadHash);
    }
    let mut d = [0u8; 32];
    for (i, byte) in d.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| RuleError::BadHash)?;
    }
    Ok(d)
}

/// Compares digests in time independent of where they differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Joins the arguments of a selector written over several words (`(~a`,
/// `+get)`) into one, as Redis's `ACLMergeSelectorArguments`; `Err` holds
/// the index of the word that opened an unclosed one.
pub fn merge_selector_args<S: AsRef<str>>(args: &[S]) -> Result<Vec<String>, usize> {
    let mut merged = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (i, a) in args.iter().enumerate() {
        let a = a.as_ref();
        if let Some((start, mut sel)) = open.take() {
            sel.push(' ');
            sel.push_str(a);
            if a.ends_with(')') {
                merged.push(sel);
            } else {
                open = Some((start, sel));
            }
            continue;
        }
        if a.starts_with('(') && !a.ends_with(')') {
            open = Some((i, a.to_string()));
            continue;
        }
        merged.push(a.to_string());
    }
    match open {
        Some((start, _)) => Err(start),
        None => Ok(merged),
    }
}

impl User {
    /// A user as ACL SETUSER creates one: off, no password, nothing allowed.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(),
            selectors: Vec::new(),
        }
    }

    /// The `default` user: everything allowed, opened by `requirepass`, or
    /// by anything when there is none.
    pub fn default_user(requirepass: Option<&str>) -> User {
        let mut u = User::new("default");
        u.enabled = true;
        u.root.set_all(true);
        u.root.all_keys = true;
        u.root.all_channels = true;
        u.set_requirepass(requirepass);
        u
    }

    /// What CONFIG SET requirepass does to the default user: `resetpass`
    /// and the password, or `nopass` when it is empty.
    pub fn set_requirepass(&mut self, requirepass: Option<&str>) {
        self.passwords.clear();
        self.nopass = false;
        match requirepass {
            Some(p) => self.passwords.push(digest(p.as_bytes())),
            None => self.nopass = true,
        }
    }

    /// The default user without a password, shared: what a connection is
    /// before its first command looks its user up.
    pub fn unrestricted() -> Arc<User> {
        static USER: OnceLock<Arc<User>> = OnceLock::new();
        USER.get_or_init(|| Arc::new(User::default_user(None)))
            .clone()
    }

    /// A user from a profile's rule list in ACL SETUSER syntax (`on
    /// #<sha256> ~cache:* &news:* +@read`). Passwords in clear (`>pw`) are
    /// refused: a profile is a file, and a password must not sit in one
    /// readable.
    pub fn parse(name: &str, rules: &str) -> Result<User, String> {
        let mut u = User::new(name);
        let words: Vec<&str> = rules.split_whitespace().collect();
        let merged = merge_selector_args(&words).map_err(|at| {
            format!(
                "Unmatched parenthesis in acl selector starting at '{}'.",
                words[at]
            )
        })?;
        for rule in merged {
            if rule.starts_with('>') || rule.starts_with('<') {
                return Err(format!(
                    "Error in ACL rule '{rule}': passwords in clear are not accepted here; give the SHA-256 digest as #<hex>"
                ));
            }
            u.apply(&rule)
                .map_err(|why| format!("Error in ACL rule '{rule}': {}", why.text()))?;
        }
        Ok(u)
    }

    /// Applies one rule (Redis's `ACLSetUser`); a selector in parentheses
    /// is one rule.
    pub fn apply(&mut self, op: &str) -> Result<(), RuleError> {
        if op.len() >= 2 && op.starts_with('(') && op.ends_with(')') {
            let mut s = Selector::new();
            for rule in op[1..op.len() - 1].split_whitespace() {
                s.apply(rule)?;
            }
            self.selectors.push(s);
            return Ok(());
        }
        match op.to_ascii_lowercase().as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "sanitize-payload" => self.sanitize = Some(true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                self.nopass = false;
                self.passwords.clear();
                self.root.apply("resetkeys")?;
                self.root.apply("resetchannels")?;
                self.enabled = false;
                self.sanitize = Some(true);
                self.selectors.clear();
                self.root.set_all(false);
            }
            _ => match op.as_bytes().first() {
                Some(b'>') => self.add_password(digest(&op.as_bytes()[1..])),
                Some(b'#') => self.add_password(parse_digest(&op[1..])?),
                Some(b'<') => self.remove_password(digest(&op.as_bytes()[1..]))?,
                Some(b'!') => self.remove_password(parse_digest(&op[1..])?)?,
                _ => self.root.apply(op)?,
            },
        }
        Ok(())
    }

    fn add_password(&mut self, d: [u8; 32]) {
        if !self.passwords.contains(&d) {
            self.passwords.push(d);
        }
        self.nopass = false;
    }

    fn remove_password(&mut self, d: [u8; 32]) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|p| p != &d);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        Ok(())
    }

    /// Whether `password` opens this user.
    pub fn opens_with(&self, password: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let d = digest(password);
        // Check every digest, so the time taken does not tell which matched.
        self.passwords
            .iter()
            .fold(false, |found, p| same_digest(p, &d) | found)
    }

    /// Whether a new connection is logged in as this user without AUTH
    /// (the default user, on and `nopass`).
    pub fn needs_no_password(&self) -> bool {
        self.enabled && self.nopass
    }

    /// Whether nothing is restricted: the common case, checked first.
    pub fn unrestricted_access(&self) -> bool {
        self.root.all_commands && self.root.all_keys && self.root.all_channels
    }

    /// Checks a call: the command `full_name` (`get`, `config|get`),
    /// `args` (the command's own name first), its keys as `(index,
    /// key_needs)` and its channels (`channels_of`). `no_auth`: a command
    /// any user may run (AUTH, HELLO, QUIT). An unknown name is refused.
    pub fn check(
        &self,
        full_name: &str,
        no_auth: bool,
        args: &[&[u8]],
        keys: &[(usize, u8)],
        channels: &[(usize, bool)],
    ) -> Result<(), Denied> {
        let Some(call) = Call::new(full_name, no_auth, args, keys, channels) else {
            return Err(Denied::Command);
        };
        let mut worst = Denied::Command;
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(&call) {
                Ok(()) => return Ok(()),
                Err(d) if d.rank() > worst.rank() => worst = d,
                Err(_) => {}
            }
        }
        Err(worst)
    }

    /// Whether one selector that allows this call (as `check` sees it) may
    /// also read every key: Redis's `ACLUserCheckCmdWithUnrestrictedKeyAccess`,
    /// which SORT asks before it accepts BY and GET patterns (the keys they
    /// make cannot be checked one by one).
    pub fn check_reading_every_key(
        &self,
        full_name: &str,
        no_auth: bool,
        args: &[&[u8]],
        keys: &[(usize, u8)],
        channels: &[(usize, bool)],
    ) -> bool {
        let Some(call) = Call::new(full_name, no_auth, args, keys, channels) else {
            return false;
        };
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.check(&call).is_ok() && s.reads_every_key())
    }

    /// Whether a subscription to `name` (a pattern, or a channel or shard
    /// channel) stays allowed: Redis 7.0 closes a subscriber whose user no
    /// longer allows one (`ACLKillPubsubClientsIfNeeded`, all selectors'
    /// channels together).
    pub fn keeps_subscription(&self, name: &[u8], is_pattern: bool) -> bool {
        std::iter::once(&self.root)
            .chain(&self.selectors)
            .any(|s| s.may_use_channel(name, is_pattern))
    }

    /// The user as ACL LIST and the ACL file show it (without `user name`).
    pub fn describe_rules(&self) -> String {
        let mut parts: Vec<String> = self.flags().into_iter().map(String::from).collect();
        parts.extend(self.passwords.iter().map(|d| format!("#{}", hex(d))));
        parts.push(self.root.describe());
        parts.extend(self.selectors.iter().map(|s| format!("({})", s.describe())));
        parts.join(" ")
    }

    /// `user <name> <rules>`, one line of ACL LIST.
    pub fn describe(&self) -> String {
        format!("user {} {}", self.name, self.describe_rules())
    }

    /// Its flags, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// The password digests, in hex.
    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(hex).collect()
    }

    /// `(commands, keys, channels)` of the root selector, then of each
    /// other one, as ACL GETUSER shows them.
    pub fn selector_views(&self) -> (SelectorView, Vec<SelectorView>) {
        let view = |s: &Selector| SelectorView {
            commands: s.describe_commands(),
            keys: s.describe_keys(),
            channels: s.describe_channels(),
        };
        (view(&self.root), self.selectors.iter().map(view).collect())
    }
}

/// One selector as ACL GETUSER shows it.
pub struct SelectorView {
    pub commands: String,
    pub keys: String,
    pub channels: String,
}

/// A user from its rules as a redis.conf `user` directive gives them
/// (passwords in clear allowed, as in Redis): Redis's error for the first
/// bad rule.
pub fn user_from_rules(name: &str, rules: &[&str]) -> Result<User, String> {
    let mut u = User::new(name);
    let merged = merge_selector_args(rules)
        .map_err(|_| "Unmatched parenthesis in selector definition.".to_string())?;
    for op in merged {
        u.apply(&op)
            .map_err(|e| format!("Error in applying operation '{op}': {}", e.text()))?;
    }
    Ok(u)
}

/// Parses an ACL file (Redis's format: `user <name> <rules...>` lines,
/// `#` comments) into its users, all or nothing; `default` is added as
/// Redis creates it when the file does not define it. Errors are Redis's,
/// prefixed with `file:line`.
pub fn parse_acl_file(text: &str, file: &str) -> Result<BTreeMap<String, Arc<User>>, String> {
    let mut users = BTreeMap::new();
    let mut errors = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words[0] != "user" || words.len() < 2 {
            errors.push_str(&format!(
                "{file}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1];
        if users.contains_key(name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {n}. "
            ));
            continue;
        }
        let mut u = User::new(name);
        let Ok(merged) = merge_selector_args(&words[2..]) else {
            errors.push_str(&format!(
                "{file}:{n}: Unmatched parenthesis in selector definition."
            ));
            continue;
        };
        let mut syntax_error = false;
        for op in merged {
            if let Err(e) = u.apply(&op) {
                if e == RuleError::Unknown {
                    errors.push_str(&format!(
                        "{file}:{n}: Error in applying operation '{op}': {}. ",
                        e.text()
                    ));
                } else if !syntax_error {
                    errors.push_str(&format!("{file}:{n}: {}. ", e.text()));
                    syntax_error = true;
                }
            }
        }
        users.insert(name.to_string(), Arc::new(u));
    }
    if !errors.is_empty() {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        return Err(errors);
    }
    users
        .entry("default".to_string())
        .or_insert_with(|| Arc::new(User::default_user(None)));
    Ok(users)
}

/// The ACL file's text for `users` (ACL SAVE), one line each by name.
pub fn acl_file_text<'a>(users: impl Iterator<Item = &'a Arc<User>>) -> String {
    let mut lines: Vec<String> = users.map(|u| u.describe()).collect();
    lines.sort();
    lines.into_iter().map(|l| l + "\n").collect()
}

/// Why an ACL LOG entry was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogReason {
    Command,
    Key,
    Channel,
    Auth,
}

impl LogReason {
    pub fn name(self) -> &'static str {
        match self {
            LogReason::Command => "command",
            LogReason::Key => "key",
            LogReason::Channel => "channel",
            LogReason::Auth => "auth",
        }
    }
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    pub reason: LogReason,
    /// `toplevel`, `multi`, `lua`.
    pub context: &'static str,
    pub object: String,
    pub username: String,
    /// When it was made or last counted again (Unix ms).
    pub updated_ms: u64,
    pub client_info: String,
}

impl LogEntry {
    fn same_kind(&self, other: &LogEntry) -> bool {
        self.reason == other.reason
            && self.context == other.context
            && self.object == other.object
            && self.username == other.username
    }
}

/// The denials one core saw, newest first, at most `max_len`.
#[derive(Default)]
pub struct AclLog {
    pub entries: std::collections::VecDeque<LogEntry>,
}

impl AclLog {
    /// Adds a denial; the same denial within a minute counts in its entry,
    /// which moves to the front (Redis's grouping).
    pub fn add(&mut self, entry: LogEntry, max_len: usize) {
        let found = self.entries.iter().position(|e| {
            e.same_kind(&entry)
                && entry.updated_ms.saturating_sub(e.updated_ms) <= ACL_LOG_GROUPING_MS
        });
        let entry = match found.and_then(|i| self.entries.remove(i)) {
            Some(mut old) => {
                old.count += 1;
                old.updated_ms = entry.updated_ms;
                old.client_info = entry.client_info;
                old
            }
            None => entry,
        };
        self.entries.push_front(entry);
        self.entries.truncate(max_len);
    }
}

/// Every core's entries as one log, newest first: an entry of the same
/// kind within the grouping time on another core counts in the newer one.
pub fn merge_logs(mut all: Vec<LogEntry>, max_len: usize) -> Vec<LogEntry> {
    all.sort_by_key(|e| std::cmp::Reverse(e.updated_ms));
    let mut out: Vec<LogEntry> = Vec::new();
    for e in all {
        match out.iter_mut().find(|o| {
            o.same_kind(&e) && o.updated_ms.saturating_sub(e.updated_ms) <= ACL_LOG_GROUPING_MS
        }) {
            Some(o) => o.count += e.count,
            None => out.push(e),
        }
    }
    out.truncate(max_len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW_HEX: &str = "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4";

    fn run(u: &User, args: &[&str], keys: &[(usize, u8)]) -> Result<(), Denied> {
        let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        let name = args[0].to_ascii_lowercase();
        u.check(&name, false, &a, keys, &channels_of(&name, a.len()))
    }

    #[test]
    fn rules_decide_in_order() {
        let u = User::parse("u", &format!("on #{PW_HEX} ~cache:* +@read -get")).unwrap();
        assert!(u.opens_with(b"pw") && !u.opens_with(b"pw2"));
        assert_eq!(run(&u, &["hget", "cache:1", "f"], &[(1, READ)]), Ok(()));
        assert_eq!(
            run(&u, &["get", "cache:1"], &[(1, READ)]),
            Err(Denied::Command)
        );
        assert_eq!(
            run(&u, &["hget", "x", "f"], &[(1, READ)]),
            Err(Denied::Key(1))
        );
        let c = User::parse("c", "on nopass allcommands -config +config|get allkeys").unwrap();
        assert_eq!(run(&c, &["config|get", "get", "x"], &[]), Ok(()));
        assert_eq!(
            run(&c, &["config|set", "set", "x", "y"], &[]),
            Err(Denied::Command)
        );
        assert!(!c.unrestricted_access() && c.opens_with(b"anything"));
    }

    #[test]
    fn described_as_redis_does() {
        let u = User::parse(
            "u",
            &format!("on #{PW_HEX} ~k* %R~r* &ch* +get +config|get -@dangerous"),
        )
        .unwrap();
        assert_eq!(
            u.describe(),
            format!("user u on #{PW_HEX} ~k* %R~r* resetchannels &ch* -@all +get")
        );
        let d = User::default_user(None);
        assert_eq!(d.describe(), "user default on nopass ~* &* +@all");
        let s = User::parse("s", "(~x* +set) (+get ~y*)").unwrap();
        assert_eq!(
            s.describe(),
            "user s off resetchannels -@all (~x* resetchannels -@all +set) (~y* resetchannels -@all +get)"
        );
        let r = User::parse("r", "on nopass +@read").unwrap();
        assert_eq!(r.describe(), "user r on nopass resetchannels -@all +@read");
    }

    #[test]
    fn read_and_write_patterns_and_channels() {
        let u = User::parse("u", "on nopass +@all %R~r:* %W~w:* &news.* ").unwrap();
        assert_eq!(run(&u, &["get", "r:1"], &[(1, READ)]), Ok(()));
        assert_eq!(
            run(&u, &["set", "r:1", "v"], &[(1, WRITE)]),
            Err(Denied::Key(1))
        );
        assert_eq!(run(&u, &["set", "w:1", "v"], &[(1, WRITE)]), Ok(()));
        assert_eq!(run(&u, &["exists", "w:1"], &[(1, 0)]), Ok(()));
        assert_eq!(run(&u, &["publish", "news.a", "m"], &[]), Ok(()));
        assert_eq!(
            run(&u, &["publish", "other", "m"], &[]),
            Err(Denied::Channel(1))
        );
        // A pattern subscription is allowed only by the same pattern.
        assert_eq!(
            run(&u, &["psubscribe", "news.a*"], &[]),
            Err(Denied::Channel(1))
        );
        let p = User::parse("p", "on nopass +@all &news.*").unwrap();
        assert_eq!(run(&p, &["psubscribe", "news.*"], &[]), Ok(()));
    }

    #[test]
    fn bad_rules_are_refused() {
        assert!(User::parse("u", ">clear").unwrap_err().contains("#<hex>"));
        assert!(User::parse("u", "#abc")
            .unwrap_err()
            .contains("64 characters"));
        assert!(User::parse("u", "+@nosuch")
            .unwrap_err()
            .contains("Unknown command or category"));
        assert!(User::parse("u", "+nosuch")
            .unwrap_err()
            .contains("Unknown command"));
        assert!(User::parse("u", "allkeys ~x")
            .unwrap_err()
            .contains("resetkeys"));
        assert!(User::parse("u", "&* &x")
            .unwrap_err()
            .contains("resetchannels"));
        assert!(User::parse("u", "bogus")
            .unwrap_err()
            .contains("Syntax error"));
        assert!(User::parse("u", "%X~a")
            .unwrap_err()
            .contains("Syntax error"));
        assert!(User::parse("u", "+acl|cat|x")
            .unwrap_err()
            .contains("first-arg"));
        assert!(User::parse("u", "(~a").unwrap_err().contains("Unmatched"));
        assert!(!User::parse("u", "off nopass").unwrap().opens_with(b""));
    }

    #[test]
    fn acl_file_round_trip() {
        let text = format!(
            "user a on #{PW_HEX} ~k* resetchannels &c -@all +get (~x resetchannels -@all +set)\nuser default on nopass ~* &* +@all\n"
        );
        let users = parse_acl_file(&text, "f.acl").unwrap();
        assert_eq!(acl_file_text(users.values()), text);
        let err = parse_acl_file("user a +nosuch\nbogus\n", "f.acl").unwrap_err();
        assert!(
            err.contains("f.acl:1: Error in applying operation '+nosuch'"),
            "{err}"
        );
        assert!(
            err.contains("f.acl:2 should start with user keyword"),
            "{err}"
        );
    }
}
