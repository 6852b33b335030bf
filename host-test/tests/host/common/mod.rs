//! Shared fixtures: one compiled component per test process, emulator wiring, a test run alone
//! in its own process, and types shaped exactly like the Amplifier kernel's, to check our JSON
//! against.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use bedrock_emulator::{self as emulator, Emulator};
use bedrock_host::{Credentials, Provider};

/// The component compiled once per test process (cached on disk across processes).
pub fn base() -> &'static Provider {
    static BASE: OnceLock<Provider> = OnceLock::new();
    BASE.get_or_init(|| {
        Provider::builder()
            .cache_dir(Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache")))
            .build()
            .expect("the component loads")
    })
}

/// The emulator's working credentials.
pub fn emulator_credentials() -> Credentials {
    Credentials::Aws {
        access_key_id: emulator::ACCESS_KEY_ID.into(),
        secret_access_key: emulator::SECRET_ACCESS_KEY.into(),
        session_token: None,
    }
}

/// A provider (sharing the compiled component) configured for `emu` in us-east-1, for both
/// of Bedrock's APIs.
pub fn against(emu: &Emulator) -> Provider {
    let p = base().fork();
    p.set_config("endpoint_url", emu.endpoint_url());
    p.set_config("mantle_endpoint_url", emu.endpoint_url());
    p.set_config("aws_region", "us-east-1");
    p.set_credentials(Some(emulator_credentials()));
    p
}

/// `bedrock-host` with none of the caller's AWS setup: no `AWS_*` or `ANTHROPIC_*` variables,
/// no `~/.aws` files, no instance metadata; the tests' compile cache. Each test adds the setup
/// it means to give.
pub fn isolated_bedrock_host() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_bedrock-host"));
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") || name.starts_with("ANTHROPIC_") {
            command.env_remove(name);
        }
    }
    command
        .env("BEDROCK_HOST_CACHE_DIR", PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("component-cache"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials");
    command
}

/// The port a `bedrock-host serve` child announces on its first stdout line (`READY:<port>`;
/// anything else fails the test), and the rest of its stdout.
pub fn serve_port(child: &mut std::process::Child) -> (u16, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("serve's stdout is piped"));
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let port = first.trim().strip_prefix("READY:").and_then(|p| p.parse().ok());
    (port.unwrap_or_else(|| panic!("the first stdout line is {first:?}")), stdout)
}

/// Runs the test named `test` (its full path, `module::name`) alone in a child process of
/// this test binary, for a test that touches what the whole process shares: it sets
/// environment variables (which other threads read, and setting them while they do is
/// undefined behaviour), or measures this process's memory (which the other tests running
/// beside it would grow). Returns `true` in that child, where the caller runs the test's body;
/// in the test run itself it starts the child, fails unless the child's one test passed, and
/// returns `false` (the caller returns).
pub fn in_own_process(test: &str) -> bool {
    const ALONE: &str = "BEDROCK_HOST_TEST_ALONE";
    if std::env::var_os(ALONE).is_some_and(|v| v == test) {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
        .args([test, "--exact", "--test-threads=1", "--nocapture"])
        .env(ALONE, test)
        .output()
        .expect("the test binary runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprint!("{stderr}");
    assert!(out.status.success() && stdout.contains("test result: ok. 1 passed"), "{test} alone in its own process:\n{stdout}\n{stderr}");
    false
}

/// `testdata/<rel>` at the workspace root.
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("testdata").join(rel)
}

/// A recorded response of testdata/responses, as the emulator's next answer.
pub fn vector(name: &str) -> bedrock_emulator::Scripted {
    bedrock_emulator::Scripted::from_vector(&testdata(&format!("responses/{name}.json"))).unwrap()
}

/// The data of each event called `name` a call emitted, in order.
pub fn events_of(record: &bedrock_host::CallRecord, name: &str) -> Vec<serde_json::Value> {
    record.events.iter().filter(|e| e.name == name).map(|e| e.data.clone()).collect()
}

/// The text of a ChatResponse's blocks, joined.
pub fn text_of(response: &serde_json::Value) -> String {
    response["content"].as_array().into_iter().flatten().filter_map(|b| b["text"].as_str()).collect()
}

/// A one-message request.
pub fn hello(text: &str) -> serde_json::Value {
    serde_json::json!({"messages": [{"role": "user", "content": text}]})
}

/// Streams `request` through `p` and returns its `done` event.
pub async fn stream_done(p: &Provider, request: &serde_json::Value) -> serde_json::Value {
    let mut done = serde_json::Value::Null;
    p.stream(request, |e| {
        if e["type"] == "done" {
            done = e;
        }
    })
    .await
    .expect("the stream ends with `done`");
    done
}

/// Types with the kernel's field names, requiredness and tagging (Amplifier's
/// `messages.rs` / `models.rs`), written here to check the component's output against.
pub mod upstream {
    use std::collections::HashMap;

    use serde::Deserialize;
    use serde_json::Value;

    #[derive(Debug, Deserialize)]
    #[serde(tag = "type")]
    pub enum ContentBlock {
        #[serde(rename = "text")]
        Text { text: String },
        #[serde(rename = "thinking")]
        Thinking { thinking: String, signature: Option<String> },
        #[serde(rename = "redacted_thinking")]
        RedactedThinking { data: String },
        #[serde(rename = "tool_call")]
        ToolCall { id: String, name: String, input: HashMap<String, Value> },
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Usage {
        pub input_tokens: i64,
        pub output_tokens: i64,
        pub total_tokens: i64,
        pub reasoning_tokens: Option<i64>,
        pub cache_read_tokens: Option<i64>,
        pub cache_write_tokens: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ToolCall {
        pub id: String,
        pub name: String,
        pub arguments: HashMap<String, Value>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ChatResponse {
        pub content: Vec<ContentBlock>,
        pub tool_calls: Option<Vec<ToolCall>>,
        pub usage: Option<Usage>,
        pub degradation: Option<Value>,
        pub finish_reason: Option<String>,
        pub metadata: Option<HashMap<String, Value>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ConfigField {
        pub id: String,
        pub display_name: String,
        pub field_type: String,
        pub prompt: String,
        pub env_var: Option<String>,
        pub choices: Option<Vec<String>>,
        pub required: bool,
        #[serde(rename = "default")]
        pub default_value: Option<String>,
        pub show_when: Option<HashMap<String, String>>,
        pub requires_model: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ProviderInfo {
        pub id: String,
        pub display_name: String,
        pub credential_env_vars: Vec<String>,
        pub capabilities: Vec<String>,
        pub defaults: HashMap<String, Value>,
        pub config_fields: Vec<ConfigField>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct ModelInfo {
        pub id: String,
        pub display_name: String,
        pub context_window: i64,
        pub max_output_tokens: i64,
        pub capabilities: Vec<String>,
        pub defaults: HashMap<String, Value>,
        pub cost_per_input_token: Option<f64>,
        pub cost_per_output_token: Option<f64>,
        pub metadata: HashMap<String, Value>,
    }
}
