//! Generated messages, servers and clients of `amplifier_module.proto` (package
//! `amplifier.module`): a leaf, so the conversions and the service use it without importing the
//! module that serves them.

#![allow(missing_docs, unreachable_pub, missing_debug_implementations, clippy::all)]

tonic::include_proto!("amplifier.module");
