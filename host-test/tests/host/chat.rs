//! `bedrock-host chat` as a user meets it: in a real terminal (a pseudo-terminal driven by
//! python3's `pty` module), Ctrl-C stops the answer in progress and the conversation goes on,
//! Ctrl-D or `/exit` ends it; and a chat in which turns failed exits 1 and says how many.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bedrock_emulator::{self as emulator, Emulator, Scripted};
use serde_json::{json, Value};

/// Runs `bedrock-host chat` in a pseudo-terminal and plays `steps` on it: `["wait", TEXT]`
/// reads until TEXT has appeared (after what the previous waits consumed), `["send", TEXT]`
/// types TEXT. Prints `{"status": EXIT, "transcript": TEXT}` when the process is gone.
const DRIVER: &str = r#"
import json, os, pty, select, sys, time
plan = json.loads(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execvp(plan["argv"][0], plan["argv"])
seen, pos = b"", 0
def read_some(timeout):
    global seen
    ready, _, _ = select.select([fd], [], [], timeout)
    if not ready:
        return False
    try:
        data = os.read(fd, 65536)
    except OSError:
        return None
    if not data:
        return None
    seen += data
    return True
for kind, text in plan["steps"]:
    if kind == "send":
        os.write(fd, text.encode())
        continue
    want, deadline = text.encode(), time.time() + 120
    while seen.find(want, pos) < 0:
        if time.time() > deadline or read_some(deadline - time.time()) is None:
            print(json.dumps({"status": None, "transcript": seen.decode("utf-8", "replace"), "waiting_for": text}))
            sys.exit(0)
    pos = seen.find(want, pos) + len(want)
deadline = time.time() + 60
status = None
while time.time() < deadline:
    done, code = os.waitpid(pid, os.WNOHANG)
    if done:
        status = os.waitstatus_to_exitcode(code)
        break
    read_some(0.1)
while read_some(0.1):
    pass
print(json.dumps({"status": status, "transcript": seen.decode("utf-8", "replace")}))
"#;

/// The environment a chat against `emu` runs in: the emulator's endpoint and region, these
/// credentials, and nothing of the caller's AWS setup.
fn environment(emu: &Emulator, secret: &str) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> =
        std::env::vars().filter(|(name, _)| !name.starts_with("AWS_") && !name.starts_with("ANTHROPIC_")).collect();
    for (k, v) in [
        ("AWS_ENDPOINT_URL", emu.endpoint_url()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID.into()),
        ("AWS_SECRET_ACCESS_KEY", secret.into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_CONFIG_FILE", "/nonexistent/config".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials".into()),
        ("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache").display().to_string()),
        ("TERM", "xterm".into()),
    ] {
        env.push((k.to_string(), v));
    }
    env
}

/// `bedrock-host chat` in a pseudo-terminal, played through `steps`; its exit status and all
/// it showed.
async fn in_a_terminal(emu: &Emulator, steps: Value) -> (Option<i64>, String) {
    let plan = json!({"argv": [env!("CARGO_BIN_EXE_bedrock-host"), "chat"], "steps": steps});
    let mut command = Command::new("python3");
    command.args(["-c", DRIVER, &plan.to_string()]).env_clear().envs(environment(emu, emulator::SECRET_ACCESS_KEY));
    let out = tokio::task::spawn_blocking(move || command.output().expect("python3 runs")).await.unwrap();
    assert!(out.status.success(), "the driver failed: {}", String::from_utf8_lossy(&out.stderr));
    let result: Value = serde_json::from_slice(&out.stdout).expect("the driver prints JSON");
    let transcript = result["transcript"].as_str().unwrap_or_default().to_string();
    assert!(result.get("waiting_for").is_none(), "never saw {} in:\n{transcript}", result["waiting_for"]);
    (result["status"].as_i64(), transcript)
}

/// An answer of `words` words that arrives slowly: one small piece every 40 ms.
fn slow_answer(words: usize) -> Scripted {
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_slow", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [], "usage": {"input_tokens": 5, "output_tokens": 1}}}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for i in 0..words {
        events.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": format!("word{i} ")}}));
    }
    events.push(json!({"type": "content_block_stop", "index": 0}));
    events.push(
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}, "usage": {"output_tokens": words}}),
    );
    events.push(json!({"type": "message_stop"}));
    Scripted::event_stream(&events).delivered(vec![64], Duration::from_millis(40))
}

/// The texts of a recorded request's messages, as (role, text) pairs.
fn turns(body: &Value) -> Vec<(String, String)> {
    body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = m["content"].as_array().unwrap().iter().filter_map(|b| b["text"].as_str()).collect::<Vec<_>>().join("|");
            (m["role"].as_str().unwrap().to_string(), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_stops_the_answer_and_the_next_prompt_continues_the_conversation() {
    let emu = Emulator::start().await.unwrap();
    emu.push(slow_answer(400));
    let (status, transcript) = in_a_terminal(
        &emu,
        json!([
            ["wait", "you> "],
            ["send", "tell me a long story\r"],
            ["wait", "word5 "],
            ["send", "\u{3}"],
            ["wait", "(interrupted: the conversation goes on from here"],
            ["wait", "you> "],
            ["send", "and now briefly\r"],
            ["wait", "You said: and now briefly"],
            ["wait", "you> "],
            ["send", "/exit\r"],
        ]),
    )
    .await;
    assert_eq!(status, Some(0), "/exit ends the chat with success:\n{transcript}");
    assert!(!transcript.contains("word399"), "the answer was stopped: {transcript}");
    let requests = emu.requests();
    assert_eq!(requests.len(), 2, "{transcript}");
    let next = turns(&requests[1].json());
    assert_eq!(next.len(), 3, "{next:?}");
    assert_eq!(next[0], ("user".to_string(), "tell me a long story".to_string()), "the interrupted prompt stays");
    assert_eq!(next[1].0, "assistant");
    assert!(next[1].1.starts_with("word0 word1 word2 word3 word4 word5 ") && !next[1].1.contains("word399"), "{:?}", next[1]);
    assert_eq!(next[2], ("user".to_string(), "and now briefly".to_string()));
    // Stopping the answer closed the connection: the emulator saw its body abandoned.
    for _ in 0..100 {
        if emu.bodies_abandoned() > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(emu.bodies_abandoned(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_at_the_prompt_says_how_to_leave_and_ctrl_d_leaves() {
    let emu = Emulator::start().await.unwrap();
    let (status, transcript) = in_a_terminal(
        &emu,
        json!([
            ["wait", "you> "],
            ["send", "\u{3}"],
            ["wait", "(Ctrl-D or /exit ends the chat)"],
            ["wait", "you> "],
            ["send", "hello\r"],
            ["wait", "You said: hello"],
            ["wait", "you> "],
            ["send", "\u{4}"],
        ]),
    )
    .await;
    assert_eq!(status, Some(0), "{transcript}");
    assert_eq!(emu.requests().len(), 1);
}

/// `bedrock-host chat` with `input` piped in, against `emu` with this secret key.
async fn piped(emu: &Emulator, secret: &str, input: &'static str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bedrock-host"));
    command.arg("chat").env_clear().envs(environment(emu, secret)).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("bedrock-host starts");
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_whose_turns_failed_exits_1_and_says_how_many() {
    let emu = Emulator::start().await.unwrap();
    let out = piped(&emu, "not-the-secret-key", "hello\nhello again\n").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("auth: ")).count(), 2, "each turn's error: {stderr}");
    assert_eq!(stderr.lines().last(), Some("chat: 2 of 2 turns failed (the error of each is above)"), "{stderr}");

    // One failure among answers is still a failed chat.
    emu.push(Scripted::new(
        400,
        vec![("x-amzn-ErrorType".into(), "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/".into())],
        br#"{"message":"The model is not ready for this"}"#.to_vec(),
    ));
    let out = piped(&emu, emulator::SECRET_ACCESS_KEY, "first\nsecond\n/exit\n").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("You said: second"));
    assert_eq!(stderr.lines().last(), Some("chat: 1 of 2 turns failed (the error of each is above)"), "{stderr}");

    let out = piped(&emu, emulator::SECRET_ACCESS_KEY, "fine\n").await;
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
