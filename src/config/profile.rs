//! Tuning profiles: `tuning/*.toml`, embedded in the binary so a clean build
//! needs no file at run time, or any TOML file an operator writes. A profile
//! is a list of settings by their CONFIG names; tables add a prefix
//! (`[executor] ring-depth` is `executor.ring-depth`, `[cores.1] accept` is
//! `cores.1.accept`). Layering: built-in defaults < profile < a redis.conf
//! (`redis_conf`) < flags.
//!
//! Errors name the file, the line and the key: the document is walked with
//! toml's spans rather than deserialized into a struct, so a bad value is
//! reported where it is written, not only an unknown key.

use super::{Config, SetError};
use std::path::Path;
use toml::de::{DeTable, DeValue};

/// The profiles shipped in the binary, by name.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("cache", include_str!("../../tuning/cache.toml")),
    ("snapshot", include_str!("../../tuning/snapshot.toml")),
    ("balanced", include_str!("../../tuning/balanced.toml")),
    ("durable", include_str!("../../tuning/durable.toml")),
];

/// The profile used when `--profile` is not given.
pub const DEFAULT: &str = "balanced";

/// A profile's text and the label its errors carry (a path, or
/// `profile 'NAME'` for a built-in one).
pub struct Source {
    pub label: String,
    pub text: String,
}

/// Finds `NAME|FILE`: a built-in name, else a file path.
pub fn source(name_or_path: &str) -> Result<Source, String> {
    if let Some((name, text)) = BUILT_IN.iter().find(|(n, _)| *n == name_or_path) {
        return Ok(Source {
            label: format!("built-in profile '{name}' (tuning/{name}.toml)"),
            text: (*text).to_string(),
        });
    }
    let names: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
    match std::fs::read_to_string(name_or_path) {
        Ok(text) => Ok(Source {
            label: name_or_path.to_string(),
            text,
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !name_or_path.contains(['/', '.']) => {
            Err(format!(
                "unknown profile '{name_or_path}': the built-in profiles are {}; or give a path to a .toml file",
                names.join(", ")
            ))
        }
        Err(e) => Err(format!("cannot read profile {name_or_path}: {e}")),
    }
}

/// One setting of a profile: its dotted key, its value as text, its line.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// Parses a profile into its settings, in file order within each table.
pub fn entries(src: &Source) -> Result<Vec<Entry>, String> {
    let doc = DeTable::parse(&src.text).map_err(|e| {
        let msg = e.to_string();
        format!("{}: {}", src.label, msg.trim_end())
    })?;
    let mut out = Vec::new();
    flatten(src, "", doc.get_ref(), &mut out)?;
    Ok(out)
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

fn flatten(
    src: &Source,
    prefix: &str,
    table: &DeTable,
    out: &mut Vec<Entry>,
) -> Result<(), String> {
    for (k, v) in table.iter() {
        let key = format!("{prefix}{}", k.get_ref());
        let line = line_of(&src.text, k.span().start);
        match v.get_ref() {
            DeValue::Table(t) => flatten(src, &format!("{key}."), t, out)?,
            value => {
                let value =
                    text_of(value).map_err(|why| format!("{}:{line}: {key}: {why}", src.label))?;
                out.push(Entry { key, value, line });
            }
        }
    }
    Ok(())
}

/// A TOML value as the text CONFIG SET would take: integers in decimal,
/// booleans as yes/no, arrays joined by spaces (`save = ["3600 1", "300
/// 100"]`, `cpus = [0, 1]`).
fn text_of(v: &DeValue) -> Result<String, String> {
    Ok(match v {
        DeValue::String(s) => s.to_string(),
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
            .map_err(|_| "integer out of range".to_string())?
            .to_string(),
        DeValue::Boolean(b) => if *b { "yes" } else { "no" }.into(),
        DeValue::Array(items) => items
            .iter()
            .map(|item| text_of(item.get_ref()))
            .collect::<Result<Vec<_>, _>>()?
            .join(" "),
        DeValue::Float(_) => {
            return Err("expected an integer, a string or a boolean, found a float".into())
        }
        DeValue::Datetime(_) => {
            return Err("expected an integer, a string or a boolean, found a date".into())
        }
        DeValue::Table(_) => return Err("a table is not a value".into()),
    })
}

/// Applies a profile's settings to `config`; the first bad one is an error
/// naming the file, the line and the key.
pub fn apply(config: &mut Config, src: &Source) -> Result<(), String> {
    for e in entries(src)? {
        config.set(&e.key, &e.value).map_err(|err| match err {
            SetError::Unknown => format!("{}:{}: unknown key '{}'", src.label, e.line, e.key),
            SetError::Invalid(why) => format!(
                "{}:{}: bad value for '{}' ({:?}): {why}",
                src.label, e.line, e.key, e.value
            ),
        })?;
    }
    Ok(())
}

/// A setting given on the command line: the flag as the operator wrote it
/// (for errors), the setting's name, its value.
pub type Override = (String, String, String);

/// The settings from built-in defaults, then the profile `name_or_path`
/// (with `conf` alone: none), then a redis.conf (`conf`, or a profile
/// named `*.conf`), then `overrides` from flags, before `Config::finish`.
pub fn layered(
    name_or_path: Option<&str>,
    conf: Option<&Path>,
    overrides: &[Override],
) -> Result<Config, String> {
    let mut config = Config::default();
    let (profile, conf) = match name_or_path {
        Some(p) if p.ends_with(".conf") && conf.is_none() => (None, Some(Path::new(p))),
        Some(p) => (Some(p), conf),
        None if conf.is_some() => (None, conf),
        None => (Some(DEFAULT), None),
    };
    if let Some(name_or_path) = profile {
        apply(&mut config, &source(name_or_path)?)?;
        config.profile = name_or_path.to_string();
        if !BUILT_IN.iter().any(|(name, _)| *name == name_or_path) {
            // A file: CONFIG REWRITE writes it.
            let path = Path::new(name_or_path);
            config.config_file = Some(std::path::absolute(path).unwrap_or_else(|_| path.into()));
        }
    }
    if let Some(path) = conf {
        super::redis_conf::apply(&mut config, path)?;
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        config.profile = path.display().to_string();
        config.config_file = Some(path);
    }
    for (flag, key, value) in overrides {
        config.set(key, value).map_err(|err| match err {
            SetError::Unknown => format!("{flag}: unknown setting '{key}'"),
            SetError::Invalid(why) => format!("{flag} {value:?}: bad value for '{key}': {why}"),
        })?;
    }
    Ok(config)
}

/// CONFIG REWRITE of a profile file: each setting it has is given its
/// running value in place (comments and layout kept); a setting it lacks
/// that differs from the built-in default is added before the first table.
/// Per-core tables (`[cores.N]`) and lines that name no setting are kept as
/// they are.
pub fn rewrite(config: &Config, path: &Path) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let defaults = Config::default();
    let running = |p: &super::Param| (p.get)(config);
    let mut written = std::collections::HashSet::new();
    let mut out: Vec<String> = Vec::new();
    let mut table = String::new();
    let mut first_table = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.split(']').next()) {
            table = format!("{}.", name.trim());
            first_table.get_or_insert(out.len());
        }
        let key = trimmed
            .split_once('=')
            .filter(|_| !trimmed.starts_with('#') && !table.starts_with("cores."))
            .map(|(k, _)| format!("{table}{}", k.trim().trim_matches('"')));
        match key.as_deref().and_then(super::params::param_exact) {
            Some(p) if written.insert(p.name) => {
                let indent = &line[..line.len() - line.trim_start().len()];
                let own = trimmed.split_once('=').map_or("", |(k, _)| k.trim_end());
                out.push(format!("{indent}{own} = {}", toml_value(&running(p))));
            }
            Some(_) => {} // a repeat: the first place holds the value
            None => out.push(line.to_string()),
        }
    }
    let added: Vec<String> = super::PARAMS
        .iter()
        .filter(|p| !written.contains(p.name) && (p.set.is_some() || p.load.is_some()))
        .filter(|p| running(p) != (p.get)(&defaults))
        .map(|p| format!("{} = {}", p.name, toml_value(&running(p))))
        .collect();
    if !added.is_empty() {
        let at = first_table.unwrap_or(out.len());
        let lines = std::iter::once("# Generated by CONFIG REWRITE".to_string()).chain(added);
        out.splice(at..at, lines);
    }
    super::write_lines_atomically(path, &out)
}

/// A running value as TOML: integers bare, yes/no as booleans, the rest a
/// string (which the profile reader takes as CONFIG SET takes it).
fn toml_value(v: &str) -> String {
    match v {
        "yes" => "true".into(),
        "no" => "false".into(),
        _ if v.parse::<i64>().is_ok() => v.into(),
        _ => {
            let mut s = String::from("\"");
            for c in v.chars() {
                match c {
                    '"' | '\\' => {
                        s.push('\\');
                        s.push(c);
                    }
                    c if c.is_control() => s.push_str(&format!("\\u{:04X}", c as u32)),
                    c => s.push(c),
                }
            }
            s.push('"');
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source {
            label: "t.toml".into(),
            text: text.into(),
        }
    }

    #[test]
    fn every_built_in_profile_loads() {
        for (name, _) in BUILT_IN {
            let c = layered(Some(name), None, &[]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(c.profile, *name);
        }
        let c = layered(None, None, &[]).unwrap();
        assert!(c.appendonly);
        assert_eq!(c.appendfsync, crate::config::Fsync::Everysec);
    }

    #[test]
    fn tables_flatten_into_dotted_keys() {
        let e = entries(&src(
            "port = 7000\nsave = [\"3600 1\", \"300 100\"]\n[executor]\nring-depth = 0x40\n[cores.1]\naccept = false\n",
        ))
        .unwrap();
        let got: Vec<(&str, &str, usize)> = e
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect();
        assert!(got.contains(&("port", "7000", 1)));
        assert!(got.contains(&("save", "3600 1 300 100", 2)));
        assert!(got.contains(&("executor.ring-depth", "64", 4)));
        assert!(got.contains(&("cores.1.accept", "no", 6)));
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let mut c = Config::default();
        let e = apply(&mut c, &src("port = 1\n[executor]\nring-dept = 4\n")).unwrap_err();
        assert_eq!(e, "t.toml:3: unknown key 'executor.ring-dept'");
        let e = apply(&mut c, &src("\nmaxmemory = \"lots\"\n")).unwrap_err();
        assert!(e.starts_with("t.toml:2: bad value for 'maxmemory'"), "{e}");
        let e = apply(&mut c, &src("hz = 1.5\n")).unwrap_err();
        assert!(e.starts_with("t.toml:1: hz: expected an integer"), "{e}");
        let e = apply(&mut c, &src("port = \n")).unwrap_err();
        assert!(e.starts_with("t.toml: TOML parse error at line 1"), "{e}");
    }
}
