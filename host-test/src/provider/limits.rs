//! What one call may take: its memory cap and its deadline, from [`Limits`] and the call's own
//! configuration as the component reads it.

use std::collections::BTreeMap;
use std::time::Duration;

use amplifier_provider_bedrock::config::{MapSource, ProviderConfig};

/// Per-call resource limits.
///
/// Start from [`Limits::default`] and change what you need (`Limits::default().with_memory_bytes(…)`,
/// or set the fields): a limit added later does not break callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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

impl Limits {
    /// These limits with [`Limits::memory_bytes`] set.
    pub const fn with_memory_bytes(mut self, bytes: usize) -> Self {
        self.memory_bytes = bytes;
        self
    }

    /// These limits with [`Limits::call_timeout`] set (`None`: derived from the call).
    pub const fn with_call_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// These limits with [`Limits::memory_max_bytes`] set.
    pub const fn with_memory_max_bytes(mut self, bytes: usize) -> Self {
        self.memory_max_bytes = bytes;
        self
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
    /// `timeout` (or `stream_idle_timeout`, whichever is longer), plus the retry budget (when
    /// `max_retries` allows a retry to wait it) and a margin. The limits are the component's own reading of `config` ([`resolved`]).
    pub fn derived_call_timeout(config: &BTreeMap<String, String>) -> Duration {
        Self::deadline_of(&resolved(config))
    }

    fn deadline_of(c: &ProviderConfig) -> Duration {
        let per_attempt = c.timeout().max(c.stream_idle_timeout());
        let attempts = c.max_retries() + amplifier_provider_bedrock::models::MAX_CANDIDATES as u32;
        // The budget is spent only waiting before a retry; moving to another id does not wait.
        let waits = if c.max_retries() == 0 { Duration::ZERO } else { c.retry_budget() };
        per_attempt.saturating_mul(attempts).saturating_add(waits) + DEADLINE_MARGIN
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

#[cfg(test)]
mod tests {
    //! What the derived deadline must do, rather than the formula it is computed by: outlast
    //! the longest run the component can make (so its own, clearer, timeout error comes first),
    //! but not by much (a runaway call is still stopped soon after); follow the keys the
    //! component reads, the way it reads them; and give way to an explicit `call_timeout`.

    use super::*;
    use amplifier_provider_bedrock::models::MAX_CANDIDATES;
    use proptest::prelude::*;

    fn config(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    /// Seconds with millisecond precision, as a config value.
    fn seconds(millis: u64) -> String {
        format!("{}.{:03}", millis / 1000, millis % 1000)
    }

    /// The longest a call configured as `c` keeps the component busy, walked attempt by attempt
    /// the way its retry loop (src/call/mod.rs) makes them at worst: every attempt runs to its
    /// limit (a non-streamed answer's `timeout`, a stalled stream's `stream_idle_timeout`); each
    /// id but the last is refused, which moves on to the next id without a wait; after that,
    /// each retry the count allows waits whatever is left of the retry budget.
    fn longest_component_run(c: &ProviderConfig) -> Duration {
        let attempt = c.timeout().max(c.stream_idle_timeout());
        let (mut elapsed, mut waited) = (Duration::ZERO, Duration::ZERO);
        let (mut ids_left, mut retries_left) = (MAX_CANDIDATES, c.max_retries());
        loop {
            elapsed += attempt;
            if ids_left > 1 {
                ids_left -= 1;
                continue;
            }
            if retries_left == 0 {
                return elapsed;
            }
            retries_left -= 1;
            let wait = c.retry_budget().saturating_sub(waited);
            waited += wait;
            elapsed += wait;
        }
    }

    /// The deadline leaves the component this much, at least, to report its own timeout.
    const LEAST_ROOM: Duration = Duration::from_secs(5);
    /// And stops a call that overran everything the component allows within this.
    const MOST_ROOM: Duration = Duration::from_secs(60);

    fn assert_outlasts_the_component_by_a_little(config: &BTreeMap<String, String>) {
        let component = ProviderConfig::resolve(&MapSource(config)).expect("a configuration the component takes");
        let longest = longest_component_run(&component);
        let deadline = Limits::derived_call_timeout(config);
        assert!(deadline >= longest + LEAST_ROOM, "{config:?}: the deadline {deadline:?} cuts into the component's {longest:?}");
        assert!(deadline <= longest + MOST_ROOM, "{config:?}: the deadline {deadline:?} lets a call overrun {longest:?} for long");
    }

    #[test]
    fn the_default_deadline_outlasts_the_component_by_a_little() {
        assert_outlasts_the_component_by_a_little(&BTreeMap::new());
    }

    /// A configuration the component refuses fails the call there; the host's deadline is
    /// then the defaults', not one computed from a value the component never used.
    #[test]
    fn a_configuration_the_component_refuses_gives_the_default_deadline() {
        let defaults = Limits::derived_call_timeout(&BTreeMap::new());
        for (key, value) in
            [("timeout", "soon"), ("timeout", "0"), ("stream_idle_timeout", "-5"), ("max_retries", "-1"), ("retry_budget", "100000")]
        {
            let refused = config(&[(key, value.to_string())]);
            assert!(ProviderConfig::resolve(&MapSource(&refused)).is_err(), "the component refuses {key}={value}");
            assert_eq!(Limits::derived_call_timeout(&refused), defaults, "{key}={value}");
        }
    }

    #[test]
    fn an_explicit_call_timeout_wins_over_the_derived_one() {
        let long = config(&[("timeout", "3600".into()), ("max_retries", "10".into())]);
        let explicit = Limits::default().with_call_timeout(Some(Duration::from_millis(500)));
        assert_eq!(explicit.call_deadline(&resolved(&long)), Duration::from_millis(500));
        assert_eq!(Limits::default().call_deadline(&resolved(&long)), Limits::derived_call_timeout(&long));
    }

    /// A valid setting of the four keys that bound a call's time (in milliseconds, and a count):
    /// within the component's ranges (at most a day), with an hour to spare for raising them.
    fn timing() -> impl Strategy<Value = (u64, u64, u32, u64)> {
        (1..=82_800_000u64, 1..=82_800_000u64, 0..=20u32, 0..=82_800_000u64)
    }

    fn timing_config((timeout, idle, retries, budget): (u64, u64, u32, u64)) -> BTreeMap<String, String> {
        config(&[
            ("timeout", seconds(timeout)),
            ("stream_idle_timeout", seconds(idle)),
            ("max_retries", retries.to_string()),
            ("retry_budget", seconds(budget)),
        ])
    }

    proptest! {
        #[test]
        fn every_deadline_outlasts_the_component_by_a_little(t in timing()) {
            assert_outlasts_the_component_by_a_little(&timing_config(t));
        }

        /// More time or more retries for the component never shortens the host's deadline, and
        /// more of what binds (the longer per-attempt limit, a retry, budget) lengthens it.
        #[test]
        fn allowing_the_component_more_lengthens_the_deadline(t in timing(), more_ms in 1..=3_600_000u64) {
            let (timeout, idle, retries, budget) = t;
            let deadline = Limits::derived_call_timeout(&timing_config(t));
            let longer_timeout = Limits::derived_call_timeout(&timing_config((timeout + more_ms, idle, retries, budget)));
            let longer_idle = Limits::derived_call_timeout(&timing_config((timeout, idle + more_ms, retries, budget)));
            prop_assert!(longer_timeout >= deadline && longer_idle >= deadline);
            let longer_binding = if timeout >= idle { longer_timeout } else { longer_idle };
            prop_assert!(longer_binding > deadline);
            prop_assert!(Limits::derived_call_timeout(&timing_config((timeout, idle, retries + 1, budget))) > deadline);
            // The budget is waited only before a retry.
            let more_budget = Limits::derived_call_timeout(&timing_config((timeout, idle, retries, budget + more_ms)));
            let lengthened = if retries > 0 { more_budget > deadline } else { more_budget == deadline };
            prop_assert!(lengthened, "retries {}: {:?} with more budget, {:?} without", retries, more_budget, deadline);
        }

        /// Only the longer of `timeout` and `stream_idle_timeout` counts: either can be what an
        /// attempt runs into.
        #[test]
        fn the_longer_per_attempt_limit_is_what_counts(t in timing()) {
            let (timeout, idle, retries, budget) = t;
            prop_assert_eq!(
                Limits::derived_call_timeout(&timing_config(t)),
                Limits::derived_call_timeout(&timing_config((idle, timeout, retries, budget)))
            );
        }

        /// Keys that do not bound the component's time do not move the deadline.
        #[test]
        fn other_keys_leave_the_deadline_alone(t in timing(), max_tokens in 1..=64_000u32, temperature in 0..=10u32) {
            let plain = timing_config(t);
            let mut other = plain.clone();
            other.insert("max_tokens".into(), max_tokens.to_string());
            other.insert("temperature".into(), format!("0.{temperature}"));
            other.insert("default_model".into(), "anthropic.claude-3-haiku-20240307-v1:0".into());
            other.insert("debug".into(), "true".into());
            prop_assert_eq!(Limits::derived_call_timeout(&other), Limits::derived_call_timeout(&plain));
        }
    }
}
