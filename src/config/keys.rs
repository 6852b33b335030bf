//! The one key table ([`KEYS`]): every config key's name, environment fallbacks, default, type
//! and help, and what is derived from it (secrets, defaults, unknown-key warnings, parsing of
//! numbers and booleans).

use crate::models::API_CHOICES;
use crate::models::{CACHE_TTLS, DEFAULT_MODEL};

/// Whether `key` holds a credential ([`KeyType::Secret`] in [`KEYS`]): hosts keep such values
/// out of logs, listings and statuses.
pub fn is_secret(key: &str) -> bool {
    KEYS.iter().any(|k| k.name == key && k.ty == KeyType::Secret)
}

/// The kind of value a config key takes; drives parsing and the ProviderInfo field type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyType {
    /// Free text.
    Text,
    /// A credential: never echoed in errors, events or `Debug` output.
    Secret,
    /// `true` / `false` (also accepts 1/0, yes/no, on/off).
    Boolean,
    /// A positive whole number.
    PositiveInteger,
    /// A whole number, zero allowed.
    Count,
    /// A decimal number in a range.
    Number,
    /// One of a fixed set of words (compared without regard to case).
    Choice(&'static [&'static str]),
}

/// The values of `guardrail_trace`, as Bedrock's `X-Amzn-Bedrock-Trace` header takes them.
pub const GUARDRAIL_TRACES: &[&str] = &["disabled", "enabled", "enabled_full"];
/// The values of `thinking_display`: how adaptive thinking shows its thinking (Anthropic's
/// `thinking.display`; platform.claude.com's adaptive-thinking docs, anthropic-sdk-python's
/// `ThinkingConfigAdaptiveParam`).
pub const THINKING_DISPLAYS: &[&str] = &["summarized", "omitted"];
/// Most continuation rounds `max_continuations` allows: each round re-sends the whole
/// conversation, so more would multiply the input cost of one answer.
pub const MAX_CONTINUATIONS: u32 = 10;

/// One configuration key: its name, environment fallbacks, default and meaning.
///
/// Rows exist only in [`KEYS`], the one table parsing, ProviderInfo and the README follow;
/// code outside this crate reads them through the accessors.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ConfigKey {
    /// The key in `wasi:config/store` and in Amplifier mount-plan config.
    pub(crate) name: &'static str,
    /// Environment variables consulted, in order, when the key is not in the config store.
    pub(crate) env: &'static [&'static str],
    /// The default as text, when there is one.
    pub(crate) default: Option<&'static str>,
    /// How the value is parsed.
    pub(crate) ty: KeyType,
    /// Human-readable label.
    pub(crate) label: &'static str,
    /// What the key does; shown in ProviderInfo prompts and the README.
    pub(crate) help: &'static str,
}

impl ConfigKey {
    /// The key in `wasi:config/store` and in Amplifier mount-plan config.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Environment variables consulted, in order, when the key is not in the config store.
    pub const fn env(&self) -> &'static [&'static str] {
        self.env
    }

    /// The default as text, when there is one.
    pub const fn default(&self) -> Option<&'static str> {
        self.default
    }

    /// How the value is parsed.
    pub const fn ty(&self) -> KeyType {
        self.ty
    }

    /// Human-readable label.
    pub const fn label(&self) -> &'static str {
        self.label
    }

    /// What the key does; shown in ProviderInfo prompts and the README.
    pub const fn help(&self) -> &'static str {
        self.help
    }
}

/// Every key the component reads. The single source for parsing, ProviderInfo and docs.
pub const KEYS: &[ConfigKey] = &[
    ConfigKey { name: "aws_region", env: &["AWS_REGION", "AWS_DEFAULT_REGION"], default: None, ty: KeyType::Text, label: "AWS region", help: "AWS region of the Bedrock endpoint, e.g. us-east-1" },
    ConfigKey { name: "aws_profile", env: &["AWS_PROFILE"], default: None, ty: KeyType::Text, label: "AWS profile", help: "Named profile the host resolves credentials from (information only inside the component)" },
    ConfigKey { name: "default_model", env: &[], default: Some(DEFAULT_MODEL), ty: KeyType::Text, label: "Default model", help: "Bedrock model id used when a request names none" },
    ConfigKey { name: "api", env: &[], default: Some("auto"), ty: KeyType::Choice(API_CHOICES), label: "Bedrock API", help: "Bedrock API for calls: auto (the model catalog decides), invoke (InvokeModel, bedrock-runtime) or messages (the Messages API, bedrock-mantle)" },
    ConfigKey { name: "use_cross_region_inference", env: &[], default: Some("true"), ty: KeyType::Boolean, label: "Cross-region inference", help: "Call the cross-region inference profile (us., eu., apac., …) for the region instead of the bare model id" },
    ConfigKey { name: "max_tokens", env: &[], default: Some("8192"), ty: KeyType::PositiveInteger, label: "Max output tokens", help: "Output token limit when a request sets none (capped at the model's maximum)" },
    ConfigKey { name: "temperature", env: &[], default: Some("1.0"), ty: KeyType::Number, label: "Temperature", help: "Sampling temperature from 0.0 to 1.0 when a request sets none" },
    ConfigKey { name: "timeout", env: &[], default: Some("300"), ty: KeyType::Number, label: "Timeout (seconds)", help: "Limit for a non-streamed answer, and for a stream's first byte, in seconds" },
    ConfigKey { name: "stream_idle_timeout", env: &[], default: Some("120"), ty: KeyType::Number, label: "Stream idle timeout (seconds)", help: "Longest silence allowed in a stream once it has started; a stream that keeps delivering is never cut off" },
    ConfigKey { name: "repair_tool_sequences", env: &[], default: Some("false"), ty: KeyType::Boolean, label: "Repair tool sequences", help: "Answer a tool call left without a result (an interrupted turn) with a synthetic error result instead of refusing the request" },
    ConfigKey { name: "thinking_budget_tokens", env: &[], default: Some("0"), ty: KeyType::Count, label: "Thinking budget (tokens)", help: "Extended thinking budget when a request asks for none (0: off; at least 1024 when on)" },
    ConfigKey { name: "connect_timeout", env: &[], default: Some("10"), ty: KeyType::Number, label: "Connect timeout (seconds)", help: "Names a connection timeout the host reports; wasi:http gives the component no signal when a connection is up, so connecting counts toward first_byte_timeout" },
    ConfigKey { name: "first_byte_timeout", env: &[], default: Some("300"), ty: KeyType::Number, label: "First-byte timeout (seconds)", help: "Limit for Bedrock's response headers, connecting included, enforced by the component (a non-streamed answer arrives only once generated)" },
    ConfigKey { name: "between_bytes_timeout", env: &[], default: Some("60"), ty: KeyType::Number, label: "Between-bytes timeout (seconds)", help: "Longest silence allowed between two chunks of the answer" },
    ConfigKey { name: "max_retries", env: &["AWS_MAX_ATTEMPTS"], default: Some("3"), ty: KeyType::Count, label: "Max retries", help: "Retries after throttling, service unavailable, internal errors, model not ready and connection failures (never validation or auth errors)" },
    ConfigKey { name: "retry_budget", env: &[], default: Some("60"), ty: KeyType::Number, label: "Retry budget (seconds)", help: "Most total time spent waiting between retries" },
    ConfigKey { name: "enable_prompt_caching", env: &[], default: Some("true"), ty: KeyType::Boolean, label: "Prompt caching", help: "Mark the system prompt, the last tool definition and the last user message as cache points (at most 4 in all, the caller's own `cache_control` marks kept) on models that support caching; later calls with the same prefix read it from the cache" },
    ConfigKey { name: "prompt_cache_ttl", env: &[], default: Some("5m"), ty: KeyType::Choice(CACHE_TTLS), label: "Prompt cache lifetime", help: "Lifetime of the cache points this provider places: 5m, or 1h on the models Bedrock offers 1-hour caching for (others keep 5m, reported in degradation)" },
    ConfigKey { name: "guardrail_identifier", env: &[], default: None, ty: KeyType::Text, label: "Guardrail identifier", help: "Bedrock Guardrail id or ARN applied to every call (sent as X-Amzn-Bedrock-GuardrailIdentifier); an intervention ends the answer with finish_reason content_filter" },
    ConfigKey { name: "guardrail_version", env: &[], default: None, ty: KeyType::Text, label: "Guardrail version", help: "Version of the guardrail: DRAFT or a version number; required with guardrail_identifier" },
    ConfigKey { name: "guardrail_trace", env: &[], default: Some("disabled"), ty: KeyType::Choice(GUARDRAIL_TRACES), label: "Guardrail trace", help: "disabled, enabled or enabled_full: whether Bedrock returns the guardrail's assessment, reported in the response metadata as guardrail_trace" },
    ConfigKey { name: "max_continuations", env: &[], default: Some("0"), ty: KeyType::Count, label: "Max continuations", help: "When an answer stops at max_tokens, continue it up to this many times and return one stitched answer (0: off; never after a tool call or while thinking; at most 10)" },
    ConfigKey { name: "enable_long_context", env: &[], default: Some("false"), ty: KeyType::Boolean, label: "1M-token context", help: "Send Anthropic's 1M-token context beta on the models that offer it on Bedrock (Claude Sonnet 4.5 and Sonnet 4); other models keep their window, reported in degradation" },
    ConfigKey { name: "thinking_display", env: &[], default: Some("summarized"), ty: KeyType::Choice(THINKING_DISPLAYS), label: "Thinking display", help: "summarized or omitted: the thinking text adaptive thinking returns (thinking.display)" },
    ConfigKey { name: "stream_events", env: &[], default: Some("true"), ty: KeyType::Boolean, label: "Stream events", help: "Emit llm:stream_block_start / _delta / _end (and llm:stream_thinking_delta) hook events while an answer streams; off saves one event line per delta when nothing listens" },
    ConfigKey { name: "debug", env: &[], default: Some("false"), ty: KeyType::Boolean, label: "Debug events", help: "Emit llm:request:debug and llm:response:debug events" },
    ConfigKey { name: "raw_debug", env: &[], default: Some("false"), ty: KeyType::Boolean, label: "Raw debug events", help: "Emit llm:request:raw and llm:response:raw events with complete bodies (secrets redacted)" },
    ConfigKey { name: "endpoint_url", env: &["AWS_ENDPOINT_URL_BEDROCK_RUNTIME", "AWS_ENDPOINT_URL"], default: None, ty: KeyType::Text, label: "Endpoint URL", help: "Bedrock Runtime endpoint override, e.g. a VPC endpoint or a local emulator" },
    ConfigKey { name: "mantle_endpoint_url", env: &["AWS_ENDPOINT_URL_BEDROCK_MANTLE", "ANTHROPIC_BEDROCK_MANTLE_BASE_URL", "AWS_ENDPOINT_URL"], default: None, ty: KeyType::Text, label: "Messages API endpoint URL", help: "Bedrock Messages API (bedrock-mantle) endpoint override, e.g. a local emulator" },
    ConfigKey { name: "aws_access_key_id", env: &["AWS_ACCESS_KEY_ID"], default: None, ty: KeyType::Secret, label: "AWS access key id", help: "Access key id of the credentials to sign with" },
    ConfigKey { name: "aws_secret_access_key", env: &["AWS_SECRET_ACCESS_KEY"], default: None, ty: KeyType::Secret, label: "AWS secret access key", help: "Secret access key of the credentials to sign with" },
    ConfigKey { name: "aws_session_token", env: &["AWS_SESSION_TOKEN"], default: None, ty: KeyType::Secret, label: "AWS session token", help: "Session token of temporary credentials (SSO, assumed roles)" },
    ConfigKey { name: "aws_bearer_token_bedrock", env: &["AWS_BEARER_TOKEN_BEDROCK"], default: None, ty: KeyType::Secret, label: "Bedrock API key", help: "Bedrock API key; sent as a bearer token instead of a SigV4 signature" },
];

/// Looks a key up in [`KEYS`]; panics only on a typo in this crate, caught by the unit tests.
pub(super) fn key(name: &str) -> &'static ConfigKey {
    KEYS.iter().find(|k| k.name == name).unwrap_or_else(|| unreachable!("config key {name} is not declared in KEYS"))
}

/// A config value read as a decimal number (`0.7`, `600`, `1e3`), in JSON's number syntax.
///
/// Read by serde_json's number parser, which the component has anyway, not `str::parse::<f64>`:
/// core's correctly rounded parser brings about 15 KB of tables, and config values are short
/// decimals on which the two agree.
pub fn parse_number(text: &str) -> Option<f64> {
    serde_json::from_str::<f64>(text.trim()).ok()
}

/// The `defaults` of ProviderInfo and ModelInfo, from [`KEYS`].
pub fn model_defaults() -> serde_json::Value {
    let number = |name: &str| key(name).default.and_then(parse_number);
    serde_json::json!({"max_tokens": number("max_tokens").map(|n| n as u64), "temperature": number("temperature")})
}

/// Keys in the config store that no [`ConfigKey`] declares, each with the closest declared
/// key when one is near enough to be a likely typo.
pub fn unknown_keys(present: &[String]) -> Vec<(String, Option<&'static str>)> {
    present
        .iter()
        .filter(|k| !KEYS.iter().any(|d| d.name == k.as_str()))
        .map(|k| {
            let best = KEYS.iter().map(|d| (edit_distance(&k.to_ascii_lowercase(), d.name), d.name)).min();
            let near = best.filter(|(d, _)| *d <= 2.max(k.len() / 3)).map(|(_, name)| name);
            (k.clone(), near)
        })
        .collect()
}

/// Levenshtein distance over bytes (keys are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb { prev } else { 1 + prev.min(row[j]).min(cur) };
            prev = cur;
        }
    }
    row[b.len()]
}

/// Parses the boolean spellings people use in config files and environment variables.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}
