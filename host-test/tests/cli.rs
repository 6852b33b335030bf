//! The `bedrock-host` binary: the README's run command and exit codes.

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
fn provider_errors_exit_1_and_usage_errors_exit_2() {
    let out = bedrock_host(&["complete", "--emulator", "-c", "temperature=hot", "Hello"]);
    assert_eq!(out.status.code(), Some(1));
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
    assert!(creds.contains(bedrock_host::emulator::ACCESS_KEY_ID));

    let out = Command::new(env!("CARGO_BIN_EXE_bedrock-host"))
        .args(["complete", "Hi there"])
        .env("BEDROCK_HOST_CACHE_DIR", std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", bedrock_host::emulator::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", bedrock_host::emulator::SECRET_ACCESS_KEY)
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
