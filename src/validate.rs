//! Conversation checks made before any network call.
//!
//! Claude rejects a conversation in which a tool call goes unanswered or a tool result
//! answers nothing. Bedrock's own message for that is terse; this module says which
//! message and which id, and what to add or remove.

use std::collections::BTreeSet;

use crate::error::ProviderError;
use crate::messages::{ChatRequest, ContentBlock, Message, MessageContent, Role};

/// Checks `request` and names the first problem found.
pub fn validate(request: &ChatRequest) -> Result<(), ProviderError> {
    let conversational: Vec<(usize, &Message)> =
        request.messages.iter().enumerate().filter(|(_, m)| !matches!(m.role, Role::System | Role::Developer)).collect();
    if conversational.is_empty() {
        return Err(ProviderError::validation(
            "the request has no user message: add at least one {\"role\": \"user\", \"content\": \"…\"} to `messages`",
        ));
    }

    // Calls of the most recent assistant turn still waiting for a result: (id, name, message index).
    let mut pending: Vec<(String, String, usize)> = Vec::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    for &(index, message) in &conversational {
        match message.role {
            Role::Assistant => {
                if let Some((id, name, at)) = pending.first() {
                    return Err(unanswered(id, name, *at, index));
                }
                answered.clear();
                pending = tool_calls(message).map(|(id, name)| (id.to_string(), name.to_string(), index)).collect();
                let mut seen = BTreeSet::new();
                for (id, _, _) in &pending {
                    if !seen.insert(id.as_str()) {
                        return Err(ProviderError::validation(format!(
                            "messages[{index}] has two tool calls with id `{id}`: every tool call needs its own id"
                        )));
                    }
                }
            }
            Role::User | Role::Tool | Role::Function => {
                for id in tool_result_ids(message) {
                    match pending.iter().position(|(p, _, _)| p == id) {
                        Some(at) => {
                            pending.remove(at);
                            answered.insert(id.to_string());
                        }
                        None if answered.contains(id) => {
                            return Err(ProviderError::validation(format!(
                                "messages[{index}] answers tool call `{id}` a second time: remove the duplicate tool_result"
                            )))
                        }
                        None => {
                            return Err(ProviderError::validation(format!(
                                "messages[{index}] has a tool_result for `{id}`, but the assistant message before it made no tool call with that id: \
                                 remove the orphan result or fix its `tool_call_id`"
                            )))
                        }
                    }
                }
                // A user message with text after unanswered calls leaves them unanswered for good.
                if message.role == Role::User && has_non_result_content(message) {
                    if let Some((id, name, at)) = pending.first() {
                        return Err(unanswered(id, name, *at, index));
                    }
                }
            }
            Role::System | Role::Developer => {}
        }
    }
    Ok(())
}

fn unanswered(id: &str, name: &str, at: usize, before: usize) -> ProviderError {
    ProviderError::validation(format!(
        "messages[{at}] calls tool `{name}` with id `{id}`, but no tool_result answers it before messages[{before}]: \
         add {{\"role\": \"tool\", \"tool_call_id\": \"{id}\", \"content\": \"…\"}} right after messages[{at}]"
    ))
}

fn tool_calls(message: &Message) -> impl Iterator<Item = (&str, &str)> {
    blocks(message).filter_map(|b| match b {
        ContentBlock::ToolCall { id, name, .. } => Some((id.as_str(), name.as_str())),
        _ => None,
    })
}

fn tool_result_ids(message: &Message) -> Vec<&str> {
    let mut ids: Vec<&str> = blocks(message)
        .filter_map(|b| match b {
            ContentBlock::ToolResult { tool_call_id, .. } => Some(tool_call_id.as_str()),
            _ => None,
        })
        .collect();
    if matches!(message.role, Role::Tool | Role::Function) {
        if let Some(id) = &message.tool_call_id {
            ids.push(id);
        }
    }
    ids
}

fn has_non_result_content(message: &Message) -> bool {
    match &message.content {
        MessageContent::Text(t) => !t.is_empty(),
        MessageContent::Blocks(b) => b.iter().any(|b| !matches!(b, ContentBlock::ToolResult { .. })),
    }
}

fn blocks(message: &Message) -> impl Iterator<Item = &ContentBlock> {
    match &message.content {
        MessageContent::Blocks(b) => b.iter(),
        MessageContent::Text(_) => [].iter(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(messages: serde_json::Value) -> Result<(), String> {
        let req: ChatRequest = serde_json::from_value(json!({"messages": messages})).unwrap();
        validate(&req).map_err(|e| e.to_string())
    }

    fn call(id: &str) -> serde_json::Value {
        json!({"role": "assistant", "content": [{"type": "tool_call", "id": id, "name": "read_file", "input": {}}]})
    }

    #[test]
    fn complete_tool_loops_pass() {
        check(json!([{"role": "user", "content": "hi"}, call("a"), {"role": "tool", "tool_call_id": "a", "content": "ok"}])).unwrap();
        check(json!([{"role": "user", "content": "hi"}, call("a"),
            {"role": "user", "content": [{"type": "tool_result", "tool_call_id": "a", "output": "ok"}, {"type": "text", "text": "thanks"}]},
            {"role": "assistant", "content": "done"}]))
        .unwrap();
        check(json!([{"role": "user", "content": "hi"}, call("a")])).unwrap();
    }

    #[test]
    fn an_unanswered_call_names_index_id_and_fix() {
        let e = check(json!([{"role": "user", "content": "hi"}, call("call_1"), {"role": "user", "content": "and?"}])).unwrap_err();
        assert_eq!(e, "validation: messages[1] calls tool `read_file` with id `call_1`, but no tool_result answers it before messages[2]: add {\"role\": \"tool\", \"tool_call_id\": \"call_1\", \"content\": \"…\"} right after messages[1]");
        let e = check(json!([{"role": "user", "content": "hi"}, call("x"), {"role": "assistant", "content": "hm"}])).unwrap_err();
        assert!(e.contains("`x`") && e.contains("before messages[2]"), "{e}");
    }

    #[test]
    fn orphans_duplicates_and_empty_conversations_fail() {
        let e = check(json!([{"role": "user", "content": "hi"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}])).unwrap_err();
        assert!(e.contains("messages[1]") && e.contains("`nope`") && e.contains("orphan"), "{e}");
        let e = check(json!([{"role": "user", "content": "hi"}, call("a"), {"role": "tool", "tool_call_id": "a", "content": "r"}, {"role": "tool", "tool_call_id": "a", "content": "r"}])).unwrap_err();
        assert!(e.contains("second time"), "{e}");
        let e = check(json!([{"role": "system", "content": "sys"}])).unwrap_err();
        assert!(e.contains("no user message"), "{e}");
    }
}
