//! Bedrock's Messages API ("Claude in Amazon Bedrock", the `bedrock-mantle` endpoint):
//! `POST /anthropic/v1/messages`, signed with SigV4 for the service `bedrock-mantle` or carrying a
//! Bedrock API key (`Authorization: Bearer` or `x-api-key`), the version in the
//! `anthropic-version` header, betas in `anthropic-beta`, the model in the body. Checked with
//! Anthropic's rules and each model's ([`MESSAGES_MODELS`](super::models::MESSAGES_MODELS)),
//! answered as JSON or as server-sent events, errors in Anthropic's shape, every answer with a
//! `request-id`.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::answers::{cut_at_max_tokens, model_text};
use super::cache::{input_tokens, PromptCache};
use super::models::{bare_model, messages_model, MessagesModel, INVITATION_ONLY_MODELS};
use super::rules::{
    check_cache_breakpoints, check_messages, check_thinking, check_thinking_compat, CONTEXT_1M_BETA, KNOWN_BETAS, ONE_OF_TEMPERATURE_TOP_P,
};
use super::scripted::{RecordedRequest, Scripted};
use super::sigv4::{failure_message, verify, API_KEY};
use super::sse::sse_events;
use super::state::State;

/// The one path of the Messages API; anything else under `/anthropic/` is a 404.
pub(super) const MESSAGES_PATH: &str = "/anthropic/v1/messages";

/// The SigV4 service name of the Messages API's endpoint.
const SERVICE: &str = "bedrock-mantle";

/// The `anthropic-version` the SDKs and Bedrock's examples send.
const VERSION_2023_06_01: &str = "2023-06-01";
/// The newer API version: no `temperature`, `top_p` or `top_k`, no `document` block in an
/// assistant message, no citations on a user text block
/// (platform.claude.com/docs/en/api/versioning).
const VERSION_2026_10_21: &str = "2026-10-21";

/// The sampling parameters some models and [`VERSION_2026_10_21`] refuse.
const SAMPLING: [&str; 3] = ["temperature", "top_p", "top_k"];

/// Whether `path` (without its query) belongs to the Messages API's endpoint.
pub(super) fn is_messages_api(path: &str) -> bool {
    path == "/anthropic" || path.starts_with("/anthropic/")
}

/// An Anthropic error: HTTP status, error type, message.
#[derive(Debug, Clone, PartialEq)]
struct Refusal {
    status: u16,
    kind: &'static str,
    message: String,
}

impl Refusal {
    /// An error of `kind` with Anthropic's status for that kind.
    fn new(kind: &'static str, message: impl Into<String>) -> Refusal {
        let status = match kind {
            "invalid_request_error" => 400,
            "authentication_error" => 401,
            "permission_error" => 403,
            "not_found_error" => 404,
            "request_too_large" => 413,
            "rate_limit_error" => 429,
            "overloaded_error" => 529,
            _ => 500,
        };
        Refusal { status, kind, message: message.into() }
    }

    fn answer(&self) -> Scripted {
        Scripted::anthropic_error(self.status, self.kind, &self.message)
    }
}

/// A 400 `invalid_request_error`.
fn invalid(message: impl Into<String>) -> Refusal {
    Refusal::new("invalid_request_error", message)
}

/// A call that passed every check: its model and whether it streams.
#[derive(Debug)]
struct Call {
    model: &'static MessagesModel,
    stream: bool,
}

/// One request to the Messages API's endpoint: recorded (operation `messages`, the body's
/// `model`), checked, and answered with what is scripted, queued or the emulator's own answer.
/// Also returns the counters the body's delivery updates (bytes sent, bodies abandoned).
pub(super) fn answer(
    method: &str,
    path: &str,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    state: &Mutex<State>,
    n: u64,
) -> (Scripted, Arc<AtomicU64>, Arc<AtomicU64>) {
    let auth_failure = authenticate(method, path, &headers, &body).err();
    let body_json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let recorded = RecordedRequest {
        method: method.to_string(),
        path: path.to_string(),
        model_id: body_json.get("model").and_then(Value::as_str).map(str::to_string),
        operation: Some("messages".into()),
        headers,
        body,
        auth_failure: auth_failure.clone(),
    };
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let checked = match &auth_failure {
        Some(failure) => Err(Refusal::new("authentication_error", auth_message(failure))),
        None if path.split('?').next() != Some(MESSAGES_PATH) || method != "POST" => Err(Refusal::new("not_found_error", "Not Found")),
        None => check(&recorded.headers, &recorded.body, &body_json),
    };
    let mut answer = match checked {
        Err(refusal) => refusal.answer(),
        Ok(call) => match s.script.pop_front() {
            Some(scripted) => scripted,
            None => {
                let message = match s.messages.pop_front() {
                    Some(pushed) => pushed,
                    None => default_answer(&body_json, call.model, &mut s.prompt_cache, n, Instant::now()),
                };
                match call.stream {
                    true => Scripted::sse(&sse_events(&message)),
                    false => Scripted::json(&message),
                }
            }
        },
    };
    s.requests.push(recorded);
    if !answer.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("request-id")) {
        answer.headers.push(("request-id".into(), format!("req_emu_{n:012x}")));
    }
    (answer, s.body_bytes_sent.clone(), s.bodies_abandoned.clone())
}

/// SigV4 for `bedrock-mantle`, or the emulator's API key as `Authorization: Bearer` (the SDKs)
/// or as `x-api-key` (Anthropic's Bedrock page).
fn authenticate(method: &str, path: &str, headers: &[(String, String)], body: &[u8]) -> Result<(), String> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    // When both come, the key in `x-api-key` is the one used (Anthropic's first-party rule as
    // secondary sources report it; Unconfirmed for Bedrock).
    match get("x-api-key") {
        Some(key) if key == API_KEY => Ok(()),
        Some(_) => Err("unknown API key".into()),
        None => verify(method, path, headers, body, SERVICE),
    }
}

/// The message of the 401 that answers a failed [`authenticate`].
fn auth_message(failure: &str) -> String {
    if failure.starts_with("credential scope names service") {
        // AWS's answer to a signature scoped to another service.
        format!("Credential should be scoped to correct service: '{SERVICE}'.")
    } else if failure == "unknown API key" {
        // The emulator's wording.
        "The API key included in the request is invalid.".into()
    } else {
        failure_message(failure)
    }
}

/// Every check of a Messages-API call before the model runs, in order: the headers (version,
/// betas), the body's shape, the model, the parameters, the model's own rules, the messages,
/// cache breakpoints, thinking, `output_config`, the context window.
fn check(headers: &[(String, String)], raw: &[u8], body: &Value) -> Result<Call, Refusal> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let version = get("anthropic-version").ok_or_else(|| invalid("anthropic-version: header is required"))?;
    if ![VERSION_2023_06_01, VERSION_2026_10_21].contains(&version) {
        // The emulator's wording.
        return Err(invalid(format!(
            "anthropic-version: '{version}' is not a supported API version; use {VERSION_2023_06_01} or {VERSION_2026_10_21}"
        )));
    }
    let betas: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k == "anthropic-beta")
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .collect();
    let unknown: Vec<&str> = betas.iter().copied().filter(|b| !KNOWN_BETAS.contains(b)).collect();
    if !unknown.is_empty() {
        return Err(invalid(format!(
            "Unexpected value(s) `{}` for the `anthropic-beta` header. Please consult our documentation at docs.claude.com or try again without the header.",
            unknown.join("`, `")
        )));
    }
    let Some(obj) = body.as_object() else {
        return Err(match serde_json::from_slice::<Value>(raw) {
            Ok(_) => invalid("Input should be a valid dictionary"),
            Err(_) => invalid("There was an error parsing the body of your request: it is not valid JSON"),
        });
    };
    for key in ["anthropic_version", "anthropic_beta"] {
        if obj.contains_key(key) {
            return Err(invalid(format!("{key}: Extra inputs are not permitted")));
        }
    }
    let id = match obj.get("model") {
        None => return Err(invalid("model: Field required")),
        Some(Value::String(id)) => id.as_str(),
        Some(_) => return Err(invalid("model: Input should be a valid string")),
    };
    if INVITATION_ONLY_MODELS.contains(&id) {
        // The emulator's wording: Bedrock only documents that this model needs an invitation.
        return Err(Refusal::new(
            "permission_error",
            format!("model: {id} is available by invitation only, and this account has not been invited"),
        ));
    }
    // Profile-prefixed, dated or versioned ids are InvokeModel's: unknown here.
    let model = messages_model(id).ok_or_else(|| Refusal::new("not_found_error", format!("model: {id}")))?;
    let max_tokens = match obj.get("max_tokens") {
        None => return Err(invalid("max_tokens: Field required")),
        Some(v) if v.as_i64().is_some_and(|n| n < 1) => return Err(invalid("max_tokens: Input should be greater than or equal to 1")),
        Some(v) => v.as_u64().ok_or_else(|| invalid("max_tokens: Input should be a valid integer"))?,
    };
    if max_tokens > model.max_output_tokens {
        return Err(invalid(format!(
            "max_tokens: {max_tokens} > {}, which is the maximum allowed number of output tokens for {id}",
            model.max_output_tokens
        )));
    }
    let messages = match obj.get("messages") {
        None => return Err(invalid("messages: Field required")),
        Some(Value::Array(messages)) => messages.as_slice(),
        Some(_) => return Err(invalid("messages: Input should be a valid list")),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("stream: Input should be a valid boolean")),
    };
    if version == VERSION_2026_10_21 {
        check_version_2026(obj, model, messages)?;
    }
    if model.sampling_refused {
        if let Some(key) = SAMPLING.iter().find(|k| obj.contains_key(**k)) {
            // The emulator's wording.
            return Err(invalid(format!("{key}: this parameter is not supported on {id}")));
        }
    }
    if obj.contains_key("temperature")
        && obj.contains_key("top_p")
        && ONE_OF_TEMPERATURE_TOP_P.iter().any(|m| bare_model(id).starts_with(m))
    {
        return Err(invalid("`temperature` and `top_p` cannot both be specified for this model. Please use only one."));
    }
    if betas.contains(&CONTEXT_1M_BETA) && model.context_window < 1_000_000 {
        // The emulator's wording (InvokeModel answers "invalid beta flag").
        return Err(invalid(format!("anthropic-beta: {CONTEXT_1M_BETA} is not supported on {id}")));
    }
    check_messages(messages).map_err(invalid)?;
    // Source for the 1-hour TTL on every Messages-API model: Unconfirmed (facts.md B).
    check_cache_breakpoints(body, true).map_err(invalid)?;
    check_thinking_param(obj, model, messages)?;
    check_output_config(obj, model)?;
    let tokens = input_tokens(body);
    if tokens > model.context_window {
        return Err(invalid(format!("prompt is too long: {tokens} tokens > {} maximum", model.context_window)));
    }
    Ok(Call { model, stream })
}

/// What `anthropic-version: 2026-10-21` refuses: models before 4.7 ("On Amazon Bedrock, it's
/// available for Claude 4.7 and later models"), sampling parameters, a `document` block in an
/// assistant message, citations on a user text block (platform.claude.com/docs/en/api/versioning).
/// The messages are the emulator's wording unless noted.
fn check_version_2026(obj: &Map<String, Value>, model: &MessagesModel, messages: &[Value]) -> Result<(), Refusal> {
    if !model.version_2026_10_21 {
        return Err(invalid(format!("anthropic-version: {VERSION_2026_10_21} is not supported on {}", model.id)));
    }
    // Source for the message: third-party reports of the first-party API (Unconfirmed).
    if let Some(key) = SAMPLING.iter().find(|k| obj.contains_key(**k)) {
        return Err(invalid(format!("{key}: Extra inputs are not permitted")));
    }
    for (i, m) in messages.iter().enumerate() {
        for (j, b) in m["content"].as_array().into_iter().flatten().enumerate() {
            if m["role"] == "assistant" && b["type"] == "document" {
                return Err(invalid(format!("messages.{i}.content.{j}: `document` blocks are not permitted in `assistant` messages")));
            }
            let cited = b["citations"].as_array().is_some_and(|c| !c.is_empty());
            if m["role"] == "user" && b["type"] == "text" && cited {
                return Err(invalid(format!("messages.{i}.content.{j}.text.citations: Extra inputs are not permitted")));
            }
        }
    }
    Ok(())
}

/// `thinking`: `adaptive`, budgeted `enabled` and `disabled` where the model has them (each with
/// Anthropic's rules), `display` `summarized` or `omitted`.
fn check_thinking_param(obj: &Map<String, Value>, model: &MessagesModel, messages: &[Value]) -> Result<(), Refusal> {
    let Some(thinking) = obj.get("thinking") else {
        return Ok(());
    };
    let Some(fields) = thinking.as_object() else {
        return Err(invalid("thinking: Input should be a valid dictionary or object to extract fields from"));
    };
    let kind = thinking["type"].as_str();
    if let (Some(kind @ ("adaptive" | "enabled")), Some(display)) = (kind, fields.get("display")) {
        if !display.as_str().is_some_and(|d| THINKING_DISPLAYS.contains(&d)) {
            return Err(invalid(format!("thinking.{kind}.display: Input should be {}", one_of(THINKING_DISPLAYS))));
        }
    }
    match kind {
        Some("adaptive") => {
            if !model.adaptive_thinking {
                return Err(invalid("thinking.type: adaptive thinking is not supported on this model"));
            }
            if let Some(extra) = fields.keys().find(|k| !["type", "display"].contains(&k.as_str())) {
                return Err(invalid(format!("thinking.adaptive.{extra}: Extra inputs are not permitted")));
            }
            check_thinking_compat(obj, messages).map_err(invalid)
        }
        Some("enabled") => {
            if !model.budget_thinking {
                return Err(invalid(
                    "thinking.type: enabled thinking (with budget_tokens) is not supported on this model; use {\"type\": \"adaptive\"} with output_config.effort",
                ));
            }
            check_thinking(obj, messages).map_err(invalid)
        }
        Some("disabled") if !model.disabled_thinking => {
            Err(invalid("thinking.type: thinking cannot be disabled on this model; use {\"type\": \"adaptive\"}"))
        }
        Some("disabled") => Ok(()),
        Some(other) => Err(invalid(format!(
            "thinking: Input tag '{other}' found using 'type' does not match any of the expected tags: 'adaptive', 'disabled', 'enabled'"
        ))),
        None => Err(invalid("thinking.type: Field required")),
    }
}

/// `output_config`: `effort` among the model's levels, `format` a JSON schema.
fn check_output_config(obj: &Map<String, Value>, model: &MessagesModel) -> Result<(), Refusal> {
    let Some(config) = obj.get("output_config") else {
        return Ok(());
    };
    let Some(fields) = config.as_object() else {
        return Err(invalid("output_config: Input should be a valid dictionary or object to extract fields from"));
    };
    if let Some(extra) = fields.keys().find(|k| !["effort", "format"].contains(&k.as_str())) {
        return Err(invalid(format!("output_config.{extra}: Extra inputs are not permitted")));
    }
    if let Some(effort) = fields.get("effort") {
        if model.efforts.is_empty() {
            return Err(invalid("output_config.effort: effort is not supported on this model"));
        }
        if !effort.as_str().is_some_and(|e| model.efforts.contains(&e)) {
            return Err(invalid(format!("output_config.effort: Input should be {}", one_of(model.efforts))));
        }
    }
    if let Some(format) = fields.get("format") {
        if format["type"] != "json_schema" {
            return Err(invalid("output_config.format.type: Input should be 'json_schema'"));
        }
        match format.get("schema") {
            None => return Err(invalid("output_config.format.schema: Field required")),
            Some(Value::Object(_)) => {}
            Some(_) => return Err(invalid("output_config.format.schema: Input should be a valid dictionary")),
        }
    }
    Ok(())
}

/// The values of `thinking.display` (anthropic-sdk-python's `ThinkingConfigAdaptiveParam` and
/// `ThinkingConfigEnabledParam`); `omitted` sends thinking blocks with empty text.
const THINKING_DISPLAYS: &[&str] = &["summarized", "omitted"];

/// `'a', 'b' or 'c'`, as Anthropic's validation messages list allowed values.
fn one_of(values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("'{v}'")).collect();
    match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// What the emulator's thinking says before its answer.
const THOUGHT: &str = "The user wrote to the local Bedrock emulator, which answers with its usual greeting and what it was told.";

/// The emulator's own answer to a checked call with nothing queued: InvokeModel's default text
/// (the greeting or a count, continuing a prefill, cut at `max_tokens`, `usage` through the
/// prompt cache), a JSON document for the schema of `output_config.format`, a signed thinking
/// block first when thinking is on (`adaptive` or `enabled`; its text empty when `display` is
/// `omitted`); `model` is the requested id.
fn default_answer(body: &Value, model: &MessagesModel, cache: &mut PromptCache, n: u64, now: Instant) -> Value {
    let input = cache.admit(body, model.id, now);
    let mut budget = body["max_tokens"].as_u64().unwrap_or(u64::MAX);
    let (mut content, mut output_tokens, mut stop_reason) = (Vec::new(), 0, "end_turn");
    if matches!(body["thinking"]["type"].as_str(), Some("adaptive" | "enabled")) {
        let (thought, tokens, stop) = cut_at_max_tokens(THOUGHT.to_string(), budget);
        // Omitted thinking is billed all the same; the block keeps its signature.
        let shown = if body["thinking"]["display"] == "omitted" { "" } else { thought.as_str() };
        content.push(json!({"type": "thinking", "thinking": shown, "signature": signature(&thought)}));
        (budget, output_tokens, stop_reason) = (budget - tokens, tokens, stop);
    }
    if let Some((call, tokens)) = super::answers::forced_tool_call(body, n).filter(|_| stop_reason != "max_tokens") {
        content.push(call);
        (output_tokens, stop_reason) = (output_tokens + tokens, "tool_use");
    } else if stop_reason != "max_tokens" {
        let full = match body["output_config"]["format"].get("schema") {
            Some(schema) => super::answers::example_of(schema).to_string(),
            None => model_text(body),
        };
        let (text, tokens, stop) = cut_at_max_tokens(full, budget);
        if !text.trim().is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        (output_tokens, stop_reason) = (output_tokens + tokens, stop);
    }
    json!({
        "id": format!("msg_bdrk_emulator{n:06}"),
        "type": "message",
        "role": "assistant",
        "model": model.id,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": input.json(output_tokens),
    })
}

/// A thinking block's signature: opaque to the client, deterministic for the emulator.
fn signature(thinking: &str) -> String {
    let digest = Sha256::digest(format!("bedrock-emulator-thinking\0{thinking}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::decode_sse;
    use crate::test_support::{send_http, text_of, Auth, Reply};
    use crate::{Emulator, Scripted};

    const SONNET_5: &str = "anthropic.claude-sonnet-5";

    /// A Messages-API body for `model` asking `text`, with these extra fields.
    fn body(model: &str, text: &str, extra: Value) -> Vec<u8> {
        let mut b = json!({"model": model, "max_tokens": 1000, "messages": [{"role": "user", "content": text}]});
        for (k, v) in extra.as_object().into_iter().flatten() {
            b[k] = v.clone();
        }
        b.to_string().into_bytes()
    }

    /// A call with SigV4 for `bedrock-mantle` and `anthropic-version: 2023-06-01`.
    async fn call(emu: &Emulator, body: &[u8], extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![("anthropic-version", VERSION_2023_06_01)];
        headers.extend_from_slice(extra);
        send_http(emu, Auth::SigV4(SERVICE), MESSAGES_PATH, body, &headers).await
    }

    /// The reply is an Anthropic error of `kind` with `status` and `message`, with a request id.
    fn assert_error(reply: &Reply, status: u16, kind: &str, message: &str) {
        assert_eq!(
            (reply.status, reply.json()),
            (status, json!({"type": "error", "error": {"type": kind, "message": message}})),
            "{}",
            reply.body
        );
        assert!(reply.header("request-id").is_some_and(|id| id.starts_with("req_emu_")));
    }

    #[tokio::test]
    async fn a_plain_call_gets_the_default_answer_for_its_model() {
        let emu = Emulator::start().await.unwrap();
        let reply = call(&emu, &body(SONNET_5, "hi", json!({})), &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert!(reply.header("request-id").is_some_and(|id| id.starts_with("req_emu_")));
        assert!(reply.header("x-amzn-requestid").is_some());
        let m = reply.json();
        assert_eq!(
            (&m["type"], &m["model"], &m["content"], &m["stop_reason"]),
            (
                &json!("message"),
                &json!(SONNET_5),
                &json!([{"type": "text", "text": "Hello from the local Bedrock emulator! You said: hi"}]),
                &json!("end_turn")
            )
        );
        assert_eq!(m["usage"]["output_tokens"], 9);
        let recorded = &emu.requests()[0];
        assert_eq!(
            (recorded.operation.as_deref(), recorded.model_id.as_deref(), recorded.auth_failure.as_deref()),
            (Some("messages"), Some(SONNET_5), None)
        );

        // max_tokens stops, prefill continuation and the prompt cache work as on InvokeModel.
        let counting = json!({"max_tokens": 4, "messages": [{"role": "user", "content": "count from 1 to 10"}, {"role": "assistant", "content": "1 2"}]});
        let m = call(&emu, &body(SONNET_5, "", counting), &[]).await.json();
        assert_eq!((&m["content"][0]["text"], &m["stop_reason"]), (&json!(" 3 4 5 6"), &json!("max_tokens")));
        let cached = json!({"system": [{"type": "text", "text": text_of(1500), "cache_control": {"type": "ephemeral", "ttl": "1h"}}]});
        let usage = |m: Value| (m["usage"]["cache_creation_input_tokens"].clone(), m["usage"]["cache_read_input_tokens"].clone());
        assert_eq!(usage(call(&emu, &body(SONNET_5, "hi", cached.clone()), &[]).await.json()), (json!(1500), json!(0)));
        assert_eq!(usage(call(&emu, &body(SONNET_5, "hi", cached), &[]).await.json()), (json!(0), json!(1500)));
    }

    #[tokio::test]
    async fn a_streamed_call_gets_server_sent_events_with_a_ping() {
        let emu = Emulator::start().await.unwrap();
        let thinking = json!({"stream": true, "thinking": {"type": "adaptive"}, "output_config": {"effort": "xhigh"}});
        let reply = call(&emu, &body("anthropic.claude-opus-4-8", "hi", thinking), &[]).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.header("content-type"), Some("text/event-stream"));
        assert!(reply.header("request-id").is_some());
        let events = decode_sse(&reply.body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert_eq!(events[0].1["message"]["model"], "anthropic.claude-opus-4-8");
        assert_eq!(events[2].1["content_block"]["type"], "thinking");
        assert_eq!(events[3].1["delta"], json!({"type": "thinking_delta", "thinking": THOUGHT}));
        assert_eq!(events[4].1["delta"]["type"], "signature_delta");
        assert_eq!(events[7].1["delta"]["text"], "Hello from the local Bedrock emulator! You said: hi");
        assert_eq!(events[9].1["usage"]["output_tokens"], 9 + THOUGHT.split_whitespace().count());
        assert_eq!(events[10].1, json!({"type": "message_stop"}), "no amazon-bedrock-invocationMetrics");
    }

    #[tokio::test]
    async fn authentication_is_sigv4_for_bedrock_mantle_or_the_api_key() {
        let emu = Emulator::start().await.unwrap();
        let b = body(SONNET_5, "hi", json!({}));
        let version = [("anthropic-version", VERSION_2023_06_01)];
        let wrong_service = send_http(&emu, Auth::SigV4("bedrock"), MESSAGES_PATH, &b, &version).await;
        assert_error(&wrong_service, 401, "authentication_error", "Credential should be scoped to correct service: 'bedrock-mantle'.");
        assert!(emu.requests()[0].auth_failure.is_some());
        for auth in [Auth::Bearer(API_KEY), Auth::XApiKey(API_KEY)] {
            assert_eq!(send_http(&emu, auth, MESSAGES_PATH, &b, &version).await.status, 200);
        }
        let both = [version[0], ("x-api-key", API_KEY)];
        assert_eq!(send_http(&emu, Auth::Bearer("stale"), MESSAGES_PATH, &b, &both).await.status, 200, "x-api-key wins");
        for auth in [Auth::Bearer("nope"), Auth::XApiKey("nope")] {
            let reply = send_http(&emu, auth, MESSAGES_PATH, &b, &version).await;
            assert_error(&reply, 401, "authentication_error", "The API key included in the request is invalid.");
        }
        let missing = send_http(&emu, Auth::None, MESSAGES_PATH, &b, &version).await;
        assert_error(&missing, 401, "authentication_error", "Missing Authentication Token");
        let elsewhere = send_http(&emu, Auth::Bearer(API_KEY), "/anthropic/v1/models", &b, &version).await;
        assert_error(&elsewhere, 404, "not_found_error", "Not Found");
    }

    #[tokio::test]
    async fn headers_and_the_body_are_checked_with_anthropics_messages() {
        let emu = Emulator::start().await.unwrap();
        let b = body(SONNET_5, "hi", json!({}));
        let no_version = send_http(&emu, Auth::SigV4(SERVICE), MESSAGES_PATH, &b, &[]).await;
        assert_error(&no_version, 400, "invalid_request_error", "anthropic-version: header is required");
        let in_body = call(&emu, &body(SONNET_5, "hi", json!({"anthropic_version": "bedrock-2023-05-31"})), &[]).await;
        assert_error(&in_body, 400, "invalid_request_error", "anthropic_version: Extra inputs are not permitted");
        let in_body = call(&emu, &body(SONNET_5, "hi", json!({"anthropic_beta": ["effort-2025-11-24"]})), &[]).await;
        assert_error(&in_body, 400, "invalid_request_error", "anthropic_beta: Extra inputs are not permitted");
        for id in [
            "us.anthropic.claude-sonnet-5",
            "global.anthropic.claude-opus-4-8",
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-x",
        ] {
            assert_error(&call(&emu, &body(id, "hi", json!({})), &[]).await, 404, "not_found_error", &format!("model: {id}"));
        }
        let mythos = call(&emu, &body("anthropic.claude-mythos-preview", "hi", json!({})), &[]).await;
        assert_eq!((mythos.status, &mythos.json()["error"]["type"]), (403, &json!("permission_error")));
        let betas = [("anthropic-beta", "interleaved-thinking-2025-05-14, made-up-2099-01-01")];
        let unknown = call(&emu, &b, &betas).await;
        assert_error(
            &unknown,
            400,
            "invalid_request_error",
            "Unexpected value(s) `made-up-2099-01-01` for the `anthropic-beta` header. Please consult our documentation at docs.claude.com or try again without the header.",
        );
        assert_eq!(call(&emu, &b, &betas[..0]).await.status, 200);
        assert_eq!(call(&emu, &b, &[("anthropic-beta", "interleaved-thinking-2025-05-14,context-1m-2025-08-07")]).await.status, 200);
        let no_max = json!({"model": SONNET_5, "messages": []}).to_string();
        assert_error(&call(&emu, no_max.as_bytes(), &[]).await, 400, "invalid_request_error", "max_tokens: Field required");
        let too_many = call(&emu, &body("anthropic.claude-haiku-4-5", "hi", json!({"max_tokens": 64_001})), &[]).await;
        assert_error(
            &too_many,
            400,
            "invalid_request_error",
            "max_tokens: 64001 > 64000, which is the maximum allowed number of output tokens for anthropic.claude-haiku-4-5",
        );
        let unsigned = json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}]}, {"role": "user", "content": "r"}]});
        assert_error(
            &call(&emu, &body(SONNET_5, "", unsigned), &[]).await,
            400,
            "invalid_request_error",
            "messages.1.content.0.thinking.signature: Field required",
        );
        let huge = call(&emu, &body("anthropic.claude-haiku-4-5", &text_of(200_001), json!({})), &[]).await;
        assert_error(&huge, 400, "invalid_request_error", "prompt is too long: 200004 tokens > 200000 maximum");
        assert!(emu.requests().iter().all(|r| r.operation.as_deref() == Some("messages")));
    }

    #[tokio::test]
    async fn each_model_has_its_own_rules() {
        let emu = Emulator::start().await.unwrap();
        let haiku = "anthropic.claude-haiku-4-5";
        let adaptive = json!({"thinking": {"type": "adaptive"}});
        let refused = call(&emu, &body(haiku, "hi", adaptive.clone()), &[]).await;
        assert_error(&refused, 400, "invalid_request_error", "thinking.type: adaptive thinking is not supported on this model");
        let budget = json!({"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}});
        let m = call(&emu, &body(haiku, "hi", budget.clone()), &[]).await.json();
        assert_eq!((&m["content"][0]["type"], &m["content"][1]["type"]), (&json!("thinking"), &json!("text")));
        let small = json!({"max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 100}});
        assert_error(
            &call(&emu, &body(haiku, "hi", small), &[]).await,
            400,
            "invalid_request_error",
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        );
        let opus_47 = call(&emu, &body("anthropic.claude-opus-4-7", "hi", budget), &[]).await;
        assert!(opus_47.json()["error"]["message"].as_str().unwrap().starts_with("thinking.type: enabled thinking"), "{}", opus_47.body);
        let off = json!({"thinking": {"type": "disabled"}});
        assert_eq!(call(&emu, &body("anthropic.claude-opus-4-8", "hi", off.clone()), &[]).await.status, 200);
        let always_on = call(&emu, &body("anthropic.claude-fable-5", "hi", off), &[]).await;
        assert!(always_on.json()["error"]["message"].as_str().unwrap().starts_with("thinking.type: thinking cannot be disabled"));
        let omitted = json!({"thinking": {"type": "adaptive", "display": "omitted"}});
        let m = call(&emu, &body("anthropic.claude-opus-4-7", "hi", omitted), &[]).await.json();
        assert_eq!((&m["content"][0]["thinking"], m["content"][0]["signature"].is_string()), (&json!(""), true));
        assert_eq!(m["usage"]["output_tokens"], 9 + THOUGHT.split_whitespace().count(), "omitted thinking is billed");
        let shouted = call(&emu, &body(SONNET_5, "hi", json!({"thinking": {"type": "adaptive", "display": "loud"}})), &[]).await;
        assert_error(&shouted, 400, "invalid_request_error", "thinking.adaptive.display: Input should be 'summarized' or 'omitted'");
        let effort = call(&emu, &body(haiku, "hi", json!({"output_config": {"effort": "low"}})), &[]).await;
        assert_error(&effort, 400, "invalid_request_error", "output_config.effort: effort is not supported on this model");
        let bad = call(&emu, &body(SONNET_5, "hi", json!({"output_config": {"effort": "extreme"}})), &[]).await;
        assert_error(&bad, 400, "invalid_request_error", "output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'");
        let hot = json!({"temperature": 0.5});
        assert_eq!(call(&emu, &body(SONNET_5, "hi", hot.clone()), &[]).await.status, 200);
        let sent =
            send_http(&emu, Auth::SigV4(SERVICE), MESSAGES_PATH, &body(SONNET_5, "hi", hot), &[("anthropic-version", VERSION_2026_10_21)])
                .await;
        assert_error(&sent, 400, "invalid_request_error", "temperature: Extra inputs are not permitted");
        let plain = send_http(
            &emu,
            Auth::SigV4(SERVICE),
            MESSAGES_PATH,
            &body(SONNET_5, "hi", adaptive),
            &[("anthropic-version", VERSION_2026_10_21)],
        )
        .await;
        assert_eq!(plain.status, 200, "{}", plain.body);
        let v2026 = [("anthropic-version", VERSION_2026_10_21)];
        let old_model = send_http(&emu, Auth::SigV4(SERVICE), MESSAGES_PATH, &body(haiku, "hi", json!({})), &v2026).await;
        assert_error(
            &old_model,
            400,
            "invalid_request_error",
            "anthropic-version: 2026-10-21 is not supported on anthropic.claude-haiku-4-5",
        );
        let document = json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}});
        let turns = json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": [document]}, {"role": "user", "content": "r"}]});
        assert_eq!(call(&emu, &body(SONNET_5, "", turns.clone()), &[]).await.status, 200);
        let refused = send_http(&emu, Auth::SigV4(SERVICE), MESSAGES_PATH, &body(SONNET_5, "", turns), &v2026).await;
        assert_error(
            &refused,
            400,
            "invalid_request_error",
            "messages.1.content.0: `document` blocks are not permitted in `assistant` messages",
        );
        let unknown =
            send_http(&emu, Auth::SigV4(SERVICE), MESSAGES_PATH, &body(SONNET_5, "hi", json!({})), &[("anthropic-version", "2024-01-01")])
                .await;
        assert_eq!((unknown.status, &unknown.json()["error"]["type"]), (400, &json!("invalid_request_error")));
        let both = json!({"temperature": 0.5, "top_p": 0.9});
        assert!(call(&emu, &body(haiku, "hi", both), &[]).await.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot both be specified"));
        let opus_5 = call(&emu, &body("anthropic.claude-opus-5", "hi", json!({"top_k": 5})), &[]).await;
        assert_error(&opus_5, 400, "invalid_request_error", "top_k: this parameter is not supported on anthropic.claude-opus-5");
    }

    #[tokio::test]
    async fn structured_output_is_a_json_document_for_the_schema() {
        let emu = Emulator::start().await.unwrap();
        let schema = json!({"type": "object", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer"}, "score": {"type": "number"}, "ok": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}}, "address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            "color": {"enum": ["red", "blue"]}, "nick": {"type": ["null", "string"]}, "optional": {"type": "string"}
        }, "required": ["name", "age", "score", "ok", "tags", "address", "color", "nick"], "additionalProperties": false});
        let format = json!({"output_config": {"format": {"type": "json_schema", "schema": schema}}});
        let m = call(&emu, &body(SONNET_5, "describe a person", format), &[]).await.json();
        let text: Value = serde_json::from_str(m["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(
            text,
            json!({"name": "emulated", "age": 0, "score": 0, "ok": true, "tags": [], "address": {"city": "emulated"}, "color": "red", "nick": "emulated"})
        );
        let wrong = json!({"output_config": {"format": {"type": "json_object"}}});
        assert_error(
            &call(&emu, &body(SONNET_5, "x", wrong), &[]).await,
            400,
            "invalid_request_error",
            "output_config.format.type: Input should be 'json_schema'",
        );
    }

    #[tokio::test]
    async fn scripted_errors_and_pushed_messages_are_served_as_the_call_asks() {
        let emu = Emulator::start().await.unwrap();
        emu.push(Scripted::anthropic_error(529, "overloaded_error", "Overloaded"));
        assert_error(&call(&emu, &body(SONNET_5, "hi", json!({})), &[]).await, 529, "overloaded_error", "Overloaded");
        let message = json!({"id": "msg_pushed", "type": "message", "role": "assistant", "model": SONNET_5,
            "content": [{"type": "text", "text": "pushed"}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}});
        let events = sse_events(&message);
        emu.push(Scripted::sse_then_error(&events[..3], "api_error", "Internal server error"));
        let reply = call(&emu, &body(SONNET_5, "hi", json!({"stream": true})), &[]).await;
        assert_eq!((reply.status, reply.header("content-type")), (200, Some("text/event-stream")));
        let got = decode_sse(&reply.body);
        assert_eq!(got.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["message_start", "ping", "content_block_start", "error"]);
        assert_eq!(got[3].1, json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}}));

        // A pushed message, over HTTP as another process would, served as SSE to a streaming call.
        let pushed = send_http(&emu, Auth::None, "/_emulator/push", message.to_string().as_bytes(), &[]).await;
        assert_eq!(pushed.status, 200, "{}", pushed.body);
        let reply = call(&emu, &body(SONNET_5, "hi", json!({"stream": true})), &[]).await;
        let got: Vec<Value> = decode_sse(&reply.body).into_iter().map(|(_, data)| data).collect();
        assert_eq!(got, events);
        emu.push_message(message.clone());
        assert_eq!(call(&emu, &body(SONNET_5, "hi", json!({})), &[]).await.json(), message);
        assert_eq!(emu.requests().iter().filter(|r| r.operation.as_deref() == Some("messages")).count(), 4);
    }

    #[test]
    fn one_of_lists_the_values() {
        assert_eq!(one_of(&["low"]), "'low'");
        assert_eq!(one_of(&["low", "high"]), "'low' or 'high'");
    }
}
