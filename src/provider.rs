//! The request pipeline: configuration → validation → translation → signing → transport →
//! response, written against a [`Platform`] so it runs the same under WASI and in unit tests.

use std::time::{Duration, SystemTime};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};

use crate::bedrock::{self, CallContext};
use crate::config::{ConfigSource, ProviderConfig};
use crate::convert;
use crate::error::{ErrorKind, ProviderError};
use crate::events::{self, LLM_REQUEST, LLM_REQUEST_DEBUG, LLM_REQUEST_RAW, LLM_RESPONSE, LLM_RESPONSE_DEBUG, LLM_RESPONSE_RAW};
use crate::eventstream::{self, BedrockFrame, FrameReader};
use crate::messages::{from_json, ChatRequest, ChatResponse};
use crate::models;
use crate::retry::RetryPolicy;
use crate::sign::{self, Unsigned};
use crate::stream::Assembler;
use crate::transport::{HttpRequest, HttpResponse, StreamingResponse, Timeouts, TransportError};
use crate::validate;

/// What the pipeline needs from its surroundings.
pub trait Platform {
    /// Configuration and environment lookups.
    fn source(&self) -> &dyn ConfigSource;
    /// Wall-clock time, for the signature.
    fn now(&self) -> SystemTime;
    /// Monotonic time since an arbitrary start, for durations.
    fn monotonic(&self) -> Duration;
    /// A uniformly random number, for retry jitter.
    fn random_u64(&self) -> u64;
    /// Blocks for `duration` (between retries).
    fn sleep(&self, duration: Duration);
    /// Delivers one encoded event line (see [`crate::events`]).
    fn emit(&self, line: &str);
    /// Sends a request and returns once the status and headers are in.
    fn open(&self, request: &HttpRequest, timeouts: &Timeouts) -> Result<StreamingResponse, TransportError>;
}

/// Everything in a model-id path segment is encoded except RFC 3986 unreserved characters,
/// exactly as botocore encodes the `{modelId}` label (`:` → `%3A`, `/` → `%2F`).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The Bedrock operation to call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `InvokeModel`: one JSON answer.
    Invoke,
    /// `InvokeModelWithResponseStream`: an event stream.
    InvokeStream,
}

/// A fully prepared Bedrock call: what to send and the context for errors.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    /// The signed request.
    pub http: HttpRequest,
    /// Limits for the exchange.
    pub timeouts: Timeouts,
    /// Model id in the URL.
    pub model_id: String,
    /// Signing region.
    pub region: String,
    /// Whether we chose a cross-region profile.
    pub cross_region: bool,
    /// The configuration used.
    pub config: ProviderConfig,
    /// The Anthropic body as JSON, for debug events.
    pub body: Value,
    /// Messages in the request, for events.
    pub message_count: usize,
    /// Thinking budget sent, if any.
    pub thinking_budget: Option<u32>,
}

impl PreparedCall {
    /// Context for [`bedrock::classify`].
    pub fn context(&self) -> CallContext<'_> {
        CallContext { model_id: &self.model_id, region: &self.region, cross_region: self.cross_region }
    }
}

/// Parses, validates, translates and signs a ChatRequest; no network traffic yet.
pub fn prepare(request_json: &[u8], platform: &dyn Platform, operation: Operation) -> Result<PreparedCall, ProviderError> {
    let request: ChatRequest = from_json("request", request_json).map_err(ProviderError::validation)?;
    let config = ProviderConfig::resolve(platform.source())?;
    validate::validate(&request)?;

    let region = config.require_region()?.to_string();
    let requested = request.model.clone().filter(|m| !m.trim().is_empty()).unwrap_or_else(|| config.default_model.clone());
    let model_id = models::resolve_model_id(requested.trim(), &region, config.use_cross_region_inference);
    let translated = convert::to_anthropic(&request, &config, models::lookup(&model_id))?;
    let body =
        serde_json::to_vec(&translated.body).map_err(|e| ProviderError::validation(format!("the request could not be encoded: {e}")))?;

    let endpoint = config.endpoint()?;
    let action = match operation {
        Operation::Invoke => "invoke",
        Operation::InvokeStream => "invoke-with-response-stream",
    };
    let path = format!("{}/model/{}/{action}", endpoint.base_path, utf8_percent_encode(&model_id, PATH_SEGMENT));
    let url = format!("{}://{}{path}", endpoint.scheme, endpoint.authority);
    let mut headers: Vec<(String, String)> = match operation {
        Operation::Invoke => vec![("accept".into(), "application/json".into()), ("content-type".into(), "application/json".into())],
        Operation::InvokeStream => {
            vec![("content-type".into(), "application/json".into()), ("x-amzn-bedrock-accept".into(), "application/json".into())]
        }
    };
    let to_sign: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let added = sign::authorize(
        &Unsigned { method: "POST", url: &url, headers: &to_sign, body: &body },
        &config.credentials,
        &region,
        platform.now(),
        config.aws_profile.as_deref(),
    )
    .map_err(|e| match e {
        sign::SignError::NoCredentials { .. } => ProviderError::new(ErrorKind::Auth, e.to_string()),
        sign::SignError::Signer(_) => ProviderError::validation(e.to_string()),
    })?;
    headers.extend(added);
    // Added after signing, as botocore does: Content-Length is not a signed header.
    headers.push(("content-length".into(), body.len().to_string()));

    let total = match request.timeout {
        Some(t) if t.is_finite() && t > 0.0 => Duration::from_secs_f64(t.min(86_400.0)),
        Some(t) => return Err(ProviderError::validation(format!("`timeout` is {t}: it must be a positive number of seconds"))),
        None => config.timeout,
    };
    Ok(PreparedCall {
        http: HttpRequest { scheme: endpoint.scheme, authority: endpoint.authority, path, headers, body },
        timeouts: Timeouts::new(total, config.connect_timeout, config.first_byte_timeout, config.between_bytes_timeout),
        cross_region: model_id != requested.trim(),
        model_id,
        region,
        body: translated.body,
        message_count: request.messages.len(),
        thinking_budget: translated.thinking_budget,
        config,
    })
}

/// What `llm:response` reports about a call that succeeded.
struct Finished {
    usage: Option<crate::messages::Usage>,
    finish_reason: Option<String>,
    request_id: Option<Value>,
}

impl Finished {
    fn of(r: &ChatResponse) -> Self {
        Finished {
            usage: r.usage.clone(),
            finish_reason: r.finish_reason.clone(),
            request_id: r.metadata.as_ref().and_then(|m| m.get("request_id")).cloned(),
        }
    }
}

/// Emits the call's events, scrubbed of its secrets.
struct Emitter<'a> {
    platform: &'a dyn Platform,
    call: &'a PreparedCall,
    secrets: Vec<&'a str>,
}

impl<'a> Emitter<'a> {
    fn new(platform: &'a dyn Platform, call: &'a PreparedCall) -> Self {
        Emitter { platform, call, secrets: call.config.credentials.secrets() }
    }

    fn emit(&self, event: &str, mut data: Value) {
        data["provider"] = json!("bedrock");
        data["model"] = json!(self.call.model_id);
        self.platform.emit(&events::line(event, &data, &self.secrets));
    }

    fn request(&self, stream: bool) {
        let c = self.call;
        self.emit(LLM_REQUEST, json!({"message_count": c.message_count, "stream": stream, "max_tokens": c.body["max_tokens"], "thinking_budget": c.thinking_budget}));
        if c.config.debug {
            self.emit(LLM_REQUEST_DEBUG, json!({"request": events::truncated(&c.body)}));
        }
        if c.config.raw_debug {
            self.emit(
                LLM_REQUEST_RAW,
                json!({"method": "POST", "url": c.http.url(), "headers": events::redacted_headers(&c.http.headers), "body": c.body}),
            );
        }
    }

    fn raw_response(&self, attempt: u32, response: &HttpResponse) {
        let c = self.call;
        if !(c.config.debug || c.config.raw_debug) {
            return;
        }
        let body: Value =
            serde_json::from_slice(&response.body).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&response.body).into_owned()));
        if c.config.debug {
            self.emit(LLM_RESPONSE_DEBUG, json!({"attempt": attempt, "status": response.status, "response": events::truncated(&body)}));
        }
        if c.config.raw_debug {
            self.emit(LLM_RESPONSE_RAW, json!({"attempt": attempt, "status": response.status, "headers": events::redacted_headers(&response.headers), "body": body}));
        }
    }

    fn response(&self, outcome: Result<Finished, &ProviderError>, duration: Duration, first_token: Option<Duration>) {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let duration_ms = ms(duration);
        let ttft = first_token.map(ms);
        let mut data = match outcome {
            Ok(f) => json!({
                "status": "ok",
                "duration_ms": duration_ms,
                "usage": f.usage.as_ref().map(events::usage_payload),
                "finish_reason": f.finish_reason,
                "request_id": f.request_id,
            }),
            Err(e) => json!({
                "status": "error",
                "duration_ms": duration_ms,
                "error": e.to_string(),
                "error_kind": e.kind.prefix(),
            }),
        };
        if let Some(t) = ttft {
            data["stream"] = json!(true);
            data["time_to_first_token_ms"] = json!(t);
        }
        self.emit(LLM_RESPONSE, data);
    }
}

/// `complete`: ChatRequest JSON → ChatResponse JSON, with retries and hook events.
pub fn complete(request_json: &[u8], platform: &dyn Platform) -> Result<ChatResponse, ProviderError> {
    if wants_stream(request_json) {
        return CompletionStream::open(request_json, platform, true)?.into_response();
    }
    let call = prepare(request_json, platform, Operation::Invoke)?;
    let emitter = Emitter::new(platform, &call);
    emitter.request(false);
    let started = platform.monotonic();
    let outcome = invoke_with_retries(platform, &call, &emitter);
    emitter.response(outcome.as_ref().map(Finished::of), platform.monotonic().saturating_sub(started), None);
    outcome
}

/// Sends `call` until it succeeds, fails for good, or the retry policy says stop.
fn invoke_with_retries(platform: &dyn Platform, call: &PreparedCall, emitter: &Emitter<'_>) -> Result<ChatResponse, ProviderError> {
    let policy = RetryPolicy { max_retries: call.config.max_retries, budget: call.config.retry_budget };
    let mut waited = Duration::ZERO;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (error, retryable) = match invoke_once(platform, call, emitter, attempt) {
            Ok(response) => return Ok(response),
            Err(failure) => failure,
        };
        let wait = RetryPolicy::backoff(attempt - 1, platform.random_u64());
        if retryable && policy.allows(attempt - 1, waited, wait) {
            platform.sleep(wait);
            waited += wait;
            continue;
        }
        return Err(error.after_attempts(attempt));
    }
}

/// One attempt; a failure says whether trying again may help.
fn invoke_once(
    platform: &dyn Platform,
    call: &PreparedCall,
    emitter: &Emitter<'_>,
    attempt: u32,
) -> Result<ChatResponse, (ProviderError, bool)> {
    let response = match platform.open(&call.http, &call.timeouts).and_then(StreamingResponse::read_all) {
        Ok(r) => r,
        Err(e) => {
            let retryable = e.is_retryable();
            return Err((ProviderError::new(ErrorKind::Network, e.to_string()), retryable));
        }
    };
    emitter.raw_response(attempt, &response);
    let request_id = response.header("x-amzn-requestid").map(str::to_string);
    if !(200..300).contains(&response.status) {
        return Err(bedrock::classify_response(&response, &call.context()));
    }
    let message: Value = serde_json::from_slice(&response.body).map_err(|e| {
        (
            ProviderError::new(ErrorKind::Bedrock, format!("Bedrock answered HTTP {} with a body that is not JSON ({e})", response.status))
                .with_request_id(request_id.clone()),
            false,
        )
    })?;
    convert::from_anthropic(&message, &call.model_id, request_id.as_deref())
        .map_err(|e| (ProviderError::new(ErrorKind::Bedrock, format!("unexpected response shape: {e}")).with_request_id(request_id), false))
}

/// Whether a ChatRequest asks for streaming; malformed JSON is left to `prepare` to report.
fn wants_stream(request_json: &[u8]) -> bool {
    serde_json::from_slice::<Value>(request_json).ok().and_then(|v| v.get("stream").and_then(Value::as_bool)).unwrap_or(false)
}

/// An exception frame's type in the `x-amzn-ErrorType` spelling (`throttlingException` →
/// `ThrottlingException`), so stream errors get the same classification as HTTP ones.
fn exception_code(kind: &str) -> String {
    let mut c = kind.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

/// A streaming completion: InvokeModelWithResponseStream decoded frame by frame, one event
/// out per call to [`next_event`](Self::next_event).
pub struct CompletionStream<'p> {
    platform: &'p dyn Platform,
    call: PreparedCall,
    body: Option<StreamingResponse>,
    request_id: Option<String>,
    frames: FrameReader,
    assembler: Assembler,
    keep_content: bool,
    queue: std::collections::VecDeque<Value>,
    attempt: u32,
    waited: Duration,
    started: Duration,
    first_event: Option<Duration>,
    ended: bool,
}

impl std::fmt::Debug for CompletionStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionStream").field("model", &self.call.model_id).field("attempt", &self.attempt).finish_non_exhaustive()
    }
}

impl<'p> CompletionStream<'p> {
    /// Validates, signs and sends the request, and waits for Bedrock's status. HTTP-level
    /// failures are retried like `complete`'s.
    pub fn open(request_json: &[u8], platform: &'p dyn Platform, keep_content: bool) -> Result<Self, ProviderError> {
        let call = prepare(request_json, platform, Operation::InvokeStream)?;
        Emitter::new(platform, &call).request(true);
        let mut stream = CompletionStream {
            platform,
            call,
            body: None,
            request_id: None,
            frames: FrameReader::new(),
            assembler: Assembler::new(keep_content),
            keep_content,
            queue: Default::default(),
            attempt: 0,
            waited: Duration::ZERO,
            started: platform.monotonic(),
            first_event: None,
            ended: false,
        };
        if let Err(e) = stream.connect() {
            stream.end_with(&e);
            return Err(e);
        }
        Ok(stream)
    }

    fn policy(&self) -> RetryPolicy {
        RetryPolicy { max_retries: self.call.config.max_retries, budget: self.call.config.retry_budget }
    }

    /// Waits before another attempt, if the policy allows one.
    fn may_retry(&mut self) -> bool {
        let wait = RetryPolicy::backoff(self.attempt - 1, self.platform.random_u64());
        if !self.policy().allows(self.attempt - 1, self.waited, wait) {
            return false;
        }
        self.platform.sleep(wait);
        self.waited += wait;
        true
    }

    fn connect(&mut self) -> Result<(), ProviderError> {
        loop {
            self.attempt += 1;
            self.frames = FrameReader::new();
            self.assembler = Assembler::new(self.keep_content);
            let (error, retryable) = match self.platform.open(&self.call.http, &self.call.timeouts) {
                Err(e) => (ProviderError::new(ErrorKind::Network, e.to_string()), e.is_retryable()),
                Ok(response) if (200..300).contains(&response.status) => {
                    self.request_id = response.header("x-amzn-requestid").map(str::to_string);
                    self.body = Some(response);
                    return Ok(());
                }
                Ok(response) => match response.read_all() {
                    Err(e) => (ProviderError::new(ErrorKind::Network, e.to_string()), e.is_retryable()),
                    Ok(r) => {
                        Emitter::new(self.platform, &self.call).raw_response(self.attempt, &r);
                        bedrock::classify_response(&r, &self.call.context())
                    }
                },
            };
            if !(retryable && self.may_retry()) {
                return Err(error.after_attempts(self.attempt));
            }
        }
    }

    /// The next event, `Ok(None)` once `done` has been delivered or after an error.
    pub fn next_event(&mut self) -> Result<Option<Value>, ProviderError> {
        loop {
            if let Some(event) = self.queue.pop_front() {
                if self.first_event.is_none() {
                    self.first_event = Some(self.platform.monotonic().saturating_sub(self.started));
                }
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            if let Err(e) = self.pump() {
                self.end_with(&e);
                return Err(e);
            }
        }
    }

    /// Moves the stream forward by one frame or one network read.
    fn pump(&mut self) -> Result<(), ProviderError> {
        let corrupt = |e: eventstream::FrameError| ProviderError::new(ErrorKind::Bedrock, format!("the response stream is corrupt: {e}"));
        match self.frames.next_frame().map_err(corrupt)? {
            Some(frame) => self.on_frame(&frame),
            None => {
                let body = self.body.as_mut().ok_or_else(|| ProviderError::new(ErrorKind::Bedrock, "the stream is not open"))?;
                match body.body.next_chunk() {
                    Ok(Some(bytes)) => {
                        self.frames.push(&bytes);
                        Ok(())
                    }
                    Ok(None) => {
                        self.frames.finish().map_err(corrupt)?;
                        Err(ProviderError::new(
                            ErrorKind::Bedrock,
                            "the response stream ended before `message_stop`: the answer is incomplete",
                        ))
                    }
                    Err(e) => Err(ProviderError::new(ErrorKind::Network, e.to_string())),
                }
            }
        }
    }

    fn on_frame(&mut self, frame: &aws_smithy_types::event_stream::Message) -> Result<(), ProviderError> {
        match eventstream::interpret(frame).map_err(|e| ProviderError::new(ErrorKind::Bedrock, format!("the response stream has {e}")))? {
            BedrockFrame::Unknown => Ok(()),
            BedrockFrame::Event(event) => {
                let mut out = Vec::new();
                self.assembler
                    .apply(&event, &mut out)
                    .map_err(|e| ProviderError::new(ErrorKind::Bedrock, format!("the response stream went wrong: {e}")))?;
                self.queue.extend(out);
                if self.assembler.is_finished() {
                    self.finish_ok();
                }
                Ok(())
            }
            BedrockFrame::Exception { kind, message } => {
                let code = exception_code(&kind);
                let body = json!({ "message": message }).to_string();
                let error = bedrock::classify(200, Some(&code), body.as_bytes(), self.request_id.as_deref(), &self.call.context());
                // Nothing reached the caller yet: trying again repeats nothing.
                if bedrock::is_retryable(&code) && !self.assembler.content_delivered() && self.may_retry() {
                    self.body = None;
                    return self.connect();
                }
                Err(error.after_attempts(self.attempt))
            }
        }
    }

    fn metadata(&self) -> Value {
        let mut m = json!({"model": self.call.model_id, "stop_reason": self.assembler.stop_reason()});
        if let Some(id) = &self.request_id {
            m["request_id"] = json!(id);
        }
        if let Some(metrics) = self.assembler.metrics() {
            m["bedrock_invocation_metrics"] = metrics.clone();
        }
        m
    }

    fn finish_ok(&mut self) {
        let usage = self.assembler.usage();
        let finish_reason = self.assembler.finish_reason();
        self.queue.push_back(json!({
            "type": "done",
            "finish_reason": finish_reason,
            "tool_calls": self.assembler.tool_calls(),
            "usage": usage,
            "metadata": self.metadata(),
        }));
        self.ended = true;
        self.body = None;
        let elapsed = self.platform.monotonic().saturating_sub(self.started);
        let first = Some(self.first_event.unwrap_or(elapsed));
        let finished = Finished { usage: Some(usage), finish_reason, request_id: self.request_id.clone().map(Value::String) };
        Emitter::new(self.platform, &self.call).response(Ok(finished), elapsed, first);
    }

    /// Ends the stream with `error`, which gains what had been received.
    fn end_with(&mut self, error: &ProviderError) {
        self.ended = true;
        self.body = None;
        let elapsed = self.platform.monotonic().saturating_sub(self.started);
        Emitter::new(self.platform, &self.call).response(Err(error), elapsed, self.first_event.or(Some(elapsed)));
    }

    /// Reads the whole stream into the ChatResponse a non-streaming call returns for the
    /// same content.
    pub fn into_response(mut self) -> Result<ChatResponse, ProviderError> {
        loop {
            match self.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(mut e) => {
                    if self.assembler.content_delivered() {
                        e.message = format!("{} ({})", e.message, self.assembler.progress());
                    }
                    return Err(e);
                }
            }
        }
        convert::from_anthropic(&self.assembler.message(), &self.call.model_id, self.request_id.as_deref()).map_err(|e| {
            ProviderError::new(ErrorKind::Bedrock, format!("unexpected stream content: {e}")).with_request_id(self.request_id.clone())
        })
    }

    /// For an error from [`next_event`](Self::next_event): what had been received, when any
    /// content had (`None` otherwise).
    pub fn progress(&self) -> Option<String> {
        self.assembler.content_delivered().then(|| self.assembler.progress())
    }
}

/// `parse-tool-calls`: ChatResponse JSON → the tool calls in its content.
pub fn parse_tool_calls(response_json: &[u8]) -> Result<Vec<crate::messages::ToolCall>, ProviderError> {
    let response: ChatResponse = from_json("response", response_json).map_err(ProviderError::validation)?;
    Ok(match response.tool_calls {
        Some(calls) if !calls.is_empty() => calls,
        _ => ChatResponse::collect_tool_calls(&response.content),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;
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

    impl crate::transport::BodyStream for Chunks {
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
                    crate::convert::from_anthropic(&expected["message"], "us.anthropic.claude-sonnet-4-5-20250929-v1:0", None).unwrap();
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
        let names: Vec<String> = f
            .events
            .borrow()
            .iter()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["amplifier_event"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["llm:request", "llm:response"]);
        let response: Value = serde_json::from_str(f.events.borrow().last().unwrap()).unwrap();
        assert_eq!(response["data"]["stream"], true);
        assert!(response["data"]["time_to_first_token_ms"].is_u64());
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
