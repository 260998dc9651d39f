//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT (docs/scripting.md).
//!
//! A script runs on the connection's core, in that core's Lua state
//! (`lua::Vm`), as a task that holds the shards it may touch, like a held
//! EXEC (`node::hold`): the shards of its declared keys, in ascending order
//! (all shards when it declares none). Each `redis.call` goes through the
//! normal command path (`dispatch::run_frames`) as the script's work, so it
//! passes the holds, and `redis.call` is an async function: a call on
//! another core's shard suspends the script's coroutine until it answers.
//! A call on a shard the script does not hold takes it when that keeps the
//! ascending order; otherwise the script, if it has not written yet, starts
//! again holding every shard (it saw nothing that anyone else saw), and
//! fails if it has. Its writes are captured on each held shard and logged
//! like a held EXEC's (`exec::commit`): replay shows all or none.
//!
//! One script at a time per core (Redis runs one at a time); a script past
//! `busy-reply-threshold` makes other clients' commands answer `-BUSY`,
//! and SCRIPT KILL stops it at its next hook check if it has not written.

use super::lua::{self, CallFns, Vm};
use super::{subcommand, table, FrontCmd, Route, Session};
use crate::node::hold::{self, HeldShards};
use crate::node::Node;
use crate::protocol::{Frame, Proto, Request};
use crate::router;
use bytes::Bytes;
use mlua::{Function, Lua, MultiValue, Value};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Lua instructions between two checks of the time and of SCRIPT KILL.
const HOOK_EVERY_INSTRUCTIONS: u32 = 10_000;
/// Largest script body accepted (Redis takes any bulk; this bounds the
/// script cache entry).
const MAX_SCRIPT_BODY_BYTES: usize = 64 << 20;
/// Scripts the cache keeps before SCRIPT LOAD / EVAL refuse new ones.
const MAX_CACHED_SCRIPTS: usize = 1_000_000;

const BUSY_ERROR: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const KILLED_ERROR: &str = "ERR Script killed by user with SCRIPT KILL...";

/// The script cache, shared by every core: SHA1 (lowercase hex) → body.
fn cache() -> &'static Mutex<HashMap<String, Bytes>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Bytes>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Bumped by SCRIPT FLUSH: each core drops its compiled functions.
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn cached(sha: &str) -> Option<Bytes> {
    cache().lock().ok()?.get(sha).cloned()
}

/// A script that is running, as other cores see it (BUSY, SCRIPT KILL).
struct Running {
    tag: u64,
    started: Instant,
    wrote: AtomicBool,
    kill: AtomicBool,
}

static RUNNING_COUNT: AtomicUsize = AtomicUsize::new(0);
/// When the oldest running script started (`clock_ms`; `u64::MAX`: none),
/// so that other clients' commands need not look at the list until one
/// may be past the threshold.
static OLDEST_START_MS: AtomicU64 = AtomicU64::new(u64::MAX);

/// Milliseconds since the first script of the process.
fn clock_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64
}

fn running() -> &'static Mutex<Vec<Arc<Running>>> {
    static RUNNING: OnceLock<Mutex<Vec<Arc<Running>>>> = OnceLock::new();
    RUNNING.get_or_init(Default::default)
}

/// Registered while the script runs.
struct RunningEntry(Arc<Running>);

impl RunningEntry {
    fn new(tag: u64) -> RunningEntry {
        let r = Arc::new(Running {
            tag,
            started: Instant::now(),
            wrote: AtomicBool::new(false),
            kill: AtomicBool::new(false),
        });
        if let Ok(mut list) = running().lock() {
            list.push(r.clone());
            OLDEST_START_MS.fetch_min(clock_ms(), Ordering::SeqCst);
        }
        RUNNING_COUNT.fetch_add(1, Ordering::SeqCst);
        RunningEntry(r)
    }
}

impl Drop for RunningEntry {
    fn drop(&mut self) {
        if let Ok(mut list) = running().lock() {
            list.retain(|r| !Arc::ptr_eq(r, &self.0));
            let now = clock_ms();
            let oldest = list
                .iter()
                .map(|r| now.saturating_sub(r.started.elapsed().as_millis() as u64))
                .min()
                .unwrap_or(u64::MAX);
            OLDEST_START_MS.store(oldest, Ordering::SeqCst);
        }
        RUNNING_COUNT.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `-BUSY` for a command of someone else while a script has run past the
/// threshold (commands flagged `allow_busy` pass, as in Redis).
pub fn busy_reply(node: &Node, cmd: &super::Command, args: &[Bytes]) -> Option<Frame> {
    if RUNNING_COUNT.load(Ordering::Relaxed) == 0 {
        return None;
    }
    let threshold = node.config.borrow().busy_reply_threshold;
    let oldest = OLDEST_START_MS.load(Ordering::Relaxed);
    if oldest == u64::MAX || clock_ms().saturating_sub(oldest) < threshold {
        return None;
    }
    let allowed = |flags: &[String]| flags.iter().any(|f| f == "allow_busy");
    if allowed(&cmd.spec.flags)
        || args
            .get(1)
            .and_then(|sub| cmd.subcommand(sub))
            .is_some_and(|s| allowed(&s.flags))
    {
        return None;
    }
    let own = hold::ambient();
    let list = running().lock().ok()?;
    list.iter()
        .any(|r| r.tag != own && r.started.elapsed().as_millis() as u64 >= threshold)
        .then(|| Frame::error(BUSY_ERROR))
}

/// An error a script raises: the message and the script line it came from.
#[derive(Debug)]
struct ScriptError {
    msg: String,
    line: Option<usize>,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ScriptError {}

fn raise(line: Option<usize>, msg: impl Into<String>) -> mlua::Error {
    mlua::Error::external(ScriptError {
        msg: msg.into(),
        line,
    })
}

/// Runs commands for a script through the normal path and answers their
/// replies as values (`dispatch::run_frames`, handed down by the
/// dispatcher: this module sits below it).
pub type Runner =
    for<'a> fn(
        &'a Node,
        &'a mut Session,
        Vec<Request>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Vec<Frame>> + 'a>>;

/// One script being run on this core: what `redis.call` needs.
struct Run {
    node: Rc<Node>,
    runner: Runner,
    /// The script's own client (its database, protocol, user); out while a
    /// call runs.
    session: RefCell<Option<Session>>,
    tag: u64,
    /// The script holds its shards itself (not inside EXEC, which holds
    /// them all already).
    holds_own: bool,
    /// Shards held, ascending.
    held: RefCell<Vec<usize>>,
    holds: RefCell<Vec<HeldShards>>,
    capture: bool,
    read_only: bool,
    resp3: Cell<bool>,
    /// A call reached a shard it could not take in order before any write:
    /// the script is to run again holding every shard.
    restart: Cell<bool>,
    status: Arc<Running>,
    /// A call that could not complete at once (`call_now`).
    under_way: RefCell<Option<CallFuture>>,
}

thread_local! {
    static VM: RefCell<Option<Rc<CoreVm>>> = const { RefCell::new(None) };
    static CURRENT: RefCell<Option<Rc<Run>>> = const { RefCell::new(None) };
    /// The last script's client record, for the next (`script_client`).
    static SPARE_CLIENT: RefCell<Option<Rc<RefCell<crate::node::ClientInfo>>>> =
        const { RefCell::new(None) };
    /// One script at a time on this core: whether one runs, and who waits.
    static LOCK: (Cell<bool>, RefCell<VecDeque<futures_channel::oneshot::Sender<()>>>) =
        const { (Cell::new(false), RefCell::new(VecDeque::new())) };
}

fn current() -> Option<Rc<Run>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// This core's turn to run a script.
struct ScriptTurn;

async fn take_turn() -> ScriptTurn {
    let wait = LOCK.with(|(busy, waiting)| {
        if !busy.get() {
            busy.set(true);
            return None;
        }
        let (tx, rx) = futures_channel::oneshot::channel();
        waiting.borrow_mut().push_back(tx);
        Some(rx)
    });
    if let Some(rx) = wait {
        // Handed over by the one before (`Drop`), still marked busy.
        let _ = rx.await;
    }
    ScriptTurn
}

impl Drop for ScriptTurn {
    fn drop(&mut self) {
        LOCK.with(|(busy, waiting)| loop {
            let Some(next) = waiting.borrow_mut().pop_front() else {
                busy.set(false);
                return;
            };
            if next.send(()).is_ok() {
                return;
            }
        });
    }
}

/// A core's Lua state and its compiled scripts.
pub(super) struct CoreVm {
    pub vm: Vm,
    compiled: RefCell<HashMap<String, (Function, bool)>>,
    generation: Cell<u64>,
}

pub(super) fn core_vm() -> Result<Rc<CoreVm>, Frame> {
    if let Some(vm) = VM.with(|v| v.borrow().clone()) {
        let now = GENERATION.load(Ordering::SeqCst);
        if vm.generation.get() != now {
            vm.compiled.borrow_mut().clear();
            vm.generation.set(now);
        }
        return Ok(vm);
    }
    let vm = Vm::new(make_calls).map_err(|e| {
        tracing::error!("cannot set up the Lua state: {e}");
        Frame::error("ERR cannot set up the Lua state")
    })?;
    // On every thread the script runs in (mlua's, and pcall's coroutines,
    // which inherit it).
    vm.lua
        .set_global_hook(
            mlua::HookTriggers::new().every_nth_instruction(HOOK_EVERY_INSTRUCTIONS),
            |_, debug| {
                if let Some(run) = current() {
                    if run.status.kill.load(Ordering::Relaxed) {
                        return Err(raise(debug.current_line(), KILLED_ERROR));
                    }
                }
                Ok(mlua::VmState::Continue)
            },
        )
        .map_err(|_| Frame::error("ERR cannot set up the Lua state"))?;
    let core = Rc::new(CoreVm {
        vm,
        compiled: RefCell::new(HashMap::new()),
        generation: Cell::new(GENERATION.load(Ordering::SeqCst)),
    });
    VM.with(|v| *v.borrow_mut() = Some(core.clone()));
    Ok(core)
}

fn make_calls(lua: &Lua) -> mlua::Result<CallFns> {
    Ok(CallFns {
        pcall: lua.create_function(call_now)?,
        wait: lua.create_async_function(|_, ()| wait_call())?,
        setresp: lua.create_function(|_, v: Value| {
            let n = lua::number_text(&v).unwrap_or_default();
            let resp3 = match n.as_str() {
                "2" => false,
                "3" => true,
                _ => return Ok(Some("ERR RESP version must be 2 or 3.")),
            };
            if let Some(run) = current() {
                run.resp3.set(resp3);
                if let Some(s) = run.session.borrow_mut().as_mut() {
                    s.proto = if resp3 { Proto::Resp3 } else { Proto::Resp2 };
                }
            }
            Ok(None)
        })?,
    })
}

/// A command of a script under way, awaited by `wait_call`.
type CallFuture = std::pin::Pin<Box<dyn std::future::Future<Output = mlua::Result<Value>>>>;

/// redis.pcall's first half (`CallFns::pcall`): runs the command and, if
/// it completed at once (its shard is this core's and free to the script:
/// the common case), answers its reply and `false`. Otherwise it keeps the
/// call under way in the script's `Run` and answers `nil, true`, and the
/// sandbox's redis.pcall awaits it with `wait_call`. A plain Lua function
/// call costs far less than mlua's async callback (which boxes each call's
/// future into a new userdata, in a protected call).
fn call_now(lua: &Lua, args: MultiValue) -> mlua::Result<(Value, bool)> {
    let mut under_way: CallFuture = Box::pin(call(lua.clone(), args));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match under_way.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(reply) => Ok((reply?, false)),
        std::task::Poll::Pending => {
            // Polled again, with the script task's waker, by `wait_call`.
            let Some(run) = current() else {
                return Err(raise(None, "redis.call outside a script"));
            };
            *run.under_way.borrow_mut() = Some(under_way);
            Ok((Value::Nil, true))
        }
    }
}

/// redis.pcall's second half: awaits the call `call_now` left under way.
async fn wait_call() -> mlua::Result<Value> {
    let under_way = current().and_then(|run| run.under_way.borrow_mut().take());
    match under_way {
        Some(call) => call.await,
        None => Err(raise(None, "no redis.call under way")),
    }
}

/// redis.pcall (and, through the sandbox's wrapper, redis.call): runs one
/// command through the normal path; an error comes back as `{err = ...}`.
/// Raises only to stop the script (a restart on every shard).
async fn call(lua: Lua, args: MultiValue) -> mlua::Result<Value> {
    let fail = |lua: &Lua, msg: &str| -> mlua::Result<Value> {
        let _unlimited = lua::Unlimited::new(lua);
        let t = lua.create_table()?;
        t.raw_set("err", lua.create_string(lua::error_text(msg.as_bytes()))?)?;
        Ok(Value::Table(t))
    };
    let Some(run) = current() else {
        return fail(&lua, "redis.call outside a script");
    };
    if run.restart.get() {
        return Err(raise(None, RESTART));
    }
    if args.is_empty() {
        return fail(
            &lua,
            "Please specify at least one argument for this redis lib call",
        );
    }
    let mut argv = Vec::with_capacity(args.len());
    for a in args.iter() {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(_) | Value::Number(_) => {
                argv.push(Bytes::from(lua::number_text(a).unwrap_or_default()))
            }
            _ => {
                return fail(
                    &lua,
                    "Lua redis lib command arguments must be strings or integers",
                )
            }
        }
    }
    let Some(cmd) = table().get(&argv[0]) else {
        return fail(&lua, "Unknown Redis command called from script");
    };
    if !cmd.arity_ok(argv.len()) {
        return fail(
            &lua,
            "Wrong number of args calling Redis command from script",
        );
    }
    let flagged = |flag: &str| {
        cmd.spec.flags.iter().any(|f| f == flag)
            || argv
                .get(1)
                .and_then(|sub| cmd.subcommand(sub))
                .is_some_and(|s| s.flags.iter().any(|f| f == flag))
    };
    if flagged("noscript") {
        return fail(&lua, "This Redis command is not allowed from script");
    }
    if cmd.write && run.read_only {
        return fail(
            &lua,
            "Write commands are not allowed from read-only scripts.",
        );
    }
    if run.holds_own {
        let needed = shards_needed(cmd.route, &argv, run.node.shard_count);
        match take_missing(&run, &needed).await {
            Ok(()) => {}
            Err(Missing::Restart) => return Err(raise(None, RESTART)),
            Err(Missing::Refused(msg)) => return fail(&lua, &msg),
        }
    }
    let Some(mut session) = run.session.borrow_mut().take() else {
        return fail(&lua, "script client busy");
    };
    let frames = (run.runner)(&run.node, &mut session, vec![Request { args: argv }]).await;
    *run.session.borrow_mut() = Some(session);
    let frame = frames
        .into_iter()
        .next()
        .unwrap_or_else(|| Frame::error("ERR no reply"));
    if cmd.write && !frame.is_error() {
        run.status.wrote.store(true, Ordering::Relaxed);
    }
    if let Frame::Error(e) = &frame {
        return fail(&lua, &format!("-{e}"));
    }
    let _unlimited = lua::Unlimited::new(&lua);
    lua::frame_to_lua(&lua, &frame, run.resp3.get())
}

/// What stops a script that must run again holding every shard.
const RESTART: &str = "ERR the script restarts holding every shard";

enum Missing {
    /// Run again holding every shard (nothing was written).
    Restart,
    /// The call fails with this error.
    Refused(String),
}

/// The shards a command may touch (every shard for a command that runs on
/// the connection's core and coordinates shards itself).
fn shards_needed(route: Route, argv: &[Bytes], shard_count: usize) -> Vec<usize> {
    let mut shards: Vec<usize> = match route {
        Route::Key(_) => argv
            .get(1)
            .map(|k| vec![router::shard_of(k, shard_count)])
            .unwrap_or_default(),
        Route::Keys { stride, .. } => argv[1..]
            .chunks(stride.max(1))
            .map(|c| router::shard_of(&c[0], shard_count))
            .collect(),
        Route::All { .. } => (0..shard_count).collect(),
        Route::Front(FrontCmd::Ping | FrontCmd::Echo | FrontCmd::Time | FrontCmd::Select) => {
            Vec::new()
        }
        Route::Front(_) => (0..shard_count).collect(),
    };
    shards.sort_unstable();
    shards.dedup();
    shards
}

/// Takes the shards of `needed` the script does not hold yet, if that keeps
/// the ascending order; otherwise asks for a restart on every shard (before
/// any write) or refuses the call.
async fn take_missing(run: &Rc<Run>, needed: &[usize]) -> Result<(), Missing> {
    let (missing, top) = {
        let held = run.held.borrow();
        let missing: Vec<usize> = needed
            .iter()
            .copied()
            .filter(|s| !held.contains(s))
            .collect();
        (missing, held.last().copied())
    };
    if missing.is_empty() {
        return Ok(());
    }
    if top.is_some_and(|top| missing[0] < top) {
        if run.status.wrote.load(Ordering::Relaxed) {
            return Err(Missing::Refused(
                "ringcache: a script that has written cannot reach a key on a shard below the ones it holds; list the key in KEYS"
                    .into(),
            ));
        }
        run.restart.set(true);
        return Err(Missing::Restart);
    }
    let node = &run.node;
    let held = HeldShards::new(node.rc(), run.tag, missing.clone());
    if node
        .hold_shards(run.tag, &missing, on_take(run.capture))
        .await
        .is_none()
    {
        return Err(Missing::Refused("shard unavailable".into()));
    }
    run.held.borrow_mut().extend(missing);
    run.holds.borrow_mut().push(held);
    Ok(())
}

/// What is done on each shard as it is taken: its log captured.
fn on_take(capture: bool) -> impl Fn(&Node) -> bool + Send + Clone + 'static {
    move |n: &Node| {
        let mut sh = n.shard.borrow_mut();
        if capture && sh.aof.is_some() {
            sh.capture = Some(Vec::new());
        }
        true
    }
}

/// EVAL script numkeys key... arg... (and EVALSHA, EVAL_RO, EVALSHA_RO).
pub(super) async fn eval(
    node: &Node,
    runner: Runner,
    session: &mut Session,
    args: &[Bytes],
    by_sha: bool,
    read_only: bool,
) -> Frame {
    let numkeys = match numkeys(args) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let (sha, body) = if by_sha {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        match cached(&sha) {
            Some(body) => (sha, body),
            None => return Frame::error("NOSCRIPT No matching script. Please use EVAL."),
        }
    } else {
        (lua::sha1_hex(&args[1]), args[1].clone())
    };
    let (keys, argv) = (&args[3..3 + numkeys], &args[3 + numkeys..]);
    // Every declared key on one other core's shard: the script runs there,
    // where its shard and its calls are local (no round trip per call).
    if let Some(owner) = single_shard(node, keys) {
        if owner != node.id && hold::ambient() == hold::UNTAGGED {
            let client = ScriptClient {
                id: session.id,
                addr: session.info.borrow().addr.clone(),
                laddr: session.info.borrow().laddr.clone(),
                db: session.db,
                user: session.user.clone(),
                tracking: session.info.borrow().tracking.clone(),
            };
            let (keys, argv) = (keys.to_vec(), argv.to_vec());
            let started = node
                .run_on(owner, move |n: &Node| {
                    let (tx, rx) = futures_channel::oneshot::channel();
                    let node = n.rc();
                    glommio::spawn_local(async move {
                        let reply = eval_here(
                            &node,
                            runner,
                            client,
                            (sha, body),
                            (&keys, &argv),
                            read_only,
                        )
                        .await;
                        let _ = tx.send(reply);
                    })
                    .detach();
                    rx
                })
                .await;
            return match started {
                Some(rx) => rx.await.unwrap_or_else(|_| super::unavailable()),
                None => super::unavailable(),
            };
        }
    }
    run_on_this_core(
        node,
        runner,
        session,
        (&sha, &body),
        (keys, argv),
        read_only,
    )
    .await
}

/// Runs script `sha` with this core's Lua state (compiled there once).
async fn run_on_this_core(
    node: &Node,
    runner: Runner,
    session: &Session,
    (sha, body): (&str, &Bytes),
    (keys, argv): (&[Bytes], &[Bytes]),
    read_only: bool,
) -> Frame {
    let vm = match core_vm() {
        Ok(vm) => vm,
        Err(e) => return e,
    };
    let (function, no_writes) = match compiled(&vm, sha, body) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let callable = Callable {
        function,
        label: sha,
        chunk: "user_script",
        one_line: !body.contains(&b'\n'),
        as_arguments: false,
        read_only: read_only || no_writes,
    };
    run_script((node, runner), session, &vm, &callable, keys, argv).await
}

/// EVAL's and FCALL's numkeys (`args[2]`), checked against the arguments
/// after it, with Redis's errors.
pub(super) fn numkeys(args: &[Bytes]) -> Result<usize, Frame> {
    match crate::util::parse_i64(&args[2]) {
        None => Err(super::not_integer()),
        Some(n) if n < 0 => Err(Frame::error("ERR Number of keys can't be negative")),
        Some(n) if n as usize > args.len() - 3 => Err(Frame::error(
            "ERR Number of keys can't be greater than number of args",
        )),
        Some(n) => Ok(n as usize),
    }
}

/// The shard of every key, if they share one.
fn single_shard(node: &Node, keys: &[Bytes]) -> Option<usize> {
    let first = router::shard_of(keys.first()?, node.shard_count);
    keys.iter()
        .all(|k| router::shard_of(k, node.shard_count) == first)
        .then_some(first)
}

/// What a script's client is, carried to the core that runs it.
struct ScriptClient {
    id: u64,
    addr: String,
    laddr: String,
    db: usize,
    user: std::sync::Arc<crate::acl::User>,
    /// The caller's CLIENT TRACKING: the script's reads are remembered for it.
    tracking: Option<crate::node::Tracking>,
}

/// Runs script `sha` on this core for a client of another core.
async fn eval_here(
    node: &Node,
    runner: Runner,
    client: ScriptClient,
    (sha, body): (String, Bytes),
    (keys, argv): (&[Bytes], &[Bytes]),
    read_only: bool,
) -> Frame {
    let info =
        crate::node::ClientInfo::new(client.id, client.addr, client.laddr, crate::util::now_ms());
    let mut session = Session::new(Rc::new(RefCell::new(info)));
    session.db = client.db;
    session.user = client.user;
    session.authenticated = true;
    session.tracking.on = client.tracking.is_some();
    session.info.borrow_mut().tracking = client.tracking;
    run_on_this_core(
        node,
        runner,
        &session,
        (&sha, &body),
        (keys, argv),
        read_only,
    )
    .await
}

/// What runs: a script's or a function's compiled code, and how.
pub(super) struct Callable<'a> {
    pub function: Function,
    /// Named in errors: the script's SHA or the function's name.
    pub label: &'a str,
    /// The chunk errors name: `user_script` or `user_function`.
    pub chunk: &'static str,
    /// A one-line body: an error whose line is lost is on line 1.
    pub one_line: bool,
    /// FCALL: the keys and arguments are the function's two arguments
    /// (EVAL: the globals KEYS and ARGV).
    pub as_arguments: bool,
    /// EVAL_RO, FCALL_RO, the `no-writes` flag: write commands refused.
    pub read_only: bool,
}

/// Runs `callable` with `keys` and `argv`, atomically (see the module
/// header): one script at a time on this core.
pub(super) async fn run_script(
    (node, runner): (&Node, Runner),
    session: &Session,
    vm: &CoreVm,
    callable: &Callable<'_>,
    keys: &[Bytes],
    argv: &[Bytes],
) -> Frame {
    let _turn = take_turn().await;
    let mut every_shard = keys.is_empty();
    loop {
        match attempt(
            (node, runner),
            session,
            vm,
            callable,
            keys,
            argv,
            every_shard,
        )
        .await
        {
            Some(reply) => return reply,
            None => every_shard = true,
        }
    }
}

/// Parses a `#!lua flags=a,b` first line: whether `no-writes` is set, or
/// Redis's error.
fn shebang_flags(body: &[u8]) -> Result<bool, Frame> {
    let first = body.split(|&b| b == b'\n').next().unwrap_or_default();
    let text = String::from_utf8_lossy(first);
    let mut words = text[2..].split(' ').filter(|w| !w.is_empty());
    let engine = words.next().unwrap_or_default();
    if engine != "lua" {
        return Err(Frame::error(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    let mut no_writes = false;
    for word in words {
        let Some(flags) = word.strip_prefix("flags=") else {
            return Err(Frame::error(format!(
                "ERR Unknown lua shebang option: {word}"
            )));
        };
        for flag in flags.split(',').filter(|f| !f.is_empty()) {
            match flag {
                "no-writes" => no_writes = true,
                "allow-oom" | "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                other => {
                    return Err(Frame::error(format!(
                        "ERR Unexpected flag in script shebang: {other}"
                    )))
                }
            }
        }
    }
    Ok(no_writes)
}

/// The compiled function of script `sha`, compiling (and caching) it, and
/// whether its shebang says `no-writes`.
fn compiled(vm: &CoreVm, sha: &str, body: &Bytes) -> Result<(Function, bool), Frame> {
    if let Some(f) = vm.compiled.borrow().get(sha) {
        return Ok(f.clone());
    }
    if body.len() > MAX_SCRIPT_BODY_BYTES {
        return Err(Frame::error("ERR script too large"));
    }
    // A shebang line is read, then compiled as an empty line (line
    // numbers stay those of the body).
    let (no_writes, code) = if body.starts_with(b"#!") {
        let no_writes = shebang_flags(body)?;
        let rest = body
            .iter()
            .position(|&b| b == b'\n')
            .map_or(&b""[..], |i| &body[i..]);
        (no_writes, rest.to_vec())
    } else {
        (false, body.to_vec())
    };
    let f = vm.vm.compile(&code, "@user_script").map_err(|msg| {
        Frame::error(format!(
            "ERR Error compiling script (new function): {}",
            msg.replace(['\r', '\n'], " ")
        ))
    })?;
    if let Ok(mut c) = cache().lock() {
        if c.len() < MAX_CACHED_SCRIPTS || c.contains_key(sha) {
            c.entry(sha.to_string()).or_insert_with(|| body.clone());
        }
    }
    vm.compiled
        .borrow_mut()
        .insert(sha.to_string(), (f.clone(), no_writes));
    Ok((f, no_writes))
}

/// One run of a script. `None`: it must run again holding every shard.
async fn attempt(
    (node, runner): (&Node, Runner),
    session: &Session,
    vm: &CoreVm,
    callable: &Callable<'_>,
    keys: &[Bytes],
    argv: &[Bytes],
    every_shard: bool,
) -> Option<Frame> {
    let read_only = callable.read_only;
    let ambient = hold::ambient();
    let inside_exec = ambient != hold::UNTAGGED;
    let tag = if inside_exec {
        ambient
    } else {
        hold::new_tag()
    };
    let capture = !inside_exec && node.config.borrow().appendonly;
    let shards: Vec<usize> = if inside_exec {
        Vec::new()
    } else if every_shard {
        (0..node.shard_count).collect()
    } else {
        let mut s: Vec<usize> = keys
            .iter()
            .map(|k| router::shard_of(k, node.shard_count))
            .collect();
        s.sort_unstable();
        s.dedup();
        s
    };
    let entry = RunningEntry::new(tag);
    let mut holds = Vec::new();
    if !shards.is_empty() {
        holds.push(HeldShards::new(node.rc(), tag, shards.clone()));
        if node
            .hold_shards(tag, &shards, on_take(capture))
            .await
            .is_none()
        {
            return Some(super::unavailable());
        }
    }
    let mut script_session = Session::new(script_client(session));
    if session.tracking.on {
        // The keys its read-only commands read are remembered for the
        // caller, as Redis does (CLIENT CACHING's word holds for them all).
        script_session.tracking.on = true;
        script_session.info.borrow_mut().tracking = session.info.borrow().tracking.clone();
    }
    script_session.db = session.db;
    script_session.user = session.user.clone();
    script_session.authenticated = true;
    script_session.in_exec = true;
    script_session.in_script = true;
    let run = Rc::new(Run {
        node: node.rc(),
        runner,
        session: RefCell::new(Some(script_session)),
        tag,
        holds_own: !inside_exec,
        held: RefCell::new(shards),
        holds: RefCell::new(holds),
        capture,
        read_only,
        resp3: Cell::new(false),
        restart: Cell::new(false),
        status: entry.0.clone(),
        under_way: RefCell::new(None),
    });
    let started = {
        let _unlimited = lua::Unlimited::new(&vm.vm.lua);
        set_arguments(vm, keys, argv, callable.as_arguments)
            .map(|arguments| callable.function.call_async::<Value>(arguments))
    };
    let result = match started {
        Ok(call) => {
            CURRENT.with(|c| *c.borrow_mut() = Some(run.clone()));
            let out = hold::Tagged::new(tag, call).await;
            CURRENT.with(|c| *c.borrow_mut() = None);
            // A call left under way by a script stopped before awaiting
            // it (SCRIPT KILL): it holds the `Run`.
            run.under_way.borrow_mut().take();
            out
        }
        Err(e) => Err(e),
    };
    let restart = run.restart.get();
    let reply = {
        let _unlimited = lua::Unlimited::new(&vm.vm.lua);
        let reply = match &result {
            _ if restart => None,
            Ok(v) => Some(lua::lua_to_frame(v, run.resp3.get(), 0)),
            Err(e) => Some(error_reply(e, callable)),
        };
        drop(result);
        reply
    };
    let held: Vec<usize> = run.held.borrow().clone();
    crate::util::crash_point("script-before-commit");
    if capture {
        if restart {
            // Nothing was written: nothing to log.
            let calls = held.iter().map(|&s| {
                node.run_tagged(s, tag, |n: &Node| {
                    n.shard.borrow_mut().capture = None;
                })
            });
            crate::node::join_all(calls).await;
        } else {
            super::exec::commit(node, tag, &held).await;
        }
    }
    let holds = std::mem::take(&mut *run.holds.borrow_mut());
    for h in holds {
        h.release().await;
    }
    if let Some(done) = run.session.borrow_mut().take() {
        keep_script_client(done);
    }
    reply
}

/// The client record of a script's own client: the caller's id and
/// addresses. This core's previous one is reused when nothing else holds
/// it (its strings keep their buffers: a script's first command would
/// otherwise allocate CLIENT LIST's `cmd=` text anew each run).
fn script_client(session: &Session) -> Rc<RefCell<crate::node::ClientInfo>> {
    let caller = session.info.borrow();
    let now = crate::util::now_ms();
    let spare = SPARE_CLIENT.with(|s| s.borrow_mut().take());
    match spare {
        Some(info) if Rc::strong_count(&info) == 1 => {
            {
                let mut i = info.borrow_mut();
                let mut addr = std::mem::take(&mut i.addr);
                addr.clone_from(&caller.addr);
                let mut laddr = std::mem::take(&mut i.laddr);
                laddr.clone_from(&caller.laddr);
                let mut last_cmd = std::mem::take(&mut i.last_cmd);
                last_cmd.clear();
                *i = crate::node::ClientInfo::new(session.id, addr, laddr, now);
                i.last_cmd = last_cmd;
            }
            info
        }
        _ => Rc::new(RefCell::new(crate::node::ClientInfo::new(
            session.id,
            caller.addr.clone(),
            caller.laddr.clone(),
            now,
        ))),
    }
}

/// Keeps a finished script's client record for the next script.
fn keep_script_client(done: Session) {
    let info = done.info.clone();
    drop(done);
    SPARE_CLIENT.with(|s| *s.borrow_mut() = Some(info));
}

/// KEYS and ARGV for the next run: globals for a script (as Redis sets
/// them), or the two arguments of a function (`as_arguments`).
fn set_arguments(
    vm: &CoreVm,
    keys: &[Bytes],
    argv: &[Bytes],
    as_arguments: bool,
) -> mlua::Result<MultiValue> {
    let lua = &vm.vm.lua;
    let list = |items: &[Bytes]| -> mlua::Result<mlua::Table> {
        let t = lua.create_table_with_capacity(items.len(), 0)?;
        for (i, item) in items.iter().enumerate() {
            t.raw_set(i + 1, lua.create_string(item)?)?;
        }
        Ok(t)
    };
    let (keys, argv) = (list(keys)?, list(argv)?);
    if as_arguments {
        return Ok(MultiValue::from_iter([
            Value::Table(keys),
            Value::Table(argv),
        ]));
    }
    vm.vm.globals.raw_set("KEYS", keys)?;
    vm.vm.globals.raw_set("ARGV", argv)?;
    Ok(MultiValue::new())
}

/// A script's error as Redis 7.0 replies with it: the message, then the
/// script and the line it came from. The line is lost when the error came
/// from a function the script tail-called (`return redis.call(...)`: Lua
/// drops the caller's frame; Redis's redis.call is a C function, which
/// keeps it): then it is 1 for a one-line script, else not shown.
fn error_reply(e: &mlua::Error, callable: &Callable) -> Frame {
    let (label, chunk) = (callable.label, callable.chunk);
    let located = |msg: &str, line: Option<usize>| {
        let line = line.or(callable.one_line.then_some(1));
        let msg = msg.replace(['\r', '\n'], " ");
        Frame::error(match line {
            Some(line) => format!("{msg} script: {label}, on @{chunk}:{line}."),
            None => msg,
        })
    };
    if let Some(se) = find_script_error(e) {
        return located(&se.msg, se.line);
    }
    if let mlua::Error::CallbackError { traceback, cause } = e {
        if let mlua::Error::RuntimeError(text) = cause.as_ref() {
            // A library's error (cjson, cmsgpack, bit), placed where the
            // script called it, as Redis's `luaL_error` places it.
            let line = trace_line(traceback, chunk);
            let msg = match line {
                Some(line) => format!("ERR {chunk}:{line}: {text}"),
                None => format!("ERR {text}"),
            };
            return located(&msg, line);
        }
    }
    match e {
        mlua::Error::RuntimeError(text) => {
            let (head, trace) = text
                .split_once("\nstack traceback:")
                .unwrap_or((text.as_str(), ""));
            let line = trace_line(trace, chunk);
            match head.strip_prefix(lua::ERROR_TABLE_MARKER) {
                Some(table_err) => located(table_err, line),
                None => located(&format!("ERR {head}"), line),
            }
        }
        mlua::Error::MemoryError(msg) => located(&format!("ERR {msg}"), None),
        other => located(&format!("ERR {other}"), None),
    }
}

fn find_script_error(e: &mlua::Error) -> Option<&ScriptError> {
    match e {
        mlua::Error::CallbackError { cause, .. } => find_script_error(cause),
        mlua::Error::ExternalError(inner) => inner.downcast_ref::<ScriptError>(),
        mlua::Error::WithContext { cause, .. } => find_script_error(cause),
        _ => None,
    }
}

/// The first script line of a Lua traceback (`\tuser_script:3: in ...`).
fn trace_line(trace: &str, chunk: &str) -> Option<usize> {
    trace.lines().find_map(|l| {
        let rest = l.trim_start().strip_prefix(chunk)?.strip_prefix(':')?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

const SCRIPT_HELP: &[&str] = &[
    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
    "HELP",
    "    Prints this help.",
];

/// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP.
pub(super) async fn script(cmd: &super::Command, args: &[Bytes]) -> Frame {
    let sub = match subcommand(cmd, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    match sub.as_str() {
        "load" => {
            let body = args[2].clone();
            let sha = lua::sha1_hex(&body);
            let vm = match core_vm() {
                Ok(vm) => vm,
                Err(e) => return e,
            };
            match compiled(&vm, &sha, &body) {
                Ok(_) => Frame::bulk(sha),
                Err(e) => e,
            }
        }
        "exists" => {
            let Ok(c) = cache().lock() else {
                return Frame::error("ERR script cache unavailable");
            };
            Frame::Array(
                args[2..]
                    .iter()
                    .map(|sha| {
                        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                        Frame::Integer(c.contains_key(&sha) as i64)
                    })
                    .collect(),
            )
        }
        "flush" => {
            if let Some(mode) = args.get(2) {
                if args.len() > 3 || !(super::arg_is(mode, "async") || super::arg_is(mode, "sync"))
                {
                    return Frame::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                }
            }
            if let Ok(mut c) = cache().lock() {
                c.clear();
            }
            GENERATION.fetch_add(1, Ordering::SeqCst);
            Frame::OK
        }
        "kill" => kill(),
        "help" => super::observe::help(SCRIPT_HELP),
        _ => super::unknown_subcommand(cmd.name, &args[1]),
    }
}

/// SCRIPT KILL and FUNCTION KILL.
pub(super) fn kill() -> Frame {
    let Ok(list) = running().lock() else {
        return Frame::error("ERR script registry unavailable");
    };
    let Some(r) = list.first() else {
        return Frame::error("NOTBUSY No scripts in execution right now.");
    };
    if r.wrote.load(Ordering::Relaxed) {
        return Frame::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.");
    }
    r.kill.store(true, Ordering::Relaxed);
    Frame::OK
}

/// Whether a script is running (FUNCTION STATS).
pub(super) fn script_running() -> bool {
    RUNNING_COUNT.load(Ordering::Relaxed) > 0
}
