//! A local Bedrock Runtime: a real HTTP/1.1 server on loopback that checks SigV4 the way AWS
//! does (recomputing it with `aws-sigv4`), records every request, and answers with scripted
//! responses or a default text answer. Offline runs and the tests use it; other AWS clients
//! can be pointed at it too.
//!
//! Tests in other processes (the Amplifier Python module's) script it over HTTP, on paths
//! Bedrock does not have: `POST /_emulator/push` queues an Anthropic Messages response for the
//! next call (sent as JSON or as an event stream, whichever the call asks for), and
//! `GET /_emulator/requests` lists what was received (method, path, model, operation, body).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// Access key id the emulator accepts.
pub const ACCESS_KEY_ID: &str = "AKIDEMULATOREXAMPLE01";
/// The secret that goes with [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "emulator/K7MDENG+bPxRfiCYEXAMPLEKEY0000001";
/// Session token handed out by the emulator's STS `AssumeRole`.
pub const STS_SESSION_TOKEN: &str = "FQoGZXIvYXdzEmulatorAssumedRoleSessionToken";

/// Bedrock API key the emulator accepts.
pub const API_KEY: &str = "ABSKZW11bGF0b3ItYXBpLWtleQ==";

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
    /// `invoke` or `invoke-with-response-stream`.
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

    /// Queues an answer for the next request (first in, first out); without one, requests get
    /// the default text answer.
    pub fn push(&self, answer: Scripted) {
        self.lock().script.push_back(answer);
    }

    /// Queues an Anthropic Messages response for the next Bedrock call that has no scripted
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
    let (scripted, pushed, rejected, sent_counter) = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        s.requests.push(recorded.clone());
        // Bedrock checks the body (and the model id) before anything else happens.
        let rejected = match (&auth_failure, &model_id) {
            (None, Some(id)) if operation.is_some() => check_model_id(id, &recorded.headers)
                .or_else(|| check_body(&recorded.json(), id).err().map(|m| (400, "ValidationException", m))),
            _ => None,
        };
        let next = if auth_failure.is_none() && operation.is_some() && rejected.is_none() { s.script.pop_front() } else { None };
        let pushed = if auth_failure.is_none() && operation.is_some() && next.is_none() && rejected.is_none() {
            s.messages.pop_front()
        } else {
            None
        };
        (
            next,
            pushed,
            rejected,
            (
                s.body_bytes_sent.clone(),
                s.bodies_abandoned.clone(),
                (!s.sts_refusing).then(|| s.sts_lifetime.unwrap_or(Duration::from_secs(3600))),
            ),
        )
    };
    let (sent_counter, abandoned, sts_lifetime) = sent_counter;

    let answer = match (&auth_failure, &operation, scripted) {
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
        (None, Some(_), _) if rejected.is_some() => {
            let (status, code, message) = rejected.unwrap_or_default();
            error_answer(status, code, message)
        }
        (None, Some(_), Some(s)) => s,
        (None, Some(op), None) => {
            let message = pushed.unwrap_or_else(|| default_message(&recorded.json(), model_id.as_deref().unwrap_or_default(), n));
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
    if op != "invoke" && op != "invoke-with-response-stream" {
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
    let base = bare.rsplit_once("-v").map(|(b, _)| b).unwrap_or(bare);
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
    let messages = obj["messages"].as_array().cloned().unwrap_or_default();
    check_messages(&messages)?;
    if obj.get("thinking").and_then(|t| t.get("type")).and_then(Value::as_str) == Some("enabled") {
        check_thinking(obj, &messages)?;
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
    Ok(())
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
            return Err(format!(
                "The model returned the following errors: messages.{}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block. We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking",
                messages.len() - 2
            ));
        }
    }
    Ok(())
}

/// The emulator's own answer: a short text that shows which prompt it saw.
fn default_message(body: &Value, model_id: &str, n: u64) -> Value {
    let last_user_text = body["messages"]
        .as_array()
        .and_then(|m| m.iter().rev().find(|m| m["role"] == "user"))
        .map(|m| match &m["content"] {
            Value::String(s) => s.clone(),
            Value::Array(blocks) => blocks.iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join(" "),
            _ => String::new(),
        })
        .unwrap_or_default();
    let text = format!("Hello from the local Bedrock emulator! You said: {last_user_text}");
    let words = |s: &str| s.split_whitespace().count() as u64;
    json!({
        "id": format!("msg_bdrk_emulator{n:06}"),
        "type": "message",
        "role": "assistant",
        "model": crate::emulator::bare_model(model_id),
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": {"input_tokens": words(&body["messages"].to_string()) + 3, "output_tokens": words(&text), "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    })
}

/// `claude-sonnet-4-5-20250929` from `us.anthropic.claude-sonnet-4-5-20250929-v1:0`.
fn bare_model(model_id: &str) -> String {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let after_vendor = tail.split_once("anthropic.").map(|(_, r)| r).unwrap_or(tail);
    after_vendor.split("-v").next().unwrap_or(after_vendor).to_string()
}

/// Anthropic streaming events for a complete message, as Bedrock sends them.
pub fn stream_events(message: &Value) -> Vec<Value> {
    let mut start = message.clone();
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
    events.push(json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": input_tokens, "outputTokenCount": message["usage"]["output_tokens"], "invocationLatency": 100, "firstByteLatency": 50
    }}));
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
}
