//! The Lua environment scripts run in (docs/scripting.md): one Lua 5.1
//! state per core, built as Redis 7.0 builds its own: the base, table,
//! string and math libraries, `cjson`, `cmsgpack` (`lua_msgpack`),
//! `struct` (`lua_struct`) and `bit`, the `redis` library, and
//! a sandbox (no `os`, `io`, `loadfile`, `dofile`; globals read-only, a
//! missing global an error). Also the conversions between replies and Lua
//! values, both ways, with Redis's rules.

use crate::protocol::Frame;
use bytes::Bytes;
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};
use std::borrow::Cow;

/// Memory one core's Lua state may use: a script that builds tables past
/// it fails with an error instead of growing the process.
pub const LUA_MEMORY_LIMIT_BYTES: usize = 512 << 20;
/// Lua's collector starts a cycle once the heap reaches this percentage
/// of what the last cycle left live (Lua's default is 200). The live heap
/// is small (the libraries, the sandbox, compiled scripts) and each script
/// leaves a little garbage (its KEYS, ARGV, replies), so at 200 a cycle,
/// which marks the whole live heap, comes every few hundred scripts: 8% of
/// a short EVALSHA's time. At 400 a third of that work goes, for a heap
/// at most four times the live one.
const LUA_GC_PAUSE_PERCENT: i32 = 400;
/// Nesting a reply may have (Redis stops at its Lua stack limit).
pub const MAX_REPLY_DEPTH: usize = 1000;
/// The marker `error()` puts before the `err` field of an error table, so
/// the message survives the trip through mlua's string conversion.
pub const ERROR_TABLE_MARKER: &str = "\u{1}RINGCACHE_ERR\u{1}";

/// The part of the sandbox written in Lua: read-only library tables, the
/// script environment (`ENV`) whose missing globals are errors and whose
/// writes are refused, `error` keeping error tables' messages.
const SANDBOX: &str = r#"
local G, marker, wait = ...
local rawget, setmetatable, error, type, tostring, getmetatable, setfenv =
      rawget, setmetatable, error, type, tostring, getmetatable, setfenv
local function refuse() error("Attempt to modify a readonly table", 2) end
local function readonly(t)
  return setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
end
local errmt = {__tostring = function(e) return marker .. tostring(rawget(e, "err")) end}
local real_error = error
G.error = function(e, level)
  if type(e) == "table" and getmetatable(e) == nil and type(rawget(e, "err")) == "string" then
    setmetatable(e, errmt)
  end
  if level == 0 then real_error(e, 0) end
  real_error(e, (level or 1) + 1)
end
-- redis.pcall runs a command at once when it can (a plain function call,
-- no coroutine machinery); a command under way on another core is awaited
-- (`wait` yields the script's coroutine until its reply comes).
local run_now, real_setresp = G.redis.pcall, G.redis.setresp
local function real_pcall(...)
  local r, waiting = run_now(...)
  if waiting then return wait() end
  return r
end
G.redis.pcall = real_pcall
-- redis.pcall answers an error as a table {err = ...}; redis.call raises
-- it (a command's reply is never a table with `err` otherwise), as does
-- redis.setresp with a bad version.
G.redis.call = function(...)
  local r = real_pcall(...)
  if type(r) == "table" and rawget(r, "err") ~= nil then
    real_error(setmetatable(r, errmt), 0)
  end
  return r
end
G.redis.setresp = function(v)
  local e = real_setresp(v)
  if e then real_error(setmetatable({err = e}, errmt), 0) end
end
for _, name in ipairs({"redis", "string", "table", "math", "cjson", "cmsgpack", "struct", "bit"}) do
  G[name] = readonly(G[name])
end
-- A script's globals read through to the real ones (a table: no Lua call
-- per global read); a name missing there is the error, from the real
-- globals' own metatable (set last, once this chunk needs no more globals).
local ENV = setmetatable({}, {
  __index = G,
  __newindex = refuse,
  __metatable = false,
})
local function missing_global(_, k)
  real_error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
-- pcall and xpcall as coroutines, so that a redis.call inside them may
-- wait for another core (Lua 5.1 cannot yield across a C pcall); an error
-- table is answered by its `err` message, as Redis 7.0's pcall does.
local co_create, co_resume, co_status, co_yield =
      coroutine.create, coroutine.resume, coroutine.status, coroutine.yield
local function run(co, ok, ...)
  if not ok then return false, ... end
  if co_status(co) == "dead" then return true, ... end
  return run(co, co_resume(co, co_yield(...)))
end
local function err_message(ok, e, ...)
  if not ok and type(e) == "table" and type(rawget(e, "err")) == "string" then
    return false, rawget(e, "err")
  end
  return ok, e, ...
end
G.pcall = function(f, ...)
  if type(f) ~= "function" then return false, "attempt to call a " .. type(f) .. " value" end
  local co = co_create(f)
  return err_message(run(co, co_resume(co, ...)))
end
G.xpcall = function(f, handler)
  if type(f) ~= "function" then return false, handler("attempt to call a " .. type(f) .. " value") end
  local co = co_create(f)
  local function finish(ok, ...)
    if ok then return true, ... end
    return false, handler(...)
  end
  return finish(run(co, co_resume(co)))
end
local real_loadstring = loadstring
G.loadstring = function(s, name)
  local f, err = real_loadstring(s, name)
  if f then setfenv(f, ENV) end
  return f, err
end
G._G = ENV
-- A function library's environment (FUNCTION LOAD): while it loads, its
-- `redis` has register_function and log only; afterwards the functions it
-- registered see the whole library.
local real_redis = G.redis
local function library_env(register)
  local loading = true
  local lib_redis = setmetatable({}, {
    __index = function(_, k)
      if k == "register_function" then
        if loading then return register end
      elseif not loading or k == "log" or k == "setresp" or string.sub(k, 1, 4) == "LOG_" then
        return real_redis[k]
      end
      real_error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end,
    __newindex = refuse, __metatable = false,
  })
  local env = setmetatable({}, {
    __index = function(_, k) if k == "redis" then return lib_redis end return ENV[k] end,
    __newindex = refuse, __metatable = false,
  })
  return env, function() loading = false end
end
setmetatable(G, {__index = missing_global, __metatable = false})
return ENV, library_env
"#;

/// While alive, the Lua state has no memory limit. With a limit, mlua makes
/// every value Rust hands to Lua (a string, a table, a field set) in a
/// protected call of its own (a new C closure and a `lua_pcall` each, in
/// Lua 5.1): that was most of a short script's time. Held only around the
/// conversions of a script's arguments and of command replies, whose sizes
/// the request and reply limits bound; never while Lua code runs (it stays
/// under `LUA_MEMORY_LIMIT_BYTES`) and never across an await (another task
/// may use the state meanwhile).
pub struct Unlimited<'a> {
    lua: &'a Lua,
    previous: usize,
}

impl<'a> Unlimited<'a> {
    pub fn new(lua: &'a Lua) -> Unlimited<'a> {
        let previous = lua.set_memory_limit(0).unwrap_or(LUA_MEMORY_LIMIT_BYTES);
        Unlimited { lua, previous }
    }
}

impl Drop for Unlimited<'_> {
    fn drop(&mut self) {
        let _ = self.lua.set_memory_limit(self.previous);
    }
}

/// One core's Lua state and the script environment in it.
pub struct Vm {
    pub lua: Lua,
    /// What scripts see as their globals (reads fall through to the real
    /// globals, writes are refused).
    pub env: Table,
    /// The real globals, where KEYS and ARGV are set for each run.
    pub globals: Table,
    /// Makes a function library's environment (`load_library`).
    library_env: Function,
}

/// A function a library registered: its name, flags and description, and
/// the Lua function.
pub struct Registered {
    pub name: String,
    pub flags: Vec<String>,
    pub description: Option<String>,
    pub function: Function,
}

/// The functions of the `redis` library that run commands (built by
/// `scripting`, which knows how to run them).
pub struct CallFns {
    /// Runs a command, at once when it can: its reply (a command's error
    /// as `{err = ...}`) and `false`; or `nil, true` when the command is
    /// under way (on another core): `wait` then awaits its reply.
    pub pcall: Function,
    /// Awaits the command `pcall` left under way (an async function: the
    /// script's coroutine yields until the reply comes).
    pub wait: Function,
    /// Sets the protocol; an error message back if the version is wrong.
    pub setresp: Function,
}

impl Vm {
    pub fn new(make_calls: impl FnOnce(&Lua) -> mlua::Result<CallFns>) -> mlua::Result<Vm> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::default(),
        )?;
        lua.set_memory_limit(LUA_MEMORY_LIMIT_BYTES)?;
        lua.gc_set_mode(mlua::state::GcMode::Incremental(
            mlua::state::GcIncParams::default().pause(LUA_GC_PAUSE_PERCENT),
        ));
        let globals = lua.globals();
        for name in [
            "dofile",
            "loadfile",
            "require",
            "module",
            "getfenv",
            "load",
            "gcinfo",
            "newproxy",
            "collectgarbage",
        ] {
            globals.raw_set(name, Value::Nil)?;
        }
        globals.raw_set("print", lua.create_function(|_, ()| Ok(()))?)?;
        let calls = make_calls(&lua)?;
        let wait = calls.wait.clone();
        globals.raw_set("redis", redis_library(&lua, calls)?)?;
        globals.raw_set("cjson", cjson_library(&lua)?)?;
        globals.raw_set("cmsgpack", super::lua_msgpack::library(&lua)?)?;
        globals.raw_set("struct", super::lua_struct::library(&lua)?)?;
        globals.raw_set("bit", bit_library(&lua)?)?;
        let sandbox: Function = lua.load(SANDBOX).set_name("=sandbox").into_function()?;
        let (env, library_env): (Table, Function) =
            sandbox.call((globals.clone(), ERROR_TABLE_MARKER, wait))?;
        Ok(Vm {
            lua,
            env,
            globals,
            library_env,
        })
    }

    /// Compiles a script's body as Redis does (chunk `@user_script`, run in
    /// the sandbox). `Err`: Lua's message.
    pub fn compile(&self, body: &[u8], chunk: &str) -> Result<Function, String> {
        self.lua
            .load(body)
            .set_name(chunk)
            .set_environment(self.env.clone())
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })
    }
}

impl Vm {
    /// Runs a function library's code (its shebang line already blanked)
    /// and returns what it registered, or Redis's error text.
    pub fn load_library(&self, code: &[u8]) -> Result<Vec<Registered>, String> {
        use std::cell::RefCell;
        use std::rc::Rc;
        let found: Rc<RefCell<Vec<Registered>>> = Rc::default();
        let into = found.clone();
        let lua_err = |e: mlua::Error| e.to_string();
        let register = self
            .lua
            .create_function(move |_, args: mlua::Variadic<Value>| {
                let r = registration(&args).map_err(mlua::Error::runtime)?;
                if into.borrow().iter().any(|f| f.name == r.name) {
                    return Err(mlua::Error::runtime(format!(
                        "Function {} already exists",
                        r.name
                    )));
                }
                into.borrow_mut().push(r);
                Ok(())
            })
            .map_err(lua_err)?;
        let (env, done): (Table, Function) = self.library_env.call(register).map_err(lua_err)?;
        let chunk = self
            .lua
            .load(code)
            .set_name("@user_function")
            .set_environment(env)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                other => other.to_string(),
            })?;
        let ran = chunk.call::<()>(());
        let _ = done.call::<()>(());
        ran.map_err(|e| {
            let text = match &e {
                mlua::Error::CallbackError { cause, .. } => cause.to_string(),
                other => other.to_string(),
            };
            let head = text.split("\nstack traceback:").next().unwrap_or_default();
            let head = head.strip_prefix("runtime error: ").unwrap_or(head);
            format!("Error registering functions: ERR {head}")
        })?;
        let registered = std::mem::take(&mut *found.borrow_mut());
        Ok(registered)
    }
}

/// redis.register_function(name, callback) or
/// redis.register_function{function_name=..., callback=..., flags=..., description=...}.
fn registration(args: &[Value]) -> Result<Registered, String> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.to_string_lossy()),
        _ => None,
    };
    let (name, function, flags, description) = match args {
        [Value::String(name), Value::Function(f)] => {
            (name.to_string_lossy(), f.clone(), Vec::new(), None)
        }
        [Value::Table(t)] => {
            let name = text(&field(t, "function_name")).ok_or(
                "function_name argument given to redis.register_function must be a string",
            )?;
            let Value::Function(f) = field(t, "callback") else {
                return Err(
                    "callback argument given to redis.register_function must be a function".into(),
                );
            };
            let flags = match field(t, "flags") {
                Value::Table(fl) => fl
                    .sequence_values::<Value>()
                    .filter_map(Result::ok)
                    .filter_map(|v| text(&v))
                    .collect(),
                Value::Nil => Vec::new(),
                _ => return Err("flags argument to redis.register_function must be a table representing function flags".into()),
            };
            for flag in &flags {
                if !matches!(
                    flag.as_str(),
                    "no-writes"
                        | "allow-oom"
                        | "allow-stale"
                        | "no-cluster"
                        | "allow-cross-slot-keys"
                ) {
                    return Err("unknown flag given".into());
                }
            }
            (name, f, flags, text(&field(t, "description")))
        }
        _ => return Err("wrong number of arguments to redis.register_function".into()),
    };
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err("Library names can only contain letters, numbers, or underscores(_) and must be at least one character long".replace("Library", "Function"));
    }
    Ok(Registered {
        name,
        flags,
        description,
        function,
    })
}

fn redis_library(lua: &Lua, calls: CallFns) -> mlua::Result<Table> {
    let redis = lua.create_table()?;
    redis.raw_set("pcall", calls.pcall)?;
    redis.raw_set("setresp", calls.setresp)?;
    redis.raw_set(
        "error_reply",
        lua.create_function(|lua, v: Value| {
            let Value::String(s) = v else {
                return Err(mlua::Error::runtime("wrong number or type of arguments"));
            };
            // Redis puts the '-' in front, then reads `-CODE msg`.
            let bytes = s.as_bytes();
            let dashed = if bytes.starts_with(b"-") {
                bytes.to_vec()
            } else {
                [b"-".as_slice(), &bytes].concat()
            };
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(error_text(&dashed))?)?;
            Ok(t)
        })?,
    )?;
    redis.raw_set(
        "status_reply",
        lua.create_function(|lua, v: Value| {
            let Value::String(s) = v else {
                return Err(mlua::Error::runtime("wrong number or type of arguments"));
            };
            let t = lua.create_table()?;
            t.raw_set("ok", s)?;
            Ok(t)
        })?,
    )?;
    redis.raw_set(
        "sha1hex",
        lua.create_function(|_, v: Value| match v {
            Value::String(s) => Ok(sha1_hex(&s.as_bytes())),
            Value::Integer(_) | Value::Number(_) => {
                Ok(sha1_hex(number_text(&v).unwrap_or_default().as_bytes()))
            }
            _ => Err(mlua::Error::runtime("wrong number of arguments")),
        })?,
    )?;
    // redis.log(level, ...): accepted; written to the server's log at debug.
    redis.raw_set(
        "log",
        lua.create_function(|_, args: mlua::Variadic<Value>| {
            if args.len() < 2 {
                return Err(mlua::Error::runtime(
                    "redis.log() requires two arguments or more.",
                ));
            }
            tracing::debug!(target: "script", "{:?}", args.get(1));
            Ok(())
        })?,
    )?;
    for (name, level) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
    ] {
        redis.raw_set(name, level)?;
    }
    // Effects are always what is logged: replication settings are accepted.
    redis.raw_set("set_repl", lua.create_function(|_, _: Value| Ok(()))?)?;
    redis.raw_set("replicate_commands", lua.create_function(|_, ()| Ok(true))?)?;
    redis.raw_set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    redis.raw_set(
        "debug",
        lua.create_function(|_, _: mlua::Variadic<Value>| Ok(()))?,
    )?;
    for (name, v) in [
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        redis.raw_set(name, v)?;
    }
    let version = super::server::REDIS_VERSION;
    redis.raw_set("REDIS_VERSION", version)?;
    let num = version
        .split('.')
        .fold(0i64, |acc, p| (acc << 8) | p.parse::<i64>().unwrap_or(0));
    redis.raw_set("REDIS_VERSION_NUM", num)?;
    Ok(redis)
}

/// An error message as Redis keeps it in a Lua error table: `-CODE msg`
/// becomes `CODE msg` (`ERR msg` without a space), `msg` becomes `ERR msg`.
pub fn error_text(msg: &[u8]) -> Vec<u8> {
    let trimmed = {
        let mut m = msg;
        while let Some(rest) = m.strip_suffix(b"\n").or_else(|| m.strip_suffix(b"\r")) {
            m = rest;
        }
        m
    };
    match trimmed.strip_prefix(b"-") {
        Some(rest) if rest.contains(&b' ') => rest.to_vec(),
        Some(rest) => [b"ERR ".as_slice(), rest].concat(),
        None => [b"ERR ".as_slice(), trimmed].concat(),
    }
}

pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(data);
    let mut out = String::with_capacity(40);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// A number as a command argument, as Redis writes it (`%.17g`: `3`,
/// `0.10000000000000001`).
pub fn number_text(v: &Value) -> Option<String> {
    match v {
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(crate::util::format_double(*n)),
        _ => None,
    }
}

/// A command's reply as a Lua value, for a script speaking RESP2 (`resp3`
/// false) or RESP3, as Redis 7.0 converts it.
pub fn frame_to_lua(lua: &Lua, frame: &Frame, resp3: bool) -> mlua::Result<Value> {
    let table_with = |field: &str, v: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(field, v)?;
        Ok(Value::Table(t))
    };
    let string = |b: &[u8]| -> mlua::Result<Value> { Ok(Value::String(lua.create_string(b)?)) };
    let list = |items: &mut dyn Iterator<Item = &Frame>| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        for (i, f) in items.enumerate() {
            t.raw_set(i + 1, frame_to_lua(lua, f, resp3)?)?;
        }
        Ok(Value::Table(t))
    };
    Ok(match frame {
        Frame::Simple(s) => table_with("ok", string(s.as_bytes())?)?,
        Frame::Error(s) => table_with("err", string(s.as_bytes())?)?,
        Frame::Integer(n) => Value::Number(*n as f64),
        Frame::Bulk(b) => string(b)?,
        Frame::Null | Frame::NullArray if resp3 => Value::Nil,
        Frame::Null | Frame::NullArray => Value::Boolean(false),
        Frame::Array(items) | Frame::Push(items) | Frame::Many(items) => list(&mut items.iter())?,
        Frame::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for f in items {
                set.raw_set(frame_to_lua(lua, f, resp3)?, true)?;
            }
            table_with("set", Value::Table(set))?
        }
        Frame::Set(items) => list(&mut items.iter())?,
        Frame::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
            }
            table_with("map", Value::Table(map))?
        }
        Frame::Pairs(pairs) if resp3 => {
            let t = lua.create_table()?;
            for (i, (a, b)) in pairs.iter().enumerate() {
                let pair = lua.create_table()?;
                pair.raw_set(1, frame_to_lua(lua, a, resp3)?)?;
                pair.raw_set(2, frame_to_lua(lua, b, resp3)?)?;
                t.raw_set(i + 1, pair)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) | Frame::Pairs(pairs) => {
            list(&mut pairs.iter().flat_map(|(a, b)| [a, b]))?
        }
        Frame::Double(d) if resp3 => table_with("double", Value::Number(*d))?,
        Frame::Double(d) => string(crate::util::format_double(*d).as_bytes())?,
        Frame::HumanDouble(d) if resp3 => table_with("double", Value::Number(*d))?,
        Frame::HumanDouble(d) => string(crate::protocol::format_human_double(*d).as_bytes())?,
        Frame::Verbatim(text) if resp3 => {
            let v = lua.create_table()?;
            v.raw_set("format", "txt")?;
            v.raw_set("string", lua.create_string(text)?)?;
            table_with("verbatim_string", Value::Table(v))?
        }
        Frame::Verbatim(text) => string(text.as_bytes())?,
        Frame::Bool(b) if resp3 => Value::Boolean(*b),
        Frame::Bool(b) => Value::Number(*b as i64 as f64),
    })
}

/// A script's result as a reply, as Redis 7.0 converts it (`resp3`: the
/// script called `redis.setresp(3)`).
pub fn lua_to_frame(v: &Value, resp3: bool, depth: usize) -> Frame {
    if depth > MAX_REPLY_DEPTH {
        return Frame::error("ERR reached lua stack limit");
    }
    match v {
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Boolean(b) if resp3 => Frame::Bool(*b),
        Value::Boolean(true) => Frame::Integer(1),
        Value::Boolean(false) => Frame::Null,
        Value::Integer(i) => Frame::Integer(*i),
        Value::Number(n) => Frame::Integer(truncate(*n)),
        Value::Table(t) => table_to_frame(t, resp3, depth),
        _ => Frame::Null,
    }
}

/// C's `(long long)` of a double: toward zero, saturating.
fn truncate(n: f64) -> i64 {
    n as i64
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get::<Value>(name).unwrap_or(Value::Nil)
}

fn table_to_frame(t: &Table, resp3: bool, depth: usize) -> Frame {
    if let Value::String(s) = field(t, "err") {
        return Frame::Error(Cow::Owned(one_line(&s.as_bytes())));
    }
    if let Value::String(s) = field(t, "ok") {
        return Frame::Simple(Cow::Owned(one_line(&s.as_bytes())));
    }
    // RESP3 types, whatever the script's protocol (encoded for the
    // caller's: a RESP2 client gets a bulk string, an array).
    {
        match field(t, "double") {
            Value::Number(n) => return Frame::Double(n),
            Value::Integer(i) => return Frame::Double(i as f64),
            _ => {}
        }
        if let Value::Table(m) = field(t, "map") {
            let pairs = m
                .pairs::<Value, Value>()
                .filter_map(Result::ok)
                .map(|(k, v)| {
                    (
                        lua_to_frame(&k, resp3, depth + 1),
                        lua_to_frame(&v, resp3, depth + 1),
                    )
                })
                .collect();
            return Frame::Map(pairs);
        }
        if let Value::Table(s) = field(t, "set") {
            let items = s
                .pairs::<Value, Value>()
                .filter_map(Result::ok)
                .map(|(k, _)| lua_to_frame(&k, resp3, depth + 1))
                .collect();
            return Frame::Set(items);
        }
    }
    // An array: elements 1, 2, ... up to the first nil.
    let mut items = Vec::new();
    for i in 1.. {
        let v: Value = t.raw_get(i).unwrap_or(Value::Nil);
        if v.is_nil() {
            break;
        }
        items.push(lua_to_frame(&v, resp3, depth + 1));
    }
    Frame::Array(items)
}

/// An error or status line: Redis turns line breaks into spaces.
fn one_line(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect()
}

// ---------------------------------------------------------------- bit

/// LuaBitOp's conversion: the number's low 32 bits, as a signed integer.
fn tobit(v: &Value) -> mlua::Result<i32> {
    let n = match v {
        Value::Integer(i) => *i as f64,
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| mlua::Error::runtime("bad argument (number expected)"))?,
        _ => {
            return Err(mlua::Error::runtime(
                "bad argument (number expected, got no value)",
            ))
        }
    };
    // Round to nearest, then keep the low 32 bits (as `x + 2^52 + 2^51`).
    let r = n.round_ties_even();
    Ok((r.rem_euclid(4294967296.0) as u64 as u32) as i32)
}

fn bit_library(lua: &Lua) -> mlua::Result<Table> {
    let bit = lua.create_table()?;
    type Op = fn(i32, i32) -> i32;
    let fold = |lua: &Lua, op: Op| {
        lua.create_function(move |_, args: mlua::Variadic<Value>| {
            let mut acc = tobit(args.first().unwrap_or(&Value::Nil))?;
            for a in args.iter().skip(1) {
                acc = op(acc, tobit(a)?);
            }
            Ok(acc as f64)
        })
    };
    bit.raw_set("band", fold(lua, |a, b| a & b)?)?;
    bit.raw_set("bor", fold(lua, |a, b| a | b)?)?;
    bit.raw_set("bxor", fold(lua, |a, b| a ^ b)?)?;
    bit.raw_set("tobit", fold(lua, |a, _| a)?)?;
    bit.raw_set(
        "bnot",
        lua.create_function(|_, v: Value| Ok(!tobit(&v)? as f64))?,
    )?;
    bit.raw_set(
        "bswap",
        lua.create_function(|_, v: Value| Ok(tobit(&v)?.swap_bytes() as f64))?,
    )?;
    let shift = |lua: &Lua, op: fn(i32, u32) -> i32| {
        lua.create_function(move |_, (v, n): (Value, Value)| {
            Ok(op(tobit(&v)?, (tobit(&n)? & 31) as u32) as f64)
        })
    };
    bit.raw_set("lshift", shift(lua, |a, n| ((a as u32) << n) as i32)?)?;
    bit.raw_set("rshift", shift(lua, |a, n| ((a as u32) >> n) as i32)?)?;
    bit.raw_set("arshift", shift(lua, |a, n| a >> n)?)?;
    bit.raw_set("rol", shift(lua, |a, n| (a as u32).rotate_left(n) as i32)?)?;
    bit.raw_set("ror", shift(lua, |a, n| (a as u32).rotate_right(n) as i32)?)?;
    bit.raw_set(
        "tohex",
        lua.create_function(|_, (v, n): (Value, Option<Value>)| {
            let x = tobit(&v)? as u32;
            let n = match n {
                Some(n) if !n.is_nil() => tobit(&n)?,
                _ => 8,
            };
            let upper = n < 0;
            let digits = n.unsigned_abs().min(8) as usize;
            let masked = if digits == 8 {
                x
            } else {
                x & ((1u32 << (4 * digits)) - 1)
            };
            let s = if upper {
                format!("{masked:0digits$X}")
            } else {
                format!("{masked:0digits$x}")
            };
            Ok(s)
        })?,
    )?;
    Ok(bit)
}

// ---------------------------------------------------------------- cjson

/// Deepest nesting cjson encodes or decodes (its default, 1000).
const CJSON_MAX_DEPTH: usize = 1000;

fn cjson_library(lua: &Lua) -> mlua::Result<Table> {
    let cjson = lua.create_table()?;
    let null = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
    cjson.raw_set("null", null)?;
    cjson.raw_set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            json_encode(&v, 0, &mut out).map_err(mlua::Error::runtime)?;
            lua.create_string(&out)
        })?,
    )?;
    cjson.raw_set(
        "decode",
        lua.create_function(|lua, v: Value| {
            let Value::String(s) = v else {
                return Err(mlua::Error::runtime(
                    "bad argument #1 to 'decode' (string expected)",
                ));
            };
            let parsed: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::runtime(format!("Expected value but found invalid token: {e}"))
            })?;
            json_to_lua(lua, &parsed, 0)
        })?,
    )?;
    Ok(cjson)
}

fn json_to_lua(lua: &Lua, v: &serde_json::Value, depth: usize) -> mlua::Result<Value> {
    use serde_json::Value as J;
    if depth > CJSON_MAX_DEPTH {
        return Err(mlua::Error::runtime(
            "Found too many nested data structures",
        ));
    }
    Ok(match v {
        J::Null => Value::LightUserData(mlua::LightUserData(std::ptr::null_mut())),
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        J::String(s) => Value::String(lua.create_string(s)?),
        J::Array(items) => {
            let t = lua.create_table()?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, json_to_lua(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
        J::Object(fields) => {
            let t = lua.create_table()?;
            for (k, item) in fields {
                t.raw_set(lua.create_string(k)?, json_to_lua(lua, item, depth + 1)?)?;
            }
            Value::Table(t)
        }
    })
}

/// `%.14g`, cjson's number format.
fn json_number(n: f64) -> Result<String, String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
    }
    if n == n.trunc() && n.abs() < 1e14 {
        return Ok(format!("{}", n as i64));
    }
    let sci = format!("{n:.13e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let strip = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if !(-4..14).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        Ok(format!("{}e{sign}{:02}", strip(mantissa), exp.abs()))
    } else {
        let decimals = (13 - exp).max(0) as usize;
        Ok(strip(&format!("{n:.decimals$}")))
    }
}

fn json_string(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => out.extend_from_slice(format!("\\u{c:04x}").as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn json_encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    if depth > CJSON_MAX_DEPTH {
        return Err("Cannot serialise, excessive nesting (1001)".into());
    }
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Number(n) => out.extend_from_slice(json_number(*n)?.as_bytes()),
        Value::String(s) => json_string(&s.as_bytes(), out),
        Value::Table(t) => {
            // An array when every key is a positive integer (cjson's test),
            // with no gap too sparse; an empty table is an object.
            let mut max = 0usize;
            let mut count = 0usize;
            let mut array = true;
            for pair in t.pairs::<Value, Value>() {
                let (k, _) = pair.map_err(|e| e.to_string())?;
                count += 1;
                match k {
                    Value::Integer(i) if i >= 1 => max = max.max(i as usize),
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
                    _ => array = false,
                }
            }
            if array && count > 0 && !(max > 10 && max > count * 2) {
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let item: Value = t.raw_get(i).map_err(|e| e.to_string())?;
                    json_encode(&item, depth + 1, out)?;
                }
                out.push(b']');
            } else if array && count > 0 {
                return Err("Cannot serialise table: excessively sparse array".into());
            } else {
                out.push(b'{');
                let mut first = true;
                for pair in t.pairs::<Value, Value>() {
                    let (k, item) = pair.map_err(|e| e.to_string())?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => json_string(&s.as_bytes(), out),
                        Value::Integer(_) | Value::Number(_) => {
                            let text = number_text(&k).unwrap_or_default();
                            json_string(text.as_bytes(), out)
                        }
                        _ => {
                            return Err(
                                "Cannot serialise table: table key must be a number or string"
                                    .into(),
                            )
                        }
                    }
                    out.push(b':');
                    json_encode(&item, depth + 1, out)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}
