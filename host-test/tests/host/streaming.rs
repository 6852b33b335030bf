//! InvokeModelWithResponseStream through the component: every stream and frame vector,
//! bounded memory, incremental delivery, stalls.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bedrock_emulator::{chunk_frame, exception_frame, Emulator, Scripted};
use bedrock_host::{CallError, Limits};
use common::{against, hello, testdata};
use serde_json::{json, Value};

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn without_request_id(mut v: Value) -> Value {
    v["metadata"].as_object_mut().unwrap().remove("request_id");
    v
}

#[tokio::test]
async fn every_stream_vector_matches_the_non_streaming_answer() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("max_retries", "0");
    let index = read_json(&testdata("streams/index.json"));
    for case in index.as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let meta = read_json(&testdata(&format!("streams/{name}.json")));
        let streamed_request = json!({"messages": [{"role": "user", "content": "x"}], "stream": true});
        emu.push(Scripted::stream_vector(&testdata(&format!("streams/{name}.json"))).unwrap());
        let streamed = p.complete(&streamed_request).await;
        let sent = emu.requests().pop().unwrap();
        assert_eq!(sent.operation.as_deref(), Some("invoke-with-response-stream"), "{name}");
        assert_eq!(sent.header("x-amzn-bedrock-accept"), Some("application/json"), "{name}");
        assert_eq!(sent.auth_failure, None, "{name}");
        if meta["expected"]["outcome"] == "complete" {
            emu.push(Scripted::from_vector(&testdata(&format!("responses/ok_{name}.json"))).unwrap());
            let plain = p.complete(&hello("x")).await.unwrap();
            assert_eq!(without_request_id(streamed.unwrap()), without_request_id(plain), "{name}");

            // The streaming export delivers the same text, one delta at a time.
            emu.push(Scripted::stream_vector(&testdata(&format!("streams/{name}.json"))).unwrap());
            let mut text = String::new();
            let mut last = Value::Null;
            p.stream(&hello("x"), |e| {
                if let Some(t) = e.get("text").and_then(Value::as_str) {
                    text.push_str(t);
                }
                last = e;
            })
            .await
            .unwrap();
            assert_eq!(text, meta["expected"]["text"].as_str().unwrap(), "{name}");
            assert_eq!(last["type"], "done", "{name}");
        } else {
            let e = match streamed {
                Err(CallError::Provider(e)) => e.message().to_string(),
                other => panic!("{name}: expected an error, got {other:?}"),
            };
            assert!(e.contains(meta["expected"]["error"]["message"].as_str().unwrap()), "{name}: {e}");
        }
    }
}

#[tokio::test]
async fn every_frame_vector_ends_in_a_clear_error_never_a_hang() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("max_retries", "0");
    p.set_config("timeout", "10");
    for dir in ["eventstream/valid", "eventstream/invalid"] {
        let mut files: Vec<_> = std::fs::read_dir(testdata(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .collect();
        files.sort();
        for file in files {
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            let body = std::fs::read(&file).unwrap();
            emu.push(
                Scripted::new(200, vec![("Content-Type".into(), "application/vnd.amazon.eventstream".into())], body)
                    .delivered(vec![7], Duration::ZERO),
            );
            let outcome = tokio::time::timeout(
                Duration::from_secs(30),
                p.complete(&json!({"messages": [{"role": "user", "content": "x"}], "stream": true})),
            )
            .await;
            let outcome = outcome.unwrap_or_else(|_| panic!("{name}: the component hung"));
            if name == "multi_frame_sequence" {
                // The one vector that is a whole (tiny) response.
                assert_eq!(outcome.unwrap()["content"][0]["text"], "Hello");
                continue;
            }
            let e = match outcome {
                Err(CallError::Provider(e)) => e.message().to_string(),
                other => panic!("{name}: expected an error, got {other:?}"),
            };
            if let Some(kind) = name.strip_prefix("bedrock_exception_") {
                // An exception frame is Bedrock's own error: the prefix for its kind, its words.
                let prefix = match kind {
                    "throttlingException" => "throttled: ",
                    "validationException" => "validation: ",
                    _ => "bedrock: ",
                };
                let vector: serde_json::Value = serde_json::from_slice(&std::fs::read(file.with_extension("json")).unwrap()).unwrap();
                let said = vector["payload_json"]["message"].as_str().unwrap();
                assert!(e.starts_with(prefix) && e.contains(said), "{name}: expected {prefix:?} and {said:?}, got {e}");
                continue;
            }
            if name == "error_message_type_error" {
                // An `error` frame: Bedrock's error code is what the user sees.
                assert!(e.starts_with("bedrock: InternalFailure (HTTP 200): An internal error occurred."), "{name}: {e}");
                continue;
            }
            let clear = [
                "bedrock: the response stream is corrupt",
                "bedrock: the response stream ended before `message_stop`",
                "bedrock: the response stream has",
                "bedrock: the response stream went wrong",
                "throttled:",
                "validation:",
            ]
            .iter()
            .any(|p| e.starts_with(p));
            assert!(clear, "{name}: {e}");
            if dir.ends_with("invalid") {
                // Exact frame errors are pinned by the decoder's unit tests; here: a stream error.
                assert!(e.starts_with("bedrock: the response stream"), "{name}: {e}");
            }
        }
    }
}

#[tokio::test]
async fn a_50_mb_answer_streams_through_a_16_mib_sandbox() {
    let piece: String = "All work and no play makes Jack a dull boy. ".repeat(1490); // ~65 KB
    let pieces = 50_000_000 / piece.len() + 1;
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_big", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for _ in 0..pieces {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 12_000_000}}));
    events.push(json!({"type": "message_stop"}));
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::event_stream(&events).delivered(vec![1 << 20], Duration::ZERO));
    let p = against(&emu);
    p.set_limits(Limits::default().with_memory_bytes(16 << 20));
    let mut received = 0usize;
    let mut done = Value::Null;
    let (r, big) = p
        .stream_recorded(&hello("a long answer, please"), |e| {
            if let Some(t) = e.get("text").and_then(Value::as_str) {
                received += t.len();
            }
            if e["type"] == "done" {
                done = e;
            }
            std::future::ready(true)
        })
        .await;
    r.unwrap();
    assert_eq!(received, pieces * piece.len());
    assert!(received >= 50_000_000);
    assert_eq!(done["finish_reason"], "stop");
    assert_eq!(done["usage"]["output_tokens"], 12_000_000);

    // The guest's memory high-water mark (recorded by the store's limiter) does not grow with
    // the answer: the 50 MB stream peaks where a one-line answer does, within one piece's room.
    let (r, small) = p.stream_recorded(&hello("a short one"), |_| std::future::ready(true)).await;
    r.unwrap();
    assert!(small.memory_peak_bytes > 0);
    assert!(
        big.memory_peak_bytes <= small.memory_peak_bytes + (2 << 20),
        "50 MB answer: {} bytes; short answer: {} bytes",
        big.memory_peak_bytes,
        small.memory_peak_bytes
    );
}

#[tokio::test]
async fn the_first_event_arrives_before_the_last_chunk_is_sent() {
    let message = json!({"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "early bird"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}});
    let events = bedrock_emulator::stream_events(&message);
    let head: usize = events[..3].iter().map(|e| chunk_frame(e).len()).sum();
    let gate = Arc::new(tokio::sync::Notify::new());
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::event_stream(&events).hold_after(head, gate.clone()));
    let total = Scripted::event_stream(&events).body.len() as u64;
    let p = against(&emu);
    let sent_at_first_event = Arc::new(AtomicU64::new(u64::MAX));
    let seen = sent_at_first_event.clone();
    let emu = Arc::new(emu);
    let watcher = emu.clone();
    p.stream(&hello("x"), move |_| {
        if seen.load(Ordering::SeqCst) == u64::MAX {
            seen.store(watcher.body_bytes_sent(), Ordering::SeqCst);
            // Only now may the emulator send the rest.
            gate.notify_one();
        }
    })
    .await
    .unwrap();
    let at_first = sent_at_first_event.load(Ordering::SeqCst);
    assert!(at_first < total, "first event after {at_first} of {total} bytes");
    assert_eq!(at_first, head as u64);
}

#[tokio::test]
async fn a_stalled_stream_is_a_stream_idle_timeout() {
    let message = json!({"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "then silence"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}});
    let events = bedrock_emulator::stream_events(&message);
    let head: usize = events[..3].iter().map(|e| chunk_frame(e).len()).sum();
    let never = Arc::new(tokio::sync::Notify::new());
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::event_stream(&events).hold_after(head, never));
    let p = against(&emu);
    p.set_config("stream_idle_timeout", "1");
    let mut got = Vec::new();
    let e = p.stream(&hello("x"), |e| got.push(e)).await.unwrap_err().to_string();
    assert!(e.starts_with("network: no answer within 1.0 s (the stream went silent): raise the `stream_idle_timeout` config key"), "{e}");
    assert!(e.contains("received before the failure: 1 content blocks"), "{e}");
    assert_eq!(got.len(), 2, "the events before the stall were delivered: {got:?}");
}

#[tokio::test]
async fn exceptions_mid_stream_are_prefixed_and_first_frame_throttling_is_retried() {
    let emu = Emulator::start().await.unwrap();
    let start = json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}});
    let mut body = chunk_frame(&start);
    body.extend(exception_frame("throttlingException", "Too many tokens, please wait before trying again."));
    emu.push(Scripted::new(200, vec![], body));
    let p = against(&emu);
    let r = p.complete(&json!({"messages": [{"role": "user", "content": "x"}], "stream": true})).await.unwrap();
    assert_eq!(emu.requests().len(), 2, "throttled before any content: retried");
    assert_eq!(r["finish_reason"], "stop");

    let mut body = chunk_frame(&start);
    body.extend(chunk_frame(&json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
    body.extend(chunk_frame(&json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "half an ans"}})));
    body.extend(exception_frame("throttlingException", "Too many tokens"));
    emu.push(Scripted::new(200, vec![], body));
    let e = p.complete(&json!({"messages": [{"role": "user", "content": "x"}], "stream": true})).await.unwrap_err().to_string();
    assert!(e.starts_with("throttled: Too many tokens"), "{e}");
    assert!(e.contains("partial text: \"half an ans\""), "{e}");
    assert_eq!(emu.requests().len(), 3, "content had been delivered: not retried");
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection_and_timings_are_reported() {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for i in 0..200 {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("word{i} ")}}));
    }
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::event_stream(&events).delivered(vec![200], Duration::from_millis(20)));
    let p = against(&emu);
    let mut seen = 0;
    p.stream_while(&hello("x"), |_| {
        seen += 1;
        seen < 3
    })
    .await
    .unwrap();
    assert_eq!(seen, 3);
    let mut waited = 0;
    while emu.bodies_abandoned() == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(emu.bodies_abandoned(), 1, "the emulator saw the client hang up");
    let total = Scripted::event_stream(&events).body.len() as u64;
    assert!(emu.body_bytes_sent() < total);

    // A complete stream reports its time to first token in llm:response.
    let seen_events = Arc::new(std::sync::Mutex::new(Vec::new()));
    let store = seen_events.clone();
    let message = json!({"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}});
    emu.push(Scripted::event_stream(&bedrock_emulator::stream_events(&message)));
    p.set_event_callback(Some(Arc::new(move |e: &bedrock_host::HostEvent| store.lock().unwrap().push(e.clone()))));
    p.stream(&hello("x"), |_| {}).await.unwrap();
    let events = seen_events.lock().unwrap();
    let response = events.iter().find(|e| e.name == "llm:response").unwrap();
    assert_eq!(response.data["stream"], true);
    assert!(response.data["time_to_first_token_ms"].as_u64().unwrap() <= response.data["duration_ms"].as_u64().unwrap());
    assert_eq!(events.iter().find(|e| e.name == "llm:request").unwrap().data["stream"], true);
}
