//! Load and containment: many calls at once through separate stores (the embedding API and
//! `serve`) get their own answers, a failing call fails alone, and the host's memory stays
//! bounded. The load run prints its throughput and latencies; it asserts only correctness.

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bedrock_emulator::{Emulator, Scripted};
use bedrock_host::grpc::proto::provider_service_client::ProviderServiceClient;
use bedrock_host::grpc::proto::{self, content_block::Block, message::Content};
use bedrock_host::grpc::{serve, BedrockService, CredentialMode, ServeOptions};
use bedrock_host::{CallError, HostFailureKind, Limits};
use common::{against, hello};
use serde_json::Value;

fn answer_to(prompt: &str) -> String {
    format!("Hello from the local Bedrock emulator! You said: {prompt}")
}

fn text(response: &Value) -> String {
    response["content"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect()
}

/// Resident memory of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_calls_at_once_get_their_own_answers_and_memory_stays_bounded() {
    // It measures this process's memory: alone, so the tests beside it do not grow it.
    if !common::in_own_process("load::sixty_four_calls_at_once_get_their_own_answers_and_memory_stays_bounded") {
        return;
    }
    let emu = Emulator::start().await.unwrap();
    let provider = against(&emu);
    let round = |round: usize| {
        let calls: Vec<_> = (0..64)
            .map(|i| {
                let p = provider.clone();
                tokio::spawn(async move {
                    let prompt = format!("round {round} call {i}");
                    let response = p.complete(&hello(&prompt)).await.unwrap();
                    (prompt, text(&response))
                })
            })
            .collect();
        async move {
            for call in calls {
                let (prompt, got) = call.await.unwrap();
                assert_eq!(got, answer_to(&prompt), "an answer went to the wrong call");
            }
        }
    };
    round(0).await;
    let warm = rss_bytes();
    for r in 1..=5 {
        round(r).await;
    }
    let grown = rss_bytes().saturating_sub(warm);
    eprintln!("host RSS after warm-up {} MiB, grown {} MiB over 320 more calls", warm >> 20, grown >> 20);
    // 64 stores at once each may hold a few MiB; what must not happen is growth per call.
    assert!(grown < 96 << 20, "host memory grew by {} MiB over 320 calls", grown >> 20);
    assert_eq!(emu.requests().len(), 64 * 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_that_runs_out_of_memory_or_time_fails_alone() {
    let emu = Emulator::start().await.unwrap();
    let healthy = against(&emu);
    let starved = healthy.fork();
    starved.set_limits(Limits::default().with_memory_bytes(4 << 20));
    // The slow call has an emulator of its own, so its delayed answer can go to no other call.
    let slow_emu = Emulator::start().await.unwrap();
    let late = against(&slow_emu);
    late.set_limits(Limits::default().with_call_timeout(Some(Duration::from_millis(300))));
    let mut slow = Scripted::json(&serde_json::json!({}));
    slow.delay = Duration::from_secs(3);
    slow_emu.push(slow);

    let (huge, slow_one) = (hello(&"x".repeat(8 << 20)), hello("slow"));
    let (oom, deadline, fine) = tokio::join!(starved.complete(&huge), late.complete(&slow_one), async {
        // Alongside both failures, other calls go on undisturbed.
        let mut answers = Vec::new();
        for i in 0..8 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            answers.push(healthy.complete(&hello(&format!("beside {i}"))).await);
        }
        answers
    });
    assert!(
        matches!(&oom, Err(CallError::Host(e)) if e.kind() == HostFailureKind::MemoryCap && e.to_string().contains("needed more memory")),
        "{oom:?}"
    );
    assert!(
        matches!(&deadline, Err(CallError::Host(e)) if e.kind() == HostFailureKind::DeadlineExceeded && e.to_string().contains("did not finish within")),
        "{deadline:?}"
    );
    for (i, answer) in fine.into_iter().enumerate() {
        assert_eq!(text(&answer.unwrap()), answer_to(&format!("beside {i}")));
    }
    // The same providers work again at once.
    starved.set_limits(Limits::default());
    late.set_limits(Limits::default());
    assert_eq!(text(&starved.complete(&hello("after oom")).await.unwrap()), answer_to("after oom"));
    assert_eq!(text(&late.complete(&hello("after deadline")).await.unwrap()), answer_to("after deadline"));
}

/// 2,000 calls, 64 at a time, through `serve` over real sockets: none lost, none mixed up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_load_run_through_serve_loses_and_mixes_nothing() {
    const CALLS: usize = 2000;
    const CONCURRENCY: usize = 64;
    let emu = Emulator::start().await.unwrap();
    let service = BedrockService::new(against(&emu), CredentialMode::Fixed, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(service, listener, ServeOptions::default(), async {
        let _ = stopped.await;
    }));
    let channel = tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..CONCURRENCY)
        .map(|_| {
            let mut client = ProviderServiceClient::new(channel.clone());
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if n >= CALLS {
                        return latencies;
                    }
                    let prompt = format!("load call {n}");
                    let request = proto::ChatRequest {
                        messages: vec![proto::Message {
                            role: proto::Role::User as i32,
                            content: Some(Content::TextContent(prompt.clone())),
                            ..Default::default()
                        }],
                        ..Default::default()
                    };
                    let t = Instant::now();
                    let response = client.complete(request).await.unwrap_or_else(|e| panic!("call {n} lost: {e}")).into_inner();
                    latencies.push(t.elapsed());
                    let got: String = response
                        .content_blocks
                        .iter()
                        .filter_map(|b| match &b.block {
                            Some(Block::TextBlock(t)) => Some(t.text.as_str()),
                            _ => None,
                        })
                        .collect();
                    assert_eq!(got, answer_to(&prompt), "call {n} got another call's answer");
                }
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for w in workers {
        latencies.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();
    assert_eq!(latencies.len(), CALLS, "every call answered");
    assert_eq!(emu.requests().len(), CALLS, "every call reached Bedrock exactly once");
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    eprintln!(
        "load through serve: {CALLS} calls, {CONCURRENCY} at a time, in {:.2} s = {:.0} calls/s; p50 {:.1} ms, p99 {:.1} ms (debug build)",
        elapsed.as_secs_f64(),
        CALLS as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
