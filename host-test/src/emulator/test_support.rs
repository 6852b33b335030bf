//! Helpers the emulator's unit tests share: request bodies, model ids, headers.

use base64::Engine as _;
use serde_json::{json, Value};

/// A request body for `model` with these messages and extra fields.
pub(super) fn request(messages: Value, extra: Value) -> Value {
    let mut b = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 8192, "messages": messages});
    for (k, v) in extra.as_object().into_iter().flatten() {
        b[k] = v.clone();
    }
    b
}

/// `n` words of text.
pub(super) fn text_of(n: usize) -> String {
    vec!["lorem"; n].join(" ")
}

pub(super) const SONNET_45: &str = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
pub(super) const SONNET_4: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";
pub(super) const HAIKU_45: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";

/// Headers as a request carries them (names lower-cased).
pub(super) fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A CountTokens request body carrying `body`.
pub(super) fn count_request(body: &Value) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(body.to_string());
    json!({"input": {"invokeModel": {"body": encoded}}}).to_string().into_bytes()
}
