//! Running a prepared Bedrock call: the one retry loop, shared by `complete` (provider.rs) and
//! the stream. Beside it: preparing the call (prepare.rs), the retry policy (retry.rs), the
//! stream's state machine (stream.rs), and continuing an answer cut at `max_tokens`
//! (continuation.rs).

pub(crate) mod continuation;
pub(crate) mod emitter;
pub(crate) mod prepare;
pub(crate) mod retry;
pub(crate) mod stream;
pub(crate) mod stream_hooks;

use std::time::Duration;

use crate::call::emitter::Emitter;
use crate::call::prepare::PreparedCall;
use crate::call::retry::RetryPolicy;
use crate::error::ProviderError;
use crate::port::Platform;
use crate::wire::bedrock::Next;

/// Attempts made so far for one call and the time spent waiting between them.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    /// Attempts started.
    pub(crate) count: u32,
    waited: Duration,
}

impl Attempts {
    /// Waits before another attempt after `error`, if the call's retry policy allows one, and
    /// reports it (`provider:throttle`, `provider:retry`). A wait the service asked for
    /// (`retry-after`) is the least the backoff waits.
    pub(crate) fn may_retry(
        &mut self,
        platform: &dyn Platform,
        call: &PreparedCall,
        error: &ProviderError,
        after: Option<Duration>,
    ) -> bool {
        let policy = RetryPolicy { max_retries: call.config.max_retries, budget: call.config.retry_budget };
        let wait = RetryPolicy::backoff(self.count.saturating_sub(1), platform.random_u64()).max(after.unwrap_or_default());
        let allowed = policy.allows(self.count.saturating_sub(1), self.waited, wait);
        Emitter::new(platform, call).retry(self.count, allowed.then_some(wait), error);
        if !allowed {
            return false;
        }
        platform.sleep(wait);
        self.waited += wait;
        true
    }
}

/// The one retry loop: runs `once` until it succeeds, fails for good, or the retry policy says
/// stop; an id Bedrock refuses moves the call to the model's next id (no wait, once per id).
pub(crate) fn with_retries<T>(
    platform: &dyn Platform,
    call: &mut PreparedCall,
    attempts: &mut Attempts,
    mut once: impl FnMut(&PreparedCall, u32) -> Result<T, (ProviderError, Next)>,
) -> Result<T, ProviderError> {
    loop {
        attempts.count += 1;
        let (error, next) = match once(call, attempts.count) {
            Ok(v) => return Ok(v),
            Err(failure) => failure,
        };
        match next {
            Next::OtherModelId => {
                // Bedrock's refusal, without the advice that follows it.
                let reason = error.message.find("): ").map_or(error.message.as_str(), |i| &error.message[..=i]);
                if let Some(from) = call.fall_back(platform, reason)? {
                    Emitter::new(platform, call).fallback(&from, &error);
                    continue;
                }
            }
            Next::Retry { after } if attempts.may_retry(platform, call, &error, after) => continue,
            _ => {}
        }
        return Err(error.after_attempts(attempts.count));
    }
}

/// A transport failure as an attempt's outcome.
pub(crate) fn network_failure(e: crate::wire::transport::TransportError) -> (ProviderError, Next) {
    let next = if e.is_retryable() { Next::Retry { after: None } } else { Next::Stop };
    (e.into(), next)
}
