//! `Provider`: the component loaded once, called in a fresh sandbox per request.
//!
//! Each call gets its own `Store` (as the Amplifier kernel does), so no state leaks between
//! requests, configuration and credentials are injected per call (rotation needs no reload),
//! and a memory cap plus a deadline bound what one call can take.

mod limits;
mod sandbox;

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi_config::WasiConfig;

pub use limits::{Limits, DEFAULT_MEMORY_BYTES, DEFAULT_MEMORY_MAX_BYTES, MEMORY_PER_REQUEST_BYTE, REQUEST_BYTES_WITHIN_CAP};
pub use sandbox::CallRecord;
use sandbox::{reported, CallOptions, HostState, Sandbox, Settings, StepExpired};

use crate::call_error::{CallError, ErrorKind, ProviderFailure};
use crate::clock::SharedClock;
use crate::credentials::{AwsCredentialChain, Credentials};
use crate::events::{EventCallback, HostEvent};
use crate::http_client::{HttpClient, HttpClientOptions, PoolStats};
use crate::runtime::bindings::BedrockProviderExportsPre;
use crate::runtime::{self, CacheOutcome};

/// Builds a [`Provider`].
#[derive(Clone)]
pub struct ProviderBuilder {
    wasm: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    /// What every call starts from: the provider's settings as built.
    settings: Settings,
    http: HttpClientOptions,
    ca_bundles: Vec<PathBuf>,
}

impl fmt::Debug for ProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderBuilder")
            .field("wasm", &self.wasm)
            .field("config", &self.settings.config.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for ProviderBuilder {
    fn default() -> Self {
        ProviderBuilder {
            wasm: None,
            cache_dir: runtime::default_cache_dir(),
            settings: Settings {
                config: BTreeMap::new(),
                credentials: None,
                limits: Limits::default(),
                allowed_regions: None,
                allowed_endpoint: None,
                on_event: None,
                credential_chain: None,
            },
            http: HttpClientOptions::default(),
            ca_bundles: Vec::new(),
        }
    }
}

impl ProviderBuilder {
    /// Loads the component from this file instead of the bundled one (or `PROVIDER_WASM`).
    pub fn wasm(mut self, path: impl Into<PathBuf>) -> Self {
        self.wasm = Some(path.into());
        self
    }

    /// Caches compiled code here (`None`: compile every time).
    pub fn cache_dir(mut self, dir: Option<PathBuf>) -> Self {
        self.cache_dir = dir;
        self
    }

    /// Sets a config key (`aws_region`, `default_model`, `endpoint_url`, …).
    pub fn config(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.config.insert(key.into(), value.into());
        self
    }

    /// Credentials for every call until [`Provider::set_credentials`] replaces them.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.settings.credentials = Some(credentials);
        self
    }

    /// Per-call limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.settings.limits = limits;
        self
    }

    /// Restricts outbound Bedrock endpoints to these regions (default: the `aws_region`
    /// config key when set, else any region).
    pub fn allowed_regions(mut self, regions: Vec<String>) -> Self {
        self.settings.allowed_regions = Some(regions);
        self
    }

    /// Allows this endpoint (`scheme://host[:port]`) besides Bedrock Runtime, instead of the
    /// one named by the `endpoint_url` config key.
    pub fn allow_endpoint(mut self, origin: impl Into<String>) -> Self {
        self.settings.allowed_endpoint = Some(origin.into());
        self
    }

    /// Resolves credentials through the standard AWS chain when none are set explicitly
    /// (see [`AwsCredentialChain`]); they are cached and refreshed before expiry.
    pub fn credential_chain(mut self, chain: AwsCredentialChain) -> Self {
        self.settings.credential_chain = Some(chain);
        self
    }

    /// Calls `callback` with every hook event (`llm:request`, `llm:response`, debug and raw
    /// events) as the component emits it.
    pub fn on_event(mut self, callback: impl Fn(&HostEvent) + Send + Sync + 'static) -> Self {
        self.settings.on_event = Some(std::sync::Arc::new(callback));
        self
    }

    /// Also trusts the certificate authorities in this PEM file for HTTPS. `AWS_CA_BUNDLE`, else
    /// the credential chain's profile's `ca_bundle`, is trusted too, as the AWS SDKs do. Checked
    /// at build.
    pub fn ca_bundle(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_bundles.push(path.into());
        self
    }

    /// Also trusts these PEM certificate authorities for HTTPS (a test CA, a proxy's CA).
    pub fn trust_ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.http.extra_roots_pem.push(pem.into());
        self
    }

    /// How long an idle keep-alive connection stays open (default 45 s).
    pub fn pool_idle_timeout(mut self, idle: Duration) -> Self {
        self.http.idle_timeout = idle;
        self
    }

    /// The clock the connection pool measures idle time by (default: the system's), so a test
    /// can move a [`ManualClock`](crate::ManualClock) past [`pool_idle_timeout`](Self::pool_idle_timeout)
    /// instead of sleeping. A credential chain takes its own ([`AwsCredentialChain::with_clock`]).
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.http.clock = clock;
        self
    }

    /// Compiles (or loads from cache) and links the component.
    pub fn build(self) -> Result<Provider> {
        self.build_with_progress(&|| {})
    }

    /// Like [`build`](Self::build), calling `on_compile` before a slow compile.
    pub fn build_with_progress(self, on_compile: &dyn Fn()) -> Result<Provider> {
        let wasm = match &self.wasm {
            Some(path) => {
                std::borrow::Cow::Owned(std::fs::read(path).with_context(|| format!("reading the component {}", path.display()))?)
            }
            None => crate::runtime::component_wasm()?,
        };
        let engine = runtime::new_engine()?;
        let (component, cache) = runtime::load_component(&engine, &wasm, self.cache_dir.as_deref(), on_compile)?;
        Provider::from_parts(engine, component, cache, self)
    }
}

/// The loaded component, ready to be called many times, from many tasks at once.
#[derive(Clone)]
pub struct Provider {
    engine: Engine,
    component: Component,
    pre: BedrockProviderExportsPre<HostState>,
    settings: Arc<Mutex<Settings>>,
    cache: CacheOutcome,
    /// Keep-alive connections, shared by every call, store and fork.
    http: HttpClient,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider").field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl Provider {
    /// A builder with the defaults: the bundled component, the default cache dir.
    pub fn builder() -> ProviderBuilder {
        ProviderBuilder::default()
    }

    fn from_parts(engine: Engine, component: Component, cache: CacheOutcome, b: ProviderBuilder) -> Result<Provider> {
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |h: &mut HostState| WasiConfig::from(&h.config))?;
        let pre = linker.instantiate_pre(&component).map_err(anyhow::Error::from).context("linking the component")?;
        let pre = BedrockProviderExportsPre::new(pre)?;
        let mut http = b.http;
        // As the AWS SDKs: `AWS_CA_BUNDLE` wins over the profile's `ca_bundle`.
        http.add_env_ca_bundle()?;
        if std::env::var_os("AWS_CA_BUNDLE").is_none_or(|v| v.is_empty()) {
            if let Some(path) = b.settings.credential_chain.as_ref().and_then(|c| crate::http_client::profile_ca_bundle(c.profile())) {
                http.add_ca_bundle(&path).context("the profile's ca_bundle")?;
            }
        }
        for path in &b.ca_bundles {
            http.add_ca_bundle(path)?;
        }
        let http = HttpClient::new(http);
        let settings = b.settings;
        Ok(Provider { engine, component, pre, settings: Arc::new(Mutex::new(settings)), cache, http })
    }

    /// The names of the interfaces the component imports, for auditing what it can reach.
    pub fn imports(&self) -> Vec<String> {
        self.component.component_type().imports(&self.engine).map(|(name, _)| name.to_string()).collect()
    }

    /// The names of the interfaces the component exports.
    pub fn exports(&self) -> Vec<String> {
        self.component.component_type().exports(&self.engine).map(|(name, _)| name.to_string()).collect()
    }

    /// Whether building this provider compiled the component or loaded it from cache.
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// A provider sharing this one's engine and compiled component but with its own copy of
    /// the settings: many configurations, one compile.
    pub fn fork(&self) -> Provider {
        let settings = self.lock().clone();
        Provider {
            engine: self.engine.clone(),
            component: self.component.clone(),
            pre: self.pre.clone(),
            settings: Arc::new(Mutex::new(settings)),
            cache: self.cache,
            http: self.http.clone(),
        }
    }

    /// What the keep-alive HTTP client did so far (requests, connections opened, TLS
    /// handshakes, reuses), over this provider and its forks.
    pub fn connection_stats(&self) -> PoolStats {
        self.http.stats()
    }

    /// The keep-alive HTTP client every call sends through.
    pub fn http_client(&self) -> &HttpClient {
        &self.http
    }

    /// Replaces the per-call limits for later calls.
    pub fn set_limits(&self, limits: Limits) {
        self.lock().limits = limits;
    }

    /// Restricts outbound Bedrock endpoints to these regions for later calls.
    pub fn set_allowed_regions(&self, regions: Option<Vec<String>>) {
        self.lock().allowed_regions = regions;
    }

    /// Allows this origin instead of the `endpoint_url` one for later calls.
    pub fn set_allowed_endpoint(&self, origin: Option<String>) {
        self.lock().allowed_endpoint = origin;
    }

    /// Replaces the credential chain consulted when no explicit credentials are set.
    pub fn set_credential_chain(&self, chain: Option<AwsCredentialChain>) {
        self.lock().credential_chain = chain;
    }

    /// Replaces the event callback for later calls.
    pub fn set_event_callback(&self, callback: Option<EventCallback>) {
        self.lock().on_event = callback;
    }

    /// Removes a config key for later calls.
    pub fn remove_config(&self, key: &str) {
        self.lock().config.remove(key);
    }

    /// Replaces the credentials for later calls; calls in flight keep theirs.
    pub fn set_credentials(&self, credentials: Option<Credentials>) {
        self.lock().credentials = credentials;
    }

    /// Sets a config key for later calls.
    pub fn set_config(&self, key: impl Into<String>, value: impl Into<String>) {
        self.lock().config.insert(key.into(), value.into());
    }

    /// Replaces every config key at once for later calls (an Amplifier `Mount`).
    pub fn replace_config(&self, config: BTreeMap<String, String>) {
        self.lock().config = config;
    }

    /// The explicit credentials later calls will use, if any.
    pub fn credentials(&self) -> Option<Credentials> {
        self.lock().credentials.clone()
    }

    /// The credential chain consulted when no explicit credentials are set.
    pub fn credential_chain(&self) -> Option<AwsCredentialChain> {
        self.lock().credential_chain.clone()
    }

    /// The config keys later calls will see.
    pub fn config(&self) -> BTreeMap<String, String> {
        self.lock().config.clone()
    }

    /// Checks the configuration as the component reads it, without credentials and without
    /// sending anything: the component resolves its config before it looks at the request, so
    /// an empty conversation gets a `config:` error for a bad value, else its own `validation:`
    /// error, which means the configuration is fine.
    pub async fn check_config(&self) -> Result<(), CallError> {
        let request = br#"{"messages": []}"#.to_vec();
        let (r, _) = self
            .run(CallOptions::offline(0), move |store, i| {
                Box::pin(async move { i.amplifier_bedrock_provider_completion().call_complete(store, &request).await })
            })
            .await;
        match r? {
            Err(e) if reported(&e).kind() == ErrorKind::Config => Err(CallError::Provider(reported(&e))),
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A sandbox for one call: the settings of the moment, with credentials resolved (explicit
    /// ones, else the chain) for a call that sends, and none for one that does not.
    async fn sandbox(&self, options: CallOptions) -> Result<Sandbox, CallError> {
        let mut settings = self.lock().clone();
        if !options.sends {
            settings.credentials = None;
            settings.credential_chain = None;
        } else if settings.credentials.is_none() {
            if let Some(chain) = &settings.credential_chain {
                settings.credentials = Some(chain.credentials().await.map_err(CallError::Provider)?);
            }
        }
        Ok(Sandbox::new(&self.engine, &self.http, &settings, options))
    }

    /// Runs `f` against a fresh instance in a fresh sandbox, under the call deadline.
    async fn run<T>(
        &self,
        options: CallOptions,
        f: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            crate::runtime::bindings::BedrockProviderExports,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>>,
    ) -> (Result<T, CallError>, CallRecord) {
        let mut sandbox = match self.sandbox(options).await {
            Ok(sandbox) => sandbox,
            Err(e) => return (Err(e), CallRecord::default()),
        };
        let run = async {
            let store = &mut sandbox.store;
            let instance =
                self.pre.instantiate_async(&mut *store).await.map_err(anyhow::Error::from).context("instantiating the component")?;
            f(store, instance).await.map_err(anyhow::Error::from)
        };
        let result = match tokio::time::timeout(sandbox.deadline, run).await {
            Ok(r) => r.map_err(|e| sandbox.host_failure(e)),
            Err(_) => Err(sandbox.expired("the call", "`timeout`, `max_retries` and `retry_budget`")),
        };
        (result, sandbox.finish())
    }

    /// `get-info`: ProviderInfo. Needs no credentials.
    pub async fn get_info(&self) -> Result<Value, CallError> {
        let (r, _) = self
            .run(CallOptions::offline(0), |store, i| Box::pin(async move { i.amplifier_modules_provider().call_get_info(store).await }))
            .await;
        Ok(serde_json::from_slice(&r?).context("get-info returned invalid JSON")?)
    }

    /// `list-models`: ModelInfo list. Needs no credentials.
    pub async fn list_models(&self) -> Result<Value, CallError> {
        let (r, _) = self
            .run(CallOptions::offline(0), |store, i| Box::pin(async move { i.amplifier_modules_provider().call_list_models(store).await }))
            .await;
        // The contract's `list-models` can fail only with a string; the component's never does.
        let bytes = r?.map_err(|e| anyhow::anyhow!("list-models failed: {e}"))?;
        Ok(serde_json::from_slice(&bytes).context("list-models returned invalid JSON")?)
    }

    /// `complete`: ChatRequest JSON → ChatResponse JSON.
    pub async fn complete(&self, request: &Value) -> Result<Value, CallError> {
        self.complete_bytes(serde_json::to_vec(request).expect("a JSON value serialises"), false).await.0
    }

    /// `complete` for a ChatRequest that is still JSON text: a host that received it as bytes
    /// passes them on unparsed, and malformed JSON gets the component's `validation:` error.
    pub async fn complete_json(&self, request: &[u8]) -> Result<Value, CallError> {
        self.complete_bytes(request.to_vec(), false).await.0
    }

    /// Like [`complete`](Self::complete), also returning what the call left behind.
    pub async fn complete_recorded(&self, request: &Value) -> (Result<Value, CallError>, CallRecord) {
        self.complete_bytes(serde_json::to_vec(request).expect("a JSON value serialises"), true).await
    }

    async fn complete_bytes(&self, bytes: Vec<u8>, record: bool) -> (Result<Value, CallError>, CallRecord) {
        let (r, record) = self
            .run(CallOptions::sending(bytes.len()).recorded(record), move |store, i| {
                Box::pin(async move { i.amplifier_bedrock_provider_completion().call_complete(store, &bytes).await })
            })
            .await;
        let result = match r {
            Err(e) => Err(e),
            Ok(Err(e)) => Err(CallError::Provider(reported(&e))),
            Ok(Ok(bytes)) => {
                serde_json::from_slice(&bytes).map_err(|e| CallError::from(anyhow::anyhow!("complete returned invalid JSON: {e}")))
            }
        };
        (result, record)
    }

    /// `count-tokens`: the input tokens a ChatRequest would use with its model, counted by
    /// Bedrock's CountTokens (free) after the same translation `complete` applies, as
    /// `{"input_tokens", "model", "request_id"}`. For budget planning before sending.
    pub async fn count_tokens(&self, request: &Value) -> Result<Value, CallError> {
        let bytes = serde_json::to_vec(request).expect("a JSON value serialises");
        let (r, _) = self
            .run(CallOptions::sending(bytes.len()), move |store, i| {
                Box::pin(async move { i.amplifier_bedrock_provider_tokens().call_count_tokens(store, &bytes).await })
            })
            .await;
        let out = r?.map_err(|e| CallError::Provider(reported(&e)))?;
        Ok(serde_json::from_slice(&out).context("count-tokens returned invalid JSON")?)
    }

    /// `parse-tool-calls`: ChatResponse JSON → ToolCall list. Needs no credentials.
    pub async fn parse_tool_calls(&self, response: &Value) -> Result<Value, CallError> {
        let bytes = serde_json::to_vec(response).expect("a JSON value serialises");
        let (r, _) = self
            .run(CallOptions::offline(bytes.len()), move |store, i| {
                Box::pin(async move { i.amplifier_modules_provider().call_parse_tool_calls(store, &bytes).await })
            })
            .await;
        // The contract's string error: `parse-tool-calls` reads a ChatResponse, sends nothing,
        // and fails only for one it cannot read (WIT `completion` says so, and a test holds it).
        let out = r?.map_err(|message| CallError::Provider(ProviderFailure::reported(ErrorKind::Validation, message)))?;
        Ok(serde_json::from_slice(&out).context("parse-tool-calls returned invalid JSON")?)
    }

    /// `stream`: calls `on_event` with each event as the component yields it; returns after
    /// the `done` event.
    pub async fn stream(&self, request: &Value, mut on_event: impl FnMut(Value) + Send) -> Result<(), CallError> {
        self.stream_while(request, |e| {
            on_event(e);
            true
        })
        .await
    }

    /// Like [`stream`](Self::stream), but stops as soon as `on_event` returns `false`: the
    /// stream resource is dropped, which closes the connection to Bedrock.
    pub async fn stream_while(&self, request: &Value, mut on_event: impl FnMut(Value) -> bool + Send) -> Result<(), CallError> {
        self.stream_until(request, |event| std::future::ready(on_event(event))).await
    }

    /// Sends each event into `events` as the component yields it, waiting while the channel
    /// is full (so a slow reader slows the stream instead of growing a buffer). Ends early,
    /// closing the connection to Bedrock, when the receiver is dropped.
    pub async fn stream_to(&self, request: &Value, events: tokio::sync::mpsc::Sender<Value>) -> Result<(), CallError> {
        self.stream_until(request, |event| {
            let events = events.clone();
            async move { events.send(event).await.is_ok() }
        })
        .await
    }

    /// The streaming loop: `on_event` answers whether to go on.
    async fn stream_until<F, Fut>(&self, request: &Value, on_event: F) -> Result<(), CallError>
    where
        F: FnMut(Value) -> Fut + Send,
        Fut: std::future::Future<Output = bool> + Send,
    {
        self.stream_with(request, false, on_event).await.0
    }

    /// The streaming loop, also returning what the call left behind (its events, and the
    /// guest's memory high-water mark): `on_event` answers whether to go on.
    pub async fn stream_recorded<F, Fut>(&self, request: &Value, on_event: F) -> (Result<(), CallError>, CallRecord)
    where
        F: FnMut(Value) -> Fut + Send,
        Fut: std::future::Future<Output = bool> + Send,
    {
        self.stream_with(request, true, on_event).await
    }

    async fn stream_with<F, Fut>(&self, request: &Value, record: bool, mut on_event: F) -> (Result<(), CallError>, CallRecord)
    where
        F: FnMut(Value) -> Fut + Send,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let bytes = serde_json::to_vec(request).expect("a JSON value serialises");
        let mut sandbox = match self.sandbox(CallOptions::sending(bytes.len()).recorded(record)).await {
            Ok(sandbox) => sandbox,
            Err(e) => return (Err(e), CallRecord::default()),
        };
        let deadline = sandbox.deadline;
        // Each step (opening the stream, then each event) gets the whole deadline afresh:
        // a stream that keeps delivering is never ended by the host.
        let run = async {
            let instance =
                self.pre.instantiate_async(&mut sandbox.store).await.map_err(anyhow::Error::from).context("instantiating the component")?;
            let streaming = instance.amplifier_bedrock_provider_streaming();
            let opened = tokio::time::timeout(deadline, streaming.call_stream(&mut sandbox.store, &bytes)).await;
            let handle = match opened.map_err(|_| StepExpired)?.map_err(anyhow::Error::from)? {
                Ok(h) => h,
                Err(e) => return Ok(Err(reported(&e))),
            };
            let resource = streaming.completion_stream();
            let outcome = loop {
                sandbox.rearm();
                let next = tokio::time::timeout(deadline, resource.call_next(&mut sandbox.store, handle)).await.map_err(|_| StepExpired)?;
                match next.map_err(anyhow::Error::from)? {
                    Ok(Some(event)) => match serde_json::from_slice(&event) {
                        Ok(v) => {
                            if !on_event(v).await {
                                break Ok(());
                            }
                        }
                        Err(e) => {
                            break Err(ProviderFailure::new(ErrorKind::Bedrock, format!("the component yielded an invalid event: {e}")))
                        }
                    },
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(reported(&e)),
                }
            };
            handle.resource_drop_async(&mut sandbox.store).await.map_err(anyhow::Error::from)?;
            anyhow::Ok(outcome)
        };
        let result = match run.await {
            Ok(outcome) => outcome.map_err(CallError::Provider),
            Err(e) if e.is::<StepExpired>() => {
                Err(sandbox.expired("a stream step", "`timeout`, `stream_idle_timeout`, `max_retries` and `retry_budget`"))
            }
            Err(e) => Err(sandbox.host_failure(e)),
        };
        (result, sandbox.finish())
    }
}
