//! The wasmtime host for amplifier-provider-bedrock: load the component once, call it with a
//! fresh sandbox per request, inject configuration and credentials, and police where it may
//! connect. Also a gRPC service that gives Amplifier sessions the provider, and a local Bedrock
//! emulator for offline use and tests.
//!
//! The parts, each depending only on those before it: the embedding library ([`runtime`],
//! [`credentials`], [`outbound`], [`events`], [`provider`]), the gRPC service ([`grpc`]), the
//! emulator ([`emulator`], on its own) and the benchmark ([`bench`]). The CLI is `main.rs`.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod bench;
pub mod credentials;
pub mod emulator;
pub mod events;
pub mod grpc;
pub mod outbound;
pub mod provider;
pub mod runtime;

pub use credentials::{AwsCredentialChain, Credentials};
pub use events::{EventCallback, HostEvent};
pub use provider::{CallError, CallRecord, Limits, Provider, ProviderBuilder};

/// Call bindings for the component's exports.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "bedrock-provider-exports",
        exports: { default: async },
    });
}

/// The component built with this crate, embedded in the binary: `cargo install` deletes the
/// build tree, and an installed `bedrock-host` must work anywhere.
pub static BUNDLED_COMPONENT: &[u8] = include_bytes!(env!("BEDROCK_PROVIDER_WASM"));

/// Where the build left the component file, for tools that need a path (the stock `wasmtime`
/// CLI). Only meaningful inside the build tree; the host itself uses [`BUNDLED_COMPONENT`].
pub const BUILT_COMPONENT_PATH: &str = env!("BEDROCK_PROVIDER_WASM");

/// The component to run: the file named by `PROVIDER_WASM` when set (to try another build
/// without rebuilding the host), else [`BUNDLED_COMPONENT`].
pub fn component_wasm() -> anyhow::Result<std::borrow::Cow<'static, [u8]>> {
    match std::env::var_os("PROVIDER_WASM") {
        Some(path) => std::fs::read(&path)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| anyhow::anyhow!("PROVIDER_WASM={}: {e}; unset it to use the bundled component", path.to_string_lossy())),
        None => Ok(std::borrow::Cow::Borrowed(BUNDLED_COMPONENT)),
    }
}
