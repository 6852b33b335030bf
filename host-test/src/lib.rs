//! The wasmtime host for amplifier-provider-bedrock: load the component once, call it with a
//! fresh sandbox per request, inject configuration and credentials, and police where it may
//! connect. Also a gRPC service that gives Amplifier sessions the provider.
//!
//! The parts, each depending only on those before it: the embedding library ([`runtime`]: the
//! component and its compiled form; [`clock`], the time the host's caches read; [`credentials`],
//! [`http_client`], [`outbound`], [`events`], and [`provider`] over them), and the gRPC service
//! ([`grpc`]). This is the host API and nothing else: the CLI (`main.rs`, with its benchmarks in
//! `bench/`) is built on it, and the local Bedrock emulator is a crate of its own
//! (`bedrock-emulator`, host-test/emulator).

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod call_error;
pub mod clock;
pub mod credentials;
pub mod events;
pub mod grpc;
pub mod http_client;
pub mod outbound;
pub mod provider;
pub mod runtime;

pub use call_error::{CallError, ErrorKind, FailureKind, HostFailure, HostFailureKind, ProviderFailure, Statuses};
pub use clock::{Clock, ManualClock, SharedClock, SystemClock};
pub use credentials::{AwsCredentialChain, Credentials};
pub use events::{EventCallback, HostEvent};
pub use provider::{CallRecord, Limits, Provider, ProviderBuilder};
pub use runtime::{bindings, component_wasm, BUILT_COMPONENT_PATH, BUILT_PORTABLE_COMPONENT_PATH, BUNDLED_COMPONENT};
