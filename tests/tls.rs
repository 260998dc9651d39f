//! TLS on `tls-port` beside the plain port, with the clients users have:
//! redis-cli, redis-benchmark and redis-py over TLS, mutual TLS
//! (`tls-auth-clients`), a certificate replaced with CONFIG SET, and what
//! a bad setting or a client that does not speak TLS gets. The certificates
//! are made here with openssl (a CA, two server certificates, a client's).

mod common;

use common::{free_port, q, q_err, run_binary, scratch, tool, Server};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A test CA and the certificates it signed, in `dir`.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (installed by tests/run.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `name.key` and `name.crt` for `cn`, signed by `ca` with `extensions`.
fn signed(dir: &Path, ca: &str, name: &str, cn: &str, extensions: &str) {
    let (key, csr, crt, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.crt"),
        format!("{name}.ext"),
    );
    std::fs::write(dir.join(&ext), extensions).unwrap();
    openssl(dir, &["genrsa", "-out", &key, "2048"]);
    let subject = format!("/O=ringcache test/CN={cn}");
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", &subject, "-out", &csr],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-sha256",
            "-days",
            "30",
            "-in",
            &csr,
            "-CA",
            &format!("{ca}.crt"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
}

fn certs(name: &str) -> Certs {
    let dir = scratch(&format!("tls-{name}"));
    for ca in ["ca", "other-ca"] {
        openssl(&dir, &["genrsa", "-out", &format!("{ca}.key"), "2048"]);
        openssl(
            &dir,
            &[
                "req",
                "-x509",
                "-new",
                "-sha256",
                "-days",
                "30",
                "-key",
                &format!("{ca}.key"),
                "-subj",
                &format!("/O=ringcache test/CN={ca}"),
                "-out",
                &format!("{ca}.crt"),
            ],
        );
    }
    let server = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n";
    let client = "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n";
    signed(&dir, "ca", "server", "first server", server);
    signed(&dir, "ca", "server2", "second server", server);
    signed(&dir, "ca", "client", "client", client);
    signed(&dir, "other-ca", "stranger", "stranger", client);
    Certs { dir }
}

/// A server with TLS on another port; `extra` adds or overrides flags.
fn tls_server(c: &Certs, extra: &[&str]) -> (Server, u16) {
    let tls_port = free_port();
    let (port, cert, key, ca) = (
        tls_port.to_string(),
        c.path("server.crt"),
        c.path("server.key"),
        c.path("ca.crt"),
    );
    let mut args = vec![
        "--tls-port",
        &port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
    ];
    args.extend_from_slice(extra);
    (Server::with(2, &args), tls_port)
}

/// redis-cli over TLS, as `client` (a certificate name, or none).
fn cli(c: &Certs, port: u16, client: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(tool("redis-cli"));
    cmd.args([
        "-p",
        &port.to_string(),
        "--tls",
        "--cacert",
        &c.path("ca.crt"),
    ]);
    if let Some(name) = client {
        let (crt, key) = (
            c.path(&format!("{name}.crt")),
            c.path(&format!("{name}.key")),
        );
        cmd.args(["--cert", &crt, "--key", &key]);
    }
    cmd.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The subject of the certificate the server at `port` presents now.
fn presented_subject(c: &Certs, port: u16) -> String {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
        .args(["-CAfile", &c.path("ca.crt"), "-cert", &c.path("client.crt")])
        .args(["-key", &c.path("client.key")])
        .stdin(Stdio::null())
        .output()
        .expect("openssl s_client");
    let all = text(&out);
    all.lines()
        .find(|l| l.starts_with("subject="))
        .unwrap_or_else(|| panic!("no subject in:\n{all}"))
        .to_string()
}

#[test]
fn redis_cli_benchmark_and_redis_py_speak_tls_beside_the_plain_port() {
    let c = certs("clients");
    let (s, port) = tls_server(&c, &[]);
    assert_eq!(
        text(&cli(&c, port, Some("client"), &["SET", "k", "over tls"])),
        "OK\n"
    );
    assert_eq!(
        text(&cli(&c, port, Some("client"), &["GET", "k"])),
        "over tls\n"
    );
    // The plain port serves the same data.
    let mut con = s.con();
    assert_eq!(q::<String>(&mut con, &["GET", "k"]), "over tls");

    // tls-auth-clients defaults to yes, as in Redis: no certificate, or one
    // of another CA, gets no reply.
    for client in [None, Some("stranger")] {
        let out = cli(&c, port, client, &["PING"]);
        assert!(!text(&out).contains("PONG"), "{client:?}: {}", text(&out));
    }

    // Pipelined, in parallel, without a single error.
    let bench = Command::new(tool("redis-benchmark"))
        .args([
            "-p",
            &port.to_string(),
            "--tls",
            "--cacert",
            &c.path("ca.crt"),
        ])
        .args([
            "--cert",
            &c.path("client.crt"),
            "--key",
            &c.path("client.key"),
        ])
        .args([
            "-t",
            "set,get,lpush",
            "-n",
            "20000",
            "-c",
            "20",
            "-P",
            "16",
            "-q",
        ])
        .output()
        .expect("redis-benchmark");
    let report = text(&bench);
    assert!(bench.status.success(), "redis-benchmark: {report}");
    assert!(!report.to_lowercase().contains("error"), "{report}");
    assert_eq!(q::<i64>(&mut con, &["LLEN", "mylist"]), 20000);

    // redis-py: a reply of several TLS records (1 MB), a pipeline, and
    // pub/sub messages (written outside a batch's replies).
    let script = format!(
        r#"
import sys, redis
r = redis.Redis(port={port}, ssl=True, ssl_ca_certs="{ca}", ssl_certfile="{crt}",
                ssl_keyfile="{key}", decode_responses=False)
big = bytes(range(256)) * 4096
r.set("big", big)
assert r.get("big") == big
p = r.pipeline(transaction=False)
for i in range(1000):
    p.set(f"p:{{i}}", i)
p.execute()
assert r.mget([f"p:{{i}}" for i in range(1000)]) == [str(i).encode() for i in range(1000)]
sub = r.pubsub()
sub.subscribe("news")
assert sub.get_message(timeout=5)["type"] == "subscribe"
assert r.publish("news", big) == 1
m = sub.get_message(timeout=5)
assert m["data"] == big, m
print("ok")
"#,
        ca = c.path("ca.crt"),
        crt = c.path("client.crt"),
        key = c.path("client.key"),
    );
    assert_eq!(
        common::run_python(&s, &script, Duration::from_secs(60)),
        "ok\n"
    );
    assert_eq!(q::<String>(&mut con, &["GET", "p:999"]), "999");
}

#[test]
fn tls_auth_clients_optional_and_no() {
    let c = certs("auth");
    let (_s, port) = tls_server(&c, &["--tls-auth-clients", "optional"]);
    assert_eq!(text(&cli(&c, port, None, &["PING"])), "PONG\n");
    assert_eq!(text(&cli(&c, port, Some("client"), &["PING"])), "PONG\n");
    // A certificate that is offered must be valid, also when optional.
    assert!(!text(&cli(&c, port, Some("stranger"), &["PING"])).contains("PONG"));

    let (_s, port) = tls_server(&c, &["--tls-auth-clients", "no"]);
    assert_eq!(text(&cli(&c, port, None, &["PING"])), "PONG\n");
}

#[test]
fn config_set_replaces_the_certificate_for_new_connections() {
    let c = certs("reload");
    let (s, port) = tls_server(&c, &[]);
    let mut con = s.con();
    assert!(presented_subject(&c, port).contains("first server"));
    let (crt, key) = (c.path("server2.crt"), c.path("server2.key"));
    let set: String = q(
        &mut con,
        &["CONFIG", "SET", "tls-cert-file", &crt, "tls-key-file", &key],
    );
    assert_eq!(set, "OK");
    assert!(presented_subject(&c, port).contains("second server"));
    assert_eq!(
        q::<Vec<String>>(&mut con, &["CONFIG", "GET", "tls-cert-file"]),
        vec!["tls-cert-file".to_string(), crt.clone()]
    );

    // A file that cannot be used changes nothing: Redis's error, and TLS
    // goes on with the certificate it had.
    assert_eq!(
        q_err(&mut con, &["CONFIG", "SET", "tls-cert-file", "/nonexistent.crt"]),
        "ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. Check server logs."
    );
    assert_eq!(
        q_err(&mut con, &["CONFIG", "SET", "tls-auth-clients", "maybe"]),
        "ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) must be one of the following: no, yes, optional"
    );
    assert_eq!(
        q::<Vec<String>>(&mut con, &["CONFIG", "GET", "tls-cert-file"])[1],
        crt
    );
    assert!(presented_subject(&c, port).contains("second server"));
    assert_eq!(text(&cli(&c, port, Some("client"), &["PING"])), "PONG\n");
}

#[test]
fn bad_settings_stop_startup_and_a_plain_client_is_cut_off() {
    let c = certs("bad");
    let dir = scratch("tls-bad-data").display().to_string();
    let port = free_port().to_string();
    let tls_port = free_port().to_string();
    let (cert, key) = (c.path("server.crt"), c.path("server.key"));
    for (what, tls) in [
        ("no key", vec!["--tls-cert-file", &cert]),
        (
            "missing file",
            vec![
                "--tls-cert-file",
                "/nonexistent.crt",
                "--tls-key-file",
                &key,
            ],
        ),
        // tls-auth-clients is yes by default: client certificates need a CA.
        (
            "no CA",
            vec!["--tls-cert-file", &cert, "--tls-key-file", &key],
        ),
    ] {
        let mut args = vec!["--port", &port, "--tls-port", &tls_port, "--dir", &dir];
        args.extend(["--appendonly", "no"]);
        args.extend(tls);
        let out = run_binary(&[], &args, Duration::from_secs(15));
        assert!(!out.status.success(), "{what}: started");
        assert!(
            text(&out).contains("Failed to configure TLS"),
            "{what}: {}",
            text(&out)
        );
    }

    // A client that sends plain RESP to the TLS port is cut off; the
    // server goes on serving both ports.
    let (s, tls_port) = tls_server(&c, &[]);
    let mut raw = std::net::TcpStream::connect(("127.0.0.1", tls_port)).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    use std::io::{Read, Write};
    raw.write_all(b"*1\r\n$4\r\nPING\r\n").unwrap();
    let mut reply = Vec::new();
    let _ = raw.read_to_end(&mut reply);
    assert!(!String::from_utf8_lossy(&reply).contains("PONG"));
    assert_eq!(
        text(&cli(&c, tls_port, Some("client"), &["PING"])),
        "PONG\n"
    );
    assert_eq!(q::<String>(&mut s.con(), &["PING"]), "PONG");
}
