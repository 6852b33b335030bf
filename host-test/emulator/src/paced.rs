//! The default answer streamed like a model: a first piece (the message's start and its first
//! text delta), then one delta at a time with a pause between them, so many calls stay open at
//! once as they do against Bedrock. The scale bench (`bedrock-host bench scale`) drives `serve`
//! against it; the emulator records when each paced stream arrived and when its first event
//! went out, so the bench can subtract the emulator's own first-event latency from what its
//! clients see.
//!
//! With a [`Pace`] set, a streamed InvokeModel call whose prompt carries a [`Fault`]'s marker
//! gets that fault instead of its answer (reset mid-way, 529, 503, silence), so one run mixes
//! failures into many concurrent calls deterministically: the caller decides which call fails
//! how.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::eventstream::{chunk_frame, stream_events, stream_headers};
use super::scripted::Scripted;

/// How the default answer of a streamed InvokeModel call is paced (see the module's doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Text deltas the answer is split into (fewer when the text is shorter); at least 1.
    pub deltas: usize,
    /// Pause after each piece of the body: the first piece (start and first delta), each
    /// further delta, and the end.
    pub delay: Duration,
}

/// A failure a paced stream gives instead of its answer when its prompt carries the marker.
///
/// Exhaustive on purpose (the test rig's enum, not the product's): the bench matches every fault
/// to the prefixes it must end with, so a new fault cannot go unchecked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// Half the deltas, then the connection drops mid-body (a reset as the client sees it).
    ResetMidway,
    /// HTTP 529 with `{"message": "Overloaded"}` and no error type: the overload answer of a
    /// model endpoint, which Bedrock's clients must treat as retryable.
    Overloaded,
    /// HTTP 503 `ServiceUnavailableException`, as Bedrock Runtime sends it.
    Unavailable,
    /// The headers, then nothing: the client's own idle timeout must end the call. The
    /// emulator drops the connection after [`SILENCE`].
    Silent,
}

/// How long a [`Fault::Silent`] stream stays open without sending anything.
pub const SILENCE: Duration = Duration::from_secs(60);

impl Fault {
    /// Every fault, in a fixed order.
    pub const ALL: [Fault; 4] = [Fault::ResetMidway, Fault::Overloaded, Fault::Unavailable, Fault::Silent];

    /// The text that, anywhere in the last user message, selects this fault.
    pub fn marker(self) -> &'static str {
        match self {
            Fault::ResetMidway => "[emulator-fault:reset]",
            Fault::Overloaded => "[emulator-fault:529]",
            Fault::Unavailable => "[emulator-fault:503]",
            Fault::Silent => "[emulator-fault:silent]",
        }
    }

    /// A short name for tables.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ResetMidway => "reset",
            Fault::Overloaded => "529",
            Fault::Unavailable => "503",
            Fault::Silent => "silent",
        }
    }

    /// The fault whose marker `prompt` carries, if any.
    pub fn in_prompt(prompt: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| prompt.contains(f.marker()))
    }
}

/// When one paced stream arrived and when its first piece (its first text delta) was handed to
/// the connection: the emulator's own first-event latency is the difference.
#[derive(Debug, Clone)]
pub struct StreamTiming {
    /// The request's last user text (the prompt the answer echoes).
    pub prompt: String,
    /// When the request's head arrived.
    pub received: Instant,
    /// When the first piece went out; `None` for a fault that sends no event, or not yet.
    pub first_sent: Option<Instant>,
}

/// A paced stream the emulator is answering: the timing is filled in by the body's task.
#[derive(Debug, Clone)]
pub(super) struct PacedRecord {
    pub(super) prompt: String,
    pub(super) received: Instant,
    pub(super) first_sent: Arc<OnceLock<Instant>>,
}

impl PacedRecord {
    pub(super) fn timing(&self) -> StreamTiming {
        StreamTiming { prompt: self.prompt.clone(), received: self.received, first_sent: self.first_sent.get().copied() }
    }
}

/// The answer to a paced streamed call: `message` (the default answer) split into deltas, or the
/// fault its prompt asks for. `first_sent` is set when the first piece goes out.
pub(super) fn answer(message: &Value, pace: Pace, fault: Option<Fault>, first_sent: Arc<OnceLock<Instant>>) -> Scripted {
    match fault {
        Some(Fault::Overloaded) => {
            return Scripted::new(529, vec![("Content-Type".into(), "application/json".into())], br#"{"message":"Overloaded"}"#.to_vec())
        }
        Some(Fault::Unavailable) => {
            return Scripted::new(
                503,
                vec![
                    ("Content-Type".into(), "application/json".into()),
                    ("x-amzn-ErrorType".into(), "ServiceUnavailableException:http://internal.amazon.com/coral/com.amazon.bedrock/".into()),
                ],
                br#"{"message":"Bedrock is unable to process your request."}"#.to_vec(),
            )
        }
        _ => {}
    }
    let pieces = pieces(message, pace.deltas.max(1));
    let sizes: Vec<usize> = pieces.iter().map(Vec::len).collect();
    let body: Vec<u8> = pieces.concat();
    let mut scripted = Scripted::new(200, stream_headers(), body).delivered(sizes.clone(), pace.delay);
    if let Some(d) = scripted.delivery.as_mut() {
        d.first_sent = Some(first_sent);
    }
    match fault {
        Some(Fault::ResetMidway) => {
            let half: usize = sizes[..sizes.len().div_ceil(2)].iter().sum();
            scripted.cut_after(half)
        }
        Some(Fault::Silent) => {
            // Nothing until the gate opens, then one byte of a body that promised more, and the
            // connection drops: a client still waiting then (none should be) sees a reset.
            let gate = Arc::new(tokio::sync::Notify::new());
            let opener = gate.clone();
            tokio::spawn(async move {
                tokio::time::sleep(SILENCE).await;
                opener.notify_one();
            });
            scripted.hold_after(0, gate).cut_after(1)
        }
        _ => scripted,
    }
}

/// The event-stream body of `message` in pieces: the first holds every frame up to and including
/// the first text delta, then one piece per further delta, then the end.
fn pieces(message: &Value, deltas: usize) -> Vec<Vec<u8>> {
    let events = stream_events(message);
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut head = Vec::new();
    let mut tail = Vec::new();
    let mut split_done = false;
    for event in &events {
        let text = event["delta"]["text"].as_str().filter(|_| event["type"] == "content_block_delta" && !split_done);
        match text {
            Some(text) => {
                split_done = true;
                let index = event["index"].clone();
                let mut parts = split_text(text, deltas).into_iter().map(|t| {
                    chunk_frame(&json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": t}}))
                });
                if let Some(first) = parts.next() {
                    head.extend(first);
                }
                out.push(std::mem::take(&mut head));
                out.extend(parts);
            }
            None if split_done => tail.extend(chunk_frame(event)),
            None => head.extend(chunk_frame(event)),
        }
    }
    if !head.is_empty() {
        out.push(head);
    }
    if !tail.is_empty() {
        out.push(tail);
    }
    out
}

/// `text` in up to `n` pieces of about equal length, split between characters.
fn split_text(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let per = chars.len().div_ceil(n).max(1);
    let pieces: Vec<String> = chars.chunks(per).map(|c| c.iter().collect()).collect();
    if pieces.is_empty() {
        vec![String::new()]
    } else {
        pieces
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_splits_into_the_asked_pieces_and_back() {
        let text = "Hello from the emulator! You said: é🙂";
        for n in [1, 3, 10, 1000] {
            let parts = split_text(text, n);
            assert_eq!(parts.concat(), text, "{n}");
            assert!(parts.len() <= n.max(1), "{n}: {parts:?}");
        }
        assert_eq!(split_text("", 5), vec![String::new()]);
    }

    #[test]
    fn the_first_piece_carries_the_first_delta_and_each_further_piece_one() {
        let message = json!({"content": [{"type": "text", "text": "abcdefgh"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 3, "output_tokens": 2}});
        let pieces = pieces(&message, 4);
        // start + block start + "ab", then "cd", "ef", "gh", then the end.
        assert_eq!(pieces.len(), 5);
        let decode = |mut buf: &[u8]| {
            let mut types = Vec::new();
            while !buf.is_empty() {
                let m = aws_smithy_eventstream::frame::read_message_from(&mut buf).unwrap();
                let payload: Value = serde_json::from_slice(m.payload()).unwrap();
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD.decode(payload["bytes"].as_str().unwrap()).unwrap();
                let event: Value = serde_json::from_slice(&bytes).unwrap();
                types.push(event["delta"]["text"].as_str().map_or(event["type"].as_str().unwrap().to_string(), str::to_string));
            }
            types
        };
        assert_eq!(decode(&pieces[0]), ["message_start", "content_block_start", "ab"]);
        assert_eq!(decode(&pieces[2]), ["ef"]);
        assert_eq!(decode(&pieces[4]), ["content_block_stop", "message_delta", "message_stop"]);
    }

    #[test]
    fn markers_select_their_fault() {
        for f in Fault::ALL {
            assert_eq!(Fault::in_prompt(&format!("call 7 {}", f.marker())), Some(f));
        }
        assert_eq!(Fault::in_prompt("call 7"), None);
    }
}
