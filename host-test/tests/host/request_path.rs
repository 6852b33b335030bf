//! The Bedrock request path through the component and the emulator: every error row, retries,
//! the cross-region table, thinking, tools, images, and hook events.

use crate::common;

use std::sync::{Arc, Mutex};

use bedrock_emulator::{Emulator, Scripted};
use bedrock_host::{CallError, Credentials, HostEvent};
use common::{against, hello, testdata, vector};
use serde_json::{json, Value};

fn request_id_of(name: &str) -> String {
    let v: Value = serde_json::from_slice(&std::fs::read(testdata(&format!("responses/{name}.json"))).unwrap()).unwrap();
    v["response"]["headers"].as_array().unwrap().iter().find(|h| h[0].as_str().unwrap().eq_ignore_ascii_case("x-amzn-RequestId")).unwrap()
        [1]
    .as_str()
    .unwrap()
    .to_string()
}

#[tokio::test]
async fn every_bedrock_error_becomes_a_prefixed_actionable_error() {
    let table: &[(&str, &str, &[&str])] = &[
        (
            "error_access_denied_iam",
            "auth: access denied calling model `us.anthropic.claude-sonnet-4-5-20250929-v1:0` in us-east-1",
            &["bedrock:InvokeModel and bedrock:InvokeModelWithResponseStream"],
        ),
        ("error_access_denied_model_access", "auth: access denied", &["Model access"]),
        ("error_expired_token", "auth: ExpiredTokenException", &["refresh them"]),
        ("error_invalid_signature", "auth: InvalidSignatureException", &["secret access key"]),
        ("error_unrecognized_client", "auth: UnrecognizedClientException", &["AWS_ACCESS_KEY_ID"]),
        (
            "error_validation_invalid_model_id",
            "model: Bedrock does not know inference profile",
            &["anthropic.claude-haiku-4-5-20251001-v1:0"],
        ),
        ("error_validation_on_demand_not_supported", "model: model `us.anthropic", &["inference profile", "Model access"]),
        ("error_resource_not_found_end_of_life", "model: model", &["retired"]),
        ("error_resource_not_found_use_case_form", "model: model", &["use case form"]),
        ("error_service_quota_exceeded", "throttled:", &["quota increase"]),
        ("error_throttling_requests", "throttled: Too many requests", &["wait and retry"]),
        ("error_throttling_tokens", "throttled: Too many tokens", &[]),
        ("error_model_not_ready", "throttled:", &["starting up"]),
        ("error_service_unavailable", "bedrock: ServiceUnavailableException (HTTP 503)", &[]),
        ("error_internal_server", "bedrock: InternalServerException (HTTP 500)", &[]),
        ("error_model_error", "bedrock: ModelErrorException (HTTP 424)", &[]),
        ("error_model_timeout", "bedrock:", &["fewer output tokens"]),
        (
            "error_validation_empty_text_block",
            "validation: Bedrock rejected the request: messages: text content blocks must be non-empty",
            &[],
        ),
        ("error_validation_malformed_input", "validation: Bedrock rejected the request: Malformed input request", &[]),
        ("error_validation_thinking_block_required", "validation: Bedrock rejected the request", &["thinking"]),
    ];
    let covered: Vec<&str> = table.iter().map(|r| r.0).collect();
    for entry in std::fs::read_dir(testdata("responses")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().trim_end_matches(".json").to_string();
        assert!(!name.starts_with("error_") || covered.contains(&name.as_str()), "error vector {name} is not in the table");
    }
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("max_retries", "0");
    // The profile id is the caller's own choice, so a refused id is not swapped for another.
    let mut request = hello("x");
    request["model"] = json!("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
    for (name, prefix, hints) in table {
        emu.push(vector(name));
        let e = match p.complete(&request).await {
            Err(CallError::Provider(e)) => e.message().to_string(),
            other => panic!("{name}: expected a provider error, got {other:?}"),
        };
        assert!(e.starts_with(prefix), "{name}: {e}");
        for hint in *hints {
            assert!(e.contains(hint), "{name}: missing {hint:?} in {e}");
        }
        assert!(e.ends_with(&format!("(Bedrock request id: {})", request_id_of(name))), "{name}: {e}");
        assert!(!e.contains(bedrock_emulator::SECRET_ACCESS_KEY), "{name}");
    }
}

#[tokio::test]
async fn throttling_is_retried_then_succeeds() {
    let emu = Emulator::start().await.unwrap();
    emu.push(vector("error_throttling_requests"));
    emu.push(vector("error_service_unavailable"));
    emu.push(Scripted::reset());
    let response = against(&emu).complete(&hello("x")).await.unwrap();
    assert_eq!(response["finish_reason"], "stop");
    assert_eq!(emu.requests().len(), 4, "two errors and a reset, then the answer");
}

#[tokio::test]
async fn retries_end_with_the_count_and_never_touch_auth_or_validation_errors() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_config("max_retries", "2");
    for _ in 0..3 {
        emu.push(vector("error_internal_server"));
    }
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("bedrock: InternalServerException") && e.contains("(gave up after 3 attempts)"), "{e}");
    assert_eq!(emu.requests().len(), 3);

    for name in ["error_validation_malformed_input", "error_access_denied_iam", "error_expired_token"] {
        let emu = Emulator::start().await.unwrap();
        emu.push(vector(name));
        let e = against(&emu).complete(&hello("x")).await.unwrap_err().to_string();
        assert!(!e.contains("gave up after"), "{name}: {e}");
        assert_eq!(emu.requests().len(), 1, "{name} must not be retried");
    }
}

#[tokio::test]
async fn the_cross_region_prefix_follows_the_region() {
    let emu = Emulator::start().await.unwrap();
    let sonnet45 = "anthropic.claude-sonnet-4-5-20250929-v1:0";
    let sonnet4 = "anthropic.claude-sonnet-4-20250514-v1:0";
    let cases = [
        ("us-east-1", sonnet45, "us."),
        ("us-west-2", sonnet45, "us."),
        ("eu-west-1", sonnet45, "eu."),
        ("eu-central-1", sonnet45, "eu."),
        ("ap-northeast-1", sonnet45, "jp."),
        ("ap-northeast-1", sonnet4, "apac."),
        ("ap-southeast-2", sonnet45, "au."),
        ("ap-south-1", sonnet4, "apac."),
        ("ap-southeast-1", sonnet4, "apac."),
        ("us-gov-west-1", sonnet45, "us-gov."),
        // No geographic profile of Sonnet 4.5 / Haiku 4.5 for these regions: their global one.
        ("ap-southeast-1", sonnet45, "global."),
        ("ap-south-1", "anthropic.claude-haiku-4-5-20251001-v1:0", "global."),
        ("sa-east-1", sonnet45, "global."),
    ];
    for (region, model, prefix) in cases {
        let p = against(&emu);
        p.set_config("aws_region", region);
        p.set_config("default_model", model);
        p.complete(&hello("x")).await.unwrap();
        let r = emu.requests().pop().unwrap();
        assert_eq!(r.model_id.as_deref(), Some(format!("{prefix}{model}").as_str()), "{region}");
        assert!(r.header("authorization").unwrap().contains(&format!("/{region}/bedrock/aws4_request")), "signed for {region}");
        assert_eq!(r.auth_failure, None);
    }
    // Without cross-region inference the bare id is called, and Bedrock's refusal (the model
    // has no on-demand throughput) is not second-guessed: the error says what to set.
    let p = against(&emu);
    p.set_config("use_cross_region_inference", "false");
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("model: model `anthropic.claude-sonnet-4-5-20250929-v1:0` cannot be called on demand"), "{e}");
    assert!(e.contains("set `use_cross_region_inference=true`"), "{e}");
    assert_eq!(emu.requests().pop().unwrap().model_id.as_deref(), Some(sonnet45));
    let arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123";
    against(&emu).complete(&json!({"model": arn, "messages": [{"role": "user", "content": "x"}]})).await.unwrap();
    let r = emu.requests().pop().unwrap();
    assert_eq!(r.model_id.as_deref(), Some(arn));
    assert!(r.path.contains("arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Aapplication-inference-profile%2Fabc123"), "{}", r.path);
}

#[tokio::test]
async fn thinking_round_trips_with_its_signature() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    emu.push(vector("ok_thinking_then_text_sonnet45"));
    let first = p.complete(&json!({"messages": [{"role": "user", "content": "925 / 5?"}], "reasoning_effort": "low"})).await.unwrap();
    let thinking = &first["content"][0];
    assert_eq!(thinking["type"], "thinking");
    let signature = thinking["signature"].as_str().unwrap().to_string();
    assert!(signature.starts_with("EvQBCkYICxgC"));
    let sent = emu.requests()[0].json();
    assert_eq!(sent["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
    assert_eq!(sent.get("temperature"), None, "thinking runs at the model's default temperature, 1");

    let second = json!({"messages": [
        {"role": "user", "content": "925 / 5?"},
        {"role": "assistant", "content": first["content"]},
        {"role": "user", "content": "And times 2?"}
    ], "reasoning_effort": "low"});
    p.complete(&second).await.unwrap();
    let sent = emu.requests()[1].json();
    assert_eq!(sent["messages"][1]["content"][0], json!({"type": "thinking", "thinking": thinking["thinking"], "signature": signature}));

    emu.push(vector("ok_redacted_thinking_sonnet37"));
    let r = p.complete(&hello("capital of Australia?")).await.unwrap();
    let redacted = r["content"].as_array().unwrap().iter().find(|b| b["type"] == "redacted_thinking").unwrap().clone();
    p.complete(&json!({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": r["content"]}, {"role": "user", "content": "more"}]})).await.unwrap();
    let sent = emu.requests()[3].json();
    let sent_redacted =
        sent["messages"][1]["content"].as_array().unwrap().iter().find(|b| b["type"] == "redacted_thinking").unwrap().clone();
    assert_eq!(sent_redacted, json!({"type": "redacted_thinking", "data": redacted["data"]}));
}

#[tokio::test]
async fn a_full_tool_loop() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    emu.push(vector("ok_text_then_tool_use_haiku45"));
    let tools = json!([{"name": "json", "description": "Report weather as JSON", "parameters": {"type": "object", "properties": {"elements": {"type": "array"}}}}]);
    let first = p
        .complete(&json!({"messages": [{"role": "user", "content": "Weather in SF?"}], "tools": tools, "tool_choice": "auto"}))
        .await
        .unwrap();
    assert_eq!(first["finish_reason"], "tool_calls");
    let call = &first["tool_calls"][0];
    assert_eq!(call["name"], "json");
    assert_eq!(call["arguments"]["elements"][0]["location"], "San Francisco");
    let parsed = p.parse_tool_calls(&first).await.unwrap();
    assert_eq!(parsed[0]["id"], call["id"]);

    let second = json!({"messages": [
        {"role": "user", "content": "Weather in SF?"},
        {"role": "assistant", "content": first["content"]},
        {"role": "tool", "tool_call_id": call["id"], "name": "json", "content": "{\"ok\": true}"}
    ], "tools": tools});
    p.complete(&second).await.unwrap();
    let sent = emu.requests()[1].json();
    assert_eq!(sent["tools"][0]["input_schema"]["type"], "object");
    assert_eq!(sent["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(sent["messages"][1]["content"][1]["id"], call["id"]);
    assert_eq!(
        sent["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "{\"ok\": true}", "cache_control": {"type": "ephemeral"}}]}),
        "the tool result, with the cache point on the last user turn"
    );
}

#[tokio::test]
async fn images_and_cache_usage() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let image = json!({"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="});
    p.complete(&json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, {"type": "image", "source": image, "cache_control": {"type": "ephemeral"}}]}]}))
        .await
        .unwrap();
    let sent = emu.requests()[0].json();
    assert_eq!(sent["messages"][0]["content"][1], json!({"type": "image", "source": image, "cache_control": {"type": "ephemeral"}}));

    emu.push(vector("ok_prompt_cache_usage_sonnet45"));
    let r = p.complete(&hello("notice period?")).await.unwrap();
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 4110, "output_tokens": 17, "total_tokens": 4127, "cache_read_tokens": 4096, "cache_write_tokens": 312}),
        "input is fresh + cache reads (the contract's usage table); cache writes apart"
    );
}

#[tokio::test]
async fn debug_and_raw_events_are_delivered_and_free_of_secrets() {
    const SECRET: &str = "emulator/K7MDENG+bPxRfiCYEXAMPLEKEY0000001";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
    let emu = Emulator::start().await.unwrap();
    let seen: Arc<Mutex<Vec<HostEvent>>> = Arc::default();
    let sink = seen.clone();
    let p = against(&emu);
    p.set_event_callback(Some(Arc::new(move |e: &HostEvent| sink.lock().unwrap().push(e.clone()))));
    p.set_config("debug", "true");
    p.set_config("raw_debug", "true");
    p.set_credentials(Some(Credentials::Aws {
        access_key_id: bedrock_emulator::ACCESS_KEY_ID.into(),
        secret_access_key: SECRET.into(),
        session_token: Some(TOKEN.into()),
    }));
    let (response, record) = p.complete_recorded(&hello("Hello")).await;
    response.unwrap();
    let events = seen.lock().unwrap().clone();
    let names: Vec<&str> = events.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["llm:request", "llm:request:debug", "llm:request:raw", "llm:response:debug", "llm:response:raw", "llm:response"]);
    assert_eq!(record.events, events, "the callback saw what the record holds");
    let response = &events[5].data;
    assert_eq!((response["provider"].as_str(), response["status"].as_str()), (Some("bedrock"), Some("ok")));
    assert!(response["duration_ms"].is_u64());
    let usage = response["usage"].as_object().unwrap();
    assert!(
        usage.keys().all(|k| ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"].contains(&k.as_str())),
        "{usage:?}"
    );
    assert_eq!(events[2].data["body"]["anthropic_version"], "bedrock-2023-05-31");
    assert!(events[2].data["headers"]["authorization"].as_str().unwrap().ends_with("Signature=<redacted>"));
    assert_eq!(events[2].data["headers"]["x-amz-security-token"], "<redacted>");
    for e in &events {
        let text = e.data.to_string();
        assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{}: {text}", e.name);
    }

    // Failures are reported as llm:response with status error, and nothing secret either.
    emu.push(vector("error_access_denied_iam"));
    let (failed, record) = p.complete_recorded(&hello("x")).await;
    assert!(failed.is_err());
    let last = record.events.last().unwrap();
    assert_eq!(
        (last.name.as_str(), last.data["status"].as_str(), last.data["error_kind"].as_str()),
        ("llm:response", Some("error"), Some("auth"))
    );
}

#[tokio::test]
async fn an_answer_slower_than_the_timeout_is_a_network_error() {
    let emu = Emulator::start().await.unwrap();
    let late =
        json!({"content": [{"type": "text", "text": "late"}], "stop_reason": "end_turn", "usage": {"input_tokens": 1, "output_tokens": 1}});
    emu.push(Scripted::json(&late).after(std::time::Duration::from_secs(3)));
    let p = against(&emu);
    p.set_config("timeout", "1");
    let started = std::time::Instant::now();
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("network: no answer within 1.0 s"), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_millis(2900), "gave up at the deadline, not when the answer came");
    assert_eq!(emu.requests().len(), 1, "a read timeout is not retried: the model may still be generating");
}
