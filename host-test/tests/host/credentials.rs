//! The host's AWS credential chain and CLI, run as a user would: the `bedrock-host` binary
//! with a clean environment and temporary AWS config files, against the emulator (which also
//! plays STS). Instance metadata is disabled so nothing leaves the machine.
//!
//! SSO and web identity need a token issuer or an OIDC token and are not exercised offline;
//! aws-config handles them, and their failures get the same `auth:` explanations.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use bedrock_emulator::{self as emulator, Emulator};

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new(config: &str, credentials: &str) -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        std::fs::write(dir.path().join(".aws/config"), config).unwrap();
        std::fs::write(dir.path().join(".aws/credentials"), credentials).unwrap();
        Home { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Runs `bedrock-host` with only the given environment (plus HOME, PATH and safety switches).
async fn run(home: &Home, env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bedrock-host"));
    cmd.env_clear()
        .env("HOME", home.path())
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("BEDROCK_HOST_CACHE_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let input = stdin.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().expect("bedrock-host starts");
        if let Some(text) = input {
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn environment_credentials_and_region() {
    let emu = Emulator::start().await.unwrap();
    let home = Home::new("", "");
    let url = emu.endpoint_url();
    let env = [
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY),
        ("AWS_REGION", "us-west-2"),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url.as_str()),
    ];
    let out = run(&home, &env, &["complete", "Hello"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "Hello from the local Bedrock emulator! You said: Hello");
    let r = &emu.requests()[0];
    assert_eq!(r.auth_failure, None);
    assert!(r.header("authorization").unwrap().contains("/us-west-2/bedrock/aws4_request"));

    // A session token from the environment signs too; AWS_DEFAULT_REGION stands in for AWS_REGION.
    let env = [
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", "session-token-from-the-environment"),
        ("AWS_DEFAULT_REGION", "eu-west-1"),
        ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url.as_str()),
    ];
    let out = run(&home, &env, &["complete", "Hello"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &emu.requests()[1];
    assert_eq!(r.auth_failure, None);
    assert_eq!(r.header("x-amz-security-token"), Some("session-token-from-the-environment"));
    assert!(r.header("authorization").unwrap().contains("/eu-west-1/bedrock/aws4_request"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_named_static_profile_supplies_keys_and_region() {
    let emu = Emulator::start().await.unwrap();
    let home = Home::new(
        "[profile work]\nregion = eu-west-1\n",
        &format!("[work]\naws_access_key_id = {}\naws_secret_access_key = {}\n", emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY),
    );
    let url = emu.endpoint_url();
    let out = run(&home, &[("AWS_ENDPOINT_URL", url.as_str())], &["complete", "--profile", "work", "Hi"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &emu.requests()[0];
    assert_eq!(r.auth_failure, None);
    assert_eq!(r.model_id.as_deref(), Some("eu.anthropic.claude-sonnet-4-5-20250929-v1:0"), "the profile's region picks the eu. profile");
    // AWS_PROFILE works the same way.
    let out = run(&home, &[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_PROFILE", "work")], &["complete", "Hi"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_assume_role_chain_through_a_local_sts() {
    let emu = Emulator::start().await.unwrap();
    let config = "[profile base]\nregion = us-east-1\n\n[profile dev]\nrole_arn = arn:aws:iam::123456789012:role/dev\nsource_profile = base\nregion = us-east-1\n";
    let credentials =
        format!("[base]\naws_access_key_id = {}\naws_secret_access_key = {}\n", emulator::ACCESS_KEY_ID, emulator::SECRET_ACCESS_KEY);
    let home = Home::new(config, &credentials);
    let url = emu.endpoint_url();
    let env = [("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url.as_str()), ("AWS_ENDPOINT_URL_STS", url.as_str())];
    let out = run(&home, &env, &["complete", "--profile", "dev", "Hi"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let requests = emu.requests();
    let sts = requests.iter().find(|r| r.path == "/").expect("STS AssumeRole was called");
    assert_eq!(sts.auth_failure, None, "signed with the source profile's keys");
    assert!(String::from_utf8_lossy(&sts.body).contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdev"));
    let bedrock = requests.iter().find(|r| r.operation.is_some()).unwrap();
    assert_eq!(
        bedrock.header("x-amz-security-token"),
        Some(emulator::STS_SESSION_TOKEN),
        "the assumed role's session credentials signed the call"
    );
    assert_eq!(bedrock.auth_failure, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn troubleshooting_errors_say_what_to_do() {
    let emu = Emulator::start().await.unwrap();
    let url = emu.endpoint_url();
    let home = Home::new("[profile work]\nregion = eu-west-1\n", "");
    let out =
        run(&home, &[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_REGION", "us-east-1")], &["complete", "--profile", "nope", "Hi"], None)
            .await;
    assert_eq!(out.status.code(), Some(77), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.starts_with("auth: AWS profile `nope` was not found in "), "{e}");
    assert!(e.contains(".aws/config") && e.contains(".aws/credentials"), "{e}");

    let out = run(&home, &[("AWS_ENDPOINT_URL", url.as_str()), ("AWS_REGION", "us-east-1")], &["complete", "Hi"], None).await;
    assert_eq!(out.status.code(), Some(77));
    assert!(stderr(&out).starts_with("auth: no AWS credentials found"), "{}", stderr(&out));
    assert!(stderr(&out).contains("aws configure"), "{}", stderr(&out));

    let env = [
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY),
        ("AWS_ENDPOINT_URL", url.as_str()),
    ];
    let out = run(&home, &env, &["complete", "Hi"], None).await;
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).starts_with("config: no AWS region is configured"), "{}", stderr(&out));

    let out = run(&home, &[("AWS_ENDPOINT_URL", "http://bedrock.example.com")], &["complete", "Hi"], None).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("plain http is allowed only to loopback"), "{}", stderr(&out));
    assert!(emu.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bedrock_api_key_from_the_environment() {
    let emu = Emulator::start().await.unwrap();
    let home = Home::new("", "");
    let url = emu.endpoint_url();
    let env =
        [("AWS_BEARER_TOKEN_BEDROCK", emulator::API_KEY), ("AWS_REGION", "us-east-1"), ("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", url.as_str())];
    let out = run(&home, &env, &["complete", "Hi"], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(emu.requests()[0].header("authorization"), Some(format!("Bearer {}", emulator::API_KEY).as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn request_files_config_files_thinking_events_and_chat() {
    let home = Home::new("", "");
    let request = home.path().join("request.json");
    std::fs::write(&request, r#"{"messages": [{"role": "user", "content": "from a file"}]}"#).unwrap();
    let out = run(&home, &[], &["complete", "--emulator", "--request", request.to_str().unwrap()], None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("You said: from a file"));
    let out = run(
        &home,
        &[],
        &["complete", "--emulator", "--request", "-"],
        Some(r#"{"messages": [{"role": "user", "content": "from stdin"}]}"#),
    )
    .await;
    assert!(stdout(&out).contains("You said: from stdin"), "{}", stderr(&out));

    let toml = home.path().join("bedrock.toml");
    std::fs::write(&toml, "temperature = \"hot\"\n").unwrap();
    let out = run(&home, &[], &["complete", "--emulator", "--config-file", toml.to_str().unwrap(), "x"], None).await;
    assert_eq!(out.status.code(), Some(78));
    assert!(stderr(&out).starts_with("config: `temperature` is \"hot\""), "{}", stderr(&out));
    std::fs::write(&toml, "max_tokens = 2048\ndebug = true\n").unwrap();
    let out =
        run(&home, &[], &["complete", "--emulator", "--config-file", toml.to_str().unwrap(), "--thinking", "1024", "--events", "x"], None)
            .await;
    assert!(out.status.success(), "{}", stderr(&out));
    let events: Vec<serde_json::Value> = stderr(&out).lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let debug = events.iter().find(|e| e["event"] == "llm:request:debug").expect("debug=true from the config file");
    assert_eq!(debug["data"]["request"]["max_tokens"], 2048);
    assert_eq!(debug["data"]["request"]["thinking"]["budget_tokens"], 1024);
    assert!(events.iter().any(|e| e["event"] == "llm:response"));

    let out = run(&home, &[], &["chat", "--emulator", "--events"], Some("Hello\nAgain\n/exit\n")).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let answers: Vec<&str> = printed.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(
        answers,
        ["Hello from the local Bedrock emulator! You said: Hello", "Hello from the local Bedrock emulator! You said: Again"]
    );
    let requests: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "llm:request")
        .collect();
    assert_eq!(requests[1]["data"]["message_count"], 3, "the second turn carries the history");
}
