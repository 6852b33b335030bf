//! One Bedrock call's machinery, shared by `complete` (provider.rs) and the stream
//! (stream.rs): its hook events, the one retry loop, how a response is finished for the
//! caller, and the rule for continuing an answer cut at `max_tokens`.

pub mod prepare;
pub mod retry;
pub mod stream;

use std::time::Duration;

use serde_json::{json, Value};

use crate::call::prepare::PreparedCall;
use crate::call::retry::RetryPolicy;
use crate::contract::messages::{ChatResponse, ContentBlock};
use crate::error::{ErrorKind, ProviderError};
use crate::hooks::{
    self, LLM_REQUEST, LLM_REQUEST_DEBUG, LLM_REQUEST_RAW, LLM_RESPONSE, LLM_RESPONSE_DEBUG, LLM_RESPONSE_RAW, PROVIDER_CONFIG_WARNING,
    PROVIDER_CONTINUATION, PROVIDER_MODEL_DEPRECATED, PROVIDER_MODEL_FALLBACK, PROVIDER_RETRY, PROVIDER_THROTTLE,
    PROVIDER_TOOL_SEQUENCE_REPAIRED,
};
use crate::port::Platform;
use crate::translate;
use crate::wire::bedrock::Next;
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
        Emitter { platform, call, secrets: call.config.credentials.secrets() }
    }

    /// Every event names the provider and model, and carries the call's own `request_id`: the
    /// Amplifier kernel pairs a call's events by it (and keeps a provider's value).
    pub(crate) fn emit(&self, event: &str, mut data: Value) {
        data["provider"] = json!("bedrock");
        data["model"] = json!(self.call.model_id);
        data["request_id"] = json!(self.call.call_id);
        self.platform.emit(&hooks::line(event, &data, &self.secrets));
    }

    /// `provider:throttle` (for a throttling error) and `provider:retry`, before a wait.
    fn retry(&self, attempt: u32, delay: Option<Duration>, error: &ProviderError) {
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
        for (key, near) in &c.config_warnings {
            let message = match near {
                Some(k) => format!("unknown config key `{key}` is ignored: did you mean `{k}`?"),
                None => format!("unknown config key `{key}` is ignored: see the configuration keys in get-info"),
            };
            self.platform.warn(&message);
            self.emit(PROVIDER_CONFIG_WARNING, json!({"key": key, "closest_key": near, "message": message}));
        }
        if !c.repaired_tool_calls.is_empty() {
            self.emit(
                PROVIDER_TOOL_SEQUENCE_REPAIRED,
                json!({"tool_call_ids": c.repaired_tool_calls, "count": c.repaired_tool_calls.len()}),
            );
        }
        if let Some(why) = c.deprecated {
            self.platform.warn(why);
            self.emit(PROVIDER_MODEL_DEPRECATED, json!({"message": why}));
        }
        self.emit(
            LLM_REQUEST,
            json!({
                "message_count": c.message_count,
                "stream": stream,
                "max_tokens": c.body["max_tokens"],
                "thinking_budget": c.thinking_budget,
                "effort": c.effort,
                "api": c.api.name(),
            }),
        );
        if c.config.debug {
            self.emit(LLM_REQUEST_DEBUG, json!({"request": hooks::truncated(&c.body)}));
        }
        if c.config.raw_debug {
            self.emit(
                LLM_REQUEST_RAW,
                json!({"method": "POST", "url": c.http.url(), "headers": hooks::redacted_headers(&c.http.headers), "body": c.body}),
            );
        }
    }

    fn fallback(&self, from: &str, error: &ProviderError) {
        self.emit(PROVIDER_MODEL_FALLBACK, json!({"from": from, "to": self.call.model_id, "reason": error.message}));
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
        if let Some(d) = translate::degradation(&self.call.adjustments) {
            data["degradation"] = d;
        }
        if let Some(t) = ttft {
            data["stream"] = json!(true);
            data["time_to_first_token_ms"] = json!(t);
        }
        self.emit(LLM_RESPONSE, data);
    }
}

/// Attempts made so far for one call and the time spent waiting between them.
#[derive(Debug, Default)]
pub(crate) struct Attempts {
    /// Attempts started.
    pub(crate) count: u32,
    waited: Duration,
}

impl Attempts {
    /// Waits before another attempt after `error`, if the call's retry policy allows one, and
    /// reports it (`provider:throttle`, `provider:retry`). A wait the service asked for
    /// (`retry-after`) is the least the backoff waits.
    pub(crate) fn may_retry(
        &mut self,
        platform: &dyn Platform,
        call: &PreparedCall,
        error: &ProviderError,
        after: Option<Duration>,
    ) -> bool {
        let policy = RetryPolicy { max_retries: call.config.max_retries, budget: call.config.retry_budget };
        let wait = RetryPolicy::backoff(self.count.saturating_sub(1), platform.random_u64()).max(after.unwrap_or_default());
        let allowed = policy.allows(self.count.saturating_sub(1), self.waited, wait);
        Emitter::new(platform, call).retry(self.count, allowed.then_some(wait), error);
        if !allowed {
            return false;
        }
        platform.sleep(wait);
        self.waited += wait;
        true
    }
}

/// The one retry loop: runs `once` until it succeeds, fails for good, or the retry policy says
/// stop; an id Bedrock refuses moves the call to the model's next id (no wait, once per id).
pub(crate) fn with_retries<T>(
    platform: &dyn Platform,
    call: &mut PreparedCall,
    attempts: &mut Attempts,
    mut once: impl FnMut(&PreparedCall, u32) -> Result<T, (ProviderError, Next)>,
) -> Result<T, ProviderError> {
    loop {
        attempts.count += 1;
        let (error, next) = match once(call, attempts.count) {
            Ok(v) => return Ok(v),
            Err(failure) => failure,
        };
        match next {
            Next::OtherModelId => {
                // Bedrock's refusal, without the advice that follows it.
                let reason = error.message.find("): ").map_or(error.message.as_str(), |i| &error.message[..=i]);
                if let Some(from) = call.fall_back(platform, reason)? {
                    Emitter::new(platform, call).fallback(&from, &error);
                    continue;
                }
            }
            Next::Retry { after } if attempts.may_retry(platform, call, &error, after) => continue,
            _ => {}
        }
        return Err(error.after_attempts(attempts.count));
    }
}

/// A transport failure as an attempt's outcome.
pub(crate) fn network_failure(e: crate::wire::transport::TransportError) -> (ProviderError, Next) {
    let next = if e.is_retryable() { Next::Retry { after: None } } else { Next::Stop };
    (e.into(), next)
}

/// The ChatResponse as the caller gets it: the answer tool's input as text, and what was
/// changed from the request in `degradation`.
pub(crate) fn finish_response(mut response: ChatResponse, call: &PreparedCall) -> ChatResponse {
    if let Some(tool) = &call.answer_tool {
        crate::response::answer_as_text(&mut response, tool);
    }
    response.degradation = translate::degradation(&call.adjustments);
    response
}

/// The request again, with `prefill` as the start of the assistant's turn, which Claude then
/// continues.
pub(crate) fn with_prefill(request_json: &[u8], prefill: &str) -> Result<Vec<u8>, ProviderError> {
    let mut next: Value = serde_json::from_slice(request_json).map_err(|e| ProviderError::validation(e.to_string()))?;
    if let Some(messages) = next.get_mut("messages").and_then(Value::as_array_mut) {
        messages.push(json!({"role": "assistant", "content": prefill}));
    }
    Ok(crate::contract::json_write::to_vec(&next))
}

/// The text to continue from, when `response` stopped at `max_tokens` inside text: what it said
/// so far without trailing whitespace (Anthropic refuses a prefill that ends in whitespace).
/// `None` when it must not be continued: a tool call or thinking is in it, or it did not stop
/// for length.
pub(crate) fn continuable_text(response: &ChatResponse) -> Option<String> {
    if response.finish_reason.as_deref() != Some("length") {
        return None;
    }
    let mut text = String::new();
    for block in &response.content {
        match block {
            ContentBlock::Text { text: t, .. } => text.push_str(t),
            _ => return None,
        }
    }
    let trimmed = text.trim_end();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}
