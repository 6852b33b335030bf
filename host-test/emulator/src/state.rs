//! What the emulator keeps: its state between requests and what its listener saw. A leaf, so
//! the server and the API handlers read it without importing the crate root that starts them.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cache::PromptCache;
use crate::paced::{self, Pace};
use crate::scripted::{RecordedRequest, Scripted};

/// What the emulator keeps between requests: shared by the server's handler and the control
/// methods of `Emulator`.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) script: VecDeque<Scripted>,
    /// Anthropic messages to answer with next, in the form the operation asks for.
    pub(crate) messages: VecDeque<Value>,
    pub(crate) body_bytes_sent: Arc<AtomicU64>,
    pub(crate) bodies_abandoned: Arc<AtomicU64>,
    /// Lifetime of credentials handed out by STS; `None` means one hour.
    pub(crate) sts_lifetime: Option<Duration>,
    /// STS answers `AccessDenied` (a failed credential refresh) while set.
    pub(crate) sts_refusing: bool,
    /// Anthropic's prompt cache, shared by all requests as it is by one account's.
    pub(crate) prompt_cache: PromptCache,
    /// How the default streamed answer is paced, when it is (`Emulator::set_stream_pace`).
    pub(crate) pace: Option<Pace>,
    /// The paced streams answered since the last `Emulator::take_stream_timings`.
    pub(crate) paced: Vec<paced::PacedRecord>,
}

/// What the listener saw: connections accepted, TLS handshakes completed, and the HTTPS
/// certificate authority when serving TLS.
#[derive(Debug, Default)]
pub(crate) struct Wire {
    pub(crate) connections: AtomicU64,
    pub(crate) tls_handshakes: AtomicU64,
    pub(crate) ca_pem: Option<String>,
}
