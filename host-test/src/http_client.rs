//! The host's HTTP client: keep-alive connections shared by every call of a [`Provider`].
//!
//! `wasmtime_wasi_http::default_send_request` opens a new TCP connection, builds a rustls
//! configuration and does a TLS handshake for every request. Against Bedrock that costs one to
//! two extra round trips per call. [`HttpClient`] keeps finished connections open (per scheme
//! and authority) and hands them to the next request, as the AWS SDKs and boto3 do:
//!
//! - one TLS configuration per client (webpki roots, the system's roots, and an extra CA bundle
//!   such as `AWS_CA_BUNDLE`), built on the first HTTPS connection;
//! - the per-request `wasi:http` options still apply: connect timeout (TCP, TLS and HTTP
//!   handshake), first-byte timeout, between-bytes timeout;
//! - a connection goes back to the pool only after its response body was read to the end; a
//!   body dropped early (a stream the guest closed) or a timed-out request closes it;
//! - idle connections are closed after [`HttpClientOptions::idle_timeout`], as measured by
//!   [`HttpClientOptions::clock`] (a test moves a [`ManualClock`](crate::ManualClock) on instead
//!   of waiting);
//! - a request that could not even be written on a reused connection (the server closed it
//!   while idle) is sent again on a fresh one.
//!
//! [`Provider`]: crate::Provider

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http::uri::Scheme;
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::clock::{SharedClock, SystemClock};

/// What `wasi:http` uses when a request sets no timeout (as `default_send_request` does).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// How an [`HttpClient`] behaves.
///
/// Start from [`HttpClientOptions::default`] and set fields, so an option added later does not
/// break callers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpClientOptions {
    /// Idle connections are closed after this long (default 45 s: shorter than the idle
    /// timeouts of AWS's load balancers, so a pooled connection is rarely found closed).
    pub idle_timeout: Duration,
    /// At most this many idle connections are kept per destination (default 8).
    pub max_idle_per_host: usize,
    /// Extra trusted certificate authorities (PEM), besides webpki's and the system's roots:
    /// `AWS_CA_BUNDLE`, the profile's `ca_bundle`, or a test CA.
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// Trust only the extra roots (tests); default false.
    pub only_extra_roots: bool,
    /// What measures how long a connection has been idle, and wakes the task that closes it
    /// ([`SystemClock`] by default): a test gives a [`ManualClock`](crate::ManualClock) to check
    /// the idle timeout without sleeping through it.
    pub clock: SharedClock,
}

impl Default for HttpClientOptions {
    fn default() -> Self {
        HttpClientOptions {
            idle_timeout: Duration::from_secs(45),
            max_idle_per_host: 8,
            extra_roots_pem: Vec::new(),
            only_extra_roots: false,
            clock: SystemClock::shared(),
        }
    }
}

impl HttpClientOptions {
    /// Adds the PEM certificates in `path` as trusted roots; fails when the file cannot be read
    /// or holds no certificate.
    pub fn add_ca_bundle(&mut self, path: &Path) -> anyhow::Result<()> {
        let pem = std::fs::read(path).with_context(|| format!("reading the CA bundle {}", path.display()))?;
        let count = CertificateDer::pem_slice_iter(&pem).filter(Result::is_ok).count();
        anyhow::ensure!(count > 0, "the CA bundle {} holds no PEM certificate", path.display());
        self.extra_roots_pem.push(pem);
        Ok(())
    }

    /// [`add_ca_bundle`](Self::add_ca_bundle) with `AWS_CA_BUNDLE`, when it is set.
    pub fn add_env_ca_bundle(&mut self) -> anyhow::Result<()> {
        match std::env::var_os("AWS_CA_BUNDLE").filter(|v| !v.is_empty()) {
            Some(path) => self.add_ca_bundle(Path::new(&path)).context("AWS_CA_BUNDLE"),
            None => Ok(()),
        }
    }
}

/// The `ca_bundle` setting of `profile` (default: `AWS_PROFILE`, else `default`) in the shared
/// config file (`AWS_CONFIG_FILE`, else `~/.aws/config`), as the AWS CLI and SDKs read it.
pub fn profile_ca_bundle(profile: Option<&str>) -> Option<std::path::PathBuf> {
    let (config, _) = crate::credentials::shared_files();
    let text = std::fs::read_to_string(config).ok()?;
    let env_profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    let name = profile.map(str::to_string).or(env_profile).unwrap_or_else(|| "default".to_string());
    let mut in_section = false;
    for line in text.lines().map(str::trim) {
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            in_section = section.strip_prefix("profile ").map_or(section, str::trim) == name;
        } else if let (true, Some((key, value))) = (in_section, line.split_once('=')) {
            if key.trim() == "ca_bundle" && !value.trim().is_empty() {
                let value = value.trim();
                let home = std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_default();
                return Some(value.strip_prefix("~/").map_or_else(|| value.into(), |rest| home.join(rest)));
            }
        }
    }
    None
}

/// Counters of what a client did. Made only by the client, so a counter added later does not
/// break readers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Requests sent.
    pub requests: u64,
    /// Connections opened (TCP connects that completed their handshakes).
    pub connections_opened: u64,
    /// Of those, TLS connections.
    pub tls_handshakes: u64,
    /// Requests sent on a connection taken from the pool.
    pub reused: u64,
}

/// A keep-alive HTTP/1.1 client with a connection pool; cheap to clone (clones share the pool).
#[derive(Clone, Default)]
pub struct HttpClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient").field("stats", &self.stats()).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    options: HttpClientOptions,
    tls: OnceLock<Result<Arc<rustls::ClientConfig>, String>>,
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    next_id: AtomicU64,
    requests: AtomicU64,
    opened: AtomicU64,
    tls_handshakes: AtomicU64,
    reused: AtomicU64,
}

/// Scheme and `host:port`.
type Key = (bool, String);

struct Idle {
    id: u64,
    sender: SendRequest<WasiBody>,
    since: Instant,
}

trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

impl HttpClient {
    /// A client with these options. Extra roots are checked when the first HTTPS connection
    /// is made; use [`HttpClientOptions::add_ca_bundle`] to fail early on a bad file.
    pub fn new(options: HttpClientOptions) -> HttpClient {
        HttpClient { inner: Arc::new(Inner { options, ..Inner::default() }) }
    }

    /// What this client (and its clones) did so far.
    pub fn stats(&self) -> PoolStats {
        let i = &self.inner;
        PoolStats {
            requests: i.requests.load(Ordering::Relaxed),
            connections_opened: i.opened.load(Ordering::Relaxed),
            tls_handshakes: i.tls_handshakes.load(Ordering::Relaxed),
            reused: i.reused.load(Ordering::Relaxed),
        }
    }

    /// Idle connections currently kept.
    pub fn idle_connections(&self) -> usize {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).values().map(Vec::len).sum()
    }

    /// Closes every idle connection.
    pub fn close_idle(&self) {
        self.inner.idle.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Sends `request` (absolute URI, `Host` header set) with the `wasi:http` options' timeouts,
    /// on a pooled connection when one is idle. The response body reports read timeouts and
    /// returns the connection to the pool when it has been read to the end.
    pub async fn send(
        &self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let uri = request.uri();
        let authority = uri.authority().ok_or(Error::HttpRequestUriInvalid)?;
        let tls = uri.scheme() == Some(&Scheme::HTTPS);
        let host_port = match authority.port_u16() {
            Some(_) => authority.as_str().to_ascii_lowercase(),
            None => format!("{}:{}", authority.host().to_ascii_lowercase(), if tls { 443 } else { 80 }),
        };
        let key: Key = (tls, host_port);
        let connect_timeout = options.and_then(|o| o.connect_timeout).unwrap_or(DEFAULT_TIMEOUT);
        let first_byte_timeout = options.and_then(|o| o.first_byte_timeout).unwrap_or(DEFAULT_TIMEOUT);
        let between_bytes_timeout = options.and_then(|o| o.between_bytes_timeout).unwrap_or(DEFAULT_TIMEOUT).max(Duration::from_nanos(1));
        // HTTP/1.1 without a proxy sends the origin form.
        *request.uri_mut() = http::Uri::builder()
            .path_and_query(request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .build()
            .map_err(|_| Error::HttpRequestUriInvalid)?;
        self.inner.requests.fetch_add(1, Ordering::Relaxed);

        let started = Instant::now();
        loop {
            let (mut sender, reused) = match self.checkout(&key) {
                Some(sender) => (sender, true),
                None => {
                    let left = connect_timeout.saturating_sub(started.elapsed());
                    let sender = tokio::time::timeout(left, self.connect(&key)).await.map_err(|_| Error::ConnectionTimeout)??;
                    (sender, false)
                }
            };
            if reused {
                self.inner.reused.fetch_add(1, Ordering::Relaxed);
            }
            let sent = tokio::time::timeout(first_byte_timeout, sender.try_send_request(request))
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?;
            match sent {
                Ok(response) => {
                    let release = Release { sender, key, pool: Arc::downgrade(&self.inner) };
                    let (parts, incoming) = response.into_parts();
                    let mut timeout = tokio::time::interval(between_bytes_timeout);
                    timeout.reset();
                    let mut body = PooledBody { incoming: Some(incoming), release: Some(release), timeout };
                    body.release_if_done();
                    return Ok(http::Response::from_parts(parts, http_body_util::BodyExt::boxed_unsync(body)));
                }
                Err(mut e) => match e.take_message() {
                    // Never written: the pooled connection had been closed; try a fresh one.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(Error::from(e.into_error())),
                },
            }
        }
    }

    /// An idle, open connection to `key`, newest first; drops expired and closed ones.
    fn checkout(&self, key: &Key) -> Option<SendRequest<WasiBody>> {
        let mut idle = self.inner.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = idle.get_mut(key)?;
        let now = self.inner.options.clock.instant();
        while let Some(entry) = list.pop() {
            let idle_for = now.saturating_duration_since(entry.since);
            if !entry.sender.is_closed() && entry.sender.is_ready() && idle_for < self.inner.options.idle_timeout {
                return Some(entry.sender);
            }
        }
        None
    }

    /// Opens a connection: TCP, TLS when `https`, the HTTP/1.1 handshake; the connection's
    /// task runs on the current runtime until the connection closes.
    async fn connect(&self, key: &Key) -> Result<SendRequest<WasiBody>, Error> {
        let (tls, host_port) = key;
        let tcp = TcpStream::connect(host_port.as_str()).await.map_err(Error::Connect)?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if *tls {
            let config = self.tls_config()?;
            let name = server_name(host_port)?;
            let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await.map_err(Error::Tls)?;
            self.inner.tls_handshakes.fetch_add(1, Ordering::Relaxed);
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        let (sender, connection) = hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        self.inner.opened.fetch_add(1, Ordering::Relaxed);
        Ok(sender)
    }

    /// The TLS configuration, built once.
    fn tls_config(&self) -> Result<Arc<rustls::ClientConfig>, Error> {
        self.inner
            .tls
            .get_or_init(|| build_tls_config(&self.inner.options).map(Arc::new).map_err(|e| format!("{e:#}")))
            .clone()
            .map_err(|e| Error::InternalError(Some(e)))
    }
}

/// Roots: webpki's, the system's (unless `only_extra_roots`), and the extra PEM bundles.
fn build_tls_config(options: &HttpClientOptions) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    if !options.only_extra_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    for pem in &options.extra_roots_pem {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>().context("parsing a PEM CA bundle")?;
        let (added, _) = roots.add_parsable_certificates(certs);
        anyhow::ensure!(added > 0, "a CA bundle holds no usable certificate");
    }
    // ring, explicitly: the dependency graph enables more than one rustls provider, so the
    // process default would be ambiguous.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// The TLS server name of `host:port` (an IP literal, bracketed for IPv6, or a DNS name).
fn server_name(host_port: &str) -> Result<ServerName<'static>, Error> {
    if let Ok(addr) = host_port.parse::<std::net::SocketAddr>() {
        return Ok(ServerName::from(addr.ip()));
    }
    let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
    ServerName::try_from(host.to_string()).map_err(Error::InvalidDnsNameError)
}

/// A connection waiting for its response body to end before it can be pooled again.
struct Release {
    sender: SendRequest<WasiBody>,
    key: Key,
    pool: Weak<Inner>,
}

impl Release {
    /// Puts the connection back once hyper says it is ready for another request, and closes it
    /// after the idle timeout if nobody took it.
    fn run(self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let Release { mut sender, key, pool } = self;
            if sender.ready().await.is_err() {
                return;
            }
            let Some(inner) = pool.upgrade() else {
                return;
            };
            let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
            let clock = inner.options.clock.clone();
            let expired = clock.sleep(inner.options.idle_timeout);
            {
                let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                let list = idle.entry(key.clone()).or_default();
                list.retain(|e| !e.sender.is_closed());
                if list.len() >= inner.options.max_idle_per_host {
                    return;
                }
                list.push(Idle { id, sender, since: clock.instant() });
            }
            drop(inner);
            expired.await;
            if let Some(inner) = pool.upgrade() {
                let mut idle = inner.idle.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(list) = idle.get_mut(&key) {
                    // Dropping the sender of an idle connection closes it.
                    list.retain(|e| e.id != id);
                }
            }
        });
    }
}

/// A response body with the between-bytes timeout that returns its connection to the pool
/// when read to the end. Dropped before the end, it drops the connection with it.
struct PooledBody {
    incoming: Option<Incoming>,
    release: Option<Release>,
    timeout: tokio::time::Interval,
}

impl PooledBody {
    fn release_if_done(&mut self) {
        let done = self.incoming.as_ref().is_none_or(http_body::Body::is_end_stream);
        if done {
            if let Some(release) = self.release.take() {
                release.run();
            }
        }
    }
}

impl http_body::Body for PooledBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        let this = &mut *self;
        let Some(incoming) = this.incoming.as_mut() else {
            return Poll::Ready(None);
        };
        match Pin::new(incoming).poll_frame(cx) {
            Poll::Ready(None) => {
                this.incoming = None;
                this.release_if_done();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                // A broken body: the connection is not reused.
                this.release = None;
                Poll::Ready(Some(Err(if e.is_timeout() { Error::HttpResponseTimeout } else { Error::from(e) })))
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.timeout.reset();
                this.release_if_done();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(this.timeout.poll_tick(cx));
                this.release = None;
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.as_ref().is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.as_ref().map(http_body::Body::size_hint).unwrap_or_else(|| http_body::SizeHint::with_exact(0))
    }
}
