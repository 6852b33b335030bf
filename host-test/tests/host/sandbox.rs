//! The host's guard rails: where the component may connect, deadlines, memory, imports.

use crate::common;

use std::time::{Duration, Instant};

use bedrock_emulator::Emulator;
use bedrock_host::{CallError, Limits};
use common::{against, base, hello};

#[tokio::test]
async fn the_component_cannot_reach_undeclared_hosts() {
    let allowed = Emulator::start().await.unwrap();
    let other = Emulator::start().await.unwrap();
    let p = against(&other);
    p.set_allowed_endpoint(Some(allowed.endpoint_url()));
    let (result, record) = p.complete_recorded(&hello("x")).await;
    let e = match result {
        Err(CallError::Provider(e)) if e.kind() == bedrock_host::ErrorKind::Unreachable => e.message().to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    assert!(e.starts_with(&format!("network: the host refused the outbound request to {}/model/", other.endpoint_url())), "{e}");
    assert!(e.contains("endpoint_url"), "{e}");
    assert_eq!(record.refused.len(), 1, "{:?}", record.refused);
    assert!(other.requests().is_empty() && allowed.requests().is_empty());

    // Real Bedrock in a region the host does not allow: refused before any connection is made.
    let p = base().fork();
    p.set_config("aws_region", "us-east-1");
    p.set_credentials(Some(common::emulator_credentials()));
    p.set_allowed_regions(Some(vec!["eu-west-1".into()]));
    let (result, record) = p.complete_recorded(&hello("x")).await;
    let e = result.unwrap_err().to_string();
    assert!(
        e.starts_with("network: the host refused the outbound request to https://bedrock-runtime.us-east-1.amazonaws.com/model/"),
        "{e}"
    );
    assert_eq!(record.refused.len(), 1);
}

/// A TCP server that accepts connections and never answers.
async fn silent_server() -> (tokio::task::JoinHandle<()>, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (task, url)
}

#[tokio::test]
async fn a_silent_endpoint_is_a_network_timeout_not_a_hang() {
    let (_server, url) = silent_server().await;
    let p = base().fork();
    p.set_config("aws_region", "us-east-1");
    p.set_config("endpoint_url", url.as_str());
    p.set_config("timeout", "1");
    p.set_credentials(Some(common::emulator_credentials()));
    let started = Instant::now();
    let e = p.complete(&hello("x")).await.unwrap_err().to_string();
    assert!(e.starts_with("network: no answer within 1.0 s"), "{e}");
    assert!(e.contains("raise the `timeout` config key"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn the_host_deadline_stops_a_call_the_component_would_let_run() {
    let (_server, url) = silent_server().await;
    let p = base().fork();
    p.set_config("aws_region", "us-east-1");
    p.set_config("endpoint_url", url.as_str());
    p.set_credentials(Some(common::emulator_credentials()));
    p.set_limits(Limits::default().with_call_timeout(Some(Duration::from_millis(500))));
    match p.complete(&hello("x")).await {
        Err(CallError::Host(e)) => {
            assert!(e.to_string().contains("did not finish within"), "{e}");
            assert_eq!(e.kind(), bedrock_host::HostFailureKind::DeadlineExceeded);
        }
        other => panic!("expected the host deadline, got {other:?}"),
    }
}

#[tokio::test]
async fn the_memory_cap_fails_the_call_cleanly_and_the_host_carries_on() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.set_limits(Limits::default().with_memory_bytes(4 << 20));
    let huge = "x".repeat(8 << 20);
    match p.complete(&hello(&huge)).await {
        Err(CallError::Host(e)) => assert!(
            e.to_string().starts_with("the call needed more memory than its cap of 4 MiB (Limits::memory_bytes)")
                && e.kind() == bedrock_host::HostFailureKind::MemoryCap,
            "the cap, not some other failure, stopped the call: {e:#}"
        ),
        other => panic!("expected the memory cap to stop the call, got {:?}", other.map(|_| "a response")),
    }
    p.set_limits(Limits::default());
    p.complete(&hello("still here")).await.expect("a fresh store per call: the next call is unaffected");
}

#[test]
fn the_component_imports_only_standard_wasi() {
    let imports = base().imports();
    let exports = base().exports();
    let allowed = ["wasi:config/store@0.2.0-rc.1", "wasi:http/", "wasi:cli/", "wasi:clocks/", "wasi:random/", "wasi:io/"];
    for import in &imports {
        assert!(allowed.iter().any(|a| import.starts_with(a)), "unexpected import {import}; all: {imports:?}");
        assert!(!import.starts_with("wasi:filesystem") && !import.starts_with("wasi:sockets"), "{import}");
    }
    assert!(imports.iter().any(|i| i.starts_with("wasi:http/outgoing-handler@0.2.")), "{imports:?}");
    for export in [
        "amplifier:modules/provider@1.0.0",
        "amplifier-bedrock:provider/errors@0.3.0",
        "amplifier-bedrock:provider/completion@0.3.0",
        "amplifier-bedrock:provider/streaming@0.3.0",
        "amplifier-bedrock:provider/tokens@0.3.0",
    ] {
        assert!(exports.iter().any(|e| e == export), "missing export {export}: {exports:?}");
    }
    assert!(exports.iter().any(|e| e.starts_with("wasi:cli/run@0.2.")), "{exports:?}");
}

#[test]
fn the_amplifier_manifest_names_the_component_the_kernel_will_detect() {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../amplifier.toml")).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    let module = manifest["module"].as_table().unwrap();
    assert_eq!(module["type"].as_str(), Some("provider"));
    assert_eq!(module["transport"].as_str(), Some("wasm"));
    let artifact = module["artifact"].as_str().unwrap();
    assert!(!artifact.contains('/') && !artifact.starts_with('.'), "the kernel takes a bare file name");
    assert_eq!(Some(std::ffi::OsStr::new(artifact)), std::path::Path::new(bedrock_host::BUILT_COMPONENT_PATH).file_name());
    // The kernel's auto-detection wants exactly one amplifier:modules interface.
    let amplifier_exports: Vec<String> = base().exports().into_iter().filter(|e| e.starts_with("amplifier:modules/")).collect();
    assert_eq!(amplifier_exports, ["amplifier:modules/provider@1.0.0"]);
}
