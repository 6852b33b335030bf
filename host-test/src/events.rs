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

/// One hook event from the component.
#[derive(Debug, Clone, PartialEq)]
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
    other: Vec<u8>,
    events: Vec<HostEvent>,
    dropped_lines: usize,
}

/// The component's stderr for one call.
#[derive(Clone)]
pub(crate) struct StderrSink {
    state: Arc<Mutex<SinkState>>,
    callback: Option<EventCallback>,
}

impl std::fmt::Debug for StderrSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StderrSink").finish_non_exhaustive()
    }
}

impl StderrSink {
    pub(crate) fn new(callback: Option<EventCallback>) -> Self {
        StderrSink { state: Arc::default(), callback }
    }

    fn accept(&self, bytes: &[u8]) {
        let mut ready = Vec::new();
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.partial.extend_from_slice(bytes);
            while let Some(end) = s.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = s.partial.drain(..=end).collect();
                match parse_event(&line) {
                    Some(event) => {
                        s.events.push(event.clone());
                        ready.push(event);
                    }
                    None if s.other.len() + line.len() <= OTHER_LIMIT => s.other.extend_from_slice(&line),
                    None => s.dropped_lines += 1,
                }
            }
            if s.partial.len() > LINE_LIMIT {
                s.partial.clear();
                s.dropped_lines += 1;
            }
        }
        // Outside the lock, so a callback may do anything, including calling the provider.
        if let Some(cb) = &self.callback {
            for event in &ready {
                cb(event);
            }
        }
    }

    /// The events and the other stderr text seen so far.
    pub(crate) fn take(&self) -> (Vec<HostEvent>, String) {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut other = String::from_utf8_lossy(&s.other).into_owned();
        other.push_str(&String::from_utf8_lossy(&s.partial));
        if s.dropped_lines > 0 {
            other.push_str(&format!("\n[{} stderr lines dropped: over the size limit]\n", s.dropped_lines));
        }
        (s.events.clone(), other)
    }
}

fn parse_event(line: &[u8]) -> Option<HostEvent> {
    let v: Value = serde_json::from_slice(line).ok()?;
    let name = v.get("amplifier_event")?.as_str()?.to_string();
    Some(HostEvent { name, data: v.get("data").cloned().unwrap_or(Value::Null) })
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
        let sink = StderrSink::new(Some(Arc::new(move |e: &HostEvent| s2.lock().unwrap().push(e.name.clone()))));
        sink.accept(b"{\"amplifier_event\":\"llm:req");
        sink.accept(b"uest\",\"data\":{\"a\":1}}\nplain text\n{\"amplifier_event\":\"llm:response\",\"data\":{}}\n");
        let (events, other) = sink.take();
        assert_eq!(events.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["llm:request", "llm:response"]);
        assert_eq!(events[0].data["a"], 1);
        assert_eq!(other, "plain text\n");
        assert_eq!(*seen.lock().unwrap(), ["llm:request", "llm:response"]);
    }
}
