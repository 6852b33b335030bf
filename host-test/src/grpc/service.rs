//! `amplifier.module.ProviderService` and `ModuleLifecycle` over one [`Provider`].
//!
//! Every RPC is one call of the component in its own sandboxed store, so calls run
//! concurrently and share nothing but the compiled component. `Mount` replaces the provider's
//! configuration (the serve command line's keys, overlaid with the mount's).

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use tokio::sync::Mutex;
use tokio_stream::Stream;
use tonic::{Code, Request, Response, Status};

use super::convert;
use super::proto;
use super::proto::module_lifecycle_server::ModuleLifecycle;
use super::proto::provider_service_server::ProviderService;
use crate::credentials::{AwsCredentialChain, Credentials};
use crate::provider::{CallError, Provider};

/// Config keys that carry credentials: a mount that sets them makes them the call credentials.
const CREDENTIAL_KEYS: [&str; 4] = ["aws_access_key_id", "aws_secret_access_key", "aws_session_token", "aws_bearer_token_bedrock"];

/// Events buffered between the component and a slow `CompleteStreaming` reader.
const STREAM_BUFFER: usize = 16;

/// How the provider gets credentials when a mount names none.
#[derive(Debug, Clone)]
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
            Err(status) => eprintln!("bedrock-host serve: {rpc} {:?} {ms} ms: {}", status.code(), status.message()),
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
            if !CREDENTIAL_KEYS.contains(&k.as_str()) {
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

/// A provider error as a gRPC status with the same message (its prefix kept).
pub fn status_for(error: &CallError) -> Status {
    let message = error.to_string();
    let lower = message.to_ascii_lowercase();
    let code = match message.split_once(':').map(|(prefix, _)| prefix) {
        Some("validation") => Code::InvalidArgument,
        Some("auth") if lower.contains("access denied") || lower.contains("not authorized") => Code::PermissionDenied,
        Some("auth") => Code::Unauthenticated,
        Some("throttled") => Code::ResourceExhausted,
        Some("network") if lower.contains("no answer within") || lower.contains("timed out") || lower.contains("timeout") => {
            Code::DeadlineExceeded
        }
        Some("network") => Code::Unavailable,
        Some("host") if lower.contains("did not finish within") => Code::DeadlineExceeded,
        _ => Code::Internal,
    };
    Status::new(code, message)
}

fn invalid(e: convert::ConvertError) -> Status {
    Status::invalid_argument(e.to_string())
}

/// The component returned something the proto cannot carry: our bug, not the caller's.
fn internal(e: convert::ConvertError) -> Status {
    Status::internal(format!("host: the component's answer does not fit amplifier_module.proto: {e}"))
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
        let result = async {
            let json = convert::chat_request_to_json(request.get_ref()).map_err(invalid)?;
            let response = self.provider.complete(&json).await.map_err(|e| status_for(&e))?;
            let model = response["metadata"]["model"].as_str().map(|m| format!(" model={m}")).unwrap_or_default();
            Ok::<_, Status>((convert::chat_response_to_proto(&response).map_err(internal)?, model))
        }
        .await;
        self.log("Complete", started, result.as_ref().map(|(_, model)| model.as_str()));
        result.map(|(r, _)| Response::new(r))
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
        let keys = config.keys().filter(|k| !CREDENTIAL_KEYS.contains(&k.as_str())).cloned().collect::<Vec<_>>().join(",");
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
    fn each_prefix_has_its_status() {
        let code = |m: &str| status_for(&CallError::Provider(m.into())).code();
        assert_eq!(code("validation: messages[1] …"), Code::InvalidArgument);
        assert_eq!(code("auth: access denied calling model x"), Code::PermissionDenied);
        assert_eq!(code("auth: no AWS credentials found"), Code::Unauthenticated);
        assert_eq!(code("throttled: too many requests"), Code::ResourceExhausted);
        assert_eq!(code("network: no answer within 300 s"), Code::DeadlineExceeded);
        assert_eq!(code("network: connection refused"), Code::Unavailable);
        assert_eq!(code("model: Bedrock does not know model x"), Code::Internal);
        assert_eq!(code("config: `temperature` is \"hot\""), Code::Internal);
        let status = status_for(&CallError::Provider("throttled: slow down".into()));
        assert_eq!(status.message(), "throttled: slow down", "the prefixed message is kept");
    }
}
