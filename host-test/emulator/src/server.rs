//! The HTTP side: the accept loop (plain or TLS), the hyper handler that records a request,
//! checks it, picks its answer (scripted, queued, the default, STS, CountTokens, an error) and
//! sends it, whole or in pieces; the Messages API's paths (under `/anthropic/`) handed to
//! [`messages_api`](super::messages_api); and the test-control paths under `/_emulator/`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use super::answers::default_answer;
use super::count_tokens::count_tokens;
use super::eventstream::stream_events;
use super::guardrail::user_texts;
use super::messages_api::{self, is_messages_api};
use super::paced::{self, Fault, PacedRecord};
use super::rules::check_invoke;
use super::scripted::{Delivery, RecordedRequest, Scripted};
use super::sigv4::{assume_role_answer, assume_role_refusal, failure_code, failure_message, verify};
use super::state::{State, Wire};

/// Serves HTTP/1.1 on `listener` (over TLS when `acceptor` is given) until the task is aborted,
/// each connection on a task of its own, counting on `seen` what the listener sees.
pub(super) fn serve(
    listener: TcpListener,
    shared: Arc<Mutex<State>>,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    seen: Arc<Wire>,
) -> tokio::task::JoinHandle<()> {
    let counter = Arc::new(AtomicU64::new(1));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                // Out of file descriptors (or another passing failure): retrying at once would
                // spin a core until one frees up.
                tokio::time::sleep(Duration::from_millis(5)).await;
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
    })
}

/// A TLS acceptor with a certificate for `127.0.0.1` and `localhost`, issued by a certificate
/// authority made for this emulator; returns the authority's PEM certificate too.
pub(super) fn tls_acceptor() -> Result<(tokio_rustls::TlsAcceptor, String)> {
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

/// One request: recorded, checked, and answered with what is scripted, queued or computed.
async fn handle(req: Request<Incoming>, state: Arc<Mutex<State>>, counter: Arc<AtomicU64>) -> Result<Response<Body>, ScriptedReset> {
    let received = Instant::now();
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
    if is_messages_api(parts.uri.path()) {
        let (answer, sent_counter, abandoned) = messages_api::answer(parts.method.as_str(), &path, headers, body, &state, n);
        return respond(answer, &request_id, sent_counter, abandoned).await;
    }
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
            None => assume_role_refusal(),
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
            let pace = state.lock().unwrap_or_else(|p| p.into_inner()).pace;
            if let (Some(pace), "invoke-with-response-stream") = (pace, op) {
                let prompt = user_texts(&body_json).last().map(|t| t.to_string()).unwrap_or_default();
                let fault = Fault::in_prompt(&prompt);
                let record = PacedRecord { prompt, received, first_sent: Arc::default() };
                let first_sent = record.first_sent.clone();
                state.lock().unwrap_or_else(|p| p.into_inner()).paced.push(record);
                paced::answer(&message, pace, fault, first_sent)
            } else if op == "invoke-with-response-stream" {
                stream_answer(&message)
            } else {
                Scripted::json(&message)
            }
        }
    };
    respond(answer, &request_id, sent_counter, abandoned).await
}

/// Sends `answer` (after its delay; or drops the connection for a reset), with `request_id`
/// as `x-amzn-RequestId` unless it carries its own.
async fn respond(
    answer: Scripted,
    request_id: &str,
    sent_counter: Arc<AtomicU64>,
    abandoned: Arc<AtomicU64>,
) -> Result<Response<Body>, ScriptedReset> {
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
        builder = builder.header("x-amzn-RequestId", request_id);
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
            deliver(answer.body, delivery, sent_counter, abandoned)
        }
    };
    Ok(builder.body(body).unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).boxed())))
}

/// A body sent in pieces as `delivery` says, from a task of its own: `sent_counter` counts the
/// bytes handed to the network, `abandoned` a client that went away before the end.
fn deliver(body: Vec<u8>, delivery: Delivery, sent_counter: Arc<AtomicU64>, abandoned: Arc<AtomicU64>) -> Body {
    let (mut tx, channel) = http_body_util::channel::Channel::<Bytes, Infallible>::new(2);
    tokio::spawn(async move {
        let sizes = if delivery.sizes.is_empty() { vec![body.len().max(1)] } else { delivery.sizes.clone() };
        let (mut offset, mut turn) = (0usize, 0usize);
        let stop = delivery.cut_at.unwrap_or(usize::MAX).min(body.len());
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
            if tx.send_data(Bytes::copy_from_slice(&body[offset..end])).await.is_err() {
                abandoned.fetch_add(1, Ordering::SeqCst);
                return; // the client went away
            }
            if let Some(first) = &delivery.first_sent {
                let _ = first.set(Instant::now());
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
    channel.boxed()
}

/// The test-control paths (`/_emulator/push`, `/_emulator/requests`); never Bedrock's. A pushed
/// message answers the next InvokeModel or Messages-API call.
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

/// A Bedrock error: `status`, `code` in the `x-amzn-ErrorType` header, `message` in the JSON body.
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

/// An event-stream body of `chunk` frames, one per Anthropic event.
fn stream_answer(message: &Value) -> Scripted {
    Scripted::event_stream(&stream_events(message))
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use base64::Engine as _;

    use super::*;
    use crate::models::bare_model;
    use crate::sigv4::parse_amz_date;
    use crate::test_support::{count_request, request, send_http, text_of, Auth};
    use crate::{input_tokens, Emulator};

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

    /// Sends a request signed with the emulator's key for `bedrock` and returns the status and
    /// JSON body.
    async fn send(emu: &Emulator, path: &str, body: &[u8], extra: &[(&str, &str)]) -> (u16, Value) {
        let reply = send_http(emu, Auth::SigV4("bedrock"), path, body, extra).await;
        (reply.status, reply.json())
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
