//! One exchange with Bedrock in the terms both wire formats share: what a request asks
//! ([`Operation`]) and what a unit of a streamed answer means ([`Decoded`]). A leaf of `wire`,
//! so the formats' modules and the dispatch in `wire/mod.rs` both use it without a circle.

use serde_json::Value;

use crate::models::Api;

/// What a call asks of Bedrock, whichever API serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Operation {
    /// One JSON answer (InvokeModel; a Messages API call without `stream`).
    Complete,
    /// An answer streamed as it is generated (InvokeModelWithResponseStream's event stream;
    /// the Messages API's server-sent events).
    Stream,
    /// `CountTokens`: the input tokens the InvokeModel body would use, counted without
    /// running the model (and without charge). InvokeModel only.
    CountTokens,
}

/// What one unit of a streamed response body means, whatever its wire format.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Decoded {
    /// One Anthropic streaming event (`message_start`, `content_block_delta`, …).
    Event(Value),
    /// The service ended the stream with an error: an event-stream exception frame (Bedrock's
    /// exception type, e.g. `throttlingException`) or an SSE `error` event (Anthropic's error
    /// type, e.g. `overloaded_error`).
    Failure {
        /// Which wire format said it, so its own classification applies.
        api: Api,
        /// The error's type as that format names it.
        kind: String,
        /// The service's message.
        message: String,
    },
    /// Something this client does not need (a `ping`, an unknown event type): skipped, as the
    /// AWS and Anthropic SDKs skip it.
    Skip,
}
