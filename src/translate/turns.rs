//! Amplifier's messages → Anthropic's system blocks and alternating user/assistant turns:
//! developer messages become context, tool messages tool results, thinking blocks go back
//! byte-exact and first.

use serde_json::{json, Value};

use super::adjustment::Adjustment;
use crate::contract::messages::{ContentBlock, Message, MessageContent, Object, Role};
use crate::error::ProviderError;
use crate::models::ModelSpec;

/// One turn: its role and its Anthropic content blocks.
pub(super) type Turn = (Role, Vec<Value>);

/// The conversation as Anthropic takes it.
#[derive(Debug)]
pub(super) struct Conversation {
    /// The system prompt's blocks.
    pub(super) system: Vec<Value>,
    /// The turns, same-role neighbours merged, developer context first.
    pub(super) turns: Vec<Turn>,
}

/// Translates `messages`, moving their text and sources (a big request is held once).
pub(super) fn conversation(messages: Vec<Message>, adjustments: &mut Vec<Adjustment>) -> Result<Conversation, ProviderError> {
    let mut system: Vec<Value> = Vec::new();
    // Developer messages are context, not instructions: sent first as user content wrapped in
    // <context_file>, as the original module (and Anthropic's provider) do.
    let mut context: Vec<Value> = Vec::new();
    let mut turns: Vec<Turn> = Vec::new();

    for (index, message) in messages.into_iter().enumerate() {
        match message.role {
            Role::System => system.extend(system_blocks(index, message.content)?),
            Role::Developer => context.extend(context_blocks(index, &message.content)?),
            Role::User => push_turn(&mut turns, Role::User, user_blocks(index, message.content)?),
            Role::Assistant => push_turn(&mut turns, Role::Assistant, assistant_blocks(index, message.content, adjustments)?),
            Role::Tool | Role::Function => {
                let id = message.tool_call_id.clone().ok_or_else(|| {
                    ProviderError::validation(format!(
                        "messages[{index}] has role `{}` but no `tool_call_id`: set it to the id of the tool_call it answers",
                        if message.role == Role::Tool { "tool" } else { "function" }
                    ))
                })?;
                let output = match message.content {
                    // The answer may come as tool_result blocks (upstream's proto converter gives a
                    // tool message that shape): those blocks are the results themselves.
                    MessageContent::Blocks(blocks) if blocks.iter().any(|b| matches!(b, ContentBlock::ToolResult { .. })) => {
                        push_turn(&mut turns, Role::User, user_blocks(index, MessageContent::Blocks(blocks))?);
                        continue;
                    }
                    MessageContent::Text(t) => Value::String(t),
                    MessageContent::Blocks(blocks) => Value::Array(blocks.iter().map(block_without_visibility).collect()),
                };
                push_turn(&mut turns, Role::User, vec![tool_result(&id, output, &message.extensions)]);
            }
        }
    }
    if !context.is_empty() {
        match turns.first_mut() {
            Some((Role::User, content)) => {
                context.append(content);
                *content = context;
            }
            _ => turns.insert(0, (Role::User, context)),
        }
    }
    Ok(Conversation { system, turns })
}

/// The turns as the body's `messages`.
pub(super) fn into_messages(turns: Vec<Turn>) -> Vec<Value> {
    turns
        .into_iter()
        .map(|(role, content)| {
            let (role, content) = match role {
                Role::Assistant => ("assistant", content),
                // Claude requires a user turn's tool results before anything else in it.
                _ => {
                    let (mut results, rest): (Vec<Value>, Vec<Value>) = content.into_iter().partition(|b| b["type"] == "tool_result");
                    results.extend(rest);
                    ("user", results)
                }
            };
            // Built by hand: `json!` would copy the content (its text, its images) once more.
            let mut turn = Object::new();
            turn.insert("role".into(), Value::from(role));
            turn.insert("content".into(), Value::Array(content));
            Value::Object(turn)
        })
        .collect()
}

/// Images and documents only for models that take them: refused here, not by Bedrock.
pub(super) fn check_inputs(turns: &[Turn], model: Option<&ModelSpec>) -> Result<(), ProviderError> {
    let Some(m) = model else { return Ok(()) };
    fn kinds(v: &Value, out: &mut Vec<String>) {
        if let Some(t) = v.get("type").and_then(Value::as_str) {
            out.push(t.to_string());
        }
        if let Some(items) = v.get("content").and_then(Value::as_array) {
            items.iter().for_each(|i| kinds(i, out));
        }
    }
    let mut found = Vec::new();
    turns.iter().flat_map(|(_, blocks)| blocks).for_each(|b| kinds(b, &mut found));
    for (kind, supported) in [("image", m.vision), ("document", m.documents)] {
        if !supported && found.iter().any(|k| k == kind) {
            return Err(ProviderError::validation(format!(
                "{} does not take {kind} input on Bedrock: remove the {kind} blocks or pick a Claude 4 model",
                m.display_name
            )));
        }
    }
    Ok(())
}

/// Removes thinking blocks for a model that cannot take them (a conversation moved from a
/// thinking model).
pub(super) fn drop_thinking_blocks(turns: &mut [Turn], model_name: &str, adjustments: &mut Vec<Adjustment>) {
    let mut dropped = 0;
    for (_, blocks) in turns.iter_mut() {
        let before = blocks.len();
        blocks.retain(|b| !matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")));
        dropped += before - blocks.len();
    }
    if dropped > 0 {
        adjustments.push(Adjustment {
            field: "thinking_blocks",
            requested: dropped.to_string(),
            actual: "0".into(),
            reason: format!("{model_name} cannot take the earlier turns' thinking blocks"),
        });
    }
}

fn push_turn(turns: &mut Vec<Turn>, role: Role, blocks: Vec<Value>) {
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

/// An Anthropic block of `kind` with `field` set to `value`, which is moved, not copied
/// (`json!` serialises its values afresh: a copy of a big text or image).
fn block_with(kind: &str, field: &str, value: Value) -> Value {
    let mut block = Object::new();
    block.insert("type".into(), Value::from(kind));
    block.insert(field.into(), value);
    Value::Object(block)
}

fn system_blocks(index: usize, content: MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Ok(vec![]),
        MessageContent::Text(t) => Ok(vec![block_with("text", "text", Value::String(t))]),
        MessageContent::Blocks(blocks) => blocks
            .into_iter()
            .filter_map(|b| match b {
                ContentBlock::Text { text, .. } if text.is_empty() => None,
                ContentBlock::Text { text, extensions } => {
                    Some(Ok(with_cache_control(block_with("text", "text", Value::String(text)), &extensions)))
                }
                other => Some(Err(ProviderError::validation(format!(
                    "messages[{index}] is a system message with a `{}` block: system messages take text blocks only",
                    block_type(&other)
                )))),
            })
            .collect(),
    }
}

/// A developer message as context: one text block wrapped in `<context_file>`, keeping the
/// last block's `cache_control` (where a caller marks a cache breakpoint).
fn context_blocks(index: usize, content: &MessageContent) -> Result<Vec<Value>, ProviderError> {
    let (text, extensions) = match content {
        MessageContent::Text(t) => (t.clone(), Object::new()),
        MessageContent::Blocks(blocks) => {
            let mut texts = Vec::new();
            let mut last = Object::new();
            for b in blocks {
                match b {
                    ContentBlock::Text { text, extensions } => {
                        texts.push(text.as_str());
                        last = extensions.clone();
                    }
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is a developer message with a `{}` block: developer messages take text blocks only",
                            block_type(other)
                        )))
                    }
                }
            }
            (texts.join("\n"), last)
        }
    };
    if text.is_empty() {
        return Ok(vec![]);
    }
    Ok(vec![with_cache_control(json!({"type": "text", "text": format!("<context_file>\n{text}\n</context_file>")}), &extensions)])
}

/// A content block as JSON without Amplifier's `visibility` (display metadata Claude refuses
/// as an extra input).
fn block_without_visibility(b: &ContentBlock) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.remove("visibility");
    }
    v
}

/// Bedrock refuses an empty text block ("text content blocks must be non-empty").
fn empty_text(index: usize) -> ProviderError {
    ProviderError::validation(format!("messages[{index}] has empty text, which Bedrock refuses: put text in it or remove the message"))
}

fn user_blocks(index: usize, content: MessageContent) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Err(empty_text(index)),
        MessageContent::Text(t) => Ok(vec![block_with("text", "text", Value::String(t))]),
        MessageContent::Blocks(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    ContentBlock::Text { text, .. } if text.is_empty() => return Err(empty_text(index)),
                    ContentBlock::Text { text, extensions } => {
                        out.push(with_cache_control(block_with("text", "text", Value::String(text)), &extensions))
                    }
                    ContentBlock::Image { source, extensions } => {
                        out.push(with_cache_control(block_with("image", "source", Value::Object(source)), &extensions))
                    }
                    ContentBlock::Document { source, extensions } => {
                        let mut doc = block_with("document", "source", Value::Object(source));
                        for key in ["title", "context", "citations"] {
                            if let Some(v) = extensions.get(key) {
                                doc[key] = v.clone();
                            }
                        }
                        out.push(with_cache_control(doc, &extensions));
                    }
                    ContentBlock::ToolResult { tool_call_id, output, extensions } => {
                        out.push(tool_result(&tool_call_id, output, &extensions))
                    }
                    // Another provider's reasoning means nothing to Claude; dropping it is lossless for Claude.
                    ContentBlock::Reasoning { .. } => {}
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is a user message with a `{}` block: only assistant messages carry it",
                            block_type(&other)
                        )))
                    }
                }
            }
            Ok(out)
        }
    }
}

/// An assistant message's blocks. Thinking blocks go back byte-exact (signature-only ones with
/// their empty text too) and first, as Claude requires of a turn that thinks; a thinking block
/// without a signature (written by another provider) cannot be verified and is left out.
fn assistant_blocks(index: usize, content: MessageContent, adjustments: &mut Vec<Adjustment>) -> Result<Vec<Value>, ProviderError> {
    match content {
        MessageContent::Text(t) if t.is_empty() => Ok(vec![]),
        MessageContent::Text(t) => Ok(vec![block_with("text", "text", Value::String(t))]),
        MessageContent::Blocks(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match b {
                    // Anthropic rejects empty text blocks; an empty one carries nothing.
                    ContentBlock::Text { text, .. } if text.is_empty() => {}
                    ContentBlock::Text { text, extensions } => {
                        out.push(with_cache_control(block_with("text", "text", Value::String(text)), &extensions))
                    }
                    ContentBlock::Thinking { thinking, signature: Some(sig), .. } => {
                        out.push(json!({"type": "thinking", "thinking": thinking, "signature": sig}))
                    }
                    ContentBlock::Thinking { signature: None, .. } => adjustments.push(Adjustment {
                        field: "thinking_blocks",
                        requested: format!("messages[{index}]"),
                        actual: "left out".into(),
                        reason: "a thinking block without a signature cannot be sent back to Claude".into(),
                    }),
                    ContentBlock::RedactedThinking { data, .. } => out.push(json!({"type": "redacted_thinking", "data": data})),
                    ContentBlock::ToolCall { id, name, input, extensions } => {
                        out.push(with_cache_control(json!({"type": "tool_use", "id": id, "name": name, "input": input}), &extensions))
                    }
                    ContentBlock::Reasoning { .. } => {}
                    other => {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] is an assistant message with a `{}` block: send tool results and images in user or tool messages",
                            block_type(&other)
                        )))
                    }
                }
            }
            let is_thinking = |b: &Value| matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking"));
            if out.first().is_some_and(|b| !is_thinking(b)) && out.iter().any(is_thinking) {
                let (mut thinking, rest): (Vec<Value>, Vec<Value>) = out.into_iter().partition(is_thinking);
                thinking.extend(rest);
                out = thinking;
            }
            Ok(out)
        }
    }
}

fn tool_result(id: &str, output: Value, extensions: &Object) -> Value {
    let content = match output {
        Value::String(s) => Value::String(s),
        Value::Null => json!(""),
        Value::Array(items) if items.iter().all(|i| matches!(i.get("type").and_then(Value::as_str), Some("text" | "image"))) => {
            Value::Array(items.iter().map(anthropic_result_item).collect())
        }
        other => json!(crate::json_write::to_string(&other)),
    };
    let mut block = block_with("tool_result", "content", content);
    block["tool_use_id"] = json!(id);
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
