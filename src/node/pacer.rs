//! The snapshot writer's pacer: how much of a busy core's CPU time a
//! checkpoint may take (`snapshot-cpu-share`), measured in thread CPU time.

use std::time::{Duration, Instant};

/// Keeps the snapshot writer to its share of a busy core.
///
/// Over each `WINDOW` it measures the CPU time the core's thread used for
/// anything but the writer (clients, jobs from other cores, the log,
/// expiry). Below `BUSY_FRACTION` of the window, or with fewer than
/// `BUSY_REQUESTS` requests in it, the core counts as idle and the writer
/// runs flat out. Otherwise the writer earns CPU time in
/// proportion to the rest — `share` of the two together — but at least
/// `FLOOR_SHARE` of the wall-clock time, so a snapshot under any load ends
/// in bounded time.
///
/// CPU time, from the kernel (`CLOCK_THREAD_CPUTIME_ID`), not wall-clock
/// time: on a shared machine the executor's idle time is no spare CPU
/// (another process, the load generator of a benchmark, may be using it),
/// and its tasks' wall-clock run times count the time it was preempted.
/// Measured on the 2-core VM with other processes busy: a writer held to
/// 10% of the wall clock, or paced by glommio's (wall-clock) run times,
/// took a third of the server's CPU, and clients lost 60% of their
/// throughput. (Those runs also polled INFO while it still called glibc's
/// `mallinfo2`, since removed, which overstated the loss.)
pub(super) struct Pacer {
    window_started: Instant,
    cpu_at_window: f64,
    /// Client commands and other cores' jobs this core had run when the
    /// window started.
    requests_at_window: u64,
    /// The writer's CPU time in this window.
    writer_in_window: f64,
    busy: bool,
    /// CPU time the writer may still use before it pauses (seconds; below
    /// zero, it owes).
    credit: f64,
    /// For the log: the writer's own CPU time, its pauses, the busy windows.
    pub(super) worked_s: f64,
    pub(super) paused_s: f64,
    pub(super) windows: u64,
    pub(super) busy_windows: u64,
}

/// How long the clients' activity is measured over before the pacer
/// decides again.
const WINDOW: Duration = Duration::from_millis(10);
/// The share of that window the rest of the core's work must have used for
/// the core to count as busy.
const BUSY_FRACTION: f64 = 0.02;
/// Requests a window must have seen for the core to count as busy (500 a
/// second): a monitoring client polling INFO does not slow a snapshot.
const BUSY_REQUESTS: u64 = 5;
/// The least share of the wall clock the writer gets on a busy core: a
/// snapshot under load takes at most 50 times its CPU time.
const FLOOR_SHARE: f64 = 0.02;
/// Most credit kept: time the writer could not use (waiting on the disk)
/// does not pile up into a long burst later.
const MAX_CREDIT: f64 = 0.002;

/// CPU time this thread has used (seconds).
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the kernel to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

impl Pacer {
    pub(super) fn new() -> Pacer {
        Pacer {
            window_started: Instant::now(),
            cpu_at_window: thread_cpu(),
            requests_at_window: 0,
            writer_in_window: 0.0,
            busy: false,
            credit: 0.0,
            worked_s: 0.0,
            paused_s: 0.0,
            windows: 0,
            busy_windows: 0,
        }
    }

    /// The writer starts a step: its CPU time so far, for `worked`.
    pub(super) fn start(&self) -> f64 {
        thread_cpu()
    }

    /// The writer's step that began at `started` (`start`) is over.
    pub(super) fn worked(&mut self, started: f64) {
        let d = (thread_cpu() - started).max(0.0);
        self.worked_s += d;
        self.writer_in_window += d;
        if self.busy {
            self.credit -= d;
        }
    }

    /// Closes the window if it is over: busy or not, and the credit earned.
    /// `requests`: client commands and jobs from other cores run so far.
    fn refresh(&mut self, share_pct: u64, requests: u64) {
        let window = self.window_started.elapsed().as_secs_f64();
        if window < WINDOW.as_secs_f64() {
            return;
        }
        let cpu = thread_cpu();
        let others = (cpu - self.cpu_at_window - self.writer_in_window).max(0.0);
        self.window_started = Instant::now();
        self.cpu_at_window = cpu;
        self.writer_in_window = 0.0;
        // The kernel's work for the writer's own file writes counts in the
        // thread's CPU time: the core is busy only if requests came too.
        let served = requests.saturating_sub(self.requests_at_window);
        self.requests_at_window = requests;
        self.busy = others >= BUSY_FRACTION * window && served >= BUSY_REQUESTS;
        self.windows += 1;
        self.busy_windows += self.busy as u64;
        if self.busy {
            let share = share_pct.clamp(1, 99) as f64 / 100.0;
            let earned = (others * share / (1.0 - share)).max(FLOOR_SHARE * window);
            self.credit = (self.credit + earned).min(MAX_CREDIT);
        } else {
            self.credit = 0.0;
        }
    }

    /// How long to pause now to keep to `share_pct` percent of a busy core
    /// (zero: go on after a yield).
    pub(super) fn pause(&mut self, share_pct: u64, requests: u64) -> Duration {
        self.refresh(share_pct, requests);
        if !self.busy || share_pct >= 100 || self.credit >= 0.0 {
            return Duration::ZERO;
        }
        // Until the window closes and brings new credit.
        WINDOW
            .saturating_sub(self.window_started.elapsed())
            .max(Duration::from_millis(1))
    }
}
