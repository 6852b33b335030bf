//! `Provider`: the component loaded once, called in a fresh sandbox per request.
//!
//! Each call gets its own `Store` (as the Amplifier kernel does), so no state leaks between
//! requests, configuration and credentials are injected per call (rotation needs no reload),
//! and a memory cap plus a deadline bound what one call can take.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::Value;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings::BedrockProviderExportsPre;
use crate::credentials::{AwsCredentialChain, Credentials};
use crate::events::{EventCallback, HostEvent, StderrSink};
use crate::outbound::OutboundPolicy;
use crate::runtime::{self, CacheOutcome, EPOCH_TICK};

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory the component may grow to.
    pub memory_bytes: usize,
    /// Wall-clock limit for one call, including network waits. Should exceed the component's
    /// own `timeout` config so its clearer error wins.
    pub call_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 64 << 20, call_timeout: Duration::from_secs(330) }
    }
}

/// Why a call produced no result.
#[derive(Debug)]
pub enum CallError {
    /// The component answered with an error: a stable prefix (`validation:`, `auth:`, …) and
    /// what to do. Shown to users as is.
    Provider(String),
    /// The host stopped the call: trap, memory cap, deadline. Carries the reason.
    Host(anyhow::Error),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Provider(e) => f.write_str(e),
            CallError::Host(e) => write!(f, "host: {e:#}"),
        }
    }
}

impl std::error::Error for CallError {}

impl From<anyhow::Error> for CallError {
    fn from(e: anyhow::Error) -> Self {
        CallError::Host(e)
    }
}

/// Everything one store owns.
struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    config: WasiConfigVariables,
    limits: StoreLimits,
    outbound: OutboundPolicy,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.outbound }
    }
}

/// Builds a [`Provider`].
#[derive(Clone)]
pub struct ProviderBuilder {
    wasm: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    config: BTreeMap<String, String>,
    credentials: Option<Credentials>,
    limits: Limits,
    allowed_regions: Option<Vec<String>>,
    allowed_endpoint: Option<String>,
    on_event: Option<EventCallback>,
    credential_chain: Option<AwsCredentialChain>,
}

impl fmt::Debug for ProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderBuilder")
            .field("wasm", &self.wasm)
            .field("config", &self.config.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Default for ProviderBuilder {
    fn default() -> Self {
        ProviderBuilder {
            wasm: None,
            cache_dir: Some(runtime::default_cache_dir()),
            config: BTreeMap::new(),
            credentials: None,
            limits: Limits::default(),
            allowed_regions: None,
            allowed_endpoint: None,
            on_event: None,
            credential_chain: None,
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
        self.config.insert(key.into(), value.into());
        self
    }

    /// Credentials for every call until [`Provider::set_credentials`] replaces them.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// Per-call limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Restricts outbound Bedrock endpoints to these regions (default: the `aws_region`
    /// config key when set, else any region).
    pub fn allowed_regions(mut self, regions: Vec<String>) -> Self {
        self.allowed_regions = Some(regions);
        self
    }

    /// Allows this endpoint (`scheme://host[:port]`) besides Bedrock Runtime, instead of the
    /// one named by the `endpoint_url` config key.
    pub fn allow_endpoint(mut self, origin: impl Into<String>) -> Self {
        self.allowed_endpoint = Some(origin.into());
        self
    }

    /// Resolves credentials through the standard AWS chain when none are set explicitly
    /// (see [`AwsCredentialChain`]); they are cached and refreshed before expiry.
    pub fn credential_chain(mut self, chain: AwsCredentialChain) -> Self {
        self.credential_chain = Some(chain);
        self
    }

    /// Calls `callback` with every hook event (`llm:request`, `llm:response`, debug and raw
    /// events) as the component emits it.
    pub fn on_event(mut self, callback: impl Fn(&HostEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(std::sync::Arc::new(callback));
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
            None => crate::component_wasm()?,
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
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider").field("cache", &self.cache).finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct Settings {
    config: BTreeMap<String, String>,
    credentials: Option<Credentials>,
    limits: Limits,
    allowed_regions: Option<Vec<String>>,
    allowed_endpoint: Option<String>,
    on_event: Option<EventCallback>,
    credential_chain: Option<AwsCredentialChain>,
}

/// What a call left behind besides its result.
#[derive(Debug, Clone, Default)]
pub struct CallRecord {
    /// What the component wrote to stderr.
    pub stderr: String,
    /// URLs the outbound policy refused.
    pub refused: Vec<String>,
    /// The hook events the component emitted, in order.
    pub events: Vec<HostEvent>,
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
        let settings = Settings {
            config: b.config,
            credentials: b.credentials,
            limits: b.limits,
            allowed_regions: b.allowed_regions,
            allowed_endpoint: b.allowed_endpoint,
            on_event: b.on_event,
            credential_chain: b.credential_chain,
        };
        Ok(Provider { engine, component, pre, settings: Arc::new(Mutex::new(settings)), cache })
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
        }
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
        let mut settings = self.lock().clone();
        settings.credentials = None;
        settings.credential_chain = None;
        let request = br#"{"messages": []}"#.to_vec();
        let (r, _) = self
            .call_with(settings, move |store, i| {
                Box::pin(async move { i.amplifier_modules_provider().call_complete(store, &request).await })
            })
            .await;
        match r? {
            Err(e) if e.starts_with("config:") => Err(CallError::Provider(e)),
            _ => Ok(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The settings for one call, with credentials resolved (explicit ones, else the chain).
    async fn call_settings(&self) -> Result<Settings, CallError> {
        let mut settings = self.lock().clone();
        if settings.credentials.is_none() {
            if let Some(chain) = &settings.credential_chain {
                settings.credentials = Some(chain.credentials().await.map_err(CallError::Provider)?);
            }
        }
        Ok(settings)
    }

    fn new_store(&self, settings: Settings) -> (Store<HostState>, StderrSink, Arc<Mutex<Vec<String>>>, Duration) {
        let stderr = StderrSink::new(settings.on_event.clone());
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        let mut vars: Vec<(String, String)> = settings.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if let Some(c) = &settings.credentials {
            vars.extend(c.config_vars().into_iter().map(|(k, v)| (k.to_string(), v)));
        }
        let endpoint = settings.allowed_endpoint.clone().or_else(|| {
            settings.config.get("endpoint_url").and_then(|u| {
                let uri: http::Uri = u.parse().ok()?;
                Some(format!("{}://{}", uri.scheme_str()?.to_ascii_lowercase(), uri.authority()?.as_str().to_ascii_lowercase()))
            })
        });
        let regions = settings.allowed_regions.clone().unwrap_or_else(|| settings.config.get("aws_region").cloned().into_iter().collect());
        let refused = Arc::new(Mutex::new(Vec::new()));
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            config: WasiConfigVariables::from_iter(vars),
            limits: StoreLimitsBuilder::new().memory_size(settings.limits.memory_bytes).instances(4).build(),
            outbound: OutboundPolicy { regions, endpoint, refused: refused.clone() },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let ticks = (settings.limits.call_timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        (store, stderr, refused, settings.limits.call_timeout)
    }

    /// Runs `f` against a fresh instance, under the call deadline.
    async fn call<T>(
        &self,
        f: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            crate::bindings::BedrockProviderExports,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>>,
    ) -> (Result<T, CallError>, CallRecord) {
        match self.call_settings().await {
            Ok(settings) => self.call_with(settings, f).await,
            Err(e) => (Err(e), CallRecord::default()),
        }
    }

    /// Like [`call`](Self::call), with these settings.
    async fn call_with<T>(
        &self,
        settings: Settings,
        f: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            crate::bindings::BedrockProviderExports,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>>,
    ) -> (Result<T, CallError>, CallRecord) {
        let (mut store, stderr, refused, deadline) = self.new_store(settings);
        let run = async {
            let instance =
                self.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from).context("instantiating the component")?;
            f(&mut store, instance).await.map_err(anyhow::Error::from)
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Ok(r) => r.map_err(CallError::Host),
            Err(_) => Err(CallError::Host(anyhow::anyhow!("the call did not finish within {:?} (Limits::call_timeout)", deadline))),
        };
        drop(store);
        let (events, stderr) = stderr.take();
        let record = CallRecord { stderr, refused: refused.lock().unwrap_or_else(|p| p.into_inner()).clone(), events };
        (result, record)
    }

    /// `get-info`: ProviderInfo.
    pub async fn get_info(&self) -> Result<Value, CallError> {
        let (r, _) = self.call(|store, i| Box::pin(async move { i.amplifier_modules_provider().call_get_info(store).await })).await;
        Ok(serde_json::from_slice(&r?).context("get-info returned invalid JSON")?)
    }

    /// `list-models`: ModelInfo list.
    pub async fn list_models(&self) -> Result<Value, CallError> {
        let (r, _) = self.call(|store, i| Box::pin(async move { i.amplifier_modules_provider().call_list_models(store).await })).await;
        let bytes = r?.map_err(CallError::Provider)?;
        Ok(serde_json::from_slice(&bytes).context("list-models returned invalid JSON")?)
    }

    /// `complete`: ChatRequest JSON → ChatResponse JSON.
    pub async fn complete(&self, request: &Value) -> Result<Value, CallError> {
        self.complete_recorded(request).await.0
    }

    /// Like [`complete`](Self::complete), also returning what the call left behind.
    pub async fn complete_recorded(&self, request: &Value) -> (Result<Value, CallError>, CallRecord) {
        let bytes = serde_json::to_vec(request).expect("a JSON value serialises");
        let (r, record) =
            self.call(move |store, i| Box::pin(async move { i.amplifier_modules_provider().call_complete(store, &bytes).await })).await;
        let result = match r {
            Err(e) => Err(e),
            Ok(Err(e)) => Err(CallError::Provider(e)),
            Ok(Ok(bytes)) => {
                serde_json::from_slice(&bytes).map_err(|e| CallError::Host(anyhow::anyhow!("complete returned invalid JSON: {e}")))
            }
        };
        (result, record)
    }

    /// `parse-tool-calls`: ChatResponse JSON → ToolCall list.
    pub async fn parse_tool_calls(&self, response: &Value) -> Result<Value, CallError> {
        let bytes = serde_json::to_vec(response).expect("a JSON value serialises");
        let (r, _) = self
            .call(move |store, i| Box::pin(async move { i.amplifier_modules_provider().call_parse_tool_calls(store, &bytes).await }))
            .await;
        let out = r?.map_err(CallError::Provider)?;
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
    async fn stream_until<F, Fut>(&self, request: &Value, mut on_event: F) -> Result<(), CallError>
    where
        F: FnMut(Value) -> Fut + Send,
        Fut: std::future::Future<Output = bool> + Send,
    {
        let bytes = serde_json::to_vec(request).expect("a JSON value serialises");
        let settings = self.call_settings().await?;
        let (mut store, _stderr, _refused, deadline) = self.new_store(settings);
        let run = async {
            let instance =
                self.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from).context("instantiating the component")?;
            let streaming = instance.amplifier_bedrock_provider_streaming();
            let handle = match streaming.call_stream(&mut store, &bytes).await.map_err(anyhow::Error::from)? {
                Ok(h) => h,
                Err(e) => return Ok(Err(e)),
            };
            let resource = streaming.completion_stream();
            let outcome = loop {
                match resource.call_next(&mut store, handle).await.map_err(anyhow::Error::from)? {
                    Ok(Some(event)) => match serde_json::from_slice(&event) {
                        Ok(v) => {
                            if !on_event(v).await {
                                break Ok(());
                            }
                        }
                        Err(e) => break Err(format!("bedrock: the component yielded an invalid event: {e}")),
                    },
                    Ok(None) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            handle.resource_drop_async(&mut store).await.map_err(anyhow::Error::from)?;
            anyhow::Ok(outcome)
        };
        match tokio::time::timeout(deadline, run).await {
            Ok(Ok(outcome)) => outcome.map_err(CallError::Provider),
            Ok(Err(e)) => Err(CallError::Host(e)),
            Err(_) => Err(CallError::Host(anyhow::anyhow!("the call did not finish within {deadline:?} (Limits::call_timeout)"))),
        }
    }
}
