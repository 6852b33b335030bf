//! Requests as big as Bedrock takes: InvokeModel takes a body of up to 20 MB (read as
//! 20,000,000 bytes), so a 15 MB request goes through the embedding API, the CLI and `serve`,
//! and a 25 MB one gets the component's `validation:` error naming the limit and the field to
//! shrink, with nothing sent. The guest's memory is measured, not guessed.

use crate::common;

use std::process::Stdio;

use bedrock_emulator::{self as emulator, Emulator};
use bedrock_host::grpc::proto::provider_service_client::ProviderServiceClient;
use bedrock_host::grpc::proto::{self, content_block::Block, message::Content};
use bedrock_host::grpc::MAX_MESSAGE_BYTES;
use bedrock_host::{CallError, Limits};
use common::against;
use serde_json::{json, Value};

const MB: usize = 1_000_000;

/// A user turn asking about a base64 PDF of `bytes` bytes of base64 text.
fn with_document(bytes: usize) -> Value {
    json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Summarize this document"},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE".repeat(bytes / 4)}},
    ]}]})
}

/// The `validation:` error of a request over InvokeModel's limit.
fn is_the_limit_error(e: &str, field: &str) -> bool {
    e.starts_with("validation: the request is too large for Bedrock: its InvokeModel body would be ")
        && e.contains("InvokeModel takes at most 20 MB (20000000 bytes)")
        && e.contains(&format!("most of it is `{field}` ("))
}

#[tokio::test]
async fn a_15_mb_request_goes_through_the_embedding_api_within_the_default_cap() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    assert_eq!(Limits::default().memory_bytes, 64 << 20);
    let request = with_document(15 * MB);
    let (answer, record) = p.complete_recorded(&request).await;
    let answer = answer.unwrap();
    assert_eq!(answer["content"][0]["text"], "Hello from the local Bedrock emulator! You said: Summarize this document");
    let sent = &emu.requests()[0];
    assert!(sent.body.len() > 15 * MB && sent.body.len() < 15 * MB + 1000, "{}", sent.body.len());
    // The guest holds a request about three times (as received, as the Bedrock body's values,
    // as the body's bytes): 15 MB fits in the default 64 MiB with room to spare.
    let peak = record.memory_peak_bytes;
    eprintln!("guest peak for a 15 MB request: {} MiB", peak >> 20);
    assert!(peak > 2 * 15 * MB && peak < 52 << 20, "guest peak {} MiB", peak >> 20);

    // Streamed, and through the Messages API (which publishes no limit of its own), alike.
    let mut done = Value::Null;
    let (r, streamed) = p
        .stream_recorded(&request, |e| {
            if e["type"] == "done" {
                done = e;
            }
            std::future::ready(true)
        })
        .await;
    r.unwrap();
    assert_eq!(done["finish_reason"], "stop");
    assert!(streamed.memory_peak_bytes < 52 << 20, "{} MiB", streamed.memory_peak_bytes >> 20);
    let mut messages_api = request.clone();
    messages_api["model"] = json!("anthropic.claude-sonnet-5");
    p.complete(&messages_api).await.unwrap();
    assert_eq!(emu.requests().len(), 3);
}

#[tokio::test]
async fn a_25_mb_request_is_refused_before_anything_is_sent() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    let e = p.complete(&with_document(25 * MB)).await.unwrap_err().to_string();
    assert!(is_the_limit_error(&e, "messages[0].content[1].source.data"), "{e}");
    let e = p.stream(&common::hello(&"y".repeat(25 * MB)), |_| {}).await.unwrap_err().to_string();
    assert!(is_the_limit_error(&e, "messages[0].content"), "{e}");
    let e = p.count_tokens(&with_document(21 * MB)).await.unwrap_err().to_string();
    assert!(is_the_limit_error(&e, "messages[0].content[1].source.data"), "{e}");
    assert_eq!(emu.requests().len(), 0, "nothing reached Bedrock");
}

#[test]
fn the_memory_cap_follows_the_request_within_the_host_wide_bound() {
    let limits = Limits::default();
    assert_eq!(limits.memory_cap(0), 64 << 20);
    assert_eq!(limits.memory_cap(8 << 20), 64 << 20, "a request of up to 8 MiB: the cap as set");
    assert_eq!(limits.memory_cap(20 * MB), (64 << 20) + (88 << 20), "8 bytes per byte beyond 8 MiB, in whole MiB");
    assert_eq!(limits.memory_cap((8 << 20) + 1000), 64 << 20);
    assert_eq!(limits.memory_cap(500 * MB), 1 << 30, "at most Limits::memory_max_bytes");
    let small = Limits::default().with_memory_bytes(4 << 20);
    assert_eq!(small.memory_cap(8 << 20), 4 << 20, "a tight cap stays tight for requests it covers");
    let big = Limits::default().with_memory_bytes(2 << 30);
    assert_eq!(big.memory_cap(500 * MB), 2 << 30, "a cap above the bound is used as it is");
}

#[tokio::test]
async fn a_request_past_the_host_wide_bound_is_stopped_by_the_cap_with_an_error_saying_so() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_limits(Limits::default().with_memory_max_bytes(80 << 20));
    match p.complete(&common::hello(&"z".repeat(40 << 20))).await {
        Err(e @ CallError::Host(_)) => {
            let e = e.to_string();
            assert!(
                e.starts_with(
                    "host: the call needed more memory than its cap of 80 MiB (Limits::memory_bytes, 64 MiB, raised for a request of "
                ),
                "{e}"
            );
            assert!(e.contains("the most Limits::memory_max_bytes allows") && e.contains("--memory-cap MIB"), "{e}");
        }
        other => panic!("expected the cap to stop the call, got {:?}", other.map(|_| "an answer")),
    }
    assert_eq!(emu.requests().len(), 0);
    p.complete(&common::hello("small")).await.expect("the next call is fine");
}

/// `bedrock-host ARGS` against `emu` with its credentials and nothing of the caller's AWS setup.
async fn bedrock_host(args: Vec<String>, emu: &Emulator) -> std::process::Output {
    let mut command = common::isolated_bedrock_host();
    command
        .args(args)
        .env("AWS_ENDPOINT_URL", emu.endpoint_url())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY);
    tokio::task::spawn_blocking(move || command.output().expect("bedrock-host runs")).await.unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_sends_15_mb_and_refuses_25_mb_naming_the_limit() {
    let emu = Emulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (fifteen, twenty_five) = (dir.path().join("15mb.json"), dir.path().join("25mb.json"));
    std::fs::write(&fifteen, with_document(15 * MB).to_string()).unwrap();
    std::fs::write(&twenty_five, with_document(25 * MB).to_string()).unwrap();

    let out = bedrock_host(args(&["complete", "--request", fifteen.to_str().unwrap()]), &emu).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Summarize this document");
    assert_eq!(emu.requests().len(), 1);
    assert!(emu.requests()[0].body.len() > 15 * MB);

    let out = bedrock_host(args(&["complete", "--stream", "--request", twenty_five.to_str().unwrap()]), &emu).await;
    assert_eq!(out.status.code(), Some(65));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(is_the_limit_error(e.trim(), "messages[0].content[1].source.data"), "{e}");
    assert_eq!(emu.requests().len(), 1, "the 25 MB request was not sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_clis_memory_cap_is_an_option() {
    let emu = Emulator::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let three = dir.path().join("3mb.json");
    std::fs::write(&three, with_document(3 * MB).to_string()).unwrap();
    let file = three.to_str().unwrap();

    let out = bedrock_host(args(&["complete", "--memory-cap", "4", "--request", file]), &emu).await;
    assert_eq!(out.status.code(), Some(70));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.starts_with("host: the call needed more memory than its cap of 4 MiB (Limits::memory_bytes): raise the cap (bedrock-host: --memory-cap MIB)"), "{e}");
    let out = bedrock_host(args(&["complete", "--memory-cap", "32", "--request", file]), &emu).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for bad in ["0", "5000"] {
        let out = bedrock_host(args(&["complete", "--memory-cap", bad, "hi"]), &emu).await;
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("give the cap in MiB, from 1 to 4096"));
    }
    let help = bedrock_host(args(&["complete", "--help"]), &emu).await;
    assert!(String::from_utf8_lossy(&help.stdout).contains("--memory-cap <MIB>"));
    assert_eq!(emu.requests().len(), 1, "only the call that had the memory it needed");
}

/// `serve`: the 32 MiB gRPC limit lets a 25 MB request reach the component, whose own error
/// (Bedrock's limit, `INVALID_ARGUMENT`) is what the caller gets; 15 MB is answered.
#[tokio::test(flavor = "multi_thread")]
async fn serve_answers_15_mb_and_passes_the_components_error_for_25_mb() {
    let emu = Emulator::start().await.unwrap();
    let mut child = common::isolated_bedrock_host()
        .args(["serve", "--region", "us-east-1", "--memory-cap", "64"])
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.endpoint_url())
        .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (port, _stdout) = common::serve_port(&mut child);
    let channel = tonic::transport::Channel::from_shared(format!("http://127.0.0.1:{port}")).unwrap().connect().await.unwrap();
    let mut client =
        ProviderServiceClient::new(channel).max_encoding_message_size(MAX_MESSAGE_BYTES).max_decoding_message_size(MAX_MESSAGE_BYTES);
    let ask = |bytes: usize| proto::ChatRequest {
        messages: vec![proto::Message {
            role: proto::Role::User as i32,
            content: Some(Content::BlockContent(proto::ContentBlockList {
                blocks: vec![
                    proto::ContentBlock {
                        block: Some(Block::TextBlock(proto::TextBlock { text: "What is in this picture?".into() })),
                        visibility: 0,
                    },
                    proto::ContentBlock {
                        block: Some(Block::ImageBlock(proto::ImageBlock {
                            media_type: "image/png".into(),
                            data: "iVBO".repeat(bytes / 4).into_bytes(),
                            source_json: String::new(),
                        })),
                        visibility: 0,
                    },
                ],
            })),
            ..Default::default()
        }],
        ..Default::default()
    };
    let answer = client.complete(ask(15 * MB)).await;
    let e = client.complete(ask(25 * MB)).await.unwrap_err();
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("15 MB is answered").into_inner();
    assert!(
        answer
            .content_blocks
            .iter()
            .any(|b| matches!(&b.block, Some(Block::TextBlock(t)) if t.text.ends_with("You said: What is in this picture?"))),
        "{answer:?}"
    );
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{}", e.message());
    assert!(is_the_limit_error(e.message(), "messages[0].content[1].source.data"), "{}", e.message());
    assert_eq!(emu.requests().len(), 1, "only the 15 MB request was sent");
}
