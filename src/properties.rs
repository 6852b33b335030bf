//! Bounded property runs of what `fuzz/` runs unbounded: whatever bytes arrive (a request, a
//! Bedrock answer, an event stream in any pieces, config values), the result is a value or a
//! prefixed error, never a panic.

use proptest::prelude::*;
use serde_json::json;

use crate::config::ProviderConfig;
use crate::error::{ErrorKind, ProviderError};
use crate::eventstream::{interpret, FrameReader};
use crate::provider::complete;
use crate::testing::{ConfigPairs, FakePlatform};

const ANSWER: &str = r#"{"id":"m","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#;

/// Whether `e` is shown as one of the documented prefixes then a message; `Display` writes
/// `kind.prefix()`, so this holds unless the message is empty or a kind lacks a prefix.
fn prefixed(e: &ProviderError) -> bool {
    let shown = e.to_string();
    ErrorKind::ALL
        .iter()
        .any(|k| shown.strip_prefix(k.prefix()).and_then(|rest| rest.strip_prefix(": ")).is_some_and(|m| !m.trim().is_empty()))
}

/// Requests that are mostly well-formed, so the run gets past parsing into the rules.
fn request() -> impl Strategy<Value = Vec<u8>> {
    let role = prop_oneof![Just("user"), Just("assistant"), Just("system"), Just("developer"), Just("tool"), Just("robot")];
    let block = prop_oneof![
        ".{0,12}".prop_map(|t| json!({"type": "text", "text": t})),
        ".{0,12}".prop_map(|t| json!({"type": "thinking", "thinking": t, "signature": "sig"})),
        "[a-z]{0,6}".prop_map(|n| json!({"type": "tool_call", "id": "t1", "name": n, "input": {}})),
        Just(json!({"type": "tool_result", "tool_call_id": "t1", "output": "ok"})),
        Just(json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})),
    ];
    let content = prop_oneof![".{0,12}".prop_map(|t| json!(t)), proptest::collection::vec(block, 0..3).prop_map(|b| json!(b))];
    let message = (role, content).prop_map(|(r, c)| json!({"role": r, "content": c, "tool_call_id": "t1"}));
    (
        proptest::collection::vec(message, 0..5),
        proptest::option::of(-1.0f64..2.0),
        proptest::option::of(0.0f64..1.5),
        proptest::option::of(-5i64..70_000),
        proptest::option::of(prop_oneof![Just("low"), Just("high"), Just("max")]),
        proptest::option::of(prop_oneof![Just(json!({"type": "json"})), Just(json!({"type": "xml"}))]),
        any::<bool>(),
    )
        .prop_map(|(messages, temperature, top_p, max, effort, format, stream)| {
            let mut r = json!({"messages": messages, "stream": stream});
            for (k, v) in [
                ("temperature", temperature.map(|t| json!(t))),
                ("top_p", top_p.map(|t| json!(t))),
                ("max_output_tokens", max.map(|m| json!(m))),
            ] {
                if let Some(v) = v {
                    r[k] = v;
                }
            }
            if let Some(e) = effort {
                r["reasoning_effort"] = json!(e);
            }
            if let Some(f) = format {
                r["response_format"] = f;
            }
            serde_json::to_vec(&r).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_request_is_answered_or_refused_with_a_prefix(body in prop_oneof![request(), proptest::collection::vec(any::<u8>(), 0..64)]) {
        let platform = FakePlatform::answering(200, "application/json", ANSWER.as_bytes().to_vec(), 64);
        if let Err(e) = complete(&body, &platform) {
            prop_assert!(prefixed(&e), "{}", e);
        }
    }

    #[test]
    fn any_bedrock_answer_is_parsed_or_classified(
        status in prop_oneof![Just(200u16), Just(400), Just(403), Just(429), Just(500), Just(503), Just(307)],
        body in prop_oneof![proptest::collection::vec(any::<u8>(), 0..256), Just(ANSWER.as_bytes().to_vec())],
        piece in 1usize..64,
    ) {
        let platform = FakePlatform::answering(status, "application/json", body, piece);
        if let Err(e) = complete(br#"{"messages": [{"role": "user", "content": "Hello"}]}"#, &platform) {
            prop_assert!(prefixed(&e), "{}", e);
        }
    }

    #[test]
    fn any_event_stream_bytes_in_any_pieces_end_in_frames_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..512), piece in 1usize..40) {
        let mut reader = FrameReader::new();
        'feed: for chunk in bytes.chunks(piece) {
            reader.push(chunk);
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => { let _ = interpret(&frame); }
                    Ok(None) => break,
                    Err(e) => { prop_assert!(!e.to_string().is_empty()); break 'feed; }
                }
            }
        }
        let _ = reader.finish();
    }

    #[test]
    fn any_config_values_resolve_or_name_the_key(pairs in proptest::collection::vec(
        (prop_oneof![Just("temperature".to_string()), Just("max_tokens".to_string()), Just("timeout".to_string()), Just("endpoint_url".to_string()), Just("max_retries".to_string()), Just("debug".to_string()), "[a-z_]{1,10}"], ".{0,10}"),
        0..6,
    )) {
        let source = ConfigPairs(pairs);
        if let Err(e) = ProviderConfig::resolve(&source) {
            prop_assert!(ProviderError::from(e).to_string().starts_with("config: "));
        }
    }
}
