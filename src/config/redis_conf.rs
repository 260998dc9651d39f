//! A redis.conf in Redis's own syntax (`ringcache --config redis.conf`), so
//! an operator can start ringcache from the file they already have.
//!
//! Each line is a directive and its arguments, split as Redis's
//! `sdssplitargs` splits them (double quotes with `\n`, `\xHH`… escapes,
//! single quotes, `#` comments). A directive is a setting's Redis name or
//! alias: one ringcache honours is set through the same table as CONFIG
//! SET (`params`); any other of Redis 7.0's is checked, kept and reported
//! (`redis_params`). Besides: `save` lines add up as in Redis (`save ""`
//! clears), `user` defines an ACL user (as in an ACL file), `include`
//! reads another file.
//! `rename-command` and `loadmodule` are refused: ringcache has neither, and
//! a file that relies on them must not start a server that ignores them.
//! Errors name the file and the line, as Redis's do.
//!
//! `rewrite` is CONFIG REWRITE: the file is written again with the running
//! values, comments and order kept, as Redis rewrites it.

use super::{params, redis_params, Config, SetError};
use std::path::Path;

/// Largest configuration file read: directives are short lines.
const MAX_FILE_BYTES: u64 = 16 << 20;
/// Deepest `include` chain (a file including itself stops here).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Redis's built-in snapshot points, in force until the file says `save`.
const REDIS_DEFAULT_SAVE: &str = "3600 1 300 100 60 10000";

/// Applies the file at `path` to `config`.
pub fn apply(config: &mut Config, path: &Path) -> Result<(), String> {
    let mut saves: Option<Vec<String>> = None;
    read(config, path, 0, &mut saves)?;
    let save = saves.map_or_else(|| REDIS_DEFAULT_SAVE.to_string(), |s| s.join(" "));
    config
        .set("save", &save)
        .map_err(|e| format!("{}: save: {}", path.display(), why(e)))
}

fn read(
    config: &mut Config,
    path: &Path,
    depth: usize,
    saves: &mut Option<Vec<String>>,
) -> Result<(), String> {
    let shown = path.display();
    if depth > MAX_INCLUDE_DEPTH {
        return Err(format!(
            "{shown}: includes nested deeper than {MAX_INCLUDE_DEPTH}"
        ));
    }
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(format!("{shown}: larger than {MAX_FILE_BYTES} bytes"));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    for (n, line) in text.lines().enumerate() {
        let fail = |why: &str| format!("{shown}:{}: >>> '{}': {why}", n + 1, line.trim());
        // Comments and blank lines first, as Redis: a comment is not split.
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let Some(words) = split_args(trimmed) else {
            return Err(fail("Unbalanced quotes in configuration line"));
        };
        let Some((name, args)) = words.split_first() else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        match (name.as_str(), args) {
            ("include", [file]) => read(config, Path::new(file), depth + 1, saves)?,
            ("save", [v]) if v.is_empty() => *saves = Some(Vec::new()),
            ("save", _) if !args.is_empty() && args.len() % 2 == 0 => {
                saves
                    .get_or_insert_with(Vec::new)
                    .extend(args.iter().cloned());
            }
            ("user", [user, rules @ ..]) => {
                let rules: Vec<&str> = rules.iter().map(String::as_str).collect();
                let u = crate::acl::user_from_rules(user, &rules).map_err(|e| fail(&e))?;
                config.users.insert(user.clone(), std::sync::Arc::new(u));
            }
            ("rename-command" | "loadmodule", _) => {
                return Err(fail(&format!("'{name}' is not supported by ringcache")))
            }
            (_, []) => return Err(fail("Bad directive or wrong number of arguments")),
            _ => set(config, &name, &args.join(" ")).map_err(|e| fail(&e))?,
        }
    }
    Ok(())
}

/// Sets a directive: a setting ringcache honours, or one of Redis's it
/// accepts and reports.
fn set(config: &mut Config, name: &str, value: &str) -> Result<(), String> {
    if let Some(p) = params::param(name) {
        return config.set(p.name, value).map_err(why);
    }
    let p = redis_params::find(name).ok_or("Bad directive or wrong number of arguments")?;
    let value = redis_params::check(p, value)?;
    config
        .accepted
        .insert(redis_params::canonical(p.name), value);
    Ok(())
}

fn why(e: SetError) -> String {
    match e {
        SetError::Unknown => "Bad directive or wrong number of arguments".into(),
        SetError::Invalid(why) => why,
    }
}

/// A line's words as Redis's `sdssplitargs` splits them (the inline
/// protocol's splitter); `None` for unbalanced quotes.
fn split_args(line: &str) -> Option<Vec<String>> {
    let words = crate::protocol::split_args(line.as_bytes())?;
    Some(
        words
            .iter()
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect(),
    )
}

/// The directive lines of every setting a redis.conf can carry, with
/// their running values, by canonical Redis name; and whether the value is
/// Redis's default (then a file that lacks it needs no line). ACL users are
/// `user` lines, unless an ACL file keeps them.
fn running_lines(config: &Config) -> Vec<(String, Vec<String>, bool)> {
    let mut out = Vec::new();
    for p in redis_params::all() {
        if redis_params::canonical(p.name) != p.name {
            continue; // an alias: written under its canonical name
        }
        let Some(value) = config.redis_value(p) else {
            continue;
        };
        let at_default = value == p.default;
        out.push((p.name.to_string(), lines_for(p, &value), at_default));
    }
    if config.aclfile.is_none() {
        let users: Vec<String> = config
            .users
            .iter()
            .filter(|(name, _)| *name != "default")
            .map(|(_, u)| u.describe())
            .collect();
        let none = users.is_empty();
        out.push(("user".to_string(), users, none));
    }
    out
}

/// Quotes a value for a redis.conf line when it needs it.
fn quoted(value: &str) -> String {
    if !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || "\"'\\#".contains(c)) {
        return value.to_string();
    }
    let mut s = String::from("\"");
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// The directive lines for `name` = `value`, as Redis's rewrite writes
/// them: snapshot points and output-limit classes one line each, memory
/// values in the largest exact unit, several words as several arguments.
fn lines_for(p: &redis_params::RedisParam, value: &str) -> Vec<String> {
    let name = p.name;
    let words: Vec<&str> = value.split_whitespace().collect();
    match name {
        "save" if words.is_empty() => vec!["save \"\"".into()],
        "save" => words
            .chunks(2)
            .map(|pair| format!("save {}", pair.join(" ")))
            .collect(),
        "client-output-buffer-limit" => words
            .chunks(4)
            .map(|c| {
                let class = if c[0] == "slave" { "replica" } else { c[0] };
                let memory = |w: &str| w.parse().map_or(w.to_string(), memory_text);
                let limits = c[1..].iter().take(2).map(|w| memory(w)).collect::<Vec<_>>();
                format!(
                    "{name} {class} {} {}",
                    limits.join(" "),
                    c.get(3).unwrap_or(&"")
                )
            })
            .collect(),
        "bind" | "oom-score-adj-values" => vec![format!("{name} {value}")],
        _ if p.kind == redis_params::Kind::Memory => {
            let text = value.parse().map_or(value.to_string(), memory_text);
            vec![format!("{name} {text}")]
        }
        _ => vec![format!("{name} {}", quoted(value))],
    }
}

/// Bytes in the largest unit that divides them (`64mb`), as Redis writes.
fn memory_text(n: u64) -> String {
    for (unit, size) in [("gb", 1u64 << 30), ("mb", 1 << 20), ("kb", 1 << 10)] {
        if n != 0 && n.is_multiple_of(size) {
            return format!("{}{unit}", n / size);
        }
    }
    n.to_string()
}

/// CONFIG REWRITE: writes `path` again with the running values. Each
/// directive the file has is replaced where it first stands (later repeats
/// go); a setting it lacks is appended unless it is at Redis's default.
/// Comments and other lines are kept. Written to a temporary file, synced,
/// and renamed over the old one.
pub fn rewrite(config: &Config, path: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let settings = running_lines(config);
    let mut written = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let name = Some(line.trim())
            .filter(|l| !l.starts_with('#'))
            .and_then(split_args)
            .and_then(|w| w.first().map(|n| redis_params::canonical(n)));
        let setting = name.and_then(|n| settings.iter().find(|(s, _, _)| *s == n));
        match setting {
            Some((name, lines, _)) => {
                if written.insert(name.clone()) {
                    out.extend(lines.iter().cloned());
                }
            }
            None => out.push(line.to_string()),
        }
    }
    let mut first = true;
    for (name, lines, at_default) in &settings {
        if written.contains(name) || *at_default {
            continue;
        }
        if std::mem::take(&mut first) {
            out.push("# Generated by CONFIG REWRITE".into());
        }
        out.extend(lines.iter().cloned());
    }
    super::write_lines_atomically(path, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_as_redis_splits_them() {
        let s = |l: &str| split_args(l);
        assert_eq!(s("port 7000").unwrap(), ["port", "7000"]);
        assert_eq!(s("  save \"\"  ").unwrap(), ["save", ""]);
        assert_eq!(
            s("a \"x y\\n\\x41\" 'it\\'s'").unwrap(),
            ["a", "x y\nA", "it's"]
        );
        assert_eq!(s("# comment").unwrap(), ["#", "comment"]);
        assert!(s("a \"open").is_none());
        assert!(s("a \"x\"y").is_none());
        assert!(s("").unwrap().is_empty());
        assert_eq!(quoted("x y"), "\"x y\"");
        assert_eq!(quoted(""), "\"\"");
        assert_eq!(quoted("plain"), "plain");
        assert_eq!(memory_text(64 << 20), "64mb");
        assert_eq!(memory_text(1000), "1000");
        assert_eq!(memory_text(0), "0");
    }
}
