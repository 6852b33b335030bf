//! `bedrock-host bench`: what the sandbox costs, measured side by side in one run.
//!
//! Each row pairs our number with a baseline taken the same way, on the same machine, in the
//! same process, and prints the ratio; nothing here asserts a time.
//!
//! A module of the CLI, not of the embedding library: it uses only the library's public API
//! (and the emulator crate). `bench scale` is [`scale`].

pub mod scale;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use bedrock_emulator::{self as emulator, Emulator, Scripted};
use bedrock_host::runtime::{load_component, new_engine};
use bedrock_host::{Credentials, Provider};

/// One measured comparison.
#[derive(Debug, Clone)]
pub struct Row {
    /// What was measured.
    pub name: &'static str,
    /// Our figure.
    pub ours: String,
    /// The baseline's figure.
    pub baseline: String,
    /// ours ÷ baseline (times, or throughput, as the row says).
    pub ratio: f64,
    /// How to read the ratio.
    pub note: &'static str,
}

impl Row {
    /// A throughput row: both figures in MB/s, the ratio ours / baseline.
    fn throughput(name: &'static str, ours: f64, baseline: f64, note: &'static str) -> Row {
        Row { name, ours: format!("{ours:.0} MB/s"), baseline: format!("{baseline:.0} MB/s"), ratio: ours / baseline, note }
    }
}

/// Context switches of every thread of this process so far (Linux's per-task counts), to show
/// how often a call hands work between threads; `None` where `/proc` does not tell.
fn context_switches() -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let status = std::fs::read_to_string(task.ok()?.path().join("status")).ok()?;
        for line in status.lines() {
            if let Some(n) = line.strip_prefix("voluntary_ctxt_switches:").or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:")) {
                total += n.trim().parse::<u64>().ok()?;
            }
        }
    }
    Some(total)
}

fn per_call(before: Option<u64>, after: Option<u64>, calls: usize) -> Option<f64> {
    Some(after?.saturating_sub(before?) as f64 / calls.max(1) as f64)
}

fn switches_row(name: &'static str, ours: Option<f64>, baseline: Option<f64>) -> Row {
    match (ours, baseline) {
        (Some(ours), Some(baseline)) => Row {
            name,
            ours: format!("{ours:.1}"),
            baseline: format!("{baseline:.1}"),
            ratio: ours / baseline.max(0.1),
            note: "thread hand-offs per call, emulator included; lower is better",
        },
        _ => Row { name, ours: "n/a".into(), baseline: "n/a".into(), ratio: f64::NAN, note: "needs Linux's /proc/self/task" },
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Round trips per latency row.
    pub iterations: usize,
    /// Bytes of text in the streamed answer.
    pub stream_bytes: usize,
    /// One-shot processes started per process row (0 skips those rows).
    pub processes: usize,
    /// Text sizes of the answers whose guest memory high-water mark is measured.
    pub memory_answers: Vec<usize>,
    /// Times each streaming measurement runs; the best run counts (a 20 MB stream takes a
    /// tenth of a second, so one run is at the mercy of whatever else the machine does).
    pub stream_runs: usize,
}

impl BenchOptions {
    /// The full run.
    pub fn full(iterations: usize) -> BenchOptions {
        BenchOptions {
            iterations,
            stream_bytes: 20_000_000,
            processes: 5,
            memory_answers: vec![1_000, 1_000_000, 50_000_000],
            stream_runs: 5,
        }
    }

    /// A quick run that exercises every row (for CI, so the bench never rots).
    pub fn quick() -> BenchOptions {
        BenchOptions {
            iterations: 5,
            stream_bytes: 1_000_000,
            processes: 1,
            memory_answers: vec![1_000, 1_000_000, 5_000_000],
            stream_runs: 1,
        }
    }
}

/// Runs every benchmark with these options.
pub async fn run_with(options: &BenchOptions) -> Result<Vec<Row>> {
    let iterations = options.iterations.max(1);
    let mut rows = Vec::new();
    let wasm = bedrock_host::runtime::component_wasm()?;
    let dir = tempfile_dir()?;

    // 1. Loading the component: a cold compile against the content-addressed cache.
    let engine = new_engine()?;
    let t = Instant::now();
    load_component(&engine, &wasm, Some(&dir), &|| {})?;
    let compile = t.elapsed();
    let t = Instant::now();
    for _ in 0..5 {
        load_component(&engine, &wasm, Some(&dir), &|| {})?;
    }
    let cached = t.elapsed() / 5;
    rows.push(Row {
        name: "load component: cached vs compile",
        ours: ms(cached),
        baseline: ms(compile),
        ratio: cached.as_secs_f64() / compile.as_secs_f64(),
        note: "lower is better",
    });

    // 2. One completion: fresh sandbox + translate + SigV4 + wasi:http, against the same signed
    //    request sent natively. Both talk to the emulator over loopback.
    let emu = Emulator::start().await?;
    let provider = Provider::builder()
        .cache_dir(Some(dir.clone()))
        .config("aws_region", "us-east-1")
        .config("endpoint_url", emu.endpoint_url())
        .credentials(emulator_credentials())
        .build()?;
    let request = json!({"messages": [{"role": "user", "content": "benchmark"}]});
    provider.complete(&request).await?;
    let switches = context_switches();
    let t = Instant::now();
    for _ in 0..iterations {
        provider.complete(&request).await?;
    }
    let ours = t.elapsed() / iterations as u32;
    let ours_switches = per_call(switches, context_switches(), iterations);
    let ours_call = ours;
    let body = emu.requests().last().context("no request recorded")?.body.clone();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke";
    native_call(&client, &emu, path, &body).await?;
    let switches = context_switches();
    let t = Instant::now();
    for _ in 0..iterations {
        native_call(&client, &emu, path, &body).await?;
    }
    let native = t.elapsed() / iterations as u32;
    let native_switches = per_call(switches, context_switches(), iterations);
    rows.push(Row {
        name: "complete: component vs native client",
        ours: ms(ours),
        baseline: ms(native),
        ratio: ours.as_secs_f64() / native.as_secs_f64(),
        note: "time per call; lower is better",
    });
    rows.push(switches_row("context switches per call: component vs native client", ours_switches, native_switches));
    // Where a call's time goes: a fresh store, an instance from the InstancePre and a trivial
    // export call (`parse-tool-calls` of an empty answer), against the whole completion.
    let empty_answer = json!({"content": []});
    provider.parse_tool_calls(&empty_answer).await?;
    let t = Instant::now();
    for _ in 0..iterations {
        provider.parse_tool_calls(&empty_answer).await?;
    }
    let sandbox = t.elapsed() / iterations as u32;
    rows.push(Row {
        name: "fresh sandbox + trivial export vs complete",
        ours: ms(sandbox),
        baseline: ms(ours),
        ratio: sandbox.as_secs_f64() / ours.as_secs_f64(),
        note: "share of a call spent instantiating",
    });

    // 3. Streaming throughput: 20 MB of text through the component's event decoding and the
    //    host callback, against reading the same body natively without decoding.
    let piece = "streaming benchmark text, ".repeat(2_500);
    let count = (options.stream_bytes / piece.len()).max(1);
    let events = text_stream(&piece, count);
    let answer = Scripted::event_stream(&events);
    let text_bytes = (count * piece.len()) as f64;
    let runs = options.stream_runs.max(1);
    let ours = best_stream(&provider, &emu, &request, &answer, runs, count * piece.len()).await?;
    let mut native = Duration::MAX;
    for _ in 0..runs {
        emu.push(answer.clone());
        let t = Instant::now();
        native_call(&client, &emu, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream", &body).await?;
        native = native.min(t.elapsed());
    }
    #[cfg(feature = "sdk-bench")]
    let ours_stream = ours;
    let mbps = |d: Duration| text_bytes / 1e6 / d.as_secs_f64();
    rows.push(Row::throughput("stream: component vs native read (no decoding)", mbps(ours), mbps(native), "throughput; higher is better"));

    // 3d. The same answer from the Messages API (today's models: server-sent events, no
    //     frames, CRCs or base64), against the InvokeModel stream above.
    let sse_answer = Scripted::sse(&events);
    let messages_provider = provider.fork();
    messages_provider.set_config("mantle_endpoint_url", emu.endpoint_url());
    let messages_request = json!({"model": "anthropic.claude-sonnet-5", "messages": [{"role": "user", "content": "benchmark"}]});
    let sse = best_stream(&messages_provider, &emu, &messages_request, &sse_answer, runs, count * piece.len()).await?;
    #[cfg(feature = "sdk-bench")]
    let ours_sse = sse;
    rows.push(Row::throughput(
        "stream, Messages API (SSE) vs InvokeModel (event stream)",
        mbps(sse),
        mbps(ours),
        "the component, the same text over each API's wire format",
    ));

    // 3c. Where the streaming time goes: the component's own decoding code (frames, base64,
    //     the chunk's JSON, our event JSON) compiled natively, and the host's parse of the
    //     events the component hands over, each on the same 20 MB body.
    let wire: Vec<u8> = events.iter().flat_map(emulator::chunk_frame).collect();
    let (mut native_decode, mut host_parse) = (Duration::MAX, Duration::MAX);
    for _ in 0..runs {
        let t = Instant::now();
        let our_events = decode_natively(&wire)?;
        native_decode = native_decode.min(t.elapsed());
        let t = Instant::now();
        for e in &our_events {
            let _: Value = serde_json::from_slice(e)?;
        }
        host_parse = host_parse.min(t.elapsed());
    }
    rows.push(Row::throughput(
        "stream: component vs its own decoding code run natively",
        mbps(ours),
        mbps(native_decode),
        "the Wasm share of the stream: the same Rust, compiled for the host",
    ));
    rows.push(Row::throughput(
        "stream: component vs the host's parse of its events alone",
        mbps(ours),
        mbps(host_parse),
        "the share of the host re-reading each event's JSON",
    ));

    // 3a. What the per-delta `llm:stream_*` hook events cost when someone listens (the host
    //     turns them off when no callback listens and no record is kept, as above).
    let listened = provider.fork();
    let heard = Arc::new(AtomicUsize::new(0));
    let counter = heard.clone();
    listened.set_event_callback(Some(Arc::new(move |_: &bedrock_host::HostEvent| {
        counter.fetch_add(1, Ordering::Relaxed);
    })));
    let mut with_events = Duration::MAX;
    for _ in 0..runs {
        emu.push(answer.clone());
        let t = Instant::now();
        listened.stream(&request, |_| {}).await?;
        with_events = with_events.min(t.elapsed());
    }
    anyhow::ensure!(heard.load(Ordering::Relaxed) > count, "the listener heard no stream events");
    rows.push(Row::throughput(
        "stream: with an event listener vs without",
        mbps(with_events),
        mbps(ours),
        "the cost of an llm:stream_* event per delta (stream_events=false turns them off)",
    ));

    // 3b. The guest's memory high-water mark while streaming answers of growing size: text
    //     passes straight through, so it must stay flat (a store limiter records it).
    let mut peaks = Vec::new();
    for &size in &options.memory_answers {
        let piece = "streaming benchmark text, ".repeat((size / 26).clamp(1, 2_500));
        emu.push(Scripted::event_stream(&text_stream(&piece, (size / piece.len()).max(1))));
        let (r, record) = provider.stream_recorded(&request, |_| std::future::ready(true)).await;
        r?;
        peaks.push((size, record.memory_peak_bytes));
    }
    let mib = |b: usize| format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64);
    let label = |b: usize| if b >= 1_000_000 { format!("{} MB", b / 1_000_000) } else { format!("{} KB", b / 1_000) };
    if let Some(&(small, base)) = peaks.first() {
        for &(size, peak) in &peaks[1..] {
            rows.push(Row {
                name: "guest memory high-water: streamed answer vs small one",
                ours: format!("{} answer: {}", label(size), mib(peak)),
                baseline: format!("{} answer: {}", label(small), mib(base)),
                ratio: peak as f64 / base.max(1) as f64,
                note: "must not grow with the answer (1.0)",
            });
        }
    }

    // 4. Over TLS: the component through the pooled HTTPS client (one handshake), per call.
    let tls_emu = Emulator::start_tls().await?;
    let tls_provider = Provider::builder()
        .cache_dir(Some(dir.clone()))
        .config("aws_region", "us-east-1")
        .config("endpoint_url", tls_emu.endpoint_url())
        .credentials(emulator_credentials())
        .trust_ca_pem(tls_emu.ca_pem().unwrap_or_default().as_bytes().to_vec())
        .build()?;
    tls_provider.complete(&request).await?;
    let t = Instant::now();
    for _ in 0..iterations {
        tls_provider.complete(&request).await?;
    }
    let tls_ours = t.elapsed() / iterations as u32;
    anyhow::ensure!(tls_emu.tls_handshakes() == 1, "the TLS calls did not share one connection");

    #[cfg(feature = "sdk-bench")]
    {
        sdk::rows(
            &mut rows,
            &sdk::Setup { emu: &emu, tls_emu: &tls_emu, body: &body, iterations, ours_http: ours_call, ours_tls: tls_ours, ours_switches },
        )
        .await?;
        let mut sdk_stream = Duration::MAX;
        for _ in 0..runs {
            emu.push(answer.clone());
            let (text, took) = sdk::stream(&emu, &body).await?;
            anyhow::ensure!(text == count * piece.len(), "the SDK stream lost text");
            sdk_stream = sdk_stream.min(took);
        }
        rows.push(Row::throughput(
            "stream: component vs AWS SDK (events parsed)",
            mbps(ours_stream),
            mbps(sdk_stream),
            "throughput; higher is better (goal >= 0.7)",
        ));
        rows.push(Row::throughput(
            "stream, Messages API (SSE): component vs AWS SDK (InvokeModel)",
            mbps(ours_sse),
            mbps(sdk_stream),
            "the same text; the SDK has no Messages API, so its InvokeModel stream is the baseline",
        ));
    }
    #[cfg(not(feature = "sdk-bench"))]
    rows.push(Row {
        name: "complete: over TLS vs plain HTTP (component)",
        ours: ms(tls_ours),
        baseline: ms(ours_call),
        ratio: tls_ours.as_secs_f64() / ours_call.as_secs_f64(),
        note: "one handshake for all calls; AWS SDK rows need --features sdk-bench",
    });

    // 5. One-shot processes: `bedrock-host complete` against boto3's invoke_model, each a
    //    fresh process, same emulator and request.
    if options.processes > 0 {
        process_rows(&mut rows, &emu, &dir, options.processes)?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// The fastest of `runs` streams of `answer` through `provider`, each checked to deliver all
/// `text_len` bytes of its text.
async fn best_stream(
    provider: &Provider,
    emu: &Emulator,
    request: &Value,
    answer: &Scripted,
    runs: usize,
    text_len: usize,
) -> Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..runs {
        emu.push(answer.clone());
        let t = Instant::now();
        let mut received = 0usize;
        provider
            .stream(request, |e: Value| {
                received += e.get("text").and_then(Value::as_str).map_or(0, str::len);
            })
            .await?;
        best = best.min(t.elapsed());
        anyhow::ensure!(received == text_len, "the stream lost text ({received} of {text_len} bytes arrived)");
    }
    Ok(best)
}

/// What the component does with a streamed body, run natively from the same source (the
/// component's rlib): frames decoded and checked, each chunk's JSON parsed, our events built and
/// written as JSON. Returns those JSON events.
fn decode_natively(wire: &[u8]) -> Result<Vec<Vec<u8>>> {
    use amplifier_provider_bedrock::eventstream::{interpret, BedrockFrame, FrameReader};
    let mut frames = FrameReader::new();
    let mut assembler = amplifier_provider_bedrock::stream::Assembler::new(false);
    let (mut out, mut written) = (Vec::new(), Vec::new());
    // In reads of the size the component makes, so the reader holds what it holds there.
    for read in wire.chunks(64 << 10) {
        frames.push(read);
        while let Some(frame) = frames.next_frame().map_err(|e| anyhow::anyhow!("{e}"))? {
            if let BedrockFrame::Event(event) = interpret(&frame).map_err(|e| anyhow::anyhow!(e))? {
                assembler.apply(event, &mut out).map_err(|e| anyhow::anyhow!(e))?;
                written.extend(out.drain(..).map(|e| serde_json::to_vec(&e).unwrap_or_default()));
            }
        }
    }
    Ok(written)
}

/// Anthropic stream events of one text block: `count` deltas of `piece`.
fn text_stream(piece: &str, count: usize) -> Vec<Value> {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    events.extend((0..count).map(|_| json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
    events.extend([
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
        json!({"type": "message_stop"}),
    ]);
    events
}

fn emulator_credentials() -> Credentials {
    Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
        session_token: None,
    }
}

/// The one-shot rows: our CLI process (compiled component cached) vs a Python process making
/// the same call with boto3, when boto3 is installed; plus where our one-shot time goes.
fn process_rows(rows: &mut Vec<Row>, emu: &Emulator, dir: &std::path::Path, n: usize) -> Result<()> {
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe()?;
    let env = [
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.endpoint_url()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY.to_string()),
        ("AWS_CONFIG_FILE", dir.join("no-config").display().to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials").display().to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("BEDROCK_HOST_CACHE_DIR", dir.display().to_string()),
    ];
    let run_with_stderr = |cmd: &mut Command| -> Result<(Duration, String)> {
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.env_remove("AWS_PROFILE").env_remove("AWS_SESSION_TOKEN").env_remove("AWS_BEARER_TOKEN_BEDROCK");
        let t = Instant::now();
        let out = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).output()?;
        let took = t.elapsed();
        // The program and its arguments only: a `Command`'s Debug form lists the environment
        // set above, secret key included.
        anyhow::ensure!(
            out.status.success(),
            "`{} {}` failed ({}): {}",
            cmd.get_program().to_string_lossy(),
            cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((took, String::from_utf8_lossy(&out.stderr).into_owned()))
    };
    let run = |cmd: &mut Command| run_with_stderr(cmd).map(|(took, _)| took);
    let ours_cmd = || {
        let mut c = Command::new(&exe);
        c.args(["complete", "benchmark"]);
        c
    };
    run(&mut ours_cmd())?; // fills the compile cache
    let mut ours = Duration::ZERO;
    for _ in 0..n {
        ours += run(&mut ours_cmd())?;
    }
    let ours = ours / n as u32;
    let script = r#"
import json, boto3
c = boto3.client("bedrock-runtime")
r = c.invoke_model(modelId="us.anthropic.claude-sonnet-4-5-20250929-v1:0", contentType="application/json", accept="application/json",
    body=json.dumps({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8192, "messages": [{"role": "user", "content": "benchmark"}]}))
json.loads(r["body"].read())
"#;
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let has_boto3 = Command::new(&python).args(["-c", "import boto3"]).output().is_ok_and(|o| o.status.success());
    if has_boto3 {
        let mut boto = Duration::ZERO;
        for _ in 0..n {
            boto += run(Command::new(&python).args(["-c", script]))?;
        }
        let boto = boto / n as u32;
        rows.push(Row {
            name: "one-shot process: bedrock-host vs boto3",
            ours: ms(ours),
            baseline: ms(boto),
            ratio: boto.as_secs_f64() / ours.as_secs_f64(),
            note: "times faster; higher is better (goal >= 25)",
        });
    } else {
        rows.push(Row {
            name: "one-shot process: bedrock-host",
            ours: ms(ours),
            baseline: "no boto3".into(),
            ratio: f64::NAN,
            note: "install boto3 for the baseline",
        });
    }
    // Where the one-shot time goes: the process times its own phases (BEDROCK_HOST_TIMINGS);
    // what the whole process took beyond them is its start (exec, loading, the Tokio runtime)
    // and exit.
    let mut phases: Vec<(String, f64)> = Vec::new();
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let (took, stderr) = run_with_stderr(ours_cmd().env("BEDROCK_HOST_TIMINGS", "1"))?;
        total += took;
        let line = stderr.lines().rev().find_map(|l| serde_json::from_str::<Value>(l).ok()).context("no timings line")?;
        let timed = line["timings_ms"].as_array().context("no timings_ms")?;
        for phase in timed {
            let (name, ms) = (phase[0].as_str().unwrap_or_default().to_string(), phase[1].as_f64().unwrap_or_default() / n as f64);
            match phases.iter_mut().find(|(p, _)| *p == name) {
                Some((_, sum)) => *sum += ms,
                None => phases.push((name, ms)),
            }
        }
    }
    let total_ms = total.as_secs_f64() * 1000.0 / n as f64;
    let inside: f64 = phases.iter().map(|(_, ms)| ms).sum();
    let mut parts = vec![format!("start+exit {:.1}", total_ms - inside)];
    parts.extend(phases.iter().map(|(name, ms)| format!("{name} {ms:.1}")));
    rows.push(Row {
        name: "one-shot breakdown: the process's phases (ms)",
        ours: parts.join(", "),
        baseline: format!("{total_ms:.2} ms"),
        ratio: inside / total_ms,
        note: "share of the process spent after main starts",
    });
    // The engine_and_component phase split, measured in this process.
    let t = Instant::now();
    let engine = new_engine()?;
    let engine_time = t.elapsed();
    let wasm = bedrock_host::runtime::component_wasm()?;
    let t = Instant::now();
    load_component(&engine, &wasm, Some(dir), &|| {})?;
    let load_time = t.elapsed();
    rows.push(Row {
        name: "one-shot breakdown: engine + cached load",
        ours: format!("{} + {}", ms(engine_time), ms(load_time)),
        baseline: ms(ours),
        ratio: (engine_time + load_time).as_secs_f64() / ours.as_secs_f64(),
        note: "share of the one-shot process time",
    });
    Ok(())
}

/// The AWS SDK for Rust (`aws-sdk-bedrockruntime`) as the native baseline.
#[cfg(feature = "sdk-bench")]
mod sdk {
    use std::time::{Duration, Instant};

    use anyhow::Result;
    use aws_sdk_bedrockruntime::primitives::Blob;
    use aws_sdk_bedrockruntime::types::ResponseStream;
    use serde_json::Value;

    use super::{ms, Row};
    use bedrock_emulator::{self as emulator, Emulator};

    const MODEL: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";

    pub(super) struct Setup<'a> {
        pub(super) emu: &'a Emulator,
        pub(super) tls_emu: &'a Emulator,
        pub(super) body: &'a [u8],
        pub(super) iterations: usize,
        pub(super) ours_http: Duration,
        pub(super) ours_tls: Duration,
        /// Context switches per call of the component's plain-HTTP completions.
        pub(super) ours_switches: Option<f64>,
    }

    fn client(emu: &Emulator) -> Result<aws_sdk_bedrockruntime::Client> {
        let mut config = aws_sdk_bedrockruntime::Config::builder()
            .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
            .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
            .endpoint_url(emu.endpoint_url())
            .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
                emulator::ACCESS_KEY_ID,
                emulator::SECRET_ACCESS_KEY,
                None,
                None,
                "bench",
            ));
        if let Some(pem) = emu.ca_pem() {
            use aws_smithy_http_client::tls;
            let context = tls::TlsContext::builder()
                .with_trust_store(tls::TrustStore::empty().with_pem_certificate(pem.as_bytes()))
                .build()
                .map_err(|e| anyhow::anyhow!("TLS context: {e}"))?;
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
                .tls_context(context)
                .build_https();
            config = config.http_client(http);
        }
        Ok(aws_sdk_bedrockruntime::Client::from_conf(config.build()))
    }

    async fn invoke(client: &aws_sdk_bedrockruntime::Client, body: &[u8]) -> Result<Value> {
        let out = client
            .invoke_model()
            .model_id(MODEL)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body.to_vec()))
            .send()
            .await?;
        Ok(serde_json::from_slice(out.body.as_ref())?)
    }

    /// Per-call rows over plain HTTP and over TLS.
    pub(super) async fn rows(rows: &mut Vec<Row>, s: &Setup<'_>) -> Result<()> {
        for (name, emu, ours) in
            [("complete: component vs AWS SDK", s.emu, s.ours_http), ("complete over TLS: component vs AWS SDK", s.tls_emu, s.ours_tls)]
        {
            let client = client(emu)?;
            invoke(&client, s.body).await?;
            let switches = super::context_switches();
            let t = Instant::now();
            for _ in 0..s.iterations {
                invoke(&client, s.body).await?;
            }
            let sdk = t.elapsed() / s.iterations as u32;
            if name == "complete: component vs AWS SDK" {
                let sdk_switches = super::per_call(switches, super::context_switches(), s.iterations);
                rows.push(super::switches_row("context switches per call: component vs AWS SDK", s.ours_switches, sdk_switches));
            }
            rows.push(Row {
                name,
                ours: ms(ours),
                baseline: ms(sdk),
                ratio: ours.as_secs_f64() / sdk.as_secs_f64(),
                note: "time per call; lower is better (goal <= 1.1)",
            });
        }
        Ok(())
    }

    /// One streamed answer through the SDK, each chunk's JSON parsed for its text, as a user
    /// of the SDK must; returns the text bytes and the time.
    pub(super) async fn stream(emu: &Emulator, body: &[u8]) -> Result<(usize, Duration)> {
        let client = client(emu)?;
        let t = Instant::now();
        let mut out = client
            .invoke_model_with_response_stream()
            .model_id(MODEL)
            .content_type("application/json")
            .body(Blob::new(body.to_vec()))
            .send()
            .await?;
        let mut text = 0usize;
        while let Some(event) = out.body.recv().await? {
            if let ResponseStream::Chunk(part) = event {
                if let Some(bytes) = part.bytes() {
                    let v: Value = serde_json::from_slice(bytes.as_ref())?;
                    text += v["delta"]["text"].as_str().map_or(0, str::len);
                }
            }
        }
        Ok((text, t.elapsed()))
    }
}

/// A SigV4-signed POST made natively, body read to the end.
async fn native_call(
    client: &hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    emu: &Emulator,
    path: &str,
    body: &[u8],
) -> Result<()> {
    let url = format!("{}{path}", emu.endpoint_url());
    let headers = [("accept", "application/json"), ("content-type", "application/json")];
    let signed = emulator::sign_with_emulator_key("POST", &url, &headers, body, "us-east-1", "bedrock", std::time::SystemTime::now(), None)
        .map_err(|e| anyhow::anyhow!("signing: {e}"))?;
    let mut req = http::Request::post(&url);
    for (k, v) in headers.iter().copied().chain(signed.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        req = req.header(k, v);
    }
    let req = req.body(Full::new(Bytes::copy_from_slice(body)))?;
    let response = client.request(req).await?;
    anyhow::ensure!(response.status().is_success(), "native call failed: {}", response.status());
    response.into_body().collect().await?;
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("bedrock-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// The rows as an aligned table.
pub fn table(rows: &[Row]) -> String {
    let mut out = format!("{:<42} {:>14} {:>14} {:>9}  {}\n", "benchmark", "ours", "baseline", "ratio", "");
    for r in rows {
        out.push_str(&format!("{:<42} {:>14} {:>14} {:>9.3}  {}\n", r.name, r.ours, r.baseline, r.ratio, r.note));
    }
    out
}
