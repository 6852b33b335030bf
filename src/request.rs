//! From ChatRequest JSON to a signed Bedrock call: configuration, validation (or repair),
//! translation to the model's rules, the model id to call (and the ones to fall back to),
//! and SigV4. No network traffic happens here.

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use crate::bedrock::CallContext;
use crate::config::{self, ProviderConfig};
use crate::convert::{self, Adjustment};
use crate::error::{ErrorKind, ProviderError};
use crate::messages::ChatRequest;
use crate::models;
use crate::port::Platform;
use crate::sign::{self, Unsigned};
use crate::transport::{HttpRequest, Timeouts};
use crate::validate;

/// Everything in a model-id path segment is encoded except RFC 3986 unreserved characters,
/// exactly as botocore encodes the `{modelId}` label (`:` → `%3A`, `/` → `%2F`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The Bedrock operation to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `InvokeModel`: one JSON answer.
    Invoke,
    /// `InvokeModelWithResponseStream`: an event stream.
    InvokeStream,
    /// `CountTokens`: the input tokens the InvokeModel body would use, counted without
    /// running the model (and without charge).
    CountTokens,
}

impl Operation {
    /// The last segment of the operation's path.
    fn action(self) -> &'static str {
        match self {
            Operation::Invoke => "invoke",
            Operation::InvokeStream => "invoke-with-response-stream",
            Operation::CountTokens => "count-tokens",
        }
    }
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
    operation: Operation,
}

impl PreparedCall {
    /// Context for [`crate::bedrock::classify`].
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
        self.http = sign_for(&self.config, &self.region, &self.model_id, self.operation, std::mem::take(&mut self.http.body), platform)?;
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
    let mut request: ChatRequest = crate::parse::chat_request("request", request_json).map_err(ProviderError::validation)?;
    let config = ProviderConfig::resolve(platform.source())?;
    let config_warnings = config::unknown_keys(&platform.source().keys());
    let repaired_tool_calls = if config.repair_tool_sequences { validate::repair(&mut request) } else { Vec::new() };
    validate::validate(&request)?;

    let region = config.require_region()?.to_string();
    let requested = request.model.clone().filter(|m| !m.trim().is_empty()).unwrap_or_else(|| config.default_model.clone());
    let requested = requested.trim();
    // CountTokens takes the foundation model itself: Bedrock refuses inference-profile ids there.
    let mut fallbacks = match operation {
        Operation::CountTokens => vec![models::base_model_id(requested).to_string()],
        _ => models::candidates(requested, &region, config.use_cross_region_inference),
    };
    let model_id = fallbacks.remove(0);
    let translated = convert::to_anthropic(&request, &config, models::lookup(&model_id))?;
    let body = match operation {
        Operation::CountTokens => {
            use base64::Engine as _;
            let invoke_body = base64::engine::general_purpose::STANDARD.encode(crate::json_write::to_vec(&translated.body));
            crate::json_write::to_vec(&serde_json::json!({"input": {"invokeModel": {"body": invoke_body}}}))
        }
        _ => crate::json_write::to_vec(&translated.body),
    };
    let http = sign_for(&config, &region, &model_id, operation, body, platform)?;

    let total = match request.timeout {
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
    if operation == Operation::InvokeStream {
        timeouts = timeouts.streaming(config.stream_idle_timeout);
    }
    Ok(PreparedCall {
        http,
        timeouts,
        cross_region: model_id != requested,
        model_id,
        region,
        body: translated.body,
        message_count: request.messages.len(),
        thinking_budget: translated.thinking_budget,
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

/// The signed HTTP request calling `model_id` with `body`.
fn sign_for(
    config: &ProviderConfig,
    region: &str,
    model_id: &str,
    operation: Operation,
    body: Vec<u8>,
    platform: &dyn Platform,
) -> Result<HttpRequest, ProviderError> {
    let endpoint = config.endpoint()?;
    let path = format!("{}/model/{}/{}", endpoint.base_path, utf8_percent_encode(model_id, PATH_SEGMENT), operation.action());
    let url = format!("{}://{}{path}", endpoint.scheme, endpoint.authority);
    let mut headers: Vec<(String, String)> = match operation {
        Operation::Invoke | Operation::CountTokens => {
            vec![("accept".into(), "application/json".into()), ("content-type".into(), "application/json".into())]
        }
        Operation::InvokeStream => {
            vec![("content-type".into(), "application/json".into()), ("x-amzn-bedrock-accept".into(), "application/json".into())]
        }
    };
    // Signed with the rest, so nobody on the way can strip or swap the guardrail.
    if let (Some(g), Operation::Invoke | Operation::InvokeStream) = (&config.guardrail, operation) {
        headers.push(("x-amzn-bedrock-guardrailidentifier".into(), g.identifier.clone()));
        headers.push(("x-amzn-bedrock-guardrailversion".into(), g.version.clone()));
        headers.push(("x-amzn-bedrock-trace".into(), g.trace.clone()));
    }
    let to_sign: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let added = sign::authorize(
        &Unsigned { method: "POST", url: &url, headers: &to_sign, body: &body },
        &config.credentials,
        region,
        platform.now(),
        config.aws_profile.as_deref(),
    )
    .map_err(|e| match e {
        sign::SignError::NoCredentials { .. } => ProviderError::new(ErrorKind::Auth, e.to_string()),
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
