//! Keep-alive connections: one `Provider` reuses its connections across calls and stores, over
//! plain HTTP and over TLS (one handshake for many calls), a stream closed early does not
//! poison the pool, idle connections close, and HTTPS trusts only what it should.

use crate::common;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use bedrock_emulator::{self as emulator, Emulator, Scripted};
use bedrock_host::http_client::HttpClientOptions;
use bedrock_host::{ManualClock, Provider};
use common::{against, emulator_credentials, hello};

/// A provider of its own (its own pool) for `emu`, trusting `ca_pem` when given, its pool on
/// `clock` when given.
fn own_provider(emu: &Emulator, ca_pem: Option<&str>, clock: Option<&ManualClock>) -> Provider {
    let mut b = Provider::builder()
        .cache_dir(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")))
        .config("endpoint_url", emu.endpoint_url())
        .config("aws_region", "us-east-1")
        .credentials(emulator_credentials());
    if let Some(pem) = ca_pem {
        b = b.trust_ca_pem(pem.as_bytes().to_vec());
    }
    if let Some(clock) = clock {
        b = b.clock(clock.shared());
    }
    b.build().expect("the component loads")
}

#[tokio::test]
async fn sequential_calls_on_one_provider_use_one_connection() {
    let emu = Emulator::start().await.unwrap();
    let p = own_provider(&emu, None, None);
    for i in 0..5 {
        let r = p.complete(&hello(&format!("call {i}"))).await.unwrap();
        assert!(r["content"][0]["text"].as_str().unwrap().contains(&format!("call {i}")), "{r}");
    }
    // Streams too, and a fork shares the pool.
    p.fork().stream(&hello("streamed"), |_| {}).await.unwrap();
    assert_eq!(emu.requests().len(), 6);
    assert_eq!(emu.connections(), 1, "every call reuses the first connection");
    let stats = p.connection_stats();
    assert_eq!((stats.requests, stats.connections_opened, stats.reused), (6, 1, 5), "{stats:?}");
}

#[tokio::test]
async fn over_tls_many_calls_make_one_handshake() {
    let emu = Emulator::start_tls().await.unwrap();
    assert!(emu.endpoint_url().starts_with("https://127.0.0.1:"));
    let p = own_provider(&emu, emu.ca_pem(), None);
    for i in 0..4 {
        p.complete(&hello(&format!("tls {i}"))).await.unwrap();
    }
    let mut events = 0;
    p.stream(&hello("tls stream"), |_| events += 1).await.unwrap();
    assert!(events > 2);
    assert_eq!((emu.connections(), emu.tls_handshakes()), (1, 1));
    assert_eq!(p.connection_stats().tls_handshakes, 1);
    // Each request was signed and verified as usual.
    assert!(emu.requests().iter().all(|r| r.auth_failure.is_none()));
}

#[tokio::test]
async fn https_to_an_untrusted_certificate_is_a_network_error() {
    let emu = Emulator::start_tls().await.unwrap();
    let p = own_provider(&emu, None, None);
    p.set_config("max_retries", "0");
    let e = p.complete(&hello("hi")).await.unwrap_err().to_string();
    assert!(e.starts_with("network:"), "{e}");
    assert!(emu.requests().is_empty());
    assert_eq!(emu.tls_handshakes(), 0);
}

#[tokio::test]
async fn a_stream_closed_early_does_not_poison_the_pool() {
    let emu = Emulator::start().await.unwrap();
    let p = own_provider(&emu, None, None);
    p.complete(&hello("warm up")).await.unwrap();
    // A long answer delivered slowly; the caller stops after the first event.
    let events: Vec<serde_json::Value> = (0..200)
        .map(|i| serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("piece {i} ")}}))
        .collect();
    let mut all = vec![
        serde_json::json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude", "content": [], "stop_reason": null, "usage": {"input_tokens": 1, "output_tokens": 1}}}),
        serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    all.extend(events);
    all.push(serde_json::json!({"type": "content_block_stop", "index": 0}));
    all.push(serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 200}}));
    all.push(serde_json::json!({"type": "message_stop"}));
    emu.push(Scripted::event_stream(&all).delivered(vec![256], Duration::from_millis(5)));
    let mut seen = 0;
    p.stream_while(&hello("long"), |_| {
        seen += 1;
        seen < 2
    })
    .await
    .unwrap();
    // The abandoned connection is closed, not pooled: the emulator sees its body abandoned.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while emu.bodies_abandoned() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emu.bodies_abandoned(), 1);
    // Later calls work, on a fresh connection that is then reused.
    for i in 0..3 {
        p.complete(&hello(&format!("after {i}"))).await.unwrap();
    }
    assert_eq!(emu.connections(), 2, "one connection before the abandoned stream, one after");
}

#[tokio::test]
async fn a_connection_the_server_dropped_is_replaced() {
    let emu = Emulator::start().await.unwrap();
    let p = against(&emu);
    p.complete(&hello("one")).await.unwrap();
    // The server hangs up on the next request; the component retries on a new connection.
    emu.push(Scripted::reset());
    p.complete(&hello("two")).await.unwrap();
    p.complete(&hello("three")).await.unwrap();
    assert_eq!(emu.connections(), 2);
}

/// Waits (at most 5 s) until the pool holds `n` idle connections: a connection goes back to the
/// pool, or is closed, in a task of its own, just after the call that used it.
async fn until_idle(p: &Provider, n: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while p.http_client().idle_connections() != n && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(p.http_client().idle_connections(), n);
}

/// The idle timeout on a [`ManualClock`]: a connection idle for less is reused, one idle for
/// that long is closed and the next call opens another. No sleeping through the timeout: the
/// default 45 s applies as it is.
#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    let emu = Emulator::start().await.unwrap();
    let clock = ManualClock::new();
    let idle = HttpClientOptions::default().idle_timeout;
    let p = own_provider(&emu, None, Some(&clock));
    p.complete(&hello("one")).await.unwrap();
    until_idle(&p, 1).await;
    clock.advance(idle - Duration::from_millis(1));
    assert_eq!(p.http_client().idle_connections(), 1, "kept just short of the idle timeout");
    p.complete(&hello("two")).await.unwrap();
    assert_eq!((emu.connections(), p.connection_stats().reused), (1, 1), "and reused");
    until_idle(&p, 1).await;
    // Idle again from its return to the pool: the full timeout from then closes it.
    clock.advance(idle);
    until_idle(&p, 0).await;
    p.complete(&hello("three")).await.unwrap();
    assert_eq!((emu.connections(), p.connection_stats().reused), (2, 1), "a closed connection is not reused");
}

#[tokio::test]
async fn concurrent_calls_open_connections_as_needed_and_pool_them() {
    let emu = Emulator::start().await.unwrap();
    let p = own_provider(&emu, None, None);
    let calls: Vec<_> = (0..3)
        .map(|i| {
            let p = p.clone();
            tokio::spawn(async move { p.complete(&hello(&format!("c{i}"))).await })
        })
        .collect();
    for c in calls {
        c.await.unwrap().unwrap();
    }
    let opened = emu.connections();
    assert!((1..=3).contains(&opened), "{opened}");
    for i in 0..3 {
        p.complete(&hello(&format!("s{i}"))).await.unwrap();
    }
    assert_eq!(emu.connections(), opened, "sequential calls reuse the pooled connections");
}

/// The CLI: `chat` with four streamed prompts makes one connection (and one TLS handshake), and
/// trusts the CA named by `AWS_CA_BUNDLE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_several_prompts_uses_one_tls_connection_trusting_aws_ca_bundle() {
    let emu = Emulator::start_tls().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, emu.ca_pem().unwrap()).unwrap();
    let endpoint = emu.endpoint_url();
    let run = move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bedrock-host"));
        cmd.arg("chat")
            .env("BEDROCK_HOST_CACHE_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
            .env("AWS_CONFIG_FILE", dir.path().join("none"))
            .env("AWS_SHARED_CREDENTIALS_FILE", dir.path().join("none"))
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_BEARER_TOKEN_BEDROCK")
            .env_remove("AWS_ENDPOINT_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.env("AWS_CA_BUNDLE", &bundle);
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"first\nsecond\nthird\nfourth\n/exit\n").unwrap();
        child.wait_with_output().unwrap()
    };
    let out = tokio::task::spawn_blocking(run).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    for prompt in ["first", "second", "third", "fourth"] {
        assert!(stdout.contains(&format!("You said: {prompt}")), "{stdout}");
    }
    assert_eq!(emu.requests().len(), 4);
    assert!(emu.requests().iter().all(|r| r.path.ends_with("/invoke-with-response-stream")), "chat streams its answers");
    assert_eq!((emu.connections(), emu.tls_handshakes()), (1, 1), "four streamed prompts, one connection, one handshake");
}

/// The `connect_timeout` config key bounds connecting (here a TLS handshake that never
/// completes), though the component sets no `wasi:http` options.
#[tokio::test]
async fn the_connect_timeout_key_bounds_connecting() {
    // Connected, but the TLS handshake never gets an answer.
    let url = silent_after(b"").await.replace("http://", "https://");
    let p = common::base().fork();
    p.set_config("endpoint_url", url.trim_end_matches('/'));
    p.set_config("aws_region", "us-east-1");
    p.set_config("connect_timeout", "1");
    p.set_config("max_retries", "0");
    p.set_credentials(Some(emulator_credentials()));
    let started = std::time::Instant::now();
    let e = p.complete(&hello("hi")).await.unwrap_err().to_string();
    assert!(e.starts_with("network:"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
}

/// A server that reads a request, then writes `head` and stays silent on that connection.
async fn silent_after(head: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(head).await;
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    format!("http://{addr}/")
}

mod per_request_timeouts {
    //! The `wasi:http` request options still bound each phase on pooled connections.

    use std::time::{Duration, Instant};

    use bedrock_host::http_client::{HttpClient, HttpClientOptions};
    use bytes::Bytes;
    use http_body_util::BodyExt;
    use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

    use super::silent_after;

    fn get(url: &str) -> http::Request<WasiBody> {
        let uri: http::Uri = url.parse().unwrap();
        let host = uri.authority().unwrap().to_string();
        let body = http_body_util::Empty::<Bytes>::new().map_err(|never| match never {}).boxed_unsync();
        http::Request::get(uri).header("host", host).body(body).unwrap()
    }

    fn options(connect: u64, first_byte: u64, between_bytes: u64) -> Option<RequestOptions> {
        Some(RequestOptions {
            connect_timeout: Some(Duration::from_millis(connect)),
            first_byte_timeout: Some(Duration::from_millis(first_byte)),
            between_bytes_timeout: Some(Duration::from_millis(between_bytes)),
        })
    }

    #[tokio::test]
    async fn first_byte_timeout_applies() {
        let url = silent_after(b"").await;
        let client = HttpClient::new(HttpClientOptions::default());
        let started = Instant::now();
        let e = client.send(get(&url), options(5_000, 300, 5_000)).await.unwrap_err();
        assert!(matches!(e, Error::ConnectionReadTimeout), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn between_bytes_timeout_applies_and_the_connection_is_not_pooled() {
        let url = silent_after(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc").await;
        let client = HttpClient::new(HttpClientOptions::default());
        let response = client.send(get(&url), options(5_000, 5_000, 300)).await.unwrap();
        let mut body = response.into_body();
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from_static(b"abc"));
        let started = Instant::now();
        let e = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(e, Error::ConnectionReadTimeout), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        drop(body);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(client.idle_connections(), 0);
    }

    #[tokio::test]
    async fn connect_timeout_covers_the_tls_handshake() {
        // TCP connects, but the server never answers the TLS ClientHello.
        let url = silent_after(b"").await.replace("http://", "https://");
        let client = HttpClient::new(HttpClientOptions::default());
        let started = Instant::now();
        let e = client.send(get(&url), options(300, 5_000, 5_000)).await.unwrap_err();
        assert!(matches!(e, Error::ConnectionTimeout), "{e:?}");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert_eq!(client.stats().connections_opened, 0);
    }
}

/// The CLI trusts the CA named by the profile's `ca_bundle` (with `AWS_CA_BUNDLE` unset), and
/// without it the same call fails on the certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_profiles_ca_bundle_is_trusted() {
    let emu = Emulator::start_tls().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("ca.pem");
    std::fs::write(&bundle, emu.ca_pem().unwrap()).unwrap();
    let config = dir.path().join("config");
    std::fs::write(
        &config,
        format!("[profile tls]\nregion = us-east-1\nca_bundle = {}\n\n[profile plain]\nregion = us-east-1\n", bundle.display()),
    )
    .unwrap();
    let endpoint = emu.endpoint_url();
    let run = move |profile: &str| {
        Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
            .args(["complete", "--profile", profile, "-c", "max_retries=0", "hello"])
            .env("BEDROCK_HOST_CACHE_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
            .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint)
            .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
            .env("AWS_CONFIG_FILE", &config)
            .env("AWS_SHARED_CREDENTIALS_FILE", config.with_file_name("none"))
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_CA_BUNDLE")
            .env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("AWS_BEARER_TOKEN_BEDROCK")
            .env_remove("AWS_ENDPOINT_URL")
            .output()
            .unwrap()
    };
    let trusted = run.clone();
    let out = tokio::task::spawn_blocking(move || trusted("tls")).await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("You said: hello"));
    let out = tokio::task::spawn_blocking(move || run("plain")).await.unwrap();
    assert_eq!(out.status.code(), Some(75), "network: try again later");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("network:"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Streams whose body ends the way Bedrock ends it (chunked: the last event, then the empty
/// chunk) keep their connection: the component reads the body's end after the last event.
/// Both wire formats, `stream` and `complete` with `stream: true`.
#[tokio::test]
async fn chunked_streams_of_both_apis_keep_their_connection() {
    let emu = Emulator::start().await.unwrap();
    let p = own_provider(&emu, None, None);
    p.set_config("mantle_endpoint_url", emu.endpoint_url());
    let message = |text: &str| {
        serde_json::json!({"type": "message", "id": "msg_1", "role": "assistant", "model": "m", "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}})
    };
    let chunked = |s: Scripted| s.delivered(vec![37], Duration::ZERO);
    for round in 0..2 {
        emu.push(chunked(Scripted::event_stream(&emulator::stream_events(&message("invoke")))));
        emu.push(chunked(Scripted::sse(&emulator::sse_events(&message("messages")))));
        let mut text = String::new();
        p.stream(&hello("a"), |e| text.push_str(e["text"].as_str().unwrap_or_default())).await.unwrap();
        let mut request = hello("b");
        request["model"] = serde_json::json!("anthropic.claude-sonnet-5");
        request["stream"] = serde_json::json!(true);
        let r = p.complete(&request).await.unwrap();
        assert_eq!((text.as_str(), r["content"][0]["text"].as_str()), ("invoke", Some("messages")), "round {round}");
    }
    assert_eq!(emu.requests().len(), 4);
    let stats = p.connection_stats();
    assert_eq!((emu.connections(), stats.connections_opened, stats.reused), (1, 1, 3), "{stats:?}");
}

/// Every call shape hands its connection back (issue 23): streams framed by `Content-Length` and
/// chunked on both APIs, error answers of both APIs, a throttle retried, and an answer continued
/// after `max_tokens` (streamed), all in turn on one provider: one connection for all of them.
#[tokio::test]
async fn every_call_shape_returns_its_connection_to_the_pool() {
    use serde_json::json;
    let emu = Emulator::start().await.unwrap();
    let p = own_provider(&emu, None, None);
    p.set_config("mantle_endpoint_url", emu.endpoint_url());
    let on_messages_api = |mut r: serde_json::Value| {
        r["model"] = json!("anthropic.claude-sonnet-5");
        r
    };
    let message = |text: &str| {
        json!({"type": "message", "id": "msg_1", "role": "assistant", "model": "m", "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}})
    };
    let streamed_text = |request: serde_json::Value| {
        let p = &p;
        async move {
            let mut text = String::new();
            let r = p.stream(&request, |e| text.push_str(e["text"].as_str().unwrap_or_default())).await;
            r.map(|_| text)
        }
    };

    // Whole bodies: the emulator sends a scripted answer with its Content-Length.
    emu.push(Scripted::event_stream(&emulator::stream_events(&message("framed invoke"))));
    assert_eq!(streamed_text(hello("a")).await.unwrap(), "framed invoke");
    emu.push(Scripted::sse(&emulator::sse_events(&message("framed messages"))));
    assert_eq!(streamed_text(on_messages_api(hello("b"))).await.unwrap(), "framed messages");

    // Error answers, read to their end.
    emu.push(Scripted::new(
        400,
        vec![("x-amzn-ErrorType".into(), "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/".into())],
        br#"{"message":"messages: roles must alternate"}"#.to_vec(),
    ));
    let e = p.complete(&hello("c")).await.unwrap_err().to_string();
    assert!(e.starts_with("validation:"), "{e}");
    emu.push(Scripted::anthropic_error(400, "invalid_request_error", "messages: roles must alternate"));
    let e = streamed_text(on_messages_api(hello("d"))).await.unwrap_err().to_string();
    assert!(e.starts_with("validation:"), "{e}");

    // A throttle, then the retried call's (chunked) stream.
    emu.push(Scripted::anthropic_error(429, "rate_limit_error", "slow down"));
    assert!(streamed_text(on_messages_api(hello("e"))).await.unwrap().ends_with("You said: e"));

    // A streamed answer cut at max_tokens and continued twice: three requests.
    p.set_config("max_continuations", "5");
    let before = emu.requests().len();
    let count = json!({"messages": [{"role": "user", "content": "Count from 1 to 25"}], "max_output_tokens": 10});
    let whole: String = (1..=25).map(|n| n.to_string()).collect::<Vec<_>>().join(" ");
    assert_eq!(streamed_text(count).await.unwrap(), whole);
    assert_eq!(emu.requests().len() - before, 3, "two continuations");

    assert_eq!(emu.requests().len(), 9);
    let stats = p.connection_stats();
    assert_eq!((emu.connections(), stats.connections_opened), (1, 1), "{stats:?}");
}
