//! The host's integration tests, one binary: each module was a test binary of its own, and
//! each linked wasmtime and compiled the component once; together they link once and share
//! one compiled component (`common::base`). Run one module with a filter, e.g.
//! `cargo test -p bedrock-host --test host -- end_to_end::`.
//!
//! The tests share one process, so a test that touches process-wide state (the environment,
//! this process's memory) runs alone in a child process of this binary instead
//! ([`common::in_own_process`]). `size_budget` and `amplifier_python` stay binaries of their own:
//! they do not use the host library, so they link no wasmtime and cost little.

mod common;

mod agent_loop;
mod bad_input;
mod bedrock_features;
mod big_requests;
mod chat;
mod cli;
mod cli_errors;
mod compile_cache;
mod connection_pool;
mod credential_cache;
mod credentials;
mod end_to_end;
mod fault_matrix;
mod grpc;
mod load;
mod messages_api;
mod request_path;
mod sandbox;
mod streaming;
mod wasmtime_cli;
