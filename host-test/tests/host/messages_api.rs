//! Bedrock's Messages API (issue #21), end to end through the component, wasmtime and the
//! emulator over real sockets: route selection, SigV4 for `bedrock-mantle` and API keys,
//! answers and server-sent event streams, tools and adaptive thinking, Anthropic's errors and
//! their retries, the current catalog and its controls.

use crate::common;

use std::sync::{Arc, Mutex};

use bedrock_emulator::{self as emulator, Emulator, Scripted};
use bedrock_host::{Credentials, HostEvent};
use common::{against, events_of, stream_done, text_of};
use serde_json::{json, Value};

const SONNET_5: &str = "anthropic.claude-sonnet-5";
const DEFAULT_MODEL: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";

fn ask(model: &str, text: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": text}]})
}

fn weather_tool() -> Value {
    json!([{"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}])
}

#[tokio::test]
async fn sonnet_5_answers_through_the_messages_api_signed_for_bedrock_mantle() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let (response, record) = p.complete_recorded(&ask(SONNET_5, "Hi")).await;
    let response = response.unwrap();
    assert!(text_of(&response).contains("You said: Hi"), "{response}");
    assert_eq!(response["finish_reason"], "stop");
    assert_eq!(response["metadata"]["model"], SONNET_5);
    assert!(response["usage"]["input_tokens"].as_i64().unwrap() > 0, "{response}");
    assert!(response["metadata"]["request_id"].as_str().is_some_and(|id| !id.is_empty()), "the request-id header is kept");

    let sent = emu.requests().pop().unwrap();
    assert_eq!(
        (sent.path.as_str(), sent.operation.as_deref(), sent.model_id.as_deref()),
        ("/anthropic/v1/messages", Some("messages"), Some(SONNET_5))
    );
    assert_eq!(sent.auth_failure, None);
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert!(sent.header("authorization").unwrap().contains("/us-east-1/bedrock-mantle/aws4_request"));
    let body = sent.json();
    assert_eq!(body["model"], SONNET_5);
    assert!(body.get("anthropic_version").is_none(), "{body}");
    assert_eq!(events_of(&record, "llm:request")[0]["api"], "messages");
    assert_eq!(events_of(&record, "llm:response")[0]["status"], "ok");
}

#[tokio::test]
async fn a_bedrock_api_key_is_sent_as_a_bearer_token_and_never_shown() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_credentials(Some(Credentials::BedrockApiKey(emulator::API_KEY.into())));
    let response = p.complete(&ask(SONNET_5, "Hello with a key")).await.unwrap();
    assert!(text_of(&response).contains("Hello with a key"));
    let sent = emu.requests().pop().unwrap();
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {}", emulator::API_KEY).as_str()));
    assert_eq!(sent.auth_failure, None);

    p.set_credentials(Some(Credentials::BedrockApiKey("ABSKwrong-key-value".into())));
    let (result, record) = p.complete_recorded(&ask(SONNET_5, "x")).await;
    let e = result.unwrap_err().to_string();
    assert!(e.starts_with("auth:"), "{e}");
    let all = format!("{e} {:?}", record.events);
    assert!(!all.contains("ABSKwrong-key-value"), "the key leaked: {all}");
}

#[tokio::test]
async fn a_streamed_answer_arrives_as_events_from_server_sent_events() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let mut events = Vec::new();
    p.stream(&ask(SONNET_5, "Stream this please"), |e| events.push(e)).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds.first(), Some(&"block_start"));
    assert_eq!(kinds.last(), Some(&"done"));
    let text: String = events.iter().filter_map(|e| e["text"].as_str()).collect();
    assert!(text.contains("Stream this please"), "{text}");
    let done = events.last().unwrap();
    assert_eq!((done["finish_reason"].as_str(), done["metadata"]["model"].as_str()), (Some("stop"), Some(SONNET_5)));
    assert!(done["usage"]["output_tokens"].as_i64().unwrap() > 0, "{done}");
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["stream"], true);

    // `complete` with `stream: true` reads the same stream whole.
    let mut request = ask(SONNET_5, "Stream this please");
    request["stream"] = json!(true);
    let response = p.complete(&request).await.unwrap();
    assert_eq!(text_of(&response), text);
}

#[tokio::test]
async fn tools_and_adaptive_thinking_with_effort_round_trip() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    // The model thinks, then calls the tool (scripted: the emulator's own model only talks).
    emu.push_message(json!({
        "type": "message", "id": "msg_t1", "role": "assistant", "model": SONNET_5,
        "content": [
            {"type": "thinking", "thinking": "The user wants Paris weather; call the tool.", "signature": "c2lnbmF0dXJlLTE="},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}
        ],
        "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 40, "output_tokens": 25}
    }));
    let mut request = ask(SONNET_5, "What is the weather in Paris? Use the get_weather tool.");
    request["tools"] = weather_tool();
    request["reasoning_effort"] = json!("high");
    let response = p.complete(&request).await.unwrap();
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["thinking"], json!({"type": "adaptive", "display": "summarized"}));
    assert_eq!(sent["output_config"], json!({"effort": "high"}));
    assert!(sent.get("anthropic_beta").is_none(), "{sent}");
    let content = response["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking", "{response}");
    assert_eq!(content[0]["signature"], "c2lnbmF0dXJlLTE=", "{response}");
    assert_eq!(response["finish_reason"], "tool_calls", "{response}");
    let call = &response["tool_calls"][0];
    assert_eq!((call["name"].as_str(), call["arguments"]["city"].as_str()), (Some("get_weather"), Some("Paris")));

    // The tool result goes back with the thinking block (and its signature) replayed.
    let mut next = request.clone();
    let messages = next["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": response["content"]}));
    messages.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "Sunny, 21 °C"}));
    let done = stream_done(&p, &next).await;
    assert_eq!(done["finish_reason"], "stop", "{done}");
    let sent = emu.requests().pop().unwrap().json();
    assert_eq!(sent["messages"][1]["content"][0]["type"], "thinking", "{sent}");
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result", "{sent}");

    // A level the model does not take is lowered, and said so.
    let mut request = ask("anthropic.claude-opus-4-7", "Think hard");
    request["reasoning_effort"] = json!("max");
    let response = p.complete(&request).await.unwrap();
    assert_eq!(emu.requests().pop().unwrap().json()["output_config"]["effort"], "xhigh");
    assert!(response["degradation"]["actual"].as_str().unwrap().contains("effort xhigh"), "{response}");
}

#[tokio::test]
async fn anthropic_errors_map_to_our_prefixes_and_retries_honour_retry_after() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("retry_budget", "30");
    let mut throttled = Scripted::anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.");
    throttled.headers.push(("retry-after".into(), "1".into()));
    emu.push(throttled);
    emu.push(Scripted::anthropic_error(529, "overloaded_error", "Overloaded"));
    let started = std::time::Instant::now();
    let (response, record) = p.complete_recorded(&ask(SONNET_5, "after the storm")).await;
    assert!(text_of(&response.unwrap()).contains("after the storm"));
    assert!(started.elapsed() >= std::time::Duration::from_secs(1), "waited at least the retry-after");
    let retries = events_of(&record, "provider:retry");
    assert_eq!(retries.len(), 2, "{retries:?}");
    assert!(retries[0]["delay"].as_f64().unwrap() >= 1.0, "{retries:?}");
    assert_eq!(events_of(&record, "provider:throttle").len(), 1);

    for (status, kind, prefix) in [
        (400, "invalid_request_error", "validation:"),
        (401, "authentication_error", "auth:"),
        (403, "permission_error", "auth:"),
        (413, "request_too_large", "validation:"),
    ] {
        emu.push(Scripted::anthropic_error(status, kind, "the service's words"));
        let before = emu.requests().len();
        let e = p.complete(&ask(SONNET_5, "x")).await.unwrap_err().to_string();
        assert!(e.starts_with(prefix) && e.contains("the service's words") && e.contains("(Bedrock request id: "), "{kind}: {e}");
        assert_eq!(emu.requests().len(), before + 1, "{kind} is not retried");
    }

    // An id Bedrock's Messages API does not know: the emulator's own 404, our `model:` error.
    let e = p.complete(&ask("anthropic.claude-nonexistent-9", "x")).await.unwrap_err().to_string();
    assert!(e.starts_with("model: Bedrock's Messages API does not know model `anthropic.claude-nonexistent-9`"), "{e}");
    assert!(e.contains(SONNET_5), "the known ids are listed: {e}");
}

#[tokio::test]
async fn an_in_band_error_ends_the_stream_with_what_had_arrived() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let message = json!({"type": "message", "id": "msg_1", "role": "assistant", "model": SONNET_5, "content": [{"type": "text", "text": "Half an ans"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 3}});
    let events = emulator::sse_events(&message);
    // Everything up to the first text delta, then Anthropic's overload error.
    let cut = events.iter().position(|e| e["type"] == "content_block_delta").unwrap() + 1;
    emu.push(Scripted::sse_then_error(&events[..cut], "overloaded_error", "Overloaded"));
    let mut request = ask(SONNET_5, "x");
    request["stream"] = json!(true);
    let e = p.complete(&request).await.unwrap_err().to_string();
    assert!(e.starts_with("bedrock: Bedrock's Messages API is overloaded") && e.contains("Overloaded"), "{e}");
    assert!(e.contains("received before the failure: 1 content blocks") && e.contains("Half an ans"), "{e}");
    assert_eq!(emu.requests().len(), 1, "content had arrived: not retried");

    // Before any content, the same error is retried and the call succeeds.
    emu.push(Scripted::sse_then_error(&events[..1], "overloaded_error", "Overloaded"));
    let done = stream_done(&p, &ask(SONNET_5, "second try")).await;
    assert_eq!(done["finish_reason"], "stop");
    assert_eq!(emu.requests().len(), 3);
}

#[tokio::test]
async fn sonnet_4_6_in_tokyo_uses_its_jp_profile_and_deprecated_models_warn() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("aws_region", "ap-northeast-1");
    p.complete(&ask("anthropic.claude-sonnet-4-6", "Konnichiwa")).await.unwrap();
    let sent = emu.requests().pop().unwrap();
    assert_eq!(sent.path, "/model/jp.anthropic.claude-sonnet-4-6/invoke");
    assert!(sent.header("authorization").unwrap().contains("/ap-northeast-1/bedrock/aws4_request"));

    p.set_config("aws_region", "us-east-1");
    let (response, record) = p.complete_recorded(&ask("anthropic.claude-sonnet-4-20250514-v1:0", "old friend")).await;
    response.unwrap();
    let warning = events_of(&record, "provider:model_deprecated");
    assert_eq!(warning.len(), 1, "{:?}", record.events);
    assert!(warning[0]["message"].as_str().unwrap().contains("deprecated"), "{warning:?}");
    assert_eq!(warning[0]["model"], "us.anthropic.claude-sonnet-4-20250514-v1:0");
}

#[tokio::test]
async fn structured_output_is_native_on_invoke_model_and_a_forced_tool_on_the_messages_api() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"}}, "required": ["city", "population"], "additionalProperties": false});
    let format = json!({"type": "json_schema", "json_schema": {"name": "city", "schema": schema}});
    for (model, native) in [(DEFAULT_MODEL, true), (SONNET_5, false)] {
        let mut request = ask(model, "The largest city in France, as JSON");
        request["response_format"] = format.clone();
        let response = p.complete(&request).await.unwrap();
        let sent = emu.requests().pop().unwrap().json();
        assert_eq!(sent["output_config"]["format"].is_object(), native, "{model}: {sent}");
        assert_eq!(sent.get("tools").is_some(), !native, "{model}: {sent}");
        let answer: Value = serde_json::from_str(&text_of(&response)).unwrap_or_else(|e| panic!("{model}: {e}: {response}"));
        assert!(answer["city"].is_string() && answer["population"].is_i64(), "{model}: {answer}");
        assert_eq!(response["finish_reason"], "stop", "{model}");
        assert!(response.get("tool_calls").is_none_or(Value::is_null), "{model}: {response}");
    }
}

#[tokio::test]
async fn prompt_caching_continuation_and_keep_alive_work_on_the_messages_api() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let system = format!("You answer questions about the handbook. {}", "handbook ".repeat(1500));
    let cached = |q: &str| json!({"model": SONNET_5, "messages": [{"role": "system", "content": system}, {"role": "user", "content": q}]});
    let first = p.complete(&cached("Notice period?")).await.unwrap();
    assert!(first["usage"]["cache_write_tokens"].as_i64().unwrap() > 1024, "{first}");
    let second = p.complete(&cached("Probation period?")).await.unwrap();
    assert!(second["usage"]["cache_read_tokens"].as_i64().unwrap() > 1024, "{second}");
    assert_eq!(emu.connections(), 1, "both calls went over one kept-alive connection");

    p.set_config("max_continuations", "3");
    let mut request = ask(SONNET_5, "Count from 1 to 400, comma separated");
    request["max_output_tokens"] = json!(300);
    let (response, record) = p.complete_recorded(&request).await;
    let response = response.unwrap();
    assert!(response["metadata"]["continuations"].as_u64().unwrap() >= 1, "{response}");
    assert!(text_of(&response).contains("400"), "{response}");
    assert!(!events_of(&record, "provider:continuation").is_empty());
    let last = emu.requests().pop().unwrap().json();
    assert_eq!(last["messages"].as_array().unwrap().last().unwrap()["role"], "assistant", "the prefill: {last}");
}

#[tokio::test]
async fn the_catalog_lists_both_apis() {
    let p = common::base().fork();
    let models = p.list_models().await.unwrap();
    let api_of = |id: &str| models.as_array().unwrap().iter().find(|m| m["id"] == id).map(|m| m["metadata"]["api"].clone());
    assert_eq!(api_of(SONNET_5), Some(json!("messages")));
    assert_eq!(api_of("anthropic.claude-opus-4-8"), Some(json!("messages")));
    assert_eq!(api_of("anthropic.claude-sonnet-4-6"), Some(json!("invoke")));
    assert_eq!(api_of(DEFAULT_MODEL), Some(json!("invoke")));
    let info = p.get_info().await.unwrap();
    assert_eq!(info["defaults"]["model"], DEFAULT_MODEL, "the seed's default stays");
    assert!(info["config_fields"].as_array().unwrap().iter().any(|f| f["id"] == "api"), "{info}");
}

#[tokio::test]
async fn the_events_of_a_messages_api_stream_follow_the_contract() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let seen = Arc::new(Mutex::new(Vec::<HostEvent>::new()));
    let sink = seen.clone();
    p.set_event_callback(Some(Arc::new(move |e: &HostEvent| sink.lock().unwrap().push(e.clone()))));
    stream_done(&p, &ask(SONNET_5, "events please")).await;
    let names: Vec<String> = seen.lock().unwrap().iter().map(|e| e.name.clone()).collect();
    assert_eq!(names.first().map(String::as_str), Some("llm:request"));
    assert_eq!(names.last().map(String::as_str), Some("llm:response"));
    assert!(names.iter().any(|n| n == "llm:stream_block_delta"), "{names:?}");
}

#[tokio::test]
async fn an_id_bedrock_does_not_know_is_refused_as_bedrock_refuses_it() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let e = p.complete(&ask("nonsense", "x")).await.unwrap_err().to_string();
    assert!(e.starts_with("model: Bedrock does not know model `nonsense` in us-east-1"), "{e}");
    assert!(e.contains("The provided model identifier is invalid.") && e.contains(DEFAULT_MODEL), "the known ids: {e}");
    let tried: Vec<String> = emu.requests().iter().map(|r| r.model_id.clone().unwrap_or_default()).collect();
    assert_eq!(tried, ["us.nonsense", "nonsense"], "the region's profile, then the bare id");
}
