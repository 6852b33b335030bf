//! What the emulator answers and what it records: canned answers ([`Scripted`]), how their
//! bodies go out ([`Delivery`]), and the requests as received ([`RecordedRequest`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use base64::Engine as _;
use serde_json::Value;

use super::eventstream::{chunk_frame, stream_headers};
use super::sse::{error_event, sse_body, sse_frame, sse_headers};

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
    /// Set to the moment the first piece is handed to the connection (the paced answer's
    /// first-event time, which the scale bench subtracts from its clients' latency).
    pub first_sent: Option<Arc<std::sync::OnceLock<std::time::Instant>>>,
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

    /// A streamed Messages-API answer (`POST /anthropic/v1/messages` with `"stream": true`):
    /// status 200, `content-type: text/event-stream`, each event as
    /// `event: <type>\ndata: <json>\n\n`, exactly these events (no `ping` is added: take the
    /// events of a whole message from [`sse_events`](super::sse_events), which has it).
    pub fn sse(events: &[Value]) -> Scripted {
        Scripted::new(200, sse_headers(), sse_body(events))
    }

    /// A streamed Messages-API answer that fails after `events`: they are followed by an
    /// in-band `event: error\ndata: {"type":"error","error":{"type":kind,"message":message}}`
    /// and the stream ends (status 200: the failure comes after the headers, as Anthropic's
    /// `overloaded_error` mid-stream does).
    pub fn sse_then_error(events: &[Value], kind: &str, message: &str) -> Scripted {
        let mut body = sse_body(events);
        body.extend(sse_frame(&error_event(kind, message)).into_bytes());
        Scripted::new(200, sse_headers(), body)
    }

    /// A Messages-API error: `status` with Anthropic's body
    /// `{"type":"error","error":{"type":kind,"message":message}}` as JSON (the emulator adds
    /// the `request-id` header, as it does to every Messages-API answer). Anthropic's kinds and
    /// statuses: `invalid_request_error` 400, `authentication_error` 401, `permission_error`
    /// 403, `not_found_error` 404, `request_too_large` 413, `rate_limit_error` 429, `api_error`
    /// 500, `overloaded_error` 529.
    pub fn anthropic_error(status: u16, kind: &str, message: &str) -> Scripted {
        Scripted::new(status, vec![("Content-Type".into(), "application/json".into())], error_event(kind, message).to_string().into_bytes())
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
    /// The model id, decoded, when the path names one (InvokeModel), or the body's `model`
    /// (Messages API).
    pub model_id: Option<String>,
    /// `invoke`, `invoke-with-response-stream` or `count-tokens` (InvokeModel), `messages`
    /// (`POST /anthropic/v1/messages`, streamed or not).
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
