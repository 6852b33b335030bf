//! From a parsed ChatRequest to a signed Bedrock call: validation (or repair), translation to
//! the model's rules, the model id to call (and the ones to fall back to), and SigV4. No
//! network traffic happens here. The configuration is read once per call ([`Setup`]), not once
//! per round.

use std::rc::Rc;
use std::time::Duration;

use serde_json::Value;

use crate::call::continuation::prefill_body;
use crate::config::{self, ProviderConfig};
use crate::contract::messages::{ChatRequest, ChatResponse};
use crate::contract::validate;
use crate::error::{ErrorKind, ProviderError};
use crate::models;
use crate::models::Api;
use crate::port::Platform;
use crate::translate::{self, Adjustment};
use crate::wire::bedrock::CallContext;
use crate::wire::sign::{self, Unsigned};
use crate::wire::transport::{HttpRequest, Timeouts};
use crate::wire::{self, Operation};

/// What a call reads from its surroundings once, however many rounds it takes: the
/// configuration, and the config keys it does not know (warned about in every round).
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// Shared by every round's call, not copied.
    pub(crate) config: Rc<ProviderConfig>,
    pub(crate) config_warnings: Vec<(String, Option<&'static str>)>,
}

impl Setup {
    /// What every call starts from: the request parsed (once) and the configuration read
    /// (once), in that order (a request that does not parse is the error, whatever the
    /// configuration).
    pub(crate) fn start(request_json: &[u8], platform: &dyn Platform) -> Result<(ChatRequest, Setup), ProviderError> {
        let request = crate::contract::parse::request(request_json)?;
        Ok((request, Setup::resolve(platform)?))
    }

    /// Reads the configuration from `platform`. Kept out of [`start`](Self::start): inlined, its
    /// locals share one stack frame with the parsed request's, and their offsets grow past one
    /// byte of LEB128 (about 230 bytes of the release component, measured).
    #[inline(never)]
    fn resolve(platform: &dyn Platform) -> Result<Setup, ProviderError> {
        let config = Rc::new(ProviderConfig::resolve(platform.source())?);
        let config_warnings = config::unknown_keys(&platform.source().keys());
        Ok(Setup { config, config_warnings })
    }
}

/// A fully prepared Bedrock call: what is sent, and what is reported about how it was made.
#[derive(Debug, Clone)]
pub(crate) struct PreparedCall {
    /// What goes to Bedrock.
    pub(crate) sent: Outbound,
    /// What the call's events and its answer report.
    pub(crate) report: Report,
    /// The configuration used.
    pub(crate) config: Rc<ProviderConfig>,
}

/// What goes to Bedrock, and what sending it to the model's next id needs.
#[derive(Debug, Clone)]
pub(crate) struct Outbound {
    /// The signed request.
    pub(crate) http: HttpRequest,
    /// Limits for the exchange.
    pub(crate) timeouts: Timeouts,
    /// Model id in the URL (or the Messages API body).
    pub(crate) model_id: String,
    /// Signing region.
    pub(crate) region: String,
    /// Whether we chose a cross-region profile (the caller gave a bare id).
    pub(crate) cross_region: bool,
    /// Other ids for the same model, to try in order when Bedrock refuses this one as an
    /// unknown profile or as not callable on demand.
    pub(crate) fallbacks: Vec<String>,
    /// The API the call goes through.
    pub(crate) api: Api,
    /// The betas of a Messages API call, sent as its `anthropic-beta` header.
    beta: Option<String>,
    operation: Operation,
    /// Whether the body ends in a continuation round's prefill, which the next round replaces.
    prefilled: bool,
}

/// What is reported about the call: in its hook events and in the answer (`degradation`, the
/// JSON `response_format` answer as text).
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// This call's own id (a UUID v4), in every event it emits: the Amplifier kernel pairs a
    /// call's `llm:request`, `llm:response`, retry and stream events by it.
    pub(crate) call_id: String,
    /// The Anthropic body as JSON, kept only when something reads it after it is written: the
    /// debug events show it, and a continuation round extends it
    /// ([`PreparedCall::continue_with`]).
    pub(crate) body: Option<Value>,
    /// `max_tokens` as sent.
    pub(crate) max_tokens: u32,
    /// Messages in the request.
    pub(crate) message_count: usize,
    /// Thinking budget sent, if any.
    pub(crate) thinking_budget: Option<u32>,
    /// Whether an answer cut at `max_tokens` may be continued: `max_continuations` allows it,
    /// the call asks for an answer (not a count), and the model does not think in it (budget or
    /// adaptive thinking: such answers are never continued).
    pub(crate) continuable: bool,
    /// The `output_config.effort` sent, if any.
    pub(crate) effort: Option<&'static str>,
    /// Changes made so the model takes the request (reported as `degradation`).
    pub(crate) adjustments: Vec<Adjustment>,
    /// The answer tool of a JSON `response_format`.
    pub(crate) answer_tool: Option<String>,
    /// Unknown config keys, each with the closest known key.
    pub(crate) config_warnings: Vec<(String, Option<&'static str>)>,
    /// Ids of tool calls answered with a synthetic error result.
    pub(crate) repaired_tool_calls: Vec<String>,
    /// Why the model is deprecated, when it is (a `provider:model_deprecated` warning).
    pub(crate) deprecated: Option<&'static str>,
}

impl Report {
    /// The ChatResponse as the caller gets it: the answer tool's input as text, and what was
    /// changed from the request in `degradation`.
    pub(crate) fn finish(&self, mut response: ChatResponse) -> ChatResponse {
        if let Some(tool) = &self.answer_tool {
            crate::response::answer_as_text(&mut response, tool);
        }
        response.degradation = crate::translate::degradation(&self.adjustments);
        response
    }
}

impl Outbound {
    /// What the call asks of Bedrock.
    pub(crate) fn operation(&self) -> Operation {
        self.operation
    }
}

impl PreparedCall {
    /// Context for [`crate::wire::bedrock::classify_response`].
    pub(crate) fn context(&self) -> CallContext<'_> {
        CallContext {
            model_id: &self.sent.model_id,
            region: &self.sent.region,
            cross_region: self.sent.cross_region,
            cross_region_enabled: self.config.use_cross_region_inference,
            more_ids: !self.sent.fallbacks.is_empty(),
        }
    }

    /// Every secret of the call's credentials, to scrub errors and events of them.
    pub(crate) fn secrets(&self) -> Vec<&str> {
        self.config.credentials.secrets()
    }

    /// Moves to the next id for the model, signed afresh; `None` when there is none left.
    /// Returns the id given up.
    pub(crate) fn fall_back(&mut self, platform: &dyn Platform, reason: &str) -> Result<Option<String>, ProviderError> {
        let sent = &mut self.sent;
        if sent.fallbacks.is_empty() {
            return Ok(None);
        }
        let next = sent.fallbacks.remove(0);
        let previous = std::mem::replace(&mut sent.model_id, next);
        let body = std::mem::take(&mut sent.http.body);
        self.sign(body, platform)?;
        let sent = &self.sent;
        match self.report.adjustments.iter_mut().find(|a| a.field == "model") {
            Some(a) => {
                a.actual = sent.model_id.clone();
                a.reason = format!("{}; then {reason}", a.reason);
            }
            None => self.report.adjustments.push(Adjustment {
                field: "model",
                requested: previous.clone(),
                actual: sent.model_id.clone(),
                reason: format!("Bedrock refused `{previous}` in {}: {reason}", sent.region),
            }),
        }
        Ok(Some(previous))
    }

    /// The body of the next round of a continued answer (`max_continuations`): the body sent
    /// before with `prefill` as the start of the assistant's turn (an earlier round's prefill
    /// replaced). The request is neither parsed nor translated again: a round differs from the
    /// one before only in its prefill. `None` when there is no next round to make: the call
    /// cannot be continued ([`Report::continuable`]), or the body would be over InvokeModel's
    /// limit, where the answer then stands as it is, cut at `max_tokens`, rather than the call
    /// failing after its answer had arrived.
    pub(crate) fn continuation_body(&mut self, prefill: &str) -> Option<Vec<u8>> {
        let (prefilled, continuable) = (self.sent.prefilled, self.report.continuable);
        let extended = continuable && self.report.body.as_mut().is_some_and(|body| prefill_body(body, prefill, prefilled));
        let body = self.report.body.as_ref().filter(|_| extended)?;
        let size = crate::json_write::written_len(body);
        if self.sent.api == Api::Invoke && size > INVOKE_MAX_BODY_BYTES {
            return None;
        }
        let mut bytes = Vec::with_capacity(size);
        crate::json_write::write_value(&mut bytes, body);
        Some(bytes)
    }

    /// Makes this call the next round of a continued answer, with the body
    /// [`continuation_body`](Self::continuation_body) made: signed afresh for the model id that
    /// answered, under a new call id.
    pub(crate) fn continue_with(&mut self, body: Vec<u8>, platform: &dyn Platform) -> Result<(), ProviderError> {
        self.sign(body, platform)?;
        if !self.sent.prefilled {
            // The caller's messages and the prefill, as `llm:request` counts them.
            self.report.message_count += 1;
            self.sent.prefilled = true;
        }
        self.report.call_id = uuid_v4(platform.random_u64(), platform.random_u64());
        Ok(())
    }

    /// Signs `body` for where the call now goes (its API, operation, model id and region).
    fn sign(&mut self, body: Vec<u8>, platform: &dyn Platform) -> Result<(), ProviderError> {
        let sent = &mut self.sent;
        let target = Target { api: sent.api, operation: sent.operation, model_id: &sent.model_id, beta: sent.beta.as_deref() };
        sent.http = sign_for(&self.config, &sent.region, &target, body, platform)?;
        Ok(())
    }
}

/// Validates (or repairs), translates and signs a parsed ChatRequest. `request_json` is the
/// request as its caller wrote it, read again only to name what makes a body too large for
/// InvokeModel.
pub(crate) fn prepare(
    mut request: ChatRequest,
    setup: &Setup,
    platform: &dyn Platform,
    operation: Operation,
    request_json: &[u8],
) -> Result<PreparedCall, ProviderError> {
    let config = &setup.config;
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
    let mut translated = translate::to_anthropic(&mut request, config, spec, api)?;
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
    let size = crate::json_write::written_len(&body_value);
    if api == Api::Invoke && size > INVOKE_MAX_BODY_BYTES {
        drop(body_value);
        return Err(too_large(serde_json::from_slice(request_json).ok().as_ref(), size));
    }
    let mut body = Vec::with_capacity(size);
    crate::json_write::write_value(&mut body, &body_value);
    if operation == Operation::CountTokens {
        use base64::Engine as _;
        let invoke_body = base64::engine::general_purpose::STANDARD.encode(&body);
        body = crate::json_write::to_vec(&serde_json::json!({"input": {"invokeModel": {"body": invoke_body}}}));
    }
    let target = Target { api, operation, model_id: &model_id, beta: beta.as_deref() };
    let http = sign_for(config, &region, &target, body, platform)?;

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
    let thinking_on = translated.thinking_budget.is_some() || translated.adaptive_thinking;
    let continuable = operation != Operation::CountTokens && config.max_continuations > 0 && !thinking_on;
    let mut timeouts = Timeouts::new(total, config.connect_timeout, config.first_byte_timeout, config.between_bytes_timeout);
    if operation == Operation::Stream {
        timeouts = timeouts.streaming(config.stream_idle_timeout);
    }
    Ok(PreparedCall {
        sent: Outbound {
            http,
            timeouts,
            cross_region: model_id != requested,
            model_id,
            region,
            fallbacks,
            api,
            beta,
            operation,
            prefilled: false,
        },
        report: Report {
            call_id: uuid_v4(platform.random_u64(), platform.random_u64()),
            // Kept only when it is read again (it holds the whole conversation a second time,
            // beside the bytes sent).
            body: (config.debug || config.raw_debug || continuable).then_some(body_value),
            max_tokens: translated.max_tokens,
            message_count,
            thinking_budget: translated.thinking_budget,
            continuable,
            effort: translated.effort,
            adjustments: translated.adjustments,
            answer_tool: translated.answer_tool,
            config_warnings: setup.config_warnings.clone(),
            repaired_tool_calls,
            deprecated: spec.and_then(|m| m.deprecated),
        },
        config: Rc::clone(config),
    })
}

/// The largest body InvokeModel takes. AWS's Bedrock user guide ("Anthropic Claude Messages
/// API", Request and Response): "The maximum size of the payload you can send in a request is
/// 20MB"; Anthropic's "Claude on Amazon Bedrock (legacy)" page gives the same 20 MB. Neither says
/// whether that is 10^6- or 2^20-byte megabytes, so the smaller reading, 20,000,000 bytes, is the
/// one applied. The Messages API (`bedrock-mantle`) has no published limit of its own (AWS's
/// `inference-messages-api` and `quotas-mantle` pages name none; the 32 MB of Anthropic's API
/// reference is Anthropic's own endpoint), so no limit is applied there.
pub(crate) const INVOKE_MAX_BODY_BYTES: usize = 20_000_000;

/// The `validation:` error of a request whose InvokeModel body would be `size` bytes, over
/// [`INVOKE_MAX_BODY_BYTES`], naming the field that holds most of it.
fn too_large(request: Option<&Value>, size: usize) -> ProviderError {
    let (path, bytes) = request.map(bulk).unwrap_or_default();
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
    let (path, headers) = match target.api {
        Api::Messages => (wire::messages::path(&endpoint, target.operation), wire::messages::headers(target.beta)),
        _ => (wire::invoke::path(&endpoint, target.model_id, target.operation), wire::invoke::headers(target.operation, config)),
    };
    let (scheme, authority) = endpoint.into_scheme_and_authority();
    let mut request = HttpRequest { scheme, authority, path, headers, body };
    // Signed as sent: the URL is the request's own.
    let url = request.url();
    let to_sign: Vec<(&str, &str)> = request.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let added = sign::authorize(
        &Unsigned { method: "POST", url: &url, headers: &to_sign, body: &request.body },
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
    request.headers.extend(added);
    // Added after signing, as botocore does: Content-Length is not a signed header.
    request.headers.push(("content-length".into(), request.body.len().to_string()));
    Ok(request)
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
