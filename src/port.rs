//! The port the pipeline is written against: everything it needs from its surroundings, so
//! the same code runs under WASI (`platform.rs`) and against fakes in unit tests.

use std::time::{Duration, SystemTime};

use crate::config::ConfigSource;
use crate::wire::transport::{HttpRequest, StreamingResponse, Timeouts, TransportError};

/// What the pipeline needs from its surroundings.
pub trait Platform {
    /// Configuration and environment lookups.
    fn source(&self) -> &dyn ConfigSource;
    /// Wall-clock time, for the signature.
    fn now(&self) -> SystemTime;
    /// Monotonic time since an arbitrary start, for durations.
    fn monotonic(&self) -> Duration;
    /// A uniformly random number, for retry jitter.
    fn random_u64(&self) -> u64;
    /// Blocks for `duration` (between retries).
    fn sleep(&self, duration: Duration);
    /// Delivers one encoded event line (see [`crate::hooks`]).
    fn emit(&self, line: &str);
    /// Tells a person something they should fix (an unknown config key), where events are
    /// not shown; hosts that take events get it as an event already.
    fn warn(&self, _message: &str) {}
    /// Sends a request and returns once the status and headers are in.
    fn open(&self, request: &HttpRequest, timeouts: &Timeouts) -> Result<StreamingResponse, TransportError>;
}
