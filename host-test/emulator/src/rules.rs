//! Bedrock's request rules: everything it checks on an InvokeModel call before the model runs
//! (the model id against the inference profiles, the guardrail headers, the body with
//! Anthropic's rules on messages, thinking, betas and cache breakpoints, the context window),
//! with the messages Bedrock answers.

use serde_json::{Map, Value};

use super::cache::{input_tokens, pieces};
use super::guardrail::guardrail;
use super::models::{bare_model, without_version, ON_DEMAND, PROFILES};

/// The most blocks one request may mark with `cache_control` (Anthropic's limit).
const MAX_CACHE_BREAKPOINTS: usize = 4;

/// Models with the 1-hour cache TTL on Bedrock; on others `ttl` is not part of the schema.
const ONE_HOUR_CACHE_MODELS: &[&str] = &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"];

/// The `anthropic_beta` flag that raises the context window to [`CONTEXT_WINDOW_1M`].
pub(super) const CONTEXT_1M_BETA: &str = "context-1m-2025-08-07";
/// Models that accept [`CONTEXT_1M_BETA`] (Sonnet 4.5 and Sonnet 4), by bare-model prefix.
const CONTEXT_1M_MODELS: &[&str] = &["claude-sonnet-4-5", "claude-sonnet-4-20250514"];
/// Context window without and with [`CONTEXT_1M_BETA`], in input tokens.
const CONTEXT_WINDOW: u64 = 200_000;
/// See [`CONTEXT_WINDOW`].
const CONTEXT_WINDOW_1M: u64 = 1_000_000;

/// The `anthropic_beta` flags Bedrock documents for Claude; any other is an invalid beta flag
/// (on the Messages API too, where they come in the `anthropic-beta` header).
pub(super) const KNOWN_BETAS: &[&str] = &[
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "token-efficient-tools-2025-02-19",
    "interleaved-thinking-2025-05-14",
    "output-128k-2025-02-19",
    "dev-full-thinking-2025-05-14",
    CONTEXT_1M_BETA,
    "context-management-2025-06-27",
    "effort-2025-11-24",
    "tool-search-tool-2025-10-19",
    "tool-examples-2025-10-29",
];

/// Models that refuse `temperature` together with `top_p` (Bedrock's 4.5 models and Opus 4.1).
pub(super) const ONE_OF_TEMPERATURE_TOP_P: &[&str] = &["claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5", "claude-opus-4-1"];

/// Bedrock's checks on the model id: a profile must exist for the model and be callable from
/// the signing region; a profile-only model cannot be called by its bare id. `None` when fine.
fn check_model_id(id: &str, headers: &[(String, String)]) -> Option<(u16, &'static str, String)> {
    if id.starts_with("arn:") {
        return None;
    }
    let invalid = || Some((400, "ValidationException", "The provided model identifier is invalid.".to_string()));
    let (prefix, bare) = match id.split_once('.') {
        Some((p, rest)) if ["us", "us-gov", "eu", "apac", "jp", "au", "global"].contains(&p) => (Some(p), rest),
        _ => (None, id),
    };
    let base = without_version(bare);
    let Some((_, profiles)) = PROFILES.iter().find(|(m, _)| *m == base) else { return invalid() };
    if prefix.is_none() && ON_DEMAND.contains(&base) {
        return None;
    }
    let Some(prefix) = prefix else {
        return Some((400, "ValidationException", format!(
            "Invocation of model ID {id} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model."
        )));
    };
    // The signing region decides which geographic profiles may be called.
    let region = headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .and_then(|(_, v)| v.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or_default()
        .to_string();
    let callable = match prefix {
        "global" => true,
        "us-gov" => region.starts_with("us-gov-"),
        "us" => region.starts_with("us-") && !region.starts_with("us-gov-"),
        "eu" => region.starts_with("eu-"),
        "apac" => region.starts_with("ap-"),
        "jp" => matches!(region.as_str(), "ap-northeast-1" | "ap-northeast-3"),
        "au" => matches!(region.as_str(), "ap-southeast-2" | "ap-southeast-4"),
        _ => false,
    };
    if profiles.contains(&prefix) && (callable || region.is_empty()) {
        None
    } else {
        invalid()
    }
}

/// Everything Bedrock checks on an InvokeModel call before the model runs, in its order: the
/// model id, the guardrail headers, the body, the context window. `None` when it may run.
pub(super) fn check_invoke(model_id: &str, headers: &[(String, String)], body: &Value) -> Option<(u16, &'static str, String)> {
    let invalid = |message: String| (400, "ValidationException", message);
    check_model_id(model_id, headers)
        .or_else(|| guardrail(headers).err().map(invalid))
        .or_else(|| check_body(body, model_id).err().map(invalid))
        .or_else(|| check_context(body).err().map(invalid))
}

/// Bedrock's own checks on an Anthropic body, with its messages (Bedrock's, and Anthropic's
/// as Bedrock relays them).
pub(super) fn check_body(body: &Value, model_id: &str) -> Result<(), String> {
    let Some(obj) = body.as_object() else {
        return Err(
            "Malformed input request: expected type: JSONObject, found: JSONArray, please reformat your input and try again.".into()
        );
    };
    for key in ["model", "stream"] {
        if obj.contains_key(key) {
            return Err(format!(
                "Malformed input request: #: extraneous key [{key}] is not permitted, please reformat your input and try again."
            ));
        }
    }
    for key in ["anthropic_version", "max_tokens", "messages"] {
        if !obj.contains_key(key) {
            return Err(format!("Malformed input request: #: required key [{key}] not found, please reformat your input and try again."));
        }
    }
    let model = bare_model(model_id);
    if obj.contains_key("temperature") && obj.contains_key("top_p") && ONE_OF_TEMPERATURE_TOP_P.iter().any(|m| model.starts_with(m)) {
        return Err("`temperature` and `top_p` cannot both be specified for this model. Please use only one.".into());
    }
    check_betas(obj, &model)?;
    let messages = obj["messages"].as_array().cloned().unwrap_or_default();
    check_messages(&messages)?;
    check_cache_control(body, &model)?;
    if obj.get("thinking").and_then(|t| t.get("type")).and_then(Value::as_str) == Some("enabled") {
        check_thinking(obj, &messages)?;
    }
    Ok(())
}

/// `anthropic_beta`: known flags only, and the 1M context only on the models that have it
/// (Bedrock answers both with the same terse message).
fn check_betas(obj: &Map<String, Value>, model: &str) -> Result<(), String> {
    let Some(betas) = obj.get("anthropic_beta") else {
        return Ok(());
    };
    let Some(betas) = betas.as_array() else {
        return Err(format!(
            "Malformed input request: #/anthropic_beta: expected type: JSONArray, found: {}, please reformat your input and try again.",
            json_type(betas)
        ));
    };
    for beta in betas {
        let known = beta.as_str().is_some_and(|b| KNOWN_BETAS.contains(&b));
        let misplaced = beta == CONTEXT_1M_BETA && !CONTEXT_1M_MODELS.iter().any(|m| model.starts_with(m));
        if !known || misplaced {
            return Err("invalid beta flag".into());
        }
    }
    Ok(())
}

/// A JSON value's type as Bedrock's schema messages name it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "Null",
        Value::Bool(_) => "Boolean",
        Value::Number(_) => "Number",
        Value::String(_) => "String",
        Value::Array(_) => "JSONArray",
        Value::Object(_) => "JSONObject",
    }
}

/// The context window: the prompt's [`input_tokens`] against 200k, or 1M with the beta flag
/// (whose model was checked with the body). Not a CountTokens check: counting is how a caller
/// finds out whether a prompt fits.
fn check_context(body: &Value) -> Result<(), String> {
    let one_m = body["anthropic_beta"].as_array().is_some_and(|b| b.iter().any(|f| f == CONTEXT_1M_BETA));
    let limit = if one_m { CONTEXT_WINDOW_1M } else { CONTEXT_WINDOW };
    let tokens = input_tokens(body);
    if tokens > limit {
        return Err(format!("prompt is too long: {tokens} tokens > {limit} maximum"));
    }
    Ok(())
}

/// Anthropic's rules on cache breakpoints: at most four, `type` ephemeral, `ttl` 5m or 1h (1h
/// only where Bedrock has it), and no 1h breakpoint after a 5m one in prefix order.
fn check_cache_control(body: &Value, model: &str) -> Result<(), String> {
    check_cache_breakpoints(body, ONE_HOUR_CACHE_MODELS.iter().any(|m| model.starts_with(m)))
}

/// [`check_cache_control`] for a model that has the 1-hour TTL (`one_hour`) or not.
pub(super) fn check_cache_breakpoints(body: &Value, one_hour: bool) -> Result<(), String> {
    let marked: Vec<(String, &Value)> = pieces(body).into_iter().filter_map(|p| p.cache_control().map(|cc| (p.path.clone(), cc))).collect();
    if marked.len() > MAX_CACHE_BREAKPOINTS {
        return Err(format!("A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {}.", marked.len()));
    }
    let mut after_5m = false;
    for (path, cc) in marked {
        let Some(fields) = cc.as_object() else {
            return Err(format!("{path}.cache_control: Input should be a valid dictionary or object to extract fields from"));
        };
        if cc["type"] != "ephemeral" {
            return Err(format!("{path}.cache_control.type: Input should be 'ephemeral'"));
        }
        if let Some(extra) = fields.keys().find(|k| !["type", "ttl"].contains(&k.as_str())) {
            return Err(format!("{path}.cache_control.ephemeral.{extra}: Extra inputs are not permitted"));
        }
        let long = match fields.get("ttl") {
            None => false,
            Some(t) if t == "5m" => false,
            Some(t) if t == "1h" => true,
            Some(_) => return Err(format!("{path}.cache_control.ephemeral.ttl: Input should be '5m' or '1h'")),
        };
        if long && !one_hour {
            return Err(format!("{path}.cache_control.ephemeral.ttl: Extra inputs are not permitted"));
        }
        if long && after_5m {
            return Err("a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`.".into());
        }
        after_5m |= !long;
    }
    Ok(())
}

/// Anthropic's checks on the messages: known fields only, non-empty text, signed thinking,
/// and every tool_use answered by a tool_result at the start of the next (user) message.
pub(super) fn check_messages(messages: &[Value]) -> Result<(), String> {
    const FIELDS: &[(&str, &[&str])] = &[
        ("text", &["type", "text", "cache_control", "citations"]),
        ("image", &["type", "source", "cache_control"]),
        ("document", &["type", "source", "title", "context", "citations", "cache_control"]),
        ("tool_use", &["type", "id", "name", "input", "cache_control"]),
        ("tool_result", &["type", "tool_use_id", "content", "is_error", "cache_control"]),
        ("thinking", &["type", "thinking", "signature"]),
        ("redacted_thinking", &["type", "data"]),
    ];
    for (i, m) in messages.iter().enumerate() {
        if let Some(extra) = m.as_object().and_then(|o| o.keys().find(|k| !["role", "content"].contains(&k.as_str()))) {
            return Err(format!("messages.{i}.{extra}: Extra inputs are not permitted"));
        }
        let blocks = m["content"].as_array().cloned().unwrap_or_default();
        for (j, b) in blocks.iter().enumerate() {
            let kind = b["type"].as_str().unwrap_or_default();
            if let Some((_, allowed)) = FIELDS.iter().find(|(t, _)| *t == kind) {
                if let Some(extra) = b.as_object().and_then(|o| o.keys().find(|k| !allowed.contains(&k.as_str()))) {
                    return Err(format!("messages.{i}.content.{j}.{kind}.{extra}: Extra inputs are not permitted"));
                }
            }
            if kind == "text" && b["text"].as_str().is_some_and(str::is_empty) {
                return Err("messages: text content blocks must be non-empty".into());
            }
            if kind == "thinking" && !b["signature"].is_string() {
                return Err(format!("messages.{i}.content.{j}.thinking.signature: Field required"));
            }
        }
        if m["role"] == "user" {
            let first_other = blocks.iter().position(|b| b["type"] != "tool_result").unwrap_or(blocks.len());
            if let Some(late) = blocks.iter().skip(first_other).position(|b| b["type"] == "tool_result") {
                return Err(format!(
                    "messages.{i}.content.{}: `tool_result` blocks must come first in the user message, before any other content",
                    first_other + late
                ));
            }
        }
        let uses: Vec<&str> = blocks.iter().filter(|b| b["type"] == "tool_use").filter_map(|b| b["id"].as_str()).collect();
        if m["role"] == "assistant" && !uses.is_empty() {
            if let Some(next) = messages.get(i + 1) {
                let answered: Vec<&str> = next["content"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|b| b["type"] == "tool_result")
                    .filter_map(|b| b["tool_use_id"].as_str())
                    .collect();
                let missing: Vec<&str> = uses.iter().copied().filter(|u| !answered.contains(u)).collect();
                if next["role"] != "user" || !missing.is_empty() {
                    let missing = if missing.is_empty() { uses.clone() } else { missing };
                    return Err(format!(
                        "messages.{}: `tool_use` ids were found without `tool_result` blocks immediately after: {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
                        i + 1,
                        missing.join(", ")
                    ));
                }
            }
        }
    }
    // A final assistant message is a prefill, continued word for word: trailing whitespace
    // would make the continuation start mid-gap.
    if let Some(text) = prefill(messages).and_then(|blocks| blocks.last().copied()) {
        if text.ends_with(char::is_whitespace) {
            return Err("messages: final assistant content cannot end with trailing whitespace".into());
        }
    }
    Ok(())
}

/// The text blocks of a final assistant message (a prefill the model continues), if any.
pub(super) fn prefill(messages: &[Value]) -> Option<Vec<&str>> {
    let last = messages.last().filter(|m| m["role"] == "assistant")?;
    let texts: Vec<&str> = match &last["content"] {
        Value::String(s) => vec![s.as_str()],
        Value::Array(blocks) => blocks.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"].as_str()).collect(),
        _ => vec![],
    };
    (!texts.is_empty()).then_some(texts)
}

/// Where Anthropic's thinking errors send the reader.
const THINKING_DOCS: &str = "Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking";

/// Anthropic's extended-thinking rules (`"thinking": {"type": "enabled", "budget_tokens": n}`):
/// the budget's, then [`check_thinking_compat`]'s.
pub(super) fn check_thinking(obj: &serde_json::Map<String, Value>, messages: &[Value]) -> Result<(), String> {
    const DOCS: &str = THINKING_DOCS;
    let budget = obj["thinking"]["budget_tokens"].as_u64().unwrap_or(0);
    if budget < 1024 {
        return Err("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024".into());
    }
    if budget >= obj["max_tokens"].as_u64().unwrap_or(0) {
        return Err(format!("`max_tokens` must be greater than `thinking.budget_tokens`. {DOCS}#max-tokens-and-context-window-size"));
    }
    check_thinking_compat(obj, messages)
}

/// Anthropic's rules for any thinking, budgeted or adaptive: sampling, forced tools, and the
/// thinking block that must open an assistant turn inside a tool loop or a prefill.
pub(super) fn check_thinking_compat(obj: &serde_json::Map<String, Value>, messages: &[Value]) -> Result<(), String> {
    const DOCS: &str = THINKING_DOCS;
    if obj.get("temperature").and_then(Value::as_f64).is_some_and(|t| t != 1.0) {
        return Err(format!("`temperature` may only be set to 1 when thinking is enabled. {DOCS}#feature-compatibility"));
    }
    if obj.contains_key("top_k") {
        return Err(format!("`top_k` must be unset when thinking is enabled. {DOCS}#feature-compatibility"));
    }
    if obj.get("top_p").and_then(Value::as_f64).is_some_and(|p| p < 0.95) {
        return Err(format!(
            "`top_p` must be greater than or equal to 0.95 or unset when thinking is enabled. {DOCS}#feature-compatibility"
        ));
    }
    if matches!(obj.get("tool_choice").and_then(|c| c["type"].as_str()), Some("any" | "tool")) {
        return Err("Thinking may not be enabled when tool_choice forces tool use.".into());
    }
    // Inside a tool turn (the last message holds tool results), the assistant message before
    // it must start with thinking.
    if let [.., assistant, last] = messages {
        let in_tool_turn =
            last["role"] == "user" && last["content"].as_array().is_some_and(|c| c.iter().any(|b| b["type"] == "tool_result"));
        let first = assistant["content"].as_array().and_then(|c| c.first()).and_then(|b| b["type"].as_str()).unwrap_or("text");
        if in_tool_turn && assistant["role"] == "assistant" && !matches!(first, "thinking" | "redacted_thinking") {
            return Err(thinking_first(messages.len() - 2, first));
        }
    }
    // A prefill: Anthropic wants it to start with thinking, and cannot continue text written
    // for a thinking model.
    if let (Some(last), Some(_)) = (messages.last(), prefill(messages)) {
        let first = last["content"].as_array().and_then(|c| c.first()).and_then(|b| b["type"].as_str()).unwrap_or("text");
        if !matches!(first, "thinking" | "redacted_thinking") {
            return Err(thinking_first(messages.len() - 1, first));
        }
        // The emulator's wording: Anthropic's documentation only says prefill and thinking
        // are incompatible.
        return Err(format!(
            "messages.{}: prefilling the `assistant` response is not supported when `thinking` is enabled. Remove the text of the final `assistant` message or disable `thinking`. {DOCS}#feature-compatibility",
            messages.len() - 1
        ));
    }
    Ok(())
}

/// Anthropic's answer to an assistant message (at `index`) that should start with thinking.
fn thinking_first(index: usize, found: &str) -> String {
    format!(
        "The model returned the following errors: messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{found}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block. We recommend you include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. Please consult our documentation at https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking"
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::guardrail::Guardrail;
    use crate::test_support::{headers, request, HAIKU_45, SONNET_4, SONNET_45};

    #[test]
    fn bodies_are_checked_with_bedrocks_messages() {
        let ok = json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 10, "messages": []});
        let m = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        assert_eq!(check_body(&ok, m), Ok(()));
        let mut with_stream = ok.clone();
        with_stream["stream"] = json!(true);
        assert_eq!(
            check_body(&with_stream, m).unwrap_err(),
            "Malformed input request: #: extraneous key [stream] is not permitted, please reformat your input and try again."
        );
        let mut with_model = ok.clone();
        with_model["model"] = json!("claude");
        assert!(check_body(&with_model, m).unwrap_err().contains("extraneous key [model]"));
        let no_version = json!({"max_tokens": 10, "messages": []});
        assert!(check_body(&no_version, m).unwrap_err().contains("required key [anthropic_version] not found"));
        let no_max = json!({"anthropic_version": "bedrock-2023-05-31", "messages": []});
        assert!(check_body(&no_max, m).unwrap_err().contains("required key [max_tokens] not found"));
    }

    #[test]
    fn bedrocks_model_rules_are_enforced_with_its_messages() {
        let base = |extra: Value| {
            let mut b =
                json!({"anthropic_version": "bedrock-2023-05-31", "max_tokens": 2000, "messages": [{"role": "user", "content": "x"}]});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let pair = base(json!({"temperature": 0.5, "top_p": 0.9}));
        for model in [
            "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-opus-4-1-20250805-v1:0",
        ] {
            assert_eq!(
                check_body(&pair, model).unwrap_err(),
                "`temperature` and `top_p` cannot both be specified for this model. Please use only one."
            );
        }
        assert_eq!(check_body(&pair, "us.anthropic.claude-sonnet-4-20250514-v1:0"), Ok(()));
        let m = "us.anthropic.claude-sonnet-4-5-20250929-v1:0";
        let thinking = |budget: u64, extra: Value| {
            let mut b = base(extra);
            b["thinking"] = json!({"type": "enabled", "budget_tokens": budget});
            b
        };
        assert!(check_body(&thinking(512, json!({})), m).unwrap_err().contains("greater than or equal to 1024"));
        assert!(check_body(&thinking(2000, json!({})), m)
            .unwrap_err()
            .starts_with("`max_tokens` must be greater than `thinking.budget_tokens`"));
        assert!(check_body(&thinking(1024, json!({"temperature": 0.5})), m).unwrap_err().starts_with("`temperature` may only be set to 1"));
        assert!(check_body(&thinking(1024, json!({"top_k": 5})), m).unwrap_err().starts_with("`top_k` must be unset"));
        assert_eq!(check_body(&thinking(1024, json!({"temperature": 1.0})), m), Ok(()));
        let tool_turn = json!([
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}
        ]);
        let e = check_body(&thinking(1024, json!({"messages": tool_turn})), m).unwrap_err();
        assert!(e.contains("messages.1.content.0.type: Expected `thinking` or `redacted_thinking`, but found `tool_use`"), "{e}");
        assert_eq!(check_body(&base(json!({"messages": tool_turn})), m), Ok(()), "without thinking the turn is fine");
        let unsigned = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "a"}]}, {"role": "user", "content": "more"}]);
        assert_eq!(
            check_body(&base(json!({"messages": unsigned})), m).unwrap_err(),
            "messages.1.content.0.thinking.signature: Field required"
        );
        let unanswered = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}, {"role": "user", "content": "go on"}]);
        assert!(check_body(&base(json!({"messages": unanswered})), m)
            .unwrap_err()
            .starts_with("messages.2: `tool_use` ids were found without `tool_result` blocks immediately after: t1."));
        let late = json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]}, {"role": "user", "content": [{"type": "text", "text": "hm"}, {"type": "tool_result", "tool_use_id": "t1", "content": "r"}]}]);
        assert!(check_body(&base(json!({"messages": late})), m).unwrap_err().contains("must come first"));
        let extra = json!([{"role": "user", "content": [{"type": "text", "text": "q", "visibility": "internal"}]}]);
        assert_eq!(
            check_body(&base(json!({"messages": extra})), m).unwrap_err(),
            "messages.0.content.0.text.visibility: Extra inputs are not permitted"
        );
    }

    #[test]
    fn model_ids_follow_bedrocks_profiles() {
        let signed_in = |region: &str| {
            vec![(
                "authorization".to_string(),
                format!("AWS4-HMAC-SHA256 Credential=AKID/20250929/{region}/bedrock/aws4_request, SignedHeaders=host, Signature=x"),
            )]
        };
        let us = signed_in("us-east-1");
        assert_eq!(check_model_id("us.anthropic.claude-sonnet-4-5-20250929-v1:0", &us), None);
        assert_eq!(check_model_id("global.anthropic.claude-sonnet-4-5-20250929-v1:0", &us), None);
        let (_, _, m) = check_model_id("anthropic.claude-sonnet-4-5-20250929-v1:0", &us).unwrap();
        assert!(m.contains("with on-demand throughput isn\u{2019}t supported"), "{m}");
        let ap = signed_in("ap-southeast-1");
        assert_eq!(
            check_model_id("apac.anthropic.claude-sonnet-4-5-20250929-v1:0", &ap).unwrap().2,
            "The provided model identifier is invalid."
        );
        assert_eq!(check_model_id("apac.anthropic.claude-sonnet-4-20250514-v1:0", &ap), None);
        assert!(check_model_id("eu.anthropic.claude-sonnet-4-20250514-v1:0", &us).is_some(), "a geography's profile from outside it");
        // Ids Bedrock does not know are refused, as Bedrock refuses them.
        for unknown in ["nonsense", "us.nonsense", "anthropic.claude-v2", "us.anthropic.claude-sonnet-9-20300101-v1:0"] {
            assert_eq!(check_model_id(unknown, &us).unwrap().2, "The provided model identifier is invalid.", "{unknown}");
        }
        let tokyo = signed_in("ap-northeast-1");
        assert_eq!(check_model_id("jp.anthropic.claude-sonnet-4-6", &tokyo), None);
        assert!(check_model_id("apac.anthropic.claude-sonnet-4-6", &tokyo).is_some(), "Sonnet 4.6 has no apac. profile");
        assert_eq!(check_model_id("apac.anthropic.claude-opus-4-6-v1", &tokyo), None);
        assert_eq!(check_model_id("anthropic.claude-3-5-haiku-20241022-v1:0", &us), None, "on demand");
    }

    #[test]
    fn cache_control_follows_anthropics_rules_with_its_messages() {
        let mark = |ttl: Option<&str>| match ttl {
            Some(t) => json!({"type": "ephemeral", "ttl": t}),
            None => json!({"type": "ephemeral"}),
        };
        let text = |cc: Value| json!({"type": "text", "text": "x", "cache_control": cc});
        let five = request(json!([{"role": "user", "content": [text(mark(None)), text(mark(None)), text(mark(None))]}]), json!({}));
        assert_eq!(check_body(&five, SONNET_45), Ok(()));
        let mut six = five.clone();
        six["system"] = json!([text(mark(None)), text(mark(None))]);
        assert_eq!(check_body(&six, SONNET_45).unwrap_err(), "A maximum of 4 blocks with cache_control may be provided. Found 5.");
        let bad_ttl = request(json!([{"role": "user", "content": [text(json!(1)), text(mark(Some("2h")))]}]), json!({}));
        assert_eq!(
            check_body(&bad_ttl, SONNET_45).unwrap_err(),
            "messages.0.content.0.cache_control: Input should be a valid dictionary or object to extract fields from"
        );
        let bad_ttl = request(json!([{"role": "user", "content": [text(mark(None)), text(mark(Some("2h")))]}]), json!({}));
        assert_eq!(
            check_body(&bad_ttl, SONNET_45).unwrap_err(),
            "messages.0.content.1.cache_control.ephemeral.ttl: Input should be '5m' or '1h'"
        );
        let tools =
            json!({"tools": [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}, "cache_control": mark(Some("1h"))}]});
        let hour = request(json!([{"role": "user", "content": "x"}]), tools);
        assert_eq!(check_body(&hour, SONNET_45), Ok(()));
        assert_eq!(check_body(&hour, HAIKU_45), Ok(()));
        assert_eq!(check_body(&hour, SONNET_4).unwrap_err(), "tools.1.cache_control.ephemeral.ttl: Extra inputs are not permitted");
        let mut late = hour.clone();
        late["system"] = json!([text(mark(Some("1h"))), {"type": "text", "text": "y", "cache_control": mark(Some("5m"))}]);
        assert_eq!(check_body(&late, SONNET_45), Ok(()), "1h in tools, then 1h and 5m in system");
        late["tools"][1]["cache_control"] = mark(None);
        assert_eq!(
            check_body(&late, SONNET_45).unwrap_err(),
            "a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block. Note that blocks are processed in the following order: `tools`, `system`, `messages`."
        );
        let mut typed = hour.clone();
        typed["tools"][1]["cache_control"] = json!({"type": "persistent"});
        assert_eq!(check_body(&typed, SONNET_45).unwrap_err(), "tools.1.cache_control.type: Input should be 'ephemeral'");
    }

    #[test]
    fn guardrail_headers_are_checked_as_bedrock_checks_them() {
        let id = "x-amzn-bedrock-guardrailidentifier";
        let version = "x-amzn-bedrock-guardrailversion";
        assert_eq!(guardrail(&headers(&[])), Ok(None));
        assert_eq!(guardrail(&headers(&[(id, "gr1"), (version, "DRAFT")])), Ok(Some(Guardrail { identifier: "gr1".into(), trace: false })));
        assert!(guardrail(&headers(&[(id, "gr1"), (version, "12"), ("x-amzn-bedrock-trace", "ENABLED_FULL")])).unwrap().unwrap().trace);
        assert_eq!(
            guardrail(&headers(&[(id, "gr1")])).unwrap_err(),
            "Guardrail version is required when a guardrail identifier is provided."
        );
        for bad in ["0", "draft", "1.0", "-3", "123456789"] {
            assert_eq!(
                guardrail(&headers(&[(id, "gr1"), (version, bad)])).unwrap_err(),
                "The guardrail identifier or version provided in the request does not exist.",
                "{bad}"
            );
        }
        assert_eq!(
            guardrail(&headers(&[(id, "gr1"), (version, "1"), ("x-amzn-bedrock-trace", "on")])).unwrap_err(),
            "1 validation error detected: Value 'on' at 'trace' failed to satisfy constraint: Member must satisfy enum value set: [ENABLED, DISABLED, ENABLED_FULL]"
        );
        let h = headers(&[(id, "gr1")]);
        assert_eq!(check_invoke(SONNET_45, &h, &request(json!([]), json!({}))).unwrap().1, "ValidationException");
    }
}
