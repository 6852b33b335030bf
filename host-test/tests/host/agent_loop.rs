//! Agent-loop correctness (issue #11), end to end through the component, wasmtime and the
//! emulator, which enforces Bedrock's rules with Bedrock's messages: a request that Bedrock
//! would refuse for a rule we know must never be sent, and every change made to a request
//! must be reported.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bedrock_emulator::{chunk_frame, Emulator, Scripted};
use bedrock_host::{HostEvent, Limits};
use common::{against, events_of, hello, stream_done, testdata, vector};
use serde_json::{json, Value};

// 1. Usage per the contract: input = fresh + cache reads, cache writes apart, total = input + output.
#[tokio::test]
async fn usage_counts_cache_reads_in_input_and_cache_writes_apart_on_every_path() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let expected =
        json!({"input_tokens": 4110, "output_tokens": 17, "total_tokens": 4127, "cache_read_tokens": 4096, "cache_write_tokens": 312});
    let event_usage = json!({"input_tokens": 4110, "output_tokens": 17, "cache_read_tokens": 4096, "cache_write_tokens": 312});

    emu.push(vector("ok_prompt_cache_usage_sonnet45"));
    let (r, record) = p.complete_recorded(&hello("notice period?")).await;
    assert_eq!(r.unwrap()["usage"], expected, "InvokeModel");
    assert_eq!(events_of(&record, "llm:response")[0]["usage"], event_usage, "llm:response");

    // The same message streamed: the `done` event, and complete with stream=true.
    let v: Value = serde_json::from_slice(&std::fs::read(testdata("responses/ok_prompt_cache_usage_sonnet45.json")).unwrap()).unwrap();
    let message: Value = serde_json::from_str(v["response"]["body_utf8"].as_str().unwrap()).unwrap();
    emu.push_message(message.clone());
    let done = stream_done(&p, &hello("notice period?")).await;
    assert_eq!(done["usage"], expected, "stream `done`");
    emu.push_message(message);
    let mut streamed = hello("notice period?");
    streamed["stream"] = json!(true);
    let (r, record) = p.complete_recorded(&streamed).await;
    assert_eq!(r.unwrap()["usage"], expected, "complete with stream=true");
    assert_eq!(events_of(&record, "llm:response")[0]["usage"], event_usage);
}

// 2. Sampling rules from the capability table; every silent change is in `degradation`.
#[tokio::test]
async fn sampling_follows_each_models_rules_and_changes_are_reported() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);

    // top_p alone on the default model (Sonnet 4.5): sent alone, accepted.
    let r = p.complete(&json!({"messages": [{"role": "user", "content": "x"}], "top_p": 0.9, "top_k": 40})).await.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!((sent.get("temperature"), sent["top_p"].as_f64(), sent["top_k"].as_u64()), (None, Some(0.9), Some(40)));
    assert!(r.get("degradation").is_none(), "nothing was changed: {r}");

    // Both on models that take one of them: the request's temperature is kept, top_p dropped and reported.
    for model in [
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "us.anthropic.claude-opus-4-1-20250805-v1:0",
        "anthropic.claude-haiku-4-5-20251001-v1:0",
    ] {
        let (r, record) = p
            .complete_recorded(&json!({"model": model, "messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "top_p": 0.9}))
            .await;
        let r = r.unwrap_or_else(|e| panic!("{model}: {e}"));
        let sent = emu.requests().pop().unwrap().json();
        assert_eq!((sent["temperature"].as_f64(), sent.get("top_p")), (Some(0.2), None), "{model}");
        assert_eq!(r["degradation"]["requested"], "top_p=0.9", "{model}");
        assert_eq!(r["degradation"]["actual"], "top_p=not sent", "{model}");
        assert!(r["degradation"]["reason"].as_str().unwrap().contains("only one of temperature and top_p"), "{model}");
        assert_eq!(events_of(&record, "llm:response")[0]["degradation"], r["degradation"], "{model}: the event reports it too");
    }
    // A configured temperature gives way to the request's own top_p.
    p.set_config("temperature", "0.7");
    let r = p.complete(&json!({"messages": [{"role": "user", "content": "x"}], "top_p": 0.5})).await.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!((sent.get("temperature"), sent["top_p"].as_f64()), (None, Some(0.5)));
    assert_eq!(
        (r["degradation"]["requested"].as_str(), r["degradation"]["actual"].as_str()),
        (Some("temperature=0.7"), Some("temperature=not sent"))
    );
    p.remove_config("temperature");
    // Sonnet 4 takes both.
    p.complete(&json!({"model": "anthropic.claude-sonnet-4-20250514-v1:0", "messages": [{"role": "user", "content": "x"}], "temperature": 0.2, "top_p": 0.9}))
        .await
        .unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!((sent["temperature"].as_f64(), sent["top_p"].as_f64()), (Some(0.2), Some(0.9)));

    // Thinking: the temperature forced to 1 and max_tokens raised above the budget, both reported.
    let r = p
        .complete(&json!({"messages": [{"role": "user", "content": "x"}], "temperature": 0.3, "max_output_tokens": 2000, "reasoning_effort": "low"}))
        .await
        .unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(
        (sent.get("temperature"), sent["max_tokens"].as_u64(), sent["thinking"]["budget_tokens"].as_u64()),
        (None, Some(8192), Some(4096))
    );
    assert_eq!(r["degradation"]["requested"], "max_tokens=2000, temperature=0.3");
    assert_eq!(r["degradation"]["actual"], "max_tokens=8192, temperature=1");
    assert_eq!(r["degradation"]["reason"], "max_tokens must be above the thinking budget (4096); extended thinking runs at temperature 1");
}

// 3. response_format JSON through a forced answer tool (on a model without native structured
// output: the messages_api tests cover the native form), returned as text; unknown formats refused.
#[tokio::test]
async fn json_response_format_comes_back_as_text_content() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let answer = json!({"type": "message", "role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "json_answer", "input": {"city": "Paris", "population": 2102650}}], "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 20, "output_tokens": 15}});
    let request = json!({"model": "anthropic.claude-sonnet-4-20250514-v1:0", "messages": [{"role": "user", "content": "Largest city of France?"}], "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}}, "required": ["city"]}}}});
    emu.push_message(answer.clone());
    let r = p.complete(&request).await.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["tool_choice"], json!({"type": "tool", "name": "json_answer"}));
    assert_eq!(sent["tools"][0]["input_schema"]["required"], json!(["city"]));
    assert_eq!(r["content"], json!([{"type": "text", "text": "{\"city\":\"Paris\",\"population\":2102650}"}]));
    assert_eq!(r["finish_reason"], "stop");
    assert!(r.get("tool_calls").is_none());

    // Streamed: a text block whose text is the JSON as it arrives.
    emu.push_message(answer);
    let mut text = String::new();
    let mut done = Value::Null;
    p.stream(&request, |e| {
        if let Some(t) = e["text"].as_str() {
            text.push_str(t);
        }
        if e["type"] == "block_start" {
            assert_eq!(e["block"], json!({"type": "text"}));
        }
        if e["type"] == "done" {
            done = e;
        }
    })
    .await
    .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"city": "Paris", "population": 2102650}));
    assert_eq!((done["finish_reason"].as_str(), done["tool_calls"].as_array().map(Vec::len)), (Some("stop"), Some(0)));

    let before = emu.requests().len();
    let e = p
        .complete(&json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("validation: `response_format` type \"yaml\" is not supported"), "{e}");
    let e = p
        .complete(
            &json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}, "reasoning_effort": "low"}),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("validation: `response_format` JSON") && e.contains("thinking"), "{e}");
    assert_eq!(emu.requests().len(), before, "nothing was sent");
}

// 4. Thinking blocks: byte-exact and first; an open tool turn without thinking; a model that cannot take them.
#[tokio::test]
async fn thinking_blocks_replay_exactly_and_never_cause_a_refusal() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let tools = json!([{"name": "f", "parameters": {"type": "object"}}]);
    // Signature-only and redacted blocks, out of order in the stored turn: sent first, in order, unchanged.
    let r = p
        .complete(&json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "thinking", "thinking": "", "signature": "EqQBCkgIARABGAIiQL+sig/only=="},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"},
                {"type": "tool_call", "id": "t1", "name": "f", "input": {}}
            ]},
            {"role": "tool", "tool_call_id": "t1", "content": "r"}
        ], "tools": tools, "reasoning_effort": "low"}))
        .await
        .unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(
        sent["messages"][1]["content"],
        json!([
            {"type": "thinking", "thinking": "", "signature": "EqQBCkgIARABGAIiQL+sig/only=="},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIw"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
        ])
    );
    assert_eq!(sent["thinking"]["type"], "enabled");
    assert_eq!(sent["anthropic_beta"], json!(["interleaved-thinking-2025-05-14"]));
    assert!(r.get("degradation").is_none());

    // The tool turn in progress was made without thinking: thinking waits for the next user turn.
    let r = p
        .complete(&json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_call", "id": "t1", "name": "f", "input": {}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "r"}
        ], "tools": tools, "reasoning_effort": "low"}))
        .await
        .unwrap();
    assert!(emu.requests().pop().unwrap().json().get("thinking").is_none());
    assert_eq!(
        (r["degradation"]["requested"].as_str(), r["degradation"]["actual"].as_str()),
        (Some("thinking=budget 4096"), Some("thinking=off"))
    );

    // Moving the conversation to a model without thinking drops the earlier blocks, reported.
    let r = p
        .complete(&json!({"model": "us.anthropic.claude-3-5-haiku-20241022-v1:0", "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "text", "text": "a"}]},
            {"role": "user", "content": "more"}
        ], "reasoning_effort": "low"}))
        .await
        .unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["messages"][1]["content"], json!([{"type": "text", "text": "a"}]));
    assert!(sent.get("thinking").is_none());
    assert_eq!(r["degradation"]["actual"], "thinking=off, thinking_blocks=0");
    assert!(
        r["degradation"]["reason"].as_str().unwrap().contains("Claude 3.5 Haiku cannot take the earlier turns' thinking blocks"),
        "{r}"
    );

    // A thinking block without a signature (another provider's) is left out, not refused by Bedrock.
    let r = p
        .complete(&json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "unsigned"}, {"type": "text", "text": "a"}]},
            {"role": "user", "content": "more"}
        ]}))
        .await
        .unwrap();
    assert_eq!(emu.requests().pop().unwrap().json()["messages"][1]["content"], json!([{"type": "text", "text": "a"}]));
    assert_eq!(r["degradation"]["actual"], "thinking_blocks=left out");
}

// 5. Tool sequences: an error by default; repaired in place on request; empty names refused.
#[tokio::test]
async fn interrupted_tool_turns_are_refused_or_repaired_in_place() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    // The bodies below are compared whole: without cache points (tested in bedrock_features.rs).
    p.set_config("enable_prompt_caching", "false");
    let conversation = json!({"messages": [
        {"role": "user", "content": "read both"},
        {"role": "assistant", "content": [
            {"type": "tool_call", "id": "call_a", "name": "read_file", "input": {"path": "a"}},
            {"type": "tool_call", "id": "call_b", "name": "read_file", "input": {"path": "b"}}
        ]},
        {"role": "tool", "tool_call_id": "call_a", "content": "A"},
        {"role": "user", "content": "never mind, summarise"}
    ]});
    let e = p.complete(&conversation).await.unwrap_err().to_string();
    assert!(e.starts_with("validation: messages[1] calls tool `read_file` with id `call_b`"), "{e}");
    assert!(emu.requests().is_empty(), "nothing was sent");

    p.set_config("repair_tool_sequences", "true");
    let (r, record) = p.complete_recorded(&conversation).await;
    r.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 3);
    let turn = &sent["messages"][2]["content"];
    assert_eq!(turn[0], json!({"type": "tool_result", "tool_use_id": "call_a", "content": "A"}));
    assert_eq!((turn[1]["tool_use_id"].as_str(), turn[1]["is_error"].as_bool()), (Some("call_b"), Some(true)));
    assert_eq!(turn[2], json!({"type": "text", "text": "never mind, summarise"}));
    let mut repaired = events_of(&record, "provider:tool_sequence_repaired");
    assert_eq!(repaired[0]["request_id"], events_of(&record, "llm:request")[0]["request_id"], "one id per call");
    repaired[0].as_object_mut().unwrap().remove("request_id");
    assert_eq!(
        repaired,
        vec![
            json!({"tool_call_ids": ["call_b"], "count": 1, "provider": "bedrock", "model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"})
        ]
    );

    let e = p
        .complete(&json!({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [{"type": "tool_call", "id": "c1", "name": "", "input": {}}]}, {"role": "tool", "tool_call_id": "c1", "content": "r"}]}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("validation: messages[1] has a tool call with id `c1` and an empty name"), "{e}");
    let e = p
        .complete(&json!({"messages": [{"role": "user", "content": "x"}], "tools": [{"name": " ", "parameters": {}}]}))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("validation: `tools[0]` has an empty name"), "{e}");
}

/// A streamed answer of `pieces` text deltas, as frames.
fn text_stream(pieces: &[&str]) -> (Vec<Vec<u8>>, usize) {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude", "stop_reason": null, "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    let head = events.len();
    for p in pieces {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events
        .push(json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": 9}}));
    events.push(json!({"type": "message_stop"}));
    (events.iter().map(chunk_frame).collect(), head)
}

// 6. Streams are bounded by silence, not by `timeout` or the host's deadline; silence ends them with what arrived.
#[tokio::test]
async fn streams_are_bounded_by_silence_not_by_their_length() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("timeout", "1");
    p.set_config("stream_idle_timeout", "1");
    p.set_limits(Limits::default().with_call_timeout(Some(Duration::from_secs(1))));
    // About 2.4 s in all, never more than 0.3 s of silence: longer than `timeout` and the host deadline.
    let pieces = ["one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight "];
    let (frames, _) = text_stream(&pieces);
    let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
    let body: Vec<u8> = frames.concat();
    let answer = || Scripted::new(200, vec![("Content-Type".into(), "application/vnd.amazon.eventstream".into())], body.clone());
    emu.push(answer().delivered(sizes.clone(), Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let mut text = String::new();
    p.stream(&hello("count"), |e| text.push_str(e["text"].as_str().unwrap_or_default())).await.unwrap();
    assert!(started.elapsed() > Duration::from_millis(1500), "the stream outlasted `timeout` ({:?})", started.elapsed());
    assert_eq!(text, pieces.concat());
    // `complete` reads a stream whole inside one call: the derived host deadline applies.
    p.set_limits(Limits::default());
    emu.push(answer().delivered(sizes, Duration::from_millis(200)));
    let mut streamed = hello("count");
    streamed["stream"] = json!(true);
    let r = p.complete(&streamed).await.unwrap();
    assert_eq!(r["content"][0]["text"], pieces.concat());

    // A stream that goes silent: a `network:` error naming the key, with what had arrived.
    let (frames, head) = text_stream(&["Hello ", "world"]);
    let delivered: usize = frames[..head + 1].iter().map(Vec::len).sum();
    let gate = Arc::new(tokio::sync::Notify::new());
    emu.push(
        Scripted::new(200, vec![("Content-Type".into(), "application/vnd.amazon.eventstream".into())], frames.concat())
            .delivered(vec![64], Duration::ZERO)
            .hold_after(delivered, gate.clone()),
    );
    let seen: Arc<Mutex<String>> = Arc::default();
    let sink = seen.clone();
    let e = p
        .stream(&hello("x"), move |e| sink.lock().unwrap().push_str(e["text"].as_str().unwrap_or_default()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("network: no answer within 1.0 s (the stream went silent): raise the `stream_idle_timeout` config key"), "{e}");
    assert!(e.contains("6 characters of text"), "the error says what arrived: {e}");
    assert_eq!(*seen.lock().unwrap(), "Hello ", "and it was delivered as events");
    gate.notify_waiters();
}

#[tokio::test]
async fn the_component_itself_bounds_the_wait_for_the_first_byte() {
    // No wasi:http request options are passed (hosts read them differently): the component
    // polls its own monotonic deadline.
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("timeout", "30");
    p.set_config("first_byte_timeout", "1");
    let late =
        json!({"content": [{"type": "text", "text": "late"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}});
    emu.push(Scripted::json(&late).after(Duration::from_secs(4)));
    let started = std::time::Instant::now();
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("network: no answer within 1.0 s (waiting for the response): raise the `first_byte_timeout` config key"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(emu.requests().len(), 1, "a model still generating is not asked again");
}

// The host deadline derived from a call's own limits (`Limits::derived_call_timeout`) is checked
// by what it must do, in host-test/src/provider/limits.rs's unit tests: outlast the longest run
// the component can make, by a little, for any valid configuration.

// 7. Regions: the global profile where no geographic one exists; one fallback per refused id, reported.
#[tokio::test]
async fn a_refused_profile_id_falls_back_and_the_id_used_is_reported() {
    for refusal in ["error_validation_invalid_model_id", "error_validation_on_demand_not_supported"] {
        let emu = Emulator::start().await.unwrap();
        let p = against(&emu);
        p.set_config("max_retries", "0");
        emu.push(vector(refusal));
        let (r, record) = p.complete_recorded(&hello("x")).await;
        let r = r.unwrap_or_else(|e| panic!("{refusal}: {e}"));
        let ids: Vec<String> = emu.requests().iter().map(|q| q.model_id.clone().unwrap()).collect();
        assert_eq!(ids, ["us.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0"], "{refusal}");
        assert_eq!(r["metadata"]["model"], "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(r["degradation"]["requested"], "model=us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(r["degradation"]["actual"], "model=global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        let fallback = events_of(&record, "provider:model_fallback");
        assert_eq!(fallback[0]["from"], "us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(fallback[0]["to"], "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(events_of(&record, "llm:response")[0]["model"], "global.anthropic.claude-sonnet-4-5-20250929-v1:0");

        // Never across the caller's own choice of profile.
        emu.push(vector(refusal));
        let e = p
            .complete(&json!({"model": "us.anthropic.claude-sonnet-4-5-20250929-v1:0", "messages": [{"role": "user", "content": "x"}]}))
            .await;
        assert!(e.unwrap_err().to_string().starts_with("model:"), "{refusal}");
        assert_eq!(emu.requests().len(), 3, "{refusal}: one request, no fallback");
    }
    // The stream path falls back the same way.
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    emu.push(vector("error_validation_on_demand_not_supported"));
    let done = stream_done(&p, &hello("x")).await;
    assert_eq!(done["metadata"]["model"], "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(done["degradation"]["actual"], "model=global.anthropic.claude-sonnet-4-5-20250929-v1:0");

    // Where the model has no geographic profile for the region, its global one is called first.
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("aws_region", "ap-southeast-1");
    p.complete(&hello("x")).await.unwrap();
    assert_eq!(emu.requests().pop().unwrap().model_id.as_deref(), Some("global.anthropic.claude-sonnet-4-5-20250929-v1:0"));
}

// 8. Unknown config keys: a warning event naming the closest key; the call goes on.
#[tokio::test]
async fn unknown_config_keys_are_warned_about_with_the_closest_key() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("max_tokenz", "100");
    let seen: Arc<Mutex<Vec<HostEvent>>> = Arc::default();
    let sink = seen.clone();
    p.set_event_callback(Some(Arc::new(move |e: &HostEvent| sink.lock().unwrap().push(e.clone()))));
    p.complete(&hello("x")).await.unwrap();
    let warnings: Vec<Value> =
        seen.lock().unwrap().iter().filter(|e| e.name == "provider:config_warning").map(|e| e.data.clone()).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!((warnings[0]["key"].as_str(), warnings[0]["closest_key"].as_str()), (Some("max_tokenz"), Some("max_tokens")));
    assert_eq!(warnings[0]["message"], "unknown config key `max_tokenz` is ignored: did you mean `max_tokens`?");
    assert_eq!(emu.requests()[0].json()["max_tokens"], 8192, "the misspelt key changed nothing");
    // Bad values of known keys stay errors.
    p.set_config("max_tokens", "lots");
    assert!(p.complete(&hello("x")).await.unwrap_err().to_string().starts_with("config: `max_tokens` is \"lots\""));
}

#[test]
fn the_cli_prints_config_warnings_on_stderr() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["complete", "--emulator", "-c", "temprature=0.5", "Hello"])
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("warning: unknown config key `temprature` is ignored: did you mean `temperature`?"), "{stderr}");
}

// 9. Developer messages as <context_file> user content; `visibility` never sent.
#[tokio::test]
async fn developer_messages_are_context_and_visibility_is_stripped() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("enable_prompt_caching", "false");
    p.complete(&json!({"messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": "AGENTS.md: use tabs", "visibility": "internal"},
        {"role": "user", "content": [{"type": "text", "text": "Hi", "visibility": "user"}]},
        {"role": "assistant", "content": [{"type": "tool_call", "id": "t1", "name": "f", "input": {}, "visibility": "developer"}]},
        {"role": "tool", "tool_call_id": "t1", "content": [{"type": "text", "text": "out", "visibility": "internal"}, {"type": "text", "text": "more"}]}
    ], "tools": [{"name": "f", "parameters": {"type": "object"}}]}))
    .await
    .unwrap();
    let sent = emu.requests().pop().unwrap();
    let body = sent.json();
    assert_eq!(body["system"], json!([{"type": "text", "text": "Be brief."}]));
    assert_eq!(
        body["messages"][0]["content"],
        json!([{"type": "text", "text": "<context_file>\nAGENTS.md: use tabs\n</context_file>"}, {"type": "text", "text": "Hi"}])
    );
    assert!(!String::from_utf8_lossy(&sent.body).contains("visibility"), "{body}");
}

// 10. CLI manners: a closed stdout is not a panic; a credential-chain error is one paragraph.
#[test]
fn the_cli_survives_a_closed_stdout_and_explains_missing_credentials_in_one_paragraph() {
    use std::process::{Command, Stdio};
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache");
    for args in [&["info", "--json"][..], &["models"][..]] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
            .args(args)
            .env("BEDROCK_HOST_CACHE_DIR", &cache)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away before anything is written
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
    }
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["complete", "Hello"])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.path().join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.path().join("credentials"))
        .env("BEDROCK_HOST_CACHE_DIR", &cache)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(77));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("auth: no AWS credentials found"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one paragraph: {stderr}");
    assert_eq!(stderr.matches("no credentials found in chain").count(), 1, "said once: {stderr}");
    assert!(!stderr.contains("Attempted") && !stderr.contains(" { "), "no Debug output: {stderr}");
}
