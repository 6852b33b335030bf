//! The pipeline of a call, the whole flow in one place: the request is parsed once
//! (`contract`), the configuration read once (`call::prepare::Setup`), then each round is
//! prepared (validated, translated, signed: `call::prepare`), sent through the one retry loop
//! (`call`), over either of Bedrock's wire formats (`wire`), and its answer assembled
//! (`response`), with hook events along the way (`hooks`). `complete` continues an answer cut
//! at `max_tokens` by extending the prepared call's body (`call::continuation`); the streaming
//! interface is [`CompletionStream`] (`call::stream`); `count-tokens` and `parse-tool-calls`
//! are the other exports. The port to the surroundings is [`Platform`].

use serde_json::{json, Value};

use crate::call::continuation::{continuable_text, stitch};
use crate::call::emitter::{Emitter, Finished};
use crate::call::prepare::{prepare, PreparedCall, Setup};
pub use crate::call::stream::CompletionStream;
use crate::call::{network_failure, with_retries, Attempts};
use crate::contract::messages::ChatResponse;
use crate::error::{ErrorKind, ProviderError};
pub use crate::port::Platform;
use crate::wire::bedrock::Next;
use crate::wire::transport::StreamingResponse;
use crate::wire::Operation;

/// `complete`: ChatRequest JSON → ChatResponse, with retries and hook events; an answer cut at
/// `max_tokens` is continued and stitched when `max_continuations` allows.
pub fn complete(request_json: &[u8], platform: &dyn Platform) -> Result<ChatResponse, ProviderError> {
    let (request, setup) = Setup::start(request_json, platform)?;
    let operation = if request.stream == Some(true) { Operation::Stream } else { Operation::Complete };
    let call = prepare(request, &setup, platform, operation, request_json)?;
    let (mut response, mut call) = complete_round(call, platform)?;
    let mut round = 0;
    while round < call.config.max_continuations {
        let Some(prefill) = continuable_text(&response) else { break };
        let Some(body) = call.continuation_body(&prefill) else { break };
        call.continue_with(body, platform)?;
        round += 1;
        let output_tokens = response.usage.as_ref().map_or(0, |u| u.output_tokens);
        Emitter::new(platform, &call).continuation(round, output_tokens, &prefill);
        let (more, next) = complete_round(call, platform)?;
        call = next;
        response = stitch(response, prefill.len(), more, round);
    }
    Ok(response)
}

/// One Bedrock round of `complete` (read whole from a stream when the request asks for one),
/// and the call, for a next round.
fn complete_round(mut call: PreparedCall, platform: &dyn Platform) -> Result<(ChatResponse, PreparedCall), ProviderError> {
    if call.sent.operation() == Operation::Stream {
        return CompletionStream::read_whole(call, platform);
    }
    Emitter::new(platform, &call).request(false);
    let started = platform.monotonic();
    let outcome = with_retries(platform, &mut call, &mut Attempts::default(), |call, attempt| invoke_once(platform, call, attempt))
        .map(|r| call.report.finish(r));
    Emitter::new(platform, &call).response(outcome.as_ref().map(Finished::of), platform.monotonic().saturating_sub(started), None);
    let secrets = call.secrets();
    match outcome {
        Ok(response) => Ok((response, call)),
        Err(e) => Err(e.without_secrets(&secrets)),
    }
}

/// One HTTP exchange of a call that answers with one JSON body: the body and Bedrock's request
/// id, or the attempt's failure classified.
fn exchange(platform: &dyn Platform, call: &PreparedCall, attempt: u32) -> Result<(Value, Option<String>), (ProviderError, Next)> {
    let response = platform.open(&call.sent.http, &call.sent.timeouts).and_then(StreamingResponse::read_all).map_err(network_failure)?;
    Emitter::new(platform, call).raw_response(attempt, &response);
    let request_id = response.header(call.sent.api.request_id_header()).map(str::to_string);
    if !(200..300).contains(&response.status) {
        return Err(crate::wire::classify_response(call.sent.api, &response, &call.context()));
    }
    let body: Value = serde_json::from_slice(&response.body).map_err(|e| {
        (
            ProviderError::new(ErrorKind::Bedrock, format!("Bedrock answered HTTP {} with a body that is not JSON ({e})", response.status))
                .with_request_id(request_id.clone()),
            Next::Stop,
        )
    })?;
    Ok((body, request_id))
}

/// One attempt.
fn invoke_once(platform: &dyn Platform, call: &PreparedCall, attempt: u32) -> Result<ChatResponse, (ProviderError, Next)> {
    let (message, request_id) = exchange(platform, call, attempt)?;
    crate::response::from_anthropic(message, &call.sent.model_id, request_id.as_deref()).map_err(|e| {
        (ProviderError::new(ErrorKind::Bedrock, format!("unexpected response shape: {e}")).with_request_id(request_id), Next::Stop)
    })
}

/// `count-tokens`: the input tokens a ChatRequest would use with its model, counted by
/// Bedrock's CountTokens (the request is translated exactly as `complete` would send it), as
/// `{"input_tokens", "model", "request_id"}`.
pub fn count_tokens(request_json: &[u8], platform: &dyn Platform) -> Result<Value, ProviderError> {
    let (request, setup) = Setup::start(request_json, platform)?;
    let mut call = prepare(request, &setup, platform, Operation::CountTokens, request_json)?;
    let outcome = with_retries(platform, &mut call, &mut Attempts::default(), |call, attempt| {
        let (body, request_id) = exchange(platform, call, attempt)?;
        match body.get("inputTokens").and_then(Value::as_u64) {
            Some(n) => Ok(json!({"input_tokens": n, "model": call.sent.model_id, "request_id": request_id})),
            None => Err((
                ProviderError::new(ErrorKind::Bedrock, "Bedrock's CountTokens answer has no `inputTokens` number")
                    .with_request_id(request_id),
                Next::Stop,
            )),
        }
    });
    outcome.map_err(|e| e.without_secrets(&call.secrets()))
}

/// `parse-tool-calls`: ChatResponse JSON → its `tool_calls`, or else the `tool_call` blocks of its
/// `content`, in order.
///
/// Read from the JSON directly rather than through ChatResponse's derived `Deserialize`: only
/// these fields matter here, and that deserializer alone would add some 20 KB to the component.
pub fn parse_tool_calls(response_json: &[u8]) -> Result<Vec<crate::contract::messages::ToolCall>, ProviderError> {
    let invalid = |path: String, what: &str| ProviderError::validation(format!("response field `{path}`: {what}"));
    let response: Value = serde_json::from_slice(response_json)
        .map_err(|e| ProviderError::validation(format!("response is not valid JSON of the expected shape: {e}")))?;
    let Some(response) = response.as_object() else {
        return Err(ProviderError::validation("response is not valid JSON of the expected shape: expected a ChatResponse object"));
    };
    let call = |path: String, v: &Value, arguments_key: &str| -> Result<crate::contract::messages::ToolCall, ProviderError> {
        let text = |key: &str| match v.get(key) {
            Some(Value::String(s)) => Ok(s.clone()),
            _ => Err(invalid(format!("{path}.{key}"), "expected a string")),
        };
        let arguments = match v.get(arguments_key) {
            Some(Value::Object(o)) => o.clone(),
            None | Some(Value::Null) => Default::default(),
            Some(_) => return Err(invalid(format!("{path}.{arguments_key}"), "expected an object")),
        };
        Ok(crate::contract::messages::ToolCall { id: text("id")?, name: text("name")?, arguments, extensions: Default::default() })
    };
    if let Some(calls) = response.get("tool_calls").filter(|v| !v.is_null()) {
        let calls = calls.as_array().ok_or_else(|| invalid("tool_calls".into(), "expected a list"))?;
        if !calls.is_empty() {
            return calls.iter().enumerate().map(|(i, c)| call(format!("tool_calls[{i}]"), c, "arguments")).collect();
        }
    }
    let content = match response.get("content") {
        Some(Value::Array(blocks)) => blocks,
        Some(Value::String(_)) | None => return Ok(Vec::new()),
        Some(_) => return Err(invalid("content".into(), "expected a list of content blocks")),
    };
    content
        .iter()
        .enumerate()
        .filter(|(_, b)| b.get("type").and_then(Value::as_str) == Some("tool_call"))
        .map(|(i, b)| call(format!("content[{i}]"), b, "input"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigSource;
    use crate::contract::messages::ContentBlock;
    use crate::wire::transport::HttpResponse;
    use crate::wire::transport::{HttpRequest, Timeouts, TransportError};
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::time::Duration;
    use std::time::SystemTime;
    use std::time::UNIX_EPOCH;

    struct Fake {
        config: HashMap<&'static str, &'static str>,
        answers: RefCell<Vec<HttpResponse>>,
        sent: RefCell<Vec<HttpRequest>>,
        slept: RefCell<Duration>,
        events: RefCell<Vec<String>>,
        /// When set, every 200 answer's body comes as these pieces.
        pieces: RefCell<Option<Vec<Vec<u8>>>>,
    }

    impl ConfigSource for Fake {
        fn config(&self, key: &str) -> Result<Option<String>, String> {
            Ok(self.config.get(key).map(|v| v.to_string()))
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    impl Platform for Fake {
        fn source(&self) -> &dyn ConfigSource {
            self
        }
        fn now(&self) -> SystemTime {
            UNIX_EPOCH + Duration::from_secs(1_759_147_200)
        }
        fn monotonic(&self) -> Duration {
            *self.slept.borrow()
        }
        fn random_u64(&self) -> u64 {
            u64::MAX
        }
        fn sleep(&self, d: Duration) {
            *self.slept.borrow_mut() += d;
        }
        fn emit(&self, line: &str) {
            self.events.borrow_mut().push(line.to_string());
        }
        fn open(&self, request: &HttpRequest, _: &Timeouts) -> Result<StreamingResponse, TransportError> {
            self.sent.borrow_mut().push(request.clone());
            let mut answers = self.answers.borrow_mut();
            let a = if answers.len() > 1 { answers.remove(0) } else { answers[0].clone() };
            let pieces = match &*self.pieces.borrow() {
                Some(p) if a.status == 200 => p.clone(),
                _ => vec![a.body],
            };
            Ok(StreamingResponse { status: a.status, headers: a.headers, body: Box::new(Chunks(pieces)) })
        }
    }

    fn fake(config: &[(&'static str, &'static str)], status: u16, body: &str) -> Fake {
        Fake {
            config: config.iter().copied().collect(),
            answers: RefCell::new(vec![answer(status, body)]),
            sent: RefCell::new(vec![]),
            slept: RefCell::new(Duration::ZERO),
            events: RefCell::new(vec![]),
            pieces: RefCell::new(None),
        }
    }

    /// A body delivered in the given pieces.
    struct Chunks(Vec<Vec<u8>>);

    impl crate::wire::transport::BodyStream for Chunks {
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
            Ok(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
        }
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        HttpResponse { status, headers: vec![("x-amzn-RequestId".into(), "rid-1".into())], body: body.as_bytes().to_vec() }
    }

    const CREDS: [(&str, &str); 3] =
        [("aws_region", "us-east-1"), ("aws_access_key_id", "AKIDEXAMPLE"), ("aws_secret_access_key", "SECRETKEY")];

    #[test]
    fn complete_sends_a_signed_invoke_and_maps_the_answer() {
        let f = fake(
            &CREDS,
            200,
            r#"{"content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        );
        let r = complete(br#"{"messages":[{"role":"user","content":"Hello"}]}"#, &f).unwrap();
        let sent = f.sent.borrow();
        assert_eq!(sent[0].path, "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke");
        assert_eq!(sent[0].authority, "bedrock-runtime.us-east-1.amazonaws.com");
        let auth = sent[0].headers.iter().find(|(k, _)| k == "authorization").unwrap();
        assert!(auth.1.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250929/us-east-1/bedrock/aws4_request, SignedHeaders=accept;content-type;host;x-amz-date,"), "{}", auth.1);
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.metadata.unwrap()["request_id"], "rid-1");
    }

    #[test]
    fn errors_stop_before_the_network() {
        let f = fake(&[("aws_access_key_id", "A"), ("aws_secret_access_key", "S")], 200, "{}");
        let e = complete(br#"{"messages":[{"role":"user","content":"Hello"}]}"#, &f).unwrap_err().to_string();
        assert!(e.starts_with("config: no AWS region"), "{e}");
        let f = fake(&[("aws_region", "us-east-1")], 200, "{}");
        let e = complete(br#"{"messages":[{"role":"user","content":"Hello"}]}"#, &f).unwrap_err().to_string();
        assert!(e.starts_with("auth: no AWS credentials"), "{e}");
        let e = complete(br#"{"messages":[]}"#, &fake(&CREDS, 200, "{}")).unwrap_err().to_string();
        assert!(e.starts_with("validation:"), "{e}");
        assert!(f.sent.borrow().is_empty());
    }

    #[test]
    fn a_body_over_invokemodels_limit_is_refused_before_sending_and_names_the_bulk() {
        let f = fake(
            &CREDS,
            200,
            r#"{"content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        );
        let image = "A".repeat(crate::call::prepare::INVOKE_MAX_BODY_BYTES);
        let request = json!({"messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": image}}]},
        ]});
        let e = complete(&serde_json::to_vec(&request).unwrap(), &f).unwrap_err().to_string();
        assert!(e.starts_with("validation: the request is too large for Bedrock: its InvokeModel body would be "), "{e}");
        assert!(e.contains("at most 20 MB (20000000 bytes)") && e.contains("`messages[2].content[1].source.data` (20000000 bytes)"), "{e}");
        assert!(f.sent.borrow().is_empty(), "nothing was sent");
        // Many small parts: the field that holds them.
        let many: Vec<Value> =
            (0..2001).map(|i| json!({"role": if i % 2 == 0 { "user" } else { "assistant" }, "content": "x".repeat(10_000)})).collect();
        let e = complete(&serde_json::to_vec(&json!({"messages": many})).unwrap(), &f).unwrap_err().to_string();
        assert!(e.contains("most of it is `messages` ("), "{e}");
        // Just under the limit, the body goes out whole, and is exactly as long as sized.
        let text = "y".repeat(crate::call::prepare::INVOKE_MAX_BODY_BYTES - 1000);
        complete(&serde_json::to_vec(&json!({"messages": [{"role": "user", "content": text}]})).unwrap(), &f).unwrap();
        let sent = f.sent.borrow();
        assert!(sent[0].body.len() <= crate::call::prepare::INVOKE_MAX_BODY_BYTES && sent[0].body.len() > text.len());
        assert_eq!(serde_json::from_slice::<Value>(&sent[0].body).unwrap()["messages"][0]["content"][0]["text"], text);
    }

    /// A continuation round whose body would be over InvokeModel's limit is not made: the
    /// answer that arrived stands, cut at `max_tokens`, instead of the call failing after it.
    #[test]
    fn a_continuation_over_invokemodels_limit_is_not_made_and_the_answer_stands() {
        let cut = json!({"content": [{"type": "text", "text": "w".repeat(2000)}], "stop_reason": "max_tokens",
            "usage": {"input_tokens": 3, "output_tokens": 1}});
        let f = fake(&[CREDS[0], CREDS[1], CREDS[2], ("max_continuations", "1")], 200, &cut.to_string());
        // A small request is continued (the round the big one cannot have).
        let r = complete(br#"{"messages":[{"role":"user","content":"go on"}]}"#, &f).unwrap();
        assert_eq!((f.sent.borrow().len(), r.metadata.as_ref().unwrap()["continuations"].as_u64()), (2, Some(1)));
        // One that fits with room for less than the prefill: the first round only.
        f.sent.borrow_mut().clear();
        let text = "y".repeat(crate::call::prepare::INVOKE_MAX_BODY_BYTES - 1500);
        let r = complete(&serde_json::to_vec(&json!({"messages": [{"role": "user", "content": text}]})).unwrap(), &f).unwrap();
        assert_eq!(f.sent.borrow().len(), 1, "the continuation round was not sent");
        assert_eq!(r.finish_reason.as_deref(), Some("length"));
        assert!(matches!(&r.content[..], [ContentBlock::Text { text, .. }] if text.len() == 2000), "{:?}", r.content);
        assert!(r.metadata.as_ref().unwrap().get("continuations").is_none());
    }

    #[test]
    fn the_messages_api_has_no_published_limit_so_none_is_applied() {
        let f = fake(
            &CREDS,
            200,
            r#"{"content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        );
        let text = "z".repeat(crate::call::prepare::INVOKE_MAX_BODY_BYTES + 10);
        complete(
            &serde_json::to_vec(&json!({"model": "anthropic.claude-sonnet-5", "messages": [{"role": "user", "content": text}]})).unwrap(),
            &f,
        )
        .unwrap();
        assert!(f.sent.borrow()[0].body.len() > crate::call::prepare::INVOKE_MAX_BODY_BYTES);
    }

    #[test]
    fn bedrock_errors_are_classified_with_the_request_id() {
        let f = fake(&CREDS, 429, r#"{"message":"Too many requests, please wait before trying again."}"#);
        let e = complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap_err().to_string();
        assert!(e.starts_with("throttled: Too many requests") && e.ends_with("(Bedrock request id: rid-1)"), "{e}");
    }

    #[test]
    fn parse_tool_calls_reads_content_when_tool_calls_is_absent() {
        let calls = parse_tool_calls(br#"{"content":[{"type":"tool_call","id":"a","name":"f","input":{"x":1}}]}"#).unwrap();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].arguments["x"], 1);
        let calls = parse_tool_calls(br#"{"content":[],"tool_calls":[{"id":"b","name":"g","arguments":{}}]}"#).unwrap();
        assert_eq!((calls[0].id.as_str(), calls[0].name.as_str()), ("b", "g"));
        assert!(parse_tool_calls(br#"{"content":"just text"}"#).unwrap().is_empty());
        for (bad, field) in [
            (&br#"{"content":[{"type":"tool_call","id":7,"name":"f"}]}"#[..], "`content[0].id`"),
            (br#"{"content":[{"type":"tool_call","id":"a","name":"f","input":[1]}]}"#, "`content[0].input`"),
            (br#"{"tool_calls":{"id":"a"}}"#, "`tool_calls`"),
        ] {
            let e = parse_tool_calls(bad).unwrap_err().to_string();
            assert!(e.starts_with("validation: response field ") && e.contains(field), "{e}");
        }
        assert!(parse_tool_calls(b"[1]").unwrap_err().to_string().starts_with("validation: response is not valid JSON"));
    }

    #[test]
    fn throttling_is_retried_with_backoff_then_succeeds() {
        let f = fake(&CREDS, 200, "{}");
        *f.answers.borrow_mut() = vec![
            answer(429, r#"{"message":"Too many requests"}"#),
            answer(503, r#"{"message":"unavailable"}"#),
            answer(200, r#"{"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn"}"#),
        ];
        complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap();
        assert_eq!(f.sent.borrow().len(), 3);
        // Full jitter with the largest random number waits the whole ceiling: 0.5 s, then 1 s.
        assert_eq!(*f.slept.borrow(), Duration::from_millis(1500));
    }

    #[test]
    fn retries_stop_at_max_retries_and_say_how_many_tries() {
        let f = fake(&CREDS, 500, r#"{"message":"boom"}"#);
        let e = complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap_err().to_string();
        assert_eq!(f.sent.borrow().len(), 4);
        assert!(e.contains("(gave up after 4 attempts)"), "{e}");
        let f = fake(&CREDS, 403, r#"{"message":"denied"}"#);
        complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap_err();
        assert_eq!(f.sent.borrow().len(), 1, "auth errors are never retried");
        let f = fake(&[CREDS[0], CREDS[1], CREDS[2], ("retry_budget", "0.1")], 500, r#"{"message":"boom"}"#);
        complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap_err();
        assert_eq!(f.sent.borrow().len(), 1, "a 0.5 s backoff does not fit a 0.1 s budget");
    }

    #[test]
    fn events_carry_the_contract_payloads_and_no_secrets() {
        let config = [CREDS[0], CREDS[1], CREDS[2], ("debug", "true"), ("raw_debug", "true")];
        let ok = r#"{"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":2,"cache_read_input_tokens":5}}"#;
        let f = fake(&config, 200, ok);
        complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap();
        let events: Vec<Value> = f.events.borrow().iter().map(|l| serde_json::from_str(l).unwrap()).collect();
        let names: Vec<&str> = events.iter().map(|e| e["amplifier_event"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            ["llm:request", "llm:request:debug", "llm:request:raw", "llm:response:debug", "llm:response:raw", "llm:response"]
        );
        let response = &events[5]["data"];
        assert_eq!(response["usage"], json!({"input_tokens": 8, "output_tokens": 2, "cache_read_tokens": 5}));
        assert_eq!((response["status"].as_str(), response["provider"].as_str()), (Some("ok"), Some("bedrock")));
        assert!(events[2]["data"]["headers"]["authorization"].as_str().unwrap().ends_with("Signature=<redacted>"));
        for line in f.events.borrow().iter() {
            assert!(!line.contains("SECRETKEY"), "{line}");
        }
        let f = fake(&CREDS, 200, ok);
        complete(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f).unwrap();
        assert_eq!(f.events.borrow().len(), 2, "without debug flags only llm:request and llm:response");
    }

    fn vector(path: &str) -> Value {
        serde_json::from_slice(&std::fs::read(format!("{}/testdata/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap()
    }

    /// A platform answering one streamed body, delivered in the vector's own read sizes.
    fn streaming_fake(body: Vec<u8>, sizes: &[usize]) -> Fake {
        let f = fake(&CREDS, 200, "");
        let mut pieces = Vec::new();
        let mut rest = &body[..];
        for size in sizes.iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let n = (*size).clamp(1, rest.len());
            pieces.push(rest[..n].to_vec());
            rest = &rest[n..];
        }
        *f.pieces.borrow_mut() = Some(pieces);
        f
    }

    #[test]
    fn every_stream_vector_gives_the_non_streaming_response() {
        let index = vector("streams/index.json");
        for case in index.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let meta = vector(&format!("streams/{name}.json"));
            let body = std::fs::read(format!("{}/testdata/streams/{name}.bin", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let sizes: Vec<usize> =
                meta["delivery_chunks"]["sizes"].as_array().unwrap().iter().map(|n| n.as_u64().unwrap() as usize).collect();
            let f = streaming_fake(body, &sizes);
            let streamed = complete(br#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#, &f);
            assert!(f.sent.borrow()[0].path.ends_with("/invoke-with-response-stream"), "{name}");
            let expected = &meta["expected"];
            if expected["outcome"] == "complete" {
                let streamed = streamed.unwrap_or_else(|e| panic!("{name}: {e}"));
                let plain =
                    crate::response::from_anthropic(expected["message"].clone(), "us.anthropic.claude-sonnet-4-5-20250929-v1:0", None)
                        .unwrap();
                let mut s = serde_json::to_value(&streamed).unwrap();
                let mut p = serde_json::to_value(&plain).unwrap();
                s["metadata"].as_object_mut().unwrap().remove("request_id");
                p["metadata"].as_object_mut().unwrap().remove("request_id");
                assert_eq!(s, p, "{name}");
            } else {
                let e = streamed.unwrap_err().to_string();
                let error = &expected["error"];
                assert!(e.contains(error["message"].as_str().unwrap()), "{name}: {e}");
                if error["content_delivered_before_error"] == true {
                    assert!(e.contains("received before the failure") && e.contains("partial text"), "{name}: {e}");
                }
                if error["retryable"] == true {
                    assert_eq!(f.sent.borrow().len(), 4, "{name}: retried while nothing had been delivered");
                } else {
                    assert_eq!(f.sent.borrow().len(), 1, "{name}");
                }
            }
        }
    }

    #[test]
    fn a_stream_read_whole_emits_the_hook_events_a_streamed_one_does() {
        // `complete` with `stream` makes our events only for the hook events: the lines must be
        // those of the streaming interface reading the same stream, in the same order.
        let index = vector("streams/index.json");
        for case in index.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let body = std::fs::read(format!("{}/testdata/streams/{name}.bin", env!("CARGO_MANIFEST_DIR"))).unwrap();
            let whole = streaming_fake(body.clone(), &[7]);
            let outcome = complete(br#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#, &whole);
            let streamed = streaming_fake(body, &[7]);
            let mut stream = CompletionStream::open(br#"{"messages":[{"role":"user","content":"x"}]}"#, &streamed, false).unwrap();
            while let Ok(Some(_)) = stream.next_event() {}
            drop(stream);
            if outcome.is_ok() {
                assert_eq!(*whole.events.borrow(), *streamed.events.borrow(), "{name}");
                assert!(whole.events.borrow().iter().any(|l| l.contains("llm:stream_block_start")), "{name}");
            }
            // Without hook events no event is made at all, and the answer is the same.
            let mut quiet =
                streaming_fake(std::fs::read(format!("{}/testdata/streams/{name}.bin", env!("CARGO_MANIFEST_DIR"))).unwrap(), &[7]);
            quiet.config.insert("stream_events", "false");
            let without = complete(br#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#, &quiet);
            assert_eq!(without.map_err(|e| e.to_string()), outcome.map_err(|e| e.to_string()), "{name}");
            assert!(!quiet.events.borrow().iter().any(|l| l.contains("llm:stream_block") || l.contains("llm:stream_thinking")), "{name}");
        }
    }

    #[test]
    fn streaming_events_follow_the_schema_and_keep_no_text() {
        let meta = vector("streams/text_then_tool_use_haiku45.json");
        let body = std::fs::read(format!("{}/testdata/streams/text_then_tool_use_haiku45.bin", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let f = streaming_fake(body, &[1]);
        let mut stream = CompletionStream::open(br#"{"messages":[{"role":"user","content":"x"}]}"#, &f, false).unwrap();
        let mut events = Vec::new();
        while let Some(e) = stream.next_event().unwrap() {
            events.push(e);
        }
        let text: String = events.iter().filter_map(|e| e.get("text").and_then(Value::as_str)).collect();
        assert_eq!(text, meta["expected"]["text"].as_str().unwrap());
        let done = events.last().unwrap();
        assert_eq!(done["type"], "done");
        assert_eq!(done["finish_reason"], "tool_calls");
        assert_eq!(done["tool_calls"][0]["arguments"], meta["expected"]["tool_calls"][0]["input"]);
        let hooks: Vec<Value> = f.events.borrow().iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).collect();
        let name = |e: &Value| e["amplifier_event"].as_str().unwrap().to_string();
        let names: Vec<String> = hooks.iter().map(name).filter(|n| !n.starts_with("llm:stream")).collect();
        assert_eq!(names, ["llm:request", "llm:response"]);
        // The provider streaming contract: one start/end pair per block, deltas numbered per
        // block, tool calls without deltas, and one request id for the whole call.
        let call_id = hooks[0]["data"]["request_id"].as_str().unwrap().to_string();
        assert_eq!((call_id.len(), &call_id[14..15]), (36, "4"), "a UUID v4: {call_id}");
        assert!(hooks.iter().all(|e| e["data"]["request_id"] == call_id.as_str()));
        let stream: Vec<&Value> = hooks.iter().filter(|e| name(e).starts_with("llm:stream")).collect();
        let starts: Vec<(u64, &str)> = stream
            .iter()
            .filter(|e| e["amplifier_event"] == "llm:stream_block_start")
            .map(|e| (e["data"]["block_index"].as_u64().unwrap(), e["data"]["block_type"].as_str().unwrap()))
            .collect();
        assert_eq!(starts, [(0, "text"), (1, "tool_use")]);
        assert_eq!(stream.iter().filter(|e| e["amplifier_event"] == "llm:stream_block_end").count(), 2);
        let deltas: Vec<&Value> = stream.iter().filter(|e| e["amplifier_event"] == "llm:stream_block_delta").map(|e| &e["data"]).collect();
        assert!(deltas.iter().enumerate().all(|(i, d)| d["sequence"] == i as u64 && d["block_index"] == 0 && d["text"] != ""));
        let streamed: String = deltas.iter().map(|d| d["text"].as_str().unwrap()).collect();
        assert_eq!(streamed, text, "the hook events carry the same text");
        let response: Value = serde_json::from_str(f.events.borrow().last().unwrap()).unwrap();
        assert_eq!(response["data"]["stream"], true);
        assert!(response["data"]["time_to_first_token_ms"].is_u64());
    }

    const SONNET_5: &[u8] = br#"{"model":"anthropic.claude-sonnet-5","messages":[{"role":"user","content":"Hello"}]}"#;

    #[test]
    fn a_messages_api_model_goes_to_bedrock_mantle_signed_for_it() {
        let f = fake(
            &CREDS,
            200,
            r#"{"type":"message","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}"#,
        );
        let r = complete(SONNET_5, &f).unwrap();
        let sent = f.sent.borrow();
        assert_eq!((sent[0].authority.as_str(), sent[0].path.as_str()), ("bedrock-mantle.us-east-1.api.aws", "/anthropic/v1/messages"));
        let header = |k: &str| sent[0].headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(header("anthropic-version").as_deref(), Some("2023-06-01"));
        let auth = header("authorization").unwrap();
        assert!(
            auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250929/us-east-1/bedrock-mantle/aws4_request, SignedHeaders=anthropic-version;content-type;host;x-amz-date,"),
            "{auth}"
        );
        let body: Value = serde_json::from_slice(&sent[0].body).unwrap();
        assert_eq!(body["model"], "anthropic.claude-sonnet-5");
        assert!(body.get("anthropic_version").is_none() && body.get("stream").is_none(), "{body}");
        assert_eq!(r.finish_reason.as_deref(), Some("stop"));
        assert_eq!(r.metadata.unwrap()["model"], "anthropic.claude-sonnet-5");
        let request: Value = serde_json::from_str(&f.events.borrow()[0]).unwrap();
        assert_eq!(request["data"]["api"], "messages");
    }

    #[test]
    fn route_selection_follows_the_catalog_and_the_api_key() {
        let route = |config: &[(&'static str, &'static str)], model: &str| {
            let f = fake(config, 200, r#"{"content":[],"stop_reason":"end_turn"}"#);
            let request = json!({"model": model, "messages": [{"role": "user", "content": "x"}]}).to_string();
            complete(request.as_bytes(), &f).map(|_| {
                let sent = f.sent.borrow();
                (sent[0].authority.clone(), sent[0].path.clone())
            })
        };
        let tokyo = [("aws_region", "ap-northeast-1"), CREDS[1], CREDS[2]];
        assert_eq!(route(&tokyo, "anthropic.claude-sonnet-4-6").unwrap().1, "/model/jp.anthropic.claude-sonnet-4-6/invoke");
        assert_eq!(route(&tokyo, "anthropic.claude-opus-4-6-v1").unwrap().1, "/model/jp.anthropic.claude-opus-4-6-v1/invoke");
        assert_eq!(route(&CREDS, "anthropic.claude-future-7").unwrap().1, "/anthropic/v1/messages", "an unknown bare id");
        assert_eq!(route(&CREDS, "us.anthropic.claude-future-7").unwrap().1, "/model/us.anthropic.claude-future-7/invoke");
        assert_eq!(route(&CREDS, "anthropic.claude-haiku-4-5").unwrap().1, "/anthropic/v1/messages");
        let forced = [CREDS[0], CREDS[1], CREDS[2], ("api", "invoke")];
        // No InvokeModel profile of it is known: the bare id, and Bedrock says whether it serves it.
        assert_eq!(route(&forced, "anthropic.claude-sonnet-5").unwrap().1, "/model/anthropic.claude-sonnet-5/invoke");
        let forced = [CREDS[0], CREDS[1], CREDS[2], ("api", "messages")];
        let e = route(&forced, "us.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap_err().to_string();
        assert!(e.starts_with("validation:") && e.contains("`api` is messages"), "{e}");
        let override_ = [CREDS[0], CREDS[1], CREDS[2], ("mantle_endpoint_url", "http://127.0.0.1:4000/base")];
        assert_eq!(
            route(&override_, "anthropic.claude-sonnet-5").unwrap(),
            ("127.0.0.1:4000".into(), "/base/anthropic/v1/messages".into())
        );
        let f = fake(
            &[("aws_region", "us-east-1"), ("aws_bearer_token_bedrock", "ABSKkey")],
            200,
            r#"{"content":[],"stop_reason":"end_turn"}"#,
        );
        complete(SONNET_5, &f).unwrap();
        let sent = f.sent.borrow();
        assert!(sent[0].headers.iter().any(|(k, v)| k == "authorization" && v == "Bearer ABSKkey"));
        assert!(!sent[0].headers.iter().any(|(k, _)| k == "x-amz-date"));
    }

    #[test]
    fn messages_api_errors_are_classified_and_retry_after_is_honoured() {
        let f = fake(&CREDS, 200, "{}");
        let error = |status: u16, kind: &str| HttpResponse {
            status,
            headers: vec![("request-id".into(), "req_1".into()), ("retry-after".into(), "3".into())],
            body: json!({"type": "error", "error": {"type": kind, "message": "try later"}}).to_string().into_bytes(),
        };
        *f.answers.borrow_mut() =
            vec![error(429, "rate_limit_error"), error(529, "overloaded_error"), answer(200, r#"{"content":[],"stop_reason":"end_turn"}"#)];
        complete(SONNET_5, &f).unwrap();
        assert_eq!(f.sent.borrow().len(), 3);
        assert_eq!(*f.slept.borrow(), Duration::from_secs(6), "each wait at least the 3 s retry-after asks");
        let f = fake(&CREDS, 200, "{}");
        *f.answers.borrow_mut() = vec![error(404, "not_found_error")];
        let e = complete(SONNET_5, &f).unwrap_err().to_string();
        assert!(e.starts_with("model:") && e.ends_with("(Bedrock request id: req_1)"), "{e}");
        assert_eq!(f.sent.borrow().len(), 1);
        let e = count_tokens(SONNET_5, &fake(&CREDS, 200, "{}")).unwrap_err().to_string();
        assert!(e.starts_with("model: count-tokens is not available"), "{e}");
    }

    #[test]
    fn every_sse_vector_gives_the_non_streaming_response() {
        let index = vector("sse/index.json");
        for case in index.as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let body =
                std::fs::read(format!("{}/testdata/sse/{}", env!("CARGO_MANIFEST_DIR"), case["body_file"].as_str().unwrap())).unwrap();
            let f = streaming_fake(body, &[7, 1, 64]);
            let request = br#"{"model":"anthropic.claude-sonnet-5","messages":[{"role":"user","content":"x"}],"stream":true}"#;
            let streamed = complete(request, &f);
            let sent: Value = serde_json::from_slice(&f.sent.borrow()[0].body).unwrap();
            assert_eq!(sent["stream"], true, "{name}");
            let expected = &case["expected"];
            if expected["outcome"] == "complete" {
                let streamed = streamed.unwrap_or_else(|e| panic!("{name}: {e}"));
                let plain = crate::response::from_anthropic(expected["message"].clone(), "anthropic.claude-sonnet-5", None).unwrap();
                let mut s = serde_json::to_value(&streamed).unwrap();
                let mut p = serde_json::to_value(&plain).unwrap();
                s["metadata"].as_object_mut().unwrap().remove("request_id");
                p["metadata"].as_object_mut().unwrap().remove("request_id");
                assert_eq!(s, p, "{name}");
            } else {
                // An in-band `overloaded_error` after text: not retried (text was delivered), and
                // the error says what had arrived.
                let e = streamed.unwrap_err().to_string();
                assert!(e.starts_with("bedrock: Bedrock's Messages API is overloaded") && e.contains("Overloaded"), "{name}: {e}");
                assert!(e.contains("received before the failure") && e.contains("partial text: \"I'll invoke\""), "{name}: {e}");
                assert_eq!(f.sent.borrow().len(), 1, "{name}");
            }
        }
    }

    #[test]
    fn an_sse_error_before_any_content_is_retried() {
        let error =
            b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n".to_vec();
        let f = streaming_fake(error, &[5]);
        let e = complete(br#"{"model":"anthropic.claude-sonnet-5","messages":[{"role":"user","content":"x"}],"stream":true}"#, &f)
            .unwrap_err()
            .to_string();
        assert_eq!(f.sent.borrow().len(), 4, "{e}");
        assert!(e.contains("(gave up after 4 attempts)"), "{e}");
    }

    #[test]
    fn a_corrupt_stream_is_an_error_not_a_wait() {
        let mut body = std::fs::read(format!("{}/testdata/streams/recorded_text_sonnet45_emoji.bin", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let mid = body.len() / 2;
        body[mid] ^= 0x40;
        let f = streaming_fake(body, &[64]);
        let e = complete(br#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#, &f).unwrap_err().to_string();
        assert!(e.starts_with("bedrock: the response stream is corrupt"), "{e}");
        let whole = std::fs::read(format!("{}/testdata/streams/recorded_text_sonnet45_emoji.bin", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let f = streaming_fake(whole[..whole.len() - 10].to_vec(), &[100]);
        let e = complete(br#"{"messages":[{"role":"user","content":"x"}],"stream":true}"#, &f).unwrap_err().to_string();
        assert!(e.contains("the stream ended inside a frame"), "{e}");
    }
}
