//! Amplifier's request and response envelope, in the JSON shapes of the kernel's serde types.
//!
//! Content blocks are internally tagged by `type`; every struct keeps unknown fields in
//! `extensions` so a round trip through this component loses nothing. Requests are read by hand
//! (for size) in the `parse` module, which also holds their `Deserialize` impls.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A JSON object.
pub type Object = Map<String, Value>;

/// Who a message is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// Instructions from the application.
    System,
    /// Context from the developer (files, notes); sent to Claude as `<context_file>` user content.
    Developer,
    /// The person.
    User,
    /// The model.
    Assistant,
    /// Legacy function result; treated like `tool`.
    Function,
    /// A tool's result.
    Tool,
}

/// One content block of a message or response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum ContentBlock {
    /// Plain text.
    #[serde(rename = "text")]
    Text {
        /// The text.
        text: String,
        /// Unknown fields (visibility, cache_control, …), kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// Extended thinking; the signature must go back to Claude unchanged.
    #[serde(rename = "thinking")]
    Thinking {
        /// The reasoning text.
        thinking: String,
        /// Anthropic's signature over the thinking.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signature: Option<String>,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// Thinking encrypted by the safety system; only `data` is sent back.
    #[serde(rename = "redacted_thinking")]
    RedactedThinking {
        /// The opaque payload.
        data: String,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// A tool call made by the assistant.
    #[serde(rename = "tool_call")]
    ToolCall {
        /// Call id, answered by a `tool_result` with the same id.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments.
        input: Object,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// The result of a tool call.
    #[serde(rename = "tool_result")]
    ToolResult {
        /// The id of the call this answers.
        tool_call_id: String,
        /// The output: a string, or any JSON value.
        output: Value,
        /// Unknown fields (is_error, …), kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// An image: `source` is `{type: base64, media_type, data}` or `{type: url, url}`.
    #[serde(rename = "image")]
    Image {
        /// Where the image bytes are.
        source: Object,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// A document (PDF or text) for Claude to read: `source` as Anthropic defines it;
    /// `title`, `context` and `citations` travel in `extensions`.
    #[serde(rename = "document")]
    Document {
        /// Where the document bytes are.
        source: Object,
        /// Unknown fields (title, context, citations, cache_control), kept.
        #[serde(flatten)]
        extensions: Object,
    },
    /// Another provider's reasoning summary; not meaningful to Claude.
    #[serde(rename = "reasoning")]
    Reasoning {
        /// Reasoning items.
        content: Vec<Value>,
        /// Summary items.
        summary: Vec<Value>,
        /// Unknown fields, kept.
        #[serde(flatten)]
        extensions: Object,
    },
}

/// Message content: a plain string or a list of blocks.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum MessageContent {
    /// `"content": "hello"`.
    Text(String),
    /// `"content": [{"type": "text", …}]`.
    Blocks(Vec<ContentBlock>),
}

/// One message of the conversation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Message {
    /// Who it is from.
    pub role: Role,
    /// What it says.
    pub content: MessageContent,
    /// Tool name, for `tool` messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The call a `tool` message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extensions: Object,
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ToolSpec {
    /// Tool name.
    pub name: String,
    /// JSON Schema of the arguments.
    pub parameters: Object,
    /// What the tool does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extensions: Object,
}

/// A completion request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ChatRequest {
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Tools offered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<ToolSpec>>,
    /// Response format (text / json / json_schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Output token limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<i64>,
    /// Conversation id, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Whether to use the streaming API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
    /// Model id; overrides `default_model`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `"auto"`, `"any"`, `"none"`, `"required"` or an object naming a tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<Value>,
    /// Stop sequences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Vec<String>>,
    /// `low` / `medium` / `high`: turns on extended thinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<String>,
    /// Seconds for this request; overrides the `timeout` config key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extensions: Object,
}

/// A tool call extracted from a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ToolCall {
    /// Call id.
    pub id: String,
    /// Tool name.
    pub name: String,
    /// Arguments.
    pub arguments: Object,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extensions: Object,
}

/// Token usage with the kernel's normative key names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Input tokens: fresh plus cache reads (cache writes are in `cache_write_tokens`).
    pub input_tokens: i64,
    /// Output tokens.
    pub output_tokens: i64,
    /// `input_tokens + output_tokens`.
    pub total_tokens: i64,
    /// Reasoning tokens, when reported separately.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<i64>,
    /// Tokens read from the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<i64>,
    /// Tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<i64>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extensions: Object,
}

impl Usage {
    /// The usage of an answer's rounds so far and of one more round, either possibly unknown.
    pub fn sum(a: Option<Usage>, b: Option<Usage>) -> Option<Usage> {
        match (a, b) {
            (Some(a), Some(b)) => Some(a.plus(&b)),
            (a, b) => a.or(b),
        }
    }

    /// The usage of two calls that made one answer (a continued one): every count summed.
    pub fn plus(&self, other: &Usage) -> Usage {
        let opt = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            total_tokens: self.total_tokens + other.total_tokens,
            reasoning_tokens: opt(self.reasoning_tokens, other.reasoning_tokens),
            cache_read_tokens: opt(self.cache_read_tokens, other.cache_read_tokens),
            cache_write_tokens: opt(self.cache_write_tokens, other.cache_write_tokens),
            extensions: self.extensions.clone(),
        }
    }
}

/// A completion response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChatResponse {
    /// The answer's blocks, in order.
    pub content: Vec<ContentBlock>,
    /// The tool calls among `content`, for convenience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall>>,
    /// Token usage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// What was changed from the request so the model would take it (sampling, limits,
    /// thinking, model id), in the kernel's `Degradation` shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degradation: Option<Value>,
    /// `stop`, `tool_calls`, `length`, or the provider's own reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Model actually called, Bedrock request id, stop reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Object>,
    /// Unknown fields, kept.
    #[serde(flatten)]
    pub extensions: Object,
}

impl ChatResponse {
    /// The tool calls in `content`, in order.
    pub fn collect_tool_calls(content: &[ContentBlock]) -> Vec<ToolCall> {
        content
            .iter()
            .filter_map(|b| match b {
                ContentBlock::ToolCall { id, name, input, .. } => {
                    Some(ToolCall { id: id.clone(), name: name.clone(), arguments: input.clone(), extensions: Object::new() })
                }
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_survive_a_round_trip() {
        let v = json!({
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}], "custom": 1}],
            "custom_param": "x"
        });
        let req: ChatRequest = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&req).unwrap(), v);
    }
}
