//! The hook events of one call, scrubbed of its secrets: `llm:request` and its debug forms,
//! config warnings, repairs, deprecation, retries, fallbacks, continuation, `llm:response`.

use std::time::Duration;

use serde_json::{json, Value};

use crate::call::prepare::PreparedCall;
use crate::contract::messages::ChatResponse;
use crate::error::{ErrorKind, ProviderError};
use crate::hooks;
use crate::hooks::{
    LLM_REQUEST, LLM_REQUEST_DEBUG, LLM_REQUEST_RAW, LLM_RESPONSE, LLM_RESPONSE_DEBUG, LLM_RESPONSE_RAW, PROVIDER_CONFIG_WARNING,
    PROVIDER_CONTINUATION, PROVIDER_MODEL_DEPRECATED, PROVIDER_MODEL_FALLBACK, PROVIDER_RETRY, PROVIDER_THROTTLE,
    PROVIDER_TOOL_SEQUENCE_REPAIRED,
};
use crate::port::Platform;
use crate::translate;
use crate::wire::transport::HttpResponse;

/// What `llm:response` reports about a call that succeeded.
pub(crate) struct Finished {
    pub(crate) usage: Option<crate::contract::messages::Usage>,
    pub(crate) finish_reason: Option<String>,
    pub(crate) request_id: Option<Value>,
}

impl Finished {
    pub(crate) fn of(r: &ChatResponse) -> Self {
        Finished {
            usage: r.usage.clone(),
            finish_reason: r.finish_reason.clone(),
            request_id: r.metadata.as_ref().and_then(|m| m.get("request_id")).cloned(),
        }
    }
}

/// Emits the call's events, scrubbed of its secrets.
pub(crate) struct Emitter<'a> {
    platform: &'a dyn Platform,
    call: &'a PreparedCall,
    secrets: Vec<&'a str>,
}

impl<'a> Emitter<'a> {
    pub(crate) fn new(platform: &'a dyn Platform, call: &'a PreparedCall) -> Self {
        Emitter { platform, call, secrets: call.secrets() }
    }

    /// Every event names the provider and model, and carries the call's own `request_id`: the
    /// Amplifier kernel pairs a call's events by it (and keeps a provider's value).
    pub(crate) fn emit(&self, event: &str, mut data: Value) {
        data["provider"] = json!("bedrock");
        data["model"] = json!(self.call.sent.model_id);
        data["request_id"] = json!(self.call.report.call_id);
        self.platform.emit(&hooks::line(event, &data, &self.secrets));
    }

    /// `provider:throttle` (for a throttling error) and `provider:retry`, before a wait.
    pub(crate) fn retry(&self, attempt: u32, delay: Option<Duration>, error: &ProviderError) {
        let seconds = delay.map(|d| d.as_secs_f64());
        if error.kind == ErrorKind::Throttled {
            self.emit(PROVIDER_THROTTLE, json!({"attempt": attempt, "delay": seconds, "error_message": error.to_string()}));
        }
        if let Some(delay) = seconds {
            self.emit(
                PROVIDER_RETRY,
                json!({
                    "attempt": attempt + 1,
                    "max_retries": self.call.config.max_retries,
                    "delay": delay,
                    "reason": error.kind.prefix(),
                    "error_type": error.kind.prefix(),
                    "error_message": error.to_string(),
                }),
            );
        }
    }

    /// `provider:continuation`, before another round of an answer cut at `max_tokens`.
    pub(crate) fn continuation(&self, round: u32, output_tokens: i64, text_so_far: &str) {
        self.emit(
            PROVIDER_CONTINUATION,
            json!({
                "round": round,
                "max_continuations": self.call.config.max_continuations,
                "output_tokens": output_tokens,
                "characters": text_so_far.chars().count(),
            }),
        );
    }

    /// Before sending: config warnings, repairs made, then `llm:request` (and debug events).
    pub(crate) fn request(&self, stream: bool) {
        let c = self.call;
        for (key, near) in &c.report.config_warnings {
            let message = match near {
                Some(k) => format!("unknown config key `{key}` is ignored: did you mean `{k}`?"),
                None => format!("unknown config key `{key}` is ignored: see the configuration keys in get-info"),
            };
            self.platform.warn(&message);
            self.emit(PROVIDER_CONFIG_WARNING, json!({"key": key, "closest_key": near, "message": message}));
        }
        if !c.report.repaired_tool_calls.is_empty() {
            self.emit(
                PROVIDER_TOOL_SEQUENCE_REPAIRED,
                json!({"tool_call_ids": c.report.repaired_tool_calls, "count": c.report.repaired_tool_calls.len()}),
            );
        }
        if let Some(why) = c.report.deprecated {
            self.platform.warn(why);
            self.emit(PROVIDER_MODEL_DEPRECATED, json!({"message": why}));
        }
        self.emit(
            LLM_REQUEST,
            json!({
                "message_count": c.report.message_count,
                "stream": stream,
                "max_tokens": c.report.max_tokens,
                "thinking_budget": c.report.thinking_budget,
                "effort": c.report.effort,
                "api": c.sent.api.name(),
            }),
        );
        if c.config.debug {
            self.emit(LLM_REQUEST_DEBUG, json!({"request": c.report.body.as_ref().map(hooks::truncated)}));
        }
        if c.config.raw_debug {
            self.emit(
                LLM_REQUEST_RAW,
                json!({"method": "POST", "url": c.sent.http.url(), "headers": hooks::redacted_headers(&c.sent.http.headers), "body": c.report.body}),
            );
        }
    }

    pub(crate) fn fallback(&self, from: &str, error: &ProviderError) {
        self.emit(PROVIDER_MODEL_FALLBACK, json!({"from": from, "to": self.call.sent.model_id, "reason": error.message}));
    }

    pub(crate) fn raw_response(&self, attempt: u32, response: &HttpResponse) {
        let c = self.call;
        if !(c.config.debug || c.config.raw_debug) {
            return;
        }
        let body: Value =
            serde_json::from_slice(&response.body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
        if c.config.debug {
            self.emit(LLM_RESPONSE_DEBUG, json!({"attempt": attempt, "status": response.status, "response": hooks::truncated(&body)}));
        }
        if c.config.raw_debug {
            self.emit(
                LLM_RESPONSE_RAW,
                json!({"attempt": attempt, "status": response.status, "headers": hooks::redacted_headers(&response.headers), "body": body}),
            );
        }
    }

    pub(crate) fn response(&self, outcome: Result<Finished, &ProviderError>, duration: Duration, first_token: Option<Duration>) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let duration_ms = ms(duration);
        let ttft = first_token.map(ms);
        let mut data = match outcome {
            Ok(f) => json!({
                "status": "ok",
                "duration_ms": duration_ms,
                "usage": f.usage.as_ref().map(hooks::usage_payload),
                "finish_reason": f.finish_reason,
                // Not `request_id`: that is the call's own id, which pairs its events.
                "bedrock_request_id": f.request_id,
            }),
            Err(e) => json!({
                "status": "error",
                "duration_ms": duration_ms,
                "error": e.to_string(),
                "error_kind": e.kind.prefix(),
            }),
        };
        if let Some(d) = translate::degradation(&self.call.report.adjustments) {
            data["degradation"] = d;
        }
        if let Some(t) = ttft {
            data["stream"] = json!(true);
            data["time_to_first_token_ms"] = json!(t);
        }
        self.emit(LLM_RESPONSE, data);
    }
}
