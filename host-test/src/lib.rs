//! The wasmtime host for amplifier-provider-bedrock: load the component once, call it with a
//! fresh sandbox per request, inject configuration and credentials, and police where it may
//! connect. Also a local Bedrock emulator for offline use and tests.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

pub mod bench;
pub mod credentials;
pub mod emulator;
pub mod events;
pub mod outbound;
pub mod provider;
pub mod runtime;

pub use credentials::AwsCredentialChain;
pub use events::{EventCallback, HostEvent};
pub use provider::{CallError, CallRecord, Credentials, Limits, Provider, ProviderBuilder};

/// Call bindings for the component's exports.
#[allow(missing_docs, unreachable_pub, missing_debug_implementations)]
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "bedrock-provider-exports",
        exports: { default: async },
    });
}

/// The component built alongside this crate, or `PROVIDER_WASM` when set.
pub fn default_component_path() -> std::path::PathBuf {
    std::env::var_os("PROVIDER_WASM")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("BEDROCK_PROVIDER_WASM")))
}
