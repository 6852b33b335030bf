//! Amplifier's gRPC module contract, served by the sandboxed component: the way an Amplifier
//! session (Python or Rust kernel) reaches this provider today, since amplifier-core's own Wasm
//! loader links no `wasi:http` or `wasi:config`.
//!
//! [`serve`] answers `amplifier.module.ProviderService` and `ModuleLifecycle` (from the vendored
//! `proto/amplifier_module.proto`, amplifier-core 2.0.2) on a listener; [`convert`] maps the
//! proto messages to the component's Amplifier JSON; [`service`] holds the RPCs.

use std::future::Future;

use anyhow::{Context, Result};
use tonic::metadata::MetadataValue;
use tonic::transport::Server;
use tonic::{Request, Status};

pub mod convert;
pub mod proto;
pub mod service;

pub use service::{BedrockService, CredentialMode, ERROR_KIND_METADATA_KEY};

/// Largest gRPC message accepted or sent: a conversation with images can be large, and the
/// 4 MiB default would refuse it with a transport error instead of a clear one.
pub const MAX_MESSAGE_BYTES: usize = 32 << 20;

/// How a server checks its callers, and how long it lets them finish when it stops.
///
/// Settings as `aws-sigv4`'s are: start from [`ServeOptions::default`] and set fields, so a
/// field added later does not break callers.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// When set, every RPC must carry `authorization: Bearer <token>`. Required for any
    /// listener that is not on loopback: the server signs with the host's AWS credentials.
    pub token: Option<String>,
    /// Once `shutdown` completes, how long calls in flight may take to finish: then the server
    /// stops anyway, so a client that never reads (and never acknowledges HTTP/2's goodbye)
    /// cannot keep a stopping process alive. Default [`DEFAULT_GRACE_PERIOD`].
    pub grace_period: std::time::Duration,
}

/// How long a stopping server waits for calls in flight, unless told otherwise: a streamed
/// answer that is well under way usually ends within it.
pub const DEFAULT_GRACE_PERIOD: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions { token: None, grace_period: DEFAULT_GRACE_PERIOD }
    }
}

impl std::fmt::Debug for ServeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeOptions")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("grace_period", &self.grace_period)
            .finish()
    }
}

/// Answers gRPC on `listener` until `shutdown` completes, then lets calls in flight finish
/// within the grace period.
pub async fn serve(
    service: BedrockService,
    listener: tokio::net::TcpListener,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<()> {
    let local = listener.local_addr().context("reading the listener's address")?;
    if options.token.is_none() && !local.ip().is_loopback() {
        anyhow::bail!("{local} is not a loopback address: a server that signs with your AWS credentials needs --token-file there");
    }
    let expected = options
        .token
        .as_deref()
        .map(|t| MetadataValue::try_from(format!("Bearer {t}")).context("the token must be printable ASCII"))
        .transpose()?;
    let check = move |request: Request<()>| -> Result<Request<()>, Status> {
        let Some(expected) = &expected else { return Ok(request) };
        match request.metadata().get("authorization") {
            Some(given) if constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("the authorization token is wrong: send the token from the server's --token-file")),
            None => Err(Status::unauthenticated("this server needs `authorization: Bearer <token>` metadata (its --token-file)")),
        }
    };
    let providers = proto::provider_service_server::ProviderServiceServer::new(service.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let lifecycle = proto::module_lifecycle_server::ModuleLifecycleServer::new(service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    // The standard health service beside Amplifier's own HealthCheck: SERVING for the server
    // ("") and for ProviderService until the shutdown signal, NOT_SERVING while draining, so a
    // load balancer stops sending new calls. It reveals nothing, so it takes no token.
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<proto::provider_service_server::ProviderServiceServer<BedrockService>>().await;
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        health.set_service_status("", tonic_health::ServingStatus::NotServing).await;
        health.set_not_serving::<proto::provider_service_server::ProviderServiceServer<BedrockService>>().await;
        let _ = stopping.send(());
    };
    // Nagle's algorithm off, as tonic's own listener sets it: with it, a stream's first message
    // waited for the ACK of the response headers written just before it, which the client
    // delays (about 30 ms of first-event latency on every streamed call; BENCHMARKS.md, Scale).
    let incoming = tokio_stream::StreamExt::map(tokio_stream::wrappers::TcpListenerStream::new(listener), |accepted| {
        if let Ok(stream) = &accepted {
            let _ = stream.set_nodelay(true);
        }
        accepted
    });
    let server = Server::builder()
        .add_service(health_service)
        .add_service(tonic::service::interceptor::InterceptedService::new(providers, check.clone()))
        .add_service(tonic::service::interceptor::InterceptedService::new(lifecycle, check))
        .serve_with_incoming_shutdown(incoming, signal);
    let grace = options.grace_period;
    let deadline = async move {
        match stopped.await {
            Ok(()) => tokio::time::sleep(grace).await,
            // The server ended by itself (an error): the deadline never comes.
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        result = server => result.context("serving gRPC"),
        () = deadline => Ok(()),
    }
}

/// Raises the soft limit of open files to the hard one, and returns it. Every call in flight
/// holds a connection to Bedrock besides its client's, and the usual soft limit (1,024) would
/// refuse connections long before memory or CPU run out (`bench scale` drives thousands);
/// the hard limit is what the administrator allows. `serve` calls it at start.
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit writes the struct it is given; setrlimit reads it.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                    return None;
                }
            }
        }
        // `rlim_t` is u64 on Linux, not everywhere.
        #[allow(clippy::unnecessary_cast)]
        let current = limit.rlim_cur as u64;
        Some(current)
    }
    #[cfg(not(unix))]
    None
}

/// Compares secrets in time that does not depend on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
