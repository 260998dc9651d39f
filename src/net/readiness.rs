//! One epoll set per core for the clients' sockets, as Redis's event loop has.
//!
//! glommio's `TcpStream::read` arms a one-shot io_uring poll for its socket
//! after every short read. When the client's next request arrives while the
//! core is busy, that poll completes through io_uring task work, which the
//! kernel delivers with an inter-processor interrupt: about one interrupt per
//! request under load. Here each socket is registered once (edge-triggered),
//! a client reads directly until its socket is empty, and only the epoll set
//! is watched: one poll for all of this core's clients, armed only when none
//! has anything to read.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::poll_fn;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

use futures_lite::AsyncReadExt;

/// Most readiness events taken from the kernel per `epoll_wait`.
const EVENTS_PER_WAIT: usize = 256;
/// How soon the watcher looks again when it could not wait on the set.
const WAIT_RETRY: std::time::Duration = std::time::Duration::from_millis(1);

struct Waiter {
    ready: bool,
    waker: Option<Waker>,
    /// Woken by the watcher and not yet back from `readable`.
    woken: bool,
}

/// This core's epoll set and the clients waiting on it.
pub struct Readiness {
    epoll: OwnedFd,
    waiters: RefCell<HashMap<RawFd, Waiter>>,
    /// Clients the watcher woke that have not read yet (see `others_woken`).
    woken: Cell<usize>,
}

thread_local! {
    static READINESS: RefCell<Option<Rc<Readiness>>> = const { RefCell::new(None) };
}

impl Readiness {
    /// This core's set, created (with its watcher task) on first use.
    pub fn here() -> std::io::Result<Rc<Readiness>> {
        if let Some(r) = READINESS.with(|r| r.borrow().clone()) {
            return Ok(r);
        }
        // SAFETY: epoll_create1 takes no pointers.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let readiness = Rc::new(Readiness {
            // SAFETY: `fd` was just created and is owned by nothing else.
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
            waiters: RefCell::new(HashMap::new()),
            woken: Cell::new(0),
        });
        READINESS.with(|r| *r.borrow_mut() = Some(readiness.clone()));
        glommio::spawn_local(watch(readiness.clone())).detach();
        Ok(readiness)
    }

    /// Watches `fd` until the returned guard is dropped (before the socket is closed).
    pub fn register(self: &Rc<Self>, fd: RawFd) -> std::io::Result<Registered> {
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
            u64: fd as u64,
        };
        // SAFETY: `event` lives across the call.
        if unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut event) }
            < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        self.waiters.borrow_mut().insert(
            fd,
            Waiter {
                ready: false,
                waker: None,
                woken: false,
            },
        );
        Ok(Registered {
            readiness: self.clone(),
            fd,
        })
    }

    fn wake_ready(&self, events: &[libc::epoll_event]) {
        let mut waiters = self.waiters.borrow_mut();
        for event in events {
            if let Some(w) = waiters.get_mut(&(event.u64 as RawFd)) {
                w.ready = true;
                if let Some(waker) = w.waker.take() {
                    w.woken = true;
                    self.woken.set(self.woken.get() + 1);
                    waker.wake();
                }
            }
        }
    }

    /// Takes the events pending now, without blocking.
    fn take_events(&self, events: &mut [libc::epoll_event]) -> usize {
        // SAFETY: the kernel writes at most `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                0,
            )
        };
        n.max(0) as usize
    }
}

/// A socket in the epoll set; leaves it when dropped.
pub struct Registered {
    readiness: Rc<Readiness>,
    fd: RawFd,
}

impl Registered {
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Whether other clients of this core were woken to read and have not
    /// yet: a client with replies to write then lets them run first, so
    /// that this round's replies leave together, as Redis writes all its
    /// replies at the end of an event-loop turn. Each write to a client
    /// asleep in `epoll_wait` wakes it, which costs the writer an
    /// interrupt to the client's CPU; a client that gets all its replies in
    /// one burst is woken once (pipelined SET, one core: the wake-ups fell
    /// from 12% to 3% of the server's time).
    pub fn others_woken(&self) -> bool {
        self.readiness.woken.get() > 0
    }

    /// Until the socket has something to read (or was closed).
    pub async fn readable(&self) {
        poll_fn(|cx| {
            let mut waiters = self.readiness.waiters.borrow_mut();
            let Some(w) = waiters.get_mut(&self.fd) else {
                return Poll::Ready(());
            };
            if std::mem::take(&mut w.woken) {
                self.readiness.woken.set(self.readiness.woken.get() - 1);
            }
            if std::mem::take(&mut w.ready) {
                return Poll::Ready(());
            }
            w.waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let left = self.readiness.waiters.borrow_mut().remove(&self.fd);
        if left.is_some_and(|w| w.woken) {
            self.readiness.woken.set(self.readiness.woken.get() - 1);
        }
        // SAFETY: a null event is allowed for EPOLL_CTL_DEL.
        unsafe {
            libc::epoll_ctl(
                self.readiness.epoll.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd,
                std::ptr::null_mut(),
            )
        };
    }
}

/// The core's watcher: hands out readiness while there is some, letting the
/// woken clients run between rounds, and waits on the epoll set itself only
/// when nothing is ready.
async fn watch(readiness: Rc<Readiness>) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT];
    loop {
        let n = readiness.take_events(&mut events);
        if n > 0 {
            readiness.wake_ready(&events[..n]);
            futures_lite::future::yield_now().await;
            continue;
        }
        if let Err(e) = epoll_readable(&readiness.epoll).await {
            // Out of descriptors, say: poll again shortly rather than
            // leave this core's clients unserved.
            tracing::warn!("cannot wait on the clients' epoll set: {e}");
            glommio::timer::sleep(WAIT_RETRY).await;
        }
    }
}

/// Until the epoll set has events. glommio has no public way to await an
/// arbitrary descriptor, but a stream it wraps arms a readiness poll on its
/// descriptor at creation: wrapping a duplicate of the epoll descriptor arms
/// exactly that poll, and the read that follows fails at once (it is not a
/// socket) when the poll has completed.
async fn epoll_readable(epoll: &OwnedFd) -> std::io::Result<()> {
    let dup = epoll.try_clone()?;
    // SAFETY: `dup` is ours; the stream takes it over and closes it.
    let mut stream = unsafe { glommio::net::UnixStream::from_raw_fd(dup.into_raw_fd()) };
    let _ = stream.read(&mut [0u8; 1]).await;
    Ok(())
}
