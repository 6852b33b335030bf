//! The component's hook events, taken off its stderr as they are written.
//!
//! The component writes one JSON line per event (`{"amplifier_event": NAME, "data": {...}}`);
//! [`StderrSink`] splits stderr into those events, handed to a callback at once, and the rest
//! of stderr, kept (bounded) for diagnostics.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use serde_json::Value;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

/// One hook event from the component. Made only by the host (from the component's lines), so
/// a field added later does not break readers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HostEvent {
    /// `llm:request`, `llm:response`, `llm:request:debug`, …
    pub name: String,
    /// The event payload.
    pub data: Value,
}

/// Called for each event as the component emits it.
pub type EventCallback = Arc<dyn Fn(&HostEvent) + Send + Sync>;

/// Most non-event stderr kept per call.
const OTHER_LIMIT: usize = 1 << 20;
/// Longest line accepted; a longer one is dropped (a raw event of a huge body, say).
const LINE_LIMIT: usize = 64 << 20;

#[derive(Debug, Default)]
struct SinkState {
    partial: Vec<u8>,
    /// How much of `partial` is known to hold no newline: a long line arriving in many writes
    /// is scanned once, not once per write.
    scanned: usize,
    other: Vec<u8>,
    events: Vec<HostEvent>,
    dropped_lines: usize,
}

/// The component's stderr for one call.
#[derive(Clone)]
pub(crate) struct StderrSink {
    state: Arc<Mutex<SinkState>>,
    callback: Option<EventCallback>,
    /// Whether events are kept for the call's record (a stream's deltas would otherwise pile
    /// up for nobody).
    keep: bool,
}

impl std::fmt::Debug for StderrSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StderrSink").finish_non_exhaustive()
    }
}

impl StderrSink {
    pub(crate) fn new(callback: Option<EventCallback>, keep: bool) -> Self {
        StderrSink { state: Arc::default(), callback, keep }
    }

    fn accept(&self, bytes: &[u8]) {
        let mut ready = Vec::new();
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.partial.extend_from_slice(bytes);
            let mut start = 0;
            let mut from = s.scanned;
            while let Some(offset) = s.partial[from..].iter().position(|b| *b == b'\n') {
                let end = from + offset + 1;
                match parse_event(&s.partial[start..end]) {
                    Some(event) => ready.push(event),
                    None if s.other.len() + (end - start) <= OTHER_LIMIT => {
                        let line = s.partial[start..end].to_vec();
                        s.other.extend_from_slice(&line);
                    }
                    None => s.dropped_lines += 1,
                }
                (start, from) = (end, end);
            }
            s.partial.drain(..start);
            s.scanned = s.partial.len();
            if s.partial.len() > LINE_LIMIT {
                s.partial.clear();
                s.scanned = 0;
                s.dropped_lines += 1;
            }
        }
        if let Some(cb) = &self.callback {
            for event in &ready {
                cb(event);
            }
        }
        if self.keep && !ready.is_empty() {
            self.state.lock().unwrap_or_else(|p| p.into_inner()).events.extend(ready);
        }
    }

    pub(crate) fn take(&self) -> (Vec<HostEvent>, String) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut other = String::from_utf8_lossy(&s.other).into_owned();
        other.push_str(&String::from_utf8_lossy(&s.partial));
        if s.dropped_lines > 0 {
            other.push_str(&format!("\n[{} stderr lines dropped: over the size limit]\n", s.dropped_lines));
        }
        (std::mem::take(&mut s.events), other)
    }
}

fn parse_event(line: &[u8]) -> Option<HostEvent> {
    let mut v: Value = serde_json::from_slice(line).ok()?;
    let name = v.get("amplifier_event")?.as_str()?.to_string();
    Some(HostEvent { name, data: v.get_mut("data").map(Value::take).unwrap_or(Value::Null) })
}

impl IsTerminal for StderrSink {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrSink {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for StderrSink {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_from_other_text_across_writes() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        let sink = StderrSink::new(Some(Arc::new(move |e: &HostEvent| s2.lock().unwrap().push(e.name.clone()))), true);
        sink.accept(b"{\"amplifier_event\":\"llm:req");
        sink.accept(b"uest\",\"data\":{\"a\":1}}\nplain text\n{\"amplifier_event\":\"llm:response\",\"data\":{}}\n");
        let (events, other) = sink.take();
        assert_eq!(events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["llm:request", "llm:response"]);
        assert_eq!(events[0].data["a"], 1);
        assert_eq!(other, "plain text\n");
        assert_eq!(*seen.lock().unwrap(), ["llm:request", "llm:response"]);
    }

    #[test]
    fn a_long_line_in_many_writes_is_one_event_and_unkept_events_still_reach_the_callback() {
        let seen = Arc::new(Mutex::new(0usize));
        let s2 = seen.clone();
        let sink =
            StderrSink::new(Some(Arc::new(move |e: &HostEvent| *s2.lock().unwrap() += e.data["text"].as_str().unwrap().len())), false);
        let line = format!("{{\"amplifier_event\":\"llm:stream_block_delta\",\"data\":{{\"text\":\"{}\"}}}}\n", "x".repeat(100_000));
        for piece in line.as_bytes().chunks(4096) {
            sink.accept(piece);
        }
        sink.accept(b"tail without newline");
        assert_eq!(*seen.lock().unwrap(), 100_000);
        let (events, other) = sink.take();
        assert!(events.is_empty(), "not kept: nobody asked for the record");
        assert_eq!(other, "tail without newline");
    }
}
