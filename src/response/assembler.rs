//! The answer assembled from Anthropic's stream events: our [`StreamEvent`]s as they come,
//! and the whole message when it is to be kept (a stream read whole, or one that may be
//! continued).

use std::fmt;

use serde_json::{json, Map, Value};

use super::events::{object, DeltaKind, Started, StreamEvent};
use crate::contract::messages::Usage;

/// What is wrong with an Anthropic stream event: a stream Bedrock should never send, or one
/// that reported its own failure. Its `Display` says what arrived; as a [`ProviderError`] it is a
/// `bedrock:` error (nothing the caller can fix but trying again).
///
/// [`ProviderError`]: crate::error::ProviderError
#[derive(Debug)]
#[non_exhaustive]
pub enum EventError {
    /// `content_block_start` with a block type this client does not know (its `type`, if any).
    UnknownBlock(Option<String>),
    /// A delta for a block index that never started.
    DeltaWithoutBlock {
        /// The block's index.
        index: u64,
    },
    /// A delta whose type does not fit its block (text into a tool call, …).
    DeltaOfOtherType {
        /// The block's index.
        index: u64,
        /// The delta's field (`text`, `thinking`, `signature`, `partial_json`).
        delta: &'static str,
    },
    /// A tool call's input, joined from its fragments, is not JSON.
    ToolInput {
        /// The block's index.
        index: u64,
        /// serde_json's reason.
        error: serde_json::Error,
    },
    /// `message_stop` before any `message_start`.
    StopWithoutStart,
    /// An `error` event: the stream's own failure, its Anthropic error type and message.
    Reported {
        /// Anthropic's error type (`overloaded_error`), `error` when it names none.
        kind: String,
        /// Anthropic's message.
        message: String,
    },
}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EventError::UnknownBlock(kind) => write!(f, "a content block of unknown type {:?}", kind.as_deref()),
            EventError::DeltaWithoutBlock { index } => write!(f, "a delta for block {}, which never started", *index),
            EventError::DeltaOfOtherType { index, delta } => write!(f, "a {} delta for block {}, which is of another type", *delta, *index),
            EventError::ToolInput { index, error } => write!(f, "the tool input of block {} is not valid JSON ({error})", *index),
            EventError::StopWithoutStart => f.write_str("`message_stop` arrived without a `message_start`"),
            EventError::Reported { kind, message } => write!(f, "{kind}: {message}"),
        }
    }
}

impl std::error::Error for EventError {}

/// A stream that went wrong ends the call as a `bedrock:` error: the one place it becomes one.
impl From<EventError> for crate::error::ProviderError {
    fn from(e: EventError) -> Self {
        crate::error::ProviderError::new(crate::error::ErrorKind::Bedrock, format!("the response stream went wrong: {e}"))
    }
}

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
#[derive(Debug, Clone)]
pub struct Assembler {
    keep_content: bool,
    message: Map<String, Value>,
    blocks: ByIndex<Block>,
    usage: Map<String, Value>,
    stop_reason: Option<String>,
    stop_sequence: Value,
    metrics: Option<Value>,
    /// Bedrock's guardrail verdict and trace, when a guardrail is applied.
    guardrail_action: Option<String>,
    guardrail_trace: Option<Value>,
    text_chars: usize,
    delivered: bool,
    finished: bool,
}

/// Values by content block index, in index order.
///
/// A sorted list rather than a `BTreeMap`: an answer has a handful of blocks, and every map type
/// of its own costs the component about 4 KB of code.
#[derive(Debug, Clone)]
pub(crate) struct ByIndex<T>(Vec<(u64, T)>);

impl<T> Default for ByIndex<T> {
    fn default() -> Self {
        ByIndex(Vec::new())
    }
}

impl<T> ByIndex<T> {
    fn find(&self, index: u64) -> Result<usize, usize> {
        self.0.binary_search_by_key(&index, |(i, _)| *i)
    }

    /// Sets the value at `index`, replacing one there (as a block that starts twice does).
    pub(crate) fn insert(&mut self, index: u64, value: T) {
        match self.find(index) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (index, value)),
        }
    }

    pub(crate) fn get_mut(&mut self, index: u64) -> Option<&mut T> {
        self.find(index).ok().map(|at| &mut self.0[at].1)
    }

    pub(crate) fn remove(&mut self, index: u64) -> Option<T> {
        self.find(index).ok().map(|at| self.0.remove(at).1)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn values(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|(_, v)| v)
    }
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
            guardrail_action: None,
            guardrail_trace: None,
            text_chars: 0,
            delivered: false,
            finished: false,
        }
    }

    /// Whether any content event has been produced (after which a retry would repeat it).
    pub fn content_delivered(&self) -> bool {
        self.delivered
    }

    /// How many content blocks have started.
    pub fn blocks_started(&self) -> usize {
        self.blocks.len()
    }

    /// Whether `message_stop` has arrived.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Bedrock's invocation metrics from `message_stop`, if sent.
    pub fn metrics(&self) -> Option<&Value> {
        self.metrics.as_ref()
    }

    /// Applies one Anthropic event, appending our events to `out` as the streaming interface
    /// hands them out (JSON).
    pub fn apply(&mut self, event: Value, out: &mut Vec<Value>) -> Result<(), EventError> {
        let mut events = Vec::new();
        self.apply_event(event, Some(&mut events))?;
        out.extend(events.into_iter().map(StreamEvent::into_json));
        Ok(())
    }

    /// Applies one Anthropic event, appending our events to `out` when they are wanted (a
    /// stream read whole without hook events wants none, and none are made). The event is taken
    /// by value: a delta's text moves into our event rather than being copied (once per
    /// streamed byte). Whether the event makes any of ours, wanted or not.
    pub(crate) fn apply_event(&mut self, mut event: Value, mut out: Option<&mut Vec<StreamEvent>>) -> Result<bool, EventError> {
        let index = event.get("index").and_then(Value::as_u64).unwrap_or(0);
        // Bedrock adds the guardrail's verdict (and trace) to the event it rides on, the last one.
        if let Some(action) = event.get(crate::response::GUARDRAIL_ACTION).and_then(Value::as_str) {
            self.guardrail_action = Some(action.to_string());
        }
        if let Some(trace) = event.get(crate::response::BEDROCK_TRACE) {
            self.guardrail_trace = Some(trace.get("guardrail").unwrap_or(trace).clone());
        }
        match event.get("type").and_then(Value::as_str).unwrap_or_default() {
            "message_start" => {
                self.message = event.get("message").and_then(Value::as_object).cloned().unwrap_or_default();
                self.message.remove("content");
                self.usage = self.message.get("usage").and_then(Value::as_object).cloned().unwrap_or_default();
                Ok(false)
            }
            "content_block_start" => {
                let b = &mut event["content_block"];
                let kind = b.get("type").and_then(Value::as_str).map(str::to_string);
                let mut s = |k: &str| match b.get_mut(k).map(Value::take) {
                    Some(Value::String(s)) => s,
                    _ => String::new(),
                };
                let (block, start) = match kind.as_deref() {
                    Some("text") => (Block::Text { text: String::new() }, Started::Text),
                    Some("thinking") => (Block::Thinking { thinking: String::new(), signature: None }, Started::Thinking),
                    Some("redacted_thinking") => {
                        let data = s("data");
                        (Block::Redacted { data: data.clone() }, Started::RedactedThinking { data })
                    }
                    Some("tool_use") => {
                        let (id, name) = (s("id"), s("name"));
                        (
                            Block::ToolUse { id: id.clone(), name: name.clone(), json: Vec::new(), input: None },
                            Started::ToolCall { id, name },
                        )
                    }
                    _ => return Err(EventError::UnknownBlock(kind)),
                };
                self.blocks.insert(index, block);
                self.delivered = true;
                if let Some(out) = out.as_deref_mut() {
                    out.push(StreamEvent::BlockStart { index, block: start });
                }
                // A block may start with content already (Anthropic sends it empty today).
                for (key, kind) in [("text", DeltaKind::Text), ("thinking", DeltaKind::Thinking)] {
                    if let Some(Value::String(t)) = b.get_mut(key).map(Value::take).filter(|t| t.as_str().is_some_and(|t| !t.is_empty())) {
                        self.append(index, kind, t, out.as_deref_mut())?;
                    }
                }
                Ok(true)
            }
            "content_block_delta" => {
                let d = &mut event["delta"];
                let kind = match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => DeltaKind::Text,
                    Some("thinking_delta") => DeltaKind::Thinking,
                    Some("signature_delta") => DeltaKind::Signature,
                    Some("input_json_delta") => DeltaKind::PartialJson,
                    // Citations and future delta kinds: nothing to assemble.
                    _ => return Ok(false),
                };
                let piece = match d.get_mut(kind.key()).map(Value::take) {
                    Some(Value::String(piece)) => piece,
                    _ => String::new(),
                };
                self.append(index, kind, piece, out)?;
                Ok(true)
            }
            "content_block_stop" => {
                let mut parsed_input = None;
                if let Some(Block::ToolUse { json, input, .. }) = self.blocks.get_mut(index) {
                    // Fragments are joined as bytes and parsed once whole: a fragment may end
                    // inside a UTF-8 sequence or an escape.
                    let parsed: Value = if json.iter().all(u8::is_ascii_whitespace) {
                        json!({})
                    } else {
                        serde_json::from_slice(json).map_err(|error| EventError::ToolInput { index, error })?
                    };
                    if out.is_some() {
                        parsed_input = Some(parsed.clone());
                    }
                    *input = Some(parsed);
                    json.clear();
                }
                if let Some(out) = out {
                    out.push(StreamEvent::BlockStop { index, input: parsed_input });
                }
                Ok(true)
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
                if let Some(out) = out {
                    out.push(StreamEvent::Usage(self.usage()));
                }
                Ok(true)
            }
            "message_stop" => {
                if self.message.is_empty() {
                    return Err(EventError::StopWithoutStart);
                }
                self.metrics = event.get("amazon-bedrock-invocationMetrics").cloned();
                self.finished = true;
                Ok(false)
            }
            "error" => {
                let e = &event["error"];
                let kind = e.get("type").and_then(Value::as_str).unwrap_or("error");
                Err(EventError::Reported {
                    kind: kind.into(),
                    message: e.get("message").and_then(Value::as_str).unwrap_or_default().into(),
                })
            }
            // `ping` and event types newer than this client.
            _ => Ok(false),
        }
    }

    fn append(&mut self, index: u64, kind: DeltaKind, piece: String, out: Option<&mut Vec<StreamEvent>>) -> Result<(), EventError> {
        let keep = self.keep_content;
        let block = self.blocks.get_mut(index).ok_or(EventError::DeltaWithoutBlock { index })?;
        // Stored only when kept; then moved, not copied, when no event wants it.
        let mut piece = Some(piece);
        let store = |into: &mut String, piece: &mut Option<String>| match piece {
            Some(p) if out.is_some() => into.push_str(p),
            Some(_) if into.is_empty() => *into = piece.take().unwrap_or_default(),
            Some(p) => into.push_str(p),
            None => {}
        };
        match (block, kind) {
            (Block::Text { text }, DeltaKind::Text) => {
                self.text_chars += piece.as_deref().map_or(0, |p| p.chars().count());
                if keep {
                    store(text, &mut piece);
                }
            }
            (Block::Thinking { thinking, .. }, DeltaKind::Thinking) => {
                if keep {
                    store(thinking, &mut piece);
                }
            }
            (Block::Thinking { signature, .. }, DeltaKind::Signature) => store(signature.get_or_insert_with(String::new), &mut piece),
            (Block::ToolUse { json, .. }, DeltaKind::PartialJson) => {
                json.extend_from_slice(piece.as_deref().unwrap_or_default().as_bytes())
            }
            (_, kind) => return Err(EventError::DeltaOfOtherType { index, delta: kind.key() }),
        }
        self.delivered = true;
        if let Some(out) = out {
            out.push(StreamEvent::Delta { index, kind, piece: piece.unwrap_or_default() });
        }
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

    /// Each block's text, in order: `None` for a block that is not text (for continuing an
    /// answer: `continuable` in call/continuation.rs reads it).
    pub(crate) fn block_texts(&self) -> impl Iterator<Item = Option<&str>> {
        self.blocks.values().map(|b| match b {
            Block::Text { text } => Some(text.as_str()),
            _ => None,
        })
    }

    /// Usage so far, in the ChatResponse shape.
    pub fn usage(&self) -> Usage {
        crate::response::usage(&Value::Object(self.usage.clone()))
    }

    /// Anthropic's stop reason, once known.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// Finish reason, once known: `content_filter` when a guardrail intervened.
    pub fn finish_reason(&self) -> Option<String> {
        if self.guardrail_action.as_deref() == Some("INTERVENED") {
            return Some(crate::response::CONTENT_FILTER.into());
        }
        self.stop_reason.as_deref().map(crate::response::finish_reason)
    }

    /// The guardrail's verdict (`INTERVENED` or `NONE`) and trace, when one was applied.
    pub fn guardrail(&self) -> (Option<&str>, Option<&Value>) {
        (self.guardrail_action.as_deref(), self.guardrail_trace.as_ref())
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

    /// The metadata of the answer: the model id called, Bedrock's request id, the stop reason,
    /// Bedrock's invocation metrics and the guardrail's verdict and trace.
    pub(crate) fn metadata(&self, model_id: &str, request_id: Option<&str>) -> Value {
        let mut m = json!({"model": model_id, "stop_reason": self.stop_reason()});
        if let Some(id) = request_id {
            m["request_id"] = json!(id);
        }
        if let Some(metrics) = self.metrics() {
            m["bedrock_invocation_metrics"] = metrics.clone();
        }
        let (action, trace) = self.guardrail();
        if let Some(action) = action {
            m["guardrail_action"] = json!(action);
        }
        if let Some(trace) = trace {
            m["guardrail_trace"] = trace.clone();
        }
        m
    }

    /// The Anthropic message as a non-streaming InvokeModel would have returned it (complete
    /// only with `keep_content`).
    #[cfg(test)]
    pub(crate) fn message(&self) -> Value {
        self.clone().into_message()
    }

    /// The Anthropic message as a non-streaming InvokeModel would have returned it (complete
    /// only with `keep_content`), its content moved out rather than copied.
    pub(crate) fn into_message(self) -> Value {
        let content: Vec<Value> = (self.blocks.0)
            .into_iter()
            .map(|(_, b)| match b {
                // Built by hand: `json!` would copy the text (serialising it afresh).
                Block::Text { text } => object(vec![("type", "text".into()), ("text", Value::String(text))]),
                Block::Thinking { thinking, signature } => object(vec![
                    ("type", "thinking".into()),
                    ("thinking", Value::String(thinking)),
                    ("signature", signature.map_or(Value::Null, Value::String)),
                ]),
                Block::Redacted { data } => object(vec![("type", "redacted_thinking".into()), ("data", Value::String(data))]),
                Block::ToolUse { id, name, input, .. } => object(vec![
                    ("type", "tool_use".into()),
                    ("id", Value::String(id)),
                    ("name", Value::String(name)),
                    ("input", input.unwrap_or_else(|| json!({}))),
                ]),
            })
            .collect();
        let mut m = self.message;
        m.insert("content".into(), Value::Array(content));
        m.insert("stop_reason".into(), json!(self.stop_reason));
        m.insert("stop_sequence".into(), self.stop_sequence);
        m.insert("usage".into(), Value::Object(self.usage));
        if let Some(action) = self.guardrail_action {
            m.insert(crate::response::GUARDRAIL_ACTION.into(), json!(action));
        }
        if let Some(trace) = self.guardrail_trace {
            m.insert(crate::response::BEDROCK_TRACE.into(), json!({"guardrail": trace}));
        }
        Value::Object(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(a: &mut Assembler, events: &[Value]) -> Vec<Value> {
        let mut out = Vec::new();
        for e in events {
            a.apply(e.clone(), &mut out).unwrap();
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
        let e = a
            .apply(json!({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "x"}}), &mut out)
            .unwrap_err();
        assert!(matches!(e, EventError::DeltaWithoutBlock { index: 3 }), "{e:?}");
        assert_eq!(e.to_string(), "a delta for block 3, which never started");
        a.apply(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}), &mut out).unwrap();
        let e = a.apply(
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}}),
            &mut out,
        );
        assert_eq!(e.unwrap_err().to_string(), "a partial_json delta for block 0, which is of another type");
        let e = a.apply(json!({"type": "content_block_start", "index": 1, "content_block": {"type": "video"}}), &mut out);
        assert_eq!(e.unwrap_err().to_string(), "a content block of unknown type Some(\"video\")");
        let e = a.apply(json!({"type": "message_stop"}), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "`message_stop` arrived without a `message_start`");
        let e = a.apply(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), &mut out).unwrap_err();
        assert_eq!(e.to_string(), "overloaded_error: Overloaded");
        let e = crate::error::ProviderError::from(e);
        assert_eq!(e.to_string(), "bedrock: the response stream went wrong: overloaded_error: Overloaded");
    }
}
