//! Conversation checks made before any network call.
//!
//! Claude rejects a conversation in which a tool call goes unanswered or a tool result
//! answers nothing. Bedrock's own message for that is terse; this module says which
//! message and which id, and what to add or remove.

use crate::contract::messages::{ChatRequest, ContentBlock, Message, MessageContent, Object, Role};
use crate::error::ProviderError;

/// What a synthetic result says: the call was never answered.
const UNANSWERED: &str = "error: this tool call got no result (the turn was interrupted before the tool answered); treat it as failed";

/// For `repair_tool_sequences=true`: answers every tool call that a later message leaves
/// unanswered with a synthetic error result, placed where Claude requires it (in the user turn
/// right after the call, beside any real results and ahead of the user's text). Calls in the
/// last assistant message are left alone: their results may simply not exist yet. Returns the
/// ids answered.
pub(crate) fn repair(request: &mut ChatRequest) -> Vec<String> {
    let mut repaired = Vec::new();
    let mut pending: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < request.messages.len() {
        let message = &request.messages[i];
        let closes = match message.role {
            Role::Assistant => true,
            Role::User => has_non_result_content(message),
            _ => false,
        };
        if message.role != Role::Assistant {
            let answered = tool_result_ids(message).into_iter().map(str::to_string).collect::<Vec<_>>();
            pending.retain(|(id, _)| !answered.contains(id));
        }
        if closes && !pending.is_empty() {
            let synthetic: Vec<Message> = pending
                .drain(..)
                .map(|(id, name)| {
                    repaired.push(id.clone());
                    let mut extensions = Object::new();
                    extensions.insert("is_error".into(), true.into());
                    Message {
                        role: Role::Tool,
                        content: MessageContent::Text(UNANSWERED.to_string()),
                        name: Some(name),
                        tool_call_id: Some(id),
                        metadata: None,
                        extensions,
                    }
                })
                .collect();
            let n = synthetic.len();
            request.messages.splice(i..i, synthetic);
            i += n;
        }
        let message = &request.messages[i];
        if message.role == Role::Assistant {
            pending = tool_calls(message).map(|(id, name)| (id.to_string(), name.to_string())).collect();
        }
        i += 1;
    }
    repaired
}

/// Checks `request` and names the first problem found.
pub(crate) fn validate(request: &ChatRequest) -> Result<(), ProviderError> {
    for (i, tool) in request.tools.iter().flatten().enumerate() {
        if tool.name.trim().is_empty() {
            return Err(ProviderError::validation(format!(
                "`tools[{i}]` has an empty name: give every tool the name Claude should call it by"
            )));
        }
    }
    let conversational: Vec<(usize, &Message)> =
        request.messages.iter().enumerate().filter(|(_, m)| !matches!(m.role, Role::System | Role::Developer)).collect();
    if conversational.is_empty() {
        return Err(ProviderError::validation(
            "the request has no user message: add at least one {\"role\": \"user\", \"content\": \"…\"} to `messages`",
        ));
    }

    // Calls of the most recent assistant turn still waiting for a result: (id, name, message index).
    let mut pending: Vec<(String, String, usize)> = Vec::new();
    // Plain lists, searched in turn (as `pending` is): they hold one assistant turn's calls, and a
    // set type of its own would cost the component its map code again.
    let mut answered: Vec<String> = Vec::new();
    for &(index, message) in &conversational {
        match message.role {
            Role::Assistant => {
                if let Some((id, name, at)) = pending.first() {
                    return Err(unanswered(id, name, *at, index));
                }
                answered.clear();
                pending = tool_calls(message).map(|(id, name)| (id.to_string(), name.to_string(), index)).collect();
                if let Some((id, _, _)) = pending.iter().find(|(_, name, _)| name.trim().is_empty()) {
                    return Err(ProviderError::validation(format!(
                        "messages[{index}] has a tool call with id `{id}` and an empty name: every tool_call needs the name of the tool it calls"
                    )));
                }
                for (at, (id, _, _)) in pending.iter().enumerate() {
                    if pending[..at].iter().any(|(earlier, _, _)| earlier == id) {
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
                            answered.push(id.to_string());
                        }
                        None if answered.iter().any(|a| a == id) => {
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
    // A tool message names its call in `tool_call_id`; when its content is that call's
    // tool_result block, it is still one answer.
    if matches!(message.role, Role::Tool | Role::Function) && ids.is_empty() {
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
    fn repair_answers_interrupted_calls_in_the_next_user_turn() {
        let mut req: ChatRequest = serde_json::from_value(json!({"messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [
                {"type": "tool_call", "id": "a", "name": "read_file", "input": {}},
                {"type": "tool_call", "id": "b", "name": "read_file", "input": {}}
            ]},
            {"role": "tool", "tool_call_id": "a", "content": "ok"},
            {"role": "user", "content": "go on"},
            call("c")
        ]}))
        .unwrap();
        assert_eq!(repair(&mut req), vec!["b".to_string()]);
        let roles: Vec<(Role, Option<&str>)> = req.messages.iter().map(|m| (m.role, m.tool_call_id.as_deref())).collect();
        assert_eq!(
            roles,
            [
                (Role::User, None),
                (Role::Assistant, None),
                (Role::Tool, Some("a")),
                (Role::Tool, Some("b")),
                (Role::User, None),
                (Role::Assistant, None)
            ]
        );
        validate(&req).unwrap();
    }

    #[test]
    fn empty_tool_names_are_refused() {
        let e = check(json!([{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"type": "tool_call", "id": "x", "name": "", "input": {}}]}])).unwrap_err();
        assert!(e.contains("`x` and an empty name"), "{e}");
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
