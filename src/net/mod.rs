//! The network front end: listening sockets, and one task per client
//! connection that reads pipelined requests, hands each batch to the
//! dispatcher, and writes all of the batch's replies with one write.

mod readiness;
pub mod tls;

use crate::commands::{dispatch, Session};
use crate::config::Config;
use crate::node::pubsub::Subscriber;
use crate::node::{ClientInfo, Node};
use crate::protocol::{Frame, Parser, Request};
use bytes::BytesMut;
use futures_lite::{AsyncWriteExt, FutureExt};
use glommio::net::{TcpListener, TcpStream};
use readiness::{Readiness, Registered};
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

/// A reply buffer larger than this is given back after it was written, so an
/// idle connection does not keep the memory of its largest reply.
const KEEP_OUT_BUFFER_BYTES: usize = 256 * 1024;
/// Request slots a connection keeps allocated between batches.
const KEEP_REQUESTS: usize = 64;
/// Requests in a connection's first batch; see `next_batch`.
const FIRST_BATCH_REQUESTS: usize = 16;
/// A batch's replies past this size halve the next batch; see `next_batch`.
const BATCH_REPLY_BYTES: usize = 1 << 20;

/// The `host:port` strings to listen on, with whether each is the TLS
/// port: every address of `bind` (space-separated, as in redis.conf), on
/// `port` and on `tls-port` (either 0: not served, as in Redis).
fn listen_addrs(config: &Config) -> Vec<(String, bool)> {
    let ports = [(config.port, false), (config.tls.port, true)];
    let ports = ports.into_iter().filter(|(port, _)| *port != 0);
    ports
        .flat_map(|(port, tls)| {
            config.bind.split_whitespace().map(move |addr| {
                let addr = addr.trim_start_matches('-');
                match addr.contains(':') {
                    true => (format!("[{addr}]:{port}"), tls),
                    false => (format!("{addr}:{port}"), tls),
                }
            })
        })
        .collect()
}

/// A listening socket, plain or TLS.
pub struct Listener {
    socket: TcpListener,
    tls: bool,
}

/// Binds every listen address, with SO_REUSEPORT (glommio sets it): each core
/// calls this and the kernel spreads connections across the cores.
pub fn bind(config: &Config) -> std::io::Result<Vec<Listener>> {
    listen_addrs(config)
        .into_iter()
        .map(|(addr, tls)| {
            let socket = TcpListener::bind(addr.as_str())
                .map_err(|e| std::io::Error::other(format!("{addr}: {e}")))?;
            Ok(Listener { socket, tls })
        })
        .collect()
}

/// How long start-up waits for a port still held by a process that just died.
const PORT_RELEASE_WAIT: Duration = Duration::from_secs(5);

/// Fails if another server already listens on one of the addresses. Every
/// core binds with SO_REUSEPORT, which would otherwise let a second server
/// share the port silently. The check connects rather than binds: sockets of
/// a server killed a moment ago linger (FIN-WAIT-2) and refuse a plain bind,
/// but nothing answers on them.
pub fn check_port_free(config: &Config) -> std::io::Result<()> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
    for (addr, _) in listen_addrs(config) {
        for mut sa in addr.to_socket_addrs()? {
            if sa.ip().is_unspecified() {
                let lo: IpAddr = if sa.is_ipv4() {
                    Ipv4Addr::LOCALHOST.into()
                } else {
                    Ipv6Addr::LOCALHOST.into()
                };
                sa = SocketAddr::new(lo, sa.port());
            }
            // A process killed a moment ago can still be listening: io_uring
            // tears a dead process's ring down asynchronously. Give it time.
            let deadline = std::time::Instant::now() + PORT_RELEASE_WAIT;
            while std::net::TcpStream::connect_timeout(&sa, Duration::from_millis(300)).is_ok() {
                if std::time::Instant::now() > deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::AddrInUse,
                        "another server already listens there",
                    ));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
    Ok(())
}

pub async fn accept_loop(node: Rc<Node>, listener: Listener) {
    loop {
        match listener.socket.accept().await {
            Ok(stream) => {
                if crate::process::shutting_down() {
                    // Shutting down: new clients are turned away.
                    drop(stream);
                    continue;
                }
                let tls = match listener.tls {
                    false => None,
                    true => match tls::current() {
                        Some(config) => Some(config),
                        None => continue,
                    },
                };
                let node = node.clone();
                glommio::spawn_local(async move {
                    let id = node.id;
                    if AssertUnwindSafe(serve(node, stream, tls))
                        .catch_unwind()
                        .await
                        .is_err()
                    {
                        tracing::error!(shard = id, "a connection task panicked; it was closed");
                    }
                })
                .detach();
            }
            Err(e) => {
                // Out of file descriptors and the like: back off, keep serving.
                tracing::warn!("accept failed: {e}");
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Registers the connection in its node's client list for as long as it lives.
struct Registration {
    node: Rc<Node>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut clients = self.node.clients.borrow_mut();
        clients.connected.remove(&self.id);
        clients.pushes.remove(&self.id);
    }
}

async fn serve(
    node: Rc<Node>,
    mut stream: TcpStream,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
) {
    let _ = stream.set_nodelay(true);
    set_keepalive(&stream, node.config.borrow().tcp_keepalive);
    let stats = &node.stats;
    stats
        .connections_received
        .set(stats.connections_received.get() + 1);
    let (max_clients_here, max_bulk, max_args, read_chunk, max_batch) = {
        let c = node.config.borrow();
        (
            // Only the accepting cores take clients: they share the limit.
            c.maxclients.div_ceil(c.accepting_cores().max(1)),
            c.proto_max_bulk_len,
            c.max_args,
            c.read_chunk_bytes,
            c.max_batch_requests,
        )
    };
    if node.clients.borrow().connected.len() >= max_clients_here {
        stats
            .rejected_connections
            .set(stats.rejected_connections.get() + 1);
        // (Not in plain text to a client that expects a TLS handshake.)
        if tls.is_none() {
            let _ = stream
                .write_all(b"-ERR max number of clients reached\r\n")
                .await;
        }
        return;
    }
    let peer = stream.peer_addr().ok();
    if refused_by_protected_mode(&node.config.borrow(), peer) {
        if tls.is_none() {
            let _ = stream.write_all(PROTECTED_MODE_DENIED).await;
        }
        return;
    }
    let mut link = match tls.map(tls::TlsLink::new).transpose() {
        Ok(link) => link,
        Err(e) => {
            tracing::warn!("cannot start a TLS session: {e}");
            return;
        }
    };
    // The client ended its TLS session: what it sent before is served.
    let mut tls_closed = false;
    let now = crate::util::now_ms();
    let id = node.clients.borrow_mut().next_id();
    let info = Rc::new(RefCell::new(ClientInfo::new(
        id,
        peer.map(|a| a.to_string()).unwrap_or_default(),
        stream
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default(),
        now,
    )));
    node.clients.borrow_mut().connected.insert(id, info.clone());
    tracing::debug!(client = id, addr = %info.borrow().addr, "client connected");
    let _registration = Registration {
        node: node.clone(),
        id,
    };

    let fd = std::os::fd::AsRawFd::as_raw_fd(&stream);
    info.borrow_mut().fd = fd;
    let socket = match Readiness::here().and_then(|r| r.register(fd)) {
        Ok(socket) => socket,
        Err(e) => {
            tracing::warn!(client = id, "cannot watch the client's socket: {e}");
            return;
        }
    };
    let mut session = Session::new(info.clone());
    session.socket = Some(fd);
    let pushes = session.pubsub.clone();
    node.clients.borrow_mut().pushes.insert(id, pushes.clone());
    let _unsubscribe = crate::node::pubsub::OnClose {
        node: node.clone(),
        sub: pushes.clone(),
    };
    let _unmonitor = crate::node::monitor::OnClose {
        node: node.clone(),
        id: pushes.id,
    };
    // As in Redis, a client that needed no password when it connected stays
    // authenticated if one is set later.
    session.authenticated = !node.config.borrow().auth_required();
    let mut parser = Parser::new(max_bulk, max_args);
    let mut buf = BytesMut::with_capacity(read_chunk);
    let mut chunk = vec![0u8; read_chunk];
    let mut out = Vec::with_capacity(read_chunk);
    let mut requests: Vec<Request> = Vec::new();
    let mut socket_emptied = false;
    let mut batch_size = FIRST_BATCH_REQUESTS.min(max_batch);
    loop {
        // Run every complete request already buffered, a batch at a time.
        loop {
            // Before AUTH, Redis takes only small requests (its limits for
            // unauthenticated clients): a stranger cannot make it buffer
            // much. One request at a time then, so that an AUTH takes
            // effect before the next request is parsed.
            parser.unauthenticated = crate::commands::acl::needs_auth(&node, &session);
            let batch = if parser.unauthenticated {
                1
            } else {
                batch_size
            };
            let parsed = parser.parse(&mut buf, &mut requests, batch);
            // A full batch may have left more complete requests behind.
            let more = requests.len() == batch;
            if !requests.is_empty() {
                dispatch::run(&node, &mut session, &mut requests, &mut out).await;
                if requests.capacity() > KEEP_REQUESTS {
                    requests = Vec::new();
                }
                // Pub/sub messages that came during the batch, after its replies.
                pushes.drain_into(&mut out);
                batch_size = next_batch(batch_size, more, out.len(), max_batch);
            }
            if let Err(e) = &parsed {
                Frame::error(e.reply()).encode(session.proto, &mut out);
                session.closing = true;
            }
            if !out.is_empty() {
                if socket.others_woken() {
                    futures_lite::future::yield_now().await;
                }
                stats
                    .net_output_bytes
                    .set(stats.net_output_bytes.get() + out.len() as u64);
                let limit = node.config.borrow().output_limit.normal();
                let sealed = match &mut link {
                    Some(link) => link.seal(&out),
                    None => &out,
                };
                if let Err(why) = write_replies(&mut stream, sealed, limit).await {
                    if let Some(why) = why {
                        tracing::warn!(client = id, "closing client: {why}");
                    }
                    return;
                }
                out.clear();
                if out.capacity() > KEEP_OUT_BUFFER_BYTES {
                    out = Vec::with_capacity(read_chunk);
                }
            }
            if session.closing {
                return;
            }
            if !more {
                break;
            }
        }
        let (limit, idle_timeout) = {
            let c = node.config.borrow();
            (c.client_query_buffer_limit, c.timeout)
        };
        if buf.len() > limit {
            tracing::warn!(
                client = id,
                bytes = buf.len(),
                "closing client that reached max query buffer length"
            );
            return;
        }
        // `timeout` closes clients idle that many seconds, as in Redis
        // (not subscribers: they wait for messages).
        let idle_timeout =
            (idle_timeout > 0 && !pushes.subscribed()).then(|| Duration::from_secs(idle_timeout));
        if tls_closed {
            return;
        }
        let n = match read_some(&socket, &mut chunk, socket_emptied, idle_timeout, &pushes).await {
            Input::Closed => return,
            Input::Pushes => {
                if let Err(why) = write_pushes(&mut stream, link.as_mut(), &pushes, stats).await {
                    if let Some(why) = why {
                        tracing::warn!(client = id, "closing subscriber: {why}");
                    }
                    return;
                }
                continue;
            }
            Input::Read(n) => n,
        };
        socket_emptied = n < chunk.len();
        stats
            .net_input_bytes
            .set(stats.net_input_bytes.get() + n as u64);
        match &mut link {
            None => buf.extend_from_slice(&chunk[..n]),
            Some(link) => {
                match link.open(&chunk[..n], &mut buf) {
                    Ok(closed) => tls_closed = closed,
                    Err(e) => {
                        tracing::debug!(client = id, "closing TLS client: {e}");
                        let _ = stream.write_all(link.seal(&[])).await;
                        return;
                    }
                }
                // The session's own records: the handshake's, mostly.
                let own = link.seal(&[]);
                if !own.is_empty() {
                    let limit = node.config.borrow().output_limit.normal();
                    if write_replies(&mut stream, own, limit).await.is_err() {
                        return;
                    }
                }
            }
        }
        let mut i = info.borrow_mut();
        i.last_active_ms = crate::util::now_ms();
        i.query_buf = buf.len();
    }
}

/// What a connection waiting for its client got.
enum Input {
    /// Bytes read into the chunk.
    Read(usize),
    /// Pub/sub messages (or a cut-off) to write.
    Pushes,
    /// The client went away, or was idle for `timeout`.
    Closed,
}

/// Reads what the client has sent: directly while the socket may hold data,
/// and after this core's epoll set says so once it is empty (see
/// `readiness`). A short read emptied the socket, so the next read waits
/// first instead of asking the kernel for nothing. Returns early when
/// pub/sub messages wait to be written.
async fn read_some(
    socket: &Registered,
    chunk: &mut [u8],
    mut emptied: bool,
    idle_timeout: Option<Duration>,
    pushes: &Subscriber,
) -> Input {
    loop {
        if !emptied {
            match recv_waiting(socket.fd(), chunk) {
                Some(Ok(0) | Err(_)) => return Input::Closed,
                Some(Ok(n)) => return Input::Read(n),
                None => {}
            }
        }
        emptied = false;
        if pushes.has_pending() {
            return Input::Pushes;
        }
        let readable = async {
            socket.readable().await;
            None
        };
        let pushed = async {
            pushes.pending().await;
            Some(Input::Pushes)
        };
        let woken = match idle_timeout {
            None => readable.or(pushed).await,
            Some(d) => {
                let idle = async {
                    glommio::timer::Timer::new(d).await;
                    Some(Input::Closed)
                };
                readable.or(pushed).or(idle).await
            }
        };
        if let Some(input) = woken {
            return input;
        }
    }
}

/// How often a write of pub/sub messages to a client that reads nothing
/// looks whether the client was cut off meanwhile.
const CUT_OFF_CHECK: Duration = Duration::from_millis(100);

/// Writes the pub/sub messages waiting for the client, until none is left.
/// `Err(Some(why))`: cut off by the pubsub output limit; `Err(None)`: the
/// client went away.
async fn write_pushes(
    stream: &mut TcpStream,
    mut link: Option<&mut tls::TlsLink>,
    pushes: &Subscriber,
    stats: &crate::node::NodeStats,
) -> Result<(), Option<String>> {
    loop {
        if let Some(why) = pushes.cut_off() {
            return Err(Some(why));
        }
        let taken = pushes.take();
        if taken.is_empty() {
            return Ok(());
        }
        let bytes = match link.as_deref_mut() {
            Some(link) => link.seal(&taken),
            None => &taken,
        };
        let mut written = 0;
        while written < bytes.len() {
            let _ = stream.set_write_timeout(Some(CUT_OFF_CHECK));
            match stream.write(&bytes[written..]).await {
                Ok(0) => return Err(None),
                Ok(n) => {
                    written += n;
                    pushes.set_in_flight(bytes.len() - written);
                }
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                    if let Some(why) = pushes.cut_off() {
                        return Err(Some(why));
                    }
                }
                Err(_) => return Err(None),
            }
        }
        stats
            .net_output_bytes
            .set(stats.net_output_bytes.get() + bytes.len() as u64);
    }
}

/// `recv` without blocking: `None` when nothing is waiting.
fn recv_waiting(fd: std::os::fd::RawFd, chunk: &mut [u8]) -> Option<std::io::Result<usize>> {
    loop {
        // SAFETY: `chunk` is valid for writes of its length for the whole call.
        let n = unsafe {
            libc::recv(
                fd,
                chunk.as_mut_ptr() as *mut libc::c_void,
                chunk.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n >= 0 {
            return Some(Ok(n as usize));
        }
        let e = std::io::Error::last_os_error();
        match e.kind() {
            std::io::ErrorKind::WouldBlock => return None,
            // Interrupted before it read: the data (whose edge the epoll
            // set may already have reported) is still there.
            std::io::ErrorKind::Interrupted => continue,
            _ => return Some(Err(e)),
        }
    }
}

/// The size of a connection's next batch of pipelined requests. A batch's
/// replies are all encoded before any is written, so what they hold is
/// bounded by the batch, not only by the output limits: a client
/// pipelining GETs of 1 MB values and reading nothing would otherwise hold
/// `max-batch-requests` MB. Batches start small, double while they are full
/// and their replies small, and halve (down to one request) while their
/// replies pass `BATCH_REPLY_BYTES`.
fn next_batch(size: usize, full: bool, reply_bytes: usize, max: usize) -> usize {
    if reply_bytes > BATCH_REPLY_BYTES {
        (size / 2).max(1)
    } else if full {
        (size * 2).min(max)
    } else {
        size
    }
}

/// Writes a batch's replies, enforcing `client-output-buffer-limit`: a batch
/// whose replies exceed the hard limit is not sent, and a client that leaves
/// more than the soft limit unread for the soft time is dropped. Replies
/// under the soft limit wait for the client as long as it takes: the
/// connection reads nothing meanwhile, so what it holds stays one batch.
/// `Err(Some(why))`: closed for a limit; `Err(None)`: the client went away.
async fn write_replies(
    stream: &mut TcpStream,
    out: &[u8],
    limit: crate::config::ClassLimit,
) -> Result<(), Option<String>> {
    if limit.hard_bytes > 0 && out.len() > limit.hard_bytes {
        return Err(Some(format!(
            "{} bytes of replies exceed the output buffer hard limit ({} bytes)",
            out.len(),
            limit.hard_bytes
        )));
    }
    let soft = (limit.soft_bytes > 0 && limit.soft_seconds > 0)
        .then(|| Duration::from_secs(limit.soft_seconds));
    let mut over_soft_since: Option<std::time::Instant> = None;
    let mut written = 0;
    while written < out.len() {
        let pending = out.len() - written;
        let deadline = match soft {
            Some(window) if pending > limit.soft_bytes => {
                let since = *over_soft_since.get_or_insert_with(std::time::Instant::now);
                Some(window.saturating_sub(since.elapsed()))
            }
            _ => {
                over_soft_since = None;
                None
            }
        };
        if deadline == Some(Duration::ZERO) {
            return Err(Some(format!(
                "{pending} bytes of replies unread for {}s (output buffer soft limit {} bytes)",
                limit.soft_seconds, limit.soft_bytes
            )));
        }
        let _ = stream.set_write_timeout(deadline);
        match stream.write(&out[written..]).await {
            Ok(0) => return Err(None),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(_) => return Err(None),
        }
    }
    Ok(())
}

/// Redis's reply to a client refused by protected mode, word for word.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

/// Protected mode, as Redis: with no password for the default user, only
/// clients on loopback are served.
fn refused_by_protected_mode(config: &Config, peer: Option<std::net::SocketAddr>) -> bool {
    config.protected_mode
        && !config.auth_required()
        && !peer.is_some_and(|p| crate::util::loopback_ip(p.ip()))
}

/// TCP keepalive as Redis sets it: probes after `interval` idle seconds, then
/// every third of that, giving up after three.
fn set_keepalive(stream: &TcpStream, interval: u64) {
    use std::os::fd::AsRawFd;
    if interval == 0 {
        return;
    }
    let fd = stream.as_raw_fd();
    let secs = interval.min(i32::MAX as u64) as libc::c_int;
    let set = |level, opt, value: libc::c_int| {
        // SAFETY: setsockopt reads one c_int from the pointer we pass.
        unsafe {
            libc::setsockopt(
                fd,
                level,
                opt,
                &value as *const libc::c_int as *const libc::c_void,
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
    };
    set(libc::SOL_SOCKET, libc::SO_KEEPALIVE, 1);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, secs);
    set(libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, (secs / 3).max(1));
    set(libc::IPPROTO_TCP, libc::TCP_KEEPCNT, 3);
}
