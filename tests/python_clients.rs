//! redis-py, the most used Python client, against a real server: the client
//! library's own code paths (connection handshake, pipelines, response
//! parsing in RESP2 and RESP3), not only the commands.

mod common;

use common::{run_python, Server};
use std::time::Duration;

#[test]
fn redis_py_handshakes_pipelines_and_parses_replies_in_resp2_and_resp3() {
    let server = Server::start();
    let script = r#"
import sys, redis
port = int(sys.argv[1])
for proto in (2, 3):
    r = redis.Redis(port=port, protocol=proto, decode_responses=True)
    r.flushall()
    assert r.ping()
    r.set("greeting", "hello", ex=60)
    assert r.get("greeting") == "hello"
    assert 0 < r.ttl("greeting") <= 60
    p = r.pipeline(transaction=False)
    for i in range(100):
        p.incr(f"counter:{i % 7}")
    p.execute()
    assert sum(int(r.get(f"counter:{i}")) for i in range(7)) == 100
    r.hset("h", mapping={"a": 1, "b": 2})
    assert r.hgetall("h") == {"a": "1", "b": "2"}
    r.zadd("z", {"x": 1.5, "y": 2})
    assert [tuple(p) for p in r.zrange("z", 0, -1, withscores=True)] == [("x", 1.5), ("y", 2.0)]
    print(f"resp{proto} ok")
"#;
    let out = run_python(&server, script, Duration::from_secs(60));
    assert_eq!(out, "resp2 ok\nresp3 ok\n");
}
