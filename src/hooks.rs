//! Amplifier hook events, delivered through standard WASI only: one JSON line per event on
//! stderr, `{"amplifier_event": NAME, "data": {...}}`, which hosts turn into typed events.
//!
//! Every event is scrubbed of the call's secrets before it leaves the component, whatever
//! its payload: a last line of defence behind the header redaction.

use serde_json::{json, Map, Value};

use crate::scrub::REDACTED;

/// `llm:request`: a request is about to be sent.
pub(crate) const LLM_REQUEST: &str = "llm:request";
/// `llm:response`: the request finished (status `ok` or `error`).
pub(crate) const LLM_RESPONSE: &str = "llm:response";
/// `llm:request:debug`: the request body, long strings truncated (config `debug`).
pub(crate) const LLM_REQUEST_DEBUG: &str = "llm:request:debug";
/// `llm:response:debug`: the response, long strings truncated (config `debug`).
pub(crate) const LLM_RESPONSE_DEBUG: &str = "llm:response:debug";
/// `llm:request:raw`: the complete HTTP request, credentials redacted (config `raw_debug`).
pub(crate) const LLM_REQUEST_RAW: &str = "llm:request:raw";
/// `llm:response:raw`: the complete HTTP response (config `raw_debug`).
pub(crate) const LLM_RESPONSE_RAW: &str = "llm:response:raw";
/// `provider:config_warning`: a config key this component does not know (`key`, `closest_key`, `message`).
pub(crate) const PROVIDER_CONFIG_WARNING: &str = "provider:config_warning";
/// `provider:tool_sequence_repaired`: unanswered tool calls got synthetic error results (`tool_call_ids`, `count`).
pub(crate) const PROVIDER_TOOL_SEQUENCE_REPAIRED: &str = "provider:tool_sequence_repaired";
/// `provider:model_fallback`: Bedrock refused an id and the model's next id was called (`from`, `to`, `reason`).
pub(crate) const PROVIDER_MODEL_FALLBACK: &str = "provider:model_fallback";
/// `provider:model_deprecated`: the call goes to a model Bedrock marks deprecated (`message`: what to move to).
pub(crate) const PROVIDER_MODEL_DEPRECATED: &str = "provider:model_deprecated";
/// `provider:retry`: a failed attempt will be tried again after a wait (`attempt` is the
/// number of the attempt to come, `max_retries`, `delay` in seconds, `reason` (the error's
/// prefix), `error_type`, `error_message`).
pub(crate) const PROVIDER_RETRY: &str = "provider:retry";
/// `provider:throttle`: Bedrock refused for rate or quota reasons (`attempt`, `delay` before
/// the next try or null when none is left, `error_message`); precedes the `provider:retry`.
pub(crate) const PROVIDER_THROTTLE: &str = "provider:throttle";
/// `provider:continuation`: an answer stopped at `max_tokens` and is being continued (`round`,
/// `max_continuations`, `output_tokens` so far, `characters` of text so far).
pub(crate) const PROVIDER_CONTINUATION: &str = "provider:continuation";
/// `llm:stream_block_start`: a content block began in a streamed answer (`block_index`,
/// `block_type`: text, thinking, redacted_thinking or tool_use; `name` and `id` for tool_use).
pub(crate) const LLM_STREAM_BLOCK_START: &str = "llm:stream_block_start";
/// `llm:stream_block_delta`: more text of a text block (`block_index`, `block_type`,
/// `sequence` counted from 0 per block, `text`, never empty).
pub(crate) const LLM_STREAM_BLOCK_DELTA: &str = "llm:stream_block_delta";
/// `llm:stream_thinking_delta`: more of a thinking block, same keys as a block delta; apart
/// so a display that hides thinking can skip it by name.
pub(crate) const LLM_STREAM_THINKING_DELTA: &str = "llm:stream_thinking_delta";
/// `llm:stream_block_end`: a content block is complete (`block_index`, `block_type`).
pub(crate) const LLM_STREAM_BLOCK_END: &str = "llm:stream_block_end";
/// `llm:stream_aborted`: a stream failed after content had been delivered (`error`: `type`
/// (the error's prefix) and `msg`; `blocks_started`).
pub(crate) const LLM_STREAM_ABORTED: &str = "llm:stream_aborted";
/// The key that marks a stderr line as an event.
pub(crate) const LINE_KEY: &str = "amplifier_event";

/// Strings in debug events are cut to this many characters.
const DEBUG_STRING_LIMIT: usize = 500;

/// Headers whose values are credentials.
const SECRET_HEADERS: &[&str] = &["authorization", "x-amz-security-token"];

/// The stderr line for `event` with `data`, with every secret in `secrets` replaced.
pub(crate) fn line(event: &str, data: &Value, secrets: &[&str]) -> String {
    // Written straight into one buffer sized for it, rather than through a `json!` object,
    // which would copy `data` (a stream's text deltas) once more.
    let mut out = Vec::with_capacity(crate::json_write::capacity(data) + 64);
    out.extend_from_slice(format!("{{\"{LINE_KEY}\":").as_bytes());
    crate::json_write::write_str(&mut out, event);
    out.extend_from_slice(b",\"data\":");
    crate::json_write::write_value(&mut out, data);
    out.push(b'}');
    let mut text = String::from_utf8(out).expect("JSON written from strings is UTF-8");
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        // Secrets may appear JSON-escaped (a `/` never is, a `"` or `\` would be). A scan finds
        // them; a copy is made only where one is.
        let mut quoted = Vec::new();
        crate::json_write::write_str(&mut quoted, secret);
        let escaped = std::str::from_utf8(&quoted[1..quoted.len() - 1]).expect("JSON written from a string is UTF-8");
        let needles = [*secret, escaped];
        for needle in if escaped == *secret { &needles[..1] } else { &needles[..] } {
            if text.contains(needle) {
                text = text.replace(needle, REDACTED);
            }
        }
    }
    text
}

/// Headers as a JSON object, credential values redacted.
pub(crate) fn redacted_headers(headers: &[(String, String)]) -> Value {
    let mut out = Map::new();
    for (k, v) in headers {
        let value = if SECRET_HEADERS.contains(&k.to_ascii_lowercase().as_str()) {
            // Keep the scheme and key id so a reader sees what kind of auth was used.
            match v.split_once("Signature=") {
                Some((head, _)) if v.starts_with("AWS4-HMAC-SHA256") => format!("{head}Signature={REDACTED}"),
                _ => REDACTED.to_string(),
            }
        } else {
            v.clone()
        };
        out.insert(k.clone(), Value::String(value));
    }
    Value::Object(out)
}

/// `value` with every string longer than the debug limit cut, saying how much was cut.
pub(crate) fn truncated(value: &Value) -> Value {
    match value {
        Value::String(s) if s.chars().count() > DEBUG_STRING_LIMIT => {
            let kept: String = s.chars().take(DEBUG_STRING_LIMIT).collect();
            Value::String(format!("{kept}… ({} more characters)", s.chars().count() - DEBUG_STRING_LIMIT))
        }
        Value::Array(items) => Value::Array(items.iter().map(truncated).collect()),
        // Inserted one by one: collecting into a map sorts first, a stable sort's code for one call.
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(k.clone(), truncated(v));
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// The normative `usage` payload of `llm:response`: input (fresh + cache reads), output, and cache counts
/// only when non-zero.
pub(crate) fn usage_payload(usage: &crate::contract::messages::Usage) -> Value {
    let mut u = json!({"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens});
    if let Some(n) = usage.cache_read_tokens {
        u["cache_read_tokens"] = json!(n);
    }
    if let Some(n) = usage.cache_write_tokens {
        u["cache_write_tokens"] = json!(n);
    }
    u
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_scrubbed_of_secrets_even_when_escaped() {
        let data = json!({"note": "key wJal/rXUtn\"FE and token TOKEN1234"});
        let l = line(LLM_REQUEST_RAW, &data, &["wJal/rXUtn\"FE", "TOKEN1234"]);
        assert!(!l.contains("wJal") && !l.contains("TOKEN1234"), "{l}");
        assert!(l.starts_with("{\"amplifier_event\":\"llm:request:raw\""), "{l}");
    }

    #[test]
    fn credential_headers_are_redacted() {
        let h = redacted_headers(&[
            ("authorization".into(), "AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=a, Signature=abc".into()),
            ("X-Amz-Security-Token".into(), "tok".into()),
            ("content-type".into(), "application/json".into()),
        ]);
        assert_eq!(h["authorization"], "AWS4-HMAC-SHA256 Credential=AKID/x, SignedHeaders=a, Signature=<redacted>");
        assert_eq!(h["X-Amz-Security-Token"], REDACTED);
        assert_eq!(h["content-type"], "application/json");
    }

    #[test]
    fn debug_payloads_truncate_long_strings() {
        let v = truncated(&json!({"a": ["x".repeat(600)]}));
        assert!(v["a"][0].as_str().unwrap().ends_with("… (100 more characters)"));
    }
}
