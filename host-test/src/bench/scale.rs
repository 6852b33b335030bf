//! `bedrock-host bench scale`: many concurrent `CompleteStreaming` calls through one `serve`.
//!
//! `serve` runs as a child process (this executable, `serve --port 0`), so what `/proc` says of
//! it (resident memory, threads, CPU time, open file descriptors, memory mappings) is the
//! server's alone. Its Bedrock is the emulator in this process, streaming like a model
//! ([`Emulator::set_stream_pace`]: the first text delta at once, then one delta per pause), so
//! the calls stay open together as they do against a real model. Each call sends a prompt with
//! a token of its own and must get back its own echo (`You said: <prompt>`), and nobody else's.
//!
//! Per round of N calls it measures: how many completed, and how the others failed; the
//! server's resident memory idle, at its peak (the kernel's high-water mark, reset at the start
//! of the round) and after, and the peak per stream in flight; threads; CPU seconds per call;
//! descriptors idle, at the peak and after; and the first-event latency `serve` adds over the
//! emulator's own: (client's first message − client's call start) − (emulator's first event −
//! emulator's receipt of the request), both clocks being this process's.
//!
//! With faults, a fixed share of the calls asks the emulator (by a marker in its prompt,
//! [`Fault`]) to reset mid-way, answer 529 or 503, or go silent; each of those must fail with
//! the typed error its fault leads to, within the call's deadline, and every other call must
//! still get its own answer. Nothing here asserts a time: the report says what was seen, and
//! [`RoundReport::problems`] lists what broke the rules.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use bedrock_emulator::{self as emulator, Emulator, Fault, Pace};
use bedrock_host::grpc::proto::provider_service_client::ProviderServiceClient;
use bedrock_host::grpc::proto::{self, content_block::Block, message::Content};

/// How many calls share one HTTP/2 connection to `serve`: tonic's server lets 200 streams run
/// at once on a connection (hyper's default), and clients spread over several, as a pool of
/// sessions would.
pub const STREAMS_PER_CONNECTION: usize = 100;

/// The error prefixes the provider's errors carry (README, Errors).
const TYPED_PREFIXES: [&str; 8] = ["validation", "auth", "throttled", "network", "bedrock", "model", "config", "host"];

/// What to run.
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// Concurrent calls per round, one round each.
    pub streams: Vec<usize>,
    /// Mix faults into each round ([`fault_for`]).
    pub faults: bool,
    /// Text deltas per answer.
    pub events: usize,
    /// Pause between two events of an answer.
    pub event_delay: Duration,
    /// The calls of a round start spread evenly over this long (a burst when zero).
    pub ramp: Duration,
    /// Calls per HTTP/2 connection to `serve`.
    pub streams_per_connection: usize,
    /// Each call must have ended (answered or failed) this long after it started.
    pub call_deadline: Duration,
    /// `serve`'s `between_bytes_timeout` and `stream_idle_timeout`: how long a silent stream
    /// lasts before its call fails.
    pub idle_timeout: Duration,
    /// How long to wait after a round for the server's descriptors to return to idle.
    pub settle: Duration,
    /// The `bedrock-host` executable to run `serve` from.
    pub exe: PathBuf,
    /// Extra environment for `serve` (a test's compile-cache directory).
    pub env: Vec<(String, String)>,
}

impl ScaleOptions {
    /// The full run: 100, 1,000 and 5,000 streams of 40 events 150 ms apart (6 s each, started
    /// over 3 s), so every call of a round is in flight at once.
    pub fn full(exe: PathBuf) -> ScaleOptions {
        ScaleOptions {
            streams: vec![100, 1_000, 5_000],
            faults: false,
            events: 40,
            event_delay: Duration::from_millis(150),
            ramp: Duration::from_secs(3),
            streams_per_connection: STREAMS_PER_CONNECTION,
            call_deadline: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(5),
            settle: Duration::from_secs(10),
            exe,
            env: Vec::new(),
        }
    }

    /// A small run for CI (and the integration test): 60 streams over several connections.
    pub fn quick(exe: PathBuf) -> ScaleOptions {
        ScaleOptions {
            streams: vec![60],
            events: 8,
            event_delay: Duration::from_millis(40),
            ramp: Duration::from_millis(300),
            streams_per_connection: 25,
            call_deadline: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(2),
            settle: Duration::from_secs(10),
            ..ScaleOptions::full(exe)
        }
    }
}

/// The fault call `index` of a round asks for, when faults are on: of every 20 calls, two reset
/// mid-way, two get 529, two get 503 and one goes silent (10 %, 10 %, 10 %, 5 %).
pub fn fault_for(index: usize) -> Option<Fault> {
    match index % 20 {
        0 | 1 => Some(Fault::ResetMidway),
        2 | 3 => Some(Fault::Overloaded),
        4 | 5 => Some(Fault::Unavailable),
        6 => Some(Fault::Silent),
        _ => None,
    }
}

/// The error prefixes a call with `fault` may end with. A reset or a silence after the headers
/// is a `network:` failure; 529 and 503 are Bedrock's capacity answers, retried, then reported
/// as `bedrock:` (503 with `ServiceUnavailable` named, 529 as the internal error its status
/// means).
pub fn expected_prefixes(fault: Fault) -> &'static [&'static str] {
    match fault {
        Fault::ResetMidway | Fault::Silent => &["network"],
        Fault::Overloaded | Fault::Unavailable => &["bedrock"],
    }
}

/// What one round saw.
#[derive(Debug, Clone, Default)]
pub struct RoundReport {
    /// Calls started.
    pub streams: usize,
    /// Whether faults were mixed in.
    pub faults: bool,
    /// Calls that returned their own answer.
    pub completed: usize,
    /// Calls that failed, by fault (`none` for a call without one) and error prefix
    /// (`throttled`, `network`, …; `untyped` for a message without one, `deadline` when the
    /// call outlived its deadline, `transport` for a gRPC failure before any answer).
    pub failed: BTreeMap<(String, String), usize>,
    /// What broke the rules: a call that got text that was not its own, a faulted call that
    /// succeeded or failed with another error than its fault's, a call that did not end within
    /// its deadline, a call without a fault that failed.
    pub problems: Vec<String>,
    /// Most calls streaming at once (their first message received, not yet ended).
    pub peak_streaming: usize,
    /// The server's resident memory before the round, at its peak and a little after, bytes.
    pub rss_idle: u64,
    /// See `rss_idle`.
    pub rss_peak: u64,
    /// See `rss_idle`.
    pub rss_after: u64,
    /// The server's threads before and at the peak.
    pub threads_idle: u64,
    /// See `threads_idle`.
    pub threads_peak: u64,
    /// The server's user + system CPU time during the round, seconds.
    pub cpu_seconds: f64,
    /// The server's open descriptors before, at the peak and after.
    pub fds_idle: usize,
    /// See `fds_idle`.
    pub fds_peak: usize,
    /// See `fds_idle`.
    pub fds_after: usize,
    /// The server's memory mappings at the peak (Linux limits them, `vm.max_map_count`).
    pub maps_peak: usize,
    /// First-event latency `serve` added, per completed call without a fault, sorted, seconds.
    pub added_latency: Vec<f64>,
    /// The emulator's own first-event latency for the same calls, sorted, seconds.
    pub emulator_latency: Vec<f64>,
    /// Wall time of the round, from the first call's start to the last call's end.
    pub wall: Duration,
}

impl RoundReport {
    /// Peak resident memory above idle per stream in flight, MiB.
    pub fn rss_per_stream_mib(&self) -> f64 {
        self.rss_peak.saturating_sub(self.rss_idle) as f64 / self.peak_streaming.max(1) as f64 / (1 << 20) as f64
    }

    /// Failed calls in all.
    pub fn failed_total(&self) -> usize {
        self.failed.values().sum()
    }
}

/// The `q` quantile (0–1) of sorted `values`, nearest rank.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// Runs every round: a fresh `serve` per round, against one emulator.
pub async fn run(options: &ScaleOptions) -> Result<Vec<RoundReport>> {
    if !cfg!(target_os = "linux") {
        bail!("bench scale reads the server's resources from Linux's /proc; it runs on Linux only");
    }
    bedrock_host::grpc::raise_open_files_limit();
    let emu = Emulator::start().await?;
    emu.set_stream_pace(Some(Pace { deltas: options.events.max(1), delay: options.event_delay }));
    let mut reports = Vec::new();
    for (round, &n) in options.streams.iter().enumerate() {
        reports.push(run_round(&emu, options, round, n).await.with_context(|| format!("the round of {n} streams"))?);
    }
    Ok(reports)
}

/// A `serve` child: its pid, and the last lines of its stderr (to explain a failure).
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    fn start(emu: &Emulator, options: &ScaleOptions) -> Result<Server> {
        let idle = format!("{}", options.idle_timeout.as_secs_f64());
        let mut command = Command::new(&options.exe);
        command
            .args(["serve", "--port", "0", "--region", "us-east-1"])
            // One retry after a capacity answer, waiting at most 2 s: faulted calls end soon.
            .args(["-c", "max_retries=1", "-c", "retry_budget=2"])
            .args(["-c", &format!("between_bytes_timeout={idle}"), "-c", &format!("stream_idle_timeout={idle}")])
            .args(["-c", "timeout=30", "-c", "first_byte_timeout=30"])
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.endpoint_url())
            .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_BEARER_TOKEN_BEDROCK")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &options.env {
            command.env(k, v);
        }
        let mut child = command.spawn().with_context(|| format!("starting {} serve", options.exe.display()))?;
        let log: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let stderr = child.stderr.take().context("serve's stderr")?;
        let lines = log.clone();
        // Drained on a thread of its own: `serve` logs a line per call, and a full pipe would stop it.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let mut lines = lines.lock().unwrap_or_else(|p| p.into_inner());
                if lines.len() == 20 {
                    lines.pop_front();
                }
                lines.push_back(line);
            }
        });
        let mut first = String::new();
        BufReader::new(child.stdout.take().context("serve's stdout")?).read_line(&mut first).context("reading serve's READY line")?;
        let mut server = Server { child, port: 0, log };
        match first.trim().strip_prefix("READY:").and_then(|p| p.parse().ok()) {
            Some(port) => server.port = port,
            None => bail!("serve did not start (first stdout line {first:?}); its stderr:\n{}", server.last_log()),
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn last_log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>().join("\n")
    }

    /// Fails when the server has exited.
    fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("serve exited ({status}); the end of its stderr:\n{}", self.last_log());
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's resources as `/proc` tells them.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    rss: u64,
    hwm: u64,
    threads: u64,
    fds: usize,
    cpu_ticks: u64,
}

fn sample(pid: u32) -> Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc/<serve>/status")?;
    let field = |name: &str| {
        status.lines().find_map(|l| l.strip_prefix(name)).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc/<serve>/stat")?;
    // After the command's name in parentheses: state is field 3, utime 14, stime 15.
    let rest: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    Ok(Sample {
        rss: field("VmRSS:").unwrap_or(0) * 1024,
        hwm: field("VmHWM:").unwrap_or(0) * 1024,
        threads: field("Threads:").unwrap_or(0),
        fds: std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0),
        cpu_ticks: ticks(11) + ticks(12),
    })
}

fn maps(pid: u32) -> usize {
    std::fs::read(format!("/proc/{pid}/maps")).map(|m| m.iter().filter(|b| **b == b'\n').count()).unwrap_or(0)
}

fn clock_ticks_per_second() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: sysconf has no preconditions.
        let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        if t > 0 {
            return t as f64;
        }
    }
    100.0
}

/// Resets the kernel's resident high-water mark (VmHWM) of `pid`, so the round's own peak is
/// read; false where the kernel does not allow it (then the sampled peak counts).
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// One call's prompt: its token, and its fault's marker.
fn prompt(token: &str, fault: Option<Fault>) -> String {
    format!("Scale call {token} checking in.{}", fault.map(|f| format!(" {}", f.marker())).unwrap_or_default())
}

/// A call's unique token: every token starts with [`TOKEN_PREFIX`].
fn token(round: usize, index: usize) -> String {
    format!("{TOKEN_PREFIX}{round}-{index:06}.")
}

const TOKEN_PREFIX: &str = "scale-token-";

/// Whether `text` mentions no token but `own` (a token cut off at the end of a partial answer
/// counts as its start).
fn only_own_tokens(text: &str, own: &str) -> bool {
    text.match_indices(TOKEN_PREFIX).all(|(at, _)| {
        let rest = &text[at..];
        rest.starts_with(own) || own.starts_with(rest)
    })
}

struct Outcome {
    index: usize,
    fault: Option<Fault>,
    prompt: String,
    started: Instant,
    first: Option<Instant>,
    ended: Instant,
    text: String,
    error: Option<(tonic::Code, String)>,
    transport: bool,
    late: bool,
}

async fn call(
    mut client: ProviderServiceClient<tonic::transport::Channel>,
    index: usize,
    prompt: String,
    fault: Option<Fault>,
    deadline: Duration,
    gauges: Arc<Gauges>,
) -> Outcome {
    let started = Instant::now();
    let mut outcome = Outcome {
        index,
        fault,
        prompt,
        started,
        first: None,
        ended: started,
        text: String::new(),
        error: None,
        transport: false,
        late: false,
    };
    let message = proto::Message {
        role: proto::Role::User as i32,
        content: Some(Content::TextContent(outcome.prompt.clone())),
        ..Default::default()
    };
    let mut request = tonic::Request::new(proto::ChatRequest { messages: vec![message], ..Default::default() });
    request.set_timeout(deadline);
    let run = async {
        let mut stream = match client.complete_streaming(request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                outcome.transport = true;
                outcome.error = Some((status.code(), status.message().to_string()));
                return;
            }
        };
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    if outcome.first.is_none() {
                        outcome.first = Some(Instant::now());
                        gauges.stream_started();
                    }
                    for b in &m.content_blocks {
                        if let Some(Block::TextBlock(t)) = &b.block {
                            outcome.text.push_str(&t.text);
                        }
                    }
                }
                Ok(None) => return,
                Err(status) => {
                    outcome.error = Some((status.code(), status.message().to_string()));
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(deadline, run).await.is_err() {
        outcome.late = true;
    }
    if outcome.first.is_some() {
        gauges.streaming.fetch_sub(1, Ordering::SeqCst);
    }
    outcome.ended = Instant::now();
    outcome
}

#[derive(Default)]
struct Gauges {
    streaming: AtomicUsize,
    peak_streaming: AtomicUsize,
}

impl Gauges {
    fn stream_started(&self) {
        let now = self.streaming.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak_streaming.fetch_max(now, Ordering::SeqCst);
    }
}

async fn run_round(emu: &Emulator, options: &ScaleOptions, round: usize, n: usize) -> Result<RoundReport> {
    let mut server = Server::start(emu, options)?;
    let pid = server.pid();
    let url = format!("http://127.0.0.1:{}", server.port);
    let connect = |url: String| async move {
        tonic::transport::Channel::from_shared(url)
            .context("the server's URL")?
            .connect()
            .await
            .context("connecting to serve")
            .map(|c| ProviderServiceClient::new(c).max_decoding_message_size(bedrock_host::grpc::MAX_MESSAGE_BYTES))
    };
    // Warm-up: the first calls fault in the code and data every call uses, and open the pool's
    // first connection, which the idle level then includes.
    {
        let client = connect(url.clone()).await?;
        let warmups: Vec<_> = (0..3)
            .map(|i| {
                let token = format!("{TOKEN_PREFIX}warmup-{round}-{i}.");
                tokio::spawn(call(client.clone(), i, prompt(&token, None), None, options.call_deadline, Arc::default()))
            })
            .collect();
        for w in warmups {
            if let Some((code, message)) = w.await.context("a warm-up call's task")?.error {
                bail!("a warm-up call failed ({code:?}): {message}; serve's stderr:\n{}", server.last_log());
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    emu.take_stream_timings();
    emu.clear_requests();
    server.check_alive()?;
    let idle = sample(pid)?;
    let hwm_reset = reset_peak(pid);

    let connections = n.div_ceil(options.streams_per_connection.max(1));
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(connect(url.clone()).await?);
    }
    let gauges = Arc::new(Gauges::default());
    let peaks = Arc::new(Mutex::new((idle, 0usize)));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (peaks, sampling) = (peaks.clone(), sampling.clone());
        tokio::spawn(async move {
            let mut ticks = 0u64;
            while sampling.load(Ordering::SeqCst) {
                if let Ok(s) = sample(pid) {
                    let mut p = peaks.lock().unwrap_or_else(|e| e.into_inner());
                    p.0.rss = p.0.rss.max(s.rss);
                    p.0.threads = p.0.threads.max(s.threads);
                    p.0.fds = p.0.fds.max(s.fds);
                }
                if ticks.is_multiple_of(10) {
                    let m = maps(pid);
                    let mut p = peaks.lock().unwrap_or_else(|e| e.into_inner());
                    p.1 = p.1.max(m);
                }
                ticks += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };

    let start = Instant::now();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let fault = if options.faults { fault_for(i) } else { None };
        let at = start + options.ramp.mul_f64(i as f64 / n.max(1) as f64);
        let client = clients[i % connections].clone();
        let prompt = prompt(&token(round, i), fault);
        let (deadline, gauges) = (options.call_deadline, gauges.clone());
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            call(client, i, prompt, fault, deadline, gauges).await
        }));
    }
    let mut outcomes = Vec::with_capacity(n);
    for t in tasks {
        outcomes.push(t.await.context("a call's task")?);
    }
    let wall = start.elapsed();
    sampling.store(false, Ordering::SeqCst);
    let _ = sampler.await;
    server.check_alive()?;
    let end = sample(pid)?;
    let (sampled, maps_peak) = *peaks.lock().unwrap_or_else(|e| e.into_inner());
    let rss_peak = if hwm_reset { end.hwm.max(sampled.rss) } else { sampled.rss.max(end.rss) };

    // After: the clients' connections closed, the server's calls ended; wait for the
    // descriptors to come back down (within `settle`), then read the rest.
    drop(clients);
    let settle_until = Instant::now() + options.settle;
    let mut after = sample(pid)?;
    while Instant::now() < settle_until && after.fds > idle.fds + bedrock_host::http_client::HttpClientOptions::default().max_idle_per_host
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = sample(pid)?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    after = sample(pid)?;
    server.check_alive()?;

    let timings: HashMap<String, emulator::StreamTiming> =
        emu.take_stream_timings().into_iter().rev().map(|t| (t.prompt.clone(), t)).collect();
    emu.clear_requests();
    let mut report = RoundReport {
        streams: n,
        faults: options.faults,
        peak_streaming: gauges.peak_streaming.load(Ordering::SeqCst),
        rss_idle: idle.rss,
        rss_peak,
        rss_after: after.rss,
        threads_idle: idle.threads,
        threads_peak: sampled.threads.max(end.threads),
        cpu_seconds: end.cpu_ticks.saturating_sub(idle.cpu_ticks) as f64 / clock_ticks_per_second(),
        fds_idle: idle.fds,
        fds_peak: sampled.fds.max(end.fds),
        fds_after: after.fds,
        maps_peak,
        wall,
        ..RoundReport::default()
    };
    for o in &outcomes {
        judge(o, &token(round, o.index), options, &timings, &mut report);
    }
    report.added_latency.sort_by(f64::total_cmp);
    report.emulator_latency.sort_by(f64::total_cmp);
    Ok(report)
}

/// Checks one call against the rules and adds it to the report.
fn judge(o: &Outcome, own: &str, options: &ScaleOptions, timings: &HashMap<String, emulator::StreamTiming>, report: &mut RoundReport) {
    let call = format!("call {} ({})", o.index, o.fault.map_or("no fault", Fault::name));
    if !only_own_tokens(&o.text, own) {
        report.problems.push(format!("{call}: got text that is not its own: {:?}", o.text));
    }
    if o.late || o.ended.duration_since(o.started) > options.call_deadline {
        *report.failed.entry((fault_name(o.fault), "deadline".into())).or_default() += 1;
        report.problems.push(format!("{call}: did not end within its deadline of {:?}", options.call_deadline));
        return;
    }
    match (&o.error, o.fault) {
        (None, None) => {
            if !o.text.contains(own) || !o.text.contains("You said: ") {
                report.problems.push(format!("{call}: the answer is not its echo: {:?}", o.text));
                return;
            }
            report.completed += 1;
            if let (Some(first), Some(t)) = (o.first, timings.get(&o.prompt)) {
                if let Some(sent) = t.first_sent {
                    let client = first.duration_since(o.started).as_secs_f64();
                    let emulator = sent.duration_since(t.received).as_secs_f64();
                    report.added_latency.push(client - emulator);
                    report.emulator_latency.push(emulator);
                }
            }
        }
        (None, Some(fault)) => {
            report.completed += 1;
            report.problems.push(format!("{call}: succeeded although its stream had the fault {}", fault.name()));
        }
        (Some((code, message)), fault) => {
            let prefix = match message.split_once(':') {
                _ if o.transport && !message.contains(':') => "transport",
                Some((p, _)) if TYPED_PREFIXES.contains(&p) => p,
                _ => "untyped",
            };
            *report.failed.entry((fault_name(fault), prefix.to_string())).or_default() += 1;
            if message.contains(TOKEN_PREFIX) && !only_own_tokens(message, own) {
                report.problems.push(format!("{call}: its error names another call: {message}"));
            }
            match fault {
                None => report.problems.push(format!("{call}: failed without a fault ({code:?}): {message}")),
                Some(f) if !expected_prefixes(f).contains(&prefix) => report
                    .problems
                    .push(format!("{call}: failed with `{prefix}` ({code:?}: {message}); its fault leads to {:?}", expected_prefixes(f))),
                Some(_) => {}
            }
        }
    }
}

fn fault_name(fault: Option<Fault>) -> String {
    fault.map_or("none", Fault::name).to_string()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// The goals of issue 23 for one round: (what, met).
pub fn goals(r: &RoundReport) -> Vec<(String, bool)> {
    let mut goals = vec![
        ("all calls accounted for and correct".to_string(), r.problems.is_empty() && r.completed + r.failed_total() == r.streams),
        (format!("≤ 0.25 MiB per stream in flight ({:.3})", r.rss_per_stream_mib()), r.rss_per_stream_mib() <= 0.25),
    ];
    if r.streams == 1_000 {
        let p99 = quantile(&r.added_latency, 0.99).unwrap_or(f64::INFINITY) * 1000.0;
        goals.push((format!("≤ 10 ms added first-event latency at p99 with 1,000 streams ({p99:.1} ms)"), p99 <= 10.0));
    }
    goals
}

/// The reports as a Markdown table, the goals of each round, and the first problems seen.
pub fn table(reports: &[RoundReport]) -> String {
    let ms = |v: Option<f64>| v.map_or("–".to_string(), |s| format!("{:.1}", s * 1000.0));
    let mut out = String::from(
        "| streams | faults | completed | failed (fault→error: count) | peak streaming | RSS idle → peak MiB | peak RSS per stream MiB | threads idle/peak | CPU ms per call | added first-event ms p50 / p99 | emulator's own p50 ms | fds idle/peak/after | RSS after MiB | mappings peak | wall s |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in reports {
        let failed = if r.failed.is_empty() {
            "0".to_string()
        } else {
            r.failed.iter().map(|((f, e), n)| format!("{f}→{e}: {n}")).collect::<Vec<_>>().join(", ")
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} → {:.1} | {:.3} | {}/{} | {:.2} | {} / {} | {} | {}/{}/{} | {:.1} | {} | {:.1} |\n",
            r.streams,
            if r.faults { "yes" } else { "no" },
            r.completed,
            failed,
            r.peak_streaming,
            mib(r.rss_idle),
            mib(r.rss_peak),
            r.rss_per_stream_mib(),
            r.threads_idle,
            r.threads_peak,
            r.cpu_seconds * 1000.0 / r.streams.max(1) as f64,
            ms(quantile(&r.added_latency, 0.5)),
            ms(quantile(&r.added_latency, 0.99)),
            ms(quantile(&r.emulator_latency, 0.5)),
            r.fds_idle,
            r.fds_peak,
            r.fds_after,
            mib(r.rss_after),
            r.maps_peak,
            r.wall.as_secs_f64(),
        ));
    }
    out.push('\n');
    for r in reports {
        let goals: Vec<String> = goals(r).into_iter().map(|(g, met)| format!("{g}: {}", if met { "met" } else { "NOT met" })).collect();
        out.push_str(&format!("{} streams{}: {}\n", r.streams, if r.faults { " with faults" } else { "" }, goals.join("; ")));
        for p in r.problems.iter().take(5) {
            out.push_str(&format!("  problem: {p}\n"));
        }
        if r.problems.len() > 5 {
            out.push_str(&format!("  … and {} more problems\n", r.problems.len() - 5));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_other_calls_are_caught_even_cut_off() {
        let own = token(0, 7);
        assert!(only_own_tokens(&format!("You said: Scale call {own} checking in."), &own));
        assert!(only_own_tokens("You said: Scale call scale-tok", &own), "a partial answer ends inside its own token");
        assert!(!only_own_tokens(&format!("You said: {}", token(0, 8)), &own));
        assert!(!only_own_tokens(&format!("{own} {}", token(1, 7)), &own), "another round's call");
    }

    #[test]
    fn the_fault_shares_are_as_documented() {
        let counts = (0..1000).filter_map(fault_for).fold(BTreeMap::new(), |mut m, f| {
            *m.entry(f).or_insert(0) += 1;
            m
        });
        assert_eq!(counts[&Fault::ResetMidway], 100);
        assert_eq!(counts[&Fault::Overloaded], 100);
        assert_eq!(counts[&Fault::Unavailable], 100);
        assert_eq!(counts[&Fault::Silent], 50);
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
