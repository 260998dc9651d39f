//! Access control, Redis 7.0's ACL model: users with passwords (kept only as
//! SHA-256 digests), on/off, command rules (`+cmd`, `-cmd`, `+@category`,
//! `-@category`, `allcommands`, `nocommands`) and key patterns (`~pattern`,
//! `allkeys`, `resetkeys`). Every connection starts as the `default` user,
//! whose password is `requirepass` (`nopass` when none is set).
//!
//! This module is the model only and knows no command table: a command is
//! checked by its full name (`config|get`) and its ACL categories, which the
//! caller takes from the table. The commands that use it (AUTH, HELLO AUTH,
//! ACL …) and the check before every command are in `commands::acl`.

use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

/// Redis 7.0's ACL categories, in ACL CAT's order.
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

/// What one command rule names.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    /// A command (`get`), all of a container's subcommands (`config`), or
    /// one subcommand (`config|get`); lowercase.
    Command(String),
    /// A category, without its `@`.
    Category(String),
}

#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    /// Any password opens it (`nopass`).
    nopass: bool,
    /// SHA-256 digests of the passwords that open it.
    passwords: Vec<[u8; 32]>,
    /// Whether commands start allowed (`+@all`) before `rules` apply.
    all_commands: bool,
    /// `(allow, target)` in the order given; for a command the last rule
    /// that names it decides, as Redis's per-command bitmap does.
    rules: Vec<(bool, Target)>,
    /// Every key allowed (`~*`, `allkeys`).
    all_keys: bool,
    key_patterns: Vec<Vec<u8>>,
}

/// SHA-256 of a password, the only form in which one is kept.
pub fn digest(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_digest(hex: &str) -> Result<[u8; 32], String> {
    let valid = hex.len() == 64
        && hex
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c));
    if !valid {
        return Err(
            "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"
                .into(),
        );
    }
    let mut d = [0u8; 32];
    for (i, byte) in d.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string())?;
    }
    Ok(d)
}

/// Compares digests in time independent of where they differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl User {
    /// A user with nothing allowed, off and without passwords, as Redis's
    /// ACL SETUSER starts one.
    fn empty(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            passwords: Vec::new(),
            all_commands: false,
            rules: Vec::new(),
            all_keys: false,
            key_patterns: Vec::new(),
        }
    }

    /// The `default` user: everything allowed, opened by `requirepass`, or
    /// by anything when there is none.
    pub fn default_user(requirepass: Option<&str>) -> User {
        let mut u = User::empty("default");
        u.enabled = true;
        u.all_commands = true;
        u.all_keys = true;
        match requirepass {
            Some(p) => u.passwords.push(digest(p.as_bytes())),
            None => u.nopass = true,
        }
        u
    }

    /// The default user without a password, shared: what a connection is
    /// before it authenticates (its permissions are all that is read).
    pub fn unrestricted() -> Arc<User> {
        static USER: OnceLock<Arc<User>> = OnceLock::new();
        USER.get_or_init(|| Arc::new(User::default_user(None)))
            .clone()
    }

    /// A user from a rule list in Redis's ACL SETUSER syntax (`on
    /// #<sha256> ~cache:* +@read`). Passwords in clear (`>pw`) are refused:
    /// a profile is a file, and a password must not sit in one readable.
    pub fn parse(name: &str, rules: &str) -> Result<User, String> {
        let mut u = User::empty(name);
        for rule in rules.split_whitespace() {
            u.apply(rule)
                .map_err(|why| format!("Error in ACL rule '{rule}': {why}"))?;
        }
        Ok(u)
    }

    fn apply(&mut self, rule: &str) -> Result<(), String> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.key_patterns.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.key_patterns.clear();
            }
            "allcommands" | "+@all" => {
                self.all_commands = true;
                self.rules.clear();
            }
            "nocommands" | "-@all" => {
                self.all_commands = false;
                self.rules.clear();
            }
            _ => return self.apply_valued(rule, &lower),
        }
        Ok(())
    }

    /// The rules that carry a value after their first character.
    fn apply_valued(&mut self, rule: &str, lower: &str) -> Result<(), String> {
        let (sign, rest) = lower.split_at(1);
        match sign {
            "#" => {
                let d = parse_digest(&rule[1..])?;
                if !self.passwords.contains(&d) {
                    self.passwords.push(d);
                }
                self.nopass = false;
            }
            "!" => {
                let d = parse_digest(&rule[1..])?;
                self.passwords.retain(|p| p != &d);
            }
            ">" | "<" => {
                return Err(
                    "passwords in clear are not accepted here; give the SHA-256 digest as #<hex>"
                        .into(),
                )
            }
            "~" => {
                if self.all_keys {
                    return Err("Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns".into());
                }
                // Key patterns are case-sensitive: keep the rule as written.
                self.key_patterns.push(rule.as_bytes()[1..].to_vec());
            }
            "+" | "-" => {
                let allow = sign == "+";
                let target = match rest.strip_prefix('@') {
                    Some(cat) if CATEGORIES.contains(&cat) => Target::Category(cat.to_string()),
                    Some(_) => return Err("Unknown command or category name in ACL".into()),
                    None if rest.is_empty() => return Err("Syntax error".into()),
                    None => {
                        // A later rule for the same command replaces an earlier one.
                        self.rules
                            .retain(|(_, t)| !matches!(t, Target::Command(c) if c == rest));
                        Target::Command(rest.to_string())
                    }
                };
                self.rules.push((allow, target));
            }
            _ => return Err("Syntax error".into()),
        }
        Ok(())
    }

    /// The command names its rules mention, for the caller to check against
    /// the command table.
    pub fn named_commands(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().filter_map(|(_, t)| match t {
            Target::Command(c) => Some(c.as_str()),
            Target::Category(_) => None,
        })
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

    /// Whether nothing is restricted: the common case, checked first.
    pub fn unrestricted_access(&self) -> bool {
        self.all_commands && self.rules.is_empty() && self.all_keys
    }

    /// Whether the user may run the command `full_name` (`get`,
    /// `config|get`) whose categories are `categories` (`@read`, …).
    pub fn may_run(&self, full_name: &str, categories: &[String]) -> bool {
        let container = full_name.split('|').next().unwrap_or(full_name);
        let in_category = |cat: &str| categories.iter().any(|c| c.strip_prefix('@') == Some(cat));
        self.rules
            .iter()
            .rev()
            .find(|(_, t)| match t {
                Target::Command(c) => c == full_name || c == container,
                Target::Category(cat) => in_category(cat),
            })
            .map_or(self.all_commands, |(allow, _)| *allow)
    }

    /// Whether the user may touch `key`.
    pub fn may_access(&self, key: &[u8]) -> bool {
        self.all_keys
            || self
                .key_patterns
                .iter()
                .any(|p| crate::util::glob_match(p, key, false))
    }

    /// The user as ACL LIST shows it.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("user {}", self.name),
            if self.enabled { "on" } else { "off" }.to_string(),
        ];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|d| format!("#{}", hex(d))));
        if self.all_keys {
            parts.push("~*".into());
        }
        parts.extend(
            self.key_patterns
                .iter()
                .map(|p| format!("~{}", String::from_utf8_lossy(p))),
        );
        // Redis 7.0 gives the default user every channel and new users
        // none; ringcache has no pub/sub, so this is shown only.
        parts.push(
            if self.name == "default" {
                "&*"
            } else {
                "resetchannels"
            }
            .into(),
        );
        parts.push(if self.all_commands { "+@all" } else { "-@all" }.into());
        parts.extend(self.rules.iter().map(|(allow, t)| {
            let sign = if *allow { '+' } else { '-' };
            match t {
                Target::Command(c) => format!("{sign}{c}"),
                Target::Category(c) => format!("{sign}@{c}"),
            }
        }));
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW_HEX: &str = "30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4";

    #[test]
    fn rules_decide_in_order() {
        let u = User::parse("u", &format!("on #{PW_HEX} ~cache:* +@read -get")).unwrap();
        let read = vec!["@read".to_string()];
        assert!(u.opens_with(b"pw") && !u.opens_with(b"pw2"));
        assert!(u.may_run("hget", &read));
        assert!(!u.may_run("get", &read));
        assert!(!u.may_run("set", &["@write".to_string()]));
        assert!(u.may_access(b"cache:1") && !u.may_access(b"other"));
        assert_eq!(
            u.describe(),
            format!("user u on #{PW_HEX} ~cache:* resetchannels -@all +@read -get")
        );
        let c = User::parse("c", "on nopass allcommands -config +config|get allkeys").unwrap();
        assert!(c.may_run("config|get", &[]) && !c.may_run("config|set", &[]));
        assert!(!c.unrestricted_access() && c.opens_with(b"anything"));
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
        assert!(User::parse("u", "allkeys ~x")
            .unwrap_err()
            .contains("resetkeys"));
        assert!(User::parse("u", "bogus")
            .unwrap_err()
            .contains("Syntax error"));
        assert!(!User::parse("u", "off nopass").unwrap().opens_with(b""));
    }
}
