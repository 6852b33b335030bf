//! What one call may take: its memory cap and its deadline, from [`Limits`] and the call's own
//! configuration as the component reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use amplifier_provider_bedrock::config::{MapSource, ProviderConfig};

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory the component may grow to in a call whose request is at most
    /// [`REQUEST_BYTES_WITHIN_CAP`]; a bigger request raises its call's cap (see
    /// [`Limits::memory_cap`]). Default 64 MiB; `bedrock-host --memory-cap MIB`.
    pub memory_bytes: usize,
    /// Wall-clock limit for one call, or for one step of a stream (opening it, or one event):
    /// a stream that keeps delivering is never ended. `None` derives it from the call's own
    /// limits (see [`Limits::derived_call_timeout`]), so the component's clearer errors win.
    pub call_timeout: Option<Duration>,
    /// The host-wide bound on what a big request raises its call's cap to (default 1 GiB):
    /// how much memory one call can take however big its request. A `memory_bytes` above it
    /// is used as it is.
    pub memory_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: DEFAULT_MEMORY_BYTES, call_timeout: None, memory_max_bytes: DEFAULT_MEMORY_MAX_BYTES }
    }
}

/// [`Limits::memory_bytes`] unless set: 64 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

/// [`Limits::memory_max_bytes`] unless set: 1 GiB.
pub const DEFAULT_MEMORY_MAX_BYTES: usize = 1 << 30;

/// The part of a request [`Limits::memory_bytes`] covers: each byte beyond it adds
/// [`MEMORY_PER_REQUEST_BYTE`] to its call's cap.
pub const REQUEST_BYTES_WITHIN_CAP: usize = 8 << 20;

/// What each request byte beyond [`REQUEST_BYTES_WITHIN_CAP`] adds to its call's memory cap.
/// Measured with [`CallRecord::memory_peak_bytes`] (host-test/tests/host/big_requests.rs): the guest
/// holds a request three times while it translates and sends it (the request as received, the
/// Bedrock body as JSON values, the body as bytes: 44 MiB for a 15 MB request, 55 MiB for
/// 19 MB, whether text, image or Messages API), four times with `max_continuations` (the
/// request is kept for the next round); 8 leaves room for the answer and for those. `raw_debug`
/// copies the whole body into an event (nine times the request in all): raise
/// [`Limits::memory_bytes`] for it with requests of many megabytes.
pub const MEMORY_PER_REQUEST_BYTE: usize = 8;

/// Added to a derived deadline so the component's own, clearer, timeout error comes first.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

impl Limits {
    /// The memory cap of a call whose request is `request_bytes` long: [`Limits::memory_bytes`],
    /// plus [`MEMORY_PER_REQUEST_BYTE`] for each request byte beyond [`REQUEST_BYTES_WITHIN_CAP`]
    /// (in whole MiB), at most [`Limits::memory_max_bytes`] (or `memory_bytes`, when that is
    /// more). Any request Bedrock takes (20 MB) fits in the default cap; a bigger one still
    /// reaches the component, which answers with Bedrock's limit.
    pub fn memory_cap(&self, request_bytes: usize) -> usize {
        // In whole MiB, as caps are stated.
        let growth = MEMORY_PER_REQUEST_BYTE.saturating_mul(request_bytes.saturating_sub(REQUEST_BYTES_WITHIN_CAP)) & !((1 << 20) - 1);
        self.memory_bytes.saturating_add(growth).min(self.memory_max_bytes.max(self.memory_bytes))
    }

    /// The deadline of a call (or stream step) configured with `config`: every attempt the
    /// component may make (its retries on each of the model's ids, at most
    /// [`MAX_CANDIDATES`](amplifier_provider_bedrock::models::MAX_CANDIDATES)) at its full
    /// `timeout` (or `stream_idle_timeout`, whichever is longer), plus the retry budget and a
    /// margin. The limits are the component's own reading of `config` ([`resolved`]).
    pub fn derived_call_timeout(config: &BTreeMap<String, String>) -> Duration {
        Self::deadline_of(&resolved(config))
    }

    fn deadline_of(c: &ProviderConfig) -> Duration {
        let per_attempt = c.timeout.max(c.stream_idle_timeout);
        let attempts = c.max_retries + amplifier_provider_bedrock::models::MAX_CANDIDATES as u32;
        per_attempt.saturating_mul(attempts).saturating_add(c.retry_budget) + DEADLINE_MARGIN
    }

    /// The deadline for a call configured as `config`: the explicit one, else the derived one.
    pub(crate) fn call_deadline(&self, config: &ProviderConfig) -> Duration {
        self.call_timeout.unwrap_or_else(|| Self::deadline_of(config))
    }
}

/// `config` as the component reads it: the same keys, parsing, ranges and defaults
/// (`ProviderConfig::resolve`), so the host's limits cannot disagree with the component's. A
/// configuration the component would refuse fails the call there with a `config:` error; its
/// limits here are then the defaults.
pub(crate) fn resolved(config: &BTreeMap<String, String>) -> ProviderConfig {
    ProviderConfig::resolve(&MapSource(config))
        .or_else(|_| ProviderConfig::resolve(&MapSource(&BTreeMap::new())))
        .expect("the component's defaults resolve")
}
