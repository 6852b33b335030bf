//! From ChatRequest JSON to a signed Bedrock call: configuration, validation (or repair),
//! translation to the model's rules, the model id to call (and the ones to fall back to),
//! and SigV4. No network traffic happens here.

use std::time::Duration;

use serde_json::Value;

use crate::config::{self, ProviderConfig};
use crate::contract::messages::ChatRequest;
use crate::contract::validate;
use crate::error::{ErrorKind, ProviderError};
use crate::models;
use crate::port::Platform;
use crate::translate::{self, Adjustment};
use crate::wire::bedrock::CallContext;
use crate::wire::sign::{self, Unsigned};
use crate::wire::transport::{HttpRequest, Timeouts};
use crate::wire::{self, Api};

/// What a call asks of Bedrock, whichever API serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Operation {
    /// One JSON answer (InvokeModel; a Messages API call without `stream`).
    Complete,
    /// An answer streamed as it is generated (InvokeModelWithResponseStream's event stream;
    /// the Messages API's server-sent events).
    Stream,
    /// `CountTokens`: the input tokens the InvokeModel body would use, counted without
    /// running the model (and without charge). InvokeModel only.
    CountTokens,
}

/// A fully prepared Bedrock call: what to send and the context for errors.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    /// The signed request.
    pub http: HttpRequest,
    /// Limits for the exchange.
    pub timeouts: Timeouts,
    /// Model id in the URL.
    pub model_id: String,
    /// Signing region.
    pub region: String,
    /// Whether we chose a cross-region profile (the caller gave a bare id).
    pub cross_region: bool,
    /// The configuration used.
    pub config: ProviderConfig,
    /// The Anthropic body as JSON, for debug events.
    pub body: Value,
    /// Messages in the request, for events.
    pub message_count: usize,
    /// Thinking budget sent, if any.
    pub thinking_budget: Option<u32>,
    /// Changes made so the model takes the request (reported as `degradation`).
    pub adjustments: Vec<Adjustment>,
    /// The answer tool of a JSON `response_format`.
    pub answer_tool: Option<String>,
    /// Other ids for the same model, to try in order when Bedrock refuses this one as an
    /// unknown profile or as not callable on demand.
    pub fallbacks: Vec<String>,
    /// Unknown config keys, each with the closest known key.
    pub config_warnings: Vec<(String, Option<&'static str>)>,
    /// Ids of tool calls answered with a synthetic error result.
    pub repaired_tool_calls: Vec<String>,
    /// This call's own id (a UUID v4), in every event it emits: the Amplifier kernel pairs a
    /// call's `llm:request`, `llm:response`, retry and stream events by it.
    pub call_id: String,
    /// The API the call goes through.
    pub api: Api,
    /// Whether the model thinks in this call (budget or adaptive thinking): such answers are
    /// never continued.
    pub thinking_on: bool,
    /// The `output_config.effort` sent, if any.
    pub effort: Option<&'static str>,
    /// Why the model is deprecated, when it is (a `provider:model_deprecated` warning).
    pub deprecated: Option<&'static str>,
    /// The betas of a Messages API call, sent as its `anthropic-beta` header.
    beta: Option<String>,
    operation: Operation,
}

impl PreparedCall {
    /// Context for [`crate::wire::bedrock::classify`].
    pub fn context(&self) -> CallContext<'_> {
        CallContext {
            model_id: &self.model_id,
            region: &self.region,
            cross_region: self.cross_region,
            cross_region_enabled: self.config.use_cross_region_inference,
            more_ids: !self.fallbacks.is_empty(),
        }
    }

    /// Moves to the next id for the model, signed afresh; `None` when there is none left.
    /// Returns the id given up.
    pub fn fall_back(&mut self, platform: &dyn Platform, reason: &str) -> Result<Option<String>, ProviderError> {
        if self.fallbacks.is_empty() {
            return Ok(None);
        }
        let next = self.fallbacks.remove(0);
        let previous = std::mem::replace(&mut self.model_id, next);
        let target = Target { api: self.api, operation: self.operation, model_id: &self.model_id, beta: self.beta.as_deref() };
        self.http = sign_for(&self.config, &self.region, &target, std::mem::take(&mut self.http.body), platform)?;
        match self.adjustments.iter_mut().find(|a| a.field == "model") {
            Some(a) => {
                a.actual = self.model_id.clone();
                a.reason = format!("{}; then {reason}", a.reason);
            }
            None => self.adjustments.push(Adjustment {
                field: "model",
                requested: previous.clone(),
                actual: self.model_id.clone(),
                reason: format!("Bedrock refused `{previous}` in {}: {reason}", self.region),
            }),
        }
        Ok(Some(previous))
    }
}

/// Parses, validates (or repairs), translates and signs a ChatRequest.
pub fn prepare(request_json: &[u8], platform: &dyn Platform, operation: Operation) -> Result<PreparedCall, ProviderError> {
    let mut request: ChatRequest = crate::contract::parse::chat_request("request", request_json).map_err(ProviderError::validation)?;
    let config = ProviderConfig::resolve(platform.source())?;
    let config_warnings = config::unknown_keys(&platform.source().keys());
    let repaired_tool_calls = if config.repair_tool_sequences { validate::repair(&mut request) } else { Vec::new() };
    validate::validate(&request)?;

    let region = config.require_region()?.to_string();
    let requested = request.model.clone().filter(|m| !m.trim().is_empty()).unwrap_or_else(|| config.default_model.clone());
    let requested = requested.trim();
    let api = models::api_for(requested, config.api);
    if api == Api::Messages && (models::is_routed(requested) || models::is_versioned(requested)) {
        return Err(ProviderError::validation(format!(
            "model `{requested}` is an InvokeModel id (a profile, an ARN or a versioned id), but `api` is messages, which takes \
             bare ids (anthropic.claude-sonnet-5): set `api` to auto or invoke"
        )));
    }
    let mut fallbacks = match (api, operation) {
        (Api::Messages, Operation::CountTokens) => {
            return Err(ProviderError::new(
                ErrorKind::Model,
                format!(
                    "count-tokens is not available for `{requested}`: Bedrock counts tokens for InvokeModel models only, and \
                     this one is served by the Messages API; read `usage.input_tokens` of an answer instead"
                ),
            ))
        }
        // CountTokens takes the foundation model itself: Bedrock refuses inference-profile ids there.
        (_, Operation::CountTokens) => vec![models::base_model_id(requested).to_string()],
        // The Messages API takes the bare id and nothing else.
        (Api::Messages, _) => vec![requested.to_string()],
        _ => models::candidates(requested, &region, config.use_cross_region_inference),
    };
    let model_id = fallbacks.remove(0);
    let spec = models::lookup(&model_id).filter(|m| m.api == api || api == Api::Invoke);
    let (message_count, timeout) = (request.messages.len(), request.timeout);
    // The messages move into the translated body, which then holds everything sent: a big
    // request is held once here, not twice.
    let mut translated = translate::to_anthropic(&mut request, &config, spec, api)?;
    drop(request);
    let (body_value, beta) = match (api, std::mem::take(&mut translated.body)) {
        (Api::Messages, Value::Object(map)) => {
            let (map, beta) = wire::messages::body(map, &model_id, operation);
            (Value::Object(map), beta)
        }
        (_, body) => (body, None),
    };
    // Sized before it is written, so a body Bedrock would refuse is never written, and the
    // buffer of one it takes is allocated once, at its size.
    let size = crate::contract::json_write::written_len(&body_value);
    if api == Api::Invoke && size > INVOKE_MAX_BODY_BYTES {
        drop(body_value);
        return Err(too_large(request_json, size));
    }
    let mut body = Vec::with_capacity(size);
    crate::contract::json_write::write_value(&mut body, &body_value);
    if operation == Operation::CountTokens {
        use base64::Engine as _;
        let invoke_body = base64::engine::general_purpose::STANDARD.encode(&body);
        body = crate::contract::json_write::to_vec(&serde_json::json!({"input": {"invokeModel": {"body": invoke_body}}}));
    }
    let target = Target { api, operation, model_id: &model_id, beta: beta.as_deref() };
    let http = sign_for(&config, &region, &target, body, platform)?;

    let total = match timeout {
        Some(t) if t.is_finite() && t > 0.0 => Duration::from_secs_f64(t.min(86_400.0)),
        Some(t) => {
            return Err(ProviderError::validation(format!(
                "`timeout` is {}: it must be a positive number of seconds",
                crate::error::number(t)
            )))
        }
        None => config.timeout,
    };
    let mut timeouts = Timeouts::new(total, config.connect_timeout, config.first_byte_timeout, config.between_bytes_timeout);
    if operation == Operation::Stream {
        timeouts = timeouts.streaming(config.stream_idle_timeout);
    }
    Ok(PreparedCall {
        http,
        timeouts,
        cross_region: model_id != requested,
        model_id,
        region,
        body: body_value,
        message_count,
        thinking_budget: translated.thinking_budget,
        thinking_on: translated.thinking_budget.is_some() || translated.adaptive_thinking,
        effort: translated.effort,
        deprecated: spec.and_then(|m| m.deprecated),
        api,
        beta,
        adjustments: translated.adjustments,
        answer_tool: translated.answer_tool,
        fallbacks,
        config_warnings,
        repaired_tool_calls,
        call_id: uuid_v4(platform.random_u64(), platform.random_u64()),
        operation,
        config,
    })
}

/// The largest body InvokeModel takes. AWS's Bedrock user guide ("Anthropic Claude Messages
/// API", Request and Response): "The maximum size of the payload you can send in a request is
/// 20MB"; Anthropic's "Claude on Amazon Bedrock (legacy)" page gives the same 20 MB. Neither says
/// whether that is 10^6- or 2^20-byte megabytes, so the smaller reading, 20,000,000 bytes, is the
/// one applied. The Messages API (`bedrock-mantle`) has no published limit of its own (AWS's
/// `inference-messages-api` and `quotas-mantle` pages name none; the 32 MB of Anthropic's API
/// reference is Anthropic's own endpoint), so no limit is applied there.
pub const INVOKE_MAX_BODY_BYTES: usize = 20_000_000;

/// The `validation:` error of a request whose InvokeModel body would be `size` bytes, over
/// [`INVOKE_MAX_BODY_BYTES`], naming the field that holds most of it.
fn too_large(request_json: &[u8], size: usize) -> ProviderError {
    let (path, bytes) = serde_json::from_slice(request_json).map(|v| bulk(&v)).unwrap_or_default();
    let what = if path.is_empty() { "the conversation as a whole".to_string() } else { format!("`{path}` ({bytes} bytes)") };
    ProviderError::validation(format!(
        "the request is too large for Bedrock: its InvokeModel body would be {size} bytes, and InvokeModel takes at most 20 MB \
         (20000000 bytes); most of it is {what}: shrink that, or spread the content over several requests"
    ))
}

/// Where most of a request's bytes are: from the root into the member that holds the most of
/// them, for as long as that member holds at least half; its path and size in bytes.
fn bulk(value: &Value) -> (String, usize) {
    fn size(v: &Value) -> usize {
        match v {
            Value::String(s) => s.len(),
            Value::Array(items) => items.iter().map(size).sum(),
            Value::Object(map) => map.iter().map(|(k, v)| k.len() + size(v)).sum(),
            _ => 8,
        }
    }
    let (mut path, mut at, mut total) = (String::new(), value, size(value));
    loop {
        let members: Vec<(String, &Value)> = match at {
            Value::Array(items) => items.iter().enumerate().map(|(i, v)| (format!("[{i}]"), v)).collect(),
            Value::Object(map) => map.iter().map(|(k, v)| (if path.is_empty() { k.clone() } else { format!(".{k}") }, v)).collect(),
            _ => break,
        };
        let Some((step, member, n)) = members.into_iter().map(|(step, v)| (step, v, size(v))).max_by_key(|m| m.2) else { break };
        if n * 2 < total {
            break;
        }
        (at, total) = (member, n);
        path.push_str(&step);
    }
    (path, total)
}

/// Where a call goes: the API, what it asks, the model, and a Messages API call's betas.
#[derive(Debug, Clone, Copy)]
struct Target<'a> {
    api: Api,
    operation: Operation,
    model_id: &'a str,
    beta: Option<&'a str>,
}

/// The signed HTTP request of `target` with `body`.
fn sign_for(
    config: &ProviderConfig,
    region: &str,
    target: &Target<'_>,
    body: Vec<u8>,
    platform: &dyn Platform,
) -> Result<HttpRequest, ProviderError> {
    let endpoint = config.endpoint(target.api)?;
    let (path, mut headers) = match target.api {
        Api::Messages => (wire::messages::path(&endpoint, target.operation), wire::messages::headers(target.beta)),
        _ => (wire::invoke::path(&endpoint, target.model_id, target.operation), wire::invoke::headers(target.operation, config)),
    };
    let url = format!("{}://{}{path}", endpoint.scheme, endpoint.authority);
    let to_sign: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let added = sign::authorize(
        &Unsigned { method: "POST", url: &url, headers: &to_sign, body: &body },
        &config.credentials,
        region,
        target.api.signing_name(),
        platform.now(),
        config.aws_profile.as_deref(),
    )
    .map_err(|e| match e {
        sign::SignError::NoCredentials { .. } => ProviderError::new(ErrorKind::Unauthenticated, e.to_string()),
        sign::SignError::Signer(_) => ProviderError::validation(e.to_string()),
    })?;
    headers.extend(added);
    // Added after signing, as botocore does: Content-Length is not a signed header.
    headers.push(("content-length".into(), body.len().to_string()));
    Ok(HttpRequest { scheme: endpoint.scheme, authority: endpoint.authority, path, headers, body })
}

/// A random (version 4) UUID from 128 random bits.
fn uuid_v4(high: u64, low: u64) -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&high.to_be_bytes());
    b[8..].copy_from_slice(&low.to_be_bytes());
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}
