//! `amplifier.module.ProviderService` and `ModuleLifecycle` over one [`Provider`].
//!
//! Every RPC is one call of the component in its own sandboxed store, so calls run
//! concurrently and share nothing but the compiled component. `Mount` replaces the provider's
//! configuration (the serve command line's keys, overlaid with the mount's).
//!
//! `amplifier_module.proto` has no channel for hook events, and it is upstream's, so it stays as
//! it is: a `Complete` caller that asks for them (request metadata [`EVENTS_REQUEST_KEY`]) gets
//! the call's events back in the response's metadata, or in the error status's
//! ([`EVENTS_METADATA_KEY`]), once the call has finished.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use tokio::sync::Mutex;
use tokio_stream::Stream;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Request, Response, Status};

use crate::call_error::CallError;
use crate::credentials::{AwsCredentialChain, Credentials};
use crate::events::HostEvent;
use crate::grpc::convert;
use crate::grpc::proto;
use crate::grpc::proto::module_lifecycle_server::ModuleLifecycle;
use crate::grpc::proto::provider_service_server::ProviderService;
use crate::provider::Provider;

/// Events buffered between the component and a slow `CompleteStreaming` reader.
const STREAM_BUFFER: usize = 16;

/// Request metadata by which a `Complete` caller asks for the call's hook events: the most bytes
/// of event JSON it accepts (clamped to [`MAX_EVENTS_BYTES`]; `0` asks for none). Opt-in because
/// a client rejects response metadata over its own limit by failing the whole call (grpc-core
/// and hyper default to 8 to 16 KiB), so a caller that never asked (the Rust kernel's bridge, a
/// generic client) must not get them; one that asks raises its limit to match.
pub const EVENTS_REQUEST_KEY: &str = "x-bedrock-events-max-bytes";

/// Status metadata naming a failed call's kind ([`FailureKind::name`](crate::FailureKind::name):
/// `access-denied`, `timed-out`, `host-deadline-exceeded`, …), so a client chooses its error
/// from the kind, not from the message's words. The Python module's `errors.py` reads it.
pub const ERROR_KIND_METADATA_KEY: &str = "x-bedrock-error-kind";

/// Response metadata (on success) or status metadata (on failure) holding the events of a
/// `Complete` call whose caller asked: a JSON array of `{"name", "data"}` in the order they
/// happened. Binary metadata, so any JSON passes (it is base64 on the wire: 4/3 of the JSON).
pub const EVENTS_METADATA_KEY: &str = "x-bedrock-events-bin";

/// Most bytes of event JSON one call sends back, whatever its caller accepts: a streamed answer
/// makes an event per delta, and `raw_debug` events carry whole bodies.
pub const MAX_EVENTS_BYTES: usize = 256 << 10;

/// The last entry of an event list that had to leave events out: `dropped` (how many),
/// `dropped_events` (how many of each name) and `limit_bytes`, plus the call's `provider`,
/// `model` and `request_id` like every event.
pub const EVENTS_TRUNCATED: &str = "provider:events_truncated";

/// Events the caller does not get back: the Amplifier module emits its own `llm:request` (before
/// the call, which is when a hook expects it) and `llm:response`, and two of each would count
/// every call twice.
const CALLER_EMITTED: [&str; 2] = ["llm:request", "llm:response"];

/// How the provider gets credentials when a mount names none.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CredentialMode {
    /// Fixed credentials (the emulator's, a Bedrock API key): a mount's `aws_profile` is only
    /// recorded as config.
    Fixed,
    /// The AWS chain: a mount's `aws_profile` loads the chain for that profile.
    Chain,
}

/// What one mount set, so a failed mount can put the previous one back.
#[derive(Clone)]
struct Mounted {
    config: BTreeMap<String, String>,
    credentials: Option<Credentials>,
    chain: Option<AwsCredentialChain>,
}

/// The gRPC services: one provider, its base configuration, the current mount.
#[derive(Clone)]
pub struct BedrockService {
    provider: Provider,
    base_config: BTreeMap<String, String>,
    base_credentials: Option<Credentials>,
    base_chain: Option<AwsCredentialChain>,
    mode: CredentialMode,
    mounted: Arc<Mutex<Option<Mounted>>>,
    log_calls: bool,
    load: Arc<Load>,
}

/// Calls in flight, and the most there were since the heap was last trimmed.
#[derive(Debug, Default)]
struct Load {
    in_flight: std::sync::atomic::AtomicUsize,
    peak: std::sync::atomic::AtomicUsize,
}

/// After a burst of at least this many calls at once, the server hands the memory its heap
/// no longer uses back to the system once the last call ends: glibc's allocator keeps freed
/// memory in its arenas, so without it a server that once ran 5,000 streams would stay hundreds
/// of MiB above its idle size (BENCHMARKS.md, Scale). Smaller bursts are not worth the walk.
const TRIM_AFTER_CALLS: usize = 64;

/// One call counted in [`Load`] while it lives.
struct InFlight(Arc<Load>);

impl InFlight {
    fn new(load: &Arc<Load>) -> InFlight {
        let now = load.in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        load.peak.fetch_max(now, std::sync::atomic::Ordering::SeqCst);
        InFlight(load.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.0.in_flight.fetch_sub(1, SeqCst) == 1 && self.0.peak.load(SeqCst) >= TRIM_AFTER_CALLS {
            self.0.peak.store(0, SeqCst);
            trim_heap();
        }
    }
}

/// Returns the heap's free memory to the system (glibc only; elsewhere nothing to do), off the
/// async threads.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        runtime.spawn_blocking(|| {
            // SAFETY: malloc_trim has no preconditions; it only releases free memory.
            unsafe { libc::malloc_trim(0) };
        });
    }
}

impl std::fmt::Debug for BedrockService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BedrockService").field("mode", &self.mode).field("log_calls", &self.log_calls).finish_non_exhaustive()
    }
}

impl BedrockService {
    /// Serves `provider`; its configuration and credentials now are the base every mount
    /// starts from. `log_calls` writes one line per call to stderr.
    pub fn new(provider: Provider, mode: CredentialMode, log_calls: bool) -> Self {
        BedrockService {
            base_config: provider.config(),
            base_credentials: provider.credentials(),
            base_chain: provider.credential_chain(),
            provider,
            mode,
            mounted: Arc::default(),
            log_calls,
            load: Arc::default(),
        }
    }

    /// One stderr line per call: what, how it ended, how long. Never a request or a secret.
    fn log(&self, rpc: &str, started: Instant, outcome: Result<&str, &Status>) {
        if !self.log_calls {
            return;
        }
        let ms = started.elapsed().as_millis();
        match outcome {
            Ok(detail) => eprintln!("bedrock-host serve: {rpc} OK {ms} ms{detail}"),
            Err(status) => eprintln!("bedrock-host serve: {rpc} {} {ms} ms: {}", code_name(status.code()), status.message()),
        }
    }

    fn apply(&self, m: &Mounted) {
        self.provider.replace_config(m.config.clone());
        self.provider.set_credentials(m.credentials.clone());
        self.provider.set_credential_chain(m.chain.clone());
    }

    fn base(&self) -> Mounted {
        Mounted { config: self.base_config.clone(), credentials: self.base_credentials.clone(), chain: self.base_chain.clone() }
    }

    /// The configuration a mount asks for: the base keys overlaid with the mount's, its
    /// credentials (if any) as the call credentials.
    async fn mounted_from(&self, request: &BTreeMap<String, String>) -> Mounted {
        let mut m = self.base();
        let get = |k: &str| request.get(k).filter(|v| !v.is_empty()).cloned();
        let explicit = match (get("aws_bearer_token_bedrock"), get("aws_access_key_id"), get("aws_secret_access_key")) {
            (Some(token), _, _) => Some(Credentials::BedrockApiKey(token)),
            (None, Some(access_key_id), Some(secret_access_key)) => {
                Some(Credentials::Aws { access_key_id, secret_access_key, session_token: get("aws_session_token") })
            }
            _ => None,
        };
        for (k, v) in request {
            if !amplifier_provider_bedrock::config::is_secret(k) {
                m.config.insert(k.clone(), v.clone());
            }
        }
        if explicit.is_some() {
            m.credentials = explicit;
            m.chain = None;
        } else if let (CredentialMode::Chain, Some(profile)) = (&self.mode, get("aws_profile")) {
            let chain = AwsCredentialChain::load(Some(&profile)).await;
            if !m.config.contains_key("aws_region") {
                if let Some(region) = chain.region() {
                    m.config.insert("aws_region".into(), region.to_string());
                }
            }
            m.credentials = None;
            m.chain = Some(chain);
        }
        m
    }
}

/// A status code as gRPC names it (`INVALID_ARGUMENT`), for the log.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A provider error as a gRPC status with the same message (its prefix kept).
pub fn status_for(error: &CallError) -> Status {
    let kind = error.kind();
    let mut metadata = MetadataMap::new();
    metadata.insert(ERROR_KIND_METADATA_KEY, MetadataValue::from_static(kind.name()));
    Status::with_metadata(kind.grpc_code(), error.to_string(), metadata)
}

/// The event budget a `Complete` request asks for: `None` when it asks for no events.
fn events_budget(metadata: &MetadataMap) -> Result<Option<usize>, Status> {
    let Some(value) = metadata.get(EVENTS_REQUEST_KEY) else { return Ok(None) };
    let budget = value.to_str().ok().and_then(|v| v.trim().parse::<usize>().ok()).ok_or_else(|| {
        Status::invalid_argument(format!(
            "validation: the `{EVENTS_REQUEST_KEY}` metadata must be a byte count (0 for no events, at most {MAX_EVENTS_BYTES} are sent), not `{}`",
            String::from_utf8_lossy(value.as_bytes())
        ))
    })?;
    Ok((budget > 0).then(|| budget.min(MAX_EVENTS_BYTES)))
}

/// Per-delta stream events and debug events: many, or large, and the first to go when the
/// budget is short, so that retries, throttling, fallbacks and continuations still arrive.
fn is_bulk(name: &str) -> bool {
    matches!(name, "llm:stream_block_delta" | "llm:stream_thinking_delta") || name.ends_with(":debug") || name.ends_with(":raw")
}

/// The [`EVENTS_METADATA_KEY`] JSON for a call's events (`None` when there are none to send):
/// every event but [`CALLER_EMITTED`] in order, in at most `budget` bytes. When they do not all
/// fit, the other events are kept before the [bulk](is_bulk) ones, each kept if it still fits,
/// and a final [`EVENTS_TRUNCATED`] entry (a few hundred bytes over the budget) says what was
/// left out. The component has already scrubbed every event of the call's secrets.
fn events_json(events: &[HostEvent], budget: usize) -> Option<Vec<u8>> {
    let entries: Vec<(&HostEvent, String)> = events
        .iter()
        .filter(|e| !CALLER_EMITTED.contains(&e.name.as_str()))
        .map(|e| (e, json!({"name": e.name, "data": e.data}).to_string()))
        .collect();
    let first = entries.first()?.0;
    let mut keep = vec![false; entries.len()];
    let mut used = "[]".len();
    for bulk in [false, true] {
        for (i, (event, text)) in entries.iter().enumerate() {
            // `+ 1` for the comma before it (one too many in all: the first has none).
            let cost = text.len() + 1;
            if is_bulk(&event.name) == bulk && used + cost <= budget {
                keep[i] = true;
                used += cost;
            }
        }
    }
    let mut kept: Vec<&str> = Vec::with_capacity(entries.len() + 1);
    let mut dropped: BTreeMap<&str, u64> = BTreeMap::new();
    for ((event, text), keep) in entries.iter().zip(keep) {
        if keep {
            kept.push(text);
        } else {
            *dropped.entry(event.name.as_str()).or_default() += 1;
        }
    }
    let marker;
    if !dropped.is_empty() {
        let mut data = Map::new();
        data.insert("dropped".into(), json!(dropped.values().sum::<u64>()));
        data.insert("dropped_events".into(), json!(dropped));
        data.insert("limit_bytes".into(), json!(budget));
        for key in ["provider", "model", "request_id"] {
            if let Some(v) = first.data.get(key) {
                data.insert(key.into(), v.clone());
            }
        }
        marker = json!({"name": EVENTS_TRUNCATED, "data": data}).to_string();
        kept.push(&marker);
    }
    Some(format!("[{}]", kept.join(",")).into_bytes())
}

/// Adds a call's events (if its caller asked and there are any) to `metadata`.
fn attach_events(metadata: &mut MetadataMap, events: &[HostEvent], budget: Option<usize>) {
    if let Some(bytes) = budget.and_then(|b| events_json(events, b)) {
        metadata.insert_bin(EVENTS_METADATA_KEY, MetadataValue::from_bytes(&bytes));
    }
}

fn invalid(e: convert::ConvertError) -> Status {
    status_for(&CallError::provider(crate::ErrorKind::Validation, e.describe()))
}

/// The component returned something the proto cannot carry: our bug, not the caller's.
fn internal(e: convert::ConvertError) -> Status {
    status_for(&CallError::from(anyhow::anyhow!("the component's answer does not fit amplifier_module.proto: {}", e.describe())))
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

fn model_info(m: &Value) -> proto::ModelInfo {
    let int = |v: &Value| v.as_i64().map(|n| n.clamp(0, i64::from(i32::MAX)) as i32).unwrap_or(0);
    proto::ModelInfo {
        id: m["id"].as_str().unwrap_or_default().into(),
        display_name: m["display_name"].as_str().unwrap_or_default().into(),
        context_window: int(&m["context_window"]),
        max_output_tokens: int(&m["max_output_tokens"]),
        capabilities: str_list(&m["capabilities"]),
        defaults_json: m.get("defaults").map(Value::to_string).unwrap_or_default(),
        pricing_json: String::new(),
    }
}

fn config_field(f: &Value) -> proto::ConfigField {
    let field_type = match f["field_type"].as_str() {
        Some("secret") => proto::ConfigFieldType::Secret,
        Some("boolean") => proto::ConfigFieldType::Boolean,
        _ => proto::ConfigFieldType::String,
    };
    let text = |v: &Value| match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    proto::ConfigField {
        id: text(&f["id"]),
        display_name: text(&f["display_name"]),
        field_type: field_type as i32,
        prompt: text(&f["prompt"]),
        env_var: text(&f["env_var"]),
        choices: str_list(&f["choices"]),
        required: f["required"].as_bool().unwrap_or(false),
        default_value: text(&f["default"]),
        show_when: f["show_when"].as_object().into_iter().flatten().map(|(k, v)| (k.clone(), text(v))).collect(),
        requires_model: f["requires_model"].as_bool().unwrap_or(false),
    }
}

fn provider_info(info: &Value) -> proto::ProviderInfo {
    proto::ProviderInfo {
        id: info["id"].as_str().unwrap_or_default().into(),
        display_name: info["display_name"].as_str().unwrap_or_default().into(),
        credential_env_vars: str_list(&info["credential_env_vars"]),
        capabilities: str_list(&info["capabilities"]),
        defaults_json: info.get("defaults").map(Value::to_string).unwrap_or_default(),
        config_fields: info["config_fields"].as_array().into_iter().flatten().map(config_field).collect(),
    }
}

type ChatStream = Pin<Box<dyn Stream<Item = Result<proto::ChatResponse, Status>> + Send>>;

#[tonic::async_trait]
impl ProviderService for BedrockService {
    async fn get_info(&self, _: Request<proto::Empty>) -> Result<Response<proto::ProviderInfo>, Status> {
        let started = Instant::now();
        let result = self.provider.get_info().await.map(|i| provider_info(&i)).map_err(|e| status_for(&e));
        self.log("GetInfo", started, result.as_ref().map(|_| ""));
        result.map(Response::new)
    }

    async fn list_models(&self, _: Request<proto::Empty>) -> Result<Response<proto::ListModelsResponse>, Status> {
        let started = Instant::now();
        let result = self
            .provider
            .list_models()
            .await
            .map(|models| proto::ListModelsResponse { models: models.as_array().into_iter().flatten().map(model_info).collect() })
            .map_err(|e| status_for(&e));
        self.log("ListModels", started, result.as_ref().map(|_| ""));
        result.map(Response::new)
    }

    async fn complete(&self, request: Request<proto::ChatRequest>) -> Result<Response<proto::ChatResponse>, Status> {
        let started = Instant::now();
        let _in_flight = InFlight::new(&self.load);
        let budget = match events_budget(request.metadata()) {
            Ok(budget) => budget,
            Err(status) => {
                self.log("Complete", started, Err(&status));
                return Err(status);
            }
        };
        let mut events = Vec::new();
        let result = async {
            let json = convert::chat_request_to_json(request.get_ref()).map_err(invalid)?;
            let (outcome, record) = self.provider.complete_recorded(&json).await;
            events = record.events;
            let response = outcome.map_err(|e| status_for(&e))?;
            let model = response["metadata"]["model"].as_str().map(|m| format!(" model={m}")).unwrap_or_default();
            Ok::<_, Status>((convert::chat_response_to_proto(&response).map_err(internal)?, model))
        }
        .await;
        self.log("Complete", started, result.as_ref().map(|(_, model)| model.as_str()));
        match result {
            Ok((reply, _)) => {
                let mut response = Response::new(reply);
                attach_events(response.metadata_mut(), &events, budget);
                Ok(response)
            }
            // A failed call's events matter most: the retries and throttling that led to it.
            Err(mut status) => {
                attach_events(status.metadata_mut(), &events, budget);
                Err(status)
            }
        }
    }

    type CompleteStreamingStream = ChatStream;

    async fn complete_streaming(&self, request: Request<proto::ChatRequest>) -> Result<Response<ChatStream>, Status> {
        let started = Instant::now();
        let json = match convert::chat_request_to_json(request.get_ref()) {
            Ok(j) => j,
            Err(e) => {
                let status = invalid(e);
                self.log("CompleteStreaming", started, Err(&status));
                return Err(status);
            }
        };
        let (events_tx, mut events_rx) = tokio::sync::mpsc::channel::<Value>(STREAM_BUFFER);
        let (out_tx, out_rx) = tokio::sync::mpsc::channel::<Result<proto::ChatResponse, Status>>(STREAM_BUFFER);
        let service = self.clone();
        // The component pulls from Bedrock while the forwarder turns each event into a message;
        // when the client goes away both channels close and the component drops its stream.
        tokio::spawn(async move {
            let _in_flight = InFlight::new(&service.load);
            let forward_tx = out_tx.clone();
            let forward = tokio::spawn(async move {
                let mut sent = 0usize;
                while let Some(event) = events_rx.recv().await {
                    if forward_tx.send(Ok(convert::stream_event_to_proto(&event))).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
                sent
            });
            let outcome = service.provider.stream_to(&json, events_tx).await;
            let sent = forward.await.unwrap_or(0);
            match outcome {
                Ok(()) => service.log("CompleteStreaming", started, Ok(&format!(" {sent} messages"))),
                Err(e) => {
                    let status = status_for(&e);
                    service.log("CompleteStreaming", started, Err(&status));
                    let _ = out_tx.send(Err(status)).await;
                }
            }
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(out_rx))))
    }

    async fn parse_tool_calls(&self, request: Request<proto::ChatResponse>) -> Result<Response<proto::ParseToolCallsResponse>, Status> {
        let started = Instant::now();
        let result = async {
            let json = convert::chat_response_to_json(request.get_ref()).map_err(invalid)?;
            let calls = self.provider.parse_tool_calls(&json).await.map_err(|e| status_for(&e))?;
            let tool_calls = calls
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| proto::ToolCallMessage {
                    id: c["id"].as_str().unwrap_or_default().into(),
                    name: c["name"].as_str().unwrap_or_default().into(),
                    arguments_json: c.get("arguments").map(Value::to_string).unwrap_or_else(|| "{}".into()),
                })
                .collect();
            Ok::<_, Status>(proto::ParseToolCallsResponse { tool_calls })
        }
        .await;
        self.log("ParseToolCalls", started, result.as_ref().map(|_| ""));
        result.map(Response::new)
    }
}

#[tonic::async_trait]
impl ModuleLifecycle for BedrockService {
    async fn mount(&self, request: Request<proto::MountRequest>) -> Result<Response<proto::MountResponse>, Status> {
        let started = Instant::now();
        let config: BTreeMap<String, String> = request.into_inner().config.into_iter().collect();
        let mut mounted = self.mounted.lock().await;
        let previous = mounted.clone().unwrap_or_else(|| self.base());
        let next = self.mounted_from(&config).await;
        self.apply(&next);
        let response = match self.provider.check_config().await {
            Ok(()) => {
                *mounted = Some(next);
                proto::MountResponse { success: true, error: String::new(), status: proto::HealthStatus::Serving as i32 }
            }
            Err(e) => {
                // Nothing lost: the previous mount keeps serving.
                self.apply(&previous);
                proto::MountResponse { success: false, error: e.to_string(), status: proto::HealthStatus::Serving as i32 }
            }
        };
        let keys = config.keys().filter(|k| !amplifier_provider_bedrock::config::is_secret(k)).cloned().collect::<Vec<_>>().join(",");
        if response.success {
            self.log("Mount", started, Ok(&format!(" keys={keys}")));
        } else {
            self.log("Mount", started, Err(&Status::failed_precondition(response.error.clone())));
        }
        Ok(Response::new(response))
    }

    async fn cleanup(&self, _: Request<proto::Empty>) -> Result<Response<proto::Empty>, Status> {
        let started = Instant::now();
        let mut mounted = self.mounted.lock().await;
        self.apply(&self.base());
        *mounted = None;
        self.log("Cleanup", started, Ok(""));
        Ok(Response::new(proto::Empty {}))
    }

    async fn health_check(&self, _: Request<proto::Empty>) -> Result<Response<proto::HealthCheckResponse>, Status> {
        // Serving means a sandbox can be made and the component answers: get-info touches no network.
        let response = match self.provider.get_info().await {
            Ok(_) => proto::HealthCheckResponse { status: proto::HealthStatus::Serving as i32, message: "ok".into() },
            Err(e) => proto::HealthCheckResponse { status: proto::HealthStatus::NotServing as i32, message: e.to_string() },
        };
        Ok(Response::new(response))
    }

    async fn get_module_info(&self, _: Request<proto::Empty>) -> Result<Response<proto::ModuleInfo>, Status> {
        let info = self.provider.get_info().await.map_err(|e| status_for(&e))?;
        let schema: serde_json::Map<String, Value> = info["config_fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some((f["id"].as_str()?.to_string(), f.clone())))
            .collect();
        Ok(Response::new(proto::ModuleInfo {
            id: info["id"].as_str().unwrap_or_default().into(),
            name: info["display_name"].as_str().unwrap_or_default().into(),
            version: env!("CARGO_PKG_VERSION").into(),
            module_type: proto::ModuleType::Provider as i32,
            mount_point: "providers".into(),
            description: "Anthropic Claude on AWS Bedrock through a sandboxed WebAssembly component".into(),
            config_schema_json: Value::Object(schema).to_string(),
            capabilities: str_list(&info["capabilities"]),
            author: "amplifier-provider-bedrock".into(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_keeps_the_message_and_takes_its_code_from_the_kind_alone() {
        let status = status_for(&CallError::provider(crate::ErrorKind::Throttled, "slow down"));
        assert_eq!((status.code(), status.message()), (Code::ResourceExhausted, "throttled: slow down"));
        let kind = status.metadata().get(ERROR_KIND_METADATA_KEY).map(|v| v.to_str().unwrap());
        assert_eq!(kind, Some("throttled"), "the kind travels as metadata");
        // The words of a message do not choose its code (they once did): the kind does.
        let worded = status_for(&CallError::provider(crate::ErrorKind::Unauthenticated, "access denied, timed out"));
        assert_eq!(worded.code(), Code::Unauthenticated);
        let denied = status_for(&CallError::provider(crate::ErrorKind::AccessDenied, "calling model x"));
        assert_eq!((denied.code(), denied.message()), (Code::PermissionDenied, "auth: calling model x"));
        let memory = crate::HostFailure::new(crate::HostFailureKind::MemoryCap, anyhow::anyhow!("needed more memory"));
        let memory = status_for(&CallError::Host(memory));
        assert_eq!((memory.code(), memory.message()), (Code::Internal, "host: needed more memory"));
    }

    #[test]
    fn the_log_names_codes_as_grpc_does() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::ResourceExhausted), "RESOURCE_EXHAUSTED");
        assert_eq!(code_name(Code::Unauthenticated), "UNAUTHENTICATED");
    }

    fn event(name: &str, mut data: Value) -> HostEvent {
        data["request_id"] = json!("call-1");
        HostEvent { name: name.into(), data }
    }

    fn parsed(bytes: Option<Vec<u8>>) -> Vec<Value> {
        serde_json::from_slice::<Vec<Value>>(&bytes.expect("events to send")).unwrap()
    }

    #[test]
    fn events_are_sent_in_order_without_the_callers_own() {
        let events = [
            event("llm:request", json!({})),
            event("provider:throttle", json!({"attempt": 1})),
            event("provider:retry", json!({"attempt": 2})),
            event("llm:response", json!({"status": "ok"})),
        ];
        let sent = parsed(events_json(&events, MAX_EVENTS_BYTES));
        assert_eq!(
            sent,
            [json!({"name": "provider:throttle", "data": events[1].data}), json!({"name": "provider:retry", "data": events[2].data})]
        );
        assert_eq!(events_json(&events[..1], MAX_EVENTS_BYTES), None, "nothing to send");
    }

    #[test]
    fn a_short_budget_drops_bulk_events_first_and_says_so_last() {
        let delta = |n: u64| event("llm:stream_block_delta", json!({"sequence": n, "text": "x".repeat(100)}));
        let mut events: Vec<HostEvent> = (0..20).map(delta).collect();
        events.insert(10, event("provider:continuation", json!({"round": 1})));
        events.push(event("llm:stream_block_end", json!({"block_index": 0})));
        let budget = 1000;
        let sent = parsed(events_json(&events, budget));
        let names: Vec<&str> = sent.iter().map(|e| e["name"].as_str().unwrap()).collect();
        let deltas = names.iter().filter(|n| **n == "llm:stream_block_delta").count();
        assert!(deltas > 0 && deltas < 20, "{names:?}");
        assert!(names.contains(&"provider:continuation") && names.contains(&"llm:stream_block_end"), "{names:?}");
        assert_eq!(names.iter().position(|n| *n == "provider:continuation"), Some(deltas), "kept in their order: {names:?}");
        let marker = sent.last().unwrap();
        assert_eq!(marker["name"], EVENTS_TRUNCATED);
        assert_eq!(marker["data"]["dropped"], 20 - deltas as u64);
        assert_eq!(marker["data"]["dropped_events"], json!({"llm:stream_block_delta": 20 - deltas as u64}));
        assert_eq!((marker["data"]["limit_bytes"].as_u64(), marker["data"]["request_id"].as_str()), (Some(1000), Some("call-1")));
        let without_marker = sent.len() - 1;
        let events_bytes = serde_json::to_vec(&sent[..without_marker]).unwrap().len();
        assert!(events_bytes <= budget, "{events_bytes} bytes");
    }

    #[test]
    fn the_budget_is_opt_in_clamped_and_checked() {
        let with = |value: &str| {
            let mut m = MetadataMap::new();
            m.insert(EVENTS_REQUEST_KEY, value.parse().unwrap());
            events_budget(&m)
        };
        assert_eq!(events_budget(&MetadataMap::new()).unwrap(), None);
        assert_eq!(with("0").unwrap(), None);
        assert_eq!(with("4096").unwrap(), Some(4096));
        assert_eq!(with("99999999999").unwrap(), Some(MAX_EVENTS_BYTES));
        let e = with("lots").unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument);
        assert!(e.message().starts_with("validation: the `x-bedrock-events-max-bytes` metadata must be a byte count"), "{}", e.message());
    }
}
