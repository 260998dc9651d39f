//! Start-up: one glommio executor per shard, each pinned to its own CPU, each
//! with an inbox the other cores send jobs to. Every executor owns a node (its
//! shard, its clients), listens on the shared port (SO_REUSEPORT), serves jobs
//! from its peers, and runs its shard's active expiry.
//!
//! The inboxes are `futures_channel` queues, not glommio's channel mesh: the
//! mesh's join handshake hung about one start in ten here (every executor
//! parked in io_uring, none connected). A queue wakes its reader with an
//! ordinary waker, which glommio delivers across threads through its eventfd.

mod checks;
mod recovery;
mod unparker;

use crate::config::Config;
use crate::net;
use crate::node::{saves, shutdown, Persist};
use crate::node::{Job, Node, TaskQueues};
use crate::shard::{EVICT_KEYS_PER_PASS, EXPIRE_KEYS_PER_PASS};
use futures_channel::mpsc;
use futures_lite::FutureExt;
use futures_lite::StreamExt;
use glommio::{Latency, LocalExecutorBuilder, Placement, Shares};
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::time::Duration;

/// Runs the server until every executor stops. Errors are start-up failures,
/// worded for the operator.
/// `config` has been through `Config::finish` (shard count and pinning
/// resolved); one not finished is finished here.
pub fn run(mut config: Config) -> Result<(), String> {
    raise_memlock_limit();
    if config.pinned.len() != config.shards || config.shards == 0 {
        config.finish(&crate::config::allowed_cpus())?;
    }
    checks::before_start(&config)?;
    let shards = config.shards;
    let pinned = config.pinned.clone();
    let mut cpus = pinned.clone();
    cpus.sort_unstable();
    cpus.dedup();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        port = config.port,
        bind = %config.bind,
        shards,
        cores = ?pinned,
        dir = %config.dir.display(),
        "ringcache starting"
    );
    if shards > cpus.len() {
        tracing::warn!(
            "{shards} shards on {} CPUs: some cores run several shards",
            cpus.len()
        );
    }
    // Every core binds the port with SO_REUSEPORT, which would let a second
    // server share a port already in use: check it is free first.
    net::check_port_free(&config)
        .map_err(|e| format!("cannot listen on {}:{}: {e}", config.bind, config.port))?;
    if config.tls.port != 0 {
        crate::config::tls::install(&config.tls)
            .map_err(|e| format!("Failed to configure TLS: {e}"))?;
    }
    let mut manifest = Some(recovery::prepare(&config)?);
    let files: Vec<_> = manifest.as_ref().map_or(Vec::new(), |m| m.shards.clone());
    // The mesh: one inbox per core, fed by every other core.
    let (peers, mut inboxes): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::unbounded::<Job>()).unzip();
    handle_stop_signals(peers[0].clone());
    let mut handles = Vec::new();
    for (id, &cpu) in pinned.iter().enumerate() {
        let (config, peers) = (config.clone(), peers.clone());
        let inbox = inboxes.remove(0);
        // Core 0 keeps the manifest; each core knows its own shard's files.
        let persist = Persist::new(
            files.get(id).cloned().unwrap_or_default(),
            if id == 0 { manifest.take() } else { None },
        );
        let exec = config.executor_of(id);
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .name(&format!("shard-{id}"))
            .preempt_timer(Duration::from_millis(exec.preempt_timer_ms))
            .io_memory(exec.io_memory_bytes)
            .ring_depth(exec.ring_depth)
            .spin_before_park(Duration::from_micros(exec.spin_before_park_us))
            .spawn(move || async move { serve_core(id, cpu, config, peers, inbox, persist).await })
            .map_err(|e| {
                format!("cannot start the executor for shard {id} on CPU {cpu}: {e} (io_uring must be enabled and not blocked by seccomp; locked-memory limit at least 512 KiB)")
            })?;
        handles.push(handle);
    }
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(format!("an executor failed: {e}"));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn serve_core(
    id: usize,
    cpu: usize,
    config: Config,
    peers: Vec<mpsc::UnboundedSender<Job>>,
    mut inbox: mpsc::UnboundedReceiver<Job>,
    persist: Persist,
) -> Result<(), String> {
    unparker::guard_this_executor();
    if id == 0 && crate::util::at_test_point("executor-sleeps-through-its-wakes") {
        // A stand-in for an executor parked through its wakes (see
        // `unparker`): a 30 s sleep that only a signal ends.
        // SAFETY: poll on no descriptors, a plain timed sleep.
        unsafe { libc::poll(std::ptr::null_mut(), 0, 30_000) };
    }
    // A core with `accept = false` owns its shard and serves its peers'
    // jobs, but binds no port.
    let listeners = if config.accepts(id) {
        net::bind(&config)
            .map_err(|e| format!("cannot listen on {}:{}: {e}", config.bind, config.port))?
    } else {
        Vec::new()
    };
    let node = Node::new(id, config.clone(), peers, persist);
    let queues = task_queues(&config, id);
    let _ = node.task_queues.set(queues);
    // Jobs from other cores run from the start: during loading they are
    // what core 0 does for the others (the manifest) and what commands
    // allowed while loading need (INFO).
    let jobs_node = node.clone();
    let spawned = glommio::spawn_local_into(
        async move {
            while let Some(job) = inbox.next().await {
                // A bug in one job must not take the whole core down; its
                // requester sees its reply channel closed.
                if std::panic::catch_unwind(AssertUnwindSafe(|| job(&jobs_node))).is_err() {
                    tracing::error!(shard = jobs_node.id, "a job panicked; the shard goes on");
                }
            }
        },
        queues.network,
    )
    .map(|jobs| jobs.detach());
    spawned.map_err(|e| format!("cannot start the tasks of shard {id}: {e}"))?;
    // Clients are served (with -LOADING) while the shard loads. Connection
    // tasks are spawned by the accept loop: they run in its queue.
    let accepts = listeners.into_iter().map(|l| {
        let node = node.clone();
        glommio::spawn_local_into(
            async move { net::accept_loop(node, l).await },
            queues.network,
        )
    });
    let tasks = accepts
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot start the listeners of shard {id}: {e}"))?;
    let last_loaded = match recovery::recover(&node, cpu, queues).await {
        Ok(last) => last,
        Err(e) => {
            // The other cores cannot serve this shard's keys: stop the process.
            tracing::error!("{e}");
            eprintln!("ringcache: {e}");
            std::process::exit(1);
        }
    };
    let spawned =
        glommio::spawn_local_into(active_expiry(node.clone()), queues.expiry).and_then(|expiry| {
            expiry.detach();
            match id {
                0 => glommio::spawn_local_into(saves::cron(node.clone()), queues.persistence).map(
                    |cron| {
                        cron.detach();
                    },
                ),
                _ => Ok(()),
            }
        });
    spawned.map_err(|e| format!("cannot start the tasks of shard {id}: {e}"))?;
    // Invalidations for client-side caching leave from here (started once
    // the loaded keyspace is in place: it holds the sender's waker).
    glommio::spawn_local_into(crate::node::tracking::sender(node.clone()), queues.network)
        .map(|sender| sender.detach())
        .map_err(|e| format!("cannot start the tasks of shard {id}: {e}"))?;
    if last_loaded {
        tracing::info!("ready to accept connections");
    }
    if tasks.is_empty() {
        // No listener: the jobs and expiry tasks are this core's work; keep
        // the executor alive for them.
        futures_lite::future::pending::<()>().await;
    }
    for t in tasks {
        t.await;
    }
    Ok(())
}

/// Creates core `id`'s task queues with its shares.
fn task_queues(config: &Config, id: usize) -> TaskQueues {
    let shares = config.shares_of(id);
    let ex = glommio::executor();
    let queue =
        |n: usize, name: &str| ex.create_task_queue(Shares::Static(n), Latency::NotImportant, name);
    TaskQueues {
        network: queue(shares.network, "network"),
        persistence: queue(shares.persistence, "persistence"),
        expiry: queue(shares.expiry, "expiry"),
        snapshot: queue((shares.persistence / 10).max(1), "snapshot"),
    }
}

/// SIGTERM and SIGINT stop the server gracefully (`SHUTDOWN`): they are
/// blocked in every thread and awaited by one, which hands them to core 0.
fn handle_stop_signals(core0: mpsc::UnboundedSender<Job>) {
    // SAFETY: plain libc signal-set calls on a set we own; the mask is set
    // before any other thread exists, so every executor inherits it.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut sig = 0;
            // SAFETY: waits on the set built above.
            if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                continue;
            }
            tracing::warn!(
                "received {}",
                if sig == libc::SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                }
            );
            let job: Job = Box::new(|n: &Node| {
                let me = n.rc();
                glommio::spawn_local(async move {
                    shutdown::shutdown(me, None, false).await;
                })
                .detach();
            });
            if core0.unbounded_send(job).is_err() {
                std::process::exit(0);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot watch for SIGTERM ({e}): it will stop the server abruptly");
    }
}

/// Removes expired keys in the background, and evicts while the shard is
/// over its memory budget (CONFIG SET maxmemory lower, or writes that left
/// it over), `hz` passes a second, each bounded; a pass that hit a bound is
/// followed at once by another after yielding, so the shard never stalls.
async fn active_expiry(node: Rc<Node>) {
    loop {
        let (removed, evicted) = AssertUnwindSafe(async {
            let mut shard = node.shard.borrow_mut();
            let removed = if node.active_expire.get() {
                shard.expire_due(crate::util::now_ms())
            } else {
                0
            };
            (removed, shard.evict_pass())
        })
        .catch_unwind()
        .await
        .unwrap_or((0, 0));
        if removed == EXPIRE_KEYS_PER_PASS || evicted == EVICT_KEYS_PER_PASS {
            glommio::yield_if_needed().await;
            continue;
        }
        let hz = node.config.borrow().hz.max(1) as u64;
        glommio::timer::sleep(Duration::from_millis(1000 / hz)).await;
    }
}

/// io_uring buffers count against the locked-memory limit; containers often
/// set it low. Raise the soft limit to the hard one (and further when allowed).
fn raise_memlock_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) != 0 {
            return;
        }
        let wanted = libc::rlimit {
            rlim_cur: libc::RLIM_INFINITY,
            rlim_max: libc::RLIM_INFINITY,
        };
        if libc::setrlimit(libc::RLIMIT_MEMLOCK, &wanted) != 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim);
        }
    }
}
