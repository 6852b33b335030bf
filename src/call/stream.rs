//! A streaming completion's state machine: connect (through the one retry loop), read
//! InvokeModelWithResponseStream's event stream or the Messages API's server-sent events,
//! assemble them ([`crate::response::assembler`]), hand our events out (or, for a stream read
//! whole by `complete`, make only what the hook events need), continue an answer cut at
//! `max_tokens`, and end with `done` or an error that says what had arrived.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value};

use crate::call::continuation::continuable;
use crate::call::emitter::{Emitter, Finished};
use crate::call::prepare::{prepare, PreparedCall, Setup};
use crate::call::stream_hooks::StreamHooks;
use crate::call::{network_failure, with_retries, Attempts};
use crate::contract::messages::{ChatResponse, Usage};
use crate::error::{ErrorKind, ProviderError};
use crate::port::Platform;
use crate::response::assembler::Assembler;
use crate::response::events::{self, StreamEvent};
use crate::wire::transport::StreamingResponse;
use crate::wire::Operation;
use crate::wire::{self, Decoded, StreamDecoder};

/// Who reads the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reader {
    /// A host, one event at a time: every event is made and handed out, ending with `done`.
    Host,
    /// `complete`, whole, into a ChatResponse: events are made only for the hook events, and
    /// none is handed out.
    Whole,
}

/// A streaming completion: InvokeModelWithResponseStream's event stream or the Messages API's
/// server-sent events, decoded as they arrive, one event out per call to
/// [`next_event`](Self::next_event).
pub struct CompletionStream<'p> {
    platform: &'p dyn Platform,
    call: PreparedCall,
    reader: Reader,
    body: Option<StreamingResponse>,
    request_id: Option<String>,
    decoder: StreamDecoder,
    assembler: Assembler,
    keep_content: bool,
    queue: VecDeque<Value>,
    attempts: Attempts,
    started: Duration,
    first_event: Option<Duration>,
    /// Block index of the JSON `response_format` answer, delivered as text.
    answer_block: Option<u64>,
    /// The `llm:stream_*` hook events' state.
    hooks: StreamHooks,
    /// Set when an answer cut at `max_tokens` is to be continued (`max_continuations`).
    continuing: Option<Continuing>,
    ended: bool,
}

/// A streamed answer being continued after `max_tokens` stops: each round is a new Bedrock
/// call whose assistant turn starts with the text so far; its blocks follow the earlier rounds'
/// under the next indices, and `usage` events and `done` count every round.
#[derive(Debug)]
struct Continuing {
    /// Rounds started after the first.
    round: u32,
    /// The answer's text so far: the next round's prefill.
    text: String,
    /// Usage of the finished rounds.
    usage: Option<Usage>,
    /// Block indices taken by the finished rounds.
    offset: u64,
}

impl std::fmt::Debug for CompletionStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletionStream")
            .field("model", &self.call.sent.model_id)
            .field("attempts", &self.attempts.count)
            .finish_non_exhaustive()
    }
}

impl<'p> CompletionStream<'p> {
    /// Validates, signs and sends the request, and waits for Bedrock's status. HTTP-level
    /// failures are retried like `complete`'s.
    pub fn open(request_json: &[u8], platform: &'p dyn Platform, keep_content: bool) -> Result<Self, ProviderError> {
        Self::open_with(Self::prepared(request_json, platform)?, platform, Reader::Host, keep_content, false)
    }

    /// Like [`open`](Self::open), for the streaming interface: an answer cut at `max_tokens` is
    /// continued in the same stream when `max_continuations` allows (its text is then kept,
    /// as the next round's prefill). `complete` continues answers itself and does not use this.
    pub fn open_continuing(request_json: &[u8], platform: &'p dyn Platform) -> Result<Self, ProviderError> {
        Self::open_with(Self::prepared(request_json, platform)?, platform, Reader::Host, false, true)
    }

    /// One round of `complete` as a stream read whole: the ChatResponse a non-streaming call
    /// returns for the same content, and the call that was made (for a next round).
    pub(crate) fn read_whole(call: PreparedCall, platform: &'p dyn Platform) -> Result<(ChatResponse, PreparedCall), ProviderError> {
        Self::open_with(call, platform, Reader::Whole, true, false)?.into_response_and_call()
    }

    /// The streamed call of a request.
    fn prepared(request_json: &[u8], platform: &dyn Platform) -> Result<PreparedCall, ProviderError> {
        let (request, setup) = Setup::start(request_json, platform)?;
        prepare(request, &setup, platform, Operation::Stream, request_json)
    }

    fn open_with(
        call: PreparedCall,
        platform: &'p dyn Platform,
        reader: Reader,
        keep_content: bool,
        continues: bool,
    ) -> Result<Self, ProviderError> {
        Emitter::new(platform, &call).request(true);
        let continuing =
            (continues && call.report.continuable).then(|| Continuing { round: 0, text: String::new(), usage: None, offset: 0 });
        let keep_content = keep_content || continuing.is_some();
        let decoder = call.sent.api.stream_decoder();
        let mut stream = CompletionStream {
            platform,
            call,
            reader,
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
            hooks: StreamHooks::default(),
            continuing,
            ended: false,
        };
        if let Err(e) = stream.connect() {
            stream.end_with(&e);
            return Err(e.without_secrets(&stream.call.secrets()));
        }
        Ok(stream)
    }

    fn connect(&mut self) -> Result<(), ProviderError> {
        self.decoder = self.call.sent.api.stream_decoder();
        self.assembler = Assembler::new(self.keep_content);
        let platform = self.platform;
        let response = with_retries(platform, &mut self.call, &mut self.attempts, |call, attempt| {
            let response = platform.open(&call.sent.http, &call.sent.timeouts).map_err(network_failure)?;
            if (200..300).contains(&response.status) {
                return Ok(response);
            }
            let r = response.read_all().map_err(network_failure)?;
            Emitter::new(platform, call).raw_response(attempt, &r);
            Err(wire::classify_response(call.sent.api, &r, &call.context()))
        })?;
        self.request_id = response.header(self.call.sent.api.request_id_header()).map(str::to_string);
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
                    let message = e.clone().without_secrets(&self.call.secrets()).to_string();
                    Emitter::new(self.platform, &self.call).emit(
                        crate::hooks::LLM_STREAM_ABORTED,
                        json!({"error": {"type": e.kind.prefix(), "msg": message}, "blocks_started": self.assembler.blocks_started()}),
                    );
                }
                self.end_with(&e);
                return Err(e.without_secrets(&self.call.secrets()));
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
                // A stream read whole makes its events only for the hook events.
                let wanted = self.reader == Reader::Host || self.call.config.stream_events;
                let mut out = Vec::new();
                let produced = self.assembler.apply_event(event, wanted.then_some(&mut out))?;
                for e in out.iter_mut() {
                    self.adjust(e);
                }
                if self.call.config.stream_events {
                    let emitter = Emitter::new(self.platform, &self.call);
                    for e in &out {
                        self.hooks.on(e, &emitter);
                    }
                }
                match self.reader {
                    Reader::Host => self.queue.extend(out.into_iter().map(StreamEvent::into_json)),
                    // When a host would have taken its first event.
                    Reader::Whole if produced && self.first_event.is_none() => {
                        self.first_event = Some(self.platform.monotonic().saturating_sub(self.started));
                    }
                    Reader::Whole => {}
                }
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

    /// One of our events as the caller gets it: after earlier rounds (continuation), and with a
    /// JSON `response_format` answer as text.
    fn adjust(&mut self, event: &mut StreamEvent) {
        if let Some(c) = &self.continuing {
            if let (Some(i), true) = (event.index_mut(), c.offset > 0) {
                *i += c.offset;
            }
            if let (Some(before), StreamEvent::Usage(usage)) = (&c.usage, &mut *event) {
                *usage = before.plus(usage);
            }
        }
        if let Some(tool) = &self.call.report.answer_tool {
            events::answer_as_text(event, tool, &mut self.answer_block);
        }
    }

    /// Starts the next round when the answer stopped at `max_tokens` in text and the stream
    /// continues answers; `false` when the answer is finished as it is.
    fn continue_answer(&mut self) -> Result<bool, ProviderError> {
        let Some(c) = self.continuing.as_mut() else { return Ok(false) };
        if c.round >= self.call.config.max_continuations {
            return Ok(false);
        }
        let finish_reason = self.assembler.finish_reason();
        let Some(text) = continuable(finish_reason.as_deref(), self.assembler.block_texts()) else { return Ok(false) };
        let prefill = format!("{}{text}", c.text).trim_end().to_string();
        let Some(body) = self.call.continuation_body(&prefill) else { return Ok(false) };
        // The round's own llm:response, as for any Bedrock call, under its call id (the next
        // round has its own).
        let usage = Some(self.assembler.usage());
        let elapsed = self.platform.monotonic().saturating_sub(self.started);
        let finished = Finished { usage: usage.clone(), finish_reason, request_id: self.request_id.clone().map(Value::String) };
        Emitter::new(self.platform, &self.call).response(Ok(finished), elapsed, Some(self.first_event.unwrap_or(elapsed)));
        self.call.continue_with(body, self.platform)?;
        c.text = prefill;
        c.usage = Usage::sum(c.usage.take(), usage);
        c.offset += self.assembler.blocks_started() as u64;
        c.round += 1;
        let output_tokens = c.usage.as_ref().map_or(0, |u| u.output_tokens);
        Emitter::new(self.platform, &self.call).continuation(c.round, output_tokens, &c.text);
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
        let mut finish_reason = self.assembler.finish_reason();
        let mut tool_calls = self.assembler.tool_calls();
        if let Some(tool) = &self.call.report.answer_tool {
            let calls = &mut tool_calls;
            let before = calls.len();
            calls.retain(|c| c["name"].as_str() != Some(tool.as_str()));
            if calls.len() < before && calls.is_empty() && finish_reason.as_deref() == Some("tool_calls") {
                finish_reason = Some("stop".into());
            }
        }
        if self.reader == Reader::Host {
            let usage = match self.continuing.as_ref().and_then(|c| c.usage.as_ref()) {
                Some(before) => before.plus(&round_usage),
                None => round_usage.clone(),
            };
            let mut done = json!({
                "type": "done",
                "finish_reason": finish_reason,
                "tool_calls": tool_calls,
                "usage": usage,
                "metadata": self.assembler.metadata(&self.call.sent.model_id, self.request_id.as_deref()),
            });
            if let Some(c) = self.continuing.as_ref().filter(|c| c.round > 0) {
                done["metadata"]["continuations"] = json!(c.round);
            }
            if let Some(d) = crate::translate::degradation(&self.call.report.adjustments) {
                done["degradation"] = d;
            }
            self.queue.push_back(done);
        }
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
    fn into_response_and_call(mut self) -> Result<(ChatResponse, PreparedCall), ProviderError> {
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
        let message = std::mem::replace(&mut self.assembler, Assembler::new(false)).into_message();
        let response = crate::response::from_anthropic(message, &self.call.sent.model_id, self.request_id.as_deref()).map_err(|e| {
            ProviderError::new(ErrorKind::Bedrock, format!("unexpected stream content: {e}")).with_request_id(self.request_id.clone())
        })?;
        let response = self.call.report.finish(response);
        Ok((response, self.call))
    }

    /// For an error from [`next_event`](Self::next_event): what had been received, when any
    /// content had (`None` otherwise).
    pub fn progress(&self) -> Option<String> {
        self.assembler.content_delivered().then(|| self.assembler.progress())
    }
}
