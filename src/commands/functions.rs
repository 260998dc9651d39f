//! FUNCTION LOAD/DELETE/FLUSH/LIST/DUMP/RESTORE/STATS/KILL, FCALL and
//! FCALL_RO (docs/scripting.md). The libraries are one process-wide
//! registry (every core sees a load at once; each core loads them into its
//! own Lua state when the registry changed), kept in `DIR/functions.rcf`,
//! rewritten whole (temporary file, fsync, rename) by every change: a
//! library loaded before a crash or a restart is there after it, whatever
//! the shard count. A function runs as a script does (`scripting`).

use super::lua::Registered;
use super::scripting::{self, Callable, Runner};
use super::{subcommand, Session};
use crate::node::Node;
use crate::protocol::Frame;
use bytes::Bytes;
use mlua::Function;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The registry's file in the data directory.
const FILE_NAME: &str = "functions.rcf";
/// First bytes of the file (and of a FUNCTION DUMP payload).
const MAGIC: &[u8] = b"RINGCACHE-FUNCTIONS 1\n";
/// Largest library code accepted.
const MAX_LIBRARY_BYTES: usize = 64 << 20;

/// A library's functions as FUNCTION LIST shows them.
struct FunctionInfo {
    name: String,
    flags: Vec<String>,
    description: Option<String>,
}

struct Library {
    code: Bytes,
    functions: Vec<FunctionInfo>,
}

#[derive(Default)]
struct Registry {
    libraries: BTreeMap<String, Library>,
    /// Where it is kept (`None`: not yet read).
    file: Option<PathBuf>,
}

static GENERATION: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// This core's functions, as of a registry generation.
    static CORE: RefCell<(u64, HashMap<String, Function>)> = RefCell::new((0, HashMap::new()));
}

fn registry(node: &Node) -> Result<MutexGuard<'static, Registry>, Frame> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    let mut reg = REGISTRY
        .get_or_init(Default::default)
        .lock()
        .map_err(|_| Frame::error("ERR function registry unavailable"))?;
    if reg.file.is_none() {
        let file = node.config.borrow().dir.join(FILE_NAME);
        if let Ok(data) = std::fs::read(&file) {
            match decode(&data) {
                Some(codes) => {
                    for code in codes {
                        if let Err(e) = add_library(&mut reg, code, true) {
                            tracing::error!("a stored function library does not load: {e:?}");
                        }
                    }
                }
                None => {
                    tracing::error!(file = %file.display(), "the functions file is damaged; it is ignored")
                }
            }
        }
        reg.file = Some(file);
        GENERATION.fetch_add(1, Ordering::SeqCst);
    }
    Ok(reg)
}

fn encode(reg: &Registry) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    for lib in reg.libraries.values() {
        out.extend_from_slice(&(lib.code.len() as u64).to_le_bytes());
        out.extend_from_slice(&lib.code);
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn decode(data: &[u8]) -> Option<Vec<Bytes>> {
    let (body, crc) = data.split_at(data.len().checked_sub(4)?);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return None;
    }
    let mut rest = body.strip_prefix(MAGIC)?;
    let mut codes = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        if len > MAX_LIBRARY_BYTES {
            return None;
        }
        let (code, tail) = tail.split_at_checked(len)?;
        codes.push(Bytes::copy_from_slice(code));
        rest = tail;
    }
    Some(codes)
}

/// Writes the registry to its file: a temporary file, synced, renamed over.
fn persist(reg: &Registry) -> Result<(), Frame> {
    use std::io::Write;
    let Some(file) = &reg.file else {
        return Ok(());
    };
    let tmp = file.with_extension("rcf.tmp");
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&encode(reg))?;
        f.sync_all()?;
        std::fs::rename(&tmp, file)?;
        if let Some(dir) = file.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| {
        tracing::error!("cannot write the functions file: {e}");
        Frame::error(format!("ERR cannot save the function libraries: {e}"))
    })
}

/// The library name of `#!lua name=<name>`, as Redis reads the first line.
fn metadata(code: &[u8]) -> Result<(String, usize), Frame> {
    if !code.starts_with(b"#!") {
        return Err(Frame::error("ERR Missing library metadata"));
    }
    let Some(end) = code.iter().position(|&b| b == b'\n') else {
        return Err(Frame::error("ERR Invalid library metadata"));
    };
    let line = String::from_utf8_lossy(&code[2..end]);
    let mut words = line.split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(Frame::error(format!("ERR Engine '{engine}' not found")));
    }
    let mut name = None;
    for w in words {
        match w.strip_prefix("name=") {
            Some(n) => name = Some(n.to_string()),
            None => {
                return Err(Frame::error(format!(
                    "ERR Invalid metadata value given: {w}"
                )))
            }
        }
    }
    let Some(name) = name else {
        return Err(Frame::error("ERR Library name was not given"));
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Frame::error("ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"));
    }
    Ok((name, end))
}

/// The code with its shebang line blanked (line numbers kept).
fn body_of(code: &[u8], shebang_end: usize) -> &[u8] {
    &code[shebang_end..]
}

/// Loads `code` into this core's Lua state to learn its functions, and adds
/// it to `reg` (replacing a library of the same name if `replace`).
fn add_library(reg: &mut Registry, code: Bytes, replace: bool) -> Result<String, Frame> {
    if code.len() > MAX_LIBRARY_BYTES {
        return Err(Frame::error("ERR library too large"));
    }
    let (name, end) = metadata(&code)?;
    if reg.libraries.contains_key(&name) && !replace {
        return Err(Frame::error(format!("ERR Library '{name}' already exists")));
    }
    let vm = scripting::core_vm()?;
    let registered = vm
        .vm
        .load_library(body_of(&code, end))
        .map_err(|e| Frame::error(format!("ERR {}", e.replace(['\r', '\n'], " "))))?;
    if registered.is_empty() {
        return Err(Frame::error("ERR No functions registered"));
    }
    for r in &registered {
        let taken = reg
            .libraries
            .iter()
            .any(|(lib, l)| *lib != name && l.functions.iter().any(|f| f.name == r.name));
        if taken {
            return Err(Frame::error(format!(
                "ERR Function {} already exists",
                r.name
            )));
        }
    }
    let functions = registered
        .into_iter()
        .map(
            |Registered {
                 name,
                 flags,
                 description,
                 ..
             }| FunctionInfo {
                name,
                flags,
                description,
            },
        )
        .collect();
    reg.libraries
        .insert(name.clone(), Library { code, functions });
    Ok(name)
}

/// This core's compiled function `name`, loading the libraries again if
/// the registry changed since.
fn core_function(reg: &Registry, name: &str) -> Result<Function, Frame> {
    let now = GENERATION.load(Ordering::SeqCst);
    let stale = CORE.with(|c| c.borrow().0 != now);
    if stale {
        let vm = scripting::core_vm()?;
        let mut all = HashMap::new();
        for lib in reg.libraries.values() {
            let Ok((_, end)) = metadata(&lib.code) else {
                continue;
            };
            if let Ok(registered) = vm.vm.load_library(body_of(&lib.code, end)) {
                all.extend(registered.into_iter().map(|r| (r.name, r.function)));
            }
        }
        CORE.with(|c| *c.borrow_mut() = (now, all));
    }
    CORE.with(|c| c.borrow().1.get(name).cloned())
        .ok_or_else(|| Frame::error("ERR Function not found"))
}

/// FCALL / FCALL_RO function numkeys key... arg...
pub(super) async fn fcall(
    node: &Node,
    runner: Runner,
    session: &mut Session,
    args: &[Bytes],
    read_only: bool,
) -> Frame {
    let numkeys = match super::scripting::numkeys(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let (function, no_writes) = {
        let reg = match registry(node) {
            Ok(r) => r,
            Err(e) => return e,
        };
        let Some(info) = reg
            .libraries
            .values()
            .flat_map(|l| &l.functions)
            .find(|f| f.name == name)
        else {
            return Frame::error("ERR Function not found");
        };
        let no_writes = info.flags.iter().any(|f| f == "no-writes");
        if read_only && !no_writes {
            return Frame::error(
                "ERR Can not execute a script with write flag using *_ro command.",
            );
        }
        match core_function(&reg, &name) {
            Ok(f) => (f, no_writes),
            Err(e) => return e,
        }
    };
    let vm = match scripting::core_vm() {
        Ok(vm) => vm,
        Err(e) => return e,
    };
    let callable = Callable {
        function,
        label: &name,
        chunk: "user_function",
        one_line: false,
        as_arguments: true,
        read_only: read_only || no_writes,
    };
    let (keys, argv) = (&args[3..3 + numkeys], &args[3 + numkeys..]);
    scripting::run_script((node, runner), session, &vm, &callable, keys, argv).await
}

const FUNCTION_HELP: &[&str] = &[
    "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
    "HELP",
    "    Prints this help.",
];

/// FUNCTION subcommands.
pub(super) async fn function(node: &Node, cmd: &super::Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    match sub.as_str() {
        "kill" => return scripting::kill(),
        "help" => return super::observe::help(FUNCTION_HELP),
        _ => {}
    }
    let mut reg = match registry(node) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let changed = |reg: &Registry| {
        GENERATION.fetch_add(1, Ordering::SeqCst);
        persist(reg)
    };
    match sub.as_str() {
        "load" => {
            let (replace, code) = match &args[2..] {
                [code] => (false, code),
                [opt, code] if super::arg_is(opt, "replace") => (true, code),
                [opt, ..] => {
                    return Frame::error(format!(
                        "ERR Unknown option given: {}",
                        String::from_utf8_lossy(opt)
                    ))
                }
                [] => return super::wrong_arity("function|load"),
            };
            match add_library(&mut reg, code.clone(), replace) {
                Ok(name) => match changed(&reg) {
                    Ok(()) => Frame::bulk(name),
                    Err(e) => e,
                },
                Err(e) => e,
            }
        }
        "delete" => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            if reg.libraries.remove(&name).is_none() {
                return Frame::error("ERR Library not found");
            }
            changed(&reg).err().unwrap_or(Frame::OK)
        }
        "flush" => {
            if let Some(mode) = args.get(2) {
                if args.len() > 3 || !(super::arg_is(mode, "async") || super::arg_is(mode, "sync"))
                {
                    return Frame::error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
                }
            }
            reg.libraries.clear();
            changed(&reg).err().unwrap_or(Frame::OK)
        }
        "list" => list(&reg, &args[2..]),
        "dump" => Frame::bulk(encode(&reg)),
        "restore" => {
            let policy = args
                .get(3)
                .map(|p| String::from_utf8_lossy(p).to_ascii_lowercase())
                .unwrap_or_else(|| "append".into());
            if !matches!(policy.as_str(), "append" | "replace" | "flush") || args.len() > 4 {
                return Frame::error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.");
            }
            let Some(codes) = decode(&args[2]) else {
                return Frame::error("ERR payload version or checksum are wrong");
            };
            let mut next = Registry {
                libraries: BTreeMap::new(),
                file: reg.file.clone(),
            };
            if policy != "flush" {
                next.libraries = std::mem::take(&mut reg.libraries);
            }
            for code in codes {
                if let Ok((name, _)) = metadata(&code) {
                    if policy == "append" && next.libraries.contains_key(&name) {
                        reg.libraries = next.libraries;
                        return Frame::error(format!("ERR Library {name} already exists"));
                    }
                }
                if let Err(e) = add_library(&mut next, code, true) {
                    reg.libraries = next.libraries;
                    return e;
                }
            }
            reg.libraries = next.libraries;
            changed(&reg).err().unwrap_or(Frame::OK)
        }
        "stats" => {
            let count = reg
                .libraries
                .values()
                .map(|l| l.functions.len())
                .sum::<usize>();
            let lua = Frame::Map(vec![
                (
                    Frame::bulk_str("libraries_count"),
                    Frame::Integer(reg.libraries.len() as i64),
                ),
                (
                    Frame::bulk_str("functions_count"),
                    Frame::Integer(count as i64),
                ),
            ]);
            let running = if scripting::script_running() {
                Frame::Map(vec![(Frame::bulk_str("name"), Frame::bulk_str("?"))])
            } else {
                Frame::Null
            };
            Frame::Map(vec![
                (Frame::bulk_str("running_script"), running),
                (
                    Frame::bulk_str("engines"),
                    Frame::Map(vec![(Frame::bulk_str("LUA"), lua)]),
                ),
            ])
        }
        _ => super::unknown_subcommand(cmd.name, &args[1]),
    }
}

/// FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE].
fn list(reg: &Registry, opts: &[Bytes]) -> Frame {
    let mut with_code = false;
    let mut pattern: Option<&Bytes> = None;
    let mut i = 0;
    while i < opts.len() {
        if super::arg_is(&opts[i], "withcode") && !with_code {
            with_code = true;
        } else if super::arg_is(&opts[i], "libraryname") && pattern.is_none() {
            let Some(p) = opts.get(i + 1) else {
                return Frame::error("ERR library name argument was not given");
            };
            pattern = Some(p);
            i += 1;
        } else {
            return Frame::error(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(&opts[i])
            ));
        }
        i += 1;
    }
    let libs = reg
        .libraries
        .iter()
        .filter(|(name, _)| {
            pattern.is_none_or(|p| crate::util::glob_match(p, name.as_bytes(), false))
        })
        .map(|(name, lib)| {
            let functions = lib
                .functions
                .iter()
                .map(|f| {
                    Frame::Map(vec![
                        (Frame::bulk_str("name"), Frame::bulk_str(&f.name)),
                        (
                            Frame::bulk_str("description"),
                            f.description
                                .as_deref()
                                .map_or(Frame::Null, Frame::bulk_str),
                        ),
                        (
                            Frame::bulk_str("flags"),
                            Frame::Set(f.flags.iter().map(|x| Frame::bulk_str(x)).collect()),
                        ),
                    ])
                })
                .collect();
            let mut fields = vec![
                (Frame::bulk_str("library_name"), Frame::bulk_str(name)),
                (Frame::bulk_str("engine"), Frame::bulk_str("LUA")),
                (Frame::bulk_str("functions"), Frame::Array(functions)),
            ];
            if with_code {
                fields.push((
                    Frame::bulk_str("library_code"),
                    Frame::Bulk(lib.code.clone()),
                ));
            }
            Frame::Map(fields)
        })
        .collect();
    Frame::Array(libs)
}
