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
    let out = bedrock_host(&["info", "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["id"], "bedrock");
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
