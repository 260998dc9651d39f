//! Keeps the layering of `src/` true. Every file's imports of the crate's own
//! modules (`crate::…`, `super::…`, `ringcache::…` in main.rs; in `use` lines
//! and inline in expressions) must point down the layer table `LAYERS`, or stay
//! inside the file's own top-level module. Every top-level module must be in
//! the table. Inside one top-level module, files may not import each other in
//! a circle, except a module with the modules under it (a `mod.rs` and its own
//! submodules). The source is read as text, so this needs no build and sees
//! `#[cfg]`-gated code too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top to bottom: a module may import only modules of the layers below its
/// own (not those beside it in its own layer). Keep README.md's "Source
/// layout" and src/lib.rs in step with this table.
const LAYERS: &[&[&str]] = &[
    // The binary (CLI, start-up) and the fuzz harness's entry points.
    &["main", "fuzzing"],
    // Executors, inboxes, start-up recovery.
    &["runtime"],
    // Client connections.
    &["net"],
    // The command table, handlers, dispatch across shards.
    &["commands"],
    // What one core owns: its shard, clients, checkpoints.
    &["node"],
    // One keyspace shard and its log.
    &["shard"],
    // Files: log, snapshots, manifest.
    &["persistence"],
    // Data, and the settings (with their defaults and the enums they set).
    &["keyspace", "config"],
    // Wire format, key → slot, users and permissions, statistics.
    &["protocol", "router", "acl", "stats"],
    // Process facts: run id, resource use, shutdown flag, loading progress.
    &["process"],
    // Helpers, the counting allocator, the log subscriber.
    &["util", "alloc", "logging"],
];

/// Circles between files of one folder that are known and owned by other
/// work: each is the exact set of files in the circle, so a circle that grows
/// fails again. (None left: the aof ↔ manifest ↔ snapshot circle went with
/// persistence/disk and the segment check moving to persistence/mod.rs.)
const ALLOWED_CIRCLES: &[&[&str]] = &[];

/// One file of `src/`: where it sits in the module tree.
struct SourceFile {
    /// Path as shown in messages, e.g. `src/commands/server.rs`.
    shown: String,
    /// Module path within its crate: `["commands", "server"]`; `[]` for
    /// lib.rs and main.rs.
    module: Vec<String>,
    /// Top-level module: `commands`; `main` for the binary.
    top: String,
    /// The binary's root (imports of the library go through `ringcache::`).
    is_bin: bool,
    text: String,
}

/// One import of the crate's own modules, resolved.
struct Import {
    line: usize,
    /// The path as written (groups flattened), e.g. `crate::runtime::run_id`.
    written: String,
    /// Absolute module path from the library root: `["runtime", "run_id"]`.
    target: Vec<String>,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn load_sources() -> Vec<SourceFile> {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let rel = path.strip_prefix(&root).unwrap();
            let mut module: Vec<String> = rel
                .iter()
                .map(|c| c.to_string_lossy().into_owned())
                .collect();
            let last = module.pop().unwrap();
            let stem = last.trim_end_matches(".rs");
            let is_root = module.is_empty() && (stem == "lib" || stem == "main");
            if stem != "mod" && !is_root {
                module.push(stem.to_string());
            }
            let top = if stem == "main" && module.is_empty() {
                "main".to_string()
            } else {
                module.first().cloned().unwrap_or_default()
            };
            SourceFile {
                shown: format!("src/{}", rel.display()),
                module,
                top,
                is_bin: stem == "main" && rel.iter().count() == 1,
                text: std::fs::read_to_string(&path).unwrap(),
            }
        })
        .collect()
}

/// The source with comments, strings and character literals blanked to
/// spaces (line breaks kept, so line numbers still hold).
fn code_only(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |p| i + p);
                blank(&mut out, i, end);
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                blank(&mut out, i, j);
                i = j;
            }
            b'r' if matches!(b.get(i + 1), Some(b'"') | Some(b'#'))
                && (i == 0 || !is_ident(b[i - 1])) =>
            {
                // Raw string: r"…", r#"…"#.
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let mut close = vec![b'"'];
                close.extend(std::iter::repeat_n(b'#', hashes));
                let start = i + 2 + hashes;
                let end = b[start..]
                    .windows(close.len())
                    .position(|w| w == close.as_slice())
                    .map_or(b.len(), |p| start + p + close.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'"' => {
                let mut j = i + 1;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = (j + 1).min(b.len());
                blank(&mut out, i, end);
                i = end;
            }
            b'\'' => {
                // A character literal ('x', '\n', '\u{1F600}'), or a lifetime.
                let end = if b.get(i + 1) == Some(&b'\\') {
                    b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\'')
                        .map(|p| i + 2 + p + 1)
                } else {
                    let ch_len = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                    (b.get(i + 1 + ch_len) == Some(&b'\'')).then_some(i + 2 + ch_len)
                };
                match end {
                    Some(end) => {
                        blank(&mut out, i, end);
                        i = end;
                    }
                    None => i += 1,
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Reads the path tree at `code[*pos..]` after a `::`: idents joined by `::`,
/// `{…}` groups, `*`. Returns every leaf path (segments after the start).
fn path_tree(code: &[u8], pos: &mut usize) -> Vec<Vec<String>> {
    let skip_ws = |pos: &mut usize| {
        while *pos < code.len() && code[*pos].is_ascii_whitespace() {
            *pos += 1;
        }
    };
    skip_ws(pos);
    if code.get(*pos) == Some(&b'{') {
        *pos += 1;
        let mut leaves = Vec::new();
        loop {
            skip_ws(pos);
            match code.get(*pos) {
                None => return leaves,
                Some(b'}') => {
                    *pos += 1;
                    return leaves;
                }
                Some(b',') => *pos += 1,
                Some(_) => {
                    let before = *pos;
                    leaves.extend(path_tree(code, pos));
                    // `a as b`: skip the alias.
                    skip_ws(pos);
                    if code[*pos..].starts_with(b"as") && !is_ident(code[*pos + 2]) {
                        *pos += 2;
                        skip_ws(pos);
                        while *pos < code.len() && is_ident(code[*pos]) {
                            *pos += 1;
                        }
                    }
                    if *pos == before {
                        *pos += 1; // not a path: step over it
                    }
                }
            }
        }
    }
    if code.get(*pos) == Some(&b'*') {
        *pos += 1;
        return vec![vec!["*".to_string()]];
    }
    let start = *pos;
    while *pos < code.len() && is_ident(code[*pos]) {
        *pos += 1;
    }
    if *pos == start {
        return vec![vec![]];
    }
    let seg = String::from_utf8_lossy(&code[start..*pos]).into_owned();
    let save = *pos;
    skip_ws(pos);
    if code[*pos..].starts_with(b"::") {
        *pos += 2;
        let rest = path_tree(code, pos);
        return rest
            .into_iter()
            .map(|mut r| {
                r.insert(0, seg.clone());
                r
            })
            .collect();
    }
    *pos = save;
    vec![vec![seg]]
}

/// Every `crate::`/`super::` (and `ringcache::` in the binary) path in a
/// file, resolved to an absolute module path of the library.
fn imports(file: &SourceFile) -> Vec<Import> {
    let code = code_only(&file.text);
    let line_of = |pos: usize| code[..pos].iter().filter(|&&c| c == b'\n').count() + 1;
    let mut found = Vec::new();
    // Inline modules (`mod tests { … }`) open at a brace depth: `super::`
    // inside one starts from it, not from the file's module.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < code.len() {
        let c = code[i];
        if c == b'{' {
            depth += 1;
            i += 1;
            continue;
        }
        if c == b'}' {
            depth = depth.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            i += 1;
            continue;
        }
        if !is_ident(c) || (i > 0 && is_ident(code[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < code.len() && is_ident(code[i]) {
            i += 1;
        }
        let word = &code[start..i];
        if word == b"mod" {
            let mut j = i;
            while j < code.len() && code[j].is_ascii_whitespace() {
                j += 1;
            }
            let name_start = j;
            while j < code.len() && is_ident(code[j]) {
                j += 1;
            }
            let name = String::from_utf8_lossy(&code[name_start..j]).into_owned();
            while j < code.len() && code[j].is_ascii_whitespace() {
                j += 1;
            }
            if code.get(j) == Some(&b'{') {
                inline.push((name, depth));
                depth += 1;
                i = j + 1;
            }
            continue;
        }
        let root = match word {
            b"crate" if !file.is_bin => "crate",
            b"super" => "super",
            b"ringcache" if file.is_bin => "crate",
            _ => continue,
        };
        let mut j = i;
        while j < code.len() && code[j].is_ascii_whitespace() {
            j += 1;
        }
        if !code[j..].starts_with(b"::") {
            continue;
        }
        j += 2;
        let line = line_of(start);
        let here: Vec<String> = file
            .module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(n, _)| n.clone()))
            .collect();
        for leaf in path_tree(&code, &mut j) {
            let mut target = if root == "crate" {
                Vec::new()
            } else {
                let mut t = here.clone();
                t.pop();
                t
            };
            let mut segs = leaf.as_slice();
            while let Some(("super", rest)) = segs.split_first().map(|(s, r)| (s.as_str(), r)) {
                target.pop();
                segs = rest;
            }
            target.extend(segs.iter().filter(|s| *s != "self").cloned());
            let written = std::iter::once(if root == "crate" && file.is_bin {
                "ringcache"
            } else {
                root
            })
            .chain(leaf.iter().map(String::as_str).filter(|s| *s != "self"))
            .collect::<Vec<_>>()
            .join("::");
            found.push(Import {
                line,
                written,
                target,
            });
        }
        i = j;
    }
    found
}

/// The library's top-level modules, from `mod` lines of src/lib.rs.
fn top_modules() -> BTreeSet<String> {
    let lib = std::fs::read_to_string(src_dir().join("lib.rs")).unwrap();
    let code = String::from_utf8(code_only(&lib)).unwrap();
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The file that defines the module a path names (the longest prefix of it
/// that is a file's module).
fn defining_file<'a>(files: &'a [SourceFile], target: &[String]) -> Option<&'a SourceFile> {
    (1..=target.len()).rev().find_map(|n| {
        files
            .iter()
            .find(|f| !f.is_bin && f.module.as_slice() == &target[..n])
    })
}

#[test]
fn every_top_level_module_has_a_layer() {
    let mut modules = top_modules();
    modules.insert("main".into());
    let mut problems = Vec::new();
    for m in &modules {
        if layer_of(m).is_none() {
            problems.push(format!(
                "top-level module `{m}` is not in the layer table (tests/layering.rs LAYERS): give it a layer"
            ));
        }
    }
    for m in LAYERS.iter().flat_map(|l| l.iter()) {
        if !modules.contains(*m) {
            problems.push(format!(
                "layer table names `{m}`, which is no top-level module of src/"
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// README.md's "Source layout" table and src/lib.rs's list say the same as
/// `LAYERS`: row `n` names every module of layer `n`.
#[test]
fn readme_and_lib_rs_state_the_same_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let mut problems = Vec::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        let n = i + 1;
        // README: `| n | `main.rs` …, `runtime/` … |`.
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| {n} |")))
            .unwrap_or_default();
        // lib.rs: `//! n. `runtime`: …` and its continuation lines.
        let item: String = lib
            .lines()
            .skip_while(|l| !l.starts_with(&format!("//! {n}. ")))
            .take_while(|l| l.starts_with(&format!("//! {n}. ")) || l.starts_with("//!    "))
            .collect();
        for m in *layer {
            let in_readme = [format!("`{m}.rs`"), format!("`{m}/`")]
                .iter()
                .any(|name| row.contains(name.as_str()));
            if !in_readme {
                problems.push(format!("README.md: layer {n}'s row does not name `{m}`"));
            }
            if !item.contains(&format!("`{m}`")) {
                problems.push(format!("src/lib.rs: layer {n} does not name `{m}`"));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn no_file_imports_from_a_layer_above() {
    let files = load_sources();
    let modules = top_modules();
    let mut problems = Vec::new();
    for file in &files {
        if file.top.is_empty() {
            continue; // lib.rs: only `mod` lines
        }
        let Some(own) = layer_of(&file.top) else {
            continue; // reported by every_top_level_module_has_a_layer
        };
        for import in imports(file) {
            let Some(target) = import.target.first() else {
                continue;
            };
            if *target == file.top || !modules.contains(target) {
                continue;
            }
            let Some(theirs) = layer_of(target) else {
                continue;
            };
            if theirs <= own {
                let place = if theirs == own {
                    "its own layer"
                } else {
                    "a layer above"
                };
                problems.push(format!(
                    "{}:{}: `{}` ({}, layer {}) imports `{}` from `{}` (layer {}), {place}",
                    file.shown,
                    import.line,
                    file.top,
                    LAYERS[own].join(", "),
                    own + 1,
                    import.written,
                    target,
                    theirs + 1,
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "\n{} imports against the layers (top = layer 1):\n{}\n",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_circles_between_files_of_a_folder() {
    let files = load_sources();
    // Edges between files of one top-level module, with where they are
    // written; a module and a module under it may use each other.
    let mut edges: BTreeMap<usize, BTreeMap<usize, Vec<String>>> = BTreeMap::new();
    for (a, file) in files.iter().enumerate() {
        if file.is_bin || file.top.is_empty() {
            continue;
        }
        for import in imports(file) {
            let Some(to) = defining_file(&files, &import.target) else {
                continue;
            };
            let b = files.iter().position(|f| std::ptr::eq(f, to)).unwrap();
            let nested = to.module.starts_with(&file.module) || file.module.starts_with(&to.module);
            if a == b || to.top != file.top || nested {
                continue;
            }
            edges
                .entry(a)
                .or_default()
                .entry(b)
                .or_default()
                .push(format!(
                    "{}:{}: {}",
                    file.shown, import.line, import.written
                ));
        }
    }
    let mut problems = Vec::new();
    for circle in strongly_connected(files.len(), &edges) {
        let mut names: Vec<&str> = circle.iter().map(|&f| files[f].shown.as_str()).collect();
        names.sort_unstable();
        if ALLOWED_CIRCLES.iter().any(|allowed| {
            let mut allowed = allowed.to_vec();
            allowed.sort_unstable();
            allowed == names
        }) {
            continue;
        }
        let mut lines = vec![format!("circle between {}:", names.join(", "))];
        for &a in &circle {
            for (b, places) in edges.get(&a).into_iter().flatten() {
                if circle.contains(b) {
                    lines.extend(places.iter().map(|p| format!("  {p}")));
                }
            }
        }
        problems.push(lines.join("\n"));
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

/// Tarjan's strongly connected components with more than one node.
fn strongly_connected(
    n: usize,
    edges: &BTreeMap<usize, BTreeMap<usize, Vec<String>>>,
) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a BTreeMap<usize, BTreeMap<usize, Vec<String>>>,
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        let targets: Vec<usize> = s
            .edges
            .get(&v)
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default();
        for w in targets {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort_unstable();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The reader itself: groups, inline paths, `super::` in inline modules,
/// comments and strings ignored.
#[test]
fn import_reader_finds_what_is_written() {
    let file = SourceFile {
        shown: "src/commands/server.rs".into(),
        module: vec!["commands".into(), "server".into()],
        top: "commands".into(),
        is_bin: false,
        text: r#"
use crate::{node::Node, shard::{Ctx, Ticket as T}};
use super::{table, Command};
// crate::net::is_loopback in a comment
fn f() { let s = "crate::runtime::run_id()"; let c = '{'; let id = crate::runtime::run_id(); }
fn g<'a>(x: &'a str) -> &'a str { x }
mod tests { use super::*; use super::super::acl; }
"#
        .into(),
    };
    let got: Vec<(usize, String, String)> = imports(&file)
        .into_iter()
        .map(|i| (i.line, i.written, i.target.join("::")))
        .collect();
    let want = [
        (2, "crate::node::Node", "node::Node"),
        (2, "crate::shard::Ctx", "shard::Ctx"),
        (2, "crate::shard::Ticket", "shard::Ticket"),
        (3, "super::table", "commands::table"),
        (3, "super::Command", "commands::Command"),
        (5, "crate::runtime::run_id", "runtime::run_id"),
        (7, "super::*", "commands::server::*"),
        (7, "super::super::acl", "commands::acl"),
    ];
    let want: Vec<(usize, String, String)> = want
        .iter()
        .map(|(l, w, t)| (*l, w.to_string(), t.to_string()))
        .collect();
    assert_eq!(got, want);
}
