//! A platform for exercising the whole pipeline without WASI, for property tests (`cfg(test)`)
//! and the fuzz targets (`cfg(fuzzing)`): fixed config and clock, instant sleeps, events
//! dropped, and one scripted HTTP answer, served in pieces, for every request.

use std::cell::Cell;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::ConfigSource;
use crate::port::Platform;
use crate::wire::transport::{BodyStream, HttpRequest, StreamingResponse, Timeouts, TransportError};

/// Answers every request with the same status, content type and body.
#[derive(Debug)]
pub struct FakePlatform {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    piece: usize,
    clock: Cell<Duration>,
    sent: Cell<u32>,
}

impl FakePlatform {
    /// Answers with `body` in pieces of `piece` bytes (at least one).
    pub fn answering(status: u16, content_type: &'static str, body: Vec<u8>, piece: usize) -> Self {
        FakePlatform { status, content_type, body, piece: piece.max(1), clock: Cell::new(Duration::ZERO), sent: Cell::new(0) }
    }

    /// How many requests were sent (one per attempt).
    pub fn requests_sent(&self) -> u32 {
        self.sent.get()
    }
}

impl ConfigSource for FakePlatform {
    fn config(&self, key: &str) -> Result<Option<String>, String> {
        Ok(match key {
            "aws_region" => Some("us-east-1".into()),
            "aws_access_key_id" => Some("AKIDEXAMPLE".into()),
            "aws_secret_access_key" => Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into()),
            "max_retries" => Some("1".into()),
            _ => None,
        })
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

/// Config as a host would hand it over: `key → value` pairs (the last of a key wins), no
/// environment.
#[derive(Debug, Default)]
pub struct ConfigPairs(pub Vec<(String, String)>);

impl ConfigSource for ConfigPairs {
    fn config(&self, key: &str) -> Result<Option<String>, String> {
        Ok(self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
    fn keys(&self) -> Vec<String> {
        self.0.iter().map(|(k, _)| k.clone()).collect()
    }
}

struct Pieces(Vec<Vec<u8>>);

impl BodyStream for Pieces {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        Ok(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
    }
}

impl Platform for FakePlatform {
    fn source(&self) -> &dyn ConfigSource {
        self
    }
    fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_759_147_200)
    }
    fn monotonic(&self) -> Duration {
        self.clock.get()
    }
    fn random_u64(&self) -> u64 {
        0
    }
    fn sleep(&self, d: Duration) {
        self.clock.set(self.clock.get() + d);
    }
    fn emit(&self, _: &str) {}
    fn open(&self, _: &HttpRequest, _: &Timeouts) -> Result<StreamingResponse, TransportError> {
        self.sent.set(self.sent.get() + 1);
        Ok(StreamingResponse {
            status: self.status,
            headers: vec![("content-type".into(), self.content_type.into()), ("x-amzn-requestid".into(), "fake".into())],
            body: Box::new(Pieces(self.body.chunks(self.piece).map(<[u8]>::to_vec).collect())),
        })
    }
}
