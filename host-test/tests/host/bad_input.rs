//! Bad input, table by table: each gets a clear error that names the field (never a trap, a
//! panic or a hang), nothing is sent to Bedrock, and the caller's request is left as it was.

use crate::common;

use std::time::Duration;

use bedrock_emulator::{Emulator, Scripted};
use bedrock_host::grpc::proto::provider_service_client::ProviderServiceClient;
use bedrock_host::grpc::proto::{self, message::Content};
use bedrock_host::grpc::{serve, BedrockService, CredentialMode, ServeOptions, MAX_MESSAGE_BYTES};
use bedrock_host::CallError;
use common::against;
use serde_json::{json, Value};

/// (what, request, the error's prefix, words it must contain)
fn requests() -> Vec<(&'static str, Value, &'static str, Vec<&'static str>)> {
    vec![
        ("messages is a string", json!({"messages": "hi"}), "validation:", vec!["messages"]),
        ("no messages at all", json!({"model": "x"}), "validation:", vec!["messages"]),
        ("an unknown role", json!({"messages": [{"role": "robot", "content": "hi"}]}), "validation:", vec!["messages[0]", "robot"]),
        ("content is a number", json!({"messages": [{"role": "user", "content": 42}]}), "validation:", vec!["messages[0]", "content"]),
        ("an empty conversation", json!({"messages": []}), "validation:", vec!["messages"]),
        ("empty text", json!({"messages": [{"role": "user", "content": ""}]}), "validation:", vec!["messages[0]"]),
        (
            "a block without a type",
            json!({"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
            "validation:",
            vec!["messages[0]"],
        ),
        (
            "temperature is a string",
            json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}),
            "validation:",
            vec!["temperature"],
        ),
        (
            "max_output_tokens is negative",
            json!({"messages": [{"role": "user", "content": "hi"}], "max_output_tokens": -5}),
            "validation:",
            vec!["max_output_tokens"],
        ),
        (
            "a tool call with no result",
            json!({"messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [{"type": "tool_call", "id": "toolu_1", "name": "w", "input": {}}]},
                {"role": "user", "content": "well?"}
            ]}),
            "validation:",
            vec!["toolu_1"],
        ),
        (
            "a tool call with an empty name",
            json!({"messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [{"type": "tool_call", "id": "toolu_1", "name": "", "input": {}}]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny"}
            ]}),
            "validation:",
            vec!["toolu_1", "name"],
        ),
        (
            "tools is an object",
            json!({"messages": [{"role": "user", "content": "hi"}], "tools": {"name": "w"}}),
            "validation:",
            vec!["tools"],
        ),
    ]
}

#[tokio::test]
async fn malformed_requests_are_named_and_never_sent() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let mut failures = Vec::new();
    for (what, request, prefix, words) in requests() {
        let before = request.clone();
        let outcome = tokio::time::timeout(Duration::from_secs(30), p.complete(&request)).await.expect("no hang");
        assert_eq!(request, before, "{what}: the caller's request is untouched");
        match outcome {
            Err(CallError::Provider(e)) if e.message().starts_with(prefix) && words.iter().all(|w| e.message().contains(w)) => {}
            other => failures.push(format!("{what}: expected {prefix} naming {words:?}, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(emu.requests().len(), 0, "nothing was sent");
}

#[tokio::test]
async fn malformed_json_bytes_get_a_validation_error() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    for (what, bytes) in [
        ("not JSON", b"{\"messages\": [".as_slice()),
        ("invalid UTF-8", b"{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe\"}]}".as_slice()),
        ("a JSON array", b"[1, 2]".as_slice()),
        ("empty", b"".as_slice()),
    ] {
        let e = p.complete_json(bytes).await.unwrap_err().to_string();
        assert!(e.starts_with("validation:") && e.contains("request"), "{what}: {e}");
    }
    assert_eq!(emu.requests().len(), 0);
}

#[tokio::test]
async fn invalid_config_values_name_the_key() {
    let emu = Emulator::start().await.unwrap();
    for (key, value) in [
        ("temperature", "hot"),
        ("max_tokens", "-1"),
        ("max_retries", "lots"),
        ("use_cross_region_inference", "perhaps"),
        ("timeout", "0"),
        ("endpoint_url", "ftp://example.com"),
        ("enable_prompt_caching", "sometimes"),
        ("prompt_cache_ttl", "2h"),
        ("guardrail_trace", "verbose"),
        ("guardrail_identifier", "gr-1"),
        ("guardrail_version", "1"),
        ("max_continuations", "-1"),
        ("max_continuations", "99"),
        ("enable_long_context", "maybe"),
        ("stream_events", "loud"),
    ] {
        let p = against(&emu);
        p.set_config(key, value);
        let e = p.complete(&common::hello("x")).await.unwrap_err().to_string();
        assert!(e.starts_with("config:") && e.contains(key), "{key}={value}: {e}");
    }
    assert_eq!(emu.requests().len(), 0);
}

#[tokio::test]
async fn invalid_utf8_from_the_network_is_a_clear_error() {
    let emu = Emulator::start().await.unwrap();
    let mut body = br#"{"id":"m","type":"message","role":"assistant","content":[{"type":"text","text":""#.to_vec();
    body.extend([0xff, 0xfe, 0x80]);
    body.extend(br#""}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}"#);
    emu.push(Scripted::new(200, vec![("content-type".into(), "application/json".into())], body));
    let p = against(&emu);
    p.set_config("max_retries", "0");
    let e = p.complete(&common::hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("bedrock:"), "{e}");
}

#[tokio::test]
async fn an_oversized_grpc_message_is_refused_clearly() {
    let emu = Emulator::start().await.unwrap();
    let service = BedrockService::new(against(&emu), CredentialMode::Fixed, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(service, listener, ServeOptions::default(), std::future::pending()));
    let mut client = ProviderServiceClient::new(tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap())
        .max_encoding_message_size(usize::MAX);
    let huge = proto::ChatRequest {
        messages: vec![proto::Message {
            role: proto::Role::User as i32,
            content: Some(Content::TextContent("x".repeat(MAX_MESSAGE_BYTES + 1))),
            ..Default::default()
        }],
        ..Default::default()
    };
    let e = client.complete(huge).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    assert!(e.message().contains("too large"), "{}", e.message());
    assert_eq!(emu.requests().len(), 0);
}

#[tokio::test]
async fn a_huge_message_fails_clearly_without_touching_the_host() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    // The call's memory cap grows with the request (Limits::memory_cap), so even twice what
    // Bedrock takes reaches the component, which names the limit and the field to shrink.
    let huge = common::hello(&"x".repeat(40 << 20));
    let e = tokio::time::timeout(Duration::from_secs(60), p.complete(&huge)).await.expect("no hang").unwrap_err().to_string();
    assert!(e.starts_with("validation: the request is too large for Bedrock"), "{e}");
    assert!(e.contains("at most 20 MB (20000000 bytes)") && e.contains("`messages[0].content`"), "{e}");
    assert_eq!(emu.requests().len(), 0);
    // Past the host-wide bound the sandbox takes the blow, with an error saying so; the next
    // call is fine.
    p.set_limits(bedrock_host::Limits::default().with_memory_max_bytes(64 << 20));
    let e = p.complete(&huge).await.unwrap_err().to_string();
    assert!(
        e.starts_with(
            "host: the call needed more memory than its cap of 64 MiB (Limits::memory_bytes): raise the cap (bedrock-host: --memory-cap MIB) or send a smaller request"
        ),
        "{e}"
    );
    assert_eq!(emu.requests().len(), 0);
    p.complete(&common::hello("small")).await.unwrap();
}
