//! `Provider`: the component loaded once, called in a fresh sandbox per request.
//!
//! Each call gets its own `Store` (as the Amplifier kernel does), so no state leaks between
//! requests, configuration and credentials are injected per call (rotation needs no reload),
//! and a memory cap plus a deadline bound what one call can take.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amplifier_provider_bedrock::config::{Endpoint, ProviderConfig};
use anyhow::{Context, Result};
use serde_json::Value;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::{WasiConfig, WasiConfigVariables};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::call_error::{CallError, ErrorKind, HostFailure, HostFailureKind, ProviderFailure};
use crate::credentials::{AwsCredentialChain, Credentials};
use crate::events::{EventCallback, HostEvent, StderrSink};
use crate::http_client::{HttpClient, HttpClientOptions, PoolStats};
use crate::outbound::OutboundPolicy;
use crate::runtime::bindings::BedrockProviderExportsPre;
use crate::runtime::{self, CacheOutcome, EPOCH_TICK};

/// Per-call resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest linear memory the component may grow to in a call whose request is at most
    /// [`REQUEST_BYTES_WITHIN_CAP`]; a bigger request raises its call's cap (see
    /// [`Limits::memory_cap`]). Default 64 MiB; `bedrock-host --memory-cap MIB`.
    pub memory_bytes: usize,
    /// Wall-clock limit for one call, or for one step of a stream (opening it, or one event):
    /// a stream that keeps delivering is never ended. `None` derives it from the call's own
    /// limits (see [`Limits::derived_call_timeout`]), so the component's clearer errors win.
    pub call_timeout: Option<Duration>,
    /// The host-wide bound on what a big request raises its call's cap to (default 1 GiB):
    /// how much memory one call can take however big its request. A `memory_bytes` above it
    /// is used as it is.
    pub memory_max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: DEFAULT_MEMORY_BYTES, call_timeout: None, memory_max_bytes: DEFAULT_MEMORY_MAX_BYTES }
    }
}

/// [`Limits::memory_bytes`] unless set: 64 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;

/// [`Limits::memory_max_bytes`] unless set: 1 GiB.
pub const DEFAULT_MEMORY_MAX_BYTES: usize = 1 << 30;

/// The part of a request [`Limits::memory_bytes`] covers: each byte beyond it adds
/// [`MEMORY_PER_REQUEST_BYTE`] to its call's cap.
pub const REQUEST_BYTES_WITHIN_CAP: usize = 8 << 20;

/// What each request byte beyond [`REQUEST_BYTES_WITHIN_CAP`] adds to its call's memory cap.
/// Measured with [`CallRecord::memory_peak_bytes`] (host-test/tests/big_requests.rs): the guest
/// holds a request three times while it translates and sends it (the request as received, the
/// Bedrock body as JSON values, the body as bytes: 44 MiB for a 15 MB request, 55 MiB for
/// 19 MB, whether text, image or Messages API), four times with `max_continuations` (the
/// request is kept for the next round); 8 leaves room for the answer and for those. `raw_debug`
/// copies the whole body into an event (nine times the request in all): raise
/// [`Limits::memory_bytes`] for it with requests of many megabytes.
pub const MEMORY_PER_REQUEST_BYTE: usize = 8;

/// Added to a derived deadline so the component's own, clearer, timeout error comes first.
const DEADLINE_MARGIN: Duration = Duration::from_secs(30);

impl Limits {
    /// The memory cap of a call whose request is `request_bytes` long: [`Limits::memory_bytes`],
    /// plus [`MEMORY_PER_REQUEST_BYTE`] for each request byte beyond [`REQUEST_BYTES_WITHIN_CAP`]
    /// (in whole MiB), at most [`Limits::memory_max_bytes`] (or `memory_bytes`, when that is
    /// more). Any request Bedrock takes (20 MB) fits in the default cap; a bigger one still
    /// reaches the component, which answers with Bedrock's limit.
    pub fn memory_cap(&self, request_bytes: usize) -> usize {
        // In whole MiB, as caps are stated.
        let growth = MEMORY_PER_REQUEST_BYTE.saturating_mul(request_bytes.saturating_sub(REQUEST_BYTES_WITHIN_CAP)) & !((1 << 20) - 1);
        self.memory_bytes.saturating_add(growth).min(self.memory_max_bytes.max(self.memory_bytes))
    }

    /// The deadline of a call (or stream step) configured with `config`: every attempt the
    /// component may make (its retries on each of the model's ids, at most
    /// [`MAX_CANDIDATES`](amplifier_provider_bedrock::models::MAX_CANDIDATES)) at its full
    /// `timeout` (or `stream_idle_timeout`, whichever is longer), plus the retry budget and a
    /// margin. The limits are the component's own reading of `config` ([`resolved`]).
    pub fn derived_call_timeout(config: &BTreeMap<String, String>) -> Duration {
        Self::deadline_of(&resolved(config))
    }

    fn deadline_of(c: &ProviderConfig) -> Duration {
        let per_attempt = c.timeout.max(c.stream_idle_timeout);
        let attempts = c.max_retries + amplifier_provider_bedrock::models::MAX_CANDIDATES as u32;
        per_attempt.saturating_mul(attempts).saturating_add(c.retry_budget) + DEADLINE_MARGIN
    }

    /// The deadline for a call configured as `config`: the explicit one, else the derived one.
    fn call_deadline(&self, config: &ProviderConfig) -> Duration {
        self.call_timeout.unwrap_or_else(|| Self::deadline_of(config))
    }
}

/// Everything one store owns.
struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    config: WasiConfigVariables,
    limits: RecordingLimits,
    outbound: OutboundPolicy,
}

/// A fresh store for one call, and what the call leaves behind in it.
struct CallStore {
    store: Store<HostState>,
    stderr: StderrSink,
    /// URLs the outbound policy refused.
    refused: Arc<Mutex<Vec<String>>>,
    /// The call's host deadline.
    deadline: Duration,
    /// The guest's memory high-water mark.
    peak: Arc<AtomicUsize>,
    /// The call's memory cap, and the request size it was raised for.
    memory: MemoryCap,
}

/// A call's memory cap and how it came about, for the error when the guest reaches it.
#[derive(Debug, Clone)]
struct MemoryCap {
    cap: usize,
    limits: Limits,
    request_bytes: usize,
    /// Set by the limiter when the guest tried to grow past the cap: the trap that follows is
    /// then the cap's, whatever wasmtime's message says.
    reached: Arc<AtomicBool>,
}

/// The store's limits, also recording the largest linear memory the guest grew to: the bench
/// and the tests read it to show that the guest's memory does not grow with the answer.
struct RecordingLimits {
    limits: StoreLimits,
    peak: Arc<AtomicUsize>,
    /// [`MemoryCap::reached`].
    reached: Arc<AtomicBool>,
}

impl wasmtime::ResourceLimiter for RecordingLimits {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let allowed = self.limits.memory_growing(current, desired, maximum);
        match allowed {
            Ok(true) => {
                self.peak.fetch_max(desired, Ordering::Relaxed);
            }
            Ok(false) | Err(_) => self.reached.store(true, Ordering::Relaxed),
        }
        allowed
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.limits.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.limits.instances()
    }

    fn tables(&self) -> usize {
        self.limits.tables()
    }

    fn memories(&self) -> usize {
        self.limits.memories()
    }
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
    http: HttpClientOptions,
    ca_bundles: Vec<PathBuf>,
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
            cache_dir: runtime::default_cache_dir(),
            config: BTreeMap::new(),
            credentials: None,
            limits: Limits::default(),
            allowed_regions: None,
            allowed_endpoint: None,
            on_event: None,
            credential_chain: None,
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
    /// The largest the guest's linear memory grew to during the call, in bytes.
    pub memory_peak_bytes: usize,
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
            if let Some(path) = b.credential_chain.as_ref().and_then(|c| crate::http_client::profile_ca_bundle(c.profile())) {
                http.add_ca_bundle(&path).context("the profile's ca_bundle")?;
            }
        }
        for path in &b.ca_bundles {
            http.add_ca_bundle(path)?;
        }
        let http = HttpClient::new(http);
        let settings = Settings {
            config: b.config,
            credentials: b.credentials,
            limits: b.limits,
            allowed_regions: b.allowed_regions,
            allowed_endpoint: b.allowed_endpoint,
            on_event: b.on_event,
            credential_chain: b.credential_chain,
        };
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
            .call_with(self.offline_settings(), false, 0, move |store, i| {
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

    /// A store for one call with a request of `request_bytes`. `record`: whether the caller
    /// keeps the call's record (its events).
    fn new_store(&self, settings: Settings, record: bool, request_bytes: usize) -> CallStore {
        // The call's limits as the component will read them, resolved once for the deadline
        // and the connect timeout.
        let limits_config = resolved(&settings.config);
        let stderr = StderrSink::new(settings.on_event.clone(), record);
        let mut vars: Vec<(String, String)> = settings.config.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        // A stream's per-delta hook events cost a JSON line each: when no callback listens and
        // no record is kept, nobody would see them, so they are not made (unless configured).
        if !record && settings.on_event.is_none() && !settings.config.contains_key("stream_events") {
            vars.push(("stream_events".into(), "false".into()));
        }
        if let Some(c) = &settings.credentials {
            vars.extend(c.config_entries().into_iter().map(|(k, v)| (k.to_string(), v)));
        }
        // The same values as environment variables under the names a portable build (no
        // `wasi:config`) reads them by, so either build runs here; a build with `wasi:config`
        // reads only the store for these names.
        let portable_env: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (amplifier_provider_bedrock::config::portable_env_name(k), v.clone())).collect();
        let wasi = WasiCtx::builder().stderr(stderr.clone()).envs(&portable_env).build();
        // The configured endpoints and region as the component reads them (typed, resolved
        // above), so a URL it accepts is one the policy allows.
        let endpoints: Vec<String> = match &settings.allowed_endpoint {
            Some(url) => Endpoint::parse(url).map(|e| e.origin()).into_iter().collect(),
            None => [&limits_config.endpoint, &limits_config.mantle_endpoint].into_iter().flatten().map(|e| e.origin()).collect(),
        };
        let regions = settings.allowed_regions.clone().unwrap_or_else(|| limits_config.region.clone().into_iter().collect());
        let refused = Arc::new(Mutex::new(Vec::new()));
        let peak = Arc::new(AtomicUsize::new(0));
        let memory = MemoryCap {
            cap: settings.limits.memory_cap(request_bytes),
            limits: settings.limits,
            request_bytes,
            reached: Arc::new(AtomicBool::new(false)),
        };
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            config: WasiConfigVariables::from_iter(vars),
            // A trap at the cap, rather than a failed `memory.grow` the guest turns into an
            // abort: the call then fails with an error that names the cap.
            limits: RecordingLimits {
                limits: StoreLimitsBuilder::new().memory_size(memory.cap).instances(4).trap_on_grow_failure(true).build(),
                peak: peak.clone(),
                reached: memory.reached.clone(),
            },
            outbound: OutboundPolicy {
                regions,
                endpoints,
                refused: refused.clone(),
                client: self.http.clone(),
                // Enforced by the host on connecting: the component cannot see that phase apart
                // under `wasi:http` 0.2.
                connect_timeout: Some(limits_config.connect_timeout).filter(|t| !t.is_zero()),
            },
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        let deadline = settings.limits.call_deadline(&limits_config);
        store.set_epoch_deadline(epoch_ticks(deadline));
        store.epoch_deadline_trap();
        CallStore { store, stderr, refused, deadline, peak, memory }
    }

    /// Runs `f` against a fresh instance, under the call deadline.
    async fn call<T>(
        &self,
        record: bool,
        request_bytes: usize,
        f: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            crate::runtime::bindings::BedrockProviderExports,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>>,
    ) -> (Result<T, CallError>, CallRecord) {
        match self.call_settings().await {
            Ok(settings) => self.call_with(settings, record, request_bytes, f).await,
            Err(e) => (Err(e), CallRecord::default()),
        }
    }

    /// Like [`call`](Self::call), with these settings.
    async fn call_with<T>(
        &self,
        settings: Settings,
        record: bool,
        request_bytes: usize,
        f: impl for<'a> FnOnce(
            &'a mut Store<HostState>,
            crate::runtime::bindings::BedrockProviderExports,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>>,
    ) -> (Result<T, CallError>, CallRecord) {
        let CallStore { mut store, stderr, refused, deadline, peak, memory } = self.new_store(settings, record, request_bytes);
        let run = async {
            let instance =
                self.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from).context("instantiating the component")?;
            f(&mut store, instance).await.map_err(anyhow::Error::from)
        };
        let result = match tokio::time::timeout(deadline, run).await {
            Ok(r) => r.map_err(|e| host_failure(e, &memory)),
            Err(_) => Err(CallError::Host(HostFailure::new(
                HostFailureKind::DeadlineExceeded,
                anyhow::anyhow!(
                    "the call did not finish within {} (Limits::call_timeout, or derived from the `timeout`, `max_retries` and `retry_budget` config keys)",
                    seconds(deadline)
                ),
            ))),
        };
        drop(store);
        let (events, stderr) = stderr.take();
        let record = CallRecord {
            stderr,
            refused: refused.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            events,
            memory_peak_bytes: peak.load(Ordering::Relaxed),
        };
        (result, record)
    }

    /// Settings for a call that sends nothing: no credentials are resolved (or handed to the
    /// sandbox), so metadata answers on a machine without AWS credentials.
    fn offline_settings(&self) -> Settings {
        let mut settings = self.lock().clone();
        settings.credentials = None;
        settings.credential_chain = None;
        settings
    }

    /// `get-info`: ProviderInfo. Needs no credentials.
    pub async fn get_info(&self) -> Result<Value, CallError> {
        let (r, _) = self
            .call_with(self.offline_settings(), false, 0, |store, i| {
                Box::pin(async move { i.amplifier_modules_provider().call_get_info(store).await })
            })
            .await;
        Ok(serde_json::from_slice(&r?).context("get-info returned invalid JSON")?)
    }

    /// `list-models`: ModelInfo list. Needs no credentials.
    pub async fn list_models(&self) -> Result<Value, CallError> {
        let (r, _) = self
            .call_with(self.offline_settings(), false, 0, |store, i| {
                Box::pin(async move { i.amplifier_modules_provider().call_list_models(store).await })
            })
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
            .call(record, bytes.len(), move |store, i| {
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
            .call(false, bytes.len(), move |store, i| {
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
            .call_with(self.offline_settings(), false, bytes.len(), move |store, i| {
                Box::pin(async move { i.amplifier_bedrock_provider_completion().call_parse_tool_calls(store, &bytes).await })
            })
            .await;
        let out = r?.map_err(|e| CallError::Provider(reported(&e)))?;
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
        let settings = match self.call_settings().await {
            Ok(settings) => settings,
            Err(e) => return (Err(e), CallRecord::default()),
        };
        let CallStore { mut store, stderr, refused, deadline, peak, memory } = self.new_store(settings, record, bytes.len());
        let expired = || {
            CallError::Host(HostFailure::new(
                HostFailureKind::DeadlineExceeded,
                anyhow::anyhow!("a stream step did not finish within {} (Limits::call_timeout, or derived from the `timeout`, `stream_idle_timeout`, `max_retries` and `retry_budget` config keys)", seconds(deadline)),
            ))
        };
        // Each step (opening the stream, then each event) gets the whole deadline afresh:
        // a stream that keeps delivering is never ended by the host.
        let run = async {
            let instance =
                self.pre.instantiate_async(&mut store).await.map_err(anyhow::Error::from).context("instantiating the component")?;
            let streaming = instance.amplifier_bedrock_provider_streaming();
            let opened = tokio::time::timeout(deadline, streaming.call_stream(&mut store, &bytes)).await;
            let handle = match opened.map_err(|_| StepExpired)?.map_err(anyhow::Error::from)? {
                Ok(h) => h,
                Err(e) => return Ok(Err(reported(&e))),
            };
            let resource = streaming.completion_stream();
            let outcome = loop {
                store.set_epoch_deadline(epoch_ticks(deadline));
                let next = tokio::time::timeout(deadline, resource.call_next(&mut store, handle)).await.map_err(|_| StepExpired)?;
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
            handle.resource_drop_async(&mut store).await.map_err(anyhow::Error::from)?;
            anyhow::Ok(outcome)
        };
        let result = match run.await {
            Ok(outcome) => outcome.map_err(CallError::Provider),
            Err(e) if e.is::<StepExpired>() => Err(expired()),
            Err(e) => Err(host_failure(e, &memory)),
        };
        drop(store);
        let (events, stderr) = stderr.take();
        let refused = refused.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (result, CallRecord { stderr, refused, events, memory_peak_bytes: peak.load(Ordering::Relaxed) })
    }
}

/// `config` as the component reads it: the same keys, parsing, ranges and defaults
/// (`ProviderConfig::resolve`), so the host's limits cannot disagree with the component's. A
/// configuration the component would refuse fails the call there with a `config:` error; its
/// limits here are then the defaults.
fn resolved(config: &BTreeMap<String, String>) -> ProviderConfig {
    use amplifier_provider_bedrock::config::MapSource;
    ProviderConfig::resolve(&MapSource(config))
        .or_else(|_| ProviderConfig::resolve(&MapSource(&BTreeMap::new())))
        .expect("the component's defaults resolve")
}

/// A stream step outlived its deadline.
#[derive(Debug)]
struct StepExpired;

impl fmt::Display for StepExpired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a stream step outlived its deadline")
    }
}

impl std::error::Error for StepExpired {}

/// A duration as people write it: `330 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    format!("{} s", text.trim_end_matches('0').trim_end_matches('.'))
}

/// The epoch ticks of `deadline`.
fn epoch_ticks(deadline: Duration) -> u64 {
    u64::try_from(deadline.as_millis() / EPOCH_TICK.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// A failure on the host's side of a call, saying so plainly when the memory cap stopped it.
fn host_failure(error: anyhow::Error, memory: &MemoryCap) -> CallError {
    if memory.reached.load(Ordering::Relaxed) {
        let MemoryCap { cap, limits, request_bytes, .. } = *memory;
        let how = if cap == limits.memory_bytes {
            "Limits::memory_bytes".to_string()
        } else {
            let bound = if cap == limits.memory_max_bytes { ", the most Limits::memory_max_bytes allows" } else { "" };
            format!("Limits::memory_bytes, {} MiB, raised for a request of {request_bytes} bytes{bound}", limits.memory_bytes >> 20)
        };
        return CallError::Host(HostFailure::new(
            HostFailureKind::MemoryCap,
            anyhow::anyhow!(
                "the call needed more memory than its cap of {} MiB ({how}): raise the cap (bedrock-host: --memory-cap MIB) or send a smaller request",
                cap >> 20
            ),
        ));
    }
    CallError::from(error)
}

/// A failure as the component reported it through our WIT interfaces, typed: its kind maps
/// one to one (the match is exhaustive over the WIT enum, so a case added there does not
/// compile until it has a kind here).
fn reported(e: &crate::runtime::bindings::exports::amplifier_bedrock::provider::errors::Error) -> ProviderFailure {
    use crate::runtime::bindings::exports::amplifier_bedrock::provider::errors::ErrorKind as Wit;
    let kind = match e.kind {
        Wit::Validation => ErrorKind::Validation,
        Wit::Config => ErrorKind::Config,
        Wit::Unauthenticated => ErrorKind::Unauthenticated,
        Wit::AccessDenied => ErrorKind::AccessDenied,
        Wit::Model => ErrorKind::Model,
        Wit::Throttled => ErrorKind::Throttled,
        Wit::TimedOut => ErrorKind::TimedOut,
        Wit::Unreachable => ErrorKind::Unreachable,
        Wit::Bedrock => ErrorKind::Bedrock,
    };
    ProviderFailure::reported(kind, e.message.clone())
}
