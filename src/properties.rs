//! Bounded property runs of what `fuzz/` runs unbounded, each a statement that a wrong
//! implementation would break: requests round-trip through their parser, translation keeps
//! every message in order, validation accepts exactly the tool sequences its rule allows and
//! repair answers exactly the calls left open, a call is refused before sending or answered,
//! retries follow the error's class, an event stream decodes the same in any pieces, and config
//! values are refused exactly when they are invalid, naming the key.

use proptest::prelude::*;
use serde_json::{json, Value};

use crate::config::{ProviderConfig, KEYS};
use crate::contract::messages::{ChatRequest, ContentBlock, Role};
use crate::provider::complete;
use crate::testing::{ConfigPairs, FakePlatform};
use crate::wire::eventstream::FrameReader;

const ANSWER: &str = r#"{"id":"m","type":"message","role":"assistant","model":"claude","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#;

/// Requests that are mostly well-formed, so the run gets past parsing into the rules.
fn request_value(stream: impl Strategy<Value = bool>) -> impl Strategy<Value = Value> {
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
        stream,
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
            r
        })
}

fn parse(value: &Value) -> Result<ChatRequest, crate::contract::parse::ParseError> {
    crate::contract::parse::chat_request("request", &serde_json::to_vec(value).unwrap())
}

/// One step of a generated tool conversation.
#[derive(Debug, Clone)]
enum Step {
    /// A user message with text.
    User,
    /// An assistant message making this many tool calls (fresh ids).
    Calls(usize),
    /// Tool messages answering the open calls whose bit is set, in call order.
    Answers(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![Just(Step::User), (0usize..3).prop_map(Step::Calls), any::<u8>().prop_map(Step::Answers)]
}

/// The conversation for `steps` (after a first user message), and what the documented rule
/// says of it: whether it is valid (no tool call is left open when the next assistant message
/// or user text comes; calls of the last assistant message may be open), and the calls left
/// open that way, in order.
fn tool_conversation(steps: &[Step]) -> (Value, bool, Vec<String>) {
    let mut messages = vec![json!({"role": "user", "content": "q"})];
    let (mut open, mut closed_unanswered) = (Vec::<String>::new(), Vec::<String>::new());
    let mut next_id = 0;
    for step in steps {
        match step {
            Step::User => {
                closed_unanswered.append(&mut open);
                messages.push(json!({"role": "user", "content": "more"}));
            }
            Step::Calls(n) => {
                closed_unanswered.append(&mut open);
                let mut content = vec![json!({"type": "text", "text": "calling"})];
                for _ in 0..*n {
                    let id = format!("c{next_id}");
                    next_id += 1;
                    content.push(json!({"type": "tool_call", "id": id, "name": "f", "input": {}}));
                    open.push(id);
                }
                messages.push(json!({"role": "assistant", "content": content}));
            }
            Step::Answers(mask) => {
                let mut still_open = Vec::new();
                for (i, id) in open.drain(..).enumerate() {
                    if mask & (1 << i) != 0 {
                        messages.push(json!({"role": "tool", "tool_call_id": id, "content": "done"}));
                    } else {
                        still_open.push(id);
                    }
                }
                open = still_open;
            }
        }
    }
    let valid = closed_unanswered.is_empty();
    (json!({"messages": messages}), valid, closed_unanswered)
}

/// Frames (as text) and the first error, reading `bytes` in pieces of `piece` bytes.
fn frames(bytes: &[u8], piece: usize) -> (Vec<String>, Option<String>) {
    let mut reader = FrameReader::new();
    let mut out = Vec::new();
    for chunk in bytes.chunks(piece.max(1)) {
        reader.push(chunk);
        loop {
            match reader.next_frame() {
                Ok(Some(frame)) => out.push(format!("{frame:?}")),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    (out, reader.finish().err().map(|e| e.to_string()))
}

/// The recorded and crafted InvokeModelWithResponseStream bodies of testdata/streams.
fn recorded_streams() -> &'static [Vec<u8>] {
    static STREAMS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    STREAMS.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/streams");
        let mut paths: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "bin")).collect();
        paths.sort();
        paths.into_iter().map(|p| std::fs::read(p).unwrap()).collect()
    })
}

/// The (role, text) of every text block, in order.
fn texts(messages: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in messages.as_array().into_iter().flatten() {
        for b in m["content"].as_array().into_iter().flatten() {
            if let Some(t) = b["text"].as_str() {
                out.push((m["role"].as_str().unwrap_or("system").to_string(), t.to_string()));
            }
        }
    }
    out
}

/// The config keys whose values the property below sets; each is read on its own (no other key
/// changes how it is read).
const INDEPENDENT_KEYS: &[&str] = &["temperature", "max_tokens", "max_retries", "debug", "timeout"];

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Parsing what was parsed and written back gives the same request: the parser and the
    /// writer agree on every field, extension and absent value.
    #[test]
    fn a_request_survives_parse_write_parse(request in request_value(any::<bool>())) {
        // Requests the parser refuses (a `robot` role) have nothing to write back.
        let Ok(once) = parse(&request) else { return Ok(()) };
        let again = parse(&serde_json::to_value(&once).unwrap()).unwrap();
        prop_assert_eq!(once, again);
    }

    /// Every system text goes to `system` and every other non-empty text to `messages`, in
    /// the order given, and the turns sent alternate between user and assistant.
    #[test]
    fn translation_keeps_every_text_in_order_in_alternating_turns(
        messages in proptest::collection::vec(
            prop_oneof![
                ".{1,12}".prop_map(|t| ("user", t)),
                ".{0,12}".prop_map(|t| ("assistant", t)),
                ".{0,12}".prop_map(|t| ("system", t)),
            ],
            1..8,
        ),
        as_blocks in any::<bool>(),
    ) {
        let wrap = |t: &str| if as_blocks { json!([{"type": "text", "text": t}]) } else { json!(t) };
        let sent: Vec<Value> = messages.iter().map(|(r, t)| json!({"role": r, "content": wrap(t)})).collect();
        let mut request = parse(&json!({"messages": sent})).unwrap();
        let config = ProviderConfig::resolve(&ConfigPairs::default()).unwrap();
        let model = crate::models::lookup(crate::models::DEFAULT_MODEL);
        let t = crate::translate::to_anthropic(&mut request, &config, model, crate::models::Api::Invoke).unwrap();
        let given = |system: bool| -> Vec<String> {
            messages.iter().filter(|(r, t)| (*r == "system") == system && !t.is_empty()).map(|(_, t)| t.clone()).collect()
        };
        let system: Vec<String> = t.body["system"].as_array().into_iter().flatten().map(|b| b["text"].as_str().unwrap().to_string()).collect();
        prop_assert_eq!(system, given(true));
        let turns = texts(&t.body["messages"]);
        prop_assert_eq!(turns.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(), given(false));
        let roles: Vec<&str> = messages.iter().filter(|(r, t)| *r != "system" && !t.is_empty()).map(|(r, _)| *r).collect();
        prop_assert_eq!(turns.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(), roles);
        let sent_roles: Vec<&Value> = t.body["messages"].as_array().unwrap().iter().map(|m| &m["role"]).collect();
        prop_assert!(sent_roles.windows(2).all(|w| w[0] != w[1]), "{:?}", sent_roles);
    }

    /// Validation accepts a tool conversation exactly when no call is left unanswered by the
    /// time the next assistant message or user text comes.
    #[test]
    fn validation_accepts_exactly_the_tool_sequences_the_rule_allows(steps in proptest::collection::vec(step(), 0..10)) {
        let (request, valid, _) = tool_conversation(&steps);
        let outcome = crate::contract::validate::validate(&parse(&request).unwrap());
        prop_assert_eq!(outcome.is_ok(), valid, "{:?}", outcome.err().map(|e| e.to_string()));
    }

    /// Repair answers exactly the calls the rule finds unanswered, in order, keeps every message
    /// it was given in order, adds tool messages only, and leaves a conversation validation takes.
    #[test]
    fn repair_answers_exactly_the_open_calls_and_keeps_every_message(steps in proptest::collection::vec(step(), 0..10)) {
        let (request, _, unanswered) = tool_conversation(&steps);
        let original = parse(&request).unwrap();
        let mut repaired = original.clone();
        prop_assert_eq!(crate::contract::validate::repair(&mut repaired), unanswered.clone());
        prop_assert!(crate::contract::validate::validate(&repaired).is_ok());
        let mut kept = repaired.messages.iter();
        for message in &original.messages {
            prop_assert!(kept.any(|m| m == message), "a message was lost or moved: {:?}", message);
        }
        let added: Vec<&str> = repaired.messages.iter().filter(|m| !original.messages.contains(m)).map(|m| {
            assert_eq!(m.role, Role::Tool);
            m.tool_call_id.as_deref().unwrap()
        }).collect();
        prop_assert_eq!(added, unanswered.iter().map(String::as_str).collect::<Vec<_>>());
    }

    /// Whatever the request, the call is refused as `validation:` with nothing sent, or Bedrock
    /// is asked once and its answer returned.
    #[test]
    fn a_request_is_refused_before_sending_or_answered(body in prop_oneof![
        request_value(Just(false)).prop_map(|r| serde_json::to_vec(&r).unwrap()),
        proptest::collection::vec(any::<u8>(), 0..64),
    ]) {
        let platform = FakePlatform::answering(200, "application/json", ANSWER.as_bytes().to_vec(), 64);
        match complete(&body, &platform) {
            Ok(response) => {
                prop_assert_eq!(platform.requests_sent(), 1);
                prop_assert_eq!(&response.content, &vec![ContentBlock::Text { text: "ok".into(), extensions: Default::default() }]);
            }
            Err(e) => {
                prop_assert_eq!(platform.requests_sent(), 0, "{}", e);
                prop_assert_eq!(e.kind.prefix(), "validation", "{}", e);
            }
        }
    }

    /// An answer comes back exactly when Bedrock said 200 with a message; a failure is retried
    /// (`max_retries` is 1) exactly when its status is a transient one (429, 500, 503).
    #[test]
    fn an_answer_is_returned_only_for_a_message_and_only_transient_failures_are_retried(
        status in prop_oneof![Just(200u16), Just(400), Just(403), Just(429), Just(500), Just(503), Just(307)],
        answer in any::<bool>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..256),
        piece in 1usize..64,
    ) {
        let body = if answer { ANSWER.as_bytes().to_vec() } else { garbage };
        let platform = FakePlatform::answering(status, "application/json", body, piece);
        let outcome = complete(br#"{"messages": [{"role": "user", "content": "Hello"}]}"#, &platform);
        prop_assert_eq!(outcome.is_ok(), status == 200 && answer, "{:?}", outcome.err().map(|e| e.to_string()));
        let transient = matches!(status, 429 | 500 | 503);
        prop_assert_eq!(platform.requests_sent(), if transient { 2 } else { 1 });
    }

    /// An event stream gives the same frames, and the same error at the same place, read whole
    /// or in pieces of any size, intact, cut short or with a byte changed.
    #[test]
    fn an_event_stream_decodes_the_same_in_any_pieces(
        which in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        flip in proptest::option::of((any::<prop::sample::Index>(), 1u8..=255)),
        piece in 1usize..40,
    ) {
        let mut bytes = which.get(recorded_streams()).clone();
        if let Some((at, xor)) = flip {
            let at = at.index(bytes.len());
            bytes[at] ^= xor;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        let whole = frames(&bytes, bytes.len());
        prop_assert_eq!(frames(&bytes, piece), whole.clone());
        if flip.is_none() && !truncate {
            prop_assert!(whole.1.is_none() && !whole.0.is_empty(), "a recorded stream decodes: {:?}", whole.1);
        }
    }

    /// Config resolves exactly when every value resolves on its own, and a refusal names a key
    /// whose value is refused on its own; keys it does not know never make it fail.
    #[test]
    fn config_is_refused_exactly_for_an_invalid_value_naming_its_key(pairs in proptest::collection::vec(
        (
            prop_oneof![proptest::sample::select(INDEPENDENT_KEYS).prop_map(str::to_string), "x_[a-z]{1,8}"],
            prop_oneof!["[0-9]{1,6}", "[01]\\.[0-9]{1,2}", "-[0-9]", "true|false|yes|off", ".{0,6}"],
        ),
        0..6,
    )) {
        let alone = |k: &str, v: &str| ProviderConfig::resolve(&ConfigPairs(vec![(k.to_string(), v.to_string())])).is_ok();
        // The last value of a key is the one read.
        let bad: Vec<&str> = INDEPENDENT_KEYS
            .iter()
            .copied()
            .filter(|k| pairs.iter().rev().find(|(key, _)| key == k).is_some_and(|(_, v)| !alone(k, v)))
            .collect();
        match ProviderConfig::resolve(&ConfigPairs(pairs.clone())) {
            Ok(_) => prop_assert!(bad.is_empty(), "{:?} accepted", bad),
            Err(e) => {
                let shown = e.to_string();
                prop_assert!(bad.iter().any(|k| shown.contains(k)), "{} names none of {:?}", shown, bad);
            }
        }
    }

    /// Setting any keys to their documented defaults resolves to the same configuration as
    /// leaving them unset: each default parses, and means what an unset key means. Except
    /// `temperature`, whose default (1.0) is the model's own: unset, none is sent, while a
    /// configured one is sent (and yields to a request's `top_p`, reported as a change).
    #[test]
    fn keys_set_to_their_defaults_change_nothing(mask in proptest::collection::vec(any::<bool>(), KEYS.len())) {
        let pairs: Vec<(String, String)> = KEYS
            .iter()
            .zip(&mask)
            .filter(|(k, _)| k.name != "temperature")
            .filter_map(|(k, set)| k.default.filter(|_| *set).map(|d| (k.name.to_string(), d.to_string())))
            .collect();
        let unset = ProviderConfig::resolve(&ConfigPairs::default()).unwrap();
        prop_assert_eq!(ProviderConfig::resolve(&ConfigPairs(pairs)).unwrap(), unset);
    }
}

#[test]
fn a_tool_conversation_generator_covers_both_answers() {
    // The oracle itself: an answered call is valid, an unanswered one before more text is not.
    let (_, valid, open) = tool_conversation(&[Step::Calls(1), Step::Answers(1), Step::User]);
    assert!(valid && open.is_empty());
    let (_, valid, open) = tool_conversation(&[Step::Calls(2), Step::Answers(0b10), Step::User]);
    assert!(!valid);
    assert_eq!(open, ["c0"]);
}
