//! The streaming event schema handed to hosts one event at a time.
//!
//! Events (UTF-8 JSON objects, discriminated by `type`):
//! - `block_start` `{index, block: {type, …}}`: a content block begins (`tool_call` carries `id`, `name`).
//! - `delta` `{index, text | thinking | signature | partial_json}`: more of that block.
//! - `block_stop` `{index}`: the block is complete.
//! - `usage` `{usage}`: token usage in the ChatResponse `usage` shape.
//! - `block_stop` carries the parsed `input` for a `tool_call` block.
//! - `done` `{finish_reason, tool_calls, usage, metadata}`: the last event.

use serde_json::{json, Map, Value};

/// One content block as it is being received.
#[derive(Debug, Clone)]
enum Block {
    Text { text: String },
    Thinking { thinking: String, signature: Option<String> },
    Redacted { data: String },
    ToolUse { id: String, name: String, json: Vec<u8>, input: Option<Value> },
}

/// Builds our events (and, when asked, the whole message) from Anthropic's stream events.
///
/// With `keep_content` off, text and thinking pass straight through to the events and are
/// not stored: memory stays bounded by the largest event, not the answer. Tool inputs are
/// kept until their block stops (they are needed whole for `tool_calls`).
#[derive(Debug)]
pub struct Assembler {
    keep_content: bool,
    message: Map<String, Value>,
    blocks: std::collections::BTreeMap<u64, Block>,
    usage: Map<String, Value>,
    stop_reason: Option<String>,
    stop_sequence: Value,
    metrics: Option<Value>,
    text_chars: usize,
    delivered: bool,
    finished: bool,
}

impl Assembler {
    /// A fresh assembler.
    pub fn new(keep_content: bool) -> Self {
        Assembler {
            keep_content,
            message: Map::new(),
            blocks: Default::default(),
            usage: Map::new(),
            stop_reason: None,
            stop_sequence: Value::Null,
            metrics: None,
            text_chars: 0,
            delivered: false,
            finished: false,
        }
    }

    /// Whether any content event has been produced (after which a retry would repeat it).
    pub fn content_delivered(&self) -> bool {
        self.delivered
    }

    /// Whether `message_stop` has arrived.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bedrock's invocation metrics from `message_stop`, if sent.
    pub fn metrics(&self) -> Option<&Value> {
        self.metrics.as_ref()
    }

    /// Applies one Anthropic event, appending our events to `out`.
    pub fn apply(&mut self, event: &Value, out: &mut Vec<Value>) -> Result<(), String> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        match event.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message_start" => {
                self.message = event.get("message").and_then(Value::as_object).cloned().unwrap_or_default();
                self.message.remove("content");
                self.usage = self.message.get("usage").and_then(Value::as_object).cloned().unwrap_or_default();
            }
            "content_block_start" => {
                let b = &event["content_block"];
                let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let (block, start) = match b.get("type").and_then(Value::as_str) {
                    Some("text") => (Block::Text { text: String::new() }, json!({"type": "text"})),
                    Some("thinking") => (Block::Thinking { thinking: String::new(), signature: None }, json!({"type": "thinking"})),
                    Some("redacted_thinking") => {
                        (Block::Redacted { data: s("data") }, json!({"type": "redacted_thinking", "data": s("data")}))
                    }
                    Some("tool_use") => (
                        Block::ToolUse { id: s("id"), name: s("name"), json: Vec::new(), input: None },
                        json!({"type": "tool_call", "id": s("id"), "name": s("name")}),
                    ),
                    other => return Err(format!("a content block of unknown type {other:?}")),
                };
                self.blocks.insert(index, block);
                self.delivered = true;
                out.push(json!({"type": "block_start", "index": index, "block": start}));
                // A block may start with content already (Anthropic sends it empty today).
                for key in ["text", "thinking"] {
                    if let Some(t) = b.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                        self.append(index, key, t, out)?;
                    }
                }
            }
            "content_block_delta" => {
                let d = &event["delta"];
                let field = |k: &str| d.get(k).and_then(Value::as_str).unwrap_or_default();
                match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => self.append(index, "text", field("text"), out)?,
                    Some("thinking_delta") => self.append(index, "thinking", field("thinking"), out)?,
                    Some("signature_delta") => self.append(index, "signature", field("signature"), out)?,
                    Some("input_json_delta") => self.append(index, "partial_json", field("partial_json"), out)?,
                    // Citations and future delta kinds: nothing to assemble.
                    _ => {}
                }
            }
            "content_block_stop" => {
                let mut stop = json!({"type": "block_stop", "index": index});
                if let Some(Block::ToolUse { json, input, .. }) = self.blocks.get_mut(&index) {
                    // Fragments are joined as bytes and parsed once whole: a fragment may end
                    // inside a UTF-8 sequence or an escape.
                    let parsed: Value = if json.iter().all(u8::is_ascii_whitespace) {
                        json!({})
                    } else {
                        serde_json::from_slice(json).map_err(|e| format!("the tool input of block {index} is not valid JSON ({e})"))?
                    };
                    stop["input"] = parsed.clone();
                    *input = Some(parsed);
                    json.clear();
                }
                out.push(stop);
            }
            "message_delta" => {
                if let Some(reason) = event["delta"].get("stop_reason").and_then(Value::as_str) {
                    self.stop_reason = Some(reason.to_string());
                }
                if let Some(seq) = event["delta"].get("stop_sequence") {
                    self.stop_sequence = seq.clone();
                }
                if let Some(u) = event.get("usage").and_then(Value::as_object) {
                    for (k, v) in u {
                        if !v.is_null() {
                            self.usage.insert(k.clone(), v.clone());
                        }
                    }
                }
                out.push(json!({"type": "usage", "usage": crate::convert::usage(&Value::Object(self.usage.clone()))}));
            }
            "message_stop" => {
                if self.message.is_empty() {
                    return Err("`message_stop` arrived without a `message_start`".into());
                }
                self.metrics = event.get("amazon-bedrock-invocationMetrics").cloned();
                self.finished = true;
            }
            "error" => {
                let e = &event["error"];
                return Err(format!(
                    "{}: {}",
                    e.get("type").and_then(Value::as_str).unwrap_or("error"),
                    e.get("message").and_then(Value::as_str).unwrap_or_default()
                ));
            }
            // `ping` and event types newer than this client.
            _ => {}
        }
        Ok(())
    }

    fn append(&mut self, index: u64, key: &str, piece: &str, out: &mut Vec<Value>) -> Result<(), String> {
        let keep = self.keep_content;
        let block = self.blocks.get_mut(&index).ok_or_else(|| format!("a delta for block {index}, which never started"))?;
        match (block, key) {
            (Block::Text { text }, "text") => {
                self.text_chars += piece.chars().count();
                if keep {
                    text.push_str(piece);
                }
            }
            (Block::Thinking { thinking, .. }, "thinking") => {
                if keep {
                    thinking.push_str(piece);
                }
            }
            (Block::Thinking { signature, .. }, "signature") => signature.get_or_insert_with(String::new).push_str(piece),
            (Block::ToolUse { json, .. }, "partial_json") => json.extend_from_slice(piece.as_bytes()),
            (_, key) => return Err(format!("a {key} delta for block {index}, which is of another type")),
        }
        self.delivered = true;
        let mut e = Map::new();
        e.insert("type".into(), json!("delta"));
        e.insert("index".into(), json!(index));
        e.insert(key.into(), json!(piece));
        out.push(Value::Object(e));
        Ok(())
    }

    /// Tool calls completed so far, in block order.
    pub fn tool_calls(&self) -> Vec<Value> {
        self.blocks
            .values()
            .filter_map(|b| match b {
                Block::ToolUse { id, name, input: Some(input), .. } => Some(json!({"id": id, "name": name, "arguments": input})),
                _ => None,
            })
            .collect()
    }

    /// Usage so far, in the ChatResponse shape.
    pub fn usage(&self) -> crate::messages::Usage {
        crate::convert::usage(&Value::Object(self.usage.clone()))
    }

    /// Anthropic's stop reason, once known.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// Finish reason, once known.
    pub fn finish_reason(&self) -> Option<String> {
        self.stop_reason.as_deref().map(crate::convert::finish_reason)
    }

    /// What had arrived, for an error that ends the stream early.
    pub fn progress(&self) -> String {
        let u = self.usage();
        let mut s = format!(
            "received before the failure: {} content blocks, {} characters of text; usage so far: {} input, {} output tokens",
            self.blocks.len(),
            self.text_chars,
            u.input_tokens,
            u.output_tokens
        );
        let partial: String =
            self.blocks.values().filter_map(|b| if let Block::Text { text } = b { Some(text.as_str()) } else { None }).collect();
        if self.keep_content && !partial.is_empty() {
            s.push_str(&format!("; partial text: {partial:?}"));
        }
        s
    }

    /// The Anthropic message as a non-streaming InvokeModel would have returned it (complete
    /// only with `keep_content`).
    pub fn message(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .values()
            .map(|b| match b {
                Block::Text { text } => json!({"type": "text", "text": text}),
                Block::Thinking { thinking, signature } => json!({"type": "thinking", "thinking": thinking, "signature": signature}),
                Block::Redacted { data } => json!({"type": "redacted_thinking", "data": data}),
                Block::ToolUse { id, name, input, .. } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input.clone().unwrap_or(json!({}))})
                }
            })
            .collect();
        let mut m = self.message.clone();
        m.insert("content".into(), Value::Array(content));
        m.insert("stop_reason".into(), json!(self.stop_reason));
        m.insert("stop_sequence".into(), self.stop_sequence.clone());
        m.insert("usage".into(), Value::Object(self.usage.clone()));
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(a: &mut Assembler, events: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for e in events {
            a.apply(e, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn tool_json_split_inside_utf8_and_escapes_is_parsed_whole() {
        // "é" is two bytes; the fragments below cut inside a \" escape and between words.
        let mut a = Assembler::new(false);
        let out = feed(
            &mut a,
            &[
                json!({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 5}}}),
                json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"q\": \"caf"}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "é \\"}}),
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\" x\"}"}}),
                json!({"type": "content_block_stop", "index": 0}),
                json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}}),
                json!({"type": "message_stop"}),
            ],
        );
        assert_eq!(out.last().unwrap()["usage"]["output_tokens"], 7);
        assert_eq!(a.tool_calls(), vec![json!({"id": "t", "name": "f", "arguments": {"q": "café \" x"}})]);
        assert!(a.is_finished());
        assert_eq!(a.finish_reason().as_deref(), Some("tool_calls"));
    }

    #[test]
    fn text_passes_through_without_being_kept_unless_asked() {
        let events = [
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}),
        ];
        let mut lean = Assembler::new(false);
        let out = feed(&mut lean, &events);
        assert_eq!(out[1], json!({"type": "delta", "index": 0, "text": "Hello"}));
        assert_eq!(lean.message()["content"][0]["text"], "", "not stored");
        let mut full = Assembler::new(true);
        feed(&mut full, &events);
        assert_eq!(full.message()["content"][0]["text"], "Hello");
        assert!(full.progress().contains("partial text: \"Hello\""));
    }

    #[test]
    fn protocol_errors_are_reported() {
        let mut a = Assembler::new(true);
        let mut out = Vec::new();
        assert!(a
            .apply(&json!({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "x"}}), &mut out)
            .is_err());
        let e = a.apply(&json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), &mut out).unwrap_err();
        assert_eq!(e, "overloaded_error: Overloaded");
    }
}
