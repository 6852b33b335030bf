//! `bedrock-host bench`: what the sandbox costs, measured side by side in one run.
//!
//! Each row pairs our number with a baseline taken the same way, on the same machine, in the
//! same process, and prints the ratio; nothing here asserts a time.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

use crate::emulator::{self, Emulator, Scripted};
use crate::runtime::{load_component, new_engine};
use crate::{Credentials, Provider};

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

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Runs every benchmark; `iterations` round trips for the latency rows.
pub async fn run(iterations: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    let wasm = crate::component_wasm()?;
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
        .credentials(Credentials::Aws {
            access_key_id: emulator::ACCESS_KEY_ID.into(),
            secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
            session_token: None,
        })
        .build()?;
    let request = json!({"messages": [{"role": "user", "content": "benchmark"}]});
    provider.complete(&request).await?;
    let t = Instant::now();
    for _ in 0..iterations {
        provider.complete(&request).await?;
    }
    let ours = t.elapsed() / iterations as u32;
    let body = emu.requests().last().context("no request recorded")?.body.clone();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let path = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke";
    native_call(&client, &emu, path, &body).await?;
    let t = Instant::now();
    for _ in 0..iterations {
        native_call(&client, &emu, path, &body).await?;
    }
    let native = t.elapsed() / iterations as u32;
    rows.push(Row {
        name: "complete: component vs native client",
        ours: ms(ours),
        baseline: ms(native),
        ratio: ours.as_secs_f64() / native.as_secs_f64(),
        note: "time per call; lower is better",
    });

    // 3. Streaming throughput: 20 MB of text through the component's event decoding and the
    //    host callback, against reading the same body natively without decoding.
    let piece = "streaming benchmark text, ".repeat(2_500);
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    let count = 20_000_000 / piece.len();
    events.extend((0..count).map(|_| json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
    events.extend([
        json!({"type": "content_block_stop", "index": 0}),
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 1}}),
        json!({"type": "message_stop"}),
    ]);
    let answer = Scripted::event_stream(&events);
    let text_bytes = (count * piece.len()) as f64;
    emu.push(answer.clone());
    let t = Instant::now();
    let mut received = 0usize;
    provider
        .stream(&request, |e: Value| {
            received += e.get("text").and_then(Value::as_str).map_or(0, str::len);
        })
        .await?;
    let ours = t.elapsed();
    anyhow::ensure!(received == count * piece.len(), "the stream lost text");
    emu.push(answer);
    let t = Instant::now();
    native_call(&client, &emu, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream", &body).await?;
    let native = t.elapsed();
    let mbps = |d: Duration| text_bytes / 1e6 / d.as_secs_f64();
    rows.push(Row {
        name: "stream 20 MB: component vs native read",
        ours: format!("{:.0} MB/s", mbps(ours)),
        baseline: format!("{:.0} MB/s", mbps(native)),
        ratio: mbps(ours) / mbps(native),
        note: "throughput; higher is better",
    });
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
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
