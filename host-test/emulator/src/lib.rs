//! A local Bedrock: a real HTTP/1.1 server on loopback that checks SigV4 the way AWS does
//! (recomputing it with `aws-sigv4`), records every request, and answers with scripted
//! responses or a default text answer. Offline runs and the tests use it; other AWS clients
//! can be pointed at it too. It serves both of Bedrock's ways to call Claude, on one listener:
//!
//! - InvokeModel (`bedrock-runtime`): `POST /model/{id}/invoke`, `…/invoke-with-response-stream`
//!   (an AWS event stream) and `…/count-tokens`, signed for the service `bedrock`, profile-
//!   prefixed versioned ids in the path, `anthropic_version` in the body, Bedrock's errors
//!   (`x-amzn-ErrorType` and `{"message"}`).
//! - The Messages API ("Claude in Amazon Bedrock", `bedrock-mantle`): `POST /anthropic/v1/messages`,
//!   signed for the service `bedrock-mantle` or with a Bedrock API key (`Authorization: Bearer`
//!   or `x-api-key`), bare model ids (`anthropic.claude-sonnet-5`) in the body, the version in
//!   the `anthropic-version` header and betas in `anthropic-beta`, each model's rules (thinking,
//!   effort, sampling, output and context limits), structured outputs, JSON answers or
//!   server-sent events ([`sse_events`]), Anthropic's errors (`{"type": "error", "error": …}`)
//!   and a `request-id` on every answer.
//!
//! Tests in other processes (the Amplifier Python module's) script it over HTTP, on paths
//! Bedrock does not have: `POST /_emulator/push` queues an Anthropic Messages response for the
//! next call of either API (sent as JSON, as an event stream or as server-sent events,
//! whichever the call asks for), and `GET /_emulator/requests` lists what was received (method,
//! path, model, operation — `messages` for the Messages API —, body).
//!
//! Its own answer (when nothing is queued) models what the component's features depend on:
//! token counts ([`input_tokens`], also served by `POST /model/{id}/count-tokens`), Anthropic's
//! prompt cache (breakpoints, lookback, minimum lengths, TTLs, expiry), guardrails (the
//! `X-Amzn-Bedrock-Guardrail*` headers, an input block on [`GUARDRAIL_DENIED_TOPIC`], traces),
//! `max_tokens` stops and continuation of an assistant prefill (ask it to "count from 1 to N"
//! for a long answer), the context window and the 1M-context beta; on the Messages API also a
//! signed thinking block when thinking is on and a JSON document for `output_config.format`.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

mod answers;
mod cache;
mod count_tokens;
mod eventstream;
mod guardrail;
mod messages_api;
mod models;
mod paced;
mod rules;
mod scripted;
mod server;
mod sigv4;
mod sse;
mod state;
#[cfg(test)]
mod test_support;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use tokio::net::TcpListener;

use cache::PromptCache;
use state::{State, Wire};

pub use cache::input_tokens;
pub use eventstream::{chunk_frame, exception_frame, stream_events};
pub use guardrail::{GUARDRAIL_BLOCKED_MESSAGE, GUARDRAIL_DENIED_TOPIC};
pub use paced::{Fault, Pace, StreamTiming, SILENCE};
pub use scripted::{Delivery, RecordedRequest, Scripted};
pub use sigv4::{sign_with_emulator_key, ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY, STS_SESSION_TOKEN};
pub use sse::sse_events;

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    wire: Arc<Wire>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Emulator {
    /// Starts on 127.0.0.1 with an ephemeral port. Needs a Tokio runtime.
    pub async fn start() -> Result<Emulator> {
        Self::start_on(0).await
    }

    /// Starts on 127.0.0.1:`port` (0 picks a free port).
    pub async fn start_on(port: u16) -> Result<Emulator> {
        Self::start_with(port, false).await
    }

    /// Starts serving HTTPS on 127.0.0.1 with an ephemeral port, with a certificate for
    /// `127.0.0.1` and `localhost` issued at start by a fresh certificate authority
    /// ([`ca_pem`](Self::ca_pem): trust it to connect).
    pub async fn start_tls() -> Result<Emulator> {
        Self::start_with(0, true).await
    }

    /// Like [`start_tls`](Self::start_tls), on `port`.
    pub async fn start_tls_on(port: u16) -> Result<Emulator> {
        Self::start_with(port, true).await
    }

    async fn start_with(port: u16, tls: bool) -> Result<Emulator> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.with_context(|| format!("binding 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Mutex::new(State::default()));
        let (acceptor, ca_pem) = match tls {
            true => {
                let (acceptor, ca_pem) = server::tls_acceptor()?;
                (Some(acceptor), Some(ca_pem))
            }
            false => (None, None),
        };
        let wire = Arc::new(Wire { ca_pem, ..Wire::default() });
        let task = server::serve(listener, state.clone(), acceptor, wire.clone());
        Ok(Emulator { addr, state, task, wire })
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.wire.connections.load(Ordering::SeqCst)
    }

    /// TLS handshakes completed so far (0 unless serving HTTPS).
    pub fn tls_handshakes(&self) -> u64 {
        self.wire.tls_handshakes.load(Ordering::SeqCst)
    }

    /// The PEM certificate of the authority that issued the HTTPS certificate, when serving
    /// HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.wire.ca_pem.as_deref()
    }

    /// `http://127.0.0.1:PORT` (`https://` when serving TLS), for `endpoint_url`.
    pub fn endpoint_url(&self) -> String {
        let scheme = if self.wire.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues an answer for the next InvokeModel or Messages-API call (first in, first out), sent
    /// as it is; without one, calls get the default text answer. CountTokens calls, and calls
    /// refused by the emulator's checks, leave the queue alone.
    pub fn push(&self, answer: Scripted) {
        self.lock().script.push_back(answer);
    }

    /// Queues an Anthropic Messages response for the next InvokeModel or Messages-API call that
    /// has no scripted answer: returned as JSON by `invoke` and by a Messages-API call without
    /// `"stream": true`, as an event stream by `invoke-with-response-stream`, as server-sent
    /// events ([`sse_events`]) by a streaming Messages-API call.
    pub fn push_message(&self, message: Value) {
        self.lock().messages.push_back(message);
    }

    /// Response body bytes handed to the network so far, over all requests.
    pub fn body_bytes_sent(&self) -> u64 {
        self.lock().body_bytes_sent.load(Ordering::SeqCst)
    }

    /// Sets how long the credentials STS hands out stay valid (default one hour).
    pub fn set_sts_lifetime(&self, lifetime: Duration) {
        self.lock().sts_lifetime = Some(lifetime);
    }

    /// Makes STS refuse `AssumeRole` (or serve it again), to test failed credential refreshes.
    pub fn set_sts_refusing(&self, refusing: bool) {
        self.lock().sts_refusing = refusing;
    }

    /// Empties the prompt cache, for a test that needs a cold one whatever ran before.
    pub fn clear_prompt_cache(&self) {
        self.lock().prompt_cache = PromptCache::default();
    }

    /// Streams the default answer of InvokeModel's streamed calls like a model (`Some`): the
    /// message start with the first text delta at once, then the rest of the text in
    /// `pace.deltas` deltas with `pace.delay` after each; and honours the [`Fault`] markers in
    /// their prompts. `None` (the default) sends the answer in one piece. Queued and scripted
    /// answers are sent as they are either way. The scale bench uses it: many calls then stay
    /// open at once, as against a real model, each still getting its own echo.
    pub fn set_stream_pace(&self, pace: Option<Pace>) {
        self.lock().pace = pace;
    }

    /// When each paced stream since the last call arrived and sent its first event (see
    /// [`StreamTiming`]), in arrival order; forgets them.
    pub fn take_stream_timings(&self) -> Vec<StreamTiming> {
        std::mem::take(&mut self.lock().paced).iter().map(paced::PacedRecord::timing).collect()
    }

    /// Forgets the requests recorded so far ([`requests`](Self::requests)): a long run (the
    /// scale bench) would otherwise keep every body.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// Piecewise bodies whose client closed the connection before the end.
    pub fn bodies_abandoned(&self) -> u64 {
        self.lock().bodies_abandoned.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
