//! Anthropic Claude on AWS Bedrock as a WebAssembly component implementing the Amplifier
//! provider contract (`amplifier:modules/provider@1.0.0`).
//!
//! This file only wires the WIT exports to the modules below; everything but `platform` and
//! `transport::wasi_http` is plain Rust, unit-tested on the host target.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]

// The flow of a call, in order: Amplifier's JSON (`contract`), the configuration (`config`),
// translation to Anthropic's body under the model's rules (`translate`), the call itself
// (`call`: prepare and sign, the retry loop, the stream), Bedrock's wire formats (`wire`), the
// answer assembled back (`response`), and the hook events along the way (`hooks`).
// `provider` is the pipeline that strings them together. Beneath them: `error`, `models` (the
// catalog and the two APIs), `json_write` (the one JSON writer), `scrub` (secrets removed from
// Bedrock's words). Imports only go down the call (README, Architecture).
mod call;
pub mod cli;
pub mod config;
pub mod contract;
pub mod error;
mod hooks;
pub mod info;
mod json_write;
pub mod models;
mod port;
pub mod provider;
mod response;
mod scrub;
mod translate;
pub mod wire;

/// The stream assembler, at the path the host's bench imports it from.
pub use response::assembler as stream;
/// The decoders of Bedrock's two stream formats, at the paths the host's emulator and bench
/// import them from.
pub use wire::{eventstream, sse};

#[cfg(test)]
mod properties;
#[cfg(any(test, fuzzing))]
pub mod testing;

#[cfg(target_arch = "wasm32")]
mod platform;

#[cfg(target_arch = "wasm32")]
mod bindings;

#[cfg(target_arch = "wasm32")]
// The export macro expands to `pub` items that nothing outside uses.
#[allow(unreachable_pub)]
mod exports {
    use std::cell::RefCell;

    use crate::bindings::exports::amplifier::modules::provider::Guest as ProviderGuest;
    use crate::bindings::exports::amplifier_bedrock::provider::completion::Guest as CompletionGuest;
    use crate::bindings::exports::amplifier_bedrock::provider::errors::{Error as WitError, ErrorKind as WitErrorKind};
    use crate::bindings::exports::amplifier_bedrock::provider::streaming::{
        CompletionStream, Guest as StreamingGuest, GuestCompletionStream,
    };
    use crate::bindings::exports::amplifier_bedrock::provider::tokens::Guest as TokensGuest;
    use crate::bindings::exports::wasi::cli::run::Guest as RunGuest;
    use crate::error::{ErrorKind, ProviderError};
    use crate::platform::{WasiPlatform, HOST_PLATFORM};
    use crate::{info, provider};

    struct Component;

    /// Typed answers go through a `Value` (one more copy of the answer) and the one JSON writer,
    /// so serde's serialiser code is in the component once, for `Value`s (json_write.rs).
    fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
        crate::json_write::to_vec(&serde_json::to_value(value).expect("serialising plain data cannot fail"))
    }

    /// The typed error our own interfaces return. The match is exhaustive both ways: a kind
    /// added on either side without the other does not compile.
    fn wit_error(error: ProviderError, message: String) -> WitError {
        let kind = match error.kind {
            ErrorKind::Validation => WitErrorKind::Validation,
            ErrorKind::Config => WitErrorKind::Config,
            ErrorKind::Unauthenticated => WitErrorKind::Unauthenticated,
            ErrorKind::AccessDenied => WitErrorKind::AccessDenied,
            ErrorKind::Model => WitErrorKind::Model,
            ErrorKind::Throttled => WitErrorKind::Throttled,
            ErrorKind::TimedOut => WitErrorKind::TimedOut,
            ErrorKind::Unreachable => WitErrorKind::Unreachable,
            ErrorKind::Unavailable => WitErrorKind::Unavailable,
            ErrorKind::Bedrock => WitErrorKind::Bedrock,
        };
        WitError { kind, message }
    }

    fn typed(error: ProviderError) -> WitError {
        let message = error.to_string();
        wit_error(error, message)
    }

    impl CompletionGuest for Component {
        fn complete(request: Vec<u8>) -> Result<Vec<u8>, WitError> {
            provider::complete(&request, &WasiPlatform::new()).map(|r| to_json(&r)).map_err(typed)
        }
    }

    impl ProviderGuest for Component {
        fn get_info() -> Vec<u8> {
            to_json(&info::provider_info())
        }

        fn list_models() -> Result<Vec<u8>, String> {
            Ok(to_json(&info::model_infos()))
        }

        fn complete(request: Vec<u8>) -> Result<Vec<u8>, String> {
            <Component as CompletionGuest>::complete(request).map_err(|e| e.message)
        }

        fn parse_tool_calls(response: Vec<u8>) -> Result<Vec<u8>, String> {
            provider::parse_tool_calls(&response).map(|c| to_json(&c)).map_err(|e| e.to_string())
        }
    }

    /// One streaming completion; the connection closes when the host drops the resource.
    struct Stream {
        inner: RefCell<provider::CompletionStream<'static>>,
    }

    impl GuestCompletionStream for Stream {
        fn next(&self) -> Result<Option<Vec<u8>>, WitError> {
            let mut inner = self.inner.borrow_mut();
            match inner.next_event() {
                Ok(event) => Ok(event.map(|e| crate::json_write::to_vec(&e))),
                Err(e) => {
                    let message = match inner.progress() {
                        Some(progress) => format!("{e} ({progress})"),
                        None => e.to_string(),
                    };
                    Err(wit_error(e, message))
                }
            }
        }
    }

    impl StreamingGuest for Component {
        type CompletionStream = Stream;

        fn stream(request: Vec<u8>) -> Result<CompletionStream, WitError> {
            let inner = provider::CompletionStream::open_continuing(&request, &HOST_PLATFORM).map_err(typed)?;
            Ok(CompletionStream::new(Stream { inner: RefCell::new(inner) }))
        }
    }

    impl TokensGuest for Component {
        fn count_tokens(request: Vec<u8>) -> Result<Vec<u8>, WitError> {
            provider::count_tokens(&request, &WasiPlatform::new()).map(|r| to_json(&r)).map_err(typed)
        }
    }

    impl RunGuest for Component {
        fn run() -> Result<(), ()> {
            crate::platform::run_cli()
        }
    }

    crate::bindings::export!(Component with_types_in crate::bindings);
}
