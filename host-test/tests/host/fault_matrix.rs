//! The fault matrix: each way Bedrock or the network can fail, through the real component and
//! the emulator over real sockets. Every row names the error prefix it must end in, how many
//! tries it may take and a time bound (a hang fails the row). Every row runs with `debug` and
//! `raw_debug` on and canary credentials, which must appear in no error, event or stderr line.

use crate::common;

use std::time::Duration;

use bedrock_emulator::{self as emulator, chunk_frame, exception_frame, stream_events, Emulator, Scripted};
use bedrock_host::{CallError, CallRecord, Credentials, ErrorKind, Provider};
use common::{base, hello, vector};
use serde_json::{json, Value};

/// A session token the emulator accepts (it is signed, not looked up) and nothing may show.
const CANARY_SESSION_TOKEN: &str = "CANARYsessionTOKEN/FwoGZXIvYXdzEBYaDCanaryCanaryCanary0000";

/// Where a row's requests go.
enum Target {
    /// The emulator, answering with these scripted answers in turn.
    Emulator(Vec<Scripted>),
    /// An endpoint where nothing answers (connection refused, unknown host).
    Nowhere(String),
}

struct Row {
    name: &'static str,
    target: Target,
    stream: bool,
    config: &'static [(&'static str, &'static str)],
    /// `Ok(text)`: the answer; `Err(prefix)`: the error must start with it.
    expect: Result<&'static str, &'static str>,
    /// Words the error must contain besides its prefix.
    says: &'static [&'static str],
    tries: Option<usize>,
    bound: Duration,
}

fn message(text: &str) -> Value {
    json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 5, "output_tokens": 2}})
}

fn stream_of(events: &[Value]) -> Scripted {
    Scripted::event_stream(events)
}

/// A local port that refuses connections for the life of the test process.
///
/// The socket is bound but never listens: connects to it are refused, and because it stays
/// bound the kernel cannot hand the port to an emulator or `serve` started later in the run (a
/// listener bound and dropped did exactly that once in CI, and the "connection refused" row
/// reached a live emulator).
fn refusing_port() -> u16 {
    static HELD: std::sync::OnceLock<(tokio::net::TcpSocket, u16)> = std::sync::OnceLock::new();
    HELD.get_or_init(|| {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = socket.local_addr().unwrap().port();
        (socket, port)
    })
    .1
}

fn rows() -> Vec<Row> {
    let ok = message("all good");
    let events = stream_events(&ok);
    let whole_stream: Vec<u8> = events.iter().flat_map(chunk_frame).collect();
    let three_frames: usize = events[..3].iter().map(|e| chunk_frame(e).len()).sum();
    let mut truncated = stream_of(&events);
    truncated.body.truncate(three_frames + 7);
    let mut mid_exception: Vec<u8> = events[..3].iter().flat_map(chunk_frame).collect();
    mid_exception.extend(exception_frame("internalServerException", "The system encountered an unexpected error during processing."));
    let stream_headers = vec![("content-type".to_string(), "application/vnd.amazon.eventstream".to_string())];
    let closed_port = refusing_port();
    let slow = |s: Scripted, d: Duration| s.after(d);
    let big_error = Scripted::new(500, vec![("content-type".into(), "application/json".into())], {
        let mut b = br#"{"message":""#.to_vec();
        b.extend(std::iter::repeat_n(b'x', 10 << 20));
        b.extend(br#""}"#);
        b
    });
    let huge_header = Scripted::new(
        200,
        vec![("content-type".into(), "application/json".into()), ("x-padding".into(), "p".repeat(1 << 20))],
        ok.to_string().into_bytes(),
    );
    let s = Duration::from_secs;
    vec![
        Row {
            name: "429 twice, then 200",
            target: Target::Emulator(vec![vector("error_throttling_requests"), vector("error_throttling_requests")]),
            stream: false,
            config: &[],
            expect: Ok("Hello from the local Bedrock emulator! You said: x"),
            says: &[],
            tries: Some(3),
            bound: s(30),
        },
        Row {
            name: "429 every time",
            target: Target::Emulator(vec![vector("error_throttling_requests"); 3]),
            stream: false,
            config: &[],
            expect: Err("throttled: "),
            says: &["gave up after 3 attempts"],
            tries: Some(3),
            bound: s(30),
        },
        Row {
            name: "503 every time",
            target: Target::Emulator(vec![vector("error_service_unavailable"); 3]),
            stream: false,
            config: &[],
            expect: Err("bedrock: "),
            says: &["ServiceUnavailable", "gave up after 3 attempts"],
            tries: Some(3),
            bound: s(30),
        },
        Row {
            name: "500 once, then 200",
            target: Target::Emulator(vec![vector("error_internal_server")]),
            stream: false,
            config: &[],
            expect: Ok("Hello from the local Bedrock emulator! You said: x"),
            says: &[],
            tries: Some(2),
            bound: s(30),
        },
        Row {
            name: "connection refused",
            target: Target::Nowhere(format!("http://127.0.0.1:{closed_port}")),
            stream: false,
            config: &[],
            expect: Err("network: "),
            says: &["gave up after 3 attempts"],
            tries: None,
            bound: s(30),
        },
        Row {
            name: "DNS failure",
            target: Target::Nowhere("http://bedrock.nonexistent.invalid:4000".into()),
            stream: false,
            config: &[],
            expect: Err("network: "),
            says: &[],
            tries: None,
            bound: s(30),
        },
        Row {
            name: "reset before the headers",
            target: Target::Emulator(vec![Scripted::reset(), Scripted::reset(), Scripted::reset()]),
            stream: false,
            config: &[],
            expect: Err("network: "),
            says: &["gave up after 3 attempts"],
            tries: Some(3),
            bound: s(30),
        },
        Row {
            name: "reset right after the headers",
            target: Target::Emulator(vec![Scripted::json(&ok).cut_after(0); 3]),
            stream: false,
            config: &[],
            expect: Err("network: "),
            says: &[],
            tries: None,
            bound: s(30),
        },
        Row {
            name: "reset in the middle of the body",
            target: Target::Emulator(vec![Scripted::json(&ok).cut_after(20); 3]),
            stream: false,
            config: &[],
            expect: Err("network: "),
            says: &[],
            tries: None,
            bound: s(30),
        },
        Row {
            name: "reset in the middle of a stream",
            target: Target::Emulator(vec![Scripted::new(200, stream_headers.clone(), whole_stream.clone()).cut_after(three_frames + 5)]),
            stream: true,
            config: &[],
            expect: Err("network: "),
            says: &["received before the failure"],
            tries: Some(1),
            bound: s(30),
        },
        Row {
            name: "stream truncated mid-frame",
            target: Target::Emulator(vec![truncated]),
            stream: true,
            config: &[],
            expect: Err("bedrock: the response stream"),
            says: &[],
            tries: Some(1),
            bound: s(30),
        },
        Row {
            name: "exception frame mid-stream",
            target: Target::Emulator(vec![Scripted::new(200, stream_headers.clone(), mid_exception)]),
            stream: true,
            config: &[],
            expect: Err("bedrock: "),
            says: &["unexpected error during processing", "received before the failure"],
            tries: Some(1),
            bound: s(30),
        },
        Row {
            name: "first byte after the timeout",
            target: Target::Emulator(vec![slow(Scripted::json(&ok), s(3)), slow(Scripted::json(&ok), s(3))]),
            stream: false,
            config: &[("timeout", "1"), ("first_byte_timeout", "1"), ("max_retries", "1")],
            expect: Err("network: no answer within 1"),
            says: &[],
            tries: None,
            bound: s(20),
        },
        Row {
            name: "a stalled stream",
            target: Target::Emulator(vec![stream_of(&events).hold_after(three_frames, std::sync::Arc::new(tokio::sync::Notify::new()))]),
            stream: true,
            config: &[("between_bytes_timeout", "1"), ("stream_idle_timeout", "1")],
            expect: Err("network: no answer within 1"),
            says: &["received before the failure"],
            tries: Some(1),
            bound: s(20),
        },
        Row {
            name: "oversized headers",
            target: Target::Emulator(vec![huge_header.clone(), huge_header.clone(), huge_header]),
            stream: false,
            config: &[],
            expect: Err("network: "),
            says: &[],
            tries: None,
            bound: s(30),
        },
        Row {
            name: "a 10 MB error body",
            target: Target::Emulator(vec![big_error.clone(), big_error.clone(), big_error]),
            stream: false,
            config: &[],
            expect: Err("bedrock: "),
            says: &[],
            tries: None,
            bound: s(30),
        },
        Row {
            name: "invalid JSON",
            target: Target::Emulator(vec![Scripted::new(
                200,
                vec![("content-type".into(), "application/json".into())],
                b"{\"content\": [".to_vec(),
            )]),
            stream: false,
            config: &[],
            expect: Err("bedrock: "),
            says: &["JSON"],
            tries: Some(1),
            bound: s(30),
        },
        Row {
            name: "wrong content type",
            target: Target::Emulator(vec![Scripted::new(
                200,
                vec![("content-type".into(), "text/html".into())],
                b"<html><body>Gateway</body></html>".to_vec(),
            )]),
            stream: false,
            config: &[],
            expect: Err("bedrock: "),
            says: &[],
            tries: Some(1),
            bound: s(30),
        },
        Row {
            name: "an error that echoes the credentials",
            target: Target::Emulator(vec![Scripted::new(
                403,
                vec![("content-type".into(), "application/json".into()), ("x-amzn-errortype".into(), "UnrecognizedClientException".into())],
                json!({"message": format!(
                    "The security token included in the request is invalid: {CANARY_SESSION_TOKEN} (key {}, secret {}, api key {})",
                    emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY, emulator::API_KEY
                )})
                .to_string()
                .into_bytes(),
            )]),
            stream: false,
            config: &[],
            expect: Err("auth: "),
            says: &["The security token included in the request is invalid"],
            tries: Some(1),
            bound: s(30),
        },
        Row {
            name: "a redirect to another host",
            target: Target::Emulator(vec![Scripted::new(
                307,
                vec![("location".into(), "https://attacker.example/steal".into())],
                Vec::new(),
            )]),
            stream: false,
            config: &[],
            expect: Err("bedrock: "),
            says: &["redirect (HTTP 307)", "never followed"],
            tries: Some(1),
            bound: s(30),
        },
    ]
}

/// The row's provider: the emulator (or nowhere), quick retries, debug and raw events on.
fn provider_for(endpoint: &str, row: &Row, credentials: Credentials) -> Provider {
    let p = base().fork();
    p.set_config("endpoint_url", endpoint);
    p.set_config("aws_region", "us-east-1");
    p.set_config("debug", "true");
    p.set_config("raw_debug", "true");
    p.set_config("max_retries", "2");
    p.set_config("connect_timeout", "2");
    for (k, v) in row.config {
        p.set_config(*k, *v);
    }
    p.set_credentials(Some(credentials));
    p
}

/// The kind a row's expected error must have: a time limit's `network:` error is `TimedOut`,
/// any other `network:` error `Unreachable` (gRPC tells them apart: DEADLINE_EXCEEDED and
/// UNAVAILABLE); Bedrock's 503 after the retries is `Unavailable`.
fn kind_expected(row: &Row) -> ErrorKind {
    let Err(prefix) = row.expect else { panic!("{} expects an answer", row.name) };
    match prefix.split_once(':').map(|(p, _)| p) {
        Some("bedrock") if row.says.contains(&"ServiceUnavailable") => ErrorKind::Unavailable,
        Some("network") if prefix.contains("no answer within") => ErrorKind::TimedOut,
        Some("network") => ErrorKind::Unreachable,
        Some("throttled") => ErrorKind::Throttled,
        Some("bedrock") => ErrorKind::Bedrock,
        Some("auth") => ErrorKind::Unauthenticated,
        _ => panic!("no kind for the expected prefix {prefix:?}"),
    }
}

/// The gRPC status code `serve` must answer a row's error with.
fn code_expected(row: &Row) -> tonic::Code {
    match kind_expected(row) {
        ErrorKind::TimedOut => tonic::Code::DeadlineExceeded,
        ErrorKind::Unreachable | ErrorKind::Unavailable => tonic::Code::Unavailable,
        ErrorKind::Throttled => tonic::Code::ResourceExhausted,
        ErrorKind::Unauthenticated => tonic::Code::Unauthenticated,
        _ => tonic::Code::Internal,
    }
}

/// Runs one row; `Err` says how it failed (rows are checked with `check!`, which returns).
async fn run_row(row: &Row, credentials: Credentials, canaries: &[&str]) -> Result<(), String> {
    macro_rules! check {
        ($cond:expr, $($msg:tt)+) => {
            if !$cond {
                return Err(format!($($msg)+));
            }
        };
    }
    let emu = Emulator::start().await.unwrap();
    let endpoint = match &row.target {
        Target::Emulator(answers) => {
            for a in answers {
                emu.push(a.clone());
            }
            emu.endpoint_url()
        }
        Target::Nowhere(url) => url.clone(),
    };
    let p = provider_for(&endpoint, row, credentials);
    let request = json!({"messages": [{"role": "user", "content": "x"}], "stream": row.stream});
    let Ok((outcome, record)): Result<(Result<Value, CallError>, CallRecord), _> =
        tokio::time::timeout(row.bound, p.complete_recorded(&request)).await
    else {
        return Err(format!("no answer within {:?}: a hang", row.bound));
    };
    match (&row.expect, &outcome) {
        (Ok(text), Ok(response)) => check!(response["content"][0]["text"] == *text, "answered {}", response["content"]),
        (Err(prefix), Err(CallError::Provider(failure))) => {
            let e = failure.message();
            check!(e.starts_with(prefix), "expected {prefix:?}, got {e}");
            check!(failure.kind() == kind_expected(row), "expected the kind {:?}, got {:?}: {e}", kind_expected(row), failure.kind());
            for word in row.says {
                check!(e.contains(word), "expected the error to say {word:?}: {e}");
            }
            check!(e.len() < 4096, "an error of {} characters", e.len());
        }
        (expected, got) => return Err(format!("expected {expected:?}, got {got:?}")),
    }
    if let Some(tries) = row.tries {
        let sent = emu.requests().iter().filter(|r| r.operation.is_some()).count();
        check!(sent == tries, "{sent} tries, expected {tries}");
    }
    check!(record.refused.is_empty(), "the component tried to go elsewhere: {:?}", record.refused);
    let error = match &outcome {
        Err(e) => e.to_string(),
        Ok(_) => String::new(),
    };
    let events = serde_json::to_string(&record.events.iter().map(|e| json!({"name": e.name, "data": e.data})).collect::<Vec<_>>()).unwrap();
    check!(record.events.iter().any(|e| e.name == "llm:request:raw"), "raw events were on, but none came");
    for canary in canaries {
        for (place, text) in [("error", &error), ("events", &events), ("stderr", &record.stderr)] {
            check!(!text.contains(canary), "a credential appeared in the {place}: {}", text.replace(canary, "<THE CANARY>"));
        }
    }
    Ok(())
}

/// Runs every row with these credentials; fails listing every row that went wrong.
async fn run_matrix(credentials: impl Fn() -> Credentials, canaries: &[&str]) {
    let mut failures = Vec::new();
    for row in rows() {
        if let Err(why) = run_row(&row, credentials(), canaries).await {
            failures.push(format!("{}: {why}", row.name));
        }
    }
    assert!(failures.is_empty(), "rows that went wrong:\n{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_ends_as_the_matrix_says_and_shows_no_credential() {
    let credentials = || Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
        session_token: Some(CANARY_SESSION_TOKEN.into()),
    };
    run_matrix(credentials, &[emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY, CANARY_SESSION_TOKEN]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_with_a_bedrock_api_key_shows_no_key() {
    run_matrix(|| Credentials::BedrockApiKey(emulator::API_KEY.into()), &[emulator::API_KEY]).await;
}

/// Every row again through `serve`: the gRPC status carries the same prefixed error, and no
/// credential.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_through_serve_ends_in_a_status_without_credentials() {
    use bedrock_host::grpc::proto::provider_service_client::ProviderServiceClient;
    use bedrock_host::grpc::proto::{self, message::Content};
    use bedrock_host::grpc::{serve, BedrockService, CredentialMode, ServeOptions};

    let canaries = [emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY, CANARY_SESSION_TOKEN];
    let mut failures = Vec::new();
    for row in rows() {
        let emu = Emulator::start().await.unwrap();
        let endpoint = match &row.target {
            Target::Emulator(answers) => {
                answers.iter().for_each(|a| emu.push(a.clone()));
                emu.endpoint_url()
            }
            Target::Nowhere(url) => url.clone(),
        };
        let credentials = Credentials::Aws {
            access_key_id: emulator::ACCESS_KEY_ID.into(),
            secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
            session_token: Some(CANARY_SESSION_TOKEN.into()),
        };
        let service = BedrockService::new(provider_for(&endpoint, &row, credentials), CredentialMode::Fixed, false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(service, listener, ServeOptions::default(), async {
            let _ = stopped.await;
        }));
        let mut client = ProviderServiceClient::new(tonic::transport::Channel::from_shared(url).unwrap().connect().await.unwrap());
        let request = proto::ChatRequest {
            messages: vec![proto::Message {
                role: proto::Role::User as i32,
                content: Some(Content::TextContent("x".into())),
                ..Default::default()
            }],
            ..Default::default()
        };
        let outcome = if row.stream {
            match client.complete_streaming(request).await {
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    loop {
                        match stream.message().await {
                            Ok(Some(_)) => {}
                            Ok(None) => break Ok(()),
                            Err(status) => break Err(status),
                        }
                    }
                }
                Err(status) => Err(status),
            }
        } else {
            client.complete(request).await.map(|_| ())
        };
        let _ = stop.send(());
        let verdict = match (&row.expect, outcome) {
            (Ok(_), Ok(())) => Ok(()),
            (Err(_), Err(status)) if status.code() != code_expected(&row) => {
                Err(format!("expected the code {:?}, got {:?}: {}", code_expected(&row), status.code(), status.message()))
            }
            (Err(prefix), Err(status)) if status.message().starts_with(prefix) => {
                match canaries.iter().find(|c| status.message().contains(**c)) {
                    Some(_) => Err("a credential appeared in the gRPC status".to_string()),
                    None => Ok(()),
                }
            }
            (expected, got) => Err(format!("expected {expected:?}, got {got:?}")),
        };
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", row.name));
        }
    }
    assert!(failures.is_empty(), "rows that went wrong through serve:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn the_first_byte_timeout_is_enforced_even_with_a_slow_whole_request_limit() {
    // `timeout` generous, `first_byte_timeout` short: the shorter limit wins.
    let emu = Emulator::start().await.unwrap();
    emu.push(Scripted::json(&message("late")).after(Duration::from_secs(3)));
    let p = provider_for(&emu.endpoint_url(), &rows()[0], common::emulator_credentials());
    p.set_config("first_byte_timeout", "1");
    p.set_config("max_retries", "0");
    let e = tokio::time::timeout(Duration::from_secs(10), p.complete(&hello("x"))).await.expect("no hang").unwrap_err().to_string();
    assert!(e.starts_with("network: no answer within 1"), "{e}");
}

/// An HTTPS endpoint whose certificate the host does not trust: a clear `network:` error at
/// once, not retried (trying again cannot make the certificate trusted).
#[tokio::test]
async fn an_untrusted_certificate_is_a_clear_error_and_not_retried() {
    let emu = Emulator::start_tls().await.unwrap();
    let p = base().fork();
    p.set_config("endpoint_url", emu.endpoint_url());
    p.set_config("aws_region", "us-east-1");
    p.set_credentials(Some(common::emulator_credentials()));
    let e = tokio::time::timeout(Duration::from_secs(30), p.complete(&hello("x"))).await.expect("no hang").unwrap_err().to_string();
    assert!(e.starts_with("network: TLS with https://"), "{e}");
    assert!(e.contains("does not trust the server's certificate") && e.contains("AWS_CA_BUNDLE"), "{e}");
    assert!(!e.contains("gave up after"), "not retried: {e}");
    assert_eq!(emu.connections(), 1, "one connection: a certificate error is not retried");
    assert!(emu.requests().is_empty());
}

/// A stopping `serve` waits for calls in flight only within its grace period: a client that
/// connected and then never reads (so never acknowledges HTTP/2's goodbye) cannot keep it alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_hold_a_stopping_server() {
    use bedrock_host::grpc::{serve, BedrockService, CredentialMode, ServeOptions};
    use tokio::io::AsyncWriteExt;

    let emu = Emulator::start().await.unwrap();
    let service = BedrockService::new(common::against(&emu), CredentialMode::Fixed, false);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut options = ServeOptions::default();
    options.grace_period = std::time::Duration::from_millis(500);
    let server = tokio::spawn(serve(service, listener, options, async {
        let _ = stopped.await;
    }));
    // An HTTP/2 client preface and an empty SETTINGS frame, then silence: nothing is read.
    let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
    silent.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.send(()).unwrap();
    // Without the grace period this never returns; with it, the server is gone soon after.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(20), server).await;
    assert!(matches!(ended, Ok(Ok(Ok(())))), "the server did not stop: {ended:?}");
    drop(silent);
}
