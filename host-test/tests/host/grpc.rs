//! `bedrock-host serve`'s gRPC services, driven by a tonic client over real sockets: every RPC,
//! streaming that is incremental, bad requests, the token check, concurrency, error statuses,
//! and the `serve` command itself (READY handshake, graceful stop).

use crate::common;

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bedrock_emulator::{self as emulator, chunk_frame, Emulator, Scripted};
use bedrock_host::grpc::convert::{chat_response_to_json, chat_response_to_proto};
use bedrock_host::grpc::proto::module_lifecycle_client::ModuleLifecycleClient;
use bedrock_host::grpc::proto::provider_service_client::ProviderServiceClient;
use bedrock_host::grpc::proto::{self, content_block::Block, message::Content};
use bedrock_host::grpc::service::{EVENTS_METADATA_KEY, EVENTS_REQUEST_KEY, EVENTS_TRUNCATED, MAX_EVENTS_BYTES};
use bedrock_host::grpc::{serve, BedrockService, CredentialMode, ServeOptions};
use common::{against, testdata};
use serde_json::{json, Value};
use tonic::transport::Channel;
use tonic::Code;

/// A server for `emu` on a free loopback port; stops when the returned sender is dropped.
async fn server(emu: &Emulator, token: Option<&str>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let service = BedrockService::new(against(emu), CredentialMode::Fixed, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut options = ServeOptions::default();
    options.token = token.map(str::to_string);
    tokio::spawn(async move {
        serve(service, listener, options, async {
            let _ = stopped.await;
        })
        .await
        .unwrap()
    });
    (url, stop)
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_string()).unwrap().connect().await.unwrap()
}

fn user(text: &str) -> proto::Message {
    proto::Message { role: proto::Role::User as i32, content: Some(Content::TextContent(text.into())), ..Default::default() }
}

fn ask(text: &str) -> proto::ChatRequest {
    proto::ChatRequest { messages: vec![user(text)], ..Default::default() }
}

fn text_of(r: &proto::ChatResponse) -> String {
    r.content_blocks
        .iter()
        .filter_map(|b| match &b.block {
            Some(Block::TextBlock(t)) => Some(t.text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_rpc_answers() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut provider = ProviderServiceClient::new(channel(&url).await);
    let mut lifecycle = ModuleLifecycleClient::new(channel(&url).await);

    let info = provider.get_info(proto::Empty {}).await.unwrap().into_inner();
    assert_eq!(info.id, "bedrock");
    assert!(info.config_fields.iter().any(|f| f.id == "aws_secret_access_key" && f.field_type == proto::ConfigFieldType::Secret as i32));
    let defaults: Value = serde_json::from_str(&info.defaults_json).unwrap();
    assert_eq!(defaults["model"], "anthropic.claude-sonnet-4-5-20250929-v1:0");

    let models = provider.list_models(proto::Empty {}).await.unwrap().into_inner().models;
    assert!(models.iter().any(|m| m.id == "anthropic.claude-sonnet-4-5-20250929-v1:0" && m.context_window > 0), "{models:?}");

    let mounted = lifecycle
        .mount(proto::MountRequest { config: [("max_tokens".to_string(), "321".to_string())].into(), module_id: "bedrock".into() })
        .await
        .unwrap()
        .into_inner();
    assert!(mounted.success, "{mounted:?}");
    let answer = provider.complete(ask("Hello")).await.unwrap().into_inner();
    assert_eq!(text_of(&answer), "Hello from the local Bedrock emulator! You said: Hello");
    assert_eq!(answer.finish_reason, "stop");
    assert!(answer.usage.as_ref().unwrap().total_tokens > 0);
    assert_eq!(serde_json::from_str::<Value>(&answer.content).unwrap()[0]["text"], text_of(&answer), "the deprecated field too");
    assert_eq!(emu.requests().last().unwrap().json()["max_tokens"], 321, "the mount's config reached the component");

    let calls = provider
        .parse_tool_calls(proto::ChatResponse {
            content_blocks: vec![proto::ContentBlock {
                block: Some(Block::ToolCallBlock(proto::ToolCallBlock {
                    id: "t1".into(),
                    name: "get_weather".into(),
                    input_json: r#"{"city":"Oslo"}"#.into(),
                })),
                visibility: 0,
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .tool_calls;
    assert_eq!(calls.len(), 1);
    assert_eq!((calls[0].id.as_str(), calls[0].name.as_str()), ("t1", "get_weather"));
    assert_eq!(serde_json::from_str::<Value>(&calls[0].arguments_json).unwrap(), json!({"city": "Oslo"}));

    let health = lifecycle.health_check(proto::Empty {}).await.unwrap().into_inner();
    assert_eq!(health.status, proto::HealthStatus::Serving as i32);
    let module = lifecycle.get_module_info(proto::Empty {}).await.unwrap().into_inner();
    assert_eq!((module.id.as_str(), module.module_type), ("bedrock", proto::ModuleType::Provider as i32));
    let schema: Value = serde_json::from_str(&module.config_schema_json).unwrap();
    assert!(schema["default_model"].is_object());

    lifecycle.cleanup(proto::Empty {}).await.unwrap();
    provider.complete(ask("again")).await.unwrap();
    assert_eq!(emu.requests().last().unwrap().json()["max_tokens"], 8192, "cleanup restored the base configuration");
}

#[tokio::test]
async fn a_bad_mount_is_refused_and_the_previous_one_stays() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut lifecycle = ModuleLifecycleClient::new(channel(&url).await);
    let mut provider = ProviderServiceClient::new(channel(&url).await);
    let good = proto::MountRequest { config: [("max_tokens".to_string(), "500".to_string())].into(), ..Default::default() };
    assert!(lifecycle.mount(good).await.unwrap().into_inner().success);
    provider.complete(ask("fine")).await.unwrap();
    let before = emu.requests().last().unwrap().json();
    let bad = proto::MountRequest { config: [("temperature".to_string(), "hot".to_string())].into(), ..Default::default() };
    let refused = lifecycle.mount(bad).await.unwrap().into_inner();
    assert!(!refused.success);
    assert!(refused.error.starts_with("config: `temperature` is \"hot\""), "{}", refused.error);
    provider.complete(ask("fine")).await.unwrap();
    let after = emu.requests().last().unwrap().json();
    assert_eq!(after["max_tokens"], 500, "the previous mount still serves");
    assert_eq!(after, before, "the refused mount changed nothing");
}

#[tokio::test]
async fn responses_survive_the_wire_unchanged() {
    // Every scripted Bedrock answer with thinking, signatures, redacted thinking, tool use and
    // cache usage: the gRPC answer, read back as JSON, is what the component returned.
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut client = ProviderServiceClient::new(channel(&url).await);
    let direct = against(&emu);
    for name in [
        "ok_thinking_then_text_sonnet45",
        "ok_redacted_thinking_sonnet37",
        "ok_text_then_tool_use_haiku45",
        "ok_tool_use_split_json_sonnet45",
        "ok_prompt_cache_usage_sonnet45",
        "ok_max_tokens_sonnet45",
    ] {
        let vector = testdata(&format!("responses/{name}.json"));
        emu.push(Scripted::from_vector(&vector).unwrap());
        let expected = direct.complete(&json!({"messages": [{"role": "user", "content": "x"}]})).await.unwrap();
        emu.push(Scripted::from_vector(&vector).unwrap());
        let wire = client.complete(ask("x")).await.unwrap().into_inner();
        assert_eq!(chat_response_to_json(&wire).unwrap(), expected, "{name}");
        assert_eq!(wire, chat_response_to_proto(&expected).unwrap(), "{name}");
    }
}

#[tokio::test]
async fn streaming_is_incremental_and_ends_with_the_totals() {
    let message = json!({"id": "m", "type": "message", "role": "assistant", "model": "claude", "content": [{"type": "text", "text": "early bird gets the worm"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 5}});
    let events = emulator::stream_events(&message);
    let head: usize = events[..3].iter().map(|e| chunk_frame(e).len()).sum();
    let total = Scripted::event_stream(&events).body.len() as u64;
    let gate = Arc::new(tokio::sync::Notify::new());
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::event_stream(&events).hold_after(head, gate.clone()));
    let (url, _stop) = server(&emu, None).await;
    let mut client = ProviderServiceClient::new(channel(&url).await);
    let mut stream = client.complete_streaming(ask("x")).await.unwrap().into_inner();
    let sent_at_first_text = AtomicU64::new(u64::MAX);
    let mut messages = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        if !text_of(&m).is_empty() && sent_at_first_text.load(Ordering::SeqCst) == u64::MAX {
            sent_at_first_text.store(emu.body_bytes_sent(), Ordering::SeqCst);
            // Only now may the emulator send the rest.
            gate.notify_one();
        }
        messages.push(m);
    }
    let at_first = sent_at_first_text.load(Ordering::SeqCst);
    assert!(at_first < total, "the first text arrived after {at_first} of {total} bytes: not incremental");
    let text: String = messages.iter().map(text_of).collect();
    assert_eq!(text, "early bird gets the worm");
    let last = messages.last().unwrap();
    assert_eq!(last.finish_reason, "stop");
    assert_eq!(last.usage.as_ref().unwrap().completion_tokens, 5);
    let event: Value = serde_json::from_str(&last.metadata_json).unwrap();
    assert_eq!(event["stream_event"]["type"], "done");
    assert!(
        messages.iter().all(|m| serde_json::from_str::<Value>(&m.metadata_json).unwrap()["stream_event"].is_object()),
        "one message per event"
    );
}

#[tokio::test]
async fn bad_requests_and_provider_errors_become_statuses_with_the_prefixed_message() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut client = ProviderServiceClient::new(channel(&url).await);

    let mut bad = ask("x");
    bad.messages[0].metadata_json = "{oops".into();
    let e = client.complete(bad.clone()).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("validation: ChatRequest.messages[0].metadata_json is not valid JSON"), "{}", e.message());
    let e = client.complete_streaming(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);

    let orphan = proto::ChatRequest {
        messages: vec![
            user("weather?"),
            proto::Message {
                role: proto::Role::Assistant as i32,
                content: Some(Content::BlockContent(proto::ContentBlockList {
                    blocks: vec![proto::ContentBlock {
                        block: Some(Block::ToolCallBlock(proto::ToolCallBlock {
                            id: "toolu_9".into(),
                            name: "w".into(),
                            input_json: "{}".into(),
                        })),
                        visibility: 0,
                    }],
                })),
                ..Default::default()
            },
            user("and?"),
        ],
        ..Default::default()
    };
    let e = client.complete(orphan).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("validation:") && e.message().contains("toolu_9"), "{}", e.message());

    let before = emu.requests().len();
    emu.push(Scripted::from_vector(&testdata("responses/error_throttling_requests.json")).unwrap());
    let mut lifecycle = ModuleLifecycleClient::new(channel(&url).await);
    assert!(
        lifecycle
            .mount(proto::MountRequest { config: [("max_retries".to_string(), "0".to_string())].into(), ..Default::default() })
            .await
            .unwrap()
            .into_inner()
            .success
    );
    let e = client.complete(ask("x")).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());
    assert!(e.message().starts_with("throttled:"), "{}", e.message());
    emu.push(Scripted::from_vector(&testdata("responses/error_access_denied_iam.json")).unwrap());
    let e = client.complete(ask("x")).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    assert_eq!(emu.requests().len(), before + 2, "the bad requests were never sent");
}

#[tokio::test]
async fn a_token_server_refuses_calls_without_the_token() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, Some("s3cret-token")).await;
    let e = ProviderServiceClient::new(channel(&url).await).get_info(proto::Empty {}).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let with = |token: &'static str| {
        move |mut request: tonic::Request<()>| {
            request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
            Ok(request)
        }
    };
    let wrong = ProviderServiceClient::with_interceptor(channel(&url).await, with("guess")).complete(ask("x")).await.unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(!wrong.message().contains("s3cret-token"));
    let e = ModuleLifecycleClient::new(channel(&url).await).mount(proto::MountRequest::default()).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "the lifecycle service is guarded too");
    let ok = ProviderServiceClient::with_interceptor(channel(&url).await, with("s3cret-token")).complete(ask("x")).await.unwrap();
    assert!(text_of(ok.get_ref()).ends_with("You said: x"));
    assert_eq!(emu.requests().len(), 1, "only the authorised call reached Bedrock");
}

#[tokio::test]
async fn a_non_loopback_listener_needs_a_token() {
    let emu = Emulator::start().await.unwrap();
    let service = BedrockService::new(against(&emu), CredentialMode::Fixed, false);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let e = serve(service, listener, ServeOptions::default(), std::future::ready(())).await.unwrap_err();
    assert!(e.to_string().contains("needs --token-file"), "{e}");
}

#[tokio::test]
async fn concurrent_calls_get_their_own_answers() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let channel = channel(&url).await;
    let calls = (0..16).map(|i| {
        let mut client = ProviderServiceClient::new(channel.clone());
        tokio::spawn(async move {
            let prompt = format!("prompt number {i}");
            let answer = client.complete(ask(&prompt)).await.unwrap().into_inner();
            (prompt, text_of(&answer))
        })
    });
    for call in calls {
        let (prompt, answer) = call.await.unwrap();
        assert_eq!(answer, format!("Hello from the local Bedrock emulator! You said: {prompt}"));
    }
}

#[tokio::test]
async fn credentials_from_a_mount_sign_the_calls_and_never_show() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut lifecycle = ModuleLifecycleClient::new(channel(&url).await);
    let mut client = ProviderServiceClient::new(channel(&url).await);
    let canary = "CANARYsecretKEY/0000000000000000000000000";
    let mount = |secret: &str| proto::MountRequest {
        config: [
            ("aws_access_key_id".to_string(), emulator::ACCESS_KEY_ID.to_string()),
            ("aws_secret_access_key".to_string(), secret.to_string()),
            ("max_retries".to_string(), "0".to_string()),
        ]
        .into(),
        ..Default::default()
    };
    assert!(lifecycle.mount(mount(canary)).await.unwrap().into_inner().success);
    let e = client.complete(ask("x")).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "the emulator refuses the wrong secret: {}", e.message());
    assert!(e.message().starts_with("auth:") && !e.message().contains(canary), "{}", e.message());
    assert!(lifecycle.mount(mount(emulator::SECRET_ACCESS_KEY)).await.unwrap().into_inner().success);
    client.complete(ask("x")).await.unwrap();
}

/// The `serve` command: `READY:<port>` first, calls logged, SIGTERM lets a call in flight finish.
#[tokio::test]
async fn the_serve_command_hands_shakes_and_stops_gracefully() {
    let emu = Emulator::start().await.unwrap();
    let mut slow = Scripted::from_vector(&testdata("responses/ok_recorded_text_sonnet45_emoji.json")).unwrap();
    slow.delay = Duration::from_millis(1500);
    emu.push(slow);
    let mut child = common::isolated_bedrock_host()
        .args(["serve", "--region", "us-east-1", "-c", "max_retries=0"])
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port, mut stdout) = common::serve_port(&mut child);
    let mut client = ProviderServiceClient::new(channel(&format!("http://127.0.0.1:{port}")).await);
    let in_flight = tokio::spawn(async move { client.complete(ask("slow one")).await });
    while emu.requests().is_empty() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let answer = in_flight.await.unwrap().expect("the call in flight finished after SIGTERM").into_inner();
    assert!(!text_of(&answer).is_empty());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(rest, "", "nothing but the READY line on stdout");
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
    assert!(log.lines().any(|l| l.starts_with("bedrock-host serve: Complete OK ")), "{log}");
    assert!(!log.contains(emulator::SECRET_ACCESS_KEY), "{log}");
}

#[test]
fn serve_refuses_a_public_address_without_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-host")).args(["serve", "--emulator", "--bind", "0.0.0.0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("needs --token-file"), "{err}");
    assert!(out.stdout.is_empty(), "no READY line for a server that did not start");
}

/// A tool turn as upstream's proto converter shapes it (ROLE_TOOL, `tool_call_id`, and the
/// answer as a tool_result block) is one answer to the call, sent to Bedrock as one tool_result.
#[tokio::test]
async fn a_tool_message_carrying_its_result_block_is_one_answer() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut client = ProviderServiceClient::new(channel(&url).await);
    let block = |b: Block| proto::ContentBlockList { blocks: vec![proto::ContentBlock { block: Some(b), visibility: 0 }] };
    let request = proto::ChatRequest {
        messages: vec![
            user("weather in Oslo?"),
            proto::Message {
                role: proto::Role::Assistant as i32,
                content: Some(Content::BlockContent(block(Block::ToolCallBlock(proto::ToolCallBlock {
                    id: "toolu_7".into(),
                    name: "get_weather".into(),
                    input_json: r#"{"city":"Oslo"}"#.into(),
                })))),
                ..Default::default()
            },
            proto::Message {
                role: proto::Role::Tool as i32,
                tool_call_id: "toolu_7".into(),
                content: Some(Content::BlockContent(block(Block::ToolResultBlock(proto::ToolResultBlock {
                    tool_call_id: "toolu_7".into(),
                    output_json: r#""4 °C, rain""#.into(),
                })))),
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    client.complete(request).await.expect("one answer, not a duplicate");
    let sent = emu.requests().last().unwrap().json();
    let results: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["content"].as_array().into_iter().flatten())
        .filter(|b| b["type"] == "tool_result")
        .collect();
    assert_eq!(results.len(), 1, "{sent}");
    assert_eq!(results[0]["tool_use_id"], "toolu_7");
    assert_eq!(results[0]["content"], "4 °C, rain", "{sent}");
}

/// A `Complete` request that asks for its call's hook events, up to `budget` bytes of them.
fn asking_for_events(request: proto::ChatRequest, budget: usize) -> tonic::Request<proto::ChatRequest> {
    let mut request = tonic::Request::new(request);
    request.metadata_mut().insert(EVENTS_REQUEST_KEY, budget.to_string().parse().unwrap());
    request
}

/// The events in a response's or status's metadata, as `(name, data)`, and their raw bytes.
fn events_in(metadata: &tonic::metadata::MetadataMap) -> (Vec<(String, Value)>, Vec<u8>) {
    let Some(value) = metadata.get_bin(EVENTS_METADATA_KEY) else { return (vec![], vec![]) };
    let bytes = value.to_bytes().unwrap().to_vec();
    let list: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
    let events = list
        .into_iter()
        .map(|e| {
            assert_eq!(e.as_object().unwrap().len(), 2, "only name and data: {e}");
            (e["name"].as_str().unwrap().to_string(), e["data"].clone())
        })
        .collect();
    (events, bytes)
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}

fn throttling() -> Scripted {
    Scripted::new(
        429,
        vec![("x-amzn-ErrorType".into(), "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/".into())],
        br#"{"message":"Too many requests, please wait before trying again."}"#.to_vec(),
    )
}

/// The proto has no event channel: a caller that asks gets the call's hook events in the
/// response's metadata (the status's, when the call fails), all but `llm:request`/`llm:response`,
/// in order, one request id, bounded, and as scrubbed as the component made them.
#[tokio::test]
async fn complete_returns_the_calls_events_in_metadata_when_asked() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    // A client's default limit for response metadata is 16 KiB; one that asks raises it.
    let channel = Channel::from_shared(url.clone()).unwrap().http2_max_header_list_size(1 << 20).connect().await.unwrap();
    let mut client = ProviderServiceClient::new(channel.clone());
    let mut lifecycle = ModuleLifecycleClient::new(channel);

    // A throttled first attempt, then the answer: the events of both attempts.
    emu.push(throttling());
    let answer = client.complete(asking_for_events(ask("hi"), MAX_EVENTS_BYTES)).await.unwrap();
    assert!(text_of(answer.get_ref()).ends_with("You said: hi"));
    let (events, _) = events_in(answer.metadata());
    assert_eq!(names(&events), ["provider:throttle", "provider:retry"]);
    let (throttle, retry) = (&events[0].1, &events[1].1);
    assert_eq!(
        (throttle["attempt"].as_u64(), throttle["error_message"].as_str().map(|m| m.starts_with("throttled:"))),
        (Some(1), Some(true))
    );
    assert_eq!((retry["attempt"].as_u64(), retry["reason"].as_str(), retry["max_retries"].as_u64()), (Some(2), Some("throttled"), Some(3)));
    let id = throttle["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "the call's UUID: {id}");
    assert!(events.iter().all(|(_, d)| d["request_id"] == id && d["provider"] == "bedrock" && d["model"].is_string()), "{events:?}");

    // Opt-in: a caller that did not ask gets no events (they could exceed its metadata limit).
    emu.push(throttling());
    let answer = client.complete(ask("quiet")).await.unwrap();
    assert!(answer.metadata().get_bin(EVENTS_METADATA_KEY).is_none());
    let zero = client.complete(asking_for_events(ask("none"), 0)).await.unwrap();
    assert!(zero.metadata().get_bin(EVENTS_METADATA_KEY).is_none(), "0 asks for none");
    let mut bad = asking_for_events(ask("x"), 1);
    bad.metadata_mut().insert(EVENTS_REQUEST_KEY, "plenty".parse().unwrap());
    let e = client.complete(bad).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains(EVENTS_REQUEST_KEY), "{}", e.message());

    // A call that fails after retrying: its events travel with the status.
    let mount = |pairs: &[(&str, &str)]| proto::MountRequest {
        config: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        ..Default::default()
    };
    assert!(lifecycle.mount(mount(&[("max_retries", "1")])).await.unwrap().into_inner().success);
    emu.push(throttling());
    emu.push(throttling());
    let e = client.complete(asking_for_events(ask("x"), MAX_EVENTS_BYTES)).await.unwrap_err();
    assert_eq!(e.code(), Code::ResourceExhausted, "{}", e.message());
    let (events, _) = events_in(e.metadata());
    assert_eq!(names(&events), ["provider:throttle", "provider:retry", "provider:throttle"]);
    assert_eq!(events[2].1["delay"], Value::Null, "no attempt left");

    // Over the budget: a streamed answer's delta goes first, the block events and a marker stay.
    let long = proto::ChatRequest { stream: true, max_output_tokens: 4000, ..ask("Count from 1 to 1500") };
    let answer = client.complete(asking_for_events(long.clone(), MAX_EVENTS_BYTES)).await.unwrap();
    let (events, _) = events_in(answer.metadata());
    assert_eq!(names(&events), ["llm:stream_block_start", "llm:stream_block_delta", "llm:stream_block_end"]);
    assert_eq!(events[1].1["text"].as_str(), Some(text_of(answer.get_ref()).as_str()));
    let answer = client.complete(asking_for_events(long, 1024)).await.unwrap();
    let (events, bytes) = events_in(answer.metadata());
    assert_eq!(names(&events), ["llm:stream_block_start", "llm:stream_block_end", EVENTS_TRUNCATED]);
    let marker = &events[2].1;
    assert_eq!((marker["dropped"].as_u64(), marker["limit_bytes"].as_u64()), (Some(1), Some(1024)));
    assert_eq!(marker["dropped_events"], json!({"llm:stream_block_delta": 1}));
    assert_eq!(marker["request_id"], events[0].1["request_id"]);
    assert!(bytes.len() < 1024 + 512, "{} bytes", bytes.len());

    // Debug and raw events of a call with a wrong secret: present, and without the secret.
    let canary = "CANARYsecretKEY/1111111111111111111111111";
    let config = [
        ("aws_access_key_id", emulator::ACCESS_KEY_ID),
        ("aws_secret_access_key", canary),
        ("max_retries", "0"),
        ("debug", "true"),
        ("raw_debug", "true"),
    ];
    assert!(lifecycle.mount(mount(&config)).await.unwrap().into_inner().success);
    let e = client.complete(asking_for_events(ask("leak?"), MAX_EVENTS_BYTES)).await.unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{}", e.message());
    let (events, bytes) = events_in(e.metadata());
    for name in ["llm:request:debug", "llm:request:raw", "llm:response:raw"] {
        assert!(names(&events).contains(&name), "{name} in {:?}", names(&events));
    }
    assert!(!names(&events).iter().any(|n| *n == "llm:request" || *n == "llm:response"), "the caller emits those itself");
    assert!(!String::from_utf8_lossy(&bytes).contains(canary), "the component scrubbed its events");
}

const SONNET_5: &str = "anthropic.claude-sonnet-5";

/// The last request went to the Messages API for Sonnet 5 (signed, not refused); its body.
fn last_went_to_the_messages_api(emu: &Emulator) -> Value {
    let sent = emu.requests().pop().expect("a request reached the emulator");
    assert_eq!(
        (sent.path.as_str(), sent.operation.as_deref(), sent.model_id.as_deref()),
        ("/anthropic/v1/messages", Some("messages"), Some(SONNET_5))
    );
    assert_eq!(sent.auth_failure, None);
    let body = sent.json();
    assert_eq!(body["model"], SONNET_5, "{body}");
    body
}

/// `default_model` from a mount: Complete and CompleteStreaming go through the Messages API.
#[tokio::test]
async fn messages_api_default_model_from_a_mount_serves_both_rpcs() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut lifecycle = ModuleLifecycleClient::new(channel(&url).await);
    let mut client = ProviderServiceClient::new(channel(&url).await);
    let mount = proto::MountRequest { config: [("default_model".to_string(), SONNET_5.to_string())].into(), ..Default::default() };
    assert!(lifecycle.mount(mount).await.unwrap().into_inner().success);

    let answer = client.complete(ask("Hello")).await.unwrap().into_inner();
    assert_eq!(text_of(&answer), "Hello from the local Bedrock emulator! You said: Hello");
    assert_eq!(answer.finish_reason, "stop");
    assert_eq!(serde_json::from_str::<Value>(&answer.metadata_json).unwrap()["model"], SONNET_5, "{}", answer.metadata_json);
    assert_eq!(last_went_to_the_messages_api(&emu)["stream"], Value::Null);

    let mut stream = client.complete_streaming(ask("Stream it")).await.unwrap().into_inner();
    let mut messages = Vec::new();
    while let Some(m) = stream.message().await.unwrap() {
        messages.push(m);
    }
    assert!(messages.len() > 2, "one message per event: {messages:?}");
    let text: String = messages.iter().map(text_of).collect();
    assert_eq!(text, "Hello from the local Bedrock emulator! You said: Stream it");
    let last = messages.last().unwrap();
    assert_eq!(last.finish_reason, "stop");
    assert!(last.usage.as_ref().unwrap().completion_tokens > 0);
    let event: Value = serde_json::from_str(&last.metadata_json).unwrap();
    assert_eq!(event["stream_event"]["type"], "done");
    assert_eq!(last_went_to_the_messages_api(&emu)["stream"], true);
    assert_eq!(emu.requests().len(), 2);

    // A request naming its model still wins over the mount's default.
    client.complete(proto::ChatRequest { model: "anthropic.claude-haiku-4-5-20251001-v1:0".into(), ..ask("x") }).await.unwrap();
    let sent = emu.requests().pop().unwrap();
    assert_eq!(
        (sent.operation.as_deref(), sent.model_id.as_deref()),
        (Some("invoke"), Some("us.anthropic.claude-haiku-4-5-20251001-v1:0"))
    );
}

/// `bedrock-host serve --model anthropic.claude-sonnet-5`, its Messages API endpoint from
/// AWS_ENDPOINT_URL_BEDROCK_MANTLE: both RPCs reach the Messages API.
#[tokio::test]
async fn messages_api_the_serve_command_with_model_sonnet_5() {
    let emu = Emulator::start().await.unwrap();
    let mut child = common::isolated_bedrock_host()
        .args(["serve", "--region", "us-east-1", "--model", SONNET_5, "-c", "max_retries=0"])
        .env("AWS_ENDPOINT_URL_BEDROCK_MANTLE", emu.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (port, _stdout) = common::serve_port(&mut child);
    let mut client = ProviderServiceClient::new(channel(&format!("http://127.0.0.1:{port}")).await);

    let answer = client.complete(ask("Hi")).await;
    let streamed = match &answer {
        Ok(_) => {
            let mut stream = client.complete_streaming(ask("Hi again")).await.unwrap().into_inner();
            let mut text = String::new();
            while let Some(m) = stream.message().await.unwrap() {
                text.push_str(&text_of(&m));
            }
            Some(text)
        }
        Err(_) => None,
    };
    // The server stops once its connections close: this runtime must go on running to close ours.
    drop(client);
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (status, log) = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut log = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log).unwrap();
        (status, log)
    })
    .await
    .unwrap();
    let answer = answer.unwrap_or_else(|e| panic!("{e}; the server's log: {log}")).into_inner();
    assert_eq!(text_of(&answer), "Hello from the local Bedrock emulator! You said: Hi");
    assert_eq!(streamed.as_deref(), Some("Hello from the local Bedrock emulator! You said: Hi again"));
    assert!(status.success(), "{status:?}");
    let requests = emu.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(last_went_to_the_messages_api(&emu)["stream"], true);
    let first = &requests[0];
    assert_eq!(
        (first.path.as_str(), first.operation.as_deref(), first.model_id.as_deref()),
        ("/anthropic/v1/messages", Some("messages"), Some(SONNET_5))
    );
    assert!(first.header("authorization").unwrap().contains("/us-east-1/bedrock-mantle/aws4_request"));
    assert!(!log.contains(emulator::SECRET_ACCESS_KEY), "{log}");
}

/// The standard gRPC health service answers load balancers' probes: SERVING for the server and
/// for Amplifier's ProviderService (without the token, which a probe does not have), NOT_FOUND
/// for a service it does not have, and NOT_SERVING once the server is draining.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grpc_health_service_reports_serving_then_draining() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::HealthCheckRequest;

    let emu = Emulator::start().await.unwrap();
    let service = BedrockService::new(against(&emu), CredentialMode::Fixed, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut options = ServeOptions::default();
    (options.token, options.grace_period) = (Some("s3cret".into()), std::time::Duration::from_secs(2));
    let server = tokio::spawn(serve(service, listener, options, async {
        let _ = stopped.await;
    }));
    let mut health = HealthClient::new(channel(&url).await);
    let status = |name: &str| HealthCheckRequest { service: name.into() };
    for name in ["", "amplifier.module.ProviderService"] {
        let answer = health.check(status(name)).await.unwrap().into_inner();
        assert_eq!(answer.status, ServingStatus::Serving as i32, "{name:?}");
    }
    assert_eq!(health.check(status("no.such.Service")).await.unwrap_err().code(), Code::NotFound);

    // A watch sees the server go from SERVING to NOT_SERVING when it is told to stop.
    let mut watch = health.watch(status("")).await.unwrap().into_inner();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::Serving as i32);
    stop.send(()).unwrap();
    assert_eq!(watch.message().await.unwrap().unwrap().status, ServingStatus::NotServing as i32);
    drop((watch, health));
    server.await.unwrap().unwrap();
}

/// `serve`'s streamed calls hand their Bedrock connection back: four `CompleteStreaming` calls
/// in turn, and a plain `Complete` between them, use one connection to Bedrock (issue 23).
#[tokio::test]
async fn streamed_calls_through_serve_share_one_bedrock_connection() {
    let emu = Emulator::start().await.unwrap();
    let (url, _stop) = server(&emu, None).await;
    let mut client = ProviderServiceClient::connect(url).await.unwrap();
    for i in 0..4 {
        let prompt = format!("turn {i}");
        let mut stream = client.complete_streaming(ask(&prompt)).await.unwrap().into_inner();
        let mut text = String::new();
        while let Some(m) = stream.message().await.unwrap() {
            text.push_str(&text_of(&m));
        }
        assert!(text.ends_with(&format!("You said: {prompt}")), "{text}");
        if i == 1 {
            assert!(text_of(client.complete(ask("plain")).await.unwrap().get_ref()).ends_with("You said: plain"));
        }
    }
    let streamed = emu.requests().iter().filter(|r| r.operation.as_deref() == Some("invoke-with-response-stream")).count();
    assert_eq!((emu.requests().len(), streamed), (5, 4));
    assert_eq!(emu.connections(), 1, "five calls, one connection");
}

/// The scale bench's quick mode (`bedrock-host bench scale --quick`, issue 23), without and
/// with faults, run as CI runs it (the built CLI; its `serve` is a child of that process):
/// every call returns its own answer or fails with the typed error its fault leads to, within
/// its deadline (the bench lists any call that does not as a `problem:`); exactly the faulted
/// calls fail, and none without a fault; and the server's descriptors come back to their idle
/// level (plus the pool's idle connections) afterwards. Read from the printed table; no timing
/// is asserted.
#[test]
fn scale_quick_every_call_gets_its_own_answer_or_its_typed_error() {
    let pool = bedrock_host::http_client::HttpClientOptions::default().max_idle_per_host;
    for faults in [false, true] {
        let mut command = common::isolated_bedrock_host();
        command.args(["bench", "scale", "--quick"]);
        if faults {
            command.arg("--faults");
        }
        let out = command.output().unwrap();
        let printed = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{printed}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(!printed.contains("problem"), "{printed}");
        let cells = |line: &str| line.trim().trim_matches('|').split('|').map(|c| c.trim().to_string()).collect::<Vec<_>>();
        let header = cells(printed.lines().find(|l| l.starts_with("| streams |")).unwrap_or_else(|| panic!("no table: {printed}")));
        let column = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name:?}: {printed}"));
        let rows: Vec<Vec<String>> =
            printed.lines().filter(|l| l.starts_with("| ")).map(cells).filter(|c| c[0].parse::<usize>().is_ok()).collect();
        assert!(!rows.is_empty(), "{printed}");
        for row in rows {
            let number = |name: &str| row[column(name)].parse::<usize>().unwrap_or_else(|_| panic!("{name}: {printed}"));
            let streams = number("streams");
            assert_eq!(row[column("faults")], if faults { "yes" } else { "no" }, "{printed}");
            // `fault→error: count, …`, or `0`.
            let failed_cell = &row[column("failed (fault→error: count)")];
            let failed: Vec<(&str, usize)> = if failed_cell == "0" {
                Vec::new()
            } else {
                failed_cell
                    .split(", ")
                    .map(|entry| {
                        let (what, count) = entry.rsplit_once(": ").unwrap_or_else(|| panic!("{entry:?}: {printed}"));
                        (what, count.parse().unwrap())
                    })
                    .collect()
            };
            let failed_total: usize = failed.iter().map(|(_, n)| n).sum();
            assert_eq!(number("completed") + failed_total, streams, "{printed}");
            assert!(failed.iter().all(|(what, _)| !what.starts_with("none→")), "a call without a fault failed: {printed}");
            // `--faults`: of every 20 calls, seven ask for a fault (the command's help).
            let faulted = (0..streams).filter(|i| i % 20 < 7).count();
            assert_eq!(failed_total, if faults { faulted } else { 0 }, "exactly the faulted calls fail: {printed}");
            assert!(number("peak streaming") > 0, "{printed}");
            let fds: Vec<usize> = row[column("fds idle/peak/after")].split('/').map(|v| v.parse().unwrap()).collect();
            assert!(fds[2] <= fds[0] + pool, "descriptors back to idle (plus the pool's idle connections): {printed}");
        }
    }
}
