//! CountTokens (`POST /model/{id}/count-tokens`), served per foundation model.

use base64::Engine as _;
use serde_json::Value;

use super::cache::input_tokens;
use super::models::{without_version, PROFILES};
use super::rules::check_body;

/// CountTokens (`POST /model/{id}/count-tokens`): the [`input_tokens`] of the InvokeModel
/// body it carries, checked as InvokeModel would check it; no cache, no model call.
pub(super) fn count_tokens(model_id: &str, raw: &[u8]) -> Result<u64, String> {
    // Counting is served per foundation model, by its bare id (or ARN); not per profile.
    let unsupported = || "The provided model doesn't support counting tokens.".to_string();
    let model = match model_id.strip_prefix("arn:") {
        Some(arn) => arn.split_once(":foundation-model/").map(|(_, m)| m).ok_or_else(unsupported)?,
        None => model_id,
    };
    if !model.starts_with("anthropic.") || !PROFILES.iter().any(|(m, _)| *m == without_version(model)) {
        return Err(unsupported());
    }
    let request: Value = serde_json::from_slice(raw).unwrap_or(Value::Null);
    let null_at =
        |field: &str| format!("1 validation error detected: Value null at '{field}' failed to satisfy constraint: Member must not be null");
    let input = request.get("input").filter(|i| !i.is_null()).ok_or_else(|| null_at("input"))?;
    let encoded = input["invokeModel"]["body"].as_str().ok_or_else(|| null_at("input.invokeModel.body"))?;
    // The emulator's wording for the two below, in the style of Bedrock's malformed-body errors.
    let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| {
        "Malformed input request: input.invokeModel.body is not valid base64, please reformat your input and try again.".to_string()
    })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|_| {
        "Malformed input request: input.invokeModel.body is not valid JSON, please reformat your input and try again.".to_string()
    })?;
    check_body(&body, model)?;
    Ok(input_tokens(&body))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::test_support::{count_request, request, text_of, SONNET_45};

    #[test]
    fn count_tokens_counts_a_checked_body_for_a_foundation_model() {
        let body = request(json!([{"role": "user", "content": "count my words please"}]), json!({"system": "Be brief."}));
        let model = "anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(count_tokens(model, &count_request(&body)), Ok(input_tokens(&body)));
        assert_eq!(
            count_tokens("arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-haiku-4-5-20251001-v1:0", &count_request(&body)),
            Ok(input_tokens(&body))
        );
        for refused in [
            SONNET_45,
            "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-v9",
            "meta.llama3-8b-instruct-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            assert_eq!(
                count_tokens(refused, &count_request(&body)).unwrap_err(),
                "The provided model doesn't support counting tokens.",
                "{refused}"
            );
        }
        assert_eq!(
            count_tokens(model, b"{}").unwrap_err(),
            "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null"
        );
        assert_eq!(
            count_tokens(model, br#"{"input": {"invokeModel": {}}}"#).unwrap_err(),
            "1 validation error detected: Value null at 'input.invokeModel.body' failed to satisfy constraint: Member must not be null"
        );
        assert!(count_tokens(model, br#"{"input": {"invokeModel": {"body": "%%%"}}}"#).unwrap_err().contains("not valid base64"));
        assert!(count_tokens(model, br#"{"input": {"invokeModel": {"body": "bm90IGpzb24="}}}"#).unwrap_err().contains("not valid JSON"));
        let mut streaming = body.clone();
        streaming["stream"] = json!(true);
        assert!(count_tokens(model, &count_request(&streaming)).unwrap_err().contains("extraneous key [stream]"));
        let huge = request(json!([{"role": "user", "content": text_of(250_000)}]), json!({}));
        assert_eq!(count_tokens(model, &count_request(&huge)), Ok(250_003), "counting has no context limit");
    }
}
