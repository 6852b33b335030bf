//! Continuing an answer cut at `max_tokens` (`max_continuations`): when it may be continued,
//! the text to continue from, the body sent before with that text as the start of the
//! assistant's turn, and the rounds stitched into one answer.

use serde_json::{json, Value};

use crate::contract::messages::{ChatResponse, ContentBlock, Usage};

/// Sets `prefill` as the start of the assistant's turn in an Anthropic body that was already
/// sent, which Claude then continues: the body is extended, not the request translated again.
/// The prefill is the last block of the last turn (the caller's own assistant turn, when the
/// conversation ends in one, as translation merges a turn into its same-role neighbour), so
/// `replacing` takes an earlier round's prefill out first. `false` when the body has no
/// `messages` list to extend.
pub(crate) fn prefill_body(body: &mut Value, prefill: &str, replacing: bool) -> bool {
    let Some(Value::Array(messages)) = body.get_mut("messages") else { return false };
    if replacing {
        let emptied = match messages.last_mut().and_then(|m| m.get_mut("content")).and_then(Value::as_array_mut) {
            Some(blocks) => {
                blocks.pop();
                blocks.is_empty()
            }
            None => false,
        };
        if emptied {
            messages.pop();
        }
    }
    let block = json!({"type": "text", "text": prefill});
    let assistant_turn =
        messages.last_mut().filter(|m| m["role"] == "assistant").and_then(|m| m.get_mut("content")).and_then(Value::as_array_mut);
    match assistant_turn {
        Some(blocks) => blocks.push(block),
        None => messages.push(json!({"role": "assistant", "content": [block]})),
    }
    true
}

/// The text to continue from, when `response` stopped at `max_tokens` inside text: what it said
/// so far without trailing whitespace (Anthropic refuses a prefill that ends in whitespace).
/// `None` when it must not be continued: a tool call or thinking is in it, or it did not stop
/// for length.
pub(crate) fn continuable_text(response: &ChatResponse) -> Option<String> {
    let texts = response.content.iter().map(|block| match block {
        ContentBlock::Text { text, .. } => Some(text.as_str()),
        _ => None,
    });
    continuable(response.finish_reason.as_deref(), texts)
}

/// [`continuable_text`] of an answer given as its finish reason and its blocks' texts (`None`
/// for a block that is not text), as a stream's assembler holds it.
pub(crate) fn continuable<'a>(finish_reason: Option<&str>, blocks: impl IntoIterator<Item = Option<&'a str>>) -> Option<String> {
    if finish_reason != Some("length") {
        return None;
    }
    let mut text = String::new();
    for block in blocks {
        text.push_str(block?);
    }
    let trimmed = text.trim_end();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// One answer from two rounds: the text so far (its first `kept` bytes, the prefill) followed
/// by the continuation, usage summed, the last round's finish and metadata.
pub(crate) fn stitch(mut so_far: ChatResponse, kept: usize, more: ChatResponse, round: u32) -> ChatResponse {
    let mut text: String =
        so_far.content.iter().filter_map(|b| if let ContentBlock::Text { text, .. } = b { Some(text.as_str()) } else { None }).collect();
    text.truncate(kept);
    let mut blocks = more.content.into_iter().peekable();
    if let Some(ContentBlock::Text { text: next, .. }) = blocks.next_if(|b| matches!(b, ContentBlock::Text { .. })) {
        text.push_str(&next);
    }
    let mut content = vec![ContentBlock::Text { text, extensions: Default::default() }];
    content.extend(blocks);
    let usage = Usage::sum(so_far.usage.take(), more.usage);
    let mut metadata = more.metadata.unwrap_or_default();
    metadata.insert("continuations".into(), json!(round));
    ChatResponse {
        tool_calls: more.tool_calls,
        usage,
        degradation: so_far.degradation.or(more.degradation),
        finish_reason: more.finish_reason,
        metadata: Some(metadata),
        content,
        extensions: so_far.extensions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(messages: Value) -> Value {
        json!({"max_tokens": 10, "messages": messages})
    }

    #[test]
    fn the_prefill_is_a_new_assistant_turn_after_a_user_turn_and_each_round_replaces_it() {
        let mut b = body(json!([{"role": "user", "content": [{"type": "text", "text": "count"}]}]));
        assert!(prefill_body(&mut b, "1 2", false));
        assert_eq!(b["messages"][1], json!({"role": "assistant", "content": [{"type": "text", "text": "1 2"}]}));
        assert!(prefill_body(&mut b, "1 2 3 4", true));
        assert_eq!(b["messages"].as_array().unwrap().len(), 2, "the earlier prefill is replaced, not followed: {b:?}");
        assert_eq!(b["messages"][1]["content"], json!([{"type": "text", "text": "1 2 3 4"}]));
        assert_eq!(b["max_tokens"], 10, "the rest of the body is as sent");
    }

    #[test]
    fn the_prefill_follows_the_callers_own_assistant_turn_and_replacing_leaves_that_turn_whole() {
        let callers = json!({"type": "text", "text": "Counting:"});
        let mut b =
            body(json!([{"role": "user", "content": [{"type": "text", "text": "count"}]}, {"role": "assistant", "content": [callers]}]));
        assert!(prefill_body(&mut b, "1 2", false));
        assert_eq!(b["messages"].as_array().unwrap().len(), 2, "one assistant turn, as translation merges neighbours");
        assert_eq!(b["messages"][1]["content"], json!([callers, {"type": "text", "text": "1 2"}]));
        assert!(prefill_body(&mut b, "1 2 3", true));
        assert_eq!(b["messages"][1]["content"], json!([callers, {"type": "text", "text": "1 2 3"}]));
    }

    #[test]
    fn a_body_without_messages_is_not_extended() {
        let mut b = json!({"max_tokens": 10});
        assert!(!prefill_body(&mut b, "1 2", false));
        assert_eq!(b, json!({"max_tokens": 10}));
    }
}
