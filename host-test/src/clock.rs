//! The time the host's own time-based decisions read: when cached credentials are due for a
//! refresh or have expired ([`AwsCredentialChain`](crate::AwsCredentialChain)), and when an idle
//! keep-alive connection is closed ([`HttpClient`](crate::http_client::HttpClient)).
//!
//! Each of those takes a [`Clock`] where it is built (the system's, [`SystemClock`], unless
//! told otherwise), so a test can hand it a [`ManualClock`] and move time on instead of
//! sleeping through an hour-long credential or an idle timeout. There is no process-wide clock:
//! what a component reads through `wasi:clocks`, and the per-request network timeouts, stay on
//! real time.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// A clock shared by the parts of the host that read it; cheap to clone.
pub type SharedClock = Arc<dyn Clock>;

/// What [`Clock::sleep`] returns: a wait that ends when the clock has moved on far enough.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of time for the host's own decisions, so they can be tested by moving time on
/// rather than by waiting for it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The wall-clock time: what credential expiry times, which AWS states as dates, are
    /// compared with.
    fn now(&self) -> SystemTime;

    /// The monotonic time: what measures how long something has waited (an idle connection).
    fn instant(&self) -> Instant;

    /// Ends once `duration` has passed on this clock: what a task that acts after a while
    /// (closing an idle connection) waits on.
    fn sleep(&self, duration: Duration) -> Sleep;
}

/// The system's clocks and tokio's timer: what the host uses unless given another clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl SystemClock {
    /// The system clock as a [`SharedClock`], the default of every part that takes one.
    pub fn shared() -> SharedClock {
        Arc::new(SystemClock)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn instant(&self) -> Instant {
        Instant::now()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// A clock that only moves when told to ([`ManualClock::advance`]): tests use it to check
/// what the host does before and after a credential expires or a connection's idle time runs
/// out, without sleeping. It starts at the system's current time; clones share one time.
#[derive(Clone)]
pub struct ManualClock {
    wall_start: SystemTime,
    instant_start: Instant,
    /// How far the clock has been moved on; [`Clock::sleep`]s watch it.
    elapsed: Arc<tokio::sync::watch::Sender<Duration>>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock").field("elapsed", &*self.elapsed.borrow()).finish_non_exhaustive()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock standing at the system's current time.
    pub fn new() -> ManualClock {
        ManualClock {
            wall_start: SystemTime::now(),
            instant_start: Instant::now(),
            elapsed: Arc::new(tokio::sync::watch::channel(Duration::ZERO).0),
        }
    }

    /// Moves the clock on by `duration`, ending the sleeps that are then due.
    pub fn advance(&self, duration: Duration) {
        self.elapsed.send_modify(|elapsed| *elapsed += duration);
    }

    /// This clock as a [`SharedClock`], for the builders that take one; it keeps following
    /// [`advance`](Self::advance) on `self`.
    pub fn shared(&self) -> SharedClock {
        Arc::new(self.clone())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.wall_start + *self.elapsed.borrow()
    }

    fn instant(&self) -> Instant {
        self.instant_start + *self.elapsed.borrow()
    }

    fn sleep(&self, duration: Duration) -> Sleep {
        let mut elapsed = self.elapsed.subscribe();
        let due = elapsed.borrow().saturating_add(duration);
        Box::pin(async move {
            // The sender lives as long as a clone of the clock: once none is left, time stands
            // still and the sleep never ends.
            if elapsed.wait_for(|e| *e >= due).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_manual_clock_moves_only_when_advanced_and_wakes_its_sleeps_when_due() {
        let clock = ManualClock::new();
        let (wall, instant) = (clock.now(), clock.instant());
        assert_eq!((clock.now(), clock.instant()), (wall, instant), "it stands still");
        let shared = clock.shared();
        let mut sleep = tokio::spawn(shared.sleep(Duration::from_secs(10)));
        clock.advance(Duration::from_secs(9));
        assert_eq!(shared.now(), wall + Duration::from_secs(9), "a shared handle follows the clock");
        assert_eq!(shared.instant(), instant + Duration::from_secs(9));
        tokio::task::yield_now().await;
        assert!(tokio::time::timeout(Duration::from_millis(20), &mut sleep).await.is_err(), "not due yet");
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleep).await.expect("due: it ends").unwrap();
        // A zero sleep is due at once.
        tokio::time::timeout(Duration::from_secs(5), clock.sleep(Duration::ZERO)).await.unwrap();
    }
}
