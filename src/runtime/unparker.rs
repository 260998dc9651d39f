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
//! Cost: two wakes and task polls per core per period.

use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Poll, Waker};
use std::time::Duration;

/// How long an executor can sleep through work it missed.
const UNPARK_PERIOD: Duration = Duration::from_millis(100);

type Slot = Arc<Mutex<Option<Waker>>>;

/// Every guarded executor's waker slot; the thread starts with the first.
fn slots() -> &'static Mutex<Vec<Slot>> {
    static SLOTS: OnceLock<Mutex<Vec<Slot>>> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("unparker".into())
            .spawn(|| loop {
                std::thread::sleep(UNPARK_PERIOD);
                let slots = slots().lock().map(|s| s.clone()).unwrap_or_default();
                for slot in slots {
                    let waker = slot.lock().ok().and_then(|mut w| w.take());
                    if let Some(w) = waker {
                        w.wake();
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
    glommio::spawn_local(async {
        loop {
            glommio::timer::sleep(UNPARK_PERIOD).await;
        }
    })
    .detach();
    let slot: Slot = Arc::default();
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
                if let Ok(mut w) = slot.lock() {
                    *w = Some(cx.waker().clone());
                }
                Poll::Pending
            })
            .await;
        }
    })
    .detach();
}
