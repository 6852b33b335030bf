//! The streaming event schema handed to hosts one event at a time.
//!
//! Events (UTF-8 JSON objects, discriminated by `type`):
//! - `block_start` `{index, block: {type, …}}`: a content block begins (`tool_call` carries `id`, `name`).
//! - `delta` `{index, text | thinking | signature | partial_json}`: more of that block.
//! - `block_stop` `{index}`: the block is complete.
//! - `usage` `{usage}`: token usage in the ChatResponse `usage` shape.
//! - `done` `{finish_reason, tool_calls, usage, metadata}`: the last event.

use serde_json::{json, Map, Value};

use crate::messages::{ChatResponse, ContentBlock};

/// The events describing `response`, in order.
pub fn events_for(response: &ChatResponse) -> Vec<Value> {
    let mut events = Vec::new();
    for (index, block) in response.content.iter().enumerate() {
        let (start, deltas): (Value, Vec<Value>) = match block {
            ContentBlock::Text { text, .. } => (json!({"type": "text"}), vec![json!({"text": text})]),
            ContentBlock::Thinking { thinking, signature, .. } => {
                let mut d = vec![json!({"thinking": thinking})];
                if let Some(sig) = signature {
                    d.push(json!({"signature": sig}));
                }
                (json!({"type": "thinking"}), d)
            }
            ContentBlock::RedactedThinking { data, .. } => (json!({"type": "redacted_thinking", "data": data}), vec![]),
            ContentBlock::ToolCall { id, name, input, .. } => (
                json!({"type": "tool_call", "id": id, "name": name}),
                vec![json!({"partial_json": Value::Object(input.clone()).to_string()})],
            ),
            // A response never carries these; nothing to stream.
            ContentBlock::ToolResult { .. }
            | ContentBlock::Image { .. }
            | ContentBlock::Document { .. }
            | ContentBlock::Reasoning { .. } => continue,
        };
        events.push(json!({"type": "block_start", "index": index, "block": start}));
        for mut d in deltas {
            let obj = d.as_object_mut().map(std::mem::take).unwrap_or_default();
            let mut event = Map::new();
            event.insert("type".into(), json!("delta"));
            event.insert("index".into(), json!(index));
            event.extend(obj);
            events.push(Value::Object(event));
        }
        events.push(json!({"type": "block_stop", "index": index}));
    }
    if let Some(usage) = &response.usage {
        events.push(json!({"type": "usage", "usage": usage}));
    }
    events.push(json!({
        "type": "done",
        "finish_reason": response.finish_reason,
        "tool_calls": response.tool_calls.clone().unwrap_or_default(),
        "usage": response.usage,
        "metadata": response.metadata,
    }));
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_call_response_becomes_ordered_events() {
        let r: ChatResponse = serde_json::from_value(json!({
            "content": [{"type": "text", "text": "Let me check."}, {"type": "tool_call", "id": "t", "name": "f", "input": {"a": 1}}],
            "finish_reason": "tool_calls",
            "usage": {"input_tokens": 1, "output_tokens": 2, "total_tokens": 3}
        }))
        .unwrap();
        let types: Vec<String> = events_for(&r).iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
        assert_eq!(types, ["block_start", "delta", "block_stop", "block_start", "delta", "block_stop", "usage", "done"]);
        let ev = events_for(&r);
        assert_eq!(ev[4], json!({"type": "delta", "index": 1, "partial_json": "{\"a\":1}"}));
        assert_eq!(ev[7]["finish_reason"], "tool_calls");
    }
}
