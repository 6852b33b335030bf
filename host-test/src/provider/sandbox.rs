//! The sandbox one call runs in: a fresh store with the call's configuration, credentials,
//! outbound policy, memory cap and deadline, shared by calls and streams, and what the call
//! leaves behind in it ([`CallRecord`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amplifier_provider_bedrock::config::Endpoint;
use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::limits::{resolved, Limits};
use crate::call_error::{CallError, ErrorKind, HostFailure, HostFailureKind, ProviderFailure};
use crate::credentials::{AwsCredentialChain, Credentials};
use crate::events::{EventCallback, HostEvent, StderrSink};
use crate::http_client::HttpClient;
use crate::outbound::OutboundPolicy;
use crate::runtime::EPOCH_TICK;

/// What every call of a `Provider` starts from: the builder's settings, which
/// a sandbox is set up from.
#[derive(Clone)]
pub(super) struct Settings {
    pub(super) config: BTreeMap<String, String>,
    pub(super) credentials: Option<Credentials>,
    pub(super) limits: Limits,
    pub(super) allowed_regions: Option<Vec<String>>,
    pub(super) allowed_endpoint: Option<String>,
    pub(super) on_event: Option<EventCallback>,
    pub(super) credential_chain: Option<AwsCredentialChain>,
}

/// What a call left behind besides its result. Made only by the host, so a field added later
/// does not break readers.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
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

/// How one call uses its sandbox.
#[derive(Debug, Clone, Copy)]
pub(super) struct CallOptions {
    /// Whether the call may send: its credentials are resolved (explicit ones, else the chain)
    /// and handed over. Calls that send nothing answer on a machine without credentials.
    pub(super) sends: bool,
    /// Whether the caller keeps the call's record (its events, stderr, memory peak).
    pub(super) keep_record: bool,
    /// The request's size, which raises the memory cap of a big one.
    pub(super) request_bytes: usize,
}

impl CallOptions {
    /// A call that sends a request of `request_bytes`.
    pub(super) fn sending(request_bytes: usize) -> Self {
        CallOptions { sends: true, keep_record: false, request_bytes }
    }

    /// A call that sends nothing (metadata, parsing).
    pub(super) fn offline(request_bytes: usize) -> Self {
        CallOptions { sends: false, keep_record: false, request_bytes }
    }

    /// The same call, its record kept when `keep` is true.
    pub(super) fn recorded(self, keep: bool) -> Self {
        CallOptions { keep_record: keep, ..self }
    }
}

/// Everything one store owns.
pub(crate) struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    pub(super) config: WasiConfigVariables,
    limits: RecordingLimits,
    outbound: OutboundPolicy,
}

/// A fresh store for one call, and what the call leaves behind in it: what calls and streams
/// share (setting the store up, the deadline, the memory cap, the record).
pub(super) struct Sandbox {
    pub(super) store: Store<HostState>,
    stderr: StderrSink,
    /// URLs the outbound policy refused.
    refused: Arc<Mutex<Vec<String>>>,
    /// The call's host deadline.
    pub(super) deadline: Duration,
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

impl Sandbox {
    /// A fresh store for one call, configured by `settings` (with the call's credentials
    /// already resolved) and sized by `options`.
    pub(super) fn new(engine: &Engine, client: &HttpClient, settings: &Settings, options: CallOptions) -> Sandbox {
        let CallOptions { keep_record: record, request_bytes, .. } = options;
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
            None => [limits_config.endpoint_override(), limits_config.mantle_endpoint_override()]
                .into_iter()
                .flatten()
                .map(|e| e.origin())
                .collect(),
        };
        let regions = settings.allowed_regions.clone().unwrap_or_else(|| limits_config.region().map(str::to_owned).into_iter().collect());
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
                client: client.clone(),
                // Enforced by the host on connecting: the component cannot see that phase apart
                // under `wasi:http` 0.2.
                connect_timeout: Some(limits_config.connect_timeout()).filter(|t| !t.is_zero()),
            },
        };
        let mut store = Store::new(engine, state);
        store.limiter(|s| &mut s.limits);
        let deadline = settings.limits.call_deadline(&limits_config);
        store.set_epoch_deadline(epoch_ticks(deadline));
        store.epoch_deadline_trap();
        Sandbox { store, stderr, refused, deadline, peak, memory }
    }

    /// A failure on the host's side of this call, saying so plainly when the memory cap
    /// stopped it.
    pub(super) fn host_failure(&self, error: anyhow::Error) -> CallError {
        host_failure(error, &self.memory)
    }

    /// The deadline error of this call (`what`: "the call", "a stream step"; `keys`: the
    /// config keys it derives from).
    pub(super) fn expired(&self, what: &str, keys: &str) -> CallError {
        CallError::Host(HostFailure::new(
            HostFailureKind::DeadlineExceeded,
            anyhow::anyhow!(
                "{what} did not finish within {} (Limits::call_timeout, or derived from the {keys} config keys)",
                seconds(self.deadline)
            ),
        ))
    }

    /// Arms the epoch deadline afresh for the next step of a stream.
    pub(super) fn rearm(&mut self) {
        self.store.set_epoch_deadline(epoch_ticks(self.deadline));
    }

    /// Ends the call: drops the store and returns what the call left behind.
    pub(super) fn finish(self) -> CallRecord {
        let Sandbox { store, stderr, refused, peak, .. } = self;
        drop(store);
        let (events, stderr) = stderr.take();
        let refused = refused.lock().unwrap_or_else(|p| p.into_inner()).clone();
        CallRecord { stderr, refused, events, memory_peak_bytes: peak.load(Ordering::Relaxed) }
    }
}

/// A stream step outlived its deadline.
#[derive(Debug)]
pub(super) struct StepExpired;

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
pub(super) fn reported(e: &crate::runtime::bindings::exports::amplifier_bedrock::provider::errors::Error) -> ProviderFailure {
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
        Wit::Unavailable => ErrorKind::Unavailable,
        Wit::Bedrock => ErrorKind::Bedrock,
    };
    ProviderFailure::reported(kind, e.message.clone())
}
