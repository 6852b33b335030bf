//! Continuing an answer cut at `max_tokens` (`max_continuations`): when it may be continued,
//! the text to continue from, the request again with that text as the start of the
//! assistant's turn, and the rounds stitched into one answer.

use serde_json::{json, Value};

use crate::contract::messages::{ChatRequest, ChatResponse, ContentBlock, Message, MessageContent, Role, Usage};

/// The caller's request again, read from its bytes, with `prefill` as the start of the
/// assistant's turn. Read again rather than kept parsed since the first round: a copy of the
/// parsed request (`Clone` of every contract type) costs the release component 1.4 KB of its
/// 500 KB budget, and a continuation round is opt-in and rare; one parse is small next to the
/// model's round it starts.
pub(crate) fn continued(request_json: &[u8], prefill: &str) -> Result<ChatRequest, crate::error::ProviderError> {
    let request = crate::contract::parse::request(request_json)?;
    Ok(with_prefill(request, prefill))
}

/// The request again, with `prefill` as the start of the assistant's turn, which Claude then
/// continues.
pub(crate) fn with_prefill(mut request: ChatRequest, prefill: &str) -> ChatRequest {
    request.messages.push(Message {
        role: Role::Assistant,
        content: MessageContent::Text(prefill.to_string()),
        name: None,
        tool_call_id: None,
        metadata: None,
        extensions: Default::default(),
    });
    request
}

/// A round's request as its caller wrote it: the bytes, and the text so far a continuation
/// round starts the assistant's turn with. Read again only to name what makes a round's body
/// too large for InvokeModel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AsWritten<'a> {
    pub(crate) json: &'a [u8],
    pub(crate) prefill: Option<&'a str>,
}

impl AsWritten<'_> {
    /// The request as JSON, with the prefill as its last message.
    pub(crate) fn value(self) -> Option<Value> {
        let mut request: Value = serde_json::from_slice(self.json).ok()?;
        if let (Some(messages), Some(prefill)) = (request.get_mut("messages").and_then(Value::as_array_mut), self.prefill) {
            messages.push(json!({"role": "assistant", "content": prefill}));
        }
        Some(request)
    }
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
