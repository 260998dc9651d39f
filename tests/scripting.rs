//! Lua scripting (issue 22, docs/scripting.md): EVAL and friends against
//! redis-server 7.0 byte for byte (conversions both ways, RESP2 and RESP3,
//! errors, the sandbox, the libraries), SCRIPT, atomicity of a script whose
//! keys live on two shards under concurrent clients, undeclared keys, BUSY
//! and SCRIPT KILL, a script's writes across a kill -9 (all or nothing),
//! and redis-py's `Lock` (EVALSHA) through a real client.

mod common;

use common::{both, keys_on, q, Server};
use std::time::{Duration, Instant};

/// Scripts with no keys, run as `EVAL script 0 args...`.
const KEYLESS: &[&str] = &[
    // Lua -> RESP
    "return 1",
    "return 3.99",
    "return -3.99",
    "return 'hello'",
    "return true",
    "return false",
    "return nil",
    "return {}",
    "return {1,2,3,'x',{4,5,{6}}}",
    "return {1,2,nil,4}",
    "return {1,'a',3.5,true,false,{ok='x'}}",
    "return {ok='fine'}",
    "return {err='My Error'}",
    "return {err='ERR with code'}",
    "return redis.error_reply('x')",
    "return redis.error_reply('My Error')",
    "return redis.error_reply('-X My Error')",
    "return redis.status_reply('PONG')",
    "return {err='line\\nbreak'}",
    "return redis.sha1hex('')",
    "return redis.sha1hex('abc')",
    "return {double=1.5}",
    "return {map={a=1}}",
    "return {set={a=true}}",
    "redis.setresp(3); return {double=1.5}",
    "redis.setresp(3); return {map={a=1}}",
    "redis.setresp(3); return {set={a=true}}",
    "redis.setresp(3); return true",
    "redis.setresp(3); return false",
    // RESP -> Lua
    "return redis.call('get','scr:missing')",
    "return type(redis.call('get','scr:missing'))",
    "redis.setresp(3); return type(redis.call('get','scr:missing'))",
    "return redis.call('set','scr:a','1')",
    "return type(redis.call('set','scr:a','1'))",
    "return redis.call('set','scr:a','1')['ok']",
    "return redis.call('incr','scr:a')",
    "return type(redis.call('incr','scr:a'))",
    "return redis.call('hgetall','scr:h')",
    "redis.setresp(3); return redis.call('hgetall','scr:h')",
    "redis.setresp(3); local t = redis.call('hgetall','scr:h'); return type(t['map'])",
    "return redis.call('zrange','scr:z',0,-1,'withscores')",
    "redis.setresp(3); return redis.call('zscore','scr:z','m1')",
    "return redis.call('zscore','scr:z','m1')",
    "return redis.call('lrange','scr:l',0,-1)",
    "return redis.call('smembers','scr:s')",
    "return redis.pcall('incr','scr:str')",
    "return redis.pcall('nosuchcommand')",
    "local r = redis.pcall('incr','scr:str'); return r['err']",
    "return redis.call('set','scr:n',0.1) and redis.call('get','scr:n')",
    "return redis.call('set','scr:n',3) and redis.call('get','scr:n')",
    "return redis.call('set','scr:n',-1e20) and redis.call('get','scr:n')",
    "return redis.call('exists','scr:a','scr:missing')",
    "return redis.call('mget','scr:a','scr:missing','scr:str')",
    "return redis.call('ping')",
    "return redis.call('echo','x')",
    "return redis.call('del','scr:tmp')",
    "return redis.call('blpop','scr:nolist',0)",
    "return ARGV[1] .. ARGV[2]",
    "return #KEYS",
    "return ARGV",
    // errors
    "return redis.call('incr','scr:str')",
    "return redis.call('nosuch')",
    "return redis.call('get')",
    "return redis.call()",
    "return redis.call({})",
    "return redis.call('subscribe','x')",
    "return redis.call('multi')",
    "return redis.call('eval','return 1','0')",
    "return redis.call('lpush','scr:str','x')",
    "redis.call('incr','scr:str')",
    "local x = 1\nredis.call('incr','scr:str')\nreturn x",
    "local x = 1\nerror('boom')\nreturn x",
    "error('boom')",
    "error({err='X boom'})",
    "error(redis.error_reply('MY boom'))",
    "return x",
    "a = 5",
    "string.x = 1",
    "redis.call = nil",
    "return (",
    "return 1 +",
    "local t = nil; return t.x",
    "return 1 + nil",
    "os.exit()",
    "return io",
    "return loadfile",
    "return dofile",
    "redis.setresp(4)",
    "return pcall(function() error('x') end)",
    "return {pcall(function() error({err='E x'}) end)}",
    "return {pcall(function() return redis.call('incr','scr:str') end)}",
    // libraries
    "return cjson.encode({1,2,{a='x/y'}})",
    "return cjson.encode({a={b={c=1}}})",
    "return cjson.encode({})",
    "return cjson.encode('a\"b')",
    "return cjson.encode(1.5)",
    "return cjson.encode(1/3)",
    "return cjson.encode(cjson.decode('[1,2.5,\"x\",true,false]'))",
    "return cjson.decode('{\"a\":[1,2,3]}')['a'][2]",
    "return cjson.decode('[1,2,3]')",
    "return tostring(cjson.decode('null') == cjson.null)",
    "return bit.band(0xff, 0x0f0)",
    "return bit.bor(1, 2, 4)",
    "return bit.bxor(5, 3)",
    "return bit.bnot(0)",
    "return bit.lshift(1, 31)",
    "return bit.rshift(-1, 28)",
    "return bit.arshift(-256, 4)",
    "return bit.tohex(255)",
    "return bit.tohex(255, -4)",
    "return bit.tobit(4294967297)",
    "return bit.rol(1, 33)",
    "return bit.bswap(1)",
    "return string.format('%d-%s', 5, 'x')",
    "return string.rep('ab', 3)",
    "return table.concat({1,2,3}, ',')",
    "return math.floor(10.7)",
    "return math.max(1, 5, 3)",
    "return tostring(1e100)",
    "return tonumber('12') + 1",
    "return type(redis.REDIS_VERSION)",
    "return redis.LOG_WARNING",
    "redis.log(redis.LOG_WARNING, 'hello'); return 1",
    "redis.set_repl(redis.REPL_ALL); return 1",
    "return redis.replicate_commands()",
    "return unpack({1,2,3})",
    "return select('#', 1, 2)",
    "local t = {} for i=1,5 do t[#t+1] = i*i end return t",
];

/// Data both servers get before the table runs.
const SETUP: &[&[&str]] = &[
    &["FLUSHALL"],
    &["SET", "scr:str", "abc"],
    &["HSET", "scr:h", "f", "v"],
    &["ZADD", "scr:z", "1.5", "m1", "2", "m2"],
    &["RPUSH", "scr:l", "a", "b", "c"],
    &["SADD", "scr:s", "only"],
];

#[test]
fn scripts_answer_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!(
            "SKIPPED: redis-server is not installed; the scripting differential test needs it"
        );
        return;
    };
    let server = Server::start();
    let mut differ = Vec::new();
    for proto in ["2", "3"] {
        let (mut r, mut o) = (redis.raw(), server.raw());
        r.cmd(&["HELLO", proto]);
        o.cmd(&["HELLO", proto]);
        for script in KEYLESS {
            for setup in SETUP {
                both(&mut r, &mut o, setup);
            }
            let args = ["EVAL", script, "0", "a1", "a2"];
            let (want, got) = (r.cmd(&args), o.cmd(&args));
            if want != got {
                differ.push(format!(
                    "RESP{proto} {script:?}\n  redis: {want:?}\n  ours:  {got:?}"
                ));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "{} scripts differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}

#[test]
fn eval_arguments_and_the_script_cache_answer_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.raw(), server.raw());
    let keys = keys_on("scr:k", 0, 2, 1)
        .into_iter()
        .chain(keys_on("scr:k", 1, 2, 1))
        .collect::<Vec<_>>();
    let (k0, k1) = (keys[0].as_str(), keys[1].as_str());
    let body = "return {KEYS[1], KEYS[2], ARGV[1], redis.call('set', KEYS[1], ARGV[1]), redis.call('incr', KEYS[2])}";
    for args in [
        &["EVAL", body, "2", k0, k1, "v"][..],
        &["EVAL", "return 1", "2", "a"],
        &["EVAL", "return 1", "-1"],
        &["EVAL", "return 1", "x"],
        &["EVAL", "return 1"],
        &["EVALSHA", "ffffffffffffffffffffffffffffffffffffffff", "0"],
        &["EVALSHA", "short", "0"],
        &["SCRIPT", "LOAD", body],
        &["EVALSHA", "c6e31a4e09a0a8d3e8c0a4b0c1a1d9ef2e2ff0c4", "0"],
        &[
            "SCRIPT",
            "EXISTS",
            "ffffffffffffffffffffffffffffffffffffffff",
        ],
        &["SCRIPT", "LOAD", "return ("],
        &["SCRIPT", "LOAD", "return KEYS[1]"],
        &[
            "EVALSHA",
            "f8b7a2a5b1c9d5c6c3e1e8a6e6f0b4f5a1c2d3e4",
            "1",
            "x",
        ],
        &[
            "SCRIPT",
            "EXISTS",
            "4a3b6e5c0c2a1a4e0d6e8f7b2a1c0d9e8f7a6b5c",
        ],
        &["SCRIPT", "KILL"],
        &["SCRIPT", "FLUSH", "FOO"],
        &["SCRIPT", "NOSUCH"],
        &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", k0],
        &["EVAL_RO", "return redis.call('set', KEYS[1], 'x')", "1", k0],
    ] {
        both(&mut r, &mut o, args);
    }
    // The SHA of a loaded script runs through EVALSHA (any case), then
    // not after SCRIPT FLUSH.
    let sha = o.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]);
    assert_eq!(sha, r.cmd(&["SCRIPT", "LOAD", "return ARGV[1]"]));
    let sha = sha.lines().nth(1).unwrap().to_string();
    let upper = sha.to_uppercase();
    for args in [
        &["EVALSHA", sha.as_str(), "0", "x"][..],
        &["EVALSHA", upper.as_str(), "0", "x"],
        &["EVALSHA_RO", sha.as_str(), "0", "x"],
        &["SCRIPT", "EXISTS", sha.as_str(), "nosuch"],
        &["SCRIPT", "FLUSH", "ASYNC"],
        &["SCRIPT", "EXISTS", sha.as_str()],
        &["EVALSHA", sha.as_str(), "0", "x"],
    ] {
        both(&mut r, &mut o, args);
    }
    // A script loaded through one connection runs from every other (all
    // cores share the cache).
    let sha = q::<String>(&mut server.con(), &["SCRIPT", "LOAD", "return 7"]);
    for _ in 0..8 {
        let mut c = server.con();
        assert_eq!(q::<i64>(&mut c, &["EVALSHA", &sha, "0"]), 7);
    }
    // Inside MULTI, as Redis: queued, then run in EXEC.
    for args in [
        &["MULTI"][..],
        &["EVAL", "return redis.call('incr', KEYS[1])", "1", k1],
        &["EVAL", "return redis.call('get', KEYS[1])", "1", k1],
        &["EXEC"],
    ] {
        both(&mut r, &mut o, args);
    }
}

/// Moves one unit between two keys on different shards, many times, from
/// several clients at once, while others read both keys inside a script
/// and in MULTI/EXEC: every read sees the same total (an interleaving
/// between the script's two writes would show one unit missing or extra).
#[test]
fn a_script_across_shards_is_atomic() {
    let server = Server::start();
    let a = keys_on("atom:a", 0, 2, 1).remove(0);
    let b = keys_on("atom:b", 1, 2, 1).remove(0);
    let mut c = server.con();
    let _: () = q(&mut c, &["MSET", &a, "1000", &b, "1000"]);
    let mover = "local x = tonumber(redis.call('get', KEYS[1]))
redis.call('set', KEYS[1], x - 1)
local y = tonumber(redis.call('get', KEYS[2]))
redis.call('set', KEYS[2], y + 1)
return x + y";
    let reader =
        "return tonumber(redis.call('get', KEYS[1])) + tonumber(redis.call('get', KEYS[2]))";
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut threads = Vec::new();
    for i in 0..3 {
        let (a, b, url) = (a.clone(), b.clone(), server.url());
        threads.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut moves = 0;
            while Instant::now() < deadline {
                let (from, to) = if (moves + i) % 2 == 0 {
                    (&a, &b)
                } else {
                    (&b, &a)
                };
                let total: i64 = q(&mut c, &["EVAL", mover, "2", from, to]);
                assert_eq!(total, 2000, "a mover saw a torn state");
                moves += 1;
            }
            moves
        }));
    }
    for _ in 0..2 {
        let (a, b, url) = (a.clone(), b.clone(), server.url());
        threads.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut reads = 0;
            while Instant::now() < deadline {
                let total: i64 = q(&mut c, &["EVAL_RO", reader, "2", &a, &b]);
                assert_eq!(total, 2000, "a reading script saw a torn state");
                let (x, y): (i64, i64) = redis::pipe()
                    .atomic()
                    .cmd("GET")
                    .arg(&a)
                    .cmd("GET")
                    .arg(&b)
                    .query(&mut c)
                    .unwrap();
                assert_eq!(x + y, 2000, "EXEC saw a torn state");
                reads += 1;
            }
            reads
        }));
    }
    let counts: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(
        counts.iter().all(|&n| n > 10),
        "too little work done: {counts:?}"
    );
    let x: i64 = q(&mut c, &["GET", &a]);
    let y: i64 = q(&mut c, &["GET", &b]);
    assert_eq!(x + y, 2000);
}

/// Keys a script did not declare, on any shard, as Redis allows outside
/// cluster mode: with no KEYS (every shard held), and with a declared key
/// on the upper shard reaching one on the lower (the script runs again
/// holding every shard, having written nothing).
#[test]
fn scripts_reach_keys_they_did_not_declare() {
    let server = Server::start();
    let low = keys_on("und:low", 0, 2, 1).remove(0);
    let high = keys_on("und:high", 1, 2, 1).remove(0);
    let mut c = server.con();
    let _: () = q(&mut c, &["MSET", &low, "L", &high, "H"]);
    let both_keys = "return {redis.call('get', ARGV[1]), redis.call('get', ARGV[2])}";
    let got: Vec<String> = q(&mut c, &["EVAL", both_keys, "0", &low, &high]);
    assert_eq!(got, ["L", "H"]);
    let got: Vec<String> = q(&mut c, &["EVAL", both_keys, "1", &high, &low, &high]);
    assert_eq!(got, ["L", "H"]);
    // Declared low, undeclared high: taken in order.
    let got: Vec<String> = q(&mut c, &["EVAL", both_keys, "1", &low, &low, &high]);
    assert_eq!(got, ["L", "H"]);
    let write_then_read = "redis.call('set', KEYS[1], 'w'); return redis.call('get', ARGV[1])";
    let got: String = q(&mut c, &["EVAL", write_then_read, "1", &low, &high]);
    assert_eq!(got, "H");
    // A read of the lower shard first, then a write: run again on every
    // shard, and the write happens once.
    let counter = keys_on("und:ctr", 1, 2, 1).remove(0);
    let read_low_then_count =
        "local v = redis.call('get', ARGV[1]); redis.call('incr', KEYS[1]); return v";
    let got: String = q(&mut c, &["EVAL", read_low_then_count, "1", &counter, &low]);
    assert_eq!(got, "w");
    assert_eq!(q::<i64>(&mut c, &["GET", &counter]), 1);
}

/// The id of the core a connection was accepted on (ids of core `i` of
/// `n` are `i + 1 + k n`).
fn core_of(c: &mut redis::Connection, shards: u64) -> u64 {
    (q::<u64>(c, &["CLIENT", "ID"]) - 1) % shards
}

#[test]
fn a_long_script_makes_others_busy_and_script_kill_stops_it() {
    let server = Server::start();
    let mut looping = server.con();
    let looping_core = core_of(&mut looping, 2);
    let mut other = loop {
        let mut c = server.con();
        if core_of(&mut c, 2) != looping_core {
            break c;
        }
    };
    assert_eq!(
        common::q_err(&mut other, &["SCRIPT", "KILL"]),
        "NOTBUSY No scripts in execution right now."
    );
    // Redis's default, 5 s, set through the old name (an alias, as in
    // Redis) to 300 ms: it was a constant, and -BUSY came after 5 s.
    let threshold = |c: &mut redis::Connection| -> Vec<String> {
        q(c, &["CONFIG", "GET", "busy-reply-threshold"])
    };
    assert_eq!(threshold(&mut other)[1], "5000");
    let _: () = q(&mut other, &["CONFIG", "SET", "lua-time-limit", "300"]);
    assert_eq!(threshold(&mut other)[1], "300");
    let started = Instant::now();
    let runner = std::thread::spawn(move || {
        common::q_err(
            &mut looping,
            &["EVAL", "local i = 0 while true do i = i + 1 end", "0"],
        )
    });
    // Past the threshold others are answered -BUSY. (A command that came
    // before it waits for the script: the check is made on arrival.)
    std::thread::sleep(Duration::from_millis(500));
    let busy = common::q_err(&mut other, &["GET", "x"]);
    assert!(busy.starts_with("BUSY"), "{busy}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(4),
        "-BUSY after {waited:?}"
    );
    let _: () = q(&mut other, &["SCRIPT", "KILL"]);
    let killed = runner.join().unwrap();
    assert!(
        killed.contains("Script killed by user with SCRIPT KILL... script: ")
            && killed.ends_with(", on @user_script:1."),
        "{killed}"
    );
    let _: () = q(&mut other, &["SET", "x", "1"]);
    assert_eq!(q::<i64>(&mut other, &["GET", "x"]), 1);
}

/// A script writing on both shards, killed -9 before its writes are
/// logged: none of them after the restart; killed after its first log
/// record is durable: all of them.
#[test]
fn a_scripts_writes_are_all_or_nothing_across_a_crash() {
    let mut server = Server::with(2, &["--appendonly", "yes", "--appendfsync", "always"]);
    let x = keys_on("crash:x", 0, 2, 1).remove(0);
    let y = keys_on("crash:y", 1, 2, 1).remove(0);
    let mut c = server.con();
    let _: () = q(&mut c, &["MSET", &x, "0", &y, "0"]);
    let script = "redis.call('incrby', KEYS[1], 5); redis.call('decrby', KEYS[2], 5); return 1";
    for (point, want) in [
        ("script-before-commit", (0, 0)),
        ("exec-after-first-step", (5, -5)),
    ] {
        server.kill9();
        server.set_env(&[("RINGCACHE_TEST_CRASH_AT", point)]);
        server.start_again();
        let mut raw = server.raw();
        raw.send(&common::encode(&["EVAL", script, "2", &x, &y]));
        assert!(
            server.crashed_within(Duration::from_secs(10)),
            "the script never reached {point}; log:\n{}",
            server.log_text()
        );
        server.set_env(&[]);
        server.start_again();
        let mut c = server.con();
        let got: (i64, i64) = (q(&mut c, &["GET", &x]), q(&mut c, &["GET", &y]));
        assert_eq!(got, want, "after a crash at {point}");
        server.kill9_and_restart();
        let mut c = server.con();
        let got: (i64, i64) = (q(&mut c, &["GET", &x]), q(&mut c, &["GET", &y]));
        assert_eq!(got, want, "after a crash at {point} and another restart");
    }
}

/// redis-py's Lock: acquire, extend, reacquire and release run Lua
/// through EVALSHA (falling back to EVAL on NOSCRIPT).
#[test]
fn redis_py_lock_works() {
    let server = Server::start();
    let out = common::run_python(
        &server,
        r#"
import sys, redis
r = redis.Redis(port=int(sys.argv[1]))
lock = r.lock("resource", timeout=5)
assert lock.acquire(blocking=False)
other = r.lock("resource", timeout=5)
assert not other.acquire(blocking=False)
assert lock.owned()
assert lock.extend(10)
assert 5000 < r.pttl("resource") <= 15000, r.pttl("resource")
assert lock.reacquire()
lock.release()
assert not lock.owned()
assert other.acquire(blocking=False)
try:
    lock.release()
    raise SystemExit("released a lock it did not own")
except redis.exceptions.LockError:
    pass
other.release()
r.script_flush()
with r.lock("again", timeout=2):
    assert r.exists("again")
assert not r.exists("again")
print("lock ok")
"#,
        Duration::from_secs(60),
    );
    assert!(out.contains("lock ok"), "{out}");
}

/// A job-queue script in the style of Sidekiq / BullMQ: move due jobs from
/// a sorted set to a list, hash bookkeeping, all in one script.
#[test]
fn a_job_queue_script_works() {
    let server = Server::start();
    let mut c = server.con();
    let schedule = "job:scheduled";
    let queue = "job:queue";
    let stats = "job:stats";
    for i in 0..20 {
        let _: i64 = q(
            &mut c,
            &["ZADD", schedule, &i.to_string(), &format!("job{i}")],
        );
    }
    let enqueue_due =
        "local due = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
  if redis.call('zrem', KEYS[1], job) == 1 then
    redis.call('lpush', KEYS[2], job)
    redis.call('hincrby', KEYS[3], 'enqueued', 1)
  end
end
return #due";
    let moved: i64 = q(
        &mut c,
        &["EVAL", enqueue_due, "3", schedule, queue, stats, "9", "100"],
    );
    assert_eq!(moved, 10);
    let moved: i64 = q(
        &mut c,
        &["EVAL", enqueue_due, "3", schedule, queue, stats, "100", "5"],
    );
    assert_eq!(moved, 5);
    assert_eq!(q::<i64>(&mut c, &["LLEN", queue]), 15);
    assert_eq!(q::<i64>(&mut c, &["ZCARD", schedule]), 5);
    assert_eq!(q::<i64>(&mut c, &["HGET", stats, "enqueued"]), 15);
    let payload = "return cjson.encode({queue = KEYS[1], length = redis.call('llen', KEYS[1])})";
    let json: String = q(&mut c, &["EVAL", payload, "1", queue]);
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["length"], 15);
}

const LIBRARY: &str = "#!lua name=mylib
redis.register_function('echoarg', function(keys, args) return args[1] end)
redis.register_function{function_name='getter', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}}
redis.register_function('setter', function(keys, args) redis.call('set', keys[1], args[1]) return #keys end)";

#[test]
fn functions_answer_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed");
        return;
    };
    let server = Server::start();
    let (mut r, mut o) = (redis.raw(), server.raw());
    let k = keys_on("fn:k", 1, 2, 1).remove(0);
    for args in [
        &["FUNCTION", "FLUSH"][..],
        &["FUNCTION", "LOAD", LIBRARY],
        &["FUNCTION", "LOAD", LIBRARY],
        &["FCALL", "echoarg", "0", "hello"],
        &["FCALL", "setter", "1", &k, "v"],
        &["FCALL", "getter", "1", &k],
        &["FCALL_RO", "getter", "1", &k],
        &["FCALL_RO", "setter", "1", &k, "w"],
        &["FCALL", "nosuch", "0"],
        &["FCALL", "echoarg", "2", "a"],
        &["FUNCTION", "LOAD", "return 1"],
        &["FUNCTION", "LOAD", "#!lua name=x"],
        &["FUNCTION", "LOAD", "#!lua name=y\nredis.call('ping')"],
        &["FUNCTION", "LOAD", "#!lua name=y\nreturn 1"],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=z\nredis.register_function('echoarg', function() return 1 end)",
        ],
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib2\nredis.register_function('f2', function(keys, args) return #keys end)",
        ],
        &["FCALL", "f2", "2", "a", "b", "c"],
        &["FUNCTION", "LIST", "LIBRARYNAME", "lib2", "WITHCODE"],
        &["FUNCTION", "DELETE", "lib2"],
        &["FUNCTION", "DELETE", "lib2"],
        &["FCALL", "f2", "0"],
        &[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=mylib\nredis.register_function('echoarg', function() return 1 end)",
        ],
        &["FCALL", "echoarg", "0"],
        &["FCALL", "getter", "1", &k],
        &["FUNCTION", "STATS"],
        &["FUNCTION", "KILL"],
        &[
            "EVAL",
            "#!lua flags=no-writes\nredis.call('set','a',1)\nreturn 1",
            "0",
        ],
        &["EVAL", "#!lua flags=bogus\nreturn 1", "0"],
        &["EVAL", "#!lua\nreturn x", "0"],
        &["EVAL", "#!lua flags=allow-oom,no-cluster\nreturn 2", "0"],
    ] {
        both(&mut r, &mut o, args);
    }
}

/// FUNCTION LOAD survives a kill -9, and a restart with another shard
/// count; FUNCTION DUMP / RESTORE carry the libraries over.
#[test]
fn functions_survive_a_crash_and_a_reshard() {
    let mut server = Server::with(2, &["--appendonly", "yes"]);
    let mut c = server.con();
    let name: String = q(&mut c, &["FUNCTION", "LOAD", LIBRARY]);
    assert_eq!(name, "mylib");
    let _: i64 = q(&mut c, &["FCALL", "setter", "1", "fk", "kept"]);
    server.kill9_and_restart();
    let mut c = server.con();
    assert_eq!(q::<String>(&mut c, &["FCALL", "echoarg", "0", "x"]), "x");
    assert_eq!(q::<String>(&mut c, &["FCALL", "getter", "1", "fk"]), "kept");
    server.restart_with(3, &["--appendonly", "yes"]);
    let mut c = server.con();
    assert_eq!(q::<String>(&mut c, &["FCALL", "echoarg", "0", "y"]), "y");
    let dump: Vec<u8> = q(&mut c, &["FUNCTION", "DUMP"]);
    let _: () = q(&mut c, &["FUNCTION", "FLUSH"]);
    assert!(common::q_err(&mut c, &["FCALL", "echoarg", "0", "y"]).contains("Function not found"));
    let _: () = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(dump)
        .query(&mut c)
        .unwrap();
    assert_eq!(q::<String>(&mut c, &["FCALL", "echoarg", "0", "z"]), "z");
    // A flush is kept too.
    let _: () = q(&mut c, &["FUNCTION", "FLUSH"]);
    server.kill9_and_restart();
    let mut c = server.con();
    assert!(common::q_err(&mut c, &["FCALL", "echoarg", "0", "y"]).contains("Function not found"));
}

/// A Celery worker (Redis broker and result backend; its transport runs
/// Lua through EVALSHA) runs 100 tasks against the server.
#[test]
fn a_celery_worker_runs_100_tasks() {
    let server = Server::start();
    let dir = common::scratch("celery-app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tasks.py"),
        r#"import os
from celery import Celery
port = os.environ["RC_PORT"]
app = Celery("tasks", broker=f"redis://127.0.0.1:{port}/0", backend=f"redis://127.0.0.1:{port}/1")

@app.task
def add(x, y):
    return x + y
"#,
    )
    .unwrap();
    let script = format!(
        r#"
import os, sys, subprocess
os.environ["RC_PORT"] = sys.argv[1]
app_dir = {dir:?}
sys.path.insert(0, app_dir)
from tasks import add
worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "tasks", "worker", "--pool=solo",
    "--loglevel=warning", "--without-gossip", "--without-mingle", "--without-heartbeat"],
    cwd=app_dir, env=os.environ)
try:
    results = [add.delay(i, i) for i in range(100)]
    got = [r.get(timeout=60) for r in results]
    assert got == [2 * i for i in range(100)], got
    print("celery ok", len(got))
finally:
    worker.terminate()
    worker.wait(timeout=20)
"#,
        dir = dir.display().to_string()
    );
    let out = common::run_python(&server, &script, Duration::from_secs(120));
    assert!(out.contains("celery ok 100"), "{out}");
}

/// Runs each of `scripts` (EVAL, no keys) on both servers: every reply
/// the same, or the test fails listing those that differ.
fn same_replies(redis: &Server, server: &Server, scripts: &[String]) {
    let (mut r, mut o) = (redis.raw(), server.raw());
    let mut differ = Vec::new();
    for script in scripts {
        let args = ["EVAL", script, "0"];
        let (want, got) = (r.cmd(&args), o.cmd(&args));
        if want != got {
            differ.push(format!("{script}\n  redis: {want:?}\n  ours:  {got:?}"));
        }
    }
    assert!(
        differ.is_empty(),
        "{} of {} scripts differ:\n{}",
        differ.len(),
        scripts.len(),
        differ.join("\n")
    );
}

/// `cmsgpack` (BullMQ's scripts unpack their options with it): every
/// encoding form, the array-or-map rule, nesting, the unpack variants and
/// their errors, each script's reply compared with redis-server's.
#[test]
fn cmsgpack_packs_and_unpacks_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this test compares with it");
        return;
    };
    let server = Server::start();
    // Packed bytes come back in hex: a reply's bytes, not its text.
    let hex = "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end ";
    let show = "local function show(...) local out = {} for i = 1, select('#', ...) do local v = select(i, ...) \
        if type(v) == 'table' then out[#out + 1] = 'table:' .. hex(cmsgpack.pack(v)) else out[#out + 1] = type(v) .. ':' .. tostring(v) end end return out end ";
    let packs = [
        "nil",
        "true",
        "false",
        "0",
        "127",
        "128",
        "255",
        "256",
        "65535",
        "65536",
        "4294967295",
        "4294967296",
        "-1",
        "-32",
        "-33",
        "-128",
        "-129",
        "-32768",
        "-32769",
        "-2147483648",
        "-2147483649",
        "0.5",
        "3.14",
        "1e300",
        "-0.0",
        "1/0",
        "-1/0",
        "2^53",
        "2^63",
        "-2^63",
        "''",
        "string.rep('a', 31)",
        "string.rep('b', 32)",
        "string.rep('c', 255)",
        "string.rep('d', 256)",
        "string.rep('e', 65536)",
        "{}",
        "{1, 2, 3}",
        "{a = 1}",
        "{[1] = 1, [3] = 3}",
        "{[10] = 1, [20] = 2}",
        "{1.5, 'x', true}",
        "(function() local t = {} for i = 1, 16 do t[i] = i end return t end)()",
        "(function() local t = {} for i = 1, 70000 do t[i] = i % 3 end return t end)()",
        "(function() local t = {} for i = 1, 20 do t = {t} end return t end)()",
        "(function() local t = {} t.self = t return t end)()",
        "1, 'a', {2}",
        "redis.call",
    ];
    let mut scripts: Vec<String> = packs
        .iter()
        .map(|p| format!("{hex}return hex(cmsgpack.pack({p}))"))
        .collect();
    for p in [
        "1",
        "-5",
        "300",
        "70000",
        "-70000",
        "2^40",
        "-2^40",
        "0.25",
        "3.14",
        "'hi'",
        "string.rep('z', 300)",
        "{1, 'two', {3}}",
        "{k = 'v'}",
        "true, false, nil, 7",
    ] {
        scripts.push(format!(
            "{hex}{show}return show(cmsgpack.unpack(cmsgpack.pack({p})))"
        ));
    }
    for raw in [
        "'\\202\\161a\\001\\161b\\002'",
        "'\\220\\000\\002\\001\\002'",
        "'\\221\\000\\000\\000\\001\\005'",
        "'\\222\\000\\001\\161k\\192'",
        "'\\223\\000\\000\\000\\001\\001\\002'",
        "'\\202\\161a'",
        "'\\202'",
        "'\\163ab'",
        "'\\193'",
        "'\\196\\001a'",
        "'\\199\\001\\001a'",
        "'\\207\\000\\032\\000\\000\\000\\000\\000\\001'",
        "'\\211\\255\\255\\255\\255\\255\\255\\255\\255'",
        "'\\202\\063\\000\\000\\000'",
        "'\\203\\064\\009\\033\\251\\084\\068\\045\\024'",
        "'\\220\\255\\255'",
        "'\\145\\145\\145\\144'",
        "''",
    ] {
        scripts.push(format!("{hex}{show}return show(cmsgpack.unpack({raw}))"));
    }
    for call in [
        "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3))",
        "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 1)",
        "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)",
        "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 3)",
        "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 4)",
        "cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), -1)",
        "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)",
        "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2, 1)",
        "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 5)",
        "cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), -1)",
        "cmsgpack.pack()",
        "cmsgpack._VERSION, cmsgpack._NAME",
        // Other libraries' errors are placed the same way.
        "cjson.encode(function() end)",
    ] {
        scripts.push(format!("{hex}{show}return show({call})"));
    }
    same_replies(&redis, &server, &scripts);
}

/// `struct`: every format option, order and alignment, the unpack position
/// and `c0`, `size`, and the errors, each script's reply compared with
/// redis-server's.
#[test]
fn struct_packs_and_unpacks_as_redis() {
    let Some(redis) = Server::redis_oracle() else {
        eprintln!("SKIPPED: redis-server is not installed; this test compares with it");
        return;
    };
    let server = Server::start();
    let hex = "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', string.byte(c)) end)) end ";
    let show = "local function show(...) local out = {} for i = 1, select('#', ...) do local v = select(i, ...) \
        out[#out + 1] = type(v) .. ':' .. (type(v) == 'string' and hex(v) or tostring(v)) end return out end ";
    let packs = [
        "'b', -1",
        "'B', 255",
        "'h', -2",
        "'H', 65535",
        "'>h', 258",
        "'<h', 258",
        "'l', -3",
        "'L', 2^40",
        "'T', 7",
        "'i', -4",
        "'I', 4294967295",
        "'i3', 70000",
        "'>i3', 70000",
        "'I16', 5",
        "'i16', -5",
        "'f', 1.5",
        "'>f', 1.5",
        "'d', 3.25",
        "'>d', -3.25",
        "'x'",
        "'c3', 'abcdef'",
        "'c0', 'hello'",
        "'s', 'str'",
        "'bhi', 1, 2, 3",
        "'!bhi', 1, 2, 3",
        "'!2bd', 1, 2",
        "'!4 b d', 1, 2",
        "'>!8 b l', 1, 2",
        "'b', '12'",
        "'B', 256",
        "'B', -1",
        "'I2', 2.9",
        "'i', 3e9",
    ];
    let mut scripts: Vec<String> = packs
        .iter()
        .map(|p| format!("{hex}return hex(struct.pack({p}))"))
        .collect();
    for call in [
        "struct.unpack('b', '\\255')",
        "struct.unpack('B', '\\255')",
        "struct.unpack('>h', '\\001\\002')",
        "struct.unpack('<H', '\\001\\002')",
        "struct.unpack('i', struct.pack('i', -123456))",
        "struct.unpack('I3', '\\001\\002\\003')",
        "struct.unpack('i3', '\\255\\255\\255')",
        "struct.unpack('L', struct.pack('L', 2^50))",
        "struct.unpack('f', struct.pack('f', 0.1))",
        "struct.unpack('>d', struct.pack('>d', 1/3))",
        "struct.unpack('c2', 'abcd')",
        "struct.unpack('c2', 'abcd', 3)",
        "struct.unpack('s', 'ab\\000cd')",
        "struct.unpack('s s', 'ab\\000cd\\000')",
        "struct.unpack('b c0', '\\003xyzw')",
        "struct.unpack('!4 b i', struct.pack('!4 b i', 1, 2))",
        "struct.unpack('x b', '\\000\\007')",
        "struct.unpack('bbb', 'ab')",
        "struct.unpack('b', 'a', 0)",
        "struct.unpack('b', 'a', 5)",
        "struct.unpack('s', 'abc')",
        "struct.unpack('c0', 'abc')",
        "struct.unpack('', 'abc', 2)",
        "struct.size('bhilTfdx')",
        "struct.size('!bhilTfdx')",
        "struct.size('c5 i3')",
        "struct.size('s')",
        "struct.size('c0')",
        "struct.size('!3')",
        "struct.size('z')",
        "struct.pack('z')",
        "struct.pack('i33', 1)",
        "struct.pack('c5', 'ab')",
        "struct.pack('b')",
        "struct.pack('b', {})",
        "struct.pack('!3b', 1)",
        "struct.pack('i99999999999', 1)",
    ] {
        scripts.push(format!("{hex}{show}return show({call})"));
    }
    same_replies(&redis, &server, &scripts);
}
