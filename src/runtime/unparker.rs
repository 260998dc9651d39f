//! A safety net under glommio's sleep: one plain thread wakes a small task
//! on every executor each `UNPARK_PERIOD`, so an executor that went to sleep
//! with work still to do runs again within that period instead of never.
//!
//! Why: glommio 0.9.0 can park an executor whose task queues are runnable
//! (`run_task_queues` answers "nothing ran" when the preemption timer fired
//! before it ran anything; fixed upstream in glommio PR #53, not released),
//! and a wake from another thread can be missed on this VM (the channel
//! mesh's join hung one start in ten, see `runtime/mod.rs`). With no timer
//! pending, as during start-up, nothing woke such an executor again: the
//! simulated disk's seed 700442 hung in a re-sharding start, every executor
//! thread run 0 times in 2 s while its shard's loader had long finished.
//! A foreign wake writes the executor's eventfd, and the loop after it polls
//! every ring and runs every runnable queue.
//!
//! The wake and the timer were not enough either: in seed 1500474 shard 0
//! slept in `io_uring_enter` through both for over 10 s of a re-sharding
//! start (run 0 times in 2 s, its 100 ms timer pending). So the thread also
//! watches each executor's timer: one that has not ticked for
//! `STALL_PERIODS` gets a signal (`SIGURG`, as Go uses to preempt: ignored
//! by default, so a stray one harms nothing). Its no-op handler is
//! installed with `SA_RESTART`: the wait returns to user space, which runs
//! the ring's pending completion work, and is entered again, now with
//! completions to reap; any other call in progress resumes as if nothing
//! happened. Only a sleeping executor gets it (a busy one's timer is late
//! for another reason). Each one is logged: the long runs tell whether it
//! helps.
//!
//! Cost: two wakes and task polls per core per period.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Poll, Waker};
use std::time::Duration;

/// How long an executor can sleep through work it missed.
const UNPARK_PERIOD: Duration = Duration::from_millis(100);
/// Periods without a tick of an executor's timer before it gets a signal.
const STALL_PERIODS: u64 = 5;

/// What the unparker knows of one executor.
#[derive(Default)]
struct Guarded {
    waker: Mutex<Option<Waker>>,
    /// Ticks of the executor's timer.
    ticks: AtomicU64,
    /// The executor's thread (`pthread_self`), for the signal.
    thread: AtomicU64,
    /// Its kernel thread id, to tell asleep from busy.
    tid: AtomicU64,
}

/// Whether thread `tid` of this process sleeps (`S`: waiting for an event),
/// as a parked executor does; a busy one runs (`R`) or waits on the disk.
fn asleep(tid: u64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The state follows the parenthesised name.
    stat.rsplit(')')
        .next()
        .map(str::trim_start)
        .is_some_and(|s| s.starts_with('S'))
}

type Slot = Arc<Guarded>;

/// Every guarded executor's waker slot; the thread starts with the first.
fn slots() -> &'static Mutex<Vec<Slot>> {
    static SLOTS: OnceLock<Mutex<Vec<Slot>>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("unparker".into())
            .spawn(|| {
                // Per executor: its ticks when last seen, and periods since.
                let mut seen: Vec<(u64, u64)> = Vec::new();
                loop {
                    std::thread::sleep(UNPARK_PERIOD);
                    let slots = slots().lock().map(|s| s.clone()).unwrap_or_default();
                    seen.resize(slots.len(), (0, 0));
                    for (slot, (ticks, still)) in slots.iter().zip(&mut seen) {
                        let waker = slot.waker.lock().ok().and_then(|mut w| w.take());
                        if let Some(w) = waker {
                            w.wake();
                        }
                        let now = slot.ticks.load(Relaxed);
                        *still = if now == *ticks { *still + 1 } else { 0 };
                        *ticks = now;
                        let tid = slot.tid.load(Relaxed);
                        if *still >= STALL_PERIODS && asleep(tid) {
                            *still = 0;
                            tracing::warn!(
                                tid,
                                "an executor slept through its 100 ms timer for {} ms: sending it a signal",
                                STALL_PERIODS * UNPARK_PERIOD.as_millis() as u64
                            );
                            // SAFETY: a thread that registered itself and
                            // lives as long as the process (executors never
                            // exit before it does).
                            unsafe { libc::pthread_kill(slot.thread.load(Relaxed) as _, libc::SIGURG) };
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("no unparker thread ({e}): an executor that misses a wake-up waits for its next event");
        }
        Mutex::new(Vec::new())
    })
}

/// Guards the calling executor: a task that the unparker wakes each period,
/// and a timer always pending. The timer bounds the executor's sleep from
/// inside (its ring waits with a timeout): the foreign wake alone did not
/// help an executor whose eventfd wake-ups were lost (seed 800075: shard 0
/// slept in io_uring for 2 s while the unparker woke the other two ten
/// times a second). Each wake also takes the foreign wakes that queued up.
pub fn guard_this_executor() {
    install_wake_signal();
    let slot: Slot = Arc::default();
    // SAFETY: pthread_self has no preconditions.
    slot.thread
        .store(unsafe { libc::pthread_self() } as u64, Relaxed);
    // SAFETY: gettid has no preconditions.
    slot.tid.store(unsafe { libc::gettid() } as u64, Relaxed);
    let timer_slot = slot.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(UNPARK_PERIOD).await;
            timer_slot.ticks.fetch_add(1, Relaxed);
        }
    })
    .detach();
    if let Ok(mut all) = slots().lock() {
        all.push(slot.clone());
    }
    glommio::spawn_local(async move {
        loop {
            let mut waited = false;
            futures_lite::future::poll_fn(|cx| {
                if waited {
                    return Poll::Ready(());
                }
                waited = true;
                if let Ok(mut w) = slot.waker.lock() {
                    *w = Some(cx.waker().clone());
                }
                Poll::Pending
            })
            .await;
        }
    })
    .detach();
}

/// Installs the no-op `SIGURG` handler the unparker's signal runs (once per
/// process; `SA_RESTART`: interrupted calls resume).
fn install_wake_signal() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        extern "C" fn woken(_: libc::c_int) {}
        // SAFETY: a zeroed sigaction with a handler that does nothing
        // (async-signal-safe), installed for a signal nothing else uses.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = woken as extern "C" fn(libc::c_int) as libc::sighandler_t;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(libc::SIGURG, &action, std::ptr::null_mut());
        }
    });
}
