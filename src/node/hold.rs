//! Holding shards for a transaction (docs/transactions.md). While a shard
//! is held by EXEC `t`, jobs sent to it by anyone else wait in its
//! `deferred` queue, in arrival order, and run when `t` lets go; `t`'s own
//! jobs pass. A job is `t`'s when it was sent while `t`'s task was being
//! polled: EXEC runs inside `Tagged`, which names it in a thread-local for
//! the length of each poll, so every `run_on` its commands make (including
//! those of the cross-shard drivers they call) carries the tag, and no
//! other task's does. A transaction takes its shards one at a time in shard
//! order, so two of them never wait for each other.

use super::{Job, Node};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

/// No transaction: the tag of ordinary work.
pub const UNTAGGED: u64 = 0;

thread_local! {
    /// The transaction whose task this thread is polling, if any.
    static AMBIENT: Cell<u64> = const { Cell::new(UNTAGGED) };
}

/// The transaction the running task belongs to (`UNTAGGED` if none).
pub fn ambient() -> u64 {
    AMBIENT.with(Cell::get)
}

/// A tag no other transaction of this process has.
pub fn new_tag() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Runs `inner` as transaction `tag`'s work (see the module header).
pub struct Tagged<F> {
    inner: Pin<Box<F>>,
    tag: u64,
}

impl<F: Future> Tagged<F> {
    pub fn new(tag: u64, inner: F) -> Tagged<F> {
        Tagged {
            inner: Box::pin(inner),
            tag,
        }
    }
}

impl<F: Future> Future for Tagged<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let previous = AMBIENT.with(|a| a.replace(self.tag));
        let out = self.inner.as_mut().poll(cx);
        AMBIENT.with(|a| a.set(previous));
        out
    }
}

/// One shard's hold.
#[derive(Default)]
pub struct Hold {
    /// The transaction holding the shard (`UNTAGGED`: free).
    owner: Cell<u64>,
    /// Work of others that waits for the holder to let go, with its tags.
    deferred: RefCell<VecDeque<(u64, Job)>>,
}

impl Hold {
    /// Whether work tagged `tag` must wait.
    #[inline]
    pub fn blocks(&self, tag: u64) -> bool {
        let owner = self.owner.get();
        owner != UNTAGGED && owner != tag
    }

    pub fn defer(&self, tag: u64, job: Job) {
        self.deferred.borrow_mut().push_back((tag, job));
    }

    pub fn is_held(&self) -> bool {
        self.owner.get() != UNTAGGED
    }
}

impl Node {
    /// Takes this shard for transaction `tag` (it is free: the job that
    /// calls this was not deferred).
    fn take_hold(&self, tag: u64) {
        self.hold.owner.set(tag);
        // No snapshot cut in the middle of a transaction.
        self.shard.borrow_mut().tx.open += 1;
    }

    /// Lets go of this shard and runs the work that waited, in order,
    /// until one of them takes the shard again.
    fn let_go(&self, tag: u64) {
        if self.hold.owner.get() != tag {
            return;
        }
        self.hold.owner.set(UNTAGGED);
        {
            let mut sh = self.shard.borrow_mut();
            sh.tx.open = sh.tx.open.saturating_sub(1);
        }
        let waiting = std::mem::take(&mut *self.hold.deferred.borrow_mut());
        for (tag, job) in waiting {
            if self.hold.blocks(tag) {
                self.hold.defer(tag, job);
                continue;
            }
            let run = std::panic::AssertUnwindSafe(|| job(self));
            if std::panic::catch_unwind(run).is_err() {
                tracing::error!(shard = self.id, "a job panicked; the shard goes on");
            }
        }
    }

    /// Holds `shards` (ascending, no repeats) for transaction `tag`, one
    /// after the other in that order, running `on_take` on each as it is
    /// taken (in the same job: no round trip of its own). Whether every
    /// `on_take` said true; `None` if a core has gone.
    pub async fn hold_shards<F>(&self, tag: u64, shards: &[usize], on_take: F) -> Option<bool>
    where
        F: Fn(&Node) -> bool + Send + Clone + 'static,
    {
        let mut all = true;
        for &s in shards {
            let on_take = on_take.clone();
            let ok = self
                .run_tagged(s, tag, move |n: &Node| {
                    n.take_hold(tag);
                    on_take(n)
                })
                .await?;
            all &= ok;
        }
        Some(all)
    }

    /// Lets go of `shards` held by `tag`.
    pub async fn release_shards(&self, tag: u64, shards: &[usize]) {
        let calls = shards
            .iter()
            .map(|&s| self.run_tagged(s, tag, move |n: &Node| n.let_go(tag)));
        super::join_all(calls).await;
    }
}

/// Lets go of the shards when dropped: a transaction whose task ends early
/// (its client's task panicked) must not keep them.
pub struct HeldShards {
    node: std::rc::Rc<Node>,
    tag: u64,
    shards: Vec<usize>,
}

impl HeldShards {
    pub fn new(node: std::rc::Rc<Node>, tag: u64, shards: Vec<usize>) -> HeldShards {
        HeldShards { node, tag, shards }
    }

    /// Lets go now, and waits until every shard did.
    pub async fn release(mut self) {
        let shards = std::mem::take(&mut self.shards);
        self.node.release_shards(self.tag, &shards).await;
    }
}

impl Drop for HeldShards {
    fn drop(&mut self) {
        if self.shards.is_empty() {
            return;
        }
        let (node, tag) = (self.node.clone(), self.tag);
        let shards = std::mem::take(&mut self.shards);
        glommio::spawn_local(async move { node.release_shards(tag, &shards).await }).detach();
    }
}
