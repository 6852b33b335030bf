//! The streaming event schema handed to hosts one event at a time.
//!
//! Events (UTF-8 JSON objects, discriminated by `type`):
//! - `block_start` `{index, block: {type, …}}`: a content block begins (`tool_call` carries `id`, `name`).
//! - `delta` `{index, text | thinking | signature | partial_json}`: more of that block.
//! - `block_stop` `{index}`: the block is complete.
//! - `usage` `{usage}`: token usage in the ChatResponse `usage` shape.
//! - `block_stop` carries the parsed `input` for a `tool_call` block.
//! - `done` `{finish_reason, tool_calls, usage, metadata, degradation?}`: the last event.
//!
//! [`StreamEvent`] is one of them as the assembler makes it; it becomes JSON only when it is
//! handed to a host ([`StreamEvent::into_json`]), so a stream read whole (`complete`) never
//! writes what it does not hand out.

use serde_json::{Map, Value};

use crate::contract::messages::Usage;

/// One event of the stream, before it is JSON.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamEvent {
    /// `block_start`.
    BlockStart { index: u64, block: Started },
    /// `delta`: `piece` is more of the block's `kind`.
    Delta { index: u64, kind: DeltaKind, piece: String },
    /// `block_stop`, with a tool call's parsed input.
    BlockStop { index: u64, input: Option<Value> },
    /// `usage`.
    Usage(Usage),
}

/// The block a `block_start` announces.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Started {
    Text,
    Thinking,
    RedactedThinking { data: String },
    ToolCall { id: String, name: String },
}

/// What a `delta` carries more of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeltaKind {
    Text,
    Thinking,
    Signature,
    PartialJson,
}

impl DeltaKind {
    /// The event's key for the piece.
    pub(crate) fn key(self) -> &'static str {
        match self {
            DeltaKind::Text => "text",
            DeltaKind::Thinking => "thinking",
            DeltaKind::Signature => "signature",
            DeltaKind::PartialJson => "partial_json",
        }
    }
}

impl StreamEvent {
    /// The block index the event is about, if any.
    pub(crate) fn index_mut(&mut self) -> Option<&mut u64> {
        match self {
            StreamEvent::BlockStart { index, .. } | StreamEvent::Delta { index, .. } | StreamEvent::BlockStop { index, .. } => Some(index),
            StreamEvent::Usage(_) => None,
        }
    }

    /// The event as the host gets it. Built by hand rather than with `json!`, which copies
    /// every value it is given (a delta's text among them).
    pub(crate) fn into_json(self) -> Value {
        let (kind, index, rest) = match self {
            StreamEvent::BlockStart { index, block } => {
                let block = match block {
                    Started::Text => object(vec![("type", "text".into())]),
                    Started::Thinking => object(vec![("type", "thinking".into())]),
                    Started::RedactedThinking { data } => object(vec![("type", "redacted_thinking".into()), ("data", data.into())]),
                    Started::ToolCall { id, name } => object(vec![("type", "tool_call".into()), ("id", id.into()), ("name", name.into())]),
                };
                ("block_start", Some(index), Some(("block", block)))
            }
            StreamEvent::Delta { index, kind, piece } => ("delta", Some(index), Some((kind.key(), piece.into()))),
            StreamEvent::BlockStop { index, input } => ("block_stop", Some(index), input.map(|input| ("input", input))),
            StreamEvent::Usage(usage) => ("usage", None, Some(("usage", serde_json::to_value(usage).unwrap_or_default()))),
        };
        let mut event = vec![("type", Value::from(kind))];
        event.extend(index.map(|i| ("index", Value::from(i))));
        event.extend(rest);
        object(event)
    }
}

/// A JSON object of `pairs`, their values moved in (inserted one by one: collecting into the
/// map would sort them, and bring the sorting code into the component).
pub(crate) fn object(pairs: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (k, v) in pairs {
        map.insert(k.to_string(), v);
    }
    Value::Object(map)
}

/// For a JSON `response_format`: the answer tool's block delivered as a text block whose text is
/// the JSON as it arrives. `answer_block` remembers which block that is.
pub(crate) fn answer_as_text(event: &mut StreamEvent, tool: &str, answer_block: &mut Option<u64>) {
    match event {
        StreamEvent::BlockStart { index, block } if matches!(&*block, Started::ToolCall { name, .. } if name == tool) => {
            *answer_block = Some(*index);
            *block = Started::Text;
        }
        StreamEvent::Delta { index, kind: kind @ DeltaKind::PartialJson, .. } if Some(*index) == *answer_block => *kind = DeltaKind::Text,
        StreamEvent::BlockStop { index, input } if Some(*index) == *answer_block => *input = None,
        _ => {}
    }
}
