//! Bedrock's event-stream framing: Anthropic's streaming events for a message, and the
//! `chunk` and exception frames that carry them in an InvokeModelWithResponseStream body.

use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use base64::Engine as _;
use serde_json::{json, Value};

/// Anthropic streaming events for a complete message, as Bedrock sends them. Bedrock's own
/// top-level fields (`amazon-bedrock-guardrailAction`, `amazon-bedrock-trace`, …) go into the
/// last event, where Bedrock puts its invocation metrics.
pub fn stream_events(message: &Value) -> Vec<Value> {
    let mut start = message.clone();
    let bedrock_fields: Vec<(String, Value)> = match start.as_object_mut() {
        Some(fields) => {
            let keys: Vec<String> = fields.keys().filter(|k| k.starts_with("amazon-bedrock-")).cloned().collect();
            keys.into_iter().filter_map(|k| fields.remove(&k).map(|v| (k, v))).collect()
        }
        None => vec![],
    };
    start["content"] = json!([]);
    start["stop_reason"] = Value::Null;
    let input_tokens = message["usage"]["input_tokens"].as_u64().unwrap_or(0);
    // message_start carries the input side of usage (cache counts included), as Bedrock's does.
    let mut usage = message["usage"].as_object().cloned().unwrap_or_default();
    usage.insert("input_tokens".into(), json!(input_tokens));
    usage.insert("output_tokens".into(), json!(1));
    start["usage"] = Value::Object(usage);
    let mut events = vec![json!({"type": "message_start", "message": start})];
    for (index, block) in message["content"].as_array().into_iter().flatten().enumerate() {
        let (empty, delta) = match block["type"].as_str() {
            Some("text") => (json!({"type": "text", "text": ""}), Some(json!({"type": "text_delta", "text": block["text"]}))),
            Some("tool_use") => (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                Some(json!({"type": "input_json_delta", "partial_json": block["input"].to_string()})),
            ),
            Some("thinking") => {
                (json!({"type": "thinking", "thinking": ""}), Some(json!({"type": "thinking_delta", "thinking": block["thinking"]})))
            }
            _ => (block.clone(), None),
        };
        events.push(json!({"type": "content_block_start", "index": index, "content_block": empty}));
        if let Some(delta) = delta {
            events.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
        }
        if let Some(sig) = block.get("signature") {
            events.push(json!({"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": sig}}));
        }
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}, "usage": {"output_tokens": message["usage"]["output_tokens"]}}));
    let mut stop = json!({"type": "message_stop", "amazon-bedrock-invocationMetrics": {
        "inputTokenCount": input_tokens, "outputTokenCount": message["usage"]["output_tokens"], "invocationLatency": 100, "firstByteLatency": 50
    }});
    if let Some(stop) = stop.as_object_mut() {
        stop.extend(bedrock_fields);
    }
    events.push(stop);
    events
}

/// Headers of an InvokeModelWithResponseStream answer.
pub(super) fn stream_headers() -> Vec<(String, String)> {
    vec![
        ("Content-Type".into(), "application/vnd.amazon.eventstream".into()),
        ("X-Amzn-Bedrock-Content-Type".into(), "application/json".into()),
    ]
}

fn frame(headers: &[(&str, &str)], payload: Vec<u8>) -> Vec<u8> {
    let mut message = Message::new(payload);
    for (k, v) in headers {
        message = message.add_header(Header::new(k.to_string(), HeaderValue::String(v.to_string().into())));
    }
    let mut out = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&message, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// One `chunk` frame carrying an Anthropic event, as Bedrock frames it.
pub fn chunk_frame(event: &Value) -> Vec<u8> {
    let payload = json!({"bytes": base64::engine::general_purpose::STANDARD.encode(event.to_string()), "p": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123"});
    frame(&[(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")], payload.to_string().into_bytes())
}

/// One exception frame (`throttlingException`, `modelStreamErrorException`, …).
pub fn exception_frame(kind: &str, message: &str) -> Vec<u8> {
    frame(
        &[(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")],
        json!({ "message": message }).to_string().into_bytes(),
    )
}
