//! Bedrock's two wire formats for Claude behind one small interface.
//!
//! Request translation, the response assembler, usage, retries and events are the same for
//! every call; what differs between Bedrock's APIs lives here, one module per format:
//! - [`invoke`]: InvokeModel on `bedrock-runtime` (the model id in the path, an AWS event
//!   stream when streaming, `x-amzn-ErrorType` errors);
//! - [`messages`]: the Messages API ("Claude in Amazon Bedrock") on `bedrock-mantle` (the model
//!   id in the body, server-sent events, Anthropic's error bodies).
//!
//! Each says where a call goes, which headers and body tweaks it needs, how its response bytes
//! become Anthropic events, and how its errors read. A third format (Converse) would be a third
//! module and a third [`Api`] variant.

pub(crate) mod bedrock;
pub mod eventstream;
pub(crate) mod exchange;
pub(crate) mod invoke;
pub(crate) mod messages;
pub(crate) mod sign;
pub mod sse;
pub mod transport;

use crate::error::{ErrorKind, ProviderError};
pub use crate::models::Api;
use crate::wire::bedrock::{CallContext, Next};
use crate::wire::sse::SseReader;
use crate::wire::transport::HttpResponse;
use eventstream::{BedrockFrame, FrameReader};
pub use exchange::Decoded;
pub(crate) use exchange::Operation;

impl Api {
    /// The SigV4 signing name of the service behind it.
    pub fn signing_name(self) -> &'static str {
        match self {
            Api::Invoke => invoke::SIGNING_NAME,
            Api::Messages => messages::SIGNING_NAME,
        }
    }

    /// The header that carries the service's request id (AWS support and Anthropic ask for it).
    pub fn request_id_header(self) -> &'static str {
        match self {
            Api::Invoke => "x-amzn-requestid",
            Api::Messages => messages::REQUEST_ID_HEADER,
        }
    }

    /// The decoder of this API's streamed response body.
    pub fn stream_decoder(self) -> StreamDecoder {
        match self {
            Api::Invoke => StreamDecoder::EventStream(FrameReader::new()),
            Api::Messages => StreamDecoder::Sse(SseReader::new()),
        }
    }
}

/// A body that is not what its wire format says, as the error that names what is wrong with it
/// (formatted in place rather than through `to_string`, whose instances cost the component code).
fn corrupt(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::new(ErrorKind::Bedrock, format!("the response stream is corrupt: {e}"))
}

/// A streamed response body's decoder: bytes in, [`Decoded`] units out, holding at most one
/// unit's bytes.
#[derive(Debug)]
#[non_exhaustive]
pub enum StreamDecoder {
    /// InvokeModelWithResponseStream's AWS event stream.
    EventStream(FrameReader),
    /// The Messages API's server-sent events.
    Sse(SseReader),
}

impl StreamDecoder {
    /// Adds bytes from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        match self {
            StreamDecoder::EventStream(r) => r.push(bytes),
            StreamDecoder::Sse(r) => r.push(bytes),
        }
    }

    /// The next decoded unit, `Ok(None)` when more bytes are needed. A malformed body is a
    /// `bedrock:` error naming what is wrong with it.
    pub fn next_decoded(&mut self) -> Result<Option<Decoded>, ProviderError> {
        match self {
            StreamDecoder::EventStream(r) => {
                let Some(frame) = r.next_frame().map_err(corrupt)? else { return Ok(None) };
                let frame = eventstream::interpret(&frame)
                    .map_err(|e| ProviderError::new(ErrorKind::Bedrock, format!("the response stream has {e}")))?;
                Ok(Some(match frame {
                    BedrockFrame::Event(event) => Decoded::Event(event),
                    BedrockFrame::Exception { kind, message } => Decoded::Failure { api: Api::Invoke, kind, message },
                    BedrockFrame::Unknown => Decoded::Skip,
                }))
            }
            StreamDecoder::Sse(r) => {
                let Some(event) = r.next_event().map_err(corrupt)? else { return Ok(None) };
                messages::interpret(&event).map(Some).map_err(corrupt)
            }
        }
    }

    /// Called at the end of the body: an unfinished unit is an error.
    pub fn finish(&mut self) -> Result<(), ProviderError> {
        match self {
            StreamDecoder::EventStream(r) => r.finish().map_err(corrupt),
            StreamDecoder::Sse(r) => r.finish().map_err(corrupt),
        }
    }
}

/// A non-2xx answer of `api`: the error, and what may be tried next.
pub fn classify_response(api: Api, response: &HttpResponse, ctx: &CallContext<'_>) -> (ProviderError, Next) {
    match api {
        Api::Invoke => crate::wire::bedrock::classify_response(response, ctx),
        Api::Messages => messages::classify_response(response, ctx),
    }
}

/// An error that ended a stream in-band (an exception frame, an SSE `error` event): the error,
/// and whether the same request may be tried again (only while nothing was delivered).
pub fn classify_stream_failure(api: Api, kind: &str, message: &str, ctx: &CallContext<'_>) -> (ProviderError, bool) {
    match api {
        Api::Invoke => {
            // `throttlingException` in the frame is `ThrottlingException` in the header spelling,
            // so stream errors get the same classification as HTTP ones.
            let mut c = kind.chars();
            let code = c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default();
            (crate::wire::bedrock::classify_said(200, &code, message, None, ctx), crate::wire::bedrock::is_retryable(&code))
        }
        Api::Messages => (messages::classify(kind, message, 200, ctx), messages::is_retryable(kind)),
    }
}
