//! Guardrails as Bedrock applies them on input: the headers that name one, checked as Bedrock
//! checks them, and the user text it assesses. Every guardrail the emulator knows denies one
//! topic, [`GUARDRAIL_DENIED_TOPIC`].

use serde_json::Value;

/// The topic every guardrail the emulator knows denies: a request whose user text contains it
/// (in any case) is blocked on input, so tests can make a guardrail intervene at will.
pub const GUARDRAIL_DENIED_TOPIC: &str = "emulator-denied-topic";

/// What a guardrail that blocked the input answers instead of the model (Bedrock's default
/// "blocked input" messaging for a new guardrail).
pub const GUARDRAIL_BLOCKED_MESSAGE: &str = "Sorry, the model cannot answer this question.";

/// The values `X-Amzn-Bedrock-Trace` may take.
const GUARDRAIL_TRACE_VALUES: [&str; 3] = ["ENABLED", "DISABLED", "ENABLED_FULL"];

/// The guardrail a request names in its headers.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Guardrail {
    pub(super) identifier: String,
    /// `X-Amzn-Bedrock-Trace` is `ENABLED` or `ENABLED_FULL`.
    pub(super) trace: bool,
}

/// The guardrail headers, checked as Bedrock checks them: `Ok(None)` without a guardrail.
pub(super) fn guardrail(headers: &[(String, String)]) -> Result<Option<Guardrail>, String> {
    let get = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let trace = get("x-amzn-bedrock-trace");
    if let Some(t) = trace.filter(|t| !GUARDRAIL_TRACE_VALUES.contains(t)) {
        return Err(format!(
            "1 validation error detected: Value '{t}' at 'trace' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            GUARDRAIL_TRACE_VALUES.join(", ")
        ));
    }
    let Some(identifier) = get("x-amzn-bedrock-guardrailidentifier") else {
        return Ok(None);
    };
    // The emulator's wording: Bedrock's own message for this case is not documented.
    let version = get("x-amzn-bedrock-guardrailversion").ok_or("Guardrail version is required when a guardrail identifier is provided.")?;
    // Bedrock's pattern for a version: DRAFT or 1 to 99999999.
    let numbered = version.len() <= 8 && !version.starts_with('0') && version.bytes().all(|b| b.is_ascii_digit());
    if version != "DRAFT" && !numbered {
        return Err("The guardrail identifier or version provided in the request does not exist.".into());
    }
    Ok(Some(Guardrail { identifier: identifier.to_string(), trace: matches!(trace, Some("ENABLED" | "ENABLED_FULL")) }))
}

/// The text of the user's turns, which is what the guardrail assesses on input: text blocks,
/// string contents and the text of tool results.
pub(super) fn user_texts(body: &Value) -> Vec<&str> {
    fn texts<'a>(content: &'a Value, out: &mut Vec<&'a str>) {
        match content {
            Value::String(s) => out.push(s),
            Value::Array(blocks) => {
                for b in blocks {
                    match b["type"].as_str() {
                        Some("text") => out.extend(b["text"].as_str()),
                        Some("tool_result") => texts(&b["content"], out),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten().filter(|m| m["role"] == "user") {
        texts(&m["content"], &mut out);
    }
    out
}
