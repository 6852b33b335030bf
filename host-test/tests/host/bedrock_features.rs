//! What the mature providers offer on Bedrock (issue #12), end to end through the component,
//! wasmtime and the emulator over real sockets: prompt caching, guardrails, token counting,
//! continuation, retry and stream events, and the 1M-token context.

use crate::common;

use std::sync::{Arc, Mutex};

use bedrock_emulator::{self as emulator, Emulator, Scripted};
use bedrock_host::HostEvent;
use common::{against, events_of, hello, stream_done, text_of, vector};
use serde_json::{json, Value};

/// A conversation whose system prompt is long enough to be cached (over 1,024 tokens).
fn cacheable(question: &str) -> Value {
    json!({
        "messages": [
            {"role": "system", "content": format!("You answer questions about the handbook. {}", "handbook ".repeat(1500))},
            {"role": "user", "content": question}
        ],
        "tools": [{"name": "lookup", "description": "Look a clause up", "parameters": {"type": "object", "properties": {"clause": {"type": "string"}}}}]
    })
}

/// Every event the provider emits, kept for the test to read (streams have no CallRecord).
fn recorder(p: &bedrock_host::Provider) -> Arc<Mutex<Vec<HostEvent>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    p.set_event_callback(Some(Arc::new(move |e: &HostEvent| sink.lock().unwrap().push(e.clone()))));
    seen
}

// 1. Prompt caching: cache points placed, and a second call with the same prefix reads it.
#[tokio::test]
async fn a_second_call_with_the_same_prefix_reads_the_prompt_cache_on_both_paths() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);

    let (first, record) = p.complete_recorded(&cacheable("What is the notice period?")).await;
    let first = first.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    let mark = json!({"type": "ephemeral"});
    assert_eq!(sent["system"][0]["cache_control"], mark, "the system prompt");
    assert_eq!(sent["tools"][0]["cache_control"], mark, "the last tool");
    assert_eq!(sent["messages"][0]["content"][0]["cache_control"], mark, "the last user message");
    let written = first["usage"]["cache_write_tokens"].as_i64().expect("the first call writes the cache");
    assert!(written > 1024, "{first}");
    assert!(first["usage"].get("cache_read_tokens").is_none(), "{first}");
    assert_eq!(events_of(&record, "llm:response")[0]["usage"]["cache_write_tokens"], written);

    // Same prefix, another question: the system prompt (and tools) come from the cache.
    let (second, record) = p.complete_recorded(&cacheable("And the probation period?")).await;
    let second = second.unwrap();
    let read = second["usage"]["cache_read_tokens"].as_i64().expect("the second call reads the cache");
    assert!(read > 1024 && read < written, "the prefix up to the system prompt: {second}");
    let fresh_and_write = emulator::input_tokens(&emu.requests().pop().unwrap().json()) as i64 - read;
    assert_eq!(
        second["usage"]["input_tokens"].as_i64().unwrap() + second["usage"]["cache_write_tokens"].as_i64().unwrap_or(0) - read,
        fresh_and_write
    );
    assert_eq!(
        second["usage"]["total_tokens"].as_i64().unwrap(),
        second["usage"]["input_tokens"].as_i64().unwrap() + second["usage"]["output_tokens"].as_i64().unwrap(),
        "input counts cache reads; writes apart (the contract's usage table)"
    );
    assert_eq!(events_of(&record, "llm:response")[0]["usage"]["cache_read_tokens"], read);

    // The stream reports it too, in `done`.
    let done = stream_done(&p, &cacheable("And the holidays?")).await;
    assert_eq!(done["usage"]["cache_read_tokens"], read, "{done}");

    // Turned off: no marks, nothing cached.
    p.set_config("enable_prompt_caching", "false");
    let r = p.complete(&cacheable("Something else?")).await.unwrap();
    assert!(!emu.requests().pop().unwrap().body.windows(13).any(|w| w == b"cache_control"));
    assert!(r["usage"].get("cache_read_tokens").is_none() && r["usage"].get("cache_write_tokens").is_none(), "{r}");
}

#[tokio::test]
async fn one_hour_caching_where_bedrock_has_it_and_a_report_where_not() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("prompt_cache_ttl", "1h");
    let r = p.complete(&cacheable("Q?")).await.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["system"][0]["cache_control"], json!({"type": "ephemeral", "ttl": "1h"}));
    assert!(r["usage"]["cache_write_tokens"].as_i64().unwrap() > 1024);
    assert!(r.get("degradation").is_none(), "{r}");

    let mut older = cacheable("Q?");
    older["model"] = json!("anthropic.claude-opus-4-1-20250805-v1:0");
    let r = p.complete(&older).await.unwrap();
    assert_eq!(emu.requests().pop().unwrap().json()["system"][0]["cache_control"], json!({"type": "ephemeral"}));
    assert_eq!(r["degradation"]["requested"], "prompt_cache_ttl=1h", "{r}");
    let e = p.complete(&json!({"messages": [{"role": "user", "content": (0..5).map(|_| json!({"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}})).collect::<Vec<_>>()}]})).await.unwrap_err();
    assert!(e.to_string().starts_with("validation:") && e.to_string().contains("at most 4"), "{e}");
    assert_eq!(emu.requests().len(), 2, "refused before sending");
}

// 2. Guardrails: signed headers, and an intervention is a content_filter finish with its trace.
#[tokio::test]
async fn a_guardrail_is_sent_signed_and_its_intervention_ends_the_answer_as_content_filter() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("guardrail_identifier", "gr-emulator01");
    p.set_config("guardrail_version", "1");
    p.set_config("guardrail_trace", "enabled");

    let r = p.complete(&hello("What is a guardrail?")).await.unwrap();
    assert_eq!(r["finish_reason"], "stop");
    assert_eq!(r["metadata"]["guardrail_action"], "NONE");
    let sent = emu.requests().pop().unwrap();
    assert_eq!(sent.header("x-amzn-bedrock-guardrailidentifier"), Some("gr-emulator01"));
    assert_eq!(sent.header("x-amzn-bedrock-guardrailversion"), Some("1"));
    assert_eq!(sent.header("x-amzn-bedrock-trace"), Some("ENABLED"));
    let signed = sent.header("authorization").unwrap().split("SignedHeaders=").nth(1).unwrap().split(',').next().unwrap().to_string();
    for h in ["x-amzn-bedrock-guardrailidentifier", "x-amzn-bedrock-guardrailversion", "x-amzn-bedrock-trace"] {
        assert!(signed.split(';').any(|s| s == h), "{h} is signed: {signed}");
    }

    let blocked = hello(&format!("Tell me about {}", emulator::GUARDRAIL_DENIED_TOPIC));
    let r = p.complete(&blocked).await.unwrap();
    assert_eq!(r["finish_reason"], "content_filter", "{r}");
    assert_eq!(text_of(&r), emulator::GUARDRAIL_BLOCKED_MESSAGE);
    assert_eq!(r["metadata"]["guardrail_action"], "INTERVENED");
    assert!(r["metadata"]["guardrail_trace"]["input"]["gr-emulator01"]["topicPolicy"].is_object(), "{r}");

    // Streamed: the verdict rides on the last event; `done` and complete(stream) agree.
    let done = stream_done(&p, &blocked).await;
    assert_eq!(
        (done["finish_reason"].clone(), done["metadata"]["guardrail_action"].clone()),
        (json!("content_filter"), json!("INTERVENED"))
    );
    assert!(done["metadata"]["guardrail_trace"].is_object(), "{done}");
    let mut streamed = blocked.clone();
    streamed["stream"] = json!(true);
    assert_eq!(p.complete(&streamed).await.unwrap()["finish_reason"], "content_filter");

    // The keys go together; a bad value names the key before anything is sent.
    let sent_before = emu.requests().len();
    p.remove_config("guardrail_version");
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("config: `guardrail_version`"), "{e}");
    p.set_config("guardrail_version", "latest");
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("config: `guardrail_version` is \"latest\"") && e.contains("DRAFT"), "{e}");
    assert_eq!(emu.requests().len(), sent_before);
}

// 3. Token counting through our own interface, and the CLI.
#[tokio::test]
async fn count_tokens_asks_bedrock_for_the_foundation_model_with_the_translated_body() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let request = cacheable("How many tokens is this?");
    let counted = p.count_tokens(&request).await.unwrap();
    let sent = emu.requests().pop().unwrap();
    assert!(sent.path.ends_with("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens"), "the bare id: {}", sent.path);
    use base64::Engine as _;
    let body = base64::engine::general_purpose::STANDARD.decode(sent.json()["input"]["invokeModel"]["body"].as_str().unwrap()).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31", "the InvokeModel body complete would send");
    assert_eq!(counted["input_tokens"].as_u64(), Some(emulator::input_tokens(&body)));
    assert_eq!(counted["model"], "anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert!(counted["request_id"].is_string());

    // The same count as the call itself uses (caching off, so no part is read from a cache).
    p.set_config("enable_prompt_caching", "false");
    let counted = p.count_tokens(&request).await.unwrap()["input_tokens"].as_i64().unwrap();
    let used = p.complete(&request).await.unwrap()["usage"]["input_tokens"].as_i64().unwrap();
    assert_eq!(counted, used);

    let mut unknown = hello("x");
    unknown["model"] = json!("anthropic.claude-instant-v1");
    let e = p.count_tokens(&unknown).await.unwrap_err().to_string();
    assert!(e.contains("doesn't support counting tokens"), "{e}");
    let e = p.count_tokens(&json!({"messages": []})).await.unwrap_err().to_string();
    assert!(e.starts_with("validation:"), "{e}");
}

// 4. Continuation: an answer cut at max_tokens is continued and stitched.
#[tokio::test]
async fn an_answer_cut_at_max_tokens_is_continued_and_stitched() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let request = json!({"messages": [{"role": "user", "content": "Count from 1 to 25"}], "max_output_tokens": 10});
    let whole: String = (1..=25).map(|n| n.to_string()).collect::<Vec<_>>().join(" ");

    let r = p.complete(&request).await.unwrap();
    assert_eq!((r["finish_reason"].as_str(), text_of(&r)), (Some("length"), "1 2 3 4 5 6 7 8 9 10".to_string()), "off by default");

    p.set_config("max_continuations", "5");
    let before = emu.requests().len();
    let (r, record) = p.complete_recorded(&request).await;
    let r = r.unwrap();
    assert_eq!(text_of(&r), whole);
    assert_eq!(r["finish_reason"], "stop");
    assert_eq!(r["usage"]["output_tokens"], 25, "usage summed over the rounds: {r}");
    assert_eq!(r["metadata"]["continuations"], 2);
    assert_eq!(emu.requests().len() - before, 3);
    let prefill = emu.requests()[before + 1].json();
    assert_eq!(prefill["messages"][1]["role"], "assistant", "the text so far is the start of the assistant turn");
    assert_eq!(prefill["messages"][1]["content"][0]["text"], "1 2 3 4 5 6 7 8 9 10");
    let rounds: Vec<u64> = events_of(&record, "provider:continuation").iter().map(|e| e["round"].as_u64().unwrap()).collect();
    assert_eq!(rounds, [1, 2]);

    // stream=true goes through the same loop.
    let mut streamed = request.clone();
    streamed["stream"] = json!(true);
    assert_eq!(text_of(&p.complete(&streamed).await.unwrap()), whole);

    // The event stream continues too: each round's blocks follow under the next indices, and
    // `done` counts every round.
    let seen = recorder(&p);
    let (mut text, mut starts, mut done) = (String::new(), Vec::new(), Value::Null);
    p.stream(&request, |e| {
        text.push_str(e["text"].as_str().unwrap_or_default());
        match e["type"].as_str() {
            Some("block_start") => starts.push(e["index"].as_u64().unwrap()),
            Some("done") => done = e,
            _ => {}
        }
    })
    .await
    .unwrap();
    assert_eq!(text, whole);
    assert_eq!(starts, [0, 1, 2]);
    assert_eq!((done["finish_reason"].as_str(), done["usage"]["output_tokens"].as_i64()), (Some("stop"), Some(25)), "{done}");
    assert_eq!(done["metadata"]["continuations"], 2);
    let names: Vec<String> = seen.lock().unwrap().iter().map(|e| e.name.clone()).filter(|n| !n.starts_with("llm:stream")).collect();
    assert_eq!(
        names,
        [
            "llm:request",
            "llm:response",
            "provider:continuation",
            "llm:request",
            "llm:response",
            "provider:continuation",
            "llm:request",
            "llm:response"
        ]
    );
    p.set_event_callback(None);

    // Never after a tool call: the turn is handed back as it is.
    emu.push_message(json!({"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "Let me look."}, {"type": "tool_use", "id": "t1", "name": "lookup", "input": {}}],
        "stop_reason": "max_tokens", "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 10}}));
    let before = emu.requests().len();
    let r = p.complete(&hello("look it up")).await.unwrap();
    assert_eq!((r["finish_reason"].as_str(), emu.requests().len() - before), (Some("length"), 1));

    p.set_config("max_continuations", "11");
    let e = p.complete(&request).await.unwrap_err().to_string();
    assert!(e.starts_with("config: `max_continuations` is \"11\""), "{e}");
}

// A continuation round InvokeModel would refuse (over its 20 MB body limit) is not made: the
// answer that arrived stands, cut at max_tokens, in `complete` and in the streaming interface
// (with its one llm:response).
#[tokio::test]
async fn a_continuation_over_invokemodels_limit_is_not_made_and_the_answer_stands() {
    const LIMIT: usize = 20_000_000;
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let request = |padding: usize| {
        json!({"messages": [{"role": "system", "content": "x".repeat(padding)}, {"role": "user", "content": "Count from 1 to 25"}],
            "max_output_tokens": 10})
    };
    // The body's size for a small padding (each padding byte is one body byte); then a padding
    // whose first round fits with 40 bytes to spare, less than the prefill's turn takes.
    let probe = 1_000;
    let before = emu.requests().len();
    p.complete(&request(probe)).await.unwrap();
    let sent = emu.requests()[before].body.len();
    let big = request(probe + LIMIT - 40 - sent);
    p.set_config("max_continuations", "3");

    let before = emu.requests().len();
    let (r, record) = p.complete_recorded(&big).await;
    let r = r.unwrap();
    assert_eq!(emu.requests()[before].body.len(), LIMIT - 40, "the first round fits");
    assert_eq!((r["finish_reason"].as_str(), text_of(&r)), (Some("length"), "1 2 3 4 5 6 7 8 9 10".to_string()));
    assert!(r["metadata"].get("continuations").is_none(), "{}", r["metadata"]);
    assert_eq!(emu.requests().len() - before, 1, "no round over the limit was sent");
    assert_eq!(events_of(&record, "llm:response").len(), 1);

    // The streaming interface continues inside its stream: the same.
    let seen = recorder(&p);
    let before = emu.requests().len();
    let done = stream_done(&p, &big).await;
    assert_eq!((done["finish_reason"].as_str(), done["usage"]["output_tokens"].as_i64()), (Some("length"), Some(10)), "{done}");
    assert!(done["metadata"].get("continuations").is_none(), "{done}");
    assert_eq!(emu.requests().len() - before, 1);
    let names: Vec<String> = seen.lock().unwrap().iter().map(|e| e.name.clone()).filter(|n| !n.starts_with("llm:stream")).collect();
    assert_eq!(names, ["llm:request", "llm:response"], "the round's one llm:response");
    p.set_event_callback(None);
}

// A continuation round extends the round before: the body sent then with the text so far as
// the assistant's turn (nothing else differs), to the model id that answered, not the request
// prepared again (which would retry a refused profile id and report its fallback each round).
#[tokio::test]
async fn a_continuation_round_is_the_body_sent_before_with_the_prefill_to_the_id_that_answered() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("max_retries", "0");
    p.set_config("max_continuations", "5");
    let request = json!({"messages": [{"role": "user", "content": "Count from 1 to 25"}], "max_output_tokens": 10});
    for stream in [false, true] {
        let mut request = request.clone();
        request["stream"] = json!(stream);
        emu.push(vector("error_validation_on_demand_not_supported"));
        let before = emu.requests().len();
        let (r, record) = p.complete_recorded(&request).await;
        let r = r.unwrap();
        assert_eq!(text_of(&r), (1..=25).map(|n| n.to_string()).collect::<Vec<_>>().join(" "), "stream={stream}");
        let sent = &emu.requests()[before..];
        let ids: Vec<&str> = sent.iter().map(|q| q.model_id.as_deref().unwrap()).collect();
        let (profile, global) = ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "global.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(ids, [profile, global, global, global], "stream={stream}: each round goes to the id that answered");
        assert_eq!(events_of(&record, "provider:model_fallback").len(), 1, "stream={stream}: one fallback for the whole answer");
        assert_eq!(r["degradation"]["actual"], format!("model={global}"), "stream={stream}");

        let (first, last) = (sent[1].json(), sent[3].json());
        let mut extended = first.clone();
        let prefill =
            json!({"role": "assistant", "content": [{"type": "text", "text": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"}]});
        extended["messages"].as_array_mut().unwrap().push(prefill);
        assert_eq!(last, extended, "stream={stream}: the last round is the first round's body with the latest prefill only");

        let counts: Vec<u64> = events_of(&record, "llm:request").iter().map(|e| e["message_count"].as_u64().unwrap()).collect();
        assert_eq!(counts, [1, 2, 2], "stream={stream}: a round counts the caller's message and the prefill");
        let ids: Vec<String> = events_of(&record, "llm:request").iter().map(|e| e["request_id"].to_string()).collect();
        assert!(ids[0] != ids[1] && ids[1] != ids[2], "stream={stream}: each round is a call of its own: {ids:?}");
    }
    // The streaming interface continues inside its one stream, the same way.
    emu.push(vector("error_validation_on_demand_not_supported"));
    let before = emu.requests().len();
    let done = stream_done(&p, &request).await;
    assert_eq!(done["metadata"]["continuations"], 2, "{done}");
    let sent = &emu.requests()[before..];
    let ids: Vec<&str> = sent.iter().map(|q| q.model_id.as_deref().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
        ]
    );
    let mut extended = sent[1].json();
    extended["messages"]
        .as_array_mut()
        .unwrap()
        .push(json!({"role": "assistant", "content": [{"type": "text", "text": "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"}]}));
    assert_eq!(sent[3].json(), extended);
}

// 5. Events: retries and throttling, stream blocks, an aborted stream; one request id per call.
#[tokio::test]
async fn retries_throttling_and_streams_are_reported_as_events_of_one_call() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    emu.push(Scripted::new(
        429,
        vec![("x-amzn-ErrorType".into(), "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/".into())],
        br#"{"message":"Too many requests, please wait before trying again."}"#.to_vec(),
    ));
    let (r, record) = p.complete_recorded(&hello("hi")).await;
    r.unwrap();
    let throttle = events_of(&record, "provider:throttle");
    let retry = events_of(&record, "provider:retry");
    assert_eq!((throttle.len(), retry.len()), (1, 1));
    assert_eq!(throttle[0]["attempt"], 1);
    assert_eq!(
        (retry[0]["attempt"].as_u64(), retry[0]["max_retries"].as_u64(), retry[0]["reason"].as_str()),
        (Some(2), Some(3), Some("throttled"))
    );
    assert!(retry[0]["delay"].as_f64().is_some_and(|d| d >= 0.0) && retry[0]["error_message"].as_str().unwrap().starts_with("throttled:"));
    let id = events_of(&record, "llm:request")[0]["request_id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 36);
    for e in &record.events {
        assert_eq!(e.data["request_id"], id.as_str(), "{} carries the call's id", e.name);
    }
    assert!(events_of(&record, "llm:response")[0]["bedrock_request_id"].is_string());

    // A stream: one start/end per block, numbered deltas that add up to the answer.
    let seen = recorder(&p);
    let mut text = String::new();
    p.stream(&hello("stream me"), |e| text.push_str(e["text"].as_str().unwrap_or_default())).await.unwrap();
    let events = std::mem::take(&mut *seen.lock().unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).filter(|n| n.starts_with("llm:stream")).collect();
    assert_eq!(names.first(), Some(&"llm:stream_block_start"));
    assert_eq!(names.last(), Some(&"llm:stream_block_end"));
    let deltas: Vec<&Value> = events.iter().filter(|e| e.name == "llm:stream_block_delta").map(|e| &e.data).collect();
    assert!(deltas.iter().enumerate().all(|(i, d)| d["sequence"] == i as u64 && d["block_type"] == "text"));
    assert_eq!(deltas.iter().map(|d| d["text"].as_str().unwrap()).collect::<String>(), text);

    // Cut in the middle: what was delivered is followed by llm:stream_aborted.
    let message = json!({"id": "m", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "a long answer ".repeat(200)}], "stop_reason": "end_turn", "stop_sequence": null,
        "usage": {"input_tokens": 5, "output_tokens": 600}});
    let frames = emulator::stream_events(&message);
    let whole: usize = frames.iter().map(|f| emulator::chunk_frame(f).len()).sum();
    emu.push(Scripted::event_stream(&frames).cut_after(whole - 200));
    let e = p.stream(&hello("cut me"), |_| {}).await.unwrap_err();
    let events = std::mem::take(&mut *seen.lock().unwrap());
    let aborted: Vec<&HostEvent> = events.iter().filter(|e| e.name == "llm:stream_aborted").collect();
    assert_eq!(aborted.len(), 1, "{e}");
    assert!(aborted[0].data["error"]["type"].is_string() && aborted[0].data["error"]["msg"].is_string());

    // Off: no stream events.
    p.set_config("stream_events", "false");
    p.stream(&hello("quiet"), |_| {}).await.unwrap();
    assert!(!seen.lock().unwrap().iter().any(|e| e.name.starts_with("llm:stream")));
}

// 6. The 1M-token context, opt-in, where the model has it.
#[tokio::test]
async fn the_one_million_token_context_is_opt_in_and_only_where_bedrock_offers_it() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("enable_prompt_caching", "false");
    let long = hello(&"token ".repeat(210_000));

    let e = p.complete(&long).await.unwrap_err().to_string();
    assert!(e.contains("prompt is too long") && e.contains("> 200000 maximum"), "{e}");

    p.set_config("enable_long_context", "true");
    let r = p.complete(&long).await.unwrap();
    assert!(r["usage"]["input_tokens"].as_i64().unwrap() > 200_000);
    assert_eq!(emu.requests().pop().unwrap().json()["anthropic_beta"], json!(["context-1m-2025-08-07"]));

    let mut haiku = hello("short");
    haiku["model"] = json!("anthropic.claude-haiku-4-5-20251001-v1:0");
    let r = p.complete(&haiku).await.unwrap();
    assert!(emu.requests().pop().unwrap().json().get("anthropic_beta").is_none());
    assert_eq!(r["degradation"]["requested"], "context_window=1000000", "{r}");

    let models = p.list_models().await.unwrap();
    let sonnet = models.as_array().unwrap().iter().find(|m| m["id"] == "anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
    assert!(sonnet["capabilities"].as_array().unwrap().contains(&json!("long_context")));
    assert_eq!(sonnet["metadata"]["long_context_window"], 1_000_000);
}
