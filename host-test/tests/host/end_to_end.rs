//! Through the real component, real wasmtime, real wasi:http and the emulator over TCP.

use crate::common;

use bedrock_emulator::{self as emulator, Emulator, Scripted};
use bedrock_host::{CallError, Credentials};
use common::{against, base, hello, testdata, upstream};
use serde_json::{json, Value};

fn provider_error(r: Result<Value, CallError>) -> String {
    match r {
        Err(CallError::Provider(e)) => e.message().to_string(),
        other => panic!("expected a provider error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_completion_is_signed_sent_and_mapped() {
    let emu = Emulator::start().await.unwrap();
    let response = against(&emu).complete(&hello("Hello")).await.unwrap();

    let typed: upstream::ChatResponse = serde_json::from_value(response.clone()).expect("shaped like the kernel's ChatResponse");
    match &typed.content[..] {
        [upstream::ContentBlock::Text { text }] => assert_eq!(text, "Hello from the local Bedrock emulator! You said: Hello"),
        other => panic!("unexpected content {other:?}"),
    }
    assert_eq!(typed.finish_reason.as_deref(), Some("stop"));
    let usage = typed.usage.unwrap();
    assert_eq!(usage.total_tokens, usage.input_tokens + usage.output_tokens);
    assert_eq!(response["metadata"]["model"], "us.anthropic.claude-sonnet-4-5-20250929-v1:0");

    let requests = emu.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.auth_failure, None, "the emulator recomputed the same SigV4 signature");
    assert_eq!(r.path, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke");
    assert!(r.header("authorization").unwrap().contains("SignedHeaders=accept;content-type;host;x-amz-date,"));
    let request_id = response["metadata"]["request_id"].as_str().expect("Bedrock's request id is kept");
    assert!(request_id.len() >= 30 && request_id.contains('-'), "{request_id}");
    let body = r.json();
    assert_eq!(body["anthropic_version"], "bedrock-2023-05-31");
    assert_eq!(body["max_tokens"], 8192);
    assert!(body.get("model").is_none() && body.get("stream").is_none());
}

#[tokio::test]
async fn a_recorded_bedrock_answer_maps_faithfully() {
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::from_vector(&testdata("responses/ok_recorded_text_sonnet45_emoji.json")).unwrap());
    let response = against(&emu).complete(&hello("Hi")).await.unwrap();
    assert_eq!(response["content"], json!([{"type": "text", "text": "Hi! 👋 How are you doing today?"}]));
    assert_eq!(response["usage"], json!({"input_tokens": 10, "output_tokens": 15, "total_tokens": 25}));
    assert_eq!(response["metadata"]["message_id"], "msg_bdrk_012GBPzpcoMCLP1b2pcJsSHk");
}

#[tokio::test]
async fn a_wrong_secret_gets_bedrocks_signature_error() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_credentials(Some(Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: "wrong-secret-XYZZY".into(),
        session_token: None,
    }));
    let e = provider_error(p.complete(&hello("x")).await);
    assert!(e.starts_with("auth: InvalidSignatureException: The request signature we calculated does not match"), "{e}");
    assert!(e.contains("check both, and the system time") && e.contains("(Bedrock request id: "), "{e}");
    assert!(!e.contains("wrong-secret-XYZZY"), "the secret must never appear: {e}");
    assert_eq!(emu.requests()[0].auth_failure.as_deref(), Some("signature mismatch"));
}

#[tokio::test]
async fn an_unknown_access_key_is_an_auth_error() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_credentials(Some(Credentials::Aws { access_key_id: "AKIDNOBODY".into(), secret_access_key: "s".into(), session_token: None }));
    let e = provider_error(p.complete(&hello("x")).await);
    assert!(e.starts_with("auth: UnrecognizedClientException"), "{e}");
}

#[tokio::test]
async fn rotated_credentials_take_effect_without_reload() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_credentials(Some(Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: "stale".into(),
        session_token: None,
    }));
    assert!(p.complete(&hello("x")).await.is_err());
    p.set_credentials(Some(common::emulator_credentials()));
    p.complete(&hello("x")).await.expect("the new credentials are read on the next call");
}

#[tokio::test]
async fn session_tokens_are_signed_and_api_keys_sent_as_bearer() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_credentials(Some(Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
        session_token: Some("FwoGZXIvYXdzEXAMPLETOKEN".into()),
    }));
    p.complete(&hello("x")).await.unwrap();
    p.set_credentials(Some(Credentials::BedrockApiKey(emulator::API_KEY.into())));
    p.complete(&hello("y")).await.unwrap();
    let r = emu.requests();
    assert_eq!(r[0].header("x-amz-security-token"), Some("FwoGZXIvYXdzEXAMPLETOKEN"));
    assert!(r[0].header("authorization").unwrap().contains("SignedHeaders=accept;content-type;host;x-amz-date;x-amz-security-token,"));
    assert_eq!(r[1].header("authorization"), Some(format!("Bearer {}", emulator::API_KEY).as_str()));
    assert_eq!(r[1].header("x-amz-date"), None);
    assert!(r.iter().all(|r| r.auth_failure.is_none()));
}

#[tokio::test]
async fn bad_config_values_name_the_key_and_send_nothing() {
    let emu = Emulator::start().await.unwrap();
    for (key, value, expected) in [
        ("temperature", "hot", "config: `temperature` is \"hot\", but it must be a number from 0 to 1"),
        ("max_tokens", "0", "config: `max_tokens` is \"0\", but it must be a whole number of at least 1"),
        ("debug", "maybe", "config: `debug` is \"maybe\", but it must be true or false"),
        ("use_cross_region_inference", "perhaps", "config: `use_cross_region_inference` is \"perhaps\""),
    ] {
        let p = against(&emu);
        p.set_config(key, value);
        let e = provider_error(p.complete(&hello("x")).await);
        assert!(e.starts_with(expected), "{key}: {e}");
    }
    let p = against(&emu);
    p.remove_config("aws_region");
    let e = provider_error(p.complete(&hello("x")).await);
    assert!(e.starts_with("config: no AWS region is configured: set the `aws_region` config key"), "{e}");
    let p = against(&emu);
    p.set_credentials(None);
    p.set_config("aws_profile", "work");
    let e = provider_error(p.complete(&hello("x")).await);
    assert!(e.starts_with("auth: no AWS credentials reached the component, although `aws_profile` is \"work\""), "{e}");
    assert!(emu.requests().is_empty(), "nothing may be sent with a bad configuration");
}

#[tokio::test]
async fn malformed_requests_are_validation_errors_naming_the_field() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let e = provider_error(p.complete(&json!({"messages": [{"role": "robot", "content": "x"}]})).await);
    assert!(e.starts_with("validation: request field `messages[0].role`: unknown variant `robot`"), "{e}");
    let e = provider_error(p.complete(&json!({"model": "x"})).await);
    assert!(e.starts_with("validation:") && e.contains("messages"), "{e}");
    let e = provider_error(p.complete(&json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_call", "id": "c1", "name": "ls", "input": {}}]}, {"role": "user", "content": "well?"}]})).await);
    assert!(e.starts_with("validation: messages[1] calls tool `ls` with id `c1`, but no tool_result answers it"), "{e}");
    assert!(emu.requests().is_empty());
}

#[tokio::test]
async fn info_and_models_have_the_kernels_shapes() {
    let info: upstream::ProviderInfo = serde_json::from_value(base().get_info().await.unwrap()).unwrap();
    assert_eq!(info.id, "bedrock");
    let keys: Vec<&str> = info.config_fields.iter().map(|f| f.id.as_str()).collect();
    for seed in
        ["aws_profile", "aws_region", "default_model", "use_cross_region_inference", "max_tokens", "temperature", "debug", "raw_debug"]
    {
        assert!(keys.contains(&seed), "config field {seed}");
    }
    for f in &info.config_fields {
        assert!(["text", "secret", "choice", "boolean"].contains(&f.field_type.as_str()), "{}", f.field_type);
    }
    assert_eq!(info.defaults["model"], "anthropic.claude-sonnet-4-5-20250929-v1:0");
    assert_eq!(info.defaults["max_tokens"], 8192);

    let models: Vec<upstream::ModelInfo> = serde_json::from_value(base().list_models().await.unwrap()).unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    for seed in
        ["anthropic.claude-sonnet-4-5-20250929-v1:0", "anthropic.claude-opus-4-1-20250805-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"]
    {
        assert!(ids.contains(&seed), "{seed}");
    }
    assert!(models.iter().all(|m| m.context_window >= 200_000 && m.max_output_tokens >= 8_192));
    // Every Claude 4.x model writes at least 32k tokens; Claude 3.5 Haiku (no thinking) 8k.
    assert!(models.iter().filter(|m| m.capabilities.iter().any(|c| c == "thinking")).all(|m| m.max_output_tokens >= 32_000));
}

#[tokio::test]
async fn parse_tool_calls_and_stream_work_through_the_component() {
    let calls = base()
        .parse_tool_calls(&json!({"content": [{"type": "text", "text": "ok"}, {"type": "tool_call", "id": "t1", "name": "read", "input": {"path": "/a"}}]}))
        .await
        .unwrap();
    let calls: Vec<upstream::ToolCall> = serde_json::from_value(calls).unwrap();
    assert_eq!((calls[0].id.as_str(), calls[0].name.as_str()), ("t1", "read"));
    assert_eq!(calls[0].arguments["path"], "/a");
    // What it cannot read is a `validation:` error, typed as one.
    for unreadable in [json!("not a response"), json!({"tool_calls": "x"}), json!({"tool_calls": [{"id": 1}]})] {
        match base().parse_tool_calls(&unreadable).await {
            Err(CallError::Provider(e)) => {
                assert_eq!(e.kind(), bedrock_host::ErrorKind::Validation, "{unreadable}");
                assert!(e.message().starts_with("validation: response"), "{unreadable}: {}", e.message());
            }
            other => panic!("{unreadable}: expected a validation error, got {other:?}"),
        }
    }

    let emu = Emulator::start().await.unwrap();
    let mut events = Vec::new();
    against(&emu).stream(&hello("stream me"), |e| events.push(e)).await.unwrap();
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, ["block_start", "delta", "block_stop", "usage", "done"]);
    assert_eq!(events[1]["text"], "Hello from the local Bedrock emulator! You said: stream me");
    assert_eq!(events[4]["finish_reason"], "stop");
}

#[tokio::test]
async fn secrets_never_appear_in_errors_output_or_stderr() {
    const SECRET: &str = "sEcReT/zzzzSECRETzzzz+KEY";
    const TOKEN: &str = "SeSsIoNtOkEnVaLuE0123456789";
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_credentials(Some(Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: SECRET.into(),
        session_token: Some(TOKEN.into()),
    }));
    let (failed, record) = p.complete_recorded(&hello("x")).await;
    let e = format!("{:?} {}", failed, failed.as_ref().err().map(|e| e.to_string()).unwrap_or_default());
    p.set_credentials(Some(Credentials::BedrockApiKey(emulator::API_KEY.into())));
    let (ok, record2) = p.complete_recorded(&hello("y")).await;
    let ok = ok.unwrap().to_string();
    for text in [e.as_str(), record.stderr.as_str(), ok.as_str(), record2.stderr.as_str()] {
        for secret in [SECRET, TOKEN, emulator::API_KEY] {
            assert!(!text.contains(secret), "secret leaked into: {text}");
        }
    }
    assert!(!format!("{:?}", Credentials::BedrockApiKey(emulator::API_KEY.into())).contains(emulator::API_KEY));
}

/// Our host runs the portable build too: it gives each call its config also as `BEDROCK_<KEY>`
/// environment variables, which is where that build reads it.
#[tokio::test]
async fn the_portable_component_runs_in_our_host() {
    let emu = Emulator::start().await.unwrap();
    let p = bedrock_host::Provider::builder()
        .wasm(bedrock_host::BUILT_PORTABLE_COMPONENT_PATH)
        .cache_dir(Some(std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")))
        .config("endpoint_url", emu.endpoint_url())
        .config("aws_region", "us-east-1")
        .config("max_tokens", "321")
        .credentials(common::emulator_credentials())
        .build()
        .unwrap();
    let imports = p.imports();
    assert!(!imports.iter().any(|i| i.starts_with("wasi:config")), "{imports:?}");
    let response = p.complete(&hello("portable")).await.unwrap();
    assert_eq!(response["content"][0]["text"], "Hello from the local Bedrock emulator! You said: portable");
    assert_eq!(emu.requests()[0].json()["max_tokens"], 321);
}
