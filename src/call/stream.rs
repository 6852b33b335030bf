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
//! [`Assembler`] builds them from Anthropic's events; [`CompletionStream`] is the state
//! machine around it (connect with retries, frames in, events out, errors with progress).

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::call::prepare::{prepare, Operation, PreparedCall};
use crate::call::{continuable_text, finish_response, network_failure, with_prefill, with_retries, Attempts, Emitter, Finished};
use crate::contract::messages::ChatResponse;
use crate::error::{ErrorKind, ProviderError};
use crate::hooks;
use crate::port::Platform;
use crate::wire::transport::StreamingResponse;
use crate::wire::{self, Decoded, StreamDecoder};

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
#[derive(Debug)]
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
#[derive(Debug)]
struct ByIndex<T>(Vec<(u64, T)>);

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
    fn insert(&mut self, index: u64, value: T) {
        match self.find(index) {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (index, value)),
        }
    }

    fn get_mut(&mut self, index: u64) -> Option<&mut T> {
        self.find(index).ok().map(|at| &mut self.0[at].1)
    }

    fn remove(&mut self, index: u64) -> Option<T> {
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

    /// Applies one Anthropic event, appending our events to `out`. The event is taken by value:
    /// a delta's text moves into our event rather than being copied (once per streamed byte).
    pub fn apply(&mut self, mut event: Value, out: &mut Vec<Value>) -> Result<(), String> {
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
            }
            "content_block_start" => {
                let b = &event["content_block"];
                let s = |k: &str| b.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
                let (block, start) = match b.get("type").and_then(Value::as_str) {
                    Some("text") => (Block::Text { text: String::new() }, json!({"type": "text"})),
                    Some("thinking") => (Block::Thinking { thinking: String::new(), signature: None }, json!({"type": "thinking"})),
                    Some("redacted_thinking") => {
                        (Block::Redacted { data: s("data") }, json!({"type": "redacted_thinking", "data": s("data")}))
                    }
                    Some("tool_use") => (
                        Block::ToolUse { id: s("id"), name: s("name"), json: Vec::new(), input: None },
                        json!({"type": "tool_call", "id": s("id"), "name": s("name")}),
                    ),
                    other => return Err(format!("a content block of unknown type {other:?}")),
                };
                self.blocks.insert(index, block);
                self.delivered = true;
                out.push(json!({"type": "block_start", "index": index, "block": start}));
                // A block may start with content already (Anthropic sends it empty today).
                for key in ["text", "thinking"] {
                    if let Some(t) = b.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                        self.append(index, key, t.to_string(), out)?;
                    }
                }
            }
            "content_block_delta" => {
                let d = &mut event["delta"];
                let key = match d.get("type").and_then(Value::as_str) {
                    Some("text_delta") => "text",
                    Some("thinking_delta") => "thinking",
                    Some("signature_delta") => "signature",
                    Some("input_json_delta") => "partial_json",
                    // Citations and future delta kinds: nothing to assemble.
                    _ => return Ok(()),
                };
                let piece = match d.get_mut(key).map(Value::take) {
                    Some(Value::String(piece)) => piece,
                    _ => String::new(),
                };
                self.append(index, key, piece, out)?;
            }
            "content_block_stop" => {
                let mut stop = json!({"type": "block_stop", "index": index});
                if let Some(Block::ToolUse { json, input, .. }) = self.blocks.get_mut(index) {
                    // Fragments are joined as bytes and parsed once whole: a fragment may end
                    // inside a UTF-8 sequence or an escape.
                    let parsed: Value = if json.iter().all(u8::is_ascii_whitespace) {
                        json!({})
                    } else {
                        serde_json::from_slice(json).map_err(|e| format!("the tool input of block {index} is not valid JSON ({e})"))?
                    };
                    stop["input"] = parsed.clone();
                    *input = Some(parsed);
                    json.clear();
                }
                out.push(stop);
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
                out.push(json!({"type": "usage", "usage": crate::response::usage(&Value::Object(self.usage.clone()))}));
            }
            "message_stop" => {
                if self.message.is_empty() {
                    return Err("`message_stop` arrived without a `message_start`".into());
                }
                self.metrics = event.get("amazon-bedrock-invocationMetrics").cloned();
                self.finished = true;
            }
            "error" => {
                let e = &event["error"];
                return Err(format!(
                    "{}: {}",
                    e.get("type").and_then(Value::as_str).unwrap_or("error"),
                    e.get("message").and_then(Value::as_str).unwrap_or_default()
                ));
            }
            // `ping` and event types newer than this client.
            _ => {}
        }
        Ok(())
    }

    fn append(&mut self, index: u64, key: &str, piece: String, out: &mut Vec<Value>) -> Result<(), String> {
        let keep = self.keep_content;
        let block = self.blocks.get_mut(index).ok_or_else(|| format!("a delta for block {index}, which never started"))?;
        match (block, key) {
            (Block::Text { text }, "text") => {
                self.text_chars += piece.chars().count();
                if keep {
                    text.push_str(&piece);
                }
            }
            (Block::Thinking { thinking, .. }, "thinking") => {
                if keep {
                    thinking.push_str(&piece);
                }
            }
            (Block::Thinking { signature, .. }, "signature") => signature.get_or_insert_with(String::new).push_str(&piece),
            (Block::ToolUse { json, .. }, "partial_json") => json.extend_from_slice(piece.as_bytes()),
            (_, key) => return Err(format!("a {key} delta for block {index}, which is of another type")),
        }
        self.delivered = true;
        let mut e = Map::new();
        e.insert("type".into(), json!("delta"));
        e.insert("index".into(), json!(index));
        e.insert(key.into(), Value::String(piece));
        out.push(Value::Object(e));
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

    /// Usage so far, in the ChatResponse shape.
    pub fn usage(&self) -> crate::contract::messages::Usage {
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

    /// The Anthropic message as a non-streaming InvokeModel would have returned it (complete
    /// only with `keep_content`).
    pub fn message(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .values()
            .map(|b| match b {
                Block::Text { text } => json!({"type": "text", "text": text}),
                Block::Thinking { thinking, signature } => json!({"type": "thinking", "thinking": thinking, "signature": signature}),
                Block::Redacted { data } => json!({"type": "redacted_thinking", "data": data}),
                Block::ToolUse { id, name, input, .. } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input.clone().unwrap_or(json!({}))})
                }
            })
            .collect();
        let mut m = self.message.clone();
        m.insert("content".into(), Value::Array(content));
        m.insert("stop_reason".into(), json!(self.stop_reason));
        m.insert("stop_sequence".into(), self.stop_sequence.clone());
        m.insert("usage".into(), Value::Object(self.usage.clone()));
        if let Some(action) = &self.guardrail_action {
            m.insert(crate::response::GUARDRAIL_ACTION.into(), json!(action));
        }
        if let Some(trace) = &self.guardrail_trace {
            m.insert(crate::response::BEDROCK_TRACE.into(), json!({"guardrail": trace}));
        }
        Value::Object(m)
    }
}

/// A streaming completion: InvokeModelWithResponseStream's event stream or the Messages API's
/// server-sent events, decoded as they arrive, one event out per call to
/// [`next_event`](Self::next_event).
pub struct CompletionStream<'p> {
    platform: &'p dyn Platform,
    call: PreparedCall,
    body: Option<StreamingResponse>,
    request_id: Option<String>,
    decoder: StreamDecoder,
    assembler: Assembler,
    keep_content: bool,
    queue: std::collections::VecDeque<Value>,
    attempts: Attempts,
    started: Duration,
    first_event: Option<Duration>,
    /// Block index of the JSON `response_format` answer, delivered as text.
    answer_block: Option<u64>,
    /// Each open block's type and the sequence number of its next delta, for the
    /// `llm:stream_*` hook events.
    hooked_blocks: ByIndex<(&'static str, u64)>,
    /// Set when an answer cut at `max_tokens` is to be continued (`max_continuations`).
    continuing: Option<Continuing>,
    ended: bool,
}

/// A streamed answer being continued after `max_tokens` stops: each round is a new Bedrock
/// call whose assistant turn starts with the text so far; its blocks follow the earlier rounds'
/// under the next indices, and `usage` events and `done` count every round.
#[derive(Debug)]
struct Continuing {
    /// The request as the caller sent it.
    request: Vec<u8>,
    /// Rounds started after the first.
    round: u32,
    /// The answer's text so far: the next round's prefill.
    text: String,
    /// Usage of the finished rounds.
    usage: Option<crate::contract::messages::Usage>,
    /// Block indices taken by the finished rounds.
    offset: u64,
}

impl std::fmt::Debug for CompletionStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionStream")
            .field("model", &self.call.model_id)
            .field("attempts", &self.attempts.count)
            .finish_non_exhaustive()
    }
}

impl<'p> CompletionStream<'p> {
    /// Validates, signs and sends the request, and waits for Bedrock's status. HTTP-level
    /// failures are retried like `complete`'s.
    pub fn open(request_json: &[u8], platform: &'p dyn Platform, keep_content: bool) -> Result<Self, ProviderError> {
        Self::open_with(request_json, platform, keep_content, false)
    }

    /// Like [`open`](Self::open), for the streaming interface: an answer cut at `max_tokens` is
    /// continued in the same stream when `max_continuations` allows (its text is then kept,
    /// as the next round's prefill). `complete` continues answers itself and does not use this.
    pub fn open_continuing(request_json: &[u8], platform: &'p dyn Platform) -> Result<Self, ProviderError> {
        Self::open_with(request_json, platform, false, true)
    }

    fn open_with(request_json: &[u8], platform: &'p dyn Platform, keep_content: bool, continues: bool) -> Result<Self, ProviderError> {
        let call = prepare(request_json, platform, Operation::Stream)?;
        Emitter::new(platform, &call).request(true);
        let continuing = (continues && call.config.max_continuations > 0 && !call.thinking_on).then(|| Continuing {
            request: request_json.to_vec(),
            round: 0,
            text: String::new(),
            usage: None,
            offset: 0,
        });
        let keep_content = keep_content || continuing.is_some();
        let decoder = call.api.stream_decoder();
        let mut stream = CompletionStream {
            platform,
            call,
            body: None,
            request_id: None,
            decoder,
            assembler: Assembler::new(keep_content),
            keep_content,
            queue: Default::default(),
            attempts: Attempts::default(),
            started: platform.monotonic(),
            first_event: None,
            answer_block: None,
            hooked_blocks: Default::default(),
            continuing,
            ended: false,
        };
        if let Err(e) = stream.connect() {
            stream.end_with(&e);
            return Err(e.without_secrets(&stream.call.config.credentials.secrets()));
        }
        Ok(stream)
    }

    fn connect(&mut self) -> Result<(), ProviderError> {
        self.decoder = self.call.api.stream_decoder();
        self.assembler = Assembler::new(self.keep_content);
        let platform = self.platform;
        let response = with_retries(platform, &mut self.call, &mut self.attempts, |call, attempt| {
            let response = platform.open(&call.http, &call.timeouts).map_err(network_failure)?;
            if (200..300).contains(&response.status) {
                return Ok(response);
            }
            let r = response.read_all().map_err(network_failure)?;
            Emitter::new(platform, call).raw_response(attempt, &r);
            Err(wire::classify_response(call.api, &r, &call.context()))
        })?;
        self.request_id = response.header(self.call.api.request_id_header()).map(str::to_string);
        self.body = Some(response);
        Ok(())
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
                if self.assembler.content_delivered() {
                    let message = e.clone().without_secrets(&self.call.config.credentials.secrets()).to_string();
                    Emitter::new(self.platform, &self.call).emit(
                        hooks::LLM_STREAM_ABORTED,
                        json!({"error": {"type": e.kind.prefix(), "msg": message}, "blocks_started": self.assembler.blocks_started()}),
                    );
                }
                self.end_with(&e);
                return Err(e.without_secrets(&self.call.config.credentials.secrets()));
            }
        }
    }

    /// Moves the stream forward by one decoded unit or one network read.
    fn pump(&mut self) -> Result<(), ProviderError> {
        match self.decoder.next_decoded()? {
            Some(decoded) => self.on_decoded(decoded),
            None => {
                let body = self.body.as_mut().ok_or_else(|| ProviderError::new(ErrorKind::Bedrock, "the stream is not open"))?;
                match body.body.next_chunk() {
                    Ok(Some(bytes)) => {
                        self.decoder.push(&bytes);
                        Ok(())
                    }
                    Ok(None) => {
                        self.decoder.finish()?;
                        Err(ProviderError::new(
                            ErrorKind::Bedrock,
                            "the response stream ended before `message_stop`: the answer is incomplete",
                        ))
                    }
                    Err(e) => Err(e.into()),
                }
            }
        }
    }

    fn on_decoded(&mut self, decoded: Decoded) -> Result<(), ProviderError> {
        match decoded {
            Decoded::Skip => Ok(()),
            Decoded::Event(event) => {
                let mut out = Vec::new();
                self.assembler
                    .apply(event, &mut out)
                    .map_err(|e| ProviderError::new(ErrorKind::Bedrock, format!("the response stream went wrong: {e}")))?;
                if let Some(c) = &self.continuing {
                    for e in out.iter_mut() {
                        if let (Some(i), true) = (e["index"].as_u64(), c.offset > 0) {
                            e["index"] = json!(i + c.offset);
                        }
                        if let (Some(before), "usage") = (&c.usage, e["type"].as_str().unwrap_or_default()) {
                            e["usage"] = json!(before.plus(&self.assembler.usage()));
                        }
                    }
                }
                for e in out.iter_mut() {
                    self.answer_as_text(e);
                }
                if self.call.config.stream_events {
                    for e in &out {
                        self.stream_hook(e);
                    }
                }
                self.queue.extend(out);
                if self.assembler.is_finished() {
                    self.finish_ok()?;
                }
                Ok(())
            }
            Decoded::Failure { api, kind, message } => {
                let (error, retryable) = wire::classify_stream_failure(api, &kind, &message, &self.call.context());
                let error = error.with_request_id(self.request_id.clone());
                // Nothing reached the caller yet: trying again repeats nothing.
                if retryable && !self.assembler.content_delivered() && self.attempts.may_retry(self.platform, &self.call, &error, None) {
                    self.body = None;
                    return self.connect();
                }
                Err(error.after_attempts(self.attempts.count))
            }
        }
    }

    /// The `llm:stream_*` hook event for one of our stream events, in the payload shape of
    /// Amplifier's provider streaming contract: text and thinking deltas (never empty), each
    /// numbered per block; a tool call is a block start and end without deltas.
    fn stream_hook(&mut self, event: &Value) {
        let Some(index) = event["index"].as_u64() else { return };
        let emitter = Emitter::new(self.platform, &self.call);
        match event["type"].as_str() {
            Some("block_start") => {
                let kind = match event["block"]["type"].as_str() {
                    Some("text") => "text",
                    Some("thinking") => "thinking",
                    Some("redacted_thinking") => "redacted_thinking",
                    _ => "tool_use",
                };
                self.hooked_blocks.insert(index, (kind, 0));
                let mut data = json!({"block_index": index, "block_type": kind});
                if kind == "tool_use" {
                    data["name"] = event["block"]["name"].clone();
                    data["id"] = event["block"]["id"].clone();
                }
                emitter.emit(hooks::LLM_STREAM_BLOCK_START, data);
            }
            Some("delta") => {
                let Some((kind, sequence)) = self.hooked_blocks.get_mut(index) else { return };
                let (name, piece) = match (event.get("text"), event.get("thinking")) {
                    (Some(Value::String(t)), _) => (hooks::LLM_STREAM_BLOCK_DELTA, t),
                    (_, Some(Value::String(t))) => (hooks::LLM_STREAM_THINKING_DELTA, t),
                    _ => return,
                };
                if piece.is_empty() {
                    return;
                }
                emitter.emit(name, json!({"block_index": index, "block_type": kind, "sequence": *sequence, "text": piece}));
                *sequence += 1;
            }
            Some("block_stop") => {
                if let Some((kind, _)) = self.hooked_blocks.remove(index) {
                    emitter.emit(hooks::LLM_STREAM_BLOCK_END, json!({"block_index": index, "block_type": kind}));
                }
            }
            _ => {}
        }
    }

    /// For a JSON `response_format`: the answer tool's block is delivered as a text block whose
    /// text is the JSON as it arrives.
    fn answer_as_text(&mut self, event: &mut Value) {
        let Some(tool) = &self.call.answer_tool else { return };
        let index = event["index"].as_u64();
        match event["type"].as_str() {
            Some("block_start") if event["block"]["name"].as_str() == Some(tool.as_str()) => {
                self.answer_block = index;
                event["block"] = json!({"type": "text"});
            }
            Some("delta") if index.is_some() && index == self.answer_block => {
                if let Some(Value::String(piece)) = event.as_object_mut().and_then(|o| o.remove("partial_json")) {
                    event["text"] = json!(piece);
                }
            }
            Some("block_stop") if index.is_some() && index == self.answer_block => {
                if let Some(o) = event.as_object_mut() {
                    o.remove("input");
                }
            }
            _ => {}
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
        let (action, trace) = self.assembler.guardrail();
        if let Some(action) = action {
            m["guardrail_action"] = json!(action);
        }
        if let Some(trace) = trace {
            m["guardrail_trace"] = trace.clone();
        }
        m
    }

    /// Starts the next round when the answer stopped at `max_tokens` in text and the stream
    /// continues answers; `false` when the answer is finished as it is.
    fn continue_answer(&mut self) -> Result<bool, ProviderError> {
        let Some(c) = self.continuing.as_mut() else { return Ok(false) };
        if c.round >= self.call.config.max_continuations {
            return Ok(false);
        }
        let round = crate::response::from_anthropic(&self.assembler.message(), &self.call.model_id, None)
            .map_err(|e| ProviderError::new(ErrorKind::Bedrock, format!("unexpected stream content: {e}")))?;
        let Some(text) = continuable_text(&round) else { return Ok(false) };
        // The round's own llm:response, as for any Bedrock call.
        let elapsed = self.platform.monotonic().saturating_sub(self.started);
        let finished = Finished {
            usage: round.usage.clone(),
            finish_reason: round.finish_reason.clone(),
            request_id: self.request_id.clone().map(Value::String),
        };
        Emitter::new(self.platform, &self.call).response(Ok(finished), elapsed, Some(self.first_event.unwrap_or(elapsed)));
        c.text = format!("{}{text}", c.text).trim_end().to_string();
        c.usage = crate::contract::messages::Usage::sum(c.usage.take(), round.usage);
        c.offset += self.assembler.blocks_started() as u64;
        c.round += 1;
        let output_tokens = c.usage.as_ref().map_or(0, |u| u.output_tokens);
        Emitter::new(self.platform, &self.call).continuation(c.round, output_tokens, &c.text);
        let next = with_prefill(&c.request, &c.text)?;
        self.call = prepare(&next, self.platform, Operation::Stream)?;
        Emitter::new(self.platform, &self.call).request(true);
        self.attempts = Attempts::default();
        if let Some(mut response) = self.body.take() {
            response.body.finish(crate::wire::transport::FINISH_MAX_BYTES, crate::wire::transport::FINISH_WAIT);
        }
        (self.started, self.first_event) = (self.platform.monotonic(), None);
        self.connect()?;
        Ok(true)
    }

    fn finish_ok(&mut self) -> Result<(), ProviderError> {
        if self.continue_answer()? {
            return Ok(());
        }
        let round_usage = self.assembler.usage();
        let usage = match self.continuing.as_ref().and_then(|c| c.usage.as_ref()) {
            Some(before) => before.plus(&round_usage),
            None => round_usage.clone(),
        };
        let mut finish_reason = self.assembler.finish_reason();
        let mut tool_calls = self.assembler.tool_calls();
        if let Some(tool) = &self.call.answer_tool {
            let calls = &mut tool_calls;
            let before = calls.len();
            calls.retain(|c| c["name"].as_str() != Some(tool.as_str()));
            if calls.len() < before && calls.is_empty() && finish_reason.as_deref() == Some("tool_calls") {
                finish_reason = Some("stop".into());
            }
        }
        let mut done = json!({
            "type": "done",
            "finish_reason": finish_reason,
            "tool_calls": tool_calls,
            "usage": usage,
            "metadata": self.metadata(),
        });
        if let Some(c) = self.continuing.as_ref().filter(|c| c.round > 0) {
            done["metadata"]["continuations"] = json!(c.round);
        }
        if let Some(d) = crate::translate::degradation(&self.call.adjustments) {
            done["degradation"] = d;
        }
        self.queue.push_back(done);
        self.ended = true;
        // Read the body's end (it follows the last event at once), so the host keeps the
        // connection for the next call instead of closing it.
        if let Some(mut response) = self.body.take() {
            response.body.finish(crate::wire::transport::FINISH_MAX_BYTES, crate::wire::transport::FINISH_WAIT);
        }
        let elapsed = self.platform.monotonic().saturating_sub(self.started);
        let first = Some(self.first_event.unwrap_or(elapsed));
        let finished = Finished { usage: Some(round_usage), finish_reason, request_id: self.request_id.clone().map(Value::String) };
        Emitter::new(self.platform, &self.call).response(Ok(finished), elapsed, first);
        Ok(())
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
    pub fn into_response(self) -> Result<ChatResponse, ProviderError> {
        self.into_response_and_call().map(|(response, _)| response)
    }

    /// Like [`into_response`](Self::into_response), also giving back the call that was made.
    pub fn into_response_and_call(mut self) -> Result<(ChatResponse, PreparedCall), ProviderError> {
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
        let response = crate::response::from_anthropic(&self.assembler.message(), &self.call.model_id, self.request_id.as_deref())
            .map_err(|e| {
                ProviderError::new(ErrorKind::Bedrock, format!("unexpected stream content: {e}")).with_request_id(self.request_id.clone())
            })?;
        let response = finish_response(response, &self.call);
        Ok((response, self.call))
    }

    /// For an error from [`next_event`](Self::next_event): what had been received, when any
    /// content had (`None` otherwise).
    pub fn progress(&self) -> Option<String> {
        self.assembler.content_delivered().then(|| self.assembler.progress())
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
        assert!(a
            .apply(json!({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta", "text": "x"}}), &mut out)
            .is_err());
        let e = a.apply(json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}), &mut out).unwrap_err();
        assert_eq!(e, "overloaded_error: Overloaded");
    }
}
