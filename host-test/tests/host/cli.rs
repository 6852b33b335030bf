//! The `bedrock-host` binary: the README's run command and exit codes.

use crate::common;

use std::process::Command;

fn bedrock_host(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(args)
        // Share the test processes' compiled-component cache.
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .output()
        .expect("bedrock-host runs")
}

#[test]
fn the_readme_run_command_prints_the_emulators_answer() {
    let out = bedrock_host(&["complete", "--emulator", "Hello"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello");
}

#[test]
fn bedrock_host_timings_names_the_phases_of_complete_in_order() {
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["complete", "--emulator", "Hello"])
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .env("BEDROCK_HOST_TIMINGS", "1")
        .output()
        .expect("bedrock-host runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line: serde_json::Value = serde_json::from_str(stderr.lines().last().unwrap_or_default()).expect("the timings line is JSON");
    let phases = line["timings_ms"].as_array().expect("timings_ms is a list");
    let names: Vec<&str> = phases.iter().map(|p| p[0].as_str().unwrap()).collect();
    assert_eq!(names, ["arguments", "aws_environment", "engine_and_component", "credentials", "call", "output"]);
    assert!(phases.iter().all(|p| p[1].as_f64().is_some_and(|ms| ms >= 0.0)), "{line}");
    // Without the variable nothing is printed.
    let quiet = bedrock_host(&["complete", "--emulator", "Hello"]);
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("timings_ms"));
}

#[test]
fn provider_errors_exit_with_their_kinds_status_and_usage_errors_exit_2() {
    let out = bedrock_host(&["complete", "--emulator", "-c", "temperature=hot", "Hello"]);
    assert_eq!(out.status.code(), Some(78), "config: EX_CONFIG");
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("config: `temperature` is \"hot\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bedrock_host(&["complete", "--emulator"]);
    assert_eq!(out.status.code(), Some(2));
    let out = bedrock_host(&["complete", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn models_and_info_print() {
    let out = bedrock_host(&["models"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("anthropic.claude-sonnet-4-5-20250929-v1:0"));
    let models = String::from_utf8_lossy(&out.stdout).to_string();
    let sonnet = models.lines().find(|l| l.starts_with("anthropic.claude-sonnet-4-5-20250929-v1:0")).unwrap();
    assert!(sonnet.ends_with("(1M: enable_long_context)"), "{sonnet}");
    let out = bedrock_host(&["info", "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["id"], "bedrock");
    let ttl = info["config_fields"].as_array().unwrap().iter().find(|f| f["id"] == "prompt_cache_ttl").unwrap();
    assert_eq!((ttl["field_type"].as_str(), &ttl["choices"]), (Some("choice"), &serde_json::json!(["5m", "1h"])));
}

#[test]
fn count_tokens_takes_the_inputs_of_complete() {
    let out = bedrock_host(&["count-tokens", "--emulator", "--system", "Be brief.", "How long is this?"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let (n, rest) = text.trim().split_once(' ').unwrap();
    assert!(n.parse::<u64>().unwrap() > 3, "{text}");
    assert_eq!(rest, "input tokens (anthropic.claude-sonnet-4-5-20250929-v1:0)");
    let out = bedrock_host(&["count-tokens", "--emulator", "--json", "--model", "anthropic.claude-haiku-4-5-20251001-v1:0", "Hi"]);
    let counted: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(counted["model"], "anthropic.claude-haiku-4-5-20251001-v1:0");
    assert!(counted["input_tokens"].as_u64().is_some() && counted["request_id"].is_string(), "{counted}");
    let out = bedrock_host(&["count-tokens", "--emulator"]);
    assert_eq!(out.status.code(), Some(2), "no prompt: a usage error");
}

#[test]
fn stream_prints_the_answer_and_json_lines() {
    let out = bedrock_host(&["complete", "--emulator", "--stream", "Hello"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hello");
    let out = bedrock_host(&["complete", "--emulator", "--stream", "--json", "Hello"]);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.first().unwrap()["type"], "block_start");
    assert_eq!(lines.last().unwrap()["type"], "done");
}

#[test]
fn the_standalone_emulator_serves_other_clients() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["emulator", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("bedrock-host emulator starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.rsplit(' ').next().unwrap().to_string();
    assert!(first.starts_with("Bedrock emulator listening on http://127.0.0.1:"), "{first}");
    let creds = lines.next().unwrap().unwrap();
    assert!(creds.contains(bedrock_emulator::ACCESS_KEY_ID));

    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["complete", "Hi there"])
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", bedrock_emulator::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", bedrock_emulator::SECRET_ACCESS_KEY)
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi there");
}

#[test]
fn bench_prints_its_ratios() {
    // `--quick` runs every row briefly (CI's guard that the bench keeps working).
    let out = bedrock_host(&["bench", "--quick"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert!(rows.len() >= 7, "{table}");
    for row in rows {
        // The one-shot row has no ratio when boto3 is not installed, and says so.
        if row.contains("install boto3") {
            continue;
        }
        let ratio: f64 = row.split_whitespace().rev().find_map(|w| w.parse().ok()).unwrap_or(f64::NAN);
        assert!(ratio.is_finite() && ratio > 0.0, "{row}");
    }
}

// The Messages API (`bedrock-mantle`): models such as Sonnet 5 go there.

const SONNET_5: &str = "anthropic.claude-sonnet-5";

/// The JSON lines `--events` printed to stderr, as (event name, data).
fn events(out: &std::process::Output) -> Vec<(String, serde_json::Value)> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|e| Some((e["event"].as_str()?.to_string(), e["data"].clone())))
        .collect()
}

/// The one `llm:request:raw` event (`-c raw_debug=true --events`): what went on the wire.
fn sent(out: &std::process::Output) -> serde_json::Value {
    let raw: Vec<serde_json::Value> = events(out).into_iter().filter(|(n, _)| n == "llm:request:raw").map(|(_, d)| d).collect();
    assert_eq!(raw.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    raw[0].clone()
}

/// The `api` of the one `llm:request` event.
fn api_of(out: &std::process::Output) -> String {
    let requests: Vec<serde_json::Value> = events(out).into_iter().filter(|(n, _)| n == "llm:request").map(|(_, d)| d).collect();
    assert_eq!(requests.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    requests[0]["api"].as_str().unwrap_or_default().to_string()
}

#[test]
fn messages_api_sonnet_5_through_the_emulator_prints_its_answer() {
    let out = bedrock_host(&["complete", "--emulator", "--model", SONNET_5, "Hi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi");

    // What was sent: the Messages API's path, the bare id in the body, no InvokeModel version.
    let out = bedrock_host(&["complete", "--emulator", "--model", SONNET_5, "--events", "-c", "raw_debug=true", "Hi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi");
    assert_eq!(api_of(&out), "messages");
    let raw = sent(&out);
    assert!(raw["url"].as_str().unwrap().ends_with("/anthropic/v1/messages"), "{raw}");
    assert_eq!(raw["body"]["model"], SONNET_5, "{raw}");
    assert!(raw["body"].get("anthropic_version").is_none(), "{raw}");
}

#[test]
fn messages_api_stream_prints_the_answer_from_server_sent_events() {
    let out = bedrock_host(&["complete", "--emulator", "--model", SONNET_5, "--stream", "Hi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi");

    let out =
        bedrock_host(&["complete", "--emulator", "--model", SONNET_5, "--stream", "--json", "--events", "-c", "raw_debug=true", "Hi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.first().unwrap()["type"], "block_start");
    let done = lines.last().unwrap();
    assert_eq!((done["type"].as_str(), done["finish_reason"].as_str()), (Some("done"), Some("stop")), "{done}");
    assert_eq!(done["metadata"]["model"], SONNET_5, "{done}");
    let text: String = lines.iter().filter_map(|l| l["text"].as_str()).collect();
    assert_eq!(text, "Hello from the local Bedrock emulator! You said: Hi");
    assert_eq!(api_of(&out), "messages");
    let raw = sent(&out);
    assert!(raw["url"].as_str().unwrap().ends_with("/anthropic/v1/messages"), "{raw}");
    assert_eq!((&raw["body"]["model"], &raw["body"]["stream"]), (&serde_json::json!(SONNET_5), &serde_json::json!(true)), "{raw}");
}

#[test]
fn messages_api_json_names_the_model_and_effort_turns_on_adaptive_thinking() {
    let out = bedrock_host(&["complete", "--emulator", "--model", SONNET_5, "--json", "Hi"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints the ChatResponse");
    assert_eq!(response["metadata"]["model"], SONNET_5, "{response}");
    assert_eq!(response["finish_reason"], "stop", "{response}");
    assert_eq!(response["content"].as_array().unwrap().len(), 1, "no thinking unless asked: {response}");
    assert_eq!(response["content"][0]["type"], "text", "{response}");

    let out = bedrock_host(&[
        "complete",
        "--emulator",
        "--model",
        SONNET_5,
        "--effort",
        "high",
        "--json",
        "--events",
        "-c",
        "raw_debug=true",
        "Hi",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints the ChatResponse");
    let content = response["content"].as_array().unwrap();
    assert_eq!(content[0]["type"], "thinking", "the emulator thinks first when thinking is on: {response}");
    assert!(content[0]["signature"].as_str().is_some_and(|s| !s.is_empty()), "{response}");
    assert!(content[0]["thinking"].as_str().is_some_and(|s| !s.is_empty()), "summarized thinking is shown: {response}");
    assert_eq!(content.last().unwrap()["text"], "Hello from the local Bedrock emulator! You said: Hi", "{response}");
    assert_eq!(response["metadata"]["model"], SONNET_5, "{response}");
    let raw = sent(&out);
    assert!(raw["url"].as_str().unwrap().ends_with("/anthropic/v1/messages"), "{raw}");
    assert_eq!(raw["body"]["thinking"]["type"], "adaptive", "{raw}");
    assert_eq!(raw["body"]["output_config"]["effort"], "high", "{raw}");
}

#[test]
fn messages_api_tools_and_thinking_from_a_request_file() {
    let dir = std::env::temp_dir().join(format!("bedrock-cli-tools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("request.json");
    let request = serde_json::json!({
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{"name": "get_weather", "description": "Weather in a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
    });
    std::fs::write(&file, request.to_string()).unwrap();
    let out = bedrock_host(&[
        "complete",
        "--emulator",
        "--model",
        SONNET_5,
        "--effort",
        "medium",
        "--stream",
        "--json",
        "--events",
        "-c",
        "raw_debug=true",
        "--request",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_dir_all(&dir).ok();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events[0]["block"]["type"], "thinking", "it thinks first: {events:?}");
    assert_eq!(events.last().unwrap()["type"], "done", "{events:?}");
    let raw = sent(&out);
    assert!(raw["url"].as_str().unwrap().ends_with("/anthropic/v1/messages"), "{raw}");
    assert_eq!(raw["body"]["tools"][0]["name"], "get_weather", "{raw}");
    assert_eq!(raw["body"]["thinking"]["type"], "adaptive", "{raw}");
    assert_eq!(raw["body"]["output_config"]["effort"], "medium", "{raw}");
}

#[test]
fn messages_api_sonnet_4_6_in_tokyo_goes_to_invoke_model_with_its_jp_profile() {
    let out = bedrock_host(&[
        "complete",
        "--emulator",
        "--model",
        "anthropic.claude-sonnet-4-6",
        "--region",
        "ap-northeast-1",
        "--json",
        "--events",
        "-c",
        "raw_debug=true",
        "Konnichiwa",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let response: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints the ChatResponse");
    assert_eq!(response["metadata"]["model"], "jp.anthropic.claude-sonnet-4-6", "{response}");
    assert_eq!(api_of(&out), "invoke");
    let raw = sent(&out);
    assert!(raw["url"].as_str().unwrap().ends_with("/model/jp.anthropic.claude-sonnet-4-6/invoke"), "{raw}");
    assert_eq!(raw["body"]["anthropic_version"], "bedrock-2023-05-31", "{raw}");
}

/// `bedrock-host ARGS` with the AWS setup given in `env` and nothing of the caller's (no
/// AWS_* or ANTHROPIC_* variables, no ~/.aws files, no instance metadata).
async fn bedrock_host_with(args: &[&str], env: &[(&str, String)]) -> std::process::Output {
    let mut command = common::isolated_bedrock_host();
    command.args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    tokio::task::spawn_blocking(move || command.output().expect("bedrock-host runs")).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_api_endpoint_from_the_environment_with_a_bedrock_api_key() {
    let emu = bedrock_emulator::Emulator::start().await.unwrap();
    let key = ("AWS_BEARER_TOKEN_BEDROCK", bedrock_emulator::API_KEY.to_string());
    let region = ("AWS_REGION", "us-east-1".to_string());
    let bearer = format!("Bearer {}", bedrock_emulator::API_KEY);
    // The AWS SDKs' variable names the endpoint; Anthropic's SDKs' names the API base.
    for (n, endpoint) in [
        ("AWS_ENDPOINT_URL_BEDROCK_MANTLE", emu.endpoint_url()),
        ("ANTHROPIC_BEDROCK_MANTLE_BASE_URL", format!("{}/anthropic", emu.endpoint_url())),
    ]
    .into_iter()
    .enumerate()
    {
        let prompt = format!("Hi with a key via {}", endpoint.0);
        let out = bedrock_host_with(&["complete", "--model", SONNET_5, &prompt], &[endpoint.clone(), key.clone(), region.clone()]).await;
        assert!(out.status.success(), "{}: {}", endpoint.0, String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("Hello from the local Bedrock emulator! You said: {prompt}"));
        let requests = emu.requests();
        assert_eq!(requests.len(), n + 1, "{}: one call", endpoint.0);
        let r = requests.last().unwrap();
        assert_eq!(
            (r.path.as_str(), r.operation.as_deref(), r.model_id.as_deref()),
            ("/anthropic/v1/messages", Some("messages"), Some(SONNET_5)),
            "{}",
            endpoint.0
        );
        assert_eq!(r.header("authorization"), Some(bearer.as_str()), "{}: the API key, not a signature", endpoint.0);
        assert_eq!(r.auth_failure, None);
        assert_eq!(r.json()["model"], SONNET_5);
        assert!(!String::from_utf8_lossy(&out.stderr).contains(bedrock_emulator::API_KEY), "the key never shows");
    }

    // The same with --stream: server-sent events over the same endpoint.
    let endpoint = ("AWS_ENDPOINT_URL_BEDROCK_MANTLE", emu.endpoint_url());
    let out = bedrock_host_with(&["complete", "--model", SONNET_5, "--stream", "Streamed"], &[endpoint, key.clone(), region.clone()]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Streamed");
    let r = emu.requests().pop().unwrap();
    assert_eq!((r.path.as_str(), r.operation.as_deref()), ("/anthropic/v1/messages", Some("messages")));
    assert_eq!(r.json()["stream"], true);
    assert_eq!(r.header("authorization"), Some(bearer.as_str()));

    // Anthropic's variable without its /anthropic is refused before anything is sent.
    let before = emu.requests().len();
    let out = bedrock_host_with(
        &["complete", "--model", SONNET_5, "x"],
        &[("ANTHROPIC_BEDROCK_MANTLE_BASE_URL", emu.endpoint_url()), key, region],
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ending in /anthropic"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(emu.requests().len(), before);
}

#[test]
fn messages_api_models_lists_each_models_api() {
    let out = bedrock_host(&["models"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let models = String::from_utf8_lossy(&out.stdout).to_string();
    let api = |id: &str| -> Vec<String> {
        let line =
            models.lines().find(|l| l.split_whitespace().next() == Some(id)).unwrap_or_else(|| panic!("{id} is not listed: {models}"));
        line.split_whitespace().filter(|w| *w == "messages" || *w == "invoke").map(str::to_string).collect()
    };
    assert_eq!(api(SONNET_5), ["messages"]);
    assert_eq!(api("anthropic.claude-sonnet-4-6"), ["invoke"]);
    assert_eq!(api("anthropic.claude-sonnet-4-5-20250929-v1:0"), ["invoke"]);
}

#[test]
fn messages_api_the_standalone_emulator_says_how_to_use_it_and_serves_it() {
    use std::io::{BufRead, Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["emulator", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("bedrock-host emulator starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // It prints its banner, then runs until interrupted: read up to the Messages API line.
    let mut banner = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let last = line.starts_with("Messages API:");
        banner.push(line);
        if last || banner.len() > 20 {
            break;
        }
    }
    let text = banner.join("\n");
    let url = banner[0].rsplit(' ').next().unwrap().to_string();
    assert!(banner[0].starts_with("Bedrock emulator listening on http://127.0.0.1:"), "{text}");
    assert!(text.contains(&format!("AWS_BEARER_TOKEN_BEDROCK={}", bedrock_emulator::API_KEY)), "{text}");
    assert!(text.contains(&format!("AWS_ENDPOINT_URL_BEDROCK_MANTLE={url}")), "{text}");
    assert!(text.contains(SONNET_5), "{text}");
    assert!(text.contains("us-east-1"), "{text}");

    // What the banner says is enough to call it.
    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["complete", "--model", SONNET_5, "Hi from the banner"])
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_BEDROCK_MANTLE", &url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_BEARER_TOKEN_BEDROCK", bedrock_emulator::API_KEY)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .output()
        .unwrap();
    // What it received, from its control path.
    let recorded = (|| -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://"))?;
        write!(s, "GET /_emulator/requests HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut reply = String::new();
        s.read_to_string(&mut reply)?;
        Ok(reply)
    })();
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Hello from the local Bedrock emulator! You said: Hi from the banner");
    let reply = recorded.unwrap();
    let body = reply.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    let requests: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {reply}"));
    let r = &requests[0];
    assert_eq!(requests.as_array().unwrap().len(), 1, "{requests}");
    assert_eq!(
        (r["path"].as_str(), r["operation"].as_str(), r["model_id"].as_str()),
        (Some("/anthropic/v1/messages"), Some("messages"), Some(SONNET_5))
    );
    assert_eq!(r["body"]["model"], SONNET_5);
}

#[test]
fn chat_sends_effort_and_serve_refuses_options_it_cannot_apply() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["chat", "--emulator", "--model", SONNET_5, "--effort", "high", "--events"])
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"Hi\n/exit\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let requests: Vec<serde_json::Value> = events(&out).into_iter().filter(|(n, _)| n == "llm:request").map(|(_, d)| d).collect();
    assert_eq!(requests.len(), 1, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((requests[0]["effort"].as_str(), requests[0]["api"].as_str()), (Some("high"), Some("messages")), "{requests:?}");

    for flag in [["--effort", "high"], ["--system", "be brief"]] {
        let out = bedrock_host(&["serve", "--emulator", flag[0], flag[1]]);
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{} does not apply to `serve`", flag[0])));
    }
}
