//! Bedrock's Anthropic message → Amplifier's ChatResponse: content blocks, usage, finish
//! reason, guardrail verdict, and the JSON `response_format` answer as text.

use std::fmt;

use serde_json::{json, Map, Value};

use crate::contract::messages::{ChatResponse, ContentBlock, Usage};

/// The key Bedrock adds to a guarded answer (the body, or a stream's last event):
/// `INTERVENED` or `NONE`.
pub(crate) const GUARDRAIL_ACTION: &str = "amazon-bedrock-guardrailAction";
/// The key of Bedrock's trace beside it (`{"guardrail": …}`), when the trace is on.
pub(crate) const BEDROCK_TRACE: &str = "amazon-bedrock-trace";
/// Amplifier's finish reason for an answer a guardrail stopped.
pub(crate) const CONTENT_FILTER: &str = "content_filter";

/// Maps Anthropic's stop_reason to Amplifier's finish_reason.
pub(crate) fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        "guardrail_intervened" | "refusal" => CONTENT_FILTER,
        other => other,
    }
    .to_string()
}

/// Amplifier usage from Anthropic usage, as the provider contract's `llm:response` table
/// defines it: `input_tokens` is fresh plus cache reads; cache writes are reported apart in
/// `cache_write_tokens` (billed on top); `total_tokens` is input plus output.
pub(crate) fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (fresh, cache_read, cache_write, output) =
        (n("input_tokens"), n("cache_read_input_tokens"), n("cache_creation_input_tokens"), n("output_tokens"));
    let input = fresh + cache_read;
    Usage {
        input_tokens: input,
        output_tokens: output,
        total_tokens: input + output,
        reasoning_tokens: None,
        cache_read_tokens: (cache_read > 0).then_some(cache_read),
        cache_write_tokens: (cache_write > 0).then_some(cache_write),
        extensions: Map::new(),
    }
}

/// For a JSON `response_format`: the answer tool's input becomes the answer's text (the JSON
/// itself), and a turn that only answered ends as `stop`, not `tool_calls`.
pub(crate) fn answer_as_text(response: &mut ChatResponse, answer_tool: &str) {
    let mut answered = false;
    for block in response.content.iter_mut() {
        if let ContentBlock::ToolCall { name, input, .. } = block {
            if name == answer_tool {
                *block = ContentBlock::Text {
                    text: crate::json_write::to_string(&Value::Object(std::mem::take(input))),
                    extensions: Map::new(),
                };
                answered = true;
            }
        }
    }
    if !answered {
        return;
    }
    let calls = ChatResponse::collect_tool_calls(&response.content);
    if calls.is_empty() && response.finish_reason.as_deref() == Some("tool_calls") {
        response.finish_reason = Some("stop".into());
    }
    response.tool_calls = (!calls.is_empty()).then_some(calls);
}

/// Why Bedrock's message cannot be a ChatResponse. A `bedrock:` error where it is read (a
/// response body, or a stream read whole), which names the source before this `Display`.
#[derive(Debug)]
pub(crate) enum MessageError {
    /// The message has no `content` array.
    NoContent,
    /// A content block of a type this client does not know (its `type`, if any).
    UnknownBlock(Option<String>),
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageError::NoContent => f.write_str("the response has no `content` array"),
            MessageError::UnknownBlock(kind) => write!(f, "the response has a content block of unknown type {:?}", kind.as_deref()),
        }
    }
}

/// Bedrock's Anthropic message → ChatResponse. `model_id` is the id actually called. The
/// message is taken by value: its text moves into the response rather than being copied.
pub(crate) fn from_anthropic(mut message: Value, model_id: &str, request_id: Option<&str>) -> Result<ChatResponse, MessageError> {
    let blocks = match message.get_mut("content").map(Value::take) {
        Some(Value::Array(blocks)) => blocks,
        _ => return Err(MessageError::NoContent),
    };
    let mut content = Vec::with_capacity(blocks.len());
    for mut b in blocks {
        let kind = b.get("type").and_then(Value::as_str).map(str::to_string);
        let mut s = |k: &str| match b.get_mut(k).map(Value::take) {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        match kind.as_deref() {
            Some("text") => content.push(ContentBlock::Text { text: s("text"), extensions: Map::new() }),
            Some("thinking") => {
                let thinking = s("thinking");
                let signature = match b.get_mut("signature").map(Value::take) {
                    Some(Value::String(sig)) => Some(sig),
                    _ => None,
                };
                content.push(ContentBlock::Thinking { thinking, signature, extensions: Map::new() })
            }
            Some("redacted_thinking") => content.push(ContentBlock::RedactedThinking { data: s("data"), extensions: Map::new() }),
            Some("tool_use") => {
                let (id, name) = (s("id"), s("name"));
                let input = match b.get_mut("input").map(Value::take) {
                    Some(Value::Object(input)) => input,
                    _ => Map::new(),
                };
                content.push(ContentBlock::ToolCall { id, name, input, extensions: Map::new() })
            }
            _ => return Err(MessageError::UnknownBlock(kind)),
        }
    }
    let tool_calls = ChatResponse::collect_tool_calls(&content);
    let stop_reason = message.get("stop_reason").and_then(Value::as_str);
    let mut metadata = Map::new();
    metadata.insert("model".into(), json!(model_id));
    if let Some(id) = request_id {
        metadata.insert("request_id".into(), json!(id));
    }
    if let Some(id) = message.get("id") {
        metadata.insert("message_id".into(), id.clone());
    }
    if let Some(r) = stop_reason {
        metadata.insert("stop_reason".into(), json!(r));
    }
    if let Some(seq) = message.get("stop_sequence").filter(|v| !v.is_null()) {
        metadata.insert("stop_sequence".into(), seq.clone());
    }
    let guardrail_action = message.get(GUARDRAIL_ACTION).and_then(Value::as_str);
    if let Some(action) = guardrail_action {
        metadata.insert("guardrail_action".into(), json!(action));
    }
    if let Some(trace) = message.get(BEDROCK_TRACE) {
        metadata.insert("guardrail_trace".into(), trace.get("guardrail").unwrap_or(trace).clone());
    }
    let finish = match guardrail_action {
        Some("INTERVENED") => Some(CONTENT_FILTER.to_string()),
        _ => stop_reason.map(finish_reason),
    };
    Ok(ChatResponse {
        content,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        usage: message.get("usage").map(usage),
        degradation: None,
        finish_reason: finish,
        metadata: Some(metadata),
        extensions: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_maps_blocks_usage_and_finish_reason() {
        let r = from_anthropic(
            json!({
                "id": "msg_1",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "S"},
                    {"type": "redacted_thinking", "data": "D"},
                    {"type": "text", "text": "Calling."},
                    {"type": "tool_use", "id": "tu1", "name": "f", "input": {"a": 1}}
                ],
                "stop_reason": "tool_use",
                "usage": {"input_tokens": 10, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 5, "output_tokens": 7}
            }),
            "us.model",
            Some("req-1"),
        )
        .unwrap();
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["finish_reason"], "tool_calls");
        assert_eq!(v["tool_calls"], json!([{"id": "tu1", "name": "f", "arguments": {"a": 1}}]));
        assert_eq!(
            v["usage"],
            json!({"input_tokens": 110, "output_tokens": 7, "total_tokens": 117, "cache_read_tokens": 100, "cache_write_tokens": 5}),
            "input is fresh + cache reads; cache writes apart"
        );
        assert_eq!(v["content"][0], json!({"type": "thinking", "thinking": "hmm", "signature": "S"}));
        assert_eq!(v["metadata"]["model"], "us.model");
        assert_eq!(v["metadata"]["request_id"], "req-1");
        for (stop, finish) in [
            ("end_turn", "stop"),
            ("stop_sequence", "stop"),
            ("max_tokens", "length"),
            ("refusal", "content_filter"),
            ("guardrail_intervened", "content_filter"),
        ] {
            assert_eq!(finish_reason(stop), finish);
        }
    }

    #[test]
    fn a_message_that_is_no_chat_response_says_why() {
        let e = from_anthropic(json!({"content": "text"}), "m", None).unwrap_err();
        assert!(matches!(e, MessageError::NoContent), "{e:?}");
        assert_eq!(e.to_string(), "the response has no `content` array");
        let e = from_anthropic(json!({"content": [{"type": "video"}]}), "m", None).unwrap_err();
        assert_eq!(e.to_string(), "the response has a content block of unknown type Some(\"video\")");
        let e = from_anthropic(json!({"content": [{}]}), "m", None).unwrap_err();
        assert_eq!(e.to_string(), "the response has a content block of unknown type None");
    }

    #[test]
    fn a_guardrail_intervention_is_a_content_filter_finish_with_its_trace() {
        let message = json!({"content": [{"type": "text", "text": "Sorry."}], "stop_reason": "end_turn",
            GUARDRAIL_ACTION: "INTERVENED", BEDROCK_TRACE: {"guardrail": {"input": {"gr": {}}}}});
        let r = from_anthropic(message, "m", None).unwrap();
        assert_eq!(r.finish_reason.as_deref(), Some(CONTENT_FILTER));
        let meta = r.metadata.unwrap();
        assert_eq!(
            (meta["guardrail_action"].clone(), meta["guardrail_trace"].clone()),
            (json!("INTERVENED"), json!({"input": {"gr": {}}}))
        );
    }
}
