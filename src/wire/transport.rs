//! HTTP over `wasi:http/outgoing-handler`, with deadlines that never hang.
//!
//! The request and response types are plain data so the pipeline can be tested with a fake
//! transport on the host target; only [`wasi_http`] touches WASI.

use std::fmt;
use std::time::Duration;

/// An HTTP request ready for the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpRequest {
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]`.
    pub authority: String,
    /// Path and query, percent-encoded.
    pub path: String,
    /// Headers, including the signature.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The full URL, as the signer and error messages see it.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.path)
    }
}

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names as received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A response body that arrives piece by piece.
pub trait BodyStream {
    /// The next piece, `None` at the end. Never blocks past the request's deadlines.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError>;

    /// Reads what is left of the body when it ends within `max_bytes` and `wait`, and says
    /// whether it did: a body read to its end (a chunked body's last, empty chunk included)
    /// lets the host return the connection to its pool, where one dropped before its end is
    /// closed. A stream's last event arrives before that end.
    fn finish(&mut self, max_bytes: usize, wait: Duration) -> bool {
        let _ = (max_bytes, wait);
        false
    }
}

/// What a finished stream reads of its body's rest to keep the connection: the end of a
/// well-formed body follows its last event at once, so a short wait suffices and a server that
/// keeps a body open after its last event costs the caller at most this.
pub const FINISH_WAIT: Duration = Duration::from_millis(200);
/// See [`FINISH_WAIT`]: more left than this is not worth reading to keep a connection.
pub const FINISH_MAX_BYTES: usize = 64 * 1024;

/// A response whose status and headers are in and whose body is still arriving.
#[non_exhaustive]
pub struct StreamingResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names as received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Box<dyn BodyStream>,
}

impl fmt::Debug for StreamingResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingResponse").field("status", &self.status).finish_non_exhaustive()
    }
}

impl StreamingResponse {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Reads the rest of the body. Of an error answer only the first [`ERROR_BODY_LIMIT`]
    /// bytes are kept and the rest is never read: an error message is short, and a huge error
    /// body (a misbehaving proxy) must not exhaust the sandbox's memory.
    pub fn read_all(mut self) -> Result<HttpResponse, TransportError> {
        let limit = if (200..300).contains(&self.status) { usize::MAX } else { ERROR_BODY_LIMIT };
        let mut body = Vec::new();
        while let Some(chunk) = self.body.next_chunk()? {
            body.extend_from_slice(&chunk[..chunk.len().min(limit - body.len())]);
            if body.len() >= limit {
                break;
            }
        }
        Ok(HttpResponse { status: self.status, headers: self.headers, body })
    }
}

/// Time limits for one request, all enforced by the component with its own monotonic clock:
/// `wasi:http` request options mean different things on different hosts (jco's shim treats
/// `connect-timeout` as an idle timer until the headers arrive), so none are passed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// A non-streamed exchange, from connect to the last body byte; for a stream, the wait for
    /// the response headers.
    pub total: Duration,
    /// Establishing the connection.
    pub connect: Duration,
    /// Until the first byte of the response.
    pub first_byte: Duration,
    /// Silence between two body chunks.
    pub between_bytes: Duration,
    /// For a stream: the longest silence once the headers are in, which replaces `total` and
    /// `between_bytes` for the body, so a stream that keeps delivering is never cut off.
    pub stream_idle: Option<Duration>,
}

impl Timeouts {
    /// Each limit capped by the overall one: no phase may outlast the whole request.
    pub fn new(total: Duration, connect: Duration, first_byte: Duration, between_bytes: Duration) -> Timeouts {
        Timeouts {
            total,
            connect: connect.min(total),
            first_byte: first_byte.min(total),
            between_bytes: between_bytes.min(total),
            stream_idle: None,
        }
    }

    /// The same limits for a stream whose body may stay silent for at most `idle` at a time.
    pub fn streaming(mut self, idle: Duration) -> Timeouts {
        self.stream_idle = Some(idle);
        self
    }

    /// How long to wait for the response headers, and the key that sets it. `wasi:http` 0.2
    /// gives a guest no signal when the connection is up, so connecting counts toward the
    /// first byte; `connect_timeout` only names the host's own connection-timeout error.
    pub fn headers(&self) -> (Duration, &'static str) {
        if self.first_byte < self.total {
            (self.first_byte, "first_byte_timeout")
        } else {
            (self.total, "timeout")
        }
    }
}

/// The most of an error answer's body that is read (see [`StreamingResponse::read_all`]).
pub const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// Why no complete response arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// The host's outbound policy refused the destination.
    Denied {
        /// Where the request was going.
        url: String,
    },
    /// A deadline passed.
    Timeout {
        /// Which phase ran out of time.
        phase: &'static str,
        /// The config key that sets this limit.
        key: &'static str,
        /// The limit that applied.
        limit: Duration,
    },
    /// The TLS handshake failed: an untrusted or wrong certificate, or no TLS at all. Trying
    /// again cannot help.
    Tls {
        /// Where the request was going.
        url: String,
        /// The host's error code.
        detail: String,
    },
    /// DNS, connect or protocol failure, as the host reported it.
    Failed {
        /// Where the request was going.
        url: String,
        /// The host's error code and detail.
        detail: String,
    },
}

impl TransportError {
    /// Whether trying again may succeed (connection-level failures; never a refusal).
    pub fn is_retryable(&self) -> bool {
        matches!(self, TransportError::Failed { .. } | TransportError::Timeout { key: "connect_timeout", .. })
    }
}

impl From<TransportError> for crate::error::ProviderError {
    /// A time limit is [`TimedOut`](crate::error::ErrorKind::TimedOut); everything else
    /// (refused by the host, TLS, DNS, connect, reset) is
    /// [`Unreachable`](crate::error::ErrorKind::Unreachable).
    fn from(e: TransportError) -> Self {
        let kind = match e {
            TransportError::Timeout { .. } => crate::error::ErrorKind::TimedOut,
            TransportError::Denied { .. } | TransportError::Tls { .. } | TransportError::Failed { .. } => {
                crate::error::ErrorKind::Unreachable
            }
        };
        crate::error::ProviderError::new(kind, e.to_string())
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Denied { url } => write!(
                f,
                "the host refused the outbound request to {url}: it allows only Bedrock's endpoints in the configured \
                 region and the configured `endpoint_url` / `mantle_endpoint_url`; check `aws_region` and those keys, or \
                 allow this destination in the host"
            ),
            TransportError::Timeout { phase, key, limit } => write!(
                f,
                "no answer within {}.{} s ({phase}): raise the `{key}` config key, ask for fewer output tokens, or check connectivity to Bedrock",
                // Seconds and tenths as u64 and u32: u128's formatting code would add 1.5 KB.
                limit.as_secs(),
                limit.subsec_millis() / 100
            ),
            TransportError::Tls { url, detail } => write!(
                f,
                "TLS with {url} failed ({detail}): the host does not trust the server's certificate; for a private endpoint give \
                 the host its CA (AWS_CA_BUNDLE, or the profile's ca_bundle), for a plain-http local endpoint use an http:// endpoint_url"
            ),
            TransportError::Failed { url, detail } => write!(f, "request to {url} failed: {detail}"),
        }
    }
}

impl std::error::Error for TransportError {}

/// The `wasi:http` implementation (component builds only).
#[cfg(target_arch = "wasm32")]
pub mod wasi_http {
    use super::{BodyStream, HttpRequest, StreamingResponse, Timeouts, TransportError};
    use std::time::Duration;
    use wasi::clocks::monotonic_clock;
    use wasi::http::types::{ErrorCode, Fields, IncomingBody, IncomingResponse, Method, OutgoingBody, OutgoingRequest, Scheme};
    use wasi::io::poll::poll;
    use wasi::io::streams::{InputStream, StreamError};

    /// Largest chunk written to the body stream at once (the WASI guarantee is 4 KiB).
    const WRITE_CHUNK: usize = 4096;
    /// Largest chunk read at once.
    const READ_CHUNK: u64 = 64 * 1024;

    /// A monotonic deadline in nanoseconds.
    #[derive(Debug, Clone, Copy)]
    struct Deadline {
        at: u64,
        limit: Duration,
    }

    impl Deadline {
        fn after(limit: Duration) -> Deadline {
            let ns = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
            Deadline { at: monotonic_clock::now().saturating_add(ns), limit }
        }
        fn remaining(&self) -> u64 {
            self.at.saturating_sub(monotonic_clock::now())
        }
    }

    /// The body of an open response. Dropping it closes the connection.
    ///
    /// Field order is drop order: WASI requires a body stream to go before its body, and the
    /// body before its response.
    struct OpenBody {
        stream: InputStream,
        _body: IncomingBody,
        _response: IncomingResponse,
        url: String,
        /// `None` for a stream: only silence ends it.
        deadline: Option<Deadline>,
        between_bytes: Duration,
        /// The config key that sets `between_bytes`.
        between_key: &'static str,
    }

    impl BodyStream for OpenBody {
        /// Waits at most until the overall deadline or `between_bytes`, whichever is first.
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
            loop {
                match self.stream.read(READ_CHUNK) {
                    Ok(bytes) if !bytes.is_empty() => return Ok(Some(bytes)),
                    Ok(_) => {}
                    Err(StreamError::Closed) => return Ok(None),
                    Err(StreamError::LastOperationFailed(e)) => {
                        // The host enforces the between-bytes option itself; say which limit it was.
                        let code = wasi::http::types::http_error_code(&e);
                        let detail = e.to_debug_string();
                        let read_timeout = matches!(code, Some(ErrorCode::ConnectionReadTimeout)) || detail.contains("read timeout");
                        return Err(match read_timeout {
                            true => TransportError::Timeout {
                                phase: "waiting between response bytes",
                                key: self.between_key,
                                limit: self.between_bytes,
                            },
                            false => {
                                TransportError::Failed { url: self.url.clone(), detail: format!("reading the response body: {detail}") }
                            }
                        });
                    }
                }
                let silence = u64::try_from(self.between_bytes.as_nanos()).unwrap_or(u64::MAX);
                let (wait, phase, key, limit) = match self.deadline {
                    Some(d) if d.remaining() <= silence => (d.remaining(), "reading the response", "timeout", d.limit),
                    _ if self.between_key == "stream_idle_timeout" => {
                        (silence, "the stream went silent", self.between_key, self.between_bytes)
                    }
                    _ => (silence, "waiting between response bytes", self.between_key, self.between_bytes),
                };
                let ready = self.stream.subscribe();
                let timer = monotonic_clock::subscribe_duration(wait);
                if poll(&[&ready, &timer]) == [1] {
                    return Err(TransportError::Timeout { phase, key, limit });
                }
            }
        }

        fn finish(&mut self, max_bytes: usize, wait: Duration) -> bool {
            self.read_to_end_within(max_bytes, wait)
        }
    }

    impl OpenBody {
        /// [`BodyStream::finish`] for a `wasi:http` body: reads until the stream closes, within
        /// the byte and time bounds.
        fn read_to_end_within(&mut self, max_bytes: usize, wait: Duration) -> bool {
            let deadline = Deadline::after(wait);
            let mut read = 0usize;
            loop {
                match self.stream.read(READ_CHUNK) {
                    Ok(bytes) => {
                        read += bytes.len();
                        if read > max_bytes {
                            return false;
                        }
                        if !bytes.is_empty() {
                            continue;
                        }
                    }
                    Err(StreamError::Closed) => return true,
                    Err(StreamError::LastOperationFailed(_)) => return false,
                }
                let remaining = deadline.remaining();
                if remaining == 0 {
                    return false;
                }
                let ready = self.stream.subscribe();
                let timer = monotonic_clock::subscribe_duration(remaining);
                if poll(&[&ready, &timer]) == [1] {
                    return false;
                }
            }
        }
    }

    /// Sends `request` and waits for the status and headers.
    pub fn open(request: &HttpRequest, timeouts: &Timeouts) -> Result<StreamingResponse, TransportError> {
        let url = request.url();
        let failed = |detail: String| TransportError::Failed { url: url.clone(), detail };
        let deadline = Deadline::after(timeouts.total);
        let (headers_limit, headers_key) = timeouts.headers();
        let headers_deadline = Deadline::after(headers_limit);

        let fields: Vec<(String, Vec<u8>)> = request.headers.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
        let headers = Fields::from_list(&fields).map_err(|e| {
            failed(
                match e {
                    wasi::http::types::HeaderError::InvalidSyntax => "a header the host finds malformed",
                    wasi::http::types::HeaderError::Forbidden => "a header the host forbids",
                    wasi::http::types::HeaderError::Immutable => "headers the host does not let be set",
                }
                .into(),
            )
        })?;
        let outgoing = OutgoingRequest::new(headers);
        let scheme = if request.scheme == "http" { Scheme::Http } else { Scheme::Https };
        outgoing.set_method(&Method::Post).map_err(|()| failed("method rejected".into()))?;
        outgoing.set_scheme(Some(&scheme)).map_err(|()| failed("scheme rejected".into()))?;
        outgoing.set_authority(Some(&request.authority)).map_err(|()| failed("authority rejected".into()))?;
        outgoing.set_path_with_query(Some(&request.path)).map_err(|()| failed("path rejected".into()))?;
        let body = outgoing.body().map_err(|()| failed("no request body".into()))?;

        // No request options: every limit is enforced here (see [`Timeouts`]).
        let future = wasi::http::outgoing_handler::handle(outgoing, None).map_err(|code| map_error(&url, code, timeouts))?;

        // Write after `handle` so the host is already consuming the body.
        let write_result = (|| -> Result<(), StreamError> {
            let stream = body.write().map_err(|()| StreamError::Closed)?;
            for chunk in request.body.chunks(WRITE_CHUNK) {
                stream.blocking_write_and_flush(chunk)?;
            }
            Ok(())
        })();
        let finished = OutgoingBody::finish(body, None);

        let response = loop {
            if let Some(result) = future.get() {
                match result {
                    Ok(Ok(response)) => break response,
                    Ok(Err(code)) => return Err(map_error(&url, code, timeouts)),
                    Err(()) => return Err(failed("the response was already taken".into())),
                }
            }
            let ready = future.subscribe();
            let timer = monotonic_clock::subscribe_duration(headers_deadline.remaining());
            if poll(&[&ready, &timer]) == [1] {
                return Err(TransportError::Timeout { phase: "waiting for the response", key: headers_key, limit: headers_limit });
            }
        };
        if let Err(e) = write_result {
            let why = match e {
                StreamError::LastOperationFailed(e) => e.to_debug_string(),
                StreamError::Closed => "the connection closed".into(),
            };
            return Err(failed(format!("sending the request body: {why}")));
        }
        if let Err(code) = finished {
            return Err(map_error(&url, code, timeouts));
        }

        let status = response.status();
        let headers = response.headers().entries().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
        let incoming = response.consume().map_err(|()| failed("response body already consumed".into()))?;
        let stream = incoming.stream().map_err(|()| failed("response body stream unavailable".into()))?;
        let body = match timeouts.stream_idle {
            Some(idle) => OpenBody {
                stream,
                _body: incoming,
                _response: response,
                url,
                deadline: None,
                between_bytes: idle,
                between_key: "stream_idle_timeout",
            },
            None => OpenBody {
                stream,
                _body: incoming,
                _response: response,
                url,
                deadline: Some(deadline),
                between_bytes: timeouts.between_bytes,
                between_key: "between_bytes_timeout",
            },
        };
        Ok(StreamingResponse { status, headers, body: Box::new(body) })
    }

    fn map_error(url: &str, code: ErrorCode, timeouts: &Timeouts) -> TransportError {
        match code {
            ErrorCode::HttpRequestDenied => TransportError::Denied { url: url.to_string() },
            ErrorCode::ConnectionTimeout => {
                TransportError::Timeout { phase: "connecting", key: "connect_timeout", limit: timeouts.connect }
            }
            ErrorCode::ConnectionReadTimeout => {
                TransportError::Timeout { phase: "waiting for the first byte", key: "first_byte_timeout", limit: timeouts.first_byte }
            }
            ErrorCode::ConnectionRefused => {
                TransportError::Failed { url: url.into(), detail: "connection refused: is the endpoint up, and the port right?".into() }
            }
            ErrorCode::DnsError(e) => TransportError::Failed {
                url: url.into(),
                // The resolver's own words, not Rust's `Some("…")`.
                detail: format!("DNS lookup failed ({}): check the region or endpoint_url", e.rcode.as_deref().unwrap_or("no detail")),
            },
            ErrorCode::TlsCertificateError | ErrorCode::TlsProtocolError | ErrorCode::TlsAlertReceived(_) => {
                TransportError::Tls { url: url.into(), detail: describe(&code) }
            }
            other => TransportError::Failed { url: url.into(), detail: describe(&other) },
        }
    }

    /// The host's error code as `wasi:http` names it (`connection-terminated`), with its
    /// payload when it has a useful one. Written out rather than `Debug`, whose derived code
    /// for this enum would add some 5 KB to the component.
    fn describe(code: &ErrorCode) -> String {
        let name = match code {
            ErrorCode::DnsTimeout => "DNS timeout",
            ErrorCode::DnsError(_) => "DNS error",
            ErrorCode::DestinationNotFound => "destination not found",
            ErrorCode::DestinationUnavailable => "destination unavailable",
            ErrorCode::DestinationIpProhibited => "destination IP prohibited",
            ErrorCode::DestinationIpUnroutable => "destination IP unroutable",
            ErrorCode::ConnectionRefused => "connection refused",
            ErrorCode::ConnectionTerminated => "connection terminated",
            ErrorCode::ConnectionTimeout => "connection timeout",
            ErrorCode::ConnectionReadTimeout => "connection read timeout",
            ErrorCode::ConnectionWriteTimeout => "connection write timeout",
            ErrorCode::ConnectionLimitReached => "connection limit reached",
            ErrorCode::TlsProtocolError => "TLS protocol error",
            ErrorCode::TlsCertificateError => "TLS certificate error",
            ErrorCode::TlsAlertReceived(alert) => {
                return format!("TLS alert received: {}", alert.alert_message.as_deref().unwrap_or("no message"))
            }
            ErrorCode::HttpRequestDenied => "HTTP request denied",
            ErrorCode::HttpResponseIncomplete => "HTTP response incomplete",
            ErrorCode::HttpResponseTimeout => "HTTP response timeout",
            ErrorCode::HttpProtocolError => "HTTP protocol error",
            ErrorCode::LoopDetected => "loop detected",
            ErrorCode::ConfigurationError => "configuration error",
            ErrorCode::InternalError(detail) => return format!("internal error: {}", detail.as_deref().unwrap_or("no detail")),
            _ => "HTTP request or response refused (its size, coding or form)",
        };
        name.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_for_headers_is_the_first_byte_limit_within_the_whole() {
        let s = Duration::from_secs;
        let t = Timeouts::new(s(300), s(10), s(300), s(60));
        assert_eq!(t.headers(), (s(300), "timeout"));
        let t = Timeouts::new(s(300), s(5), s(30), s(60));
        assert_eq!(t.headers(), (s(30), "first_byte_timeout"));
        let t = Timeouts::new(s(1), s(10), s(300), s(60));
        assert_eq!((t.connect, t.first_byte, t.between_bytes), (s(1), s(1), s(1)), "no phase outlasts the whole");
        assert_eq!(t.streaming(s(120)).stream_idle, Some(s(120)));
    }
}
