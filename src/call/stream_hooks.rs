//! The `llm:stream_*` hook events of one stream, in the payload shape of Amplifier's provider
//! streaming contract: text and thinking deltas (never empty), each numbered per block; a tool
//! call is a block start and end without deltas.

use serde_json::json;

use crate::call::emitter::Emitter;
use crate::hooks::{LLM_STREAM_BLOCK_DELTA, LLM_STREAM_BLOCK_END, LLM_STREAM_BLOCK_START, LLM_STREAM_THINKING_DELTA};
use crate::response::assembler::ByIndex;
use crate::response::events::{DeltaKind, Started, StreamEvent};

/// Each open block's type and the sequence number of its next delta.
#[derive(Debug, Default)]
pub(crate) struct StreamHooks {
    blocks: ByIndex<(&'static str, u64)>,
}

impl StreamHooks {
    /// The hook event for one of our stream events, if it has one.
    pub(crate) fn on(&mut self, event: &StreamEvent, emitter: &Emitter<'_>) {
        match event {
            StreamEvent::BlockStart { index, block } => {
                let kind = match block {
                    Started::Text => "text",
                    Started::Thinking => "thinking",
                    Started::RedactedThinking { .. } => "redacted_thinking",
                    Started::ToolCall { .. } => "tool_use",
                };
                self.blocks.insert(*index, (kind, 0));
                let mut data = json!({"block_index": index, "block_type": kind});
                if let Started::ToolCall { id, name } = block {
                    data["name"] = json!(name);
                    data["id"] = json!(id);
                }
                emitter.emit(LLM_STREAM_BLOCK_START, data);
            }
            StreamEvent::Delta { index, kind: delta, piece } => {
                let Some((kind, sequence)) = self.blocks.get_mut(*index) else { return };
                let name = match delta {
                    DeltaKind::Text => LLM_STREAM_BLOCK_DELTA,
                    DeltaKind::Thinking => LLM_STREAM_THINKING_DELTA,
                    DeltaKind::Signature | DeltaKind::PartialJson => return,
                };
                if piece.is_empty() {
                    return;
                }
                emitter.emit(name, json!({"block_index": index, "block_type": kind, "sequence": *sequence, "text": piece}));
                *sequence += 1;
            }
            StreamEvent::BlockStop { index, .. } => {
                if let Some((kind, _)) = self.blocks.remove(*index) {
                    emitter.emit(LLM_STREAM_BLOCK_END, json!({"block_index": index, "block_type": kind}));
                }
            }
            StreamEvent::Usage(_) => {}
        }
    }
}
