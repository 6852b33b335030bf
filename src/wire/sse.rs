//! Server-sent events (`text/event-stream`) off a byte stream, as Bedrock's Messages API streams
//! them.
//!
//! The rules are the WHATWG HTML standard's "event stream interpretation": a line ends in CRLF,
//! LF or a CR alone; one UTF-8 BOM at the very start is skipped; `:` lines are comments; `event`
//! sets the event's type, `data` lines are joined with `\n`, one space after the colon is
//! dropped, and every other field (`id`, `retry`, unknown names) is ignored; a blank line
//! dispatches the event if it has data and starts a new one either way.
//!
//! Bytes may be split anywhere, between `\r` and `\n` and inside a UTF-8 character too: raw
//! bytes wait until their line is complete and each line is checked as UTF-8 on its own. A line
//! is consumed as soon as its end arrives (a CR is a line end at once; an LF right after it, in
//! this push or the next, is skipped), so memory is one line plus the data of one event, never
//! the whole body.

use std::fmt;

/// Largest event accepted: its data, or any one line.
pub const MAX_EVENT_BYTES: usize = 16 << 20;

/// Skipped once at the very start of the stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SseEvent {
    /// The last `event:` field's value; `message` when there was none (or it was empty).
    pub event: String,
    /// The `data:` lines' values joined with `\n`.
    pub data: String,
}

/// Why the byte stream is not a usable event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SseError {
    /// A line is not valid UTF-8.
    InvalidUtf8 {
        /// Its 1-based number (CRLF counts as one line end; a skipped BOM is no line).
        line: usize,
    },
    /// An event's data, or a single line, is above the limit.
    TooLarge {
        /// The limit in bytes ([`MAX_EVENT_BYTES`]).
        limit: usize,
    },
    /// The body ended inside an event (fields seen, no blank line yet) or inside a line.
    Truncated {
        /// Bytes received since the last blank line, the unfinished line included.
        pending_bytes: usize,
    },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::InvalidUtf8 { line } => write!(f, "the event stream has a line that is not UTF-8 (line {line})"),
            SseError::TooLarge { limit } if limit % (1 << 20) == 0 => write!(f, "an event is larger than the {} MiB limit", limit >> 20),
            SseError::TooLarge { limit } => write!(f, "an event is larger than the {limit} bytes limit"),
            SseError::Truncated { pending_bytes } => {
                write!(f, "the event stream ended in the middle of an event ({pending_bytes} bytes pending)")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// Splits a byte stream into events; holds at most one line plus the data of one event.
///
/// Push bytes as they arrive, call [`SseReader::next_event`] until it returns `Ok(None)`, and
/// [`SseReader::finish`] at the end of the body. After an error the reader yields nothing more.
#[derive(Debug, Default)]
pub struct SseReader {
    /// Received bytes; those before `start` are consumed.
    buf: Vec<u8>,
    start: usize,
    /// `buf[start..scanned]` has no line end (no rescanning of a long line arriving in pieces).
    scanned: usize,
    /// The last line ended in a CR at the end of the bytes: an LF next is part of that line end.
    skip_lf: bool,
    /// The start of the stream was checked for a BOM.
    bom_checked: bool,
    /// Lines consumed so far.
    lines: usize,
    /// Raw bytes consumed since the last blank line.
    event_raw: usize,
    /// A field line was seen since the last blank line.
    started: bool,
    event_type: String,
    data: String,
    has_data: bool,
    failed: bool,
}

impl SseReader {
    /// A reader with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed {
            return;
        }
        // Compact only when the consumed prefix is at least as large as what is kept, so each
        // byte is moved O(1) times however the caller interleaves pushes and reads.
        if self.start > 0 && self.start >= self.buf.len() - self.start {
            self.compact();
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete event, `Ok(None)` when more bytes are needed.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        if self.failed {
            return Ok(None);
        }
        match self.read_lines() {
            Ok(Some(event)) => Ok(Some(event)),
            Ok(None) => {
                // What is left is one unfinished line: keep only that.
                self.compact();
                Ok(None)
            }
            Err(e) => {
                self.failed = true;
                self.buf = Vec::new();
                self.data = String::new();
                self.event_type = String::new();
                (self.start, self.scanned) = (0, 0);
                Err(e)
            }
        }
    }

    /// Call at the end of the body, after `next_event` returned `Ok(None)`: an event whose
    /// blank line never came, or an unfinished line, is an error; an unfinished comment or
    /// whitespace is not.
    pub fn finish(&mut self) -> Result<(), SseError> {
        if self.failed {
            return Ok(());
        }
        let rest = &self.buf[self.start..];
        let harmless = rest.first() == Some(&b':') || rest.iter().all(|&b| b == b' ' || b == b'\t');
        if self.started || !harmless {
            return Err(SseError::Truncated { pending_bytes: self.event_raw + rest.len() });
        }
        Ok(())
    }

    /// Bytes held: the input buffer (cut down to the unfinished line whenever `next_event`
    /// returns `Ok(None)`) plus the type and data of the event being read.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.data.len() + self.event_type.len()
    }

    fn compact(&mut self) {
        if self.start == self.buf.len() {
            self.buf.clear();
        } else {
            self.buf.drain(..self.start);
        }
        self.scanned -= self.start;
        self.start = 0;
    }

    /// Consumes complete lines until one dispatches an event or none is left.
    fn read_lines(&mut self) -> Result<Option<SseEvent>, SseError> {
        if !self.bom_checked {
            let rest = &self.buf[self.start..];
            if rest.len() < BOM.len() && BOM.starts_with(rest) {
                return Ok(None);
            }
            if rest.starts_with(BOM) {
                self.start += BOM.len();
                self.scanned = self.start;
            }
            self.bom_checked = true;
        }
        loop {
            if self.skip_lf {
                match self.buf.get(self.start) {
                    None => return Ok(None),
                    Some(b'\n') => {
                        self.start += 1;
                        self.scanned = self.start;
                        // It belongs to the line before, uncounted if that blank line reset the count.
                        self.event_raw += usize::from(self.event_raw > 0);
                    }
                    Some(_) => {}
                }
                self.skip_lf = false;
            }
            let from = self.scanned;
            let Some(offset) = find_line_end(&self.buf[from..]) else {
                self.scanned = self.buf.len();
                if self.buf.len() - self.start > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge { limit: MAX_EVENT_BYTES });
                }
                return Ok(None);
            };
            let (line_start, end) = (self.start, from + offset);
            self.skip_lf = self.buf[end] == b'\r';
            self.start = end + 1;
            self.scanned = self.start;
            self.lines += 1;
            self.event_raw += end + 1 - line_start;
            if end - line_start > MAX_EVENT_BYTES {
                return Err(SseError::TooLarge { limit: MAX_EVENT_BYTES });
            }
            if let Some(event) = self.take_line(line_start, end)? {
                return Ok(Some(event));
            }
        }
    }

    /// Interprets `buf[from..to]`, one line without its line end.
    fn take_line(&mut self, from: usize, to: usize) -> Result<Option<SseEvent>, SseError> {
        let line = &self.buf[from..to];
        if line.is_empty() {
            self.event_raw = 0;
            self.started = false;
            if !std::mem::take(&mut self.has_data) {
                self.event_type.clear();
                return Ok(None);
            }
            let event = if self.event_type.is_empty() { "message".to_string() } else { std::mem::take(&mut self.event_type) };
            return Ok(Some(SseEvent { event, data: std::mem::take(&mut self.data) }));
        }
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(SseError::InvalidUtf8 { line: self.lines });
        };
        if text.starts_with(':') {
            return Ok(None);
        }
        let (name, value) = match text.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (text, ""),
        };
        if !text.bytes().all(|b| b == b' ' || b == b'\t') {
            self.started = true;
        }
        match name {
            "event" => {
                self.event_type.clear();
                self.event_type.push_str(value);
            }
            "data" => {
                if self.data.len() + usize::from(self.has_data) + value.len() > MAX_EVENT_BYTES {
                    return Err(SseError::TooLarge { limit: MAX_EVENT_BYTES });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            _ => {}
        }
        Ok(None)
    }
}

/// Index of the first `\n` or `\r` in `bytes`, eight bytes at a time (the "has a zero byte"
/// word trick, as in json_write.rs: the lowest flagged byte is exact). About four times a byte
/// loop's speed at opt-level "z".
fn find_line_end(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |w: u64| w.wrapping_sub(ONES) & !w & HIGH;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let word = crate::json_write::word_at(bytes, i);
        let found = zero(word ^ (ONES * u64::from(b'\n'))) | zero(word ^ (ONES * u64::from(b'\r')));
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == b'\n' || b == b'\r').map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;

    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    fn dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sse")
    }

    /// One entry of testdata/sse/index.json with its body.
    struct Vector {
        name: String,
        body: Vec<u8>,
        entry: Value,
    }

    fn vectors() -> &'static [Vector] {
        static VECTORS: OnceLock<Vec<Vector>> = OnceLock::new();
        VECTORS.get_or_init(|| {
            let index: Value = serde_json::from_slice(&std::fs::read(dir().join("index.json")).unwrap()).unwrap();
            index
                .as_array()
                .unwrap()
                .iter()
                .map(|entry| {
                    let body = std::fs::read(dir().join(entry["body_file"].as_str().unwrap())).unwrap();
                    assert_eq!(body.len() as u64, entry["body_length"].as_u64().unwrap(), "{}", entry["name"]);
                    Vector { name: entry["name"].as_str().unwrap().to_string(), body, entry: entry.clone() }
                })
                .collect()
        })
    }

    fn cuts(entry: &Value, kind: &str) -> Vec<usize> {
        entry["suggested_cuts"][kind].as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect()
    }

    /// Pushes `body` in the pieces between `cuts` (ascending), reading events after each push.
    fn decode_cut(body: &[u8], cuts: &[usize]) -> Result<Vec<SseEvent>, SseError> {
        let mut reader = SseReader::new();
        let mut events = Vec::new();
        let mut from = 0;
        for &to in cuts.iter().chain([body.len()].iter()) {
            reader.push(&body[from..to]);
            from = to;
            while let Some(event) = reader.next_event()? {
                events.push(event);
            }
        }
        reader.finish()?;
        Ok(events)
    }

    fn decode(body: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        decode_cut(body, &[])
    }

    fn decode_in_pieces(body: &[u8], step: usize) -> Result<Vec<SseEvent>, SseError> {
        let cuts: Vec<usize> = (step..body.len()).step_by(step).collect();
        decode_cut(body, &cuts)
    }

    fn event(event: &str, data: &str) -> SseEvent {
        SseEvent { event: event.into(), data: data.into() }
    }

    /// Decodes `body` whole, one byte at a time and cut at every pair of places; all must agree.
    fn decode_every_way(body: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let whole = decode(body);
        assert_eq!(decode_in_pieces(body, 1), whole, "byte by byte: {:?}", String::from_utf8_lossy(body));
        for a in 0..=body.len() {
            for b in a..=body.len() {
                assert_eq!(decode_cut(body, &[a, b]), whole, "cut at {a}, {b}: {:?}", String::from_utf8_lossy(body));
            }
        }
        whole
    }

    /// What the events of one vector add up to, compared with its `expected`.
    fn check_assembly(name: &str, events: &[SseEvent], expected: &Value) {
        let json: Vec<Value> = events.iter().map(|e| serde_json::from_str(&e.data).unwrap()).collect();
        let mut blocks: BTreeMap<u64, BTreeMap<String, String>> = BTreeMap::new();
        let mut stop_reason = Value::Null;
        for j in &json {
            match j["type"].as_str().unwrap() {
                "content_block_delta" => {
                    let delta = &j["delta"];
                    let kind = delta["type"].as_str().unwrap();
                    let piece = ["text", "thinking", "partial_json", "signature"].iter().find_map(|k| delta[k].as_str()).unwrap_or("");
                    blocks.entry(j["index"].as_u64().unwrap()).or_default().entry(kind.to_string()).or_default().push_str(piece);
                }
                "message_delta" => stop_reason = j["delta"]["stop_reason"].clone(),
                _ => {}
            }
        }
        let joined = |kind: &str| blocks.values().filter_map(|b| b.get(kind).cloned()).collect::<Vec<_>>();
        if let Some(text) = expected.get("text").and_then(Value::as_str) {
            assert_eq!(joined("text_delta").concat(), text, "{name}: text");
        }
        if let Some(thinking) = expected.get("thinking").and_then(Value::as_array) {
            let want: Vec<&str> = thinking.iter().map(|t| t["thinking"].as_str().unwrap()).collect();
            assert_eq!(joined("thinking_delta"), want, "{name}: thinking");
        }
        if let Some(calls) = expected.get("tool_calls").and_then(Value::as_array) {
            let want: Vec<&str> = calls.iter().map(|t| t["input_json"].as_str().unwrap()).collect();
            assert_eq!(joined("input_json_delta"), want, "{name}: tool input");
        }
        if let Some(reason) = expected.get("stop_reason") {
            assert_eq!(&stop_reason, reason, "{name}: stop_reason");
        }
        if expected["outcome"] == "error" {
            let last = json.last().unwrap();
            assert_eq!(last["type"], "error", "{name}");
            assert_eq!(last["error"], expected["error"], "{name}");
        }
    }

    #[test]
    fn every_vector_decodes_whole_at_its_cuts_and_byte_by_byte() {
        let all = vectors();
        assert_eq!(all.len(), 21);
        for v in all {
            let name = &v.name;
            let whole = decode(&v.body).unwrap_or_else(|e| panic!("{name}: {e}"));
            // `events` counts the source case's events (two recordings carry pings of their
            // own); the generator adds one `ping` right after `message_start`.
            let count = v.entry["events"].as_u64().unwrap() as usize;
            assert_eq!(whole.len(), count + 1, "{name}");
            assert_eq!(whole[0].event, "message_start", "{name}");
            assert_eq!(whole[1], event("ping", r#"{"type":"ping"}"#), "{name}");
            for e in &whole {
                let json: Value = serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("{name}: {err}: {}", e.data));
                assert_eq!(json["type"].as_str(), Some(e.event.as_str()), "{name}");
            }
            check_assembly(name, &whole, &v.entry["expected"]);

            let sevens = cuts(&v.entry, "every_7_bytes");
            assert_eq!(decode_cut(&v.body, &sevens).as_ref(), Ok(&whole), "{name}: every 7 bytes");
            for cut in sevens.iter().chain(cuts(&v.entry, "inside_utf8_char").iter()) {
                assert_eq!(decode_cut(&v.body, &[*cut]).as_ref(), Ok(&whole), "{name}: cut at {cut}");
            }
            assert_eq!(decode_in_pieces(&v.body, 1).as_ref(), Ok(&whole), "{name}: byte by byte");
        }
    }

    #[test]
    fn the_cuts_split_what_they_promise() {
        let mut between_cr_and_lf = 0;
        let mut inside_a_character = 0;
        for v in vectors() {
            for cut in cuts(&v.entry, "inside_utf8_char") {
                assert!((0x80..0xC0).contains(&v.body[cut]), "{}: {cut}", v.name);
                inside_a_character += 1;
            }
            if v.entry["line_ending"] == "crlf" {
                let n = cuts(&v.entry, "every_7_bytes").into_iter().filter(|&c| &v.body[c - 1..=c] == b"\r\n").count();
                assert!(n > 0, "{}", v.name);
                between_cr_and_lf += n;
            }
        }
        assert!(between_cr_and_lf >= 10 && inside_a_character >= 5, "{between_cr_and_lf} {inside_a_character}");
    }

    #[test]
    fn lf_and_crlf_variants_give_the_same_events() {
        let all = vectors();
        let mut pairs = 0;
        for lf in all.iter().filter(|v| v.entry["line_ending"] == "lf") {
            let stem = lf.name.strip_suffix(".lf").unwrap();
            let Some(crlf) = all.iter().find(|v| v.name == format!("{stem}.crlf")) else { continue };
            assert_eq!(decode(&lf.body).unwrap(), decode(&crlf.body).unwrap(), "{stem}");
            pairs += 1;
        }
        assert_eq!(pairs, 10);
    }

    #[test]
    fn a_cr_split_from_its_lf_is_one_line_end() {
        let mut reader = SseReader::new();
        let mut events = Vec::new();
        for piece in ["event: x\r", "\ndata: 1\r", "\n\r", "\n", "\r", "\n", "data: 2\r", "\n", "\r", "\n"] {
            reader.push(piece.as_bytes());
            while let Some(e) = reader.next_event().unwrap() {
                events.push(e);
            }
        }
        assert_eq!(events, [event("x", "1"), event("message", "2")]);
        assert_eq!(reader.finish(), Ok(()));
        // The same bytes cut anywhere: never an extra blank line.
        assert_eq!(decode_every_way(b"event: x\r\ndata: 1\r\n\r\n\r\ndata: 2\r\n\r\n"), Ok(events));
    }

    #[test]
    fn bare_cr_ends_lines_and_dispatches_without_waiting() {
        let body = b"event: e\rdata: 1\r\rdata: 2\rdata: 3\r\r";
        assert_eq!(decode_every_way(body), Ok(vec![event("e", "1"), event("message", "2\n3")]));
        let mut reader = SseReader::new();
        reader.push(b"data: 1\r\r");
        assert_eq!(reader.next_event(), Ok(Some(event("message", "1"))));
        assert_eq!(reader.next_event(), Ok(None));
        assert_eq!(reader.finish(), Ok(()));
        // Mixed line ends: CR CR is two line ends, LF CR too.
        assert_eq!(decode_every_way(b"data: a\n\rdata: b\r\r\n"), Ok(vec![event("message", "a"), event("message", "b")]));
    }

    #[test]
    fn data_lines_are_joined_and_one_space_is_dropped() {
        let body = b"data: a\ndata:b\ndata\ndata:  c\ndata:\n\n";
        assert_eq!(decode_every_way(body), Ok(vec![event("message", "a\nb\n\n c\n")]));
        // An empty data line still dispatches, with empty data.
        assert_eq!(decode(b"data\n\n"), Ok(vec![event("message", "")]));
        assert_eq!(decode(b"data:\n\n"), Ok(vec![event("message", "")]));
        // Only the first colon separates; values keep colons and trailing spaces.
        assert_eq!(decode(b"data: {\"a\": 1} \n\n"), Ok(vec![event("message", "{\"a\": 1} ")]));
    }

    #[test]
    fn the_event_type_applies_to_one_event() {
        let body = b"event: first\ndata: 1\n\ndata: 2\n\nevent: lost\n\ndata: 3\n\nevent:\ndata: 4\n\nevent: a\nevent: b\ndata: 5\n\n";
        assert_eq!(
            decode_every_way(body),
            Ok(vec![event("first", "1"), event("message", "2"), event("message", "3"), event("message", "4"), event("b", "5")])
        );
        // `event` without a colon sets an empty type: the default.
        assert_eq!(decode(b"event: x\nevent\ndata: 1\n\n"), Ok(vec![event("message", "1")]));
        // Field names are exact.
        assert_eq!(decode(b"Event: x\nevent : y\n data: z\ndata: 1\n\n"), Ok(vec![event("message", "1")]));
    }

    #[test]
    fn comments_ids_retries_and_unknown_fields_are_ignored() {
        let body = b": hello\n:\n\nevent: e\n: between\nid: 7\nretry: 1000\nfoo: bar\nid\ndata: 1\n:: x\n\n: keepalive\n\n";
        assert_eq!(decode_every_way(body), Ok(vec![event("e", "1")]));
        assert_eq!(decode(b": only a comment\n\n: and another\n"), Ok(vec![]));
    }

    #[test]
    fn a_leading_bom_is_skipped_once() {
        let body = b"\xEF\xBB\xBFevent: e\ndata: 1\n\n";
        assert_eq!(decode_every_way(body), Ok(vec![event("e", "1")]));
        // A second BOM is part of the first field's name, which is then unknown.
        assert_eq!(decode(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: 1\n\ndata: 2\n\n"), Ok(vec![event("message", "2")]));
        // Later, the same bytes are just text.
        assert_eq!(decode(b"data: 1\n\n\xEF\xBB\xBFdata: 2\n\n"), Ok(vec![event("message", "1")]));
        // A body that is only a BOM (or nothing) has no events and is complete.
        assert_eq!(decode(b"\xEF\xBB\xBF"), Ok(vec![]));
        assert_eq!(decode(b""), Ok(vec![]));
        // An incomplete BOM at the end is an unfinished line.
        assert_eq!(decode(b"\xEF\xBB"), Err(SseError::Truncated { pending_bytes: 2 }));
    }

    #[test]
    fn finish_reports_an_unfinished_event_or_line() {
        let truncated = |n| Err(SseError::Truncated { pending_bytes: n });
        assert_eq!(decode(b"data: 1\n\ndata: 2\n"), truncated(8));
        assert_eq!(decode(b"data: 1\n\ndata: 2"), truncated(7));
        assert_eq!(decode(b"data: 1\n\nevent: e\r\n"), truncated(10));
        assert_eq!(decode(b"data: 1\n\nevent: e\n: comment\n"), truncated(19));
        assert_eq!(decode(b"id: 3\n"), truncated(6));
        assert_eq!(decode(b"data: 1\r\n\r\nda"), truncated(2));
        assert_eq!(decode(b"data: 1\r\n\r\n\xC3"), truncated(1));
        // After a complete event: fine, also with a trailing comment or whitespace unfinished.
        for ok in [
            &b"data: 1\n\n"[..],
            b"data: 1\r\n\r\n",
            b"data: 1\r\r",
            b"data: 1\n\n: keep",
            b"data: 1\n\n  \t",
            b"\n\n\n",
            b"data: 1\n\n \n",
        ] {
            assert_eq!(decode(ok).map(|e| e.len()), Ok(usize::from(ok.starts_with(b"data"))), "{:?}", String::from_utf8_lossy(ok));
        }
        // A blank line without data resets: nothing is pending.
        assert_eq!(decode(b"event: e\n\n"), Ok(vec![]));
        // The error message says what happened.
        let mut reader = SseReader::new();
        reader.push(b"data: 1\n");
        assert_eq!(reader.next_event(), Ok(None));
        let e = reader.finish().unwrap_err();
        assert_eq!(e.to_string(), "the event stream ended in the middle of an event (8 bytes pending)");
    }

    #[test]
    fn a_line_or_an_event_over_the_limit_is_too_large() {
        let too_large = SseError::TooLarge { limit: MAX_EVENT_BYTES };
        assert_eq!(too_large.to_string(), "an event is larger than the 16 MiB limit");

        // One endless line: refused once it passes the limit, before any line end.
        let mut reader = SseReader::new();
        reader.push(b"data: ");
        let piece = vec![b'a'; 1 << 16];
        let mut result = Ok(None);
        let mut pushed = 0;
        while result == Ok(None) {
            reader.push(&piece);
            pushed += piece.len();
            result = reader.next_event();
            assert!(pushed <= MAX_EVENT_BYTES + piece.len(), "no error after {pushed} bytes");
        }
        assert_eq!(result, Err(too_large.clone()));
        assert_eq!(reader.buffered(), 0);
        // After an error the reader yields nothing and holds nothing.
        reader.push(b"\n\ndata: 1\n\n");
        assert_eq!(reader.next_event(), Ok(None));
        assert_eq!(reader.finish(), Ok(()));
        assert_eq!(reader.buffered(), 0);

        // Many lines, each well below the limit, whose data adds up to more.
        let mut reader = SseReader::new();
        let mut line = b"data: ".to_vec();
        line.extend(vec![b'b'; 1 << 20]);
        line.push(b'\n');
        let mut result = Ok(None);
        for _ in 0..17 {
            reader.push(&line);
            result = reader.next_event();
            if result != Ok(None) {
                break;
            }
        }
        assert_eq!(result, Err(too_large));

        // Exactly at the limit is fine: a line of the limit's length, and data of it.
        let mut body = b"data:".to_vec();
        body.extend(vec![b'c'; MAX_EVENT_BYTES - 5]);
        body.extend(b"\n\ndata:");
        body.extend(vec![b'c'; MAX_EVENT_BYTES / 2]);
        body.extend(b"\ndata:");
        body.extend(vec![b'c'; MAX_EVENT_BYTES / 2 - 1]);
        body.extend(b"\n\n");
        let events = decode_in_pieces(&body, 1 << 20).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!((events[0].data.len(), events[1].data.len()), (MAX_EVENT_BYTES - 5, MAX_EVENT_BYTES));
    }

    #[test]
    fn invalid_utf8_is_reported_with_its_line_number() {
        let body = b"data: ok\n\n: comment\r\nevent: e\rdata: \xFF\n\n";
        let mut reader = SseReader::new();
        reader.push(body);
        assert_eq!(reader.next_event(), Ok(Some(event("message", "ok"))));
        let e = reader.next_event().unwrap_err();
        assert_eq!(e, SseError::InvalidUtf8 { line: 5 });
        assert_eq!(e.to_string(), "the event stream has a line that is not UTF-8 (line 5)");
        assert_eq!(reader.next_event(), Ok(None));
        assert_eq!(reader.finish(), Ok(()));
        // The same wherever the bytes are cut; a BOM does not count as a line.
        assert_eq!(decode_every_way(body).unwrap_err(), SseError::InvalidUtf8 { line: 5 });
        assert_eq!(decode(b"\xEF\xBB\xBFdata: \xC3\x28\n\n"), Err(SseError::InvalidUtf8 { line: 1 }));
        // A character split across pushes is fine; an overlong or surrogate encoding is not.
        assert_eq!(decode_every_way("data: é🦀東\n\n".as_bytes()), Ok(vec![event("message", "é🦀東")]));
        assert_eq!(decode(b"\n\ndata: \xC0\xAF\n\n"), Err(SseError::InvalidUtf8 { line: 3 }));
        assert_eq!(decode(b"data: \xED\xA0\x80\n\n"), Err(SseError::InvalidUtf8 { line: 1 }));
    }

    #[test]
    fn memory_stays_at_one_event_while_streaming_a_long_body() {
        let one = "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"héllo wörld\"}}\r\n\r\n";
        let body = one.repeat(20_000);
        for step in [1, 13, 4096] {
            let mut reader = SseReader::new();
            let (mut count, mut most) = (0, 0);
            for piece in body.as_bytes().chunks(step) {
                reader.push(piece);
                most = most.max(reader.buffered());
                while let Some(e) = reader.next_event().unwrap() {
                    assert_eq!(e.event, "content_block_delta");
                    count += 1;
                }
                most = most.max(reader.buffered());
            }
            assert_eq!(reader.finish(), Ok(()));
            assert_eq!(count, 20_000);
            assert!(most <= 2 * one.len() + step, "step {step}: {most} bytes held for a {} byte body", body.len());
            assert_eq!(reader.buffered(), 0);
        }
    }

    #[test]
    fn events_that_are_not_read_at_once_stay_in_order() {
        // A caller that reads one event per push: nothing is lost, and the buffer is compacted.
        let v = &vectors()[0];
        let mut reader = SseReader::new();
        let mut events = Vec::new();
        for piece in v.body.chunks(5) {
            reader.push(piece);
            if let Some(e) = reader.next_event().unwrap() {
                events.push(e);
            }
        }
        while let Some(e) = reader.next_event().unwrap() {
            events.push(e);
        }
        assert_eq!(reader.finish(), Ok(()));
        assert_eq!(events, decode(&v.body).unwrap());
    }

    /// Pieces of event streams, valid and not, for random bodies.
    const TOKENS: &[&[u8]] = &[
        b"data",
        b"event",
        b"id",
        b":",
        b" ",
        b"\r",
        b"\n",
        b"\r\n",
        b"x",
        b"message_stop",
        b"\xEF\xBB\xBF",
        b"\xC3\xA9",
        b"\xC3",
        b"\xFF",
        b"\t",
    ];

    fn split_points(len: usize, picks: &[prop::sample::Index]) -> Vec<usize> {
        let mut cuts: Vec<usize> = picks.iter().map(|p| p.index(len + 1)).collect();
        cuts.sort_unstable();
        cuts
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn any_split_of_a_vector_gives_the_same_events(which in any::<prop::sample::Index>(), picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..40)) {
            let v = which.get(vectors());
            let cuts = split_points(v.body.len(), &picks);
            prop_assert_eq!(decode_cut(&v.body, &cuts), decode(&v.body), "{} cut at {:?}", v.name, cuts);
        }

        #[test]
        fn any_bytes_in_any_pieces_decode_as_they_do_whole(
            tokens in proptest::collection::vec(prop::sample::select(TOKENS), 0..40),
            picks in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let bytes = tokens.concat();
            let cuts = split_points(bytes.len(), &picks);
            prop_assert_eq!(decode_cut(&bytes, &cuts), decode(&bytes));
        }

        #[test]
        fn the_word_search_finds_the_first_line_end(bytes in proptest::collection::vec(prop_oneof![20 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'\r')], 0..64), skip in 0usize..16) {
            let bytes = &bytes[skip.min(bytes.len())..];
            prop_assert_eq!(find_line_end(bytes), bytes.iter().position(|&b| b == b'\n' || b == b'\r'));
        }
    }
}
