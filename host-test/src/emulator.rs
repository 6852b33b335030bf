//! A local Bedrock Runtime: a real HTTP/1.1 server on loopback that checks SigV4 the way AWS
//! does (recomputing it with `aws-sigv4`), records every request, and answers with scripted
//! responses or a default text answer. Offline runs and the tests use it; other AWS clients
//! can be pointed at it too.
//!
//! Tests in other processes (the Amplifier Python module's) script it over HTTP, on paths
//! Bedrock does not have: `POST /_emulator/push` queues an Anthropic Messages response for the
//! next call (sent as JSON or as an event stream, whichever the call asks for), and
//! `GET /_emulator/requests` lists what was received (method, path, model, operation, body).
//!
//! Its own answer (when nothing is queued) models what the component's features depend on:
//! token counts ([`input_tokens`], also served by `POST /model/{id}/count-tokens`), Anthropic's
//! prompt cache (breakpoints, lookback, minimum lengths, TTLs, expiry), guardrails (the
//! `X-Amzn-Bedrock-Guardrail*` headers, an input block on [`GUARDRAIL_DENIED_TOPIC`], traces),
//! `max_tokens` stops and continuation of an assistant prefill (ask it to "count from 1 to N"
//! for a long answer), the context window and the 1M-context beta.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;

/// Access key id the emulator accepts.
pub const ACCESS_KEY_ID: &str = "AKIDEMULATOREXAMPLE01";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "emulator/K7MDENG+bPxRfiCYEXAMPLEKEY0000001";
/// Session token handed out by the emulator's STS `AssumeRole`.
pub const STS_SESSION_TOKEN: &str = "FQoGZXIvYXdzEmulatorAssumedRoleSessionToken";

/// Bedrock API key the emulator accepts.
pub const API_KEY: &str = "ABSKZW11bGF0b3ItYXBpLWtleQ==";

/// The topic every guardrail the emulator knows denies: a request whose user text contains it
/// (in any case) is blocked on input, so tests can make a guardrail intervene at will.
pub const GUARDRAIL_DENIED_TOPIC: &str = "emulator-denied-topic";

/// What a guardrail that blocked the input answers instead of the model (Bedrock's default
/// "blocked input" messaging for a new guardrail).
pub const GUARDRAIL_BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

/// The parts of a prompt in the order Anthropic processes them: the order of a cache prefix.
const PROMPT_PARTS: [&str; 3] = ["tools", "system", "messages"];

/// Added to the words of the prompt by [`input_tokens`], as a stand-in for the tokens Anthropic
/// adds around a prompt (and the emulator's count since its first version).
const INPUT_TOKENS_OVERHEAD: u64 = 3;

/// The most blocks one request may mark with `cache_control` (Anthropic's limit).
const MAX_CACHE_BREAKPOINTS: usize = 4;

/// How many block boundaries up to and including a breakpoint Anthropic checks for an earlier
/// cache entry, which is what lets a conversation that moves its breakpoint forward read what
/// the previous turn wrote.
const CACHE_LOOKBACK_BLOCKS: usize = 20;

/// Lifetime of a cache entry written with the default TTL (`"5m"`) and with `"1h"`.
const CACHE_TTL_5M: Duration = Duration::from_secs(5 * 60);
/// See [`CACHE_TTL_5M`].
const CACHE_TTL_1H: Duration = Duration::from_secs(60 * 60);

/// Minimum cacheable prefix, in tokens, by bare-model prefix; shorter prefixes are never cached.
const MIN_CACHEABLE_TOKENS: &[(&str, u64)] = &[("claude-haiku-4-5", 4096), ("claude-opus-4-5", 4096), ("claude-3-5-haiku", 2048)];
/// Minimum cacheable prefix of every other model (Sonnet 4.5, Sonnet 4, Opus 4 and 4.1, unknown).
const DEFAULT_MIN_CACHEABLE_TOKENS: u64 = 1024;

/// Models with the 1-hour cache TTL on Bedrock; on others `ttl` is not part of the schema.
const ONE_HOUR_CACHE_MODELS: &[&str] = &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"];

/// The `anthropic_beta` flag that raises the context window to [`CONTEXT_WINDOW_1M`].
const CONTEXT_1M_BETA: &str = "context-1m-2025-08-07";
/// Models that accept [`CONTEXT_1M_BETA`] (Sonnet 4.5 and Sonnet 4), by bare-model prefix.
const CONTEXT_1M_MODELS: &[&str] = &["claude-sonnet-4-5", "claude-sonnet-4-20250514"];
/// Context window without and with [`CONTEXT_1M_BETA`], in input tokens.
const CONTEXT_WINDOW: u64 = 200_000;
/// See [`CONTEXT_WINDOW`].
const CONTEXT_WINDOW_1M: u64 = 1_000_000;

/// The `anthropic_beta` flags Bedrock documents for Claude; any other is an invalid beta flag.
const KNOWN_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    CONTEXT_1M_BETA,
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
];

/// The largest N the default answer counts to for "count from 1 to N" (a long answer on demand,
/// for `max_tokens` stops and continuation).
const MAX_COUNT_TO: u64 = 100_000;

/// The values `X-Amzn-Bedrock-Trace` may take.
const GUARDRAIL_TRACE_VALUES: [&str; 3] = ["ENABLED", "DISABLED", "ENABLED_FULL"];

/// One canned answer.
#[derive(Debug, Clone)]
pub struct Scripted {
    /// HTTP status.
    pub status: u16,
    /// Headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Close the connection without answering (a connection reset, as the client sees it).
    pub reset: bool,
    /// Send the body in pieces instead of at once.
    pub delivery: Option<Delivery>,
}

/// How a body goes out: piece sizes (repeated), a pause between pieces, and optionally a
/// point where sending stops until a gate opens (never opened: a stall).
#[derive(Debug, Clone, Default)]
pub struct Delivery {
    /// Piece sizes in bytes, used in turn and then again from the start.
    pub sizes: Vec<usize>,
    /// Pause after each piece.
    pub pace: Duration,
    /// After this many bytes, wait for the gate.
    pub hold: Option<(usize, Arc<tokio::sync::Notify>)>,
    /// Stop after this many bytes of a body whose `Content-Length` promised all of it: the
    /// connection drops mid-body (0: right after the headers), as a reset looks to a client.
    pub cut_at: Option<usize>,
}

impl Scripted {
    /// A 200 JSON answer.
    pub fn json(body: &Value) -> Scripted {
        Scripted::new(200, vec![("Content-Type".into(), "application/json".into())], body.to_string().into_bytes())
    }

    /// An answer with this status, headers and body.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Scripted {
        Scripted { status, headers, body, delay: Duration::ZERO, reset: false, delivery: None }
    }

    /// No answer at all: the connection is dropped.
    pub fn reset() -> Scripted {
        Scripted { reset: true, ..Scripted::new(0, vec![], vec![]) }
    }

    /// An InvokeModelWithResponseStream answer carrying these Anthropic events.
    pub fn event_stream(events: &[Value]) -> Scripted {
        let mut body = Vec::new();
        for e in events {
            body.extend(chunk_frame(e));
        }
        Scripted::new(200, stream_headers(), body)
    }

    /// A stream vector from `testdata/streams` (its `.json`), body from the `.bin` beside it,
    /// delivered in the vector's own read sizes.
    pub fn stream_vector(json_path: &Path) -> Result<Scripted> {
        let v: Value = serde_json::from_slice(&std::fs::read(json_path).with_context(|| format!("reading {}", json_path.display()))?)?;
        let body = std::fs::read(json_path.with_extension("bin"))?;
        let mut headers: Vec<(String, String)> = v["response"]["headers"]
            .as_array()
            .context("vector has no response.headers")?
            .iter()
            .map(|h| (h[0].as_str().unwrap_or_default().to_string(), h[1].as_str().unwrap_or_default().to_string()))
            .collect();
        if headers.is_empty() {
            headers = stream_headers();
        }
        let sizes = v["delivery_chunks"]["sizes"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).map(|n| n as usize).collect())
            .unwrap_or_default();
        Ok(Scripted { delivery: Some(Delivery { sizes, ..Delivery::default() }), ..Scripted::new(200, headers, body) })
    }

    /// The same answer sent in pieces of `sizes` bytes with `pace` between them.
    pub fn delivered(mut self, sizes: Vec<usize>, pace: Duration) -> Scripted {
        let d = self.delivery.take().unwrap_or_default();
        self.delivery = Some(Delivery { sizes, pace, ..d });
        self
    }

    /// The same answer, pausing after `bytes` until `gate` is notified.
    pub fn hold_after(mut self, bytes: usize, gate: Arc<tokio::sync::Notify>) -> Scripted {
        let mut d = self.delivery.take().unwrap_or_default();
        d.hold = Some((bytes, gate));
        self.delivery = Some(d);
        self
    }

    /// The same answer, its connection dropped after `bytes` of the body (0: after the headers).
    pub fn cut_after(mut self, bytes: usize) -> Scripted {
        let mut d = self.delivery.take().unwrap_or_default();
        d.cut_at = Some(bytes);
        self.delivery = Some(d);
        self
    }

    /// The same answer after `delay`.
    pub fn after(mut self, delay: Duration) -> Scripted {
        self.delay = delay;
        self
    }

    /// The `response` of a vector file from `testdata/responses` (status, headers, body).
    pub fn from_vector(path: &Path) -> Result<Scripted> {
        let v: Value = serde_json::from_slice(&std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)?;
        let r = &v["response"];
        let headers = r["headers"]
            .as_array()
            .context("vector has no response.headers")?
            .iter()
            .map(|h| (h[0].as_str().unwrap_or_default().to_string(), h[1].as_str().unwrap_or_default().to_string()))
            .collect();
        let body = match (r.get("body_utf8").and_then(Value::as_str), r.get("body_base64").and_then(Value::as_str)) {
            (Some(s), _) => s.as_bytes().to_vec(),
            (None, Some(b)) => base64::engine::general_purpose::STANDARD.decode(b)?,
            _ => Vec::new(),
        };
        Ok(Scripted::new(r["status"].as_u64().context("vector has no response.status")? as u16, headers, body))
    }
}

/// A request as the emulator received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query as sent (percent-encoded).
    pub path: String,
    /// The model id, decoded, when the path names one.
    pub model_id: Option<String>,
    /// `invoke`, `invoke-with-response-stream` or `count-tokens`.
    pub operation: Option<String>,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// `None` when the signature (or API key) checked out; else why not.
    pub auth_failure: Option<String>,
}

impl RecordedRequest {
    /// The first header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

#[derive(Debug, Default)]
struct State {
    requests: Vec<RecordedRequest>,
    script: VecDeque<Scripted>,
    /// Anthropic messages to answer with next, in the form the operation asks for.
    messages: VecDeque<Value>,
    body_bytes_sent: Arc<AtomicU64>,
    bodies_abandoned: Arc<AtomicU64>,
    /// Lifetime of credentials handed out by STS; `None` means one hour.
    sts_lifetime: Option<Duration>,
    /// STS answers `AccessDenied` (a failed credential refresh) while set.
    sts_refusing: bool,
    /// Anthropic's prompt cache, shared by all requests as it is by one account's.
    prompt_cache: PromptCache,
}

/// A running emulator; stops when dropped.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    wire: Arc<Wire>,
}

/// What the listener saw: connections accepted, TLS handshakes completed, and the HTTPS
/// certificate authority when serving TLS.
#[derive(Debug, Default)]
struct Wire {
    connections: AtomicU64,
    tls_handshakes: AtomicU64,
    ca_pem: Option<String>,
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
        let shared = state.clone();
        let counter = Arc::new(AtomicU64::new(1));
        let (acceptor, ca_pem) = match tls {
            true => {
                let (acceptor, ca_pem) = tls_acceptor()?;
                (Some(acceptor), Some(ca_pem))
            }
            false => (None, None),
        };
        let wire = Arc::new(Wire { ca_pem, ..Wire::default() });
        let seen = wire.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                seen.connections.fetch_add(1, Ordering::SeqCst);
                let _ = stream.set_nodelay(true);
                let state = shared.clone();
                let counter = counter.clone();
                let acceptor = acceptor.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| handle(req, state.clone(), counter.clone()));
                    let http = hyper::server::conn::http1::Builder::new();
                    match acceptor {
                        None => {
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                        }
                        Some(acceptor) => {
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            seen.tls_handshakes.fetch_add(1, Ordering::SeqCst);
                            let _ = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
                        }
                    }
                });
            }
        });
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

    /// Queues an answer for the next InvokeModel call (first in, first out); without one, calls
    /// get the default text answer. CountTokens calls leave the queue alone.
    pub fn push(&self, answer: Scripted) {
        self.lock().script.push_back(answer);
    }

    /// Queues an Anthropic Messages response for the next InvokeModel call that has no scripted
    /// answer: returned as JSON by `invoke`, as an event stream by `invoke-with-response-stream`.
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

/// A TLS acceptor with a certificate for `127.0.0.1` and `localhost`, issued by a certificate
/// authority made for this emulator; returns the authority's PEM certificate too.
fn tls_acceptor() -> Result<(tokio_rustls::TlsAcceptor, String)> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "bedrock-host emulator CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let leaf_key = KeyPair::generate()?;
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?.signed_by(&leaf_key, &ca)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone(), ca.der().clone()], key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), ca.pem()))
}

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Why the emulator hung up instead of answering.
#[derive(Debug)]
struct ScriptedReset;

impl std::fmt::Display for ScriptedReset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("scripted connection reset")
    }
}

impl std::error::Error for ScriptedReset {}

async fn handle(req: Request<Incoming>, state: Arc<Mutex<State>>, counter: Arc<AtomicU64>) -> Result<Response<Body>, ScriptedReset> {
    let n = counter.fetch_add(1, Ordering::Relaxed);
    let request_id = format!("{n:08x}-e3a1-4c0d-9b7e-{:012x}", n.wrapping_mul(0x9e37_79b9));
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
    if let Some(control) = parts.uri.path().strip_prefix("/_emulator/") {
        return Ok(control_answer(control, parts.method.as_str(), &body, &state));
    }
    let headers: Vec<(String, String)> =
        parts.headers.iter().map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect();
    let path = parts.uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (model_id, operation) = parse_path(parts.uri.path());
    let is_sts = parts.uri.path() == "/" && String::from_utf8_lossy(&body).contains("Action=AssumeRole");
    let auth_failure = verify(parts.method.as_str(), &path, &headers, &body, if is_sts { "sts" } else { "bedrock" }).err();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path,
        model_id: model_id.clone(),
        operation: operation.clone(),
        headers,
        body,
        auth_failure: auth_failure.clone(),
    };
    let invoke = matches!(operation.as_deref(), Some("invoke" | "invoke-with-response-stream"));
    // Parsed once: a body can be megabytes and every check below reads it.
    let body_json = if auth_failure.is_none() && invoke { recorded.json() } else { Value::Null };
    let (scripted, message, rejected, sent_counter) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests.push(recorded.clone());
        // Bedrock checks the model id, the headers and the body before anything else happens.
        let rejected = match (&auth_failure, &model_id) {
            (None, Some(id)) if invoke => check_invoke(id, &recorded.headers, &body_json),
            _ => None,
        };
        let callable = auth_failure.is_none() && invoke && rejected.is_none();
        let next = if callable { s.script.pop_front() } else { None };
        let message = match callable && next.is_none() {
            false => None,
            true => Some(match s.messages.pop_front() {
                Some(pushed) => pushed,
                None => default_answer(
                    &body_json,
                    model_id.as_deref().unwrap_or_default(),
                    &recorded.headers,
                    &mut s.prompt_cache,
                    n,
                    Instant::now(),
                ),
            }),
        };
        (
            next,
            message,
            rejected,
            (
                s.body_bytes_sent.clone(),
                s.bodies_abandoned.clone(),
                (!s.sts_refusing).then(|| s.sts_lifetime.unwrap_or(Duration::from_secs(3600))),
            ),
        )
    };
    let (sent_counter, abandoned, sts_lifetime) = sent_counter;

    let answer = match (&auth_failure, operation.as_deref(), scripted) {
        (None, None, _) if is_sts => match sts_lifetime {
            Some(lifetime) => assume_role_answer(&recorded, n, lifetime),
            // STS speaks the query protocol: its errors are XML.
            None => Scripted::new(
                403,
                vec![("content-type".into(), "text/xml".into())],
                br#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole</Message></Error><RequestId>emulator</RequestId></ErrorResponse>"#.to_vec(),
            ),
        },
        (Some(failure), _, _) => error_answer(403, failure_code(failure), failure_message(failure)),
        (None, None, _) => {
            error_answer(404, "UnknownOperationException", "The requested operation is not recognized by the service.".into())
        }
        (None, Some("count-tokens"), _) => match count_tokens(model_id.as_deref().unwrap_or_default(), &recorded.body) {
            Ok(tokens) => Scripted::json(&json!({ "inputTokens": tokens })),
            Err(message) => error_answer(400, "ValidationException", message),
        },
        (None, Some(_), _) if rejected.is_some() => {
            let (status, code, message) = rejected.unwrap_or_default();
            error_answer(status, code, message)
        }
        (None, Some(_), Some(s)) => s,
        (None, Some(op), None) => {
            let message = message.unwrap_or_default();
            if op == "invoke-with-response-stream" {
                stream_answer(&message)
            } else {
                Scripted::json(&message)
            }
        }
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    if answer.reset {
        // An error from the service makes hyper drop the connection without a response.
        return Err(ScriptedReset);
    }
    // A scripted answer keeps its own request id (the vectors carry Bedrock's real ones).
    let has_id = answer.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("x-amzn-requestid"));
    let mut builder = Response::builder().status(answer.status);
    if !has_id {
        builder = builder.header("x-amzn-RequestId", &request_id);
    }
    for (k, v) in &answer.headers {
        builder = builder.header(k, v);
    }
    let body = match answer.delivery {
        None => {
            sent_counter.fetch_add(answer.body.len() as u64, Ordering::SeqCst);
            Full::new(Bytes::from(answer.body)).boxed()
        }
        Some(delivery) => {
            if delivery.cut_at.is_some() {
                // The promise the cut breaks.
                builder = builder.header("content-length", answer.body.len());
            }
            let (mut tx, body) = http_body_util::channel::Channel::<Bytes, Infallible>::new(2);
            tokio::spawn(async move {
                let sizes = if delivery.sizes.is_empty() { vec![answer.body.len().max(1)] } else { delivery.sizes.clone() };
                let (mut offset, mut turn) = (0usize, 0usize);
                let stop = delivery.cut_at.unwrap_or(usize::MAX).min(answer.body.len());
                while offset < stop {
                    if let Some((at, gate)) = &delivery.hold {
                        if offset >= *at {
                            gate.notified().await;
                        }
                    }
                    let mut end = (offset + sizes[turn % sizes.len()].max(1)).min(stop);
                    if let Some((at, _)) = &delivery.hold {
                        if offset < *at {
                            end = end.min(*at);
                        }
                    }
                    if tx.send_data(Bytes::copy_from_slice(&answer.body[offset..end])).await.is_err() {
                        abandoned.fetch_add(1, Ordering::SeqCst);
                        return; // the client went away
                    }
                    sent_counter.fetch_add((end - offset) as u64, Ordering::SeqCst);
                    offset = end;
                    turn += 1;
                    if !delivery.pace.is_zero() {
                        tokio::time::sleep(delivery.pace).await;
                    }
                }
                if delivery.cut_at.is_some() {
                    // Let what was sent reach the client before the connection drops, as it
                    // would from a server that dies mid-answer.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
            body.boxed()
        }
    };
    Ok(builder.body(body).unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())))
}

/// The test-control paths (`/_emulator/push`, `/_emulator/requests`); never Bedrock's.
fn control_answer(path: &str, method: &str, body: &[u8], state: &Mutex<State>) -> Response<Body> {
    let reply = |status: u16, value: Value| {
        Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(value.to_string())).boxed())
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed()))
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    match (method, path) {
        ("POST", "push") => match serde_json::from_slice::<Value>(body) {
            Ok(message) if message["type"] == "message" && message["content"].is_array() => {
                s.messages.push_back(message);
                reply(200, json!({"queued": s.messages.len()}))
            }
            _ => reply(400, json!({"message": "send one Anthropic Messages response: {\"type\": \"message\", \"content\": [...], ...}"})),
        },
        ("GET", "requests") => {
            let list: Vec<Value> = s
                .requests
                .iter()
                .map(|r| json!({"method": r.method, "path": r.path, "model_id": r.model_id, "operation": r.operation, "body": r.json()}))
                .collect();
            reply(200, Value::Array(list))
        }
        _ => reply(404, json!({"message": "the emulator's control paths are POST /_emulator/push and GET /_emulator/requests"})),
    }
}

/// STS `AssumeRole`: the emulator's own key with a session token, valid for `lifetime`.
fn assume_role_answer(request: &RecordedRequest, n: u64, lifetime: Duration) -> Scripted {
    let form = String::from_utf8_lossy(&request.body).into_owned();
    let field = |k: &str| {
        form.split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .map(|v| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
            .unwrap_or_default()
    };
    let expiry = aws_smithy_types::DateTime::from(SystemTime::now() + lifetime);
    let expiry = expiry.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default();
    let body = format!(
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult>\
         <AssumedRoleUser><AssumedRoleId>AROAEMULATOR:{session}</AssumedRoleId><Arn>{role}/{session}</Arn></AssumedRoleUser>\
         <Credentials><AccessKeyId>{ACCESS_KEY_ID}</AccessKeyId><SecretAccessKey>{SECRET_ACCESS_KEY}</SecretAccessKey>\
         <SessionToken>{STS_SESSION_TOKEN}</SessionToken><Expiration>{expiry}</Expiration></Credentials>\
         </AssumeRoleResult><ResponseMetadata><RequestId>sts-{n}</RequestId></ResponseMetadata></AssumeRoleResponse>",
        session = field("RoleSessionName"),
        role = field("RoleArn").replace(":role/", ":assumed-role/").replace("arn:aws:iam:", "arn:aws:sts:"),
    );
    Scripted::new(200, vec![("Content-Type".into(), "text/xml".into())], body.into_bytes())
}

/// `/model/{id}/{operation}` → (decoded id, operation).
fn parse_path(path: &str) -> (Option<String>, Option<String>) {
    let Some(rest) = path.strip_prefix("/model/") else {
        return (None, None);
    };
    let Some((id, op)) = rest.rsplit_once('/') else {
        return (None, None);
    };
    if !["invoke", "invoke-with-response-stream", "count-tokens"].contains(&op) {
        return (None, None);
    }
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy().into_owned();
    (Some(id), Some(op.to_string()))
}

fn error_answer(status: u16, code: &str, message: String) -> Scripted {
    Scripted::new(
        status,
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("x-amzn-ErrorType".into(), format!("{code}:http://internal.amazon.com/coral/com.amazon.bedrock/")),
        ],
        json!({ "message": message }).to_string().into_bytes(),
    )
}

fn failure_code(failure: &str) -> &'static str {
    if failure.starts_with("unknown access key") || failure.starts_with("unknown API key") {
        "UnrecognizedClientException"
    } else if failure.starts_with("missing") {
        "MissingAuthenticationTokenException"
    } else {
        "InvalidSignatureException"
    }
}

fn failure_message(failure: &str) -> String {
    match failure_code(failure) {
        "UnrecognizedClientException" => "The security token included in the request is invalid.".into(),
        "MissingAuthenticationTokenException" => "Missing Authentication Token".into(),
        _ if failure.starts_with("signature expired") => format!("Signature expired: {failure}"),
        _ => "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.".into(),
    }
}

/// Checks the Authorization header: recomputes SigV4 over the signed headers with the known
/// secret, or compares the bearer API key.
fn verify(method: &str, path: &str, headers: &[(String, String)], body: &[u8], expected_service: &str) -> Result<(), String> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let auth = get("authorization").ok_or("missing Authorization header")?;
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return if token == API_KEY { Ok(()) } else { Err("unknown API key".into()) };
    }
    let rest = auth.strip_prefix("AWS4-HMAC-SHA256 ").ok_or("unsupported authorization scheme")?;
    let field = |name: &str| rest.split(", ").find_map(|p| p.strip_prefix(name)).map(str::to_string);
    let credential = field("Credential=").ok_or("malformed Authorization: no Credential")?;
    let signed_headers = field("SignedHeaders=").ok_or("malformed Authorization: no SignedHeaders")?;
    let mut scope = credential.split('/');
    let (key_id, _date, region, service) =
        (scope.next().unwrap_or(""), scope.next().unwrap_or(""), scope.next().unwrap_or(""), scope.next().unwrap_or(""));
    if key_id != ACCESS_KEY_ID {
        return Err(format!("unknown access key {key_id}"));
    }
    if service != expected_service {
        return Err(format!("credential scope names service {service:?}, not {expected_service:?}"));
    }
    let amz_date = get("x-amz-date").ok_or("missing X-Amz-Date")?;
    let time = parse_amz_date(amz_date).ok_or("malformed X-Amz-Date")?;
    let skew = SystemTime::now().duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > Duration::from_secs(15 * 60) {
        return Err(format!("signature expired: {amz_date} is more than 15 minutes from the server time"));
    }
    let host = get("host").ok_or("missing Host header")?;
    let url = format!("http://{host}{path}");
    let to_sign: Vec<(&str, &str)> = signed_headers.split(';').filter(|h| *h != "host").map(|h| (h, get(h).unwrap_or(""))).collect();
    let added = sign_with_emulator_key(method, &url, &to_sign, body, region, expected_service, time, get("x-amz-security-token"))?;
    let expected = added.iter().find(|(k, _)| k.eq_ignore_ascii_case("authorization")).map(|(_, v)| v.clone()).unwrap_or_default();
    if expected == auth {
        Ok(())
    } else {
        Err("signature mismatch".into())
    }
}

/// The SigV4 headers (`Authorization`, `X-Amz-Date`, …) for a request signed with the
/// emulator's key: how the emulator checks a signature, and how native clients (the bench)
/// make one.
#[allow(clippy::too_many_arguments)]
pub fn sign_with_emulator_key(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    region: &str,
    service: &str,
    time: SystemTime,
    session_token: Option<&str>,
) -> Result<Vec<(String, String)>, String> {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let identity =
        aws_credential_types::Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, session_token.map(str::to_string), None, "emulator")
            .into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let signable = SignableRequest::new(method, url, headers.iter().copied(), SignableBody::Bytes(body)).map_err(|e| e.to_string())?;
    let (instructions, _) = sign(signable, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// `20250929T120000Z` → SystemTime.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    if s.len() != 16 || !s.ends_with('Z') || s.as_bytes()[8] != b'T' {
        return None;
    }
    let rfc3339 = format!("{}-{}-{}T{}:{}:{}Z", &s[0..4], &s[4..6], &s[6..8], &s[9..11], &s[11..13], &s[13..15]);
    let dt = aws_smithy_types::DateTime::from_str(&rfc3339, aws_smithy_types::date_time::Format::DateTime).ok()?;
    SystemTime::try_from(dt).ok()
}

/// The Claude models Bedrock serves only through inference profiles, with the profiles each
/// has (the emulator's own copy of Bedrock's list, independent of the component's table).
const PROFILES: &[(&str, &[&str])] = &[
    ("anthropic.claude-sonnet-4-5-20250929", &["us", "us-gov", "eu", "jp", "au", "global"]),
    ("anthropic.claude-haiku-4-5-20251001", &["us", "eu", "jp", "au", "global"]),
    ("anthropic.claude-opus-4-5-20251101", &["us", "eu", "global"]),
    ("anthropic.claude-opus-4-1-20250805", &["us"]),
    ("anthropic.claude-sonnet-4-20250514", &["us", "eu", "apac", "global"]),
    ("anthropic.claude-opus-4-20250514", &["us"]),
];

/// Models that refuse `temperature` together with `top_p` (Bedrock's 4.5 models and Opus 4.1).
const ONE_OF_TEMPERATURE_TOP_P: &[&str] = &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-1"];

/// Bedrock's checks on the model id: a profile must exist for the model and be callable from
/// the signing region; a profile-only model cannot be called by its bare id. `None` when fine.
fn check_model_id(id: &str, headers: &[(String, String)]) -> Option<(u16, &'static str, String)> {
    if id.starts_with("arn:") {
        return None;
    }
    let invalid = || Some((400, "ValidationException", "The provided model identifier is invalid.".to_string()));
    let (prefix, bare) = match id.split_once('.') {
        Some((p, rest)) if ["us", "us-gov", "eu", "apac", "jp", "au", "global"].contains(&p) => (Some(p), rest),
        _ => (None, id),
    };
    let base = without_version(bare);
    // Models this list does not know are let through.
    let (_, profiles) = PROFILES.iter().find(|(m, _)| *m == base)?;
    let Some(prefix) = prefix else {
        return Some((400, "ValidationException", format!(
            "Invocation of model ID {id} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        )));
    };
    // The signing region decides which geographic profiles may be called.
    let region = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, v)| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_string();
    let callable = match prefix {
        "global" => true,
        "us-gov" => region.starts_with("us-gov-"),
        "us" => region.starts_with("us-") && !region.starts_with("us-gov-"),
        "eu" => region.starts_with("eu-"),
        "apac" => region.starts_with("ap-"),
        "jp" => matches!(region.as_str(), "ap-northeast-1" | "ap-northeast-3"),
        "au" => matches!(region.as_str(), "ap-southeast-2" | "ap-southeast-4"),
        _ => false,
    };
    if profiles.contains(&prefix) && (callable || region.is_empty()) {
        None
    } else {
        invalid()
    }
}

/// `anthropic.claude-sonnet-4-5-20250929` from `anthropic.claude-sonnet-4-5-20250929-v1:0`.
fn without_version(id: &str) -> &str {
    id.rsplit_once("-v").map(|(b, _)| b).unwrap_or(id)
}

/// Everything Bedrock checks on an InvokeModel call before the model runs, in its order: the
/// model id, the guardrail headers, the body, the context window. `None` when it may run.
fn check_invoke(model_id: &str, headers: &[(String, String)], body: &Value) -> Option<(u16, &'static str, String)> {
    let invalid = |message: String| (400, "ValidationException", message);
    check_model_id(model_id, headers)
        .or_else(|| guardrail(headers).err().map(invalid))
        .or_else(|| check_body(body, model_id).err().map(invalid))
        .or_else(|| check_context(body).err().map(invalid))
}

/// Bedrock's own checks on an Anthropic body, with its messages (Bedrock's, and Anthropic's
/// as Bedrock relays them).
fn check_body(body: &Value, model_id: &str) -> Result<(), String> {
    let Some(obj) = body.as_object() else {
        return Err(
            "Malformed input request: expected type: JSONObject, found: JSONArray, please reformat your input and try again.".into()
        );
    };
    for key in ["model", "stream"] {
        if obj.contains_key(key) {
            return Err(format!(
                "Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
            ));
        }
    }
    for key in ["anthropic_version", "max_tokens", "messages"] {
        if !obj.contains_key(key) {
            return Err(format!("Malformed input request: #: required key [{key}] not found, please reformat your input and try again."));
        }
    }
    let model = bare_model(model_id);
    if obj.contains_key("temperature") && obj.contains_key("top_p") && ONE_OF_TEMPERATURE_TOP_P.iter().any(|m| model.starts_with(m)) {
        return Err("`temperature` and `top_p` cannot both be specified for this model. Please use only one.".into());
    }
    check_betas(obj, &model)?;
    let messages = obj["messages"].as_array().cloned().unwrap_or_default();
    check_messages(&messages)?;
    check_cache_control(body, &model)?;
    if obj.get("thinking").and_then(|t| t.get("type")).and_then(Value::as_str) == Some("enabled") {
        check_thinking(obj, &messages)?;
    }
    Ok(())
}

/// `anthropic_beta`: known flags only, and the 1M context only on the models that have it
/// (Bedrock answers both with the same terse message).
fn check_betas(obj: &Map<String, Value>, model: &str) -> Result<(), String> {
    let Some(betas) = obj.get("anthropic_beta") else {
        return Ok(());
    };
    let Some(betas) = betas.as_array() else {
        return Err(format!(
            "Malformed input request: #/anthropic_beta: expected type: JSONArray, found: {}, please reformat your input and try again.",
            json_type(betas)
        ));
    };
    for beta in betas {
        let known = beta.as_str().is_some_and(|b| KNOWN_BETAS.contains(&b));
        let misplaced = beta == CONTEXT_1M_BETA && !CONTEXT_1M_MODELS.iter().any(|m| model.starts_with(m));
        if !known || misplaced {
            return Err("invalid beta flag".into());
        }
    }
    Ok(())
}

/// A JSON value's type as Bedrock's schema messages name it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

/// The context window: the prompt's [`input_tokens`] against 200k, or 1M with the beta flag
/// (whose model was checked with the body). Not a CountTokens check: counting is how a caller
/// finds out whether a prompt fits.
fn check_context(body: &Value) -> Result<(), String> {
    let one_m = body["anthropic_beta"].as_array().is_some_and(|b| b.iter().any(|f| f == CONTEXT_1M_BETA));
    let limit = if one_m { CONTEXT_WINDOW_1M } else { CONTEXT_WINDOW };
    let tokens = input_tokens(body);
    if tokens > limit {
        return Err(format!("prompt is too long: {tokens} tokens > {limit} maximum"));
    }
    Ok(())
}

/// Anthropic's rules on cache breakpoints: at most four, `type` ephemeral, `ttl` 5m or 1h (1h
/// only where Bedrock has it), and no 1h breakpoint after a 5m one in prefix order.
fn check_cache_control(body: &Value, model: &str) -> Result<(), String> {
    let marked: Vec<(String, &Value)> = pieces(body).into_iter().filter_map(|p| p.cache_control().map(|cc| (p.path.clone(), cc))).collect();
    if marked.len() > MAX_CACHE_BREAKPOINTS {
        return Err(format!("A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {}.", marked.len()));
    }
    let mut after_5m = false;
    for (path, cc) in marked {
        let Some(fields) = cc.as_object() else {
            return Err(format!("{path}.cache_control: Input should be a valid dictionary or object to extract fields from"));
        };
        if cc["type"] != "ephemeral" {
            return Err(format!("{path}.cache_control.type: Input should be 'ephemeral'"));
        }
        if let Some(extra) = fields.keys().find(|k| !["type", "ttl"].contains(&k.as_str())) {
            return Err(format!("{path}.cache_control.ephemeral.{extra}: Extra inputs are not permitted"));
        }
        let long = match fields.get("ttl") {
            None => false,
            Some(t) if t == "5m" => false,
            Some(t) if t == "1h" => true,
            Some(_) => return Err(format!("{path}.cache_control.ephemeral.ttl: Input should be '5m' or '1h'")),
        };
        if long && !ONE_HOUR_CACHE_MODELS.iter().any(|m| model.starts_with(m)) {
            return Err(format!("{path}.cache_control.ephemeral.ttl: Extra inputs are not permitted"));
        }
        if long && after_5m {
            return Err("a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`.".into());
        }
        after_5m |= !long;
    }
    Ok(())
}

/// Anthropic's checks on the messages: known fields only, non-empty text, signed thinking,
/// and every tool_use answered by a tool_result at the start of the next (user) message.
fn check_messages(messages: &[Value]) -> Result<(), String> {
    const FIELDS: &[(&str, &[&str])] = &[
        ("text", &["type", "text", "cache_control", "citations"]),
        ("image", &["type", "source", "cache_control"]),
        ("document", &["type", "source", "title", "context", "citations", "cache_control"]),
        ("tool_use", &["type", "id", "name", "input", "cache_control"]),
        ("tool_result", &["type", "tool_use_id", "content", "is_error", "cache_control"]),
        ("thinking", &["type", "thinking", "signature"]),
        ("redacted_thinking", &["type", "data"]),
    ];
    for (i, m) in messages.iter().enumerate() {
        if let Some(extra) = m.as_object().and_then(|o| o.keys().find(|k| !["role", "content"].contains(&k.as_str()))) {
            return Err(format!("messages.{i}.{extra}: Extra inputs are not permitted"));
        }
        let blocks = m["content"].as_array().cloned().unwrap_or_default();
        for (j, b) in blocks.iter().enumerate() {
            let kind = b["type"].as_str().unwrap_or_default();
            if let Some((_, allowed)) = FIELDS.iter().find(|(t, _)| *t == kind) {
                if let Some(extra) = b.as_object().and_then(|o| o.keys().find(|k| !allowed.contains(&k.as_str()))) {
                    return Err(format!("messages.{i}.content.{j}.{kind}.{extra}: Extra inputs are not permitted"));
                }
            }
            if kind == "text" && b["text"].as_str().is_some_and(str::is_empty) {
                return Err("messages: text content blocks must be non-empty".into());
            }
            if kind == "thinking" && !b["signature"].is_string() {
                return Err(format!("messages.{i}.content.{j}.thinking.signature: Field required"));
            }
        }
        if m["role"] == "user" {
            let first_other = blocks.iter().position(|b| b["type"] != "tool_result").unwrap_or(blocks.len());
            if let Some(late) = blocks.iter().skip(first_other).position(|b| b["type"] == "tool_result") {
                return Err(format!(
                    "messages.{i}.content.{}: `tool_result` blocks must come first in the user message, before any other content",
                    first_other + late
                ));
            }
        }
        let uses: Vec<&str> = blocks.iter().filter(|b| b["type"] == "tool_use").filter_map(|b| b["id"].as_str()).collect();
        if m["role"] == "assistant" && !uses.is_empty() {
            if let Some(next) = messages.get(i + 1) {
                let answered: Vec<&str> = next["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|b| b["type"] == "tool_result")
                    .filter_map(|b| b["tool_use_id"].as_str())
                    .collect();
                let missing: Vec<&str> = uses.iter().copied().filter(|u| !answered.contains(u)).collect();
                if next["role"] != "user" || !missing.is_empty() {
                    let missing = if missing.is_empty() { uses.clone() } else { missing };
                    return Err(format!(
                        "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                        i + 1,
                        missing.join(", ")
                    ));
                }
            }
        }
    }
    // A final assistant message is a prefill, continued word for word: trailing whitespace
    // would make the continuation start mid-gap.
    if let Some(text) = prefill(messages).and_then(|blocks| blocks.last().copied()) {
        if text.ends_with(char::is_whitespace) {
            return Err("messages: final assistant content cannot end with trailing whitespace".into());
        }
    }
    Ok(())
}

/// The text blocks of a final assistant message (a prefill the model continues), if any.
fn prefill(messages: &[Value]) -> Option<Vec<&str>> {
    let last = messages.last().filter(|m| m["role"] == "assistant")?;
    let texts: Vec<&str> = match &last["content"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(blocks) => blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect(),
        _ => vec![],
    };
    (!texts.is_empty()).then_some(texts)
}

/// Anthropic's extended-thinking rules.
fn check_thinking(obj: &serde_json::Map<String, Value>, messages: &[Value]) -> Result<(), String> {
    const DOCS: &str = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking";
    let budget = obj["thinking"]["budget_tokens"].as_u64().unwrap_or(0);
    if budget < 1024 {
        return Err("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into());
    }
    if budget >= obj["max_tokens"].as_u64().unwrap_or(0) {
        return Err(format!("`max_tokens` must be greater than `thinking.budget_tokens`. {DOCS}#max-tokens-and-context-window-size"));
    }
    if obj.get("temperature").and_then(Value::as_f64).is_some_and(|t| t != 1.0) {
        return Err(format!("`temperature` may only be set to 1 when thinking is enabled. {DOCS}#feature-compatibility"));
    }
    if obj.contains_key("top_k") {
        return Err(format!("`top_k` must be unset when thinking is enabled. {DOCS}#feature-compatibility"));
    }
    if obj.get("top_p").and_then(Value::as_f64).is_some_and(|p| p < 0.95) {
        return Err(format!(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. {DOCS}#feature-compatibility"
        ));
    }
    if matches!(obj.get("tool_choice").and_then(|c| c["type"].as_str()), Some("any" | "tool")) {
        return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
    }
    // Inside a tool turn (the last message holds tool results), the assistant message before
    // it must start with thinking.
    if let [.., assistant, last] = messages {
        let in_tool_turn =
            last["role"] == "user" && last["content"].as_array().is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"));
        let first = assistant["content"].as_array().and_then(|c| c.first()).and_then(|b| b["type"].as_str()).unwrap_or("text");
        if in_tool_turn && assistant["role"] == "assistant" && !matches!(first, "thinking" | "redacted_thinking") {
            return Err(thinking_first(messages.len() - 2, first));
        }
    }
    // A prefill: Anthropic wants it to start with thinking, and cannot continue text written
    // for a thinking model.
    if let (Some(last), Some(_)) = (messages.last(), prefill(messages)) {
        let first = last["content"].as_array().and_then(|c| c.first()).and_then(|b| b["type"].as_str()).unwrap_or("text");
        if !matches!(first, "thinking" | "redacted_thinking") {
            return Err(thinking_first(messages.len() - 1, first));
        }
        // The emulator's wording: Anthropic's documentation only says prefill and thinking
        // are incompatible.
        return Err(format!(
            "messages.{}: prefilling the `assistant` response is not supported when `thinking` is enabled. Remove the text of the final `assistant` message or disable `thinking`. {DOCS}#feature-compatibility",
            messages.len() - 1
        ));
    }
    Ok(())
}

/// Anthropic's answer to an assistant message (at `index`) that should start with thinking.
fn thinking_first(index: usize, found: &str) -> String {
    format!(
        "The model returned the following errors: messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block. We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking"
    )
}

/// The emulator's token count of a request body, the one measure behind `usage`, the cache,
/// the context window and CountTokens: the whitespace-separated words of the JSON of `tools`,
/// `system` and `messages` (each when present, without `cache_control`, which is no part of
/// the prompt), plus 3. Deterministic and cheap, so tests can predict every count.
pub fn input_tokens(body: &Value) -> u64 {
    measure(body).total + INPUT_TOKENS_OVERHEAD
}

/// One piece of a prompt in prefix order: a tool definition, a system block, a message's own
/// fields, one of its content blocks.
#[derive(Debug)]
struct Piece<'a> {
    /// Index into [`PROMPT_PARTS`].
    part: usize,
    /// Where it is, as Anthropic's error messages name it (`messages.2.content.1`).
    path: String,
    value: &'a Value,
    /// A key left out: a message's `content`, whose blocks are pieces of their own.
    skip: Option<&'static str>,
    /// A block boundary: where a breakpoint may sit and where cache lookups land.
    block: bool,
}

impl<'a> Piece<'a> {
    /// The `cache_control` of a block that marks a breakpoint.
    fn cache_control(&self) -> Option<&'a Value> {
        self.value.get("cache_control").filter(|_| self.block)
    }
}

/// The prompt cut into [`Piece`]s, in the order Anthropic caches it.
fn pieces(body: &Value) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    for (part, key) in PROMPT_PARTS.into_iter().enumerate() {
        let Some(v) = body.get(key) else {
            continue;
        };
        let piece = |path: String, value, skip, block| Piece { part, path, value, skip, block };
        match v {
            Value::Array(items) if key == "messages" => {
                for (i, m) in items.iter().enumerate() {
                    match &m["content"] {
                        Value::Array(blocks) => {
                            out.push(piece(format!("messages.{i}"), m, Some("content"), false));
                            for (j, b) in blocks.iter().enumerate() {
                                out.push(piece(format!("messages.{i}.content.{j}"), b, None, true));
                            }
                        }
                        _ => out.push(piece(format!("messages.{i}"), m, None, true)),
                    }
                }
            }
            Value::Array(items) => {
                out.extend(items.iter().enumerate().map(|(i, item)| piece(format!("{key}.{i}"), item, None, true)));
            }
            _ => out.push(piece(key.to_string(), v, None, true)),
        }
    }
    out
}

/// A value serialised as `serde_json` does, without `cache_control` anywhere and without the
/// top-level key given: what the model sees of a piece.
struct Canonical<'a>(&'a Value, Option<&'static str>);

impl serde::Serialize for Canonical<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self.0 {
            Value::Object(o) => {
                let mut map = s.serialize_map(None)?;
                for (k, v) in o.iter().filter(|(k, _)| k.as_str() != "cache_control" && Some(k.as_str()) != self.1) {
                    map.serialize_entry(k, &Canonical(v, None))?;
                }
                map.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&Canonical(v, None))?;
                }
                seq.end()
            }
            other => serde::Serialize::serialize(other, s),
        }
    }
}

/// A piece with its canonical JSON and the tokens of the prompt up to and including it.
#[derive(Debug)]
struct MeasuredPiece {
    path: String,
    json: String,
    tokens: u64,
    block: bool,
    /// The TTL of the breakpoint it marks, if it marks one.
    breakpoint: Option<Duration>,
}

/// The prompt measured piece by piece (one pass, so a megabyte prompt costs one serialisation).
#[derive(Debug)]
struct Measured {
    pieces: Vec<MeasuredPiece>,
    /// The words of the prompt: [`input_tokens`] without the overhead.
    total: u64,
}

/// Cuts the prompt into pieces and counts the words of every prefix that ends with one.
fn measure(body: &Value) -> Measured {
    // Compact JSON has whitespace only inside strings, and every string lies within one piece:
    // the words of a part are 1 plus the whitespace runs of its pieces, so the words of any
    // prefix are the parts begun plus the runs so far, and the whole prefix is the total.
    let present: Vec<bool> = PROMPT_PARTS.iter().map(|k| body.get(k).is_some()).collect();
    let begun = |part: usize| present[..=part].iter().filter(|p| **p).count() as u64;
    let mut runs = 0;
    let pieces = pieces(body)
        .into_iter()
        .map(|p| {
            let json = serde_json::to_string(&Canonical(p.value, p.skip)).unwrap_or_default();
            runs += words(&json).saturating_sub(1);
            let breakpoint = p.cache_control().map(|cc| if cc["ttl"] == "1h" { CACHE_TTL_1H } else { CACHE_TTL_5M });
            MeasuredPiece { tokens: begun(p.part) + runs, path: p.path, json, block: p.block, breakpoint }
        })
        .collect();
    Measured { pieces, total: begun(PROMPT_PARTS.len() - 1) + runs }
}

/// The emulator's tokens: whitespace-separated words.
fn words(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Anthropic's prompt cache: prefixes (by model and hash of their canonical JSON) and when
/// each expires.
#[derive(Debug, Default)]
struct PromptCache {
    entries: HashMap<(String, [u8; 32]), CacheEntry>,
}

#[derive(Debug, Clone, Copy)]
struct CacheEntry {
    expires: Instant,
    ttl: Duration,
}

/// The input side of `usage`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct InputUsage {
    /// All input tokens, cached or not.
    total: u64,
    read: u64,
    write_5m: u64,
    write_1h: u64,
}

impl InputUsage {
    /// Anthropic's `usage`: `input_tokens` counts only what was neither read from nor written
    /// to the cache.
    fn json(&self, output_tokens: u64) -> Value {
        let write = self.write_5m + self.write_1h;
        json!({
            "input_tokens": self.total.saturating_sub(self.read + write),
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": write,
            "cache_read_input_tokens": self.read,
            "cache_creation": {"ephemeral_5m_input_tokens": self.write_5m, "ephemeral_1h_input_tokens": self.write_1h},
        })
    }
}

impl PromptCache {
    /// Runs a (checked) request's prompt through the cache at `now`: the longest cached prefix
    /// found from any breakpoint is read, the rest up to the last breakpoint written, and every
    /// breakpoint prefix long enough is kept for its TTL.
    fn admit(&mut self, body: &Value, model_id: &str, now: Instant) -> InputUsage {
        let Measured { pieces, total } = measure(body);
        let mut usage = InputUsage { total: total + INPUT_TOKENS_OVERHEAD, ..InputUsage::default() };
        let breakpoints: Vec<usize> = (0..pieces.len()).filter(|&i| pieces[i].breakpoint.is_some()).collect();
        let Some(&last) = breakpoints.last() else {
            return usage;
        };
        self.entries.retain(|_, e| e.expires > now);
        let model = bare_model(model_id);
        let mut hasher = Sha256::new();
        let keys: Vec<(String, [u8; 32])> = pieces
            .iter()
            .map(|p| {
                for bytes in [p.path.as_bytes(), b"\0", p.json.as_bytes(), b"\0"] {
                    hasher.update(bytes);
                }
                (model.clone(), hasher.clone().finalize().into())
            })
            .collect();
        let hit = breakpoints
            .iter()
            .flat_map(|&b| (0..=b).rev().filter(|&i| pieces[i].block).take(CACHE_LOOKBACK_BLOCKS))
            .filter(|&i| self.entries.contains_key(&keys[i]))
            .max_by_key(|&i| pieces[i].tokens);
        if let Some(i) = hit {
            usage.read = pieces[i].tokens;
            if let Some(e) = self.entries.get_mut(&keys[i]) {
                e.expires = now + e.ttl;
            }
        }
        let min = MIN_CACHEABLE_TOKENS.iter().find(|(m, _)| model.starts_with(m)).map_or(DEFAULT_MIN_CACHEABLE_TOKENS, |(_, n)| *n);
        if !self.entries.contains_key(&keys[last]) && pieces[last].tokens >= min {
            // Each breakpoint's TTL covers the stretch since the one before it.
            let mut done = usage.read;
            for &b in &breakpoints {
                let end = pieces[b].tokens;
                if end > done {
                    if pieces[b].breakpoint == Some(CACHE_TTL_1H) {
                        usage.write_1h += end - done;
                    } else {
                        usage.write_5m += end - done;
                    }
                    done = end;
                }
            }
        }
        for &b in breakpoints.iter().filter(|&&b| pieces[b].tokens >= min) {
            let ttl = pieces[b].breakpoint.unwrap_or(CACHE_TTL_5M);
            let e = self.entries.entry(keys[b].clone()).or_insert(CacheEntry { expires: now, ttl });
            e.ttl = e.ttl.max(ttl);
            e.expires = e.expires.max(now + ttl);
        }
        usage
    }
}

/// The guardrail a request names in its headers.
#[derive(Debug, Clone, PartialEq)]
struct Guardrail {
    identifier: String,
    /// `X-Amzn-Bedrock-Trace` is `ENABLED` or `ENABLED_FULL`.
    trace: bool,
}

/// The guardrail headers, checked as Bedrock checks them: `Ok(None)` without a guardrail.
fn guardrail(headers: &[(String, String)]) -> Result<Option<Guardrail>, String> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let trace = get("x-amzn-bedrock-trace");
    if let Some(t) = trace.filter(|t| !GUARDRAIL_TRACE_VALUES.contains(t)) {
        return Err(format!(
            "1 validation error detected: Value '{t}' at 'trace' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            GUARDRAIL_TRACE_VALUES.join(", ")
        ));
    }
    let Some(identifier) = get("x-amzn-bedrock-guardrailidentifier") else {
        return Ok(None);
    };
    // The emulator's wording: Bedrock's own message for this case is not documented.
    let version = get("x-amzn-bedrock-guardrailversion").ok_or("Guardrail version is required when a guardrail identifier is provided.")?;
    // Bedrock's pattern for a version: DRAFT or 1 to 99999999.
    let numbered = version.len() <= 8 && !version.starts_with('0') && version.bytes().all(|b| b.is_ascii_digit());
    if version != "DRAFT" && !numbered {
        return Err("The guardrail identifier or version provided in the request does not exist.".into());
    }
    Ok(Some(Guardrail { identifier: identifier.to_string(), trace: matches!(trace, Some("ENABLED" | "ENABLED_FULL")) }))
}

/// The text of the user's turns, which is what the guardrail assesses on input: text blocks,
/// string contents and the text of tool results.
fn user_texts(body: &Value) -> Vec<&str> {
    fn texts<'a>(content: &'a Value, out: &mut Vec<&'a str>) {
        match content {
            Value::String(s) => out.push(s),
            Value::Array(blocks) => {
                for b in blocks {
                    match b["type"].as_str() {
                        Some("text") => out.extend(b["text"].as_str()),
                        Some("tool_result") => texts(&b["content"], out),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user") {
        texts(&m["content"], &mut out);
    }
    out
}

/// The answer to a checked call with nothing queued: the guardrail's block if it intervenes,
/// else the emulator's model, through the prompt cache.
fn default_answer(body: &Value, model_id: &str, headers: &[(String, String)], cache: &mut PromptCache, n: u64, now: Instant) -> Value {
    let Ok(Some(guardrail)) = guardrail(headers) else {
        return default_message(body, model_id, n, cache.admit(body, model_id, now));
    };
    let texts = user_texts(body);
    let blocked = texts.iter().any(|t| t.to_lowercase().contains(GUARDRAIL_DENIED_TOPIC));
    let mut message = if blocked {
        // The model is not called: no tokens, no cache.
        json!({
            "id": format!("msg_bdrk_emulator{n:06}"),
            "type": "message",
            "role": "assistant",
            "model": bare_model(model_id),
            "content": [{"type": "text", "text": GUARDRAIL_BLOCKED_MESSAGE}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": InputUsage::default().json(0),
        })
    } else {
        default_message(body, model_id, n, cache.admit(body, model_id, now))
    };
    message["amazon-bedrock-guardrailAction"] = json!(if blocked { "INTERVENED" } else { "NONE" });
    if guardrail.trace {
        let characters = texts.iter().map(|t| t.chars().count() as u64).sum::<u64>();
        let topics = match blocked {
            true => json!([{"name": "Emulator denied topic", "type": "DENY", "action": "BLOCKED", "detected": true}]),
            false => json!([]),
        };
        let assessment = json!({
            "topicPolicy": {"topics": topics},
            "invocationMetrics": {
                "guardrailProcessingLatency": 12,
                // Guardrails bill a text unit per 1000 characters.
                "usage": {"topicPolicyUnits": characters.div_ceil(1000).max(1)},
                "guardrailCoverage": {"textCharacters": {"guarded": characters, "total": characters}},
            },
        });
        let input = Map::from_iter([(guardrail.identifier, assessment)]);
        message["amazon-bedrock-trace"] = json!({"guardrail": {"input": input}});
    }
    message
}

/// The emulator's model answering: a short text that shows which prompt it saw (or a count,
/// when asked to count), continuing a prefill, cut at `max_tokens`.
fn default_message(body: &Value, model_id: &str, n: u64, input: InputUsage) -> Value {
    let full = model_text(body);
    let max_tokens = body["max_tokens"].as_u64().unwrap_or(u64::MAX);
    let (text, output_tokens, stop_reason) = match words(&full) {
        w if w > max_tokens => {
            // Kept as the model would have written it: a continuation starts with its space.
            let lead = if full.starts_with(char::is_whitespace) { " " } else { "" };
            let kept = full.split_whitespace().take(max_tokens as usize).collect::<Vec<_>>().join(" ");
            (format!("{lead}{kept}"), max_tokens, "max_tokens")
        }
        w => (full, w, "end_turn"),
    };
    let content = if text.trim().is_empty() { json!([]) } else { json!([{"type": "text", "text": text}]) };
    json!({
        "id": format!("msg_bdrk_emulator{n:06}"),
        "type": "message",
        "role": "assistant",
        "model": bare_model(model_id),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": input.json(output_tokens),
    })
}

/// What the emulator's model writes, before `max_tokens`: the greeting that echoes the last
/// user text, or "1 2 … N" for "count from 1 to N"; after a prefill, only its continuation.
fn model_text(body: &Value) -> String {
    let messages = body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let last_user_text = messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" "),
            _ => String::new(),
        })
        .unwrap_or_default();
    let prefill = prefill(messages).map(|texts| texts.concat());
    let Some(to) = count_to(&last_user_text) else {
        let full = format!("Hello from the local Bedrock emulator! You said: {last_user_text}");
        return continuation(full, prefill.as_deref());
    };
    // A prefill that stops at a number k is continued from k+1, right after it.
    let from = prefill.as_deref().and_then(|p| p.split_whitespace().last()).and_then(|w| w.parse::<u64>().ok());
    match from {
        Some(k) => (k.saturating_add(1)..=to).map(|i| format!(" {i}")).collect(),
        None => continuation((1..=to).map(|i| i.to_string()).collect::<Vec<_>>().join(" "), prefill.as_deref()),
    }
}

/// The rest of `full` after a prefill it starts with; all of it when it does not.
fn continuation(full: String, prefill: Option<&str>) -> String {
    match prefill.and_then(|p| full.strip_prefix(p)) {
        Some(rest) => rest.to_string(),
        None => full,
    }
}

/// N, when the text asks to "count from 1 to N" (any case) with 1 ≤ N ≤ [`MAX_COUNT_TO`].
fn count_to(text: &str) -> Option<u64> {
    let lower = text.to_lowercase();
    let (_, rest) = lower.split_once("count from 1 to ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|n| (1..=MAX_COUNT_TO).contains(n))
}

/// CountTokens (`POST /model/{id}/count-tokens`): the [`input_tokens`] of the InvokeModel
/// body it carries, checked as InvokeModel would check it; no cache, no model call.
fn count_tokens(model_id: &str, raw: &[u8]) -> Result<u64, String> {
    // Counting is served per foundation model, by its bare id (or ARN); not per profile.
    let unsupported = || "The provided model doesn't support counting tokens.".to_string();
    let model = match model_id.strip_prefix("arn:") {
        Some(arn) => arn.split_once(":foundation-model/").map(|(_, m)| m).ok_or_else(unsupported)?,
        None => model_id,
    };
    if !model.starts_with("anthropic.") || !PROFILES.iter().any(|(m, _)| *m == without_version(model)) {
        return Err(unsupported());
    }
    let request: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let null_at =
        |field: &str| format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null");
    let input = request.get("input").filter(|i| !i.is_null()).ok_or_else(|| null_at("input"))?;
    let encoded = input["invokeModel"]["body"].as_str().ok_or_else(|| null_at("input.invokeModel.body"))?;
    // The emulator's wording for the two below, in the style of Bedrock's malformed-body errors.
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
        "Malformed input request: input.invokeModel.body is not valid base64, please reformat your input and try again.".to_string()
    })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        "Malformed input request: input.invokeModel.body is not valid JSON, please reformat your input and try again.".to_string()
    })?;
    check_body(&body, model)?;
    Ok(input_tokens(&body))
}

/// `claude-sonnet-4-5-20250929` from `us.anthropic.claude-sonnet-4-5-20250929-v1:0`.
fn bare_model(model_id: &str) -> String {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let after_vendor = tail.split_once("anthropic.").map(|(_, r)| r).unwrap_or(tail);
    after_vendor.split("-v").next().unwrap_or(after_vendor).to_string()
}

/// Anthropic streaming events for a complete message, as Bedrock sends them. Bedrock's own
/// top-level fields (`amazon-bedrock-guardrailAction`, `amazon-bedrock-trace`, …) go into the
/// last event, where Bedrock puts its invocation metrics.
pub fn stream_events(message: &Value) -> Vec<Value> {
    let mut start = message.clone();
    let bedrock_fields: Vec<(String, Value)> = match start.as_object_mut() {
        Some(fields) => {
            let keys: Vec<String> = fields.keys().filter(|k| k.starts_with("amazon-bedrock-")).cloned().collect();
            keys.into_iter().filter_map(|k| fields.remove(&k).map(|v| (k, v))).collect()
        }
        None => vec![],
    };
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let input_tokens = message["usage"]["input_tokens"].as_u64().unwrap_or(0);
    // message_start carries the input side of usage (cache counts included), as Bedrock's does.
    let mut usage = message["usage"].as_object().cloned().unwrap_or_default();
    usage.insert("input_tokens".into(), json!(input_tokens));
    usage.insert("output_tokens".into(), json!(1));
    start["usage"] = Value::Object(usage);
    let mut events = vec![json!({"type": "message_start", "message": start})];
    for (index, block) in message["content"].as_array().into_iter().flatten().enumerate() {
        let (empty, delta) = match block["type"].as_str() {
            Some("text") => (json!({"type": "text", "text": ""}), Some(json!({"type": "text_delta", "text": block["text"]}))),
            Some("tool_use") => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                Some(json!({"type": "input_json_delta", "partial_json": block["input"].to_string()})),
            ),
            Some("thinking") => {
                (json!({"type": "thinking", "thinking": ""}), Some(json!({"type": "thinking_delta", "thinking": block["thinking"]})))
            }
            _ => (block.clone(), None),
        };
        events.push(json!({"type": "content_block_start", "index": index, "content_block": empty}));
        if let Some(delta) = delta {
            events.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
        }
        if let Some(sig) = block.get("signature") {
            events.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": sig}}));
        }
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}, "usage": {"output_tokens": message["usage"]["output_tokens"]}}));
    let mut stop = json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": input_tokens, "outputTokenCount": message["usage"]["output_tokens"], "invocationLatency": 100, "firstByteLatency": 50
    }});
    if let Some(stop) = stop.as_object_mut() {
        stop.extend(bedrock_fields);
    }
    events.push(stop);
    events
}

/// Headers of an InvokeModelWithResponseStream answer.
fn stream_headers() -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/vnd.amazon.eventstream".into()),
        ("X-Amzn-Bedrock-Content-Type".into(), "application/json".into()),
    ]
}

fn frame(headers: &[(&str, &str)], payload: Vec<u8>) -> Vec<u8> {
    let mut message = Message::new(payload);
    for (k, v) in headers {
        message = message.add_header(Header::new(k.to_string(), HeaderValue::String(v.to_string().into())));
    }
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// One `chunk` frame carrying an Anthropic event, as Bedrock frames it.
pub fn chunk_frame(event: &Value) -> Vec<u8> {
    let payload = json!({"bytes": base64::engine::general_purpose::STANDARD.encode(event.to_string()), "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"});
    frame(&[(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")], payload.to_string().into_bytes())
}

/// One exception frame (`throttlingException`, `modelStreamErrorException`, …).
pub fn exception_frame(kind: &str, message: &str) -> Vec<u8> {
    frame(
        &[(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")],
        json!({ "message": message }).to_string().into_bytes(),
    )
}

/// An event-stream body of `chunk` frames, one per Anthropic event.
fn stream_answer(message: &Value) -> Scripted {
    Scripted::event_stream(&stream_events(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_dates_parse() {
        assert_eq!(
            parse_path("/model/us.anthropic.claude-x-v1%3A0/invoke"),
            (Some("us.anthropic.claude-x-v1:0".into()), Some("invoke".into()))
        );
        assert_eq!(parse_path("/model/anthropic.claude-x-v1%3A0/count-tokens").1.as_deref(), Some("count-tokens"));
        assert_eq!(parse_path("/model/anthropic.claude-x-v1%3A0/converse"), (None, None));
        assert_eq!(parse_path("/foo"), (None, None));
        let t = parse_amz_date("20250929T120000Z").unwrap();
        assert_eq!(t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs(), 1_759_147_200);
        assert_eq!(bare_model("us.anthropic.claude-sonnet-4-5-20250929-v1:0"), "claude-sonnet-4-5-20250929");
    }

    #[test]
    fn bodies_are_checked_with_bedrocks_messages() {
        let ok = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": []});
        let m = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(check_body(&ok, m), Ok(()));
        let mut with_stream = ok.clone();
        with_stream["stream"] = json!(true);
        assert_eq!(
            check_body(&with_stream, m).unwrap_err(),
            "Malformed input request: #: extraneous key [stream] is not permitted, please reformat your input and try again."
        );
        let mut with_model = ok.clone();
        with_model["model"] = json!("claude");
        assert!(check_body(&with_model, m).unwrap_err().contains("extraneous key [model]"));
        let no_version = json!({"max_tokens": 10, "messages": []});
        assert!(check_body(&no_version, m).unwrap_err().contains("required key [anthropic_version] not found"));
        let no_max = json!({"anthropic_version": "bedrock-2023-05-31", "messages": []});
        assert!(check_body(&no_max, m).unwrap_err().contains("required key [max_tokens] not found"));
    }

    #[test]
    fn bedrocks_model_rules_are_enforced_with_its_messages() {
        let base = |extra: Value| {
            let mut b =
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000, "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let pair = base(json!({"temperature": 0.5, "top_p": 0.9}));
        for model in [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
        ] {
            assert_eq!(
                check_body(&pair, model).unwrap_err(),
                "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
            );
        }
        assert_eq!(check_body(&pair, "us.anthropic.claude-sonnet-4-20250514-v1:0"), Ok(()));
        let m = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let thinking = |budget: u64, extra: Value| {
            let mut b = base(extra);
            b["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
            b
        };
        assert!(check_body(&thinking(512, json!({})), m).unwrap_err().contains("greater than or equal to 1024"));
        assert!(check_body(&thinking(2000, json!({})), m)
            .unwrap_err()
            .starts_with("`max_tokens` must be greater than `thinking.budget_tokens`"));
        assert!(check_body(&thinking(1024, json!({"temperature": 0.5})), m).unwrap_err().starts_with("`temperature` may only be set to 1"));
        assert!(check_body(&thinking(1024, json!({"top_k": 5})), m).unwrap_err().starts_with("`top_k` must be unset"));
        assert_eq!(check_body(&thinking(1024, json!({"temperature": 1.0})), m), Ok(()));
        let tool_turn = json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}
        ]);
        let e = check_body(&thinking(1024, json!({"messages": tool_turn})), m).unwrap_err();
        assert!(e.contains("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`"), "{e}");
        assert_eq!(check_body(&base(json!({"messages": tool_turn})), m), Ok(()), "without thinking the turn is fine");
        let unsigned = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}]}, {"role": "user", "content": "more"}]);
        assert_eq!(
            check_body(&base(json!({"messages": unsigned})), m).unwrap_err(),
            "messages.1.content.0.thinking.signature: Field required"
        );
        let unanswered = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}, {"role": "user", "content": "go on"}]);
        assert!(check_body(&base(json!({"messages": unanswered})), m)
            .unwrap_err()
            .starts_with("messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: t1."));
        let late = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}, {"role": "user", "content": [{"type": "text", "text": "hm"}, {"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}]);
        assert!(check_body(&base(json!({"messages": late})), m).unwrap_err().contains("must come first"));
        let extra = json!([{"role": "user", "content": [{"type": "text", "text": "q", "visibility": "internal"}]}]);
        assert_eq!(
            check_body(&base(json!({"messages": extra})), m).unwrap_err(),
            "messages.0.content.0.text.visibility: Extra inputs are not permitted"
        );
    }

    #[test]
    fn model_ids_follow_bedrocks_profiles() {
        let signed_in = |region: &str| {
            vec![(
                "authorization".to_string(),
                format!("AWS4-HMAC-SHA256 Credential=AKID/20250929/{region}/bedrock/aws4_request, SignedHeaders=host, Signature=x"),
            )]
        };
        let us = signed_in("us-east-1");
        assert_eq!(check_model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0", &us), None);
        assert_eq!(check_model_id("global.anthropic.claude-sonnet-4-5-20250929-v1:0", &us), None);
        let (_, _, m) = check_model_id("anthropic.claude-sonnet-4-5-20250929-v1:0", &us).unwrap();
        assert!(m.contains("with on-demand throughput isn\u{2019}t supported"), "{m}");
        let ap = signed_in("ap-southeast-1");
        assert_eq!(
            check_model_id("apac.anthropic.claude-sonnet-4-5-20250929-v1:0", &ap).unwrap().2,
            "The provided model identifier is invalid."
        );
        assert_eq!(check_model_id("apac.anthropic.claude-sonnet-4-20250514-v1:0", &ap), None);
        assert!(check_model_id("eu.anthropic.claude-sonnet-4-20250514-v1:0", &us).is_some(), "a geography's profile from outside it");
    }

    #[test]
    fn stream_frames_decode_back_to_the_message_events() {
        let message = json!({"content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 1}});
        let body = stream_answer(&message).body;
        let mut buf = &body[..];
        let mut types = Vec::new();
        while !buf.is_empty() {
            let m = aws_smithy_eventstream::frame::read_message_from(&mut buf).unwrap();
            let payload: Value = serde_json::from_slice(m.payload()).unwrap();
            let event: Value =
                serde_json::from_slice(&base64::engine::general_purpose::STANDARD.decode(payload["bytes"].as_str().unwrap()).unwrap())
                    .unwrap();
            types.push(event["type"].as_str().unwrap().to_string());
        }
        assert_eq!(
            types,
            ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"]
        );
    }

    /// A request body for `model` with these messages and extra fields.
    fn request(messages: Value, extra: Value) -> Value {
        let mut b = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8192, "messages": messages});
        for (k, v) in extra.as_object().into_iter().flatten() {
            b[k] = v.clone();
        }
        b
    }

    /// `n` words of text.
    fn text_of(n: usize) -> String {
        vec!["lorem"; n].join(" ")
    }

    const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
    const SONNET_4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
    const HAIKU_45: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

    #[test]
    fn input_tokens_are_the_words_of_tools_system_and_messages_plus_3() {
        let messages = json!([{"role": "user", "content": "Hello there, emulator"}]);
        let plain = request(messages.clone(), json!({}));
        let words_of = |v: &Value| v.to_string().split_whitespace().count() as u64;
        assert_eq!(input_tokens(&plain), words_of(&messages) + 3, "the count the emulator always gave");
        let tools = json!([{"name": "weather", "description": "The weather in a city", "input_schema": {"type": "object"}}]);
        let system = json!([{"type": "text", "text": "Be brief and kind."}]);
        let full = request(messages.clone(), json!({"tools": tools, "system": system}));
        assert_eq!(input_tokens(&full), words_of(&tools) + words_of(&system) + words_of(&messages) + 3);
        let mut marked = full.clone();
        marked["tools"][0]["cache_control"] = json!({"type": "ephemeral", "ttl": "odd value"});
        marked["system"][0]["cache_control"] = json!({"type": "ephemeral"});
        assert_eq!(input_tokens(&marked), input_tokens(&full), "cache_control is no part of the prompt");
        let m = measure(&marked);
        assert_eq!(m.pieces.last().unwrap().tokens + 3, input_tokens(&full), "the whole prompt's prefix is all of it");
        assert_eq!(m.pieces[0].tokens, words_of(&tools), "a prefix ending with the tools is their words");
    }

    #[test]
    fn a_cached_prefix_is_written_once_then_read_until_it_expires() {
        let body = request(
            json!([{"role": "user", "content": "Hi"}]),
            json!({"system": [{"type": "text", "text": text_of(1100), "cache_control": {"type": "ephemeral"}}]}),
        );
        let (mut cache, t0) = (PromptCache::default(), Instant::now());
        let first = cache.admit(&body, SONNET_45, t0);
        assert_eq!(first, InputUsage { total: 1104, read: 0, write_5m: 1100, write_1h: 0 });
        assert_eq!(
            first.json(7),
            json!({"input_tokens": 4, "output_tokens": 7, "cache_creation_input_tokens": 1100, "cache_read_input_tokens": 0,
                   "cache_creation": {"ephemeral_5m_input_tokens": 1100, "ephemeral_1h_input_tokens": 0}})
        );
        let hit = InputUsage { total: 1104, read: 1100, write_5m: 0, write_1h: 0 };
        assert_eq!(cache.admit(&body, SONNET_45, t0 + Duration::from_secs(240)), hit);
        assert_eq!(cache.admit(&body, SONNET_45, t0 + Duration::from_secs(480)), hit, "the hit at 4 minutes refreshed it");
        assert_eq!(cache.admit(&body, SONNET_4, t0), first, "each model has its own cache");
        assert_eq!(cache.admit(&body, SONNET_45, t0 + Duration::from_secs(480 + 301)), first, "expired: written again");

        let mut long = body.clone();
        long["system"][0]["cache_control"]["ttl"] = json!("1h");
        let mut cache = PromptCache::default();
        assert_eq!(cache.admit(&long, SONNET_45, t0), InputUsage { total: 1104, read: 0, write_5m: 0, write_1h: 1100 });
        assert_eq!(cache.admit(&long, SONNET_45, t0 + Duration::from_secs(3000)).read, 1100);

        let mut cache = PromptCache::default();
        let too_short = InputUsage { total: 1104, ..InputUsage::default() };
        assert_eq!(cache.admit(&body, HAIKU_45, t0), too_short, "Haiku 4.5 caches 4096 tokens or more");
        assert_eq!(cache.admit(&body, HAIKU_45, t0), too_short);
        let no_marks = request(json!([{"role": "user", "content": text_of(2000)}]), json!({}));
        assert_eq!(cache.admit(&no_marks, SONNET_45, t0), InputUsage { total: 2003, ..InputUsage::default() });
    }

    #[test]
    fn a_breakpoint_moved_forward_reads_the_previous_turns_prefix_and_writes_the_rest() {
        let long = json!({"type": "text", "text": text_of(1100)});
        let mut marked = long.clone();
        marked["cache_control"] = json!({"type": "ephemeral"});
        let turn1 = request(json!([{"role": "user", "content": [marked]}]), json!({}));
        let turn2 = request(
            json!([
                {"role": "user", "content": [long]},
                {"role": "assistant", "content": "Sure thing"},
                {"role": "user", "content": [{"type": "text", "text": "tell me more", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}
            ]),
            json!({"system": [{"type": "text", "text": "unmarked", "cache_control": {"type": "ephemeral"}}]}),
        );
        let (mut cache, t0) = (PromptCache::default(), Instant::now());
        assert_eq!(cache.admit(&turn1, SONNET_45, t0).write_5m, 1100);
        // turn2 has a system part: its prefixes differ from turn1's, so it starts cold.
        assert_eq!(cache.admit(&turn2, SONNET_45, t0).read, 0);
        let mut turn2 = turn2;
        turn2.as_object_mut().unwrap().remove("system");
        let mut cache = PromptCache::default();
        cache.admit(&turn1, SONNET_45, t0);
        let u = cache.admit(&turn2, SONNET_45, t0);
        // 1100 read; "Sure thing" and "tell me more" add 1 + 2 words.
        assert_eq!(u, InputUsage { total: 1106, read: 1100, write_5m: 0, write_1h: 3 });
        assert_eq!(cache.admit(&turn2, SONNET_45, t0).read, 1103);
    }

    #[test]
    fn cache_control_follows_anthropics_rules_with_its_messages() {
        let mark = |ttl: Option<&str>| match ttl {
            Some(t) => json!({"type": "ephemeral", "ttl": t}),
            None => json!({"type": "ephemeral"}),
        };
        let text = |cc: Value| json!({"type": "text", "text": "x", "cache_control": cc});
        let five = request(json!([{"role": "user", "content": [text(mark(None)), text(mark(None)), text(mark(None))]}]), json!({}));
        assert_eq!(check_body(&five, SONNET_45), Ok(()));
        let mut six = five.clone();
        six["system"] = json!([text(mark(None)), text(mark(None))]);
        assert_eq!(check_body(&six, SONNET_45).unwrap_err(), "A maximum of 4 blocks with cache_control may be provided. Found 5.");
        let bad_ttl = request(json!([{"role": "user", "content": [text(json!(1)), text(mark(Some("2h")))]}]), json!({}));
        assert_eq!(
            check_body(&bad_ttl, SONNET_45).unwrap_err(),
            "messages.0.content.0.cache_control: Input should be a valid dictionary or object to extract fields from"
        );
        let bad_ttl = request(json!([{"role": "user", "content": [text(mark(None)), text(mark(Some("2h")))]}]), json!({}));
        assert_eq!(
            check_body(&bad_ttl, SONNET_45).unwrap_err(),
            "messages.0.content.1.cache_control.ephemeral.ttl: Input should be '5m' or '1h'"
        );
        let tools =
            json!({"tools": [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}, "cache_control": mark(Some("1h"))}]});
        let hour = request(json!([{"role": "user", "content": "x"}]), tools);
        assert_eq!(check_body(&hour, SONNET_45), Ok(()));
        assert_eq!(check_body(&hour, HAIKU_45), Ok(()));
        assert_eq!(check_body(&hour, SONNET_4).unwrap_err(), "tools.1.cache_control.ephemeral.ttl: Extra inputs are not permitted");
        let mut late = hour.clone();
        late["system"] = json!([text(mark(Some("1h"))), {"type": "text", "text": "y", "cache_control": mark(Some("5m"))}]);
        assert_eq!(check_body(&late, SONNET_45), Ok(()), "1h in tools, then 1h and 5m in system");
        late["tools"][1]["cache_control"] = mark(None);
        assert_eq!(
            check_body(&late, SONNET_45).unwrap_err(),
            "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`."
        );
        let mut typed = hour.clone();
        typed["tools"][1]["cache_control"] = json!({"type": "persistent"});
        assert_eq!(check_body(&typed, SONNET_45).unwrap_err(), "tools.1.cache_control.type: Input should be 'ephemeral'");
    }

    /// Headers as a request carries them (names lower-cased).
    fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn guardrail_headers_are_checked_as_bedrock_checks_them() {
        let id = "x-amzn-bedrock-guardrailidentifier";
        let version = "x-amzn-bedrock-guardrailversion";
        assert_eq!(guardrail(&headers(&[])), Ok(None));
        assert_eq!(guardrail(&headers(&[(id, "gr1"), (version, "DRAFT")])), Ok(Some(Guardrail { identifier: "gr1".into(), trace: false })));
        assert!(guardrail(&headers(&[(id, "gr1"), (version, "12"), ("x-amzn-bedrock-trace", "ENABLED_FULL")])).unwrap().unwrap().trace);
        assert_eq!(
            guardrail(&headers(&[(id, "gr1")])).unwrap_err(),
            "Guardrail version is required when a guardrail identifier is provided."
        );
        for bad in ["0", "draft", "1.0", "-3", "123456789"] {
            assert_eq!(
                guardrail(&headers(&[(id, "gr1"), (version, bad)])).unwrap_err(),
                "The guardrail identifier or version provided in the request does not exist.",
                "{bad}"
            );
        }
        assert_eq!(
            guardrail(&headers(&[(id, "gr1"), (version, "1"), ("x-amzn-bedrock-trace", "on")])).unwrap_err(),
            "1 validation error detected: Value 'on' at 'trace' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_FULL]"
        );
        let h = headers(&[(id, "gr1")]);
        assert_eq!(check_invoke(SONNET_45, &h, &request(json!([]), json!({}))).unwrap().1, "ValidationException");
    }

    #[test]
    fn a_guardrail_blocks_the_denied_topic_and_reports_what_it_did() {
        let g = |trace: &str| {
            headers(&[
                ("x-amzn-bedrock-guardrailidentifier", "gr-emu"),
                ("x-amzn-bedrock-guardrailversion", "1"),
                ("x-amzn-bedrock-trace", trace),
            ])
        };
        let asking = request(
            json!([{"role": "user", "content": [{"type": "text", "text": "Tell me about EMULATOR-DENIED-TOPIC please"}]}]),
            json!({}),
        );
        let mut cache = PromptCache::default();
        let blocked = default_answer(&asking, SONNET_45, &g("ENABLED"), &mut cache, 7, Instant::now());
        let text_len = "Tell me about EMULATOR-DENIED-TOPIC please".len();
        assert_eq!(
            blocked,
            json!({
                "id": "msg_bdrk_emulator000007", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
                "content": [{"type": "text", "text": GUARDRAIL_BLOCKED_MESSAGE}], "stop_reason": "end_turn", "stop_sequence": null,
                "usage": {"input_tokens": 0, "output_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                          "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}},
                "amazon-bedrock-guardrailAction": "INTERVENED",
                "amazon-bedrock-trace": {"guardrail": {"input": {"gr-emu": {
                    "topicPolicy": {"topics": [{"name": "Emulator denied topic", "type": "DENY", "action": "BLOCKED", "detected": true}]},
                    "invocationMetrics": {"guardrailProcessingLatency": 12, "usage": {"topicPolicyUnits": 1},
                                          "guardrailCoverage": {"textCharacters": {"guarded": text_len, "total": text_len}}}}}}},
            })
        );
        let quiet = default_answer(&asking, SONNET_45, &g("DISABLED"), &mut cache, 7, Instant::now());
        assert_eq!(quiet["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert!(quiet.get("amazon-bedrock-trace").is_none());

        let fine = request(json!([{"role": "user", "content": "What is the weather?"}]), json!({}));
        let passed = default_answer(&fine, SONNET_45, &g("ENABLED_FULL"), &mut cache, 8, Instant::now());
        assert_eq!(passed["content"][0]["text"], "Hello from the local Bedrock emulator! You said: What is the weather?");
        assert_eq!(passed["amazon-bedrock-guardrailAction"], "NONE");
        assert_eq!(passed["amazon-bedrock-trace"]["guardrail"]["input"]["gr-emu"]["topicPolicy"], json!({"topics": []}));
        let plain = default_answer(&fine, SONNET_45, &[], &mut cache, 8, Instant::now());
        assert!(plain.get("amazon-bedrock-guardrailAction").is_none(), "no guardrail, no guardrail fields");

        let events = stream_events(&blocked);
        let (first, last) = (events.first().unwrap(), events.last().unwrap());
        assert!(first["message"].get("amazon-bedrock-guardrailAction").is_none());
        assert_eq!(first["message"]["usage"]["cache_read_input_tokens"], 0, "message_start carries the cache fields");
        assert_eq!(last["type"], "message_stop");
        assert_eq!(last["amazon-bedrock-guardrailAction"], "INTERVENED");
        assert_eq!(last["amazon-bedrock-trace"], blocked["amazon-bedrock-trace"]);
        assert!(last.get("amazon-bedrock-invocationMetrics").is_some());
    }

    /// A CountTokens request body carrying `body`.
    fn count_request(body: &Value) -> Vec<u8> {
        let encoded = base64::engine::general_purpose::STANDARD.encode(body.to_string());
        json!({"input": {"invokeModel": {"body": encoded}}}).to_string().into_bytes()
    }

    #[test]
    fn count_tokens_counts_a_checked_body_for_a_foundation_model() {
        let body = request(json!([{"role": "user", "content": "count my words please"}]), json!({"system": "Be brief."}));
        let model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(count_tokens(model, &count_request(&body)), Ok(input_tokens(&body)));
        assert_eq!(
            count_tokens("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0", &count_request(&body)),
            Ok(input_tokens(&body))
        );
        for refused in [
            SONNET_45,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-v9",
            "meta.llama3-8b-instruct-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            assert_eq!(
                count_tokens(refused, &count_request(&body)).unwrap_err(),
                "The provided model doesn't support counting tokens.",
                "{refused}"
            );
        }
        assert_eq!(
            count_tokens(model, b"{}").unwrap_err(),
            "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            count_tokens(model, br#"{"input": {"invokeModel": {}}}"#).unwrap_err(),
            "1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null"
        );
        assert!(count_tokens(model, br#"{"input": {"invokeModel": {"body": "%%%"}}}"#).unwrap_err().contains("not valid base64"));
        assert!(count_tokens(model, br#"{"input": {"invokeModel": {"body": "bm90IGpzb24="}}}"#).unwrap_err().contains("not valid JSON"));
        let mut streaming = body.clone();
        streaming["stream"] = json!(true);
        assert!(count_tokens(model, &count_request(&streaming)).unwrap_err().contains("extraneous key [stream]"));
        let huge = request(json!([{"role": "user", "content": text_of(250_000)}]), json!({}));
        assert_eq!(count_tokens(model, &count_request(&huge)), Ok(250_003), "counting has no context limit");
    }

    #[test]
    fn default_answers_stop_at_max_tokens_and_continue_a_prefill() {
        let ask = |text: &str, max: u64, prefill: Option<&str>| {
            let mut messages = vec![json!({"role": "user", "content": text})];
            messages.extend(prefill.map(|p| json!({"role": "assistant", "content": [{"type": "text", "text": p}]})));
            let body = request(Value::Array(messages), json!({"max_tokens": max}));
            assert_eq!(check_body(&body, SONNET_45), Ok(()));
            let m = default_message(&body, SONNET_45, 1, InputUsage::default());
            (
                m["content"][0]["text"].as_str().unwrap_or("<none>").to_string(),
                m["stop_reason"].clone(),
                m["usage"]["output_tokens"].clone(),
            )
        };
        assert_eq!(ask("Please Count From 1 To 10.", 100, None), ("1 2 3 4 5 6 7 8 9 10".into(), json!("end_turn"), json!(10)));
        assert_eq!(ask("count from 1 to 10", 4, None), ("1 2 3 4".into(), json!("max_tokens"), json!(4)));
        assert_eq!(ask("count from 1 to 10", 100, Some("1 2 3 4")), (" 5 6 7 8 9 10".into(), json!("end_turn"), json!(6)));
        assert_eq!(ask("count from 1 to 10", 2, Some("Sure: 1 2 3 4")), (" 5 6".into(), json!("max_tokens"), json!(2)));
        assert_eq!(ask("count from 1 to 10", 100, Some("1 2 3 4 5 6 7 8 9 10")), ("<none>".into(), json!("end_turn"), json!(0)));
        assert_eq!(ask("count from 1 to 100001", 100, None).0, "Hello from the local Bedrock emulator! You said: count from 1 to 100001");
        let (long, stop, out) = ask("count from 1 to 100000", 64_000, None);
        assert_eq!((long.split(' ').count(), stop, out), (64_000, json!("max_tokens"), json!(64_000)));
        assert_eq!(ask("hi", 100, None), ("Hello from the local Bedrock emulator! You said: hi".into(), json!("end_turn"), json!(9)));
        assert_eq!(ask("hi", 3, None), ("Hello from the".into(), json!("max_tokens"), json!(3)));
        assert_eq!(ask("hi", 100, Some("Hello from")), (" the local Bedrock emulator! You said: hi".into(), json!("end_turn"), json!(7)));
        assert_eq!(ask("hi", 100, Some("Bonjour")).0, "Hello from the local Bedrock emulator! You said: hi");

        let trailing = request(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "1 2 "}]), json!({}));
        assert_eq!(check_body(&trailing, SONNET_45).unwrap_err(), "messages: final assistant content cannot end with trailing whitespace");
        let thinking = json!({"thinking": {"type": "enabled", "budget_tokens": 1024}, "max_tokens": 2000});
        let prefilled = request(json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "1 2"}]), thinking.clone());
        assert!(check_body(&prefilled, SONNET_45)
            .unwrap_err()
            .contains("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `text`"));
        let after_thinking = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"}, {"type": "text", "text": "1 2"}]}]);
        assert!(check_body(&request(after_thinking, thinking), SONNET_45)
            .unwrap_err()
            .starts_with("messages.1: prefilling the `assistant` response is not supported when `thinking` is enabled"));
    }

    #[test]
    fn betas_and_the_context_window_follow_bedrock() {
        let with_betas = |betas: Value| request(json!([{"role": "user", "content": "x"}]), json!({"anthropic_beta": betas}));
        assert_eq!(check_body(&with_betas(json!(["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"])), SONNET_45), Ok(()));
        assert_eq!(check_body(&with_betas(json!(["context-1m-2025-08-07"])), SONNET_4), Ok(()));
        for (betas, model) in
            [(json!(["context-1m-2025-08-07"]), HAIKU_45), (json!(["made-up-2099-01-01"]), SONNET_45), (json!([7]), SONNET_45)]
        {
            assert_eq!(check_body(&with_betas(betas), model).unwrap_err(), "invalid beta flag");
        }
        assert!(check_body(&with_betas(json!("context-1m-2025-08-07")), SONNET_45)
            .unwrap_err()
            .contains("expected type: JSONArray, found: String"));

        // About 2 MB: every step on the way must stay linear.
        let started = std::time::Instant::now();
        let huge = request(json!([{"role": "user", "content": vec!["lorem1234"; 250_000].join(" ")}]), json!({}));
        assert_eq!(check_invoke(SONNET_45, &[], &huge).unwrap().2, "prompt is too long: 250003 tokens > 200000 maximum");
        let mut one_m = huge.clone();
        one_m["anthropic_beta"] = json!(["context-1m-2025-08-07"]);
        one_m["system"] = json!([{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]);
        one_m["messages"][0]["content"] =
            json!([{"type": "text", "text": huge["messages"][0]["content"], "cache_control": {"type": "ephemeral"}}]);
        assert_eq!(check_invoke(SONNET_45, &[], &one_m), None);
        let answer = default_answer(&one_m, SONNET_45, &[], &mut PromptCache::default(), 1, Instant::now());
        assert_eq!(answer["usage"]["cache_creation_input_tokens"], 250_003 + 2 - 3);
        assert_eq!(answer["stop_reason"], "max_tokens");
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
        let mut too_big = one_m.clone();
        too_big["messages"][0]["content"][0]["text"] = json!(vec!["w"; 1_000_001].join(" "));
        assert_eq!(check_invoke(SONNET_45, &[], &too_big).unwrap().2, "prompt is too long: 1000006 tokens > 1000000 maximum");
    }

    /// Sends a request signed with the emulator's key and returns the status and JSON body.
    async fn send(emu: &Emulator, path: &str, body: &[u8], extra: &[(&str, &str)]) -> (u16, Value) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut headers = vec![("content-type", "application/json")];
        headers.extend_from_slice(extra);
        let url = format!("{}{path}", emu.endpoint_url());
        let signed = sign_with_emulator_key("POST", &url, &headers, body, "us-east-1", "bedrock", SystemTime::now(), None).unwrap();
        let mut head = format!("POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\nconnection: close\r\n", emu.addr(), body.len());
        for (k, v) in headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).chain(signed).filter(|(k, _)| k != "host") {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = tokio::net::TcpStream::connect(emu.addr()).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(body).await.unwrap();
        let mut out = Vec::new();
        stream.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (head[9..12].parse().unwrap(), serde_json::from_str(body).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn count_tokens_over_http_leaves_queued_answers_alone() {
        let emu = Emulator::start().await.unwrap();
        emu.push_message(json!({"type": "message", "content": []}));
        let body = request(json!([{"role": "user", "content": "How many tokens is this?"}]), json!({}));
        let path = "/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens";
        assert_eq!(send(&emu, path, &count_request(&body), &[]).await, (200, json!({"inputTokens": input_tokens(&body)})));
        let profile = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens";
        assert_eq!(
            send(&emu, profile, &count_request(&body), &[]).await,
            (400, json!({"message": "The provided model doesn't support counting tokens."}))
        );
        assert_eq!(emu.lock().messages.len(), 1, "the pushed message waits for an InvokeModel call");
        let requests = emu.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!((requests[0].operation.as_deref(), requests[0].auth_failure.as_deref()), (Some("count-tokens"), None));
    }

    #[tokio::test]
    async fn a_second_call_over_http_reads_the_cache_the_first_wrote() {
        let emu = Emulator::start().await.unwrap();
        let body = request(
            json!([{"role": "user", "content": "Hi"}]),
            json!({"system": [{"type": "text", "text": text_of(1500), "cache_control": {"type": "ephemeral"}}]}),
        )
        .to_string();
        let path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke";
        let usage = |(status, m): (u16, Value)| {
            assert_eq!(status, 200, "{m}");
            (
                m["usage"]["input_tokens"].clone(),
                m["usage"]["cache_creation_input_tokens"].clone(),
                m["usage"]["cache_read_input_tokens"].clone(),
            )
        };
        assert_eq!(usage(send(&emu, path, body.as_bytes(), &[]).await), (json!(4), json!(1500), json!(0)));
        assert_eq!(usage(send(&emu, path, body.as_bytes(), &[]).await), (json!(4), json!(0), json!(1500)));
        emu.clear_prompt_cache();
        assert_eq!(usage(send(&emu, path, body.as_bytes(), &[]).await), (json!(4), json!(1500), json!(0)));
        let guarded = [("x-amzn-bedrock-guardrailidentifier", "gr1"), ("x-amzn-bedrock-guardrailversion", "DRAFT")];
        let (status, m) = send(&emu, path, body.as_bytes(), &guarded).await;
        assert_eq!((status, &m["amazon-bedrock-guardrailAction"]), (200, &json!("NONE")));
        let (status, m) = send(&emu, path, body.as_bytes(), &guarded[..1]).await;
        assert_eq!((status, m["message"].as_str()), (400, Some("Guardrail version is required when a guardrail identifier is provided.")));
    }
}
