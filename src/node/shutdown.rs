//! SHUTDOWN, run by core 0: the final save, every shard's log written and
//! synced, then the process exits; SHUTDOWN ABORT ends the wait for the logs.

use super::saves::{request_save, SaveRequest};
use super::Node;
use futures_channel::oneshot;
use std::rc::Rc;
use std::time::Duration;

/// How long a shutdown waits for every shard's log to be written and
/// synced. A log that is failing (a full or broken disk) retries once a
/// second meanwhile; if it is still not durable then, the shutdown is
/// refused (the data is only in memory) unless FORCE.
pub const SHUTDOWN_LOG_WAIT: Duration = Duration::from_secs(5);

/// Core 0: a graceful stop. Saves first if asked (or, when not said, if save
/// points are set), then syncs every shard's log, then exits the process.
/// Returns only if the save failed and `force` is off.
pub async fn shutdown(node0: Rc<Node>, save: Option<bool>, force: bool) -> String {
    // Nothing to save before the data is loaded.
    let save = !crate::process::loading::in_progress()
        && save.unwrap_or_else(|| !node0.config.borrow().save.is_empty());
    tracing::warn!("shutting down (save: {save})");
    if save {
        // Wait for a save that runs, then take a fresh one.
        let outcome = match request_save(node0.clone(), true) {
            SaveRequest::Started(rx) | SaveRequest::Scheduled(rx) => {
                rx.await.unwrap_or_else(|_| Err("cancelled".into()))
            }
            SaveRequest::InProgress => Err("a save is already running".into()),
        };
        if let Err(e) = outcome {
            // Redis's message; the reason goes to the log.
            tracing::error!("the final save failed: {e}");
            if !force {
                return "ERR Errors trying to SHUTDOWN. Check logs.".into();
            }
        }
    }
    crate::process::set_shutting_down(true);
    let (abort, aborted) = oneshot::channel();
    node0.persist.shutdowns.borrow_mut().push(abort);
    let synced = node0
        .run_on_all(|n: &Node| {
            n.shard
                .borrow()
                .aof
                .as_ref()
                .map(|a| a.borrow_mut().sync_all())
        })
        .await
        .unwrap_or_default();
    #[derive(PartialEq)]
    enum Wait {
        Synced,
        TimedOut,
        Aborted,
    }
    let all_synced = async {
        for rx in synced.into_iter().flatten() {
            let _ = rx.await;
        }
        Wait::Synced
    };
    let timed_out = async {
        glommio::timer::sleep(SHUTDOWN_LOG_WAIT).await;
        Wait::TimedOut
    };
    let abort_asked = async {
        let _ = aborted.await;
        Wait::Aborted
    };
    use futures_lite::FutureExt;
    let waited = all_synced.or(abort_asked).or(timed_out).await;
    node0
        .persist
        .shutdowns
        .borrow_mut()
        .retain(|tx| !tx.is_canceled());
    match waited {
        Wait::Synced => {}
        Wait::Aborted => {
            crate::process::set_shutting_down(false);
            tracing::warn!("shutdown aborted (SHUTDOWN ABORT)");
            return "ERR Errors trying to SHUTDOWN. Check logs.".into();
        }
        Wait::TimedOut => {
            let errors = node0
                .run_on_all(|n: &Node| {
                    let sh = n.shard.borrow();
                    let err = sh
                        .aof
                        .as_ref()
                        .and_then(|a| a.borrow().write_error().map(String::from));
                    err.map(|e| format!("shard {}: {e}", n.id))
                })
                .await
                .unwrap_or_default();
            let why: Vec<String> = errors.into_iter().flatten().collect();
            let why = if why.is_empty() {
                "not done".to_string()
            } else {
                why.join("; ")
            };
            if !force {
                tracing::error!(
                    "the log could not be written and synced within {SHUTDOWN_LOG_WAIT:?} ({why}): not shutting down, the data is only in memory (SHUTDOWN FORCE exits anyway)"
                );
                crate::process::set_shutting_down(false);
                return "ERR Errors trying to SHUTDOWN. Check logs.".into();
            }
            tracing::error!(
                "the log could not be written and synced within {SHUTDOWN_LOG_WAIT:?} ({why}): exiting anyway (FORCE); writes not yet on disk are lost"
            );
        }
    }
    tracing::warn!("ringcache is now ready to exit, bye bye...");
    std::process::exit(0);
}

/// Core 0: SHUTDOWN ABORT. Ends the wait of every shutdown still waiting
/// for the logs (they answer an error and the server goes on); false if
/// none is.
pub fn abort_shutdown(node0: &Node) -> bool {
    let waiting = std::mem::take(&mut *node0.persist.shutdowns.borrow_mut());
    let mut any = false;
    for tx in waiting {
        any |= tx.send(()).is_ok();
    }
    any
}
