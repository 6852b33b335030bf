//! The Claude models the emulator knows, and the forms of their ids.

/// The Claude models Bedrock serves only through inference profiles, with the profiles each
/// has (the emulator's own copy of Bedrock's list, independent of the component's table).
pub(super) const PROFILES: &[(&str, &[&str])] = &[
    ("anthropic.claude-sonnet-4-5-20250929", &["us", "us-gov", "eu", "jp", "au", "global"]),
    ("anthropic.claude-haiku-4-5-20251001", &["us", "eu", "jp", "au", "global"]),
    ("anthropic.claude-opus-4-5-20251101", &["us", "eu", "global"]),
    ("anthropic.claude-opus-4-1-20250805", &["us"]),
    ("anthropic.claude-sonnet-4-20250514", &["us", "eu", "apac", "global"]),
    ("anthropic.claude-opus-4-20250514", &["us"]),
];

/// `anthropic.claude-sonnet-4-5-20250929` from `anthropic.claude-sonnet-4-5-20250929-v1:0`.
pub(super) fn without_version(id: &str) -> &str {
    id.rsplit_once("-v").map(|(b, _)| b).unwrap_or(id)
}

/// `claude-sonnet-4-5-20250929` from `us.anthropic.claude-sonnet-4-5-20250929-v1:0`.
pub(super) fn bare_model(model_id: &str) -> String {
    let tail = model_id.rsplit('/').next().unwrap_or(model_id);
    let after_vendor = tail.split_once("anthropic.").map(|(_, r)| r).unwrap_or(tail);
    after_vendor.split("-v").next().unwrap_or(after_vendor).to_string()
}
