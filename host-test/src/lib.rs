//! The wasmtime host for amplifier-provider-bedrock: load the component once, call it with a
//! fresh sandbox per request, inject configuration and credentials, and police where it may
//! connect. Also a gRPC service that gives Amplifier sessions the provider, and a local Bedrock
//! emulator for offline use and tests.
//!
//! The parts, each depending only on those before it: the embedding library ([`runtime`]: the
//! component and its compiled form; [`credentials`], [`http_client`], [`outbound`], [`events`],
//! and [`provider`] over them), the gRPC service ([`grpc`]), the emulator ([`emulator`], on its
//! own) and the benchmarks ([`bench`], [`bench_scale`]). The CLI is `main.rs`.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod bench;
pub mod bench_scale;
pub mod credentials;
pub mod emulator;
pub mod events;
pub mod grpc;
pub mod http_client;
pub mod outbound;
pub mod provider;
pub mod runtime;

pub use credentials::{AwsCredentialChain, Credentials};
pub use events::{EventCallback, HostEvent};
pub use provider::{CallError, CallRecord, Limits, Provider, ProviderBuilder};
pub use runtime::{bindings, component_wasm, BUILT_COMPONENT_PATH, BUILT_PORTABLE_COMPONENT_PATH, BUNDLED_COMPONENT};
