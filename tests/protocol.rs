//! The wire protocol, byte for byte: RESP3 after HELLO 3, inline commands,
//! pipelining, and bad input (malformed RESP, unknown commands, wrong arity,
//! bad numbers, oversized requests, clients that vanish mid-pipeline), each
//! with Redis's exact reply and whether the connection survives.

mod common;

use common::{encode, q, q_err, Server};
use std::io::Write;
use std::time::Duration;

#[test]
fn resp3_after_hello_3() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.cmd(&["SET", "a", "v"]), "+OK\r\n");
    // RESP2 first.
    assert_eq!(r.cmd(&["GET", "nokey"]), "$-1\r\n");
    assert_eq!(
        r.cmd(&["CONFIG", "GET", "hz"]),
        "*2\r\n$2\r\nhz\r\n$2\r\n10\r\n"
    );
    let hello = r.cmd(&["HELLO", "3"]);
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n"),
        "{hello:?}"
    );
    assert!(hello.contains("$5\r\nproto\r\n:3\r\n"), "{hello:?}");
    assert!(
        hello.ends_with("$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$7\r\nmodules\r\n*0\r\n"),
        "{hello:?}"
    );
    assert_eq!(r.cmd(&["GET", "nokey"]), "_\r\n");
    assert_eq!(r.cmd(&["GET", "a"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["SET", "a", "w", "NX"]), "_\r\n");
    assert_eq!(r.cmd(&["SET", "a", "w", "XX", "GET"]), "$1\r\nv\r\n");
    assert_eq!(r.cmd(&["MGET", "a", "nokey"]), "*2\r\n$1\r\nw\r\n_\r\n");
    assert_eq!(
        r.cmd(&["CONFIG", "GET", "hz"]),
        "%1\r\n$2\r\nhz\r\n$2\r\n10\r\n"
    );
    assert_eq!(r.cmd(&["CONFIG", "GET", "nosuchparam"]), "%0\r\n");
    assert_eq!(r.cmd(&["PING"]), "+PONG\r\n");
    assert_eq!(r.cmd(&["INCR", "n"]), ":1\r\n");
    // INCRBYFLOAT stays a bulk string, as in Redis.
    assert_eq!(r.cmd(&["INCRBYFLOAT", "f", "1.5"]), "$3\r\n1.5\r\n");
    assert_eq!(r.cmd(&["CLIENT", "GETNAME"]), "_\r\n");
    assert_eq!(r.cmd(&["COMMAND", "INFO", "nosuchcommand"]), "*1\r\n_\r\n");
    assert_eq!(
        r.cmd(&["SCAN", "0", "MATCH", "nomatch*"]),
        "*2\r\n$1\r\n0\r\n*0\r\n"
    );
    assert_eq!(r.cmd(&["EXPIRE", "a", "100"]), ":1\r\n");
    assert_eq!(r.cmd(&["TTL", "a"]), ":100\r\n");
    assert_eq!(
        r.cmd(&["GET"]),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    // INFO and CLIENT INFO are verbatim strings.
    let info = r.cmd(&["INFO", "server"]);
    assert!(info.starts_with('='), "{info:?}");
    let (len, body) = info[1..].split_once("\r\n").unwrap();
    assert!(body.starts_with("txt:# Server\r\n"), "{info:?}");
    assert_eq!(len.parse::<usize>().unwrap() + 2, body.len());
    assert_eq!(r.cmd(&["INFO", "nosuchsection"]), "=4\r\ntxt:\r\n");
    let client = r.cmd(&["CLIENT", "INFO"]);
    assert!(
        client.starts_with('=') && client.contains("\r\ntxt:id="),
        "{client:?}"
    );
    assert!(client.contains(" resp=3"), "{client:?}");
    let docs = r.cmd(&["COMMAND", "DOCS", "get"]);
    assert!(docs.starts_with("%1\r\n$3\r\nget\r\n%"), "{docs:?}");
    // COMMAND INFO flags are sets in RESP3.
    let info = r.cmd(&["COMMAND", "INFO", "get"]);
    assert!(
        info.starts_with("*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n"),
        "{info:?}"
    );

    // Back to RESP2.
    let hello = r.cmd(&["HELLO", "2"]);
    assert!(hello.starts_with("*14\r\n$6\r\nserver\r\n"), "{hello:?}");
    assert_eq!(r.cmd(&["GET", "nokey"]), "$-1\r\n");
    let info = r.cmd(&["INFO", "server"]);
    assert!(info.starts_with('$'), "{info:?}");
    // RESP3 is per connection.
    assert_eq!(s.raw().cmd(&["GET", "nokey"]), "$-1\r\n");
}

#[test]
fn inline_commands() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(b"PING\r\n"), "+PONG\r\n");
    assert_eq!(r.call(b"ping\n"), "+PONG\r\n");
    assert_eq!(r.call(b"SET a \"b c\"\r\n"), "+OK\r\n");
    assert_eq!(r.call(b"GET a\r\n"), "$3\r\nb c\r\n");
    assert_eq!(r.call(b"SET b 'single quoted'\r\n"), "+OK\r\n");
    assert_eq!(r.call(b"GET b\r\n"), "$13\r\nsingle quoted\r\n");
    assert_eq!(r.call(b"ECHO \"\\x41\\n\\t\"\r\n"), "$3\r\nA\n\t\r\n");
    assert_eq!(r.call(b"ECHO 'it\\'s'\r\n"), "$4\r\nit's\r\n");
    assert_eq!(r.call(b"ECHO \"\"\r\n"), "$0\r\n\r\n");
    assert_eq!(r.call(b"  SET   c    d  \r\n"), "+OK\r\n");
    assert_eq!(r.call(b"GET c\r\n"), "$1\r\nd\r\n");
    // Empty lines are skipped.
    assert_eq!(r.call(b"\r\n\r\n\nPING\r\n"), "+PONG\r\n");
    // Inline and multibulk mixed in one write.
    r.send(b"INCR n\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\nINCR n\r\n");
    assert_eq!(r.read_reply(), ":1\r\n");
    assert_eq!(r.read_reply(), ":2\r\n");
    assert_eq!(r.read_reply(), ":3\r\n");
    assert_eq!(
        r.call(b"foo a b\r\n"),
        "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"
    );
    assert_eq!(
        r.call(b"GET\r\n"),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    // Unbalanced quotes are a protocol error: reply, then close.
    let mut bad = s.raw();
    assert_eq!(
        bad.call(b"SET a \"b\r\n"),
        "-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    assert!(bad.closed_by_server());
    let mut bad = s.raw();
    assert_eq!(
        bad.call(b"ECHO \"a\"b\r\n"),
        "-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    assert!(bad.closed_by_server());
    assert_eq!(r.call(b"PING\r\n"), "+PONG\r\n");
}

/// Each malformed request gets Redis's protocol error, then the server
/// closes that connection and goes on serving the others.
#[test]
fn malformed_resp_closes_only_that_connection() {
    let s = Server::start();
    let mut other = s.raw();
    assert_eq!(other.cmd(&["SET", "k", "v"]), "+OK\r\n");
    let huge_count = format!("*{}", "1".repeat(70_000));
    let huge_len = format!("*1\r\n${}", "9".repeat(70_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            b"*1\r\n+foo\r\n".to_vec(),
            "-ERR Protocol error: expected '$', got '+'\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n:1\r\n".to_vec(),
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*x\r\n".to_vec(),
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*2147483648\r\n".to_vec(),
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$x\r\n".to_vec(),
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$-1\r\n".to_vec(),
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        // One byte over proto-max-bulk-len (512 MB).
        (
            b"*1\r\n$536870913\r\n".to_vec(),
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            huge_count.into_bytes(),
            "-ERR Protocol error: too big mbulk count string\r\n",
        ),
        (
            huge_len.into_bytes(),
            "-ERR Protocol error: too big bulk count string\r\n",
        ),
    ];
    for (input, want) in cases {
        let mut r = s.raw();
        assert_eq!(r.cmd(&["PING"]), "+PONG\r\n");
        r.send(&input);
        assert_eq!(
            r.read_reply(),
            want,
            "input {:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
        assert!(r.closed_by_server(), "connection left open after {want:?}");
        // The other connection is untouched.
        assert_eq!(other.cmd(&["GET", "k"]), "$1\r\nv\r\n");
    }
}

/// Requests before a malformed one, in the same packet, still run and are
/// answered first: Redis parses and runs requests one at a time.
#[test]
fn requests_before_a_protocol_error_are_answered() {
    let s = Server::start();
    let mut r = s.raw();
    r.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\nPING\r\n*1\r\n+foo\r\n");
    assert_eq!(r.read_reply(), "+OK\r\n");
    assert_eq!(r.read_reply(), "+PONG\r\n");
    assert_eq!(
        r.read_reply(),
        "-ERR Protocol error: expected '$', got '+'\r\n"
    );
    assert!(r.closed_by_server());
    assert_eq!(s.raw().cmd(&["GET", "k"]), "$1\r\nv\r\n");
}

/// COMMAND INFO answers an unknown name with a null bulk string, as Redis.
#[test]
fn command_info_unknown_name_is_a_null_bulk() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(
        r.cmd(&["COMMAND", "INFO", "nosuchcommand"]),
        "*1\r\n$-1\r\n"
    );
    assert_eq!(r.cmd(&["HELLO", "3"]).chars().next(), Some('%'));
    assert_eq!(r.cmd(&["COMMAND", "INFO", "nosuchcommand"]), "*1\r\n_\r\n");
}

#[test]
fn oversized_requests() {
    let s = Server::start();
    let mut other = s.raw();
    // An inline request longer than 64 KB: Redis's PROTO_INLINE_MAX_SIZE.
    let mut r = s.raw();
    let mut line = vec![b'a'; 200 * 1024];
    line.extend_from_slice(b"\r\n");
    r.send(&line);
    assert_eq!(
        r.read_reply(),
        "-ERR Protocol error: too big inline request\r\n"
    );
    assert!(r.closed_by_server());
    // A bulk string of exactly 512 MB is allowed: the server waits for it
    // (no error) and answers other clients meanwhile.
    let mut big = s.raw();
    big.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n");
    big.send(&vec![b'x'; 1 << 20]);
    assert_eq!(other.cmd(&["PING"]), "+PONG\r\n");
    big.stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut big.stream, &mut buf);
    assert!(
        matches!(&n, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "unexpected reply to an incomplete 512 MB bulk: {n:?} {:?}",
        String::from_utf8_lossy(&buf)
    );
    drop(big);
    // A value of a few MB, in one request and in many small writes.
    let value = vec![b'z'; 5 << 20];
    let mut req = format!("*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n", value.len()).into_bytes();
    req.extend_from_slice(&value);
    req.extend_from_slice(b"\r\n");
    assert_eq!(other.call(&req), "+OK\r\n");
    let mut slow = s.raw();
    for chunk in req.chunks(7919) {
        slow.send(chunk);
    }
    assert_eq!(slow.read_reply(), "+OK\r\n");
    let reply = other.cmd(&["GET", "big"]);
    assert_eq!(
        reply.len(),
        value.len() + format!("${}\r\n\r\n", value.len()).len()
    );
    assert_eq!(other.cmd(&["STRLEN", "big"]), format!(":{}\r\n", 5 << 20));
}

#[test]
fn request_split_byte_by_byte() {
    let s = Server::start();
    let mut r = s.raw();
    let req =
        b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nhello\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n";
    for &b in req.iter() {
        r.send(&[b]);
        r.stream.flush().unwrap();
    }
    assert_eq!(r.read_reply(), "+OK\r\n");
    assert_eq!(r.read_reply(), "$5\r\nhello\r\n");
    assert_eq!(r.read_reply(), "+PONG\r\n");
}

#[test]
fn unknown_command_arity_and_number_errors() {
    let s = Server::start();
    let mut con = s.con();
    assert_eq!(
        q_err(&mut con, &["foo", "a", "b"]),
        "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
    );
    assert_eq!(
        q_err(&mut con, &["foo"]),
        "ERR unknown command 'foo', with args beginning with: "
    );
    // Arguments are shown up to 128 characters.
    let long = "x".repeat(200);
    assert_eq!(
        q_err(&mut con, &["foo", &long]),
        format!(
            "ERR unknown command 'foo', with args beginning with: '{}' ",
            "x".repeat(128)
        )
    );
    let (a, b) = ("a".repeat(100), "b".repeat(100));
    assert_eq!(
        q_err(&mut con, &["foo", &a, &b]),
        format!(
            "ERR unknown command 'foo', with args beginning with: '{a}' '{}' ",
            "b".repeat(25)
        )
    );
    assert_eq!(
        q_err(&mut con, &[&long]),
        format!(
            "ERR unknown command '{}', with args beginning with: ",
            "x".repeat(128)
        )
    );
    for (args, name) in [
        (&["GET"][..], "get"),
        (&["get", "a", "b"], "get"),
        (&["SET", "k"], "set"),
        (&["MSET", "a"], "mset"),
        (&["MSET", "a", "1", "b"], "mset"),
        (&["INCRBY", "k"], "incrby"),
        (&["GETRANGE", "k", "0"], "getrange"),
        (&["EXPIRE"], "expire"),
        (&["RENAME", "a"], "rename"),
        (&["SELECT"], "select"),
        (&["Dbsize", "x"], "dbsize"),
    ] {
        assert_eq!(
            q_err(&mut con, args),
            format!("ERR wrong number of arguments for '{name}' command"),
            "{args:?}"
        );
    }
    let not_int = "ERR value is not an integer or out of range";
    for args in [
        &["INCRBY", "k", "x"][..],
        &["INCRBY", "k", "9223372036854775808"],
        &["INCRBY", "k", "-9223372036854775809"],
        &["DECRBY", "k", "1e3"],
        &["EXPIRE", "k", " 1"],
        &["SETEX", "k", "+1", "v"],
        &["GETRANGE", "k", "0", "99999999999999999999"],
        &["SETRANGE", "k", "0x10", "v"],
        &["SELECT", "1.0"],
    ] {
        assert_eq!(q_err(&mut con, args), not_int, "{args:?}");
    }
    // Overflow of a stored counter.
    assert_eq!(
        q::<String>(&mut con, &["SET", "k", "9223372036854775800"]),
        "OK"
    );
    assert_eq!(
        q_err(&mut con, &["INCRBY", "k", "8"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(q::<i64>(&mut con, &["INCRBY", "k", "7"]), i64::MAX);
    // The connection is still good after all those errors.
    assert_eq!(q::<String>(&mut con, &["PING"]), "PONG");
}

#[test]
fn pipeline_of_10000_commands() {
    let s = Server::start();
    let mut con = s.con();
    let mut pipe = redis::pipe();
    for i in 0..2500 {
        pipe.cmd("SET").arg(format!("p:{i}")).arg(i);
        pipe.cmd("INCR").arg("p:counter");
        pipe.cmd("GET").arg(format!("p:{i}"));
        pipe.cmd("EXISTS").arg(format!("p:{}", i + 1));
    }
    let replies: Vec<redis::Value> = pipe.query(&mut con).unwrap();
    assert_eq!(replies.len(), 10_000);
    for (i, chunk) in replies.chunks(4).enumerate() {
        assert_eq!(chunk[0], redis::Value::Okay, "SET #{i}");
        assert_eq!(chunk[1], redis::Value::Int(i as i64 + 1), "INCR #{i}");
        assert_eq!(
            chunk[2],
            redis::Value::BulkString(i.to_string().into_bytes()),
            "GET #{i}"
        );
        assert_eq!(chunk[3], redis::Value::Int(0), "EXISTS #{i}");
    }
    // Raw: 10,000 ECHOs in one write, replies in order.
    let mut r = s.raw();
    let mut req = Vec::new();
    for i in 0..10_000 {
        req.extend_from_slice(&encode(&["ECHO", &i.to_string()]));
    }
    r.send(&req);
    for i in 0..10_000 {
        let n = i.to_string();
        assert_eq!(r.read_reply(), format!("${}\r\n{n}\r\n", n.len()));
    }
    // Mixed: commands for both shards, errors and front-end commands
    // interleaved, replies in request order and each sees earlier writes.
    let mut req = Vec::new();
    for i in 0..10_000 {
        let k = format!("m:{}", (i / 5) % 100);
        match i % 5 {
            0 => req.extend_from_slice(&encode(&["INCR", &k])),
            1 => req.extend_from_slice(&encode(&["GET", &k])),
            2 => req.extend_from_slice(&encode(&["PING"])),
            3 => req.extend_from_slice(&encode(&["GET"])),
            _ => req.extend_from_slice(&encode(&["DBSIZE"])),
        }
    }
    r.send(&req);
    let mut counters = [0i64; 100];
    for i in 0..10_000 {
        let reply = r.read_reply();
        let c = &mut counters[(i / 5) % 100];
        let want = match i % 5 {
            0 => {
                *c += 1;
                format!(":{c}\r\n")
            }
            1 => {
                let v = c.to_string();
                format!("${}\r\n{v}\r\n", v.len())
            }
            2 => "+PONG\r\n".to_string(),
            3 => "-ERR wrong number of arguments for 'get' command\r\n".to_string(),
            _ => {
                let keys = 2501 + counters.iter().filter(|&&c| c > 0).count();
                format!(":{keys}\r\n")
            }
        };
        assert_eq!(reply, want, "reply #{i}");
    }
}

/// Connection state changes inside one pipeline apply from that point on:
/// SELECT to the commands after it, HELLO to the replies after it, QUIT
/// ends the pipeline.
#[test]
fn connection_state_changes_mid_pipeline() {
    let s = Server::start();
    let mut r = s.raw();
    let steps: &[(&[&str], &str)] = &[
        (&["SET", "k", "zero"], "+OK\r\n"),
        (&["SELECT", "1"], "+OK\r\n"),
        (&["GET", "k"], "$-1\r\n"),
        (&["SET", "k", "one"], "+OK\r\n"),
        (&["MSET", "a", "1", "b", "1", "c", "1"], "+OK\r\n"),
        (&["DBSIZE"], ":4\r\n"),
        (&["SELECT", "0"], "+OK\r\n"),
        (&["GET", "k"], "$4\r\nzero\r\n"),
        (&["DBSIZE"], ":1\r\n"),
        (&["GET", "nokey"], "$-1\r\n"),
        (&["HELLO", "3"], ""),
        (&["GET", "nokey"], "_\r\n"),
        (&["CONFIG", "GET", "hz"], "%1\r\n$2\r\nhz\r\n$2\r\n10\r\n"),
        (&["HELLO", "2"], ""),
        (&["GET", "nokey"], "$-1\r\n"),
        (&["PING"], "+PONG\r\n"),
        (&["QUIT"], "+OK\r\n"),
        (&["SET", "after", "quit"], ""),
    ];
    let mut bytes = Vec::new();
    for (cmd, _) in steps {
        bytes.extend_from_slice(&encode(cmd));
    }
    r.send(&bytes);
    for (cmd, want) in steps {
        if cmd[0] == "SET" && cmd[1] == "after" {
            break;
        }
        let got = r.read_reply();
        if cmd[0] == "HELLO" {
            let first = if cmd[1] == "3" { '%' } else { '*' };
            assert!(got.starts_with(first), "{cmd:?}: {got:?}");
        } else {
            assert_eq!(&got, want, "{cmd:?}");
        }
    }
    assert!(r.closed_by_server());
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "after"]), 0);
    let mut db1 = s.con_db(1);
    assert_eq!(q::<String>(&mut db1, &["GET", "k"]), "one");
}

#[test]
fn client_vanishing_mid_pipeline_harms_no_one_else() {
    let s = Server::start();
    let port = s.port;
    let worker = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
        let mut con = client.get_connection().unwrap();
        for i in 1..=3000i64 {
            let n: i64 = redis::cmd("INCR").arg("steady").query(&mut con).unwrap();
            assert_eq!(n, i);
        }
    });
    for round in 0..20 {
        let mut r = s.raw();
        let mut req = Vec::new();
        for i in 0..5000 {
            req.extend_from_slice(&encode(&["SET", &format!("v:{round}:{i}"), "x"]));
            req.extend_from_slice(&encode(&["GET", &format!("v:{round}:{i}")]));
        }
        // Cut off in the middle of a request, never read the replies.
        req.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc");
        r.send(&req);
        drop(r);
    }
    // One that reads a little, then goes away with replies still pending.
    let mut r = s.raw();
    let mut req = Vec::new();
    for _ in 0..20_000 {
        req.extend_from_slice(&encode(&["ECHO", &"e".repeat(100)]));
    }
    r.send(&req);
    assert!(r.read_reply().starts_with("$100\r\n"));
    let _ = r.stream.shutdown(std::net::Shutdown::Both);
    drop(r);
    worker.join().expect("the steady client saw a wrong reply");
    let mut s = s;
    assert!(s.alive());
    let mut con = s.con();
    assert_eq!(q::<i64>(&mut con, &["GET", "steady"]), 3000);
    assert_eq!(q::<i64>(&mut con, &["EXISTS", "k"]), 0);
    assert_eq!(q::<String>(&mut con, &["PING"]), "PONG");
}

#[test]
fn empty_and_null_multibulk_are_ignored() {
    let s = Server::start();
    let mut r = s.raw();
    assert_eq!(r.call(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n"), "+PONG\r\n");
    // A binary key and value containing CR LF, as multibulk.
    r.send(b"*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$4\r\n\r\n\r\n\r\n");
    assert_eq!(r.read_reply(), "+OK\r\n");
    assert_eq!(
        r.call(b"*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n"),
        "$4\r\n\r\n\r\n\r\n"
    );
}

#[test]
fn many_arguments_in_one_command() {
    let s = Server::start();
    let mut con = s.con();
    let keys: Vec<String> = (0..100_000).map(|i| format!("many:{i}")).collect();
    let mut mset = redis::cmd("MSET");
    for k in &keys {
        mset.arg(k).arg(k);
    }
    let ok: String = mset.query(&mut con).unwrap();
    assert_eq!(ok, "OK");
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 100_000);
    let mut mget = redis::cmd("MGET");
    for k in &keys {
        mget.arg(k);
    }
    let values: Vec<String> = mget.query(&mut con).unwrap();
    assert_eq!(values, keys);
    let mut del = redis::cmd("DEL");
    for k in &keys {
        del.arg(k);
    }
    assert_eq!(del.query::<i64>(&mut con).unwrap(), 100_000);
    assert_eq!(q::<i64>(&mut con, &["DBSIZE"]), 0);
}
