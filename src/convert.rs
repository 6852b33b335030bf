//! Amplifier ⇄ Anthropic Messages (Bedrock flavour).
//!
//! `to_anthropic` builds the InvokeModel body from a ChatRequest; `from_anthropic` turns
//! Bedrock's message back into a ChatResponse. Both are pure functions over JSON values.

use serde_json::{json, Map, Value};

use crate::config::ProviderConfig;
use crate::error::ProviderError;
use crate::messages::{ChatRequest, ChatResponse, ContentBlock, MessageContent, Object, Role, Usage};
use crate::models::ModelSpec;

/// Bedrock's required Anthropic API version for the Messages API.
pub const ANTHROPIC_VERSION: &str = "bedrock-2023-05-31";
/// The beta flag that lets Claude think between tool calls.
pub const INTERLEAVED_THINKING_BETA: &str = "interleaved-thinking-2025-05-14";
/// Smallest thinking budget Anthropic accepts.
pub const MIN_THINKING_BUDGET: u32 = 1024;

/// What the caller needs beside the body: the limits that were actually applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Translated {
    /// The InvokeModel request body.
    pub body: Value,
    /// `max_tokens` as sent.
    pub max_tokens: u32,
    /// Thinking budget as sent, when thinking is on.
    pub thinking_budget: Option<u32>,
}

/// Builds the Bedrock Anthropic body. Never sets `model` or `stream`: Bedrock rejects both.
pub fn to_anthropic(request: &ChatRequest, config: &ProviderConfig, model: Option<&ModelSpec>) -> Result<Translated, ProviderError> {
    let mut system: Vec<Value> = Vec::new();
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::new();

    for (index, message) in request.messages.iter().enumerate() {
        match message.role {
            Role::System | Role::Developer => system.extend(system_blocks(index, &message.content)?),
            Role::User => push_turn(&mut turns, Role::User, user_blocks(index, &message.content)?),
            Role::Assistant => push_turn(&mut turns, Role::Assistant, assistant_blocks(index, &message.content)?),
            Role::Tool | Role::Function => {
                let id = message.tool_call_id.clone().ok_or_else(|| {
                    ProviderError::validation(format!(
                        "messages[{index}] has role `{}` but no `tool_call_id`: set it to the id of the tool_call it answers",
                        if message.role == Role::Tool { "tool" } else { "function" }
                    ))
                })?;
                let output = match &message.content {
                    MessageContent::Text(t) => Value::String(t.clone()),
                    MessageContent::Blocks(blocks) => {
                        Value::Array(blocks.iter().map(|b| serde_json::to_value(b).unwrap_or(Value::Null)).collect())
                    }
                };
                push_turn(&mut turns, Role::User, vec![tool_result(&id, &output, &message.extensions)]);
            }
        }
    }

    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({"role": if role == Role::Assistant { "assistant" } else { "user" }, "content": content}))
        .collect();

    let model_max = model.map(|m| m.max_output_tokens).unwrap_or(u32::MAX);
    let requested_max = match request.max_output_tokens {
        Some(n) if n < 1 => return Err(ProviderError::validation(format!("`max_output_tokens` is {n}: it must be at least 1"))),
        Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
        None => config.max_tokens,
    };
    let mut max_tokens = requested_max.min(model_max);

    let mut body = Map::new();
    body.insert("anthropic_version".into(), json!(ANTHROPIC_VERSION));
    body.insert("messages".into(), Value::Array(messages));
    if !system.is_empty() {
        body.insert("system".into(), Value::Array(system));
    }

    let thinking_budget = thinking_budget(request, model, config.thinking_budget_tokens)?;
    let temperature = request.temperature.unwrap_or(config.temperature);
    if !(0.0..=1.0).contains(&temperature) {
        return Err(ProviderError::validation(format!("`temperature` is {temperature}: it must be from 0.0 to 1.0")));
    }
    let budget = match thinking_budget {
        Some(budget) => {
            // Anthropic requires budget_tokens < max_tokens; make room for an answer after the thinking.
            if budget >= max_tokens {
                max_tokens = budget.saturating_add(4096).min(model_max);
            }
            let budget = budget.min(max_tokens.saturating_sub(1)).max(MIN_THINKING_BUDGET);
            if budget >= max_tokens {
                return Err(ProviderError::validation(format!(
                    "extended thinking needs max_tokens above the thinking budget ({budget}), but max_tokens is {max_tokens}: raise `max_output_tokens`"
                )));
            }
            body.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": budget}));
            // Thinking only runs at temperature 1; Anthropic rejects anything else.
            body.insert("temperature".into(), json!(1.0));
            if request.tools.as_ref().is_some_and(|t| !t.is_empty()) {
                body.insert("anthropic_beta".into(), json!([INTERLEAVED_THINKING_BETA]));
            }
            Some(budget)
        }
        None => {
            body.insert("temperature".into(), json!(temperature));
            if let Some(top_p) = request.top_p {
                body.insert("top_p".into(), json!(top_p));
            }
            None
        }
    };
    body.insert("max_tokens".into(), json!(max_tokens));

    if let Some(stop) = request.stop.as_ref().filter(|s| !s.is_empty()) {
        body.insert("stop_sequences".into(), json!(stop));
    }
    if let Some(tools) = request.tools.as_ref().filter(|t| !t.is_empty()) {
        let tools: Vec<Value> = tools
            .iter()
            .map(|t| {
                let mut tool = Map::new();
                tool.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    tool.insert("description".into(), json!(d));
                }
                let mut schema = t.parameters.clone();
                schema.entry("type").or_insert_with(|| json!("object"));
                tool.insert("input_schema".into(), Value::Object(schema));
                if let Some(cc) = t.extensions.get("cache_control") {
                    tool.insert("cache_control".into(), cc.clone());
                }
                Value::Object(tool)
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = &request.tool_choice {
            body.insert("tool_choice".into(), tool_choice(choice)?);
        }
    }
    Ok(Translated { body: Value::Object(body), max_tokens, thinking_budget: budget })
}

fn push_turn(turns: &mut Vec<(Role, Vec<Value>)>, role: Role, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    match turns.last_mut() {
        // Consecutive same-role turns merge: tool results from several `tool` messages
        // must arrive in the one user turn that follows the assistant's tool_use blocks.
        Some((last, content)) if *last == role => content.extend(blocks),
        _ => turns.push((role, blocks)),
    }
}

/// Copies `cache_control` from an Amplifier block onto the Anthropic block.
fn with_cache_control(mut block: Value, extensions: &Object) -> Value {
    if let (Some(cc), Some(obj)) = (extensions.get("cache_control"), block.as_object_mut()) {
        obj.insert("cache_control".into(), cc.clone());
    }
    block
}

fn system_blocks(index: usize, content: &MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Ok(vec![]),
        MessageContent::Text(t) => Ok(vec![json!({"type": "text", "text": t})]),
        MessageContent::Blocks(blocks) => blocks
            .iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text, .. } if text.is_empty() => None,
                ContentBlock::Text { text, extensions } => Some(Ok(with_cache_control(json!({"type": "text", "text": text}), extensions))),
                other => Some(Err(ProviderError::validation(format!(
                    "messages[{index}] is a system message with a `{}` block: system messages take text blocks only",
                    block_type(other)
                )))),
            })
            .collect(),
    }
}

fn user_blocks(index: usize, content: &MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) => Ok(vec![json!({"type": "text", "text": t})]),
        MessageContent::Blocks(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    ContentBlock::Text { text, extensions } => {
                        out.push(with_cache_control(json!({"type": "text", "text": text}), extensions))
                    }
                    ContentBlock::Image { source, extensions } => {
                        out.push(with_cache_control(json!({"type": "image", "source": source}), extensions))
                    }
                    ContentBlock::Document { source, extensions } => {
                        let mut doc = json!({"type": "document", "source": source});
                        for key in ["title", "context", "citations"] {
                            if let Some(v) = extensions.get(key) {
                                doc[key] = v.clone();
                            }
                        }
                        out.push(with_cache_control(doc, extensions));
                    }
                    ContentBlock::ToolResult { tool_call_id, output, extensions } => {
                        out.push(tool_result(tool_call_id, output, extensions))
                    }
                    // Another provider's reasoning means nothing to Claude; dropping it is lossless for Claude.
                    ContentBlock::Reasoning { .. } => {}
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is a user message with a `{}` block: only assistant messages carry it",
                            block_type(other)
                        )))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn assistant_blocks(index: usize, content: &MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Ok(vec![]),
        MessageContent::Text(t) => Ok(vec![json!({"type": "text", "text": t})]),
        MessageContent::Blocks(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    // Anthropic rejects empty text blocks; an empty one carries nothing.
                    ContentBlock::Text { text, .. } if text.is_empty() => {}
                    ContentBlock::Text { text, extensions } => out.push(with_cache_control(json!({"type": "text", "text": text}), extensions)),
                    ContentBlock::Thinking { thinking, signature, .. } => {
                        let mut block = json!({"type": "thinking", "thinking": thinking});
                        if let Some(sig) = signature {
                            block["signature"] = json!(sig);
                        }
                        out.push(block);
                    }
                    ContentBlock::RedactedThinking { data, .. } => out.push(json!({"type": "redacted_thinking", "data": data})),
                    ContentBlock::ToolCall { id, name, input, extensions } => {
                        out.push(with_cache_control(json!({"type": "tool_use", "id": id, "name": name, "input": input}), extensions))
                    }
                    ContentBlock::Reasoning { .. } => {}
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is an assistant message with a `{}` block: send tool results and images in user or tool messages",
                            block_type(other)
                        )))
                    }
                }
            }
            Ok(out)
        }
    }
}

fn tool_result(id: &str, output: &Value, extensions: &Object) -> Value {
    let content = match output {
        Value::String(s) => json!(s),
        Value::Null => json!(""),
        Value::Array(items) if items.iter().all(|i| matches!(i.get("type").and_then(Value::as_str), Some("text" | "image"))) => {
            Value::Array(items.iter().map(anthropic_result_item).collect())
        }
        other => json!(other.to_string()),
    };
    let mut block = json!({"type": "tool_result", "tool_use_id": id, "content": content});
    if extensions.get("is_error").and_then(Value::as_bool) == Some(true) {
        block["is_error"] = json!(true);
    }
    with_cache_control(block, extensions)
}

fn anthropic_result_item(item: &Value) -> Value {
    match item.get("type").and_then(Value::as_str) {
        Some("text") => {
            json!({"type": "text", "text": item.get("text").cloned().unwrap_or(json!(""))})
        }
        _ => json!({"type": "image", "source": item.get("source").cloned().unwrap_or(json!({}))}),
    }
}

fn block_type(b: &ContentBlock) -> &'static str {
    match b {
        ContentBlock::Text { .. } => "text",
        ContentBlock::Thinking { .. } => "thinking",
        ContentBlock::RedactedThinking { .. } => "redacted_thinking",
        ContentBlock::ToolCall { .. } => "tool_call",
        ContentBlock::ToolResult { .. } => "tool_result",
        ContentBlock::Image { .. } => "image",
        ContentBlock::Document { .. } => "document",
        ContentBlock::Reasoning { .. } => "reasoning",
    }
}

fn tool_choice(choice: &Value) -> Result<Value, ProviderError> {
    let named = |name: &Value| json!({"type": "tool", "name": name});
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(json!({"type": "auto"})),
            "any" | "required" => Ok(json!({"type": "any"})),
            "none" => Ok(json!({"type": "none"})),
            other => Err(ProviderError::validation(format!(
                "`tool_choice` is {other:?}: use auto, any, required, none, or {{\"type\": \"tool\", \"name\": …}}"
            ))),
        },
        Value::Object(o) => {
            if let Some(name) = o.get("name").filter(|n| n.is_string()) {
                return Ok(named(name));
            }
            if let Some(name) = o.get("function").and_then(|f| f.get("name")).filter(|n| n.is_string()) {
                return Ok(named(name));
            }
            match o.get("type").and_then(Value::as_str) {
                Some(t @ ("auto" | "any" | "none")) => Ok(json!({"type": t})),
                _ => Err(ProviderError::validation("`tool_choice` object names no tool: use {\"type\": \"tool\", \"name\": \"my_tool\"}")),
            }
        }
        _ => Err(ProviderError::validation("`tool_choice` must be a string or an object")),
    }
}

/// The thinking budget asked for: `metadata.thinking_budget_tokens` (or `thinking_budget`)
/// wins; then `reasoning_effort` low/medium/high (4k/16k/32k tokens); then the
/// `thinking_budget_tokens` config key.
fn thinking_budget(request: &ChatRequest, model: Option<&ModelSpec>, configured: u32) -> Result<Option<u32>, ProviderError> {
    let from_metadata = request.metadata.as_ref().and_then(|m| m.get("thinking_budget_tokens").or_else(|| m.get("thinking_budget")));
    let budget = match (from_metadata, request.reasoning_effort.as_deref()) {
        (Some(v), _) => match v.as_u64() {
            Some(0) => None,
            Some(n) => Some(u32::try_from(n).unwrap_or(u32::MAX).max(MIN_THINKING_BUDGET)),
            None => return Err(ProviderError::validation(format!("`metadata.thinking_budget_tokens` is {v}: it must be a whole number of tokens (at least {MIN_THINKING_BUDGET}) or 0 for off"))),
        },
        (None, Some("none") | Some("minimal")) => None,
        (None, None) => (configured > 0).then_some(configured.max(MIN_THINKING_BUDGET)),
        (None, Some("low")) => Some(4_096),
        (None, Some("medium")) => Some(16_000),
        (None, Some("high")) => Some(32_000),
        (None, Some(other)) => return Err(ProviderError::validation(format!("`reasoning_effort` is {other:?}: use none, low, medium or high"))),
    };
    if budget.is_some() && model.is_some_and(|m| !m.thinking) {
        return Err(ProviderError::validation(
            "this model does not support extended thinking: remove `reasoning_effort` or pick a Claude 4 model",
        ));
    }
    Ok(budget)
}

/// Maps Anthropic's stop_reason to Amplifier's finish_reason.
pub fn finish_reason(stop_reason: &str) -> String {
    match stop_reason {
        "end_turn" | "stop_sequence" => "stop",
        "tool_use" => "tool_calls",
        "max_tokens" | "model_context_window_exceeded" => "length",
        other => other,
    }
    .to_string()
}

/// Amplifier usage from Anthropic usage: `input_tokens` is gross (fresh + cache reads + cache writes).
pub fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_i64).unwrap_or(0);
    let (fresh, cache_read, cache_write, output) =
        (n("input_tokens"), n("cache_read_input_tokens"), n("cache_creation_input_tokens"), n("output_tokens"));
    let input = fresh + cache_read + cache_write;
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

/// Bedrock's Anthropic message → ChatResponse. `model_id` is the id actually called.
pub fn from_anthropic(message: &Value, model_id: &str, request_id: Option<&str>) -> Result<ChatResponse, String> {
    let blocks = message.get("content").and_then(Value::as_array).ok_or("the response has no `content` array")?;
    let mut content = Vec::with_capacity(blocks.len());
    for b in blocks {
        let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match b.get("type").and_then(Value::as_str) {
            Some("text") => content.push(ContentBlock::Text { text: s("text"), extensions: Map::new() }),
            Some("thinking") => content.push(ContentBlock::Thinking {
                thinking: s("thinking"),
                signature: b.get("signature").and_then(Value::as_str).map(str::to_string),
                extensions: Map::new(),
            }),
            Some("redacted_thinking") => content.push(ContentBlock::RedactedThinking { data: s("data"), extensions: Map::new() }),
            Some("tool_use") => content.push(ContentBlock::ToolCall {
                id: s("id"),
                name: s("name"),
                input: b.get("input").and_then(Value::as_object).cloned().unwrap_or_default(),
                extensions: Map::new(),
            }),
            other => return Err(format!("the response has a content block of unknown type {other:?}")),
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
    Ok(ChatResponse {
        content,
        tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
        usage: message.get("usage").map(usage),
        degradation: None,
        finish_reason: stop_reason.map(finish_reason),
        metadata: Some(metadata),
        extensions: Map::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigSource, ProviderConfig};
    use crate::models::lookup;

    struct Empty;
    impl ConfigSource for Empty {
        fn config(&self, _: &str) -> Result<Option<String>, String> {
            Ok(None)
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    fn translate(req: Value) -> Result<Translated, ProviderError> {
        let req: ChatRequest = serde_json::from_value(req).unwrap();
        to_anthropic(&req, &ProviderConfig::resolve(&Empty).unwrap(), lookup(crate::models::DEFAULT_MODEL))
    }

    #[test]
    fn system_tool_and_thinking_translate() {
        let t = translate(json!({
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}]},
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "two calls", "signature": "sig=="},
                    {"type": "tool_call", "id": "t1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_call", "id": "t2", "name": "weather", "input": {"city": "Rome"}}
                ]},
                {"role": "tool", "tool_call_id": "t1", "content": "18C"},
                {"role": "tool", "tool_call_id": "t2", "content": "24C"}
            ],
            "tools": [{"name": "weather", "description": "Weather", "parameters": {"properties": {"city": {"type": "string"}}}}],
            "tool_choice": "auto",
            "reasoning_effort": "low",
            "stop": ["END"],
        }))
        .unwrap();
        let b = &t.body;
        assert_eq!(b["anthropic_version"], ANTHROPIC_VERSION);
        assert!(b.get("model").is_none() && b.get("stream").is_none());
        assert_eq!(
            b["system"],
            json!([{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Use tools.", "cache_control": {"type": "ephemeral"}}])
        );
        assert_eq!(b["messages"].as_array().unwrap().len(), 3, "the two tool messages merge into one user turn");
        assert_eq!(b["messages"][1]["content"][0], json!({"type": "thinking", "thinking": "two calls", "signature": "sig=="}));
        assert_eq!(b["messages"][1]["content"][2]["type"], "tool_use");
        assert_eq!(
            b["messages"][2]["content"],
            json!([
                {"type": "tool_result", "tool_use_id": "t1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "t2", "content": "24C"}
            ])
        );
        assert_eq!(b["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(b["tool_choice"], json!({"type": "auto"}));
        assert_eq!(b["thinking"], json!({"type": "enabled", "budget_tokens": 4096}));
        assert_eq!(b["temperature"], json!(1.0));
        assert_eq!(b["anthropic_beta"], json!([INTERLEAVED_THINKING_BETA]));
        assert_eq!(b["stop_sequences"], json!(["END"]));
        assert_eq!(b["max_tokens"], json!(8192));
    }

    #[test]
    fn max_tokens_are_capped_and_make_room_for_thinking() {
        let t = translate(json!({"messages": [{"role": "user", "content": "x"}], "max_output_tokens": 1_000_000})).unwrap();
        assert_eq!(t.max_tokens, 64_000);
        let t = translate(json!({"messages": [{"role": "user", "content": "x"}], "max_output_tokens": 2000, "metadata": {"thinking_budget_tokens": 8000}})).unwrap();
        assert_eq!((t.max_tokens, t.thinking_budget), (12_096, Some(8000)));
        assert!(translate(json!({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"}))
            .unwrap_err()
            .to_string()
            .contains("reasoning_effort"));
    }

    #[test]
    fn documents_keep_title_context_and_cache_control() {
        let t = translate(json!({"messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "Contract", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Summarise"}
        ]}]}))
        .unwrap();
        assert_eq!(
            t.body["messages"][0]["content"][0],
            json!({"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}, "title": "Contract", "cache_control": {"type": "ephemeral"}})
        );
    }

    #[test]
    fn response_maps_blocks_usage_and_finish_reason() {
        let r = from_anthropic(
            &json!({
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
            json!({"input_tokens": 115, "output_tokens": 7, "total_tokens": 122, "cache_read_tokens": 100, "cache_write_tokens": 5})
        );
        assert_eq!(v["content"][0], json!({"type": "thinking", "thinking": "hmm", "signature": "S"}));
        assert_eq!(v["metadata"]["model"], "us.model");
        assert_eq!(v["metadata"]["request_id"], "req-1");
        for (stop, finish) in [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"), ("refusal", "refusal")] {
            assert_eq!(finish_reason(stop), finish);
        }
    }
}
