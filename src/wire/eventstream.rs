//! AWS event-stream frames off a byte stream, and what Bedrock means by them.
//!
//! Frames are decoded by `aws-smithy-eventstream` (both CRCs, header rules). Around it this
//! module adds what a client reading from the network needs: the prelude (length and CRC) is
//! checked as soon as its 12 bytes arrive, so a corrupt or oversized frame is an error at
//! once instead of a wait for bytes that never come; and a body that ends mid-frame is
//! reported as truncated.

use std::fmt;

use aws_smithy_eventstream::frame::read_message_from;
use aws_smithy_types::event_stream::{HeaderValue, Message};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use serde_json::Value;

/// Largest frame accepted (botocore allows 24 MiB; Bedrock's chunks are far smaller).
pub const MAX_FRAME_BYTES: u32 = 16 << 20;

/// Largest headers section accepted (botocore's limit too).
pub const MAX_HEADERS_BYTES: u32 = 128 << 10;

/// Prelude: total length, headers length, prelude CRC.
const PRELUDE: usize = 12;
/// Prelude plus the trailing message CRC.
const MIN_FRAME: u32 = 16;

/// Why the byte stream is not a valid event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The prelude's CRC does not match its first 8 bytes.
    PreludeCrc,
    /// The declared length is impossible (below 16 bytes, or headers longer than the frame).
    InvalidLength(u32),
    /// The declared length is above [`MAX_FRAME_BYTES`].
    TooLarge(u32),
    /// The frame itself is malformed (message CRC, header encoding); the decoder's reason.
    Malformed(String),
    /// The body ended inside a frame.
    Truncated {
        /// Bytes of the unfinished frame that did arrive.
        received: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::PreludeCrc => f.write_str("a frame's prelude CRC does not match (corrupted in transit)"),
            FrameError::InvalidLength(n) => write!(f, "a frame declares an impossible length ({n} bytes)"),
            FrameError::TooLarge(n) => {
                write!(f, "a frame declares {n} bytes, above the limits ({MAX_FRAME_BYTES} bytes a frame, {MAX_HEADERS_BYTES} of headers)")
            }
            FrameError::Malformed(why) => write!(f, "a frame is malformed: {why}"),
            FrameError::Truncated { received } => write!(f, "the stream ended inside a frame ({received} bytes of it arrived)"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Splits a byte stream into frames; holds at most one frame plus the bytes after it.
#[derive(Debug, Default)]
pub struct FrameReader {
    pending: Vec<u8>,
    failed: bool,
}

impl FrameReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Message>, FrameError> {
        if self.failed || self.pending.len() < PRELUDE {
            return Ok(None);
        }
        let word = |i: usize| u32::from_be_bytes([self.pending[i], self.pending[i + 1], self.pending[i + 2], self.pending[i + 3]]);
        let (total, headers, crc) = (word(0), word(4), word(8));
        let check = if crc32fast::hash(&self.pending[..8]) != crc {
            Err(FrameError::PreludeCrc)
        } else if total < MIN_FRAME || headers > total - MIN_FRAME {
            Err(FrameError::InvalidLength(total))
        } else if total > MAX_FRAME_BYTES || headers > MAX_HEADERS_BYTES {
            Err(FrameError::TooLarge(total))
        } else {
            Ok(())
        };
        if let Err(e) = check {
            self.failed = true;
            return Err(e);
        }
        let total = total as usize;
        if self.pending.len() < total {
            return Ok(None);
        }
        let message = read_message_from(&self.pending[..total]).map_err(|e| {
            self.failed = true;
            FrameError::Malformed(e.to_string())
        })?;
        // The decoder accepts these; a header map with them is ambiguous, so refuse.
        let names: Vec<&str> = message.headers().iter().map(|h| h.name().as_str()).collect();
        if let Some(bad) = names.iter().enumerate().find_map(|(i, n)| (n.is_empty() || names[..i].contains(n)).then_some(*n)) {
            self.failed = true;
            return Err(FrameError::Malformed(if bad.is_empty() {
                "a header with an empty name".into()
            } else {
                format!("header {bad:?} appears twice")
            }));
        }
        self.pending.drain(..total);
        Ok(Some(message))
    }

    /// Call at the end of the body: an unfinished frame is an error.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.pending.is_empty() || self.failed {
            Ok(())
        } else {
            Err(FrameError::Truncated { received: self.pending.len() })
        }
    }
}

/// Why a well-formed frame means nothing Bedrock sends: its `Display` names what arrived. The
/// stream is corrupt (a `bedrock:` error, made where the stream is decoded).
#[derive(Debug)]
#[non_exhaustive]
pub enum ChunkError {
    /// A `chunk` event whose payload has no `bytes` string.
    NoBytes,
    /// A chunk whose `bytes` is not base64.
    Base64(base64::DecodeError),
    /// A chunk whose decoded event is not JSON.
    Json(serde_json::Error),
    /// A `:message-type` other than `event`, `exception` and `error`.
    MessageType(String),
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChunkError::NoBytes => f.write_str("a chunk without `bytes`"),
            ChunkError::Base64(e) => write!(f, "a chunk whose `bytes` is not base64: {e}"),
            ChunkError::Json(e) => write!(f, "a chunk whose event is not JSON: {e}"),
            ChunkError::MessageType(t) => write!(f, "a frame of unknown message type {:?}", t.as_str()),
        }
    }
}

impl std::error::Error for ChunkError {}

/// What one Bedrock frame means.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BedrockFrame {
    /// A `chunk` event: one Anthropic streaming event.
    Event(Value),
    /// An exception frame: Bedrock's exception type and message.
    Exception {
        /// e.g. `throttlingException`, `modelStreamErrorException`.
        kind: String,
        /// Bedrock's message.
        message: String,
    },
    /// An event of a type this client does not know; skipped, as AWS SDKs do.
    Unknown,
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    message.headers().iter().find(|h| h.name().as_str() == name).and_then(|h| match h.value() {
        HeaderValue::String(s) => Some(s.as_str()),
        _ => None,
    })
}

/// Interprets a decoded frame. A `chunk` whose payload is not `{"bytes": base64-JSON}` is an
/// error: Bedrock never sends one.
pub fn interpret(message: &Message) -> Result<BedrockFrame, ChunkError> {
    let payload_json = || serde_json::from_slice::<Value>(message.payload()).unwrap_or(Value::Null);
    match header(message, ":message-type") {
        Some("exception") => {
            let kind = header(message, ":exception-type").unwrap_or("exception").to_string();
            let text = payload_json().get("message").and_then(Value::as_str).map(str::to_string);
            Ok(BedrockFrame::Exception { kind, message: text.unwrap_or_else(|| String::from_utf8_lossy(message.payload()).into_owned()) })
        }
        Some("error") => Ok(BedrockFrame::Exception {
            kind: header(message, ":error-code").unwrap_or("error").to_string(),
            message: header(message, ":error-message").unwrap_or_default().to_string(),
        }),
        Some("event") | None => {
            if header(message, ":event-type") != Some("chunk") {
                return Ok(BedrockFrame::Unknown);
            }
            let payload = payload_json();
            let bytes = payload.get("bytes").and_then(Value::as_str).ok_or(ChunkError::NoBytes)?;
            let decoded = BASE64.decode(bytes).map_err(ChunkError::Base64)?;
            let event = serde_json::from_slice(&decoded).map_err(ChunkError::Json)?;
            Ok(BedrockFrame::Event(event))
        }
        Some(other) => Err(ChunkError::MessageType(other.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(sub: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/eventstream").join(sub)
    }

    fn cases(sub: &str) -> Vec<(String, Vec<u8>, Value)> {
        let mut out: Vec<_> = std::fs::read_dir(dir(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bin"))
            .map(|p| {
                let json: Value = serde_json::from_slice(&std::fs::read(p.with_extension("json")).unwrap()).unwrap();
                (p.file_stem().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap(), json)
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Feeds `bytes` in pieces of `step`, collecting frames until an error or the end.
    fn read_all(bytes: &[u8], step: usize) -> (Vec<Message>, Result<(), FrameError>) {
        let mut reader = FrameReader::new();
        let mut frames = Vec::new();
        for piece in bytes.chunks(step.max(1)) {
            reader.push(piece);
            loop {
                match reader.next_frame() {
                    Ok(Some(m)) => frames.push(m),
                    Ok(None) => break,
                    Err(e) => return (frames, Err(e)),
                }
            }
        }
        let end = reader.finish();
        (frames, end)
    }

    #[test]
    fn every_valid_vector_decodes_whole_and_byte_by_byte() {
        let valid = cases("valid");
        assert!(valid.len() >= 20, "{}", valid.len());
        for (name, bytes, json) in &valid {
            for step in [bytes.len(), 1, 7] {
                let (frames, end) = read_all(bytes, step);
                assert_eq!(end, Ok(()), "{name} step {step}");
                let expected = if name == "multi_frame_sequence" { 6 } else { 1 };
                assert_eq!(frames.len(), expected, "{name}");
            }
            if let Some(b) = json.get("bedrock") {
                let (frames, _) = read_all(bytes, bytes.len());
                let meaning = interpret(&frames[0]).unwrap();
                match (&meaning, b.get("exception_type").and_then(Value::as_str)) {
                    (BedrockFrame::Exception { kind, .. }, Some(expected)) => assert_eq!(kind, expected, "{name}"),
                    (BedrockFrame::Event(e), None) if b.get("anthropic_event").is_some() => assert_eq!(e, &b["anthropic_event"], "{name}"),
                    (other, _) => {
                        assert!(b.get("anthropic_event").is_none() || matches!(other, BedrockFrame::Unknown), "{name}: {other:?}")
                    }
                }
            }
        }
    }

    #[test]
    fn a_frame_bedrock_never_sends_is_an_error_naming_it() {
        use aws_smithy_types::event_stream::Header;
        let frame = |kind: &'static str, payload: &'static str| {
            Message::new(payload.as_bytes())
                .add_header(Header::new(":message-type", HeaderValue::String(kind.into())))
                .add_header(Header::new(":event-type", HeaderValue::String("chunk".into())))
        };
        let error = |kind, payload| interpret(&frame(kind, payload)).unwrap_err();
        assert!(matches!(error("event", "{}"), ChunkError::NoBytes));
        assert_eq!(error("event", "{}").to_string(), "a chunk without `bytes`");
        assert!(matches!(error("event", r#"{"bytes": "%%%"}"#), ChunkError::Base64(_)));
        assert!(error("event", r#"{"bytes": "%%%"}"#).to_string().starts_with("a chunk whose `bytes` is not base64: "));
        // "bm90IGpzb24=" is base64 of "not json".
        assert!(error("event", r#"{"bytes": "bm90IGpzb24="}"#).to_string().starts_with("a chunk whose event is not JSON: "));
        assert_eq!(error("telegram", "{}").to_string(), "a frame of unknown message type \"telegram\"");
    }

    #[test]
    fn every_invalid_vector_is_an_error_never_a_wait() {
        let invalid = cases("invalid");
        assert!(invalid.len() >= 20, "{}", invalid.len());
        for (name, bytes, json) in &invalid {
            let kind = json["expected_error_kind"].as_str().unwrap();
            let good_before = json.get("valid_frames_before_error").and_then(Value::as_u64).unwrap_or(0) as usize;
            for step in [bytes.len(), 1, 13] {
                let (frames, end) = read_all(bytes, step);
                let e = end.expect_err(&format!("{name} must fail (step {step})"));
                assert_eq!(frames.len(), good_before, "{name}");
                let matches = match kind {
                    "prelude_crc_mismatch" => e == FrameError::PreludeCrc,
                    "message_crc_mismatch" | "invalid_header" | "duplicate_header" => matches!(e, FrameError::Malformed(_)),
                    "truncated" => matches!(e, FrameError::Truncated { .. }),
                    "length_exceeds_limit" => matches!(e, FrameError::TooLarge(_)),
                    "invalid_length" => matches!(e, FrameError::InvalidLength(_) | FrameError::PreludeCrc),
                    "prelude_crc_mismatch_or_length_exceeds_limit" => matches!(e, FrameError::PreludeCrc | FrameError::TooLarge(_)),
                    other => panic!("{name}: unknown expected kind {other}"),
                };
                assert!(matches, "{name}: expected {kind}, got {e:?}");
            }
        }
    }
}
