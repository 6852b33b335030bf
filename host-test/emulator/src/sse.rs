//! Server-sent events as the Messages API streams them (`"stream": true` on
//! `POST /anthropic/v1/messages`): one `event: <type>` line and one `data: <json>` line per
//! Anthropic event, a blank line after each, a `ping` after `message_start`, and an in-band
//! `error` event when a stream fails after it has begun.

use serde_json::{json, Value};

use super::eventstream::stream_events;

/// The `data` of a ping exactly as Anthropic writes it (with its space).
const PING_DATA: &str = r#"{"type": "ping"}"#;

/// Anthropic's streaming events for a complete message, as the Messages API sends them:
/// `message_start`, a `ping`, each content block's start, deltas and stop, `message_delta`
/// and a bare `message_stop` (none of Bedrock's InvokeModel fields: no
/// `amazon-bedrock-invocationMetrics`, no guardrail fields).
pub fn sse_events(message: &Value) -> Vec<Value> {
    let mut events = stream_events(message);
    if let Some(stop) = events.last_mut() {
        *stop = json!({"type": "message_stop"});
    }
    events.insert(1.min(events.len()), json!({"type": "ping"}));
    events
}

/// One event as it goes on the wire: `event: <type>\ndata: <compact json>\n\n` (a ping's data
/// as Anthropic writes it).
pub(super) fn sse_frame(event: &Value) -> String {
    let kind = event["type"].as_str().unwrap_or("message");
    let data = if *event == json!({"type": "ping"}) { PING_DATA.to_string() } else { event.to_string() };
    format!("event: {kind}\ndata: {data}\n\n")
}

/// A stream's body: the frames of `events`, in order.
pub(super) fn sse_body(events: &[Value]) -> Vec<u8> {
    events.iter().map(sse_frame).collect::<String>().into_bytes()
}

/// Anthropic's error object, the body of an error answer and the data of an in-band `error`
/// event: `{"type": "error", "error": {"type": kind, "message": message}}`.
pub(super) fn error_event(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// Headers of a streamed Messages-API answer.
pub(super) fn sse_headers() -> Vec<(String, String)> {
    vec![("Content-Type".into(), "text/event-stream".into()), ("Cache-Control".into(), "no-cache".into())]
}

/// A stream's body parsed back into (event name, data) pairs by the component's own decoder
/// (`amplifier_provider_bedrock::sse`), as a client reads it: a body it cannot read, or one that
/// ends inside an event, fails the test.
#[cfg(test)]
pub(super) fn decode_sse(body: &str) -> Vec<(String, Value)> {
    let mut reader = amplifier_provider_bedrock::sse::SseReader::new();
    reader.push(body.as_bytes());
    let mut events = Vec::new();
    while let Some(event) = reader.next_event().expect("a well-formed event stream") {
        events.push((event.event, serde_json::from_str(&event.data).unwrap_or(Value::Null)));
    }
    reader.finish().expect("the stream ends between events");
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_streams_as_anthropics_events_with_a_ping_and_a_bare_stop() {
        let message = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "anthropic.claude-sonnet-5",
            "content": [{"type": "thinking", "thinking": "hm", "signature": "sig"}, {"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2},
            "amazon-bedrock-guardrailAction": "NONE",
        });
        let body = String::from_utf8(sse_body(&sse_events(&message))).unwrap();
        assert!(body.starts_with("event: message_start\ndata: {"), "{body}");
        assert!(body.contains("\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\nevent: content_block_start\n"), "{body}");
        assert!(body.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), "{body}");
        let events = decode_sse(&body);
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "ping",
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        assert!(events.iter().all(|(name, data)| data["type"] == name.as_str()), "each event names its data's type");
        assert_eq!(events[4].1["delta"], json!({"type": "signature_delta", "signature": "sig"}));
        assert_eq!(events[0].1["message"]["model"], "anthropic.claude-sonnet-5");
        let frame = sse_frame(&error_event("overloaded_error", "Overloaded"));
        assert!(frame.starts_with("event: error\ndata: {") && frame.ends_with("}\n\n"), "{frame}");
        assert_eq!(
            decode_sse(&frame),
            [("error".to_string(), json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))]
        );
    }
}
