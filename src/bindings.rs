//! The component's WIT bindings (wasm32 only), generated from `wit/`: the exports `lib.rs`
//! implements and the imports `platform.rs` calls. Apart from `lib.rs` so the platform can use
//! them without reaching up to the crate root.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations)]

/// The WIT bindings of `$world`: the WASI interfaces the `wasi` crate already binds are taken
/// from it, so its types and ours are one.
macro_rules! bindings_for {
    ($world:literal) => {
        wit_bindgen::generate!({
            path: "wit",
            world: $world,
            with: {
                "wasi:http/types@0.2.12": ::wasi::http::types,
                "wasi:http/outgoing-handler@0.2.12": ::wasi::http::outgoing_handler,
                "wasi:io/poll@0.2.12": ::wasi::io::poll,
                "wasi:io/error@0.2.12": ::wasi::io::error,
                "wasi:io/streams@0.2.12": ::wasi::io::streams,
                "wasi:clocks/monotonic-clock@0.2.12": ::wasi::clocks::monotonic_clock,
            },
            generate_all,
            pub_export_macro: true,
        });
    };
}

// The default build imports `wasi:config/store`; the portable build (`wasi-config` off) does
// not, and reads its config from the environment.
#[cfg(feature = "wasi-config")]
bindings_for!("bedrock-provider");
#[cfg(not(feature = "wasi-config"))]
bindings_for!("bedrock-provider-portable");
